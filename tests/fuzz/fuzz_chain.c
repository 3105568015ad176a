/*
 * fuzz_chain: CNAME-chain inspection on arbitrary upstream answers. Whatever wire_check_answer
 * accepts as the answer to a fixed question (WwW.Example.COM A IN) is walked with wire_chain_*:
 * every name it yields must be a well-formed, lower-case wire name of at most 255 bytes, and the
 * walk must end within WIRE_CHAIN_MAX steps; answers without CNAME/DNAME must yield nothing.
 * Then the answer is turned back into its question (wire_query_from_answer) and the answers a
 * blocked target produces are built from it, with the SOA owned by the last name of the chain;
 * they must parse with ldns and pass wire_check_answer. Any violation aborts.
 */
#include "wire.h" /* first: see the note on ldns and bool there */

#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t qname[] = "\3WwW\7Example\3COM";
static const uint8_t mname[] = "\2ns\6blokir\7invalid";
static const uint8_t rname[] = "\4root\6blokir\7invalid";
static const uint8_t landing[] = "\7landing\7example\3net";
static const uint8_t addrs[] = {192, 0, 2, 80, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0x80};

#define REQUIRE(c) do { if (!(c)) abort(); } while (0)

static uint8_t out[65536];

/* A name from the walker: labels of 1..63 lower-case-or-other bytes, ending at the root. */
static void check_name(const uint8_t *n, size_t len)
{
	size_t off = 0;
	REQUIRE(len >= 1 && len <= WIRE_NAME_MAX);
	while (n[off] != 0) {
		REQUIRE(n[off] <= 63);
		for (size_t i = 1; i <= n[off]; i++)
			REQUIRE(off + i < len && !(n[off + i] >= 'A' && n[off + i] <= 'Z'));
		off += n[off] + 1U;
		REQUIRE(off < len);
	}
	REQUIRE(off == len - 1);
}

static void check_built(const struct wire_query *q, size_t n, unsigned rcode)
{
	ldns_pkt *p = NULL;
	struct wire_answer a;

	REQUIRE(n >= WIRE_HEADER_LEN);
	REQUIRE(ldns_wire2pkt(&p, out, n) == LDNS_STATUS_OK);
	REQUIRE(ldns_pkt_id(p) == q->id && ldns_pkt_get_rcode(p) == rcode);
	REQUIRE(ldns_pkt_edns(p) == q->edns);
	ldns_pkt_free(p);
	REQUIRE(wire_check_answer(out, n, qname, sizeof qname, 1, 1, &a) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_answer a;
	struct wire_chain c;
	struct wire_query q;
	uint8_t last[WIRE_NAME_MAX];
	size_t last_len = 0, steps = 0;

	if (wire_check_answer(data, size, qname, sizeof qname, 1, 1, &a) != 0)
		return 0;
	wire_chain_init(&c, data, size, &a);
	check_name(c.name, c.name_len);
	while (wire_chain_next(&c)) {
		check_name(c.name, c.name_len);
		memcpy(last, c.name, c.name_len);
		last_len = c.name_len;
		steps++;
	}
	REQUIRE(steps <= WIRE_CHAIN_MAX);
	REQUIRE(a.alias || steps == 0);
	REQUIRE(!wire_chain_next(&c)); /* an ended walk stays ended */

	size_t limit = size > 0 && (data[size - 1] & 1) ? 65535 : 512;
	wire_query_from_answer(data, size, &a, limit, &q);
	REQUIRE(q.question_ok && q.id == a.id && q.qname_len == sizeof qname);
	REQUIRE(q.question_end == a.question_end && q.edns == (a.opt_len != 0));
	REQUIRE(wire_udp_limit(&q) == (q.edns ? limit : WIRE_UDP_MIN));

	struct wire_block b = {
		.rcode = WIRE_RCODE_NXDOMAIN, .with_soa = true,
		.soa_owner = last_len ? last : q.qname_lower, .soa_owner_len = last_len ? last_len : q.qname_len,
		.mname = mname, .mname_len = sizeof mname, .rname = rname, .rname_len = sizeof rname,
		.serial = 1, .negative_ttl = 60, .ede_text = (const char *)data, .ede_len = size,
	};
	size_t n = wire_build_blocked(&q, &b, out, limit);
	REQUIRE(n > 0 && n <= limit);
	check_built(&q, n, WIRE_RCODE_NXDOMAIN);

	struct wire_redirect r = {addrs, 1, addrs + 4, 1, NULL, 0, 30};
	if (size > 0 && (data[size - 1] & 2)) {
		r.cname = landing;
		r.cname_len = sizeof landing;
	}
	n = wire_build_redirect(&q, &b, &r, out, limit);
	REQUIRE(n > 0 && n <= limit);
	check_built(&q, n, WIRE_RCODE_NOERROR);
	return 0;
}
