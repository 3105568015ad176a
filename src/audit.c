/*
 * audit: per-worker rings and the writer thread of the audit log (see include/audit.h).
 *
 * A ring is a power-of-two byte array with two free-running byte counters: `head`, advanced only
 * by its producer (release after the record is copied in), and `tail`, advanced only by the
 * writer (release after the record is formatted out). Records are variable-sized, 8-aligned and
 * contiguous; one that does not fit before the end of the array leaves a RING_WRAP marker and
 * starts again at offset 0. The producer thus touches its own ring and one shared counter read;
 * the formatting (JSON escaping, presentation names, addresses, the date) all happens on the
 * writer thread, which wakes every WRITER_TICK_MS and writes each pass with few write(2) calls.
 */
#include "audit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define WRITER_TICK_MS 10
#define RING_MIN (64 * 1024)
#define RING_WRAP UINT32_MAX
#define OUT_CAP (256 * 1024)
#define LINE_MAX_BYTES (48 * 1024) /* longest line: 5 texts of 1 KiB, each byte escaped x6 */

/* Where the deciding entry comes from, for the fields that name it. */
enum { ORIGIN_YAML, ORIGIN_LIST, ORIGIN_ZONE };

/* The fixed part of a record; the texts follow it in field order. */
struct rec {
	uint32_t size;          /* whole record, a multiple of 8; RING_WRAP: skip to the start */
	uint8_t kind, transport, family, qname_len;
	uint8_t target_len, has_qname, ename_len, origin; /* origin: ORIGIN_* */
	uint16_t qtype;
	uint16_t entry_len, list_len, action_len, reason_len, ref_len;
	uint32_t line;
	int64_t time_ms;
	uint8_t addr[16];
};

struct ring {
	_Alignas(64) _Atomic size_t head; /* producer's */
	size_t tail_seen;                 /* producer's cached copy of tail */
	_Alignas(64) _Atomic size_t tail; /* writer's */
	size_t done;                      /* writer: tail as of the last completed write */
	uint8_t *buf;                     /* owned */
	size_t mask;
};

struct audit {
	char *path;                       /* owned */
	char *file_field;                 /* owned: ',"file":"CONFIG-PATH"', escaped once */
	size_t file_field_len;
	unsigned ipv4_prefix, ipv6_prefix;
	struct ring *rings;               /* owned, `producers` of them */
	unsigned producers;
	int fd;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;               /* guards the flags and `done` against flush waiters */
	pthread_cond_t wake, passed;
	bool stop, reopen;
	uint64_t reopens;                 /* reopens done (guarded by mu), and the last one's result */
	int reopen_errno;
	_Atomic uint64_t write_failed;    /* lines lost to failed writes */
	_Atomic uint64_t *lost;           /* borrowed, or NULL: the same, shared (audit_options) */
	bool failing;                     /* writer: the last write failed (a burst is on) */
	bool torn;                        /* writer: a short write cut a line; end it first */
	uint64_t failed_at_start;         /* writer: write_failed when the burst began */
	char *out;                        /* owned: the writer's output buffer, OUT_CAP bytes */
	size_t out_len;
	char *line;                       /* owned: LINE_MAX_BYTES of scratch for one line */
	int64_t date_sec;                 /* the second `date` holds, formatted */
	char date[32];
};

static const char *const kind_names[AUDIT_KIND_COUNT] = {
	[AUDIT_BLOCKED] = "blocked",
	[AUDIT_CNAME_BLOCKED] = "cname-blocked",
	[AUDIT_ACL_DENIED] = "acl-denied",
	[AUDIT_RATE_LIMITED] = "rate-limited",
};

