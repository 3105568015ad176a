#!/usr/bin/env bash
# bench/callgrind_q20.sh: user-space instructions per query with few queries in flight (issue 14).
#
# Each server runs under valgrind --tool=callgrind with the 11-name policy; dnsperf sends SMALL and
# then LARGE blocked (or forwarded, through nsd) queries, once each (-n 1 over a file of that many
# lines), one socket (-c 1), and the figure is (Ir(LARGE) - Ir(SMALL)) / (LARGE - SMALL): start-up,
# policy loading and shutdown cancel out, as in bench/callgrind_metrics.sh. Instruction counts do
# not depend on the machine's load, so this is the figure to trust on a shared machine.
#
# Two depths:
#   -q 20   20 queries in flight, every server with its DEFAULT workers (blokir `workers: 0`, one
#           per core; dnsdist one listener per core; the bare responder one thread per core): each
#           wake-up carries a small batch, so what a loop turn costs shows. The issue 14 targets:
#           <= 1,000 per blocked and <= 3,000 per forwarded query.
#   -q 100  100 in flight, blokir `workers: 1` (README "Performance"'s figure): "no worse with deep
#           queues" is checked against it.
# With -c 1 all queries come from one socket, so SO_REUSEPORT hands them all to one worker; the
# other workers only idle (their wake-ups, timers included, are in the totals).
#
# Full run (the defaults) takes about 5 minutes (dnsdist's start under valgrind is most of it),
# about 7 with BLOKIR_BEFORE.
# A functional check in about 1 minute:
#     SMALL=200 LARGE=1200 SYSTEMS=blokir bench/callgrind_q20.sh
#
# It installs nothing (it names the missing Debian packages), uses only loopback and free ports,
# and stops exactly the processes it started. The table (and a markdown table for README.md) is
# printed and saved to $OUT with the date, commit and command in its header.
#
# Environment:
#   SMALL=N LARGE=N   the two query counts (default 5000 and 45000)
#   SYSTEMS="..."     subset of: bare dnsdist blokir blokir-before (default all; blokir and
#                     blokir-before are also run at -q 100)
#   BLOKIR_BEFORE=PATH an older blokir build measured beside it (system blokir-before), for a
#                     before/after table
#   KINDS="..."       subset of: blocked forwarded
#   QPS=N             pace dnsperf at N queries/s (-Q): under valgrind blokir is slow enough that
#                     unpaced batches are nearly full (~19 datagrams a wake-up); QPS=500 gives
#                     about one query per wake-up, where what a loop turn costs shows whole
#   CLIENTS=N         dnsperf sockets (default 1). With more than one, the kernel's SO_REUSEPORT
#                     hash spreads them over the workers (unless udp-consolidate keeps them on
#                     worker 0). Valgrind runs one thread at a time, which batches spread
#                     workers' datagrams much as consolidation does natively: README
#                     "UDP consolidation" has the native wake-up counts
#   BLOKIR=PATH       binary under test (default ./blokir; a copy is measured)
#   BLOKIR_CONF=YAML  top-level lines added to its config (not blokir-before's), such as
#                     "udp-io: io-uring"
#   OUT=PATH          where the table goes (default bench/results/callgrind_q20.txt)
#   KEEP_TMP=1        keep the callgrind outputs, configs and logs in /tmp/blokir-cgq20.*

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

SMALL=${SMALL:-5000}
LARGE=${LARGE:-45000}
SYSTEMS=${SYSTEMS:-bare dnsdist${BLOKIR_BEFORE:+ blokir-before} blokir}
KINDS=${KINDS:-blocked forwarded}
BLOKIR=${BLOKIR:-./blokir}
OUT=${OUT:-bench/results/callgrind_q20.txt}
KEEP_TMP=${KEEP_TMP:-0}
CLIENTS=${CLIENTS:-1}
BUILD=build/bench
NCPU=$(nproc)
BIG=0
START_TS=$(date +%s)
CMDLINE="${BLOKIR_CONF:+BLOKIR_CONF=\"$BLOKIR_CONF\" }${BLOKIR_BEFORE:+BLOKIR_BEFORE=$BLOKIR_BEFORE }CLIENTS=$CLIENTS SMALL=$SMALL LARGE=$LARGE SYSTEMS=\"$SYSTEMS\" KINDS=\"$KINDS\"${QPS:+ QPS=$QPS} bench/callgrind_q20.sh"

LOG_TAG=cg-q20
PIDS=()
. "$(dirname "$0")/lib.sh"

need_tools "$LOG_TAG" valgrind:valgrind dnsperf:dnsperf dnsdist:dnsdist nsd:nsd dig:bind9-dnsutils \
	python3:python3 cc:gcc
begin_rounds cgq20
start_nsd
PORT=$(free_port)

# per_query SYSTEM KIND PIN DEPTH: one row, (Ir(LARGE) - Ir(SMALL)) / (LARGE - SMALL).
per_query() {
	local sys=$1 kind=$2 pin=$3 depth=$4 a b n qf label workers=default
	[ "$pin" = pinned ] && workers=1
	CG_DNSPERF=(-c "$CLIENTS" -q "$depth" -t 5 ${QPS:+-Q "$QPS"})
	for n in "$SMALL" "$LARGE"; do
		qf=$TMP/q-$kind-$n
		[ -f "$qf" ] || cg_queries "$kind" "$n" "$qf" || return 1
		server_argv "$sys" 11 "$pin"
		cg_ir "$sys.$kind.$pin.q$depth.$n" "$qf" t.me "${SRV_ARGV[@]}"
		if [ "$n" = "$SMALL" ]; then a=$CG_IR; else b=$CG_IR; fi
	done
	per=n/a
	[ "$a" != n/a ] && [ "$b" != n/a ] && per=$(((b - a) / (LARGE - SMALL)))
	label="user-space instructions per $kind query, callgrind, dnsperf -q $depth"
	[ "$depth" = 20 ] && label+=", default workers" || label+=", workers: 1"
	printf '%s\t%s\t-\t%s\t1\t%s\t%s\n' "$kind/q$depth" "$label" "$sys" "$per" \
		"Ir($SMALL)=$a Ir($LARGE)=$b, workers $workers" >>"$ROWS"
	log "$sys $kind -q $depth workers $workers: Ir($SMALL)=$a Ir($LARGE)=$b per query: $per"
}

for kind in $KINDS; do
	for sys in $SYSTEMS; do
		[ "$sys/$kind" = bare/forwarded ] && continue
		per_query "$sys" "$kind" unpinned 20
	done
done
for sys in blokir-before blokir; do
	[[ " $SYSTEMS " == *" $sys "* ]] || continue
	for kind in $KINDS; do per_query "$sys" "$kind" pinned 100; done
done

{
	stamp "instructions per query under callgrind"
	echo "command: $CMDLINE"
	echo "versions: $(valgrind --version) | $(dnsperf -h 2>&1 | sed -n 's/^Version /dnsperf /p') | $(dnsdist --version 2>&1 | head -1)"
	echo "figure: (Ir($LARGE) - Ir($SMALL)) / $((LARGE - SMALL)), all threads, 11-name policy, dnsperf -c $CLIENTS -n 1; default workers = $NCPU here"
	echo
	python3 bench/rounds_table.py "$ROWS"
} | tee "$OUT"
log "done in $(($(date +%s) - START_TS)) s; table in $OUT"
