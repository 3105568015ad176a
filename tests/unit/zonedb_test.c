/*
 * zonedb_test: an RPZ zone's triggers as the transfer module keeps them: records read by the RPZ
 * reader (rpz.h) as a transfer's are, added and removed record by record, published as snapshots that later changes never touch (base plus
 * overlay, tombstones, compaction), and the precedence of zones in a policy view.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"
#include "rpz.h"
#include "value.h"
#include "tap.h"
#include "testname.h"
#include "zonedb.h"

static uint8_t origin[CONFIG_NAME_MAX];
static size_t origin_len;

/* Feeding one record through the RPZ reader (rpz.h), as the transfer module does. */
struct feed {
	struct zonedb *db;
	bool del;
	int rc;
};

static int feed_entry(void *ctx, const struct lists_entry *e)
{
	struct feed *f = ctx;

	f->rc = f->del ? zonedb_del(f->db, e) : zonedb_add(f->db, e);
	return f->rc < 0 ? -1 : 0;
}

/* OWNER (relative) TYPE RDATA of zone rpz.test into DB, or out of it with DEL; the store's result. */
static int feed(struct zonedb *db, bool del, const char *owner, uint16_t type, const void *rdata,
	size_t rdlen)
{
	uint8_t name[CONFIG_NAME_MAX * 2];
	size_t n = wire(owner, name) - 1;
	struct feed f = { db, del, -2 };
	struct rpz_stats st = { 0 };
	struct rpz_sink sink = { .entry = feed_entry, .ctx = &f, .flags = RPZ_SKIP_OTHER_TRIGGERS };
	struct rpz_reader *r = rpz_reader_new(origin, origin_len, &sink, &st);

	memcpy(name + n, origin, origin_len);
	rpz_reader_rr(r, name, n + origin_len, type, 60, rdata, rdlen);
	rpz_reader_free(r);
	return f.rc;
}

/* Adds (or with DEL removes) OWNER CNAME TARGET ("." "*." "rpz-passthru." or a name). */
static int cname(struct zonedb *db, bool del, const char *owner, const char *target)
{
	uint8_t t[CONFIG_NAME_MAX];
	size_t tl = strcmp(target, "*.") == 0 ? (memcpy(t, "\1*\0", 3), 3) : wire(target, t);

	return feed(db, del, owner, 5, t, tl);
}

static int addr(struct zonedb *db, bool del, const char *owner, uint8_t last)
{
	uint8_t a[4] = { 192, 0, 2, last };

	return feed(db, del, owner, 1, a, 4);
}

/* The action SNAP gives QNAME, as a string; "none" when no trigger covers it. */
static const char *decide(const struct zonesnap *s, const char *qname)
{
	uint8_t q[CONFIG_NAME_MAX];
	size_t len = wire(qname, q), off;
	const struct policy_rule *r = zonesnap_match(s, q, len, ACTION_DEFAULT, &off);

	return r == NULL ? "none" : value_action_name(r->action);
}

