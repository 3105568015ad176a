/*
 * worker: thread life cycle, the server <-> worker mailbox, and the wiring of the query path
 * (see include/worker.h).
 *
 * The server never touches a worker's event base. It sets bits in `mail` and writes the worker's
 * eventfd; the worker handles the bits on its own thread. That keeps libevent single-threaded per
 * base (no evthread locking on the hot path) and gives the policy swap its safety point: when a
 * worker runs its mailbox callback it holds no policy pointer, so acknowledging the new
 * generation there proves it has let go of the old policy.
 *
 * The wiring: listen hands each client message to proxy (on_query); proxy forwards through
 * upstream (on_forward) and replies through listen (on_reply, on_reply_queued); upstream hands
 * answers and failures back to proxy (on_answer, on_fail) and holds TCP clients through listen's
 * hold/release; proxy's zone transfers (serve-rpz) go to listen's streams (on_stream). The
 * callbacks take the worker and find the module in it, since the three are
 * made one after the other and each needs the others' addresses.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cache.h"
#include "caplog.h"
#include "clock.h"
#include "guard.h"
#include "listen.h"
#include "log.h"
#include "observe.h"
#include "proxy.h"
#include "rand.h"
#include "reconf.h"
#include "sendq.h"
#include "upstream.h"
#include "uring.h"
#include "xfrout.h"

struct worker {
	unsigned index;
	pthread_t thread;
	clockid_t cpu_clock;               /* the thread's CPU time (steer), once started */
	bool cpu_clock_ok;
	struct event_base *base;           /* owned */
	struct worker_shared sh;           /* borrowed pointers, see worker.h */
	struct stats stats;
	struct observe observe;            /* audit lines and dnstap messages */
	struct stats_upstream up_stats[CONFIG_UPSTREAMS_MAX]; /* by index in cfg->upstreams */
	bool time_upstreams;               /* metrics on: time each try for the histogram */

	/* Server <-> worker messages: the server sets bits in `mail` and writes the eventfd. */
	int mail_fd;
	struct event *mail_ev;
	_Atomic unsigned mail;
	_Atomic uint64_t seen_gen;         /* last policy generation this worker acknowledged */
	const struct config *cfg;          /* borrowed: the settings in force here */
	_Atomic uint64_t settings_seen;    /* last settings generation nothing here reads before */
	uint64_t settings_taken;           /* the generation of cfg */
	struct upstream *draining[4];      /* owned: upstream sets a reload replaced, still
	                                      answering what they had in flight */
	size_t ndraining;
	struct event *drained_ev;          /* owned: polls the draining sets */

	struct listen *listen;             /* owned */
	struct upstream *upstream;         /* owned */
	struct proxy *proxy;               /* owned */
	struct guard *guard;               /* owned: allow-from and rate limits */
	struct sendq *sendq;               /* owned: batched UDP sends (upstream queries, answers) */
	struct uring *uring;               /* owned: client UDP through io_uring; NULL: sockets */
	int base_fd;                       /* the base's epoll descriptor (libevent's), or -1 */
	_Atomic bool uring_on;             /* what worker_udp_io reports, read by the server */
	struct caplog caps;
	struct rand_pool rand;
	bool stopping;
	_Atomic bool exited;               /* the thread has left its loop */
	struct event *drain_ev;            /* owned: polls for the end of in-flight work on stop */
	unsigned drain_ticks_left;
};

/* ---- the query path's wiring ---- */

static size_t on_query(void *arg, const uint8_t *pkt, size_t len, const struct client_ref *c,
	uint8_t *out, size_t cap)
{
	return proxy_query(((struct worker *)arg)->proxy, pkt, len, c, out, cap);
}

static void on_forward(void *arg, const struct wire_query *q, const struct client_ref *c)
{
	upstream_forward(((struct worker *)arg)->upstream, q, c);
}

static void on_reply(void *arg, const struct client_ref *c, const uint8_t *ans, size_t len)
{
	listen_reply(((struct worker *)arg)->listen, c, ans, len);
}

static void on_reply_queued(void *arg, const struct client_ref *c, const uint8_t *ans, size_t len)
{
	listen_reply_queued(((struct worker *)arg)->listen, c, ans, len);
}

