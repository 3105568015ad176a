/*
 * guard_test: the access list and the rate limiter on plain socket addresses with an explicit
 * clock. Configs are built by hand (no YAML), so these tests pin down guard's own semantics:
 * prefix matching at the edges (/0, /8, /12, /24, /32, /128), the default list of config.c,
 * REFUSE versus DROP, and the token bucket (burst, refill, TC, grouping by /24 and /56, per-worker
 * division, many queries in one millisecond, huge bursts, targeted slot collisions).
 */
#include "guard.h"
#include "defaults.h"
#include "value.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "tap.h"

static struct sockaddr_storage ss;

/* A socket address for TEXT (IPv4 or IPv6), in a static buffer. */
static const struct sockaddr *addr(const char *text)
{
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(5353);
	} else if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(5353);
	} else {
		printf("Bail out! bad address %s\n", text);
		exit(1);
	}
	return (const struct sockaddr *)&ss;
}

/* A zeroed config whose allow-from is the NULL-terminated list CIDRS. */
static void cfg_init(struct config *cfg, const char *const *cidrs)
{
	size_t n = 0;

	memset(cfg, 0, sizeof(*cfg));
	while (cidrs[n] != NULL)
		n++;
	cfg->allow_from = calloc(n + 1, sizeof(*cfg->allow_from));
	for (size_t i = 0; i < n; i++) {
		const char *err = value_parse_cidr(cidrs[i], &cfg->allow_from[i]);
		if (err != NULL) {
			printf("Bail out! %s: %s\n", cidrs[i], err);
			exit(1);
		}
	}
	cfg->allow_from_count = n;
	cfg->rate_limit_ipv4_prefix = 24;
	cfg->rate_limit_ipv6_prefix = 56;
}

static void cfg_release(struct config *cfg)
{
	free(cfg->allow_from);
	cfg->allow_from = NULL;
}

static const char *const world[] = { "0.0.0.0/0", "::/0", NULL };

/* ---- access list ---- */

