/*
 * audit: the audit log of refused queries (`audit-log:`), one JSON object per line. It answers an
 * auditor's question "which client asked for which blocked name, when, and under which entry"
 * without putting a disk on the query path.
 *
 * Each worker thread (producer) owns one bounded single-producer ring of raw records; one writer
 * thread of this module drains every ring, formats the lines and writes them. A producer only
 * copies a few hundred bytes and moves an index: no lock, no system call, no allocation. When
 * its ring is full (the disk is slow, full or gone) the record is dropped and audit_log returns
 * false for the caller to count (audit-dropped): a query is never slowed down by its audit line.
 *
 * audit_reopen (SIGUSR2, `ctl reopen-logs`) makes the writer close the file and open the path
 * again between two lines, so a logrotate-style rename loses nothing: every line written before
 * the reopen is in the renamed file, every line after in the new one.
 */
#ifndef BLOKIR_AUDIT_H
#define BLOKIR_AUDIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

struct audit;

/* What the line records. Each kind is switched on by its name in `audit-events:`. */
enum audit_kind {
	AUDIT_BLOCKED,       /* "blocked": answered from the policy */
	AUDIT_CNAME_BLOCKED, /* "cname-blocked": a forwarded answer's alias chain reached a blocked name */
	AUDIT_ACL_DENIED,    /* "acl-denied": the client is outside allow-from */
	AUDIT_RATE_LIMITED,  /* "rate-limited": over its network's rate limit */
	AUDIT_KIND_COUNT
};

enum audit_transport { AUDIT_UDP, AUDIT_TCP };

struct audit_event;

/* Fills EV's ENTRY, LIST, ZONE, LINE, ACTION, REASON and REF (nothing else) for tail key KEY. */
typedef void audit_texts_cb(const void *key, struct audit_event *ev);

/*
 * One event, every pointer borrowed for the duration of audit_log only (the record is copied).
 * Strings may be NULL; they are cut at AUDIT_TEXT_MAX bytes. A NULL name (QNAME, TARGET,
 * ENTRY_NAME) has length 0; a name longer than a wire name (255) is not recorded.
 */
struct audit_event {
	enum audit_kind kind;
	enum audit_transport transport;
	const struct sockaddr *client;  /* AF_INET or AF_INET6 */
	const uint8_t *qname;           /* the question name as asked (wire format, case kept), */
	size_t qname_len;               /* or NULL when the message had no readable question */
	uint16_t qtype;
	const uint8_t *target;          /* cname-blocked: the blocked name along the chain */
	size_t target_len;
	const char *entry;              /* the deciding entry's name as written ("*.example.org") */
	const uint8_t *entry_name;      /* when ENTRY is NULL: the entry's name in wire format (a */
	size_t entry_name_len;          /* list's names are not kept as text); written like ENTRY */
	const char *list;               /* the list file when the entry came from a list, else NULL */
	const char *zone;               /* the RPZ zone when the entry is one of its triggers (then
	                                   ENTRY_NAME is the trigger), else NULL; never with LIST */
	unsigned line;                  /* the YAML entry's line in the config file; for a list, the
	                                   line of its `lists:` item (written as "list-item-line",
	                                   not as the entry's "line": the name's own line in the
	                                   list file is not kept in memory); 0 for a zone */
	const char *action;             /* "nxdomain", "redirect", "refused", "drop", "tc" ... */
	const char *reason, *ref;
	int64_t time_ms;                /* unix milliseconds; 0: now (CLOCK_REALTIME) */
	const void *tail_key;           /* NULL, or what ENTRY, LIST, ZONE, LINE, ACTION, REASON and
	                                   REF are a function of (the deciding rule): the producer
	                                   then hands them to the writer once, and later lines only
	                                   refer to them. The caller guarantees that a key stands for
	                                   the same texts until its audit_forget (see there). */
	audit_texts_cb *texts;          /* with TAIL_KEY, or NULL: gives those texts for the key
	                                   when they are not packed yet; the event's own are then
	                                   not read, so a caller need not look them up each time */
};

#define AUDIT_TEXT_MAX 1024

/* The `audit-events:` names, in enum order ("blocked", ...); NULL past the end. */
const char *audit_kind_name(enum audit_kind kind);

struct audit_options {
	const char *path;         /* the log file, opened O_APPEND, created 0640 */
	const char *config_path;  /* written as "file" beside "line" */
	unsigned producers;       /* rings: one per worker */
	size_t ring_bytes;        /* per ring; rounded up to a power of two, at least 64 KiB */
	unsigned ipv4_prefix;     /* client addresses are cut to these many bits (32, 128: whole) */
	unsigned ipv6_prefix;
	_Atomic uint64_t *lost;   /* optional (borrowed, outlives the audit): lines lost to failed
	                             writes are also added here, a total shared by successive
	                             writers (a reload replaces the writer, the count goes on) */
};

/*
 * Opens OPT->path (the caller's thread, so a start-up error is reported at start) and starts the
 * writer thread. Returns an audit the caller owns (audit_free), or NULL with the error logged and
 * errno set (a reload names it).
 */
struct audit *audit_new(const struct audit_options *opt);

/*
 * Producer PRODUCER (0..producers-1; each index used by one thread only) records EV. Returns
 * true, or false when the ring was full and the line dropped.
 */
bool audit_log(struct audit *a, unsigned producer, const struct audit_event *ev);

/*
 * Producer PRODUCER's thread: every tail_key it has used is forgotten. Called where the keys'
 * objects may go away or change (a worker acknowledging a new policy: until then the old one
 * is alive, so no two live keys share an address), or the cached texts would be stale.
 */
void audit_forget(struct audit *a, unsigned producer);

/* Any thread: the writer closes the file and opens its path again before its next line. */
void audit_reopen(struct audit *a);

/*
 * The same, waiting (at most TIMEOUT_MS) until the writer has done it: 0, the errno of the
 * failed open (the old file is still written), or ETIMEDOUT. For `ctl reopen-logs`.
 */
int audit_reopen_wait(struct audit *a, unsigned timeout_ms);

/*
 * Waits until every record logged before the call is written (or failed), at most TIMEOUT_MS.
 * Returns 0, or -1 on timeout. For tests and for an orderly stop.
 */
int audit_flush(struct audit *a, unsigned timeout_ms);

/* Lines the writer could not write (a failed write(2): disk full, I/O error). */
uint64_t audit_write_failed(struct audit *a);

/* Stops the writer after it has written everything logged so far, closes the file. NULL: no-op. */
void audit_free(struct audit *a);

#endif
