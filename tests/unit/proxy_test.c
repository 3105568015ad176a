/*
 * proxy_test: the per-query decision with the network replaced by fakes. proxy is given a forward
 * callback that only records what it was asked to send upstream, and reply callbacks that record
 * what would go to the client; upstream answers are made with ldns, checked by wire_check_answer
 * as upstream.c checks them, and handed to proxy_answer as upstream.c would. No socket, no event
 * loop: what is checked is what proxy decides — blocked (each action, EDE, the SOA owner),
 * forwarded, relayed, CNAME-cloaked (inspect-answers), cached (hit, spelling, policy change),
 * truncated, and the error and SERVFAIL answers.
 */
#include "proxy.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "cache.h"
#include "config.h"
#include "diag.h"
#include "log.h"
#include "policy.h"
#include "stats.h"
#include "tap.h"
#include "testquery.h"

/* ---- the fakes ---- */

struct fake {
	unsigned forwards, replies, queued;
	uint8_t fwd[4096];      /* the last query forwarded */
	size_t fwd_len;
	struct client_ref fwd_client;
	uint8_t out[65536];     /* the last reply, either kind */
	size_t out_len;
};

static struct fake fk;

static void fake_forward(void *arg, const struct wire_query *q, const struct client_ref *c)
{
	(void)arg;
	fk.forwards++;
	memcpy(fk.fwd, q->packet, q->length);
	fk.fwd_len = q->length;
	fk.fwd_client = *c;
}

static void fake_reply(void *arg, const struct client_ref *c, const uint8_t *ans, size_t len)
{
	(void)arg;
	(void)c;
	fk.replies++;
	memcpy(fk.out, ans, len);
	fk.out_len = len;
}

static void fake_reply_queued(void *arg, const struct client_ref *c, const uint8_t *ans,
	size_t len)
{
	(void)arg;
	(void)c;
	fk.queued++;
	memcpy(fk.out, ans, len);
	fk.out_len = len;
}

/* ---- set-up ---- */

static const char policy_yaml[] =
	"listen: [\"127.0.0.1:5353\"]\n"
	"upstreams: [\"127.0.0.1:53\"]\n"
	"negative-ttl: 77\n"
	"redirect: { a: [192.0.2.99] }\n"
	"%s"
	"domains:\n"
	"  - name: t.me\n"
	"    reason: \"Kominfo order\"\n"
	"    ref: \"L-17\"\n"
	"  - name: ok.t.me\n"
	"    action: allow\n"
	"  - name: nd.blocked.test\n"
	"    action: nodata\n"
	"  - name: rf.blocked.test\n"
	"    action: refused\n"
	"  - name: dr.blocked.test\n"
	"    action: drop\n"
	"  - name: rd.blocked.test\n"
	"    action: redirect\n"
	"  - name: exempt.example.test\n"
	"    action: allow\n";

struct env {
	struct config *cfg;
	_Atomic(struct policy *) policy;
	struct stats stats;
	struct proxy *p;
};

static struct config *load(const char *extra, struct policy **pol)
{
	char path[] = "/tmp/proxy_test.XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	struct diag *d = diag_new();
	struct config *cfg;

	if (f == NULL || d == NULL) {
		printf("Bail out! cannot write a config\n");
		exit(1);
	}
	fprintf(f, policy_yaml, extra);
	fclose(f);
	cfg = config_load(path, d);
	*pol = cfg != NULL ? policy_new(cfg, d) : NULL;
	unlink(path);
	if (*pol == NULL) {
		for (size_t i = 0; i < diag_count(d); i++)
			printf("# %s\n", diag_get(d, i));
		printf("Bail out! the test policy did not load\n");
		exit(1);
	}
	diag_free(d);
	return cfg;
}

static void env_init(struct env *e, const char *extra)
{
	struct policy *pol;

	memset(e, 0, sizeof(*e));
	e->cfg = load(extra, &pol);
	atomic_store(&e->policy, pol);
	e->p = proxy_new(&(struct proxy_env){ .cfg = e->cfg, .policy = &e->policy,
		.stats = &e->stats, .forward = fake_forward, .reply = fake_reply,
		.reply_queued = fake_reply_queued });
	if (e->p == NULL) {
		printf("Bail out! proxy_new\n");
		exit(1);
	}
	memset(&fk, 0, sizeof(fk));
}

