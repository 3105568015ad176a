#!/usr/bin/env bash
# bench/cpu_fixed.sh: server CPU per query at a fixed, moderate rate (issue 14), blokir beside
# the bare responder, dnsdist and Unbound in one run.
#
# At full speed every server here is limited by dnsperf; at the load a server mostly carries -- a
# fixed rate with few queries in flight -- what differs is what each wake-up costs. So dnsperf
# sends at a fixed rate (-Q RATE) for DURATION seconds, and the figure is the server's CPU time
# (utime + stime from /proc/PID/stat, which sums all its threads) over the run divided by the
# queries answered, in microseconds, and its ratio to the ceiling measured in the same round: the
# bare responder (bench/bare_responder.c) for blocked queries, the bare relay in front of nsd
# (bench/bare_relay.c) for forwarded ones. ROUNDS rounds are interleaved (bare, relay, dnsdist,
# unbound, blokir, then again), so slow drift of the shared machine hits every system alike, and
# the table gives the median over rounds and the median of the per-round ratios.
#
# Placement, as bench/run.sh: pinned = dnsperf (and nsd) on CPU 0, the server with one
# worker/thread on CPU 1; unpinned = nothing pinned, each server with one worker per core (blokir
# `workers: 0`, its default).
#
# Then the latency the forwarders add at a low rate (LAT_QPS, default 2,000 qps, forwarded): p50 of
# the relay, blokir and blokir with `busy-poll-us: 100`, each minus the p50 of nsd asked directly
# in the run just before it (nsd on CPU 1 for it when pinned), also in interleaved rounds.
#
# Full run (the defaults) takes about 13 minutes: 2 placements x 3 rounds x 5 servers x 2 mixes x
# 10 s, plus the latency rounds (2 x 3 x 3 x 2 x 5 s); about 17 with BLOKIR_BEFORE. It loads both cores: run it on an idle
# machine. A functional check in about 40 s:
#     ROUNDS=1 DURATION=2 LAT_DURATION=1 PINS=pinned bench/cpu_fixed.sh
#
# It installs nothing (it names the Debian packages missing), uses only loopback and free ports,
# stops exactly the processes it started (by PID, also on Ctrl-C), and bounds every run in time.
# The table (every round, medians, ratios, and a markdown table to paste into README.md) is
# printed and saved to $OUT with the date, commit and command in its header.
#
# Environment:
#   ROUNDS=N          interleaved rounds (default 3)
#   DURATION=S        seconds per fixed-rate run (default 10)
#   RATE=QPS          dnsperf -Q of the CPU runs (default 30000); FWD_RATE=QPS the forwarded
#                     ones' (default RATE: Unbound's forwarded path, ~36 us a query, cannot carry
#                     30,000 qps on one core, so its pinned forwarded row is at saturation, and
#                     the notes show the rate it reached and what was lost)
#   CLIENTS=N         dnsperf -c (default 4); OUTSTANDING=N dnsperf -q (default 100, a cap: at a
#                     fixed rate the queries in flight are rate x latency, a few)
#   SYSTEMS="..."     compared servers, subset of: dnsdist unbound blokir blokir-before (the
#                     ceilings always run)
#   BLOKIR_BEFORE=PATH an older blokir build measured in the same rounds (system blokir-before;
#                     in the latency rounds also blokir-before-poll), for a before/after table
#   LAT_SYSTEMS="..." the latency rounds' systems (default relay [blokir-before
#                     blokir-before-poll] blokir blokir-poll)
#   MIXES="..."       subset of: blocked forwarded
#   PINS="..."        subset of: pinned unpinned
#   LAT=0|1           the latency rounds (default 1); LAT_QPS (2000), LAT_DURATION (5 s)
#   BLOKIR=PATH       binary under test (default ./blokir; a copy is measured)
#   OUT=PATH          where the table goes (default bench/results/cpu_fixed.txt)
#   KEEP_TMP=1        keep configs, logs and every dnsperf output in /tmp/blokir-cpufixed.*

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
RATE=${RATE:-30000}
FWD_RATE=${FWD_RATE:-$RATE}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-100}
SYSTEMS=${SYSTEMS:-dnsdist unbound${BLOKIR_BEFORE:+ blokir-before} blokir}
LAT_SYSTEMS=${LAT_SYSTEMS:-relay${BLOKIR_BEFORE:+ blokir-before blokir-before-poll} blokir blokir-poll}
MIXES=${MIXES:-blocked forwarded}
PINS=${PINS:-pinned unpinned}
LAT=${LAT:-1}
LAT_QPS=${LAT_QPS:-2000}
LAT_DURATION=${LAT_DURATION:-5}
BLOKIR=${BLOKIR:-./blokir}
OUT=${OUT:-bench/results/cpu_fixed.txt}
KEEP_TMP=${KEEP_TMP:-0}
BUILD=build/bench
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
BIG=0
START_TS=$(date +%s)
CMDLINE="${BLOKIR_BEFORE:+BLOKIR_BEFORE=$BLOKIR_BEFORE }ROUNDS=$ROUNDS DURATION=$DURATION RATE=$RATE FWD_RATE=$FWD_RATE CLIENTS=$CLIENTS OUTSTANDING=$OUTSTANDING PINS=\"$PINS\" MIXES=\"$MIXES\" SYSTEMS=\"$SYSTEMS\" LAT=$LAT LAT_QPS=$LAT_QPS LAT_DURATION=$LAT_DURATION LAT_SYSTEMS=\"$LAT_SYSTEMS\" bench/cpu_fixed.sh"

