#!/usr/bin/env bash
# bench/xdp_veth.sh: blocked queries from kxdpgun over a veth pair (issue 14), blokir beside the
# bare responder and Knot DNS (sockets, and XDP), in two network namespaces it makes and removes.
#
# dnsperf tops out near 220-250 k qps here, below what the servers answer. kxdpgun (knot-dnsutils)
# sends and receives through AF_XDP and so is several times faster. It runs in one namespace, the
# server in another, joined by a veth pair with RFC 5737 documentation addresses (192.0.2.1 the
# server, 192.0.2.2 the generator) that exist only inside the two namespaces: no traffic can
# leave them, and nothing is configured outside them. Two measures per system and round:
#
#   max qps    kxdpgun floods (-Q MAX_QPS) for MAX_DURATION seconds; the answers per second
#   CPU/query  kxdpgun at a fixed RATE (default 150,000 qps) for DURATION seconds; the CPU of the
#              whole machine (/proc/stat: user+nice+system+irq+softirq of all CPUs, so idle,
#              iowait and the hypervisor's steal are left out) over the run divided by the answers.
#              Machine CPU, not the server's: on veth the receiving side's softirq work runs in the
#              sender's context and is charged to whoever sent, so a server's own utime+stime
#              misses part of its cost (the server's own figure is shown beside it as a note).
#
# The systems (SYSTEMS), interleaved in ROUNDS rounds, kxdpgun always on CPU 0 (-F 0):
#   bare        bench/bare_responder.c, one thread, CPU 1 (the ceiling the others are divided by)
#   knot-xdp    Knot DNS 3.2 in XDP mode on the server's veth, authoritative for an empty root
#               zone (every name NXDOMAIN with the SOA, as blokir answers), CPU 1
#   knot        the same with sockets only (udp-workers: 1), CPU 1
#   blokir-1w   blokir, workers: 1, the 11-name policy, CPU 1
#   blokir      blokir, default workers (workers: 0, one per core), not pinned
# Each veth end has one queue, so kxdpgun runs one thread and Knot one XDP worker. Both ends
# attach their XDP programs in native mode (veth supports it; kxdpgun and knotd report "native
# mode" in their logs, kept with KEEP_TMP=1).
#
# Full run (the defaults) takes about 5 minutes: 3 rounds x 5 systems x (5 s flood + 10 s fixed
# rate + start); about 7 with BLOKIR_BEFORE. It loads both cores: run it on an idle machine, since machine CPU counts everyone.
# A functional check in about 30 s:
#     ROUNDS=1 DURATION=2 MAX_DURATION=2 bench/xdp_veth.sh
#
# Needs root (namespaces, XDP), iproute2, knot (knotd), knot-dnsutils (kxdpgun), bind9-dnsutils
# (dig), util-linux (taskset), gcc and python3; installs nothing and names what is missing. Every
# process it starts is stopped by PID, and the namespaces are deleted on exit, also on Ctrl-C.
# The table (every round, medians, ratios to the bare responder, and a markdown table) is printed
# and saved to $OUT with the date, commit and command in its header.
#
# Environment:
#   ROUNDS=N        interleaved rounds (default 3)
#   RATE=QPS        the fixed rate of the CPU runs (default 150000); DURATION=S (default 10)
#   MAX_QPS=QPS     the flood's kxdpgun -Q (default 2000000); MAX_DURATION=S (default 5)
#   SYSTEMS="..."   subset of: bare knot-xdp knot blokir-1w blokir blokir-before-1w blokir-before
#                   (bare is the reference)
#   BLOKIR_BEFORE=PATH an older blokir build measured in the same rounds (blokir-before-1w and
#                   blokir-before), for a before/after table
#   BLOKIR=PATH     binary under test (default ./blokir; a copy is measured)
#   BLOKIR_CONF=YAML top-level lines added to its config (not blokir-before's), such as
#                   "udp-io: io-uring"
#   OUT=PATH        where the table goes (default bench/results/xdp_veth.txt)
#   KEEP_TMP=1      keep configs, logs and every kxdpgun output in /tmp/blokir-xdp.*

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

