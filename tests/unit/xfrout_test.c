/*
 * xfrout_test: the served zone without sockets. Versions and serials (an unchanged zone keeps
 * its serial), the bounded history (IXFR from a serial in it gets the changes in RFC 1995 form,
 * from an older one the whole zone, from the current one the SOA alone), AXFR over UDP refused,
 * IXFR over UDP answered with the SOA, the allow list, names in and out of the zone, TSIG on a
 * multi-message transfer (each message verified with ldns, chained to the previous MAC), a bad
 * MAC answered NOTAUTH, and the permission check on secret files.
 */
#include "xfrout.h" /* wire.h, hence <stdbool.h>, before ldns */
#include "tap.h"
#include "value.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ldns/ldns.h>

#define SECRET "eGZyb3V0LXRlc3Qtc2VjcmV0LXNlY3JldC0xMjM0NTY="

static struct config_cidr allow[1];
static struct sockaddr_in from_ok, from_bad;

static struct config_serve serve_cfg(struct config_tsig_key *keys, size_t nkeys)
{
	struct config_serve sv = { .enabled = true, .zone = "rpz.test.", .allow = allow,
		.allow_count = 1, .keys = keys, .key_count = nkeys, .history = 2 };

	return sv;
}

/* A zone text: the SOA, NS and one CNAME . trigger per name in NAMES (space separated). */
static char *zone(const char *names)
{
	static char buf[1 << 20];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "$ORIGIN rpz.test.\n$TTL 60\n"
		"@ SOA ns.invalid. host.invalid. 1 3600 600 604800 60\n@ NS localhost.\n");
	static char copy[1 << 18];

	snprintf(copy, sizeof(copy), "%s", names);
	for (char *t = strtok(copy, " "); t != NULL; t = strtok(NULL, " "))
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s CNAME .\n", t);
	return buf;
}

static uint32_t publish(struct xfrout *x, const char *names, int want_rc, const char *what)
{
	uint32_t serial = 0;
	size_t changes = 0;
	const char *err = NULL;
	const char *z = zone(names);
	int rc = xfrout_publish(x, z, strlen(z), &serial, &changes, &err);

	is_int(rc, want_rc, "%s: publish returns %d", what, want_rc);
	if (rc < 0)
		printf("#   %s\n", err);
	return rc == 1 ? serial : xfrout_serial(x);
}

/* The wire form of a query for rpz.test. of TYPE (IXFR: with SOA SERIAL), signed when KEY. */
static size_t make_query(ldns_rr_type type, uint32_t serial, const char *key, const char *secret,
	uint8_t *out, ldns_rdf **mac)
{
	ldns_pkt *p = NULL;
	ldns_rr *soa = NULL;
	uint8_t *w = NULL;
	size_t len = 0;
	char text[128];

	ldns_pkt_query_new_frm_str(&p, "rpz.test.", type, LDNS_RR_CLASS_IN, 0);
	ldns_pkt_set_id(p, 4242);
	if (type == LDNS_RR_TYPE_IXFR) {
		snprintf(text, sizeof(text), "rpz.test. 0 IN SOA . . %u 0 0 0 0", serial);
		ldns_rr_new_frm_str(&soa, text, 0, NULL, NULL);
		ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, soa);
	}
	if (key != NULL) {
		ldns_pkt_tsig_sign(p, key, secret, 300, "hmac-sha256.", NULL);
		if (mac != NULL)
			*mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(p), 3));
	}
	ldns_pkt2wire(&w, p, &len);
	memcpy(out, w, len);
	free(w);
	ldns_pkt_free(p);
	return len;
}

/* The outcome of one request: its kind, and every answer record as "TYPE SERIAL-or-owner". */
struct result {
	enum xfrout_verdict verdict;
	enum xfrout_kind kind;
	unsigned rcode;
	size_t messages, records;
	char seq[4096];        /* the records in order, "SOA:123 CNAME:a ..." (first 4 KB) */
	bool tsig_ok;          /* every message's TSIG verified (when a key was given) */
};

static void add_rr(struct result *r, const ldns_rr *rr)
{
	char item[300], *owner = ldns_rdf2str(ldns_rr_owner(rr));

	if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA)
		snprintf(item, sizeof(item), "SOA:%u ", ldns_rdf2native_int32(ldns_rr_rdf(rr, 2)));
	else
		snprintf(item, sizeof(item), "%s ", owner);
	if (strlen(r->seq) + strlen(item) < sizeof(r->seq))
		strcat(r->seq, item);
	free(owner);
	r->records++;
}

