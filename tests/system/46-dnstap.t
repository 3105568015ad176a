#!/bin/bash
# 46-dnstap: dnstap to a file, read back with a real reader (dnstap-read -y, Debian's bind9):
# a blocked query gives CLIENT_QUERY and CLIENT_RESPONSE (NXDOMAIN); a forwarded one also
# FORWARDER_QUERY and FORWARDER_RESPONSE to and from nsd's address and port; query names,
# client addresses, transports and the responses' rcodes are checked. A rename + SIGUSR2 starts
# a new file with both files whole streams; switched-off types are not written; dnstap to a unix
# socket reaches a collector (fstrm_capture from fstrm-bin). Bad dnstap: values are refused by
# --check with FILE:LINE:COLUMN.
. "$(dirname "$0")/lib.sh"

command -v dnstap-read >/dev/null || { skip "no dnstap-read (bind9)" "dnstap read-back"; done_testing; exit 0; }

TAP="$T_TMP/tap.fstrm"
setup_std "dnstap:" "  file: $TAP" "  forwarder-query: true" "  forwarder-response: true"

q "$BPORT" Venus.Web.Telegram.ORG A >/dev/null
q "$BPORT" www.example.test A >/dev/null
q "$BPORT" flora.web.telegram.org AAAA +tcp >/dev/null
sleep 0.3
mv "$TAP" "$TAP.1"
kill -USR2 "$T_BLOKIR_PID"
wait_log 5 "dnstap file $TAP: reopened" || diag "no reopen line in the log"
q "$BPORT" after.example.test A >/dev/null
stop_blokir

y1=$(dnstap-read -y "$TAP.1" 2>&1); st1=$?
y2=$(dnstap-read -y "$TAP" 2>&1); st2=$?
is "$st1/$st2" "0/0" "both files read back with dnstap-read -y"
y="$y1
$y2"

# count_msgs TYPE QNAME [TEXT]: how many of the YAML documents of dnstap-read in TEXT (default
# $y) are messages of TYPE about QNAME; doc_of prints the first of them.
docs() {
	printf '%s\n' "$3" >"$T_TMP/docs.yaml"
	"$PY" -c '
import sys
t, name, mode = sys.argv[1:4]
docs = [d for d in open(sys.argv[4]).read().split("\n---\n")
        if ("  type: %s\n" % t) in d and ("- \x27%s " % name) in d]
print(len(docs) if mode == "count" else (docs[0] if docs else ""))
' "$1" "$2" "$4" "$T_TMP/docs.yaml"
}
count_msgs() { docs "$1" "$2" "${3-$y}" count; }
doc_of() { docs "$1" "$2" "$y" doc; }

is "$(count_msgs CLIENT_QUERY Venus.Web.Telegram.ORG.)" 1 "blocked query: one CLIENT_QUERY, name as asked"
d=$(doc_of CLIENT_RESPONSE Venus.Web.Telegram.ORG.)
like "$d" 'status: NXDOMAIN' "blocked query: CLIENT_RESPONSE with NXDOMAIN"
like "$d" 'query_address: "127\.0\.0\.1"' "... to the client's address"
like "$d" 'socket_protocol: UDP' "... over UDP"
is "$(count_msgs FORWARDER_QUERY Venus.Web.Telegram.ORG.)" 0 "a blocked name is never forwarded"

d=$(doc_of FORWARDER_QUERY www.example.test.)
like "$d" "response_address: \"127\.0\.0\.1\"" "forwarded: FORWARDER_QUERY to nsd's address"
like "$d" "response_port: $NSD_PORT" "... and port"
d=$(doc_of FORWARDER_RESPONSE www.example.test.)
like "$d" 'status: NOERROR' "forwarded: FORWARDER_RESPONSE, NOERROR"
like "$d" "response_port: $NSD_PORT" "... from nsd"
d=$(doc_of CLIENT_RESPONSE www.example.test.)
like "$d" 'status: NOERROR' "forwarded: CLIENT_RESPONSE, NOERROR"
like "$d" 'www\.example\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.' \
	"... with nsd's address record"
is "$(count_msgs CLIENT_QUERY www.example.test.)" 1 "forwarded: one CLIENT_QUERY"

