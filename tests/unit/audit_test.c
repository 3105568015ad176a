/*
 * audit_test: the audit log module on its own. Exact lines for known events (every field,
 * escaping, address truncation), no line lost across rename + reopen while a producer keeps
 * logging, a writer stuck on a full pipe: the producer never waits, drops are reported, and
 * every line it accepted comes out once the reader catches up; and a write cut in the middle of
 * a line: the lost lines counted, the torn one ended by a newline before the next.
 */
#include "audit.h"
#include "appendlog.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "testname.h"

static char dir[] = "/tmp/audit_test.XXXXXX";

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static size_t count_lines(const char *path)
{
	size_t n = 0, len;
	char *s = slurp(path, &len);

	for (size_t i = 0; s != NULL && i < len; i++)
		n += s[i] == '\n';
	free(s);
	return n;
}

static struct sockaddr_in v4(const char *text)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(5353) };
	inet_pton(AF_INET, text, &sin.sin_addr);
	return sin;
}

static struct sockaddr_in6 v6(const char *text)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(5353) };
	inet_pton(AF_INET6, text, &sin6.sin6_addr);
	return sin6;
}

static void test_lines(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/exact.log", dir);
	struct audit_options o = { .path = path, .config_path = "/etc/blokir/blokir.yaml",
		.producers = 2, .ring_bytes = 0, .ipv4_prefix = 24, .ipv6_prefix = 48 };
	struct audit *a = audit_new(&o);
	uint8_t q1[256], q2[256], q3[256];
	struct sockaddr_in c4 = v4("192.0.2.77");
	struct sockaddr_in6 c6 = v6("2001:db8:aaaa:bbbb::1");

	if (!ok(a != NULL, "audit_new opens %s", path))
		return;
	/* The question name keeps the client's case; a dot inside a label is escaped. */
	size_t l1 = wire("Venus.Web.Telegram.org", q1);
	size_t l2 = wire("www.example.com", q2);
	size_t l3 = wire("tracker.example.net", q3);
	q2[2] = 'W';
	uint8_t odd[] = { 3, 'a', '.', 'b', 1, '"', 0 };

	struct audit_event e1 = { .kind = AUDIT_BLOCKED, .transport = AUDIT_UDP,
		.client = (struct sockaddr *)&c4, .qname = q1, .qname_len = l1, .qtype = 1,
		.entry = "venus.web.telegram.org", .line = 54, .action = "nxdomain",
		.reason = "Roskomnadzor \"order\" 2017\\1", .ref = "27-31-2017/Id2971-17",
		.time_ms = 1502323200123 };
	struct audit_event e2 = { .kind = AUDIT_CNAME_BLOCKED, .transport = AUDIT_TCP,
		.client = (struct sockaddr *)&c6, .qname = q2, .qname_len = l2, .qtype = 28,
		.target = q3, .target_len = l3, .entry_name = q3 + 8, .entry_name_len = l3 - 8,
		.list = "/etc/blokir/trackers.txt", .line = 12, .action = "redirect",
		.reason = "line\nbreak", .time_ms = 1502323200004 };
	struct audit_event e3 = { .kind = AUDIT_ACL_DENIED, .transport = AUDIT_UDP,
		.client = (struct sockaddr *)&c4, .qname = odd, .qname_len = sizeof(odd), .qtype = 65,
		.action = "refused", .time_ms = 1502323261999 };
	struct audit_event e4 = { .kind = AUDIT_RATE_LIMITED, .transport = AUDIT_UDP,
		.client = (struct sockaddr *)&c4, .qtype = 4242, .action = "drop",
		.time_ms = 1502323262000 };
	ok(audit_log(a, 0, &e1), "blocked logged");
	ok(audit_log(a, 0, &e2), "cname-blocked logged");
	ok(audit_log(a, 0, &e3), "acl-denied logged");
	ok(audit_log(a, 0, &e4), "rate-limited (no question) logged");
	/* A zone's trigger: the trigger matched and the zone, no file or line. */
	struct audit_event e5 = { .kind = AUDIT_BLOCKED, .transport = AUDIT_UDP,
		.client = (struct sockaddr *)&c4, .qname = q3, .qname_len = l3, .qtype = 1,
		.entry_name = q3 + 8, .entry_name_len = l3 - 8, .zone = "rpz.example",
		.action = "nxdomain", .time_ms = 1502323263000 };
	ok(audit_log(a, 0, &e5), "a zone's trigger logged");
	is_int(audit_flush(a, 5000), 0, "flush");
	audit_free(a);

	char *got = slurp(path, NULL);
	is_str(got,
		"{\"time\":\"2017-08-10T00:00:00.123Z\",\"event\":\"blocked\",\"client\":\"192.0.2.0\","
		"\"transport\":\"udp\",\"qname\":\"Venus.Web.Telegram.org.\",\"qtype\":\"A\","
		"\"entry\":\"venus.web.telegram.org\",\"file\":\"/etc/blokir/blokir.yaml\",\"line\":54,"
		"\"action\":\"nxdomain\",\"reason\":\"Roskomnadzor \\\"order\\\" 2017\\\\1\","
		"\"ref\":\"27-31-2017/Id2971-17\"}\n"
		"{\"time\":\"2017-08-10T00:00:00.004Z\",\"event\":\"cname-blocked\","
		"\"client\":\"2001:db8:aaaa::\",\"transport\":\"tcp\",\"qname\":\"wWw.example.com.\","
		"\"qtype\":\"AAAA\",\"target\":\"tracker.example.net.\","
		"\"entry\":\"example.net\",\"list\":\"/etc/blokir/trackers.txt\","
		"\"list-item-line\":12,\"action\":\"redirect\","
		"\"reason\":\"line\\u000abreak\"}\n"
		"{\"time\":\"2017-08-10T00:01:01.999Z\",\"event\":\"acl-denied\",\"client\":\"192.0.2.0\","
		"\"transport\":\"udp\",\"qname\":\"a\\\\.b.\\\\\\\".\",\"qtype\":\"HTTPS\","
		"\"action\":\"refused\"}\n"
		"{\"time\":\"2017-08-10T00:01:02.000Z\",\"event\":\"rate-limited\",\"client\":\"192.0.2.0\","
		"\"transport\":\"udp\",\"action\":\"drop\"}\n"
		"{\"time\":\"2017-08-10T00:01:03.000Z\",\"event\":\"blocked\",\"client\":\"192.0.2.0\","
		"\"transport\":\"udp\",\"qname\":\"tracker.example.net.\",\"qtype\":\"A\","
		"\"entry\":\"example.net\",\"zone\":\"rpz.example\",\"action\":\"nxdomain\"}\n",
		"the five lines, exactly");
	free(got);

	/* Whole addresses with the default prefixes. */
	snprintf(path, sizeof(path), "%s/whole.log", dir);
	o.ipv4_prefix = 32;
	o.ipv6_prefix = 128;
	o.producers = 1;
	a = audit_new(&o);
	e1.client = (struct sockaddr *)&c6;
	e1.reason = e1.ref = NULL;
	audit_log(a, 0, &e1);
	e1.client = (struct sockaddr *)&c4;
	audit_log(a, 0, &e1);
	audit_free(a); /* writes what is pending */
	got = slurp(path, NULL);
	ok(got != NULL && strstr(got, "\"client\":\"2001:db8:aaaa:bbbb::1\"") != NULL &&
		strstr(got, "\"client\":\"192.0.2.77\"") != NULL && strstr(got, "reason") == NULL,
		"/32 and /128 keep the whole address; absent reason and ref are left out");
	free(got);
}

