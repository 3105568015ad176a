/*
 * xfrquery: a secondary's queries and the checks of their answers (see include/xfrquery.h).
 *
 * ldns builds and signs the queries. The answers' TSIG is verified here, with OpenSSL's HMAC,
 * because RFC 8945 5.3.1 lets a primary leave up to 99 messages of a transfer unsigned between
 * signed ones, the next signed message's MAC covering them, and ldns verifies one message at a
 * time. So the digest runs across messages: after each verified MAC (or the query's) a new HMAC
 * starts with that MAC; each unsigned message goes into it whole; a signed one goes in without
 * its TSIG record (ID restored, ARCOUNT less one), followed by the TSIG variables (the first
 * message of an answer) or the timers (the others), and the result must be its MAC.
 */
#include "wire.h" /* before ldns: see wire.h */
#include "xfrquery.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/random.h>

#include <ldns/ldns.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "clock.h"
#include "value.h"

#define TSIG_FUDGE 300
#define TYPE_TSIG 250
#define CLASS_ANY 255
#define UNSIGNED_MAX 99 /* RFC 8945 5.3.1: messages in a row a client must accept unsigned */

struct xfrquery {
	const struct config_zone *cz; /* borrowed */
	char *key_name, *key_alg;     /* owned, absolute, NULL: no TSIG */
	uint8_t key_wire[CONFIG_NAME_MAX], alg_wire[CONFIG_NAME_MAX]; /* lower-case wire form */
	size_t key_wire_len, alg_wire_len;
	const char *digest;           /* static: the HMAC's hash, "SHA256" */
	uint8_t secret[256];
	size_t secret_len;
	uint16_t qid;
	ldns_rdf *mac;                /* owned: our query's MAC (MAC size and MAC) */
	uint8_t prev[2 + EVP_MAX_MD_SIZE]; /* MAC size and MAC the next signed message chains to */
	size_t prev_len;
	EVP_MAC *hmac;                /* owned */
	EVP_MAC_CTX *run;             /* owned: the digest since the last verified message */
	unsigned unsigned_run;        /* unsigned messages since then */
};

static uint16_t random_id(void)
{
	uint16_t id = 0;

	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint16_t)clock_now_ns();
	return id;
}

