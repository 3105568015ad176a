/*
 * xfrapply: one zone transfer answer read and applied (see include/xfrapply.h).
 *
 * The answer's records go through the RPZ reader one by one, as the lines of a zone file would;
 * its sink puts each trigger into the fresh zonedb (a full zone) or the change log (an
 * increment). The change log is a flat byte log rather than a list of entries: an IXFR of a
 * million changes is one growing buffer, and nothing of it reaches the store before the final
 * SOA has arrived in a verified message.
 */
#include "wire.h" /* before ldns: see wire.h */
#include "xfrapply.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ldns/ldns.h>

#include "rpz.h"
#include "zonedb.h"

/* Where a transfer answer is, RR by RR (RFC 1995 4, RFC 5936 2.2). */
enum phase {
	P_FIRST,  /* the first SOA: the primary's serial */
	P_SECOND, /* IXFR: an SOA with our serial starts an increment; anything else is a full zone */
	P_FULL,   /* full zone: records until the final SOA */
	P_DEL,    /* increment: deletions until the next SOA */
	P_ADD,    /* increment: additions until the next SOA (the final one when it has the new serial) */
	P_DONE
};

/* The changes of an IXFR, kept as a flat byte log until the transfer is complete. */
struct change_log {
	uint8_t *buf; /* owned */
	size_t len, cap, count;
};

/* One answer being read. */
struct xfrapply {
	struct xfrapply_held held;
	bool ixfr;                  /* we asked for an increment */
	bool up_to_date;            /* the answer was our own serial */
	enum phase phase;
	struct xfrapply_soa soa;    /* of the new version */
	struct zonedb *fresh;       /* owned: a full zone being received */
	struct change_log log;
	size_t skipped_add, skipped_del;
	const char *skip_why;
	struct rpz_reader *reader;  /* owned: the RPZ reader the data records go through */
	struct rpz_sink sink;
	struct rpz_stats rst;
	bool adding;                /* the record being read is an addition (else a deletion) */
	const char *bad;            /* the reader's complaint about it, or NULL */
};

/* RFC 1982 serial number arithmetic: whether A is newer than B. */
/* A change log record: op, form, action, family, name, cname, address. */
static int log_change(struct change_log *cl, bool add, const struct lists_entry *e)
{
	size_t need = 6 + e->name_len + e->cname_len + (e->addr_family ? 16 : 0);

	if (cl->len + need > cl->cap) {
		size_t ncap = cl->cap ? cl->cap * 2 : 4096;
		uint8_t *nb;
		while (ncap < cl->len + need)
			ncap *= 2;
		if ((nb = realloc(cl->buf, ncap)) == NULL)
			return -1;
		cl->buf = nb;
		cl->cap = ncap;
	}
	uint8_t *p = cl->buf + cl->len;
	*p++ = add;
	*p++ = (uint8_t)e->form;
	*p++ = (uint8_t)e->action;
	*p++ = (uint8_t)(e->addr_family == AF_INET ? 4 : e->addr_family == AF_INET6 ? 6 : 0);
	*p++ = (uint8_t)e->name_len;
	memcpy(p, e->name, e->name_len);
	p += e->name_len;
	*p++ = (uint8_t)e->cname_len;
	if (e->cname_len > 0)
		memcpy(p, e->cname, e->cname_len);
	p += e->cname_len;
	if (e->addr_family) {
		memcpy(p, e->addr, 16);
		p += 16;
	}
	cl->len = (size_t)(p - cl->buf);
	cl->count++;
	return 0;
}

/* The change log record at *P (advanced past it) into *E and *ADD; E points into the log. */
static void log_next(const uint8_t **pp, struct lists_entry *e, bool *add)
{
	const uint8_t *p = *pp;

	*e = (struct lists_entry){ .form = (enum match_form)p[1], .action = (enum policy_action)p[2] };
	*add = p[0];
	e->addr_family = p[3] == 4 ? AF_INET : p[3] == 6 ? AF_INET6 : 0;
	e->name_len = p[4];
	e->name = p + 5;
	p += 5 + e->name_len;
	e->cname_len = *p++;
	e->cname = p;
	p += e->cname_len;
	if (e->addr_family) {
		memcpy(e->addr, p, 16);
		p += 16;
	}
	*pp = p;
}

/*
 * Applies the change log to the store. Returns 0, 1 when a deletion named a record we do not
 * have (our copy and the primary's differ: the store is marked dirty), -1 when out of memory.
 */
