/*
 * wire_test: the DNS message layer against ldns. Queries are built with ldns, the answers blokir
 * builds are parsed back with ldns, so the two implementations check each other; malformed
 * packets are made by hand, or by cutting and patching ldns output.
 */
#include "wire.h" /* first: see the note on ldns and bool there */
#include "tap.h"

#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

#define QNAME "WwW.Example.COM."
/* QNAME lower-cased in wire format, and where "example.com." starts in it. */
static const uint8_t qname_lower_wire[] = "\3www\7example\3com";
#define QNAME_LEN 17
#define SUFFIX_OFFSET 4

static const uint8_t mname[] = "\2ns\6blokir\7invalid";       /* 19 bytes with the root */
static const uint8_t rname[] = "\4root\6blokir\7invalid";     /* 21 */
#define REASON "blocked by policy: gambling"

struct edns_opt {
	bool on, dnssec_ok;
	uint16_t udp;
	uint8_t version;
};

static const struct edns_opt no_edns = {0};

/* A query made by ldns; the caller frees the wire with free(). */
static uint8_t *make_query(const char *name, ldns_rr_type type, ldns_pkt_opcode opcode, bool rd,
	bool cd, struct edns_opt e, size_t *len)
{
	ldns_pkt *p = NULL;
	uint8_t *wire = NULL;

	if (ldns_pkt_query_new_frm_str(&p, name, type, LDNS_RR_CLASS_IN, rd ? LDNS_RD : 0) !=
	    LDNS_STATUS_OK)
		goto fail;
	ldns_pkt_set_id(p, 0xbeef);
	ldns_pkt_set_opcode(p, opcode);
	ldns_pkt_set_cd(p, cd);
	if (e.on) {
		ldns_pkt_set_edns_udp_size(p, e.udp);
		ldns_pkt_set_edns_do(p, e.dnssec_ok);
		ldns_pkt_set_edns_version(p, e.version);
	}
	if (ldns_pkt2wire(&wire, p, len) != LDNS_STATUS_OK)
		wire = NULL;
fail:
	ldns_pkt_free(p);
	if (!wire) {
		fprintf(stderr, "cannot build query for %s\n", name);
		exit(2);
	}
	return wire;
}

static uint8_t *simple_query(struct edns_opt e, size_t *len)
{
	return make_query(QNAME, LDNS_RR_TYPE_A, LDNS_PACKET_QUERY, true, false, e, len);
}

/* Parses one of our answers with ldns; NULL (and a failed test) when ldns refuses it. */
static ldns_pkt *parse(const uint8_t *wire, size_t len, const char *what)
{
	ldns_pkt *p = NULL;
	ldns_status st = ldns_wire2pkt(&p, wire, len);
	if (!ok(st == LDNS_STATUS_OK, "%s: ldns parses the answer", what)) {
		printf("#   %s\n", ldns_get_errorstr_by_id(st));
		return NULL;
	}
	return p;
}

static char *owner_str(const ldns_rr *rr) { return ldns_rdf2str(ldns_rr_owner(rr)); }

static void is_owner(const ldns_rr *rr, const char *want, const char *what)
{
	char *s = rr ? owner_str(rr) : NULL;
	is_str(s, want, "%s", what);
	free(s);
}

static void is_rdf(const ldns_rdf *rdf, const char *want, const char *what)
{
	char *s = rdf ? ldns_rdf2str(rdf) : NULL;
	is_str(s, want, "%s", what);
	free(s);
}

/* Header rules every answer we build follows. */
static void check_flags(const ldns_pkt *a, bool rd, bool cd, const char *what)
{
	ok(ldns_pkt_qr(a), "%s: QR set", what);
	ok(ldns_pkt_ra(a), "%s: RA set", what);
	ok(!ldns_pkt_aa(a), "%s: AA clear", what);
	ok(!ldns_pkt_tc(a), "%s: TC clear", what);
	ok(!ldns_pkt_ad(a), "%s: AD clear", what);
	is_int(ldns_pkt_rd(a), rd, "%s: RD copied", what);
	is_int(ldns_pkt_cd(a), cd, "%s: CD copied", what);
	is_int(ldns_pkt_id(a), 0xbeef, "%s: ID copied", what);
}

static void test_parse_basic(void)
{
	size_t len;
	uint8_t *w = simple_query(no_edns, &len);
	struct wire_query q;

	is_int(wire_parse_query(w, len, &q), WIRE_OK, "plain query parses");
	is_int(q.id, 0xbeef, "id");
	ok(q.rd && !q.cd, "rd set, cd clear");
	is_int(q.opcode, 0, "opcode QUERY");
	ok(q.question_ok, "question_ok");
	is_int(q.qname_len, QNAME_LEN, "qname_len");
	ok(memcmp(q.qname_lower, qname_lower_wire, QNAME_LEN) == 0, "qname lower-cased");
	is_int(q.qtype, LDNS_RR_TYPE_A, "qtype");
	is_int(q.qclass, LDNS_RR_CLASS_IN, "qclass");
	is_int(q.question_end, len, "question_end is the end of the packet");
	ok(!q.edns, "no EDNS");
	is_int(wire_udp_limit(&q), 512, "UDP limit 512 without EDNS");
	free(w);

	w = make_query("example.org.", LDNS_RR_TYPE_AAAA, LDNS_PACKET_QUERY, false, true, no_edns,
		&len);
	is_int(wire_parse_query(w, len, &q), WIRE_OK, "RD clear, CD set parses");
	ok(!q.rd && q.cd, "rd clear, cd set");
	is_int(q.qtype, LDNS_RR_TYPE_AAAA, "qtype AAAA");
	free(w);

	/* The root name alone. */
	w = make_query(".", LDNS_RR_TYPE_NS, LDNS_PACKET_QUERY, true, false, no_edns, &len);
	is_int(wire_parse_query(w, len, &q), WIRE_OK, "root query parses");
	is_int(q.qname_len, 1, "root qname_len 1");
	free(w);
}

static void test_parse_edns(void)
{
	static const struct {
		uint16_t udp;
		size_t limit;
	} cases[] = {{4096, 4096}, {1232, 1232}, {100, 512}, {512, 512}, {65535, 65535}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len;
		struct edns_opt e = {true, i % 2 == 0, cases[i].udp, 0};
		uint8_t *w = simple_query(e, &len);
		struct wire_query q;
		is_int(wire_parse_query(w, len, &q), WIRE_OK, "EDNS %u query parses", cases[i].udp);
		ok(q.edns, "EDNS %u: edns set", cases[i].udp);
		is_int(q.edns_do, e.dnssec_ok, "EDNS %u: DO", cases[i].udp);
		is_int(q.edns_udp_size, cases[i].udp, "EDNS %u: size as advertised", cases[i].udp);
		is_int(wire_udp_limit(&q), cases[i].limit, "EDNS %u: limit", cases[i].udp);
		free(w);
	}
}

/* Appends raw bytes to a hand-made packet. */
struct raw {
	uint8_t b[1024];
	size_t n;
};

static void raw_put(struct raw *r, const void *p, size_t n)
{
	memcpy(r->b + r->n, p, n);
	r->n += n;
}

static void raw_header(struct raw *r, uint8_t flags2, uint16_t qd, uint16_t an, uint16_t ns,
	uint16_t ar)
{
	uint8_t h[12] = {0xbe, 0xef, flags2, 0, (uint8_t)(qd >> 8), (uint8_t)qd, (uint8_t)(an >> 8),
		(uint8_t)an, (uint8_t)(ns >> 8), (uint8_t)ns, (uint8_t)(ar >> 8), (uint8_t)ar};
	r->n = 0;
	raw_put(r, h, sizeof h);
}

