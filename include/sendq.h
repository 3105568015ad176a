/*
 * sendq: a worker's outgoing UDP datagrams, sent in batches with sendmmsg(2).
 *
 * A forwarded query costs four datagrams (client in, upstream out, upstream in, client out);
 * reading is already batched with recvmmsg, and this batches the two sends, so a busy worker
 * makes a handful of system calls per batch instead of two per query. Entries point at their
 * data (no copy): whoever queues must flush before that data is reused or freed, which the
 * callers do at the end of each receive round. A flush event is also activated on the first
 * queued datagram as a safety net, so a forgotten flush can delay a datagram by one loop
 * iteration but never lose it; only inside a batch (sendq_batch_begin) is it left out, since
 * the batch's end flushes.
 */
#ifndef BLOKIR_SENDQ_H
#define BLOKIR_SENDQ_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct event_base;
struct sendq;

/* Returns a queue sending through BASE's loop (for the safety-net flush), or NULL. */
struct sendq *sendq_new(struct event_base *base);
void sendq_free(struct sendq *q); /* flushes first */

/*
 * Queues IOV (IOVCNT <= 3 pieces, borrowed until the next flush) to ADDR (copied) on FD, or to
 * FD's connected peer when ADDR is NULL. Flushes by itself when full.
 */
void sendq_add(struct sendq *q, int fd, const struct sockaddr *addr, socklen_t addrlen,
	const struct iovec *iov, size_t iovcnt);

/* Sends everything queued. Datagrams the kernel refuses are dropped, as UDP may. */
void sendq_flush(struct sendq *q);

/*
 * The hot receive paths (a batch of client queries, a batch of upstream answers) queue between
 * these two, and the end flushes what is left; nothing queued in between needs the safety net,
 * whose activation, dispatch and removal in libevent cost some 300 instructions per batch.
 * Batches nest.
 */
void sendq_batch_begin(struct sendq *q);
void sendq_batch_end(struct sendq *q);

/*
 * Counts the flushes that sent something (wrapping). What is queued between two of them goes
 * out as one batch, so a sender that wants each batch on one socket compares this with its last
 * value.
 */
unsigned sendq_generation(const struct sendq *q);

#endif
