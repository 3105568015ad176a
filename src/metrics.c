/*
 * metrics: evhttp on its own thread (see include/metrics.h).
 *
 * The thread's base is touched by no other thread: stopping is a write to an eventfd the thread
 * watches, so libevent needs no locking (evthread) anywhere in the daemon.
 */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"

#define METRICS_TIMEOUT_S 10

struct metrics {
	struct event_base *base; /* owned; used by the metrics thread only once it runs */
	struct evhttp *http;     /* owned */
	struct event *stop_ev;   /* owned */
	int stop_fd;
	pthread_t thread;
	bool started;
	metrics_render_cb *cb;
	void *arg;
	char text[64];           /* the address, for logs */
};

static void request_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *body;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET || path == NULL ||
	    strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only GET /metrics here");
		return;
	}
	if ((body = evbuffer_new()) == NULL || (out = open_memstream(&buf, &len)) == NULL) {
		if (body)
			evbuffer_free(body);
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	m->cb(m->arg, out);
	fclose(out);
	evbuffer_add(body, buf, len);
	free(buf);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		"text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;
	uint64_t n;
	(void)what;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("metrics: stop: %s", strerror(errno));
	event_base_loopexit(m->base, NULL);
}

static void *metrics_main(void *arg)
{
	struct metrics *m = arg;

	event_base_dispatch(m->base);
	return NULL;
}

struct metrics *metrics_new(const struct config_endpoint *ep, metrics_render_cb *cb, void *arg)
{
	struct metrics *m = calloc(1, sizeof(*m)); /* owned by the server */
	evutil_socket_t fd = -1;
	int one = 1, err = ENOMEM;

	if (m == NULL)
		goto oom;
	m->stop_fd = -1;
	m->cb = cb;
	m->arg = arg;
	snprintf(m->text, sizeof(m->text), "%s", ep->text);
	if ((m->base = event_base_new()) == NULL || (m->http = evhttp_new(m->base)) == NULL)
		goto oom;
	fd = socket(ep->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&ep->addr, ep->addrlen) < 0 || listen(fd, 64) < 0 ||
	    evhttp_accept_socket(m->http, fd) < 0) {
		err = errno;
		log_err("metrics-listen %s: %s", ep->text, strerror(err));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET);
	evhttp_set_gencb(m->http, request_cb, m);
	m->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->stop_fd < 0 ||
	    (m->stop_ev = event_new(m->base, m->stop_fd, EV_READ | EV_PERSIST, stop_cb, m)) == NULL ||
	    event_add(m->stop_ev, NULL) < 0)
		goto oom;
	return m;
oom:
	log_err("metrics: out of memory");
	err = ENOMEM;
fail:
	metrics_free(m);
	errno = err; /* for a reload's warning */
	return NULL;
}

int metrics_start(struct metrics *m)
{
	int err = pthread_create(&m->thread, NULL, metrics_main, m);

	if (err != 0) {
		log_err("metrics: cannot start the thread: %s", strerror(err));
		return -1;
	}
	m->started = true;
	log_info("metrics: serving http://%s/metrics", m->text);
	return 0;
}

void metrics_free(struct metrics *m)
{
	uint64_t one = 1;

	if (m == NULL)
		return;
	if (m->started) {
		if (write(m->stop_fd, &one, sizeof(one)) < 0)
			log_warn("metrics: cannot stop the thread: %s", strerror(errno));
		pthread_join(m->thread, NULL);
	}
	if (m->stop_ev)
		event_free(m->stop_ev);
	if (m->stop_fd >= 0)
		close(m->stop_fd);
	if (m->http)
		evhttp_free(m->http);
	if (m->base)
		event_base_free(m->base);
	free(m);
}