LOG_TAG=cpu-fixed
PIDS=()
. "$(dirname "$0")/lib.sh"

need_tools "$LOG_TAG" dnsperf:dnsperf dnsdist:dnsdist unbound:unbound nsd:nsd taskset:util-linux \
	dig:bind9-dnsutils python3:python3 cc:gcc
if [ "$NCPU" -lt 2 ]; then
	echo "$LOG_TAG: needs at least 2 CPUs for the pinned rows (have $NCPU)" >&2
	exit 1
fi
begin_rounds cpufixed
start_nsd
PORT=$(free_port)

# query_file MIX: the dnsperf input of a mix.
query_file() { if [ "$1" = blocked ]; then echo "$DATA/p11/q-blocked.txt"; else echo "$DATA/zone/q-forwarded.txt"; fi; }

# check_codes FILE MIX: "ok", or what is wrong with the answers of one dnsperf run (blocked must be
# NXDOMAIN, forwarded NOERROR, each for at least 99.9% of the answers; nothing unanswered beyond
# 0.1%).
check_codes() {
	awk -v mix="$2" '
		/Queries sent:/ { sent = $3 }
		/Queries completed:/ { done = $3 }
		/Response codes:/ { line = $0 }
		END {
			want = (mix == "blocked") ? "NXDOMAIN" : "NOERROR"
			n = 0
			if (match(line, want " [0-9]+")) n = substr(line, RSTART + length(want) + 1, RLENGTH - length(want) - 1) + 0
			if (done == 0) print "NO-ANSWERS"
			else if (n < done * 0.999) print "WRONG: " substr(line, index(line, ":") + 2)
			else if (done < sent * 0.999) printf "LOST %.2f%%\n", (sent - done) / sent * 100
			else print "ok"
		}' "$1"
}

# fixed_run SYSTEM MIX PIN ROUND: one fixed-rate run against the server SPID, one row.
fixed_run() {
	local sys=$1 mix=$2 pin=$3 round=$4 ts=() out c0 c1 done qps ref check us rate=$RATE
	[ "$mix" = forwarded ] && rate=$FWD_RATE
	[ "$pin" = pinned ] && ts=(taskset -c 0)
	ref=bare
	[ "$mix" = forwarded ] && ref=relay
	out=$TMP/dnsperf-$sys-$mix-$pin-$round.txt
	c0=$(cpu_ticks "$SPID")
	"${ts[@]}" dnsperf -s 127.0.0.1 -p "$PORT" -d "$(query_file "$mix")" -l "$DURATION" -Q "$rate" \
		-c "$CLIENTS" -q "$OUTSTANDING" -t 2 >"$out" 2>&1
	c1=$(cpu_ticks "$SPID")
	done=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$out")
	qps=$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$out")
	check=$(check_codes "$out" "$mix")
	us=n/a
	[ "${done:-0}" -gt 0 ] && us=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$done" 'BEGIN { printf "%.3f", t / hz * 1e6 / n }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "cpu/$mix/$pin" \
		"server CPU per $mix query at $rate qps, $pin (µs)" "$ref" "$sys" "$round" "$us" \
		"$([ "$check" = ok ] || echo "$check ")$(printf '%.0f' "${qps:-0}") qps" >>"$ROWS"
	log "  $sys $mix $pin round $round: ${us} us/q at ${qps:-?} qps ($check)"
}

