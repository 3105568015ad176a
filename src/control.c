/*
 * control: the control socket's server and the `blokir ctl` client (see include/control.h).
 *
 * Each connection is a bufferevent on the main loop with a read timeout for the request and a
 * write timeout for the answer, so a client that stalls costs one idle connection until the
 * timeout, never a blocked loop. Connections are capped at CONTROL_CONNS_MAX; beyond it new ones
 * are answered "3 busy" and closed at once.
 */
#include "control.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"

#define CONTROL_CONNS_MAX 64
#define CONTROL_READ_TIMEOUT_S 10
#define CONTROL_WRITE_TIMEOUT_S 30
#define CLIENT_TIMEOUT_MS (600 * 1000) /* a reload of a huge list may take a while */

struct conn {
	struct control *ctl;
	struct bufferevent *bev;     /* owned */
	struct control_reply *reply; /* pending answer, or NULL */
	bool answered;               /* reply sent: close once written */
	struct conn *prev, *next;
};

struct control_reply {
	struct conn *conn; /* NULL once the client has gone */
	FILE *out;         /* open_memstream over buf */
	char *buf;
	size_t len;
};

struct control {
	int fd;                          /* the bound socket until control_start hands it over */
	struct evconnlistener *listener; /* owned */
	char *path;                      /* owned */
	control_command_cb *cb;
	void *arg;
	struct conn *conns;
	unsigned nconns;
};

static void conn_free(struct conn *c)
{
	struct control *ctl = c->ctl;

	if (c->reply != NULL)
		c->reply->conn = NULL; /* the handler still finishes it; the text goes nowhere */
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->nconns--;
	bufferevent_free(c->bev);
	free(c);
}

FILE *control_reply_out(struct control_reply *r)
{
	return r->out;
}

void control_reply_done(struct control_reply *r, int code)
{
	struct conn *c = r->conn;

	fclose(r->out); /* sets buf and len */
	if (c != NULL) {
		struct evbuffer *o = bufferevent_get_output(c->bev);

		c->reply = NULL;
		c->answered = true;
		evbuffer_add_printf(o, "%d\n", code);
		evbuffer_add(o, r->buf, r->len);
		bufferevent_enable(c->bev, EV_WRITE);
	}
	free(r->buf);
	free(r);
}

/* Splits LINE in place into words; returns their count, or -1 when there are too many. */
static int split_words(char *line, char **argv)
{
	int argc = 0;

	for (char *save = NULL, *w = strtok_r(line, " \t", &save); w != NULL;
	     w = strtok_r(NULL, " \t", &save)) {
		if (argc == CONTROL_ARGS_MAX)
			return -1;
		argv[argc++] = w;
	}
	return argc;
}

static void conn_reply_now(struct conn *c, int code, const char *text)
{
	struct evbuffer *o = bufferevent_get_output(c->bev);

	c->answered = true;
	evbuffer_add_printf(o, "%d\n%s", code, text);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_enable(c->bev, EV_WRITE);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *argv[CONTROL_ARGS_MAX + 1];
	struct control_reply *r;
	size_t n;
	char *line;
	int argc = -1;

	if (c->reply != NULL || c->answered)
		return; /* one command per connection: anything more is ignored */
	line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
			conn_reply_now(c, 2, "request line too long\n");
		return;
	}
	bufferevent_disable(bev, EV_READ);
	if (n > CONTROL_LINE_MAX || (argc = split_words(line, argv)) <= 0) {
		conn_reply_now(c, 2, argc == 0 ? "empty command\n" : "request line too long\n");
		free(line);
		return;
	}
	argv[argc] = NULL;
	r = calloc(1, sizeof(*r)); /* owned by the handler until control_reply_done */
	if (r == NULL || (r->out = open_memstream(&r->buf, &r->len)) == NULL) {
		free(r);
		conn_reply_now(c, 3, "out of memory\n");
		free(line);
		return;
	}
	r->conn = c;
	c->reply = r;
	c->ctl->cb(c->ctl->arg, argc, argv, r);
	free(line);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->answered && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	(void)bev;

	if (what & BEV_EVENT_TIMEOUT)
		log_debug("control: client timed out");
	/* EOF, error or timeout: the client is gone or stuck; a pending reply is orphaned. */
	conn_free(c);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
	int salen, void *arg)
{
	struct control *ctl = arg;
	struct timeval rt = { CONTROL_READ_TIMEOUT_S, 0 }, wt = { CONTROL_WRITE_TIMEOUT_S, 0 };
	struct conn *c;
	(void)l;
	(void)sa;
	(void)salen;

	if (ctl->nconns >= CONTROL_CONNS_MAX) {
		static const char busy[] = "3\ncontrol: too many connections\n";
		if (write(fd, busy, sizeof(busy) - 1) < 0) { /* best effort, non-blocking */ }
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c)); /* owned by the connection list */
	if (c == NULL) {
		close(fd);
		return;
	}
	c->ctl = ctl;
	c->bev = bufferevent_socket_new(evconnlistener_get_base(ctl->listener), fd,
		BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	c->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = c;
	ctl->conns = c;
	ctl->nconns++;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_set_timeouts(c->bev, &rt, &wt);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONTROL_LINE_MAX + 2);
	bufferevent_enable(c->bev, EV_READ);
}

