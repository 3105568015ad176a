/*
 * domtree_test: the name matcher on its own: label-boundary matching, the three match forms,
 * most-specific-wins with an allow exception, match offsets, the root entry, duplicate slots and
 * growth well past the initial size, and names of every depth in small and big tables.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "domtree.h"
#include "tap.h"
#include "testname.h"

static int add(struct domtree *t, const char *text, enum match_form form, uint32_t value)
{
	uint8_t name[CONFIG_NAME_MAX];

	return domtree_insert(t, name, wire(text, name), form, value, NULL);
}

/* Every look() also asks domtree_lookup_labels, as the query path does: the two must agree. */
static unsigned looks, labels_agreed;

static uint32_t look(const struct domtree *t, const char *text, size_t *off)
{
	uint8_t name[CONFIG_NAME_MAX];
	size_t len = wire(text, name), labels = 0, off2 = SIZE_MAX, off1 = SIZE_MAX;
	uint32_t v, v2;

	for (size_t o = 0; name[o] != 0; o += 1 + name[o])
		labels++;
	v = domtree_lookup(t, name, len, &off1);
	v2 = domtree_lookup_labels(t, name, len, labels, &off2, NULL, NULL);
	looks++;
	labels_agreed += v == v2 && off1 == off2;
	if (off != NULL && v != DOMTREE_NONE)
		*off = off1;
	return v;
}

static void test_label_boundary(void)
{
	struct domtree *t = domtree_new(0);

	is_int(add(t, "t.me", MATCH_SUBTREE, 7), 0, "insert t.me");
	is_int(look(t, "t.me", NULL), 7, "t.me matches itself");
	is_int(look(t, "web.t.me", NULL), 7, "t.me matches web.t.me");
	is_int(look(t, "a.b.web.t.me", NULL), 7, "t.me matches a deep name below it");
	is_int(look(t, "at.me", NULL), DOMTREE_NONE, "t.me does not match at.me");
	is_int(look(t, "me", NULL), DOMTREE_NONE, "t.me does not match me");
	is_int(look(t, "t.me.org", NULL), DOMTREE_NONE, "t.me does not match t.me.org");
	is_int(look(t, ".", NULL), DOMTREE_NONE, "t.me does not match the root");
	is_int(domtree_count(t), 1, "one name stored");
	domtree_free(t);
}

static void test_forms(void)
{
	struct domtree *t = domtree_new(4);
	size_t off = 99;

	is_int(add(t, "sub.example", MATCH_SUBTREE, 1), 0, "insert subtree");
	is_int(add(t, "below.example", MATCH_BELOW, 2), 0, "insert below");
	is_int(add(t, "exact.example", MATCH_EXACT, 3), 0, "insert exact");
	is_int(look(t, "sub.example", NULL), 1, "subtree: the name itself");
	is_int(look(t, "x.sub.example", NULL), 1, "subtree: a name below");
	is_int(look(t, "below.example", NULL), DOMTREE_NONE, "below: not the name itself");
	is_int(look(t, "x.below.example", &off), 2, "below: a name below");
	is_int(off, 2, "below: match offset is where below.example starts");
	is_int(look(t, "exact.example", &off), 3, "exact: the name itself");
	is_int(off, 0, "exact: match offset 0");
	is_int(look(t, "x.exact.example", NULL), DOMTREE_NONE, "exact: not a name below");
	is_int(look(t, "example", NULL), DOMTREE_NONE, "no entry covers the parent");

	/* "name exact" and "*.name" fill different slots, so together they act as a subtree. */
	is_int(add(t, "below.example", MATCH_EXACT, 4), 0, "exact beside below: no conflict");
	is_int(look(t, "below.example", NULL), 4, "the exact slot answers for the name");
	is_int(look(t, "y.below.example", NULL), 2, "the below slot answers below it");
	domtree_free(t);
}