static void env_release(struct env *e)
{
	proxy_free(e->p);
	policy_free(atomic_load(&e->policy));
	config_free(e->cfg);
	cache_wait_detached();
}

static uint64_t stat(const struct env *e, enum stat_id id)
{
	return atomic_load(&e->stats.c[id]);
}

/* ---- packets ---- */

static struct sockaddr_storage peer;
static const struct client_ref udp_client = { NULL, 3, sizeof(struct sockaddr_in),
	(const struct sockaddr *)&peer };

/* A query for NAME/TYPE with ID, RD set, with EDNS (UDP size EDNS, DO clear) when EDNS > 0. */
static size_t query(const char *name, ldns_rr_type type, uint16_t id, uint16_t edns,
	uint8_t *out)
{
	return test_query_wire(name, type, id, edns, out);
}

/*
 * What an upstream would send for the query QRY (QLEN bytes): its ID and question, RCODE, the
 * records RRS (NULL-terminated, zone-file text) in the answer section, and an OPT when the query
 * had one. The ID is the client's, as after upstream.c restored it.
 */
static size_t answer(const uint8_t *qry, size_t qlen, ldns_pkt_rcode rcode,
	const char *const *rrs, uint8_t *out)
{
	ldns_pkt *q = NULL, *a;
	uint8_t *w = NULL;
	size_t len = 0;

	if (ldns_wire2pkt(&q, qry, qlen) != LDNS_STATUS_OK) {
		printf("Bail out! wire2pkt\n");
		exit(1);
	}
	a = ldns_pkt_clone(q);
	ldns_pkt_set_qr(a, true);
	ldns_pkt_set_ra(a, true);
	ldns_pkt_set_rcode(a, (uint8_t)rcode);
	for (size_t i = 0; rrs != NULL && rrs[i] != NULL; i++) {
		ldns_rr *rr = NULL;
		if (ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL) != LDNS_STATUS_OK) {
			printf("Bail out! rr %s\n", rrs[i]);
			exit(1);
		}
		ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr);
	}
	if (ldns_pkt2wire(&w, a, &len) != LDNS_STATUS_OK) {
		printf("Bail out! pkt2wire\n");
		exit(1);
	}
	memcpy(out, w, len);
	free(w);
	ldns_pkt_free(q);
	ldns_pkt_free(a);
	return len;
}

/* Checks ANS as upstream.c does, against the question of the query QRY. */
static void check(const uint8_t *qry, const uint8_t *ans, size_t len, struct wire_answer *a)
{
	struct wire_query q;

	if (wire_parse_query(qry, 512, &q) == WIRE_DROP || wire_check_answer(ans, len,
	    qry + WIRE_HEADER_LEN, q.qname_len, q.qtype, q.qclass, a) < 0) {
		printf("Bail out! the fake upstream answer does not check\n");
		exit(1);
	}
}

static ldns_pkt *parse(const uint8_t *w, size_t len)
{
	ldns_pkt *p = NULL;

	if (len == 0 || ldns_wire2pkt(&p, w, len) != LDNS_STATUS_OK)
		return NULL;
	return p;
}

static char *rr_field(const ldns_pkt *p, ldns_pkt_section s, size_t i, int what)
{
	ldns_rr_list *l = ldns_pkt_get_section_clone(p, s);
	char *text = NULL;

	if (l != NULL && i < ldns_rr_list_rr_count(l)) {
		ldns_rr *rr = ldns_rr_list_rr(l, i);
		text = what < 0 ? ldns_rdf2str(ldns_rr_owner(rr)) :
			ldns_rdf2str(ldns_rr_rdf(rr, (size_t)what));
	}
	ldns_rr_list_deep_free(l);
	return text;
}

