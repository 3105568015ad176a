#!/bin/bash
# 30-source-ports: source-port entropy toward the upstream, as a loopback upstream sees it.
#
# An off-path attacker forging an answer must guess the query ID and the source port. With the
# default settings, 200 sequential forwarded queries must leave from at least 50 distinct ports,
# and after watching a burst of queries one cannot predict the port of the next burst (it is
# drawn afresh each time, not the one the last burst used or the next one in a fixed cycle).
. "$(dirname "$0")/lib.sh"

start_fake good || bail "fake good"
BPORT=$(free_port)
CFG="$T_TMP/ports.yaml"
cat >"$CFG" <<EOF
listen: ["127.0.0.1:$BPORT"]
upstreams: ["127.0.0.1:$FAKE_PORT"]
workers: 1
upstream-timeout-ms: 1500
domains:
  - name: t.me
EOF
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

# client: 200 sequential queries (each waits for its answer), then 40 bursts of 16 queries sent
# back to back (each burst waits for all its answers). Prints how many were answered.
"$PY" - "$BPORT" >"$T_TMP/client.out" 2>&1 <<'EOF'
import socket, sys
import dns.message
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
def ask(names):
    ids = {}
    for n in names:
        q = dns.message.make_query(n, "A")
        ids[q.id] = n
        s.sendto(q.to_wire(), ("127.0.0.1", port))
    got = 0
    try:
        while got < len(names):
            a = dns.message.from_wire(s.recvfrom(65535)[0])
            got += a.id in ids
    except socket.timeout:
        pass
    return got
seq = sum(ask(["s%d.ports.test." % i]) for i in range(200))
burst = sum(ask(["b%d-%d.ports.test." % (i, j) for j in range(16)]) for i in range(40))
print("seq=%d burst=%d" % (seq, burst))
EOF
is "$(cat "$T_TMP/client.out")" "seq=200 burst=640" "every query was answered"

ports_of() { sed -n "s/^udp .*name=$1 .* sport=\([0-9]*\) .*/\1/p" "$FAKE_LOG"; }
n=$(ports_of 's[0-9]*\.ports\.test\.' | sort -u | wc -l)
ok $([ "$n" -ge 50 ]; echo $?) "200 sequential queries left from at least 50 distinct source ports ($n)"

# For each burst after the first: could its first port be predicted from what came before? Two
# predictors, each of which a rotation through a fixed set of sockets satisfies: the port the
# previous burst ended on (the same run goes on), and the port that followed that one the last
# time the port changed (the next socket in the cycle). With a port drawn at random per batch from
# a large pool either holds a few times in 40, however the bursts are split into batches.
predicted=$("$PY" - "$FAKE_LOG" <<'PYEOF'
import re, sys
seq = []
for line in open(sys.argv[1]):
    m = re.match(r"udp .*name=b(\d+)-\d+\.ports\.test\. .* sport=(\d+) ", line)
    if m:
        seq.append((int(m.group(1)), int(m.group(2))))
nextof, hits, prev_burst, last = {}, 0, None, None
for burst, port in seq:
    if burst != prev_burst and last is not None and port in (last, nextof.get(last)):
        hits += 1
    if last is not None and port != last:
        nextof[last] = port
    prev_burst, last = burst, port
print(hits)
PYEOF
)
ok $([ "$predicted" -le 8 ]; echo $?) \
	"a burst's first port is not predicted by the ports before it (predicted $predicted of 39)"
bursts_ports=$(ports_of 'b[0-9]*-[0-9]*\.ports\.test\.' | sort -u | wc -l)
diag "bursts used $bursts_ports distinct ports in all"
stop_blokir
done_testing
