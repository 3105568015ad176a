#!/bin/bash
# 80-udp-io-fallback: the udp-io key's values. A bad value is refused by --check at
# FILE:LINE:COLUMN. The default, `auto`, where io_uring is refused (BLOKIR_TEST_URING_REFUSE, a
# test-only hook that makes the ring's set-up fail as a refusing kernel or seccomp filter would)
# logs one info line naming why and serves through sockets. `udp-io: sockets` reads client UDP
# with recvmmsg, says so and logs nothing about it; `io-uring` refused is a start-up failure
# (exit 3) naming why. A ring that fails under a running worker (BLOKIR_TEST_URING_FAIL_AFTER,
# test-only) moves that worker to sockets, logged, and nothing goes unanswered. Where io_uring
# works, the default takes it, quietly. About 15 s.
. "$(dirname "$0")/lib.sh"

# --- a bad value -----------------------------------------------------------------------------
BAD="$T_TMP/bad.yaml"
write_policy "$BAD" 53 "127.0.0.1:5300" "udp-io: uring"
line=$(grep -n '^udp-io:' "$BAD" | cut -d: -f1)
out=$("$BLOKIR" --check -c "$BAD" 2>&1); st=$?
is "$st" 1 "--check refuses udp-io: uring (exit status 1)"
like "$out" "^$BAD:$line:9: udp-io: expected one of auto, io-uring, sockets" "  ... at FILE:LINE:COLUMN, saying what is expected"

SOCK="$T_TMP/ctl.sock"
ctl() { timeout 20 "$BLOKIR" ctl -s "$SOCK" "$@"; }
answers_both() { # blocked and forwarded, a few times (both workers' sockets)
	local i o
	for i in 1 2 3 4; do
		o=$(q "$BPORT" "n$i.t.me" A); [ "$(rcode "$o")" = NXDOMAIN ] || return 1
		o=$(q "$BPORT" www.example.test A); [ "$(rcode "$o")" = NOERROR ] || return 1
	done
}

# --- the default, auto, where io_uring is refused --------------------------------------------
BLOKIR_TEST_URING_REFUSE=1 setup_std "control-socket: $SOCK"
n=$(grep -c 'info: udp-io auto: client UDP through sockets, not io_uring (io_uring_setup: refused (BLOKIR_TEST_URING_REFUSE' "$T_TMP/blokir.log")
is "$n" 1 "default (auto), io_uring refused: one info line naming why"
like "$(ctl status)" '^udp-io: worker 0 sockets, worker 1 sockets$' "  ... both workers through sockets"
answers_both; ok $? "  ... blocked and forwarded answered"
stop_blokir

# --- sockets ----------------------------------------------------------------------------------
: >"$T_TMP/blokir.log"
sed -i 's/^workers: 2/workers: 2\nudp-io: sockets/' "$CFG"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start with udp-io: sockets"
like "$(ctl status)" '^udp-io: worker 0 sockets, worker 1 sockets$' "sockets: both workers read client UDP through sockets"
answers_both; ok $? "  ... blocked and forwarded answered"
unlike "$(cat "$T_TMP/blokir.log")" 'udp-io' "  ... and nothing logged about udp-io"
stop_blokir

# --- io-uring, refused: a start-up error ------------------------------------------------------
sed -i 's/^udp-io: sockets/udp-io: io-uring/' "$CFG"
out=$(BLOKIR_TEST_URING_REFUSE=1 timeout 20 "$BLOKIR" -c "$CFG" --foreground "${ROOT_OPT[@]}" 2>&1); st=$?
is "$st" 3 "io-uring, refused: blokir does not start (exit status 3, a start-up failure)"
like "$out" 'error: worker 0: udp-io io-uring: io_uring_setup: refused' "  ... naming why"

# --- io_uring failing under a running worker: that worker goes on through sockets ------------
# BLOKIR_TEST_URING_FAIL_AFTER=N (tests only) makes a worker's Nth wait on its ring fail as an
# io_uring_enter that lost completions would (EBADR); its sockets stay in the reuseport group, so
# it must go on answering them, through recvmmsg, rather than leave its share unanswered.
sed -i '/^udp-io:/d' "$CFG"
: >"$T_TMP/blokir.log"
BLOKIR_TEST_URING_FAIL_AFTER=20 start_blokir "$CFG" "$BPORT" || bail "blokir did not start with BLOKIR_TEST_URING_FAIL_AFTER"
if grep -q 'udp-io auto: client UDP through sockets' "$T_TMP/blokir.log"; then
	skip "io_uring refused here" "a ring failing at run time"
else
	for i in $(seq 1 30); do q "$BPORT" "warm$i.t.me" A >/dev/null; done
	for i in $(seq 1 50); do
		grep -q 'worker 1: io_uring_enter' "$T_TMP/blokir.log" && grep -q 'worker 0: io_uring_enter' "$T_TMP/blokir.log" && break
		sleep 0.1
	done
	like "$(cat "$T_TMP/blokir.log")" 'error: worker 0: io_uring_enter: Invalid request descriptor; client UDP through sockets from now on' \
		"a ring failing at run time: logged, naming the error and what follows"
	like "$(ctl status)" '^udp-io: worker 0 sockets, worker 1 sockets$' "  ... ctl status: both workers through sockets now"
	answers_both; ok $? "  ... blocked and forwarded answered after it"
	lost=0
	for i in $(seq 1 40); do o=$(q "$BPORT" "n$i.t.me" A); [ "$(rcode "$o")" = NXDOMAIN ] || lost=$((lost + 1)); done
	is "$lost" 0 "  ... 40 queries after it, all answered"
fi
stop_blokir

# --- the default, auto, where io_uring works -------------------------------------------------
sed -i '/^udp-io:/d' "$CFG"
: >"$T_TMP/blokir.log"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start by default"
if grep -q 'udp-io auto: client UDP through sockets' "$T_TMP/blokir.log"; then
	skip "io_uring refused here: $(grep -o 'not io_uring.*' "$T_TMP/blokir.log")" "the default takes io_uring"
else
	like "$(ctl status)" '^udp-io: worker 0 io-uring, worker 1 io-uring$' "default (auto) where io_uring works: both workers take it"
	unlike "$(cat "$T_TMP/blokir.log")" 'udp-io' "  ... and nothing logged about udp-io"
fi
answers_both; ok $? "  ... blocked and forwarded answered"
stop_blokir
done_testing
