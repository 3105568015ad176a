/*
 * dnstap_test: the dnstap module on its own, read back with a real reader (dnstap-read -y from
 * Debian's bind9): message types, addresses, ports, the messages themselves and their rcodes,
 * the Policy of a synthesized answer, and a rename + reopen mid-stream giving two complete,
 * readable files that hold every message between them; dnstap_set (a reload keeping the target)
 * changing identity and switches within one stream.
 */
#include "dnstap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "testname.h"

static char dir[] = "/tmp/dnstap_test.XXXXXX";

/* A query for NAME/A with ID, or with QR and RCODE set the matching answer (no records). */
static size_t message(const char *name, uint16_t id, int rcode, uint8_t *out)
{
	size_t n = 12;

	memset(out, 0, 12);
	out[0] = (uint8_t)(id >> 8);
	out[1] = (uint8_t)id;
	out[2] = 0x01; /* RD */
	if (rcode >= 0) {
		out[2] |= 0x80; /* QR */
		out[3] = (uint8_t)(0x80 | rcode); /* RA */
	}
	out[5] = 1;
	n += wire(name, out + n);
	out[n++] = 0;
	out[n++] = 1;
	out[n++] = 0;
	out[n++] = 1;
	return n;
}

/* dnstap-read -y of the files A and B, one after the other (a reader error shows as a line
 * naming dnstap-read). */
