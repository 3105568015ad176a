/*
 * rrset: a set of DNS records kept for zone transfers, in one growing block. Each record is
 * [u16 key length][u32 TTL][key], the key being owner | type | rdata in wire form (uncompressed),
 * and an array of offsets orders them. Sorted by key, two sets give their difference in one
 * merge: xfrout uses that to turn two versions of the served zone into an IXFR delta in O(n).
 * No DNS library is involved; the caller builds keys.
 */
#ifndef BLOKIR_RRSET_H
#define BLOKIR_RRSET_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Embedded in its owner's struct; zero-initialised is empty. */
struct rrset {
	uint8_t *block;  /* owned */
	size_t used, cap;
	size_t *off;     /* owned: record offsets into block */
	size_t count, off_cap;
};

/* Frees S's memory and leaves it empty. */
void rrset_release(struct rrset *s);
/* Appends a record (KEY of KLEN octets, TTL). Unsorted until rrset_sort. -1 when out of memory. */
int rrset_add(struct rrset *s, const uint8_t *key, size_t klen, uint32_t ttl);
/* Sorts S's offsets by key. -1 when out of memory (S unchanged). */
int rrset_sort(struct rrset *s);
/* Removes exact duplicates from sorted S. */
void rrset_dedup(struct rrset *s);
/*
 * The difference of sorted OLD and NEW: records only in OLD appended to DEL, only in NEW to ADD
 * (a changed TTL is both). -1 when out of memory.
 */
int rrset_diff(const struct rrset *old, const struct rrset *new, struct rrset *del,
	struct rrset *add);
/*
 * CUR with the records of DEL removed and those of ADD added, into OUT (empty before; all four
 * sorted, OUT is too): one merge, no sort, so a few changes to a big set cost one copy of it.
 * The deletions and additions that did change something (DEL's records CUR held, ADD's it did
 * not) are appended to DONE_DEL and DONE_ADD: exactly what an IXFR must send. -1 when out of
 * memory (the outputs then hold partial results: release them).
 */
int rrset_apply(const struct rrset *cur, const struct rrset *del, const struct rrset *add,
	struct rrset *out, struct rrset *done_del, struct rrset *done_add);
/* Orders two stored records (R points at a record in a block) by key, as memcmp does. */
int rrset_rec_cmp(const uint8_t *a, const uint8_t *b);

/* A stored record's key length and TTL; its key starts 6 octets in. */
static inline size_t rrset_rec_klen(const uint8_t *r)
{
	return (size_t)r[0] << 8 | r[1];
}

static inline uint32_t rrset_rec_ttl(const uint8_t *r)
{
	uint32_t t;

	memcpy(&t, r + 2, 4);
	return t;
}

#endif
