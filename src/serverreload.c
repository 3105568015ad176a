/*
 * serverreload: the server's policy reloads (see the reload protocol in src/server.c). The
 * loader thread, publishing a policy and retiring the one it replaces, the RPZ zones' views
 * (a transfer publishes through zone_published), the serve-rpz export thread (whole zone at
 * schedule changes and full transfers, the changed names alone after a pulled zone's IXFR),
 * schedule changes, and taking over the settings a reload changed. Part of the server, on its state in
 * include/serverpriv.h; it runs on the main loop, except loader_main and exporter_main.
 */
#include "server.h"
#include "serverpriv.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "audit.h"
#include "clock.h"
#include "control.h"
#include "diag.h"
#include "digest.h"
#include "dnstap.h"
#include "domtree.h"
#include "export.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "reconf.h"
#include "worker.h"
#include "xfr.h"
#include "xfrnotify.h"
#include "xfrout.h"
#include "zonedb.h"

/* ---- zones ---- */

/* lists_entry_cb: one record of an increment; its slot is noted for the served zone. */
static int slot_note(void *ctx, const struct lists_entry *e)
{
	return domtree_merge(ctx, e->name, e->name_len, e->form, 0, 0) < 0 ? -1 : 0;
}

/*
 * xfr_publish_cb, on the transfer thread (or in xfr_start): parks SNAP for the main loop, and
 * for serve-rpz the names the increment changed (or that anything may have).
 */
void zone_published(void *ctx, size_t zone, struct zonesnap *snap, xfr_changes_fn *changes,
	const void *src)
{
	struct server *s = ctx;

	pthread_mutex_lock(&s->zlock);
	zonesnap_unref(s->pending[zone]);
	s->pending[zone] = snap;
	s->pending_set[zone] = true;
	s->zones_changed = true;
	if (s->xfrout != NULL && !s->pending_full) {
		if (changes == NULL)
			s->pending_full = true;
		else if ((s->pending_slots == NULL && (s->pending_slots = domtree_new(1024)) == NULL) ||
			changes(src, slot_note, s->pending_slots) < 0)
			s->pending_full = true; /* out of memory: rebuild the served zone whole */
	}
	pthread_mutex_unlock(&s->zlock);
	server_notify(s);
}

/*
 * A view of CORE with the copies SNAPS (per start-up zone): CORE's zone I is the start-up zone
 * of the same name (zones are matched by name, since a reload may reorder, add or remove them).
 * NULL on ENOMEM.
 */
static struct policy *view_of(const struct server *s, struct policy *core,
	struct zonesnap *const *snaps)
{
	size_t n = policy_zone_count(core);
	struct zonesnap **v = calloc(n ? n : 1, sizeof(*v));
	struct policy *view;

	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const uint8_t *name = policy_zone_name(core, i, &len);
		const struct config_zone *cz = config_zone_find(s->cfg, name, len);
		if (cz != NULL)
			v[i] = snaps[cz - s->cfg->zones];
	}
	view = policy_with_zones(core, v, n);
	free(v);
	return view;
}

/* A view of CORE with the current snapshots, and the zones' status says which it enforces. */
struct policy *zones_view(struct server *s, struct policy *core)
{
	size_t n = policy_zone_count(core);
	struct policy *view = view_of(s, core, s->snaps);

	/* the status says which zones this view enforces */
	for (size_t j = 0; view != NULL && j < s->cfg->zone_count; j++) {
		bool on = false;
		for (size_t i = 0; i < n; i++) {
			size_t len;
			const uint8_t *name = policy_zone_name(core, i, &len);
			if (len == s->cfg->zones[j].name_len && memcmp(name, s->cfg->zones[j].name, len) == 0)
				on = policy_zone_enabled(core, i);
		}
		xfr_set_enforced(s->xfr, j, on);
	}
	return view;
}

/* domtree_each_cb: a slot of PENDING merged into the served zone's set. */
static int slots_merge(void *ctx, const uint8_t *name, size_t len, uint32_t self, uint32_t below)
{
	enum match_form f = self != DOMTREE_NONE && below != DOMTREE_NONE ? MATCH_SUBTREE :
		self != DOMTREE_NONE ? MATCH_EXACT : MATCH_BELOW;

	if (self == DOMTREE_NONE && below == DOMTREE_NONE)
		return 0;
	return domtree_merge(ctx, name, len, f, 0, 0) < 0 ? -1 : 0;
}

