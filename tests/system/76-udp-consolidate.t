#!/bin/bash
# 76-udp-consolidate: with two workers, client UDP is steered to worker 0 while the load is
# small and spread over both when worker 0 gets busy. udp-consolidate is set to 10 (% of a CPU)
# so that a short dnsperf flood on loopback is "busy" on any machine and a paced 100 qps is not.
# At the low rate, 16 dnsperf sockets (which the kernel's hash would spread over both workers)
# on IPv4 and IPv6 all land on worker 0, per `ctl stats --json`; at full speed worker 1 answers
# too; back at the low rate worker 0 takes everything again; every answer is right and none is
# lost. A reload to udp-consolidate: 0 spreads again (today's behaviour), and so do
# rate-limit-qps and busy-poll-us (logged once each). About 25 s. Needs dnsperf.
command -v dnsperf >/dev/null || { echo "1..0 # SKIP dnsperf not installed"; exit 0; }
. "$(dirname "$0")/lib.sh"

SOCK="$T_TMP/ctl.sock"
start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
V6=""
if have_ipv6; then V6=", \"[::1]:$BPORT\""; fi
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" "udp-consolidate: 10" "control-socket: $SOCK"
sed -i "s|^listen: .*|listen: [\"127.0.0.1:$BPORT\"$V6]|" "$CFG"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

ctl() { timeout 20 "$BLOKIR" ctl -s "$SOCK" "$@"; }
# workers_udp: the per-worker UDP query counts, "W0 W1"
workers_udp() {
	ctl stats --json | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
print(" ".join(str(w["queries-udp"]) for w in d["workers"]))'
}
active() { ctl status | sed -n 's/^udp: \([0-9]*\) of 2 workers.*/\1/p'; }
changes() { ctl status | sed -n 's/^udp: .*, \([0-9]*\) changes$/\1/p'; }
# wait_active N SECONDS
wait_active() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ "$(active)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

QF="$T_TMP/queries.txt"
{ for i in 1 2 3 4 5; do echo "t.me A"; echo "www.example.test A"; echo "web.telegram.org AAAA"; done; } >"$QF"
QB="$T_TMP/blocked.txt"
echo "t.me A" >"$QB"
# perf SERVER SECONDS [dnsperf options]: output in $PERF
perf() {
	local srv=$1 secs=$2; shift 2
	PERF=$(timeout $((secs + 30)) dnsperf -s "$srv" -p "$BPORT" -l "$secs" -t 5 "$@" 2>&1)
}
pval() { sed -n "s/^ *$1: *\([0-9]*\).*/\1/p" <<<"$PERF" | head -n1; }
rcodes() { sed -n 's/^ *Response codes: *//p' <<<"$PERF"; }
# low SERVER: 2 s at 100 qps over 16 sockets; checks nothing is lost and the answers' rcodes
low() {
	perf "$1" 2 -d "$QF" -c 16 -Q 100
	local sent lost
	sent=$(pval 'Queries sent'); lost=$(pval 'Queries lost')
	[ -n "$sent" ] && [ "$sent" -ge 100 ]; ok $? "  ... $sent queries at 100 qps to $1 over 16 sockets"
	is "$lost" 0 "  ... none lost"
	like "$(rcodes)" '^NOERROR [0-9]+ \([0-9.]+%\), NXDOMAIN [0-9]+ \([0-9.]+%\)$' \
		"  ... only NOERROR (forwarded) and NXDOMAIN (blocked): $(rcodes)"
}

# --- low rate: worker 0 only -------------------------------------------------------------------
wait_active 1 5; ok $? "within a second of the start, one worker takes client UDP (ctl status)"
read -r a0 a1 <<<"$(workers_udp)"
low 127.0.0.1
read -r b0 b1 <<<"$(workers_udp)"
is "$((b1 - a1))" 0 "  ... worker 1 got none of them (worker 0: +$((b0 - a0)))"
out=$(q "$BPORT" www.example.test A)
is "$(section "$out" ANSWER)" "www.example.test. 3600 IN A 192.0.2.1" "a forwarded answer is relayed while consolidated"
if [ -n "$V6" ]; then
	low ::1
	read -r c0 c1 <<<"$(workers_udp)"
	is "$((c1 - b1))" 0 "  ... IPv6: worker 1 got none of them either (worker 0: +$((c0 - b0)))"
else
	skip "no IPv6 on loopback" "IPv6 listen address consolidated"
fi

# --- full speed: spread ------------------------------------------------------------------------
read -r a0 a1 <<<"$(workers_udp)"
perf 127.0.0.1 4 -d "$QB" -c 16 -q 200
sent=$(pval 'Queries sent'); lost=$(pval 'Queries lost')
diag <<<"$(grep -E 'Queries|per second' <<<"$PERF")"
[ -n "$sent" ] && [ "$sent" -ge 10000 ]; ok $? "dnsperf at full speed for 4 s: $sent queries"
is "$lost" 0 "  ... none lost"
like "$(rcodes)" '^NXDOMAIN [0-9]+ \(100\.00%\)$' "  ... all NXDOMAIN"
read -r b0 b1 <<<"$(workers_udp)"
[ "$((b1 - a1))" -gt 0 ]; ok $? "  ... worker 1 answered some of them (worker 0: +$((b0 - a0)), worker 1: +$((b1 - a1)))"
[ "$(changes)" -ge 2 ]; ok $? "  ... ctl status counts the changes (one worker at start, both in the flood) ($(changes) changes)"

# --- low again: consolidated after a second of quiet -------------------------------------------
wait_active 1 5; ok $? "after the flood, one worker takes client UDP again"
read -r a0 a1 <<<"$(workers_udp)"
low 127.0.0.1
read -r b0 b1 <<<"$(workers_udp)"
is "$((b1 - a1))" 0 "  ... worker 1 got none of them (worker 0: +$((b0 - a0)))"

# --- off: the kernel's spreading, as without the key -------------------------------------------
# reload_to KEY-LINE: replaces the udp-consolidate line (and what follows it on the same line)
reload_with() {
	sed -i -e '/^udp-consolidate:/d' -e '/^rate-limit-qps:/d' -e '/^busy-poll-us:/d' "$CFG"
	sed -i "s|^workers: 2|workers: 2\n$1|" "$CFG"
	ctl reload >/dev/null
}
spread_check() { # DESCRIPTION
	wait_active 2 5; ok $? "$1: both workers take client UDP"
	read -r a0 a1 <<<"$(workers_udp)"
	low 127.0.0.1
	read -r b0 b1 <<<"$(workers_udp)"
	[ "$((b0 - a0))" -gt 0 ] && [ "$((b1 - a1))" -gt 0 ]
	ok $? "  ... both answered at 100 qps (worker 0: +$((b0 - a0)), worker 1: +$((b1 - a1)))"
}
reload_with "udp-consolidate: 0"
spread_check "reload to udp-consolidate: 0"
reload_with "udp-consolidate: 10"
wait_active 1 5; ok $? "reload back to udp-consolidate: 10: one worker again"
reload_with "rate-limit-qps: 100000"
spread_check "rate-limit-qps set (the limits are per worker)"
like "$(cat "$T_TMP/blokir.log")" 'udp-consolidate: off while rate-limit-qps is set' "  ... logged"
reload_with "busy-poll-us: 50"
spread_check "busy-poll-us set"
like "$(cat "$T_TMP/blokir.log")" 'udp-consolidate: off while busy-poll-us is set' "  ... logged"
is "$(grep -c 'udp-consolidate: off while busy-poll-us' "$T_TMP/blokir.log")" 1 "  ... once"

stop_blokir
done_testing
