/*
 * xfrout: the served RPZ zone, its versions, history and transfers (see include/xfrout.h).
 *
 * A version's records are an rrset (include/rrset.h): one block of owner | type | rdata keys in
 * wire form and an array of offsets sorted by key. Two versions are compared by one merge of
 * their sorted arrays (rrset_diff), which gives the delta (records removed, records
 * added; a changed TTL is a removal and an addition) in O(n). Messages are written straight from
 * the blocks, uncompressed: a 2-million-record zone goes out without a DNS library touching it.
 * TSIG signing is the one place ldns handles messages: a signed message is read back into an
 * ldns_pkt, signed (chained to the previous MAC) and written out again.
 *
 * Versions are immutable and reference counted. The loader thread publishes under a mutex;
 * workers take a reference under the same mutex when a transfer starts (rare next to queries),
 * so a publish never waits for a transfer and a transfer never sees a version change under it.
 */
#include "xfrout.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "export.h"
#include "rpz.h"
#include "rrset.h"
#include "value.h"

#define TYPE_SOA 6
#define TYPE_TSIG 250
#define TYPE_IXFR 251
#define TYPE_AXFR 252
#define CLASS_IN 1
#define OPCODE_NOTIFY 4
#define RCODE_NOTAUTH 9
#define TSIG_BADSIG 16
#define TSIG_BADKEY 17
#define TSIG_BADTIME 18
#define TSIG_FUDGE 300
#define SOA_RDATA_MAX (2 * CONFIG_NAME_MAX + 20)
#define MSG_MAX 65535
#define TSIG_ROOM 512 /* left free in a message that will be signed */

/* ---- versions and deltas --------------------------------------------------------------------- */

struct soa {
	uint8_t rdata[SOA_RDATA_MAX]; /* mname, rname, serial, refresh, retry, expire, minimum */
	size_t len;
	uint32_t ttl;
};

struct delta {
	_Atomic unsigned refs;
	struct soa from, to; /* the SOAs of the versions it leads from and to */
	struct rrset del, add;
};

struct version {
	_Atomic unsigned refs;
	struct soa soa;
	struct rrset rrs;             /* sorted by key */
	struct delta **hist;        /* owned array of references, oldest first, ending here */
	size_t nhist;
};

