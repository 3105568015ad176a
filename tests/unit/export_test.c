/*
 * export_test: the RPZ export round trip. A policy with every action, every match form, a
 * schedule, a disabled entry and a domains list is exported; the zone is read back as the only
 * `rpz` list of a second config; both policies must give the same decision (action, matched
 * name, landing page) for a fixed set of names: listed names, their subdomains, siblings, allowed
 * exceptions, scheduled and shadowed names. Refused is the one documented difference: RPZ has no
 * REFUSED, so it comes back as NXDOMAIN. The files live in a private temporary directory.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "value.h"
#include "export.h"
#include "policy.h"
#include "tap.h"

#define NOW 1500000000 /* 2017-07-14, inside every window below except "later" */

static char dir[] = "/tmp/blokir-export-test.XXXXXX";

static int64_t fixed_clock(void)
{
	return NOW;
}

static const char *policy_yaml =
	"listen: [\"127.0.0.1:5353\"]\n"
	"upstreams: [\"127.0.0.1:53\"]\n"
	"default-action: nxdomain\n"
	"redirect: {a: [192.0.2.80, 192.0.2.81], aaaa: [\"2001:db8::80\"], ttl: 45}\n"
	"domains:\n"
	"  - {name: telegram.org, reason: \"Kominfo order, 2017-07-14\", ref: \"letter 1\"}\n"
	"  - {name: web.telegram.org, action: allow, reason: \"lifted\"}\n"
	"  - {name: t.me, action: nodata}\n"
	"  - {name: \"*.wild.test\", action: drop}\n"
	"  - {name: exact.test, exact: true, action: refused}\n"
	"  - {name: red.test, action: redirect}\n"
	"  - {name: cn.test, action: redirect, redirect: {cname: landing.example.}}\n"
	"  - {name: v6.test, action: redirect, redirect: {aaaa: [\"2001:db8::1\"]}}\n"
	"  - {name: later.test, from: \"2099-01-01T00:00:00Z\"}\n"
	"  - {name: window.test, from: \"2017-01-01T00:00:00Z\", until: \"2018-01-01T00:00:00Z\"}\n"
	"  - {name: off.test, enabled: false}\n"
	"  - {name: \"*.blocked.test\", action: nxdomain}\n"
	"  - {name: ok.blocked.test, action: allow}\n"
	"lists:\n"
	"  - {file: order.txt, reason: \"list order\"}\n"
	"  - {file: second.txt, action: nodata}\n";

/* later.test and t.me are shadowed by YAML entries; off.test is taken from the list. */
static const char *order_txt =
	"# order\nlisted.example\n*.wild.example\nlater.test\noff.test\nt.me\n"
	"listed.example\n";
/* listed.example again: the first list wins; exact.test's BELOW slot is free for this one. */
static const char *second_txt = "listed.example\nsecond.example\nexact.test\n";

static const char *names[] = {
	"telegram.org", "core.telegram.org", "a.b.telegram.org", "web.telegram.org",
	"venus.web.telegram.org", "nottelegram.org", "org", "t.me", "www.t.me", "me", "at.me",
	"wild.test", "a.wild.test", "b.a.wild.test", "exact.test", "www.exact.test", "red.test",
	"www.red.test", "cn.test", "x.cn.test", "v6.test", "later.test", "www.later.test",
	"window.test", "w.window.test", "off.test", "www.off.test", "blocked.test", "a.blocked.test",
	"ok.blocked.test", "x.ok.blocked.test", "listed.example", "www.listed.example",
	"wild.example", "deep.a.wild.example", "second.example", "s.second.example", "example",
	"unlisted.example", "sibling-listed.example", "test",
};

static int write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static size_t wire(const char *text, uint8_t *out)
{
	size_t len;
	const char *err;

	return value_parse_name(text, out, &len, &err) == 0 ? len : 0;
}

