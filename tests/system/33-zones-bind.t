#!/bin/bash
# 33-zones-bind: BIND 9 as the primary (ixfr-from-differences, TSIG-signed transfers). blokir
# takes the zone by AXFR; a change reloaded into BIND is sent as NOTIFY and arrives as an IXFR
# (BIND's xfer-out log and blokir's counters say so) within 1 s of the NOTIFY.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zones.sh"

start_nsd || bail "nsd (upstream) did not start"
BPORT=$(free_port)
SECRET="$T_TMP/tsig.secret"
tsig_secret "$SECRET"
SERIAL=100
write_rpz "$T_TMP/zone" $SERIAL "${RPZ_BASE[@]}"
start_named "$T_TMP/named" "$T_TMP/zone" "$SECRET" "$BPORT" || bail "named did not start"
CFG="$T_TMP/policy.yaml"
write_secondary "$CFG" "$BPORT" "$NAMED_PORT" "$T_TMP/state" \
	"    tsig-key: blokir-key" "    tsig-secret-file: $SECRET"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
wait_log 10 "zone $ZONE: AXFR serial 100 from 127.0.0.1:$NAMED_PORT: 5 triggers in force, 2 records skipped"
ok $? "AXFR from BIND with TSIG"
is "$(decide "$BPORT" bad.example)" nxdomain "bad.example blocked"
is "$(decide "$BPORT" land.example)" redirect-a "land.example redirected"

SERIAL=101
n0=$(notify_ms)
t0=$(now_ms)
named_update "${RPZ_BASE[@]:1}" "new.example CNAME ." "land.example A 192.0.2.80"
ms=$(until_decision 5 "$BPORT" new.example nxdomain "$t0")
in_force_check "$ms" "$n0"
is "$(decide "$BPORT" bad.example)" forwarded "the lifted name is forwarded"
wait_log 5 "zone $ZONE: IXFR 100 -> 101 from 127.0.0.1:$NAMED_PORT: 1 deleted, 1 added"
ok $? "blokir logs the IXFR (1 deletion, 1 addition)"
wait_log 5 "transfer of '$ZONE/IN': IXFR started: TSIG blokir-key \(serial 100 -> 101\)" "$NAMED_DIR/named.log"
ok $? "BIND's log says it sent an IXFR"
zone_stats
is "$(zone_stat ixfr)" 1 "stats: ixfr=1"
is "$(zone_stat serial)" 101 "stats: serial=101"

# several changes in a row, each announced: all arrive as increments
for SERIAL in 102 103 104; do
	named_update "${RPZ_BASE[@]:1}" "new.example CNAME ." "s$SERIAL.example CNAME ."
	is "$(until_decision 5 "$BPORT" "s$SERIAL.example" nxdomain "$(now_ms)" | grep -c timeout)" 0 \
		"serial $SERIAL in force"
done
is "$(decide "$BPORT" s102.example)" forwarded "each increment removes what the next version lacks"
zone_stats
is "$(zone_stat ixfr)" 4 "stats: ixfr=4"
stop_blokir
done_testing
