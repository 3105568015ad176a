/*
 * config_test: the policy file loader. Good fixtures are loaded and every value checked; each bad
 * fixture must be refused with exactly the diagnostics listed here, so a changed message or
 * position is a deliberate change to this file.
 *
 * Fixtures are found relative to the repository root (prove runs from there), or in $FIXTURES.
 * Every test runs with BLOKIR_RESOLV_CONF pointing at a file of ours, never the host's.
 */
#include "config.h"
#include "value.h"
#include "diag.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIXTURE_DIR "tests/unit/fixtures/config"
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *fixture_dir;

/* The fixture's path as the loader will print it. Static buffer: valid until the next call. */
static const char *fixture(const char *name)
{
	static char path[1024];

	snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
	return path;
}

/* Lower-case wire format of a presentation name, built without ldns to check the loader's. */
static size_t wire_of(const char *name, uint8_t *out)
{
	size_t n = 0;

	while (*name != '\0' && strcmp(name, ".") != 0) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);

		out[n++] = (uint8_t)len;
		for (size_t i = 0; i < len; i++)
			out[n++] = (uint8_t)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
		name += len + (dot ? 1 : 0);
	}
	out[n++] = 0;
	return n;
}

static int is_wire(const uint8_t *got, size_t got_len, const char *name, const char *what)
{
	uint8_t want[512];
	size_t len = wire_of(name, want);

	return ok(got_len == len && memcmp(got, want, len) == 0, "%s is %s in wire format", what, name);
}

/* Writes TEXT to a new temporary file; returns its path (caller frees and unlinks). */
static char *temp_file(const char *text)
{
	char *path = strdup("/tmp/blokir-config-test-XXXXXX");
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror("temp file");
		exit(2);
	}
	close(fd);
	return path;
}

static struct config *load(const char *path, struct diag **diag)
{
	*diag = diag_new();
	return config_load(path, *diag);
}

/* Loads NAME and checks that it fails with exactly WANT (each after the path) in that order. */
static void expect_errors(const char *name, const char *const *want, size_t n)
{
	char path[1024], line[2048];
	struct diag *diag;
	struct config *cfg;

	snprintf(path, sizeof(path), "%s", fixture(name));
	cfg = load(path, &diag);
	ok(cfg == NULL, "%s: refused", name);
	if (!is_int(diag_count(diag), n, "%s: %zu diagnostics", name, n))
		for (size_t i = 0; i < diag_count(diag); i++)
			printf("#   %s\n", diag_get(diag, i));
	for (size_t i = 0; i < n && i < diag_count(diag); i++) {
		snprintf(line, sizeof(line), "%s%s", path, want[i]);
		is_str(diag_get(diag, i), line, "%s: diagnostic %zu", name, i);
	}
	config_free(cfg);
	diag_free(diag);
}

#define EXPECT(name, ...) do { \
	static const char *const want_[] = { __VA_ARGS__ }; \
	expect_errors(name, want_, N(want_)); \
} while (0)

/* ---- good files ---- */

/* The keys of issues 3-5 in good-full.yaml. */
static void test_full_new_keys(const struct config *cfg)
{
	const struct config_domain *d = cfg->domains;
	static const uint8_t a0[4] = { 192, 0, 2, 80 }, a1[4] = { 192, 0, 2, 81 };
	uint8_t v6[16];
	char want[1200];

	inet_pton(AF_INET6, "2001:db8::80", v6);
	ok(!cfg->inspect_answers, "inspect-answers: false");
	ok(cfg->redirect.set && cfg->redirect.ttl == 60, "top-level redirect, ttl 60");
	ok(cfg->redirect.a_count == 2 && memcmp(cfg->redirect.a[0], a0, 4) == 0 &&
		memcmp(cfg->redirect.a[1], a1, 4) == 0, "redirect.a: two addresses");
	ok(cfg->redirect.aaaa_count == 1 && memcmp(cfg->redirect.aaaa[0], v6, 16) == 0,
		"redirect.aaaa: one scalar read as a list of one");
	ok(cfg->redirect.cname_len == 0, "no top-level cname");
	if (cfg->domain_count < 8)
		return;
	ok(d[5].action == ACTION_REDIRECT && d[5].redirect != NULL && d[5].redirect->ttl == 5,
		"entry redirect with its own ttl");
	if (d[5].redirect != NULL)
		is_wire(d[5].redirect->cname, d[5].redirect->cname_len, "block.example.org",
			"entry redirect cname");
	is_int(d[6].from, 1499965200, "from: 2017-07-14T00:00:00+07:00");
	is_int(d[6].until, 1502323200, "until: 2017-08-10T00:00:00Z");
	ok(d[0].from == 0 && d[0].until == 0 && d[0].redirect == NULL, "no schedule, no redirect");
	ok(d[7].action == ACTION_REDIRECT && d[7].redirect == NULL, "redirect via the top level");

	if (is_int(cfg->list_count, 3, "3 lists")) {
		snprintf(want, sizeof(want), "%s/lists/order.txt", fixture_dir);
		is_str(cfg->lists[0].path, want, "relative list path from the config's directory");
		ok(cfg->lists[0].format == LIST_DOMAINS && !cfg->lists[0].enabled &&
			cfg->lists[0].action == ACTION_NODATA && cfg->lists[0].skip_bad_lines,
			"lists[0]: domains, disabled, nodata, skip");
		is_str(cfg->lists[0].reason, "order 2023", "lists[0] reason");
		is_str(cfg->lists[0].ref, "letter 9", "lists[0] ref");
		is_int(cfg->lists[0].line, 43, "lists[0] line");
		is_str(cfg->lists[1].path, "/var/lib/blokir/ads.hosts", "absolute path kept");
		ok(cfg->lists[1].format == LIST_HOSTS && cfg->lists[1].enabled &&
			cfg->lists[1].action == ACTION_REFUSED && !cfg->lists[1].skip_bad_lines &&
			cfg->lists[1].reason == NULL && cfg->lists[1].redirect_ttl == 30,
			"lists[1]: hosts with defaults (the action resolved to default-action)");
		ok(cfg->lists[2].format == LIST_RPZ && !cfg->lists[2].skip_bad_lines, "lists[2]: rpz");
	}
	if (is_int(cfg->allow_from_count, 3, "3 allow-from networks")) {
		ok(cfg->allow_from[0].family == AF_INET && cfg->allow_from[0].prefix == 8 &&
			cfg->allow_from[0].addr[0] == 10, "10.0.0.0/8");
		ok(cfg->allow_from[1].family == AF_INET6 && cfg->allow_from[1].prefix == 32,
			"2001:db8::/32");
		ok(cfg->allow_from[2].prefix == 32 && cfg->allow_from[2].addr[3] == 7,
			"a bare address is a /32");
	}
	ok(cfg->deny_drop, "deny-action: drop");
	ok(cfg->rate_limit_qps == 100 && cfg->rate_limit_burst == 300, "rate limit and burst");
	ok(cfg->rate_limit_ipv4_prefix == 32 && cfg->rate_limit_ipv6_prefix == 64 &&
		cfg->rate_limit_tc, "rate-limit prefixes and tc");
	is_str(cfg->user, "blokir", "user");
	is_str(cfg->group, "nogroup", "group");
	is_str(cfg->chroot, "/var/lib/blokir", "chroot");
	ok(cfg->allow_root && cfg->use_0x20, "allow-root, use-0x20");
	ok(cfg->upstream_sockets == 8 && cfg->tcp_read_timeout_ms == 2000 &&
		cfg->cache_size == 10000, "upstream-sockets, tcp-read-timeout-ms, cache-size");
	is_int(cfg->busy_poll_us, 50, "busy-poll-us");
}