/* Checks the synthesized answer in OUT: RCODE, ID, and the SOA owner (NULL: no SOA). */
static void is_answer(const uint8_t *out, size_t n, ldns_pkt_rcode rcode, uint16_t id,
	const char *soa_owner, const char *what)
{
	ldns_pkt *p = parse(out, n);
	char *owner;

	if (!ok(p != NULL, "%s: an answer that parses", what))
		return;
	is_int(ldns_pkt_get_rcode(p), rcode, "%s: rcode", what);
	is_int(ldns_pkt_id(p), id, "%s: the client's ID", what);
	ok(ldns_pkt_qr(p), "%s: QR", what);
	if (soa_owner == NULL) {
		is_int(ldns_pkt_nscount(p), 0, "%s: no SOA", what);
	} else {
		owner = rr_field(p, LDNS_SECTION_AUTHORITY, 0, -1);
		is_str(owner, soa_owner, "%s: SOA owner", what);
		free(owner);
	}
	ldns_pkt_free(p);
}

/* ---- the tests ---- */

static void test_blocked(void)
{
	struct env e;
	uint8_t q[512], out[4096];
	size_t qlen, n;
	ldns_pkt *p;
	char *text;

	env_init(&e, "");
	qlen = query("t.me.", LDNS_RR_TYPE_A, 0x1234, 0, q);
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	is_answer(out, n, LDNS_RCODE_NXDOMAIN, 0x1234, "t.me.", "blocked t.me");
	is_int(fk.forwards, 0, "blocked: nothing forwarded");
	is_int(fk.replies + fk.queued, 0, "blocked: the answer is returned, not sent");

	qlen = query("www.T.me.", LDNS_RR_TYPE_AAAA, 0x2345, 1232, q);
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	is_answer(out, n, LDNS_RCODE_NXDOMAIN, 0x2345, "T.me.",
		"blocked below t.me: the SOA owned by the listed name, as the client spelled it");
	p = parse(out, n);
	ok(p != NULL && ldns_pkt_edns(p), "blocked with EDNS: an OPT in the answer");
	if (p != NULL && ldns_pkt_edns_data(p) != NULL) {
		const ldns_rdf *opt = ldns_pkt_edns_data(p);
		const uint8_t *d = ldns_rdf_data(opt);
		size_t dl = ldns_rdf_size(opt);
		ok(dl >= 6 && d[0] == 0 && d[1] == 15 && d[4] == 0 && d[5] == 16,
			"blocked with EDNS: Extended DNS Error 16 (Censored)");
		ok(dl >= 6 && memmem(d + 6, dl - 6, "Kominfo order (ref L-17)", 24) != NULL,
			"blocked with EDNS: EXTRA-TEXT is the reason with its ref");
	}
	ldns_pkt_free(p);

	qlen = query("x.nd.blocked.test.", LDNS_RR_TYPE_A, 1, 0, q);
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	is_answer(out, n, LDNS_RCODE_NOERROR, 1, "nd.blocked.test.", "action nodata");
	qlen = query("rf.blocked.test.", LDNS_RR_TYPE_A, 2, 0, q);
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	is_answer(out, n, LDNS_RCODE_REFUSED, 2, NULL, "action refused");
	qlen = query("rd.blocked.test.", LDNS_RR_TYPE_A, 3, 0, q);
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	p = parse(out, n);
	text = p != NULL ? rr_field(p, LDNS_SECTION_ANSWER, 0, 0) : NULL;
	is_str(text, "192.0.2.99", "action redirect: the landing address");
	free(text);
	ldns_pkt_free(p);

	qlen = query("dr.blocked.test.", LDNS_RR_TYPE_A, 4, 0, q);
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	is_int(n, 0, "action drop: no answer");
	is_int(fk.forwards + fk.replies + fk.queued, 0, "action drop: nothing sent anywhere");
	is_int(stat(&e, STAT_BLOCKED), 6, "six queries counted blocked (drop too)");
	is_int(stat(&e, STAT_DROPPED), 1, "the drop counted dropped");
	env_release(&e);
}

