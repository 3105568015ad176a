/*
 * uring: client UDP through io_uring (see include/uring.h).
 *
 * The ring is made with SINGLE_ISSUER and DEFER_TASKRUN: completions are only worked off when
 * the worker itself enters the kernel to wait, so a datagram arriving while the worker is busy
 * neither interrupts it nor makes a later epoll_wait return EINTR, and the work is done in the
 * one io_uring_enter that also submits the answers. It is made disabled (R_DISABLED) on the
 * thread that builds the worker, and enabled by uring_start on the worker's own thread, which
 * is the only one that submits from then on.
 *
 * Receiving: one multishot recvmsg per socket draws from a ring of provided buffers, so a
 * wake-up costs no system call per socket; a buffer is given back once its batch is handled
 * (the query path reads the datagram and its peer address only during the callback and until
 * the batch's end, when listen flushes what it forwarded). The kernel ends a multishot receive
 * when the buffers run out or on an error; it is armed again at once.
 *
 * Sending: an answer is written straight into a send slot (buffer and msghdr; the peer's address
 * is read where the receive put it) and queued as a sendmsg with MSG_DONTWAIT, which the kernel
 * carries out inside the submitting call: it is sent or fails there (a full socket buffer loses
 * the datagram, as sendmmsg did), never waits. So once the queue is submitted whole, every slot
 * and every receive buffer is free again: they are handed back after the submit, not per
 * completion, and a send that succeeds posts no completion at all (CQE_SKIP_SUCCESS).
 */
#include "uring.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <liburing.h>

#include "log.h"

#define RING_ENTRIES 256
#define NBUFS 256                 /* provided receive buffers, a power of two */
#define BGID 1
#define IN_MAX 4096               /* as listen.c's UDP_IN_MAX: longer is truncated, dropped */
#define NAME_MAX_LEN ((socklen_t)sizeof(struct sockaddr_in6))
#define BUF_SIZE (((sizeof(struct io_uring_recvmsg_out) + NAME_MAX_LEN + IN_MAX) + 63) & ~(size_t)63)
#define NSEND 128
#define OUT_MAX 4096              /* as listen.c's UDP_OUT_MAX */
#define BATCH_MAX 64              /* datagrams handled per uring_process before submitting */

/* user_data: the kind in the low two bits, an index above */
enum { UD_RECV, UD_WATCH, UD_SEND, UD_CANCEL };
#define UD(kind, i) ((uint64_t)(i) << 2 | (kind))

struct send_slot {
	struct msghdr mh;
	struct iovec iov;
	uint8_t buf[OUT_MAX];
};

struct uring {
	struct io_uring ring;
	bool ring_ok;
	struct uring_env env;
	int *fds;                 /* owned copy of env.fds */
	bool *rearm;              /* owned: socket i's receive ended and must be armed again */
	bool watch_rearm;
	bool stopped;
	struct io_uring_buf_ring *br; /* owned mmap */
	size_t br_bytes;
	uint8_t *bufs;            /* owned: NBUFS * BUF_SIZE */
	struct msghdr recv_tmpl;  /* how the kernel lays out each buffer (name length only) */
	struct send_slot *slots;  /* owned: NSEND */
	unsigned nsend;           /* slots in use: queued since the queue was last submitted whole */
	unsigned recycled;        /* receive buffers to give back then */
	uint8_t scratch[OUT_MAX]; /* an answer when every send slot is taken (sent at once); here
	                             rather than on the stack of the per-datagram path */
	bool logged_recv_error;
};

static void setwhy(char *why, size_t whylen, const char *what, int err)
{
	snprintf(why, whylen, "%s: %s", what, strerror(err));
}

struct uring *uring_new(const struct uring_env *env, char *why, size_t whylen)
{
	struct io_uring_params p;
	struct uring *u = calloc(1, sizeof(*u)); /* owned by the worker */
	int r;

