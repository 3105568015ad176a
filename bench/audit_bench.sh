#!/bin/bash
# bench/audit_bench.sh: what the audit log costs a blocked query. In one run, alternately, blokir
# without and with `audit-log:` answers a saturating dnsperf load of blocked names; the table
# gives each run's qps, and the "on" runs also the audit lines written against the blocked
# answers dnsperf counted (they must match when audit-dropped is 0). The verdict line compares
# the best "on" run with the best "off" run (target: within 5%). With CALLGRIND=1 it then counts
# instructions per blocked query under callgrind, off and on: for all threads (the audit writer
# included) and for the worker thread alone (the query path), load-independent numbers.
#
# Run from the repository root after `make`. Environment:
#   DURATION=S     seconds per dnsperf run (default 3)
#   REPS=N         off/on pairs (default 2)
#   WORKERS=N      blokir workers (default 1)
#   CLIENTS=N      dnsperf -c (default 4); OUTSTANDING=N dnsperf -q (default 100)
#   CALLGRIND=1    also the callgrind counts (CG_SMALL/CG_LARGE queries, default 2000/12000)
#   KEEP_TMP=1     keep the scratch directory
set -u
cd "$(dirname "$0")/.." || exit 1

DURATION=${DURATION:-3}
REPS=${REPS:-2}
WORKERS=${WORKERS:-1}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-100}
CALLGRIND=${CALLGRIND:-0}
CG_SMALL=${CG_SMALL:-2000}
CG_LARGE=${CG_LARGE:-12000}
KEEP_TMP=${KEEP_TMP:-0}
BLOKIR=${BLOKIR:-./blokir}
LOG_TAG=audit
START_TS=$(date +%s)
PIDS=()
TMP=$(mktemp -d /tmp/blokir-audit-bench.XXXXXX)
. bench/lib.sh
trap 'cleanup; [ "$KEEP_TMP" = 1 ] || rm -rf "$TMP"' EXIT

for t in dnsperf dig; do command -v $t >/dev/null || { echo "audit_bench: needs $t" >&2; exit 1; }; done
[ -x "$BLOKIR" ] || { echo "audit_bench: no $BLOKIR (run make)" >&2; exit 1; }
ROOT_OPT=()
[ "$(id -u)" = 0 ] && ROOT_OPT=(--allow-root)

# The July 2017 order's eleven names; queries for names below them (t.me itself is the readiness
# probe, so its lines are told apart from the load's).
NAMES="t.me telegram.me telegram.org core.telegram.org desktop.telegram.org macos.telegram.org web.telegram.org venus.web.telegram.org pluto.web.telegram.org flora.web.telegram.org flora-1.web.telegram.org"
QF=$TMP/queries.txt
for i in $(seq 1 50); do for n in $NAMES; do echo "q$i.$n A"; done; done >"$QF"

# conf AUDIT-FILE|"" : a config file for a blokir with WORKERS workers on $PORT.
conf() {
	local f=$TMP/blokir-off.yaml n
	[ -n "$1" ] && f=$TMP/blokir-on.yaml
	{
		echo "listen: [\"127.0.0.1:$PORT\"]"
		echo "upstreams: [\"127.0.0.1:9\"]" # never used: every query is blocked
		echo "workers: $WORKERS"
		[ -n "$1" ] && echo "audit-log: $1"
		echo "domains:"
		for n in $NAMES; do
			echo "  - name: $n"
			echo "    reason: \"Kominfo order, 2017-07-14\""
			echo "    ref: \"Id2971-17\""
		done
	} >"$f"
	echo "$f"
}

PORT=$(free_port)

# run MODE REP: one saturating dnsperf run against a fresh blokir; appends a row to $ROWS.
ROWS=$TMP/rows.tsv
: >"$ROWS"
run() {
	local mode=$1 rep=$2 audit="" cfg out qps done_q lines=- dropped=- st
	[ "$mode" = on ] && audit=$TMP/audit-$rep.log
	cfg=$(conf "$audit")
	bg "blokir-$mode-$rep" "$BLOKIR" -c "$cfg" --foreground "${ROOT_OPT[@]}"
	local pid=$BG_PID
	wait_dns "$pid" "$PORT" t.me 20 || { log "blokir ($mode) did not come up"; exit 1; }
	out=$TMP/dnsperf-$mode-$rep.txt
	dnsperf -s 127.0.0.1 -p "$PORT" -d "$QF" -l "$DURATION" -c "$CLIENTS" -q "$OUTSTANDING" \
		>"$out" 2>&1
	kill -USR1 "$pid"
	sleep 0.3
	st=$(grep 'stats:' "$TMP/blokir-$mode-$rep.log" | tail -n1)
	stop_pid "$pid" 30
	qps=$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$out")
	done_q=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$out")
	if [ "$mode" = on ]; then
		lines=$(grep -c '"qname":"q[0-9]*\.' "$audit")
		dropped=$(sed -n 's/.* audit-dropped=\([0-9]*\).*/\1/p' <<<"$st")
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$rep" "$qps" "$done_q" "$lines" "$dropped" >>"$ROWS"
	log "$mode #$rep: $qps qps, $done_q answered, lines $lines, audit-dropped $dropped"
}

