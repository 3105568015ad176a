/*
 * configparts: what config.c shares with the two files split off it, and with nothing else
 * (config-internal: only config.c, configkeys.c and configfree.c include this header).
 *
 * The schema of the configuration file, its tables in configkeys.c: one table of keys per
 * mapping (top level, domains entry, lists entry, zones entry, redirect, serve-rpz and its keys,
 * dnstap), each key saying where its value goes (an offset into the mapping's object), what it
 * may be and what to say when it is not; the enums name each table's rows so the checks made on
 * a mapping as a whole can ask whether a key was seen. And the release of a configuration's
 * parts, in configfree.c, which the loader also uses to drop a bad entry. No libyaml types here:
 * config.c stays the only libyaml user. It includes configdata.h, not config.h, so that config
 * and its parts form no include circle.
 */
#ifndef BLOKIR_CONFIGPARTS_H
#define BLOKIR_CONFIGPARTS_H

#include <stdbool.h>
#include <stddef.h>

#include "configdata.h"

/* ---- configkeys.c: the schema ---- */

/* How a key's value is read. The scalar ones go through value.h; the rest are nodes of their own. */
enum key_type {
	KEY_UINT, KEY_U32,     /* unsigned / uint32_t, MIN..MAX */
	KEY_BOOL,              /* bool */
	KEY_ACTION,            /* enum policy_action, allow included */
	KEY_DEFAULT_ACTION,    /* enum policy_action, allow excluded: it would make every entry a no-op */
	KEY_WORD,              /* one of WORDS: its index, as an int-sized enum */
	KEY_FLAG,              /* one of two WORDS: bool, true for the second */
	KEY_STRING,            /* char *, non-empty */
	KEY_PATH,              /* char *, an absolute path */
	KEY_TEXT,              /* char *, free text (reason, ref) */
	KEY_NAME,              /* uint8_t[CONFIG_NAME_MAX] with its size_t length at OFF2 */
	KEY_TIME,              /* int64_t unix seconds */
	KEY_DOMAIN_NAME,       /* a domains entry's name: "name" or "*.name" */
	KEY_LIST_FILE,         /* char *, resolved against the config file's directory */
	KEY_ENDPOINTS,         /* struct config_endpoint array, its count at OFF2, at most MAX */
	KEY_CIDRS,             /* struct config_cidr array, count at OFF2 */
	KEY_ADDRS4, KEY_ADDRS6, /* uint8_t[4] / uint8_t[16] array, count at OFF2 */
	KEY_REDIRECT,          /* struct config_redirect, embedded */
	KEY_REDIRECT_PTR,      /* struct config_redirect *, allocated when present */
	KEY_DOMAINS,           /* the config's domains: a sequence of mappings */
	KEY_LISTS,             /* the config's lists: a sequence of mappings */
	KEY_ZONES,             /* the config's zones: a sequence of mappings */
	KEY_PRIMARIES,         /* a zone's primaries: endpoints, a lone one allowed, count at OFF2 */
	KEY_ZONE_NAME,         /* struct config_zone's name, name_len and text */
	KEY_TSIG_NAME,         /* struct config_zone's tsig_name: a name, kept as text */
	KEY_TSIG_ALG,          /* char *: one of WORDS, any case, kept as the word */
	KEY_SECRET_FILE,       /* struct config_zone's tsig_secret_file and tsig_secret */
	KEY_ZONE_ACTION,       /* enum policy_action, nxdomain..allow (no redirect) */
	KEY_DOTTED_NAME,       /* char *: a name (not the root) as "name." in lower case */
	KEY_SERVE,             /* struct config_serve, a mapping */
	KEY_TSIG_KEYS,         /* serve-rpz's keys: a sequence of mappings, count at OFF2 */
	KEY_DNSTAP,            /* struct config_dnstap, a mapping */
	KEY_LOOPBACK,          /* struct config_endpoint: one ADDR:PORT on a loopback address */
};

#define KEY_NULLABLE 0x1 /* a null value counts as absent: the default applies */

/* One key of a mapping: where its value goes, what it may be, and what to say when it is not. */
struct key_spec {
	const char *name;
	enum key_type type;
	unsigned flags;
	size_t off;                /* the field, from the start of the mapping's object */
	size_t off2;               /* the length or count that goes with it */
	size_t pos;                /* a struct config_pos to note the value's position in; 0: none */
	unsigned long min, max;    /* KEY_UINT, KEY_U32: range; KEY_ENDPOINTS: most items (0: any) */
	const char *expected;      /* what was expected (KEY_UINT and KEY_U32 say their range) */
	const char *const *words;  /* KEY_WORD, KEY_FLAG */
	size_t nwords;
};