static void test_lowercase(void)
{
	/* Every byte value in a label, in 8-byte chunks and a tail: only A-Z may change. */
	struct raw r;
	raw_header(&r, 0x01, 1, 0, 0, 0);
	/* 3 x 63 + 61 label bytes carry the values 0..249; with the lengths that is 255 bytes. */
	uint8_t name[WIRE_NAME_MAX];
	size_t n = 0;
	unsigned v = 0;
	for (int label = 0; label < 4; label++) {
		size_t l = label < 3 ? 63 : 61;
		name[n++] = (uint8_t)l;
		for (size_t i = 0; i < l; i++)
			name[n++] = (uint8_t)v++;
	}
	name[n++] = 0;
	raw_put(&r, name, n);
	raw_put(&r, "\0\1\0\1", 4);

	struct wire_query q;
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_OK, "name with every byte value parses");
	is_int(q.qname_len, n, "long name length %zu", n);
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = name[i];
		uint8_t want = c >= 'A' && c <= 'Z' ? c + 32 : c;
		if (q.qname_lower[i] != want)
			bad++;
	}
	is_int(bad, 0, "only A-Z lower-cased (label lengths and 0x80+ untouched)");
}

/* Every name length from 1 to 40 bytes, so each split between word and byte steps is hit. */
static void test_lowercase_lengths(void)
{
	int bad = 0, tested = 0;
	for (size_t n = 1; n <= 40; n++) {
		struct raw r;
		uint8_t name[64];
		size_t i = 0;
		while (i < n - 1) {
			size_t left = n - 1 - i, l = left - 1 < 5 ? left - 1 : 5;
			if (left - (l + 1) == 1)
				l--; /* never leave one byte: no label fits in it */
			if (l == 0)
				break; /* n == 2: no name has two bytes */
			name[i] = (uint8_t)l;
			for (size_t j = 1; j <= l; j++)
				name[i + j] = (uint8_t)("AzQ@[`{Zm"[(i + j) % 9]);
			i += l + 1;
		}
		if (i != n - 1)
			continue;
		tested++;
		name[i] = 0;
		raw_header(&r, 0, 1, 0, 0, 0);
		raw_put(&r, name, n);
		raw_put(&r, "\0\1\0\1", 4);
		struct wire_query q;
		if (wire_parse_query(r.b, r.n, &q) != WIRE_OK || q.qname_len != n) {
			bad++;
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			uint8_t c = name[k];
			if (q.qname_lower[k] != (c >= 'A' && c <= 'Z' ? c + 32 : c))
				bad++;
		}
	}
	is_int(bad, 0, "names of 1 to 40 bytes lower-cased exactly");
	is_int(tested, 39, "every length but 2 (no such name) tried");
}

static void test_name_limits(void)
{
	struct raw r;
	struct wire_query q;
	uint8_t label[64];
	memset(label, 'a', sizeof label);

	/* 63-byte label fine, 64 refused. */
	raw_header(&r, 0, 1, 0, 0, 0);
	label[0] = 63;
	raw_put(&r, label, 64);
	raw_put(&r, "\0\0\1\0\1", 5);
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_OK, "63-byte label parses");

	raw_header(&r, 0, 1, 0, 0, 0);
	uint8_t l64 = 64;
	raw_put(&r, &l64, 1);
	raw_put(&r, label, 64);
	raw_put(&r, "\0\0\1\0\1", 5);
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_FORMERR, "64-byte label is FORMERR");

	/* Names of exactly 255 and 256 wire bytes: 3 x 63-byte labels + one of 61 or 62. */
	for (int extra = 0; extra <= 1; extra++) {
		raw_header(&r, 0, 1, 0, 0, 0);
		for (int i = 0; i < 3; i++)
			raw_put(&r, label, 64);
		uint8_t l = (uint8_t)(61 + extra);
		raw_put(&r, &l, 1);
		raw_put(&r, label + 1, l);
		raw_put(&r, "\0\0\1\0\1", 5);
		is_int(wire_parse_query(r.b, r.n, &q), extra ? WIRE_FORMERR : WIRE_OK,
			"%d-byte name %s", 255 + extra, extra ? "is FORMERR" : "parses");
		if (!extra) {
			is_int(q.qname_len, 255, "255-byte name length");
			is_int(q.qname_labels, 4, "255-byte name: 4 labels counted");
		}
	}

	/* Reserved label types 0x40 and 0x80. */
	raw_header(&r, 0, 1, 0, 0, 0);
	raw_put(&r, "\x41" "a\0\0\1\0\1", 7);
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_FORMERR, "label type 0x40 is FORMERR");
}

static void test_drop(void)
{
	size_t len;
	uint8_t *w = simple_query(no_edns, &len);
	struct wire_query q;
	int bad = 0;
	for (size_t n = 0; n < WIRE_HEADER_LEN; n++)
		if (wire_parse_query(w, n, &q) != WIRE_DROP)
			bad++;
	is_int(bad, 0, "shorter than a header: DROP");
	w[2] |= 0x80;
	is_int(wire_parse_query(w, len, &q), WIRE_DROP, "QR=1: DROP");
	free(w);
}

static void test_formerr(void)
{
	struct raw r;
	struct wire_query q;
	uint8_t buf[512];
	size_t len;

	raw_header(&r, 0x01, 0, 0, 0, 0);
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_FORMERR, "QDCOUNT 0: FORMERR");
	ok(!q.question_ok, "QDCOUNT 0: no question");
	size_t n = wire_build_error(&q, WIRE_RCODE_FORMERR, buf, sizeof buf);
	is_int(n, WIRE_HEADER_LEN, "FORMERR without question is a bare header");
	ldns_pkt *a = parse(buf, n, "FORMERR QDCOUNT 0");
	if (a) {
		is_int(ldns_pkt_get_rcode(a), LDNS_RCODE_FORMERR, "rcode FORMERR");
		check_flags(a, true, false, "FORMERR QDCOUNT 0");
		is_int(ldns_pkt_qdcount(a), 0, "no question echoed");
		ldns_pkt_free(a);
	}

	/* QDCOUNT 2: the same question twice. */
	uint8_t *w = simple_query(no_edns, &len);
	memcpy(r.b, w, len);
	memcpy(r.b + len, w + WIRE_HEADER_LEN, len - WIRE_HEADER_LEN);
	r.b[5] = 2;
	is_int(wire_parse_query(r.b, 2 * len - WIRE_HEADER_LEN, &q), WIRE_FORMERR,
		"QDCOUNT 2: FORMERR");

	/* Every truncation of a valid EDNS query: never OK except at full length. */
	free(w);
	w = simple_query((struct edns_opt){true, true, 4096, 0}, &len);
	int bad = 0;
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1); /* exact size so ASan sees overreads */
		memcpy(copy, w, cut);
		enum wire_status st = wire_parse_query(copy, cut, &q);
		if (st == WIRE_OK || (cut >= WIRE_HEADER_LEN && st != WIRE_FORMERR))
			bad++;
		else if (st == WIRE_FORMERR && wire_build_error(&q, 1, buf, sizeof buf) == 0)
			bad++;
		free(copy);
	}
	is_int(bad, 0, "all %zu truncations are DROP or FORMERR", len);
	is_int(wire_parse_query(w, len, &q), WIRE_OK, "full length is OK");

	/* Trailing garbage. */
	memcpy(r.b, w, len);
	r.b[len] = 0;
	is_int(wire_parse_query(r.b, len + 1, &q), WIRE_FORMERR, "trailing byte: FORMERR");
	ok(q.question_ok && !q.edns, "trailing byte: question kept, EDNS not trusted");

	/* Two OPT records. */
	size_t opt_len = len - q.question_end;
	memcpy(r.b, w, len);
	memcpy(r.b + len, w + q.question_end, opt_len);
	r.b[11] = 2;
	is_int(wire_parse_query(r.b, len + opt_len, &q), WIRE_FORMERR, "two OPTs: FORMERR");

	/* OPT in the answer section, and OPT with a non-root owner. */
	memcpy(r.b, w, len);
	r.b[7] = 1, r.b[11] = 0;
	is_int(wire_parse_query(r.b, len, &q), WIRE_FORMERR, "OPT in answer section: FORMERR");
	size_t qe = WIRE_HEADER_LEN + QNAME_LEN + 4;
	memcpy(r.b, w, qe);
	r.n = qe;
	raw_put(&r, "\1x", 2);
	raw_put(&r, w + qe, len - qe);
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_FORMERR, "OPT owner not root: FORMERR");

	/* OPT whose option overruns its RDATA. */
	r.n = 0;
	raw_put(&r, w, len);
	raw_put(&r, "\0\12\0\5ab", 6); /* option 10, length 5, only 2 bytes */
	r.b[len - 1] = 6;              /* RDLENGTH */
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_FORMERR, "bad option in OPT: FORMERR");
	r.b[len + 3] = 2;
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_OK, "the same option fixed parses");
	free(w);

	/* A compression pointer in the question. */
	raw_header(&r, 0x01, 1, 0, 0, 0);
	raw_put(&r, "\xc0\x0c\0\1\0\1", 6);
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_FORMERR, "pointer as question: FORMERR");
	raw_header(&r, 0x01, 1, 0, 0, 0);
	raw_put(&r, "\3www\xc0\x0c\0\1\0\1", 10);
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_FORMERR, "pointer inside question: FORMERR");
}

