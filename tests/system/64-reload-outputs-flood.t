#!/bin/bash
# 64-reload-outputs-flood: a flood of blocked queries across reloads that replace the audit writer
# and the dnstap writer: audit-log moved A -> B -> A (the running keys are then the start-up ones
# again, but the writer is a new one; the workers must still let go of the replaced one), its
# buffer and prefix changed, dnstap moved between two files and switched off and on. No query is
# lost (the flood's answers), every blocked answer has exactly one whole audit line over the
# files (nothing queued in a replaced ring is lost), audit-dropped stays 0, the dnstap files
# read back whole. Then -v against `log-level:`: the command line wins, and a reload that finds
# the file's level changed says so.
. "$(dirname "$0")/lib.sh"

command -v dnstap-read >/dev/null || { skip "no dnstap-read (bind9)" "dnstap read-back"; done_testing; exit 0; }

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
A="$T_TMP/a.log" B="$T_TMP/b.log"
T1="$T_TMP/t1.fstrm" T2="$T_TMP/t2.fstrm"
conf() {
	write_policy "$CFG.new" "$BPORT" "127.0.0.1:$NSD_PORT" "$@"
	mv "$CFG.new" "$CFG"
}
# hup: SIGHUP, then waits for the reload's settings line
hup() {
	local n; n=$(wc -l <"$T_TMP/blokir.log")
	kill -HUP "$T_BLOKIR_PID"
	wait_for $((10 * SLOW)) bash -c "tail -n +$((n + 1)) '$T_TMP/blokir.log' | grep -q 'settings applied'" ||
		diag "no settings line after a SIGHUP"
}
conf "audit-log: $A" "dnstap:" "  file: $T1"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

"$PY" "$DNSPY" flood --port "$BPORT" --seconds $((5 * SLOW)) --threads 4 \
	--names www.t.me,web.telegram.org,x.telegram.me,a.flora.web.telegram.org \
	>"$T_TMP/flood.out" 2>&1 &
FLOOD=$!
track "$FLOOD"
sleep 0.6
conf "audit-log: $B" "audit-buffer-kb: 64" "dnstap:" "  file: $T2"
hup
sleep 0.6
conf "audit-log: $A" "audit-client-ipv4-prefix: 24"
hup
sleep 0.6
conf "audit-log: $A" "dnstap:" "  file: $T1"
hup
sleep 0.6
conf "audit-log: $B" "dnstap:" "  file: $T2" "  identity: again"
hup
wait "$FLOOD"
sleep 0.5
s=$(stats)
stop_blokir

res=$(cat "$T_TMP/flood.out")
diag "flood: $res"
like "$res" 'lost=0 ' "a flood across four reloads replacing the audit and dnstap writers lost no query"
answered=$(sed -n 's/.*answered=\([0-9]*\).*/\1/p' <<<"$res")
blocked=$(stat_val "$s" blocked)
[ "$answered" -gt 100 ]; ok $? "  ... (the flood got $answered answers)"
is "$(stat_val "$s" audit-dropped)/$(stat_val "$s" dnstap-dropped)" "0/0" "nothing dropped (audit-dropped, dnstap-dropped)"
na=$(grep -c '"event":"blocked"' "$A"); nb=$(grep -c '"event":"blocked"' "$B")
diag "audit lines: $na in a, $nb in b; blocked=$blocked"
ok $([ "$na" -gt 0 ] && [ "$nb" -gt 0 ]; echo $?) "both audit files got lines ($na, $nb)"
is $((na + nb)) "$blocked" "blocked lines over both files == the blocked counter: no queued line lost"
grep -q '"client":"127\.0\.0\.0"' "$A"; ok $? "the prefix change applied (127.0.0.0 in the file)"
is "$(cat "$A" "$B" | "$PY" -c '
import json, sys
for l in sys.stdin:
    json.loads(l)
print("ok")')" ok "every line is one whole JSON object"
y1=$(dnstap-read -y "$T1" 2>&1); s1=$?
y2=$(dnstap-read -y "$T2" 2>&1); s2=$?
is "$s1/$s2" "0/0" "both dnstap files read back with dnstap-read -y (whole streams)"
grep -q '^identity: again' <<<"$y2"; ok $? "  ... with the last identity in the second"
c1=$(grep -c '^type: MESSAGE' <<<"$y1"); c2=$(grep -c '^type: MESSAGE' <<<"$y2")
ok $([ "$c1" -gt 0 ] && [ "$c2" -gt 0 ]; echo $?) "  ... both hold messages ($c1, $c2)"

# --- -v wins over log-level ----------------------------------------------------------------------
SOCK="$T_TMP/ctl.sock"
conf "log-level: warning" "control-socket: $SOCK"
: >"$T_TMP/blokir.log"
start_blokir "$CFG" "$BPORT" -v || bail "blokir -v did not start"
n=$(wc -l <"$T_TMP/blokir.log")
q "$BPORT" t.me A >/dev/null
sleep 0.2
like "$(tail -n +$((n + 1)) "$T_TMP/blokir.log")" 'debug: blocked by "t.me"' "-v with log-level: warning: debug lines are logged"
out=$(timeout $((20 * SLOW)) "$BLOKIR" ctl -s "$SOCK" reload 2>&1); st=$?
is "$st" 0 "ctl reload: exit 0"
like "$out" "warning: reload: log-level changed in $CFG, but the command line set it; the command line's value stays" \
	"  ... a warning says the command line's level stays"
n=$(wc -l <"$T_TMP/blokir.log")
q "$BPORT" telegram.me A >/dev/null
sleep 0.2
like "$(tail -n +$((n + 1)) "$T_TMP/blokir.log")" 'debug: blocked by "telegram.me"' "  ... and debug lines go on"
stop_blokir
done_testing
