/*
 * policy: an immutable compiled policy built from a struct config: the matcher plus everything a
 * synthesized answer needs (SOA names, negative TTL, each entry's action and reason).
 *
 * A policy is never changed after policy_new returns; a reload builds a new one (off the query
 * path) and the daemon swaps the pointer, so worker threads read it without locks.
 */
#ifndef BLOKIR_POLICY_H
#define BLOKIR_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "diag.h"
#include "rule.h"

struct policy;

/*
 * Compiles CFG (borrowed; the policy keeps copies of what it needs) and reads its enabled lists.
 * Disabled entries never match. Duplicate YAML entries are reported to DIAG naming both lines,
 * and the result is NULL; so is a list that fails (see lists.h). Precedence: the most specific
 * enabled, in-schedule entry wins; for the same name and form a YAML entry beats a list entry,
 * and an earlier list beats a later one (duplicates between lists are merged silently). Returns
 * a policy the caller owns (policy_free), or NULL on error (reported to DIAG) or out of memory.
 */
struct policy *policy_new(const struct config *cfg, struct diag *diag);
void policy_free(struct policy *p);

/*
 * The most specific enabled entry covering QNAME (lower-case wire format) that is inside its
 * from/until window now, or NULL when none does (forward). An entry outside its window is as if
 * absent: a less specific one may match instead. ACTION_ALLOW rules are returned too: the caller forwards. *MATCH_OFFSET is the offset
 * in QNAME where the matched entry's name starts (the owner of the synthesized SOA).
 */
const struct policy_rule *policy_match(const struct policy *p, const uint8_t *qname, size_t len,
	size_t *match_offset);

struct zonesnap;

/*
 * A policy answering as CORE does plus the RPZ zones of the configuration CORE was compiled
 * from: SNAPS[i] is the current copy of cfg->zones[i] (N of them, NULL where there is none yet
 * or it is not enforced; each non-NULL one gets a reference of the view's own). CORE is shared,
 * not copied: a zone transfer publishes a new view in O(zones). CORE must have come from
 * policy_new; the view holds a reference to it, so either may be freed first. Disabled zones
 * (`enabled: false` in that configuration) never match. NULL when out of memory.
 *
 * Precedence: the most specific trigger wins, as between YAML entries and lists; for the same
 * name and form, YAML entries and lists beat zones, and an earlier zone beats a later one.
 */
struct policy *policy_with_zones(struct policy *core, struct zonesnap *const *snaps, size_t n);
size_t policy_zone_names(const struct policy *p); /* triggers of the zones in force */
size_t policy_zone_count(const struct policy *p); /* `zones:` entries of its configuration */
/* The name (wire format) of zone I of the configuration P was compiled from. */
const uint8_t *policy_zone_name(const struct policy *p, size_t i, size_t *len);
bool policy_zone_enabled(const struct policy *p, size_t i); /* its `enabled:` */

uint32_t policy_negative_ttl(const struct policy *p);
uint32_t policy_serial(const struct policy *p); /* SOA serial: the policy's build time (unix s) */
const uint8_t *policy_soa_mname(const struct policy *p, size_t *len);
const uint8_t *policy_soa_rname(const struct policy *p, size_t *len);
size_t policy_rule_count(const struct policy *p); /* enabled YAML entries compiled in */
size_t policy_list_names(const struct policy *p); /* names read from enabled lists */

/*
 * Enabled YAML rule I (file order) in *RULE, or NULL past the end; returns how many there are.
 * For the schedule timer's log lines.
 */
size_t policy_yaml_rule_at(const struct policy *p, size_t i, const struct policy_rule **rule);

/*
 * The first instant after NOW (unix seconds) at which an entry's schedule starts or ends, or 0
 * when none does: the daemon arms a timer for it and logs the change.
 */
int64_t policy_next_transition(const struct policy *p, int64_t now);

/* What a reload changed, YAML entries compared by name and form; lists by path. */
struct policy_diff {
	size_t added, removed, switched_on, switched_off; /* YAML entries */
	size_t lists_on, lists_off;                       /* list enable switches */
};

