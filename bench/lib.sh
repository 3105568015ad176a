# bench/lib.sh: what the benchmark scripts share, sourced by each (run.sh, cpu_fixed.sh,
# xdp_veth.sh, callgrind_q20.sh, reload_under_load.sh, ...): process bookkeeping (every process
# started is stopped by PID at exit), free loopback ports, DNS readiness, nsd as the upstream, and
# how each compared server (blokir, dnsdist, Unbound, the bare responder and relay) is configured,
# started and pinned, so that every benchmark measures the same configurations. The caller sets
# LOG_TAG, START_TS, KEEP_TMP, TMP (its scratch directory), PIDS=() and DATA (where
# bench/gen_policy.py wrote the zone and policies); the server functions also read PORT, NCPU,
# BUILD and BLOKIR (see take_blokir).
#
# Servers listen on $SRV_ADDR:$PORT (default 127.0.0.1) and are started behind the command prefix
# SRV_EXEC (an array, default empty), and readiness probes run behind PROBE_EXEC: xdp_veth.sh sets
# them to `ip netns exec NS` so the same functions start a server inside its namespaces.

SRV_ADDR=${SRV_ADDR:-127.0.0.1}
SRV_EXEC=()
PROBE_EXEC=()

log() { printf '[%s %4ds] %s\n' "$LOG_TAG" "$(($(date +%s) - START_TS))" "$*" >&2; }