/* An additional-section record with a compressed owner is fine in a query; bad pointers not. */
static void test_query_records(void)
{
	struct raw r;
	struct wire_query q;

	raw_header(&r, 0x01, 1, 0, 0, 1);
	raw_put(&r, "\3www\7example\3com\0\0\1\0\1", QNAME_LEN + 4);
	raw_put(&r, "\xc0\x10\0\1\0\1\0\0\0\0\0\4\1\2\3\4", 16); /* example.com A */
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_OK, "backward pointer in additional: OK");
	r.b[QNAME_LEN + 4 + 13] = 0x30; /* point forward, past itself */
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_FORMERR, "forward pointer: FORMERR");
	r.b[QNAME_LEN + 4 + 13] = 0x05; /* into the header */
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_FORMERR, "pointer into header: FORMERR");
	r.b[QNAME_LEN + 4 + 13] = QNAME_LEN + 4 + 12; /* to itself */
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_FORMERR, "pointer to itself: FORMERR");
	r.b[QNAME_LEN + 4 + 13] = 0x10;
	r.b[r.n - 5] = 5; /* RDLENGTH past the end */
	is_int(wire_parse_query(r.b, r.n, &q), WIRE_FORMERR, "RDLENGTH past the end: FORMERR");
}

static void test_notimp(void)
{
	static const struct {
		ldns_pkt_opcode op;
		unsigned code;
		const char *name;
	} ops[] = {{LDNS_PACKET_STATUS, 2, "STATUS"}, {LDNS_PACKET_NOTIFY, 4, "NOTIFY"}};
	for (size_t i = 0; i < 2; i++) {
		size_t len;
		uint8_t *w = make_query(QNAME, LDNS_RR_TYPE_SOA, ops[i].op, true, false,
			(struct edns_opt){true, false, 1400, 0}, &len);
		struct wire_query q;
		uint8_t buf[512];
		is_int(wire_parse_query(w, len, &q), WIRE_NOTIMP, "%s: NOTIMP", ops[i].name);
		ok(q.question_ok, "%s: question parsed for the echo", ops[i].name);
		is_int(q.opcode, ops[i].code, "%s: opcode", ops[i].name);
		size_t n = wire_build_error(&q, WIRE_RCODE_NOTIMP, buf, sizeof buf);
		ldns_pkt *a = parse(buf, n, ops[i].name);
		if (a) {
			is_int(ldns_pkt_get_rcode(a), LDNS_RCODE_NOTIMPL, "%s: rcode", ops[i].name);
			is_int(ldns_pkt_get_opcode(a), ops[i].op, "%s: opcode copied", ops[i].name);
			is_int(ldns_pkt_qdcount(a), 1, "%s: question echoed", ops[i].name);
			is_owner(ldns_rr_list_rr(ldns_pkt_question(a), 0), QNAME, "question case kept");
			ok(ldns_pkt_edns(a), "%s: OPT answered with OPT", ops[i].name);
			ldns_pkt_free(a);
		}
		free(w);
	}
}

static void test_badvers(void)
{
	size_t len;
	uint8_t *w = simple_query((struct edns_opt){true, true, 4096, 1}, &len);
	struct wire_query q;
	uint8_t buf[512];

	is_int(wire_parse_query(w, len, &q), WIRE_BADVERS, "EDNS version 1: BADVERS");
	ok(q.edns && q.edns_do, "BADVERS: edns fields set");
	is_int(q.edns_version, 1, "BADVERS: version");
	size_t n = wire_build_error(&q, WIRE_RCODE_BADVERS, buf, sizeof buf);
	is_int(n, len, "BADVERS answer: header, question, OPT");
	ldns_pkt *a = parse(buf, n, "BADVERS");
	if (a) {
		check_flags(a, true, false, "BADVERS");
		is_int(ldns_pkt_get_rcode(a), 0, "BADVERS: header RCODE 0");
		is_int(ldns_pkt_edns_extended_rcode(a), 1, "BADVERS: extended RCODE 1");
		is_int(ldns_pkt_edns_version(a), 0, "BADVERS: our version 0");
		is_int(ldns_pkt_edns_udp_size(a), 1232, "BADVERS: udp size 1232");
		ok(ldns_pkt_edns_do(a), "BADVERS: DO copied");
		ldns_pkt_free(a);
	}
	ok(wire_build_error(&q, WIRE_RCODE_BADVERS, buf, n - 1) == 0, "cap too small: 0");
	free(w);

	/* Error answers keep EDNS when the query had it, and don't invent it. */
	w = simple_query((struct edns_opt){true, false, 1400, 0}, &len);
	wire_parse_query(w, len, &q);
	n = wire_build_error(&q, WIRE_RCODE_SERVFAIL, buf, sizeof buf);
	a = parse(buf, n, "SERVFAIL with EDNS");
	if (a) {
		is_int(ldns_pkt_get_rcode(a), LDNS_RCODE_SERVFAIL, "SERVFAIL rcode");
		ok(ldns_pkt_edns(a) && !ldns_pkt_edns_do(a), "SERVFAIL: OPT, DO clear");
		ldns_pkt_free(a);
	}
	free(w);
	w = simple_query(no_edns, &len);
	wire_parse_query(w, len, &q);
	n = wire_build_error(&q, WIRE_RCODE_REFUSED, buf, sizeof buf);
	is_int(n, len, "REFUSED without EDNS: header and question");
	a = parse(buf, n, "REFUSED");
	if (a) {
		is_int(ldns_pkt_get_rcode(a), LDNS_RCODE_REFUSED, "REFUSED rcode");
		check_flags(a, true, false, "REFUSED");
		ok(!ldns_pkt_edns(a) && ldns_pkt_arcount(a) == 0, "REFUSED: no OPT");
		ldns_pkt_free(a);
	}
	free(w);
}

static struct wire_block block(unsigned rcode, bool soa, const char *text)
{
	return (struct wire_block){
		.rcode = rcode, .with_soa = soa, .soa_owner_offset = SUFFIX_OFFSET,
		.mname = mname, .mname_len = sizeof mname, .rname = rname, .rname_len = sizeof rname,
		.serial = 2024061501, .negative_ttl = 300,
		.ede_text = text, .ede_len = text ? strlen(text) : 0};
}

/* The EDE option in A's OPT: info code and text, or -1 when there is none. */
static int ede_of(const ldns_pkt *a, char *text, size_t cap)
{
	const ldns_rdf *d = ldns_pkt_edns_data(a);
	if (!d || ldns_rdf_size(d) < 6)
		return -1;
	const uint8_t *p = ldns_rdf_data(d);
	size_t olen = (size_t)(p[2] << 8 | p[3]);
	if ((p[0] << 8 | p[1]) != 15 || olen + 4 != ldns_rdf_size(d) || olen < 2 || olen - 2 >= cap)
		return -1;
	memcpy(text, p + 6, olen - 2);
	text[olen - 2] = '\0';
	return p[4] << 8 | p[5];
}

