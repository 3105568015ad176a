/*
 * defaults: every default of struct config, and what is resolved after the walk (see
 * include/defaults.h). README.md "Configuration reference" lists the same values.
 */
#include "defaults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "value.h"

#define DNS_PORT 53
#define RESOLV_CONF "/etc/resolv.conf"
#define RESOLV_CONF_ENV "BLOKIR_RESOLV_CONF"
#define DEFAULT_LISTEN "127.0.0.1:53"
#define DEFAULT_SOA_MNAME "blokir.invalid."
#define DEFAULT_SOA_RNAME "hostmaster.blokir.invalid."
#define DEFAULT_STATE_DIR "/var/lib/blokir"
/* A landing page's TTL: short, so that lifting a block is seen soon after a reload. */
#define DEFAULT_REDIRECT_TTL 30

const struct config_domain defaults_domain = { .enabled = true, .action = ACTION_DEFAULT };
const struct config_list defaults_list = {
	.format = LIST_DOMAINS, .enabled = true, .action = ACTION_DEFAULT,
	.redirect_ttl = DEFAULT_REDIRECT_TTL,
};
const struct config_redirect defaults_redirect = { .ttl = DEFAULT_REDIRECT_TTL, .set = true };
const struct config_zone defaults_zone = { .enabled = true, .action = ACTION_DEFAULT };

void defaults_init(struct config *cfg)
{
	const char *err;

	cfg->negative_ttl = 60;
	cfg->default_action = ACTION_NXDOMAIN;
	cfg->upstream_timeout_ms = 1500;
	cfg->workers = 0; /* one per online CPU: main.c counts them when it starts the workers */
	cfg->tcp_idle_timeout_ms = 10000;
	cfg->max_tcp_connections = 1024;
	cfg->max_inflight = 65536;
	cfg->inspect_answers = true;
	cfg->rate_limit_ipv4_prefix = 24;
	cfg->rate_limit_ipv6_prefix = 56;
	cfg->upstream_sockets = 64;
	cfg->tcp_read_timeout_ms = 5000;
	cfg->udp_consolidate = 85; /* steer.c: why 85 */
	/* auto: io_uring (uring.h) where the kernel gives it, for a quarter of the system calls
	 * per blocked query within the instruction targets (README, Performance); sockets where it
	 * is refused, as in containers with seccomp filters */
	cfg->udp_io = UDP_IO_AUTO;
	cfg->audit_ipv4_prefix = 32;
	cfg->audit_ipv6_prefix = 128;
	cfg->audit_blocked = cfg->audit_cname_blocked = true;
	cfg->audit_buffer_kb = 4096;
	cfg->dnstap.client_query = cfg->dnstap.client_response = true;
	cfg->log_level = 2; /* info: log.h's LOG_LEVEL_INFO, what blokir logs without -v */
	/* constants that pass the name rules: these cannot fail */
	value_parse_name(DEFAULT_SOA_MNAME, cfg->soa_mname, &cfg->soa_mname_len, &err);
	value_parse_name(DEFAULT_SOA_RNAME, cfg->soa_rname, &cfg->soa_rname_len, &err);
}

void defaults_resolve(struct config *cfg)
{
	for (size_t i = 0; i < cfg->domain_count; i++)
		if (cfg->domains[i].action == ACTION_DEFAULT)
			cfg->domains[i].action = cfg->default_action;
	for (size_t i = 0; i < cfg->list_count; i++)
		if (cfg->lists[i].action == ACTION_DEFAULT)
			cfg->lists[i].action = cfg->default_action;
	if (cfg->rate_limit_burst == 0)
		cfg->rate_limit_burst = cfg->rate_limit_qps * 2;
}

/* Appends EP to the endpoint array at ARR/COUNT (owned by the config). -1 when out of memory. */
static int endpoint_append(struct config_endpoint **arr, size_t *count, const char *text)
{
	struct config_endpoint ep, *na;
	const char *err;

	if (value_parse_endpoint(text, DNS_PORT, &ep, &err) < 0)
		return 0; /* not an address we can use: skipped */
	if ((na = realloc(*arr, (*count + 1) * sizeof(*na))) == NULL)
		return -1;
	na[(*count)++] = ep;
	*arr = na;
	return 0;
}

/*
 * Upstreams from the resolver configuration, as glibc would use them: "nameserver ADDR" lines,
 * port 53. Link-local addresses with a "%iface" scope are skipped: a sockaddr_in6 without its
 * scope id would send to the wrong interface, or nowhere. Returns 1 after reporting that there
 * are none, 0, or -1 when out of memory.
 */
