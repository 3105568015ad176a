/*
 * domtree: the name matcher (see include/domtree.h). An ISP feeds it about two million names, so
 * the layout is chosen for well under 64 bytes per name and a lookup cost of one hash probe per
 * label of the query name, whatever the number of names stored.
 *
 * - Each stored name is one record in an arena of fixed-size chunks:
 *       [u8 wire length][wire-format name][u32 SELF value][u32 BELOW value]
 *   The values sit next to the name, so a probe that finds its name has the values in the same
 *   cache line. They are unaligned and read with memcpy. Chunks are never reallocated: growing
 *   copies nothing and wastes at most one partly filled chunk (there is no malloc per name).
 *   A record is named by a 32-bit arena offset, chunk index << CHUNK_BITS | offset in chunk.
 * - An open-addressing table of 8-byte slots {arena offset, tag}, power-of-two capacity, linear
 *   probing, at most 3/4 full. A name's 64-bit XXH3 hash gives the home slot (low bits) and the
 *   tag (high 32 bits), which are independent, so a probe touches the arena for a name other than
 *   its own about once in 2^32 comparisons.
 *
 * The table is sized for the expected count up front (the policy knows it), so a normal build
 * never rehashes. Nothing is written after the build, so concurrent lookups need no locks.
 */
#include "domtree.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The header-only build of libxxhash: XXH3 inlined and specialized for our short keys, which
 * halves the cost of the one-hash-per-label lookup (the library is still Debian's). */
#define XXH_INLINE_ALL
#include <xxhash.h>

#define CHUNK_BITS 16
#define CHUNK_SIZE ((size_t)1 << CHUNK_BITS)
#define CHUNK_MASK (CHUNK_SIZE - 1)
#define CHUNK_MAX ((size_t)1 << (32 - CHUNK_BITS)) /* so an offset fits in 32 bits */
#define MAX_SUFFIXES 128 /* a 255-octet name has at most 127 labels, plus the root */
#define MIN_SLOTS 16
#define MAX_SLOTS ((size_t)1 << 31)
#define HUGE_SIZE ((size_t)2 << 20) /* a table this big is mapped for huge pages */
#define RECORD_SIZE(len) (1 + (len) + 2 * sizeof(uint32_t))

enum { SELF, BELOW }; /* index of a value in a record */

struct slot {
	uint32_t off; /* arena offset of the record; 0 means empty (offset 0 is never used) */
	uint32_t tag; /* high 32 bits of the name's hash */
};

struct domtree {
	struct slot *slots; /* owned, mask + 1 of them */
	size_t mask;
	size_t count;       /* names stored */
	uint8_t **chunks;   /* owned array of owned CHUNK_SIZE blocks */
	size_t nchunks, chunks_cap;
	size_t used;        /* bytes used in the last chunk */
	/* Bit L set: some stored name has L labels (bit 63: 63 or more; bit 0: the root). A lookup
	 * hashes and probes only the suffixes of a length that is stored: a 1 M-name list of
	 * three-label names costs one hash per query, not one per label. */
	uint64_t label_counts;
};

/* Below this many slots (8 bytes each) the table stays in the cache, and a lookup hashes one
 * suffix at a time, stopping at the first match; above it, every suffix is hashed first so that
 * the cache misses of their probes overlap. */
#define LAZY_SLOTS ((size_t)1 << 15)

static uint64_t label_bit(size_t labels)
{
	return (uint64_t)1 << (labels < 63 ? labels : 63);
}

static uint8_t *record_at(const struct domtree *t, uint32_t off)
{
	return t->chunks[off >> CHUNK_BITS] + (off & CHUNK_MASK);
}

static uint32_t record_get(const uint8_t *r, int which)
{
	uint32_t v;

	memcpy(&v, r + 1 + r[0] + which * sizeof(v), sizeof(v));
	return v;
}

static void record_set(uint8_t *r, int which, uint32_t v)
{
	memcpy(r + 1 + r[0] + which * sizeof(v), &v, sizeof(v));
}

/*
 * Stores in OFFS where each suffix of NAME starts, the full name first and the root last, and
 * returns how many there are; 0 when NAME is not a well-formed uncompressed wire-format name of
 * exactly LEN bytes. Callers have validated their names, but this keeps every read below LEN.
 */
static size_t name_suffixes(const uint8_t *name, size_t len, uint8_t offs[MAX_SUFFIXES])
{
	size_t n = 0, o = 0;

	if (len == 0 || len > CONFIG_NAME_MAX)
		return 0;
	for (;;) {
		uint8_t label = name[o];

		offs[n++] = (uint8_t)o;
		if (label == 0)
			return o + 1 == len ? n : 0;
		if (label > 63)
			return 0;
		o += 1 + (size_t)label;
		if (o >= len)
			return 0;
	}
}

/*
 * Whether the LEN bytes at A and B are equal. Inline and a word at a time, the last word
 * overlapping the ones before: a tag match is nearly always the name itself, so this runs once
 * per matched probe, and for names of 8 to 255 bytes a call to memcmp cost more than the compare.
 */
static inline bool name_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	uint64_t x, y;

	if (len < 8)
		return memcmp(a, b, len) == 0;
	for (size_t i = 0; i + 8 < len; i += 8) {
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		if (x != y)
			return false;
	}
	memcpy(&x, a + len - 8, 8);
	memcpy(&y, b + len - 8, 8);
	return x == y;
}