/* A rule's texts for tail key KEY (an index into rules[]), counting the look-ups. */
struct rule_texts {
	const char *entry, *list, *zone, *action, *reason, *ref;
	unsigned line;
};
static struct rule_texts rules[300];
static unsigned texts_calls;

static void texts_of(const void *key, struct audit_event *ev)
{
	const struct rule_texts *r = key;

	texts_calls++;
	ev->entry = r->entry;
	ev->list = r->list;
	ev->zone = r->zone;
	ev->action = r->action;
	ev->reason = r->reason;
	ev->ref = r->ref;
	ev->line = r->line;
}

static char *text_of(unsigned seed, unsigned len, bool odd)
{
	char *s = malloc(len + 1);

	for (unsigned i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		s[i] = (char)('a' + (seed >> 16) % 26);
		if (odd && (seed >> 8) % 7 == 0)
			s[i] = "\"\\\n\x01\x7f\xc3"[(seed >> 12) % 6];
	}
	s[len] = '\0';
	return s;
}

/*
 * The caches change nothing in the lines: many rules (more than the caches' slots, some texts
 * too long for them, some with bytes to escape, question names with and without such bytes),
 * each logged many times, give byte for byte the file the same events give without tail keys;
 * a rule's texts are looked up once, and again only after audit_forget.
 */
