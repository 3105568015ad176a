#!/bin/bash
# 47-log-file: log-file: sends the log to a file (start-up lines on stderr too, until ready);
# after a logrotate-style rename, SIGUSR2 opens the path again: new lines go to the new file, none
# to the renamed one; a reload that changes log-file moves logging to the new path; a relative
# path is refused at FILE:LINE:COLUMN; a detached daemon on a machine without syslog still
# writes why it stops into its log-file.
. "$(dirname "$0")/lib.sh"

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
LOG="$T_TMP/logs/blokir.log"
mkdir -p "$T_TMP/logs"
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" "log-file: $LOG"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
wait_log 5 'ready:' "$LOG"; ok $? "log-file: the ready line is in the file"
grep -q 'ready:' "$T_TMP/blokir.log"; ok $? "  ... and on stderr too (start-up lines go to both until ready)"
n=$(wc -l <"$T_TMP/blokir.log")
kill -USR1 "$T_BLOKIR_PID"
wait_log 5 'stats: queries=' "$LOG"; ok $? "  ... after start-up, lines go to the file (SIGUSR1's stats line)"
is "$(tail -n +$((n + 1)) "$T_TMP/blokir.log" | grep -c 'stats:')" 0 "  ... and no longer to stderr"

mv "$LOG" "$LOG.1"
kill -USR2 "$T_BLOKIR_PID"
wait_log 5 "reopen-logs: $LOG reopened" "$LOG"; ok $? "SIGUSR2 after a rename: the path is opened again (a new file, saying so)"
kill -USR1 "$T_BLOKIR_PID"
wait_log 5 'stats: queries=' "$LOG"; ok $? "  ... new lines go to the new file"
is "$(grep -c 'stats: queries=' "$LOG.1")" 1 "  ... none to the renamed one after the reopen"

LOG2="$T_TMP/logs/other.log"
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" "log-file: $LOG2"
kill -HUP "$T_BLOKIR_PID"
wait_log 5 "reload: log-file: from now on $LOG2" "$LOG"; ok $? "SIGHUP changing log-file: the old file says where logging went"
wait_log 5 'reload: settings applied: log-file' "$LOG2"; ok $? "  ... and the new file gets the lines from then on"
stop_blokir
grep -q 'stopped' "$LOG2"; ok $? "  ... up to the stop"

write_policy "$T_TMP/rel.yaml" "$BPORT" "127.0.0.1:$NSD_PORT" "log-file: blokir.log"
out=$("$BLOKIR" -c "$T_TMP/rel.yaml" --check 2>&1); st=$?
is "$st/$out" "1/$T_TMP/rel.yaml:7:11: log-file: expected an absolute path" "a relative log-file: refused at FILE:LINE:COLUMN"

# --- detached, no syslog reachable: the log-file still says why it stopped ---------------------
if [ -n "$BLOKIR_WRAPPER" ] || [ -e /dev/log ]; then
	skip "needs no /dev/log and no wrapper" "detached without syslog: the log-file has the stop"
else
	write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" "log-file: $LOG"
	out=$(timeout 10 "$BLOKIR" -c "$CFG" "${ROOT_OPT[@]}" --pidfile "$T_TMP/d.pid" 2>&1); st=$?
	is "$st" 0 "detached with log-file: the starting command exits 0"
	unlike "$out" 'logs nowhere' "  ... without the no-syslog warning (it has a file)"
	dpid=$(cat "$T_TMP/d.pid" 2>/dev/null); [ -n "$dpid" ] && track "$dpid"
	kill -TERM "$dpid" 2>/dev/null
	wait_for 10 bash -c "! kill -0 $dpid 2>/dev/null"
	wait_log 5 'stopped' "$LOG"; ok $? "  ... and its stop is in the log-file"
fi
done_testing
