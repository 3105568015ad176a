#!/bin/bash
# 05-upstream-faults: misbehaving upstreams. A dead upstream gives SERVFAIL within
# upstream-timeout-ms x upstreams (+ margin); a silent first upstream falls over to the second;
# for each fakeupstream mode the client gets the right answer or SERVFAIL (never the bad one), the
# daemon keeps serving and the matching stats counter (SIGUSR1) goes up.
. "$(dirname "$0")/lib.sh"

TMO=600           # upstream-timeout-ms used here
MARGIN=$((700 * SLOW))

# qt PORT NAME [TYPE] [opts]: like q, but with a 5 s dig timeout and the elapsed ms in QT_MS.
qt() {
	local port=$1 name=$2 t0; shift 2
	t0=$(ms)
	QT_OUT=$(timeout 10 dig @127.0.0.1 -p "$port" +time=$((5 * SLOW)) +tries=1 +nocookie "$name" "$@" 2>&1)
	QT_MS=$(($(ms) - t0))
}

# blokir_with UPSTREAM...: (re)starts blokir with these upstreams and upstream-timeout-ms $TMO.
blokir_with() {
	[ -z "$T_BLOKIR_PID" ] || stop_blokir "previous blokir stops with exit status 0"
	BPORT=$(free_port)
	CFG="$T_TMP/policy-$BPORT.yaml"
	write_policy "$CFG" "$BPORT" "$*"
	sed -i "s/^upstream-timeout-ms: .*/upstream-timeout-ms: $TMO/" "$CFG"
	start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
}

still_serving() { # DESCRIPTION
	local out; out=$(q "$BPORT" www.t.me A)
	if [ "$(rcode "$out")" = NXDOMAIN ] && alive "$T_BLOKIR_PID"; then pass "$1"; else
		fail "$1"; diag "$out"
	fi
}

# --- dead upstreams ----------------------------------------------------------------------------------
D1=$(free_port); D2=$(free_port)
blokir_with "127.0.0.1:$D1" "127.0.0.1:$D2"
qt "$BPORT" www.example.test A
is "$(rcode "$QT_OUT")" SERVFAIL "two dead upstreams: SERVFAIL"
bound=$((2 * TMO * SLOW + MARGIN))
[ "$QT_MS" -le "$bound" ]; ok $? "  ... within 2 x ${TMO} ms + margin = $bound ms (took $QT_MS ms)"
qt "$BPORT" www.example.test A +tcp
is "$(rcode "$QT_OUT")" SERVFAIL "  ... over TCP as well"
[ "$QT_MS" -le "$bound" ]; ok $? "  ... within $bound ms (took $QT_MS ms)"
s=$(stats)
like "$s" '^.*stats: .*\bqueries=[0-9]+' "SIGUSR1 logs a stats line" || diag "$s"
missing=""
for k in queries blocked forwarded servfail answers-wrong-id \
	answers-wrong-question answers-malformed; do
	[ -n "$(stat_val "$s" "$k")" ] || missing="$missing $k"
done
is "$missing" "" "  ... with every documented key=value"
[ "$(stat_val "$s" servfail)" -ge 2 ] 2>/dev/null; ok $? "  ... servfail counted ($(stat_val "$s" servfail))"
still_serving "blocked names still answered with dead upstreams"

# --- a silent first upstream, a good second one ------------------------------------------------------
start_fake silent || bail "fake silent"; SILENT_LOG=$FAKE_LOG; SILENT_PORT=$FAKE_PORT
start_fake good || bail "fake good"; GOOD_LOG=$FAKE_LOG; GOOD_PORT=$FAKE_PORT
blokir_with "127.0.0.1:$SILENT_PORT" "127.0.0.1:$GOOD_PORT"
allok=0
for i in 1 2 3; do
	qt "$BPORT" "fallover$i.example.test" A
	if ! grep -q '192\.0\.2\.53$' <<<"$(section "$QT_OUT" ANSWER)" || [ "$QT_MS" -gt $((TMO * SLOW + MARGIN)) ]; then
		allok=1; diag "query $i: $(rcode "$QT_OUT") after $QT_MS ms"
	fi