static void on_answer(void *arg, const struct client_ref *c, uint8_t *ans, size_t len,
	const struct wire_answer *a, size_t limit, const uint8_t *query, size_t qlen)
{
	proxy_answer(((struct worker *)arg)->proxy, c, ans, len, a, limit, query, qlen);
}

static void on_fail(void *arg, const struct client_ref *c, const struct wire_query *q,
	unsigned rcode)
{
	proxy_fail(((struct worker *)arg)->proxy, c, q, rcode);
}

/* serve-rpz: proxy's transfers go out through listen, pulled message by message. */
static size_t stream_next(void *arg, uint8_t *out, size_t cap)
{
	return xfrout_stream_next(arg, out, cap);
}

static void stream_done(void *arg)
{
	xfrout_stream_free(arg);
}

static void on_stream(void *arg, const struct client_ref *c, struct xfrout_stream *s)
{
	listen_stream(((struct worker *)arg)->listen, c, stream_next, stream_done, s);
}

/* udp-io io-uring: the ring's datagrams go through listen's own UDP checks and callback. */
static void on_datagrams(void *arg, struct uring_dgram *d, size_t n, size_t cap)
{
	listen_udp_datagrams(((struct worker *)arg)->listen, d, n, cap);
}

#define DRAIN_TICK_MS 20

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	(void)fd;
	(void)what;

	size_t inflight = upstream_inflight(w->upstream);

	for (size_t i = 0; i < w->ndraining; i++)
		inflight += upstream_inflight(w->draining[i]);
	if ((inflight == 0 && listen_drained(w->listen)) || w->drain_ticks_left-- == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	struct timeval tv = { 0, DRAIN_TICK_MS * 1000 };
	event_add(w->drain_ev, &tv);
}

/* Graceful stop: no new queries; answer what is in flight, bounded by every upstream's timeout. */
static void worker_begin_stop(struct worker *w)
{
	const struct config *cfg = w->cfg;
	unsigned bound_ms = cfg->upstream_timeout_ms * (unsigned)(cfg->upstream_count + 1) + 1000;

	if (w->stopping)
		return;
	w->stopping = true;
	listen_stop(w->listen);
	if (w->uring != NULL)
		uring_stop(w->uring);
	w->drain_ticks_left = bound_ms / DRAIN_TICK_MS;
	drain_cb(-1, 0, w);
}

#define DRAINED_TICK_MS 50

/* Frees each replaced upstream set that has answered everything; then the settings it read may go. */
static void drained_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	size_t keep = 0;
	(void)fd;
	(void)what;

	for (size_t i = 0; i < w->ndraining; i++) {
		if (upstream_inflight(w->draining[i]) == 0)
			upstream_free(w->draining[i]);
		else
			w->draining[keep++] = w->draining[i];
	}
	w->ndraining = keep;
	if (keep > 0) {
		struct timeval tv = { 0, DRAINED_TICK_MS * 1000 };
		event_add(w->drained_ev, &tv);
		return;
	}
	atomic_store(&w->settings_seen, w->settings_taken);
	w->sh.ack_cb(w->sh.ack_arg);
}

static struct upstream *make_upstream(struct worker *w, const struct config *cfg)
{
	return upstream_new(&(struct upstream_env){ .base = w->base, .cfg = cfg,
		.stats = &w->stats, .caps = &w->caps, .observe = &w->observe, .sendq = w->sendq,
		.rand = &w->rand, .index = w->index, .up_stats = w->up_stats,
		.time_upstreams = w->time_upstreams, .answer = on_answer, .fail = on_fail, .arg = w,
		.hold = listen_conn_hold, .release = listen_conn_release });
}

/*
 * A reload published new settings: each part whose keys changed is rebuilt here, on the worker's
 * own thread, between two events, so no query sees half of it. A new upstream set takes the next
 * query while the old one answers what it has in flight; a new guard starts with empty rate
 * buckets. When a part cannot be made (memory, sockets) the worker keeps all of its current
 * settings and does not let go of them, so nothing it reads is freed.
 */
