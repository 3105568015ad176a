#!/usr/bin/env bash
# bench/run.sh: blokir against dnsdist, Unbound and a bare responder, in one run (issue 4).
#
# It starts nsd on loopback as the authoritative upstream (zone fwd.test), then, one at a time on
# the same port, blokir, dnsdist (suffix rule answering NXDOMAIN, packet cache off) and Unbound
# (forwarder, `local-zone: always_nxdomain` per name), each with the 11-name bundled policy and a
# generated 1 M-name policy, each pinned (dnsperf on CPU 0, the server with one worker on CPU 1)
# and unpinned (one worker per core), and runs dnsperf with three mixes: all blocked, all
# forwarded, 10% blocked / 90% forwarded. The bare recvmmsg/sendmmsg responder (the blocked
# ceiling), the bare relay in front of nsd (the forwarded ceiling) and nsd queried directly (the
# forwarded-path reference) get rows too. Then it counts instructions per
# query with callgrind. The table goes to stdout and bench/results/latest.txt; bench/README.md
# says what every column means.
#
# It installs nothing: it checks for the tools and names the Debian packages that are missing.
# Every process it starts is recorded and stopped by PID on exit; ports are picked free.
#
# Environment:
#   QUICK=1           short subset (~1.5 min): 11-name policy, pinned, 2 x 2 s runs, small callgrind
#   DURATION=S        seconds per dnsperf throughput run (default 4; QUICK 2)
#   REPS=N            throughput runs per row, the best is reported (default 3; QUICK 2)
#   CLIENTS=N         dnsperf -c (default 8)
#   OUTSTANDING=N     dnsperf -q (default 200)
#   LAT_QPS=N         rate of the latency run (default 2000 qps), LAT_DURATION=S (default 2)
#   BIG=N             size of the generated policy (default 1000000)
#   SYSTEMS="..."     subset of: blokir blokir-poll blokir-cache dnsdist unbound (default all;
#                     blokir-poll is blokir with busy-poll-us: 100, forwarded mix only;
#                     blokir-cache is blokir with cache-size: 250000, forwarded and mix10 only)
#   PINS="..."        subset of: pinned unpinned
#   POLICIES="..."    subset of: 11 big
#   CALLGRIND=0|1|all off, blokir only (default), or blokir + unbound + dnsdist
#   BLOKIR=PATH       binary under test (default ./blokir)
#   KEEP_TMP=1        keep the scratch directory (configs, logs, dnsperf output)

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	DURATION=${DURATION:-2}
	REPS=${REPS:-2}
	LAT_DURATION=${LAT_DURATION:-1}
	POLICIES=${POLICIES:-11}
	PINS=${PINS:-pinned}
	CG_SMALL=${CG_SMALL:-1000}
	CG_LARGE=${CG_LARGE:-4000}
else
	DURATION=${DURATION:-4}
	REPS=${REPS:-3}
	LAT_DURATION=${LAT_DURATION:-2}
	POLICIES=${POLICIES:-11 big}
	PINS=${PINS:-pinned unpinned}
	CG_SMALL=${CG_SMALL:-2000}
	CG_LARGE=${CG_LARGE:-12000}
fi
CLIENTS=${CLIENTS:-8}
OUTSTANDING=${OUTSTANDING:-200}
LAT_QPS=${LAT_QPS:-2000}
BIG=${BIG:-1000000}
SYSTEMS=${SYSTEMS:-blokir blokir-poll blokir-cache dnsdist unbound}
CALLGRIND=${CALLGRIND:-1}
BLOKIR=${BLOKIR:-./blokir}
KEEP_TMP=${KEEP_TMP:-0}
MIXES="blocked forwarded mix10"
BUILD=build/bench
RESULTS=bench/results
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
START_TS=$(date +%s)

LOG_TAG=bench
. "$(dirname "$0")/lib.sh"

# --- prerequisites -------------------------------------------------------------------------------

missing=()
for pair in dnsperf:dnsperf dnsdist:dnsdist unbound:unbound nsd:nsd valgrind:valgrind \
	taskset:util-linux dig:bind9-dnsutils python3:python3 cc:gcc; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: missing tools; install them with: apt-get install ${missing[*]}" >&2
	exit 1
