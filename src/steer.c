/*
 * steer: consolidating client UDP on worker 0 at low load (see include/steer.h).
 *
 * The socket a reuseport group's classic BPF program returns is the one at that index in the
 * group, and sockets join their group in the order they are bound: server.c binds worker 0's
 * socket on each address first, so index 0 is worker 0's on every address (IPv4 and IPv6
 * addresses, and every listen address, are groups of their own; each gets the program). A
 * program that returns 0 gives every datagram to worker 0. To spread again the program is
 * detached (SO_DETACH_REUSEPORT_BPF, Linux 5.8); on an older kernel a program that returns an
 * index past the group's end takes its place, which the kernel answers with its own hash, the
 * same spreading as no program at all. Datagrams already queued on another worker's socket are
 * still read by that worker: its socket stays in its loop, it only stops getting new ones.
 *
 * The rule, from the workers' thread CPU time over each STEER_TICK_MS window, with hysteresis so
 * that a load near the edge does not flap:
 *   - consolidated, a worker used udp-consolidate % of a CPU or more in HOT_TICKS windows in a
 *     row, or worker 0's sockets
 *     fall behind (backlogged), or a query found no max-inflight slot (worker 0 has only its
 *     share of them): spread at once. Any worker, not
 *     only worker 0: while a blokir being replaced still has sockets in the same group (a
 *     restart that overlaps), index 0 may be one of its, and then index 0 moves when they
 *     close, to whichever socket the kernel puts there; the busiest worker is the one carrying
 *     the load whichever it is;
 *   - spread, all workers together used less than half of udp-consolidate % of one CPU for
 *     QUIET_TICKS windows in a row, with no backlog on worker 0's sockets and no query short of
 *     a max-inflight slot: consolidate.
 * The half is the hysteresis, and room for what consolidating itself changes: one worker does
 * the same work with fewer wake-ups, so it never needs more CPU than the spread workers did.
 * The default 70 % keeps worker 0's queueing delay small (a single server at 70 % busy makes a
 * datagram wait about one service time, a few microseconds) and leaves it room for a burst
 * during the window it takes to notice; see README, Performance, for the measurements.
 *
 * Thread CPU time says nothing when busy-poll-us makes a worker spin, and a rate limit is kept
 * per worker (guard.c: rate-limit-qps / workers each), so one worker taking every client would
 * halve every client network's limit; under either setting the sample callback says no, and
 * the kernel spreads as it always has. If the kernel refuses the program (EPERM under a seccomp
 * filter, ENOPROTOOPT before Linux 4.5), steer says so once and leaves the spreading alone.
 */
#include "steer.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/sock_diag.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF 68
#endif

#define QUIET_TICKS 10 /* a second of small load before the workers are consolidated */
#define HOT_TICKS 2    /* windows in a row of a busy worker before they are spread */

struct steer {
	struct event *tick;          /* owned */
	int *fds;                    /* owned array of borrowed descriptors */
	size_t nfds;
	unsigned nworkers;
	steer_sample_cb sample;
	void *arg;
	bool consolidated;
	bool primed;                 /* the counts below were taken once */
	bool broken;                 /* the kernel refused: spreading as without steer */
	bool stuck;                  /* spreading failed (logged once): tried again at each look */
	bool detach_works;           /* SO_DETACH_REUSEPORT_BPF known to work here */
	unsigned quiet;              /* consecutive small-load windows while spread */
	unsigned hot;                /* consecutive busy windows while consolidated */
	const char *why;             /* the last reason the settings gave against it */
	uint64_t last_ns;
	uint64_t *last_cpu;          /* owned, per worker */
	uint64_t *last_full;         /* owned, per worker */
	uint32_t *last_drops;        /* owned, per steered socket: the kernel's drop count */
	_Atomic unsigned active;
	_Atomic uint64_t changes;
};

/* Every datagram to the group's first socket (worker 0), or, with ~0, past the end: the hash. */
static int attach_index(int fd, uint32_t index)
{
	struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, index) };
	struct sock_fprog prog = { .len = 1, .filter = code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
}

static int spread_one(struct steer *st, int fd)
{
	int zero = 0;

	if (st->detach_works && setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &zero,
	    sizeof(zero)) == 0)
		return 0;
	st->detach_works = false;
	return attach_index(fd, UINT32_MAX);
}

static void set_state(struct steer *st, bool consolidate, uint64_t busy_one, uint64_t busy_all)
{
	for (size_t i = 0; i < st->nfds; i++) {
		if ((consolidate ? attach_index(st->fds[i], 0) : spread_one(st, st->fds[i])) == 0)
			continue;
		if (!consolidate) {
			/* Neither detaching nor replacing the program worked where attaching it did
			   (memory): worker 0 keeps every datagram, and the next look tries again. */
			if (!st->stuck)
				log_warn("udp-consolidate: cannot remove the steering program (%s); "
					"worker 0 still takes all UDP", strerror(errno));
			st->stuck = true;
			return;
		}
		log_info("udp-consolidate: the kernel refused the steering program (%s); every "
			"worker takes its share of UDP", strerror(errno));
		st->broken = true;
		/* the addresses that took the program give it back */
		for (size_t j = 0; j < i; j++)
			spread_one(st, st->fds[j]);
		return;
	}
	st->stuck = false;
	if (consolidate == st->consolidated)
		return;
	st->consolidated = consolidate;
	atomic_store(&st->active, consolidate ? 1 : st->nworkers);
	atomic_fetch_add(&st->changes, 1);
	if (st->tick == NULL) /* steer_free: not a decision */
		return;
	if (consolidate)
		log_debug("udp-consolidate: worker 0 takes all UDP (the workers used %llu %% of a CPU)",
			(unsigned long long)busy_all);
	else
		log_debug("udp-consolidate: UDP spread over %u workers (the busiest used %llu %% of a "
			"CPU)", st->nworkers, (unsigned long long)busy_one);
}

