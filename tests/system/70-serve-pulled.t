#!/bin/bash
# 70-serve-pulled: the served zone (serve-rpz) is the effective policy, pulled zones included. An
# ISP's central blokir pulls a feed from a real Knot DNS primary and serves its fleet: `dig AXFR`
# of blokir's zone holds the feed's triggers beside the YAML entries, with blokir's precedence
# (a feed trigger on the slot of a YAML entry is not written; one more specific than a YAML
# subtree is); `blokir export --rpz` writes the same records, the feed's read from state-dir. A
# change on the primary + NOTIFY reaches blokir by IXFR, goes out as an IXFR of just that change
# + NOTIFY, and Unbound (an RPZ secondary of blokir) blocks the new name within 2 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zones.sh"

command -v unbound >/dev/null || { skip "unbound is not installed" "serve-rpz of a pulled zone"; done_testing; exit 0; }
command -v knotd >/dev/null || { skip "knotd is not installed" "serve-rpz of a pulled zone"; done_testing; exit 0; }
start_nsd || bail "nsd did not start"
BPORT=$(free_port)
UPORT=$(free_port)
SERIAL=1
# alias.example.test blocked; t.me's passthru loses to the YAML t.me (same slot); the passthru
# for x.web.telegram.org is more specific than the YAML web.telegram.org subtree, so it decides
FEED=("alias.example.test CNAME ." "*.wild.example.test CNAME *." "t.me CNAME rpz-passthru."
	"x.web.telegram.org CNAME rpz-passthru." "land.example.test A 192.0.2.80"
	"land.example.test A 192.0.2.81")
write_rpz "$T_TMP/zone" $SERIAL "${FEED[@]}"
start_knot "$T_TMP/knot" "$T_TMP/zone" "" "$BPORT" || bail "knotd did not start"

CFG="$T_TMP/policy.yaml"
write_secondary "$CFG" "$BPORT" "$KNOT_PORT" "$T_TMP/state" \
	"serve-rpz:" "  zone: fleet.rpz." "  allow: [127.0.0.1/32]" "  notify: [\"127.0.0.1:$UPORT\"]" \
	"  history: 8"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
wait_log 10 "zone $ZONE: AXFR serial 1 from 127.0.0.1:$KNOT_PORT: 5 triggers in force"
ok $? "the feed arrives from Knot by AXFR"
wait_log 10 "serve-rpz: .*: zone fleet.rpz. now at serial [0-9]* \([0-9]* records changed\)"
ok $? "the served zone takes the feed in (a new serial)"
wait_for 5 test -s "$T_TMP/state/$ZONE.rpz"

# axfr FILE: blokir's served zone as "owner TYPE rdata" lines, sorted, SOA and NS left out
axfr() {
	dig +tcp +nocookie -p "$BPORT" @127.0.0.1 fleet.rpz AXFR 2>&1 |
		awk '!/^;/ && NF >= 5 && $4 != "SOA" && $4 != "NS" {
			r = $5; for (i = 6; i <= NF; i++) r = r " " $i; print $1, $4, r }' | sort -u
}
axfr >"$T_TMP/axfr1.txt"
grep -q '^alias.example.test.fleet.rpz. CNAME \.$' "$T_TMP/axfr1.txt"
ok $? "dig AXFR of blokir's zone holds the feed's trigger alias.example.test" || diag <"$T_TMP/axfr1.txt"
grep -q '^\*.wild.example.test.fleet.rpz. CNAME \*\.$' "$T_TMP/axfr1.txt"
ok $? "  and *.wild.example.test CNAME *."
is "$(grep -c '^land.example.test.fleet.rpz. A 192.0.2.8[01]$' "$T_TMP/axfr1.txt")" 2 "  and both local-data addresses"
grep -q '^x.web.telegram.org.fleet.rpz. CNAME rpz-passthru\.$' "$T_TMP/axfr1.txt"
ok $? "  the feed's passthru more specific than a YAML subtree is written"
is "$(grep '^t.me.fleet.rpz. ' "$T_TMP/axfr1.txt")" "t.me.fleet.rpz. CNAME ." \
	"  the feed's passthru on the slot of the YAML t.me is not: YAML wins"
grep -q '^\*.web.telegram.org.fleet.rpz. CNAME \.$' "$T_TMP/axfr1.txt"
ok $? "  the YAML entries are there too"

# blokir export --rpz: the same records, the feed read from the copy in state-dir
"$BLOKIR" export --rpz --origin fleet.rpz. -c "$CFG" >"$T_TMP/export.rpz" 2>"$T_TMP/export.err"
is $? 0 "blokir export --rpz with a pulled zone"
"$PY" - "$T_TMP/export.rpz" <<'EOF' | sort -u >"$T_TMP/export.txt"
import sys, dns.name, dns.zone, dns.rdatatype
origin = dns.name.from_text("fleet.rpz.")
z = dns.zone.from_text(open(sys.argv[1]).read(), origin, relativize=False)
for name, node in z.nodes.items():
    for rds in node.rdatasets:
        if rds.rdtype in (dns.rdatatype.SOA, dns.rdatatype.NS):
            continue
        for rd in rds:
            print("%s %s %s" % (name, dns.rdatatype.to_text(rds.rdtype), rd.to_text()))
