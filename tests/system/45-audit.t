#!/bin/bash
# 45-audit: the audit log (audit-log:). Known queries give exactly the lines they should (every
# field but the time compared; the time checked as RFC 3339 UTC with milliseconds, within the
# test's run); forwarded names give none; the client is cut to audit-client-ipv4-prefix; a CNAME
# to a blocked name is a cname-blocked line; a listed name names its list file and the
# `lists:` item's line (not as the entry's file:line); rate-limited queries are logged when switched on.
# A flood of blocked queries with two logrotate-style renames, one followed by SIGUSR2 and one by
# `blokir ctl reopen-logs`, loses no line: the lines
# over the three files equal the blocked answers counted, and audit-dropped stays 0. Bad values
# of the keys are refused by --check with FILE:LINE:COLUMN. A log whose writes fail (/dev/full)
# counts the lines lost (audit-write-failed), logs the burst once, and queries are still answered;
# so does a file size limit (RLIMIT_FSIZE), which without SIGXFSZ ignored would end the daemon.
. "$(dirname "$0")/lib.sh"

eval "lib_write_zone() $(declare -f write_zone | tail -n +2)"
write_zone() {
	lib_write_zone "$1"
	printf 'tme\tIN CNAME www.t.me.\n' >>"$1"
}

AUDIT="$T_TMP/audit.log"
EXTRA_DOMAINS='  - name: nodata.example.test
    action: nodata
    ref: "27-31/Id2971-17"'
T0=$(date -u +%s)
CSOCK="$T_TMP/ctl.sock"
printf '# trackers\nfirst.example\ntracker.example\n' >"$T_TMP/trackers.txt"
setup_std "audit-log: $AUDIT" "audit-client-ipv4-prefix: 24" "control-socket: $CSOCK" \
	"lists:" "  - file: trackers.txt" "    reason: \"tracker list\""

q "$BPORT" Venus.Web.Telegram.ORG A >/dev/null
q "$BPORT" www.t.me AAAA +tcp >/dev/null
q "$BPORT" x.nodata.example.test TXT >/dev/null
q "$BPORT" www.example.test A >/dev/null       # forwarded: no line
q "$BPORT" tme.example.test A >/dev/null       # CNAME to www.t.me: cname-blocked
q "$BPORT" ads.Tracker.example A >/dev/null    # below a listed name
sleep 0.3

# lines QNAME-REGEX: the audit lines (over every file given as more arguments) for QNAME.
lines_for() {
	local re=$1; shift
	cat "$@" 2>/dev/null | grep -E "\"qname\":\"$re\"" || true
}

# fields LINE: the line as JSON with "time" checked (RFC 3339 UTC, ms, not before the test's
# start) and removed, keys sorted, so it compares exactly.
fields() {
	"$PY" -c '
import json, re, sys, calendar, time
d = json.loads(sys.argv[1])
t = d.pop("time")
m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z", t)
assert m, "bad time " + t
s = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
assert int(sys.argv[2]) - 1 <= s <= time.time() + 1, "time out of range " + t
print(json.dumps(d, sort_keys=True))
' "$1" "$T0" 2>&1
}

CFGP="$CFG"
l=$(lines_for 'Venus\.Web\.Telegram\.ORG\.' "$AUDIT")
is "$(fields "$l")" \
	"{\"action\": \"nxdomain\", \"client\": \"127.0.0.0\", \"entry\": \"venus.web.telegram.org\", \"event\": \"blocked\", \"file\": \"$CFGP\", \"line\": $(grep -n 'name: venus.web.telegram.org' "$CFG" | cut -d: -f1), \"qname\": \"Venus.Web.Telegram.ORG.\", \"qtype\": \"A\", \"reason\": \"Kominfo order, 2017-07-14\", \"transport\": \"udp\"}" \
	"UDP blocked query: the whole line (qname as asked, client cut to /24, entry, file:line)"
