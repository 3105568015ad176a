# lib.sh: shared harness for the blokir system tests, sourced by every tests/system/*.t.
#
# It gives each test TAP output (ok / not ok, the plan printed at the end, "# " diagnostics), a
# private temporary directory, free loopback ports, a real authoritative upstream (nsd serving a
# test zone), the fault-injection upstream (fakeupstream.py) and blokir itself, all started in the
# background with their PIDs recorded. The exit trap stops exactly those PIDs (TERM, then KILL after
# a bound) and removes the temporary directory, so a failing test never leaves anything behind.
#
# Environment:
#   BLOKIR          the binary under test (default ./blokir; tests run from the repository root)
#   BLOKIR_WRAPPER  a command prefixed to blokir, e.g. "valgrind --leak-check=full
#                   --error-exitcode=99 --errors-for-leak-kinds=definite"; when set, stopping
#                   blokir also checks that it exited with status 0 (valgrind found nothing).
#   KEEP_TMP=1      keep the temporary directory for inspection.

set -u

BLOKIR=${BLOKIR:-./blokir}
BLOKIR_WRAPPER=${BLOKIR_WRAPPER:-}
PY=/usr/bin/python3
SYSDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAKEUP="$SYSDIR/fakeupstream.py"
DNSPY="$SYSDIR/dnsprobe.py"

# blokir refuses to keep running as root unless told to (--allow-root); CI runs the tests as root.
# The option is passed only when the binary knows it.
ROOT_OPT=()
if [ "$(id -u)" = 0 ] && [ -x "$BLOKIR" ] && "$BLOKIR" --help 2>&1 | grep -q -- '--allow-root'; then
	ROOT_OPT=(--allow-root)
fi

