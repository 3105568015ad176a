/*
 * rpz_test: the RPZ reader. Each common shape is read by the fast path (no ldns fallback
 * counted) and gives the same entry as the same record written so that only ldns can read it
 * (parentheses around the data); directives, owners left out, the apex taken from the SOA or
 * given, other trigger types skipped or refused, bad records with their line, wire records.
 */
#include "rpz.h"
#include "value.h"
#include "tap.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
/* A wire name literal and its length with the root label (the literal's NUL) */
#define W(s) (const uint8_t *)(s), sizeof(s)

/* Entries and bad records as text lines, in the order they came. */
struct seen {
	char lines[64][700];
	size_t n;
};

static void name_text(const uint8_t *name, char *out)
{
	size_t t = 0;

	for (const uint8_t *l = name; *l != 0; l += 1 + *l) {
		memcpy(out + t, l + 1, *l);
		t += *l;
		out[t++] = '.';
	}
	if (t == 0)
		out[t++] = '.';
	out[t] = '\0';
}

static void add(struct seen *s, const char *line)
{
	if (s->n < N(s->lines))
		snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s", line);
}

static int collect(void *ctx, const struct lists_entry *e)
{
	char name[300], target[300] = "", addr[64] = "", line[700];

	name_text(e->name, name);
	if (e->cname_len > 0)
		name_text(e->cname, target);
	if (e->addr_family != 0)
		inet_ntop(e->addr_family, e->addr, addr, sizeof(addr));
	snprintf(line, sizeof(line), "%s%s %s%s%s%s%s @%u", e->form == MATCH_BELOW ? "*." : "", name,
		value_action_name(e->action), *target ? " " : "", target, *addr ? " " : "", addr,
		e->line);
	add(ctx, line);
	return 0;
}

static void collect_bad(void *ctx, unsigned line, const char *msg)
{
	char text[300];

	snprintf(text, sizeof(text), "bad @%u: %s", line, msg);
	add(ctx, text);
}

/* Reads TEXT with FLAGS (apex from the zone) into S and ST. */
static int read_text(const char *text, unsigned flags, struct seen *s, struct rpz_stats *st)
{
	struct rpz_sink sink = { .entry = collect, .bad = collect_bad, .ctx = s, .flags = flags };
	struct rpz_reader *r = rpz_reader_new(NULL, 0, &sink, st);
	int rc;

	memset(st, 0, sizeof(*st));
	s->n = 0;
	if (r == NULL)
		return -2;
	rc = rpz_reader_text(r, text, strlen(text), 1);
	rpz_reader_free(r);
	return rc;
}

static void expect(const char *what, const struct seen *s, const char *const *want, size_t n)
{
	if (!is_int(s->n, n, "%s: %zu results", what, n))
		for (size_t i = 0; i < s->n; i++)
			printf("#   %s\n", s->lines[i]);
	for (size_t i = 0; i < n && i < s->n; i++)
		is_str(s->lines[i], want[i], "%s: result %zu", what, i);
}

#define HEAD "$TTL 300\n$ORIGIN rpz.example.\n@ SOA ns.example. host.example. 7 3600 600 86400 60\n" \
	"  NS localhost.\n"

