/*
 * cache_life_test: the life of cache entries with an explicit clock (cache_test covers who may
 * get which answer: the EDNS options in the key). Hits give the asking query's ID and
 * spelling and aged TTLs; entries expire with their smallest TTL (the SOA MINIMUM for a negative
 * answer); the key includes qtype and the RD/CD/EDNS/DO flags; uncacheable answers (TC, SERVFAIL,
 * TTL 0) are not stored. Replacing a cache for a new policy (cache_new_like plus
 * cache_free_detached) leaves the old entries alone on the calling thread and frees them on
 * another: the event loop never walks the old table.
 */
#include "cache.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ldns/ldns.h>

#include "tap.h"
#include "testquery.h"

static size_t query(const char *name, ldns_rr_type type, uint16_t id, bool edns, uint8_t *out,
	struct wire_query *q)
{
	size_t len = test_query_wire(name, type, id, edns ? 1232 : 0, out);

	if (wire_parse_query(out, len, q) != WIRE_OK) {
		printf("Bail out! parse %s\n", name);
		exit(1);
	}
	return len;
}

/* An answer to Q with RCODE, TC, and the records RRS (answer section) and AUTH (authority). */
static size_t answer(const struct wire_query *q, ldns_pkt_rcode rcode, bool tc,
	const char *const *rrs, const char *auth, uint8_t *out, struct wire_answer *a)
{
	ldns_pkt *qp = NULL, *ap;
	uint8_t *w = NULL;
	size_t len = 0;

	if (ldns_wire2pkt(&qp, q->packet, q->length) != LDNS_STATUS_OK)
		exit(1);
	ap = ldns_pkt_clone(qp);
	ldns_pkt_set_qr(ap, true);
	ldns_pkt_set_tc(ap, tc);
	ldns_pkt_set_rcode(ap, (uint8_t)rcode);
	for (size_t i = 0; rrs != NULL && rrs[i] != NULL; i++) {
		ldns_rr *rr = NULL;
		if (ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL) != LDNS_STATUS_OK)
			exit(1);
		ldns_pkt_push_rr(ap, LDNS_SECTION_ANSWER, rr);
	}
	if (auth != NULL) {
		ldns_rr *rr = NULL;
		if (ldns_rr_new_frm_str(&rr, auth, 0, NULL, NULL) != LDNS_STATUS_OK)
			exit(1);
		ldns_pkt_push_rr(ap, LDNS_SECTION_AUTHORITY, rr);
	}
	if (ldns_pkt2wire(&w, ap, &len) != LDNS_STATUS_OK)
		exit(1);
	memcpy(out, w, len);
	free(w);
	ldns_pkt_free(qp);
	ldns_pkt_free(ap);
	if (wire_check_answer(out, len, q->packet + WIRE_HEADER_LEN, q->qname_len, q->qtype,
	    q->qclass, a) < 0) {
		printf("Bail out! the answer does not check\n");
		exit(1);
	}
	return len;
}

static void store(struct cache *c, const struct wire_query *q, const uint8_t *ans, size_t len,
	const struct wire_answer *a, uint64_t now)
{
	cache_store(c, q, 512, ans, len, a, now);
}

/* The TTL of the first answer record of the packet OUT, or -1. */
static long first_ttl(const uint8_t *out, size_t n, ldns_pkt_section s)
{
	ldns_pkt *p = NULL;
	long ttl = -1;

	if (n == 0 || ldns_wire2pkt(&p, out, n) != LDNS_STATUS_OK)
		return -1;
	ldns_rr_list *l = ldns_pkt_get_section_clone(p, s);
	if (l != NULL && ldns_rr_list_rr_count(l) > 0)
		ttl = (long)ldns_rr_ttl(ldns_rr_list_rr(l, 0));
	ldns_rr_list_deep_free(l);
	ldns_pkt_free(p);
	return ttl;
}

static const char *const www_a[] = { "www.example.com. 300 IN A 192.0.2.1",
	"www.example.com. 600 IN A 192.0.2.2", NULL };

