/*
 * listen: the client-facing side of a worker (see include/listen.h).
 *
 * UDP is read in batches with recvmmsg and the answers that can be given at once (blocked names,
 * errors) are sent back in one sendmmsg, so a busy worker makes two system calls per batch of up
 * to UDP_BATCH queries. A wakeup handles at most UDP_ROUNDS batches per socket before returning to
 * the loop, so one flooded socket cannot starve the others or the upstream answers.
 *
 * TCP follows RFC 7766: length-prefixed messages, any number per connection, each answered when
 * it is ready (forwarded ones may overtake each other), an idle timeout that only runs while no
 * query is pending, and a per-worker connection cap enforced by pausing accept(2) so excess
 * connections wait in the kernel backlog instead of being accepted and dropped.
 */
#include "listen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "caplog.h"
#include "clock.h"
#include "config.h"
#include "guard.h"
#include "log.h"
#include "mmsg.h"
#include "observe.h"
#include "sendq.h"
#include "stats.h"
#include "wire.h"

#define UDP_BATCH 32
#define UDP_ROUNDS 4
#define UDP_IN_MAX 4096   /* a larger query datagram is truncated by the kernel and dropped */
#define UDP_OUT_MAX 4096  /* synthesized answers are far smaller */
#define TCP_OUT_HIGH (256 * 1024) /* stop reading a client that does not read its answers */
#define TCP_IN_MAX (2 + 65535) * 2
#define ACCEPT_POLL_MS 50 /* at the connection cap: how often to look for room */
#define PARK_MAX 64       /* connections accepted past the cap that wait for room (see tcp_admit) */
/* One log line for both ways a client outside allow-from is turned away (UDP query, TCP accept). */
static const char ACL_DENIED_LOG[] = "allow-from: queries from outside the allowed networks";

struct udp_sock {
	struct listen *l;
	int fd;              /* owned */
	struct event *ev;    /* owned */
};

struct tcp_conn {
	struct listen *l;
	struct bufferevent *bev; /* owned; NULL once closed */
	struct event *slow_ev;   /* owned: deadline for the message being received (slowloris) */
	unsigned pending;        /* forwarded queries not yet answered (each holds the struct) */
	bool eof;                /* peer finished sending, or we are stopping: close when done */
	listen_stream_next_cb stream_next; /* a long answer being sent; NULL when none */
	listen_stream_done_cb stream_done;
	void *stream_arg;
	struct tcp_conn *prev, *next;
	socklen_t peerlen;
	struct sockaddr_storage peer;
};

struct listen {
	struct listen_env env;            /* borrowed pointers, see listen.h */
	struct udp_sock *udp;            /* owned array */
	struct evconnlistener **tcp;     /* owned array of owned listeners */
	size_t n;                        /* listen addresses: n UDP sockets and n TCP listeners */
	unsigned conns;                  /* this worker's open connections */
	unsigned max_conns;              /* max-tcp-connections, for all workers together */
	bool accept_paused;
	bool stopped;                    /* listen_stop ran: accept stays off */
	uint64_t batch_now;              /* the rate limits' clock for the batch being handled */
	struct event *accept_retry;      /* owned: re-enables accept after EMFILE */
	struct tcp_conn *conn_list;      /* open and closing connections */
	/* Connections this worker accepted while another worker took the last place under the cap:
	 * kept unread, as if still in the kernel backlog, until there is room (oldest first). */
	struct parked {
		int fd;                  /* owned */
		socklen_t len;
		struct sockaddr_storage peer;
	} parked[PARK_MAX];
	unsigned nparked;

	/* UDP batch state, reused by every wakeup (no per-query allocation). */
	struct mmsghdr in[UDP_BATCH], out[UDP_BATCH];
	struct iovec in_iov[UDP_BATCH], out_iov[UDP_BATCH];
	struct sockaddr_storage peers[UDP_BATCH];
	uint8_t inbuf[UDP_BATCH][UDP_IN_MAX];
	uint8_t outbuf[UDP_BATCH][UDP_OUT_MAX];
	uint8_t tcp_frame[65535];        /* one TCP query, copied out of the stream */
	uint8_t tcp_out[2 + 65535];
};

/* ---- UDP ---- */

