/*
 * audit: per-worker rings and the writer thread of the audit log (see include/audit.h).
 *
 * A ring is a power-of-two byte array with two free-running byte counters: `head`, advanced only
 * by its producer (release after the record is copied in), and `tail`, advanced only by the
 * writer (release after the record is formatted out). Records are variable-sized, 8-aligned and
 * contiguous; one that does not fit before the end of the array leaves a RING_WRAP marker and
 * starts again at offset 0. The producer thus touches its own ring and one shared counter read;
 * the formatting (JSON escaping, presentation names, addresses, the date) all happens on the
 * writer thread, which wakes every tick (see tick_ms), formats each pass straight into the file's
 * stage (appendlog) and writes it with few system calls.
 *
 * What makes both sides cheap is that most of a line depends on the deciding entry alone: its
 * "tail", the entry's texts (entry, list or zone, action, reason, ref) behind a small header with
 * their lengths, the line and the origin. For an event with a tail_key (the deciding rule) the
 * producer picks one of TAIL_SLOTS slots by the key; the first time (or when the slot held
 * another key) it writes a REC_TAIL record that sets the slot to the packed tail, and the line's
 * record, like every later one for that key, just names the slot: no strlen, no copy of the
 * texts. The writer formats a REC_TAIL's tail once into that ring's slot and copies the JSON into
 * each line naming it; records of one ring are read in order, so a line always finds the tail
 * its producer set. Other tails (no key, or too long for a slot's JSON) travel in the line's
 * record and are formatted through a cache keyed by the tail's bytes (a memcmp of the raw texts
 * is far cheaper than escaping them; equal bytes give equal JSON, so it needs no invalidation).
 * The rest of a line has its own shortcuts: the date part once a second, the client and
 * transport from a cache keyed by the (cut) address, question names without any byte to escape
 * (nearly all) copied label by label.
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
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "appendlog.h"
#include "log.h"

#define TICK_MIN_MS 10
#define TICK_MAX_MS 50
/*
 * A pass that formatted at least this much leaves its last partial block in the stage for the
 * next pass instead of writing it through O_APPEND (appendlog_flush without ALL). Writing it
 * costs a buffered write and, at the next pass, the kernel's writing out and dropping of that
 * page before the O_DIRECT write of its block: ~30 ns a line at a pass of 9,000 lines on this
 * machine's ext4 (bench/appendlog_bench.c: 118-124 ns a line against 85 with no partial
 * block written), ~0.7 % of the server core at saturation. Only a busy pass holds it, and the
 * next one writes it (a quiet one with ALL), so a line reaches the file at most one tick later
 * than it would, and only while more than this arrives every tick.
 */
#define HOLD_BYTES (64 * 1024)
#define TICK_RING_BYTES_PER_MS (80 * 1024)
#define RING_MIN (64 * 1024)
#define RING_WRAP UINT32_MAX
#define NAME_MAX_BYTES 255        /* a wire name as recorded (longer ones are not recorded) */
#define NAME_JSON_MAX (5 * NAME_MAX_BYTES + 2) /* "\\ddd" in JSON is 5 bytes for 1 */

/* Tails the writer holds formatted for a ring, in slots the producer picks by the caller's
 * key (direct-mapped). */
#define TAIL_SLOTS 64
#define TAIL_JSON_MAX 2048
#define REC_TAIL 0xff             /* rec.kind of a record that sets a slot, not a line */
/* Writer's cache of formatted tails: direct-mapped by a hash of the tail's bytes. */
#define WTAIL_SLOTS 256
#define WTAIL_KEY_MAX 256
#define WTAIL_JSON_MAX 1024
/* Writer's cache of formatted client address + transport. */
#define CLIENT_SLOTS 64
#define CLIENT_NONE UINT64_MAX    /* an empty slot's key[0] */
#define CLIENT_JSON_MAX 96

#define NO_FIX UINT64_MAX         /* fix_at: no torn line's newline waiting */

/* No second formatted yet: a line's time less this is never below 1000 (a time in the last
 * second before INT64_MAX, or the first after INT64_MIN, is no clock's). */
#define DATE_NONE ((uint64_t)INT64_MAX)

/* Where the deciding entry comes from, for the fields that name it. */
enum { ORIGIN_YAML, ORIGIN_LIST, ORIGIN_ZONE };

/* The fixed part of a record; the question name, the target, the entry's name (wire format)
 * and the tail follow it in that order. */
struct rec {
	uint32_t size;          /* whole record, a multiple of 8; RING_WRAP: skip to the start */
	uint8_t kind, transport, family, qname_len; /* qname_len 0: no question */
	uint8_t target_len, pad, ename_len;
	uint8_t slot;           /* 1 + the tail slot the line's tail is in, or 0: it follows the
	                           names; REC_TAIL: the slot it sets */
	uint16_t qtype, tail_len;       /* tail_len: only when slot is 0 */
	int64_t time_ms;
	uint8_t addr[16];
};

/* The start of a tail (unaligned after the names: read with memcpy); its texts follow in this
 * order. */
struct tail_head {
	uint32_t line;
	uint16_t entry_len, list_len, action_len, reason_len, ref_len;
	uint8_t origin, pad;
};

/* An empty slot's key: not NULL, so that no test of the key for NULL is needed before the
 * look-up (a NULL key is never stored). */
static const char no_key;
#define NO_KEY ((const void *)&no_key)

struct slot_json {
	size_t len;
	char json[TAIL_JSON_MAX];         /* the tail formatted: the entry's fields to "}\n" */
};

struct ring {
	_Alignas(64) _Atomic size_t head; /* producer's */
	size_t tail_seen;                 /* producer's cached copy of tail */
	const void **keys;                /* producer's; owned, TAIL_SLOTS: the key whose tail each
	                                     slot holds (once the writer gets to it), or NO_KEY */
	size_t json_room;                 /* producer's copy of the tails' room (see tail_fits) */
	size_t fast_end;                  /* producer's: a record may end up to here with no more
	                                     checks (no wrap, room by tail_seen); 0: check */
	_Alignas(64) _Atomic size_t tail; /* writer's */
	size_t done;                      /* writer: tail as of the last completed write */
	struct slot_json *slots;          /* writer's; owned, TAIL_SLOTS */
	uint8_t *buf;                     /* owned */
	size_t mask;
};

struct wtail {
	size_t key_len, json_len;         /* key_len 0: empty */
	uint8_t key[WTAIL_KEY_MAX];       /* the tail's bytes */
	char json[WTAIL_JSON_MAX];        /* what they become: from the entry's field to "}\n" */
};

struct client {
	uint64_t key[3];                  /* family | transport << 8 | an IPv4 address << 32, and
	                                     an IPv6 address (the bytes as they are), all cut */
	size_t len;
	char json[CLIENT_JSON_MAX];       /* ',"client":"A","transport":"T"' */
};

