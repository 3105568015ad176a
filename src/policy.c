/*
 * policy: compiles a struct config, and the lists it names, into the immutable form the query
 * path reads (see include/policy.h).
 *
 * One matcher maps every name to an index into an array of rules. Each enabled YAML entry is a
 * rule of its own; a list is one rule shared by all its names (an RPZ list has one per action it
 * uses, plus one per redirect target), so two million listed names cost the matcher's ~50 bytes
 * each and nothing more.
 *
 * Precedence, decided here:
 *  - Disabled YAML entries are stored too, with DISABLED set in their value, so duplicates are
 *    found between any two lines of the file with a single tree; a lookup skips them (as if
 *    absent) and goes on to less specific names.
 *  - Then the lists, in file order, merged slot by slot: a slot held by an enabled YAML entry or
 *    an earlier list is kept (an operator's explicit line beats an imported list; regulators'
 *    lists overlap, and the first one wins silently), a free or disabled slot is taken.
 *  - A lookup also skips a rule outside its from/until window, so schedules need no rebuild; the
 *    clock is read only when a candidate rule has a schedule.
 */
#include "policy.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domtree.h"
#include "diag.h"
#include "lists.h"
#include "log.h"
#include "wire.h"
#include "zonedb.h"

#define DISABLED 0x80000000u /* in a tree value: a disabled YAML entry (the rest: its index) */

/* What the reload summary compares: one per YAML entry, enabled or not, and one per list. */
struct policy_entry {
	const char *key;  /* the entry's text, in the strings block */
	uint8_t form;
	bool enabled;
	unsigned line;    /* where the entry is in the file (why shows disabled ones too) */
};

struct policy_list {
	char *path, *reason, *ref; /* owned */
	bool enabled;
	size_t names;              /* names read (0 when disabled) */
	enum list_format format;   /* to read it again for why's line numbers */
	enum policy_action action;
	unsigned line;             /* the list's entry in the config file */
};

/* A `zones:` entry as the policy applies it; the copy itself comes with a view. */
struct policy_zone {
	struct zonesnap *snap;          /* in a view: one reference, or NULL */
	enum policy_action override;    /* ACTION_DEFAULT: the records' own actions */
	bool enabled;
	uint8_t name[CONFIG_NAME_MAX];  /* the zone, wire format */
	size_t name_len;
};

struct policy {
	/* A view (policy_with_zones) is a shallow copy of its core with zones of its own: every
	 * pointer below but `zones` belongs to the core, which frees it with its last reference. */
	struct policy *core;        /* this policy itself when it owns the compiled data */
	const atomic_bool *stop;    /* borrowed while building: give up when it is true */
	bool abandoned;             /* ... and it was */
	_Atomic unsigned refs;      /* on a core: itself plus each view of it */
	struct policy_zone *zones;  /* owned, zone_count of them (cfg->zones order) */
	size_t zone_count, zone_names;
	char *path;                 /* the core's, owned by it: the config file, every YAML rule's */
	struct domtree *tree;       /* owned; values index rules (or DISABLED | entry index) */
	struct policy_rule *rules;  /* owned array; strings point into strings and lists */
	size_t nrules, rules_cap;
	size_t yaml_rules;          /* enabled YAML entries: the first yaml_rules rules */
	char *strings;              /* owned block holding every entry's name, reason and ref */
	size_t strings_size;
	struct config_redirect *redirects; /* owned array of deep copies; [0] the policy-wide one */
	size_t redirect_count, redirects_cap;
	size_t *rule_redirect;      /* owned, per rule while building: index in redirects, or 0 */
	struct policy_entry *entries; size_t entry_count; /* owned */
	struct policy_list *lists; size_t list_count;     /* owned */
	size_t list_names;
	bool has_schedule;
	bool has_disabled;          /* some tree value has DISABLED set */
	/* Blocked-query counters, the one mutable part (policy_hits_init): per worker a block of
	 * hit_stride counters, one per YAML rule then one per list. Each worker writes only its
	 * own block; readers sum with relaxed loads. */
	_Atomic uint64_t *hits;     /* owned, NULL until policy_hits_init */
	size_t hit_stride;
	unsigned hit_workers;
	uint32_t negative_ttl;
	uint32_t serial;
	uint8_t soa_mname[CONFIG_NAME_MAX];
	size_t soa_mname_len;
	uint8_t soa_rname[CONFIG_NAME_MAX];
	size_t soa_rname_len;
	uint8_t soa_rr[WIRE_SOA_RR_MAX]; /* the four above as every blocked answer's SOA has them */
	size_t soa_rr_len;
};

/* ---- the clock ------------------------------------------------------------------------------- */

static int64_t clock_coarse(void)
{
	struct timespec ts;

	/* the coarse clock is a read of the vDSO page, no syscall: cheap enough per query */
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t)ts.tv_sec;
}

static int64_t (*_Atomic policy_clock)(void) = clock_coarse;

void policy_set_clock(int64_t (*now)(void))
{
	policy_clock = now != NULL ? now : clock_coarse;
}