/*
 * Finds NAME (LEN bytes, hash H). Returns its record, or NULL; either way *SLOT is its slot or the
 * empty slot where it would go. The table is never full, so the probe ends.
 */
static inline uint8_t *find(const struct domtree *t, const uint8_t *name, size_t len, uint64_t h,
	size_t *slot)
{
	uint32_t tag = (uint32_t)(h >> 32);

	for (size_t i = (size_t)h & t->mask;; i = (i + 1) & t->mask) {
		const struct slot *s = &t->slots[i];

		if (s->off == 0) {
			*slot = i;
			return NULL;
		}
		if (s->tag == tag) {
			uint8_t *r = record_at(t, s->off);

			if (r[0] == len && name_equal(r + 1, name, len)) {
				*slot = i;
				return r;
			}
		}
	}
}

/* Puts a record known to be absent into the table (used when inserting and rehashing). */
static void place(struct slot *slots, size_t mask, uint64_t h, uint32_t off)
{
	size_t i = (size_t)h & mask;

	while (slots[i].off != 0)
		i = (i + 1) & mask;
	slots[i].off = off;
	slots[i].tag = (uint32_t)(h >> 32);
}

/* Slots needed to keep COUNT names at most 3/4 full; 0 when that is more than we allow. */
static size_t slots_for(size_t count)
{
	size_t cap = MIN_SLOTS;

	while (cap / 4 * 3 < count) {
		if (cap >= MAX_SLOTS)
			return 0;
		cap *= 2;
	}
	return cap;
}

/*
 * A zeroed table: a zero offset marks an empty slot. A big one is mapped directly and asks for
 * transparent huge pages, since lookups in it are random and would otherwise miss the TLB as
 * well as the cache (the advice is only that: without it the table works the same).
 */
static struct slot *slots_alloc(size_t cap)
{
	size_t size = cap * sizeof(struct slot);
	void *p;

	if (size < HUGE_SIZE)
		return calloc(cap, sizeof(struct slot));
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, size, MADV_HUGEPAGE);
	return p;
}

static void slots_free(struct slot *slots, size_t cap)
{
	if (cap * sizeof(struct slot) < HUGE_SIZE)
		free(slots);
	else if (slots != NULL)
		munmap(slots, cap * sizeof(struct slot));
}

struct domtree *domtree_new(size_t expected)
{
	struct domtree *t = calloc(1, sizeof(*t));
	size_t cap = slots_for(expected);

	if (t == NULL || cap == 0)
		goto fail;
	t->slots = slots_alloc(cap);
	if (t->slots == NULL)
		goto fail;
	t->mask = cap - 1;
	return t;
fail:
	free(t);
	return NULL;
}

void domtree_free(struct domtree *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nchunks; i++)
		free(t->chunks[i]);
	free(t->chunks);
	slots_free(t->slots, t->mask + 1);
	free(t);
}