static void test_new_defaults(const struct config *cfg)
{
	static const char *const nets[] = { "127.0.0.0/8", "::1/128", "10.0.0.0/8",
		"172.16.0.0/12", "192.168.0.0/16", "fc00::/7" };

	ok(cfg->inspect_answers, "default inspect-answers: on");
	ok(!cfg->redirect.set && cfg->list_count == 0 && cfg->lists == NULL, "no redirect, no lists");
	if (is_int(cfg->allow_from_count, N(nets), "default allow-from: 6 networks"))
		for (size_t i = 0; i < N(nets); i++) {
			struct config_cidr c;

			value_parse_cidr(nets[i], &c);
			ok(memcmp(&c, &cfg->allow_from[i], sizeof(c)) == 0, "default allow-from %s",
				nets[i]);
		}
	ok(!cfg->deny_drop, "default deny-action: refused");
	ok(cfg->rate_limit_qps == 0 && cfg->rate_limit_burst == 0 && !cfg->rate_limit_tc,
		"rate limiting off by default");
	ok(cfg->rate_limit_ipv4_prefix == 24 && cfg->rate_limit_ipv6_prefix == 56,
		"default rate-limit prefixes /24, /56");
	ok(cfg->user == NULL && cfg->group == NULL && cfg->chroot == NULL && !cfg->allow_root,
		"no privilege settings by default");
	ok(!cfg->use_0x20 && cfg->upstream_sockets == 64 && cfg->tcp_read_timeout_ms == 5000 &&
		cfg->cache_size == 0, "0x20 off, 4 sockets, 5000 ms, no cache");
	is_int(cfg->busy_poll_us, 0, "busy-poll off by default");
}

static void test_full(void)
{
	struct diag *diag;
	struct config *cfg = load(fixture("good-full.yaml"), &diag);
	const struct config_domain *d;

	if (!ok(cfg != NULL, "good-full.yaml loads")) {
		for (size_t i = 0; i < diag_count(diag); i++)
			printf("#   %s\n", diag_get(diag, i));
		diag_free(diag);
		return;
	}
	is_int(diag_count(diag), 0, "no diagnostics");
	is_str(cfg->path, fixture("good-full.yaml"), "path kept as given");
	is_int(cfg->listen_count, 3, "3 listen addresses");
	is_str(cfg->listen[0].text, "127.0.0.1:5353", "listen[0]");
	is_str(cfg->listen[1].text, "[::1]:5353", "listen[1]");
	is_str(cfg->listen[2].text, "0.0.0.0:53", "listen[2] gets port 53");
	is_int(cfg->listen[1].addr.ss_family, AF_INET6, "listen[1] is IPv6");
	is_int(cfg->listen[1].addrlen, sizeof(struct sockaddr_in6), "listen[1] addrlen");
	is_int(cfg->upstream_count, 3, "3 upstreams");
	is_str(cfg->upstreams[0].text, "127.0.0.1:5301", "upstreams[0]");
	is_str(cfg->upstreams[1].text, "[2001:db8::53]:53", "upstreams[1]: bare IPv6, port 53");
	is_str(cfg->upstreams[2].text, "[2001:db8::1]:5300", "upstreams[2]: canonical lower case");
	is_int(cfg->negative_ttl, 300, "negative-ttl");
	is_int(cfg->default_action, ACTION_REFUSED, "default-action");
	is_int(cfg->upstream_timeout_ms, 2500, "upstream-timeout-ms");
	is_int(cfg->workers, 4, "workers");
	is_int(cfg->tcp_idle_timeout_ms, 20000, "tcp-idle-timeout-ms");
	is_int(cfg->max_tcp_connections, 2048, "max-tcp-connections");
	is_int(cfg->max_inflight, 4096, "max-inflight");
	is_wire(cfg->soa_mname, cfg->soa_mname_len, "ns.example.org", "soa-mname");
	is_wire(cfg->soa_rname, cfg->soa_rname_len, "hostmaster.example.org", "soa-rname");

	test_full_new_keys(cfg);
	if (!is_int(cfg->domain_count, 8, "8 domains"))
		goto out;
	d = &cfg->domains[0];
	is_str(d->text, "t.me", "domains[0] text");
	is_wire(d->name, d->name_len, "t.me", "domains[0]");
	ok(d->enabled && d->form == MATCH_SUBTREE && d->action == ACTION_REFUSED,
		"domains[0]: enabled, subtree, default action (resolved to default-action)");
	is_str(d->reason, "Kominfo order, 2017-07-14", "domains[0] reason");
	is_str(d->ref, "letter 123/2017", "domains[0] ref");
	is_int(d->line, 14, "domains[0] line");
	is_int(d->column, 11, "domains[0] column");
	d = &cfg->domains[1];
	ok(!d->enabled && d->reason == NULL && d->ref == NULL, "domains[1]: disabled, no reason or ref");
	d = &cfg->domains[2];
	is_str(d->text, "*.example.net", "domains[2] text keeps the \"*.\"");
	is_wire(d->name, d->name_len, "example.net", "domains[2] without \"*.\"");
	ok(d->form == MATCH_BELOW && d->action == ACTION_NODATA, "domains[2]: below, nodata");
	is_int(d->column, 11, "domains[2] column: the opening quote");
	d = &cfg->domains[3];
	ok(d->form == MATCH_EXACT && d->action == ACTION_ALLOW, "domains[3]: exact, allow");
	d = &cfg->domains[4];
	ok(d->form == MATCH_SUBTREE && d->action == ACTION_DROP && !d->enabled,
		"domains[4]: \"DROP\", \"no\", exact: no");
out:
	config_free(cfg);
	diag_free(diag);
}

