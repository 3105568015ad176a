#!/bin/bash
# 26-load: dnsperf at full speed for 30 s against blokir (blocked and forwarded names) with a
# SIGHUP every second, and nsd killed 10 s in and restarted 3 s later on the same port: every
# query is answered (dnsperf's "Queries lost" is 0), only NOERROR, NXDOMAIN and SERVFAIL come
# back, and blokir is still running and stops cleanly. Then 5 s at a low rate, with SIGHUPs,
# under valgrind: no errors and no definite leaks (exit status 0 after SIGTERM).
# Takes about 40 s (under the 60 s that would make it a BLOKIR_SLOW_TESTS-only test), most of it
# with dnsperf saturating the CPU; BLOKIR_SLOW_TESTS=0 skips it. Needs dnsperf (valgrind optional).
if [ "${BLOKIR_SLOW_TESTS:-}" = 0 ]; then
	echo "1..0 # SKIP BLOKIR_SLOW_TESTS=0"
	exit 0
fi
command -v dnsperf >/dev/null || { echo "1..0 # SKIP dnsperf not installed"; exit 0; }
. "$(dirname "$0")/lib.sh"

QF="$T_TMP/queries.txt"
{
	for i in $(seq 1 20); do
		echo "www.t.me A"; echo "www.example.test A"; echo "many.example.test A"
		echo "txt.example.test TXT"; echo "nothere-$i.example.test A"; echo "web.telegram.org AAAA"
		echo "www.example.test AAAA"; echo "alias.example.test A"
	done
} >"$QF"

# perf SECONDS [dnsperf options]: runs dnsperf against blokir; output in $PERF.
perf() {
	local secs=$1; shift
	PERF=$(timeout $((secs + 30)) dnsperf -s 127.0.0.1 -p "$BPORT" -d "$QF" -l "$secs" -t 5 "$@" 2>&1)
}
pval() { sed -n "s/^ *$1: *\([0-9]*\).*/\1/p" <<<"$PERF" | head -n1; }
rcodes() { sed -n 's/^ *Response codes: *//p' <<<"$PERF"; }

# hupper SECONDS: SIGHUP to blokir every second, in the background; sets HUPPER.
hupper() {
	( for ((i = 0; i < $1; i++)); do sleep 1; kill -HUP "$T_BLOKIR_PID" 2>/dev/null; done ) &
	HUPPER=$!; track "$HUPPER"
}

setup_std
hupper 30
# nsd: killed 10 s in, restarted 3 s later on the same port with the same configuration.
(
	sleep 10
	kill -TERM "$T_NSD_PID"
	sleep 3
	exec nsd -d -c "$T_TMP/nsd/nsd.conf" >>"$T_TMP/nsd/nsd.out" 2>&1
) &
NSD2=$!; track "$NSD2"
perf 30 -c 8 -T 2 -q 500
diag <<<"$(grep -E 'Queries|Response codes|Run time|per second' <<<"$PERF")"
sent=$(pval 'Queries sent'); done_=$(pval 'Queries completed'); lost=$(pval 'Queries lost')
[ -n "$sent" ] && [ "$sent" -ge 10000 ]; ok $? "dnsperf at full speed for 30 s: $sent queries sent"
is "$lost" 0 "  ... none lost (completed $done_ of $sent)"
unlike "$(rcodes)" '(FORMERR|REFUSED|NOTIMP|YXDOMAIN|NOTAUTH|BADVERS)' \
	"  ... only NOERROR, NXDOMAIN and SERVFAIL ($(rcodes))"
like "$(rcodes)" 'SERVFAIL' "  ... SERVFAIL while nsd was down"
alive "$T_BLOKIR_PID"; ok $? "blokir still running after 30 SIGHUPs and an upstream restart"
out=$(q "$BPORT" www.example.test A)
grep -q '192\.0\.2\.1$' <<<"$(section "$out" ANSWER)"; ok $? "  ... and forwarding to the restarted nsd"
[ "$(grep -c 'reload: .*in force' "$T_TMP/blokir.log")" -ge 20 ]
ok $? "  ... the reloads took effect ($(grep -c 'reload: .*in force' "$T_TMP/blokir.log"))"
stop_blokir
wait "$HUPPER" 2>/dev/null

# --- the same under valgrind, shorter and slower -----------------------------------------------------
if [[ "$BLOKIR" == *san/* ]]; then
	# An AddressSanitizer binary cannot run under valgrind; the sanitizers check it instead.
	skip "the sanitizer build cannot run under valgrind" "valgrind run"
elif command -v valgrind >/dev/null; then
	BLOKIR_WRAPPER="valgrind --leak-check=full --error-exitcode=99 --errors-for-leak-kinds=definite --show-leak-kinds=definite"
	SLOW=4
	BPORT=$(free_port)
	CFG="$T_TMP/policy-vg.yaml"
	write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT"
	start_blokir "$CFG" "$BPORT" || bail "blokir did not start under valgrind"
	hupper 5
	perf 5 -c 2 -Q 200 -q 50
	diag <<<"$(grep -E 'Queries (sent|completed|lost)|Response codes' <<<"$PERF")"
	is "$(pval 'Queries lost')" 0 "under valgrind: 5 s at 200 qps with SIGHUPs, none lost"
	wait "$HUPPER" 2>/dev/null
	stop_blokir "under valgrind: stops with exit status 0 (no errors, no definite leaks)"
else
	skip "valgrind not installed" "valgrind run"
fi
done_testing
