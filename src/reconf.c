/*
 * reconf: compare the settings of two configurations (see include/reconf.h).
 *
 * One row per top-level settings key: how to compare it, and which worker part it belongs to
 * (0: needs a restart). The policy's own keys (domains, lists, redirect, default-action,
 * negative-ttl, soa-*, zones' enabled and action) are not here: a reload always compiles them.
 */
#include "reconf.h"

#include <stdlib.h>
#include <string.h>

enum cmp { CMP_UINT, CMP_BOOL, CMP_STR, CMP_ENDPOINTS, CMP_CIDRS, CMP_SERVE, CMP_DNSTAP,
	CMP_ENDPOINT };

#define F(field) offsetof(struct config, field)
static const struct row {
	const char *key;
	enum cmp cmp;
	size_t off, off2;  /* the field; for arrays the count */
	unsigned part;     /* RECONF_*, 0 = restart */
} rows[] = {
	{ "listen", CMP_ENDPOINTS, F(listen), F(listen_count), 0 },
	{ "workers", CMP_UINT, F(workers), 0, 0 },
	{ "udp-io", CMP_UINT, F(udp_io), 0, 0 }, /* each worker's ring is set up at start only */
	{ "user", CMP_STR, F(user), 0, 0 },
	{ "group", CMP_STR, F(group), 0, 0 },
	{ "chroot", CMP_STR, F(chroot), 0, 0 },
	{ "allow-root", CMP_BOOL, F(allow_root), 0, 0 },
	{ "state-dir", CMP_STR, F(state_dir), 0, 0 },
	{ "serve-rpz", CMP_SERVE, F(serve), 0, 0 }, /* the server's own, read at start-up only */
	/* The control socket stays: after the privilege drop the daemon can seldom create a
	 * socket in its directory or give it the service's group, and `ctl reload`'s own answer
	 * travels over the running one. */
	{ "control-socket", CMP_STR, F(control_socket), 0, 0 },
	/* the server's own outputs: it opens the new one, then the workers switch over */
	{ "audit-log", CMP_STR, F(audit_log), 0, RECONF_AUDIT },
	{ "audit-client-ipv4-prefix", CMP_UINT, F(audit_ipv4_prefix), 0, RECONF_AUDIT },
	{ "audit-client-ipv6-prefix", CMP_UINT, F(audit_ipv6_prefix), 0, RECONF_AUDIT },
	{ "audit-buffer-kb", CMP_UINT, F(audit_buffer_kb), 0, RECONF_AUDIT },
	{ "dnstap", CMP_DNSTAP, F(dnstap), 0, RECONF_DNSTAP },
	{ "metrics-listen", CMP_ENDPOINT, F(metrics_listen), 0, RECONF_METRICS },
	{ "log-file", CMP_STR, F(log_file), 0, RECONF_LOG }, /* the server reopens it */
	{ "log-level", CMP_UINT, F(log_level), 0, RECONF_LOG_LEVEL }, /* an int, compared bitwise */
	{ "audit-blocked", CMP_BOOL, F(audit_blocked), 0, RECONF_OBSERVE },
	{ "audit-cname-blocked", CMP_BOOL, F(audit_cname_blocked), 0, RECONF_OBSERVE },
	{ "audit-acl-denied", CMP_BOOL, F(audit_acl_denied), 0, RECONF_OBSERVE },
	{ "audit-rate-limited", CMP_BOOL, F(audit_rate_limited), 0, RECONF_OBSERVE },
	{ "upstreams", CMP_ENDPOINTS, F(upstreams), F(upstream_count), RECONF_UPSTREAM },
	{ "upstream-timeout-ms", CMP_UINT, F(upstream_timeout_ms), 0, RECONF_UPSTREAM },
	{ "use-0x20", CMP_BOOL, F(use_0x20), 0, RECONF_UPSTREAM },
	{ "upstream-sockets", CMP_UINT, F(upstream_sockets), 0, RECONF_UPSTREAM },
	{ "max-inflight", CMP_UINT, F(max_inflight), 0, RECONF_UPSTREAM },
	{ "allow-from", CMP_CIDRS, F(allow_from), F(allow_from_count), RECONF_GUARD },
	{ "deny-action", CMP_BOOL, F(deny_drop), 0, RECONF_GUARD },
	{ "rate-limit-qps", CMP_UINT, F(rate_limit_qps), 0, RECONF_GUARD },
	{ "rate-limit-burst", CMP_UINT, F(rate_limit_burst), 0, RECONF_GUARD },
	{ "rate-limit-ipv4-prefix", CMP_UINT, F(rate_limit_ipv4_prefix), 0, RECONF_GUARD },
	{ "rate-limit-ipv6-prefix", CMP_UINT, F(rate_limit_ipv6_prefix), 0, RECONF_GUARD },
	{ "rate-limit-tc", CMP_BOOL, F(rate_limit_tc), 0, RECONF_GUARD },
	{ "tcp-idle-timeout-ms", CMP_UINT, F(tcp_idle_timeout_ms), 0, RECONF_LISTEN },
	{ "tcp-read-timeout-ms", CMP_UINT, F(tcp_read_timeout_ms), 0, RECONF_LISTEN },
	{ "max-tcp-connections", CMP_UINT, F(max_tcp_connections), 0, RECONF_LISTEN },
	{ "inspect-answers", CMP_BOOL, F(inspect_answers), 0, RECONF_PROXY },
	{ "cache-size", CMP_UINT, F(cache_size), 0, RECONF_PROXY },
	{ "busy-poll-us", CMP_UINT, F(busy_poll_us), 0, RECONF_LOOP },
	/* the server's steering reads the settings in force at every look */
	{ "udp-consolidate", CMP_UINT, F(udp_consolidate), 0, RECONF_STEER },
};
#undef F