# p50_us FILE: the median latency of a dnsperf -v run, in microseconds.
p50_us() {
	sed -n 's/^> [A-Z]* [^ ]* [^ ]* \([0-9.]*\)$/\1/p' "$1" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR) printf "%.0f", v[int(NR * 0.5) + 1] * 1e6; else print "n/a" }'
}

# lat_run SYSTEM PIN ROUND: nsd asked directly (placed as the server would be), then SYSTEM on
# $PORT, both at LAT_QPS forwarded; one row with the p50 SYSTEM adds.
lat_run() {
	local sys=$1 pin=$2 round=$3 ts=() qf base p added
	[ "$pin" = pinned ] && ts=(taskset -c 0)
	qf=$(query_file forwarded)
	[ "$pin" = pinned ] && pin_tree "$NSD_PID" 1
	"${ts[@]}" dnsperf -s 127.0.0.1 -p "$NSD_PORT" -d "$qf" -l "$LAT_DURATION" -c 4 -q 20 \
		-Q "$LAT_QPS" -t 2 -v >"$TMP/lat-nsd-$sys-$pin-$round.txt" 2>&1
	pin_nsd "$pin"
	"${ts[@]}" dnsperf -s 127.0.0.1 -p "$PORT" -d "$qf" -l "$LAT_DURATION" -c 4 -q 20 \
		-Q "$LAT_QPS" -t 2 -v >"$TMP/lat-$sys-$pin-$round.txt" 2>&1
	base=$(p50_us "$TMP/lat-nsd-$sys-$pin-$round.txt")
	p=$(p50_us "$TMP/lat-$sys-$pin-$round.txt")
	added=n/a
	[ "$base" != n/a ] && [ "$p" != n/a ] && added=$((p - base))
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "lat/$pin" \
		"added p50 latency, forwarded at $LAT_QPS qps, $pin (µs over nsd asked directly)" - \
		"$sys" "$round" "$added" "p50 $p (nsd $base)" >>"$ROWS"
	log "  $sys latency $pin round $round: p50 $p us, nsd $base us, added $added us"
}

# up SYSTEM PIN: starts SYSTEM (lib.sh, start_*) on $PORT with the 11-name policy; 1 if it failed.
up() {
	if ! "start_$1" 11 "$2"; then
		log "ERROR: $1 did not come up ($2); log tail:"
		tail -5 "$TMP/$1-11-$2.log" "$TMP/$1-$2.log" 2>/dev/null >&2
		stop_pid "$SPID"
		return 1
	fi
}

for pin in $PINS; do
	pin_nsd "$pin"
	for ((round = 1; round <= ROUNDS; round++)); do
		log "$pin, round $round of $ROUNDS"
		for sys in bare relay $SYSTEMS; do
			mixes=
			for mix in $MIXES; do
				case $sys/$mix in bare/forwarded | relay/blocked) ;; *) mixes+=" $mix" ;; esac
			done
			[ -n "$mixes" ] || continue
			up "$sys" "$pin" || continue
			for mix in $mixes; do fixed_run "$sys" "$mix" "$pin" "$round"; done
			kill -0 "$SPID" 2>/dev/null || log "WARNING: $sys died during round $round ($pin)"
			stop_pid "$SPID" 30
		done
	done
	[ "$LAT" = 1 ] || continue
	for ((round = 1; round <= ROUNDS; round++)); do
		log "$pin, latency round $round of $ROUNDS"
		for sys in $LAT_SYSTEMS; do
			up "$sys" "$pin" || continue
			lat_run "$sys" "$pin" "$round"
			stop_pid "$SPID" 30
		done
	done
done
pin_nsd unpinned

{
	stamp "blokir fixed-rate CPU per query"
	echo "command: $CMDLINE"
	echo "versions: $(dnsperf -h 2>&1 | sed -n 's/^Version /dnsperf /p') | $(dnsdist --version 2>&1 | head -1) | unbound $(unbound -V 2>&1 | sed -n 's/^Version //p') | nsd $(nsd -v 2>&1 | sed -n 's/^NSD version //p')"
	echo "server CPU = utime+stime of all its threads (/proc/PID/stat) / queries answered; ratios are to the ceiling of the same round (bare responder for blocked, bare relay for forwarded), median over rounds"
	echo
	python3 bench/rounds_table.py "$ROWS"
} | tee "$OUT"
log "done in $(($(date +%s) - START_TS)) s; table in $OUT"