EOF
diff "$T_TMP/export.txt" "$T_TMP/axfr1.txt" >"$T_TMP/export.diff"
ok $? "  it writes exactly the records blokir serves" || diag <"$T_TMP/export.diff"
grep -q "^; zone $ZONE (zones:, the copy in force)" "$T_TMP/export.rpz"
ok $? "  under a comment naming the zone"

# Unbound pulls blokir's zone and enforces the feed through it
UD="$T_TMP/unbound"
mkdir -p "$UD"
cat >"$UD/unbound.conf" <<EOF
server:
	interface: 127.0.0.1@$UPORT
	port: $UPORT
	do-daemonize: no
	username: ""
	chroot: ""
	directory: "$UD"
	pidfile: ""
	use-syslog: no
	logfile: "$UD/unbound.log"
	verbosity: 2
	do-ip6: no
	do-not-query-localhost: no
	module-config: "respip iterator"
	local-zone: "test." nodefault
	cache-max-ttl: 0
	cache-max-negative-ttl: 0
	prefetch: no
forward-zone:
	name: "."
	forward-addr: 127.0.0.1@$NSD_PORT
rpz:
	name: fleet.rpz.
	primary: 127.0.0.1@$BPORT
	allow-notify: 127.0.0.1
	zonefile: "$UD/fleet.rpz.zone"
	rpz-log: yes
remote-control:
	control-enable: no
EOF
unbound -d -c "$UD/unbound.conf" >>"$UD/unbound.out" 2>&1 &
UB_PID=$!
track "$UB_PID"
uq() { q "$UPORT" "$@"; }
feed_blocked() { [ "$(rcode "$(uq alias.example.test A)")" = NXDOMAIN ]; }
if wait_for $((10 * SLOW)) feed_blocked; then
	pass "Unbound pulled blokir's zone: the feed's alias.example.test is NXDOMAIN through it"
else
	fail "Unbound pulled blokir's zone"; tail -n 30 "$UD/unbound.log" | diag
fi
like "$(section "$(uq www.example.test A)" ANSWER)" "192\.0\.2\.1" "  www.example.test resolves (not in the feed yet)"

# the primary adds www.example.test and lifts alias.example.test: Knot journals the difference
# and sends NOTIFY; blokir takes the IXFR and passes the change on as an IXFR + NOTIFY
SERIAL=2
FEED2=("${FEED[@]:1}" "www.example.test CNAME .")
t0=$(ms)
knot_update "${FEED2[@]}"
www_blocked() { [ "$(rcode "$(uq www.example.test A)")" = NXDOMAIN ]; }
if wait_for $((5 * SLOW)) www_blocked; then
	t=$(($(ms) - t0))
	ok $((t <= 2000 * SLOW ? 0 : 1)) "the primary's new name is blocked by Unbound within 2 s ($t ms)"
else
	fail "the primary's new name is blocked by Unbound"; tail -n 30 "$UD/unbound.log" | diag
	tail -n 20 "$T_TMP/blokir.log" | diag
fi
wait_log 5 "zone $ZONE: IXFR 1 -> 2 from 127.0.0.1:$KNOT_PORT: 1 deleted, 1 added"
ok $? "blokir took the change by IXFR"
wait_log 5 "serve-rpz: zone transfer: zone fleet.rpz. now at serial [0-9]* \(2 records changed\)"
ok $? "  and its zone moved by those 2 records, not a rebuild"
wait_log 5 "IXFR of fleet.rpz. to 127.0.0.1#[0-9]*: serial [0-9]* -> [0-9]*, 1 change, 2 records"
ok $? "  sent to Unbound as an IXFR of the 2 records"
wait_log 5 "NOTIFY of serial [0-9]* acknowledged by 127.0.0.1:$UPORT"; ok $? "  after a NOTIFY"
lifted() { [ "$(rcode "$(uq alias.example.test A)")" = NOERROR ]; }
wait_for $((3 * SLOW)) lifted; ok $? "  the name the primary lifted resolves through Unbound"
axfr >"$T_TMP/axfr2.txt"
diff "$T_TMP/axfr1.txt" "$T_TMP/axfr2.txt" | grep '^[<>]' >"$T_TMP/axfr.diff"
is "$(cat "$T_TMP/axfr.diff")" "< alias.example.test.fleet.rpz. CNAME .
> www.example.test.fleet.rpz. CNAME ." "dig AXFR: exactly that change"

# a full rebuild (SIGHUP) agrees with the increments: the zone stays at its serial
before=$(dig +short +nocookie -p "$BPORT" @127.0.0.1 fleet.rpz SOA | awk '{print $3}')
kill -HUP "$T_BLOKIR_PID"
wait_log 10 "serve-rpz: reload: zone fleet.rpz. unchanged at serial $before"
ok $? "a reload rebuilds the whole zone and finds it unchanged (serial $before)"

stop_pid "$UB_PID"
stop_blokir "blokir stops cleanly"
done_testing
