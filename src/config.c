/*
 * config: reads the YAML policy file into a validated struct config (see include/config.h).
 * Values are parsed by value.h; this file is the libyaml walk and the schema.
 *
 * The file is read with libyaml's event API rather than its document API: the document loader
 * recurses once per nesting level (so "[[[[..." a few hundred thousand deep overflows the stack)
 * and keeps the whole tree in memory, while the events arrive from a parser that keeps its state
 * on the heap. The schema is a table of keys per mapping (top level, domains entry, lists entry,
 * redirect), each key saying where its value goes, what it may be and what to say when it is
 * not; one mapping loop applies any of them, and anything unexpected is skipped as a whole.
 *
 * The tables themselves are in configkeys.c, and freeing what they fill in configfree.c; this
 * file stays the only libyaml user.
 *
 * Every problem is reported to the diag with the 1-based position of the offending node, then
 * the node is skipped and loading goes on, so one run shows all of them. Only a YAML error stops
 * the walk: after one, libyaml can produce no further events.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <yaml.h>

#include "configparts.h"
#include "defaults.h"
#include "value.h"

#define DNS_PORT 53
/* Deepest nesting accepted. The schema needs 5 (top level, domains, an entry, its redirect, a);
 * the rest is room for unknown keys to be reported rather than a parse of quadratic cost. */
#define CONFIG_DEPTH_MAX 16

/* ---- the loader: events, positions, anchors -------------------------------------------------- */

/* An anchored node, so that an alias to it can be read. Only scalars can be aliased. */
struct anchor {
	char *name;  /* owned */
	char *value; /* owned; NULL when the anchor is on a sequence or mapping */
	size_t len;
	bool plain;
};

/* The most keys one mapping of the schema has (the root's); a table larger fails to compile. */
#define MAP_KEYS_MAX 64