static void test_caches(void)
{
	char p1[256], p2[256];
	snprintf(p1, sizeof(p1), "%s/keyed.log", dir);
	snprintf(p2, sizeof(p2), "%s/plain.log", dir);
	struct audit_options o = { .path = p1, .config_path = "/etc/blokir/\"odd\".yaml",
		.producers = 1, .ring_bytes = 32 << 20, .ipv4_prefix = 24, .ipv6_prefix = 56 };
	struct audit *keyed = audit_new(&o);
	o.path = p2;
	struct audit *plain = audit_new(&o);
	static const char *const actions[] = { "nxdomain", "redirect", "refused", "drop" };
	size_t n = sizeof(rules) / sizeof(rules[0]);
	uint8_t q[256];
	char qtext[64];
	bool same_texts = true;

	if (!ok(keyed != NULL && plain != NULL, "two audit logs open"))
		return;
	for (size_t i = 0; i < n; i++) {
		struct rule_texts *r = &rules[i];
		unsigned origin = i % 3, len = i % 50 == 0 ? 700 : 5 + i % 40;
		r->entry = origin == 0 ? text_of((unsigned)i, 4 + i % 20, i % 4 == 0) : NULL;
		r->list = origin == 1 ? text_of((unsigned)i + 1000, 20, false) : NULL;
		r->zone = origin == 2 ? text_of((unsigned)i + 2000, 12, i % 5 == 0) : NULL;
		r->action = actions[i % 4];
		r->reason = i % 3 != 1 ? text_of((unsigned)i + 3000, len, i % 4 == 1) : NULL;
		r->ref = i % 2 ? text_of((unsigned)i + 4000, 9, false) : NULL;
		r->line = origin == 2 ? 0 : 10 + (unsigned)i;
	}
	texts_calls = 0;
	for (unsigned k = 0; k < 6000; k++) {
		size_t ri = k % 7 ? k % 17 : (k * 7919u) % n; /* a few hot rules, the rest cold */
		struct rule_texts *r = &rules[ri];
		snprintf(qtext, sizeof(qtext), "q%u.%s.example", k % 97, k % 13 ? "www" : "w(w)w");
		size_t ql = wire(qtext, q);
		struct sockaddr_in c4 = v4(k % 3 ? "192.0.2.77" : "198.51.100.9");
		struct sockaddr_in6 c6 = v6(k % 2 ? "2001:db8::1" : "2001:db8:0:ff::7");
		struct audit_event ev = { .kind = (enum audit_kind)(k % AUDIT_KIND_COUNT),
			.transport = k % 5 ? AUDIT_UDP : AUDIT_TCP,
			.client = k % 4 ? (struct sockaddr *)&c4 : (struct sockaddr *)&c6,
			.qname = q, .qname_len = ql, .qtype = (uint16_t)(k % 300),
			.entry_name = r->entry == NULL ? q + 1 + q[0] : NULL,
			.entry_name_len = r->entry == NULL ? ql - 1 - q[0] : 0,
			.time_ms = 1502323200000 + k * 37 };
		struct audit_event full = ev;
		texts_of(r, &full);
		texts_calls--;
		ev.tail_key = r;
		ev.texts = texts_of;
		if (!audit_log(keyed, 0, &ev) || !audit_log(plain, 0, &full))
			same_texts = false;
	}
	ok(same_texts, "6000 events logged to both");
	unsigned calls = texts_calls;
	ok(calls >= 17 && calls < 1500, "texts looked up once per rule and cache slot (%u)", calls);
	struct audit_event ev = { .kind = AUDIT_BLOCKED, .tail_key = &rules[1], .texts = texts_of,
		.time_ms = 1502323300000 };
	audit_log(keyed, 0, &ev);
	audit_log(keyed, 0, &ev);
	is_int(texts_calls, calls, "a cached rule: no look-up");
	audit_forget(keyed, 0);
	audit_log(keyed, 0, &ev);
	is_int(texts_calls, calls + 1, "after audit_forget the texts are looked up again");
	texts_of(&rules[1], &ev);
	ev.tail_key = NULL;
	ev.texts = NULL;
	for (int i = 0; i < 3; i++)
		audit_log(plain, 0, &ev);
	audit_free(keyed);
	audit_free(plain);
	size_t l1, l2;
	char *a1 = slurp(p1, &l1), *a2 = slurp(p2, &l2);
	ok(a1 != NULL && a2 != NULL && l1 == l2 && memcmp(a1, a2, l1) == 0,
		"the lines with the caches are byte for byte those without (%zu bytes)", l1);
	ok(a1 != NULL && strstr(a1, "\"qname\":\"q1.w\\\\(w\\\\)w.example.\"") != NULL,
		"a name with bytes to escape is escaped");
	free(a1);
	free(a2);
	for (size_t i = 0; i < n; i++) {
		free((char *)rules[i].entry);
		free((char *)rules[i].list);
		free((char *)rules[i].zone);
		free((char *)rules[i].reason);
		free((char *)rules[i].ref);
	}
}

