/*
 * domtree: the name matcher. Maps lower-case wire-format domain names to 32-bit values (rule
 * indexes) and answers "which is the most specific entry that covers this query name?".
 *
 * Each stored name has two slots: SELF (applies to the name itself) and BELOW (applies to every
 * name strictly below it). MATCH_SUBTREE fills both, MATCH_EXACT only SELF, MATCH_BELOW only BELOW.
 * A lookup tries the query name's SELF slot, then the BELOW slot of each ancestor from the nearest
 * up to the root; the first one set wins. Cost is one hash probe per label of the query name,
 * independent of how many names are stored.
 *
 * Built once, then read-only: lookups from many threads at once need no locking.
 */
#ifndef BLOKIR_DOMTREE_H
#define BLOKIR_DOMTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h" /* enum match_form */

#define DOMTREE_NONE UINT32_MAX

struct domtree;

/* An empty tree sized for about EXPECTED names (it grows as needed); caller owns. NULL on ENOMEM. */
struct domtree *domtree_new(size_t expected);
void domtree_free(struct domtree *t);

/*
 * Adds NAME (lower-case wire format, LEN bytes including the root label) with VALUE in the slots
 * FORM selects. Returns 0 on success, -1 when out of memory, and 1 when a slot FORM needs is
 * already taken: then nothing is changed and *EXISTING (if not NULL) is that slot's value.
 */
int domtree_insert(struct domtree *t, const uint8_t *name, size_t len, enum match_form form,
	uint32_t value, uint32_t *existing);

/*
 * Most specific value covering NAME (lower-case wire format), or DOMTREE_NONE. On a match,
 * *MATCH_OFFSET (if not NULL) is the byte offset in NAME where the matched stored name starts.
 */
uint32_t domtree_lookup(const struct domtree *t, const uint8_t *name, size_t len,
	size_t *match_offset);

/*
 * Like domtree_insert, but for a name that may already be there: each slot FORM selects is written
 * when it is unset or its value has a bit of WEAK set (0: only unset slots), and left alone
 * otherwise. Returns 0 when every selected slot was written, 1 when some slot was left alone (the
 * others are still written), -1 when out of memory or the name is invalid.
 */
int domtree_merge(struct domtree *t, const uint8_t *name, size_t len, enum match_form form,
	uint32_t value, uint32_t weak);

/* Whether a lookup may stop at a slot holding VALUE; false goes on to the next ancestor. */
typedef bool domtree_accept_cb(uint32_t value, void *ctx);

/*
 * domtree_lookup, skipping every value ACCEPT (when not NULL) refuses: the policy uses it for
 * disabled and out-of-schedule entries, which must not hide a less specific one.
 */
uint32_t domtree_lookup_filter(const struct domtree *t, const uint8_t *name, size_t len,
	size_t *match_offset, domtree_accept_cb *accept, void *ctx);

/*
 * domtree_lookup_filter for a name already checked to be well-formed lower-case wire format of
 * LEN bytes with LABELS labels (the root not counted), as wire_parse_query leaves the question:
 * the walk then trusts the label bytes and does not count them again (a wrong LABELS gives a
 * wrong answer, but nothing is read outside a well-formed NAME).
 */
uint32_t domtree_lookup_labels(const struct domtree *t, const uint8_t *name, size_t len,
	size_t labels, size_t *match_offset, domtree_accept_cb *accept, void *ctx);

/*
 * For a tree that changes (the zone-transfer module's copy of a zone; never one a lookup may be
 * reading): the value of the one slot FORM names (MATCH_EXACT: SELF, MATCH_BELOW: BELOW), or
 * DOMTREE_NONE; and a write of it. domtree_set writes VALUE whatever was there (DOMTREE_NONE
 * unsets the slot; the name stays stored). 0, or -1 when out of memory or the name is invalid.
 */
uint32_t domtree_get(const struct domtree *t, const uint8_t *name, size_t len, enum match_form form);
int domtree_set(struct domtree *t, const uint8_t *name, size_t len, enum match_form form,
	uint32_t value);

/* A copy of T that shares nothing with it (a memory copy, no rehash); NULL when out of memory. */
struct domtree *domtree_clone(const struct domtree *t);

/*
 * Calls CB for every stored name with its SELF and BELOW values (either may be DOMTREE_NONE), in
 * no particular order; stops and returns CB's value when it is not 0.
 */
typedef int domtree_each_cb(void *ctx, const uint8_t *name, size_t len, uint32_t self,
	uint32_t below);
int domtree_foreach(const struct domtree *t, domtree_each_cb *cb, void *ctx);

size_t domtree_count(const struct domtree *t);  /* names stored */
size_t domtree_memory(const struct domtree *t); /* bytes allocated */

#endif
