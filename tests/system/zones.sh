# zones.sh: helpers for the RPZ secondary tests (tests/system/32-*.t to 35-*.t), sourced after
# lib.sh. Real primaries on loopback, each started in the foreground as a background job with
# its PID tracked by lib.sh (so the exit trap stops exactly it): Knot DNS (knotd, IXFR from zone
# file differences), BIND (named, ixfr-from-differences) and nsd (AXFR only).

ZONE=rpz.test

# write_rpz FILE SERIAL [RECORD-LINE...]: an RPZ zone rpz.test with refresh/retry 1 s, expire
# ${RPZ_EXPIRE:-600} s, and the given records after the SOA and NS.
write_rpz() {
	local f=$1 serial=$2 l; shift 2
	{
		printf '$ORIGIN %s.\n$TTL 60\n' "$ZONE"
		printf '@ IN SOA ns.%s. hostmaster.%s. %s 1 1 %s 60\n' "$ZONE" "$ZONE" "$serial" "${RPZ_EXPIRE:-600}"
		printf '@ IN NS localhost.\n'
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$f.new"
	mv "$f.new" "$f"
}

# The feed of the tests: every action, local data, and two triggers of types we skip.
RPZ_BASE=("bad.example CNAME ." "*.wild.example CNAME *." "ok.bad.example CNAME rpz-passthru."
	"land.example A 192.0.2.80" "land.example A 192.0.2.81" "cn.example CNAME landing.example.test."
	"32.1.0.0.127.rpz-ip CNAME ." "ns.evil.rpz-nsdname CNAME .")

# tsig_secret FILE: a fresh base64 hmac-sha256 secret, mode 600.
tsig_secret() { head -c 32 /dev/urandom | base64 >"$1"; chmod 600 "$1"; }

# start_knot DIR ZONEFILE SECRET-FILE|"" NOTIFY-PORT...: knotd serving $ZONE from ZONEFILE
# (copied into DIR) with zonefile-load: difference, so a reload of a changed file becomes an IXFR,
# notifying 127.0.0.1 on each NOTIFY-PORT. Sets KNOT_PORT, KNOT_PID, KNOT_DIR.
start_knot() {
	local d=$1 zf=$2 sf=$3 p keyacl="" remotes="" i=0; shift 3
	mkdir -p "$d/db"
	KNOT_DIR=$d
	KNOT_PORT=$(free_port)
	cp "$zf" "$d/$ZONE.zone"
	{
		printf 'server:\n    rundir: "%s"\n    listen: 127.0.0.1@%s\n' "$d" "$KNOT_PORT"
		printf 'database:\n    storage: "%s/db"\n' "$d"
		printf 'log:\n  - target: "%s/knot.log"\n    any: info\n' "$d"
		if [ -n "$sf" ]; then
			printf 'key:\n  - id: blokir-key.\n    algorithm: hmac-sha256\n    secret: %s\n' "$(cat "$sf")"
			keyacl="    key: blokir-key."
		fi
		printf 'remote:\n'
		for p in "$@"; do
			printf '  - id: s%d\n    address: 127.0.0.1@%s\n' "$i" "$p"
			remotes="$remotes${remotes:+, }s$i"; i=$((i + 1))
		done
		[ $# -gt 0 ] || printf '  - id: none\n    address: 127.0.0.1@9\n'
		printf 'acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    action: transfer\n'
		[ -z "$keyacl" ] || printf '%s\n' "$keyacl"
		printf 'template:\n  - id: default\n    storage: "%s"\n    zonefile-sync: -1\n' "$d"
		printf '    zonefile-load: difference\n    journal-content: changes\n    semantic-checks: off\n'
		printf 'zone:\n  - domain: %s\n    file: %s.zone\n    acl: xfr\n' "$ZONE" "$ZONE"
		[ -z "$remotes" ] || printf '    notify: [%s]\n' "$remotes"
	} >"$d/knot.conf"
	knotd -c "$d/knot.conf" >>"$d/knotd.out" 2>&1 &
	KNOT_PID=$!
	track "$KNOT_PID"
	if ! wait_for 10 primary_answers "$KNOT_PORT"; then
		diag "knotd did not come up on port $KNOT_PORT"
		tail -n 20 "$d/knot.log" "$d/knotd.out" 2>/dev/null | diag
		return 1
	fi
}

# knot_update RECORD-LINE...: rewrites the zone file with serial $SERIAL and the records, and has
# knotd reload it (it computes the difference, journals it and sends NOTIFY).
knot_update() {
	write_rpz "$KNOT_DIR/$ZONE.zone" "$SERIAL" "$@"
	timeout 10 knotc -s "$KNOT_DIR/knot.sock" zone-reload "$ZONE" >/dev/null
}

# primary_answers PORT: the primary serves the zone's SOA.
primary_answers() {
	timeout 3 dig @127.0.0.1 -p "$1" +time=1 +tries=1 +nocookie "$ZONE" SOA 2>/dev/null |
		grep -q 'status: NOERROR'
}

# write_secondary FILE PORT PRIMARY-PORT STATE-DIR [extra zone lines...]: a blokir config with the
# eleven 2017 domains and zone rpz.test pulled from 127.0.0.1:PRIMARY-PORT.
write_secondary() {
	local f=$1 port=$2 pport=$3 sd=$4; shift 4
	mkdir -p "$sd"
	write_policy "$f" "$port" "127.0.0.1:$NSD_PORT" "state-dir: $sd" "zones:" \
		"  - name: $ZONE" "    primaries: [\"127.0.0.1:$pport\"]" "    reason: \"rpz feed\"" "$@"
}

# decide PORT NAME: what blokir on PORT does with NAME: nxdomain, nodata, redirect-a (A answer
# from the zone), redirect-cname, or forwarded.
decide() {
	local out; out=$(q "$1" "$2" A)
	if grep -q 'blokir\.invalid\.' <<<"$out"; then
		case $(rcode "$out") in NXDOMAIN) echo nxdomain ;; NOERROR) echo nodata ;; *) echo "other" ;; esac
	elif grep -q 'IN[[:space:]]A[[:space:]]192\.0\.2\.8[01]' <<<"$out"; then echo redirect-a
	elif grep -q 'IN[[:space:]]CNAME[[:space:]]landing' <<<"$out"; then echo redirect-cname
	else echo forwarded; fi
}