static void take_settings(struct worker *w)
{
	uint64_t gen = atomic_load(w->sh.settings_gen);
	const struct config *cfg = atomic_load(w->sh.settings);
	unsigned parts = reconf_parts(w->cfg, cfg);
	struct guard *g = NULL;
	struct upstream *u = NULL;

	if (cfg == w->cfg) {
		/* Taken already, under the generation before: this mail came while the server
		 * published it. What we read then (settings, audit, dnstap) is of this generation,
		 * so say so, or the server keeps what it replaced until the next reload. */
		if (gen > w->settings_taken) {
			w->settings_taken = gen;
			if (w->ndraining == 0)
				drained_cb(-1, 0, w);
		}
		return;
	}
	if ((parts & RECONF_UPSTREAM) && w->ndraining == sizeof(w->draining) / sizeof(w->draining[0])) {
		log_err("worker %u: reload: %zu upstream sets still draining; keeping the running "
			"settings", w->index, w->ndraining);
		return;
	}
	if ((parts & RECONF_GUARD) && (g = guard_new(cfg, cfg->workers)) == NULL)
		goto fail;
	if ((parts & RECONF_UPSTREAM) && (u = make_upstream(w, cfg)) == NULL)
		goto fail;
	if (g != NULL) {
		listen_reconfigure(w->listen, cfg, g);
		guard_free(w->guard);
		w->guard = g;
	} else {
		listen_reconfigure(w->listen, cfg, w->guard);
	}
	if (u != NULL) {
		w->draining[w->ndraining++] = w->upstream;
		w->upstream = u;
	} else {
		upstream_set_config(w->upstream, cfg);
	}
	proxy_reconfigure(w->proxy, cfg);
	/* Always, not only when the audit or dnstap keys differ from ours: a reload may have
	 * replaced the server's outputs and the next one put the keys back as they were. */
	observe_init(&w->observe, cfg, atomic_load(w->sh.audit), atomic_load(w->sh.dnstap),
		&w->stats, w->index);
	w->time_upstreams = cfg->metrics_listen.addrlen != 0;
	upstream_set_timing(w->upstream, w->time_upstreams);
	w->cfg = cfg;
	w->settings_taken = gen;
	/* busy-poll-us switches between the two loops of worker_main */
	if (parts & RECONF_LOOP)
		event_base_loopbreak(w->base);
	drained_cb(-1, 0, w);
	return;
fail:
	log_err("worker %u: reload: cannot set up the new settings; keeping the running ones",
		w->index);
	guard_free(g);
}

static void mail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	uint64_t count;
	(void)what;

	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("worker %u: mailbox: %s", w->index, strerror(errno));
	unsigned bits = atomic_exchange(&w->mail, 0);
	/* settings first: a reload publishes them before the policy compiled with them */
	if ((bits & WORKER_MAIL_SETTINGS) && !w->stopping)
		take_settings(w);
	if (bits & WORKER_MAIL_POLICY) {
		proxy_policy_changed(w->proxy);
		observe_policy_changed(&w->observe);
		atomic_store(&w->seen_gen, atomic_load(w->sh.policy_gen));
		w->sh.ack_cb(w->sh.ack_arg);
	}
	if (bits & WORKER_MAIL_FLUSH)
		proxy_flush_cache(w->proxy);
	if (bits & WORKER_MAIL_STOP)
		worker_begin_stop(w);
}

void worker_post(struct worker *w, unsigned bits)
{
	uint64_t one = 1;

	atomic_fetch_or(&w->mail, bits);
	if (write(w->mail_fd, &one, sizeof(one)) < 0)
		log_warn("worker %u: cannot post to mailbox: %s", w->index, strerror(errno));
}

/*
 * Which descriptors up to the lowest free one are epoll instances, marked in IS (HI entries,
 * *HI set): PROBE is an eventfd in no epoll set, which an epoll instance reports as absent
 * (ENOENT) where any other descriptor is refused (EINVAL, EBADF, EPERM).
 */
static bool *epoll_fds(int probe, int *hi)
{
	int top = fcntl(probe, F_DUPFD_CLOEXEC, 0);
	bool *is;

	if (top < 0)
		return NULL;
	close(top);
	is = calloc((size_t)top + 1, sizeof(*is)); /* owned by the caller */
	if (is == NULL)
		return NULL;
	for (int fd = 0; fd <= top; fd++) {
		struct epoll_event ev = { 0 };
		is[fd] = fd != probe && epoll_ctl(fd, EPOLL_CTL_DEL, probe, &ev) < 0 && errno == ENOENT;
	}
	*hi = top + 1;
	return is;
}

