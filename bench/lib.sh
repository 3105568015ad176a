# bench/lib.sh: what bench/run.sh and bench/reload_under_load.sh share, sourced by both: process
# bookkeeping (every process started is stopped by PID at exit), free loopback ports, DNS
# readiness, and nsd as the upstream. The caller sets LOG_TAG, START_TS, KEEP_TMP, TMP (its
# scratch directory), PIDS=() and DATA (where bench/gen_policy.py wrote the zone).

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

free_port() { python3 tools/free_port.py; }

# wait_dns PID PORT NAME SECONDS: waits until 127.0.0.1:PORT answers NAME (any RCODE) while PID
# is alive. Returns 1 on timeout or when PID died.
wait_dns() {
	local pid=$1 port=$2 name=$3 limit=$4 t0=$SECONDS
	while ((SECONDS - t0 < limit)); do
		kill -0 "$pid" 2>/dev/null || return 1
		dig @127.0.0.1 -p "$port" "$name" A +time=1 +tries=1 2>/dev/null | grep -q 'status:' && return 0
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