const char *audit_kind_name(enum audit_kind kind)
{
	return (unsigned)kind < AUDIT_KIND_COUNT ? kind_names[kind] : NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- producer ------------------------------------------------------------------------------ */

static size_t text_len(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n < AUDIT_TEXT_MAX ? n : AUDIT_TEXT_MAX;
}

static uint8_t *put(uint8_t *p, const void *src, size_t n)
{
	if (n > 0)
		memcpy(p, src, n);
	return p + n;
}

bool audit_log(struct audit *a, unsigned producer, const struct audit_event *ev)
{
	struct ring *r = &a->rings[producer];
	struct rec h = {
		.kind = (uint8_t)ev->kind, .transport = (uint8_t)ev->transport,
		.qtype = ev->qtype, .line = ev->line,
		.time_ms = ev->time_ms != 0 ? ev->time_ms : now_ms(),
	};
	size_t qlen = ev->qname != NULL && ev->qname_len <= 255 ? ev->qname_len : 0;
	size_t tlen = ev->target != NULL && ev->target_len <= 255 ? ev->target_len : 0;
	size_t elen = ev->entry == NULL && ev->entry_name != NULL && ev->entry_name_len <= 255 ?
		ev->entry_name_len : 0;

	h.has_qname = qlen > 0;
	h.qname_len = (uint8_t)qlen;
	h.target_len = (uint8_t)tlen;
	h.ename_len = (uint8_t)elen;
	h.entry_len = (uint16_t)text_len(ev->entry);
	/* a list's file or a zone's name: one text, the origin says which */
	const char *source = ev->list != NULL ? ev->list : ev->zone;
	h.origin = ev->list != NULL ? ORIGIN_LIST : ev->zone != NULL ? ORIGIN_ZONE : ORIGIN_YAML;
	h.list_len = (uint16_t)text_len(source);
	h.action_len = (uint16_t)text_len(ev->action);
	h.reason_len = (uint16_t)text_len(ev->reason);
	h.ref_len = (uint16_t)text_len(ev->ref);
	if (ev->client != NULL && ev->client->sa_family == AF_INET) {
		h.family = 4;
		memcpy(h.addr, &((const struct sockaddr_in *)ev->client)->sin_addr, 4);
	} else if (ev->client != NULL && ev->client->sa_family == AF_INET6) {
		h.family = 6;
		memcpy(h.addr, &((const struct sockaddr_in6 *)ev->client)->sin6_addr, 16);
	}
	size_t need = sizeof(h) + qlen + tlen + elen + h.entry_len + h.list_len + h.action_len +
		h.reason_len + h.ref_len;
	need = (need + 7) & ~(size_t)7;
	h.size = (uint32_t)need;

	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t cap = r->mask + 1, pos = head & r->mask, room_end = cap - pos;
	size_t total = room_end >= need ? need : room_end + need;
	if (head + total - r->tail_seen > cap) {
		r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head + total - r->tail_seen > cap)
			return false;
	}
	if (room_end < need) {
		/* Records are 8-aligned, so at least the marker's 4 bytes are left. */
		uint32_t wrap = RING_WRAP;
		memcpy(r->buf + pos, &wrap, sizeof(wrap));
		pos = 0;
	}
	uint8_t *p = put(r->buf + pos, &h, sizeof(h));
	p = put(p, ev->qname, qlen);
	p = put(p, ev->target, tlen);
	p = put(p, ev->entry_name, elen);
	p = put(p, ev->entry, h.entry_len);
	p = put(p, source, h.list_len);
	p = put(p, ev->action, h.action_len);
	p = put(p, ev->reason, h.reason_len);
	put(p, ev->ref, h.ref_len);
	atomic_store_explicit(&r->head, head + total, memory_order_release);
	return true;
}

/* ---- formatting (writer thread) ------------------------------------------------------------ */

struct buf {
	char *p;
	size_t n, cap;
};

static void b_raw(struct buf *b, const char *s, size_t n)
{
	if (n > b->cap - b->n)
		n = b->cap - b->n;
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void b_str(struct buf *b, const char *s)
{
	b_raw(b, s, strlen(s));
}

static void b_char(struct buf *b, char c)
{
	if (b->n < b->cap)
		b->p[b->n++] = c;
}

/* S as the inside of a JSON string: quote, backslash and control characters escaped. Bytes
 * from 0x80 up pass through: YAML text is UTF-8 already (libyaml checks it). Runs of bytes that
 * need nothing are copied whole: that is nearly every text. */
/* Bytes that go into a JSON string as they are (1), and those that are escaped (0). */
static bool json_plain[256];
/* Bytes of a label written as they are in a presentation name (RFC 1035 5.1) and JSON. */
static bool name_plain[256];

static void tables_init(void)
{
	for (unsigned c = 0; c < 256; c++) {
		json_plain[c] = c >= 0x20 && c != '"' && c != '\\' && c != 0x7f;
		name_plain[c] = c > 0x20 && c < 0x7f && !strchr(".\\\"();@$", (int)c);
	}
}

static void b_json(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		size_t run = i;
		while (run < n && json_plain[(unsigned char)s[run]])
			run++;
		if (run > i) {
			b_raw(b, s + i, run - i);
			i = run;
			if (i == n)
				break;
		}
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			b_char(b, '\\');
			b_char(b, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			b_raw(b, e, sizeof(e));
		} else {
			b_char(b, (char)c);
		}
	}
}