/* The hash of a TSIG algorithm name (config.h accepts these five). */
static const char *alg_digest(const char *alg)
{
	static const char *const map[][2] = {
		{ "hmac-sha256.", "SHA256" }, { "hmac-sha384.", "SHA384" },
		{ "hmac-sha512.", "SHA512" }, { "hmac-sha224.", "SHA224" }, { "hmac-sha1.", "SHA1" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(alg, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

struct xfrquery *xfrquery_new(const struct config_zone *cz, char *key_name, char *key_alg)
{
	struct xfrquery *q = calloc(1, sizeof(*q)); /* owned by the caller */
	const char *err;
	ldns_rdf *b64 = NULL; /* owned: the decoded secret, copied */

	if (q == NULL) {
		free(key_name);
		free(key_alg);
		return NULL;
	}
	q->cz = cz;
	q->key_name = key_name;
	q->key_alg = key_alg;
	if (key_name == NULL)
		return q;
	/* the secret was checked at load (config.h); a failure here is memory or a bug */
	if (value_parse_name(key_name, q->key_wire, &q->key_wire_len, &err) < 0 ||
		value_parse_name(key_alg, q->alg_wire, &q->alg_wire_len, &err) < 0 ||
		(q->digest = alg_digest(key_alg)) == NULL ||
		ldns_str2rdf_b64(&b64, cz->tsig_secret) != LDNS_STATUS_OK ||
		ldns_rdf_size(b64) > sizeof(q->secret) ||
		(q->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL) {
		ldns_rdf_deep_free(b64);
		xfrquery_free(q);
		return NULL;
	}
	q->secret_len = ldns_rdf_size(b64);
	memcpy(q->secret, ldns_rdf_data(b64), q->secret_len);
	OPENSSL_cleanse(ldns_rdf_data(b64), q->secret_len);
	ldns_rdf_deep_free(b64);
	return q;
}

void xfrquery_free(struct xfrquery *q)
{
	if (q == NULL)
		return;
	ldns_rdf_deep_free(q->mac);
	EVP_MAC_CTX_free(q->run);
	EVP_MAC_free(q->hmac);
	OPENSSL_cleanse(q->secret, sizeof(q->secret));
	free(q->key_name);
	free(q->key_alg);
	free(q);
}

/* A new running digest that starts with the MAC in PREV (its size, then the MAC). -1: ENOMEM. */
static int run_start(struct xfrquery *q)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)q->digest, 0),
		OSSL_PARAM_construct_end(),
	};

	EVP_MAC_CTX_free(q->run);
	q->unsigned_run = 0;
	if ((q->run = EVP_MAC_CTX_new(q->hmac)) == NULL ||
		!EVP_MAC_init(q->run, q->secret, q->secret_len, params) ||
		!EVP_MAC_update(q->run, q->prev, q->prev_len)) {
		EVP_MAC_CTX_free(q->run);
		q->run = NULL;
		return -1;
	}
	return 0;
}

uint16_t xfrquery_id(const struct xfrquery *q)
{
	return q->qid;
}

int xfrquery_build(struct xfrquery *xq, const ldns_rdf *apex, uint16_t type,
	const struct zonecopy_soa *held, uint8_t **wire, size_t *len)
{
	ldns_pkt *q = ldns_pkt_query_new(ldns_rdf_clone(apex), (ldns_rr_type)type, LDNS_RR_CLASS_IN, 0);
	int rc = -1;

	if (q == NULL)
		return -1;
	xq->qid = random_id();
	ldns_pkt_set_id(q, xq->qid);
	if (type == LDNS_RR_TYPE_IXFR) {
		/* RFC 1995 3: the authority section carries the SOA of the version we hold */
		char text[LDNS_MAX_DOMAINLEN * 2 + 128];
		ldns_rr *soa = NULL;

		snprintf(text, sizeof(text), "%s. 0 IN SOA %s %s %u %u %u %u %u", xq->cz->text,
			held->mname, held->rname, held->serial, held->refresh, held->retry, held->expire,
			held->minimum);
		if (ldns_rr_new_frm_str(&soa, text, 0, NULL, NULL) != LDNS_STATUS_OK)
			goto out;
		ldns_pkt_push_rr(q, LDNS_SECTION_AUTHORITY, soa);
	}
	ldns_rdf_deep_free(xq->mac);
	xq->mac = NULL;
	if (xq->key_name != NULL) {
		if (ldns_pkt_tsig_sign(q, xq->key_name, xq->cz->tsig_secret, TSIG_FUDGE, xq->key_alg,
			NULL) != LDNS_STATUS_OK)
			goto out;
		if ((xq->mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(q), 3))) == NULL ||
			ldns_rdf_size(xq->mac) > sizeof(xq->prev))
			goto out;
		/* the answer's first MAC chains to this one: its size and the MAC (RFC 8945 4.3.1) */
		memcpy(xq->prev, ldns_rdf_data(xq->mac), ldns_rdf_size(xq->mac));
		xq->prev_len = ldns_rdf_size(xq->mac);
	}
	rc = ldns_pkt2wire(wire, q, len) == LDNS_STATUS_OK ? 0 : -1;
out:
	ldns_pkt_free(q);
	return rc;
}

/* ---- TSIG on the answers ---------------------------------------------------------------- */

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/*
 * The name at *OFF of message W (LEN bytes), compression followed, into OUT lower-cased (NULL:
 * only skipped); *OFF moves past it where it is written. -1 when malformed.
 */
static int name_read(const uint8_t *w, size_t len, size_t *off, uint8_t *out, size_t *olen)
{
	size_t p = *off, n = 0, jumps = 0;
	bool jumped = false;

	for (;;) {
		if (p >= len)
			return -1;
		if ((w[p] & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++jumps > 64)
				return -1;
			if (!jumped)
				*off = p + 2;
			jumped = true;
			p = (size_t)(w[p] & 0x3f) << 8 | w[p + 1];
			continue;
		}
		if (w[p] > 63 || p + 1 + w[p] > len || n + 1 + w[p] > CONFIG_NAME_MAX)
			return -1;
		if (out != NULL) {
			out[n] = w[p];
			for (size_t i = 1; i <= w[p]; i++)
				out[n + i] = (uint8_t)tolower(w[p + i]);
		}
		n += 1 + (size_t)w[p];
		if (w[p] == 0)
			break;
		p += 1 + (size_t)w[p];
	}
	if (!jumped)
		*off = p + 1;
	if (olen != NULL)
		*olen = n;
	return 0;
}

