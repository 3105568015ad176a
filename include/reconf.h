/*
 * reconf: what a reload changes in the running settings, the keys other than the policy's.
 *
 * The server compares the settings in force with a freshly loaded file. Keys a worker can take
 * over on its own thread (upstreams and their timeout, allow-from, deny-action, rate limits,
 * inspect-answers, cache-size, busy-poll-us, use-0x20, upstream-sockets, TCP limits) and the
 * server's own outputs (log-file, log-level, audit-log and its prefixes and buffer, dnstap,
 * metrics-listen: the server opens the new one, the workers switch over) are applied; keys that
 * need new listening sockets, threads or privileges (listen, workers, user, group, chroot,
 * allow-root, state-dir, serve-rpz, control-socket) keep their running value and are named, so
 * the operator is told rather than left believing the change is in force. Zones are compared by
 * the server.
 */
#ifndef BLOKIR_RECONF_H
#define BLOKIR_RECONF_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* The worker parts a change touches. */
#define RECONF_UPSTREAM 1u /* upstreams, upstream-timeout-ms, use-0x20, upstream-sockets,
                              max-inflight: a new upstream set; the old one drains */
#define RECONF_GUARD    2u /* allow-from, deny-action, rate-limit-*: a new guard */
#define RECONF_LISTEN   4u /* tcp-idle-timeout-ms, tcp-read-timeout-ms, max-tcp-connections */
#define RECONF_PROXY    8u /* inspect-answers, cache-size (a fresh cache) */
#define RECONF_LOOP    16u /* busy-poll-us */
#define RECONF_LOG     64u /* log-file: the server opens the new file (no worker part) */
#define RECONF_OBSERVE 32u /* audit-blocked, audit-cname-blocked, audit-acl-denied,
                              audit-rate-limited: which refusals get an audit line */
/* The server's parts: it sets them up before it publishes the settings (a worker only picks up
 * the server's current audit and dnstap with every settings generation). */
#define RECONF_LOG_LEVEL 128u /* log-level */
#define RECONF_AUDIT   256u /* audit-log, audit-client-ipv4/6-prefix, audit-buffer-kb */
#define RECONF_DNSTAP  512u /* dnstap */
#define RECONF_METRICS 1024u /* metrics-listen */
#define RECONF_STEER   2048u /* udp-consolidate: the server's steering reads it (no set-up) */

#define RECONF_KEYS_MAX 48

struct reconf {
	unsigned parts;                       /* RECONF_* bits */
	const char *applied[RECONF_KEYS_MAX]; /* changed keys a reload applies (static names) */
	size_t napplied;
	const char *restart[RECONF_KEYS_MAX]; /* changed keys that need a restart */
	size_t nrestart;
	const char *pinned[RECONF_KEYS_MAX];  /* changed in the file, but the command line set them */
	size_t npinned;
};

/*
 * Compares the settings of RUNNING with LOADED into OUT, then gives LOADED the running value of
 * every key that needs a restart, and of every key in PINNED (NPINNED names: the ones the
 * command line set, which stay the command line's), so that LOADED can be published as the
 * settings in force. Returns 0, or -1 when out of memory (LOADED is then unusable).
 */
int reconf_prepare(const struct config *running, struct config *loaded,
	const char *const *pinned, size_t npinned, struct reconf *out);

/*
 * The server could not set up PART (one RECONF_* bit: a file that cannot be opened, an address
 * that cannot be bound): LOADED takes RUNNING's value of each of its keys, and RC no longer
 * counts them as applied nor PART as changed. 0, or -1 when out of memory.
 */
int reconf_keep(const struct config *running, struct config *loaded, unsigned part,
	struct reconf *rc);

/* The RECONF_* parts whose keys differ between A and B (a worker taking over new settings). */
unsigned reconf_parts(const struct config *a, const struct config *b);

#endif
