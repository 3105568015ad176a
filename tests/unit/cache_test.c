/*
 * cache_test: what the answer cache hands to whom. Queries and answers are made by hand, byte
 * by byte, with the EDNS options under test: ECS keys an entry to one subnet (masked to the
 * source prefix), an answer whose ECS does not echo the query's is not kept, COOKIE is neither
 * part of the key nor carried by a cached answer, the other options and the client's size limit
 * are part of the key.
 */
#include "wire.h" /* first: see the note on ldns and bool there */
#include "cache.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define NOW 1000000
#define QNAME "\3cdn\4test"
#define QNAME_LEN 10 /* with the root */

struct opt {
	uint16_t code;
	size_t len;
	const uint8_t *data;
};

static size_t put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

/* An OPT RR with OPTS (N of them) at P; returns its length. */
static size_t put_opt(uint8_t *p, const struct opt *opts, size_t n)
{
	size_t off = 0, rdlen = 0;

	p[off++] = 0;
	off += put16(p + off, 41);
	off += put16(p + off, 1232);
	memset(p + off, 0, 4);
	off += 4;
	for (size_t i = 0; i < n; i++)
		rdlen += 4 + opts[i].len;
	off += put16(p + off, (unsigned)rdlen);
	for (size_t i = 0; i < n; i++) {
		off += put16(p + off, opts[i].code);
		off += put16(p + off, (unsigned)opts[i].len);
		memcpy(p + off, opts[i].data, opts[i].len);
		off += opts[i].len;
	}
	return off;
}

/* cdn.test A IN, with an OPT carrying OPTS when EDNS. */
static size_t make_query(uint8_t *p, bool edns, const struct opt *opts, size_t n)
{
	static const uint8_t head[12] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	size_t off = sizeof(head);

	memcpy(p, head, sizeof(head));
	p[11] = edns;
	memcpy(p + off, QNAME, QNAME_LEN);
	off += QNAME_LEN;
	off += put16(p + off, 1);
	off += put16(p + off, 1);
	if (edns)
		off += put_opt(p + off, opts, n);
	return off;
}

/* Its answer: A ADDR (TTL 300), then the OPT with OPTS (when EDNS), then, when EXTRA_AFTER, an
 * A record after the OPT. */
static size_t make_answer(uint8_t *p, const uint8_t addr[4], bool edns, const struct opt *opts,
	size_t n, bool extra_after)
{
	static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4 };
	size_t off = make_query(p, false, NULL, 0);

	p[2] = 0x81;
	p[3] = 0x80;
	p[7] = 1;
	p[11] = (uint8_t)(edns + extra_after);
	memcpy(p + off, rr, sizeof(rr));
	memcpy(p + off + sizeof(rr), addr, 4);
	off += sizeof(rr) + 4;
	if (edns)
		off += put_opt(p + off, opts, n);
	if (extra_after) {
		memcpy(p + off, rr, sizeof(rr));
		memcpy(p + off + sizeof(rr), addr, 4);
		off += sizeof(rr) + 4;
	}
	return off;
}

static struct cache *c;
static uint8_t qbuf[512], abuf[512], out[512];

/* Stores ANS as the answer to QUERY, asked with LIMIT. */
static void store(const uint8_t *query, size_t qlen, const uint8_t *ans, size_t alen, size_t limit)
{
	struct wire_query q;
	struct wire_answer a;

	if (wire_parse_query(query, qlen, &q) != WIRE_OK ||
	    wire_check_answer(ans, alen, (const uint8_t *)QNAME, QNAME_LEN, 1, 1, &a) != 0) {
		printf("# bad test packet\n");
		exit(2);
	}
	cache_store(c, &q, limit, ans, alen, &a, NOW);
}

/* Looks QUERY up with LIMIT: the answer's length (0 on a miss), its A address in ADDR. */
static size_t lookup(const uint8_t *query, size_t qlen, size_t limit, uint8_t addr[4],
	struct wire_answer *a)
{
	struct wire_query q;

	if (wire_parse_query(query, qlen, &q) != WIRE_OK)
		exit(2);
	size_t n = cache_lookup(c, &q, limit, NOW + 1000, out, sizeof(out), a);
	if (n > 0)
		memcpy(addr, out + 12 + QNAME_LEN + 4 + 12, 4);
	return n;
}

/* Whether answer OUT (N bytes, parts in A) has option CODE; its data in DATA/LEN. */
static bool has_option(size_t n, const struct wire_answer *a, uint16_t code, const uint8_t **data,
	size_t *len)
{
	struct wire_opt_iter it;
	uint16_t oc;

	(void)n;
	wire_opt_iter_init(&it, out, a->opt_offset, a->opt_len);
	while (wire_opt_next(&it, &oc, data, len))
		if (oc == code)
			return true;
	return false;
}

