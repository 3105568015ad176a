/*
 * upstream: forwarding queries to the upstream resolvers (see include/upstream.h).
 *
 * Anti-spoofing. A forged answer must guess the query ID (16 bits from the kernel CSPRNG, see
 * rand.c) and the source port of the socket that sent it. Each worker keeps `upstream-sockets`
 * (default 64) UDP sockets per upstream, bound to port 0 so the kernel picks each port at random
 * from its ephemeral range. Every batch of queries (what goes out between two flushes of the send
 * queue, at most SOCK_RUN) leaves through a socket drawn at random from the pool, so the port of
 * the next batch cannot be told from the ports of the last ones; and a socket is replaced after
 * UP_ROTATE_AFTER queries or UP_ROTATE_MS, whichever comes first (the old one drains its pending
 * answers first), so the ports in use keep changing even when traffic is light. We chose a pool
 * over a socket per query (Unbound's way): a fresh socket per query costs three extra system calls
 * and an event registration per query, which is most of a forwarded query's budget, and rules out
 * sending a batch with one sendmmsg.
 *
 * Each socket is connect()ed to its upstream, as Unbound's udp-connect does by default: the
 * kernel then drops a datagram from any other address or port before it reaches us (it counts in
 * the Udp NoPorts line of /proc/net/snmp), a port scan from anywhere but the upstream finds every
 * port closed, and a send needs no route lookup or IP ID hashing, which measured 7% of a forwarded
 * query's CPU on loopback (bench/README.md).
 *
 * Pending queries live in a fixed array of slots (max-inflight / workers, allocated once); a slot
 * is found from an answer by its upstream's 65,536-entry ID table and must have gone out on the
 * socket the answer came in on, so matching costs two array reads. One table per upstream rather
 * than per socket keeps a large pool cheap: 256 KiB per upstream and worker, whatever the pool. Every try has the same timeout, so deadlines are appended in order to one FIFO list
 * and a single timer per worker serves them all.
 */
#include "upstream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "caplog.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "mmsg.h"
#include "observe.h"
#include "rand.h"
#include "sendq.h"
#include "stats.h"

#define UP_SOCKETS_MAX 256      /* config.c's upper bound for upstream-sockets */
#define UP_ROTATE_AFTER 1024    /* queries sent on a socket before it is replaced */
#define UP_ROTATE_MS 10000      /* ... or the time it may stay in use */
#define UP_BATCH 16
#define SOCK_RUN 32             /* most queries of one batch sent through one pool socket */
#define UP_IDS 65536            /* entries of an upstream's ID table */
#define UP_ROUNDS 4
#define UP_RX_MAX 65535
#define QUERY_INLINE 512        /* queries up to this size need no allocation */
/*
 * UDP queries one upstream may have waiting, in its 65,536-entry ID table. An ID is drawn at
 * random until a free one turns up, so the table may never fill (the draw would spin for good,
 * and did: a blackholed upstream under load hung the worker); at 15/16 of it a draw takes 16
 * tries at worst. Past it a query gets SERVFAIL (inflight-full).
 */
#define UP_WAITING_MAX 61440

struct up_sock {
	struct upstream *u;
	int fd;                /* owned; -1 when the position is free */
	struct event *ev;      /* owned */
	unsigned up;           /* the upstream it is connected to */
	unsigned inflight;
	unsigned sent;
	uint64_t opened_ms;
	bool draining;
};

/* The socket the current batch of queries to one upstream goes out on. */
struct up_batch {
	unsigned pos;          /* position in socks[] */
	unsigned generation;   /* sendq_generation when it was drawn */
	unsigned run;          /* queries sent on it in this batch */
};

struct slot {
	struct upstream *u;
	struct slot *prev, *next;  /* deadline FIFO, or the free list (next only) */
	uint64_t deadline_ms;
	bool used, queued, via_tcp;
	uint16_t client_id, up_id;
	uint16_t sock;             /* position in socks[] while waiting on UDP */
	uint8_t upstream;          /* index into cfg->upstreams */
	uint64_t sent_ns;          /* when the current try went out (only with time_upstreams) */
	uint8_t tries;
	uint8_t err_rcode;         /* the current try's upstream answered this error (0: none) */
	struct tcp_conn *conn;     /* held; NULL for UDP clients */
	int udp_fd;
	socklen_t addrlen;
	struct sockaddr_storage addr;
	size_t limit;              /* client's maximum answer size */
	size_t qname_len;
	uint16_t qtype, qclass;
	const uint8_t *qname_sent; /* the name as the upstream must echo it: the query's own, or
	                              qname_0x20 */
	uint8_t qname_0x20[WIRE_NAME_MAX]; /* use-0x20: the query name with randomized case */
	size_t qlen;
	uint8_t *query;            /* inline_q or owned heap copy; ID field holds up_id */
	struct bufferevent *tcp;   /* owned: TCP retry to the upstream */
	uint8_t inline_q[QUERY_INLINE];
};

