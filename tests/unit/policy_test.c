/*
 * policy_test: compiling a struct config (built by hand here, so the test does not depend on the
 * YAML loader) into a policy: actions and the default, reasons and refs, disabled entries,
 * duplicate reports and the SOA fields.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "defaults.h"
#include "policy.h"
#include "tap.h"
#include "testname.h"

/*
 * Appends an entry as the loader would: TEXT is "name", "*.name" or "." and EXACT selects
 * MATCH_EXACT. Each entry is on its own line, numbered from 10 so lines and indexes differ.
 */
static struct config_domain *entry(struct config *cfg, const char *text, bool exact,
	enum policy_action action)
{
	struct config_domain *d = &cfg->domains[cfg->domain_count++];
	const char *name = strncmp(text, "*.", 2) == 0 ? text + 2 : text;

	memset(d, 0, sizeof(*d));
	d->name_len = wire(name, d->name);
	d->text = strdup(text);
	d->form = exact ? MATCH_EXACT : name != text ? MATCH_BELOW : MATCH_SUBTREE;
	d->enabled = true;
	d->action = action;
	d->line = (unsigned)cfg->domain_count + 9;
	d->column = 9;
	return d;
}

static struct config *config_make(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	cfg->path = strdup("test.yaml");
	cfg->negative_ttl = 60;
	cfg->default_action = ACTION_NXDOMAIN;
	cfg->soa_mname_len = wire("blokir.invalid", cfg->soa_mname);
	cfg->soa_rname_len = wire("hostmaster.blokir.invalid", cfg->soa_rname);
	cfg->domains = calloc(64, sizeof(*cfg->domains));
	return cfg;
}

/* What config_free will do; the test does not link config.c. */
static void config_drop(struct config *cfg)
{
	for (size_t i = 0; i < cfg->domain_count; i++) {
		free(cfg->domains[i].text);
		free(cfg->domains[i].reason);
		free(cfg->domains[i].ref);
	}
	free(cfg->domains);
	free(cfg->path);
	free(cfg);
}

/* Every match() also asks policy_match_labels, as the query path does: the two must agree. */
static unsigned matches, labels_agreed;

static const struct policy_rule *match(const struct policy *p, const char *text, size_t *off)
{
	uint8_t name[CONFIG_NAME_MAX];
	size_t len = wire(text, name), labels = 0, off1 = SIZE_MAX, off2 = SIZE_MAX;
	const struct policy_rule *r, *r2;

	for (size_t o = 0; name[o] != 0; o += 1 + name[o])
		labels++;
	r = policy_match(p, name, len, &off1);
	r2 = policy_match_labels(p, name, len, labels, &off2);
	matches++;
	labels_agreed += r == r2 && off1 == off2;
	if (off != NULL && r != NULL)
		*off = off1;
	return r;
}

static enum policy_action action_of(const struct policy *p, const char *text)
{
	const struct policy_rule *r = match(p, text, NULL);

	return r != NULL ? r->action : ACTION_DEFAULT; /* ACTION_DEFAULT here means "no match" */
}