static void udp_send_batch(struct udp_sock *s, unsigned count)
{
	unsigned sent = 0;

	while (sent < count) {
		int r = mmsg_send(s->fd, s->l->out + sent, count - sent);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* A full socket buffer or an unreachable peer loses this datagram, as UDP may;
			 * skip it and keep the rest of the batch. */
			log_debug("sendmmsg: %s", strerror(errno));
			sent++;
			continue;
		}
		sent += (unsigned)r;
	}
}

/* The answer (if any) to a query the guard stopped: REFUSED, or an empty TC=1 answer. */
static size_t guard_answer(struct listen *l, enum guard_verdict v, const uint8_t *pkt, size_t len,
	const struct sockaddr *client, uint8_t *out, size_t cap)
{
	static const char *const actions[] = {
		[GUARD_PASS] = "", [GUARD_ACL_REFUSE] = "refused", [GUARD_ACL_DROP] = "drop",
		[GUARD_RATE_DROP] = "drop", [GUARD_RATE_TC] = "tc",
	};
	bool rate = v == GUARD_RATE_DROP || v == GUARD_RATE_TC;
	struct wire_query q;
	size_t n = 0;

	if (rate)
		caplog_hit(l->env.caps, STAT_RATE_LIMITED, "rate limit: queries from a client network over "
			"rate-limit-qps");
	else
		caplog_hit(l->env.caps, STAT_ACL_DENIED, ACL_DENIED_LOG);
	/* Never answer what looks like an answer: no reflection. */
	if (v != GUARD_ACL_DROP && v != GUARD_RATE_DROP && wire_parse_query(pkt, len, &q) != WIRE_DROP) {
		n = wire_build_error(&q, v == GUARD_ACL_REFUSE ? WIRE_RCODE_REFUSED : WIRE_RCODE_NOERROR,
			out, cap);
		if (n > 0 && v == GUARD_RATE_TC)
			out[2] |= 0x02; /* TC */
	}
	observe_refused(l->env.observe, client, false, rate ? AUDIT_RATE_LIMITED : AUDIT_ACL_DENIED,
		actions[v], pkt, len, out, n);
	return n;
}

/*
 * One client datagram PKT from PEER on FD, through the guard to the query callback: the length
 * of the answer written to OUT to send now, or 0. Both UDP paths (the sockets' recvmmsg and
 * io_uring's receives) hand every datagram here, between udp_begin and udp_end.
 */
static inline size_t udp_datagram(struct listen *l, int fd, const uint8_t *pkt, size_t len,
	bool truncated, const struct sockaddr *peer, socklen_t peerlen, uint8_t *out, size_t cap)
{
	struct client_ref c = { NULL, fd, peerlen, peer };

	stats_inc(l->env.stats, STAT_QUERIES);
	stats_inc(l->env.stats, STAT_QUERIES_UDP);
	if (truncated) {
		stats_inc(l->env.stats, STAT_DROPPED);
		return 0;
	}
	enum guard_verdict v = guard_check(l->env.guard, c.addr, l->batch_now);
	size_t n = v != GUARD_PASS ? guard_answer(l, v, pkt, len, c.addr, out, cap) :
		l->env.query(l->env.query_arg, pkt, len, &c, out, cap);
	if (n > 0)
		stats_inc(l->env.stats, stats_rcode_id(out));
	return n;
}

/* A batch of received datagrams begins: one clock read for all of them. */
static inline void udp_begin(struct listen *l)
{
	observe_batch_begin(l->env.observe);
	/* The clock only for the rate limits: with one datagram per wakeup, reading it for
	 * nothing was a visible part of the wakeup. */
	l->batch_now = guard_rate_limited(l->env.guard) ? clock_now_ms() : 0;
}

