/*
 * configkeys: the schema tables of the configuration file (declared in include/configparts.h),
 * plain constant data: the key names, types, ranges, words and the message for a wrong value
 * of every mapping config.c walks. A new key is a row here (and a field in struct config, its
 * default in defaults.c); config.c's mapping loop needs no change unless the key has a type
 * of its own. A part of config (config-internal), without a header of its own.
 */
#include "config.h"
#include "configparts.h"

#include <stddef.h>

#include "value.h"

#define WORDS(w) .words = w, .nwords = sizeof(w) / sizeof((w)[0])

/* The sequences of scalars, by key type: what a wrong node is told. */
const struct seq_kind seq_kinds[] = {
	{ KEY_ENDPOINTS, false, "expected a sequence of addresses", VALUE_ENDPOINT_FORM,
		"expected at least one address" },
	{ KEY_CIDRS, true, "expected a sequence", "expected a scalar",
		"expected at least one network (0.0.0.0/0 and ::/0 allow everyone)" },
	{ KEY_ADDRS4, true, "expected a sequence", "expected a scalar", NULL },
	{ KEY_ADDRS6, true, "expected a sequence", "expected a scalar", NULL },
	{ KEY_PRIMARIES, true, "expected a sequence", "expected a scalar", NULL },
};

static const char *const deny_words[] = { "refused", "drop" };
static const char *const format_words[] = {
	[LIST_DOMAINS] = "domains", [LIST_HOSTS] = "hosts", [LIST_RPZ] = "rpz",
};
static const char *const on_error_words[] = { "reject", "skip" };
/* log.h's enum log_level, in its order */
static const char *const log_level_words[] = { "error", "warning", "info", "debug" };
/* configdata.h's enum config_udp_io, in its order */
static const char *const udp_io_words[] = { "auto", "io-uring", "sockets" };

#define EXPECTED_NON_EMPTY "expected a non-empty string"
#define EXPECTED_ABSOLUTE "expected an absolute path"

/* Table rows: KEY(name, type, field) plus the members that are not zero. */
#define KEY(n, t, field, ...) { .name = n, .type = t, .off = F(field), __VA_ARGS__ }
#define RANGE(lo, hi) .min = lo, .max = hi
#define EXPECT(text) .expected = text
#define NULLABLE .flags = KEY_NULLABLE

