#!/bin/bash
# 79-udp-io-uring: client UDP through io_uring (`udp-io: io-uring`). Every worker says so in
# `ctl status` and the metrics. Blocked, forwarded (nsd), TC=1 to a 512-byte client and the TCP
# retry, EDNS sizes, malformed queries, the rate limits' TC answers, busy-poll-us and reloads
# behave as through sockets: the default (auto) takes io_uring here, so the whole suite runs
# through it, and test 82 runs the core tests again through sockets. Here 16 dnsperf sockets with 100
# in flight each get every answer while a SIGHUP reloads (none lost), and a reload that changes
# udp-io keeps the running value with the restart warning; under valgrind, no error and no
# definite leak. About 20 s. Skipped where io_uring is
# refused (kernel.io_uring_disabled, a seccomp filter, a kernel before 6.1).
command -v dnsperf >/dev/null || { echo "1..0 # SKIP dnsperf not installed"; exit 0; }
. "$(dirname "$0")/lib.sh"

SOCK="$T_TMP/ctl.sock"
MPORT=$(free_port)
start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" "udp-io: io-uring" "control-socket: $SOCK" \
	"metrics-listen: \"127.0.0.1:$MPORT\""
if ! start_blokir "$CFG" "$BPORT"; then
	if grep -q 'udp-io io-uring: io_uring_setup' "$T_TMP/blokir.log"; then
		echo "1..0 # SKIP io_uring refused here: $(grep -o 'io_uring_setup.*' "$T_TMP/blokir.log" | head -1)"
		exit 0
	fi
	bail "blokir did not start with udp-io: io-uring"
fi
ctl() { timeout 20 "$BLOKIR" ctl -s "$SOCK" "$@"; }
like "$(ctl status)" '^udp-io: worker 0 io-uring, worker 1 io-uring$' \
	"ctl status: both workers read client UDP through io_uring"
like "$(curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics")" \
	'^blokir_worker_udp_io\{worker="1",path="io-uring"\} 1$' "metrics: blokir_worker_udp_io says io-uring"

# --- many in flight, and a reload under that load -------------------------------------------
QF="$T_TMP/queries.txt"
{ for i in $(seq 1 50); do echo "n$i.t.me A"; echo "www.example.test A"; echo "t.me AAAA"; done; } >"$QF"
s0=$(stats)
timeout 60 dnsperf -s 127.0.0.1 -p "$BPORT" -d "$QF" -l 4 -t 5 -c 16 -q 100 -Q 5000 \
	>"$T_TMP/dnsperf.txt" 2>&1 &
DP=$!
track "$DP"
sleep 1.5
kill -HUP "$T_BLOKIR_PID"
wait "$DP"
s1=$(stats)
sent=$(sed -n 's/^ *Queries sent: *\([0-9]*\).*/\1/p' "$T_TMP/dnsperf.txt")
lost=$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$T_TMP/dnsperf.txt")
[ -n "$sent" ] && [ "$sent" -gt 5000 ]
ok $? "16 sockets, 100 in flight each: $sent queries sent"
is "$lost" 0 "  ... none lost, with a SIGHUP in the middle"
like "$(cat "$T_TMP/blokir.log")" 'reload: .*policy with' "  ... the reload happened"
blocked=$(($(stat_val "$s1" blocked) - $(stat_val "$s0" blocked)))
fwd=$(($(stat_val "$s1" forwarded) - $(stat_val "$s0" forwarded)))
[ "$blocked" -gt 0 ] && [ "$fwd" -gt 0 ]
ok $? "  ... blocked ($blocked) and forwarded ($fwd) among them"

# --- udp-io needs a restart ------------------------------------------------------------------
sed -i 's/^udp-io: io-uring/udp-io: sockets/' "$CFG"
kill -HUP "$T_BLOKIR_PID"
wait_log 10 'udp-io changed in' ||:
like "$(cat "$T_TMP/blokir.log")" "warning: reload: udp-io changed in $CFG, but only a restart applies it; the running value stays" \
	"a reload changing udp-io: the restart warning"
like "$(ctl status)" '^udp-io: worker 0 io-uring, worker 1 io-uring$' "  ... and the workers keep io_uring"
stop_blokir

# --- under valgrind ---------------------------------------------------------------------------
if [[ "$BLOKIR" == *san/* ]]; then
	skip "the sanitizer build cannot run under valgrind" "valgrind run"
elif command -v valgrind >/dev/null; then
	sed -i 's/^udp-io: sockets/udp-io: io-uring/' "$CFG"
	BLOKIR_WRAPPER="valgrind --leak-check=full --error-exitcode=99 --errors-for-leak-kinds=definite --show-leak-kinds=definite"
	SLOW=4
	: >"$T_TMP/blokir.log"
	start_blokir "$CFG" "$BPORT" || bail "blokir did not start under valgrind"
	timeout 60 dnsperf -s 127.0.0.1 -p "$BPORT" -d "$QF" -l 3 -t 10 -c 4 -q 20 -Q 300 >"$T_TMP/dnsperf.txt" 2>&1
	is "$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$T_TMP/dnsperf.txt")" 0 "under valgrind: 3 s at 300 qps through io_uring, none lost"
	stop_blokir "under valgrind: stops with exit status 0 (no errors, no definite leaks)"
	BLOKIR_WRAPPER=""
	SLOW=1
else
	skip "valgrind not installed" "valgrind run"
fi

done_testing
