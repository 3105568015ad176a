#!/bin/bash
# 35-zones-fleet: ten blokir secondaries of one Knot DNS primary, all on loopback. After a change
# on the primary, each receives NOTIFY and within 2 s of it all ten are on the same serial and
# give the same decisions for a set of names.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zones.sh"

N=10
POLLERS=()
start_nsd || bail "nsd (upstream) did not start"
PORTS=()
for ((i = 0; i < N; i++)); do PORTS+=("$(free_port)"); done
SERIAL=1
write_rpz "$T_TMP/zone" $SERIAL "${RPZ_BASE[@]}"
start_knot "$T_TMP/knot" "$T_TMP/zone" "" "${PORTS[@]}" || bail "knotd did not start"

PIDS=()
for ((i = 0; i < N; i++)); do
	write_secondary "$T_TMP/b$i.yaml" "${PORTS[$i]}" "$KNOT_PORT" "$T_TMP/state$i"
	sed -i 's/^workers: 2$/workers: 1/' "$T_TMP/b$i.yaml"
	"$BLOKIR" -c "$T_TMP/b$i.yaml" --foreground "${ROOT_OPT[@]}" >>"$T_TMP/b$i.log" 2>&1 &
	PIDS+=("$!")
	track "$!"
done
up=0
for ((i = 0; i < N; i++)); do
	wait_log 15 "zone $ZONE: AXFR serial 1 from" "$T_TMP/b$i.log" && up=$((up + 1))
done
is "$up" "$N" "all $N secondaries have serial 1"

NAMES="bad.example a.wild.example ok.bad.example land.example new.example x.new.example web.telegram.org"
decisions() { local n; for n in $NAMES; do printf '%s=%s ' "$n" "$(decide "$1" "$n")"; done; }
want1=$(decisions "${PORTS[0]}")
same=0
for ((i = 0; i < N; i++)); do [ "$(decisions "${PORTS[$i]}")" = "$want1" ] && same=$((same + 1)); done
is "$same" "$N" "all $N give the same decisions at serial 1"

SERIAL=2
knot_update "${RPZ_BASE[@]:1}" "new.example CNAME ." "*.new.example CNAME *."
want2="bad.example=forwarded a.wild.example=nodata ok.bad.example=forwarded land.example=redirect-a new.example=nxdomain x.new.example=nodata web.telegram.org=nxdomain "
# one poller per secondary, all at once: when x.new.example (new at serial 2) turns NODATA
for ((i = 0; i < N; i++)); do
	( for ((k = 0; k < 250; k++)); do
		if [ "$(decide "${PORTS[$i]}" x.new.example)" = nodata ]; then now_ms >"$T_TMP/seen$i"; exit 0; fi
		sleep 0.02
	done ) &
	POLLERS+=("$!")
done
wait "${POLLERS[@]}"
first_notify=""; last_seen=0; worst=0; converged=0
for ((i = 0; i < N; i++)); do
	n=$(notify_ms "$T_TMP/b$i.log")
	[ -s "$T_TMP/seen$i" ] && [ -n "$n" ] || continue
	seen=$(cat "$T_TMP/seen$i")
	[ "$(decisions "${PORTS[$i]}")" = "$want2" ] || continue
	converged=$((converged + 1))
	[ -z "$first_notify" ] || [ "$n" -lt "$first_notify" ] && first_notify=$n
	[ "$seen" -gt "$last_seen" ] && last_seen=$seen
	[ $((seen - n)) -gt $worst ] && worst=$((seen - n))
done
is "$converged" "$N" "all $N converge on the new decisions for every name"
span=$((last_seen - ${first_notify:-0}))
diag "first NOTIFY to the last secondary showing serial 2: $span ms; slowest single one: $worst ms (+/- 20 ms polling, 10 pollers on 2 cores)"
ok $([ "$span" -lt 2000 ]; echo $?) "  within 2 s of the NOTIFY ($span ms)"
serials=""
for ((i = 0; i < N; i++)); do
	kill -USR1 "${PIDS[$i]}"
	wait_for 5 grep -q 'stats: zone ' "$T_TMP/b$i.log"
	serials="$serials$(zone_stat serial "$T_TMP/b$i.log") "
done
is "$serials" "$(printf '2 %.0s' $(seq $N))" "all $N report serial 2"
ixfrs=0
for ((i = 0; i < N; i++)); do [ "$(zone_stat ixfr "$T_TMP/b$i.log")" = 1 ] && ixfrs=$((ixfrs + 1)); done
is "$ixfrs" "$N" "  each through one IXFR"
stopped=0
for ((i = 0; i < N; i++)); do stop_pid "${PIDS[$i]}" && stopped=$((stopped + 1)); done
is "$stopped" "$N" "all $N stop with exit status 0"
done_testing
