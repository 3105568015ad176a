#!/bin/bash
# 41-notify: the sd_notify protocol, without systemd: NOTIFY_SOCKET points at a unix datagram
# socket this test reads (notifyd.py). Expected, in order: READY=1 with a STATUS= naming the policy,
# sent only once blokir answers; for a good reload RELOADING=1 with MONOTONIC_USEC=, then READY=1
# with the new policy in STATUS= and "last reload ...: ok"; for a refused file RELOADING=1 again,
# then READY=1 with "failed" in STATUS= (the old policy stays); STOPPING=1 at SIGTERM.
. "$(dirname "$0")/lib.sh"

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT"
NLOG="$T_TMP/notify.log"
: >"$NLOG"
"$PY" "$SYSDIR/notifyd.py" --socket "$T_TMP/notify.sock" --log "$NLOG" --port "$BPORT" \
	>"$T_TMP/notifyd.out" 2>&1 &
track $!
wait_for 10 grep -q '^ready' "$T_TMP/notifyd.out" || bail "notifyd did not start"

NOTIFY_SOCKET="$T_TMP/notify.sock" start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
# nlines N: waits until the log has N lines.
nlines() { wait_for $((10 * SLOW)) bash -c "[ \$(wc -l <'$NLOG') -ge $1 ]"; }
nlines 1
l1=$(sed -n 1p "$NLOG")
like "$l1" '^READY=1\|STATUS=policy: 11 enabled entries, 0 list names, generation 0 answered=yes$' \
	"start: READY=1 with STATUS=policy: 11 enabled entries ..., sent once blokir answers"

# --- a good reload ----------------------------------------------------------------------------
set_enabled "$CFG" t.me false
mono_us() { "$PY" -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)'; }
t_before=$(mono_us)
kill -HUP "$T_BLOKIR_PID"
nlines 3
t_after=$(mono_us)
l2=$(sed -n 2p "$NLOG"); l3=$(sed -n 3p "$NLOG")
like "$l2" '^RELOADING=1\|MONOTONIC_USEC=[0-9]+\|STATUS=' "good reload: RELOADING=1 with MONOTONIC_USEC= first"
usec=$(sed -n 's/.*MONOTONIC_USEC=\([0-9]*\).*/\1/p' <<<"$l2")
[ -n "$usec" ] && [ "$usec" -ge "$t_before" ] && [ "$usec" -le "$t_after" ]
ok $? "  ... MONOTONIC_USEC is CLOCK_MONOTONIC at the reload ($t_before <= $usec <= $t_after)"
like "$l3" '^READY=1\|STATUS=policy: 10 enabled entries, 0 list names, generation 1; last reload [0-9T:-]+Z: ok answered=yes$' \
	"  ... then READY=1, STATUS= with the new policy (10 entries, generation 1) and the reload ok"

# --- a refused reload -------------------------------------------------------------------------
cp "$CFG" "$T_TMP/good.yaml"
echo "  - name: bad..name" >>"$CFG"
kill -HUP "$T_BLOKIR_PID"
nlines 5
l4=$(sed -n 4p "$NLOG"); l5=$(sed -n 5p "$NLOG")
like "$l4" '^RELOADING=1\|MONOTONIC_USEC=[0-9]+\|STATUS=policy: 10 enabled' "bad reload: RELOADING=1 again"
like "$l5" '^READY=1\|STATUS=policy: 10 enabled entries, 0 list names, generation 1; last reload [0-9T:-]+Z: failed, 1 error, the previous policy stays answered=yes$' \
	"  ... then READY=1 (the old policy serves), STATUS= saying the reload failed"
is "$(rcode "$(q "$BPORT" www.t.me A)")" NOERROR "  ... and t.me is still lifted (the good reload's policy)"

stop_blokir
nlines 6
like "$(sed -n 6p "$NLOG")" '^STOPPING=1\|STATUS=stopping' "SIGTERM: STOPPING=1"
is "$(wc -l <"$NLOG")" 6 "six messages in all, in that order" || diag <"$NLOG"
done_testing