ROUNDS=${ROUNDS:-3}
RATE=${RATE:-150000}
DURATION=${DURATION:-10}
MAX_QPS=${MAX_QPS:-2000000}
MAX_DURATION=${MAX_DURATION:-5}
SYSTEMS=${SYSTEMS:-bare knot-xdp knot${BLOKIR_BEFORE:+ blokir-before-1w} blokir-1w${BLOKIR_BEFORE:+ blokir-before} blokir}
BLOKIR=${BLOKIR:-./blokir}
OUT=${OUT:-bench/results/xdp_veth.txt}
KEEP_TMP=${KEEP_TMP:-0}
BUILD=build/bench
NCPU=$(nproc)
HZ=$(getconf CLK_TCK)
BIG=0
START_TS=$(date +%s)
CMDLINE="${BLOKIR_BEFORE:+BLOKIR_BEFORE=$BLOKIR_BEFORE }ROUNDS=$ROUNDS RATE=$RATE DURATION=$DURATION MAX_QPS=$MAX_QPS MAX_DURATION=$MAX_DURATION SYSTEMS=\"$SYSTEMS\" bench/xdp_veth.sh"

LOG_TAG=xdp-veth
PIDS=()
. "$(dirname "$0")/lib.sh"

need_tools "$LOG_TAG" ip:iproute2 knotd:knot kxdpgun:knot-dnsutils dig:bind9-dnsutils \
	taskset:util-linux python3:python3 cc:gcc
if [ "$(id -u)" != 0 ]; then
	echo "$LOG_TAG: needs root (network namespaces, XDP programs)" >&2
	exit 1
fi
if [ "$NCPU" -lt 2 ]; then
	echo "$LOG_TAG: needs at least 2 CPUs (kxdpgun on CPU 0, the server on CPU 1)" >&2
	exit 1
fi
begin_rounds xdp

# --- the namespaces ------------------------------------------------------------------------------

NS_SRV=blokir-xdp-$$-srv
NS_GEN=blokir-xdp-$$-gen
VETH_SRV=bxs$$
VETH_GEN=bxg$$
SRV_ADDR=192.0.2.1
GEN_ADDR=192.0.2.2
NETNS_MADE=()

# del_netns: deletes the namespaces this run made (the veth pair goes with them). Runs after
# cleanup has stopped every process, so nothing is left inside them.
del_netns() {
	local ns
	for ns in "${NETNS_MADE[@]}"; do ip netns del "$ns" 2>/dev/null; done
	NETNS_MADE=()
}
trap 'cleanup; del_netns' EXIT
trap 'exit 130' INT TERM

for ns in "$NS_SRV" "$NS_GEN"; do
	if ip netns list | grep -qw "$ns"; then
		echo "$LOG_TAG: namespace $ns exists already" >&2
		exit 1
	fi
	ip netns add "$ns" || exit 1
	NETNS_MADE+=("$ns")
	ip -n "$ns" link set lo up || exit 1
done
# The pair is created with each end already inside its namespace, so it never exists outside.
ip link add "$VETH_SRV" netns "$NS_SRV" type veth peer name "$VETH_GEN" netns "$NS_GEN" || exit 1
ip -n "$NS_SRV" addr add "$SRV_ADDR/24" dev "$VETH_SRV" || exit 1
ip -n "$NS_GEN" addr add "$GEN_ADDR/24" dev "$VETH_GEN" || exit 1
ip -n "$NS_SRV" link set "$VETH_SRV" up || exit 1
ip -n "$NS_GEN" link set "$VETH_GEN" up || exit 1
SRV_MAC=$(ip -n "$NS_SRV" -br link show "$VETH_SRV" | awk '{print $3}')
GEN_MAC=$(ip -n "$NS_GEN" -br link show "$VETH_GEN" | awk '{print $3}')
# Static neighbours, so no ARP is in flight when kxdpgun (which answers none) starts.
ip -n "$NS_SRV" neigh replace "$GEN_ADDR" lladdr "$GEN_MAC" dev "$VETH_SRV" nud permanent || exit 1
ip -n "$NS_GEN" neigh replace "$SRV_ADDR" lladdr "$SRV_MAC" dev "$VETH_GEN" nud permanent || exit 1
SRV_EXEC=(ip netns exec "$NS_SRV")
PROBE_EXEC=(ip netns exec "$NS_GEN")
PORT=53
# No upstream: only blocked queries are sent; blokir's upstream is an address where nothing listens.
UPSTREAM=$GEN_ADDR:53
log "namespaces $NS_SRV ($VETH_SRV $SRV_ADDR $SRV_MAC) and $NS_GEN ($VETH_GEN $GEN_ADDR)"

