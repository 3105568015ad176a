/*
 * zonedb_bench: what an IXFR costs the RPZ secondary against a full rebuild (issue 13: "applying
 * an IXFR of 1,000 changes to a 2,000,000-name zone must not cost a full rebuild's time"). One
 * core, no network: the transfer thread's own work once the records are parsed.
 *
 * It builds a zonedb of NAMES triggers ("nameI.tldI CNAME ." through the RPZ reader's wire entry
 * point, as a transfer's records go), takes the first snapshot (the base copy), then ROUNDS times
 * applies CHANGES changes (half deletions of zone names, half additions) and takes a snapshot,
 * which is what an IXFR does before the new policy is published; then the same zone built from
 * scratch (what a rebuild would cost), the memory of the store and of a snapshot, the lookup cost
 * through a snapshot with an overlay against one without, and the time to write the zone as a
 * persisted copy from the last snapshot (as the writer thread does) and to read it back through
 * rpz_read_file.
 *
 * Build and run from the repository root, after `make`:
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -o build/zonedb_bench bench/zonedb_bench.c \
 *      build/rel/libblokir.a $(pkg-config --libs ldns libevent libevent_pthreads yaml-0.1 \
 *      libxxhash libidn2) -lpthread && build/zonedb_bench [NAMES [CHANGES [ROUNDS]]]
 * Defaults: 2000000 names, 1000 changes, 10 rounds.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rpz.h"
#include "zonedb.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = atol(line + 6);
	if (f != NULL)
		fclose(f);
	return kb;
}

static const char *const tlds[] = { "com", "net", "org", "info", "xyz", "id", "me", "io" };
static const uint8_t apex[] = "\3rpz\5bench";
#define APEX_LEN 11 /* with the root label */

/* "nameI.TLD.rpz.bench." (or "newI...") in wire form into OUT; returns its length. */
static size_t owner(const char *prefix, size_t i, uint8_t *out)
{
	char label[32];
	const char *tld = tlds[i % (sizeof(tlds) / sizeof(tlds[0]))];
	size_t n = (size_t)snprintf(label, sizeof(label), "%s%zu", prefix, i), o = 0;

	out[o++] = (uint8_t)n;
	memcpy(out + o, label, n);
	o += n;
	out[o++] = (uint8_t)strlen(tld);
	memcpy(out + o, tld, strlen(tld));
	o += strlen(tld);
	memcpy(out + o, apex, APEX_LEN);
	return o + APEX_LEN;
}

struct feed {
	struct zonedb *db;
	bool del;
	struct rpz_reader *r;
	struct rpz_stats st;
	struct rpz_sink sink;
};

static int feed_entry(void *ctx, const struct lists_entry *e)
{
	struct feed *f = ctx;

	return (f->del ? zonedb_del(f->db, e) : zonedb_add(f->db, e)) < 0 ? -1 : 0;
}

static void feed_init(struct feed *f, struct zonedb *db)
{
	memset(f, 0, sizeof(*f));
	f->db = db;
	f->sink = (struct rpz_sink){ .entry = feed_entry, .ctx = f,
		.flags = RPZ_SKIP_OTHER_TRIGGERS };
	f->r = rpz_reader_new(apex, APEX_LEN, &f->sink, &f->st);
}

static void feed_one(struct feed *f, bool del, const char *prefix, size_t i)
{
	uint8_t name[256];
	size_t n = owner(prefix, i, name);

	f->del = del;
	rpz_reader_rr(f->r, name, n, 5, 60, (const uint8_t *)"", 1);
}

static struct zonedb *build(size_t names)
{
	struct zonedb *db = zonedb_new("rpz.bench", "bench", NULL, names);
	struct feed f;

	feed_init(&f, db);
	for (size_t i = 0; i < names; i++)
		feed_one(&f, false, "name", i);
	rpz_reader_free(f.r);
	return db;
}

/* ns per lookup of LOOKUPS names (half in the zone) through S. */
static double lookups(const struct zonesnap *s, size_t names, size_t count)
{
	uint8_t q[256];
	size_t off, hits = 0;
	double t0 = now_s();

	for (size_t i = 0; i < count; i++) {
		size_t k = (i * 2654435761u) % (names * 2);
		size_t n = owner("name", k, q) - APEX_LEN + 1; /* the trigger name: the apex dropped */
		q[n - 1] = 0;
		hits += zonesnap_match(s, q, n, ACTION_DEFAULT, &off) != NULL;
	}
	if (hits == 0)
		fprintf(stderr, "no hits?\n");
	return (now_s() - t0) / (double)count * 1e9;
}

