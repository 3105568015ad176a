/*
 * wire: the DNS message layer (see include/wire.h). Everything here works on raw packets with
 * explicit bounds checks and no allocation, because it runs for every packet the proxy sees.
 *
 * Two walkers do the parsing: name_skip() steps over a possibly compressed name and rejects any
 * pointer that does not go strictly backwards, and rr_walk() steps over a run of resource records
 * and remembers the one OPT record. Queries and upstream answers are both checked with them, so
 * what the proxy relays or echoes has always been walked byte for byte.
 *
 * Builders compute the whole answer size first, return 0 when it does not fit, and then write
 * straight through without further checks.
 */
#include "wire.h"

#include <string.h>

#include "value.h"

#define FLAG_QR 0x80 /* in byte 2 */
#define FLAG_AA 0x04
#define FLAG_TC 0x02
#define FLAG_RD 0x01
#define FLAG_RA 0x80 /* in byte 3 */
#define FLAG_AD 0x20
#define FLAG_CD 0x10

#define TYPE_A 1
#define TYPE_CNAME 5
#define TYPE_SOA 6
#define TYPE_AAAA 28
#define TYPE_DNAME 39
#define TYPE_OPT 41
#define TYPE_ANY 255
#define CLASS_IN 1
#define CLASS_ANY 255
#define EDNS_DO 0x8000   /* in the low 16 bits of the OPT TTL */
#define EDNS_OPT_EDE 15  /* RFC 8914 option code */

#define RR_FIXED 10      /* TYPE, CLASS, TTL, RDLENGTH after the owner name */
#define OPT_RR_LEN 11    /* root owner + fixed part, empty RDATA */
#define EDE_HEAD 6       /* OPTION-CODE, OPTION-LENGTH, INFO-CODE */

/* Offsets of the header fields. */
#define HDR_QDCOUNT 4
#define HDR_ANCOUNT 6
#define HDR_NSCOUNT 8
#define HDR_ARCOUNT 10

/* SOA timers that only matter to secondaries, which never transfer a synthesized zone. */
#define SOA_REFRESH 3600
#define SOA_RETRY 600
#define SOA_EXPIRE 86400

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint8_t *wr16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static inline uint8_t *wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

/*
 * The target of the compression pointer at OFF, or 0 when it is not a valid one: it must point
 * below START, where the run of labels it ends began, and past the header, so the runs of a name
 * strictly descend and cannot loop. *END (0 until then) becomes the offset just past the name's
 * first pointer, where the name ends in its record. Shared by every name walk in this file.
 */
static inline size_t pointer_target(const uint8_t *p, size_t len, size_t off, size_t start,
	size_t *end)
{
	unsigned c = p[off];
	size_t target;

	if ((c & 0xc0) != 0xc0 || off + 1 >= len)
		return 0;
	target = (size_t)(c & 0x3f) << 8 | p[off + 1];
	if (target >= start || target < WIRE_HEADER_LEN)
		return 0;
	if (*end == 0)
		*end = off + 2;
	return target;
}

/*
 * Steps over the name at OFF and returns the offset just past it in the record (after the first
 * compression pointer, if any), or 0 when it is malformed. Each pointer must go below the start
 * of the stretch of labels it ends, so the chain of stretches strictly descends and cannot loop;
 * no real compressor ever points anywhere else. The expanded name must fit 255 bytes, and
 * pointers into the header or to labels of the reserved 0x40/0x80 types are refused.
 */
static size_t name_skip(const uint8_t *p, size_t len, size_t off)
{
	size_t start = off, end = 0, total = 1; /* total counts the root label already */

	for (;;) {
		if (off >= len)
			return 0;
		unsigned c = p[off];
		if (c == 0)
			return end ? end : off + 1;
		if (c <= 63) {
			total += c + 1;
			if (total > WIRE_NAME_MAX)
				return 0;
			off += c + 1;
			continue;
		}
		if ((off = pointer_target(p, len, off, start, &end)) == 0)
			return 0;
		start = off;
	}
}

/* OPT RDATA must be a sequence of whole {code, length, data} options (RFC 6891 6.1.2). */
static bool opt_rdata_ok(const uint8_t *p, size_t len)
{
	while (len > 0) {
		if (len < 4)
			return false;
		size_t olen = rd16(p + 2);
		if (olen > len - 4)
			return false;
		p += 4 + olen;
		len -= 4 + olen;
	}
	return true;
}

/* Where rr_walk found the OPT record (len 0 when there was none), and whether it saw an alias. */
struct opt_pos {
	size_t offset, len;
	bool alias;
};

/*
 * Steps over COUNT records starting at OFF, the last AR_COUNT of them in the additional section.
 * The OPT record may appear once, only there, and only with the root as owner. Returns the offset
 * just past the last record, or 0 when any of it is malformed or runs past LEN.
 */