d=$(doc_of CLIENT_RESPONSE flora.web.telegram.org.)
like "$d" 'socket_protocol: TCP' "TCP query: CLIENT_RESPONSE over TCP"
like "$d" 'status: NXDOMAIN' "... NXDOMAIN"

# What fstrm had not yet written at the reopen (its output queue is flushed about every second)
# goes to the new file; what comes after the reopen is never in the renamed one.
is "$(count_msgs CLIENT_QUERY after.example.test. "$y2")" 1 "after the reopen: in the new file"
is "$(count_msgs CLIENT_QUERY after.example.test. "$y1")" 0 "... and not in the renamed one"
st=$(grep 'stats:' "$T_TMP/blokir.log" | tail -n1)
is "$(grep -c '^type: MESSAGE' <<<"$y")" \
	"$(( $(stat_val "$st" queries) * 2 + $(stat_val "$st" forwarded) * 2 ))" \
	"no message lost over the two files (2 per client message, 2 per forwarded query)"
s=$(grep 'stats:' "$T_TMP/blokir.log" | tail -n1)
is "$(stat_val "$s" dnstap-dropped)" 0 "dnstap-dropped=0"

# --- switches off, and a unix socket with a collector --------------------------------------------
SOCK="$T_TMP/tap.sock"
fstrm_capture -t protobuf:dnstap.Dnstap -u "$SOCK" -w "$T_TMP/captured.fstrm" >"$T_TMP/capture.log" 2>&1 &
CAP=$!
track "$CAP"
wait_for 5 test -S "$SOCK" || diag "fstrm_capture did not create $SOCK"
P2=$(free_port)
write_policy "$T_TMP/sock.yaml" "$P2" "127.0.0.1:$NSD_PORT" "dnstap:" "  socket: $SOCK" \
	"  client-query: false"
start_blokir "$T_TMP/sock.yaml" "$P2" || bail "blokir did not start"
q "$P2" www.t.me A >/dev/null
q "$P2" www.example.test A >/dev/null
stop_blokir "blokir with dnstap to a socket stops cleanly"
sleep 0.3
stop_pid "$CAP" 5
y=$(dnstap-read -y "$T_TMP/captured.fstrm" 2>&1)
is "$(count_msgs CLIENT_RESPONSE www.t.me.)" 1 "socket: the collector got the CLIENT_RESPONSE"
is "$(grep -c 'type: CLIENT_QUERY' <<<"$y")" 0 "client-query: false: no CLIENT_QUERY"
is "$(grep -c 'type: FORWARDER_' <<<"$y")" 0 "forwarder types off by default"

# --- bad values ----------------------------------------------------------------------------------
check_bad() { # YAML EXPECTED-MESSAGE LINE DESCRIPTION
	local f="$T_TMP/bad.yaml" out
	printf 'listen: ["127.0.0.1:%s"]\nupstreams: ["127.0.0.1:53"]\n%s\n' "$P2" "$1" >"$f"
	out=$(timeout 10 "$BLOKIR" -c "$f" --check 2>&1); st=$?
	is "$st" 1 "--check exits 1: $4"
	like "$out" "^$f:$3:[0-9]+: $2" "$4: FILE:LINE:COLUMN and what was expected"
}
check_bad $'dnstap:\n  file: /tmp/x.fstrm\n  socket: /tmp/x.sock' \
	'dnstap: expected either "socket" or "file", not both' 4 "both a socket and a file"
check_bad $'dnstap:\n  client-query: true' 'dnstap: missing key "socket" or "file"' 4 \
	"neither socket nor file"
check_bad $'dnstap:\n  file: tap.fstrm' 'dnstap\.file: expected an absolute path' 4 "a relative file"
check_bad $'dnstap:\n  socket: /tmp/s\n  forwarder-query: maybe' \
	'dnstap\.forwarder-query: expected true or false' 5 "a switch that is not a boolean"
check_bad $'dnstap:\n  sockett: /tmp/s' 'unknown key "sockett"' 4 "a misspelt key"
check_bad 'dnstap: /tmp/s' 'dnstap: expected a mapping' 3 "a scalar instead of a mapping"

done_testing
