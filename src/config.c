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

#include <ldns/ldns.h>
#include <yaml.h>

#define DNS_PORT 53
#define LABEL_MAX 63
#define RESOLV_CONF "/etc/resolv.conf"
#define RESOLV_CONF_ENV "BLOKIR_RESOLV_CONF"
#define DEFAULT_LISTEN "127.0.0.1:53"
#define DEFAULT_SOA_MNAME "blokir.invalid."
#define DEFAULT_SOA_RNAME "hostmaster.blokir.invalid."

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
		} else if (c >= 0x80) {
			return "non-ASCII character: write internationalized names in their xn-- form";
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

int config_parse_name(const char *text, uint8_t *out, size_t *out_len, const char **err)
{
	ldns_rdf *rdf = NULL; /* owned, freed below */
	int rc = -1;

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
	ROOT_DOMAINS, ROOT_KEY_COUNT
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

/* ---- domains entries ------------------------------------------------------------------------- */

enum domain_key { DKEY_NAME, DKEY_ENABLED, DKEY_ACTION, DKEY_EXACT, DKEY_REASON, DKEY_REF, DKEY_COUNT };

static const char *const domain_keys[DKEY_COUNT] = {
	[DKEY_NAME] = "name", [DKEY_ENABLED] = "enabled", [DKEY_ACTION] = "action",
	[DKEY_EXACT] = "exact", [DKEY_REASON] = "reason", [DKEY_REF] = "ref",
};

/* An entry being read: what config_domain holds plus what is needed to check it as a whole. */
struct domain_state {
	struct config_domain d; /* its strings are owned until the entry is appended */
	size_t index;
	bool seen[DKEY_COUNT];
	bool exact;
	yaml_mark_t exact_mark;
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
	if (below && (name[0] == '\0' || strcmp(name, ".") == 0))
		err = "expected a name after \"*.\"";
	else if (config_parse_name(name, d->name, &d->name_len, &err) == 0)
		err = NULL;
	if (err != NULL) {
		report(ld, &ld->ev.start_mark, "domains[%zu].name: %s", st->index, err);
		return -1;
	}
	d->text = name_text(name, below);
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
		[DKEY_ACTION] = "expected one of nxdomain, nodata, refused, drop, allow",
		[DKEY_EXACT] = "expected true or false",
		[DKEY_REASON] = "expected a string",
		[DKEY_REF] = "expected a string",
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
			rc = parse_action(s.text, ACTION_ALLOW, &st->d.action);
			break;
		case DKEY_EXACT:
			rc = parse_bool(s.text, &st->exact);
			st->exact_mark = ld->ev.start_mark;
			break;
		case DKEY_REASON:
			return domain_text(ld, &st->d.reason, &s);
		case DKEY_REF:
			return domain_text(ld, &st->d.ref, &s);
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

enum key_type { KEY_ENDPOINTS, KEY_U32, KEY_UINT, KEY_ACTION, KEY_NAME, KEY_DOMAINS };

static const char *const root_key_names[ROOT_KEY_COUNT] = {
	[ROOT_LISTEN] = "listen", [ROOT_UPSTREAMS] = "upstreams",
	[ROOT_NEGATIVE_TTL] = "negative-ttl", [ROOT_DEFAULT_ACTION] = "default-action",
	[ROOT_UPSTREAM_TIMEOUT] = "upstream-timeout-ms", [ROOT_WORKERS] = "workers",
	[ROOT_TCP_IDLE] = "tcp-idle-timeout-ms", [ROOT_MAX_TCP] = "max-tcp-connections",
	[ROOT_MAX_INFLIGHT] = "max-inflight", [ROOT_SOA_MNAME] = "soa-mname",
	[ROOT_SOA_RNAME] = "soa-rname", [ROOT_DOMAINS] = "domains",
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
			if (!endpoint_append(arr, count, &ep))
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

/* A scalar-valued top-level key. Consumes the value; returns false when the walk must stop. */
static bool load_scalar_key(struct loader *ld, enum root_key rk)
{
	const struct key_spec *spec = &root_keys[rk];
	void *field = (char *)ld->cfg + spec->off;
	const char *err = "expected a domain name"; /* config_parse_name may say more precisely */
	unsigned long v;
	struct scalar s;
	int rc = -1;

	ld->given[rk] = true;
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
			rc = parse_action(s.text, ACTION_DROP, (enum policy_action *)field);
			break;
		case KEY_NAME:
			rc = config_parse_name(s.text, field, (size_t *)((char *)ld->cfg + spec->off2),
				&err);
			break;
		case KEY_ENDPOINTS:
		case KEY_DOMAINS:
			break;
		}
	}
	if (rc < 0 && (spec->type == KEY_U32 || spec->type == KEY_UINT))
		report(ld, &ld->ev.start_mark, "%s: expected an integer %lu..%lu", root_key_names[rk],
			spec->min, spec->max);
	else if (rc < 0 && spec->type == KEY_ACTION)
		report(ld, &ld->ev.start_mark, "%s: expected one of nxdomain, nodata, refused, drop",
			root_key_names[rk]);
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
	free(cfg->listen);
	free(cfg->upstreams);
	free(cfg->path);
	free(cfg);
}
