/*
 * xfr: the RPZ secondary (see include/xfr.h).
 *
 * Per zone, one state machine on the transfer thread's event base:
 *
 *   IDLE --refresh/retry timer, NOTIFY--> SOA (UDP query to a primary, 2 s per try)
 *   SOA  --serial newer, or no copy-->    XFR (TCP: IXFR when a good copy is held, else AXFR)
 *   SOA  --same serial-->                 IDLE (refresh timer), contact noted
 *   SOA/XFR --failure-->                  next primary, or IDLE (retry timer) when all failed
 *   XFR  --IXFR refused-->                XFR (AXFR from the same primary)
 *
 * The answer of a transfer is read message by message (verified with TSIG when a key is
 * configured, chaining the MACs as RFC 8945 5.3.1 says, unsigned messages between signed ones
 * included; an answer that ends unsigned is refused) and kept aside: a full zone goes into a
 * fresh zonedb, an increment into a change log. Only when the final SOA has arrived in a
 * verified message is it applied (the change log to the zone's store), published as a snapshot
 * and written to the state directory; any failure before that leaves the copy as it was. The
 * records themselves are xfrapply's (the answer's shape, the RPZ reader, the change log), the
 * queries and their TSIG chain xfrquery's, and the file in the state directory zonecopy's; this
 * file keeps the machine, its timers and sockets, NOTIFY, expiry and the zones' status.
 */
#include "wire.h" /* before ldns: see wire.h */
#include "xfr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <ldns/ldns.h>

#include "clock.h"
#include "diag.h"
#include "log.h"
#include "xfrapply.h"
#include "xfrquery.h"
#include "zonecopy.h"
#include "zonedb.h"

#define SOA_TIMEOUT_MS 2000    /* one SOA query to one primary */
#define XFR_IDLE_MS 10000      /* a transfer connection with nothing arriving for this long */
#define RETRY_NO_COPY_S 5      /* retry interval before any SOA is known */
#define REFRESH_MIN_S 1        /* bounds on the zone's own refresh and retry values */
#define REFRESH_MAX_S 86400
#define NOTIFY_LOG_INTERVAL_S 10
#define MSG_MAX 65535

enum zstate { Z_IDLE, Z_SOA, Z_XFR };

/* The try of one transfer. */
struct run {
	bool ixfr;                /* we asked for an increment */
	unsigned messages;
	uint64_t t0;
	struct xfrapply *apply;   /* owned: the answer read so far */
};

struct xfr_zone {
	struct xfr *x;
	size_t index;
	const struct config_zone *cz; /* borrowed from x->cfg */
	ldns_rdf *apex;               /* owned */
	struct xfrquery *query;       /* owned: query ID and TSIG chain (xfrquery.h) */
	char path[PATH_MAX], tmp[PATH_MAX + 8];

	/* The copy held. */
	struct zonedb *db;            /* owned */
	bool have_copy, dirty;        /* dirty: the store differs from the primary (full transfer) */
	uint32_t serial, refresh, retry, expire, minimum;
	char mname[LDNS_MAX_DOMAINLEN + 2], rname[LDNS_MAX_DOMAINLEN + 2];
	int64_t last_contact;         /* wall clock: expire counts from here */
	bool expired, dropped;        /* dropped: expired with on-expire: drop, not enforced */
	uint64_t skipped;
	bool skip_warned;

	/* The machine. */
	enum zstate state;
	size_t primary, tried;
	bool axfr_next;               /* the primary refused IXFR: ask again for the whole zone */
	bool recheck;                 /* a NOTIFY came while busy: check again when done */
	_Atomic bool notify_pending;
	_Atomic bool enabled;         /* in the policy in force (a reload may switch it) */
	struct event *timer, *expire_ev, *io; /* owned */
	int fd;
	uint8_t *rbuf;                /* owned: TCP bytes received, not yet a whole message */
	size_t rlen, rcap;
	uint8_t *wbuf;                /* owned: the query, length-prefixed */
	size_t wlen, woff;
	bool writing;
	struct run run;

	struct stats_zone st;         /* under x->lock */
	int64_t refused_logged;
	uint64_t refused_unlogged;
};

struct xfr {
	const struct config *cfg;     /* borrowed */
	xfr_publish_cb *cb;
	void *ctx;
	struct xfr_zone *zones;       /* owned array */
	size_t nzones;
	pthread_mutex_t lock;         /* the zones' st */
	struct event_base *base;      /* owned */
	int wake_fd;                  /* eventfd: NOTIFYs and stop */
	struct event *wake_ev;
	_Atomic bool stop;
	pthread_t thread;
	bool started;
	_Atomic int64_t unknown_logged;

	struct zonecopy_writer *writer; /* owned: the persisted copies' thread (zonecopy.h) */
};

static void check_start(struct xfr_zone *z);
static void xfr_begin(struct xfr_zone *z, bool ixfr);

/* ---- small helpers --------------------------------------------------------------------------- */

static int64_t wall_now(void)
{
	return (int64_t)time(NULL);
}

