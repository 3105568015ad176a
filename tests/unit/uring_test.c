/*
 * uring_test: the io_uring client UDP path on a real loopback socket. Datagrams reach the
 * callback with their peer, in batches, and the answers it sets reach the client; one longer
 * than the buffer is flagged truncated; a burst larger than the ring of receive buffers (the
 * kernel ends the multishot receive with ENOBUFS) is answered whole; the watched descriptor is
 * reported once per uring_watch; the tick ends a blocking wait every tick_ms; after uring_stop
 * no datagram reaches the callback. BLOKIR_TEST_URING_REFUSE makes the set-up fail with a reason. Skipped where the
 * kernel refuses io_uring.
 */
#include "uring.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

struct seen {
	unsigned datagrams, truncated, empty_batches, batches, bad_peer, ticks;
	in_port_t client_port;
};

static size_t echo(struct seen *s, const struct uring_dgram *d, size_t cap)
{
	s->datagrams++;
	if (d->truncated) {
		s->truncated++;
		return 0;
	}
	if (d->peerlen != sizeof(struct sockaddr_in) ||
	    ((const struct sockaddr_in *)d->peer)->sin_port != s->client_port)
		s->bad_peer++;
	if (d->len + 1 > cap)
		return 0;
	d->out[0] = 'A';
	memcpy(d->out + 1, d->pkt, d->len);
	return d->len + 1;
}

static void batch(void *arg, struct uring_dgram *d, size_t n, size_t cap)
{
	struct seen *s = arg;

	s->batches++;
	if (n == 0)
		s->empty_batches++;
	for (size_t i = 0; i < n; i++)
		d[i].outlen = (uint32_t)echo(s, &d[i], cap);
}

static int udp_bound(struct sockaddr_in *sa)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int big = 1 << 20;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &len) < 0)
		return -1;
	return fd;
}

/* Waits and handles until the callback has seen WANT datagrams (or a second without one). */
static bool run_until(struct uring *u, struct seen *s, unsigned want, bool *watch)
{
	for (int idle = 0; s->datagrams < want && idle < 20;) {
		unsigned before = s->datagrams;
		if (uring_wait(u, true) < 0)
			return false;
		unsigned what = uring_process(u);
		if ((what & URING_WATCH) && watch != NULL)
			*watch = true;
		if (what & URING_TICK)
			s->ticks++;
		idle = s->datagrams == before ? idle + 1 : 0;
	}
	uring_wait(u, false); /* submits the last answers */
	return s->datagrams >= want;
}

static unsigned drain_answers(int fd, unsigned want, unsigned *bad)
{
	unsigned got = 0;
	char buf[8192];

	for (int idle = 0; got < want && idle < 40;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			usleep(25000);
			idle++;
			continue;
		}
		if (n < 2 || buf[0] != 'A' || buf[1] != 'q')
			(*bad)++;
		got++;
	}
	return got;
}

