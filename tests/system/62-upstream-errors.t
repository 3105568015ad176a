#!/bin/bash
# 62-upstream-errors: an upstream's error answer without a question section (issue 12). nsd
# answers REFUSED with QDCOUNT=0 to a query of class 65535; it comes from the upstream's address
# with the right ID, so it is the upstream's verdict: blokir tries the next upstream at once and,
# after the last one, gives the client that RCODE for its own question. The old code dropped it as
# answers-wrong-question and the client got SERVFAIL after the whole upstream timeout.
. "$(dirname "$0")/lib.sh"

start_nsd || bail "nsd did not start"
out=$(timeout 10 dig @127.0.0.1 -p "$NSD_PORT" +time=2 +tries=1 +nocookie www.example.test -c CLASS65535 A 2>&1)
if [ "$(rcode "$out")" = REFUSED ] && grep -q 'QUERY: 0,' <<<"$out"; then
	pass "nsd itself answers class 65535 with REFUSED and no question"
else
	fail "nsd itself answers class 65535 with REFUSED and no question"; diag "$out"
fi

qt() { # PORT: a class-65535 query through blokir; sets QT_OUT and QT_MS
	local t0; t0=$(ms)
	QT_OUT=$(timeout 15 dig @127.0.0.1 -p "$1" +time=8 +tries=1 +nocookie +ignore www.example.test -c CLASS65535 A 2>&1)
	QT_MS=$(($(ms) - t0))
}

# One upstream: its error goes to the client at once.
BPORT=$(free_port)
CFG="$T_TMP/one.yaml"
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT"
sed -i 's/^upstream-timeout-ms: .*/upstream-timeout-ms: 3000/' "$CFG"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
qt "$BPORT"
is "$(rcode "$QT_OUT")" REFUSED "one upstream: the client gets the upstream's REFUSED"
grep -q 'QUERY: 1,' <<<"$QT_OUT"
ok $? "  ... with its own question echoed"
[ "$QT_MS" -lt $((1500 * SLOW)) ]
ok $? "  ... at once, not after the 3 s upstream timeout ($QT_MS ms)"
s=$(stats)
is "$(stat_val "$s" upstream-errors)" 1 "  ... counted as upstream-errors"
is "$(stat_val "$s" answers-wrong-question)" 0 "  ... not as answers-wrong-question"
is "$(stat_val "$s" servfail)" 0 "  ... and no SERVFAIL"
stop_blokir

# nsd first, then an upstream that answers anything: the second one's answer, at once.
start_fake good || bail "fakeupstream did not start"
BPORT=$(free_port)
CFG="$T_TMP/two.yaml"
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT 127.0.0.1:$FAKE_PORT"
sed -i 's/^upstream-timeout-ms: .*/upstream-timeout-ms: 3000/; s/^workers: .*/workers: 1/' "$CFG"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
qt "$BPORT"
is "$(rcode "$QT_OUT")" NOERROR "two upstreams: the first one's REFUSED moves the query to the second"
[ "$QT_MS" -lt $((1500 * SLOW)) ]
ok $? "  ... at once ($QT_MS ms)"
grep -q 'name=www.example.test' "$FAKE_LOG"
ok $? "  ... which got the query"
is "$(rcode "$(q "$BPORT" www.t.me A)")" NXDOMAIN "blocked names are still blocked"
stop_blokir
stop_pid "$FAKE_PID" 3
done_testing
