#!/bin/bash
# 04-reload: SIGHUP re-reads the policy file without a restart. Flipping `enabled` lifts and then
# re-imposes a block (same PID); the August 2017 partial lift (six of the eleven names) shows in
# dig; a broken file keeps the old policy and logs FILE:LINE:COLUMN; queries sent continuously
# through 20 reloads are all answered.
. "$(dirname "$0")/lib.sh"

setup_std
PID0=$T_BLOKIR_PID

# state NAME: "blocked" (blokir's NXDOMAIN), "forwarded" (nsd's answer A 192.0.2.10) or what else.
state() {
	local out; out=$(q "$BPORT" "$1" A)
	if [ "$(rcode "$out")" = NXDOMAIN ] && grep -q 'blokir\.invalid\.' <<<"$out"; then echo blocked
	elif [ "$(rcode "$out")" = NOERROR ] && grep -q '192\.0\.2\.10$' <<<"$(section "$out" ANSWER)"; then
		echo forwarded
	else echo "other:$(rcode "$out")"; fi
}

# hup_until NAME STATE: SIGHUP, then waits (bounded) until NAME is in STATE.
hup_until() {
	kill -HUP "$T_BLOKIR_PID"
	local i
	for ((i = 0; i < 50 * SLOW; i++)); do
		[ "$(state "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

is "$(state t.me)" blocked "t.me is blocked at start"
is "$(state www.t.me)" blocked "www.t.me is blocked at start"

# --- lift and re-impose one block -------------------------------------------------------------------
logn=$(wc -l <"$T_TMP/blokir.log")
set_enabled "$CFG" t.me false
hup_until www.t.me forwarded; ok $? "enabled: false + SIGHUP: www.t.me forwarded (nsd's answer)"
is "$(state t.me)" forwarded "  ... t.me itself too"
is "$(state telegram.me)" blocked "  ... telegram.me still blocked"
alive "$PID0" && [ "$T_BLOKIR_PID" = "$PID0" ]; ok $? "  ... same process (PID $PID0), no restart"
like "$(tail -n +$((logn + 1)) "$T_TMP/blokir.log")" '[Rr]eload|[Ll]oaded|policy' "  ... the reload is logged"

set_enabled "$CFG" t.me true
hup_until www.t.me blocked; ok $? "enabled: true + SIGHUP: www.t.me blocked again"
is "$(state t.me)" blocked "  ... and t.me"
alive "$PID0"; ok $? "  ... still the same process"

# --- the August 2017 partial lift (as policy/telegram-2017.yaml tells it): six names lifted,
# t.me and the four web client hosts still blocked ---------------------------------------------------
LIFTED="telegram.me telegram.org core.telegram.org desktop.telegram.org macos.telegram.org web.telegram.org"
KEPT="t.me venus.web.telegram.org pluto.web.telegram.org flora.web.telegram.org flora-1.web.telegram.org"
for d in $LIFTED; do set_enabled "$CFG" "$d" false; done
hup_until macos.telegram.org forwarded; ok $? "August 2017: six entries disabled + SIGHUP"
for d in $LIFTED; do
	is "$(state "$d")" forwarded "  lifted: $d"
	is "$(state "x.$d")" forwarded "  lifted: x.$d"
done
for d in $KEPT; do
	is "$(state "$d")" blocked "  still blocked: $d"
	is "$(state "x.$d")" blocked "  still blocked: x.$d"
done

# --- a broken file on SIGHUP: old policy stays, error logged with FILE:LINE:COLUMN ----------------
cp "$CFG" "$T_TMP/good-copy.yaml"
{
	head -n 2 "$T_TMP/good-copy.yaml"
	echo "colour: blue"
	tail -n +3 "$T_TMP/good-copy.yaml" | sed 's/enabled: false/enabled: true/'
} >"$CFG.new" && mv "$CFG.new" "$CFG"
kill -HUP "$T_BLOKIR_PID"
wait_log $((5 * SLOW)) "$CFG:3:1: .*colour"; ok $? "unknown key on SIGHUP: '$CFG:3:1: ...colour...' logged"
sleep 0.3
is "$(state telegram.me)" forwarded "  ... old policy kept: telegram.me still lifted"
is "$(state venus.web.telegram.org)" blocked "  ... old policy kept: venus.web.telegram.org still blocked"
alive "$PID0"; ok $? "  ... still running"

printf 'listen: ["127.0.0.1:%s"]\ndomains:\n  - name: t.me\n   enabled: true\n' "$BPORT" >"$CFG"
kill -HUP "$T_BLOKIR_PID"
wait_log $((5 * SLOW)) "$CFG:4:4: "; ok $? "YAML syntax error on SIGHUP: '$CFG:4:4: ...' logged"
sleep 0.3
is "$(state web.telegram.org)" forwarded "  ... old policy kept"
is "$(state flora.web.telegram.org)" blocked "  ... old policy kept (flora.web.telegram.org)"

rm -f "$CFG"
kill -HUP "$T_BLOKIR_PID"
wait_log $((5 * SLOW)) "$CFG"; ok $? "a missing file on SIGHUP: logged naming the file"
sleep 0.3
is "$(state desktop.telegram.org)" forwarded "  ... old policy kept"

cp "$T_TMP/good-copy.yaml" "$CFG"
set_enabled "$CFG" telegram.me true
hup_until telegram.me blocked; ok $? "a valid file again: the new policy is in force (telegram.me blocked)"
is "$(state telegram.org)" forwarded "  ... with the rest of the new file (telegram.org lifted)"

# --- queries sent continuously through 20 reloads are all answered ---------------------------------
"$PY" "$DNSPY" flood --port "$BPORT" --seconds 60 --threads 4 --stop-file "$T_TMP/stop" \
	--names www.t.me,www.example.test,web.telegram.org,x.telegram.me >"$T_TMP/flood.out" 2>&1 &
FLOOD=$!; track $FLOOD
sleep 0.3
for ((i = 1; i <= 20; i++)); do
	if ((i % 2)); then set_enabled "$CFG" t.me false; else set_enabled "$CFG" t.me true; fi
	kill -HUP "$T_BLOKIR_PID"
	sleep 0.15
done
sleep 0.3
touch "$T_TMP/stop"
timeout 10 tail --pid=$FLOOD -f /dev/null
res=$(cat "$T_TMP/flood.out")
sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$res")
lost=$(sed -n 's/.*lost=\([0-9]*\).*/\1/p' <<<"$res")
diag "flood during 20 reloads: $res"
[ -n "$sent" ] && [ "$sent" -ge 100 ]; ok $? "at least 100 queries sent during 20 reloads (${sent:-0})"
is "${lost:-?}" 0 "no query lost during 20 reloads"
unlike "$res" 'SERVFAIL' "no SERVFAIL during reloads"
alive "$PID0"; ok $? "same process after 20 reloads"
is "$(state venus.web.telegram.org)" blocked "still serving the policy after the reloads"

# --- the synthesized SOA follows the file: negative-ttl, soa-mname, soa-rname --------------------------
sed -i 's/^negative-ttl: .*/negative-ttl: 300\nsoa-mname: ns1.blokir.test.\nsoa-rname: abuse.blokir.test./' "$CFG"
kill -HUP "$T_BLOKIR_PID"
ok_soa() { section "$(q "$BPORT" x.venus.web.telegram.org A)" AUTHORITY |
	grep -Eq '^venus\.web\.telegram\.org\. 300 IN SOA ns1\.blokir\.test\. abuse\.blokir\.test\. [0-9]+ [0-9]+ [0-9]+ [0-9]+ 300$'; }
wait_for $((5 * SLOW)) ok_soa
ok $? "negative-ttl 300, soa-mname and soa-rname changed + SIGHUP: the SOA says so (TTL, MINIMUM, names)" ||
	diag "$(q "$BPORT" x.venus.web.telegram.org A)"

stop_blokir
done_testing
