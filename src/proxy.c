/*
 * proxy: the per-query decision (see include/proxy.h). For a blocked name this is the whole
 * work of a query: parse the header and question in place, one hash probe per label, and build
 * the answer into the caller's buffer; nothing is allocated and nothing is copied but the
 * question.
 *
 * Forwarded answers come back through proxy_answer, which inspects their CNAME chain (when
 * `inspect-answers` is on and wire_check_answer saw an alias) so that a blocked name cannot be
 * reached through an alias of an unblocked one.
 */
#include "proxy.h"

#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "caplog.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "xfrout.h"
#include "observe.h"
#include "policy.h"
#include "stats.h"
#include "value.h"

#define EDE_TEXT_MAX 512

struct proxy {
	struct proxy_env env;  /* borrowed pointers, see proxy.h */
	struct cache *cache;   /* owned: forwarded answers; NULL when cache-size is 0 */
	/* The EDE text of the answer being built (ede_with_ref), here rather than on the stack of
	 * every blocked answer: the worker builds one at a time, and a stack buffer cost each
	 * answer the stack protector's check. */
	char ede[EDE_TEXT_MAX];
};

static inline const struct policy *proxy_policy(const struct proxy *p)
{
	return atomic_load_explicit(p->env.policy, memory_order_acquire);
}

/*
 * The answer of a redirect rule: its landing page in the builder's terms (none at all gives
 * NODATA). Kept out of answer_blocked (noinline), whose other actions then need no stack
 * buffer, and so no stack-protector check, of their own.
 */
static __attribute__((noinline)) size_t answer_redirect(const struct policy_rule *rule,
	const struct wire_block *b, const struct wire_query *q, uint8_t *out, size_t cap)
{
	const struct config_redirect *cr = rule->redirect;
	struct wire_redirect r = { .ttl = 0 };

	if (cr != NULL) {
		r.a = (const uint8_t *)cr->a;
		r.a_count = cr->a_count;
		r.aaaa = (const uint8_t *)cr->aaaa;
		r.aaaa_count = cr->aaaa_count;
		r.cname = cr->cname;
		r.cname_len = cr->cname_len;
		r.ttl = cr->ttl;
	}
	return wire_build_redirect(q, b, &r, out, cap);
}

/*
 * The EXTRA-TEXT of Extended DNS Error 16 tells the client why: the entry's reason, and its ref
 * (the order's letter number, a ticket) when it has one, as "REASON (ref REF)". Composed per
 * answer into BUF (EDE_TEXT_MAX bytes) rather than stored, so a list of millions of names with one
 * reason keeps one string; only entries with a ref pay for the copy.
 */
static void ede_with_ref(const struct policy_rule *rule, char *buf, struct wire_block *b)
{
	static const char pre[] = " (ref ", pre_alone[] = "ref ";
	size_t n = 0, rlen = strlen(rule->ref);
	const char *p = rule->reason != NULL ? pre : pre_alone;
	size_t plen = rule->reason != NULL ? sizeof(pre) - 1 : sizeof(pre_alone) - 1;

	if (rule->reason_len + plen + rlen + 1 > EDE_TEXT_MAX)
		return; /* absurdly long: the reason alone */
	memcpy(buf, rule->reason != NULL ? rule->reason : "", rule->reason_len);
	n = rule->reason_len;
	memcpy(buf + n, p, plen);
	n += plen;
	memcpy(buf + n, rule->ref, rlen);
	n += rlen;
	if (rule->reason != NULL)
		buf[n++] = ')';
	b->ede_text = buf;
	b->ede_len = n;
}

/*
 * Builds the synthesized answer that RULE asks for into OUT, whose CAP is also the most the
 * client takes (a redirect with many addresses is cut to TC by it); 0 for drop. B comes with
 * the SOA owner set (an offset into the question, or a name of its own) and gets the rest here.
 */
static size_t answer_blocked(struct proxy *p, const struct policy *pol,
	const struct policy_rule *rule, struct wire_block *b, const struct wire_query *q,
	uint8_t *out, size_t cap)
{
	b->rcode = WIRE_RCODE_NXDOMAIN;
	b->with_soa = true;
	/* made once per policy: the answer copies it (mname, rname, serial, TTL are then unread) */
	b->soa_rr = policy_soa_rr(pol, &b->soa_rr_len);
	b->ede_text = rule->reason;
	b->ede_len = rule->reason_len;
	if (rule->ref != NULL)
		ede_with_ref(rule, p->ede, b);

	switch (rule->action) {
	case ACTION_NXDOMAIN:
		break;
	case ACTION_NODATA:
		b->rcode = WIRE_RCODE_NOERROR;
		break;
	case ACTION_REFUSED:
		b->rcode = WIRE_RCODE_REFUSED;
		b->with_soa = false;
		break;
	case ACTION_DROP:
		stats_inc(p->env.stats, STAT_DROPPED);
		return 0;
	case ACTION_REDIRECT:
		return answer_redirect(rule, b, q, out, cap);
	case ACTION_ALLOW:
	case ACTION_DEFAULT:
		return 0; /* not reached: allow is forwarded, default resolved by config_load */
	}
	return wire_build_blocked(q, b, out, cap);
}

