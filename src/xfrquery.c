/*
 * xfrquery: a secondary's queries and the checks of their answers (see include/xfrquery.h).
 *
 * ldns does TSIG: a transfer is not on the query path, and a hand-written HMAC chain is exactly
 * the kind of code that should come from a library. What is kept here is the state between the
 * messages: the query ID and the last verified MAC.
 */
#include "wire.h" /* before ldns: see wire.h */
#include "xfrquery.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include <ldns/ldns.h>

#include "clock.h"

#define TSIG_FUDGE 300

struct xfrquery {
	const struct config_zone *cz; /* borrowed */
	char *key_name, *key_alg;     /* owned, absolute, NULL: no TSIG */
	uint16_t qid;
	ldns_rdf *mac;                /* owned: our query's MAC, then the last verified one */
};

static uint16_t random_id(void)
{
	uint16_t id = 0;

	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint16_t)clock_now_ns();
	return id;
}

struct xfrquery *xfrquery_new(const struct config_zone *cz, char *key_name, char *key_alg)
{
	struct xfrquery *q = calloc(1, sizeof(*q)); /* owned by the caller */

	if (q == NULL) {
		free(key_name);
		free(key_alg);
		return NULL;
	}
	q->cz = cz;
	q->key_name = key_name;
	q->key_alg = key_alg;
	return q;
}

void xfrquery_free(struct xfrquery *q)
{
	if (q == NULL)
		return;
	ldns_rdf_deep_free(q->mac);
	free(q->key_name);
	free(q->key_alg);
	free(q);
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
		if ((xq->mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(q), 3))) == NULL)
			goto out;
	}
	rc = ldns_pkt2wire(wire, q, len) == LDNS_STATUS_OK ? 0 : -1;
out:
	ldns_pkt_free(q);
	return rc;
}

const char *xfrquery_check(struct xfrquery *xq, ldns_pkt *p, const uint8_t *wire, size_t len,
	bool first, bool *tsig)
{
	static _Thread_local char msg[96];

	*tsig = false;
	if (ldns_pkt_id(p) != xq->qid || !ldns_pkt_qr(p))
		return "answer with a wrong ID";
	if (xq->key_name != NULL) {
		ldns_rr *t = ldns_pkt_tsig(p);
		*tsig = true;
		if (t == NULL)
			return ldns_pkt_get_rcode(p) == LDNS_RCODE_NOTAUTH ?
				"TSIG refused by the primary (NOTAUTH: wrong key or secret?)" :
				"TSIG missing from the answer";
		if (!ldns_pkt_tsig_verify_next(p, wire, len, xq->key_name, xq->cz->tsig_secret, xq->mac,
			first ? 0 : 1))
			return "TSIG mismatch (wrong secret?)";
		ldns_rdf_deep_free(xq->mac);
		xq->mac = ldns_rdf_clone(ldns_rr_rdf(t, 3));
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
