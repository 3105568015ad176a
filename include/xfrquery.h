/*
 * xfrquery: a secondary's side of the exchange with a primary, on the wire (used by xfr).
 *
 * One struct xfrquery per zone holds what makes an answer ours: the ID of the query last sent
 * and, when the zone has a TSIG key, the MAC chain (RFC 8945 5.3.1: each signed answer message
 * is verified against the MAC before it and the unsigned messages since). xfrquery_build makes the SOA, IXFR (with the SOA of the
 * copy held in its authority section, RFC 1995 3) or AXFR query, signed; xfrquery_check checks
 * each answer message's ID, TSIG and RCODE. ldns builds and signs, OpenSSL's HMAC verifies the
 * running digest; no sockets here.
 */
#ifndef BLOKIR_XFRQUERY_H
#define BLOKIR_XFRQUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "zonecopy.h"

struct xfrquery;
struct ldns_struct_rdf; /* ldns_rdf */
struct ldns_struct_pkt; /* ldns_pkt */

/*
 * Zone CZ's queries (CZ borrowed, must outlive it), signed with KEY_NAME and KEY_ALG (absolute
 * names, "key." and "hmac-sha256.", taken over; both NULL: no TSIG) and CZ's secret. Caller owns
 * the result (xfrquery_free); NULL when out of memory (the names are freed then too).
 */
struct xfrquery *xfrquery_new(const struct config_zone *cz, char *key_name, char *key_alg);
void xfrquery_free(struct xfrquery *q);

/*
 * A new query for TYPE (an ldns_rr_type: SOA, IXFR, AXFR) about APEX, with a fresh ID and, when
 * signed, a new MAC chain; HELD is the SOA of the copy held (IXFR only, else NULL). Its wire form
 * in *WIRE (the caller frees it) and *LEN. Returns 0, -1 when out of memory.
 */
int xfrquery_build(struct xfrquery *q, const struct ldns_struct_rdf *apex, uint16_t type,
	const struct zonecopy_soa *held, uint8_t **wire, size_t *len);

/* The ID of the query last built. */
uint16_t xfrquery_id(const struct xfrquery *q);

/*
 * Checks answer message P (its wire form WIRE, LEN bytes) to the query last built. FIRST: the
 * answer's first message (TSIG over all its variables; later ones chain timers only). With a
 * key, the first message must be signed; a later one may be unsigned (RFC 8945 5.3.1: up to 99
 * in a row, the next signed message's MAC covering them): it is accepted and goes into the
 * running digest, and xfrquery_unsigned_pending says so until a signed message is verified.
 * Every signed message's time must be within its fudge of ours. Returns NULL, or why the
 * answer is refused; *TSIG is set when that reason is a TSIG failure.
 */
const char *xfrquery_check(struct xfrquery *q, struct ldns_struct_pkt *p, const uint8_t *wire,
	size_t len, bool first, bool *tsig);

/*
 * Whether messages were accepted unsigned since the last verified one: an answer that ends so
 * (its last message unsigned) must be refused, since nothing covers them.
 */
bool xfrquery_unsigned_pending(const struct xfrquery *q);

#endif