#define AT(cfg, off, type) ((type *)((char *)(cfg) + (off)))

static size_t count_of(const struct config *c, const struct row *r)
{
	return *AT(c, r->off2, const size_t);
}

static bool endpoints_equal(const struct config_endpoint *a, const struct config_endpoint *b,
	size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].addrlen != b[i].addrlen || memcmp(&a[i].addr, &b[i].addr, a[i].addrlen) != 0)
			return false;
	return true;
}

static bool str_equal(const char *x, const char *y)
{
	return x == y || (x != NULL && y != NULL && strcmp(x, y) == 0);
}

static bool serve_equal(const struct config_serve *a, const struct config_serve *b)
{
	if (a->enabled != b->enabled || !str_equal(a->zone, b->zone) || a->history != b->history ||
	    a->allow_count != b->allow_count || a->notify_count != b->notify_count ||
	    a->key_count != b->key_count ||
	    (a->allow_count && memcmp(a->allow, b->allow, a->allow_count * sizeof(*a->allow)) != 0) ||
	    !endpoints_equal(a->notify, b->notify, a->notify_count))
		return false;
	for (size_t i = 0; i < a->key_count; i++)
		if (!str_equal(a->keys[i].name, b->keys[i].name) ||
		    !str_equal(a->keys[i].algorithm, b->keys[i].algorithm) ||
		    !str_equal(a->keys[i].secret_file, b->keys[i].secret_file))
			return false;
	return true;
}

static bool dnstap_equal(const struct config_dnstap *a, const struct config_dnstap *b)
{
	return str_equal(a->socket, b->socket) && str_equal(a->file, b->file) &&
		str_equal(a->identity, b->identity) && a->client_query == b->client_query &&
		a->client_response == b->client_response && a->forwarder_query == b->forwarder_query &&
		a->forwarder_response == b->forwarder_response;
}

static bool equal(const struct config *a, const struct config *b, const struct row *r)
{
	switch (r->cmp) {
	case CMP_UINT:
		return *AT(a, r->off, const unsigned) == *AT(b, r->off, const unsigned);
	case CMP_BOOL:
		return *AT(a, r->off, const bool) == *AT(b, r->off, const bool);
	case CMP_STR:
		return str_equal(*AT(a, r->off, char *const), *AT(b, r->off, char *const));
	case CMP_SERVE:
		return serve_equal(AT(a, r->off, const struct config_serve),
			AT(b, r->off, const struct config_serve));
	case CMP_DNSTAP:
		return dnstap_equal(AT(a, r->off, const struct config_dnstap),
			AT(b, r->off, const struct config_dnstap));
	case CMP_ENDPOINT:
		return endpoints_equal(AT(a, r->off, const struct config_endpoint),
			AT(b, r->off, const struct config_endpoint), 1);
	case CMP_ENDPOINTS:
		return count_of(a, r) == count_of(b, r) &&
			endpoints_equal(*AT(a, r->off, struct config_endpoint *const),
				*AT(b, r->off, struct config_endpoint *const), count_of(a, r));
	case CMP_CIDRS:
		return count_of(a, r) == count_of(b, r) &&
			memcmp(*AT(a, r->off, struct config_cidr *const),
				*AT(b, r->off, struct config_cidr *const),
				count_of(a, r) * sizeof(struct config_cidr)) == 0;
	}
	return false;
}

