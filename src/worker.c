/*
 * worker: thread life cycle and the server <-> worker mailbox (see include/worker.h).
 *
 * The server never touches a worker's event base. It sets bits in `mail` and writes the worker's
 * eventfd; the worker handles the bits on its own thread. That keeps libevent single-threaded per
 * base (no evthread locking on the hot path) and gives the policy swap its safety point: when a
 * worker runs its mailbox callback it holds no policy pointer, so acknowledging the new
 * generation there proves it has let go of the old policy.
 */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "cache.h"
#include "guard.h"
#include "clock.h"
#include "listen.h"
#include "sendq.h"
#include "log.h"
#include "upstream.h"

#define DRAIN_TICK_MS 20

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	(void)fd;
	(void)what;

	if ((upstream_inflight(w->upstream) == 0 && listen_drained(w->listen)) ||
	    w->drain_ticks_left-- == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	struct timeval tv = { 0, DRAIN_TICK_MS * 1000 };
	event_add(w->drain_ev, &tv);
}

/* Graceful stop: no new queries; answer what is in flight, bounded by every upstream's timeout. */
static void worker_begin_stop(struct worker *w)
{
	unsigned bound_ms = w->cfg->upstream_timeout_ms * (unsigned)(w->cfg->upstream_count + 1) + 1000;

	if (w->stopping)
		return;
	w->stopping = true;
	listen_stop(w->listen);
	w->drain_ticks_left = bound_ms / DRAIN_TICK_MS;
	drain_cb(-1, 0, w);
}

static void mail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	uint64_t count;
	(void)what;

	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("worker %u: mailbox: %s", w->index, strerror(errno));
	unsigned bits = atomic_exchange(&w->mail, 0);
	if (bits & WORKER_MAIL_POLICY) {
		/* Answers cached under the old policy may name what the new one blocks. */
		if (w->cache)
			cache_clear(w->cache);
		atomic_store(&w->seen_gen, atomic_load(w->policy_gen));
		w->ack_cb(w->ack_arg);
	}
	if (bits & WORKER_MAIL_STOP)
		worker_begin_stop(w);
}

#define CAP_LOG_INTERVAL_MS 10000

void worker_cap_hit(struct worker *w, enum stat_id id, const char *what)
{
	uint64_t now = clock_now_ms();

	stats_inc(&w->stats, id);
	w->cap_unlogged[id]++;
	if (w->cap_logged_ms[id] != 0 && now - w->cap_logged_ms[id] < CAP_LOG_INTERVAL_MS)
		return;
	log_warn("worker %u: %s (%llu time%s since the last report)", w->index, what,
		(unsigned long long)w->cap_unlogged[id], w->cap_unlogged[id] == 1 ? "" : "s");
	w->cap_logged_ms[id] = now;
	w->cap_unlogged[id] = 0;
}

void worker_post(struct worker *w, unsigned bits)
{
	uint64_t one = 1;

	atomic_fetch_or(&w->mail, bits);
	if (write(w->mail_fd, &one, sizeof(one)) < 0)
		log_warn("worker %u: cannot post to mailbox: %s", w->index, strerror(errno));
}

int worker_init(struct worker *w, unsigned index, const struct config *cfg,
	_Atomic(struct policy *) *policy, _Atomic uint64_t *policy_gen, void (*ack_cb)(void *),
	void *ack_arg, const int *udp_fds, const int *tcp_fds, size_t n)
{
	w->index = index;
	w->cfg = cfg;
	w->policy = policy;
	w->policy_gen = policy_gen;
	atomic_store(&w->seen_gen, atomic_load(policy_gen));
	w->ack_cb = ack_cb;
	w->ack_arg = ack_arg;
	rand_init(&w->rand);
	w->mail_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->base = event_base_new(); /* owned by the worker; freed in worker_release */
	if (w->mail_fd < 0 || w->base == NULL)
		goto fail_fds;
	w->sendq = sendq_new(w->base);
	w->cache = cache_new(cfg->cache_size);
	if (w->sendq == NULL || (cfg->cache_size > 0 && w->cache == NULL))
		goto fail_fds;
	w->mail_ev = event_new(w->base, w->mail_fd, EV_READ | EV_PERSIST, mail_cb, w);
	w->drain_ev = evtimer_new(w->base, drain_cb, w);
	if (w->mail_ev == NULL || w->drain_ev == NULL || event_add(w->mail_ev, NULL) < 0)
		goto fail_fds;
	w->listen = listen_new(w, udp_fds, tcp_fds, n); /* takes the sockets, even on failure */
	if (w->listen == NULL)
		goto fail;
	w->upstream = upstream_new(w);
	w->guard = guard_new(cfg, cfg->workers);
	if (w->upstream == NULL || w->guard == NULL)
		goto fail;
	return 0;
fail_fds:
	for (size_t i = 0; i < n; i++) {
		close(udp_fds[i]);
		close(tcp_fds[i]);
	}
fail:
	log_err("worker %u: set-up failed", index);
	return -1;
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
		if (event_base_loop(w->base, EVLOOP_ONCE) != 0 || event_base_got_exit(w->base))
			return;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	if (w->cfg->busy_poll_us > 0)
		loop_busy_poll(w);
	else
		event_base_dispatch(w->base);
	atomic_store(&w->exited, true);
	w->ack_cb(w->ack_arg);
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
	pthread_sigmask(SIG_BLOCK, &block, &old);
	err = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (err != 0) {
		log_err("worker %u: pthread_create: %s", w->index, strerror(err));
		return -1;
	}
	return 0;
}

void worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

void worker_release(struct worker *w)
{
	/* The queue first, while the sockets it sends on are open; then upstream, whose slots
	 * hold TCP connections of listen. */
	sendq_free(w->sendq);
	w->sendq = NULL;
	cache_free(w->cache);
	w->cache = NULL;
	upstream_free(w->upstream);
	listen_free(w->listen);
	guard_free(w->guard);
	w->guard = NULL;
	if (w->mail_ev)
		event_free(w->mail_ev);
	if (w->drain_ev)
		event_free(w->drain_ev);
	if (w->base)
		event_base_free(w->base);
	if (w->mail_fd >= 0)
		close(w->mail_fd);
	w->upstream = NULL;
	w->listen = NULL;
	w->base = NULL;
	w->mail_fd = -1;
}
