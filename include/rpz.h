/*
 * rpz: the RPZ zone reader ("DNS Response Policy Zones", draft-vixie-dnsop-dns-rpz). Turns the
 * records of an RPZ zone, given as zone-file text (an `rpz` list, a persisted copy) or as records
 * already in wire form (a zone transfer), into list entries: one trigger name with its action.
 *
 * The text reader is made for the shapes real feeds use, one record a line: a QNAME trigger
 * (relative, absolute or "@" owner, an owner left out to repeat the previous one, optional TTL
 * and class) with "CNAME ." (nxdomain), "CNAME *." (nodata), "CNAME rpz-passthru." (allow),
 * "CNAME rpz-drop." (drop), CNAME to another name (redirect) or A/AAAA local data (redirect to
 * the addresses; consecutive records of one owner form one answer). It parses those in place
 * without allocating; every other record (SOA, NS, parentheses, quotes, escapes, other types)
 * and every line it does not understand is handed to ldns, which also words the errors. $ORIGIN
 * and $TTL are followed; $INCLUDE is refused.
 *
 * The zone's apex is given (a transferred zone's name) or taken from the first SOA, or before
 * any SOA the first $ORIGIN. A trigger is the owner minus the apex; "*.name" is MATCH_BELOW, any
 * other owner MATCH_EXACT. SOA and NS records are ignored. Owners with an rpz-ip, rpz-nsip,
 * rpz-nsdname or rpz-client-ip label are other trigger types: bad records, or with
 * RPZ_SKIP_OTHER_TRIGGERS only counted (real feeds carry them; a secondary skips them).
 */
#ifndef BLOKIR_RPZ_H
#define BLOKIR_RPZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "listentry.h" /* struct lists_entry, lists_entry_cb: what every list reader produces */

/* A record that cannot be used: LINE (0 for a wire record) and a message; reading goes on. */
typedef void rpz_bad_cb(void *ctx, unsigned line, const char *msg);

/*
 * Every record as read, before it is judged (SOA and NS included): OWNER lower-case wire form,
 * RDATA uncompressed wire form, the TTL ($TTL when the record has none). Borrowed for the call.
 * Returns 0, or -1 to stop the reader. For a consumer that wants the zone's records themselves
 * (the zone blokir serves to its secondaries is built from its own export this way).
 */
typedef int rpz_record_cb(void *ctx, const uint8_t *owner, size_t owner_len, uint16_t type,
	uint32_t ttl, const uint8_t *rdata, size_t rdlen);

/* RPZ_SKIP_OTHER_TRIGGERS: rpz-ip, rpz-nsip... owners are counted, not reported as bad. */
#define RPZ_SKIP_OTHER_TRIGGERS 1u

/* Where a reader's results go. All borrowed. */
struct rpz_sink {
	lists_entry_cb *entry; /* each trigger, or NULL; -1 stops the reader (out of memory) */
	rpz_record_cb *record; /* each record, or NULL */
	rpz_bad_cb *bad;       /* each bad record; may be NULL (then only counted) */
	void *ctx;
	unsigned flags;
};

/* What a reader saw. Zero it before the first call; the calls add to it. */
struct rpz_stats {
	size_t records;          /* records read, directives not counted */
	size_t entries;          /* triggers handed to the sink */
	size_t ignored;          /* SOA and NS */
	size_t other_triggers;   /* skipped rpz-ip, rpz-nsip, rpz-nsdname, rpz-client-ip owners */
	size_t bad;              /* records reported as bad */
	size_t fallback;         /* records parsed by ldns rather than the fast path */
	bool have_soa;           /* the first SOA's fields: */
	uint32_t serial, refresh, retry, expire, minimum;
};

/* A reader: its apex, $ORIGIN, $TTL and the previous owner between calls. */
struct rpz_reader;

/*
 * A reader for a zone with apex APEX (lower-case wire format, APEX_LEN octets), or with APEX
 * NULL one that takes it from the first SOA or $ORIGIN. SINK and ST are borrowed and must outlive
 * the reader. Caller owns the result (rpz_reader_free); NULL when out of memory.
 */
struct rpz_reader *rpz_reader_new(const uint8_t *apex, size_t apex_len, const struct rpz_sink *sink,
	struct rpz_stats *st);
void rpz_reader_free(struct rpz_reader *r);

/*
 * Reads zone-file text TEXT (LEN bytes, not NUL-terminated; borrowed), its first line numbered
 * FIRST_LINE. Returns 0, or -1 when the sink's entry callback failed or memory ran out.
 */
int rpz_reader_text(struct rpz_reader *r, const char *text, size_t len, unsigned first_line);

/*
 * One record in wire form: OWNER (wire, any case, OWNER_LEN octets), TYPE, TTL and its RDATA
 * (RDLEN octets) with any names in it uncompressed, as ldns_rr_rdata2buffer_wire writes them or
 * as a transfer's records are once decompressed. Returns 0, or -1 when the entry callback failed.
 */
int rpz_reader_rr(struct rpz_reader *r, const uint8_t *owner, size_t owner_len, uint16_t type,
	uint32_t ttl, const uint8_t *rdata, size_t rdlen);

/*
 * The whole file PATH read with a new reader (apex as for rpz_reader_new). Returns 0, or -1
 * with *ERR (static or strerror) set when the file cannot be read or memory ran out, or with
 * *ERR NULL when the entry callback failed.
 */
int rpz_read_file(const char *path, const uint8_t *apex, size_t apex_len,
	const struct rpz_sink *sink, struct rpz_stats *st, const char **err);

#endif
