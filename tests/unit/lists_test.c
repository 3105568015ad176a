/*
 * lists_test: the list readers (domains, hosts, RPZ) on fixtures, with their exact bad-line
 * diagnostics, and lists compiled into a policy: precedence between YAML entries and lists,
 * disabled entries, on-error: skip.
 */
#include "config.h"
#include "defaults.h"
#include "value.h"
#include "diag.h"
#include "lists.h"
#include "policy.h"
#include "tap.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR "tests/unit/fixtures/lists"
#define N(a) (sizeof(a) / sizeof((a)[0]))

static size_t wire(const char *name, uint8_t *out)
{
	const char *err;
	size_t len = 0;

	if (value_parse_name(name, out, &len, &err) < 0) {
		printf("# bad test name %s: %s\n", name, err);
		exit(2);
	}
	return len;
}

/* Collects entries as "form name action" strings. */
struct seen {
	char lines[32][400];
	size_t n;
};

static int collect(void *ctx, const struct lists_entry *e)
{
	struct seen *s = ctx;
	char text[300] = "";
	size_t o = 0, t = 0;

	while (e->name[o] != 0) {
		memcpy(text + t, e->name + o + 1, e->name[o]);
		t += e->name[o];
		text[t++] = '.';
		o += 1 + e->name[o];
	}
	text[t] = '\0';
	if (s->n < N(s->lines))
		snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s%s %s%s%s @%u",
			e->form == MATCH_BELOW ? "*." : e->form == MATCH_EXACT ? "=" : "", text,
			value_action_name(e->action), e->cname_len ? " cname" : "",
			e->addr_family == AF_INET ? " A" : e->addr_family == AF_INET6 ? " AAAA" : "",
			e->line);
	return 0;
}

static void read_expect(const char *file, enum list_format f, bool skip, int want_rc,
	const char *const *want, size_t nwant, const char *const *errs, size_t nerrs)
{
	struct config_list l = { .path = (char *)file, .format = f, .enabled = true,
		.action = ACTION_DEFAULT, .skip_bad_lines = skip };
	struct diag *d = diag_new();
	struct seen s = { .n = 0 };
	size_t bad = 99;
	int rc = lists_read(&l, d, collect, &s, &bad);

	is_int(rc, want_rc, "%s: result %d", file, want_rc);
	if (!is_int(s.n, nwant, "%s: %zu entries", file, nwant))
		for (size_t i = 0; i < s.n; i++)
			printf("#   %s\n", s.lines[i]);
	for (size_t i = 0; i < nwant && i < s.n; i++)
		is_str(s.lines[i], want[i], "%s: entry %zu", file, i);
	if (!skip && !is_int(diag_count(d), nerrs, "%s: %zu diagnostics", file, nerrs))
		for (size_t i = 0; i < diag_count(d); i++)
			printf("#   %s\n", diag_get(d, i));
	if (skip)
		is_int(bad, nerrs, "%s: %zu bad lines counted", file, nerrs);
	for (size_t i = 0; !skip && i < nerrs && i < diag_count(d); i++) {
		char line[600];

		snprintf(line, sizeof(line), "%s%s", file, errs[i]);
		is_str(diag_get(d, i), line, "%s: diagnostic %zu", file, i);
	}
	diag_free(d);
}

#define LIST(file, f, skip, rc, want, errs) \
	read_expect(DIR "/" file, f, skip, rc, want, N(want), errs, N(errs))

