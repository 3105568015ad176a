#!/bin/bash
# bench/callgrind_metrics.sh: what the metrics cost per query, in instructions. blokir runs under
# valgrind --tool=callgrind with one worker and the 11-name policy (as README "Performance"), with
# metrics-listen off and then on; dnsperf sends SMALL and then LARGE blocked (or forwarded) queries
# with 100 in flight (-q 100 -n 1), and the figure is (Ir(LARGE) - Ir(SMALL)) / (LARGE - SMALL), so
# start-up and shutdown cancel out. A scrape is made during each "on" run, so the metrics thread
# is really serving. Counts do not depend on the machine's load; it takes a few minutes.
#
#   bench/callgrind_metrics.sh            SMALL=5000 LARGE=45000
#   SMALL=2000 LARGE=12000 bench/callgrind_metrics.sh
#   MODES=off BLOKIR=/path/to/older/blokir bench/callgrind_metrics.sh   (a build without metrics)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
BLOKIR=${BLOKIR:-./blokir}
SMALL=${SMALL:-5000}
LARGE=${LARGE:-45000}
KEEP_TMP=${KEEP_TMP:-0}
LOG_TAG=cg-metrics
START_TS=$(date +%s)
PIDS=()
TMP=$(mktemp -d /tmp/blokir-cgm.XXXXXX) || exit 1
DATA=$TMP/data
. bench/lib.sh
trap cleanup EXIT
trap 'exit 130' INT TERM

for t in valgrind dnsperf nsd dig curl; do
	command -v "$t" >/dev/null || { echo "$LOG_TAG: $t missing" >&2; exit 1; }
done
python3 bench/gen_policy.py zone "$DATA/zone" >/dev/null || exit 1
python3 bench/gen_policy.py policy "$DATA/p11" --from-yaml policy/telegram-2017.yaml >/dev/null || exit 1
start_nsd
PORT=$(free_port)

# run KIND METRICS COUNT: prints the total Ir of all threads.
run() {
	local kind=$1 metrics=$2 count=$3 cfg qf out from=$DATA/zone/q-forwarded.txt mport pid
	[ "$kind" = blocked ] && from=$DATA/p11/q-blocked.txt
	qf=$TMP/q-$kind-$count
	python3 bench/gen_policy.py count "$qf" --from "$from" --lines "$count" >/dev/null || return 1
	cfg=$TMP/blokir-$metrics.yaml
	mport=$(free_port)
	{
		echo "listen: [\"127.0.0.1:$PORT\"]"
		echo "upstreams: [\"127.0.0.1:$NSD_PORT\"]"
		echo "workers: 1"
		[ "$metrics" = on ] && echo "metrics-listen: \"127.0.0.1:$mport\""
		cat "$DATA/p11/domains.yaml"
	} >"$cfg"
	out=$TMP/callgrind.$kind.$metrics.$count
	bg "cg-$kind-$metrics-$count" valgrind --tool=callgrind --callgrind-out-file="$out" \
		"$BLOKIR" -c "$cfg" --foreground --allow-root
	pid=$BG_PID
	wait_dns "$pid" "$PORT" t.me 120 || { log "blokir did not come up"; return 1; }
	[ "$metrics" = on ] && { curl -sf "http://127.0.0.1:$mport/metrics" >/dev/null || log "scrape failed"; }
	dnsperf -s 127.0.0.1 -p "$PORT" -d "$qf" -n 1 -c 1 -q 100 -t 5 >"$out.dnsperf" 2>&1
	[ "$metrics" = on ] && { curl -sf "http://127.0.0.1:$mport/metrics" >/dev/null || log "scrape failed"; }
	stop_pid "$pid" 120
	sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$out.dnsperf" | grep -qx 0 ||
		log "$kind metrics $metrics $count: queries were lost (see $out.dnsperf)"
	sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out" | head -1
}

printf '%-10s %-8s %12s %12s %10s\n' kind metrics "Ir($SMALL)" "Ir($LARGE)" "per query"
for kind in blocked forwarded; do
	for metrics in ${MODES:-off on}; do
		a=$(run "$kind" "$metrics" "$SMALL") || exit 1
		b=$(run "$kind" "$metrics" "$LARGE") || exit 1
		printf '%-10s %-8s %12s %12s %10d\n' "$kind" "$metrics" "$a" "$b" $(((b - a) / (LARGE - SMALL)))
	done
done