static void test_forwarded(void)
{
	struct env e;
	uint8_t q[512], out[4096], ans[4096];
	size_t qlen, n, alen;
	struct wire_answer a;
	static const char *const rrs[] = { "www.example.com. 300 IN A 192.0.2.1", NULL };
	static const char *const rrs2[] = { "ok.t.me. 300 IN A 192.0.2.2", NULL };

	env_init(&e, "");
	qlen = query("www.example.com.", LDNS_RR_TYPE_A, 0x4242, 0, q);
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	is_int(n, 0, "unlisted name: nothing to send now");
	is_int(fk.forwards, 1, "unlisted name: forwarded");
	ok(fk.fwd_len == qlen && memcmp(fk.fwd, q, qlen) == 0, "forwarded: the query as received");
	is_int(fk.fwd_client.udp_fd, 3, "forwarded: with its client");
	is_int(stat(&e, STAT_BLOCKED), 0, "forwarded: not counted blocked");

	alen = answer(q, qlen, LDNS_RCODE_NOERROR, rrs, ans);
	check(q, ans, alen, &a);
	proxy_answer(e.p, &udp_client, ans, alen, &a, 512, fk.fwd, fk.fwd_len);
	is_int(fk.queued, 1, "upstream answer: relayed through the queued reply");
	ok(fk.out_len == alen && memcmp(fk.out, ans, alen) == 0, "upstream answer: unchanged");

	qlen = query("ok.t.me.", LDNS_RR_TYPE_A, 7, 0, q);
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	is_int(fk.forwards, 2, "allow rule below a blocked name: forwarded");
	alen = answer(q, qlen, LDNS_RCODE_NOERROR, rrs2, ans);
	check(q, ans, alen, &a);
	proxy_answer(e.p, &udp_client, ans, alen, &a, 512, fk.fwd, fk.fwd_len);
	is_int(fk.queued, 2, "allowed name's answer relayed");
	env_release(&e);
}

static void test_truncated(void)
{
	struct env e;
	uint8_t q[512], ans[65536];
	const char *rrs[41];
	char text[40][64];
	size_t qlen, alen;
	struct wire_answer a;
	ldns_pkt *p;

	env_init(&e, "");
	for (int i = 0; i < 40; i++) {
		snprintf(text[i], sizeof(text[i]), "big.example.com. 300 IN A 192.0.2.%d", i + 1);
		rrs[i] = text[i];
	}
	rrs[40] = NULL;
	qlen = query("big.example.com.", LDNS_RR_TYPE_A, 9, 0, q);
	proxy_query(e.p, q, qlen, &udp_client, ans, sizeof(ans));
	alen = answer(q, qlen, LDNS_RCODE_NOERROR, rrs, ans);
	ok(alen > 512, "a 40-address answer is over 512 bytes (%zu)", alen);
	check(q, ans, alen, &a);
	proxy_answer(e.p, &udp_client, ans, alen, &a, 512, fk.fwd, fk.fwd_len);
	ok(fk.queued == 1 && fk.out_len <= 512, "over the client's UDP size: cut to fit");
	p = parse(fk.out, fk.out_len);
	ok(p != NULL && ldns_pkt_tc(p) && ldns_pkt_ancount(p) == 0, "cut answer: TC, no records");
	ldns_pkt_free(p);
	is_int(stat(&e, STAT_TRUNCATED), 1, "counted truncated");
	env_release(&e);
}

