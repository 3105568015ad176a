/*
 * guard: access list and rate limiting (see include/guard.h).
 *
 * Access list. Networks are kept per family as (address, mask) pairs and scanned in order; the
 * defaults are six networks, and operators list their customer prefixes, which are tens or
 * hundreds, so a scan of masked compares (two 64-bit words for IPv6) costs less than any tree
 * would save. A CIDR library (Debian's libcidr) was considered: it parses well but allocates per
 * address, which the query path cannot afford; the parsing is done in config.c with inet_pton.
 *
 * Rate limit. A direct-mapped table of token buckets keyed by the client's network (/24 and /56
 * by default). A colliding network takes over the slot with a full bucket: an attacker can at
 * worst reset someone's bucket, never lock a real client out, and the table's memory is fixed
 * whatever the number of sources (spoofed floods come from everywhere). The slot hash is keyed
 * with a random per-guard seed: with a known hash, a reflector could compute a network that
 * shares the victim's slot and alternate the two spoofed sources, so that every query found a
 * fresh, full bucket and the victim was never limited.
 *
 * The clock is CLOCK_MONOTONIC_COARSE, so a whole receive batch shares one millisecond. A bucket
 * stores the time plus one (0 marks a free slot) and elapsed time is the exact difference: a
 * mark that made time seem to run backwards would wrap to 49 days of refill.
 */
#include "guard.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define XXH_INLINE_ALL /* header-only libxxhash: inlined for short keys */
#include <xxhash.h>

#define RATE_SLOTS 65536 /* per worker; 24 bytes each */
/* Bucket sizes are kept in thousandths of a query in 32 bits: at most this many queries. A burst
 * of four million per client network and worker is no limit in practice. */
#define BURST_MAX (UINT32_MAX / 1000)

struct net4 {
	uint32_t addr, mask; /* host order */
};

struct net6 {
	uint64_t addr[2], mask[2]; /* big-endian words as host integers */
};

struct bucket {
	uint64_t key[2];   /* the client network (masked address); key[1] bit 0 marks IPv4 */
	uint32_t tokens;   /* in thousandths of a query */
	uint32_t stamp;    /* last update, ms + 1 (0: free slot); wraps every 49 days: only
	                      differences are used */
};

struct guard {
	struct net4 *v4; size_t n4; /* owned */
	struct net6 *v6; size_t n6; /* owned */
	bool deny_drop;
	uint32_t rate_milli;     /* refill per ms, in thousandths of a query (= queries/s) */
	uint32_t burst_milli;    /* bucket size, thousandths of a query */
	uint32_t mask4;
	uint64_t mask6[2];
	bool rate_tc;
	uint64_t seed;           /* secret slot-hash seed */
	struct bucket *buckets;  /* owned; NULL when rate limiting is off */
};

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void prefix_mask6(unsigned prefix, uint64_t mask[2])
{
	mask[0] = prefix == 0 ? 0 : prefix >= 64 ? UINT64_MAX : ~(UINT64_MAX >> prefix);
	mask[1] = prefix <= 64 ? 0 : prefix >= 128 ? UINT64_MAX : ~(UINT64_MAX >> (prefix - 64));
}

static uint32_t prefix_mask4(unsigned prefix)
{
	return prefix == 0 ? 0 : prefix >= 32 ? UINT32_MAX : ~(UINT32_MAX >> prefix);
}

static int guard_compile_acl(struct guard *g, const struct config *cfg)
{
	g->v4 = calloc(cfg->allow_from_count + 1, sizeof(*g->v4)); /* owned by g */
	g->v6 = calloc(cfg->allow_from_count + 1, sizeof(*g->v6)); /* owned by g */
	if (g->v4 == NULL || g->v6 == NULL)
		return -1;
	for (size_t i = 0; i < cfg->allow_from_count; i++) {
		const struct config_cidr *c = &cfg->allow_from[i];
		if (c->family == AF_INET) {
			uint32_t mask = prefix_mask4(c->prefix);
			uint32_t addr = (uint32_t)c->addr[0] << 24 | (uint32_t)c->addr[1] << 16 |
				(uint32_t)c->addr[2] << 8 | c->addr[3];
			g->v4[g->n4++] = (struct net4){ addr & mask, mask };
		} else {
			struct net6 *n = &g->v6[g->n6++];
			prefix_mask6(c->prefix, n->mask);
			n->addr[0] = load_be64(c->addr) & n->mask[0];
			n->addr[1] = load_be64(c->addr + 8) & n->mask[1];
		}
	}
	return 0;
}

struct guard *guard_new(const struct config *cfg, unsigned workers)
{
	struct guard *g = calloc(1, sizeof(*g)); /* owned by the caller (a worker) */

