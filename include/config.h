/*
 * config: the only user of libyaml. Reads the YAML policy file into a validated, plain-data
 * struct config. Every problem found is reported to a struct diag as FILE:LINE:COLUMN: message,
 * and loading goes on past an error so all of them are reported in one run (--check).
 *
 * Keys (see README.md "Configuration reference" for the operator's description):
 *   listen: [ "ADDR:PORT", ... ]           default ["127.0.0.1:53"]
 *   upstreams: [ "ADDR[:PORT]", ... ]      default: the nameservers of /etc/resolv.conf, port 53
 *   negative-ttl: SECONDS                  default 60, 0..604800
 *   default-action: nxdomain|nodata|refused|drop   default nxdomain
 *   upstream-timeout-ms: MS                default 1500, 10..60000 (per upstream try)
 *   workers: N                             default 0 = one per online CPU, 0..64
 *   tcp-idle-timeout-ms: MS                default 10000, 100..600000
 *   max-tcp-connections: N                 default 1024, 1..1000000 (all workers together)
 *   max-inflight: N                        default 65536, 16..1048576 (forwarded queries, all workers)
 *   soa-mname: NAME, soa-rname: NAME       defaults "blokir.invalid." and "hostmaster.blokir.invalid."
 *   domains: [ { name, enabled, action, exact, reason, ref }, ... ]
 *
 * A domain's name is "example.com" (itself and every name below it), "*.example.com" (only names
 * below it) or, with `exact: true`, the name alone. Names are validated and converted to lower-case
 * wire format with ldns; a trailing dot is optional.
 *
 * Diagnostics read "FILE:LINE:COLUMN: WHERE: what was expected", WHERE being the key's path with
 * 0-based indexes ("domains[3].name: label longer than 63 octets", "listen[0]: expected a port
 * 1..65535"); unknown and repeated keys read `unknown key "nmae"`, `duplicate key "name"`. A YAML
 * syntax error is reported at libyaml's position and ends the walk. Unknown keys are errors at every
 * level. A null value ("listen:", "upstreams:", "domains:" with nothing after) counts as absent, but
 * an empty list ([]) is an error for listen and upstreams. An empty file is an error, not "all
 * defaults". Aliases work for scalars only. $BLOKIR_RESOLV_CONF replaces /etc/resolv.conf (tests).
 */
#ifndef BLOKIR_CONFIG_H
#define BLOKIR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "diag.h"

#define CONFIG_NAME_MAX 255 /* wire-format name, RFC 1035 2.3.4 */

enum policy_action {
	ACTION_NXDOMAIN, /* NXDOMAIN with SOA (RFC 2308) */
	ACTION_NODATA,   /* NOERROR, empty answer, SOA */
	ACTION_REFUSED,  /* REFUSED, no SOA */
	ACTION_DROP,     /* no answer at all */
	ACTION_ALLOW,    /* exempt from a broader entry: forward */
	ACTION_DEFAULT   /* config only: use the policy-wide default-action */
};

enum match_form {
	MATCH_SUBTREE, /* "name": the name and everything below it */
	MATCH_BELOW,   /* "*.name": only names below it */
	MATCH_EXACT    /* exact: true: the name alone */
};

struct config_endpoint {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char text[64]; /* as an operator writes it: "127.0.0.1:53", "[::1]:53" */
};

struct config_domain {
	uint8_t name[CONFIG_NAME_MAX]; /* lower-case wire format, without the "*." of MATCH_BELOW */
	size_t name_len;
	char *text;   /* owned: the normalized presentation form, lower-case, no trailing dot ("t.me",
	                 "*.telegram.org"); "." for the root */
	enum match_form form;
	bool enabled;
	enum policy_action action; /* ACTION_DEFAULT unless the entry says */
	char *reason; /* owned, NULL when absent */
	char *ref;    /* owned, NULL when absent */
	unsigned line, column; /* position of the entry's "name" value, for duplicate reports */
};

struct config {
	char *path; /* owned: the file it came from, as given */
	struct config_endpoint *listen; size_t listen_count;       /* owned arrays */
	struct config_endpoint *upstreams; size_t upstream_count;
	uint32_t negative_ttl;
	enum policy_action default_action;
	unsigned upstream_timeout_ms;
	unsigned workers;
	unsigned tcp_idle_timeout_ms;
	unsigned max_tcp_connections;
	unsigned max_inflight;
	uint8_t soa_mname[CONFIG_NAME_MAX]; size_t soa_mname_len;
	uint8_t soa_rname[CONFIG_NAME_MAX]; size_t soa_rname_len;
	struct config_domain *domains; size_t domain_count; /* owned array, file order */
};

/*
 * Reads and validates PATH. Returns a config the caller owns (config_free), or NULL when the file
 * cannot be read or has any error; every error is added to DIAG (which must not be NULL).
 */
struct config *config_load(const char *path, struct diag *diag);
void config_free(struct config *cfg);

/*
 * Parses "ADDR:PORT", "ADDR", "[V6ADDR]:PORT" or "[V6ADDR]" (DEFAULT_PORT when no port is given,
 * and a port is required when DEFAULT_PORT is 0; a bare IPv6 address without brackets is accepted
 * without a port). Numeric addresses only, no "%scope". Returns 0 with OUT filled (text in the
 * canonical "1.2.3.4:53" / "[2001:db8::1]:53" form), or -1 with *ERR set to a static description
 * of what was expected.
 */
int config_parse_endpoint(const char *text, uint16_t default_port, struct config_endpoint *out,
	const char **err);

/*
 * Validates a domain name in presentation form (trailing dot optional, case-insensitive) and
 * writes its lower-case wire form to OUT (CONFIG_NAME_MAX bytes). Returns 0, or -1 with *ERR set
 * to a static description ("label longer than 63 octets", ...). Used by the list loaders too.
 * Letters, digits, "-" and "_" only; "." alone is the root. A "*" is refused: a caller that accepts
 * the "*.name" form strips the "*." first (as config_load does).
 */
int config_parse_name(const char *text, uint8_t *out, size_t *out_len, const char **err);

/* "nxdomain" etc.; the name used in the file and in logs. */
const char *config_action_name(enum policy_action action);

#endif