/* What the mapping loop learnt about one mapping, for the checks made on it as a whole. */
struct map_state {
	bool seen[MAP_KEYS_MAX];        /* the key was there */
	bool given[MAP_KEYS_MAX];       /* ... with a value that is not null where null is absent */
	bool ok[MAP_KEYS_MAX];          /* ... and a scalar value that parsed */
	yaml_mark_t mark[MAP_KEYS_MAX]; /* where the key's value starts */
	yaml_mark_t start;              /* where the mapping starts */
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
	struct map_state root; /* the top-level keys */
	unsigned depth;        /* sequences and mappings open at the current event */
	const atomic_bool *stop; /* borrowed, NULL: the load is abandoned once it is true */
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
	/* libyaml counts from 0, editors and diag from 1; without a position, the file's start */
	if (mark != NULL)
		diag_add(ld->diag, ld->path, (unsigned)mark->line + 1, (unsigned)mark->column + 1,
			"%s", msg);
	else
		diag_add(ld->diag, ld->path, 1, 1, "%s", msg);
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

/* The line and column of byte OFFSET of the file at PATH, read again; 1:1 when it cannot be. */
static yaml_mark_t offset_mark(const char *path, size_t offset)
{
	yaml_mark_t m = { .index = offset };
	FILE *fp = fopen(path, "re"); /* owned, closed below */
	int c;

	for (size_t i = 0; fp != NULL && i < offset && (c = getc(fp)) != EOF; i++) {
		m.column = c == '\n' ? 0 : m.column + 1;
		m.line += c == '\n';
	}
	if (fp != NULL)
		fclose(fp);
	return m;
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
		if (ld->fp != NULL && ferror(ld->fp)) {
			report(ld, NULL, "read error: %s", strerror(errno));
		} else {
			yaml_mark_t at = offset_mark(ld->path, p->problem_offset);

			report(ld, &at, "%s at byte %zu", p->problem, p->problem_offset);
		}
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
	if (ld->stop != NULL && atomic_load_explicit(ld->stop, memory_order_relaxed)) {
		report(ld, NULL, "load abandoned: the daemon is stopping");
		ld->broken = true;
		return false;
	}
	if (ld->ev.type == YAML_SEQUENCE_START_EVENT || ld->ev.type == YAML_MAPPING_START_EVENT) {
		/* refused as soon as it is reached: libyaml's cost grows with the square of the depth */
		if (++ld->depth > CONFIG_DEPTH_MAX) {
			report(ld, &ld->ev.start_mark, "nested deeper than %d levels (the policy needs 5)",
				CONFIG_DEPTH_MAX);
			ld->broken = true;
			return false;
		}
	} else if (ld->ev.type == YAML_SEQUENCE_END_EVENT || ld->ev.type == YAML_MAPPING_END_EVENT) {
		ld->depth--;
	}
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

_Static_assert(ROOT_KEY_COUNT <= MAP_KEYS_MAX, "raise MAP_KEYS_MAX");
_Static_assert(sizeof(enum list_format) == sizeof(int), "KEY_WORD stores an int");

/* ---- scalar values --------------------------------------------------------------------------- */

/* "where.key", or "key" at the top level, into BUF: the path diagnostics name. */
static const char *key_path(char *buf, size_t cap, const char *where, const char *key)
{
	if (where == NULL)
		snprintf(buf, cap, "%s", key);
	else
		snprintf(buf, cap, "%s.%s", where, key);
	return buf;
}

/* TEXT (owned, NULL when strdup failed) into the string field *OUT; false when out of memory. */
static bool text_copy(struct loader *ld, char **out, char *text)
{
	if (text == NULL)
		return oom(ld);
	*out = text; /* empty before: key_find refuses a repeated key */
	return true;
}

/* A domains entry's "name" into D, with the position duplicates are reported at. */
static int domain_name(struct loader *ld, struct config_domain *d, const struct scalar *s,
	const char **err)
{
	char text[VALUE_NAME_TEXT_MAX + 2];

	if (value_parse_pattern(s->text, d->name, &d->name_len, &d->form, text, err) < 0)
		return -1;
	if (!text_copy(ld, &d->text, strdup(text)))
		return 0; /* reported once, by oom */
	d->line = (unsigned)ld->ev.start_mark.line + 1;
	d->column = (unsigned)ld->ev.start_mark.column + 1;
	return 0;
}

/* A zone's "name" (wire form and text) or "tsig-key" (text) into Z. */
static int zone_name(struct loader *ld, struct config_zone *z, bool zone, const struct scalar *s,
	const char **err)
{
	uint8_t wire[CONFIG_NAME_MAX];
	char text[VALUE_NAME_TEXT_MAX];
	size_t len;

	if (scalar_is_null(s) || value_parse_name(s->text, wire, &len, err) < 0)
		return -1;
	if (value_name_format(wire, text) == 0)
		strcpy(text, "."); /* the root */
	if (zone) {
		memcpy(z->name, wire, len);
		z->name_len = len;
	}
	text_copy(ld, zone ? &z->text : &z->tsig_name, strdup(text));
	return 0;
}

/*
 * "metrics-listen": one ADDR:PORT on a loopback address. The metrics page tells anyone who can
 * reach it what the policy is and how the service is used, so it is never put on a network
 * interface by a typo; a reverse proxy or an SSH tunnel can carry it further.
 */
static int loopback_value(const struct scalar *s, struct config_endpoint *out, const char **err)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	if (value_parse_endpoint(s->text, 0, out, err) < 0)
		return -1;
	if ((out->addr.ss_family == AF_INET &&
	     (ntohl(((struct sockaddr_in *)&out->addr)->sin_addr.s_addr) >> 24) == 127) ||
	    (out->addr.ss_family == AF_INET6 &&
	     memcmp(&((struct sockaddr_in6 *)&out->addr)->sin6_addr, v6_loopback, 16) == 0))
		return 0;
	*err = "expected a loopback address (127.0.0.0/8 or [::1]) with a port";
	return -1;
}

/* A name (not the root) as "name." in lower case, as TSIG and the log print it, into *OUT. */
static int dotted_name(struct loader *ld, char **out, const struct scalar *s, const char **err)
{
	uint8_t wire[CONFIG_NAME_MAX];
	char text[VALUE_NAME_TEXT_MAX + 1];
	size_t len;

	if (scalar_is_null(s) || value_parse_name(s->text, wire, &len, err) < 0)
		return -1;
	if (len == 1) {
		*err = "the root is not a zone blokir can serve";
		return -1;
	}
	strcat(text + value_name_format(wire, text), ".");
	free(*out); /* serve-rpz.zone may replace a value of its own */
	*out = NULL;
	text_copy(ld, out, strdup(text));
	return 0;
}

/* The current event as the scalar value of SPEC, into OBJ. Returns -1 after reporting why not. */
static int scalar_value(struct loader *ld, const struct key_spec *spec, void *obj,
	const char *path)
{
	void *field = (char *)obj + spec->off;
	const char *err = spec->expected;
	unsigned long v;
	size_t word;
	struct scalar s;
	int rc = -1;

	if (scalar_get(ld, &s) == 0) {
		switch (spec->type) {
		case KEY_UINT:
		case KEY_U32:
			rc = value_parse_uint(s.text, spec->min, spec->max, &v);
			if (rc == 0 && spec->type == KEY_U32)
				*(uint32_t *)field = (uint32_t)v;
			else if (rc == 0)
				*(unsigned *)field = (unsigned)v;
			break;
		case KEY_BOOL:
			rc = value_parse_bool(s.text, (bool *)field);
			break;
		case KEY_ACTION:
		case KEY_DEFAULT_ACTION:
			rc = value_parse_action(s.text, ACTION_REDIRECT, (enum policy_action *)field);
			if (rc == 0 && spec->type == KEY_DEFAULT_ACTION &&
				*(enum policy_action *)field == ACTION_ALLOW)
				rc = -1;
			break;
		case KEY_WORD:
		case KEY_FLAG:
			rc = value_parse_word(s.text, spec->words, spec->nwords, &word);
			if (rc == 0 && spec->type == KEY_WORD)
				*(int *)field = (int)word;
			else if (rc == 0)
				*(bool *)field = word == 1;
			break;
		case KEY_STRING:
		case KEY_PATH:
			if (s.len == 0 || (spec->type == KEY_PATH && s.text[0] != '/'))
				break;
			rc = 0;
			text_copy(ld, (char **)field, strdup(s.text));
			break;
		case KEY_TEXT:
			rc = 0;
			text_copy(ld, (char **)field, strdup(s.text));
			break;
		case KEY_LIST_FILE:
			if (s.len == 0 || scalar_is_null(&s))
				break;
			rc = 0;
			text_copy(ld, (char **)field, value_path_beside(ld->path, s.text));
			break;
		case KEY_NAME:
			rc = value_parse_name(s.text, field, (size_t *)((char *)obj + spec->off2), &err);
			break;
		case KEY_DOMAIN_NAME:
			rc = domain_name(ld, field, &s, &err);
			break;
		case KEY_TIME:
			rc = value_parse_time(s.text, (int64_t *)field);
			break;
		case KEY_ZONE_NAME:
		case KEY_TSIG_NAME:
			rc = zone_name(ld, obj, spec->type == KEY_ZONE_NAME, &s, &err);
			break;
		case KEY_TSIG_ALG:
			for (size_t i = 0; i < spec->nwords && rc < 0; i++)
				if (strcasecmp(s.text, spec->words[i]) == 0) {
					rc = 0;
					text_copy(ld, (char **)field, strdup(spec->words[i]));
				}
			break;
		case KEY_SECRET_FILE:
			if (s.len == 0 || scalar_is_null(&s))
				break;
			rc = 0;
			if (text_copy(ld, (char **)field, value_path_beside(ld->path, s.text)) &&
				(err = value_read_secret(*(char **)field,
				&((struct config_zone *)obj)->tsig_secret)) != NULL)
				rc = -1;
			break;
		case KEY_LOOPBACK:
			rc = loopback_value(&s, field, &err);
			break;
		case KEY_DOTTED_NAME:
			rc = dotted_name(ld, (char **)field, &s, &err);
			break;
		case KEY_ZONE_ACTION:
			rc = value_parse_action(s.text, ACTION_ALLOW, (enum policy_action *)field);
			break;
		default: /* not scalars: load_value reads them */
			break;
		}
	}
	if (rc < 0 && (spec->type == KEY_UINT || spec->type == KEY_U32))
		report(ld, &ld->ev.start_mark, "%s: expected an integer %lu..%lu", path, spec->min,
			spec->max);
	else if (rc < 0)
		report(ld, &ld->ev.start_mark, "%s: %s", path, err);
	return rc;
}

/* ---- sequences of scalars -------------------------------------------------------------------- */

/* Appends the SIZE bytes at ITEM to the array at *ARR holding *COUNT. False when out of memory. */
static bool array_append(void *arr, size_t *count, const void *item, size_t size)
{
	/* lists of addresses are short: growing one at a time keeps the capacity implicit */
	void **a = arr, *na = realloc(*a, (*count + 1) * size);

	if (na == NULL)
		return false;
	memcpy((char *)na + *count * size, item, size);
	(*count)++;
	*a = na;
	return true;
}

/* One item of a scalar sequence SPEC at INDEX. Reports its own problems; false when out of memory. */
static bool seq_item(struct loader *ld, const struct key_spec *spec, void *obj, const char *path,
	size_t index, const struct scalar *s)
{
	void *arr = (char *)obj + spec->off;
	size_t *count = (size_t *)((char *)obj + spec->off2);
	struct config_endpoint ep;
	struct config_cidr c;
	uint8_t addr[16];
	const char *err;

	switch (spec->type) {
	case KEY_ENDPOINTS:
	case KEY_PRIMARIES:
		if (value_parse_endpoint(s->text, DNS_PORT, &ep, &err) < 0)
			break;
		if (spec->max != 0 && *count == spec->max) {
			report(ld, &ld->ev.start_mark, "%s[%zu]: at most %lu upstreams", path, index,
				spec->max);
			return true;
		}
		return array_append(arr, count, &ep, sizeof(ep));
	case KEY_CIDRS:
		if ((err = value_parse_cidr(s->text, &c)) != NULL)
			break;
		return array_append(arr, count, &c, sizeof(c));
	case KEY_ADDRS4:
	case KEY_ADDRS6:
		err = spec->type == KEY_ADDRS4 ? "expected an IPv4 address" : "expected an IPv6 address";
		if (value_parse_addr(s->text, spec->type == KEY_ADDRS4 ? AF_INET : AF_INET6, addr) < 0)
			break;
		return array_append(arr, count, addr, spec->type == KEY_ADDRS4 ? 4 : 16);
	default:
		return true;
	}
	report(ld, &ld->ev.start_mark, "%s[%zu]: %s", path, index, err);
	return true;
}

/* A sequence of scalars (or one, where its kind allows), each read by seq_item; consumes it. */
static bool load_scalar_seq(struct loader *ld, const struct key_spec *spec, void *obj,
	const char *path)
{
	const struct seq_kind *kind = &seq_kinds[0];
	yaml_mark_t start = ld->ev.start_mark;
	struct scalar s;
	size_t i = 0;

	while (kind->type != spec->type)
		kind++;
	if (kind->lone_ok && scalar_get(ld, &s) == 0) {
		if (!seq_item(ld, spec, obj, path, 0, &s))
			return oom(ld);
		return skip_node(ld);
	}
	if (ld->ev.type != YAML_SEQUENCE_START_EVENT) {
		report(ld, &start, "%s: %s", path, kind->not_seq);
		return skip_node(ld);
	}
	if (!advance(ld))
		return false;
	for (; ld->ev.type != YAML_SEQUENCE_END_EVENT; i++) {
		if (scalar_get(ld, &s) < 0)
			report(ld, &ld->ev.start_mark, "%s[%zu]: %s", path, i, kind->not_scalar);
		else if (!seq_item(ld, spec, obj, path, i, &s))
			return oom(ld);
		if (!skip_node(ld))
			return false;
	}
	if (i == 0 && (spec->expected != NULL || kind->empty != NULL))
		report(ld, &start, "%s: %s", path, spec->expected != NULL ? spec->expected : kind->empty);
	return advance(ld);
}

/* ---- the mapping loop ------------------------------------------------------------------------ */

static bool load_redirect(struct loader *ld, const char *where, struct config_redirect *r);
static bool load_serve(struct loader *ld, const char *where, struct config_serve *sv);
static bool load_dnstap(struct loader *ld, const char *where, struct config_dnstap *t);
static bool load_entries(struct loader *ld, const struct key_spec *spec, void *parent,
	const char *path);

/*
 * The mapping key at the current event, looked up in KEYS: returns its index, or N after
 * reporting an unknown or repeated key (YAML requires keys to be unique; a second value would
 * silently win or lose).
 */
static size_t key_find(struct loader *ld, const struct key_spec *keys, size_t n, const bool *seen)
{
	struct scalar key;
	size_t k;

	if (scalar_get(ld, &key) < 0) {
		report(ld, &ld->ev.start_mark, "expected a key name");
		return n;
	}
	for (k = 0; k < n; k++)
		if (strcmp(key.text, keys[k].name) == 0)
			break;
	if (k == n)
		report(ld, &ld->ev.start_mark, "unknown key \"%.64s\"", key.text);
	else if (seen[k])
		report(ld, &ld->ev.start_mark, "duplicate key \"%s\"", keys[k].name);
	else
		return k;
	return n;
}

/* The value of key SPEC, the current event, into OBJ; consumed whole. False: the walk must stop. */
static bool load_value(struct loader *ld, const struct key_spec *spec, void *obj,
	const char *where, struct map_state *ms, size_t k)
{
	char path[128];
	void *field = (char *)obj + spec->off;

	key_path(path, sizeof(path), where, spec->name);
	if ((spec->flags & KEY_NULLABLE) && current_is_null(ld))
		return skip_node(ld); /* absent: the default applies */
	ms->given[k] = true;
	if (spec->pos != 0) /* libyaml counts from 0 */
		*(struct config_pos *)((char *)obj + spec->pos) = (struct config_pos){
			(unsigned)ld->ev.start_mark.line + 1, (unsigned)ld->ev.start_mark.column + 1 };
	switch (spec->type) {
	case KEY_ENDPOINTS:
	case KEY_CIDRS:
	case KEY_ADDRS4:
	case KEY_ADDRS6:
	case KEY_PRIMARIES:
		return load_scalar_seq(ld, spec, obj, path);
	case KEY_REDIRECT:
		return load_redirect(ld, path, field);
	case KEY_REDIRECT_PTR:
		if ((*(struct config_redirect **)field = calloc(1, sizeof(struct config_redirect))) == NULL)
			return oom(ld);
		return load_redirect(ld, path, *(struct config_redirect **)field);
	case KEY_DOMAINS:
	case KEY_LISTS:
	case KEY_ZONES:
	case KEY_TSIG_KEYS:
		return load_entries(ld, spec, obj, path);
	case KEY_SERVE:
		return load_serve(ld, path, field);
	case KEY_DNSTAP:
		return load_dnstap(ld, path, field);
	default:
		ms->ok[k] = scalar_value(ld, spec, obj, path) == 0;
		return skip_node(ld);
	}
}

/*
 * THE mapping loop: every key of the mapping at the current event, looked up in KEYS, its value
 * read into OBJ. WHERE prefixes the diagnostics (NULL at the top level); NOT_MAPPING is what a
 * node that is not a mapping is told. Returns 1 positioned at the mapping's end (the caller
 * checks it as a whole, then advances), 0 when the node was not a mapping (reported and
 * skipped), -1 when the walk must stop.
 */
static int load_mapping(struct loader *ld, const struct key_spec *keys, size_t n, void *obj,
	const char *where, const char *not_mapping, struct map_state *ms)
{
	ms->start = ld->ev.start_mark;
	if (ld->ev.type != YAML_MAPPING_START_EVENT) {
		if (where == NULL)
			report(ld, &ms->start, "%s", not_mapping);
		else
			report(ld, &ms->start, "%s: %s", where, not_mapping);
		return skip_node(ld) ? 0 : -1;
	}
	if (!advance(ld))
		return -1;
	while (ld->ev.type != YAML_MAPPING_END_EVENT) {
		size_t k = key_find(ld, keys, n, ms->seen);

		if (!skip_node(ld)) /* the key */
			return -1;
		if (k == n) { /* reported: skip the value */
			if (!skip_node(ld))
				return -1;
			continue;
		}
		ms->seen[k] = true;
		ms->mark[k] = ld->ev.start_mark;
		if (!load_value(ld, &keys[k], obj, where, ms, k))
			return -1;
	}
	return 1;
}

/* ---- the mappings' checks as a whole --------------------------------------------------------- */

/*
 * "redirect": a mapping {a, aaaa, cname, ttl}, read into R (whose arrays it owns from then on,
 * even after an error). Consumes the node; returns false when the walk must stop.
 */
static bool load_redirect(struct loader *ld, const char *where, struct config_redirect *r)
{
	struct map_state ms = { .seen = { false } };
	const bool *seen = ms.seen;
	int rc;

	*r = defaults_redirect;
	rc = load_mapping(ld, redirect_keys, RKEY_COUNT, r, where,
		"expected a mapping with a, aaaa, cname or ttl", &ms);
	if (rc <= 0)
		return rc == 0;
	if (!seen[RKEY_A] && !seen[RKEY_AAAA] && !seen[RKEY_CNAME])
		report(ld, &ms.start, "%s: expected at least one of a, aaaa, cname", where);
	else if (seen[RKEY_CNAME] && (seen[RKEY_A] || seen[RKEY_AAAA]))
		report(ld, &ms.start, "%s: a cname cannot be combined with a or aaaa addresses", where);
	return advance(ld);
}

/* Checks that concern a domains entry as a whole, once all its keys are read. */
static void domain_finish(struct loader *ld, struct domain_state *st, const struct map_state *ms,
	const char *where)
{
	struct config_domain *d = &st->d;

	if (!ms->seen[DKEY_NAME])
		report(ld, &ms->start, "%s: missing key \"name\"", where);
	if (st->exact && d->form == MATCH_BELOW)
		report(ld, &ms->mark[DKEY_EXACT],
			"%s.exact: \"*.\" names only what is below, it cannot be exact", where);
	else if (st->exact)
		d->form = MATCH_EXACT;
	if (d->from != 0 && d->until != 0 && d->from >= d->until)
		report(ld, &ms->mark[DKEY_UNTIL], "%s.until: must be later than \"from\"", where);
	if (ms->ok[DKEY_UNTIL] && d->until <= 0)
		report(ld, &ms->mark[DKEY_UNTIL], "%s.until: must be later than 1970-01-01T00:00:00Z",
			where);
	if (d->redirect != NULL && d->action != ACTION_REDIRECT && d->action != ACTION_DEFAULT)
		report(ld, &ms->mark[DKEY_REDIRECT], "%s.redirect: only used with action: redirect",
			where);
}

/* A finished serve-rpz key: both required keys, the default algorithm, a name of its own. */
static void tsig_key_finish(struct loader *ld, struct config_tsig_key *k,
	const struct map_state *ms, const char *where, const struct config_serve *sv, size_t errors)
{
	if (!ms->seen[TKEY_NAME])
		report(ld, &ms->start, "%s: missing key \"name\"", where);
	if (!ms->seen[TKEY_SECRET_FILE])
		report(ld, &ms->start, "%s: missing key \"secret-file\"", where);
	if (ld->errors != errors)
		return;
	if (k->algorithm == NULL && !text_copy(ld, &k->algorithm, strdup(serve_tsig_algorithms[0])))
		return;
	for (size_t i = 0; i < sv->key_count; i++)
		if (strcmp(sv->keys[i].name, k->name) == 0)
			report(ld, &ms->start, "%s: duplicate key name \"%s\" (first at line %u)", where,
				k->name, sv->keys[i].line);
}

/* What a finished zone entry lacks or contradicts. */
static void zone_finish(struct loader *ld, struct config_zone *z, const struct map_state *ms,
	const char *where)
{
	const struct config_zone *other;

	if (z->tsig_name != NULL && z->tsig_algorithm == NULL &&
		!text_copy(ld, &z->tsig_algorithm, strdup(tsig_algorithms[0])))
		return;
	if (!ms->seen[ZKEY_NAME])
		report(ld, &ms->start, "%s: missing key \"name\"", where);
	if (z->primary_count == 0)
		report(ld, &ms->start, "%s: expected at least one address in \"primaries\"", where);
	if ((z->tsig_name != NULL) != (z->tsig_secret_file != NULL) ||
		(z->tsig_algorithm != NULL && z->tsig_name == NULL))
		report(ld, &ms->start, "%s: tsig-key and tsig-secret-file go together "
			"(tsig-algorithm only with them)", where);
	if (z->text != NULL && (other = config_zone_find(ld->cfg, z->name, z->name_len)) != NULL)
		report(ld, &ms->start, "%s: duplicate zone \"%s\" (first at line %u)", where, z->text,
			other->line);
}

/* One entry of "domains", "lists" or "zones" (SPEC says which) at INDEX; consumed whole. */
static bool load_entry(struct loader *ld, const struct key_spec *spec, void *parent,
	const char *path, size_t index)
{
	struct config *cfg = ld->cfg;
	struct config_tsig_key k = { 0 };
	struct domain_state st = { .d = defaults_domain };
	struct config_list l = defaults_list;
	struct config_zone z = defaults_zone;
	struct map_state ms = { .seen = { false } };
	size_t errors = ld->errors;
	char where[48];
	bool ok = false;
	int rc;

	snprintf(where, sizeof(where), "%s[%zu]", path, index);
	l.line = z.line = k.line = (unsigned)ld->ev.start_mark.line + 1;
	l.column = z.column = k.column = (unsigned)ld->ev.start_mark.column + 1;
	if (spec->type == KEY_DOMAINS)
		rc = load_mapping(ld, domain_keys, DKEY_COUNT, &st, where, "expected a mapping", &ms);
	else if (spec->type == KEY_LISTS)
		rc = load_mapping(ld, list_keys, LKEY_COUNT, &l, where, "expected a mapping", &ms);
	else if (spec->type == KEY_ZONES)
		rc = load_mapping(ld, zone_keys, ZKEY_COUNT, &z, where, "expected a mapping", &ms);
	else
		rc = load_mapping(ld, tsig_key_keys, TKEY_COUNT, &k, where, "expected a mapping", &ms);
	if (rc <= 0) {
		ok = rc == 0;
		goto out;
	}
	if (spec->type == KEY_DOMAINS)
		domain_finish(ld, &st, &ms, where);
	else if (spec->type == KEY_LISTS && !ms.seen[LKEY_FILE])
		report(ld, &ms.start, "%s: missing key \"file\"", where);
	else if (spec->type == KEY_ZONES)
		zone_finish(ld, &z, &ms, where);
	else if (spec->type == KEY_TSIG_KEYS)
		tsig_key_finish(ld, &k, &ms, where, parent, errors);
	if (ld->errors == errors && !ld->broken) {
		if (spec->type == KEY_DOMAINS && cfg->domain_count == ld->domain_cap) {
			size_t ncap = ld->domain_cap ? ld->domain_cap * 2 : 16;
			struct config_domain *nd = realloc(cfg->domains, ncap * sizeof(*nd));

			if (nd == NULL)
				goto nomem;
			cfg->domains = nd;
			ld->domain_cap = ncap;
		}
		if (spec->type == KEY_DOMAINS)
			cfg->domains[cfg->domain_count++] = st.d;
		else if (spec->type == KEY_LISTS &&
			!array_append(&cfg->lists, &cfg->list_count, &l, sizeof(l)))
			goto nomem;
		else if (spec->type == KEY_ZONES &&
			!array_append(&cfg->zones, &cfg->zone_count, &z, sizeof(z)))
			goto nomem;
		else if (spec->type == KEY_TSIG_KEYS && !array_append((char *)parent + spec->off,
			(size_t *)((char *)parent + spec->off2), &k, sizeof(k)))
			goto nomem;
		return advance(ld); /* past the mapping's end; the config owns the strings now */
	}
	ok = advance(ld);
	goto out;
nomem:
	oom(ld);
out:
	domain_release(&st.d);
	list_release(&l);
	zone_release(&z);
	tsig_key_release(&k);
	return ok;
}

/* "domains", "lists", "zones": a sequence of mappings. */
static bool load_entries(struct loader *ld, const struct key_spec *spec, void *parent,
	const char *path)
{
	if (ld->ev.type != YAML_SEQUENCE_START_EVENT) {
		report(ld, &ld->ev.start_mark, "%s: %s", path, spec->expected);
		return skip_node(ld);
	}
	if (!advance(ld))
		return false;
	for (size_t i = 0; ld->ev.type != YAML_SEQUENCE_END_EVENT; i++)
		if (!load_entry(ld, spec, parent, path, i))
			return false;
	return advance(ld);
}

/* "dnstap": a mapping; exactly one of socket and file. */
static bool load_dnstap(struct loader *ld, const char *where, struct config_dnstap *t)
{
	struct map_state ms = { .seen = { false } };
	int rc = load_mapping(ld, dnstap_keys, DTKEY_COUNT, t, where, "expected a mapping", &ms);

	if (rc <= 0)
		return rc == 0;
	if (t->socket != NULL && t->file != NULL)
		report(ld, &ms.start, "%s: expected either \"socket\" or \"file\", not both", where);
	else if (!ms.seen[DTKEY_SOCKET] && !ms.seen[DTKEY_FILE])
		report(ld, &ms.start, "%s: missing key \"socket\" or \"file\"", where);
	else if (t->socket != NULL && strlen(t->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		/* the kernel's limit: refused here rather than by the writer at start */
		report(ld, &ms.mark[DTKEY_SOCKET], "%s.socket: expected a path of at most %zu bytes "
			"(a unix socket address holds no more)", where,
			sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	return advance(ld);
}

/* "serve-rpz": a mapping of its own keys. Present (even when wrong) means serving. */
static bool load_serve(struct loader *ld, const char *where, struct config_serve *sv)
{
	struct map_state ms = { .seen = { false } };
	int rc;

	sv->enabled = true;
	rc = load_mapping(ld, serve_keys, SKEY_COUNT, sv, where, "expected a mapping", &ms);
	return rc > 0 ? advance(ld) : rc == 0;
}

/* The document's root node, which must be a mapping. Returns false when the walk must stop. */
static bool load_root(struct loader *ld)
{
	int rc = load_mapping(ld, root_keys, ROOT_KEY_COUNT, ld->cfg, NULL, "expected a mapping",
		&ld->root);

	return rc > 0 ? advance(ld) : rc == 0;
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

static void load_finish(struct loader *ld)
{
	const struct defaults_given given = {
		.listen = ld->root.given[ROOT_LISTEN], .upstreams = ld->root.given[ROOT_UPSTREAMS],
		.allow_from = ld->root.given[ROOT_ALLOW_FROM],
	};
	int rc = defaults_finish(ld->cfg, &given, ld->diag);

	if (rc < 0)
		oom(ld);
	else
		ld->errors += (size_t)rc;
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
	return config_load_until(path, diag, NULL);
}

struct config *config_load_until(const char *path, struct diag *diag, const atomic_bool *stop)
{
	struct loader ld = { .path = path, .diag = diag, .stop = stop };
	struct config *cfg = NULL, *result = NULL;
	bool parser_ready = false;
	struct stat st;
	FILE *fp;

	fp = fopen(path, "re"); /* owned, closed below */
	if (fp == NULL) {
		diag_add(diag, path, 1, 1, "%s", strerror(errno));
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
	defaults_init(cfg);
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
