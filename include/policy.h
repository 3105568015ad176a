/*
 * policy: an immutable compiled policy built from a struct config: the matcher plus everything a
 * synthesized answer needs (SOA names, negative TTL, each entry's action and reason).
 *
 * A policy is never changed after policy_new returns; a reload builds a new one (off the query
 * path) and the daemon swaps the pointer, so worker threads read it without locks.
 */
#ifndef BLOKIR_POLICY_H
#define BLOKIR_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "diag.h"

struct policy;

/* What a matching entry says. Borrowed from the policy; valid as long as the policy is. */
struct policy_rule {
	enum policy_action action; /* never ACTION_DEFAULT: resolved at build time */
	const char *name;          /* the entry as written, normalized ("t.me", "*.telegram.org") */
	const char *reason;        /* NULL when none */
	size_t reason_len;
	const char *ref;           /* NULL when none */
	unsigned line;             /* where the entry is in the file */
	const struct config_redirect *redirect; /* ACTION_REDIRECT: the landing page (the policy
	                                           keeps its own copy); NULL otherwise */
	int64_t from, until;       /* schedule, unix seconds, 0 = unbounded */
};

/*
 * Compiles CFG (borrowed; the policy keeps copies of what it needs). Disabled entries are left
 * out. Duplicate entries are reported to DIAG naming both lines, and the result is NULL. Returns a
 * policy the caller owns (policy_free), or NULL on error (reported to DIAG) or out of memory.
 */
struct policy *policy_new(const struct config *cfg, struct diag *diag);
void policy_free(struct policy *p);

/*
 * The most specific enabled entry covering QNAME (lower-case wire format), or NULL when none does
 * (forward). ACTION_ALLOW rules are returned too: the caller forwards. *MATCH_OFFSET is the offset
 * in QNAME where the matched entry's name starts (the owner of the synthesized SOA).
 */
const struct policy_rule *policy_match(const struct policy *p, const uint8_t *qname, size_t len,
	size_t *match_offset);

uint32_t policy_negative_ttl(const struct policy *p);
uint32_t policy_serial(const struct policy *p); /* SOA serial: the policy's build time (unix s) */
const uint8_t *policy_soa_mname(const struct policy *p, size_t *len);
const uint8_t *policy_soa_rname(const struct policy *p, size_t *len);
size_t policy_rule_count(const struct policy *p); /* enabled entries compiled in */
size_t policy_memory(const struct policy *p);     /* bytes allocated, for logs and benchmarks */

#endif
