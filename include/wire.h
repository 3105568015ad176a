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
	bool rd, cd;
	bool question_ok;    /* qname, qtype, qclass below are valid */
	size_t qname_len;    /* the question name starts at WIRE_HEADER_LEN in packet */
	uint8_t qname_lower[WIRE_NAME_MAX];
	uint16_t qtype, qclass;
	size_t question_end; /* offset just past the question */
	bool edns;           /* an OPT record was present (and valid) */
	bool edns_do;
	uint8_t edns_version;
	uint16_t edns_udp_size; /* as advertised, before clamping */
};

/* Parses PKT. Fills Q as far as it got, so an error answer can echo the ID and question. */
enum wire_status wire_parse_query(const uint8_t *pkt, size_t len, struct wire_query *q);

/* Largest UDP answer this client accepts: 512 without EDNS, else max(512, its advertised size). */
size_t wire_udp_limit(const struct wire_query *q);

/*
 * Builds an answer carrying only RCODE (FORMERR, SERVFAIL, NOTIMP, REFUSED, BADVERS): ID, opcode
 * and RD copied, QR and RA set, the question echoed when Q->question_ok, an OPT record when the
 * query had EDNS (always for BADVERS). Returns its length, or 0 if CAP is too small.
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
};

/*
 * Builds a synthesized answer: ID and RD copied, QR and RA set, AA clear, question echoed as sent,
 * the SOA if asked, and when the query had EDNS an OPT (version 0, DO copied, 1232 bytes) with
 * Extended DNS Error 16 "Censored". Returns its length, or 0 if CAP is too small.
 */
size_t wire_build_blocked(const struct wire_query *q, const struct wire_block *b, uint8_t *out,
	size_t cap);

/* Where the parts of a checked upstream answer are. */
struct wire_answer {
	uint16_t id;
	bool tc;
	uint8_t rcode;
	size_t question_end;
	size_t opt_offset, opt_len; /* the OPT RR, opt_len 0 when absent */
};

/*
 * Checks that ANS is a well-formed answer (QR=1, every record inside the packet, compression
 * pointers pointing backwards) to the question QNAME/QTYPE/QCLASS as it was sent (QNAME compared
 * byte for byte, so 0x20 case randomization is checked too). Does not check the ID: the caller
 * looks it up. Returns 0 and fills A, or -1.
 */
int wire_check_answer(const uint8_t *ans, size_t len, const uint8_t *qname, size_t qname_len,
	uint16_t qtype, uint16_t qclass, struct wire_answer *a);

/*
 * Cuts a checked answer that does not fit LIMIT down to header, question and OPT (when present),
 * sets TC, zeroes the other counts. Returns the new length (<= LIMIT), or 0 if even that does
 * not fit.
 */
size_t wire_truncate_answer(uint8_t *ans, size_t len, const struct wire_answer *a, size_t limit);

static inline uint16_t wire_get_id(const uint8_t *pkt) { return (uint16_t)(pkt[0] << 8 | pkt[1]); }
static inline void wire_set_id(uint8_t *pkt, uint16_t id)
{
	pkt[0] = (uint8_t)(id >> 8);
	pkt[1] = (uint8_t)id;
}

#endif