struct audit {
	char *path;                       /* owned */
	char *file_field;                 /* owned: ',"file":"CONFIG-PATH"', escaped once */
	size_t file_field_len;
	unsigned ipv4_prefix, ipv6_prefix;
	uint32_t mask4w;                  /* the prefixes as masks over the address bytes */
	uint64_t mask6w[2];
	struct ring *rings;               /* owned, `producers` of them */
	unsigned producers;
	struct appendlog *file;           /* owned: the open audit-log */
	unsigned tick_ms;                 /* the writer's pass interval (tick_ms) */
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;               /* guards the flags and `done` against flush waiters */
	pthread_cond_t wake, passed;
	bool stop, reopen;
	uint64_t sync_req, sync_done;     /* guarded by mu: audit_flush's tickets, and the last one
	                                     a pass that left nothing in the stage started after */
	uint64_t reopens;                 /* reopens done (guarded by mu), and the last one's result */
	int reopen_errno;
	_Atomic uint64_t write_failed;    /* lines lost to failed writes */
	_Atomic uint64_t *lost;           /* borrowed, or NULL: the same, shared (audit_options) */
	bool failing;                     /* writer: the last write failed (a burst is on) */
	bool torn;                        /* writer: a failed write cut a line (the file ends
	                                     inside it): a newline ends it before the next line */
	uint64_t failed_at_start;         /* writer: write_failed when the burst began */
	/* The writer formats lines straight into the file's stage (appendlog_room), not into a
	 * buffer of its own that would then be copied there. */
	char *out_start;                  /* writer: the first byte there not committed yet */
	char *out_lim;                    /* writer: a line may start up to here (line_max after) */
	size_t line_max;                  /* the longest line and line_bound's slack */
	uint64_t sent;                    /* writer: bytes committed to the files so far */
	bool held;                        /* writer: the last pass left its partial last block in
	                                     the stage (HOLD_BYTES) */
	uint64_t fix_at;                  /* writer: where in those the newline that ends a torn
	                                     line is, while it may not be in the file, or NO_FIX */
	struct wtail *wtails;             /* owned, WTAIL_SLOTS: the writer's */
	struct client *clients;           /* owned, CLIENT_SLOTS: the writer's */
	int64_t date_sec;                 /* the second `date` holds, formatted */
	uint64_t date_ms;                 /* its first millisecond (a line's time less this is
	                                     below 1000 in it), or DATE_NONE */
	size_t date_len;
	char date[48];                    /* '{"time":"YYYY-MM-DDTHH:MM:SS' */
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

static int64_t __attribute__((noinline)) now_ms(void) /* its frame off the hot path */
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

/*
 * N bytes from SRC to P in 16-, 8- and 4-byte moves (overlapping at the end, never past either
 * range). Nearly every copy here is short and of a size the compiler cannot know, and GCC makes
 * such a memcpy (when it can bound the size) a `rep movsq`, whose start-up costs more than the
 * copy: perf annotate put half of audit_log's samples, and a third of the writer's, on it.
 * For the pieces that may be long, copy_any.
 */
static inline void copy_small(void *p, const void *src, size_t n)
{
	uint8_t *d = p;
	const uint8_t *s = src;

	if (n >= 16) {
		for (size_t i = 0; i + 16 < n; i += 16)
			memcpy(d + i, s + i, 16);
		memcpy(d + n - 16, s + n - 16, 16);
	} else if (n >= 8) {
		memcpy(d, s, 8);
		memcpy(d + n - 8, s + n - 8, 8);
	} else if (n >= 4) {
		memcpy(d, s, 4);
		memcpy(d + n - 4, s + n - 4, 4);
	} else if (n > 0) {
		d[0] = s[0];
		d[n >> 1] = s[n >> 1];
		d[n - 1] = s[n - 1];
	}
}

/* The same for a piece that may be long (a slot's JSON, a text): past 128 bytes, the C
 * library's memcpy. */
static inline void copy_any(void *p, const void *src, size_t n)
{
	if (n > 128)
		memcpy(p, src, n);
	else
		copy_small(p, src, n);
}

static uint8_t *put(uint8_t *p, const void *src, size_t n)
{
	copy_small(p, src, n);
	return p + n;
}

static uint8_t *put_any(uint8_t *p, const void *src, size_t n)
{
	copy_any(p, src, n);
	return p + n;
}

/* EV's tail: its head into TH, and the bytes it takes. */
static size_t tail_measure(const struct audit_event *ev, struct tail_head *th)
{
	/* a list's file or a zone's name: one text, the origin says which */
	const char *source = ev->list != NULL ? ev->list : ev->zone;

	*th = (struct tail_head){ .line = ev->line,
		.origin = ev->list != NULL ? ORIGIN_LIST : ev->zone != NULL ? ORIGIN_ZONE : ORIGIN_YAML,
		.entry_len = (uint16_t)text_len(ev->entry), .list_len = (uint16_t)text_len(source),
		.action_len = (uint16_t)text_len(ev->action),
		.reason_len = (uint16_t)text_len(ev->reason), .ref_len = (uint16_t)text_len(ev->ref) };
	return sizeof(*th) + th->entry_len + th->list_len + th->action_len + th->reason_len +
		th->ref_len;
}

static void tail_pack(const struct audit_event *ev, const struct tail_head *th, uint8_t *p)
{
	p = put(p, th, sizeof(*th));
	p = put_any(p, ev->entry, th->entry_len);
	p = put_any(p, ev->list != NULL ? ev->list : ev->zone, th->list_len);
	p = put_any(p, ev->action, th->action_len);
	p = put_any(p, ev->reason, th->reason_len);
	put_any(p, ev->ref, th->ref_len);
}

static size_t tail_slot(const void *key)
{
	return (size_t)(((uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15u) >> 58) % TAIL_SLOTS;
}

/* Whether a tail of LEN bytes surely fits a slot formatted (6 bytes out for a text byte, the
 * file field, the keys and the line number): ROOM is TAIL_JSON_MAX less the fixed part. */
static bool tail_fits(size_t len, size_t room)
{
	return 6 * len <= room;
}

/* The bytes of EV's names that the record keeps (a longer name than a wire name is none). */
static inline size_t name_bytes(const uint8_t *name, size_t len)
{
	return name != NULL && len <= NAME_MAX_BYTES ? len : 0;
}

/*
 * Room for a record of NEED bytes at *HEAD (advanced past it) in R, or NULL when the ring is
 * full. Nothing is published until ring_publish: a producer may reserve and then give up.
 */
static inline uint8_t *ring_reserve(struct ring *r, size_t *head, size_t need)
{
	size_t cap = r->mask + 1, pos = *head & r->mask, room_end = cap - pos;
	size_t total = room_end >= need ? need : room_end + need;

	if (*head + total - r->tail_seen > cap) {
		r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (*head + total - r->tail_seen > cap) {
			r->fast_end = 0; /* *HEAD may be ahead of what gets published */
			return NULL;
		}
	}
	if (room_end < need) {
		/* Records are 8-aligned, so at least the marker's 4 bytes are left. */
		uint32_t wrap = RING_WRAP;
		memcpy(r->buf + pos, &wrap, sizeof(wrap));
		pos = 0;
	}
	*head += total;
	/* Up to the end of the array, and no further than the writer's tail allows. */
	size_t end = (*head | r->mask) + 1, room = r->tail_seen + cap;
	r->fast_end = end < room ? end : room;
	return r->buf + pos;
}

/* Record EV's fixed part and names at P (reserved, NEED bytes) at TIME_MS; returns where the
 * tail goes. */
static inline __attribute__((always_inline)) uint8_t *put_rec(uint8_t *p,
	const struct audit_event *ev, size_t need, size_t qlen, size_t tlen, size_t elen,
	size_t tail_len, unsigned slot, int64_t time_ms)
{
	/* Field by field, not as a whole: the writer reads no more of ADDR than FAMILY says, nothing
	 * of PAD, and TAIL_LEN only without a slot, so there is nothing to clear first. */
	struct rec *h = (struct rec *)(void *)p; /* 8-aligned */
	h->size = (uint32_t)need;
	h->kind = (uint8_t)ev->kind;
	h->transport = (uint8_t)ev->transport;
	h->family = 0;
	h->qname_len = (uint8_t)qlen;
	h->target_len = (uint8_t)tlen;
	h->ename_len = (uint8_t)elen;
	h->qtype = ev->qtype;
	if (slot == 0)
		h->tail_len = (uint16_t)tail_len;
	h->slot = (uint8_t)slot;
	h->time_ms = time_ms;
	if (ev->client != NULL && ev->client->sa_family == AF_INET) {
		h->family = 4;
		memcpy(h->addr, &((const struct sockaddr_in *)ev->client)->sin_addr, 4);
	} else if (ev->client != NULL && ev->client->sa_family == AF_INET6) {
		h->family = 6;
		memcpy(h->addr, &((const struct sockaddr_in6 *)ev->client)->sin6_addr, 16);
	}
	p = (uint8_t *)(h + 1);
	if (qlen > 0)
		p = put(p, ev->qname, qlen);
	if (tlen > 0)
		p = put(p, ev->target, tlen);
	if (elen > 0)
		p = put(p, ev->entry_name, elen);
	return p;
}

static int64_t event_time(const struct audit_event *ev)
{
	return ev->time_ms != 0 ? ev->time_ms : now_ms();
}

/*
 * The general case: the texts measured and copied one by one. TXT holds them (EV, or what
 * EV's texts callback gave); EV the rest.
 */
static bool __attribute__((noinline)) log_texts(struct ring *r, const struct audit_event *ev,
	const struct audit_event *txt, size_t elen)
{
	size_t qlen = name_bytes(ev->qname, ev->qname_len);
	size_t tlen = name_bytes(ev->target, ev->target_len);
	struct tail_head th;
	size_t tail_len = tail_measure(txt, &th);
	size_t need = (sizeof(struct rec) + qlen + tlen + elen + tail_len + 7) & ~(size_t)7;
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint8_t *p = ring_reserve(r, &head, need);

	if (p == NULL)
		return false;
	tail_pack(txt, &th, put_rec(p, ev, need, qlen, tlen, elen, tail_len, 0, event_time(ev)));
	atomic_store_explicit(&r->head, head, memory_order_release);
	return true;
}

/*
 * A key whose tail the writer does not hold: a record that sets its slot (the texts from the
 * callback, if any), then the line, both published at once; or, when the tail is too long for
 * a slot, the line made the general way.
 */
static bool __attribute__((noinline)) log_new_key(struct ring *r, size_t slot,
	const struct audit_event *ev, size_t elen)
{
	struct audit_event given = { .kind = ev->kind };
	const struct audit_event *txt = ev;
	struct tail_head th;

	if (ev->texts != NULL) {
		ev->texts(ev->tail_key, &given);
		txt = &given;
	}
	size_t tail_len = tail_measure(txt, &th);
	if (!tail_fits(tail_len, r->json_room))
		return log_texts(r, ev, txt, elen);
	size_t qlen = name_bytes(ev->qname, ev->qname_len);
	size_t tlen = name_bytes(ev->target, ev->target_len);
	size_t def = (sizeof(struct rec) + tail_len + 7) & ~(size_t)7;
	size_t need = (sizeof(struct rec) + qlen + tlen + elen + 7) & ~(size_t)7;
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint8_t *d = ring_reserve(r, &head, def), *p = d != NULL ? ring_reserve(r, &head, need) : NULL;
	if (p == NULL)
		return false; /* neither is published, the slot stays as the writer has it */
	struct rec *dh = (struct rec *)(void *)d;
	*dh = (struct rec){ .size = (uint32_t)def, .kind = REC_TAIL, .slot = (uint8_t)slot,
		.tail_len = (uint16_t)tail_len };
	tail_pack(txt, &th, (uint8_t *)(dh + 1));
	put_rec(p, ev, need, qlen, tlen, elen, 0, (unsigned)slot + 1, event_time(ev));
	atomic_store_explicit(&r->head, head, memory_order_release);
	r->keys[slot] = ev->tail_key;
	return true;
}

/* Every case but the one audit_log takes itself. */
static bool __attribute__((noinline)) log_slow(struct ring *r, const struct audit_event *ev)
{
	size_t elen = ev->entry == NULL ? name_bytes(ev->entry_name, ev->entry_name_len) : 0;

	if (ev->tail_key == NULL)
		return log_texts(r, ev, ev, elen);
	size_t slot = tail_slot(ev->tail_key);
	if (r->keys[slot] != ev->tail_key)
		return log_new_key(r, slot, ev, elen);
	/* The writer holds the tail: the record is the names only. */
	size_t qlen = name_bytes(ev->qname, ev->qname_len);
	size_t tlen = name_bytes(ev->target, ev->target_len);
	size_t need = (sizeof(struct rec) + qlen + tlen + elen + 7) & ~(size_t)7;
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint8_t *p = ring_reserve(r, &head, need);
	if (p == NULL)
		return false;
	put_rec(p, ev, need, qlen, tlen, elen, 0, (unsigned)slot + 1, event_time(ev));
	atomic_store_explicit(&r->head, head, memory_order_release);
	return true;
}

/*
 * The common case, on every blocked query, is kept to a leaf with no call and no frame: a key
 * whose tail the writer holds (so not NULL: see NO_KEY), the time given, names of wire length (a NULL one is 0 long),
 * and room before both the end of the array and the writer's tail (fast_end). Anything else
 * goes the general way (log_slow).
 */
bool audit_log(struct audit *a, unsigned producer, const struct audit_event *ev)
{
	struct ring *r = &a->rings[producer];
	const void *key = ev->tail_key;
	size_t slot = tail_slot(key);
	size_t qlen = ev->qname_len, tlen = ev->target_len;
	size_t elen = ev->entry == NULL ? ev->entry_name_len : 0;
	size_t need = (sizeof(struct rec) + qlen + tlen + elen + 7) & ~(size_t)7;
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	if (r->keys[slot] != key || ev->time_ms == 0 ||
	    (qlen | tlen | elen) > NAME_MAX_BYTES || head + need > r->fast_end)
		return log_slow(r, ev);
	put_rec(r->buf + (head & r->mask), ev, need, qlen, tlen, elen, 0, (unsigned)slot + 1,
		ev->time_ms);
	atomic_store_explicit(&r->head, head + need, memory_order_release);
	return true;
}

void audit_forget(struct audit *a, unsigned producer)
{
	const void **k = a->rings[producer].keys;

	for (size_t i = 0; i < TAIL_SLOTS; i++)
		k[i] = NO_KEY;
}

/* ---- formatting (writer thread) ------------------------------------------------------------ */

/*
 * The writer formats straight into the file's stage (appendlog_room), where it always has room
 * for the longest line (line_bound) before it starts one, so the pieces below write without
 * checking.
 */

/* Bytes that go into a JSON string as they are (1), and those that are escaped (0). */
static bool json_plain[256];
/* Bytes of a label written as they are in a presentation name (RFC 1035 5.1) and JSON. */
static bool name_plain[256];

/* The ',"qtype":"NAME"' of the types with a mnemonic, by number; the others are TYPEnnn. */
#define QTYPE_NAMED 258
static char qtype_json[QTYPE_NAMED][24];
static uint8_t qtype_json_len[QTYPE_NAMED];

/* ".000" to ".999": the milliseconds in one move rather than three divisions */
static char ms_text[1000][4];

/* 'Z","event":"KIND"', after the milliseconds */
static char kind_json[AUDIT_KIND_COUNT][32];
static uint8_t kind_json_len[AUDIT_KIND_COUNT];

static char *put_raw(char *o, const void *s, size_t n)
{
	copy_small(o, s, n);
	return o + n;
}

static char *put_long(char *o, const void *s, size_t n)
{
	copy_any(o, s, n);
	return o + n;
}

static char *put_str(char *o, const char *s)
{
	return put_raw(o, s, strlen(s));
}

/*
 * The N bytes at S (an array of at least CAP bytes, CAP a constant) at O: CAP bytes copied
 * whole, in as many 16-byte moves, and O advanced by N. The output always has room past the
 * line for that (line_bound's slack), and what lands past N is overwritten by what follows; it
 * saves the branches a copy of unknown size takes, for the fixed pieces of every line (the
 * date, the event, the client, the type).
 */
static inline __attribute__((always_inline)) char *put_fixed(char *o, const void *s, size_t n,
	size_t cap)
{
	memcpy(o, s, cap);
	return o + n;
}

static void tables_init(void)
{
	static const struct { uint16_t t; const char *s; } names[] = {
		{ 1, "A" }, { 2, "NS" }, { 5, "CNAME" }, { 6, "SOA" }, { 12, "PTR" }, { 13, "HINFO" },
		{ 15, "MX" }, { 16, "TXT" }, { 28, "AAAA" }, { 33, "SRV" }, { 35, "NAPTR" },
		{ 39, "DNAME" }, { 43, "DS" }, { 46, "RRSIG" }, { 47, "NSEC" }, { 48, "DNSKEY" },
		{ 50, "NSEC3" }, { 52, "TLSA" }, { 64, "SVCB" }, { 65, "HTTPS" }, { 99, "SPF" },
		{ 252, "AXFR" }, { 251, "IXFR" }, { 255, "ANY" }, { 256, "URI" }, { 257, "CAA" },
	};

	for (unsigned c = 0; c < 256; c++) {
		json_plain[c] = c >= 0x20 && c != '"' && c != '\\' && c != 0x7f;
		name_plain[c] = c > 0x20 && c < 0x7f && !strchr(".\\\"();@$", (int)c);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *o = put_str(qtype_json[names[i].t], "\",\"qtype\":\"");
		o = put_str(o, names[i].s);
		*o++ = '"';
		qtype_json_len[names[i].t] = (uint8_t)(o - qtype_json[names[i].t]);
	}
	for (unsigned ms = 0; ms < 1000; ms++) {
		char *d = ms_text[ms];
		d[0] = '.';
		d[1] = (char)('0' + ms / 100);
		d[2] = (char)('0' + ms / 10 % 10);
		d[3] = (char)('0' + ms % 10);
	}
	for (unsigned k = 0; k < AUDIT_KIND_COUNT; k++) {
		char *o = put_str(kind_json[k], "Z\",\"event\":\"");
		o = put_str(o, kind_names[k]);
		*o++ = '"';
		kind_json_len[k] = (uint8_t)(o - kind_json[k]);
	}
}

/* S as the inside of a JSON string: quote, backslash and control characters escaped. Bytes
 * from 0x80 up pass through: YAML text is UTF-8 already (libyaml checks it). Runs of bytes that
 * need nothing are copied whole: that is nearly every text. At most 6 bytes out for 1 in. */
static char *put_json(char *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		size_t run = i;
		while (run < n && json_plain[(unsigned char)s[run]])
			run++;
		if (run > i) {
			o = put_long(o, s + i, run - i);
			i = run;
			if (i == n)
				break;
		}
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			o = put_raw(o, e, sizeof(e));
		} else {
			*o++ = (char)c;
		}
	}
	return o;
}