static size_t rr_walk(const uint8_t *p, size_t len, size_t off, unsigned count, unsigned ar_count,
	struct opt_pos *opt)
{
	opt->offset = opt->len = 0;
	opt->alias = false;
	for (unsigned i = 0; i < count; i++) {
		size_t owner = off;
		off = name_skip(p, len, off);
		if (off == 0 || len - off < RR_FIXED)
			return 0;
		unsigned type = rd16(p + off);
		size_t rdlen = rd16(p + off + 8);
		off += RR_FIXED;
		if (rdlen > len - off)
			return 0;
		/* Noted here, where the type is in a register anyway, so that the forwarded path
		 * can skip CNAME-chain inspection of most answers with one test. */
		opt->alias |= (type == TYPE_CNAME) | (type == TYPE_DNAME);
		if (type == TYPE_OPT) {
			if (i < count - ar_count || p[owner] != 0 || opt->len != 0 ||
			    !opt_rdata_ok(p + off, rdlen))
				return 0;
			opt->offset = owner;
			opt->len = off + rdlen - owner;
		}
		off += rdlen;
	}
	return off;
}

/*
 * Parses the question of a query: one uncompressed name (a pointer is refused: there is nothing
 * before it to point to) plus QTYPE and QCLASS. Returns the offset past it, or 0.
 */
static size_t parse_question(const uint8_t *p, size_t len, struct wire_query *q)
{
	/* The root label must sit below LIM: inside the packet, and so that the name's 255 bytes
	 * include it. A label that jumps past LIM ends the walk just the same. */
	size_t lim = len < WIRE_HEADER_LEN + WIRE_NAME_MAX ? len : WIRE_HEADER_LEN + WIRE_NAME_MAX;
	size_t off = WIRE_HEADER_LEN, labels = 0;
	unsigned c;

	while (off < lim && (c = p[off]) != 0) {
		if (c > 63) /* pointers and the reserved label types */
			return 0;
		off += c + 1;
		labels++;
	}
	if (off >= lim)
		return 0;
	off++; /* the root label */
	if (len - off < 4)
		return 0;
	q->qname_len = off - WIRE_HEADER_LEN;
	q->qname_labels = labels;
	value_lower_copy(q->qname_lower, p + WIRE_HEADER_LEN, q->qname_len);
	q->qtype = rd16(p + off);
	q->qclass = rd16(p + off + 2);
	q->question_end = off + 4;
	q->question_ok = true;
	return off + 4;
}

/* Everything after the header: the question, then every other record, then EDNS. */
static enum wire_status parse_body(const uint8_t *p, size_t len, struct wire_query *q)
{
	if (rd16(p + HDR_QDCOUNT) != 1)
		return WIRE_FORMERR;
	size_t off = parse_question(p, len, q);
	if (off == 0)
		return WIRE_FORMERR;

	unsigned an = rd16(p + HDR_ANCOUNT), ns = rd16(p + HDR_NSCOUNT), ar = rd16(p + HDR_ARCOUNT);
	if (an + ns + ar == 0) /* the usual query without EDNS: nothing to walk */
		return off == len ? WIRE_OK : WIRE_FORMERR;
	struct opt_pos opt;
	off = rr_walk(p, len, off, an + ns + ar, ar, &opt);
	if (off != len) /* 0 (malformed) can never equal len, which is at least the header */
		return WIRE_FORMERR;
	if (opt.len == 0)
		return WIRE_OK;

	q->opt_offset = opt.offset;
	q->opt_len = opt.len;
	const uint8_t *rr = p + opt.offset + 1; /* past the root owner */
	uint32_t ttl = rd32(rr + 4);
	q->edns = true;
	q->edns_udp_size = rd16(rr + 2);
	q->edns_version = (uint8_t)(ttl >> 16);
	q->edns_do = (ttl & EDNS_DO) != 0;
	return q->edns_version > 0 ? WIRE_BADVERS : WIRE_OK;
}

enum wire_status wire_parse_query(const uint8_t *pkt, size_t len, struct wire_query *q)
{
	/* Only the scalars: qname_lower is written as far as qname_len says, and clearing all of
	 * it would cost more than the rest of the parse. */
	q->packet = pkt;
	q->length = len;
	q->question_ok = false;
	q->qname_len = q->qname_labels = 0;
	q->question_end = WIRE_HEADER_LEN;
	q->qtype = q->qclass = 0;
	q->edns = q->edns_do = false;
	q->edns_version = 0;
	q->edns_udp_size = 0;
	q->opt_offset = q->opt_len = 0;

