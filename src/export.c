/*
 * export: the effective policy as an RPZ zone (see include/export.h).
 *
 * The policy keeps no per-name record of where a name came from (two million names cost the
 * matcher ~50 bytes each and nothing more), so the export enumerates the candidates again: the
 * YAML entries, then each enabled list read again through lists_read. For every slot (SELF,
 * BELOW) a candidate names, it asks the policy who holds that slot (policy_decide, the one place
 * precedence and schedules are decided) and writes the holder's trigger in the holder's own
 * section: a YAML entry's among the YAML entries, a list name's under its list. A second domtree
 * remembers the slots already written, so a name a list repeats is written once. Output is plain
 * stdio, one fputs per field: two million triggers take well under a second.
 */
#include "export.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "domtree.h"
#include "lists.h"
#include "log.h"
#include "value.h"

/* Longest owner text: 255 octets, each escaped as \DDD at worst, plus "*." and the NUL. */
#define OWNER_TEXT_MAX (CONFIG_NAME_MAX * 4 + 4)

struct exporter {
	FILE *out;                       /* borrowed */
	struct domtree *seen;            /* owned: slots already written */
	const struct config *cfg;        /* borrowed */
	const struct policy *pol;        /* borrowed */
	int64_t now;
	enum policy_source section;      /* whose triggers this pass writes */
	size_t list;                     /* POLICY_FROM_LIST: which list's */
	bool not_now;                    /* the last entry's holder is outside its window */
	size_t origin_len;               /* wire length of the origin, for the 255-octet check */
	char origin[CONFIG_NAME_MAX * 4 + 5]; /* its presentation text with the final dot */
	size_t zone;                     /* zones_export: the zone whose triggers this pass writes */
	uint8_t last[CONFIG_NAME_MAX];   /* zones_export: the slot last written (one per address) */
	size_t last_len;
	enum match_form last_form;
	struct export_stats st;
	struct policy_decision dec;      /* scratch for policy_decide (7 KB: not on every call) */
};

/* ---- names ----------------------------------------------------------------------------------- */

/* Presentation text of a wire name (value_name_format), for owners, targets and warnings. */
static size_t name_text(const uint8_t *name, char *buf)
{
	return value_name_format(name, buf);
}

/* An absolute target name: "." for the root, else the text and a trailing dot. */
static void put_target(FILE *out, const uint8_t *name)
{
	char buf[OWNER_TEXT_MAX];

	name_text(name, buf);
	fputs(buf, out);
	fputc('.', out);
}

/*
 * The owner of a trigger for NAME (LEN octets) in slot FORM (MATCH_EXACT or MATCH_BELOW),
 * relative to $ORIGIN, into BUF. Returns NULL, or why it cannot be written.
 */
static const char *owner_text(const struct exporter *ex, const uint8_t *name, size_t len,
	enum match_form form, char *buf)
{
	size_t n = 0;

	if (form == MATCH_EXACT && len == 1)
		return "the root as an exact trigger is the zone's origin, which holds only SOA and NS";
	if ((form == MATCH_BELOW ? 2 : 0) + len - 1 + ex->origin_len > CONFIG_NAME_MAX)
		return "the trigger is longer than 255 octets under the origin";
	if (form == MATCH_BELOW) {
		buf[n++] = '*';
		if (len > 1)
			buf[n++] = '.';
	}
	name_text(name, buf + n);
	return NULL;
}

/* ---- records --------------------------------------------------------------------------------- */

static void put_addr(FILE *out, const char *owner, uint32_t ttl, int family, const void *addr)
{
	char text[INET6_ADDRSTRLEN];

	inet_ntop(family, addr, text, sizeof(text));
	fprintf(out, "%s %u %s %s", owner, ttl, family == AF_INET ? "A" : "AAAA", text);
}

/*
 * The records of one trigger: OWNER with action A (resolved, never ACTION_DEFAULT), R the
 * landing page of a redirect. COMMENT (may be NULL) ends the first line. Lines after the first
 * are the rest of a redirect's addresses.
 */