/* The general case of put_name: any byte, escaped. */
static char *put_name_escaped(char *o, const uint8_t *name, size_t len, bool dot)
{
	char tmp[4 * NAME_MAX_BYTES + 2];
	size_t n = 0, i = 0;

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
				tmp[n++] = '\\';
				tmp[n++] = (char)('0' + c / 100);
				tmp[n++] = (char)('0' + c / 10 % 10);
				tmp[n++] = (char)('0' + c % 10);
			} else {
				tmp[n++] = (char)c;
			}
		}
		tmp[n++] = '.';
	}
	return put_json(o, tmp, dot ? n : n - 1);
}

#ifdef __SSE2__
/* Bit k set for each of the 16 bytes at P that name_plain does not let through: the table's
 * test on 16 bytes at once (0x21-0x7e, less the eight that RFC 1035 escapes; the signed
 * compares also turn away 0x80 and up). */
static inline unsigned not_plain16(const uint8_t *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i ok = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x20)),
		_mm_cmplt_epi8(v, _mm_set1_epi8(0x7f)));
	/* '(' and ')' differ in the low bit only */
	__m128i bad = _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(1)), _mm_set1_epi8(')'));
	bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
	bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
	bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
	bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8(';')));
	bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8('@')));
	bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8('$')));
	return (unsigned)_mm_movemask_epi8(_mm_andnot_si128(bad, ok)) ^ 0xffffu;
}

