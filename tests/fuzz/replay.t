#!/bin/bash
# Replays every fuzz corpus through its target linked as a plain program (the Makefile builds
# $BUILD/tests/replay_<target> for each tests/fuzz/fuzz_<target>.c). One TAP line per target.
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build/rel}

targets=()
for f in tests/fuzz/fuzz_*.c; do
	t=${f##*/fuzz_}
	targets+=("${t%.c}")
done
echo "1..${#targets[@]}"
n=0
for t in "${targets[@]}"; do
	n=$((n + 1))
	bin=$BUILD/tests/replay_$t
	if [ ! -x "$bin" ]; then
		echo "not ok $n - replay_$t: $bin is not built"
		continue
	fi
	out=$("$bin" "$t" 2>&1)
	rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^(not )?ok ' | head -n 1)
	if [ "$rc" -eq 0 ] && [[ $line == "ok 1 - "* ]]; then
		echo "ok $n - replay_$t: ${line#ok 1 - }"
	else
		echo "not ok $n - replay_$t exited $rc"
		printf '%s\n' "$out" | sed 's/^/# /'
	fi
done
