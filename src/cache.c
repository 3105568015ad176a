/*
 * cache: forwarded-answer cache (see include/cache.h).
 *
 * A direct-mapped table: the key's hash picks one slot, and a new answer replaces whatever was
 * there. That keeps a lookup to one hash and one compare and the memory bounded by cache-size,
 * at the price of some evictions a set-associative table would avoid; the popular names that a
 * filter's cache exists for stay resident anyway because they are re-stored as soon as evicted.
 */
#include "cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define XXH_INLINE_ALL /* header-only libxxhash: inlined for short keys */
#include <xxhash.h>

#define KEY_FIXED 7     /* qtype, qclass, flags, limit after the name */
#define KEY_OPTS_MAX 64 /* EDNS option bytes a key holds: ECS and NSID need 4 to 24 */
#define KEY_MAX (WIRE_NAME_MAX + KEY_FIXED + KEY_OPTS_MAX)
#define ECS_NORM_MAX 19 /* family, source prefix, 16 address bytes */

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

struct cache *cache_new_like(const struct cache *c)
{
	return cache_new(c->mask + 1);
}

/* Frees in progress on their own threads, process-wide: only cache_wait_detached reads it. */
static _Atomic unsigned detached_frees;

static void *free_main(void *arg)
{
	cache_free(arg);
	atomic_fetch_sub(&detached_frees, 1);
	return NULL;
}

void cache_free_detached(struct cache *c)
{
	pthread_attr_t attr;
	pthread_t t;
	int err;

	if (c == NULL)
		return;
	atomic_fetch_add(&detached_frees, 1);
	err = pthread_attr_init(&attr);
	if (err == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		err = pthread_create(&t, &attr, free_main, c);
		pthread_attr_destroy(&attr);
	}
	if (err != 0) {
		log_warn("cache: no thread to free the old cache on (%s); freeing it here",
			strerror(err));
		free_main(c);
	}
}

void cache_wait_detached(void)
{
	while (atomic_load(&detached_frees) > 0)
		usleep(1000);
}

/*
 * An ECS option's DATA (LEN bytes) as keys and the answer check compare it: family, source
 * prefix and the address masked to the prefix (RFC 7871 7.3.1). The scope is left out: it is 0
 * in a query and what the upstream varies in its answer. Returns the length written to OUT
 * (ECS_NORM_MAX bytes), 0 when the option is malformed (a family other than IPv4/IPv6, a prefix
 * too long for it, an address not exactly as long as the prefix needs).
 */
static size_t ecs_norm(const uint8_t *data, size_t len, uint8_t *out)
{
	if (len < 4)
		return 0;
	unsigned family = (unsigned)data[0] << 8 | data[1], src = data[2];
	size_t alen = (src + 7) / 8;
	if (!((family == 1 && src <= 32) || (family == 2 && src <= 128)) || len != 4 + alen)
		return 0;
	memcpy(out, data, 3);
	memcpy(out + 3, data + 4, alen);
	if (src % 8 != 0)
		out[2 + alen] &= (uint8_t)(0xff << (8 - src % 8));
	return 3 + alen;
}

/*
 * Builds Q's key for an answer of at most LIMIT bytes into KEY (KEY_MAX bytes), and Q's ECS
 * option as ecs_norm gives it into ECS (*ECS_LEN 0 without one). Returns the key's length, or 0
 * when Q is not cacheable.
 */