	if (len < WIRE_HEADER_LEN || (pkt[2] & FLAG_QR))
		return WIRE_DROP;
	/* Read once: Q's byte fields may alias PKT as far as the compiler knows, so each store
	 * would otherwise load the flags again. */
	unsigned f2 = pkt[2], f3 = pkt[3];
	q->id = wire_get_id(pkt);
	q->opcode = (f2 >> 3) & 0x0f;
	q->rd = (f2 & FLAG_RD) != 0;
	q->cd = (f3 & FLAG_CD) != 0;
	q->ad = (f3 & FLAG_AD) != 0;

	/* The body is parsed even for an unknown opcode so NOTIMP can echo the question and, if
	 * the query had a valid OPT, carry one back. */
	enum wire_status st = parse_body(pkt, len, q);
	return q->opcode != 0 ? WIRE_NOTIMP : st;
}

size_t wire_udp_limit(const struct wire_query *q)
{
	if (!q->edns || q->edns_udp_size < WIRE_UDP_MIN)
		return WIRE_UDP_MIN;
	return q->edns_udp_size;
}

/* The answer header: ID, opcode, RD and CD from the query; QR and RA set; AA, TC, AD clear. */
static uint8_t *put_header(uint8_t *out, const struct wire_query *q, unsigned rcode,
	unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
	wire_set_id(out, q->id);
	out[2] = (uint8_t)(FLAG_QR | (q->opcode & 0x0f) << 3 | (q->rd ? FLAG_RD : 0));
	out[3] = (uint8_t)(FLAG_RA | (q->cd ? FLAG_CD : 0) | (rcode & 0x0f));
	wr16(out + HDR_QDCOUNT, qd);
	wr16(out + HDR_ANCOUNT, an);
	wr16(out + HDR_NSCOUNT, ns);
	wr16(out + HDR_ARCOUNT, ar);
	return out + WIRE_HEADER_LEN;
}

/* The question exactly as the client sent it, case included (resolvers doing 0x20 check it). */
static uint8_t *put_question(uint8_t *out, const struct wire_query *q)
{
	size_t n = q->question_end - WIRE_HEADER_LEN;
	memcpy(out, q->packet + WIRE_HEADER_LEN, n);
	return out + n;
}

/* Our OPT record: version 0, 1232 bytes, the upper eight bits of RCODE, DO echoed. */
static uint8_t *put_opt(uint8_t *out, const struct wire_query *q, unsigned rcode, size_t rdlen)
{
	*out++ = 0; /* root owner */
	out = wr16(out, TYPE_OPT);
	out = wr16(out, WIRE_EDNS_ADVERTISED);
	out = wr32(out, (uint32_t)((rcode >> 4) & 0xff) << 24 | (q->edns_do ? EDNS_DO : 0));
	return wr16(out, (unsigned)rdlen);
}

size_t wire_build_error(const struct wire_query *q, unsigned rcode, uint8_t *out, size_t cap)
{
	/* An RCODE above 15 (BADVERS) only exists with its upper bits in an OPT record. */
	bool opt = q->edns || rcode > 0x0f;
	size_t qlen = q->question_ok ? q->question_end - WIRE_HEADER_LEN : 0;
	size_t need = WIRE_HEADER_LEN + qlen + (opt ? OPT_RR_LEN : 0);

	if (need > cap)
		return 0;
	uint8_t *p = put_header(out, q, rcode, q->question_ok, 0, 0, opt);
	if (q->question_ok)
		p = put_question(p, q);
	if (opt)
		put_opt(p, q, rcode, 0);
	return need;
}

/* Size of the SOA wire_build_blocked writes for B (0 when it writes none). */
static size_t soa_size(const struct wire_block *b)
{
	if (!b->with_soa)
		return 0;
	size_t owner = b->soa_owner ? b->soa_owner_len : 2;
	return owner + (b->soa_rr ? b->soa_rr_len : RR_FIXED + b->mname_len + b->rname_len + 20);
}

size_t wire_soa_rr(uint8_t *out, const uint8_t *mname, size_t mname_len, const uint8_t *rname,
	size_t rname_len, uint32_t serial, uint32_t negative_ttl)
{
	uint8_t *p = out;

	p = wr16(p, TYPE_SOA);
	p = wr16(p, CLASS_IN);
	p = wr32(p, negative_ttl);
	p = wr16(p, (unsigned)(mname_len + rname_len + 20));
	memcpy(p, mname, mname_len);
	p += mname_len;
	memcpy(p, rname, rname_len);
	p += rname_len;
	p = wr32(p, serial);
	p = wr32(p, SOA_REFRESH);
	p = wr32(p, SOA_RETRY);
	p = wr32(p, SOA_EXPIRE);
	p = wr32(p, negative_ttl);
	return (size_t)(p - out);
}

