#!/usr/bin/env bash
# bench/reload_under_load.sh: blokir serving dnsperf traffic while a 2,000,000-name list is
# reloaded 10 times (issue 3: "zero lost queries, no latency spike beyond a few ms, and memory
# back to its level after the reloads").
#
# It starts nsd on a free loopback port as the upstream (zone fwd.test, as bench/run.sh does),
# generates a deterministic 2 M-name domains list and a config importing it (`lists:`), starts
# blokir (--foreground --allow-root), and runs dnsperf at a fixed rate (a mix of blocked names,
# below listed names, and forwarded ones) for DURATION seconds while sending SIGHUP every INTERVAL
# seconds, RELOADS times. Meanwhile VmRSS of blokir is sampled every 100 ms. It reports dnsperf's
# sent / completed / lost, latency percentiles and maximum from the per-query output (dnsperf -v),
# RSS before the first reload, at the peak and after the last one, and each reload's time from
# blokir's "reload: summary: ... loaded in X s" lines. The table goes to stdout and to
# bench/results/reload.txt.
#
# It installs nothing (it names the Debian packages that are missing). Every process it starts is
# recorded and stopped by PID on exit; the whole run is bounded (about DURATION + 60 s plus the
# time to generate the list).
#
# Environment:
#   NAMES=N          list size (default 2000000)
#   DURATION=S       dnsperf run (default 30)
#   RELOADS=N        SIGHUPs (default 10), INTERVAL=S between them (default 2.5; first at INTERVAL)
#   QPS=N            dnsperf -Q rate (default 20000): a fixed rate, so latency is the server's and
#                    not dnsperf's own queue
#   CLIENTS=N        dnsperf -c (default 4); OUTSTANDING=N dnsperf -q (default 200)
#   BLOCKED_PCT=P    percent of blocked queries in the mix (default 50)
#   WORKERS=N        blokir workers (default 2)
#   BLOKIR=PATH      binary under test (default ./blokir); KEEP_TMP=1 keeps the scratch directory
#   OUT=FILE         where the table is saved (default bench/results/reload.txt); RELOADS=0 with
#                    OUT=/tmp/x gives the same load without reloads, the noise floor of the box

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

NAMES=${NAMES:-2000000}
DURATION=${DURATION:-30}
RELOADS=${RELOADS:-10}
INTERVAL=${INTERVAL:-2.5}
QPS=${QPS:-20000}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}
BLOCKED_PCT=${BLOCKED_PCT:-50}
WORKERS=${WORKERS:-2}
BLOKIR=${BLOKIR:-./blokir}
KEEP_TMP=${KEEP_TMP:-0}
RESULTS=bench/results
START_TS=$(date +%s)

log() { printf '[reload %4ds] %s\n' "$(($(date +%s) - START_TS))" "$*" >&2; }

# --- prerequisites -------------------------------------------------------------------------------

missing=()
for pair in dnsperf:dnsperf nsd:nsd dig:bind9-dnsutils python3:python3; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "reload bench: missing tools; install them with: apt-get install ${missing[*]}" >&2
	exit 1
fi
if [ ! -x "$BLOKIR" ]; then
	echo "reload bench: no blokir binary at $BLOKIR (run make)" >&2
	exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/blokir-reload.XXXXXX") || exit 1
PIDS=()