static void test_deltas(void)
{
	struct zonedb *db = zonedb_new("rpz.test", "feed", NULL, 16);
	struct zonesnap *s1, *s2, *s3;

	cname(db, false, "bad.example", ".");
	cname(db, false, "*.wild.example", "*.");
	cname(db, false, "ok.bad.example", "rpz-passthru");
	addr(db, false, "land.example", 80);
	addr(db, false, "land.example", 81);
	is_int(zonedb_triggers(db), 4, "four triggers (two addresses of one owner)");
	cname(db, false, "*.wide.example", "*.");
	cname(db, false, "x.wide.example", ".");
	cname(db, false, "y.wide2.example", ".");
	s1 = zonedb_snapshot(db);
	is_str(decide(s1, "bad.example"), "nxdomain", "snapshot 1: bad.example nxdomain");
	is_str(decide(s1, "www.bad.example"), "none", "  exact: not below it");
	is_str(decide(s1, "a.wild.example"), "nodata", "  *.wild.example below");
	is_str(decide(s1, "wild.example"), "none", "  not the name itself");
	is_str(decide(s1, "ok.bad.example"), "allow", "  passthru");
	is_str(decide(s1, "land.example"), "redirect", "  local data");
	{
		uint8_t q[64];
		size_t len = wire("land.example", q), off;
		const struct policy_rule *r = zonesnap_match(s1, q, len, ACTION_DEFAULT, &off);
		ok(r && r->redirect && r->redirect->a_count == 2, "  with both addresses");
		is_str(r && r->reason ? r->reason : "(none)", "feed", "  and the zone's reason");
	}

	/* an increment: one removed, one added, one address less */
	is_int(cname(db, true, "bad.example", "."), 0, "deleting bad.example");
	cname(db, false, "new.example", ".");
	is_int(addr(db, true, "land.example", 80), 0, "deleting one address");
	is_int(addr(db, true, "land.example", 99), 1, "deleting an address not there: 1");
	is_int(cname(db, true, "nothere.example", "."), 1, "deleting a trigger not there: 1");
	is_int(cname(db, true, "new.example", "*."), 1, "deleting with the wrong target: 1");
	cname(db, true, "x.wide.example", ".");
	cname(db, false, "*.wide2.example", "*.");
	s2 = zonedb_snapshot(db);
	is_str(decide(s2, "x.wide.example"), "nodata",
		"a tombstone hides only its own name: *.wide.example below it in the base decides");
	is_str(decide(s2, "y.wide2.example"), "nxdomain",
		"a base trigger more specific than an overlay one decides");
	is_str(decide(s2, "z.wide2.example"), "nodata", "  and the overlay's *.wide2.example the rest");
	is_str(decide(s2, "bad.example"), "none", "snapshot 2: bad.example gone (tombstone)");
	is_str(decide(s2, "new.example"), "nxdomain", "  new.example in (overlay)");
	is_str(decide(s2, "a.wild.example"), "nodata", "  the base still answers the rest");
	{
		uint8_t q[64];
		size_t len = wire("land.example", q), off;
		const struct policy_rule *r = zonesnap_match(s2, q, len, ACTION_DEFAULT, &off);
		ok(r && r->redirect && r->redirect->a_count == 1 && r->redirect->a[0][3] == 81,
			"  land.example has one address left");
		r = zonesnap_match(s1, q, len, ACTION_DEFAULT, &off);
		ok(r && r->redirect && r->redirect->a_count == 2,
			"snapshot 1 is untouched: two addresses (copy on write)");
	}
	is_str(decide(s1, "bad.example"), "nxdomain", "  and bad.example still nxdomain");
	is_str(decide(s1, "new.example"), "none", "  and no new.example");
	{
		uint8_t q[64];
		size_t len = wire("anything.example", q), off;
		is_int(zonesnap_match(s2, q, len, ACTION_NODATA, &off) == NULL, 1,
			"override: no trigger, no match");
		len = wire("new.example", q);
		const struct policy_rule *r = zonesnap_match(s2, q, len, ACTION_NODATA, &off);
		is_int(r ? (int)r->action : -1, ACTION_NODATA, "override: every trigger answers nodata");
	}

	/* enough changes for a compaction: the next snapshot takes a new base */
	char name[64];
	for (int i = 0; i < ZONEDB_COMPACT_MIN + 10; i++) {
		snprintf(name, sizeof(name), "n%d.bulk", i);
		addr(db, false, name, (uint8_t)i);
	}
	s3 = zonedb_snapshot(db);
	is_int(zonesnap_triggers(s3), zonedb_triggers(db), "snapshot 3 counts every trigger");
	is_str(decide(s3, "n16000.bulk"), "redirect", "  compacted base has the bulk names");
	is_str(decide(s3, "bad.example"), "none", "  and not the deleted one");
	is_str(decide(s2, "n5.bulk"), "none", "snapshot 2 does not see them");
	zonesnap_unref(s1);
	zonesnap_unref(s2);
	zonedb_free(db);
	is_str(decide(s3, "new.example"), "nxdomain", "a snapshot outlives its store");
	zonesnap_unref(s3);
}

static int count_entry(void *ctx, const struct lists_entry *e)
{
	(void)e;
	(*(int *)ctx)++;
	return 0;
}