int64_t policy_now(void)
{
	return policy_clock();
}

bool policy_rule_active(const struct policy_rule *r, int64_t now)
{
	return (r->from == 0 || now >= r->from) && (r->until == 0 || now < r->until);
}

/* ---- rules ----------------------------------------------------------------------------------- */

/* Appends an empty rule; returns its index, or -1 when out of memory. */
static int64_t rule_add(struct policy *p)
{
	if (p->nrules == p->rules_cap) {
		size_t ncap = p->rules_cap ? p->rules_cap * 2 : 16;
		struct policy_rule *nr;
		size_t *nx;

		if (ncap >= DISABLED)
			return -1;
		if ((nr = realloc(p->rules, ncap * sizeof(*nr))) == NULL)
			return -1;
		p->rules = nr;
		if ((nx = realloc(p->rule_redirect, ncap * sizeof(*nx))) == NULL)
			return -1;
		p->rule_redirect = nx;
		p->rules_cap = ncap;
	}
	memset(&p->rules[p->nrules], 0, sizeof(p->rules[0]));
	p->rule_redirect[p->nrules] = 0;
	return (int64_t)p->nrules++;
}

/* A new slot in P->redirects (zeroed); returns its index, or 0 when out of memory. */
static size_t redirect_add(struct policy *p)
{
	if (p->redirect_count == p->redirects_cap) {
		size_t ncap = p->redirects_cap * 2;
		struct config_redirect *nr = realloc(p->redirects, ncap * sizeof(*nr));

		if (nr == NULL)
			return 0;
		p->redirects = nr;
		p->redirects_cap = ncap;
	}
	memset(&p->redirects[p->redirect_count], 0, sizeof(p->redirects[0]));
	return p->redirect_count++;
}

