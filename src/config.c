/*
 * config: reads the YAML policy file into a validated struct config (see include/config.h).
 *
 * The file is read with libyaml's event API rather than its document API: the document loader
 * recurses once per nesting level (so "[[[[..." a few hundred thousand deep overflows the stack)
 * and keeps the whole tree in memory, while the events arrive from a parser that keeps its state
 * on the heap. Our schema is only four levels deep (file, key, domains entry, value), so it is
 * walked by a few small functions, and anything unexpected is skipped as a whole with a counter.
 *
 * Every problem is reported to the diag with the 1-based position of the offending node, then
 * the node is skipped and loading goes on, so one run shows all of them. Only a YAML error stops
 * the walk: after one, libyaml can produce no further events.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <idn2.h>
#include <ldns/ldns.h>
#include <yaml.h>

#define DNS_PORT 53
#define LABEL_MAX 63
#define RESOLV_CONF "/etc/resolv.conf"
#define RESOLV_CONF_ENV "BLOKIR_RESOLV_CONF"
#define DEFAULT_LISTEN "127.0.0.1:53"
#define DEFAULT_SOA_MNAME "blokir.invalid."
#define DEFAULT_SOA_RNAME "hostmaster.blokir.invalid."
#define DEFAULT_STATE_DIR "/var/lib/blokir"

/* Indexed by enum policy_action. */
static const char *const action_names[] = {
	[ACTION_NXDOMAIN] = "nxdomain",
	[ACTION_NODATA] = "nodata",
	[ACTION_REFUSED] = "refused",
	[ACTION_DROP] = "drop",
	[ACTION_ALLOW] = "allow",
	[ACTION_REDIRECT] = "redirect",
	[ACTION_DEFAULT] = "default",
};

const char *config_action_name(enum policy_action action)
{
	if ((size_t)action >= sizeof(action_names) / sizeof(action_names[0]))
		return "?";
	return action_names[action];
}

/* ---- plain values ---------------------------------------------------------------------------- */

/*
 * Decimal only, MIN..MAX. Leading zeros are refused because YAML 1.1 reads "010" as octal 8: an
 * operator who wrote it meant one of the two, and we would rather ask than guess.
 */
static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max) /* also stops overflow: MAX is far below ULONG_MAX / 10 */
			return -1;
	}
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

/* YAML 1.1 booleans, the spellings operators actually use. */
static int parse_bool(const char *s, bool *out)
{
	if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0)
		*out = true;
	else if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

/* An action by name, up to and including LAST (ACTION_DROP where "allow" makes no sense). */
static int parse_action(const char *s, enum policy_action last, enum policy_action *out)
{
	for (int a = ACTION_NXDOMAIN; a <= (int)last; a++) {
		if (strcasecmp(s, action_names[a]) == 0) {
			*out = (enum policy_action)a;
			return 0;
		}
	}
	return -1;
}

/* ---- names ----------------------------------------------------------------------------------- */

static bool is_label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_';
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * Checks TEXT's syntax before ldns sees it. ldns accepts far more than belongs in a policy file
 * (escapes like "\046", spaces, "*" anywhere) and reports overflows without saying which limit,
 * so the checks here give the operator a precise message. Returns NULL or a static description.
 */
static const char *name_check(const char *text)
{
	size_t len = strlen(text), label = 0, wire = 1; /* 1: the root label */

	if (len == 0)
		return "empty name";
	if (strcmp(text, ".") == 0)
		return NULL;
	if (text[len - 1] == '.')
		len--;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '.') {
			if (label == 0)
				return "empty label";
			wire += label + 1;
			label = 0;
		} else if (c == '*') {
			return "\"*\" is only allowed as a leading \"*.\"";
		} else if (!is_label_char(c)) {
			return "invalid character: expected letters, digits, \"-\", \"_\" and \".\"";
		} else if (++label > LABEL_MAX) {
			return "label longer than 63 octets";
		}
	}
	if (label == 0)
		return "empty label";
	wire += label + 1;
	if (wire > CONFIG_NAME_MAX)
		return "name longer than 255 octets";
	return NULL;
}

static bool has_non_ascii(const char *text)
{
	for (; *text != '\0'; text++)
		if ((unsigned char)*text >= 0x80)
			return true;
	return false;
}

/*
 * TEXT with its Unicode labels converted to A-labels (IDNA2008, nontransitional, input
 * normalized to NFC as UTS #46 does), in a new string the caller frees; NULL with *ERR set when
 * the name is not a valid internationalized name or memory ran out.
 */
char *config_name_to_ascii(const char *text, const char **err)
{
	static _Thread_local char msg[160];
	char *ascii = NULL; /* allocated by libidn2, freed by the caller with free() */
	int rc = idn2_to_ascii_8z(text, &ascii, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);

	if (rc == IDN2_OK)
		return ascii;
	snprintf(msg, sizeof(msg), "invalid internationalized name: %s", idn2_strerror(rc));
	*err = msg;
	return NULL;
}

int config_parse_name(const char *text, uint8_t *out, size_t *out_len, const char **err)
{
	ldns_rdf *rdf = NULL; /* owned, freed below */
	char *ascii = NULL;   /* owned: the A-label form of a Unicode name */
	int rc = -1;

	if (has_non_ascii(text)) {
		if ((ascii = config_name_to_ascii(text, err)) == NULL)
			goto out;
		text = ascii;
	}
	*err = name_check(text);
	if (*err != NULL)
		goto out;
	/* After name_check this cannot fail but for lack of memory; ldns stays the one authority on
	 * presentation-to-wire conversion all the same. */
	if (ldns_str2rdf_dname(&rdf, text) != LDNS_STATUS_OK || rdf == NULL) {
		*err = "expected a domain name";
		goto out;
	}
	ldns_dname2canonical(rdf); /* lower-cases in place */
	if (ldns_rdf_size(rdf) > CONFIG_NAME_MAX) {
		*err = "name longer than 255 octets";
		goto out;
	}
	memcpy(out, ldns_rdf_data(rdf), ldns_rdf_size(rdf));
	*out_len = ldns_rdf_size(rdf);
	rc = 0;
out:
	if (rdf != NULL)
		ldns_rdf_deep_free(rdf);
	free(ascii);
	return rc;
}

/* ---- endpoints ------------------------------------------------------------------------------- */

static const char ENDPOINT_FORM[] = "expected ADDR:PORT, [IPV6]:PORT or an address alone";
static const char ENDPOINT_ADDR[] = "expected an IPv4 or IPv6 address";
static const char ENDPOINT_PORT[] = "expected a port 1..65535";

int config_parse_endpoint(const char *text, uint16_t default_port, struct config_endpoint *out,
	const char **err)
{
	char host[INET6_ADDRSTRLEN];
	const char *start = text, *end, *port = NULL, *colon;
	unsigned long portnum = default_port;
	uint16_t port16;
	int family = AF_INET;

	if (text[0] == '[') {
		start = text + 1;
		end = strchr(start, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
			*err = ENDPOINT_FORM;
			return -1;
		}
		if (end[1] == ':')
			port = end + 2;
		family = AF_INET6;
	} else if ((colon = strchr(text, ':')) != NULL && strchr(colon + 1, ':') != NULL) {
		end = text + strlen(text); /* two colons: a bare IPv6 address, which cannot carry a port */
		family = AF_INET6;
	} else if (colon != NULL) {
		end = colon;
		port = colon + 1;
	} else {
		end = text + strlen(text);
	}
	if (end == start || (size_t)(end - start) >= sizeof(host)) {
		*err = ENDPOINT_ADDR;
		return -1;
	}
	memcpy(host, start, (size_t)(end - start));
	host[end - start] = '\0';
	if ((port != NULL && parse_uint(port, 1, 65535, &portnum) < 0) || portnum == 0) {
		*err = ENDPOINT_PORT;
		return -1;
	}

	port16 = (uint16_t)portnum; /* the type tells the compiler the text fits */
	memset(out, 0, sizeof(*out));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->addr;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto bad_addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port16);
		out->addrlen = sizeof(*sin);
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(out->text, sizeof(out->text), "%s:%u", host, (unsigned)port16);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->addr;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto bad_addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port16);
		out->addrlen = sizeof(*sin6);
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(out->text, sizeof(out->text), "[%s]:%u", host, (unsigned)port16);
	}
	return 0;
bad_addr:
	memset(out, 0, sizeof(*out));
	*err = ENDPOINT_ADDR;
	return -1;
}

/* ---- the loader: events, positions, anchors -------------------------------------------------- */

/* An anchored node, so that an alias to it can be read. Only scalars can be aliased. */
struct anchor {
	char *name;  /* owned */
	char *value; /* owned; NULL when the anchor is on a sequence or mapping */
	size_t len;
	bool plain;
};

enum root_key {
	ROOT_LISTEN, ROOT_UPSTREAMS, ROOT_NEGATIVE_TTL, ROOT_DEFAULT_ACTION, ROOT_UPSTREAM_TIMEOUT,
	ROOT_WORKERS, ROOT_TCP_IDLE, ROOT_MAX_TCP, ROOT_MAX_INFLIGHT, ROOT_SOA_MNAME, ROOT_SOA_RNAME,
	ROOT_DOMAINS, ROOT_REDIRECT, ROOT_INSPECT, ROOT_LISTS, ROOT_ALLOW_FROM, ROOT_DENY_ACTION,
	ROOT_RL_QPS, ROOT_RL_BURST, ROOT_RL_V4, ROOT_RL_V6, ROOT_RL_TC, ROOT_USER, ROOT_GROUP,
	ROOT_CHROOT, ROOT_ALLOW_ROOT, ROOT_0X20, ROOT_UPSTREAM_SOCKETS, ROOT_TCP_READ, ROOT_CACHE,
	ROOT_BUSY_POLL, ROOT_ZONES, ROOT_STATE_DIR, ROOT_SERVE_RPZ, ROOT_AUDIT_LOG, ROOT_AUDIT_V4,
	ROOT_AUDIT_V6, ROOT_AUDIT_BLOCKED, ROOT_AUDIT_CNAME, ROOT_AUDIT_ACL, ROOT_AUDIT_RATE,
	ROOT_AUDIT_BUFFER, ROOT_DNSTAP, ROOT_CONTROL_SOCKET, ROOT_METRICS_LISTEN, ROOT_KEY_COUNT
};

struct loader {
	const char *path;      /* borrowed */
	struct diag *diag;     /* borrowed */
	struct config *cfg;    /* borrowed from config_load, which frees it on error */
	FILE *fp;              /* borrowed: the file libyaml reads */
	yaml_parser_t parser;
	yaml_event_t ev;       /* the current event; owned while have_ev */
	bool have_ev;
	bool broken;           /* a YAML error or out of memory: no further events */
	size_t errors;         /* reported by this load */
	bool given[ROOT_KEY_COUNT]; /* the key was present with a non-null value */
	size_t domain_cap;
	yaml_mark_t redirect_mark; /* where the top-level "redirect" is, when given */
	struct anchor *anchors; size_t anchor_count, anchor_cap; /* owned */
};

/* A scalar value, borrowed from the current event or an anchor: valid until the next advance(). */
struct scalar {
	const char *text;
	size_t len;
	bool plain;
};

__attribute__((format(printf, 3, 4)))
static void report(struct loader *ld, const yaml_mark_t *mark, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* libyaml counts from 0, editors and diag from 1 */
	if (mark != NULL)
		diag_add(ld->diag, ld->path, (unsigned)mark->line + 1, (unsigned)mark->column + 1,
			"%s", msg);
	else
		diag_add(ld->diag, ld->path, 0, 0, "%s", msg);
	ld->errors++;
}

/* Reports running out of memory once and stops the walk. Returns false for the caller to pass on. */
static bool oom(struct loader *ld)
{
	if (!ld->broken)
		report(ld, NULL, "out of memory");
	ld->broken = true;
	return false;
}

static void report_yaml_error(struct loader *ld)
{
	const yaml_parser_t *p = &ld->parser;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		oom(ld);
		return;
	case YAML_READER_ERROR:
		/* the reader knows a byte offset only (bad UTF-8, a failed read) */
		if (ld->fp != NULL && ferror(ld->fp))
			report(ld, NULL, "read error: %s", strerror(errno));
		else
			report(ld, NULL, "%s at byte %zu", p->problem, p->problem_offset);
		return;
	default:
		if (p->context != NULL)
			report(ld, &p->problem_mark, "%s (%s at %zu:%zu)", p->problem, p->context,
				p->context_mark.line + 1, p->context_mark.column + 1);
		else
			report(ld, &p->problem_mark, "%s", p->problem ? p->problem : "YAML error");
		return;
	}
}

