/*
 * stats: summing and printing the per-worker counters (see include/stats.h). The key names are
 * part of the operator interface (SIGUSR1 log line, README): change them only with the README.
 */
#include "stats.h"

#include <stdio.h>

static const char *const stat_names[STAT_COUNT] = {
	[STAT_QUERIES] = "queries",
	[STAT_BLOCKED] = "blocked",
	[STAT_FORWARDED] = "forwarded",
	[STAT_ANSWERED_UPSTREAM] = "answered-upstream",
	[STAT_SERVFAIL] = "servfail",
	[STAT_DROPPED] = "dropped",
	[STAT_FORMERR] = "formerr",
	[STAT_NOTIMP] = "notimp",
	[STAT_BADVERS] = "badvers",
	[STAT_TRUNCATED] = "truncated",
	[STAT_TCP_FALLBACK] = "tcp-fallback",
	[STAT_UPSTREAM_TIMEOUT] = "upstream-timeouts",
	[STAT_WRONG_ID] = "answers-wrong-id",
	[STAT_WRONG_QUESTION] = "answers-wrong-question",
	[STAT_MALFORMED] = "answers-malformed",
	[STAT_INFLIGHT_FULL] = "inflight-full",
	[STAT_TCP_ACCEPTED] = "tcp-accepted",
	[STAT_TCP_REFUSED] = "tcp-limit",
	[STAT_TCP_TIMEOUT] = "tcp-idle-closed",
	[STAT_ACL_DENIED] = "acl-denied",
	[STAT_RATE_LIMITED] = "rate-limited",
	[STAT_TCP_SLOW] = "tcp-slow-closed",
	[STAT_CNAME_BLOCKED] = "cname-blocked",
	[STAT_CACHE_HIT] = "cache-hits",
};

void stats_add_to(const struct stats *src, uint64_t *sum)
{
	for (size_t i = 0; i < STAT_COUNT; i++)
		sum[i] += atomic_load_explicit(&src->c[i], memory_order_relaxed);
}

char *stats_format(const uint64_t *sum, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < STAT_COUNT && n < cap; i++) {
		int r = snprintf(buf + n, cap - n, "%s%s=%llu", i ? " " : "", stat_names[i],
			(unsigned long long)sum[i]);
		if (r < 0)
			break;
		n += (size_t)r;
	}
	return buf;
}