/* The top level. Offsets are into struct config. */
#define F(field) offsetof(struct config, field)
const struct key_spec root_keys[ROOT_KEY_COUNT] = {
	[ROOT_LISTEN] = KEY("listen", KEY_ENDPOINTS, listen, .off2 = F(listen_count), NULLABLE),
	[ROOT_UPSTREAMS] = KEY("upstreams", KEY_ENDPOINTS, upstreams, .off2 = F(upstream_count),
		.max = CONFIG_UPSTREAMS_MAX, NULLABLE),
	[ROOT_NEGATIVE_TTL] = KEY("negative-ttl", KEY_U32, negative_ttl, RANGE(0, 604800)),
	[ROOT_DEFAULT_ACTION] = KEY("default-action", KEY_DEFAULT_ACTION, default_action,
		EXPECT("expected one of nxdomain, nodata, refused, drop, redirect")),
	[ROOT_UPSTREAM_TIMEOUT] = KEY("upstream-timeout-ms", KEY_UINT, upstream_timeout_ms,
		RANGE(10, 60000)),
	[ROOT_WORKERS] = KEY("workers", KEY_UINT, workers, RANGE(0, 64)),
	[ROOT_TCP_IDLE] = KEY("tcp-idle-timeout-ms", KEY_UINT, tcp_idle_timeout_ms,
		RANGE(100, 600000)),
	[ROOT_MAX_TCP] = KEY("max-tcp-connections", KEY_UINT, max_tcp_connections,
		RANGE(1, 1000000)),
	[ROOT_MAX_INFLIGHT] = KEY("max-inflight", KEY_UINT, max_inflight, RANGE(16, 1048576)),
	[ROOT_SOA_MNAME] = KEY("soa-mname", KEY_NAME, soa_mname, .off2 = F(soa_mname_len),
		EXPECT(VALUE_NAME_EXPECTED)),
	[ROOT_SOA_RNAME] = KEY("soa-rname", KEY_NAME, soa_rname, .off2 = F(soa_rname_len),
		EXPECT(VALUE_NAME_EXPECTED)),
	[ROOT_DOMAINS] = KEY("domains", KEY_DOMAINS, domains,
		EXPECT("expected a sequence of mappings"), NULLABLE),
	[ROOT_REDIRECT] = KEY("redirect", KEY_REDIRECT, redirect, NULLABLE),
	[ROOT_INSPECT] = KEY("inspect-answers", KEY_BOOL, inspect_answers,
		EXPECT(VALUE_BOOL_EXPECTED)),
	[ROOT_LISTS] = KEY("lists", KEY_LISTS, lists, EXPECT("expected a sequence of mappings"),
		NULLABLE),
	[ROOT_ALLOW_FROM] = KEY("allow-from", KEY_CIDRS, allow_from, .off2 = F(allow_from_count),
		NULLABLE),
	[ROOT_DENY_ACTION] = KEY("deny-action", KEY_FLAG, deny_drop,
		EXPECT("expected refused or drop"), WORDS(deny_words)),
	[ROOT_RL_QPS] = KEY("rate-limit-qps", KEY_UINT, rate_limit_qps, RANGE(0, 10000000)),
	[ROOT_RL_BURST] = KEY("rate-limit-burst", KEY_UINT, rate_limit_burst, RANGE(1, 20000000)),
	[ROOT_RL_V4] = KEY("rate-limit-ipv4-prefix", KEY_UINT, rate_limit_ipv4_prefix, RANGE(8, 32)),
	[ROOT_RL_V6] = KEY("rate-limit-ipv6-prefix", KEY_UINT, rate_limit_ipv6_prefix,
		RANGE(16, 128)),
	[ROOT_RL_TC] = KEY("rate-limit-tc", KEY_BOOL, rate_limit_tc, EXPECT(VALUE_BOOL_EXPECTED)),
	[ROOT_USER] = KEY("user", KEY_STRING, user, EXPECT(EXPECTED_NON_EMPTY), NULLABLE,
		.pos = F(user_pos)),
	[ROOT_GROUP] = KEY("group", KEY_STRING, group, EXPECT(EXPECTED_NON_EMPTY), NULLABLE,
		.pos = F(group_pos)),
	[ROOT_CHROOT] = KEY("chroot", KEY_PATH, chroot, EXPECT(EXPECTED_ABSOLUTE), NULLABLE,
		.pos = F(chroot_pos)),
	[ROOT_ALLOW_ROOT] = KEY("allow-root", KEY_BOOL, allow_root, EXPECT(VALUE_BOOL_EXPECTED)),
	[ROOT_0X20] = KEY("use-0x20", KEY_BOOL, use_0x20, EXPECT(VALUE_BOOL_EXPECTED)),
	[ROOT_UPSTREAM_SOCKETS] = KEY("upstream-sockets", KEY_UINT, upstream_sockets, RANGE(1, 256)),
	[ROOT_TCP_READ] = KEY("tcp-read-timeout-ms", KEY_UINT, tcp_read_timeout_ms,
		RANGE(100, 600000)),
	[ROOT_CACHE] = KEY("cache-size", KEY_UINT, cache_size, RANGE(0, 10000000)),
	[ROOT_BUSY_POLL] = KEY("busy-poll-us", KEY_UINT, busy_poll_us, RANGE(0, 100000)),
	[ROOT_UDP_CONSOLIDATE] = KEY("udp-consolidate", KEY_UINT, udp_consolidate, RANGE(0, 100)),
	[ROOT_UDP_IO] = KEY("udp-io", KEY_WORD, udp_io,
		EXPECT("expected one of auto, io-uring, sockets"), WORDS(udp_io_words)),
	[ROOT_ZONES] = KEY("zones", KEY_ZONES, zones, EXPECT("expected a sequence of mappings"),
		NULLABLE),
	[ROOT_STATE_DIR] = KEY("state-dir", KEY_PATH, state_dir, EXPECT(EXPECTED_ABSOLUTE), NULLABLE,
		.pos = F(state_dir_pos)),
	[ROOT_SERVE_RPZ] = KEY("serve-rpz", KEY_SERVE, serve, NULLABLE),
	[ROOT_AUDIT_LOG] = KEY("audit-log", KEY_PATH, audit_log, EXPECT(EXPECTED_ABSOLUTE), NULLABLE),
	[ROOT_AUDIT_V4] = KEY("audit-client-ipv4-prefix", KEY_UINT, audit_ipv4_prefix, RANGE(0, 32)),
	[ROOT_AUDIT_V6] = KEY("audit-client-ipv6-prefix", KEY_UINT, audit_ipv6_prefix,
		RANGE(0, 128)),
	[ROOT_AUDIT_BLOCKED] = KEY("audit-blocked", KEY_BOOL, audit_blocked,
		EXPECT(VALUE_BOOL_EXPECTED)),
	[ROOT_AUDIT_CNAME] = KEY("audit-cname-blocked", KEY_BOOL, audit_cname_blocked,
		EXPECT(VALUE_BOOL_EXPECTED)),
	[ROOT_AUDIT_ACL] = KEY("audit-acl-denied", KEY_BOOL, audit_acl_denied,
		EXPECT(VALUE_BOOL_EXPECTED)),
	[ROOT_AUDIT_RATE] = KEY("audit-rate-limited", KEY_BOOL, audit_rate_limited,
		EXPECT(VALUE_BOOL_EXPECTED)),
	[ROOT_AUDIT_BUFFER] = KEY("audit-buffer-kb", KEY_UINT, audit_buffer_kb, RANGE(64, 1048576)),
	[ROOT_DNSTAP] = KEY("dnstap", KEY_DNSTAP, dnstap, NULLABLE),
	[ROOT_CONTROL_SOCKET] = KEY("control-socket", KEY_PATH, control_socket,
		EXPECT(EXPECTED_ABSOLUTE), NULLABLE),
	[ROOT_METRICS_LISTEN] = KEY("metrics-listen", KEY_LOOPBACK, metrics_listen,
		EXPECT(VALUE_ENDPOINT_FORM)),
	[ROOT_LOG_FILE] = KEY("log-file", KEY_PATH, log_file, EXPECT(EXPECTED_ABSOLUTE), NULLABLE),
	[ROOT_LOG_LEVEL] = KEY("log-level", KEY_WORD, log_level,
		EXPECT("expected one of error, warning, info, debug"), WORDS(log_level_words)),
};
#undef F

