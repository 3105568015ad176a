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
	ACTION_REDIRECT, /* A/AAAA: landing-page addresses (or a CNAME); other types NODATA */
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

/* Where `action: redirect` sends clients: a landing page. */
struct config_redirect {
	uint8_t (*a)[4]; size_t a_count;        /* owned: IPv4 addresses, network order */
	uint8_t (*aaaa)[16]; size_t aaaa_count; /* owned: IPv6 addresses */
	uint8_t cname[CONFIG_NAME_MAX];         /* wire format; cname_len 0 when unset. With a */
	size_t cname_len;                       /* CNAME, A/AAAA queries get the CNAME instead */
	uint32_t ttl;                           /* default 30 */
	bool set;                               /* the key was present */
};

/* Where a value stood in the file (1-based), for checks made after loading; 0 when absent. */
struct config_pos {
	unsigned line, column;
};

/* An IPv4 or IPv6 network; addresses are matched on their first `prefix` bits. */
struct config_cidr {
	int family;           /* AF_INET or AF_INET6 */
	unsigned prefix;      /* 0..32 or 0..128 */
	uint8_t addr[16];     /* network order; IPv4 in the first 4 bytes; host bits zero */
};

enum list_format { LIST_DOMAINS, LIST_HOSTS, LIST_RPZ };

/* An external list (`lists:` entry). Its names are read by the policy builder, not config_load. */
struct config_list {
	char *path;                 /* owned: relative paths are resolved against the config's dir */
	enum list_format format;
	bool enabled;
	enum policy_action action;  /* default for its names (RPZ records carry their own) */
	char *reason, *ref;         /* owned, NULL when absent */
	bool skip_bad_lines;        /* on-error: skip (count and go on) instead of reject */
	unsigned line, column;      /* position of the entry in the config file */
};

/* An RPZ zone pulled from primaries by zone transfer (`zones:` entry). */
struct config_zone {
	char *text;                    /* owned: the zone name, normalized, no trailing dot */
	uint8_t name[CONFIG_NAME_MAX]; size_t name_len; /* lower-case wire format */
	struct config_endpoint *primaries; size_t primary_count; /* owned; port 53 by default */
	char *tsig_name;               /* owned, NULL: no TSIG. The key name, normalized */
	char *tsig_algorithm;          /* owned when tsig_name: "hmac-sha256" (default) ... */
	char *tsig_secret;             /* owned: the base64 secret, read from tsig-secret-file */
	char *tsig_secret_file;        /* owned: where it was read from */
	bool enabled;
	enum policy_action action;     /* ACTION_DEFAULT: each record's own action (RPZ "given") */
	char *reason, *ref;            /* owned, NULL when absent */
	bool expire_drop;              /* on-expire: drop (default keep: go on enforcing + alarm) */
	unsigned line, column;         /* position of the entry in the config file */
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
	int64_t from, until;   /* schedule, unix seconds; 0 = unbounded. Active when
	                          from <= now < until */
	struct config_redirect *redirect; /* owned, NULL: use the policy-wide `redirect:` */
	unsigned line, column; /* position of the entry's "name" value, for duplicate reports */
};

/* A TSIG key (RFC 8945) of `serve-rpz: keys:`. The secret is read from SECRET_FILE at start. */
struct config_tsig_key {
	char *name;        /* owned: presentation form, lower case, with its trailing dot */
	char *algorithm;   /* owned: "hmac-sha256", "hmac-sha384" or "hmac-sha512" */
	char *secret_file; /* owned: holds the base64 secret; readable by its owner only */
	unsigned line, column;
};

/* `serve-rpz:`: blokir as the primary of its own policy (xfrout.h). */
#define CONFIG_SERVE_ORIGIN_DEFAULT "rpz.blokir."
#define CONFIG_SERVE_HISTORY_DEFAULT 32
struct config_serve {
	bool enabled;                        /* the key was present */
	char *zone;                          /* owned: the origin, presentation form with a dot */
	struct config_cidr *allow; size_t allow_count;       /* owned; default 127.0.0.0/8, ::1 */
	struct config_tsig_key *keys; size_t key_count;      /* owned; none: no TSIG */
	struct config_endpoint *notify; size_t notify_count; /* owned; port default 53 */
	unsigned history;                    /* changes kept for IXFR, 1..1000 */
};

/* `dnstap:`: where the copies of the traffic go, and which messages. */
struct config_dnstap {
	char *socket;                     /* owned; a unix socket path, or NULL */
	char *file;                       /* owned; a file path, or NULL (exactly one is set when on) */
	char *identity;                   /* owned; NULL: the host name */
	bool client_query, client_response;       /* default true */
	bool forwarder_query, forwarder_response; /* default false */
};

/* At most this many upstreams: they are tried in order, so more would only lengthen the path to
 * SERVFAIL, and each costs every worker upstream-sockets sockets. */
