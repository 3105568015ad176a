#!/bin/bash
# bench/audit_bench.sh: what the audit log costs a blocked query (issue 11: blocked qps with the
# audit log on within 5 % of off, same run; as many lines as blocked answers when nothing was
# dropped).
#
# Throughput, METHOD=concurrent (the default since session 8; see concurrent_main): an "off" and
# an "on" blokir (one worker each) are loaded at the same time by one dnsperf each, each server
# in its own cpu cgroup on CPU 1 capped at QUOTA % of a CPU, so that each is limited by its own
# CPU per answer and both see the same moments of a host whose speed swings several-fold within
# minutes (steal time is in the table). The verdict is the median of the slices' on/off qps
# ratios with its quartiles; the CPU per answer ratio is the cost itself.
#
# METHOD=fresh (up to session 7): ROUNDS interleaved rounds, each one run of blokir without
# `audit-log:` and one with it, in ABBA order (off,on then on,off, ...) so that a slow drift of the machine hits both
# alike. Every run is a fresh blokir (one worker) under the same saturating dnsperf load of
# blocked names for DURATION seconds. The table gives each run's qps, blokir's CPU time per
# answer (utime + stime of all its threads, /proc), and for the "on" runs the lines written
# against the blocked answers dnsperf counted and the audit writer thread's own CPU time per line
# (ns, from /proc/PID/task/TID/schedstat: the formatting and the kernel's side of write(2));
# per round the ratio on / off, and the verdict is the median of those ratios (target >= 0.95). The check "lines == answered when audit-dropped
# is 0" (and "lines + audit-dropped == answered" always) is made for every on-run.
#
# Placement (PIN=1, the default): dnsperf on CPU 0, blokir -- every thread of it: the worker,
# the audit writer, the main thread -- on CPU 1 (taskset). Unpinned, on 2 cores the scheduler
# now and then puts dnsperf and the worker on one core, and off runs alone spread 104k-222k
# qps, far more than the 5 % to be shown. With the writer pinned beside the worker, everything
# the audit log costs (the worker's copy into the ring and the writer's formatting and write(2))
# is paid from the server's own core, as on a server whose cores are all busy with queries: the
# load generator's core is not shared with the writer, so its cost is not hidden in (or
# inflated by) dnsperf's. PIN=2 is the same but moves the audit writer thread (named
# blokir-audit) to CPU 0 beside dnsperf: the worker's core then pays only the worker's part, as
# on a server with a core to spare for the writer. PIN=0 pins nothing (the old behaviour). The
# CPU-per-answer column shows the cost also when dnsperf, not blokir, is the bottleneck.
#
# CALLGRIND=1 then counts instructions under callgrind (load-independent: the figures to trust
# on a shared machine): blokir with one worker, CG_SMALL and then CG_LARGE blocked queries at a
# low rate, off and on; per blocked query (Ir(LARGE) - Ir(SMALL)) / (LARGE - SMALL) for all
# threads and for the worker thread alone (the query path), and for the audit writer thread
# per line written.
#
# Run from the repository root after `make`. It uses loopback and free ports only and stops the
# processes it started by PID. Environment:
#   METHOD=M       how the throughput is compared (each described at its function below):
#                  concurrent (default): the off and the on blokir loaded at once, each in its own
#                    cpu cgroup on CPU 1 (QUOTA=PCT: each capped at PCT % of a CPU, default 30, so
#                    that the servers and not dnsperf or the kernel are the bottleneck; QUOTA=0:
#                    equal weights only); SLICES slices of SLICE s (default 30 of 2 s)
#                  slices: both up, dnsperf switched between them, SLICES pairs of SLICE s, ABBA
#                  fresh: a fresh blokir per run, ROUNDS rounds of DURATION s, ABBA (the method
#                    up to session 7)
#   ROUNDS=N       METHOD=fresh: interleaved off/on rounds (default 6; REPS=N is the old name).
#                  0 with any method: no throughput runs (only the callgrind counts, CALLGRIND=1)
#   ON_CONF=TEXT   lines added to the on server's configuration (printf %b: \n separates them),
#                  e.g. ON_CONF='audit-buffer-kb: 256' to compare a setting
#   DURATION=S     seconds per dnsperf run (default 5)
#   PIN=0|1|2      placement, see above (default 1; needs taskset and 2 CPUs)
#   WORKERS=N      blokir workers (default 1)
#   CLIENTS=N      dnsperf -c (default 4); OUTSTANDING=N dnsperf -q (default 100)
#   CALLGRIND=1    also the callgrind counts (CG_SMALL/CG_LARGE queries, default 2000/12000);
#                  CG_OPTS: more valgrind options (e.g. --cache-sim=yes), KEEP_TMP=1 keeps the
#                  per-thread outputs (cg-MODE-COUNT/callgrind.out-NN) for callgrind_annotate
#   PERF=1         also one on-run under perf record: the audit log's share of blokir's samples
#                  (writer: user space, write(2), waking; worker: audit_log, observe_blocked_audit);
#                  PERF_FREQ=HZ its sampling rate (default 4000)
#   BLOKIR=PATH    the binary (default ./blokir)
#   KEEP_TMP=1     keep the scratch directory (and each round's audit log, else removed once
#                  its lines are counted, so its writeback does not fall on later rounds)
#   AUDIT_DIR=DIR  where the "on" runs write their audit log (default the scratch directory in
#                  /tmp; /dev/shm takes the disk's writeback out of the comparison)
# A functional check in about 30 s:  ROUNDS=1 DURATION=2 bench/audit_bench.sh
set -u
cd "$(dirname "$0")/.." || exit 1

