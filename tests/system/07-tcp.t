#!/bin/bash
# 07-tcp: RFC 7766 behaviour. Several queries written at once on one connection all get answers
# with matching IDs (blocked and forwarded mixed); an idle connection is closed after
# tcp-idle-timeout-ms; both transports work on an IPv6 listen address ([::1]) too.
. "$(dirname "$0")/lib.sh"

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
if have_ipv6; then V6=1; LISTEN6=", \"[::1]:$BPORT\""; else V6=0; LISTEN6=""; fi
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" 'tcp-idle-timeout-ms: 1000'
sed -i "s/^listen: .*/listen: [\"127.0.0.1:$BPORT\"$LISTEN6]/" "$CFG"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

# --- pipelining ------------------------------------------------------------------------------------
Q="www.t.me/A,www.example.test/A,telegram.org/AAAA,big.example.test/TXT,missing.example.test/A"
Q="$Q,alias.example.test/A,x.flora-1.web.telegram.org/A,many.example.test/A,www.at.me/A,core.telegram.org/TXT"
out=$(timeout $((10 * SLOW)) "$PY" "$DNSPY" pipeline --port "$BPORT" --queries "$Q" --timeout $((5 * SLOW)) 2>&1)
is "$(tail -n 1 <<<"$out")" "got=10 of=10" "10 pipelined queries on one connection: 10 answers" || diag "$out"
is "$(grep -c 'match=yes' <<<"$out")" 10 "  ... each answer's ID and question match a query" || diag "$out"
expect() { # NAME RCODE
	like "$out" "^answer id=[0-9]+ name=$1\. rcode=$2 " "  ... $1: $2"
}
expect 'www\.t\.me' NXDOMAIN
expect 'www\.example\.test' NOERROR
expect 'telegram\.org' NXDOMAIN
expect 'big\.example\.test' NOERROR
expect 'missing\.example\.test' NXDOMAIN
expect 'x\.flora-1\.web\.telegram\.org' NXDOMAIN
expect 'www\.at\.me' NOERROR
like "$out" 'name=big\.example\.test\. rcode=NOERROR an=1 ' "  ... the big TXT answer arrives whole over TCP"

# Fifty on one connection, all forwarded, then all blocked.
Q=$(for i in $(seq 1 50); do printf 'n%d.example.test/A,' "$i"; done); Q=${Q%,}
out=$(timeout $((15 * SLOW)) "$PY" "$DNSPY" pipeline --port "$BPORT" --queries "$Q" --timeout $((5 * SLOW)) 2>&1)
is "$(tail -n 1 <<<"$out")" "got=50 of=50" "50 pipelined forwarded queries: 50 answers" || diag "$out"
Q=$(for i in $(seq 1 50); do printf 'n%d.t.me/A,' "$i"; done); Q=${Q%,}
out=$(timeout $((15 * SLOW)) "$PY" "$DNSPY" pipeline --port "$BPORT" --queries "$Q" --timeout $((5 * SLOW)) 2>&1)
is "$(tail -n 1 <<<"$out")" "got=50 of=50" "50 pipelined blocked queries: 50 answers" || diag "$out"
is "$(grep -c 'rcode=NXDOMAIN' <<<"$out")" 50 "  ... all NXDOMAIN"

# dig's own pipelining (+keepopen with several names) as an independent client.
out=$(timeout 15 dig @127.0.0.1 -p "$BPORT" +tcp +keepopen +time=2 +tries=1 +nocookie \
	www.t.me A www.example.test A web.telegram.org A 2>&1)
is "$(grep -c 'status: ' <<<"$out")" 3 "dig +keepopen: three answers on one connection"

# --- idle timeout ------------------------------------------------------------------------------------
out=$("$PY" "$DNSPY" tcp-idle --port "$BPORT" --max $((6 * SLOW)) 2>&1)
secs=$(sed -n 's/^closed-after=//p' <<<"$out")
if [ -n "$secs" ] && awk -v s="$secs" -v m="$SLOW" 'BEGIN { exit !(s >= 0.8 && s <= 3 * m) }'; then
	pass "an idle TCP connection is closed after tcp-idle-timeout-ms 1000 (after ${secs}s)"
else
	fail "an idle TCP connection is closed after tcp-idle-timeout-ms 1000"; diag "got: $out"
fi
out=$(q "$BPORT" www.t.me A +tcp)
is "$(rcode "$out")" NXDOMAIN "TCP still served after the idle close"

# --- IPv6 -------------------------------------------------------------------------------------------
if [ "$V6" = 1 ]; then
	q6() { timeout 6 dig @::1 -p "$BPORT" +time=2 +tries=1 +nocookie "$@" 2>&1; }
	out=$(q6 www.t.me A)
	is "$(rcode "$out")" NXDOMAIN "IPv6 [::1] UDP: blocked name NXDOMAIN"
	like "$(section "$out" AUTHORITY)" '^t\.me\. 60 IN SOA ' "  ... with the SOA of t.me"
	out=$(q6 www.t.me A +tcp)
	is "$(rcode "$out")" NXDOMAIN "IPv6 [::1] TCP: blocked name NXDOMAIN"
	out=$(q6 www.example.test AAAA)
	like "$(section "$out" ANSWER)" '2001:db8::1$' "IPv6 [::1] UDP: forwarded answer"
	out=$(q6 www.example.test AAAA +tcp)
	like "$(section "$out" ANSWER)" '2001:db8::1$' "IPv6 [::1] TCP: forwarded answer"