static void test_defaults(void)
{
	struct diag *diag;
	struct config *cfg = load(fixture("good-minimal.yaml"), &diag);

	if (!ok(cfg != NULL, "good-minimal.yaml loads")) {
		diag_free(diag);
		return;
	}
	is_int(cfg->listen_count, 1, "one default listen address");
	is_str(cfg->listen[0].text, "127.0.0.1:53", "default listen");
	is_int(cfg->upstream_count, 1, "one upstream");
	is_str(cfg->upstreams[0].text, "192.0.2.1:53", "upstream port defaults to 53");
	is_int(cfg->negative_ttl, 60, "default negative-ttl");
	is_int(cfg->default_action, ACTION_NXDOMAIN, "default default-action");
	is_int(cfg->upstream_timeout_ms, 1500, "default upstream-timeout-ms");
	is_int(cfg->workers, 0, "default workers");
	is_int(cfg->tcp_idle_timeout_ms, 10000, "default tcp-idle-timeout-ms");
	is_int(cfg->max_tcp_connections, 1024, "default max-tcp-connections");
	is_int(cfg->max_inflight, 65536, "default max-inflight");
	is_wire(cfg->soa_mname, cfg->soa_mname_len, "blokir.invalid", "default soa-mname");
	is_wire(cfg->soa_rname, cfg->soa_rname_len, "hostmaster.blokir.invalid", "default soa-rname");
	is_int(cfg->domain_count, 0, "no domains");
	ok(cfg->domains == NULL, "no domains array");
	test_new_defaults(cfg);
	config_free(cfg);
	diag_free(diag);
}

static void test_forms(void)
{
	struct diag *diag;
	struct config *cfg = load(fixture("good-forms.yaml"), &diag);
	const struct config_domain *d;

	if (!ok(cfg != NULL, "good-forms.yaml loads") ||
		!is_int(cfg->domain_count, 10, "10 domains")) {
		for (size_t i = 0; i < diag_count(diag); i++)
			printf("#   %s\n", diag_get(diag, i));
		goto out;
	}
	d = cfg->domains;
	is_str(d[0].text, "example.com", "case and trailing dot normalized");
	is_wire(d[0].name, d[0].name_len, "example.com", "Example.COM.");
	ok(d[0].name_len == d[1].name_len && memcmp(d[0].name, d[1].name, d[0].name_len) == 0,
		"Example.COM. and example.com have the same wire form");
	is_int(d[0].line, 3, "domains[0] line");
	is_int(d[1].line, 4, "domains[1] line");
	ok(d[0].form == MATCH_SUBTREE, "plain name: subtree");
	is_str(d[2].text, "*.wild.example", "\"*.Wild.Example.\" normalized");
	is_wire(d[2].name, d[2].name_len, "wild.example", "\"*.Wild.Example.\"");
	ok(d[2].form == MATCH_BELOW, "\"*.\": below");
	is_str(d[3].text, "only.example", "exact: text");
	ok(d[3].form == MATCH_EXACT, "exact: yes: exact");
	is_str(d[4].text, ".", "root text");
	ok(d[4].name_len == 1 && d[4].name[0] == 0, "root wire form");
	is_str(d[5].text, "_dmarc.x-y.example", "underscore and hyphen allowed");
	is_int(d[6].action, ACTION_REFUSED, "flow mapping entry");
	is_int(d[6].column, 12, "flow mapping name column");
	is_str(d[7].text, "anchored.example", "anchored scalar read");
	is_str(d[7].reason, "shared reason", "anchored reason");
	is_str(d[8].reason, "shared reason", "aliased reason");
	ok(d[9].reason == NULL && d[9].ref == NULL, "null reason and ref: absent");
out:
	config_free(cfg);
	diag_free(diag);
}

static void test_idn(void)
{
	struct diag *diag;
	struct config *cfg = load(fixture("good-idn.yaml"), &diag);
	const struct config_domain *d;

	if (!ok(cfg != NULL, "good-idn.yaml loads") || !is_int(cfg->domain_count, 3, "3 domains"))
		goto out;
	d = cfg->domains;
	is_str(d[0].text, "xn--bcher-kva.example", "entry text is the A-label form");
	is_wire(d[0].name, d[0].name_len, "xn--bcher-kva.example", "bücher.example");
	is_str(d[1].text, "*.xn--bcher-kva.de", "\"*.\" form of a Unicode name");
	ok(d[1].form == MATCH_BELOW, "below form kept");
	if (ok(d[2].redirect != NULL, "redirect with a Unicode cname"))
		is_wire(d[2].redirect->cname, d[2].redirect->cname_len, "xn--bcher-kva.example",
			"redirect cname converted");
out:
	config_free(cfg);
	diag_free(diag);
}

/* ---- bad files: the exact diagnostics ---- */