/*
 * A wire-format name in presentation form (RFC 1035 5.1 escapes), inside a JSON string; with
 * DOT the trailing dot of a fully qualified name (question names), without it the form entries
 * are written in ("tracker.example").
 */
static void b_name(struct buf *b, const uint8_t *name, size_t len, bool dot)
{
	char tmp[4 * 255 + 2];
	size_t n = 0, i = 0;

	if (len == 0 || name[0] == 0) {
		b_char(b, '.');
		return;
	}
	while (i < len && name[i] != 0) {
		size_t l = name[i++];
		for (size_t k = 0; k < l && i < len; k++, i++) {
			unsigned char c = name[i];
			if (name_plain[c]) {
				tmp[n++] = (char)c;
			} else if (c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' ||
			    c == ';' || c == '@' || c == '$') {
				tmp[n++] = '\\';
				tmp[n++] = (char)c;
			} else if (c <= 0x20 || c >= 0x7f) {
				n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, "\\%03u", c);
			} else {
				tmp[n++] = (char)c;
			}
		}
		tmp[n++] = '.';
	}
	b_json(b, tmp, dot ? n : n - 1);
}

static void b_qtype(struct buf *b, uint16_t t)
{
	static const struct { uint16_t t; const char *s; } names[] = {
		{ 1, "A" }, { 2, "NS" }, { 5, "CNAME" }, { 6, "SOA" }, { 12, "PTR" }, { 13, "HINFO" },
		{ 15, "MX" }, { 16, "TXT" }, { 28, "AAAA" }, { 33, "SRV" }, { 35, "NAPTR" },
		{ 39, "DNAME" }, { 43, "DS" }, { 46, "RRSIG" }, { 47, "NSEC" }, { 48, "DNSKEY" },
		{ 50, "NSEC3" }, { 52, "TLSA" }, { 64, "SVCB" }, { 65, "HTTPS" }, { 99, "SPF" },
		{ 252, "AXFR" }, { 251, "IXFR" }, { 255, "ANY" }, { 256, "URI" }, { 257, "CAA" },
	};
	char tmp[16];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].t == t) {
			b_str(b, names[i].s);
			return;
		}
	snprintf(tmp, sizeof(tmp), "TYPE%u", t); /* RFC 3597 */
	b_str(b, tmp);
}

static void b_field(struct buf *b, const char *key, const char *val, size_t n)
{
	b_str(b, ",\"");
	b_str(b, key);
	b_str(b, "\":\"");
	b_json(b, val, n);
	b_char(b, '"');
}

static void cut_prefix(uint8_t *addr, size_t bytes, unsigned prefix)
{
	for (size_t i = 0; i < bytes; i++) {
		unsigned bits = prefix > i * 8 ? prefix - (unsigned)i * 8 : 0;
		if (bits < 8)
			addr[i] &= (uint8_t)(0xff00u >> bits);
	}
}