#define CONFIG_UPSTREAMS_MAX 16

struct config {
	char *path; /* owned: the file it came from, as given */
	struct config_endpoint *listen; size_t listen_count;       /* owned arrays */
	struct config_endpoint *upstreams; size_t upstream_count; /* 1..CONFIG_UPSTREAMS_MAX */
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

	/* Policy at scale (issue 3). */
	struct config_redirect redirect;  /* policy-wide landing page */
	bool inspect_answers;             /* CNAME-chain inspection of forwarded answers; default on */
	struct config_list *lists; size_t list_count; /* owned array */

	/* Hardening (issue 5). */
	struct config_cidr *allow_from; size_t allow_from_count; /* owned; default: loopback,
	                                     RFC 1918, ULA (set by config_load when absent) */
	bool deny_drop;                   /* deny-action: drop (default: refused) */
	unsigned rate_limit_qps;          /* per client network; 0 = off (default) */
	unsigned rate_limit_burst;        /* default 2 x qps */
	unsigned rate_limit_ipv4_prefix;  /* default 24 */
	unsigned rate_limit_ipv6_prefix;  /* default 56 */
	bool rate_limit_tc;               /* answer TC=1 instead of dropping; default false */
	char *user, *group, *chroot;      /* owned, NULL when absent */
	struct config_pos user_pos, group_pos, chroot_pos; /* their values, for privdrop_check */
	bool allow_root;                  /* keep running as root after start-up; default false */
	bool use_0x20;                    /* randomize qname case towards upstreams; default false */
	unsigned upstream_sockets;        /* UDP sockets per worker and upstream; default 64, 1..256 */
	unsigned tcp_read_timeout_ms;     /* whole-message deadline on TCP (slowloris); default 5000 */

	/* Speed (issue 4). */
	unsigned cache_size;              /* forwarded-answer cache entries per worker; 0 = off */
	unsigned busy_poll_us;            /* poll without sleeping while upstream answers are
	                                     awaited, up to this long; 0 (default) = off */

	/* Fleet (issue 13). */
	struct config_zone *zones; size_t zone_count; /* owned array, file order */
	char *state_dir;                  /* owned: where zone copies are kept; default
	                                     /var/lib/blokir (set by config_load) */
	struct config_serve serve;        /* serve-rpz: */

	/* Audit log and dnstap (issue 11). */
	char *audit_log;                  /* owned; NULL (default): no audit log */
	unsigned audit_ipv4_prefix;       /* client addresses cut to this many bits; default 32 */
	unsigned audit_ipv6_prefix;       /* default 128 */
	bool audit_blocked;               /* which refusals get a line: default true */
	bool audit_cname_blocked;         /* default true */
	bool audit_acl_denied;            /* default false */
	bool audit_rate_limited;          /* default false */
	unsigned audit_buffer_kb;         /* ring per worker; default 4096, 64..1048576 */
	struct config_dnstap dnstap;

	/* Operations (issue 11). */
	char *control_socket;             /* owned: the unix socket of `blokir ctl`; NULL = none */
	struct config_endpoint metrics_listen; /* Prometheus page on loopback; addrlen 0 = off */
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
 * the "*.name" form strips the "*." first (as config_load does). A name with non-ASCII characters
 * is first converted to A-labels with libidn2 (IDNA2008 nontransitional, NFC input), so
 * "bücher.example" is "xn--bcher-kva.example"; an invalid one is an error. *ERR may then point
 * to a thread-local buffer, valid until the thread's next call.
 */
int config_parse_name(const char *text, uint8_t *out, size_t *out_len, const char **err);

/* The A-label form of a name with Unicode labels (caller frees), or NULL with *ERR set. */
char *config_name_to_ascii(const char *text, const char **err);

/*
 * An RFC 3339 date-time with a UTC offset ("2017-08-10T00:00:00+07:00", "...Z"; fractional
 * seconds are dropped), 1970 or later, to unix seconds in *OUT. Returns 0, or -1 when malformed.
 */
int config_parse_time(const char *text, int64_t *out);

/*
 * "ADDR/PREFIX" or a bare address (/32, /128) into OUT. Returns NULL, or a static description of
 * what was expected; host bits set after the prefix are an error.
 */
const char *config_parse_cidr(const char *text, struct config_cidr *out);

/* A deep copy of SRC into DST; release DST with config_redirect_release. -1 when out of memory. */
int config_redirect_copy(struct config_redirect *dst, const struct config_redirect *src);
void config_redirect_release(struct config_redirect *r); /* frees the arrays, zeroes R */

/* The zone called NAME (wire format) in CFG, or NULL. */
const struct config_zone *config_zone_find(const struct config *cfg, const uint8_t *name,
	size_t len);

/* "nxdomain" etc.; the name used in the file and in logs. */
const char *config_action_name(enum policy_action action);

#endif