static void test_compile(void)
{
	struct config *cfg = config_make();
	struct diag *diag = diag_new();
	struct policy *p;
	const struct policy_rule *r;
	const uint8_t *soa;
	size_t off = 99, len;
	time_t now = time(NULL);

	cfg->default_action = ACTION_REFUSED;
	entry(cfg, "telegram.org", false, ACTION_DEFAULT)->reason = strdup("court order 17");
	entry(cfg, "web.telegram.org", false, ACTION_ALLOW)->ref = strdup("TICKET-1");
	entry(cfg, "venus.web.telegram.org", false, ACTION_NXDOMAIN);
	entry(cfg, "*.t.me", false, ACTION_NODATA);
	entry(cfg, "t.me", true, ACTION_DROP);
	entry(cfg, "gone.example", false, ACTION_NXDOMAIN)->enabled = false;
	entry(cfg, "other.example", false, ACTION_NODATA)->reason = strdup("court order 17");

	defaults_resolve(cfg);
	p = policy_new(cfg, diag);
	ok(p != NULL, "policy compiled");
	is_int(diag_count(diag), 0, "no diagnostics");
	config_drop(cfg); /* the policy must not need the config any more */

	is_int(policy_rule_count(p), 6, "six enabled entries");
	is_int(action_of(p, "venus.web.telegram.org"), ACTION_NXDOMAIN, "venus: blocked");
	is_int(action_of(p, "pluto.web.telegram.org"), ACTION_ALLOW, "pluto: allowed");
	is_int(action_of(p, "core.telegram.org"), ACTION_REFUSED, "core: the default action");
	is_int(action_of(p, "t.me"), ACTION_DROP, "t.me exact");
	is_int(action_of(p, "web.t.me"), ACTION_NODATA, "*.t.me");
	is_int(action_of(p, "at.me"), ACTION_DEFAULT, "at.me: no match");
	is_int(action_of(p, "gone.example"), ACTION_DEFAULT, "a disabled entry does not match");
	is_int(action_of(p, "x.gone.example"), ACTION_DEFAULT, "nor below it");

	r = match(p, "a.core.telegram.org", &off);
	ok(r != NULL, "a.core.telegram.org matches");
	is_str(r->name, "telegram.org", "  rule name");
	is_str(r->reason, "court order 17", "  reason");
	is_int(r->reason_len, 14, "  reason length");
	ok(r->ref == NULL, "  no ref");
	is_int(r->line, 10, "  line");
	is_int(off, 7, "  match offset");
	r = match(p, "x.web.telegram.org", NULL);
	is_str(r->name, "web.telegram.org", "allow rule name");
	ok(r->reason == NULL && r->reason_len == 0, "  no reason");
	is_str(r->ref, "TICKET-1", "  ref");
	is_str(match(p, "web.t.me", NULL)->name, "*.t.me", "below rule keeps its *.");
	is_str(match(p, "other.example", NULL)->reason, "court order 17", "reason of a later entry");

	is_int(policy_negative_ttl(p), 60, "negative TTL");
	ok(policy_serial(p) >= (uint32_t)now && policy_serial(p) <= (uint32_t)time(NULL) + 1,
		"serial is the build time");
	soa = policy_soa_mname(p, &len);
	ok(len == 16 && memcmp(soa, "\6blokir\7invalid", 16) == 0, "SOA mname");
	soa = policy_soa_rname(p, &len);
	ok(len == 27 && memcmp(soa, "\12hostmaster\6blokir\7invalid", 27) == 0, "SOA rname");
	ok(policy_memory(p) > 0, "memory %zu bytes", policy_memory(p));
	policy_free(p);
	diag_free(diag);
}

static void test_duplicates(void)
{
	struct config *cfg = config_make();
	struct diag *diag = diag_new();

	entry(cfg, "example.com", false, ACTION_DEFAULT);            /* line 10 */
	entry(cfg, "*.example.com", false, ACTION_DEFAULT);          /* 11: BELOW taken by 10 */
	entry(cfg, "example.com", true, ACTION_DEFAULT);             /* 12: SELF taken by 10 */
	entry(cfg, "a.example", true, ACTION_DEFAULT);               /* 13 */
	entry(cfg, "*.a.example", false, ACTION_DEFAULT);            /* 14: no conflict */
	entry(cfg, "b.example", false, ACTION_DEFAULT);              /* 15 */
	entry(cfg, "b.example", false, ACTION_ALLOW)->enabled = false; /* 16: disabled, still a dup */
	entry(cfg, "c.example", false, ACTION_DEFAULT)->enabled = false; /* 17 */
	entry(cfg, "c.example", false, ACTION_DEFAULT)->enabled = false; /* 18: both disabled */

	defaults_resolve(cfg);
	ok(policy_new(cfg, diag) == NULL, "duplicates: no policy");
	is_int(diag_count(diag), 4, "four duplicates reported");
	is_str(diag_get(diag, 0), "test.yaml:11:9: duplicate entry \"*.example.com\" (first at line 10)",
		"subtree then *.");
	is_str(diag_get(diag, 1), "test.yaml:12:9: duplicate entry \"example.com\" (first at line 10)",
		"subtree then exact");
	is_str(diag_get(diag, 2), "test.yaml:16:9: duplicate entry \"b.example\" (first at line 15)",
		"a disabled duplicate is still an error");
	is_str(diag_get(diag, 3), "test.yaml:18:9: duplicate entry \"c.example\" (first at line 17)",
		"two disabled entries too");
	diag_free(diag);
	config_drop(cfg);
}