static bool answer_cached(struct proxy *p, const struct wire_query *q,
	const struct client_ref *c, uint8_t *out, size_t cap, size_t *n);

/* ---- serve-rpz ---- */

/*
 * A request for the zone blokir serves (SOA, AXFR, IXFR): answered here, never forwarded.
 * Returns false when Q is not for that zone. *N is the length of an answer in OUT; a transfer
 * goes out through the stream callback instead.
 */
static bool zone_request(struct proxy *p, const struct wire_query *q, const struct client_ref *c,
	uint8_t *out, size_t cap, size_t *n)
{
	static const enum stat_id ids[XFROUT_KIND_COUNT] = {
		[XFROUT_SOA] = STAT_XFR_SOA, [XFROUT_AXFR] = STAT_XFR_AXFR,
		[XFROUT_IXFR] = STAT_XFR_IXFR, [XFROUT_IXFR_UDP] = STAT_XFR_IXFR,
		[XFROUT_REFUSED] = STAT_XFR_REFUSED, [XFROUT_BADTSIG] = STAT_XFR_REFUSED,
	};
	struct xfrout_stream *s = NULL;
	enum xfrout_kind kind;
	char line[400];
	size_t limit = wire_udp_limit(q);

	*n = 0;
	if (c->conn == NULL && cap > limit)
		cap = limit;
	switch (xfrout_query(p->env.xfrout, q, c->addr, c->conn != NULL, out, cap, n, &s, &kind,
		line, sizeof(line))) {
	case XFROUT_NOT_OURS:
		return false;
	case XFROUT_STREAM:
		p->env.stream(p->env.stream_arg, c, s);
		break;
	case XFROUT_ANSWER:
		break;
	}
	/* refusals are logged at most once per 10 s (caplog): they may be a flood */
	if (kind == XFROUT_REFUSED || kind == XFROUT_BADTSIG) {
		if (p->env.caps != NULL)
			caplog_hit(p->env.caps, ids[kind], line);
		else
			stats_inc(p->env.stats, ids[kind]);
		return true;
	}
	stats_inc(p->env.stats, ids[kind]);
	if (line[0] != '\0')
		log_info("%s", line);
	return true;
}

/* An answer of N bytes in OUT (none when 0) that no policy decided goes to C now. Returns N. */
static size_t responded(struct proxy *p, const struct client_ref *c, const uint8_t *out,
	size_t n)
{
	if (n > 0)
		observe_client_response(p->env.observe, c, out, n);
	return n;
}

size_t proxy_query(struct proxy *p, const uint8_t *pkt, size_t len, const struct client_ref *c,
	uint8_t *out, size_t cap)
{
	const struct policy *pol = proxy_policy(p);
	struct stats *stats = p->env.stats;
	struct wire_query q;
	size_t match_offset = 0;
	const struct policy_rule *rule;

	observe_client_query(p->env.observe, c, pkt, len);
	switch (wire_parse_query(pkt, len, &q)) {
	case WIRE_OK:
		break;
	case WIRE_DROP:
		stats_inc(stats, STAT_DROPPED);
		return 0;
	case WIRE_FORMERR:
		stats_inc(stats, STAT_FORMERR);
		return responded(p, c, out, wire_build_error(&q, WIRE_RCODE_FORMERR, out, cap));
	case WIRE_NOTIMP:
		if (q.opcode == WIRE_OPCODE_NOTIFY && p->env.notify != NULL && q.question_ok)
			return wire_build_error(&q, p->env.notify(p->env.notify_arg, q.qname_lower,
				q.qname_len, c->addr, c->addrlen), out, cap);
		stats_inc(stats, STAT_NOTIMP);
		return responded(p, c, out, wire_build_error(&q, WIRE_RCODE_NOTIMP, out, cap));
	case WIRE_BADVERS:
		stats_inc(stats, STAT_BADVERS);
		return responded(p, c, out, wire_build_error(&q, WIRE_RCODE_BADVERS, out, cap));
	}
	stats_inc(stats, stats_qtype_id(q.qtype));
	if (p->env.xfrout != NULL) {
		size_t n;

		if (zone_request(p, &q, c, out, cap, &n))
			return n;
	}
	rule = policy_match_labels(pol, q.qname_lower, q.qname_len, q.qname_labels, &match_offset);
	if (rule == NULL || rule->action == ACTION_ALLOW) {
		size_t n = 0;
		if (p->cache == NULL || !answer_cached(p, &q, c, out, cap, &n))
			p->env.forward(p->env.forward_arg, &q, c);
		return responded(p, c, out, n);
	}
	stats_inc(stats, STAT_BLOCKED);
	policy_hit(pol, p->env.worker, rule);
	log_debug("blocked by \"%s\" (%s, line %u, reason \"%s\", ref \"%s\")", rule->name,
		value_action_name(rule->action), rule->line, rule->reason ? rule->reason : "",
		rule->ref ? rule->ref : "");
	/* Over UDP the answer must fit what the client advertised; only a redirect with many
	 * addresses could exceed it, and then it goes out with TC. */
	size_t limit = wire_udp_limit(&q);
	if (c->conn == NULL && cap > limit)
		cap = limit;
	struct wire_block b = { .soa_owner_offset = match_offset };
	size_t n = answer_blocked(p, pol, rule, &b, &q, out, cap);
	observe_blocked(p->env.observe, c, &q, rule, match_offset, out, n);
	return n;
}

