/*
 * serverpriv: the state of the server, shared by its parts and by nothing else. The server is
 * one module split over files (src/server.c: sockets, signals, life cycle; serverreload.c:
 * loads, zones, schedules, settings; servercarry.c: blocked counts across reloads;
 * serverctl.c: control commands; servermetrics.c: the metrics page). struct server is
 * genuinely private to them: only these files include this header (tests/layers.t), everyone
 * else sees the opaque type of server.h.
 */
#ifndef BLOKIR_SERVERPRIV_H
#define BLOKIR_SERVERPRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <event2/util.h>

#include "config.h"
#include "control.h"
#include "digest.h"
#include "metrics.h"
#include "policy.h"
#include "xfr.h"

struct zonesnap;
struct domtree;
/* server.h names struct server; it is not included here, so server.h and this header form no
 * include circle. */
struct server;

#define RETIRED_MAX 16
#define WORKERS_MAX 64 /* the most `workers:` accepts (configkeys.c's root key table) */
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
	const char *pinned[8];             /* keys the command line set: a reload keeps them */
	size_t npinned;
	struct diag *load_diag;
	double load_seconds;
	char load_summary[384];            /* written by the loader thread, logged by the main loop */

	/* The outputs in force, owned; NULL when off. Only the main loop stores them (a reload);
	 * workers load them when they take a settings generation (worker.h). */
	_Atomic(struct audit *) audit;     /* audit-log */
	_Atomic(struct dnstap *) dnstap;   /* dnstap */
	/* audit-log lines lost to failed writes, by every audit writer since start (each adds to
	 * it, audit_options.lost), so the count survives a reload's new writer and the metrics
	 * thread reads it without touching a writer a reload may be freeing */
	_Atomic uint64_t audit_write_failed;
	/* Outputs a reload replaced, freed (what they hold written out first) once every worker
	 * has acknowledged settings generation `gen`, as with retired_cfg. */
	struct retired_out {
		struct audit *audit;       /* owned, or NULL */
		struct dnstap *dnstap;     /* owned, or NULL */
		uint64_t gen;
	} retired_out[RETIRED_MAX];
	size_t nretired_out;

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
	struct domtree *pending_slots;     /* owned: names the increments handed over changed */
	bool pending_full;                 /* a copy handed over may differ anywhere */

	/* serve-rpz follows the zones (main loop; an export thread reads them while it runs).
	 * The served version was built from the copies SERVED; since then transfers changed the
	 * slots SERVE_SLOTS (the copies s->snaps hold), or anything (SERVE_FULL). An export
	 * thread builds the next version from EXPORT_SNAPS: the whole zone, or with EXPORT_SLOTS
	 * only those slots (an increment). */
	struct zonesnap **served;          /* owned references, per start-up zone */
	struct domtree *serve_slots;       /* owned; NULL: none */
	bool serve_full;
	struct zonesnap **export_snaps;    /* owned references, per start-up zone; NULL when idle */
	struct domtree *export_slots;      /* owned: the running export's slots; NULL: all */
	bool export_again_full;
	const char *export_why;            /* static: what the running export is for, for the log */
	bool reload_took;                  /* the running reload took pending changes over */

	void (*ready_cb)(void *arg);       /* a server_ready_cb (server.h), called once when serving
	                                      (main: detach, pidfile) */
	void *ready_arg;
	char last_reload[160];             /* for STATUS=: when and how the last reload ended */
	/* serve-rpz: the zone served, rebuilt by the loader and, at schedule changes, by the
	   exporter thread; never both at once (each waits for the other to finish). */
	struct xfrout *xfrout;             /* owned; NULL when not serving */
	struct xfrnotify *xfrnotify;       /* owned: NOTIFY to serve-rpz secondaries */
	struct steer *steer;               /* owned: udp-consolidate; NULL with one worker */
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

	struct metrics *metrics;           /* owned; NULL without metrics-listen. Only the main
	                                      loop replaces it (a reload) */
	/* The metrics thread reads what only the main loop writes (the policy pointer and the
	 * retired list, carried counts, reload results): the main loop holds this while it changes
	 * them, the metrics thread while it renders. Workers never take it. */
	pthread_mutex_t state_lock;
};

/* server.c */
void status_line(struct server *s, char *buf, size_t cap);
void reload_note(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void server_notify(void *arg);             /* wakes the main loop (notify_fd) */
int log_file_reopen(void);                 /* log-file: 0, or -1 (logged; the old file stays) */
/* The outputs as CFG sets them up (the start-up config, or a reload's), owned by the caller;
 * NULL with the error logged and errno set. */
struct audit *audit_open(struct server *s, const struct config *cfg);
struct dnstap *dnstap_open(struct server *s, const struct config_dnstap *t);
bool dnstap_configured(const struct config_dnstap *t); /* a socket or a file: on */
unsigned dnstap_types(const struct config_dnstap *t);  /* the switches as DNSTAP_TYPE_BIT()s */

/* serverreload.c */
void zone_published(void *ctx, size_t zone, struct zonesnap *snap, xfr_changes_fn *changes,
	const void *src); /* xfr's publish callback */
struct policy *zones_view(struct server *s, struct policy *core);
bool zones_take(struct server *s);
void serve_follow(struct server *s);
void serve_publish(struct server *s, const struct config *cfg, const struct policy *pol,
	int64_t now);
void export_finish(struct server *s);
void reload_start(struct server *s);
void reload_finish(struct server *s);
void publish_policy(struct server *s, struct policy *fresh);
void waiters_answer(struct control_reply **w, size_t *n, int code, const char *text);
void sched_arm(struct server *s, int64_t now);
void sched_cb(evutil_socket_t fd, short what, void *arg);

/* servercarry.c */
uint64_t hit_total(const struct server *s, size_t slot);
void retire_policies(struct server *s);

/* serverctl.c */
control_command_cb control_cb;

/* servermetrics.c */
metrics_render_cb render_metrics;

#endif
