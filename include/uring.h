/*
 * uring: a worker's client UDP through io_uring (udp-io). One ring per worker receives on each
 * of the worker's client UDP sockets with a multishot recvmsg into a ring of provided buffers,
 * sends the answers given at once as sendmsg entries queued during the batch, and watches one
 * more descriptor (the worker's libevent epoll fd) with a poll entry. A worker that waits in
 * uring_wait makes one system call per wake-up: it submits the last batch's answers and waits
 * for the next datagrams (or the other descriptor) together, where the socket path makes three
 * (epoll_wait, recvmmsg, sendmmsg).
 *
 * uring knows nothing of DNS: every datagram goes to the callback it was given, which returns
 * the length of an answer to send back at once, or 0. It calls nothing above it.
 */
#ifndef BLOKIR_URING_H
#define BLOKIR_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct uring;

/*
 * One datagram PKT (LEN bytes; TRUNCATED when it was longer than the buffer) from PEER on FD.
 * Returns the length of an answer written to OUT (CAP bytes) to send to PEER on FD now, or 0.
 */
typedef size_t (*uring_datagram_cb)(void *arg, int fd, const uint8_t *pkt, size_t len,
	bool truncated, const struct sockaddr *peer, socklen_t peerlen, uint8_t *out, size_t cap);
/* Before the first and after the last datagram of a batch (BEGIN true, then false). */
typedef void (*uring_batch_cb)(void *arg, bool begin);

struct uring_env {
	const int *fds;          /* borrowed: the client UDP sockets, open while the ring lives */
	size_t n;
	int watch_fd;            /* borrowed: a descriptor whose readability uring_process reports */
	uring_datagram_cb datagram;
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

/* On the thread that will call uring_wait from now on: arms the receives and the watch. */
int uring_start(struct uring *u, char *why, size_t whylen);

/*
 * Submits what is queued and waits up to TIMEOUT_MS (0: not at all) for something to handle.
 * Returns 0, or -1 on an error other than a timeout or a signal (errno set).
 */
int uring_wait(struct uring *u, unsigned timeout_ms);

/*
 * Handles what completed: datagrams go to the callback in batches, their answers are queued.
 * Returns true when the watched descriptor became readable; uring_watch arms it again.
 */
bool uring_process(struct uring *u);
void uring_watch(struct uring *u);

/* Stops receiving (graceful stop): datagrams still queued in the kernel are left there. */
void uring_stop(struct uring *u);

#endif