ROUNDS=${ROUNDS:-${REPS:-6}}
METHOD=${METHOD:-concurrent}
SLICES=${SLICES:-30}
SLICE=${SLICE:-2}
AUDIT_DIR_SET=${AUDIT_DIR:-}
ON_CONF=${ON_CONF:-}
QUOTA=${QUOTA:-30}
DURATION=${DURATION:-5}
PIN=${PIN:-1}
WORKERS=${WORKERS:-1}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-100}
CALLGRIND=${CALLGRIND:-0}
PERF=${PERF:-0}
PERF_FREQ=${PERF_FREQ:-4000}
CG_SMALL=${CG_SMALL:-2000}
CG_LARGE=${CG_LARGE:-12000}
KEEP_TMP=${KEEP_TMP:-0}
AUDIT_DIR=${AUDIT_DIR:-}
BLOKIR=${BLOKIR:-./blokir}
LOG_TAG=audit
START_TS=$(date +%s)
PIDS=()
TMP=$(mktemp -d /tmp/blokir-audit-bench.XXXXXX)
[ -n "$AUDIT_DIR" ] || AUDIT_DIR=$TMP
. bench/lib.sh
trap 'cleanup; [ "$KEEP_TMP" = 1 ] || rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

for t in dnsperf dig; do command -v $t >/dev/null || { echo "audit_bench: needs $t" >&2; exit 1; }; done
[ -x "$BLOKIR" ] || { echo "audit_bench: no $BLOKIR (run make)" >&2; exit 1; }
ROOT_OPT=()
[ "$(id -u)" = 0 ] && ROOT_OPT=(--allow-root)
PIN_SRV=()
PIN_GEN=()
if [ "$PIN" != 0 ]; then
	if ! command -v taskset >/dev/null || [ "$(nproc)" -lt 2 ]; then
		echo "audit_bench: PIN=1 needs taskset and 2 CPUs (PIN=0 to run unpinned)" >&2
		exit 1
	fi
	PIN_SRV=(taskset -c 1)
	PIN_GEN=(taskset -c 0)
fi
HZ=$(getconf CLK_TCK)

# The July 2017 order's eleven names; queries for names below them (t.me itself is the readiness
# probe, so its lines are told apart from the load's).
NAMES="t.me telegram.me telegram.org core.telegram.org desktop.telegram.org macos.telegram.org web.telegram.org venus.web.telegram.org pluto.web.telegram.org flora.web.telegram.org flora-1.web.telegram.org"
QF=$TMP/queries.txt
for i in $(seq 1 50); do for n in $NAMES; do echo "q$i.$n A"; done; done >"$QF"

# conf AUDIT-FILE|"" : a config file for a blokir with WORKERS workers on $PORT.
conf() {
	local f=$TMP/blokir-off.yaml n
	[ -n "$1" ] && f=$TMP/blokir-on.yaml
	{
		echo "listen: [\"127.0.0.1:$PORT\"]"
		echo "upstreams: [\"127.0.0.1:9\"]" # never used: every query is blocked
		echo "workers: $WORKERS"
		[ -n "$1" ] && echo "audit-log: $1"
		[ -n "$1" ] && [ -n "$ON_CONF" ] && printf '%b\n' "$ON_CONF"
		echo "domains:"
		for n in $NAMES; do
			echo "  - name: $n"
			echo "    reason: \"Kominfo order, 2017-07-14\""
			echo "    ref: \"Id2971-17\""
		done
	} >"$f"
	echo "$f"
}

PORT=$(free_port)

# run MODE ROUND: one saturating dnsperf run against a fresh blokir; appends a row to $ROWS:
# mode round qps answered lines dropped cpu-us-per-answer.
ROWS=$TMP/rows.tsv
: >"$ROWS"
run() {
	local mode=$1 rnd=$2 audit="" cfg out qps done_q lines=- dropped=- st t0 t1 us
	[ "$mode" = on ] && audit=$AUDIT_DIR/audit-$rnd.log
	cfg=$(conf "$audit")
	bg "blokir-$mode-$rnd" "${PIN_SRV[@]}" "$BLOKIR" -c "$cfg" --foreground "${ROOT_OPT[@]}"
	local pid=$BG_PID
	wait_dns "$pid" "$PORT" t.me 20 || { log "blokir ($mode) did not come up"; exit 1; }
	if [ "$PIN" = 2 ] && [ "$mode" = on ]; then
		local task
		for task in /proc/"$pid"/task/*; do
			[ "$(cat "$task/comm" 2>/dev/null)" = blokir-audit ] &&
				taskset -p -c 0 "${task##*/}" >/dev/null
		done
	fi
	# The writer thread's own CPU time (ns, /proc/TID/schedstat: exact, not in clock ticks)
	local wtid="" w0=0 w1=0 wns=-
	if [ "$mode" = on ]; then
		for task in /proc/"$pid"/task/*; do
			[ "$(cat "$task/comm" 2>/dev/null)" = blokir-audit ] && wtid=${task##*/}
		done
	fi
	out=$TMP/dnsperf-$mode-$rnd.txt
	[ -n "$wtid" ] && w0=$(cut -d' ' -f1 "/proc/$pid/task/$wtid/schedstat")
	t0=$(cpu_ticks "$pid")
	"${PIN_GEN[@]}" dnsperf -s 127.0.0.1 -p "$PORT" -d "$QF" -l "$DURATION" -c "$CLIENTS" \
		-q "$OUTSTANDING" >"$out" 2>&1
	t1=$(cpu_ticks "$pid")
	[ -n "$wtid" ] && w1=$(cut -d' ' -f1 "/proc/$pid/task/$wtid/schedstat")
	kill -USR1 "$pid"
	sleep 0.3
	st=$(grep 'stats:' "$TMP/blokir-$mode-$rnd.log" | tail -n1)
	stop_pid "$pid" 30
	qps=$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$out")
	done_q=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$out")
	us=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="${done_q:-0}" \
		'BEGIN { printf "%.2f", (n > 0 ? t * 1e6 / hz / n : 0) }')
	if [ "$mode" = on ]; then
		lines=$(grep -c '"qname":"q[0-9]*\.' "$audit")
		dropped=$(sed -n 's/.* audit-dropped=\([0-9]*\).*/\1/p' <<<"$st")
		# (the writer's last pass, at most one tick's lines, may fall after w1: under 1 %)
		[ -n "$wtid" ] && [ "${lines:-0}" -gt 0 ] && wns=$(((w1 - w0) / lines))
		# A round writes ~200 MB; left in place, its dirty pages are written back while the
		# next rounds run and bill their CPU to whichever run is on then.
		[ "$KEEP_TMP" = 1 ] || rm -f "$audit"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$rnd" "${qps:-0}" "${done_q:-0}" \
		"$lines" "${dropped:--}" "$us" "$wns" >>"$ROWS"
	log "$mode #$rnd: $qps qps, $done_q answered, $us us CPU/answer, lines $lines," \
		"audit-dropped $dropped${wtid:+, writer $wns ns/line}"
}