l=$(lines_for 'www\.t\.me\.' "$AUDIT" | grep -v cname)
is "$(fields "$l")" \
	"{\"action\": \"nxdomain\", \"client\": \"127.0.0.0\", \"entry\": \"t.me\", \"event\": \"blocked\", \"file\": \"$CFGP\", \"line\": $(grep -n 'name: t.me$' "$CFG" | cut -d: -f1), \"qname\": \"www.t.me.\", \"qtype\": \"AAAA\", \"reason\": \"Kominfo order, 2017-07-14\", \"transport\": \"tcp\"}" \
	"TCP blocked query below an entry: the deciding entry's name"
l=$(lines_for 'x\.nodata\.example\.test\.' "$AUDIT")
is "$(fields "$l")" \
	"{\"action\": \"nodata\", \"client\": \"127.0.0.0\", \"entry\": \"nodata.example.test\", \"event\": \"blocked\", \"file\": \"$CFGP\", \"line\": $(grep -n 'name: nodata.example.test' "$CFG" | cut -d: -f1), \"qname\": \"x.nodata.example.test.\", \"qtype\": \"TXT\", \"ref\": \"27-31/Id2971-17\", \"transport\": \"udp\"}" \
	"an entry's own action and its ref"
is "$(lines_for 'www\.example\.test\.' "$AUDIT")" "" "a forwarded name has no line"
l=$(lines_for 'tme\.example\.test\.' "$AUDIT")
is "$(fields "$l")" \
	"{\"action\": \"nxdomain\", \"client\": \"127.0.0.0\", \"entry\": \"t.me\", \"event\": \"cname-blocked\", \"file\": \"$CFGP\", \"line\": $(grep -n 'name: t.me$' "$CFG" | cut -d: -f1), \"qname\": \"tme.example.test.\", \"qtype\": \"A\", \"reason\": \"Kominfo order, 2017-07-14\", \"target\": \"www.t.me.\", \"transport\": \"udp\"}" \
	"an answer whose CNAME reaches a blocked name: cname-blocked, with the target"

# A listed name: the list file and the listed name, and the `lists:` item's line under its own
# key, not as the entry's "file"/"line" (the name's line in the list file is what `why` reads
# back from the file; the audit line does not have it).
l=$(lines_for 'ads\.Tracker\.example\.' "$AUDIT")
item=$(grep -n '^  - file: trackers.txt' "$CFG" | cut -d: -f1)
is "$(fields "$l")" \
	"{\"action\": \"nxdomain\", \"client\": \"127.0.0.0\", \"entry\": \"tracker.example\", \"event\": \"blocked\", \"list\": \"$T_TMP/trackers.txt\", \"list-item-line\": $item, \"qname\": \"ads.Tracker.example.\", \"qtype\": \"A\", \"reason\": \"tracker list\", \"transport\": \"udp\"}" \
	"a listed name: the list file, the listed name, the lists: item's line (no file/line)"
like "$(timeout 10 "$BLOKIR" why -c "$CFG" ads.tracker.example 2>&1)" \
	"deciding entry: tracker\.example\.? listed at $T_TMP/trackers\.txt:3 \(lists\[0\] at $CFG:$item\)" \
	"  ... the same list and item as why names (which adds the name's line in the list file)"

# --- a burst with logrotate-style renames -------------------------------------------------------
"$PY" "$DNSPY" flood --port "$BPORT" --seconds 4 --threads 4 --stop-file "$T_TMP/stop" \
	--names www.t.me,web.telegram.org,x.telegram.me,a.flora.web.telegram.org \
	>"$T_TMP/flood.out" 2>&1 &