/* Takes the snapshots the transfer thread handed over; true when any changed. */
bool zones_take(struct server *s)
{
	bool any;

	pthread_mutex_lock(&s->zlock);
	any = s->zones_changed;
	s->zones_changed = false;
	for (size_t i = 0; any && i < s->cfg->zone_count; i++) {
		if (!s->pending_set[i])
			continue;
		zonesnap_unref(s->snaps[i]);
		s->snaps[i] = s->pending[i];
		s->pending[i] = NULL;
		s->pending_set[i] = false;
	}
	/* with the copies, what they changed: the served zone follows both or neither */
	s->serve_full |= s->pending_full;
	s->pending_full = false;
	if (s->pending_slots != NULL && !s->serve_full) {
		if (s->serve_slots == NULL) {
			s->serve_slots = s->pending_slots;
			s->pending_slots = NULL;
		} else if (domtree_foreach(s->pending_slots, slots_merge, s->serve_slots) < 0) {
			s->serve_full = true;
		}
	}
	domtree_free(s->pending_slots);
	s->pending_slots = NULL;
	pthread_mutex_unlock(&s->zlock);
	return any;
}

/* ---- reload ---- */

/*
 * Publishes the zone for CFG and POL at NOW (loader or exporter thread); the outcome goes to
 * zone_rc and friends for the main loop to log and NOTIFY about.
 */
void serve_publish(struct server *s, const struct config *cfg, const struct policy *pol,
	int64_t now)
{
	struct diag *d = diag_new();
	const char *err = "out of memory";

	s->zone_rc = -1;
	s->zone_err[0] = '\0';
	if (d != NULL)
		s->zone_rc = xfrout_publish_policy(s->xfrout, cfg, pol, now, d, &s->zone_serial,
			&s->zone_changes, &err);
	if (s->zone_rc < 0)
		snprintf(s->zone_err, sizeof(s->zone_err), "%s%s%s", err, d != NULL &&
			diag_count(d) > 0 ? ": " : "", d != NULL && diag_count(d) > 0 ?
			diag_get(d, 0) : "");
	diag_free(d);
}

/* Main loop: logs what serve_publish did and tells the secondaries of a new serial. */
static void serve_published(struct server *s, const char *why)
{
	if (s->zone_rc < 0)
		log_err("serve-rpz: %s: the zone stays at serial %u: %s", why,
			xfrout_serial(s->xfrout), s->zone_err);
	else if (s->zone_rc == 0)
		log_info("serve-rpz: %s: zone %s unchanged at serial %u", why,
			xfrout_apex_text(s->xfrout), xfrout_serial(s->xfrout));
	if (s->zone_rc <= 0)
		return;
	log_info("serve-rpz: %s: zone %s now at serial %u (%zu record%s changed)", why,
		xfrout_apex_text(s->xfrout), s->zone_serial, s->zone_changes,
		s->zone_changes == 1 ? "" : "s");
	if (s->xfrnotify != NULL)
		xfrnotify_send(s->xfrnotify);
}

/*
 * The slots EXPORT_SLOTS names, from the copies SERVED (what the served version was built
 * from) to EXPORT_SNAPS: only the triggers a transfer changed are exported, twice, and merged
 * into the served zone. The core is the policy the served version's full export came from.
 */
static void serve_publish_slots(struct server *s, const struct config *cfg, struct policy *core,
	int64_t now)
{
	struct diag *d = diag_new();
	struct policy *before = view_of(s, core, s->served), *after = view_of(s, core, s->export_snaps);
	const char *err = "out of memory";

	s->zone_rc = -1;
	s->zone_err[0] = '\0';
	if (d != NULL && before != NULL && after != NULL)
		s->zone_rc = xfrout_publish_slots(s->xfrout, cfg, before, after, export_domtree_slots,
			s->export_slots, now, d, &s->zone_serial, &s->zone_changes, &err);
	if (s->zone_rc < 0)
		snprintf(s->zone_err, sizeof(s->zone_err), "%s%s%s", err, d != NULL &&
			diag_count(d) > 0 ? ": " : "", d != NULL && diag_count(d) > 0 ?
			diag_get(d, 0) : "");
	policy_free(before);
	policy_free(after);
	diag_free(d);
}

static void *exporter_main(void *arg)
{
	struct server *s = arg;
	const struct config *cfg = s->zone_cfg != NULL ? s->zone_cfg : s->cfg;
	int64_t now = policy_now();

	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) < 0)
		log_debug("serve-rpz: setpriority: %s", strerror(errno));
	if (s->xfr == NULL) {
		serve_publish(s, cfg, atomic_load(&s->policy), now); /* no zones: the policy is ours */
	} else if (s->export_slots != NULL) {
		serve_publish_slots(s, cfg, s->core, now);
	} else {
		/* the compiled policy with the copies taken for this export: the published view may
		 * be replaced by a transfer meanwhile */
		struct policy *view = view_of(s, s->core, s->export_snaps);
		if (view != NULL) {
			serve_publish(s, cfg, view, now);
		} else {
			s->zone_rc = -1;
			snprintf(s->zone_err, sizeof(s->zone_err), "out of memory");
		}
		policy_free(view);
	}
	atomic_store(&s->export_done, true);
	server_notify(s);
	return NULL;
}