/* Doubles the table. Hashes are not kept, so each name is hashed again from its record. */
static int grow(struct domtree *t)
{
	size_t cap = (t->mask + 1) * 2;
	struct slot *slots;

	if (cap > MAX_SLOTS)
		return -1;
	slots = slots_alloc(cap);
	if (slots == NULL)
		return -1;
	for (size_t i = 0; i <= t->mask; i++) {
		uint32_t off = t->slots[i].off;
		const uint8_t *r;

		if (off == 0)
			continue;
		r = record_at(t, off);
		place(slots, cap - 1, XXH3_64bits(r + 1, r[0]), off);
	}
	slots_free(t->slots, t->mask + 1);
	t->slots = slots;
	t->mask = cap - 1;
	return 0;
}

/* Appends a record for NAME with both values unset. Returns its offset, or 0 when out of memory. */
static uint32_t arena_add(struct domtree *t, const uint8_t *name, size_t len)
{
	size_t need = RECORD_SIZE(len);
	uint8_t *r;
	uint32_t off;

	if (t->nchunks == 0 || t->used + need > CHUNK_SIZE) {
		if (t->nchunks == CHUNK_MAX)
			return 0;
		if (t->nchunks == t->chunks_cap) {
			size_t ncap = t->chunks_cap ? t->chunks_cap * 2 : 16;
			uint8_t **nc = realloc(t->chunks, ncap * sizeof(*nc));

			if (nc == NULL)
				return 0;
			t->chunks = nc;
			t->chunks_cap = ncap;
		}
		if ((t->chunks[t->nchunks] = malloc(CHUNK_SIZE)) == NULL)
			return 0;
		/* Offset 0 marks an empty slot, so the first chunk starts at 1. */
		t->used = t->nchunks++ == 0 ? 1 : 0;
	}
	off = (uint32_t)((t->nchunks - 1) << CHUNK_BITS | t->used);
	r = t->chunks[t->nchunks - 1] + t->used;
	r[0] = (uint8_t)len;
	memcpy(r + 1, name, len);
	record_set(r, SELF, DOMTREE_NONE);
	record_set(r, BELOW, DOMTREE_NONE);
	t->used += need;
	return off;
}

/* NAME's record, added with both values unset when absent. NULL when out of memory or invalid. */
static uint8_t *record_get_or_add(struct domtree *t, const uint8_t *name, size_t len)
{
	uint8_t offs[MAX_SUFFIXES];
	uint64_t h;
	size_t slot, n;
	uint8_t *r;
	uint32_t off;

	if ((n = name_suffixes(name, len, offs)) == 0) {
		errno = EINVAL;
		return NULL;
	}
	h = XXH3_64bits(name, len);
	r = find(t, name, len, h, &slot);
	if (r != NULL)
		return r;
	/* Grow first: if that fails, the tree is as it was. */
	if ((t->count + 1) > (t->mask + 1) / 4 * 3 && grow(t) < 0)
		goto nomem;
	if ((off = arena_add(t, name, len)) == 0)
		goto nomem;
	place(t->slots, t->mask, h, off);
	t->count++;
	t->label_counts |= label_bit(n - 1);
	return record_at(t, off);
nomem:
	errno = ENOMEM;
	return NULL;
}

/*
 * See domtree.h. Also -1 with errno EINVAL when NAME is not well-formed wire format or VALUE is
 * DOMTREE_NONE (which would read back as "unset"). When MATCH_SUBTREE finds both slots taken,
 * *EXISTING is the SELF value.
 */
int domtree_insert(struct domtree *t, const uint8_t *name, size_t len, enum match_form form,
	uint32_t value, uint32_t *existing)
{
	bool self = form != MATCH_BELOW, below = form != MATCH_EXACT;
	uint32_t s, b;
	uint8_t *r;

	if (value == DOMTREE_NONE) {
		errno = EINVAL;
		return -1;
	}
	if ((r = record_get_or_add(t, name, len)) == NULL)
		return -1;
	s = record_get(r, SELF);
	b = record_get(r, BELOW);
	if ((self && s != DOMTREE_NONE) || (below && b != DOMTREE_NONE)) {
		if (existing != NULL)
			*existing = self && s != DOMTREE_NONE ? s : b;
		return 1;
	}
	if (self)
		record_set(r, SELF, value);
	if (below)
		record_set(r, BELOW, value);
	return 0;
}