# The generator's address is outside blokir's default allow-from (loopback and RFC 1918).
BLOKIR_EXTRA+="${BLOKIR_EXTRA:+$'\n'}allow-from: [\"$GEN_ADDR/32\"]"
QF=$DATA/p11/q-blocked.txt

# --- Knot DNS ------------------------------------------------------------------------------------

mkdir -p "$TMP/knot"
cat >"$TMP/knot/root.zone" <<'EOF'
.	3600	SOA	ns.invalid. hostmaster.invalid. 1 3600 900 604800 300
.	3600	NS	ns.invalid.
EOF

# start_knot POLICY PIN [xdp]: knotd authoritative for the empty root zone, one UDP worker on CPU 1
# (pinned) or its default workers; with xdp also on the server's veth through XDP.
start_knot() {
	local pin=$2 mode=${3:-sockets} dir ts=() workers=
	dir=$TMP/knot/$mode-$pin
	mkdir -p "$dir" && cp "$TMP/knot/root.zone" "$dir/"
	[ "$pin" = pinned ] && { ts=(taskset -c 1); workers="    udp-workers: 1
    tcp-workers: 1
    background-workers: 1"; }
	{
		cat <<EOF
server:
    rundir: "$dir"
    listen: $SRV_ADDR@$PORT
$workers
log:
  - target: stderr
    any: info
database:
    storage: "$dir"
template:
  - id: default
    storage: "$dir"
zone:
  - domain: .
    file: "root.zone"
EOF
		[ "$mode" = xdp ] && printf 'xdp:\n    listen: %s@%s\n    udp: on\n' "$VETH_SRV" "$PORT"
	} >"$dir/knot.conf"
	bg "knot-$mode-$pin" "${SRV_EXEC[@]}" "${ts[@]}" knotd -c "$dir/knot.conf"
	SPID=$BG_PID
	wait_dns "$SPID" "$PORT" t.me 30 "$SRV_ADDR"
}
start_knot-xdp() { start_knot "$1" "$2" xdp; }

# start_system SYSTEM: starts it as the table's column says; sets SPID.
start_system() {
	case $1 in
	bare) start_bare 11 pinned ;;
	knot) start_knot 11 pinned ;;
	knot-xdp) start_knot-xdp 11 pinned ;;
	blokir-1w) start_blokir 11 pinned ;;
	blokir) start_blokir 11 unpinned ;;
	blokir-before-1w) start_blokir-before 11 pinned ;;
	blokir-before) start_blokir-before 11 unpinned ;;
	*) log "unknown system $1"; return 1 ;;
	esac
}

# --- one measurement -----------------------------------------------------------------------------

# machine_busy: busy clock ticks of all CPUs since boot (user nice system irq softirq).
machine_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }

# kxdpgun_run NAME QPS SECONDS: kxdpgun from the generator's namespace on CPU 0, output in
# $TMP/NAME.txt; bounded by timeout, stopped by PID on Ctrl-C.
kxdpgun_run() {
	bg "$1" "${PROBE_EXEC[@]}" timeout $(($3 + 30)) kxdpgun -t "$3" -Q "$2" -F 0 -i "$QF" \
		-I "$VETH_GEN" -l "$GEN_ADDR" -R "$SRV_MAC" -p "$PORT" "$SRV_ADDR"
	wait "$BG_PID"
	stop_pid "$BG_PID"
	mv "$TMP/$1.log" "$TMP/$1.txt"
}

# replies FILE: "REPLIES SENT NXDOMAIN" from kxdpgun's summary.
replies() {
	awk '/^total queries:/ { q = $3 } /^total replies:/ { r = $3 } /^responded NXDOMAIN:/ { nx = $3 }
		END { print r + 0, q + 0, nx + 0 }' "$1"
}

