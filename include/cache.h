/*
 * cache: an optional per-worker cache of forwarded answers (`cache-size`, off by default).
 *
 * Keyed on the lower-cased question and the flags that change an answer (RD, CD, EDNS present,
 * DO). It is consulted only after the policy has let a name through, and emptied whenever a new
 * policy is published, so a new block is never bypassed by an old answer. Entries live for the
 * answer's smallest TTL (RFC 2308 for negative answers) and are served with their TTLs aged.
 * One cache per worker thread: no locks, and a worker's clients mostly hit its own entries.
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
void cache_clear(struct cache *c);

/* The key flags of a query (RD, CD, EDNS, DO). */
uint8_t cache_flags(const struct wire_query *q);

/*
 * Copies a fresh answer to Q into OUT (CAP bytes) with Q's ID and spelling of the name and the
 * TTLs aged, fills A for it, and returns its length; 0 on a miss.
 */
size_t cache_lookup(struct cache *c, const struct wire_query *q, uint64_t now_ms, uint8_t *out,
	size_t cap, struct wire_answer *a);

/*
 * Stores the checked answer ANS (its question is the one asked: QNAME_LOWER, QTYPE, QCLASS) under
 * FLAGS, unless it is not cacheable (TC, an rcode other than NOERROR/NXDOMAIN, TTL 0).
 */
void cache_store(struct cache *c, const uint8_t *qname_lower, size_t qname_len, uint16_t qtype,
	uint16_t qclass, uint8_t flags, const uint8_t *ans, size_t len, const struct wire_answer *a,
	uint64_t now_ms);

#endif