/* Loads DIR/NAME into *CFG and *POL; prints the diagnostics on failure. */
static int load(const char *name, struct config **cfg, struct policy **pol)
{
	struct diag *d = diag_new();
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	*pol = NULL;
	if ((*cfg = config_load(path, d)) != NULL)
		*pol = policy_new(*cfg, d);
	for (size_t i = 0; i < diag_count(d); i++)
		printf("# %s\n", diag_get(d, i));
	diag_free(d);
	return *pol != NULL ? 0 : -1;
}

static bool same_redirect(const struct config_redirect *a, const struct config_redirect *b)
{
	if (a->cname_len > 0 || b->cname_len > 0)
		return a->cname_len == b->cname_len && memcmp(a->cname, b->cname, a->cname_len) == 0;
	return a->a_count == b->a_count && a->aaaa_count == b->aaaa_count &&
		(a->a_count == 0 || memcmp(a->a, b->a, a->a_count * 4) == 0) &&
		(a->aaaa_count == 0 || memcmp(a->aaaa, b->aaaa, a->aaaa_count * 16) == 0);
}

/* The decision of P for NAME as text: "forward", "allow@3" (action and match offset), ... */
static const char *decide(const struct policy *p, const char *name, char *out, size_t cap,
	const struct policy_rule **rule)
{
	uint8_t w[CONFIG_NAME_MAX];
	size_t len = wire(name, w), off = 0;
	const struct policy_rule *r = policy_match(p, w, len, &off);
	enum policy_action a;

	*rule = r;
	if (r == NULL) {
		snprintf(out, cap, "forward");
		return out;
	}
	a = r->action == ACTION_REFUSED ? ACTION_NXDOMAIN : r->action; /* the one documented loss */
	snprintf(out, cap, "%s@%zu", value_action_name(a), off);
	return out;
}

static void compare(const struct policy *orig, const struct policy *back)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct policy_rule *r1, *r2;
		char d1[64], d2[64];

		const char *want = decide(orig, names[i], d1, sizeof(d1), &r1);
		const char *got = decide(back, names[i], d2, sizeof(d2), &r2);

		if (is_str(got, want, "%s: %s after the round trip", names[i], d1) && r1 != NULL &&
			r1->action == ACTION_REDIRECT)
			ok(same_redirect(r1->redirect, r2->redirect), "%s: same landing page", names[i]);
	}
}

/* Spot checks that the original policy means what the names list assumes. */
static void check_original(const struct policy *p)
{
	const struct policy_rule *r;
	char d[64];

	is_str(decide(p, "later.test", d, sizeof(d), &r), "forward", "later.test: YAML entry not yet active shadows the list's");
	is_str(decide(p, "off.test", d, sizeof(d), &r), "nxdomain@0", "off.test: a disabled YAML entry leaves the name to the list");
	is_str(decide(p, "www.exact.test", d, sizeof(d), &r), "nodata@4", "www.exact.test: the second list's subtree below an exact entry");
	is_str(decide(p, "venus.web.telegram.org", d, sizeof(d), &r), "allow@6", "venus.web.telegram.org: the exception covers its subtree");
}

static char *export_to_string(const struct config *cfg, const struct policy *pol, int *rc,
	struct export_stats *st)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&buf, &size);
	struct diag *d = diag_new();

	*rc = export_rpz(cfg, pol, NULL, NOW, mem, d, st);
	fclose(mem);
	diag_free(d);
	return buf;
}

