#!/bin/bash
# 02-block: synthesized answers for blocked names. Each of the eleven domains and a name below
# each gets NXDOMAIN with the SOA of the listed name (TTL = MINIMUM = negative-ttl, 77 here) over UDP and
# TCP, AA clear, RA set, RD copied; EDNS queries get OPT (version 0, 1232, DO copied) with EDE 16;
# names next to a listed one are forwarded; per-entry actions, exact and allow behave as documented.
. "$(dirname "$0")/lib.sh"

EXTRA_DOMAINS='  - name: exact.test
    exact: true
    reason: "only the apex"
  - name: ok.t.me
    action: allow
  - name: nodata.example.test
    action: nodata
  - name: refused.example.test
    action: refused
  - name: drop.example.test
    action: drop
  - name: www.example.test
    enabled: false
    reason: "listed but disabled"'
NEG_TTL=77 # not the default (60), so a hard-coded TTL shows
setup_std
REASON="Kominfo order, 2017-07-14"
SOA_RE=' 77 IN SOA blokir\.invalid\. hostmaster\.blokir\.invalid\. [0-9]+ [0-9]+ [0-9]+ [0-9]+ 77$'

# check_block DIG-OUTPUT QNAME LISTED-NAME DESCRIPTION [rd|nord]: one test point for a complete
# synthesized NXDOMAIN.
check_block() {
	local out=$1 qname=$2 listed=$3 desc=$4 rd=${5:-rd} why=() auth fl want
	[ "$(rcode "$out")" = NXDOMAIN ] || why+=("status $(rcode "$out"), expected NXDOMAIN")
	fl=$(flags "$out")
	if [ "$rd" = rd ]; then want="qr rd ra"; else want="qr ra"; fi
	[ "$fl" = "$want" ] || why+=("flags '$fl', expected '$want' (AA clear, RA set, RD copied)")
	[ -z "$(section "$out" ANSWER)" ] || why+=("answer section not empty")
	auth=$(section "$out" AUTHORITY)
	# Owner names compare case-insensitively (RFC 4343): WwW.T.mE may get the owner T.mE.
	grep -Eiq "^${listed//./\\.}\.$SOA_RE" <<<"$auth" && [ "$(wc -l <<<"$auth")" = 1 ] ||
		why+=("authority '$auth', expected one SOA owned by $listed. with TTL and MINIMUM 77")
	section "$out" QUESTION | grep -Fq ";${qname%.}. IN " ||
		why+=("question not echoed as sent ($qname)")
	if [ ${#why[@]} -eq 0 ]; then pass "$desc"; else
		fail "$desc"; diag "${why[@]}"; diag "$out"
	fi
}

# --- the eleven domains and a name below each, UDP and TCP ---------------------------------------
for d in $DOMAINS11; do
	for name in "$d" "www.$d"; do
		check_block "$(q "$BPORT" "$name" A)" "$name" "$d" "UDP: $name A -> NXDOMAIN, SOA of $d"
		check_block "$(q "$BPORT" "$name" AAAA +tcp)" "$name" "$d" "TCP: $name AAAA -> NXDOMAIN, SOA of $d"
	done
done

# Deeper names, other types, mixed case (echoed as sent, matched case-insensitively).
check_block "$(q "$BPORT" a.b.c.flora-1.web.telegram.org TXT)" a.b.c.flora-1.web.telegram.org \
	flora-1.web.telegram.org "a.b.c.flora-1.web.telegram.org TXT -> SOA of the most specific entry"
check_block "$(q "$BPORT" x.web.telegram.org MX +tcp)" x.web.telegram.org web.telegram.org \
	"x.web.telegram.org MX over TCP -> SOA of web.telegram.org"
check_block "$(q "$BPORT" WwW.T.mE A)" WwW.T.mE t.me "WwW.T.mE -> blocked, question echoed in its case"
check_block "$(q "$BPORT" Telegram.ORG. ANY)" Telegram.ORG telegram.org "Telegram.ORG ANY -> blocked"

# --- RD copied: +nord over UDP and TCP -----------------------------------------------------------
check_block "$(q "$BPORT" t.me A +nord)" t.me t.me "+nord over UDP: RD clear in the answer" nord
check_block "$(q "$BPORT" web.telegram.org A +nord +tcp)" web.telegram.org web.telegram.org \
	"+nord over TCP: RD clear in the answer" nord

# --- EDNS -----------------------------------------------------------------------------------------
out=$(q "$BPORT" telegram.me A)
like "$out" '; EDNS: version: 0, flags:; udp: 1232$' "EDNS query: OPT version 0, no DO, udp 1232"
like "$out" "; EDE: 16 \(Censored\): \($REASON\)" "EDNS query: EDE 16 (Censored) with the entry's reason"
out=$(q "$BPORT" telegram.me A +bufsize=4096 +tcp)
like "$out" '; EDNS: version: 0, flags:; udp: 1232$' "bufsize 4096 over TCP: blokir still advertises 1232"
like "$out" "; EDE: 16 \(Censored\): \($REASON\)" "EDNS over TCP: EDE 16 with the reason"
out=$(q "$BPORT" telegram.me A +dnssec)
like "$out" '; EDNS: version: 0, flags: do; udp: 1232$' "+dnssec: DO copied into the OPT"
is "$(flags "$out")" "qr rd ra" "+dnssec: still AA clear, RA set (no AD invented)"
out=$(q "$BPORT" telegram.me A +noedns)
unlike "$out" 'OPT PSEUDOSECTION|EDNS:|EDE:' "+noedns: no OPT record in the answer"
is "$(rcode "$out")" NXDOMAIN "+noedns: still NXDOMAIN"
out=$(q "$BPORT" macos.telegram.org A +noedns +tcp)
unlike "$out" 'OPT PSEUDOSECTION|EDNS:' "+noedns over TCP: no OPT record"
out=$(q "$BPORT" exact.test A)
like "$out" "; EDE: 16 \(Censored\): \(only the apex\)" "each entry's own reason is used"

# --- neighbours are forwarded (label boundaries) --------------------------------------------------
for name in at.me www.at.me nottelegram.org www.nottelegram.org; do
	out=$(q "$BPORT" "$name" A)
	if [ "$(rcode "$out")" = NOERROR ] && hasflag "$out" aa &&
		grep -q '192\.0\.2\.10$' <<<"$(section "$out" ANSWER)"; then
		pass "$name is not blocked: forwarded, nsd's authoritative answer"
	else
		fail "$name is not blocked: forwarded, nsd's authoritative answer"; diag "$out"
	fi
done

# --- exact, allow, disabled, and the other actions ------------------------------------------------
check_block "$(q "$BPORT" exact.test A)" exact.test exact.test "exact: true blocks the name itself"
out=$(q "$BPORT" www.exact.test A)
like "$(section "$out" ANSWER)" '192\.0\.2\.10$' "exact: true: www.exact.test forwarded"
out=$(q "$BPORT" www.ok.t.me A)
like "$(section "$out" ANSWER)" '^www\.ok\.t\.me\. 600 IN A 192\.0\.2\.10$' \
	"action allow: www.ok.t.me forwarded although t.me is blocked"
out=$(q "$BPORT" www.example.test A)
like "$(section "$out" ANSWER)" '192\.0\.2\.1$' "enabled: false: www.example.test forwarded"

out=$(q "$BPORT" nodata.example.test A)
is "$(rcode "$out")" NOERROR "action nodata: NOERROR"
is "$(section "$out" ANSWER)" "" "action nodata: empty answer"
like "$(section "$out" AUTHORITY)" "^nodata\.example\.test\.$SOA_RE" "action nodata: SOA of the entry"
out=$(q "$BPORT" x.refused.example.test A)
is "$(rcode "$out")" REFUSED "action refused: REFUSED"
is "$(section "$out" AUTHORITY)" "" "action refused: no SOA"
out=$(q "$BPORT" drop.example.test A)
like "$out" "timed out|no servers could be reached" "action drop: no answer at all"

# --- the daemon is still fine; clean stop --------------------------------------------------------
check_block "$(q "$BPORT" t.me A)" t.me t.me "still answering after all of the above"
stop_blokir

done_testing
