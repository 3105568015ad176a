#!/bin/bash
# 29-tcp-full: a client asking over TCP gets what the upstream gives over TCP.
#
# nsd shrinks a UDP answer to the client's EDNS size (512 bytes without EDNS) by dropping
# additional records *without* TC, so an answer fetched over UDP for a TCP client would be
# silently incomplete. A zone with 12 MX hosts and their A/AAAA: `dig +tcp +noedns r.test MX`
# through blokir must equal the same query straight at nsd (25 additional records), and so for
# EDNS clients; UDP clients still get what nsd gives them over UDP. A 65,535-byte query over TCP
# (it cannot go over UDP at all) gets nsd's answer at once rather than SERVFAIL after the timeout.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T_TMP/nsd"
{
	printf '$ORIGIN r.test.\n$TTL 600\n'
	printf '@\tIN SOA\tns hostmaster 1 7200 3600 1209600 300\n@\tIN NS\tns\nns\tIN A\t192.0.2.1\n'
	for i in $(seq 1 12); do
		printf '@\tIN MX\t10 mail-exchanger-%02d\n' "$i"
		printf 'mail-exchanger-%02d\tIN A\t198.51.100.%d\n' "$i" "$i"
		printf 'mail-exchanger-%02d\tIN AAAA\t2001:db8::%x\n' "$i" "$i"
	done
} >"$T_TMP/nsd/r.test.zone"
NSD_EXTRA_ZONES="r.test" setup_std

# count DIG-OUTPUT SECTION: the section count from dig's header line.
count() { sed -n "s/.*$2: \([0-9]*\).*/\1/p" <<<"$1" | head -n1; }
size() { sed -n 's/^;; MSG SIZE  rcvd: \([0-9]*\)/\1/p' <<<"$1"; }
# body DIG-OUTPUT: everything that must be equal between nsd's answer and blokir's relay (the
# records without their TTLs, which a cached answer counts down).
body() {
	echo "status=$(rcode "$1") flags=$(flags "$1") an=$(count "$1" ANSWER) ns=$(count "$1" AUTHORITY) ar=$(count "$1" ADDITIONAL) size=$(size "$1")"
	{ section "$1" ANSWER; section "$1" AUTHORITY; section "$1" ADDITIONAL; } | awk '{ $2 = ""; print }'
}

check() { # DESCRIPTION DIG-OPTIONS...
	local desc=$1; shift
	local want got
	want=$(qnsd r.test MX "$@")
	got=$(q "$BPORT" r.test MX "$@")
	if [ "$(body "$got")" == "$(body "$want")" ]; then pass "$desc ($(count "$want" ADDITIONAL) additional, $(size "$want") bytes)"; else
		fail "$desc"
		diag "nsd:    $(body "$want" | head -n1)" "blokir: $(body "$got" | head -n1)"
	fi
}

direct=$(qnsd r.test MX +tcp +noedns)
is "$(count "$direct" ADDITIONAL)" 25 "nsd itself gives 25 additional records over TCP without EDNS"
check "dig +tcp +noedns r.test MX: blokir relays nsd's whole TCP answer" +tcp +noedns
check "dig +tcp (EDNS 1232): the same as nsd over TCP" +tcp +bufsize=1232
check "dig +tcp +bufsize=512: the same as nsd over TCP" +tcp +bufsize=512
check "dig +notcp +noedns: a UDP client gets nsd's UDP answer (fewer additional, no TC)" +notcp +noedns
check "dig +notcp +bufsize=1232: a UDP client gets nsd's UDP answer" +notcp +bufsize=1232
check "dig +notcp +bufsize=4096: a UDP client gets nsd's UDP answer" +notcp +bufsize=4096

# The largest query TCP can frame: r.test MX with an EDNS padding option filling 65,535 bytes.
bigq() { # PORT: prints "rcode=R an=N ar=N secs=S" or "none secs=S"
	"$PY" - "$1" <<'EOF'
import socket, struct, sys, time
import dns.edns, dns.message
port = int(sys.argv[1])
q = dns.message.make_query("r.test.", "MX", use_edns=0, payload=1232)
q.id = 4242
base = len(q.to_wire())
q.use_edns(0, payload=1232, options=[dns.edns.GenericOption(12, b"\0" * (65535 - base - 4))])
w = q.to_wire(max_size=65535)
assert len(w) == 65535, len(w)
s = socket.create_connection(("127.0.0.1", port), timeout=6)
t = time.time()
s.sendall(struct.pack("!H", len(w)) + w)
def exact(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b
try:
    h = exact(2)
    a = exact(struct.unpack("!H", h)[0]) if h else None
except OSError:
    a = None
secs = time.time() - t
if a is None:
    print("none secs=%.2f" % secs)
else:
    m = dns.message.from_wire(a)
    print("rcode=%s an=%d ar=%d secs=%.2f" % (dns.rcode.to_text(m.rcode()), len(m.answer[0]) if m.answer else 0, sum(len(r) for r in m.additional), secs))
EOF
}
want=$(bigq "$NSD_PORT")
like "$want" '^rcode=' "nsd answers a 65,535-byte query over TCP ($want)"
got=$(bigq "$BPORT")
is "${got% secs=*}" "${want% secs=*}" "  ... and through blokir the client gets that answer ($got)"
secs=${got#* secs=}
ok $(awk -v s="$secs" 'BEGIN { exit !(s < 1.0) }'; echo $?) "  ... at once, not after the upstream timeout (${secs} s)"
stop_blokir

# With the cache on, an answer fetched for a UDP client (cut to 512 bytes by nsd) is not what a
# TCP client gets: the size a client takes is part of the cache key.
BPORT=$(free_port)
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" "cache-size: 1000"
sed -i 's/^workers: 2$/workers: 1/' "$CFG"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
for i in 1 2; do q "$BPORT" r.test MX +notcp +noedns >/dev/null; done
check "cache on, after UDP +noedns queries: dig +tcp +noedns still gets nsd's TCP answer" +tcp +noedns
check "  ... and dig +notcp +noedns nsd's UDP answer" +notcp +noedns
hits=$(stat_val "$(stats)" cache-hits)
ok $([ "$hits" -ge 2 ]; echo $?) "  ... from the cache ($hits hits)"
stop_blokir
done_testing
