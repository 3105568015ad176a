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
 *
 * The tick: a timeout entry completes every tick_ms and is armed again when seen, so the worker
 * learns that its timers may be due from the ring itself, without reading the clock on every
 * wake-up or passing a timeout to each wait.
 *
 * The hot path works on the rings directly rather than through liburing's generic calls (one
 * pass over the completions, the system call made as io_uring_submit* makes it): per datagram
 * those calls cost as much again as the rest of the receive and send (callgrind,
 * bench/callgrind_q20.sh). The submission entries are split: the first NSEND are the send
 * slots' sendmsg entries, written once at the start and queued by their index (the ring's
 * indirection array), so an answer only sets its socket; the others are handed out in turn
 * for everything else. Both parts are free again once the queue was submitted whole.
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
#define HDR_LEN (sizeof(struct io_uring_recvmsg_out) + NAME_MAX_LEN)
#define BUF_LEN (HDR_LEN + IN_MAX) /* what the kernel may write: longer datagrams are truncated */
/* buffers apart by a power of two, so finding one is a shift (the pages past a small datagram
 * are never touched) */
#define BUF_STRIDE ((size_t)8192)
_Static_assert(BUF_LEN <= BUF_STRIDE, "a receive buffer in its stride");
#define NSEND 128                 /* send slots; their entries are the first NSEND */
_Static_assert(NSEND < RING_ENTRIES, "entries left for what is not a send");
#define OUT_MAX 4096              /* as listen.c's UDP_OUT_MAX */
#define BATCH_MAX 64              /* datagrams handed over per uring_process */

/* user_data: the kind in the low three bits, an index above */
enum { UD_RECV, UD_WATCH, UD_SEND, UD_CANCEL, UD_TICK };
#define UD(kind, i) ((uint64_t)(i) << 3 | (kind))

struct send_hdr {
	struct msghdr mh;
	struct iovec iov;
};

struct uring {
	struct io_uring ring;
	bool ring_ok;
	bool registered;          /* the ring's descriptor is registered: entered by its index */
	struct uring_env env;
	int *fds;                 /* owned copy of env.fds */
	bool *rearm;              /* owned: socket i's receive ended and must be armed again */
	bool any_rearm;           /* some rearm[i] is set */
	unsigned long fail_after; /* BLOKIR_TEST_URING_FAIL_AFTER: the wait that fails; 0 never */
	bool *later;              /* owned: socket i's receive failed oddly: armed again at the tick */
	bool any_later;
	bool watch_rearm, tick_rearm;
	bool stopped;
	struct __kernel_timespec tick; /* read by the kernel when the tick's entry is submitted */
	struct io_uring_buf_ring *br; /* owned mmap */
	size_t br_bytes;
	uint8_t *bufs;            /* owned: NBUFS * BUF_STRIDE */
	struct msghdr recv_tmpl;  /* how the kernel lays out each buffer (name length only) */
	unsigned br_tail;         /* the buffer ring's tail as last published */
	unsigned recycled;        /* receive buffers to give back after the next whole submit */
	bool in_order;            /* every buffer so far came back in the order the ring holds them */
	/* Send slots, NSEND of each (owned): an answer's buffer, and the msghdr its sendmsg reads.
	 * The buffers are apart, a power of two each, so finding one is a shift. */
	uint8_t (*outs)[OUT_MAX];
	struct send_hdr *hdrs;
	unsigned nsend;           /* slots in use: queued since the queue was last submitted whole */
	unsigned nother;          /* entries past the send slots' in use, likewise */
	struct uring_dgram batch[BATCH_MAX];
	uint8_t scratch[OUT_MAX]; /* an answer when every send slot is taken (sent at once) */
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
	u->tick.tv_sec = env->tick_ms / 1000;
	u->tick.tv_nsec = (long long)(env->tick_ms % 1000) * 1000000;
	/* tests only: the Nth wait fails as an enter that lost completions would (EBADR) */
	const char *fa = getenv("BLOKIR_TEST_URING_FAIL_AFTER");
	u->fail_after = fa != NULL ? strtoul(fa, NULL, 10) : 0;
	u->fds = malloc(env->n * sizeof(*u->fds));
	u->rearm = calloc(env->n, sizeof(*u->rearm));
	u->later = calloc(env->n, sizeof(*u->later));
	u->outs = malloc(NSEND * sizeof(*u->outs));
	u->hdrs = malloc(NSEND * sizeof(*u->hdrs));
	/* zeroed: the kernel fills them behind valgrind's back, which must not see them unset */
	u->bufs = calloc(NBUFS, BUF_STRIDE);
	if (u->fds == NULL || u->rearm == NULL || u->later == NULL || u->outs == NULL || u->hdrs == NULL ||
	    u->bufs == NULL) {
		setwhy(why, whylen, "uring", ENOMEM);
		goto fail;
	}
	memcpy(u->fds, env->fds, env->n * sizeof(*u->fds));
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED;
	/* Set up by hand rather than by io_uring_queue_init_params, which in liburing 2.5 and
	 * later also asks for IORING_SETUP_NO_SQARRAY: the ring would then have no SQ array, and
	 * push() queues the send entries by index through it. */
	r = (int)syscall(__NR_io_uring_setup, RING_ENTRIES, &p);
	if (r >= 0) {
		int fd = r;
		r = io_uring_queue_mmap(fd, &p, &u->ring);
		if (r < 0)
			close(fd);
		else if (u->ring.sq.array == NULL) {
			io_uring_queue_exit(&u->ring);
			r = -ENOTSUP;
		}
	} else {
		r = -errno;
	}
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
		io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * BUF_STRIDE, BUF_LEN, (unsigned short)i,
			io_uring_buf_ring_mask(NBUFS), (int)i);
	io_uring_buf_ring_advance(u->br, NBUFS);
	u->br_tail = NBUFS;
	u->in_order = true;
	u->recv_tmpl.msg_namelen = NAME_MAX_LEN;

	for (unsigned i = 0; i < NSEND; i++) {
		struct send_hdr *h = &u->hdrs[i];
		h->iov.iov_base = u->outs[i];
		h->mh = (struct msghdr){ .msg_iov = &h->iov, .msg_iovlen = 1 };
	}
	/* The kernel only reads the entries, so the send slots' stay as written here. */
	for (unsigned i = 0; i < NSEND; i++) {
		struct io_uring_sqe *sqe = &u->ring.sq.sqes[i];
		io_uring_prep_sendmsg(sqe, -1, &u->hdrs[i].mh, MSG_DONTWAIT);
		sqe->flags = IOSQE_CQE_SKIP_SUCCESS;
		sqe->user_data = UD(UD_SEND, 0);
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
	free(u->hdrs);
	free(u->outs);
	free(u->rearm);
	free(u->later);
	free(u->fds);
	free(u);
}

