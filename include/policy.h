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
#include "listentry.h"
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

/*
 * policy_new that gives up when *STOP (NULL: never) becomes true, checked for every list name:
 * a daemon stopping during a reload does not wait for a big list. The result is then NULL with
 * "load abandoned" in DIAG.
 */
struct policy *policy_new_until(const struct config *cfg, struct diag *diag,
	const atomic_bool *stop);
void policy_free(struct policy *p);

/*
 * The most specific enabled entry covering QNAME (lower-case wire format) that is inside its
 * from/until window now, or NULL when none does (forward). An entry outside its window is as if
 * absent: a less specific one may match instead. ACTION_ALLOW rules are returned too: the caller forwards. *MATCH_OFFSET is the offset
 * in QNAME where the matched entry's name starts (the owner of the synthesized SOA).
 */
const struct policy_rule *policy_match(const struct policy *p, const uint8_t *qname, size_t len,
	size_t *match_offset);
/* policy_match for a name wire_parse_query checked, with its LABELS (qname_labels) counted. */
const struct policy_rule *policy_match_labels(const struct policy *p, const uint8_t *qname,
	size_t len, size_t labels, size_t *match_offset);

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

/*
 * What zone I of view P holds in one slot (NAME itself with FORM MATCH_EXACT, what is below it
 * with MATCH_BELOW), with the zone's `action:` applied, or NULL (no such trigger, or no copy of
 * the zone in force in P). For the export, which writes zones' triggers slot by slot.
 */
const struct policy_rule *policy_zone_slot(const struct policy *p, size_t i, const uint8_t *name,
	size_t len, enum match_form form);

/*
 * Calls CB once per record of zone I's copy in force in view P (zonesnap_foreach: one per
 * address of local data, a CNAME or an action otherwise); 0 at once when P enforces none.
 * Stops at CB's -1.
 */
int policy_zone_foreach(const struct policy *p, size_t i, lists_entry_cb *cb, void *ctx);

/* ---- decisions ---- */

/* Why an entry that covers a name does, or does not, decide it. */
enum policy_state {
	POLICY_DECIDES,    /* the most specific entry in force: its action is the answer */
	POLICY_OVERRIDDEN, /* in force, but a more specific entry decides (only with ENCLOSING) */
	POLICY_NOT_NOW,    /* outside its from/until window at NOW: as if absent */
	POLICY_DISABLED    /* a YAML entry with enabled: false: as if absent */
};

/* What a query gets, given the deciding entry and the query type. */
enum policy_answer {
	POLICY_FORWARD,    /* sent upstream: no entry decides, or an allow entry does */
	POLICY_NXDOMAIN,
	POLICY_NODATA,     /* also a redirect with nothing for this type (see wire_redirect_plan) */
	POLICY_REFUSED,
	POLICY_DROP,       /* no answer at all */
	POLICY_REDIRECT    /* the landing page's records: a, aaaa, cname below */
};

/* One entry covering the name: its slot in the matcher, and why it decides or not. */
struct policy_step {
	const struct policy_rule *rule; /* NULL only for a disabled YAML entry */
	const char *text;  /* a YAML entry as written ("t.me", "*.telegram.org"); NULL for a list
	                      name, which is QNAME from OFFSET in the form SLOT says */
	const char *file;  /* the config file, or the list file */
	unsigned line;     /* the YAML entry's line in the config file; for a list name its line in
	                      the list file with POLICY_DECIDE_LIST_LINES, else 0 */
	size_t offset;     /* where in QNAME the entry's name starts (0: QNAME itself) */
	enum match_form slot; /* MATCH_EXACT: the entry's name is QNAME itself (an exact or subtree
	                         entry); MATCH_BELOW: QNAME is below it (a subtree or "*." entry) */
	size_t zone;       /* rule->source POLICY_FROM_ZONE: the zone's index in the config's
	                      zones (policy_zone_name names it); FILE and LINE are then NULL, 0 */
	enum policy_state state;
};

/* A name has at most 127 labels: that many ancestors, plus the root and itself. */
#define POLICY_STEPS_MAX 129