static void test_duplicates(void)
{
	struct domtree *t = domtree_new(0);
	uint8_t name[CONFIG_NAME_MAX];
	size_t len = wire("example.com", name);
	uint32_t existing = 0;

	is_int(domtree_insert(t, name, len, MATCH_SUBTREE, 10, NULL), 0, "subtree inserted");
	is_int(domtree_insert(t, name, len, MATCH_BELOW, 11, &existing), 1, "subtree then below: dup");
	is_int(existing, 10, "the existing value is reported");
	is_int(domtree_insert(t, name, len, MATCH_EXACT, 12, &existing), 1, "subtree then exact: dup");
	is_int(look(t, "example.com", NULL), 10, "a refused insert changes nothing");

	len = wire("a.org", name);
	is_int(domtree_insert(t, name, len, MATCH_EXACT, 20, NULL), 0, "exact inserted");
	is_int(domtree_insert(t, name, len, MATCH_SUBTREE, 21, &existing), 1, "exact then subtree: dup");
	is_int(existing, 20, "the exact entry is reported");
	is_int(look(t, "b.a.org", NULL), DOMTREE_NONE, "the refused subtree left BELOW unset");
	is_int(domtree_insert(t, name, len, MATCH_BELOW, 22, NULL), 0, "exact then below: fine");
	is_int(domtree_insert(t, name, len, MATCH_BELOW, 23, &existing), 1, "below twice: dup");
	is_int(existing, 22, "the first below entry is reported");
	is_int(domtree_count(t), 2, "two names stored");

	errno = 0;
	is_int(domtree_insert(t, name, len, MATCH_EXACT, DOMTREE_NONE, NULL), -1,
		"DOMTREE_NONE cannot be stored");
	is_int(errno, EINVAL, "  with EINVAL");
	name[0] = 60; /* label runs past the end */
	is_int(domtree_insert(t, name, len, MATCH_EXACT, 1, NULL), -1, "malformed name refused");
	domtree_free(t);
}

/* The 2017 example: block a subtree, allow a part of it, block again inside the allowed part. */
static void test_precedence(void)
{
	struct domtree *t = domtree_new(0);
	size_t off = 99;

	add(t, "telegram.org", MATCH_SUBTREE, 1);     /* nxdomain */
	add(t, "web.telegram.org", MATCH_SUBTREE, 2); /* allow */
	add(t, "venus.web.telegram.org", MATCH_SUBTREE, 3);
	is_int(look(t, "venus.web.telegram.org", &off), 3, "venus.web.telegram.org: its own entry");
	is_int(off, 0, "  matched at offset 0");
	is_int(look(t, "a.venus.web.telegram.org", &off), 3, "below venus: venus's entry");
	is_int(off, 2, "  matched at offset 2");
	is_int(look(t, "pluto.web.telegram.org", &off), 2, "pluto.web.telegram.org: the allow");
	is_int(off, 6, "  matched web.telegram.org at offset 6");
	is_int(look(t, "web.telegram.org", NULL), 2, "web.telegram.org: the allow");
	is_int(look(t, "core.telegram.org", &off), 1, "core.telegram.org: blocked");
	is_int(off, 5, "  matched telegram.org at offset 5");
	is_int(look(t, "telegram.org", NULL), 1, "telegram.org itself: blocked");
	is_int(look(t, "telegram.com", NULL), DOMTREE_NONE, "telegram.com: no entry");

	/* An exact entry on a name below a subtree only overrides that one name. */
	add(t, "x.telegram.org", MATCH_EXACT, 4);
	is_int(look(t, "x.telegram.org", NULL), 4, "exact entry wins for its name");
	is_int(look(t, "y.x.telegram.org", NULL), 1, "names below it fall to the subtree");
	domtree_free(t);
}

static void test_root(void)
{
	struct domtree *t = domtree_new(0);
	size_t off = 99;

	is_int(look(t, "anything.example", NULL), DOMTREE_NONE, "empty tree: no match");
	is_int(add(t, ".", MATCH_SUBTREE, 5), 0, "insert the root");
	is_int(add(t, "ok.example", MATCH_SUBTREE, 6), 0, "insert ok.example");
	is_int(look(t, "anything.example", &off), 5, "the root covers everything");
	is_int(off, 17, "  matched at the final zero octet");
	is_int(look(t, ".", &off), 5, "the root covers itself");
	is_int(off, 0, "  at offset 0");
	is_int(look(t, "a.ok.example", NULL), 6, "a more specific entry beats the root");
	domtree_free(t);

	t = domtree_new(0);
	add(t, ".", MATCH_BELOW, 8);
	is_int(look(t, ".", NULL), DOMTREE_NONE, "root below-only: not the root itself");
	is_int(look(t, "com", NULL), 8, "root below-only: com");
	domtree_free(t);
}

