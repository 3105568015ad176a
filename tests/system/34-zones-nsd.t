#!/bin/bash
# 34-zones-nsd: an AXFR-only primary (nsd 4.6 keeps no zone-file differences): blokir's IXFR is
# answered with the whole zone, which blokir takes as such; a change + NOTIFY is in force within
# 1 s. A primary whose serial goes backwards is refused (copy kept, counted, logged). When no
# primary has been reached for the SOA expire time the zone stays enforced with an alarm (log,
# counter, status), or with on-expire: drop stops being enforced.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zones.sh"

start_nsd || bail "nsd (upstream) did not start"
BPORT=$(free_port)
SERIAL=10
write_rpz "$T_TMP/zone" $SERIAL "${RPZ_BASE[@]}"
start_nsd_primary "$T_TMP/nsdp" "$T_TMP/zone" "$BPORT" || bail "nsd (primary) did not start"
CFG="$T_TMP/policy.yaml"
write_secondary "$CFG" "$BPORT" "$NSDP_PORT" "$T_TMP/state"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
wait_log 10 "zone $ZONE: AXFR serial 10 from 127.0.0.1:$NSDP_PORT: 5 triggers in force"
ok $? "AXFR from nsd"
is "$(decide "$BPORT" bad.example)" nxdomain "bad.example blocked"

SERIAL=11
n0=$(notify_ms)
t0=$(now_ms)
nsd_update "${RPZ_BASE[@]}" "new.example CNAME ."
ms=$(until_decision 5 "$BPORT" new.example nxdomain "$t0")
in_force_check "$ms" "$n0"
wait_log 5 "zone $ZONE: (IXFR answered with the full zone|AXFR) to serial 11"
ok $? "the IXFR is answered with the whole zone, taken as a full transfer"
grep "to serial 11" "$T_TMP/blokir.log" | diag
zone_stats
is "$(zone_stat axfr)" 2 "stats: axfr=2"
is "$(zone_stat ixfr)" 0 "stats: ixfr=0"

# serial backwards: refused, the copy stays
SERIAL=5
nsd_update "${RPZ_BASE[@]:1}"
wait_log 10 "zone $ZONE: primary 127.0.0.1:$NSDP_PORT has serial 5, older than ours \(11\): refused"
ok $? "a serial going backwards is refused and logged"
is "$(decide "$BPORT" new.example)" nxdomain "  the copy stays: new.example blocked"
is "$(decide "$BPORT" bad.example)" nxdomain "  and bad.example"
zone_stats
b=$(zone_stat serial-backwards)
ok $([ "${b:-0}" -ge 1 ]; echo $?) "  counted ($b)"
is "$(zone_stat serial)" 11 "  serial still 11"

# expire: a zone with expire 3 s, then the primary goes away
SERIAL=20
RPZ_EXPIRE=3 nsd_update "${RPZ_BASE[@]}" "new.example CNAME ." "late.example CNAME ."
is "$(until_decision 5 "$BPORT" late.example nxdomain "$(now_ms)" | grep -c timeout)" 0 "serial 20 (expire 3 s) arrives"
# a second blokir with on-expire: drop, seeded with the same copy
B2PORT=$(free_port)
mkdir -p "$T_TMP/state2"
wait_for 5 grep -q ' 20 1 1 3 60$' "$T_TMP/state/$ZONE.rpz"
cp "$T_TMP/state/$ZONE.rpz" "$T_TMP/state2/"
write_secondary "$T_TMP/b2.yaml" "$B2PORT" "$NSDP_PORT" "$T_TMP/state2" "    on-expire: drop"
"$BLOKIR" -c "$T_TMP/b2.yaml" --foreground "${ROOT_OPT[@]}" >>"$T_TMP/b2.log" 2>&1 &
B2PID=$!
track "$B2PID"
wait_log 10 "zone $ZONE: serial 20 read from" "$T_TMP/b2.log"; ok $? "on-expire: drop secondary starts with the copy"
is "$(decide "$B2PORT" late.example)" nxdomain "  and enforces it"
stop_pid "$NSDP_PID"
wait_log 10 "zone $ZONE: EXPIRED: no primary reached for 3 s \(SOA expire\); serial 20 stays enforced \(on-expire: keep\)"
ok $? "expire without contact: the alarm is logged"
is "$(decide "$BPORT" late.example)" nxdomain "  and the zone is still enforced (on-expire: keep)"
zone_stats
is "$(zone_stat expired)" yes "  status: expired=yes"
is "$(zone_stat expiries)" 1 "  counted: expiries=1"
wait_log 10 "zone $ZONE: EXPIRED: .*no longer enforced \(on-expire: drop\)" "$T_TMP/b2.log"
ok $? "on-expire: drop logs the expiry"
is "$(decide "$B2PORT" late.example)" forwarded "  and stops enforcing the zone"
is "$(decide "$B2PORT" web.telegram.org)" nxdomain "  the YAML entries stay"
stop_pid "$B2PID"
stop_blokir
done_testing