# stop_pid PID [GRACE]: SIGTERM, wait up to GRACE seconds (default 10), then SIGKILL. The PID
# leaves PIDS first, so the exit trap never signals a number the kernel has since reused.
stop_pid() {
	local pid=$1 grace=${2:-10} i keep=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && { log "pid $pid ignored SIGTERM for ${grace}s: SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
	wait "$pid" 2>/dev/null
	return 0
}

# Newest first: load generators and samplers before the servers they talk to, servers before
# their upstream.
cleanup() {
	local i all=("${PIDS[@]}")
	trap - EXIT INT TERM
	for ((i = ${#all[@]} - 1; i >= 0; i--)); do stop_pid "${all[i]}" 5; done
	PIDS=()
	if [ "$KEEP_TMP" = 1 ]; then log "scratch kept in $TMP"; else rm -rf "$TMP"; fi
}

# bg NAME CMD...: starts CMD in the background with output in $TMP/NAME.log; sets BG_PID.
bg() {
	local name=$1; shift
	"$@" >"$TMP/$name.log" 2>&1 &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# free_port: a port free on 127.0.0.1 (and ::1) for both UDP and TCP (tools/free_port.py, shared
# with the system tests). The callers run from the repository's root.
# Exits 1 with an apt-get hint unless every TOOL of the TOOL:PACKAGE pairs is on PATH and $BLOKIR
# is built. WHAT names the benchmark in the messages.
need_tools() {
	local what=$1 pair missing=()
	shift
	for pair in "$@"; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "$what: missing tools; install them with: apt-get install ${missing[*]}" >&2
		exit 1
	fi
	if [ ! -x "$BLOKIR" ]; then
		echo "$what: no blokir binary at $BLOKIR (run make)" >&2
		exit 1
	fi
}

# Drawn at random (tools/free_port.py says why); with $TMP set, never the same one twice in a run.
free_port() {
	if [ -n "${TMP:-}" ] && [ -d "$TMP" ]; then
		python3 tools/free_port.py "$TMP/.ports"
	else
		python3 tools/free_port.py
	fi
}

# build_bare: the two ceilings, bench/bare_responder.c and bench/bare_relay.c, into $BUILD.
build_bare() {
	mkdir -p "$BUILD" || return 1
	cc -O2 -Wall -Wextra -pthread -o "$BUILD/bare_responder" bench/bare_responder.c || return 1
	cc -O2 -Wall -Wextra -pthread -o "$BUILD/bare_relay" bench/bare_relay.c
}

# begin_rounds NAME: what cpu_fixed.sh, xdp_veth.sh and callgrind_q20.sh each start with: the
# ceilings built, the scratch directory /tmp/blokir-NAME.* (TMP, DATA) removed at exit with every
# process started (also on Ctrl-C), a copy of blokir taken (take_blokir), the zone and 11-name
# policy generated, and ROWS, the rounds_table.py input, empty. Exits on failure.
begin_rounds() {
	build_bare || exit 1
	mkdir -p "$(dirname "$OUT")" || exit 1
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/blokir-$1.XXXXXX") || exit 1
	DATA=$TMP/data
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	take_blokir || exit 1
	gen_data || exit 1
	ROWS=$TMP/rows.tsv
	: >"$ROWS"
}

# stamp TITLE: the first line of a result file: TITLE, date, commit (+dirty when src/ or include/
# differ from it), a sanitizer build flagged, CPUs and model.
stamp() {
	echo "$1, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet -- src include 2>/dev/null || echo '+dirty')$BLOKIR_NOTE, $NCPU CPUs: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
}

# take_blokir: points BLOKIR at a copy of itself in $TMP, because other people rebuild ./blokir
# while a benchmark runs (and `make SANITIZE=1` writes the same path). Sets BLOKIR_NOTE (" (SANITIZER
# BUILD)" for a sanitizer build, which is measured but flagged) and BLOKIR_EXTRA: blokir refuses to
# run as root unless told, so when the caller is root and this build knows the `allow-root` key (an
# older one rejects it), the configs conf_blokir writes say `allow-root: true`.
take_blokir() {
	BLOKIR_NOTE= BLOKIR_EXTRA=
	cp "$BLOKIR" "$TMP/blokir" || return 1
	BLOKIR_SRC=$BLOKIR BLOKIR=$TMP/blokir
	if grep -qa -e __asan_init -e __ubsan_handle "$BLOKIR"; then
		log "WARNING: $BLOKIR_SRC is a sanitizer build (make SANITIZE=1): its figures are not release figures"
		BLOKIR_NOTE=" (SANITIZER BUILD)"
	fi
	if [ "$(id -u)" = 0 ] && grep -qa 'allow-root' "$BLOKIR"; then
		BLOKIR_EXTRA="allow-root: true"
	fi
	# BLOKIR_BEFORE: an older build measured beside it in the same run (the blokir-before systems),
	# for before/after tables whose rounds interleave both. It must know every key conf_blokir
	# writes (allow-root is in every build since session 2).
	if [ -n "${BLOKIR_BEFORE:-}" ]; then
		[ -x "$BLOKIR_BEFORE" ] || { log "no blokir binary at BLOKIR_BEFORE=$BLOKIR_BEFORE"; return 1; }
		cp "$BLOKIR_BEFORE" "$TMP/blokir-before" || return 1
		BLOKIR_BEFORE=$TMP/blokir-before
	fi
}

# wait_dns PID PORT NAME SECONDS [ADDR]: waits until ADDR:PORT (default 127.0.0.1) answers NAME
# (any RCODE), asked behind PROBE_EXEC, while PID is alive. Returns 1 on timeout or when PID died.
wait_dns() {
	local pid=$1 port=$2 name=$3 limit=$4 addr=${5:-127.0.0.1} t0=$SECONDS
	while ((SECONDS - t0 < limit)); do
		kill -0 "$pid" 2>/dev/null || return 1
		"${PROBE_EXEC[@]}" dig @"$addr" -p "$port" "$name" A +time=1 +tries=1 2>/dev/null |
			grep -q 'status:' && return 0
		sleep 0.2
	done
	return 1
}

# start_nsd: nsd on a free loopback port serving $DATA/zone/fwd.test.zone, the upstream of every
# forwarded query. Sets NSD_PORT and NSD_PID; exits when nsd does not come up.
start_nsd() {
	NSD_PORT=$(free_port)
	mkdir -p "$TMP/nsd"
	cp "$DATA/zone/fwd.test.zone" "$TMP/nsd/"
	# RRL is compiled into Debian's nsd and would rate-limit the benchmark: switched off.
	cat >"$TMP/nsd/nsd.conf" <<EOF
server:
	ip-address: 127.0.0.1@$NSD_PORT
	port: $NSD_PORT
	do-ip6: no
	username: ""
	chroot: ""
	zonesdir: "$TMP/nsd"
	database: ""
	zonelistfile: "$TMP/nsd/zone.list"
	xfrdfile: "$TMP/nsd/xfrd.state"
	xfrdir: "$TMP/nsd"
	pidfile: "$TMP/nsd/nsd.pid"
	logfile: "$TMP/nsd/nsd.log"
	verbosity: 0
	server-count: 1
	hide-version: yes
	rrl-ratelimit: 0
	rrl-whitelist-ratelimit: 0
	refuse-any: no
remote-control:
	control-enable: no
zone:
	name: fwd.test
	zonefile: fwd.test.zone
EOF
	bg nsd nsd -d -c "$TMP/nsd/nsd.conf"
	NSD_PID=$BG_PID
	if ! wait_dns "$NSD_PID" "$NSD_PORT" q1.fwd.test 30; then
		echo "$LOG_TAG: nsd did not start; its log:" >&2
		cat "$TMP/nsd.log" "$TMP/nsd/nsd.log" >&2 2>/dev/null
		exit 1
	fi
	log "nsd up on 127.0.0.1:$NSD_PORT (pid $NSD_PID)"
}

# descendants PID: PID and every process below it (nsd forks its server and xfrd).
descendants() {
	local p c
	echo "$1"
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		for p in $(descendants "$c"); do echo "$p"; done
	done
}

# cpu_ticks PID: utime+stime (clock ticks) of PID and its descendants; /proc/PID/stat already sums
# the threads of a process.
cpu_ticks() {
	local total=0 p f
	for p in $(descendants "$1"); do
		f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		set -- $f
		# after "pid (comm) ": field 3 is state, so utime (14) and stime (15) are $12 and $13
		total=$((total + ${12} + ${13}))
	done
	echo "$total"
}

# pin_tree PID CPUS: sets the CPU affinity of every thread of PID and its descendants.
pin_tree() {
	local p
	for p in $(descendants "$1"); do taskset -a -p -c "$2" "$p" >/dev/null 2>&1; done
}

# gen_data [big]: the zone of fwd.test and its forwarded query file ($DATA/zone), the 11-name
# policy of policy/telegram-2017.yaml ($DATA/p11) and, with "big", $BIG generated names ($DATA/pbig),
# each in every server's format (bench/gen_policy.py).
gen_data() {
	log "generating policies, zone and query files"
	python3 bench/gen_policy.py zone "$DATA/zone" >/dev/null || return 1
	python3 bench/gen_policy.py policy "$DATA/p11" --from-yaml policy/telegram-2017.yaml >/dev/null ||
		return 1
	[ "${1:-}" != big ] || python3 bench/gen_policy.py policy "$DATA/pbig" --size "$BIG" >/dev/null
}

policy_dir() { if [ "$1" = 11 ]; then echo "$DATA/p11"; else echo "$DATA/pbig"; fi; }
policy_label() { case $1 in 11) echo 11 ;; big) echo "$BIG" ;; *) echo "$1" ;; esac; }
# A name the policy blocks, for readiness probes.
probe_name() { head -1 "$(policy_dir "$1")/names.txt"; }

# start_SYSTEM POLICY PIN: starts the server on $SRV_ADDR:$PORT and sets SPID; returns 1 when it
# does not come up. Pinned: CPU 1 and one worker/thread. Unpinned: one worker per core (blokir's
# default). blokir forwards to $UPSTREAM (default nsd, 127.0.0.1:$NSD_PORT), the others to nsd.

# conf_SYSTEM POLICY PIN: writes the server's configuration and prints its path.
conf_blokir() {
	local pol=$1 pin=$2 extra=${3:-} cfg workers=0
	cfg=$TMP/blokir-$pol-$pin${extra:+-${extra%%:*}}.yaml
	[ "$pin" = pinned ] && workers=1
	{
		echo "listen: [\"$SRV_ADDR:$PORT\"]"
		echo "upstreams: [\"${UPSTREAM:-127.0.0.1:$NSD_PORT}\"]"
		echo "workers: $workers"
		[ -n "$BLOKIR_EXTRA" ] && echo "$BLOKIR_EXTRA"
		# BLOKIR_CONF: more lines for the blokir under test only (an older build may not know them)
		[ -z "${BLOKIR_RUN:-}" ] && [ -n "${BLOKIR_CONF:-}" ] && echo "$BLOKIR_CONF"
		[ -n "$extra" ] && echo "$extra"
		cat "$(policy_dir "$pol")/domains.yaml"
	} >"$cfg"
	echo "$cfg"
}

# start_blokir POLICY PIN [EXTRA-YAML-LINE SYSTEM-NAME]: the binary is $BLOKIR, or $BLOKIR_RUN
# when set (the blokir-before systems).
start_blokir() {
	local pol=$1 pin=$2 extra=${3:-} name=${4:-blokir} ts=()
	[ "$pin" = pinned ] && ts=(taskset -c 1)
	bg "$name-$pol-$pin" "${SRV_EXEC[@]}" "${ts[@]}" "${BLOKIR_RUN:-$BLOKIR}" -c "$(conf_blokir "$pol" "$pin" "$extra")" \
		--foreground
	SPID=$BG_PID
	wait_dns "$SPID" "$PORT" "$(probe_name "$pol")" 300 "$SRV_ADDR"
}

# blokir with busy-poll-us (README, Performance): the latency it buys on a quiet machine. Only
# the forwarded mix is run, the one it changes.
start_blokir-poll() { start_blokir "$1" "$2" "busy-poll-us: 100" blokir-poll; }

# blokir with its answer cache (cache-size, per worker): the forwarded file's 200,000 names repeat
# after each pass (about 2 s), so after the first repetition most answers come from the cache.
# dnsdist's rows stay without its packet cache, as the issue's forwarded target asks.
start_blokir-cache() { start_blokir "$1" "$2" "cache-size: 250000" blokir-cache; }

# The older build of BLOKIR_BEFORE (take_blokir), configured alike, with and without busy-poll.
start_blokir-before() { BLOKIR_RUN=$BLOKIR_BEFORE start_blokir "$1" "$2" "" blokir-before; }
start_blokir-before-poll() {
	BLOKIR_RUN=$BLOKIR_BEFORE start_blokir "$1" "$2" "busy-poll-us: 100" blokir-before-poll
}

conf_dnsdist() {
	local pol=$1 pin=$2 d cfg locals i
	d=$(policy_dir "$pol")
	cfg=$TMP/dnsdist-$pol-$pin.conf
	# dnsdist runs one UDP receiver thread per local address; unpinned gets one per core, on the
	# same port with SO_REUSEPORT, like blokir's workers.
	locals="setLocal(\"$SRV_ADDR:$PORT\", {reusePort=true})"
	if [ "$pin" = unpinned ]; then
		for ((i = 1; i < NCPU; i++)); do
			locals+=$'\n'"addLocal(\"$SRV_ADDR:$PORT\", {reusePort=true})"
		done
	fi
	cat >"$cfg" <<EOF
-- generated by bench/lib.sh: forward to nsd, NXDOMAIN for the block list, no packet cache
-- (no pool has setCache), no console (no controlSocket), no security polling.
setSecurityPollSuffix("")
$locals
newServer({address="127.0.0.1:$NSD_PORT", name="nsd"}):setUp()
smn = newSuffixMatchNode()
for line in io.lines("$d/names.txt") do smn:add(line) end
addAction(SuffixMatchNodeRule(smn), RCodeAction(DNSRCode.NXDOMAIN))
EOF
	echo "$cfg"
}

start_dnsdist() {
	local pol=$1 pin=$2 ts=()
	[ "$pin" = pinned ] && ts=(taskset -c 1)
	bg "dnsdist-$pol-$pin" "${SRV_EXEC[@]}" "${ts[@]}" dnsdist --supervised --disable-syslog -C "$(conf_dnsdist "$pol" "$pin")"
	SPID=$BG_PID
	wait_dns "$SPID" "$PORT" "$(probe_name "$pol")" 300 "$SRV_ADDR"
}

conf_unbound() {
	local pol=$1 pin=$2 d cfg threads=$NCPU
	d=$(policy_dir "$pol")
	cfg=$TMP/unbound-$pol-$pin.conf
	[ "$pin" = pinned ] && threads=1
	# Unbound's cache cannot be switched off: it is made as small as allowed and every entry
	# expires at once (cache-max-ttl 0), and the forwarded queries never repeat a name within a
	# query file anyway. The validator is left out (a forwarder for this job would not validate
	# a zone without a trust anchor). num-queries-per-thread is raised so dnsperf's outstanding
	# queries are not dropped at the default 1024.
	cat >"$cfg" <<EOF
server:
	interface: $SRV_ADDR@$PORT
	port: $PORT
	do-ip6: no
	username: ""
	chroot: ""
	directory: "$TMP"
	pidfile: "$TMP/unbound-$pol-$pin.pid"
	use-syslog: no
	logfile: ""
	verbosity: 0
	num-threads: $threads
	so-reuseport: yes
	module-config: "iterator"
	do-not-query-localhost: no
	msg-cache-size: 1m
	msg-cache-slabs: 1
	rrset-cache-size: 1m
	rrset-cache-slabs: 1
	key-cache-size: 1m
	neg-cache-size: 1m
	cache-max-ttl: 0
	cache-max-negative-ttl: 0
	prefetch: no
	num-queries-per-thread: 4096
	outgoing-range: 8192
	# "test." is one of Unbound's built-in special-use local zones (RFC 6761); without nodefault
	# it would answer NXDOMAIN for fwd.test itself.
	local-zone: "test." nodefault
	include: "$d/unbound-local.conf"
forward-zone:
	name: "."
	forward-addr: 127.0.0.1@$NSD_PORT
EOF
	echo "$cfg"
}

start_unbound() {
	local pol=$1 pin=$2 ts=()
	[ "$pin" = pinned ] && ts=(taskset -c 1)
	bg "unbound-$pol-$pin" "${SRV_EXEC[@]}" "${ts[@]}" unbound -d -c "$(conf_unbound "$pol" "$pin")"
	SPID=$BG_PID
	wait_dns "$SPID" "$PORT" "$(probe_name "$pol")" 300 "$SRV_ADDR"
}

# start_bare POLICY PIN: the blocked ceiling (the policy only keeps the calls alike).
start_bare() {
	local pin=$2 ts=() threads=$NCPU
	[ "$pin" = pinned ] && { threads=1; ts=(taskset -c 1); }
	bg "bare-$pin" "${SRV_EXEC[@]}" "${ts[@]}" "$BUILD/bare_responder" -l "$SRV_ADDR:$PORT" -t "$threads"
	SPID=$BG_PID
	wait_dns "$SPID" "$PORT" t.me 10 "$SRV_ADDR"
}

# start_relay POLICY PIN: the forwarded ceiling, bench/bare_relay, the least work a forwarder can
# do, in front of nsd.
start_relay() {
	local pin=$2 ts=() threads=$NCPU
	[ "$pin" = pinned ] && { threads=1; ts=(taskset -c 1); }
	bg "relay-$pin" "${SRV_EXEC[@]}" "${ts[@]}" "$BUILD/bare_relay" -l "$SRV_ADDR:$PORT" -u "127.0.0.1:$NSD_PORT" \
		-t "$threads"
	SPID=$BG_PID
	wait_dns "$SPID" "$PORT" q1.fwd.test 10 "$SRV_ADDR"
}

# nsd's server process floats unless pinned: pinned rows put it on CPU 0 with dnsperf, so the
# server under test has CPU 1 to itself (the same for every system).
pin_nsd() { if [ "$1" = pinned ]; then pin_tree "$NSD_PID" 0; else pin_tree "$NSD_PID" 0-$((NCPU - 1)); fi; }

# server_argv SYSTEM POLICY PIN: sets the array SRV_ARGV to the command that runs SYSTEM (blokir,
# blokir-before, dnsdist, unbound, bare) in the foreground on $PORT, configured as start_SYSTEM does, unpinned
# (callgrind runs it under valgrind, which serializes the threads anyway).
server_argv() {
	case $1 in
	blokir) SRV_ARGV=("$BLOKIR" -c "$(conf_blokir "$2" "$3")" --foreground) ;;
	blokir-before) SRV_ARGV=("$BLOKIR_BEFORE" -c "$(conf_blokir "$2" "$3")" --foreground) ;;
	dnsdist) SRV_ARGV=(dnsdist --supervised --disable-syslog -C "$(conf_dnsdist "$2" "$3")") ;;
	unbound) SRV_ARGV=(unbound -d -c "$(conf_unbound "$2" "$3")") ;;
	bare) SRV_ARGV=("$BUILD/bare_responder" -l "$SRV_ADDR:$PORT" -t "$([ "$3" = pinned ] && echo 1 || echo "$NCPU")") ;;
	*) return 1 ;;
	esac
}

