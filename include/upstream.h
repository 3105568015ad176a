/*
 * upstream: forwarding. Each worker keeps a pool of UDP sockets bound to kernel-chosen random
 * source ports (replaced after a number of queries), a table of pending queries indexed by
 * (socket, random query ID), and a deadline queue. An answer is accepted only from the address
 * and port the query went to, with the ID and the exact question sent; everything else is
 * counted and dropped while the query keeps waiting. On timeout the next upstream is tried, then
 * SERVFAIL. A truncated UDP answer is retried over TCP to the same upstream.
 *
 * upstream calls nothing above it: what happens to an answer, or to a query that failed, is up to
 * the callbacks it was given, and a TCP client is kept alive through the hold/release operations.
 */
#ifndef BLOKIR_UPSTREAM_H
#define BLOKIR_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "wire.h"

struct caplog;
struct config;
struct observe;
struct event_base;
struct rand_pool;
struct sendq;
struct stats;
struct upstream;

/*
 * A checked answer ANS (LEN bytes; its ID and question spelling already the client's, and the
 * callee may modify it) for client C, whose UDP size is LIMIT (65535 over TCP). ANS lives in a
 * receive buffer that upstream sends the send queue out of (sendq_flush) before reusing it.
 * QUERY (QLEN bytes) is the query as it was forwarded (its ID field is upstream's), borrowed for
 * the call: what the answer cache keys the answer on.
 */
typedef void (*upstream_answer_cb)(void *arg, const struct client_ref *c, uint8_t *ans,
	size_t len, const struct wire_answer *a, size_t limit, const uint8_t *query, size_t qlen);
/*
 * Every upstream failed, or the query could not be forwarded: answer Q (the client's ID) with
 * RCODE, SERVFAIL unless the last upstream answered an error of its own (REFUSED, FORMERR, ...).
 */
typedef void (*upstream_fail_cb)(void *arg, const struct client_ref *c, const struct wire_query *q,
	unsigned rcode);

/* What an upstream works with; every pointer is borrowed and must outlive it. */
struct upstream_env {
	struct event_base *base;
	const struct config *cfg;
	struct stats *stats;
	struct caplog *caps;
	struct observe *observe;      /* dnstap messages of queries sent and answers accepted */
	struct sendq *sendq;          /* queries go out through it */
	struct rand_pool *rand;       /* query IDs and 0x20 case */
	unsigned index;               /* the worker's number, for log lines */
	struct stats_upstream *up_stats; /* per upstream (index in cfg->upstreams): tries, answers */
	bool time_upstreams;          /* time each try for the latency histogram (metrics on) */
	upstream_answer_cb answer;
	upstream_fail_cb fail;
	void *arg;                    /* for answer and fail */
	client_hold_cb hold, release; /* on client_ref.conn while a query is pending */
};

/* Returns NULL on failure (logged). */
struct upstream *upstream_new(const struct upstream_env *env);
void upstream_free(struct upstream *u);

/*
 * A reload that left every upstream key alone (upstreams, upstream-timeout-ms, use-0x20,
 * upstream-sockets, max-inflight): CFG (borrowed) carries the same values, and replaces the
 * configuration U reads. When one of them changed, the worker makes a new upstream instead and
 * lets this one drain.
 */
void upstream_set_config(struct upstream *u, const struct config *cfg);

/* metrics-listen switched on or off by a reload: time each try for the latency histogram from
 * the next one on (a try sent before is counted without its time). */
void upstream_set_timing(struct upstream *u, bool on);

/*
 * Forwards the query Q (parsed from Q->packet, which is copied) for client C. Fails at once
 * (the fail callback) when max-inflight is reached.
 */
void upstream_forward(struct upstream *u, const struct wire_query *q, const struct client_ref *c);

size_t upstream_inflight(const struct upstream *u);

#endif
