/*
 * xfr: blokir as a secondary of RPZ zones (`zones:`). One thread with its own event base runs a
 * state machine per zone, as NSD's xfrd does: an SOA query to the primaries on the zone's
 * refresh timer (retry timer after a failure, at once on a NOTIFY from a listed primary), then
 * an IXFR (RFC 1995) when a copy is held, or an AXFR (RFC 5936) when none is, when the primary
 * refuses IXFR or answers it with the whole zone. With a key, answers must be TSIG-signed (RFC
 * 8945; a transfer may leave up to 99 messages in a row unsigned between signed ones, 5.3.1). A transfer is built off to the side (a fresh zonedb for a full zone, a list of
 * changes for an increment) and only applied when it arrived whole and verified; the result is
 * handed to the daemon as a zonesnap, which it swaps in like a SIGHUP reload. Nothing here runs
 * on the query path except xfr_notify, which only checks the sender and sets a flag.
 *
 * Each zone's last good copy is written to STATE-DIR/ZONE.rpz (an RPZ zone file, written to a
 * temporary file and renamed) and read back at start, so a restart while every primary is down
 * still enforces the order. A transfer that fails (timeout, refused, TSIG mismatch, malformed
 * records, serial going backwards) keeps the current copy, is logged with its reason and counted.
 * When no primary has been reached for the SOA expire interval the zone stays enforced and an
 * alarm is raised (log line, counter, status), or with `on-expire: drop` it stops being enforced.
 */
#ifndef BLOKIR_XFR_H
#define BLOKIR_XFR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "listentry.h"
#include "stats.h"

struct xfr;
struct zonesnap;

/* Calls CB once per record of the increment SRC holds (deleted or added); -1 when CB did. */
typedef int xfr_changes_fn(const void *src, lists_entry_cb *cb, void *ctx);

/*
 * Zone ZONE (index in the start-up cfg->zones) has a new copy to enforce, or none (SNAP NULL:
 * expired with on-expire: drop). Called on the transfer thread, and from xfr_new for the copies
 * read from the state directory. The callee owns the reference to SNAP. When the new copy is
 * the previous one plus an IXFR, CHANGES(SRC, ...) lists the increment's records during the
 * call (so a follower such as serve-rpz updates only those names); CHANGES NULL: anything may
 * have changed (a full transfer, a copy read at start, a copy dropped or taken up again).
 */
typedef void xfr_publish_cb(void *ctx, size_t zone, struct zonesnap *snap,
	xfr_changes_fn *changes, const void *src);

/*
 * Sets up the zones of CFG (borrowed; must outlive the struct xfr). Returns NULL when out of
 * memory or the state directory is unusable (logged).
 */
struct xfr *xfr_new(const struct config *cfg, xfr_publish_cb *cb, void *ctx);

/*
 * Reads each zone's copy from the state directory, publishing those found through CB before it
 * returns (a missing copy is not an error; an unreadable one is logged and ignored), then starts
 * the transfer thread, which checks every zone at once. Called after privileges are dropped (and
 * inside the chroot), since that is where the thread will write. 0, or -1 (logged).
 */
int xfr_start(struct xfr *x);

/* Stops the thread (a transfer in progress is abandoned) and frees everything. NULL: no-op. */
void xfr_free(struct xfr *x);

/*
 * A NOTIFY (RFC 1996) for zone NAME (lower-case wire format) from FROM, from any thread. Returns
 * the RCODE to answer with: NOERROR when FROM's address is one of the zone's primaries (a check
 * starts at once), REFUSED from anyone else or for a zone that is not ours (counted and logged,
 * at most once per 10 s).
 */
unsigned xfr_notify(struct xfr *x, const uint8_t *name, size_t len, const struct sockaddr *from,
	socklen_t fromlen);

/*
 * The status of every zone (cfg->zones order) into OUT (CAP entries); returns the zone count.
 * Any thread; a consistent copy per zone.
 */
size_t xfr_status(struct xfr *x, struct stats_zone *out, size_t cap);

/*
 * Whether zone I is in the policy in force (`enabled:` as the last reload read it, and still in
 * the file), for its status. Any thread.
 */
void xfr_set_enforced(struct xfr *x, size_t i, bool enabled);

/* The status of zone I alone into *OUT. */
void xfr_status_one(struct xfr *x, size_t i, struct stats_zone *out);

#endif