static void test_cloaked(void)
{
	struct env e;
	uint8_t q[512], ans[4096];
	size_t qlen, alen;
	struct wire_answer a;
	static const char *const cloak[] = {
		"cdn.example.test. 300 IN CNAME tracker.t.me.",
		"tracker.t.me. 300 IN A 192.0.2.7", NULL };
	static const char *const exempt[] = {
		"exempt.example.test. 300 IN CNAME t.me.", "t.me. 300 IN A 192.0.2.8", NULL };
	static const char *const plain[] = {
		"cdn2.example.test. 300 IN CNAME edge.example.net.",
		"edge.example.net. 300 IN A 192.0.2.9", NULL };

	env_init(&e, "");
	qlen = query("cdn.example.test.", LDNS_RR_TYPE_A, 0x0c0c, 0, q);
	proxy_query(e.p, q, qlen, &udp_client, ans, sizeof(ans));
	alen = answer(q, qlen, LDNS_RCODE_NOERROR, cloak, ans);
	check(q, ans, alen, &a);
	ok(a.alias, "the answer has an alias");
	proxy_answer(e.p, &udp_client, ans, alen, &a, 512, fk.fwd, fk.fwd_len);
	is_int(fk.queued, 0, "CNAME to a blocked name: the upstream answer is not relayed");
	is_int(fk.replies, 1, "CNAME to a blocked name: answered at once");
	is_answer(fk.out, fk.out_len, LDNS_RCODE_NXDOMAIN, 0x0c0c, "t.me.",
		"CNAME to a blocked name: NXDOMAIN, SOA owned by the blocked name");
	is_int(stat(&e, STAT_CNAME_BLOCKED), 1, "counted cname-blocked");

	qlen = query("exempt.example.test.", LDNS_RR_TYPE_A, 5, 0, q);
	proxy_query(e.p, q, qlen, &udp_client, ans, sizeof(ans));
	alen = answer(q, qlen, LDNS_RCODE_NOERROR, exempt, ans);
	check(q, ans, alen, &a);
	proxy_answer(e.p, &udp_client, ans, alen, &a, 512, fk.fwd, fk.fwd_len);
	is_int(fk.queued, 1, "question under an allow rule: relayed though its CNAME is blocked");

	qlen = query("cdn2.example.test.", LDNS_RR_TYPE_A, 6, 0, q);
	proxy_query(e.p, q, qlen, &udp_client, ans, sizeof(ans));
	alen = answer(q, qlen, LDNS_RCODE_NOERROR, plain, ans);
	check(q, ans, alen, &a);
	proxy_answer(e.p, &udp_client, ans, alen, &a, 512, fk.fwd, fk.fwd_len);
	is_int(fk.queued, 2, "CNAME to an unlisted name: relayed");
	env_release(&e);

	env_init(&e, "inspect-answers: false\n");
	qlen = query("cdn.example.test.", LDNS_RR_TYPE_A, 0x0c0d, 0, q);
	proxy_query(e.p, q, qlen, &udp_client, ans, sizeof(ans));
	alen = answer(q, qlen, LDNS_RCODE_NOERROR, cloak, ans);
	check(q, ans, alen, &a);
	proxy_answer(e.p, &udp_client, ans, alen, &a, 512, fk.fwd, fk.fwd_len);
	ok(fk.queued == 1 && fk.replies == 0, "inspect-answers false: relayed as it came");
	env_release(&e);
}

static void test_cached(void)
{
	struct env e;
	uint8_t q[512], out[4096], ans[4096];
	size_t qlen, n, alen;
	struct wire_answer a;
	static const char *const rrs[] = { "www.example.com. 300 IN A 192.0.2.1", NULL };
	static const char *const cloak[] = {
		"cdn.example.test. 300 IN CNAME tracker.t.me.",
		"tracker.t.me. 300 IN A 192.0.2.7", NULL };
	ldns_pkt *p;
	char *owner;

	env_init(&e, "cache-size: 64\n");
	qlen = query("www.example.com.", LDNS_RR_TYPE_A, 100, 0, q);
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	ok(n == 0 && fk.forwards == 1, "cache miss: forwarded");
	alen = answer(q, qlen, LDNS_RCODE_NOERROR, rrs, ans);
	check(q, ans, alen, &a);
	proxy_answer(e.p, &udp_client, ans, alen, &a, 512, fk.fwd, fk.fwd_len);

	qlen = query("WWW.example.COM.", LDNS_RR_TYPE_A, 101, 0, q);
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	ok(n > 0 && fk.forwards == 1, "cache hit: answered at once, nothing forwarded");
	p = parse(out, n);
	owner = p != NULL ? rr_field(p, LDNS_SECTION_ANSWER, 0, -1) : NULL;
	ok(p != NULL && ldns_pkt_id(p) == 101, "cache hit: the new query's ID");
	ok(n > 12 + 3 && memcmp(out + WIRE_HEADER_LEN, q + WIRE_HEADER_LEN, 17) == 0,
		"cache hit: the question as this client spelled it");
	is_str(owner, "WWW.example.COM.", "cache hit: the cached record, its owner compressed to the question");
	free(owner);
	ldns_pkt_free(p);
	is_int(stat(&e, STAT_CACHE_HIT), 1, "counted cache-hits");

	qlen = query("www.example.com.", LDNS_RR_TYPE_A, 102, 1232, q);
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	ok(n == 0 && fk.forwards == 2, "same name with EDNS: another key, forwarded");

	/* A cached answer is inspected like a fresh one: here inspection is what the cache holds
	 * until a policy change, so store one that reaches a blocked name and look it up. */
	qlen = query("cdn.example.test.", LDNS_RR_TYPE_A, 103, 0, q);
	proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	alen = answer(q, qlen, LDNS_RCODE_NOERROR, cloak, ans);
	check(q, ans, alen, &a);
	proxy_answer(e.p, &udp_client, ans, alen, &a, 512, fk.fwd, fk.fwd_len);
	fk.replies = 0;
	qlen = query("cdn.example.test.", LDNS_RR_TYPE_A, 104, 0, q);
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	ok(n == 0 && fk.replies == 1, "cached answer with a blocked CNAME: answered by the rule");
	is_answer(fk.out, fk.out_len, LDNS_RCODE_NXDOMAIN, 104, "t.me.",
		"cached cloaked answer: NXDOMAIN with the blocked name's SOA");

	proxy_policy_changed(e.p);
	qlen = query("www.example.com.", LDNS_RR_TYPE_A, 105, 0, q);
	unsigned before = fk.forwards;
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	ok(n == 0 && fk.forwards == before + 1, "after a policy change the cache is empty");
	alen = answer(q, qlen, LDNS_RCODE_NOERROR, rrs, ans);
	check(q, ans, alen, &a);
	proxy_answer(e.p, &udp_client, ans, alen, &a, 512, fk.fwd, fk.fwd_len);
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	ok(n > 0 && fk.forwards == before + 1, "and the fresh cache stores again");
	env_release(&e);
}