/* Rule I redirects to a deep copy of SRC (a new slot). Returns -1 when out of memory. */
static int rule_redirect_copy(struct policy *p, size_t i, const struct config_redirect *src)
{
	size_t slot = redirect_add(p);

	if (slot == 0 || config_redirect_copy(&p->redirects[slot], src) < 0)
		return -1;
	p->rule_redirect[i] = slot;
	return 0;
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

static size_t strings_needed(const struct config *cfg)
{
	size_t size = 0;

	for (size_t i = 0; i < cfg->domain_count; i++) {
		const struct config_domain *d = &cfg->domains[i];

		size += strlen(d->text) + 1;
		size += d->reason != NULL ? strlen(d->reason) + 1 : 0;
		size += d->ref != NULL ? strlen(d->ref) + 1 : 0;
	}
	return size;
}

/*
 * One rule per enabled YAML entry, in file order, and an entry record for every one. Returns 0
 * or -1 when out of memory. Big files tend to give a run of entries the same reason and ref, so
 * a string equal to the previous entry's is stored once.
 */
static int yaml_rules(struct policy *p, const struct config *cfg)
{
	size_t pos = 0;
	const char *reason = NULL, *ref = NULL;

	p->strings_size = strings_needed(cfg);
	p->strings = malloc(p->strings_size ? p->strings_size : 1);
	p->entries = calloc(cfg->domain_count ? cfg->domain_count : 1, sizeof(*p->entries));
	if (p->strings == NULL || p->entries == NULL)
		return -1;
	for (size_t i = 0; i < cfg->domain_count; i++) {
		const struct config_domain *d = &cfg->domains[i];
		struct policy_entry *e = &p->entries[p->entry_count++];
		struct policy_rule *r;
		int64_t k;

		e->key = copy_string(p->strings, &pos, d->text, NULL);
		e->form = (uint8_t)d->form;
		e->enabled = d->enabled;
		e->line = d->line;
		if (!d->enabled)
			continue;
		if ((k = rule_add(p)) < 0)
			return -1;
		r = &p->rules[k];
		r->action = d->action;
		r->name = e->key;
		r->source = POLICY_FROM_YAML;
		r->file = p->path;
		r->reason = reason = copy_string(p->strings, &pos, d->reason, reason);
		r->reason_len = r->reason != NULL ? strlen(r->reason) : 0;
		r->ref = ref = copy_string(p->strings, &pos, d->ref, ref);
		r->line = d->line;
		r->form = d->form;
		r->list_index = -1;
		r->counter = (unsigned)k + 1;
		r->from = d->from;
		r->until = d->until;
		p->has_schedule |= d->from != 0 || d->until != 0;
		if (r->action == ACTION_REDIRECT && d->redirect != NULL &&
			rule_redirect_copy(p, (size_t)k, d->redirect) < 0)
			return -1;
	}
	p->yaml_rules = p->nrules;
	return 0;
}

/*
 * Every YAML entry into the tree, disabled ones with DISABLED set. Duplicates are reported to
 * DIAG, all of them, so one --check run shows an operator every one. Returns 0, 1 when
 * something was reported, -1 when out of memory.
 */
static int yaml_insert(struct policy *p, const struct config *cfg, struct diag *diag)
{
	uint32_t rule = 0, first;
	int result = 0;

	for (size_t i = 0; i < cfg->domain_count; i++) {
		const struct config_domain *d = &cfg->domains[i];
		uint32_t v = d->enabled ? rule++ : DISABLED | (uint32_t)i;
		p->has_disabled |= !d->enabled;
		int rc = domtree_insert(p->tree, d->name, d->name_len, d->form, v, &first);

		if (rc < 0)
			return -1;
		if (rc == 0)
			continue;
		result = 1;
		diag_add(diag, cfg->path, d->line, d->column, "duplicate entry \"%s\" (first at line %u)",
			d->text, first & DISABLED ? cfg->domains[first & ~DISABLED].line :
			p->rules[first].line);
	}
	return result;
}

/* ---- lists ----------------------------------------------------------------------------------- */

/* Reading one list: the rules its names map to, created on first use. */
struct list_build {
	struct policy *p;
	const struct config *cfg;
	const struct policy_list *pl;
	const struct config_list *l;
	int64_t by_action[ACTION_DEFAULT + 1]; /* rule per action, -1 until used */
	int64_t last_addr_rule;                /* the rule of the previous A/AAAA record, or -1 */
	uint8_t last_name[CONFIG_NAME_MAX];
	size_t last_len;
	enum match_form last_form;
	size_t names;
};

static int64_t list_rule(struct list_build *b, enum policy_action a)
{
	struct policy_rule *r;
	int64_t k = rule_add(b->p);

	if (k < 0)
		return -1;
	r = &b->p->rules[k];
	r->action = a;
	r->name = b->pl->path;
	r->list = b->pl->path;
	r->source = POLICY_FROM_LIST;
	r->file = b->pl->path;
	r->reason = b->pl->reason;
	r->reason_len = r->reason != NULL ? strlen(r->reason) : 0;
	r->ref = b->pl->ref;
	r->line = b->l->line;
	r->list_index = (int)(b->pl - b->p->lists);
	r->counter = (unsigned)(b->p->yaml_rules + (size_t)r->list_index) + 1;
	return k;
}

/* The rule for an entry of a domains or hosts list, or an RPZ action without data. */
static int64_t shared_rule(struct list_build *b, enum policy_action a)
{
	if (b->by_action[a] < 0)
		b->by_action[a] = list_rule(b, a);
	return b->by_action[a];
}

/* Appends E's address to the redirect of rule K. */
static int add_address(struct list_build *b, int64_t k, const struct lists_entry *e)
{
	struct config_redirect *r = &b->p->redirects[b->p->rule_redirect[k]];
	void *na;

	r->set = true;
	r->ttl = b->l->redirect_ttl;
	if (e->addr_family == AF_INET) {
		if ((na = realloc(r->a, (r->a_count + 1) * 4)) == NULL)
			return -1;
		r->a = na;
		memcpy(r->a[r->a_count++], e->addr, 4);
	} else {
		if ((na = realloc(r->aaaa, (r->aaaa_count + 1) * 16)) == NULL)
			return -1;
		r->aaaa = na;
		memcpy(r->aaaa[r->aaaa_count++], e->addr, 16);
	}
	return 0;
}

/* An RPZ redirect: a rule of its own, whose landing page is E's CNAME or addresses. */
static int64_t redirect_rule(struct list_build *b, const struct lists_entry *e, bool *merged)
{
	int64_t k;
	size_t slot;

	*merged = e->addr_family != 0 && b->last_addr_rule >= 0 && b->last_form == e->form &&
		b->last_len == e->name_len && memcmp(b->last_name, e->name, e->name_len) == 0;
	if (*merged)
		return add_address(b, b->last_addr_rule, e) < 0 ? -1 : b->last_addr_rule;
	if ((k = list_rule(b, ACTION_REDIRECT)) < 0 || (slot = redirect_add(b->p)) == 0)
		return -1;
	b->p->rule_redirect[k] = slot;
	b->last_addr_rule = -1;
	if (e->addr_family == 0) {
		struct config_redirect *r = &b->p->redirects[slot];

		r->set = true;
		r->ttl = b->l->redirect_ttl;
		memcpy(r->cname, e->cname, e->cname_len);
		r->cname_len = e->cname_len;
		return k;
	}
	b->last_addr_rule = k;
	memcpy(b->last_name, e->name, e->name_len);
	b->last_len = e->name_len;
	b->last_form = e->form;
	return add_address(b, k, e) < 0 ? -1 : k;
}

/* lists_entry_cb: one name of a list into the tree. */
static int list_entry(void *ctx, const struct lists_entry *e)
{
	struct list_build *b = ctx;
	enum policy_action a = e->action; /* resolved: config_load made the list's own concrete */
	bool merged = false;
	int64_t k;

	if (b->p->stop != NULL && atomic_load_explicit(b->p->stop, memory_order_relaxed)) {
		b->p->abandoned = true; /* a stop during a reload: the rest of the list is not read */
		return -1;
	}
	if (a == ACTION_REDIRECT && (e->cname_len > 0 || e->addr_family != 0))
		k = redirect_rule(b, e, &merged);
	else
		k = shared_rule(b, a);
	if (k < 0)
		return -1;
	if (e->addr_family == 0)
		b->last_addr_rule = -1;
	b->names += !merged;
	if (merged)
		return 0;
	return domtree_merge(b->p->tree, e->name, e->name_len, e->form, (uint32_t)k, DISABLED) < 0 ?
		-1 : 0;
}

/* Copies every list's identity; the enabled ones are read later. */
static int lists_copy(struct policy *p, const struct config *cfg)
{
	p->lists = calloc(cfg->list_count ? cfg->list_count : 1, sizeof(*p->lists));
	if (p->lists == NULL)
		return -1;
	for (size_t i = 0; i < cfg->list_count; i++) {
		const struct config_list *l = &cfg->lists[i];
		struct policy_list *pl = &p->lists[p->list_count++];

		pl->enabled = l->enabled;
		pl->format = l->format;
		pl->action = l->action;
		pl->line = l->line;
		if ((pl->path = strdup(l->path)) == NULL ||
			(l->reason != NULL && (pl->reason = strdup(l->reason)) == NULL) ||
			(l->ref != NULL && (pl->ref = strdup(l->ref)) == NULL))
			return -1;
	}
	return 0;
}

/* Reads every enabled list into the tree. Returns 0, 1 when one failed (reported), -1 on ENOMEM. */
static int lists_insert(struct policy *p, const struct config *cfg, struct diag *diag)
{
	int result = 0;

	for (size_t i = 0; i < cfg->list_count; i++) {
		struct list_build b = { .p = p, .cfg = cfg, .pl = &p->lists[i], .l = &cfg->lists[i],
			.last_addr_rule = -1 };
		size_t bad = 0, before = diag_count(diag);

		if (!b.l->enabled)
			continue;
		for (size_t a = 0; a <= ACTION_DEFAULT; a++)
			b.by_action[a] = -1;
		if (lists_read(b.l, diag, list_entry, &b, &bad) < 0) {
			if (diag_count(diag) == before)
				return -1; /* nothing reported: the callback ran out of memory */
			result = 1;
		}
		p->lists[i].names = b.names;
		p->list_names += b.names;
	}
	return result;
}

/* About how many names the tree will hold, so it is sized once. */
static size_t expected_names(const struct config *cfg)
{
	size_t n = cfg->domain_count;

	for (size_t i = 0; i < cfg->list_count; i++)
		if (cfg->lists[i].enabled)
			n += lists_estimate(&cfg->lists[i]);
	return n;
}

/* Rules point at their landing pages only now: the redirects array moved while it grew. */
static void link_redirects(struct policy *p)
{
	for (size_t i = 0; i < p->nrules; i++) {
		struct policy_rule *r = &p->rules[i];

		if (r->action == ACTION_REDIRECT)
			r->redirect = &p->redirects[p->rule_redirect[i]];
	}
	free(p->rule_redirect);
	p->rule_redirect = NULL;
}

static int policy_build(struct policy *p, const struct config *cfg, struct diag *diag)
{
	int rc;

	if ((p->path = strdup(cfg->path)) == NULL)
		return -1;
	p->redirects_cap = 4;
	p->redirects = calloc(p->redirects_cap, sizeof(*p->redirects));
	if (p->redirects == NULL)
		return -1;
	p->redirect_count = 1; /* [0]: the policy-wide landing page (policy_free releases it) */
	if (config_redirect_copy(&p->redirects[0], &cfg->redirect) < 0)
		return -1;
	if ((p->tree = domtree_new(expected_names(cfg))) == NULL || yaml_rules(p, cfg) < 0 ||
		lists_copy(p, cfg) < 0)
		return -1;
	if ((rc = yaml_insert(p, cfg, diag)) != 0)
		return rc;
	if ((rc = lists_insert(p, cfg, diag)) != 0)
		return rc;
	link_redirects(p);
	return 0;
}

struct policy *policy_new(const struct config *cfg, struct diag *diag)
{
	return policy_new_until(cfg, diag, NULL);
}

struct policy *policy_new_until(const struct config *cfg, struct diag *diag,
	const atomic_bool *stop)
{
	struct policy *p = calloc(1, sizeof(*p));
	int rc = -1;

	if (p != NULL) {
		p->core = p;
		atomic_init(&p->refs, 1);
		p->stop = stop;
	}
	if (p == NULL || (rc = policy_build(p, cfg, diag)) != 0)
		goto fail;
	p->stop = NULL; /* the caller's flag, valid during the build only */
	p->negative_ttl = cfg->negative_ttl;
	p->serial = (uint32_t)time(NULL);
	memcpy(p->soa_mname, cfg->soa_mname, cfg->soa_mname_len);
	p->soa_mname_len = cfg->soa_mname_len;
	memcpy(p->soa_rname, cfg->soa_rname, cfg->soa_rname_len);
	p->soa_rname_len = cfg->soa_rname_len;
	p->soa_rr_len = wire_soa_rr(p->soa_rr, p->soa_mname, p->soa_mname_len, p->soa_rname,
		p->soa_rname_len, p->serial, p->negative_ttl);
	p->zone_count = cfg->zone_count;
	if ((p->zones = calloc(p->zone_count ? p->zone_count : 1, sizeof(*p->zones))) == NULL) {
		rc = -1;
		goto fail;
	}
	for (size_t i = 0; i < cfg->zone_count; i++) {
		p->zones[i].enabled = cfg->zones[i].enabled;
		p->zones[i].override = cfg->zones[i].action;
		memcpy(p->zones[i].name, cfg->zones[i].name, cfg->zones[i].name_len);
		p->zones[i].name_len = cfg->zones[i].name_len;
	}
	return p;
fail:
	if (rc < 0 && p != NULL && p->abandoned)
		diag_add(diag, cfg->path, 1, 1, "load abandoned: the daemon is stopping");
	else if (rc < 0)
		diag_add(diag, cfg->path, 1, 1, "out of memory building the policy");
	policy_free(p);
	return NULL;
}

struct policy *policy_with_zones(struct policy *core, struct zonesnap *const *snaps, size_t n)
{
	struct policy *v = malloc(sizeof(*v)); /* owned by the caller */

	if (v == NULL)
		return NULL;
	*v = *core;
	v->core = core->core;
	v->zone_names = 0;
	if ((v->zones = calloc(core->zone_count ? core->zone_count : 1, sizeof(*v->zones))) == NULL) {
		free(v);
		return NULL;
	}
	atomic_fetch_add(&v->core->refs, 1);
	for (size_t i = 0; i < core->zone_count; i++) {
		v->zones[i] = core->zones[i];
		v->zones[i].snap = NULL;
		if (i < n && snaps[i] != NULL && v->zones[i].enabled) {
			zonesnap_ref(snaps[i]);
			v->zones[i].snap = snaps[i];
			v->zone_names += zonesnap_triggers(snaps[i]);
		}
	}
	return v;
}

size_t policy_zone_count(const struct policy *p)
{
	return p->zone_count;
}

const uint8_t *policy_zone_name(const struct policy *p, size_t i, size_t *len)
{
	*len = p->zones[i].name_len;
	return p->zones[i].name;
}

bool policy_zone_enabled(const struct policy *p, size_t i)
{
	return p->zones[i].enabled;
}

const struct policy_rule *policy_zone_slot(const struct policy *p, size_t i, const uint8_t *name,
	size_t len, enum match_form form)
{
	if (i >= p->zone_count || p->zones[i].snap == NULL)
		return NULL;
	return zonesnap_get(p->zones[i].snap, name, len, form, p->zones[i].override);
}

int policy_zone_foreach(const struct policy *p, size_t i, lists_entry_cb *cb, void *ctx)
{
	if (i >= p->zone_count || p->zones[i].snap == NULL)
		return 0;
	return zonesnap_foreach(p->zones[i].snap, cb, ctx);
}

size_t policy_zone_names(const struct policy *p)
{
	return p->zone_names;
}

void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	if (p->core != p) {
		for (size_t i = 0; p->zones != NULL && i < p->zone_count; i++)
			zonesnap_unref(p->zones[i].snap);
		free(p->zones);
		policy_free(p->core); /* drops the view's reference */
		free(p);
		return;
	}
	if (atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	free(p->zones); /* a core's zones hold no snapshots */
	domtree_free(p->tree);
	free(p->path);
	free(p->rules);
	free(p->rule_redirect);
	free(p->strings);
	for (size_t i = 0; i < p->redirect_count; i++)
		config_redirect_release(&p->redirects[i]);
	free(p->redirects);
	free(p->entries);
	for (size_t i = 0; i < p->list_count; i++) {
		free(p->lists[i].path);
		free(p->lists[i].reason);
		free(p->lists[i].ref);
	}
	free(p->lists);
	free(p->hits);
	free(p);
}

/* ---- matching -------------------------------------------------------------------------------- */

struct match_state {
	const struct policy *p;
	int64_t now;
	bool have_now;
};

/* domtree_accept_cb: disabled entries never match, scheduled ones only inside their window. */
static bool rule_accept(uint32_t v, void *ctx)
{
	struct match_state *m = ctx;
	const struct policy_rule *r;

	if (v & DISABLED)
		return false;
	r = &m->p->rules[v];
	if (r->from == 0 && r->until == 0)
		return true;
	if (!m->have_now) {
		m->now = policy_clock();
		m->have_now = true;
	}
	return policy_rule_active(r, m->now);
}

/* Most policies have neither: then every stored value is a plain rule, no filter needed. */
static domtree_accept_cb *match_filter(const struct policy *p)
{
	return p->has_schedule || p->has_disabled ? rule_accept : NULL;
}

/*
 * policy_match in full: the tree with its filter, then the zones, of which only a strictly more
 * specific trigger beats what came before. LABELS is QNAME's label count, or SIZE_MAX when QNAME
 * is not known to be well-formed (the tree then checks it).
 */
static __attribute__((noinline)) const struct policy_rule *match_full(const struct policy *p,
	const uint8_t *qname, size_t len, size_t labels, size_t *match_offset)
{
	struct match_state m = { .p = p };
	domtree_accept_cb *accept = match_filter(p);
	size_t off = 0, zoff;
	uint32_t i = labels == SIZE_MAX ?
		domtree_lookup_filter(p->tree, qname, len, &off, accept, &m) :
		domtree_lookup_labels(p->tree, qname, len, labels, &off, accept, &m);
	const struct policy_rule *best = i == DOMTREE_NONE ? NULL : &p->rules[i], *r;

	for (size_t z = 0; z < p->zone_count; z++) {
		if (p->zones[z].snap == NULL)
			continue;
		r = zonesnap_match(p->zones[z].snap, qname, len, p->zones[z].override, &zoff);
		if (r != NULL && (best == NULL || zoff < off)) {
			best = r;
			off = zoff;
		}
	}
	if (best != NULL && match_offset != NULL)
		*match_offset = off;
	return best;
}

const struct policy_rule *policy_match(const struct policy *p, const uint8_t *qname, size_t len,
	size_t *match_offset)
{
	return match_full(p, qname, len, SIZE_MAX, match_offset);
}

const struct policy_rule *policy_match_labels(const struct policy *p, const uint8_t *qname,
	size_t len, size_t labels, size_t *match_offset)
{
	/* The usual policy, without zones, filter or schedules: straight to the tree, with no
	 * state of our own (once per query, so even a stack frame shows). */
	if (p->zone_count == 0 && match_filter(p) == NULL) {
		uint32_t i = domtree_lookup_labels(p->tree, qname, len, labels, match_offset, NULL,
			NULL);
		return i == DOMTREE_NONE ? NULL : &p->rules[i];
	}
	return match_full(p, qname, len, labels, match_offset);
}

/* ---- decisions ------------------------------------------------------------------------------ */

/* What a query of QTYPE gets from R (NULL: forwarded) into D. */
static void decision_answer(struct policy_decision *d, const struct policy_rule *r,
	uint16_t qtype)
{
	static const enum policy_answer answers[] = {
		[ACTION_NXDOMAIN] = POLICY_NXDOMAIN, [ACTION_NODATA] = POLICY_NODATA,
		[ACTION_REFUSED] = POLICY_REFUSED, [ACTION_DROP] = POLICY_DROP,
		[ACTION_ALLOW] = POLICY_FORWARD, [ACTION_REDIRECT] = POLICY_REDIRECT,
		[ACTION_DEFAULT] = POLICY_FORWARD,
	};
	const struct config_redirect *rd = r != NULL ? r->redirect : NULL;

	d->action = r != NULL ? r->action : ACTION_ALLOW;
	d->answer = answers[d->action];
	d->a = d->aaaa = 0;
	d->cname = false;
	if (d->answer != POLICY_REDIRECT)
		return;
	if (rd != NULL)
		wire_redirect_plan(qtype, rd->cname_len > 0, rd->a_count, rd->aaaa_count, &d->a,
			&d->aaaa, &d->cname);
	if (d->a + d->aaaa == 0 && !d->cname)
		d->answer = POLICY_NODATA;
}

/*
 * The zones after the tree, as policy_match has them: a zone trigger decides only when it is
 * strictly more specific than what decided so far. Each zone's match becomes a step, in its
 * place by specificity (after tree steps of the same offset, which beat it).
 */
static void decide_zones(const struct policy *p, const uint8_t *qname, size_t len,
	unsigned flags, struct policy_decision *out)
{
	for (size_t z = 0; z < p->zone_count && out->nsteps < POLICY_STEPS_MAX; z++) {
		const struct policy_rule *r;
		size_t off, at = 0;

		if (p->zones[z].snap == NULL ||
			(r = zonesnap_match(p->zones[z].snap, qname, len, p->zones[z].override, &off)) == NULL)
			continue;
		bool decides = out->rule == NULL || off < out->match_offset;

		if (!decides && !(flags & POLICY_DECIDE_ENCLOSING))
			continue;
		while (at < out->nsteps && out->steps[at].offset <= off)
			at++;
		memmove(&out->steps[at + 1], &out->steps[at], (out->nsteps - at) * sizeof(out->steps[0]));
		out->nsteps++;
		out->steps[at] = (struct policy_step){ .rule = r, .offset = off, .zone = z,
			.slot = off == 0 ? MATCH_EXACT : MATCH_BELOW,
			.state = decides ? POLICY_DECIDES : POLICY_OVERRIDDEN };
		if (decides) {
			if (out->rule != NULL)
				out->steps[out->decider + (out->decider >= at)].state = POLICY_OVERRIDDEN;
			out->rule = r;
			out->match_offset = off;
			out->decider = at;
		} else if (out->decider >= at) {
			out->decider++;
		}
	}
}

int policy_decide(const struct policy *p, const uint8_t *qname, size_t len, enum match_form form,
	uint16_t qtype, int64_t now, unsigned flags, struct policy_decision *out)
{
	size_t offs[POLICY_STEPS_MAX], n = 0, o = 0;

	out->rule = NULL;
	out->match_offset = 0;
	out->nsteps = 0;
	out->decider = 0;
	decision_answer(out, NULL, qtype);
	/* QNAME's suffixes, itself first: the offsets the matcher probes */
	for (;;) {
		if (o >= len || qname[o] > 63 || n == POLICY_STEPS_MAX)
			return -1;
		offs[n++] = o;
		if (qname[o] == 0)
			break;
		o += 1 + (size_t)qname[o];
	}
	if (o + 1 != len)
		return -1;
	for (size_t k = 0; k < n; k++) {
		enum match_form slot = k == 0 && form != MATCH_BELOW ? MATCH_EXACT : MATCH_BELOW;
		struct policy_step *st = &out->steps[out->nsteps];
		const struct policy_rule *r;
		uint32_t v;

		if (out->rule != NULL && !(flags & POLICY_DECIDE_ENCLOSING))
			break;
		if ((v = domtree_get(p->tree, qname + offs[k], len - offs[k], slot)) == DOMTREE_NONE)
			continue;
		out->nsteps++;
		*st = (struct policy_step){ .offset = offs[k], .slot = slot, .file = p->path };
		if (v & DISABLED) { /* a disabled YAML entry nothing else took */
			const struct policy_entry *e = &p->entries[v & ~DISABLED];

			st->text = e->key;
			st->line = e->line;
			st->state = POLICY_DISABLED;
			continue;
		}
		r = st->rule = &p->rules[v];
		st->file = r->file;
		if (r->source == POLICY_FROM_YAML) {
			st->text = r->name;
			st->line = r->line;
		} else if (flags & POLICY_DECIDE_LIST_LINES) {
			st->line = policy_list_line(p, (size_t)r->list_index, qname + offs[k],
				len - offs[k], slot != MATCH_BELOW);
		}
		if (!policy_rule_active(r, now)) {
			st->state = POLICY_NOT_NOW;
		} else if (out->rule != NULL) {
			st->state = POLICY_OVERRIDDEN;
		} else {
			st->state = POLICY_DECIDES;
			out->rule = r;
			out->match_offset = offs[k];
			out->decider = out->nsteps - 1;
		}
	}
	if (form != MATCH_BELOW)
		decide_zones(p, qname, len, flags, out);
	if (out->rule == NULL)
		out->decider = out->nsteps;
	decision_answer(out, out->rule, qtype);
	return 0;
}

int64_t policy_next_transition(const struct policy *p, int64_t now)
{
	int64_t next = 0;

	for (size_t i = 0; p->has_schedule && i < p->yaml_rules; i++) {
		const struct policy_rule *r = &p->rules[i];

		if (r->from > now && (next == 0 || r->from < next))
			next = r->from;
		if (r->until > now && (next == 0 || r->until < next))
			next = r->until;
	}
	return next;
}

/* ---- accessors ------------------------------------------------------------------------------- */

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

const uint8_t *policy_soa_rr(const struct policy *p, size_t *len)
{
	*len = p->soa_rr_len;
	return p->soa_rr;
}

size_t policy_rule_count(const struct policy *p)
{
	return p->yaml_rules;
}

size_t policy_yaml_rule_at(const struct policy *p, size_t i, const struct policy_rule **rule)
{
	*rule = i < p->yaml_rules ? &p->rules[i] : NULL;
	return p->yaml_rules;
}

size_t policy_list_names(const struct policy *p)
{
	return p->list_names;
}

size_t policy_memory(const struct policy *p)
{
	return sizeof(*p) + domtree_memory(p->tree) + p->rules_cap * sizeof(*p->rules) +
		p->strings_size + p->entry_count * sizeof(*p->entries);
}

/* ---- the reload summary ---------------------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b)
{
	const struct policy_entry *x = *(const struct policy_entry *const *)a;
	const struct policy_entry *y = *(const struct policy_entry *const *)b;
	int c = strcmp(x->key, y->key);

	return c != 0 ? c : (int)x->form - (int)y->form;
}

/* P's entries sorted by name and form, in a new array the caller frees; NULL on ENOMEM. */
static const struct policy_entry **entries_sorted(const struct policy *p)
{
	const struct policy_entry **v = malloc((p->entry_count + 1) * sizeof(*v));

	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < p->entry_count; i++)
		v[i] = &p->entries[i];
	qsort(v, p->entry_count, sizeof(*v), entry_cmp);
	return v;
}

