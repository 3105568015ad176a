#!/bin/bash
# 28-cache-edns: what the answer cache may hand to another client, per EDNS option.
#
# - EDNS Client Subnet (RFC 7871): an upstream that tailors answers to the client's subnet (our
#   fake, since nsd has no ECS) must give each subnet its own answer; a cached answer goes only to
#   a query with the same ECS family, source prefix and address, so nobody gets another
#   customer's answer or sees another customer's subnet in CLIENT-SUBNET.
# - COOKIE (RFC 7873): a cached answer never carries the server cookie that was made for the
#   first client (dig would warn "Client COOKIE mismatch"); queries that differ only in their
#   cookie still share the entry. Checked against BIND 9, which answers with real cookies.
# - Other options a query carries (NSID here) are part of the key: the answer keeps what the
#   upstream sent for exactly that query.
. "$(dirname "$0")/lib.sh"

hits() { stat_val "$(stats)" cache-hits; }

# config FILE PORT UPSTREAM: one worker, so a repeated query meets the entry the first one made.
config() {
	cat >"$1" <<EOF
listen: ["127.0.0.1:$2"]
upstreams: ["$3"]
workers: 1
cache-size: 1000
upstream-timeout-ms: 1500
domains:
  - name: t.me
EOF
}

# ---- ECS, against an upstream that tailors answers ----------------------------------------------
start_fake ecs || bail "fake ecs"
BPORT=$(free_port)
CFG="$T_TMP/ecs.yaml"
config "$CFG" "$BPORT" "127.0.0.1:$FAKE_PORT"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

addr() { section "$1" ANSWER | awk '$4 == "A" { print $5 }'; }
subnet() { sed -n 's/^; CLIENT-SUBNET: \([^ ]*\).*/\1/p' <<<"$1"; }

a1=$(q "$BPORT" cdn.test A +subnet=198.51.100.0/24)
is "$(addr "$a1")" 10.198.51.100 "client A (ECS 198.51.100.0/24) gets the answer tailored to it"
is "$(subnet "$a1")" 198.51.100.0/24/24 "  ... with its own subnet echoed, scope 24"
h0=$(hits)
a2=$(q "$BPORT" cdn.test A +subnet=198.51.100.0/24)
is "$(hits)" $((h0 + 1)) "client A again: answered from the cache"
is "$(addr "$a2")" 10.198.51.100 "  ... with the same answer"

b1=$(q "$BPORT" cdn.test A +subnet=203.0.113.0/24)
is "$(addr "$b1")" 10.203.0.113 "client B (ECS 203.0.113.0/24) does not get A's cached answer"
is "$(subnet "$b1")" 203.0.113.0/24/24 "  ... and sees only its own subnet in CLIENT-SUBNET"
unlike "$b1" '198\.51\.100' "  ... nothing of client A's subnet anywhere in B's answer"
h1=$(hits)
b2=$(q "$BPORT" cdn.test A +subnet=203.0.113.0/24)
is "$(hits)" $((h1 + 1)) "client B again: answered from B's own cache entry"
is "$(addr "$b2") $(subnet "$b2")" "10.203.0.113 203.0.113.0/24/24" "  ... which is B's answer"

c1=$(q "$BPORT" cdn.test A +subnet=198.51.100.0/25)
is "$(addr "$c1") $(subnet "$c1")" "10.198.51.100 198.51.100.0/25/25" \
	"another source prefix (/25) is another entry, not A's /24 answer"
n1=$(q "$BPORT" cdn.test A)
is "$(addr "$n1")" 192.0.2.53 "a query without ECS does not get a subnet's answer"
is "$(subnet "$n1")" "" "  ... nor any CLIENT-SUBNET"
n2=$(q "$BPORT" cdn.test A +subnet=0.0.0.0/0)
is "$(addr "$n2") $(subnet "$n2")" "192.0.2.53 0.0.0.0/0/0" \
	"ECS with source prefix 0 (the client opts out) is an entry of its own"