/* Lookups never read past LEN, even for malformed names (the caller should have refused them). */
static void test_malformed(void)
{
	struct domtree *t = domtree_new(0);
	uint8_t bad1[] = { 3, 'c', 'o', 'm' };            /* no root label */
	uint8_t bad2[] = { 9, 'c', 'o', 'm', 0 };         /* label past the end */
	uint8_t bad3[] = { 0xc0, 0x0c };                  /* a compression pointer */
	uint8_t bad4[] = { 3, 'c', 'o', 'm', 0, 0 };      /* bytes after the root */

	add(t, ".", MATCH_SUBTREE, 1);
	is_int(domtree_lookup(t, bad1, sizeof(bad1), NULL), DOMTREE_NONE, "no root label");
	is_int(domtree_lookup(t, bad2, sizeof(bad2), NULL), DOMTREE_NONE, "label past the end");
	is_int(domtree_lookup(t, bad3, sizeof(bad3), NULL), DOMTREE_NONE, "compression pointer");
	is_int(domtree_lookup(t, bad4, sizeof(bad4), NULL), DOMTREE_NONE, "trailing bytes");
	is_int(domtree_lookup(t, bad4, 0, NULL), DOMTREE_NONE, "zero length");
	domtree_free(t);
}

static void test_growth(void)
{
	enum { N = 100000 };
	struct domtree *t = domtree_new(0);
	char text[64];
	size_t before = domtree_memory(t), bad = 0, found_missing = 0;

	for (unsigned i = 0; i < N; i++) {
		snprintf(text, sizeof(text), "host%u.zone%u.example", i, i % 97);
		if (add(t, text, i % 3 == 0 ? MATCH_EXACT : MATCH_SUBTREE, i) != 0)
			bad++;
	}
	is_int(bad, 0, "100000 names inserted into a tree made for none");
	is_int(domtree_count(t), N, "all counted");
	ok(domtree_memory(t) > before, "memory grew (%zu bytes)", domtree_memory(t));
	ok(domtree_memory(t) / N < 64, "%zu bytes per name", domtree_memory(t) / N);
	bad = 0;
	for (unsigned i = 0; i < N; i++) {
		snprintf(text, sizeof(text), "host%u.zone%u.example", i, i % 97);
		if (look(t, text, NULL) != i)
			bad++;
		snprintf(text, sizeof(text), "sub.host%u.zone%u.example", i, i % 97);
		if (look(t, text, NULL) != (i % 3 == 0 ? DOMTREE_NONE : i))
			bad++;
		snprintf(text, sizeof(text), "host%u.zone%u.example", i, (i + 1) % 97);
		if (look(t, text, NULL) != DOMTREE_NONE)
			found_missing++;
	}
	is_int(bad, 0, "every name and the names below the subtrees found");
	is_int(found_missing, 0, "no name that was not inserted found");
	domtree_free(t);
}

/* "a.a. ... .a.x": LABELS labels (the last one "x"), in TEXT. */
static const char *deep_name(char *text, unsigned labels)
{
	text[0] = '\0';
	for (unsigned i = 1; i < labels; i++)
		strcat(text, "a.");
	strcat(text, "x");
	return text;
}

/*
 * A lookup probes only suffixes of a label count that some stored name has (bit 63 standing for
 * 63 or more): names of very different depths must still all be found, most specific first, in a
 * small table (hashed one suffix at a time) and a big one (all suffixes hashed first).
 */
static void test_label_counts(void)
{
	for (int big = 0; big <= 1; big++) {
		struct domtree *t = domtree_new(0);
		char text[300], text2[300];
		const char *how = big ? "big table" : "small table";

		for (unsigned i = 0; big && i < 50000; i++) {
			snprintf(text, sizeof(text), "filler%u.example", i);
			add(t, text, MATCH_SUBTREE, 1000000 + i);
		}
		add(t, "a.b.c.d.e", MATCH_SUBTREE, 5);
		add(t, "example", MATCH_EXACT, 1);
		add(t, deep_name(text, 64), MATCH_SUBTREE, 64);
		add(t, deep_name(text, 70), MATCH_SUBTREE, 70);
		is_int(look(t, "x.y.a.b.c.d.e", NULL), 5, "%s: 7 labels, found by its 5-label suffix", how);
		is_int(look(t, "example", NULL), 1, "%s: a 1-label name", how);
		is_int(look(t, "q.example", NULL), DOMTREE_NONE,
			"%s: exact 1-label name does not cover q.example", how);
		is_int(look(t, "b.c.d.e", NULL), DOMTREE_NONE, "%s: 4 labels: no match", how);
		is_int(look(t, deep_name(text, 100), NULL), 70, "%s: 100 labels: the 70-label entry wins",
			how);
		is_int(look(t, deep_name(text, 66), NULL), 64, "%s: 66 labels: the 64-label entry", how);
		is_int(look(t, deep_name(text, 63), NULL), DOMTREE_NONE, "%s: 63 labels: none", how);
		snprintf(text2, sizeof(text2), "filler7.%s", deep_name(text, 30));
		is_int(look(t, text2, NULL), DOMTREE_NONE, "%s: a 32-label name: none", how);
		if (big)
			is_int(look(t, "www.filler49999.example", NULL), 1049999,
				"big table: a filler name's subtree");
		domtree_free(t);
	}
}

