/*
 * why_test: policy_decide, as why asks it, lists every entry covering a name in the matcher's order
 * with the right state (decides, overridden, disabled, out of schedule); why_explain's text
 * for a blocked name, an allow exception, a forwarded name and a refused client; the per-entry
 * and per-list blocked counters.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "policy.h"
#include "tap.h"
#include "testname.h"
#include "value.h"
#include "why.h"
#include "value.h"

static int64_t fixed_now(void)
{
	return 1500000000; /* 2017-07-14T02:40:00Z */
}

static const char yaml[] =
	"listen: [\"127.0.0.1:5353\"]\n"                   /* 1 */
	"upstreams: [\"192.0.2.53\"]\n"                    /* 2 */
	"lists:\n"                                         /* 3 */
	"  - file: why_test.list\n"                        /* 4 */
	"domains:\n"                                       /* 5 */
	"  - name: telegram.org\n"                         /* 6 */
	"    reason: \"order\"\n"                          /* 7 */
	"    ref: \"123/2017\"\n"                          /* 8 */
	"  - name: web.telegram.org\n"                     /* 9 */
	"    action: allow\n"                              /* 10 */
	"  - name: pluto.web.telegram.org\n"               /* 11 */
	"  - name: old.telegram.org\n"                     /* 12 */
	"    enabled: false\n"                             /* 13 */
	"  - name: later.telegram.org\n"                   /* 14 */
	"    from: 2017-08-10T00:00:00Z\n"                 /* 15 */
	"  - name: \"*.star.example\"\n"                   /* 16 */
	"  - name: exact.example\n"                        /* 17 */
	"    exact: true\n";                               /* 18 */

static const char list[] = "# a list\nlisted.example\n";

static char *explain(const struct config *cfg, const struct policy *p, const char *name,
	const char *type, const char *client, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	*rc = why_explain(cfg, p, "F", name, type, client, fixed_now(), f);
	fclose(f);
	return buf;
}

static struct policy_decision dd;

static const struct policy_decision *decide(const struct policy *p, const char *text)
{
	uint8_t name[CONFIG_NAME_MAX];
	size_t len;
	const char *err;

	value_parse_name(text, name, &len, &err);
	policy_decide(p, name, len, MATCH_EXACT, 1, fixed_now(), POLICY_DECIDE_ENCLOSING, &dd);
	return &dd;
}