static void test_edges(void)
{
	struct config *cfg = config_make();
	struct diag *diag = diag_new();
	struct policy *p;
	size_t off = 99;

	defaults_resolve(cfg);
	p = policy_new(cfg, diag);
	ok(p != NULL, "an empty policy compiles");
	is_int(policy_rule_count(p), 0, "  with no rules");
	ok(match(p, "example.com", NULL) == NULL, "  and matches nothing");
	policy_free(p);

	cfg->default_action = ACTION_NODATA;
	entry(cfg, ".", false, ACTION_DEFAULT);
	entry(cfg, "ok.example", false, ACTION_ALLOW);
	entry(cfg, "x.ok.example", false, ACTION_DEFAULT)->enabled = false;
	defaults_resolve(cfg);
	p = policy_new(cfg, diag);
	ok(p != NULL, "a root entry compiles");
	is_int(policy_rule_count(p), 2, "  two enabled rules");
	is_int(action_of(p, "anything.example"), ACTION_NODATA, "the root covers everything");
	is_str(match(p, "x", &off)->name, ".", "  rule name \".\"");
	is_int(off, 2, "  match offset is the root label");
	is_int(action_of(p, "x.ok.example"), ACTION_ALLOW, "a disabled entry falls to its parent");
	is_int(diag_count(diag), 0, "no diagnostics");
	policy_free(p);
	diag_free(diag);
	config_drop(cfg);
}

/* ---- schedules, with an injected clock ---- */

static int64_t fake_now;

static int64_t fake_clock(void)
{
	return fake_now;
}

#define T_JULY14 1499965200   /* 2017-07-14T00:00:00+07:00: the order */
#define T_AUG10 1502298000    /* 2017-08-10T00:00:00+07:00: the partial lift */

static void test_schedules(void)
{
	struct config *cfg = config_make();
	struct diag *diag = diag_new();
	struct policy *p;
	struct config_domain *d;

	policy_set_clock(fake_clock);
	d = entry(cfg, "telegram.org", false, ACTION_DEFAULT);
	d->from = T_JULY14;
	d = entry(cfg, "web.telegram.org", false, ACTION_NODATA);
	d->from = T_JULY14;
	d->until = T_AUG10; /* lifted: from then on the less specific entry applies */
	d = entry(cfg, "allowed.example", false, ACTION_ALLOW);
	d->until = T_AUG10;
	entry(cfg, "example", false, ACTION_REFUSED);
	defaults_resolve(cfg);
	p = policy_new(cfg, diag);
	config_drop(cfg);
	if (!ok(p != NULL, "policy with schedules"))
		goto out;

	fake_now = T_JULY14 - 1;
	is_int(action_of(p, "telegram.org"), ACTION_DEFAULT, "before from: inactive");
	is_int(action_of(p, "a.web.telegram.org"), ACTION_DEFAULT, "  both");
	is_int(action_of(p, "allowed.example"), ACTION_ALLOW, "no from: active from the start");
	fake_now = T_JULY14;
	is_int(action_of(p, "telegram.org"), ACTION_NXDOMAIN, "at from: active");
	is_int(action_of(p, "a.web.telegram.org"), ACTION_NODATA, "most specific active entry");
	fake_now = T_AUG10 - 1;
	is_int(action_of(p, "a.web.telegram.org"), ACTION_NODATA, "just before until: active");
	fake_now = T_AUG10;
	is_int(action_of(p, "a.web.telegram.org"), ACTION_NXDOMAIN,
		"at until: inactive, the ancestor entry applies");
	is_int(action_of(p, "allowed.example"), ACTION_REFUSED,
		"an ended exception: the broader block applies");
	is_int(policy_next_transition(p, T_JULY14 - 100), T_JULY14, "next transition: from");
	is_int(policy_next_transition(p, T_JULY14), T_AUG10, "then until");
	is_int(policy_next_transition(p, T_AUG10), 0, "then none");
	{
		const struct policy_rule *r;
		size_t n = policy_yaml_rule_at(p, 1, &r);

		ok(n == 4 && r != NULL && strcmp(r->name, "web.telegram.org") == 0 &&
			r->from == T_JULY14 && r->until == T_AUG10, "rule 1 carries its schedule");
		ok(policy_rule_active(r, T_JULY14) && !policy_rule_active(r, T_AUG10),
			"policy_rule_active");
	}
out:
	policy_set_clock(NULL);
	policy_free(p);
	diag_free(diag);
}