static uint32_t soa_serial(const struct soa *s)
{
	const uint8_t *p = s->rdata + s->len - 20;

	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void soa_set_serial(struct soa *s, uint32_t serial)
{
	uint8_t *p = s->rdata + s->len - 20;

	p[0] = (uint8_t)(serial >> 24);
	p[1] = (uint8_t)(serial >> 16);
	p[2] = (uint8_t)(serial >> 8);
	p[3] = (uint8_t)serial;
}

static void delta_unref(struct delta *d)
{
	if (d != NULL && atomic_fetch_sub(&d->refs, 1) == 1) {
		rrset_release(&d->del);
		rrset_release(&d->add);
		free(d);
	}
}

static void version_unref(struct version *v)
{
	if (v == NULL || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	for (size_t i = 0; i < v->nhist; i++)
		delta_unref(v->hist[i]);
	free(v->hist);
	rrset_release(&v->rrs);
	free(v);
}

/* ---- the zone -------------------------------------------------------------------------------- */

struct key {
	char *name;      /* owned: "name." as ldns wants it */
	uint8_t wire[CONFIG_NAME_MAX];
	size_t wire_len;
	char *alg;       /* owned: "hmac-sha256." */
	char *secret;    /* owned: base64 */
};

struct xfrout {
	uint8_t apex[CONFIG_NAME_MAX];
	size_t apex_len;
	char *apex_text;                 /* owned */
	struct config_cidr *allow;       /* owned copy */
	size_t allow_count;
	struct key *keys;                /* owned */
	size_t key_count;
	struct config_endpoint *notify;  /* owned copy */
	size_t notify_count;
	unsigned history;
	pthread_mutex_t lock;            /* guards cur */
	pthread_mutex_t publish;         /* one publisher at a time: each diffs against cur */
	struct version *cur;             /* owned reference; NULL before the first publish */
	_Atomic uint32_t serial;
};

/* Reads the base64 secret of K from PATH, checking that only its owner may read it. */
static int key_secret(struct key *k, const char *path, char *errbuf, size_t errcap)
{
	char buf[1024];
	ldns_rdf *b64 = NULL; /* owned: only to check the secret decodes */
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(errbuf, errcap, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(errbuf, errcap, "%s: a TSIG secret must be readable by its owner only "
			"(chmod 600)", path);
		goto fail;
	}
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	if (len == 0 || ldns_str2rdf_b64(&b64, buf) != LDNS_STATUS_OK) {
		snprintf(errbuf, errcap, "%s: expected one base64 secret", path);
		goto fail;
	}
	ldns_rdf_deep_free(b64);
	if ((k->secret = strdup(buf)) == NULL) {
		snprintf(errbuf, errcap, "out of memory");
		goto fail;
	}
	close(fd);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

struct xfrout *xfrout_new(const struct config_serve *sc, char *errbuf, size_t errcap,
	const char **err)
{
	struct xfrout *x = calloc(1, sizeof(*x));
	const char *perr;

	*err = "out of memory";
	if (x == NULL)
		return NULL;
	pthread_mutex_init(&x->lock, NULL);
	pthread_mutex_init(&x->publish, NULL);
	x->history = sc->history;
	if (value_parse_name(sc->zone, x->apex, &x->apex_len, &perr) < 0) {
		*err = perr;
		goto fail;
	}
	if ((x->apex_text = strdup(sc->zone)) == NULL)
		goto fail;
	x->allow = calloc(sc->allow_count + 1, sizeof(*x->allow));
	x->keys = calloc(sc->key_count + 1, sizeof(*x->keys));
	x->notify = calloc(sc->notify_count + 1, sizeof(*x->notify));
	if (x->allow == NULL || x->keys == NULL || x->notify == NULL)
		goto fail;
	for (size_t i = 0; i < sc->allow_count; i++)
		x->allow[x->allow_count++] = sc->allow[i];
	for (size_t i = 0; i < sc->notify_count; i++)
		x->notify[x->notify_count++] = sc->notify[i];
	for (size_t i = 0; i < sc->key_count; i++) {
		struct key *k = &x->keys[x->key_count++];
		const struct config_tsig_key *ck = &sc->keys[i];
		size_t an = strlen(ck->algorithm);

		if ((k->name = strdup(ck->name)) == NULL || (k->alg = malloc(an + 2)) == NULL)
			goto fail;
		snprintf(k->alg, an + 2, "%s.", ck->algorithm);
		if (value_parse_name(ck->name, k->wire, &k->wire_len, &perr) < 0) {
			*err = perr;
			goto fail;
		}
		if (key_secret(k, ck->secret_file, errbuf, errcap) < 0) {
			*err = errbuf;
			goto fail;
		}
	}
	return x;
fail:
	xfrout_free(x);
	return NULL;
}

void xfrout_free(struct xfrout *x)
{
	if (x == NULL)
		return;
	version_unref(x->cur);
	for (size_t i = 0; i < x->key_count; i++) {
		free(x->keys[i].name);
		free(x->keys[i].alg);
		if (x->keys[i].secret != NULL)
			explicit_bzero(x->keys[i].secret, strlen(x->keys[i].secret));
		free(x->keys[i].secret);
	}
	free(x->keys);
	free(x->allow);
	free(x->notify);
	free(x->apex_text);
	pthread_mutex_destroy(&x->lock);
	pthread_mutex_destroy(&x->publish);
	free(x);
}

uint32_t xfrout_serial(const struct xfrout *x)
{
	return atomic_load(&((struct xfrout *)x)->serial);
}

const uint8_t *xfrout_apex(const struct xfrout *x, size_t *len)
{
	*len = x->apex_len;
	return x->apex;
}

const char *xfrout_apex_text(const struct xfrout *x)
{
	return x->apex_text;
}

const struct config_endpoint *xfrout_notify_targets(const struct xfrout *x, size_t *n)
{
	*n = x->notify_count;
	return x->notify;
}

static struct version *version_get(struct xfrout *x)
{
	struct version *v;

	pthread_mutex_lock(&x->lock);
	if ((v = x->cur) != NULL)
		atomic_fetch_add(&v->refs, 1);
	pthread_mutex_unlock(&x->lock);
	return v;
}

void xfrout_get_status(struct xfrout *x, struct xfrout_status *st)
{
	struct version *v = version_get(x);

	memset(st, 0, sizeof(*st));
	if (v == NULL)
		return;
	st->serial = soa_serial(&v->soa);
	st->records = v->rrs.count + 2;
	st->history = v->nhist;
	st->oldest = v->nhist > 0 ? soa_serial(&v->hist[0]->from) : st->serial;
	version_unref(v);
}

/* ---- publishing ------------------------------------------------------------------------------ */

/* Reading the export's text into a version. */
struct build {
	struct xfrout *x;
	struct soa *soa;    /* the version's, NULL for an increment's records (their SOA is ours) */
	struct rrset *rrs;
	bool have_soa;
	bool oom;
};

/* rpz_record_cb: one record of the export. */
static int build_record(void *ctx, const uint8_t *owner, size_t olen, uint16_t type, uint32_t ttl,
	const uint8_t *rdata, size_t rdlen)
{
	struct build *b = ctx;
	uint8_t key[CONFIG_NAME_MAX + 2 + MSG_MAX];

	if (type == TYPE_SOA) {
		if (b->soa != NULL && !b->have_soa && olen == b->x->apex_len && memcmp(owner, b->x->apex, olen) == 0 &&
			rdlen <= SOA_RDATA_MAX && rdlen >= 22) {
			memcpy(b->soa->rdata, rdata, rdlen);
			b->soa->len = rdlen;
			b->soa->ttl = ttl;
			b->have_soa = true;
		}
		return 0; /* served as this version's own SOA */
	}
	if (olen + 2 + rdlen > sizeof(key))
		return 0;
	memcpy(key, owner, olen);
	key[olen] = (uint8_t)(type >> 8);
	key[olen + 1] = (uint8_t)type;
	memcpy(key + olen + 2, rdata, rdlen);
	if (rrset_add(b->rrs, key, olen + 2 + rdlen, ttl) < 0) {
		b->oom = true;
		return -1;
	}
	return 0;
}

/*
 * Publishes V (taken over on success) after CUR (borrowed; NULL for the first version) with D
 * (taken over on success; NULL without CUR), the change between them: the next serial, the
 * history of CUR plus D, bounded. Called with the publish lock held. -1 when out of memory
 * (nothing taken over).
 */
static int version_install(struct xfrout *x, struct version *cur, struct version *v,
	struct delta *d, uint32_t *serial, size_t *changes)
{
	/* the next serial: the current time when that is ahead, else one more (RFC 1982) */
	uint32_t next = (uint32_t)time(NULL);

	if (cur != NULL && (int32_t)(next - soa_serial(&cur->soa)) <= 0)
		next = soa_serial(&cur->soa) + 1;
	soa_set_serial(&v->soa, next);
	if (cur != NULL) {
		size_t keep = cur->nhist < x->history ? cur->nhist : x->history - 1;

		d->from = cur->soa;
		d->to = v->soa;
		if ((v->hist = calloc(keep + 1, sizeof(*v->hist))) == NULL)
			return -1;
		for (size_t i = cur->nhist - keep; i < cur->nhist; i++) {
			atomic_fetch_add(&cur->hist[i]->refs, 1);
			v->hist[v->nhist++] = cur->hist[i];
		}
		*changes = d->del.count + d->add.count;
		v->hist[v->nhist++] = d;
	} else {
		*changes = v->rrs.count;
	}
	pthread_mutex_lock(&x->lock);
	version_unref(x->cur); /* the list's reference; cur still holds ours */
	x->cur = v;
	atomic_store(&x->serial, next);
	pthread_mutex_unlock(&x->lock);
	*serial = next;
	return 0;
}

int xfrout_publish(struct xfrout *x, const char *zone, size_t len, uint32_t *serial,
	size_t *changes, const char **err)
{
	struct version *v = calloc(1, sizeof(*v)), *cur = NULL;
	struct delta *d = NULL;
	struct build b = { .x = x, .soa = v != NULL ? &v->soa : NULL, .rrs = v != NULL ? &v->rrs : NULL };
	struct rpz_stats st = { 0 };
	struct rpz_sink sink = { .record = build_record, .ctx = &b,
		.flags = RPZ_SKIP_OTHER_TRIGGERS };
	struct rpz_reader *r = NULL;
	int rc = -1;

	*err = "out of memory";
	pthread_mutex_lock(&x->publish);
	if (v == NULL || (r = rpz_reader_new(x->apex, x->apex_len, &sink, &st)) == NULL)
		goto out;
	atomic_init(&v->refs, 1);
	if (rpz_reader_text(r, zone, len, 1) < 0)
		goto out;
	if (!b.have_soa) {
		*err = "the zone has no SOA at its origin";
		goto out;
	}
	if (rrset_sort(&v->rrs) < 0)
		goto out;
	rrset_dedup(&v->rrs);
	cur = version_get(x);
	if (cur != NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			goto out;
		atomic_init(&d->refs, 1);
		if (rrset_diff(&cur->rrs, &v->rrs, &d->del, &d->add) < 0)
			goto out;
		/* an SOA whose names or timers changed is a change too */
		if (d->del.count == 0 && d->add.count == 0 && cur->soa.len == v->soa.len &&
			cur->soa.ttl == v->soa.ttl &&
			memcmp(cur->soa.rdata, v->soa.rdata, v->soa.len - 20) == 0 &&
			memcmp(cur->soa.rdata + v->soa.len - 16, v->soa.rdata + v->soa.len - 16, 16) == 0) {
			rc = 0;
			goto out;
		}
	}
	if (version_install(x, cur, v, d, serial, changes) < 0)
		goto out;
	v = NULL;
	d = NULL;
	rc = 1;
out:
	if (rc < 0 && !b.oom && st.bad > 0)
		*err = "the zone does not parse";
	rpz_reader_free(r);
	delta_unref(d);
	version_unref(cur);
	version_unref(v);
	pthread_mutex_unlock(&x->publish);
	return rc;
}

/* Records of an increment's text (no SOA) into sorted, deduplicated OUT. -1 (*ERR) on failure. */
static int records_read(struct xfrout *x, const char *text, size_t len, struct rrset *out,
	const char **err)
{
	struct build b = { .x = x, .rrs = out };
	struct rpz_stats st = { 0 };
	struct rpz_sink sink = { .record = build_record, .ctx = &b,
		.flags = RPZ_SKIP_OTHER_TRIGGERS };
	struct rpz_reader *r = rpz_reader_new(x->apex, x->apex_len, &sink, &st);
	int rc = -1;

	*err = "out of memory";
	if (r == NULL)
		return -1;
	if (rpz_reader_text(r, text, len, 1) < 0 || st.bad > 0) {
		if (!b.oom)
			*err = "the increment does not parse";
		goto out;
	}
	if (rrset_sort(out) < 0)
		goto out;
	rrset_dedup(out);
	rc = 0;
out:
	rpz_reader_free(r);
	return rc;
}

int xfrout_publish_delta(struct xfrout *x, const char *before, size_t blen, const char *after,
	size_t alen, uint32_t *serial, size_t *changes, const char **err)
{
	struct rrset old = { 0 }, new = { 0 }, del = { 0 }, add = { 0 };
	struct version *v = NULL, *cur = NULL;
	struct delta *d = NULL;
	int rc = -1;

	*err = "out of memory";
	pthread_mutex_lock(&x->publish);
	if ((cur = version_get(x)) == NULL) {
		rc = 0; /* no version yet: the first full one will hold everything */
		goto out;
	}
	if (records_read(x, before, blen, &old, err) < 0 || records_read(x, after, alen, &new, err) < 0)
		goto out;
	*err = "out of memory";
	if (rrset_diff(&old, &new, &del, &add) < 0)
		goto out;
	if (del.count == 0 && add.count == 0) {
		rc = 0;
		goto out;
	}
	if ((v = calloc(1, sizeof(*v))) == NULL || (d = calloc(1, sizeof(*d))) == NULL)
		goto out;
	atomic_init(&v->refs, 1);
	atomic_init(&d->refs, 1);
	/* one merge of the current records with the changes: no export, no sort, no diff of it */
	if (rrset_apply(&cur->rrs, &del, &add, &v->rrs, &d->del, &d->add) < 0)
		goto out;
	if (d->del.count == 0 && d->add.count == 0) {
		rc = 0; /* the served zone already said so */
		goto out;
	}
	v->soa = cur->soa;
	if (version_install(x, cur, v, d, serial, changes) < 0)
		goto out;
	v = NULL;
	d = NULL;
	rc = 1;
out:
	rrset_release(&old);
	rrset_release(&new);
	rrset_release(&del);
	rrset_release(&add);
	delta_unref(d);
	version_unref(cur);
	version_unref(v);
	pthread_mutex_unlock(&x->publish);
	return rc;
}

int xfrout_publish_slots(struct xfrout *x, const struct config *cfg, const struct policy *before,
	const struct policy *after, export_slots_fn *slots, void *src, int64_t now,
	struct diag *diag, uint32_t *serial, size_t *changes, const char **err)
{
	char *btext = NULL, *atext = NULL; /* owned: the slots' triggers before and after */
	size_t blen = 0, alen = 0;
	FILE *bm = open_memstream(&btext, &blen), *am = open_memstream(&atext, &alen);
	int rc = -1, bw, aw;

	*err = "out of memory";
	if (bm == NULL || am == NULL)
		goto close;
	bw = export_rpz_slots(cfg, before, x->apex_text, now, slots, src, bm, diag);
	aw = bw < 0 ? -1 : export_rpz_slots(cfg, after, x->apex_text, now, slots, src, am, diag);
	if (aw < 0) {
		*err = "the export failed";
		goto close;
	}
	rc = 0;
close:
	if ((bm != NULL && fclose(bm) != 0) || (am != NULL && fclose(am) != 0))
		rc = -1;
	if (rc == 0)
		rc = xfrout_publish_delta(x, btext, blen, atext, alen, serial, changes, err);
	free(btext);
	free(atext);
	return rc;
}

int xfrout_publish_policy(struct xfrout *x, const struct config *cfg, const struct policy *pol,
	int64_t now, struct diag *diag, uint32_t *serial, size_t *changes, const char **err)
{
	char *text = NULL; /* owned: the whole zone, as the export writes it */
	size_t len = 0;
	struct export_stats st;
	FILE *mem = open_memstream(&text, &len);
	int rc = -1;

	*err = "out of memory";
	if (mem == NULL)
		return -1;
	if (export_rpz(cfg, pol, x->apex_text, now, mem, diag, &st) < 0) {
		*err = "the export failed";
		fclose(mem);
		goto out;
	}
	if (fclose(mem) != 0)
		goto out;
	rc = xfrout_publish(x, text, len, serial, changes, err);
out:
	free(text);
	return rc;
}

/* ---- messages -------------------------------------------------------------------------------- */

/* A message being written into a buffer. */
struct msg {
	uint8_t *buf;
	size_t cap, len;
	unsigned count; /* answer records */
};

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Header (QR, AA, RCODE) and the question when QLEN > 0. */
static void msg_start(struct msg *m, uint16_t id, unsigned opcode, unsigned rcode,
	const uint8_t *question, size_t qlen, bool qr)
{
	memset(m->buf, 0, WIRE_HEADER_LEN);
	put16(m->buf, id);
	m->buf[2] = (uint8_t)((qr ? 0x80 : 0) | (opcode << 3) | 0x04); /* AA */
	m->buf[3] = (uint8_t)(rcode & 0xf);
	put16(m->buf + 4, qlen > 0);
	memcpy(m->buf + WIRE_HEADER_LEN, question, qlen);
	m->len = WIRE_HEADER_LEN + qlen;
	m->count = 0;
}

/* One answer record; false when it does not fit. */
static bool msg_rr(struct msg *m, const uint8_t *owner, size_t olen, uint16_t type, uint32_t ttl,
	const uint8_t *rdata, size_t rdlen)
{
	uint8_t *p;

	if (m->len + olen + 10 + rdlen > m->cap)
		return false;
	p = m->buf + m->len;
	memcpy(p, owner, olen);
	p += olen;
	put16(p, type);
	put16(p + 2, CLASS_IN);
	put32(p + 4, ttl);
	put16(p + 8, (unsigned)rdlen);
	memcpy(p + 10, rdata, rdlen);
	m->len += olen + 10 + rdlen;
	put16(m->buf + 6, ++m->count);
	return true;
}

static bool msg_soa(struct msg *m, const struct xfrout *x, const struct soa *s)
{
	return msg_rr(m, x->apex, x->apex_len, TYPE_SOA, s->ttl, s->rdata, s->len);
}

/* A stored record (block layout) as an answer record. */
static bool msg_stored(struct msg *m, const uint8_t *r)
{
	const uint8_t *key = r + 6;
	size_t klen = rrset_rec_klen(r), olen = 0;

	while (key[olen] != 0)
		olen += 1 + key[olen];
	olen++;
	return msg_rr(m, key, olen, (uint16_t)(key[olen] << 8 | key[olen + 1]), rrset_rec_ttl(r),
		key + olen + 2, klen - olen - 2);
}

/*
 * Signs the message in M with K (RFC 8945): chained to PREV_MAC (the request's MAC, or the
 * previous message's), with only the timers for a message after the first of a stream. *MAC
 * becomes this message's MAC (caller owns). Returns -1 when out of memory or it no longer fits.
 */
static int msg_sign(struct msg *m, const struct key *k, const ldns_rdf *prev_mac,
	bool timers_only, ldns_rdf **mac)
{
	ldns_pkt *pkt = NULL;
	uint8_t *wire = NULL;
	size_t size;
	int rc = -1;

	if (ldns_wire2pkt(&pkt, m->buf, m->len) != LDNS_STATUS_OK ||
		ldns_pkt_tsig_sign_next(pkt, k->name, k->secret, TSIG_FUDGE, k->alg, prev_mac,
			timers_only) != LDNS_STATUS_OK ||
		ldns_pkt2wire(&wire, pkt, &size) != LDNS_STATUS_OK || size > m->cap)
		goto out;
	if (mac != NULL) {
		ldns_rdf_deep_free(*mac);
		if ((*mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(pkt), 3))) == NULL)
			goto out;
	}
	memcpy(m->buf, wire, size);
	m->len = size;
	rc = 0;
out:
	free(wire);
	ldns_pkt_free(pkt);
	return rc;
}

/*
 * An unsigned TSIG record carrying ERROR (RFC 8945 5.3.2: BADKEY, BADSIG; BADTIME with our
 * time), owned by the request's key name NAME, algorithm ALG (wire), for a NOTAUTH answer.
 */
static void msg_tsig_error(struct msg *m, const uint8_t *name, size_t nlen, const uint8_t *alg,
	size_t alen, uint16_t orig_id, unsigned error)
{
	uint8_t *p = m->buf + m->len;
	uint64_t now = (uint64_t)time(NULL);
	size_t rdlen = alen + 6 + 2 + 2 + 2 + 2 + 2 + (error == TSIG_BADTIME ? 6 : 0);

	if (m->len + nlen + 10 + rdlen > m->cap)
		return;
	memcpy(p, name, nlen);
	p += nlen;
	put16(p, TYPE_TSIG);
	put16(p + 2, 255); /* class ANY */
	put32(p + 4, 0);
	put16(p + 8, (unsigned)rdlen);
	p += 10;
	memcpy(p, alg, alen);
	p += alen;
	put16(p, (unsigned)(now >> 32));
	put32(p + 2, (uint32_t)now);
	put16(p + 6, TSIG_FUDGE);
	put16(p + 8, 0);           /* MAC size */
	put16(p + 10, orig_id);
	put16(p + 12, error);
	put16(p + 14, error == TSIG_BADTIME ? 6 : 0);
	if (error == TSIG_BADTIME) {
		put16(p + 16, (unsigned)(now >> 32));
		put32(p + 18, (uint32_t)now);
	}
	m->len += nlen + 10 + rdlen;
	put16(m->buf + 10, 1); /* ARCOUNT */
}

/* ---- streams --------------------------------------------------------------------------------- */

/* A piece of a transfer: one SOA, or every record of a set. */
struct segment {
	const struct soa *soa;
	const struct rrset *rrs;
};

struct xfrout_stream {
	struct xfrout *x;           /* borrowed: outlives every stream (the daemon frees it last) */
	struct version *v;          /* a reference: held to the end */
	struct segment *seg;        /* owned */
	size_t nseg, si, ri;        /* the next record: segment SI, record RI */
	uint16_t id;
	uint8_t question[CONFIG_NAME_MAX + 4];
	size_t qlen;
	bool first;
	const struct key *key;      /* NULL: unsigned */
	ldns_rdf *mac;              /* owned: the previous MAC (the request's at first) */
};

void xfrout_stream_free(struct xfrout_stream *s)
{
	if (s == NULL)
		return;
	version_unref(s->v);
	ldns_rdf_deep_free(s->mac);
	free(s->seg);
	free(s);
}

size_t xfrout_stream_next(struct xfrout_stream *s, uint8_t *out, size_t cap)
{
	struct msg m = { .buf = out, .cap = cap > MSG_MAX ? MSG_MAX : cap };

	if (s->si == s->nseg)
		return 0;
	if (s->key != NULL)
		m.cap -= TSIG_ROOM;
	msg_start(&m, s->id, 0, 0, s->question, s->first ? s->qlen : 0, true);
	while (s->si < s->nseg) {
		const struct segment *g = &s->seg[s->si];

		if (g->soa != NULL) {
			if (!msg_soa(&m, s->x, g->soa))
				break;
			s->si++;
			continue;
		}
		if (s->ri == g->rrs->count) {
			s->si++;
			s->ri = 0;
			continue;
		}
		if (!msg_stored(&m, g->rrs->block + g->rrs->off[s->ri]))
			break;
		s->ri++;
	}
	if (m.count == 0) { /* a record bigger than a message: cannot be sent */
		s->si = s->nseg;
		return 0;
	}
	if (s->key != NULL) {
		m.cap += TSIG_ROOM;
		if (msg_sign(&m, s->key, s->mac, !s->first, &s->mac) < 0) {
			s->si = s->nseg;
			return 0;
		}
	}
	s->first = false;
	return m.len;
}

static int seg_add(struct xfrout_stream *s, size_t cap, const struct soa *soa,
	const struct rrset *rrs)
{
	if (s->nseg == cap)
		return -1;
	s->seg[s->nseg].soa = soa;
	s->seg[s->nseg++].rrs = rrs;
	return 0;
}

/*
 * A stream for V (a reference it takes over): the whole zone when FROM is NULL (AXFR form:
 * SOA, records, SOA), else the deltas of V's history starting at index FROM_INDEX (IXFR form,
 * RFC 1995 4: SOA, then per delta old SOA, removed, new SOA, added, and the SOA again).
 */
static struct xfrout_stream *stream_new(struct xfrout *x, struct version *v, bool full,
	size_t from_index)
{
	struct xfrout_stream *s = calloc(1, sizeof(*s));
	size_t cap = full ? 3 : 2 + 4 * (v->nhist - from_index);

	if (s == NULL || (s->seg = calloc(cap, sizeof(*s->seg))) == NULL) {
		free(s);
		version_unref(v);
		return NULL;
	}
	s->x = x;
	s->v = v;
	s->first = true;
	seg_add(s, cap, &v->soa, NULL);
	if (full) {
		seg_add(s, cap, NULL, &v->rrs);
	} else {
		for (size_t i = from_index; i < v->nhist; i++) {
			seg_add(s, cap, &v->hist[i]->from, NULL);
			seg_add(s, cap, NULL, &v->hist[i]->del);
			seg_add(s, cap, &v->hist[i]->to, NULL);
			seg_add(s, cap, NULL, &v->hist[i]->add);
		}
	}
	seg_add(s, cap, &v->soa, NULL);
	return s;
}

/* ---- requests -------------------------------------------------------------------------------- */

static bool cidr_match(const struct config_cidr *c, const struct sockaddr *sa)
{
	const uint8_t *a;
	unsigned full, rest;

	if (sa->sa_family == AF_INET && c->family == AF_INET)
		a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6 && c->family == AF_INET6)
		a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
	else
		return false;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(a, c->addr, full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ c->addr[full]) & (0xff00u >> rest) & 0xff) == 0;
}

