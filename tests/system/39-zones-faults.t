#!/bin/bash
# 39-zones-faults: transfers that fail keep the copy in force, each logged with its reason and
# counted: a primary that never answers (SOA query timeout), one whose transfer ends in an SOA of
# another serial, one that sends a record outside the zone (both malformed), one that accepts
# the transfer and then sends nothing (transfer timeout), one that closes the connection halfway.
# A zone whose first primary is silent is fetched from its second. Each zone starts from a copy in
# state-dir, so what is enforced throughout is that copy. TSIG on multi-message transfers (RFC
# 8945 5.3.1): an answer with only the first, every third and the last message signed is taken,
# and so is one with 99 unsigned messages in a row; one whose last message is unsigned, one with
# 100 unsigned in a row, one with a wrong MAC on an intermediate signed message and one signed
# outside the fudge are refused, logged and counted as TSIG failures, and the copy stays.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zones.sh"

FAKEP="$SYSDIR/fakeprimary.py"
start_nsd || bail "nsd (upstream) did not start"
BPORT=$(free_port)
STATE="$T_TMP/state"
mkdir -p "$STATE"

# seed NAME: a copy of zone NAME at serial 5 blocking kept.example, confirmed now
seed() {
	printf '; blokir: copy of zone %s, serial 5\n$ORIGIN %s.\n@ 0 IN SOA ns.%s. h.%s. 5 1 1 600 60\n; skipped 0\nkept.example 0 IN CNAME .\n' \
		"$1" "$1" "$1" "$1" >"$STATE/$1.rpz"
}

# fake_primary ZONE MODE [OPTION...]: sets FP_PORT
fake_primary() {
	local z=$1 m=$2; shift 2
	FP_PORT=$(free_port)
	"$PY" "$FAKEP" --port "$FP_PORT" --zone "$z" --mode "$m" --serial 6 --log "$T_TMP/fp-$z.log" "$@" \
		>>"$T_TMP/fp-$z.out" 2>&1 &
	track "$!"
	wait_for 10 grep -q '^ready' "$T_TMP/fp-$z.out" || bail "fakeprimary $m did not start"
}

start_fake silent || bail "fakeupstream did not start"
SILENT=$FAKE_PORT
zones=()
for m in mismatch outside stall cut; do
	seed "$m.test"
	fake_primary "$m.test" "$m"
	zones+=("  - name: $m.test" "    primaries: [\"127.0.0.1:$FP_PORT\"]")
done
# TSIG-signed transfers whose intermediate messages are partly unsigned
SECRET="$T_TMP/tsig.secret"
tsig_secret "$SECRET"
tsig_zone() { # ZONE MODE MESSAGES [OPTION...]
	local z=$1 m=$2 n=$3; shift 3
	seed "$z"
	fake_primary "$z" "$m" --tsig-secret-file "$SECRET" --messages "$n" "$@"
	zones+=("  - name: $z" "    primaries: [\"127.0.0.1:$FP_PORT\"]" "    tsig-key: blokir-key"
		"    tsig-secret-file: $SECRET")
}
tsig_zone sparse.test tsig-sparse 10
tsig_zone lastunsigned.test tsig-lastunsigned 11
tsig_zone badmid.test tsig-badmid 10
tsig_zone gap99.test tsig-gap 101
tsig_zone gap100.test tsig-gap 102
tsig_zone skew.test tsig-sparse 10 --clock-skew 1000
seed timeout.test
zones+=("  - name: timeout.test" "    primaries: [\"127.0.0.1:$SILENT\"]")
# the second primary of this one is real
SERIAL=7
write_rpz "$T_TMP/zone" $SERIAL "kept.example CNAME ." "fresh.example CNAME ."
ZONE=second.test
write_rpz "$T_TMP/zone2" $SERIAL "kept.example CNAME ." "fresh.example CNAME ."
start_nsd_primary "$T_TMP/nsdp" "$T_TMP/zone2" || bail "nsd (primary) did not start"
seed second.test
zones+=("  - name: second.test" "    primaries: [\"127.0.0.1:$SILENT\", \"127.0.0.1:$NSDP_PORT\"]")

CFG="$T_TMP/policy.yaml"
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" "state-dir: $STATE" "zones:" "${zones[@]}"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

blocked() { [ "$(decide "$BPORT" "kept.example.$1")" = nxdomain ]; }
for z in mismatch outside stall cut timeout second; do
	wait_log 5 "zone $z.test: serial 5 read from"; ok $? "$z.test: the copy is read at start"
done
# note: zones here are separate zones; a trigger "kept.example" of zone Z matches kept.example
is "$(decide "$BPORT" kept.example)" nxdomain "the copies are enforced"

