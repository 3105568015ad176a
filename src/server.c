/*
 * server: daemon life cycle, signals and policy reload (see include/server.h).
 *
 * Reload protocol. SIGHUP starts a loader thread that reads the file and compiles a policy while
 * the workers keep answering with the current one. When it finishes it wakes the main loop, which
 * (if the file was good) publishes the new policy with one atomic exchange, bumps the generation
 * and posts WORKER_MAIL_POLICY to every worker. The old policy is kept on a retired list until
 * every worker's seen_gen has reached that generation; only then is it freed. A bad file changes
 * nothing: its errors are logged with file:line:column and the old policy stays. SIGHUPs that
 * arrive while a load runs are folded into one more load after it.
 */
#include "server.h"

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
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
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "xfrnotify.h"
#include "privdrop.h"
#include "reconf.h"
#include "stats.h"
#include "version.h"
#include "why.h"
#include "worker.h"
#include "xfr.h"
#include "zonedb.h"
#include "xfrout.h"

#define RETIRED_MAX 16
#define WORKERS_MAX 64 /* the most `workers:` accepts (config.c's root key table) */
#define RELOAD_WAITERS_MAX 32

/* Blocked counts of entries and lists whose policies were freed, so a counter survives reloads. */
struct hit_total {
	char *key;  /* owned: "e:" NAME for a YAML entry, "l:" PATH for a list */
	uint64_t n;
};

struct retired {
	struct policy *policy; /* owned until every worker has seen generation `gen` */
	uint64_t gen;
};

struct server {
	struct config *cfg;                /* owned */
	_Atomic(struct policy *) policy;   /* owned: the one workers read */
	_Atomic uint64_t policy_gen;
	_Atomic unsigned tcp_conns;        /* client connections, all workers: max-tcp-connections */
	struct retired retired[RETIRED_MAX];
	size_t nretired;

	struct worker **workers;           /* owned array of cfg->workers, each owned */
	unsigned nworkers;
	int *udp_fds, *tcp_fds;            /* bound sockets, per worker x listen address, until
	                                      handed to the workers */
	struct event_base *base;           /* owned */
	struct event *sig[5];              /* owned: HUP, TERM, INT, USR1, USR2 */
	int notify_fd;                     /* eventfd: workers' acks and the loader's completion */
	struct event *notify_ev;

	pthread_t loader;
	bool loading, reload_again, stopping;
	atomic_bool abandon;               /* set by a stop: a running load gives up (config.h) */
	_Atomic bool load_done;
	struct policy *loaded;             /* set by the loader thread, taken by the main loop */

	/* The settings in force: the start-up config until a reload changes one of its keys. A
	 * replaced one is freed once every worker has let go of it (worker_settings_seen). */
	_Atomic(struct config *) settings; /* owned unless it is cfg */
	_Atomic uint64_t settings_gen;
	struct retired_cfg {
		struct config *cfg;        /* owned */
		uint64_t gen;              /* freed when every worker has seen this generation */
	} retired_cfg[RETIRED_MAX];
	size_t nretired_cfg;
	const char *pinned[4];             /* keys the command line set: a reload keeps them */
	size_t npinned;
	struct diag *load_diag;
	double load_seconds;
	char load_summary[384];            /* written by the loader thread, logged by the main loop */

	struct audit *audit;               /* owned: audit-log, NULL when off */
	struct dnstap *dnstap;             /* owned: dnstap, NULL when off */

	struct event *sched_ev;            /* owned: fires at the policy's next schedule change */
	int64_t sched_from;                /* changes after this instant are still to be logged */

	/* RPZ zones (`zones:`). The published policy is then a view of `core` with the zones'
	 * current snapshots; a transfer or a reload builds a new view and publishes it. */
	struct xfr *xfr;                   /* owned; NULL without zones */
	struct policy *core;               /* one reference: the policy the last load compiled */
	struct zonesnap **snaps;           /* owned references, per start-up zone (cfg->zones) */
	pthread_mutex_t zlock;             /* the three below, written by the transfer thread */
	struct zonesnap **pending;         /* owned references, handed over by xfr */
	bool *pending_set;
	bool zones_changed;

	server_ready_cb ready_cb;          /* called once when serving (main: detach, pidfile) */
	void *ready_arg;
	char last_reload[160];             /* for STATUS=: when and how the last reload ended */
	/* serve-rpz: the zone served, rebuilt by the loader and, at schedule changes, by the
	   exporter thread; never both at once (each waits for the other to finish). */
	struct xfrout *xfrout;             /* owned; NULL when not serving */
	struct xfrnotify *xfrnotify;       /* owned: NOTIFY to serve-rpz secondaries */
	struct config *zone_cfg;           /* the config of the current policy after a reload
	                                      (NULL: s->cfg); the export needs it. Owned when
	                                      zone_cfg_owned, else it is the settings in force */
	bool zone_cfg_owned;
	struct config *loaded_cfg;         /* owned: set by the loader with `loaded`, taken by
	                                      the main loop (settings, zone_cfg) */
	int zone_rc;                       /* the last xfrout_publish result, for the main loop */
	uint32_t zone_serial;
	size_t zone_changes;
	char zone_err[256];
	pthread_t exporter;
	bool exporting, export_again;
	_Atomic bool export_done;

	struct control *control;           /* owned; NULL without control-socket */
	int64_t started;                   /* unix seconds */
	char sha256[DIGEST_HEX_LEN + 1];   /* of the file the policy in force came from */
	char load_sha256[DIGEST_HEX_LEN + 1]; /* the loader thread's, taken on success */
	uint64_t reloads_ok, reloads_failed;
	int64_t last_reload_at;            /* unix seconds of the last finished reload; 0: none */
	char last_result[512];
	/* ctl reload waits for the load that starts after it asked: WAITING for the running one,
	 * WAITING_NEXT for the one that follows (reload_again). */
	struct control_reply *waiting[RELOAD_WAITERS_MAX], *waiting_next[RELOAD_WAITERS_MAX];
	size_t nwaiting, nwaiting_next;
	struct hit_total *carried;         /* owned, sorted by key */
	size_t ncarried, carried_cap;

	struct metrics *metrics;           /* owned; NULL without metrics-listen */
	/* The metrics thread reads what only the main loop writes (the policy pointer and the
	 * retired list, carried counts, reload results): the main loop holds this while it changes
	 * them, the metrics thread while it renders. Workers never take it. */
	pthread_mutex_t state_lock;
};

/* The service manager's one-line view: the policy in force and the last reload's outcome. */
static void status_line(struct server *s, char *buf, size_t cap)
{
	const struct policy *p = atomic_load(&s->policy);

	char serving[300] = "";

	if (s->xfrout != NULL)
		snprintf(serving, sizeof(serving), "; serving %s at serial %u",
			xfrout_apex_text(s->xfrout), xfrout_serial(s->xfrout));
	snprintf(buf, cap, "policy: %zu enabled entries, %zu list names, generation %llu%s%s%s",
		policy_rule_count(p), policy_list_names(p),
		(unsigned long long)atomic_load(&s->policy_gen), serving, s->last_reload[0] ? "; " : "",
		s->last_reload);
}

