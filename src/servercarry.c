/*
 * servercarry: blocked counts that survive reloads. A policy about to be freed leaves its
 * per-entry and per-list counts in a sorted table keyed by the entry's name or the list's
 * path, so `ctl stats` and the metrics page never see a counter go down; and retire_policies
 * frees the policies, settings and replaced audit and dnstap outputs every worker has let go of. Part of the server, on its state
 * in include/serverpriv.h; the main loop writes the table under state_lock, the metrics thread
 * reads it under the same lock.
 */
#include "server.h"
#include "serverpriv.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "dnstap.h"
#include "worker.h"

/* ---- blocked counts across reloads ---- */

static int carried_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct hit_total *)elem)->key);
}

static void hit_key(const struct policy *p, size_t slot, char *buf, size_t cap)
{
	bool is_list;
	const char *label = policy_hit_label(p, slot, &is_list);

	snprintf(buf, cap, "%s%s", is_list ? "l:" : "e:", label ? label : "");
}

static uint64_t carried_get(const struct server *s, const char *key)
{
	const struct hit_total *h = s->ncarried == 0 ? NULL :
		bsearch(key, s->carried, s->ncarried, sizeof(*h), carried_cmp);

	return h ? h->n : 0;
}

/* Adds N to KEY's carried total, keeping the array sorted. Out of memory loses the count. */
static void carried_add(struct server *s, const char *key, uint64_t n)
{
	struct hit_total *h = s->ncarried == 0 ? NULL :
		bsearch(key, s->carried, s->ncarried, sizeof(*h), carried_cmp);
	size_t at = 0;

	if (h != NULL) {
		h->n += n;
		return;
	}
	if (s->ncarried == s->carried_cap) {
		size_t ncap = s->carried_cap ? s->carried_cap * 2 : 64;
		struct hit_total *nh = realloc(s->carried, ncap * sizeof(*nh));
		if (nh == NULL)
			return;
		s->carried = nh;
		s->carried_cap = ncap;
	}
	while (at < s->ncarried && strcmp(s->carried[at].key, key) < 0)
		at++;
	char *k = strdup(key); /* owned by the carried array */
	if (k == NULL)
		return;
	memmove(&s->carried[at + 1], &s->carried[at], (s->ncarried - at) * sizeof(*s->carried));
	s->carried[at] = (struct hit_total){ k, n };
	s->ncarried++;
}

/* A policy about to be freed leaves its counts to the entries and lists of the same name. */
static void carry_hits(struct server *s, const struct policy *p)
{
	char key[4096];

	for (size_t i = 0; i < policy_hit_slots(p); i++) {
		uint64_t n = policy_hits(p, i);
		if (n == 0)
			continue;
		hit_key(p, i, key, sizeof(key));
		carried_add(s, key, n);
	}
}

/* SLOT of the current policy: its own count, what freed policies left, and what the retired
 * policies still alive hold, so the number never goes down across a reload. */
uint64_t hit_total(const struct server *s, size_t slot)
{
	const struct policy *cur = atomic_load(&s->policy);
	char key[4096], other[4096];
	uint64_t n = policy_hits(cur, slot);

	hit_key(cur, slot, key, sizeof(key));
	n += carried_get(s, key);
	for (size_t i = 0; i < s->nretired; i++) {
		const struct policy *p = s->retired[i].policy;
		const void *id = policy_hits_id(p);
		bool counted = id == policy_hits_id(cur); /* a view of the same core */
		for (size_t k = 0; k < i && !counted; k++)
			counted = id == policy_hits_id(s->retired[k].policy);
		for (size_t j = 0; !counted && j < policy_hit_slots(p); j++) {
			hit_key(p, j, other, sizeof(other));
			if (strcmp(key, other) == 0)
				n += policy_hits(p, j);
		}
	}
	return n;
}

/* Frees each retired policy that every worker has let go of. */
void retire_policies(struct server *s)
{
	uint64_t min_seen = UINT64_MAX;

	for (unsigned i = 0; i < s->nworkers; i++) {
		if (s->workers[i] == NULL)
			continue;
		uint64_t seen = worker_seen_gen(s->workers[i]);
		/* An exited worker reads nothing any more. */
		if (!worker_exited(s->workers[i]) && seen < min_seen)
			min_seen = seen;
	}
	struct retired gone[RETIRED_MAX];
	size_t keep = 0, freed = 0;
	pthread_mutex_lock(&s->state_lock);
	for (size_t i = 0; i < s->nretired; i++) {
		if (s->retired[i].gen <= min_seen)
			gone[freed++] = s->retired[i];
		else
			s->retired[keep++] = s->retired[i];
	}
	s->nretired = keep;
	/* the ids first: the loop below frees each policy once it has looked at it, and a later
	   one must not read an earlier one's memory to compare (valgrind saw it in test 04) */
	const void *ids[RETIRED_MAX];
	for (size_t i = 0; i < freed; i++)
		ids[i] = policy_hits_id(gone[i].policy);
	for (size_t i = 0; i < freed; i++) {
		/* A view shares its core's counters: they are carried only when no policy still
		 * counts into them, and once. */
		const void *id = ids[i];
		bool alive = id == policy_hits_id(atomic_load(&s->policy));
		for (size_t k = 0; k < keep && !alive; k++)
			alive = id == policy_hits_id(s->retired[k].policy);
		for (size_t k = 0; k < i && !alive; k++)
			alive = id == ids[k];
		if (!alive)
			carry_hits(s, gone[i].policy);
		policy_free(gone[i].policy);
	}
	pthread_mutex_unlock(&s->state_lock);
	min_seen = UINT64_MAX;
	for (unsigned i = 0; i < s->nworkers; i++) {
		if (s->workers[i] == NULL || worker_exited(s->workers[i]))
			continue;
		uint64_t seen = worker_settings_seen(s->workers[i]);
		if (seen < min_seen)
			min_seen = seen;
	}
	keep = 0;
	for (size_t i = 0; i < s->nretired_cfg; i++) {
		if (s->retired_cfg[i].gen <= min_seen)
			config_free(s->retired_cfg[i].cfg);
		else
			s->retired_cfg[keep++] = s->retired_cfg[i];
	}
	s->nretired_cfg = keep;
	/* Replaced outputs: each writes out what the workers logged into it before it is freed
	 * (a file open or a socket's last frames; the main loop waits for it, no worker does). */
	keep = 0;
	for (size_t i = 0; i < s->nretired_out; i++) {
		if (s->retired_out[i].gen <= min_seen) {
			audit_free(s->retired_out[i].audit);
			dnstap_free(s->retired_out[i].dnstap);
		} else {
			s->retired_out[keep++] = s->retired_out[i];
		}
	}
	s->nretired_out = keep;
	/* A policy of millions of names leaves megabytes of freed heap in the loader thread's
	 * arena; give them back so memory returns to its level after a reload. */
	if (freed > 0)
		malloc_trim(0);
}