/* The copies in force now, for an export about to run (main loop). False when out of memory. */
static bool export_take_snaps(struct server *s)
{
	if (s->xfr == NULL)
		return true;
	if ((s->export_snaps = calloc(s->cfg->zone_count, sizeof(*s->export_snaps))) == NULL)
		return false;
	for (size_t i = 0; i < s->cfg->zone_count; i++)
		if ((s->export_snaps[i] = s->snaps[i]) != NULL)
			zonesnap_ref(s->snaps[i]);
	return true;
}

/*
 * After an export or a reload's export (main loop): when it published (OK) the copies it used
 * are the served ones; otherwise they are dropped, and with REDO the next change rebuilds the
 * zone whole (the changes it had taken over are not in the served zone).
 */
static void export_settle(struct server *s, bool ok, bool redo)
{
	if (s->xfr == NULL)
		return;
	if (ok && s->export_snaps != NULL) {
		for (size_t i = 0; i < s->cfg->zone_count; i++)
			zonesnap_unref(s->served[i]);
		memcpy(s->served, s->export_snaps, s->cfg->zone_count * sizeof(*s->served));
		free(s->export_snaps);
	} else {
		for (size_t i = 0; s->export_snaps != NULL && i < s->cfg->zone_count; i++)
			zonesnap_unref(s->export_snaps[i]);
		free(s->export_snaps);
		s->serve_full |= redo;
	}
	s->export_snaps = NULL;
	domtree_free(s->export_slots);
	s->export_slots = NULL;
}

/*
 * The served zone is rebuilt off the loop: whole (FULL: a schedule change, whose export differs
 * anywhere; or a full transfer), or for the slots transfers changed since the last version.
 */
static void export_start(struct server *s, bool full)
{
	int err;

	if (s->xfrout == NULL)
		return;
	if (s->loading || s->exporting) {
		s->export_again = true;
		s->export_again_full |= full;
		return;
	}
	s->export_why = full ? "schedule change" : "zone transfer";
	full |= s->serve_full || s->xfr == NULL;
	if (!full && s->serve_slots == NULL)
		return; /* nothing changed since the last version */
	if (!export_take_snaps(s)) {
		log_err("serve-rpz: out of memory; the zone stays at serial %u", xfrout_serial(s->xfrout));
		return;
	}
	if (full) {
		domtree_free(s->serve_slots);
		s->serve_full = false;
	} else {
		s->export_slots = s->serve_slots;
	}
	s->serve_slots = NULL;
	atomic_store(&s->export_done, false);
	if ((err = pthread_create(&s->exporter, NULL, exporter_main, s)) != 0) {
		log_err("serve-rpz: cannot start the export thread: %s", strerror(err));
		export_settle(s, false, true);
		return;
	}
	s->exporting = true;
}

/* A transfer's copies were taken in (main loop): the served zone follows them. */
void serve_follow(struct server *s)
{
	if (s->xfrout != NULL && (s->serve_full || s->serve_slots != NULL))
		export_start(s, false);
}

void export_finish(struct server *s)
{
	pthread_join(s->exporter, NULL);
	s->exporting = false;
	export_settle(s, s->zone_rc >= 0, true);
	serve_published(s, s->export_why);
	if (s->stopping)
		return;
	if (s->reload_again) {
		s->reload_again = false;
		reload_start(s);
	} else if (s->export_again) {
		s->export_again = false;
		export_start(s, s->export_again_full);
		s->export_again_full = false;
	}
}

/*
 * The one-line reload summary, computed here in the loader thread so the diff (a sort of every
 * entry) never delays the main loop. The current policy cannot change meanwhile: only the main
 * loop publishes, and it does so after this thread is done.
 */
static void load_summary(struct server *s)
{
	struct policy_diff d;

	if (policy_diff(atomic_load(&s->policy), s->loaded, &d) < 0) {
		snprintf(s->load_summary, sizeof(s->load_summary), "(no summary: out of memory)");
		return;
	}
	snprintf(s->load_summary, sizeof(s->load_summary),
		"%zu added, %zu removed, %zu switched on, %zu switched off; lists: %zu switched on, "
		"%zu switched off, %zu names; loaded in %.3f s", d.added, d.removed, d.switched_on,
		d.switched_off, d.lists_on, d.lists_off, policy_list_names(s->loaded), s->load_seconds);
}

/*
 * What a reload cannot change about zones: a zone's primaries, key, reason and ref belong to the
 * transfer thread, which keeps the start-up configuration; a new zone needs a restart. Enabled
 * and action do apply (they are the policy's). Logged, not refused: the rest of the file applies.
 */
