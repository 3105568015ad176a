/*
 * stats: per-worker counters. Each worker thread is the only writer of its own block, so an
 * increment is a plain relaxed load and store (no locked instruction, no shared cache line);
 * a reader (SIGUSR1, exit) sums the blocks with relaxed loads and may see a count a few queries
 * old, which is all a counter needs.
 */
#ifndef BLOKIR_STATS_H
#define BLOKIR_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum stat_id {
	STAT_QUERIES,          /* client messages received (UDP datagrams and TCP frames) */
	STAT_BLOCKED,          /* answered from the policy (any action but allow) */
	STAT_FORWARDED,        /* sent upstream */
	STAT_ANSWERED_UPSTREAM,/* upstream answers relayed to clients */
	STAT_SERVFAIL,         /* all upstreams failed or timed out */
	STAT_DROPPED,          /* not answered: too short, QR=1, action drop */
	STAT_FORMERR,
	STAT_NOTIMP,
	STAT_BADVERS,
	STAT_TRUNCATED,        /* upstream answers cut to the client's UDP size with TC */
	STAT_TCP_FALLBACK,     /* upstream answered TC over UDP: retried over TCP */
	STAT_UPSTREAM_TIMEOUT, /* one try timed out */
	STAT_WRONG_ID,         /* answer with no query pending under that ID (late or spoofed) */
	STAT_WRONG_QUESTION,   /* answer whose question differs from the one sent */
	STAT_MALFORMED,        /* answer that does not parse */
	STAT_INFLIGHT_FULL,    /* SERVFAIL because max-inflight was reached */
	STAT_TCP_ACCEPTED,
	STAT_TCP_REFUSED,      /* accept paused: max-tcp-connections */
	STAT_TCP_TIMEOUT,      /* connections closed for idleness */
	STAT_ACL_DENIED,       /* queries from outside allow-from (refused or dropped) */
	STAT_RATE_LIMITED,     /* queries over a client network's rate limit (dropped or TC) */
	STAT_TCP_SLOW,         /* connections closed for sending a message too slowly */
	STAT_CNAME_BLOCKED,    /* forwarded answers replaced: their CNAME chain reached a blocked name */
	STAT_CACHE_HIT,        /* answered from the answer cache (cache-size) */
	STAT_XFR_SOA,          /* serve-rpz: SOA queries for the served zone answered */
	STAT_XFR_AXFR,         /* serve-rpz: whole zones sent (AXFR, or IXFR older than the history) */
	STAT_XFR_IXFR,         /* serve-rpz: IXFR answered with the changes (or the SOA alone) */
	STAT_XFR_REFUSED,      /* serve-rpz: requests refused (allow, unsigned, UDP AXFR, bad TSIG) */
	STAT_AUDIT_DROPPED,    /* audit-log lines dropped: the worker's ring was full */
	STAT_DNSTAP_DROPPED,   /* dnstap messages dropped: fstrm's queue was full */
	STAT_UPSTREAM_ERROR,   /* upstream error answers without a question (REFUSED, FORMERR, ...) */
	/* Breakdowns (issue 11, metrics): every query by transport and by question type, every
	 * answer sent by its rcode. */
	STAT_QUERIES_UDP,
	STAT_QUERIES_TCP,
	STAT_QTYPE_A,          /* queries that parsed, by type: A, AAAA, HTTPS, anything else */
	STAT_QTYPE_AAAA,
	STAT_QTYPE_HTTPS,
	STAT_QTYPE_OTHER,
	STAT_RCODE_NOERROR,    /* answers sent, by rcode */
	STAT_RCODE_FORMERR,
	STAT_RCODE_SERVFAIL,
	STAT_RCODE_NXDOMAIN,
	STAT_RCODE_NOTIMP,
	STAT_RCODE_REFUSED,
	STAT_RCODE_OTHER,
	STAT_COUNT
};

struct stats {
	_Atomic uint64_t c[STAT_COUNT];
} __attribute__((aligned(64)));

static inline void stats_inc(struct stats *s, enum stat_id id)
{
	atomic_store_explicit(&s->c[id], atomic_load_explicit(&s->c[id], memory_order_relaxed) + 1,
		memory_order_relaxed);
}

/* Why an SOA check or a transfer of a pulled zone failed, for the per-reason counts. */
enum stats_zone_fail {
	ZONE_FAIL_TIMEOUT,   /* the primary did not answer (or finish) in time */
	ZONE_FAIL_NETWORK,   /* connection refused, reset or closed early; send or receive error */
	ZONE_FAIL_RCODE,     /* the primary answered with an error RCODE (REFUSED, NOTAUTH, ...) */
	ZONE_FAIL_TSIG,      /* TSIG missing, refused or not verifying */
	ZONE_FAIL_MALFORMED, /* an answer that does not parse, or not the records a transfer needs */
	ZONE_FAIL_BACKWARDS, /* the primary's serial is older than the copy held */
	ZONE_FAIL_RESOURCES, /* out of memory or sockets on our side */
	ZONE_FAIL_COUNT
};