static void put_action(struct exporter *ex, const char *owner, enum policy_action a,
	const struct config_redirect *r, const char *comment)
{
	static const char *const target[] = {
		[ACTION_NXDOMAIN] = ".", [ACTION_NODATA] = "*.", [ACTION_ALLOW] = "rpz-passthru.",
		[ACTION_DROP] = "rpz-drop.", [ACTION_REFUSED] = ".",
	};
	FILE *out = ex->out;
	bool first = true;

	if (a == ACTION_REDIRECT && r != NULL && r->cname_len > 0) {
		fprintf(out, "%s %u CNAME ", owner, r->ttl);
		put_target(out, r->cname);
	} else if (a == ACTION_REDIRECT && r != NULL && r->a_count + r->aaaa_count > 0) {
		/* with no CNAME, A and AAAA queries get these; every other type NODATA, as in RPZ */
		for (size_t i = 0; i < r->a_count + r->aaaa_count; i++, first = false) {
			if (!first)
				fputc('\n', out);
			if (i < r->a_count)
				put_addr(out, owner, r->ttl, AF_INET, r->a[i]);
			else
				put_addr(out, owner, r->ttl, AF_INET6, r->aaaa[i - r->a_count]);
		}
	} else {
		/* a redirect without a landing page answers NODATA in blokir: "*." says the same */
		fprintf(out, "%s CNAME %s", owner, a == ACTION_REDIRECT ? "*." : target[a]);
	}
	if (a == ACTION_REFUSED)
		fputs(" ; refused: RPZ has no REFUSED, written as NXDOMAIN", out);
	if (comment != NULL)
		fprintf(out, " ; %s", comment);
	fputc('\n', out);
}