static void test_hit_and_age(void)
{
	struct cache *c = cache_new(100);
	uint8_t qb[512], qb2[512], ans[4096], out[4096];
	struct wire_query q, q2;
	struct wire_answer a, got;
	size_t alen, n;

	ok(cache_new(0) == NULL, "cache-size 0: no cache");
	ok(c != NULL, "a cache of 100");
	query("www.example.com.", LDNS_RR_TYPE_A, 1, false, qb, &q);
	alen = answer(&q, LDNS_RCODE_NOERROR, false, www_a, NULL, ans, &a);
	is_int(cache_lookup(c, &q, 512, 1000, out, sizeof(out), &got), 0, "empty: miss");
	store(c, &q, ans, alen, &a, 1000);

	query("WwW.Example.com.", LDNS_RR_TYPE_A, 0x7777, false, qb2, &q2);
	n = cache_lookup(c, &q2, 512, 11000, out, sizeof(out), &got);
	is_int(n, alen, "hit: the whole answer");
	is_int(wire_get_id(out), 0x7777, "hit: the asking query's ID");
	ok(memcmp(out + WIRE_HEADER_LEN, qb2 + WIRE_HEADER_LEN, q2.qname_len) == 0,
		"hit: the asking query's spelling of the name");
	is_int(first_ttl(out, n, LDNS_SECTION_ANSWER), 290, "hit after 10 s: TTL 300 served as 290");
	is_int(got.question_end, a.question_end, "hit: the answer's layout comes with it");
	is_int(cache_lookup(c, &q2, 512, 300999, out, sizeof(out), &got) > 0, 1,
		"just before the smallest TTL ends: still a hit");
	is_int(cache_lookup(c, &q2, 512, 301000, out, sizeof(out), &got), 0,
		"at the smallest TTL (300 s, not 600): expired");
	is_int(cache_lookup(c, &q2, 512, 2000, out, 10, &got), 0, "no room in OUT: a miss, not a cut");

	query("www.example.com.", LDNS_RR_TYPE_AAAA, 2, false, qb2, &q2);
	is_int(cache_lookup(c, &q2, 512, 2000, out, sizeof(out), &got), 0, "other qtype: miss");
	query("www.example.com.", LDNS_RR_TYPE_A, 3, true, qb2, &q2);
	is_int(cache_lookup(c, &q2, 512, 2000, out, sizeof(out), &got), 0, "with EDNS: another key");
	cache_clear(c);
	is_int(cache_lookup(c, &q, 512, 2000, out, sizeof(out), &got), 0, "cache_clear: empty");
	cache_free(c);
	cache_free(NULL);
}

static void test_not_cached(void)
{
	struct cache *c = cache_new(100);
	uint8_t qb[512], ans[4096], out[4096];
	struct wire_query q;
	struct wire_answer a, got;
	size_t alen;
	static const char *const zero[] = { "www.example.com. 0 IN A 192.0.2.1", NULL };
	const char *soa = "example.com. 3600 IN SOA ns.example.com. h.example.com. 1 2 3 4 60";

	query("www.example.com.", LDNS_RR_TYPE_A, 1, false, qb, &q);
	alen = answer(&q, LDNS_RCODE_NOERROR, true, www_a, NULL, ans, &a);
	store(c, &q, ans, alen, &a, 0);
	is_int(cache_lookup(c, &q, 512, 0, out, sizeof(out), &got), 0, "TC answer: not stored");
	alen = answer(&q, LDNS_RCODE_SERVFAIL, false, NULL, NULL, ans, &a);
	store(c, &q, ans, alen, &a, 0);
	is_int(cache_lookup(c, &q, 512, 0, out, sizeof(out), &got), 0, "SERVFAIL: not stored");
	alen = answer(&q, LDNS_RCODE_NOERROR, false, zero, NULL, ans, &a);
	store(c, &q, ans, alen, &a, 0);
	is_int(cache_lookup(c, &q, 512, 0, out, sizeof(out), &got), 0, "TTL 0: not stored");
	alen = answer(&q, LDNS_RCODE_NOERROR, false, NULL, NULL, ans, &a);
	store(c, &q, ans, alen, &a, 0);
	is_int(cache_lookup(c, &q, 512, 0, out, sizeof(out), &got), 0, "no record to take a TTL from");

	alen = answer(&q, LDNS_RCODE_NXDOMAIN, false, NULL, soa, ans, &a);
	store(c, &q, ans, alen, &a, 0);
	ok(cache_lookup(c, &q, 512, 59999, out, sizeof(out), &got) > 0, "NXDOMAIN: stored");
	is_int(cache_lookup(c, &q, 512, 60000, out, sizeof(out), &got), 0,
		"NXDOMAIN: lives for the SOA MINIMUM (60), not the SOA TTL (3600)");
	cache_free(c);
}

