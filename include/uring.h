/*
 * uring: a worker's client UDP through io_uring (udp-io). One ring per worker receives on each
 * of the worker's client UDP sockets with a multishot recvmsg into a ring of provided buffers,
 * sends the answers given at once as sendmsg entries queued during the batch, watches one more
 * descriptor (the worker's libevent epoll fd) with a poll entry, and keeps a timeout entry that
 * completes every tick. A worker that waits in uring_wait makes one system call per wake-up: it
 * submits the last batch's answers and waits for the next datagrams, the other descriptor or the
 * tick together, where the socket path makes three (epoll_wait, recvmmsg, sendmmsg).
 *
 * uring knows nothing of DNS: every batch of datagrams goes to the callback it was given, which
 * says for each the length of an answer to send back at once, or 0. It calls nothing above it.
 */
#ifndef BLOKIR_URING_H
#define BLOKIR_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct uring;

/* One received datagram, as the batch callback sees it (all pointers into the ring's memory). */
struct uring_dgram {
	const uint8_t *pkt;         /* LEN bytes; TRUNCATED when it was longer than the buffer */
	const struct sockaddr *peer;
	uint8_t *out;               /* where the callback writes an answer (the batch's CAP bytes) */
	uint32_t len;
	socklen_t peerlen;
	int fd;                     /* the socket it came in on, where the answer goes out */
	bool truncated;
	uint32_t outlen;            /* set by the callback: the answer's length, 0 for none */
};

/*
 * A batch of N datagrams D: the callback sets each one's outlen. The datagrams, their peers and
 * the answers stay readable until the callback returns; the answers are sent after it.
 */
typedef void (*uring_batch_cb)(void *arg, struct uring_dgram *d, size_t n, size_t cap);

struct uring_env {
	const int *fds;          /* borrowed: the client UDP sockets, open while the ring lives */
	size_t n;
	int watch_fd;            /* borrowed: a descriptor whose readability uring_process reports */
	unsigned tick_ms;        /* how often uring_process reports URING_TICK (not 0) */
	uring_batch_cb batch;
	void *arg;
};

/*
 * Sets up a ring for ENV (nothing armed yet: uring_start, on the thread that will wait). Returns
 * NULL and writes why into WHY (WHYLEN bytes) when io_uring cannot be had: the kernel or a
 * seccomp filter refuses it, the kernel lacks what is needed, memory. For tests only, the
 * environment variable BLOKIR_TEST_URING_REFUSE makes it fail as a refusing kernel would.
 */
struct uring *uring_new(const struct uring_env *env, char *why, size_t whylen);
void uring_free(struct uring *u);

/* On the thread that will call uring_wait from now on: arms the receives, the watch, the tick. */
int uring_start(struct uring *u, char *why, size_t whylen);

/*
 * Submits what is queued and, with BLOCK, waits until something completed (the next tick at the
 * latest). Returns 0, or -1 on an error other than a signal (errno set).
 */
int uring_wait(struct uring *u, bool block);

/* What uring_process saw besides datagrams. */
#define URING_WATCH 1u           /* the watched descriptor became readable: uring_watch again */
#define URING_TICK 2u            /* a tick passed */

/*
 * Handles what completed: datagrams go to the callback in batches, their answers are queued.
 * Returns URING_WATCH and URING_TICK bits.
 */
unsigned uring_process(struct uring *u);
void uring_watch(struct uring *u);

/* Stops receiving (graceful stop): datagrams still queued in the kernel are left there. */
void uring_stop(struct uring *u);

#endif