# ---- METHOD=slices: both servers up at once, the load switched between them ----
#
# The host this was written on swings: off runs of one build measured 30 k to 220 k qps within
# minutes (other guests on the host; steal time on CPU 1 is in the table). Fresh runs of 5 s
# each, minutes apart, then compare the machine's phases more than the audit log. Here the "off"
# and the "on" blokir both run for the whole benchmark, pinned alike, and dnsperf is pointed at
# one and then the other for SLICE seconds at a time, SLICES pairs in ABBA order (off,on then
# on,off, ...): the two halves of a pair are seconds apart, so a slow phase hits both. The idle
# one costs the core nothing to speak of (a 10 ms tick; the "on" writer's pass every 50 ms finds
# its rings empty). The verdict is the median of the pairs' on/off qps ratios, with its
# quartiles; CPU per answer is every thread's run time (schedstat, ns) over the slice.
run_ns() { # the run time in ns of every thread of PID (schedstat: exact, not clock ticks)
	local t s total=0
	for t in /proc/"$1"/task/*/schedstat; do
		read -r s _ <"$t" 2>/dev/null && total=$((total + s))
	done
	echo "$total"
}
worker_tid() { # the busiest thread of PID that is not the audit writer: its worker
	local t best="" most=-1 ns
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = blokir-audit ] && continue
		read -r ns _ <"$t/schedstat" 2>/dev/null || continue
		[ "$ns" -gt "$most" ] && { most=$ns; best=${t##*/}; }
	done
	echo "$best"
}
tid_ns() { local s; read -r s _ <"/proc/$1/task/$2/schedstat" 2>/dev/null; echo "${s:-0}"; }
cpu1_steal() { awk '$1 == "cpu1" { print $9 }' /proc/stat; }

# stop_pair PID-ON PID-OFF AUDIT-FILE WARM-LINES: the on server's audit-dropped (SIGUSR1's line),
# both servers stopped, and the load's lines in AUDIT-FILE less the WARM-LINES of the unmeasured
# first slice: sets PAIR_DROPPED and PAIR_LINES, removes the file unless KEEP_TMP=1.
stop_pair() {
	local st
	kill -USR1 "$1"
	sleep 0.3
	st=$(grep 'stats:' "$TMP/blokir-on.log" | tail -n1)
	PAIR_DROPPED=$(sed -n 's/.* audit-dropped=\([0-9]*\).*/\1/p' <<<"$st")
	stop_pid "$1" 30
	stop_pid "$2" 30
	PAIR_LINES=$(grep -c '"qname":"q[0-9]*\.' "$3")
	[ "$KEEP_TMP" = 1 ] || rm -f "$3"
	PAIR_LINES=$((PAIR_LINES - ${4:-0}))
}
# The awk functions both two-server methods summarize with: an in-place sort and a quantile.
AWK_STATS='
		function sort(a, k,   i, j, t) {
			for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		}
		function q(a, k, f,   x) { x = 1 + (k - 1) * f; return a[int(x)] + (x - int(x)) * (a[int(x) + 1] - a[int(x)]) }'

