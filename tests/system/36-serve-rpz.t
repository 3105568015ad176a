#!/bin/bash
# 36-serve-rpz: blokir as the primary of its own policy (serve-rpz). A real Unbound on loopback
# (rpz: with primary: pointing at blokir, allow-notify, nsd as its upstream) pulls the zone and
# enforces it; after a lift in blokir's YAML and a SIGHUP, Unbound serves the lifted name within
# 2 s, through NOTIFY and IXFR (blokir's log and xfr-ixfr counter say so). `dig AXFR` gives the
# records `blokir export --rpz` writes (compared as sets, SOA serial aside). A client outside
# serve-rpz.allow is refused and counted; AXFR over UDP is refused, IXFR over UDP gets the SOA.
. "$(dirname "$0")/lib.sh"

command -v unbound >/dev/null || { skip "unbound is not installed" "serve-rpz with Unbound"; done_testing; exit 0; }
start_nsd || bail "nsd did not start"
BPORT=$(free_port)
UPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
EXTRA_DOMAINS='  - {name: www.example.test, exact: true, reason: "to be lifted"}
  - {name: txt.example.test, exact: true, action: nodata}
  - {name: many.example.test, exact: true, action: redirect, redirect: {a: [192.0.2.80], ttl: 45}}'
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" \
	"serve-rpz:" "  zone: rpz.test." "  allow: [127.0.0.1/32, \"::1\"]" \
	"  notify: [\"127.0.0.1:$UPORT\"]" "  history: 4" "control-socket: $T_TMP/ctl.sock"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

# the served zone is the export, record for record (the SOA serial is the served version's)
"$BLOKIR" export --rpz --origin rpz.test. -c "$CFG" >"$T_TMP/export.rpz" 2>/dev/null
is $? 0 "blokir export --rpz of the same policy"
dig +tcp -p "$BPORT" @127.0.0.1 rpz.test AXFR >"$T_TMP/axfr.txt" 2>&1
"$PY" - "$T_TMP/export.rpz" "$T_TMP/axfr.txt" >"$T_TMP/cmp.txt" 2>&1 <<'EOF'
import sys
import dns.name, dns.rdatatype, dns.zone, dns.rrset
origin = dns.name.from_text("rpz.test.")
def records(z):
    out = set()
    for name, node in z.nodes.items():
        for rds in node.rdatasets:
            for rd in rds:
                text = rd.to_text()
                if rds.rdtype == dns.rdatatype.SOA:
                    f = text.split(); f[2] = "SERIAL"; text = " ".join(f)
                out.add((str(name.derelativize(origin)), rds.ttl, dns.rdatatype.to_text(rds.rdtype), text))
    return out
exp = records(dns.zone.from_text(open(sys.argv[1]).read(), origin, relativize=False))
lines = [l for l in open(sys.argv[2]) if l.strip() and not l.startswith(";")]
axfr = set()
soa = 0
for l in lines:
    rr = dns.rrset.from_text(*l.split(None, 4)[:1], int(l.split()[1]), *l.split()[2:4], " ".join(l.split()[4:]))
    for rd in rr:
        text = rd.to_text()
        if rr.rdtype == dns.rdatatype.SOA:
            soa += 1; f = text.split(); f[2] = "SERIAL"; text = " ".join(f)
        axfr.add((str(rr.name), rr.ttl, dns.rdatatype.to_text(rr.rdtype), text))
print("export", len(exp), "axfr", len(axfr), "soa lines", soa)
for r in sorted(exp - axfr): print("only in export:", r)
for r in sorted(axfr - exp): print("only in AXFR:", r)
sys.exit(0 if exp == axfr and soa == 2 and len(exp) > 5 else 1)
EOF
ok $? "dig AXFR gives the records of blokir export --rpz, the SOA first and last" || diag <"$T_TMP/cmp.txt"

# a client outside serve-rpz.allow (127.0.0.2 is loopback too, but not allowed)
out=$(dig +tcp -b 127.0.0.2 -p "$BPORT" @127.0.0.1 rpz.test AXFR 2>&1)
like "$out" "Transfer failed" "a client outside serve-rpz.allow is refused"
out=$(dig -b 127.0.0.2 -p "$BPORT" @127.0.0.1 rpz.test SOA 2>&1)
is "$(rcode "$out")" REFUSED "  also for the SOA"
wait_log 5 "refused AXFR of rpz.test. from 127.0.0.2" && pass "  and logged" || fail "  and logged"

# UDP: AXFR refused, IXFR answered with the current SOA alone (RFC 1995 4)
out=$("$PY" - "$BPORT" <<'EOF'
import sys, dns.message, dns.query, dns.rdatatype, dns.rcode, dns.rrset
port = int(sys.argv[1])
q = dns.message.make_query("rpz.test.", "AXFR")
r = dns.query.udp(q, "127.0.0.1", port=port, timeout=3)
print("axfr", dns.rcode.to_text(r.rcode()), len(r.answer))
q = dns.message.make_query("rpz.test.", "IXFR")
q.authority.append(dns.rrset.from_text("rpz.test.", 0, "IN", "SOA", ". . 1 0 0 0 0"))
r = dns.query.udp(q, "127.0.0.1", port=port, timeout=3)
print("ixfr", dns.rcode.to_text(r.rcode()), [dns.rdatatype.to_text(a.rdtype) for a in r.answer], "aa" if r.flags & 0x400 else "")
EOF
)
like "$out" "axfr REFUSED 0" "AXFR over UDP is refused"
like "$out" "ixfr NOERROR \['SOA'\] aa" "IXFR over UDP gets the current SOA alone"

# Unbound pulls the zone and enforces it
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
	name: rpz.test.
	primary: 127.0.0.1@$BPORT
	allow-notify: 127.0.0.1
	zonefile: "$UD/rpz.test.zone"
	rpz-log: yes
remote-control:
	control-enable: no
EOF
unbound -d -c "$UD/unbound.conf" >>"$UD/unbound.out" 2>&1 &
UB_PID=$!
track "$UB_PID"
uq() { q "$UPORT" "$@"; }
blocked_now() { [ "$(rcode "$(uq www.example.test A)")" = NXDOMAIN ]; }
if wait_for $((10 * SLOW)) blocked_now; then
	pass "Unbound pulled blokir's zone: www.example.test is NXDOMAIN through it"
else
	fail "Unbound pulled blokir's zone"; tail -n 30 "$UD/unbound.log" | diag
fi
out=$(uq txt.example.test TXT)
is "$(rcode "$out")" NOERROR "  txt.example.test: NODATA (CNAME *.)"
is "$(section "$out" ANSWER | wc -l)" 0 "  with no answer"
out=$(uq many.example.test A)
like "$(section "$out" ANSWER)" "192\.0\.2\.80" "  many.example.test: the local-data address"
out=$(uq ns1.example.test A)
like "$(section "$out" ANSWER)" "127\.0\.0\.1" "  a name the policy does not list resolves"

# the lift: SIGHUP, NOTIFY, IXFR, enforced by Unbound within 2 s
sed -i 's/^  - {name: www.example.test, exact: true, reason: "to be lifted"}$/  - {name: www.example.test, exact: true, enabled: false}/' "$CFG"
t0=$(ms)
kill -HUP "$T_BLOKIR_PID"
lifted() { [ "$(rcode "$(uq www.example.test A)")" = NOERROR ]; }
if wait_for $((5 * SLOW)) lifted; then
	t=$(( $(ms) - t0 ))
	ok $(( t <= 2000 * SLOW ? 0 : 1 )) "after the lift Unbound serves www.example.test within 2 s ($t ms)"
else
	fail "after the lift Unbound serves www.example.test"; tail -n 30 "$UD/unbound.log" | diag
fi
like "$(section "$(uq www.example.test A)" ANSWER)" "192\.0\.2\.1" "  with nsd's address"
wait_log 5 "NOTIFY of serial [0-9]* acknowledged by 127.0.0.1:$UPORT" && pass "  the NOTIFY was acknowledged" ||
	fail "  the NOTIFY was acknowledged"
wait_log 5 "IXFR of rpz.test. to 127.0.0.1#[0-9]*: serial [0-9]* -> [0-9]*, 1 change, 1 record" &&
	pass "  and the change went out as an IXFR of one record" || fail "  and went out as an IXFR"
st=$(stats)
ok $(( $(stat_val "$st" xfr-ixfr) >= 1 ? 0 : 1 )) "  xfr-ixfr counted ($(stat_val "$st" xfr-ixfr))"
ok $(( $(stat_val "$st" xfr-refused) >= 2 ? 0 : 1 )) "  xfr-refused counted ($(stat_val "$st" xfr-refused))"
like "$(grep 'stats: serve-rpz rpz.test.:' "$T_TMP/blokir.log" | tail -n 1)" \
	"serial=[0-9]+ records=[0-9]+ history=1 ixfr-from=[0-9]+ notify-sent=[0-9]+ notify-acked=[1-9]" \
	"  SIGUSR1 reports the served serial, its history and the NOTIFY counts"
like "$(timeout 20 "$BLOKIR" ctl -s "$T_TMP/ctl.sock" status 2>&1)" \
	"^serve-rpz: zone rpz\.test\., serial [0-9]+, [0-9]+ records, 1 change kept \(IXFR from serial [0-9]+\), NOTIFY [0-9]+ sent, [1-9][0-9]* acknowledged" \
	"  blokir ctl status shows the served zone"
is "$(rcode "$(uq txt.example.test TXT)")" NOERROR "  the rest of the policy still holds"

stop_pid "$UB_PID"
stop_blokir "blokir stops cleanly"
done_testing
