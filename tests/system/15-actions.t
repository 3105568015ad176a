#!/bin/bash
# 15-actions: every per-entry action, over UDP and TCP. nxdomain (SOA of the entry, TTL and
# MINIMUM = negative-ttl), nodata (NOERROR, empty answer, SOA), refused (no SOA), drop (no answer
# at all), redirect (A/AAAA get the landing addresses with the redirect TTL, owned by the query
# name; other types NODATA; the CNAME form for A, AAAA, CNAME and ANY), and the 2017 worked example
# of an exception under a blocked parent: telegram.org blocked, web.telegram.org allowed,
# venus.web.telegram.org listed again and so blocked (the most specific enabled entry wins).
. "$(dirname "$0")/lib.sh"

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/actions.yaml"
cat >"$CFG" <<EOF
listen: ["127.0.0.1:$BPORT"]
upstreams: ["127.0.0.1:$NSD_PORT"]
negative-ttl: 77
workers: 2
redirect:
  a: [192.0.2.80, 192.0.2.81]
  aaaa: ["2001:db8::80"]
domains:
  - name: nx.actions.test
    reason: "order 1"
  - name: nodata.actions.test
    action: nodata
  - name: refused.actions.test
    action: refused
  - name: drop.actions.test
    action: drop
  - name: redir.actions.test
    action: redirect
    reason: "landing page"
  - name: v4only.actions.test
    action: redirect
    redirect: { a: [192.0.2.82], ttl: 45 }
  - name: cname.actions.test
    action: redirect
    redirect: { cname: landing.example.test }
  # The 2017 timeline: the whole order blocked, then web.telegram.org lifted, while one of
  # its subdomains stays on the list.
  - name: telegram.org
  - name: web.telegram.org
    action: allow
  - name: venus.web.telegram.org
EOF
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
SOA_RE=' 77 IN SOA blokir\.invalid\. hostmaster\.blokir\.invalid\. [0-9]+ [0-9]+ [0-9]+ [0-9]+ 77$'