/* The same for the bytes most names are made of, letters, digits, '-' and '_' (all of them
 * plain): fewer operations; a name with any other byte is then tested with not_plain16. */
static inline unsigned not_ldh16(const uint8_t *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	/* a letter of either case: (v | 0x20) - 'a' at most 25; a digit: v - '0' at most 9 */
	__m128i l = _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
	__m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
	__m128i ok = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(25)), l),
		_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
	ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
	ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
	return (unsigned)_mm_movemask_epi8(ok) ^ 0xffffu;
}

/*
 * The bytes of the N (1 to 64) at S that fail the test (LDH: not_ldh16, else not_plain16),
 * bit k for S[k]. The 16-byte loads stay inside the record: a chunk that would run past the
 * end is taken ending at the end instead, and one shorter than 16 bytes reaches back into the
 * record's fixed part or the name before (at least 16 bytes, struct rec), whose bits are
 * dropped.
 */
static inline __attribute__((always_inline)) uint64_t text_bad(const uint8_t *s, size_t n,
	bool ldh)
{
	uint64_t bad = 0;

	if (n < 16)
		return (ldh ? not_ldh16(s + n - 16) : not_plain16(s + n - 16)) >> (16 - n);
	for (size_t k = 0; k + 16 < n; k += 16)
		bad |= (uint64_t)(ldh ? not_ldh16(s + k) : not_plain16(s + k)) << k;
	bad |= (uint64_t)(ldh ? not_ldh16(s + n - 16) : not_plain16(s + n - 16)) << (n - 16);
	return bad;
}