# stop_pid PID [GRACE]: SIGTERM, wait up to GRACE seconds (default 10), then SIGKILL.
stop_pid() {
	local pid=$1 grace=${2:-10} i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && { log "pid $pid ignored SIGTERM for ${grace}s: SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
	wait "$pid" 2>/dev/null
	return 0
}

cleanup() {
	local i
	trap - EXIT INT TERM
	# newest first: the sampler and dnsperf before blokir, blokir before its upstream
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}" 5; done
	if [ "$KEEP_TMP" = 1 ]; then log "scratch kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bg NAME CMD...: starts CMD in the background with output in $TMP/NAME.log; sets BG_PID.
bg() {
	local name=$1; shift
	"$@" >"$TMP/$name.log" 2>&1 &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

free_port() {
	python3 - <<'EOF'
import socket
for _ in range(200):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", port))
        u.close()
        t.close()
        print(port)
        break
    except OSError:
        t.close()
EOF
}

# wait_dns PID PORT NAME SECONDS: waits until 127.0.0.1:PORT answers NAME (any RCODE) while PID
# is alive. Returns 1 on timeout or when PID died.
wait_dns() {
	local pid=$1 port=$2 name=$3 limit=$4 t0=$SECONDS
	while ((SECONDS - t0 < limit)); do
		kill -0 "$pid" 2>/dev/null || return 1
		dig @127.0.0.1 -p "$port" "$name" A +time=1 +tries=1 2>/dev/null | grep -q 'status:' && return 0
		sleep 0.2
	done
	return 1
}

# --- data ----------------------------------------------------------------------------------------

DATA=$TMP/data
mkdir -p "$DATA" "$RESULTS"
log "generating a $NAMES-name list, the upstream zone and the query mix"
python3 bench/gen_policy.py zone "$DATA/zone" || exit 1
# Names look like a regulator's list: varied lengths, a few hundred "registrable" parents, some
# www. duplicates of the same site. Fixed seed: every run reloads the same list.
python3 - "$NAMES" "$DATA" <<'EOF' || exit 1
import random, sys
n, out = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(20170714)
tlds = ["com", "net", "org", "info", "xyz", "id", "co.id", "web.id", "me", "io"]
alpha = "abcdefghijklmnopqrstuvwxyz0123456789"
names = []
with open(out + "/list.txt", "w") as f:
    f.write("# generated by bench/reload_under_load.sh (seed 20170714)\n")
    for i in range(n):
        label = "".join(rnd.choice(alpha) for _ in range(rnd.randint(4, 14)))
        name = "%s-%d.%s" % (label, i, tlds[i % len(tlds)])  # "-i": unique
        f.write(name + "\n")
        if i % 20 == 0:
            names.append(name)
with open(out + "/q-blocked.txt", "w") as f:
    for _ in range(200000):
        name = rnd.choice(names)
        f.write(("%s A\n" % name) if rnd.random() < 0.5 else ("www.%s A\n" % name))
EOF
python3 bench/gen_policy.py mix "$DATA/q-mix.txt" --blocked "$DATA/q-blocked.txt" \
	--forwarded "$DATA/zone/q-forwarded.txt" --percent "$BLOCKED_PCT" || exit 1
PROBE=$(sed -n 2p "$DATA/list.txt")

# --- nsd: the upstream (as bench/run.sh) ---------------------------------------------------------

NSD_PORT=$(free_port)
mkdir -p "$TMP/nsd"
cp "$DATA/zone/fwd.test.zone" "$TMP/nsd/"
# RRL is compiled into Debian's nsd and would rate-limit the benchmark: switched off.
cat >"$TMP/nsd/nsd.conf" <<EOF
server:
	ip-address: 127.0.0.1@$NSD_PORT
	port: $NSD_PORT
	do-ip6: no
	username: ""
	chroot: ""
	zonesdir: "$TMP/nsd"
	database: ""
	zonelistfile: "$TMP/nsd/zone.list"
	xfrdfile: "$TMP/nsd/xfrd.state"
	xfrdir: "$TMP/nsd"
	pidfile: "$TMP/nsd/nsd.pid"
	logfile: "$TMP/nsd/nsd.log"
	verbosity: 0
	server-count: 1
	hide-version: yes
	rrl-ratelimit: 0
	rrl-whitelist-ratelimit: 0
	refuse-any: no
remote-control:
	control-enable: no
zone:
	name: fwd.test
	zonefile: fwd.test.zone
EOF
bg nsd nsd -d -c "$TMP/nsd/nsd.conf"
NSD_PID=$BG_PID
if ! wait_dns "$NSD_PID" "$NSD_PORT" q1.fwd.test 30; then
	echo "reload bench: nsd did not start; its log:" >&2
	cat "$TMP/nsd.log" "$TMP/nsd/nsd.log" >&2 2>/dev/null
	exit 1
fi
log "nsd up on 127.0.0.1:$NSD_PORT (pid $NSD_PID)"

# --- blokir --------------------------------------------------------------------------------------

PORT=$(free_port)
CFG=$TMP/policy.yaml
cat >"$CFG" <<EOF
listen: ["127.0.0.1:$PORT"]
upstreams: ["127.0.0.1:$NSD_PORT"]
workers: $WORKERS
lists:
  - file: $DATA/list.txt
    reason: "generated $NAMES-name order"
EOF
bg blokir "$BLOKIR" -c "$CFG" --foreground --allow-root
BLOKIR_PID=$BG_PID
BLOG=$TMP/blokir.log
if ! wait_dns "$BLOKIR_PID" "$PORT" "$PROBE" 60; then
	echo "reload bench: blokir did not start; its log:" >&2
	tail -n 20 "$BLOG" >&2
	exit 1
fi
log "blokir up on 127.0.0.1:$PORT (pid $BLOKIR_PID): $(grep -m1 -o 'ready:.*' "$BLOG")"

# RSS sampler: "milliseconds VmRSS-kB" every 100 ms, until blokir is gone or it is stopped.
RSS=$TMP/rss.txt
sample_rss() {
	local kb
	while kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$BLOKIR_PID/status" 2>/dev/null) && [ -n "$kb" ]; do
		echo "$(date +%s%3N) $kb"
		sleep 0.1
	done
}
sample_rss >"$RSS" &
SAMPLER_PID=$!
PIDS+=("$SAMPLER_PID")

# --- load and reloads ----------------------------------------------------------------------------

log "dnsperf ${DURATION}s at $QPS qps ($BLOCKED_PCT% blocked), $RELOADS SIGHUPs every ${INTERVAL}s"
DPERF=$TMP/dnsperf.log
DNSPERF_START=$(date +%s%3N)
bg dnsperf dnsperf -s 127.0.0.1 -p "$PORT" -d "$DATA/q-mix.txt" -l "$DURATION" -c "$CLIENTS" \
	-q "$OUTSTANDING" -Q "$QPS" -t 2 -v
DNSPERF_PID=$BG_PID
HUPS=$TMP/hups.txt
: >"$HUPS"
for ((i = 1; i <= RELOADS; i++)); do
	sleep "$INTERVAL"
	kill -0 "$BLOKIR_PID" 2>/dev/null || { log "blokir died"; break; }
	date +%s%3N >>"$HUPS"
	kill -HUP "$BLOKIR_PID"
done
# dnsperf stops itself after DURATION; the bound is for a hung one
for ((i = 0; i < (DURATION + 30) * 10; i++)); do
	kill -0 "$DNSPERF_PID" 2>/dev/null || break
	sleep 0.1
done
stop_pid "$DNSPERF_PID" 5
# the last reload may still be loading; then a second of quiet for the "after" RSS samples
for ((i = 0; i < 300; i++)); do
	[ "$(grep -c 'reload: summary:\|current policy stays' "$BLOG")" -ge "$RELOADS" ] && break
	sleep 0.1
done
LAST_DONE=$(date +%s%3N)
sleep 1
stop_pid "$SAMPLER_PID" 2
ALIVE=yes
kill -0 "$BLOKIR_PID" 2>/dev/null || ALIVE="NO (died)"

# --- report --------------------------------------------------------------------------------------

OUT=${OUT:-$RESULTS/reload.txt}
python3 - "$DPERF" "$RSS" "$HUPS" "$BLOG" "$LAST_DONE" "$NAMES" "$DURATION" "$RELOADS" \
	"$INTERVAL" "$QPS" "$BLOCKED_PCT" "$WORKERS" "$ALIVE" "$(nproc)" "$DNSPERF_START" \
	>"$TMP/table.txt" <<'EOF'
import datetime, re, sys
(dperf, rssf, hupsf, blog, last_done, names, duration, reloads, interval, qps, pct, workers,
 alive, ncpu, dstart) = sys.argv[1:]
t = open(dperf, errors="replace").read()
def num(pat):
    m = re.search(pat, t)
    return m.group(1) if m else "n/a"
sent, done, lost = num(r"Queries sent:\s+(\d+)"), num(r"Queries completed:\s+(\d+)"), num(r"Queries lost:\s+(\d+)")
codes = t.split("Response codes:")[-1].split("\n")[0].strip() if "Response codes:" in t else "n/a"
answers = [float(x) for x in re.findall(r"^> \S+ \S+ \S+ ([\d.]+)$", t, re.M)]
lats = sorted(answers)
def pct_ms(v, p):
    return "%.3f" % (v[min(len(v) - 1, int(len(v) * p))] * 1e3) if v else "n/a"
slow = sum(1 for x in lats if x > 0.005)
# dnsperf -v has no timestamps, but it sends at a fixed rate (-Q): answer i is about i / QPS s
# after the start. That splits the answers into those during a reload (SIGHUP to the summary
# line, plus 50 ms) and the rest, so a spike can be told apart from the noise of a shared box.
blogtext = open(blog, errors="replace").read()
def epoch_ms(ts):
    d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp() * 1000)
ends = [epoch_ms(m) for m in re.findall(r"^(\S+) blokir\[\d+\] info: reload: summary:", blogtext, re.M)]
samples = [tuple(map(int, l.split())) for l in open(rssf) if len(l.split()) == 2]
hups = [int(l) for l in open(hupsf) if l.strip()]
windows = [(h, min([e for e in ends if e >= h], default=h) + 50) for h in hups]
during, outside = [], []
for i, x in enumerate(answers):
    at = int(dstart) + i * 1000.0 / float(qps)
    (during if any(a <= at <= b for a, b in windows) else outside).append(x)
during.sort()
outside.sort()
last = int(last_done)
def mb(kb):
    return "%.1f MB" % (kb / 1024.0)
before = [kb for ms, kb in samples if hups and ms < hups[0]]
after = [kb for ms, kb in samples if ms >= last]
peak = max((kb for ms, kb in samples), default=0)
loads = [float(x) for x in re.findall(r"reload: summary: .*loaded in ([\d.]+) s", open(blog, errors="replace").read())]
failed = len(re.findall(r"current policy stays", open(blog, errors="replace").read()))
rows = [
    ("list", "%s names (domains list), %s workers, %s CPUs" % (names, workers, ncpu)),
    ("load", "dnsperf %s s at %s qps, %s%% blocked; %s SIGHUPs every %s s" % (duration, qps, pct, reloads, interval)),
    ("queries sent", sent), ("queries completed", done), ("queries lost", lost),
    ("response codes", codes),
    ("latency p50 / p99 / p99.9", "%s / %s / %s ms" % (pct_ms(lats, 0.5), pct_ms(lats, 0.99), pct_ms(lats, 0.999))),
    ("latency max", "%s ms" % ("%.3f" % (lats[-1] * 1e3) if lats else "n/a")),
    ("  during reloads: p99 / max", "%s / %s ms (%d answers)" % (pct_ms(during, 0.99), pct_ms(during, 1), len(during))),
    ("  between reloads: p99 / max", "%s / %s ms (%d answers)" % (pct_ms(outside, 0.99), pct_ms(outside, 1), len(outside))),
    ("answers slower than 5 ms", "%d of %d" % (slow, len(lats))),
    ("RSS before the first reload", mb(before[-1]) if before else "n/a"),
    ("RSS peak", mb(peak)),
    ("RSS after the reloads", mb(after[-1]) if after else "n/a"),
    ("reloads completed / failed", "%d / %d" % (len(loads), failed)),
    ("reload time min / median / max", "%.2f / %.2f / %.2f s" % (min(loads), sorted(loads)[len(loads) // 2], max(loads)) if loads else "n/a"),
    ("reload times", " ".join("%.2f" % x for x in loads)),
    ("blokir alive at the end", alive),
]
w = max(len(k) for k, v in rows)
for k, v in rows:
    print("%-*s  %s" % (w, k, v))
EOF
{
	echo "# bench/reload_under_load.sh, $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), blokir $(git rev-parse --short HEAD 2>/dev/null)"
	cat "$TMP/table.txt"
} | tee "$OUT"
log "saved to $OUT"
