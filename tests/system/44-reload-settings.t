#!/bin/bash
# 44-reload-settings: SIGHUP applies the settings a worker can take over, and says which keys it
# cannot. inspect-answers off (a CNAME to a blocked name is then relayed) and on again;
# upstreams moved from nsd to another server (queries reach it; a flood across the switch loses
# nothing); cache-size switched on (cache-hits count); a changed listen: logs a warning naming
# the key and keeps the running sockets, while the rest of the same file still applies;
# (also in what `blokir ctl reload` prints); allow-from narrowed to 10.0.0.0/8 (127.0.0.1 is then refused) and deny-action: drop (no answer).
. "$(dirname "$0")/lib.sh"

start_nsd || bail "nsd did not start"
start_fake good || bail "fakeupstream did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
# conf [extra lines...]: the policy with www.example.test blocked, upstreams $UP, listen $LPORT
conf() {
	EXTRA_DOMAINS="  - name: www.example.test" write_policy "$CFG.new" "${LPORT:-$BPORT}" "$UP" "$@"
	mv "$CFG.new" "$CFG"
}
# hup_log ERE: SIGHUP, then waits for a new log line matching ERE; prints the new lines
hup_log() {
	local n; n=$(wc -l <"$T_TMP/blokir.log")
	kill -HUP "$T_BLOKIR_PID"
	wait_for $((10 * SLOW)) bash -c "tail -n +$((n + 1)) '$T_TMP/blokir.log' | grep -Eq -- '$1'"
	sleep 0.2 # the workers take the settings over on their own threads, right after the line
	tail -n +$((n + 1)) "$T_TMP/blokir.log"
}
UP="127.0.0.1:$NSD_PORT"
SOCK="$T_TMP/ctl.sock"
# conf's extra lines, always: the control socket for `blokir ctl reload`
conf_base() { conf "control-socket: $SOCK" "$@"; }
conf_base 'inspect-answers: true'
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

out=$(q "$BPORT" alias.example.test A)
is "$(rcode "$out")" NXDOMAIN "inspect-answers: true: alias.example.test (CNAME to blocked www.example.test) is blocked"

# --- inspect-answers -------------------------------------------------------------------------
conf_base 'inspect-answers: false'
log=$(hup_log 'settings applied')
like "$log" 'reload: settings applied: inspect-answers$' "SIGHUP with inspect-answers: false: logged as applied"
out=$(q "$BPORT" alias.example.test A)
like "$(section "$out" ANSWER)" 'alias\.example\.test\. [0-9]+ IN CNAME www\.example\.test\.' \
	"  ... and in force: the CNAME answer is relayed"
conf_base 'inspect-answers: true'
hup_log 'settings applied' >/dev/null
is "$(rcode "$(q "$BPORT" alias.example.test A)")" NXDOMAIN "  ... and back on with the next SIGHUP"

# --- upstreams, with queries in flight across the switch ------------------------------------
"$PY" "$DNSPY" flood --port "$BPORT" --seconds $((3 * SLOW)) --names "a.example.test,b.example.test" \
	--threads 4 >"$T_TMP/flood.out" 2>&1 &
fl=$!; track $fl
sleep 1
UP="127.0.0.1:$FAKE_PORT"
conf_base 'inspect-answers: true'
log=$(hup_log 'settings applied')
like "$log" 'reload: settings applied: upstreams$' "SIGHUP moving upstreams to another server: applied"
unlike "$log" 'restart' "  ... with no restart warning"
out=$(q "$BPORT" moved.example.test A)
like "$(section "$out" ANSWER)" 'moved\.example\.test\. [0-9]+ IN A 192\.0\.2\.53' \
	"  ... queries now go to the new upstream (its answer, 192.0.2.53)"
grep -q 'name=moved\.example\.test\.' "$FAKE_LOG"; ok $? "  ... which logged the query"
timeout $((20 * SLOW)) tail --pid="$fl" -f /dev/null
fo=$(cat "$T_TMP/flood.out")
like "$fo" 'lost=0 ' "  ... and a flood across the switch lost no query ($fo)"
[ "$(sed -n 's/.*answered=\([0-9]*\).*/\1/p' <<<"$fo")" -gt 20 ]; ok $? "  ... (the flood got answers)"

# --- cache-size -----------------------------------------------------------------------------
conf_base 'inspect-answers: true' 'cache-size: 1000'
hup_log 'settings applied' >/dev/null
# each worker has its own cache and the kernel picks the worker: ask often enough to meet one twice
for i in 1 2 3 4 5 6 7 8 9 10; do q "$BPORT" cached.example.test A >/dev/null; done
st=$(stats)
[ "$(stat_val "$st" cache-hits)" -ge 1 ]; ok $? "SIGHUP with cache-size: 1000: a repeated query is a cache hit ($(stat_val "$st" cache-hits))"

# --- listen needs a restart; the rest of the file still applies ------------------------------
NEWPORT=$(free_port)
LPORT=$NEWPORT conf_base 'inspect-answers: false' 'cache-size: 1000'
log=$(hup_log 'settings applied|restart')
like "$log" "warning: reload: listen changed in $CFG, but only a restart applies it; the running value stays" \
	"SIGHUP changing listen: a warning names the key"
like "$log" 'reload: settings applied: inspect-answers$' "  ... and the rest of the file applies (inspect-answers)"
is "$(rcode "$(q "$BPORT" t.me A)")" NXDOMAIN "  ... the running socket still answers"
is "$(rcode "$(q "$NEWPORT" t.me A)")" none "  ... and nothing listens on the new address"
log=$(hup_log 'reload: summary')
like "$log" 'listen changed' "  ... and every later reload says it again until a restart"
out=$(timeout $((20 * SLOW)) "$BLOKIR" ctl -s "$SOCK" reload 2>&1); st=$?
is "$st" 0 "ctl reload with the changed listen: exit 0 (the rest applied)"
like "$out" "warning: reload: listen changed in $CFG, but only a restart applies it" \
	"  ... and it prints the warning naming the key"


# --- allow-from, deny-action ----------------------------------------------------------------
LPORT=$BPORT conf_base 'allow-from: [10.0.0.0/8]'
log=$(hup_log 'settings applied')
like "$log" 'settings applied: .*allow-from' "SIGHUP with allow-from: [10.0.0.0/8]: applied"
is "$(rcode "$(q "$BPORT" t.me A)")" REFUSED "  ... 127.0.0.1 is now refused"
LPORT=$BPORT conf_base 'allow-from: [10.0.0.0/8]' 'deny-action: drop'
hup_log 'settings applied' >/dev/null
is "$(rcode "$(q "$BPORT" t.me A)")" none "  ... and with deny-action: drop, not answered at all"
LPORT=$BPORT conf_base
hup_log 'settings applied' >/dev/null
is "$(rcode "$(q "$BPORT" t.me A)")" NXDOMAIN "  ... the default allow-from again: answered"
stop_blokir
done_testing
