#!/usr/bin/env bash
# bench/zones_ixfr.sh: blokir as the RPZ secondary of a 2,000,000-name zone, serving dnsperf
# traffic at 10,000 qps while the zone receives 10 IXFRs of 1,000 changes each (issue 13: "zero
# lost queries, each change visible within 1 s, RSS back to its level").
#
# It starts nsd on a free loopback port as the upstream (zone fwd.test, as bench/run.sh does),
# generates a deterministic RPZ zone of NAMES triggers (`nameN.tld CNAME .`) and Knot DNS as its
# primary (its own config, rundir and database in the scratch directory, dynamic updates allowed
# from loopback), then blokir with `zones:` pulling it (AXFR at start, its time reported). Under
# dnsperf at a fixed rate (half blocked names of the zone, half forwarded), it sends IXFRS
# dynamic updates of CHANGES changes each with nsupdate (half deletions of zone names, half
# additions of new ones) every INTERVAL seconds: Knot journals each update and sends NOTIFY,
# blokir fetches the IXFR. For each update it measures, on 127.0.0.1, when the first added name
# is blocked and the first deleted name is forwarded (one dnspython poller, every 10 ms), from nsupdate's
# start and from blokir's "NOTIFY ... checking now" log line, and takes blokir's own IXFR time
# from its log. VmRSS of blokir is sampled every 100 ms. The table goes to stdout and to
# bench/results/zones.txt.
#
# It installs nothing (it names the Debian packages that are missing). Every process it starts is
# recorded and stopped by PID on exit.
#
# Do not run the full size on a machine others are measuring on: it is two cores' worth of load
# for a few minutes (Knot holds the 2 M-name zone too). A functional run:
#   NAMES=20000 IXFRS=3 CHANGES=100 QPS=2000 bench/zones_ixfr.sh
#
# Environment:
#   NAMES=N          zone size (default 2000000)
#   IXFRS=N          updates (default 10), CHANGES=N per update (default 1000), INTERVAL=S between
#                    them (default 3; the first after INTERVAL)
#   QPS=N            dnsperf -Q rate (default 10000); CLIENTS=N (4), OUTSTANDING=N (200)
#   WORKERS=N        blokir workers (default 2)
#   BLOKIR=PATH      binary under test (default ./blokir); KEEP_TMP=1 keeps the scratch directory
#   OUT=FILE         where the table is saved (default bench/results/zones.txt)

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

NAMES=${NAMES:-2000000}
IXFRS=${IXFRS:-10}
CHANGES=${CHANGES:-1000}
INTERVAL=${INTERVAL:-3}
QPS=${QPS:-10000}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}
WORKERS=${WORKERS:-2}
BLOKIR=${BLOKIR:-./blokir}
KEEP_TMP=${KEEP_TMP:-0}
RESULTS=bench/results
START_TS=$(date +%s)
ZONE=rpz.bench

LOG_TAG=zones
. "$(dirname "$0")/lib.sh"

# --- prerequisites -------------------------------------------------------------------------------

need_tools "zones bench" dnsperf:dnsperf nsd:nsd knotd:knot knotc:knot dig:bind9-dnsutils \
	nsupdate:bind9-dnsutils python3:python3

TMP=$(mktemp -d "${TMPDIR:-/tmp}/blokir-zones.XXXXXX") || exit 1
PIDS=()

trap cleanup EXIT
trap 'exit 130' INT TERM

# --- data ----------------------------------------------------------------------------------------

DATA=$TMP/data
mkdir -p "$DATA" "$RESULTS"
log "generating a $NAMES-name RPZ zone, the updates, the upstream zone and the query mix"
python3 bench/gen_policy.py zone "$DATA/zone" || exit 1
# Zone names nameI.tld; update K deletes CHANGES/2 of them and adds CHANGES/2 names newK-J.tld.
python3 - "$NAMES" "$DATA" "$ZONE" "$IXFRS" "$CHANGES" <<'EOF' || exit 1
import random, sys
n, out, zone, ixfrs, changes = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rnd = random.Random(20170714)
tlds = ["com", "net", "org", "info", "xyz", "id", "co.id", "web.id", "me", "io"]
with open(out + "/rpz.zone", "w") as f:
    f.write("$ORIGIN %s.\n$TTL 60\n@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60\n@ NS localhost.\n" % (zone, zone, zone))
    for i in range(n):
        f.write("name%d.%s CNAME .\n" % (i, tlds[i % len(tlds)]))