static const struct anchor *anchor_find(const struct loader *ld, const yaml_char_t *name)
{
	/* from the newest: YAML 1.2 lets a later anchor of the same name replace an earlier one */
	for (size_t i = ld->anchor_count; i-- > 0;)
		if (strcmp(ld->anchors[i].name, (const char *)name) == 0)
			return &ld->anchors[i];
	return NULL;
}

/* Remembers the current event's anchor, if it has one. Returns false when out of memory. */
static bool anchor_record(struct loader *ld)
{
	const yaml_event_t *ev = &ld->ev;
	const yaml_char_t *name = NULL;
	struct anchor a = { 0 };

	if (ev->type == YAML_SCALAR_EVENT)
		name = ev->data.scalar.anchor;
	else if (ev->type == YAML_SEQUENCE_START_EVENT)
		name = ev->data.sequence_start.anchor;
	else if (ev->type == YAML_MAPPING_START_EVENT)
		name = ev->data.mapping_start.anchor;
	if (name == NULL)
		return true;
	if (ld->anchor_count == ld->anchor_cap) {
		size_t ncap = ld->anchor_cap ? ld->anchor_cap * 2 : 8;
		struct anchor *na = realloc(ld->anchors, ncap * sizeof(*na));

		if (na == NULL)
			return false;
		ld->anchors = na;
		ld->anchor_cap = ncap;
	}
	a.name = strdup((const char *)name);
	if (a.name == NULL)
		goto fail;
	if (ev->type == YAML_SCALAR_EVENT) {
		a.len = ev->data.scalar.length;
		a.plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		a.value = malloc(a.len + 1);
		if (a.value == NULL)
			goto fail;
		memcpy(a.value, ev->data.scalar.value, a.len + 1);
	}
	ld->anchors[ld->anchor_count++] = a; /* the table owns both strings now */
	return true;
fail:
	free(a.name);
	return false;
}

/*
 * Moves to the next event. Returns false, with the reason reported, when there is none to be had:
 * a YAML error, out of memory, or an alias this loader cannot read (undefined, or of a sequence or
 * mapping, which our schema never needs and whose replay would need the whole tree kept).
 */
static bool advance(struct loader *ld)
{
	const struct anchor *a;

	if (ld->have_ev)
		yaml_event_delete(&ld->ev);
	ld->have_ev = false;
	if (ld->broken)
		return false;
	if (!yaml_parser_parse(&ld->parser, &ld->ev)) {
		report_yaml_error(ld);
		ld->broken = true;
		return false;
	}
	ld->have_ev = true;
	if (!anchor_record(ld))
		return oom(ld);
	if (ld->ev.type != YAML_ALIAS_EVENT)
		return true;
	a = anchor_find(ld, ld->ev.data.alias.anchor);
	if (a == NULL)
		report(ld, &ld->ev.start_mark, "undefined alias \"%.64s\"",
			(const char *)ld->ev.data.alias.anchor);
	else if (a->value == NULL)
		report(ld, &ld->ev.start_mark, "aliases of sequences and mappings are not supported");
	else
		return true;
	ld->broken = true;
	return false;
}

/* Consumes the node starting at the current event, however deep, without recursing. */
static bool skip_node(struct loader *ld)
{
	size_t depth = 0;

	do {
		switch (ld->ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		if (!advance(ld))
			return false;
	} while (depth > 0);
	return true;
}

/*
 * The current event as a scalar (directly or through an alias). Returns -1 for anything else, and
 * for a scalar holding an escaped NUL ("\0"), which would silently cut the C string short.
 */
static int scalar_get(const struct loader *ld, struct scalar *s)
{
	const yaml_event_t *ev = &ld->ev;

	if (ev->type == YAML_SCALAR_EVENT) {
		s->text = (const char *)ev->data.scalar.value;
		s->len = ev->data.scalar.length;
		s->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	} else if (ev->type == YAML_ALIAS_EVENT) {
		const struct anchor *a = anchor_find(ld, ev->data.alias.anchor);

		/* advance() has checked that it names a scalar */
		s->text = a->value;
		s->len = a->len;
		s->plain = a->plain;
	} else {
		return -1;
	}
	return strlen(s->text) == s->len ? 0 : -1;
}

/* YAML's null: an empty value, "~" or "null", unquoted. */
static bool scalar_is_null(const struct scalar *s)
{
	return s->plain && (s->len == 0 || strcmp(s->text, "~") == 0 ||
		strcmp(s->text, "null") == 0 || strcmp(s->text, "Null") == 0 ||
		strcmp(s->text, "NULL") == 0);
}

static bool current_is_null(const struct loader *ld)
{
	struct scalar s;

	return scalar_get(ld, &s) == 0 && scalar_is_null(&s);
}

/*
 * The mapping key at the current event, looked up in NAMES: returns its index, or N after
 * reporting an unknown or repeated key (YAML requires keys to be unique; a second value would
 * silently win or lose).
 */
static size_t key_find(struct loader *ld, const char *const *names, size_t n, const bool *seen)
{
	struct scalar key;
	size_t k;

	if (scalar_get(ld, &key) < 0) {
		report(ld, &ld->ev.start_mark, "expected a key name");
		return n;
	}
	for (k = 0; k < n; k++)
		if (strcmp(key.text, names[k]) == 0)
			break;
	if (k == n)
		report(ld, &ld->ev.start_mark, "unknown key \"%.64s\"", key.text);
	else if (seen[k])
		report(ld, &ld->ev.start_mark, "duplicate key \"%s\"", names[k]);
	else
		return k;
	return n;
}

#define TIME_EXPECTED "expected an RFC 3339 time such as 2017-08-10T00:00:00+07:00"

/* ---- timestamps ------------------------------------------------------------------------------ */

/* Days from 1970-01-01 to Y-M-D in the proleptic Gregorian calendar (Howard Hinnant's method). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* N decimal digits at *P, advancing it. Returns -1 when they are not all digits. */
static int take_digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

static bool take_char(const char **p, const char *set)
{
	if (**p == '\0' || strchr(set, **p) == NULL)
		return false;
	(*p)++;
	return true;
}

/*
 * An RFC 3339 date-time ("2017-08-10T00:00:00+07:00", "2017-08-09T17:00:00Z", with optional
 * fractional seconds, which are dropped) to unix seconds. The offset is required: a timestamp
 * without one would mean a different instant on every server it is deployed to.
 */
int config_parse_time(const char *text, int64_t *out)
{
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = text;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	bool leap;

	if ((y = take_digits(&p, 4)) < 0 || !take_char(&p, "-") || (mo = take_digits(&p, 2)) < 0 ||
		!take_char(&p, "-") || (d = take_digits(&p, 2)) < 0 || !take_char(&p, "Tt") ||
		(h = take_digits(&p, 2)) < 0 || !take_char(&p, ":") || (mi = take_digits(&p, 2)) < 0 ||
		!take_char(&p, ":") || (sec = take_digits(&p, 2)) < 0)
		return -1;
	if (take_char(&p, ".")) {
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (!take_char(&p, "Zz")) {
		sign = *p == '+' ? 1 : *p == '-' ? -1 : 0;
		if (sign == 0 || !take_char(&p, "+-") || (oh = take_digits(&p, 2)) < 0 ||
			!take_char(&p, ":") || (om = take_digits(&p, 2)) < 0 || oh > 23 || om > 59)
			return -1;
	}
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 ||
		(unsigned)d > mdays[mo - 1] - (mo == 2 && !leap) || h > 23 || mi > 59 || sec > 60)
		return -1;
	*out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec -
		sign * (oh * 3600 + om * 60);
	return 0;
}

/* ---- sequences of scalars -------------------------------------------------------------------- */

/*
 * One item of a scalar sequence; reports its own problems at the current event. Returns false
 * only when out of memory.
 */
typedef bool scalar_item_cb(struct loader *ld, const char *where, size_t index,
	const struct scalar *s, void *ctx);

/*
 * A sequence of scalars (or one scalar, read as a sequence of one), each handed to ITEM; consumes
 * the node. *COUNT is how many items there were. Returns false when the walk must stop.
 */
static bool load_scalar_seq(struct loader *ld, const char *where, scalar_item_cb *item, void *ctx,
	size_t *count)
{
	struct scalar s;

	*count = 0;
	if (scalar_get(ld, &s) == 0) {
		*count = 1;
		if (!item(ld, where, 0, &s, ctx))
			return oom(ld);
		return skip_node(ld);
	}
	if (ld->ev.type != YAML_SEQUENCE_START_EVENT) {
		report(ld, &ld->ev.start_mark, "%s: expected a sequence", where);
		return skip_node(ld);
	}
	if (!advance(ld))
		return false;
	for (; ld->ev.type != YAML_SEQUENCE_END_EVENT; (*count)++) {
		if (scalar_get(ld, &s) < 0)
			report(ld, &ld->ev.start_mark, "%s[%zu]: expected a scalar", where, *count);
		else if (!item(ld, where, *count, &s, ctx))
			return oom(ld);
		if (!skip_node(ld))
			return false;
	}
	return advance(ld);
}

/* ---- redirect: the landing page -------------------------------------------------------------- */

enum redirect_key { RKEY_A, RKEY_AAAA, RKEY_CNAME, RKEY_TTL, RKEY_COUNT };

static const char *const redirect_keys[RKEY_COUNT] = {
	[RKEY_A] = "a", [RKEY_AAAA] = "aaaa", [RKEY_CNAME] = "cname", [RKEY_TTL] = "ttl",
};

#define REDIRECT_TTL_DEFAULT 30
#define REDIRECT_TTL_MAX 86400

/* An "a" or "aaaa" item: appended to the redirect's array of that family. */
static bool redirect_addr(struct loader *ld, const char *where, size_t index,
	const struct scalar *s, void *ctx)
{
	struct config_redirect *r = ctx;
	bool v6 = strcmp(where + strlen(where) - 4, "aaaa") == 0;
	uint8_t buf[16];
	void *na;

	if (inet_pton(v6 ? AF_INET6 : AF_INET, s->text, buf) != 1) {
		report(ld, &ld->ev.start_mark, "%s[%zu]: expected an %s address", where, index,
			v6 ? "IPv6" : "IPv4");
		return true;
	}
	if (v6) {
		if ((na = realloc(r->aaaa, (r->aaaa_count + 1) * 16)) == NULL)
			return false;
		r->aaaa = na;
		memcpy(r->aaaa[r->aaaa_count++], buf, 16);
	} else {
		if ((na = realloc(r->a, (r->a_count + 1) * 4)) == NULL)
			return false;
		r->a = na;
		memcpy(r->a[r->a_count++], buf, 4);
	}
	return true;
}

static void redirect_release(struct config_redirect *r)
{
	free(r->a);
	free(r->aaaa);
	memset(r, 0, sizeof(*r));
}

/* One key of a redirect mapping, its value the current event; consumes the value. */
static bool redirect_value(struct loader *ld, const char *where, struct config_redirect *r,
	enum redirect_key k)
{
	char sub[96];
	unsigned long v;
	struct scalar s;
	size_t n;
	const char *err = "expected a domain name";

	snprintf(sub, sizeof(sub), "%s.%s", where, redirect_keys[k]);
	if (k == RKEY_A || k == RKEY_AAAA)
		return load_scalar_seq(ld, sub, redirect_addr, r, &n);
	if (scalar_get(ld, &s) < 0 || (k == RKEY_TTL && parse_uint(s.text, 0, REDIRECT_TTL_MAX,
		&v) < 0) || (k == RKEY_CNAME && config_parse_name(s.text, r->cname, &r->cname_len,
		&err) < 0)) {
		if (k == RKEY_TTL)
			report(ld, &ld->ev.start_mark, "%s: expected an integer 0..%d", sub,
				REDIRECT_TTL_MAX);
		else
			report(ld, &ld->ev.start_mark, "%s: %s", sub, err);
	} else if (k == RKEY_TTL) {
		r->ttl = (uint32_t)v;
	}
	return skip_node(ld);
}

/*
 * "redirect": a mapping {a, aaaa, cname, ttl}, read into R (whose arrays it owns from then on,
 * even after an error). WHERE prefixes the diagnostics. Consumes the node; returns false when
 * the walk must stop.
 */
static bool load_redirect(struct loader *ld, const char *where, struct config_redirect *r)
{
	bool seen[RKEY_COUNT] = { false };
	yaml_mark_t start = ld->ev.start_mark;

	r->ttl = REDIRECT_TTL_DEFAULT;
	r->set = true;
	if (ld->ev.type != YAML_MAPPING_START_EVENT) {
		report(ld, &start, "%s: expected a mapping with a, aaaa, cname or ttl", where);
		return skip_node(ld);
	}
	if (!advance(ld))
		return false;
	while (ld->ev.type != YAML_MAPPING_END_EVENT) {
		size_t k = key_find(ld, redirect_keys, RKEY_COUNT, seen);

		if (!skip_node(ld))
			return false;
		if (k < RKEY_COUNT)
			seen[k] = true;
		if (!(k < RKEY_COUNT ? redirect_value(ld, where, r, (enum redirect_key)k) :
			skip_node(ld)))
			return false;
	}
	if (!seen[RKEY_A] && !seen[RKEY_AAAA] && !seen[RKEY_CNAME])
		report(ld, &start, "%s: expected at least one of a, aaaa, cname", where);
	else if (seen[RKEY_CNAME] && (seen[RKEY_A] || seen[RKEY_AAAA]))
		report(ld, &start, "%s: a cname cannot be combined with a or aaaa addresses", where);
	return advance(ld);
}

/* A deep copy of SRC into DST (which the caller releases). Returns -1 when out of memory. */
int config_redirect_copy(struct config_redirect *dst, const struct config_redirect *src)
{
	*dst = *src;
	dst->a = NULL;
	dst->aaaa = NULL;
	if (src->a_count > 0 && (dst->a = malloc(src->a_count * 4)) == NULL)
		goto fail;
	if (src->aaaa_count > 0 && (dst->aaaa = malloc(src->aaaa_count * 16)) == NULL)
		goto fail;
	if (src->a_count > 0)
		memcpy(dst->a, src->a, src->a_count * 4);
	if (src->aaaa_count > 0)
		memcpy(dst->aaaa, src->aaaa, src->aaaa_count * 16);
	return 0;
fail:
	redirect_release(dst);
	return -1;
}

void config_redirect_release(struct config_redirect *r)
{
	redirect_release(r);
}

/* ---- networks (allow-from) ------------------------------------------------------------------- */

/*
 * "ADDR/PREFIX" or "ADDR" (a single host) into OUT. Returns NULL or a static description. Host
 * bits must be zero: "10.1.2.3/8" is more often a typo for /32 than a deliberate /8.
 */
const char *config_parse_cidr(const char *text, struct config_cidr *out)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned long prefix;
	unsigned max;

	memset(out, 0, sizeof(*out));
	if (hlen == 0 || hlen >= sizeof(host))
		return "expected ADDR/PREFIX with an IPv4 or IPv6 address";
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = AF_INET6;
	else
		return "expected ADDR/PREFIX with an IPv4 or IPv6 address";
	max = out->family == AF_INET ? 32 : 128;
	if (slash != NULL && parse_uint(slash + 1, 0, max, &prefix) < 0)
		return out->family == AF_INET ? "expected a prefix length 0..32" :
			"expected a prefix length 0..128";
	out->prefix = slash != NULL ? (unsigned)prefix : max;
	for (unsigned bit = out->prefix; bit < max; bit++)
		if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
			return "host bits set after the prefix length";
	return NULL;
}