struct upstream {
	struct upstream_env env;   /* borrowed pointers, see upstream.h */
	const struct config *cfg;
	struct slot *slots;        /* owned array */
	uint32_t nslots;
	uint32_t fresh;            /* slots[fresh..] were never used: taken in order, so only the
	                              peak concurrency's pages are ever touched */
	struct slot *free_list;
	struct slot *fifo_head, *fifo_tail;
	struct event *timer;       /* owned */
	bool timer_set;            /* the timer is pending, to fire at timer_at (ms) or a bit later */
	uint64_t timer_at;
	size_t inflight;
	/* Positions in socks[] of the sockets new queries use: nactive per upstream, upstream i's
	 * at active[i * nactive ..]. */
	unsigned *active;          /* owned */
	unsigned nactive;          /* sockets per upstream in use: upstream-sockets */
	struct up_batch *batch;    /* owned: one per upstream */
	uint32_t *ids;             /* owned: UP_IDS per upstream, upstream i's at ids[i * UP_IDS];
	                              slot index + 1, 0 = no query */
	unsigned *waiting;         /* owned: per upstream, the IDs in use in its table */
	struct up_sock *socks;     /* owned: nsocks positions, twice the active ones so that each
	                              can be replaced while it drains */
	unsigned nsocks;
	struct mmsghdr rx[UP_BATCH];
	struct iovec rx_iov[UP_BATCH];
	uint8_t rxbuf[UP_BATCH][UP_RX_MAX];
};

/* ---- sockets ---- */

static void sock_read_cb(evutil_socket_t fd, short what, void *arg);

static void sock_close(struct up_sock *s)
{
	if (s->ev)
		event_free(s->ev);
	if (s->fd >= 0)
		close(s->fd);
	*s = (struct up_sock){ .u = s->u, .fd = -1 };
}

/* Opens a socket at position POS, bound to a kernel-chosen (random) port and connected to
 * upstream number UP. */
static int sock_open(struct upstream *u, unsigned pos, unsigned up)
{
	const struct config_endpoint *e = &u->cfg->upstreams[up];
	struct up_sock *s = &u->socks[pos];
	int family = e->addr.ss_family;
	struct sockaddr_storage any = { .ss_family = (sa_family_t)family };
	socklen_t len = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	s->u = u;
	s->up = up;
	s->opened_ms = clock_now_ms();
	s->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&any, len) < 0 ||
	    connect(s->fd, (const struct sockaddr *)&e->addr, e->addrlen) < 0)
		goto fail;
	s->ev = event_new(u->env.base, s->fd, EV_READ | EV_PERSIST, sock_read_cb, s);
	if (s->ev == NULL || event_add(s->ev, NULL) < 0)
		goto fail;
	return 0;
fail:
	log_err("upstream socket: %s", strerror(errno));
	sock_close(s);
	return -1;
}

/* Opens a socket to upstream number UP in a free position; returns the position or -1. */
static int sock_open_free(struct upstream *u, unsigned up)
{
	for (unsigned pos = 0; pos < u->nsocks; pos++)
		if (u->socks[pos].fd < 0)
			return sock_open(u, pos, up) == 0 ? (int)pos : -1;
	return -1;
}

/*
 * Picks the socket to upstream number UP for the next query. A batch (what is queued between two
 * flushes of the send queue, up to SOCK_RUN queries) stays on one socket, so the send queue hands
 * it to one sendmmsg; the next batch draws its socket at random from the active set, replacing a
 * worn-out or old one.
 */
static struct up_sock *sock_pick(struct upstream *u, unsigned up)
{
	struct up_batch *b = &u->batch[up];
	unsigned gen = sendq_generation(u->env.sendq);
	unsigned *active = u->active + up * u->nactive;

	if (b->generation == gen && b->run < SOCK_RUN && u->socks[b->pos].fd >= 0 &&
	    !u->socks[b->pos].draining) {
		b->run++;
		return &u->socks[b->pos];
	}
	unsigned a = rand_u32(u->env.rand) % u->nactive;
	struct up_sock *s = &u->socks[active[a]];
	int pos;