done
ok $allok "silent first upstream: the second one answers, each within ${TMO} ms + margin"
grep -q 'name=fallover' "$SILENT_LOG"; ok $? "  ... the silent upstream was asked (and timed out)"

# --- each fault mode ------------------------------------------------------------------------------
# fault MODE EXPECT COUNTER [fakeupstream options...]
#   EXPECT: answer (A 192.0.2.53) or servfail; COUNTER: stats key that must go up, or -.
fault() {
	local mode=$1 expect=$2 counter=$3 before after s; shift 3
	start_fake "$mode" "$@" || { fail "fakeupstream $mode started"; return; }
	blokir_with "127.0.0.1:$FAKE_PORT"
	s=$(stats); before=$(stat_val "$s" "$counter")
	local n allgood=0
	for n in 1 2 3; do
		qt "$BPORT" "$mode-$n.example.test" A
		local ans; ans=$(section "$QT_OUT" ANSWER)
		if grep -q '203\.0\.113\.66' <<<"$QT_OUT"; then
			allgood=1; diag "query $n: the poisoned answer was relayed!"
		fi
		case $expect in
		answer)
			[ "$(rcode "$QT_OUT")" = NOERROR ] && [ "$ans" = "$mode-$n.example.test. 300 IN A 192.0.2.53" ] ||
				{ allgood=1; diag "query $n: got $(rcode "$QT_OUT") '$ans' after $QT_MS ms"; } ;;
		servfail)
			[ "$(rcode "$QT_OUT")" = SERVFAIL ] && [ "$QT_MS" -le $((TMO * SLOW + MARGIN)) ] ||
				{ allgood=1; diag "query $n: got $(rcode "$QT_OUT") after $QT_MS ms"; } ;;
		esac
	done
	ok $allgood "$mode: $([ $expect = answer ] && echo 'the right answer, never the bad one' || echo "SERVFAIL within ${TMO} ms + margin")"
	if [ "$counter" != - ]; then
		s=$(stats); after=$(stat_val "$s" "$counter")
		[ -n "$after" ] && [ "$after" -ge $((${before:-0} + 3)) ]
		ok $? "  ... stats: $counter went up by 3 or more (${before:-none} -> ${after:-none})" || diag "$s"
	fi
	sleep 0.2
	still_serving "  ... the daemon keeps serving"
	stop_pid "$FAKE_PID" 3
}

fault slow answer - --delay-ms 200
fault slow servfail - --delay-ms $((TMO * 2 + 500))
sleep 1.5 # the late answers arrive now; then check nothing broke
still_serving "late answers after the timeout do no harm"
fault wrong-id answer answers-wrong-id
fault wrong-port answer - # dropped by the kernel: the upstream sockets are connected
fault wrong-question answer answers-wrong-question
fault garbage answer answers-malformed
fault tcp-close servfail -
fault silent servfail servfail

# truncated: TC over UDP from the upstream, so blokir retries over TCP.
start_fake truncated || bail "fake truncated"
blokir_with "127.0.0.1:$FAKE_PORT"
qt "$BPORT" tc.example.test A
is "$(section "$QT_OUT" ANSWER)" "tc.example.test. 300 IN A 192.0.2.53" "truncated: the answer comes through"
unlike "$(flags "$QT_OUT")" '\btc\b' "  ... without TC (it fits)"
grep -q '^tcp .*name=tc\.example\.test\.' "$FAKE_LOG"; ok $? "  ... blokir retried over TCP upstream"
qt "$BPORT" tc.example.test TXT +bufsize=4096 +ignore
is "$(section "$QT_OUT" ANSWER | grep -c ' IN TXT ')" 30 "truncated: big TXT, 30 records in one UDP answer to a 4096-byte client"
qt "$BPORT" tc.example.test TXT +noedns +ignore
like "$(flags "$QT_OUT")" '\btc\b' "truncated: big TXT to a 512-byte client: TC set by blokir"
still_serving "  ... the daemon keeps serving"

stop_blokir
done_testing