# cg_queries KIND COUNT FILE: the first COUNT lines of the blocked (11 names) or forwarded query
# file, cycling, into FILE.
cg_queries() {
	local from=$DATA/zone/q-forwarded.txt
	[ "$1" = blocked ] && from=$DATA/p11/q-blocked.txt
	python3 bench/gen_policy.py count "$3" --from "$from" --lines "$2" >/dev/null
}

# cg_ir NAME QUERIES PROBE CMD...: CMD (a server listening on 127.0.0.1:$PORT) under valgrind
# --tool=callgrind; once it answers PROBE, dnsperf sends the file QUERIES once (-n 1) with the
# options in the array CG_DNSPERF, then the server gets SIGTERM. Sets CG_IR to the total Ir of all
# threads (the `totals:` line of the callgrind output), n/a when it failed; logs lost queries. When
# CG_HOOK names a function, it is called just before and just after dnsperf (with "before"/"after").
cg_ir() {
	local name=$1 qf=$2 probe=$3 out pid lost
	shift 3
	CG_IR=n/a
	out=$TMP/callgrind.out.$name
	bg "cg-$name" valgrind --tool=callgrind --callgrind-out-file="$out" "$@"
	pid=$BG_PID
	if ! wait_dns "$pid" "$PORT" "$probe" 120; then
		log "callgrind: $name did not come up; log tail:"
		tail -5 "$TMP/cg-$name.log" >&2
		stop_pid "$pid"
		return 1
	fi
	[ -z "${CG_HOOK:-}" ] || "$CG_HOOK" before
	dnsperf -s 127.0.0.1 -p "$PORT" -d "$qf" -n 1 "${CG_DNSPERF[@]}" >"$out.dnsperf" 2>&1
	[ -z "${CG_HOOK:-}" ] || "$CG_HOOK" after
	stop_pid "$pid" 120
	CG_IR=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out" 2>/dev/null | head -1)
	[ -n "$CG_IR" ] || CG_IR=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out" 2>/dev/null | head -1)
	[ -n "$CG_IR" ] || CG_IR=n/a
	lost=$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$out.dnsperf")
	[ "${lost:-0}" = 0 ] || log "callgrind: $name: $lost queries lost (see $out.dnsperf)"
}