static void udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_sock *s = arg;
	struct listen *l = s->l;
	(void)what;

	sendq_batch_begin(l->env.sendq);
	for (int round = 0; round < UDP_ROUNDS; round++) {
		/* Every entry is ready for the kernel (udp_batch_init, and each one used is reset
		 * below): with few queries per wakeup, re-initialising all UDP_BATCH of them cost more
		 * than the datagrams themselves. */
		int got = mmsg_recv(fd, l->in, UDP_BATCH);
		if (got <= 0)
			break; /* EAGAIN, or an error that the next readiness will report again */
		udp_begin(l);
		unsigned nout = 0;
		for (int i = 0; i < got; i++) {
			struct msghdr *mh = &l->in[i].msg_hdr;
			socklen_t peerlen = mh->msg_namelen;
			/* The kernel wrote the peer's address length over the buffer size (and writes
			 * msg_flags for every datagram it fills, so those need no reset). */
			mh->msg_namelen = sizeof(l->peers[i]);
			size_t n = udp_datagram(l, fd, l->inbuf[i], l->in[i].msg_len,
				(mh->msg_flags & MSG_TRUNC) != 0, (struct sockaddr *)&l->peers[i], peerlen,
				l->outbuf[nout], UDP_OUT_MAX);
			if (n == 0)
				continue;
			l->out_iov[nout].iov_len = n;
			l->out[nout].msg_hdr.msg_name = &l->peers[i];
			l->out[nout].msg_hdr.msg_namelen = peerlen;
			nout++;
		}
		if (nout > 0)
			udp_send_batch(s, nout);
		sendq_flush(l->env.sendq); /* the queries this batch forwarded */
		if (got < UDP_BATCH)
			break;
	}
	observe_batch_end(l->env.observe);
	sendq_batch_end(l->env.sendq);
}

void listen_udp_datagrams(struct listen *l, struct uring_dgram *d, size_t n, size_t cap)
{
	if (cap > UDP_OUT_MAX)
		cap = UDP_OUT_MAX;
	sendq_batch_begin(l->env.sendq);
	udp_begin(l);
	for (size_t i = 0; i < n; i++)
		d[i].outlen = (uint32_t)udp_datagram(l, d[i].fd, d[i].pkt, d[i].len, d[i].truncated,
			d[i].peer, d[i].peerlen, d[i].out, cap);
	observe_batch_end(l->env.observe);
	sendq_batch_end(l->env.sendq); /* the queries this batch forwarded */
}

size_t listen_udp_fds(const struct listen *l, int *fds, size_t max)
{
	size_t n = l->n < max ? l->n : max;

	for (size_t i = 0; i < n; i++)
		fds[i] = l->udp[i].fd;
	return n;
}

void listen_udp_external(struct listen *l, bool external)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->udp[i].ev == NULL)
			continue;
		if (external)
			event_del(l->udp[i].ev);
		else if (!l->stopped)
			event_add(l->udp[i].ev, NULL);
	}
}

static void udp_batch_init(struct listen *l)
{
	for (unsigned i = 0; i < UDP_BATCH; i++) {
		l->in_iov[i] = (struct iovec){ l->inbuf[i], UDP_IN_MAX };
		l->in[i].msg_hdr = (struct msghdr){ .msg_name = &l->peers[i],
			.msg_namelen = sizeof(l->peers[i]), .msg_iov = &l->in_iov[i], .msg_iovlen = 1 };
		l->out_iov[i] = (struct iovec){ l->outbuf[i], 0 };
		l->out[i].msg_hdr = (struct msghdr){ .msg_iov = &l->out_iov[i], .msg_iovlen = 1 };
	}
}

/* ---- TCP connections ---- */

static void conn_free(struct tcp_conn *conn)
{
	struct listen *l = conn->l;

	if (conn->prev)
		conn->prev->next = conn->next;
	else
		l->conn_list = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	free(conn);
}

static void accept_set(struct listen *l, bool enable)
{
	if (l->accept_paused == !enable)
		return;
	for (size_t i = 0; i < l->n; i++) {
		if (l->tcp[i] == NULL)
			continue;
		if (enable)
			evconnlistener_enable(l->tcp[i]);
		else
			evconnlistener_disable(l->tcp[i]);
	}
	l->accept_paused = !enable;
}

static void tcp_room(struct listen *l);

/* Closes the socket; the struct lives on while forwarded queries still refer to it. */
static void conn_close(struct tcp_conn *conn)
{
	struct listen *l = conn->l;

	if (conn->bev == NULL)
		return;
	if (conn->stream_next != NULL) {
		conn->stream_done(conn->stream_arg);
		conn->stream_next = NULL;
	}
	bufferevent_free(conn->bev);
	conn->bev = NULL;
	event_free(conn->slow_ev);
	conn->slow_ev = NULL;
	l->conns--;
	atomic_fetch_sub(l->env.tcp_conns, 1);
	if (conn->pending == 0)
		conn_free(conn);
	tcp_room(l);
}

/* After the peer's EOF (or on stop), close once every answer is written. */
static void conn_maybe_finish(struct tcp_conn *conn)
{
	if (conn->bev && conn->eof && conn->pending == 0 && conn->stream_next == NULL &&
	    evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)
		conn_close(conn);
}