/*
 * The RFC 2308 SOA. Its owner is normally a pointer into the echoed question, so it costs two
 * bytes and is always the name the policy matched; a name from elsewhere (the blocked target of
 * a CNAME chain) is written out whole. The class follows the query unless that was a
 * meta-class (ANY, NONE), which no record can have.
 */
static uint8_t *put_soa(uint8_t *out, const struct wire_query *q, const struct wire_block *b)
{
	size_t n;

	if (b->soa_owner) {
		memcpy(out, b->soa_owner, b->soa_owner_len);
		out += b->soa_owner_len;
	} else {
		out = wr16(out, 0xc000 | (unsigned)(WIRE_HEADER_LEN + b->soa_owner_offset));
	}
	if (b->soa_rr) {
		memcpy(out, b->soa_rr, b->soa_rr_len);
		n = b->soa_rr_len;
	} else {
		n = wire_soa_rr(out, b->mname, b->mname_len, b->rname, b->rname_len, b->serial,
			b->negative_ttl);
	}
	if (q->qclass != CLASS_IN && q->qclass < 254)
		wr16(out + 2, q->qclass);
	return out + n;
}

/*
 * How much of TEXT fits in ROOM bytes, cut back to a UTF-8 character boundary so a truncated
 * EXTRA-TEXT stays valid UTF-8 (RFC 8914 requires it).
 */
static size_t ede_text_fit(const char *text, size_t len, size_t room)
{
	if (len <= room)
		return len;
	while (room > 0 && ((uint8_t)text[room] & 0xc0) == 0x80)
		room--;
	return room;
}

/* The OPT record of a synthesized answer and the EDE option in it. */
struct opt_plan {
	size_t ede;  /* EDE option length, 0: left out */
	size_t text; /* how much of the EDE text goes in */
};

/*
 * Adds the OPT record (when Q had EDNS) to NEED, the size of everything before it, and returns
 * the new total. The EDE text is the only part worth shrinking: it is cut to what the client
 * takes over UDP, and the option is left out when not even its fixed part fits.
 */
static size_t opt_plan(const struct wire_query *q, const struct wire_block *b, size_t need,
	size_t cap, struct opt_plan *o)
{
	o->ede = o->text = 0;
	if (!q->edns)
		return need;
	need += OPT_RR_LEN;
	size_t limit = wire_udp_limit(q);
	if (limit > cap)
		limit = cap;
	if (need + EDE_HEAD <= limit) {
		if (b->ede_text)
			o->text = ede_text_fit(b->ede_text, b->ede_len, limit - need - EDE_HEAD);
		o->ede = EDE_HEAD + o->text;
		need += o->ede;
	}
	return need;
}

static uint8_t *put_opt_ede(uint8_t *p, const struct wire_query *q, const struct wire_block *b,
	unsigned rcode, const struct opt_plan *o)
{
	if (!q->edns)
		return p;
	p = put_opt(p, q, rcode, o->ede);
	if (o->ede) {
		p = wr16(p, EDNS_OPT_EDE);
		p = wr16(p, (unsigned)(2 + o->text));
		p = wr16(p, WIRE_EDE_CENSORED);
		if (o->text > 0) /* an entry without a reason has no text (and a NULL pointer) */
			memcpy(p, b->ede_text, o->text);
		p += o->text;
	}
	return p;
}

size_t wire_build_blocked(const struct wire_query *q, const struct wire_block *b, uint8_t *out,
	size_t cap)
{
	if (!q->question_ok || (b->with_soa && !b->soa_owner && b->soa_owner_offset >= q->qname_len))
		return 0;
	size_t qlen = q->question_end - WIRE_HEADER_LEN;
	struct opt_plan o;
	size_t need = opt_plan(q, b, WIRE_HEADER_LEN + qlen + soa_size(b), cap, &o);

	if (need > cap)
		return 0;
	uint8_t *p = put_header(out, q, b->rcode, 1, 0, b->with_soa, q->edns);
	p = put_question(p, q);
	if (b->with_soa)
		p = put_soa(p, q, b);
	put_opt_ede(p, q, b, b->rcode, &o);
	return need;
}

/* Which records a redirect answer carries: counts of each kind, and its total size. */
struct redirect_plan {
	size_t a, aaaa, cname;
	size_t size; /* of the answer section */
};

void wire_redirect_plan(uint16_t qtype, bool has_cname, size_t a_count, size_t aaaa_count,
	size_t *a, size_t *aaaa, bool *cname)
{
	unsigned t = qtype;

	*cname = has_cname && (t == TYPE_A || t == TYPE_AAAA || t == TYPE_CNAME || t == TYPE_ANY);
	*a = !has_cname && (t == TYPE_A || t == TYPE_ANY) ? a_count : 0;
	*aaaa = !has_cname && (t == TYPE_AAAA || t == TYPE_ANY) ? aaaa_count : 0;
}

