#!/bin/bash
# 66-why-reload: `blokir ctl why` and `ctl flush-cache` answer with the settings in force, not the
# start-up file's. A SIGHUP that widens allow-from to 10.0.0.0/8 makes `why NAME --client
# 10.1.2.3` report an answer instead of refused, one that narrows it refuses 127.0.0.1; a SIGHUP
# that moves upstreams shows the new upstream in `why`'s answer line; after each, the daemon's
# `why` prints what the offline `blokir why -c FILE` prints for the same file. A SIGHUP that
# switches cache-size on makes flush-cache say it emptied the caches.
. "$(dirname "$0")/lib.sh"

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
SOCK="$T_TMP/ctl.sock"
UP="127.0.0.1:$NSD_PORT"
# conf [extra lines...]: the policy with www.example.test blocked, upstreams $UP, the socket
conf() {
	EXTRA_DOMAINS="  - name: www.example.test" write_policy "$CFG.new" "$BPORT" "$UP" \
		"control-socket: $SOCK" "$@"
	mv "$CFG.new" "$CFG"
}
# hup: SIGHUP, then waits for one more "settings applied" line and the workers' takeover
hup() {
	local n; n=$(grep -c 'reload: settings applied' "$T_TMP/blokir.log")
	kill -HUP "$T_BLOKIR_PID"
	wait_for $((10 * SLOW)) bash -c "[ \$(grep -c 'reload: settings applied' '$T_TMP/blokir.log') -gt $n ]"
	sleep 0.2
}
ctl() { timeout $((20 * SLOW)) "$BLOKIR" ctl -s "$SOCK" "$@"; }
# same_offline ARGS...: ctl why ARGS and blokir why -c CFG ARGS print the same
same_offline() {
	local on off
	on=$(ctl why "$@"); off=$("$BLOKIR" why -c "$CFG" "$@")
	if [ "$on" == "$off" ]; then pass "  ... ctl why $* prints what the offline why prints"; else
		fail "  ... ctl why $* prints what the offline why prints"; diag "ctl:" "$on" "offline:" "$off"
	fi
}

conf 'allow-from: [127.0.0.0/8]'
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

w=$(ctl why forwarded.example.test --client 10.1.2.3)
like "$w" '^decision: refused, the client is outside allow-from$' \
	"at start, allow-from 127.0.0.0/8: why --client 10.1.2.3 is refused"
w=$(ctl why forwarded.example.test)
like "$w" "^answer: forwarded to 127\\.0\\.0\\.1:$NSD_PORT;" "  ... and a forwarded name goes to nsd ($UP)"
out=$(ctl flush-cache)
like "$out" '^flush-cache: no cache configured' "  ... flush-cache: no cache configured"

# --- allow-from widened, upstreams moved, cache-size on -------------------------------------------
NEWUP_PORT=$(free_port)
UP="127.0.0.1:$NEWUP_PORT"
conf 'allow-from: [127.0.0.0/8, 10.0.0.0/8]' 'cache-size: 1000'
hup
like "$(tail -n 3 "$T_TMP/blokir.log")" 'settings applied: .*upstreams.*allow-from|settings applied: .*allow-from.*upstreams' \
	"SIGHUP widening allow-from and moving upstreams: applied"
w=$(ctl why forwarded.example.test --client 10.1.2.3)
unlike "$w" 'refused' "  ... why --client 10.1.2.3 is no longer refused"
like "$w" '^decision: forwarded$' "  ... but forwarded"
like "$w" "^answer: forwarded to 127\\.0\\.0\\.1:$NEWUP_PORT;" "  ... to the new upstream ($UP)"
same_offline forwarded.example.test --client 10.1.2.3
w=$(ctl why www.example.test --client 10.1.2.3)
like "$w" '^decision: blocked' "  ... a blocked name asked from 10.1.2.3 is blocked, not refused"
out=$(ctl flush-cache)
like "$out" '^flush-cache: done, 2 workers' "  ... flush-cache with cache-size now on: done"

# --- allow-from narrowed ------------------------------------------------------------------------
conf 'allow-from: [10.0.0.0/8]' 'cache-size: 1000'
hup
w=$(ctl why forwarded.example.test --client 127.0.0.1)
like "$w" '^decision: refused, the client is outside allow-from$' \
	"SIGHUP narrowing allow-from to 10.0.0.0/8: why --client 127.0.0.1 is refused"
same_offline forwarded.example.test --client 127.0.0.1
stop_blokir
done_testing
