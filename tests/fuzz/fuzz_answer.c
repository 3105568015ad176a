/*
 * fuzz_answer: wire_check_answer on arbitrary bytes as the answer to a fixed question
 * (WwW.Example.COM A IN, the corpus answers it), then wire_truncate_answer to several limits and
 * wire_answer_remove_option (the cache's COOKIE cut) for a few option codes. Whatever is accepted
 * must be internally consistent, and every truncation or cut must be accepted by
 * wire_check_answer again and parse with ldns. Any violation aborts.
 */
#include "wire.h" /* first: see the note on ldns and bool there */

#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t qname[] = "\3WwW\7Example\3COM";
#define QNAME_LEN sizeof qname
#define QTYPE 1
#define QCLASS 1

#define REQUIRE(c) do { if (!(c)) abort(); } while (0)

static uint8_t buf[65536];

static void truncate_to(const uint8_t *data, size_t size, const struct wire_answer *a,
	size_t limit)
{
	memcpy(buf, data, size);
	size_t n = wire_truncate_answer(buf, size, a, limit);
	if (size <= limit) {
		REQUIRE(n == size && memcmp(buf, data, size) == 0);
		return;
	}
	if (n == 0) {
		REQUIRE(a->question_end > limit);
		return;
	}
	REQUIRE(n <= limit && n >= a->question_end);
	REQUIRE(n == a->question_end + (n > a->question_end ? a->opt_len : 0));

	struct wire_answer t;
	REQUIRE(wire_check_answer(buf, n, qname, QNAME_LEN, QTYPE, QCLASS, &t) == 0);
	REQUIRE(t.tc && t.id == a->id && t.rcode == a->rcode && t.opt_len == (n - a->question_end));

	ldns_pkt *p = NULL;
	REQUIRE(ldns_wire2pkt(&p, buf, n) == LDNS_STATUS_OK);
	REQUIRE(ldns_pkt_tc(p) && ldns_pkt_ancount(p) == 0 && ldns_pkt_nscount(p) == 0);
	ldns_pkt_free(p);
}

/* Whether ldns's parse P of DATA found the OPT record where wire_check_answer did (A). */
static bool ldns_same_opt(const ldns_pkt *p, const uint8_t *data, const struct wire_answer *a)
{
	if (a->opt_len == 0)
		return !ldns_pkt_edns(p);
	const uint8_t *opt = data + a->opt_offset;
	size_t rdlen = a->opt_len - 11;
	const ldns_rdf *d = ldns_pkt_edns_data(p);

	return ldns_pkt_edns_udp_size(p) == (opt[3] << 8 | opt[4]) &&
		ldns_pkt_edns_extended_rcode(p) == opt[5] && ldns_pkt_edns_version(p) == opt[6] &&
		(d ? ldns_rdf_size(d) == rdlen && memcmp(ldns_rdf_data(d), opt + 11, rdlen) == 0 :
		     rdlen == 0);
}

static void remove_option(const uint8_t *data, size_t size, const struct wire_answer *a,
	uint16_t code)
{
	struct wire_answer r = *a, t;
	struct wire_opt_iter it;
	const uint8_t *odata;
	uint16_t ocode;
	size_t olen;

	memcpy(buf, data, size);
	size_t n = wire_answer_remove_option(buf, size, &r, code);
	if (n == 0) {
		REQUIRE(a->opt_len != 0 && a->opt_offset + a->opt_len != size);
		return;
	}
	REQUIRE(n <= size && n == size - (a->opt_len - r.opt_len));
	REQUIRE(wire_check_answer(buf, n, qname, QNAME_LEN, QTYPE, QCLASS, &t) == 0);
	REQUIRE(t.opt_offset == r.opt_offset && t.opt_len == r.opt_len);
	wire_opt_iter_init(&it, buf, t.opt_offset, t.opt_len);
	while (wire_opt_next(&it, &ocode, &odata, &olen))
		REQUIRE(ocode != code && odata + olen <= buf + n);

	/*
	 * RDATA is only bounds-checked, so ldns may refuse the original; then the cut too. ldns may
	 * also accept it framed differently: it reads a fixed-size RDATA (an A record) by its type and
	 * not by RDLENGTH, so an A record with RDLENGTH 12 shifts every record after it and ldns
	 * finds no OPT where we do. The cut is held to ldns only when ldns framed the original as we
	 * did, which shows in the OPT it found.
	 */
	ldns_pkt *p = NULL;
	if (ldns_wire2pkt(&p, data, size) == LDNS_STATUS_OK) {
		bool same = ldns_same_opt(p, data, a);
		ldns_pkt_free(p);
		p = NULL;
		if (same) {
			REQUIRE(ldns_wire2pkt(&p, buf, n) == LDNS_STATUS_OK);
			ldns_pkt_free(p);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_answer a;

	if (size > sizeof buf || wire_check_answer(data, size, qname, QNAME_LEN, QTYPE, QCLASS, &a))
		return 0;
	REQUIRE(a.question_end == WIRE_HEADER_LEN + QNAME_LEN + 4 && a.question_end <= size);
	REQUIRE(a.id == wire_get_id(data) && a.rcode == (data[3] & 0x0f));
	if (a.opt_len) {
		REQUIRE(a.opt_offset >= a.question_end && a.opt_len >= 11);
		REQUIRE(a.opt_offset + a.opt_len <= size && data[a.opt_offset] == 0);
	}

	static const size_t limits[] = {0, 12, 33, 44, 100, 512, 1232};
	for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
		truncate_to(data, size, &a, limits[i]);
	if (size > 0)
		truncate_to(data, size, &a, size - 1);
	remove_option(data, size, &a, WIRE_OPT_COOKIE);
	remove_option(data, size, &a, WIRE_OPT_ECS);
	remove_option(data, size, &a, 0);
	return 0;
}
