#!/bin/bash
# 08-signals: SIGTERM and SIGINT stop gracefully (queries in flight still get their answers, exit
# status 0); --pidfile is written at start and removed at exit; without --foreground blokir
# detaches and the pidfile names the running daemon.
. "$(dirname "$0")/lib.sh"

start_fake slow --delay-ms 1500 || bail "fakeupstream did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
write_policy "$CFG" "$BPORT" "127.0.0.1:$FAKE_PORT"
sed -i 's/^upstream-timeout-ms: .*/upstream-timeout-ms: 4000/' "$CFG"
PIDFILE="$T_TMP/run/blokir.pid"
mkdir -p "$T_TMP/run"

for sig in TERM INT; do
	start_blokir "$CFG" "$BPORT" --pidfile "$PIDFILE" || bail "blokir did not start"
	pid=$T_BLOKIR_PID
	is "$(tr -d ' \n' <"$PIDFILE" 2>/dev/null)" "$pid" "SIG$sig run: --pidfile holds blokir's PID"

	"$PY" "$DNSPY" inflight --port "$BPORT" --timeout $((8 * SLOW)) \
		--names "a.example.test,b.example.test,c.example.test,d.example.test,e.example.test" \
		>"$T_TMP/inflight.out" 2>&1 &
	inf=$!; track $inf
	timeout $((15 * SLOW)) dig @127.0.0.1 -p "$BPORT" +tcp +time=$((8 * SLOW)) +tries=1 +nocookie \
		tcp.example.test A >"$T_TMP/inflight-tcp.out" 2>&1 &
	inftcp=$!; track $inftcp
	# Wait until the slow upstream has all five queries, then signal.
	wait_for $((5 * SLOW)) bash -c "[ \$(grep -c 'name=[a-e]\.example\.test\.' '$FAKE_LOG') -ge 5 ] &&
		grep -q 'name=tcp\.example\.test\.' '$FAKE_LOG'"
	t0=$(ms)
	kill -"$sig" "$pid"
	for ((i = 0; i < 100 * SLOW; i++)); do alive "$pid" || break; sleep 0.05; done
	el=$(($(ms) - t0))
	[ "$el" -lt $((5000 * SLOW)) ]; ok $? "SIG$sig: stopped within 5 s (took $el ms)"
	wait "$pid"; st=$?
	T_BLOKIR_PID=""
	is "$st" 0 "SIG$sig: exit status 0$([ -n "$BLOKIR_WRAPPER" ] && echo " (under ${BLOKIR_WRAPPER%% *})")"
	timeout $((15 * SLOW)) tail --pid="$inf" -f /dev/null
	out=$(cat "$T_TMP/inflight.out")
	is "$(grep -c 'rcode=NOERROR an=1 idok=yes' <<<"$out")" 5 \
		"SIG$sig with 5 UDP queries in flight (slow upstream): all 5 answered" || diag "$out"
	timeout $((15 * SLOW)) tail --pid="$inftcp" -f /dev/null
	out=$(cat "$T_TMP/inflight-tcp.out")
	like "$(section "$out" ANSWER)" '^tcp\.example\.test\. 300 IN A 192\.0\.2\.53$' \
		"SIG$sig with a TCP query in flight: answered" || diag "$out"
	[ ! -e "$PIDFILE" ]; ok $? "SIG$sig: pidfile removed at exit"
	out=$(q "$BPORT" t.me A)
	is "$(rcode "$out")" none "SIG$sig: nothing answers on the port afterwards"
	: >"$FAKE_LOG"
done

grep -Eiq 'stop|exit|shut|term' "$T_TMP/blokir.log"; ok $? "the stop is logged"

# --- detached (no --foreground) ------------------------------------------------------------------------
if [ -n "$BLOKIR_WRAPPER" ]; then
	skip "not under $BLOKIR_WRAPPER" "detached start writes the pidfile"
else
	timeout 10 "$BLOKIR" -c "$CFG" "${ROOT_OPT[@]}" --pidfile "$PIDFILE" >>"$T_TMP/blokir.log" 2>&1; st=$?
	is "$st" 0 "without --foreground: the starting command exits 0"
	wait_for 5 test -s "$PIDFILE"
	dpid=$(tr -d ' \n' <"$PIDFILE" 2>/dev/null)
	if [ -n "$dpid" ] && alive "$dpid"; then
		track "$dpid"
		pass "  ... the pidfile names a running daemon ($dpid)"
		wait_for 5 bash -c "dig @127.0.0.1 -p $BPORT +time=1 +tries=1 t.me | grep -q NXDOMAIN"
		out=$(q "$BPORT" www.t.me A)
		is "$(rcode "$out")" NXDOMAIN "  ... which answers"
		kill -TERM "$dpid"
		wait_for 10 bash -c "! kill -0 $dpid 2>/dev/null"; ok $? "  ... and stops on SIGTERM"
		wait_for 3 bash -c "[ ! -e '$PIDFILE' ]"; ok $? "  ... removing its pidfile"
	else
		fail "  ... the pidfile names a running daemon"; diag "pidfile: '$dpid'"
	fi
fi

done_testing
