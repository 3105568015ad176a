/*
 * dnstap: a copy of the DNS traffic for the operator's collectors (`dnstap:`), as dnstap
 * protobuf messages (proto/dnstap.proto) in Frame Streams, through Debian's libfstrm to a unix
 * socket (a collector: dnstap, vector, go-dnscollector, fstrm_capture) or to a file.
 *
 * Each worker thread submits to its own fstrm input queue, and fstrm's I/O thread does all the
 * writing: dnstap_log packs one message into a buffer and hands it over without waiting. When
 * the queue is full (the collector is slow or gone) the message is dropped and dnstap_log says
 * so, for the caller to count (dnstap-dropped); a query is never slowed down by its copy. fstrm
 * reconnects to a socket on its own (every second); while no collector is connected, messages
 * are refused the same way, and counted, rather than thrown away unseen by fstrm.
 *
 * A file is written from its start (a Frame Streams file holds one stream); dnstap_reopen
 * ends it with a STOP frame and starts the path afresh between two frames, for logrotate.
 */
#ifndef BLOKIR_DNSTAP_H
#define BLOKIR_DNSTAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

struct dnstap;

enum dnstap_type {
	DNSTAP_CLIENT_QUERY,       /* a client's query, as received */
	DNSTAP_CLIENT_RESPONSE,    /* our answer to it (relayed or synthesized) */
	DNSTAP_FORWARDER_QUERY,    /* a query sent upstream */
	DNSTAP_FORWARDER_RESPONSE, /* the upstream's answer, as received */
	DNSTAP_TYPE_COUNT
};

#define DNSTAP_TYPE_BIT(t) (1u << (t))

/* For a synthesized answer: what decided it (dnstap's Policy message). */
enum dnstap_match {
	DNSTAP_MATCH_QNAME,     /* the question name, or a name along the answer's alias chain */
	DNSTAP_MATCH_CLIENT_IP  /* the client's address (allow-from, rate limits) */
};

struct dnstap_policy {
	const char *rule;             /* the entry as written, "allow-from", "rate-limit" */
	bool has_action;
	enum policy_action action;    /* as dnstap spells it; refused has no dnstap name */
	bool truncate;                /* TC=1 answer (rate-limit: tc): dnstap's TRUNCATE */
	enum dnstap_match match;
	const uint8_t *value;         /* the matched name (wire) or address (4 or 16 octets) */
	size_t value_len;
	const char *type;             /* dnstap Policy.type; "blokir" when NULL */
};

/* One message. Every pointer is borrowed for the call only (the message is packed into a buffer
 * of its own). Addresses are AF_INET or AF_INET6; NULL leaves the field out. */
struct dnstap_msg {
	enum dnstap_type type;
	bool tcp;
	const struct sockaddr *query_addr;    /* the initiator: the client, or our upstream socket */
	const struct sockaddr *response_addr; /* the responder: our listen address, or the upstream */
	const uint8_t *query; size_t query_len;       /* wire format, verbatim */
	const uint8_t *response; size_t response_len;
	int64_t time_ns;  /* unix nanoseconds the message was sent or received; 0: now */
	const struct dnstap_policy *policy; /* NULL: none applied */
};

struct dnstap_options {
	const char *socket_path; /* exactly one of the two */
	const char *file_path;
	const char *identity;    /* Dnstap.identity; NULL: the host name */
	const char *version;     /* Dnstap.version */
	unsigned queues;         /* one per worker */
	unsigned types;          /* DNSTAP_TYPE_BIT()s of the messages wanted */
};

/*
 * Checks that the file can be created (a start-up error is reported at start), starts fstrm's
 * I/O thread; for a socket, waits for its first connect (a warning when no collector listens). Returns a dnstap the caller owns (dnstap_free), or NULL with the error logged and
 * errno set (a reload names it).
 */
struct dnstap *dnstap_new(const struct dnstap_options *opt);

/*
 * A reload that keeps the target: the identity (NULL: the host name) and the DNSTAP_TYPE_BIT()s
 * wanted change in place, for the next message of every worker (a file is not started again).
 * One thread at a time; workers may log meanwhile. The replaced identity is kept until
 * dnstap_free, since a worker may be packing a message with it. 0, or -1 when out of memory
 * (nothing changed).
 */
int dnstap_set(struct dnstap *d, const char *identity, unsigned types);

/* Whether messages of type T are wanted; D may be NULL (dnstap off): false. */
bool dnstap_wants(const struct dnstap *d, enum dnstap_type t);

/*
 * Queue QUEUE (0..queues-1; each index used by one thread only) sends M. Returns 0, or -1 when
 * the message was dropped (queue full, out of memory).
 */
int dnstap_log(struct dnstap *d, unsigned queue, const struct dnstap_msg *m);

/* Any thread: a file is ended and started afresh at its path before the next frame. */
void dnstap_reopen(struct dnstap *d);

/* Whether a collector is connected to D's socket (a socket with none listening is not an
 * error: fstrm retries every second, and dnstap_new logged a warning). True for a file. */
bool dnstap_connected(const struct dnstap *d);

/* The file D writes (borrowed, as long as D), or NULL for a socket. */
const char *dnstap_file(const struct dnstap *d);

/* Writes out what is queued (fstrm's STOP frame ends the stream), stops the thread. NULL: no-op. */
void dnstap_free(struct dnstap *d);

#endif
