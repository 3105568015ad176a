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
gen_data || exit 1
start_nsd
PORT=$(free_port)

# scrape before|after: a scrape during each "on" run, so the metrics thread is really serving.
scrape() { curl -sf "http://127.0.0.1:$MPORT/metrics" >/dev/null || log "scrape $1 failed"; }
CG_DNSPERF=(-c 1 -q 100 -t 5)

# run KIND METRICS COUNT: prints the total Ir of all threads.
run() {
	local kind=$1 metrics=$2 count=$3 cfg qf
	qf=$TMP/q-$kind-$count
	cg_queries "$kind" "$count" "$qf" || return 1
	cfg=$TMP/blokir-$metrics.yaml
	MPORT=$(free_port)
	{
		echo "listen: [\"127.0.0.1:$PORT\"]"
		echo "upstreams: [\"127.0.0.1:$NSD_PORT\"]"
		echo "workers: 1"
		[ "$metrics" = on ] && echo "metrics-listen: \"127.0.0.1:$MPORT\""
		cat "$DATA/p11/domains.yaml"
	} >"$cfg"
	CG_HOOK=
	[ "$metrics" = on ] && CG_HOOK=scrape
	cg_ir "$kind.$metrics.$count" "$qf" t.me "$BLOKIR" -c "$cfg" --foreground --allow-root || return 1
	echo "$CG_IR"
}

printf '%-10s %-8s %12s %12s %10s\n' kind metrics "Ir($SMALL)" "Ir($LARGE)" "per query"
for kind in blocked forwarded; do
	for metrics in ${MODES:-off on}; do
		a=$(run "$kind" "$metrics" "$SMALL") || exit 1
		b=$(run "$kind" "$metrics" "$LARGE") || exit 1
		printf '%-10s %-8s %12s %12s %10d\n' "$kind" "$metrics" "$a" "$b" $(((b - a) / (LARGE - SMALL)))
	done
done
