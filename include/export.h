/*
 * export: writes the effective policy as an RPZ zone (`blokir export --rpz`), so BIND, Unbound or
 * Knot Resolver can carry the same order as blokir. The zone is written so that reading it back
 * as an `rpz` list (lists.h) gives the same decision for every name as the policy it came from.
 *
 * What is written: $ORIGIN and $TTL (the negative TTL), an SOA (blokir's SOA names, the policy
 * serial) and "@ NS localhost.", then one trigger per slot that decides a name now:
 *   YAML entries in file order, then each enabled list in file order; a slot (the name itself, or
 *   what is below it) already taken by an earlier entry is not written again, exactly as the
 *   policy's precedence leaves it unreachable. A subtree entry "name" is two triggers, "name" and
 *   "*.name"; "*.name" is "*.name"; an exact entry is "name".
 *   Disabled entries and lists are left out. An enabled YAML entry outside its from/until window
 *   now is left out too (a comment says so), but it still hides list entries of the same name,
 *   as it does in the policy: RPZ has no schedules, so the export is a snapshot of this instant.
 *   Then, when POL is a view with RPZ zones (policy_with_zones), each enabled zone's copy in
 *   force, zone by zone in file order: a zone trigger is written when no YAML entry or list name
 *   in force holds the same slot and no earlier zone does (the policy's precedence: the most
 *   specific trigger of all decides, and the consumer's RPZ matching, most specific first, gives
 *   the same answer), with the zone's `action:` applied.
 * Actions: nxdomain "CNAME .", nodata "CNAME *.", allow "CNAME rpz-passthru.", drop
 *   "CNAME rpz-drop.", redirect "CNAME landing." or A/AAAA local data with the redirect's TTL (a
 *   redirect without a landing page answers NODATA in blokir, so it is "CNAME *."). RPZ has no
 *   REFUSED: refused entries are written as "CNAME ." (the name stays blocked) with a comment, and
 *   a warning gives their number.
 * YAML entries carry their line, reason and ref as a trailing "; ..." comment; each list gets one
 * comment line naming its file, action, reason and ref.
 * A trigger whose owner would be longer than 255 octets under the origin, or the root itself as an
 * exact trigger (the origin's own name holds only SOA and NS), cannot be written: it is skipped
 * with a warning (log.h).
 */
#ifndef BLOKIR_EXPORT_H
#define BLOKIR_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "diag.h"
#include "policy.h"

#define EXPORT_ORIGIN_DEFAULT "rpz.blokir."

/* What an export wrote, for the caller's summary line. */
struct export_stats {
	size_t triggers; /* owner names written (one per slot) */
	size_t refused;  /* refused entries written as NXDOMAIN */
	size_t skipped;  /* triggers that cannot be expressed (warned) */
};

/*
 * Writes CFG's effective policy at instant NOW (unix seconds) as an RPZ zone with origin ORIGIN
 * (presentation form, NULL for EXPORT_ORIGIN_DEFAULT) to OUT. CFG and POL are borrowed; POL must
 * have been built from CFG (it gives the SOA fields); the lists are read again, one name at a
 * time, so a 2-million-name list is never held in memory twice. Returns 0 with *STATS filled, or
 * -1 after reporting to DIAG why (a bad origin, a list that cannot be read again, a write error,
 * out of memory).
 */
int export_rpz(const struct config *cfg, const struct policy *pol, const char *origin,
	int64_t now, FILE *out, struct diag *diag, struct export_stats *stats);

/* One slot: NAME itself (FORM MATCH_EXACT) or what is below it (MATCH_BELOW). 0, or -1 to stop. */
typedef int export_slot_cb(void *ctx, const uint8_t *name, size_t len, enum match_form form);
/* Calls CB(CTX, ...) once per slot of a set SRC holds; returns -1 when CB did. */
typedef int export_slots_fn(void *src, export_slot_cb *cb, void *ctx);
/*
 * An export_slots_fn for a set of slots kept in a domtree (SRC is a struct domtree *): a name's
 * own value, when set, is its MATCH_EXACT slot and its below value its MATCH_BELOW slot. The
 * server's transfer increments and bench/serve_delta_bench.c both hand their changed names over
 * this way.
 */
int export_domtree_slots(void *src, export_slot_cb *cb, void *ctx);

/*
 * The zones' part of the export for the slots SLOTS(SRC) names only: $ORIGIN and $TTL as
 * export_rpz writes them, then for each slot the trigger a zone of POL holds there, written
 * exactly as export_rpz writes it, or nothing when no zone's trigger decides the slot (a YAML
 * entry or list holds it, or no zone does). Written for POL before and after a transfer, the
 * two texts are what the transfer changed in the export, without the whole policy being written
 * again (serve-rpz's increments). 0, or -1 after reporting to DIAG.
 */
int export_rpz_slots(const struct config *cfg, const struct policy *pol, const char *origin,
	int64_t now, export_slots_fn *slots, void *src, FILE *out, struct diag *diag);

#endif
