#!/bin/bash
# 16-cname-inspection: a forwarded answer whose CNAME chain reaches a blocked name is answered
# as that name's entry says (NXDOMAIN/NODATA with the SOA of the blocked name, REFUSED, no answer,
# the redirect), over UDP and TCP; chains through unblocked or allowed names, and questions for
# an explicitly allowed name, are relayed exactly as nsd sent them; `inspect-answers: false`
# relays everything. nsd serves the aliases from example.test (records appended below).
. "$(dirname "$0")/lib.sh"

# The aliases this test needs, appended to lib.sh's example.test zone.
eval "lib_write_zone() $(declare -f write_zone | tail -n +2)"
write_zone() {
	lib_write_zone "$1"
	cat >>"$1" <<'EOF'
tme	IN CNAME t.me.
deep	IN CNAME hop.example.test.
hop	IN CNAME www.t.me.
okt	IN CNAME www.ok.t.me.
tonodata	IN CNAME nd.blocked.test.
torefused	IN CNAME rf.blocked.test.
todrop	IN CNAME dr.blocked.test.
toredir	IN CNAME rd.blocked.test.
exempt	IN CNAME t.me.
EOF
}
start_nsd || bail "nsd did not start"

# write_cfg FILE PORT [extra top-level lines]
write_cfg() {
	local f=$1 port=$2; shift 2
	{
		echo "listen: [\"127.0.0.1:$port\"]"
		echo "upstreams: [\"127.0.0.1:$NSD_PORT\"]"
		echo "negative-ttl: 77"
		echo "workers: 2"
		echo "redirect: { a: [192.0.2.99] }"
		local l; for l in "$@"; do echo "$l"; done
		cat <<'EOF'
domains:
  - name: t.me
    reason: "Kominfo order, 2017-07-14"
  - name: ok.t.me
    action: allow
  - name: nd.blocked.test
    action: nodata
  - name: rf.blocked.test
    action: refused
  - name: dr.blocked.test
    action: drop
  - name: rd.blocked.test
    action: redirect
  - name: exempt.example.test
    action: allow
EOF
	} >"$f"
}
BPORT=$(free_port)
write_cfg "$T_TMP/on.yaml" "$BPORT"
start_blokir "$T_TMP/on.yaml" "$BPORT" || bail "blokir did not start"
SOA_RE=' 77 IN SOA blokir\.invalid\. hostmaster\.blokir\.invalid\. [0-9]+ [0-9]+ [0-9]+ [0-9]+ 77$'

norm() {
	sed -E '/^; <<>> DiG/d; /^;; global options/d; /^; \(1 server found\)/d; /^;; Query time/d;
		/^;; SERVER:/d; /^;; WHEN:/d; s/id: [0-9]+/id: X/; s/[[:space:]]+/ /g' <<<"$1"
}

# relayed PORT DESCRIPTION NAME TYPE [options]: blokir's answer is nsd's, byte for byte in effect.
relayed() {
	local port=$1 desc=$2; shift 2
	local a b
	a=$(q "$port" "$@"); b=$(qnsd "$@")
	if [ "$(rcode "$a")" != none ] && [ "$(norm "$a")" == "$(norm "$b")" ]; then pass "$desc"; else
		fail "$desc"; diag "diff (- nsd directly, + through blokir):"
		diff <(norm "$b") <(norm "$a") | diag
	fi
}

