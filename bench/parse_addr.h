/*
 * parse_addr.h: "ADDR:PORT" (IPv4) for the bench programs (bare_responder.c, bare_relay.c), which
 * are each built with one cc command and so share this as a header.
 */
#ifndef BENCH_PARSE_ADDR_H
#define BENCH_PARSE_ADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* Fills OUT from S ("127.0.0.1:5300"); -1 when S is not that form. */
static int parse_addr(const char *s, struct sockaddr_in *out)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	size_t len;

	if (!colon || (len = (size_t)(colon - s)) >= sizeof host)
		return -1;
	memcpy(host, s, len);
	host[len] = '\0';
	memset(out, 0, sizeof *out);
	out->sin_family = AF_INET;
	out->sin_port = htons((unsigned short)atoi(colon + 1));
	return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

#endif
