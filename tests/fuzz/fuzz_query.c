/*
 * fuzz_query: wire_parse_query on arbitrary bytes, then every answer blokir would send back
 * (the error answer for the status, and for a good query a blocked answer with and without SOA,
 * and a redirect answer) is built and checked: it must fit, parse with ldns, pass wire_check_answer for the question it
 * echoes, and carry what the query said (ID, RCODE, question). Any violation aborts.
 */
#include "wire.h" /* first: see the note on ldns and bool there */

#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[65536];

static const uint8_t mname[] = "\2ns\6blokir\7invalid";
static const uint8_t rname[] = "\4root\6blokir\7invalid";

#define REQUIRE(c) do { if (!(c)) abort(); } while (0)

/* The query's own view must be consistent with the packet it came from. */
static void check_query(const uint8_t *data, size_t size, const struct wire_query *q)
{
	REQUIRE(q->packet == data && q->length == size);
	if (!q->question_ok)
		return;
	REQUIRE(q->qname_len >= 1 && q->qname_len <= WIRE_NAME_MAX);
	REQUIRE(q->question_end == WIRE_HEADER_LEN + q->qname_len + 4 && q->question_end <= size);
	for (size_t i = 0; i < q->qname_len; i++) {
		uint8_t c = data[WIRE_HEADER_LEN + i];
		REQUIRE(q->qname_lower[i] == (c >= 'A' && c <= 'Z' ? c + 32 : c));
	}
	REQUIRE(q->qname_lower[q->qname_len - 1] == 0);
}

/* An answer we built: ldns must read it and it must say what we meant. */
static void check_built(const struct wire_query *q, const uint8_t *ans, size_t n, unsigned rcode)
{
	ldns_pkt *p = NULL;
	REQUIRE(n >= WIRE_HEADER_LEN);
	REQUIRE(ldns_wire2pkt(&p, ans, n) == LDNS_STATUS_OK);
	REQUIRE(ldns_pkt_id(p) == q->id && ldns_pkt_qr(p) && ldns_pkt_ra(p) && !ldns_pkt_aa(p));
	REQUIRE(ldns_pkt_rd(p) == q->rd && ldns_pkt_cd(p) == q->cd);
	REQUIRE(ldns_pkt_get_rcode(p) == (rcode & 0x0f));
	REQUIRE(ldns_pkt_qdcount(p) == (q->question_ok ? 1 : 0));
	REQUIRE(ldns_pkt_edns(p) == (q->edns || rcode > 15));
	if (ldns_pkt_edns(p))
		REQUIRE(ldns_pkt_edns_extended_rcode(p) == rcode >> 4 &&
			ldns_pkt_edns_udp_size(p) == WIRE_EDNS_ADVERTISED);
	ldns_pkt_free(p);

	if (q->question_ok && q->opcode == 0) {
		struct wire_answer a;
		REQUIRE(wire_check_answer(ans, n, q->packet + WIRE_HEADER_LEN, q->qname_len, q->qtype,
			q->qclass, &a) == 0);
		REQUIRE(a.id == q->id && a.rcode == (rcode & 0x0f) && !a.tc);
		REQUIRE(a.question_end == q->question_end);
	}
}

static void blocked(const struct wire_query *q, const uint8_t *data, size_t size)
{
	/* Pick a label boundary of the name for the SOA owner, and the EDE text, from the input. */
	size_t labels[128], nl = 0;
	for (size_t off = 0; off < q->qname_len; off += q->qname_lower[off] + 1)
		labels[nl++] = off;
	size_t pick = size > 0 ? data[size - 1] : 0;
	struct wire_block b = {
		.rcode = (unsigned)(pick % 3 == 0 ? 3 : pick % 3 == 1 ? 0 : 5),
		.with_soa = pick & 0x80, .soa_owner_offset = labels[pick % nl],
		.mname = mname, .mname_len = sizeof mname, .rname = rname, .rname_len = sizeof rname,
		.serial = 1, .negative_ttl = 60,
		.ede_text = (const char *)data, .ede_len = size,
	};
	REQUIRE(nl == q->qname_labels + 1); /* the labels, and the root */
	size_t n = wire_build_blocked(q, &b, out, sizeof out);
	REQUIRE(n > 0);
	/* Without the EDE text our answer is at most 354 bytes, so with EDNS it always fits. */
	REQUIRE(!q->edns || n <= wire_udp_limit(q));
	check_built(q, out, n, b.rcode);

	/* The SOA a policy makes once gives the very same answer. */
	static uint8_t again[sizeof out];
	uint8_t rr[WIRE_SOA_RR_MAX];
	struct wire_block pre = b;
	pre.soa_rr = rr;
	pre.soa_rr_len = wire_soa_rr(rr, mname, sizeof mname, rname, sizeof rname, 1, 60);
	REQUIRE(wire_build_blocked(q, &pre, again, sizeof again) == n && memcmp(out, again, n) == 0);

	/* Small caps: fit or 0, never more. */
	size_t cap = (size_t)(data[0]) * 2;
	n = wire_build_blocked(q, &b, out, cap);
	REQUIRE(n <= cap);
	if (n)
		check_built(q, out, n, b.rcode);
}