static void test_foreach(void)
{
	struct zonedb *db = zonedb_new("rpz.test", NULL, NULL, 16);
	int n = 0;

	cname(db, false, "a.example", ".");
	addr(db, false, "b.example", 1);
	addr(db, false, "b.example", 2);
	cname(db, false, "*.c.example", "landing.example");
	cname(db, true, "a.example", ".");
	zonedb_foreach(db, count_entry, &n);
	is_int(n, 3, "foreach: one call per record held (two addresses, one CNAME)");
	{
		struct zonesnap *s1 = zonedb_snapshot(db), *s2;
		cname(db, false, "d.example", "*.");
		addr(db, true, "b.example", 1);
		cname(db, true, "*.c.example", "landing.example");
		s2 = zonedb_snapshot(db);
		n = 0;
		zonesnap_foreach(s1, count_entry, &n);
		is_int(n, 3, "snapshot foreach: the copy as it was");
		n = 0;
		zonesnap_foreach(s2, count_entry, &n);
		is_int(n, 2, "snapshot foreach with an overlay: one address left, d.example added, "
			"*.c.example gone");
		zonesnap_unref(s1);
		zonesnap_unref(s2);
	}
	zonedb_free(db);
}

/* Policy views: zones after YAML entries and lists for the same name, the most specific first. */
static void test_view(void)
{
	struct config cfg = { 0 };
	struct config_domain d = { 0 };
	struct config_zone zones[2] = { { .enabled = true, .action = ACTION_DEFAULT },
		{ .enabled = true, .action = ACTION_DEFAULT } };
	struct zonedb *a = zonedb_new("a.rpz", NULL, NULL, 16), *b = zonedb_new("b.rpz", NULL, NULL, 16);
	struct zonesnap *snaps[2];
	struct policy *core, *view;
	struct diag *diag = diag_new();
	uint8_t q[64];
	size_t len, off;
	const struct policy_rule *r;

	cfg.path = "t.yaml";
	cfg.default_action = ACTION_NXDOMAIN;
	d.name_len = wire("telegram.org", d.name);
	d.text = "telegram.org";
	d.form = MATCH_SUBTREE;
	d.enabled = true;
	d.action = ACTION_REFUSED;
	d.line = 7;
	cfg.domains = &d;
	cfg.domain_count = 1;
	zones[0].name_len = wire("a.rpz", zones[0].name);
	zones[1].name_len = wire("b.rpz", zones[1].name);
	cfg.zones = zones;
	cfg.zone_count = 2;
	core = policy_new(&cfg, diag);
	ok(core != NULL, "a core policy with two zones");

	cname(a, false, "telegram.org", "*.");       /* same name as the YAML entry */
	cname(a, false, "web.telegram.org", "rpz-passthru"); /* more specific: an exception */
	cname(a, false, "x.example", "*.");
	cname(b, false, "x.example", ".");          /* same name, later zone */
	cname(b, false, "y.example", ".");
	snaps[0] = zonedb_snapshot(a);
	snaps[1] = zonedb_snapshot(b);
	view = policy_with_zones(core, snaps, 2);
	policy_free(core); /* the view keeps it */
	len = wire("telegram.org", q);
	r = policy_match(view, q, len, &off);
	is_int(r ? (int)r->action : -1, ACTION_REFUSED, "same name: the YAML entry beats the zone");
	len = wire("web.telegram.org", q);
	r = policy_match(view, q, len, &off);
	is_int(r ? (int)r->action : -1, ACTION_ALLOW, "a more specific zone trigger beats a YAML subtree");
	len = wire("x.example", q);
	r = policy_match(view, q, len, &off);
	is_int(r ? (int)r->action : -1, ACTION_NODATA, "same name in two zones: the earlier zone wins");
	len = wire("y.example", q);
	r = policy_match(view, q, len, &off);
	is_int(r ? (int)r->action : -1, ACTION_NXDOMAIN, "the later zone answers its own names");
	is_int(policy_zone_names(view), 5, "the view counts the zones' triggers");
	zonesnap_unref(snaps[0]);
	zonesnap_unref(snaps[1]);
	zonedb_free(a);
	zonedb_free(b);
	len = wire("y.example", q);
	ok(policy_match(view, q, len, &off) != NULL, "the view holds its snapshots");
	policy_free(view);
	diag_free(diag);
}

int main(void)
{
	origin_len = wire("rpz.test", origin);
	test_deltas();
	test_foreach();
	test_view();
	return tap_exit();
}