/* TEXT with line breaks and other control characters made spaces: it goes on a comment line. */
static void comment_append(char *buf, size_t cap, const char *label, const char *text)
{
	size_t n = strlen(buf);

	if (text == NULL || n + 1 >= cap)
		return;
	snprintf(buf + n, cap - n, "; %s: %s", label, text);
	for (char *p = buf + n; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/*
 * Slot FORM (MATCH_EXACT or MATCH_BELOW) of NAME: written when the policy's holder of it belongs
 * to this pass and it is not written yet. Returns 0, or -1 when out of memory.
 */
static int slot_export(struct exporter *ex, const uint8_t *name, size_t len, enum match_form form)
{
	const struct policy_step *h = &ex->dec.steps[0];
	const struct policy_rule *r;
	char owner[OWNER_TEXT_MAX], comment[1024] = "";
	const char *why;
	int rc;

	/* the holder is the first step, if it is QNAME's own slot */
	if (policy_decide(ex->pol, name, len, form, 0, ex->now, 0, &ex->dec) < 0 ||
		ex->dec.nsteps == 0 || h->offset != 0 || (r = h->rule) == NULL)
		return 0; /* a free slot, or a disabled entry's that no list took: nothing to write */
	if (r->source != ex->section ||
		(r->source == POLICY_FROM_LIST && (size_t)r->list_index != ex->list))
		return 0; /* written in its own section */
	if (h->state == POLICY_NOT_NOW) {
		ex->not_now = true; /* RPZ has no schedules: the zone is this instant's */
		return 0;
	}
	if ((rc = domtree_merge(ex->seen, name, len, form, 0, 0)) != 0)
		return rc < 0 ? -1 : 0; /* 1: written already */
	if ((why = owner_text(ex, name, len, form, owner)) != NULL) {
		name_text(name, owner);
		log_warn("export: %s%s skipped: %s", form == MATCH_BELOW ? "*." : "", owner, why);
		ex->st.skipped++;
		return 0;
	}
	if (r->source == POLICY_FROM_YAML) {
		snprintf(comment, sizeof(comment), "line %u", r->line);
		comment_append(comment, sizeof(comment), "reason", r->reason);
		comment_append(comment, sizeof(comment), "ref", r->ref);
	}
	put_action(ex, owner, r->action, r->redirect, comment[0] != '\0' ? comment : NULL);
	ex->st.triggers++;
	ex->st.refused += r->action == ACTION_REFUSED;
	return 0;
}

/* Every slot FORM selects: a subtree entry is two triggers, the name and what is below it. */
static int entry_export(struct exporter *ex, const uint8_t *name, size_t len, enum match_form form)
{
	ex->not_now = false;
	if (form != MATCH_BELOW && slot_export(ex, name, len, MATCH_EXACT) < 0)
		return -1;
	if (form != MATCH_EXACT && slot_export(ex, name, len, MATCH_BELOW) < 0)
		return -1;
	return 0;
}

/* ---- the two sections ------------------------------------------------------------------------ */

static int yaml_export(struct exporter *ex)
{
	const struct config *cfg = ex->cfg;

	ex->section = POLICY_FROM_YAML;
	for (size_t i = 0; i < cfg->domain_count; i++) {
		const struct config_domain *d = &cfg->domains[i];

		if (entry_export(ex, d->name, d->name_len, d->form) < 0)
			return -1;
		if (ex->not_now)
			fprintf(ex->out, "; %s: outside its from/until window now, not written\n", d->text);
	}
	return 0;
}

/* lists_entry_cb: one name of a list read again. */
static int list_entry(void *ctx, const struct lists_entry *e)
{
	return entry_export(ctx, e->name, e->name_len, e->form);
}

static int lists_export(struct exporter *ex, struct diag *diag)
{
	static const char *const formats[] = { "domains", "hosts", "rpz" };

	ex->section = POLICY_FROM_LIST;
	for (size_t i = 0; i < ex->cfg->list_count; i++) {
		const struct config_list *l = &ex->cfg->lists[i];
		char comment[1024] = "";
		size_t bad = 0, before = diag_count(diag);

		if (!l->enabled)
			continue; /* none of its names is in the policy: nothing to read */
		comment_append(comment, sizeof(comment), "reason", l->reason);
		comment_append(comment, sizeof(comment), "ref", l->ref);
		fprintf(ex->out, "; list %s (%s, action %s)%s\n", l->path, formats[l->format],
			value_action_name(l->action), comment);
		ex->list = i;
		if (lists_read(l, diag, list_entry, ex, &bad) < 0) {
			if (diag_count(diag) == before) /* nothing reported: the callback's ENOMEM */
				diag_add(diag, l->path, 0, 0, "out of memory exporting the list");
			return -1;
		}
	}
	return 0;
}

/* ---- RPZ zones (`zones:`) ------------------------------------------------------------------- */

/*
 * Who holds slot FORM of NAME among the pulled zones, as policy_match decides: nobody when an
 * entry of the tree (YAML or list) in force holds the same slot, since for the same name and
 * form YAML entries and lists beat zones (a disabled or out-of-window YAML entry is as if
 * absent); else the first zone of POL with a trigger there. The rule (the zone's `action:`
 * applied), *ZONE its zone; NULL when no zone's trigger decides the slot.
 */
static const struct policy_rule *zone_holder(struct exporter *ex, const uint8_t *name, size_t len,
	enum match_form form, size_t *zone)
{
	const struct policy_step *h = &ex->dec.steps[0];
	const struct policy_rule *r;

	if (policy_decide(ex->pol, name, len, form, 0, ex->now, 0, &ex->dec) < 0)
		return NULL;
	if (ex->dec.nsteps > 0 && h->offset == 0 && h->rule != NULL &&
		h->rule->source != POLICY_FROM_ZONE && h->state != POLICY_NOT_NOW)
		return NULL; /* the tree's: written in its section */
	for (size_t z = 0; z < policy_zone_count(ex->pol); z++)
		if ((r = policy_zone_slot(ex->pol, z, name, len, form)) != NULL) {
			*zone = z;
			return r;
		}
	return NULL;
}

/*
 * Slot FORM of NAME as the zones decide it: written when a zone's trigger holds it (with ONLY
 * other than SIZE_MAX, only when that zone is zone ONLY). The same text whether the whole zone
 * is written or only the slots a transfer changed (export_rpz_slots), so the served zone's
 * increments and its full rebuilds agree record for record.
 */
static int zone_slot(struct exporter *ex, const uint8_t *name, size_t len, enum match_form form,
	size_t only)
{
	char owner[OWNER_TEXT_MAX];
	const struct policy_rule *r;
	const char *why;
	size_t z = 0;

	if ((r = zone_holder(ex, name, len, form, &z)) == NULL || (only != SIZE_MAX && z != only))
		return 0;
	if ((why = owner_text(ex, name, len, form, owner)) != NULL) {
		name_text(name, owner);
		log_warn("export: %s%s skipped: %s", form == MATCH_BELOW ? "*." : "", owner, why);
		ex->st.skipped++;
		return 0;
	}
	put_action(ex, owner, r->action, r->redirect, NULL);
	ex->st.triggers++;
	ex->st.refused += r->action == ACTION_REFUSED;
	return 0;
}

/* lists_entry_cb: one record of a zone's copy; local data gives one call per address. */
static int zone_entry(void *ctx, const struct lists_entry *e)
{
	struct exporter *ex = ctx;

	if (e->form == ex->last_form && e->name_len == ex->last_len &&
		memcmp(e->name, ex->last, e->name_len) == 0)
		return 0; /* the same slot's next address: the slot is written whole once */
	memcpy(ex->last, e->name, e->name_len);
	ex->last_len = e->name_len;
	ex->last_form = e->form;
	return zone_slot(ex, e->name, e->name_len, e->form, ex->zone);
}

/* The zones' triggers, zone by zone in file order: each slot under the zone that decides it. */
static int zones_export(struct exporter *ex)
{
	for (size_t z = 0; z < policy_zone_count(ex->pol); z++) {
		size_t len;
		char text[OWNER_TEXT_MAX];

		if (!policy_zone_enabled(ex->pol, z))
			continue;
		name_text(policy_zone_name(ex->pol, z, &len), text);
		fprintf(ex->out, "; zone %s (zones:, the copy in force)\n", text);
		ex->zone = z;
		ex->last_len = 0;
		if (policy_zone_foreach(ex->pol, z, zone_entry, ex) < 0)
			return -1;
	}
	return 0;
}

/* ---- the zone -------------------------------------------------------------------------------- */

static void put_header(struct exporter *ex, const struct policy *pol, const char *origin)
{
	const uint8_t *mname, *rname;
	size_t len;

	fprintf(ex->out, "; RPZ export of %s by blokir: the effective policy at this instant\n",
		ex->cfg->path);
	fprintf(ex->out, "$ORIGIN %s\n$TTL %u\n", origin, policy_negative_ttl(pol));
	mname = policy_soa_mname(pol, &len);
	fputs("@ SOA ", ex->out);
	put_target(ex->out, mname);
	fputc(' ', ex->out);
	rname = policy_soa_rname(pol, &len);
	put_target(ex->out, rname);
	fprintf(ex->out, " %u 3600 600 604800 %u\n@ NS localhost.\n", policy_serial(pol),
		policy_negative_ttl(pol));
}

/* About how many names the seen-tree will hold, so it is sized once. */
static size_t expected_names(const struct config *cfg)
{
	size_t n = cfg->domain_count;

	for (size_t i = 0; i < cfg->list_count; i++)
		if (cfg->lists[i].enabled)
			n += lists_estimate(&cfg->lists[i]);
	return n;
}

/* An exporter for CFG and POL to OUT with ORIGIN checked (NULL: the default); NULL after DIAG. */
static struct exporter *exporter_new(const struct config *cfg, const struct policy *pol,
	const char *origin, int64_t now, FILE *out, struct diag *diag, size_t expected)
{
	struct exporter *ex = calloc(1, sizeof(*ex)); /* the caller's (exporter_free): it is big */
	uint8_t wire[CONFIG_NAME_MAX];
	const char *err;

	if (ex == NULL)
		goto nomem;
	*ex = (struct exporter){ .out = out, .cfg = cfg, .pol = pol, .now = now };
	if (origin == NULL)
		origin = EXPORT_ORIGIN_DEFAULT;
	if (value_parse_name(origin, wire, &ex->origin_len, &err) < 0) {
		diag_add(diag, "--origin", 0, 0, "%s: %s", origin, err);
		goto fail;
	}
	if (ex->origin_len == 1) {
		diag_add(diag, "--origin", 0, 0, "the origin cannot be the root");
		goto fail;
	}
	name_text(wire, ex->origin);
	strcat(ex->origin, ".");
	if ((ex->seen = domtree_new(expected)) == NULL)
		goto nomem;
	return ex;
nomem:
	diag_add(diag, cfg->path, 0, 0, "out of memory exporting the policy");
fail:
	if (ex != NULL)
		domtree_free(ex->seen);
	free(ex);
	return NULL;
}

static void exporter_free(struct exporter *ex)
{
	if (ex == NULL)
		return;
	domtree_free(ex->seen);
	free(ex);
}

int export_rpz(const struct config *cfg, const struct policy *pol, const char *origin,
	int64_t now, FILE *out, struct diag *diag, struct export_stats *stats)
{
	struct exporter *ex = exporter_new(cfg, pol, origin, now, out, diag, expected_names(cfg));
	int rc = -1;

	if (ex == NULL)
		return -1;
	put_header(ex, pol, ex->origin);
	if (yaml_export(ex) < 0)
		goto nomem;
	if (lists_export(ex, diag) < 0)
		goto out; /* reported by lists_read, or out of memory in the callback */
	if (zones_export(ex) < 0)
		goto nomem;
	if (fflush(out) != 0 || ferror(out)) {
		diag_add(diag, "(output)", 0, 0, "write error");
		goto out;
	}
	if (ex->st.refused > 0)
		log_warn("export: %zu refused trigger%s written as NXDOMAIN (RPZ has no REFUSED)",
			ex->st.refused, ex->st.refused == 1 ? "" : "s");
	*stats = ex->st;
	rc = 0;
	goto out;
nomem:
	diag_add(diag, cfg->path, 0, 0, "out of memory exporting the policy");
out:
	exporter_free(ex);
	return rc;
}

/* export_slot_cb: one slot a transfer changed. */
static int slot_changed(void *ctx, const uint8_t *name, size_t len, enum match_form form)
{
	return zone_slot(ctx, name, len, form, SIZE_MAX);
}

int export_rpz_slots(const struct config *cfg, const struct policy *pol, const char *origin,
	int64_t now, export_slots_fn *slots, void *src, FILE *out, struct diag *diag)
{
	struct exporter *ex = exporter_new(cfg, pol, origin, now, out, diag, 1);
	int rc = -1;

	if (ex == NULL)
		return -1;
	fprintf(out, "$ORIGIN %s\n$TTL %u\n", ex->origin, policy_negative_ttl(pol));
	if (slots(src, slot_changed, ex) < 0) {
		diag_add(diag, cfg->path, 0, 0, "out of memory exporting the policy");
		goto out;
	}
	if (fflush(out) != 0 || ferror(out)) {
		diag_add(diag, "(output)", 0, 0, "write error");
		goto out;
	}
	rc = 0;
out:
	exporter_free(ex);
	return rc;
}

struct domtree_slots_walk {
	export_slot_cb *cb;
	void *ctx;
};

static int domtree_slots_each(void *ctx, const uint8_t *name, size_t len, uint32_t self,
	uint32_t below)
{
	struct domtree_slots_walk *w = ctx;

	if (self != DOMTREE_NONE && w->cb(w->ctx, name, len, MATCH_EXACT) < 0)
		return -1;
	if (below != DOMTREE_NONE && w->cb(w->ctx, name, len, MATCH_BELOW) < 0)
		return -1;
	return 0;
}

int export_domtree_slots(void *src, export_slot_cb *cb, void *ctx)
{
	struct domtree_slots_walk w = { cb, ctx };

	return domtree_foreach(src, domtree_slots_each, &w);
}