#define F(field) offsetof(struct domain_state, field)
const struct key_spec domain_keys[DKEY_COUNT] = {
	[DKEY_NAME] = KEY("name", KEY_DOMAIN_NAME, d, EXPECT(VALUE_NAME_EXPECTED)),
	[DKEY_ENABLED] = KEY("enabled", KEY_BOOL, d.enabled, EXPECT(VALUE_BOOL_EXPECTED)),
	[DKEY_ACTION] = KEY("action", KEY_ACTION, d.action, EXPECT(VALUE_ACTION_EXPECTED)),
	[DKEY_EXACT] = KEY("exact", KEY_BOOL, exact, EXPECT(VALUE_BOOL_EXPECTED)),
	[DKEY_REASON] = KEY("reason", KEY_TEXT, d.reason, EXPECT(VALUE_STRING_EXPECTED), NULLABLE),
	[DKEY_REF] = KEY("ref", KEY_TEXT, d.ref, EXPECT(VALUE_STRING_EXPECTED), NULLABLE),
	[DKEY_REDIRECT] = KEY("redirect", KEY_REDIRECT_PTR, d.redirect),
	[DKEY_FROM] = KEY("from", KEY_TIME, d.from, EXPECT(VALUE_TIME_EXPECTED)),
	[DKEY_UNTIL] = KEY("until", KEY_TIME, d.until, EXPECT(VALUE_TIME_EXPECTED)),
};
#undef F

#define F(field) offsetof(struct config_list, field)
const struct key_spec list_keys[LKEY_COUNT] = {
	[LKEY_FILE] = KEY("file", KEY_LIST_FILE, path, EXPECT("expected a file name")),
	[LKEY_FORMAT] = KEY("format", KEY_WORD, format, EXPECT("expected one of domains, hosts, rpz"),
		WORDS(format_words)),
	[LKEY_ENABLED] = KEY("enabled", KEY_BOOL, enabled, EXPECT(VALUE_BOOL_EXPECTED)),
	[LKEY_ACTION] = KEY("action", KEY_ACTION, action, EXPECT(VALUE_ACTION_EXPECTED)),
	[LKEY_REASON] = KEY("reason", KEY_TEXT, reason, EXPECT(VALUE_STRING_EXPECTED), NULLABLE),
	[LKEY_REF] = KEY("ref", KEY_TEXT, ref, EXPECT(VALUE_STRING_EXPECTED), NULLABLE),
	[LKEY_ON_ERROR] = KEY("on-error", KEY_FLAG, skip_bad_lines,
		EXPECT("expected reject or skip"), WORDS(on_error_words)),
};
#undef F

/* The TSIG algorithms ldns signs and verifies with; hmac-sha256 is the default. */
const char *const tsig_algorithms[] = {
	"hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1",
};
static const char *const on_expire_words[] = { "keep", "drop" };