/* Whether the N (1 to 64) bytes at S, but those SEPS marks (bit k: S[k] is a label's length
 * byte), are all plain. */
static inline __attribute__((always_inline)) bool text_plain(const uint8_t *s, size_t n,
	uint64_t seps)
{
	return (text_bad(s, n, true) & ~seps) == 0 || (text_bad(s, n, false) & ~seps) == 0;
}
#endif

/* put_name's other cases (see there): the root, names over 65 bytes, any name without SSE2. */
static char *__attribute__((noinline)) put_name_long(char *o, const uint8_t *name, size_t len,
	bool dot)
{
	if (len == 0 || name[0] == 0) {
		*o++ = '.';
		return o;
	}
	size_t i = 0;
	bool plain = true;
	while (i < len && name[i] != 0) {
		size_t l = name[i++];
		if (l > len - i)
			return put_name_escaped(o, name, len, dot); /* cut short: as it comes */
		for (size_t end = i + l; i < end; i++)
			plain &= name_plain[name[i]];
	}
	if (!plain)
		return put_name_escaped(o, name, len, dot);
	/* The text is name[1 .. i): the labels with a length byte between each two. */
	copy_small(o, name + 1, i - 1);
	for (size_t k = name[0] + 1u; k < i; k += name[k] + 1u)
		o[k - 1] = '.';
	o += i - 1;
	if (dot)
		*o++ = '.';
	return o;
}

/*
 * A wire-format name in presentation form (RFC 1035 5.1 escapes), inside a JSON string; with
 * DOT the trailing dot of a fully qualified name (question names), without it the form entries
 * are written in ("tracker.example"). A name whose bytes all stand for themselves (nearly every
 * name asked) is copied whole and its length bytes then made dots in one walk over the labels,
 * which also marks where they are; its other bytes are then tested where they are, in the
 * record (16 at a time with SSE2, the length bytes masked out), and the first other byte sends
 * the whole name the long way. (Testing them in the output after the copy cost more than it
 * saved: loads that straddle the copy's stores wait for them.) Longer names than 65 bytes, and
 * any that is not one well-formed name, go the long way too. This common case is inline in
 * put_line (no call, no frame); the others are put_name_long's.
 */
static inline __attribute__((always_inline)) char *put_name(char *o, const uint8_t *name,
	size_t len, bool dot)
{
#ifdef __SSE2__
	if (len - 2 < 64 && name[0] != 0) {
		uint64_t seps = 0; /* bit k: name[1 + k] is a length byte */
		size_t k = name[0]; /* the next length byte is name[1 + k] (o[k] in the output) */
		size_t last = len - 2; /* the root's byte, name[len - 1], counted so */

		/* The copy takes the root label's byte too (len - 1 bytes from 1: in the record),
		 * where the trailing dot, if any, then goes. The walk stops at the root's place,
		 * not at a zero byte: a well-formed name lands on it exactly, with a zero there,
		 * and had no label of length 0 on the way (which would have marked two bytes in a
		 * row, the root's place counted). */
		copy_small(o, name + 1, len - 1);
		while (k < last) {
			seps |= (uint64_t)1 << k;
			o[k] = '.';
			k += name[1 + k] + 1u;
		}
		uint64_t ends = seps | (uint64_t)1 << last;
		if (k != last || name[len - 1] != 0 || (ends & ends >> 1) != 0 ||
		    !text_plain(name + 1, last, seps))
			return put_name_escaped(o, name, len, dot);
		o += last;
		if (dot)
			*o++ = '.';
		return o;
	}
#endif
	return put_name_long(o, name, len, dot);
}

static char *put_uint(char *o, unsigned v)
{
	char digits[12];
	size_t k = sizeof(digits);

	do
		digits[--k] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return put_raw(o, digits + k, sizeof(digits) - k);
}

static char *put_qtype(char *o, uint16_t t)
{
	if (t < QTYPE_NAMED && qtype_json_len[t] != 0)
		return put_fixed(o, qtype_json[t], qtype_json_len[t], sizeof(qtype_json[0]));
	o = put_str(o, "\",\"qtype\":\"TYPE"); /* RFC 3597 */
	o = put_uint(o, t);
	*o++ = '"';
	return o;
}

static char *put_field(char *o, const char *key, const char *val, size_t n)
{
	o = put_str(o, ",\"");
	o = put_str(o, key);
	o = put_str(o, "\":\"");
	o = put_json(o, val, n);
	*o++ = '"';
	return o;
}

/* The longest line record H can give (5 bytes a name byte, 6 a text byte, and the rest). */
static size_t line_bound(const struct audit *a, size_t names, size_t tail)
{
	return 512 + a->file_field_len + 5 * names + 6 * tail;
}