int main(void)
{
	char dir[] = "/tmp/why_test.XXXXXX", path[64], lpath[64];
	const struct policy_decision *dc;
	struct config *cfg;
	struct policy *p;
	struct diag *d = diag_new();
	const struct policy_rule *r;
	size_t off;
	char *t;
	int rc;

	policy_set_clock(fixed_now);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/why_test.yaml", dir);
	snprintf(lpath, sizeof(lpath), "%s/why_test.list", dir);
	FILE *f = fopen(path, "w");
	fputs(yaml, f);
	fclose(f);
	f = fopen(lpath, "w");
	fputs(list, f);
	fclose(f);
	cfg = config_load(path, d);
	p = cfg ? policy_new(cfg, d) : NULL;
	if (!ok(p != NULL, "the fixture loads")) {
		for (size_t i = 0; i < diag_count(d); i++)
			printf("# %s\n", diag_get(d, i));
		return tap_exit();
	}

	dc = decide(p, "x.pluto.web.telegram.org");
	is_int(dc->nsteps, 3, "x.pluto.web.telegram.org: three entries cover it");
	is_str(dc->steps[0].text, "pluto.web.telegram.org", "  the most specific first");
	is_int(dc->steps[0].state, POLICY_DECIDES, "  ... decides");
	is_int(dc->steps[1].state, POLICY_OVERRIDDEN, "  web.telegram.org (allow) overridden");
	is_int(dc->steps[2].state, POLICY_OVERRIDDEN, "  telegram.org overridden");
	is_int(dc->steps[2].line, 6, "  ... with its line");

	dc = decide(p, "old.telegram.org");
	is_int(dc->nsteps, 2, "old.telegram.org: two");
	is_int(dc->steps[0].state, POLICY_DISABLED, "  its own entry is disabled");
	is_int(dc->steps[0].line, 12, "  ... line 12");
	is_int(dc->steps[1].state, POLICY_DECIDES, "  telegram.org decides");

	dc = decide(p, "later.telegram.org");
	is_int(dc->steps[0].state, POLICY_NOT_NOW, "later.telegram.org: outside its schedule");
	is_int(dc->steps[1].state, POLICY_DECIDES, "  ... telegram.org decides");

	dc = decide(p, "star.example");
	is_int(dc->nsteps, 0, "star.example: *.star.example does not cover the name itself");
	dc = decide(p, "a.exact.example");
	is_int(dc->nsteps, 0, "a.exact.example: nor does the exact entry above it");

	dc = decide(p, "www.listed.example");
	is_int(dc->steps[0].rule->list_index, 0, "www.listed.example: decided by lists[0]");
	uint8_t w[CONFIG_NAME_MAX];
	size_t wlen = wire("listed.example", w);
	is_int(policy_list_line(p, 0, w, wlen, false), 2, "  ... listed on line 2 of the list file");

	t = explain(cfg, p, "x.pluto.web.telegram.org", "AAAA", NULL, &rc);
	is_int(rc, 0, "why x.pluto.web.telegram.org AAAA: 0");
	ok(strstr(t, "decision: blocked\n") != NULL, "  decision: blocked");
	ok(strstr(t, "deciding entry: pluto.web.telegram.org (the name and below) at F:11\n") != NULL,
		"  deciding entry with file:line");
	ok(strstr(t, "overrides: web.telegram.org (the name and below) at F:9\n  action: allow\n") != NULL,
		"  overrides the allow exception");
	ok(strstr(t, "overrides: telegram.org (the name and below) at F:6\n") != NULL,
		"  ... and telegram.org");
	ok(strstr(t, "answer: NXDOMAIN, authority pluto.web.telegram.org. 60 IN SOA") != NULL,
		"  the answer, SOA owned by the entry's name");
	free(t);

	t = explain(cfg, p, "web.telegram.org", NULL, NULL, &rc);
	ok(strstr(t, "decision: forwarded (an allow exception)\n") != NULL, "web.telegram.org: allow");
	ok(strstr(t, "overrides: telegram.org") != NULL, "  ... overriding telegram.org");
	ok(strstr(t, "  ref: 123/2017\n") != NULL, "  ... whose ref is shown");
	free(t);

	t = explain(cfg, p, "debian.org", NULL, NULL, &rc);
	ok(strstr(t, "decision: forwarded\nno entry covers debian.org.\nclosest enclosing entries: none\n")
		!= NULL, "debian.org: no entry covers it");
	ok(strstr(t, "answer: forwarded to 192.0.2.53:53") != NULL, "  ... forwarded to the upstream");
	free(t);

	t = explain(cfg, p, "www.listed.example", NULL, NULL, &rc);
	ok(strstr(t, "deciding entry: listed.example. listed at ") != NULL &&
		strstr(t, "why_test.list:2 (lists[0] at F:4)") != NULL, "a listed name: list file and line");
	free(t);

	t = explain(cfg, p, "telegram.org", NULL, "203.0.113.1", &rc);
	ok(strstr(t, "decision: refused, the client is outside allow-from\nanswer: REFUSED") != NULL,
		"a client outside allow-from: REFUSED");
	free(t);

	t = explain(cfg, p, "bad..name", NULL, NULL, &rc);
	is_int(rc, -1, "a bad name: -1");
	free(t);
	t = explain(cfg, p, "t.me", "NOSUCHTYPE", NULL, &rc);
	is_int(rc, -1, "a bad type: -1");
	free(t);

	/* blocked counters */
	is_int(policy_hits_init(p, 3), 0, "counters for three workers");
	wlen = wire("pluto.web.telegram.org", w);
	r = policy_match(p, w, wlen, &off);
	policy_hit(p, 0, r);
	policy_hit(p, 2, r);
	is_int(policy_hits(p, r->counter - 1), 2, "two hits on pluto, summed over workers");
	bool is_list;
	is_str(policy_hit_label(p, r->counter - 1, &is_list), "pluto.web.telegram.org", "  its label");
	ok(!is_list, "  ... a YAML entry");
	wlen = wire("listed.example", w);
	r = policy_match(p, w, wlen, &off);
	policy_hit(p, 1, r);
	is_int(policy_hits(p, r->counter - 1), 1, "one hit on the list");
	ok(strstr(policy_hit_label(p, r->counter - 1, &is_list), "why_test.list") != NULL && is_list,
		"  labelled with the list's path");

	policy_free(p);
	config_free(cfg);
	diag_free(d);
	unlink(path);
	unlink(lpath);
	rmdir(dir);
	return tap_exit();
}