#define F(field) offsetof(struct config_zone, field)
const struct key_spec zone_keys[ZKEY_COUNT] = {
	[ZKEY_NAME] = KEY("name", KEY_ZONE_NAME, name, EXPECT(VALUE_NAME_EXPECTED)),
	[ZKEY_PRIMARIES] = KEY("primaries", KEY_PRIMARIES, primaries, .off2 = F(primary_count)),
	[ZKEY_TSIG_KEY] = KEY("tsig-key", KEY_TSIG_NAME, tsig_name, EXPECT(VALUE_NAME_EXPECTED)),
	[ZKEY_TSIG_ALG] = KEY("tsig-algorithm", KEY_TSIG_ALG, tsig_algorithm,
		EXPECT("expected one of hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1"),
		WORDS(tsig_algorithms)),
	[ZKEY_TSIG_FILE] = KEY("tsig-secret-file", KEY_SECRET_FILE, tsig_secret_file,
		EXPECT("expected a file name")),
	[ZKEY_ENABLED] = KEY("enabled", KEY_BOOL, enabled, EXPECT(VALUE_BOOL_EXPECTED)),
	[ZKEY_ACTION] = KEY("action", KEY_ZONE_ACTION, action,
		EXPECT("expected one of nxdomain, nodata, refused, drop, allow")),
	[ZKEY_REASON] = KEY("reason", KEY_TEXT, reason, EXPECT(VALUE_STRING_EXPECTED), NULLABLE),
	[ZKEY_REF] = KEY("ref", KEY_TEXT, ref, EXPECT(VALUE_STRING_EXPECTED), NULLABLE),
	[ZKEY_ON_EXPIRE] = KEY("on-expire", KEY_FLAG, expire_drop, EXPECT("expected keep or drop"),
		WORDS(on_expire_words)),
};
#undef F

#define F(field) offsetof(struct config_dnstap, field)
const struct key_spec dnstap_keys[DTKEY_COUNT] = {
	[DTKEY_SOCKET] = KEY("socket", KEY_PATH, socket, EXPECT(EXPECTED_ABSOLUTE), NULLABLE),
	[DTKEY_FILE] = KEY("file", KEY_PATH, file, EXPECT(EXPECTED_ABSOLUTE), NULLABLE),
	[DTKEY_IDENTITY] = KEY("identity", KEY_STRING, identity, EXPECT(EXPECTED_NON_EMPTY),
		NULLABLE),
	[DTKEY_CQ] = KEY("client-query", KEY_BOOL, client_query, EXPECT(VALUE_BOOL_EXPECTED)),
	[DTKEY_CR] = KEY("client-response", KEY_BOOL, client_response, EXPECT(VALUE_BOOL_EXPECTED)),
	[DTKEY_FQ] = KEY("forwarder-query", KEY_BOOL, forwarder_query, EXPECT(VALUE_BOOL_EXPECTED)),
	[DTKEY_FR] = KEY("forwarder-response", KEY_BOOL, forwarder_response,
		EXPECT(VALUE_BOOL_EXPECTED)),
};
#undef F

#define F(field) offsetof(struct config_serve, field)
const struct key_spec serve_keys[SKEY_COUNT] = {
	[SKEY_ZONE] = KEY("zone", KEY_DOTTED_NAME, zone, EXPECT(VALUE_NAME_EXPECTED)),
	[SKEY_ALLOW] = KEY("allow", KEY_CIDRS, allow, .off2 = F(allow_count),
		EXPECT("expected at least one network")),
	[SKEY_KEYS] = KEY("keys", KEY_TSIG_KEYS, keys, .off2 = F(key_count),
		EXPECT("expected a sequence of mappings"), NULLABLE),
	[SKEY_NOTIFY] = KEY("notify", KEY_PRIMARIES, notify, .off2 = F(notify_count), NULLABLE),
	[SKEY_HISTORY] = KEY("history", KEY_UINT, history, RANGE(1, 1000)),
};
#undef F

/* The TSIG algorithms serve-rpz offers: what ldns signs with, minus MD5, SHA-1 and SHA-224. */
const char *const serve_tsig_algorithms[] = { "hmac-sha256", "hmac-sha384", "hmac-sha512" };

#define F(field) offsetof(struct config_tsig_key, field)
const struct key_spec tsig_key_keys[TKEY_COUNT] = {
	[TKEY_NAME] = KEY("name", KEY_DOTTED_NAME, name, EXPECT(VALUE_STRING_EXPECTED)),
	[TKEY_ALGORITHM] = KEY("algorithm", KEY_TSIG_ALG, algorithm,
		EXPECT("expected hmac-sha256, hmac-sha384 or hmac-sha512"),
		WORDS(serve_tsig_algorithms)),
	[TKEY_SECRET_FILE] = KEY("secret-file", KEY_LIST_FILE, secret_file,
		EXPECT(VALUE_STRING_EXPECTED)),
};
#undef F

#define F(field) offsetof(struct config_redirect, field)
const struct key_spec redirect_keys[RKEY_COUNT] = {
	[RKEY_A] = KEY("a", KEY_ADDRS4, a, .off2 = F(a_count)),
	[RKEY_AAAA] = KEY("aaaa", KEY_ADDRS6, aaaa, .off2 = F(aaaa_count)),
	[RKEY_CNAME] = KEY("cname", KEY_NAME, cname, .off2 = F(cname_len),
		EXPECT(VALUE_NAME_EXPECTED)),
	[RKEY_TTL] = KEY("ttl", KEY_U32, ttl, RANGE(0, 86400)),
};
#undef F