/*
 * The worker's event base, and for udp-io io-uring the descriptor of its epoll instance, which
 * libevent does not hand out: the one epoll descriptor that making the base added (the base is
 * made here, before the worker's thread exists; another thread making an epoll instance at the
 * same moment makes two new ones, and then none is taken). *WHY says why none was found.
 */
static struct event_base *base_new(int probe, bool want_fd, int *fd, const char **why)
{
	bool *before = NULL, *after = NULL;
	int nb = 0, na = 0, found = -1, count = 0;
	struct event_base *base;

	*fd = -1;
	if (want_fd && (before = epoll_fds(probe, &nb)) == NULL)
		*why = "out of memory or descriptors";
	base = event_base_new();
	if (base == NULL || before == NULL)
		goto out;
	if (strcmp(event_base_get_method(base), "epoll") != 0) {
		*why = "libevent does not use epoll";
		goto out;
	}
	if ((after = epoll_fds(probe, &na)) == NULL) {
		*why = "out of memory or descriptors";
		goto out;
	}
	for (int i = 0; i < na; i++) {
		if (after[i] && (i >= nb || !before[i])) {
			found = i;
			count++;
		}
	}
	if (count == 1)
		*fd = found;
	else
		*why = "cannot tell libevent's epoll descriptor";
out:
	free(before);
	free(after);
	return base;
}

/* how often a worker on io_uring gives libevent a pass for its timers (loop_uring) */
#define URING_TICK_MS 10

/* udp-io: the worker's ring, or NULL with the reason logged (auto) or the start failed. */
static int worker_uring(struct worker *w, const struct config *cfg, const char *base_why)
{
	char why[160];
	int fds[64];
	size_t n = listen_udp_fds(w->listen, fds, sizeof(fds) / sizeof(fds[0]));

	if (w->base_fd < 0) {
		snprintf(why, sizeof(why), "%s", base_why ? base_why : "no epoll descriptor");
	} else if (n > sizeof(fds) / sizeof(fds[0])) {
		snprintf(why, sizeof(why), "more than %zu listen addresses", sizeof(fds) / sizeof(fds[0]));
	} else {
		w->uring = uring_new(&(struct uring_env){ .fds = fds, .n = n, .watch_fd = w->base_fd,
			.tick_ms = URING_TICK_MS, .batch = on_datagrams, .arg = w }, why, sizeof(why));
		if (w->uring != NULL) {
			listen_udp_external(w->listen, true);
			atomic_store(&w->uring_on, true);
			return 0;
		}
	}
	if (cfg->udp_io == UDP_IO_URING) {
		log_err("worker %u: udp-io io-uring: %s", w->index, why);
		return -1;
	}
	if (w->index == 0) /* the same reason for every worker: said once */
		log_info("udp-io auto: client UDP through sockets, not io_uring (%s)", why);
	return 0;
}