/* RFC 1982 serial number arithmetic: whether A is newer than B. */
static uint32_t clamp_interval(uint32_t v)
{
	return v < REFRESH_MIN_S ? REFRESH_MIN_S : v > REFRESH_MAX_S ? REFRESH_MAX_S : v;
}

static const char *primary_text(const struct xfr_zone *z)
{
	return z->cz->primaries[z->primary].text;
}

__attribute__((format(printf, 2, 3)))
static void set_result(struct xfr_zone *z, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&z->x->lock);
	va_start(ap, fmt);
	vsnprintf(z->st.result, sizeof(z->st.result), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&z->x->lock);
}

/* Copies the copy's state into the status block. */
static void status_sync(struct xfr_zone *z)
{
	pthread_mutex_lock(&z->x->lock);
	z->st.have_copy = z->have_copy;
	z->st.serial = z->serial;
	z->st.records = z->db ? zonedb_triggers(z->db) : 0;
	z->st.skipped = z->skipped;
	z->st.expired = z->expired;
	z->st.enforced = z->have_copy && !z->dropped && atomic_load(&z->enabled);
	z->st.last_contact = z->last_contact;
	pthread_mutex_unlock(&z->x->lock);
}

static void count(struct xfr_zone *z, uint64_t *field)
{
	pthread_mutex_lock(&z->x->lock);
	(*field)++;
	pthread_mutex_unlock(&z->x->lock);
}

static void io_close(struct xfr_zone *z)
{
	if (z->io != NULL) {
		event_free(z->io);
		z->io = NULL;
	}
	if (z->fd >= 0) {
		close(z->fd);
		z->fd = -1;
	}
	free(z->wbuf);
	z->wbuf = NULL;
	z->rlen = 0;
}

static void run_release(struct run *r)
{
	xfrapply_free(r->apply);
	memset(r, 0, sizeof(*r));
}

static void timer_arm(struct event *ev, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	event_del(ev);
	event_add(ev, &tv);
}

/* ---- expiry ---------------------------------------------------------------------------------- */

/*
 * Hands the current copy (or none, when dropped) to the daemon. Returns another reference to the
 * snapshot published when KEEP is set (the caller owns it), else NULL.
 */
/* xfr_changes_fn over an applied increment. */
static int increment_changes(const void *src, lists_entry_cb *cb, void *ctx)
{
	return xfrapply_foreach_change(src, cb, ctx);
}

static struct zonesnap *publish_keep(struct xfr_zone *z, bool keep, const struct xfrapply *delta)
{
	struct zonesnap *snap = NULL;

	if (!z->dropped && z->have_copy && (snap = zonedb_snapshot(z->db)) == NULL) {
		log_err("zone %s: out of memory publishing serial %u; the previous copy stays in force",
			z->cz->text, z->serial);
		return NULL;
	}
	if (keep && snap != NULL)
		zonesnap_ref(snap);
	z->x->cb(z->x->ctx, z->index, snap, delta != NULL ? increment_changes : NULL, delta);
	return keep ? snap : NULL;
}

static void publish(struct xfr_zone *z)
{
	publish_keep(z, false, NULL);
}

static void expire_arm(struct xfr_zone *z)
{
	int64_t left;

	if (!z->have_copy || z->expire == 0)
		return;
	left = z->last_contact + (int64_t)z->expire - wall_now();
	timer_arm(z->expire_ev, left > 0 ? (uint64_t)left * 1000 : 0);
}

static void expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct xfr_zone *z = arg;
	(void)fd;
	(void)what;

	if (z->expired || !z->have_copy)
		return;
	if (wall_now() < z->last_contact + (int64_t)z->expire) {
		expire_arm(z); /* contact came meanwhile */
		return;
	}
	z->expired = true;
	count(z, &z->st.expiries);
	if (z->cz->expire_drop) {
		log_err("zone %s: EXPIRED: no primary reached for %u s (SOA expire); serial %u is no "
			"longer enforced (on-expire: drop)", z->cz->text, z->expire, z->serial);
		z->dropped = true;
		publish(z);
	} else {
		log_err("zone %s: EXPIRED: no primary reached for %u s (SOA expire); serial %u stays "
			"enforced (on-expire: keep)", z->cz->text, z->expire, z->serial);
	}
	set_result(z, "expired: no primary reached for %u s", z->expire);
	status_sync(z);
}

/* A primary answered with a version we hold or take: the expire clock starts again. */
static void contact(struct xfr_zone *z)
{
	z->last_contact = wall_now();
	if (z->expired) {
		log_info("zone %s: primary %s reached again; no longer expired", z->cz->text,
			primary_text(z));
		z->expired = false;
		if (z->dropped) {
			z->dropped = false;
			publish(z);
		}
	}
	expire_arm(z);
}

/* ---- the state directory --------------------------------------------------------------------- */

