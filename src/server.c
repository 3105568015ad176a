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
 *
 * This file keeps the sockets, signals, the main loop's wake-up and the life cycle; the state
 * they share with the rest is struct server in include/serverpriv.h, and the other parts are
 * serverreload.c (zones, loads, schedules, settings), servercarry.c (blocked counts across
 * reloads, retiring policies), serverctl.c (control commands) and servermetrics.c (the
 * Prometheus page).
 */
#include "server.h"
#include "serverpriv.h"

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
#include "control.h"
#include "diag.h"
#include "domtree.h"
#include "digest.h"
#include "dnstap.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "xfrnotify.h"
#include "privdrop.h"
#include "stats.h"
#include "steer.h"
#include "worker.h"
#include "xfr.h"
#include "zonedb.h"
#include "xfrout.h"

/* The service manager's one-line view: the policy in force and the last reload's outcome. */
void status_line(struct server *s, char *buf, size_t cap)
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

void reload_note(struct server *s, const char *fmt, ...)
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

void server_notify(void *arg)
{
	struct server *s = arg;
	uint64_t one = 1;

	if (write(s->notify_fd, &one, sizeof(one)) < 0)
		log_warn("server: notify: %s", strerror(errno));
}

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

/* ---- waking the main loop ---- */

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
		serve_follow(s);
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
	log_info("stats: %s audit-write-failed=%llu", stats_format(sum, line, sizeof(line)),
		(unsigned long long)atomic_load(&s->audit_write_failed));
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
	struct audit *a = NULL;
	struct dnstap *d = NULL;

	if (s->cfg->audit_log != NULL && (a = audit_open(s, s->cfg)) == NULL)
		return -1;
	if (dnstap_configured(&s->cfg->dnstap) && (d = dnstap_open(s, &s->cfg->dnstap)) == NULL) {
		audit_free(a);
		return -1;
	}
	atomic_store(&s->audit, a);
	atomic_store(&s->dnstap, d);
	return 0;
}

struct audit *audit_open(struct server *s, const struct config *cfg)
{
	struct audit_options ao = { .path = cfg->audit_log, .config_path = s->cfg->path,
		.producers = s->nworkers, .ring_bytes = (size_t)cfg->audit_buffer_kb * 1024,
		.ipv4_prefix = cfg->audit_ipv4_prefix, .ipv6_prefix = cfg->audit_ipv6_prefix,
		.lost = &s->audit_write_failed };

	return audit_new(&ao);
}

bool dnstap_configured(const struct config_dnstap *t)
{
	return t->socket != NULL || t->file != NULL;
}

unsigned dnstap_types(const struct config_dnstap *t)
{
	return (t->client_query ? DNSTAP_TYPE_BIT(DNSTAP_CLIENT_QUERY) : 0) |
		(t->client_response ? DNSTAP_TYPE_BIT(DNSTAP_CLIENT_RESPONSE) : 0) |
		(t->forwarder_query ? DNSTAP_TYPE_BIT(DNSTAP_FORWARDER_QUERY) : 0) |
		(t->forwarder_response ? DNSTAP_TYPE_BIT(DNSTAP_FORWARDER_RESPONSE) : 0);
}

struct dnstap *dnstap_open(struct server *s, const struct config_dnstap *t)
{
	struct dnstap_options dop = { .socket_path = t->socket, .file_path = t->file,
		.identity = t->identity, .version = "blokir", .queues = s->nworkers,
		.types = dnstap_types(t) };

	return dnstap_new(&dop);
}

/* SIGUSR2 (and reopen-logs): the audit log and a dnstap file start again at their paths. */
static void outputs_reopen(struct server *s)
{
	struct audit *a = atomic_load(&s->audit);

	if (a != NULL)
		audit_reopen(a);
	dnstap_reopen(atomic_load(&s->dnstap));
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
int log_file_reopen(void)
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
		s->served = calloc(cfg->zone_count, sizeof(*s->served));
		if (s->snaps == NULL || s->pending == NULL || s->pending_set == NULL ||
			s->served == NULL)
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
	/* A file size limit (RLIMIT_FSIZE: systemd's LimitFSIZE=, ulimit -f) reached by the audit
	 * log, a log file or a dnstap file: the write fails with EFBIG, which each counts and
	 * logs, rather than the signal's default ending the daemon. */
	signal(SIGXFSZ, SIG_IGN);
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

/*
 * steer_sample_cb: a worker's CPU time and max-inflight refusals, and whether the settings in
 * force let UDP be consolidated (steer.c says why not under these two).
 */
static unsigned steer_sample(void *arg, unsigned index, struct steer_sample *out, const char **why)
{
	struct server *s = arg;
	const struct config *cfg = atomic_load(&s->settings);

	out->cpu_ns = worker_cpu_ns(s->workers[index]);
	out->inflight_full = atomic_load_explicit(
		&worker_stats(s->workers[index])->c[STAT_INFLIGHT_FULL], memory_order_relaxed);
	*why = NULL;
	if (cfg->busy_poll_us > 0) {
		*why = "busy-poll-us is set (a polling worker's CPU time does not measure its load)";
		return 0;
	}
	if (cfg->rate_limit_qps > 0) {
		*why = "rate-limit-qps is set (each worker keeps its share of the limits)";
		return 0;
	}
	return cfg->udp_consolidate;
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
			serve_follow(s); /* the served zone takes the copies in: off the loop */
		}
	}
	const struct worker_shared sh = { .cfg = s->cfg, .policy = &s->policy,
		.settings = &s->settings, .settings_gen = &s->settings_gen,
		.policy_gen = &s->policy_gen, .tcp_conns = &s->tcp_conns, .audit = &s->audit,
		.dnstap = &s->dnstap, .ack_cb = server_notify, .ack_arg = s,
		.notify = s->xfr != NULL ? server_notify_in : NULL, .notify_arg = s,
		.xfrout = s->xfrout };
	/* before the workers take the sockets: worker 0's come first in s->udp_fds */
	s->steer = steer_new(s->base, s->udp_fds, n, s->nworkers, steer_sample, s);
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
	steer_free(s->steer); /* before the workers close the sockets it steers */
	if (s->loading)
		pthread_join(s->loader, NULL);
	xfr_free(s->xfr); /* no more zone_published calls after this */
	for (size_t i = 0; s->snaps && i < s->cfg->zone_count; i++)
		zonesnap_unref(s->snaps[i]);
	for (size_t i = 0; s->pending && i < s->cfg->zone_count; i++)
		zonesnap_unref(s->pending[i]);
	if (s->exporting)
		pthread_join(s->exporter, NULL); /* before the copies it reads go */
	for (size_t i = 0; s->cfg && i < s->cfg->zone_count; i++) {
		zonesnap_unref(s->served ? s->served[i] : NULL);
		zonesnap_unref(s->export_snaps ? s->export_snaps[i] : NULL);
	}
	free(s->served);
	free(s->export_snaps);
	domtree_free(s->pending_slots);
	domtree_free(s->serve_slots);
	domtree_free(s->export_slots);
	free(s->snaps);
	free(s->pending);
	free(s->pending_set);
	policy_free(s->core);
	pthread_mutex_destroy(&s->zlock);
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
	for (size_t i = 0; i < s->nretired_out; i++) {
		audit_free(s->retired_out[i].audit);
		dnstap_free(s->retired_out[i].dnstap);
	}
	audit_free(atomic_load(&s->audit));
	dnstap_free(atomic_load(&s->dnstap));
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