static void request(struct xfrout *x, ldns_rr_type type, uint32_t serial, bool tcp,
	const struct sockaddr_in *from, const char *key, const char *secret, struct result *r)
{
	static uint8_t qbuf[4096], out[65535];
	struct wire_query q;
	struct xfrout_stream *s = NULL;
	ldns_rdf *mac = NULL;
	char line[400];
	size_t qlen = make_query(type, serial, key, secret, qbuf, &mac), len = 0;

	memset(r, 0, sizeof(*r));
	r->tsig_ok = true;
	if (wire_parse_query(qbuf, qlen, &q) != WIRE_OK) {
		ok(0, "the test query parses");
		return;
	}
	r->verdict = xfrout_query(x, &q, (const struct sockaddr *)from, tcp, out, sizeof(out), &len,
		&s, &r->kind, line, sizeof(line));
	for (;;) {
		ldns_pkt *p = NULL;

		if (s != NULL && (len = xfrout_stream_next(s, out, sizeof(out))) == 0)
			break;
		if (len == 0 || ldns_wire2pkt(&p, out, len) != LDNS_STATUS_OK)
			break;
		r->messages++;
		r->rcode = ldns_pkt_get_rcode(p);
		if (key != NULL) {
			bool v = r->messages == 1 ?
				ldns_pkt_tsig_verify(p, out, len, key, secret, mac) :
				ldns_pkt_tsig_verify_next(p, out, len, key, secret, mac, 1);

			r->tsig_ok &= v && ldns_pkt_tsig(p) != NULL;
			ldns_rdf_deep_free(mac);
			mac = ldns_pkt_tsig(p) ? ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(p), 3)) : NULL;
		}
		for (size_t i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++)
			add_rr(r, ldns_rr_list_rr(ldns_pkt_answer(p), i));
		ldns_pkt_free(p);
		if (s == NULL)
			break;
	}
	xfrout_stream_free(s);
	ldns_rdf_deep_free(mac);
}

