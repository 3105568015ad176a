#!/bin/bash
# 17-cache: the optional answer cache (cache-size). A repeated forwarded query is answered from
# the cache (counted, nsd not asked again), with TTLs aged and the client's spelling of the name;
# flags that change an answer (DO, CD) are part of the key; a cached name that a reload blocks is
# blocked at once (the cache is emptied on every policy change); without cache-size nothing is
# cached.
. "$(dirname "$0")/lib.sh"

setup_std "cache-size: 1000"

hits() { stat_val "$(stats)" cache-hits; }
fwd() { stat_val "$(stats)" forwarded; }

# Each worker has its own cache and the kernel spreads queries over the workers' sockets, so
# queries are repeated a few times rather than expecting the second one to hit.
out1=$(q "$BPORT" www.example.test A)
is "$(rcode "$out1")" NOERROR "first query forwarded and answered"
h0=$(hits)
for i in 1 2 3 4 5 6; do out2=$(q "$BPORT" www.example.test A); done
h1=$(hits)
ok $([ "$h1" -gt "$h0" ]; echo $?) "repeated queries are answered from the cache (cache-hits $h0 -> $h1)"
is "$(section "$out2" ANSWER | awk '{print $1, $3, $4, $5}')" \
	"$(section "$out1" ANSWER | awk '{print $1, $3, $4, $5}')" "  ... with the same records"

sleep 2.2
# Several asks, the smallest TTL: a worker that has not cached the name yet asks nsd again.
ttl1=$(section "$out1" ANSWER | awk '{print $2; exit}')
ttl3=$ttl1
for i in 1 2 3 4 5 6 7 8; do
	t=$(section "$(q "$BPORT" www.example.test A)" ANSWER | awk '{print $2; exit}')
	[ -n "$t" ] && [ "$t" -lt "$ttl3" ] && ttl3=$t
done
ok $([ "$ttl3" -lt "$ttl1" ]; echo $?) "  ... and TTLs counted down while cached ($ttl1 -> $ttl3)"

out4=$(q "$BPORT" WwW.ExAmPlE.tEsT A)
like "$out4" 'WwW\.ExAmPlE\.tEsT\.[[:space:]]+IN[[:space:]]+A' "a cache hit echoes the client's own spelling of the question"

# DO is part of the key: the first +dnssec query is a miss, forwarded to nsd.
f0=$(fwd)
q "$BPORT" www.example.test A +dnssec >/dev/null
f1=$(fwd)
ok $([ "$f1" -gt "$f0" ]; echo $?) "a query with DO set is not answered from the entry cached without DO"

# A reload that blocks a cached name: blocked at once.
for i in 1 2 3 4; do pre=$(q "$BPORT" cached.example.test A); done
unlike "$pre" 'blokir\.invalid\.' "cached.example.test is forwarded (and cached) before the reload"
EXTRA_DOMAINS="  - name: cached.example.test" write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT" "cache-size: 1000"
kill -HUP "$T_BLOKIR_PID"
wait_log 10 'reload: .*in force' || diag "no reload line"
blocked=0
for i in 1 2 3 4; do
	grep -q 'blokir\.invalid\.' <<<"$(q "$BPORT" cached.example.test A)" && blocked=$((blocked + 1))
done
is "$blocked" 4 "a cached name blocked by a reload is NXDOMAIN on every worker right away"
stop_blokir

# Without cache-size, no hits.
BPORT=$(free_port)
write_policy "$CFG" "$BPORT" "127.0.0.1:$NSD_PORT"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"
for i in 1 2 3 4; do q "$BPORT" www.example.test A >/dev/null; done
is "$(hits)" 0 "without cache-size nothing is answered from a cache"
stop_blokir
done_testing