static void addr_text(const struct sockaddr *sa, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, cap, "%s#%u", host, port);
}

/* Whether wire name NAME (lower case) is the apex or below it. */
static bool in_zone(const struct xfrout *x, const uint8_t *name, size_t len)
{
	size_t o = 0;

	if (len < x->apex_len || memcmp(name + len - x->apex_len, x->apex, x->apex_len) != 0)
		return false;
	while (o < len - x->apex_len)
		o += 1 + name[o];
	return o == len - x->apex_len;
}

/* The request's TSIG, checked. */
struct tsig_check {
	const struct key *key;  /* the key it was signed with; NULL when unsigned or bad */
	ldns_rdf *mac;          /* owned: its MAC, to chain the answer to */
	unsigned error;         /* 0, or BADKEY, BADSIG, BADTIME */
	uint8_t name[CONFIG_NAME_MAX], alg[CONFIG_NAME_MAX];
	size_t name_len, alg_len;
	bool present;
};

static void tsig_check(struct xfrout *x, ldns_pkt *pkt, const struct wire_query *q,
	struct tsig_check *t)
{
	ldns_rr *rr = ldns_pkt_tsig(pkt);
	ldns_rdf *owner, *alg;
	char *algtext = NULL;
	uint64_t signed_at, now = (uint64_t)time(NULL);
	uint16_t fudge;

