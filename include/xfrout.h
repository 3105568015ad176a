/*
 * xfrout: blokir as the primary of its own policy (`serve-rpz:`). Holds the zone that
 * `blokir export --rpz` writes for the policy in force, in versions: each policy change that
 * changes the zone gets a new serial, and the difference to the previous version is kept in a
 * bounded history, so a secondary that asks IXFR (RFC 1995) from a serial in the history gets
 * only the changes, and one further behind the whole zone (AXFR, RFC 5936). Answers SOA queries
 * for the apex, AXFR and IXFR over TCP, IXFR over UDP with the current SOA alone (RFC 1995 4:
 * the client retries over TCP), AXFR over UDP with REFUSED (not defined over UDP). Clients
 * outside the allowed networks, and when TSIG keys are configured unsigned or wrongly signed
 * requests, are refused; TSIG (RFC 8945, hmac-sha256 and the other algorithms ldns knows) signs
 * every message of a multi-message answer, each chained to the previous MAC.
 *
 * No sockets and no event loop here: workers hand it a parsed query and get an answer, or a
 * stream whose messages they pull one by one as the TCP connection drains. It is shared by every
 * worker and by the loader thread that publishes versions: a version is immutable and reference
 * counted, and a transfer holds the version it started with to its end.
 */
#ifndef BLOKIR_XFROUT_H
#define BLOKIR_XFROUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "diag.h"
#include "export.h"
#include "policy.h"
#include "wire.h"

struct xfrout;
struct xfrout_stream;

/* What a request was, for the counters and the log. */
enum xfrout_kind {
	XFROUT_SOA,          /* an SOA query for the apex, answered */
	XFROUT_AXFR,         /* a full zone sent (AXFR, or IXFR from a serial older than the history) */
	XFROUT_IXFR,         /* only the changes sent (or, up to date, the SOA alone) */
	XFROUT_IXFR_UDP,     /* IXFR over UDP: the current SOA alone */
	XFROUT_REFUSED,      /* outside the allowed networks, unsigned while keys are required, AXFR
	                        over UDP, another type or name in the zone */
	XFROUT_BADTSIG,      /* unknown key, wrong MAC or time: NOTAUTH with the TSIG error */
	XFROUT_KIND_COUNT
};

/* The outcome of xfrout_query. */
enum xfrout_verdict {
	XFROUT_NOT_OURS,  /* not for the served zone: the query path goes on as usual */
	XFROUT_ANSWER,    /* one answer written to OUT */
	XFROUT_STREAM     /* a transfer: pull its messages with xfrout_stream_next */
};

/*
 * A served zone for SC (borrowed; copied), with no version yet (queries for it get REFUSED until
 * the first xfrout_publish). Reads the TSIG secrets from their files: each must hold one
 * base64 secret and be readable by its owner only. Returns the zone (caller owns, xfrout_free),
 * or NULL with *ERR set to a message (static, or in ERRBUF of ERRCAP bytes).
 */
struct xfrout *xfrout_new(const struct config_serve *sc, char *errbuf, size_t errcap,
	const char **err);
void xfrout_free(struct xfrout *x);

/*
 * A new version from ZONE (LEN bytes of RPZ zone text as export_rpz writes it: its SOA gives the
 * names and timers, every other record is served as written). When its records differ from the
 * current version's, it is published with the next serial (at least the current time in unix
 * seconds, always above the previous one) and the difference enters the history; otherwise
 * nothing changes. Safe from any thread; meant for the loader thread (a 2-million-record zone
 * takes about a second). Returns 1 when a new serial was published (*SERIAL, *CHANGES: records
 * added plus removed), 0 when nothing changed, -1 when the text does not parse or memory ran out
 * (*ERR says which; the current version stays).
 */
int xfrout_publish(struct xfrout *x, const char *zone, size_t len, uint32_t *serial,
	size_t *changes, const char **err);

/*
 * xfrout_publish for the zone `blokir export --rpz` writes for CFG and POL (borrowed; POL built
 * from CFG) at instant NOW, with this zone's origin. Returns as xfrout_publish; on -1 what went
 * wrong is in DIAG (the export's problems) or *ERR.
 */
