/*
 * cache: forwarded-answer cache (see include/cache.h).
 *
 * A direct-mapped table: the key's hash picks one slot, and a new answer replaces whatever was
 * there. That keeps a lookup to one hash and one compare and the memory bounded by cache-size,
 * at the price of some evictions a set-associative table would avoid; the popular names that a
 * filter's cache exists for stay resident anyway because they are re-stored as soon as evicted.
 */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL /* header-only libxxhash: inlined for short keys */
#include <xxhash.h>

#define KEY_EXTRA 5 /* qtype, qclass, flags after the name */

struct entry {
	uint64_t hash;
	uint64_t stored_ms, expire_ms;
	uint8_t *data;          /* owned: key (name + KEY_EXTRA) then the answer */
	uint16_t key_len, ans_len;
	struct wire_answer a;   /* where the answer's parts are */
};

struct cache {
	struct entry *slots;    /* owned */
	size_t mask;
};

struct cache *cache_new(size_t entries)
{
	struct cache *c;
	size_t n = 16;

	if (entries == 0)
		return NULL;
	while (n < entries)
		n <<= 1;
	c = calloc(1, sizeof(*c)); /* owned by the worker */
	if (c == NULL)
		return NULL;
	c->slots = calloc(n, sizeof(*c->slots));
	if (c->slots == NULL) {
		free(c);
		return NULL;
	}
	c->mask = n - 1;
	return c;
}

void cache_clear(struct cache *c)
{
	for (size_t i = 0; i <= c->mask; i++) {
		free(c->slots[i].data);
		c->slots[i].data = NULL;
		c->slots[i].hash = 0;
	}
}

void cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	cache_clear(c);
	free(c->slots);
	free(c);
}

uint8_t cache_flags(const struct wire_query *q)
{
	return (uint8_t)(q->rd | q->cd << 1 | q->edns << 2 | q->edns_do << 3);
}

/* Builds the key into KEY (WIRE_NAME_MAX + KEY_EXTRA bytes); returns its length. */
static size_t make_key(uint8_t *key, const uint8_t *name, size_t name_len, uint16_t qtype,
	uint16_t qclass, uint8_t flags)
{
	memcpy(key, name, name_len);
	key[name_len] = (uint8_t)(qtype >> 8);
	key[name_len + 1] = (uint8_t)qtype;
	key[name_len + 2] = (uint8_t)(qclass >> 8);
	key[name_len + 3] = (uint8_t)qclass;
	key[name_len + 4] = flags;
	return name_len + KEY_EXTRA;
}

size_t cache_lookup(struct cache *c, const struct wire_query *q, uint64_t now_ms, uint8_t *out,
	size_t cap, struct wire_answer *a)
{
	uint8_t key[WIRE_NAME_MAX + KEY_EXTRA];
	size_t klen = make_key(key, q->qname_lower, q->qname_len, q->qtype, q->qclass, cache_flags(q));
	uint64_t h = XXH3_64bits(key, klen);
	struct entry *e = &c->slots[h & c->mask];

	if (e->data == NULL || e->hash != h || e->key_len != klen || memcmp(e->data, key, klen) != 0)
		return 0;
	if (now_ms >= e->expire_ms || e->ans_len > cap)
		return 0;
	memcpy(out, e->data + klen, e->ans_len);
	*a = e->a;
	wire_set_id(out, q->id);
	/* The client gets its own spelling of the name back, as from the upstream. */
	memcpy(out + WIRE_HEADER_LEN, q->packet + WIRE_HEADER_LEN, q->qname_len);
	wire_answer_age(out, e->ans_len, a, (uint32_t)((now_ms - e->stored_ms) / 1000));
	return e->ans_len;
}

void cache_store(struct cache *c, const uint8_t *qname_lower, size_t qname_len, uint16_t qtype,
	uint16_t qclass, uint8_t flags, const uint8_t *ans, size_t len, const struct wire_answer *a,
	uint64_t now_ms)
{
	uint8_t key[WIRE_NAME_MAX + KEY_EXTRA];
	size_t klen;
	uint32_t ttl;
	uint8_t *data;

	if (a->tc || (a->rcode != WIRE_RCODE_NOERROR && a->rcode != WIRE_RCODE_NXDOMAIN) ||
	    len > UINT16_MAX)
		return;
	ttl = wire_answer_ttl(ans, len, a);
	if (ttl == 0)
		return;
	klen = make_key(key, qname_lower, qname_len, qtype, qclass, flags);
	data = malloc(klen + len); /* owned by the entry */
	if (data == NULL)
		return; /* a cache may forget */
	memcpy(data, key, klen);
	memcpy(data + klen, ans, len);
	uint64_t h = XXH3_64bits(key, klen);
	struct entry *e = &c->slots[h & c->mask];
	free(e->data);
	*e = (struct entry){ h, now_ms, now_ms + (uint64_t)ttl * 1000, data, (uint16_t)klen,
		(uint16_t)len, *a };
}