	if (rr == NULL || ldns_rr_rd_count(rr) < 4)
		return;
	t->present = true;
	owner = ldns_rr_owner(rr);
	alg = ldns_rr_rdf(rr, 0);
	t->name_len = ldns_rdf_size(owner) <= CONFIG_NAME_MAX ? ldns_rdf_size(owner) : 0;
	memcpy(t->name, ldns_rdf_data(owner), t->name_len);
	t->alg_len = ldns_rdf_size(alg) <= CONFIG_NAME_MAX ? ldns_rdf_size(alg) : 0;
	memcpy(t->alg, ldns_rdf_data(alg), t->alg_len);
	value_lower_copy(t->name, t->name, t->name_len);
	t->error = TSIG_BADKEY;
	algtext = ldns_rdf2str(alg);
	for (size_t i = 0; i < x->key_count; i++) {
		const struct key *k = &x->keys[i];

		if (k->wire_len != t->name_len || memcmp(k->wire, t->name, t->name_len) != 0 ||
			algtext == NULL || strcasecmp(algtext, k->alg) != 0)
			continue;
		t->error = TSIG_BADSIG;
		if (!ldns_pkt_tsig_verify(pkt, q->packet, q->length, k->name, k->secret, NULL))
			break;
		signed_at = 0;
		if (ldns_rdf_size(ldns_rr_rdf(rr, 1)) == 6) /* 48-bit seconds */
			for (size_t b = 0; b < 6; b++)
				signed_at = signed_at << 8 | ldns_rdf_data(ldns_rr_rdf(rr, 1))[b];
		fudge = ldns_rdf2native_int16(ldns_rr_rdf(rr, 2));
		if (signed_at + fudge < now || signed_at > now + fudge) {
			t->error = TSIG_BADTIME;
			break;
		}
		t->error = 0;
		t->key = k;
		t->mac = ldns_rdf_clone(ldns_rr_rdf(rr, 3));
		break;
	}
	free(algtext);
}

