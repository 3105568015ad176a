/*
 * why: the decision for one name and its proof (see include/why.h). Everything it says comes from
 * policy_decide, the one function that decides for the query path's matcher, the RPZ export and
 * this: the deciding entry, the entries it overrides and those not in force, and the answer.
 */
#include "why.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "wire.h" /* before ldns: see wire.h */
#include <ldns/ldns.h>

#include "guard.h"
#include "value.h"
#include "value.h"


/* Wire-format NAME as "a.b.c." (the names here were validated: letters, digits, - and _). */
static void name_text(const uint8_t *name, size_t len, char *out, size_t cap)
{
	size_t o = 0, n = 0;

	if (len == 0 || name[0] == 0) {
		snprintf(out, cap, ".");
		return;
	}
	while (o < len && name[o] != 0 && n + name[o] + 2 < cap) {
		memcpy(out + n, name + o + 1, name[o]);
		n += name[o];
		out[n++] = '.';
		o += 1 + (size_t)name[o];
	}
	out[n] = '\0';
}

static void rfc3339(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void schedule_text(const struct policy_rule *r, int64_t now, char *buf, size_t cap)
{
	char from[32], until[32];

	if (r->from == 0 && r->until == 0) {
		snprintf(buf, cap, "none (always in force)");
		return;
	}
	rfc3339(r->from, from, sizeof(from));
	rfc3339(r->until, until, sizeof(until));
	if (!policy_rule_active(r, now) && r->from != 0 && now < r->from)
		snprintf(buf, cap, "not yet active, from %s%s%s", from, r->until ? " until " : "",
			r->until ? until : "");
	else if (!policy_rule_active(r, now))
		snprintf(buf, cap, "ended at %s", until);
	else if (r->until != 0)
		snprintf(buf, cap, "active until %s%s%s", until, r->from ? ", since " : "",
			r->from ? from : "");
	else
		snprintf(buf, cap, "active since %s", from);
}

static const char *form_text(enum match_form f)
{
	switch (f) {
	case MATCH_EXACT: return "the name alone";
	case MATCH_BELOW: return "names below it";
	case MATCH_SUBTREE: break;
	}
	return "the name and below";
}

/*
 * "NAME at FILE:LINE" for a YAML entry, "NAME listed at LIST:LINE (lists[I] at FILE:LINE)" for a
 * listed name, "a trigger of RPZ zone Z (zones:)" for a zone's.
 */
static void where_print(FILE *out, const char *path, const struct policy_step *st,
	const uint8_t *qname, size_t qlen)
{
	char stored[WIRE_NAME_MAX * 4 + 4];
	const struct policy_rule *r = st->rule;

	if (r != NULL && r->source == POLICY_FROM_ZONE) {
		fprintf(out, "a trigger of RPZ zone %s (zones:)", r->name);
		return;
	}
	if (st->text != NULL) {
		fprintf(out, "%s%s%s%s at %s:%u", st->text, r ? " (" : "",
			r ? form_text(r->form) : "", r ? ")" : "", path, st->line);
		return;
	}
	name_text(qname + st->offset, qlen - st->offset, stored, sizeof(stored));
	if (st->line != 0)
		fprintf(out, "%s listed at %s:%u (lists[%d] at %s:%u)", stored, st->file, st->line,
			r ? r->list_index : -1, path, r ? r->line : 0);
	else
		fprintf(out, "%s listed in %s (lists[%d] at %s:%u)", stored, st->file,
			r ? r->list_index : -1, path, r ? r->line : 0);
}

static void entry_line(FILE *out, const char *label, const char *path,
	const struct policy_step *st, const uint8_t *qname, size_t qlen, int64_t now)
{
	char sched[128];
	const char *state = "";

	switch (st->state) {
	case POLICY_DISABLED: state = ", disabled (enabled: false)"; break;
	case POLICY_NOT_NOW: state = ", outside its schedule"; break;
	case POLICY_DECIDES:
	case POLICY_OVERRIDDEN: break;
	}
	fprintf(out, "%s: ", label);
	where_print(out, path, st, qname, qlen);
	fprintf(out, "%s\n", state);
	if (st->rule == NULL)
		return;
	schedule_text(st->rule, now, sched, sizeof(sched));
	fprintf(out, "  action: %s\n  reason: %s\n  ref: %s\n  schedule: %s\n",
		value_action_name(st->rule->action), st->rule->reason ? st->rule->reason : "-",
		st->rule->ref ? st->rule->ref : "-", sched);
}

/* The EDE 16 text the proxy sends: "REASON (ref REF)", "REASON", "ref REF" or nothing. */
static void ede_text(const struct policy_rule *r, char *buf, size_t cap)
{
	if (r->reason && r->ref)
		snprintf(buf, cap, ", EDE 16 (Censored) \"%s (ref %s)\"", r->reason, r->ref);
	else if (r->reason || r->ref)
		snprintf(buf, cap, ", EDE 16 (Censored) \"%s%s\"", r->ref ? "ref " : "",
			r->reason ? r->reason : r->ref);
	else
		snprintf(buf, cap, ", EDE 16 (Censored)");
}

static void answer_redirect(FILE *out, const struct policy_rule *r, const char *owner,
	uint16_t qtype, const char *soa)
{
	const struct config_redirect *rd = r->redirect;
	char a[INET6_ADDRSTRLEN], cname[WIRE_NAME_MAX * 4 + 4];
	bool addr = qtype == LDNS_RR_TYPE_A || qtype == LDNS_RR_TYPE_AAAA || qtype == LDNS_RR_TYPE_ANY;
	bool printed = false;

	if (rd != NULL && rd->cname_len > 0 && (addr || qtype == LDNS_RR_TYPE_CNAME)) {
		name_text(rd->cname, rd->cname_len, cname, sizeof(cname));
		fprintf(out, "answer: NOERROR, %s %u IN CNAME %s", owner, rd->ttl, cname);
		return;
	}
	fprintf(out, "answer: NOERROR");
	for (size_t i = 0; rd && rd->cname_len == 0 && i < rd->a_count &&
	     (qtype == LDNS_RR_TYPE_A || qtype == LDNS_RR_TYPE_ANY); i++, printed = true)
		fprintf(out, ", %s %u IN A %s", owner, rd->ttl, inet_ntop(AF_INET, rd->a[i], a,
			sizeof(a)));
	for (size_t i = 0; rd && rd->cname_len == 0 && i < rd->aaaa_count &&
	     (qtype == LDNS_RR_TYPE_AAAA || qtype == LDNS_RR_TYPE_ANY); i++, printed = true)
		fprintf(out, ", %s %u IN AAAA %s", owner, rd->ttl, inet_ntop(AF_INET6, rd->aaaa[i],
			a, sizeof(a)));
	if (!printed)
		fprintf(out, ", no answer records (NODATA), authority %s", soa);
}

static void answer_line(FILE *out, const struct config *cfg, const struct policy *pol,
	const struct policy_rule *r, const uint8_t *qname, size_t qlen, size_t offset,
	uint16_t qtype)
{
	char owner[WIRE_NAME_MAX * 4 + 4], soa[3 * (WIRE_NAME_MAX * 4 + 4) + 64], ede[1200];
	char mname[WIRE_NAME_MAX * 4 + 4], rname[WIRE_NAME_MAX * 4 + 4];
	const uint8_t *m, *rn;
	size_t mlen, rlen;

	if (r == NULL || r->action == ACTION_ALLOW) {
		fprintf(out, "answer: forwarded to %s%s", cfg->upstream_count ? cfg->upstreams[0].text :
			"(no upstream)", cfg->upstream_count > 1 ? " (then the other upstreams in order)" : "");
		if (r == NULL && cfg->inspect_answers)
			fprintf(out, "; the upstream's answer, unless its CNAME chain reaches a blocked "
				"name\n");
		else if (r == NULL)
			fprintf(out, "; the upstream's answer\n");
		else
			fprintf(out, "; the upstream's answer as it is (allow: no CNAME-chain inspection)\n");
		return;
	}
	name_text(qname, qlen, owner, sizeof(owner));
	m = policy_soa_mname(pol, &mlen);
	rn = policy_soa_rname(pol, &rlen);
	name_text(m, mlen, mname, sizeof(mname));
	name_text(rn, rlen, rname, sizeof(rname));
	name_text(qname + offset, qlen - offset, soa, sizeof(soa));
	size_t n = strlen(soa);
	/* no serial: it is the policy's build time, which would make the daemon's text differ
	 * from the offline one's for the same file */
	snprintf(soa + n, sizeof(soa) - n, " %u IN SOA %s %s", policy_negative_ttl(pol), mname,
		rname);
	ede_text(r, ede, sizeof(ede));
	switch (r->action) {
	case ACTION_NXDOMAIN:
		fprintf(out, "answer: NXDOMAIN, authority %s", soa);
		break;
	case ACTION_NODATA:
		fprintf(out, "answer: NOERROR, no answer records (NODATA), authority %s", soa);
		break;
	case ACTION_REFUSED:
		fprintf(out, "answer: REFUSED");
		break;
	case ACTION_DROP:
		fprintf(out, "answer: none (the query is dropped)\n");
		return;
	case ACTION_REDIRECT:
		answer_redirect(out, r, owner, qtype, soa);
		break;
	case ACTION_ALLOW:
	case ACTION_DEFAULT:
		break;
	}
	fprintf(out, "%s (with EDNS)\n", ede);
}

/* Whether CLIENT may ask: -1 when it does not parse, else the guard's verdict. */
static int client_verdict(const struct config *cfg, const char *client)
{
	struct sockaddr_storage ss = { 0 };
	struct guard *g;
	int v;

	if (inet_pton(AF_INET, client, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, client, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		return -1;
	if ((g = guard_new(cfg, 1)) == NULL)
		return GUARD_PASS; /* out of memory: say nothing about the client rather than lie */
	v = guard_check_acl(g, (const struct sockaddr *)&ss);
	guard_free(g);
	return v;
}

int why_explain(const struct config *cfg, const struct policy *pol, const char *path,
	const char *name, const char *type, const char *client, int64_t now, FILE *out)
{
	struct policy_decision *d = NULL;
	uint8_t qname[CONFIG_NAME_MAX];
	char shown[WIRE_NAME_MAX * 4 + 4];
	size_t qlen;
	uint16_t qtype = LDNS_RR_TYPE_A;
	const char *err;
	int verdict = GUARD_PASS;

	if (value_parse_name(name, qname, &qlen, &err) < 0) {
		fprintf(out, "why: %s: %s\n", name, err);
		return -1;
	}
	if (type != NULL && (qtype = (uint16_t)ldns_get_rr_type_by_name(type)) == 0) {
		fprintf(out, "why: %s: expected a record type (A, AAAA, HTTPS, TYPE65, ...)\n", type);
		return -1;
	}
	if (client != NULL && (verdict = client_verdict(cfg, client)) < 0) {
		fprintf(out, "why: %s: expected an IPv4 or IPv6 address\n", client);
		return -1;
	}
	if ((d = malloc(sizeof(*d))) == NULL) { /* ~10 KB: too big for a worker-sized stack */
		fprintf(out, "why: out of memory\n");
		return -1;
	}
	name_text(qname, qlen, shown, sizeof(shown));
	ldns_rr_type t = (ldns_rr_type)qtype;
	char *tname = ldns_rr_type2str(t);
	fprintf(out, "query: %s %s%s%s\n", shown, tname ? tname : "?", client ? " from " : "",
		client ? client : "");
	free(tname);
	if (verdict == GUARD_ACL_REFUSE || verdict == GUARD_ACL_DROP) {
		fprintf(out, "decision: refused, the client is outside allow-from\n");
		fprintf(out, "answer: %s\n", verdict == GUARD_ACL_DROP ?
			"none (deny-action: drop)" : "REFUSED (deny-action: refused)");
		free(d);
		return 0;
	}
	policy_decide(pol, qname, qlen, MATCH_EXACT, qtype, now,
		POLICY_DECIDE_ENCLOSING | POLICY_DECIDE_LIST_LINES, d);
	if (d->rule == NULL) {
		fprintf(out, "decision: forwarded\nno entry covers %s\n", shown);
		if (d->nsteps == 0)
			fprintf(out, "closest enclosing entries: none\n");
		for (size_t i = 0; i < d->nsteps; i++)
			entry_line(out, "closest enclosing entry", path, &d->steps[i], qname, qlen, now);
	} else {
		fprintf(out, "decision: %s\n", d->rule->action == ACTION_ALLOW ?
			"forwarded (an allow exception)" : "blocked");
		for (size_t i = 0; i < d->nsteps; i++)
			if (d->steps[i].state == POLICY_DECIDES)
				entry_line(out, "deciding entry", path, &d->steps[i], qname, qlen, now);
		for (size_t i = 0; i < d->nsteps; i++)
			if (d->steps[i].state == POLICY_OVERRIDDEN)
				entry_line(out, "overrides", path, &d->steps[i], qname, qlen, now);
		for (size_t i = 0; i < d->nsteps; i++)
			if (d->steps[i].state == POLICY_NOT_NOW || d->steps[i].state == POLICY_DISABLED)
				entry_line(out, "not in force", path, &d->steps[i], qname, qlen, now);
	}
	answer_line(out, cfg, pol, d->rule, qname, qlen, d->match_offset, qtype);
	free(d);
	return 0;
}
