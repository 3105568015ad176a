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

#endif