slices_main() {
	local port_off port_on cfg_off cfg_on pid_off pid_on audit=$AUDIT_DIR/audit-slices.log
	local wtid="" task i k mode port pid out n0 n1 w0 w1 s0 s1 qps done_q
	PORT=$(free_port)
	port_off=$PORT
	cfg_off=$(conf "")
	PORT=$(free_port)
	while [ "$PORT" = "$port_off" ]; do PORT=$(free_port); done
	port_on=$PORT
	cfg_on=$(conf "$audit")
	rm -f "$audit"
	bg blokir-off "${PIN_SRV[@]}" "$BLOKIR" -c "$cfg_off" --foreground "${ROOT_OPT[@]}"
	pid_off=$BG_PID
	bg blokir-on "${PIN_SRV[@]}" "$BLOKIR" -c "$cfg_on" --foreground "${ROOT_OPT[@]}"
	pid_on=$BG_PID
	wait_dns "$pid_off" "$port_off" t.me 20 || { log "blokir (off) did not come up"; exit 1; }
	wait_dns "$pid_on" "$port_on" t.me 20 || { log "blokir (on) did not come up"; exit 1; }
	for task in /proc/"$pid_on"/task/*; do
		[ "$(cat "$task/comm" 2>/dev/null)" = blokir-audit ] && wtid=${task##*/}
	done
	[ -n "$wtid" ] || { log "no blokir-audit thread in the on server"; exit 1; }
	[ "$PIN" = 2 ] && taskset -p -c 0 "$wtid" >/dev/null
	# one unmeasured slice each first: the first seconds of a fresh process (page faults, the
	# rings' first touch) are not the steady state being compared
	for port in "$port_off" "$port_on"; do
		"${PIN_GEN[@]}" dnsperf -s 127.0.0.1 -p "$port" -d "$QF" -l 1 -c "$CLIENTS" \
			-q "$OUTSTANDING" >/dev/null 2>&1
	done
	local warm_lines
	sleep 0.2
	warm_lines=$(grep -c '"qname":"q[0-9]*\.' "$audit" 2>/dev/null)
	local on_answered=0
	for i in $(seq 1 "$SLICES"); do
		for k in 1 2; do
			if [ $(((i + k) % 2)) = 0 ]; then mode=off; port=$port_off; pid=$pid_off
			else mode=on; port=$port_on; pid=$pid_on; fi
			out=$TMP/dnsperf-$mode-$i.txt
			n0=$(run_ns "$pid")
			w0=$(cut -d' ' -f1 "/proc/$pid_on/task/$wtid/schedstat")
			s0=$(cpu1_steal)
			"${PIN_GEN[@]}" dnsperf -s 127.0.0.1 -p "$port" -d "$QF" -l "$SLICE" \
				-c "$CLIENTS" -q "$OUTSTANDING" >"$out" 2>&1
			n1=$(run_ns "$pid")
			w1=$(cut -d' ' -f1 "/proc/$pid_on/task/$wtid/schedstat")
			s1=$(cpu1_steal)
			qps=$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$out")
			done_q=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$out")
			[ "$mode" = on ] && on_answered=$((on_answered + ${done_q:-0}))
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$i" "${qps:-0}" "${done_q:-0}" \
				"$((n1 - n0))" "$((w1 - w0))" "$((s1 - s0))" >>"$ROWS"
		done
		log "pair $i of $SLICES done"
	done
	stop_pair "$pid_on" "$pid_off" "$audit" "$warm_lines"
	local dropped=$PAIR_DROPPED lines=$PAIR_LINES

	echo "blokir audit-log benchmark (slices), $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet -- src include 2>/dev/null || echo '+dirty'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "command: SLICES=$SLICES SLICE=$SLICE PIN=$PIN WORKERS=$WORKERS CLIENTS=$CLIENTS OUTSTANDING=$OUTSTANDING${AUDIT_DIR_SET:+ AUDIT_DIR=$AUDIT_DIR}${ON_CONF:+ ON_CONF=\"$ON_CONF\"} bench/audit_bench.sh"
	[ "$PIN" = 1 ] && echo "placement: dnsperf on CPU 0; both blokirs (worker, audit writer, main thread) on CPU 1"
	[ "$PIN" = 2 ] && echo "placement: dnsperf and the audit writer on CPU 0; both blokirs' workers and main threads on CPU 1"
	awk -F'\t' -v hz="$HZ" -v lines="$lines" -v answered="$on_answered" -v dropped="${dropped:-?}" '
		{ qps[$2, $1] = $3; ans[$2, $1] = $4; ns[$2, $1] = $5; steal[$2, $1] = $7; if ($2 > n) n = $2 }
		$1 == "on" { wr[$2] = $6 }
		'"$AWK_STATS"'
		END {
			printf "%5s %11s %11s %7s %9s %9s %9s %7s %7s %8s\n", "pair", "off qps", "on qps", \
				"on/off", "off us/q", "on us/q", "wr ns/l", "st off", "st on", "adj o/o"
			for (i = 1; i <= n; i++) {
				r[i] = qps[i, "off"] > 0 ? qps[i, "on"] / qps[i, "off"] : 0
				co = ans[i, "off"] > 0 ? ns[i, "off"] / 1000 / ans[i, "off"] : 0
				cn = ans[i, "on"] > 0 ? ns[i, "on"] / 1000 / ans[i, "on"] : 0
				c[i] = co > 0 ? cn / co : 0
				k[i] = (ao[i] > 0 && an[i] > 0 && ko[i] > 0) ? (kn[i] / an[i]) / (ko[i] / ao[i]) : 0
				w[i] = ans[i, "on"] > 0 ? wr[i] / ans[i, "on"] : 0
				so = steal[i, "off"] / hz / '"$SLICE"'; sn = steal[i, "on"] / hz / '"$SLICE"'
				a[i] = (qps[i, "off"] > 0 && so < 1 && sn < 1) ? r[i] * (1 - so) / (1 - sn) : 0
				printf "%5d %11.0f %11.0f %7.3f %9.2f %9.2f %9.0f %6.1f%% %6.1f%% %8.3f\n", i, qps[i, "off"], \
					qps[i, "on"], r[i], co, cn, w[i], 100 * so, 100 * sn, a[i]
			}
			sort(r, n); sort(c, n); sort(w, n); sort(a, n)
			m = q(r, n, 0.5)
			printf "median on/off qps over %d pairs: %.3f (quartiles %.3f, %.3f) (%s; target >= 0.95)\n", \
				n, m, q(r, n, 0.25), q(r, n, 0.75), ((m >= 0.95) ? "met" : "NOT met")
			printf "median on/off CPU per answer: %.3f (quartiles %.3f, %.3f)\n", q(c, n, 0.5), \
				q(c, n, 0.25), q(c, n, 0.75)
			printf "median on/off qps steal-adjusted (each slice qps over the share of it CPU 1 was not stolen): %.3f (quartiles %.3f, %.3f)\n", \
				q(a, n, 0.5), q(a, n, 0.25), q(a, n, 0.75)
			printf "median audit writer thread CPU per line: %d ns\n", q(w, n, 0.5)
			printf "lines written during the slices: %d; blocked answers dnsperf counted in the on slices: %d; audit-dropped: %s (%s)\n", \
				lines, answered, dropped, (dropped == 0 && lines == answered) ? "lines == answered" : \
				(lines + dropped == answered ? "lines + dropped == answered" : "MISMATCH")
		}' "$ROWS"
}