static void test_blocked(void)
{
	size_t len;
	uint8_t *w = make_query(QNAME, LDNS_RR_TYPE_AAAA, LDNS_PACKET_QUERY, true, true,
		(struct edns_opt){true, true, 4096, 0}, &len);
	struct wire_query q;
	uint8_t buf[1500];
	char text[600];

	is_int(wire_parse_query(w, len, &q), WIRE_OK, "blocked: query parses");
	struct wire_block b = block(WIRE_RCODE_NXDOMAIN, true, REASON);
	size_t n = wire_build_blocked(&q, &b, buf, sizeof buf);
	ok(n > 0, "NXDOMAIN built (%zu bytes)", n);
	ldns_pkt *a = parse(buf, n, "NXDOMAIN");
	if (a) {
		check_flags(a, true, true, "NXDOMAIN");
		is_int(ldns_pkt_get_rcode(a), LDNS_RCODE_NXDOMAIN, "rcode NXDOMAIN");
		is_int(ldns_pkt_qdcount(a), 1, "one question");
		ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(a), 0);
		is_owner(qr, QNAME, "question echoed with original case");
		is_int(ldns_rr_get_type(qr), LDNS_RR_TYPE_AAAA, "question type");
		is_int(ldns_pkt_ancount(a), 0, "no answers");
		is_int(ldns_pkt_nscount(a), 1, "one authority record");
		ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_authority(a), 0);
		if (ok(soa && ldns_rr_get_type(soa) == LDNS_RR_TYPE_SOA, "authority is a SOA")) {
			is_owner(soa, "Example.COM.", "SOA owner is the matched suffix");
			is_int(ldns_rr_ttl(soa), 300, "SOA TTL is the negative TTL");
			is_int(ldns_rr_get_class(soa), LDNS_RR_CLASS_IN, "SOA class IN");
			is_rdf(ldns_rr_rdf(soa, 0), "ns.blokir.invalid.", "mname");
			is_rdf(ldns_rr_rdf(soa, 1), "root.blokir.invalid.", "rname");
			is_int(ldns_rdf2native_int32(ldns_rr_rdf(soa, 2)), 2024061501, "serial");
			is_int(ldns_rdf2native_int32(ldns_rr_rdf(soa, 3)), 3600, "refresh");
			is_int(ldns_rdf2native_int32(ldns_rr_rdf(soa, 4)), 600, "retry");
			is_int(ldns_rdf2native_int32(ldns_rr_rdf(soa, 5)), 86400, "expire");
			is_int(ldns_rdf2native_int32(ldns_rr_rdf(soa, 6)), 300, "minimum");
		}
		ok(ldns_pkt_edns(a), "OPT present");
		is_int(ldns_pkt_edns_udp_size(a), 1232, "OPT udp size 1232");
		ok(ldns_pkt_edns_do(a), "DO copied");
		is_int(ldns_pkt_edns_version(a), 0, "version 0");
		is_int(ede_of(a, text, sizeof text), WIRE_EDE_CENSORED, "EDE info-code 16");
		const char *got = text;
		is_str(got, REASON, "EDE text");
		is_int(buf[10] << 8 | buf[11], 1, "ARCOUNT 1 on the wire (ldns hides the OPT)");
		ldns_pkt_free(a);
	}
	struct wire_answer ca;
	is_int(wire_check_answer(buf, n, w + WIRE_HEADER_LEN, QNAME_LEN, LDNS_RR_TYPE_AAAA, 1, &ca),
		0, "our own answer passes wire_check_answer");

	/* Any cap: the answer fits it or the result is 0. */
	int bad = 0;
	for (size_t cap = 0; cap <= n; cap++) {
		size_t m = wire_build_blocked(&q, &b, buf, cap);
		if (m > cap || (m == 0 && cap >= n - strlen(REASON) - 6))
			bad++;
	}
	is_int(bad, 0, "every cap respected; EDE dropped before giving up");

	/* Without EDNS: no OPT. NODATA without SOA. SOA at the root of the name. */
	free(w);
	w = simple_query(no_edns, &len);
	wire_parse_query(w, len, &q);
	b = block(WIRE_RCODE_NXDOMAIN, true, REASON);
	n = wire_build_blocked(&q, &b, buf, sizeof buf);
	a = parse(buf, n, "NXDOMAIN without EDNS");
	if (a) {
		check_flags(a, true, false, "no EDNS");
		ok(!ldns_pkt_edns(a) && ldns_pkt_arcount(a) == 0, "no OPT without EDNS");
		is_int(ldns_pkt_nscount(a), 1, "SOA still there");
		ldns_pkt_free(a);
	}
	b = block(WIRE_RCODE_NOERROR, false, NULL);
	n = wire_build_blocked(&q, &b, buf, sizeof buf);
	is_int(n, len, "NODATA without SOA: header and question only");
	a = parse(buf, n, "NODATA");
	if (a) {
		is_int(ldns_pkt_get_rcode(a), LDNS_RCODE_NOERROR, "rcode NOERROR");
		is_int(ldns_pkt_nscount(a), 0, "no SOA");
		ldns_pkt_free(a);
	}
	b = block(WIRE_RCODE_REFUSED, true, NULL);
	b.soa_owner_offset = QNAME_LEN - 1;
	n = wire_build_blocked(&q, &b, buf, sizeof buf);
	a = parse(buf, n, "REFUSED with root SOA");
	if (a) {
		is_int(ldns_pkt_get_rcode(a), LDNS_RCODE_REFUSED, "rcode REFUSED");
		is_owner(ldns_rr_list_rr(ldns_pkt_authority(a), 0), ".", "SOA owner the root");
		ldns_pkt_free(a);
	}
	b.soa_owner_offset = QNAME_LEN;
	is_int(wire_build_blocked(&q, &b, buf, sizeof buf), 0, "SOA owner offset out of range: 0");
	free(w);
}

/*
 * The SOA a policy makes once (wire_soa_rr, copied through wire_block's soa_rr) gives the very
 * bytes of the one written field by field, with and without EDNS, and follows the question's
 * class as that one does (CH kept, ANY and NONE written as IN).
 */
static void test_soa_prebuilt(void)
{
	static const uint16_t classes[] = {1, 3, 254, 255};
	uint8_t rr[WIRE_SOA_RR_MAX], by_field[600], copied[600];
	size_t rr_len = wire_soa_rr(rr, mname, sizeof mname, rname, sizeof rname, 2024061501, 300);

	is_int(rr_len, 10 + sizeof mname + sizeof rname + 20, "wire_soa_rr length");
	for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
		for (int edns = 0; edns <= 1; edns++) {
			struct raw r;
			struct wire_query q;
			uint8_t tail[4] = {0, 1, (uint8_t)(classes[i] >> 8), (uint8_t)classes[i]};
			static const uint8_t opt[] = {0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0};

			raw_header(&r, 0x01, 1, 0, 0, (uint16_t)edns);
			raw_put(&r, "WwWExampleCOM", 17);
			raw_put(&r, tail, 4);
			if (edns)
				raw_put(&r, opt, sizeof opt);
			is_int(wire_parse_query(r.b, r.n, &q), WIRE_OK, "class %u query parses", classes[i]);
			is_int(q.qname_labels, 3, "class %u: 3 labels", classes[i]);
			struct wire_block b = block(WIRE_RCODE_NXDOMAIN, true, REASON);
			size_t n1 = wire_build_blocked(&q, &b, by_field, sizeof by_field);
			b.soa_rr = rr;
			b.soa_rr_len = rr_len;
			b.mname = b.rname = NULL; /* not read */
			b.mname_len = b.rname_len = 0;
			size_t n2 = wire_build_blocked(&q, &b, copied, sizeof copied);
			ok(n1 > 0 && n1 == n2 && memcmp(by_field, copied, n1) == 0,
				"class %u%s: the prebuilt SOA gives the same answer", classes[i],
				edns ? ", EDNS" : "");
			uint16_t want = classes[i] >= 254 ? 1 : classes[i];
			size_t cls = 12 + 21 + 2 + 2; /* header, question, owner pointer, type */
			is_int(copied[cls] << 8 | copied[cls + 1], want, "class %u: SOA class %u",
				classes[i], want);
		}
	}
}