/* An ECS option: family 1, SRC bits of ADDR (as many bytes as SRC needs), scope SCOPE. */
static struct opt ecs(uint8_t *buf, const uint8_t addr[4], unsigned src, unsigned scope)
{
	size_t alen = (src + 7) / 8;

	buf[0] = 0;
	buf[1] = 1;
	buf[2] = (uint8_t)src;
	buf[3] = (uint8_t)scope;
	memcpy(buf + 4, addr, alen);
	return (struct opt){ WIRE_OPT_ECS, 4 + alen, buf };
}

int main(void)
{
	static const uint8_t net_a[4] = { 198, 51, 100, 0 }, net_b[4] = { 203, 0, 113, 0 };
	static const uint8_t ans_a[4] = { 10, 198, 51, 100 }, ans_b[4] = { 10, 203, 0, 113 };
	static const uint8_t plain[4] = { 192, 0, 2, 53 };
	static const uint8_t host_bits[4] = { 198, 51, 100, 0 }, masked[4] = { 198, 51, 96, 0 };
	static const uint8_t ccookie1[8] = "client-1", ccookie2[8] = "client-2";
	static const uint8_t nsid_req[1] = { 0 };
	uint8_t eq[20], ea[20], full_cookie[24];
	uint8_t addr[4];
	struct wire_answer a;
	const uint8_t *data;
	size_t qlen, alen, n, len;

	c = cache_new(64);
	ok(c != NULL, "a cache of 64 entries");

	/* ECS: client A's tailored answer, stored for its subnet. */
	struct opt qa = ecs(eq, net_a, 24, 0), aa = ecs(ea, net_a, 24, 24);
	qlen = make_query(qbuf, true, &qa, 1);
	alen = make_answer(abuf, ans_a, true, &aa, 1, false);
	store(qbuf, qlen, abuf, alen, 1232);
	n = lookup(qbuf, qlen, 1232, addr, &a);
	ok(n == alen && memcmp(addr, ans_a, 4) == 0, "ECS 198.51.100.0/24 again: A's answer");
	ok(has_option(n, &a, WIRE_OPT_ECS, &data, &len) && len == 7 && data[2] == 24 &&
	   data[3] == 24 && memcmp(data + 4, net_a, 3) == 0, "  ... with its ECS echoed, scope 24");
	struct opt qb = ecs(eq, net_b, 24, 0);
	qlen = make_query(qbuf, true, &qb, 1);
	is_int(lookup(qbuf, qlen, 1232, addr, &a), 0, "ECS 203.0.113.0/24: not A's entry");
	qlen = make_query(qbuf, true, NULL, 0);
	is_int(lookup(qbuf, qlen, 1232, addr, &a), 0, "no ECS: not A's entry");
	qa = ecs(eq, net_a, 25, 0);
	qlen = make_query(qbuf, true, &qa, 1);
	is_int(lookup(qbuf, qlen, 1232, addr, &a), 0, "ECS 198.51.100.0/25: not the /24 entry");

	/* An answer whose ECS is not the query's (B asked, the answer names A's subnet). */
	qb = ecs(eq, net_b, 24, 0);
	qlen = make_query(qbuf, true, &qb, 1);
	aa = ecs(ea, net_a, 24, 24);
	alen = make_answer(abuf, ans_b, true, &aa, 1, false);
	store(qbuf, qlen, abuf, alen, 1232);
	is_int(lookup(qbuf, qlen, 1232, addr, &a), 0, "an answer echoing another subnet is not kept");
	/* An answer with ECS to a query without. */
	qlen = make_query(qbuf, true, NULL, 0);
	store(qbuf, qlen, abuf, alen, 1232);
	is_int(lookup(qbuf, qlen, 1232, addr, &a), 0, "an answer with ECS to a query without is not kept");
	/* Without ECS in the answer (an upstream that ignores it): kept for that subnet. */
	qlen = make_query(qbuf, true, &qb, 1);
	alen = make_answer(abuf, plain, true, NULL, 0, false);
	store(qbuf, qlen, abuf, alen, 1232);
	n = lookup(qbuf, qlen, 1232, addr, &a);
	ok(n == alen && memcmp(addr, plain, 4) == 0, "an answer without ECS is kept for the subnet asked");

	/* The address is compared masked to the source prefix. */
	struct opt q20 = ecs(eq, masked, 20, 0);
	qlen = make_query(qbuf, true, &q20, 1);
	aa = ecs(ea, masked, 20, 20);
	alen = make_answer(abuf, ans_a, true, &aa, 1, false);
	store(qbuf, qlen, abuf, alen, 1232);
	q20 = ecs(eq, host_bits, 20, 0); /* 198.51.100.0/20: bits past the prefix set */
	qlen = make_query(qbuf, true, &q20, 1);
	n = lookup(qbuf, qlen, 1232, addr, &a);
	ok(n == alen && memcmp(addr, ans_a, 4) == 0, "ECS 198.51.100.0/20 finds 198.51.96.0/20's entry");
	/* Malformed ECS (address longer than the prefix needs) and two ECS options: not cached. */
	struct opt bad = ecs(eq, net_a, 24, 0);
	bad.len = 8;
	qlen = make_query(qbuf, true, &bad, 1);
	alen = make_answer(abuf, ans_a, true, NULL, 0, false);
	store(qbuf, qlen, abuf, alen, 1232);
	is_int(lookup(qbuf, qlen, 1232, addr, &a), 0, "a query with a malformed ECS is not cached");
	struct opt two[2] = { ecs(eq, net_a, 24, 0), ecs(eq, net_a, 24, 0) };
	qlen = make_query(qbuf, true, two, 2);
	store(qbuf, qlen, abuf, alen, 1232);
	is_int(lookup(qbuf, qlen, 1232, addr, &a), 0, "a query with two ECS options is not cached");

	/* COOKIE: not in the key, cut out of the stored answer. */
	cache_clear(c);
	memcpy(full_cookie, ccookie1, 8);
	memcpy(full_cookie + 8, "server-cookie-16", 16);
	struct opt qk[2] = { { WIRE_OPT_COOKIE, 8, ccookie1 }, ecs(eq, net_a, 24, 0) };
	struct opt ak[2] = { { WIRE_OPT_COOKIE, 24, full_cookie }, ecs(ea, net_a, 24, 24) };
	qlen = make_query(qbuf, true, qk, 2);
	alen = make_answer(abuf, ans_a, true, ak, 2, false);
	store(qbuf, qlen, abuf, alen, 1232);
	qk[0].data = ccookie2;
	qlen = make_query(qbuf, true, qk, 2);
	n = lookup(qbuf, qlen, 1232, addr, &a);
	is_int(n, alen - 28, "another client cookie finds the entry, 28 bytes shorter (no COOKIE)");
	ok(!has_option(n, &a, WIRE_OPT_COOKIE, &data, &len), "  ... it carries no COOKIE");
	ok(has_option(n, &a, WIRE_OPT_ECS, &data, &len) && len == 7, "  ... and still its ECS");
	struct wire_answer chk;
	ok(wire_check_answer(out, n, (const uint8_t *)QNAME, QNAME_LEN, 1, 1, &chk) == 0 &&
	   chk.opt_len == a.opt_len, "  ... and is a well-formed answer");
	qlen = make_query(qbuf, true, &qk[1], 1);
	ok(lookup(qbuf, qlen, 1232, addr, &a) == n, "a query without COOKIE finds it too");
	/* A COOKIE in an OPT that is not the last record cannot be cut: not cached. */
	cache_clear(c);
	qlen = make_query(qbuf, true, qk, 1);
	alen = make_answer(abuf, ans_a, true, ak, 1, true);
	store(qbuf, qlen, abuf, alen, 1232);
	is_int(lookup(qbuf, qlen, 1232, addr, &a), 0, "a COOKIE before other records: not cached");
	alen = make_answer(abuf, ans_a, true, NULL, 0, true);
	store(qbuf, qlen, abuf, alen, 1232);
	is_int(lookup(qbuf, qlen, 1232, addr, &a), alen, "  ... an OPT without COOKIE there is fine");

	/* The client's size limit and its other options are part of the key. */
	cache_clear(c);
	qlen = make_query(qbuf, false, NULL, 0);
	alen = make_answer(abuf, plain, false, NULL, 0, false);
	store(qbuf, qlen, abuf, alen, 512);
	is_int(lookup(qbuf, qlen, 512, addr, &a), alen, "a UDP answer (limit 512) for limit 512");
	is_int(lookup(qbuf, qlen, 65535, addr, &a), 0, "  ... not for a TCP client (65535)");
	struct opt nsid = { WIRE_OPT_NSID, 0, nsid_req };
	qlen = make_query(qbuf, true, &nsid, 1);
	alen = make_answer(abuf, plain, true, NULL, 0, false);
	store(qbuf, qlen, abuf, alen, 1232);
	is_int(lookup(qbuf, qlen, 1232, addr, &a), alen, "an NSID query's answer for an NSID query");
	qlen = make_query(qbuf, true, NULL, 0);
	is_int(lookup(qbuf, qlen, 1232, addr, &a), 0, "  ... not for one without NSID");

	cache_free(c);
	return tap_exit();
}
