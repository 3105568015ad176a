/*
 * wire: the DNS message layer of the query path. Parses queries and upstream answers straight
 * from the packet with bounds checks, and builds synthesized answers into caller-provided buffers.
 * No allocation, no ldns types: this runs once per packet on every worker thread, so it must be
 * cheap and must never trust a length it has not checked (it is fuzzed: tests/fuzz/).
 * ldns is used where speed does not matter: name validation in config, zone files, tests.
 */
#ifndef BLOKIR_WIRE_H
#define BLOKIR_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * ldns/common.h, when included before <stdbool.h>, defines _Bool as signed char, so the structs
 * below would hold a different bool in that file than in wire.c (the fuzzer caught a 128 read as
 * a _Bool). Include wire.h, or <stdbool.h>, before <ldns/ldns.h>.
 */
#ifdef _Bool
#error "<ldns/ldns.h> was included before <stdbool.h>: bool is not _Bool here; include wire.h first"
#endif

#define WIRE_HEADER_LEN 12
#define WIRE_NAME_MAX 255
#define WIRE_UDP_MIN 512         /* RFC 1035 limit without EDNS */
#define WIRE_EDNS_ADVERTISED 1232 /* what our own answers advertise (DNS flag day 2020) */

#define WIRE_RCODE_NOERROR 0
#define WIRE_RCODE_FORMERR 1
#define WIRE_RCODE_SERVFAIL 2
#define WIRE_RCODE_NXDOMAIN 3
#define WIRE_RCODE_NOTIMP 4
#define WIRE_RCODE_REFUSED 5
#define WIRE_RCODE_BADVERS 16 /* extended: needs an OPT record */

#define WIRE_EDE_CENSORED 16 /* RFC 8914 */

#define WIRE_OPCODE_NOTIFY 4 /* RFC 1996: answered by the zone-transfer module */

enum wire_status {
	WIRE_OK,      /* a well-formed standard query with one question */
	WIRE_DROP,    /* shorter than a header, or QR=1: never answered (no reflection) */
	WIRE_FORMERR, /* header readable, rest not: answer FORMERR */
	WIRE_NOTIMP,  /* opcode other than QUERY: answer NOTIMP */
	WIRE_BADVERS  /* EDNS version above 0: answer BADVERS */
};

/* A parsed query. Points into the packet it was parsed from, which must outlive it. */
struct wire_query {
	const uint8_t *packet;
	size_t length;
	uint16_t id;
	uint8_t opcode;
	bool rd, cd, ad;
	bool question_ok;    /* qname, qtype, qclass below are valid */
	size_t qname_len;    /* the question name starts at WIRE_HEADER_LEN in packet */
	size_t qname_labels; /* its labels, the root not counted */
	uint8_t qname_lower[WIRE_NAME_MAX]; /* A-Z lowered; only the first qname_len bytes set */
	uint16_t qtype, qclass;
	size_t question_end; /* offset just past the question */
	bool edns;           /* an OPT record was present and the whole packet valid; the */
	                     /* three fields below mean something only when this is set */
	bool edns_do;
	uint8_t edns_version;
	uint16_t edns_udp_size; /* as advertised, before clamping */
	size_t opt_offset, opt_len; /* the OPT RR in packet (checked); opt_len 0 when absent */
};

/*
 * Parses PKT. Fills Q as far as it got, so an error answer can echo the ID and question:
 * WIRE_DROP leaves only packet and length set; otherwise id, opcode, rd and cd are set, and the
 * question when question_ok. An unknown opcode gives WIRE_NOTIMP even when the rest is bad (the
 * body is still parsed for the echo). FORMERR covers QDCOUNT != 1, a compressed or oversized
 * question name, a record or compression pointer out of bounds or pointing forwards, trailing
 * bytes, OPT outside the additional section, with a non-root owner, twice, or with malformed
 * options. BADVERS is returned with the edns fields set.
 */
enum wire_status wire_parse_query(const uint8_t *pkt, size_t len, struct wire_query *q);

/* Largest UDP answer this client accepts: 512 without EDNS, else max(512, its advertised size). */
size_t wire_udp_limit(const struct wire_query *q);

/*
 * Builds an answer carrying only RCODE (FORMERR, SERVFAIL, NOTIMP, REFUSED, BADVERS): ID, opcode,
 * RD and CD copied, QR and RA set, the question echoed when Q->question_ok, an OPT record when
 * the query had EDNS (always for BADVERS: the header gets RCODE's low 4 bits, the OPT the rest).
 * Q is from a wire_parse_query that did not return WIRE_DROP. Returns the length, or 0 if CAP is
 * too small (it never is with 12 + 259 + 11 = 282 bytes).
 */
size_t wire_build_error(const struct wire_query *q, unsigned rcode, uint8_t *out, size_t cap);