/*
 * The 2017 example (README "Which entry decides"). On 10 August 2017 six of the eleven names
 * resolved again: telegram.me, telegram.org and core/desktop/macos/web.telegram.org; t.me and the
 * four web client hosts stayed blocked. First as the operator's switch (enabled: false on the six),
 * then as an exception under a block that stays (telegram.org blocked, web.telegram.org allowed).
 */
static const char *const order2017[] = { "t.me", "telegram.me", "telegram.org",
	"core.telegram.org", "desktop.telegram.org", "macos.telegram.org", "web.telegram.org",
	"venus.web.telegram.org", "pluto.web.telegram.org", "flora.web.telegram.org",
	"flora-1.web.telegram.org" };

static bool lifted2017(const char *name)
{
	return strcmp(name, "t.me") != 0 && strstr(name, ".web.telegram.org") == NULL;
}

static void test_2017_switch(void)
{
	struct config *cfg = config_make();
	struct diag *diag = diag_new();
	struct policy *p;

	for (size_t i = 0; i < 11; i++)
		entry(cfg, order2017[i], false, ACTION_DEFAULT)->enabled = !lifted2017(order2017[i]);
	defaults_resolve(cfg);
	p = policy_new(cfg, diag);
	config_drop(cfg);
	if (!ok(p != NULL, "2017 policy, six entries switched off"))
		goto out;
	for (size_t i = 0; i < 11; i++) {
		if (lifted2017(order2017[i]))
			ok(match(p, order2017[i], NULL) == NULL, "lifted: %s forwarded", order2017[i]);
		else
			is_int(action_of(p, order2017[i]), ACTION_NXDOMAIN, "still blocked: %s",
				order2017[i]);
	}
	ok(match(p, "my.telegram.org", NULL) == NULL, "my.telegram.org: no entry covers it now");
	is_int(action_of(p, "cdn.venus.web.telegram.org"), ACTION_NXDOMAIN,
		"below venus.web.telegram.org: still blocked");
	is_int(action_of(p, "www.t.me"), ACTION_NXDOMAIN, "below t.me: still blocked");
out:
	policy_free(p);
	diag_free(diag);
}

static void test_2017_exception(void)
{
	struct config *cfg = config_make();
	struct diag *diag = diag_new();
	struct policy *p;

	entry(cfg, "telegram.org", false, ACTION_NXDOMAIN);
	entry(cfg, "web.telegram.org", false, ACTION_ALLOW);
	entry(cfg, "pluto.web.telegram.org", false, ACTION_NXDOMAIN);
	defaults_resolve(cfg);
	p = policy_new(cfg, diag);
	config_drop(cfg);
	if (!ok(p != NULL, "2017 policy as an exception"))
		goto out;
	is_int(action_of(p, "web.telegram.org"), ACTION_ALLOW, "web.telegram.org: allowed");
	is_int(action_of(p, "x.web.telegram.org"), ACTION_ALLOW, "x.web.telegram.org: allowed");
	is_int(action_of(p, "pluto.web.telegram.org"), ACTION_NXDOMAIN,
		"pluto.web.telegram.org: more specific, still blocked");
	is_int(action_of(p, "core.telegram.org"), ACTION_NXDOMAIN, "core.telegram.org: under the block");
	is_int(action_of(p, "telegram.org"), ACTION_NXDOMAIN, "telegram.org: blocked");
out:
	policy_free(p);
	diag_free(diag);
}

/* ---- policy_decide: the decision with its reasons ---- */

static int decide(const struct policy *p, const char *text, enum match_form form, uint16_t qtype,
	unsigned flags, struct policy_decision *d)
{
	uint8_t name[CONFIG_NAME_MAX];

	return policy_decide(p, name, wire(text, name), form, qtype, 1000, flags, d);
}

