/*
 * listen: a worker's client-facing front end. UDP: batched recvmmsg/sendmmsg on the worker's
 * SO_REUSEPORT sockets. TCP (RFC 7766): 2-byte length framing, many queries per connection
 * answered as they complete, idle timeout, a cap on connections, backpressure on slow readers.
 *
 * listen knows nothing of what a query means: every client message that passes the guard goes to
 * the query callback it was given, which returns an answer to send at once or 0 (the answer comes
 * later through listen_reply, or never). It calls nothing above it.
 */
#ifndef BLOKIR_LISTEN_H
#define BLOKIR_LISTEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "client.h"
#include "uring.h"

struct caplog;
struct config;
struct event_base;
struct guard;
struct observe;
struct sendq;
struct stats;
struct listen;

/*
 * Handles one client message PKT (LEN bytes) from C. Returns the length of an answer written to
 * OUT (CAP bytes, also the most the client takes) to send now, or 0 for nothing now.
 */
typedef size_t (*listen_query_cb)(void *arg, const uint8_t *pkt, size_t len,
	const struct client_ref *c, uint8_t *out, size_t cap);

/* What a listen works with; every pointer is borrowed and must outlive it. */
struct listen_env {
	struct event_base *base;
	const struct config *cfg;     /* max-tcp-connections, the TCP timeouts */
	struct stats *stats;
	struct caplog *caps;
	struct observe *observe;      /* audit lines and dnstap messages of what the guard stops */
	struct guard *guard;          /* allow-from and rate limits, checked before the callback */
	struct sendq *sendq;          /* flushed after each batch of client messages */
	_Atomic unsigned *tcp_conns;  /* TCP client connections of all workers */
	unsigned index;               /* the worker's number, for log lines */
	listen_query_cb query;
	void *query_arg;
};

/*
 * Takes ownership of the sockets (N UDP and N listening TCP), also on failure, when they are
 * closed. Returns NULL on failure (logged).
 */
struct listen *listen_new(const struct listen_env *env, const int *udp_fds, const int *tcp_fds,
	size_t n);
void listen_free(struct listen *l);

/*
 * A reload: from now on CFG's TCP limits and timeouts (connections already open keep the
 * timers they have) and GUARD's access list and rate limits. Both borrowed, as in listen_env.
 */
void listen_reconfigure(struct listen *l, const struct config *cfg, struct guard *guard);

/* Sends ANS (LEN bytes, ID already the client's) to C. For TCP, drops it if the peer is gone. */
void listen_reply(struct listen *l, const struct client_ref *c, const uint8_t *ans, size_t len);

/*
 * The same, for UDP through the worker's send queue: ANS must stay valid until the caller's next
 * sendq_flush (the upstream answer path flushes after each receive batch).
 */
void listen_reply_queued(struct listen *l, const struct client_ref *c, const uint8_t *ans,
	size_t len);

/*
 * A long answer (a zone transfer) pulled one message at a time: NEXT writes the next message
 * into OUT (CAP bytes) and returns its length, 0 at the end; DONE frees ARG after the last one
 * or when the connection closes first.
 */
typedef size_t (*listen_stream_next_cb)(void *arg, uint8_t *out, size_t cap);
typedef void (*listen_stream_done_cb)(void *arg);

/*
 * Sends the messages of a stream to TCP client C (ARG is the stream's, and passes to DONE), as
 * fast as the client reads them: the connection's other queries wait until it is over. For a
 * UDP client (never given one) DONE is called at once.
 */
void listen_stream(struct listen *l, const struct client_ref *c, listen_stream_next_cb next,
	listen_stream_done_cb done, void *arg);

/* A pending query keeps its TCP connection's memory alive until it is answered (client_hold_cb). */
void listen_conn_hold(struct tcp_conn *conn);
void listen_conn_release(struct tcp_conn *conn);

/*
 * For a worker that reads its client UDP itself (udp-io io-uring, uring.h). EXTERNAL true takes
 * the UDP sockets out of the event loop (they stay open and owned here), false puts them back.
 * listen_udp_fds writes up to MAX of them to FDS and returns how many there are.
 */
void listen_udp_external(struct listen *l, bool external);
size_t listen_udp_fds(const struct listen *l, int *fds, size_t max);

/*
 * A batch of datagrams read elsewhere (uring.h's batch callback): each of D[0..N) through the
 * same checks, counters and query callback as the sockets' own path, its outlen set to the
 * length of an answer written to its out (CAP bytes) to send to its peer now, or 0. The batch's
 * end sends what the datagrams forwarded, after which they and their peers may be reused.
 */
void listen_udp_datagrams(struct listen *l, struct uring_dgram *d, size_t n, size_t cap);

/* Graceful stop: close the UDP sockets and TCP listeners, close idle connections. */
void listen_stop(struct listen *l);
/* True when no TCP connection has unanswered queries or unsent output. */
bool listen_drained(const struct listen *l);

#endif