/* The decision documented at wire_build_redirect: what this question gets. */
static void redirect_plan(const struct wire_query *q, const struct wire_redirect *r,
	struct redirect_plan *rp)
{
	bool cname = false;

	rp->a = rp->aaaa = rp->cname = 0;
	/* Addresses only exist in class IN; CHAOS and friends get NODATA. */
	if (q->qclass == CLASS_IN || q->qclass == CLASS_ANY) {
		wire_redirect_plan(q->qtype, r->cname_len > 0, r->a_count, r->aaaa_count, &rp->a,
			&rp->aaaa, &cname);
		rp->cname = cname;
	}
	rp->size = rp->a * (2 + RR_FIXED + 4) + rp->aaaa * (2 + RR_FIXED + 16) +
		rp->cname * (2 + RR_FIXED + r->cname_len);
}

/* One answer record owned by the question name (a pointer to it), class IN. */
static uint8_t *put_rr(uint8_t *p, unsigned type, uint32_t ttl, const uint8_t *rdata,
	size_t rdlen)
{
	p = wr16(p, 0xc000 | WIRE_HEADER_LEN);
	p = wr16(p, type);
	p = wr16(p, CLASS_IN);
	p = wr32(p, ttl);
	p = wr16(p, (unsigned)rdlen);
	memcpy(p, rdata, rdlen);
	return p + rdlen;
}

size_t wire_build_redirect(const struct wire_query *q, const struct wire_block *b,
	const struct wire_redirect *r, uint8_t *out, size_t cap)
{
	struct redirect_plan rp;
	struct opt_plan o;

	if (!q->question_ok)
		return 0;
	redirect_plan(q, r, &rp);
	size_t count = rp.a + rp.aaaa + rp.cname;
	if (count == 0) {
		struct wire_block nodata = *b;
		nodata.rcode = WIRE_RCODE_NOERROR;
		return wire_build_blocked(q, &nodata, out, cap);
	}
	size_t head = WIRE_HEADER_LEN + (q->question_end - WIRE_HEADER_LEN);
	size_t need = opt_plan(q, b, head + rp.size, cap, &o);
	bool tc = need > cap; /* also catches more than 65535 records: they need more than 64 kB */
	if (tc) {
		/* The records do not fit this client: TC, and the answer section left empty. */
		count = 0;
		need = opt_plan(q, b, head, cap, &o);
		if (need > cap)
			return 0;
	}
	uint8_t *p = put_header(out, q, WIRE_RCODE_NOERROR, 1, (unsigned)count, 0, q->edns);
	if (tc)
		out[2] |= FLAG_TC;
	p = put_question(p, q);
	if (count > 0) {
		for (size_t i = 0; i < rp.a; i++)
			p = put_rr(p, TYPE_A, r->ttl, r->a + 4 * i, 4);
		for (size_t i = 0; i < rp.aaaa; i++)
			p = put_rr(p, TYPE_AAAA, r->ttl, r->aaaa + 16 * i, 16);
		if (rp.cname)
			p = put_rr(p, TYPE_CNAME, r->ttl, r->cname, r->cname_len);
	}
	put_opt_ede(p, q, b, WIRE_RCODE_NOERROR, &o);
	return need;
}

int wire_check_answer(const uint8_t *ans, size_t len, const uint8_t *qname, size_t qname_len,
	uint16_t qtype, uint16_t qclass, struct wire_answer *a)
{
	/* Only standard queries are forwarded, so anything but a QUERY response is not ours. */
	if (len < WIRE_HEADER_LEN || !(ans[2] & FLAG_QR) || (ans[2] & 0x78) != 0 ||
	    rd16(ans + HDR_QDCOUNT) != 1)
		return -1;
	size_t off = WIRE_HEADER_LEN + qname_len;
	if (len < off + 4 || memcmp(ans + WIRE_HEADER_LEN, qname, qname_len) != 0 ||
	    rd16(ans + off) != qtype || rd16(ans + off + 2) != qclass)
		return -1;
	off += 4;

	unsigned an = rd16(ans + HDR_ANCOUNT), ns = rd16(ans + HDR_NSCOUNT);
	unsigned ar = rd16(ans + HDR_ARCOUNT);
	struct opt_pos opt;
	size_t end = rr_walk(ans, len, off, an + ns + ar, ar, &opt);
	if (end != len)
		return -1;

	a->id = wire_get_id(ans);
	a->tc = (ans[2] & FLAG_TC) != 0;
	a->rcode = ans[3] & 0x0f;
	a->question_end = off;
	a->opt_offset = opt.offset;
	a->opt_len = opt.len;
	a->alias = opt.alias;
	return 0;
}

