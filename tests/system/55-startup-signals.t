#!/bin/bash
# 55-startup-signals: SIGHUP and SIGUSR1 are never fatal, whenever they come. While a 500,000-name
# list loads at start-up (before the event loop has its handlers) a stream of them leaves blokir
# starting, then serving, and a SIGHUP that came is remembered as a reload; SIGHUPs sent all
# through a graceful stop still give exit status 0 (the sanitizer build's exit is slow enough to
# catch one after the loop's handlers are gone). Fails on a build that installs its handlers only
# with the event loop: there the first SIGHUP ends it with status 129 (SIGUSR1: 138).
. "$(dirname "$0")/lib.sh"

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
"$PY" -c 'import sys
with open(sys.argv[1], "w") as f:
    for i in range(500000):
        f.write("n%d.big.example\n" % i)' "$T_TMP/big.txt" || bail "cannot write the list"
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" "lists:" "  - {file: big.txt}"

# caught PID SIGNO: whether PID has a handler for signal SIGNO (bit SIGNO-1 of SigCgt).
caught() {
	local mask
	mask=$(sed -n 's/^SigCgt:\s*//p' "/proc/$1/status" 2>/dev/null) || return 1
	[ -n "$mask" ] && (((0x$mask >> ($2 - 1)) & 1))
}

# running_blokir PID: PID has exec'd the blokir binary (not the shell that forks it any more).
running_blokir() { [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$(readlink -f "$BLOKIR")" ]; }

for sig in HUP USR1; do
	signo=1; [ "$sig" = USR1 ] && signo=10
	: >"$T_TMP/blokir.log"
	"$BLOKIR" -c "$CFG" --foreground "${ROOT_OPT[@]}" >>"$T_TMP/blokir.log" 2>&1 &
	pid=$!; track "$pid"; T_BLOKIR_PID=$pid
	wait_for 5 running_blokir "$pid" || bail "blokir did not exec"
	# From the moment its handler is there, or 30 ms after exec at the latest (the old build never
	# has one before its event loop, ~200 ms into the list's load), a signal every 5 ms.
	for ((i = 0; i < 6 * SLOW; i++)); do caught "$pid" "$signo" && break; sleep 0.005; done
	sent=0
	for ((i = 0; i < 4000 * SLOW; i++)); do
		alive "$pid" || break
		kill -"$sig" "$pid" 2>/dev/null && sent=$((sent + 1))
		((i % 10 == 9)) && blokir_answers "$BPORT" && break
		sleep 0.005
	done
	alive "$pid"; ok $? "SIG$sig x$sent during start-up: blokir is still running"
	if ! alive "$pid"; then
		wait "$pid"; diag "exit status $?"
		T_BLOKIR_PID=""
		continue
	fi
	is "$(rcode "$(q "$BPORT" n499999.big.example A)")" NXDOMAIN \
		"SIG$sig: it then serves the whole list (the last name is blocked)"
	if [ "$sig" = HUP ]; then
		wait_log $((10 * SLOW)) 'reload: a SIGHUP came during start-up'
		ok $? "SIGHUP during start-up: remembered, and the file read again once serving"
		wait_log $((20 * SLOW)) 'reload: .*policy with .* in force'
		ok $? "  ... that reload completes"
	fi

	# A graceful stop with SIGHUPs all through it, until the process is gone.
	kill -TERM "$pid"
	for ((i = 0; i < 4000 * SLOW; i++)); do
		kill -HUP "$pid" 2>/dev/null || break
		sleep 0.002
	done
	wait "$pid"; st=$?
	T_BLOKIR_PID=""
	is "$st" 0 "SIG$sig run: SIGTERM, then SIGHUPs every 2 ms until it is gone: exit status 0"
done
done_testing