static void test_shapes(void)
{
	/* every common shape, one a line: all through the fast path */
	static const char *const lines[] = {
		"nx.example CNAME .",
		"*.nx.example CNAME .",
		"nodata.example CNAME *.",
		"pass.nx.example CNAME rpz-passthru.",
		"drop.example CNAME rpz-drop.",
		"landing.example CNAME Block.Example.org.",
		"rel.example CNAME landing",
		"Upper.Example 300 IN CNAME .",
		"class.example IN CNAME .",
		"abs.example.rpz.example. CNAME .",
		"addr.example A 192.0.2.1",
		"  AAAA 2001:db8::1",
		"\tA 192.0.2.2 ; a comment",
		"*.rpz.example. CNAME .",
	};
	static const char *const want[] = {
		"nx.example. nxdomain @5", "*.nx.example. nxdomain @6", "nodata.example. nodata @7",
		"pass.nx.example. allow @8", "drop.example. drop @9",
		"landing.example. redirect block.example.org. @10",
		"rel.example. redirect landing.rpz.example. @11", "upper.example. nxdomain @12",
		"class.example. nxdomain @13", "abs.example. nxdomain @14",
		"addr.example. redirect 192.0.2.1 @15", "addr.example. redirect 2001:db8::1 @16",
		"addr.example. redirect 192.0.2.2 @17", "*.. nxdomain @18",
	};
	char text[4096] = HEAD, slow[4096] = HEAD;
	struct seen s, s2;
	struct rpz_stats st;

	for (size_t i = 0; i < N(lines); i++) {
		const char *sp = strrchr(lines[i], ' ');
		const char *data = strstr(lines[i], " ;") ? NULL : sp;

		strcat(text, lines[i]);
		strcat(text, "\n");
		/* the same record only ldns can read: its data in parentheses */
		if (data != NULL) {
			strncat(slow, lines[i], (size_t)(data - lines[i]));
			strcat(slow, " (");
			strcat(slow, data + 1);
			strcat(slow, ")\n");
		} else {
			strcat(slow, "\tA ( 192.0.2.2 ) ; a comment\n");
		}
	}
	is_int(read_text(text, 0, &s, &st), 0, "common shapes: read");
	expect("common shapes", &s, want, N(want));
	is_int(st.records, N(lines) + 2, "records counted (SOA and NS too)");
	is_int(st.entries, N(lines), "entries counted");
	is_int(st.ignored, 2, "SOA and NS ignored");
	is_int(st.fallback, 2, "only SOA and NS went to ldns");
	ok(st.have_soa && st.serial == 7 && st.refresh == 3600 && st.retry == 600 &&
		st.expire == 86400 && st.minimum == 60, "the SOA's fields");
	is_int(read_text(slow, 0, &s2, &st), 0, "the same through ldns: read");
	is_int(st.fallback, N(lines) + 2, "  every record went to ldns");
	expect("the same through ldns", &s2, want, N(want));
}

static void test_multiline(void)
{
	static const char *const want[] = { "a.example. nxdomain @9", "b.example. nodata @10" };
	const char *text = "$ORIGIN rpz.example.\n"
		"@ IN SOA ns.example. host.example. (\n"
		"   2024010101 ; serial\n"
		"   3600 600 ; refresh, retry\n"
		"   86400\n"
		"   60 )\n"
		"@ NS ns.example.\n"
		"\n"
		"a.example CNAME .\n"
		"b.example 1h CNAME *.\n";
	struct seen s;
	struct rpz_stats st;

	is_int(read_text(text, 0, &s, &st), 0, "multi-line SOA: read");
	expect("multi-line SOA, lines after it counted right", &s, want, N(want));
	ok(st.have_soa && st.serial == 2024010101u, "  its serial");
}

static void test_apex(void)
{
	static const char *const want[] = { "x.example. nxdomain @2", "y.example. nxdomain @4" };
	static const char *const want_none[] = { "bad @1: record before the SOA and no $ORIGIN" };
	/* no $ORIGIN: the SOA's owner is the apex, and the origin of relative names */
	const char *text = "rpz.example. SOA ns. host. 1 2 3 4 5\nx.example CNAME .\n"
		"$ORIGIN sub.rpz.example.\ny.example.rpz.example. CNAME .\n";
	struct seen s;
	struct rpz_stats st;

	is_int(read_text(text, 0, &s, &st), 0, "apex from the SOA: read");
	expect("apex from the SOA", &s, want, N(want));
	read_text("x.example. CNAME .\n", 0, &s, &st);
	expect("no apex", &s, want_none, N(want_none));
}