static int write_entry(void *ctx, const struct lists_entry *e)
{
	FILE *fp = ctx;

	for (const uint8_t *l = e->name; *l != 0; l += 1 + *l)
		fprintf(fp, "%.*s%s", *l, (const char *)l + 1, l[1 + *l] ? "." : "");
	fputs(" 0 IN CNAME .\n", fp);
	return 0;
}

static int count_entry(void *ctx, const struct lists_entry *e)
{
	(void)e;
	(*(size_t *)ctx)++;
	return 0;
}

int main(int argc, char **argv)
{
	size_t names = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
	size_t changes = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
	size_t rounds = argc > 3 ? strtoul(argv[3], NULL, 10) : 10;
	long rss0 = rss_kb(), rss1;
	double t0, t_build, t_snap0, worst = 0, total = 0;
	struct zonedb *db;
	struct zonesnap *s0, *s;
	struct feed f;

	t0 = now_s();
	db = build(names);
	t_build = now_s() - t0;
	rss1 = rss_kb();
	t0 = now_s();
	s0 = zonedb_snapshot(db);
	t_snap0 = now_s() - t0;
	printf("zone: %zu triggers, built in %.3f s (%.1f bytes of RSS per name for the store)\n",
		zonedb_triggers(db), t_build, (double)(rss1 - rss0) * 1024 / (double)names);
	printf("first snapshot (base copy): %.3f s; RSS now %.1f MB\n", t_snap0, rss_kb() / 1024.0);
	printf("lookup through the base alone: %.0f ns\n", lookups(s0, names, 1000000));
	s = s0;
	zonesnap_ref(s);
	feed_init(&f, db);
	for (size_t r = 0; r < rounds; r++) {
		struct zonesnap *next;
		t0 = now_s();
		for (size_t c = 0; c < changes / 2; c++)
			feed_one(&f, true, "name", (r * changes / 2 + c) * 7 % names);
		for (size_t c = 0; c < changes - changes / 2; c++)
			feed_one(&f, false, "new", r * changes + c);
		next = zonedb_snapshot(db);
		double dt = now_s() - t0;
		total += dt;
		if (dt > worst)
			worst = dt;
		printf("IXFR %zu: %zu changes applied and published in %.3f ms (%zu triggers)\n", r + 1,
			changes, dt * 1e3, zonesnap_triggers(next));
		zonesnap_unref(s); /* the policy view of the previous version lets go */
		s = next;
	}
	rpz_reader_free(f.r);
	printf("IXFRs: mean %.3f ms, worst %.3f ms\n", total / (double)rounds * 1e3, worst * 1e3);
	printf("lookup through base + overlay: %.0f ns\n", lookups(s, names, 1000000));
	printf("snapshot memory (base + overlay + rules): %.1f MB; RSS %.1f MB\n",
		zonesnap_memory(s) / 1048576.0, rss_kb() / 1024.0);
	zonesnap_unref(s0);

	/* a rebuild for comparison: the same zone into a fresh store, then its first snapshot */
	t0 = now_s();
	struct zonedb *fresh = build(names);
	struct zonesnap *fs = zonedb_snapshot(fresh);
	double t_rebuild = now_s() - t0;
	printf("full rebuild (store + first snapshot): %.3f s, %.0fx an IXFR's worst\n", t_rebuild,
		t_rebuild / worst);
	zonesnap_unref(fs);
	zonedb_free(fresh);

	/* the persisted copy: written as persist() does (one line per record), read back */
	char path[] = "/tmp/zonedb-bench-XXXXXX";
	int fd = mkstemp(path);
	FILE *fp = fdopen(fd, "w");
	t0 = now_s();
	fprintf(fp, "$ORIGIN rpz.bench.\n@ 0 IN SOA a. b. 1 3600 600 86400 60\n");
	zonesnap_foreach(s, write_entry, fp); /* as the writer thread does */
	fflush(fp);
	fsync(fd);
	fclose(fp);
	printf("copy written: %.3f s\n", now_s() - t0);
	size_t n = 0;
	struct rpz_stats st = { 0 };
	struct rpz_sink sink = { .entry = count_entry, .ctx = &n };
	const char *err;
	t0 = now_s();
	rpz_read_file(path, apex, APEX_LEN, &sink, &st, &err);
	printf("copy read back through rpz_read_file: %zu triggers in %.3f s\n", n, now_s() - t0);
	unlink(path);
	zonesnap_unref(s);
	zonedb_free(db);
	return 0;
}
