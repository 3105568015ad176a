#!/bin/bash
# 67-metrics-zones: the zone and serve-rpz families of the metrics page, against a real primary.
# blokir pulls rpz.test from Knot DNS (AXFR, then an IXFR after a zone-file change and Knot's
# NOTIFY) and serves its own policy (serve-rpz). Scrapes with curl, parsed by prometheus_client's
# parser, give exactly: the zone's serial, records, skipped records, the transfer counts by type,
# the NOTIFYs accepted and refused, the check and transfer times; `ctl status` shows the same zone
# line as SIGUSR1. For serve-rpz: the serial a `dig SOA` gives, the records a `dig AXFR` gives,
# the AXFR served counted, and the NOTIFYs to its secondary sent and acknowledged. With the
# primary gone, failed checks are counted by reason. A zone trigger's audit line names the
# trigger and the zone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zones.sh"

"$PY" -c 'import prometheus_client.parser' 2>/dev/null ||
	{ skip "python3-prometheus-client missing" "zone metrics"; done_testing; exit 0; }
command -v knotd >/dev/null || { skip "knot is not installed" "zone metrics"; done_testing; exit 0; }

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
MPORT=$(free_port)
SERIAL=1
T0=$(date +%s)
write_rpz "$T_TMP/zone" $SERIAL "${RPZ_BASE[@]}"
start_knot "$T_TMP/knot" "$T_TMP/zone" "" "$BPORT" || bail "knotd did not start"

CFG="$T_TMP/policy.yaml"
# serve-rpz NOTIFYs go to nsd, which answers them (NOTAUTH: not its zone), an acknowledgement
write_secondary "$CFG" "$BPORT" "$KNOT_PORT" "$T_TMP/state" \
	"metrics-listen: \"127.0.0.1:$MPORT\"" "control-socket: $T_TMP/ctl.sock" \
	"audit-log: $T_TMP/audit.log" \
	"serve-rpz:" "  zone: served.blokir." "  allow: [127.0.0.1/32]" \
	"  notify: [\"127.0.0.1:$NSD_PORT\"]"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
wait_log 10 "zone $ZONE: AXFR serial 1 from 127.0.0.1:$KNOT_PORT: 5 triggers in force, 2 records skipped"
ok $? "the zone arrives by AXFR"

scrape() { curl -sf --max-time 5 "http://127.0.0.1:$MPORT/metrics"; }
# metric FILE NAME [LABEL=VALUE...]: the sample's value (an integer when it is one), or "none".
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
# family_type FILE FAMILY: the family's TYPE as the parser read it.
family_type() {
	"$PY" - "$@" <<'PYEOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    if fam.name == sys.argv[2]:
        print(fam.type); sys.exit(0)
print("none")
PYEOF
}
Z="zone=$ZONE"

# The served zone's NOTIFY rounds (at start, and again when the pulled zone changes the served
# one) answered: ctl status and the page agree.
notify_counts() { timeout 5 "$BLOKIR" ctl -s "$T_TMP/ctl.sock" status |
	sed -n 's/.*NOTIFY \([0-9]*\) sent, \([0-9]*\) acknowledged.*/\1\/\2/p'; }
for i in $(seq 1 50); do
	nc=$(notify_counts)
	scrape >"$T_TMP/m1" || bail "scrape failed"
	nm="$(metric "$T_TMP/m1" blokir_serve_rpz_notifies_total zone=served.blokir. result=sent)/$(metric "$T_TMP/m1" blokir_serve_rpz_notifies_total zone=served.blokir. result=acknowledged)"
	[ "$nm" = "$nc" ] && [ "${nc#*/}" -ge 1 ] && break
	sleep 0.1
