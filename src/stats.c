/*
 * stats: summing and printing the per-worker counters (see include/stats.h). The key names are
 * part of the operator interface (SIGUSR1 log line, README): change them only with the README.
 */
#include "stats.h"

#include <stdio.h>
#include <time.h>

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
	[STAT_XFR_SOA] = "xfr-soa", [STAT_XFR_AXFR] = "xfr-axfr", [STAT_XFR_IXFR] = "xfr-ixfr",
	[STAT_XFR_REFUSED] = "xfr-refused",
	[STAT_AUDIT_DROPPED] = "audit-dropped",
	[STAT_DNSTAP_DROPPED] = "dnstap-dropped",
	[STAT_UPSTREAM_ERROR] = "upstream-errors",
	[STAT_QUERIES_UDP] = "queries-udp",
	[STAT_QUERIES_TCP] = "queries-tcp",
	[STAT_QTYPE_A] = "qtype-a",
	[STAT_QTYPE_AAAA] = "qtype-aaaa",
	[STAT_QTYPE_HTTPS] = "qtype-https",
	[STAT_QTYPE_OTHER] = "qtype-other",
	[STAT_RCODE_NOERROR] = "rcode-noerror",
	[STAT_RCODE_FORMERR] = "rcode-formerr",
	[STAT_RCODE_SERVFAIL] = "rcode-servfail",
	[STAT_RCODE_NXDOMAIN] = "rcode-nxdomain",
	[STAT_RCODE_NOTIMP] = "rcode-notimp",
	[STAT_RCODE_REFUSED] = "rcode-refused",
	[STAT_RCODE_OTHER] = "rcode-other",
};

const uint64_t stats_latency_bounds_us[STATS_LATENCY_BUCKETS - 1] = {
	250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
};

static const char *const zone_fail_names[ZONE_FAIL_COUNT] = {
	[ZONE_FAIL_TIMEOUT] = "timeout", [ZONE_FAIL_NETWORK] = "network",
	[ZONE_FAIL_RCODE] = "rcode", [ZONE_FAIL_TSIG] = "tsig", [ZONE_FAIL_MALFORMED] = "malformed",
	[ZONE_FAIL_BACKWARDS] = "serial-backwards", [ZONE_FAIL_RESOURCES] = "resources",
};

const char *stats_zone_fail_name(enum stats_zone_fail why)
{
	return zone_fail_names[why];
}

const char *stats_name(enum stat_id id)
{
	return stat_names[id];
}

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

/* Unix seconds as "2026-12-01T09:30:00Z", or "never". */
static const char *stamp(int64_t t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		return "never";
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

char *stats_zone_format(const struct stats_zone *z, char *buf, size_t cap)
{
	char c[32], t[32], k[32];

	snprintf(buf, cap, "zone %s: serial=%s%lu records=%llu skipped=%llu enforced=%s expired=%s "
		"last-check=%s last-transfer=%s last-contact=%s checks=%llu ixfr=%llu axfr=%llu "
		"failures=%llu tsig-failures=%llu serial-backwards=%llu expiries=%llu "
		"notify-accepted=%llu notify-refused=%llu result=\"%s\"", z->name,
		z->have_copy ? "" : "none/", (unsigned long)z->serial, (unsigned long long)z->records,
		(unsigned long long)z->skipped, z->enforced ? "yes" : "no", z->expired ? "yes" : "no",
		stamp(z->last_check, c, sizeof(c)), stamp(z->last_transfer, t, sizeof(t)),
		stamp(z->last_contact, k, sizeof(k)), (unsigned long long)z->checks,
		(unsigned long long)z->ixfr, (unsigned long long)z->axfr,
		(unsigned long long)z->failures, (unsigned long long)z->tsig_failures,
		(unsigned long long)z->backwards, (unsigned long long)z->expiries,
		(unsigned long long)z->notify_accepted, (unsigned long long)z->notify_refused,
		z->result);
	return buf;
}