# ---- METHOD=concurrent (the default): both servers loaded at the same time, sharing CPU 1 half and half ----
#
# The strictest "same run": the off and the on blokir each get their own cpu cgroup with equal
# weight on CPU 1, and in every slice two dnsperf processes (on CPU 0) load both at once, each as
# hard as the other. While both have work queued the scheduler gives each server half of CPU 1,
# so each one's qps is that half over its own CPU per answer, and on/off is the ratio of their
# costs measured over the same milliseconds of the same host: a slow phase or stolen time slows
# both alike. The audit writer runs inside the on server's half (it pays from the server's own
# share, as PIN=1 does). Needs root and the cgroup cpu controller (v1 at /sys/fs/cgroup/cpu, or
# v2 with cpu in cgroup.subtree_control). The busy columns show whether the servers' core, not
# dnsperf's, was the bottleneck (CPU 1 near 100 % and CPU 0 below it); a slice where CPU 0 is
# saturated while CPU 1 idles measures dnsperf, not blokir.
cpu_line() { awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8, $5 + $6, $9 }' /proc/stat; }

cg_make() { # cg_make NAME: a cpu cgroup; prints its directory
	local d
	if [ -d /sys/fs/cgroup/cpu ] && [ -w /sys/fs/cgroup/cpu ]; then
		d=/sys/fs/cgroup/cpu/blokir-audit-bench-$1-$$
		mkdir -p "$d" && echo 1024 >"$d/cpu.shares" || return 1
		if [ "$QUOTA" != 0 ]; then
			echo 100000 >"$d/cpu.cfs_period_us" && echo $((QUOTA * 1000)) >"$d/cpu.cfs_quota_us" ||
				return 1
		fi
		echo "$d"
		return 0
	elif [ -f /sys/fs/cgroup/cgroup.subtree_control ] &&
		grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control; then
		d=/sys/fs/cgroup/blokir-audit-bench-$1-$$
		mkdir -p "$d" && echo 100 >"$d/cpu.weight" || return 1
		if [ "$QUOTA" != 0 ]; then echo "$((QUOTA * 1000)) 100000" >"$d/cpu.max" || return 1; fi
		echo "$d"
		return 0
	fi
	return 1
}
cg_join() { # cg_join DIR PID: every thread of PID into DIR
	local t
	for t in /proc/"$2"/task/*; do echo "${t##*/}" >"$1/tasks" 2>/dev/null ||
		echo "${t##*/}" >"$1/cgroup.threads" 2>/dev/null || echo "$2" >"$1/cgroup.procs"; done
}
CG_DIRS=()
cg_cleanup() { local d; for d in "${CG_DIRS[@]}"; do rmdir "$d" 2>/dev/null; done; }

