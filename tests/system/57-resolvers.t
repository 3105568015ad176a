#!/bin/bash
# 57-resolvers: blokir as its users run it, behind a real resolver. Unbound and BIND each forward
# every query to blokir (nsd behind it): a blocked name is NXDOMAIN through them, other names are
# relayed with their real answers, and when a block is lifted by SIGHUP the resolver sees the
# name resolve once its negative cache entry (negative-ttl 1) has run out. Then blokir is compared
# byte for byte with nsd itself: the same query bytes sent to both, over UDP, for every name of
# the test zone and a set of types, spellings and EDNS variants, must give the same answer bytes
# (the ID aside, which is the same too: blokir gives the client its own).
. "$(dirname "$0")/lib.sh"

NEG_TTL=1 setup_std
RES_DIR="$T_TMP/resolvers"
mkdir -p "$RES_DIR"

# --- Unbound in front ----------------------------------------------------------------------------
UPORT=$(free_port)
cat >"$RES_DIR/unbound.conf" <<EOF
server:
	interface: 127.0.0.1@$UPORT
	port: $UPORT
	do-ip6: no
	username: ""
	chroot: ""
	directory: "$RES_DIR"
	pidfile: "$RES_DIR/unbound.pid"
	use-syslog: no
	logfile: "$RES_DIR/unbound.log"
	verbosity: 1
	num-threads: 1
	module-config: "iterator"
	do-not-query-localhost: no
	qname-minimisation: no
	access-control: 127.0.0.0/8 allow
	cache-max-negative-ttl: 1
	auto-trust-anchor-file: ""
	# .test is one of the special-use zones Unbound answers itself (RFC 6761): pass it on
	local-zone: "test." nodefault
remote-control:
	control-enable: no
forward-zone:
	name: "."
	forward-addr: 127.0.0.1@$BPORT
EOF
unbound -d -c "$RES_DIR/unbound.conf" >>"$RES_DIR/unbound.out" 2>&1 &
UNBOUND_PID=$!; track "$UNBOUND_PID"