void listen_conn_hold(struct tcp_conn *conn)
{
	conn->pending++;
}

void listen_conn_release(struct tcp_conn *conn)
{
	conn->pending--;
	if (conn->bev == NULL) {
		if (conn->pending == 0)
			conn_free(conn);
		return;
	}
	conn_maybe_finish(conn);
}

static void conn_write_frame(struct tcp_conn *conn, const uint8_t *ans, size_t len)
{
	uint8_t prefix[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	struct evbuffer *out = bufferevent_get_output(conn->bev);

	evbuffer_add(out, prefix, 2);
	evbuffer_add(out, ans, len);
	if (evbuffer_get_length(out) > TCP_OUT_HIGH)
		bufferevent_disable(conn->bev, EV_READ);
}

/*
 * The idle timeout only notices silence; a client that trickles a byte now and then would hold
 * the connection forever (slowloris). So each message must arrive whole within
 * tcp-read-timeout-ms of its first byte.
 */
static void conn_slow_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tcp_conn *conn = arg;
	(void)fd;
	(void)what;

	caplog_hit(conn->l->env.caps, STAT_TCP_SLOW, "tcp-read-timeout-ms: closed a connection that "
		"sent a message too slowly");
	conn_close(conn);
}

static void conn_read_deadline(struct tcp_conn *conn, bool partial, bool restart)
{
	unsigned ms = conn->l->env.cfg->tcp_read_timeout_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (ms == 0 || conn->slow_ev == NULL)
		return;
	if (!partial)
		event_del(conn->slow_ev);
	else if (restart || !event_pending(conn->slow_ev, EV_TIMEOUT, NULL))
		event_add(conn->slow_ev, &tv);
}

static void conn_read_cb(struct bufferevent *bev, void *arg);

/* The stream is over: the connection's next queries, already received or not, are read again. */
static void conn_stream_end(struct tcp_conn *conn)
{
	conn->stream_done(conn->stream_arg);
	conn->stream_next = NULL;
	bufferevent_setwatermark(conn->bev, EV_WRITE, 0, 0);
	if (conn->eof) { /* only from the write callback: reading stopped at the EOF */
		conn_maybe_finish(conn);
		return;
	}
	bufferevent_enable(conn->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(conn->bev)) > 0)
		conn_read_cb(conn->bev, conn);
}

/* Tops the output up with the stream's next messages, to TCP_OUT_HIGH. */
static void conn_stream_fill(struct tcp_conn *conn)
{
	struct evbuffer *out = bufferevent_get_output(conn->bev);

	while (conn->stream_next != NULL && evbuffer_get_length(out) < TCP_OUT_HIGH) {
		size_t n = conn->stream_next(conn->stream_arg, conn->l->tcp_out + 2, 65535);

		if (n == 0) {
			conn_stream_end(conn);
			return;
		}
		conn_write_frame(conn, conn->l->tcp_out + 2, n);
	}
}

