/*
 * mkcorpus: writes the seed corpora tests/fuzz/corpus/{query,answer,chain}/ (run from the top of the
 * tree). Valid packets come from ldns; the malformed ones are ldns output cut or patched, so each
 * seed starts the fuzzer next to one of the parser's decisions. The files are committed; rerun
 * this only to change the seeds:
 *   cc -Iinclude $(pkg-config --cflags ldns) -o /tmp/mkcorpus tests/fuzz/mkcorpus.c \
 *      $(pkg-config --libs ldns) && /tmp/mkcorpus
 */
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QNAME "WwW.Example.COM."
#define QEND (12 + 17 + 4)

static void put(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[256];
	snprintf(path, sizeof path, "tests/fuzz/corpus/%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void die(const char *what)
{
	fprintf(stderr, "mkcorpus: %s\n", what);
	exit(1);
}

static void add_rr(ldns_pkt *p, ldns_pkt_section s, const char *str)
{
	ldns_rr *rr = NULL;
	if (ldns_rr_new_frm_str(&rr, str, 0, NULL, NULL) != LDNS_STATUS_OK)
		die(str);
	ldns_pkt_push_rr(p, s, rr);
}

struct q {
	const char *name;
	ldns_rr_type type;
	ldns_rr_class cls;
	ldns_pkt_opcode op;
	int udp; /* 0: no EDNS */
	int dnssec_ok, version;
	const char *edns_data; /* raw options, length in edns_len */
	size_t edns_len;
};

static ldns_pkt *query_pkt(struct q q)
{
	ldns_pkt *p = NULL;
	if (ldns_pkt_query_new_frm_str(&p, q.name, q.type, q.cls, LDNS_RD) != LDNS_STATUS_OK)
		die(q.name);
	ldns_pkt_set_id(p, 0x4242);
	ldns_pkt_set_opcode(p, q.op);
	if (q.udp) {
		ldns_pkt_set_edns_udp_size(p, (uint16_t)q.udp);
		ldns_pkt_set_edns_do(p, q.dnssec_ok);
		ldns_pkt_set_edns_version(p, (uint8_t)q.version);
		if (q.edns_data)
			ldns_pkt_set_edns_data(p, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN,
				q.edns_len, q.edns_data));
	}
	return p;
}

static size_t wire(ldns_pkt *p, uint8_t *out)
{
	uint8_t *w = NULL;
	size_t n = 0;
	if (ldns_pkt2wire(&w, p, &n) != LDNS_STATUS_OK || n > 4096)
		die("pkt2wire");
	memcpy(out, w, n);
	free(w);
	ldns_pkt_free(p);
	return n;
}

static void queries(void)
{
	static const struct {
		const char *file;
		struct q q;
	} good[] = {
		{"a", {QNAME, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_PACKET_QUERY, 0, 0, 0, NULL, 0}},
		{"aaaa-edns-do", {"example.org.", LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN,
			LDNS_PACKET_QUERY, 1232, 1, 0, NULL, 0}},
		{"edns-cookie", {"a.b.c.d.e.f.", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN,
			LDNS_PACKET_QUERY, 4096, 0, 0, "\0\12\0\10abcdefgh", 12}},
		{"edns-v1", {QNAME, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_PACKET_QUERY, 4096, 1, 1,
			NULL, 0}},
		{"edns-small", {"x.", LDNS_RR_TYPE_MX, LDNS_RR_CLASS_IN, LDNS_PACKET_QUERY, 100, 0,
			0, NULL, 0}},
		{"notify", {QNAME, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, LDNS_PACKET_NOTIFY, 0, 0, 0,
			NULL, 0}},
		{"status", {QNAME, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_PACKET_STATUS, 1232, 0, 0,
			NULL, 0}},
		{"root-ns", {".", LDNS_RR_TYPE_NS, LDNS_RR_CLASS_IN, LDNS_PACKET_QUERY, 0, 0, 0,
			NULL, 0}},
		{"chaos", {"version.bind.", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_CH, LDNS_PACKET_QUERY,
			0, 0, 0, NULL, 0}},
		{"any-class", {"ExAmPlE.NeT.", LDNS_RR_TYPE_ANY, LDNS_RR_CLASS_ANY,
			LDNS_PACKET_QUERY, 1400, 1, 0, NULL, 0}},
		{"long", {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
			"BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB."
			"ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc."
			"DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD.",
			LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_PACKET_QUERY, 1232, 0, 0, NULL, 0}},
	};
	uint8_t b[4096];
	size_t n;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		n = wire(query_pkt(good[i].q), b);
		put("query", good[i].file, b, n);
	}

	struct q plain = good[0].q, edns = good[1].q;
	n = wire(query_pkt(plain), b);
	put("query", "short-11", b, 11);
	put("query", "cut-question", b, n - 3);
	b[n] = 0;
	put("query", "trailing", b, n + 1);
	b[2] |= 0x80;
	put("query", "qr-set", b, n);
	b[2] &= 0x7f;
	b[5] = 0;
	put("query", "qdcount-0", b, 12);
	memcpy(b + n, b + 12, n - 12);
	b[5] = 2;
	put("query", "qdcount-2", b, 2 * n - 12);

	static const uint8_t compressed[] = {0x42, 0x42, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
		3, 'w', 'w', 'w', 0xc0, 12, 0, 1, 0, 1};
	put("query", "compressed-question", compressed, sizeof compressed);

	n = wire(query_pkt(edns), b);
	size_t opt = n - 11;
	memcpy(b + n, b + opt, 11);
	b[11] = 2;
	put("query", "two-opts", b, n + 11);

	/* A query with a record in additional whose owner points at the question. */
	ldns_pkt *p = query_pkt(plain);
	add_rr(p, LDNS_SECTION_ADDITIONAL, "www.example.com. 60 IN A 192.0.2.1");
	n = wire(p, b);
	put("query", "additional-compressed", b, n);
}