# negative DIG-OUTPUT RCODE SOA-OWNER QNAME DESCRIPTION
negative() {
	local out=$1 want=$2 owner=$3 qname=$4 desc=$5 why=() auth
	[ "$(rcode "$out")" = "$want" ] || why+=("status $(rcode "$out"), expected $want")
	[ "$(flags "$out")" = "qr rd ra" ] || why+=("flags '$(flags "$out")', expected 'qr rd ra'")
	[ -z "$(section "$out" ANSWER)" ] || why+=("answer section not empty (the chain must not leak)")
	auth=$(section "$out" AUTHORITY)
	grep -Eq "^${owner//./\\.}\.$SOA_RE" <<<"$auth" && [ "$(wc -l <<<"$auth")" = 1 ] ||
		why+=("authority '$auth', expected one SOA owned by $owner. with TTL and MINIMUM 77")
	section "$out" QUESTION | grep -Fq ";$qname. IN " || why+=("question not echoed")
	if [ ${#why[@]} -eq 0 ]; then pass "$desc"; else fail "$desc"; diag "${why[@]}" "$out"; fi
}

# The upstream really does answer with the aliases (otherwise the rest proves nothing).
like "$(section "$(qnsd tme.example.test A)" ANSWER)" 'tme\.example\.test\. 3600 IN CNAME t\.me\.' \
	"nsd answers tme.example.test with a CNAME to t.me"

for t in udp tcp; do
	o=(); [ $t = tcp ] && o=(+tcp)
	negative "$(q "$BPORT" tme.example.test A "${o[@]}")" NXDOMAIN t.me tme.example.test \
		"$t: alias of a blocked name: NXDOMAIN, SOA of the blocked entry"
	out=$(q "$BPORT" tme.example.test A "${o[@]}")
	like "$out" '; EDE: 16 \(Censored\): \(Kominfo order, 2017-07-14\)' \
		"$t: ... with EDE 16 and the blocked entry's reason"
	negative "$(q "$BPORT" deep.example.test AAAA "${o[@]}")" NXDOMAIN t.me deep.example.test \
		"$t: blocked name two CNAMEs down (www.t.me): SOA of t.me"
	negative "$(q "$BPORT" TonoData.example.test A "${o[@]}")" NOERROR nd.blocked.test \
		TonoData.example.test "$t: target with action nodata: NODATA, question as asked"
	out=$(q "$BPORT" torefused.example.test A "${o[@]}")
	is "$(rcode "$out") $(section "$out" ANSWER)" "REFUSED " "$t: target with action refused: REFUSED"
	out=$(q "$BPORT" todrop.example.test A "${o[@]}")
	unlike "$out" 'status:' "$t: target with action drop: no answer"
	out=$(q "$BPORT" toredir.example.test A "${o[@]}")
	is "$(rcode "$out") $(section "$out" ANSWER)" "NOERROR toredir.example.test. 30 IN A 192.0.2.99" \
		"$t: target with action redirect: the landing address for the question name"
	negative "$(q "$BPORT" toredir.example.test AAAA "${o[@]}")" NOERROR rd.blocked.test \
		toredir.example.test "$t: ... and NODATA for AAAA (no IPv6 landing address)"

	relayed "$BPORT" "$t: alias of an unblocked name relayed unchanged" alias.example.test A "${o[@]}"
	relayed "$BPORT" "$t: alias of a name under an allow entry relayed unchanged" \
		okt.example.test A "${o[@]}"
	relayed "$BPORT" "$t: question explicitly allowed: relayed although its target is blocked" \
		exempt.example.test A "${o[@]}"
	relayed "$BPORT" "$t: an answer without CNAME relayed unchanged" www.example.test A "${o[@]}"
done

s=$(stats)
n=$(stat_val "$s" cname-blocked)
[ "${n:-0}" -eq 16 ]; ok $? "stats: cname-blocked counts each replaced answer ($n, expected 16)"
stop_blokir

# --- inspect-answers: false ----------------------------------------------------------------------
BPORT=$(free_port)
write_cfg "$T_TMP/off.yaml" "$BPORT" "inspect-answers: false"
start_blokir "$T_TMP/off.yaml" "$BPORT" || bail "blokir (inspect-answers: false) did not start"
for t in udp tcp; do
	o=(); [ $t = tcp ] && o=(+tcp)
	relayed "$BPORT" "inspect-answers false, $t: alias of a blocked name relayed" tme.example.test A "${o[@]}"
	relayed "$BPORT" "inspect-answers false, $t: two CNAMEs down relayed" deep.example.test A "${o[@]}"
done
negative "$(q "$BPORT" www.t.me A)" NXDOMAIN t.me www.t.me "inspect-answers false: names asked for are still blocked"
s=$(stats)
is "$(stat_val "$s" cname-blocked)" 0 "inspect-answers false: cname-blocked stays 0"
stop_blokir
done_testing