static int upstreams_from_resolv_conf(struct config *cfg, struct diag *diag)
{
	const char *path = secure_getenv(RESOLV_CONF_ENV);
	char *line = NULL; /* owned, freed below */
	size_t cap = 0;
	int rc = 0;
	FILE *fp;

	if (path == NULL || *path == '\0')
		path = RESOLV_CONF;
	fp = fopen(path, "re");
	while (fp != NULL && rc == 0 && getline(&line, &cap, fp) >= 0) {
		uint8_t buf[16];
		char *save, *word = strtok_r(line, " \t\r\n", &save);

		if (word == NULL || strcmp(word, "nameserver") != 0)
			continue;
		word = strtok_r(NULL, " \t\r\n", &save);
		/* a bare address first: glibc takes no "ADDR:PORT" forms */
		if (word == NULL || (value_parse_addr(word, AF_INET, buf) < 0 &&
			value_parse_addr(word, AF_INET6, buf) < 0))
			continue;
		if (cfg->upstream_count == CONFIG_UPSTREAMS_MAX)
			break; /* glibc reads 3; more is a resolv.conf for another resolver */
		rc = endpoint_append(&cfg->upstreams, &cfg->upstream_count, word);
	}
	free(line);
	if (fp != NULL)
		fclose(fp);
	if (rc == 0 && cfg->upstream_count == 0) {
		diag_add(diag, cfg->path, 1, 1, "no upstreams configured and none in %s", path);
		rc = 1;
	}
	return rc;
}

/* The networks allowed when "allow-from" is absent: loopback and private ranges only. */
static const char *const default_allow_from[] = {
	"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
};

static int allow_from_defaults(struct config *cfg)
{
	size_t n = sizeof(default_allow_from) / sizeof(default_allow_from[0]);

	cfg->allow_from = calloc(n, sizeof(*cfg->allow_from));
	if (cfg->allow_from == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		value_parse_cidr(default_allow_from[i], &cfg->allow_from[i]); /* constants: cannot fail */
	cfg->allow_from_count = n;
	return 0;
}

/* The networks allowed to transfer when serve-rpz.allow is absent: this host only. */
static const char *const default_serve_allow[] = { "127.0.0.0/8", "::1/128" };

/* serve-rpz's defaults, when it is there: the origin, the IXFR history, who may transfer. */
static int serve_defaults(struct config_serve *sv)
{
	size_t n = sizeof(default_serve_allow) / sizeof(default_serve_allow[0]);

	if (sv->zone == NULL && (sv->zone = strdup(CONFIG_SERVE_ORIGIN_DEFAULT)) == NULL)
		return -1;
	if (sv->history == 0)
		sv->history = CONFIG_SERVE_HISTORY_DEFAULT;
	if (sv->allow_count > 0)
		return 0;
	if ((sv->allow = calloc(n, sizeof(*sv->allow))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		value_parse_cidr(default_serve_allow[i], &sv->allow[i]); /* constants: cannot fail */
	sv->allow_count = n;
	return 0;
}

static const char REDIRECT_NEEDED[] = "action redirect needs a \"redirect:\" with a, aaaa or "
	"cname, in the entry or at the top level";

/*
 * Every entry and list whose action is redirect must have a landing page: its own or the
 * top-level one. Checked after the walk because the top-level "redirect:" may come later.
 * Returns how many problems were reported.
 */
static int check_redirects(const struct config *cfg, struct diag *diag)
{
	int errors = 0;

	for (size_t i = 0; i < cfg->domain_count; i++) {
		const struct config_domain *d = &cfg->domains[i];

		if (d->action == ACTION_REDIRECT && d->redirect == NULL && !cfg->redirect.set) {
			diag_add(diag, cfg->path, d->line, d->column, "domains[%zu]: %s", i,
				REDIRECT_NEEDED);
			errors++;
		}
	}
	for (size_t i = 0; i < cfg->list_count; i++) {
		const struct config_list *l = &cfg->lists[i];

		/* RPZ records carry their own actions, a redirect's CNAME included */
		if (l->action == ACTION_REDIRECT && l->format != LIST_RPZ && !cfg->redirect.set) {
			diag_add(diag, cfg->path, l->line, l->column, "lists[%zu]: %s", i,
				REDIRECT_NEEDED);
			errors++;
		}
	}
	return errors;
}

int defaults_finish(struct config *cfg, const struct defaults_given *given, struct diag *diag)
{
	int errors, rc = 0;

	if (!given->listen && cfg->listen_count == 0 &&
		endpoint_append(&cfg->listen, &cfg->listen_count, DEFAULT_LISTEN) < 0)
		return -1;
	if (!given->allow_from && cfg->allow_from_count == 0 && allow_from_defaults(cfg) < 0)
		return -1;
	if (cfg->state_dir == NULL && (cfg->state_dir = strdup(DEFAULT_STATE_DIR)) == NULL)
		return -1;
	if (cfg->serve.enabled && serve_defaults(&cfg->serve) < 0)
		return -1;
	defaults_resolve(cfg);
	errors = check_redirects(cfg, diag);
	if (!given->upstreams && cfg->upstream_count == 0)
		rc = upstreams_from_resolv_conf(cfg, diag);
	return rc < 0 ? -1 : errors + rc;
}
