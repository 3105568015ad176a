#!/bin/bash
# 11-lists: names imported from a domains list are blocked; a reload logs its one-line summary;
# a list that becomes corrupt before a SIGHUP is refused with FILE:LINE and the old policy (list
# included) stays in force.
. "$(dirname "$0")/lib.sh"

LIST="$T_TMP/order.txt"
printf '# order\nlisted.example\n*.wild.example\n' >"$LIST"
setup_std "lists:" "  - file: order.txt" "    reason: \"list order\""

state() {
	local out; out=$(q "$BPORT" "$1" A)
	if [ "$(rcode "$out")" = NXDOMAIN ] && grep -q 'blokir\.invalid\.' <<<"$out"; then echo blocked
	else echo forwarded; fi
}

is "$(state listed.example)" blocked "a listed name is blocked"
is "$(state www.listed.example)" blocked "  and below it"
is "$(state a.wild.example)" blocked "*.wild.example from the list"
is "$(state unlisted.example)" forwarded "an unlisted name is forwarded"

# a good reload: one more name, and the summary line
echo "more.example" >>"$LIST"
kill -HUP "$T_BLOKIR_PID"
wait_log 10 'reload: summary: 0 added, 0 removed, 0 switched on, 0 switched off; lists: 0 switched on, 0 switched off, 3 names; loaded in'
ok $? "the reload summary is logged"
is "$(state more.example)" blocked "the new list name is blocked"

# corrupt the list: the reload fails, the old policy stays
printf 'listed.example\nbad name here\n' >"$LIST"
logn=$(wc -l <"$T_TMP/blokir.log")
kill -HUP "$T_BLOKIR_PID"
wait_log 10 'order\.txt:2: expected one name per line'; ok $? "the bad line is logged as FILE:LINE"
wait_log 10 'current policy stays in force'; ok $? "the reload is refused"
is "$(state more.example)" blocked "old policy kept: more.example still blocked"
is "$(state a.wild.example)" blocked "  and *.wild.example"
stop_blokir
done_testing
