#!/bin/bash
# 22-privdrop: privilege drop. As root: `user: nobody` / `group: nogroup` leave every thread of
# the daemon running as nobody (the Uid and Gid lines of /proc/PID/task/*/status), and SIGHUP
# still reloads a policy file kept readable for nobody; without user: and without allow-root the
# daemon refuses to run (exit 3, a log line saying why); with chroot: the file inside the chroot
# (and a list beside it) is re-read on SIGHUP; a config outside the chroot is refused at start.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP not root: privileges cannot be dropped"
	exit 0
fi
getent passwd nobody >/dev/null && getent group nogroup >/dev/null ||
	{ echo "1..0 # SKIP no user nobody / group nogroup"; exit 0; }
NOBODY_UID=$(id -u nobody); NOGROUP_GID=$(getent group nogroup | cut -d: -f3)

# The path to the policy must be traversable by nobody for SIGHUP: the test directory is 0700.
chmod 755 "$T_TMP"

# state NAME: blocked (blokir's NXDOMAIN), forwarded (nsd's answer) or other:RCODE.
state() {
	local out; out=$(q "$BPORT" "$1" A)
	if [ "$(rcode "$out")" = NXDOMAIN ] && grep -q 'blokir\.invalid\.' <<<"$out"; then echo blocked
	elif [ "$(rcode "$out")" = NOERROR ] && [ -n "$(section "$out" ANSWER)" ]; then echo forwarded
	else echo "other:$(rcode "$out")"; fi
}