/* The SOA of the copy held, as the copy's file and an IXFR query carry it. */
static void held_soa(const struct xfr_zone *z, struct zonecopy_soa *soa)
{
	*soa = (struct zonecopy_soa){ .serial = z->serial, .refresh = z->refresh,
		.retry = z->retry, .expire = z->expire, .minimum = z->minimum };
	_Static_assert(sizeof(soa->mname) == sizeof(z->mname), "SOA names of one size");
	memcpy(soa->mname, z->mname, sizeof(soa->mname));
	memcpy(soa->rname, z->rname, sizeof(soa->rname));
}

/* Has the writer thread write SNAP (the caller's reference, taken over) as the zone's copy. */
static void persist(struct xfr_zone *z, struct zonesnap *snap)
{
	struct zonecopy_soa soa;

	if (snap == NULL)
		return;
	held_soa(z, &soa);
	zonecopy_writer_put(z->x->writer, z->index, z->cz, z->path, z->tmp, snap, &soa,
		primary_text(z), z->skipped);
}

/* Takes up the copy in the state directory (zonecopy.h), if there is a usable one. */
static void load_copy(struct xfr_zone *z)
{
	struct zonecopy c;

	if (zonecopy_load(z->cz, z->path, ldns_rdf_data(z->apex), ldns_rdf_size(z->apex), &c) < 0)
		return;
	zonedb_free(z->db);
	z->db = c.db;
	z->have_copy = true;
	z->serial = c.soa.serial;
	z->refresh = c.soa.refresh;
	z->retry = c.soa.retry;
	z->expire = c.soa.expire;
	z->minimum = c.soa.minimum;
	snprintf(z->mname, sizeof(z->mname), "%s", c.soa.mname);
	snprintf(z->rname, sizeof(z->rname), "%s", c.soa.rname);
	z->last_contact = c.written;
	z->skipped = c.skipped;
}

/* ---- messages -------------------------------------------------------------------------------- */

/* Our query for TYPE (xfrquery.h), signed when the zone has a key. -1 on failure. */
static int query_build(struct xfr_zone *z, ldns_rr_type type, uint8_t **wire, size_t *len)
{
	struct zonecopy_soa held;

	held_soa(z, &held);
	return xfrquery_build(z->query, z->apex, (uint16_t)type,
		type == LDNS_RR_TYPE_IXFR ? &held : NULL, wire, len);
}

/* ---- ending a try ---------------------------------------------------------------------------- */

/* Back to idle, the next check after SECONDS. */
static void idle(struct xfr_zone *z, uint32_t seconds)
{
	io_close(z);
	run_release(&z->run);
	z->state = Z_IDLE;
	status_sync(z);
	if (z->recheck) {
		z->recheck = false;
		check_start(z);
		return;
	}
	timer_arm(z->timer, (uint64_t)seconds * 1000);
}

static uint32_t retry_interval(const struct xfr_zone *z)
{
	return z->retry > 0 ? clamp_interval(z->retry) : RETRY_NO_COPY_S;
}

static uint32_t refresh_interval(const struct xfr_zone *z)
{
	return z->refresh > 0 ? clamp_interval(z->refresh) : RETRY_NO_COPY_S;
}

/*
 * This primary failed for WHY: the next one is asked, or when every one has been, the zone
 * waits for its retry interval. The copy held is untouched either way.
 */
static void primary_failed(struct xfr_zone *z, const char *why, enum stats_zone_fail reason)
{
	log_warn("zone %s: %s from %s: %s; %s", z->cz->text, z->state == Z_XFR ?
		(z->run.ixfr ? "IXFR" : "AXFR") : "SOA query", primary_text(z), why,
		z->have_copy ? "the current copy stays in force" : "no copy yet");
	pthread_mutex_lock(&z->x->lock);
	z->st.failures++;
	z->st.tsig_failures += reason == ZONE_FAIL_TSIG;
	z->st.failed[reason]++;
	snprintf(z->st.result, sizeof(z->st.result), "%s: %s", primary_text(z), why);
	pthread_mutex_unlock(&z->x->lock);
	io_close(z);
	run_release(&z->run);
	z->axfr_next = false;
	if (++z->tried < z->cz->primary_count) {
		z->primary = (z->primary + 1) % z->cz->primary_count;
		z->state = Z_IDLE;
		check_start(z);
		return;
	}
	idle(z, retry_interval(z));
}

static void serial_backwards(struct xfr_zone *z, uint32_t theirs)
{
	log_err("zone %s: primary %s has serial %u, older than ours (%u): refused, the current copy "
		"stays in force", z->cz->text, primary_text(z), theirs, z->serial);
	count(z, &z->st.backwards);
	primary_failed(z, "serial went backwards", ZONE_FAIL_BACKWARDS);
}

/* ---- applying a transfer --------------------------------------------------------------------- */