	if (s->sent >= UP_ROTATE_AFTER || clock_now_ms() - s->opened_ms >= UP_ROTATE_MS) {
		if ((pos = sock_open_free(u, up)) >= 0) {
			s->draining = true;
			if (s->inflight == 0)
				sock_close(s);
			active[a] = (unsigned)pos;
			s = &u->socks[pos];
		} else {
			/* No free position (all drain): keep this one for another round. */
			s->sent = 0;
			s->opened_ms = clock_now_ms();
		}
	}
	*b = (struct up_batch){ (unsigned)(s - u->socks), gen, 1 };
	return s;
}

/* ---- slots ---- */

static void fifo_remove(struct upstream *u, struct slot *sl)
{
	if (!sl->queued)
		return;
	if (sl->prev)
		sl->prev->next = sl->next;
	else
		u->fifo_head = sl->next;
	if (sl->next)
		sl->next->prev = sl->prev;
	else
		u->fifo_tail = sl->prev;
	sl->prev = sl->next = NULL;
	sl->queued = false;
}

/*
 * Arms the timer for the oldest deadline, unless it is already set to fire no later. A deadline
 * that was answered does not disarm it: the timer then fires once for nothing and is set again
 * for the deadline that is oldest by then. That costs at most one wakeup per timeout, where
 * moving the timer with the FIFO's head cost an event_add (a heap update) per forwarded query
 * whenever few were in flight.
 */
static void timer_arm(struct upstream *u)
{
	if (u->fifo_head == NULL)
		return;
	uint64_t now = clock_now_ms(), at = u->fifo_head->deadline_ms;
	if (u->timer_set && u->timer_at <= at)
		return;
	uint64_t ms = at > now ? at - now : 0;
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 + 1000 };
	event_add(u->timer, &tv);
	u->timer_set = true;
	u->timer_at = at;
}

static void fifo_append(struct upstream *u, struct slot *sl)
{
	sl->deadline_ms = clock_now_ms() + u->cfg->upstream_timeout_ms;
	sl->next = NULL;
	sl->prev = u->fifo_tail;
	if (u->fifo_tail)
		u->fifo_tail->next = sl;
	else
		u->fifo_head = sl;
	u->fifo_tail = sl;
	sl->queued = true;
	/* Every try has the same timeout, so only a first entry can need the timer set; the
	 * comparison in timer_arm is what keeps that true should the timeout ever change. */
	if (sl->prev == NULL || !u->timer_set)
		timer_arm(u);
}

static struct slot *slot_take(struct upstream *u)
{
	struct slot *sl = u->free_list;

	if (sl != NULL) {
		u->free_list = sl->next;
		return sl;
	}
	if (u->fresh == u->nslots)
		return NULL;
	sl = &u->slots[u->fresh++];
	sl->u = u;
	return sl;
}

static void slot_put(struct upstream *u, struct slot *sl)
{
	sl->next = u->free_list;
	u->free_list = sl;
}

/* Forgets the slot's UDP ID registration (if any). */
static void slot_unregister(struct upstream *u, struct slot *sl)
{
	struct up_sock *s = &u->socks[sl->sock];
	uint32_t *ids = u->ids + (size_t)sl->upstream * UP_IDS;

	if (sl->via_tcp || ids[sl->up_id] != (uint32_t)(sl - u->slots) + 1)
		return;
	ids[sl->up_id] = 0;
	u->waiting[sl->upstream]--;
	s->inflight--;
	if (s->draining && s->inflight == 0)
		sock_close(s);
}

static void slot_free(struct upstream *u, struct slot *sl)
{
	fifo_remove(u, sl);
	slot_unregister(u, sl);
	if (sl->tcp) {
		bufferevent_free(sl->tcp);
		sl->tcp = NULL;
	}
	if (sl->query != sl->inline_q)
		free(sl->query);
	if (sl->conn)
		u->env.release(sl->conn);
	sl->conn = NULL;
	sl->used = false;
	slot_put(u, sl);
	u->inflight--;
}

static struct client_ref slot_client(const struct slot *sl)
{
	return (struct client_ref){ sl->conn, sl->udp_fd, sl->addrlen,
		(const struct sockaddr *)&sl->addr };
}

/*
 * All upstreams failed: SERVFAIL built from the stored query (with the client's ID back), or the
 * error the last upstream answered without a question.
 */