static void zones_reload_check(struct server *s, const struct config *cfg)
{
	for (size_t i = 0; i < cfg->zone_count; i++) {
		const struct config_zone *n = &cfg->zones[i], *o;

		o = config_zone_find(s->cfg, n->name, n->name_len);
		if (o == NULL) {
			log_warn("reload: zone %s is new: it is pulled only after a restart", n->text);
			continue;
		}
		bool same = o->primary_count == n->primary_count &&
			(o->tsig_name == NULL) == (n->tsig_name == NULL) &&
			(o->tsig_name == NULL || (strcmp(o->tsig_name, n->tsig_name) == 0 &&
			strcmp(o->tsig_secret, n->tsig_secret) == 0 &&
			strcmp(o->tsig_algorithm, n->tsig_algorithm) == 0)) &&
			(o->reason == NULL) == (n->reason == NULL) &&
			(o->reason == NULL || strcmp(o->reason, n->reason) == 0) &&
			(o->ref == NULL) == (n->ref == NULL) && (o->ref == NULL || strcmp(o->ref, n->ref) == 0) &&
			o->expire_drop == n->expire_drop;
		for (size_t p = 0; same && p < o->primary_count; p++)
			same = strcmp(o->primaries[p].text, n->primaries[p].text) == 0;
		if (!same)
			log_warn("reload: zone %s: primaries, TSIG, reason, ref and on-expire changes "
				"apply after a restart (enabled and action apply now)", n->text);
	}
}

static void *loader_main(void *arg)
{
	struct server *s = arg;
	uint64_t t0;
	struct config *cfg;

	/* The workers come first: on a machine as busy as the load that makes an ISP reload, a
	 * loader competing at equal weight shows up in the query latency tail. Nice 10 gives it a
	 * tenth of a worker's share under contention and all idle CPU otherwise. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) < 0)
		log_debug("reload: setpriority: %s", strerror(errno));
	t0 = clock_now_ns();
	s->load_diag = diag_new();
	if (s->load_diag != NULL) {
		if (digest_file_sha256(s->cfg->path, s->load_sha256) < 0)
			s->load_sha256[0] = '\0'; /* config_load reports why it cannot read the file */
		cfg = config_load_until(s->cfg->path, s->load_diag, &s->abandon);
		if (cfg != NULL)
			s->loaded = policy_new_until(cfg, s->load_diag, &s->abandon);
		if (s->loaded != NULL && policy_hits_init(s->loaded, s->nworkers) < 0) {
			diag_add(s->load_diag, s->cfg->path, 0, 0, "out of memory for the counters");
			policy_free(s->loaded);
			s->loaded = NULL;
		}
		if (s->loaded != NULL) {
			zones_reload_check(s, cfg);
			if (s->xfrout != NULL && s->xfr == NULL) {
				serve_publish(s, cfg, s->loaded, policy_now());
			} else if (s->xfrout != NULL) {
				/* the served zone holds the zones' copies taken when the reload began */
				struct policy *view = view_of(s, s->loaded, s->export_snaps);
				if (view != NULL)
					serve_publish(s, cfg, view, policy_now());
				else
					s->zone_rc = -1;
				policy_free(view);
			}
			/* the main loop takes it with the policy: settings, and the exports' config */
			s->loaded_cfg = cfg;
		} else {
			config_free(cfg);
		}
	}
	s->load_seconds = (double)(clock_now_ns() - t0) / 1e9;
	if (s->loaded != NULL)
		load_summary(s);
	atomic_store(&s->load_done, true);
	server_notify(s);
	return NULL;
}

void waiters_answer(struct control_reply **w, size_t *n, int code, const char *text)
{
	for (size_t i = 0; i < *n; i++) {
		fputs(text, control_reply_out(w[i]));
		control_reply_done(w[i], code);
	}
	*n = 0;
}

void reload_start(struct server *s)
{
	int err;

	if (s->loading || s->exporting) {
		s->reload_again = true;
		return;
	}
	s->loaded = NULL;
	s->loaded_cfg = NULL;
	s->load_diag = NULL;
	if (s->xfrout != NULL && s->xfr != NULL) {
		/* the reload's export is whole: it covers every change so far */
		if (!export_take_snaps(s)) {
			log_err("reload: out of memory; the current policy stays");
			return;
		}
		s->reload_took = s->serve_slots != NULL || s->serve_full;
		domtree_free(s->serve_slots);
		s->serve_slots = NULL;
		s->serve_full = false;
	}
	s->zone_rc = -1;
	atomic_store(&s->load_done, false);
	err = pthread_create(&s->loader, NULL, loader_main, s);
	if (err != 0) {
		log_err("reload: cannot start the loader thread: %s; the current policy stays",
			strerror(err));
		export_settle(s, false, s->reload_took);
		waiters_answer(s->waiting, &s->nwaiting, 3,
			"reload: cannot start the loader thread; the current policy stays in force\n");
		return;
	}
	s->loading = true;
	log_info("reload: reading %s", s->cfg->path);
	char status[512];
	status_line(s, status, sizeof(status));
	notify_reloading(status);
}