static void test_formats(void)
{
	static const char *const good[] = { "blocked.example. default @2",
		"*.below.example. default @4", "xn--bcher-kva.example. default @5",
		"blocked.example. default @6" };
	static const char *const bad_entries[] = { "blocked.example. default @1",
		"ok.example. default @3" };
	static const char *const bad_errs[] = {
		":2: expected one name per line",
		":4: \"*\" is only allowed as a leading \"*.\": \"*.\"",
		":5: empty label: \"a..b\"" };
	static const char *const hosts[] = { "=ads.example. default @3",
		"=tracker.example. default @3", "=v6.example. default @4" };
	static const char *const hosts_errs[] = {
		":5: expected 0.0.0.0, 127.0.0.1, :: or ::1 before the names",
		":6: expected a name after the address" };
	static const char *const rpz[] = { "=nx.example. nxdomain @6", "*.nx.example. nxdomain @7",
		"=nodata.example. nodata @8", "=pass.nx.example. allow @9",
		"=drop.example. drop @10", "=landing.example. redirect cname @11",
		"=addr.example. redirect A @12", "=addr.example. redirect AAAA @13",
		"=addr.example. redirect A @14" };
	static const char *const rpz_bad_entries[] = { "=ok.example. nxdomain @3" };
	static const char *const rpz_errs[] = {
		":4: unsupported record type: expected CNAME, A or AAAA",
		":5: only QNAME triggers are supported (no rpz-ip, rpz-nsdname, rpz-client-ip)",
		":6: owner is not below the zone's origin",
		":7: Syntax error, could not parse the RR's rdata" };

	read_expect(DIR "/good.txt", LIST_DOMAINS, false, 0, good, N(good), NULL, 0);
	LIST("bad.txt", LIST_DOMAINS, false, -1, bad_entries, bad_errs);
	LIST("bad.txt", LIST_DOMAINS, true, 0, bad_entries, bad_errs);
	LIST("hosts.txt", LIST_HOSTS, false, -1, hosts, hosts_errs);
	read_expect(DIR "/zone.rpz", LIST_RPZ, false, 0, rpz, N(rpz), NULL, 0);
	LIST("bad.rpz", LIST_RPZ, false, -1, rpz_bad_entries, rpz_errs);
}

/* ---- lists in a policy ---- */

static struct config *cfg_new(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	const char *err;

	cfg->path = strdup("test.yaml");
	cfg->negative_ttl = 60;
	cfg->default_action = ACTION_NXDOMAIN;
	value_parse_name("blokir.invalid", cfg->soa_mname, &cfg->soa_mname_len, &err);
	value_parse_name("hostmaster.blokir.invalid", cfg->soa_rname, &cfg->soa_rname_len, &err);
	cfg->domains = calloc(16, sizeof(*cfg->domains));
	cfg->lists = calloc(8, sizeof(*cfg->lists));
	return cfg;
}

static void cfg_domain(struct config *cfg, const char *name, enum policy_action a, bool enabled)
{
	struct config_domain *d = &cfg->domains[cfg->domain_count++];

	d->name_len = wire(name, d->name);
	d->text = strdup(name);
	d->form = MATCH_SUBTREE;
	d->action = a;
	d->enabled = enabled;
	d->line = (unsigned)cfg->domain_count;
}

static void cfg_list(struct config *cfg, const char *path, enum list_format f,
	enum policy_action a, bool enabled)
{
	struct config_list *l = &cfg->lists[cfg->list_count++];

	l->path = strdup(path);
	l->format = f;
	l->action = a;
	l->enabled = enabled;
	l->reason = strdup("list reason");
	l->line = 100 + (unsigned)cfg->list_count;
}

static const struct policy_rule *match(const struct policy *p, const char *name)
{
	uint8_t w[CONFIG_NAME_MAX];

	return policy_match(p, w, wire(name, w), NULL);
}

static int action(const struct policy *p, const char *name)
{
	const struct policy_rule *r = match(p, name);

	return r == NULL ? -1 : (int)r->action;
}

