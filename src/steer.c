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
 * The rule (steer_rule_step), from the workers' thread CPU time over each STEER_TICK_MS window and
 * what worker 0's sockets show, with hysteresis so that a load near the edge does not flap:
 *   - consolidated, spread at once when a query found no max-inflight slot (worker 0 has only
 *     its share of them) or worker 0's sockets dropped a datagram for a full receive buffer;
 *     spread when a worker used udp-consolidate % of a CPU or more in HOT_TICKS windows in a
 *     row, or worker 0's receive queue held an eighth of its buffer or more at DEEP_TICKS looks
 *     in a row. The queue rule catches what CPU time cannot: a worker 0 that shares its core
 *     with other busy processes is starved and never gets to use much of a CPU, however long
 *     its queue. It wants two looks because one deep queue is just as often a burst that worker
 *     0 has worked off by the next look (kxdpgun's at 150 k qps, measured: it spread on them
 *     when one look sufficed), and a queue that really grows shows again 100 ms later or
 *     overflows, which spreads at once. Any worker's CPU counts, not only worker 0's: while a
 *     blokir being replaced still has sockets in the same group (a restart that overlaps),
 *     index 0 may be one of its, and then index 0 moves when they close, to whichever socket
 *     the kernel puts there; the busiest worker is the one carrying the load whichever it is;
 *   - spread, consolidate when all workers together used less than half of udp-consolidate %
 *     of one CPU for QUIET_TICKS windows in a row, with nothing dropped, no deep queue on worker
 *     0's sockets and no query short of a max-inflight slot.
 * The half is the hysteresis, and room for what consolidating itself changes: one worker does
 * the same work with fewer wake-ups, so it never needs more CPU than the spread workers did.
 * The default 85 % is a load one worker keeps up with: a single server at 85 % busy makes a
 * datagram wait about three service times (M/D/1), some 10-15 microseconds, nothing beside a
 * resolver's round trip; and it is what one worker reaches at 150 k qps over veth (71-76 %: the
 * softirq work its sends cause is charged to its thread), where 70 % spread a load that one
 * worker carried at less CPU per query than two (README, Performance). A load that grows past
 * it within a window fills the queue and spreads on the drop or queue rule, not only on CPU.
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

#define QUIET_TICKS STEER_QUIET_TICKS
#define HOT_TICKS STEER_HOT_TICKS
#define DEEP_TICKS STEER_DEEP_TICKS
#define QUEUE_DEEP_DIV 8 /* deep: an eighth of the receive buffer or more is queued */

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
	struct steer_rule rule;      /* the rule's counters (its `consolidated` copied in per look) */
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
	struct sock_fprog prog;

	/* zeroed whole: the padding after `len` goes to the kernel too (valgrind checks it) */
	memset(&prog, 0, sizeof(prog));
	prog.len = 1;
	prog.filter = code;

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

/* REASON: why, for the debug line of a change ("" from steer_free, which logs nothing) */
static void set_state(struct steer *st, bool consolidate, const char *reason)
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
		log_debug("udp-consolidate: worker 0 takes all UDP (%s)", reason);
	else
		log_debug("udp-consolidate: UDP spread over %u workers (%s)", st->nworkers, reason);
}

/* What worker 0's sockets showed at one look (SO_MEMINFO, Linux 4.6; where it fails, CPU time
 * decides alone). */
struct backlog {
	uint64_t drops;   /* datagrams the kernel dropped for a full receive buffer since the last look */
	uint64_t queued;  /* bytes queued now on the fullest socket (the kernel's truesize) */
	uint64_t rcvbuf;  /* that socket's receive buffer */
};

static struct backlog look_backlog(struct steer *st)
{
	struct backlog b = { 0, 0, 0 };

	for (size_t i = 0; i < st->nfds; i++) {
		uint32_t mem[SK_MEMINFO_VARS] = { 0 };
		socklen_t len = sizeof(mem);

		if (getsockopt(st->fds[i], SOL_SOCKET, SO_MEMINFO, mem, &len) < 0)
			continue;
		b.drops += (uint32_t)(mem[SK_MEMINFO_DROPS] - st->last_drops[i]);
		st->last_drops[i] = mem[SK_MEMINFO_DROPS];
		if (b.rcvbuf == 0 || mem[SK_MEMINFO_RMEM_ALLOC] * (uint64_t)b.rcvbuf >
		    b.queued * mem[SK_MEMINFO_RCVBUF]) {
			b.queued = mem[SK_MEMINFO_RMEM_ALLOC];
			b.rcvbuf = mem[SK_MEMINFO_RCVBUF];
		}
	}
	return b;
}