struct worker *worker_new(unsigned index, const struct worker_shared *sh, const int *udp_fds,
	const int *tcp_fds, size_t n)
{
	const struct config *cfg = sh->cfg;
	/* owned by the server; aligned for struct stats, which keeps its cache lines to itself */
	struct worker *w = aligned_alloc(_Alignof(struct worker), sizeof(*w));

	if (w == NULL)
		goto fail_fds;
	memset(w, 0, sizeof(*w));
	w->index = index;
	w->sh = *sh;
	w->cfg = cfg;
	w->settings_taken = atomic_load(sh->settings_gen);
	atomic_store(&w->settings_seen, w->settings_taken);
	w->mail_fd = -1;
	atomic_store(&w->seen_gen, atomic_load(sh->policy_gen));
	caplog_init(&w->caps, &w->stats, index);
	w->time_upstreams = cfg->metrics_listen.addrlen != 0;
	rand_init(&w->rand);
	observe_init(&w->observe, cfg, atomic_load(sh->audit), atomic_load(sh->dnstap), &w->stats,
		index);
	w->mail_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->base_fd = -1;
	const char *base_why = NULL;
	if (w->mail_fd >= 0)
		w->base = base_new(w->mail_fd, cfg->udp_io != UDP_IO_SOCKETS, &w->base_fd, &base_why);
	if (w->mail_fd < 0 || w->base == NULL)
		goto fail_fds;
	w->sendq = sendq_new(w->base);
	w->guard = guard_new(cfg, cfg->workers);
	w->proxy = proxy_new(&(struct proxy_env){ .cfg = cfg, .policy = sh->policy,
		.stats = &w->stats, .observe = &w->observe, .worker = index, .forward = on_forward,
		.forward_arg = w,
		.reply = on_reply, .reply_queued = on_reply_queued, .reply_arg = w,
		.notify = sh->notify, .notify_arg = sh->notify_arg, .xfrout = sh->xfrout,
		.caps = &w->caps, .stream = on_stream, .stream_arg = w });
	if (w->sendq == NULL || w->guard == NULL || w->proxy == NULL)
		goto fail_fds;
	w->mail_ev = event_new(w->base, w->mail_fd, EV_READ | EV_PERSIST, mail_cb, w);
	w->drain_ev = evtimer_new(w->base, drain_cb, w);
	w->drained_ev = evtimer_new(w->base, drained_cb, w);
	if (w->mail_ev == NULL || w->drain_ev == NULL || w->drained_ev == NULL ||
	    event_add(w->mail_ev, NULL) < 0)
		goto fail_fds;
	w->listen = listen_new(&(struct listen_env){ .base = w->base, .cfg = cfg,
		.stats = &w->stats, .caps = &w->caps, .observe = &w->observe, .guard = w->guard,
		.sendq = w->sendq,
		.tcp_conns = sh->tcp_conns, .index = index, .query = on_query, .query_arg = w },
		udp_fds, tcp_fds, n); /* takes the sockets, even on failure */
	if (w->listen == NULL)
		goto fail;
	w->upstream = make_upstream(w, cfg);
	if (w->upstream == NULL)
		goto fail;
	if (cfg->udp_io != UDP_IO_SOCKETS && worker_uring(w, cfg, base_why) < 0)
		goto fail;
	return w;
fail_fds:
	for (size_t i = 0; i < n; i++) {
		close(udp_fds[i]);
		close(tcp_fds[i]);
	}
fail:
	log_err("worker %u: set-up failed", index);
	worker_free(w);
	return NULL;
}

/*
 * The event loop with busy-poll-us. While queries wait for upstream answers, the worker polls its
 * sockets without sleeping (a non-blocking loop pass, one epoll_wait with a zero timeout each) for
 * up to busy-poll-us, and only then blocks. An answer that arrives meanwhile is relayed without
 * the thread being put to sleep and woken again, which on a lightly loaded machine is most of the
 * latency a forwarder adds (bench/README.md); the price is a busy CPU while answers are awaited.
 * Under load there is always work, so nothing changes there.
 */
static void loop_busy_poll(struct worker *w)
{
	uint64_t limit = (uint64_t)w->cfg->busy_poll_us * 1000;

	for (;;) {
		if (upstream_inflight(w->upstream) > 0) {
			uint64_t start = clock_now_ns();
			do {
				if (event_base_loop(w->base, EVLOOP_NONBLOCK) < 0 ||
				    event_base_got_exit(w->base))
					return;
			} while (upstream_inflight(w->upstream) > 0 && clock_now_ns() - start < limit);
		}
		if (event_base_loop(w->base, EVLOOP_ONCE) != 0 || event_base_got_exit(w->base) ||
		    w->cfg->busy_poll_us == 0) /* a reload switched it off */
			return;
		limit = (uint64_t)w->cfg->busy_poll_us * 1000;
	}
}

/*
 * The loop with udp-io io-uring: the worker waits in the ring, which submits the answers of the
 * last batch and waits for datagrams, for libevent's epoll descriptor (TCP, upstream answers,
 * the mailbox) or for the ring's tick in one system call. libevent's pass is made without
 * blocking when its descriptor is readable, and at every tick (URING_TICK_MS) for its timers,
 * whose deadlines libevent does not tell: they fire up to that much late (upstream timeouts are
 * a second and more), and an idle worker wakes that often. With busy-poll-us the ring and
 * libevent are looked at without sleeping while upstream answers are awaited, as in
 * loop_busy_poll.
 */
/* Returns true when the worker is to stop, false when io_uring failed under it (the caller
 * then moves client UDP to the sockets). */