FLOOD=$!
track "$FLOOD"
sleep 1
mv "$AUDIT" "$AUDIT.1"; kill -USR2 "$T_BLOKIR_PID"
sleep 1
mv "$AUDIT" "$AUDIT.2"
out=$(timeout 10 "$BLOKIR" ctl -s "$CSOCK" reopen-logs 2>&1); st=$?
wait "$FLOOD"
is "$st" 0 "the second rotation by ctl reopen-logs: exit 0"
like "$out" "^reopen-logs: audit-log $AUDIT reopened$" "  ... saying the audit log was reopened"
sleep 0.5
s=$(stats)
stop_blokir
res=$(cat "$T_TMP/flood.out")
diag "flood: $res"
answered=$(sed -n 's/.*answered=\([0-9]*\).*/\1/p' <<<"$res")
blocked=$(stat_val "$s" blocked)
dropped=$(stat_val "$s" audit-dropped)
n1=$(grep -c '"event":"blocked"' "$AUDIT.1"); n2=$(grep -c '"event":"blocked"' "$AUDIT.2")
n3=$(grep -c '"event":"blocked"' "$AUDIT")
fl=$(cat "$AUDIT.1" "$AUDIT.2" "$AUDIT" | grep -cE '"qname":"(www\.t\.me|web\.telegram\.org|x\.telegram\.me|a\.flora\.web\.telegram\.org)\."' )
diag "lines: $n1 + $n2 + $n3; blocked=$blocked audit-dropped=$dropped"
is "$dropped" 0 "nothing dropped (audit-dropped=0)"
ok $([ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] && [ "$n3" -gt 0 ]; echo $?) \
	"each of the three files got lines ($n1, $n2, $n3)"
is $((n1 + n2 + n3)) "$blocked" "blocked lines over the three files == the blocked counter"
ok $([ "$fl" -ge "$answered" ] && [ "$answered" -gt 100 ]; echo $?) \
	"the flood's $answered blocked answers each have a line ($fl)"
is "$(cat "$AUDIT.1" "$AUDIT.2" "$AUDIT" | "$PY" -c '
import json, sys
n = 0
for l in sys.stdin:
    json.loads(l); n += 1
print("ok")')" ok "every line is one whole JSON object"

# --- rate-limited queries, switched on; blocked ones switched off ---------------------------------
P2=$(free_port)
write_policy "$T_TMP/rl.yaml" "$P2" "127.0.0.1:$NSD_PORT" "audit-log: $T_TMP/rl.log" \
	"audit-blocked: false" "audit-rate-limited: true" "rate-limit-qps: 5" "rate-limit-burst: 5"
start_blokir "$T_TMP/rl.yaml" "$P2" || bail "blokir did not start"
pids=()
for i in $(seq 1 30); do q "$P2" "n$i.t.me" A +time=1 >/dev/null & pids+=($!); done
wait "${pids[@]}"
s=$(stats)
stop_blokir "blokir with rate limits stops cleanly"
rl=$(stat_val "$s" rate-limited)
nrl=$(grep -c '"event":"rate-limited"' "$T_TMP/rl.log")
ok $([ "$rl" -gt 0 ]; echo $?) "some queries were rate limited ($rl)"
is "$nrl" "$rl" "one rate-limited line per rate-limited query"
is "$(grep -c '"event":"blocked"' "$T_TMP/rl.log")" 0 "audit-blocked: false logs no blocked query"
like "$(grep '"event":"rate-limited"' "$T_TMP/rl.log" | head -n1)" \
	'"client":"127\.0\.0\.1","transport":"udp","qname":"n[0-9]+\.t\.me\.","qtype":"A","entry":"rate-limit-qps","action":"drop"' \
	"a rate-limited line: whole client address by default, the limit as the entry"

# --- clients outside allow-from, switched on -----------------------------------------------------
P3=$(free_port)
write_policy "$T_TMP/acl.yaml" "$P3" "127.0.0.1:$NSD_PORT" "audit-log: $T_TMP/acl.log" \
	"audit-acl-denied: true" "allow-from: [192.0.2.0/24]"