static bool cidr_item(struct loader *ld, const char *where, size_t index, const struct scalar *s,
	void *ctx)
{
	struct config *cfg = ctx;
	struct config_cidr c, *na;
	const char *err = config_parse_cidr(s->text, &c);

	if (err != NULL) {
		report(ld, &ld->ev.start_mark, "%s[%zu]: %s", where, index, err);
		return true;
	}
	if ((na = realloc(cfg->allow_from, (cfg->allow_from_count + 1) * sizeof(*na))) == NULL)
		return false;
	na[cfg->allow_from_count++] = c;
	cfg->allow_from = na;
	return true;
}

/* ---- domains entries ------------------------------------------------------------------------- */

enum domain_key {
	DKEY_NAME, DKEY_ENABLED, DKEY_ACTION, DKEY_EXACT, DKEY_REASON, DKEY_REF, DKEY_REDIRECT,
	DKEY_FROM, DKEY_UNTIL, DKEY_COUNT
};

static const char *const domain_keys[DKEY_COUNT] = {
	[DKEY_NAME] = "name", [DKEY_ENABLED] = "enabled", [DKEY_ACTION] = "action",
	[DKEY_EXACT] = "exact", [DKEY_REASON] = "reason", [DKEY_REF] = "ref",
	[DKEY_REDIRECT] = "redirect", [DKEY_FROM] = "from", [DKEY_UNTIL] = "until",
};

/* An entry being read: what config_domain holds plus what is needed to check it as a whole. */
struct domain_state {
	struct config_domain d; /* its strings are owned until the entry is appended */
	size_t index;
	bool seen[DKEY_COUNT];
	bool exact;
	yaml_mark_t exact_mark;
	yaml_mark_t until_mark, redirect_mark;
	bool until_epoch; /* "until" parsed, but at or before 1970: never active */
};

/* The presentation form config_domain.text keeps: lower case, no trailing dot. Caller owns. */
static char *name_text(const char *name, bool below)
{
	size_t len = strlen(name), off = below ? 2 : 0;
	char *text;

	if (len > 1 && name[len - 1] == '.')
		len--;
	text = malloc(off + len + 1);
	if (text == NULL)
		return NULL;
	memcpy(text, "*.", off);
	for (size_t i = 0; i < len; i++)
		text[off + i] = ascii_lower(name[i]);
	text[off + len] = '\0';
	return text;
}

/* "name": the wire name, text, form and position. Returns -1 after reporting a problem. */
static int domain_name(struct loader *ld, struct domain_state *st, const struct scalar *s)
{
	struct config_domain *d = &st->d;
	const char *name = s->text, *err;
	bool below = strncmp(name, "*.", 2) == 0;

	if (below)
		name += 2; /* the "*." selects the form; the wire name is the part after it */
	char *ascii = NULL; /* owned: the A-label form of a Unicode name */

	if (below && (name[0] == '\0' || strcmp(name, ".") == 0))
		err = "expected a name after \"*.\"";
	else if (config_parse_name(name, d->name, &d->name_len, &err) == 0)
		err = NULL;
	if (err != NULL) {
		report(ld, &ld->ev.start_mark, "domains[%zu].name: %s", st->index, err);
		return -1;
	}
	/* the text logs and exports show is the A-label form the matcher uses */
	if (has_non_ascii(name) && (ascii = config_name_to_ascii(name, &err)) != NULL)
		name = ascii;
	d->text = name_text(name, below);
	free(ascii);
	if (d->text == NULL) {
		oom(ld);
		return -1;
	}
	d->form = below ? MATCH_BELOW : MATCH_SUBTREE;
	d->line = (unsigned)ld->ev.start_mark.line + 1;
	d->column = (unsigned)ld->ev.start_mark.column + 1;
	return 0;
}

/* "reason", "ref": free text, or absent when null. */
static int domain_text(struct loader *ld, char **out, const struct scalar *s)
{
	if (scalar_is_null(s))
		return 0;
	*out = strdup(s->text);
	if (*out == NULL) {
		oom(ld);
		return -1;
	}
	return 0;
}

/* One key's value, the current event. Returns -1 after reporting a problem. */
static int domain_value(struct loader *ld, struct domain_state *st, enum domain_key key)
{
	static const char *const expected[DKEY_COUNT] = {
		[DKEY_NAME] = "expected a domain name",
		[DKEY_ENABLED] = "expected true or false",
		[DKEY_ACTION] = "expected one of nxdomain, nodata, refused, drop, allow, redirect",
		[DKEY_EXACT] = "expected true or false",
		[DKEY_REASON] = "expected a string",
		[DKEY_REF] = "expected a string",
		[DKEY_REDIRECT] = "expected a mapping",
		[DKEY_FROM] = TIME_EXPECTED,
		[DKEY_UNTIL] = TIME_EXPECTED,
	};
	struct scalar s;
	int rc = -1;

	if (scalar_get(ld, &s) == 0) {
		switch (key) {
		case DKEY_NAME:
			return domain_name(ld, st, &s); /* reports its own, more precise, problems */
		case DKEY_ENABLED:
			rc = parse_bool(s.text, &st->d.enabled);
			break;
		case DKEY_ACTION:
			rc = parse_action(s.text, ACTION_REDIRECT, &st->d.action);
			break;
		case DKEY_FROM:
			rc = config_parse_time(s.text, &st->d.from);
			break;
		case DKEY_UNTIL:
			rc = config_parse_time(s.text, &st->d.until);
			st->until_mark = ld->ev.start_mark;
			st->until_epoch = rc == 0 && st->d.until <= 0;
			break;
		case DKEY_EXACT:
			rc = parse_bool(s.text, &st->exact);
			st->exact_mark = ld->ev.start_mark;
			break;
		case DKEY_REASON:
			return domain_text(ld, &st->d.reason, &s);
		case DKEY_REF:
			return domain_text(ld, &st->d.ref, &s);
		case DKEY_REDIRECT: /* read by domain_redirect */
		case DKEY_COUNT:
			break;
		}
	}
	if (rc < 0)
		report(ld, &ld->ev.start_mark, "domains[%zu].%s: %s", st->index, domain_keys[key],
			expected[key]);
	return rc;
}

static void domain_release(struct config_domain *d)
{
	free(d->text);
	free(d->reason);
	free(d->ref);
	if (d->redirect != NULL)
		redirect_release(d->redirect);
	free(d->redirect);
}

/* "redirect" inside an entry: the entry's own landing page. Consumes the value. */
static bool domain_redirect(struct loader *ld, struct domain_state *st)
{
	char where[64];

	st->redirect_mark = ld->ev.start_mark;
	st->d.redirect = calloc(1, sizeof(*st->d.redirect));
	if (st->d.redirect == NULL)
		return oom(ld);
	snprintf(where, sizeof(where), "domains[%zu].redirect", st->index);
	return load_redirect(ld, where, st->d.redirect);
}

/* Appends D to the config, which takes over its strings. Returns false when out of memory. */
static bool domain_append(struct loader *ld, const struct config_domain *d)
{
	struct config *cfg = ld->cfg;

	if (cfg->domain_count == ld->domain_cap) {
		size_t ncap = ld->domain_cap ? ld->domain_cap * 2 : 16;
		struct config_domain *nd = realloc(cfg->domains, ncap * sizeof(*nd));

		if (nd == NULL)
			return false;
		cfg->domains = nd;
		ld->domain_cap = ncap;
	}
	cfg->domains[cfg->domain_count++] = *d;
	return true;
}

/* Checks that concern the entry as a whole, once all its keys are read. */
static void domain_finish(struct loader *ld, struct domain_state *st, const yaml_mark_t *start)
{
	if (!st->seen[DKEY_NAME])
		report(ld, start, "domains[%zu]: missing key \"name\"", st->index);
	if (st->exact && st->d.form == MATCH_BELOW)
		report(ld, &st->exact_mark,
			"domains[%zu].exact: \"*.\" names only what is below, it cannot be exact",
			st->index);
	else if (st->exact)
		st->d.form = MATCH_EXACT;
	if (st->d.from != 0 && st->d.until != 0 && st->d.from >= st->d.until)
		report(ld, &st->until_mark, "domains[%zu].until: must be later than \"from\"",
			st->index);
	if (st->until_epoch)
		report(ld, &st->until_mark, "domains[%zu].until: must be later than 1970-01-01T00:00:00Z",
			st->index);
	if (st->d.redirect != NULL && st->d.action != ACTION_REDIRECT && st->d.action != ACTION_DEFAULT)
		report(ld, &st->redirect_mark,
			"domains[%zu].redirect: only used with action: redirect", st->index);
}

