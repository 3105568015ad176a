#!/bin/bash
# 03-forward: forwarding is transparent. Allowed names get exactly the upstream's answer (every
# section, flags including AA, EDNS, message size; only the ID line and timings differ) over UDP
# and TCP, with +cd, +nord, +dnssec and EDNS options passed through; the query reaches the upstream
# as the client sent it; big answers: TC to a 512-byte client and dig's TCP retry gets it all,
# and a 4096-byte client gets the whole answer over UDP after blokir retried upstream over TCP.
. "$(dirname "$0")/lib.sh"

setup_std

# norm DIG-OUTPUT: dig's output without what legitimately differs between two servers (the ID,
# timing, server address lines) and with whitespace squeezed.
norm() {
	sed -E '/^; <<>> DiG/d; /^;; global options/d; /^; \(1 server found\)/d; /^;; Query time/d;
		/^;; SERVER:/d; /^;; WHEN:/d; s/id: [0-9]+/id: X/; s/[[:space:]]+/ /g' <<<"$1"
}

# same_as_nsd DESCRIPTION NAME TYPE [dig options...]: blokir's answer equals nsd's.
same_as_nsd() {
	local desc=$1; shift
	local a b
	a=$(q "$BPORT" "$@"); b=$(qnsd "$@")
	if [ "$(rcode "$a")" != none ] && [ "$(norm "$a")" == "$(norm "$b")" ]; then pass "$desc"; else
		fail "$desc"
		diag "diff (- nsd directly, + through blokir):"
		diff <(norm "$b") <(norm "$a") | diag
	fi
}

for t in udp tcp; do
	o=(); [ $t = tcp ] && o=(+tcp)
	same_as_nsd "$t: www.example.test A identical to nsd's answer (AA kept)" www.example.test A "${o[@]}"
	same_as_nsd "$t: www.example.test AAAA identical" www.example.test AAAA "${o[@]}"
	same_as_nsd "$t: alias.example.test A (CNAME chain) identical" alias.example.test A "${o[@]}"
	same_as_nsd "$t: txt.example.test TXT identical" txt.example.test TXT "${o[@]}"
	same_as_nsd "$t: example.test SOA identical" example.test SOA "${o[@]}"
	same_as_nsd "$t: example.test NS identical" example.test NS "${o[@]}"
	same_as_nsd "$t: missing.example.test NXDOMAIN (nsd's own SOA) identical" missing.example.test A "${o[@]}"
	same_as_nsd "$t: www.example.test MX (NODATA) identical" www.example.test MX "${o[@]}"
	same_as_nsd "$t: many.example.test A (60 records, ~1 kB) identical" many.example.test A "${o[@]}"
	same_as_nsd "$t: +cd passed through" www.example.test A +cd "${o[@]}"
	same_as_nsd "$t: +nord passed through (RD clear in the answer)" www.example.test A +nord "${o[@]}"
	same_as_nsd "$t: +dnssec passed through" www.example.test A +dnssec "${o[@]}"
	same_as_nsd "$t: +noedns passed through (no OPT)" www.example.test A +noedns "${o[@]}"
	same_as_nsd "$t: +adflag passed through" www.example.test A +adflag "${o[@]}"
	same_as_nsd "$t: an outside zone (nsd's REFUSED) relayed as is" www.elsewhere.invalid A "${o[@]}"
	same_as_nsd "$t: mixed-case question relayed as is" WwW.ExAmPlE.TeSt A "${o[@]}"
done

out=$(q "$BPORT" www.example.test A)
like "$(flags "$out")" '^qr aa rd$' "AA from the authoritative upstream comes through, RA not invented"

# --- big answers ------------------------------------------------------------------------------------
out=$(q "$BPORT" big.example.test TXT +noedns +ignore)
like "$(flags "$out")" '\btc\b' "big TXT over UDP without EDNS: TC=1 (512-byte client)"
msgsize=$(sed -n 's/^;; MSG SIZE  rcvd: //p' <<<"$out")
[ -n "$msgsize" ] && [ "$msgsize" -le 512 ]; ok $? "  ... and the truncated answer fits 512 bytes ($msgsize)"
out=$(q "$BPORT" big.example.test TXT +noedns)
like "$out" 'Truncated, retrying in TCP mode' "  ... dig retries over TCP by itself"
is "$(section "$out" ANSWER | grep -c ' IN TXT ')" 30 "  ... and then gets all 30 TXT records"
is "$(rcode "$out")" NOERROR "  ... NOERROR"