# Valgrind slows start-up and every query; give each bounded wait more room under a wrapper,
# and some under the sanitizer build (build/san/blokir), which is several times slower.
if [ -n "$BLOKIR_WRAPPER" ]; then SLOW=4; elif [[ "$BLOKIR" == *san/* ]]; then SLOW=2; else SLOW=1; fi

T_NUM=0
T_FAILED=0
T_DONE_PLAN=0
T_PIDS=()        # every background process this test started
T_BLOKIR_PID=""  # the current blokir (possibly the wrapper's PID)
T_NSD_PID=""

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/blokir-test.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }

# --- TAP -----------------------------------------------------------------------------------------

# diag [LINE...]: prints each argument (or stdin when none) as "# " comment lines.
diag() {
	local a
	if [ $# -eq 0 ]; then sed 's/^/# /'; else for a in "$@"; do sed 's/^/# /' <<<"$a"; done; fi
}

ok() { # ok COND-STATUS DESCRIPTION: records a test point; status 0 is a pass
	local status=$1; shift
	T_NUM=$((T_NUM + 1))
	if [ "$status" -eq 0 ]; then
		printf 'ok %d - %s\n' "$T_NUM" "$*"
	else
		printf 'not ok %d - %s\n' "$T_NUM" "$*"
		T_FAILED=$((T_FAILED + 1))
	fi
	return "$status"
}

pass() { ok 0 "$@"; }
fail() { ok 1 "$@"; }

skip() { # skip REASON DESCRIPTION
	T_NUM=$((T_NUM + 1))
	printf 'ok %d - %s # SKIP %s\n' "$T_NUM" "$2" "$1"
}

# is GOT EXPECTED DESCRIPTION
is() {
	if [ "$1" == "$2" ]; then pass "$3"; else
		fail "$3"; diag "expected: '$2'" "got:      '$1'"; return 1
	fi
}

# like TEXT ERE DESCRIPTION
like() {
	if grep -Eq -- "$2" <<<"$1"; then pass "$3"; else
		fail "$3"; diag "expected to match: $2"; diag "got:"; diag "$1"; return 1
	fi
}

# unlike TEXT ERE DESCRIPTION
unlike() {
	if ! grep -Eq -- "$2" <<<"$1"; then pass "$3"; else
		fail "$3"; diag "expected not to match: $2"; diag "got:"; diag "$1"; return 1
	fi
}

bail() { echo "Bail out! $*"; exit 1; }

done_testing() {
	T_DONE_PLAN=1
	echo "1..$T_NUM"
}

# --- process bookkeeping -------------------------------------------------------------------------

track() { T_PIDS+=("$1"); }

alive() { kill -0 "$1" 2>/dev/null; }

# stop_pid PID [BOUND_SECONDS]: TERM, wait up to the bound, then KILL. Returns the exit status of
# the process when it is our child (wait works), else 0.
stop_pid() {
	local pid=$1 bound=${2:-5} i st=0
	alive "$pid" || { wait "$pid" 2>/dev/null; return $?; }
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < bound * 20; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	if alive "$pid"; then
		diag "pid $pid did not stop within ${bound}s of SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null; st=$?
	return "$st"
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${T_PIDS[@]}"; do
		alive "$pid" && stop_pid "$pid" 5 >/dev/null
	done
	if [ "$T_FAILED" -gt 0 ] && [ -f "$T_TMP/blokir.log" ]; then
		echo "# --- last lines of blokir's log ---"
		tail -n 40 "$T_TMP/blokir.log" | sed 's/^/# /'
	fi
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "# kept $T_TMP"; else rm -rf "$T_TMP"; fi
	if [ "$T_DONE_PLAN" = 0 ]; then echo "1..$T_NUM"; [ "$rc" -eq 0 ] && rc=1; fi
	[ "$T_FAILED" -gt 0 ] && [ "$rc" -eq 0 ] && rc=1
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- ports ---------------------------------------------------------------------------------------

# free_port: a port number free for both UDP and TCP on 127.0.0.1 (and ::1), drawn at random
# below the ephemeral range (tools/free_port.py, shared with bench/lib.sh, says why); never the
# same one twice in a test: those handed out are listed in $T_TMP/ports.
free_port() { "$PY" "$SYSDIR/../../tools/free_port.py" "$T_TMP/ports"; }

have_ipv6() {
	"$PY" -c 'import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::1",0))' 2>/dev/null
}

# --- waiting -------------------------------------------------------------------------------------

# wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds or time runs out.
wait_for() {
	local secs=$1 i; shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# wait_log SECONDS ERE [FILE]: waits until FILE (default blokir's log) has a line matching ERE.
wait_log() {
	local secs=$1 re=$2 f=${3:-$T_TMP/blokir.log}
	wait_for "$secs" grep -Eq -- "$re" "$f"
}

# --- dig -----------------------------------------------------------------------------------------

# q PORT NAME [TYPE] [dig options...]: one bounded query to 127.0.0.1:PORT over UDP; prints dig's
# full output. Add +tcp for TCP.
q() {
	local port=$1 name=$2; shift 2
	local t=$((2 * SLOW))
	timeout $((t + 3)) dig @127.0.0.1 -p "$port" +time=$t +tries=1 +nocookie "$name" "$@" 2>&1
}

# rcode DIG-OUTPUT: prints the status (NOERROR, NXDOMAIN, ...) or "none".
rcode() {
	local s
	s=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$1" | head -n1)
	echo "${s:-none}"
}

# flags DIG-OUTPUT: prints the header flags, e.g. "qr rd ra".
flags() { sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p' <<<"$1" | head -n1; }

hasflag() { [[ " $(flags "$1") " == *" $2 "* ]]; }

# section DIG-OUTPUT NAME: the record lines of ANSWER, AUTHORITY or ADDITIONAL, sorted, with
# runs of whitespace squeezed to one space.
section() {
	awk -v want=";; $2 SECTION:" '
		$0 == want { on = 1; next }
		on && /^$/ { on = 0 }
		on { print }
	' <<<"$1" | tr -s ' \t' ' ' | sort
}

# --- config files --------------------------------------------------------------------------------

# The eleven domains of the July 2017 order.
DOMAINS11="t.me telegram.me telegram.org core.telegram.org desktop.telegram.org macos.telegram.org web.telegram.org venus.web.telegram.org pluto.web.telegram.org flora.web.telegram.org flora-1.web.telegram.org"

# write_policy FILE LISTEN_PORT "UPSTREAM ..." [extra top-level YAML lines...]
# Writes a policy with the eleven domains (all enabled, reason "Kominfo order, 2017-07-14") and
# negative-ttl $NEG_TTL (default 60). Extra arguments are inserted verbatim as top-level lines before "domains:".
write_policy() {
	local f=$1 lport=$2 ups=$3 u d first=1; shift 3
	{
		echo "# written by the system tests"
		echo "listen: [\"127.0.0.1:$lport\"]"
		printf 'upstreams: ['
		for u in $ups; do
			[ $first = 1 ] || printf ', '
			printf '"%s"' "$u"; first=0
		done
		echo ']'
		echo "negative-ttl: ${NEG_TTL:-60}"
		echo "upstream-timeout-ms: 1500"
		echo "workers: 2"
		# test 82 runs other tests with client UDP through sockets (the default is auto)
		[ -z "${BLOKIR_UDP_IO:-}" ] || echo "udp-io: $BLOKIR_UDP_IO"
		local l; for l in "$@"; do echo "$l"; done
		echo "domains:"
		for d in $DOMAINS11; do
			echo "  - name: $d"
			echo "    enabled: true"
			echo "    reason: \"Kominfo order, 2017-07-14\""
		done
		[ -z "${EXTRA_DOMAINS:-}" ] || printf '%s\n' "$EXTRA_DOMAINS"
	} >"$f"
}

# setup_std [extra top-level YAML lines...]: nsd, then blokir on a free port with the eleven
# domains (plus $EXTRA_DOMAINS, YAML list items) forwarding to nsd. Sets BPORT and CFG; bails out
# when either does not come up.
setup_std() {
	start_nsd || bail "nsd did not start"
	BPORT=$(free_port)
	CFG="$T_TMP/policy.yaml"
	write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" "$@"
	start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
}

# set_enabled FILE NAME true|false: flips one entry's `enabled` in a file written by write_policy.
set_enabled() {
	local f=$1 name=$2 val=$3
	"$PY" - "$f" "$name" "$val" <<'EOF'
import sys
path, name, val = sys.argv[1:]
lines = open(path).read().split("\n")
for i, l in enumerate(lines):
    if l.strip() == "- name: " + name:
        assert lines[i + 1].strip().startswith("enabled:"), lines[i + 1]
        lines[i + 1] = "    enabled: " + val
        break
else:
    sys.exit("no entry " + name)
tmp = path + ".new"
open(tmp, "w").write("\n".join(lines))
import os; os.rename(tmp, path)
EOF
}

# --- blokir --------------------------------------------------------------------------------------

# start_blokir CONFIG PORT [more blokir args...]: starts blokir in the foreground (background job),
# logging to $T_TMP/blokir.log, and waits until it answers a query on 127.0.0.1:PORT (UDP).
# Sets T_BLOKIR_PID. Returns 1 when it does not come up.
start_blokir() {
	local cfg=$1 port=$2; shift 2
	[ -x "$BLOKIR" ] || bail "no blokir binary at $BLOKIR (run make first)"
	# shellcheck disable=SC2086
	$BLOKIR_WRAPPER "$BLOKIR" -c "$cfg" --foreground "${ROOT_OPT[@]}" "$@" >>"$T_TMP/blokir.log" 2>&1 &
	T_BLOKIR_PID=$!
	track "$T_BLOKIR_PID"
	if ! wait_for $((10 * SLOW)) blokir_answers "$port"; then
		diag "blokir did not answer on port $port within $((10 * SLOW))s"
		tail -n 20 "$T_TMP/blokir.log" | diag
		return 1
	fi
	return 0
}

# blokir_answers PORT: any DNS answer at all (we ask for a blocked name, so no upstream needed).
blokir_answers() {
	alive "$T_BLOKIR_PID" || return 1
	timeout 3 dig @127.0.0.1 -p "$1" +time=1 +tries=1 +nocookie t.me A 2>/dev/null | grep -q 'status:'
}

# stop_blokir [DESCRIPTION]: SIGTERM, bounded wait, then checks the exit status is 0 (under a
# wrapper this is also valgrind's verdict). Emits one test point.
stop_blokir() {
	local desc=${1:-blokir stops on SIGTERM with exit status 0} st
	[ -n "$T_BLOKIR_PID" ] || return 0
	stop_pid "$T_BLOKIR_PID" $((10 * SLOW)); st=$?
	T_BLOKIR_PID=""
	if [ -n "$BLOKIR_WRAPPER" ]; then desc="$desc (under: ${BLOKIR_WRAPPER%% *})"; fi
	if [ "$st" -eq 0 ]; then pass "$desc"; else
		fail "$desc"; diag "exit status $st"
		grep -E '==[0-9]+==' "$T_TMP/blokir.log" | tail -n 40 | diag
		return 1
	fi
}

# stats: sends SIGUSR1 and prints the newest "stats:" line of the log.
stats() {
	local before after i
	before=$(grep -c 'stats:' "$T_TMP/blokir.log" 2>/dev/null)
	kill -USR1 "$T_BLOKIR_PID"
	for ((i = 0; i < 50 * SLOW; i++)); do
		after=$(grep -c 'stats:' "$T_TMP/blokir.log" 2>/dev/null)
		[ "$after" -gt "$before" ] && break
		sleep 0.1
	done
	grep 'stats:' "$T_TMP/blokir.log" | tail -n 1
}

# stat_val STATS-LINE KEY: the number after KEY= (empty when absent).
stat_val() { sed -n "s/.*[: ]$2=\([0-9]*\).*/\1/p" <<<"$1"; }

# --- nsd: the real upstream ----------------------------------------------------------------------

# Small zones nsd also serves, so that names next to, below or above a blocked name get a real,
# recognizable answer when forwarded (apex, www and a wildcard: A 192.0.2.10; TXT at the apex).
NSD_SMALL_ZONES="at.me nottelegram.org ok.t.me exact.test t.me telegram.me telegram.org"

# start_nsd: starts nsd on a free loopback port serving example.test, the small zones and
# $NSD_EXTRA_ZONES; sets NSD_PORT.
start_nsd() {
	local d="$T_TMP/nsd" v6="no" v6addr=""
	mkdir -p "$d"
	NSD_PORT=$(free_port)
	if have_ipv6; then v6=yes; v6addr="ip-address: ::1@$NSD_PORT"; fi
	write_zone "$d/example.test.zone"
	cat >"$d/nsd.conf" <<EOF
server:
	ip-address: 127.0.0.1@$NSD_PORT
	$v6addr
	port: $NSD_PORT
	do-ip4: yes
	do-ip6: $v6
	username: ""
	chroot: ""
	zonesdir: "$d"
	database: ""
	zonelistfile: "$d/zone.list"
	xfrdfile: "$d/xfrd.state"
	xfrdir: "$d"
	pidfile: "$d/nsd.pid"
	logfile: "$d/nsd.log"
	verbosity: 0
	server-count: 1
	tcp-count: 100
	hide-version: yes
	identity: "blokir-test"
	round-robin: no
	rrl-ratelimit: 0
	rrl-whitelist-ratelimit: 0
	minimal-responses: no
	refuse-any: no
remote-control:
	control-enable: no
EOF
	local z
	# NSD_EXTRA_ZONES: more zones, whose files (NAME.zone) the test wrote into $T_TMP/nsd first.
	for z in ${NSD_EXTRA_ZONES:-}; do
		printf 'zone:\n\tname: %s\n\tzonefile: %s.zone\n' "$z" "$z" >>"$d/nsd.conf"
	done
	for z in example.test $NSD_SMALL_ZONES; do
		[ "$z" = example.test ] || write_small_zone "$d/$z.zone" "$z"
		printf 'zone:\n\tname: %s\n\tzonefile: %s.zone\n' "$z" "$z" >>"$d/nsd.conf"
	done
	nsd -d -c "$d/nsd.conf" >>"$d/nsd.out" 2>&1 &
	T_NSD_PID=$!
	track "$T_NSD_PID"
	if ! wait_for 10 nsd_answers; then
		diag "nsd did not come up on port $NSD_PORT"
		cat "$d/nsd.out" "$d/nsd.log" 2>/dev/null | tail -n 20 | diag
		return 1
	fi
}

nsd_answers() {
	timeout 3 dig @127.0.0.1 -p "$NSD_PORT" +time=1 +tries=1 +nocookie www.example.test A 2>/dev/null |
		grep -q 'status: NOERROR'
}

# qnsd NAME [TYPE] [options]: query nsd directly (the reference for transparency checks).
qnsd() { q "$NSD_PORT" "$@"; }

write_small_zone() { # FILE ORIGIN
	{
		printf '$ORIGIN %s.\n$TTL 600\n' "$2"
		printf '@\tIN SOA\tns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 300\n'
		printf '@\tIN NS\tns1.example.test.\n@\tIN A\t192.0.2.10\n@\tIN TXT\t"zone %s"\n' "$2"
		printf 'www\tIN A\t192.0.2.10\n*\tIN A\t192.0.2.10\n'
	} >"$1"
}

write_zone() {
	{
		cat <<'EOF'
$ORIGIN example.test.
$TTL 3600
@	IN SOA	ns1.example.test. hostmaster.example.test. 2017071401 7200 3600 1209600 300
@	IN NS	ns1.example.test.
ns1	IN A	127.0.0.1
www	IN A	192.0.2.1
www	IN AAAA	2001:db8::1
alias	IN CNAME www.example.test.
txt	IN TXT	"hello from example.test"
EOF
		local i
		# 30 TXT strings of 100 characters: the answer (> 3000 bytes) does not fit 512 or 1232.
		for ((i = 10; i < 40; i++)); do
			printf 'big\tIN TXT\t"%s%s"\n' "$i" "$(printf 'x%.0s' {1..98})"
		done
		# a name with many addresses: 60 A records (about 1 kB, above 512 but below 1232)
		for ((i = 1; i <= 60; i++)); do
			printf 'many\tIN A\t198.51.100.%d\n' "$i"
		done
	} >"$1"
}

# --- fakeupstream --------------------------------------------------------------------------------

# start_fake MODE [options...]: starts fakeupstream.py on a free port; sets FAKE_PORT, FAKE_PID
# and FAKE_LOG (one line per query it received). Its answers are synthesized: A 192.0.2.53.
start_fake() {
	local mode=$1; shift
	FAKE_PORT=$(free_port)
	FAKE_LOG="$T_TMP/fake-$mode.$FAKE_PORT.log"
	"$PY" "$FAKEUP" --port "$FAKE_PORT" --mode "$mode" --log "$FAKE_LOG" "$@" \
		>>"$T_TMP/fake-$mode.out" 2>&1 &
	FAKE_PID=$!
	track "$FAKE_PID"
	wait_for 10 grep -q '^ready' "$T_TMP/fake-$mode.out" || {
		diag "fakeupstream $mode did not start"; diag <"$T_TMP/fake-$mode.out"; return 1
	}
}

# ms: milliseconds since the epoch.
ms() { date +%s%3N; }