/*
 * Whether worker 0's sockets fall behind: a datagram dropped for a full receive buffer since the
 * last look, or one eighth of the buffer queued now (hundreds of datagrams: at a load it carries,
 * the queue is a few at any instant). This catches what CPU time cannot: a worker 0 that shares
 * its core with other busy processes is starved and never gets to use much of a CPU, however
 * long its queue. SO_MEMINFO since Linux 4.6; where it fails, CPU time decides alone.
 */
static bool backlogged(struct steer *st)
{
	bool behind = false;

	for (size_t i = 0; i < st->nfds; i++) {
		uint32_t mem[SK_MEMINFO_VARS] = { 0 };
		socklen_t len = sizeof(mem);

		if (getsockopt(st->fds[i], SOL_SOCKET, SO_MEMINFO, mem, &len) < 0)
			continue;
		if (mem[SK_MEMINFO_DROPS] != st->last_drops[i] ||
		    (uint64_t)mem[SK_MEMINFO_RMEM_ALLOC] * 8 >= mem[SK_MEMINFO_RCVBUF])
			behind = true;
		st->last_drops[i] = mem[SK_MEMINFO_DROPS];
	}
	return behind;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct steer *st = arg;
	uint64_t now = clock_now_ns(), elapsed = now - st->last_ns, sum = 0, busiest = 0;
	unsigned percent = 0;
	const char *why = NULL;
	bool pressed = false; /* backlog or max-inflight refusals */
	(void)fd;
	(void)what;

	for (unsigned i = 0; i < st->nworkers; i++) {
		struct steer_sample smp = { 0, 0 };
		const char *w = NULL;
		unsigned p = st->sample(st->arg, i, &smp, &w);
		uint64_t used = smp.cpu_ns >= st->last_cpu[i] ? smp.cpu_ns - st->last_cpu[i] : 0;

		if (i == 0) {
			percent = p;
			why = w;
		}
		if (used > busiest)
			busiest = used;
		sum += used;
		pressed |= smp.inflight_full != st->last_full[i];
		st->last_cpu[i] = smp.cpu_ns;
		st->last_full[i] = smp.inflight_full;
	}
	st->last_ns = now;
	pressed |= backlogged(st);
	/* the first look, made once the workers run, only takes the counts to start from */
	if (!st->primed || elapsed == 0 || st->broken) {
		st->primed = true;
		return;
	}
	if (why != st->why && why != NULL)
		log_info("udp-consolidate: off while %s; every worker takes its share of UDP", why);
	st->why = why;
	uint64_t busy_one = busiest * 100 / elapsed, busy_all = sum * 100 / elapsed;
	if (percent == 0) {
		st->quiet = st->hot = 0;
		if (st->consolidated)
			set_state(st, false, busy_one, busy_all);
	} else if (st->consolidated) {
		/* CPU over two windows, so that a single burst of work (a worker opening its
		   upstream sockets, a cache being replaced) does not count as load */
		st->hot = busy_one >= percent ? st->hot + 1 : 0;
		if (st->hot >= HOT_TICKS || pressed) {
			st->hot = 0;
			set_state(st, false, busy_one, busy_all);
		}
	} else if (busy_all * 2 < percent && !pressed) {
		if (++st->quiet >= QUIET_TICKS) {
			st->quiet = 0;
			set_state(st, true, busy_one, busy_all);
		}
	} else {
		st->quiet = 0;
	}
}

struct steer *steer_new(struct event_base *base, const int *fds, size_t nfds, unsigned nworkers,
	steer_sample_cb sample, void *arg)
{
	struct timeval tv = { 0, STEER_TICK_MS * 1000 };
	struct steer *st;

	if (nworkers < 2 || nfds == 0)
		return NULL;
	st = calloc(1, sizeof(*st)); /* owned by the server */
	if (st == NULL)
		goto fail;
	st->nfds = nfds;
	st->nworkers = nworkers;
	st->sample = sample;
	st->arg = arg;
	st->detach_works = true;
	/* the first quiet window consolidates: a daemon starts with no load */
	st->quiet = QUIET_TICKS - 1;
	atomic_store(&st->active, nworkers);
	st->fds = malloc(nfds * sizeof(*st->fds));
	st->last_cpu = calloc(nworkers, sizeof(*st->last_cpu));
	st->last_full = calloc(nworkers, sizeof(*st->last_full));
	st->last_drops = calloc(nfds, sizeof(*st->last_drops));
	if (st->fds == NULL || st->last_cpu == NULL || st->last_full == NULL ||
	    st->last_drops == NULL)
		goto fail;
	memcpy(st->fds, fds, nfds * sizeof(*fds));
	st->tick = event_new(base, -1, EV_PERSIST, tick_cb, st);
	if (st->tick == NULL || event_add(st->tick, &tv) < 0)
		goto fail;
	return st;
fail:
	log_err("udp-consolidate: out of memory; every worker takes its share of UDP");
	steer_free(st);
	return NULL;
}

void steer_free(struct steer *st)
{
	if (st == NULL)
		return;
	if (st->tick)
		event_free(st->tick);
	st->tick = NULL;
	if (st->consolidated)
		set_state(st, false, 0, 0);
	free(st->fds);
	free(st->last_cpu);
	free(st->last_full);
	free(st->last_drops);
	free(st);
}

unsigned steer_active(const struct steer *st)
{
	return atomic_load(&((struct steer *)st)->active);
}

uint64_t steer_changes(const struct steer *st)
{
	return atomic_load(&((struct steer *)st)->changes);
}