/* The serial of the SOA in an IXFR request's authority section, or -1 when there is none. */
static int64_t ixfr_serial(ldns_pkt *pkt)
{
	ldns_rr_list *auth = ldns_pkt_authority(pkt);

	for (size_t i = 0; auth != NULL && i < ldns_rr_list_rr_count(auth); i++) {
		ldns_rr *rr = ldns_rr_list_rr(auth, i);

		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && ldns_rr_rd_count(rr) >= 3)
			return ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
	}
	return -1;
}

static const char *const kind_names[XFROUT_KIND_COUNT] = {
	[XFROUT_SOA] = "SOA", [XFROUT_AXFR] = "AXFR", [XFROUT_IXFR] = "IXFR",
	[XFROUT_IXFR_UDP] = "IXFR over UDP", [XFROUT_REFUSED] = "refused",
	[XFROUT_BADTSIG] = "bad TSIG",
};

enum xfrout_verdict xfrout_query(struct xfrout *x, const struct wire_query *q,
	const struct sockaddr *from, bool tcp, uint8_t *out, size_t cap, size_t *len,
	struct xfrout_stream **stream, enum xfrout_kind *kind, char *logline, size_t logcap)
{
	struct msg m = { .buf = out, .cap = cap };
	struct tsig_check t = { 0 };
	struct version *v = NULL;
	ldns_pkt *pkt = NULL;
	char peer[INET6_ADDRSTRLEN + 8], detail[160] = "";
	unsigned rcode = WIRE_RCODE_REFUSED;
	bool allowed = false;
	size_t qlen;
	int64_t client_serial;