/* Filled by policy_decide. Everything it points to is borrowed from the policy. */
struct policy_decision {
	const struct policy_rule *rule; /* the deciding entry, NULL when none (forwarded) */
	enum policy_action action;      /* rule->action; ACTION_ALLOW when no entry decides */
	enum policy_answer answer;      /* what a query of QTYPE gets */
	size_t a, aaaa; bool cname;     /* POLICY_REDIRECT: the records it gets (wire_redirect_plan) */
	size_t match_offset;            /* where the deciding entry's name starts in QNAME: the
	                                   owner of the synthesized SOA */
	size_t decider;                 /* index of the deciding step; nsteps when none */
	struct policy_step steps[POLICY_STEPS_MAX]; /* the entries covering QNAME that the walk met,
	                                   most specific first */
	size_t nsteps;
};

/* policy_decide flags. */
#define POLICY_DECIDE_ENCLOSING 0x1  /* go on past the decider: every less specific entry too */
#define POLICY_DECIDE_LIST_LINES 0x2 /* read each list a step comes from again for the line of
                                        the name: slow (a whole list per step), never on the
                                        query path; a list changed on disk since the build may
                                        leave the line 0 */

/*
 * THE decision, with its reasons: what the policy does with QNAME (lower-case wire format, LEN
 * bytes) for a query of QTYPE at instant NOW (unix seconds; policy_now() for the daemon's
 * clock), and which entries brought it about. This is policy_match with its work shown, and the
 * one function that anything explaining or exporting the policy (`blokir export`, the `why`
 * control command) asks, so precedence and schedules are decided in policy.c alone.
 *
 * The walk is the matcher's: QNAME's own slot first, then the "below" slot of each ancestor from
 * the nearest up to the root. Each entry found there becomes a step: disabled and out-of-window
 * entries are listed with their state and passed over, the first one in force DECIDES and the
 * walk stops there, or with POLICY_DECIDE_ENCLOSING goes on to list the less specific entries
 * the decider overrides (POLICY_OVERRIDDEN when in force). With FORM MATCH_BELOW the walk starts
 * at QNAME's own "below" slot instead: the decision for a name strictly below QNAME that has no
 * entry of its own, which is what an RPZ "*.QNAME" trigger stands for. (MATCH_SUBTREE reads as
 * MATCH_EXACT.)
 *
 * RPZ zones (policy_with_zones) come after the tree, as in policy_match: a zone trigger decides
 * only when it is strictly more specific than the tree's decider; with FORM MATCH_BELOW they are
 * not consulted (the export asks the zones slot by slot, policy_zone_slot).
 *
 * Per name the policy keeps the entry (rule) that took each slot, nothing more: a list name that
 * lost its slot to a YAML entry or an earlier list (see policy_new) does not appear. QTYPE only
 * shapes ANSWER, A, AAAA and CNAME (a redirect gives A queries addresses, MX queries NODATA);
 * pass 0 when no type is meant. Returns 0 with *OUT filled, or -1 when QNAME is not a
 * well-formed wire name (*OUT then says "forwarded, no steps").
 */
int policy_decide(const struct policy *p, const uint8_t *qname, size_t len, enum match_form form,
	uint16_t qtype, int64_t now, unsigned flags, struct policy_decision *out);

uint32_t policy_negative_ttl(const struct policy *p);
uint32_t policy_serial(const struct policy *p); /* SOA serial: the policy's build time (unix s) */
const uint8_t *policy_soa_mname(const struct policy *p, size_t *len);
const uint8_t *policy_soa_rname(const struct policy *p, size_t *len);
/* The SOA record of a blocked answer after its owner, as wire_soa_rr made it from the above. */
const uint8_t *policy_soa_rr(const struct policy *p, size_t *len);
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

/*
 * The line of list LIST on which NAME (wire format) is listed covering itself (SELF) or the names
 * below it, or 0 when it is not found. Reads the list file again: for policy_decide's
 * POLICY_DECIDE_LIST_LINES, never the query path.
 */
unsigned policy_list_line(const struct policy *p, size_t list, const uint8_t *name, size_t len,
	bool self);

size_t policy_list_count(const struct policy *p); /* lists in the config, enabled or not */
/* List I's path (NULL past the end); *ENABLED and *NAMES when not NULL. */
const char *policy_list_path(const struct policy *p, size_t i, bool *enabled, size_t *names);


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