static void test_bad_new_keys(void)
{
	EXPECT("bad-redirect.yaml", ":2:28: redirect.a[1]: expected an IPv4 address",
		":2:51: redirect.aaaa[0]: expected an IPv6 address",
		":2:68: redirect.ttl: expected an integer 0..86400",
		":6:15: domains[0].redirect: expected at least one of a, aaaa, cname",
		":9:24: domains[1].redirect.cname: invalid character: expected letters, digits, \"-\", \"_\" and \".\"",
		":9:15: domains[1].redirect: a cname cannot be combined with a or aaaa addresses",
		":11:15: domains[2].redirect: only used with action: redirect",
		":14:15: domains[3].redirect: expected a mapping with a, aaaa, cname or ttl");
	EXPECT("bad-redirect-missing.yaml",
		":4:11: domains[0]: action redirect needs a \"redirect:\" with a, aaaa or cname, in the entry or at the top level",
		":10:5: lists[0]: action redirect needs a \"redirect:\" with a, aaaa or cname, in the entry or at the top level");
	EXPECT("bad-schedule.yaml",
		":4:11: domains[0].from: expected an RFC 3339 time such as 2017-08-10T00:00:00+07:00",
		":7:12: domains[1].until: must be later than \"from\"",
		":9:12: domains[2].until: expected an RFC 3339 time such as 2017-08-10T00:00:00+07:00",
		":11:12: domains[3].until: must be later than 1970-01-01T00:00:00Z",
		":13:11: domains[4].from: expected an RFC 3339 time such as 2017-08-10T00:00:00+07:00");
	EXPECT("bad-lists.yaml", ":3:5: lists[0]: missing key \"file\"",
		":5:13: lists[1].format: expected one of domains, hosts, rpz",
		":6:15: lists[1].on-error: expected reject or skip",
		":7:13: lists[1].action: expected one of nxdomain, nodata, refused, drop, allow, redirect",
		":8:5: unknown key \"colour\"", ":9:5: lists[2]: expected a mapping",
		":10:11: lists[3].file: expected a file name", ":11:1: unknown key \"lists2\"");
	EXPECT("bad-allow-from.yaml", ":2:14: allow-from[0]: host bits set after the prefix length",
		":2:26: allow-from[1]: expected a prefix length 0..128",
		":2:37: allow-from[2]: expected a prefix length 0..32",
		":2:50: allow-from[3]: expected ADDR/PREFIX with an IPv4 or IPv6 address",
		":2:63: allow-from[4]: expected a prefix length 0..32",
		":2:76: allow-from[5]: host bits set after the prefix length");
	EXPECT("bad-allow-from-empty.yaml",
		":2:13: allow-from: expected at least one network (0.0.0.0/0 and ::/0 allow everyone)");
	EXPECT("bad-hardening.yaml", ":2:14: deny-action: expected refused or drop",
		":3:17: rate-limit-qps: expected an integer 0..10000000",
		":4:19: rate-limit-burst: expected an integer 1..20000000",
		":5:25: rate-limit-ipv4-prefix: expected an integer 8..32",
		":6:25: rate-limit-ipv6-prefix: expected an integer 16..128",
		":7:16: rate-limit-tc: expected true or false",
		":8:7: user: expected a non-empty string", ":9:8: group: expected a non-empty string",
		":10:9: chroot: expected an absolute path", ":11:13: allow-root: expected true or false",
		":12:11: use-0x20: expected true or false",
		":13:19: upstream-sockets: expected an integer 1..256",
		":14:22: tcp-read-timeout-ms: expected an integer 100..600000",
		":15:13: cache-size: expected an integer 0..10000000",
		":16:18: inspect-answers: expected true or false",
		":17:15: busy-poll-us: expected an integer 0..100000");
}

/* `zones:` and `state-dir:`: every key read, the secret taken from a file only its owner reads. */
static void test_zones(void)
{
	char dir[] = "/tmp/blokir-zones-test-XXXXXX", key[128], yaml[128], text[1024], want[1100];
	char readable[300], missing[300];
	struct diag *diag;
	struct config *cfg;
	FILE *fp;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(key, sizeof(key), "%s/k.secret", dir);
	snprintf(yaml, sizeof(yaml), "%s/z.yaml", dir);
	fp = fopen(key, "w");
	fputs("  c2VjcmV0IHNlY3JldCBzZWNyZXQ=\n", fp);
	fclose(fp);
	chmod(key, 0600);
	snprintf(text, sizeof(text), "upstreams: [\"192.0.2.53\"]\nstate-dir: %s\nzones:\n"
		"  - name: RPZ.Example.\n    primaries: [\"192.0.2.1\", \"[2001:db8::1]:5300\"]\n"
		"    tsig-key: Key1.\n    tsig-secret-file: k.secret\n    enabled: false\n"
		"    action: nodata\n    reason: \"feed\"\n    ref: \"order 1\"\n    on-expire: drop\n"
		"  - name: second.example\n    primaries: 192.0.2.2\n", dir);
	fp = fopen(yaml, "w");
	fputs(text, fp);
	fclose(fp);
	cfg = load(yaml, &diag);
	if (ok(cfg != NULL, "a file with two zones loads") && is_int(cfg->zone_count, 2, "2 zones")) {
		const struct config_zone *z = &cfg->zones[0];
		is_str(z->text, "rpz.example", "zone name normalized");
		is_wire(z->name, z->name_len, "rpz.example", "zone name");
		is_int(z->primary_count, 2, "two primaries");
		is_str(z->primaries[0].text, "192.0.2.1:53", "port 53 by default");
		is_str(z->primaries[1].text, "[2001:db8::1]:5300", "an IPv6 primary with a port");
		is_str(z->tsig_name, "key1", "tsig-key normalized");
		is_str(z->tsig_algorithm, "hmac-sha256", "hmac-sha256 by default");
		is_str(z->tsig_secret, "c2VjcmV0IHNlY3JldCBzZWNyZXQ=", "the secret, blanks trimmed");
		ok(!z->enabled && z->action == ACTION_NODATA && z->expire_drop, "enabled, action, on-expire");
		is_str(z->reason, "feed", "reason");
		is_str(z->ref, "order 1", "ref");
		z = &cfg->zones[1];
		ok(z->enabled && z->action == ACTION_DEFAULT && !z->expire_drop && z->tsig_name == NULL &&
			z->primary_count == 1, "zone defaults: enabled, the records' actions, keep, no TSIG");
		is_str(cfg->state_dir, dir, "state-dir");
		ok(config_zone_find(cfg, z->name, z->name_len) == z, "config_zone_find");
	}
	config_free(cfg);
	diag_free(diag);
	cfg = load(fixture("good-minimal.yaml"), &diag);
	if (cfg != NULL)
		is_str(cfg->state_dir, "/var/lib/blokir", "state-dir defaults to /var/lib/blokir");
	config_free(cfg);
	diag_free(diag);
	unlink(key);
	unlink(yaml);
	rmdir(dir);

	snprintf(readable, sizeof(readable), ":8:23: zones[0].tsig-secret-file: %s/"
		"zone-secret-readable.key: readable by others (mode 644): chmod 600 it", fixture_dir);
	snprintf(missing, sizeof(missing), ":22:23: zones[4].tsig-secret-file: %s/"
		"does-not-exist.key: No such file or directory", fixture_dir);
	/* the secret's mode is not kept by git: set it, as a checkout with a umask of 022 would */
	snprintf(want, sizeof(want), "%s/zone-secret-readable.key", fixture_dir);
	chmod(want, 0644);
	{
		const char *const wanted[] = {
			":2:12: state-dir: expected an absolute path",
			":5:30: zones[0].primaries[1]: expected an IPv4 or IPv6 address",
			":7:21: zones[0].tsig-algorithm: expected one of hmac-sha256, hmac-sha384, "
				"hmac-sha512, hmac-sha224, hmac-sha1",
			readable,
			":9:13: zones[0].action: expected one of nxdomain, nodata, refused, drop, allow",
			":10:16: zones[0].on-expire: expected keep or drop",
			":13:11: zones[2].name: empty label",
			":13:5: zones[2]: expected at least one address in \"primaries\"",
			":17:14: zones[3].enabled: expected true or false",
			":18:5: unknown key \"colour\"",
			":15:5: zones[3]: missing key \"name\"",
			":15:5: zones[3]: tsig-key and tsig-secret-file go together (tsig-algorithm only "
				"with them)",
			missing,
			":23:5: zones[5]: expected a mapping",
			":26:5: zones[7]: duplicate zone \"dup.example\" (first at line 24)",
		};
		expect_errors("bad-zones.yaml", wanted, N(wanted));
	}
}

