/*
 * metrics: the Prometheus text exposition on `metrics-listen:`, served by libevent's evhttp on a
 * thread of its own with an event base of its own, so a scrape (or a scraper that never reads its
 * answer) never runs on a worker's loop or the main loop. What the page says is written by a
 * callback the daemon passes down (the server knows the counters; this module knows HTTP).
 *
 * GET /metrics answers 200 with text/plain; version=0.0.4; anything else is 404, and every
 * connection has a 10 s timeout.
 */
#ifndef BLOKIR_METRICS_H
#define BLOKIR_METRICS_H

#include <stdio.h>

#include "config.h"

struct metrics;

/* Writes the whole page to OUT. Called on the metrics thread, once per scrape. */
typedef void metrics_render_cb(void *arg, FILE *out);

/*
 * Binds EP (borrowed) and prepares the server; nothing is served before metrics_start. Returns
 * NULL (logged, errno set) when the address cannot be bound or memory runs out.
 */
struct metrics *metrics_new(const struct config_endpoint *ep, metrics_render_cb *cb, void *arg);
int metrics_start(struct metrics *m); /* starts the thread: 0, or -1 (logged) */
void metrics_free(struct metrics *m); /* stops the thread (if started) and frees everything */

#endif
