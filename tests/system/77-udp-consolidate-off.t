#!/bin/bash
# 77-udp-consolidate-off: udp-consolidate's edges. A value outside 0..100 is refused by --check at
# FILE:LINE:COLUMN. Started with `udp-consolidate: 0`, two workers share client UDP as the
# kernel's hash spreads it (today's behaviour): `ctl status` says both take it, no change is
# counted, and 16 dnsperf sockets at a low rate reach both workers, all answered. With
# `workers: 1` there is nothing to steer: no `udp:` status line and no udp metrics families.
# About 10 s. Needs dnsperf.
command -v dnsperf >/dev/null || { echo "1..0 # SKIP dnsperf not installed"; exit 0; }
. "$(dirname "$0")/lib.sh"

# --- a bad value -----------------------------------------------------------------------------
BAD="$T_TMP/bad.yaml"
write_policy "$BAD" 53 "127.0.0.1:5300" "udp-consolidate: 101"
line=$(grep -n '^udp-consolidate:' "$BAD" | cut -d: -f1)
out=$("$BLOKIR" --check -c "$BAD" 2>&1); st=$?
is "$st" 1 "--check refuses udp-consolidate: 101 (exit status 1)"
like "$out" "^$BAD:$line:18: udp-consolidate: expected an integer 0\\.\\.100" "  ... at FILE:LINE:COLUMN, saying what is expected"

# --- off from the start ----------------------------------------------------------------------
SOCK="$T_TMP/ctl.sock"
MPORT=$(free_port)
setup_std "udp-consolidate: 0" "control-socket: $SOCK" "metrics-listen: \"127.0.0.1:$MPORT\""
ctl() { timeout 20 "$BLOKIR" ctl -s "$SOCK" "$@"; }
workers_udp() {
	ctl stats --json | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
print(" ".join(str(w["queries-udp"]) for w in d["workers"]))'
}
sleep 1.5 # more than the second of quiet after which an `auto` daemon would consolidate
like "$(ctl status)" '^udp: 2 of 2 workers take client UDP \(udp-consolidate\), 0 changes$' \
	"ctl status: both workers take client UDP, no change"
QF="$T_TMP/queries.txt"
{ for i in 1 2 3 4 5; do echo "t.me A"; echo "www.example.test A"; done; } >"$QF"
read -r a0 a1 <<<"$(workers_udp)"
PERF=$(timeout 40 dnsperf -s 127.0.0.1 -p "$BPORT" -d "$QF" -l 2 -t 5 -c 16 -Q 100 2>&1)
read -r b0 b1 <<<"$(workers_udp)"
is "$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' <<<"$PERF")" 0 "100 qps over 16 sockets: none lost"
[ "$((b0 - a0))" -gt 0 ] && [ "$((b1 - a1))" -gt 0 ]
ok $? "  ... both workers answered (worker 0: +$((b0 - a0)), worker 1: +$((b1 - a1)))"
page=$(curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics")
like "$page" '^blokir_udp_workers_active 2$' "metrics: blokir_udp_workers_active 2"
like "$page" '^blokir_udp_consolidate_changes_total 0$' "metrics: blokir_udp_consolidate_changes_total 0"
stop_blokir

# --- one worker: nothing to steer ------------------------------------------------------------
sed -i 's/^workers: 2/workers: 1/' "$CFG"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start with one worker"
unlike "$(ctl status)" '^udp:' "workers: 1: no udp: line in ctl status"
unlike "$(curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics")" 'blokir_udp_' \
	"  ... and no udp metrics families"
stop_blokir
done_testing
