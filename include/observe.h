/*
 * observe: what a worker's query path reports about itself besides its counters: a line in the
 * audit log for each refused query (blocked, cname-blocked, refused by allow-from, rate
 * limited: each as `audit-*:` switches it) and the dnstap copies of client and upstream
 * messages. One struct observe is embedded in each worker; listen, proxy and upstream call it at
 * the points where a message arrives, an answer leaves or a decision is made.
 *
 * With neither audit-log nor dnstap configured every entry point is a test of two NULL
 * pointers (inline here), so the blocked-query path pays nothing for the feature when it is off.
 * A NULL struct observe (a test's proxy or listen without one) reports nothing.
 * Nothing here blocks or allocates on the audit side; a dnstap message is one malloc, handed to
 * fstrm's queue. Drops are counted in the worker's stats (audit-dropped, dnstap-dropped).
 */
#ifndef BLOKIR_OBSERVE_H
#define BLOKIR_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "audit.h"
#include "dnstap.h"
#include "policy.h"
#include "stats.h"
#include "wire.h"

struct client_ref;

struct observe {
	struct audit *audit;       /* borrowed, NULL when off */
	struct dnstap *dnstap;     /* borrowed, NULL when off */
	struct stats *stats;       /* borrowed: the worker's */
	unsigned index;            /* the worker's: its audit ring and dnstap queue */
	bool audit_kind[AUDIT_KIND_COUNT]; /* the audit-* switches */
	bool audit_blocked;        /* an audit log, and blocked lines wanted: one test per query */
	struct audit_event blocked; /* a blocked query's line, filled in place (no clearing) */
	struct audit_event cname;  /* a cname-blocked one's: apart, so that BLOCKED's kind and
	                              target are set once (observe_init), not for each line */
	int64_t batch_ms;          /* the wall clock (unix ms) for the UDP batch being handled, 0
	                              when not read yet, -1 outside a batch (see observe_batch) */
};

/* Sets O up from the config's switches; AUDIT and DNSTAP may be NULL. */
void observe_init(struct observe *o, const struct config *cfg, struct audit *audit,
	struct dnstap *dnstap, struct stats *stats, unsigned index);

/*
 * Listen brackets each batch of UDP datagrams it has just received: the audit lines of the
 * batch share one reading of the wall clock (taken at its first line), not one each. A batch
 * is handled in well under a millisecond, so the lines' milliseconds stay true; outside a
 * batch (TCP, an upstream's answer) each line reads the clock itself.
 */
static inline void observe_batch_begin(struct observe *o)
{
	if (o != NULL)
		o->batch_ms = 0;
}

static inline void observe_batch_end(struct observe *o)
{
	if (o != NULL)
		o->batch_ms = -1;
}

/*
 * The worker lets go of its old policy (acknowledges a new one): the audit's copies of the old
 * rules' texts, keyed by the rules' addresses, are dropped before those addresses can be reused.
 */
void observe_policy_changed(struct observe *o);

static inline bool observe_tap(const struct observe *o, enum dnstap_type t)
{
	return o != NULL && o->dnstap != NULL && dnstap_wants(o->dnstap, t);
}

static inline bool observe_audit(const struct observe *o, enum audit_kind k)
{
	return o != NULL && o->audit != NULL && o->audit_kind[k];
}

/* A client message PKT as received (CLIENT_QUERY). */
void observe_client_query_slow(struct observe *o, const struct client_ref *c, const uint8_t *pkt,
	size_t len);
static inline void observe_client_query(struct observe *o, const struct client_ref *c,
	const uint8_t *pkt, size_t len)
{
	if (o != NULL && o->dnstap != NULL)
		observe_client_query_slow(o, c, pkt, len);
}

/* An answer ANS sent to C that no policy decided: relayed, cached, an error (CLIENT_RESPONSE). */
void observe_client_response_slow(struct observe *o, const struct client_ref *c,
	const uint8_t *ans, size_t len);
static inline void observe_client_response(struct observe *o, const struct client_ref *c,
	const uint8_t *ans, size_t len)
{
	if (o != NULL && o->dnstap != NULL)
		observe_client_response_slow(o, c, ans, len);
}

