#!/bin/bash
# 20-acl: allow-from. In a network namespace of its own (unshare -n, or -rn when unprivileged), lo
# gets public addresses (192.0.2.1, 198.51.100.1, 10.9.9.9, 2001:db8::1, 2001:db8:ffff::1,
# fd00::53) so clients can ask from inside and outside the list. Outside: REFUSED over UDP with
# deny-action refused, nothing with drop, TCP closed at accept either way, acl-denied counted.
# Inside: answered. Without allow-from: loopback, RFC 1918 and ULA answered, the world refused.
if [ -z "${BLOKIR_NETNS:-}" ]; then
	for u in "-n" "-rn"; do
		if unshare $u true 2>/dev/null; then
			BLOKIR_NETNS=1 exec unshare $u -- "$0" "$@"
		fi
	done
	echo "1..0 # SKIP cannot create a network namespace (unshare -n / -rn not permitted)"
	exit 0
fi
. "$(dirname "$0")/lib.sh"

ip link set lo up || bail "ip link set lo up"
for a in 192.0.2.1 198.51.100.1 10.9.9.9; do ip addr add "$a/32" dev lo || bail "ip addr $a"; done
for a in 2001:db8::1 2001:db8:ffff::1 fd00::53; do
	ip -6 addr add "$a/128" dev lo nodad || bail "ip addr $a"
done
pass "private network namespace with public addresses on lo"

# qf SRC NAME [dig options]: a query to blokir (127.0.0.1 or ::1 by SRC's family) from SRC.
qf() {
	local src=$1 name=$2 dst=127.0.0.1; shift 2
	[[ $src == *:* ]] && dst=::1
	timeout 8 dig -b "$src" @"$dst" -p "$BPORT" +time=2 +tries=1 +nocookie "$name" "$@" 2>&1
}

# run_blokir [extra YAML lines]: (re)starts blokir on 127.0.0.1 and ::1 with these lines.
run_blokir() {
	[ -z "$T_BLOKIR_PID" ] || stop_blokir "previous blokir stops with exit status 0"
	BPORT=$(free_port)
	CFG="$T_TMP/policy-$BPORT.yaml"
	write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" "$@"
	sed -i "s/^listen: .*/listen: [\"127.0.0.1:$BPORT\", \"[::1]:$BPORT\"]/" "$CFG"
	start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
}

# tcp_from SRC: connects to blokir from SRC, sends a query, prints "closed" (EOF or reset),
# "answered" or "open" (nothing within 2 s).
tcp_from() {
	"$PY" - "$1" "$BPORT" <<'PYEOF'
import socket, struct, sys, dns.message
src, port = sys.argv[1], int(sys.argv[2])
fam, dst = (socket.AF_INET6, "::1") if ":" in src else (socket.AF_INET, "127.0.0.1")
s = socket.socket(fam, socket.SOCK_STREAM)
s.bind((src, 0)); s.settimeout(2)
try:
    s.connect((dst, port))
    q = dns.message.make_query("www.example.test", "A").to_wire()
    s.sendall(struct.pack("!H", len(q)) + q)
    print("answered" if s.recv(2) else "closed")
except (ConnectionResetError, BrokenPipeError):
    print("closed")
except socket.timeout:
    print("open")
PYEOF
}

# served SRC DESCRIPTION: a blocked name gets NXDOMAIN and a forwarded one nsd's answer.
served() {
	local a b
	a=$(qf "$1" www.t.me A); b=$(qf "$1" www.example.test A)
	if [ "$(rcode "$a")" = NXDOMAIN ] && grep -q '192\.0\.2\.1$' <<<"$(section "$b" ANSWER)"; then
		pass "$2"
	else fail "$2"; diag "$a" "$b"; fi
}

start_nsd || bail "nsd did not start"