/* serve-rpz: every key, the defaults, and each bad value with its position. */
static void test_serve(void)
{
	struct diag *diag;
	struct config *cfg = load(fixture("good-serve.yaml"), &diag);
	char want[1200];

	if (ok(cfg != NULL, "good-serve.yaml loads")) {
		const struct config_serve *sv = &cfg->serve;

		ok(sv->enabled, "serve-rpz enabled");
		is_str(sv->zone, "rpz.example.", "zone lower-cased with its dot");
		is_int(sv->allow_count, 2, "two allowed networks");
		ok(sv->allow_count == 2 && sv->allow[0].family == AF_INET && sv->allow[0].prefix == 24 &&
			sv->allow[1].family == AF_INET6 && sv->allow[1].prefix == 32, "  as written");
		is_int(sv->key_count, 2, "two keys");
		if (sv->key_count == 2) {
			is_str(sv->keys[0].name, "xfr-key.", "key name lower-cased with its dot");
			is_str(sv->keys[0].algorithm, "hmac-sha512", "algorithm as named");
			snprintf(want, sizeof(want), "%s/xfr.key", fixture_dir);
			is_str(sv->keys[0].secret_file, want, "secret-file relative to the config");
			is_str(sv->keys[1].algorithm, "hmac-sha256", "algorithm default hmac-sha256");
			is_str(sv->keys[1].secret_file, "/etc/blokir/second.key", "absolute secret-file");
		}
		is_int(sv->notify_count, 2, "two NOTIFY targets");
		if (sv->notify_count == 2) {
			is_str(sv->notify[0].text, "192.0.2.53:53", "  port 53 by default");
			is_str(sv->notify[1].text, "[2001:db8::53]:5300", "  or as given");
		}
		is_int(sv->history, 8, "history");
	} else {
		for (size_t i = 0; i < diag_count(diag); i++)
			printf("#   %s\n", diag_get(diag, i));
	}
	config_free(cfg);
	diag_free(diag);
	cfg = load(fixture("good-serve-minimal.yaml"), &diag);
	if (ok(cfg != NULL, "serve-rpz: {} loads")) {
		ok(cfg->serve.enabled, "  serving");
		is_str(cfg->serve.zone, CONFIG_SERVE_ORIGIN_DEFAULT, "  zone default");
		is_int(cfg->serve.history, CONFIG_SERVE_HISTORY_DEFAULT, "  history default");
		ok(cfg->serve.allow_count == 2 && cfg->serve.allow[0].family == AF_INET &&
			cfg->serve.allow[0].prefix == 8 && cfg->serve.allow[1].prefix == 128,
			"  allow default: loopback only");
		is_int(cfg->serve.key_count + cfg->serve.notify_count, 0, "  no keys, no NOTIFY");
	}
	config_free(cfg);
	diag_free(diag);
	cfg = load(fixture("good-minimal.yaml"), &diag);
	ok(cfg != NULL && !cfg->serve.enabled, "without serve-rpz: not serving");
	config_free(cfg);
	diag_free(diag);
	EXPECT("bad-serve.yaml", ":4:9: serve-rpz.zone: empty label",
		":5:11: serve-rpz.allow[0]: host bits set after the prefix length",
		":8:29: serve-rpz.keys[1].algorithm: expected hmac-sha256, hmac-sha384 or hmac-sha512",
		":9:7: serve-rpz.keys[2]: missing key \"name\"",
		":9:7: serve-rpz.keys[2]: missing key \"secret-file\"",
		":10:7: serve-rpz.keys[3]: duplicate key name \"k1.\" (first at line 7)",
		":11:7: serve-rpz.keys[4]: expected a mapping",
		":12:12: serve-rpz.notify[0]: expected a port 1..65535",
		":13:12: serve-rpz.history: expected an integer 1..1000",
		":14:3: unknown key \"colour\"");
	EXPECT("bad-serve-type.yaml", ":3:12: serve-rpz: expected a mapping");
}