size_t wire_truncate_answer(uint8_t *ans, size_t len, const struct wire_answer *a, size_t limit)
{
	if (len <= limit)
		return len;
	size_t out = a->question_end;
	if (out > limit || out > len)
		return 0;
	unsigned ar = 0;
	/* The OPT record has no names in it, so it can move without breaking compression. */
	if (a->opt_len != 0 && a->opt_offset >= out && a->opt_offset + a->opt_len <= len &&
	    out + a->opt_len <= limit) {
		memmove(ans + out, ans + a->opt_offset, a->opt_len);
		out += a->opt_len;
		ar = 1;
	}
	ans[2] |= FLAG_TC;
	wr16(ans + HDR_ANCOUNT, 0);
	wr16(ans + HDR_NSCOUNT, 0);
	wr16(ans + HDR_ARCOUNT, ar);
	return out;
}

void wire_query_from_answer(const uint8_t *ans, size_t len, const struct wire_answer *a,
	size_t limit, struct wire_query *q)
{
	size_t qend = a->question_end;

	q->packet = ans;
	q->length = len;
	q->id = wire_get_id(ans);
	q->opcode = 0;
	q->rd = (ans[2] & FLAG_RD) != 0;
	q->cd = (ans[3] & FLAG_CD) != 0;
	q->ad = (ans[3] & FLAG_AD) != 0;
	q->question_ok = true;
	q->qname_len = qend - 4 - WIRE_HEADER_LEN;
	value_lower_copy(q->qname_lower, ans + WIRE_HEADER_LEN, q->qname_len);
	q->qname_labels = 0; /* of the query's question, which wire_check_answer matched */
	for (size_t o = 0; o < q->qname_len && q->qname_lower[o] != 0; o += 1 + q->qname_lower[o])
		q->qname_labels++;
	q->qtype = rd16(ans + qend - 4);
	q->qclass = rd16(ans + qend - 2);
	q->question_end = qend;
	q->edns = a->opt_len != 0;
	q->edns_version = 0;
	q->edns_do = q->edns && (rd32(ans + a->opt_offset + 5) & EDNS_DO) != 0;
	q->edns_udp_size = (uint16_t)(limit > 0xffff ? 0xffff : limit);
	q->opt_offset = a->opt_offset;
	q->opt_len = a->opt_len;
}

void wire_opt_iter_init(struct wire_opt_iter *it, const uint8_t *pkt, size_t opt_offset,
	size_t opt_len)
{
	/* The RDATA follows the root owner and the fixed part; opt_len 0 gives an empty walk. */
	it->p = pkt + opt_offset + (opt_len ? OPT_RR_LEN : 0);
	it->end = pkt + opt_offset + opt_len;
}

bool wire_opt_next(struct wire_opt_iter *it, uint16_t *code, const uint8_t **data, size_t *len)
{
	if (it->end - it->p < 4)
		return false;
	*code = rd16(it->p);
	*len = rd16(it->p + 2);
	*data = it->p + 4;
	it->p += 4 + *len; /* opt_rdata_ok checked that every option is whole */
	return true;
}

size_t wire_answer_remove_option(uint8_t *ans, size_t len, struct wire_answer *a, uint16_t code)
{
	if (a->opt_len == 0)
		return len;
	uint8_t *rdata = ans + a->opt_offset + OPT_RR_LEN, *end = ans + a->opt_offset + a->opt_len;
	uint8_t *in = rdata, *out = rdata;
	bool found = false;

	for (uint8_t *p = rdata; p < end; p += 4 + rd16(p + 2))
		found |= rd16(p) == code;
	if (!found)
		return len;
	if (a->opt_offset + a->opt_len != len)
		return 0;
	while (in < end) {
		size_t olen = 4 + (size_t)rd16(in + 2);
		if (rd16(in) != code) {
			memmove(out, in, olen);
			out += olen;
		}
		in += olen;
	}
	wr16(ans + a->opt_offset + OPT_RR_LEN - 2, (unsigned)(out - rdata));
	a->opt_len = (size_t)(out - (ans + a->opt_offset));
	return (size_t)(out - ans);
}

/*
 * Expands the name at OFF into OUT, lower-cased, with the checks of name_skip (pointers strictly
 * backwards, at most 255 bytes). Returns the offset just past the name where it sits in the
 * record, or 0 when it is malformed.
 */
static size_t name_expand(const uint8_t *p, size_t len, size_t off, uint8_t *out,
	size_t *out_len)
{
	size_t start = off, end = 0, n = 0;

	for (;;) {
		if (off >= len)
			return 0;
		unsigned c = p[off];
		if (c == 0) {
			out[n++] = 0;
			*out_len = n;
			return end ? end : off + 1;
		}
		if (c <= 63) {
			/* The label and the root after it must fit. */
			if (n + c + 2 > WIRE_NAME_MAX || c + 1 > len - off)
				return 0;
			out[n] = (uint8_t)c;
			value_lower_copy(out + n + 1, p + off + 1, c);
			n += c + 1;
			off += c + 1;
			continue;
		}
		if ((off = pointer_target(p, len, off, start, &end)) == 0)
			return 0;
		start = off;
	}
}