else
	for d in "IPv6 UDP blocked" "IPv6 UDP SOA" "IPv6 TCP blocked" "IPv6 UDP forwarded" "IPv6 TCP forwarded"; do
		skip "no ::1 on this machine" "$d"
	done
fi

stop_blokir

# --- IPv6 on the command line: --listen [::1]:PORT and an IPv6 upstream --upstream [::1]:PORT ----------
if [ "$V6" = 1 ]; then
	P6=$(free_port)
	write_policy "$T_TMP/v6.yaml" "$P6" "127.0.0.1:9"
	"$BLOKIR" -c "$T_TMP/v6.yaml" --check >/dev/null 2>&1 || diag "v6.yaml does not pass --check"
	$BLOKIR_WRAPPER "$BLOKIR" -c "$T_TMP/v6.yaml" --foreground "${ROOT_OPT[@]}" --listen "[::1]:$P6" \
		--upstream "[::1]:$NSD_PORT" >>"$T_TMP/blokir.log" 2>&1 &
	T_BLOKIR_PID=$!; track "$T_BLOKIR_PID"
	q6p() { timeout 6 dig @::1 -p "$P6" +time=2 +tries=1 +nocookie "$@" 2>&1; }
	wait_for $((10 * SLOW)) bash -c "timeout 3 dig @::1 -p $P6 +time=1 +tries=1 t.me | grep -q NXDOMAIN"
	out=$(q6p www.example.test A)
	like "$(section "$out" ANSWER)" '192\.0\.2\.1$' "--listen [::1]:PORT --upstream [::1]:PORT: forwarded over IPv6 both ways"
	out=$(q6p big.example.test TXT +bufsize=4096 +ignore)
	is "$(section "$out" ANSWER | grep -c ' IN TXT ')" 30 "  ... with the TCP retry to the IPv6 upstream"
	out=$(q "$P6" www.t.me A)
	is "$(rcode "$out")" none "  ... and --listen replaced the file's 127.0.0.1 address"
	stop_blokir "IPv6 run stops with exit status 0"
else
	for d in "--listen/--upstream IPv6" "IPv6 TCP retry" "--listen replaces" "IPv6 stop"; do
		skip "no ::1 on this machine" "$d"
	done
fi

# --- answered as they complete, and the connection cap ---------------------------------------------
# A second blokir in front of a slow upstream (1 s), with max-tcp-connections: 3.
start_fake slow --delay-ms 1000 || bail "fakeupstream did not start"
BPORT=$(free_port)
write_policy "$CFG" "$BPORT" "127.0.0.1:$FAKE_PORT" 'tcp-idle-timeout-ms: 3000' 'max-tcp-connections: 3'
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
out=$(timeout $((10 * SLOW)) "$PY" "$DNSPY" pipeline --port "$BPORT" \
	--queries "slow.example.test/A,www.t.me/A" --timeout $((5 * SLOW)) 2>&1)
is "$(tail -n 1 <<<"$out")" "got=2 of=2" "slow forwarded + blocked query pipelined: both answered" || diag "$out"
like "$(head -n 1 <<<"$out")" 'name=www\.t\.me\. rcode=NXDOMAIN' \
	"  ... the blocked answer first: answers go out as they complete, not in query order" || diag "$out"

out=$("$PY" - "$BPORT" <<'PYEOF' 2>&1
import socket, struct, sys, time
import dns.message
port = int(sys.argv[1])
def ask(s, name):
    w = dns.message.make_query(name, "A").to_wire()
    s.sendall(struct.pack("!H", len(w)) + w)
def answered(s, t):
    s.settimeout(t)
    try:
        h = s.recv(2)
        return "answered" if len(h) == 2 else "closed"
    except socket.timeout:
        return "pending"
    except ConnectionError:
        return "closed"
held = []
for i in range(3):  # three connections, each proven served: they hold all the slots
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    ask(s, "www.t.me")
    print("held%d=%s" % (i, answered(s, 2)))
    held.append(s)
try:
    x = socket.create_connection(("127.0.0.1", port), timeout=2)
    ask(x, "www.t.me")
    print("fourth=%s" % answered(x, 0.7))
    x.close()
except OSError as e:
    print("fourth=refused(%s)" % type(e).__name__)
for s in held:
    s.close()
time.sleep(0.3)
y = socket.create_connection(("127.0.0.1", port), timeout=2)
ask(y, "www.t.me")
print("after=%s" % answered(y, 2))
PYEOF
)
diag "$out"
is "$(grep -c '^held[0-2]=answered' <<<"$out")" 3 "max-tcp-connections 3: three connections served"
like "$out" '^fourth=(closed|pending|refused)' "  ... a fourth one is not served while they are open"
like "$out" '^after=answered' "  ... once they close, new connections are served again"
s=$(stats)
[ "$(stat_val "$s" tcp-limit)" -ge 1 ] 2>/dev/null; ok $? "  ... stats: tcp-limit counted ($(stat_val "$s" tcp-limit))"
n=$(grep -c 'max-tcp-connections reached' "$T_TMP/blokir.log")
[ "$n" -ge 1 ] && [ "$n" -le 2 ]; ok $? "  ... and logged, once per worker at most in 10 s ($n lines for $(stat_val "$s" tcp-limit) hits)"

stop_blokir
done_testing