picked = rnd.sample(range(n), ixfrs * (changes // 2) + 1)
with open(out + "/q-blocked.txt", "w") as f:
    for _ in range(200000):
        i = rnd.randrange(n)
        f.write("name%d.%s A\n" % (i, tlds[i % len(tlds)]))
for k in range(ixfrs):
    dels = picked[k * (changes // 2):(k + 1) * (changes // 2)]
    with open("%s/update%d.txt" % (out, k), "w") as f, open("%s/probe%d.txt" % (out, k), "w") as p:
        f.write("zone %s.\n" % zone)
        for i in dels:
            f.write("update delete name%d.%s.%s. CNAME\n" % (i, tlds[i % len(tlds)], zone))
        for j in range(changes - len(dels)):
            f.write("update add new%d-%d.example.%s. 60 CNAME .\n" % (k, j, zone))
        f.write("send\n")
        i = dels[0]
        p.write("new%d-0.example name%d.%s\n" % (k, i, tlds[i % len(tlds)]))
EOF
python3 bench/gen_policy.py mix "$DATA/q-mix.txt" --blocked "$DATA/q-blocked.txt" \
	--forwarded "$DATA/zone/q-forwarded.txt" --percent 50 || exit 1

# --- nsd: the upstream; Knot: the primary --------------------------------------------------------

start_nsd

KNOT_PORT=$(free_port)
PORT=$(free_port)
mkdir -p "$TMP/knot/db"
cp "$DATA/rpz.zone" "$TMP/knot/$ZONE.zone"
cat >"$TMP/knot/knot.conf" <<EOF
server:
    rundir: "$TMP/knot"
    listen: 127.0.0.1@$KNOT_PORT
database:
    storage: "$TMP/knot/db"
    journal-db-max-size: 4G
log:
  - target: "$TMP/knot/knot.log"
    any: info
remote:
  - id: blokir
    address: 127.0.0.1@$PORT
acl:
  - id: lo
    address: 127.0.0.0/8
    action: [transfer, update]
template:
  - id: default
    storage: "$TMP/knot"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
    semantic-checks: off
zone:
  - domain: $ZONE
    file: $ZONE.zone
    acl: lo
    notify: blokir
EOF
bg knotd knotd -c "$TMP/knot/knot.conf"
KNOT_PID=$BG_PID
for ((i = 0; i < 600; i++)); do
	dig @127.0.0.1 -p "$KNOT_PORT" "$ZONE" SOA +time=1 +tries=1 2>/dev/null | grep -q 'status: NOERROR' && break
	kill -0 "$KNOT_PID" 2>/dev/null || break
	sleep 0.5
done
dig @127.0.0.1 -p "$KNOT_PORT" "$ZONE" SOA +time=1 +tries=1 2>/dev/null | grep -q 'status: NOERROR' || {
	echo "zones bench: knotd did not load the zone; its log:" >&2
	tail -n 20 "$TMP/knot/knot.log" "$TMP/knotd.log" >&2
	exit 1
}
log "knotd up on 127.0.0.1:$KNOT_PORT (pid $KNOT_PID) with $NAMES names"

# --- blokir --------------------------------------------------------------------------------------

mkdir -p "$TMP/state"
CFG=$TMP/policy.yaml
cat >"$CFG" <<EOF
listen: ["127.0.0.1:$PORT"]
upstreams: ["127.0.0.1:$NSD_PORT"]
workers: $WORKERS
state-dir: $TMP/state
zones:
  - name: $ZONE
    primaries: ["127.0.0.1:$KNOT_PORT"]
    reason: "generated $NAMES-name feed"
EOF
bg blokir "$BLOKIR" -c "$CFG" --foreground --allow-root
BLOKIR_PID=$BG_PID
BLOG=$TMP/blokir.log
for ((i = 0; i < 1200; i++)); do
	grep -q "zone $ZONE: AXFR serial" "$BLOG" && break
	kill -0 "$BLOKIR_PID" 2>/dev/null || break
	sleep 0.25
done
if ! grep -q "zone $ZONE: AXFR serial" "$BLOG"; then
	echo "zones bench: blokir did not get the zone; its log:" >&2
	tail -n 20 "$BLOG" >&2
	exit 1
fi
log "blokir up on 127.0.0.1:$PORT (pid $BLOKIR_PID): $(grep -m1 -o "zone $ZONE: AXFR serial.*" "$BLOG")"
# the copy is written after the AXFR: let that finish before measuring
for ((i = 0; i < 600; i++)); do [ -s "$TMP/state/$ZONE.rpz" ] && break; sleep 0.2; done
sleep 1

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

# --- load and updates ----------------------------------------------------------------------------

DURATION=$(( (IXFRS + 2) * INTERVAL + 2 ))
log "dnsperf ${DURATION}s at $QPS qps (50% blocked), $IXFRS updates of $CHANGES changes every ${INTERVAL}s"
DPERF=$TMP/dnsperf.log
bg dnsperf dnsperf -s 127.0.0.1 -p "$PORT" -d "$DATA/q-mix.txt" -l "$DURATION" -c "$CLIENTS" \
	-q "$OUTSTANDING" -Q "$QPS" -t 2
DNSPERF_PID=$BG_PID
FIRST_UPDATE=""
TIMES=$TMP/times.txt
: >"$TIMES"
for ((k = 0; k < IXFRS; k++)); do
	sleep "$INTERVAL"
	kill -0 "$BLOKIR_PID" 2>/dev/null || { log "blokir died"; break; }
	read -r added deleted <"$DATA/probe$k.txt"
	t0=$(date +%s%3N)
	[ -n "$FIRST_UPDATE" ] || FIRST_UPDATE=$t0
	{ echo "server 127.0.0.1 $KNOT_PORT"; cat "$DATA/update$k.txt"; } |
		timeout 30 nsupdate -v >"$TMP/nsupdate$k.log" 2>&1 || log "nsupdate $k failed: $(tail -n 1 "$TMP/nsupdate$k.log")"
	tu=$(date +%s%3N)
	# one process polling both names every 10 ms (a dig per poll costs more than the wait)
	read -r seen_a seen_d < <(/usr/bin/python3 - "$PORT" "$added" "$deleted" <<'PY'
import socket, sys, time
import dns.message, dns.query
port, added, deleted = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def blocked(name):
    try:
        r = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port, timeout=0.2)
    except Exception:
        return None
    return any("blokir.invalid" in str(rr) for rr in r.authority)
sa = sd = 0
end = time.time() + 10
while (not sa or not sd) and time.time() < end:
    if not sa and blocked(added):
        sa = int(time.time() * 1000)
    if not sd and blocked(deleted) is False:
        sd = int(time.time() * 1000)
    time.sleep(0.01)
print(sa, sd)
PY
)
	echo "$k $t0 $tu ${seen_a:-0} ${seen_d:-0}" >>"$TIMES"
done
for ((i = 0; i < (DURATION + 30) * 10; i++)); do
	kill -0 "$DNSPERF_PID" 2>/dev/null || break
	sleep 0.1
done
stop_pid "$DNSPERF_PID" 5
LAST_DONE=$(date +%s%3N)
sleep 2
stop_pid "$SAMPLER_PID" 2
ALIVE=yes
kill -0 "$BLOKIR_PID" 2>/dev/null || ALIVE="NO (died)"
kill -USR1 "$BLOKIR_PID" 2>/dev/null
sleep 0.5

# --- report --------------------------------------------------------------------------------------

OUT=${OUT:-$RESULTS/zones.txt}
python3 - "$DPERF" "$RSS" "$TIMES" "$BLOG" "$LAST_DONE" "$NAMES" "$IXFRS" "$CHANGES" "$INTERVAL" \
	"$QPS" "$WORKERS" "$ALIVE" "$(nproc)" "${FIRST_UPDATE:-0}" "$ZONE" >"$TMP/table.txt" <<'EOF'
import datetime, re, sys
(dperf, rssf, timesf, blog, last_done, names, ixfrs, changes, interval, qps, workers, alive, ncpu,
 first_update, zone) = sys.argv[1:]
t = open(dperf, errors="replace").read()
def num(pat):
    m = re.search(pat, t)
    return m.group(1) if m else "n/a"
sent, done, lost = num(r"Queries sent:\s+(\d+)"), num(r"Queries completed:\s+(\d+)"), num(r"Queries lost:\s+(\d+)")
codes = t.split("Response codes:")[-1].split("\n")[0].strip() if "Response codes:" in t else "n/a"
lat = num(r"Average Latency \(s\):\s+([\d.]+)")
b = open(blog, errors="replace").read()
def epoch_ms(ts):
    d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp() * 1000)
notifies = [epoch_ms(m) for m in re.findall(r"^(\S+) blokir\[\d+\] info: zone %s: NOTIFY from" % re.escape(zone), b, re.M)]
ixfr = re.findall(r"zone %s: IXFR \d+ -> \d+ from \S+ (\d+) deleted, (\d+) added, (\d+) triggers in force \(([\d.]+) s\)" % re.escape(zone), b)
axfr = re.search(r"zone %s: AXFR serial \d+ from \S+ (\d+) triggers in force.*\(([\d.]+) s\)" % re.escape(zone), b)
rows_t = [tuple(map(int, l.split())) for l in open(timesf) if l.strip()]
vis_update, vis_notify = [], []
for k, t0, tu, sa, sd in rows_t:
    seen = max(sa, sd) if sa and sd else 0
    if not seen:
        vis_update.append(None); vis_notify.append(None); continue
    vis_update.append(seen - t0)
    n = [x for x in notifies if x >= t0 - 50 and x <= seen]
    vis_notify.append(seen - n[0] if n else None)
samples = [tuple(map(int, l.split())) for l in open(rssf) if len(l.split()) == 2]
fu = int(first_update)
before = [kb for ms, kb in samples if ms < fu]
after = [kb for ms, kb in samples if ms >= int(last_done)]
peak = max((kb for ms, kb in samples), default=0)
def mb(kb): return "%.1f MB" % (kb / 1024.0)
def fmt(v): return " ".join("-" if x is None else str(x) for x in v)
ok = [x for x in vis_notify if x is not None]
rows = [
    ("zone", "%s names (RPZ, Knot DNS primary), %s blokir workers, %s CPUs" % (names, workers, ncpu)),
    ("initial AXFR", "%s triggers in %s s" % axfr.groups() if axfr else "n/a"),
    ("load", "dnsperf at %s qps, 50%% zone names; %s updates of %s changes every %s s" % (qps, ixfrs, changes, interval)),
    ("queries sent / completed / lost", "%s / %s / %s" % (sent, done, lost)),
    ("response codes", codes), ("average latency", "%s s" % lat),
    ("IXFRs applied (blokir log)", "%d: %s" % (len(ixfr), ", ".join("%s+%s in %s s" % (d, a, s) for d, a, trig, s in ixfr))),
    ("visible after NOTIFY (ms)", fmt(vis_notify)),
    ("  max", "%d ms" % max(ok) if ok else "n/a"),
    ("visible after nsupdate start (ms)", fmt(vis_update)),
    ("RSS before the updates", mb(before[-1]) if before else "n/a"),
    ("RSS peak", mb(peak)),
    ("RSS after", mb(after[-1]) if after else (mb(samples[-1][1]) if samples else "n/a")),
    ("blokir alive at the end", alive),
]
w = max(len(k) for k, v in rows)
for k, v in rows:
    print("%-*s  %s" % (w, k, v))
EOF
{
	echo "# bench/zones_ixfr.sh, $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), blokir $(git rev-parse --short HEAD 2>/dev/null)"
	cat "$TMP/table.txt"
	grep 'stats: zone ' "$BLOG" | tail -n 1
} | tee "$OUT"
log "saved to $OUT"
