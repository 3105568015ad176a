/*
 * observe: turning the query path's events into audit records and dnstap messages (see
 * include/observe.h). Everything here runs on the worker thread that saw the event and only
 * copies: the audit writer thread and fstrm's I/O thread do the formatting and the writing.
 */
#include "observe.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "client.h"
#include "value.h"

/* The texts of a line that come from the deciding rule (KEY), for audit_log to pack once. */
static void rule_texts(const void *key, struct audit_event *ev)
{
	const struct policy_rule *rule = key;

	ev->list = rule->list;
	ev->line = rule->line;
	ev->action = value_action_name(rule->action);
	ev->reason = rule->reason;
	ev->ref = rule->ref;
	if (rule->source == POLICY_FROM_ZONE) { /* the zone's name is in rule->name */
		ev->zone = rule->name;
		ev->line = 0;
	}
	if (rule->list == NULL && rule->source != POLICY_FROM_ZONE)
		ev->entry = rule->name;
}

void observe_init(struct observe *o, const struct config *cfg, struct audit *audit,
	struct dnstap *dnstap, struct stats *stats, unsigned index)
{
	*o = (struct observe){ .audit = audit, .dnstap = dnstap, .stats = stats, .index = index,
		.batch_ms = -1, .blocked = { .kind = AUDIT_BLOCKED, .texts = rule_texts },
		.cname = { .kind = AUDIT_CNAME_BLOCKED, .texts = rule_texts } };
	o->audit_kind[AUDIT_BLOCKED] = cfg->audit_blocked;
	o->audit_kind[AUDIT_CNAME_BLOCKED] = cfg->audit_cname_blocked;
	o->audit_kind[AUDIT_ACL_DENIED] = cfg->audit_acl_denied;
	o->audit_kind[AUDIT_RATE_LIMITED] = cfg->audit_rate_limited;
	o->audit_blocked = audit != NULL && cfg->audit_blocked;
}

void observe_policy_changed(struct observe *o)
{
	if (o->audit != NULL)
		audit_forget(o->audit, o->index);
}

