#!/bin/bash
# 63-reload-outputs: a reload applies the daemon's outputs, not only the workers' settings.
# SIGHUP turns audit-log on, dnstap on (a file), moves metrics-listen to another free port (the
# old port then refuses, the new one serves) and sets log-level: debug (a blocked query then
# logs its debug line); the next SIGHUP moves the audit log and retargets dnstap to another file
# (each file holds exactly the queries of its time: audit lines compared, dnstap read back with
# dnstap-read -y) and sets log-level: warning (info lines stop). A `ctl reload` whose audit-log
# cannot be opened and whose metrics-listen is a port in use exits 4, prints a warning naming
# key, path and cause for each, and still applies the policy (a new entry blocks) and the other
# keys (a new dnstap identity on the same file, which goes on: nothing truncated); the audit log
# keeps its old file. The next reload switches all of them off. No query is lost meanwhile. A bad
# log-level value is refused by --check with FILE:LINE:COLUMN.
. "$(dirname "$0")/lib.sh"

command -v dnstap-read >/dev/null || { skip "no dnstap-read (bind9)" "dnstap read-back"; done_testing; exit 0; }
command -v curl >/dev/null || { skip "no curl" "metrics"; done_testing; exit 0; }

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
M1=$(free_port)
M2=$(free_port)
CFG="$T_TMP/policy.yaml"
SOCK="$T_TMP/ctl.sock"
A1="$T_TMP/audit1.log" A2="$T_TMP/audit2.log"
TAP1="$T_TMP/tap1.fstrm" TAP2="$T_TMP/tap2.fstrm"
# conf [extra lines...]: the eleven domains (and $EXTRA_DOMAINS), the control socket
conf() {
	write_policy "$CFG.new" "$BPORT" "127.0.0.1:$NSD_PORT" "control-socket: $SOCK" "$@"
	mv "$CFG.new" "$CFG"
}
# hup_log ERE: SIGHUP, then waits for a new log line matching ERE; prints the new lines
hup_log() {
	local n; n=$(wc -l <"$T_TMP/blokir.log")
	kill -HUP "$T_BLOKIR_PID"
	wait_for $((10 * SLOW)) bash -c "tail -n +$((n + 1)) '$T_TMP/blokir.log' | grep -Eq -- '$1'"
	sleep 0.3 # the workers take the settings over on their own threads, right after the line
	tail -n +$((n + 1)) "$T_TMP/blokir.log"
}
ctl_reload() { timeout $((20 * SLOW)) "$BLOKIR" ctl -s "$SOCK" reload 2>&1; }
scrape() { curl -sf --max-time 5 "http://127.0.0.1:$1/metrics"; }
log_since() { tail -n +$(($1 + 1)) "$T_TMP/blokir.log"; }
qnames() { grep -o '"qname":"[^"]*"' "$1" 2>/dev/null | sed 's/"qname":"\(.*\)\."/\1/' | sort | tr '\n' ' '; }

conf "metrics-listen: \"127.0.0.1:$M1\""
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
scrape "$M1" >/dev/null; ok $? "at start: the metrics page on the first port"
q "$BPORT" before.telegram.org A >/dev/null
n=$(wc -l <"$T_TMP/blokir.log")
q "$BPORT" t.me A >/dev/null
sleep 0.2
unlike "$(log_since "$n")" 'debug: blocked by' "at start (log-level info): no debug line for a blocked query"

# --- on: audit-log, dnstap, metrics moved, log-level debug ----------------------------------
conf "metrics-listen: \"127.0.0.1:$M2\"" "audit-log: $A1" "log-level: debug" \
	"dnstap:" "  file: $TAP1" "  identity: tap-one"
log=$(hup_log 'settings applied')
like "$log" 'reload: settings applied: .*audit-log' "SIGHUP turning audit-log on: applied"
like "$log" 'settings applied: .*dnstap' "  ... dnstap too"
like "$log" 'settings applied: .*metrics-listen' "  ... metrics-listen too"
like "$log" 'settings applied: .*log-level' "  ... and log-level"
unlike "$log" 'restart' "  ... with no restart warning"
scrape "$M2" >"$T_TMP/m2"; ok $? "metrics-listen moved: the new port serves the page"
grep -q '^blokir_' "$T_TMP/m2"; ok $? "  ... with the counters"
scrape "$M1" >/dev/null; isnt=$?
[ "$isnt" -ne 0 ]; ok $? "  ... and the old port no longer answers (curl exit $isnt)"
n=$(wc -l <"$T_TMP/blokir.log")
is "$(rcode "$(q "$BPORT" venus.web.telegram.org A)")" NXDOMAIN "a blocked query after the reload: NXDOMAIN"
q "$BPORT" www.example.test A >/dev/null  # forwarded: dnstap only
wait_for $((5 * SLOW)) grep -q 'venus' "$A1"
is "$(qnames "$A1")" "venus.web.telegram.org " "  ... its audit line is in the new audit-log (and only it)"
like "$(log_since "$n")" 'debug: blocked by "venus.web.telegram.org"' "  ... log-level debug: the blocked query's debug line"

# --- moved: audit-log to another file, dnstap to another file, log-level warning ------------
conf "metrics-listen: \"127.0.0.1:$M2\"" "audit-log: $A2" "log-level: warning" \
	"dnstap:" "  file: $TAP2" "  identity: tap-one"