/* Writes V to slot WHICH of R if it is unset or WEAK says so; returns whether it did. */
static bool merge_slot(uint8_t *r, int which, uint32_t v, uint32_t weak)
{
	uint32_t old = record_get(r, which);

	if (old != DOMTREE_NONE && (old & weak) == 0)
		return false;
	record_set(r, which, v);
	return true;
}

int domtree_merge(struct domtree *t, const uint8_t *name, size_t len, enum match_form form,
	uint32_t value, uint32_t weak)
{
	bool kept = false;
	uint8_t *r;

	if (value == DOMTREE_NONE) {
		errno = EINVAL;
		return -1;
	}
	if ((r = record_get_or_add(t, name, len)) == NULL)
		return -1;
	if (form != MATCH_BELOW)
		kept |= !merge_slot(r, SELF, value, weak);
	if (form != MATCH_EXACT)
		kept |= !merge_slot(r, BELOW, value, weak);
	return kept ? 1 : 0;
}

uint32_t domtree_lookup(const struct domtree *t, const uint8_t *name, size_t len,
	size_t *match_offset)
{
	return domtree_lookup_filter(t, name, len, match_offset, NULL, NULL);
}

/* Whether a stored name has LABELS labels (see label_counts). */
static bool has_label_count(const struct domtree *t, size_t labels)
{
	return (t->label_counts & label_bit(labels)) != 0;
}

/*
 * The lookup in a big table: every suffix of a stored length is hashed and its home slot
 * prefetched before the first probe, so that the cache misses of the probes overlap.
 */
static uint32_t lookup_batch(const struct domtree *t, const uint8_t *name, size_t len,
	size_t *match_offset, domtree_accept_cb *accept, void *ctx)
{
	uint8_t offs[MAX_SUFFIXES];
	uint64_t h[MAX_SUFFIXES];
	size_t n = name_suffixes(name, len, offs), slot;

	/* Suffix K has n - 1 - K labels (the root, last, has none). */
	for (size_t k = 0; k < n; k++) {
		if (!has_label_count(t, n - 1 - k))
			continue;
		h[k] = XXH3_64bits(name + offs[k], len - offs[k]);
		__builtin_prefetch(&t->slots[(size_t)h[k] & t->mask]);
	}
	/* The full name's SELF value first, then each ancestor's BELOW value, the root last. */
	for (size_t k = 0; k < n; k++) {
		const uint8_t *r;
		uint32_t v;

		if (!has_label_count(t, n - 1 - k) ||
		    (r = find(t, name + offs[k], len - offs[k], h[k], &slot)) == NULL)
			continue;
		v = record_get(r, k == 0 ? SELF : BELOW);
		if (v != DOMTREE_NONE && (accept == NULL || accept(v, ctx))) {
			if (match_offset != NULL)
				*match_offset = offs[k];
			return v;
		}
	}
	return DOMTREE_NONE;
}

/* The number of labels of NAME, or SIZE_MAX when it is not well-formed (as name_suffixes). */
static size_t count_labels(const uint8_t *name, size_t len)
{
	size_t labels = 0, o = 0;

	if (len == 0 || len > CONFIG_NAME_MAX)
		return SIZE_MAX;
	while (name[o] != 0) {
		if (name[o] > 63 || (o += 1 + (size_t)name[o]) >= len)
			return SIZE_MAX;
		labels++;
	}
	return o + 1 == len ? labels : SIZE_MAX;
}

/*
 * The lookup in a table that stays in the cache: one suffix at a time, from the full name up,
 * hashed only when probed and stopping at the first match (most queries match or miss within
 * the first two), with no per-suffix arrays to fill. NAME is well-formed with LABELS labels.
 */