/*
 * How many of PATH's first N lines, from their "client" key on, are the N texts at WANT
 * (STRIDE bytes apart); the first few that differ are shown.
 */
static unsigned same_lines(const char *path, const char *want, size_t stride, unsigned n)
{
	char *got = slurp(path, NULL), *line = got;
	unsigned same = 0;

	for (unsigned k = 0; k < n && line != NULL; k++) {
		char *end = strchr(line, '\n'), *start = strstr(line, "\"client\":");
		if (end == NULL || start == NULL)
			break;
		*end = '\0';
		if (strcmp(start, want + k * stride) == 0)
			same++;
		else if (k - same < 4)
			printf("# line %u: got %s\n#   want %s\n", k, start, want + k * stride);
		line = end + 1;
	}
	free(got);
	return same;
}

/* Reference presentation form of a wire name's labels, escaped for JSON, byte by byte: what
 * the writer's shortcuts (whole-name copies, 16 bytes tested at once) must give. */
static size_t ref_name(char *o, const uint8_t *name, size_t len, bool dot)
{
	size_t n = 0, i = 0;

	if (len == 0 || name[0] == 0) {
		o[n++] = '.';
		return n;
	}
	while (i < len && name[i] != 0) {
		size_t l = name[i++];
		for (size_t k = 0; k < l && i < len; k++, i++) { /* a label cut short: as it comes */
			unsigned c = name[i];
			if (c > 0x20 && c < 0x7f && strchr(".\\\"();@$", (int)c) == NULL)
				o[n++] = (char)c;
			else if (c == '"' || c == '\\')
				n += (size_t)sprintf(o + n, "\\\\\\%c", (int)c); /* \ then \" or \\ */
			else if (c > 0x20 && c < 0x7f)
				n += (size_t)sprintf(o + n, "\\\\%c", (int)c);
			else
				n += (size_t)sprintf(o + n, "\\\\%03u", c);
		}
		o[n++] = '.';
	}
	return dot ? n : n - 1;
}

/*
 * Names that are not one well-formed name give what the reference gives (the labels up to an
 * empty one, a label cut short by the name's end as far as it goes): a label of length 0 at
 * every place of names of 2..70 bytes (where the writer's walk marks two length bytes in a
 * row), the name cut 1..3 bytes short, and one byte too long (no root at the end).
 */
static void test_malformed_names(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/malformed.log", dir);
	struct audit_options o = { .path = path, .config_path = "/c.yaml", .producers = 1,
		.ring_bytes = 16 << 20, .ipv4_prefix = 32, .ipv6_prefix = 128 };
	struct audit *a = audit_new(&o);
	enum { N = 3000 };
	static char want[N][400];
	uint8_t q[80];
	unsigned seed = 11, made = 0;

	if (!ok(a != NULL, "audit_new for malformed names"))
		return;
	struct sockaddr_in c4 = v4("203.0.113.1");
	for (unsigned k = 0; made < N; k++) {
		size_t len = 0, total = 2 + k % 69;
		while (len + 2 < total) {
			seed = seed * 1103515245u + 12345u;
			size_t l = 1 + (seed >> 16) % 9;
			if (l > total - len - 2)
				l = total - len - 2;
			q[len++] = (uint8_t)l;
			for (size_t b = 0; b < l; b++)
				q[len++] = (uint8_t)('a' + (k + b) % 26);
		}
		q[len++] = 0;
		size_t at[80], m = 0;
		for (size_t i = 0; q[i] != 0; i += q[i] + 1u)
			at[m++] = i;
		unsigned how = k % 4;
		if (m == 0)
			continue;
		if (how == 0) { /* an empty label before one of the others */
			size_t j = at[(k / 4) % m];
			memmove(q + j + 1, q + j, len - j);
			q[j] = 0;
			len++;
		} else if (how < 3) {
			size_t cut = 1 + (k / 4) % 3;
			if (cut >= len)
				continue;
			len -= cut;
		} else {
			q[len - 1] = 'z';
		}
		struct audit_event ev = { .kind = AUDIT_ACL_DENIED, .transport = AUDIT_UDP,
			.client = (struct sockaddr *)&c4, .qname = q, .qname_len = len, .qtype = 1,
			.time_ms = 1502323200000 + k, .entry_name = q, .entry_name_len = len };
		char *w = want[made++];
		w += sprintf(w, "\"client\":\"203.0.113.1\",\"transport\":\"udp\",\"qname\":\"");
		w += ref_name(w, q, len, true);
		w += sprintf(w, "\",\"qtype\":\"A\",\"entry\":\"");
		w += ref_name(w, q, len, false);
		sprintf(w, "\"}");
		if (!audit_log(a, 0, &ev))
			break;
	}
	audit_free(a);
	is_int(same_lines(path, want[0], sizeof(want[0]), N), N, "names with an empty label, cut short or without their root: as the "
		"reference writes them");
}

