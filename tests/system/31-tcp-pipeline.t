#!/bin/bash
# 31-tcp-pipeline: a TCP client that pipelines many queries with big answers and reads only
# later (issue 12). blokir stops reading a client whose unread answers pass 256 KiB, with whole
# queries still in its input buffer; when the client reads and the output drains, those queries
# must be answered (the old code only re-armed reading, and as no new byte came, they waited
# for the idle timeout and were lost). Here: 2,000 queries for a name whose redirect has 100
# addresses (~1.6 kB answers), the client reads after 1 s: every query gets its answer. The
# same once more with the client's sending side shut down after the last query.
. "$(dirname "$0")/lib.sh"

addrs=$(for i in $(seq 1 100); do printf '198.51.100.%d, ' "$i"; done)
EXTRA_DOMAINS="  - name: big.blocked.test
    action: redirect
    redirect: { a: [${addrs%, }] }"
setup_std

pipeline() { # COUNT HALF-CLOSE(0|1): prints the number of answers read back
	timeout 60 "$PY" - "$BPORT" "$1" "$2" <<'PYEOF'
import socket, struct, sys, time
port, count, half = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
name = b"".join(bytes([len(l)]) + l for l in (b"big", b"blocked", b"test")) + b"\0"
s = socket.create_connection(("127.0.0.1", port))
buf = b""
for i in range(count):
    q = struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", 1, 1)
    buf += struct.pack("!H", len(q)) + q
s.sendall(buf)
if half:
    s.shutdown(socket.SHUT_WR)
time.sleep(1)
s.settimeout(5)
got, data, ids = 0, b"", set()
try:
    while got < count:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        data += chunk
        while len(data) >= 2:
            n = struct.unpack("!H", data[:2])[0]
            if len(data) < 2 + n:
                break
            ids.add(struct.unpack("!H", data[2:4])[0])
            data = data[2 + n:]
            got += 1
except socket.timeout:
    pass
print(len(ids))
PYEOF
}

n=$(pipeline 2000 0)
is "$n" 2000 "2,000 pipelined queries with 1.6 kB answers, read after 1 s: all answered"
n=$(pipeline 2000 1)
is "$n" 2000 "the same with the sending side shut down after the last query: all answered"
out=$(q "$BPORT" www.t.me A +tcp)
is "$(rcode "$out")" NXDOMAIN "blokir still answers over TCP"
stop_blokir
done_testing
