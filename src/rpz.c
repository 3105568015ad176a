/*
 * rpz: the RPZ zone reader (see include/rpz.h).
 *
 * ldns reads a zone one record at a time through a tokenizer that allocates for every field: two
 * million records took 78 s. Nearly every line of a real feed is "owner CNAME ." or one of four
 * other shapes, so those are parsed here in place, one pass over the line and no allocation, and
 * only what this code does not understand goes to ldns (a NUL-terminated copy of the record, its
 * parentheses and comments flattened). Both paths end in record(), which works on wire form, so
 * transferred records (rpz_reader_rr) get exactly the same treatment as text.
 */
#include "rpz.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldns/ldns.h>

#include "mapfile.h"
#include "value.h"

#define LABEL_MAX 63
#define TYPE_A 1
#define TYPE_NS 2
#define TYPE_CNAME 5
#define TYPE_SOA 6
#define TYPE_AAAA 28

struct rpz_reader {
	const struct rpz_sink *sink;  /* borrowed */
	struct rpz_stats *st;         /* borrowed */
	uint8_t apex[CONFIG_NAME_MAX];
	size_t apex_len;              /* 0 until known */
	bool apex_fixed;              /* given by the caller: never replaced */
	bool apex_from_soa;           /* taken from an SOA: a later SOA does not move it */
	uint8_t origin[CONFIG_NAME_MAX];
	size_t origin_len;            /* $ORIGIN for relative names; 0 until known */
	uint8_t owner[CONFIG_NAME_MAX];
	size_t owner_len;             /* the previous record's owner (a line may leave it out) */
	uint32_t ttl;                 /* $TTL: ldns wants a default */
	char *copy;                   /* owned: the fallback's NUL-terminated record */
	size_t copy_cap;
	bool oom;                     /* a -1 return was for want of memory */
	ldns_buffer *rdata;           /* owned: the fallback's record data in wire form */
};

struct rpz_reader *rpz_reader_new(const uint8_t *apex, size_t apex_len, const struct rpz_sink *sink,
	struct rpz_stats *st)
{
	struct rpz_reader *r = calloc(1, sizeof(*r));

	if (r == NULL || apex_len > CONFIG_NAME_MAX)
		goto fail;
	r->sink = sink;
	r->st = st;
	r->ttl = 3600;
	if (apex != NULL) {
		value_lower_copy(r->apex, apex, apex_len);
		r->apex_len = apex_len;
		r->apex_fixed = true;
		memcpy(r->origin, r->apex, apex_len); /* a persisted copy may have no $ORIGIN */
		r->origin_len = apex_len;
	}
	if ((r->rdata = ldns_buffer_new(512)) == NULL)
		goto fail;
	return r;
fail:
	rpz_reader_free(r);
	return NULL;
}

void rpz_reader_free(struct rpz_reader *r)
{
	if (r == NULL)
		return;
	if (r->rdata != NULL)
		ldns_buffer_free(r->rdata);
	free(r->copy);
	free(r);
}

/* ---- records in wire form -------------------------------------------------------------------- */

static void bad(struct rpz_reader *r, unsigned line, const char *msg)
{
	r->st->bad++;
	if (r->sink->bad != NULL)
		r->sink->bad(r->sink->ctx, line, msg);
}

/* The length of the wire name at NAME within N octets, or 0 when it is malformed there. */
static size_t wire_name_len(const uint8_t *name, size_t n)
{
	size_t o = 0;

	while (o < n && name[o] != 0) {
		if (name[o] > LABEL_MAX)
			return 0; /* a compression pointer or an unknown label type */
		o += 1 + name[o];
	}
	return o < n && o + 1 <= CONFIG_NAME_MAX ? o + 1 : 0;
}

/* Whether wire name NAME has a label naming another RPZ trigger type (rpz-ip, rpz-nsdname...). */
static bool has_trigger_label(const uint8_t *name)
{
	static const struct { uint8_t len; char text[14]; } labels[] = {
		{ 6, "rpz-ip" }, { 8, "rpz-nsip" }, { 11, "rpz-nsdname" }, { 13, "rpz-client-ip" } };

	for (; *name != 0; name += 1 + *name) {
		if (*name < 6 || memcmp(name + 1, "rpz-", 4) != 0) /* every label of every record */
			continue;
		for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
			if (*name == labels[i].len && memcmp(name + 1, labels[i].text, *name) == 0)
				return true;
	}
	return false;
}