void publish_policy(struct server *s, struct policy *fresh)
{
	pthread_mutex_lock(&s->state_lock);
	struct policy *old = atomic_exchange_explicit(&s->policy, fresh, memory_order_acq_rel);
	uint64_t gen = atomic_fetch_add(&s->policy_gen, 1) + 1;

	if (s->nretired == RETIRED_MAX) {
		/* Cannot happen unless workers stopped answering their mailbox; better to keep
		 * the memory than to free a policy a worker might still read. */
		log_warn("reload: %d old policies not yet released by workers", RETIRED_MAX);
	} else {
		s->retired[s->nretired++] = (struct retired){ old, gen };
	}
	pthread_mutex_unlock(&s->state_lock);
	for (unsigned i = 0; i < s->nworkers; i++)
		worker_post(s->workers[i], WORKER_MAIL_POLICY);
}

/* ---- schedules ---- */

/*
 * Arms the timer for the current policy's first schedule change after NOW. A change is a
 * lookup-time matter (policy_match reads the clock), so the timer only logs it: an operator sees
 * the instant an order starts or ends applying.
 */
void sched_arm(struct server *s, int64_t now)
{
	int64_t next = policy_next_transition(atomic_load(&s->policy), now);
	struct timeval tv;

	s->sched_from = now;
	if (s->sched_ev == NULL)
		return;
	event_del(s->sched_ev);
	if (next == 0)
		return;
	tv.tv_sec = (time_t)(next - now);
	tv.tv_usec = 0;
	event_add(s->sched_ev, &tv);
}

void sched_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	const struct policy *p = atomic_load(&s->policy);
	const struct policy_rule *r;
	int64_t now = policy_now();
	size_t n = policy_yaml_rule_at(p, 0, &r);
	(void)fd;
	(void)what;

	if (now < policy_next_transition(p, s->sched_from)) {
		sched_arm(s, s->sched_from); /* woke early (the coarse clock lags): wait on */
		return;
	}
	for (size_t i = 0; i < n; i++) {
		policy_yaml_rule_at(p, i, &r);
		if (r->from > s->sched_from && r->from <= now)
			log_info("schedule: entry \"%s\" (line %u) now active", r->name, r->line);
		if (r->until > s->sched_from && r->until <= now)
			log_info("schedule: entry \"%s\" (line %u) now inactive", r->name, r->line);
	}
	sched_arm(s, now);
	export_start(s, true);
}

