/*
 * policy: compiles a struct config into the immutable form the query path reads (see
 * include/policy.h). The matcher maps a name to an index into an array of rules; the rules'
 * strings live in one block, so a policy is four allocations whatever its size and it keeps no
 * pointer into the config it was built from.
 */
#include "policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domtree.h"

struct policy {
	struct domtree *tree;       /* owned; values index rules */
	struct policy_rule *rules;  /* owned array; the strings point into strings */
	size_t rule_count;
	char *strings;              /* owned block holding every rule's name, reason and ref */
	size_t strings_size;
	struct config_redirect *redirects; /* owned array of deep copies; rules point into it */
	size_t redirect_count;
	uint32_t negative_ttl;
	uint32_t serial;
	uint8_t soa_mname[CONFIG_NAME_MAX];
	size_t soa_mname_len;
	uint8_t soa_rname[CONFIG_NAME_MAX];
	size_t soa_rname_len;
};

/*
 * Inserts every entry of CFG (or only the enabled ones) into a new tree. In a tree of every entry
 * the value is the entry's index in cfg->domains, which names the first line of a duplicate; in a
 * tree of the enabled ones it is the entry's rule index (fill_rules numbers them alike).
 * Duplicates are reported to DIAG, all of them, so one --check run shows an operator every one.
 * Returns the tree (caller owns), or NULL with errno 0 when something was reported and ENOMEM
 * otherwise.
 */
static struct domtree *build_tree(const struct config *cfg, bool enabled_only, struct diag *diag)
{
	struct domtree *t = domtree_new(cfg->domain_count);
	size_t dups = 0;
	uint32_t rule = 0, first;

	if (t == NULL)
		goto nomem;
	for (size_t i = 0; i < cfg->domain_count; i++) {
		const struct config_domain *d = &cfg->domains[i];
		int rc;

		if (enabled_only && !d->enabled)
			continue;
		rc = domtree_insert(t, d->name, d->name_len, d->form,
			enabled_only ? rule : (uint32_t)i, &first);
		if (rc < 0)
			goto nomem;
		if (rc == 0) {
			rule++;
			continue;
		}
		dups++;
		if (!enabled_only && diag != NULL)
			diag_add(diag, cfg->path, d->line, d->column,
				"duplicate entry \"%s\" (first at line %u)", d->text,
				cfg->domains[first].line);
	}
	if (dups == 0)
		return t;
	domtree_free(t);
	errno = 0;
	return NULL;
nomem:
	domtree_free(t);
	errno = ENOMEM;
	return NULL;
}

/* Copies S into the string block at *POS, or reuses PREV when it holds the same text. */
static const char *copy_string(char *block, size_t *pos, const char *s, const char *prev)
{
	size_t n;
	char *dst;

	if (s == NULL)
		return NULL;
	if (prev != NULL && strcmp(prev, s) == 0)
		return prev;
	n = strlen(s) + 1;
	dst = block + *pos;
	memcpy(dst, s, n);
	*pos += n;
	return dst;
}

/*
 * The policy's own copy of the landing page an entry redirects to: its own, or the policy-wide
 * one (copied once, as redirects[0]). P->redirects has room for every copy (see
 * alloc_redirects). NULL when out of memory.
 */
static const struct config_redirect *redirect_for(struct policy *p, const struct config *cfg,
	const struct config_domain *d)
{
	const struct config_redirect *src = d->redirect != NULL ? d->redirect : &cfg->redirect;

	if (d->redirect == NULL && p->redirects[0].set)
		return &p->redirects[0];
	if (config_redirect_copy(&p->redirects[d->redirect ? p->redirect_count : 0], src) < 0)
		return NULL;
	return d->redirect ? &p->redirects[p->redirect_count++] : &p->redirects[0];
}

/* Room for the policy-wide redirect (slot 0) and one per entry that has its own. */
static int alloc_redirects(struct policy *p, const struct config *cfg)
{
	size_t n = 1;

	for (size_t i = 0; i < cfg->domain_count; i++)
		n += cfg->domains[i].redirect != NULL;
	p->redirects = calloc(n, sizeof(*p->redirects));
	p->redirect_count = 1;
	return p->redirects == NULL ? -1 : 0;
}

/*
 * Fills P->rules from CFG's enabled entries, in file order (the order build_tree numbers them).
 * Returns 0 or -1 when out of memory. Big lists tend to give a run of entries the same reason and
 * ref, so a string equal to the previous entry's is stored once.
 */
