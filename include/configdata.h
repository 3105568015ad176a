/*
 * configdata: the plain data a policy file is read into (struct config and its parts), apart from
 * config.h so that the modules config.c uses (value, defaults) can name these types without
 * including the module that calls them. config.h describes every field's key and default.
 */
#ifndef BLOKIR_CONFIGDATA_H
#define BLOKIR_CONFIGDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONFIG_NAME_MAX 255 /* wire-format name, RFC 1035 2.3.4 */

enum policy_action {
	ACTION_NXDOMAIN, /* NXDOMAIN with SOA (RFC 2308) */
	ACTION_NODATA,   /* NOERROR, empty answer, SOA */
	ACTION_REFUSED,  /* REFUSED, no SOA */
	ACTION_DROP,     /* no answer at all */
	ACTION_ALLOW,    /* exempt from a broader entry: forward */
	ACTION_REDIRECT, /* A/AAAA: landing-page addresses (or a CNAME); other types NODATA */
	ACTION_DEFAULT   /* while reading only: defaults_resolve makes it the default-action */
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
	uint32_t ttl;                           /* default 30 (defaults.h) */
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
/* udp-io: how a worker reads and answers client UDP (uring.h) */
enum config_udp_io { UDP_IO_AUTO, UDP_IO_URING, UDP_IO_SOCKETS };

/* An external list (`lists:` entry). Its names are read by the policy builder, not config_load. */
struct config_list {
	char *path;                 /* owned: relative paths are resolved against the config's dir */
	enum list_format format;
	bool enabled;
	enum policy_action action;  /* for its names (RPZ records carry their own); after
	                               config_load never ACTION_DEFAULT */
	char *reason, *ref;         /* owned, NULL when absent */
	bool skip_bad_lines;        /* on-error: skip (count and go on) instead of reject */
	uint32_t redirect_ttl;      /* TTL of an RPZ record's own redirect answer (30; no key) */
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
	enum policy_action action;     /* ACTION_DEFAULT: each record's own action (RPZ "given");
	                                  not resolved to default-action */
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
	enum policy_action action; /* the entry's, or default-action: never ACTION_DEFAULT after
	                              config_load (defaults.h) */
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
	unsigned rate_limit_burst;        /* default 2 x qps (resolved by config_load) */
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
	unsigned udp_consolidate;         /* percent of one CPU: below it all UDP goes to worker 0
	                                     (steer.h); 0 = off, default 70 */
	int udp_io;                       /* udp-io: enum config_udp_io; default sockets */

	/* Fleet (issue 13). */
	struct config_zone *zones; size_t zone_count; /* owned array, file order */
	char *state_dir;                  /* owned: where zone copies are kept; default
	                                     /var/lib/blokir (set by config_load) */
	struct config_pos state_dir_pos;  /* its value, for privdrop_check; 0 when defaulted */
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
	char *log_file;                   /* owned: log-file:, an absolute path; NULL = stderr or
	                                     syslog (log.h) */
	struct config_endpoint metrics_listen; /* Prometheus page on loopback; addrlen 0 = off */
	int log_level;                    /* log-level: the most verbose level logged, in log.h's
	                                     enum log_level order (error, warning, info, debug);
	                                     default info. -v makes it debug */
};

#endif