static void test_policy(void)
{
	struct config *cfg = cfg_new();
	struct diag *d = diag_new();
	struct policy *p;
	const struct policy_rule *r;

	/* YAML: an explicit allow beats the list; a disabled entry lets the list through */
	cfg_domain(cfg, "blocked.example", ACTION_ALLOW, true);
	cfg_domain(cfg, "xn--bcher-kva.example", ACTION_REFUSED, false);
	cfg_list(cfg, DIR "/good.txt", LIST_DOMAINS, ACTION_NODATA, true);
	cfg_list(cfg, DIR "/zone.rpz", LIST_RPZ, ACTION_DEFAULT, true);
	cfg_list(cfg, DIR "/hosts.txt", LIST_HOSTS, ACTION_DROP, false); /* disabled: not read */
	defaults_resolve(cfg);
	p = policy_new(cfg, d);
	if (!ok(p != NULL, "policy with lists builds")) {
		for (size_t i = 0; i < diag_count(d); i++)
			printf("#   %s\n", diag_get(d, i));
		goto out;
	}
	is_int(policy_rule_count(p), 1, "one enabled YAML entry");
	is_int(policy_list_names(p), 11, "11 list names (addr.example's records are one answer)");
	is_int(action(p, "blocked.example"), ACTION_ALLOW, "YAML allow beats the list's entry");
	is_int(action(p, "www.blocked.example"), ACTION_ALLOW, "  and below it");
	is_int(action(p, "xn--bcher-kva.example"), ACTION_NODATA,
		"disabled YAML entry: the list's entry applies");
	is_int(action(p, "x.below.example"), ACTION_NODATA, "*.below.example from the list");
	is_int(action(p, "below.example"), -1, "  not the name itself");
	is_int(action(p, "ads.example"), -1, "disabled list not read");
	is_int(action(p, "nx.example"), ACTION_NXDOMAIN, "rpz CNAME .");
	is_int(action(p, "a.nx.example"), ACTION_NXDOMAIN, "rpz *.nx.example");
	is_int(action(p, "pass.nx.example"), ACTION_ALLOW, "rpz passthru exception");
	is_int(action(p, "x.nodata.example"), -1, "rpz plain owner is exact");
	is_int(action(p, "drop.example"), ACTION_DROP, "rpz drop");
	r = match(p, "landing.example");
	if (ok(r != NULL && r->action == ACTION_REDIRECT && r->redirect != NULL, "rpz cname redirect"))
		ok(r->redirect->cname_len == 19 && r->redirect->a_count == 0, "  to block.example.org");
	r = match(p, "addr.example");
	if (ok(r != NULL && r->redirect != NULL, "rpz local data redirect"))
		ok(r->redirect->a_count == 2 && r->redirect->aaaa_count == 1,
			"  two A and one AAAA merged");
	r = match(p, "x.below.example");
	if (ok(r != NULL, "list rule"))
		ok(strcmp(r->name, DIR "/good.txt") == 0 && strcmp(r->reason, "list reason") == 0 &&
			r->line == 101, "  named after its file, with the list's reason and line");
out:
	policy_free(p);
	diag_free(d);
	config_free(cfg);
}

static void test_policy_bad_list(void)
{
	struct config *cfg = cfg_new();
	struct diag *d = diag_new();
	struct policy *p;

	cfg_list(cfg, DIR "/bad.txt", LIST_DOMAINS, ACTION_DEFAULT, true);
	cfg_list(cfg, DIR "/missing.txt", LIST_DOMAINS, ACTION_DEFAULT, true);
	defaults_resolve(cfg);
	p = policy_new(cfg, d);
	ok(p == NULL, "a bad list rejects the policy");
	is_int(diag_count(d), 4, "3 bad lines and the missing file reported");
	if (diag_count(d) == 4)
		is_str(diag_get(d, 3), DIR "/missing.txt: No such file or directory", "missing file");
	policy_free(p);
	diag_free(d);
	d = diag_new();
	cfg->lists[0].skip_bad_lines = true;
	cfg->lists[1].enabled = false;
	defaults_resolve(cfg);
	p = policy_new(cfg, d);
	ok(p != NULL && diag_count(d) == 0, "on-error: skip loads the rest");
	if (p != NULL)
		ok(action(p, "ok.example") == ACTION_NXDOMAIN && policy_list_names(p) == 2,
			"  the good lines are in force");
	policy_free(p);
	diag_free(d);
	config_free(cfg);
}

static void test_fast_names(void)
{
	uint8_t a[CONFIG_NAME_MAX], b[CONFIG_NAME_MAX];
	size_t la, lb;
	const char *err;
	static const char *const names[] = { "Example.COM", "example.com.", ".", "_a-b.c",
		"b\303\274cher.example" };

	for (size_t i = 0; i < N(names); i++) {
		int r1 = value_parse_name_len(names[i], strlen(names[i]), a, &la, &err);
		int r2 = value_parse_name(names[i], b, &lb, &err);

		ok(r1 == 0 && r2 == 0 && la == lb && memcmp(a, b, la) == 0,
			"fast name parser agrees with value_parse_name on \"%s\"", names[i]);
	}
	ok(value_parse_name_len("a b", 3, a, &la, &err) < 0, "space refused");
	ok(value_parse_name_len("a..b", 4, a, &la, &err) < 0 && strcmp(err, "empty label") == 0,
		"empty label refused");
}

int main(void)
{
	test_formats();
	test_fast_names();
	test_policy();
	test_policy_bad_list();
	return tap_exit();
}