done
is "$(metric "$T_TMP/m1" blokir_zone_serial "$Z")" 1 "blokir_zone_serial: 1 after the AXFR"
is "$(metric "$T_TMP/m1" blokir_zone_records "$Z")" 5 "blokir_zone_records: the 5 triggers"
is "$(metric "$T_TMP/m1" blokir_zone_records_skipped "$Z")" 2 "blokir_zone_records_skipped: rpz-ip and rpz-nsdname"
is "$(metric "$T_TMP/m1" blokir_zone_copy "$Z")/$(metric "$T_TMP/m1" blokir_zone_enforced "$Z")/$(metric "$T_TMP/m1" blokir_zone_expired "$Z")" \
	1/1/0 "a copy held, enforced, not expired"
is "$(metric "$T_TMP/m1" blokir_zone_transfers_total "$Z" type=axfr)/$(metric "$T_TMP/m1" blokir_zone_transfers_total "$Z" type=ixfr)" \
	1/0 "blokir_zone_transfers_total: 1 AXFR, 0 IXFR"
lt=$(metric "$T_TMP/m1" blokir_zone_last_transfer_timestamp_seconds "$Z")
lc=$(metric "$T_TMP/m1" blokir_zone_last_check_timestamp_seconds "$Z")
ok $([ "$lt" -ge "$T0" ] && [ "$lt" -le "$(date +%s)" ] && [ "$lc" -ge "$lt" ]; echo $?) \
	"the last transfer and check times are this run's (transfer $lt, check $lc, start $T0)"
is "$(family_type "$T_TMP/m1" blokir_zone_last_transfer_timestamp_seconds)/$(family_type "$T_TMP/m1" blokir_zone_transfers)/$(family_type "$T_TMP/m1" blokir_zone_serial)" \
	gauge/counter/gauge "types: timestamps and serials are gauges, _total families counters"
sum=0
for r in timeout network rcode tsig malformed serial-backwards resources; do
	v=$(metric "$T_TMP/m1" blokir_zone_failures_total "$Z" "reason=$r"); sum=$((sum + v))
done
is "$sum" 0 "no failure of any reason yet"
is "$nm" "$nc" "serve-rpz: NOTIFYs sent/acknowledged as ctl status counts them ($nc)"
ok $([ "${nc#*/}" -ge 1 ] && [ "${nc%/*}" -ge "${nc#*/}" ]; echo $?) "  ... at least one acknowledged, no more than were sent (each try counts as sent)"

# serve-rpz: the served serial is the one a secondary sees; an AXFR is counted
soa=$(dig +short -p "$BPORT" @127.0.0.1 served.blokir SOA | awk '{print $3}')
is "$(metric "$T_TMP/m1" blokir_serve_rpz_serial zone=served.blokir.)" "$soa" "blokir_serve_rpz_serial is the SOA's serial ($soa)"
a0=$(metric "$T_TMP/m1" blokir_xfr_axfr_total)
dig +tcp -p "$BPORT" @127.0.0.1 served.blokir AXFR >"$T_TMP/axfr.txt" 2>&1
n=$(grep -cvE '^(;|$)' "$T_TMP/axfr.txt")
scrape >"$T_TMP/m2" || bail "scrape failed"
is "$(metric "$T_TMP/m2" blokir_xfr_axfr_total)" $((a0 + 1)) "one dig AXFR: blokir_xfr_axfr_total + 1"
is "$(metric "$T_TMP/m2" blokir_serve_rpz_records zone=served.blokir.)" "$n" \
	"blokir_serve_rpz_records: the records dig AXFR got ($n)"