void wire_chain_init(struct wire_chain *c, const uint8_t *ans, size_t len,
	const struct wire_answer *a)
{
	c->pkt = ans;
	c->len = len;
	c->an_start = a->question_end;
	c->an_count = len >= WIRE_HEADER_LEN ? rd16(ans + HDR_ANCOUNT) : 0;
	c->steps = 0;
	c->name_off = WIRE_HEADER_LEN;
	c->name_len = a->question_end - 4 - WIRE_HEADER_LEN;
	value_lower_copy(c->name, ans + WIRE_HEADER_LEN, c->name_len);
}

/*
 * Where, in NAME (LEN bytes, wire format), the proper suffix SUF starts on a label boundary, or
 * 0 when SUF is not one (offset 0 would be NAME itself, which is not a proper suffix).
 */
static size_t suffix_at(const uint8_t *name, size_t len, const uint8_t *suf, size_t suf_len)
{
	for (size_t off = 0; off < len && name[off] != 0; off += name[off] + 1U) {
		size_t rest = len - off;
		if (rest < suf_len)
			return 0;
		if (off > 0 && rest == suf_len && memcmp(name + off, suf, suf_len) == 0)
			return off;
	}
	return 0;
}

/*
 * Whether the (possibly compressed) name at OFF is NAME (lower-case wire format, NAME_LEN bytes),
 * case-insensitively; a malformed name is not. Cheaper than expanding it: most owners that are
 * not the name differ in their first length byte.
 */
static bool name_equal(const uint8_t *p, size_t len, size_t off, const uint8_t *name,
	size_t name_len)
{
	size_t start = off, pos = 0;

	for (;;) {
		if (off >= len || pos >= name_len)
			return false;
		unsigned c = p[off];
		if (c <= 63) {
			if (c != name[pos] || c + 1 > len - off || pos + c + 1 > name_len)
				return false;
			if (c == 0)
				return pos + 1 == name_len;
			for (size_t i = 1; i <= c; i++)
				if (value_lower(p[off + i]) != name[pos + i])
					return false;
			pos += c + 1;
			off += c + 1;
			continue;
		}
		if ((c & 0xc0) != 0xc0 || off + 1 >= len)
			return false;
		size_t target = (c & 0x3f) << 8 | p[off + 1];
		if (target >= start || target < WIRE_HEADER_LEN)
			return false;
		start = off = target;
	}
}

/*
 * Steps over the name at OFF up to its root label or first pointer, without following the
 * pointer: the chain walk only needs record boundaries here (the answer was checked already),
 * and it compares or expands the owners it cares about with the full checks.
 */
static size_t name_skip_shallow(const uint8_t *p, size_t len, size_t off)
{
	while (off < len) {
		unsigned c = p[off];
		if (c == 0)
			return off + 1;
		if (c > 63)
			return (c & 0xc0) == 0xc0 && off + 1 < len ? off + 2 : 0;
		off += c + 1;
	}
	return 0;
}

/*
 * Whether the owner at RR is the chain's current name. Compressors point an alias's owner at
 * where its name was last written (the question, or the previous CNAME's target), so a pointer
 * to C->name_off settles it without reading the name.
 */
static bool owner_is_current(const struct wire_chain *c, size_t rr)
{
	const uint8_t *p = c->pkt;

	if (c->name_off != 0 && rr + 1 < c->len && p[rr] == (0xc0 | c->name_off >> 8) &&
	    p[rr + 1] == (uint8_t)c->name_off)
		return true;
	return name_equal(p, c->len, rr, c->name, c->name_len);
}

/*
 * One pass over the answer section for the alias of the current name: a CNAME owned by it is
 * taken at once; otherwise the first DNAME owning a proper suffix of it. Returns the offset of
 * the chosen record's RDATA (and *PREFIX, 0 for a CNAME, the DNAME's split point otherwise), or
 * 0 when there is none.
 */