static int fill_rules(struct policy *p, const struct config *cfg)
{
	size_t size = 0, pos = 0, n = 0;
	const char *reason = NULL, *ref = NULL;

	for (size_t i = 0; i < cfg->domain_count; i++) {
		const struct config_domain *d = &cfg->domains[i];

		if (!d->enabled)
			continue;
		n++;
		size += strlen(d->text) + 1;
		size += d->reason != NULL ? strlen(d->reason) + 1 : 0;
		size += d->ref != NULL ? strlen(d->ref) + 1 : 0;
	}
	p->rules = calloc(n ? n : 1, sizeof(*p->rules));
	p->strings = malloc(size ? size : 1);
	if (p->rules == NULL || p->strings == NULL || alloc_redirects(p, cfg) < 0)
		return -1;
	for (size_t i = 0; i < cfg->domain_count; i++) {
		const struct config_domain *d = &cfg->domains[i];
		struct policy_rule *r = &p->rules[p->rule_count];

		if (!d->enabled)
			continue;
		r->action = d->action == ACTION_DEFAULT ? cfg->default_action : d->action;
		r->name = copy_string(p->strings, &pos, d->text, NULL);
		r->reason = reason = copy_string(p->strings, &pos, d->reason, reason);
		r->reason_len = r->reason != NULL ? strlen(r->reason) : 0;
		r->ref = ref = copy_string(p->strings, &pos, d->ref, ref);
		r->line = d->line;
		r->from = d->from;
		r->until = d->until;
		if (r->action == ACTION_REDIRECT && (r->redirect = redirect_for(p, cfg, d)) == NULL)
			return -1;
		p->rule_count++;
	}
	p->strings_size = size;
	return 0;
}

/*
 * Two trees are built only when some entry is disabled: duplicates are an error between any two
 * lines of the file, but a disabled entry must not match, so the served tree then leaves it out.
 */
struct policy *policy_new(const struct config *cfg, struct diag *diag)
{
	struct policy *p = calloc(1, sizeof(*p));
	bool all_enabled = true;

	if (p == NULL)
		goto fail;
	for (size_t i = 0; i < cfg->domain_count; i++)
		all_enabled = all_enabled && cfg->domains[i].enabled;
	if ((p->tree = build_tree(cfg, false, diag)) == NULL)
		goto fail;
	if (!all_enabled) {
		domtree_free(p->tree);
		if ((p->tree = build_tree(cfg, true, diag)) == NULL)
			goto fail;
	}
	if (fill_rules(p, cfg) < 0)
		goto fail;
	p->negative_ttl = cfg->negative_ttl;
	p->serial = (uint32_t)time(NULL);
	memcpy(p->soa_mname, cfg->soa_mname, cfg->soa_mname_len);
	p->soa_mname_len = cfg->soa_mname_len;
	memcpy(p->soa_rname, cfg->soa_rname, cfg->soa_rname_len);
	p->soa_rname_len = cfg->soa_rname_len;
	return p;
fail:
	policy_free(p);
	return NULL;
}

void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	domtree_free(p->tree);
	free(p->rules);
	free(p->strings);
	for (size_t i = 0; i < p->redirect_count; i++)
		config_redirect_release(&p->redirects[i]);
	free(p->redirects);
	free(p);
}

const struct policy_rule *policy_match(const struct policy *p, const uint8_t *qname, size_t len,
	size_t *match_offset)
{
	uint32_t i = domtree_lookup(p->tree, qname, len, match_offset);

	return i == DOMTREE_NONE ? NULL : &p->rules[i];
}

uint32_t policy_negative_ttl(const struct policy *p)
{
	return p->negative_ttl;
}

uint32_t policy_serial(const struct policy *p)
{
	return p->serial;
}

const uint8_t *policy_soa_mname(const struct policy *p, size_t *len)
{
	*len = p->soa_mname_len;
	return p->soa_mname;
}

const uint8_t *policy_soa_rname(const struct policy *p, size_t *len)
{
	*len = p->soa_rname_len;
	return p->soa_rname;
}

size_t policy_rule_count(const struct policy *p)
{
	return p->rule_count;
}

size_t policy_memory(const struct policy *p)
{
	return sizeof(*p) + domtree_memory(p->tree) + p->rule_count * sizeof(*p->rules) +
		p->strings_size;
}