/*
 * The policy answered Q from C under RULE, whose name starts at MATCH_OFFSET in Q's name. ANS
 * (N bytes, 0 for drop) is the answer sent. Audit line and CLIENT_RESPONSE, each its own
 * function: the audit one is on every blocked query with the audit log on, kept to a few
 * stores and a jump (it returns whether the line went into the ring), and the dnstap one has
 * a frame of its own.
 */
bool observe_blocked_audit(struct observe *o, const struct client_ref *c,
	const struct wire_query *q, const struct policy_rule *rule, size_t match_offset);
void observe_blocked_tap(struct observe *o, const struct client_ref *c,
	const struct wire_query *q, const struct policy_rule *rule, const uint8_t *target,
	size_t target_len, const uint8_t *ans, size_t n);
static inline void observe_blocked(struct observe *o, const struct client_ref *c,
	const struct wire_query *q, const struct policy_rule *rule, size_t match_offset,
	const uint8_t *ans, size_t n)
{
	if (o == NULL)
		return;
	if (o->audit_blocked && !observe_blocked_audit(o, c, q, rule, match_offset))
		stats_inc(o->stats, STAT_AUDIT_DROPPED);
	if (o->dnstap != NULL && n > 0)
		observe_blocked_tap(o, c, q, rule, NULL, 0, ans, n);
}

/*
 * The same for a forwarded answer whose alias chain reached TARGET, a name RULE blocks (its
 * entry at MATCH_OFFSET in TARGET): a cname-blocked line.
 */
bool observe_cname_audit(struct observe *o, const struct client_ref *c,
	const struct wire_query *q, const struct policy_rule *rule, const uint8_t *target,
	size_t target_len, size_t match_offset);
static inline void observe_cname_blocked(struct observe *o, const struct client_ref *c,
	const struct wire_query *q, const struct policy_rule *rule, const uint8_t *target,
	size_t target_len, size_t match_offset, const uint8_t *ans, size_t n)
{
	if (o == NULL)
		return;
	if (observe_audit(o, AUDIT_CNAME_BLOCKED) &&
	    !observe_cname_audit(o, c, q, rule, target, target_len, match_offset))
		stats_inc(o->stats, STAT_AUDIT_DROPPED);
	if (o->dnstap != NULL && n > 0)
		observe_blocked_tap(o, c, q, rule, target, target_len, ans, n);
}

/*
 * The guard stopped the message PKT (NULL: a TCP connection, refused before any message) from
 * CLIENT: KIND is AUDIT_ACL_DENIED or AUDIT_RATE_LIMITED, ACTION what was done ("refused",
 * "drop", "tc"), ANS (N bytes, 0 when nothing was sent) the answer. Audit line, CLIENT_QUERY and
 * CLIENT_RESPONSE.
 */
void observe_refused_slow(struct observe *o, const struct sockaddr *client, bool tcp,
	enum audit_kind kind, const char *action, const uint8_t *pkt, size_t len,
	const uint8_t *ans, size_t n);
static inline void observe_refused(struct observe *o, const struct sockaddr *client, bool tcp,
	enum audit_kind kind, const char *action, const uint8_t *pkt, size_t len,
	const uint8_t *ans, size_t n)
{
	if (o != NULL && (o->audit != NULL || o->dnstap != NULL))
		observe_refused_slow(o, client, tcp, kind, action, pkt, len, ans, n);
}

/* A message to (RESPONSE false) or from the upstream UP, over TCP or UDP (FORWARDER_*). */
void observe_forwarder_slow(struct observe *o, bool response, bool tcp,
	const struct sockaddr *up, const struct iovec *iov, int iovcnt);
static inline void observe_forwarder(struct observe *o, bool response, bool tcp,
	const struct sockaddr *up, const struct iovec *iov, int iovcnt)
{
	if (o != NULL && o->dnstap != NULL)
		observe_forwarder_slow(o, response, tcp, up, iov, iovcnt);
}

#endif
