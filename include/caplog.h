/*
 * caplog: counting and reporting the limits that stopped something (max-inflight,
 * max-tcp-connections, a rate limit, allow-from, a slow TCP client). Each hit is counted in the
 * worker's stats; the log gets at most one line per 10 s per limit and worker, with the number of
 * hits since the last line, so a flood cannot turn into a flood of log lines. One per worker,
 * used only on its thread.
 */
#ifndef BLOKIR_CAPLOG_H
#define BLOKIR_CAPLOG_H

#include <stdint.h>

#include "stats.h"

struct caplog {
	struct stats *stats;                /* borrowed: the worker's counters */
	unsigned worker;                    /* named in the log line */
	uint64_t logged_ms[STAT_COUNT];     /* when each limit last logged */
	uint64_t unlogged[STAT_COUNT];      /* hits since then */
};

void caplog_init(struct caplog *l, struct stats *stats, unsigned worker);

/* A limit stopped something: counts it in ID and logs WHAT when it is time to. */
void caplog_hit(struct caplog *l, enum stat_id id, const char *what);

#endif