static void test_ede_truncation(void)
{
	size_t len;
	uint8_t *w = simple_query((struct edns_opt){true, false, 512, 0}, &len);
	struct wire_query q;
	uint8_t buf[4096];
	char text[2048];
	char got[2048];

	/* Two-byte UTF-8 characters: a cut must never split one. */
	for (size_t i = 0; i + 2 < sizeof text; i += 2)
		memcpy(text + i, "\xc3\xa9", 2);
	text[sizeof text - 2] = '\0';
	wire_parse_query(w, len, &q);
	for (size_t extra = 0; extra < 2; extra++) {
		struct wire_block b = block(WIRE_RCODE_NXDOMAIN, true, text + extra);
		size_t n = wire_build_blocked(&q, &b, buf, sizeof buf);
		is_int(n > 0 && n <= 512, 1, "long EDE text cut to fit 512 (%zu)", n);
		ldns_pkt *a = parse(buf, n, "truncated EDE");
		if (a) {
			is_int(ede_of(a, got, sizeof got), 16, "EDE still there");
			size_t gl = strlen(got);
			ok(gl > 300 && (gl - extra) % 2 == 0, "text cut on a character boundary (%zu)", gl);
			ldns_pkt_free(a);
		}
	}
	free(w);
}

/* A real answer built by ldns: CNAME chain, NS, glue, OPT; ldns compresses the names. */
static uint8_t *make_answer(size_t extra_a, size_t *len)
{
	static const char *rrs[] = {
		QNAME " 300 IN CNAME web.example.com.",
		"web.example.com. 300 IN A 192.0.2.1",
		"example.com. 3600 IN NS ns1.example.com.",
		"ns1.example.com. 3600 IN A 192.0.2.53",
	};
	static const ldns_pkt_section sect[] = {LDNS_SECTION_ANSWER, LDNS_SECTION_ANSWER,
		LDNS_SECTION_AUTHORITY, LDNS_SECTION_ADDITIONAL};
	ldns_pkt *p = NULL;
	uint8_t *wire = NULL;

	if (ldns_pkt_query_new_frm_str(&p, QNAME, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD) !=
	    LDNS_STATUS_OK)
		goto fail;
	ldns_pkt_set_id(p, 0x1234);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_ra(p, true);
	for (size_t i = 0; i < sizeof rrs / sizeof rrs[0]; i++) {
		ldns_rr *rr = NULL;
		if (ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL) != LDNS_STATUS_OK)
			goto fail;
		ldns_pkt_push_rr(p, sect[i], rr);
	}
	for (size_t i = 0; i < extra_a; i++) {
		char s[80];
		ldns_rr *rr = NULL;
		snprintf(s, sizeof s, "web.example.com. 300 IN A 198.51.100.%zu", i % 250);
		if (ldns_rr_new_frm_str(&rr, s, 0, NULL, NULL) != LDNS_STATUS_OK)
			goto fail;
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	ldns_pkt_set_edns_udp_size(p, 1232);
	ldns_pkt_set_edns_do(p, true);
	if (ldns_pkt2wire(&wire, p, len) != LDNS_STATUS_OK)
		wire = NULL;
fail:
	ldns_pkt_free(p);
	if (!wire) {
		fprintf(stderr, "cannot build answer\n");
		exit(2);
	}
	return wire;
}

static int check(const uint8_t *ans, size_t len, struct wire_answer *a)
{
	return wire_check_answer(ans, len, (const uint8_t *)"\3WwW\7Example\3COM", QNAME_LEN,
		LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, a);
}

/* Offset of the first compression pointer after the question, or 0. */
static size_t find_pointer(const uint8_t *w, size_t len)
{
	for (size_t i = WIRE_HEADER_LEN + QNAME_LEN + 4; i + 1 < len; i++)
		if ((w[i] & 0xc0) == 0xc0)
			return i;
	return 0;
}

static void test_check_answer(void)
{
	size_t len;
	uint8_t *w = make_answer(0, &len);
	uint8_t copy[2048];
	struct wire_answer a;

	size_t ptr = find_pointer(w, len);
	ok(ptr != 0, "ldns compressed the answer (pointer at %zu)", ptr);
	is_int(check(w, len, &a), 0, "real answer accepted");
	is_int(a.id, 0x1234, "id");
	ok(!a.tc, "tc clear");
	is_int(a.rcode, 0, "rcode");
	is_int(a.question_end, WIRE_HEADER_LEN + QNAME_LEN + 4, "question_end");
	is_int(a.opt_len, 11, "OPT found, 11 bytes");
	is_int(a.opt_offset + a.opt_len, len, "OPT is last");
	is_int(wire_check_answer(w, len, (const uint8_t *)"\3www\7example\3com", QNAME_LEN, 1, 1,
		&a), -1, "different qname case rejected");
	is_int(wire_check_answer(w, len, (const uint8_t *)"\3WwW\7Example\3COM", QNAME_LEN, 28, 1,
		&a), -1, "different qtype rejected");
	is_int(wire_check_answer(w, len, (const uint8_t *)"\3WwW\7Example\3COM", QNAME_LEN, 1, 3,
		&a), -1, "different qclass rejected");

	memcpy(copy, w, len);
	copy[2] &= 0x7f;
	is_int(check(copy, len, &a), -1, "QR=0 rejected");
	memcpy(copy, w, len);
	copy[5] = 2;
	is_int(check(copy, len, &a), -1, "QDCOUNT 2 rejected");

	int bad = 0;
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *t = malloc(cut ? cut : 1);
		memcpy(t, w, cut);
		if (check(t, cut, &a) != -1)
			bad++;
		free(t);
	}
	is_int(bad, 0, "every truncation rejected");

	memcpy(copy, w, len);
	copy[len] = 0;
	is_int(check(copy, len + 1, &a), -1, "trailing garbage rejected");

	memcpy(copy, w, len);
	copy[ptr] = 0xc0;
	copy[ptr + 1] = (uint8_t)(ptr + 2);
	is_int(check(copy, len, &a), -1, "forward pointer rejected");
	copy[ptr + 1] = (uint8_t)ptr;
	is_int(check(copy, len, &a), -1, "pointer to itself rejected");
	copy[ptr + 1] = 2;
	is_int(check(copy, len, &a), -1, "pointer into the header rejected");

	/* A TC answer with empty sections (what a server sends before TCP retry). */
	memcpy(copy, w, WIRE_HEADER_LEN + QNAME_LEN + 4);
	copy[2] |= 0x02;
	memset(copy + 6, 0, 6);
	is_int(check(copy, WIRE_HEADER_LEN + QNAME_LEN + 4, &a), 0, "empty TC answer accepted");
	ok(a.tc && a.opt_len == 0, "tc set, no OPT");
	free(w);
}