/* The transfer has arrived whole: it becomes the copy, is published and written out. */
static void run_finish(struct xfr_zone *z)
{
	struct run *r = &z->run;
	const struct xfrapply_soa *soa = xfrapply_soa(r->apply);
	struct xfrapply_result res;
	uint32_t old = z->serial;
	bool had = z->have_copy;
	double secs = (double)(clock_now_ns() - r->t0) / 1e9;
	const char *how, *skip_why;
	int rc;

	pthread_mutex_lock(&z->x->lock);
	z->st.last_check = wall_now();
	pthread_mutex_unlock(&z->x->lock);
	if (xfrapply_up_to_date(r->apply)) {
		contact(z);
		log_info("zone %s: %s: serial %u is current", z->cz->text, primary_text(z), z->serial);
		set_result(z, "up to date (serial %u)", z->serial);
		idle(z, refresh_interval(z));
		return;
	}
	if ((rc = xfrapply_commit(r->apply, &z->db, &z->skipped, &res)) != 0) {
		z->dirty = true;
		log_warn("zone %s: IXFR %u -> %u from %s %s; asking for the whole zone", z->cz->text,
			old, soa->serial, primary_text(z), rc < 0 ? "ran out of memory" :
			"deletes records our copy does not have");
		set_result(z, "IXFR did not match our copy: AXFR");
		io_close(z);
		run_release(r);
		xfr_begin(z, false);
		return;
	}
	if (res.full) {
		how = r->ixfr ? "IXFR answered with the full zone" : "AXFR";
		count(z, &z->st.axfr);
	} else {
		how = "IXFR";
		count(z, &z->st.ixfr);
	}
	z->have_copy = true;
	z->dirty = false;
	z->serial = soa->serial;
	z->refresh = soa->refresh;
	z->retry = soa->retry;
	z->expire = soa->expire;
	z->minimum = soa->minimum;
	_Static_assert(sizeof(z->mname) == sizeof(soa->mname), "SOA names of one size");
	memcpy(z->mname, soa->mname, sizeof(z->mname));
	memcpy(z->rname, soa->rname, sizeof(z->rname));
	contact(z); /* after the new SOA's expire is known */
	if (z->skipped > 0 && !z->skip_warned) {
		skip_why = xfrapply_skip_why(r->apply);
		log_warn("zone %s: %llu records skipped (first: %s): only QNAME triggers are enforced",
			z->cz->text, (unsigned long long)z->skipped, skip_why ? skip_why : "?");
		z->skip_warned = true;
	}
	/* an increment tells the daemon what it changed; a full zone may have changed anything */
	struct zonesnap *keep = publish_keep(z, true, res.full ? NULL : r->apply);
	if (res.dels + res.adds > 0)
		log_info("zone %s: %s %u -> %u from %s: %zu deleted, %zu added, %zu triggers in force "
			"(%.3f s)", z->cz->text, how, old, z->serial, primary_text(z), res.dels, res.adds,
			zonedb_triggers(z->db), secs);
	else
		log_info("zone %s: %s %s%u from %s: %zu triggers in force, %llu records skipped "
			"(%.3f s)", z->cz->text, how, had ? "to serial " : "serial ", z->serial,
			primary_text(z), zonedb_triggers(z->db), (unsigned long long)z->skipped, secs);
	pthread_mutex_lock(&z->x->lock);
	z->st.last_transfer = wall_now();
	snprintf(z->st.result, sizeof(z->st.result), "%s of serial %u from %s", how, z->serial,
		primary_text(z));
	pthread_mutex_unlock(&z->x->lock);
	persist(z, keep);
	idle(z, refresh_interval(z));
}

/* One whole message of the transfer answer. Returns false when the try has ended. */
static bool xfr_message(struct xfr_zone *z, const uint8_t *msg, size_t len)
{
	ldns_pkt *p = NULL;
	bool tsig = false, backwards = false;
	enum stats_zone_fail reason;
	const char *err;
	ldns_rr_list *an;

	if (ldns_wire2pkt(&p, msg, len) != LDNS_STATUS_OK) {
		primary_failed(z, "malformed message", ZONE_FAIL_MALFORMED);
		return false;
	}
	err = xfrquery_check(z->query, p, msg, len, z->run.messages == 0, &tsig);
	/* the check's error is the primary's RCODE when it answered one, else the message's */
	reason = tsig ? ZONE_FAIL_TSIG : err != NULL && ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR ?
		ZONE_FAIL_RCODE : ZONE_FAIL_MALFORMED;
	if (err != NULL && !tsig && z->run.ixfr && z->run.messages == 0 &&
		(ldns_pkt_get_rcode(p) == LDNS_RCODE_NOTIMPL || ldns_pkt_get_rcode(p) == LDNS_RCODE_REFUSED ||
		ldns_pkt_get_rcode(p) == LDNS_RCODE_FORMERR)) {
		/* RFC 1995 does not oblige a primary to serve increments: take the whole zone */
		log_info("zone %s: %s refuses IXFR (%s); asking for AXFR", z->cz->text, primary_text(z),
			err);
		ldns_pkt_free(p);
		io_close(z);
		run_release(&z->run);
		xfr_begin(z, false);
		return false;
	}
	z->run.messages++;
	an = ldns_pkt_answer(p);
	for (size_t i = 0; err == NULL && i < ldns_rr_list_rr_count(an); i++)
		err = xfrapply_rr(z->run.apply, ldns_rr_list_rr(an, i), &backwards);
	ldns_pkt_free(p);
	if (err != NULL) {
		if (backwards)
			serial_backwards(z, xfrapply_soa(z->run.apply)->serial);
		else
			primary_failed(z, err, reason);
		return false;
	}
	if (xfrapply_complete(z->run.apply)) {
		if (xfrquery_unsigned_pending(z->query)) {
			/* nothing covers the messages since the last MAC: they may be anyone's */
			primary_failed(z, "the last message of the answer is not TSIG-signed "
				"(RFC 8945 5.3.1)", ZONE_FAIL_TSIG);
			return false;
		}
		run_finish(z);
		return false;
	}
	return true;
}