static uint32_t lookup_lazy(const struct domtree *t, const uint8_t *name, size_t len,
	size_t labels, size_t *match_offset, domtree_accept_cb *accept, void *ctx)
{
	size_t slot;

	for (size_t o = 0;; o += 1 + (size_t)name[o], labels--) {
		if (has_label_count(t, labels)) {
			const uint8_t *r = find(t, name + o, len - o, XXH3_64bits(name + o, len - o), &slot);
			uint32_t v = r ? record_get(r, o == 0 ? SELF : BELOW) : DOMTREE_NONE;

			if (v != DOMTREE_NONE && (accept == NULL || accept(v, ctx))) {
				if (match_offset != NULL)
					*match_offset = o;
				return v;
			}
		}
		if (name[o] == 0)
			return DOMTREE_NONE;
	}
}

uint32_t domtree_lookup_labels(const struct domtree *t, const uint8_t *name, size_t len,
	size_t labels, size_t *match_offset, domtree_accept_cb *accept, void *ctx)
{
	if (t->count == 0)
		return DOMTREE_NONE;
	if (t->mask + 1 > LAZY_SLOTS)
		return lookup_batch(t, name, len, match_offset, accept, ctx);
	return lookup_lazy(t, name, len, labels, match_offset, accept, ctx);
}

uint32_t domtree_lookup_filter(const struct domtree *t, const uint8_t *name, size_t len,
	size_t *match_offset, domtree_accept_cb *accept, void *ctx)
{
	size_t labels = count_labels(name, len);

	if (labels == SIZE_MAX)
		return DOMTREE_NONE;
	return domtree_lookup_labels(t, name, len, labels, match_offset, accept, ctx);
}

uint32_t domtree_get(const struct domtree *t, const uint8_t *name, size_t len, enum match_form form)
{
	size_t slot;
	const uint8_t *r;

	if (t->count == 0 || len == 0 || len > CONFIG_NAME_MAX)
		return DOMTREE_NONE;
	r = find(t, name, len, XXH3_64bits(name, len), &slot);
	return r == NULL ? DOMTREE_NONE : record_get(r, form == MATCH_BELOW ? BELOW : SELF);
}

int domtree_set(struct domtree *t, const uint8_t *name, size_t len, enum match_form form,
	uint32_t value)
{
	uint8_t *r = record_get_or_add(t, name, len);

	if (r == NULL)
		return -1;
	if (form != MATCH_BELOW)
		record_set(r, SELF, value);
	if (form != MATCH_EXACT)
		record_set(r, BELOW, value);
	return 0;
}

struct domtree *domtree_clone(const struct domtree *t)
{
	struct domtree *c = calloc(1, sizeof(*c));
	size_t cap = t->mask + 1;

	if (c == NULL)
		return NULL;
	*c = *t;
	c->chunks = NULL;
	c->nchunks = c->chunks_cap = 0;
	if ((c->slots = slots_alloc(cap)) == NULL)
		goto fail;
	memcpy(c->slots, t->slots, cap * sizeof(*c->slots));
	if (t->nchunks > 0 && (c->chunks = calloc(t->nchunks, sizeof(*c->chunks))) == NULL)
		goto fail;
	c->chunks_cap = t->nchunks;
	for (; c->nchunks < t->nchunks; c->nchunks++) {
		/* a full-size block each: arena_add goes on filling the last one after `used` */
		if ((c->chunks[c->nchunks] = malloc(CHUNK_SIZE)) == NULL)
			goto fail;
		memcpy(c->chunks[c->nchunks], t->chunks[c->nchunks],
			c->nchunks + 1 == t->nchunks ? t->used : CHUNK_SIZE);
	}
	return c;
fail:
	domtree_free(c);
	return NULL;
}

int domtree_foreach(const struct domtree *t, domtree_each_cb *cb, void *ctx)
{
	for (size_t i = 0; t->count > 0 && i <= t->mask; i++) {
		const uint8_t *r;
		int rc;

		if (t->slots[i].off == 0)
			continue;
		r = record_at(t, t->slots[i].off);
		if ((rc = cb(ctx, r + 1, r[0], record_get(r, SELF), record_get(r, BELOW))) != 0)
			return rc;
	}
	return 0;
}

size_t domtree_count(const struct domtree *t)
{
	return t->count;
}

size_t domtree_memory(const struct domtree *t)
{
	return sizeof(*t) + (t->mask + 1) * sizeof(*t->slots) + t->chunks_cap * sizeof(*t->chunks) +
		t->nchunks * CHUNK_SIZE;
}