static void test_round_trip(void)
{
	struct config *c1 = NULL, *c2 = NULL;
	struct policy *p1 = NULL, *p2 = NULL;
	struct export_stats st;
	char *zone = NULL;
	int rc;

	if (!ok(load("policy.yaml", &c1, &p1) == 0, "the original policy loads"))
		goto out;
	check_original(p1);
	zone = export_to_string(c1, p1, &rc, &st);
	is_int(rc, 0, "export succeeds");
	ok(zone != NULL && strstr(zone, "$ORIGIN rpz.blokir.\n") != NULL, "the zone has $ORIGIN");
	ok(zone != NULL && strstr(zone, "telegram.org CNAME . ; line 6; reason: Kominfo order, "
		"2017-07-14; ref: letter 1\n") != NULL, "reason and ref are kept as a comment");
	ok(zone != NULL && strstr(zone, "\ncn.test 30 CNAME landing.example.") != NULL,
		"a CNAME redirect");
	ok(zone != NULL && strstr(zone, "\nred.test 45 A 192.0.2.81\n") != NULL,
		"an address redirect keeps its TTL");
	ok(zone != NULL && strstr(zone, "\nlater.test") == NULL, "an inactive entry is not written");
	is_int(st.refused, 1, "the refused entry is counted (written as NXDOMAIN)");
	if (zone == NULL || write_file("exported.rpz", zone) < 0 ||
		!ok(load("reimport.yaml", &c2, &p2) == 0, "the exported zone loads as an rpz list"))
		goto out;
	is_int(policy_list_names(p2), st.triggers, "every trigger is read back as one name");
	compare(p1, p2);
out:
	free(zone);
	policy_free(p1);
	policy_free(p2);
	config_free(c1);
	config_free(c2);
}

/* A second export of the re-imported policy is the same zone, apart from the header. */
static void test_fixed_point(void)
{
	struct config *c = NULL;
	struct policy *p = NULL;
	struct export_stats st;
	char *again = NULL, *first = NULL, path[256];
	FILE *f;
	size_t n = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/exported.rpz", dir);
	if ((f = fopen(path, "r")) != NULL) {
		first = calloc(1, 1 << 16);
		n = fread(first, 1, (1 << 16) - 1, f);
		fclose(f);
	}
	if (!ok(first != NULL && n > 0 && load("reimport.yaml", &c, &p) == 0, "reload the export"))
		goto out;
	again = export_to_string(c, p, &rc, &st);
	is_int(rc, 0, "the re-imported policy exports");
	/* the triggers after the list comment are the same lines, comments aside */
	is_int(st.triggers, policy_list_names(p), "same number of triggers");
	ok(again != NULL && strstr(again, "\n*.wild.test CNAME rpz-drop.\n") != NULL &&
		strstr(again, "\nred.test 30 A 192.0.2.80\nred.test 30 A 192.0.2.81\n") != NULL,
		"drop and the address run survive a second export");
out:
	free(first);
	free(again);
	policy_free(p);
	config_free(c);
}

static void test_bad_origin(void)
{
	struct config *c = NULL;
	struct policy *p = NULL;
	struct export_stats st;
	struct diag *d = diag_new();
	FILE *devnull = fopen("/dev/null", "w");

	if (load("policy.yaml", &c, &p) == 0) {
		is_int(export_rpz(c, p, "bad..origin", NOW, devnull, d, &st), -1,
			"a malformed --origin is refused");
		ok(diag_count(d) == 1 && strstr(diag_get(d, 0), "--origin") != NULL,
			"and reported: %s", diag_count(d) ? diag_get(d, 0) : "(nothing)");
	}
	fclose(devnull);
	diag_free(d);
	policy_free(p);
	config_free(c);
}

int main(void)
{
	char cmd[300];

	if (mkdtemp(dir) == NULL || write_file("policy.yaml", policy_yaml) < 0 ||
		write_file("order.txt", order_txt) < 0 || write_file("second.txt", second_txt) < 0 ||
		write_file("reimport.yaml", "listen: [\"127.0.0.1:5353\"]\nupstreams: [\"127.0.0.1:53\"]\n"
			"lists:\n  - {file: exported.rpz, format: rpz}\n") < 0) {
		printf("Bail out! cannot write to %s\n", dir);
		return 1;
	}
	policy_set_clock(fixed_clock);
	test_round_trip();
	test_fixed_point();
	test_bad_origin();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_exit();
}