/* A warning of the settings part: in the log, and (T not NULL) in what ctl reload prints. */
static void settings_warn(FILE *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void settings_warn(FILE *t, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_warn("%s", line);
	if (t != NULL)
		fprintf(t, "warning: %s\n", line);
}

/*
 * A reload changed log-file: lines go to the new file (or back to stderr or syslog) from now on.
 * When it cannot be opened (after the privilege drop, the user must be able to write it) the
 * old target stays and LOADED says so, as the settings in force. Returns -1 then.
 */
static int reopen_log_file(const struct config *running, struct config *loaded,
	struct reconf *rc, FILE *t)
{
	/* said where the log has been so far, so a reader of the old file knows where to look */
	log_info("reload: log-file: from now on %s", loaded->log_file ? loaded->log_file :
		"none (stderr or syslog)");
	if (log_set_file(loaded->log_file) == 0)
		return 0;
	settings_warn(t, "reload: log-file %s: %s; logging stays where it was", loaded->log_file,
		strerror(errno));
	if (reconf_keep(running, loaded, RECONF_LOG, rc) < 0)
		log_err("reload: out of memory keeping log-file");
	return -1;
}

/* What the settings part of a reload set up before it publishes: the outputs that replace the
 * running ones (the `*_new` flags say which are replaced; a NULL replacement switches off). */
struct outputs {
	bool audit_new, dnstap_new, metrics_new;
	struct audit *audit;     /* owned until published */
	struct dnstap *dnstap;   /* owned until published */
	struct metrics *metrics; /* owned until published */
};

static bool str_same(const char *x, const char *y)
{
	return x == y || (x != NULL && y != NULL && strcmp(x, y) == 0);
}

/* Whether a retired dnstap (still writing out what it holds) writes the file PATH. */
static bool retired_writes(const struct server *s, const char *path)
{
	for (size_t i = 0; i < s->nretired_out; i++) {
		const char *f = s->retired_out[i].dnstap ? dnstap_file(s->retired_out[i].dnstap) :
			NULL;
		if (f != NULL && strcmp(f, path) == 0)
			return true;
	}
	return false;
}

/*
 * Opens what a reload's changed audit-log, dnstap and metrics-listen ask for into OUT, on the
 * main loop (a file open or a bind is quick). A target that cannot be opened or bound (the
 * privilege drop: the user cannot create the file; the port is taken) leaves its keys at their
 * running values, in LOADED and RC, with a warning naming key, target and cause: the rest of the
 * reload applies. Returns the number of such failures.
 */
static int outputs_prepare(struct server *s, const struct config *running, struct config *loaded,
	struct reconf *rc, FILE *t, struct outputs *out)
{
	int failed = 0;

	if ((rc->parts & (RECONF_AUDIT | RECONF_DNSTAP)) && s->nretired_out == RETIRED_MAX) {
		/* cannot happen unless workers stopped answering their mailbox */
		settings_warn(t, "reload: %d replaced audit and dnstap outputs not yet released by "
			"the workers; audit-log and dnstap keep their running values", RETIRED_MAX);
		if (reconf_keep(running, loaded, RECONF_AUDIT, rc) < 0 ||
		    reconf_keep(running, loaded, RECONF_DNSTAP, rc) < 0)
			log_err("reload: out of memory keeping the audit and dnstap settings");
		failed++;
	}
	if (rc->parts & RECONF_AUDIT) {
		/* a new writer and new rings, also for a prefix or buffer change: the old writer
		 * writes out what its rings hold once the workers have moved to the new one */
		if (loaded->audit_log != NULL && (out->audit = audit_open(s, loaded)) == NULL) {
			settings_warn(t, "reload: audit-log %s: %s; the audit settings keep their "
				"running values (%s%s)", loaded->audit_log, strerror(errno),
				running->audit_log ? "still writing to " : "the audit log stays off",
				running->audit_log ? running->audit_log : "");
			if (reconf_keep(running, loaded, RECONF_AUDIT, rc) < 0)
				log_err("reload: out of memory keeping the audit settings");
			failed++;
		} else {
			out->audit_new = true;
		}
	}
	if (rc->parts & RECONF_DNSTAP) {
		const struct config_dnstap *n = &loaded->dnstap, *o = &running->dnstap;
		struct dnstap *cur = atomic_load(&s->dnstap);

		if (cur != NULL && dnstap_configured(n) && str_same(n->socket, o->socket) &&
		    str_same(n->file, o->file)) {
			/* the same target: a file goes on (starting it again would empty it) */
			if (dnstap_set(cur, n->identity, dnstap_types(n)) < 0) {
				settings_warn(t, "reload: dnstap: out of memory; the dnstap settings "
					"keep their running values");
				if (reconf_keep(running, loaded, RECONF_DNSTAP, rc) < 0)
					log_err("reload: out of memory keeping the dnstap settings");
				failed++;
			}
		} else if (n->file != NULL && retired_writes(s, n->file)) {
			/* a new stream would empty the file the old writer still writes to */
			settings_warn(t, "reload: dnstap file %s: a writer a reload replaced is still "
				"finishing it; the dnstap settings keep their running values (reload "
				"again shortly)", n->file);
			if (reconf_keep(running, loaded, RECONF_DNSTAP, rc) < 0)
				log_err("reload: out of memory keeping the dnstap settings");
			failed++;
		} else if (dnstap_configured(n) && (out->dnstap = dnstap_open(s, n)) == NULL) {
			settings_warn(t, "reload: dnstap %s %s: %s; the dnstap settings keep their "
				"running values (%s%s)", n->socket ? "socket" : "file",
				n->socket ? n->socket : n->file, strerror(errno),
				dnstap_configured(o) ? "still sending to " : "dnstap stays off",
				o->socket ? o->socket : o->file ? o->file : "");
			if (reconf_keep(running, loaded, RECONF_DNSTAP, rc) < 0)
				log_err("reload: out of memory keeping the dnstap settings");
			failed++;
		} else {
			/* a socket with no collector yet is accepted (fstrm connects when one
			 * listens); dnstap_new logged it, and ctl reload says it too */
			if (out->dnstap != NULL && !dnstap_connected(out->dnstap) && t != NULL)
				fprintf(t, "warning: reload: dnstap socket %s: no collector listens; "
					"messages are dropped (dnstap-dropped) until one does, tried "
					"every second\n", n->socket);
			out->dnstap_new = true;
		}
	}
	if (rc->parts & RECONF_METRICS) {
		const struct config_endpoint *ep = &loaded->metrics_listen;
		int err = 0;

		/* bound before the old one is closed: the page is never away while it moves */
		if (ep->addrlen != 0 && (out->metrics = metrics_new(ep, render_metrics, s)) == NULL)
			err = errno;
		else if (out->metrics != NULL && metrics_start(out->metrics) < 0)
			err = EAGAIN;
		if (err != 0) {
			settings_warn(t, "reload: metrics-listen %s: %s; metrics-listen keeps its "
				"running value (%s%s)", ep->text, strerror(err),
				running->metrics_listen.addrlen ? "still serving on " : "metrics stay off",
				running->metrics_listen.addrlen ? running->metrics_listen.text : "");
			metrics_free(out->metrics);
			out->metrics = NULL;
			if (reconf_keep(running, loaded, RECONF_METRICS, rc) < 0)
				log_err("reload: out of memory keeping metrics-listen");
			failed++;
		} else {
			out->metrics_new = true;
		}
	}
	return failed;
}

/*
 * Puts the outputs of OUT in force: the metrics page moves at once (no worker reads it); a new
 * audit log or dnstap is stored before the settings of generation GEN are published, so a
 * worker that takes them finds it, and the one it replaces is retired until every worker has
 * acknowledged GEN (it then writes out what it holds and is freed, retire_policies).
 */
static void outputs_publish(struct server *s, struct outputs *out, uint64_t gen)
{
	struct retired_out r = { NULL, NULL, gen };

	if (out->metrics_new) {
		struct metrics *old = s->metrics;
		s->metrics = out->metrics;
		metrics_free(old); /* joins its thread: not under state_lock, which a render takes */
	}
	if (out->audit_new)
		r.audit = atomic_exchange(&s->audit, out->audit);
	if (out->dnstap_new)
		r.dnstap = atomic_exchange(&s->dnstap, out->dnstap);
	if (r.audit != NULL || r.dnstap != NULL)
		s->retired_out[s->nretired_out++] = r; /* room checked by outputs_prepare */
	*out = (struct outputs){ 0 };
}

/* Puts away the settings REPLACED until every worker has let go of them. */
static void retire_settings(struct server *s, struct config *replaced, uint64_t gen)
{
	if (replaced == s->cfg)
		return; /* the start-up config lives as long as the server */
	if (s->nretired_cfg == RETIRED_MAX) {
		log_warn("reload: %d old settings not yet released by workers", RETIRED_MAX);
		return; /* kept, as with policies: better than freeing what a worker may read */
	}
	s->retired_cfg[s->nretired_cfg++] = (struct retired_cfg){ replaced, gen };
}

/*
 * The settings part of a reload, before the policy is published: every changed key a worker
 * or the server can take over is applied (new settings published, each worker rebuilds what
 * they touch), every changed key that needs a restart keeps its running value and is named in
 * a warning. A key whose target cannot be opened (log-file, audit-log, dnstap, metrics-listen)
 * keeps its running value too, with a warning, and *FAILED counts it. Returns true when CFG was
 * published (the server owns it as the settings from then on), false when the caller keeps it
 * (nothing a worker reads changed, or out of memory).
 */
static bool apply_settings(struct server *s, struct config *cfg, FILE *t, int *failed)
{
	struct config *running = atomic_load(&s->settings);
	struct reconf rc;
	struct outputs out = { 0 };
	char list[512];
	size_t n = 0;

	*failed = 0;
	if (reconf_prepare(running, cfg, s->pinned, s->npinned, &rc) < 0) {
		log_err("reload: out of memory; the running settings stay (the policy is reloaded)");
		return false;
	}
	/* the same lines in the log and in what ctl reload prints */
	for (size_t i = 0; i < rc.nrestart; i++)
		settings_warn(t, "reload: %s changed in %s, but only a restart applies it; the "
			"running value stays", rc.restart[i], s->cfg->path);
	for (size_t i = 0; i < rc.npinned; i++)
		settings_warn(t, "reload: %s changed in %s, but the command line set it; the "
			"command line's value stays", rc.pinned[i], s->cfg->path);
	if ((rc.parts & RECONF_LOG) && reopen_log_file(running, cfg, &rc, t) < 0)
		(*failed)++;
	*failed += outputs_prepare(s, running, cfg, &rc, t, &out);
	if (rc.napplied == 0)
		return false; /* nothing changed that is in force (outputs_prepare opened nothing) */
	list[0] = '\0';
	for (size_t i = 0; i < rc.napplied && n < sizeof(list); i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
			rc.applied[i]);
	log_info("reload: settings applied: %s", list);
	if (t != NULL)
		fprintf(t, "reload: settings applied: %s\n", list);
	/* after that line: one that lowers the level still says so */
	if (rc.parts & RECONF_LOG_LEVEL)
		log_set_level((enum log_level)cfg->log_level);
	uint64_t gen = atomic_load(&s->settings_gen) + 1;
	outputs_publish(s, &out, gen);
	atomic_store(&s->settings, cfg);
	atomic_store(&s->settings_gen, gen);
	retire_settings(s, running, gen);
	for (unsigned i = 0; i < s->nworkers; i++)
		worker_post(s->workers[i], WORKER_MAIL_SETTINGS);
	return true;
}

void reload_finish(struct server *s)
{
	char *text = NULL;
	size_t tlen = 0;
	FILE *t = open_memstream(&text, &tlen); /* what ctl reload prints; NULL: log only */
	int code;

	pthread_join(s->loader, NULL);
	s->loading = false;
	/* a failed reload keeps the old policy and the served zone with it */
	export_settle(s, s->loaded != NULL && s->zone_rc >= 0, s->loaded != NULL || s->reload_took);
	pthread_mutex_lock(&s->state_lock);
	s->last_reload_at = policy_now();
	if (s->loaded != NULL) {
		log_info("reload: %s: policy with %zu enabled entries and %zu list names in force "
			"(loaded in %.3f s)", s->cfg->path, policy_rule_count(s->loaded),
			policy_list_names(s->loaded), s->load_seconds);
		log_info("reload: summary: %s", s->load_summary);
		if (t != NULL)
			fprintf(t, "reload: %s: policy with %zu enabled entries and %zu list names in "
				"force (loaded in %.3f s)\nreload: summary: %s\n", s->cfg->path,
				policy_rule_count(s->loaded), policy_list_names(s->loaded),
				s->load_seconds, s->load_summary);
		snprintf(s->last_result, sizeof(s->last_result), "ok: %s", s->load_summary);
		memcpy(s->sha256, s->load_sha256, sizeof(s->sha256));
		s->reloads_ok++;
		pthread_mutex_unlock(&s->state_lock);
		struct config *lc = s->loaded_cfg;
		int failed;
		bool published = apply_settings(s, lc, t, &failed);
		s->loaded_cfg = NULL;
		if (s->xfr != NULL) {
			struct policy *view = zones_view(s, s->loaded);
			if (view == NULL) {
				log_err("reload: out of memory; the current policy stays in force");
				policy_free(s->loaded);
			} else {
				policy_free(s->core);
				s->core = s->loaded;
				publish_policy(s, view);
			}
		} else {
			publish_policy(s, s->loaded);
		}
		sched_arm(s, policy_now());
		/* The policy is in force, a setting is not: ctl reload (systemctl reload) fails with
		 * its own code, so the operator hears of it; the warning said which and why. */
		if (failed > 0) {
			reload_note(s, "ok, but %d setting%s could not be applied (see the log)",
				failed, failed == 1 ? "" : "s");
			if (t != NULL)
				fprintf(t, "reload: the policy is in force, but %d setting%s could not "
					"be applied and keep%s the running value\n", failed,
					failed == 1 ? "" : "s", failed == 1 ? "s" : "");
			code = 4;
		} else {
			reload_note(s, "ok");
			code = 0;
		}
		if (s->xfrout != NULL) {
			/* no export runs now (reload_start waits for it), so the old one may go */
			if (s->zone_cfg_owned)
				config_free(s->zone_cfg);
			s->zone_cfg = lc;
			s->zone_cfg_owned = !published;
			serve_published(s, "reload");
		} else if (!published) {
			config_free(lc);
		}
	} else {
		size_t n = s->load_diag ? diag_count(s->load_diag) : 0;
		for (size_t i = 0; i < n; i++) {
			log_err("reload: %s", diag_get(s->load_diag, i));
			if (t != NULL)
				fprintf(t, "%s\n", diag_get(s->load_diag, i));
		}
		log_err("reload: %s has %zu error%s; the current policy stays in force",
			s->cfg->path, n, n == 1 ? "" : "s");
		if (t != NULL)
			fprintf(t, "reload: %s has %zu error%s; the current policy stays in force\n",
				s->cfg->path, n, n == 1 ? "" : "s");
		snprintf(s->last_result, sizeof(s->last_result), "failed: %zu error%s%s%s", n,
			n == 1 ? "" : "s", n ? ", first: " : "", n ? diag_get(s->load_diag, 0) : "");
		s->reloads_failed++;
		pthread_mutex_unlock(&s->state_lock);
		code = 1;
		reload_note(s, "failed, %zu error%s, the previous policy stays", n, n == 1 ? "" : "s");
	}
	/* A failed reload ends the reloading state too: the service is ready, on the old policy. */
	char status[512];
	status_line(s, status, sizeof(status));
	notify_ready(status);
	if (t != NULL)
		fclose(t);
	waiters_answer(s->waiting, &s->nwaiting, text ? code : 3, text ? text : "out of memory\n");
	free(text);
	s->loaded = NULL;
	diag_free(s->load_diag);
	s->load_diag = NULL;
	if (s->reload_again && !s->stopping) {
		s->reload_again = false;
		memcpy(s->waiting, s->waiting_next, s->nwaiting_next * sizeof(s->waiting[0]));
		s->nwaiting = s->nwaiting_next;
		s->nwaiting_next = 0;
		reload_start(s);
	} else if (s->export_again && !s->stopping) {
		s->export_again = false;
		export_start(s, s->export_again_full);
		s->export_again_full = false;
	}
}