/* The sequences of scalars, by key type: what a wrong node is told. */
struct seq_kind {
	enum key_type type;
	bool lone_ok;              /* a lone scalar is read as a sequence of one */
	const char *not_seq;       /* the node is not a sequence */
	const char *not_scalar;    /* an item is not a scalar */
	const char *empty;         /* an empty sequence is an error, saying this; NULL: allowed */
};
extern const struct seq_kind seq_kinds[]; /* one row per sequence key type */

enum root_key {
	ROOT_LISTEN, ROOT_UPSTREAMS, ROOT_NEGATIVE_TTL, ROOT_DEFAULT_ACTION, ROOT_UPSTREAM_TIMEOUT,
	ROOT_WORKERS, ROOT_TCP_IDLE, ROOT_MAX_TCP, ROOT_MAX_INFLIGHT, ROOT_SOA_MNAME, ROOT_SOA_RNAME,
	ROOT_DOMAINS, ROOT_REDIRECT, ROOT_INSPECT, ROOT_LISTS, ROOT_ALLOW_FROM, ROOT_DENY_ACTION,
	ROOT_RL_QPS, ROOT_RL_BURST, ROOT_RL_V4, ROOT_RL_V6, ROOT_RL_TC, ROOT_USER, ROOT_GROUP,
	ROOT_CHROOT, ROOT_ALLOW_ROOT, ROOT_0X20, ROOT_UPSTREAM_SOCKETS, ROOT_TCP_READ, ROOT_CACHE,
	ROOT_BUSY_POLL, ROOT_ZONES, ROOT_STATE_DIR, ROOT_SERVE_RPZ, ROOT_AUDIT_LOG, ROOT_AUDIT_V4,
	ROOT_AUDIT_V6, ROOT_AUDIT_BLOCKED, ROOT_AUDIT_CNAME, ROOT_AUDIT_ACL, ROOT_AUDIT_RATE,
	ROOT_AUDIT_BUFFER, ROOT_DNSTAP, ROOT_CONTROL_SOCKET, ROOT_METRICS_LISTEN, ROOT_LOG_FILE,
	ROOT_LOG_LEVEL, ROOT_UDP_CONSOLIDATE, ROOT_UDP_IO,
	ROOT_KEY_COUNT
};

/* A domains entry being read: what config_domain holds plus what is checked on it as a whole. */
struct domain_state {
	struct config_domain d; /* its strings are owned until the entry is appended */
	bool exact;
};

enum domain_key {
	DKEY_NAME, DKEY_ENABLED, DKEY_ACTION, DKEY_EXACT, DKEY_REASON, DKEY_REF, DKEY_REDIRECT,
	DKEY_FROM, DKEY_UNTIL, DKEY_COUNT
};

enum list_key {
	LKEY_FILE, LKEY_FORMAT, LKEY_ENABLED, LKEY_ACTION, LKEY_REASON, LKEY_REF, LKEY_ON_ERROR,
	LKEY_COUNT
};

enum zone_key {
	ZKEY_NAME, ZKEY_PRIMARIES, ZKEY_TSIG_KEY, ZKEY_TSIG_ALG, ZKEY_TSIG_FILE, ZKEY_ENABLED,
	ZKEY_ACTION, ZKEY_REASON, ZKEY_REF, ZKEY_ON_EXPIRE, ZKEY_COUNT
};

enum dnstap_key {
	DTKEY_SOCKET, DTKEY_FILE, DTKEY_IDENTITY, DTKEY_CQ, DTKEY_CR, DTKEY_FQ, DTKEY_FR, DTKEY_COUNT
};

enum serve_key { SKEY_ZONE, SKEY_ALLOW, SKEY_KEYS, SKEY_NOTIFY, SKEY_HISTORY, SKEY_COUNT };

enum tsig_key_field { TKEY_NAME, TKEY_ALGORITHM, TKEY_SECRET_FILE, TKEY_COUNT };

enum redirect_key { RKEY_A, RKEY_AAAA, RKEY_CNAME, RKEY_TTL, RKEY_COUNT };

extern const struct key_spec root_keys[ROOT_KEY_COUNT];
extern const struct key_spec domain_keys[DKEY_COUNT];
extern const struct key_spec list_keys[LKEY_COUNT];
extern const struct key_spec zone_keys[ZKEY_COUNT];
extern const struct key_spec dnstap_keys[DTKEY_COUNT];
extern const struct key_spec serve_keys[SKEY_COUNT];
extern const struct key_spec tsig_key_keys[TKEY_COUNT];
extern const struct key_spec redirect_keys[RKEY_COUNT];
extern const char *const tsig_algorithms[];       /* zones: the first is the default */
extern const char *const serve_tsig_algorithms[]; /* serve-rpz keys: the first is the default */

/* ---- configfree.c: each frees what the part owns, not the part itself ---- */

void domain_release(struct config_domain *d);
void list_release(struct config_list *l);
void zone_release(struct config_zone *z);
void tsig_key_release(struct config_tsig_key *k);

#endif