static void test_errors(void)
{
	struct env e;
	uint8_t q[512], out[4096];
	size_t qlen, n;
	struct wire_query wq;
	ldns_pkt *p;

	env_init(&e, "");
	qlen = query("www.example.com.", LDNS_RR_TYPE_A, 0x5151, 0, q);
	is_int(proxy_query(e.p, q, 5, &udp_client, out, sizeof(out)), 0, "shorter than a header: dropped");
	q[2] |= 0x80; /* QR */
	is_int(proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out)), 0, "QR=1: dropped, never answered");
	q[2] &= (uint8_t)~0x80;
	is_int(stat(&e, STAT_DROPPED), 2, "both counted dropped");

	q[2] = (uint8_t)((q[2] & ~0x78) | (2 << 3)); /* opcode STATUS */
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	is_answer(out, n, LDNS_RCODE_NOTIMPL, 0x5151, NULL, "opcode STATUS");
	q[2] &= (uint8_t)~0x78;
	q[5] = 2; /* QDCOUNT 2 */
	n = proxy_query(e.p, q, qlen, &udp_client, out, sizeof(out));
	ok(n >= WIRE_HEADER_LEN && (out[3] & 0x0f) == LDNS_RCODE_FORMERR && out[0] == 0x51,
		"two questions: FORMERR with the ID");
	q[5] = 1;
	is_int(fk.forwards, 0, "no error case forwarded");

	/* SERVFAIL, as upstream asks for when every upstream failed. */
	if (wire_parse_query(q, qlen, &wq) != WIRE_OK) {
		printf("Bail out! parse\n");
		exit(1);
	}
	proxy_fail(e.p, &udp_client, &wq, WIRE_RCODE_SERVFAIL);
	is_int(fk.replies, 1, "proxy_fail: answered at once");
	is_answer(fk.out, fk.out_len, LDNS_RCODE_SERVFAIL, 0x5151, NULL, "proxy_fail");
	p = parse(fk.out, fk.out_len);
	ok(p != NULL && ldns_pkt_qdcount(p) == 1, "SERVFAIL echoes the question");
	ldns_pkt_free(p);
	env_release(&e);
}

int main(void)
{
	log_init(LOG_LEVEL_ERR, false);
	peer.ss_family = AF_INET;
	test_blocked();
	test_forwarded();
	test_truncated();
	test_cloaked();
	test_cached();
	test_errors();
	return tap_exit();
}