/* Entries queued and not yet taken by the kernel. */
static inline unsigned sq_pending(const struct uring *u)
{
	return u->ring.sq.sqe_tail - *u->ring.sq.khead;
}

/* io_uring_enter for everything queued (as liburing's submit calls make it, inline). */
static int enter(struct uring *u, unsigned min_complete, unsigned flags)
{
	struct io_uring_sq *sq = &u->ring.sq;

	if (sq->sqe_head != sq->sqe_tail) {
		sq->sqe_head = sq->sqe_tail;
		io_uring_smp_store_release(sq->ktail, sq->sqe_tail);
	}
	if (u->registered)
		flags |= IORING_ENTER_REGISTERED_RING;
	return (int)syscall(__NR_io_uring_enter, u->ring.enter_ring_fd, sq_pending(u), min_complete,
		flags, NULL, 0);
}

/* Entry IDX queued: the kernel takes entries in the order of the indirection array. */
static inline void push(struct io_uring_sq *sq, unsigned idx)
{
	sq->array[sq->sqe_tail++ & sq->ring_mask] = idx;
}

/* An entry past the send slots' to fill: with all taken, what is queued is submitted first. */
static struct io_uring_sqe *get_sqe(struct uring *u)
{
	if (u->nother == RING_ENTRIES - NSEND) {
		enter(u, 0, 0);
		if (sq_pending(u) != 0)
			return NULL;
		u->nother = 0;
	}
	unsigned idx = NSEND + u->nother++;
	push(&u->ring.sq, idx);
	return &u->ring.sq.sqes[idx];
}