# --- allow-from with deny-action refused (the default) ------------------------------------------
run_blokir 'allow-from: [127.0.0.0/8, "::1", 192.0.2.0/24, "2001:db8::/64"]'
before=$(stat_val "$(stats)" acl-denied)
served 127.0.0.1 "inside (127.0.0.1): answered"
served 192.0.2.1 "inside (192.0.2.1 in 192.0.2.0/24): answered"
served 2001:db8::1 "inside (2001:db8::1 in 2001:db8::/64): answered"
out=$(qf 198.51.100.1 www.example.test A)
is "$(rcode "$out")" REFUSED "outside (198.51.100.1), UDP: REFUSED"
is "$(section "$out" ANSWER)" "" "  ... with no answer records"
out=$(qf 198.51.100.1 t.me A)
is "$(rcode "$out")" REFUSED "  ... for a blocked name too (no policy information leaks)"
out=$(qf 10.9.9.9 www.example.test A)
is "$(rcode "$out")" REFUSED "outside (10.9.9.9, private but not listed): REFUSED"
out=$(qf 2001:db8:ffff::1 www.example.test A)
is "$(rcode "$out")" REFUSED "outside (2001:db8:ffff::1), UDP over IPv6: REFUSED"
out=$(qf 198.51.100.1 www.example.test A +tcp)
is "$(rcode "$out")" none "outside, TCP: no answer"
is "$(tcp_from 198.51.100.1)" closed "  ... the connection is closed at once"
is "$(tcp_from 2001:db8:ffff::1)" closed "outside over IPv6, TCP: closed at once"
is "$(tcp_from 192.0.2.1)" answered "inside, TCP (raw): answered"
out=$(qf 192.0.2.1 www.t.me A +tcp)
is "$(rcode "$out")" NXDOMAIN "inside, TCP: answered"
after=$(stat_val "$(stats)" acl-denied)
[ -n "$after" ] && [ "$after" -ge $((${before:-0} + 5)) ]
ok $? "acl-denied went up by at least 5 (${before:-none} -> ${after:-none})"

# --- deny-action drop -------------------------------------------------------------------------------
run_blokir 'allow-from: [127.0.0.0/8, "::1", 192.0.2.0/24]' 'deny-action: drop'
before=$(stat_val "$(stats)" acl-denied)
out=$(qf 198.51.100.1 www.example.test A)
is "$(rcode "$out")" none "deny-action drop, UDP from outside: no answer at all"
like "$out" 'timed out|no servers could be reached' "  ... dig times out"
out=$(qf 2001:db8::1 www.example.test A)
is "$(rcode "$out")" none "  ... 2001:db8::1 (not listed this time): no answer either"
out=$(qf 198.51.100.1 www.example.test A +tcp)
is "$(rcode "$out")" none "deny-action drop, TCP from outside: no answer"
is "$(tcp_from 198.51.100.1)" closed "  ... the connection is closed at once"
served 192.0.2.1 "deny-action drop: inside still answered"
after=$(stat_val "$(stats)" acl-denied)
[ -n "$after" ] && [ "$after" -ge $((${before:-0} + 3)) ]
ok $? "acl-denied counts drops too (${before:-none} -> ${after:-none})"

# --- no allow-from: loopback and private networks only -----------------------------------------------
run_blokir
served 127.0.0.1 "default list: 127.0.0.1 answered"
served ::1 "default list: ::1 answered"
served 10.9.9.9 "default list: 10.9.9.9 (RFC 1918) answered"
served fd00::53 "default list: fd00::53 (ULA) answered"
is "$(rcode "$(qf 198.51.100.1 www.example.test A)")" REFUSED "default list: 198.51.100.1 REFUSED"
is "$(rcode "$(qf 192.0.2.1 www.example.test A)")" REFUSED "default list: 192.0.2.1 REFUSED"
is "$(rcode "$(qf 2001:db8::1 www.example.test A)")" REFUSED "default list: 2001:db8::1 REFUSED"
s=$(stats)
[ "$(stat_val "$s" acl-denied)" -ge 3 ] 2>/dev/null; ok $? "default list: acl-denied $(stat_val "$s" acl-denied)"

# A flood of refused queries from outside: answers are never larger than the queries (no
# amplification), and the daemon still serves.
big=$("$PY" - "$BPORT" <<'PYEOF'
import socket, sys, dns.message
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.51.100.1", 0)); s.settimeout(0.5)
worst = 0
for i in range(200):
    q = dns.message.make_query("www.example.test", "TXT", want_dnssec=True).to_wire()
    s.sendto(q, ("127.0.0.1", port))
    try:
        a, _ = s.recvfrom(65535)
        worst = max(worst, len(a) - len(q))
    except socket.timeout:
        pass
print(worst)
PYEOF
)
[ "${big:-1}" -le 0 ] 2>/dev/null; ok $? "200 refused queries: no answer larger than its query (worst +${big:-?} bytes)"
served 127.0.0.1 "  ... and 127.0.0.1 still answered"

stop_blokir
done_testing