static void slot_fail(struct upstream *u, struct slot *sl)
{
	struct client_ref c = slot_client(sl);
	unsigned rcode = sl->err_rcode ? sl->err_rcode : WIRE_RCODE_SERVFAIL;
	struct wire_query q;

	wire_set_id(sl->query, sl->client_id);
	if (wire_parse_query(sl->query, sl->qlen, &q) != WIRE_DROP)
		u->env.fail(u->env.arg, &c, &q, rcode);
	if (rcode == WIRE_RCODE_SERVFAIL)
		stats_inc(u->env.stats, STAT_SERVFAIL);
	slot_free(u, sl);
}

/*
 * use-0x20 (draft-vixie-dnsext-dns0x20): every letter of the query name gets a random case, which
 * the upstream must echo byte for byte, adding about one bit per letter to what a spoofer must
 * guess. The stored query keeps the client's spelling; the randomized name goes out through an
 * iovec in its place, and the answer gets the client's spelling back in slot_deliver.
 */
static void randomize_case(struct upstream *u, struct slot *sl)
{
	const uint8_t *name = sl->query + WIRE_HEADER_LEN;
	uint32_t bits = 0;

	for (size_t i = 0; i < sl->qname_len; i++) {
		uint8_t c = name[i];
		if (i % 32 == 0)
			bits = rand_u32(u->env.rand);
		if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
			c = (uint8_t)((c & ~0x20) | ((bits & 1) << 5));
		bits >>= 1;
		sl->qname_0x20[i] = c;
	}
	sl->qname_sent = sl->qname_0x20;
}

/* Queues the slot's query on socket S, which is connected to the slot's upstream. */
static void send_query(struct upstream *u, struct up_sock *s, struct slot *sl)
{
	size_t qend = WIRE_HEADER_LEN + sl->qname_len;
	struct iovec iov[3] = {
		{ sl->query, WIRE_HEADER_LEN },
		{ sl->qname_0x20, sl->qname_len },
		{ sl->query + qend, sl->qlen - qend },
	};

	const struct sockaddr *up = (const struct sockaddr *)&u->cfg->upstreams[sl->upstream].addr;

	if (!u->cfg->use_0x20) {
		sl->qname_sent = sl->query + WIRE_HEADER_LEN;
		iov[0].iov_len = sl->qlen;
		observe_forwarder(u->env.observe, false, false, up, iov, 1);
		sendq_add(u->env.sendq, s->fd, NULL, 0, iov, 1);
		return;
	}
	randomize_case(u, sl);
	observe_forwarder(u->env.observe, false, false, up, iov, 3);
	sendq_add(u->env.sendq, s->fd, NULL, 0, iov, 3);
}

/*
 * Sends (or re-sends) the slot's query over UDP to its current upstream. Returns -1 when that
 * upstream already has UP_WAITING_MAX queries waiting; the caller then fails the slot.
 */
static int slot_send_udp(struct upstream *u, struct slot *sl)
{
	struct up_sock *s;
	uint32_t idx = (uint32_t)(sl - u->slots) + 1, *ids = u->ids + (size_t)sl->upstream * UP_IDS;

	if (u->waiting[sl->upstream] >= UP_WAITING_MAX) {
		caplog_hit(u->env.caps, STAT_INFLIGHT_FULL, "upstream ID space full (61,440 queries "
			"waiting on one upstream): answering SERVFAIL");
		return -1;
	}
	s = sock_pick(u, sl->upstream);
	sl->via_tcp = false;
	sl->sock = (uint16_t)(s - u->socks);
	do
		sl->up_id = rand_u16(u->env.rand);
	while (ids[sl->up_id] != 0);
	ids[sl->up_id] = idx;
	u->waiting[sl->upstream]++;
	s->inflight++;
	s->sent++;
	stats_add(&u->env.up_stats[sl->upstream].sent, 1);
	sl->sent_ns = u->env.time_upstreams ? clock_now_ns() : 0;
	wire_set_id(sl->query, sl->up_id);
	/* Queued: sent at the end of this receive round (sendq). A failed send is treated like a
	 * lost packet: the timeout moves on to the next upstream. */
	send_query(u, s, sl);
	fifo_append(u, sl);
	return 0;
}

static void slot_start_tcp(struct upstream *u, struct slot *sl);