for rep in $(seq 1 "$REPS"); do
	run off "$rep"
	run on "$rep"
done

echo "blokir audit-log benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null), $(nproc) CPUs"
echo "command: bench/audit_bench.sh (DURATION=$DURATION REPS=$REPS WORKERS=$WORKERS CLIENTS=$CLIENTS OUTSTANDING=$OUTSTANDING)"
printf '%-5s %4s %12s %12s %12s %14s\n' audit run qps answered lines audit-dropped
awk -F'\t' '{ printf "%-5s %4s %12s %12s %12s %14s\n", $1, $2, $3, $4, $5, $6 }' "$ROWS"
awk -F'\t' '
	$1 == "off" && $3 > off { off = $3 }
	$1 == "on" && $3 > on { on = $3 }
	$1 == "on" && $6 == 0 && $5 != $4 { bad++ }
	$1 == "on" && $6 == 0 { checked++ }
	$1 == "on" && $5 + $6 != $4 { unaccounted++ }
	$1 == "on" { ons++ }
	END {
		r = off > 0 ? on / off : 0
		printf "best on / best off: %.3f (%s; target >= 0.95)\n", r, ((r >= 0.95) ? "met" : "NOT met")
		printf "runs with nothing dropped whose lines == answered: %d of %d\n", (checked - bad), checked
		printf "runs whose lines + audit-dropped == answered: %d of %d\n", (ons - unaccounted), ons
	}' "$ROWS"

[ "$CALLGRIND" = 1 ] || exit 0
command -v valgrind >/dev/null || { echo "callgrind: no valgrind" >&2; exit 0; }

# cg MODE COUNT: blokir (one worker) under callgrind, COUNT blocked queries at a low rate, then
# SIGTERM. Sets CG_ALL (every thread) and CG_WORKER (the worker thread: the query path).
cg() {
	local mode=$1 count=$2 audit="" out dir=$TMP/cg-$1-$2
	[ "$mode" = on ] && audit=$TMP/cg-audit-$count.log
	mkdir -p "$dir"
	cfg=$(conf "$audit")
	awk -v n="$count" '{ q[NR] = $0 } END { for (i = 0; i < n; i++) print q[i % NR + 1] }' \
		"$QF" >"$dir/q.txt"
	bg "cg-$mode-$count" valgrind --tool=callgrind --separate-threads=yes \
		--callgrind-out-file="$dir/callgrind.out" "$BLOKIR" -c "$cfg" --foreground "${ROOT_OPT[@]}"
	local pid=$BG_PID
	wait_dns "$pid" "$PORT" t.me 120 || { log "callgrind: blokir did not come up"; return; }
	dnsperf -s 127.0.0.1 -p "$PORT" -d "$dir/q.txt" -n 1 -c 1 -q 100 -t 5 >"$dir/dnsperf.txt" 2>&1
	stop_pid "$pid" 120
	CG_ALL=0
	CG_WORKER=0
	local f ir
	for f in "$dir"/callgrind.out*; do
		ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$f" | head -n1)
		[ -n "$ir" ] || ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f" | head -n1)
		CG_ALL=$((CG_ALL + ${ir:-0}))
		# The worker is the thread with the most instructions spent in proxy_query.
		if grep -q 'fn=.*proxy_query' "$f" && [ "${ir:-0}" -gt "$CG_WORKER" ]; then CG_WORKER=$ir; fi
	done
}

WORKERS=1
echo "callgrind: instructions per blocked query, (Ir($CG_LARGE) - Ir($CG_SMALL)) / $((CG_LARGE - CG_SMALL)), workers: 1, dnsperf -q 100"
for mode in off on; do
	cg "$mode" "$CG_SMALL"; a_all=$CG_ALL; a_w=$CG_WORKER
	cg "$mode" "$CG_LARGE"; b_all=$CG_ALL; b_w=$CG_WORKER
	d=$((CG_LARGE - CG_SMALL))
	printf 'audit %-3s  all threads: %6d   worker thread (query path): %6d\n' "$mode" \
		$(((b_all - a_all) / d)) $(((b_w - a_w) / d))
done
