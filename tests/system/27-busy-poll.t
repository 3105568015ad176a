#!/bin/bash
# 27-busy-poll: busy-poll-us. With it, a worker that waits for upstream answers polls its sockets
# without sleeping for up to busy-poll-us: it keeps answering (blocked and forwarded names, TCP),
# reloads and stops cleanly through the other event loop, and it does spend CPU while an answer is
# awaited (about busy-poll-us per query to a slow upstream), which without the option it does not.
# That CPU is the behaviour the option buys latency with; the latency itself is measured by
# bench/run.sh, not here.
. "$(dirname "$0")/lib.sh"

# cpu_ms PID: user + system CPU of PID so far, in milliseconds (all threads).
cpu_ms() {
	local f
	f=$(sed 's/^.*) //' "/proc/$1/stat") || return 1
	set -- $f
	echo $(((${12} + ${13}) * 1000 / $(getconf CLK_TCK)))
}

# --- answers through the busy-poll loop ----------------------------------------------------------
setup_std "busy-poll-us: 2000"
out=$(q "$BPORT" www.example.test A)
is "$(section "$out" ANSWER | awk '{print $5}')" 192.0.2.1 "busy-poll: a forwarded name is answered"
is "$(rcode "$(q "$BPORT" web.telegram.org A)")" NXDOMAIN "  ... a blocked name is blocked"
is "$(rcode "$(q "$BPORT" www.example.test A +tcp)")" NOERROR "  ... over TCP too"
set_enabled "$CFG" t.me false
kill -HUP "$T_BLOKIR_PID"
lifted=1
for ((i = 0; i < 50 * SLOW; i++)); do
	grep -q '192\.0\.2\.10$' <<<"$(section "$(q "$BPORT" www.t.me A)" ANSWER)" && { lifted=0; break; }
	sleep 0.1
done
ok $lifted "  ... SIGHUP lifting t.me takes effect (www.t.me forwarded to nsd)"
stop_blokir "busy-poll: blokir stops on SIGTERM with exit status 0"

# --- CPU while an answer is awaited ----------------------------------------------------------------
# A slow upstream (answers after 800 ms): three queries in a row. With busy-poll-us: 100000 the
# worker spins 100 ms for each; without it, it sleeps until the answer comes.
start_fake slow --delay-ms 800 || bail "fake slow"
spent() { # CONFIG-LINE: sets SPENT, the CPU ms blokir spends on three queries to the slow upstream
	local cfg="$T_TMP/poll-$RANDOM.yaml" port c0 c1 i
	port=$(free_port)
	write_policy "$cfg" "$port" "127.0.0.1:$FAKE_PORT" "$@"
	start_blokir "$cfg" "$port" || bail "blokir did not start"
	sleep 0.3
	c0=$(cpu_ms "$T_BLOKIR_PID")
	for i in 1 2 3; do
		timeout 10 dig @127.0.0.1 -p "$port" +time=4 +tries=1 +nocookie "slow-$i.example.test" A \
			>/dev/null 2>&1
	done
	c1=$(cpu_ms "$T_BLOKIR_PID")
	SPENT=$((c1 - c0))
	stop_blokir "  ... blokir with $* stops with exit status 0"
}
spent "busy-poll-us: 100000"
[ "$SPENT" -ge 150 ]
ok $? "busy-poll-us: 100000: the worker polled while answers were awaited ($SPENT ms CPU for 3 x 100 ms)"
spent "busy-poll-us: 0"
[ "$SPENT" -lt 100 ]
ok $? "busy-poll-us: 0: the worker slept instead ($SPENT ms CPU)"
stop_pid "$FAKE_PID" 3
done_testing