/* RFC 3339 times: forms, offsets, calendar checks. */
static void test_times(void)
{
	static const struct { const char *text; int64_t want; } good[] = {
		{ "1970-01-01T00:00:01Z", 1 },
		{ "2017-08-10T00:00:00+07:00", 1502298000 },
		{ "2017-08-09T17:00:00Z", 1502298000 },
		{ "2017-08-09t17:00:00.999z", 1502298000 },
		{ "2017-08-09T12:30:00-04:30", 1502298000 },
		{ "2000-02-29T00:00:00Z", 951782400 },
		{ "2038-01-19T03:14:08Z", 2147483648LL },
	};
	static const char *const bad[] = { "", "2017-08-10", "2017-08-10T00:00:00",
		"2017-08-10 00:00:00Z", "2017-13-01T00:00:00Z", "2017-02-29T00:00:00Z",
		"1900-02-29T00:00:00Z", "2017-08-10T24:00:00Z", "2017-08-10T00:00:00+7:00",
		"2017-08-10T00:00:00Z junk", "2017-08-10T00:00:00.Z", "1969-12-31T23:59:59Z" };
	int64_t t;

	for (size_t i = 0; i < N(good); i++) {
		t = -1;
		ok(value_parse_time(good[i].text, &t) == 0 && t == good[i].want, "time %s is %lld",
			good[i].text, (long long)good[i].want);
	}
	for (size_t i = 0; i < N(bad); i++)
		ok(value_parse_time(bad[i], &t) == -1, "time \"%s\" refused", bad[i]);
}

static void test_bad(void)
{
	EXPECT("bad-unknown-top-key.yaml", ":2:1: unknown key \"negative_ttl\"");
	/* a misspelt "name" is unknown, and the entry has no name */
	EXPECT("bad-unknown-key.yaml", ":4:5: unknown key \"nmae\"",
		":4:5: domains[1]: missing key \"name\"");
	EXPECT("bad-bool.yaml", ":4:14: domains[0].enabled: expected true or false");
	EXPECT("bad-integer.yaml", ":2:15: negative-ttl: expected an integer 0..604800",
		":3:10: workers: expected an integer 0..64",
		":4:15: max-inflight: expected an integer 16..1048576");
	EXPECT("bad-range.yaml", ":2:15: negative-ttl: expected an integer 0..604800",
		":3:22: upstream-timeout-ms: expected an integer 10..60000",
		":4:10: workers: expected an integer 0..64",
		":5:22: tcp-idle-timeout-ms: expected an integer 100..600000",
		":6:22: max-tcp-connections: expected an integer 1..1000000",
		":7:15: max-inflight: expected an integer 16..1048576");
	EXPECT("bad-action.yaml",
		":4:13: domains[0].action: expected one of nxdomain, nodata, refused, drop, allow, redirect");
	EXPECT("bad-name-long-label.yaml", ":6:11: domains[3].name: label longer than 63 octets");
	EXPECT("bad-name-empty-label.yaml", ":3:11: domains[0].name: empty label",
		":4:11: domains[1].name: empty label", ":5:11: domains[2].name: empty label",
		":6:11: domains[3].name: empty name");
	EXPECT("bad-name-char.yaml",
		":3:11: domains[0].name: invalid character: expected letters, digits, \"-\", \"_\" and \".\"",
		":4:11: domains[1].name: \"*\" is only allowed as a leading \"*.\"",
		":5:11: domains[2].name: \"*\" is only allowed as a leading \"*.\"",
		":6:11: domains[3].name: expected a name after \"*.\"",
		":7:11: domains[4].name: invalid internationalized name: string contains a disallowed character",
		":8:11: domains[5].name: expected a domain name");
	EXPECT("bad-name-too-long.yaml", ":3:11: domains[0].name: name longer than 255 octets");
	EXPECT("bad-nul.yaml", ":3:11: domains[0].name: expected a domain name",
		":4:13: domains[0].reason: expected a string");
	EXPECT("bad-soa.yaml", ":2:12: soa-mname: empty label",
		":3:12: soa-rname: expected a domain name");
	EXPECT("bad-listen.yaml", ":2:26: listen[1]: expected an IPv4 or IPv6 address",
		":2:42: listen[2]: expected a port 1..65535",
		":2:57: listen[3]: expected ADDR:PORT, [IPV6]:PORT or an address alone",
		":2:65: listen[4]: expected ADDR:PORT, [IPV6]:PORT or an address alone",
		":2:75: listen[5]: expected a port 1..65535");
	EXPECT("bad-upstream.yaml", ":2:5: upstreams[0]: expected a port 1..65535",
		":3:5: upstreams[1]: expected an IPv4 or IPv6 address",
		":4:5: upstreams[2]: expected ADDR:PORT, [IPV6]:PORT or an address alone");
	EXPECT("bad-upstreams-too-many.yaml", ":2:228: upstreams[16]: at most 16 upstreams");
	/* an empty list is an error, not "use the default" */
	EXPECT("bad-listen-type.yaml", ":1:9: listen: expected a sequence of addresses",
		":2:12: upstreams: expected at least one address");
	EXPECT("bad-wildcard-exact.yaml",
		":4:12: domains[0].exact: \"*.\" names only what is below, it cannot be exact");
	EXPECT("bad-missing-name.yaml", ":4:5: domains[1]: missing key \"name\"");
	EXPECT("bad-syntax.yaml",
		":4:4: did not find expected '-' indicator (while parsing a block collection at 3:3)");
	EXPECT("bad-not-mapping.yaml", ":1:1: expected a mapping");
	EXPECT("bad-empty.yaml", ":1:1: expected a mapping, found no YAML document");
	EXPECT("bad-two-documents.yaml", ":2:1: expected a single YAML document");
	EXPECT("bad-alias.yaml", ":2:9: aliases of sequences and mappings are not supported");
	EXPECT("bad-multiple.yaml", ":1:10: listen[0]: expected a port 1..65535",
		":3:15: negative-ttl: expected an integer 0..604800",
		":4:17: default-action: expected one of nxdomain, nodata, refused, drop, redirect",
		":5:1: unknown key \"colour\"",
		":8:13: domains[0].action: expected one of nxdomain, nodata, refused, drop, allow, redirect",
		":9:14: domains[0].enabled: expected true or false",
		":10:11: domains[1].name: invalid character: expected letters, digits, \"-\", \"_\" and \".\"",
		":11:5: domains[2]: expected a mapping",
		":13:5: duplicate key \"name\"");
	EXPECT("does-not-exist.yaml", ":1:1: No such file or directory");
	test_bad_new_keys();
}

/* ---- upstreams from resolv.conf ---- */

