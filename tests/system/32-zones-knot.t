#!/bin/bash
# 32-zones-knot: blokir as an RPZ secondary of Knot DNS, with TSIG. The zone arrives by AXFR and
# is enforced beside the YAML entries (the 2017 order reads the same); rpz-ip and rpz-nsdname
# records are skipped with a count and one warning; the copy is written to state-dir. A change
# on the primary (a zone-file difference: Knot journals it and sends NOTIFY) is in force within
# 1 s, through IXFR. A NOTIFY from an address that is not a primary is refused and counted. A
# secondary with the wrong TSIG secret is refused by the primary: it keeps its copy, counts and
# logs the failure. With the primary down at start, the persisted copy is enforced.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zones.sh"

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
SECRET="$T_TMP/tsig.secret"
tsig_secret "$SECRET"
SERIAL=1
write_rpz "$T_TMP/zone" $SERIAL "${RPZ_BASE[@]}"
start_knot "$T_TMP/knot" "$T_TMP/zone" "$SECRET" "$BPORT" || bail "knotd did not start"

CFG="$T_TMP/policy.yaml"
write_secondary "$CFG" "$BPORT" "$KNOT_PORT" "$T_TMP/state" \
	"    tsig-key: blokir-key" "    tsig-algorithm: hmac-sha256" "    tsig-secret-file: $SECRET" \
	"control-socket: $T_TMP/ctl.sock"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
wait_log 10 "zone $ZONE: AXFR serial 1 from 127.0.0.1:$KNOT_PORT: 5 triggers in force, 2 records skipped"
ok $? "the zone arrives by AXFR, TSIG-signed"
wait_log 5 "zone $ZONE: 2 records skipped \(first: rpz-ip, rpz-nsip, rpz-nsdname or rpz-client-ip trigger\): only QNAME triggers are enforced"
ok $? "skipped trigger types: one warning"
is "$(decide "$BPORT" bad.example)" nxdomain "CNAME . blocks with NXDOMAIN"
is "$(decide "$BPORT" www.bad.example)" forwarded "  the name only (not below it)"
is "$(decide "$BPORT" a.wild.example)" nodata "*.wild CNAME *. gives NODATA below"
is "$(decide "$BPORT" ok.bad.example)" forwarded "rpz-passthru is forwarded"
is "$(decide "$BPORT" land.example)" redirect-a "A local data answers"
is "$(decide "$BPORT" cn.example)" redirect-cname "a CNAME elsewhere redirects"
out=$(q "$BPORT" bad.example A +edns)
like "$out" 'EDE: 16 \(Censored\): \(rpz feed\)' "the zone's reason is the EDE text"
w=$("$BLOKIR" ctl -s "$T_TMP/ctl.sock" why bad.example)
like "$w" "^deciding entry: a trigger of RPZ zone ${ZONE%.} \\(zones:\\)\$" "ctl why names the RPZ zone that decides"
like "$w" '^answer: NXDOMAIN' "  ... and the answer"
# the 2017 order reads the same beside the zone
is "$(decide "$BPORT" web.telegram.org)" nxdomain "YAML entries still decide: web.telegram.org"
is "$(decide "$BPORT" venus.web.telegram.org)" nxdomain "  venus.web.telegram.org"
wait_for 5 test -s "$T_TMP/state/$ZONE.rpz"
like "$(sed -n 3p "$T_TMP/state/$ZONE.rpz")" '^@ 0 IN SOA ns\.rpz\.test\. hostmaster\.rpz\.test\. 1 1 1 600 60$' \
	"the copy is written to state-dir with its SOA"
[ ! -e "$T_TMP/state/.$ZONE.rpz.tmp" ]; ok $? "  and no temporary file is left"

# a change on the primary: bad.example lifted, new.example and more.example added
SERIAL=2
BASE2=("${RPZ_BASE[@]:1}" "new.example CNAME ." "more.example CNAME *.")
n0=$(notify_ms)
t0=$(now_ms)
knot_update "${BASE2[@]}"
ms=$(until_decision 5 "$BPORT" new.example nxdomain "$t0")
in_force_check "$ms" "$n0"
is "$(decide "$BPORT" bad.example)" forwarded "  the lifted name is forwarded"
is "$(decide "$BPORT" more.example)" nodata "  more.example added"
wait_log 5 "zone $ZONE: IXFR 1 -> 2 from 127.0.0.1:$KNOT_PORT: 1 deleted, 2 added"
ok $? "blokir logs an IXFR of 1 deletion and 2 additions"
grep -q "IXFR, outgoing, remote 127.0.0.1@[0-9]*, started, serial 1 -> 2" "$KNOT_DIR/knot.log"
ok $? "Knot logs the outgoing IXFR"
zone_stats
is "$(zone_stat ixfr)" 1 "stats: ixfr=1"
is "$(zone_stat serial)" 2 "stats: serial=2"
is "$(zone_stat records)" 6 "stats: records=6"
is "$(zone_stat skipped)" 2 "stats: skipped=2"
wait_for 5 grep -q ' 2 1 1 600 60$' "$T_TMP/state/$ZONE.rpz"; ok $? "the new copy is persisted"