# zone_stat KEY [LOG]: KEY's value in the newest "stats: zone" line (after a SIGUSR1 by the caller).
zone_stat() {
	grep 'stats: zone ' "${2:-$T_TMP/blokir.log}" | tail -n 1 | sed -n "s/.* $1=\([^ ]*\).*/\1/p"
}

# zone_stats: SIGUSR1 to the current blokir, then waits for its zone line.
zone_stats() {
	local before
	before=$(grep -c 'stats: zone ' "$T_TMP/blokir.log" 2>/dev/null)
	kill -USR1 "$T_BLOKIR_PID"
	wait_for 5 bash -c "[ \$(grep -c 'stats: zone ' '$T_TMP/blokir.log') -gt $before ]"
}

# now_ms: wall clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# until_decision SECONDS PORT NAME WANT T0: polls every 20 ms until NAME gets WANT; prints the
# milliseconds since T0 (a now_ms taken before the change), or "timeout".
until_decision() {
	local secs=$1 port=$2 name=$3 want=$4 t0=$5 i
	for ((i = 0; i < secs * 50; i++)); do
		if [ "$(decide "$port" "$name")" = "$want" ]; then echo $(($(now_ms) - t0)); return 0; fi
		sleep 0.02
	done
	echo timeout
	return 1
}

# notify_ms [LOG]: the time (ms since the epoch) of the newest "NOTIFY from 127.0.0.1" line.
notify_ms() {
	local ts
	ts=$(grep "zone $ZONE: NOTIFY from 127.0.0.1: checking now" "${1:-$T_TMP/blokir.log}" | tail -n 1 | cut -d' ' -f1)
	[ -n "$ts" ] && echo $(($(date -d "$ts" +%s%N) / 1000000))
}

# in_force_check MS-SINCE-CHANGE NOTIFY-BEFORE [LOG] [DESCRIPTION]: one test point: the change was
# seen within 1 s of the NOTIFY that announced it (the primary's own reload time before sending
# it is not ours to count; it is shown as a diagnostic).
in_force_check() {
	local ms=$1 before=$2 log=${3:-$T_TMP/blokir.log} desc=${4:-a change + NOTIFY is in force within 1 s} n seen
	seen=$(now_ms)
	n=$(notify_ms "$log")
	if [ "$ms" = timeout ] || [ -z "$n" ] || [ "$n" = "$before" ]; then
		fail "$desc"; diag "change seen: $ms ms after the primary was told; NOTIFY line: ${n:-none}"
		return 1
	fi
	diag "in force $((seen - n)) ms after the NOTIFY arrived (+/- 20 ms polling), $ms ms after the primary's reload command"
	ok $([ $((seen - n)) -lt 1000 ]; echo $?) "$desc ($((seen - n)) ms after the NOTIFY)"
}