/*
 * Names and texts of every length, with every byte value at every place in a 16-byte block,
 * give what the reference gives: the writer copies and tests them in blocks, so a mistake at a
 * block's edge or in the short cases would show here and nowhere else (the cache test above
 * compares the writer with itself).
 */
static void test_every_length(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/lengths.log", dir);
	struct audit_options o = { .path = path, .config_path = "/c.yaml", .producers = 1,
		.ring_bytes = 64 << 20, .ipv4_prefix = 32, .ipv6_prefix = 128 };
	struct audit *a = audit_new(&o);
	enum { N = 4000 };
	static char want[N][3000];
	uint8_t q[256];
	char text[400];
	unsigned seed = 7;

	if (!ok(a != NULL, "audit_new for names of every length"))
		return;
	struct sockaddr_in6 c6 = v6("2001:db8:1234:5678:9abc:def0:1234:5678");
	struct sockaddr_in c4 = v4("203.0.113.255");
	for (unsigned k = 0; k < N; k++) {
		/* labels of 1..63 bytes up to a total of 2..255, mostly plain; an odd byte (any
		 * value, 256 of them over the blocks' 16 places) in every third name */
		size_t len = 0, total = 2 + (k * 37u) % 254;
		while (len + 2 < total) {
			seed = seed * 1103515245u + 12345u;
			size_t l = 1 + (seed >> 16) % 63;
			if (l > total - len - 2)
				l = total - len - 2;
			q[len++] = (uint8_t)l;
			for (size_t b = 0; b < l; b++)
				q[len++] = (uint8_t)("abcdefghijklmnopqrstuvwxyz0123456789-_"[(k + b) % 38]);
		}
		q[len++] = 0;
		if (k % 3 == 0 && q[0] != 0) {
			size_t at[256], m = 0;
			for (size_t i = 0; q[i] != 0; i += q[i] + 1u)
				for (size_t b = 1; b <= q[i]; b++)
					at[m++] = i + b;
			q[at[(k / 3 * 7u) % m]] = (uint8_t)((k / 3) % 256);
		}
		bool entry = k % 2;
		size_t tl = k % 301;
		for (size_t i = 0; i < tl; i++)
			text[i] = (char)('A' + (i + k) % 26);
		text[tl] = '\0';
		struct audit_event ev = { .kind = AUDIT_ACL_DENIED, .transport = AUDIT_UDP,
			.client = k % 2 ? (struct sockaddr *)&c6 : (struct sockaddr *)&c4,
			.qname = q, .qname_len = len, .qtype = 1, .action = "refused",
			.reason = tl > 0 ? text : NULL, .time_ms = 1502323200000 + k,
			.entry_name = entry ? q : NULL, .entry_name_len = entry ? len : 0 };
		char *w = want[k];
		w += sprintf(w, "\"client\":\"%s\",\"transport\":\"udp\",\"qname\":\"",
			k % 2 ? "2001:db8:1234:5678:9abc:def0:1234:5678" : "203.0.113.255");
		w += ref_name(w, q, len, true);
		w += sprintf(w, "\",\"qtype\":\"A\"");
		if (entry) {
			w += sprintf(w, ",\"entry\":\"");
			w += ref_name(w, q, len, false);
			w += sprintf(w, "\"");
		}
		w += sprintf(w, ",\"action\":\"refused\"");
		if (tl > 0)
			sprintf(w, ",\"reason\":\"%s\"}", text);
		else
			sprintf(w, "}");
		if (!audit_log(a, 0, &ev))
			break;
	}
	audit_free(a);
	is_int(same_lines(path, want[0], sizeof(want[0]), N), N, "names of 1..255 bytes with any byte anywhere, texts of 0..300 bytes: "
		"as the reference writes them");
}