concurrent_main() {
	local port_off port_on cfg_off cfg_on pid_off pid_on audit=$AUDIT_DIR/audit-concurrent.log
	local wtid="" task i cg_off cg_on g_off g_on out_off out_on
	local no0 no1 nn0 nn1 w0 w1 c0a c0b c1a c1b
	trap 'cleanup; cg_cleanup; [ "$KEEP_TMP" = 1 ] || rm -rf "$TMP"' EXIT
	cg_off=$(cg_make off) && CG_DIRS+=("$cg_off") && cg_on=$(cg_make on) && CG_DIRS+=("$cg_on")
	if [ ${#CG_DIRS[@]} != 2 ]; then
		echo "audit_bench: METHOD=concurrent needs root and a cgroup cpu controller (METHOD=slices does not)" >&2
		exit 1
	fi
	PORT=$(free_port); port_off=$PORT; cfg_off=$(conf "")
	PORT=$(free_port)
	while [ "$PORT" = "$port_off" ]; do PORT=$(free_port); done
	port_on=$PORT; cfg_on=$(conf "$audit")
	rm -f "$audit"
	bg blokir-off "${PIN_SRV[@]}" "$BLOKIR" -c "$cfg_off" --foreground "${ROOT_OPT[@]}"
	pid_off=$BG_PID
	bg blokir-on "${PIN_SRV[@]}" "$BLOKIR" -c "$cfg_on" --foreground "${ROOT_OPT[@]}"
	pid_on=$BG_PID
	wait_dns "$pid_off" "$port_off" t.me 20 || { log "blokir (off) did not come up"; exit 1; }
	wait_dns "$pid_on" "$port_on" t.me 20 || { log "blokir (on) did not come up"; exit 1; }
	cg_join "$cg_off" "$pid_off"
	cg_join "$cg_on" "$pid_on"
	for task in /proc/"$pid_on"/task/*; do
		[ "$(cat "$task/comm" 2>/dev/null)" = blokir-audit ] && wtid=${task##*/}
	done
	[ -n "$wtid" ] || { log "no blokir-audit thread in the on server"; exit 1; }
	"${PIN_GEN[@]}" dnsperf -s 127.0.0.1 -p "$port_off" -d "$QF" -l 1 -c "$CLIENTS" -q "$OUTSTANDING" >/dev/null 2>&1 &
	g_off=$!
	"${PIN_GEN[@]}" dnsperf -s 127.0.0.1 -p "$port_on" -d "$QF" -l 1 -c "$CLIENTS" -q "$OUTSTANDING" >/dev/null 2>&1 &
	g_on=$!
	wait "$g_off" "$g_on"
	sleep 0.2
	local warm_lines on_answered=0 rows=$TMP/conc.tsv kt_off kt_on ko0 ko1 kn0 kn1
	warm_lines=$(grep -c '"qname":"q[0-9]*\.' "$audit" 2>/dev/null)
	kt_off=$(worker_tid "$pid_off"); kt_on=$(worker_tid "$pid_on")
	: >"$rows"
	for i in $(seq 1 "$SLICES"); do
		out_off=$TMP/dnsperf-off-$i.txt; out_on=$TMP/dnsperf-on-$i.txt
		no0=$(run_ns "$pid_off"); nn0=$(run_ns "$pid_on")
		ko0=$(tid_ns "$pid_off" "$kt_off"); kn0=$(tid_ns "$pid_on" "$kt_on")
		w0=$(cut -d' ' -f1 "/proc/$pid_on/task/$wtid/schedstat")
		c0a=$(cpu_line 0); c1a=$(cpu_line 1)
		# the one started first alternates, so neither gets a head start every time
		if [ $((i % 2)) = 1 ]; then
			"${PIN_GEN[@]}" dnsperf -s 127.0.0.1 -p "$port_off" -d "$QF" -l "$SLICE" -c "$CLIENTS" -q "$OUTSTANDING" >"$out_off" 2>&1 &
			g_off=$!
			"${PIN_GEN[@]}" dnsperf -s 127.0.0.1 -p "$port_on" -d "$QF" -l "$SLICE" -c "$CLIENTS" -q "$OUTSTANDING" >"$out_on" 2>&1 &
			g_on=$!
		else
			"${PIN_GEN[@]}" dnsperf -s 127.0.0.1 -p "$port_on" -d "$QF" -l "$SLICE" -c "$CLIENTS" -q "$OUTSTANDING" >"$out_on" 2>&1 &
			g_on=$!
			"${PIN_GEN[@]}" dnsperf -s 127.0.0.1 -p "$port_off" -d "$QF" -l "$SLICE" -c "$CLIENTS" -q "$OUTSTANDING" >"$out_off" 2>&1 &
			g_off=$!
		fi
		wait "$g_off" "$g_on"
		no1=$(run_ns "$pid_off"); nn1=$(run_ns "$pid_on")
		ko1=$(tid_ns "$pid_off" "$kt_off"); kn1=$(tid_ns "$pid_on" "$kt_on")
		w1=$(cut -d' ' -f1 "/proc/$pid_on/task/$wtid/schedstat")
		c0b=$(cpu_line 0); c1b=$(cpu_line 1)
		local qo qn ao an
		qo=$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$out_off")
		qn=$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$out_on")
		ao=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$out_off")
		an=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$out_on")
		on_answered=$((on_answered + ${an:-0}))
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "${qo:-0}" "${qn:-0}" "${ao:-0}" \
			"${an:-0}" "$((no1 - no0))" "$((nn1 - nn0))" "$((w1 - w0))" "$c0a $c0b" "$c1a $c1b" "$((ko1 - ko0))" "$((kn1 - kn0))" >>"$rows"
		log "slice $i of $SLICES: off $qo qps, on $qn qps"
	done
	stop_pair "$pid_on" "$pid_off" "$audit" "$warm_lines"
	local dropped=$PAIR_DROPPED lines=$PAIR_LINES

	echo "blokir audit-log benchmark (concurrent), $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet -- src include 2>/dev/null || echo '+dirty'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "command: METHOD=concurrent QUOTA=$QUOTA SLICES=$SLICES SLICE=$SLICE WORKERS=$WORKERS CLIENTS=$CLIENTS OUTSTANDING=$OUTSTANDING${AUDIT_DIR_SET:+ AUDIT_DIR=$AUDIT_DIR}${ON_CONF:+ ON_CONF=\"$ON_CONF\"} bench/audit_bench.sh"
	echo "placement: both dnsperf on CPU 0; both blokirs (every thread) on CPU 1, each in its own cpu cgroup of equal weight"
	[ "$QUOTA" != 0 ] && echo "each blokir limited to $QUOTA % of a CPU (cgroup quota): the servers, not dnsperf, are the bottleneck"
	awk -F'\t' -v lines="$lines" -v answered="$on_answered" -v dropped="${dropped:-?}" '
		{
			n++; qo[n] = $2; qn[n] = $3; ao[n] = $4; an[n] = $5; no[n] = $6; nn[n] = $7; wr[n] = $8
			ko[n] = $11; kn[n] = $12
			split($9, c0, " "); split($10, c1, " ")
			t0 = (c0[4] + c0[5] + c0[6]) - (c0[1] + c0[2] + c0[3]); t1 = (c1[4] + c1[5] + c1[6]) - (c1[1] + c1[2] + c1[3])
			u0 = (c0[4] - c0[1]) + (c0[5] - c0[2]); u1 = (c1[4] - c1[1]) + (c1[5] - c1[2])
			b0[n] = u0 > 0 ? 100 * (c0[4] - c0[1]) / u0 : 0; s0[n] = t0 > 0 ? 100 * (c0[6] - c0[3]) / t0 : 0
			b1[n] = u1 > 0 ? 100 * (c1[4] - c1[1]) / u1 : 0; s1[n] = t1 > 0 ? 100 * (c1[6] - c1[3]) / t1 : 0
		}
		'"$AWK_STATS"'
		END {
			printf "%5s %10s %10s %7s %9s %9s %8s %8s %8s %8s %8s\n", "slice", "off qps", "on qps", \
				"on/off", "off us/q", "on us/q", "wr ns/l", "cpu0 bz", "cpu1 bz", "cpu0 st", "cpu1 st"
			for (i = 1; i <= n; i++) {
				r[i] = qo[i] > 0 ? qn[i] / qo[i] : 0
				co = ao[i] > 0 ? no[i] / 1000 / ao[i] : 0; cn = an[i] > 0 ? nn[i] / 1000 / an[i] : 0
				c[i] = co > 0 ? cn / co : 0
				k[i] = (ao[i] > 0 && an[i] > 0 && ko[i] > 0) ? (kn[i] / an[i]) / (ko[i] / ao[i]) : 0
				w[i] = an[i] > 0 ? wr[i] / an[i] : 0
				printf "%5d %10.0f %10.0f %7.3f %9.2f %9.2f %8.0f %7.1f%% %7.1f%% %7.1f%% %7.1f%%\n", i, qo[i], \
					qn[i], r[i], co, cn, w[i], b0[i], b1[i], s0[i], s1[i]
			}
			sort(r, n); sort(c, n); sort(w, n); sort(b0, n); sort(b1, n); sort(k, n)
			m = q(r, n, 0.5)
			printf "median on/off qps over %d slices: %.3f (quartiles %.3f, %.3f) (%s; target >= 0.95)\n", \
				n, m, q(r, n, 0.25), q(r, n, 0.75), ((m >= 0.95) ? "met" : "NOT met")
			printf "median on/off CPU per answer: %.3f (quartiles %.3f, %.3f)\n", q(c, n, 0.5), \
				q(c, n, 0.25), q(c, n, 0.75)
			printf "median on/off CPU per answer of the worker thread alone: %.3f (quartiles %.3f, %.3f)\n", \
				q(k, n, 0.5), q(k, n, 0.25), q(k, n, 0.75)
			printf "median audit writer thread CPU per line: %d ns\n", q(w, n, 0.5)
			printf "median busy (user+system+irq, of the time not stolen): CPU 0 (dnsperf) %.1f %%, CPU 1 (blokirs) %.1f %%\n", \
				q(b0, n, 0.5), q(b1, n, 0.5)
			printf "lines written during the slices: %d; blocked answers dnsperf counted for the on server: %d; audit-dropped: %s (%s)\n", \
				lines, answered, dropped, (dropped == 0 && lines == answered) ? "lines == answered" : \
				(lines + dropped == answered ? "lines + dropped == answered" : "MISMATCH")
		}' "$rows"
}

if [ "$ROUNDS" -gt 0 ] && [ "$METHOD" = concurrent ]; then
	concurrent_main
fi
if [ "$ROUNDS" -gt 0 ] && [ "$METHOD" = slices ]; then
	slices_main
fi

if [ "$ROUNDS" -gt 0 ] && [ "$METHOD" = fresh ]; then
	for rnd in $(seq 1 "$ROUNDS"); do
		if [ $((rnd % 2)) = 1 ]; then run off "$rnd"; run on "$rnd"; else run on "$rnd"; run off "$rnd"; fi
	done
	echo "blokir audit-log benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet -- src include 2>/dev/null || echo '+dirty'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "command: ROUNDS=$ROUNDS DURATION=$DURATION PIN=$PIN WORKERS=$WORKERS CLIENTS=$CLIENTS OUTSTANDING=$OUTSTANDING${AUDIT_DIR:+ AUDIT_DIR=$AUDIT_DIR} bench/audit_bench.sh"
	[ "$PIN" = 1 ] && echo "placement: dnsperf on CPU 0; blokir (worker, audit writer, main thread) on CPU 1"
	[ "$PIN" = 2 ] && echo "placement: dnsperf and the audit writer on CPU 0; blokir's worker and main thread on CPU 1"
	awk -F'\t' '
		{ qps[$2, $1] = $3; ans[$2, $1] = $4; cpu[$2, $1] = $7; if ($2 > n) n = $2 }
		$1 == "on" { lines[$2] = $5; drop[$2] = $6; wns[$2] = $8 }
		$1 == "on" && $6 == 0 && $5 != $4 { bad++ }
		$1 == "on" && $6 == 0 { checked++ }
		$1 == "on" && $5 + $6 != $4 { unaccounted++ }
		$1 == "on" { ons++ }
		function median(a, k,   i, j, t) {
			for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
		}
		END {
			printf "%5s %11s %11s %7s %9s %9s %11s %11s %8s %9s\n", "round", "off qps", "on qps", \
				"on/off", "off us/q", "on us/q", "on answered", "lines", "dropped", "wr ns/l"
			for (i = 1; i <= n; i++) {
				r[i] = qps[i, "off"] > 0 ? qps[i, "on"] / qps[i, "off"] : 0
				c[i] = cpu[i, "off"] > 0 ? cpu[i, "on"] / cpu[i, "off"] : 0
				w[i] = wns[i] + 0
				printf "%5d %11.0f %11.0f %7.3f %9s %9s %11s %11s %8s %9s\n", i, qps[i, "off"], \
					qps[i, "on"], r[i], cpu[i, "off"], cpu[i, "on"], ans[i, "on"], lines[i], drop[i], \
					wns[i]
			}
			m = median(r, n)
			printf "median on/off qps over %d rounds: %.3f (%s; target >= 0.95)\n", n, m, \
				((m >= 0.95) ? "met" : "NOT met")
			printf "median on/off CPU per answer: %.3f\n", median(c, n)
			printf "median audit writer thread CPU per line: %d ns\n", median(w, n)
			printf "on-runs with nothing dropped whose lines == answered: %d of %d\n", (checked - bad), checked
			printf "on-runs whose lines + audit-dropped == answered: %d of %d\n", (ons - unaccounted), ons
		}' "$ROWS"
fi

# perf_share: one on-run as above under `perf record` (cpu-clock, blokir's threads only) and
# what share of blokir's samples the audit log takes: the writer thread, split into user space,
# write(2) and waking up, and the worker's audit_log and observe_blocked_audit. Shares of the
# samples, not times: they hold up better than qps on a shared machine.
perf_share() {
	local audit=$AUDIT_DIR/audit-perf.log cfg pid data=$TMP/perf.data
	cfg=$(conf "$audit")
	bg blokir-perf "${PIN_SRV[@]}" "$BLOKIR" -c "$cfg" --foreground "${ROOT_OPT[@]}"
	pid=$BG_PID
	wait_dns "$pid" "$PORT" t.me 20 || { log "blokir (perf) did not come up"; exit 1; }
	"${PIN_GEN[@]}" dnsperf -s 127.0.0.1 -p "$PORT" -d "$QF" -l "$((DURATION + 1))" \
		-c "$CLIENTS" -q "$OUTSTANDING" >"$TMP/dnsperf-perf.txt" 2>&1 &
	local gen=$!
	PIDS+=("$gen")
	sleep 0.5
	perf record -q -g -F "$PERF_FREQ" -o "$data" -p "$pid" -- sleep "$DURATION" >/dev/null 2>&1
	stop_pid "$gen" 30
	stop_pid "$pid" 30
	[ "$KEEP_TMP" = 1 ] || rm -f "$audit"
	echo "perf: shares of blokir's samples, one on-run, $DURATION s at $PERF_FREQ Hz ($(sed -n \
		's/^ *Queries per second: *\([0-9]*\).*/\1/p' "$TMP/dnsperf-perf.txt") qps)"
	perf script -i "$data" -F comm,ip,sym 2>/dev/null | awk 'BEGIN { RS = "" }
		{
			n++
			split($0, frame, "\n")
			leaf = frame[2]
			sub(/^[ \t]*[0-9a-f]+ /, "", leaf)
			sub(/\+0x.*/, "", leaf)
			if ($1 == "blokir-audit") {
				k = $0 ~ /vfs_write/ ? "write(2)" : $0 ~ /futex|schedule/ ? "waking" : \
					$0 ~ /entry_SYSCALL/ ? "other system calls" : "user space"
				w[k]++
				wt++
			} else if (leaf ~ /^(audit_log|log_slow|observe_blocked_audit|blocked_line_timed|log_new_key|log_texts|now_ms)$/) {
				a[leaf]++
				at++
			}
		}
		END {
			if (n == 0) { print "perf: no samples"; exit }
			printf "  audit writer thread %5.2f %%:", 100 * wt / n
			for (k in w) printf "  %s %.2f", k, 100 * w[k] / n
			printf "\n  worker in the audit functions %5.2f %%:", 100 * at / n
			for (k in a) printf "  %s %.2f", k, 100 * a[k] / n
			printf "\n  total %.2f %% of %d samples\n", 100 * (wt + at) / n, n
		}'
}
if [ "$PERF" = 1 ]; then
	if command -v perf >/dev/null; then perf_share; else echo "perf: not installed" >&2; fi
fi

[ "$CALLGRIND" = 1 ] || exit 0
command -v valgrind >/dev/null || { echo "callgrind: no valgrind" >&2; exit 0; }

# cg MODE COUNT: blokir (one worker) under callgrind, COUNT blocked queries at a low rate, then
# SIGTERM. Sets CG_ALL (every thread), CG_WORKER (the worker thread: the query path), CG_WRITER
# (the audit writer thread) and CG_LINES (the audit lines written).
cg() {
	local mode=$1 count=$2 audit="" dir=$TMP/cg-$1-$2
	[ "$mode" = on ] && audit=$TMP/cg-audit-$count.log
	mkdir -p "$dir"
	cfg=$(conf "$audit")
	awk -v n="$count" '{ q[NR] = $0 } END { for (i = 0; i < n; i++) print q[i % NR + 1] }' \
		"$QF" >"$dir/q.txt"
	# shellcheck disable=SC2086 # CG_OPTS: words of valgrind options
	bg "cg-$mode-$count" valgrind --tool=callgrind --separate-threads=yes ${CG_OPTS:-} \
		--callgrind-out-file="$dir/callgrind.out" "$BLOKIR" -c "$cfg" --foreground "${ROOT_OPT[@]}"
	local pid=$BG_PID
	wait_dns "$pid" "$PORT" t.me 120 || { log "callgrind: blokir did not come up"; return; }
	dnsperf -s 127.0.0.1 -p "$PORT" -d "$dir/q.txt" -n 1 -c 1 -q 100 -t 5 >"$dir/dnsperf.txt" 2>&1
	stop_pid "$pid" 120
	CG_ALL=0
	CG_WORKER=0
	CG_WRITER=0
	CG_LINES=0
	[ -n "$audit" ] && CG_LINES=$(wc -l <"$audit")
	local f ir
	for f in "$dir"/callgrind.out*; do
		ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$f" | head -n1)
		[ -n "$ir" ] || ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f" | head -n1)
		CG_ALL=$((CG_ALL + ${ir:-0}))
		# The worker is the thread with the most instructions spent in proxy_query; the writer
		# the one that ran writer_main.
		if grep -q 'fn=.*proxy_query' "$f" && [ "${ir:-0}" -gt "$CG_WORKER" ]; then CG_WORKER=$ir; fi
		if grep -q 'fn=.*writer_main' "$f"; then CG_WRITER=$ir; fi
	done
}

WORKERS=1
echo "callgrind: instructions per blocked query, (Ir($CG_LARGE) - Ir($CG_SMALL)) / $((CG_LARGE - CG_SMALL)), workers: 1, dnsperf -c 1 -q 100; writer: per line"
for mode in off on; do
	cg "$mode" "$CG_SMALL"; a_all=$CG_ALL; a_w=$CG_WORKER; a_wr=$CG_WRITER; a_l=$CG_LINES
	cg "$mode" "$CG_LARGE"; b_all=$CG_ALL; b_w=$CG_WORKER; b_wr=$CG_WRITER; b_l=$CG_LINES
	d=$((CG_LARGE - CG_SMALL))
	printf 'audit %-3s  all threads: %6d   worker thread (query path): %6d' "$mode" \
		$(((b_all - a_all) / d)) $(((b_w - a_w) / d))
	if [ "$mode" = on ] && [ $((b_l - a_l)) -gt 0 ]; then
		printf '   writer thread per line: %6d (%d lines more)' $(((b_wr - a_wr) / (b_l - a_l))) \
			$((b_l - a_l))
	fi
	echo
done
