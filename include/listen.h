/*
 * listen: a worker's client-facing front end. UDP: batched recvmmsg/sendmmsg on the worker's
 * SO_REUSEPORT sockets. TCP (RFC 7766): 2-byte length framing, many queries per connection
 * answered as they complete, idle timeout, a cap on connections, backpressure on slow readers.
 */
#ifndef BLOKIR_LISTEN_H
#define BLOKIR_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker.h"

/* Takes ownership of the sockets. Returns NULL on failure (logged). */
struct listen *listen_new(struct worker *w, const int *udp_fds, const int *tcp_fds, size_t n);
void listen_free(struct listen *l);

/* Sends ANS (LEN bytes, ID already the client's) to C. For TCP, drops it if the peer is gone. */
void listen_reply(struct worker *w, const struct client_ref *c, const uint8_t *ans, size_t len);

/*
 * The same, for UDP through the worker's send queue: ANS must stay valid until the caller's next
 * sendq_flush (the upstream answer path flushes after each receive batch).
 */
void listen_reply_queued(struct worker *w, const struct client_ref *c, const uint8_t *ans,
	size_t len);

/* A pending query keeps its TCP connection's memory alive until it is answered. */
void listen_conn_hold(struct tcp_conn *conn);
void listen_conn_release(struct tcp_conn *conn);

/* Graceful stop: close the UDP sockets and TCP listeners, close idle connections. */
void listen_stop(struct listen *l);
/* True when no TCP connection has unanswered queries or unsent output. */
bool listen_drained(const struct listen *l);

#endif