log=$(hup_log 'settings applied')
like "$log" 'settings applied: audit-log, dnstap, log-level$' "SIGHUP moving audit-log and dnstap, log-level warning: applied (the line still logged)"
q "$BPORT" flora.web.telegram.org A >/dev/null
q "$BPORT" www.example.test TXT >/dev/null
wait_for $((5 * SLOW)) grep -q 'flora' "$A2"
is "$(qnames "$A2")" "flora.web.telegram.org " "audit-log moved: the next blocked query is in the new file"
is "$(qnames "$A1")" "venus.web.telegram.org " "  ... and the old file holds exactly the lines of its time"
n=$(wc -l <"$T_TMP/blokir.log")
out=$(ctl_reload); st=$?
is "$st" 0 "ctl reload with nothing changed: exit 0"
sleep 0.2
is "$(log_since "$n" | grep -c ' info: ')" 0 "log-level warning: a reload logs no info line any more"

# --- a target that cannot be opened: warning, exit 4, the rest applies -----------------------
EXTRA_DOMAINS='  - name: newly.example.test' \
	conf "metrics-listen: \"127.0.0.1:$NSD_PORT\"" "audit-log: $T_TMP/no/such/dir/audit.log" \
	"log-level: info" "dnstap:" "  file: $TAP2" "  identity: tap-two"
out=$(ctl_reload); st=$?
is "$st" 4 "ctl reload with an unopenable audit-log and a metrics port in use: exit 4"
like "$out" "warning: reload: audit-log $T_TMP/no/such/dir/audit.log: No such file or directory; the audit settings keep their running values \\(still writing to $A2\\)" \
	"  ... a warning names audit-log, the path and the cause"
like "$out" "warning: reload: metrics-listen 127.0.0.1:$NSD_PORT: Address already in use; metrics-listen keeps its running value \\(still serving on 127.0.0.1:$M2\\)" \
	"  ... and metrics-listen, the address and the cause"
like "$out" 'reload: the policy is in force, but 2 settings could not be applied' "  ... and says the policy is in force"
like "$out" 'settings applied: .*dnstap' "  ... the other keys apply (dnstap identity)"
unlike "$out" 'settings applied: .*(audit-log|metrics-listen)' "  ... and the failed ones are not listed as applied"
like "$(grep 'warning: reload: audit-log' "$T_TMP/blokir.log")" 'No such file or directory' "  ... the warning is in the log too"
is "$(rcode "$(q "$BPORT" newly.example.test A)")" NXDOMAIN "  ... the new policy entry blocks"
scrape "$M2" >/dev/null; ok $? "  ... the metrics page stays on its port"
q "$BPORT" pluto.web.telegram.org A >/dev/null
wait_for $((5 * SLOW)) grep -q 'pluto' "$A2"
is "$(qnames "$A2")" "flora.web.telegram.org newly.example.test pluto.web.telegram.org " "  ... and the audit log keeps its file"
out=$(ctl_reload); st=$?
is "$st" 4 "  ... every later reload tries again and says so"

# --- off ------------------------------------------------------------------------------------
conf
log=$(hup_log 'settings applied')
like "$log" 'settings applied: .*audit-log.*dnstap.*metrics-listen' "SIGHUP removing audit-log, dnstap, metrics-listen: applied"
q "$BPORT" telegram.me A >/dev/null
sleep 0.3
is "$(qnames "$A2")" "flora.web.telegram.org newly.example.test pluto.web.telegram.org " "audit-log off: no more lines"
scrape "$M2" >/dev/null; st=$?
[ "$st" -ne 0 ]; ok $? "metrics-listen off: the page is gone (curl exit $st)"
st=$(stats)
stop_blokir

# --- dnstap read back ------------------------------------------------------------------------
y1=$(dnstap-read -y "$TAP1" 2>&1); s1=$?
y2=$(dnstap-read -y "$TAP2" 2>&1); s2=$?
is "$s1/$s2" "0/0" "both dnstap files read back with dnstap-read -y"
# msgs TEXT TYPE: the query names of TEXT's messages of TYPE, sorted, with identities
msgs() {
	printf '%s\n' "$1" >"$T_TMP/docs.yaml"
	"$PY" - "$2" "$T_TMP/docs.yaml" <<'PYEOF'
import re, sys
t, path = sys.argv[1:]
out = []
for d in open(path).read().split("\n---\n"):
    if ("  type: %s\n" % t) not in d:
        continue
    name = re.search(r"- '([^ ]+) IN", d)
    ident = re.search(r"^identity: (\S+)", d, re.M)
    out.append("%s@%s" % (name.group(1) if name else "?", ident.group(1) if ident else "?"))
print(" ".join(sorted(out)))
PYEOF
}
is "$(msgs "$y1" CLIENT_QUERY)" "venus.web.telegram.org.@tap-one www.example.test.@tap-one" \
	"dnstap on: the first file holds exactly the queries of its time"
is "$(msgs "$y1" CLIENT_RESPONSE)" "venus.web.telegram.org.@tap-one www.example.test.@tap-one" \
	"  ... and their responses"
is "$(msgs "$y2" CLIENT_QUERY)" "flora.web.telegram.org.@tap-one newly.example.test.@tap-two pluto.web.telegram.org.@tap-two www.example.test.@tap-one" \
	"retargeted: the second file has the later ones; the identity changed in place on the same file (nothing truncated)"
is "$(stat_val "$st" dnstap-dropped)/$(stat_val "$st" audit-dropped)" "0/0" "nothing dropped"

# --- a bad log-level: FILE:LINE:COLUMN, and a reload refuses the whole file ------------------
conf "log-level: loud"
line=$(grep -n '^log-level: loud$' "$CFG" | cut -d: -f1)
out=$("$BLOKIR" --check -c "$CFG" 2>&1); st=$?
is "$st" 1 "--check with log-level: loud: exit 1"
like "$out" "^$CFG:$line:12: .*expected one of error, warning, info, debug" "  ... FILE:LINE:COLUMN names the key's value and what is expected"
done_testing
