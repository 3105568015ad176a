/*
 * zonecopy: a secondary zone's persisted copy, STATE-DIR/ZONE.rpz (used by xfr).
 *
 * The copy is an RPZ zone file: a few comment and header lines (origin, SOA, the count of records
 * skipped) and then every trigger of a zonesnap as a record. Its writer thread makes it durable
 * (temporary file, fsync, rename, directory fsync: a crash leaves the old copy or the new one,
 * never half of one); zonecopy_load reads it back at start through the RPZ reader (rpz.h) into a
 * fresh zonedb. The writing is done on a thread of its own (struct zonecopy_writer), the reading
 * once at start on the caller's.
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

/* The SOA of a copy (the header lines hold the names, which a zonedb does not keep). */
struct zonecopy_soa {
	uint32_t serial, refresh, retry, expire, minimum;
	char mname[ZONECOPY_NAME_MAX], rname[ZONECOPY_NAME_MAX];
};

/* A copy read back: its store and what its SOA and header lines said. */
struct zonecopy {
	struct zonedb *db; /* owned by the caller once zonecopy_load returned 0 */
	struct zonecopy_soa soa;
	int64_t written;   /* the file's mtime (wall clock): the last contact with a primary */
	uint64_t skipped;  /* records the primary has and blokir does not enforce */
};

/*
 * The writer thread: copies are written from snapshots off the transfer thread, so a 2 M-name
 * zone's second of file writing never holds up the next transfer. Per zone at most one copy
 * waits; a newer one replaces it, as only the newest matters.
 */
struct zonecopy_writer;

/*
 * Starts the writer (at a lower priority) for NZONES zones' copies in directory DIR (borrowed,
 * must outlive it). Caller owns the result (zonecopy_writer_stop); NULL when it cannot start
 * (logged).
 */
struct zonecopy_writer *zonecopy_writer_start(const char *dir, size_t nzones);

/*
 * Has the writer write SNAP (the caller's reference, taken over) as the copy of zone ZONE (an
 * index below NZONES), CZ, from primary FROM with SOA and SKIPPED records not enforced, to
 * PATH through the temporary file TMP. CZ, FROM, PATH and TMP are borrowed and must outlive the
 * writer; SOA is copied. Any thread. A failure to write is logged (the copy in memory is still
 * enforced) and leaves PATH as it was.
 */
void zonecopy_writer_put(struct zonecopy_writer *w, size_t zone, const struct config_zone *cz,
	const char *path, const char *tmp, struct zonesnap *snap, const struct zonecopy_soa *soa,
	const char *from, uint64_t skipped);

/* Writes every copy handed over, then ends the thread and frees W. NULL is ignored. */
void zonecopy_writer_stop(struct zonecopy_writer *w);

/*
 * Reads zone CZ's copy at PATH; APEX (wire form, APEX_LEN bytes) is the zone's origin. Returns 0
 * with *OUT filled, -1 when there is no usable copy: a missing file is logged as no copy yet, a
 * bad one as unusable (a transfer replaces it).
 */
int zonecopy_load(const struct config_zone *cz, const char *path, const uint8_t *apex,
	size_t apex_len, struct zonecopy *out);

#endif