static void arm_recv(struct uring *u, size_t i)
{
	struct io_uring_sqe *sqe = get_sqe(u);

	if (sqe == NULL) {
		u->rearm[i] = true; /* tried again before the next wait */
		u->any_rearm = true;
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

	u->watch_rearm = sqe == NULL;
	if (sqe == NULL)
		return;
	io_uring_prep_poll_add(sqe, u->env.watch_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD(UD_WATCH, 0));
}

/* The tick: a pure timeout (no completion count), one-shot, armed again when it completes. */
static void arm_tick(struct uring *u)
{
	struct io_uring_sqe *sqe = get_sqe(u);

	u->tick_rearm = sqe == NULL;
	if (sqe == NULL)
		return;
	io_uring_prep_timeout(sqe, &u->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, UD(UD_TICK, 0));
}

int uring_start(struct uring *u, char *why, size_t whylen)
{
	/* liburing 2.3 declares io_uring_enable_rings but its library does not export it */
	if (syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) {
		setwhy(why, whylen, "io_uring_register(ENABLE_RINGS)", errno);
		return -1;
	}
	/* Entering by a registered index spares the kernel a descriptor look-up (and its atomic
	 * reference count, the worker's process being threaded) per wake-up; without it
	 * (Linux before 5.18) the descriptor does. */
	u->registered = io_uring_register_ring_fd(&u->ring) == 1;
	for (size_t i = 0; i < u->env.n; i++)
		arm_recv(u, i);
	uring_watch(u);
	arm_tick(u);
	return 0;
}

int uring_wait(struct uring *u, bool block)
{
	if (u->any_rearm) {
		u->any_rearm = false;
		for (size_t i = 0; i < u->env.n; i++)
			if (u->rearm[i] && !u->stopped)
				arm_recv(u, i);
	}
	if (u->watch_rearm)
		uring_watch(u);
	if (u->tick_rearm)
		arm_tick(u);
	/* GETEVENTS also when not blocking: with DEFER_TASKRUN it is what works off completions */
	int r = enter(u, block ? 1 : 0, IORING_ENTER_GETEVENTS);
	int err = r < 0 ? errno : 0;
	/* Everything queued was carried out (the enter returns once it is): the slots and the
	 * buffers the answers' addresses were read from are free. Anything left unsubmitted (the
	 * kernel was short of memory) keeps them until a later submit takes it. */
	if (sq_pending(u) == 0) {
		u->nsend = 0;
		u->nother = 0;
		if (u->recycled > 0) {
			u->br_tail += u->recycled;
			io_uring_smp_store_release(&u->br->tail, (unsigned short)u->br_tail);
			u->recycled = 0;
		}
	}
	if (u->fail_after > 0 && --u->fail_after == 0) { /* BLOKIR_TEST_URING_FAIL_AFTER */
		r = -1;
		err = EBADR;
	}
	if (r < 0 && err != ETIME && err != EINTR && err != EAGAIN && err != EBUSY) {
		errno = err;
		return -1;
	}
	return 0;
}

/* What a pass over the completions keeps in registers rather than in struct uring. */
struct pass {
	uint8_t *bufs;
	const int *fds;
	unsigned pos;             /* the buffer ring's entry the next buffer given back goes to */
	bool in_order, stopped;
};

/*
 * Should a buffer ever come back out of the order the ring holds them, every buffer from then
 * on is written into its entry POS, as liburing's io_uring_buf_ring_add does, which is right in
 * any order.
 */
static void give_back_written(struct uring *u, struct pass *p, uint8_t *buf, unsigned bid)
{
	struct io_uring_buf *b = &u->br->bufs[p->pos & (NBUFS - 1)];

	p->in_order = false;
	b->addr = (uintptr_t)buf;
	b->len = BUF_LEN;
	b->bid = (unsigned short)bid;
}

/*
 * A receive's completion: its buffer queued to be given back, and the datagram in it written
 * to D. Returns false when it carried none to hand over.
 */
static inline bool take_recv(struct uring *u, struct pass *p, const struct io_uring_cqe *cqe,
	size_t i, struct uring_dgram *d)
{
	int res = cqe->res;
	unsigned flags = cqe->flags;

	/* ENOBUFS: every buffer was taken; the next submit gives them back. ECANCELED:
	 * uring_stop. Any other error (an LSM refusing the receive, ...) may end a receive
	 * armed again just as fast: that socket waits for the next tick, so an error that lasts
	 * costs a wake-up a tick, not a spinning core. */
	bool odd = res < 0 && res != -ENOBUFS && res != -ECANCELED;
	if (!(flags & IORING_CQE_F_MORE)) {
		if (odd) {
			u->later[i] = true;
			u->any_later = true;
		} else {
			u->rearm[i] = true;
			u->any_rearm = true;
		}
	}
	if (odd && !u->logged_recv_error) {
		log_warn("udp-io io-uring: receive: %s", strerror(-res));
		u->logged_recv_error = true;
	}
	/* a buffer comes back also with an error, should the kernel ever post one so */
	if (!(flags & IORING_CQE_F_BUFFER))
		return false;
	unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
	uint8_t *buf = p->bufs + (size_t)bid * BUF_STRIDE;

	/* Given back after the next submit, when no queued answer reads its address any more.
	 * The kernel hands out the ring's entries in order, and the completions come in that
	 * order: buffers given back in it go back to the entries they were taken from, which
	 * still name them, so the ring's tail is all that moves. */
	if (bid != (p->pos & (NBUFS - 1)) || !p->in_order)
		give_back_written(u, p, buf, bid);
	p->pos++;
	/* The buffer: struct io_uring_recvmsg_out, the name (NAME_MAX_LEN bytes reserved), no
	 * control data, the payload (io_uring_recvmsg_validate and its friends, inline). */
	if (res < 0 || p->stopped || (size_t)res < HDR_LEN)
		return false;
	const struct io_uring_recvmsg_out *o = (const void *)buf;
	d->pkt = buf + HDR_LEN;
	d->len = (uint32_t)((size_t)res - HDR_LEN);
	d->peer = (const struct sockaddr *)(buf + sizeof(*o));
	d->peerlen = o->namelen < NAME_MAX_LEN ? o->namelen : NAME_MAX_LEN;
	d->truncated = (o->flags & MSG_TRUNC) != 0;
	d->fd = p->fds[i];
	return true;
}

/* The completions that are not receives. */
static void take_other(struct uring *u, const struct io_uring_cqe *cqe, unsigned kind,
	unsigned *what)
{
	switch (kind) {
	case UD_WATCH:
		*what |= URING_WATCH;
		break;
	case UD_TICK:
		*what |= URING_TICK;
		arm_tick(u);
		if (u->any_later) {
			u->any_later = false;
			for (size_t i = 0; i < u->env.n; i++)
				if (u->later[i]) {
					u->later[i] = false;
					u->rearm[i] = u->any_rearm = true;
				}
		}
		break;
	case UD_SEND: /* only a failed one: lost, as UDP may */
		log_debug("udp-io io-uring: sendmsg: %s", strerror(-cqe->res));
		break;
	default:
		break;
	}
}

/* Answers sent at once, the old way: no send slot was free (a queue not submitted whole). */
static void send_now(const struct uring_dgram *d, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (d[k].outlen > 0 &&
		    sendto(d[k].fd, d[k].out, d[k].outlen, MSG_DONTWAIT, d[k].peer, d[k].peerlen) < 0)
			log_debug("udp-io io-uring: sendto: %s", strerror(errno));
}

/* The batch's answers queued: D[k] wrote its answer into slot FIRST + k, sent by entry FIRST + k. */
static void queue_answers(struct uring *u, size_t n, unsigned first)
{
	struct io_uring_sq *sq = &u->ring.sq;
	const struct uring_dgram *d = u->batch, *end = d + n;
	/* in locals: the compiler cannot tell that the stores below do not overlap them */
	struct io_uring_sqe *sqes = sq->sqes;
	unsigned *array = sq->array, t = sq->sqe_tail, mask = sq->ring_mask, idx = first;

	for (; d < end; d++, idx++) {
		if (d->outlen == 0)
			continue;
		struct send_hdr *h = &u->hdrs[idx];
		h->mh.msg_name = (void *)d->peer;
		h->mh.msg_namelen = d->peerlen;
		h->iov.iov_len = d->outlen;
		sqes[idx].fd = d->fd;
		array[t++ & mask] = idx;
	}
	sq->sqe_tail = t;
}

unsigned uring_process(struct uring *u)
{
	struct io_uring_cq *cq = &u->ring.cq;
	unsigned head = *cq->khead, tail = io_uring_smp_load_acquire(cq->ktail);
	unsigned first = u->nsend, room = NSEND - first, what = 0;
	/* every answer of the batch in a slot of its own; none free: one at a time, sent at once */
	struct uring_dgram *d = u->batch, *end = d + (room == 0 ? 1 : room < BATCH_MAX ? room : BATCH_MAX);
	uint8_t *out = room > 0 ? u->outs[first] : u->scratch;
	size_t step = room > 0 ? OUT_MAX : 0;
	struct pass p = { u->bufs, u->fds, u->br_tail + u->recycled, u->in_order, u->stopped };

	const struct io_uring_cqe *cqes = cq->cqes;
	unsigned mask = cq->ring_mask;

	for (; head != tail && d < end; head++) {
		const struct io_uring_cqe *cqe = &cqes[head & mask];
		uint64_t ud = cqe->user_data;
		if ((ud & 7) != UD_RECV) {
			take_other(u, cqe, (unsigned)(ud & 7), &what);
			continue;
		}
		if (take_recv(u, &p, cqe, (size_t)(ud >> 3), d)) {
			d->out = out;
			out += step;
			d++;
		}
	}
	/* the completions were copied out: the kernel may reuse their entries */
	io_uring_smp_store_release(cq->khead, head);
	u->recycled = p.pos - u->br_tail;
	u->in_order = p.in_order;
	size_t n = (size_t)(d - u->batch);
	if (n > 0) {
		u->env.batch(u->env.arg, u->batch, n, OUT_MAX);
		u->nsend += room > 0 ? (unsigned)n : 0;
		if (room > 0)
			queue_answers(u, n, first);
		else
			send_now(u->batch, n);
	}
	return what;
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