/* One entry of "domains", a mapping; consumed whole. Returns false when the walk must stop. */
static bool load_domain(struct loader *ld, size_t index)
{
	struct domain_state st = { .d = { .enabled = true, .action = ACTION_DEFAULT }, .index = index };
	yaml_mark_t start = ld->ev.start_mark;
	size_t errors = ld->errors;
	bool ok = false;

	if (ld->ev.type != YAML_MAPPING_START_EVENT) {
		report(ld, &start, "domains[%zu]: expected a mapping", index);
		return skip_node(ld);
	}
	if (!advance(ld))
		goto out;
	while (ld->ev.type != YAML_MAPPING_END_EVENT) {
		size_t k = key_find(ld, domain_keys, DKEY_COUNT, st.seen);

		if (!skip_node(ld)) /* the key */
			goto out;
		if (k == DKEY_REDIRECT) {
			st.seen[k] = true;
			if (!domain_redirect(ld, &st))
				goto out;
			continue; /* it consumed the value */
		}
		if (k < DKEY_COUNT) {
			st.seen[k] = true;
			domain_value(ld, &st, (enum domain_key)k);
			if (ld->broken)
				goto out;
		}
		if (!skip_node(ld)) /* the value */
			goto out;
	}
	domain_finish(ld, &st, &start);
	if (ld->errors == errors) {
		if (!domain_append(ld, &st.d)) {
			oom(ld);
			goto out;
		}
		return advance(ld); /* past the mapping's end; the config owns the strings now */
	}
	ok = advance(ld);
out:
	domain_release(&st.d);
	return ok;
}

/* ---- top-level keys -------------------------------------------------------------------------- */

enum key_type {
	KEY_ENDPOINTS, KEY_U32, KEY_UINT, KEY_ACTION, KEY_NAME, KEY_DOMAINS, KEY_BOOL, KEY_STRING,
	KEY_PATH, KEY_DENY, KEY_REDIRECT, KEY_LISTS, KEY_CIDRS, KEY_ZONES, KEY_SERVE, KEY_DNSTAP,
	KEY_LOOPBACK
};

static const char *const root_key_names[ROOT_KEY_COUNT] = {
	[ROOT_LISTEN] = "listen", [ROOT_UPSTREAMS] = "upstreams",
	[ROOT_NEGATIVE_TTL] = "negative-ttl", [ROOT_DEFAULT_ACTION] = "default-action",
	[ROOT_UPSTREAM_TIMEOUT] = "upstream-timeout-ms", [ROOT_WORKERS] = "workers",
	[ROOT_TCP_IDLE] = "tcp-idle-timeout-ms", [ROOT_MAX_TCP] = "max-tcp-connections",
	[ROOT_MAX_INFLIGHT] = "max-inflight", [ROOT_SOA_MNAME] = "soa-mname",
	[ROOT_SOA_RNAME] = "soa-rname", [ROOT_DOMAINS] = "domains",
	[ROOT_REDIRECT] = "redirect", [ROOT_INSPECT] = "inspect-answers", [ROOT_LISTS] = "lists",
	[ROOT_ALLOW_FROM] = "allow-from", [ROOT_DENY_ACTION] = "deny-action",
	[ROOT_RL_QPS] = "rate-limit-qps", [ROOT_RL_BURST] = "rate-limit-burst",
	[ROOT_RL_V4] = "rate-limit-ipv4-prefix", [ROOT_RL_V6] = "rate-limit-ipv6-prefix",
	[ROOT_RL_TC] = "rate-limit-tc", [ROOT_USER] = "user", [ROOT_GROUP] = "group",
	[ROOT_CHROOT] = "chroot", [ROOT_ALLOW_ROOT] = "allow-root", [ROOT_0X20] = "use-0x20",
	[ROOT_UPSTREAM_SOCKETS] = "upstream-sockets", [ROOT_TCP_READ] = "tcp-read-timeout-ms",
	[ROOT_CACHE] = "cache-size", [ROOT_BUSY_POLL] = "busy-poll-us", [ROOT_ZONES] = "zones",
	[ROOT_STATE_DIR] = "state-dir", [ROOT_SERVE_RPZ] = "serve-rpz",
	[ROOT_AUDIT_LOG] = "audit-log", [ROOT_AUDIT_V4] = "audit-client-ipv4-prefix",
	[ROOT_AUDIT_V6] = "audit-client-ipv6-prefix", [ROOT_AUDIT_BLOCKED] = "audit-blocked",
	[ROOT_AUDIT_CNAME] = "audit-cname-blocked", [ROOT_AUDIT_ACL] = "audit-acl-denied",
	[ROOT_AUDIT_RATE] = "audit-rate-limited", [ROOT_AUDIT_BUFFER] = "audit-buffer-kb",
	[ROOT_DNSTAP] = "dnstap",
	[ROOT_CONTROL_SOCKET] = "control-socket", [ROOT_METRICS_LISTEN] = "metrics-listen",
};

/* The schema of the top level: per key (root_key_names), where its value goes and its range. */
static const struct key_spec {
	enum key_type type;
	size_t off;  /* the field */
	size_t off2; /* the count of an array, the length of a name */
	unsigned long min, max;
} root_keys[ROOT_KEY_COUNT] = {
#define F(field) offsetof(struct config, field)
	[ROOT_LISTEN] = { KEY_ENDPOINTS, F(listen), F(listen_count), 0, 0 },
	[ROOT_UPSTREAMS] = { KEY_ENDPOINTS, F(upstreams), F(upstream_count), 0, 0 },
	[ROOT_NEGATIVE_TTL] = { KEY_U32, F(negative_ttl), 0, 0, 604800 },
	[ROOT_DEFAULT_ACTION] = { KEY_ACTION, F(default_action), 0, 0, 0 },
	[ROOT_UPSTREAM_TIMEOUT] = { KEY_UINT, F(upstream_timeout_ms), 0,
		10, 60000 },
	[ROOT_WORKERS] = { KEY_UINT, F(workers), 0, 0, 64 },
	[ROOT_TCP_IDLE] = { KEY_UINT, F(tcp_idle_timeout_ms), 0,
		100, 600000 },
	[ROOT_MAX_TCP] = { KEY_UINT, F(max_tcp_connections), 0, 1, 1000000 },
	[ROOT_MAX_INFLIGHT] = { KEY_UINT, F(max_inflight), 0, 16, 1048576 },
	[ROOT_SOA_MNAME] = { KEY_NAME, F(soa_mname), F(soa_mname_len), 0, 0 },
	[ROOT_SOA_RNAME] = { KEY_NAME, F(soa_rname), F(soa_rname_len), 0, 0 },
	[ROOT_DOMAINS] = { KEY_DOMAINS, 0, 0, 0, 0 },
	[ROOT_REDIRECT] = { KEY_REDIRECT, F(redirect), 0, 0, 0 },
	[ROOT_INSPECT] = { KEY_BOOL, F(inspect_answers), 0, 0, 0 },
	[ROOT_LISTS] = { KEY_LISTS, 0, 0, 0, 0 },
	[ROOT_ZONES] = { KEY_ZONES, 0, 0, 0, 0 },
	[ROOT_STATE_DIR] = { KEY_PATH, F(state_dir), 0, 0, 0 },
	[ROOT_SERVE_RPZ] = { KEY_SERVE, 0, 0, 0, 0 },
	[ROOT_AUDIT_LOG] = { KEY_PATH, F(audit_log), 0, 0, 0 },
	[ROOT_AUDIT_V4] = { KEY_UINT, F(audit_ipv4_prefix), 0, 0, 32 },
	[ROOT_AUDIT_V6] = { KEY_UINT, F(audit_ipv6_prefix), 0, 0, 128 },
	[ROOT_AUDIT_BLOCKED] = { KEY_BOOL, F(audit_blocked), 0, 0, 0 },
	[ROOT_AUDIT_CNAME] = { KEY_BOOL, F(audit_cname_blocked), 0, 0, 0 },
	[ROOT_AUDIT_ACL] = { KEY_BOOL, F(audit_acl_denied), 0, 0, 0 },
	[ROOT_AUDIT_RATE] = { KEY_BOOL, F(audit_rate_limited), 0, 0, 0 },
	[ROOT_AUDIT_BUFFER] = { KEY_UINT, F(audit_buffer_kb), 0, 64, 1048576 },
	[ROOT_DNSTAP] = { KEY_DNSTAP, F(dnstap), 0, 0, 0 },
	[ROOT_ALLOW_FROM] = { KEY_CIDRS, 0, 0, 0, 0 },
	[ROOT_DENY_ACTION] = { KEY_DENY, F(deny_drop), 0, 0, 0 },
	[ROOT_RL_QPS] = { KEY_UINT, F(rate_limit_qps), 0, 0, 10000000 },
	[ROOT_RL_BURST] = { KEY_UINT, F(rate_limit_burst), 0, 1, 20000000 },
	[ROOT_RL_V4] = { KEY_UINT, F(rate_limit_ipv4_prefix), 0, 8, 32 },
	[ROOT_RL_V6] = { KEY_UINT, F(rate_limit_ipv6_prefix), 0, 16, 128 },
	[ROOT_RL_TC] = { KEY_BOOL, F(rate_limit_tc), 0, 0, 0 },
	[ROOT_USER] = { KEY_STRING, F(user), 0, 0, 0 },
	[ROOT_GROUP] = { KEY_STRING, F(group), 0, 0, 0 },
	[ROOT_CHROOT] = { KEY_PATH, F(chroot), 0, 0, 0 },
	[ROOT_ALLOW_ROOT] = { KEY_BOOL, F(allow_root), 0, 0, 0 },
	[ROOT_0X20] = { KEY_BOOL, F(use_0x20), 0, 0, 0 },
	[ROOT_UPSTREAM_SOCKETS] = { KEY_UINT, F(upstream_sockets), 0, 1, 256 },
	[ROOT_TCP_READ] = { KEY_UINT, F(tcp_read_timeout_ms), 0, 100, 600000 },
	[ROOT_CACHE] = { KEY_UINT, F(cache_size), 0, 0, 10000000 },
	[ROOT_BUSY_POLL] = { KEY_UINT, F(busy_poll_us), 0, 0, 100000 },
	[ROOT_CONTROL_SOCKET] = { KEY_PATH, F(control_socket), 0, 0, 0 },
	[ROOT_METRICS_LISTEN] = { KEY_LOOPBACK, F(metrics_listen), 0, 0, 0 },
#undef F
};

/* Every default in one place; the two lists are filled in load_finish, if still empty. */
static void config_set_defaults(struct config *cfg)
{
	const char *err;

	cfg->negative_ttl = 60;
	cfg->default_action = ACTION_NXDOMAIN;
	cfg->upstream_timeout_ms = 1500;
	cfg->workers = 0;
	cfg->tcp_idle_timeout_ms = 10000;
	cfg->max_tcp_connections = 1024;
	cfg->max_inflight = 65536;
	cfg->inspect_answers = true;
	cfg->rate_limit_ipv4_prefix = 24;
	cfg->rate_limit_ipv6_prefix = 56;
	cfg->upstream_sockets = 64;
	cfg->tcp_read_timeout_ms = 5000;
	cfg->audit_ipv4_prefix = 32;
	cfg->audit_ipv6_prefix = 128;
	cfg->audit_blocked = cfg->audit_cname_blocked = true;
	cfg->audit_buffer_kb = 4096;
	cfg->dnstap.client_query = cfg->dnstap.client_response = true;
	/* rate_limit_burst (2 x qps) and allow_from depend on the file: see load_finish */
	/* constants that pass name_check: these cannot fail */
	config_parse_name(DEFAULT_SOA_MNAME, cfg->soa_mname, &cfg->soa_mname_len, &err);
	config_parse_name(DEFAULT_SOA_RNAME, cfg->soa_rname, &cfg->soa_rname_len, &err);
}

/* Appends EP to the endpoint array at ARR/COUNT (owned by the config). */
static bool endpoint_append(struct config_endpoint **arr, size_t *count,
	const struct config_endpoint *ep)
{
	/* lists are short: growing one at a time keeps the array's capacity implicit */
	struct config_endpoint *na = realloc(*arr, (*count + 1) * sizeof(*na));

	if (na == NULL)
		return false;
	na[(*count)++] = *ep;
	*arr = na;
	return true;
}