/* Tail T (LEN bytes) formatted: the entry's fields and the closing "}\n". */
static char *put_tail(const struct audit *a, char *o, const uint8_t *t)
{
	struct tail_head th;

	memcpy(&th, t, sizeof(th));
	const char *s = (const char *)t + sizeof(th);
	if (th.entry_len > 0)
		o = put_field(o, "entry", s, th.entry_len);
	s += th.entry_len;
	if (th.list_len > 0)
		o = put_field(o, th.origin == ORIGIN_ZONE ? "zone" : "list", s, th.list_len);
	s += th.list_len;
	if (th.line > 0) {
		/* A list's line is its `lists:` item's, not the matched name's: named so that it is
		 * not read as the deciding entry's place (which is in the list file, "list"). */
		if (th.origin == ORIGIN_LIST) {
			o = put_str(o, ",\"list-item-line\":");
		} else {
			o = put_long(o, a->file_field, a->file_field_len);
			o = put_str(o, ",\"line\":");
		}
		o = put_uint(o, th.line);
	}
	if (th.action_len > 0)
		o = put_field(o, "action", s, th.action_len);
	s += th.action_len;
	if (th.reason_len > 0)
		o = put_field(o, "reason", s, th.reason_len);
	s += th.reason_len;
	if (th.ref_len > 0)
		o = put_field(o, "ref", s, th.ref_len);
	*o++ = '}';
	*o++ = '\n';
	return o;
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The same, from the writer's cache when the same bytes were formatted before. */
static char *put_tail_cached(struct audit *a, char *o, const uint8_t *t, size_t len)
{
	/* A tail is at least its head (16 bytes): the head (lengths, line) and the last 8 bytes
	 * tell entries apart well enough to spread them; equal bytes are checked in full. */
	uint64_t x = (load64(t) * 0x9e3779b97f4a7c15u) ^ load64(t + 8) ^
		(load64(t + len - 8) * 0xc2b2ae3d27d4eb4fu);
	struct wtail *w = &a->wtails[(size_t)((x * 0x9e3779b97f4a7c15u) >> 56) % WTAIL_SLOTS];

	if (w->key_len == len && memcmp(w->key, t, len) == 0)
		return put_long(o, w->json, w->json_len);
	char *end = put_tail(a, o, t);
	size_t n = (size_t)(end - o);
	if (len <= WTAIL_KEY_MAX && n <= WTAIL_JSON_MAX) {
		memcpy(w->key, t, len);
		memcpy(w->json, o, n);
		w->key_len = len;
		w->json_len = n;
	}
	return end;
}

/* ',"client":"ADDRESS","transport":"udp"' of record H, ADDRESS cut to the prefix. */
static char *put_client(struct audit *a, char *o, const struct rec *h)
{
	/* The key in three words, built with word loads and masks: filled byte by byte and then
	 * read as words, it cost a failed store forwarding a line (perf: half of the writer's
	 * samples outside the write). */
	uint64_t k[3] = { (uint64_t)h->family | (uint64_t)h->transport << 8, 0, 0 };
	char text[INET6_ADDRSTRLEN];

	if (h->family == 4) {
		uint32_t v;
		memcpy(&v, h->addr, sizeof(v));
		k[0] |= (uint64_t)(v & a->mask4w) << 32;
	} else if (h->family == 6) {
		memcpy(&k[1], h->addr, 8);
		memcpy(&k[2], h->addr + 8, 8);
		k[1] &= a->mask6w[0];
		k[2] &= a->mask6w[1];
	}
	uint64_t x = k[0] ^ k[1] * 0x9e3779b97f4a7c15u ^ k[2];
	struct client *c = &a->clients[(size_t)((x * 0xc2b2ae3d27d4eb4fu) >> 56) % CLIENT_SLOTS];
	/* An empty slot's first word is CLIENT_NONE, which no key is; an IPv4 key's other two
	 * words are 0, as are those of any key whose first word is the same (it holds the
	 * family). */
	if (c->key[0] == k[0] && (h->family == 4 || (c->key[1] == k[1] && c->key[2] == k[2])))
		return c->len <= 48 ? put_fixed(o, c->json, c->len, 48) : put_raw(o, c->json, c->len);

	uint8_t addr[16];
	char *p = c->json;
	if (h->family == 4) {
		uint32_t v = (uint32_t)(k[0] >> 32);
		memcpy(addr, &v, sizeof(v));
		/* Dotted quad by hand: inet_ntop costs more than the rest of the line. */
		p = put_str(p, ",\"client\":\"");
		for (int i = 0; i < 4; i++) {
			p = put_uint(p, addr[i]);
			*p++ = '.';
		}
		p[-1] = '"';
	} else if (h->family == 6) {
		memcpy(addr, &k[1], 8);
		memcpy(addr + 8, &k[2], 8);
		if (inet_ntop(AF_INET6, addr, text, sizeof(text)) != NULL)
			p = put_field(p, "client", text, strlen(text));
	}
	p = put_str(p, h->transport == AUDIT_TCP ? ",\"transport\":\"tcp\"" :
		",\"transport\":\"udp\"");
	memcpy(c->key, k, sizeof(k));
	c->len = (size_t)(p - c->json);
	return put_raw(o, c->json, c->len);
}

/* Formats record H of ring R (followed by its names and tail) as one line at O; returns its
 * end. */
static char *put_line(struct audit *a, const struct ring *r, char *o, const struct rec *h)
{
	const uint8_t *t = (const uint8_t *)(h + 1);
	/* Within the second the date holds, the milliseconds are a subtraction away. */
	uint64_t in_sec = (uint64_t)h->time_ms - a->date_ms;
	unsigned ms = (unsigned)in_sec;

	if (in_sec >= 1000) {
		int64_t sec = h->time_ms / 1000;
		ms = (unsigned)(h->time_ms % 1000);
		/* The date part changes once a second: formatted then, not for every line. */
		if (sec != a->date_sec) {
			struct tm tm;
			time_t tt = (time_t)sec;
			gmtime_r(&tt, &tm);
			char *d = put_str(a->date, "{\"time\":\"");
			d += strftime(d, sizeof(a->date) - (size_t)(d - a->date), "%Y-%m-%dT%H:%M:%S",
				&tm);
			a->date_len = (size_t)(d - a->date);
			a->date_sec = sec;
		}
		if (h->time_ms >= 0) /* (before 1970 the division is taken each time) */
			a->date_ms = (uint64_t)sec * 1000;
	}
	o = a->date_len <= 32 ? put_fixed(o, a->date, a->date_len, 32) :
		put_raw(o, a->date, a->date_len);
	memcpy(o, ms_text[ms % 1000], 4); /* (a time before 1970 gives no digits that mean much) */
	o += 4;
	o = put_fixed(o, kind_json[h->kind], kind_json_len[h->kind], sizeof(kind_json[0]));
	o = put_client(a, o, h);

	const uint8_t *qname = t;
	t += h->qname_len;
	if (h->qname_len > 0) {
		o = put_str(o, ",\"qname\":\"");
		o = put_name(o, qname, h->qname_len, true);
		o = put_qtype(o, h->qtype);
	}
	if (h->target_len > 0) {
		o = put_str(o, ",\"target\":\"");
		o = put_name(o, t, h->target_len, true);
		*o++ = '"';
	}
	t += h->target_len;
	if (h->ename_len > 0) {
		o = put_str(o, ",\"entry\":\"");
		o = put_name(o, t, h->ename_len, false);
		*o++ = '"';
	}
	t += h->ename_len;
	if (h->slot != 0)
		return put_long(o, r->slots[h->slot - 1].json, r->slots[h->slot - 1].len);
	return put_tail_cached(a, o, t, h->tail_len);
}

/* ---- writer thread ------------------------------------------------------------------------- */

/* The lines in BUF's N bytes: each ends in a newline. */
static uint64_t count_lines(const char *buf, size_t n)
{
	uint64_t k = 0;

	for (const char *p = buf, *end = buf + n; (p = memchr(p, '\n', (size_t)(end - p))) != NULL;
	     p++)
		k++;
	return k;
}

/* The writer's room in the file's stage, after a flush (which leaves APPENDLOG_ROOM_MIN of it,
 * at least line_max: audit_new checks) or an open. */
static void out_setup(struct audit *a)
{
	size_t room;

	a->out_start = appendlog_room(a->file, &room);
	a->out_lim = a->out_start + room - a->line_max;
}

/* The lines formatted up to O are the file's (at its next flush). */
static void out_commit(struct audit *a, char *o)
{
	size_t n = (size_t)(o - a->out_start);

	appendlog_commit(a->file, n);
	a->sent += n;
	a->out_start = o;
}

/* The newline that ends a torn line, first of what follows. */
static void out_fix(struct audit *a)
{
	*a->out_start = '\n';
	a->fix_at = a->sent;
	out_commit(a, a->out_start + 1);
}

/*
 * A failed write (disk full, I/O error) lost the lines in LOST (counted in write_failed), and
 * the writer goes on: the next flush tries again with the lines that follow, and a reopen may
 * give a working file. One log line when such a burst of failures starts, with the error, and
 * one when writes succeed again (out_end), with the lines lost, so a full disk does not flood
 * the log. A line cut by a short write is ended with a newline before the next, so every line
 * after the gap still parses; that newline is no line of its own when it is lost as well.
 */
static void out_lost(struct audit *a, const struct appendlog_lost *lost)
{
	int err = errno;
	uint64_t n = count_lines(lost->bytes, lost->len);

	if (a->fix_at != NO_FIX && a->fix_at >= a->sent - lost->len)
		n--;
	a->fix_at = NO_FIX;
	atomic_fetch_add(&a->write_failed, n);
	if (a->lost != NULL)
		atomic_fetch_add_explicit(a->lost, n, memory_order_relaxed);
	a->torn = lost->prev >= 0 && lost->prev != '\n';
	if (!a->failing) {
		log_err("audit-log %s: write: %s; audit lines are lost (counted in "
			"audit-write-failed) until a write succeeds", a->path, strerror(err));
		a->failing = true;
		a->failed_at_start = atomic_load(&a->write_failed) - n;
	}
	out_setup(a);
	if (a->torn)
		out_fix(a);
}

/*
 * The stage is full up to O (past out_lim) in the middle of a pass: its whole blocks go out
 * (appendlog: with O_DIRECT, no buffered write), which makes room. Returns where the next line
 * goes.
 */
static char *out_more(struct audit *a, char *o)
{
	struct appendlog_lost lost;

	out_commit(a, o);
	if (appendlog_flush(a->file, false, &lost) < 0)
		out_lost(a, &lost);
	else
		out_setup(a);
	return a->out_start;
}

/* The end of a pass that formatted lines up to O: every one of them in the file, or with ALL
 * false every whole block of them (the rest waits in the stage for the next pass: held). */
static void out_end(struct audit *a, char *o, bool all)
{
	struct appendlog_lost lost;

	out_commit(a, o);
	a->held = !all;
	if (appendlog_flush(a->file, all, &lost) < 0) {
		out_lost(a, &lost);
		return;
	}
	a->torn = false;
	a->fix_at = NO_FIX;
	if (a->failing) {
		log_info("audit-log %s: writing again; %llu lines lost", a->path,
			(unsigned long long)(atomic_load(&a->write_failed) - a->failed_at_start));
		a->failing = false;
	}
	out_setup(a);
}

static void do_reopen(struct audit *a)
{
	struct appendlog *f = appendlog_open(a->path); /* owned: a->file */
	int err = f == NULL ? errno : 0;

	if (f == NULL) {
		/* Keep writing to the file we have (it may just have been renamed): no line lost. */
		log_err("audit-log %s: reopen: %s; still writing to the file open before", a->path,
			strerror(err));
	} else {
		/* A torn line's newline waits for the next line (a pass had none since): it ends
		 * the line in the old file. Still torn if that fails (the path may be the same
		 * file), and then the new file gets one. */
		if (a->fix_at != NO_FIX) {
			struct appendlog_lost lost;
			if (appendlog_flush(a->file, true, &lost) == 0)
				a->torn = false;
			a->fix_at = NO_FIX;
		}
		appendlog_close(a->file);
		a->file = f;
		out_setup(a);
		if (a->torn)
			out_fix(a);
		log_info("audit-log %s: reopened", a->path);
	}
	pthread_mutex_lock(&a->mu);
	a->reopens++;
	a->reopen_errno = err;
	pthread_cond_broadcast(&a->passed);
	pthread_mutex_unlock(&a->mu);
}

/*
 * One pass over every ring. ALL: every line ends up in the file (a reopen, the stop, a flush
 * request); else a busy pass may leave its last partial block in the stage (HOLD_BYTES).
 */
static void drain(struct audit *a, bool all)
{
	char *o = a->out_start; /* where the next line goes */
	uint64_t sent0 = a->sent;

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
			if (h->kind == REC_TAIL) {
				/* A slot's new tail: formatted once for the lines that follow. */
				struct slot_json *sj = &r->slots[h->slot];
				sj->len = (size_t)(put_tail(a, sj->json, (const uint8_t *)(h + 1)) -
					sj->json);
				tail += h->size;
				atomic_store_explicit(&r->tail, tail, memory_order_release);
				continue;
			}
			if (o > a->out_lim)
				o = out_more(a, o);
			o = put_line(a, r, o, h);
			tail += h->size;
			atomic_store_explicit(&r->tail, tail, memory_order_release);
		}
	}
	if (o != a->out_start || a->held)
		out_end(a, o, all || a->sent - sent0 + (uint64_t)(o - a->out_start) < HOLD_BYTES);
}