start_blokir "$T_TMP/acl.yaml" "$P3" || bail "blokir did not start"
is "$(rcode "$(q "$P3" www.example.test A)")" REFUSED "a client outside allow-from is refused"
q "$P3" tcp.example.test A +tcp >/dev/null
stop_blokir "blokir with allow-from stops cleanly"
like "$(grep '"qname":"www\.example\.test\."' "$T_TMP/acl.log")" \
	'"event":"acl-denied","client":"127\.0\.0\.1","transport":"udp","qname":"www\.example\.test\.","qtype":"A","entry":"allow-from","action":"refused"\}$' \
	"UDP: an acl-denied line with the question and the action"
like "$(grep '"transport":"tcp"' "$T_TMP/acl.log" | head -n1)" \
	'"event":"acl-denied","client":"127\.0\.0\.1","transport":"tcp","entry":"allow-from","action":"drop"\}$' \
	"TCP: the connection is closed before any question; the line says so"

# --- a file whose writes fail (/dev/full: ENOSPC): lines counted as lost, one log line, and
# the daemon goes on answering ---------------------------------------------------------------------
P4=$(free_port)
write_policy "$T_TMP/full.yaml" "$P4" "127.0.0.1:$NSD_PORT" "audit-log: /dev/full" \
	"control-socket: $T_TMP/full.sock"
start_blokir "$T_TMP/full.yaml" "$P4" || bail "blokir did not start"
for i in 1 2 3 4 5; do q "$P4" "f$i.t.me" A >/dev/null; sleep 0.05; done
sleep 0.3
s=$(stats)
# start_blokir's own probe (t.me) was blocked and logged too: six lines
is "$(stat_val "$s" audit-write-failed)" 6 "audit-write-failed counts every line lost (SIGUSR1)"
is "$(timeout 10 "$BLOKIR" ctl -s "$T_TMP/full.sock" stats 2>&1 | grep '^audit-write-failed ')" "audit-write-failed 6" \
	"  ... and ctl stats"
like "$(timeout 10 "$BLOKIR" ctl -s "$T_TMP/full.sock" stats --json 2>&1)" '"audit-write-failed":6[,}]' \
	"  ... and ctl stats --json"
is "$(rcode "$(q "$P4" g.t.me A)")" NXDOMAIN "blocked names still answered"
is "$(rcode "$(q "$P4" www.example.test A)")" NOERROR "forwarded names still answered"
is "$(grep -c 'audit-log /dev/full: write: No space left on device' "$T_TMP/blokir.log")" 1 \
	"one log line for the burst of failed writes, with the error"
kill -USR2 "$T_BLOKIR_PID"; sleep 0.3
q "$P4" h.t.me A >/dev/null; sleep 0.3
is "$(stat_val "$(stats)" audit-write-failed)" 8 "after a reopen the writer tries again (and counts)"
# a reload onto a file that works: the count goes on (not reset by the new writer), lines arrive
sed -i "s|^audit-log: /dev/full|audit-log: $T_TMP/full-fixed.log|" "$T_TMP/full.yaml"
timeout 10 "$BLOKIR" ctl -s "$T_TMP/full.sock" reload >/dev/null 2>&1
q "$P4" i.t.me A >/dev/null
wait_for 3 grep -q '"qname":"i.t.me."' "$T_TMP/full-fixed.log"; ok $? "a reload to a writable audit-log: lines written again"
is "$(stat_val "$(stats)" audit-write-failed)" 8 "  ... and audit-write-failed keeps its count across the new writer"
stop_blokir "blokir with a failing audit log stops cleanly"

# --- a file size limit (RLIMIT_FSIZE: systemd's LimitFSIZE=, ulimit -f): a write past it is
# EFBIG, not a SIGXFSZ that kills the daemon; the lines past it are counted as lost ------------------
P5=$(free_port)
mv "$T_TMP/blokir.log" "$T_TMP/blokir-before-fsize.log"
write_policy "$T_TMP/fsize.yaml" "$P5" "127.0.0.1:$NSD_PORT" "audit-log: $T_TMP/fsize.log" \
	"control-socket: $T_TMP/fsize.sock"