	if (!q->question_ok || !in_zone(x, q->qname_lower, q->qname_len))
		return XFROUT_NOT_OURS;
	*len = 0;
	*stream = NULL;
	*kind = XFROUT_REFUSED;
	logline[0] = '\0';
	qlen = q->question_end - WIRE_HEADER_LEN;
	addr_text(from, peer, sizeof(peer));
	for (size_t i = 0; i < x->allow_count && !allowed; i++)
		allowed = cidr_match(&x->allow[i], from);
	if (!allowed) {
		snprintf(detail, sizeof(detail), "not in serve-rpz allow");
		goto answer;
	}
	if (ldns_wire2pkt(&pkt, q->packet, q->length) != LDNS_STATUS_OK) {
		rcode = WIRE_RCODE_FORMERR;
		snprintf(detail, sizeof(detail), "malformed request");
		goto answer;
	}
	tsig_check(x, pkt, q, &t);
	if (t.present && t.error != 0) {
		*kind = XFROUT_BADTSIG;
		rcode = RCODE_NOTAUTH;
		snprintf(detail, sizeof(detail), "TSIG %s", t.error == TSIG_BADKEY ? "BADKEY" :
			t.error == TSIG_BADSIG ? "BADSIG" : "BADTIME");
		goto answer;
	}
	if (x->key_count > 0 && t.key == NULL) {
		snprintf(detail, sizeof(detail), "not signed with a serve-rpz key");
		goto answer;
	}
	if (q->qclass != CLASS_IN || q->qname_len != x->apex_len ||
		(q->qtype != TYPE_SOA && q->qtype != TYPE_AXFR && q->qtype != TYPE_IXFR)) {
		snprintf(detail, sizeof(detail), "only SOA, AXFR and IXFR of the apex are served");
		goto answer;
	}
	if ((v = version_get(x)) == NULL) {
		rcode = WIRE_RCODE_SERVFAIL;
		snprintf(detail, sizeof(detail), "no version yet");
		goto answer;
	}
	rcode = WIRE_RCODE_NOERROR;
	switch (q->qtype) {
	case TYPE_SOA:
		*kind = XFROUT_SOA;
		break;
	case TYPE_AXFR:
		if (!tcp) {
			rcode = WIRE_RCODE_REFUSED;
			snprintf(detail, sizeof(detail), "AXFR over UDP");
			break;
		}
		*kind = XFROUT_AXFR;
		snprintf(detail, sizeof(detail), "serial %u, %zu records", soa_serial(&v->soa),
			v->rrs.count + 2);
		*stream = stream_new(x, v, true, 0);
		v = NULL;
		break;
	case TYPE_IXFR:
		if ((client_serial = ixfr_serial(pkt)) < 0) {
			rcode = WIRE_RCODE_FORMERR;
			snprintf(detail, sizeof(detail), "IXFR without an SOA in the authority section");
			break;
		}
		if (!tcp || (uint32_t)client_serial == soa_serial(&v->soa)) {
			/* RFC 1995 4: the SOA alone says "up to date", or over UDP "ask over TCP" */
			*kind = tcp ? XFROUT_IXFR : XFROUT_IXFR_UDP;
			snprintf(detail, sizeof(detail), "client at %u, serial %u: the SOA alone",
				(uint32_t)client_serial, soa_serial(&v->soa));
			break;
		}
		for (size_t i = 0; i < v->nhist; i++) {
			size_t n = 0;

			if (soa_serial(&v->hist[i]->from) != (uint32_t)client_serial)
				continue;
			for (size_t k = i; k < v->nhist; k++)
				n += v->hist[k]->del.count + v->hist[k]->add.count;
			*kind = XFROUT_IXFR;
			snprintf(detail, sizeof(detail), "serial %u -> %u, %zu change%s, %zu record%s",
				(uint32_t)client_serial, soa_serial(&v->soa), v->nhist - i,
				v->nhist - i == 1 ? "" : "s", n, n == 1 ? "" : "s");
			*stream = stream_new(x, v, false, i);
			v = NULL;
			break;
		}
		if (*kind != XFROUT_IXFR) {
			*kind = XFROUT_AXFR;
			snprintf(detail, sizeof(detail), "IXFR from %u, older than the history: the "
				"whole zone, serial %u, %zu records", (uint32_t)client_serial,
				soa_serial(&v->soa), v->rrs.count + 2);
			*stream = stream_new(x, v, true, 0);
			v = NULL;
		}
		break;
	}
	if (*stream != NULL) {
		(*stream)->id = q->id;
		memcpy((*stream)->question, q->packet + WIRE_HEADER_LEN, qlen);
		(*stream)->qlen = qlen;
		(*stream)->key = t.key;
		(*stream)->mac = t.mac;
		t.mac = NULL;
		snprintf(logline, logcap, "serve-rpz: %s of %s to %s: %s", kind_names[*kind],
			x->apex_text, peer, detail);
		ldns_pkt_free(pkt);
		return XFROUT_STREAM;
	}
	if (rcode == WIRE_RCODE_NOERROR && (*kind == XFROUT_AXFR ||
		(*kind == XFROUT_IXFR && strstr(detail, "->") != NULL))) {
		rcode = WIRE_RCODE_SERVFAIL; /* the stream's allocation failed */
		snprintf(detail, sizeof(detail), "out of memory");
	}
answer:
	if (qlen + WIRE_HEADER_LEN > cap)
		goto out;
	msg_start(&m, q->id, q->opcode, rcode, q->packet + WIRE_HEADER_LEN, qlen, true);
	if (rcode == WIRE_RCODE_NOERROR && v != NULL)
		msg_soa(&m, x, &v->soa);
	if (t.present && t.error != 0)
		msg_tsig_error(&m, t.name, t.name_len, t.alg, t.alg_len, q->id, t.error);
	else if (t.key != NULL && msg_sign(&m, t.key, t.mac, false, NULL) < 0)
		m.len = 0;
	*len = m.len;
	if (*kind != XFROUT_SOA)
		snprintf(logline, logcap, "serve-rpz: %s %s of %s from %s: %s",
			*kind == XFROUT_REFUSED || *kind == XFROUT_BADTSIG ? "refused" : "answered",
			q->qtype == TYPE_AXFR ? "AXFR" : q->qtype == TYPE_IXFR ? "IXFR" : "query",
			x->apex_text, peer, detail);
out:
	if (rcode != WIRE_RCODE_NOERROR && *kind != XFROUT_BADTSIG && *kind != XFROUT_REFUSED)
		*kind = XFROUT_REFUSED;
	ldns_rdf_deep_free(t.mac);
	ldns_pkt_free(pkt);
	version_unref(v);
	return XFROUT_ANSWER;
}

size_t xfrout_build_notify(struct xfrout *x, uint16_t id, uint8_t *out, size_t cap)
{
	uint8_t question[CONFIG_NAME_MAX + 4];
	struct msg m = { .buf = out, .cap = cap };
	struct version *v = version_get(x);
	size_t len = 0;

	if (v == NULL || cap < 512)
		goto out;
	memcpy(question, x->apex, x->apex_len);
	put16(question + x->apex_len, TYPE_SOA);
	put16(question + x->apex_len + 2, CLASS_IN);
	msg_start(&m, id, OPCODE_NOTIFY, 0, question, x->apex_len + 4, false);
	msg_soa(&m, x, &v->soa); /* RFC 1996 3.7: the new SOA as a hint */
	if (x->key_count > 0 && msg_sign(&m, &x->keys[0], NULL, false, NULL) < 0)
		goto out;
	len = m.len;
out:
	version_unref(v);
	return len;
}
