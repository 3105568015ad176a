#!/bin/bash
# 56-config-errors: what used to be slow or positionless in a bad policy file. A document nested
# 100,000 deep is refused at once, where it passes 16 levels, by --check and by a reload, and a
# SIGTERM during such a reload does not wait for it (libyaml's own cost grows with the square of
# the depth: on a build without the limit --check takes tens of seconds and a stop waits with
# it). An empty file, a missing one, one blokir may not read, a directory and bad UTF-8 are all
# reported as FILE:LINE:COLUMN, 1:1 where there is no better position.
. "$(dirname "$0")/lib.sh"

# check FILE: blokir --check FILE, bounded; sets OUT (stderr and stdout), ST and EL (ms).
check() {
	local t0
	t0=$(ms)
	OUT=$(timeout $((15 * SLOW)) "$BLOKIR" --check -c "$1" 2>&1); ST=$?
	EL=$(($(ms) - t0))
}

# --- nesting -------------------------------------------------------------------------------------
DEEP="$T_TMP/deep.yaml"
"$PY" -c 'import sys; open(sys.argv[1], "w").write("domains: " + "[" * 100000 + "]" * 100000 + "\n")' "$DEEP"
check "$DEEP"
is "$ST" 1 "--check of a document nested 100,000 deep: exit status 1"
[ "$EL" -lt $((2000 * SLOW)) ]; ok $? "  ... in under 2 s (took $EL ms)"
like "$OUT" "^$DEEP:1:25: nested deeper than 16 levels \\(the policy needs 5\\)$" \
	"  ... at FILE:LINE:COLUMN of the 17th level"

BLOCK="$T_TMP/block.yaml"
"$PY" -c 'import sys
with open(sys.argv[1], "w") as f:
    for i in range(30):
        f.write("  " * i + "k%d:\n" % i)' "$BLOCK"
check "$BLOCK"
like "$OUT" "^$BLOCK:17:33: nested deeper than 16 levels" "block mappings 30 deep: refused at 17:33"

# A reload of the deep file, then SIGTERM at once: the stop does not wait for the load.
setup_std
cp "$CFG" "$T_TMP/good.yaml"
"$PY" -c 'import sys; open(sys.argv[1], "a").write("extra: " + "[" * 100000 + "]" * 100000 + "\n")' "$CFG"
kill -HUP "$T_BLOKIR_PID"
wait_log $((5 * SLOW)) "reload: .*deep|nested deeper than 16 levels|reload: reading"
t0=$(ms)
stop_blokir "SIGTERM during the reload of a 100,000-deep file: exit status 0"
el=$(($(ms) - t0))
[ "$el" -lt $((3000 * SLOW)) ]; ok $? "  ... without waiting for the load (stopped in $el ms)"

# --- problems without a position of their own -----------------------------------------------------
: >"$T_TMP/empty.yaml"
check "$T_TMP/empty.yaml"
is "$OUT" "$T_TMP/empty.yaml:1:1: expected a mapping, found no YAML document" "an empty file: 1:1"
check "$T_TMP/missing.yaml"
is "$OUT" "$T_TMP/missing.yaml:1:1: No such file or directory" "a missing file: 1:1"
mkdir "$T_TMP/dir.yaml"
check "$T_TMP/dir.yaml"
is "$OUT" "$T_TMP/dir.yaml:1:1: Is a directory" "a directory: 1:1"
printf 'listen: ["127.0.0.1:53"]\nx: "\xff"\n' >"$T_TMP/utf8.yaml"
check "$T_TMP/utf8.yaml"
like "$OUT" "^$T_TMP/utf8.yaml:2:5: invalid leading UTF-8 octet at byte 29" \
	"bad UTF-8: the line and column of the byte" || diag "$OUT"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	cp "$T_TMP/good.yaml" "$T_TMP/secret.yaml"
	chmod 600 "$T_TMP/secret.yaml"
	chmod 755 "$T_TMP"
	OUT=$(timeout $((15 * SLOW)) setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$BLOKIR" --check -c "$T_TMP/secret.yaml" 2>&1)
	is "$OUT" "$T_TMP/secret.yaml:1:1: Permission denied" "a file blokir may not read: 1:1"
elif [ "$(id -u)" != 0 ]; then
	cp "$T_TMP/good.yaml" "$T_TMP/secret.yaml"
	chmod 000 "$T_TMP/secret.yaml"
	check "$T_TMP/secret.yaml"
	is "$OUT" "$T_TMP/secret.yaml:1:1: Permission denied" "a file blokir may not read: 1:1"
else
	skip "no setpriv" "a file blokir may not read: 1:1"
fi
done_testing
