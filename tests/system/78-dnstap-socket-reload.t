#!/bin/bash
# 78-dnstap-socket-reload: a reload moves dnstap between unix sockets, each read by a real
# collector (fstrm_capture from Debian's fstrm-bin), and to a file and back; the captures are
# read with dnstap-read -y. While a client sends a steady stream of queries, `ctl reload` moves
# dnstap from socket A to socket B: every query is in exactly one of the two captures (none lost,
# none twice), the earlier ones in A and the later ones in B. Then to a file, back to socket A
# (a new connection to the same collector). A socket with no collector listening is accepted
# (exit 0) with a warning in the log and in what ctl reload prints; its messages are dropped and
# counted in dnstap-dropped, not thrown away unseen, and once a collector listens blokir
# connects within the retry interval (a log line) and the next queries reach it. When that
# collector stops, the lost connection is logged once, the messages meanwhile are counted, and a
# collector started again on the socket gets the next ones. A socket path longer than a unix
# socket address holds is refused by --check at its FILE:LINE:COLUMN.
. "$(dirname "$0")/lib.sh"

command -v dnstap-read >/dev/null || { skip "no dnstap-read (bind9)" "dnstap read-back"; done_testing; exit 0; }
command -v fstrm_capture >/dev/null || { skip "no fstrm_capture (fstrm-bin)" "dnstap collectors"; done_testing; exit 0; }

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
SOCK="$T_TMP/ctl.sock"
SA="$T_TMP/a.sock" SB="$T_TMP/b.sock" SC="$T_TMP/c.sock"
FILE="$T_TMP/tap.fstrm"

# capture NAME SOCKET: a collector writing $T_TMP/NAME.fstrm; sets CAP_NAME to its PID
capture() {
	fstrm_capture -t protobuf:dnstap.Dnstap -u "$2" -w "$T_TMP/$1.fstrm" >"$T_TMP/$1.log" 2>&1 &
	track $!
	printf -v "CAP_$1" '%s' $!
	wait_for 5 test -S "$2" || diag "fstrm_capture did not create $2"
}
# conf TARGET-LINE: the eleven domains, the control socket and dnstap to TARGET-LINE
conf() {
	write_policy "$CFG.new" "$BPORT" "127.0.0.1:$NSD_PORT" "control-socket: $SOCK" \
		"dnstap:" "  $1" "  identity: tap78"
	mv "$CFG.new" "$CFG"
}
ctl_reload() { timeout $((20 * SLOW)) "$BLOKIR" ctl -s "$SOCK" reload 2>&1; }
# names FILE TYPE: the query names of FILE's dnstap messages of TYPE, one a line
names() {
	dnstap-read -y "$1" 2>/dev/null >"$1.yaml" || { echo "dnstap-read failed on $1"; return; }
	"$PY" - "$2" "$1.yaml" <<'PYEOF'
import re, sys
t, path = sys.argv[1:]
for d in open(path).read().split("\n---\n"):
    if ("  type: %s\n" % t) in d:
        m = re.search(r"- '([^ ]+) IN", d)
        print(m.group(1) if m else "?")
PYEOF
}

capture A "$SA"
capture B "$SB"
conf "socket: $SA"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

# --- socket A to socket B under a steady stream of queries ------------------------------------
# One client, one query at a time (each waits for its answer), names s0.exact.test, s1, ...
"$PY" - "$BPORT" "$T_TMP/stop" >"$T_TMP/client.out" 2>&1 <<'PYEOF' &
import os, sys, time
import dns.message, dns.query
port, stop = int(sys.argv[1]), sys.argv[2]
sent = answered = 0
end = time.time() + 30
while not os.path.exists(stop) and time.time() < end:
    q = dns.message.make_query("s%d.exact.test" % sent, "A")
    sent += 1
    try:
        dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
        answered += 1
    except Exception:
        pass