/* ---- TCP: the transfer ----------------------------------------------------------------------- */

static void xfr_io(evutil_socket_t fd, short what, void *arg)
{
	struct xfr_zone *z = arg;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		primary_failed(z, z->writing ? "connection timed out" : "transfer timed out",
			ZONE_FAIL_TIMEOUT);
		return;
	}
	if (z->writing) {
		n = send(fd, z->wbuf + z->woff, z->wlen - z->woff, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			primary_failed(z, strerror(errno), ZONE_FAIL_NETWORK);
			return;
		}
		z->woff += (size_t)n;
		if (z->woff < z->wlen)
			return;
		z->writing = false;
		event_free(z->io);
		z->io = event_new(z->x->base, fd, EV_READ | EV_PERSIST, xfr_io, z);
		struct timeval tv = { XFR_IDLE_MS / 1000, 0 };
		if (z->io == NULL || event_add(z->io, &tv) < 0)
			primary_failed(z, "out of memory", ZONE_FAIL_RESOURCES);
		return;
	}
	if (z->rcap - z->rlen < 16384) {
		size_t ncap = z->rcap ? z->rcap * 2 : 2 * (MSG_MAX + 2);
		uint8_t *nb = realloc(z->rbuf, ncap);
		if (nb == NULL) {
			primary_failed(z, "out of memory", ZONE_FAIL_RESOURCES);
			return;
		}
		z->rbuf = nb;
		z->rcap = ncap;
	}
	n = recv(fd, z->rbuf + z->rlen, z->rcap - z->rlen, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		primary_failed(z, n == 0 ? "connection closed before the transfer was complete" :
			strerror(errno), ZONE_FAIL_NETWORK);
		return;
	}
	z->rlen += (size_t)n;
	size_t off = 0;
	while (z->rlen - off >= 2) {
		size_t mlen = (size_t)z->rbuf[off] << 8 | z->rbuf[off + 1];
		if (z->rlen - off - 2 < mlen)
			break;
		if (!xfr_message(z, z->rbuf + off + 2, mlen))
			return; /* the try ended: z's buffers are gone or reset */
		off += 2 + mlen;
	}
	memmove(z->rbuf, z->rbuf + off, z->rlen - off);
	z->rlen -= off;
}