# NOTIFY from an address that is not a primary
out=$(timeout 5 dig @127.0.0.1 -p "$BPORT" -b 127.0.0.2 +time=2 +tries=1 +opcode=notify +norec "$ZONE" SOA 2>&1)
is "$(rcode "$out")" REFUSED "NOTIFY from 127.0.0.2 (not a primary) is REFUSED"
wait_log 5 "zone $ZONE: NOTIFY from 127.0.0.2 refused: not a listed primary"; ok $? "  and logged"
zone_stats
is "$(zone_stat notify-refused)" 1 "  and counted"
out=$(timeout 5 dig @127.0.0.1 -p "$BPORT" +time=2 +tries=1 +opcode=notify +norec other.test SOA 2>&1)
is "$(rcode "$out")" REFUSED "NOTIFY for a zone that is not ours is REFUSED"

# a second secondary with the wrong TSIG secret, seeded with a copy: refused, copy kept
B2PORT=$(free_port)
B2STATE="$T_TMP/state2"
mkdir -p "$B2STATE"
cp "$T_TMP/state/$ZONE.rpz" "$B2STATE/"
WRONG="$T_TMP/wrong.secret"
tsig_secret "$WRONG"
write_secondary "$T_TMP/b2.yaml" "$B2PORT" "$KNOT_PORT" "$B2STATE" \
	"    tsig-key: blokir-key" "    tsig-secret-file: $WRONG"
B2LOG="$T_TMP/b2.log"
"$BLOKIR" -c "$T_TMP/b2.yaml" --foreground "${ROOT_OPT[@]}" >>"$B2LOG" 2>&1 &
B2PID=$!
track "$B2PID"
wait_log 10 "zone $ZONE: serial 2 read from" "$B2LOG"; ok $? "second secondary: its copy is read"
SERIAL=3
knot_update "${BASE2[@]}" "third.example CNAME ."
wait_log 10 "zone $ZONE: SOA query from 127.0.0.1:$KNOT_PORT: TSIG" "$B2LOG"
ok $? "wrong secret: the transfer is refused with a TSIG log line"
grep "TSIG" "$B2LOG" | head -n 1 | diag
is "$(decide "$B2PORT" new.example)" nxdomain "  the old copy stays in force"
is "$(decide "$B2PORT" third.example)" forwarded "  without the primary's new serial"
kill -USR1 "$B2PID"
wait_for 5 grep -q 'stats: zone ' "$B2LOG"
tf=$(zone_stat tsig-failures "$B2LOG")
ok $([ "${tf:-0}" -ge 1 ]; echo $?) "  tsig-failures counted ($tf)"
is "$(zone_stat serial "$B2LOG")" 2 "  serial still 2"
stop_pid "$B2PID"
is "$(until_decision 3 "$BPORT" third.example nxdomain "$(now_ms)" | grep -c timeout)" 0 \
	"the right secret gets serial 3"

# SIGHUP with enabled: false lifts the whole zone, and true puts it back (the copy is kept)
sed -i "s/^  - name: $ZONE\$/  - name: $ZONE\n    enabled: false/" "$CFG"
kill -HUP "$T_BLOKIR_PID"
is "$(until_decision 5 "$BPORT" third.example forwarded "$(now_ms)" | grep -c timeout)" 0 \
	"SIGHUP with enabled: false: the zone's names are forwarded"
is "$(decide "$BPORT" web.telegram.org)" nxdomain "  the YAML entries stay"
zone_stats
is "$(zone_stat enforced)" no "  status: enforced=no"
sed -i '/^    enabled: false$/d' "$CFG"
kill -HUP "$T_BLOKIR_PID"
is "$(until_decision 5 "$BPORT" third.example nxdomain "$(now_ms)" | grep -c timeout)" 0 \
	"enabled again: the kept copy is enforced at once"
zone_stats
is "$(zone_stat enforced)" yes "  status: enforced=yes"

# the primary down at start: the persisted copy is enforced
stop_blokir "blokir stops cleanly"
stop_pid "$KNOT_PID"
start_blokir "$CFG" "$BPORT" || bail "blokir did not restart"
wait_log 10 "zone $ZONE: serial 3 read from $T_TMP/state/$ZONE.rpz"
ok $? "with the primary down, the copy is read at start"
is "$(decide "$BPORT" third.example)" nxdomain "  and enforced from the first query"
is "$(decide "$BPORT" land.example)" redirect-a "  local data too"
wait_log 10 "zone $ZONE: SOA query from 127.0.0.1:$KNOT_PORT: .*the current copy stays in force"
ok $? "  the failed check is logged"
stop_blokir
done_testing
