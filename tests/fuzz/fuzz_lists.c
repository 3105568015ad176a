/*
 * fuzz_lists: the three list readers (domains, hosts, rpz) on arbitrary bytes. The input is
 * written as one list file of each format in a private temporary directory; two small configs
 * refer to all three, one with on-error: skip (every line read, bad ones counted) and one with
 * on-error: reject (the first bad line fails the list). policy_new must build a policy or return
 * NULL with a diagnostic, without crashing, leaking or reading out of bounds; a policy it builds
 * must still match the YAML entry.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "log.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static struct config *cfg_skip, *cfg_reject;

/* Removes the private directory at exit, so runs leave nothing in /tmp. */
static void cleanup(void)
{
	static const char *const names[] = { "skip.yaml", "reject.yaml", "l.txt", "l.hosts", "l.rpz" };
	char p[160];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void put(const char *name, const void *data, size_t size)
{
	char p[160];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	f = fopen(p, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
}

static struct config *load(const char *name, const char *on_error)
{
	char text[1024], p[160];
	struct diag *d = diag_new();
	struct config *cfg;

	snprintf(text, sizeof text,
		"listen: [\"127.0.0.1:5353\"]\nupstreams: [\"127.0.0.1:5301\"]\n"
		"domains:\n  - name: t.me\n"
		"lists:\n"
		"  - { file: l.txt, format: domains, on-error: %s }\n"
		"  - { file: l.hosts, format: hosts, on-error: %s, action: nodata }\n"
		"  - { file: l.rpz, format: rpz, on-error: %s }\n", on_error, on_error, on_error);
	put(name, text, strlen(text));
	snprintf(p, sizeof p, "%s/%s", dir, name);
	cfg = config_load(p, d);
	if (cfg == NULL) {
		for (size_t i = 0; i < diag_count(d); i++)
			fprintf(stderr, "%s\n", diag_get(d, i));
		abort();
	}
	diag_free(d);
	return cfg;
}

static void build(const struct config *cfg)
{
	struct diag *d = diag_new();
	struct policy *p;

	if (d == NULL)
		abort();
	p = policy_new(cfg, d);
	if (p == NULL) {
		if (diag_count(d) == 0)
			abort(); /* a rejected list must say why */
	} else {
		size_t off;
		/* t.me in the YAML covers a.t.me whatever the lists add (a list can only be more
		   specific, or lose to the YAML entry for the same name). */
		if (policy_match(p, (const uint8_t *)"\1a\1t\2me", 8, &off) == NULL)
			abort();
		policy_match(p, (const uint8_t *)"\7example\0", 9, &off);
		policy_free(p);
	}
	diag_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (cfg_skip == NULL) {
		snprintf(dir, sizeof dir, "%s/blokir-fuzz-lists.XXXXXX",
			getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(dir) == NULL)
			abort();
		atexit(cleanup);
		log_init(LOG_LEVEL_ERR, false); /* the list readers warn about every skipped line */
		put("l.txt", "", 0);
		put("l.hosts", "", 0);
		put("l.rpz", "", 0);
		cfg_skip = load("skip.yaml", "skip");
		cfg_reject = load("reject.yaml", "reject");
	}
	put("l.txt", data, size);
	put("l.hosts", data, size);
	put("l.rpz", data, size);
	build(cfg_skip);
	build(cfg_reject);
	return 0;
}