hup_until() { # NAME STATE
	kill -HUP "$T_BLOKIR_PID"
	local i
	for ((i = 0; i < 50 * SLOW; i++)); do
		[ "$(state "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# ids PID: "uid=A,B,C,D gid=A,B,C,D groups=..." of every thread, one line per distinct value.
ids() {
	local t
	for t in /proc/"$1"/task/*; do
		awk '/^Uid:/ { u = $2 "," $3 "," $4 "," $5 } /^Gid:/ { g = $2 "," $3 "," $4 "," $5 }
			/^Groups:/ { $1 = ""; gr = $0 } END { print "uid=" u " gid=" g " groups=" gr }' \
			"$t/status"
	done | sort -u
}

# --- user: nobody, group: nogroup ------------------------------------------------------------------
start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/conf/policy.yaml"
mkdir -p "$T_TMP/conf" && chmod 755 "$T_TMP/conf"
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" 'user: nobody' 'group: nogroup'
chmod 644 "$CFG"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
ntask=$(ls /proc/"$T_BLOKIR_PID"/task | wc -l)
got=$(ids "$T_BLOKIR_PID")
is "$got" "uid=$NOBODY_UID,$NOBODY_UID,$NOBODY_UID,$NOBODY_UID gid=$NOGROUP_GID,$NOGROUP_GID,$NOGROUP_GID,$NOGROUP_GID groups= $NOGROUP_GID" \
	"user: nobody, group: nogroup: all $ntask threads run as nobody:nogroup (real, effective, saved, fs)"
[ "$ntask" -ge 3 ]; ok $? "  ... that is the main thread and the workers ($ntask threads)"
is "$(state www.t.me)" blocked "  ... and serve: www.t.me blocked"
is "$(state www.example.test)" forwarded "  ... www.example.test forwarded"
set_enabled "$CFG" t.me false
chmod 644 "$CFG"
hup_until www.t.me forwarded; ok $? "SIGHUP as nobody re-reads the (world-readable) file: t.me lifted"
set_enabled "$CFG" t.me true
chmod 600 "$CFG"
logn=$(wc -l <"$T_TMP/blokir.log")
kill -HUP "$T_BLOKIR_PID"
wait_log $((5 * SLOW)) "$CFG.*([Pp]ermission denied|cannot)" ||
	sleep 1
like "$(tail -n +$((logn + 1)) "$T_TMP/blokir.log")" 'ermission denied' \
	"a file nobody cannot read: the reload fails with 'Permission denied' logged"
is "$(state www.t.me)" forwarded "  ... and the old policy stays in force"
alive "$T_BLOKIR_PID"; ok $? "  ... the daemon keeps running"
stop_blokir

# --- the pidfile after the privilege drop ---------------------------------------------------------
# Written as root; removed at stop when nobody may write its directory, emptied (and a warning at
# start) when not.
mkdir -p "$T_TMP/run-nobody" "$T_TMP/run-root" && chown nobody "$T_TMP/run-nobody" && chmod 755 "$T_TMP/run-root"
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" 'user: nobody' 'group: nogroup'
chmod 644 "$CFG"
for where in nobody root; do
	pf="$T_TMP/run-$where/blokir.pid"
	logn=$(wc -l <"$T_TMP/blokir.log")
	start_blokir "$CFG" "$BPORT" --pidfile "$pf" || bail "blokir did not start"
	is "$(tr -d '\n' <"$pf")" "$T_BLOKIR_PID" "pidfile in a directory owned by $where: holds the PID"
	log=$(tail -n +$((logn + 1)) "$T_TMP/blokir.log")
	stop_blokir "  ... blokir stops cleanly"
	if [ $where = nobody ]; then
		[ ! -e "$pf" ]; ok $? "  ... and, running as nobody, removes the pidfile at stop"
		unlike "$log" 'pidfile' "  ... with no warning"
	else
		[ -e "$pf" ] && [ ! -s "$pf" ]; ok $? "  ... where nobody cannot remove it: emptied at stop"
		like "$log" 'pidfile .*not writable after dropping privileges.*emptied rather than removed' \
			"  ... as start-up warned"
	fi
done

# --- root without user: and without allow-root -------------------------------------------------
BPORT=$(free_port)
write_policy "$T_TMP/root.yaml" "$BPORT" "127.0.0.1:$NSD_PORT"
timeout $((10 * SLOW)) $BLOKIR_WRAPPER "$BLOKIR" -c "$T_TMP/root.yaml" --foreground >"$T_TMP/root.log" 2>&1
rc=$?
is "$rc" 3 "as root without user: and without allow-root: exit status 3"
like "$(cat "$T_TMP/root.log")" 'refusing to run as root' "  ... logging 'refusing to run as root'"
unlike "$(timeout 3 dig @127.0.0.1 -p "$BPORT" +time=1 +tries=1 t.me 2>&1)" 'status:' \
	"  ... and nothing is left answering on its port"
BPORT=$(free_port)
write_policy "$T_TMP/root2.yaml" "$BPORT" "127.0.0.1:$NSD_PORT" 'allow-root: true'
"$BLOKIR" -c "$T_TMP/root2.yaml" --foreground >>"$T_TMP/blokir.log" 2>&1 &
T_BLOKIR_PID=$!; track "$T_BLOKIR_PID"
wait_for 10 blokir_answers "$BPORT"; ok $? "allow-root: true in the file: runs as root"
stop_blokir

# --- chroot ---------------------------------------------------------------------------------------
JAIL="$T_TMP/jail"
mkdir -p "$JAIL" && chmod 755 "$JAIL"
BPORT=$(free_port)
CFG="$JAIL/policy.yaml"
printf 'extra.example\n' >"$JAIL/extra.txt"
EXTRA_DOMAINS="" write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" "chroot: $JAIL" 'user: nobody' \
	'group: nogroup' 'lists:' '  - { file: extra.txt, format: domains, reason: "list in the chroot" }'
chmod 644 "$CFG" "$JAIL/extra.txt"
# LeakSanitizer (SANITIZE=1 builds) reads /proc at exit, which a chroot hides: it would fail the
# exit status for that reason alone.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" start_blokir "$CFG" "$BPORT" ||
	bail "blokir did not start in the chroot"
root=$(readlink /proc/"$T_BLOKIR_PID"/root)
is "$root" "$JAIL" "chroot: the daemon's root directory is the jail"
is "$(ids "$T_BLOKIR_PID" | cut -d' ' -f1)" "uid=$NOBODY_UID,$NOBODY_UID,$NOBODY_UID,$NOBODY_UID" "  ... as nobody"
is "$(state www.extra.example)" blocked "  ... the list beside the policy is in force"
set_enabled "$CFG" t.me false
printf 'extra.example\nmore.example\n' >"$JAIL/extra.txt.new" && mv "$JAIL/extra.txt.new" "$JAIL/extra.txt"
chmod 644 "$CFG" "$JAIL/extra.txt"
hup_until www.t.me forwarded; ok $? "chroot: SIGHUP re-reads the policy inside it (t.me lifted)"
is "$(state more.example)" blocked "  ... and the list inside it (more.example added)"
alive "$T_BLOKIR_PID"; ok $? "  ... still running"
stop_blokir

# A config outside the chroot could never be re-read: refused at start, as --check refuses it.
BPORT=$(free_port)
write_policy "$T_TMP/outside.yaml" "$BPORT" "127.0.0.1:$NSD_PORT" "chroot: $JAIL" 'user: nobody'
timeout $((10 * SLOW)) "$BLOKIR" -c "$T_TMP/outside.yaml" --foreground >"$T_TMP/outside.log" 2>&1
is "$?" 1 "chroot with the config outside it: refused before binding, exit status 1 (as --check)"
like "$(cat "$T_TMP/outside.log")" 'outside it' "  ... saying the file is outside the chroot"
done_testing