	if (u == NULL) {
		setwhy(why, whylen, "uring", ENOMEM);
		return NULL;
	}
	u->env = *env;
	if (getenv("BLOKIR_TEST_URING_REFUSE") != NULL) {
		snprintf(why, whylen, "io_uring_setup: refused (BLOKIR_TEST_URING_REFUSE is set, "
			"for tests only)");
		goto fail;
	}
	u->fds = malloc(env->n * sizeof(*u->fds));
	u->rearm = calloc(env->n, sizeof(*u->rearm));
	u->slots = malloc(NSEND * sizeof(*u->slots));
	/* zeroed: the kernel fills them behind valgrind's back, which must not see them unset */
	u->bufs = calloc(NBUFS, BUF_SIZE);
	if (u->fds == NULL || u->rearm == NULL || u->slots == NULL || u->bufs == NULL) {
		setwhy(why, whylen, "uring", ENOMEM);
		goto fail;
	}
	memcpy(u->fds, env->fds, env->n * sizeof(*u->fds));
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED;
	r = io_uring_queue_init_params(RING_ENTRIES, &u->ring, &p);
	if (r < 0) {
		if (r == -EINVAL)
			snprintf(why, whylen, "io_uring_setup: %s (DEFER_TASKRUN needs Linux 6.1)",
				strerror(-r));
		else if (r == -EPERM || r == -ENOSYS)
			snprintf(why, whylen, "io_uring_setup: %s (kernel.io_uring_disabled or a "
				"seccomp filter)", strerror(-r));
		else
			setwhy(why, whylen, "io_uring_setup", -r);
		goto fail;
	}
	u->ring_ok = true;
	if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_CQE_SKIP)) {
		snprintf(why, whylen, "io_uring: the kernel lacks EXT_ARG or CQE_SKIP (Linux 5.17)");
		goto fail;
	}

	/* The provided buffer ring: page-aligned memory the kernel reads the buffers' addresses
	 * from (liburing 2.3 has no io_uring_setup_buf_ring). */
	u->br_bytes = NBUFS * sizeof(struct io_uring_buf);
	u->br = mmap(NULL, u->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (u->br == MAP_FAILED) {
		u->br = NULL;
		setwhy(why, whylen, "mmap", errno);
		goto fail;
	}
	struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)u->br, .ring_entries = NBUFS,
		.bgid = BGID };
	r = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (r < 0) {
		setwhy(why, whylen, "io_uring_register_buf_ring", -r);
		goto fail;
	}
	io_uring_buf_ring_init(u->br);
	for (unsigned i = 0; i < NBUFS; i++)
		io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
			io_uring_buf_ring_mask(NBUFS), (int)i);
	io_uring_buf_ring_advance(u->br, NBUFS);
	u->recv_tmpl.msg_namelen = NAME_MAX_LEN;

	for (unsigned i = 0; i < NSEND; i++) {
		struct send_slot *s = &u->slots[i];
		s->iov.iov_base = s->buf;
		s->mh = (struct msghdr){ .msg_iov = &s->iov, .msg_iovlen = 1 };
	}
	return u;
fail:
	uring_free(u);
	return NULL;
}

void uring_free(struct uring *u)
{
	if (u == NULL)
		return;
	if (u->ring_ok)
		io_uring_queue_exit(&u->ring); /* cancels what is armed; the kernel lets go of the buffers */
	if (u->br != NULL)
		munmap(u->br, u->br_bytes);
	free(u->bufs);
	free(u->slots);
	free(u->rearm);
	free(u->fds);
	free(u);
}