/* A try failed (timeout, TCP error): the next upstream, or SERVFAIL when all were tried. */
static void slot_next_try(struct upstream *u, struct slot *sl)
{
	fifo_remove(u, sl);
	slot_unregister(u, sl);
	if (sl->tcp) {
		bufferevent_free(sl->tcp);
		sl->tcp = NULL;
	}
	if (++sl->tries >= u->cfg->upstream_count) {
		slot_fail(u, sl);
		return;
	}
	sl->err_rcode = 0; /* what one upstream refused, the next may answer */
	sl->upstream = (uint8_t)((sl->upstream + 1) % u->cfg->upstream_count);
	if (sl->conn != NULL)
		slot_start_tcp(u, sl); /* a TCP client's query goes over TCP to every upstream */
	else if (slot_send_udp(u, sl) < 0)
		slot_fail(u, sl);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *u = arg;
	uint64_t now = clock_now_ms();
	unsigned budget = 4096; /* bounded work per wakeup; the rest on the next tick */
	(void)fd;
	(void)what;

	/* timer_set stays true while the loop runs (the retries it appends need no timer of
	 * their own: they are due after the oldest) and is cleared for the arming below. */
	while (u->fifo_head && u->fifo_head->deadline_ms <= now && budget-- > 0) {
		struct slot *sl = u->fifo_head;
		stats_inc(u->env.stats, STAT_UPSTREAM_TIMEOUT);
		stats_add(&u->env.up_stats[sl->upstream].timeouts, 1);
		log_debug("upstream %s: timeout", u->cfg->upstreams[sl->upstream].text);
		slot_next_try(u, sl);
	}
	u->timer_set = false;
	timer_arm(u);
	sendq_flush(u->env.sendq);
}

/* ---- answers ---- */

/* Relays a good answer in BUF (which may be modified) to the slot's client and frees the slot. */
static void slot_deliver(struct upstream *u, struct slot *sl, uint8_t *buf, size_t len,
	const struct wire_answer *a)
{
	struct client_ref c = slot_client(sl);

	wire_set_id(buf, sl->client_id);
	/* The client gets its own spelling of the question back (0x20 changed ours). */
	memcpy(buf + WIRE_HEADER_LEN, sl->query + WIRE_HEADER_LEN, sl->qname_len);
	stats_inc(u->env.stats, STAT_ANSWERED_UPSTREAM);
	/* sent_ns 0: the try went out before a reload switched the timing on */
	if (u->env.time_upstreams && sl->sent_ns != 0)
		stats_latency(&u->env.up_stats[sl->upstream], (clock_now_ns() - sl->sent_ns) / 1000);
	else
		stats_add(&u->env.up_stats[sl->upstream].answers, 1);
	u->env.answer(u->env.arg, &c, buf, len, a, sl->limit, sl->query, sl->qlen);
	slot_free(u, sl);
}


/*
 * An error answer without a question section (nsd answers REFUSED for class 65535 and FORMERR for
 * what it cannot parse that way): with the ID of a pending query, from the address and port it
 * went to, it is that upstream's verdict on the query, and no answer with a question will follow,
 * so waiting would only turn it into SERVFAIL after the whole timeout. Sets *RCODE to what the
 * client is told if no other upstream does better: the same for FORMERR, SERVFAIL, NOTIMP and
 * REFUSED, SERVFAIL for anything else. (It bypasses the use-0x20 check, there being no name to
 * compare; a spoofer who guesses ID and port can make a query fail, which a forged timeout-length
 * silence could too, but cannot make it answer.)
 */
static bool error_without_question(const uint8_t *buf, size_t len, unsigned *rcode)
{
	unsigned r;

	if (len < WIRE_HEADER_LEN || !(buf[2] & 0x80) || (buf[2] & 0x78) != 0 || buf[4] != 0 ||
	    buf[5] != 0 || (r = buf[3] & 0x0f) == WIRE_RCODE_NOERROR)
		return false;
	*rcode = r == WIRE_RCODE_FORMERR || r == WIRE_RCODE_NOTIMP || r == WIRE_RCODE_REFUSED ?
		r : WIRE_RCODE_SERVFAIL;
	return true;
}

/* The upstream answered the slot's query with an error of its own: the next upstream at once,
 * or that error for the client after the last one. */
static void slot_upstream_error(struct upstream *u, struct slot *sl, unsigned rcode)
{
	stats_inc(u->env.stats, STAT_UPSTREAM_ERROR);
	log_debug("upstream %s: error answer without a question (rcode %u)",
		u->cfg->upstreams[sl->upstream].text, rcode);
	sl->err_rcode = (uint8_t)rcode;
	slot_next_try(u, sl);
}

/* Classifies an answer that is not acceptable, for the counters. */
static enum stat_id answer_problem(const struct slot *sl, const uint8_t *buf, size_t len)
{
	size_t qend = WIRE_HEADER_LEN + sl->qname_len;