enum steer_verdict steer_rule_step(struct steer_rule *r, const struct steer_look *l)
{
	if (l->percent == 0) {
		r->quiet = r->hot = r->deep = 0;
		return r->consolidated ? STEER_SPREAD_OFF : STEER_KEEP;
	}
	if (!r->consolidated) {
		if (l->busy_all * 2 < l->percent && !l->refused && l->drops == 0 && !l->deep) {
			if (++r->quiet >= QUIET_TICKS) {
				r->quiet = 0;
				return STEER_CONSOLIDATE;
			}
		} else {
			r->quiet = 0;
		}
		return STEER_KEEP;
	}
	/* CPU over two windows, so that a single burst of work (a worker opening its upstream
	   sockets, a cache being replaced) does not count as load; a deep queue likewise, since a
	   burst of datagrams that worker 0 works off before the next look is no reason to spread
	   (kxdpgun's bursts at 150 k qps fill an eighth of the buffer now and then) */
	r->hot = l->busy_one >= l->percent ? r->hot + 1 : 0;
	r->deep = l->deep ? r->deep + 1 : 0;
	enum steer_verdict v = l->refused ? STEER_SPREAD_INFLIGHT : l->drops > 0 ? STEER_SPREAD_DROPS :
		r->deep >= DEEP_TICKS ? STEER_SPREAD_QUEUE : r->hot >= HOT_TICKS ? STEER_SPREAD_CPU :
		STEER_KEEP;
	if (v != STEER_KEEP)
		r->hot = r->deep = 0;
	return v;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct steer *st = arg;
	uint64_t now = clock_now_ns(), elapsed = now - st->last_ns, sum = 0, busiest = 0;
	struct steer_look look = { 0 };
	const char *why = NULL;
	char reason[128];
	(void)fd;
	(void)what;

	for (unsigned i = 0; i < st->nworkers; i++) {
		struct steer_sample smp = { 0, 0 };
		const char *w = NULL;
		unsigned p = st->sample(st->arg, i, &smp, &w);
		uint64_t used = smp.cpu_ns >= st->last_cpu[i] ? smp.cpu_ns - st->last_cpu[i] : 0;

		if (i == 0) {
			look.percent = p;
			why = w;
		}
		if (used > busiest)
			busiest = used;
		sum += used;
		look.refused |= smp.inflight_full != st->last_full[i];
		st->last_cpu[i] = smp.cpu_ns;
		st->last_full[i] = smp.inflight_full;
	}
	st->last_ns = now;
	struct backlog bl = look_backlog(st);
	/* the first look, made once the workers run, only takes the counts to start from */
	if (!st->primed || elapsed == 0 || st->broken) {
		st->primed = true;
		return;
	}
	if (why != st->why && why != NULL)
		log_info("udp-consolidate: off while %s; every worker takes its share of UDP", why);
	st->why = why;
	look.busy_one = busiest * 100 / elapsed;
	look.busy_all = sum * 100 / elapsed;
	look.drops = bl.drops;
	look.deep = bl.rcvbuf > 0 && bl.queued * QUEUE_DEEP_DIV >= bl.rcvbuf;
	st->rule.consolidated = st->consolidated;
	switch (steer_rule_step(&st->rule, &look)) {
	case STEER_KEEP:
		return;
	case STEER_CONSOLIDATE:
		snprintf(reason, sizeof(reason), "the workers used %llu %% of a CPU",
			(unsigned long long)look.busy_all);
		set_state(st, true, reason);
		return;
	case STEER_SPREAD_OFF:
		snprintf(reason, sizeof(reason), "udp-consolidate is off");
		break;
	case STEER_SPREAD_INFLIGHT:
		snprintf(reason, sizeof(reason), "a query found no max-inflight slot");
		break;
	case STEER_SPREAD_DROPS:
		snprintf(reason, sizeof(reason), "worker 0's sockets dropped %llu datagrams",
			(unsigned long long)bl.drops);
		break;
	case STEER_SPREAD_QUEUE:
		snprintf(reason, sizeof(reason), "worker 0's receive queue held %llu of %llu bytes "
			"at %u looks in a row", (unsigned long long)bl.queued,
			(unsigned long long)bl.rcvbuf, DEEP_TICKS);
		break;
	case STEER_SPREAD_CPU:
		snprintf(reason, sizeof(reason), "the busiest used %llu %% of a CPU",
			(unsigned long long)look.busy_one);
		break;
	}
	set_state(st, false, reason);
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
	st->rule.quiet = STEER_QUIET_TICKS - 1;
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
		set_state(st, false, "");
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