static void lists_diff(const struct policy *old, const struct policy *fresh,
	struct policy_diff *d)
{
	for (size_t i = 0; i < fresh->list_count; i++) {
		const struct policy_list *n = &fresh->lists[i];
		bool was = false;

		for (size_t j = 0; j < old->list_count; j++)
			if (strcmp(old->lists[j].path, n->path) == 0)
				was = old->lists[j].enabled;
		d->lists_on += n->enabled && !was;
		d->lists_off += !n->enabled && was;
	}
	for (size_t j = 0; j < old->list_count; j++) {
		bool still = false;

		for (size_t i = 0; i < fresh->list_count; i++)
			still |= strcmp(old->lists[j].path, fresh->lists[i].path) == 0;
		d->lists_off += !still && old->lists[j].enabled;
	}
}

int policy_diff(const struct policy *old, const struct policy *fresh, struct policy_diff *d)
{
	const struct policy_entry **a = entries_sorted(old), **b = entries_sorted(fresh);
	size_t i = 0, j = 0;

	memset(d, 0, sizeof(*d));
	if (a == NULL || b == NULL) {
		free(a);
		free(b);
		return -1;
	}
	while (i < old->entry_count || j < fresh->entry_count) {
		int c = i == old->entry_count ? 1 : j == fresh->entry_count ? -1 :
			entry_cmp(&a[i], &b[j]);

		if (c < 0) {
			d->removed++;
			i++;
		} else if (c > 0) {
			d->added++;
			j++;
		} else {
			d->switched_on += !a[i]->enabled && b[j]->enabled;
			d->switched_off += a[i]->enabled && !b[j]->enabled;
			i++;
			j++;
		}
	}
	lists_diff(old, fresh, d);
	free(a);
	free(b);
	return 0;
}

