/*
 * proxy: the per-query decision (see include/proxy.h). For a blocked name this is the whole
 * work of a query: parse the header and question in place, one hash probe per label, and build
 * the answer into the caller's buffer; nothing is allocated and nothing is copied but the
 * question.
 */
#include "proxy.h"

#include "listen.h"
#include "log.h"
#include "upstream.h"

/* Builds the synthesized answer that RULE asks for; 0 for drop. */
static size_t answer_blocked(struct worker *w, const struct policy *pol,
	const struct policy_rule *rule, size_t match_offset, const struct wire_query *q,
	uint8_t *out, size_t cap)
{
	struct wire_block b = {
		.rcode = WIRE_RCODE_NXDOMAIN,
		.with_soa = true,
		.soa_owner_offset = match_offset,
		.serial = policy_serial(pol),
		.negative_ttl = policy_negative_ttl(pol),
		.ede_text = rule->reason,
		.ede_len = rule->reason_len,
	};

	switch (rule->action) {
	case ACTION_NXDOMAIN:
		break;
	case ACTION_NODATA:
		b.rcode = WIRE_RCODE_NOERROR;
		break;
	case ACTION_REFUSED:
		b.rcode = WIRE_RCODE_REFUSED;
		b.with_soa = false;
		break;
	case ACTION_DROP:
		stats_inc(&w->stats, STAT_DROPPED);
		return 0;
	case ACTION_ALLOW:
	case ACTION_REDIRECT: /* not produced by config_load yet */
	case ACTION_DEFAULT:
		return 0; /* not reached: allow is forwarded, default resolved by policy_new */
	}
	b.mname = policy_soa_mname(pol, &b.mname_len);
	b.rname = policy_soa_rname(pol, &b.rname_len);
	return wire_build_blocked(q, &b, out, cap);
}

size_t proxy_query(struct worker *w, const struct policy *pol, const uint8_t *pkt, size_t len,
	const struct client_ref *c, uint8_t *out, size_t cap)
{
	struct wire_query q;
	size_t match_offset = 0;
	const struct policy_rule *rule;

	switch (wire_parse_query(pkt, len, &q)) {
	case WIRE_OK:
		break;
	case WIRE_DROP:
		stats_inc(&w->stats, STAT_DROPPED);
		return 0;
	case WIRE_FORMERR:
		stats_inc(&w->stats, STAT_FORMERR);
		return wire_build_error(&q, WIRE_RCODE_FORMERR, out, cap);
	case WIRE_NOTIMP:
		stats_inc(&w->stats, STAT_NOTIMP);
		return wire_build_error(&q, WIRE_RCODE_NOTIMP, out, cap);
	case WIRE_BADVERS:
		stats_inc(&w->stats, STAT_BADVERS);
		return wire_build_error(&q, WIRE_RCODE_BADVERS, out, cap);
	}
	rule = policy_match(pol, q.qname_lower, q.qname_len, &match_offset);
	if (rule == NULL || rule->action == ACTION_ALLOW) {
		upstream_forward(w->upstream, &q, c);
		return 0;
	}
	stats_inc(&w->stats, STAT_BLOCKED);
	log_debug("blocked by \"%s\" (%s, line %u)", rule->name, config_action_name(rule->action),
		rule->line);
	return answer_blocked(w, pol, rule, match_offset, &q, out, cap);
}

void proxy_answer(struct worker *w, const struct client_ref *c, uint8_t *ans, size_t len,
	const struct wire_answer *a, size_t limit)
{
	if (len > limit) {
		/* Too big for this client over UDP: TC tells it to ask again over TCP. */
		len = wire_truncate_answer(ans, len, a, limit);
		stats_inc(&w->stats, STAT_TRUNCATED);
		if (len == 0)
			return;
	}
	listen_reply(w, c, ans, len);
}

void proxy_fail(struct worker *w, const struct client_ref *c, const struct wire_query *q,
	unsigned rcode)
{
	uint8_t buf[WIRE_HEADER_LEN + WIRE_NAME_MAX + 4 + 64];
	size_t n = wire_build_error(q, rcode, buf, sizeof(buf));

	if (n > 0)
		listen_reply(w, c, buf, n);
}