struct burst {
	struct audit *a;
	unsigned producer;
	unsigned n;                /* records to log; 0: until STOP */
	_Atomic bool *stop;
	_Atomic unsigned accepted, dropped;
};

/* Burst rules: more of them than the tail slots, so slots change hands all the time. */
#define BURST_RULES 100
static char burst_entry[BURST_RULES][16];

static void *burst_main(void *arg)
{
	struct burst *b = arg;
	uint8_t q[BURST_RULES][256];
	size_t l[BURST_RULES];
	struct sockaddr_in c = v4("127.0.0.1");
	char name[32];

	for (unsigned k = 0; k < BURST_RULES; k++) {
		snprintf(name, sizeof(name), "q%u.r%u.example", k, k);
		l[k] = wire(name, q[k]);
	}
	for (unsigned i = 0; b->n ? i < b->n : !atomic_load(b->stop); i++) {
		/* Rule K's line: its question names K too, so a line with another rule's texts
		 * (a tail slot read out of turn) would show. */
		unsigned k = (i * 7u) % BURST_RULES;
		struct audit_event e = { .kind = AUDIT_BLOCKED, .client = (struct sockaddr *)&c,
			.qname = q[k], .qname_len = l[k], .qtype = 1, .entry = burst_entry[k],
			.line = 3, .action = "nxdomain",
			.reason = "a reason of some length to fill the ring faster",
			.tail_key = burst_entry[k] };
		if (audit_log(b->a, b->producer, &e))
			b->accepted++;
		else
			b->dropped++;
		if (i % 64 == 0)
			usleep(200); /* a steady stream rather than one spike */
	}
	return NULL;
}