# --- BIND in front -------------------------------------------------------------------------------
NPORT=$(free_port)
cat >"$RES_DIR/named.conf" <<EOF
options {
	directory "$RES_DIR";
	pid-file "$RES_DIR/named.pid";
	session-keyfile "$RES_DIR/session.key";
	managed-keys-directory "$RES_DIR";
	listen-on port $NPORT { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion yes;
	allow-query { 127.0.0.0/8; };
	allow-recursion { 127.0.0.0/8; };
	forwarders { 127.0.0.1 port $BPORT; };
	forward only;
	dnssec-validation no;
	qname-minimization off;
	max-ncache-ttl 1;
	notify no;
};
controls { };
EOF
named -g -c "$RES_DIR/named.conf" >>"$RES_DIR/named.out" 2>&1 &
NAMED_PID=$!; track "$NAMED_PID"

resolver_up() { timeout 3 dig @127.0.0.1 -p "$1" +time=1 +tries=1 www.example.test A 2>/dev/null | grep -q 'status: NOERROR'; }
wait_for $((20 * SLOW)) resolver_up "$UPORT" || { rq "$UPORT" www.example.test | diag; tail -n 20 "$RES_DIR/unbound.out" "$RES_DIR/unbound.log" | diag; bail "unbound did not come up"; }
wait_for $((20 * SLOW)) resolver_up "$NPORT" || { tail -n 20 "$RES_DIR/named.out" | diag; bail "named did not come up"; }

# rq PORT NAME [TYPE]: a query through the resolver on PORT (recursion desired, as a stub asks).
rq() { timeout 5 dig @127.0.0.1 -p "$1" +time=2 +tries=1 +nocookie "$2" "${3:-A}" 2>/dev/null; }

for r in unbound:$UPORT bind:$NPORT; do
	name=${r%%:*} port=${r#*:}
	out=$(rq "$port" t.me)
	is "$(rcode "$out")" NXDOMAIN "$name in front: t.me is blocked (NXDOMAIN)"
	is "$(rcode "$(rq "$port" www.t.me)")" NXDOMAIN "$name in front: www.t.me, below it, too"
	is "$(rcode "$(rq "$port" venus.web.telegram.org AAAA)")" NXDOMAIN "$name in front: AAAA below a block"
	out=$(rq "$port" www.example.test)
	is "$(section "$out" ANSWER | awk '{print $5}')" 192.0.2.1 "$name in front: www.example.test relayed"
	out=$(rq "$port" alias.example.test)
	like "$(section "$out" ANSWER)" 'alias\.example\.test\. [0-9]+ IN CNAME www\.example\.test\.' \
		"$name in front: a CNAME relayed with its target"
	out=$(rq "$port" at.me)
	is "$(section "$out" ANSWER | awk '{print $5}')" 192.0.2.10 "$name in front: at.me (next to t.me) relayed"
	is "$(rcode "$(rq "$port" nothing.example.test)")" NXDOMAIN "$name in front: the zone's own NXDOMAIN relayed"
done

# Lift t.me: after the reload and the negative TTL, both resolvers resolve it.
set_enabled "$CFG" t.me false
kill -HUP "$T_BLOKIR_PID"
wait_log $((10 * SLOW)) 'reload: .*policy with 10 enabled entries' || diag "no reload line"
sleep 2
for r in unbound:$UPORT bind:$NPORT; do
	name=${r%%:*} port=${r#*:}
	lifted=1
	for ((i = 0; i < 30 * SLOW; i++)); do
		out=$(rq "$port" www.t.me)
		[ "$(section "$out" ANSWER | awk '{print $5}')" = 192.0.2.10 ] && { lifted=0; break; }
		sleep 0.2
	done
	ok $lifted "$name in front: the lift by SIGHUP is seen (www.t.me resolves to nsd's 192.0.2.10)"
	is "$(section "$(rq "$port" t.me)" ANSWER | awk '{print $5}')" 192.0.2.10 "$name in front: t.me itself too"
	is "$(rcode "$(rq "$port" telegram.org)")" NXDOMAIN "$name in front: the other entries still block"
done
stop_pid "$UNBOUND_PID" 10
stop_pid "$NAMED_PID" 10

# --- byte for byte against nsd ---------------------------------------------------------------------
"$PY" - "$NSD_PORT" "$BPORT" >"$RES_DIR/compare.out" 2>&1 <<'EOF'
import socket, struct, sys
import dns.flags, dns.message, dns.rdatatype

nsd, blokir = int(sys.argv[1]), int(sys.argv[2])
names = ["www.example.test", "WwW.ExAmPlE.TeSt", "example.test", "alias.example.test",
         "txt.example.test", "many.example.test", "big.example.test", "ns1.example.test",
         "nothing.example.test", "deep.nothing.example.test", "at.me", "x.at.me",
         "nottelegram.org", "ok.t.me", "exact.test", "www.exact.test"]
types = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "ANY", "SRV"]
variants = [("no EDNS", None, 0), ("EDNS 1232", 1232, 0), ("EDNS 4096 DO", 4096, dns.flags.DO),
            ("EDNS 512", 512, 0)]

def ask(port, wire):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    try:
        s.sendto(wire, ("127.0.0.1", port))
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()

def ask_tcp(port, wire):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    try:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
            chunk = s.recv(65535)
            if not chunk:
                return None
            buf += chunk
        return buf[2:]
    finally:
        s.close()

TC = 0x02  # in the third header byte

n = same = 0
qid = 1000
tcp_ref = []
for name in names:
    for t in types:
        for label, size, flags in variants:
            qid += 1
            q = dns.message.make_query(name, t, use_edns=size is not None,
                                       payload=size or 512, ednsflags=flags, want_dnssec=bool(flags))
            q.id = qid
            wire = q.to_wire()
            a, b = ask(nsd, wire), ask(blokir, wire)
            n += 1
            # nsd cuts UDP answers at its own limit (1232) with TC; blokir then fetches the answer
            # over TCP and, where the client's EDNS size allows, gives it whole: the reference for
            # that one is nsd's TCP answer.
            if a is not None and b is not None and a[2] & TC and not b[2] & TC:
                a = ask_tcp(nsd, wire)
                tcp_ref.append("%s %s %s" % (name, t, label))
            if a is not None and b is not None and a[2:] == b[2:] and a[:2] == b[:2]:
                same += 1
            else:
                print("DIFF %s %s %s: nsd %s, blokir %s" % (name, t, label,
                      a.hex() if a else None, b.hex() if b else None))
print("against nsd over TCP (nsd truncated, the client allowed more): " + ", ".join(tcp_ref))
print("compared %d same %d" % (n, same))
EOF
res=$(tail -n 1 "$RES_DIR/compare.out")
total=${res#compared }; total=${total%% *}
[ "${total:-0}" -ge 500 ] && [ "$res" = "compared $total same $total" ]
ok $? "$total questions straight at nsd and through blokir: the same answer bytes ($res)" ||
	head -n 20 "$RES_DIR/compare.out" | diag
stop_blokir
done_testing
