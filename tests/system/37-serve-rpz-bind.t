#!/bin/bash
# 37-serve-rpz-bind: serve-rpz with TSIG required, BIND (named, a response-policy secondary zone
# with the key on its primary) as the consumer. BIND pulls the policy and enforces it, and
# follows a lift after a SIGHUP (NOTIFY, signed, and IXFR). dig with the right key gets the zone,
# every message of a multi-message transfer signed (dig checks each MAC in the chain); unsigned
# and wrongly signed requests are refused and counted. A secret file readable by others is a
# start-up error.
. "$(dirname "$0")/lib.sh"

command -v named >/dev/null || { skip "named is not installed" "serve-rpz with BIND"; done_testing; exit 0; }
start_nsd || bail "nsd did not start"
BPORT=$(free_port)
NPORT=$(free_port)
SECRET="c2VydmUtcnB6LXRlc3Qta2V5LWZvci1ibG9raXItMzU="
WRONG="d3JvbmctcnB6LXRlc3Qta2V5LWZvci1ibG9raXItMzU="
printf '%s\n' "$SECRET" >"$T_TMP/xfr.key"
chmod 600 "$T_TMP/xfr.key"
seq 1 20000 | sed 's/^/n/; s/$/.big.test/' >"$T_TMP/big.txt"
CFG="$T_TMP/policy.yaml"
EXTRA_DOMAINS='  - {name: www.example.test, exact: true}
  - {name: txt.example.test, exact: true, action: nodata}'
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" \
	"serve-rpz:" "  zone: rpz.test." "  notify: [\"127.0.0.1:$NPORT\"]" \
	"  keys:" "    - {name: xfr-key, algorithm: hmac-sha256, secret-file: xfr.key}" \
	"lists:" "  - {file: big.txt}"

# a secret others can read is refused at start
chmod 644 "$T_TMP/xfr.key"
out=$(timeout 10 "$BLOKIR" -c "$CFG" --foreground "${ROOT_OPT[@]}" 2>&1); st=$?
ok $(( st != 0 ? 0 : 1 )) "a TSIG secret readable by others stops the start (exit $st)"
like "$out" "xfr\.key: a TSIG secret must be readable by its owner only" "  naming the file"
chmod 600 "$T_TMP/xfr.key"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

out=$(dig +tcp -p "$BPORT" @127.0.0.1 rpz.test AXFR -y "hmac-sha256:xfr-key:$SECRET" 2>&1)
like "$out" "XFR size: 400[0-9][0-9] records \(messages ([2-9]|[1-9][0-9]+)," \
	"with the key: the whole zone in several messages"
unlike "$out" "tsig verify failure|Transfer failed" "  every message's TSIG verified by dig"
out=$(dig +tcp -p "$BPORT" @127.0.0.1 rpz.test AXFR 2>&1)
like "$out" "Transfer failed" "unsigned: refused"
out=$(dig +tcp -p "$BPORT" @127.0.0.1 rpz.test AXFR -y "hmac-sha256:xfr-key:$WRONG" 2>&1)
like "$out" "BADSIG|tsig verify failure|Transfer failed" "a wrong secret: refused"
out=$(dig +tcp -p "$BPORT" @127.0.0.1 rpz.test AXFR -y "hmac-sha256:other-key:$SECRET" 2>&1)
like "$out" "BADKEY|tsig verify failure|Transfer failed" "an unknown key: refused"
st=$(stats)
ok $(( $(stat_val "$st" xfr-refused) >= 3 ? 0 : 1 )) "  refusals counted ($(stat_val "$st" xfr-refused))"

# BIND as the consumer
ND="$T_TMP/named"
mkdir -p "$ND"
cat >"$ND/named.conf" <<EOF
key "xfr-key" { algorithm hmac-sha256; secret "$SECRET"; };
options {
	directory "$ND";
	pid-file "$ND/named.pid";
	listen-on port $NPORT { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion yes;
	allow-query { any; };
	dnssec-validation no;
	forwarders { 127.0.0.1 port $NSD_PORT; };
	forward only;
	notify no;
	qname-minimization off;
	max-cache-ttl 0;
	max-ncache-ttl 0;
	response-policy { zone "rpz.test"; } qname-wait-recurse no;
};
zone "rpz.test" {
	type secondary;
	primaries { 127.0.0.1 port $BPORT key xfr-key; };
	file "rpz.test.db";
	allow-notify { 127.0.0.1; };
};
logging {
	channel f { file "$ND/named.log"; severity info; print-time yes; };
	category default { f; };
	category xfer-in { f; };
	category notify { f; };
};
EOF
named -g -c "$ND/named.conf" >>"$ND/named.out" 2>&1 &
NAMED_PID=$!
track "$NAMED_PID"
nq() { q "$NPORT" "$@"; }
blocked_now() { [ "$(rcode "$(nq www.example.test A)")" = NXDOMAIN ]; }
if wait_for $((15 * SLOW)) blocked_now; then
	pass "BIND pulled blokir's zone with TSIG: www.example.test is NXDOMAIN through it"
else
	fail "BIND pulled blokir's zone"; tail -n 30 "$ND/named.out" | diag
fi
is "$(rcode "$(nq n123.big.test A)")" NXDOMAIN "  a name from the list, too"
out=$(nq txt.example.test TXT)
is "$(rcode "$out")" NOERROR "  txt.example.test: NODATA"
is "$(section "$out" ANSWER | wc -l)" 0 "  with no answer"

sed -i 's/^  - {name: www.example.test, exact: true}$/  - {name: www.example.test, exact: true, enabled: false}/' "$CFG"
t0=$(ms)
kill -HUP "$T_BLOKIR_PID"
lifted() { [ "$(rcode "$(nq www.example.test A)")" = NOERROR ]; }
if wait_for $((5 * SLOW)) lifted; then
	t=$(( $(ms) - t0 ))
	ok $(( t <= 2000 * SLOW ? 0 : 1 )) "after the lift BIND serves www.example.test within 2 s ($t ms)"
else
	fail "after the lift BIND serves www.example.test"; tail -n 30 "$ND/named.log" | diag
fi
wait_log 5 "IXFR of rpz.test. to 127.0.0.1#[0-9]*: serial [0-9]* -> [0-9]*, 1 change, 1 record" &&
	pass "  through an IXFR of one record" || fail "  through an IXFR"
wait_log 5 "NOTIFY of serial [0-9]* acknowledged by 127.0.0.1:$NPORT" && pass "  its signed NOTIFY acknowledged" ||
	fail "  its signed NOTIFY acknowledged"

stop_pid "$NAMED_PID"
stop_blokir "blokir stops cleanly"
done_testing