# negative DIG-OUTPUT RCODE SOA-OWNER DESCRIPTION: a complete synthesized negative answer.
negative() {
	local out=$1 want=$2 owner=$3 desc=$4 why=() auth
	[ "$(rcode "$out")" = "$want" ] || why+=("status $(rcode "$out"), expected $want")
	[ "$(flags "$out")" = "qr rd ra" ] || why+=("flags '$(flags "$out")', expected 'qr rd ra'")
	[ -z "$(section "$out" ANSWER)" ] || why+=("answer section not empty")
	auth=$(section "$out" AUTHORITY)
	grep -Eq "^${owner//./\\.}\.$SOA_RE" <<<"$auth" && [ "$(wc -l <<<"$auth")" = 1 ] ||
		why+=("authority '$auth', expected one SOA owned by $owner. with TTL and MINIMUM 77")
	if [ ${#why[@]} -eq 0 ]; then pass "$desc"; else fail "$desc"; diag "${why[@]}" "$out"; fi
}

for t in udp tcp; do
	o=(); [ $t = tcp ] && o=(+tcp)
	# --- nxdomain, nodata, refused, drop ---
	negative "$(q "$BPORT" nx.actions.test A "${o[@]}")" NXDOMAIN nx.actions.test \
		"$t: nxdomain: NXDOMAIN, SOA of the entry, TTL 77"
	negative "$(q "$BPORT" www.nx.actions.test TXT "${o[@]}")" NXDOMAIN nx.actions.test \
		"$t: nxdomain below the entry: SOA of the entry"
	out=$(q "$BPORT" nx.actions.test A "${o[@]}")
	like "$out" '; EDE: 16 \(Censored\): \(order 1\)' "$t: nxdomain: EDE 16 with the reason"
	negative "$(q "$BPORT" nodata.actions.test A "${o[@]}")" NOERROR nodata.actions.test \
		"$t: nodata: NOERROR, no answer, SOA of the entry"
	out=$(q "$BPORT" refused.actions.test A "${o[@]}")
	is "$(rcode "$out")" REFUSED "$t: refused: REFUSED"
	is "$(section "$out" AUTHORITY)$(section "$out" ANSWER)" "" "$t: refused: no records"
	out=$(q "$BPORT" drop.actions.test A "${o[@]}")
	unlike "$out" 'status:' "$t: drop: no answer within dig's timeout"

	# --- redirect with the policy-wide landing page ---
	out=$(q "$BPORT" redir.actions.test A "${o[@]}")
	is "$(rcode "$out") $(flags "$out")" "NOERROR qr rd ra" "$t: redirect A: NOERROR, AA clear, RA set"
	is "$(section "$out" ANSWER)" "redir.actions.test. 30 IN A 192.0.2.80
redir.actions.test. 30 IN A 192.0.2.81" "$t: redirect A: both addresses, TTL 30, owner the query name"
	is "$(section "$out" AUTHORITY)" "" "$t: redirect A: no SOA"
	like "$out" '; EDE: 16 \(Censored\): \(landing page\)' "$t: redirect A: EDE 16 with the reason"
	out=$(q "$BPORT" WWW.Redir.actions.test AAAA "${o[@]}")
	is "$(section "$out" ANSWER)" "WWW.Redir.actions.test. 30 IN AAAA 2001:db8::80" \
		"$t: redirect AAAA below the entry: owner as asked"
	negative "$(q "$BPORT" redir.actions.test MX "${o[@]}")" NOERROR redir.actions.test \
		"$t: redirect MX: NODATA with the SOA"
	negative "$(q "$BPORT" redir.actions.test TXT "${o[@]}")" NOERROR redir.actions.test \
		"$t: redirect TXT: NODATA with the SOA"

	# --- an entry's own landing page: IPv4 only, its own TTL ---
	out=$(q "$BPORT" v4only.actions.test A "${o[@]}")
	is "$(section "$out" ANSWER)" "v4only.actions.test. 45 IN A 192.0.2.82" \
		"$t: per-entry redirect: its address and TTL 45"
	negative "$(q "$BPORT" v4only.actions.test AAAA "${o[@]}")" NOERROR v4only.actions.test \
		"$t: per-entry redirect without IPv6: AAAA is NODATA"

	# --- the CNAME form ---
	for ty in A AAAA CNAME ANY; do
		out=$(q "$BPORT" cname.actions.test $ty "${o[@]}")
		is "$(rcode "$out") $(section "$out" ANSWER)" \
			"NOERROR cname.actions.test. 30 IN CNAME landing.example.test." \
			"$t: redirect cname, $ty: a CNAME to the landing host"
	done
	negative "$(q "$BPORT" cname.actions.test MX "${o[@]}")" NOERROR cname.actions.test \
		"$t: redirect cname, MX: NODATA"

	# --- 2017: exception under a blocked parent, and a listed name under the exception ---
	negative "$(q "$BPORT" telegram.org A "${o[@]}")" NXDOMAIN telegram.org "$t: telegram.org blocked"
	negative "$(q "$BPORT" core.telegram.org A "${o[@]}")" NXDOMAIN telegram.org \
		"$t: core.telegram.org blocked by telegram.org"
	for n in web.telegram.org www.web.telegram.org; do
		out=$(q "$BPORT" $n A "${o[@]}")
		is "$(rcode "$out") $(section "$out" ANSWER)" "NOERROR $n. 600 IN A 192.0.2.10" \
			"$t: $n allowed: nsd's answer"
	done
	negative "$(q "$BPORT" venus.web.telegram.org A "${o[@]}")" NXDOMAIN venus.web.telegram.org \
		"$t: venus.web.telegram.org listed under the exception: blocked"
	negative "$(q "$BPORT" x.venus.web.telegram.org AAAA "${o[@]}")" NXDOMAIN \
		venus.web.telegram.org "$t: and the names below it"
done

# A 512-byte client without EDNS still gets the small redirect answers whole.
out=$(q "$BPORT" redir.actions.test A +noedns)
unlike "$(flags "$out")" tc "redirect over UDP without EDNS: fits, no TC"
unlike "$out" 'OPT PSEUDOSECTION' "  ... and no OPT record"

s=$(stats)
[ "$(stat_val "$s" dropped)" -ge 2 ]; ok $? "stats: drop counted ($(stat_val "$s" dropped))"
stop_blokir
done_testing
