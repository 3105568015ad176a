/*
 * matcher_bench: build time, memory per name and lookup cost of the domtree matcher.
 *
 * Build and run (from the repository root):
 *   cc -std=c11 -D_GNU_SOURCE -O2 -g -Iinclude $(pkg-config --cflags libxxhash) \
 *      -o /tmp/matcher_bench bench/matcher_bench.c src/domtree.c $(pkg-config --libs libxxhash)
 *   /tmp/matcher_bench [N]          (N names, default 2000000)
 *
 * Names are generated deterministically in the shape of a big block list,
 * "host1234567.example-zone42.co.id". The lookup rows compare an 11-name tree with the N-name
 * tree on the same kind of queries: HIT is a stored name, BELOW a name one label under a stored
 * one (for the 11-name tree, one of those 11), MISS a name no entry covers (every suffix probed;
 * the same queries for both trees). Queries go in a fixed pseudo-random
 * order, so the big tree is measured with cold caches, which is the pessimistic case: real
 * resolver traffic repeats popular names.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "domtree.h"

#define LOOKUPS 10000000u
#define QUERIES (1u << 20) /* distinct queries per array, cycled through */
#define SMALL 11

static const char *const tlds[] = { "co.id", "com", "net", "org", "ru", "de", "com.br", "io" };

static uint32_t mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x45d9f3bu;
	x ^= x >> 16;
	return x;
}

/* The I-th name of the list, in wire format; PREFIX ("www") puts one more label in front. */
static size_t gen_name(uint32_t i, const char *prefix, uint8_t *out)
{
	char text[128], *p = text;
	size_t n = 0;

	snprintf(text, sizeof(text), "%s%shost%06u.example-zone%u.%s", prefix ? prefix : "",
		prefix ? "." : "", i, mix(i) % 100, tlds[mix(i + 7) % 8]);
	while (*p != '\0') {
		size_t l = strcspn(p, ".");

		out[n++] = (uint8_t)l;
		memcpy(out + n, p, l);
		n += l;
		p += l + (p[l] == '.');
	}
	out[n++] = 0;
	return n;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f != NULL) {
		if (fscanf(f, "%lu %lu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Fixed 64-byte slots: names here are at most 45 bytes, and equal strides keep the loop simple. */
struct query {
	uint8_t len;
	uint8_t name[63];
};

/* QUERIES queries: index mix(k) % RANGE (offset by BASE), with PREFIX. */
static struct query *gen_queries(uint32_t range, uint32_t base, const char *prefix)
{
	struct query *q = malloc(QUERIES * sizeof(*q));

	if (q == NULL)
		exit(1);
	for (uint32_t k = 0; k < QUERIES; k++)
		q[k].len = (uint8_t)gen_name(base + mix(k * 2 + 1) % range, prefix, q[k].name);
	return q;
}

/* Nanoseconds per lookup over LOOKUPS lookups; *FOUND counts the matches. */
static double time_lookups(const struct domtree *t, const struct query *q, size_t *found)
{
	double start = now();
	size_t hits = 0;

	for (uint32_t k = 0; k < LOOKUPS; k++) {
		const struct query *e = &q[k & (QUERIES - 1)];

		hits += domtree_lookup(t, e->name, e->len, NULL) != DOMTREE_NONE;
	}
	*found = hits;
	return (now() - start) * 1e9 / LOOKUPS;
}

static struct domtree *build(const uint8_t *names, uint32_t n, size_t hint)
{
	struct domtree *t = domtree_new(hint);
	const uint8_t *p = names;

	for (uint32_t i = 0; i < n; i++) {
		if (t == NULL || domtree_insert(t, p + 1, p[0], MATCH_SUBTREE, i, NULL) != 0) {
			fprintf(stderr, "insert %u failed\n", i);
			exit(1);
		}
		p += 1 + p[0];
	}
	return t;
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 2000000;
	uint8_t *names = malloc((size_t)n * 64), *p = names;
	struct domtree *big, *small;
	struct query *q;
	size_t rss0, found;
	double t0, build_s, build_nohint_s;
	const char *kinds[] = { "hit", "below", "miss" };

	if (names == NULL || n < SMALL)
		return 1;
	/* All names are generated first so the build is timed and measured alone. */
	for (uint32_t i = 0; i < n; i++) {
		p[0] = (uint8_t)gen_name(i, NULL, p + 1);
		p += 1 + p[0];
	}
	rss0 = rss_bytes();
	t0 = now();
	big = build(names, n, n);
	build_s = now() - t0;
	printf("names                 %u (e.g. host000123.example-zone%u.%s)\n", n, mix(123) % 100,
		tlds[mix(130) % 8]);
	printf("build, sized for N    %.3f s (%.0f ns/name)\n", build_s, build_s * 1e9 / n);
	printf("domtree_memory / N    %.1f bytes\n", (double)domtree_memory(big) / n);
	printf("RSS delta / N         %.1f bytes\n", (double)(rss_bytes() - rss0) / n);
	t0 = now();
	domtree_free(build(names, n, 0));
	build_nohint_s = now() - t0;
	printf("build, from empty     %.3f s (grows by rehashing)\n", build_nohint_s);

	small = build(names, SMALL, SMALL);
	printf("\n%-6s %14s %14s   (ns per lookup, %u lookups each)\n", "query", "11 names",
		"N names", LOOKUPS);
	for (int kind = 0; kind < 3; kind++) {
		double ns_small, ns_big;
		size_t found_small;
		const char *prefix = kind == 1 ? "www" : NULL;
		uint32_t base = kind == 2 ? n : 0;

		q = gen_queries(kind == 2 ? n : SMALL, base, prefix);
		ns_small = time_lookups(small, q, &found_small);
		free(q);
		q = gen_queries(n, base, prefix);
		ns_big = time_lookups(big, q, &found);
		free(q);
		printf("%-6s %14.1f %14.1f   (matched %zu / %zu)\n", kinds[kind], ns_small, ns_big,
			found_small, found);
	}
	domtree_free(small);
	domtree_free(big);
	free(names);
	return 0;
}