/*
 * Where message W's TSIG record starts (the last record, of type TSIG), 0 when it has none, -1
 * when the message is malformed.
 */
static long tsig_offset(const uint8_t *w, size_t len)
{
	size_t off = 12, rrs, start = 0;

	if (len < 12)
		return -1;
	rrs = (size_t)get16(w + 6) + get16(w + 8) + get16(w + 10);
	for (unsigned i = 0; i < get16(w + 4); i++) {
		if (name_read(w, len, &off, NULL, NULL) < 0 || off + 4 > len)
			return -1;
		off += 4;
	}
	for (size_t i = 0; i < rrs; i++) {
		start = off;
		if (name_read(w, len, &off, NULL, NULL) < 0 || off + 10 > len ||
			off + 10 + get16(w + off + 8) > len)
			return -1;
		if (i + 1 == rrs && get16(w + 10) > 0 && get16(w + off) == TYPE_TSIG)
			return (long)start;
		off += 10 + get16(w + off + 8);
	}
	return 0;
}

/*
 * Verifies the signed message W (LEN bytes, its TSIG record at AT) against the running digest:
 * the first message of an answer (FIRST) with the TSIG variables, the others with the timers.
 * Returns NULL, or why it is refused.
 */
static const char *tsig_verify(struct xfrquery *q, const uint8_t *w, size_t len, size_t at,
	bool first)
{
	uint8_t owner[CONFIG_NAME_MAX], alg[CONFIG_NAME_MAX], head[12], digest[EVP_MAX_MD_SIZE];
	size_t off = at, olen, alen, dlen = 0, rdend, macsize, other;
	const uint8_t *timers, *mac;
	unsigned error;
	uint64_t signed_at;
	int64_t now;

	if (name_read(w, len, &off, owner, &olen) < 0 || off + 10 > len)
		return "malformed TSIG record";
	rdend = off + 10 + get16(w + off + 8);
	if (get16(w + off + 2) != CLASS_ANY || rdend != len)
		return "malformed TSIG record";
	off += 10;
	if (olen != q->key_wire_len || memcmp(owner, q->key_wire, olen) != 0)
		return "TSIG with another key";
	if (name_read(w, rdend, &off, alg, &alen) < 0 || off + 10 > rdend)
		return "malformed TSIG record";
	if (alen != q->alg_wire_len || memcmp(alg, q->alg_wire, alen) != 0)
		return "TSIG with another algorithm";
	timers = w + off; /* time signed (48 bits) and fudge: the timers */
	macsize = get16(w + off + 8);
	mac = w + off + 10;
	off += 10 + macsize;
	if (off + 6 > rdend)
		return "malformed TSIG record";
	error = get16(w + off + 2);
	other = get16(w + off + 4);
	if (off + 6 + other != rdend)
		return "malformed TSIG record";
	if (error != 0)
		return error == 16 ? "TSIG refused by the primary (BADSIG: wrong secret?)" :
			error == 17 ? "TSIG refused by the primary (BADKEY: wrong key name?)" :
			error == 18 ? "TSIG refused by the primary (BADTIME: are the clocks apart?)" :
			"TSIG refused by the primary (an error in its TSIG record)";
	/* the message as it was signed: its own ID back, the TSIG record not counted */
	memcpy(head, w, 12);
	memcpy(head, w + off, 2);
	head[10] = (uint8_t)((get16(w + 10) - 1) >> 8);
	head[11] = (uint8_t)(get16(w + 10) - 1);
	if (q->run == NULL && run_start(q) < 0)
		return "out of memory";
	if (!EVP_MAC_update(q->run, head, 12) || !EVP_MAC_update(q->run, w + 12, at - 12))
		return "out of memory";
	if (first) {
		/* RFC 8945 4.3.3: key name, class ANY, TTL 0, algorithm, timers, error, other */
		static const uint8_t class_ttl[6] = { 0, CLASS_ANY, 0, 0, 0, 0 };
		if (!EVP_MAC_update(q->run, q->key_wire, q->key_wire_len) ||
			!EVP_MAC_update(q->run, class_ttl, 6) ||
			!EVP_MAC_update(q->run, q->alg_wire, q->alg_wire_len) ||
			!EVP_MAC_update(q->run, timers, 8) || !EVP_MAC_update(q->run, w + off + 2, 4 + other))
			return "out of memory";
	} else if (!EVP_MAC_update(q->run, timers, 8)) {
		return "out of memory";
	}
	if (!EVP_MAC_final(q->run, digest, &dlen, sizeof(digest)))
		return "out of memory";
	/* RFC 8945 5.2.2.1: a truncated MAC keeps at least half the hash and 10 octets */
	if (macsize > dlen || macsize < 10 || macsize < dlen / 2 ||
		CRYPTO_memcmp(mac, digest, macsize) != 0)
		return "TSIG mismatch (wrong secret?)";
	signed_at = (uint64_t)get16(timers) << 32 | (uint64_t)get16(timers + 2) << 16 | get16(timers + 4);
	now = (int64_t)time(NULL);
	if (now - (int64_t)signed_at > (int64_t)get16(timers + 6) ||
		(int64_t)signed_at - now > (int64_t)get16(timers + 6))
		return "TSIG time outside the fudge (BADTIME: are the clocks apart?)";
	/* the next message chains to this MAC */
	q->prev[0] = (uint8_t)(macsize >> 8);
	q->prev[1] = (uint8_t)macsize;
	memcpy(q->prev + 2, mac, macsize);
	q->prev_len = 2 + macsize;
	return run_start(q) < 0 ? "out of memory" : NULL;
}