size_t policy_list_count(const struct policy *p)
{
	return p->list_count;
}

const char *policy_list_path(const struct policy *p, size_t i, bool *enabled, size_t *names)
{
	if (i >= p->list_count)
		return NULL;
	if (enabled != NULL)
		*enabled = p->lists[i].enabled;
	if (names != NULL)
		*names = p->lists[i].names;
	return p->lists[i].path;
}

struct line_search {
	const uint8_t *name;
	size_t len;
	bool self;          /* looking for an entry covering the name itself (else: below it) */
	unsigned line;
};

static int line_entry(void *ctx, const struct lists_entry *e)
{
	struct line_search *ls = ctx;
	bool fits = ls->self ? e->form != MATCH_BELOW : e->form != MATCH_EXACT;

	if (ls->line == 0 && fits && e->name_len == ls->len && memcmp(e->name, ls->name, ls->len) == 0)
		ls->line = e->line;
	return 0;
}

unsigned policy_list_line(const struct policy *p, size_t list, const uint8_t *name, size_t len,
	bool self)
{
	const struct policy_list *pl;
	struct config_list l;
	struct line_search ls = { .name = name, .len = len, .self = self };
	struct diag *d;
	size_t bad = 0;

	if (list >= p->list_count)
		return 0;
	pl = &p->lists[list];
	l = (struct config_list){ .path = pl->path, .format = pl->format, .enabled = true,
		.action = pl->action, .skip_bad_lines = true, .line = pl->line };
	if ((d = diag_new()) == NULL)
		return 0;
	lists_read(&l, d, line_entry, &ls, &bad);
	diag_free(d);
	return ls.line;
}

