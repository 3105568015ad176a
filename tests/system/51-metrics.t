#!/bin/bash
# 51-metrics: the Prometheus page on metrics-listen:. After a known sequence of dig queries (blocked
# by YAML entries and by a list, forwarded through a silent upstream and then nsd, over UDP and TCP,
# A / AAAA / HTTPS / other), a scrape with curl parsed by prometheus_client's parser gives exactly
# the expected increments; a reload shows in the reload counters, the info gauge's SHA-256 and
# generation; the address must be loopback; nothing but GET /metrics is served.
. "$(dirname "$0")/lib.sh"

"$PY" -c 'import prometheus_client.parser' 2>/dev/null ||
	{ skip "python3-prometheus-client missing" "metrics"; done_testing; exit 0; }

start_nsd || bail "nsd did not start"
start_fake silent || bail "fakeupstream did not start"
BPORT=$(free_port)
MPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
printf 'blocked.example\nalso.example\n' >"$T_TMP/order.txt"
write_policy "$CFG" "$BPORT" "127.0.0.1:$FAKE_PORT 127.0.0.1:$NSD_PORT" \
	"metrics-listen: \"127.0.0.1:$MPORT\"" "lists:" "  - file: order.txt" "    reason: \"list order\""
sed -i 's/^upstream-timeout-ms: .*/upstream-timeout-ms: 300/' "$CFG"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

scrape() { curl -sf --max-time 5 "http://127.0.0.1:$MPORT/metrics"; }
wait_for 5 scrape || bail "no metrics page on 127.0.0.1:$MPORT"

# metric FILE NAME [LABEL=VALUE...]: the sample's value (as an integer when it is one), or "none".
metric() {
	"$PY" - "$@" <<'PYEOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
path, name, *labels = sys.argv[1:]
want = dict(l.split("=", 1) for l in labels)
for fam in text_string_to_metric_families(open(path).read()):
    for s in fam.samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in want.items()):
            v = s.value
            print(int(v) if v == int(v) else v)
            sys.exit(0)
print("none")
PYEOF
}
scrape >"$T_TMP/m0" || bail "first scrape failed"
"$PY" -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
list(text_string_to_metric_families(open(sys.argv[1]).read()))' "$T_TMP/m0"
ok $? "the page parses with prometheus_client.parser"

# --- the known sequence --------------------------------------------------------------------------
for i in 1 2 3; do q "$BPORT" t.me A >/dev/null; done
q "$BPORT" venus.web.telegram.org AAAA >/dev/null
q "$BPORT" venus.web.telegram.org AAAA >/dev/null
q "$BPORT" x.pluto.web.telegram.org HTTPS >/dev/null
q "$BPORT" blocked.example A >/dev/null
q "$BPORT" www.blocked.example AAAA +tcp >/dev/null
out=$(q "$BPORT" www.example.test A)     # forwarded: the silent upstream times out, nsd answers
is "$(rcode "$out")" NOERROR "forwarded www.example.test A: NOERROR after the silent upstream's timeout"
out=$(q "$BPORT" txt.example.test TXT +tcp)
is "$(rcode "$out")" NOERROR "forwarded txt.example.test TXT over TCP: NOERROR"
scrape >"$T_TMP/m1" || bail "second scrape failed"

delta() { # NAME [LABELS...]: value in m1 minus value in m0 (none counts as 0)
	local a b
	a=$(metric "$T_TMP/m0" "$@"); b=$(metric "$T_TMP/m1" "$@")
	[ "$a" = none ] && a=0; [ "$b" = none ] && b=none
	if [ "$b" = none ]; then echo none; else echo $((b - a)); fi
}
is "$(delta blokir_queries_total)" 10 "queries +10"
is "$(delta blokir_blocked_total)" 8 "blocked +8"
is "$(delta blokir_forwarded_total)" 2 "forwarded +2"
is "$(delta blokir_queries_by_transport_total transport=udp)" 8 "queries by transport: udp +8"
is "$(delta blokir_queries_by_transport_total transport=tcp)" 2 "queries by transport: tcp +2"
is "$(delta blokir_queries_by_qtype_total qtype=A)" 5 "qtype A +5"
is "$(delta blokir_queries_by_qtype_total qtype=AAAA)" 3 "qtype AAAA +3"
is "$(delta blokir_queries_by_qtype_total qtype=HTTPS)" 1 "qtype HTTPS +1"
is "$(delta blokir_queries_by_qtype_total qtype=other)" 1 "qtype other (TXT) +1"
is "$(delta blokir_answers_by_rcode_total rcode=NXDOMAIN)" 8 "rcode NXDOMAIN +8"
is "$(delta blokir_answers_by_rcode_total rcode=NOERROR)" 2 "rcode NOERROR +2"
is "$(delta blokir_answers_by_rcode_total rcode=SERVFAIL)" 0 "rcode SERVFAIL +0"
is "$(delta blokir_blocked_by_entry_total entry=t.me)" 3 "blocked by entry t.me +3"
is "$(delta blokir_blocked_by_entry_total entry=venus.web.telegram.org)" 2 "blocked by entry venus.web.telegram.org +2"
is "$(delta blokir_blocked_by_entry_total entry=pluto.web.telegram.org)" 1 "blocked by entry pluto.web.telegram.org +1"
is "$(delta blokir_blocked_by_entry_total entry=telegram.org)" 0 "blocked by entry telegram.org +0 (the more specific entries decided)"
is "$(delta blokir_blocked_by_list_total "list=$T_TMP/order.txt")" 2 "blocked by list order.txt +2"
F="127.0.0.1:$FAKE_PORT"; N="127.0.0.1:$NSD_PORT"
is "$(delta blokir_forwarded_by_upstream_total upstream=$F)" 2 "forwarded to the silent upstream +2"
is "$(delta blokir_timeouts_by_upstream_total upstream=$F)" 2 "  ... timeouts there +2"
is "$(delta blokir_answers_by_upstream_total upstream=$F)" 0 "  ... answers from it +0"
is "$(delta blokir_forwarded_by_upstream_total upstream=$N)" 2 "forwarded to nsd +2"
is "$(delta blokir_timeouts_by_upstream_total upstream=$N)" 0 "  ... timeouts there +0"
is "$(delta blokir_answers_by_upstream_total upstream=$N)" 2 "  ... answers from it +2"
is "$(delta blokir_upstream_latency_seconds_count upstream=$N)" 2 "latency histogram for nsd: count +2"
is "$(delta blokir_upstream_latency_seconds_bucket upstream=$N le=+Inf)" 2 "  ... +Inf bucket +2"
is "$(delta blokir_upstream_latency_seconds_bucket upstream=$N le=1)" 2 "  ... both under 1 s"
is "$(delta blokir_upstream_latency_seconds_count upstream=$F)" 0 "latency histogram for the silent upstream: count +0"
is "$(delta blokir_upstream_timeouts_total)" 2 "the global upstream-timeouts counter +2"

