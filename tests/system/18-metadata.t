#!/bin/bash
# 18-metadata: an entry's reason and ref reach the client (Extended DNS Error 16 EXTRA-TEXT,
# "REASON (ref REF)") and the debug log (-v), so an auditor can tie each answer to the order.
. "$(dirname "$0")/lib.sh"

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/policy.yaml"
cat >"$CFG" <<EOF2
listen: ["127.0.0.1:$BPORT"]
upstreams: ["127.0.0.1:$NSD_PORT"]
domains:
  - name: t.me
    reason: "Kominfo order, 2017-07-14"
    ref: "letter 123/2017"
  - name: telegram.me
    ref: "TICKET-9"
  - name: telegram.org
    reason: "no ref here"
EOF2
start_blokir "$CFG" "$BPORT" -v || bail "blokir did not start"

like "$(q "$BPORT" www.t.me A)" 'EDE: 16 \(Censored\): \(Kominfo order, 2017-07-14 \(ref letter 123/2017\)\)' \
	"reason and ref in the EDE text"
like "$(q "$BPORT" telegram.me A)" 'EDE: 16 \(Censored\): \(ref TICKET-9\)' "a ref alone"
like "$(q "$BPORT" telegram.org A)" 'EDE: 16 \(Censored\): \(no ref here\)$' "a reason alone"
grep -q 'blocked by "t.me" (nxdomain, line 4, reason "Kominfo order, 2017-07-14", ref "letter 123/2017")' \
	"$T_TMP/blokir.log"; ok $? "the debug log names the entry, its line, reason and ref"
stop_blokir
done_testing