void listen_stream(struct listen *l, const struct client_ref *c, listen_stream_next_cb next,
	listen_stream_done_cb done, void *arg)
{
	struct tcp_conn *conn = c->conn;
	(void)l;

	if (conn == NULL || conn->bev == NULL || conn->stream_next != NULL) {
		done(arg);
		return;
	}
	conn->stream_next = next;
	conn->stream_done = done;
	conn->stream_arg = arg;
	bufferevent_disable(conn->bev, EV_READ);
	/* refill at half the high mark, so the socket never runs dry between two fills */
	bufferevent_setwatermark(conn->bev, EV_WRITE, TCP_OUT_HIGH / 2, 0);
	conn_stream_fill(conn);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *conn = arg;
	struct listen *l = conn->l;
	struct evbuffer *in = bufferevent_get_input(bev);
	bool completed = false;
	uint8_t prefix[2];

	while (conn->bev != NULL && evbuffer_copyout(in, prefix, 2) == 2) {
		size_t len = (size_t)prefix[0] << 8 | prefix[1];
		if (evbuffer_get_length(in) < 2 + len)
			break;
		evbuffer_drain(in, 2);
		evbuffer_remove(in, l->tcp_frame, len);
		completed = true;
		stats_inc(l->env.stats, STAT_QUERIES);
		stats_inc(l->env.stats, STAT_QUERIES_TCP);
		struct client_ref c = { conn, -1, conn->peerlen, (struct sockaddr *)&conn->peer };
		size_t n = l->env.query(l->env.query_arg, l->tcp_frame, len, &c, l->tcp_out + 2, 65535);
		if (n > 0 && conn->bev != NULL) {
			stats_inc(l->env.stats, stats_rcode_id(l->tcp_out + 2));
			conn_write_frame(conn, l->tcp_out + 2, n);
		}
		if (conn->stream_next != NULL ||
			evbuffer_get_length(bufferevent_get_output(bev)) > TCP_OUT_HIGH)
			break;
	}
	if (conn->bev != NULL)
		conn_read_deadline(conn, evbuffer_get_length(in) > 0, completed);
	sendq_flush(l->env.sendq); /* the queries these frames forwarded */
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *conn = arg;

	if (conn->stream_next != NULL) {
		conn_stream_fill(conn);
		return;
	}
	/* The output drained: a client paused for not reading may send again. The queries it sent
	 * before are still in the input buffer (conn_read_cb stopped at TCP_OUT_HIGH) and no new
	 * byte may ever come to run the read callback again: answer them now, also after EOF. */
	if (!conn->eof)
		bufferevent_enable(bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(bev)) >= 2)
		conn_read_cb(bev, conn);
	conn_maybe_finish(conn);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tcp_conn *conn = arg;

	if (what & BEV_EVENT_TIMEOUT) {
		/* The idle timeout runs only while nothing is owed to the client (RFC 7766 6.2.3). */
		if ((what & BEV_EVENT_READING) && (conn->pending > 0 || conn->stream_next != NULL ||
		    evbuffer_get_length(bufferevent_get_output(bev)) > 0)) {
			bufferevent_enable(bev, EV_READ);
			return;
		}
		stats_inc(conn->l->env.stats, STAT_TCP_TIMEOUT);
		conn_close(conn);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* The peer may have only shut down its sending side: answer what it asked. */
		conn->eof = true;
		bufferevent_disable(bev, EV_READ);
		conn_maybe_finish(conn);
		return;
	}
	conn_close(conn); /* BEV_EVENT_ERROR */
}

/*
 * The connection cap is for all workers together, counted in one shared atomic (accept is far
 * off the hot path). A place is taken (the count raised) before a connection is served; at the
 * cap this worker pauses accept, so further connections wait in the kernel backlog, and polls
 * every ACCEPT_POLL_MS for room: a connection closing in another worker cannot re-enable our
 * listener directly. Two workers can accept at the same instant, and the one that finds the last
 * place taken keeps its connection parked, unread, until a place frees up: the client cannot
 * tell that from waiting in the backlog, where the old code reset it instead. Only past PARK_MAX
 * parked connections (a worker's accept loop would have to outrun its own pause) is one closed.
 */
static bool tcp_take_place(struct listen *l)
{
	unsigned n = atomic_fetch_add(l->env.tcp_conns, 1) + 1;

	if (n <= l->max_conns)
		return true;
	atomic_fetch_sub(l->env.tcp_conns, 1);
	return false;
}

static void tcp_at_cap(struct listen *l)
{
	struct timeval poll = { 0, ACCEPT_POLL_MS * 1000 };

	caplog_hit(l->env.caps, STAT_TCP_REFUSED, "max-tcp-connections reached: accept paused");
	accept_set(l, false);
	event_add(l->accept_retry, &poll);
}

