/*
 * export: the effective policy as an RPZ zone (see include/export.h).
 *
 * The policy keeps no per-name record of where a name came from (two million names cost the
 * matcher ~50 bytes each and nothing more), so the export replays the policy's build: YAML
 * entries, then each list read again through lists_read, and a second domtree remembers which
 * slots (SELF, BELOW) are already decided. A slot is written the first time it is claimed and
 * never again, which is exactly the precedence policy_new applies (first claim wins, a YAML entry
 * before any list). Output is plain stdio, one fputs per field: two million triggers take well
 * under a second.
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

/* Longest owner text: 255 octets, each escaped as \DDD at worst, plus "*." and the NUL. */
#define OWNER_TEXT_MAX (CONFIG_NAME_MAX * 4 + 4)

struct exporter {
	FILE *out;                       /* borrowed */
	struct domtree *seen;            /* owned: slots already decided */
	const struct config *cfg;        /* borrowed */
	const struct config_list *list;  /* borrowed: the list being read, NULL for YAML */
	size_t origin_len;               /* wire length of the origin, for the 255-octet check */
	struct export_stats st;
	/* A run of A/AAAA records of one RPZ owner is one answer (as in policy.c): the first record
	   decides whether the run is written. */
	bool group_open, group_write;
	uint8_t group_name[CONFIG_NAME_MAX];
	size_t group_len;
	enum match_form group_form;
};

/* ---- names ----------------------------------------------------------------------------------- */

static bool plain_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_' || c == '*';
}

/*
 * Wire name NAME as presentation text into BUF (OWNER_TEXT_MAX bytes), without the root's dot.
 * Names from config and lists are validated to plain characters; an RPZ list read by ldns can
 * carry any octet, so the rest are escaped (\DDD) to read back the same. Returns the length.
 */
