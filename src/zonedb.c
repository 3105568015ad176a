/*
 * zonedb: one RPZ zone's triggers, changed by deltas and published as immutable snapshots (see
 * include/zonedb.h).
 *
 * A tree value is an action (ACTION_NXDOMAIN .. ACTION_ALLOW, shared rules) or, from ZV_REDIRECT
 * up, the index of a redirect rule of its own (a CNAME target or local-data addresses). Redirect
 * rules live in fixed chunks that never move, so a snapshot can read rules the store keeps
 * appending. A rule a snapshot may read is never written again: changing an owner's addresses
 * after a snapshot makes a new rule (copy on write), and the old one stays until the rules are
 * compacted together with the base (then a new rule table is made and the store renumbered).
 */
#include "zonedb.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "domtree.h"

#define ZV_REDIRECT 16u
#define ZV_TOMB 0xFFFFFFFEu /* overlay only: the trigger was removed since the base */
#define ZR_CHUNK 4096u
#define ZR_CHUNKS 4096u     /* 16 M redirect rules per rule table */

struct zredir {
	struct policy_rule rule;
	struct config_redirect to;
};

/* The rules the tree values name; shared by a store and its snapshots. */
struct zrules {
	_Atomic unsigned refs;
	struct policy_rule shared[ACTION_DEFAULT]; /* by action; [ACTION_REDIRECT] unused */
	struct zredir *chunk[ZR_CHUNKS];           /* owned */
	size_t count;                              /* redirect rules made */
	size_t published;                          /* [0, published) may be read: frozen */
	char *name, *reason, *ref;                 /* owned */
};

struct zbase {
	_Atomic unsigned refs;
	struct domtree *tree; /* owned */
};

struct zonedb {
	struct domtree *store;   /* owned: every trigger */
	struct domtree *changed; /* owned: names written since the base was taken */
	struct zbase *base;      /* one reference, NULL before the first snapshot */
	struct zrules *rules;    /* one reference */
	size_t triggers, live_redirects;
};

struct zonesnap {
	_Atomic unsigned refs;
	struct zbase *base;      /* one reference */
	struct domtree *overlay; /* owned; NULL when nothing changed since the base */
	struct zrules *rules;    /* one reference */
	size_t triggers;
};

/* ---- rules ----------------------------------------------------------------------------------- */

