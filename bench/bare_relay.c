/*
 * bare_relay: the ceiling reference for blokir's forwarded-query benchmark.
 *
 * The least work a UDP DNS forwarder can do: read a batch of queries with recvmmsg, give each a
 * new ID from a counter (remembering the client's address and ID under it), send the batch to
 * the upstream through one connect()ed socket with sendmmsg, and relay each answer back the same
 * way with the client's ID restored. No parsing beyond the ID, no policy, no timeouts, no random
 * IDs or ports, no answer checks: everything blokir does on top of this is missing. Whatever qps
 * it reaches is the most any forwarder can get on this machine with the same load generator and
 * upstream, because the four datagrams per query (client in, upstream out, upstream in, client
 * out) cost the kernel the same whoever sends them.
 *
 * Each thread has its own SO_REUSEPORT listening socket and its own upstream socket, watched with
 * one epoll set, like blokir's workers.
 *
 * Build: cc -O2 -pthread -o build/bench/bare_relay bench/bare_relay.c
 * Run:   bare_relay -l 127.0.0.1:5300 -u 127.0.0.1:5301 [-t THREADS]
 * SIGTERM or SIGINT stops it (the default action: there is no state to save).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parse_addr.h"

#define BATCH 64
#define PKT_MAX 4096

struct pending {
	struct sockaddr_in client;
	unsigned char id[2];
};

struct relay {
	struct sockaddr_in listen_at, upstream;
	int cfd, ufd, ep;
	unsigned short next_id;
	struct pending table[65536];
	unsigned char bufs[BATCH][PKT_MAX];
	struct sockaddr_in peers[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iovs[BATCH];
};

static int udp_socket(const struct sockaddr_in *bind_to, const struct sockaddr_in *connect_to)
{
	int one = 1, buf = 4 << 20;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (bind_to && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
		perror("SO_REUSEPORT");
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
	if ((bind_to && bind(fd, (const struct sockaddr *)bind_to, sizeof *bind_to) < 0) ||
	    (connect_to && connect(fd, (const struct sockaddr *)connect_to, sizeof *connect_to) < 0)) {
		perror(bind_to ? "bind" : "connect");
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads up to BATCH datagrams from FD into the relay's buffers; returns how many. */
static int receive(struct relay *r, int fd)
{
	for (int i = 0; i < BATCH; i++) {
		r->iovs[i] = (struct iovec){ r->bufs[i], PKT_MAX };
		r->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &r->peers[i],
			.msg_namelen = sizeof r->peers[i], .msg_iov = &r->iovs[i], .msg_iovlen = 1 };
	}
	int n = recvmmsg(fd, r->msgs, BATCH, MSG_DONTWAIT, NULL);
	return n < 0 ? 0 : n;
}

static void send_all(int fd, struct mmsghdr *msgs, int n)
{
	for (int sent = 0; sent < n;) {
		int k = sendmmsg(fd, msgs + sent, (unsigned)(n - sent), 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			break; /* e.g. ENOBUFS: the rest is lost, as UDP allows */
		}
		sent += k;
	}
}

/* A client query (datagram I): remembered as (address, ID) under a new ID, for the upstream
 * socket, which is connected: no destination (NULL). */
static const struct sockaddr_in *query_to_upstream(struct relay *r, int i)
{
	unsigned char *p = r->bufs[i];
	struct pending *e = &r->table[r->next_id];

	e->client = r->peers[i];
	memcpy(e->id, p, 2);
	p[0] = (unsigned char)(r->next_id >> 8);
	p[1] = (unsigned char)r->next_id;
	r->next_id++;
	return NULL;
}

/* An upstream answer (datagram I): the client's ID back; the destination is that client. */
static const struct sockaddr_in *answer_to_client(struct relay *r, int i)
{
	unsigned char *p = r->bufs[i];
	const struct pending *e = &r->table[p[0] << 8 | p[1]];

	memcpy(p, e->id, 2);
	return &e->client;
}

/* Relays batches from FROM to TO until FROM has nothing more, each datagram of at least a header
 * rewritten by TURN, which returns its destination (NULL: TO's connected peer). */
static void relay_batches(struct relay *r, int from, int to,
	const struct sockaddr_in *(*turn)(struct relay *r, int i))
{
	int n, out;

	while ((n = receive(r, from)) > 0) {
		out = 0;
		for (int i = 0; i < n; i++) {
			size_t len = r->msgs[i].msg_len;
			const struct sockaddr_in *dest;
			if (len < 12)
				continue;
			dest = turn(r, i); /* reads entry I before entry OUT <= I is overwritten */
			if (dest != NULL)
				r->peers[out] = *dest;
			r->iovs[out] = (struct iovec){ r->bufs[i], len };
			r->msgs[out].msg_hdr = (struct msghdr){ .msg_name = dest ? &r->peers[out] : NULL,
				.msg_namelen = dest ? sizeof r->peers[out] : 0, .msg_iov = &r->iovs[out],
				.msg_iovlen = 1 };
			out++;
		}
		send_all(to, r->msgs, out);
		if (n < BATCH)
			break;
	}
}

static void *serve(void *arg)
{
	struct relay *r = arg;
	struct epoll_event evs[2];

	for (;;) {
		int n = epoll_wait(r->ep, evs, 2, -1);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == r->cfd)
				relay_batches(r, r->cfd, r->ufd, query_to_upstream);
			else
				relay_batches(r, r->ufd, r->cfd, answer_to_client);
		}
	}
	return NULL;
}

static int relay_open(struct relay *r)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if ((r->cfd = udp_socket(&r->listen_at, NULL)) < 0 ||
	    (r->ufd = udp_socket(NULL, &r->upstream)) < 0 || (r->ep = epoll_create1(0)) < 0)
		return -1;
	ev.data.fd = r->cfd;
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, r->cfd, &ev) < 0)
		return -1;
	ev.data.fd = r->ufd;
	return epoll_ctl(r->ep, EPOLL_CTL_ADD, r->ufd, &ev);
}

int main(int argc, char **argv)
{
	struct sockaddr_in listen_at, upstream;
	const char *l = "127.0.0.1:5300", *u = NULL;
	int threads = 1, opt, i;
	struct relay *rs;
	pthread_t tid;

	while ((opt = getopt(argc, argv, "l:u:t:")) != -1) {
		switch (opt) {
		case 'l': l = optarg; break;
		case 'u': u = optarg; break;
		case 't': threads = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s -l ADDR:PORT -u ADDR:PORT [-t THREADS]\n", argv[0]);
			return 2;
		}
	}
	if (threads < 1 || threads > 64 || u == NULL || parse_addr(l, &listen_at) < 0 ||
	    parse_addr(u, &upstream) < 0) {
		fprintf(stderr, "bare_relay: bad -l, -u or -t (1..64)\n");
		return 2;
	}
	rs = calloc((size_t)threads, sizeof *rs); /* lives as long as the process */
	if (rs == NULL)
		return 1;
	/* Bind every socket before serving so a caller polling the port sees all of them. */
	for (i = 0; i < threads; i++) {
		rs[i].listen_at = listen_at;
		rs[i].upstream = upstream;
		if (relay_open(&rs[i]) < 0) {
			perror("bare_relay");
			return 1;
		}
	}
	for (i = 1; i < threads; i++)
		if (pthread_create(&tid, NULL, serve, &rs[i]) != 0) {
			fprintf(stderr, "bare_relay: pthread_create failed\n");
			return 1;
		}
	serve(&rs[0]);
	return 1;
}
