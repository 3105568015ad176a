#!/bin/bash
# 24-slowloris: tcp-read-timeout-ms. With a 1 s message deadline and a 20 s idle timeout, TCP
# clients trickling a query one byte every 300 ms are disconnected after about 1 s (counted as
# tcp-slow-closed), while an idle connection stays open, a message sent in two halves 400 ms
# apart is answered, and other clients (UDP and TCP) are served throughout.
. "$(dirname "$0")/lib.sh"

setup_std 'tcp-read-timeout-ms: 1000' 'tcp-idle-timeout-ms: 20000'
before=$(stat_val "$(stats)" tcp-slow-closed)

# Twenty tricklers and one idle connection, in the background; their results go to a file.
"$PY" - "$BPORT" >"$T_TMP/slow.out" 2>&1 <<'PYEOF' &
import socket, struct, sys, threading, time, dns.message
port = int(sys.argv[1])
res = {}
lock = threading.Lock()

def trickle(n):
    q = dns.message.make_query("www.example.test", "A").to_wire()
    data = struct.pack("!H", len(q)) + q
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.time()
    how = "still-open"
    try:
        for b in data:
            s.send(bytes([b]))
            s.settimeout(0.3)
            try:
                if s.recv(1) == b"":
                    how = "closed"
                    break
            except socket.timeout:
                pass
    except (ConnectionResetError, BrokenPipeError):
        how = "closed"
    with lock:
        res[n] = (how, time.time() - t0)
    s.close()

def idle():
    s = socket.create_connection(("127.0.0.1", port), timeout=4)
    t0 = time.time()
    try:
        how = "closed" if s.recv(1) == b"" else "data"
    except socket.timeout:
        how = "still-open"
    except ConnectionResetError:
        how = "closed"
    with lock:
        res["idle"] = (how, time.time() - t0)

ts = [threading.Thread(target=trickle, args=(n,)) for n in range(20)] + [threading.Thread(target=idle)]
for t in ts: t.start()
for t in ts: t.join()
for k, (how, el) in sorted(res.items(), key=lambda kv: str(kv[0])):
    print("%s %s %.2f" % (k, how, el))
PYEOF
SLOWPID=$!
track "$SLOWPID"

# Meanwhile: a query in two halves, 400 ms apart (inside the deadline), and normal clients.
sleep 0.2
halves=$("$PY" - "$BPORT" <<'PYEOF'
import socket, struct, sys, time, dns.message
q = dns.message.make_query("www.t.me", "A")
w = q.to_wire(); data = struct.pack("!H", len(w)) + w
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(data[:7]); time.sleep(0.4); s.sendall(data[7:])
hdr = s.recv(2)
print("answered" if len(hdr) == 2 else "closed")
PYEOF
)
is "$halves" answered "a query in two halves 400 ms apart: answered"
served=0
for i in 1 2 3 4 5; do
	a=$(q "$BPORT" www.example.test A); b=$(q "$BPORT" www.t.me A +tcp)
	grep -q '192\.0\.2\.1$' <<<"$(section "$a" ANSWER)" && [ "$(rcode "$b")" = NXDOMAIN ] &&
		served=$((served + 1))
	sleep 0.2
done
is "$served" 5 "while 20 clients trickle: UDP and TCP clients served (5 of 5 rounds)"

wait_for 15 bash -c "! kill -0 $SLOWPID 2>/dev/null"; ok $? "the trickling clients finished"
diag <"$T_TMP/slow.out"
closed=$(awk '$1 ~ /^[0-9]+$/ && $2 == "closed" && $3 >= 0.8 && $3 <= 2.0' "$T_TMP/slow.out" | wc -l)
is "$closed" 20 "20 tricklers (1 byte / 300 ms): each disconnected after 0.8..2.0 s"
like "$(grep '^idle ' "$T_TMP/slow.out")" '^idle still-open' \
	"an idle connection is not cut by the read deadline (idle timeout 20 s)"
after=$(stat_val "$(stats)" tcp-slow-closed)
[ -n "$after" ] && [ "$after" -ge $((${before:-0} + 20)) ]
ok $? "tcp-slow-closed counted (${before:-none} -> ${after:-none})"
out=$(q "$BPORT" www.t.me A +tcp)
is "$(rcode "$out")" NXDOMAIN "TCP still served afterwards"
stop_blokir
done_testing