# start_nsd_primary DIR ZONEFILE NOTIFY-PORT...: nsd serving $ZONE from DIR/$ZONE.zone (copied
# from ZONEFILE) to transfers from loopback, without IXFR (nsd 4.6 has no zone-file IXFR), and
# notifying each port. A SIGHUP makes it re-read a changed file and notify. Sets NSDP_PORT,
# NSDP_PID, NSDP_DIR.
start_nsd_primary() {
	local d=$1 zf=$2 p
	shift 2
	mkdir -p "$d"
	NSDP_DIR=$d
	NSDP_PORT=$(free_port)
	cp "$zf" "$d/$ZONE.zone"
	{
		printf 'server:\n\tip-address: 127.0.0.1@%s\n\tport: %s\n\tdo-ip6: no\n' "$NSDP_PORT" "$NSDP_PORT"
		printf '\tusername: ""\n\tchroot: ""\n\tzonesdir: "%s"\n\tdatabase: ""\n' "$d"
		printf '\tzonelistfile: "%s/zone.list"\n\txfrdfile: "%s/xfrd.state"\n\txfrdir: "%s"\n' "$d" "$d" "$d"
		printf '\tpidfile: "%s/nsd.pid"\n\tlogfile: "%s/nsd.log"\n\tverbosity: 2\n' "$d" "$d"
		printf '\tserver-count: 1\nremote-control:\n\tcontrol-enable: no\n'
		printf 'zone:\n\tname: %s\n\tzonefile: %s.zone\n\tprovide-xfr: 127.0.0.0/8 NOKEY\n' "$ZONE" "$ZONE"
		for p in "$@"; do printf '\tnotify: 127.0.0.1@%s NOKEY\n' "$p"; done
	} >"$d/nsd.conf"
	nsd -d -c "$d/nsd.conf" >>"$d/nsd.out" 2>&1 &
	NSDP_PID=$!
	track "$NSDP_PID"
	if ! wait_for 10 primary_answers "$NSDP_PORT"; then
		diag "nsd (primary) did not come up on port $NSDP_PORT"
		tail -n 20 "$d/nsd.out" "$d/nsd.log" 2>/dev/null | diag
		return 1
	fi
}

# nsd_update RECORD-LINE...: the zone file with serial $SERIAL, then SIGHUP (nsd re-reads it
# when its mtime changed, and notifies).
nsd_update() {
	write_rpz "$NSDP_DIR/$ZONE.zone" "$SERIAL" "$@"
	touch -d "+${NSD_BUMP:=1} seconds" "$NSDP_DIR/$ZONE.zone"
	NSD_BUMP=$((NSD_BUMP + 1))
	kill -HUP "$NSDP_PID"
}

# start_named DIR ZONEFILE SECRET-FILE|"" NOTIFY-PORT...: BIND serving $ZONE with
# ixfr-from-differences (a reload of a changed file is journalled and served as IXFR), sending
# NOTIFY to each port, TSIG-signed transfers when a secret is given. Sets NAMED_PORT, NAMED_PID,
# NAMED_DIR; `named_update` reloads through rndc.
start_named() {
	local d=$1 zf=$2 sf=$3 p notify="" xfracl="127.0.0.0/8;" rkey
	shift 3
	mkdir -p "$d"
	NAMED_DIR=$d
	NAMED_PORT=$(free_port)
	NAMED_RNDC=$(free_port)
	cp "$zf" "$d/$ZONE.zone"
	for p in "$@"; do notify="$notify 127.0.0.1 port $p;"; done
	rkey=$(head -c 32 /dev/urandom | base64)
	{
		printf 'key "rndc-key" { algorithm hmac-sha256; secret "%s"; };\n' "$rkey"
		if [ -n "$sf" ]; then
			printf 'key "blokir-key." { algorithm hmac-sha256; secret "%s"; };\n' "$(cat "$sf")"
			xfracl="key blokir-key.;"
		fi
		printf 'controls { inet 127.0.0.1 port %s allow { 127.0.0.1; } keys { "rndc-key"; }; };\n' "$NAMED_RNDC"
		printf 'options {\n\tdirectory "%s";\n\tlisten-on port %s { 127.0.0.1; };\n' "$d" "$NAMED_PORT"
		printf '\tlisten-on-v6 { none; };\n\tpid-file "%s/named.pid";\n\tsession-keyfile "%s/session.key";\n' "$d" "$d"
		printf '\trecursion no;\n\tdnssec-validation no;\n\tnotify explicit;\n'
		printf '\talso-notify {%s };\n\tnotify-delay 0;\n' "$notify"
		printf '};\n'
		printf 'logging {\n\tchannel log { file "%s/named.log"; severity info; print-time yes; print-category yes; };\n' "$d"
		printf '\tcategory default { log; };\n\tcategory xfer-out { log; };\n\tcategory notify { log; };\n};\n'
		printf 'zone "%s" {\n\ttype primary;\n\tfile "%s/%s.zone";\n\tixfr-from-differences yes;\n' "$ZONE" "$d" "$ZONE"
		printf '\tallow-transfer { %s };\n};\n' "$xfracl"
	} >"$d/named.conf"
	printf 'key "rndc-key" { algorithm hmac-sha256; secret "%s"; };\noptions { default-key "rndc-key"; default-server 127.0.0.1; default-port %s; };\n' \
		"$rkey" "$NAMED_RNDC" >"$d/rndc.conf"
	named -f -c "$d/named.conf" >>"$d/named.out" 2>&1 &
	NAMED_PID=$!
	track "$NAMED_PID"
	if ! wait_for 15 primary_answers "$NAMED_PORT"; then
		diag "named did not come up on port $NAMED_PORT"
		tail -n 20 "$d/named.out" "$d/named.log" 2>/dev/null | diag
		return 1
	fi
}

named_update() {
	write_rpz "$NAMED_DIR/$ZONE.zone" "$SERIAL" "$@"
	timeout 10 rndc -c "$NAMED_DIR/rndc.conf" reload "$ZONE" >/dev/null
}
