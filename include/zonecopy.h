/*
 * zonecopy: a secondary zone's persisted copy, STATE-DIR/ZONE.rpz (used by xfr).
 *
 * The copy is an RPZ zone file: a few comment and header lines (origin, SOA, the count of records
 * skipped) and then every trigger of a zonesnap as a record. zonecopy_write makes it durable
 * (temporary file, fsync, rename, directory fsync: a crash leaves the old copy or the new one,
 * never half of one); zonecopy_load reads it back at start through the RPZ reader (rpz.h) into a
 * fresh zonedb. Both only log and report; neither keeps state between calls, so the writer thread
 * may call zonecopy_write while the transfer thread goes on.
 */
#ifndef BLOKIR_ZONECOPY_H
#define BLOKIR_ZONECOPY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct zonedb;
struct zonesnap;

/* The presentation-form SOA names' room: a 255-byte name, its final dot, the NUL. */
#define ZONECOPY_NAME_MAX 257

/* A copy read back: its store and what its SOA and header lines said. */
struct zonecopy {
	struct zonedb *db; /* owned by the caller once zonecopy_load returned 0 */
	uint32_t serial, refresh, retry, expire, minimum;
	char mname[ZONECOPY_NAME_MAX], rname[ZONECOPY_NAME_MAX];
	int64_t written;   /* the file's mtime (wall clock): the last contact with a primary */
	uint64_t skipped;  /* records the primary has and blokir does not enforce */
};

/*
 * Writes SNAP (borrowed) of zone CZ to PATH, HEAD (the header lines, ending in a newline) first,
 * through the temporary file TMP in directory DIR. A failure is logged (the copy in memory is
 * still enforced) and leaves PATH as it was.
 */
void zonecopy_write(const struct config_zone *cz, const char *dir, const char *path,
	const char *tmp, const struct zonesnap *snap, const char *head);

/*
 * Reads zone CZ's copy at PATH; APEX (wire form, APEX_LEN bytes) is the zone's origin. Returns 0
 * with *OUT filled, -1 when there is no usable copy: a missing file is logged as no copy yet, a
 * bad one as unusable (a transfer replaces it).
 */
int zonecopy_load(const struct config_zone *cz, const char *path, const uint8_t *apex,
	size_t apex_len, struct zonecopy *out);

#endif