static int log_apply(struct zonedb *db, const struct change_log *cl, size_t *dels, size_t *adds)
{
	const uint8_t *p = cl->buf, *end = cl->buf + cl->len;
	int result = 0;

	while (p < end) {
		struct lists_entry e;
		bool add;
		int rc;

		log_next(&p, &e, &add);
		rc = add ? zonedb_add(db, &e) : zonedb_del(db, &e);
		if (rc < 0)
			return -1;
		if (rc > 0)
			result = 1;
		*(add ? adds : dels) += 1;
	}
	return result;
}

int xfrapply_foreach_change(const struct xfrapply *r, lists_entry_cb *cb, void *ctx)
{
	const uint8_t *p = r->log.buf, *end = r->log.buf + r->log.len;

	if (r->fresh != NULL)
		return 0;
	while (p < end) {
		struct lists_entry e;
		bool add;

		log_next(&p, &e, &add);
		if (cb(ctx, &e) < 0)
			return -1;
	}
	return 0;
}

/* The reader's sink: each trigger into the fresh zone or the change log. */
static int run_entry(void *ctx, const struct lists_entry *e)
{
	struct xfrapply *r = ctx;

	if (r->fresh != NULL)
		return zonedb_add(r->fresh, e) < 0 ? -1 : 0;
	return log_change(&r->log, r->adding, e);
}

static void run_bad(void *ctx, unsigned line, const char *msg)
{
	struct xfrapply *r = ctx;
	(void)line;

	if (r->bad == NULL)
		r->bad = msg;
}

/*
 * One data record of the answer, through the RPZ reader (rpz.h), which makes it a trigger as it
 * would a line of a zone file. Other trigger types and local data other than CNAME, A and AAAA
 * are counted and skipped; anything the reader calls bad fails the transfer. NULL, or why.
 */
static const char *run_record(struct xfrapply *r, const ldns_rr *rr, bool add)
{
	static _Thread_local char msg[192];
	ldns_rr_type type = ldns_rr_get_type(rr);
	const ldns_rdf *rd = ldns_rr_rd_count(rr) == 1 ? ldns_rr_rdf(rr, 0) : NULL;
	size_t other = r->rst.other_triggers;

	if (type == LDNS_RR_TYPE_NS && ldns_dname_compare(ldns_rr_owner(rr), r->held.apex) == 0)
		return NULL; /* the zone's own NS */
	if ((type != LDNS_RR_TYPE_CNAME && type != LDNS_RR_TYPE_A && type != LDNS_RR_TYPE_AAAA) ||
		ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
		*(add ? &r->skipped_add : &r->skipped_del) += 1;
		if (r->skip_why == NULL)
			r->skip_why = "local data other than CNAME, A and AAAA";
		return NULL;
	}
	if (rd == NULL)
		return "a record without its data";
	r->adding = add;
	r->bad = NULL;
	if (rpz_reader_rr(r->reader, ldns_rdf_data(ldns_rr_owner(rr)),
		ldns_rdf_size(ldns_rr_owner(rr)), (uint16_t)type, ldns_rr_ttl(rr), ldns_rdf_data(rd),
		ldns_rdf_size(rd)) < 0)
		return "out of memory";
	if (r->rst.other_triggers > other) {
		*(add ? &r->skipped_add : &r->skipped_del) += 1;
		if (r->skip_why == NULL)
			r->skip_why = "rpz-ip, rpz-nsip, rpz-nsdname or rpz-client-ip trigger";
	}
	if (r->bad != NULL) {
		char *owner = ldns_rdf2str(ldns_rr_owner(rr));
		snprintf(msg, sizeof(msg), "malformed record %s: %s", owner ? owner : "?", r->bad);
		free(owner);
		return msg;
	}
	return NULL;
}

static uint32_t soa_field(const ldns_rr *soa, size_t i)
{
	return ldns_rdf2native_int32(ldns_rr_rdf(soa, i));
}

static bool is_soa(const ldns_rr *rr)
{
	return ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && ldns_rr_rd_count(rr) == 7;
}

bool xfrapply_is_apex_soa(const ldns_rr *rr, const ldns_rdf *apex, uint32_t *serial)
{
	if (!is_soa(rr) || ldns_dname_compare(ldns_rr_owner(rr), apex) != 0)
		return false;
	*serial = soa_field(rr, 2);
	return true;
}