#define MANY 50000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_replace(void)
{
	struct cache *old = cache_new(MANY), *fresh;
	uint8_t qb[512], ans[4096], out[4096];
	char name[64];
	struct wire_query q;
	struct wire_answer a, got;
	size_t alen;
	double t0, t_new, t_free;

	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "n%d.example.com.", i);
		query(name, LDNS_RR_TYPE_A, 1, false, qb, &q);
		/* One answer shape for all: only the question differs, which is the key. */
		alen = answer(&q, LDNS_RCODE_NXDOMAIN, false, NULL,
			"example.com. 300 IN SOA ns.example.com. h.example.com. 1 2 3 4 300", ans, &a);
		store(old, &q, ans, alen, &a, 0);
	}
	query("n7.example.com.", LDNS_RR_TYPE_A, 9, false, qb, &q);
	ok(cache_lookup(old, &q, 512, 1000, out, sizeof(out), &got) > 0, "the old cache holds n7");

	t0 = now_s();
	fresh = cache_new_like(old);
	t_new = now_s() - t0;
	ok(fresh != NULL, "cache_new_like: a fresh cache");
	is_int(cache_lookup(fresh, &q, 512, 1000, out, sizeof(out), &got), 0, "the fresh cache is empty");
	ok(cache_lookup(old, &q, 512, 1000, out, sizeof(out), &got) > 0,
		"making it did not touch the old one (its entries are freed elsewhere)");
	query("n8.example.com.", LDNS_RR_TYPE_A, 9, false, qb, &q);
	alen = answer(&q, LDNS_RCODE_NXDOMAIN, false, NULL,
		"example.com. 300 IN SOA ns.example.com. h.example.com. 1 2 3 4 300", ans, &a);
	store(fresh, &q, ans, alen, &a, 0);
	ok(cache_lookup(fresh, &q, 512, 1000, out, sizeof(out), &got) > 0, "the fresh cache stores");

	cache_free_detached(old);
	cache_wait_detached();
	ok(1, "cache_free_detached: the old cache freed on its own thread (the leak check "
		"of the sanitizer run and valgrind sees it returned)");

	/* For scale: what the loop would have spent walking the old table. */
	old = cache_new_like(fresh);
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "n%d.example.com.", i);
		query(name, LDNS_RR_TYPE_A, 1, false, qb, &q);
		alen = answer(&q, LDNS_RCODE_NXDOMAIN, false, NULL,
			"example.com. 300 IN SOA ns.example.com. h.example.com. 1 2 3 4 300", ans, &a);
		store(old, &q, ans, alen, &a, 0);
	}
	t0 = now_s();
	cache_free(old);
	t_free = now_s() - t0;
	printf("# cache_new_like %.3f ms, cache_free of %d entries %.3f ms\n", t_new * 1e3, MANY,
		t_free * 1e3);
	cache_free(fresh);
}

int main(void)
{
	test_hit_and_age();
	test_not_cached();
	test_replace();
	return tap_exit();
}
