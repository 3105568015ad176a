#!/bin/bash
# 10-schedule: an entry's from/until window changes what blokir answers at the instant, while the
# daemon runs, without a reload: a block that starts 3 s after start-up and an exception (allow)
# that ends then. The timer logs each change.
. "$(dirname "$0")/lib.sh"

T=$(( $(date +%s) + 3 ))
AT=$(date -u -d "@$T" +%Y-%m-%dT%H:%M:%SZ)
EXTRA_DOMAINS="  - name: sched.example
    from: $AT
    reason: \"order from $AT\"
  - name: www.t.me
    action: allow
    until: \"$AT\""
setup_std

# state NAME: "blocked" (blokir's NXDOMAIN) or "forwarded" (nsd's answer).
state() {
	local out; out=$(q "$BPORT" "$1" A)
	if [ "$(rcode "$out")" = NXDOMAIN ] && grep -q 'blokir\.invalid\.' <<<"$out"; then echo blocked
	else echo forwarded; fi
}

if [ "$(date +%s)" -lt "$T" ]; then
	is "$(state sched.example)" forwarded "before from: sched.example is not blocked"
	is "$(state www.sched.example)" forwarded "  nor below it"
	is "$(state www.t.me)" forwarded "before until: the www.t.me exception holds"
	is "$(state t.me)" blocked "  t.me itself is blocked"
else
	skip "start-up took longer than 3 s" "before from: sched.example is not blocked"
	skip "start-up took longer than 3 s" "  nor below it"
	skip "start-up took longer than 3 s" "before until: the www.t.me exception holds"
	skip "start-up took longer than 3 s" "  t.me itself is blocked"
fi
while [ "$(date +%s)" -lt $((T + 1)) ]; do sleep 0.2; done
is "$(state sched.example)" blocked "after from: sched.example blocked, no reload"
is "$(state www.sched.example)" blocked "  and below it"
is "$(state www.t.me)" blocked "after until: the exception has ended, t.me's block applies"
wait_log 5 'schedule: entry "sched.example" \(line [0-9]+\) now active'; ok $? "the start is logged"
wait_log 5 'schedule: entry "www.t.me" \(line [0-9]+\) now inactive'; ok $? "the end is logged"
stop_blokir
done_testing
