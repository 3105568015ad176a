/*
 * lists: readers for the external name lists a policy imports (`lists:` in the config): plain
 * domain lists, hosts files and RPZ zone files. Each reader hands every name it finds to a
 * callback, so the policy decides how names become rules and no list is ever held in memory as
 * a whole (a regulator's list has millions of lines).
 *
 * Formats:
 *   domains  one name per line; "#" starts a comment; blank lines are ignored. "name" matches the
 *            name and everything below it, "*.name" only what is below it.
 *   hosts    "ADDR name [name...]" with ADDR one of 0.0.0.0, 127.0.0.1, :: or ::1; each name
 *            matches itself only (hosts-file meaning). localhost and the other loopback names
 *            that hosts files carry are skipped.
 *   rpz      an RPZ zone (RFC-draft "DNS Response Policy Zones"), read by rpz.h. QNAME triggers
 *            only: an owner relative to the zone's apex (the first SOA's owner, or $ORIGIN);
 *            "name" matches the name itself, "*.name" what is below it. CNAME . = nxdomain,
 *            CNAME *. = nodata, CNAME rpz-passthru. = allow, CNAME rpz-drop. = drop, CNAME other
 *            = redirect to that name; A/AAAA records = redirect to those addresses (consecutive
 *            records of one owner form one answer). SOA and NS records are ignored.
 *
 * A bad line is reported as "FILE:LINE: message". Names with Unicode labels are converted to
 * A-labels (see value_parse_name_len).
 */
#ifndef BLOKIR_LISTS_H
#define BLOKIR_LISTS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "diag.h"
#include "listentry.h"

/* Most bad lines reported per list; after that only their count. */
#define LISTS_REPORT_MAX 20

/*
 * Reads the list L (borrowed) and calls CB for each entry. Bad lines are reported to DIAG; with
 * L->skip_bad_lines they are only counted in *BAD (and reading goes on), otherwise the whole
 * list fails. Returns 0, or -1 when the list cannot be used (unreadable, a bad line without
 * skip, or CB failed) after reporting why to DIAG.
 */
int lists_read(const struct config_list *l, struct diag *diag, lists_entry_cb *cb, void *ctx,
	size_t *bad);

/* About how many names L holds (its line count), to size the matcher before reading it. */
size_t lists_estimate(const struct config_list *l);

#endif