static size_t chain_find(const struct wire_chain *c, size_t *prefix)
{
	const uint8_t *p = c->pkt;
	size_t off = c->an_start, dname = 0;
	uint8_t owner[WIRE_NAME_MAX];
	size_t owner_len;

	*prefix = 0;
	for (unsigned i = 0; i < c->an_count; i++) {
		size_t rr = off;
		off = name_skip_shallow(p, c->len, off);
		if (off == 0 || c->len - off < RR_FIXED)
			return 0;
		unsigned type = rd16(p + off);
		size_t rdlen = rd16(p + off + 8);
		off += RR_FIXED;
		if (rdlen > c->len - off)
			return 0;
		if (type == TYPE_CNAME && owner_is_current(c, rr)) {
			*prefix = 0; /* a DNAME seen before loses to the exact CNAME */
			return off;
		}
		size_t at;
		if (type == TYPE_DNAME && dname == 0 &&
		    name_expand(p, c->len, rr, owner, &owner_len) != 0 &&
		    (at = suffix_at(c->name, c->name_len, owner, owner_len)) != 0) {
			dname = off;
			*prefix = at;
		}
		off += rdlen;
	}
	return dname;
}

/* One step; false leaves C->name as it was. */
static bool chain_step(struct wire_chain *c)
{
	uint8_t target[WIRE_NAME_MAX];
	size_t prefix, rdata, tlen;

	rdata = chain_find(c, &prefix);
	if (rdata == 0 || name_expand(c->pkt, c->len, rdata, target, &tlen) == 0)
		return false;
	/* RFC 6672: a DNAME maps the labels before its owner onto its target. */
	if (prefix + tlen > WIRE_NAME_MAX)
		return false; /* the server would have answered YXDOMAIN */
	memcpy(c->name + prefix, target, tlen);
	c->name_len = prefix + tlen;
	c->name_off = prefix ? 0 : rdata; /* a DNAME's result is written nowhere */
	return true;
}

bool wire_chain_next(struct wire_chain *c)
{
	if (c->steps >= WIRE_CHAIN_MAX)
		return false;
	if (!chain_step(c)) {
		c->steps = WIRE_CHAIN_MAX; /* ended for good: the caller may ask again */
		return false;
	}
	c->steps++;
	return true;
}

/* ---- TTLs, for the answer cache ---- */

/*
 * Calls VISIT with the offset of each record's fixed fields (type, class, TTL, rdlength) and its
 * section index (0 answer, 1 authority, 2 additional). The answer was checked, so the walk
 * cannot fail; the bounds are kept anyway because they cost nothing.
 */
static void rr_fields(const uint8_t *p, size_t len, const struct wire_answer *a,
	void (*visit)(uint8_t *p, size_t fixed, unsigned section, void *arg), void *arg)
{
	unsigned counts[3] = { rd16(p + 6), rd16(p + 8), rd16(p + 10) };
	size_t off = a->question_end;

	for (unsigned sec = 0; sec < 3; sec++)
		for (unsigned i = 0; i < counts[sec]; i++) {
			off = name_skip(p, len, off);
			if (off == 0 || len - off < RR_FIXED || rd16(p + off + 8) > len - off - RR_FIXED)
				return;
			visit((uint8_t *)p, off, sec, arg);
			off += RR_FIXED + rd16(p + off + 8);
		}
}

struct ttl_min {
	uint32_t ttl;
	bool any;
};

static void visit_min(uint8_t *p, size_t fixed, unsigned section, void *arg)
{
	struct ttl_min *m = arg;
	unsigned type = rd16(p + fixed);
	uint32_t ttl = rd32(p + fixed + 4);
	size_t rdlen = rd16(p + fixed + 8);

	if (type == TYPE_OPT)
		return;
	/* RFC 2181 8: a TTL with the top bit set is treated as zero. */
	if (ttl & 0x80000000u)
		ttl = 0;
	/* A negative answer lives for min(SOA TTL, SOA MINIMUM): MINIMUM ends the SOA RDATA. */
	if (type == TYPE_SOA && section == 1 && rdlen >= 20) {
		uint32_t minimum = rd32(p + fixed + RR_FIXED + rdlen - 4);
		if (minimum < ttl)
			ttl = minimum;
	}
	if (!m->any || ttl < m->ttl)
		m->ttl = ttl;
	m->any = true;
}

uint32_t wire_answer_ttl(const uint8_t *ans, size_t len, const struct wire_answer *a)
{
	struct ttl_min m = { 0, false };

	rr_fields(ans, len, a, visit_min, &m);
	return m.any ? m.ttl : 0;
}

static void visit_age(uint8_t *p, size_t fixed, unsigned section, void *arg)
{
	uint32_t elapsed = *(const uint32_t *)arg, ttl = rd32(p + fixed + 4);
	(void)section;

	if (rd16(p + fixed) == TYPE_OPT)
		return;
	wr32(p + fixed + 4, ttl > elapsed && !(ttl & 0x80000000u) ? ttl - elapsed : 0);
}

void wire_answer_age(uint8_t *ans, size_t len, const struct wire_answer *a, uint32_t elapsed)
{
	if (elapsed > 0)
		rr_fields(ans, len, a, visit_age, &elapsed);
}