/* Formats record H (followed by its texts) as one line into A->line; returns its length. */
static size_t format_line(struct audit *a, const struct rec *h)
{
	struct buf b = { .p = a->line, .cap = LINE_MAX_BYTES - 2 };
	const char *t = (const char *)(h + 1);
	char tmp[64];
	int64_t sec = h->time_ms / 1000;
	unsigned ms = (unsigned)(h->time_ms % 1000);

	/* The date part changes once a second: formatted then, not for every line. */
	if (sec != a->date_sec) {
		struct tm tm;
		time_t tt = (time_t)sec;
		gmtime_r(&tt, &tm);
		strftime(a->date, sizeof(a->date), "%Y-%m-%dT%H:%M:%S", &tm);
		a->date_sec = sec;
	}
	b_str(&b, "{\"time\":\"");
	b_str(&b, a->date);
	char frac[8] = { '.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10),
		(char)('0' + ms % 10), 'Z', '"' };
	b_raw(&b, frac, 6);
	b_str(&b, ",\"event\":\"");
	b_str(&b, audit_kind_name((enum audit_kind)h->kind));
	b_char(&b, '"');

	if (h->family != 0) {
		uint8_t addr[16];
		memcpy(addr, h->addr, sizeof(addr));
		if (h->family == 4)
			cut_prefix(addr, 4, a->ipv4_prefix);
		else
			cut_prefix(addr, 16, a->ipv6_prefix);
		if (h->family == 4) {
			/* Dotted quad by hand: inet_ntop costs more than the rest of the line. */
			size_t k = 0;
			for (int i = 0; i < 4; i++) {
				unsigned v = addr[i];
				if (v >= 100)
					tmp[k++] = (char)('0' + v / 100);
				if (v >= 10)
					tmp[k++] = (char)('0' + v / 10 % 10);
				tmp[k++] = (char)('0' + v % 10);
				tmp[k++] = '.';
			}
			b_field(&b, "client", tmp, k - 1);
		} else if (inet_ntop(AF_INET6, addr, tmp, sizeof(tmp)) != NULL) {
			b_field(&b, "client", tmp, strlen(tmp));
		}
	}
	b_str(&b, h->transport == AUDIT_TCP ? ",\"transport\":\"tcp\"" : ",\"transport\":\"udp\"");

	const uint8_t *qname = (const uint8_t *)t;
	t += h->qname_len;
	if (h->has_qname) {
		b_str(&b, ",\"qname\":\"");
		b_name(&b, qname, h->qname_len, true);
		b_str(&b, "\",\"qtype\":\"");
		b_qtype(&b, h->qtype);
		b_char(&b, '"');
	}
	if (h->target_len > 0) {
		b_str(&b, ",\"target\":\"");
		b_name(&b, (const uint8_t *)t, h->target_len, true);
		b_char(&b, '"');
	}
	t += h->target_len;
	if (h->ename_len > 0) {
		b_str(&b, ",\"entry\":\"");
		b_name(&b, (const uint8_t *)t, h->ename_len, false);
		b_char(&b, '"');
	}
	t += h->ename_len;
	if (h->entry_len > 0)
		b_field(&b, "entry", t, h->entry_len);
	t += h->entry_len;
	if (h->list_len > 0)
		b_field(&b, h->origin == ORIGIN_ZONE ? "zone" : "list", t, h->list_len);
	t += h->list_len;
	if (h->line > 0) {
		char digits[12];
		size_t k = sizeof(digits);
		unsigned v = h->line;
		/* A list's line is its `lists:` item's, not the matched name's: named so that it is
		 * not read as the deciding entry's place (which is in the list file, "list"). */
		if (h->origin == ORIGIN_LIST) {
			b_str(&b, ",\"list-item-line\":");
		} else {
			b_raw(&b, a->file_field, a->file_field_len);
			b_str(&b, ",\"line\":");
		}
		do
			digits[--k] = (char)('0' + v % 10);
		while ((v /= 10) != 0);
		b_raw(&b, digits + k, sizeof(digits) - k);
	}
	if (h->action_len > 0)
		b_field(&b, "action", t, h->action_len);
	t += h->action_len;
	if (h->reason_len > 0)
		b_field(&b, "reason", t, h->reason_len);
	t += h->reason_len;
	if (h->ref_len > 0)
		b_field(&b, "ref", t, h->ref_len);
	b.cap += 2; /* the bytes kept back for the closing brace and newline */
	b_str(&b, "}\n");
	return b.n;
}

/* ---- writer thread ------------------------------------------------------------------------- */