static void test_truncate(void)
{
	size_t len;
	uint8_t *w = make_answer(60, &len);
	uint8_t copy[4096];
	struct wire_answer a;

	ok(len > 512, "big answer is %zu bytes", len);
	is_int(check(w, len, &a), 0, "big answer accepted");
	memcpy(copy, w, len);
	is_int(wire_truncate_answer(copy, len, &a, len), len, "fits: unchanged");
	ok(memcmp(copy, w, len) == 0, "fits: bytes unchanged");

	size_t n = wire_truncate_answer(copy, len, &a, 512);
	ok(n > 0 && n <= 512, "truncated to %zu", n);
	ldns_pkt *p = parse(copy, n, "truncated answer");
	if (p) {
		ok(ldns_pkt_tc(p), "TC set");
		is_int(ldns_pkt_ancount(p), 0, "no answers");
		is_int(ldns_pkt_nscount(p), 0, "no authority");
		is_int(ldns_pkt_qdcount(p), 1, "question kept");
		ok(ldns_pkt_edns(p) && ldns_pkt_edns_do(p), "OPT kept");
		is_int(ldns_pkt_edns_udp_size(p), 1232, "OPT unchanged");
		is_int(ldns_pkt_id(p), 0x1234, "ID kept");
		ldns_pkt_free(p);
	}
	struct wire_answer a2;
	is_int(check(copy, n, &a2), 0, "truncated answer passes the check itself");
	ok(a2.tc, "and is TC");

	size_t qe = a.question_end;
	memcpy(copy, w, len);
	n = wire_truncate_answer(copy, len, &a, qe + 5);
	is_int(n, qe, "no room for the OPT: header and question");
	p = parse(copy, n, "truncated without OPT");
	if (p) {
		ok(ldns_pkt_tc(p) && !ldns_pkt_edns(p) && ldns_pkt_arcount(p) == 0, "TC, no OPT");
		ldns_pkt_free(p);
	}
	memcpy(copy, w, len);
	is_int(wire_truncate_answer(copy, len, &a, qe - 1), 0, "not even the question fits: 0");
	free(w);
}

/* ---- redirect answers ---- */

/* is_str for a buffer (the macro's NULL test warns on an array). */
static void is_text(const char *got, const char *want, const char *what)
{
	is_str(got, want, "%s", what);
}

static const uint8_t v4[] = {192, 0, 2, 80, 192, 0, 2, 81};
static const uint8_t v6[] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80};
static const uint8_t landing[] = "\7landing\7example\3net"; /* 21 bytes with the root */

static uint8_t *query_class(const char *name, ldns_rr_type type, ldns_rr_class cls,
	struct edns_opt e, size_t *len)
{
	ldns_pkt *p = NULL;
	uint8_t *wire = NULL;

	if (ldns_pkt_query_new_frm_str(&p, name, type, cls, LDNS_RD) == LDNS_STATUS_OK) {
		ldns_pkt_set_id(p, 0xbeef);
		if (e.on) {
			ldns_pkt_set_edns_udp_size(p, e.udp);
			ldns_pkt_set_edns_do(p, e.dnssec_ok);
		}
		if (ldns_pkt2wire(&wire, p, len) != LDNS_STATUS_OK)
			wire = NULL;
	}
	ldns_pkt_free(p);
	if (!wire)
		exit(2);
	return wire;
}

/*
 * Builds the redirect answer to NAME TYPE CLASS and parses it; NULL when building or parsing
 * failed (a failed test). *N gets the length.
 */
static ldns_pkt *redirect_answer(const char *name, ldns_rr_type type, ldns_rr_class cls,
	struct edns_opt e, const struct wire_redirect *r, size_t cap, size_t *n, const char *what)
{
	size_t len;
	uint8_t *w = query_class(name, type, cls, e, &len);
	static uint8_t buf[65536];
	struct wire_query q;
	struct wire_block b = block(WIRE_RCODE_NXDOMAIN, true, REASON);
	ldns_pkt *a = NULL;

	if (wire_parse_query(w, len, &q) != WIRE_OK || q.qname_len <= SUFFIX_OFFSET)
		b.soa_owner_offset = 0;
	*n = wire_build_redirect(&q, &b, r, buf, cap);
	if (ok(*n > 0 && *n <= cap, "%s: built (%zu bytes)", what, *n))
		a = parse(buf, *n, what);
	free(w);
	return a;
}

/* The answer section holds COUNT records of TYPE owned by OWNER with TTL; rdata as text. */
static void is_records(const ldns_pkt *a, size_t count, ldns_rr_type type, const char *owner,
	uint32_t ttl, const char *const *rdata, const char *what)
{
	const ldns_rr_list *an = ldns_pkt_answer(a);
	int bad = 0;

	if (!is_int(ldns_rr_list_rr_count(an), count, "%s: %zu answer records", what, count))
		return;
	for (size_t i = 0; i < count; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		char *o = owner_str(rr), *d = ldns_rdf2str(ldns_rr_rdf(rr, 0));
		if (ldns_rr_get_type(rr) != type || strcmp(o, owner) != 0 || ldns_rr_ttl(rr) != ttl ||
		    ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN || strcmp(d, rdata[i]) != 0) {
			printf("#   record %zu: %s type %d ttl %u %s\n", i, o, ldns_rr_get_type(rr),
				ldns_rr_ttl(rr), d);
			bad++;
		}
		free(o);
		free(d);
	}
	ok(bad == 0, "%s: type, owner (the question as sent), class IN, TTL and data", what);
}

/* NODATA: NOERROR, no answer, one SOA owned by the entry's name. */
static void is_nodata(ldns_pkt *a, const char *soa_owner, const char *what)
{
	if (!a)
		return;
	check_flags(a, true, false, what);
	is_int(ldns_pkt_get_rcode(a), LDNS_RCODE_NOERROR, "%s: NOERROR", what);
	is_int(ldns_pkt_ancount(a), 0, "%s: empty answer", what);
	if (is_int(ldns_pkt_nscount(a), 1, "%s: one authority record", what)) {
		const ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_authority(a), 0);
		ok(ldns_rr_get_type(soa) == LDNS_RR_TYPE_SOA, "%s: it is the SOA", what);
		is_owner(soa, soa_owner, what);
	}
	ldns_pkt_free(a);
}

static void test_redirect_addresses(void)
{
	const struct wire_redirect r = {v4, 2, v6, 1, NULL, 0, 30};
	const struct edns_opt e = {true, true, 1232, 0};
	static const char *const a_data[] = {"192.0.2.80", "192.0.2.81"};
	static const char *const aaaa_data[] = {"2001:db8::80"};
	static const char *const any_data[] = {"192.0.2.80", "192.0.2.81", "2001:db8::80"};
	char text[200];
	size_t n;

	ldns_pkt *a = redirect_answer(QNAME, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, e, &r, 4096, &n,
		"redirect A");
	if (a) {
		check_flags(a, true, false, "redirect A");
		is_int(ldns_pkt_get_rcode(a), LDNS_RCODE_NOERROR, "redirect A: NOERROR");
		is_records(a, 2, LDNS_RR_TYPE_A, "WwW.Example.COM.", 30, a_data, "redirect A");
		is_int(ldns_pkt_nscount(a), 0, "redirect A: no SOA with an answer");
		ok(ldns_pkt_edns(a) && ldns_pkt_edns_do(a), "redirect A: OPT, DO copied");
		is_int(ede_of(a, text, sizeof text), WIRE_EDE_CENSORED, "redirect A: EDE 16");
		is_text(text, REASON, "redirect A: EDE text is the reason");
		ldns_pkt_free(a);
	}
	a = redirect_answer(QNAME, LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, no_edns, &r, 4096, &n,
		"redirect AAAA");
	if (a) {
		is_records(a, 1, LDNS_RR_TYPE_AAAA, "WwW.Example.COM.", 30, aaaa_data, "redirect AAAA");
		ok(!ldns_pkt_edns(a), "redirect AAAA: no OPT without EDNS");
		ldns_pkt_free(a);
	}
	a = redirect_answer(QNAME, LDNS_RR_TYPE_ANY, LDNS_RR_CLASS_IN, no_edns, &r, 4096, &n,
		"redirect ANY");
	if (a) {
		const ldns_rr_list *an = ldns_pkt_answer(a);
		is_int(ldns_rr_list_rr_count(an), 3, "redirect ANY: both families");
		if (ldns_rr_list_rr_count(an) == 3) {
			int bad = 0;
			for (size_t i = 0; i < 3; i++) {
				char *d = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(an, i), 0));
				bad += strcmp(d, any_data[i]) != 0;
				free(d);
			}
			ok(bad == 0, "redirect ANY: the A then the AAAA records");
		}
		ldns_pkt_free(a);
	}
	is_nodata(redirect_answer(QNAME, LDNS_RR_TYPE_MX, LDNS_RR_CLASS_IN, no_edns, &r, 4096, &n,
		"redirect MX"), "Example.COM.", "redirect MX: NODATA");
	is_nodata(redirect_answer(QNAME, LDNS_RR_TYPE_A, LDNS_RR_CLASS_CH, no_edns, &r, 4096, &n,
		"redirect CH A"), "Example.COM.", "redirect class CH: NODATA");
	const struct wire_redirect only6 = {NULL, 0, v6, 1, NULL, 0, 30};
	is_nodata(redirect_answer(QNAME, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, no_edns, &only6, 4096, &n,
		"redirect A, IPv6 only"), "Example.COM.", "A with only IPv6 configured: NODATA");
	const struct wire_redirect none = {0};
	is_nodata(redirect_answer(QNAME, LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, no_edns, &none, 4096,
		&n, "redirect nothing"), "Example.COM.", "no landing page configured: NODATA");
}