/* An entry to fill: with the queue full, what is in it is submitted first. */
static struct io_uring_sqe *get_sqe(struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (sqe == NULL) {
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

static void arm_recv(struct uring *u, size_t i)
{
	struct io_uring_sqe *sqe = get_sqe(u);

	if (sqe == NULL) {
		u->rearm[i] = true; /* tried again after the next wait */
		return;
	}
	io_uring_prep_recvmsg_multishot(sqe, u->fds[i], &u->recv_tmpl, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, UD(UD_RECV, i));
	u->rearm[i] = false;
}

void uring_watch(struct uring *u)
{
	/* One-shot, armed again after each look: arming polls at once, so readiness that the
	 * look left behind (libevent handles a bounded amount per pass) is reported again. */
	struct io_uring_sqe *sqe = get_sqe(u);

	if (sqe == NULL) {
		u->watch_rearm = true;
		return;
	}
	io_uring_prep_poll_add(sqe, u->env.watch_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD(UD_WATCH, 0));
	u->watch_rearm = false;
}

int uring_start(struct uring *u, char *why, size_t whylen)
{
	/* liburing 2.3 declares io_uring_enable_rings but its library does not export it */
	if (syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) {
		setwhy(why, whylen, "io_uring_register(ENABLE_RINGS)", errno);
		return -1;
	}
	for (size_t i = 0; i < u->env.n; i++)
		arm_recv(u, i);
	uring_watch(u);
	return 0;
}

int uring_wait(struct uring *u, unsigned timeout_ms)
{
	struct io_uring_cqe *cqe;
	int r;

	for (size_t i = 0; i < u->env.n; i++)
		if (u->rearm[i] && !u->stopped)
			arm_recv(u, i);
	if (u->watch_rearm)
		uring_watch(u);
	if (timeout_ms == 0) {
		r = io_uring_submit_and_get_events(&u->ring);
	} else {
		struct __kernel_timespec ts = { timeout_ms / 1000, (long long)(timeout_ms % 1000) * 1000000 };
		r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
	}
	/* Everything queued was carried out (io_uring_submit* returns once it is): the slots and
	 * the buffers the answers' addresses were read from are free. Anything left unsubmitted
	 * (the kernel was short of memory) keeps them until a later submit takes it. */
	if (io_uring_sq_ready(&u->ring) == 0) {
		u->nsend = 0;
		if (u->recycled > 0) {
			io_uring_buf_ring_advance(u->br, (int)u->recycled);
			u->recycled = 0;
		}
	}
	if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
		errno = -r;
		return -1;
	}
	return 0;
}

/* One receive completion: the datagram in its buffer to the callback, the answer queued. */
static void handle_recv(struct uring *u, const struct io_uring_cqe *cqe, size_t i, bool *begun)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		u->rearm[i] = true;
	if (cqe->res < 0) {
		/* ENOBUFS: every buffer was taken; the next submit gives them back. ECANCELED:
		 * uring_stop. */
		if (cqe->res != -ENOBUFS && cqe->res != -ECANCELED && !u->logged_recv_error) {
			log_warn("udp-io io-uring: receive: %s", strerror(-cqe->res));
			u->logged_recv_error = true;
		}
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return;
	unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	uint8_t *buf = u->bufs + (size_t)bid * BUF_SIZE;

	/* given back after the next submit, when no queued answer reads its address any more */
	io_uring_buf_ring_add(u->br, buf, BUF_SIZE, (unsigned short)bid,
		io_uring_buf_ring_mask(NBUFS), (int)u->recycled++);
	/* The buffer: struct io_uring_recvmsg_out, the name (NAME_MAX_LEN bytes reserved), no
	 * control data, the payload (io_uring_recvmsg_validate and its friends, inline). */
	size_t hdr = sizeof(struct io_uring_recvmsg_out) + NAME_MAX_LEN;
	if (u->stopped || (size_t)cqe->res < hdr)
		return;
	const struct io_uring_recvmsg_out *o = (const void *)buf;
	struct sockaddr *peer = (struct sockaddr *)(buf + sizeof(*o));
	socklen_t peerlen = o->namelen < NAME_MAX_LEN ? o->namelen : NAME_MAX_LEN;
	struct send_slot *s = u->nsend < NSEND ? &u->slots[u->nsend] : NULL;
	uint8_t *out = s ? s->buf : u->scratch;

	if (!*begun) {
		u->env.batch(u->env.arg, true);
		*begun = true;
	}
	size_t n = u->env.datagram(u->env.arg, u->fds[i], buf + hdr, (size_t)cqe->res - hdr,
		(o->flags & MSG_TRUNC) != 0, peer, peerlen, out, OUT_MAX);
	if (n == 0)
		return;
	struct io_uring_sqe *sqe = s ? get_sqe(u) : NULL;
	if (sqe == NULL) { /* a queue not submitted whole: the old way */
		if (sendto(u->fds[i], out, n, MSG_DONTWAIT, peer, peerlen) < 0)
			log_debug("udp-io io-uring: sendto: %s", strerror(errno));
		return;
	}
	u->nsend++;
	s->mh.msg_name = peer;
	s->mh.msg_namelen = peerlen;
	s->iov.iov_len = n;
	io_uring_prep_sendmsg(sqe, u->fds[i], &s->mh, MSG_DONTWAIT);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, UD(UD_SEND, 0));
}

bool uring_process(struct uring *u)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0, datagrams = 0;
	bool begun = false, watch = false;

	io_uring_for_each_cqe(&u->ring, head, cqe) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		size_t idx = (size_t)(ud >> 2);

		seen++;
		switch (ud & 3) {
		case UD_RECV:
			handle_recv(u, cqe, idx, &begun);
			datagrams++;
			break;
		case UD_WATCH:
			watch = true;
			break;
		case UD_SEND: /* only a failed one: lost, as UDP may */
			log_debug("udp-io io-uring: sendmsg: %s", strerror(-cqe->res));
			break;
		default:
			break;
		}
		if (datagrams == BATCH_MAX)
			break;
	}
	io_uring_cq_advance(&u->ring, seen);
	if (begun)
		u->env.batch(u->env.arg, false);
	return watch;
}

void uring_stop(struct uring *u)
{
	if (u->stopped)
		return;
	u->stopped = true;
	for (size_t i = 0; i < u->env.n; i++) {
		struct io_uring_sqe *sqe = get_sqe(u);
		if (sqe == NULL)
			break;
		io_uring_prep_cancel64(sqe, UD(UD_RECV, i), 0);
		io_uring_sqe_set_data64(sqe, UD(UD_CANCEL, i));
	}
}