/*
 * CNAME-chain inspection: the rule of the first name along the answer's alias chain that an
 * enabled blocking rule covers, or NULL. CH->name is then that name, and *OWNER_OFF where the
 * rule's own name starts in it (the SOA owner). Targets under an allow rule are passed over.
 */
static const struct policy_rule *chain_blocked(const struct policy *pol, struct wire_chain *ch,
	size_t *owner_off)
{
	while (wire_chain_next(ch)) {
		const struct policy_rule *rule = policy_match(pol, ch->name, ch->name_len, owner_off);
		if (rule != NULL && rule->action != ACTION_ALLOW)
			return rule;
	}
	return NULL;
}

/*
 * Answers C ourselves when the forwarded answer ANS hides a blocked name behind an alias
 * ("CNAME cloaking"), as the blocked name's rule says, unless an allow rule covers the question
 * name: an operator's exception for a name wins over what it points to. Returns true when ANS
 * must not be relayed.
 */
static bool answer_cloaked(struct proxy *p, const struct client_ref *c, const uint8_t *ans,
	size_t len, const struct wire_answer *a, size_t limit)
{
	const struct policy *pol = proxy_policy(p);
	const struct policy_rule *rule, *own;
	struct wire_chain ch;
	struct wire_query q;
	size_t off, qoff;
	/* Synthesized answers are small; only a redirect with hundreds of addresses would not fit
	 * here, and it then goes out with TC. */
	uint8_t buf[4096];

	wire_chain_init(&ch, ans, len, a);
	rule = chain_blocked(pol, &ch, &off);
	if (rule == NULL)
		return false;
	wire_query_from_answer(ans, len, a, limit, &q);
	own = policy_match(pol, q.qname_lower, q.qname_len, &qoff);
	if (own != NULL && own->action == ACTION_ALLOW)
		return false;

	stats_inc(p->env.stats, STAT_CNAME_BLOCKED);
	policy_hit(pol, p->env.worker, rule);
	log_debug("answer's CNAME chain reaches a name blocked by \"%s\" (%s, line %u)",
		rule->name, value_action_name(rule->action), rule->line);
	struct wire_block b = { .soa_owner = ch.name + off, .soa_owner_len = ch.name_len - off };
	size_t n = answer_blocked(p, pol, rule, &b, &q, buf, limit < sizeof(buf) ? limit : sizeof(buf));
	observe_cname_blocked(p->env.observe, c, &q, rule, ch.name, ch.name_len, off, buf, n);
	if (n > 0)
		p->env.reply(p->env.reply_arg, c, buf, n);
	return true;
}

/*
 * The answer cache, consulted only for names the policy let through. A cached answer goes
 * through the same CNAME-chain inspection as a fresh one, so both paths obey one rule (the cache
 * is also emptied on every policy change). Returns true when the query was answered: *N bytes in
 * OUT to send now, or *N = 0 when the answer already went out.
 */
static bool answer_cached(struct proxy *p, const struct wire_query *q,
	const struct client_ref *c, uint8_t *out, size_t cap, size_t *n)
{
	struct wire_answer a;
	size_t limit = c->conn ? 65535 : wire_udp_limit(q);

	*n = cache_lookup(p->cache, q, limit, clock_now_ms(), out, cap, &a);
	if (*n == 0)
		return false;
	stats_inc(p->env.stats, STAT_CACHE_HIT);
	if (a.alias && p->env.cfg->inspect_answers && answer_cloaked(p, c, out, *n, &a, limit)) {
		*n = 0;
		return true;
	}
	if (*n > limit) {
		*n = wire_truncate_answer(out, *n, &a, limit);
		stats_inc(p->env.stats, STAT_TRUNCATED);
	}
	return true;
}