static bool loop_uring(struct worker *w)
{
	uint64_t spin_start = 0;
	bool spinning = false;

	for (;;) {
		bool spin = false;
		if (w->cfg->busy_poll_us > 0 && upstream_inflight(w->upstream) > 0) {
			uint64_t ns = clock_now_ns();
			if (!spinning) {
				spinning = true;
				spin_start = ns;
			}
			spin = ns - spin_start < (uint64_t)w->cfg->busy_poll_us * 1000;
		}
		if (uring_wait(w->uring, !spin) < 0) {
			/* Not a reason to leave this worker's share of client UDP unanswered: its
			   sockets stay in the reuseport group whatever happens to the ring. */
			log_err("worker %u: io_uring_enter: %s; client UDP through sockets from now on",
				w->index, strerror(errno));
			return false;
		}
		if (!spin)
			spinning = false; /* slept: the next wait for answers may spin again */
		unsigned what = uring_process(w->uring);
		if (what != 0 || spin) {
			if (event_base_loop(w->base, EVLOOP_NONBLOCK) < 0)
				return true; /* libevent itself failed: no loop can run */
			if (what & URING_WATCH)
				uring_watch(w->uring);
			if (event_base_got_exit(w->base))
				return true;
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	if (w->uring != NULL) {
		char why[160];
		if (uring_start(w->uring, why, sizeof(why)) == 0) {
			if (loop_uring(w))
				goto out;
		} else {
			log_warn("worker %u: udp-io: %s; client UDP through sockets", w->index, why);
		}
		listen_udp_external(w->listen, false);
		atomic_store(&w->uring_on, false);
		uring_free(w->uring);
		w->uring = NULL;
	}

	/* a reload that changes busy-poll-us breaks the loop it runs in: pick again */
	do {
		if (w->cfg->busy_poll_us > 0)
			loop_busy_poll(w);
		else
			event_base_dispatch(w->base);
	} while (!event_base_got_exit(w->base) && event_base_got_break(w->base));
out:
	atomic_store(&w->exited, true);
	w->sh.ack_cb(w->sh.ack_arg);
	return NULL;
}

int worker_start(struct worker *w)
{
	sigset_t block, old;
	int err;

	/* Signals belong to the main thread's event loop; the worker inherits a mask without them. */
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	err = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (err != 0) {
		log_err("worker %u: pthread_create: %s", w->index, strerror(err));
		return -1;
	}
	w->cpu_clock_ok = pthread_getcpuclockid(w->thread, &w->cpu_clock) == 0;
	return 0;
}

void worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

uint64_t worker_settings_seen(const struct worker *w)
{
	return atomic_load(&w->settings_seen);
}

uint64_t worker_seen_gen(const struct worker *w)
{
	return atomic_load(&w->seen_gen);
}

bool worker_exited(const struct worker *w)
{
	return atomic_load(&w->exited);
}

uint64_t worker_cpu_ns(const struct worker *w)
{
	struct timespec ts;

	/* fails once the thread has exited (EINVAL): no more CPU is used then */
	if (!w->cpu_clock_ok || atomic_load(&w->exited) || clock_gettime(w->cpu_clock, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const struct stats_upstream *worker_upstream_stats(const struct worker *w)
{
	return w->up_stats;
}

const char *worker_udp_io(const struct worker *w)
{
	return atomic_load(&w->uring_on) ? "io-uring" : "sockets";
}

const struct stats *worker_stats(const struct worker *w)
{
	return &w->stats;
}

void worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	/* The queue first, while the sockets it sends on are open; then upstream, whose slots
	 * hold TCP connections of listen. */
	sendq_free(w->sendq);
	uring_free(w->uring); /* before listen, which owns the sockets it reads */
	upstream_free(w->upstream);
	for (size_t i = 0; i < w->ndraining; i++)
		upstream_free(w->draining[i]);
	listen_free(w->listen);
	proxy_free(w->proxy);
	/* Old caches may still be being freed on threads of their own: let them finish before the
	 * process can exit, so a leak checker sees the memory returned. */
	cache_wait_detached();
	guard_free(w->guard);
	if (w->mail_ev)
		event_free(w->mail_ev);
	if (w->drain_ev)
		event_free(w->drain_ev);
	if (w->drained_ev)
		event_free(w->drained_ev);
	if (w->base)
		event_base_free(w->base);
	if (w->mail_fd >= 0)
		close(w->mail_fd);
	free(w);
}