static void test_redirect_cname(void)
{
	const struct wire_redirect r = {v4, 2, v6, 1, landing, sizeof landing, 45};
	static const char *const target[] = {"landing.example.net."};
	static const ldns_rr_type types[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_CNAME,
		LDNS_RR_TYPE_ANY};
	size_t n;

	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		char what[64];
		snprintf(what, sizeof what, "redirect cname, qtype %d", types[i]);
		ldns_pkt *a = redirect_answer(QNAME, types[i], LDNS_RR_CLASS_IN, no_edns, &r, 4096, &n,
			what);
		if (a) {
			is_int(ldns_pkt_get_rcode(a), LDNS_RCODE_NOERROR, "%s: NOERROR", what);
			is_records(a, 1, LDNS_RR_TYPE_CNAME, "WwW.Example.COM.", 45, target, what);
			is_int(ldns_pkt_nscount(a), 0, "%s: no SOA", what);
			ldns_pkt_free(a);
		}
	}
	is_nodata(redirect_answer(QNAME, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, no_edns, &r, 4096, &n,
		"redirect cname TXT"), "Example.COM.", "redirect cname, TXT: NODATA");
}

/* Many addresses: TC (empty answer) when they do not fit the client, all of them over TCP. */
static void test_redirect_tc(void)
{
	uint8_t many[4 * 40];
	const struct wire_redirect r = {many, 40, NULL, 0, NULL, 0, 30};
	size_t n, len;

	for (size_t i = 0; i < 40; i++)
		memcpy(many + 4 * i, (uint8_t[]){198, 51, 100, (uint8_t)i}, 4);
	ldns_pkt *a = redirect_answer(QNAME, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, no_edns, &r, 512, &n,
		"40 addresses, 512 bytes");
	if (a) {
		ok(ldns_pkt_tc(a), "40 addresses in 512 bytes: TC");
		is_int(ldns_pkt_ancount(a), 0, "  ... with an empty answer section");
		ldns_pkt_free(a);
	}
	a = redirect_answer(QNAME, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, no_edns, &r, 65535, &n,
		"40 addresses over TCP");
	if (a) {
		ok(!ldns_pkt_tc(a), "40 addresses over TCP: no TC");
		is_int(ldns_pkt_ancount(a), 40, "  ... all 40 records");
		ldns_pkt_free(a);
	}
	uint8_t *w = simple_query(no_edns, &len);
	struct wire_query q;
	uint8_t buf[64];
	struct wire_block b = block(WIRE_RCODE_NXDOMAIN, true, NULL);
	wire_parse_query(w, len, &q);
	is_int(wire_build_redirect(&q, &b, &r, buf, len - 1), 0, "not even the question fits: 0");
	q.question_ok = false;
	is_int(wire_build_redirect(&q, &b, &r, buf, sizeof buf), 0, "no question: 0");
	free(w);
}

/* A SOA owned by a name outside the question (what CNAME-chain inspection needs). */
static void test_soa_owner(void)
{
	static const uint8_t owner[] = "\7Blocked\4test";
	size_t len;
	uint8_t *w = simple_query((struct edns_opt){true, false, 1232, 0}, &len);
	struct wire_query q;
	uint8_t buf[512];

	wire_parse_query(w, len, &q);
	struct wire_block b = block(WIRE_RCODE_NXDOMAIN, true, REASON);
	b.soa_owner = owner;
	b.soa_owner_len = sizeof owner;
	b.soa_owner_offset = 999; /* ignored when soa_owner is set */
	size_t n = wire_build_blocked(&q, &b, buf, sizeof buf);
	ldns_pkt *a = n ? parse(buf, n, "SOA with its own owner") : NULL;
	ok(n > 0, "SOA with its own owner: built");
	if (a) {
		is_int(ldns_pkt_get_rcode(a), LDNS_RCODE_NXDOMAIN, "own owner: NXDOMAIN");
		is_owner(ldns_rr_list_rr(ldns_pkt_authority(a), 0), "Blocked.test.",
			"own owner: written out");
		ldns_pkt_free(a);
	}
	free(w);
}

/* ---- answers seen as queries, and the alias chain ---- */

/* An answer to QNAME A from ldns with RRS in the answer section and AUTH in authority. */
static uint8_t *chain_answer(const char *qname, const char *const *rrs, size_t n,
	const char *auth, bool edns_do, size_t *len)
{
	ldns_pkt *p = NULL;
	uint8_t *wire = NULL;
	ldns_rr *rr = NULL;

	if (ldns_pkt_query_new_frm_str(&p, qname, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD) !=
	    LDNS_STATUS_OK)
		goto fail;
	ldns_pkt_set_id(p, 0xbeef); /* what check_flags expects */
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_cd(p, true);
	for (size_t i = 0; i < n; i++) {
		if (ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL) != LDNS_STATUS_OK)
			goto fail;
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	if (auth) {
		if (ldns_rr_new_frm_str(&rr, auth, 0, NULL, NULL) != LDNS_STATUS_OK)
			goto fail;
		ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr);
	}
	if (edns_do) {
		ldns_pkt_set_edns_udp_size(p, 1232);
		ldns_pkt_set_edns_do(p, true);
	}
	if (ldns_pkt2wire(&wire, p, len) != LDNS_STATUS_OK)
		wire = NULL;
fail:
	ldns_pkt_free(p);
	if (!wire) {
		fprintf(stderr, "cannot build chain answer for %s\n", qname);
		exit(2);
	}
	return wire;
}

/* Walks the chain of W and prints the targets, space-separated, into OUT. */
static size_t walk(const uint8_t *w, size_t len, const struct wire_answer *a, char *out,
	size_t cap)
{
	struct wire_chain c;
	size_t steps = 0, used = 0;

	out[0] = '\0';
	wire_chain_init(&c, w, len, a);
	while (wire_chain_next(&c)) {
		ldns_rdf *d = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, c.name_len, c.name);
		char *s = d ? ldns_rdf2str(d) : NULL;
		used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "%s%s",
			steps ? " " : "", s ? s : "?");
		free(s);
		ldns_rdf_deep_free(d);
		steps++;
	}
	return steps;
}

/* Checks NAME's answer RRS and compares its chain with WANT. */
static void is_chain(const char *qname, const char *const *rrs, size_t n, const char *auth,
	const char *want, const char *what)
{
	size_t len;
	uint8_t *w = chain_answer(qname, rrs, n, auth, false, &len);
	uint8_t qwire[WIRE_NAME_MAX];
	size_t qlen = 0;
	struct wire_answer a;
	char got[4096];

	ldns_rdf *d = NULL;
	if (ldns_str2rdf_dname(&d, qname) == LDNS_STATUS_OK) {
		qlen = ldns_rdf_size(d);
		memcpy(qwire, ldns_rdf_data(d), qlen);
	}
	ldns_rdf_deep_free(d);
	if (is_int(wire_check_answer(w, len, qwire, qlen, 1, 1, &a), 0, "%s: answer accepted",
	    what)) {
		walk(w, len, &a, got, sizeof got);
		is_text(got, want, what);
	}
	free(w);
}