/* Serves FD (peer SA) as a connection; its place under the cap is already taken. */
static void conn_open(struct listen *l, evutil_socket_t fd, const struct sockaddr *sa,
	socklen_t salen)
{
	const struct config *cfg = l->env.cfg;
	struct tcp_conn *conn = NULL;
	struct timeval idle = { cfg->tcp_idle_timeout_ms / 1000,
		(cfg->tcp_idle_timeout_ms % 1000) * 1000 };
	struct timeval wr = { idle.tv_sec * 3 + 1, 0 };

	conn = calloc(1, sizeof(*conn)); /* owned by the connection list until conn_free */
	if (conn == NULL)
		goto fail;
	conn->l = l;
	conn->peerlen = salen;
	memcpy(&conn->peer, sa, (size_t)salen < sizeof(conn->peer) ? (size_t)salen : sizeof(conn->peer));
	conn->bev = bufferevent_socket_new(l->env.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (conn->bev == NULL)
		goto fail;
	conn->slow_ev = evtimer_new(l->env.base, conn_slow_cb, conn);
	if (conn->slow_ev == NULL)
		goto fail;
	bufferevent_setcb(conn->bev, conn_read_cb, conn_write_cb, conn_event_cb, conn);
	bufferevent_setwatermark(conn->bev, EV_READ, 0, TCP_IN_MAX);
	bufferevent_set_timeouts(conn->bev, &idle, &wr);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	conn->next = l->conn_list;
	if (l->conn_list)
		l->conn_list->prev = conn;
	l->conn_list = conn;
	stats_inc(l->env.stats, STAT_TCP_ACCEPTED);
	l->conns++;
	return;
fail:
	atomic_fetch_sub(l->env.tcp_conns, 1);
	log_warn("tcp: cannot set up a connection: out of memory");
	if (conn == NULL || conn->bev == NULL)
		evutil_closesocket(fd);
	else
		bufferevent_free(conn->bev);
	free(conn);
}

/* A place may have freed up: serve parked connections first, then accept again. */
static void tcp_room(struct listen *l)
{
	struct timeval poll = { 0, ACCEPT_POLL_MS * 1000 };

	if (l->stopped)
		return;
	while (l->nparked > 0 && tcp_take_place(l)) {
		struct parked pk = l->parked[0];
		memmove(l->parked, l->parked + 1, --l->nparked * sizeof(l->parked[0]));
		conn_open(l, pk.fd, (const struct sockaddr *)&pk.peer, pk.len);
	}
	if (l->nparked == 0 && atomic_load(l->env.tcp_conns) < l->max_conns)
		accept_set(l, true);
	else if (!event_pending(l->accept_retry, EV_TIMEOUT, NULL))
		event_add(l->accept_retry, &poll);
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
	int salen, void *arg)
{
	struct listen *l = arg;
	(void)lev;

	if (guard_check_acl(l->env.guard, sa) != GUARD_PASS) {
		/* A TCP client outside allow-from learns nothing, not even REFUSED. */
		caplog_hit(l->env.caps, STAT_ACL_DENIED, ACL_DENIED_LOG);
		observe_refused(l->env.observe, sa, true, AUDIT_ACL_DENIED, "drop", NULL, 0, NULL, 0);
		evutil_closesocket(fd);
		return;
	}
	if (!tcp_take_place(l)) {
		tcp_at_cap(l);
		if (l->nparked == PARK_MAX) {
			evutil_closesocket(fd);
			return;
		}
		struct parked *pk = &l->parked[l->nparked++];
		pk->fd = fd;
		pk->len = (socklen_t)salen < sizeof(pk->peer) ? (socklen_t)salen : sizeof(pk->peer);
		memcpy(&pk->peer, sa, pk->len);
		return;
	}
	if (atomic_load(l->env.tcp_conns) >= l->max_conns)
		tcp_at_cap(l); /* this one took the last place */
	conn_open(l, fd, sa, (socklen_t)salen);
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tcp_room(arg);
}

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listen *l = arg;
	struct timeval back_off = { 0, 100 * 1000 };
	int err = EVUTIL_SOCKET_ERROR();
	(void)lev;

	/* Out of descriptors: accepting again at once would spin; wait for connections to close. */
	log_warn("tcp accept: %s; pausing accept for 100 ms", evutil_socket_error_to_string(err));
	accept_set(l, false);
	event_add(l->accept_retry, &back_off);
}

/* ---- the module ---- */

void listen_reply_queued(struct listen *l, const struct client_ref *c, const uint8_t *ans,
	size_t len)
{
	struct iovec iov = { (void *)ans, len };

	if (c->conn != NULL) {
		listen_reply(l, c, ans, len); /* the TCP output buffer copies it */
		return;
	}
	stats_inc(l->env.stats, stats_rcode_id(ans));
	sendq_add(l->env.sendq, c->udp_fd, c->addr, c->addrlen, &iov, 1);
}

void listen_reply(struct listen *l, const struct client_ref *c, const uint8_t *ans, size_t len)
{
	stats_inc(l->env.stats, stats_rcode_id(ans));
	if (c->conn == NULL) {
		if (sendto(c->udp_fd, ans, len, MSG_DONTWAIT, c->addr, c->addrlen) < 0)
			log_debug("sendto: %s", strerror(errno));
		return;
	}
	if (c->conn->bev != NULL)
		conn_write_frame(c->conn, ans, len);
}