# measure SYSTEM ROUND: the flood, then the fixed rate; two rows.
measure() {
	local sys=$1 round=$2 r q nx qps b0 b1 c0 c1 us srv note
	kxdpgun_run "max-$sys-$round" "$MAX_QPS" "$MAX_DURATION"
	read -r r q nx < <(replies "$TMP/max-$sys-$round.txt")
	qps=$(awk -v r="$r" -v d="$MAX_DURATION" 'BEGIN { printf "%.0f", r / d }')
	note=
	[ "$r" -gt 0 ] && [ "$nx" -lt "$r" ] && note="WRONG: $nx of $r NXDOMAIN; "
	[ "$r" -gt 0 ] || { note="NO-ANSWERS; "; qps=n/a; }
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' max "blocked qps, kxdpgun flood over veth, kxdpgun on CPU 0" \
		bare "$sys" "$round" "$qps" "${note}sent $((q / MAX_DURATION))/s" >>"$ROWS"
	log "  $sys round $round: $qps answers/s under a flood (sent $q, answered $r)"

	b0=$(machine_busy)
	c0=$(cpu_ticks "$SPID")
	kxdpgun_run "fixed-$sys-$round" "$RATE" "$DURATION"
	c1=$(cpu_ticks "$SPID")
	b1=$(machine_busy)
	read -r r q nx < <(replies "$TMP/fixed-$sys-$round.txt")
	us=n/a srv=n/a note=
	if [ "$r" -gt 0 ]; then
		us=$(awk -v t=$((b1 - b0)) -v hz="$HZ" -v n="$r" 'BEGIN { printf "%.3f", t / hz * 1e6 / n }')
		srv=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$r" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
		[ "$nx" -lt "$r" ] && note="WRONG: $nx of $r NXDOMAIN; "
		[ "$r" -lt $((q * 99 / 100)) ] && note+="answered $((r * 100 / q))%; "
	else
		note="NO-ANSWERS; "
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' fixed \
		"machine CPU per blocked query at $RATE qps over veth (µs, all CPUs from /proc/stat)" \
		bare "$sys" "$round" "$us" "${note}server alone $srv" >>"$ROWS"
	log "  $sys round $round: machine $us us/q, server alone $srv us/q at $RATE qps (answered $r of $q)"
}

for ((round = 1; round <= ROUNDS; round++)); do
	log "round $round of $ROUNDS"
	for sys in $SYSTEMS; do
		if ! start_system "$sys"; then
			log "ERROR: $sys did not come up; log tail:"
			tail -5 "$TMP"/*"$sys"*.log "$TMP"/knot-*.log 2>/dev/null >&2
			stop_pid "$SPID"
			continue
		fi
		measure "$sys" "$round"
		kill -0 "$SPID" 2>/dev/null || log "WARNING: $sys died in round $round"
		stop_pid "$SPID" 30
	done
done

{
	echo "$(stamp "blokir over veth with kxdpgun"), kernel $(uname -r)"
	echo "command: $CMDLINE"
	echo "versions: $(kxdpgun -V 2>&1 | head -1) | $(knotd -V 2>&1 | head -1)"
	echo "kxdpgun on CPU 0; bare, knot-xdp, knot and blokir-1w on CPU 1 with one thread/worker; blokir with its default workers ($NCPU), not pinned"
	echo "modes: $(grep -ho 'XDP threads [0-9]*, UDP, [a-z]* mode' "$TMP"/max-*.txt 2>/dev/null | sort -u | head -1) (kxdpgun);" \
		"$(grep -ho 'initialized XDP interface[^,]*, UDP port [0-9]*, queues [0-9]*, [a-z]* mode' "$TMP"/knot-xdp-*.log 2>/dev/null | sed 's/interface [^,]*/interface/' | sort -u | head -1) (knotd)"
	echo
	python3 bench/rounds_table.py "$ROWS"
} | tee "$OUT"
log "done in $(($(date +%s) - START_TS)) s; table in $OUT"