static size_t name_text(const uint8_t *name, char *buf)
{
	size_t w = 0;

	for (const uint8_t *l = name; *l != 0; l += 1 + *l) {
		if (l != name)
			buf[w++] = '.';
		for (size_t i = 1; i <= *l; i++) {
			if (plain_char(l[i]))
				buf[w++] = (char)l[i];
			else
				w += (size_t)sprintf(buf + w, "\\%03u", l[i]);
		}
	}
	buf[w] = '\0';
	return w;
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

/*
 * Claims slot FORM (MATCH_EXACT or MATCH_BELOW) of NAME: 1 when it was free (the caller writes
 * the trigger), 0 when an earlier entry holds it, -1 when out of memory.
 */
static int slot_claim(struct exporter *ex, const uint8_t *name, size_t len, enum match_form form)
{
	int rc = domtree_merge(ex->seen, name, len, form, 0, 0);

	return rc < 0 ? -1 : rc == 0;
}

/*
 * One slot of an entry: claimed, and written when WRITE and it was free. Returns 0, or -1 when
 * out of memory.
 */
static int slot_export(struct exporter *ex, const uint8_t *name, size_t len, enum match_form form,
	bool write, enum policy_action a, const struct config_redirect *r, const char *comment)
{
	char owner[OWNER_TEXT_MAX];
	const char *why;
	int rc = slot_claim(ex, name, len, form);

	if (rc <= 0 || !write)
		return rc;
	if ((why = owner_text(ex, name, len, form, owner)) != NULL) {
		name_text(name, owner);
		log_warn("export: %s%s skipped: %s", form == MATCH_BELOW ? "*." : "", owner, why);
		ex->st.skipped++;
		return 0;
	}
	put_action(ex, owner, a, r, comment);
	ex->st.triggers++;
	ex->st.refused += a == ACTION_REFUSED;
	return 0;
}

/* Every slot FORM selects: a subtree entry is two triggers, the name and what is below it. */
static int entry_export(struct exporter *ex, const uint8_t *name, size_t len, enum match_form form,
	bool write, enum policy_action a, const struct config_redirect *r, const char *comment)
{
	if (form != MATCH_BELOW && slot_export(ex, name, len, MATCH_EXACT, write, a, r, comment) < 0)
		return -1;
	if (form != MATCH_EXACT && slot_export(ex, name, len, MATCH_BELOW, write, a, r, comment) < 0)
		return -1;
	return 0;
}

/* ---- YAML entries ---------------------------------------------------------------------------- */

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

static int yaml_export(struct exporter *ex, int64_t now)
{
	const struct config *cfg = ex->cfg;

	for (size_t i = 0; i < cfg->domain_count; i++) {
		const struct config_domain *d = &cfg->domains[i];
		bool active = (d->from == 0 || now >= d->from) && (d->until == 0 || now < d->until);
		enum policy_action a = d->action == ACTION_DEFAULT ? cfg->default_action : d->action;
		char comment[1024];

		/* a disabled entry leaves its slots to the lists, as in policy.c */
		if (!d->enabled)
			continue;
		snprintf(comment, sizeof(comment), "line %u", d->line);
		comment_append(comment, sizeof(comment), "reason", d->reason);
		comment_append(comment, sizeof(comment), "ref", d->ref);
		if (!active)
			fprintf(ex->out, "; %s: outside its from/until window now, not written\n", d->text);
		if (entry_export(ex, d->name, d->name_len, d->form, active, a,
			d->redirect != NULL ? d->redirect : &cfg->redirect, comment) < 0)
			return -1;
	}
	return 0;
}

/* ---- lists ----------------------------------------------------------------------------------- */

/* An RPZ A/AAAA record that continues the previous one's answer (same owner, same slot). */
static bool group_continues(const struct exporter *ex, const struct lists_entry *e)
{
	return e->addr_family != 0 && ex->group_open && ex->group_form == e->form &&
		ex->group_len == e->name_len && memcmp(ex->group_name, e->name, e->name_len) == 0;
}

/* An address record of an open run: written under the run's owner when the run is. */
static void group_address(struct exporter *ex, const struct lists_entry *e)
{
	char owner[OWNER_TEXT_MAX];

	if (!ex->group_write || owner_text(ex, e->name, e->name_len, e->form, owner) != NULL)
		return;
	put_addr(ex->out, owner, 30, e->addr_family, e->addr);
	fputc('\n', ex->out);
}

/* lists_entry_cb: one name of a list read again. */
static int list_entry(void *ctx, const struct lists_entry *e)
{
	struct exporter *ex = ctx;
	const struct config_list *l = ex->list;
	enum policy_action a = e->action;
	struct config_redirect one = { .ttl = 30, .set = true }; /* an RPZ record's own answer */
	const struct config_redirect *r = &ex->cfg->redirect;
	size_t before = ex->st.triggers;

	if (group_continues(ex, e)) {
		group_address(ex, e);
		return 0;
	}
	if (a == ACTION_DEFAULT)
		a = l->action == ACTION_DEFAULT ? ex->cfg->default_action : l->action;
	if (e->cname_len > 0) {
		memcpy(one.cname, e->cname, e->cname_len);
		one.cname_len = e->cname_len;
		r = &one;
	} else if (e->addr_family != 0) {
		/* the record's own address; later records of the run follow it (group_address) */
		one.a = e->addr_family == AF_INET ? (uint8_t (*)[4])(void *)e->addr : NULL;
		one.a_count = e->addr_family == AF_INET;
		one.aaaa = e->addr_family == AF_INET6 ? (uint8_t (*)[16])(void *)e->addr : NULL;
		one.aaaa_count = e->addr_family == AF_INET6;
		r = &one;
	}
	if (entry_export(ex, e->name, e->name_len, e->form, true, a, r, NULL) < 0)
		return -1;
	ex->group_open = e->addr_family != 0;
	ex->group_write = ex->st.triggers > before;
	if (ex->group_open) {
		memcpy(ex->group_name, e->name, e->name_len);
		ex->group_len = e->name_len;
		ex->group_form = e->form;
	}
	return 0;
}

static int lists_export(struct exporter *ex, struct diag *diag)
{
	static const char *const formats[] = { "domains", "hosts", "rpz" };

	for (size_t i = 0; i < ex->cfg->list_count; i++) {
		const struct config_list *l = &ex->cfg->lists[i];
		char comment[1024] = "";
		size_t bad = 0, before = diag_count(diag);

		if (!l->enabled)
			continue;
		comment_append(comment, sizeof(comment), "reason", l->reason);
		comment_append(comment, sizeof(comment), "ref", l->ref);
		fprintf(ex->out, "; list %s (%s, action %s)%s\n", l->path, formats[l->format],
			config_action_name(l->action == ACTION_DEFAULT ? ex->cfg->default_action :
			l->action), comment);
		ex->list = l;
		ex->group_open = false;
		if (lists_read(l, diag, list_entry, ex, &bad) < 0) {
			if (diag_count(diag) == before) /* nothing reported: the callback's ENOMEM */
				diag_add(diag, l->path, 0, 0, "out of memory exporting the list");
			return -1;
		}
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

int export_rpz(const struct config *cfg, const struct policy *pol, const char *origin,
	int64_t now, FILE *out, struct diag *diag, struct export_stats *stats)
{
	struct exporter ex = { .out = out, .cfg = cfg };
	uint8_t wire[CONFIG_NAME_MAX];
	char text[OWNER_TEXT_MAX + 1];
	const char *err;

	if (origin == NULL)
		origin = EXPORT_ORIGIN_DEFAULT;
	if (config_parse_name(origin, wire, &ex.origin_len, &err) < 0) {
		diag_add(diag, "--origin", 0, 0, "%s: %s", origin, err);
		goto fail;
	}
	if (ex.origin_len == 1) {
		diag_add(diag, "--origin", 0, 0, "the origin cannot be the root");
		goto fail;
	}
	name_text(wire, text);
	strcat(text, ".");
	if ((ex.seen = domtree_new(expected_names(cfg))) == NULL)
		goto nomem;
	put_header(&ex, pol, text);
	if (yaml_export(&ex, now) < 0)
		goto nomem;
	if (lists_export(&ex, diag) < 0)
		goto fail; /* reported by lists_read, or out of memory in the callback */
	if (fflush(out) != 0 || ferror(out)) {
		diag_add(diag, "(output)", 0, 0, "write error");
		goto fail;
	}
	if (ex.st.refused > 0)
		log_warn("export: %zu refused trigger%s written as NXDOMAIN (RPZ has no REFUSED)",
			ex.st.refused, ex.st.refused == 1 ? "" : "s");
	domtree_free(ex.seen);
	*stats = ex.st;
	return 0;
nomem:
	diag_add(diag, cfg->path, 0, 0, "out of memory exporting the policy");
fail:
	domtree_free(ex.seen);
	return -1;
}
