#!/bin/bash
# 06-hostile: malformed and unusual queries. Fewer than 12 bytes and QR=1 are dropped silently;
# QDCOUNT 0 or 2 and two OPT records get FORMERR; NOTIFY/STATUS get NOTIMP; EDNS version 1 gets
# BADVERS; random packets and broken TCP framing never stop the daemon from answering.
. "$(dirname "$0")/lib.sh"

setup_std

hostile() { "$PY" "$DNSPY" hostile --port "$BPORT" "$@" 2>&1; }

works() { # DESCRIPTION: blocked and forwarded names still answered correctly
	local a b
	a=$(q "$BPORT" www.t.me A); b=$(q "$BPORT" www.example.test A)
	if [ "$(rcode "$a")" = NXDOMAIN ] && grep -q '192\.0\.2\.1$' <<<"$(section "$b" ANSWER)" &&
		alive "$T_BLOKIR_PID"; then pass "$1"; else
		fail "$1"; diag "$a" "$b"
	fi
}

for t in udp tcp; do
	o=(); [ $t = tcp ] && o=(--tcp)
	[ $t = udp ] && is "$(hostile --case short "${o[@]}")" noanswer "$t: 11 random bytes: no answer"
	[ $t = udp ] && is "$(hostile --case qr1 "${o[@]}")" noanswer "$t: QR=1: no answer (no reflection)"
	like "$(hostile --case qd0 "${o[@]}")" '^answer rcode=FORMERR ' "$t: QDCOUNT=0: FORMERR"
	like "$(hostile --case header-only "${o[@]}")" '^answer rcode=FORMERR ' "$t: QDCOUNT=1 but no question: FORMERR"
	like "$(hostile --case qd2 "${o[@]}")" '^answer rcode=FORMERR ' "$t: QDCOUNT=2: FORMERR"
	like "$(hostile --case twoopt "${o[@]}")" '^answer rcode=FORMERR ' "$t: two OPT records: FORMERR"
	like "$(hostile --case notify "${o[@]}")" '^answer rcode=NOTIMP .*opcode=NOTIFY' "$t: opcode NOTIFY: NOTIMP"
	like "$(hostile --case status "${o[@]}")" '^answer rcode=NOTIMP .*opcode=STATUS' "$t: opcode STATUS: NOTIMP"
	like "$(hostile --case ednsv1 "${o[@]}")" '^answer rcode=BADVERS .*opt=0' "$t: EDNS version 1: BADVERS with an OPT of version 0"
	works "$t: still answering after the malformed queries"
done

out=$(q "$BPORT" www.example.test A +edns=1 +noednsnegotiation)
like "$out" 'status: BADVERS' "dig +edns=1: BADVERS"
like "$out" '; EDNS: version: 0,' "  ... the answer's OPT is version 0"
out=$(q "$BPORT" t.me A +edns=1 +noednsnegotiation)
like "$out" 'status: BADVERS' "dig +edns=1 for a blocked name: BADVERS as well"

# Answers to bad queries are never amplified into something large, and QR=1 packets that look like
# answers to blokir's own upstream queries (sent to the client port) are ignored: covered above.

# --- a storm of random packets, UDP and TCP ------------------------------------------------------
"$PY" - "$BPORT" <<'PYEOF'
import os, random, socket, struct, sys, time
port = int(sys.argv[1])
random.seed(2017)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
base = bytes.fromhex("1234010000010000000000010377777707657861"
                     "6d706c6504746573740000010001000029100000000000000000")
t0 = time.time()
for i in range(3000):
    if i % 3 == 0:
        p = os.urandom(random.randrange(0, 600))
    else:  # mutate a valid query with an OPT record
        p = bytearray(base)
        for _ in range(random.randrange(1, 6)):
            p[random.randrange(len(p))] = random.randrange(256)
        p = bytes(p[: random.randrange(1, len(p) + 1)]) if i % 5 == 0 else bytes(p)
    u.sendto(p, ("127.0.0.1", port))
    if i % 200 == 0:
        time.sleep(0.01)
for i in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.sendall(os.urandom(random.randrange(1, 300)))
        s.close()
    except OSError:
        pass
print("# storm sent in %.1fs" % (time.time() - t0))
PYEOF
sleep 0.5
works "3000 random/mutated UDP packets and 100 random TCP streams: still answering"

# --- TCP framing abuse ------------------------------------------------------------------------------
for c in badlen midframe short-frame; do
	"$PY" "$DNSPY" tcp-junk --port "$BPORT" --case "$c" >/dev/null 2>&1
done
out=$(q "$BPORT" www.t.me A +tcp)
is "$(rcode "$out")" NXDOMAIN "TCP: zero and huge length prefixes, a connection closed mid-frame: TCP still served"
works "  ... and UDP"

s=$(stats)
like "$s" 'stats: .*queries=[0-9]+' "stats line after the hostile traffic" || diag "$s"
stop_blokir
done_testing
