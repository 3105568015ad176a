#!/bin/bash
# 65-reload-memory: memory comes back across settings reloads. Twenty SIGHUPs switch cache-size
# between 100000 and 0 (with upstream-sockets 64 <-> 48 and allow-from changing too, so each
# worker also builds a new upstream set and a new guard), a few queries in between so the caches
# hold answers. VmRSS of blokir (from /proc/PID/status) after every reload must stay within 8 MB of
# its level after the second one (a cache of 100,000 slots is 10 MB a worker: a table held on to,
# or zeroed in full from the worker's arena, shows at once), and be within 2 MB of it at the end.
# Before the fix, glibc's raised mmap threshold made RSS climb to 3-6 times its start.
#
# Under BLOKIR_WRAPPER (valgrind) or the sanitizer build the RSS is the tool's: the test then does
# fewer reloads and only checks that blokir stops cleanly (valgrind: no definite leak on the
# reload path).
. "$(dirname "$0")/lib.sh"

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
UP="127.0.0.1:$NSD_PORT"
# conf N: the configuration for reload N; odd and even ones differ in every key named above
conf() {
	local odd=$(($1 % 2))
	write_policy "$CFG.new" "$BPORT" "$UP" \
		"cache-size: $((odd ? 100000 : 0))" \
		"upstream-sockets: $((odd ? 48 : 64))" \
		"allow-from: [127.0.0.0/8$([ $odd = 1 ] && echo ', 10.0.0.0/8')]"
	mv "$CFG.new" "$CFG"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$T_BLOKIR_PID/status"; }
# reload N: writes conf N, SIGHUP, waits for the Nth summary line and the workers' takeover
reload() {
	conf "$1"
	kill -HUP "$T_BLOKIR_PID"
	wait_for $((10 * SLOW)) bash -c "[ \$(grep -c 'reload: summary:' '$T_TMP/blokir.log') -ge $1 ]" ||
		return 1
	sleep 0.3
}

measure=1
RELOADS=20
if [ -n "$BLOKIR_WRAPPER" ] || [[ "$BLOKIR" == *san/* ]]; then measure=0; RELOADS=4; fi

conf 0
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
samples=()
failed_reload=0
for ((i = 1; i <= RELOADS; i++)); do
	reload "$i" || { failed_reload=$i; break; }
	for n in a b c d e f g h; do q "$BPORT" "$n$i.example.test" A >/dev/null; done
	[ "$measure" = 1 ] && samples+=("$(rss_kb)")
done
is "$failed_reload" 0 "$RELOADS SIGHUPs switching cache-size 100000 <-> 0 each completed"
is "$(grep -c 'reload: settings applied: .*cache-size' "$T_TMP/blokir.log")" "$RELOADS" \
	"  ... each applied cache-size"
out=$(q "$BPORT" www.example.test A)
is "$(rcode "$out")" NOERROR "  ... and blokir still forwards"

if [ "$measure" = 1 ] && [ "${#samples[@]}" -eq "$RELOADS" ]; then
	base=${samples[1]}
	max=0
	for kb in "${samples[@]:1}"; do [ "$kb" -gt "$max" ] && max=$kb; done
	last=${samples[$((RELOADS - 1))]}
	diag "VmRSS after each reload (kB): ${samples[*]}"
	[ $((max - base)) -le 8192 ]
	ok $? "VmRSS after every reload within 8 MB of its level after the second ($base kB; peak $max kB)"
	[ $((last - base)) -le 2048 ]
	ok $? "  ... and within 2 MB of it after the last (cache-size 0 again: $last kB)"
else
	skip "RSS is the wrapper's or the sanitizer's" "VmRSS bounded across reloads"
fi
stop_blokir
done_testing