/* "listen", "upstreams": a sequence of addresses. Null counts as absent (the default applies). */
static bool load_endpoints(struct loader *ld, enum root_key rk)
{
	const struct key_spec *spec = &root_keys[rk];
	struct config_endpoint **arr = (struct config_endpoint **)((char *)ld->cfg + spec->off);
	size_t *count = (size_t *)((char *)ld->cfg + spec->off2);
	yaml_mark_t start = ld->ev.start_mark;
	size_t i = 0;

	if (current_is_null(ld))
		return skip_node(ld);
	ld->given[rk] = true;
	if (ld->ev.type != YAML_SEQUENCE_START_EVENT) {
		report(ld, &start, "%s: expected a sequence of addresses", root_key_names[rk]);
		return skip_node(ld);
	}
	if (!advance(ld))
		return false;
	for (; ld->ev.type != YAML_SEQUENCE_END_EVENT; i++) {
		struct config_endpoint ep;
		struct scalar s;
		const char *err = ENDPOINT_FORM;

		if (scalar_get(ld, &s) == 0 && config_parse_endpoint(s.text, DNS_PORT, &ep, &err) == 0) {
			if (rk == ROOT_UPSTREAMS && *count == CONFIG_UPSTREAMS_MAX)
				report(ld, &ld->ev.start_mark, "%s[%zu]: at most %d upstreams",
					root_key_names[rk], i, CONFIG_UPSTREAMS_MAX);
			else if (!endpoint_append(arr, count, &ep))
				return oom(ld);
		} else {
			report(ld, &ld->ev.start_mark, "%s[%zu]: %s", root_key_names[rk], i, err);
		}
		if (!skip_node(ld))
			return false;
	}
	if (i == 0)
		report(ld, &start, "%s: expected at least one address", root_key_names[rk]);
	return advance(ld);
}

/* "domains": a sequence of mappings. Null counts as an empty list, as when all are commented out. */
static bool load_domains(struct loader *ld)
{
	yaml_mark_t start = ld->ev.start_mark;

	if (current_is_null(ld))
		return skip_node(ld);
	ld->given[ROOT_DOMAINS] = true;
	if (ld->ev.type != YAML_SEQUENCE_START_EVENT) {
		report(ld, &start, "domains: expected a sequence of mappings");
		return skip_node(ld);
	}
	if (!advance(ld))
		return false;
	for (size_t i = 0; ld->ev.type != YAML_SEQUENCE_END_EVENT; i++)
		if (!load_domain(ld, i))
			return false;
	return advance(ld);
}

/* "user", "group" (non-empty) and "chroot" (an absolute path): *OUT takes a copy. */
static int string_value(struct loader *ld, enum key_type type, char **out, const struct scalar *s,
	const char **err)
{
	if (s->len == 0) {
		*err = type == KEY_PATH ? "expected an absolute path" : "expected a non-empty string";
		return -1;
	}
	if (type == KEY_PATH && s->text[0] != '/') {
		*err = "expected an absolute path";
		return -1;
	}
	if ((*out = strdup(s->text)) == NULL) {
		oom(ld);
		return 0; /* reported once, by oom */
	}
	return 0;
}

static bool load_root_redirect(struct loader *ld)
{
	if (current_is_null(ld))
		return skip_node(ld);
	ld->given[ROOT_REDIRECT] = true;
	ld->redirect_mark = ld->ev.start_mark;
	return load_redirect(ld, "redirect", &ld->cfg->redirect);
}

/* "allow-from": networks allowed to query. An empty list is refused: it would answer nobody. */
static bool load_allow_from(struct loader *ld)
{
	yaml_mark_t start = ld->ev.start_mark;
	size_t n;

	if (current_is_null(ld))
		return skip_node(ld);
	ld->given[ROOT_ALLOW_FROM] = true;
	if (!load_scalar_seq(ld, "allow-from", cidr_item, ld->cfg, &n))
		return false;
	if (n == 0)
		report(ld, &start, "allow-from: expected at least one network "
			"(0.0.0.0/0 and ::/0 allow everyone)");
	return true;
}

/* ---- lists: external files ------------------------------------------------------------------- */

enum list_key {
	LKEY_FILE, LKEY_FORMAT, LKEY_ENABLED, LKEY_ACTION, LKEY_REASON, LKEY_REF, LKEY_ON_ERROR,
	LKEY_COUNT
};

static const char *const list_keys[LKEY_COUNT] = {
	[LKEY_FILE] = "file", [LKEY_FORMAT] = "format", [LKEY_ENABLED] = "enabled",
	[LKEY_ACTION] = "action", [LKEY_REASON] = "reason", [LKEY_REF] = "ref",
	[LKEY_ON_ERROR] = "on-error",
};

static const char *const list_formats[] = {
	[LIST_DOMAINS] = "domains", [LIST_HOSTS] = "hosts", [LIST_RPZ] = "rpz",
};

static void list_release(struct config_list *l)
{
	free(l->path);
	free(l->reason);
	free(l->ref);
}

/*
 * TEXT as a path the daemon can open whatever its working directory: relative paths are taken
 * from the config file's directory, as an operator keeping both side by side expects. Caller owns.
 */
static char *list_path(const char *config_path, const char *text)
{
	const char *slash = strrchr(config_path, '/');
	size_t dir = slash != NULL ? (size_t)(slash - config_path) + 1 : 0;
	char *out;

	if (text[0] == '/' || dir == 0)
		return strdup(text);
	if ((out = malloc(dir + strlen(text) + 1)) == NULL)
		return NULL;
	memcpy(out, config_path, dir);
	strcpy(out + dir, text);
	return out;
}

/* One key of a list entry, its value the current event. Reports problems itself. */
static void list_value(struct loader *ld, struct config_list *l, size_t index, enum list_key k)
{
	static const char *const expected[LKEY_COUNT] = {
		[LKEY_FILE] = "expected a file name",
		[LKEY_FORMAT] = "expected one of domains, hosts, rpz",
		[LKEY_ENABLED] = "expected true or false",
		[LKEY_ACTION] = "expected one of nxdomain, nodata, refused, drop, allow, redirect",
		[LKEY_REASON] = "expected a string", [LKEY_REF] = "expected a string",
		[LKEY_ON_ERROR] = "expected reject or skip",
	};
	struct scalar s;
	int rc = -1;

	if (scalar_get(ld, &s) == 0) {
		switch (k) {
		case LKEY_FILE:
			if (s.len > 0 && !scalar_is_null(&s)) {
				rc = 0;
				if ((l->path = list_path(ld->path, s.text)) == NULL)
					oom(ld);
			}
			break;
		case LKEY_FORMAT:
			for (size_t f = 0; f < sizeof(list_formats) / sizeof(list_formats[0]); f++)
				if (strcmp(s.text, list_formats[f]) == 0) {
					l->format = (enum list_format)f;
					rc = 0;
				}
			break;
		case LKEY_ENABLED:
			rc = parse_bool(s.text, &l->enabled);
			break;
		case LKEY_ACTION:
			rc = parse_action(s.text, ACTION_REDIRECT, &l->action);
			break;
		case LKEY_REASON:
			rc = domain_text(ld, &l->reason, &s);
			break;
		case LKEY_REF:
			rc = domain_text(ld, &l->ref, &s);
			break;
		case LKEY_ON_ERROR:
			rc = strcmp(s.text, "reject") == 0 || strcmp(s.text, "skip") == 0 ? 0 : -1;
			l->skip_bad_lines = strcmp(s.text, "skip") == 0;
			break;
		case LKEY_COUNT:
			break;
		}
	}
	if (rc < 0 && !ld->broken)
		report(ld, &ld->ev.start_mark, "lists[%zu].%s: %s", index, list_keys[k], expected[k]);
}

static bool list_append(struct config *cfg, const struct config_list *l)
{
	struct config_list *nl = realloc(cfg->lists, (cfg->list_count + 1) * sizeof(*nl));

	if (nl == NULL)
		return false;
	nl[cfg->list_count++] = *l;
	cfg->lists = nl;
	return true;
}

/* One entry of "lists", a mapping; consumed whole. Returns false when the walk must stop. */
static bool load_list(struct loader *ld, size_t index)
{
	struct config_list l = { .enabled = true, .action = ACTION_DEFAULT };
	bool seen[LKEY_COUNT] = { false };
	yaml_mark_t start = ld->ev.start_mark;
	size_t errors = ld->errors;
	bool ok = false;

	l.line = (unsigned)start.line + 1;
	l.column = (unsigned)start.column + 1;
	if (ld->ev.type != YAML_MAPPING_START_EVENT) {
		report(ld, &start, "lists[%zu]: expected a mapping", index);
		return skip_node(ld);
	}
	if (!advance(ld))
		goto out;
	while (ld->ev.type != YAML_MAPPING_END_EVENT) {
		size_t k = key_find(ld, list_keys, LKEY_COUNT, seen);

		if (!skip_node(ld))
			goto out;
		if (k < LKEY_COUNT) {
			seen[k] = true;
			list_value(ld, &l, index, (enum list_key)k);
		}
		if (ld->broken || !skip_node(ld))
			goto out;
	}
	if (!seen[LKEY_FILE])
		report(ld, &start, "lists[%zu]: missing key \"file\"", index);
	if (ld->errors == errors) {
		if (!list_append(ld->cfg, &l)) {
			oom(ld);
			goto out;
		}
		return advance(ld); /* the config owns the strings now */
	}
	ok = advance(ld);
out:
	list_release(&l);
	return ok;
}

/* "lists": a sequence of mappings; null counts as none. */
static bool load_lists(struct loader *ld)
{
	if (current_is_null(ld))
		return skip_node(ld);
	ld->given[ROOT_LISTS] = true;
	if (ld->ev.type != YAML_SEQUENCE_START_EVENT) {
		report(ld, &ld->ev.start_mark, "lists: expected a sequence of mappings");
		return skip_node(ld);
	}
	if (!advance(ld))
		return false;
	for (size_t i = 0; ld->ev.type != YAML_SEQUENCE_END_EVENT; i++)
		if (!load_list(ld, i))
			return false;
	return advance(ld);
}

/* ---- zones: RPZ zones pulled by zone transfer ------------------------------------------------ */

enum zone_key {
	ZKEY_NAME, ZKEY_PRIMARIES, ZKEY_TSIG_KEY, ZKEY_TSIG_ALG, ZKEY_TSIG_FILE, ZKEY_ENABLED,
	ZKEY_ACTION, ZKEY_REASON, ZKEY_REF, ZKEY_ON_EXPIRE, ZKEY_COUNT
};

static const char *const zone_keys[ZKEY_COUNT] = {
	[ZKEY_NAME] = "name", [ZKEY_PRIMARIES] = "primaries", [ZKEY_TSIG_KEY] = "tsig-key",
	[ZKEY_TSIG_ALG] = "tsig-algorithm", [ZKEY_TSIG_FILE] = "tsig-secret-file",
	[ZKEY_ENABLED] = "enabled", [ZKEY_ACTION] = "action", [ZKEY_REASON] = "reason",
	[ZKEY_REF] = "ref", [ZKEY_ON_EXPIRE] = "on-expire",
};

/* The TSIG algorithms ldns signs and verifies with; hmac-sha256 is the default. */
static const char *const tsig_algorithms[] = {
	"hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1",
};

static void zone_release(struct config_zone *z)
{
	free(z->text);
	free(z->primaries);
	free(z->tsig_name);
	free(z->tsig_algorithm);
	free(z->tsig_secret);
	free(z->tsig_secret_file);
	free(z->reason);
	free(z->ref);
	memset(z, 0, sizeof(*z));
}

struct zone_primaries {
	struct config_zone *z;
	size_t index;
};

/* A "primaries" item: an address, port 53 unless given. */
static bool zone_primary(struct loader *ld, const char *where, size_t index,
	const struct scalar *s, void *ctx)
{
	struct zone_primaries *zp = ctx;
	struct config_endpoint ep;
	const char *err;

	(void)where;
	if (config_parse_endpoint(s->text, DNS_PORT, &ep, &err) < 0) {
		report(ld, &ld->ev.start_mark, "zones[%zu].primaries[%zu]: %s", zp->index, index, err);
		return true;
	}
	return endpoint_append(&zp->z->primaries, &zp->z->primary_count, &ep);
}

/*
 * The TSIG secret: base64 in a file only its owner may read (a secret others can read is not
 * one). Returns NULL, or what is wrong; *OUT is the secret without surrounding blanks.
 */