/* "timeout", "network", "rcode", "tsig", "malformed", "serial-backwards", "resources". */
const char *stats_zone_fail_name(enum stats_zone_fail why);

/*
 * The status of one RPZ zone pulled by zone transfer (xfr_status fills it): what `SIGUSR1` logs
 * per zone and what a status or metrics endpoint shows.
 */
struct stats_zone {
	char name[256];              /* presentation form, no trailing dot */
	bool have_copy;              /* some version is held (and enforced unless expired+drop) */
	bool enforced;
	bool expired;                /* no primary reached for the SOA expire interval */
	uint32_t serial;             /* of the copy held */
	int64_t last_check;          /* unix seconds of the last SOA check or transfer try; 0 never */
	int64_t last_transfer;       /* of the last transfer applied; 0 never */
	int64_t last_contact;        /* of the last answer from a primary (expire counts from it) */
	uint64_t records;            /* triggers in the copy */
	uint64_t skipped;            /* records skipped in it: rpz-ip, rpz-nsdname, ... */
	char result[160];            /* the last check's outcome: "ok", "up to date", "TSIG ..." */
	uint64_t checks, ixfr, axfr, failures, tsig_failures, backwards, expiries;
	uint64_t notify_accepted, notify_refused;
	uint64_t failed[ZONE_FAIL_COUNT]; /* FAILURES by reason (they sum to it) */
};

/* Formats Z as "zone NAME: serial=N records=N ... result=\"...\"" into BUF; returns BUF. */
char *stats_zone_format(const struct stats_zone *z, char *buf, size_t cap);

/* The question type's class (A, AAAA, HTTPS, other) as a counter. */
static inline enum stat_id stats_qtype_id(uint16_t qtype)
{
	return qtype == 1 ? STAT_QTYPE_A : qtype == 28 ? STAT_QTYPE_AAAA :
		qtype == 65 ? STAT_QTYPE_HTTPS : STAT_QTYPE_OTHER;
}

/* The counter of an answer's rcode (the low 4 bits of its fourth byte). */
static inline enum stat_id stats_rcode_id(const uint8_t *answer)
{
	static const uint8_t ids[16] = {
		STAT_RCODE_NOERROR, STAT_RCODE_FORMERR, STAT_RCODE_SERVFAIL, STAT_RCODE_NXDOMAIN,
		STAT_RCODE_NOTIMP, STAT_RCODE_REFUSED, STAT_RCODE_OTHER, STAT_RCODE_OTHER,
		STAT_RCODE_OTHER, STAT_RCODE_OTHER, STAT_RCODE_OTHER, STAT_RCODE_OTHER,
		STAT_RCODE_OTHER, STAT_RCODE_OTHER, STAT_RCODE_OTHER, STAT_RCODE_OTHER,
	};
	return (enum stat_id)ids[answer[3] & 0x0f];
}

/*
 * Per upstream and worker: tries sent, tries timed out, answers and their latency (from the
 * try's send to its answer) in a histogram. Written by the worker only, like struct stats.
 */
#define STATS_LATENCY_BUCKETS 12 /* upper bounds in stats_latency_bounds_us, then +Inf */
extern const uint64_t stats_latency_bounds_us[STATS_LATENCY_BUCKETS - 1];

struct stats_upstream {
	_Atomic uint64_t sent, timeouts, answers;
	_Atomic uint64_t latency_us_sum;
	_Atomic uint64_t bucket[STATS_LATENCY_BUCKETS]; /* not cumulative; the last is +Inf */
} __attribute__((aligned(64)));

static inline void stats_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
		memory_order_relaxed);
}

static inline void stats_latency(struct stats_upstream *u, uint64_t us)
{
	size_t b = 0;

	while (b < STATS_LATENCY_BUCKETS - 1 && us > stats_latency_bounds_us[b])
		b++;
	stats_add(&u->bucket[b], 1);
	stats_add(&u->latency_us_sum, us);
	stats_add(&u->answers, 1);
}

/* Adds every counter of SRC into the plain array SUM (STAT_COUNT entries). */
void stats_add_to(const struct stats *src, uint64_t *sum);

/* The counter's name in logs, `ctl stats` and metrics ("queries", "answers-wrong-id"). */
const char *stats_name(enum stat_id id);

/* Formats SUM as "queries=N blocked=N ..." into BUF; returns BUF. */
char *stats_format(const uint64_t *sum, char *buf, size_t cap);

#endif