static void reload_note(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reload_note(struct server *s, const char *fmt, ...)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;
	size_t n;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = (size_t)snprintf(s->last_reload, sizeof(s->last_reload), "last reload %s: ", when);
	if (n >= sizeof(s->last_reload))
		return;
	va_start(ap, fmt);
	vsnprintf(s->last_reload + n, sizeof(s->last_reload) - n, fmt, ap);
	va_end(ap);
}

static void server_notify(void *arg)
{
	struct server *s = arg;
	uint64_t one = 1;

	if (write(s->notify_fd, &one, sizeof(one)) < 0)
		log_warn("server: notify: %s", strerror(errno));
}

static control_command_cb control_cb;
static metrics_render_cb render_metrics;

/* ---- sockets ---- */

static int open_socket(const struct config_endpoint *e, int type)
{
	int fd = socket(e->addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
	    (e->addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0))
		goto fail;
	if (type == SOCK_DGRAM) {
		/* A deeper receive queue absorbs bursts; best effort (capped by rmem_max). */
		int size = 4 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	}
	if (bind(fd, (const struct sockaddr *)&e->addr, e->addrlen) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 1024) < 0))
		goto fail;
	return fd;
fail:
	log_err("cannot listen on %s/%s: %s", e->text, type == SOCK_STREAM ? "tcp" : "udp",
		strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * The descriptors the configuration can use at once: per worker its UDP and TCP listeners, its
 * upstream sockets (each position may hold a replaced socket draining beside its successor) and
 * a few of its own; then the TCP client connections and as many upstream TCP connections (each
 * TCP client's query has one), and some for files, logs and the control socket.
 */
static rlim_t fd_need(const struct config *cfg, unsigned workers)
{
	rlim_t per_worker = 2 * (rlim_t)cfg->listen_count +
		2 * (rlim_t)cfg->upstream_count * cfg->upstream_sockets + 16;

	return workers * per_worker + 2 * (rlim_t)cfg->max_tcp_connections + 64;
}

/*
 * Raises the soft descriptor limit toward what the configuration needs (Debian's default soft
 * limit of 1,024 is below it with the default pool of 64 upstream sockets on a few cores), at
 * most to the hard limit; if even that is short, says so once, since sockets would then fail
 * under load rather than at start-up.
 */
static void fd_limit_raise(const struct config *cfg, unsigned workers)
{
	rlim_t need = fd_need(cfg, workers);
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return;
	struct rlimit want = { rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need,
		rl.rlim_max };
	if (setrlimit(RLIMIT_NOFILE, &want) == 0)
		rl.rlim_cur = want.rlim_cur;
	if (rl.rlim_cur < need)
		log_warn("file descriptors: the configuration may need %llu, the limit is %llu "
			"(raise LimitNOFILE or ulimit -n)", (unsigned long long)need,
			(unsigned long long)rl.rlim_cur);
}

/*
 * The service's group: `group:`, else the primary group of `user:`, else the one blokir runs as.
 * -1 (logged) when it does not exist.
 */
static int service_gid(const struct config *cfg, gid_t *gid)
{
	struct group *g;
	struct passwd *pw;

	if (cfg->group == NULL && cfg->user != NULL) {
		if ((pw = getpwnam(cfg->user)) == NULL) {
			log_err("control-socket: user %s does not exist", cfg->user);
			return -1;
		}
		*gid = pw->pw_gid;
		return 0;
	}
	if (cfg->group == NULL) {
		*gid = getegid();
		return 0;
	}
	if ((g = getgrnam(cfg->group)) == NULL) {
		log_err("control-socket: group %s does not exist", cfg->group);
		return -1;
	}
	*gid = g->gr_gid;
	return 0;
}

int server_bind(struct server *s)
{
	size_t n = s->cfg->listen_count;
	gid_t gid;

	if (s->cfg->control_socket != NULL &&
	    (service_gid(s->cfg, &gid) < 0 ||
	     (s->control = control_new(s->cfg->control_socket, gid, control_cb, s)) == NULL))
		return -1;
	if (s->cfg->metrics_listen.addrlen != 0 &&
	    (s->metrics = metrics_new(&s->cfg->metrics_listen, render_metrics, s)) == NULL)
		return -1;

	fd_limit_raise(s->cfg, s->nworkers);
	for (unsigned w = 0; w < s->nworkers; w++)
		for (size_t i = 0; i < n; i++) {
			s->udp_fds[w * n + i] = open_socket(&s->cfg->listen[i], SOCK_DGRAM);
			if (s->udp_fds[w * n + i] < 0)
				return -1;
			s->tcp_fds[w * n + i] = open_socket(&s->cfg->listen[i], SOCK_STREAM);
			if (s->tcp_fds[w * n + i] < 0)
				return -1;
		}
	return 0;
}

/* ---- zones ---- */

/* xfr_publish_cb, on the transfer thread (or in xfr_start): parks SNAP for the main loop. */
static void zone_published(void *ctx, size_t zone, struct zonesnap *snap)
{
	struct server *s = ctx;

	pthread_mutex_lock(&s->zlock);
	zonesnap_unref(s->pending[zone]);
	s->pending[zone] = snap;
	s->pending_set[zone] = true;
	s->zones_changed = true;
	pthread_mutex_unlock(&s->zlock);
	server_notify(s);
}

/*
 * A view of CORE with the current snapshots: CORE's zone I is the start-up zone of the same name
 * (zones are matched by name, since a reload may reorder, add or remove them). NULL on ENOMEM.
 */
static struct policy *zones_view(struct server *s, struct policy *core)
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
			v[i] = s->snaps[cz - s->cfg->zones];
	}
	view = policy_with_zones(core, v, n);
	free(v);
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

/* Takes the snapshots the transfer thread handed over; true when any changed. */
static bool zones_take(struct server *s)
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
	pthread_mutex_unlock(&s->zlock);
	return any;
}

/* ---- reload ---- */

/*
 * Publishes the zone for CFG and POL at NOW (loader or exporter thread); the outcome goes to
 * zone_rc and friends for the main loop to log and NOTIFY about.
 */
static void serve_publish(struct server *s, const struct config *cfg, const struct policy *pol,
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

static void *exporter_main(void *arg)
{
	struct server *s = arg;

	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) < 0)
		log_debug("serve-rpz: setpriority: %s", strerror(errno));
	/* the compiled policy: a view over zones may be replaced by a transfer meanwhile */
	serve_publish(s, s->zone_cfg != NULL ? s->zone_cfg : s->cfg,
		s->core != NULL ? s->core : atomic_load(&s->policy), policy_now());
	atomic_store(&s->export_done, true);
	server_notify(s);
	return NULL;
}

static void reload_start(struct server *s);

/* A schedule change: the export of this instant differs, so the zone is rebuilt off the loop. */
static void export_start(struct server *s)
{
	int err;

	if (s->xfrout == NULL)
		return;
	if (s->loading || s->exporting) {
		s->export_again = true;
		return;
	}
	atomic_store(&s->export_done, false);
	if ((err = pthread_create(&s->exporter, NULL, exporter_main, s)) != 0) {
		log_err("serve-rpz: cannot start the export thread: %s", strerror(err));
		return;
	}
	s->exporting = true;
}