/* What a synthesized policy answer contains besides the echoed question. */
struct wire_block {
	unsigned rcode;            /* NXDOMAIN, NOERROR (NODATA) or REFUSED */
	bool with_soa;             /* RFC 2308 SOA in the authority section */
	size_t soa_owner_offset;   /* SOA owner: the query name's suffix starting at this offset */
	const uint8_t *mname; size_t mname_len; /* wire format */
	const uint8_t *rname; size_t rname_len;
	uint32_t serial;
	uint32_t negative_ttl;     /* SOA TTL and MINIMUM */
	const char *ede_text;      /* RFC 8914 EXTRA-TEXT for EDE 16, may be NULL; only with EDNS */
	size_t ede_len;
	const uint8_t *soa_owner;  /* when set, the SOA owner written out uncompressed instead */
	size_t soa_owner_len;      /* (a name not in the question: CNAME-chain inspection) */
	const uint8_t *soa_rr;     /* when set, what wire_soa_rr made of mname, rname, serial and */
	size_t soa_rr_len;         /* negative_ttl, copied instead of written field by field */
};

/* The most wire_soa_rr writes: TYPE, CLASS, TTL, RDLENGTH, two names and five timers. */
#define WIRE_SOA_RR_MAX (10 + 2 * WIRE_NAME_MAX + 20)

/*
 * The SOA record of a synthesized answer after its owner name, class IN, into OUT
 * (WIRE_SOA_RR_MAX bytes): a policy makes it once so that each blocked answer copies it
 * (wire_block's soa_rr). Returns its length.
 */
size_t wire_soa_rr(uint8_t *out, const uint8_t *mname, size_t mname_len, const uint8_t *rname,
	size_t rname_len, uint32_t serial, uint32_t negative_ttl);

/*
 * Builds a synthesized answer: ID, RD and CD copied, QR and RA set, AA clear, question echoed as
 * sent, the SOA if asked (owner: a compression pointer to the question name at
 * SOA_OWNER_OFFSET, which must be a label boundary, or B->soa_owner when set), and when the
 * query had EDNS an OPT (version 0, DO copied, 1232 bytes) with Extended DNS Error 16
 * "Censored". The EDE text is cut (on a UTF-8 character boundary) so the answer fits
 * min(CAP, wire_udp_limit(Q)), and the option is left out if not even its fixed part fits.
 * Returns the length, or 0 if CAP is too small, Q has no question, or SOA_OWNER_OFFSET is past
 * the name.
 */
size_t wire_build_blocked(const struct wire_query *q, const struct wire_block *b, uint8_t *out,
	size_t cap);

/* A landing page, in the form the redirect builder writes it. Borrowed by the builder. */
struct wire_redirect {
	const uint8_t *a; size_t a_count;       /* A_COUNT IPv4 addresses, 4 bytes each */
	const uint8_t *aaaa; size_t aaaa_count; /* AAAA_COUNT IPv6 addresses, 16 bytes each */
	const uint8_t *cname; size_t cname_len; /* wire format, uncompressed; cname_len 0: none */
	uint32_t ttl;                           /* of every record in the answer section */
};

/*
 * Builds the answer for `action: redirect`. For class IN (or ANY) questions:
 *   - with a CNAME configured, A, AAAA, CNAME and ANY queries get one CNAME record from the
 *     query name to the landing host (the client's resolver then asks for the host itself);
 *   - without one, A gets the IPv4 addresses, AAAA the IPv6 ones, ANY both (RFC 8482 lets an
 *     ANY answer be any subset of what exists);
 * every record owned by a compression pointer to the question name, with R->ttl. Everything else
 * (other types, other classes, a family with no address configured) is NODATA: B's SOA (B->rcode
 * is ignored: NOERROR), exactly as wire_build_blocked builds it. Header, OPT and EDE are as in
 * wire_build_blocked (AA clear, RA set; the EDE from B). CAP is what the client takes (its UDP
 * limit, or the TCP buffer): records that do not fit go out as an empty answer with TC set
 * (RFC 2181 9), so the client asks again over TCP. Returns the length, or 0 if not even that
 * fits or Q has no question.
 */
/*
 * The rule above for a class IN question of QTYPE: how many A and AAAA records the answer holds,
 * or whether it is the CNAME. All zero: NODATA. For explanations (policy_decide) as well as the
 * builder itself.
 */
void wire_redirect_plan(uint16_t qtype, bool has_cname, size_t a_count, size_t aaaa_count,
	size_t *a, size_t *aaaa, bool *cname);

size_t wire_build_redirect(const struct wire_query *q, const struct wire_block *b,
	const struct wire_redirect *r, uint8_t *out, size_t cap);

#define WIRE_OPT_NSID 3     /* EDNS option codes (IANA registry) */
#define WIRE_OPT_ECS 8      /* EDNS Client Subnet, RFC 7871 */
#define WIRE_OPT_COOKIE 10  /* DNS COOKIE, RFC 7873 */
#define WIRE_OPT_PADDING 12 /* RFC 7830 */

/*
 * The EDNS options of a checked OPT record (a query's or an answer's, whose OPT_OFFSET and
 * OPT_LEN say where it is), in the order they appear. Plain iterator state, no allocation; the
 * record was checked to hold only whole options, so iterating cannot fail midway.
 */
struct wire_opt_iter {
	const uint8_t *p, *end;
};