/* A pass (drain) and, after it, what flush waiters look for: the rings' progress and, when it
 * left nothing in the stage, the flush ticket SYNC read before it. */
static void pass(struct audit *a, bool all, uint64_t sync)
{
	drain(a, all);
	pthread_mutex_lock(&a->mu);
	for (unsigned i = 0; i < a->producers; i++)
		a->rings[i].done = atomic_load_explicit(&a->rings[i].tail, memory_order_relaxed);
	if (!a->held)
		a->sync_done = sync;
	pthread_cond_broadcast(&a->passed);
	pthread_mutex_unlock(&a->mu);
}

/*
 * How long the writer sleeps between passes, for rings of CAP bytes. Every wake-up costs the
 * core a context switch each way and a timer (perf at saturation: a pass every 10 ms was
 * 0.3% of the server core, every 50 ms 0.1%), so large rings are drained less often; but never
 * so seldom that a ring fills between two passes before it holds TICK_RING_BYTES_PER_MS a
 * millisecond (80 MB/s, over a million records a second from one worker, several times what one
 * can answer): from the default 4 MiB every 50 ms, to every 10 ms (as before) at 800 KiB and
 * below.
 */
static unsigned tick_ms(size_t cap)
{
	size_t t = cap / TICK_RING_BYTES_PER_MS;

	return t < TICK_MIN_MS ? TICK_MIN_MS : t > TICK_MAX_MS ? TICK_MAX_MS : (unsigned)t;
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
			ts.tv_nsec += (long)a->tick_ms * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&a->wake, &a->mu, &ts);
		}
		stop = a->stop;
		reopen = a->reopen;
		a->reopen = false;
		uint64_t sync = a->sync_req;
		bool all = stop || reopen || sync != a->sync_done;
		pthread_mutex_unlock(&a->mu);

		/* What is in the rings now was logged before the reopen request: old file, all of
		   it. */
		pass(a, all, sync);
		if (reopen)
			do_reopen(a);
	}
	pthread_mutex_lock(&a->mu);
	uint64_t sync = a->sync_req;
	pthread_mutex_unlock(&a->mu);
	pass(a, true, sync);
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
	a->date_sec = -1;
	a->date_ms = DATE_NONE;
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
	uint8_t mask4[4], mask6[16];
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits4 = a->ipv4_prefix > i * 8 ? a->ipv4_prefix - i * 8 : 0;
		unsigned bits6 = a->ipv6_prefix > i * 8 ? a->ipv6_prefix - i * 8 : 0;
		if (i < 4)
			mask4[i] = bits4 >= 8 ? 0xff : (uint8_t)(0xff00u >> bits4);
		mask6[i] = bits6 >= 8 ? 0xff : (uint8_t)(0xff00u >> bits6);
	}
	memcpy(&a->mask4w, mask4, sizeof(a->mask4w));
	memcpy(a->mask6w, mask6, sizeof(a->mask6w));
	a->path = strdup(opt->path);
	a->rings = aligned_alloc(64, sizeof(*a->rings) * a->producers);
	a->wtails = calloc(WTAIL_SLOTS, sizeof(*a->wtails));
	a->clients = calloc(CLIENT_SLOTS, sizeof(*a->clients));
	const char *cp = opt->config_path ? opt->config_path : "";
	a->file_field = malloc(16 + 6 * strlen(cp));
	if (a->path == NULL || a->file_field == NULL || a->rings == NULL || a->wtails == NULL ||
	    a->clients == NULL)
		goto fail_mem;
	a->file_field_len = (size_t)(put_field(a->file_field, "file", cp, strlen(cp)) -
		a->file_field);
	a->line_max = line_bound(a, 3 * NAME_MAX_BYTES, sizeof(struct tail_head) +
		5 * AUDIT_TEXT_MAX);
	if (a->line_max > APPENDLOG_ROOM_MIN) {
		err = ENAMETOOLONG;
		log_err("audit-log: the configuration file's path is too long for an audit line");
		goto fail;
	}
	a->fix_at = NO_FIX;
	for (size_t i = 0; i < CLIENT_SLOTS; i++)
		a->clients[i].key[0] = CLIENT_NONE;
	memset(a->rings, 0, sizeof(*a->rings) * a->producers);
	while (cap < opt->ring_bytes && cap < ((size_t)1 << 30))
		cap <<= 1;
	a->tick_ms = tick_ms(cap);
	for (unsigned i = 0; i < a->producers; i++) {
		a->rings[i].buf = malloc(cap);
		a->rings[i].mask = cap - 1;
		a->rings[i].keys = calloc(TAIL_SLOTS, sizeof(*a->rings[i].keys));
		a->rings[i].slots = calloc(TAIL_SLOTS, sizeof(*a->rings[i].slots));
		a->rings[i].json_room = a->file_field_len + 128 < TAIL_JSON_MAX ?
			TAIL_JSON_MAX - a->file_field_len - 128 : 0;
		if (a->rings[i].buf == NULL || a->rings[i].keys == NULL || a->rings[i].slots == NULL)
			goto fail_mem;
		audit_forget(a, i);
	}
	a->file = appendlog_open(a->path); /* owned: audit_free */
	if (a->file == NULL) {
		err = errno;
		log_err("audit-log %s: %s", a->path, strerror(err));
		goto fail;
	}
	out_setup(a);
	err = pthread_create(&a->thread, NULL, writer_main, a);
	if (err != 0) {
		log_err("audit-log: pthread_create: %s", strerror(err));
		goto fail;
	}
	/* `top -H` and bench/audit_bench.sh (which may place it on a core of its own) tell it apart */
	pthread_setname_np(a->thread, "blokir-audit");
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
	/* A pass that starts after the ticket writes every line, its partial block too. */
	pthread_mutex_lock(&a->mu);
	uint64_t ticket = ++a->sync_req;
	pthread_mutex_unlock(&a->mu);
	writer_poke(a, false, false);
	pthread_mutex_lock(&a->mu);
	for (unsigned i = 0; i < a->producers && rc == 0; i++)
		while (a->rings[i].done < want[i] && rc == 0)
			if (pthread_cond_timedwait(&a->passed, &a->mu, &ts) == ETIMEDOUT)
				rc = -1;
	while (a->sync_done < ticket && rc == 0)
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
	appendlog_close(a->file);
	if (a->rings != NULL)
		for (unsigned i = 0; i < a->producers; i++) {
			free(a->rings[i].buf);
			free(a->rings[i].keys);
			free(a->rings[i].slots);
		}
	free(a->rings);
	free(a->wtails);
	free(a->clients);
	free(a->path);
	free(a->file_field);
	pthread_cond_destroy(&a->wake);
	pthread_cond_destroy(&a->passed);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