static void test_resolv_conf(void)
{
	char *rc = temp_file("# written by the test\n"
		"search example.org\n"
		"nameserver 192.0.2.53\n"
		"nameserver   2001:DB8::35   # trailing comment\n"
		"nameserver fe80::1%eth0\n"
		"nameserver not-an-address\n"
		"nameserver 192.0.2.54:5353\n"
		"nameserver\n"
		"options edns0\n");
	char *empty = temp_file("search example.org\nnameserver fe80::1%eth0\n");
	char want[2200];
	struct diag *diag;
	struct config *cfg;

	setenv("BLOKIR_RESOLV_CONF", rc, 1);
	cfg = load(fixture("good-no-upstreams.yaml"), &diag);
	if (ok(cfg != NULL, "upstreams from resolv.conf") &&
		is_int(cfg->upstream_count, 2, "two usable nameserver lines")) {
		is_str(cfg->upstreams[0].text, "192.0.2.53:53", "IPv4 nameserver");
		is_str(cfg->upstreams[1].text, "[2001:db8::35]:53", "IPv6 nameserver");
		is_int(cfg->upstreams[1].addr.ss_family, AF_INET6, "IPv6 family");
		is_int(cfg->domain_count, 0, "\"domains:\" with no entries: none");
	}
	config_free(cfg);
	diag_free(diag);

	cfg = load(fixture("good-null-upstreams.yaml"), &diag);
	ok(cfg != NULL && cfg->upstream_count == 2, "\"upstreams:\" null: resolv.conf too");
	config_free(cfg);
	diag_free(diag);

	setenv("BLOKIR_RESOLV_CONF", empty, 1);
	cfg = load(fixture("good-no-upstreams.yaml"), &diag);
	ok(cfg == NULL, "no usable nameserver: refused");
	snprintf(want, sizeof(want), "%s:1:1: no upstreams configured and none in %s",
		fixture("good-no-upstreams.yaml"), empty);
	is_int(diag_count(diag), 1, "one diagnostic");
	is_str(diag_get(diag, 0), want, "no upstreams diagnostic");
	config_free(cfg);
	diag_free(diag);

	/* upstreams given in the file: resolv.conf is not read, so its absence is no error */
	setenv("BLOKIR_RESOLV_CONF", "/nonexistent/resolv.conf", 1);
	cfg = load(fixture("good-minimal.yaml"), &diag);
	ok(cfg != NULL, "upstreams in the file: resolv.conf not needed");
	config_free(cfg);
	diag_free(diag);

	unlink(rc);
	unlink(empty);
	free(rc);
	free(empty);
}

/* ---- the helpers other modules use ---- */

static void endpoint_ok(const char *text, const char *want, int family, unsigned port)
{
	struct config_endpoint ep;
	const char *err = NULL;
	unsigned got_port;

	if (!ok(value_parse_endpoint(text, 53, &ep, &err) == 0, "endpoint \"%s\" parses", text)) {
		printf("#   %s\n", err);
		return;
	}
	is_str(ep.text, want, "endpoint \"%s\" text", text);
	got_port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ep.addr)->sin_port
		: ((struct sockaddr_in6 *)&ep.addr)->sin6_port);
	ok(ep.addr.ss_family == family && got_port == port &&
		ep.addrlen == (family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)),
		"endpoint \"%s\" family, port, length", text);
}

static void endpoint_bad(const char *text, uint16_t default_port, const char *want)
{
	struct config_endpoint ep;
	const char *err = NULL;

	ok(value_parse_endpoint(text, default_port, &ep, &err) == -1, "endpoint \"%s\" refused", text);
	is_str(err, want, "endpoint \"%s\" error", text);
}

static void test_endpoints(void)
{
	static const char form[] = "expected ADDR:PORT, [IPV6]:PORT or an address alone";
	static const char addr[] = "expected an IPv4 or IPv6 address";
	static const char port[] = "expected a port 1..65535";

	endpoint_ok("1.2.3.4:53", "1.2.3.4:53", AF_INET, 53);
	endpoint_ok("1.2.3.4", "1.2.3.4:53", AF_INET, 53);
	endpoint_ok("10.0.0.1:65535", "10.0.0.1:65535", AF_INET, 65535);
	endpoint_ok("[::1]:5353", "[::1]:5353", AF_INET6, 5353);
	endpoint_ok("[::1]", "[::1]:53", AF_INET6, 53);
	endpoint_ok("::1", "[::1]:53", AF_INET6, 53);
	endpoint_ok("2001:DB8:0:0::1", "[2001:db8::1]:53", AF_INET6, 53);
	endpoint_ok("[::ffff:192.0.2.1]:1", "[::ffff:192.0.2.1]:1", AF_INET6, 1);

	endpoint_bad("", 53, addr);
	endpoint_bad(":53", 53, addr);
	endpoint_bad("[]:53", 53, addr);
	endpoint_bad("localhost:53", 53, addr);
	endpoint_bad("1.2.3:53", 53, addr);
	endpoint_bad("[1.2.3.4]:53", 53, addr);
	endpoint_bad("fe80::1%eth0", 53, addr);
	endpoint_bad("1.2.3.4:0", 53, port);
	endpoint_bad("1.2.3.4:65536", 53, port);
	endpoint_bad("1.2.3.4:", 53, port);
	endpoint_bad("1.2.3.4:053", 53, port);
	endpoint_bad("1.2.3.4:5x", 53, port);
	endpoint_bad("1.2.3.4: 53", 53, port);
	endpoint_bad("[::1]:", 53, port);
	endpoint_bad("1.2.3.4", 0, port); /* a default port of 0: the port is required */
	endpoint_bad("[::1", 53, form);
	endpoint_bad("[::1]53", 53, form);
	endpoint_bad("[::1]:53:", 53, port);
	endpoint_bad("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb", 53, addr);
}

static void name_ok(const char *text, const char *want)
{
	uint8_t wire[CONFIG_NAME_MAX];
	size_t len = 0;
	const char *err = NULL;

	if (!ok(value_parse_name(text, wire, &len, &err) == 0, "name \"%.40s\" parses", text))
		printf("#   %s\n", err);
	else
		is_wire(wire, len, want, "name");
}

