#!/bin/bash
# 23-antispoof: use-0x20 and spoofed answers. With use-0x20 the upstream sees the query name in
# random case (fakeupstream's log), nsd echoes it and the client still gets the answer with its
# own spelling of the question; without it the name goes out as the client wrote it. An upstream
# that lower-cases the question is not believed (answers-wrong-question, SERVFAIL after the
# timeout). Answers from the right port of another address (127.0.0.2) arriving before the real
# one never reach blokir (its upstream sockets are connected, so the kernel drops them: no
# answers-* counter moves) and the real answer is delivered.
. "$(dirname "$0")/lib.sh"

TMO=600
blokir_with() { # UPSTREAM [extra YAML lines]
	local up=$1; shift
	[ -z "$T_BLOKIR_PID" ] || stop_blokir "previous blokir stops with exit status 0"
	BPORT=$(free_port)
	CFG="$T_TMP/policy-$BPORT.yaml"
	write_policy "$CFG" "$BPORT" "$up" "$@"
	sed -i "s/^upstream-timeout-ms: .*/upstream-timeout-ms: $TMO/" "$CFG"
	start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
}
qname() { section "$1" QUESTION | awk '{ print $1 }' | sed 's/^;//'; }
dig_question() { awk '/^;; QUESTION SECTION:/ { getline; sub(/^;/, ""); print $1; exit }' <<<"$1"; }

# --- use-0x20 through nsd ------------------------------------------------------------------------
start_nsd || bail "nsd did not start"
blokir_with "127.0.0.1:$NSD_PORT" 'use-0x20: true'
allgood=0
for n in www.example.test WWW.EXAMPLE.TEST WwW.ExAmPlE.tEsT; do
	out=$(q "$BPORT" "$n" A)
	if [ "$(rcode "$out")" != NOERROR ] || [ "$(dig_question "$out")" != "$n." ] ||
		! grep -q "192\.0\.2\.1$" <<<"$(section "$out" ANSWER)"; then
		allgood=1; diag "$n: $(rcode "$out") question '$(dig_question "$out")'" "$out"
	fi
done
ok $allgood "use-0x20 through nsd: answers correct, the question in the client's own case (3 spellings)"
out=$(q "$BPORT" many.example.test A +tcp)
is "$(section "$out" ANSWER | grep -c ' IN A ')" 60 "  ... over TCP too (60 A records)"
s=$(stats)
is "$(stat_val "$s" answers-wrong-question)" 0 "  ... no answer rejected: nsd echoes the case"

# --- what the upstream sees -------------------------------------------------------------------------
start_fake good || bail "fake good"
blokir_with "127.0.0.1:$FAKE_PORT" 'use-0x20: true'
for i in 1 2 3 4 5 6; do q "$BPORT" "abcdefghijklmnop$i.example.test" A >/dev/null; done
names=$(sed -n 's/^udp .*name=\(abcdefghijklmnop[^ ]*\) .*/\1/Ip' "$FAKE_LOG")
is "$(wc -l <<<"$names")" 6 "use-0x20: the upstream got the 6 queries"
mixed=$(grep -c '[A-Z]' <<<"$names")
[ "$mixed" -ge 5 ]; ok $? "  ... with upper-case letters in $mixed of 6 lower-case names" || diag "$names"
[ "$(sort -u <<<"${names,,}" | wc -l)" = 6 ]; ok $? "  ... each the client's name apart from case"
blokir_with "127.0.0.1:$FAKE_PORT"
: >"$FAKE_LOG"
for i in 1 2 3; do q "$BPORT" "abcdefghijklmnop$i.example.test" A >/dev/null; done
names=$(sed -n 's/^udp .*name=\(abcdefghijklmnop[^ ]*\) .*/\1/Ip' "$FAKE_LOG")
is "$(grep -c '^abcdefghijklmnop[1-3]\.example\.test\.$' <<<"$names")" 3 \
	"without use-0x20: names go out as the client wrote them"
stop_pid "$FAKE_PID" 3

# --- an upstream that lower-cases the question ----------------------------------------------------------
start_fake lowercase || bail "fake lowercase"
blokir_with "127.0.0.1:$FAKE_PORT" 'use-0x20: true'
before=$(stat_val "$(stats)" answers-wrong-question)
allgood=0
for i in 1 2 3; do
	t0=$(ms)
	out=$(timeout 10 dig @127.0.0.1 -p "$BPORT" +time=5 +tries=1 +nocookie \
		"lowercase-abcdefghijkl$i.example.test" A 2>&1)
	el=$(($(ms) - t0))
	if [ "$(rcode "$out")" != SERVFAIL ] || [ "$el" -lt $((TMO - 100)) ] ||
		[ "$el" -gt $((TMO * SLOW + 1500)) ]; then
		allgood=1; diag "query $i: $(rcode "$out") after $el ms"
	fi
done
ok $allgood "lower-casing upstream with use-0x20: SERVFAIL after the ${TMO} ms timeout (x3)"
after=$(stat_val "$(stats)" answers-wrong-question)
[ -n "$after" ] && [ "$after" -ge $((${before:-0} + 3)) ]
ok $? "  ... answers-wrong-question counted (${before:-none} -> ${after:-none})"
out=$(q "$BPORT" www.t.me A)
is "$(rcode "$out")" NXDOMAIN "  ... the daemon keeps serving"
stop_pid "$FAKE_PID" 3

# --- an answer from another address, before the real one ----------------------------------------------
# From here on the real answer must win, not a timeout: the upstream gets the usual 1.5 s (x SLOW),
# so a loaded machine (a sanitizer build in CI) cannot turn a 100 ms wait into a SERVFAIL.
TMO=$((1500 * SLOW))
if "$PY" -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.2", 0))' 2>/dev/null; then
	start_fake wrong-addr || bail "fake wrong-addr"
	blokir_with "127.0.0.1:$FAKE_PORT" 'use-0x20: true'
	before=$(stats | grep -o 'answers-[a-z-]*=[0-9]*' | sort)
	allgood=0
	for i in 1 2 3; do
		out=$(q "$BPORT" "wrong-addr-$i.example.test" A)
		[ "$(section "$out" ANSWER)" = "wrong-addr-$i.example.test. 300 IN A 192.0.2.53" ] ||
			{ allgood=1; diag "query $i: $(rcode "$out")" "$out"; }
	done
	ok $allgood "answers from 127.0.0.2 (right port) first: discarded, the real answer delivered (x3)"
	after=$(stats | grep -o 'answers-[a-z-]*=[0-9]*' | sort)
	[ -n "$after" ] && [ "$before" = "$after" ]
	ok $? "  ... dropped by the kernel on the connected socket: no answers-* counter moved" ||
		diag "before: $before" "after: $after"
	stop_pid "$FAKE_PID" 3
else
	skip "127.0.0.2 not usable" "answers from another address"
fi

# --- wrong ID / port / question with use-0x20 on: still the real answer ----------------------------------
for m in wrong-id wrong-port wrong-question; do
	start_fake "$m" || bail "fake $m"
	blokir_with "127.0.0.1:$FAKE_PORT" 'use-0x20: true'
	out=$(q "$BPORT" "$m-Mixed.Example.Test" A)
	is "$(section "$out" ANSWER)" "$m-Mixed.Example.Test. 300 IN A 192.0.2.53" \
		"use-0x20 + $m first: the real answer, in the client's case"
	stop_pid "$FAKE_PID" 3
done
stop_blokir
done_testing