static int open_log(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

/* The lines in BUF's N bytes: each ends in a newline. */
static uint64_t count_lines(const char *buf, size_t n)
{
	uint64_t k = 0;

	for (const char *p = buf, *end = buf + n; (p = memchr(p, '\n', (size_t)(end - p))) != NULL;
	     p++)
		k++;
	return k;
}

/*
 * Writes the output buffer out. A failed write(2) (disk full, I/O error) loses the lines not yet
 * written whole (counted in write_failed), and the writer goes on: the next pass tries again
 * with its own lines, and a reopen may give a working file. One log line when such a burst of
 * failures starts, with the error, and one when writes succeed again, with the lines lost, so a
 * full disk does not flood the log. A line cut by a short write is ended with a newline before
 * the next, so every line after the gap still parses.
 */
static void out_flush(struct audit *a)
{
	size_t off = 0;

	while (a->torn) {
		ssize_t r = write(a->fd, "\n", 1);
		if (r == 1)
			a->torn = false;
		else if (r < 0 && errno == EINTR)
			continue;
		else
			break;
	}
	while (off < a->out_len && !a->torn) {
		ssize_t r = write(a->fd, a->out + off, a->out_len - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int err = r < 0 ? errno : ENOSPC; /* write(2) returning 0 for bytes: no room */
			const char *cut = memrchr(a->out, '\n', off);
			uint64_t lost = count_lines(a->out + off, a->out_len - off);
			atomic_fetch_add(&a->write_failed, lost);
			if (a->lost != NULL)
				atomic_fetch_add_explicit(a->lost, lost, memory_order_relaxed);
			a->torn = off > 0 && (cut == NULL || (size_t)(cut - a->out) + 1 != off);
			if (!a->failing) {
				log_err("audit-log %s: write: %s; audit lines are lost (counted in "
					"audit-write-failed) until a write succeeds", a->path, strerror(err));
				a->failing = true;
				a->failed_at_start = atomic_load(&a->write_failed) - lost;
			}
			break;
		}
		off += (size_t)r;
	}
	if (off == a->out_len && a->out_len > 0 && a->failing) {
		log_info("audit-log %s: writing again; %llu lines lost", a->path,
			(unsigned long long)(atomic_load(&a->write_failed) - a->failed_at_start));
		a->failing = false;
	}
	a->out_len = 0;
}

static void do_reopen(struct audit *a)
{
	int fd = open_log(a->path), err = fd < 0 ? errno : 0;

	if (fd < 0) {
		/* Keep writing to the file we have (it may just have been renamed): no line lost. */
		log_err("audit-log %s: reopen: %s; still writing to the file open before", a->path,
			strerror(err));
	} else {
		close(a->fd);
		a->fd = fd;
		log_info("audit-log %s: reopened", a->path);
	}
	pthread_mutex_lock(&a->mu);
	a->reopens++;
	a->reopen_errno = err;
	pthread_cond_broadcast(&a->passed);
	pthread_mutex_unlock(&a->mu);
}

/* One pass over every ring. Returns whether anything was written. */
static bool drain(struct audit *a)
{
	bool any = false;

	for (unsigned i = 0; i < a->producers; i++) {
		struct ring *r = &a->rings[i];
		size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		size_t head = atomic_load_explicit(&r->head, memory_order_acquire);

		while (tail != head) {
			size_t pos = tail & r->mask;
			const struct rec *h = (const void *)(r->buf + pos); /* 8-aligned */
			if (h->size == RING_WRAP) {
				tail += r->mask + 1 - pos;
				continue;
			}
			size_t n = format_line(a, h);
			if (a->out_len + n > OUT_CAP)
				out_flush(a);
			memcpy(a->out + a->out_len, a->line, n);
			a->out_len += n;
			tail += h->size;
			atomic_store_explicit(&r->tail, tail, memory_order_release);
			any = true;
		}
	}
	if (a->out_len > 0)
		out_flush(a);
	pthread_mutex_lock(&a->mu);
	for (unsigned i = 0; i < a->producers; i++)
		a->rings[i].done = atomic_load_explicit(&a->rings[i].tail, memory_order_relaxed);
	pthread_cond_broadcast(&a->passed);
	pthread_mutex_unlock(&a->mu);
	return any;
}

static void *writer_main(void *arg)
{
	struct audit *a = arg;
	bool stop = false;

	while (!stop) {
		bool reopen;
		struct timespec ts;

		pthread_mutex_lock(&a->mu);
		if (!a->stop && !a->reopen) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += WRITER_TICK_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&a->wake, &a->mu, &ts);
		}
		stop = a->stop;
		reopen = a->reopen;
		a->reopen = false;
		pthread_mutex_unlock(&a->mu);

		/* What is in the rings now was logged before the reopen request: old file. */
		drain(a);
		if (reopen)
			do_reopen(a);
	}
	drain(a);
	return NULL;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

struct audit *audit_new(const struct audit_options *opt)
{
	struct audit *a = calloc(1, sizeof(*a)); /* owned by the caller; audit_free */
	size_t cap = RING_MIN;
	int err = ENOMEM;