static void test_bad(void)
{
	static const char *const want[] = {
		"ok.example. nxdomain @3",
		"bad @4: unsupported record type: expected CNAME, A or AAAA",
		"bad @5: only QNAME triggers are supported (no rpz-ip, rpz-nsdname, rpz-client-ip)",
		"bad @6: owner is not below the zone's origin",
		"bad @7: Syntax error, could not parse the RR's rdata",
		"bad @8: $INCLUDE is not supported",
		"bad @9: unknown directive: expected $ORIGIN or $TTL",
		"bad @10: only SOA and NS records belong at the zone's origin",
		"bad @11: NUL byte in record",
		"bad @12: $TTL: expected a time value",
		"after.example. nxdomain @13",
	};
	static const char *const skipped[] = { "ok.example. nxdomain @2",
		"ok2.example. nxdomain @5" };
	char text[1024];
	size_t n;
	struct seen s;
	struct rpz_stats st;
	struct rpz_sink sink = { .entry = collect, .bad = collect_bad, .ctx = &s };
	struct rpz_reader *r;

	n = (size_t)snprintf(text, sizeof(text), "$ORIGIN rpz.example.\n@ SOA ns. host. 1 2 3 4 5\n"
		"ok.example CNAME .\ntxt.example TXT \"hello\"\n32.1.2.0.192.rpz-ip CNAME .\n"
		"outside.other. CNAME .\ngarbage here !!!\n$INCLUDE other.rpz\n$GENERATE 1-2 x CNAME .\n"
		"@ CNAME .\nnul.example CNAME x%cy\n$TTL forever\nafter.example CNAME .\n", 0);
	memset(&st, 0, sizeof(st));
	s.n = 0;
	r = rpz_reader_new(NULL, 0, &sink, &st);
	is_int(r != NULL ? rpz_reader_text(r, text, n, 1) : -2, 0, "bad records: read goes on");
	rpz_reader_free(r);
	expect("bad records", &s, want, N(want));
	is_int(st.bad, N(want) - 2, "  counted");

	is_int(read_text("$ORIGIN rpz.example.\nok.example CNAME .\n24.0.2.0.192.rpz-client-ip CNAME .\n"
		"x.rpz-nsdname CNAME .\nok2.example CNAME .\n", RPZ_SKIP_OTHER_TRIGGERS, &s, &st), 0,
		"other triggers skipped: read");
	expect("other triggers skipped", &s, skipped, N(skipped));
	is_int(st.other_triggers, 2, "  and counted");
	is_int(st.bad, 0, "  not bad");
}

/* Fails the entry callback on the second entry: the reader stops and says so. */
static int fail_second(void *ctx, const struct lists_entry *e)
{
	(void)e;
	return ++*(int *)ctx == 2 ? -1 : 0;
}

static void test_callback_fails(void)
{
	int calls = 0;
	struct rpz_stats st = { 0 };
	struct rpz_sink sink = { .entry = fail_second, .ctx = &calls };
	struct rpz_reader *r = rpz_reader_new(NULL, 0, &sink, &st);
	const char *text = "$ORIGIN z.\na CNAME .\nb CNAME .\nc CNAME .\n";

	is_int(r != NULL ? rpz_reader_text(r, text, strlen(text), 1) : -2, -1,
		"a failing callback stops the reader");
	is_int(calls, 2, "  after its failure");
	rpz_reader_free(r);
}