static void test_decide(void)
{
	static struct policy_decision d; /* 7 KB */
	struct config *cfg = config_make();
	struct diag *diag = diag_new();
	struct config_redirect landing = { .a_count = 1, .ttl = 30, .set = true };
	uint8_t addr[1][4] = { { 192, 0, 2, 80 } }, bad[] = { 5, 'a', 0 };
	char path[] = "/tmp/blokir-policy-test.XXXXXX";
	int fd = mkstemp(path);
	struct policy *p = NULL;

	if (!ok(fd >= 0 && write(fd, "# list\nlisted.example\nb.www.example.com\n", 40) == 40,
		"a list file"))
		goto out;
	close(fd);
	landing.a = addr;
	entry(cfg, "example.com", false, ACTION_NXDOMAIN);                    /* line 10 */
	entry(cfg, "www.example.com", false, ACTION_ALLOW);                   /* 11 */
	entry(cfg, "a.www.example.com", false, ACTION_NXDOMAIN)->enabled = false; /* 12 */
	entry(cfg, "*.x.example.com", false, ACTION_DROP)->from = 2000;       /* 13: not yet */
	entry(cfg, "red.example", false, ACTION_REDIRECT)->redirect = &landing; /* 14 */
	cfg->lists = calloc(1, sizeof(*cfg->lists));
	cfg->lists[0] = (struct config_list){ .path = path, .format = LIST_DOMAINS,
		.enabled = true, .action = ACTION_NODATA, .line = 40 };
	cfg->list_count = 1;
	p = policy_new(cfg, diag);
	cfg->domains[4].redirect = NULL; /* the policy took a copy; the test owns LANDING */
	free(cfg->lists);
	cfg->list_count = 0;
	if (!ok(p != NULL, "policy for decisions"))
		goto out;

	ok(decide(p, "a.www.example.com", MATCH_EXACT, 1, 0, &d) == 0 && d.nsteps == 2 &&
		d.decider == 1 && d.answer == POLICY_FORWARD && d.action == ACTION_ALLOW,
		"a disabled entry is passed over; the allow entry above decides: forwarded");
	ok(d.steps[0].state == POLICY_DISABLED && d.steps[0].rule == NULL &&
		strcmp(d.steps[0].text, "a.www.example.com") == 0 && d.steps[0].line == 12 &&
		d.steps[0].offset == 0 && d.steps[0].slot == MATCH_EXACT &&
		strcmp(d.steps[0].file, "test.yaml") == 0, "  step 0: the disabled entry, test.yaml:12");
	ok(d.steps[1].state == POLICY_DECIDES && d.steps[1].offset == 2 &&
		d.steps[1].slot == MATCH_BELOW && d.steps[1].line == 11 && d.match_offset == 2,
		"  step 1: www.example.com decides, from offset 2, as the name below it");
	ok(decide(p, "a.www.example.com", MATCH_EXACT, 1, POLICY_DECIDE_ENCLOSING, &d) == 0 &&
		d.nsteps == 3 && d.decider == 1 && d.steps[2].state == POLICY_OVERRIDDEN &&
		d.steps[2].line == 10 && d.steps[2].offset == 6,
		"  ENCLOSING: example.com is listed as what the allow entry overrides");

	ok(decide(p, "q.x.example.com", MATCH_EXACT, 1, 0, &d) == 0 && d.nsteps == 2 &&
		d.steps[0].state == POLICY_NOT_NOW && d.steps[0].rule->from == 2000 &&
		d.steps[1].state == POLICY_DECIDES && d.answer == POLICY_NXDOMAIN &&
		d.match_offset == 4, "a scheduled entry before its window is passed over: nxdomain");
	ok(decide(p, "x.example.com", MATCH_BELOW, 1, 0, &d) == 0 &&
		d.steps[0].offset == 0 && d.steps[0].slot == MATCH_BELOW &&
		d.steps[0].state == POLICY_NOT_NOW, "MATCH_BELOW starts at the name's own below slot");
	ok(decide(p, "x.example.com", MATCH_EXACT, 1, 0, &d) == 0 && d.nsteps == 1 &&
		d.steps[0].line == 10, "  while the name itself goes to example.com");

	ok(decide(p, "b.www.example.com", MATCH_EXACT, 16, POLICY_DECIDE_LIST_LINES, &d) == 0 &&
		d.decider == 0 && d.rule->source == POLICY_FROM_LIST && d.answer == POLICY_NODATA &&
		d.steps[0].text == NULL && strcmp(d.steps[0].file, path) == 0 &&
		d.steps[0].line == 3 && d.rule->line == 40,
		"a list name decides, with the list file and its line there (3), the lists entry (40)");
	ok(decide(p, "www.listed.example", MATCH_EXACT, 1, POLICY_DECIDE_LIST_LINES, &d) == 0 &&
		d.steps[0].line == 2 && d.steps[0].slot == MATCH_BELOW, "  below a list name: line 2");
	ok(decide(p, "listed.example", MATCH_EXACT, 1, 0, &d) == 0 && d.steps[0].line == 0,
		"  without LIST_LINES the list is not read: line 0");

	ok(decide(p, "red.example", MATCH_EXACT, 1, 0, &d) == 0 && d.answer == POLICY_REDIRECT &&
		d.a == 1 && d.aaaa == 0 && !d.cname, "redirect, A: the landing address");
	ok(decide(p, "red.example", MATCH_EXACT, 28, 0, &d) == 0 && d.answer == POLICY_NODATA &&
		d.action == ACTION_REDIRECT, "redirect, AAAA with no IPv6 landing address: NODATA");
	ok(decide(p, "red.example", MATCH_EXACT, 15, 0, &d) == 0 && d.answer == POLICY_NODATA,
		"redirect, MX: NODATA");
	ok(decide(p, "other.test", MATCH_EXACT, 1, 0, &d) == 0 && d.rule == NULL &&
		d.nsteps == 0 && d.decider == 0 && d.answer == POLICY_FORWARD, "no entry: forwarded");
	ok(policy_decide(p, bad, sizeof(bad), MATCH_EXACT, 1, 1000, 0, &d) == -1 && d.nsteps == 0,
		"a malformed name is refused");
out:
	if (fd >= 0)
		unlink(path);
	policy_free(p);
	config_drop(cfg);
	diag_free(diag);
}