out=$(q "$BPORT" big.example.test TXT +bufsize=4096 +ignore)
is "$(section "$out" ANSWER | grep -c ' IN TXT ')" 30 \
	"big TXT over UDP with +bufsize=4096: all 30 records in one UDP answer (nsd truncated at 1232, blokir retried over TCP)"
unlike "$(flags "$out")" '\btc\b' "  ... and TC is clear"
like "$(flags "$out")" '\baa\b' "  ... and AA from nsd is kept"
out=$(q "$BPORT" big.example.test TXT +bufsize=1232 +ignore)
like "$(flags "$out")" '\btc\b' "big TXT over UDP with +bufsize=1232: TC=1"
msgsize=$(sed -n 's/^;; MSG SIZE  rcvd: //p' <<<"$out")
[ -n "$msgsize" ] && [ "$msgsize" -le 1232 ]; ok $? "  ... and the answer fits 1232 bytes ($msgsize)"
same_as_nsd "big TXT over TCP: identical to nsd's" big.example.test TXT +tcp

# --- what the upstream sees: the query as the client sent it, and nothing else --------------------
start_fake good || bail "fakeupstream did not start"
P2=$(free_port)
write_policy "$T_TMP/fake.yaml" "$P2" "127.0.0.1:$FAKE_PORT"
T_MAIN=$T_BLOKIR_PID
start_blokir "$T_TMP/fake.yaml" "$P2" || bail "second blokir did not start"
: >"$FAKE_LOG"
sleep 1
is "$(wc -l <"$FAKE_LOG")" 0 "no query of its own reaches the upstream (no health checks)"

q "$P2" plain.example.test A +nord +noedns >/dev/null
line=$(grep 'name=plain.example.test.' "$FAKE_LOG")
like "$line" 'flags=- edns=-1$|flags=AD edns=-1$' "+nord +noedns: upstream sees RD=0 and no OPT" 
q "$P2" cd.example.test A +cd +dnssec +bufsize=3000 >/dev/null
line=$(grep 'name=cd.example.test.' "$FAKE_LOG")
like "$line" 'flags=[A-Z,]*CD' "+cd: upstream sees CD"
like "$line" 'flags=[A-Z,]*RD' "  ... and RD"
like "$line" 'edns=0 do=1 bufsize=3000' "+dnssec +bufsize=3000: upstream sees DO and the client's size"
q "$P2" opt.example.test A +ednsopt=65001:0102030405 +tcp >/dev/null
line=$(grep 'name=opt.example.test.' "$FAKE_LOG")
like "$line" 'opts=65001$' "an EDNS option (65001) is passed to the upstream"
q "$P2" Case.Example.TEST A >/dev/null
like "$(cat "$FAKE_LOG")" 'name=Case\.Example\.TEST\.' "the question's case reaches the upstream as sent"
is "$(wc -l <"$FAKE_LOG")" 4 "exactly one upstream query per client query (4)"
ids=$(sed -n 's/.* id=\([0-9]*\) .*/\1/p' "$FAKE_LOG" | sort -u | wc -l)
is "$ids" 4 "each upstream query has its own ID"
out=$("$PY" - "$P2" <<'PYEOF' 2>&1
import socket, sys
import dns.message
q = dns.message.make_query("fixed-id.example.test.", "A", id=4660)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(q.to_wire(), ("127.0.0.1", int(sys.argv[1])))
r = dns.message.from_wire(s.recv(65535))
print("client-id=%d" % r.id)
PYEOF
)
is "$out" "client-id=4660" "the client's query ID is restored in the answer"
up=$(sed -n 's/^udp id=\([0-9]*\) name=fixed-id\.example\.test\. .*/\1/p' "$FAKE_LOG")
[ -n "$up" ] && [ "$up" != 4660 ]; ok $? "  ... while upstream saw a fresh ID (${up:-none}, not 4660)"
stop_blokir "second blokir stops with exit status 0"
T_BLOKIR_PID=$T_MAIN
stop_blokir

done_testing
