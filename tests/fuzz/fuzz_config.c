/*
 * fuzz_config: the policy file loader on arbitrary bytes. The input is written to a file in a
 * private temporary directory, loaded with config_load and, when it is valid, compiled with
 * policy_new, then everything is freed. The directory also holds one list of each format (and a
 * resolv.conf for configs without upstreams), so configs that refer to "l.txt", "l.hosts" or
 * "l.rpz" exercise the list readers too. Whatever the input, loading must not crash, leak or
 * read out of bounds, and a NULL result must come with at least one diagnostic.
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

static char dir[64], path[128];

/* Removes the private directory at exit, so runs leave nothing in /tmp. */
static void cleanup(void)
{
	static const char *const names[] = { "policy.yaml", "resolv.conf", "l.txt", "l.hosts", "l.rpz" };
	char p[160];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void put(const char *name, const char *text)
{
	char p[160];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	f = fopen(p, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

static void setup(void)
{
	snprintf(dir, sizeof dir, "%s/blokir-fuzz-config.XXXXXX",
		getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	atexit(cleanup);
	log_init(LOG_LEVEL_ERR, false); /* the list readers warn about every skipped line */
	snprintf(path, sizeof path, "%s/policy.yaml", dir);
	put("resolv.conf", "nameserver 127.0.0.1\nnameserver ::1\n");
	put("l.txt", "blocked.example\n*.below.example\n# comment\nb\xc3\xbc" "cher.example\n");
	put("l.hosts", "0.0.0.0 ads.example tracker.example\n:: v6.example\n127.0.0.1 localhost\n");
	put("l.rpz", "$TTL 300\n$ORIGIN rpz.example.\n@ SOA localhost. root.localhost. 1 3600 600 "
		"86400 60\n  NS localhost.\nnx.example CNAME .\n*.nx.example CNAME .\n"
		"addr.example A 192.0.2.1\n");
	char rc[128];
	snprintf(rc, sizeof rc, "%s/resolv.conf", dir);
	setenv("BLOKIR_RESOLV_CONF", rc, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct diag *d;
	struct config *cfg;
	FILE *f;

	if (!ready) {
		setup();
		ready = 1;
	}
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	d = diag_new();
	if (d == NULL)
		abort();
	cfg = config_load(path, d);
	if (cfg == NULL) {
		if (diag_count(d) == 0)
			abort(); /* a rejected file must say why */
	} else {
		struct policy *p = policy_new(cfg, d);
		if (p != NULL) {
			size_t off;
			policy_match(p, (const uint8_t *)"\1t\2me", 6, &off);
			policy_match(p, (const uint8_t *)"\7blocked\7example\0", 17, &off);
			policy_free(p);
		}
		config_free(cfg);
	}
	for (size_t i = 0; i < diag_count(d); i++)
		if (diag_get(d, i) == NULL)
			abort();
	diag_free(d);
	return 0;
}