static void name_bad(const char *text, const char *want)
{
	uint8_t wire[CONFIG_NAME_MAX];
	size_t len = 0;
	const char *err = NULL;

	ok(value_parse_name(text, wire, &len, &err) == -1, "name \"%.40s\" refused", text);
	is_str(err, want, "name \"%.40s\" error", text);
}

static void test_names(void)
{
	char buf[600], l63[64], l64[65];

	memset(l63, 'a', 63);
	l63[63] = '\0';
	memset(l64, 'b', 64);
	l64[64] = '\0';

	name_ok("Example.COM", "example.com");
	name_ok("example.com.", "example.com");
	name_ok("EXAMPLE.COM.", "example.com");
	name_ok(".", ".");
	name_ok("_srv._tcp.x-1.example", "_srv._tcp.x-1.example");
	name_ok(l63, l63);
	/* 3 x 64 + 62 + 1 = 255 octets: the largest name there is */
	snprintf(buf, sizeof(buf), "%s.%s.%s.%.61s", l63, l63, l63, l63);
	name_ok(buf, buf);
	snprintf(buf, sizeof(buf), "%s.%s.%s.%.62s", l63, l63, l63, l63);
	name_bad(buf, "name longer than 255 octets");
	name_bad(l64, "label longer than 63 octets");
	name_bad("", "empty name");
	name_bad("..", "empty label");
	name_bad("a..b", "empty label");
	name_bad(".a", "empty label");
	name_bad("a.b..", "empty label");
	name_bad("*.a", "\"*\" is only allowed as a leading \"*.\"");
	name_bad("a*.b", "\"*\" is only allowed as a leading \"*.\"");
	name_bad("a b", "invalid character: expected letters, digits, \"-\", \"_\" and \".\"");
	name_bad("a\\046b", "invalid character: expected letters, digits, \"-\", \"_\" and \".\"");
	/* IDN: Unicode labels become A-labels (IDNA2008 nontransitional, NFC input) */
	name_ok("caf\xc3\xa9.example", "xn--caf-dma.example");
	name_ok("b\xc3\xbc" "cher.example", "xn--bcher-kva.example");
	name_ok("B\xc3\x9c" "CHER.example.", "xn--bcher-kva.example"); /* upper case folded */
	name_ok("cafe\xcc\x81.example", "xn--caf-dma.example");      /* NFD input normalized */
	name_ok("fa\xc3\x9f.de", "xn--fa-hia.de");                   /* nontransitional: sharp s */
	name_bad("\xf0\x9f\x98\x80.example",
		"invalid internationalized name: string contains a disallowed character");
	name_bad("a\xe2\x80\x8d" "b.example",
		"invalid internationalized name: string contains a forbidden context-j character");
	name_bad("\xc3\xbc..example", "empty label");

	is_str(value_action_name(ACTION_NXDOMAIN), "nxdomain", "action name nxdomain");
	is_str(value_action_name(ACTION_ALLOW), "allow", "action name allow");
	is_str(value_action_name(ACTION_DEFAULT), "default", "action name default");
	config_free(NULL);
	ok(1, "config_free(NULL) is a no-op");
}

/* ---- depth, positionless problems, abandoned loads (issue 12) ---- */

/* Loads TEXT from a temporary file; checks it fails with WANT (after the path) among the errors. */
static void text_error(const char *text, const char *want, const char *what)
{
	char *path = temp_file(text), full[1024];
	struct diag *diag;
	struct config *cfg = load(path, &diag);

	bool found = false;

	snprintf(full, sizeof(full), "%s%s", path, want);
	ok(cfg == NULL && diag_count(diag) >= 1, "%s: refused", what);
	for (size_t i = 0; i < diag_count(diag); i++)
		found |= strcmp(diag_get(diag, i), full) == 0;
	if (!ok(found, "%s: %s", what, want))
		for (size_t i = 0; i < diag_count(diag); i++)
			printf("#   %s\n", diag_get(diag, i));
	config_free(cfg);
	diag_free(diag);
	unlink(path);
	free(path);
}

static void test_depth_positions(void)
{
	char deep[200001], block[2048];
	size_t n = 0;
	atomic_bool stop = true;
	struct diag *diag = diag_new();
	char *path;

	memset(deep, '[', 100000);
	memset(deep + 100000, ']', 100000);
	deep[200000] = '\0';
	text_error(deep, ":1:17: nested deeper than 16 levels (the policy needs 5)",
		"100,000 nested flow sequences");
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(block + n, sizeof(block) - n, "%*sk%d:\n", 2 * i, "", i);
	snprintf(block + n, sizeof(block) - n, "%*sx: 1\n", 40, "");
	text_error(block, ":17:33: nested deeper than 16 levels (the policy needs 5)",
		"block mappings 21 deep");
	memset(deep, '[', 16);
	memset(deep + 16, ']', 16);
	deep[32] = '\0';
	text_error(deep, ":1:1: expected a mapping", "16 levels: parsed, then refused as a value");
	text_error("", ":1:1: expected a mapping, found no YAML document", "an empty file");
	text_error("# only a comment\n", ":1:1: expected a mapping, found no YAML document",
		"a file of comments");
	text_error("listen: [\"127.0.0.1:53\"]\nx: \"\xff\"\n",
		":2:5: invalid leading UTF-8 octet at byte 29", "bad UTF-8: its line and column");
	path = temp_file("listen: [\"127.0.0.1:53\"]\n");
	ok(config_load_until(path, diag, &stop) == NULL && diag_count(diag) == 1 &&
		strstr(diag_get(diag, 0), ":1:1: load abandoned: the daemon is stopping") != NULL,
		"a load with its stop flag set gives up at once, saying so");
	unlink(path);
	free(path);
	diag_free(diag);
}

int main(void)
{
	char *rc = temp_file("nameserver 192.0.2.99\n");

	fixture_dir = getenv("FIXTURES");
	if (fixture_dir == NULL || *fixture_dir == '\0')
		fixture_dir = FIXTURE_DIR;
	setenv("BLOKIR_RESOLV_CONF", rc, 1);

	test_full();
	test_defaults();
	test_forms();
	test_idn();
	test_bad();
	test_times();
	test_serve();
	test_zones();
	test_resolv_conf();
	test_endpoints();
	test_names();
	test_depth_positions();

	unlink(rc);
	free(rc);
	return tap_exit();
}