	if (len < qend + 4 || buf[4] != 0 || buf[5] != 1 ||
	    memcmp(buf + WIRE_HEADER_LEN, sl->qname_sent, sl->qname_len) != 0 ||
	    memcmp(buf + qend, sl->query + qend, 4) != 0)
		return STAT_WRONG_QUESTION;
	return STAT_MALFORMED;
}

/* An answer on socket S; the kernel has checked that it comes from the socket's upstream. */
static void handle_udp_answer(struct up_sock *s, uint8_t *buf, size_t len)
{
	struct upstream *u = s->u;
	struct stats *stats = u->env.stats;
	struct wire_answer a;
	struct slot *sl;
	uint32_t idx;

	/* The ID must be one in flight to this upstream, and on this very socket. */
	if (len < WIRE_HEADER_LEN || (idx = u->ids[(size_t)s->up * UP_IDS + wire_get_id(buf)]) == 0 ||
	    u->slots[idx - 1].sock != (uint16_t)(s - u->socks)) {
		stats_inc(stats, len < WIRE_HEADER_LEN ? STAT_MALFORMED : STAT_WRONG_ID);
		return;
	}
	sl = &u->slots[idx - 1];
	if (wire_check_answer(buf, len, sl->qname_sent, sl->qname_len, sl->qtype,
	    sl->qclass, &a) < 0) {
		enum stat_id problem = answer_problem(sl, buf, len);
		unsigned rcode;
		if (error_without_question(buf, len, &rcode)) {
			slot_upstream_error(u, sl, rcode);
			return;
		}
		/* Some old servers cut a truncated answer mid-record: the TC bit on an answer to our
		 * question is still worth believing, and TCP will give the whole answer. */
		if (problem == STAT_MALFORMED && (buf[2] & 0x02)) {
			stats_inc(stats, STAT_TCP_FALLBACK);
			slot_start_tcp(u, sl);
			return;
		}
		stats_inc(stats, problem);
		return;
	}
	struct iovec got = { buf, len };
	observe_forwarder(u->env.observe, true, false,
		(const struct sockaddr *)&u->cfg->upstreams[sl->upstream].addr, &got, 1);
	if (a.tc) {
		stats_inc(stats, STAT_TCP_FALLBACK);
		slot_start_tcp(u, sl);
		return;
	}
	slot_deliver(u, sl, buf, len, &a);
}

static void sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct up_sock *s = arg;
	struct upstream *u = s->u;
	(void)what;

	sendq_batch_begin(u->env.sendq);
	for (int round = 0; round < UP_ROUNDS && s->fd == fd; round++) {
		/* The entries need no reset between calls: there is no address to receive (the
		 * socket is connected) and the kernel writes msg_len and msg_flags of each one it
		 * fills. An ICMP error from the upstream (port unreachable) comes back here as
		 * ECONNREFUSED; the queries on this socket then time out and move on to the next
		 * upstream. */
		int got = mmsg_recv(fd, u->rx, UP_BATCH);
		if (got <= 0)
			break;
		/* Handling an answer can close this socket (a drained, rotated one): stop then. */
		for (int i = 0; i < got && s->fd == fd; i++)
			handle_udp_answer(s, u->rxbuf[i], u->rx[i].msg_len);
		/* The queued answers point into rxbuf: send them before it is reused. */
		sendq_flush(u->env.sendq);
		if (got < UP_BATCH)
			break;
	}
	sendq_batch_end(u->env.sendq);
}

/* ---- TCP retry of a truncated answer ---- */

static void tcp_read_cb(struct bufferevent *bev, void *arg)
{
	struct slot *sl = arg;
	struct upstream *u = sl->u;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t prefix[2], *buf = u->rxbuf[0]; /* free: not inside a UDP batch */
	struct wire_answer a;
	size_t len;

	if (evbuffer_copyout(in, prefix, 2) < 2)
		return;
	len = (size_t)prefix[0] << 8 | prefix[1];
	if (evbuffer_get_length(in) < 2 + len)
		return;
	evbuffer_drain(in, 2);
	evbuffer_remove(in, buf, len);
	if (len < WIRE_HEADER_LEN || wire_get_id(buf) != sl->up_id) {
		stats_inc(u->env.stats, len < WIRE_HEADER_LEN ? STAT_MALFORMED : STAT_WRONG_ID);
		slot_next_try(u, sl);
		sendq_flush(u->env.sendq);
		return;
	}
	if (wire_check_answer(buf, len, sl->qname_sent, sl->qname_len, sl->qtype,
	    sl->qclass, &a) < 0) {
		unsigned rcode;
		if (error_without_question(buf, len, &rcode)) {
			slot_upstream_error(u, sl, rcode);
			sendq_flush(u->env.sendq);
			return;
		}
		stats_inc(u->env.stats, answer_problem(sl, buf, len));
		slot_next_try(u, sl);
		sendq_flush(u->env.sendq);
		return;
	}
	struct iovec got = { buf, len };
	observe_forwarder(u->env.observe, true, true,
		(const struct sockaddr *)&u->cfg->upstreams[sl->upstream].addr, &got, 1);
	slot_deliver(u, sl, buf, len, &a);
	sendq_flush(u->env.sendq);
}