print(sent, answered)
PYEOF
CLIENT=$!
track "$CLIENT"
sleep 1
conf "socket: $SB"
out=$(ctl_reload); st=$?
is "$st" 0 "ctl reload moving dnstap from socket A to socket B under load: exit 0"
like "$out" 'settings applied: .*dnstap' "  ... dnstap is applied"
unlike "$out" 'warning' "  ... with no warning (B's collector listens)"
sleep 1
touch "$T_TMP/stop"
wait "$CLIENT"
read -r SENT ANSWERED <"$T_TMP/client.out"
diag "client: $SENT queries sent, $ANSWERED answered"
[ "${ANSWERED:-0}" -gt 20 ]; ok $? "the client's queries were answered ($ANSWERED of $SENT)"

# --- to a file, back to socket A, then to a socket nobody listens on --------------------------
conf "file: $FILE"
out=$(ctl_reload); st=$?
is "$st" 0 "ctl reload moving dnstap from socket B to a file: exit 0"
for n in f1 f2 f3; do q "$BPORT" "$n.exact.test" A >/dev/null; done
conf "socket: $SA"
out=$(ctl_reload); st=$?
is "$st" 0 "ctl reload moving dnstap from the file back to socket A: exit 0"
unlike "$out" 'warning' "  ... with no warning"
for n in a1 a2 a3; do q "$BPORT" "$n.exact.test" A >/dev/null; done

n0=$(wc -l <"$T_TMP/blokir.log")
conf "socket: $SC"
out=$(ctl_reload); st=$?
is "$st" 0 "ctl reload to a socket with no collector listening: accepted, exit 0 (fstrm connects when one listens)"
like "$out" "warning: reload: dnstap socket $SC: no collector listens" "  ... ctl reload prints a warning naming the socket"
like "$out" 'settings applied: .*dnstap' "  ... and dnstap is applied"
like "$(tail -n +$((n0 + 1)) "$T_TMP/blokir.log")" "warning: dnstap socket $SC: no collector listens \\(No such file or directory\\); messages are dropped \\(dnstap-dropped\\)" \
	"  ... the log says so, with the cause"
before=$(stat_val "$(stats)" dnstap-dropped)
for n in x1 x2 x3; do q "$BPORT" "$n.exact.test" A >/dev/null; done
after=$(stat_val "$(stats)" dnstap-dropped)
is "$((after - before))" 6 "  ... meanwhile each query's two messages are dropped and counted in dnstap-dropped"
capture C "$SC"
wait_log $((5 * SLOW)) "dnstap socket $SC: connected"; ok $? "a collector starts listening: blokir connects within the retry interval"
for n in c1 c2 c3; do q "$BPORT" "$n.exact.test" A >/dev/null; done
dropped=$(stat_val "$(stats)" dnstap-dropped)
is "$dropped" "$after" "  ... and drops no more"

# --- the collector goes away and comes back ---------------------------------------------------
# fstrm's I/O thread writes out on a one-second tick (up to two seconds after a message): wait
# until C has c1..c3 (6 frames; SIGHUP makes fstrm_capture flush its file), then stop it
wait_for $((8 * SLOW)) bash -c "kill -HUP $CAP_C; sleep 0.2; [ \$(fstrm_dump '$T_TMP/C.fstrm' 2>&1 | grep -c '^Data frame') -ge 6 ]" ||
	diag "collector C did not get c1..c3 in time"
stop_pid "$CAP_C" 5
for ((i = 0; i < 60 * SLOW; i++)); do
	q "$BPORT" "g$i.exact.test" A >/dev/null # a write finds the connection gone
	grep -q "dnstap socket $SC: connection lost" "$T_TMP/blokir.log" && break
	sleep 0.1
done
like "$(grep "dnstap socket $SC" "$T_TMP/blokir.log")" "warning: dnstap socket $SC: connection lost: .*; messages are dropped \\(dnstap-dropped\\) until a collector listens again" \
	"the collector stops: blokir logs the lost connection once"
before=$(stat_val "$(stats)" dnstap-dropped)
for n in h1 h2 h3; do q "$BPORT" "$n.exact.test" A >/dev/null; done
after=$(stat_val "$(stats)" dnstap-dropped)
is "$((after - before))" 6 "  ... the queries meanwhile are dropped and counted"
rm -f "$SC"
capture D "$SC"
wait_for $((5 * SLOW)) bash -c "[ \$(grep -c 'dnstap socket $SC: connected' '$T_TMP/blokir.log') -ge 2 ]"
ok $? "  ... a collector on the socket again: blokir reconnects"
for n in i1 i2 i3; do q "$BPORT" "$n.exact.test" A >/dev/null; done
stop_blokir
sleep 0.3
for c in "$CAP_A" "$CAP_B" "$CAP_D"; do stop_pid "$c" 5; done