static void test_rotate(void)
{
	char path[256], moved[256];
	struct burst b[2];
	pthread_t t[2];
	_Atomic bool stop = false;
	struct audit_options o = { .producers = 2, .ring_bytes = 8 << 20, .ipv4_prefix = 32,
		.ipv6_prefix = 128, .config_path = "x.yaml" };

	snprintf(path, sizeof(path), "%s/rot.log", dir);
	o.path = path;
	struct audit *a = audit_new(&o);
	if (!ok(a != NULL, "audit_new for the rotation burst"))
		return;
	for (unsigned i = 0; i < 2; i++) {
		b[i] = (struct burst){ .a = a, .producer = i, .stop = &stop };
		pthread_create(&t[i], NULL, burst_main, &b[i]);
	}
	/* logrotate without copytruncate: rename, then tell the daemon to reopen; each time once the
	 * current file has lines, so that a starved writer thread cannot make the files empty. */
	for (int r = 1; r <= 4; r++) {
		for (int w = 0; w < 500 && count_lines(path) == 0; w++)
			usleep(10000);
		if (r == 4)
			break;
		snprintf(moved, sizeof(moved), "%s/rot.log.%d", dir, r);
		rename(path, moved);
		audit_reopen(a);
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	is_int(audit_flush(a, 10000), 0, "flush after the burst");
	audit_free(a);

	size_t total = count_lines(path), accepted = b[0].accepted + b[1].accepted;
	size_t parts[3];
	for (int r = 1; r <= 3; r++) {
		snprintf(moved, sizeof(moved), "%s/rot.log.%d", dir, r);
		parts[r - 1] = count_lines(moved);
		total += parts[r - 1];
	}
	is_int(b[0].dropped + b[1].dropped, 0, "nothing dropped with an 8 MiB ring");
	is_int(total, accepted, "lines over the four files == records logged (%zu)", accepted);
	ok(parts[0] > 0 && parts[1] > 0 && parts[2] > 0 && count_lines(path) > 0,
		"each of the four files got lines (%zu %zu %zu %zu)", parts[0], parts[1], parts[2],
		count_lines(path));
}

static void test_stuck_writer(void)
{
	char path[256];
	struct audit_options o = { .producers = 1, .ring_bytes = 0, .ipv4_prefix = 32,
		.ipv6_prefix = 128, .config_path = "x.yaml" };
	struct burst b = { .n = 20000 };
	_Atomic bool never = false;
	b.stop = &never;
	struct timespec t0, t1;

	snprintf(path, sizeof(path), "%s/fifo", dir);
	mkfifo(path, 0600);
	/* Our own end open read-write so the writer's open does not wait; nobody reads yet, so
	 * its writes stop once the pipe holds 64 KiB: a disk that has stopped answering. */
	int rfd = open(path, O_RDWR | O_NONBLOCK);
	o.path = path;
	b.a = audit_new(&o);
	if (!ok(b.a != NULL && rfd >= 0, "audit_new on a FIFO nobody reads"))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	burst_main(&b);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ok(b.dropped > 0, "a full ring drops (%u dropped, %u accepted)", b.dropped, b.accepted);
	ok(secs < 5.0, "the producer never waited on the writer (%.2f s for %u records)", secs, b.n);

	/* Now drain the pipe: every accepted record comes out as one line, with its own rule's
	 * texts although the records that set the tail slots were dropped along with lines. */
	size_t lines = 0, len = 0, cap = 16 << 20, wrong = 0;
	char *buf = malloc(cap + 1);
	int idle = 0;
	while (idle < 50 && buf != NULL && len < cap) {
		ssize_t r = read(rfd, buf + len, cap - len);
		if (r > 0) {
			len += (size_t)r;
			idle = 0;
		} else {
			idle++;
			usleep(10000);
		}
	}
	for (char *line = buf, *end; buf != NULL && line < buf + len; line = end + 1) {
		unsigned k1, k2, k3;
		if ((end = memchr(line, '\n', (size_t)(buf + len - line))) == NULL)
			break;
		*end = '\0';
		lines++;
		const char *qn = strstr(line, "\"qname\":\"q"), *en = strstr(line, "\"entry\":\"r");
		if (qn == NULL || en == NULL || sscanf(qn, "\"qname\":\"q%u.r%u.", &k1, &k2) != 2 ||
		    sscanf(en, "\"entry\":\"r%u.", &k3) != 1 || k1 != k3 || k2 != k3)
			wrong++;
	}
	free(buf);
	is_int(lines, b.accepted, "every accepted record was written");
	is_int(wrong, 0, "each line has its own rule's texts");
	audit_free(b.a);
	close(rfd);
}

/* Logs N lines for names "tK.example" from K = FIRST on and waits for them to be written. */
static void log_named(struct audit *a, unsigned first, unsigned n)
{
	struct sockaddr_in c = v4("192.0.2.1");
	uint8_t q[64];
	char name[32];

	for (unsigned k = first; k < first + n; k++) {
		snprintf(name, sizeof(name), "t%u.example", k);
		struct audit_event e = { .kind = AUDIT_BLOCKED, .client = (struct sockaddr *)&c,
			.qname = q, .qname_len = wire(name, q), .qtype = 1, .entry = "example",
			.line = 7, .action = "nxdomain", .time_ms = 1502323200000 + k };
		audit_log(a, 0, &e);
	}
	audit_flush(a, 5000);
}

/*
 * A write cut short in the middle of a line (a file size limit: RLIMIT_FSIZE, EFBIG): the lines
 * not wholly written are counted as lost, the cut one among them; the next line written starts
 * after a newline that ends the torn one, and that newline is not counted as a lost line when
 * the disk fails it as well.
 */
static void test_torn(void)
{
	char path[256];
	struct audit_options o = { .producers = 1, .ring_bytes = 0, .ipv4_prefix = 32,
		.ipv6_prefix = 128, .config_path = "x.yaml" };

	snprintf(path, sizeof(path), "%s/torn.log", dir);
	o.path = path;
	struct audit *a = audit_new(&o);
	if (!ok(a != NULL, "audit_new for the torn line"))
		return;
	log_named(a, 10, 1); /* "t10" .. "t99": lines of one length */
	size_t len;
	free(slurp(path, &len));
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 3 * len + len / 2; /* two more lines and half of the third */
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &lim);
	log_named(a, 11, 10);
	is_int(audit_write_failed(a), 8, "a limit in the third of ten lines: 8 of them lost");
	log_named(a, 21, 3); /* still over the limit: the newline cannot go either */
	is_int(audit_write_failed(a), 11, "three more lines at the limit: 3 more lost (the "
		"torn line's newline is not a line)");
	setrlimit(RLIMIT_FSIZE, &old);
	log_named(a, 24, 5);
	is_int(audit_write_failed(a), 11, "limit lifted: the next lines are written");
	audit_free(a);

	char *got = slurp(path, &len), *p = got;
	ok(got != NULL && strstr(got, "\"qname\":\"t12.example.\"") != NULL &&
	    strstr(got, "\"qname\":\"t13.example.\"") == NULL,
		"the file has the lines before the cut (t12), not the cut one (t13)");
	ok(got != NULL && len > 0 && got[len - 1] == '\n' &&
	    strstr(got, "\"qname\":\"t28.example.\"") != NULL, "... and t28 last, whole");
	size_t lines = 0, whole = 0;
	for (char *end; p != NULL && (end = strchr(p, '\n')) != NULL; p = end + 1) {
		*end = '\0';
		lines++;
		whole += p[0] == '{' && end > p && end[-1] == '}';
	}
	is_int(lines, 9, "9 lines: 3 whole, the torn one ended by a newline, the 5 later ones");
	is_int(whole, 8, "... and all of them but the torn one are whole");
	free(got);
}

