/*
 * oom_test: the policy loader at every allocation failure point. This program defines malloc,
 * calloc, realloc and free itself (forwarding to glibc's __libc_* functions), so every allocation
 * made by config_load and policy_new -- and by libyaml, ldns and libidn2 under them -- can be made
 * to fail. For N = 1, 2, ... the Nth allocation and all after it fail, until a load succeeds with
 * no failure injected. Each failed load must return NULL (no crash), free everything it allocated
 * (the live allocations made while armed are tracked by address), and leave a policy built
 * beforehand usable: that is what a reload under memory pressure relies on.
 *
 * Allocations made directly by libldns are never failed: ldns 1.8 asserts instead of failing
 * cleanly on some of its own out-of-memory paths (ldns_rdf_new_frm_str -> ldns_rdf_set_type:
 * "rd != NULL"), which no caller can handle; blokir's handling of ldns returning an error is still
 * exercised by the allocations ldns makes through libc (strdup, fopen) and by every other point.
 *
 * Under AddressSanitizer the allocator belongs to ASan and cannot be replaced: the test skips.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OOM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define OOM_ASAN 1
#endif

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "config.h"
#include "diag.h"
#include "log.h"
#include "policy.h"
#include "tap.h"

#ifndef OOM_ASAN

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void __libc_free(void *p);

/* ---- the hook ---- */

static int armed;              /* count and fail allocations */
static unsigned long nalloc;   /* allocations while armed */
static unsigned long fail_at;  /* 1-based; 0: never fail */
static unsigned long nfailed;  /* allocations refused */

/* Live allocations made while armed: an open-addressing set of addresses. */
#define LIVE_SLOTS (1u << 20)
#define TOMB ((uintptr_t)1)
static uintptr_t live[LIVE_SLOTS];
static size_t nlive;
static int tracking;

static size_t slot_of(uintptr_t p)
{
	return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull >> 44) & (LIVE_SLOTS - 1);
}

static void live_add(void *p)
{
	size_t i = slot_of((uintptr_t)p);

	if (!tracking || p == NULL)
		return;
	while (live[i] != 0 && live[i] != TOMB)
		i = (i + 1) & (LIVE_SLOTS - 1);
	live[i] = (uintptr_t)p;
	nlive++;
}

static void live_del(void *p)
{
	size_t i = slot_of((uintptr_t)p);

	if (!tracking || p == NULL)
		return;
	while (live[i] != 0) {
		if (live[i] == (uintptr_t)p) {
			live[i] = TOMB;
			nlive--;
			return;
		}
		i = (i + 1) & (LIVE_SLOTS - 1);
	}
}

static const void *ldns_base; /* where libldns is mapped */

/* Whether CALLER (a return address) is inside libldns. */
static int from_ldns(const void *caller)
{
	Dl_info info;

	return ldns_base != NULL && dladdr(caller, &info) != 0 && info.dli_fbase == ldns_base;
}

static int refuse(const void *caller)
{
	if (!armed || from_ldns(caller))
		return 0;
	nalloc++;
	if (fail_at != 0 && nalloc >= fail_at) {
		nfailed++;
		return 1;
	}
	return 0;
}

void *malloc(size_t size)
{
	void *p;

	if (refuse(__builtin_return_address(0)))
		return NULL;
	p = __libc_malloc(size);
	live_add(p);
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p;

	if (refuse(__builtin_return_address(0)))
		return NULL;
	p = __libc_calloc(n, size);
	live_add(p);
	return p;
}

void *realloc(void *old, size_t size)
{
	void *p;

	if (size == 0 && old != NULL) {
		free(old);
		return NULL;
	}
	if (refuse(__builtin_return_address(0)))
		return NULL; /* OLD stays valid and owned by the caller */
	p = __libc_realloc(old, size);
	if (p != NULL) {
		if (old != NULL)
			live_del(old);
		live_add(p);
	}
	return p;
}

void free(void *p)
{
	live_del(p);
	__libc_free(p);
}

/* ---- the fixture ---- */

static char dir[64], path[128];

static void put(const char *name, const char *text)
{
	char p[192];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	f = fopen(p, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		printf("Bail out! cannot write %s\n", p);
		exit(1);
	}
}

static void fixture(void)
{
	snprintf(dir, sizeof dir, "%s/blokir-oom.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp\n");
		exit(1);
	}
	snprintf(path, sizeof path, "%s/policy.yaml", dir);
	put("policy.yaml",
		"listen: [\"127.0.0.1:5353\", \"[::1]:5353\"]\n"
		"upstreams: [\"127.0.0.1:5301\", \"[2001:db8::53]:53\"]\n"
		"negative-ttl: 300\n"
		"allow-from: [10.0.0.0/8, \"2001:db8::/32\", 127.0.0.1]\n"
		"rate-limit-qps: 100\n"
		"redirect: { a: [192.0.2.80, 192.0.2.81], aaaa: \"2001:db8::80\", ttl: 60 }\n"
		"domains:\n"
		"  - name: t.me\n"
		"    reason: \"Kominfo order, 2017-07-14\"\n"
		"    ref: \"letter 123/2017\"\n"
		"  - name: telegram.org\n"
		"  - name: \"*.web.telegram.org\"\n"
		"    action: nodata\n"
		"  - name: exact.example\n"
		"    exact: true\n"
		"    action: refused\n"
		"  - name: pass.t.me\n"
		"    action: allow\n"
		"  - name: landing.example\n"
		"    action: redirect\n"
		"    redirect: { cname: block.example.org, ttl: 5 }\n"
		"  - name: shared.example\n"
		"    action: redirect\n"
		"  - name: sched.example\n"
		"    from: 2017-07-14T00:00:00+07:00\n"
		"    until: \"2037-08-10T00:00:00Z\"\n"
		"  - name: b\xc3\xbc" "cher.example\n"
		"  - name: off.example\n"
		"    enabled: false\n"
		"lists:\n"
		"  - { file: order.txt, format: domains, reason: \"order 2023\" }\n"
		"  - { file: ads.hosts, format: hosts, action: nodata }\n"
		"  - { file: zone.rpz, format: rpz, on-error: skip }\n");
	put("order.txt", "# order\nblocked.example\n*.below.example\nm\xc3\xbcnchen.example\n"
		"one.example\ntwo.example\nthree.example\n");
	put("ads.hosts", "127.0.0.1 localhost\n0.0.0.0 ads.example tracker.example\n:: v6.example\n");
	put("zone.rpz", "$TTL 300\n$ORIGIN rpz.example.\n"
		"@ SOA localhost. root.localhost. 1 3600 600 86400 60\n  NS localhost.\n"
		"nx.example CNAME .\n*.nx.example CNAME .\nnodata.example CNAME *.\n"
		"pass.nx.example CNAME rpz-passthru.\ndrop.example CNAME rpz-drop.\n"
		"landing2.example CNAME block.example.org.\n"
		"addr.example A 192.0.2.1\naddr.example AAAA 2001:db8::1\nbad line here\n");
}

