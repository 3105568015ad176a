#!/bin/bash
# 21-ratelimit: rate-limit-qps. A burst of 200 UDP queries from one address within a fraction of
# a second is mostly dropped (about the burst is answered, the rest counted as rate-limited);
# after a pause the client is served again; with rate-limit-tc the excess gets empty TC=1 answers
# instead, and dig retries them over TCP (never rate-limited) and gets the full answer.
. "$(dirname "$0")/lib.sh"

# burst N NAME: sends N queries from one UDP socket as fast as possible, collects answers for
# 1.5 s, prints "sent=N answered=N tc=N full=N" (full: with the A record of nsd's answer).
burst() {
	"$PY" - "$BPORT" "$1" "$2" <<'PYEOF'
import socket, sys, time, dns.message, dns.flags
port, n, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
ids = set()
for i in range(n):
    q = dns.message.make_query(name, "A", id=i)
    ids.add(i)
    s.sendto(q.to_wire(), ("127.0.0.1", port))
answered = tc = full = 0
deadline = time.time() + 1.5
while time.time() < deadline:
    s.settimeout(max(0.01, deadline - time.time()))
    try:
        data, _ = s.recvfrom(65535)
    except socket.timeout:
        break
    r = dns.message.from_wire(data)
    if r.id not in ids:
        continue
    ids.discard(r.id)
    answered += 1
    if r.flags & dns.flags.TC:
        tc += 1
    elif r.answer:
        full += 1
print("sent=%d answered=%d tc=%d full=%d" % (n, answered, tc, full))
PYEOF
}
val() { sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" <<<"$1"; }

# --- drop ------------------------------------------------------------------------------------------
# 5 qps, burst 10, two workers: each worker's bucket holds 5 and refills 3/s; one client socket
# is served by one worker (SO_REUSEPORT hashes the 4-tuple).
setup_std 'rate-limit-qps: 5' 'rate-limit-burst: 10'
sleep 2 # let the start-up probe's tokens come back
before=$(stat_val "$(stats)" rate-limited)
r=$(burst 200 www.example.test); diag "$r"
a=$(val "$r" answered)
[ "$a" -ge 3 ] && [ "$a" -le 15 ]; ok $? "200 queries in a burst at 5 qps, burst 10: 3..15 answered (got $a)"
is "$(val "$r" tc)" 0 "  ... no TC answers without rate-limit-tc"
[ "$(val "$r" full)" = "$a" ]; ok $? "  ... those answered carry nsd's answer"
after=$(stat_val "$(stats)" rate-limited)
[ -n "$after" ] && [ "$after" -ge $((${before:-0} + 200 - a)) ]
ok $? "rate-limited counted every dropped query (${before:-none} -> ${after:-none}, dropped $((200 - a)))"
out=$(q "$BPORT" www.t.me A +tcp)
is "$(rcode "$out")" NXDOMAIN "right after the burst, TCP is still served (not rate-limited)"
sleep 2
out=$(q "$BPORT" www.example.test A)
grep -q '192\.0\.2\.1$' <<<"$(section "$out" ANSWER)"; ok $? "after a 2 s pause: answered again"
r=$(burst 20 www.t.me); a=$(val "$r" answered)
[ "$a" -le 15 ]; ok $? "blocked names are limited as well ($a of 20 answered)"
stop_blokir

# --- TC ----------------------------------------------------------------------------------------------
# Re-use nsd; a fresh blokir with rate-limit-tc.
BPORT=$(free_port)
CFG="$T_TMP/policy-tc.yaml"
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" 'rate-limit-qps: 5' 'rate-limit-burst: 10' \
	'rate-limit-tc: true'
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
sleep 2
before=$(stat_val "$(stats)" rate-limited)
r=$(burst 200 www.example.test); diag "$r"
a=$(val "$r" answered); t=$(val "$r" tc); f=$(val "$r" full)
[ "$a" -ge 190 ]; ok $? "rate-limit-tc: (nearly) every query answered ($a of 200)"
[ "$t" -ge 170 ]; ok $? "  ... most with TC=1 ($t)"
[ "$f" -ge 3 ] && [ "$f" -le 15 ]; ok $? "  ... 3..15 with the real answer ($f)"
after=$(stat_val "$(stats)" rate-limited)
[ -n "$after" ] && [ "$after" -ge $((${before:-0} + t)) ]
ok $? "  ... rate-limited counts the TC answers (${before:-none} -> ${after:-none})"
# dig follows TC=1 with a TCP retry: the client ends up with the answer.
"$PY" - "$BPORT" <<'PYEOF' >/dev/null
import socket, sys, dns.message
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(50):
    s.sendto(dns.message.make_query("www.example.test", "A").to_wire(), ("127.0.0.1", int(sys.argv[1])))
PYEOF
out=$(q "$BPORT" www.example.test A)
grep -q '192\.0\.2\.1$' <<<"$(section "$out" ANSWER)"; ok $? "  ... dig (retrying over TCP after TC) gets the answer" || diag "$out"
stop_blokir
done_testing