/* LOADED takes RUNNING's value of the key in R (a deep copy: the two are freed apart). */
static int keep_running(const struct config *running, struct config *loaded, const struct row *r)
{
	switch (r->cmp) {
	case CMP_SERVE:
		return 0; /* no worker reads it: the server keeps the start-up one */
	case CMP_DNSTAP: {
		const struct config_dnstap *from = AT(running, r->off, const struct config_dnstap);
		struct config_dnstap *to = AT(loaded, r->off, struct config_dnstap);
		struct config_dnstap copy = *from;
		/* owned by LOADED */
		copy.socket = from->socket ? strdup(from->socket) : NULL;
		copy.file = from->file ? strdup(from->file) : NULL;
		copy.identity = from->identity ? strdup(from->identity) : NULL;
		if ((from->socket && !copy.socket) || (from->file && !copy.file) ||
		    (from->identity && !copy.identity)) {
			free(copy.socket);
			free(copy.file);
			free(copy.identity);
			return -1;
		}
		free(to->socket);
		free(to->file);
		free(to->identity);
		*to = copy;
		return 0;
	}
	case CMP_ENDPOINT:
		*AT(loaded, r->off, struct config_endpoint) =
			*AT(running, r->off, const struct config_endpoint);
		return 0;
	case CMP_UINT:
		*AT(loaded, r->off, unsigned) = *AT(running, r->off, const unsigned);
		return 0;
	case CMP_BOOL:
		*AT(loaded, r->off, bool) = *AT(running, r->off, const bool);
		return 0;
	case CMP_STR: {
		const char *v = *AT(running, r->off, char *const);
		char *copy = v ? strdup(v) : NULL; /* owned by LOADED */
		if (v != NULL && copy == NULL)
			return -1;
		free(*AT(loaded, r->off, char *));
		*AT(loaded, r->off, char *) = copy;
		return 0;
	}
	case CMP_ENDPOINTS:
	case CMP_CIDRS: {
		size_t n = count_of(running, r);
		size_t size = r->cmp == CMP_ENDPOINTS ? sizeof(struct config_endpoint) :
			sizeof(struct config_cidr);
		void *copy = malloc(n ? n * size : 1); /* owned by LOADED */
		if (copy == NULL)
			return -1;
		memcpy(copy, *AT(running, r->off, void *const), n * size);
		free(*AT(loaded, r->off, void *));
		*AT(loaded, r->off, void *) = copy;
		*AT(loaded, r->off2, size_t) = n;
		return 0;
	}
	}
	return -1;
}

static bool is_pinned(const char *key, const char *const *pinned, size_t npinned)
{
	for (size_t i = 0; i < npinned; i++)
		if (strcmp(pinned[i], key) == 0)
			return true;
	return false;
}

int reconf_prepare(const struct config *running, struct config *loaded,
	const char *const *pinned, size_t npinned, struct reconf *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		bool pin = is_pinned(r->key, pinned, npinned);

		/* workers: 0 is one per CPU, resolved at start-up; the file saying 0 is no change */
		if (strcmp(r->key, "workers") == 0 && loaded->workers == 0) {
			loaded->workers = running->workers;
			continue;
		}
		if (equal(running, loaded, r) && !pin)
			continue;
		/* a switch the command line turned on (--allow-root) is on whatever the file says */
		if (pin && r->cmp == CMP_BOOL) {
			*AT(loaded, r->off, bool) = *AT(running, r->off, const bool);
			continue;
		}
		if (!equal(running, loaded, r) && out->npinned < RECONF_KEYS_MAX && pin)
			out->pinned[out->npinned++] = r->key;
		else if (!pin && r->part == 0 && out->nrestart < RECONF_KEYS_MAX)
			out->restart[out->nrestart++] = r->key;
		else if (!pin && out->napplied < RECONF_KEYS_MAX)
			out->applied[out->napplied++] = r->key;
		if (r->part == 0 || pin) {
			if (keep_running(running, loaded, r) < 0)
				return -1;
		} else {
			out->parts |= r->part;
		}
	}
	return 0;
}

int reconf_keep(const struct config *running, struct config *loaded, unsigned part,
	struct reconf *rc)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		size_t keep = 0;

		if (r->part != part)
			continue;
		for (size_t j = 0; j < rc->napplied; j++)
			if (rc->applied[j] != r->key)
				rc->applied[keep++] = rc->applied[j];
		rc->napplied = keep;
		if (keep_running(running, loaded, r) < 0)
			return -1;
	}
	rc->parts &= ~part;
	return 0;
}

unsigned reconf_parts(const struct config *a, const struct config *b)
{
	unsigned parts = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (rows[i].part != 0 && !equal(a, b, &rows[i]))
			parts |= rows[i].part;
	return parts;
}
