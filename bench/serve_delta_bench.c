/*
 * serve_delta_bench: what a pulled zone's IXFR costs serve-rpz (issue 13: the served zone is the
 * effective policy, pulled zones included, and follows each transfer as an IXFR delta). One
 * core, no network: the export thread's own work once the transfer thread has published.
 *
 * It compiles a configuration (the eleven 2017 entries and one `zones:` entry), builds the zone
 * as a zonedb of NAMES triggers ("nameI.tldI CNAME ."), publishes the first served version from a
 * full export of the view (what a reload or a full transfer costs), then ROUNDS times applies
 * CHANGES changes to the zone (half deletions, half additions), takes a snapshot, and publishes
 * the served zone's increment with xfrout_publish_slots for just the changed slots (what the
 * export thread does after an IXFR), against one full rebuild at the end.
 *
 * Build and run from the repository root, after `make`:
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -o build/serve_delta_bench bench/serve_delta_bench.c \
 *      build/rel/libblokir.a $(pkg-config --libs ldns libevent libevent_pthreads yaml-0.1 \
 *      libxxhash libidn2) -lpthread && build/serve_delta_bench [NAMES [CHANGES [ROUNDS]]]
 * Defaults: 2000000 names, 1000 changes, 10 rounds.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "domtree.h"
#include "export.h"
#include "policy.h"
#include "rpz.h"
#include "xfrout.h"
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
#define APEX_LEN 11

/* "PREFIXi.TLD" under the apex in wire form into OUT; returns its length. */
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
	struct domtree *slots; /* when not NULL: the slots changed, as the daemon notes them */
	bool del;
	struct rpz_reader *r;
	struct rpz_stats st;
	struct rpz_sink sink;
};

static int feed_entry(void *ctx, const struct lists_entry *e)
{
	struct feed *f = ctx;

	if (f->slots != NULL && domtree_merge(f->slots, e->name, e->name_len, e->form, 0, 0) < 0)
		return -1;
	return (f->del ? zonedb_del(f->db, e) : zonedb_add(f->db, e)) < 0 ? -1 : 0;
}

static void feed_one(struct feed *f, bool del, const char *prefix, size_t i)
{
	uint8_t name[256];
	size_t n = owner(prefix, i, name);

	f->del = del;
	rpz_reader_rr(f->r, name, n, 5, 60, (const uint8_t *)"", 1);
}

int main(int argc, char **argv)
{
	size_t names = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
	size_t changes = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
	size_t rounds = argc > 3 ? strtoul(argv[3], NULL, 10) : 10;
	char path[] = "/tmp/serve_delta_bench.XXXXXX";
	struct diag *d = diag_new();
	struct config *cfg;
	struct policy *core, *before, *after;
	struct zonedb *db;
	struct zonesnap *snap;
	struct xfrout *x;
	struct feed f;
	char errbuf[256];
	const char *err;
	uint32_t serial;
	size_t nchanged, added = 0;
	double t0, full, sum = 0, worst = 0, best = 1e9;
	int fd = mkstemp(path);
	FILE *fp = fdopen(fd, "w");
	int rc;

	fprintf(fp, "listen: [\"127.0.0.1:5399\"]\nupstreams: [\"127.0.0.1:53\"]\n"
		"state-dir: /tmp\nzones:\n  - name: rpz.bench\n    primaries: [\"127.0.0.1:5300\"]\n"
		"serve-rpz:\n  zone: rpz.served.\n  history: 32\ndomains:\n");
	for (const char *const *n = (const char *const[]){ "t.me", "telegram.me", "telegram.org",
		"core.telegram.org", "desktop.telegram.org", "macos.telegram.org", "web.telegram.org",
		"venus.web.telegram.org", "pluto.web.telegram.org", "flora.web.telegram.org",
		"flora-1.web.telegram.org", NULL }; *n != NULL; n++)
		fprintf(fp, "  - name: %s\n", *n);
	fclose(fp);
	if ((cfg = config_load(path, d)) == NULL || (core = policy_new(cfg, d)) == NULL) {
		for (size_t i = 0; i < diag_count(d); i++)
			fprintf(stderr, "%s\n", diag_get(d, i));
		return 1;
	}
	unlink(path);
	if ((x = xfrout_new(&cfg->serve, errbuf, sizeof(errbuf), &err)) == NULL) {
		fprintf(stderr, "xfrout: %s\n", err);
		return 1;
	}

	db = zonedb_new("rpz.bench", "bench", NULL, names);
	memset(&f, 0, sizeof(f));
	f.db = db;
	f.sink = (struct rpz_sink){ .entry = feed_entry, .ctx = &f, .flags = RPZ_SKIP_OTHER_TRIGGERS };
	f.r = rpz_reader_new(apex, APEX_LEN, &f.sink, &f.st);
	for (size_t i = 0; i < names; i++)
		feed_one(&f, false, "name", i);
	snap = zonedb_snapshot(db);
	before = policy_with_zones(core, &snap, 1);
	t0 = now_s();
	rc = xfrout_publish_policy(x, cfg, before, 0, d, &serial, &nchanged, &err);
	full = now_s() - t0;
	printf("zone of %zu names; first served version (full export of the view, parse, sort): "
		"%.3f s, rc %d, %zu records; RSS %ld MB\n", names, full, rc, nchanged,
		rss_kb() / 1024);

	for (size_t r = 0; r < rounds; r++) {
		double t;

		f.slots = domtree_new(changes);
		for (size_t i = 0; i < changes / 2; i++)
			feed_one(&f, true, "name", (r * changes / 2 + i) * 7 % names);
		for (size_t i = 0; i < changes - changes / 2; i++, added++)
			feed_one(&f, false, "new", added);
		zonesnap_unref(snap);
		snap = zonedb_snapshot(db);
		after = policy_with_zones(core, &snap, 1);
		t0 = now_s();
		rc = xfrout_publish_slots(x, cfg, before, after, export_domtree_slots, f.slots, 0, d, &serial,
			&nchanged, &err);
		t = now_s() - t0;
		printf("IXFR %zu: %zu changes -> served increment of %zu records, serial %u: %.1f ms "
			"(rc %d)\n", r + 1, changes, nchanged, serial, t * 1e3, rc);
		sum += t;
		worst = t > worst ? t : worst;
		best = t < best ? t : best;
		policy_free(before);
		before = after;
		domtree_free(f.slots);
		f.slots = NULL;
	}
	t0 = now_s();
	rc = xfrout_publish_policy(x, cfg, before, 0, d, &serial, &nchanged, &err);
	full = now_s() - t0;
	printf("increments: best %.1f ms, mean %.1f ms, worst %.1f ms; a full rebuild of the same "
		"zone: %.3f s (rc %d: %s), %.0f times the worst increment; RSS %ld MB\n", best * 1e3,
		sum / (double)rounds * 1e3, worst * 1e3, full, rc, rc == 0 ? "unchanged, as it must" :
		"changed!", full / worst, rss_kb() / 1024);
	rpz_reader_free(f.r);
	policy_free(before);
	zonesnap_unref(snap);
	zonedb_free(db);
	policy_free(core);
	xfrout_free(x);
	config_free(cfg);
	diag_free(d);
	return 0;
}