/* Starts a transfer from the current primary: IXFR when IXFR is set (a good copy is held). */
static void xfr_begin(struct xfr_zone *z, bool ixfr)
{
	const struct config_endpoint *ep = &z->cz->primaries[z->primary];
	struct xfrapply_held held;
	uint8_t *wire = NULL;
	size_t len;

	z->state = Z_XFR;
	run_release(&z->run);
	z->run.ixfr = ixfr;
	z->run.t0 = clock_now_ns();
	held = (struct xfrapply_held){ .cz = z->cz, .apex = z->apex,
		.trusted = z->have_copy && !z->dirty, .serial = z->serial,
		.triggers = z->db ? zonedb_triggers(z->db) : 1024 };
	if ((z->run.apply = xfrapply_new(&held, ixfr)) == NULL) {
		primary_failed(z, "out of memory", ZONE_FAIL_RESOURCES);
		return;
	}
	if (query_build(z, ixfr ? LDNS_RR_TYPE_IXFR : LDNS_RR_TYPE_AXFR, &wire, &len) < 0 ||
		(z->wbuf = malloc(len + 2)) == NULL) {
		free(wire);
		primary_failed(z, "cannot build the query (out of memory?)", ZONE_FAIL_RESOURCES);
		return;
	}
	z->wbuf[0] = (uint8_t)(len >> 8);
	z->wbuf[1] = (uint8_t)len;
	memcpy(z->wbuf + 2, wire, len);
	free(wire);
	z->wlen = len + 2;
	z->woff = 0;
	z->writing = true;
	z->fd = socket(ep->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (z->fd < 0 || (connect(z->fd, (const struct sockaddr *)&ep->addr, ep->addrlen) < 0 &&
		errno != EINPROGRESS)) {
		primary_failed(z, strerror(errno), ZONE_FAIL_NETWORK);
		return;
	}
	z->io = event_new(z->x->base, z->fd, EV_WRITE | EV_PERSIST, xfr_io, z);
	struct timeval tv = { SOA_TIMEOUT_MS / 1000, 0 };
	if (z->io == NULL || event_add(z->io, &tv) < 0)
		primary_failed(z, "out of memory", ZONE_FAIL_RESOURCES);
	else
		log_debug("zone %s: %s from %s", z->cz->text, ixfr ? "IXFR" : "AXFR", ep->text);
}

/* ---- UDP: the SOA check ---------------------------------------------------------------------- */

static void soa_io(evutil_socket_t fd, short what, void *arg)
{
	struct xfr_zone *z = arg;
	uint8_t buf[MSG_MAX];
	ldns_pkt *p = NULL;
	const char *err;
	bool tsig = false;
	enum stats_zone_fail reason;
	ssize_t n;
	uint32_t serial = 0;
	bool found = false;

	if (what & EV_TIMEOUT) {
		primary_failed(z, "SOA query timed out", ZONE_FAIL_TIMEOUT);
		return;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		/* ECONNREFUSED: nothing listens there */
		primary_failed(z, strerror(errno), ZONE_FAIL_NETWORK);
		return;
	}
	if (ldns_wire2pkt(&p, buf, (size_t)n) != LDNS_STATUS_OK || ldns_pkt_id(p) != xfrquery_id(z->query)) {
		ldns_pkt_free(p);
		return; /* not the answer: wait on (the socket is connected to the primary) */
	}
	err = xfrquery_check(z->query, p, buf, (size_t)n, true, &tsig);
	reason = tsig ? ZONE_FAIL_TSIG : err != NULL && ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR ?
		ZONE_FAIL_RCODE : ZONE_FAIL_MALFORMED; /* no SOA: not an answer a check can use */
	for (size_t i = 0; err == NULL && i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);
		if (xfrapply_is_apex_soa(rr, z->apex, &serial))
			found = true;
	}
	ldns_pkt_free(p);
	if (err == NULL && !found)
		err = "no SOA in the answer (not authoritative for the zone?)";
	if (err != NULL) {
		primary_failed(z, err, reason);
		return;
	}
	io_close(z);
	pthread_mutex_lock(&z->x->lock);
	z->st.last_check = wall_now();
	pthread_mutex_unlock(&z->x->lock);
	if (z->have_copy && !z->dirty && serial == z->serial) {
		contact(z);
		/* the copy's file time is when a primary last confirmed it, for expire after a restart */
		utimensat(AT_FDCWD, z->path, NULL, 0);
		set_result(z, "up to date (serial %u)", serial);
		log_debug("zone %s: %s: serial %u is current", z->cz->text, primary_text(z), serial);
		z->state = Z_IDLE;
		idle(z, refresh_interval(z));
		return;
	}
	if (z->have_copy && !z->dirty && xfr_serial_gt(z->serial, serial)) {
		z->state = Z_IDLE;
		serial_backwards(z, serial);
		return;
	}
	xfr_begin(z, z->have_copy && !z->dirty && !z->axfr_next);
}