const char *xfrquery_check(struct xfrquery *xq, ldns_pkt *p, const uint8_t *wire, size_t len,
	bool first, bool *tsig)
{
	static _Thread_local char msg[96];
	const char *err;
	long at;

	*tsig = false;
	if (ldns_pkt_id(p) != xq->qid || !ldns_pkt_qr(p))
		return "answer with a wrong ID";
	if (xq->key_name != NULL) {
		*tsig = true;
		if (first) {
			/* a new answer chains to our query's MAC */
			EVP_MAC_CTX_free(xq->run);
			xq->run = NULL;
			if (xq->mac == NULL)
				return "no query signed";
			memcpy(xq->prev, ldns_rdf_data(xq->mac), ldns_rdf_size(xq->mac));
			xq->prev_len = ldns_rdf_size(xq->mac);
		}
		if ((at = tsig_offset(wire, len)) < 0)
			return "malformed message";
		if (at == 0 && first)
			return ldns_pkt_get_rcode(p) == LDNS_RCODE_NOTAUTH ?
				"TSIG refused by the primary (NOTAUTH: wrong key or secret?)" :
				"TSIG missing from the answer";
		if (at == 0) {
			/* RFC 8945 5.3.1: unsigned, covered by the next signed message's MAC */
			if (++xq->unsigned_run > UNSIGNED_MAX)
				return "more than 99 messages in a row without TSIG (RFC 8945 5.3.1)";
			if ((xq->run == NULL && run_start(xq) < 0) ||
				!EVP_MAC_update(xq->run, wire, len))
				return "out of memory";
		} else if ((err = tsig_verify(xq, wire, len, (size_t)at, first)) != NULL) {
			return err;
		}
		*tsig = false;
	}
	if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR) {
		*tsig = ldns_pkt_get_rcode(p) == LDNS_RCODE_NOTAUTH && xq->key_name != NULL;
		snprintf(msg, sizeof(msg), "primary answered %s",
			ldns_lookup_by_id(ldns_rcodes, ldns_pkt_get_rcode(p)) ?
			ldns_lookup_by_id(ldns_rcodes, ldns_pkt_get_rcode(p))->name : "an error");
		return msg;
	}
	return NULL;
}

bool xfrquery_unsigned_pending(const struct xfrquery *q)
{
	return q->key_name != NULL && q->unsigned_run > 0;
}