static void test_versions(void)
{
	struct config_serve sv = serve_cfg(NULL, 0);
	char errbuf[256], want[512];
	const char *err;
	struct xfrout *x = xfrout_new(&sv, errbuf, sizeof(errbuf), &err);
	uint32_t s1, s2, s3, s4;
	struct result r;

	if (!ok(x != NULL, "a served zone"))
		return;
	request(x, LDNS_RR_TYPE_SOA, 0, false, &from_ok, NULL, NULL, &r);
	is_int(r.rcode, LDNS_RCODE_SERVFAIL, "before the first version: SERVFAIL");
	s1 = publish(x, "a b", 1, "the first version");
	is_int(xfrout_serial(x), s1, "its serial is current");
	is_int(publish(x, "b a", 0, "the same records again"), s1, "  keep the serial");
	s2 = publish(x, "b c", 1, "a removed, c added");
	ok(s2 == s1 + 1 || (int32_t)(s2 - s1) > 0, "  a later serial (%u after %u)", s2, s1);
	s3 = publish(x, "b c d", 1, "d added");
	s4 = publish(x, "b c d e", 1, "e added");

	request(x, LDNS_RR_TYPE_AXFR, 0, true, &from_ok, NULL, NULL, &r);
	is_int(r.kind, XFROUT_AXFR, "AXFR");
	snprintf(want, sizeof(want), "SOA:%u ", s4);
	ok(strncmp(r.seq, want, strlen(want)) == 0 && r.records == 7,
		"  SOA, NS and four triggers, SOA (%s)", r.seq);

	request(x, LDNS_RR_TYPE_IXFR, s3, true, &from_ok, NULL, NULL, &r);
	is_int(r.kind, XFROUT_IXFR, "IXFR from the previous serial");
	snprintf(want, sizeof(want), "SOA:%u SOA:%u SOA:%u e.rpz.test. SOA:%u ", s4, s3, s4, s4);
	is_str(r.seq, want, "  one change in RFC 1995 form");
	request(x, LDNS_RR_TYPE_IXFR, s2, true, &from_ok, NULL, NULL, &r);
	snprintf(want, sizeof(want), "SOA:%u SOA:%u SOA:%u d.rpz.test. SOA:%u SOA:%u e.rpz.test. "
		"SOA:%u ", s4, s2, s3, s3, s4, s4);
	is_str(r.seq, want, "IXFR from two serials back: both changes in order");
	request(x, LDNS_RR_TYPE_IXFR, s1, true, &from_ok, NULL, NULL, &r);
	is_int(r.kind, XFROUT_AXFR, "IXFR from a serial older than the history (2): the whole zone");
	is_int(r.records, 7, "  in AXFR form");
	request(x, LDNS_RR_TYPE_IXFR, s4, true, &from_ok, NULL, NULL, &r);
	snprintf(want, sizeof(want), "SOA:%u ", s4);
	is_str(r.seq, want, "IXFR from the current serial: the SOA alone");
	request(x, LDNS_RR_TYPE_IXFR, s2, false, &from_ok, NULL, NULL, &r);
	is_int(r.kind, XFROUT_IXFR_UDP, "IXFR over UDP");
	is_str(r.seq, want, "  the current SOA alone");
	request(x, LDNS_RR_TYPE_AXFR, 0, false, &from_ok, NULL, NULL, &r);
	ok(r.kind == XFROUT_REFUSED && r.rcode == LDNS_RCODE_REFUSED && r.records == 0,
		"AXFR over UDP: REFUSED");
	request(x, LDNS_RR_TYPE_SOA, 0, false, &from_ok, NULL, NULL, &r);
	ok(r.kind == XFROUT_SOA && r.rcode == 0 && strcmp(r.seq, want) == 0, "SOA query: the SOA");
	request(x, LDNS_RR_TYPE_AXFR, 0, true, &from_bad, NULL, NULL, &r);
	ok(r.kind == XFROUT_REFUSED && r.rcode == LDNS_RCODE_REFUSED, "a client outside allow: REFUSED");

	/* names: below the zone refused, elsewhere not ours */
	{
		uint8_t pkt[512];
		ldns_pkt *p = NULL;
		uint8_t *w = NULL, out[512];
		size_t len = 0, n;
		struct wire_query q;
		struct xfrout_stream *s;
		enum xfrout_kind kind;
		char line[400];

		ldns_pkt_query_new_frm_str(&p, "a.rpz.test.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0);
		ldns_pkt2wire(&w, p, &len);
		memcpy(pkt, w, len);
		free(w);
		ldns_pkt_free(p);
		wire_parse_query(pkt, len, &q);
		ok(xfrout_query(x, &q, (const struct sockaddr *)&from_ok, false, out, sizeof(out), &n,
			&s, &kind, line, sizeof(line)) == XFROUT_ANSWER && kind == XFROUT_REFUSED,
			"a name below the apex: REFUSED");
		ldns_pkt_query_new_frm_str(&p, "rpz.test.example.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0);
		ldns_pkt2wire(&w, p, &len);
		memcpy(pkt, w, len);
		free(w);
		ldns_pkt_free(p);
		wire_parse_query(pkt, len, &q);
		ok(xfrout_query(x, &q, (const struct sockaddr *)&from_ok, false, out, sizeof(out), &n,
			&s, &kind, line, sizeof(line)) == XFROUT_NOT_OURS, "another name: not ours");
	}
	xfrout_free(x);
}

static void test_tsig(void)
{
	char path[] = "/tmp/blokir-xfrout-test-XXXXXX", errbuf[256];
	static char names[1 << 18];
	struct config_tsig_key key = { .name = "xfr-key.", .algorithm = "hmac-sha256",
		.secret_file = path };
	struct config_serve sv = serve_cfg(&key, 1);
	const char *err;
	struct xfrout *x;
	struct result r;
	size_t n = 0;
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, SECRET "\n", strlen(SECRET) + 1) < 0)
		return;
	close(fd);
	chmod(path, 0644);
	x = xfrout_new(&sv, errbuf, sizeof(errbuf), &err);
	ok(x == NULL && strstr(err, "owner only"), "a secret others may read is refused (%s)", err);
	chmod(path, 0600);
	x = xfrout_new(&sv, errbuf, sizeof(errbuf), &err);
	if (!ok(x != NULL, "a zone with a TSIG key")) {
		printf("#   %s\n", err);
		unlink(path);
		return;
	}
	for (int i = 0; i < 3000; i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "name-number-%d.example ", i);
	publish(x, names, 1, "3,000 triggers");
	request(x, LDNS_RR_TYPE_AXFR, 0, true, &from_ok, "xfr-key.", SECRET, &r);
	ok(r.kind == XFROUT_AXFR && r.records == 3003, "signed AXFR: the whole zone (%zu records)",
		r.records);
	ok(r.messages > 1, "  in %zu messages", r.messages);
	ok(r.tsig_ok, "  each signed, chained to the previous MAC");
	request(x, LDNS_RR_TYPE_AXFR, 0, true, &from_ok, NULL, NULL, &r);
	ok(r.kind == XFROUT_REFUSED && r.rcode == LDNS_RCODE_REFUSED, "unsigned: REFUSED");
	request(x, LDNS_RR_TYPE_AXFR, 0, true, &from_ok, "xfr-key.",
		"d3JvbmctdGVzdC1zZWNyZXQtc2VjcmV0LTEyMzQ1Njc=", &r);
	ok(r.kind == XFROUT_BADTSIG && r.rcode == LDNS_RCODE_NOTAUTH, "a wrong secret: NOTAUTH");
	request(x, LDNS_RR_TYPE_SOA, 0, false, &from_ok, "other-key.", SECRET, &r);
	ok(r.kind == XFROUT_BADTSIG && r.rcode == LDNS_RCODE_NOTAUTH, "an unknown key: NOTAUTH");
	request(x, LDNS_RR_TYPE_SOA, 0, false, &from_ok, "xfr-key.", SECRET, &r);
	ok(r.kind == XFROUT_SOA && r.tsig_ok, "a signed SOA query gets a signed answer");
	{
		uint8_t buf[1024];
		size_t len = xfrout_build_notify(x, 77, buf, sizeof(buf));
		ldns_pkt *p = NULL;

		ok(len > 0 && ldns_wire2pkt(&p, buf, len) == LDNS_STATUS_OK &&
			ldns_pkt_get_opcode(p) == LDNS_PACKET_NOTIFY && ldns_pkt_aa(p) &&
			ldns_pkt_tsig_verify(p, buf, len, "xfr-key.", SECRET, NULL),
			"a NOTIFY, signed with the key");
		ldns_pkt_free(p);
	}
	xfrout_free(x);
	unlink(path);
}

