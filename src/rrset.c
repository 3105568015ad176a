/*
 * rrset: the record sets of the served RPZ zone (see include/rrset.h). xfrout keeps each version's
 * records here and compares two versions with one merge of their sorted arrays.
 */
#include "rrset.h"

#include <stdlib.h>
#include <string.h>

void rrset_release(struct rrset *s)
{
	free(s->block);
	free(s->off);
	memset(s, 0, sizeof(*s));
}

int rrset_add(struct rrset *s, const uint8_t *key, size_t klen, uint32_t ttl)
{
	if (s->used + 6 + klen > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 4096;
		uint8_t *nb;

		while (ncap < s->used + 6 + klen)
			ncap *= 2;
		if ((nb = realloc(s->block, ncap)) == NULL)
			return -1;
		s->block = nb;
		s->cap = ncap;
	}
	if (s->count == s->off_cap) {
		size_t ncap = s->off_cap ? s->off_cap * 2 : 256;
		size_t *no = realloc(s->off, ncap * sizeof(*no));

		if (no == NULL)
			return -1;
		s->off = no;
		s->off_cap = ncap;
	}
	s->off[s->count++] = s->used;
	s->block[s->used] = (uint8_t)(klen >> 8);
	s->block[s->used + 1] = (uint8_t)klen;
	memcpy(s->block + s->used + 2, &ttl, 4);
	memcpy(s->block + s->used + 6, key, klen);
	s->used += 6 + klen;
	return 0;
}

int rrset_rec_cmp(const uint8_t *a, const uint8_t *b)
{
	size_t la = rrset_rec_klen(a), lb = rrset_rec_klen(b);
	int c = memcmp(a + 6, b + 6, la < lb ? la : lb);

	return c != 0 ? c : (la > lb) - (la < lb);
}

/* A record to sort: the first 8 octets of its key, big-endian, and where it is. */
struct sortkey {
	uint64_t prefix;
	size_t off;
};

static int sortrrset_rec_cmp(const void *x, const void *y, void *block)
{
	const struct sortkey *a = x, *b = y;

	if (a->prefix != b->prefix)
		return a->prefix < b->prefix ? -1 : 1;
	return rrset_rec_cmp((const uint8_t *)block + a->off, (const uint8_t *)block + b->off);
}

/*
 * Sorts S's offsets by key. Sorting millions of offsets that point into the block costs a cache
 * miss per comparison, so each key's first 8 octets travel with its offset and decide most
 * comparisons (the same order as memcmp: big-endian, zero-padded). Returns -1 when out of memory.
 */
int rrset_sort(struct rrset *s)
{
	struct sortkey *k = malloc((s->count ? s->count : 1) * sizeof(*k));

	if (k == NULL)
		return -1;
	for (size_t i = 0; i < s->count; i++) {
		const uint8_t *r = s->block + s->off[i];
		size_t klen = rrset_rec_klen(r);
		uint64_t p = 0;

		for (size_t j = 0; j < 8; j++)
			p = p << 8 | (j < klen ? r[6 + j] : 0);
		k[i].prefix = p;
		k[i].off = s->off[i];
	}
	qsort_r(k, s->count, sizeof(*k), sortrrset_rec_cmp, s->block);
	for (size_t i = 0; i < s->count; i++)
		s->off[i] = k[i].off;
	free(k);
	return 0;
}

/* The delta from OLD to NEW (both sorted) into DEL (records only in OLD) and ADD (only in NEW). -1 when out of memory. */
int rrset_diff(const struct rrset *old, const struct rrset *new, struct rrset *del, struct rrset *add)
{
	size_t i = 0, j = 0;

	while (i < old->count || j < new->count) {
		const uint8_t *a = i < old->count ? old->block + old->off[i] : NULL;
		const uint8_t *b = j < new->count ? new->block + new->off[j] : NULL;
		int c = a == NULL ? 1 : b == NULL ? -1 : rrset_rec_cmp(a, b);

		if (c == 0 && rrset_rec_ttl(a) == rrset_rec_ttl(b)) {
			i++;
			j++;
			continue;
		}
		if (c <= 0) {
			if (rrset_add(del, a + 6, rrset_rec_klen(a), rrset_rec_ttl(a)) < 0)
				return -1;
			i++;
		}
		if (c >= 0) {
			if (rrset_add(add, b + 6, rrset_rec_klen(b), rrset_rec_ttl(b)) < 0)
				return -1;
			j++;
		}
	}
	return 0;
}

/* Removes exact duplicates from sorted S (the export never writes any; a hand edit might). */
void rrset_dedup(struct rrset *s)
{
	size_t w = 0;

	for (size_t i = 0; i < s->count; i++)
		if (w == 0 || rrset_rec_cmp(s->block + s->off[w - 1], s->block + s->off[i]) != 0)
			s->off[w++] = s->off[i];
	s->count = w;
}

/* R (a stored record) appended to S as it is. */
static int rec_push(struct rrset *s, const uint8_t *r)
{
	return rrset_add(s, r + 6, rrset_rec_klen(r), rrset_rec_ttl(r));
}

int rrset_apply(const struct rrset *cur, const struct rrset *del, const struct rrset *add,
	struct rrset *out, struct rrset *done_del, struct rrset *done_add)
{
	size_t i = 0, j = 0, k = 0;

	/* the result is about CUR's size: one allocation each instead of a doubling series */
	out->cap = cur->used + add->used + 1;
	out->off_cap = cur->count + add->count + 1;
	if ((out->block = malloc(out->cap)) == NULL ||
		(out->off = malloc(out->off_cap * sizeof(*out->off))) == NULL)
		return -1;
	while (i < cur->count || k < add->count) {
		const uint8_t *a = i < cur->count ? cur->block + cur->off[i] : NULL;
		const uint8_t *n = k < add->count ? add->block + add->off[k] : NULL;
		int c = a == NULL ? 1 : n == NULL ? -1 : rrset_rec_cmp(a, n);

		if (c > 0) { /* a new record */
			if (rec_push(out, n) < 0 || rec_push(done_add, n) < 0)
				return -1;
			k++;
			continue;
		}
		if (c == 0) /* already held: nothing to add */
			k++;
		while (j < del->count && rrset_rec_cmp(del->block + del->off[j], a) < 0)
			j++; /* a deletion of a record not held: nothing to delete */
		if (c < 0 && j < del->count && rrset_rec_cmp(del->block + del->off[j], a) == 0) {
			if (rec_push(done_del, a) < 0)
				return -1;
			j++;
		} else if (rec_push(out, a) < 0) {
			return -1;
		}
		i++;
	}
	return 0;
}