start_blokir "$T_TMP/fsize.yaml" "$P5" || bail "blokir did not start"
prlimit --fsize=65536 --pid "$T_BLOKIR_PID"
for i in $(seq 1 400); do echo "z$i.t.me A"; done >"$T_TMP/fsize-q.txt"
timeout 60 dig @127.0.0.1 -p "$P5" +time=2 +tries=1 +nocookie -f "$T_TMP/fsize-q.txt" 2>&1 |
	grep -c 'status: NXDOMAIN' >"$T_TMP/fsize-answered.txt"
is "$(cat "$T_TMP/fsize-answered.txt")" 400 "400 blocked queries answered while the audit log passes a 64 KiB size limit"
sleep 0.3
kill -0 "$T_BLOKIR_PID" 2>/dev/null; ok $? "the daemon is alive (SIGXFSZ does not end it)"
is "$(rcode "$(q "$P5" www.example.test A)")" NOERROR "  ... and still forwards"
failed=$(timeout 10 "$BLOKIR" ctl -s "$T_TMP/fsize.sock" stats 2>&1 | sed -n 's/^audit-write-failed //p')
whole=$(grep -c '^{.*}$' "$T_TMP/fsize.log")
ok "$([ "${failed:-0}" -gt 0 ] && echo 0 || echo 1)" "audit-write-failed counts the lines past the limit ($failed)"
# start_blokir's probe (t.me) is a line too: 401 in all
is "$((whole + ${failed:-0}))" 401 "whole lines in the file + audit-write-failed == blocked answers ($whole + $failed)"
ok "$([ "$(stat -c %s "$T_TMP/fsize.log")" -le 65536 ] && echo 0 || echo 1)" "the file stays within the limit"
like "$(cat "$T_TMP/blokir.log")" "audit-log $T_TMP/fsize.log: write: File too large" "the failure is logged with its cause"
stop_blokir "blokir with a file size limit stops cleanly"

# --- bad values ----------------------------------------------------------------------------------
check_bad() { # LINE EXPECTED-MESSAGE DESCRIPTION
	local f="$T_TMP/bad.yaml" out
	printf 'listen: ["127.0.0.1:%s"]\nupstreams: ["127.0.0.1:53"]\n%s\n' "$P2" "$1" >"$f"
	out=$(timeout 10 "$BLOKIR" -c "$f" --check 2>&1); st=$?
	is "$st" 1 "--check exits 1: $3"
	like "$out" "^$f:3:[0-9]+: $2" "$3: FILE:LINE:COLUMN and what was expected"
}
check_bad 'audit-log: audit.log' 'audit-log: expected an absolute path' "a relative audit-log"
check_bad 'audit-client-ipv4-prefix: 33' 'audit-client-ipv4-prefix: expected an integer 0\.\.32' \
	"an IPv4 prefix over 32"
check_bad 'audit-client-ipv6-prefix: /48' 'audit-client-ipv6-prefix: expected an integer 0\.\.128' \
	"a prefix written with a slash"
check_bad 'audit-cname-blocked: perhaps' 'audit-cname-blocked: expected true or false' \
	"a switch that is not a boolean"
check_bad 'audit-buffer-kb: 1' 'audit-buffer-kb: expected an integer 64\.\.1048576' \
	"a ring too small"
f="$T_TMP/nodir.yaml"
write_policy "$f" "$P2" "127.0.0.1:$NSD_PORT" "audit-log: $T_TMP/no/such/dir/audit.log"
timeout 10 "$BLOKIR" -c "$f" --foreground "${ROOT_OPT[@]}" >"$T_TMP/nodir.out" 2>&1; st=$?
is "$st" 3 "an audit-log that cannot be opened: start-up fails with exit 3"
like "$(cat "$T_TMP/nodir.out")" "audit-log $T_TMP/no/such/dir/audit.log: No such file or directory" \
	"... saying which file and why"

done_testing