static const char *tsig_secret_read(const char *path, char **out)
{
	static _Thread_local char msg[160];
	char buf[1024];
	struct stat st;
	size_t n, b, e;
	FILE *fp = fopen(path, "re"); /* owned, closed below */
	ldns_rdf *bin = NULL;

	if (fp == NULL) {
		snprintf(msg, sizeof(msg), "%s: %s", path, strerror(errno));
		return msg;
	}
	n = fstat(fileno(fp), &st) == 0 ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;
	fclose(fp);
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(msg, sizeof(msg), "%s: readable by others (mode %03o): chmod 600 it", path,
			(unsigned)(st.st_mode & 0777));
		return msg;
	}
	for (b = 0; b < n && (buf[b] == ' ' || buf[b] == '\t' || buf[b] == '\n' || buf[b] == '\r'); b++)
		;
	for (e = n; e > b && (buf[e - 1] == ' ' || buf[e - 1] == '\t' || buf[e - 1] == '\n' ||
		buf[e - 1] == '\r'); e--)
		;
	buf[e] = 0;
	if (e == b || ldns_str2rdf_b64(&bin, buf + b) != LDNS_STATUS_OK) {
		snprintf(msg, sizeof(msg), "%s: expected a base64 secret", path);
		return msg;
	}
	ldns_rdf_deep_free(bin);
	if ((*out = strdup(buf + b)) == NULL)
		return "out of memory";
	return NULL;
}

/* One scalar key of a zone entry, its value the current event. Reports problems itself. */
static void zone_value(struct loader *ld, struct config_zone *z, size_t index, enum zone_key k)
{
	static const char *const expected[ZKEY_COUNT] = {
		[ZKEY_NAME] = "expected a domain name", [ZKEY_TSIG_KEY] = "expected a domain name",
		[ZKEY_TSIG_ALG] = "expected one of hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224, "
			"hmac-sha1",
		[ZKEY_TSIG_FILE] = "expected a file name",
		[ZKEY_ENABLED] = "expected true or false",
		[ZKEY_ACTION] = "expected one of nxdomain, nodata, refused, drop, allow",
		[ZKEY_REASON] = "expected a string", [ZKEY_REF] = "expected a string",
		[ZKEY_ON_EXPIRE] = "expected keep or drop",
	};
	const char *err = expected[k];
	uint8_t wire[CONFIG_NAME_MAX];
	size_t len;
	struct scalar s;
	int rc = -1;

	if (scalar_get(ld, &s) == 0 && !scalar_is_null(&s)) {
		switch (k) {
		case ZKEY_NAME:
		case ZKEY_TSIG_KEY:
			if (config_parse_name(s.text, k == ZKEY_NAME ? z->name : wire,
				k == ZKEY_NAME ? &z->name_len : &len, &err) == 0) {
				char **dst = k == ZKEY_NAME ? &z->text : &z->tsig_name;
				rc = 0;
				if ((*dst = name_text(s.text, false)) == NULL)
					oom(ld);
			}
			break;
		case ZKEY_TSIG_ALG:
			for (size_t i = 0; i < sizeof(tsig_algorithms) / sizeof(tsig_algorithms[0]); i++)
				if (strcasecmp(s.text, tsig_algorithms[i]) == 0) {
					rc = 0;
					if ((z->tsig_algorithm = strdup(tsig_algorithms[i])) == NULL)
						oom(ld);
				}
			break;
		case ZKEY_TSIG_FILE:
			if (s.len == 0)
				break;
			if ((z->tsig_secret_file = list_path(ld->path, s.text)) == NULL) {
				oom(ld);
				rc = 0;
				break;
			}
			err = tsig_secret_read(z->tsig_secret_file, &z->tsig_secret);
			rc = err == NULL ? 0 : -1;
			break;
		case ZKEY_ENABLED:
			rc = parse_bool(s.text, &z->enabled);
			break;
		case ZKEY_ACTION:
			rc = parse_action(s.text, ACTION_ALLOW, &z->action);
			break;
		case ZKEY_REASON:
			rc = domain_text(ld, &z->reason, &s);
			break;
		case ZKEY_REF:
			rc = domain_text(ld, &z->ref, &s);
			break;
		case ZKEY_ON_EXPIRE:
			rc = strcmp(s.text, "keep") == 0 || strcmp(s.text, "drop") == 0 ? 0 : -1;
			z->expire_drop = strcmp(s.text, "drop") == 0;
			break;
		case ZKEY_PRIMARIES:
		case ZKEY_COUNT:
			break;
		}
	}
	if (rc < 0 && !ld->broken)
		report(ld, &ld->ev.start_mark, "zones[%zu].%s: %s", index, zone_keys[k], err);
}

static bool zone_append(struct config *cfg, const struct config_zone *z)
{
	struct config_zone *nz = realloc(cfg->zones, (cfg->zone_count + 1) * sizeof(*nz));

	if (nz == NULL)
		return false;
	nz[cfg->zone_count++] = *z;
	cfg->zones = nz;
	return true;
}

const struct config_zone *config_zone_find(const struct config *cfg, const uint8_t *name,
	size_t len)
{
	for (size_t i = 0; i < cfg->zone_count; i++)
		if (cfg->zones[i].name_len == len && memcmp(cfg->zones[i].name, name, len) == 0)
			return &cfg->zones[i];
	return NULL;
}

/* What a finished zone entry lacks or contradicts. */
static void zone_check(struct loader *ld, const struct config_zone *z, size_t index,
	const bool *seen, const yaml_mark_t *start)
{
	const struct config_zone *other;

	if (!seen[ZKEY_NAME])
		report(ld, start, "zones[%zu]: missing key \"name\"", index);
	if (z->primary_count == 0)
		report(ld, start, "zones[%zu]: expected at least one address in \"primaries\"", index);
	if ((z->tsig_name != NULL) != (z->tsig_secret_file != NULL) ||
		(z->tsig_algorithm != NULL && z->tsig_name == NULL))
		report(ld, start, "zones[%zu]: tsig-key and tsig-secret-file go together "
			"(tsig-algorithm only with them)", index);
	if (z->text != NULL && (other = config_zone_find(ld->cfg, z->name, z->name_len)) != NULL)
		report(ld, start, "zones[%zu]: duplicate zone \"%s\" (first at line %u)", index,
			z->text, other->line);
}

/* One entry of "zones", a mapping; consumed whole. Returns false when the walk must stop. */
static bool load_zone(struct loader *ld, size_t index)
{
	struct config_zone z = { .enabled = true, .action = ACTION_DEFAULT };
	bool seen[ZKEY_COUNT] = { false };
	yaml_mark_t start = ld->ev.start_mark;
	size_t errors = ld->errors;
	bool ok = false;

	z.line = (unsigned)start.line + 1;
	z.column = (unsigned)start.column + 1;
	if (ld->ev.type != YAML_MAPPING_START_EVENT) {
		report(ld, &start, "zones[%zu]: expected a mapping", index);
		return skip_node(ld);
	}
	if (!advance(ld))
		goto out;
	while (ld->ev.type != YAML_MAPPING_END_EVENT) {
		size_t k = key_find(ld, zone_keys, ZKEY_COUNT, seen);

		if (!skip_node(ld))
			goto out;
		if (k == ZKEY_PRIMARIES) {
			struct zone_primaries zp = { &z, index };
			char where[32];
			size_t n;

			seen[k] = true;
			snprintf(where, sizeof(where), "zones[%zu].primaries", index);
			if (!load_scalar_seq(ld, where, zone_primary, &zp, &n))
				goto out;
			continue;
		}
		if (k < ZKEY_COUNT) {
			seen[k] = true;
			zone_value(ld, &z, index, (enum zone_key)k);
		}
		if (ld->broken || !skip_node(ld))
			goto out;
	}
	if (z.tsig_name != NULL && z.tsig_algorithm == NULL &&
		(z.tsig_algorithm = strdup("hmac-sha256")) == NULL) {
		oom(ld);
		goto out;
	}
	zone_check(ld, &z, index, seen, &start);
	if (ld->errors == errors) {
		if (!zone_append(ld->cfg, &z)) {
			oom(ld);
			goto out;
		}
		return advance(ld); /* the config owns the strings now */
	}
	ok = advance(ld);
out:
	zone_release(&z);
	return ok;
}

/* "zones": a sequence of mappings; null counts as none. */
static bool load_zones(struct loader *ld)
{
	if (current_is_null(ld))
		return skip_node(ld);
	ld->given[ROOT_ZONES] = true;
	if (ld->ev.type != YAML_SEQUENCE_START_EVENT) {
		report(ld, &ld->ev.start_mark, "zones: expected a sequence of mappings");
		return skip_node(ld);
	}
	if (!advance(ld))
		return false;
	for (size_t i = 0; ld->ev.type != YAML_SEQUENCE_END_EVENT; i++)
		if (!load_zone(ld, i))
			return false;
	return advance(ld);
}

/* ---- serve-rpz: blokir as the primary of its own policy ------------------------------------ */

enum serve_key { SKEY_ZONE, SKEY_ALLOW, SKEY_KEYS, SKEY_NOTIFY, SKEY_HISTORY, SKEY_COUNT };

static const char *const serve_keys[SKEY_COUNT] = {
	[SKEY_ZONE] = "zone", [SKEY_ALLOW] = "allow", [SKEY_KEYS] = "keys", [SKEY_NOTIFY] = "notify",
	[SKEY_HISTORY] = "history",
};

enum tsig_key_field { TKEY_NAME, TKEY_ALGORITHM, TKEY_SECRET_FILE, TKEY_COUNT };

static const char *const tsig_key_fields[TKEY_COUNT] = {
	[TKEY_NAME] = "name", [TKEY_ALGORITHM] = "algorithm", [TKEY_SECRET_FILE] = "secret-file",
};

/* The TSIG algorithms serve-rpz offers: what ldns signs with, minus MD5, SHA-1 and SHA-224. */
static const char *const serve_tsig_algorithms[] = { "hmac-sha256", "hmac-sha384", "hmac-sha512" };

static void tsig_key_release(struct config_tsig_key *k)
{
	free(k->name);
	free(k->algorithm);
	free(k->secret_file);
}

static void serve_release(struct config_serve *sv)
{
	for (size_t i = 0; i < sv->key_count; i++)
		tsig_key_release(&sv->keys[i]);
	free(sv->keys);
	free(sv->allow);
	free(sv->notify);
	free(sv->zone);
	memset(sv, 0, sizeof(*sv));
}

/* A presentation name (validated) as "name." in lower case, as TSIG and the log print it. */
static int dotted_name(const char *text, char **out, const char **err)
{
	uint8_t wire[CONFIG_NAME_MAX];
	size_t len, w = 0;
	char buf[CONFIG_NAME_MAX * 4 + 2];

	if (config_parse_name(text, wire, &len, err) < 0)
		return -1;
	if (len == 1) {
		*err = "the root is not a zone blokir can serve";
		return -1;
	}
	for (size_t o = 0; wire[o] != 0; o += 1 + wire[o]) {
		memcpy(buf + w, wire + o + 1, wire[o]);
		w += wire[o];
		buf[w++] = '.';
	}
	buf[w] = '\0';
	*err = "out of memory";
	return (*out = strdup(buf)) != NULL ? 0 : -1;
}

static bool serve_cidr_item(struct loader *ld, const char *where, size_t index,
	const struct scalar *s, void *ctx)
{
	struct config_serve *sv = ctx;
	struct config_cidr c, *na;
	const char *err = config_parse_cidr(s->text, &c);

	if (err != NULL) {
		report(ld, &ld->ev.start_mark, "%s[%zu]: %s", where, index, err);
		return true;
	}
	if ((na = realloc(sv->allow, (sv->allow_count + 1) * sizeof(*na))) == NULL)
		return false;
	na[sv->allow_count++] = c;
	sv->allow = na;
	return true;
}

static bool serve_notify_item(struct loader *ld, const char *where, size_t index,
	const struct scalar *s, void *ctx)
{
	struct config_serve *sv = ctx;
	struct config_endpoint ep;
	const char *err;

	if (config_parse_endpoint(s->text, DNS_PORT, &ep, &err) < 0) {
		report(ld, &ld->ev.start_mark, "%s[%zu]: %s", where, index, err);
		return true;
	}
	return endpoint_append(&sv->notify, &sv->notify_count, &ep);
}

