/*
 * testquery.h: a client query in wire form, built with ldns, for the unit tests that feed the
 * query path (proxy_test) and the cache (cache_life_test). Bails out (TAP) on any failure: the
 * tests only build valid queries.
 */
#ifndef BLOKIR_TESTQUERY_H
#define BLOKIR_TESTQUERY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

/* NAME/TYPE with ID and RD set, with an OPT of UDP size EDNS (DO clear) when EDNS > 0. */
static size_t test_query_wire(const char *name, ldns_rr_type type, uint16_t id, uint16_t edns,
	uint8_t *out)
{
	ldns_pkt *p = NULL;
	uint8_t *w = NULL;
	size_t len = 0;

	if (ldns_pkt_query_new_frm_str(&p, name, type, LDNS_RR_CLASS_IN, LDNS_RD) != LDNS_STATUS_OK) {
		printf("Bail out! query %s\n", name);
		exit(1);
	}
	ldns_pkt_set_id(p, id);
	if (edns > 0)
		ldns_pkt_set_edns_udp_size(p, edns);
	if (ldns_pkt2wire(&w, p, &len) != LDNS_STATUS_OK) {
		printf("Bail out! pkt2wire\n");
		exit(1);
	}
	memcpy(out, w, len);
	free(w);
	ldns_pkt_free(p);
	return len;
}

#endif