# --- info gauge and reloads ----------------------------------------------------------------------
sha=$(sha256sum "$CFG" | cut -d' ' -f1)
is "$(metric "$T_TMP/m1" blokir_policy_info sha256=$sha generation=0)" 1 "info gauge: the file's SHA-256 and generation 0"
is "$(metric "$T_TMP/m1" blokir_reloads_total result=ok)" 0 "no reload yet"
is "$(metric "$T_TMP/m1" blokir_last_reload_timestamp_seconds)" 0 "  ... last reload timestamp 0"
set_enabled "$CFG" t.me false
t0=$(date +%s)
kill -HUP "$T_BLOKIR_PID"
wait_log 5 'reload: summary' || fail "reload not logged"
printf '  - name: bad..example\n' >>"$CFG"
kill -HUP "$T_BLOKIR_PID"
wait_log 5 'has 1 error; the current policy stays' || fail "failed reload not logged"
scrape >"$T_TMP/m2"
is "$(metric "$T_TMP/m2" blokir_reloads_total result=ok)" 1 "after a good and a bad reload: ok 1"
is "$(metric "$T_TMP/m2" blokir_reloads_total result=failed)" 1 "  ... failed 1"
ts=$(metric "$T_TMP/m2" blokir_last_reload_timestamp_seconds)
[ "$ts" -ge "$t0" ] && [ "$ts" -le $(( $(date +%s) + 1 )) ]; ok $? "  ... last reload timestamp is now ($ts)"
sha2=$(sed '$d' "$CFG" | sha256sum | cut -d' ' -f1)
is "$(metric "$T_TMP/m2" blokir_policy_info sha256=$sha2 generation=1)" 1 "  ... info gauge: the reloaded file's SHA-256, generation 1"
is "$(metric "$T_TMP/m2" blokir_blocked_by_entry_total entry=venus.web.telegram.org)" "$(metric "$T_TMP/m1" blokir_blocked_by_entry_total entry=venus.web.telegram.org)" \
	"  ... venus.web.telegram.org's count survives the reload"
is "$(metric "$T_TMP/m2" blokir_blocked_by_entry_total entry=t.me)" none "  ... the disabled t.me has no series any more"

# --- only GET /metrics; loopback only ------------------------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$MPORT/")
is "$code" 404 "GET / is 404"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$MPORT/metrics")
[ "$code" != 200 ]; ok $? "POST /metrics is refused ($code)"
# a scraper that connects and never reads does not hold up queries
"$PY" -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.send(b"GET /metrics HTTP/1.1\r\n"); time.sleep(3)' "$MPORT" &
track $!
sleep 0.2
is "$(rcode "$(q "$BPORT" venus.web.telegram.org A)")" NXDOMAIN "a stalled scraper does not hold up queries"
scrape >/dev/null; ok $? "  ... nor other scrapes"
stop_blokir

printf 'metrics-listen: "192.0.2.1:9100"\n' >"$T_TMP/bad.yaml"
out=$("$BLOKIR" -c "$T_TMP/bad.yaml" --check 2>&1); st=$?
is "$st" 1 "metrics-listen on a non-loopback address is refused by --check"
like "$out" "bad.yaml:1:17: metrics-listen: expected a loopback address" "  ... with FILE:LINE:COLUMN"
done_testing