fi
if [ "$NCPU" -lt 2 ]; then
	echo "bench: needs at least 2 CPUs for the pinned rows (have $NCPU)" >&2
	exit 1
fi
if [[ " $SYSTEMS " == *" blokir"* ]] && [ ! -x "$BLOKIR" ]; then
	echo "bench: no blokir binary at $BLOKIR (run make); its rows are skipped" >&2
	SYSTEMS=${SYSTEMS//blokir-poll/}
	SYSTEMS=${SYSTEMS//blokir-cache/}
	SYSTEMS=${SYSTEMS//blokir/}
fi

mkdir -p "$BUILD" "$RESULTS"
build_bare || exit 1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/blokir-bench.XXXXXX") || exit 1
PIDS=()

# Other people rebuild ./blokir while this runs (and `make SANITIZE=1` writes the same path), so
# the run uses a copy taken now (lib.sh, take_blokir); a sanitizer build is measured but flagged.
BLOKIR_NOTE= BLOKIR_EXTRA=
if [[ " $SYSTEMS " == *" blokir"* ]] || [ "$CALLGRIND" != 0 ]; then
	take_blokir
fi

trap cleanup EXIT
trap 'exit 130' INT TERM

# --- data ----------------------------------------------------------------------------------------

DATA=$TMP/data
if [[ " $POLICIES " == *" big "* ]]; then gen_data big || exit 1; else gen_data || exit 1; fi
for p in p11 pbig; do
	[ -d "$DATA/$p" ] || continue
	cp "$DATA/$p/q-blocked.txt" "$DATA/$p/q-blocked.q"
	cp "$DATA/zone/q-forwarded.txt" "$DATA/$p/q-forwarded.q"
	python3 bench/gen_policy.py mix "$DATA/$p/q-mix10.q" --blocked "$DATA/$p/q-blocked.txt" \
		--forwarded "$DATA/zone/q-forwarded.txt" --percent 10 || exit 1
done

# --- nsd: the upstream ---------------------------------------------------------------------------

start_nsd

PORT=$(free_port)
ROWS=$TMP/rows.tsv
: >"$ROWS"

# --- one measurement -----------------------------------------------------------------------------

# measure SYSTEM POLICY MIX PIN SERVER_PID [PORT]: one throughput run (saturating, dnsperf -l) with
# CPU accounting of SERVER_PID, then one latency run at LAT_QPS with per-query output; appends a row.
# A forwarded row's latency run is preceded by one straight at nsd, placed as in the nsd row, so
# the added latency compares two runs a few seconds apart rather than minutes (the machine's own
# wake-up latency drifts by tens of microseconds over a run).
measure() {
	local sys=$1 pol=$2 mix=$3 pin=$4 spid=$5 port=${6:-$PORT}
	local qf out lat c0 c1 ts r outs=() ticks=()
	qf=$(policy_dir "$pol")/q-$mix.q
	[ "$mix" = forwarded ] && qf=$DATA/zone/q-forwarded.txt
	ts=()
	[ "$pin" = pinned ] && ts=(taskset -c 0)
	out=$TMP/dnsperf-$sys-$pol-$mix-$pin.txt
	lat=$TMP/latency-$sys-$pol-$mix-$pin.txt
	for ((r = 1; r <= REPS; r++)); do
		c0=$(cpu_ticks "$spid")
		"${ts[@]}" dnsperf -s 127.0.0.1 -p "$port" -d "$qf" -l "$DURATION" -c "$CLIENTS" \
			-q "$OUTSTANDING" -t 2 >"$out.$r" 2>&1
		c1=$(cpu_ticks "$spid")
		outs+=("$out.$r")
		ticks+=("$((c1 - c0))")
	done
	: >"$lat.nsd"
	if [ "$mix" = forwarded ] && [ "$sys" != nsd ]; then
		[ "$pin" = pinned ] && pin_tree "$NSD_PID" 1
		"${ts[@]}" dnsperf -s 127.0.0.1 -p "$NSD_PORT" -d "$qf" -l "$LAT_DURATION" -c 4 -q 20 \
			-Q "$LAT_QPS" -t 2 -v >"$lat.nsd" 2>&1
		pin_nsd "$pin"
	fi
	"${ts[@]}" dnsperf -s 127.0.0.1 -p "$port" -d "$qf" -l "$LAT_DURATION" -c 4 -q 20 \
		-Q "$LAT_QPS" -t 2 -v >"$lat" 2>&1
	kill -0 "$spid" 2>/dev/null || log "WARNING: $sys died during $pol/$mix/$pin"
	python3 - "$sys" "$(policy_label "$pol")" "$mix" "$pin" "$lat" "$HZ" "${ticks[*]}" "${outs[@]}" \
		>>"$ROWS" <<'EOF'
import re, sys
sysname, pol, mix, pin, lat, hz, ticks = sys.argv[1:8]
outs = sys.argv[8:]
def parse(path):
    t = open(path, errors="replace").read()
    def num(pat, default=0.0):
        m = re.search(pat, t)
        return float(m.group(1)) if m else default
    codes = {}
    if "Response codes:" in t:
        line = t.split("Response codes:")[-1].split("\n")[0]
        codes = dict((k, float(v)) for k, v in re.findall(r"([A-Z]+) (\d+) \([\d.]+%\)", line))
    return dict(sent=num(r"Queries sent:\s+(\d+)"), done=num(r"Queries completed:\s+(\d+)"),
                lost=num(r"Queries lost:\s+(\d+)"), qps=num(r"Queries per second:\s+([\d.]+)"),
                mean=num(r"Average Latency \(s\):\s+([\d.]+)") * 1e3, codes=codes)
runs = [parse(o) for o in outs]
# The machine is shared: noise only ever slows a run down, so the best of the repetitions is
# the capacity estimate; the spread between best and worst is reported beside it.
best = max(runs, key=lambda r: r["qps"])
worst = min(r["qps"] for r in runs)
spread = "%.0f" % ((best["qps"] - worst) / best["qps"] * 100) if best["qps"] else "n/a"
sent, done, lost, qps, mean = best["sent"], best["done"], best["lost"], best["qps"], best["mean"]
codes = {}
for r in runs:
    for k, v in r["codes"].items():
        codes[k] = codes.get(k, 0) + v
alldone = sum(r["done"] for r in runs)
def latencies(path):
    return sorted(float(x) for x in re.findall(r"^> \S+ \S+ \S+ ([\d.]+)$", open(path, errors="replace").read(), re.M))
lats, ref = latencies(lat), latencies(lat + ".nsd")
def pct(p, l=lats):
    return "%.0f" % (l[min(len(l) - 1, int(len(l) * p))] * 1e6) if l else "n/a"
# Server CPU over all repetitions together, so the clock-tick granularity matters less.
cpu = "%.2f" % (sum(map(int, ticks.split())) / int(hz) * 1e6 / alldone) if alldone else "n/a"
# Check the answers: blocked should be all NXDOMAIN, forwarded all NOERROR, the mix about 10%.
done = alldone
nx = codes.get("NXDOMAIN", 0) / done * 100 if done else 0
want = {"blocked": 100, "forwarded": 0, "mix10": 10}[mix]
bad = sum(v for k, v in codes.items() if k not in ("NXDOMAIN", "NOERROR"))
check = "ok"
if not done:
    check = "NO-ANSWERS"
elif abs(nx - want) > 2 or bad > done * 0.001:
    check = "WRONG:" + ",".join("%s=%.0f%%" % (k, v / done * 100) for k, v in sorted(codes.items()))
print("\t".join([sysname, pol, mix, pin, "%.0f" % qps, "%.2f" % (lost / sent * 100 if sent else 0),
                 "%.2f" % mean, pct(0.50), pct(0.99), cpu, check, spread, pct(0.50, ref)]))
EOF
	tail -1 "$ROWS" | awk -F'\t' '{printf "  %-8s %-7s %-9s %-8s qps=%s (spread %s%%) lost=%s%% mean=%sms p50=%sus p99=%sus cpu=%sus/q %s\n", $1,$2,$3,$4,$5,$12,$6,$7,$8,$9,$10,$11}' >&2
}


for pin in $PINS; do
	# The ceiling: the bare responder, blocked mix (it answers everything with NXDOMAIN).
	pin_nsd "$pin"
	for pol in $POLICIES; do
		if start_bare "$pol" "$pin"; then
			measure bare "$pol" blocked "$pin" "$SPID"
		else
			log "bare responder did not start"
		fi
		stop_pid "$SPID"
	done
	# The forwarded-path reference: nsd itself, on CPU 1 when pinned.
	[ "$pin" = pinned ] && pin_tree "$NSD_PID" 1
	measure nsd - forwarded "$pin" "$NSD_PID" "$NSD_PORT"
	pin_nsd "$pin"
	if start_relay - "$pin"; then
		measure relay - forwarded "$pin" "$SPID"
	else
		log "bare relay did not start"
	fi
	stop_pid "$SPID"
	for pol in $POLICIES; do
		for sys in $SYSTEMS; do
			t0=$SECONDS
			if ! "start_$sys" "$pol" "$pin"; then
				log "ERROR: $sys did not come up with policy $(policy_label "$pol") ($pin); log tail:"
				tail -5 "$TMP/$sys-$pol-$pin.log" >&2
				stop_pid "$SPID"
				continue
			fi
			log "$sys up with $(policy_label "$pol") names ($pin) after $((SECONDS - t0)) s"
			echo -e "$sys\t$(policy_label "$pol")\t$pin\t$((SECONDS - t0))" >>"$TMP/startup.tsv"
			mixes=$MIXES
			[ "$sys" = blokir-poll ] && mixes=forwarded
			[ "$sys" = blokir-cache ] && mixes="forwarded mix10"
			for mix in $mixes; do measure "$sys" "$pol" "$mix" "$pin" "$SPID"; done
			stop_pid "$SPID" 30
		done
	done
done
pin_nsd unpinned

# --- callgrind: instructions per query -----------------------------------------------------------

# cg_run SYSTEM KIND COUNT: the server with one worker (the pinned configuration, 11 names) under
# callgrind, COUNT queries of KIND (blocked or forwarded) at a low rate, then SIGTERM; sets CG_IR to
# the total Ir over all threads (n/a when it failed).
CG_DNSPERF=(-c 1 -q 10 -Q 1000 -t 5)
cg_run() {
	local sys=$1 kind=$2 count=$3 qf
	CG_IR=n/a
	qf=$TMP/cg-$kind-$count.q
	cg_queries "$kind" "$count" "$qf" || return
	server_argv "$sys" 11 pinned
	cg_ir "$sys.$kind.$count" "$qf" t.me "${SRV_ARGV[@]}"
}

CG=$TMP/callgrind.tsv
: >"$CG"
case $CALLGRIND in
0) cg_systems= ;;
all) cg_systems="blokir unbound dnsdist" ;;
*) cg_systems=blokir ;;
esac
for sys in $cg_systems; do
	[ "$sys" = blokir ] && [ ! -x "$BLOKIR" ] && continue
	for kind in blocked forwarded; do
		cg_run "$sys" "$kind" "$CG_SMALL"; a=$CG_IR
		cg_run "$sys" "$kind" "$CG_LARGE"; b=$CG_IR
		echo -e "$sys\t$kind\t$CG_SMALL\t$a\t$CG_LARGE\t$b" >>"$CG"
		log "callgrind $sys $kind: Ir($CG_SMALL)=$a Ir($CG_LARGE)=$b"
	done
done

# --- the table -----------------------------------------------------------------------------------

{
	stamp "blokir benchmark"
	echo "command: ${QUICK:+QUICK=$QUICK }bench/run.sh  (DURATION=$DURATION REPS=$REPS CLIENTS=$CLIENTS OUTSTANDING=$OUTSTANDING LAT_QPS=$LAT_QPS LAT_DURATION=$LAT_DURATION)"
	echo "versions: $(dnsperf -h 2>&1 | sed -n 's/^Version /dnsperf /p') | $(dnsdist --version 2>&1 | head -1) | unbound $(unbound -V 2>&1 | sed -n 's/^Version //p') | nsd $(nsd -v 2>&1 | sed -n 's/^NSD version //p')"
	python3 bench/gen_table.py "$ROWS" "$CG" "$TMP/startup.tsv"
} | tee "$RESULTS/latest.txt"
if [ "$KEEP_TMP" = 1 ]; then log "logs and dnsperf output in $TMP"; fi
log "done in $(($(date +%s) - START_TS)) s"