/*
 * Stores a checked answer under the query it answers, QUERY (QLEN bytes, as forwarded). The query
 * is parsed again for its cache key: only with cache-size on, and a query parses in a few hundred
 * instructions, less than keeping a second copy of its key with every pending query.
 */
static void answer_store(struct proxy *p, const uint8_t *ans, size_t len,
	const struct wire_answer *a, size_t limit, const uint8_t *query, size_t qlen)
{
	struct wire_query q;

	if (wire_parse_query(query, qlen, &q) == WIRE_OK)
		cache_store(p->cache, &q, limit, ans, len, a, clock_now_ms());
}

/*
 * proxy_answer's less common cases: the cache, an alias to inspect, an answer too big for the
 * client's UDP size. Out of line, so that the common case does not pay for their stack frame.
 */
static __attribute__((noinline)) void answer_slow(struct proxy *p, const struct client_ref *c,
	uint8_t *ans, size_t len, const struct wire_answer *a, size_t limit, const uint8_t *query,
	size_t qlen)
{
	if (p->cache)
		answer_store(p, ans, len, a, limit, query, qlen);
	if (a->alias && p->env.cfg->inspect_answers && answer_cloaked(p, c, ans, len, a, limit))
		return;
	if (len > limit) {
		/* Too big for this client over UDP: TC tells it to ask again over TCP. */
		len = wire_truncate_answer(ans, len, a, limit);
		stats_inc(p->env.stats, STAT_TRUNCATED);
		if (len == 0)
			return;
	}
	/* ANS is the upstream receive buffer, which the caller flushes before reusing. */
	observe_client_response(p->env.observe, c, ans, len);
	p->env.reply_queued(p->env.reply_arg, c, ans, len);
}

void proxy_answer(struct proxy *p, const struct client_ref *c, uint8_t *ans, size_t len,
	const struct wire_answer *a, size_t limit, const uint8_t *query, size_t qlen)
{
	/* Most answers carry no alias, fit the client and are not cached: then this is one test,
	 * the dnstap hook and a jump to the reply. */
	if (p->cache != NULL || a->alias || len > limit) {
		answer_slow(p, c, ans, len, a, limit, query, qlen);
		return;
	}
	observe_client_response(p->env.observe, c, ans, len);
	p->env.reply_queued(p->env.reply_arg, c, ans, len);
}

void proxy_fail(struct proxy *p, const struct client_ref *c, const struct wire_query *q,
	unsigned rcode)
{
	uint8_t buf[WIRE_HEADER_LEN + WIRE_NAME_MAX + 4 + 64];
	size_t n = wire_build_error(q, rcode, buf, sizeof(buf));

	if (n > 0) {
		observe_client_response(p->env.observe, c, buf, n);
		p->env.reply(p->env.reply_arg, c, buf, n);
	}
}

void proxy_policy_changed(struct proxy *p)
{
	proxy_flush_cache(p);
}

void proxy_flush_cache(struct proxy *p)
{
	struct cache *fresh;

	if (p->cache == NULL)
		return;
	fresh = cache_new_like(p->cache);
	if (fresh == NULL) {
		/* No memory for a second table: empty this one in place, slow but correct. */
		log_warn("cache: out of memory for a fresh cache; emptying the old one in place");
		cache_clear(p->cache);
		return;
	}
	cache_free_detached(p->cache);
	p->cache = fresh;
}

struct proxy *proxy_new(const struct proxy_env *env)
{
	struct proxy *p = calloc(1, sizeof(*p)); /* owned by the worker */

	if (p == NULL)
		return NULL;
	p->env = *env;
	if (env->cfg->cache_size > 0 && (p->cache = cache_new(env->cfg->cache_size)) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

void proxy_reconfigure(struct proxy *p, const struct config *cfg)
{
	unsigned old = p->env.cfg->cache_size;

	p->env.cfg = cfg;
	if (cfg->cache_size == old)
		return;
	cache_free(p->cache);
	p->cache = NULL;
	if (cfg->cache_size > 0 && (p->cache = cache_new(cfg->cache_size)) == NULL)
		log_warn("cache: out of memory for cache-size %u; running without a cache",
			cfg->cache_size);
}

void proxy_free(struct proxy *p)
{
	if (p == NULL)
		return;
	cache_free(p->cache);
	free(p);
}