static void soa_send(struct xfr_zone *z)
{
	const struct config_endpoint *ep = &z->cz->primaries[z->primary];
	uint8_t *wire = NULL;
	size_t len;

	z->state = Z_SOA;
	count(z, &z->st.checks);
	if (query_build(z, LDNS_RR_TYPE_SOA, &wire, &len) < 0) {
		primary_failed(z, "cannot build the query (out of memory?)", ZONE_FAIL_RESOURCES);
		return;
	}
	z->fd = socket(ep->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (z->fd < 0 || connect(z->fd, (const struct sockaddr *)&ep->addr, ep->addrlen) < 0 ||
		send(z->fd, wire, len, 0) < 0) {
		free(wire);
		primary_failed(z, strerror(errno), ZONE_FAIL_NETWORK);
		return;
	}
	free(wire);
	z->io = event_new(z->x->base, z->fd, EV_READ | EV_PERSIST, soa_io, z);
	struct timeval tv = { SOA_TIMEOUT_MS / 1000, (SOA_TIMEOUT_MS % 1000) * 1000 };
	if (z->io == NULL || event_add(z->io, &tv) < 0)
		primary_failed(z, "out of memory", ZONE_FAIL_RESOURCES);
}

/* A check starts with the primary that answered last and goes round the list once. */
static void check_start(struct xfr_zone *z)
{
	if (z->state != Z_IDLE) {
		z->recheck = true;
		return;
	}
	event_del(z->timer);
	soa_send(z);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct xfr_zone *z = arg;
	(void)fd;
	(void)what;

	z->tried = 0;
	check_start(z);
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct xfr *x = arg;
	uint64_t v;
	(void)what;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("xfr: wake: %s", strerror(errno));
	if (atomic_load(&x->stop)) {
		event_base_loopbreak(x->base);
		return;
	}
	for (size_t i = 0; i < x->nzones; i++) {
		struct xfr_zone *z = &x->zones[i];
		if (atomic_exchange(&z->notify_pending, false)) {
			if (z->state == Z_IDLE)
				z->tried = 0;
			check_start(z);
		}
	}
}

/* ---- NOTIFY ---------------------------------------------------------------------------------- */

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			&((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		&((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

static void addr_text(const struct sockaddr *a, char *buf, size_t cap)
{
	if (a->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, buf, (socklen_t)cap);
	else if (a->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, buf, (socklen_t)cap);
	else
		snprintf(buf, cap, "?");
}

unsigned xfr_notify(struct xfr *x, const uint8_t *name, size_t len, const struct sockaddr *from,
	socklen_t fromlen)
{
	char who[INET6_ADDRSTRLEN];
	int64_t now = wall_now();
	(void)fromlen;

	addr_text(from, who, sizeof(who));
	for (size_t i = 0; i < x->nzones; i++) {
		struct xfr_zone *z = &x->zones[i];
		bool listed = false;
		uint64_t one = 1, unlogged;

		if (z->cz->name_len != len || memcmp(z->cz->name, name, len) != 0)
			continue;
		for (size_t p = 0; p < z->cz->primary_count; p++)
			listed |= same_address(&z->cz->primaries[p].addr, from);
		pthread_mutex_lock(&x->lock);
		if (listed) {
			z->st.notify_accepted++;
		} else {
			z->st.notify_refused++;
			z->refused_unlogged++;
		}
		bool log_now = !listed && now - z->refused_logged >= NOTIFY_LOG_INTERVAL_S;
		unlogged = z->refused_unlogged;
		if (log_now) {
			z->refused_logged = now;
			z->refused_unlogged = 0;
		}
		pthread_mutex_unlock(&x->lock);
		if (!listed) {
			if (log_now)
				log_warn("zone %s: NOTIFY from %s refused: not a listed primary (%llu since "
					"the last such line)", z->cz->text, who, (unsigned long long)unlogged);
			return WIRE_RCODE_REFUSED;
		}
		log_info("zone %s: NOTIFY from %s: checking now", z->cz->text, who);
		atomic_store(&z->notify_pending, true);
		if (write(x->wake_fd, &one, sizeof(one)) < 0)
			log_warn("xfr: wake: %s", strerror(errno));
		return WIRE_RCODE_NOERROR;
	}
	if (now - atomic_load(&x->unknown_logged) >= NOTIFY_LOG_INTERVAL_S) {
		atomic_store(&x->unknown_logged, now);
		log_warn("NOTIFY from %s for a zone that is not in zones: refused", who);
	}
	return WIRE_RCODE_REFUSED;
}

size_t xfr_status(struct xfr *x, struct stats_zone *out, size_t cap)
{
	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; i < x->nzones && i < cap; i++)
		out[i] = x->zones[i].st;
	pthread_mutex_unlock(&x->lock);
	return x->nzones;
}

void xfr_set_enforced(struct xfr *x, size_t i, bool enabled)
{
	struct xfr_zone *z = &x->zones[i];

	atomic_store(&z->enabled, enabled);
	pthread_mutex_lock(&x->lock);
	z->st.enforced = z->have_copy && !z->dropped && enabled;
	pthread_mutex_unlock(&x->lock);
}

void xfr_status_one(struct xfr *x, size_t i, struct stats_zone *out)
{
	pthread_mutex_lock(&x->lock);
	*out = x->zones[i].st;
	pthread_mutex_unlock(&x->lock);
}

/* ---- life cycle ------------------------------------------------------------------------------ */

static void *xfr_main(void *arg)
{
	struct xfr *x = arg;

	/* Transfers and the writing of copies yield to the workers under contention. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 5) < 0)
		log_debug("xfr: setpriority: %s", strerror(errno));
	for (size_t i = 0; i < x->nzones; i++)
		timer_arm(x->zones[i].timer, 0);
	event_base_dispatch(x->base);
	return NULL;
}

/* "name" as an absolute name for ldns ("name."). Caller frees. */
static char *absolute(const char *name)
{
	size_t n = strlen(name);
	char *out = malloc(n + 2);

	if (out == NULL)
		return NULL;
	memcpy(out, name, n);
	out[n] = '.';
	out[n + 1] = 0;
	if (n == 1 && name[0] == '.')
		out[1] = 0;
	return out;
}

static int zone_init(struct xfr *x, struct xfr_zone *z, size_t i)
{
	const struct config_zone *cz = &x->cfg->zones[i];
	char *abs = absolute(cz->text), *key_name = NULL, *key_alg = NULL;

	z->x = x;
	z->index = i;
	z->cz = cz;
	z->fd = -1;
	atomic_init(&z->notify_pending, false);
	atomic_init(&z->enabled, cz->enabled);
	snprintf(z->st.name, sizeof(z->st.name), "%s", cz->text);
	snprintf(z->st.result, sizeof(z->st.result), "not checked yet");
	if (abs == NULL || ldns_str2rdf_dname(&z->apex, abs) != LDNS_STATUS_OK)
		goto fail;
	ldns_dname2canonical(z->apex);
	free(abs);
	abs = NULL;
	if (cz->tsig_name != NULL && ((key_name = absolute(cz->tsig_name)) == NULL ||
		(key_alg = absolute(cz->tsig_algorithm)) == NULL))
		goto fail;
	z->query = xfrquery_new(cz, key_name, key_alg); /* takes both names over */
	key_name = key_alg = NULL;
	if (z->query == NULL)
		goto fail;
	if ((size_t)snprintf(z->path, sizeof(z->path), "%s/%s.rpz", x->cfg->state_dir, cz->text) >=
		sizeof(z->path))
		goto fail;
	snprintf(z->tmp, sizeof(z->tmp), "%s/.%s.rpz.tmp", x->cfg->state_dir, cz->text);
	if ((z->db = zonedb_new(cz->text, cz->reason, cz->ref, 1024)) == NULL)
		goto fail;
	z->timer = evtimer_new(x->base, timer_cb, z);
	z->expire_ev = evtimer_new(x->base, expire_cb, z);
	if (z->timer == NULL || z->expire_ev == NULL)
		goto fail;
	return 0;
fail:
	free(abs);
	free(key_name);
	free(key_alg);
	return -1;
}

static void zone_release(struct xfr_zone *z)
{
	io_close(z);
	run_release(&z->run);
	if (z->timer)
		event_free(z->timer);
	if (z->expire_ev)
		event_free(z->expire_ev);
	ldns_rdf_deep_free(z->apex);
	xfrquery_free(z->query);
	free(z->rbuf);
	zonedb_free(z->db);
}

struct xfr *xfr_new(const struct config *cfg, xfr_publish_cb *cb, void *ctx)
{
	struct xfr *x = calloc(1, sizeof(*x)); /* owned by the caller */
	struct stat st;

	if (x == NULL)
		goto nomem;
	x->cfg = cfg;
	x->cb = cb;
	x->ctx = ctx;
	x->wake_fd = -1;
	pthread_mutex_init(&x->lock, NULL);
	if (stat(cfg->state_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_err("state-dir %s: %s", cfg->state_dir, errno ? strerror(errno) : "not a directory");
		goto fail;
	}
	if (access(cfg->state_dir, W_OK) < 0)
		log_warn("state-dir %s: not writable (%s): transferred zones will not survive a restart",
			cfg->state_dir, strerror(errno));
	x->base = event_base_new();
	x->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	x->zones = calloc(cfg->zone_count ? cfg->zone_count : 1, sizeof(*x->zones));
	if (x->base == NULL || x->wake_fd < 0 || x->zones == NULL)
		goto nomem;
	x->wake_ev = event_new(x->base, x->wake_fd, EV_READ | EV_PERSIST, wake_cb, x);
	if (x->wake_ev == NULL || event_add(x->wake_ev, NULL) < 0)
		goto nomem;
	for (; x->nzones < cfg->zone_count; x->nzones++)
		if (zone_init(x, &x->zones[x->nzones], x->nzones) < 0) {
			x->nzones++; /* so xfr_free releases the partial one */
			goto nomem;
		}
	return x;
nomem:
	log_err("xfr: out of memory");
fail:
	xfr_free(x);
	return NULL;
}

int xfr_start(struct xfr *x)
{
	int err;

	if (x->nzones == 0)
		return 0;
	for (size_t i = 0; i < x->nzones; i++) {
		struct xfr_zone *z = &x->zones[i];
		load_copy(z);
		if (z->have_copy) {
			if (z->expire > 0 && wall_now() >= z->last_contact + (int64_t)z->expire)
				log_warn("zone %s: its copy was last confirmed %lld s ago, past its SOA "
					"expire (%u s)", z->cz->text,
					(long long)(wall_now() - z->last_contact), z->expire);
			publish(z);
			expire_arm(z);
		}
		status_sync(z);
	}
	if ((x->writer = zonecopy_writer_start(x->cfg->state_dir, x->nzones)) == NULL)
		return -1;
	if ((err = pthread_create(&x->thread, NULL, xfr_main, x)) != 0) {
		log_err("xfr: cannot start the transfer thread: %s", strerror(err));
		return -1;
	}
	x->started = true;
	return 0;
}

void xfr_free(struct xfr *x)
{
	uint64_t one = 1;

	if (x == NULL)
		return;
	if (x->started) {
		atomic_store(&x->stop, true);
		if (write(x->wake_fd, &one, sizeof(one)) < 0)
			log_warn("xfr: wake: %s", strerror(errno));
		pthread_join(x->thread, NULL);
	}
	zonecopy_writer_stop(x->writer); /* every copy handed over is written first */
	for (size_t i = 0; i < x->nzones; i++)
		zone_release(&x->zones[i]);
	free(x->zones);
	if (x->wake_ev)
		event_free(x->wake_ev);
	if (x->wake_fd >= 0)
		close(x->wake_fd);
	if (x->base)
		event_base_free(x->base);
	pthread_mutex_destroy(&x->lock);
	free(x);
}