int main(void)
{
	char why[160] = "";
	struct sockaddr_in srv, cli;
	struct seen s = { 0 };
	int sfd = udp_bound(&srv), cfd = udp_bound(&cli), efd = eventfd(0, EFD_NONBLOCK);
	struct uring_env env = { .fds = &sfd, .n = 1, .watch_fd = efd, .tick_ms = 50,
		.batch = batch, .arg = &s };
	unsigned bad = 0;
	uint64_t one = 1;

	if (sfd < 0 || cfd < 0 || efd < 0 || connect(cfd, (struct sockaddr *)&srv, sizeof(srv)) < 0) {
		ok(0, "loopback sockets");
		return tap_exit();
	}
	s.client_port = cli.sin_port;

	setenv("BLOKIR_TEST_URING_REFUSE", "1", 1);
	struct uring *u = uring_new(&env, why, sizeof(why));
	ok(u == NULL && strstr(why, "BLOKIR_TEST_URING_REFUSE") != NULL,
		"BLOKIR_TEST_URING_REFUSE: the set-up fails, saying why (%s)", why);
	uring_free(u);
	unsetenv("BLOKIR_TEST_URING_REFUSE");

	u = uring_new(&env, why, sizeof(why));
	if (u == NULL) {
		printf("# io_uring refused here: %s\n", why);
		ok(1, "# SKIP io_uring refused here");
		return tap_exit();
	}
	ok(uring_start(u, why, sizeof(why)) == 0, "uring_start");

	for (int i = 0; i < 3; i++)
		send(cfd, "q123", 4, 0);
	bool got = run_until(u, &s, 3, NULL);
	ok(got, "three datagrams reach the callback (%u)", s.datagrams);
	is_int(s.bad_peer, 0, "  ... each with the client's address");
	is_int(s.empty_batches, 0, "  ... in batches of at least one (%u batches)", s.batches);
	is_int(drain_answers(cfd, 3, &bad), 3, "  ... and the client gets three answers");
	is_int(bad, 0, "  ... each the callback's");

	static uint8_t big[5000];
	memset(big, 'q', sizeof(big));
	send(cfd, big, sizeof(big), 0);
	ok(run_until(u, &s, 4, NULL), "a 5,000-byte datagram is handed over");
	is_int(s.truncated, 1, "  ... flagged truncated");

	/* More than the 256 receive buffers at once: the receive ends (ENOBUFS) and is armed again.
	 * Each datagram is numbered, and each answer must echo a different one: a receive buffer
	 * given back to the ring while still in use would show as a repeated or garbled number. */
	unsigned base = s.datagrams;
	for (int i = 0; i < 600; i++) {
		char q[16];
		int len = snprintf(q, sizeof(q), "q-%03d", i);
		send(cfd, q, (size_t)len, 0);
	}
	got = run_until(u, &s, base + 600, NULL);
	ok(got, "a burst of 600 reaches the callback whole (%u)", s.datagrams - base);
	static bool seen_no[600];
	unsigned answers = 0, wrong = 0;
	for (int idle = 0; answers < 600 && idle < 40;) {
		char buf[64];
		ssize_t n = recv(cfd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n < 0) {
			usleep(25000);
			idle++;
			continue;
		}
		buf[n] = '\0';
		int no = -1;
		answers++;
		if (n != 6 || sscanf(buf, "Aq-%3d", &no) != 1 || no < 0 || no >= 600 || seen_no[no])
			wrong++;
		else
			seen_no[no] = true;
	}
	is_int(answers, 600, "  ... and 600 answers reach the client");
	is_int(wrong, 0, "  ... each echoing a different datagram of the burst");

	bool watch = false;
	if (write(efd, &one, sizeof(one)) < 0)
		ok(0, "eventfd write");
	for (int i = 0; i < 10 && !watch; i++) {
		uring_wait(u, true);
		watch = (uring_process(u) & URING_WATCH) != 0;
	}
	ok(watch, "the watched descriptor's readiness is reported");
	if (read(efd, &one, sizeof(one)) < 0)
		ok(0, "eventfd read");
	uring_watch(u);
	watch = false;
	for (int i = 0; i < 3; i++) {
		uring_wait(u, true);
		watch = watch || (uring_process(u) & URING_WATCH) != 0;
	}
	ok(!watch, "  ... and not again once it was read");

	/* with nothing else happening a blocking wait ends at the tick, which comes every tick_ms */
	struct timespec t0, t1;
	unsigned ticks = 0, turns = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ticks < 5 && turns++ < 50) {
		uring_wait(u, true);
		if (uring_process(u) & URING_TICK)
			ticks++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	is_int(ticks, 5, "a blocking wait ends at the tick (%u turns)", turns);
	ok(ms >= 5 * 50 - 10 && ms < 5 * 50 * 4, "  ... which comes every tick_ms (5 in %ld ms)", ms);

	uring_stop(u);
	uring_wait(u, true);
	uring_process(u);
	base = s.datagrams;
	send(cfd, "q-late", 6, 0);
	for (int i = 0; i < 5; i++) {
		uring_wait(u, true);
		uring_process(u);
	}
	is_int(s.datagrams - base, 0, "after uring_stop no datagram reaches the callback");

	uring_free(u);
	close(sfd);
	close(cfd);
	close(efd);
	return tap_exit();
}
