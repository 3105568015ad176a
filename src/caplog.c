/*
 * caplog: rate-limited reports of limits hit (see include/caplog.h).
 */
#include "caplog.h"

#include <string.h>

#include "clock.h"
#include "log.h"

#define CAP_LOG_INTERVAL_MS 10000

void caplog_init(struct caplog *l, struct stats *stats, unsigned worker)
{
	memset(l, 0, sizeof(*l));
	l->stats = stats;
	l->worker = worker;
}

void caplog_hit(struct caplog *l, enum stat_id id, const char *what)
{
	uint64_t now = clock_now_ms();

	stats_inc(l->stats, id);
	l->unlogged[id]++;
	if (l->logged_ms[id] != 0 && now - l->logged_ms[id] < CAP_LOG_INTERVAL_MS)
		return;
	log_warn("worker %u: %s (%llu time%s since the last report)", l->worker, what,
		(unsigned long long)l->unlogged[id], l->unlogged[id] == 1 ? "" : "s");
	l->logged_ms[id] = now;
	l->unlogged[id] = 0;
}
