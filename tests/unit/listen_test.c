/*
 * listen_test: listen_new takes ownership of the sockets it is given, also when it fails (as
 * listen.h says and worker.c relies on). A failure is made by handing it, in place of one UDP
 * socket, a descriptor epoll refuses (/dev/null: event_add fails with EPERM); every descriptor
 * passed in must be closed afterwards, those before the bad one, the bad one and those after it.
 * The sockets are real but never see a packet; no query callback runs.
 */
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "caplog.h"
#include "config.h"
#include "log.h"
#include "sendq.h"
#include "stats.h"
#include "tap.h"

static size_t no_query(void *arg, const uint8_t *pkt, size_t len, const struct client_ref *c,
	uint8_t *out, size_t cap)
{
	(void)arg, (void)pkt, (void)len, (void)c, (void)out, (void)cap;
	return 0;
}

static int udp_socket(void)
{
	return socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static int tcp_listener(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 8) < 0) {
		printf("Bail out! cannot make a TCP listener: %s\n", strerror(errno));
		exit(1);
	}
	return fd;
}

static bool is_closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

/* Runs listen_new over N address pairs where UDP socket BAD (or none, BAD >= N) is /dev/null. */
static void run(size_t n, size_t bad, const char *what)
{
	struct config cfg = { .max_tcp_connections = 10, .tcp_idle_timeout_ms = 1000 };
	struct event_base *base = event_base_new();
	struct sendq *q = sendq_new(base);
	struct stats stats = { 0 };
	struct caplog caps;
	_Atomic unsigned conns = 0;
	int udp[4], tcp[4];
	struct listen *l;
	bool all_closed = true;

	caplog_init(&caps, &stats, 0);
	for (size_t i = 0; i < n; i++) {
		udp[i] = i == bad ? open("/dev/null", O_RDONLY | O_CLOEXEC) : udp_socket();
		tcp[i] = tcp_listener();
	}
	l = listen_new(&(struct listen_env){ .base = base, .cfg = &cfg, .stats = &stats,
		.caps = &caps, .sendq = q, .tcp_conns = &conns, .query = no_query }, udp, tcp, n);
	if (bad < n) {
		ok(l == NULL, "%s: listen_new fails", what);
	} else {
		ok(l != NULL, "%s: listen_new succeeds", what);
		for (size_t i = 0; i < n; i++)
			all_closed &= !is_closed(udp[i]) && !is_closed(tcp[i]);
		ok(all_closed, "%s: and keeps the sockets open while it runs", what);
		listen_free(l);
		all_closed = true;
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_closed(udp[i]) || !is_closed(tcp[i])) {
			printf("#   address %zu: udp %s, tcp %s\n", i, is_closed(udp[i]) ? "closed" : "OPEN",
				is_closed(tcp[i]) ? "closed" : "OPEN");
			all_closed = false;
		}
	}
	ok(all_closed, "%s: every descriptor given is closed afterwards", what);
	sendq_free(q);
	event_base_free(base);
}

int main(void)
{
	log_init(LOG_LEVEL_ERR, false);
	run(3, 99, "3 addresses, all good");
	run(3, 0, "3 addresses, the first UDP socket bad");
	run(3, 1, "3 addresses, the second UDP socket bad");
	run(3, 2, "3 addresses, the last UDP socket bad");
	return tap_exit();
}
