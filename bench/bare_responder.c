/*
 * bare_responder: the ceiling reference for blokir's blocked-query benchmark.
 *
 * It answers every UDP query with NXDOMAIN by echoing the packet with QR=1, RA=1 and RCODE=3 set
 * in the header, without parsing the question or looking anything up. It reads and writes in
 * batches with recvmmsg/sendmmsg, one blocking socket per thread; with -t N it runs N threads,
 * each with its own SO_REUSEPORT socket on the same address, so the kernel spreads the flows the
 * way it does for blokir's workers. Whatever qps this reaches on a machine is the most any UDP
 * server can answer there with the same load generator: the numbers in bench/results are ratios
 * to it.
 *
 * Build: cc -O2 -pthread -o build/bench/bare_responder bench/bare_responder.c
 * Run:   bare_responder -l 127.0.0.1:5300 [-t THREADS] [-b BATCH]
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
#include <sys/socket.h>
#include <unistd.h>

#include "parse_addr.h"

#define MAX_BATCH 256
#define PKT_MAX 4096

struct worker {
	struct sockaddr_in addr;
	int batch;
	int fd;
};

static int open_socket(const struct sockaddr_in *addr)
{
	int one = 1, buf = 4 << 20;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0) {
		perror("socket");
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
		perror("SO_REUSEPORT");
	/* Larger buffers keep a burst from dnsperf's 1000 outstanding queries from being dropped
	 * while the thread is busy sending; failure only means the default size. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
	if (bind(fd, (const struct sockaddr *)addr, sizeof *addr) < 0) {
		perror("bind");
		close(fd);
		return -1;
	}
	return fd;
}

static void *serve(void *arg)
{
	struct worker *w = arg;
	static __thread unsigned char bufs[MAX_BATCH][PKT_MAX];
	static __thread struct sockaddr_in peers[MAX_BATCH];
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iovs[MAX_BATCH];
	int i, n, sent;

	for (;;) {
		for (i = 0; i < w->batch; i++) {
			iovs[i].iov_base = bufs[i];
			iovs[i].iov_len = PKT_MAX;
			memset(&msgs[i], 0, sizeof msgs[i]);
			msgs[i].msg_hdr.msg_iov = &iovs[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &peers[i];
			msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
		}
		/* Block for the first datagram, then take whatever else is already queued. */
		n = recvmmsg(w->fd, msgs, (unsigned)w->batch, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("recvmmsg");
			return NULL;
		}
		for (i = 0; i < n; i++) {
			unsigned char *p = bufs[i];
			if (msgs[i].msg_len < 12) {
				iovs[i].iov_len = 0; /* too short for a header: sent as empty, harmless */
				continue;
			}
			p[2] |= 0x80;                    /* QR */
			p[3] = (unsigned char)(0x80 | 3); /* RA, Z=0, RCODE=NXDOMAIN */
			iovs[i].iov_len = msgs[i].msg_len;
		}
		for (sent = 0; sent < n;) {
			int r = sendmmsg(w->fd, msgs + sent, (unsigned)(n - sent), 0);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				break; /* e.g. ENOBUFS: drop the rest of the batch like a real server */
			}
			sent += r;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	const char *listen_at = "127.0.0.1:5300";
	int threads = 1, batch = 64, opt, i;
	struct worker *ws;
	pthread_t *tids;

	while ((opt = getopt(argc, argv, "l:t:b:")) != -1) {
		switch (opt) {
		case 'l': listen_at = optarg; break;
		case 't': threads = atoi(optarg); break;
		case 'b': batch = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-l ADDR:PORT] [-t THREADS] [-b BATCH]\n", argv[0]);
			return 2;
		}
	}
	if (threads < 1 || threads > 64 || batch < 1 || batch > MAX_BATCH ||
	    parse_addr(listen_at, &addr) < 0) {
		fprintf(stderr, "bare_responder: bad -l, -t (1..64) or -b (1..%d)\n", MAX_BATCH);
		return 2;
	}
	ws = calloc((size_t)threads, sizeof *ws);
	tids = calloc((size_t)threads, sizeof *tids);
	if (!ws || !tids)
		return 1;
	/* Bind every socket before serving so a caller polling the port sees all of them. */
	for (i = 0; i < threads; i++) {
		ws[i].addr = addr;
		ws[i].batch = batch;
		if ((ws[i].fd = open_socket(&addr)) < 0)
			return 1;
	}
	for (i = 1; i < threads; i++)
		if (pthread_create(&tids[i], NULL, serve, &ws[i]) != 0) {
			fprintf(stderr, "bare_responder: pthread_create failed\n");
			return 1;
		}
	serve(&ws[0]);
	return 1;
}