/* The time for an audit line: the batch's (read at its first line), or 0 (audit_log reads it). */
static int64_t line_time(struct observe *o, bool tcp)
{
	struct timespec ts;

	if (tcp || o->batch_ms < 0)
		return 0;
	if (o->batch_ms == 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		o->batch_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	return o->batch_ms;
}

static void tap(struct observe *o, struct dnstap_msg *m)
{
	if (dnstap_log(o->dnstap, o->index, m) < 0)
		stats_inc(o->stats, STAT_DNSTAP_DROPPED);
}

static inline void audit(struct observe *o, const struct audit_event *ev)
{
	if (!audit_log(o->audit, o->index, ev))
		stats_inc(o->stats, STAT_AUDIT_DROPPED);
}

void observe_client_query_slow(struct observe *o, const struct client_ref *c, const uint8_t *pkt,
	size_t len)
{
	if (!dnstap_wants(o->dnstap, DNSTAP_CLIENT_QUERY))
		return;
	struct dnstap_msg m = { .type = DNSTAP_CLIENT_QUERY, .tcp = c->conn != NULL,
		.query_addr = c->addr, .query = pkt, .query_len = len };
	tap(o, &m);
}

static void client_response(struct observe *o, const struct client_ref *c, const uint8_t *ans,
	size_t len, const struct dnstap_policy *p)
{
	if (!dnstap_wants(o->dnstap, DNSTAP_CLIENT_RESPONSE))
		return;
	struct dnstap_msg m = { .type = DNSTAP_CLIENT_RESPONSE, .tcp = c->conn != NULL,
		.query_addr = c->addr, .response = ans, .response_len = len, .policy = p };
	tap(o, &m);
}

void observe_client_response_slow(struct observe *o, const struct client_ref *c,
	const uint8_t *ans, size_t len)
{
	client_response(o, c, ans, len, NULL);
}

/*
 * Fills the worker's own event (observe_init: its texts always NULL, every text past the
 * names comes from RULE through rule_texts, once per rule; a blocked line's kind and its
 * NULL target set there too) and hands it on; TIME_MS as line_time gives it.
 */
static inline __attribute__((always_inline)) bool blocked_line(struct observe *o,
	const struct client_ref *c, const struct wire_query *q, const struct policy_rule *rule,
	const uint8_t *target, size_t target_len, size_t match_offset, int64_t time_ms)
{
	struct audit_event *ev = target != NULL ? &o->cname : &o->blocked;

	if (target != NULL) {
		ev->target = target;
		ev->target_len = target_len;
	}
	ev->transport = c->conn != NULL ? AUDIT_TCP : AUDIT_UDP;
	ev->client = c->addr;
	ev->qname = q->packet + WIRE_HEADER_LEN;
	ev->qname_len = q->qname_len;
	ev->qtype = q->qtype;
	ev->time_ms = time_ms;
	ev->tail_key = rule;
	/* A list's or a zone's entry is the name matched (in the question, or along the alias
	 * chain), not a text of the rule. */
	if (rule->list != NULL || rule->source == POLICY_FROM_ZONE) {
		ev->entry_name = (target != NULL ? target : q->qname_lower) + match_offset;
		ev->entry_name_len = (target != NULL ? target_len : q->qname_len) - match_offset;
	} else {
		ev->entry_name = NULL;
		ev->entry_name_len = 0;
	}
	return audit_log(o->audit, o->index, ev);
}

/* The line of a batch's first blocked query, one outside a batch, or a cname-blocked one:
 * the clock read here. */
static bool __attribute__((noinline)) blocked_line_timed(struct observe *o,
	const struct client_ref *c, const struct wire_query *q, const struct policy_rule *rule,
	const uint8_t *target, size_t target_len, size_t match_offset)
{
	return blocked_line(o, c, q, rule, target, target_len, match_offset,
		line_time(o, c->conn != NULL));
}

bool observe_blocked_audit(struct observe *o, const struct client_ref *c,
	const struct wire_query *q, const struct policy_rule *rule, size_t match_offset)
{
	/* The rest of a batch: its time known, no call here but the jump to audit_log. */
	if (o->batch_ms > 0 && c->conn == NULL)
		return blocked_line(o, c, q, rule, NULL, 0, match_offset, o->batch_ms);
	return blocked_line_timed(o, c, q, rule, NULL, 0, match_offset);
}

bool observe_cname_audit(struct observe *o, const struct client_ref *c,
	const struct wire_query *q, const struct policy_rule *rule, const uint8_t *target,
	size_t target_len, size_t match_offset)
{
	return blocked_line_timed(o, c, q, rule, target, target_len, match_offset);
}

void observe_blocked_tap(struct observe *o, const struct client_ref *c,
	const struct wire_query *q, const struct policy_rule *rule, const uint8_t *target,
	size_t target_len, const uint8_t *ans, size_t n)
{
	if (!dnstap_wants(o->dnstap, DNSTAP_CLIENT_RESPONSE))
		return;
	/* The name the entry matched: in the question, or along the alias chain. */
	struct dnstap_policy p = { .rule = rule->name, .has_action = true, .action = rule->action,
		.match = DNSTAP_MATCH_QNAME, .value = target != NULL ? target : q->qname_lower,
		.value_len = target != NULL ? target_len : q->qname_len };
	client_response(o, c, ans, n, &p);
}

void observe_refused_slow(struct observe *o, const struct sockaddr *client, bool tcp,
	enum audit_kind kind, const char *action, const uint8_t *pkt, size_t len,
	const uint8_t *ans, size_t n)
{
	struct wire_query q;
	bool question = false;

	if (observe_audit(o, kind)) {
		/* The question only for the line: the guard answers without parsing more than it must. */
		question = pkt != NULL && wire_parse_query(pkt, len, &q) != WIRE_DROP && q.question_ok;
		struct audit_event ev = { .kind = kind, .transport = tcp ? AUDIT_TCP : AUDIT_UDP,
			.client = client, .qname = question ? pkt + WIRE_HEADER_LEN : NULL,
			.qname_len = question ? q.qname_len : 0, .qtype = question ? q.qtype : 0,
			.action = action, .time_ms = line_time(o, tcp),
			.entry = kind == AUDIT_ACL_DENIED ? "allow-from" : "rate-limit-qps" };
		audit(o, &ev);
	}
	if (o->dnstap == NULL || pkt == NULL)
		return;
	if (dnstap_wants(o->dnstap, DNSTAP_CLIENT_QUERY)) {
		struct dnstap_msg m = { .type = DNSTAP_CLIENT_QUERY, .tcp = tcp, .query_addr = client,
			.query = pkt, .query_len = len };
		tap(o, &m);
	}
	if (n > 0 && dnstap_wants(o->dnstap, DNSTAP_CLIENT_RESPONSE)) {
		struct dnstap_policy p = { .rule = kind == AUDIT_ACL_DENIED ? "allow-from" :
			"rate-limit-qps", .truncate = strcmp(action, "tc") == 0,
			.match = DNSTAP_MATCH_CLIENT_IP };
		if (client->sa_family == AF_INET) {
			p.value = (const uint8_t *)&((const struct sockaddr_in *)client)->sin_addr;
			p.value_len = 4;
		} else if (client->sa_family == AF_INET6) {
			p.value = (const uint8_t *)&((const struct sockaddr_in6 *)client)->sin6_addr;
			p.value_len = 16;
		}
		struct dnstap_msg m = { .type = DNSTAP_CLIENT_RESPONSE, .tcp = tcp,
			.query_addr = client, .response = ans, .response_len = n, .policy = &p };
		tap(o, &m);
	}
}

void observe_forwarder_slow(struct observe *o, bool response, bool tcp,
	const struct sockaddr *up, const struct iovec *iov, int iovcnt)
{
	enum dnstap_type t = response ? DNSTAP_FORWARDER_RESPONSE : DNSTAP_FORWARDER_QUERY;
	uint8_t buf[65535];
	const uint8_t *msg = buf;
	size_t len = 0;

	if (!dnstap_wants(o->dnstap, t))
		return;
	/* A query goes out in up to three pieces (use-0x20 swaps the name): one message here. */
	if (iovcnt == 1) {
		msg = iov[0].iov_base;
		len = iov[0].iov_len;
	}
	for (int i = 0; iovcnt > 1 && i < iovcnt; i++) {
		size_t k = iov[i].iov_len < sizeof(buf) - len ? iov[i].iov_len : sizeof(buf) - len;
		memcpy(buf + len, iov[i].iov_base, k);
		len += k;
	}
	struct dnstap_msg m = { .type = t, .tcp = tcp, .response_addr = up };
	if (response) {
		m.response = msg;
		m.response_len = len;
	} else {
		m.query = msg;
		m.query_len = len;
	}
	tap(o, &m);
}
