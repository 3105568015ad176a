#!/bin/bash
# 38-serve-rpz-schedule: the served zone follows schedule changes without a reload (an entry
# whose `from` is 4 s after start-up enters the zone then, under a new serial, and an IXFR from
# the old serial carries just it), and NOTIFY is repeated until the secondary answers: a fake
# secondary of our own ignores the first NOTIFY and acknowledges the second.
. "$(dirname "$0")/lib.sh"

BPORT=$(free_port)
SPORT=$(free_port)
T=$(( $(date +%s) + 4 * SLOW ))
AT=$(date -u -d "@$T" +%Y-%m-%dT%H:%M:%SZ)
EXTRA_DOMAINS="  - {name: sched.example, exact: true, from: \"$AT\"}"
CFG="$T_TMP/policy.yaml"
write_policy "$CFG" "$BPORT" "127.0.0.1:9" \
	"serve-rpz:" "  zone: rpz.test." "  notify: [\"127.0.0.1:$SPORT\"]"

# the fake secondary: answers a NOTIFY only from the second one on, and says how many it saw
"$PY" - "$SPORT" "$T_TMP/secondary.log" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(0.5)
open(sys.argv[2], "a").write("ready\n")
seen = 0
end = time.time() + 60
while time.time() < end:
    try:
        data, peer = s.recvfrom(4096)
    except socket.timeout:
        continue
    if len(data) < 12 or (data[2] >> 3) & 0xF != 4:
        continue
    seen += 1
    with open(sys.argv[2], "a") as f:
        f.write("notify %d id %d\n" % (seen, data[0] << 8 | data[1]))
    if seen % 2 == 0:  # every second one: QR set, the rest echoed
        s.sendto(data[:2] + bytes([data[2] | 0x80, data[3]]) + data[4:12] + data[12:], peer)
EOF
track $!
wait_for 10 grep -q ready "$T_TMP/secondary.log" || bail "the fake secondary did not start"

start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
serial() { dig +short -p "$BPORT" @127.0.0.1 rpz.test SOA | awk '{print $3}'; }
S0=$(serial)
ok $(( S0 > 0 ? 0 : 1 )) "a serial at start ($S0)"
if [ "$(date +%s)" -lt "$T" ]; then
	out=$(dig +tcp -p "$BPORT" @127.0.0.1 rpz.test AXFR)
	unlike "$out" "^sched\.example\.rpz\.test\." "before its from: the entry is not in the zone"
else
	skip "start-up took longer than 4 s" "before its from: the entry is not in the zone"
fi
wait_log 5 "NOTIFY of serial $S0 acknowledged by 127.0.0.1:$SPORT" &&
	pass "the unanswered NOTIFY was repeated until acknowledged" || fail "NOTIFY repeated until acknowledged"
like "$(cat "$T_TMP/secondary.log")" "notify 2 id" "  the secondary saw it twice"

changed() { [ "$(serial)" != "$S0" ]; }
if wait_for $((10 * SLOW)) changed; then
	pass "at its from the zone has a new serial ($(serial)), without a reload"
else
	fail "at its from the zone has a new serial"
fi
out=$(dig +tcp -p "$BPORT" @127.0.0.1 rpz.test IXFR="$S0")
like "$out" "^sched\.example\.rpz\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+CNAME[[:space:]]+\.$" \
	"  an IXFR from the old serial adds the entry"
is "$(grep -c 'IN[[:space:]]*SOA' <<<"$out")" 4 "  in one change (four SOAs)"
wait_log 5 "serve-rpz: schedule change: zone rpz.test. now at serial" && pass "  logged as a schedule change" ||
	fail "  logged as a schedule change"
stop_blokir "blokir stops cleanly"
done_testing
