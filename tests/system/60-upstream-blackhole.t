#!/bin/bash
# 60-upstream-blackhole: an upstream that reads every query and never answers, under a flood of
# unique forwarded names (issue 12). One worker, one upstream and room for 200,000 queries in
# flight, so the flood piles up in the upstream's 65,536-entry ID space: blokir must keep
# answering blocked names, turn what does not fit into SERVFAIL (inflight-full) at once instead
# of spinning for a free ID, and still stop on SIGTERM. The old code drew random IDs for good once
# all 65,536 were taken: the worker hung at 100% CPU and answered nothing.
. "$(dirname "$0")/lib.sh"

start_fake silent || bail "fakeupstream did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
write_policy "$CFG" "$BPORT" "127.0.0.1:$FAKE_PORT" "max-inflight: 200000" "upstream-sockets: 1"
sed -i 's/^workers: .*/workers: 1/; s/^upstream-timeout-ms: .*/upstream-timeout-ms: 4000/' "$CFG"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

# 100,000 unique names, paced in bursts so the kernel's receive queue does not drop most of
# them; prints how many SERVFAIL answers came back while sending (those over the cap).
flood_out=$(timeout 60 "$PY" - "$BPORT" 100000 <<'PYEOF'
import socket, struct, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.setblocking(False)
servfail = 0
def drain():
    global servfail
    while True:
        try:
            a = s.recv(4096)
        except BlockingIOError:
            return
        if len(a) >= 4 and a[3] & 0x0f == 2:
            servfail += 1
def qname(i):
    return b"".join(bytes([len(l)]) + l for l in (b"n%d" % i, b"flood", b"example", b"test")) + b"\0"
for i in range(count):
    pkt = struct.pack("!HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0) + qname(i) + struct.pack("!HH", 1, 1)
    while True:
        try:
            s.sendto(pkt, ("127.0.0.1", port))
            break
        except BlockingIOError:
            time.sleep(0.001)
    if i % 500 == 499:
        drain()
        time.sleep(0.004)
end = time.time() + 1
while time.time() < end:
    drain()
    time.sleep(0.05)
print(servfail)
PYEOF
)
diag "flood: $flood_out SERVFAIL answers came back while sending"

# A blocked name right after the flood, while ~80,000 queries wait on the upstream.
out=$(timeout 10 dig @127.0.0.1 -p "$BPORT" +time=2 +tries=1 +nocookie www.t.me A 2>&1)
is "$(rcode "$out")" NXDOMAIN "blocked names are still answered with the upstream's ID space full"
s=$(stats)
diag "$s"
fwd=$(stat_val "$s" forwarded); full=$(stat_val "$s" inflight-full)
[ -n "$full" ] && [ "$full" -gt 0 ]
ok $? "queries past the ID space are refused at once (inflight-full=$full)"
[ -n "$fwd" ] && [ "$fwd" -ge 61440 ]
ok $? "forwarded up to the cap (forwarded=$fwd)"
[ "${flood_out:-0}" -gt 0 ]
ok $? "the client got SERVFAIL for those, not silence ($flood_out)"
# At once when the sockets are still full, else after the 4 s upstream timeout.
out=$(timeout 15 dig @127.0.0.1 -p "$BPORT" +time=8 +tries=1 +nocookie www.example.test A 2>&1)
like "$(rcode "$out")" 'SERVFAIL' "a forwarded name gets SERVFAIL (the upstream is a black hole)"
stop_blokir "blokir stops on SIGTERM with exit status 0 (the worker is not spinning)"
stop_pid "$FAKE_PID" 3
done_testing