/* Logs N lines for names "hK.example" from K = FIRST on, without waiting for them. */
static void log_many(struct audit *a, unsigned first, unsigned n)
{
	struct sockaddr_in c = v4("192.0.2.7");
	uint8_t q[64];
	char name[32];

	for (unsigned k = first; k < first + n; k++) {
		snprintf(name, sizeof(name), "h%u.example", k);
		struct audit_event e = { .kind = AUDIT_BLOCKED, .client = (struct sockaddr *)&c,
			.qname = q, .qname_len = wire(name, q), .qtype = 1, .entry = "example",
			.line = 7, .action = "nxdomain", .time_ms = 1502323200000 + k };
		audit_log(a, 0, &e);
	}
}

/*
 * A busy pass (HOLD_BYTES and more) leaves its last partial block in the stage for the next
 * pass where the file takes O_DIRECT: between the two the file ends on a block's edge, and the
 * next pass, quiet, writes the rest. A flush and the stop still find every line in the file.
 */
static void test_busy_pass(void)
{
	char path[256];
	struct audit_options o = { .producers = 1, .ring_bytes = 8u << 20, .ipv4_prefix = 32,
		.ipv6_prefix = 128, .config_path = "x.yaml" };

	snprintf(path, sizeof(path), "%s/busy.log", dir);
	o.path = path;
	struct appendlog *probe = appendlog_open(path);
	bool direct = probe != NULL && appendlog_direct(probe);
	appendlog_close(probe);
	struct audit *a = audit_new(&o);
	if (!ok(a != NULL, "audit_new for busy passes"))
		return;
	unsigned total = 0, short_flush = 0;
	for (int r = 0; r < 10; r++) {
		log_many(a, total, 1000); /* ~120 KB: a busy pass */
		total += 1000;
		audit_flush(a, 5000);
		size_t len;
		char *got = slurp(path, &len);
		short_flush += count_lines(path) != total || len == 0 || got[len - 1] != '\n';
		free(got);
	}
	is_int(short_flush, 0, "after every flush of a busy pass, every line is in the file");
	if (direct) {
		/* No flush: the tick's pass holds the partial block; a later, quiet one writes it. */
		log_many(a, total, 1000);
		total += 1000;
		bool held = false;
		struct stat st;
		for (int w = 0; w < 400 && count_lines(path) != total; w++) {
			held |= stat(path, &st) == 0 && st.st_size % 4096 == 0 &&
				count_lines(path) < total;
			usleep(1000);
		}
		ok(held, "a busy pass left the file on a block's edge for a moment (O_DIRECT)");
		is_int(count_lines(path), total, "... and the next pass wrote the rest");
	} else {
		ok(1, "# skip the file system refuses O_DIRECT: nothing is held");
		ok(1, "# skip ... (no partial block to write later)");
	}
	log_many(a, total, 1000);
	total += 1000;
	audit_free(a);
	is_int(count_lines(path), total, "the stop writes every line, the partial block too");
}

static void test_bad_path(void)
{
	struct audit_options o = { .path = "/nonexistent-dir/audit.log", .producers = 1 };
	ok(audit_new(&o) == NULL, "audit_new fails on a path that cannot be created");
}

int main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	for (unsigned k = 0; k < BURST_RULES; k++) /* before any burst thread reads them */
		snprintf(burst_entry[k], sizeof(burst_entry[k]), "r%u.example", k);
	test_lines();
	test_caches();
	test_every_length();
	test_malformed_names();
	test_rotate();
	test_stuck_writer();
	test_torn();
	test_busy_pass();
	test_bad_path();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_exit();
}