/*
 * Compares the entries of OLD and FRESH into *D (names inside lists are not compared: two
 * 2-million-name sets would double the reload's cost). O(n log n); meant for the loader thread.
 * Returns 0, or -1 when out of memory.
 */
int policy_diff(const struct policy *old, const struct policy *fresh, struct policy_diff *d);

/* Whether R is inside its from/until window at NOW. */
bool policy_rule_active(const struct policy_rule *r, int64_t now);

/* ---- why ---- */

enum policy_cand_state {
	POLICY_CAND_DECIDES,      /* the entry policy_match returns */
	POLICY_CAND_OVERRIDDEN,   /* covers the name, active, but a more specific entry decides */
	POLICY_CAND_DISABLED,     /* covers the name but `enabled: false` */
	POLICY_CAND_INACTIVE,     /* covers the name but is outside its from/until window */
	POLICY_CAND_NOT_COVERING  /* on the name's path but not covering it ("*.name" for name
	                             itself, an exact entry for a name above) */
};

/* One entry stored for the query name or one of its ancestors. Borrowed from the policy. */
struct policy_candidate {
	const struct policy_rule *rule; /* NULL for a disabled YAML entry */
	const char *name;               /* the YAML entry's text, or the list's path */
	unsigned line;                  /* the YAML entry's line, or the list's line in the config */
	enum match_form form;           /* YAML entries */
	int list;                       /* index in `lists:`, or -1 for a YAML entry */
	size_t offset;                  /* where in QNAME the stored name starts */
	enum policy_cand_state state;
};

/*
 * Every entry the policy stores for QNAME (lower-case wire format) and its ancestors, most
 * specific first, as policy_match at NOW would weigh them: at most CAP into OUT; returns how many.
 * For diagnostics (`why`), not the query path.
 */
size_t policy_explain(const struct policy *p, const uint8_t *qname, size_t len, int64_t now,
	struct policy_candidate *out, size_t cap);

size_t policy_list_count(const struct policy *p); /* lists in the config, enabled or not */
/* List I's path (NULL past the end); *ENABLED and *NAMES when not NULL. */
const char *policy_list_path(const struct policy *p, size_t i, bool *enabled, size_t *names);

/*
 * The line of list LIST on which NAME (wire format) is listed covering itself (SELF) or the names
 * below it, or 0 when it is not found. Reads the list file again: for `why`, never the query path.
 */
unsigned policy_list_line(const struct policy *p, size_t list, const uint8_t *name, size_t len,
	bool self);

/* ---- blocked-query counters ----
 * The one mutable part of a policy: a counter per YAML rule and per list, per worker. The daemon
 * calls policy_hits_init before it publishes a policy; a worker counts with policy_hit (a relaxed
 * store into its own cache lines); readers sum with policy_hits. A policy never initialized
 * (tests, export, why) counts nothing. */
int policy_hits_init(struct policy *p, unsigned workers); /* 0, or -1 when out of memory */
void policy_hit(const struct policy *p, unsigned worker, const struct policy_rule *r);
size_t policy_hit_slots(const struct policy *p);          /* enabled YAML rules + lists */
uint64_t policy_hits(const struct policy *p, size_t slot); /* summed over workers */
/* Which counters P counts into: a view (policy_with_zones) shares its core's. */
const void *policy_hits_id(const struct policy *p);
/* Slot's label: a YAML rule's name or a list's path (*IS_LIST). NULL past the end. */
const char *policy_hit_label(const struct policy *p, size_t slot, bool *is_list);

/*
 * The clock policy_match reads (unix seconds; CLOCK_REALTIME_COARSE by default). Tests inject
 * their own; NULL restores the default. policy_now() reads it.
 */
void policy_set_clock(int64_t (*now)(void));
int64_t policy_now(void);
size_t policy_memory(const struct policy *p);     /* bytes allocated, for logs and benchmarks */

#endif
