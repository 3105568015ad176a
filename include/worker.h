/*
 * worker: one thread, one libevent base, its own sockets. The daemon runs `workers:` of these;
 * each has its own SO_REUSEPORT UDP and TCP sockets on every listen address, its own upstream
 * sockets and pending-query table, counters and random pool, so the query path shares nothing
 * writable between threads. The only shared thing is the current policy, read through an atomic
 * pointer; see server.c for how a replaced policy is freed only after every worker has let go.
 *
 * struct worker is visible to the four network modules (worker, listen, upstream, proxy) that
 * make up a worker; nothing else includes this header.
 */
#ifndef BLOKIR_WORKER_H
#define BLOKIR_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "policy.h"
#include "rand.h"
#include "stats.h"

struct event_base;
struct event;
struct listen;
struct upstream;
struct tcp_conn;

/* Where an answer goes: a UDP peer of one of our sockets, or a TCP connection. */
struct client_ref {
	struct tcp_conn *conn; /* NULL for UDP; held (listen_conn_hold) while a query is pending */
	int udp_fd;            /* UDP: the socket the query came in on */
	socklen_t addrlen;
	const struct sockaddr *addr; /* borrowed: valid only during the call it is passed to */
};

/* Bits the server posts to a worker's mailbox. */
#define WORKER_MAIL_POLICY 1u /* a new policy was published: acknowledge */
#define WORKER_MAIL_STOP   2u /* stop accepting, finish what is in flight, exit */

struct worker {
	unsigned index;
	pthread_t thread;
	struct event_base *base;           /* owned */
	const struct config *cfg;          /* borrowed: the start-up config, never changed */
	_Atomic(struct policy *) *policy;  /* borrowed: the server's current policy */
	struct stats stats;

	/* Server <-> worker messages: the server sets bits in `mail` and writes the eventfd. */
	int mail_fd;
	struct event *mail_ev;
	_Atomic unsigned mail;
	_Atomic uint64_t seen_gen;         /* last policy generation this worker acknowledged */
	_Atomic uint64_t *policy_gen;      /* borrowed: the server's generation counter */
	void (*ack_cb)(void *arg);         /* tells the server a mailbox item was handled */
	void *ack_arg;

	struct listen *listen;             /* owned */
	struct upstream *upstream;         /* owned */
	struct guard *guard;               /* owned: allow-from and rate limits */
	struct sendq *sendq;               /* owned: batched UDP sends (upstream queries, answers) */
	struct cache *cache;               /* owned: forwarded answers; NULL when cache-size is 0 */
	_Atomic unsigned *tcp_conns;       /* borrowed: TCP client connections of all workers */
	struct rand_pool rand;
	uint64_t cap_logged_ms[STAT_COUNT]; /* when worker_cap_hit last logged each limit */
	uint64_t cap_unlogged[STAT_COUNT];  /* hits since then */
	bool stopping;
	_Atomic bool exited;               /* the thread has left its loop */
	struct event *drain_ev;            /* owned: polls for the end of in-flight work on stop */
	unsigned drain_ticks_left;
	uint8_t tcp_frame[65535];          /* scratch: one TCP query, copied out of the stream */
};

static inline const struct policy *worker_policy(struct worker *w)
{
	return atomic_load_explicit(w->policy, memory_order_acquire);
}

/*
 * Sets up a worker around already-bound sockets (UDP_FDS and TCP_FDS, N each, one per listen
 * address; the worker owns them from here on). Returns 0 or -1 (logged); worker_release undoes
 * a partial setup.
 */
int worker_init(struct worker *w, unsigned index, const struct config *cfg,
	_Atomic(struct policy *) *policy, _Atomic uint64_t *policy_gen, void (*ack_cb)(void *),
	void *ack_arg, const int *udp_fds, const int *tcp_fds, size_t n);
/*
 * A limit stopped something (max-inflight, max-tcp-connections, a rate limit, allow-from, a slow
 * TCP client): counts it in ID and logs WHAT at most once per 10 s per limit and worker, with the
 * number of hits since the last line, so a flood cannot turn into a flood of log lines.
 */
void worker_cap_hit(struct worker *w, enum stat_id id, const char *what);

int worker_start(struct worker *w);   /* starts the thread */
void worker_post(struct worker *w, unsigned mail_bits); /* any thread */
void worker_join(struct worker *w);
void worker_release(struct worker *w);

#endif