static void test_acl_prefixes(void)
{
	static const char *const nets[] = { "10.0.0.0/8", "172.16.0.0/12", "192.0.2.0/24",
		"198.51.100.7/32", "2001:db8::/32", "2001:db8:ffff::1/128", NULL };
	struct config cfg;
	struct guard *g;
	static const struct { const char *a; int pass; } cases[] = {
		{ "10.0.0.0", 1 }, { "10.255.255.255", 1 }, { "9.255.255.255", 0 }, { "11.0.0.0", 0 },
		{ "172.16.0.1", 1 }, { "172.31.255.255", 1 }, { "172.15.255.255", 0 },
		{ "172.32.0.0", 0 },
		{ "192.0.2.0", 1 }, { "192.0.2.255", 1 }, { "192.0.3.0", 0 }, { "192.0.1.255", 0 },
		{ "198.51.100.7", 1 }, { "198.51.100.6", 0 }, { "198.51.100.8", 0 },
		{ "2001:db8::", 1 }, { "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
		{ "2001:db9::", 0 }, { "2001:db7:ffff::", 0 },
		{ "2001:db8:ffff::1", 1 },
		{ "127.0.0.1", 0 }, { "::1", 0 },
		/* An IPv4-mapped address is IPv6 to guard: listeners are IPV6_V6ONLY. */
		{ "::ffff:10.0.0.1", 0 },
	};

	cfg_init(&cfg, nets);
	g = guard_new(&cfg, 1);
	ok(g != NULL, "guard_new with six networks");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(guard_check_acl(g, addr(cases[i].a)),
			cases[i].pass ? GUARD_PASS : GUARD_ACL_REFUSE,
			"acl: %s %s", cases[i].a, cases[i].pass ? "allowed" : "refused");
	/* guard_check (the UDP path) applies the same list. */
	is_int(guard_check(g, addr("192.0.2.9"), 1000), GUARD_PASS, "guard_check: inside passes");
	is_int(guard_check(g, addr("203.0.113.1"), 1000), GUARD_ACL_REFUSE,
		"guard_check: outside refused");
	guard_free(g);
	cfg_release(&cfg);

	/* A /128 of an IPv6 host and a /32 of an IPv4 host, alone: exact. */
	static const char *const hosts[] = { "2001:db8::53/128", "192.0.2.53", NULL };
	cfg_init(&cfg, hosts);
	g = guard_new(&cfg, 4);
	is_int(guard_check_acl(g, addr("2001:db8::53")), GUARD_PASS, "/128: the host passes");
	is_int(guard_check_acl(g, addr("2001:db8::52")), GUARD_ACL_REFUSE, "/128: its neighbour not");
	is_int(guard_check_acl(g, addr("2001:db8::53:0")), GUARD_ACL_REFUSE,
		"/128: a differing low word not");
	is_int(guard_check_acl(g, addr("192.0.2.53")), GUARD_PASS, "bare IPv4 address is a /32");
	is_int(guard_check_acl(g, addr("192.0.2.54")), GUARD_ACL_REFUSE, "  ... its neighbour not");
	guard_free(g);
	cfg_release(&cfg);

	/* /0 per family: the whole family, and only it. */
	static const char *const v4all[] = { "0.0.0.0/0", NULL };
	cfg_init(&cfg, v4all);
	g = guard_new(&cfg, 1);
	is_int(guard_check_acl(g, addr("203.0.113.200")), GUARD_PASS, "0.0.0.0/0 allows any IPv4");
	is_int(guard_check_acl(g, addr("255.255.255.255")), GUARD_PASS, "  ... 255.255.255.255 too");
	is_int(guard_check_acl(g, addr("2001:db8::1")), GUARD_ACL_REFUSE, "  ... but no IPv6");
	guard_free(g);
	cfg_release(&cfg);
	static const char *const v6all[] = { "::/0", NULL };
	cfg_init(&cfg, v6all);
	g = guard_new(&cfg, 1);
	is_int(guard_check_acl(g, addr("2001:db8::1")), GUARD_PASS, "::/0 allows any IPv6");
	is_int(guard_check_acl(g, addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), GUARD_PASS,
		"  ... the all-ones address too");
	is_int(guard_check_acl(g, addr("127.0.0.1")), GUARD_ACL_REFUSE, "  ... but no IPv4");
	guard_free(g);
	cfg_release(&cfg);

	/* An address family guard does not know is refused, never allowed. */
	static const char *const all[] = { "0.0.0.0/0", "::/0", NULL };
	struct sockaddr_storage un;
	memset(&un, 0, sizeof(un));
	un.ss_family = AF_UNIX;
	cfg_init(&cfg, all);
	g = guard_new(&cfg, 1);
	is_int(guard_check_acl(g, (const struct sockaddr *)&un), GUARD_ACL_REFUSE,
		"AF_UNIX source refused even with /0 lists");
	guard_free(g);
	cfg_release(&cfg);
}

/* The list config.c installs when allow-from is absent, built by hand. */
static void test_acl_defaults(void)
{
	static const char *const defaults[] = { "127.0.0.0/8", "::1/128", "10.0.0.0/8",
		"172.16.0.0/12", "192.168.0.0/16", "fc00::/7", NULL };
	static const struct { const char *a; int pass; } cases[] = {
		{ "127.0.0.1", 1 }, { "127.255.255.254", 1 }, { "::1", 1 }, { "10.1.2.3", 1 },
		{ "172.20.0.1", 1 }, { "192.168.1.1", 1 }, { "fd00::1", 1 }, { "fc12:3456::1", 1 },
		{ "8.8.8.8", 0 }, { "192.0.2.1", 0 }, { "2001:db8::1", 0 }, { "::2", 0 }, { "::", 0 },
		{ "fe80::1", 0 }, { "0.0.0.0", 0 }, { "100.64.0.1", 0 }, { "169.254.1.1", 0 },
		{ "192.169.0.1", 0 }, { "fe00::1", 0 },
	};
	struct config cfg;
	struct guard *g;

	cfg_init(&cfg, defaults);
	g = guard_new(&cfg, 2);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(guard_check_acl(g, addr(cases[i].a)),
			cases[i].pass ? GUARD_PASS : GUARD_ACL_REFUSE,
			"default list: %s %s", cases[i].a, cases[i].pass ? "allowed" : "refused");
	guard_free(g);

	cfg.deny_drop = true;
	g = guard_new(&cfg, 2);
	is_int(guard_check_acl(g, addr("192.0.2.1")), GUARD_ACL_DROP, "deny-action drop: ACL_DROP");
	is_int(guard_check(g, addr("2001:db8::1"), 5), GUARD_ACL_DROP, "  ... from guard_check too");
	is_int(guard_check(g, addr("10.9.9.9"), 5), GUARD_PASS, "  ... inside still passes");
	guard_free(g);
	cfg_release(&cfg);

	/* An empty list (config.c refuses one, but guard must not allow all for it). */
	static const char *const none[] = { NULL };
	cfg_init(&cfg, none);
	g = guard_new(&cfg, 1);
	ok(g != NULL, "guard_new with an empty list");
	is_int(guard_check_acl(g, addr("127.0.0.1")), GUARD_ACL_REFUSE,
		"empty list: nobody, not everybody");
	guard_free(g);
	cfg_release(&cfg);
}

/* ---- rate limiting ---- */

/* How many of N queries from A at NOW pass. */
static unsigned passes(struct guard *g, const char *a, unsigned n, uint64_t now)
{
	unsigned p = 0;
	const struct sockaddr *sa = addr(a);
	struct sockaddr_storage copy;

	memcpy(&copy, sa, sizeof(copy));
	for (unsigned i = 0; i < n; i++)
		if (guard_check(g, (const struct sockaddr *)&copy, now) == GUARD_PASS)
			p++;
	return p;
}

static struct guard *rl_guard(unsigned qps, unsigned burst, unsigned workers, bool tc)
{
	struct config cfg;
	struct guard *g;

	cfg_init(&cfg, world);
	cfg.rate_limit_qps = qps;
	cfg.rate_limit_burst = burst;
	cfg.rate_limit_tc = tc;
	defaults_resolve(&cfg);
	g = guard_new(&cfg, workers);
	cfg_release(&cfg);
	return g;
}

static void test_rate_basic(void)
{
	struct guard *g = rl_guard(10, 20, 1, false);
	/* An even and an odd millisecond: the clock coarse enough that a whole batch shares one. */
	static const uint64_t starts[] = { 1000000, 2000001 };

	ok(g != NULL, "guard_new with qps 10, burst 20");
	for (size_t s = 0; s < 2; s++) {
		uint64_t t = starts[s];
		const char *a = s == 0 ? "192.0.2.1" : "198.51.100.1";
		is_int(passes(g, a, 100, t), 20, "t=%llu: 100 queries in one ms: the burst of 20 passes",
			(unsigned long long)t);
		is_int(guard_check(g, addr(a), t), GUARD_RATE_DROP, "  ... then RATE_DROP");
		is_int(passes(g, a, 10, t + 50), 0, "  ... 50 ms later: nothing (0.5 token)");
		is_int(passes(g, a, 10, t + 100), 1, "  ... 100 ms later: one (1 token at 10/s)");
		is_int(passes(g, a, 10, t + 100), 0, "  ... and again in that ms: none");
		is_int(passes(g, a, 10, t + 101), 0, "  ... a ms later: none");
		is_int(passes(g, a, 50, t + 600), 5, "  ... 500 ms on: five");
		is_int(passes(g, a, 100, t + 60600), 20, "  ... a minute idle: refilled to the burst, not more");
	}
	/* Steady state: one query every 100 ms at exactly the rate always passes. */
	unsigned steady = 0;
	for (unsigned i = 1; i <= 50; i++)
		steady += passes(g, "203.0.113.77", 1, 5000000 + (uint64_t)i * 100);
	is_int(steady, 50, "one query per 100 ms at 10 qps: all 50 pass");
	guard_free(g);

	/* Default burst: 2 x qps when rate_limit_burst is 0. */
	g = rl_guard(7, 0, 1, false);
	is_int(passes(g, "192.0.2.1", 100, 4242), 14, "burst 0 in the config: 2 x qps (14)");
	guard_free(g);

	/* Rate limiting off: guard_check is the access list alone. */
	g = rl_guard(0, 0, 1, false);
	is_int(passes(g, "192.0.2.1", 100000, 1234), 100000, "qps 0: no limit");
	guard_free(g);
}

static void test_rate_tc(void)
{
	struct guard *g = rl_guard(5, 5, 1, true);

	is_int(passes(g, "192.0.2.1", 5, 100), 5, "rate-limit-tc: the burst passes");
	is_int(guard_check(g, addr("192.0.2.1"), 100), GUARD_RATE_TC, "  ... then RATE_TC, not a drop");
	is_int(guard_check(g, addr("192.0.2.1"), 100), GUARD_RATE_TC, "  ... every time");
	is_int(guard_check(g, addr("192.0.2.1"), 301), GUARD_PASS, "  ... 200 ms later (1 token): PASS");
	guard_free(g);
}

static void test_rate_grouping(void)
{
	struct guard *g = rl_guard(1, 3, 1, false);

	/* IPv4 /24: three addresses of one /24 share one bucket. */
	unsigned p = passes(g, "192.0.2.1", 1, 10) + passes(g, "192.0.2.2", 1, 10) +
		passes(g, "192.0.2.254", 1, 10) + passes(g, "192.0.2.3", 1, 10);
	is_int(p, 3, "/24: four addresses of 192.0.2.0/24 share a burst of 3");
	is_int(passes(g, "192.0.3.1", 3, 10), 3, "  ... 192.0.3.1 (next /24) has its own");
	is_int(passes(g, "10.0.2.1", 3, 10), 3, "  ... 10.0.2.1 has its own");
	/* IPv6 /56. */
	p = passes(g, "2001:db8:0:1::1", 1, 10) + passes(g, "2001:db8:0:ff::2", 1, 10) +
		passes(g, "2001:db8:0:ab:1:2:3:4", 1, 10) + passes(g, "2001:db8:0:1::9", 1, 10);
	is_int(p, 3, "/56: four addresses of 2001:db8::/56 share a burst of 3");
	is_int(passes(g, "2001:db8:0:100::1", 3, 10), 3, "  ... 2001:db8:0:100:: (next /56) has its own");
	is_int(passes(g, "2001:db9::1", 3, 10), 3, "  ... another /32 has its own");
	/* The IPv4 network 192.0.2.0 and the IPv6 ::c000:200 never share a bucket. */
	is_int(passes(g, "::c000:201", 3, 10), 3, "IPv6 ::c000:201 does not share 192.0.2.0/24's bucket");
	guard_free(g);

	/* Configured prefixes: /32 and /128. */
	struct config cfg;
	cfg_init(&cfg, world);
	cfg.rate_limit_qps = 1;
	cfg.rate_limit_burst = 2;
	cfg.rate_limit_ipv4_prefix = 32;
	cfg.rate_limit_ipv6_prefix = 128;
	g = guard_new(&cfg, 1);
	is_int(passes(g, "192.0.2.1", 5, 10) + passes(g, "192.0.2.2", 5, 10), 4,
		"prefix /32: neighbours have separate buckets");
	is_int(passes(g, "2001:db8::2", 5, 10) + passes(g, "2001:db8::4", 5, 10), 4,
		"prefix /128: neighbours have separate buckets");
	guard_free(g);
	cfg.rate_limit_ipv4_prefix = 8;
	cfg.rate_limit_ipv6_prefix = 16;
	g = guard_new(&cfg, 1);
	is_int(passes(g, "10.1.1.1", 5, 10) + passes(g, "10.200.3.4", 5, 10), 2,
		"prefix /8: all of 10/8 shares one bucket");
	is_int(passes(g, "2001:1::1", 5, 10) + passes(g, "2001:ffff::1", 5, 10), 2,
		"prefix /16: all of 2001::/16 shares one bucket");
	guard_free(g);
	cfg_release(&cfg);
}

static void test_rate_independent(void)
{
	struct guard *g = rl_guard(2, 4, 1, false);
	char a[64];
	unsigned total = 0;

	/* 1000 networks in one millisecond: each gets exactly its burst. (Queried one network after
	 * the other: interleaved, the few that share a table slot would reset each other's bucket,
	 * which is the documented price of a fixed-size table.) */
	for (unsigned n = 0; n < 1000; n++) {
		snprintf(a, sizeof a, "10.%u.%u.7", n / 256, n % 256);
		total += passes(g, a, 6, 777);
	}
	is_int(total, 4000, "1000 networks x 6 queries each: 4 each pass (4000)");
	/* Two networks interleaved: independent buckets. */
	unsigned p1 = 0, p2 = 0;
	for (unsigned i = 0; i < 10; i++) {
		p1 += passes(g, "192.0.2.1", 1, 999);
		p2 += passes(g, "2001:db8::1", 1, 999);
	}
	ok(p1 == 4 && p2 == 4, "two networks interleaved: 4 each (%u, %u)", p1, p2);
	/* A flooding network does not use up another's tokens. */
	g = (guard_free(g), rl_guard(2, 4, 1, false));
	passes(g, "203.0.113.9", 100000, 888);
	is_int(passes(g, "198.51.100.9", 4, 888), 4, "a flood from one /24 leaves another's burst alone");
	guard_free(g);
}

static void test_rate_workers(void)
{
	/* qps 10 burst 20 over 4 workers: each worker's bucket holds 5, refills at 2.5 -> 3/s. */
	struct guard *g = rl_guard(10, 20, 4, false);
	is_int(passes(g, "192.0.2.1", 100, 10), 5, "4 workers: burst 20 divided, 5 per worker");
	is_int(passes(g, "192.0.2.1", 100, 1010), 3, "  ... refill 10/s divided, rounded up: 3 in 1 s");
	guard_free(g);
	g = rl_guard(1, 1, 8, false);
	is_int(passes(g, "192.0.2.1", 10, 10), 1, "qps 1 burst 1 over 8 workers: still 1 per worker");
	is_int(passes(g, "192.0.2.1", 10, 1010), 1, "  ... and 1 per second");
	guard_free(g);
	g = rl_guard(10, 20, 0, false);
	is_int(passes(g, "192.0.2.1", 100, 10), 20, "0 workers counts as 1");
	guard_free(g);
}

/* Bursts near the top of the configurable range (rate-limit-burst up to 20,000,000). */
static void test_rate_big(void)
{
	/* 4,294,968 thousandths-of-a-query overflow 32 bits: the bucket must not shrink to nothing. */
	struct guard *g = rl_guard(10000000, 4294968, 1, false);
	is_int(passes(g, "192.0.2.1", 100000, 10), 100000, "burst 4,294,968: 100,000 queries pass");
	guard_free(g);
	g = rl_guard(10000000, 0, 1, false);
	is_int(passes(g, "192.0.2.1", 100000, 10), 100000, "qps 10,000,000 default burst: 100,000 pass");
	is_int(passes(g, "192.0.2.1", 100000, 20), 100000, "  ... and 10 ms later another 100,000");
	guard_free(g);
	g = rl_guard(5000000, 20000000, 1, false);
	is_int(passes(g, "192.0.2.1", 1000000, 10), 1000000, "burst 20,000,000: a million pass");
	guard_free(g);
}

/*
 * A spoofing reflector alternates the victim's address with a network whose bucket lands in the
 * same table slot: if the slot's owner changes on every query and each takeover starts with a
 * full bucket, the victim is never limited. Colliding networks must not be computable from
 * outside: the slot hash needs a secret seed. Here a collider for an unseeded XXH3 of guard's key
 * is searched; with a seed it collides only by chance (1 in 65,536).
 */
static void test_rate_collision(void)
{
	uint64_t key[2] = { 0xC0000200u, 1 }; /* 192.0.2.0/24 as guard keys it */
	uint64_t want = XXH3_64bits(key, sizeof(key)) & 0xFFFF;
	uint32_t found = 0;

	for (uint32_t net = 0x01000000; net < 0xE0000000u; net += 256) {
		uint64_t k[2] = { net, 1 };
		if (net != 0xC0000200u && (XXH3_64bits(k, sizeof(k)) & 0xFFFF) == want) {
			found = net;
			break;
		}
	}
	if (!ok(found != 0, "a /24 whose unseeded slot equals 192.0.2.0/24's exists"))
		return;
	char other[32];
	snprintf(other, sizeof other, "%u.%u.%u.1", found >> 24, (found >> 16) & 255,
		(found >> 8) & 255);
	struct guard *g = rl_guard(1, 5, 1, false);
	unsigned victim = 0;
	for (unsigned i = 0; i < 1000; i++) {
		victim += passes(g, "192.0.2.1", 1, 10);
		passes(g, other, 1, 10);
	}
	ok(victim <= 5, "alternating with %s: the victim's network gets its burst of 5, not %u", other,
		victim);
	guard_free(g);
}

int main(void)
{
	test_acl_prefixes();
	test_acl_defaults();
	test_rate_basic();
	test_rate_tc();
	test_rate_grouping();
	test_rate_independent();
	test_rate_workers();
	test_rate_big();
	test_rate_collision();
	guard_free(NULL);
	ok(1, "guard_free(NULL) is a no-op");
	return tap_exit();
}