wait_log 10 "zone mismatch.test: IXFR from 127.0.0.1:[0-9]*: the final SOA's serial differs from the first; the current copy stays in force"
ok $? "an AXFR whose final SOA differs is refused, with the reason"
wait_log 10 "zone outside.test: IXFR from 127.0.0.1:[0-9]*: malformed record x\.other\.test\.: owner is not below the zone's origin; the current copy stays in force"
ok $? "a record outside the zone is refused, with the reason"
wait_log 10 "zone cut.test: IXFR from 127.0.0.1:[0-9]*: connection closed before the transfer was complete; the current copy stays in force"
ok $? "a connection closed halfway is refused, with the reason"
wait_log 10 "zone timeout.test: SOA query from 127.0.0.1:$SILENT: SOA query timed out; the current copy stays in force"
ok $? "a silent primary: the SOA query times out, logged"
wait_log 15 "zone stall.test: IXFR from 127.0.0.1:[0-9]*: transfer timed out; the current copy stays in force"
ok $? "a stalled transfer times out (10 s without data), logged"
wait_log 10 "zone second.test: .*to serial 7 from 127.0.0.1:$NSDP_PORT"
ok $? "second.test: after the silent first primary, the second one serves serial 7"
is "$(decide "$BPORT" fresh.example)" nxdomain "  and its new name is enforced"

wait_log 10 "zone sparse.test: IXFR answered with the full zone to serial 6 from 127.0.0.1:[0-9]*: 10 triggers in force"
ok $? "TSIG: an answer with only the first, every third and the last message signed is taken"
is "$(decide "$BPORT" sparse4)" nxdomain "  a trigger from an unsigned message (covered by the next MAC) is enforced"
wait_log 10 "zone gap99.test: IXFR answered with the full zone to serial 6 from 127.0.0.1:[0-9]*: 101 triggers in force"
ok $? "  and one with 99 unsigned messages in a row"
wait_log 10 "zone lastunsigned.test: IXFR from 127.0.0.1:[0-9]*: the last message of the answer is not TSIG-signed \(RFC 8945 5.3.1\); the current copy stays in force"
ok $? "TSIG: an answer whose last message is unsigned is refused, with the reason"
is "$(decide "$BPORT" lastunsigned9)" forwarded "  nothing of it got in, not even its signed messages' records"
wait_log 10 "zone gap100.test: IXFR from 127.0.0.1:[0-9]*: more than 99 messages in a row without TSIG \(RFC 8945 5.3.1\); the current copy stays in force"
ok $? "TSIG: 100 unsigned messages in a row are refused"
wait_log 10 "zone badmid.test: IXFR from 127.0.0.1:[0-9]*: TSIG mismatch \(wrong secret\?\); the current copy stays in force"
ok $? "TSIG: a wrong MAC on an intermediate signed message is refused"
is "$(decide "$BPORT" badmid1)" forwarded "  nothing of it got in"
wait_log 10 "zone skew.test: IXFR from 127.0.0.1:[0-9]*: TSIG time outside the fudge \(BADTIME: are the clocks apart\?\); the current copy stays in force"
ok $? "TSIG: messages signed 1000 s off (fudge 300 s) are refused"
is "$(decide "$BPORT" new)" forwarded "nothing of the refused transfers got in"
is "$(decide "$BPORT" kept.example)" nxdomain "the copies stay in force"
zone_stats
sleep 0.5
for z in mismatch outside stall cut timeout; do
	line=$(grep "stats: zone $z.test:" "$T_TMP/blokir.log" | tail -n 1)
	f=$(sed -n 's/.* failures=\([0-9]*\).*/\1/p' <<<"$line")
	s=$(sed -n 's/.* serial=\([0-9]*\) .*/\1/p' <<<"$line")
	ok $([ "${f:-0}" -ge 1 ] && [ "$s" = 5 ]; echo $?) "$z.test: failures counted ($f), serial still 5"
done
for z in lastunsigned badmid gap100 skew; do
	line=$(grep "stats: zone $z.test:" "$T_TMP/blokir.log" | tail -n 1)
	f=$(sed -n 's/.* tsig-failures=\([0-9]*\).*/\1/p' <<<"$line")
	s=$(sed -n 's/.* serial=\([0-9]*\) .*/\1/p' <<<"$line")
	ok $([ "${f:-0}" -ge 1 ] && [ "$s" = 5 ]; echo $?) "$z.test: tsig-failures counted ($f), serial still 5"
	grep -q " 5 1 1 600 60" "$STATE/$z.test.rpz"; ok $? "  its persisted copy is untouched"
done
for z in sparse gap99; do
	line=$(grep "stats: zone $z.test:" "$T_TMP/blokir.log" | tail -n 1)
	like "$line" " serial=6 .* tsig-failures=0 " "$z.test: serial 6, no TSIG failure"
done
for z in mismatch outside stall cut; do
	grep -q "serial=5 " <<<"$(grep "stats: zone $z.test:" "$T_TMP/blokir.log" | tail -n 1)" &&
		grep -q " 5 1 1 600 60" "$STATE/$z.test.rpz"
	ok $? "$z.test: the persisted copy is untouched"
done
stop_blokir
done_testing