	if (g == NULL)
		return NULL;
	if (workers == 0)
		workers = 1;
	g->deny_drop = cfg->deny_drop;
	if (guard_compile_acl(g, cfg) < 0)
		goto fail;
	if (cfg->rate_limit_qps > 0) {
		uint64_t burst = cfg->rate_limit_burst; /* 2 x qps when not given: defaults.h */
		/* Per worker, rounded up so that a limit below the worker count still lets 1/s in. */
		g->rate_milli = (cfg->rate_limit_qps + workers - 1) / workers;
		burst = (burst + workers - 1) / workers;
		g->burst_milli = (uint32_t)(burst > BURST_MAX ? BURST_MAX : burst) * 1000;
		if (getrandom(&g->seed, sizeof(g->seed), GRND_NONBLOCK) != sizeof(g->seed)) {
			/* Only before the kernel pool is initialized at early boot: a weaker seed
			   still beats a constant one. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			g->seed = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uintptr_t)g;
		}
		g->mask4 = prefix_mask4(cfg->rate_limit_ipv4_prefix);
		prefix_mask6(cfg->rate_limit_ipv6_prefix, g->mask6);
		g->rate_tc = cfg->rate_limit_tc;
		g->buckets = calloc(RATE_SLOTS, sizeof(*g->buckets)); /* owned by g */
		if (g->buckets == NULL)
			goto fail;
	}
	return g;
fail:
	guard_free(g);
	return NULL;
}

void guard_free(struct guard *g)
{
	if (g == NULL)
		return;
	free(g->v4);
	free(g->v6);
	free(g->buckets);
	free(g);
}

static inline bool acl_allows(const struct guard *g, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		uint32_t a = ntohl(sin->sin_addr.s_addr);
		for (size_t i = 0; i < g->n4; i++)
			if ((a & g->v4[i].mask) == g->v4[i].addr)
				return true;
		return false;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		uint64_t hi = load_be64(sin6->sin6_addr.s6_addr), lo = load_be64(sin6->sin6_addr.s6_addr + 8);
		for (size_t i = 0; i < g->n6; i++)
			if ((hi & g->v6[i].mask[0]) == g->v6[i].addr[0] &&
			    (lo & g->v6[i].mask[1]) == g->v6[i].addr[1])
				return true;
	}
	return false;
}

enum guard_verdict guard_check_acl(const struct guard *g, const struct sockaddr *sa)
{
	if (acl_allows(g, sa))
		return GUARD_PASS;
	return g->deny_drop ? GUARD_ACL_DROP : GUARD_ACL_REFUSE;
}

/* The client's network as a bucket key. */
static void client_key(const struct guard *g, const struct sockaddr *sa, uint64_t key[2])
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
		key[0] = a & g->mask4;
		key[1] = 1;
		return;
	}
	const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	key[0] = load_be64(b) & g->mask6[0];
	key[1] = (load_be64(b + 8) & g->mask6[1]) & ~(uint64_t)1;
}

static bool rate_allows(struct guard *g, const struct sockaddr *sa, uint64_t now_ms)
{
	uint64_t key[2];
	struct bucket *b;
	uint32_t stamp = (uint32_t)now_ms + 1;

	client_key(g, sa, key);
	b = &g->buckets[XXH3_64bits_withSeed(key, sizeof(key), g->seed) & (RATE_SLOTS - 1)];
	if (b->key[0] != key[0] || b->key[1] != key[1] || b->stamp == 0) {
		/* (A stamp of 0, one millisecond in 49 days, only gives a full bucket.) */
		*b = (struct bucket){ { key[0], key[1] }, g->burst_milli, stamp };
	} else {
		uint64_t refill = (uint64_t)(uint32_t)(stamp - b->stamp) * g->rate_milli;
		uint64_t tokens = b->tokens + refill;
		b->tokens = tokens > g->burst_milli ? g->burst_milli : (uint32_t)tokens;
		b->stamp = stamp;
	}
	if (b->tokens < 1000)
		return false;
	b->tokens -= 1000;
	return true;
}

bool guard_rate_limited(const struct guard *g)
{
	return g->buckets != NULL;
}

enum guard_verdict guard_check(struct guard *g, const struct sockaddr *sa, uint64_t now_ms)
{
	if (!acl_allows(g, sa))
		return g->deny_drop ? GUARD_ACL_DROP : GUARD_ACL_REFUSE;
	if (g->buckets == NULL || rate_allows(g, sa, now_ms))
		return GUARD_PASS;
	return g->rate_tc ? GUARD_RATE_TC : GUARD_RATE_DROP;
}