/* One entry of serve-rpz.keys, a mapping {name, algorithm, secret-file}; consumed whole. */
static bool load_tsig_key(struct loader *ld, struct config_serve *sv, size_t index)
{
	struct config_tsig_key k = { 0 };
	bool seen[TKEY_COUNT] = { false };
	yaml_mark_t start = ld->ev.start_mark;
	size_t errors = ld->errors;
	struct config_tsig_key *nk;
	bool ok = false;

	k.line = (unsigned)start.line + 1;
	k.column = (unsigned)start.column + 1;
	if (ld->ev.type != YAML_MAPPING_START_EVENT) {
		report(ld, &start, "serve-rpz.keys[%zu]: expected a mapping", index);
		return skip_node(ld);
	}
	if (!advance(ld))
		goto out;
	while (ld->ev.type != YAML_MAPPING_END_EVENT) {
		size_t f = key_find(ld, tsig_key_fields, TKEY_COUNT, seen);
		struct scalar s;
		const char *err = "expected a string";
		int rc = -1;

		if (!skip_node(ld))
			goto out;
		if (f < TKEY_COUNT) {
			seen[f] = true;
			if (scalar_get(ld, &s) == 0 && !scalar_is_null(&s)) {
				if (f == TKEY_NAME) {
					rc = dotted_name(s.text, &k.name, &err);
				} else if (f == TKEY_ALGORITHM) {
					err = "expected hmac-sha256, hmac-sha384 or hmac-sha512";
					for (size_t a = 0; a < sizeof(serve_tsig_algorithms) /
						sizeof(serve_tsig_algorithms[0]); a++)
						if (strcasecmp(s.text, serve_tsig_algorithms[a]) == 0)
							rc = (k.algorithm = strdup(serve_tsig_algorithms[a])) !=
								NULL ? 0 : -1;
				} else if (s.len > 0) {
					err = "out of memory";
					rc = (k.secret_file = list_path(ld->path, s.text)) != NULL ? 0 : -1;
				}
			}
			if (rc < 0)
				report(ld, &ld->ev.start_mark, "serve-rpz.keys[%zu].%s: %s", index,
					tsig_key_fields[f], err);
		}
		if (ld->broken || !skip_node(ld))
			goto out;
	}
	if (!seen[TKEY_NAME])
		report(ld, &start, "serve-rpz.keys[%zu]: missing key \"name\"", index);
	if (!seen[TKEY_SECRET_FILE])
		report(ld, &start, "serve-rpz.keys[%zu]: missing key \"secret-file\"", index);
	if (ld->errors == errors && k.algorithm == NULL && (k.algorithm = strdup("hmac-sha256")) == NULL) {
		oom(ld);
		goto out;
	}
	if (ld->errors == errors) {
		for (size_t i = 0; i < sv->key_count; i++)
			if (strcmp(sv->keys[i].name, k.name) == 0)
				report(ld, &start, "serve-rpz.keys[%zu]: duplicate key name \"%s\" "
					"(first at line %u)", index, k.name, sv->keys[i].line);
	}
	if (ld->errors == errors) {
		if ((nk = realloc(sv->keys, (sv->key_count + 1) * sizeof(*nk))) == NULL) {
			oom(ld);
			goto out;
		}
		nk[sv->key_count++] = k;
		sv->keys = nk;
		return advance(ld); /* the config owns the strings now */
	}
	ok = advance(ld);
out:
	tsig_key_release(&k);
	return ok;
}

/* "serve-rpz": a mapping; null counts as absent (not serving). Consumes the value. */
static bool load_serve(struct loader *ld)
{
	struct config_serve *sv = &ld->cfg->serve;
	bool seen[SKEY_COUNT] = { false };
	size_t n;

	if (current_is_null(ld))
		return skip_node(ld);
	ld->given[ROOT_SERVE_RPZ] = true;
	sv->enabled = true;
	if (ld->ev.type != YAML_MAPPING_START_EVENT) {
		report(ld, &ld->ev.start_mark, "serve-rpz: expected a mapping");
		return skip_node(ld);
	}
	if (!advance(ld))
		return false;
	while (ld->ev.type != YAML_MAPPING_END_EVENT) {
		size_t k = key_find(ld, serve_keys, SKEY_COUNT, seen);
		yaml_mark_t at;
		struct scalar s;
		const char *err;
		unsigned long v;

		if (!skip_node(ld))
			return false;
		at = ld->ev.start_mark;
		if (k < SKEY_COUNT)
			seen[k] = true;
		switch (k) {
		case SKEY_ZONE:
			free(sv->zone);
			sv->zone = NULL;
			err = "expected a domain name";
			if (scalar_get(ld, &s) < 0 || dotted_name(s.text, &sv->zone, &err) < 0)
				report(ld, &at, "serve-rpz.zone: %s", err);
			break;
		case SKEY_ALLOW:
			if (!load_scalar_seq(ld, "serve-rpz.allow", serve_cidr_item, sv, &n))
				return false;
			if (n == 0)
				report(ld, &at, "serve-rpz.allow: expected at least one network");
			continue; /* consumed */
		case SKEY_NOTIFY:
			if (current_is_null(ld))
				break;
			if (!load_scalar_seq(ld, "serve-rpz.notify", serve_notify_item, sv, &n))
				return false;
			continue;
		case SKEY_KEYS:
			if (current_is_null(ld))
				break;
			if (ld->ev.type != YAML_SEQUENCE_START_EVENT) {
				report(ld, &at, "serve-rpz.keys: expected a sequence of mappings");
				break;
			}
			if (!advance(ld))
				return false;
			for (size_t i = 0; ld->ev.type != YAML_SEQUENCE_END_EVENT; i++)
				if (!load_tsig_key(ld, sv, i))
					return false;
			if (!advance(ld))
				return false;
			continue;
		case SKEY_HISTORY:
			if (scalar_get(ld, &s) < 0 || parse_uint(s.text, 1, 1000, &v) < 0)
				report(ld, &at, "serve-rpz.history: expected an integer 1..1000");
			else
				sv->history = (unsigned)v;
			break;
		default:
			break;
		}
		if (ld->broken || !skip_node(ld))
			return false;
	}
	return advance(ld);
}

/* The networks allowed to transfer when serve-rpz.allow is absent: this host only. */
static const char *const default_serve_allow[] = { "127.0.0.0/8", "::1/128" };

static bool serve_defaults(struct config_serve *sv)
{
	size_t n = sizeof(default_serve_allow) / sizeof(default_serve_allow[0]);

	if (sv->zone == NULL && (sv->zone = strdup(CONFIG_SERVE_ORIGIN_DEFAULT)) == NULL)
		return false;
	if (sv->history == 0)
		sv->history = CONFIG_SERVE_HISTORY_DEFAULT;
	if (sv->allow_count > 0)
		return true;
	if ((sv->allow = calloc(n, sizeof(*sv->allow))) == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		config_parse_cidr(default_serve_allow[i], &sv->allow[i]); /* constants: cannot fail */
	sv->allow_count = n;
	return true;
}

/* ---- dnstap ------------------------------------------------------------------------------- */

enum dnstap_key {
	DTKEY_SOCKET, DTKEY_FILE, DTKEY_IDENTITY, DTKEY_CQ, DTKEY_CR, DTKEY_FQ, DTKEY_FR, DTKEY_COUNT
};

static const char *const dnstap_key_names[DTKEY_COUNT] = {
	[DTKEY_SOCKET] = "socket", [DTKEY_FILE] = "file", [DTKEY_IDENTITY] = "identity",
	[DTKEY_CQ] = "client-query", [DTKEY_CR] = "client-response",
	[DTKEY_FQ] = "forwarder-query", [DTKEY_FR] = "forwarder-response",
};

static void dnstap_value(struct loader *ld, struct config_dnstap *t, enum dnstap_key k)
{
	bool *flags[DTKEY_COUNT] = { [DTKEY_CQ] = &t->client_query, [DTKEY_CR] = &t->client_response,
		[DTKEY_FQ] = &t->forwarder_query, [DTKEY_FR] = &t->forwarder_response };
	char **strings[DTKEY_COUNT] = { [DTKEY_SOCKET] = &t->socket, [DTKEY_FILE] = &t->file,
		[DTKEY_IDENTITY] = &t->identity };
	const char *err = "expected true or false";
	struct scalar s;
	int rc = -1;

	if (strings[k] != NULL && current_is_null(ld))
		return; /* absent */
	if (scalar_get(ld, &s) == 0) {
		if (flags[k] != NULL)
			rc = parse_bool(s.text, flags[k]);
		else
			rc = string_value(ld, k == DTKEY_IDENTITY ? KEY_STRING : KEY_PATH, strings[k],
				&s, &err);
	} else if (strings[k] != NULL) {
		err = k == DTKEY_IDENTITY ? "expected a non-empty string" : "expected an absolute path";
	}
	if (rc < 0)
		report(ld, &ld->ev.start_mark, "dnstap.%s: %s", dnstap_key_names[k], err);
}

/* "dnstap": a mapping; null counts as absent (off). */
static bool load_dnstap(struct loader *ld)
{
	struct config_dnstap *t = &ld->cfg->dnstap;
	bool seen[DTKEY_COUNT] = { false };
	yaml_mark_t start = ld->ev.start_mark;

	if (current_is_null(ld))
		return skip_node(ld);
	ld->given[ROOT_DNSTAP] = true;
	if (ld->ev.type != YAML_MAPPING_START_EVENT) {
		report(ld, &start, "dnstap: expected a mapping");
		return skip_node(ld);
	}
	if (!advance(ld))
		return false;
	while (ld->ev.type != YAML_MAPPING_END_EVENT) {
		size_t k = key_find(ld, dnstap_key_names, DTKEY_COUNT, seen);

		if (!skip_node(ld))
			return false;
		if (k < DTKEY_COUNT) {
			seen[k] = true;
			dnstap_value(ld, t, (enum dnstap_key)k);
		}
		if (ld->broken || !skip_node(ld))
			return false;
	}
	if (t->socket != NULL && t->file != NULL)
		report(ld, &start, "dnstap: expected either \"socket\" or \"file\", not both");
	else if (t->socket == NULL && t->file == NULL && !seen[DTKEY_SOCKET] && !seen[DTKEY_FILE])
		report(ld, &start, "dnstap: missing key \"socket\" or \"file\"");
	return advance(ld);
}

/* A scalar-valued top-level key. Consumes the value; returns false when the walk must stop. */
/*
 * "metrics-listen": one ADDR:PORT on a loopback address. The metrics page tells anyone who can
 * reach it what the policy is and how the service is used, so it is never put on a network
 * interface by a typo; a reverse proxy or an SSH tunnel can carry it further.
 */
static int loopback_value(const struct scalar *s, struct config_endpoint *out, const char **err)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	if (config_parse_endpoint(s->text, 0, out, err) < 0)
		return -1;
	if ((out->addr.ss_family == AF_INET &&
	     (ntohl(((struct sockaddr_in *)&out->addr)->sin_addr.s_addr) >> 24) == 127) ||
	    (out->addr.ss_family == AF_INET6 &&
	     memcmp(&((struct sockaddr_in6 *)&out->addr)->sin6_addr, v6_loopback, 16) == 0))
		return 0;
	*err = "expected a loopback address (127.0.0.0/8 or [::1]) with a port";
	return -1;
}

