/*
 * client: where an answer goes. listen makes one of these for every client message and passes it
 * to its query callback; upstream copies one into each pending query. The TCP connection behind
 * it is listen's and opaque to everyone else: upstream keeps it alive through the hold and
 * release operations it is given (listen_conn_hold/listen_conn_release, wired by worker.c).
 */
#ifndef BLOKIR_CLIENT_H
#define BLOKIR_CLIENT_H

#include <sys/socket.h>

struct tcp_conn;

struct client_ref {
	struct tcp_conn *conn; /* NULL for UDP; held while a query for it is pending */
	int udp_fd;            /* UDP: the socket the query came in on */
	socklen_t addrlen;
	const struct sockaddr *addr; /* borrowed: valid only during the call it is passed to */
};

/* Keeps CONN's memory alive while a query refers to it; release undoes one hold. */
typedef void (*client_hold_cb)(struct tcp_conn *conn);

#endif