/* ---- blocked-query counters ------------------------------------------------------------------ */

int policy_hits_init(struct policy *p, unsigned workers)
{
	/* A block per worker, rounded up to a cache line so no two workers write the same line. */
	size_t per_line = 64 / sizeof(uint64_t);
	size_t stride = (p->yaml_rules + p->list_count + per_line - 1) / per_line * per_line;

	if (stride == 0)
		stride = per_line;
	p->hits = aligned_alloc(64, stride * (workers ? workers : 1) * sizeof(uint64_t));
	if (p->hits == NULL)
		return -1;
	for (size_t i = 0; i < stride * (workers ? workers : 1); i++)
		atomic_init(&p->hits[i], 0);
	p->hit_stride = stride;
	p->hit_workers = workers ? workers : 1;
	return 0;
}

void policy_hit(const struct policy *p, unsigned worker, const struct policy_rule *r)
{
	_Atomic uint64_t *c;

	if (p->hits == NULL || worker >= p->hit_workers || r->counter == 0)
		return; /* not counting (tests, offline tools), or a zone's rule */
	c = &p->hits[(size_t)worker * p->hit_stride + r->counter - 1];
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
		memory_order_relaxed);
}

size_t policy_hit_slots(const struct policy *p)
{
	return p->yaml_rules + p->list_count;
}

uint64_t policy_hits(const struct policy *p, size_t slot)
{
	uint64_t sum = 0;

	for (unsigned w = 0; p->hits != NULL && slot < policy_hit_slots(p) && w < p->hit_workers; w++)
		sum += atomic_load_explicit(&p->hits[(size_t)w * p->hit_stride + slot],
			memory_order_relaxed);
	return sum;
}

const void *policy_hits_id(const struct policy *p)
{
	return p->hits;
}

const char *policy_hit_label(const struct policy *p, size_t slot, bool *is_list)
{
	*is_list = slot >= p->yaml_rules;
	if (slot < p->yaml_rules)
		return p->rules[slot].name;
	if (slot - p->yaml_rules < p->list_count)
		return p->lists[slot - p->yaml_rules].path;
	return NULL;
}
