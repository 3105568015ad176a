#!/bin/bash
# 73-upstream-timer: the one upstream timer of a worker stays set for the oldest deadline it was
# armed with, also after that query was answered (src/upstream.c, timer_arm): it then fires for
# nothing and must be set again for the next deadline. A query that gets no answer, sent after
# one that did, must get its SERVFAIL neither early (at the answered query's deadline) nor late,
# and that again and again, with answered queries in between.
. "$(dirname "$0")/lib.sh"

TMO=800                 # upstream-timeout-ms
GAP=300                 # between the answered query and the silent one
EARLY=$((TMO - 100))    # the clock is coarse (a few ms) and the timer adds 1 ms
LATE=$((TMO + 600 * SLOW))

# qt PORT NAME: dig with a 5 s timeout; the elapsed ms in QT_MS.
qt() {
	local t0
	t0=$(ms)
	QT_OUT=$(timeout 10 dig @127.0.0.1 -p "$1" +time=$((5 * SLOW)) +tries=1 +nocookie "$2" A 2>&1)
	QT_MS=$(($(ms) - t0))
}

start_fake quiet-some || bail "fakeupstream quiet-some did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
write_policy "$CFG" "$BPORT" "127.0.0.1:$FAKE_PORT"
# One worker: the timer is per worker, and every query must meet the same one.
sed -i -e "s/^upstream-timeout-ms: .*/upstream-timeout-ms: $TMO/" -e "s/^workers: .*/workers: 1/" "$CFG"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

for round in 1 2 3; do
	qt "$BPORT" "answered$round.example.test"
	grep -q '192\.0\.2\.53$' <<<"$(section "$QT_OUT" ANSWER)"
	ok $? "round $round: a query the upstream answers is relayed (the timer is now set for it)" ||
		diag "$QT_OUT"
	sleep "0.$GAP"
	qt "$BPORT" "quiet$round.example.test"
	is "$(rcode "$QT_OUT")" SERVFAIL "round $round: the next query, never answered, gets SERVFAIL"
	[ "$QT_MS" -ge "$EARLY" ]
	ok $? "  ... not before its own timeout (took $QT_MS ms, timeout $TMO ms)"
	[ "$QT_MS" -le "$LATE" ]
	ok $? "  ... nor long after it (took $QT_MS ms, at most $LATE ms)"
done

# Many answered queries and one silent one in the middle: the silent one still times out once.
for i in 1 2 3 4 5; do q "$BPORT" "before$i.example.test" A >/dev/null; done
qt "$BPORT" quiet-middle.example.test &
QPID=$!
for i in 1 2 3 4 5; do q "$BPORT" "after$i.example.test" A >/dev/null; done
wait "$QPID"
s=$(stats)
is "$(stat_val "$s" upstream-timeouts)" 4 "each silent query timed out exactly once (upstream-timeouts=4)" ||
	diag "$s"

stop_blokir
done_testing