static void export_finish(struct server *s)
{
	pthread_join(s->exporter, NULL);
	s->exporting = false;
	serve_published(s, "schedule change");
	if (s->stopping)
		return;
	if (s->reload_again) {
		s->reload_again = false;
		reload_start(s);
	} else if (s->export_again) {
		s->export_again = false;
		export_start(s);
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
			if (s->xfrout != NULL)
				serve_publish(s, cfg, s->loaded, policy_now());
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

static void waiters_answer(struct control_reply **w, size_t *n, int code, const char *text)
{
	for (size_t i = 0; i < *n; i++) {
		fputs(text, control_reply_out(w[i]));
		control_reply_done(w[i], code);
	}
	*n = 0;
}

static void reload_start(struct server *s)
{
	int err;

	if (s->loading || s->exporting) {
		s->reload_again = true;
		return;
	}
	s->loaded = NULL;
	s->loaded_cfg = NULL;
	s->load_diag = NULL;
	atomic_store(&s->load_done, false);
	err = pthread_create(&s->loader, NULL, loader_main, s);
	if (err != 0) {
		log_err("reload: cannot start the loader thread: %s; the current policy stays",
			strerror(err));
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

static void publish_policy(struct server *s, struct policy *fresh)
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
static void sched_arm(struct server *s, int64_t now)
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

static void sched_cb(evutil_socket_t fd, short what, void *arg)
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
	export_start(s);
}

/*
 * A reload changed log-file: lines go to the new file (or back to stderr or syslog) from now on.
 * When it cannot be opened (after the privilege drop, the user must be able to write it) the
 * old target stays and LOADED says so, as the settings in force.
 */
static void reopen_log_file(struct server *s, const struct config *running, struct config *loaded,
	FILE *t)
{
	char *old;

	/* said where the log has been so far, so a reader of the old file knows where to look */
	log_info("reload: log-file: from now on %s", loaded->log_file ? loaded->log_file :
		"none (stderr or syslog)");
	if (log_set_file(loaded->log_file) == 0)
		return;
	log_err("reload: log-file %s: %s; logging stays where it was", loaded->log_file,
		strerror(errno));
	if (t != NULL)
		fprintf(t, "warning: reload: log-file %s: %s; logging stays where it was\n",
			loaded->log_file, strerror(errno));
	old = running->log_file ? strdup(running->log_file) : NULL; /* owned by LOADED */
	free(loaded->log_file);
	loaded->log_file = old;
	(void)s;
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
 * can take over is applied (new settings published, each worker rebuilds what they touch), every
 * changed key that needs a restart keeps its running value and is named in a warning. Returns
 * true when CFG was published (the server owns it as the settings from then on), false when the
 * caller keeps it (nothing a worker reads changed, or out of memory).
 */
static bool apply_settings(struct server *s, struct config *cfg, FILE *t)
{
	struct config *running = atomic_load(&s->settings);
	struct reconf rc;
	char list[512];
	size_t n = 0;

	if (reconf_prepare(running, cfg, s->pinned, s->npinned, &rc) < 0) {
		log_err("reload: out of memory; the running settings stay (the policy is reloaded)");
		return false;
	}
	/* the same lines in the log and in what ctl reload prints */
	for (size_t i = 0; i < rc.nrestart; i++) {
		log_warn("reload: %s changed in %s, but only a restart applies it; the running "
			"value stays", rc.restart[i], s->cfg->path);
		if (t != NULL)
			fprintf(t, "warning: reload: %s changed in %s, but only a restart applies it; "
				"the running value stays\n", rc.restart[i], s->cfg->path);
	}
	for (size_t i = 0; i < rc.npinned; i++) {
		log_warn("reload: %s changed in %s, but the command line set it; the command line's "
			"value stays", rc.pinned[i], s->cfg->path);
		if (t != NULL)
			fprintf(t, "warning: reload: %s changed in %s, but the command line set it; "
				"the command line's value stays\n", rc.pinned[i], s->cfg->path);
	}
	if (rc.parts & RECONF_LOG)
		reopen_log_file(s, running, cfg, t);
	if (rc.napplied == 0)
		return false; /* nothing a worker reads changed */
	list[0] = '\0';
	for (size_t i = 0; i < rc.napplied && n < sizeof(list); i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
			rc.applied[i]);
	log_info("reload: settings applied: %s", list);
	if (t != NULL)
		fprintf(t, "reload: settings applied: %s\n", list);
	uint64_t gen = atomic_load(&s->settings_gen) + 1;
	atomic_store(&s->settings, cfg);
	atomic_store(&s->settings_gen, gen);
	retire_settings(s, running, gen);
	for (unsigned i = 0; i < s->nworkers; i++)
		worker_post(s->workers[i], WORKER_MAIL_SETTINGS);
	return true;
}

static void reload_finish(struct server *s)
{
	char *text = NULL;
	size_t tlen = 0;
	FILE *t = open_memstream(&text, &tlen); /* what ctl reload prints; NULL: log only */
	int code;

	pthread_join(s->loader, NULL);
	s->loading = false;
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
		bool published = apply_settings(s, lc, t);
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
		reload_note(s, "ok");
		code = 0;
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
		export_start(s);
	}
}

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
static uint64_t hit_total(const struct server *s, size_t slot)
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
static void retire_policies(struct server *s)
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
	for (size_t i = 0; i < freed; i++) {
		/* A view shares its core's counters: they are carried only when no policy still
		 * counts into them, and once. */
		const void *id = policy_hits_id(gone[i].policy);
		bool alive = id == policy_hits_id(atomic_load(&s->policy));
		for (size_t k = 0; k < keep && !alive; k++)
			alive = id == policy_hits_id(s->retired[k].policy);
		for (size_t k = 0; k < i && !alive; k++)
			alive = id == policy_hits_id(gone[k].policy);
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
	/* A policy of millions of names leaves megabytes of freed heap in the loader thread's
	 * arena; give them back so memory returns to its level after a reload. */
	if (freed > 0)
		malloc_trim(0);
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	uint64_t count;
	(void)what;

	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("server: notify read: %s", strerror(errno));
	if (s->loading && atomic_load(&s->load_done))
		reload_finish(s);
	if (s->xfr != NULL && zones_take(s) && !s->stopping) {
		struct policy *view = zones_view(s, s->core);
		if (view == NULL)
			log_err("zones: out of memory building the policy; the previous copies stay in force");
		else
			publish_policy(s, view);
	}
	if (s->exporting && atomic_load(&s->export_done))
		export_finish(s);
	retire_policies(s);
	if (s->stopping && !s->loading && !s->exporting) {
		bool all_exited = true;
		for (unsigned i = 0; i < s->nworkers; i++)
			all_exited &= s->workers[i] == NULL || worker_exited(s->workers[i]);
		if (all_exited)
			event_base_loopexit(s->base, NULL);
	}
}

/* ---- signals ---- */

/* What arrived before the event loop's handlers, or after them (a handler only sets a flag). */
static volatile sig_atomic_t early_hup, early_usr1;

static void early_signal(int signo)
{
	if (signo == SIGHUP)
		early_hup = 1;
	else if (signo == SIGUSR1)
		early_usr1 = 1;
	/* SIGUSR2 (reopen the audit and dnstap files): they are opened after this anyway */
}

void server_signals_early(void)
{
	struct sigaction sa = { .sa_handler = early_signal, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
}

static void log_stats(struct server *s)
{
	uint64_t sum[STAT_COUNT] = { 0 };
	char line[1536];

	for (unsigned i = 0; i < s->nworkers; i++)
		if (s->workers[i] != NULL)
			stats_add_to(worker_stats(s->workers[i]), sum);
	/* before the counters line, which tests and scripts read as the last "stats:" line */
	if (s->xfrout != NULL) {
		struct xfrout_status st;
		uint64_t sent = 0, acked = 0, failed = 0;

		xfrout_get_status(s->xfrout, &st);
		if (s->xfrnotify != NULL)
			xfrnotify_counts(s->xfrnotify, &sent, &acked, &failed);
		log_info("stats: serve-rpz %s: serial=%u records=%zu history=%zu ixfr-from=%u "
			"notify-sent=%llu notify-acked=%llu notify-failed=%llu",
			xfrout_apex_text(s->xfrout), st.serial, st.records, st.history, st.oldest,
			(unsigned long long)sent, (unsigned long long)acked, (unsigned long long)failed);
	}
	log_info("stats: %s", stats_format(sum, line, sizeof(line)));
	for (size_t i = 0; s->xfr != NULL && i < s->cfg->zone_count; i++) {
		struct stats_zone z;
		xfr_status_one(s->xfr, i, &z);
		log_info("stats: %s", stats_zone_format(&z, line, sizeof(line)));
	}
}

/* The worker's NOTIFY hook: the transfer module decides. */
static unsigned server_notify_in(void *ctx, const uint8_t *name, size_t len,
	const struct sockaddr *from, socklen_t fromlen)
{
	struct server *s = ctx;

	return xfr_notify(s->xfr, name, len, from, fromlen);
}

size_t server_zone_status(struct server *s, struct stats_zone *out, size_t cap)
{
	return s->xfr != NULL ? xfr_status(s->xfr, out, cap) : 0;
}

/*
 * The audit log and dnstap, opened before the privilege drop so that they may live where only
 * root can create files (/var/log); a reopen later runs as the `user:`, which then needs write
 * access to the directory (logrotate's `create` line sets that up).
 */
static int outputs_open(struct server *s)
{
	const struct config *cfg = s->cfg;

	if (cfg->audit_log != NULL) {
		struct audit_options ao = { .path = cfg->audit_log, .config_path = cfg->path,
			.producers = s->nworkers, .ring_bytes = (size_t)cfg->audit_buffer_kb * 1024,
			.ipv4_prefix = cfg->audit_ipv4_prefix, .ipv6_prefix = cfg->audit_ipv6_prefix };
		if ((s->audit = audit_new(&ao)) == NULL)
			return -1;
	}
	const struct config_dnstap *t = &cfg->dnstap;
	if (t->socket != NULL || t->file != NULL) {
		struct dnstap_options dop = { .socket_path = t->socket, .file_path = t->file,
			.identity = t->identity, .version = "blokir", .queues = s->nworkers,
			.types = (t->client_query ? DNSTAP_TYPE_BIT(DNSTAP_CLIENT_QUERY) : 0) |
				(t->client_response ? DNSTAP_TYPE_BIT(DNSTAP_CLIENT_RESPONSE) : 0) |
				(t->forwarder_query ? DNSTAP_TYPE_BIT(DNSTAP_FORWARDER_QUERY) : 0) |
				(t->forwarder_response ? DNSTAP_TYPE_BIT(DNSTAP_FORWARDER_RESPONSE) : 0) };
		if ((s->dnstap = dnstap_new(&dop)) == NULL)
			return -1;
	}
	return 0;
}

/* SIGUSR2 (and reopen-logs): the audit log and a dnstap file start again at their paths. */
static void outputs_reopen(struct server *s)
{
	if (s->audit != NULL)
		audit_reopen(s->audit);
	dnstap_reopen(s->dnstap);
}

static void signal_cb(evutil_socket_t signo, short what, void *arg)
{
	struct server *s = arg;
	(void)what;

	switch (signo) {
	case SIGHUP:
		if (!s->stopping)
			reload_start(s);
		break;
	case SIGUSR1:
		log_stats(s);
		break;
	case SIGUSR2:
		server_reopen_logs(s);
		break;
	default: /* SIGTERM, SIGINT */
		if (s->stopping)
			break;
		log_info("stopping: answering queries in flight");
		notify_stopping("stopping: answering queries in flight");
		s->stopping = true;
		atomic_store(&s->abandon, true);
		for (unsigned i = 0; i < s->nworkers; i++)
			worker_post(s->workers[i], WORKER_MAIL_STOP);
		break;
	}
}

/* log-file: by its path. 0, or -1 (logged; the old file stays in use). */
static int log_file_reopen(void)
{
	const char *path = log_file_path();

	if (log_reopen() < 0) {
		log_err("reopen-logs: %s: %s; still writing to the file opened before", path,
			strerror(errno));
		return -1;
	}
	if (path)
		log_info("reopen-logs: %s reopened", path);
	return 0;
}

void server_pin_key(struct server *s, const char *key)
{
	if (s->npinned < sizeof(s->pinned) / sizeof(s->pinned[0]))
		s->pinned[s->npinned++] = key;
}

int server_reopen_logs(struct server *s)
{
	outputs_reopen(s); /* the writer threads reopen between two lines and log the outcome */
	return log_file_reopen();
}

void server_set_ready_cb(struct server *s, server_ready_cb cb, void *arg)
{
	s->ready_cb = cb;
	s->ready_arg = arg;
}

/* ---- control commands ---- */

static void rfc3339(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void cmd_status(struct server *s, FILE *o)
{
	const struct policy *p = atomic_load(&s->policy);
	const struct policy_rule *r;
	int64_t now = policy_now();
	char t[32];
	size_t nrules = policy_yaml_rule_at(p, 0, &r), scheduled = 0;

	rfc3339(s->started, t, sizeof(t));
	fprintf(o, "version: blokir %s\npid: %ld\nuptime: %lld s (since %s)\nworkers: %u\n",
		BLOKIR_VERSION, (long)getpid(), (long long)(now - s->started), t, s->nworkers);
	fprintf(o, "config: %s\npolicy generation: %llu\npolicy sha256: %s\n", s->cfg->path,
		(unsigned long long)atomic_load(&s->policy_gen), s->sha256[0] ? s->sha256 : "-");
	fprintf(o, "policy: %zu enabled entries, %zu list names\n", policy_rule_count(p),
		policy_list_names(p));
	for (size_t i = 0; i < policy_list_count(p); i++) {
		bool on;
		size_t names;
		const char *path = policy_list_path(p, i, &on, &names);
		fprintf(o, "list: %s, %s, %zu names\n", path, on ? "enabled" : "disabled", names);
	}
	if (s->last_reload_at == 0) {
		fprintf(o, "last reload: none since start\n");
	} else {
		rfc3339(s->last_reload_at, t, sizeof(t));
		fprintf(o, "last reload: %s %s\n", t, s->last_result);
	}
	fprintf(o, "reloads: %llu ok, %llu failed\n", (unsigned long long)s->reloads_ok,
		(unsigned long long)s->reloads_failed);
	for (size_t i = 0; i < nrules; i++) {
		policy_yaml_rule_at(p, i, &r);
		if (r->from == 0 && r->until == 0)
			continue;
		scheduled++;
		if (r->from > now) {
			rfc3339(r->from, t, sizeof(t));
			fprintf(o, "schedule: \"%s\" (line %u) inactive, becomes active at %s\n",
				r->name, r->line, t);
		} else if (r->until > now) {
			rfc3339(r->until, t, sizeof(t));
			fprintf(o, "schedule: \"%s\" (line %u) active, becomes inactive at %s\n",
				r->name, r->line, t);
		} else {
			rfc3339(r->until, t, sizeof(t));
			fprintf(o, "schedule: \"%s\" (line %u) inactive since %s, no further change\n",
				r->name, r->line, t);
		}
	}
	if (scheduled == 0)
		fprintf(o, "schedule: no entry has from/until\n");
	if (s->xfrout != NULL) {
		struct xfrout_status st;
		uint64_t sent = 0, acked = 0, failed = 0;

		xfrout_get_status(s->xfrout, &st);
		if (s->xfrnotify != NULL)
			xfrnotify_counts(s->xfrnotify, &sent, &acked, &failed);
		fprintf(o, "serve-rpz: zone %s, serial %u, %zu records, %zu change%s kept (IXFR from "
			"serial %u), NOTIFY %llu sent, %llu acknowledged, %llu given up\n",
			xfrout_apex_text(s->xfrout), st.serial, st.records, st.history,
			st.history == 1 ? "" : "s", st.oldest, (unsigned long long)sent,
			(unsigned long long)acked, (unsigned long long)failed);
	}
}

static void json_string(FILE *o, const char *str)
{
	fputc('"', o);
	for (const unsigned char *c = (const unsigned char *)str; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(o, "\\%c", *c);
		else if (*c < 0x20)
			fprintf(o, "\\u%04x", *c);
		else
			fputc(*c, o);
	}
	fputc('"', o);
}

static void cmd_stats(struct server *s, FILE *o, bool json)
{
	const struct policy *p = atomic_load(&s->policy);
	uint64_t sum[STAT_COUNT] = { 0 };
	bool is_list;

	for (unsigned w = 0; w < s->nworkers; w++)
		stats_add_to(worker_stats(s->workers[w]), sum);
	if (!json) {
		fprintf(o, "%-24s %14s", "counter", "total");
		for (unsigned w = 0; w < s->nworkers; w++)
			fprintf(o, "      worker%-2u", w);
		fputc('\n', o);
		for (int i = 0; i < STAT_COUNT; i++) {
			fprintf(o, "%-24s %14llu", stats_name((enum stat_id)i),
				(unsigned long long)sum[i]);
			for (unsigned w = 0; w < s->nworkers; w++)
				fprintf(o, " %14llu", (unsigned long long)atomic_load_explicit(
					&worker_stats(s->workers[w])->c[i], memory_order_relaxed));
			fputc('\n', o);
		}
		fprintf(o, "reloads-ok %llu\nreloads-failed %llu\n",
			(unsigned long long)s->reloads_ok, (unsigned long long)s->reloads_failed);
		for (size_t i = 0; i < policy_hit_slots(p); i++) {
			const char *label = policy_hit_label(p, i, &is_list);
			fprintf(o, "blocked-by-%s \"%s\" %llu\n", is_list ? "list" : "entry", label,
				(unsigned long long)hit_total(s, i));
		}
		return;
	}
	fprintf(o, "{\"total\":{");
	for (int i = 0; i < STAT_COUNT; i++)
		fprintf(o, "%s\"%s\":%llu", i ? "," : "", stats_name((enum stat_id)i),
			(unsigned long long)sum[i]);
	fprintf(o, ",\"reloads-ok\":%llu,\"reloads-failed\":%llu},\"workers\":[",
		(unsigned long long)s->reloads_ok, (unsigned long long)s->reloads_failed);
	for (unsigned w = 0; w < s->nworkers; w++) {
		fprintf(o, "%s{", w ? "," : "");
		for (int i = 0; i < STAT_COUNT; i++)
			fprintf(o, "%s\"%s\":%llu", i ? "," : "", stats_name((enum stat_id)i),
				(unsigned long long)atomic_load_explicit(&worker_stats(s->workers[w])->c[i],
					memory_order_relaxed));
		fputc('}', o);
	}
	fputc(']', o);
	for (int want_list = 0; want_list < 2; want_list++) {
		bool first = true;
		fprintf(o, ",\"blocked-by-%s\":{", want_list ? "list" : "entry");
		for (size_t i = 0; i < policy_hit_slots(p); i++) {
			const char *label = policy_hit_label(p, i, &is_list);
			if (is_list != (want_list == 1))
				continue;
			fprintf(o, "%s", first ? "" : ",");
			json_string(o, label);
			fprintf(o, ":%llu", (unsigned long long)hit_total(s, i));
			first = false;
		}
		fputc('}', o);
	}
	fprintf(o, "}\n");
}

/* ---- metrics ---- */

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void label_value(FILE *o, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(o, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", o);
		else
			fputc(*v, o);
	}
}

/* "answers-wrong-id" as "blokir_answers_wrong_id_total". */
static void counter_name(FILE *o, const char *name)
{
	fputs("blokir_", o);
	for (; *name; name++)
		fputc(*name == '-' ? '_' : *name, o);
	fputs("_total", o);
}

static void family(FILE *o, const char *name, const char *type, const char *help)
{
	fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_breakdown(FILE *o, const uint64_t *sum, const char *name, const char *label,
	const char *help, enum stat_id first, enum stat_id last, const char *const *values)
{
	family(o, name, "counter", help);
	for (int i = first; i <= (int)last; i++)
		fprintf(o, "%s{%s=\"%s\"} %llu\n", name, label, values[i - first],
			(unsigned long long)sum[i]);
}

static void render_upstreams(struct server *s, FILE *o)
{
	static const char *const fams[][2] = {
		{ "blokir_forwarded_by_upstream_total", "tries sent to the upstream (UDP and TCP)" },
		{ "blokir_timeouts_by_upstream_total", "tries the upstream did not answer in time" },
		{ "blokir_answers_by_upstream_total", "answers from the upstream relayed" },
	};
	size_t n = s->cfg->upstream_count;

	for (int f = 0; f < 3; f++) {
		family(o, fams[f][0], "counter", fams[f][1]);
		for (size_t u = 0; u < n; u++) {
			uint64_t v = 0;
			for (unsigned w = 0; w < s->nworkers; w++) {
				const struct stats_upstream *st = &worker_upstream_stats(s->workers[w])[u];
				const _Atomic uint64_t *c = f == 0 ? &st->sent : f == 1 ? &st->timeouts : &st->answers;
				v += atomic_load_explicit(c, memory_order_relaxed);
			}
			fprintf(o, "%s{upstream=\"%s\"} %llu\n", fams[f][0], s->cfg->upstreams[u].text,
				(unsigned long long)v);
		}
	}
	family(o, "blokir_upstream_latency_seconds", "histogram",
		"time from sending a try to its answer");
	for (size_t u = 0; u < n; u++) {
		uint64_t b[STATS_LATENCY_BUCKETS] = { 0 }, sum_us = 0, cum = 0;
		const char *t = s->cfg->upstreams[u].text;
		for (unsigned w = 0; w < s->nworkers; w++) {
			const struct stats_upstream *st = &worker_upstream_stats(s->workers[w])[u];
			for (int i = 0; i < STATS_LATENCY_BUCKETS; i++)
				b[i] += atomic_load_explicit(&st->bucket[i], memory_order_relaxed);
			sum_us += atomic_load_explicit(&st->latency_us_sum, memory_order_relaxed);
		}
		for (int i = 0; i < STATS_LATENCY_BUCKETS; i++) {
			cum += b[i];
			if (i < STATS_LATENCY_BUCKETS - 1)
				fprintf(o, "blokir_upstream_latency_seconds_bucket{upstream=\"%s\",le=\"%g\"} "
					"%llu\n", t, (double)stats_latency_bounds_us[i] / 1e6,
					(unsigned long long)cum);
			else
				fprintf(o, "blokir_upstream_latency_seconds_bucket{upstream=\"%s\",le=\"+Inf\"} "
					"%llu\n", t, (unsigned long long)cum);
		}
		fprintf(o, "blokir_upstream_latency_seconds_sum{upstream=\"%s\"} %.6f\n", t,
			(double)sum_us / 1e6);
		fprintf(o, "blokir_upstream_latency_seconds_count{upstream=\"%s\"} %llu\n", t,
			(unsigned long long)cum);
	}
}

/* metrics_render_cb: the whole page, on the metrics thread. */
static void render_metrics(void *arg, FILE *o)
{
	static const char *const transports[] = { "udp", "tcp" };
	static const char *const qtypes[] = { "A", "AAAA", "HTTPS", "other" };
	static const char *const rcodes[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
		"REFUSED", "other" };
	struct server *s = arg;
	uint64_t sum[STAT_COUNT] = { 0 };
	bool is_list;

	for (unsigned w = 0; w < s->nworkers; w++)
		stats_add_to(worker_stats(s->workers[w]), sum);
	for (int i = 0; i < STAT_COUNT; i++) {
		/* the breakdowns are labelled families of their own, below */
		if (i >= STAT_QUERIES_UDP && i <= STAT_RCODE_OTHER)
			continue;
		fprintf(o, "# TYPE ");
		counter_name(o, stats_name((enum stat_id)i));
		fprintf(o, " counter\n");
		counter_name(o, stats_name((enum stat_id)i));
		fprintf(o, " %llu\n", (unsigned long long)sum[i]);
	}
	render_breakdown(o, sum, "blokir_queries_by_transport_total", "transport",
		"client queries by transport", STAT_QUERIES_UDP, STAT_QUERIES_TCP, transports);
	render_breakdown(o, sum, "blokir_queries_by_qtype_total", "qtype",
		"parsed client queries by question type", STAT_QTYPE_A, STAT_QTYPE_OTHER, qtypes);
	render_breakdown(o, sum, "blokir_answers_by_rcode_total", "rcode",
		"answers sent to clients by rcode", STAT_RCODE_NOERROR, STAT_RCODE_OTHER, rcodes);
	render_upstreams(s, o);

	pthread_mutex_lock(&s->state_lock);
	const struct policy *p = atomic_load(&s->policy);
	for (int want_list = 0; want_list < 2; want_list++) {
		const char *fam = want_list ? "blokir_blocked_by_list_total" :
			"blokir_blocked_by_entry_total";
		family(o, fam, "counter", want_list ? "queries blocked by a name from this list" :
			"queries blocked by this YAML entry (directly or through a CNAME chain)");
		for (size_t i = 0; i < policy_hit_slots(p); i++) {
			const char *label = policy_hit_label(p, i, &is_list);
			if (is_list != (want_list == 1))
				continue;
			fprintf(o, "%s{%s=\"", fam, want_list ? "list" : "entry");
			label_value(o, label);
			fprintf(o, "\"} %llu\n", (unsigned long long)hit_total(s, i));
		}
	}
	family(o, "blokir_reloads_total", "counter", "policy reloads by result");
	fprintf(o, "blokir_reloads_total{result=\"ok\"} %llu\nblokir_reloads_total{result=\"failed\"} "
		"%llu\n", (unsigned long long)s->reloads_ok, (unsigned long long)s->reloads_failed);
	family(o, "blokir_last_reload_timestamp_seconds", "gauge",
		"when the last reload finished (unix time; 0: none since start)");
	fprintf(o, "blokir_last_reload_timestamp_seconds %lld\n", (long long)s->last_reload_at);
	family(o, "blokir_start_time_seconds", "gauge", "when the daemon started (unix time)");
	fprintf(o, "blokir_start_time_seconds %lld\n", (long long)s->started);
	family(o, "blokir_policy_generation", "gauge", "policies published since start");
	fprintf(o, "blokir_policy_generation %llu\n",
		(unsigned long long)atomic_load(&s->policy_gen));
	family(o, "blokir_policy_entries", "gauge", "enabled YAML entries in force");
	fprintf(o, "blokir_policy_entries %zu\n", policy_rule_count(p));
	family(o, "blokir_policy_list_names", "gauge", "names from enabled lists in force");
	fprintf(o, "blokir_policy_list_names %zu\n", policy_list_names(p));
	family(o, "blokir_policy_info", "gauge", "the policy in force: its file's SHA-256");
	fprintf(o, "blokir_policy_info{sha256=\"%s\",generation=\"%llu\",version=\"%s\"} 1\n",
		s->sha256, (unsigned long long)atomic_load(&s->policy_gen), BLOKIR_VERSION);
	pthread_mutex_unlock(&s->state_lock);
}

/*
 * ctl reopen-logs (for logrotate): every file the daemon writes is reopened here (through
 * server_reopen_logs, as SIGUSR2), saying what it did on O. Returns the client's exit code.
 */
static int reopen_logs(struct server *s, FILE *o)
{
	const char *path = log_file_path();
	int rc = 0, err;

	if (path == NULL) {
		fprintf(o, "reopen-logs: no log-file: (logging goes to syslog or stderr)\n");
	} else if (log_file_reopen() < 0) {
		fprintf(o, "reopen-logs: %s: cannot reopen it (the log says why); still writing to "
			"the file opened before\n", path);
		rc = 3;
	} else {
		fprintf(o, "reopen-logs: %s reopened\n", path);
	}
	/* The audit writer reopens between two lines; waited for, so the answer says how it went
	 * (it takes one writer pass, about 10 ms). */
	if (s->audit != NULL) {
		if ((err = audit_reopen_wait(s->audit, 2000)) == 0) {
			fprintf(o, "reopen-logs: audit-log %s reopened\n", s->cfg->audit_log);
		} else {
			fprintf(o, "reopen-logs: audit-log %s: %s; still writing to the file opened "
				"before\n", s->cfg->audit_log, strerror(err));
			rc = 3;
		}
	}
	if (s->dnstap != NULL && s->cfg->dnstap.file != NULL) {
		dnstap_reopen(s->dnstap);
		fprintf(o, "reopen-logs: dnstap file %s: a new stream starts at the path with the "
			"next frame\n", s->cfg->dnstap.file);
	}
	return rc;
}

static void control_cb(void *arg, int argc, char **argv, struct control_reply *r)
{
	struct server *s = arg;
	FILE *o = control_reply_out(r);
	const char *cmd = argv[0];

	if (strcmp(cmd, "status") == 0 && argc == 1) {
		cmd_status(s, o);
	} else if (strcmp(cmd, "stats") == 0 && (argc == 1 ||
		   (argc == 2 && strcmp(argv[1], "--json") == 0))) {
		cmd_stats(s, o, argc == 2);
	} else if (strcmp(cmd, "reload") == 0 && argc == 1) {
		if (s->stopping) {
			fprintf(o, "reload: the daemon is stopping\n");
			control_reply_done(r, 3);
			return;
		}
		struct control_reply **w = s->loading ? s->waiting_next : s->waiting;
		size_t *n = s->loading ? &s->nwaiting_next : &s->nwaiting;
		if (*n == RELOAD_WAITERS_MAX) {
			fprintf(o, "reload: too many clients waiting for a reload\n");
			control_reply_done(r, 3);
			return;
		}
		w[(*n)++] = r; /* answered by reload_finish */
		reload_start(s);
		return;
	} else if (strcmp(cmd, "flush-cache") == 0 && argc == 1) {
		for (unsigned i = 0; i < s->nworkers; i++)
			worker_post(s->workers[i], WORKER_MAIL_FLUSH);
		fprintf(o, "flush-cache: %s, %u worker%s empty their caches before their next query\n",
			s->cfg->cache_size ? "done" : "no cache configured (cache-size: 0)",
			s->nworkers, s->nworkers == 1 ? "" : "s");
	} else if (strcmp(cmd, "reopen-logs") == 0 && argc == 1) {
		control_reply_done(r, reopen_logs(s, o));
		return;
	} else if (strcmp(cmd, "why") == 0 && argc >= 2) {
		const char *name = argv[1], *type = NULL, *client = NULL;
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--client") == 0 && i + 1 < argc)
				client = argv[++i];
			else if (type == NULL && argv[i][0] != '-')
				type = argv[i];
			else {
				fprintf(o, "why: unexpected argument \"%s\"\n", argv[i]);
				control_reply_done(r, 2);
				return;
			}
		}
		if (why_explain(s->cfg, atomic_load(&s->policy), s->cfg->path, name, type, client,
			policy_now(), o) < 0) {
			control_reply_done(r, 2);
			return;
		}
	} else {
		fprintf(o, "unknown command or wrong arguments: \"%s\"; commands: status, reload, "
			"stats [--json], flush-cache, reopen-logs, why NAME [TYPE] [--client ADDR]\n",
			cmd);
		control_reply_done(r, 2);
		return;
	}
	control_reply_done(r, 0);
}

/* ---- life cycle ---- */

unsigned server_auto_workers(long ncpus)
{
	if (ncpus < 1)
		return 1; /* sysconf failed: one worker still serves */
	return ncpus > WORKERS_MAX ? WORKERS_MAX : (unsigned)ncpus;
}

/* serve-rpz at start: the zone, its first version (the policy of this instant). */
static int serve_setup(struct server *s)
{
	char errbuf[512];
	const char *err;

	if ((s->xfrout = xfrout_new(&s->cfg->serve, errbuf, sizeof(errbuf), &err)) == NULL) {
		log_err("serve-rpz: %s", err);
		return -1;
	}
	serve_publish(s, s->cfg, s->core != NULL ? s->core : atomic_load(&s->policy), policy_now());
	if (s->zone_rc < 0) {
		log_err("serve-rpz: cannot build the zone: %s", s->zone_err);
		return -1;
	}
	log_info("serve-rpz: serving zone %s at serial %u (%zu records) to %zu network%s%s",
		xfrout_apex_text(s->xfrout), s->zone_serial, s->zone_changes + 2,
		s->cfg->serve.allow_count, s->cfg->serve.allow_count == 1 ? "" : "s",
		s->cfg->serve.key_count > 0 ? ", TSIG required" : "");
	return 0;
}

struct server *server_new(struct config *cfg, struct policy *pol)
{
	struct server *s = calloc(1, sizeof(*s)); /* owned by main */
	size_t nfds;

	if (s == NULL)
		goto fail;
	s->cfg = cfg;
	pthread_mutex_init(&s->state_lock, NULL);
	atomic_store(&s->policy, pol);
	s->started = policy_now();
	if (digest_file_sha256(cfg->path, s->sha256) < 0)
		s->sha256[0] = '\0';
	if (policy_hits_init(pol, cfg->workers) < 0)
		goto fail;
	atomic_store(&s->settings, cfg);
	s->nworkers = cfg->workers;
	s->notify_fd = -1;
	nfds = (size_t)s->nworkers * cfg->listen_count;
	s->workers = calloc(s->nworkers, sizeof(*s->workers));
	s->udp_fds = malloc(nfds * sizeof(int));
	s->tcp_fds = malloc(nfds * sizeof(int));
	if (s->workers == NULL || s->udp_fds == NULL || s->tcp_fds == NULL)
		goto fail;
	for (size_t i = 0; i < nfds; i++)
		s->udp_fds[i] = s->tcp_fds[i] = -1;
	pthread_mutex_init(&s->zlock, NULL);
	if (cfg->zone_count > 0) {
		struct policy *view;
		s->snaps = calloc(cfg->zone_count, sizeof(*s->snaps));
		s->pending = calloc(cfg->zone_count, sizeof(*s->pending));
		s->pending_set = calloc(cfg->zone_count, sizeof(*s->pending_set));
		if (s->snaps == NULL || s->pending == NULL || s->pending_set == NULL)
			goto fail;
		if ((s->xfr = xfr_new(cfg, zone_published, s)) == NULL)
			goto fail_logged;
		/* from here the published policy is a view, and core holds the compiled one */
		if ((view = policy_with_zones(pol, NULL, 0)) == NULL)
			goto fail;
		s->core = pol;
		atomic_store(&s->policy, view);
	}
	if (cfg->serve.enabled && serve_setup(s) < 0) {
		server_free(s);
		return NULL;
	}
	return s;
fail:
	log_err("out of memory");
fail_logged:
	if (s == NULL) {
		config_free(cfg);
		policy_free(pol);
	}
	server_free(s);
	return NULL;
}

static int server_setup_main(struct server *s)
{
	static const int signals[5] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGUSR2 };

	signal(SIGPIPE, SIG_IGN); /* a TCP peer that went away is an error return, not a death */
	s->base = event_base_new();
	s->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->base == NULL || s->notify_fd < 0)
		return -1;
	s->notify_ev = event_new(s->base, s->notify_fd, EV_READ | EV_PERSIST, notify_cb, s);
	if (s->notify_ev == NULL || event_add(s->notify_ev, NULL) < 0)
		return -1;
	for (int i = 0; i < 5; i++) {
		s->sig[i] = evsignal_new(s->base, signals[i], signal_cb, s);
		if (s->sig[i] == NULL || event_add(s->sig[i], NULL) < 0)
			return -1;
	}
	if ((s->sched_ev = evtimer_new(s->base, sched_cb, s)) == NULL)
		return -1;
	if (s->control != NULL && control_start(s->control, s->base) < 0)
		return -1;
	sched_arm(s, policy_now());
	if (s->xfrout != NULL && (s->xfrnotify = xfrnotify_new(s->base, s->xfrout)) == NULL)
		return -1;
	return 0;
}

int server_run(struct server *s)
{
	size_t n = s->cfg->listen_count;
	unsigned started = 0;

	if (outputs_open(s) < 0 || privdrop_apply(s->cfg) < 0)
		return 3;
	if (server_setup_main(s) < 0) {
		log_err("cannot set up the main event loop");
		return 3;
	}
	if (s->xfr != NULL) {
		struct policy *view;
		if (xfr_start(s->xfr) < 0)
			return 3;
		/* the copies read from the state directory are in force from the first query */
		if (zones_take(s)) {
			if ((view = zones_view(s, s->core)) == NULL) {
				log_err("out of memory");
				return 3;
			}
			policy_free(atomic_exchange(&s->policy, view));
		}
	}
	const struct worker_shared sh = { .cfg = s->cfg, .policy = &s->policy,
		.settings = &s->settings, .settings_gen = &s->settings_gen,
		.policy_gen = &s->policy_gen, .tcp_conns = &s->tcp_conns, .audit = s->audit,
		.dnstap = s->dnstap, .ack_cb = server_notify, .ack_arg = s,
		.notify = s->xfr != NULL ? server_notify_in : NULL, .notify_arg = s,
		.xfrout = s->xfrout };
	for (unsigned i = 0; i < s->nworkers; i++) {
		s->workers[i] = worker_new(i, &sh, s->udp_fds + i * n, s->tcp_fds + i * n, n);
		for (size_t j = 0; j < n; j++) /* the worker owns them now, even on failure */
			s->udp_fds[i * n + j] = s->tcp_fds[i * n + j] = -1;
		if (s->workers[i] == NULL || worker_start(s->workers[i]) < 0)
			goto fail;
		started++;
	}
	if (s->metrics != NULL && metrics_start(s->metrics) < 0)
		goto fail;
	log_info("ready: %u worker%s, %zu listen address%s, %zu upstream%s, %zu policy entries, "
		"%zu list names, %zu zone names", s->nworkers, s->nworkers == 1 ? "" : "s", n,
		n == 1 ? "" : "es", s->cfg->upstream_count, s->cfg->upstream_count == 1 ? "" : "s",
		policy_rule_count(atomic_load(&s->policy)), policy_list_names(atomic_load(&s->policy)),
		policy_zone_names(atomic_load(&s->policy)));
	char status[512];
	status_line(s, status, sizeof(status));
	notify_ready(status);
	if (s->ready_cb)
		s->ready_cb(s->ready_arg);
	if (s->xfrnotify != NULL) /* a secondary that missed the last run's changes hears now */
		xfrnotify_send(s->xfrnotify);
	if (early_hup) { /* libevent's handlers have taken over: the flags change no more */
		early_hup = 0;
		log_info("reload: a SIGHUP came during start-up");
		reload_start(s);
	}
	if (early_usr1) {
		early_usr1 = 0;
		log_stats(s);
	}
	event_base_dispatch(s->base);
	for (unsigned i = 0; i < started; i++)
		worker_join(s->workers[i]);
	log_stats(s);
	log_info("stopped");
	return 0;
fail:
	s->stopping = true;
	for (unsigned i = 0; i < started; i++)
		worker_post(s->workers[i], WORKER_MAIL_STOP);
	for (unsigned i = 0; i < started; i++)
		worker_join(s->workers[i]);
	return 3;
}

void server_free(struct server *s)
{
	if (s == NULL)
		return;
	metrics_free(s->metrics); /* first: it reads the policies freed below */
	if (s->loading)
		pthread_join(s->loader, NULL);
	xfr_free(s->xfr); /* no more zone_published calls after this */
	for (size_t i = 0; s->snaps && i < s->cfg->zone_count; i++)
		zonesnap_unref(s->snaps[i]);
	for (size_t i = 0; s->pending && i < s->cfg->zone_count; i++)
		zonesnap_unref(s->pending[i]);
	free(s->snaps);
	free(s->pending);
	free(s->pending_set);
	policy_free(s->core);
	pthread_mutex_destroy(&s->zlock);
	if (s->exporting)
		pthread_join(s->exporter, NULL);
	xfrnotify_free(s->xfrnotify);
	xfrout_free(s->xfrout);
	if (s->zone_cfg_owned)
		config_free(s->zone_cfg);
	config_free(s->loaded_cfg);
	waiters_answer(s->waiting, &s->nwaiting, 3, "reload: the daemon stopped\n");
	waiters_answer(s->waiting_next, &s->nwaiting_next, 3, "reload: the daemon stopped\n");
	control_free(s->control);
	for (size_t i = 0; i < s->ncarried; i++)
		free(s->carried[i].key);
	free(s->carried);
	policy_free(s->loaded);
	diag_free(s->load_diag);
	for (unsigned i = 0; s->workers && i < s->nworkers; i++)
		worker_free(s->workers[i]);
	/* After the workers: what they logged before stopping is written out now. */
	audit_free(s->audit);
	dnstap_free(s->dnstap);
	/* after the workers: a draining upstream set reads its settings until freed */
	for (size_t i = 0; i < s->nretired_cfg; i++)
		config_free(s->retired_cfg[i].cfg);
	if (atomic_load(&s->settings) != s->cfg)
		config_free(atomic_load(&s->settings));
	size_t nfds = (size_t)s->nworkers * s->cfg->listen_count;
	for (size_t i = 0; s->udp_fds && s->tcp_fds && i < nfds; i++) {
		if (s->udp_fds[i] >= 0)
			close(s->udp_fds[i]);
		if (s->tcp_fds[i] >= 0)
			close(s->tcp_fds[i]);
	}
	for (size_t i = 0; i < s->nretired; i++)
		policy_free(s->retired[i].policy);
	policy_free(atomic_load(&s->policy));
	for (int i = 0; i < 5; i++)
		if (s->sig[i])
			event_free(s->sig[i]);
	if (s->notify_ev)
		event_free(s->notify_ev);
	if (s->sched_ev)
		event_free(s->sched_ev);
	if (s->notify_fd >= 0)
		close(s->notify_fd);
	if (s->base)
		event_base_free(s->base);
	free(s->workers);
	free(s->udp_fds);
	free(s->tcp_fds);
	config_free(s->cfg);
	free(s);
}
