/*
 * worker: one thread, one libevent base, its own sockets. The daemon runs `workers:` of these;
 * each has its own SO_REUSEPORT UDP and TCP sockets on every listen address, its own upstream
 * sockets and pending-query table, counters and random pool, so the query path shares nothing
 * writable between threads. The only shared thing is the current policy, read through an atomic
 * pointer; see server.c for how a replaced policy is freed only after every worker has let go.
 *
 * A worker is where the query path is put together: it makes a listen, an upstream and a proxy
 * and wires them to each other with callbacks (the three never include each other's headers).
 * Only server.c uses this header; struct worker stays private to worker.c.
 */
#ifndef BLOKIR_WORKER_H
#define BLOKIR_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "policy.h"
#include "stats.h"

struct audit;
struct dnstap;
struct worker;
struct xfrout;

/* Bits the server posts to a worker's mailbox. */
#define WORKER_MAIL_POLICY 1u /* a new policy was published: acknowledge */
#define WORKER_MAIL_STOP   2u /* stop accepting, finish what is in flight, exit */
#define WORKER_MAIL_FLUSH  4u /* empty the answer cache (ctl flush-cache) */
#define WORKER_MAIL_SETTINGS 8u /* new settings were published (a reload): take them over */

/* What every worker shares with the server; all borrowed, outliving the worker. */
struct worker_shared {
	const struct config *cfg;          /* the start-up config, never changed */
	/* The settings in force (a reload publishes new ones) and their generation. The worker
	   acknowledges a generation once nothing of it reads the ones before: an upstream set
	   replaced by a reload first drains what it has in flight (no query is lost). */
	_Atomic(struct config *) *settings;
	_Atomic uint64_t *settings_gen;
	_Atomic(struct policy *) *policy;  /* the server's current policy */
	_Atomic uint64_t *policy_gen;      /* the server's generation counter */
	_Atomic unsigned *tcp_conns;       /* TCP client connections of all workers */
	/* The audit log and dnstap, NULL when off (ring and queue `index` are ours). A reload that
	   changes them stores the new ones before it publishes the settings, and the worker picks
	   them up with every settings generation it takes: the server frees a replaced one once
	   every worker has acknowledged that generation. */
	_Atomic(struct audit *) *audit;
	_Atomic(struct dnstap *) *dnstap;
	void (*ack_cb)(void *arg);         /* tells the server a mailbox item was handled, or that
	                                      the thread exited; called from the worker's thread */
	void *ack_arg;
	/* A NOTIFY for zone NAME from FROM: the RCODE to answer with (the zone-transfer module,
	   through the server); NULL without zones: NOTIFY is answered NOTIMP. */
	unsigned (*notify)(void *arg, const uint8_t *name, size_t len, const struct sockaddr *from,
		socklen_t fromlen);
	void *notify_arg;
	struct xfrout *xfrout;             /* the zone served (serve-rpz), or NULL */
};

/*
 * A worker numbered INDEX around already-bound sockets (UDP_FDS and TCP_FDS, N each, one per
 * listen address), which it owns from here on, also on failure. Returns NULL on failure (logged).
 */
struct worker *worker_new(unsigned index, const struct worker_shared *sh, const int *udp_fds,
	const int *tcp_fds, size_t n);
void worker_free(struct worker *w);

int worker_start(struct worker *w);   /* starts the thread */
void worker_post(struct worker *w, unsigned mail_bits); /* any thread */
void worker_join(struct worker *w);

/* Readable from any thread: */
uint64_t worker_seen_gen(const struct worker *w); /* last policy generation acknowledged */
uint64_t worker_settings_seen(const struct worker *w); /* last settings generation let go of */
bool worker_exited(const struct worker *w);       /* the thread has left its loop */
const struct stats *worker_stats(const struct worker *w);
/* How the worker reads client UDP (udp-io): "io-uring" or "sockets". */
const char *worker_udp_io(const struct worker *w);
/* The thread's CPU time in ns since it started (steer); 0 before the start and after the exit. */
uint64_t worker_cpu_ns(const struct worker *w);
/* CONFIG_UPSTREAMS_MAX blocks, by index in cfg->upstreams. */
const struct stats_upstream *worker_upstream_stats(const struct worker *w);

#endif