	if (a == NULL)
		goto fail_mem;
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, tables_init);
	a->fd = -1;
	a->date_sec = -1;
	a->producers = opt->producers ? opt->producers : 1;
	a->ipv4_prefix = opt->ipv4_prefix;
	a->ipv6_prefix = opt->ipv6_prefix;
	a->lost = opt->lost;
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wake, &ca);
	pthread_cond_init(&a->passed, NULL);
	pthread_condattr_destroy(&ca);
	a->path = strdup(opt->path);
	a->out = malloc(OUT_CAP);
	a->line = malloc(LINE_MAX_BYTES);
	a->rings = aligned_alloc(64, sizeof(*a->rings) * a->producers);
	const char *cp = opt->config_path ? opt->config_path : "";
	size_t fcap = 16 + 6 * strlen(cp);
	a->file_field = malloc(fcap);
	if (a->path == NULL || a->file_field == NULL || a->out == NULL || a->line == NULL ||
	    a->rings == NULL)
		goto fail_mem;
	struct buf fb = { .p = a->file_field, .cap = fcap };
	b_field(&fb, "file", cp, strlen(cp));
	a->file_field_len = fb.n;
	memset(a->rings, 0, sizeof(*a->rings) * a->producers);
	while (cap < opt->ring_bytes && cap < ((size_t)1 << 30))
		cap <<= 1;
	for (unsigned i = 0; i < a->producers; i++) {
		a->rings[i].buf = malloc(cap);
		a->rings[i].mask = cap - 1;
		if (a->rings[i].buf == NULL)
			goto fail_mem;
	}
	a->fd = open_log(a->path);
	if (a->fd < 0) {
		err = errno;
		log_err("audit-log %s: %s", a->path, strerror(err));
		goto fail;
	}
	err = pthread_create(&a->thread, NULL, writer_main, a);
	if (err != 0) {
		log_err("audit-log: pthread_create: %s", strerror(err));
		goto fail;
	}
	a->started = true;
	return a;
fail_mem:
	log_err("audit-log: out of memory");
	err = ENOMEM;
fail:
	audit_free(a);
	errno = err; /* for a reload's warning */
	return NULL;
}

static void writer_poke(struct audit *a, bool reopen, bool stop)
{
	pthread_mutex_lock(&a->mu);
	a->reopen |= reopen;
	a->stop |= stop;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
}

void audit_reopen(struct audit *a)
{
	writer_poke(a, true, false);
}

int audit_reopen_wait(struct audit *a, unsigned timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&a->mu);
	uint64_t want = a->reopens + 1;
	a->reopen = true;
	pthread_cond_signal(&a->wake);
	while (a->reopens < want && rc == 0)
		if (pthread_cond_timedwait(&a->passed, &a->mu, &ts) == ETIMEDOUT)
			rc = ETIMEDOUT;
	if (rc == 0)
		rc = a->reopen_errno;
	pthread_mutex_unlock(&a->mu);
	return rc;
}

int audit_flush(struct audit *a, unsigned timeout_ms)
{
	size_t *want = calloc(a->producers, sizeof(*want));
	struct timespec ts;
	int rc = 0;

	if (want == NULL)
		return -1;
	for (unsigned i = 0; i < a->producers; i++)
		want[i] = atomic_load_explicit(&a->rings[i].head, memory_order_acquire);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	writer_poke(a, false, false);
	pthread_mutex_lock(&a->mu);
	for (unsigned i = 0; i < a->producers && rc == 0; i++)
		while (a->rings[i].done < want[i] && rc == 0)
			if (pthread_cond_timedwait(&a->passed, &a->mu, &ts) == ETIMEDOUT)
				rc = -1;
	pthread_mutex_unlock(&a->mu);
	free(want);
	return rc;
}

uint64_t audit_write_failed(struct audit *a)
{
	return atomic_load(&a->write_failed);
}

void audit_free(struct audit *a)
{
	if (a == NULL)
		return;
	if (a->started) {
		writer_poke(a, false, true);
		pthread_join(a->thread, NULL);
	}
	if (a->fd >= 0)
		close(a->fd);
	if (a->rings != NULL)
		for (unsigned i = 0; i < a->producers; i++)
			free(a->rings[i].buf);
	free(a->rings);
	free(a->out);
	free(a->line);
	free(a->path);
	free(a->file_field);
	pthread_cond_destroy(&a->wake);
	pthread_cond_destroy(&a->passed);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
