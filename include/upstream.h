/*
 * upstream: forwarding. Each worker keeps a pool of UDP sockets bound to kernel-chosen random
 * source ports (replaced after a number of queries), a table of pending queries indexed by
 * (socket, random query ID), and a deadline queue. An answer is accepted only from the address
 * and port the query went to, with the ID and the exact question sent; everything else is
 * counted and dropped while the query keeps waiting. On timeout the next upstream is tried, then
 * SERVFAIL. A truncated UDP answer is retried over TCP to the same upstream.
 */
#ifndef BLOKIR_UPSTREAM_H
#define BLOKIR_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"
#include "worker.h"

struct upstream *upstream_new(struct worker *w);
void upstream_free(struct upstream *u);

/*
 * Forwards the query Q (parsed from Q->packet, which is copied) for client C. Answers C with
 * SERVFAIL when max-inflight is reached.
 */
void upstream_forward(struct upstream *u, const struct wire_query *q, const struct client_ref *c);

size_t upstream_inflight(const struct upstream *u);

#endif