static void rules_unref(struct zrules *r)
{
	if (r == NULL || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	for (size_t i = 0; i < r->count; i++)
		config_redirect_release(&r->chunk[i / ZR_CHUNK][i % ZR_CHUNK].to);
	for (size_t c = 0; c < ZR_CHUNKS && r->chunk[c] != NULL; c++)
		free(r->chunk[c]);
	free(r->name);
	free(r->reason);
	free(r->ref);
	free(r);
}

static struct zrules *rules_new(const char *name, const char *reason, const char *ref)
{
	struct zrules *r = calloc(1, sizeof(*r)); /* one reference, the caller's */

	if (r == NULL)
		return NULL;
	atomic_init(&r->refs, 1);
	if ((r->name = strdup(name)) == NULL || (reason && (r->reason = strdup(reason)) == NULL) ||
		(ref && (r->ref = strdup(ref)) == NULL)) {
		rules_unref(r);
		return NULL;
	}
	for (int a = 0; a < ACTION_DEFAULT; a++) {
		struct policy_rule *p = &r->shared[a];
		p->action = (enum policy_action)a;
		p->name = r->name;
		p->reason = r->reason;
		p->reason_len = reason ? strlen(reason) : 0;
		p->ref = r->ref;
	}
	return r;
}

static struct zredir *redir_at(const struct zrules *r, uint32_t v)
{
	size_t i = v - ZV_REDIRECT;

	return &r->chunk[i / ZR_CHUNK][i % ZR_CHUNK];
}

/* A new redirect rule, a copy of FROM (or empty); its value in *V. -1 when out of memory. */
static int redir_new(struct zrules *r, const struct zredir *from, uint32_t *v)
{
	size_t i = r->count, c = i / ZR_CHUNK;
	struct zredir *z;

	if (c >= ZR_CHUNKS)
		return -1;
	if (r->chunk[c] == NULL && (r->chunk[c] = calloc(ZR_CHUNK, sizeof(struct zredir))) == NULL)
		return -1;
	z = &r->chunk[c][i % ZR_CHUNK];
	memset(z, 0, sizeof(*z));
	if (from != NULL && config_redirect_copy(&z->to, &from->to) < 0)
		return -1;
	z->to.set = true;
	z->to.ttl = 30;
	z->rule = r->shared[ACTION_REDIRECT];
	z->rule.action = ACTION_REDIRECT;
	z->rule.redirect = &z->to;
	r->count++;
	*v = ZV_REDIRECT + (uint32_t)i;
	return 0;
}

static int addr_find(const struct config_redirect *to, const struct lists_entry *e)
{
	size_t n = e->addr_family == AF_INET ? to->a_count : to->aaaa_count;

	for (size_t i = 0; i < n; i++)
		if (e->addr_family == AF_INET ? memcmp(to->a[i], e->addr, 4) == 0 :
			memcmp(to->aaaa[i], e->addr, 16) == 0)
			return (int)i;
	return -1;
}

static int addr_add(struct config_redirect *to, const struct lists_entry *e)
{
	void *na;

	if (e->addr_family == AF_INET) {
		if ((na = realloc(to->a, (to->a_count + 1) * 4)) == NULL)
			return -1;
		to->a = na;
		memcpy(to->a[to->a_count++], e->addr, 4);
	} else {
		if ((na = realloc(to->aaaa, (to->aaaa_count + 1) * 16)) == NULL)
			return -1;
		to->aaaa = na;
		memcpy(to->aaaa[to->aaaa_count++], e->addr, 16);
	}
	return 0;
}

static void addr_remove(struct config_redirect *to, const struct lists_entry *e, int i)
{
	if (e->addr_family == AF_INET)
		memmove(to->a[i], to->a[i + 1], (to->a_count-- - (size_t)i - 1) * 4);
	else
		memmove(to->aaaa[i], to->aaaa[i + 1], (to->aaaa_count-- - (size_t)i - 1) * 16);
}

/* ---- the store ------------------------------------------------------------------------------- */

struct zonedb *zonedb_new(const char *name, const char *reason, const char *ref, size_t expected)
{
	struct zonedb *db = calloc(1, sizeof(*db)); /* owned by the caller */

	if (db == NULL)
		return NULL;
	db->store = domtree_new(expected);
	db->changed = domtree_new(64);
	db->rules = rules_new(name, reason, ref);
	if (db->store == NULL || db->changed == NULL || db->rules == NULL) {
		zonedb_free(db);
		return NULL;
	}
	return db;
}

static void base_unref(struct zbase *b)
{
	if (b == NULL || atomic_fetch_sub(&b->refs, 1) != 1)
		return;
	domtree_free(b->tree);
	free(b);
}

void zonedb_free(struct zonedb *db)
{
	if (db == NULL)
		return;
	domtree_free(db->store);
	domtree_free(db->changed);
	base_unref(db->base);
	rules_unref(db->rules);
	free(db);
}

/* Writes V to E's slot, keeping the counts and noting the name as changed. */
static int slot_put(struct zonedb *db, const struct lists_entry *e, uint32_t old, uint32_t v)
{
	/* before the first snapshot everything goes into the base: no need to note changes */
	if (domtree_set(db->store, e->name, e->name_len, e->form, v) < 0 || (db->base != NULL &&
		domtree_set(db->changed, e->name, e->name_len, e->form, 0) < 0))
		return -1;
	db->triggers += (old == DOMTREE_NONE) - (v == DOMTREE_NONE);
	db->live_redirects += (v != DOMTREE_NONE && v >= ZV_REDIRECT) -
		(old != DOMTREE_NONE && old >= ZV_REDIRECT);
	return 0;
}

/* The redirect rule of value V for writing: V's own while unpublished, else a copy (*NV). */
static struct zredir *redir_writable(struct zonedb *db, uint32_t v, uint32_t *nv)
{
	*nv = v;
	if (v - ZV_REDIRECT >= db->rules->published)
		return redir_at(db->rules, v);
	if (redir_new(db->rules, redir_at(db->rules, v), nv) < 0)
		return NULL;
	return redir_at(db->rules, *nv);
}

int zonedb_add(struct zonedb *db, const struct lists_entry *e)
{
	uint32_t old = domtree_get(db->store, e->name, e->name_len, e->form), v;
	struct zredir *z;

	if (e->addr_family != 0) {
		if (old != DOMTREE_NONE && old >= ZV_REDIRECT && redir_at(db->rules, old)->to.cname_len == 0) {
			if (addr_find(&redir_at(db->rules, old)->to, e) >= 0)
				return 0; /* a record set holds each record once */
			if ((z = redir_writable(db, old, &v)) == NULL)
				return -1;
		} else {
			if (redir_new(db->rules, NULL, &v) < 0)
				return -1;
			z = redir_at(db->rules, v);
		}
		if (addr_add(&z->to, e) < 0)
			return -1;
	} else if (e->action == ACTION_REDIRECT) {
		if (redir_new(db->rules, NULL, &v) < 0)
			return -1;
		z = redir_at(db->rules, v);
		memcpy(z->to.cname, e->cname, e->cname_len);
		z->to.cname_len = e->cname_len;
	} else {
		v = (uint32_t)e->action;
	}
	return v == old ? 0 : slot_put(db, e, old, v);
}

int zonedb_del(struct zonedb *db, const struct lists_entry *e)
{
	uint32_t old = domtree_get(db->store, e->name, e->name_len, e->form), v = DOMTREE_NONE;
	const struct zredir *cur;
	int i;

	if (old == DOMTREE_NONE)
		return 1;
	if (old < ZV_REDIRECT) {
		if (e->addr_family != 0 || e->action != (enum policy_action)old)
			return 1;
		return slot_put(db, e, old, v);
	}
	cur = redir_at(db->rules, old);
	if (e->addr_family == 0) {
		if (e->action != ACTION_REDIRECT || cur->to.cname_len != e->cname_len ||
			memcmp(cur->to.cname, e->cname, e->cname_len) != 0)
			return 1;
		return slot_put(db, e, old, v);
	}
	if (cur->to.cname_len != 0 || (i = addr_find(&cur->to, e)) < 0)
		return 1;
	if (cur->to.a_count + cur->to.aaaa_count > 1) {
		struct zredir *z = redir_writable(db, old, &v);
		if (z == NULL)
			return -1;
		addr_remove(&z->to, e, i);
	}
	return slot_put(db, e, old, v);
}

size_t zonedb_triggers(const struct zonedb *db)
{
	return db->triggers;
}

struct each_state {
	const struct zrules *rules;
	const struct domtree *overlay; /* a snapshot's: names it holds are skipped in the base */
	bool tombstones;               /* walking an overlay: ZV_TOMB is no trigger */
	lists_entry_cb *cb;
	void *ctx;
};

static int each_slot(struct each_state *st, const uint8_t *name, size_t len, enum match_form f,
	uint32_t v)
{
	struct lists_entry e = { .name = name, .name_len = len, .form = f };
	const struct config_redirect *to;

	if (v == DOMTREE_NONE || (st->tombstones && v == ZV_TOMB))
		return 0;
	if (st->overlay != NULL && domtree_get(st->overlay, name, len, f) != DOMTREE_NONE)
		return 0; /* changed since the base: the overlay says what it is now */
	if (v < ZV_REDIRECT) {
		e.action = (enum policy_action)v;
		return st->cb(st->ctx, &e);
	}
	to = &redir_at(st->rules, v)->to;
	e.action = ACTION_REDIRECT;
	if (to->cname_len > 0) {
		e.cname = to->cname;
		e.cname_len = to->cname_len;
		return st->cb(st->ctx, &e);
	}
	e.addr_family = AF_INET;
	for (size_t i = 0; i < to->a_count; i++) {
		memcpy(e.addr, to->a[i], 4);
		if (st->cb(st->ctx, &e) < 0)
			return -1;
	}
	e.addr_family = AF_INET6;
	for (size_t i = 0; i < to->aaaa_count; i++) {
		memcpy(e.addr, to->aaaa[i], 16);
		if (st->cb(st->ctx, &e) < 0)
			return -1;
	}
	return 0;
}

static int each_name(void *ctx, const uint8_t *name, size_t len, uint32_t self, uint32_t below)
{
	struct each_state *st = ctx;

	if (each_slot(st, name, len, MATCH_EXACT, self) < 0 ||
		each_slot(st, name, len, MATCH_BELOW, below) < 0)
		return -1;
	return 0;
}

int zonedb_foreach(const struct zonedb *db, lists_entry_cb *cb, void *ctx)
{
	struct each_state st = { .rules = db->rules, .cb = cb, .ctx = ctx };

	return domtree_foreach(db->store, each_name, &st);
}

/* ---- compaction ------------------------------------------------------------------------------ */

struct renumber {
	struct zonedb *db;
	struct zrules *fresh;
	int failed;
};

static uint32_t renumber_value(struct renumber *rn, uint32_t v)
{
	uint32_t nv;

	if (v == DOMTREE_NONE || v < ZV_REDIRECT)
		return v;
	if (redir_new(rn->fresh, redir_at(rn->db->rules, v), &nv) < 0) {
		rn->failed = 1;
		return v;
	}
	return nv;
}

static int renumber_name(void *ctx, const uint8_t *name, size_t len, uint32_t self,
	uint32_t below)
{
	struct renumber *rn = ctx;
	uint32_t s = renumber_value(rn, self), b = renumber_value(rn, below);

	/* the name exists, so these writes add nothing and cannot fail or move the table */
	domtree_set(rn->db->store, name, len, MATCH_EXACT, s);
	domtree_set(rn->db->store, name, len, MATCH_BELOW, b);
	return rn->failed ? -1 : 0;
}

/*
 * When most redirect rules are garbage (replaced since they were published), copies the live
 * ones into a new table and renumbers the store. Only at a new base: a snapshot reads values of
 * its base and overlay against its own rule table, so old snapshots keep the old one.
 */
static int rules_compact(struct zonedb *db)
{
	struct renumber rn = { .db = db };
	struct zrules *old = db->rules;

	if (old->count < ZR_CHUNK || old->count - db->live_redirects < db->live_redirects)
		return 0;
	if ((rn.fresh = rules_new(old->name, old->reason, old->ref)) == NULL)
		return -1;
	if (domtree_foreach(db->store, renumber_name, &rn) < 0) {
		/* half renumbered: the store is unusable with either table; the caller starts over */
		rules_unref(rn.fresh);
		return -1;
	}
	db->rules = rn.fresh;
	rules_unref(old);
	return 0;
}

static int take_base(struct zonedb *db)
{
	struct zbase *b = calloc(1, sizeof(*b));
	struct domtree *changed = domtree_new(64);

	if (b == NULL || changed == NULL || rules_compact(db) < 0 ||
		(b->tree = domtree_clone(db->store)) == NULL) {
		free(b);
		domtree_free(changed);
		return -1;
	}
	atomic_init(&b->refs, 1);
	base_unref(db->base);
	db->base = b;
	domtree_free(db->changed);
	db->changed = changed;
	return 0;
}

/* ---- snapshots ------------------------------------------------------------------------------- */

struct overlay_build {
	const struct zonedb *db;
	struct domtree *overlay;
};

static int overlay_name(void *ctx, const uint8_t *name, size_t len, uint32_t self,
	uint32_t below)
{
	struct overlay_build *ob = ctx;

	for (int f = 0; f < 2; f++) {
		enum match_form form = f == 0 ? MATCH_EXACT : MATCH_BELOW;
		uint32_t v;

		if ((f == 0 ? self : below) == DOMTREE_NONE)
			continue; /* not changed in this slot */
		v = domtree_get(ob->db->store, name, len, form);
		if (domtree_set(ob->overlay, name, len, form, v == DOMTREE_NONE ? ZV_TOMB : v) < 0)
			return -1;
	}
	return 0;
}

struct zonesnap *zonedb_snapshot(struct zonedb *db)
{
	struct zonesnap *s = calloc(1, sizeof(*s)); /* one reference, the caller's */
	size_t changed = domtree_count(db->changed);

	if (s == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	if (db->base == NULL || (changed >= ZONEDB_COMPACT_MIN &&
		changed > domtree_count(db->base->tree) / 16)) {
		if (take_base(db) < 0)
			goto fail;
		changed = 0;
	}
	if (changed > 0) {
		struct overlay_build ob = { db, domtree_new(changed) };
		if (ob.overlay == NULL)
			goto fail;
		s->overlay = ob.overlay;
		if (domtree_foreach(db->changed, overlay_name, &ob) < 0)
			goto fail;
	}
	atomic_fetch_add(&db->base->refs, 1);
	s->base = db->base;
	atomic_fetch_add(&db->rules->refs, 1);
	s->rules = db->rules;
	db->rules->published = db->rules->count;
	s->triggers = db->triggers;
	return s;
fail:
	domtree_free(s->overlay);
	free(s);
	return NULL;
}

int zonesnap_foreach(const struct zonesnap *s, lists_entry_cb *cb, void *ctx)
{
	struct each_state st = { .rules = s->rules, .overlay = s->overlay, .cb = cb, .ctx = ctx };

	if (domtree_foreach(s->base->tree, each_name, &st) < 0)
		return -1;
	if (s->overlay == NULL)
		return 0;
	st.overlay = NULL;
	st.tombstones = true;
	return domtree_foreach(s->overlay, each_name, &st);
}

void zonesnap_ref(struct zonesnap *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void zonesnap_unref(struct zonesnap *s)
{
	if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	base_unref(s->base);
	domtree_free(s->overlay);
	rules_unref(s->rules);
	free(s);
}

size_t zonesnap_triggers(const struct zonesnap *s)
{
	return s->triggers;
}

size_t zonesnap_memory(const struct zonesnap *s)
{
	return sizeof(*s) + domtree_memory(s->base->tree) +
		(s->overlay ? domtree_memory(s->overlay) : 0) + sizeof(*s->rules) +
		(s->rules->count + ZR_CHUNK - 1) / ZR_CHUNK * ZR_CHUNK * sizeof(struct zredir);
}

/* The value covering QNAME with an overlay: per suffix, the overlay's slot first, then the base's. */
static uint32_t match_overlay(const struct zonesnap *s, const uint8_t *qname, size_t len,
	size_t *match_offset)
{
	for (size_t o = 0; o < len; o += 1 + (size_t)qname[o]) {
		enum match_form form = o == 0 ? MATCH_EXACT : MATCH_BELOW;
		uint32_t v = domtree_get(s->overlay, qname + o, len - o, form);

		if (v == DOMTREE_NONE)
			v = domtree_get(s->base->tree, qname + o, len - o, form);
		else if (v == ZV_TOMB)
			v = DOMTREE_NONE;
		if (v != DOMTREE_NONE) {
			*match_offset = o;
			return v;
		}
		if (qname[o] == 0 || qname[o] > 63)
			break;
	}
	return DOMTREE_NONE;
}

const struct policy_rule *zonesnap_match(const struct zonesnap *s, const uint8_t *qname,
	size_t len, enum policy_action override, size_t *match_offset)
{
	uint32_t v;

	if (s->overlay == NULL) {
		v = domtree_lookup(s->base->tree, qname, len, match_offset);
	} else {
		/* Two ordinary lookups decide unless the overlay's best is a tombstone: a base match
		 * more specific than anything in the overlay stands (the overlay holds nothing at its
		 * offset), an overlay value at least as specific replaces the base's. */
		size_t ob = SIZE_MAX, oo = SIZE_MAX;
		uint32_t vb = domtree_lookup(s->base->tree, qname, len, &ob);
		uint32_t vo = domtree_lookup(s->overlay, qname, len, &oo);

		if (vo == DOMTREE_NONE || (vb != DOMTREE_NONE && ob < oo)) {
			v = vb;
			*match_offset = ob;
		} else if (vo != ZV_TOMB) {
			v = vo;
			*match_offset = oo;
		} else {
			v = match_overlay(s, qname, len, match_offset); /* walk past the tombstone */
		}
	}
	if (v == DOMTREE_NONE)
		return NULL;
	if (override != ACTION_DEFAULT)
		return &s->rules->shared[override];
	return v < ZV_REDIRECT ? &s->rules->shared[v] : &redir_at(s->rules, v)->rule;
}

const struct policy_rule *zonesnap_get(const struct zonesnap *s, const uint8_t *name, size_t len,
	enum match_form form, enum policy_action override)
{
	uint32_t v = s->overlay != NULL ? domtree_get(s->overlay, name, len, form) : DOMTREE_NONE;

	if (v == DOMTREE_NONE)
		v = domtree_get(s->base->tree, name, len, form);
	if (v == DOMTREE_NONE || v == ZV_TOMB)
		return NULL;
	if (override != ACTION_DEFAULT)
		return &s->rules->shared[override];
	return v < ZV_REDIRECT ? &s->rules->shared[v] : &redir_at(s->rules, v)->rule;
}