static bool accept_even(uint32_t v, void *ctx)
{
	(void)ctx;
	return v % 2 == 0;
}

/* domtree_merge keeps strong slots, takes free and weak ones; the filter skips values. */
static void test_merge_filter(void)
{
	struct domtree *t = domtree_new(4);
	uint8_t a[CONFIG_NAME_MAX], b[CONFIG_NAME_MAX];
	size_t la = wire("a.example", a), lb = wire("b.a.example", b), off = 0;

	ok(domtree_insert(t, a, la, MATCH_EXACT, 2, NULL) == 0, "exact a.example = 2");
	is_int(domtree_merge(t, a, la, MATCH_SUBTREE, 4, 0x80), 1,
		"merge subtree: SELF kept, BELOW written");
	is_int(domtree_lookup(t, a, la, NULL), 2, "SELF still 2");
	is_int(domtree_lookup(t, b, lb, NULL), 4, "BELOW now 4");
	ok(domtree_insert(t, b, lb, MATCH_SUBTREE, 0x81, NULL) == 0, "b.a.example weak 0x81");
	is_int(domtree_merge(t, b, lb, MATCH_EXACT, 6, 0x80), 0, "weak SELF overwritten");
	is_int(domtree_lookup(t, b, lb, NULL), 6, "b.a.example = 6");
	ok(domtree_insert(t, b, lb, MATCH_EXACT, 7, NULL) == 1, "insert still sees it taken");
	domtree_free(t);

	t = domtree_new(4);
	domtree_insert(t, a, la, MATCH_SUBTREE, 2, NULL);
	domtree_insert(t, b, lb, MATCH_SUBTREE, 3, NULL);
	is_int(domtree_lookup_filter(t, b, lb, &off, accept_even, NULL), 2,
		"filter skips the refused value and goes on to the ancestor");
	is_int(off, 2, "  match offset of the ancestor");
	is_int(domtree_lookup_filter(t, b, lb, &off, NULL, NULL), 3, "NULL filter: plain lookup");
	domtree_free(t);
}

/* domtree_get: one slot of one stored name, no walk. */
static void test_get(void)
{
	struct domtree *t = domtree_new(4);
	uint8_t w[CONFIG_NAME_MAX];
	size_t n;

	ok(domtree_get(t, w, wire("a.example", w), MATCH_EXACT) == DOMTREE_NONE,
		"get in an empty tree: none");
	add(t, "a.example", MATCH_SUBTREE, 1);
	add(t, "b.example", MATCH_BELOW, 2);
	n = wire("a.example", w);
	ok(domtree_get(t, w, n, MATCH_EXACT) == 1 && domtree_get(t, w, n, MATCH_BELOW) == 1,
		"get: a subtree entry holds both slots");
	n = wire("b.example", w);
	ok(domtree_get(t, w, n, MATCH_EXACT) == DOMTREE_NONE && domtree_get(t, w, n, MATCH_BELOW) == 2,
		"get: a below entry holds only BELOW");
	n = wire("x.a.example", w);
	ok(domtree_get(t, w, n, MATCH_EXACT) == DOMTREE_NONE, "get: no walk up to a.example");
	domtree_free(t);
}

int main(void)
{
	test_merge_filter();
	test_get();
	domtree_free(NULL);
	ok(1, "domtree_free(NULL) is a no-op");
	test_label_boundary();
	test_forms();
	test_duplicates();
	test_precedence();
	test_root();
	test_malformed();
	test_growth();
	test_label_counts();
	ok(looks > 0 && labels_agreed == looks,
		"domtree_lookup_labels agreed with domtree_lookup on %u of %u lookups", labels_agreed,
		looks);
	return tap_exit();
}