/* An increment's text: $ORIGIN, $TTL and one CNAME . trigger per name (no SOA). */
static char *slots(const char *names, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "$ORIGIN rpz.test.\n$TTL 60\n");
	char copy[1024];

	snprintf(copy, sizeof(copy), "%s", names);
	for (char *t = strtok(copy, " "); t != NULL; t = strtok(NULL, " "))
		n += (size_t)snprintf(buf + n, cap - n, "%s CNAME .\n", t);
	return buf;
}

/*
 * xfrout_publish_delta (serve-rpz following a pulled zone's IXFR): the names' records before and
 * after merged into the current version, giving the version a full rebuild would give, with an
 * exact IXFR delta; deletions of records not held and additions of records held change nothing.
 */
static void test_delta(void)
{
	struct config_serve sv = serve_cfg(NULL, 0);
	char errbuf[256], want[512], b[1024], a[1024];
	const char *err = NULL;
	struct xfrout *x = xfrout_new(&sv, errbuf, sizeof(errbuf), &err);
	uint32_t s1, s2 = 0;
	size_t changes = 0;
	struct result r;
	int rc;

	if (!ok(x != NULL, "a served zone for increments"))
		return;
	slots("b", b, sizeof(b));
	slots("d", a, sizeof(a));
	is_int(xfrout_publish_delta(x, b, strlen(b), a, strlen(a), &s2, &changes, &err), 0,
		"an increment before the first version: nothing to do");
	s1 = publish(x, "a b c", 1, "a first version");
	rc = xfrout_publish_delta(x, b, strlen(b), a, strlen(a), &s2, &changes, &err);
	is_int(rc, 1, "b replaced by d: a new serial");
	is_int((int)changes, 2, "  two records changed");
	ok(s2 != s1 && xfrout_serial(x) == s2, "  the serial moved (%u after %u)", s2, s1);
	request(x, LDNS_RR_TYPE_IXFR, s1, true, &from_ok, NULL, NULL, &r);
	snprintf(want, sizeof(want), "SOA:%u SOA:%u b.rpz.test. SOA:%u d.rpz.test. SOA:%u ", s2, s1,
		s2, s2);
	is_str(r.seq, want, "  IXFR from the previous serial: b out, d in");
	is_int(publish(x, "a c d", 0, "a full rebuild of the same records"), s2,
		"  finds the increment's version unchanged");
	slots("x", b, sizeof(b));
	slots("a", a, sizeof(a));
	is_int(xfrout_publish_delta(x, b, strlen(b), a, strlen(a), &s2, &changes, &err), 0,
		"deleting a record not held and adding one held: unchanged");
	slots("a c", b, sizeof(b));
	slots("", a, sizeof(a));
	is_int(xfrout_publish_delta(x, b, strlen(b), a, strlen(a), &s2, &changes, &err), 1,
		"two names removed");
	request(x, LDNS_RR_TYPE_AXFR, 0, true, &from_ok, NULL, NULL, &r);
	snprintf(want, sizeof(want), "SOA:%u d.rpz.test. rpz.test. SOA:%u ", s2, s2);
	is_str(r.seq, want, "  AXFR: d alone (and the NS)");
	slots("d", b, sizeof(b));
	rc = xfrout_publish_delta(x, b, strlen(b), "garbage here\n", 13, &s2, &changes, &err);
	ok(rc < 0 && xfrout_serial(x) == s2, "an increment that does not parse is refused (%s)", err);
	xfrout_free(x);
}

int main(void)
{
	value_parse_cidr("127.0.0.1/32", &allow[0]);
	from_ok.sin_family = from_bad.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &from_ok.sin_addr);
	inet_pton(AF_INET, "10.0.0.1", &from_bad.sin_addr);
	test_versions();
	test_tsig();
	test_delta();
	return tap_exit();
}