static char *read_back(const char *a, const char *b)
{
	char cmd[600];
	static char buf[1 << 20];
	size_t n = 0;

	snprintf(cmd, sizeof(cmd), "dnstap-read -y %s 2>&1 && dnstap-read -y %s 2>&1", a, b);
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	pclose(p);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

int main(void)
{
	char path[256], moved[256], cmd[300];
	uint8_t q[512], r[512], owner[256];
	struct sockaddr_in client = { .sin_family = AF_INET, .sin_port = htons(40001) };
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_port = htons(5300) };
	struct sockaddr_in6 up = { .sin6_family = AF_INET6, .sin6_port = htons(53) };

	if (mkdtemp(dir) == NULL || access("/usr/bin/dnstap-read", X_OK) != 0) {
		printf("1..0 # SKIP no dnstap-read (Debian package bind9)\n");
		return 0;
	}
	inet_pton(AF_INET, "127.0.0.9", &client.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
	inet_pton(AF_INET6, "::1", &up.sin6_addr);
	snprintf(path, sizeof(path), "%s/tap.fstrm", dir);
	snprintf(moved, sizeof(moved), "%s/tap.fstrm.1", dir);

	struct dnstap_options o = { .file_path = path, .identity = "test-host",
		.version = "blokir test", .queues = 2,
		.types = DNSTAP_TYPE_BIT(DNSTAP_CLIENT_QUERY) | DNSTAP_TYPE_BIT(DNSTAP_CLIENT_RESPONSE) |
			DNSTAP_TYPE_BIT(DNSTAP_FORWARDER_RESPONSE) };
	struct dnstap *d = dnstap_new(&o);
	if (!ok(d != NULL, "dnstap_new on %s", path))
		return tap_exit();
	ok(dnstap_wants(d, DNSTAP_CLIENT_QUERY) && !dnstap_wants(d, DNSTAP_FORWARDER_QUERY) &&
		!dnstap_wants(NULL, DNSTAP_CLIENT_QUERY), "dnstap_wants follows the switches");

	/* A blocked name: query in, synthesized NXDOMAIN out with its Policy. */
	size_t ql = message("blocked.example", 0x1111, -1, q);
	size_t rl = message("blocked.example", 0x1111, 3, r);
	size_t ol = wire("blocked.example", owner);
	struct dnstap_msg m = { .type = DNSTAP_CLIENT_QUERY, .query_addr = (void *)&client,
		.response_addr = (void *)&local, .query = q, .query_len = ql };
	is_int(dnstap_log(d, 0, &m), 0, "CLIENT_QUERY submitted");
	struct dnstap_policy pol = { .rule = "blocked.example", .has_action = true,
		.action = ACTION_NXDOMAIN, .value = owner, .value_len = ol };
	m = (struct dnstap_msg){ .type = DNSTAP_CLIENT_RESPONSE, .query_addr = (void *)&client,
		.response_addr = (void *)&local, .query = q, .query_len = ql, .response = r,
		.response_len = rl, .policy = &pol };
	is_int(dnstap_log(d, 0, &m), 0, "CLIENT_RESPONSE submitted");
	/* A forwarded one over TCP from the other worker, and an upstream answer over IPv6. */
	ql = message("www.example.org", 0x2222, -1, q);
	rl = message("www.example.org", 0x2222, 0, r);
	m = (struct dnstap_msg){ .type = DNSTAP_FORWARDER_RESPONSE, .response_addr = (void *)&up,
		.query = q, .query_len = ql, .response = r, .response_len = rl };
	is_int(dnstap_log(d, 1, &m), 0, "FORWARDER_RESPONSE submitted");
	m = (struct dnstap_msg){ .type = DNSTAP_CLIENT_RESPONSE, .tcp = true,
		.query_addr = (void *)&client, .response_addr = (void *)&local, .response = r,
		.response_len = rl };
	is_int(dnstap_log(d, 1, &m), 0, "relayed CLIENT_RESPONSE submitted");

	/* logrotate: rename, reopen, more messages; they go to the new file. */
	usleep(300000);
	rename(path, moved);
	dnstap_reopen(d);
	ql = message("after.example", 0x3333, -1, q);
	m = (struct dnstap_msg){ .type = DNSTAP_CLIENT_QUERY, .query_addr = (void *)&client,
		.response_addr = (void *)&local, .query = q, .query_len = ql };
	for (int i = 0; i < 10; i++)
		is_int(dnstap_log(d, 0, &m), 0, "after the reopen: CLIENT_QUERY %d", i);
	dnstap_free(d);

	/* Frames still in fstrm's output queue at the reopen go to the new file, so how the 14
	 * messages split between the two depends on fstrm's flush timer; that none is lost and
	 * both files are whole streams does not. */
	char *y = read_back(moved, path);
	ok(strstr(y, "dnstap-read") == NULL && count(y, "type: MESSAGE") == 14,
		"both files read back, with 14 messages between them");
	ok(count(y, "type: CLIENT_QUERY") == 11 && count(y, "type: CLIENT_RESPONSE") == 2 &&
		count(y, "type: FORWARDER_RESPONSE") == 1, "message types");
	ok(strstr(y, "identity: test-host") != NULL && strstr(y, "version: blokir test") != NULL,
		"identity and version");
	ok(count(y, "query_address: \"127.0.0.9\"") == 13 && count(y, "query_port: 40001") == 13 &&
		count(y, "response_address: \"127.0.0.1\"") == 13 &&
		count(y, "response_port: 5300") == 13,
		"client and listen addresses and ports");
	ok(strstr(y, "response_address: \"::1\"\n  response_port: 53\n") != NULL &&
		count(y, "socket_family: INET6") == 1 && count(y, "socket_family: INET\n") == 13,
		"the upstream's IPv6 address");
	ok(count(y, "socket_protocol: TCP") == 1 && count(y, "socket_protocol: UDP") == 13,
		"transports");
	ok(strstr(y, "blocked.example.\t\tIN\tA") != NULL &&
		strstr(y, "www.example.org.\t\tIN\tA") != NULL, "query names in the messages");
	ok(count(y, "status: NXDOMAIN\n    id: 4369\n    flags: qr rd ra") == 1 &&
		count(y, "status: NOERROR\n    id: 8738\n    flags: qr rd ra") == 2,
		"rcodes and IDs of the responses");
	ok(count(y, "after.example.\t\t\tIN\tA") == 10, "the 10 messages after the reopen");
	if (getenv("VERBOSE"))
		printf("%s\n", y);

	/* Policy is not printed by BIND 9.18's dnstap-read: look for its bytes in the frames. */
	static uint8_t raw[65536];
	size_t n = 0;
	bool found = false;
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(i ? path : moved, "rb");
		if (f == NULL)
			continue;
		n += fread(raw + n, 1, sizeof(raw) - n, f);
		fclose(f);
	}
	for (size_t i = 0; i + 6 < n && !found; i++) /* Policy.type = "blokir": 0a 06 "blokir" */
		found = raw[i] == 0x0a && raw[i + 1] == 6 && memcmp(raw + i + 2, "blokir", 6) == 0;
	ok(found, "the synthesized answer carries a Policy");

	struct dnstap_options bad = { .file_path = "/nonexistent-dir/x.fstrm", .queues = 1 };
	errno = 0;
	ok(dnstap_new(&bad) == NULL && errno == ENOENT,
		"a file that cannot be created fails dnstap_new, errno saying why (a reload names it)");

	/* A reload that keeps the target: identity and switches change in place, the stream goes
	 * on in the same file (nothing truncated). */
	char same[300];
	snprintf(same, sizeof(same), "%s/same.fstrm", dir);
	struct dnstap_options so = { .file_path = same, .identity = "before", .queues = 1,
		.types = DNSTAP_TYPE_BIT(DNSTAP_CLIENT_QUERY) };
	struct dnstap *sd = dnstap_new(&so);
	ok(sd != NULL && dnstap_file(sd) != NULL && strcmp(dnstap_file(sd), same) == 0,
		"dnstap_file names the file");
	ql = message("first.example", 0x4444, -1, q);
	m = (struct dnstap_msg){ .type = DNSTAP_CLIENT_QUERY, .query_addr = (void *)&client,
		.response_addr = (void *)&local, .query = q, .query_len = ql };
	is_int(sd ? dnstap_log(sd, 0, &m) : -1, 0, "a message with the first identity");
	is_int(sd ? dnstap_set(sd, "after", DNSTAP_TYPE_BIT(DNSTAP_FORWARDER_QUERY)) : -1, 0,
		"dnstap_set: a new identity and switches");
	ok(sd && !dnstap_wants(sd, DNSTAP_CLIENT_QUERY) && dnstap_wants(sd, DNSTAP_FORWARDER_QUERY),
		"  ... dnstap_wants follows the new switches");
	ql = message("second.example", 0x5555, -1, q);
	m = (struct dnstap_msg){ .type = DNSTAP_FORWARDER_QUERY, .response_addr = (void *)&up,
		.query = q, .query_len = ql };
	is_int(sd ? dnstap_log(sd, 0, &m) : -1, 0, "  ... a message after it");
	dnstap_free(sd);
	char *y2 = read_back(same, same); /* the file twice: every count doubles */
	ok(count(y2, "identity: before") == 2 && count(y2, "identity: after") == 2 &&
		count(y2, "- 'first.example. IN A'") == 2 &&
		count(y2, "- 'second.example. IN A'") == 2,
		"  ... one stream in the same file: the first message with the old identity, the "
		"second with the new one");

	if (getenv("KEEP")) return tap_exit();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_exit();
}