# --- the captures ------------------------------------------------------------------------------
for f in A B C; do names "$T_TMP/$f.fstrm" CLIENT_QUERY >"$T_TMP/$f.cq"; done
names "$FILE" CLIENT_QUERY >"$T_TMP/F.cq"
for f in A B C; do names "$T_TMP/$f.fstrm" CLIENT_RESPONSE >"$T_TMP/$f.cr"; done
grep -h '^s[0-9]' "$T_TMP/A.cq" "$T_TMP/B.cq" | sort -u >"$T_TMP/s.all"
is "$(grep -h '^s[0-9]' "$T_TMP/A.cq" "$T_TMP/B.cq" | wc -l)/$(wc -l <"$T_TMP/s.all")" "$SENT/$SENT" \
	"every query of the stream is in socket A's or socket B's capture, exactly once (none lost across the move)"
is "$(grep -h '^s[0-9]' "$T_TMP/A.cr" "$T_TMP/B.cr" | sort -u | wc -l)" "$ANSWERED" "  ... and every answer too"
maxa=$(grep '^s[0-9]' "$T_TMP/A.cq" | sed 's/^s\([0-9]*\).*/\1/' | sort -n | tail -n1)
minb=$(grep '^s[0-9]' "$T_TMP/B.cq" | sed 's/^s\([0-9]*\).*/\1/' | sort -n | head -n1)
diag "stream: s0..s${maxa:-?} in A, s${minb:-?}.. in B"
[ -n "$maxa" ] && [ -n "$minb" ] && [ "$maxa" -lt "$minb" ]
ok $? "  ... those before the reload in A, those after it in B"
# (t.me: start_blokir's probe, before the stream)
is "$(grep -v -e '^s[0-9]' -e '^t\.me\.$' "$T_TMP/A.cq" | sort | tr '\n' ' ')" "a1.exact.test. a2.exact.test. a3.exact.test. " \
	"back on socket A: a new connection to the same collector gets the later queries"
is "$(grep -v '^s[0-9]' "$T_TMP/B.cq" | tr '\n' ' ')" "" "  ... and socket B none of them"
is "$(sort "$T_TMP/F.cq" | tr '\n' ' ')" "f1.exact.test. f2.exact.test. f3.exact.test. " "the file holds exactly the queries of its time"
is "$(grep -v '^g[0-9]' "$T_TMP/C.cq" | sort | tr '\n' ' ')" "c1.exact.test. c2.exact.test. c3.exact.test. " \
	"socket C's late collector gets the queries after it listened, none of those dropped before"
names "$T_TMP/D.fstrm" CLIENT_QUERY >"$T_TMP/D.cq"
is "$(grep -v '^g[0-9]' "$T_TMP/D.cq" | sort | tr '\n' ' ')" "i1.exact.test. i2.exact.test. i3.exact.test. " \
	"the collector back on the socket gets the queries after the reconnect, none of those dropped"

# --- a socket path longer than a unix socket address holds: FILE:LINE:COLUMN -------------------
long="/tmp/$(printf 'd%.0s' $(seq 1 110)).sock"
write_policy "$T_TMP/long.yaml" "$BPORT" "127.0.0.1:$NSD_PORT" "dnstap:" "  socket: $long"
line=$(grep -n '^  socket: ' "$T_TMP/long.yaml" | cut -d: -f1)
out=$(timeout 10 "$BLOKIR" --check -c "$T_TMP/long.yaml" 2>&1); st=$?
is "$st" 1 "--check with a dnstap socket path of 115 bytes: exit 1"
like "$out" "^$T_TMP/long.yaml:$line:11: dnstap\\.socket: expected a path of at most 107 bytes" "  ... at the value, saying the limit"
done_testing