/* Through the phases of enum phase. */
const char *xfrapply_rr(struct xfrapply *r, const ldns_rr *rr, bool *backwards)
{
	bool soa = is_soa(rr);

	switch (r->phase) {
	case P_FIRST: {
		char *m, *n;
		if (!soa || ldns_dname_compare(ldns_rr_owner(rr), r->held.apex) != 0)
			return "the answer does not start with the zone's SOA";
		r->soa.serial = soa_field(rr, 2);
		r->soa.refresh = soa_field(rr, 3);
		r->soa.retry = soa_field(rr, 4);
		r->soa.expire = soa_field(rr, 5);
		r->soa.minimum = soa_field(rr, 6);
		m = ldns_rdf2str(ldns_rr_rdf(rr, 0));
		n = ldns_rdf2str(ldns_rr_rdf(rr, 1));
		snprintf(r->soa.mname, sizeof(r->soa.mname), "%s", m ? m : ".");
		snprintf(r->soa.rname, sizeof(r->soa.rname), "%s", n ? n : ".");
		free(m);
		free(n);
		if (r->held.trusted && xfr_serial_gt(r->held.serial, r->soa.serial)) {
			*backwards = true;
			return "serial went backwards";
		}
		if (r->ixfr) {
			r->up_to_date = r->soa.serial == r->held.serial;
			r->phase = P_SECOND;
			return NULL;
		}
		r->phase = P_FULL;
		r->fresh = zonedb_new(r->held.cz->text, r->held.cz->reason, r->held.cz->ref, 1024);
		return r->fresh == NULL ? "out of memory" : NULL;
	}
	case P_SECOND:
		r->up_to_date = false;
		if (soa && soa_field(rr, 2) == r->held.serial && r->soa.serial != r->held.serial) {
			r->phase = P_DEL;
			return NULL;
		}
		/* RFC 1995 4: a primary without the increment sends the whole zone instead */
		if ((r->fresh = zonedb_new(r->held.cz->text, r->held.cz->reason, r->held.cz->ref,
			r->held.triggers)) == NULL)
			return "out of memory";
		r->phase = P_FULL;
		/* this record is the zone's first */
		__attribute__((fallthrough));
	case P_FULL:
		if (soa) {
			if (soa_field(rr, 2) != r->soa.serial)
				return "the final SOA's serial differs from the first";
			r->phase = P_DONE;
			return NULL;
		}
		return run_record(r, rr, true);
	case P_DEL:
		if (soa) {
			r->phase = P_ADD;
			return NULL;
		}
		return run_record(r, rr, false);
	case P_ADD:
		if (soa) {
			r->phase = soa_field(rr, 2) == r->soa.serial ? P_DONE : P_DEL;
			return NULL;
		}
		return run_record(r, rr, true);
	case P_DONE:
		break;
	}
	return "records after the final SOA";
}

struct xfrapply *xfrapply_new(const struct xfrapply_held *held, bool ixfr)
{
	struct xfrapply *r = calloc(1, sizeof(*r)); /* owned by the caller */

	if (r == NULL)
		return NULL;
	r->held = *held;
	r->ixfr = ixfr;
	r->sink = (struct rpz_sink){ .entry = run_entry, .bad = run_bad, .ctx = r,
		.flags = RPZ_SKIP_OTHER_TRIGGERS };
	if ((r->reader = rpz_reader_new(ldns_rdf_data(held->apex), ldns_rdf_size(held->apex),
		&r->sink, &r->rst)) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

void xfrapply_free(struct xfrapply *r)
{
	if (r == NULL)
		return;
	zonedb_free(r->fresh);
	free(r->log.buf);
	rpz_reader_free(r->reader);
	free(r);
}

bool xfrapply_complete(struct xfrapply *r)
{
	/* an IXFR answer of one SOA with our serial: nothing to do */
	if (r->phase == P_SECOND && r->up_to_date)
		r->phase = P_DONE;
	return r->phase == P_DONE;
}

bool xfrapply_up_to_date(const struct xfrapply *r)
{
	return r->up_to_date;
}

const struct xfrapply_soa *xfrapply_soa(const struct xfrapply *r)
{
	return &r->soa;
}

const char *xfrapply_skip_why(const struct xfrapply *r)
{
	return r->skip_why;
}

int xfrapply_commit(struct xfrapply *r, struct zonedb **db, uint64_t *skipped,
	struct xfrapply_result *res)
{
	int rc;

	*res = (struct xfrapply_result){ .full = r->fresh != NULL };
	if (r->fresh != NULL) {
		zonedb_free(*db);
		*db = r->fresh;
		r->fresh = NULL;
		*skipped = r->skipped_add;
		return 0;
	}
	if ((rc = log_apply(*db, &r->log, &res->dels, &res->adds)) != 0)
		return rc;
	*skipped = *skipped + r->skipped_add >= r->skipped_del ?
		*skipped + r->skipped_add - r->skipped_del : 0;
	return 0;
}