static void test_chain(void)
{
	static const char *const simple[] = {
		"Alias.Example.COM. 300 IN CNAME Mid.Example.NET.",
		"mid.example.net. 300 IN CNAME T.ME.",
		"t.me. 300 IN A 192.0.2.1",
	};
	is_chain("Alias.Example.COM.", simple, 3, NULL, "mid.example.net. t.me.",
		"two CNAMEs in order, compressed, lower-cased");
	static const char *const reversed[] = {
		"t.me. 300 IN A 192.0.2.1",
		"mid.example.net. 300 IN CNAME t.me.",
		"alias.example.com. 300 IN CNAME mid.example.net.",
	};
	is_chain("ALIAS.example.com.", reversed, 3, NULL, "mid.example.net. t.me.",
		"records in reverse order, question in another case");
	static const char *const plain[] = {"www.example.com. 300 IN A 192.0.2.1"};
	is_chain("www.example.com.", plain, 1, NULL, "", "no CNAME: empty chain");
	static const char *const other[] = {
		"other.example.com. 300 IN CNAME t.me.",
		"www.example.com. 300 IN A 192.0.2.1",
	};
	is_chain("www.example.com.", other, 2, NULL, "", "a CNAME of another name is not followed");
	is_chain("www.example.com.", NULL, 0, "www.example.com. 300 IN CNAME t.me.", "",
		"a CNAME in the authority section is not followed");
	static const char *const loop[] = {
		"a.example. 300 IN CNAME b.example.",
		"b.example. 300 IN CNAME a.example.",
	};
	char want[4096] = "";
	for (int i = 0; i < WIRE_CHAIN_MAX; i++)
		strcat(want, i == 0 ? "b.example." : i % 2 ? " a.example." : " b.example.");
	is_chain("a.example.", loop, 2, NULL, want, "a loop ends after WIRE_CHAIN_MAX steps");

	char rrs[20][80];
	const char *ptrs[20];
	want[0] = '\0';
	for (int i = 0; i < 20; i++) {
		snprintf(rrs[i], sizeof rrs[i], "n%d.example. 60 IN CNAME n%d.example.", i, i + 1);
		ptrs[i] = rrs[i];
		if (i < WIRE_CHAIN_MAX)
			snprintf(want + strlen(want), sizeof want - strlen(want), "%sn%d.example.",
				i ? " " : "", i + 1);
	}
	is_chain("n0.example.", ptrs, 20, NULL, want, "a 20-CNAME chain: the first 16 targets");

	static const char *const dname[] = {
		"example.com. 300 IN DNAME Example.NET.",
		"example.net. 300 IN DNAME t.me.",
	};
	is_chain("www.Sub.example.com.", dname, 2, NULL, "www.sub.example.net. www.sub.t.me.",
		"DNAME: the prefix moved under the target (RFC 6672)");
	static const char *const both[] = {
		"example.com. 300 IN DNAME example.net.",
		"www.example.com. 300 IN CNAME www.example.net.",
		"www.example.net. 300 IN CNAME t.me.",
	};
	is_chain("www.example.com.", both, 3, NULL, "www.example.net. t.me.",
		"DNAME with its synthesized CNAME: same chain");
	static const char *const self[] = {"www.example.com. 300 IN DNAME t.me."};
	is_chain("www.example.com.", self, 1, NULL, "", "a DNAME owned by the name itself is no alias");
	char longname[300], longrr[600];
	snprintf(longname, sizeof longname, "%s.%s.%s.x.com.",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		"ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
	snprintf(longrr, sizeof longrr, "x.com. 60 IN DNAME %s",
		"ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.e.");
	const char *const toolong[] = {longrr};
	is_chain(longname, toolong, 1, NULL, "", "a DNAME result over 255 bytes ends the chain");
}

static void test_alias_flag(void)
{
	static const char *const rrs[] = {"www.example.com. 300 IN A 192.0.2.1"};
	static const uint8_t qwire[] = "\3www\7example\3com";
	size_t len;
	struct wire_answer a;
	uint8_t *w = chain_answer("www.example.com.", rrs, 1, NULL, false, &len);

	is_int(wire_check_answer(w, len, qwire, sizeof qwire, 1, 1, &a), 0, "plain answer accepted");
	ok(!a.alias, "plain answer: alias clear (inspection skipped)");
	free(w);
	size_t alen;
	uint8_t *b = make_answer(0, &alen);
	ok(check(b, alen, &a) == 0 && a.alias, "answer with a CNAME: alias set");
	free(b);
	w = chain_answer("www.example.com.", NULL, 0, "example.com. 60 IN DNAME t.me.", false, &len);
	ok(wire_check_answer(w, len, qwire, sizeof qwire, 1, 1, &a) == 0 && a.alias,
		"a DNAME anywhere: alias set");
	free(w);
}

static void test_query_from_answer(void)
{
	static const char *const rrs[] = {"WwW.Example.COM. 300 IN CNAME t.me."};
	size_t len;
	uint8_t *w = chain_answer(QNAME, rrs, 1, NULL, true, &len);
	struct wire_answer a;
	struct wire_query q;
	uint8_t buf[512];

	if (!is_int(check(w, len, &a), 0, "answer for the query view accepted"))
		goto out;
	wire_query_from_answer(w, len, &a, 700, &q);
	is_int(q.id, 0xbeef, "from answer: id");
	ok(q.rd && q.cd && q.opcode == 0, "from answer: RD and CD as in the answer");
	ok(q.question_ok && q.qtype == 1 && q.qclass == 1, "from answer: question");
	ok(q.qname_len == QNAME_LEN && memcmp(q.qname_lower, qname_lower_wire, QNAME_LEN) == 0,
		"from answer: name lower-cased");
	ok(q.edns && q.edns_do, "from answer: EDNS and DO from its OPT");
	is_int(wire_udp_limit(&q), 700, "from answer: the client's limit");

	struct wire_block b = block(WIRE_RCODE_NXDOMAIN, true, REASON);
	size_t n = wire_build_blocked(&q, &b, buf, sizeof buf);
	ldns_pkt *p = n ? parse(buf, n, "NXDOMAIN from the answer's question") : NULL;
	if (p) {
		check_flags(p, true, true, "from answer");
		is_int(ldns_pkt_ancount(p), 0, "from answer: CNAME not carried over");
		char *qs = owner_str(ldns_rr_list_rr(ldns_pkt_question(p), 0));
		is_str(qs, QNAME, "from answer: question echoed as sent");
		free(qs);
		ok(ldns_pkt_edns_do(p), "from answer: DO copied");
		ldns_pkt_free(p);
	}
	free(w);
	w = chain_answer(QNAME, rrs, 1, NULL, false, &len);
	if (check(w, len, &a) == 0) {
		wire_query_from_answer(w, len, &a, 65535, &q);
		ok(!q.edns && !q.edns_do, "answer without OPT: no EDNS");
	}
out:
	free(w);
}

int main(void)
{
	test_parse_basic();
	test_parse_edns();
	test_lowercase();
	test_lowercase_lengths();
	test_name_limits();
	test_drop();
	test_formerr();
	test_query_records();
	test_notimp();
	test_badvers();
	test_blocked();
	test_soa_prebuilt();
	test_ede_truncation();
	test_check_answer();
	test_truncate();
	test_redirect_addresses();
	test_redirect_cname();
	test_redirect_tc();
	test_soa_owner();
	test_chain();
	test_alias_flag();
	test_query_from_answer();
	return tap_exit();
}
