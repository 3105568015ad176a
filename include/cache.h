/*
 * cache: an optional per-worker cache of forwarded answers (`cache-size`, off by default).
 *
 * It is consulted only after the policy has let a name through, and emptied whenever a new
 * policy is published, so a new block is never bypassed by an old answer. Entries live for the
 * answer's smallest TTL (RFC 2308 for negative answers) and are served with their TTLs aged.
 * One cache per worker thread: no locks, and a worker's clients mostly hit its own entries.
 *
 * What may be reused for whom. An answer is reused only for a query the upstream would see as
 * the same: the key is the lower-cased question, the flags that change an answer (RD, CD, AD,
 * EDNS present, DO), the most the client takes (its UDP size, or 65,535 over TCP), and every EDNS
 * option of the query but COOKIE. EDNS Client Subnet is keyed on its family, source prefix and
 * address masked to that prefix (RFC 7871 7.3.1), so a subnet's tailored answer goes to that
 * subnet only; an answer whose ECS option does not echo the query's is not stored. COOKIE is
 * left out of the key (it differs per client) and cut out of the stored answer: a server cookie
 * belongs to the client it was made for (RFC 7873), so a cached answer carries none. Every other
 * option of the answer (NSID, EDE, ...) is kept, as it was sent for exactly that query.
 */
#ifndef BLOKIR_CACHE_H
#define BLOKIR_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct cache;

/* Returns a cache of about ENTRIES answers, or NULL when ENTRIES is 0 or memory is short. */
struct cache *cache_new(size_t entries);
void cache_free(struct cache *c);
/* Empties C in place: walks every slot, so not for the event loop at a large cache-size. */
void cache_clear(struct cache *c);

/*
 * An empty cache of C's size, or NULL when memory is short. Its table comes zeroed from calloc,
 * i.e. from fresh pages for a large one, so this costs no walk of C's up to 10 M slots; together
 * with cache_free_detached it replaces C without stalling the thread that owns it.
 */
struct cache *cache_new_like(const struct cache *c);
/*
 * cache_free (C) on a detached thread of its own; inline when no thread can be started.
 * cache_wait_detached waits until every such free has finished (before the process exits, so
 * leak checkers see all memory returned).
 */
void cache_free_detached(struct cache *c);
void cache_wait_detached(void);

/*
 * Copies a fresh answer to Q, asked over a transport that takes at most LIMIT bytes (65535 for
 * TCP, else wire_udp_limit), into OUT (CAP bytes) with Q's ID and spelling of the name and the
 * TTLs aged, fills A for it, and returns its length; 0 on a miss or when Q is not cacheable.
 */
size_t cache_lookup(struct cache *c, const struct wire_query *q, size_t limit, uint64_t now_ms,
	uint8_t *out, size_t cap, struct wire_answer *a);

/*
 * Stores a copy of the checked answer ANS (LEN bytes, its parts in A) to Q, asked with LIMIT,
 * unless it is not cacheable: Q not cacheable (more EDNS options than the key holds, a malformed
 * or repeated ECS option), TC, an rcode other than NOERROR/NXDOMAIN, TTL 0, an ECS option that
 * does not match Q's, or a COOKIE that cannot be cut out. ANS itself is not changed.
 */
void cache_store(struct cache *c, const struct wire_query *q, size_t limit, const uint8_t *ans,
	size_t len, const struct wire_answer *a, uint64_t now_ms);

#endif