# --- an IXFR: the primary's change arrives through NOTIFY ------------------------------------
SERIAL=2
knot_update "${RPZ_BASE[@]:1}" "new.example CNAME ." "more.example CNAME *."
wait_log 5 "zone $ZONE: IXFR 1 -> 2 from 127.0.0.1:$KNOT_PORT: 1 deleted, 2 added"
ok $? "the change arrives by IXFR"
scrape >"$T_TMP/m3" || bail "scrape failed"
is "$(metric "$T_TMP/m3" blokir_zone_serial "$Z")" 2 "blokir_zone_serial: 2"
is "$(metric "$T_TMP/m3" blokir_zone_records "$Z")" 6 "blokir_zone_records: 5 - 1 + 2"
is "$(metric "$T_TMP/m3" blokir_zone_transfers_total "$Z" type=axfr)/$(metric "$T_TMP/m3" blokir_zone_transfers_total "$Z" type=ixfr)" \
	1/1 "blokir_zone_transfers_total: 1 AXFR, 1 IXFR"
na=$(metric "$T_TMP/m3" blokir_zone_notifies_total "$Z" result=accepted)
ok $([ "$na" -ge 1 ]; echo $?) "Knot's NOTIFY accepted ($na)"

# a NOTIFY from an address that is not a primary
out=$(timeout 5 dig @127.0.0.1 -p "$BPORT" -b 127.0.0.2 +time=2 +tries=1 +opcode=notify +norec "$ZONE" SOA 2>&1)
is "$(rcode "$out")" REFUSED "NOTIFY from 127.0.0.2 is REFUSED"
scrape >"$T_TMP/m4" || bail "scrape failed"
is "$(metric "$T_TMP/m4" blokir_zone_notifies_total "$Z" result=refused)" 1 \
	"blokir_zone_notifies_total{result=refused}: 1"
is "$(metric "$T_TMP/m4" blokir_zone_notifies_total "$Z" result=accepted)" "$na" "  accepted unchanged"

# ctl status shows the zone as SIGUSR1 logs it
st=$(timeout 5 "$BLOKIR" ctl -s "$T_TMP/ctl.sock" status)
like "$st" "^zone $ZONE: serial=2 records=6 skipped=2 enforced=yes expired=no .* ixfr=1 axfr=1 .* notify-refused=1 result=\"(IXFR of serial 2 from 127\\.0\\.0\\.1:$KNOT_PORT|up to date \\(serial 2\\))\"" \
	"ctl status: the zone's line (serial, records, transfers, result)"

# a zone's trigger in the audit log: the trigger and the zone, no file or line
q "$BPORT" new.example A >/dev/null
wait_for 3 grep -q '"qname":"new.example."' "$T_TMP/audit.log"
like "$(grep '"qname":"new.example."' "$T_TMP/audit.log")" \
	'"qname":"new\.example\.","qtype":"A","entry":"new\.example","zone":"rpz\.test","action":"nxdomain","reason":"rpz feed"\}$' \
	"audit: a zone's trigger names the trigger and the zone"

# --- the primary gone: failed checks counted by reason ----------------------------------------
stop_pid "$KNOT_PID" 10
# refresh is 1 s: an SOA query to a closed port (ECONNREFUSED) or one unanswered
wait_for 10 bash -c "curl -sf --max-time 5 http://127.0.0.1:$MPORT/metrics | grep -qE '^blokir_zone_failures_total\\{zone=\"$ZONE\",reason=\"(network|timeout)\"\\} [1-9]'"
scrape >"$T_TMP/m5" || bail "scrape failed"
f=$(( $(metric "$T_TMP/m5" blokir_zone_failures_total "$Z" reason=network) + $(metric "$T_TMP/m5" blokir_zone_failures_total "$Z" reason=timeout) ))
ok $([ "$f" -ge 1 ]; echo $?) "with the primary down, failed checks are counted (network/timeout: $f)"
is "$(metric "$T_TMP/m5" blokir_zone_serial "$Z")/$(metric "$T_TMP/m5" blokir_zone_enforced "$Z")" 2/1 \
	"  the copy stays: serial 2, enforced"
is "$(decide "$BPORT" new.example)" nxdomain "  and blocks"

diag "failures: $(grep "^blokir_zone_failures_total" "$T_TMP/m5" | grep -v " 0$" | tr "\n" " ")"
stop_blokir
done_testing