/* An answer to QNAME A with the given records ("section:rr" strings) and optional EDNS. */
static size_t answer(const char **rrs, size_t nrr, int udp, ldns_pkt_rcode rcode, uint8_t *b)
{
	ldns_pkt *p = query_pkt((struct q){QNAME, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN,
		LDNS_PACKET_QUERY, udp, 1, 0, NULL, 0});
	ldns_pkt_set_id(p, 0x1234);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	for (size_t i = 0; i < nrr; i++) {
		ldns_pkt_section s = rrs[i][0] == 'a' ? LDNS_SECTION_ANSWER :
			rrs[i][0] == 'n' ? LDNS_SECTION_AUTHORITY : LDNS_SECTION_ADDITIONAL;
		add_rr(p, s, rrs[i] + 2);
	}
	return wire(p, b);
}

static void answers(void)
{
	static const char *cname[] = {
		"a:" QNAME " 300 IN CNAME web.example.com.",
		"a:web.example.com. 300 IN A 192.0.2.1",
		"a:web.example.com. 300 IN A 192.0.2.2",
		"n:example.com. 3600 IN NS ns1.example.com.",
		"n:example.com. 3600 IN NS ns2.example.net.",
		"r:ns1.example.com. 3600 IN A 192.0.2.53",
		"r:ns1.example.com. 3600 IN AAAA 2001:db8::53",
	};
	static const char *nx[] = {
		"n:example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 "
		"86400 300",
	};
	static const char *mx[] = {
		"a:" QNAME " 300 IN A 198.51.100.7",
		"a:" QNAME " 300 IN RRSIG A 8 3 300 20300101000000 20200101000000 12345 "
		"example.com. AAAA",
		"r:" QNAME " 300 IN TXT \"hello\" \"world\"",
	};
	uint8_t b[4096];
	size_t n;

	n = answer(cname, 7, 1232, LDNS_RCODE_NOERROR, b);
	put("answer", "cname-edns", b, n);
	size_t full = n;
	uint8_t keep[4096];
	memcpy(keep, b, full);

	put("answer", "cut-mid", b, full / 2);
	put("answer", "cut-last", b, full - 1);
	b[full] = 0;
	put("answer", "trailing", b, full + 1);
	b[2] &= 0x7f;
	put("answer", "qr-clear", b, full);
	memcpy(b, keep, full);
	b[2] |= 0x02;
	put("answer", "tc-full", b, full);
	b[6] = b[7] = b[8] = b[9] = b[10] = b[11] = 0;
	put("answer", "tc-empty", b, QEND);
	memcpy(b, keep, full);
	b[QEND + 1] = QEND + 2; /* the first owner pointer now points forward */
	put("answer", "forward-pointer", b, full);
	b[QEND + 1] = QEND;
	put("answer", "self-pointer", b, full);
	memcpy(b, keep, full);
	b[12 + 1] = 'w';
	put("answer", "other-case", b, full);
	memcpy(b, keep, full);
	memcpy(b + full, b + full - 11, 11);
	b[11]++;
	put("answer", "two-opts", b, full + 11);

	n = answer(cname, 7, 0, LDNS_RCODE_NOERROR, b);
	put("answer", "cname", b, n);
	n = answer(nx, 1, 1232, LDNS_RCODE_NXDOMAIN, b);
	put("answer", "nxdomain-soa", b, n);
	n = answer(nx, 1, 0, LDNS_RCODE_NXDOMAIN, b);
	put("answer", "nxdomain-soa-noedns", b, n);
	n = answer(NULL, 0, 1232, LDNS_RCODE_SERVFAIL, b);
	put("answer", "servfail", b, n);
	n = answer(mx, 3, 4096, LDNS_RCODE_NOERROR, b);
	put("answer", "rrsig-txt", b, n);

	/* An OPT carrying an EDE option, as a filtering upstream would send. */
	ldns_pkt *p = query_pkt((struct q){QNAME, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN,
		LDNS_PACKET_QUERY, 1232, 0, 0, "\0\17\0\10\0\20blocked", 12});
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rcode(p, LDNS_RCODE_NXDOMAIN);
	n = wire(p, b);
	put("answer", "ede", b, n);
}