static void tcp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct slot *sl = arg;
	(void)bev;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_TIMEOUT) {
		stats_inc(sl->u->env.stats, STAT_UPSTREAM_TIMEOUT);
		stats_add(&sl->u->env.up_stats[sl->upstream].timeouts, 1);
	}
	log_debug("upstream %s: TCP retry failed (events 0x%x)",
		sl->u->cfg->upstreams[sl->upstream].text, (unsigned)what);
	slot_next_try(sl->u, sl);
	sendq_flush(sl->u->env.sendq);
}

/*
 * Asks the slot's upstream over TCP (RFC 7766), on a connection of its own that is closed with
 * the answer: a TCP client's query, or a UDP query whose answer came back truncated.
 */
static void slot_start_tcp(struct upstream *u, struct slot *sl)
{
	const struct config_endpoint *e = &u->cfg->upstreams[sl->upstream];
	unsigned ms = u->cfg->upstream_timeout_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	uint8_t prefix[2] = { (uint8_t)(sl->qlen >> 8), (uint8_t)sl->qlen };

	fifo_remove(u, sl);
	slot_unregister(u, sl);
	sl->via_tcp = true;
	sl->qname_sent = sl->query + WIRE_HEADER_LEN; /* over TCP the name goes as the client sent it */
	sl->up_id = rand_u16(u->env.rand);
	wire_set_id(sl->query, sl->up_id);
	stats_add(&u->env.up_stats[sl->upstream].sent, 1);
	sl->sent_ns = u->env.time_upstreams ? clock_now_ns() : 0;
	sl->tcp = bufferevent_socket_new(u->env.base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (sl->tcp == NULL)
		goto fail;
	bufferevent_setcb(sl->tcp, tcp_read_cb, NULL, tcp_event_cb, sl);
	bufferevent_set_timeouts(sl->tcp, &tv, &tv);
	if (bufferevent_socket_connect(sl->tcp, (const struct sockaddr *)&e->addr, (int)e->addrlen) < 0)
		goto fail;
	bufferevent_write(sl->tcp, prefix, 2);
	bufferevent_write(sl->tcp, sl->query, sl->qlen);
	struct iovec sent = { sl->query, sl->qlen };
	observe_forwarder(u->env.observe, false, true, (const struct sockaddr *)&e->addr, &sent, 1);
	bufferevent_enable(sl->tcp, EV_READ | EV_WRITE);
	return;
fail:
	log_warn("upstream %s: cannot open a TCP connection", e->text);
	slot_next_try(u, sl);
}

/* ---- the module ---- */

void upstream_forward(struct upstream *u, const struct wire_query *q, const struct client_ref *c)
{
	struct slot *sl = slot_take(u);

	if (sl == NULL) {
		caplog_hit(u->env.caps, STAT_INFLIGHT_FULL, "max-inflight reached: answering SERVFAIL");
		goto fail;
	}
	sl->query = sl->inline_q;
	if (q->length > QUERY_INLINE && (sl->query = malloc(q->length)) == NULL) { /* owned by slot */
		slot_put(u, sl);
		goto fail;
	}
	u->inflight++;
	memcpy(sl->query, q->packet, q->length);
	sl->qlen = q->length;
	sl->used = true;
	sl->client_id = q->id;
	sl->qname_len = q->qname_len;
	sl->qtype = q->qtype;
	sl->qclass = q->qclass;
	sl->conn = c->conn;
	sl->udp_fd = c->udp_fd;
	sl->addrlen = c->addrlen;
	memcpy(&sl->addr, c->addr, c->addrlen);
	sl->limit = c->conn ? 65535 : wire_udp_limit(q);
	sl->upstream = 0;
	sl->tries = 0;
	sl->err_rcode = 0;
	if (c->conn)
		u->env.hold(c->conn);
	/* A TCP client takes up to 65,535 bytes, and over UDP an upstream fits its answer to the
	 * query's EDNS size or 512 bytes, often by leaving additional records out without setting TC
	 * (nsd does). So its query goes over TCP, where the upstream gives its whole answer; this is
	 * also the only way for a query too big for a datagram. Over UDP the upstream's ID space may
	 * be full (a blackholed upstream under load): then SERVFAIL at once. */
	if (c->conn == NULL && slot_send_udp(u, sl) < 0) {
		slot_free(u, sl);
		goto fail;
	}
	stats_inc(u->env.stats, STAT_FORWARDED);
	if (c->conn != NULL)
		slot_start_tcp(u, sl);
	return;
fail:
	stats_inc(u->env.stats, STAT_SERVFAIL);
	u->env.fail(u->env.arg, c, q, WIRE_RCODE_SERVFAIL);
}

size_t upstream_inflight(const struct upstream *u)
{
	return u->inflight;
}

struct upstream *upstream_new(const struct upstream_env *env)
{
	const struct config *cfg = env->cfg;
	/* workers: 0 (one per CPU) is counted by main.c; a config straight from config_load has 0 */
	unsigned workers = cfg->workers ? cfg->workers : 1;
	struct upstream *u = calloc(1, sizeof(*u)); /* owned by the worker */

	if (u == NULL)
		return NULL;
	u->env = *env;
	u->cfg = cfg;
	u->nactive = cfg->upstream_sockets; /* 1..256 (config.h), default 64 */
	if (u->nactive > UP_SOCKETS_MAX)
		u->nactive = UP_SOCKETS_MAX;
	u->nsocks = (unsigned)cfg->upstream_count * u->nactive * 2;
	u->active = calloc((size_t)cfg->upstream_count * u->nactive, sizeof(*u->active));
	u->socks = calloc(u->nsocks, sizeof(*u->socks));
	u->batch = calloc(cfg->upstream_count, sizeof(*u->batch));
	u->ids = calloc((size_t)cfg->upstream_count * UP_IDS, sizeof(*u->ids));
	u->waiting = calloc(cfg->upstream_count, sizeof(*u->waiting));
	if (u->active == NULL || u->socks == NULL || u->batch == NULL || u->ids == NULL ||
	    u->waiting == NULL)
		goto fail;
	for (unsigned i = 0; i < u->nsocks; i++)
		u->socks[i] = (struct up_sock){ .u = u, .fd = -1 };
	u->nslots = cfg->max_inflight / workers;
	if (u->nslots < 16)
		u->nslots = 16;
	u->slots = calloc(u->nslots, sizeof(*u->slots));
	u->timer = evtimer_new(env->base, timer_cb, u);
	if (u->slots == NULL || u->timer == NULL)
		goto fail;
	for (unsigned i = 0; i < UP_BATCH; i++) {
		u->rx_iov[i] = (struct iovec){ u->rxbuf[i], UP_RX_MAX };
		u->rx[i].msg_hdr = (struct msghdr){ .msg_iov = &u->rx_iov[i], .msg_iovlen = 1 };
	}
	for (unsigned up = 0; up < cfg->upstream_count; up++) {
		u->batch[up].run = SOCK_RUN; /* the first query draws a socket too */
		for (unsigned a = 0; a < u->nactive; a++) {
			int pos = sock_open_free(u, up);
			if (pos < 0)
				goto fail;
			u->active[up * u->nactive + a] = (unsigned)pos;
		}
	}
	return u;
fail:
	log_err("worker %u: cannot set up upstream sockets", env->index);
	upstream_free(u);
	return NULL;
}

void upstream_set_config(struct upstream *u, const struct config *cfg)
{
	u->cfg = cfg;
	u->env.cfg = cfg;
}

void upstream_set_timing(struct upstream *u, bool on)
{
	u->env.time_upstreams = on;
}

void upstream_free(struct upstream *u)
{
	if (u == NULL)
		return;
	for (uint32_t i = 0; u->slots && i < u->fresh; i++)
		if (u->slots[i].used)
			slot_free(u, &u->slots[i]);
	for (unsigned i = 0; u->socks && i < u->nsocks; i++)
		sock_close(&u->socks[i]);
	if (u->timer)
		event_free(u->timer);
	free(u->socks);
	free(u->active);
	free(u->batch);
	free(u->ids);
	free(u->waiting);
	free(u->slots);
	free(u);
}
