/*
 * steer: which workers the kernel hands client UDP datagrams to (udp-consolidate).
 *
 * Every worker has its own SO_REUSEPORT UDP socket on each listen address and the kernel spreads
 * datagrams over them by a hash of the addresses and ports. At a moderate rate that costs CPU:
 * each wake-up of a worker pays a whole event-loop turn (epoll_wait, libevent's dispatch, a
 * recvmmsg, a sendmmsg, a scheduler wake-up) for the few datagrams it finds, and with N workers
 * each finds 1/N of them. While the load is small enough for one worker, steer attaches a classic
 * BPF program to each address's reuseport group (SO_ATTACH_REUSEPORT_CBPF) that gives every
 * datagram to the group's first socket, worker 0's; the other workers sleep, worker 0 wakes with
 * fuller batches. When worker 0 gets busy, the program is removed and the kernel's hash spreads
 * the load again. TCP is not steered.
 *
 * steer runs on the main loop and looks every STEER_TICK_MS at each worker's thread CPU time
 * (through a callback: it does not know workers). It calls nothing above it.
 */
#ifndef BLOKIR_STEER_H
#define BLOKIR_STEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct steer;

/* What steer learns about worker INDEX at each look. */
struct steer_sample {
	uint64_t cpu_ns;        /* the thread's CPU time so far; 0 when it cannot be read */
	uint64_t inflight_full; /* queries it answered SERVFAIL for want of a max-inflight slot */
};

/*
 * Fills OUT for worker INDEX. Returns the udp-consolidate percentage in force (0: off) when
 * INDEX is 0; for other workers the return value is ignored. When consolidating must not
 * happen under the settings in force, returns 0 and points *WHY at the reason (static text),
 * which steer logs once per change.
 */
typedef unsigned (*steer_sample_cb)(void *arg, unsigned index, struct steer_sample *out,
	const char **why);

/*
 * Steering for NWORKERS workers whose first worker's UDP sockets are FDS (NFDS, one per listen
 * address, each first in its reuseport group: server.c binds worker 0's sockets before the
 * others'). FDS are borrowed and must stay open while steer lives; the first look is made from
 * BASE's loop one tick after it runs, so the workers may be started after this. Returns NULL when NWORKERS
 * is 1 (nothing to steer) or out of memory (logged).
 */
struct steer *steer_new(struct event_base *base, const int *fds, size_t nfds, unsigned nworkers,
	steer_sample_cb sample, void *arg);
/* Stops looking and lets the kernel spread again. NULL is a no-op. */
void steer_free(struct steer *st);

/* Readable from any thread (the metrics page): */
unsigned steer_active(const struct steer *st);      /* workers given UDP now: 1 or all */
uint64_t steer_changes(const struct steer *st);     /* changes either way since start */

#define STEER_TICK_MS 100

/* ---- the rule (steer.c's comment says why it is what it is), apart for its unit test ---- */

#define STEER_QUIET_TICKS 10 /* looks of small load in a row before consolidating (a second) */
#define STEER_HOT_TICKS 2    /* looks in a row with a worker at udp-consolidate % or more */
#define STEER_DEEP_TICKS 2   /* looks in a row that find worker 0's receive queue deep */

/* What one look saw, over the last STEER_TICK_MS window. */
struct steer_look {
	unsigned percent;  /* udp-consolidate in force; 0: off (or off under the settings) */
	uint64_t busy_one; /* the busiest worker's CPU time, percent of one CPU */
	uint64_t busy_all; /* all workers' together */
	bool refused;      /* a query found no max-inflight slot */
	uint64_t drops;    /* datagrams worker 0's sockets dropped for a full receive buffer */
	bool deep;         /* worker 0's receive queue holds an eighth of its buffer or more now */
};

/* The rule's memory between looks; zeroed (and `consolidated` kept current) by the caller. */
struct steer_rule {
	bool consolidated;
	unsigned quiet, hot, deep;
};

enum steer_verdict {
	STEER_KEEP,
	STEER_CONSOLIDATE,
	STEER_SPREAD_OFF,      /* udp-consolidate off */
	STEER_SPREAD_INFLIGHT, /* the reasons to spread, in the order they are checked */
	STEER_SPREAD_DROPS,
	STEER_SPREAD_QUEUE,
	STEER_SPREAD_CPU,
};

/* One look: updates R's counters and says what to do. Pure: no system call, no log. */
enum steer_verdict steer_rule_step(struct steer_rule *r, const struct steer_look *l);

#endif