/* Alias chains for fuzz_chain: in order, shuffled, looping, DNAME, and a cut one. */
static void chains(void)
{
	static const char *chain[] = {
		"a:" QNAME " 300 IN CNAME Alias.Example.NET.",
		"a:alias.example.net. 300 IN CNAME t.me.",
		"a:t.me. 300 IN A 192.0.2.1",
	};
	static const char *shuffled[] = {
		"a:t.me. 300 IN A 192.0.2.1",
		"a:alias.example.net. 300 IN CNAME t.me.",
		"a:" QNAME " 300 IN CNAME alias.example.net.",
	};
	static const char *loop[] = {
		"a:" QNAME " 300 IN CNAME x.example.",
		"a:x.example. 300 IN CNAME " QNAME,
	};
	static const char *dname[] = {
		"a:Example.COM. 300 IN DNAME telegram.org.",
		"a:" QNAME " 300 IN CNAME www.telegram.org.",
		"a:telegram.org. 300 IN DNAME t.me.",
		"n:t.me. 300 IN SOA ns1.t.me. hostmaster.t.me. 1 3600 600 86400 300",
	};
	uint8_t b[4096];
	size_t n;

	n = answer(chain, 3, 1232, LDNS_RCODE_NOERROR, b);
	put("chain", "chain-edns", b, n);
	put("chain", "chain-cut", b, n - 20);
	n = answer(shuffled, 3, 0, LDNS_RCODE_NOERROR, b);
	put("chain", "shuffled", b, n);
	n = answer(loop, 2, 0, LDNS_RCODE_NOERROR, b);
	put("chain", "loop", b, n);
	n = answer(dname, 4, 4096, LDNS_RCODE_NOERROR, b);
	put("chain", "dname", b, n);
}

int main(void)
{
	queries();
	answers();
	chains();
	return 0;
}