a3=$(q "$BPORT" cdn.test A +subnet=198.51.100.0/24)
is "$(addr "$a3") $(subnet "$a3")" "10.198.51.100 198.51.100.0/24/24" "client A still gets its own answer"

# The fake's cookies: each answer to a cookie query carries a fresh server cookie.
cookie() { sed -n 's/^; COOKIE: \([0-9a-f]*\).*/\1/p' <<<"$1"; }
k1=$(q "$BPORT" cookie.test A +cookie)
like "$(cookie "$k1")" '^[0-9a-f]{32}$' "a cookie query relayed from the upstream carries its server cookie"
h2=$(hits)
k2=$(q "$BPORT" cookie.test A +cookie)
is "$(hits)" $((h2 + 1)) "a second client with another client cookie is answered from the cache"
unlike "$k2" 'COOKIE mismatch' "  ... without another client's cookie (no 'Client COOKIE mismatch')"
is "$(cookie "$k2")" "" "  ... the cached answer carries no COOKIE at all"
stop_blokir

# ---- COOKIE and NSID against BIND 9 --------------------------------------------------------------
# An authoritative BIND on a free port: answers cookies (answer-cookie yes is its default) and,
# with server-id set, NSID.
start_named() {
	local d="$T_TMP/named"
	mkdir -p "$d"
	NAMED_PORT=$(free_port)
	cat >"$d/cookie.test.zone" <<'EOF'
$ORIGIN cookie.test.
$TTL 600
@	IN SOA	ns1 hostmaster 1 7200 3600 1209600 300
@	IN NS	ns1
ns1	IN A	127.0.0.1
www	IN A	192.0.2.44
EOF
	cat >"$d/named.conf" <<EOF
options {
	directory "$d";
	pid-file "$d/named.pid";
	session-keyfile "$d/session.key";
	managed-keys-directory "$d";
	listen-on port $NAMED_PORT { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	server-id "blokir-test-named";
};
controls { };
zone "cookie.test" { type primary; file "$d/cookie.test.zone"; };
EOF
	named -g -n 1 -c "$d/named.conf" >"$d/named.log" 2>&1 &
	NAMED_PID=$!
	track "$NAMED_PID"
	wait_for 10 bash -c "timeout 3 dig @127.0.0.1 -p $NAMED_PORT +time=1 +tries=1 www.cookie.test A | grep -q 'status: NOERROR'" || {
		diag "named did not come up"; tail -n 20 "$d/named.log" | diag; return 1
	}
}
start_named || bail "named did not start"
BPORT=$(free_port)
CFG="$T_TMP/named.yaml"
config "$CFG" "$BPORT" "127.0.0.1:$NAMED_PORT"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

d1=$(q "$BPORT" www.cookie.test A +cookie)
like "$(cookie "$d1")" '^[0-9a-f]{32,80}$' "BIND's answer to a cookie query carries its server cookie through blokir"
unlike "$d1" 'COOKIE mismatch' "  ... which matches dig's client cookie"
h3=$(hits)
d2=$(q "$BPORT" www.cookie.test A +cookie)
is "$(hits)" $((h3 + 1)) "the next dig (another client cookie) is answered from the cache"
unlike "$d2" 'COOKIE mismatch' "  ... without the first client's cookie (no 'Client COOKIE mismatch')"
is "$(section "$d2" ANSWER | awk '{print $1, $3, $4, $5}')" "www.cookie.test. IN A 192.0.2.44" \
	"  ... with BIND's answer"

p1=$(q "$BPORT" www.cookie.test A)
nsid=$(q "$BPORT" www.cookie.test A +nsid)
like "$nsid" 'NSID: .*blokir-test-named' "an NSID query after a plain one gets BIND's NSID (not the plain query's entry)"
unlike "$(q "$BPORT" www.cookie.test A)" 'NSID:' "a plain query after an NSID one does not get the NSID"
stop_blokir
done_testing