static bool load_scalar_key(struct loader *ld, enum root_key rk)
{
	const struct key_spec *spec = &root_keys[rk];
	void *field = (char *)ld->cfg + spec->off;
	const char *err = "expected a domain name"; /* config_parse_name may say more precisely */
	unsigned long v;
	struct scalar s;
	int rc = -1;

	ld->given[rk] = true;
	if ((spec->type == KEY_STRING || spec->type == KEY_PATH) && current_is_null(ld))
		return skip_node(ld); /* absent, as the header promises for null values */
	struct config_pos *pos = rk == ROOT_USER ? &ld->cfg->user_pos : rk == ROOT_GROUP ?
		&ld->cfg->group_pos : rk == ROOT_CHROOT ? &ld->cfg->chroot_pos : NULL;
	if (pos != NULL) /* libyaml counts from 0 */
		*pos = (struct config_pos){ (unsigned)ld->ev.start_mark.line + 1,
			(unsigned)ld->ev.start_mark.column + 1 };
	if (scalar_get(ld, &s) == 0) {
		switch (spec->type) {
		case KEY_U32:
		case KEY_UINT:
			rc = parse_uint(s.text, spec->min, spec->max, &v);
			if (rc == 0 && spec->type == KEY_U32)
				*(uint32_t *)field = (uint32_t)v;
			else if (rc == 0)
				*(unsigned *)field = (unsigned)v;
			break;
		case KEY_ACTION:
			rc = parse_action(s.text, ACTION_REDIRECT, (enum policy_action *)field);
			if (rc == 0 && *(enum policy_action *)field == ACTION_ALLOW)
				rc = -1; /* a default of "allow" would make every entry a no-op */
			break;
		case KEY_BOOL:
			rc = parse_bool(s.text, (bool *)field);
			break;
		case KEY_DENY:
			rc = strcmp(s.text, "refused") == 0 || strcmp(s.text, "drop") == 0 ? 0 : -1;
			*(bool *)field = strcmp(s.text, "drop") == 0;
			break;
		case KEY_STRING:
		case KEY_PATH:
			rc = string_value(ld, spec->type, (char **)field, &s, &err);
			break;
		case KEY_NAME:
			rc = config_parse_name(s.text, field, (size_t *)((char *)ld->cfg + spec->off2),
				&err);
			break;
		case KEY_LOOPBACK:
			rc = loopback_value(&s, field, &err);
			break;
		case KEY_ENDPOINTS:
		case KEY_DOMAINS:
		case KEY_REDIRECT:
		case KEY_LISTS:
		case KEY_CIDRS:
		case KEY_ZONES:
		case KEY_SERVE:
		case KEY_DNSTAP:
			break;
		}
	}
	if (rc < 0 && (spec->type == KEY_U32 || spec->type == KEY_UINT))
		report(ld, &ld->ev.start_mark, "%s: expected an integer %lu..%lu", root_key_names[rk],
			spec->min, spec->max);
	else if (rc < 0 && spec->type == KEY_ACTION)
		report(ld, &ld->ev.start_mark,
			"%s: expected one of nxdomain, nodata, refused, drop, redirect", root_key_names[rk]);
	else if (rc < 0 && spec->type == KEY_BOOL)
		report(ld, &ld->ev.start_mark, "%s: expected true or false", root_key_names[rk]);
	else if (rc < 0 && spec->type == KEY_DENY)
		report(ld, &ld->ev.start_mark, "%s: expected refused or drop", root_key_names[rk]);
	else if (rc < 0)
		report(ld, &ld->ev.start_mark, "%s: %s", root_key_names[rk], err);
	return skip_node(ld);
}

/* The document's root node, which must be a mapping. Returns false when the walk must stop. */
static bool load_root(struct loader *ld)
{
	bool seen[ROOT_KEY_COUNT] = { false };

	if (ld->ev.type != YAML_MAPPING_START_EVENT) {
		report(ld, &ld->ev.start_mark, "expected a mapping");
		return skip_node(ld);
	}
	if (!advance(ld))
		return false;
	while (ld->ev.type != YAML_MAPPING_END_EVENT) {
		enum root_key k = (enum root_key)key_find(ld, root_key_names, ROOT_KEY_COUNT, seen);
		bool go_on;

		if (!skip_node(ld))
			return false;
		if (k == ROOT_KEY_COUNT) { /* reported: skip the value */
			go_on = skip_node(ld);
		} else {
			seen[k] = true;
			if (root_keys[k].type == KEY_ENDPOINTS)
				go_on = load_endpoints(ld, k);
			else if (root_keys[k].type == KEY_DOMAINS)
				go_on = load_domains(ld);
			else if (root_keys[k].type == KEY_REDIRECT)
				go_on = load_root_redirect(ld);
			else if (root_keys[k].type == KEY_LISTS)
				go_on = load_lists(ld);
			else if (root_keys[k].type == KEY_CIDRS)
				go_on = load_allow_from(ld);
			else if (root_keys[k].type == KEY_ZONES)
				go_on = load_zones(ld);
			else if (root_keys[k].type == KEY_SERVE)
				go_on = load_serve(ld);
			else if (root_keys[k].type == KEY_DNSTAP)
				go_on = load_dnstap(ld);
			else
				go_on = load_scalar_key(ld, k);
		}
		if (!go_on)
			return false;
	}
	return advance(ld);
}

/*
 * The whole stream: exactly one document. An empty file is an error rather than "all defaults":
 * a policy file truncated by a failed deployment must not silently unblock everything on reload.
 */
static void load_stream(struct loader *ld)
{
	if (!advance(ld) || !advance(ld)) /* STREAM-START, then DOCUMENT-START or STREAM-END */
		return;
	if (ld->ev.type == YAML_STREAM_END_EVENT) {
		report(ld, NULL, "expected a mapping, found no YAML document");
		return;
	}
	if (!advance(ld) || !load_root(ld) || !advance(ld)) /* root node, DOCUMENT-END */
		return;
	if (ld->ev.type == YAML_DOCUMENT_START_EVENT)
		report(ld, &ld->ev.start_mark, "expected a single YAML document");
}

/* ---- after the walk -------------------------------------------------------------------------- */

/*
 * Upstreams from the resolver configuration, as glibc would use them: "nameserver ADDR" lines,
 * port 53. Link-local addresses with a "%iface" scope are skipped: a sockaddr_in6 without its
 * scope id would send to the wrong interface, or nowhere.
 */
static void upstreams_from_resolv_conf(struct loader *ld)
{
	const char *path = secure_getenv(RESOLV_CONF_ENV);
	struct config *cfg = ld->cfg;
	char *line = NULL; /* owned, freed below */
	size_t cap = 0;
	FILE *fp;

	if (path == NULL || *path == '\0')
		path = RESOLV_CONF;
	fp = fopen(path, "re");
	while (fp != NULL && getline(&line, &cap, fp) >= 0) {
		struct config_endpoint ep;
		unsigned char buf[sizeof(struct in6_addr)];
		const char *err;
		char *save, *word = strtok_r(line, " \t\r\n", &save);

		if (word == NULL || strcmp(word, "nameserver") != 0)
			continue;
		word = strtok_r(NULL, " \t\r\n", &save);
		/* inet_pton first: glibc takes a bare address only, not our "ADDR:PORT" forms */
		if (word == NULL || (inet_pton(AF_INET, word, buf) != 1 &&
			inet_pton(AF_INET6, word, buf) != 1))
			continue;
		if (cfg->upstream_count == CONFIG_UPSTREAMS_MAX)
			break; /* glibc reads 3; more is a resolv.conf for another resolver */
		if (config_parse_endpoint(word, DNS_PORT, &ep, &err) == 0 &&
			!endpoint_append(&cfg->upstreams, &cfg->upstream_count, &ep)) {
			oom(ld);
			break;
		}
	}
	free(line);
	if (fp != NULL)
		fclose(fp);
	if (cfg->upstream_count == 0 && !ld->broken)
		report(ld, NULL, "no upstreams configured and none in %s", path);
}

/* The networks allowed when "allow-from" is absent: loopback and private ranges only. */
static const char *const default_allow_from[] = {
	"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
};

static bool allow_from_defaults(struct config *cfg)
{
	size_t n = sizeof(default_allow_from) / sizeof(default_allow_from[0]);

	cfg->allow_from = calloc(n, sizeof(*cfg->allow_from));
	if (cfg->allow_from == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		config_parse_cidr(default_allow_from[i], &cfg->allow_from[i]); /* constants: cannot fail */
	cfg->allow_from_count = n;
	return true;
}

static const char REDIRECT_NEEDED[] = "action redirect needs a \"redirect:\" with a, aaaa or "
	"cname, in the entry or at the top level";

/*
 * Every entry and list whose action is redirect must have a landing page: its own or the
 * top-level one. Checked after the walk because the top-level "redirect:" may come later.
 */
static void check_redirects(struct loader *ld)
{
	const struct config *cfg = ld->cfg;

	for (size_t i = 0; i < cfg->domain_count; i++) {
		const struct config_domain *d = &cfg->domains[i];
		enum policy_action a = d->action == ACTION_DEFAULT ? cfg->default_action : d->action;

		if (a == ACTION_REDIRECT && d->redirect == NULL && !cfg->redirect.set) {
			diag_add(ld->diag, ld->path, d->line, d->column, "domains[%zu]: %s", i,
				REDIRECT_NEEDED);
			ld->errors++;
		}
	}
	for (size_t i = 0; i < cfg->list_count; i++) {
		const struct config_list *l = &cfg->lists[i];
		enum policy_action a = l->action == ACTION_DEFAULT ? cfg->default_action : l->action;

		/* RPZ records carry their own actions, a redirect's CNAME included */
		if (a == ACTION_REDIRECT && l->format != LIST_RPZ && !cfg->redirect.set) {
			diag_add(ld->diag, ld->path, l->line, l->column, "lists[%zu]: %s", i,
				REDIRECT_NEEDED);
			ld->errors++;
		}
	}
}

/* Defaults that depend on what the file left out. */
static void load_finish(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	struct config_endpoint ep;
	const char *err;

	if (!ld->given[ROOT_LISTEN] && cfg->listen_count == 0) {
		config_parse_endpoint(DEFAULT_LISTEN, DNS_PORT, &ep, &err); /* a constant: cannot fail */
		if (!endpoint_append(&cfg->listen, &cfg->listen_count, &ep)) {
			oom(ld);
			return;
		}
	}
	if (!ld->given[ROOT_ALLOW_FROM] && cfg->allow_from_count == 0 && !allow_from_defaults(cfg)) {
		oom(ld);
		return;
	}
	if (!ld->given[ROOT_RL_BURST])
		cfg->rate_limit_burst = cfg->rate_limit_qps * 2;
	if (cfg->serve.enabled && !serve_defaults(&cfg->serve)) {
		oom(ld);
		return;
	}
	check_redirects(ld);
	if (cfg->state_dir == NULL && (cfg->state_dir = strdup(DEFAULT_STATE_DIR)) == NULL) {
		oom(ld);
		return;
	}
	if (!ld->given[ROOT_UPSTREAMS] && cfg->upstream_count == 0)
		upstreams_from_resolv_conf(ld);
}

static void loader_release(struct loader *ld)
{
	if (ld->have_ev)
		yaml_event_delete(&ld->ev);
	ld->have_ev = false;
	for (size_t i = 0; i < ld->anchor_count; i++) {
		free(ld->anchors[i].name);
		free(ld->anchors[i].value);
	}
	free(ld->anchors);
	ld->anchors = NULL;
	ld->anchor_count = ld->anchor_cap = 0;
}

struct config *config_load(const char *path, struct diag *diag)
{
	struct loader ld = { .path = path, .diag = diag };
	struct config *cfg = NULL, *result = NULL;
	bool parser_ready = false;
	struct stat st;
	FILE *fp;

	fp = fopen(path, "re"); /* owned, closed below */
	if (fp == NULL) {
		diag_add(diag, path, 0, 0, "%s", strerror(errno));
		return NULL;
	}
	/* fopen opens a directory, and libyaml would call the failed read an "input error" */
	if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
		report(&ld, NULL, "%s", strerror(EISDIR));
		goto out;
	}
	cfg = calloc(1, sizeof(*cfg)); /* owned until returned; config_free on every error */
	if (cfg == NULL || (cfg->path = strdup(path)) == NULL || !yaml_parser_initialize(&ld.parser)) {
		oom(&ld);
		goto out;
	}
	parser_ready = true;
	config_set_defaults(cfg);
	ld.cfg = cfg;
	ld.fp = fp;
	yaml_parser_set_input_file(&ld.parser, fp);
	load_stream(&ld);
	if (!ld.broken)
		load_finish(&ld);
	if (ld.errors == 0) {
		result = cfg;
		cfg = NULL;
	}
out:
	loader_release(&ld);
	if (parser_ready)
		yaml_parser_delete(&ld.parser);
	fclose(fp);
	config_free(cfg);
	return result;
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->domain_count; i++)
		domain_release(&cfg->domains[i]);
	free(cfg->domains);
	for (size_t i = 0; i < cfg->list_count; i++)
		list_release(&cfg->lists[i]);
	free(cfg->lists);
	for (size_t i = 0; i < cfg->zone_count; i++)
		zone_release(&cfg->zones[i]);
	free(cfg->zones);
	free(cfg->state_dir);
	redirect_release(&cfg->redirect);
	serve_release(&cfg->serve);
	free(cfg->allow_from);
	free(cfg->user);
	free(cfg->audit_log);
	free(cfg->dnstap.socket);
	free(cfg->dnstap.file);
	free(cfg->dnstap.identity);
	free(cfg->group);
	free(cfg->chroot);
	free(cfg->control_socket);
	free(cfg->listen);
	free(cfg->upstreams);
	free(cfg->path);
	free(cfg);
}