int xfrout_publish_policy(struct xfrout *x, const struct config *cfg, const struct policy *pol,
	int64_t now, struct diag *diag, uint32_t *serial, size_t *changes, const char **err);

/*
 * A new version from the current one and a change to it: BEFORE (BLEN bytes) and AFTER (ALEN),
 * two RPZ texts ($ORIGIN, $TTL and records, no SOA, as export_rpz_slots writes them) giving the
 * records of the names that changed as they were and as they are now. Records only in BEFORE
 * are removed, records only in AFTER added, in one merge with the current records (no export
 * and no diff of the whole zone: an IXFR of 1,000 names to a zone of 2 M costs a copy of the
 * record table). The SOA stays but for the serial. Returns as xfrout_publish; 0 also when no
 * version is published yet (the first one comes from xfrout_publish).
 */
int xfrout_publish_delta(struct xfrout *x, const char *before, size_t blen, const char *after,
	size_t alen, uint32_t *serial, size_t *changes, const char **err);

/*
 * xfrout_publish_delta for the slots SLOTS(SRC) names, a pulled zone's transfer having changed
 * them: what export_rpz_slots writes for them under BEFORE (the policy the current version was
 * built from) and AFTER (the same configuration CFG, the zones' new copies), at NOW. All
 * borrowed. Returns as xfrout_publish_delta; on -1 DIAG or *ERR says why.
 */
int xfrout_publish_slots(struct xfrout *x, const struct config *cfg, const struct policy *before,
	const struct policy *after, export_slots_fn *slots, void *src, int64_t now,
	struct diag *diag, uint32_t *serial, size_t *changes, const char **err);

/* The served version at a glance, for status and counter lines. */
struct xfrout_status {
	uint32_t serial;         /* 0 before the first version */
	size_t records;          /* with the two SOAs of a transfer */
	size_t history;          /* changes kept for IXFR */
	uint32_t oldest;         /* the oldest serial an IXFR can start from (= serial: none) */
};

void xfrout_get_status(struct xfrout *x, struct xfrout_status *st);

/* The current serial, 0 before the first version. */
uint32_t xfrout_serial(const struct xfrout *x);
/* The zone's apex in wire form, and its presentation text ("rpz.blokir."). */
const uint8_t *xfrout_apex(const struct xfrout *x, size_t *len);
const char *xfrout_apex_text(const struct xfrout *x);

/*
 * One client request: Q as wire_parse_query returned it (WIRE_OK), from FROM, over TCP when TCP.
 * XFROUT_NOT_OURS when its question is not in the zone. Otherwise *KIND says what it was and
 * either an answer is written to OUT (CAP bytes; *LEN its length, 0 for none) or *STREAM is a
 * transfer the caller owns (xfrout_stream_free). A line for the log is written to LOGLINE
 * (LOGCAP bytes) for every transfer and every refusal.
 */
enum xfrout_verdict xfrout_query(struct xfrout *x, const struct wire_query *q,
	const struct sockaddr *from, bool tcp, uint8_t *out, size_t cap, size_t *len,
	struct xfrout_stream **stream, enum xfrout_kind *kind, char *logline, size_t logcap);

/*
 * The next message of S into OUT (CAP bytes, at least 16384; 65535 is best). Returns its
 * length, or 0 when the transfer is complete (or failed: signing ran out of memory; the client
 * then sees it end early and retries).
 */
size_t xfrout_stream_next(struct xfrout_stream *s, uint8_t *out, size_t cap);
void xfrout_stream_free(struct xfrout_stream *s);

/*
 * A NOTIFY (RFC 1996) for the current serial with ID into OUT (CAP bytes), TSIG-signed with the
 * first configured key when there is one. Returns its length, or 0 when none can be built
 * (no version yet, or no memory).
 */
size_t xfrout_build_notify(struct xfrout *x, uint16_t id, uint8_t *out, size_t cap);

/* The configured NOTIFY targets (borrowed). */
const struct config_endpoint *xfrout_notify_targets(const struct xfrout *x, size_t *n);

#endif