static size_t make_key(const struct wire_query *q, size_t limit, uint8_t *key, uint8_t *ecs,
	size_t *ecs_len)
{
	size_t n = q->qname_len;
	struct wire_opt_iter it;
	const uint8_t *data;
	uint16_t code;
	size_t len;

	memcpy(key, q->qname_lower, n);
	key[n++] = (uint8_t)(q->qtype >> 8);
	key[n++] = (uint8_t)q->qtype;
	key[n++] = (uint8_t)(q->qclass >> 8);
	key[n++] = (uint8_t)q->qclass;
	key[n++] = (uint8_t)(q->rd | q->cd << 1 | q->ad << 2 | q->edns << 3 | q->edns_do << 4);
	key[n++] = (uint8_t)(limit >> 8);
	key[n++] = (uint8_t)limit;
	*ecs_len = 0;
	wire_opt_iter_init(&it, q->packet, q->opt_offset, q->opt_len);
	while (wire_opt_next(&it, &code, &data, &len)) {
		if (code == WIRE_OPT_COOKIE)
			continue; /* per client: never part of what is shared */
		if (code == WIRE_OPT_ECS) {
			if (*ecs_len != 0 || (*ecs_len = ecs_norm(data, len, ecs)) == 0)
				return 0; /* twice, or malformed: the upstream decides, nothing is kept */
			data = ecs;
			len = *ecs_len;
		}
		if (len + 4 > KEY_MAX - n)
			return 0;
		key[n++] = (uint8_t)(code >> 8);
		key[n++] = (uint8_t)code;
		key[n++] = (uint8_t)(len >> 8);
		key[n++] = (uint8_t)len;
		memcpy(key + n, data, len);
		n += len;
	}
	return n;
}

/*
 * Whether the answer's ECS option fits the query's (normalized in QECS, QECS_LEN 0 for none):
 * none when the query had none, and otherwise the query's family, source prefix and address
 * echoed (RFC 7871 7.3.1 has a resolver drop any other answer). The answer may also have none:
 * an upstream without ECS, whose answer is the same for every subnet.
 */
static bool ecs_matches(const uint8_t *ans, const struct wire_answer *a, const uint8_t *qecs,
	size_t qecs_len)
{
	struct wire_opt_iter it;
	const uint8_t *data;
	uint8_t norm[ECS_NORM_MAX];
	uint16_t code;
	size_t len;
	unsigned seen = 0;

	wire_opt_iter_init(&it, ans, a->opt_offset, a->opt_len);
	while (wire_opt_next(&it, &code, &data, &len)) {
		if (code != WIRE_OPT_ECS)
			continue;
		size_t n = ecs_norm(data, len, norm);
		if (++seen > 1 || n == 0 || n != qecs_len || memcmp(norm, qecs, n) != 0)
			return false;
	}
	return true;
}

size_t cache_lookup(struct cache *c, const struct wire_query *q, size_t limit, uint64_t now_ms,
	uint8_t *out, size_t cap, struct wire_answer *a)
{
	uint8_t key[KEY_MAX], ecs[ECS_NORM_MAX];
	size_t ecs_len, klen = make_key(q, limit, key, ecs, &ecs_len);

	if (klen == 0)
		return 0;
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

void cache_store(struct cache *c, const struct wire_query *q, size_t limit, const uint8_t *ans,
	size_t len, const struct wire_answer *a, uint64_t now_ms)
{
	uint8_t key[KEY_MAX], ecs[ECS_NORM_MAX];
	struct wire_answer sa = *a;
	size_t ecs_len, klen;
	uint32_t ttl;
	uint8_t *data;

	if (a->tc || (a->rcode != WIRE_RCODE_NOERROR && a->rcode != WIRE_RCODE_NXDOMAIN) ||
	    len > UINT16_MAX)
		return;
	ttl = wire_answer_ttl(ans, len, a);
	if (ttl == 0)
		return;
	klen = make_key(q, limit, key, ecs, &ecs_len);
	if (klen == 0 || !ecs_matches(ans, a, ecs, ecs_len))
		return;
	data = malloc(klen + len); /* owned by the entry */
	if (data == NULL)
		return; /* a cache may forget */
	memcpy(data, key, klen);
	memcpy(data + klen, ans, len);
	len = wire_answer_remove_option(data + klen, len, &sa, WIRE_OPT_COOKIE);
	if (len == 0) {
		free(data);
		return;
	}
	uint64_t h = XXH3_64bits(key, klen);
	struct entry *e = &c->slots[h & c->mask];
	free(e->data);
	*e = (struct entry){ h, now_ms, now_ms + (uint64_t)ttl * 1000, data, (uint16_t)klen,
		(uint16_t)len, sa };
}