void wire_opt_iter_init(struct wire_opt_iter *it, const uint8_t *pkt, size_t opt_offset,
	size_t opt_len);
/* The next option: its CODE and DATA (LEN bytes, pointing into the packet); false at the end. */
bool wire_opt_next(struct wire_opt_iter *it, uint16_t *code, const uint8_t **data, size_t *len);

/* Where the parts of a checked upstream answer are. */
struct wire_answer {
	uint16_t id;
	bool tc;
	uint8_t rcode;
	size_t question_end;
	size_t opt_offset, opt_len; /* the OPT RR, opt_len 0 when absent */
	bool alias;                 /* a CNAME or DNAME record is in it: worth a chain walk. Lets
	                               the forwarded path skip inspection with one test */
};

/*
 * Checks that ANS is a well-formed answer (QR=1, opcode QUERY, every record inside the packet,
 * compression pointers pointing backwards, at most one OPT and only in additional, no trailing
 * bytes) to the question QNAME/QTYPE/QCLASS as it was sent (QNAME compared byte for byte, so 0x20
 * case randomization is checked too). RDATA is only bounds-checked, not parsed. A TC answer must
 * be just as well-formed. Does not check the ID: the caller looks it up. A->rcode is the header's
 * 4 bits. Returns 0 and fills A, or -1.
 */
int wire_check_answer(const uint8_t *ans, size_t len, const uint8_t *qname, size_t qname_len,
	uint16_t qtype, uint16_t qclass, struct wire_answer *a);

/*
 * Cuts a checked answer that does not fit LIMIT down to header, question and OPT (when present),
 * sets TC, zeroes the other counts. Returns the new length (<= LIMIT), or 0 if even that does
 * not fit.
 */
size_t wire_truncate_answer(uint8_t *ans, size_t len, const struct wire_answer *a, size_t limit);

/*
 * Removes every EDNS option CODE from the OPT record of a checked answer and updates A. Returns
 * the new length (LEN when there is no such option), or 0 when the OPT record is not the last
 * record: the records after it would move, and a compression pointer among them would then
 * point at the wrong bytes.
 */
size_t wire_answer_remove_option(uint8_t *ans, size_t len, struct wire_answer *a, uint16_t code);

/*
 * Fills Q from a checked answer ANS as if it were the query it answers, so the builders above can
 * answer the client themselves (CNAME-chain inspection): ID, RD, CD and the question (byte for
 * byte what the client sent, since wire_check_answer compared it) from ANS; EDNS and DO from its
 * OPT record (an upstream may only send one when the query had one, RFC 6891 7), with LIMIT,
 * the client's maximum answer size, as the UDP size. Q points into ANS.
 */
void wire_query_from_answer(const uint8_t *ans, size_t len, const struct wire_answer *a,
	size_t limit, struct wire_query *q);

#define WIRE_CHAIN_MAX 16 /* CNAME/DNAME steps followed; resolvers stop at about this many too */

/*
 * Walks the alias chain in the answer section of a checked answer, starting at the question
 * name: each step finds the CNAME owned by the current name (or, failing that, a DNAME owning a
 * proper suffix of it, RFC 6672) and makes its target, expanded and lower-cased, the current
 * name. Records may come in any order; compression is followed with the same checks as the
 * parser. Iterator state; plain data, no allocation.
 */
struct wire_chain {
	const uint8_t *pkt;
	size_t len, an_start;       /* where the answer section starts */
	unsigned an_count, steps;
	size_t name_len;            /* the current name: lower-case wire format */
	size_t name_off;            /* where it is written in the packet; 0 after a DNAME */
	uint8_t name[WIRE_NAME_MAX];
};

/* Starts a walk over ANS (checked by wire_check_answer into A) at its question name. */
void wire_chain_init(struct wire_chain *c, const uint8_t *ans, size_t len,
	const struct wire_answer *a);

/*
 * Takes one step. Returns true with C->name/C->name_len set to the next target, or false when the
 * chain ends: no alias for the current name, a malformed record, a DNAME result longer than 255
 * bytes, or WIRE_CHAIN_MAX steps taken (which also ends loops). Once it has returned false it
 * keeps doing so, and C->name stays the last name reached.
 */
bool wire_chain_next(struct wire_chain *c);

/*
 * For the answer cache: how long a checked answer may be reused, in seconds: the smallest TTL of
 * its records (OPT excluded), and for a negative answer at most the SOA MINIMUM (RFC 2308 5).
 * Returns 0 when it has no record to take a TTL from (nothing to cache).
 */
uint32_t wire_answer_ttl(const uint8_t *ans, size_t len, const struct wire_answer *a);

/* Counts ELAPSED seconds off every TTL of a checked answer (OPT excluded), never below 0. */
void wire_answer_age(uint8_t *ans, size_t len, const struct wire_answer *a, uint32_t elapsed);

static inline uint16_t wire_get_id(const uint8_t *pkt) { return (uint16_t)(pkt[0] << 8 | pkt[1]); }
static inline void wire_set_id(uint8_t *pkt, uint16_t id)
{
	pkt[0] = (uint8_t)(id >> 8);
	pkt[1] = (uint8_t)id;
}

#endif