/* Whether the last SUFFIX_LEN octets of wire name NAME (LEN octets) start at a label. */
static bool label_boundary(const uint8_t *name, size_t len, size_t suffix_len)
{
	size_t o = 0;

	while (o < len - suffix_len && name[o] != 0)
		o += 1 + name[o];
	return o == len - suffix_len;
}

/* The action a CNAME's target (lower-case wire name, N octets) stands for, into E. */
static void cname_action(const uint8_t *t, size_t n, struct lists_entry *e)
{
	if (n == 1)
		e->action = ACTION_NXDOMAIN;                                  /* "." */
	else if (n == 3 && t[0] == 1 && t[1] == '*')
		e->action = ACTION_NODATA;                                    /* "*." */
	else if (n == 14 && memcmp(t, "\014rpz-passthru", 13) == 0)
		e->action = ACTION_ALLOW;
	else if (n == 10 && memcmp(t, "\010rpz-drop", 9) == 0)
		e->action = ACTION_DROP;
	else {
		e->action = ACTION_REDIRECT;
		e->cname = t;
		e->cname_len = n;
	}
}

/* The first SOA's timers, from its wire RDATA (two names, five 32-bit numbers). */
static void soa_fields(struct rpz_stats *st, const uint8_t *rdata, size_t rdlen)
{
	size_t m = wire_name_len(rdata, rdlen), rn;
	const uint8_t *p;
	uint32_t v[5];

	if (m == 0 || (rn = wire_name_len(rdata + m, rdlen - m)) == 0 || rdlen - m - rn < 20)
		return;
	p = rdata + m + rn;
	for (int i = 0; i < 5; i++, p += 4)
		v[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	st->have_soa = true;
	st->serial = v[0];
	st->refresh = v[1];
	st->retry = v[2];
	st->expire = v[3];
	st->minimum = v[4];
}

/*
 * One record: OWNER is lower-case wire form (OLEN octets), RDATA uncompressed. Bad records are
 * reported; returns -1 only when the entry callback failed.
 */
static int record(struct rpz_reader *r, const uint8_t *owner, size_t olen, uint16_t type,
	uint32_t ttl, const uint8_t *rdata, size_t rdlen, unsigned line)
{
	uint8_t trig[CONFIG_NAME_MAX], target[CONFIG_NAME_MAX];
	struct lists_entry e = { .line = line, .name = trig, .form = MATCH_EXACT };
	size_t tlen, n;

	if (r->sink->record != NULL &&
		r->sink->record(r->sink->ctx, owner, olen, type, ttl, rdata, rdlen) < 0)
		return -1;
	if (type == TYPE_SOA) {
		if (!r->st->have_soa)
			soa_fields(r->st, rdata, rdlen);
		if (!r->apex_fixed && !r->apex_from_soa) { /* the zone's apex, when not given */
			memcpy(r->apex, owner, olen);
			r->apex_len = olen;
			r->apex_from_soa = true;
		}
		if (r->origin_len == 0) {
			memcpy(r->origin, owner, olen);
			r->origin_len = olen;
		}
		r->st->ignored++;
		return 0;
	}
	if (r->apex_len == 0) {
		bad(r, line, "record before the SOA and no $ORIGIN");
		return 0;
	}
	if (type == TYPE_NS) {
		r->st->ignored++;
		return 0;
	}
	if (olen < r->apex_len || memcmp(owner + olen - r->apex_len, r->apex, r->apex_len) != 0 ||
		!label_boundary(owner, olen, r->apex_len)) {
		bad(r, line, "owner is not below the zone's origin");
		return 0;
	}
	tlen = olen - r->apex_len;
	if (tlen == 0) {
		bad(r, line, "only SOA and NS records belong at the zone's origin");
		return 0;
	}
	memcpy(trig, owner, tlen);
	trig[tlen] = 0;
	e.name_len = tlen + 1;
	if (trig[0] == 1 && trig[1] == '*') {
		e.name = trig + 2;
		e.name_len -= 2;
		e.form = MATCH_BELOW;
	}
	if (has_trigger_label(trig)) {
		if (r->sink->flags & RPZ_SKIP_OTHER_TRIGGERS)
			r->st->other_triggers++;
		else
			bad(r, line, "only QNAME triggers are supported (no rpz-ip, rpz-nsdname, rpz-client-ip)");
		return 0;
	}
	switch (type) {
	case TYPE_CNAME:
		if ((n = wire_name_len(rdata, rdlen)) == 0 || n != rdlen) {
			bad(r, line, "malformed CNAME target");
			return 0;
		}
		value_lower_copy(target, rdata, n);
		cname_action(target, n, &e);
		break;
	case TYPE_A:
	case TYPE_AAAA:
		if (rdlen != (type == TYPE_A ? 4u : 16u)) {
			bad(r, line, "malformed address record");
			return 0;
		}
		e.action = ACTION_REDIRECT;
		e.addr_family = type == TYPE_A ? AF_INET : AF_INET6;
		memcpy(e.addr, rdata, rdlen);
		break;
	default:
		bad(r, line, "unsupported record type: expected CNAME, A or AAAA");
		return 0;
	}
	r->st->entries++;
	return r->sink->entry != NULL ? r->sink->entry(r->sink->ctx, &e) : 0;
}

int rpz_reader_rr(struct rpz_reader *r, const uint8_t *owner, size_t owner_len, uint16_t type,
	uint32_t ttl, const uint8_t *rdata, size_t rdlen)
{
	uint8_t name[CONFIG_NAME_MAX];

	r->st->records++;
	if (wire_name_len(owner, owner_len) != owner_len) {
		bad(r, 0, "malformed owner name");
		return 0;
	}
	value_lower_copy(name, owner, owner_len);
	return record(r, name, owner_len, type, ttl, rdata, rdlen, 0);
}

/* ---- text: the fast path --------------------------------------------------------------------- */

/* Per byte: 1 ends a line's plain part (newline, comment), 2 sends the line to ldns. */
static const uint8_t line_char[256] = {
	['\n'] = 1, [';'] = 1, ['('] = 2, [')'] = 2, ['"'] = 2, ['\\'] = 2, ['\0'] = 2,
};

/*
 * A name in presentation form ("@", "name." absolute, "name" relative to ORIGIN, a leading "*"
 * label allowed) into lower-case wire form OUT. Returns 0, or 1 when it is not the plain kind
 * this path reads (escapes, other characters, too long, no origin): ldns takes it then. The
 * labels are checked by value_parse_name_len, the one name validation.
 */
static int fast_name(const char *text, size_t n, const uint8_t *origin, size_t origin_len,
	uint8_t *out, size_t *out_len)
{
	uint8_t labels[CONFIG_NAME_MAX];
	size_t w = 0, body = n, llen = 1, tail;
	bool absolute = n > 0 && text[n - 1] == '.';
	const char *err;

	if (n == 1 && text[0] == '@') {
		if (origin_len == 0)
			return 1;
		memcpy(out, origin, origin_len);
		*out_len = origin_len;
		return 0;
	}
	if (n == 1 && absolute) {
		out[0] = 0;
		*out_len = 1;
		return 0;
	}
	body -= absolute;
	if (body == 0 || text[body - 1] == '.')
		return 1; /* an empty label */
	if (text[0] == '*' && (body == 1 || text[1] == '.')) { /* the wildcard label */
		out[w++] = 1;
		out[w++] = '*';
		text += body == 1 ? 1 : 2;
		body -= body == 1 ? 1 : 2;
	}
	for (size_t i = 0; i < body; i++)
		if ((unsigned char)text[i] >= 0x80)
			return 1; /* raw octets, which a zone file may carry and a policy file may not */
	if (body > 0 && value_parse_name_len(text, body, labels, &llen, &err) < 0)
		return 1;
	tail = absolute ? 1 : origin_len;
	if ((!absolute && origin_len == 0) || w + llen - 1 + tail > CONFIG_NAME_MAX)
		return 1;
	memcpy(out + w, labels, llen - 1); /* without their root label: the origin or root follows */
	w += llen - 1;
	if (absolute)
		out[w++] = 0;
	else
		memcpy(out + w, origin, origin_len);
	*out_len = absolute ? w : w + origin_len;
	return 0;
}

/* Whether word W (N bytes) is the literal S, any case. */
#define word_is(w, n, s) ((n) == sizeof(s) - 1 && strncasecmp((w), (s), (n)) == 0)

/* $ORIGIN, $TTL and the directives refused, the line [P, END) without its comment. */
static void directive(struct rpz_reader *r, const char *p, const char *end, unsigned line)
{
	const char *w = p, *v;
	size_t n = 0, vn;
	char num[32], *e;
	uint8_t name[CONFIG_NAME_MAX];
	size_t len;

	value_next_word(&p, end, &w, &n);
	if (word_is(w, n, "$ORIGIN") || word_is(w, n, "$TTL")) {
		const char *x;
		size_t xn;

		if (!value_next_word(&p, end, &v, &vn) || value_next_word(&p, end, &x, &xn)) {
			bad(r, line, w[1] == 'O' || w[1] == 'o' ? "$ORIGIN: expected one domain name" :
				"$TTL: expected one time value");
			return;
		}
		if (w[1] == 'T' || w[1] == 't') {
			if (vn >= sizeof(num))
				goto bad_ttl;
			memcpy(num, v, vn);
			num[vn] = '\0';
			r->ttl = ldns_str2period(num, (const char **)&e);
			if (*e != '\0')
				goto bad_ttl;
			return;
		}
		if (fast_name(v, vn, r->origin, r->origin_len, name, &len) != 0) {
			bad(r, line, "$ORIGIN: expected a domain name");
			return;
		}
		memcpy(r->origin, name, len);
		r->origin_len = len;
		if (r->apex_len == 0) { /* until an SOA says otherwise */
			memcpy(r->apex, name, len);
			r->apex_len = len;
		}
		return;
	}
	bad(r, line, word_is(w, n, "$INCLUDE") ? "$INCLUDE is not supported" :
		"unknown directive: expected $ORIGIN or $TTL");
	return;
bad_ttl:
	bad(r, line, "$TTL: expected a time value");
}

/* Whether word W is a TTL of digits only (with units, ldns reads the record). */
static bool is_ttl(const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (w[i] < '0' || w[i] > '9')
			return false;
	return n <= 10;
}

/*
 * One line [P, END) (its comment already cut off) with no quote, parenthesis or escape in it.
 * Returns 0 when done, 1 when ldns has to read it, -1 when the entry callback failed.
 */
static int fast_line(struct rpz_reader *r, const char *p, const char *end, unsigned line)
{
	uint8_t owner[CONFIG_NAME_MAX], rdata[CONFIG_NAME_MAX];
	size_t olen, rdlen, n, k;
	const char *w;
	bool inherit = *p == ' ' || *p == '\t';
	uint16_t type;
	uint32_t ttl = r->ttl;
	char addr[INET6_ADDRSTRLEN + 1];

	if (!value_next_word(&p, end, &w, &n))
		return 0; /* blank, or only a comment */
	if (!inherit && w[0] == '$') {
		directive(r, w, end, line);
		return 0;
	}
	if (inherit) {
		if (r->owner_len == 0)
			return 1;
		memcpy(owner, r->owner, r->owner_len);
		olen = r->owner_len;
	} else {
		if (fast_name(w, n, r->origin, r->origin_len, owner, &olen) != 0)
			return 1;
		if (!value_next_word(&p, end, &w, &n))
			return 1;
	}
	/* [TTL] [IN] in either order, then the type */
	for (k = 0; k < 2 && (is_ttl(w, n) || word_is(w, n, "IN")); k++) {
		if (is_ttl(w, n)) {
			uint64_t v = 0;

			for (size_t i = 0; i < n; i++)
				v = v * 10 + (uint64_t)(w[i] - '0');
			if (v > UINT32_MAX)
				return 1;
			ttl = (uint32_t)v;
		}
		if (!value_next_word(&p, end, &w, &n))
			return 1;
	}
	if (word_is(w, n, "CNAME"))
		type = TYPE_CNAME;
	else if (word_is(w, n, "A"))
		type = TYPE_A;
	else if (word_is(w, n, "AAAA"))
		type = TYPE_AAAA;
	else
		return 1;
	if (!value_next_word(&p, end, &w, &n))
		return 1;
	{
		const char *x;
		size_t xn;

		if (value_next_word(&p, end, &x, &xn))
			return 1;
	}
	if (type == TYPE_CNAME) {
		if (fast_name(w, n, r->origin, r->origin_len, rdata, &rdlen) != 0)
			return 1;
	} else {
		if (n >= sizeof(addr))
			return 1;
		memcpy(addr, w, n);
		addr[n] = '\0';
		if (inet_pton(type == TYPE_A ? AF_INET : AF_INET6, addr, rdata) != 1)
			return 1;
		rdlen = type == TYPE_A ? 4 : 16;
	}
	if (!inherit) {
		memcpy(r->owner, owner, olen);
		r->owner_len = olen;
	}
	r->st->records++;
	return record(r, owner, olen, type, ttl, rdata, rdlen, line);
}

/* ---- text: the ldns fallback ----------------------------------------------------------------- */

/* Appends C to R->copy, growing it. -1 when out of memory. */
static int copy_put(struct rpz_reader *r, size_t *w, char c)
{
	if (*w + 1 >= r->copy_cap) {
		size_t ncap = r->copy_cap ? r->copy_cap * 2 : 256;
		char *nc = realloc(r->copy, ncap);

		if (nc == NULL)
			return -1;
		r->copy = nc;
		r->copy_cap = ncap;
	}
	r->copy[(*w)++] = c;
	return 0;
}

/*
 * The record starting at P, up to END: its lines while a parenthesis is open. Copied into
 * R->copy NUL-terminated with comments dropped and line breaks made spaces (ldns's string reader
 * wants one line). *NEXT is where the next record starts, *LINES how many lines it spans.
 * Returns the copy's length, or -1 when out of memory; *NUL says a NUL byte was in it.
 */
static long record_copy(struct rpz_reader *r, const char *p, const char *end, const char **next,
	unsigned *lines, bool *nul)
{
	size_t w = 0;
	int depth = 0;
	bool quote = false;

	*lines = 1;
	*nul = false;
	for (; p < end; p++) {
		char c = *p;

		if (c == '\n') {
			if (depth == 0 && !quote) {
				p++;
				break;
			}
			(*lines)++;
			c = ' ';
		} else if (c == '\0') {
			*nul = true;
		} else if (c == '\\' && p + 1 < end && p[1] != '\n') {
			if (copy_put(r, &w, c) < 0)
				return -1;
			c = *++p;
		} else if (c == '"') {
			quote = !quote;
		} else if (!quote && c == '(') {
			depth++;
		} else if (!quote && c == ')' && depth > 0) {
			depth--;
		} else if (!quote && c == ';') {
			while (p + 1 < end && p[1] != '\n')
				p++;
			continue;
		}
		if (copy_put(r, &w, c) < 0)
			return -1;
	}
	if (copy_put(r, &w, '\0') < 0)
		return -1;
	*next = p;
	return (long)w - 1;
}

/*
 * The type of the record in COPY (LEN bytes) when its words say plainly (owner unless the line
 * starts blank, then up to two TTL or class words), or 0. A type this reader does not use is
 * refused from that alone: its data is never parsed (ldns's parsers of some exotic types, CERT
 * for one, leak on bad input) and would be dropped anyway.
 */
static uint16_t peek_type(const char *copy, size_t len)
{
	const char *p = copy, *end = copy + len, *w;
	char word[32];
	size_t n;
	bool owner = *p != ' ' && *p != '\t';

	for (int k = 0; k < 3 + owner; k++) {
		if (!value_next_word(&p, end, &w, &n))
			return 0;
		if (k == 0 && owner)
			continue;
		if (is_ttl(w, n) || word_is(w, n, "IN") || word_is(w, n, "CH") || word_is(w, n, "HS") ||
			word_is(w, n, "CS"))
			continue;
		if (n >= sizeof(word))
			return 0;
		memcpy(word, w, n);
		word[n] = '\0';
		return (uint16_t)ldns_get_rr_type_by_name(word);
	}
	return 0;
}

/* The record in R->copy (LEN bytes), read by ldns. Returns -1 when out of memory or the entry
   callback failed. */
static int slow_record(struct rpz_reader *r, size_t len, unsigned line)
{
	ldns_rdf *origin = NULL, *prev = NULL; /* owned here */
	ldns_rr *rr = NULL;
	ldns_status st;
	const char *p = r->copy, *w;
	size_t n, olen;
	uint8_t owner[CONFIG_NAME_MAX];
	uint16_t type;
	int rc = -1;

	r->oom = true; /* until the record is through ldns: every early exit is ENOMEM */
	if (!value_next_word(&p, r->copy + len, &w, &n))
		return 0; /* only blanks and comments */
	if (w == r->copy && w[0] == '$') {
		directive(r, r->copy, r->copy + len, line);
		return 0;
	}
	r->st->records++;
	type = peek_type(r->copy, len);
	if (type != 0 && type != TYPE_SOA && type != TYPE_NS && type != TYPE_CNAME &&
		type != TYPE_A && type != TYPE_AAAA) {
		r->oom = false;
		bad(r, line, "unsupported record type: expected CNAME, A or AAAA");
		return 0;
	}
	r->st->fallback++;
	if ((r->origin_len > 0 &&
		(origin = ldns_dname_new_frm_data((uint16_t)r->origin_len, r->origin)) == NULL) ||
		(r->owner_len > 0 &&
		(prev = ldns_dname_new_frm_data((uint16_t)r->owner_len, r->owner)) == NULL))
		goto out;
	st = ldns_rr_new_frm_str(&rr, r->copy, r->ttl, origin, &prev);
	if (st == LDNS_STATUS_MEM_ERR)
		goto out;
	if (st != LDNS_STATUS_OK) {
		r->oom = false;
		bad(r, line, ldns_get_errorstr_by_id(st));
		rc = 0;
		goto out;
	}
	r->oom = false;
	olen = ldns_rdf_size(ldns_rr_owner(rr));
	if (olen > CONFIG_NAME_MAX) {
		bad(r, line, "owner name longer than 255 octets");
		rc = 0;
		goto out;
	}
	value_lower_copy(owner, ldns_rdf_data(ldns_rr_owner(rr)), olen);
	memcpy(r->owner, owner, olen);
	r->owner_len = olen;
	ldns_buffer_clear(r->rdata);
	if (ldns_rr_rdata2buffer_wire(r->rdata, rr) != LDNS_STATUS_OK) {
		r->oom = true; /* the buffer could not grow */
		goto out;
	}
	rc = record(r, owner, olen, (uint16_t)ldns_rr_get_type(rr), ldns_rr_ttl(rr),
		ldns_buffer_begin(r->rdata),
		ldns_buffer_position(r->rdata), line);
out:
	ldns_rr_free(rr);
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	return rc;
}

/* ---- text ------------------------------------------------------------------------------------ */

int rpz_reader_text(struct rpz_reader *r, const char *text, size_t len, unsigned first_line)
{
	/* An empty file is mapped as NULL: no records, and no NULL + 0 below. */
	if (len == 0)
		return 0;

	const char *p = text, *end = text + len;
	unsigned line = first_line;

	while (p < end) {
		const char *stop = p, *nl, *next;
		bool nul;
		unsigned lines = 1;
		int rc = 1;
		long n;

		while (stop < end && line_char[(unsigned char)*stop] == 0)
			stop++;
		if (stop == end || line_char[(unsigned char)*stop] == 1) {
			nl = stop < end && *stop == '\n' ? stop :
				memchr(stop, '\n', (size_t)(end - stop)); /* past a comment */
			if (nl == NULL)
				nl = end; /* a last line without its newline */
			if ((rc = fast_line(r, p, stop, line)) < 0)
				return -1;
		}
		if (rc == 0) {
			p = nl + (nl < end);
			line++;
			continue;
		}
		if ((n = record_copy(r, p, end, &next, &lines, &nul)) < 0) {
			r->oom = true;
			return -1;
		}
		if (nul)
			bad(r, line, "NUL byte in record");
		else if (slow_record(r, (size_t)n, line) < 0)
			return -1;
		p = next;
		line += lines;
	}
	return 0;
}

int rpz_read_file(const char *path, const uint8_t *apex, size_t apex_len,
	const struct rpz_sink *sink, struct rpz_stats *st, const char **err)
{
	struct rpz_reader *r = rpz_reader_new(apex, apex_len, sink, st); /* owned, freed below */
	struct mapfile m = { 0 };
	int rc = -1;

	*err = "out of memory";
	if (r == NULL || mapfile_map(path, &m, err) < 0)
		goto out;
	*err = NULL;
	if ((rc = rpz_reader_text(r, m.data, m.size, 1)) < 0 && r->oom)
		*err = "out of memory";
out:
	mapfile_unmap(&m);
	rpz_reader_free(r);
	return rc;
}