/* A stop during the build: the lists are not read on, and the diagnostic says why. */
static void test_abandon(void)
{
	struct config *cfg = config_make();
	struct diag *diag = diag_new();
	char path[] = "/tmp/blokir-policy-stop.XXXXXX";
	int fd = mkstemp(path);
	atomic_bool stop = true;
	struct policy *p;

	ok(fd >= 0 && write(fd, "a.example\nb.example\n", 20) == 20, "a list to abandon");
	close(fd);
	entry(cfg, "t.me", false, ACTION_NXDOMAIN);
	cfg->lists = calloc(1, sizeof(*cfg->lists));
	cfg->lists[0] = (struct config_list){ .path = path, .format = LIST_DOMAINS,
		.enabled = true, .action = ACTION_NXDOMAIN, .line = 40 };
	cfg->list_count = 1;
	p = policy_new_until(cfg, diag, &stop);
	ok(p == NULL && diag_count(diag) == 1 &&
		strcmp(diag_get(diag, 0), "test.yaml:1:1: load abandoned: the daemon is stopping") == 0,
		"policy_new_until with the stop flag set: NULL, \"load abandoned\"");
	stop = false;
	p = policy_new_until(cfg, diag, &stop);
	ok(p != NULL && policy_list_names(p) == 2, "  and with it clear, the whole list");
	policy_free(p);
	free(cfg->lists);
	cfg->list_count = 0;
	unlink(path);
	config_drop(cfg);
	diag_free(diag);
}

int main(void)
{
	test_schedules();
	test_2017_switch();
	test_2017_exception();
	policy_free(NULL);
	ok(1, "policy_free(NULL) is a no-op");
	test_compile();
	test_duplicates();
	test_edges();
	test_decide();
	test_abandon();
	ok(matches > 0 && labels_agreed == matches,
		"policy_match_labels agreed with policy_match on %u of %u names", labels_agreed, matches);
	return tap_exit();
}
