/*
 * zonedb: the content of one RPZ zone as the policy sees it, built to change by small deltas.
 *
 * The transfer thread owns a struct zonedb: a mutable table of every trigger of the zone (the
 * store), changed record by record as an AXFR or IXFR is applied. zonedb_snapshot publishes an
 * immutable struct zonesnap for the query path: a base table (a copy of the store taken at the
 * last compaction, shared by every snapshot since) plus a small overlay holding each name changed
 * since then (its new value, or a tombstone for a removed trigger). An IXFR of 1,000 changes to
 * a 2,000,000-name zone thus costs 1,000 store writes and an overlay of the names changed since
 * the last compaction, not a rebuild; once the overlay passes 1/16 of the base (and at least
 * ZONEDB_COMPACT_MIN names), the snapshot takes a new base, one memory copy of the store.
 *
 * Snapshots are reference counted (any thread may drop the last reference); the store and its
 * snapshots never share anything writable.
 */
#ifndef BLOKIR_ZONEDB_H
#define BLOKIR_ZONEDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "listentry.h"
#include "rule.h"

#define ZONEDB_COMPACT_MIN 16384

struct zonedb;
struct zonesnap;

/*
 * An empty zone whose rules carry NAME (the zone, for logs), REASON and REF (may be NULL); all
 * three are copied. EXPECTED sizes the table. NULL when out of memory.
 */
struct zonedb *zonedb_new(const char *name, const char *reason, const char *ref, size_t expected);
void zonedb_free(struct zonedb *db);

/*
 * Adds or removes the meaning of one record (E from the RPZ reader, rpz.h). An address
 * joins (or leaves) the owner's local data; a CNAME replaces what the owner had. zonedb_del
 * returns 1 when the record was not there (the copy and the primary's differ). 0, or -1 when out
 * of memory (the store may then be partly changed: start again from a full transfer).
 */
int zonedb_add(struct zonedb *db, const struct lists_entry *e);
int zonedb_del(struct zonedb *db, const struct lists_entry *e);

size_t zonedb_triggers(const struct zonedb *db); /* triggers (owner and form) in the store */

/* Calls CB once per record of the store (one per address of local data); stops at CB's -1. */
int zonedb_foreach(const struct zonedb *db, lists_entry_cb *cb, void *ctx);

/* An immutable view of the store as it is now; the caller owns one reference. NULL on ENOMEM. */
struct zonesnap *zonedb_snapshot(struct zonedb *db);

/*
 * Calls CB once per record of snapshot S, as zonedb_foreach does for the store; stops at CB's
 * -1. Any thread: a snapshot never changes, so its copy can be written while the store moves on.
 */
int zonesnap_foreach(const struct zonesnap *s, lists_entry_cb *cb, void *ctx);

void zonesnap_ref(struct zonesnap *s);
void zonesnap_unref(struct zonesnap *s); /* NULL is a no-op; frees with the last reference */
size_t zonesnap_triggers(const struct zonesnap *s);
size_t zonesnap_memory(const struct zonesnap *s); /* bytes of base, overlay and rules */

/*
 * The most specific trigger covering QNAME (lower-case wire format), or NULL; *MATCH_OFFSET is
 * where the trigger's name starts in QNAME. With OVERRIDE other than ACTION_DEFAULT every
 * trigger answers with that action (the zone's `action:`), a rule owned by the snapshot.
 */
const struct policy_rule *zonesnap_match(const struct zonesnap *s, const uint8_t *qname,
	size_t len, enum policy_action override, size_t *match_offset);

/*
 * The trigger S holds in exactly one slot: NAME itself (FORM MATCH_EXACT) or what is below it
 * (MATCH_BELOW), or NULL. OVERRIDE as for zonesnap_match. For the served zone (serve-rpz), which
 * writes a zone's triggers slot by slot.
 */
const struct policy_rule *zonesnap_get(const struct zonesnap *s, const uint8_t *name, size_t len,
	enum match_form form, enum policy_action override);

#endif
