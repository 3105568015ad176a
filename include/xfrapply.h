/*
 * xfrapply: one zone transfer answer read record by record and applied (used by xfr).
 *
 * xfr's state machine receives the messages of an AXFR or IXFR answer and hands each record
 * here. xfrapply follows the answer's shape (RFC 1995 4, RFC 5936 2.2: the first SOA, then a full
 * zone or increments of deletions and additions between SOAs, until the final SOA), passes each
 * data record through the RPZ reader (rpz.h) as a trigger, and keeps the result aside: a full zone
 * in a fresh zonedb, an increment in a change log. Nothing touches the zone's store until
 * xfrapply_commit, which xfr calls only when the answer is whole and verified; freeing an
 * xfrapply before that leaves the copy as it was. No sockets, no event loop, no TSIG (xfr
 * verifies the messages before their records come here).
 */
#ifndef BLOKIR_XFRAPPLY_H
#define BLOKIR_XFRAPPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "listentry.h"

struct xfrapply;
struct zonedb;
struct ldns_struct_rdf; /* ldns_rdf */
struct ldns_struct_rr;  /* ldns_rr */

/* The presentation-form SOA names' room: a 255-byte name, its final dot, the NUL. */
#define XFRAPPLY_NAME_MAX 257

/* What the zone holds as the transfer starts: the answer is judged against it. */
struct xfrapply_held {
	const struct config_zone *cz;       /* borrowed: names, reason and ref of a fresh store */
	const struct ldns_struct_rdf *apex; /* borrowed, must outlive the xfrapply: the origin */
	bool trusted;     /* a copy is held and matches the primary's: an older serial is refused */
	uint32_t serial;  /* the serial held (0 when none) */
	size_t triggers;  /* the store's size, to size a full zone sent in answer to an IXFR */
};

/* The SOA of the version received. */
struct xfrapply_soa {
	uint32_t serial, refresh, retry, expire, minimum;
	char mname[XFRAPPLY_NAME_MAX], rname[XFRAPPLY_NAME_MAX];
};

/* What xfrapply_commit did to the store. */
struct xfrapply_result {
	bool full;        /* the store was replaced by a full zone (else an increment applied) */
	size_t dels, adds; /* the increment's records applied */
};

/*
 * A new answer to read, to the IXFR query (IXFR set) or the AXFR one. HELD is copied. Caller owns
 * the result (xfrapply_free); NULL when out of memory.
 */
struct xfrapply *xfrapply_new(const struct xfrapply_held *held, bool ixfr);
void xfrapply_free(struct xfrapply *a);

/*
 * One record of the answer's answer section, in order. Returns NULL, or why the answer is bad;
 * *BACKWARDS is set when that is a first SOA older than the trusted copy's.
 */
const char *xfrapply_rr(struct xfrapply *a, const struct ldns_struct_rr *rr, bool *backwards);

/* Whether RR is the SOA record of APEX, with its serial in *SERIAL (an SOA query's answer). */
bool xfrapply_is_apex_soa(const struct ldns_struct_rr *rr, const struct ldns_struct_rdf *apex,
	uint32_t *serial);

/* After each message's records: whether the answer is whole (its final SOA arrived). */
bool xfrapply_complete(struct xfrapply *a);

/* Whether the answer was the serial held, so there is nothing to apply. */
bool xfrapply_up_to_date(const struct xfrapply *a);

/* The new version's SOA (its serial once the first record was read; the rest with it). */
const struct xfrapply_soa *xfrapply_soa(const struct xfrapply *a);

/* The first record skipped and why (only QNAME triggers are enforced), or NULL. */
const char *xfrapply_skip_why(const struct xfrapply *a);

/*
 * Applies the whole answer to *DB (the zone's store; replaced, and the old one freed, by a full
 * zone) and *SKIPPED (the count of records the primary has and blokir does not enforce), with
 * what was done in *RES. Returns 0, 1 when an increment deleted a record the store does not have
 * (the store and the primary's copy differ), -1 when out of memory; after 1 or -1, the store is
 * partly changed and only a full transfer makes it right.
 */
int xfrapply_commit(struct xfrapply *a, struct zonedb **db, uint64_t *skipped,
	struct xfrapply_result *res);

/*
 * Calls CB once per record an increment deleted or added (in the answer's order), before or
 * after xfrapply_commit, until xfrapply_free; nothing for a full zone. Stops at CB's -1. For a
 * caller that follows the zone by its deltas (serve-rpz re-exports only what changed).
 */
int xfrapply_foreach_change(const struct xfrapply *a, lists_entry_cb *cb, void *ctx);

/* RFC 1982 serial arithmetic: A is newer than B. */
static inline bool xfr_serial_gt(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) > 0;
}

#endif