static void fixture_remove(void)
{
	static const char *const names[] = { "policy.yaml", "order.txt", "ads.hosts", "zone.rpz" };
	char p[192];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* config_load + policy_new: the policy (caller frees), or NULL. */
static struct policy *load(struct diag *d)
{
	struct config *cfg = config_load(path, d);
	struct policy *p = NULL;

	if (cfg != NULL) {
		p = policy_new(cfg, d);
		config_free(cfg);
	}
	return p;
}

static const uint8_t www_t_me[] = "\3www\1t\2me";
static const uint8_t blocked[] = "\7blocked\7example";
static const uint8_t ads[] = "\3ads\7example";

/* The old policy still answers as built. */
static int old_ok(const struct policy *p)
{
	size_t off;
	const struct policy_rule *r = policy_match(p, www_t_me, sizeof www_t_me, &off);

	return r != NULL && r->action == ACTION_NXDOMAIN && off == 4 &&
		policy_match(p, blocked, sizeof blocked, &off) != NULL &&
		policy_match(p, ads, sizeof ads, &off) != NULL &&
		policy_match(p, (const uint8_t *)"\7example", 9, &off) == NULL;
}

int main(void)
{
	struct diag *d;
	struct policy *old, *p;
	size_t rules, names;
	unsigned long total = 0, n, leaks = 0, wrong = 0, notnull = 0, old_broken = 0;

	Dl_info info;
	if (dladdr((const void *)&ldns_rr_new_frm_fp_l, &info) != 0)
		ldns_base = info.dli_fbase;
	log_init(LOG_LEVEL_ERR, false);
	fixture();
	d = diag_new();
	old = load(d);
	if (!ok(old != NULL, "the fixture loads without injected failures")) {
		for (size_t i = 0; d && i < diag_count(d); i++)
			printf("# %s\n", diag_get(d, i));
		fixture_remove();
		return tap_exit();
	}
	diag_free(d);
	rules = policy_rule_count(old);
	names = policy_list_names(old);
	ok(old_ok(old), "the old policy answers (%zu rules, %zu list names)", rules, names);

	/* A second load fills whatever one-time caches the libraries keep, then one counted run
	   measures how many allocations a load makes. */
	d = diag_new();
	policy_free(load(d));
	diag_free(d);
	d = diag_new();
	tracking = 1;
	armed = 1;
	fail_at = 0;
	nalloc = 0;
	p = load(d);
	armed = 0;
	total = nalloc;
	policy_free(p);
	diag_free(d);
	ok(p != NULL && nlive == 0, "a load makes %lu allocations and frees them all (%zu left)",
		total, nlive);

	for (n = 1; n <= total + 1; n++) {
		d = diag_new(); /* outside the armed window: config_load needs one */
		nlive = 0;
		memset(live, 0, sizeof(live));
		nalloc = nfailed = 0;
		fail_at = n;
		armed = 1;
		p = load(d);
		armed = 0;
		if (p != NULL && nfailed > 0) {
			/* Tolerated only when the failure was recovered from: the policy is complete. */
			if (policy_rule_count(p) != rules || policy_list_names(p) != names) {
				notnull++;
				printf("# N=%lu: a policy came back incomplete (%zu rules, %zu names)\n", n,
					policy_rule_count(p), policy_list_names(p));
			}
		}
		if (p == NULL && nfailed > 0 && diag_count(d) == 0 && wrong++ < 5)
			printf("# N=%lu: NULL without a diagnostic\n", n);
		int last = p != NULL && nfailed == 0;
		policy_free(p);
		diag_free(d);
		if (nlive != 0 && leaks++ < 10)
			printf("# N=%lu: %zu allocations leaked\n", n, nlive);
		if (!old_ok(old))
			old_broken++;
		if (last)
			break;
	}
	tracking = 0;
	ok(n <= total + 1, "failure injected at each of the %lu allocation points, then a clean load",
		n - 1);
	is_int(leaks, 0, "no failure point leaks (every allocation freed)");
	is_int(notnull, 0, "no failure point yields an incomplete policy");
	ok(wrong == 0, "every failed load says why in the diagnostics (%lu did not)", wrong);
	is_int(old_broken, 0, "the old policy answers correctly after every failed load");
	ok(old_ok(old), "the old policy still answers at the end");
	policy_free(old);
	fixture_remove();
	return tap_exit();
}

#else /* OOM_ASAN */

int main(void)
{
	printf("1..0 # SKIP malloc cannot be replaced under AddressSanitizer\n");
	return 0;
}

#endif