static int listen_open_udp(struct listen *l, size_t i, int fd)
{
	l->udp[i].l = l;
	l->udp[i].fd = fd;
	l->udp[i].ev = event_new(l->env.base, fd, EV_READ | EV_PERSIST, udp_read_cb, &l->udp[i]);
	if (l->udp[i].ev == NULL || event_add(l->udp[i].ev, NULL) < 0)
		return -1;
	return 0;
}

struct listen *listen_new(const struct listen_env *env, const int *udp_fds, const int *tcp_fds,
	size_t n)
{
	struct listen *l = calloc(1, sizeof(*l)); /* owned by the worker */
	size_t taken = 0; /* sockets 0..taken-1 (both kinds) belong to l from here on */

	if (l == NULL)
		goto fail;
	l->env = *env;
	l->n = n;
	l->max_conns = env->cfg->max_tcp_connections;
	udp_batch_init(l);
	l->udp = calloc(n, sizeof(*l->udp));
	l->tcp = calloc(n, sizeof(*l->tcp));
	if (l->udp == NULL || l->tcp == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++)
		l->udp[i].fd = -1;
	l->accept_retry = evtimer_new(env->base, accept_retry_cb, l);
	if (l->accept_retry == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		taken = i + 1;
		if (listen_open_udp(l, i, udp_fds[i]) < 0) {
			close(tcp_fds[i]);
			goto fail;
		}
		/* The socket is already listening (server.c), so backlog 0: do not call listen(). */
		l->tcp[i] = evconnlistener_new(env->base, accept_cb, l, LEV_OPT_CLOSE_ON_FREE, 0,
			tcp_fds[i]);
		if (l->tcp[i] == NULL) {
			close(tcp_fds[i]);
			goto fail;
		}
		evconnlistener_set_error_cb(l->tcp[i], accept_error_cb);
	}
	return l;
fail:
	/* listen.h promises to take the sockets even on failure: those not yet handed to l are
	 * closed here, the rest by listen_free. */
	for (size_t i = taken; i < n; i++) {
		close(udp_fds[i]);
		close(tcp_fds[i]);
	}
	log_err("worker %u: cannot set up listeners", env->index);
	if (l != NULL && l->udp != NULL && l->tcp != NULL) {
		listen_free(l);
	} else if (l != NULL) {
		free(l->udp);
		free(l->tcp);
		if (l->accept_retry)
			event_free(l->accept_retry);
		free(l);
	}
	return NULL;
}

void listen_stop(struct listen *l)
{
	l->stopped = true;
	/* Parked connections were never served: close them, as the backlog is closed with the
	 * listener. */
	for (unsigned i = 0; i < l->nparked; i++)
		close(l->parked[i].fd);
	l->nparked = 0;
	for (size_t i = 0; i < l->n; i++) {
		/* Stop reading, but keep the socket: answers to queries in flight leave through it. */
		if (l->udp[i].ev)
			event_del(l->udp[i].ev);
		if (l->tcp[i]) {
			evconnlistener_free(l->tcp[i]);
			l->tcp[i] = NULL;
		}
	}
	for (struct tcp_conn *c = l->conn_list, *next; c != NULL; c = next) {
		next = c->next;
		if (c->bev == NULL)
			continue;
		c->eof = true;
		bufferevent_disable(c->bev, EV_READ);
		conn_maybe_finish(c);
	}
}

bool listen_drained(const struct listen *l)
{
	return l->conns == 0;
}

void listen_reconfigure(struct listen *l, const struct config *cfg, struct guard *guard)
{
	l->env.cfg = cfg;
	l->env.guard = guard;
	l->max_conns = cfg->max_tcp_connections;
}

void listen_free(struct listen *l)
{
	if (l == NULL)
		return;
	listen_stop(l);
	/* Whatever is left is closed hard; pending queries were finished or dropped by now. */
	while (l->conn_list) {
		struct tcp_conn *c = l->conn_list;
		if (c->bev && c->stream_next != NULL)
			c->stream_done(c->stream_arg);
		if (c->bev) {
			bufferevent_free(c->bev);
			c->bev = NULL;
			event_free(c->slow_ev);
		}
		conn_free(c);
	}
	for (size_t i = 0; i < l->n; i++) {
		if (l->udp[i].ev)
			event_free(l->udp[i].ev);
		if (l->udp[i].fd >= 0)
			close(l->udp[i].fd);
	}
	if (l->accept_retry)
		event_free(l->accept_retry);
	free(l->udp);
	free(l->tcp);
	free(l);
}
