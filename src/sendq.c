/*
 * sendq: batched UDP sends (see include/sendq.h). sendmmsg takes one socket, so the queue is
 * sent as runs of consecutive entries with the same socket; callers naturally queue runs (the
 * answers of one receive batch go out through one listening socket).
 */
#include "sendq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "mmsg.h"

#define SENDQ_MAX 64

struct sendq {
	unsigned n;
	unsigned generation;    /* flushes so far */
	unsigned batches;       /* open sendq_batch_begin calls */
	struct event *flush_ev; /* owned: the safety net */
	int fds[SENDQ_MAX];
	struct mmsghdr msgs[SENDQ_MAX];
	struct iovec iov[SENDQ_MAX][3];
	struct sockaddr_storage addrs[SENDQ_MAX];
};

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sendq_flush(arg);
}

struct sendq *sendq_new(struct event_base *base)
{
	struct sendq *q = calloc(1, sizeof(*q)); /* owned by the worker */

	if (q == NULL)
		return NULL;
	q->flush_ev = event_new(base, -1, 0, flush_cb, q);
	if (q->flush_ev == NULL) {
		free(q);
		return NULL;
	}
	return q;
}

void sendq_free(struct sendq *q)
{
	if (q == NULL)
		return;
	sendq_flush(q);
	event_free(q->flush_ev);
	free(q);
}

void sendq_add(struct sendq *q, int fd, const struct sockaddr *addr, socklen_t addrlen,
	const struct iovec *iov, size_t iovcnt)
{
	unsigned i;

	if (q->n == SENDQ_MAX)
		sendq_flush(q);
	i = q->n++;
	if (i == 0 && q->batches == 0)
		event_active(q->flush_ev, 0, 0);
	q->fds[i] = fd;
	if (addrlen > sizeof(q->addrs[i]))
		addrlen = sizeof(q->addrs[i]);
	if (addr != NULL)
		memcpy(&q->addrs[i], addr, addrlen);
	memcpy(q->iov[i], iov, iovcnt * sizeof(*iov));
	q->msgs[i].msg_hdr = (struct msghdr){ .msg_name = addr ? &q->addrs[i] : NULL,
		.msg_namelen = addr ? addrlen : 0,
		.msg_iov = q->iov[i], .msg_iovlen = iovcnt };
}

/* Sends entries [from, to), all on one socket. */
static void send_run(struct sendq *q, unsigned from, unsigned to)
{
	while (from < to) {
		int r = mmsg_send(q->fds[from], q->msgs + from, to - from);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* Full buffer or unreachable peer: this datagram is lost, as UDP allows. */
			log_debug("sendmmsg: %s", strerror(errno));
			r = 1;
		}
		from += (unsigned)r;
	}
}

void sendq_flush(struct sendq *q)
{
	unsigned start = 0;

	/* Nothing queued, no batch: the generation counts batches that went out (upstream.c). */
	if (q->n == 0)
		return;

	for (unsigned i = 1; i <= q->n; i++) {
		if (i == q->n || q->fds[i] != q->fds[start]) {
			send_run(q, start, i);
			start = i;
		}
	}
	q->n = 0;
	q->generation++;
}

unsigned sendq_generation(const struct sendq *q)
{
	return q->generation;
}

void sendq_batch_begin(struct sendq *q)
{
	q->batches++;
}

void sendq_batch_end(struct sendq *q)
{
	if (--q->batches == 0)
		sendq_flush(q);
}