/* What a redirect answer must hold: the expected answer count for Q and R (see wire.h). */
static size_t redirect_count(const struct wire_query *q, const struct wire_redirect *r)
{
	unsigned t = q->qtype;
	if (q->qclass != 1 && q->qclass != 255)
		return 0;
	if (r->cname_len)
		return t == 1 || t == 28 || t == 5 || t == 255;
	return (t == 1 || t == 255 ? r->a_count : 0) + (t == 28 || t == 255 ? r->aaaa_count : 0);
}

static void redirected(const struct wire_query *q, const uint8_t *data, size_t size)
{
	static const uint8_t addrs[16 * 64] = {192, 0, 2, 80};
	static const uint8_t landing[] = "\7landing\7example\3net";
	size_t pick = size > 1 ? data[size - 2] : 0;
	struct wire_redirect r = {
		.a = addrs, .a_count = pick % 5 == 4 ? 64 : pick % 5,
		.aaaa = addrs, .aaaa_count = (pick >> 3) % 3,
		.cname = landing, .cname_len = pick & 0x80 ? sizeof landing : 0, .ttl = 30,
	};
	struct wire_block b = {
		.rcode = 3, .with_soa = true, .soa_owner_offset = 0,
		.mname = mname, .mname_len = sizeof mname, .rname = rname, .rname_len = sizeof rname,
		.serial = 1, .negative_ttl = 60, .ede_text = (const char *)data, .ede_len = size,
	};
	size_t caps[] = {sizeof out, wire_udp_limit(q), (size_t)data[0] * 2};
	for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
		size_t n = wire_build_redirect(q, &b, &r, out, caps[i]);
		REQUIRE(n <= caps[i]);
		if (n == 0)
			continue;
		ldns_pkt *p = NULL;
		REQUIRE(ldns_wire2pkt(&p, out, n) == LDNS_STATUS_OK);
		size_t want = redirect_count(q, &r);
		bool tc = ldns_pkt_tc(p);
		if (tc)
			REQUIRE(want > 0 && ldns_pkt_ancount(p) == 0 && ldns_pkt_nscount(p) == 0);
		else
			REQUIRE(ldns_pkt_ancount(p) == want && ldns_pkt_nscount(p) == (want == 0));
		ldns_pkt_free(p);
		if (tc) {
			/* Records that do not fit this cap: TC, which is what check_built refuses. */
			struct wire_answer a;
			REQUIRE(wire_check_answer(out, n, q->packet + WIRE_HEADER_LEN, q->qname_len,
				q->qtype, q->qclass, &a) == 0 && a.tc);
		} else {
			check_built(q, out, n, 0);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_query q;
	enum wire_status st = wire_parse_query(data, size, &q);
	unsigned rcode;

	if (st == WIRE_DROP) {
		REQUIRE(size < WIRE_HEADER_LEN || (data[2] & 0x80));
		return 0;
	}
	check_query(data, size, &q);
	switch (st) {
	case WIRE_OK:
		REQUIRE(q.question_ok && q.opcode == 0 && q.question_end <= size);
		REQUIRE(!q.edns || q.edns_version == 0);
		rcode = WIRE_RCODE_SERVFAIL;
		blocked(&q, data, size);
		redirected(&q, data, size);
		break;
	case WIRE_FORMERR:
		REQUIRE(!q.edns);
		rcode = WIRE_RCODE_FORMERR;
		break;
	case WIRE_NOTIMP:
		REQUIRE(q.opcode != 0);
		rcode = WIRE_RCODE_NOTIMP;
		break;
	case WIRE_BADVERS:
		REQUIRE(q.edns && q.edns_version > 0);
		rcode = WIRE_RCODE_BADVERS;
		break;
	default:
		abort();
	}
	size_t n = wire_build_error(&q, rcode, out, sizeof out);
	REQUIRE(n > 0 && n <= sizeof out);
	check_built(&q, out, n, rcode);
	return 0;
}