static void test_wire(void)
{
	static const uint8_t apex[] = "\3rpz\7example";        /* with its NUL: 13 octets */
	static const uint8_t soa[] = "\2ns\0\4host\0\0\0\0\x2a\0\0\x0e\x10\0\0\2\x58\0\1\x51\x80\0\0\0\x3c";
	static const char *const want[] = {
		"nx.example. nxdomain @0", "*.w.example. allow @0", "land.example. redirect x.org. @0",
		"addr.example. redirect 192.0.2.9 @0",
		"bad @0: owner is not below the zone's origin", "bad @0: malformed address record",
		"bad @0: malformed CNAME target",
	};
	struct seen s = { .n = 0 };
	struct rpz_stats st = { 0 };
	struct rpz_sink sink = { .entry = collect, .bad = collect_bad, .ctx = &s,
		.flags = RPZ_SKIP_OTHER_TRIGGERS };
	struct rpz_reader *r = rpz_reader_new(apex, sizeof(apex), &sink, &st);
	const uint8_t a[4] = { 192, 0, 2, 9 };

	if (!ok(r != NULL, "a reader with a given apex"))
		return;
	rpz_reader_rr(r, apex, sizeof(apex), 6, 60, soa, sizeof(soa) - 1);
	rpz_reader_rr(r, W("\2NX\7example\3RPZ\7example"), 5, 60, (const uint8_t *)"", 1);
	rpz_reader_rr(r, W("\1*\1w\7example\3rpz\7example"), 5, 60,
		(const uint8_t *)"\14rpz-passthru", 14);
	rpz_reader_rr(r, W("\4land\7example\3rpz\7example"), 5, 60,
		(const uint8_t *)"\1x\3org", 7);
	rpz_reader_rr(r, W("\4addr\7example\3rpz\7example"), 1, 60, a, 4);
	rpz_reader_rr(r, W("\4addr\7example\5other"), 1, 60, a, 4);
	rpz_reader_rr(r, W("\4addr\7example\3rpz\7example"), 28, 60, a, 4);
	rpz_reader_rr(r, W("\4land\7example\3rpz\7example"), 5, 60,
		(const uint8_t *)"\xc0\x0c", 2);
	rpz_reader_rr(r, W("\2ip\6rpz-ip\3rpz\7example"), 5, 60, (const uint8_t *)"", 1);
	rpz_reader_free(r);
	expect("wire records", &s, want, N(want));
	ok(st.have_soa && st.serial == 42 && st.refresh == 3600 && st.minimum == 60,
		"  the SOA's fields from wire form");
	is_int(st.other_triggers, 1, "  an rpz-ip owner skipped");
}

static void test_file(void)
{
	struct seen s = { .n = 0 };
	struct rpz_stats st = { 0 };
	struct rpz_sink sink = { .entry = collect, .bad = collect_bad, .ctx = &s };
	const char *err = "unset";

	is_int(rpz_read_file("tests/unit/fixtures/lists/zone.rpz", NULL, 0, &sink, &st, &err), 0,
		"a file: read");
	is_int(st.entries, 9, "  its entries");
	is_int(rpz_read_file("/nonexistent/zone.rpz", NULL, 0, &sink, &st, &err), -1,
		"a missing file fails");
	is_str(err, "No such file or directory", "  with strerror's text");
}

/* rpz_record_cb: each record as "TYPE TTL owner-length". */
static int collect_record(void *ctx, const uint8_t *owner, size_t olen, uint16_t type, uint32_t ttl,
	const uint8_t *rdata, size_t rdlen)
{
	char line[100];

	(void)owner;
	(void)rdata;
	snprintf(line, sizeof(line), "%u %u %zu %zu", type, ttl, olen, rdlen);
	add(ctx, line);
	return 0;
}

static void test_records(void)
{
	static const char *const want[] = { "6 300 13 27", "5 300 23 1", "5 45 23 1", "1 45 23 4",
		"28 300 23 16" };
	const char *text = "$ORIGIN rpz.example.\n$TTL 300\n@ SOA ns. h. 1 2 3 4 5\n"
		"x.example CNAME .\ny.example 45 CNAME .\nz.example 45 IN A 192.0.2.1\n"
		"w.example AAAA ( ::1 )\n";
	struct seen s = { .n = 0 };
	struct rpz_stats st = { 0 };
	struct rpz_sink sink = { .record = collect_record, .ctx = &s };
	struct rpz_reader *r = rpz_reader_new(NULL, 0, &sink, &st);

	is_int(r != NULL ? rpz_reader_text(r, text, strlen(text), 1) : -2, 0,
		"records only (no entry callback): read");
	rpz_reader_free(r);
	expect("every record with its TTL, fast path and ldns alike", &s, want, N(want));
}

int main(void)
{
	test_shapes();
	test_multiline();
	test_apex();
	test_bad();
	test_callback_fails();
	test_wire();
	test_file();
	test_records();
	return tap_exit();
}