/* A socket file left by a daemon that died is removed; one a live daemon answers on is not. */
static int unlink_stale(const char *path, const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int live;

	if (fd < 0)
		return -1;
	live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	if (live) {
		log_err("control-socket %s: another blokir answers on it", path);
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		log_err("control-socket %s: cannot remove the stale socket: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

struct control *control_new(const char *path, gid_t gid, control_command_cb *cb, void *arg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct control *ctl = calloc(1, sizeof(*ctl)); /* owned by the server */
	int fd = -1;
	mode_t old;

	if (ctl == NULL || (ctl->path = strdup(path)) == NULL) {
		log_err("control-socket: out of memory");
		goto fail;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_err("control-socket %s: path longer than %zu bytes", path, sizeof(sun.sun_path) - 1);
		goto fail;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	ctl->cb = cb;
	ctl->arg = arg;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		goto fail_errno;
	/* Created without any permission for others from the first instant, then opened to the
	 * group: there is no moment at which anyone else could connect. */
	old = umask(0177);
	int rc = bind(fd, (const struct sockaddr *)&sun, sizeof(sun));
	if (rc < 0 && errno == EADDRINUSE && unlink_stale(path, &sun) == 0)
		rc = bind(fd, (const struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0)
		goto fail_errno;
	if (chown(path, (uid_t)-1, gid) < 0 || chmod(path, 0660) < 0)
		goto fail_errno;
	if (listen(fd, 16) < 0)
		goto fail_errno;
	ctl->fd = fd;
	return ctl;
fail_errno:
	log_err("control-socket %s: %s", path, strerror(errno));
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
fail:
	if (ctl != NULL)
		free(ctl->path);
	free(ctl);
	return NULL;
}

int control_start(struct control *c, struct event_base *base)
{
	/* -1: the listener takes the socket already listening */
	c->listener = evconnlistener_new(base, accept_cb, c, LEV_OPT_CLOSE_ON_FREE, -1, c->fd);
	if (c->listener == NULL) {
		log_err("control-socket %s: cannot serve on it", c->path);
		return -1;
	}
	c->fd = -1;
	return 0;
}

void control_free(struct control *c)
{
	if (c == NULL)
		return;
	while (c->conns != NULL)
		conn_free(c->conns);
	if (c->listener != NULL)
		evconnlistener_free(c->listener);
	if (c->fd >= 0)
		close(c->fd);
	/* After a privilege drop the directory may no longer be ours; the next start replaces a
	 * stale file anyway. */
	if (unlink(c->path) < 0 && errno != ENOENT)
		log_debug("control-socket %s: %s", c->path, strerror(errno));
	free(c->path);
	free(c);
}

/* ---- the client ---- */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int control_client(const char *path, int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char line[CONTROL_LINE_MAX + 2], buf[65536];
	size_t n = 0;
	int fd, code = -1;
	FILE *to = stdout;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "blokir ctl: %s: path too long\n", path);
		return 3;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	for (int i = 0; i < argc; i++) {
		size_t w = strlen(argv[i]);
		if (w == 0 || strpbrk(argv[i], " \t\n") != NULL || n + w + 2 > sizeof(line) - 1) {
			fprintf(stderr, "blokir ctl: bad argument \"%s\"\n", argv[i]);
			return 2;
		}
		memcpy(line + n, argv[i], w);
		n += w;
		line[n++] = i + 1 < argc ? ' ' : '\n';
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "blokir ctl: cannot connect to %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 3;
	}
	if (write_all(fd, line, n) < 0) {
		fprintf(stderr, "blokir ctl: %s: %s\n", path, strerror(errno));
		close(fd);
		return 3;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;
		int pr = poll(&p, 1, CLIENT_TIMEOUT_MS);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			fprintf(stderr, "blokir ctl: %s: no answer\n", path);
			code = 3;
			break;
		}
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		size_t off = 0;
		if (code < 0) {
			/* the first line is the code; the daemon writes it in one piece with the text */
			char *nl = memchr(buf, '\n', (size_t)r);
			if (nl == NULL) {
				fprintf(stderr, "blokir ctl: %s: malformed answer\n", path);
				code = 3;
				break;
			}
			code = atoi(buf);
			off = (size_t)(nl - buf) + 1;
			to = code == 0 ? stdout : stderr;
		}
		fwrite(buf + off, 1, (size_t)r - off, to);
	}
	close(fd);
	if (code < 0) {
		fprintf(stderr, "blokir ctl: %s: the daemon closed the connection without answering\n",
			path);
		return 3;
	}
	return code;
}
