#!/bin/bash
# 09-bundled: the shipped policy/telegram-2017.yaml, run with --listen and --upstream overriding
# the file's addresses: its eleven names are blocked, everything else goes to the given upstream.
. "$(dirname "$0")/lib.sh"

POLICY=policy/telegram-2017.yaml
[ -f "$POLICY" ] || bail "no $POLICY"

n=$("$PY" -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); print(" ".join(sorted(x["name"].rstrip(".").lower() for x in d["domains"])))' "$POLICY" 2>&1)
is "$n" "$(tr ' ' '\n' <<<"$DOMAINS11" | sort | tr '\n' ' ' | sed 's/ $//')" "$POLICY lists exactly the eleven domains"
grep -qi 'august' "$POLICY"; ok $? "$POLICY explains the August 2017 partial lift in comments"

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
start_blokir "$POLICY" "$BPORT" --listen "127.0.0.1:$BPORT" --upstream "127.0.0.1:$NSD_PORT" ||
	bail "blokir did not start with the bundled policy"
pass "blokir runs the bundled policy with --listen/--upstream overrides"

for d in $DOMAINS11; do
	out=$(q "$BPORT" "www.$d" A)
	if [ "$(rcode "$out")" = NXDOMAIN ] && grep -Eq "^${d//./\\.}\. [0-9]+ IN SOA " <<<"$(section "$out" AUTHORITY)"; then
		pass "bundled policy: www.$d blocked (SOA of $d)"
	else
		fail "bundled policy: www.$d blocked (SOA of $d)"; diag "$out"
	fi
done
out=$(q "$BPORT" www.example.test A)
like "$(section "$out" ANSWER)" '192\.0\.2\.1$' "bundled policy: other names go to the --upstream (nsd)"
out=$(q "$BPORT" www.at.me A +tcp)
like "$(section "$out" ANSWER)" '192\.0\.2\.10$' "bundled policy: at.me is not t.me (TCP)"

# --listen twice: both addresses serve.
stop_blokir "first run stops with exit status 0"
P2=$(free_port)
start_blokir "$POLICY" "$BPORT" --listen "127.0.0.1:$BPORT" --listen "127.0.0.1:$P2" \
	--upstream "127.0.0.1:$NSD_PORT" || bail "blokir did not start with two --listen"
is "$(rcode "$(q "$P2" t.me A)")" NXDOMAIN "two --listen options: the second address serves too"
stop_blokir
done_testing
