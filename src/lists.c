/*
 * lists: readers for imported name lists (see include/lists.h).
 *
 * Domain lists and hosts files are mapped into memory and parsed in place: a 2-million-line list
 * must load in well under a second, so the hot loop allocates nothing: value_parse_name_len
 * converts each name to wire format in place. Only names with non-ASCII bytes take the slow path
 * through libidn2. RPZ zones go to the RPZ reader (rpz.h), whose bad records are reported here
 * as bad lines.
 */
#include "lists.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mapfile.h"
#include "rpz.h"
#include "value.h"

size_t lists_estimate(const struct config_list *l)
{
	struct mapfile m;
	const char *err, *p, *end;
	size_t n = 1;

	if (mapfile_map(l->path, &m, &err) < 0)
		return 0;
	for (p = m.data, end = m.size ? m.data + m.size : m.data; p < end && (p = memchr(p, '\n', (size_t)(end - p)));
		p++)
		n++;
	mapfile_unmap(&m);
	return n;
}

/* ---- bad lines ------------------------------------------------------------------------------- */

/* Where a reader reports bad lines: the first few in full, then only their number. */
struct badlines {
	const struct config_list *l; /* borrowed */
	struct diag *diag;           /* borrowed */
	size_t count;
};

__attribute__((format(printf, 3, 4)))
static void bad_line(struct badlines *b, unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (b->count++ >= LISTS_REPORT_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* skipped lines are warnings in the log, not errors: the load goes on */
	if (b->l->skip_bad_lines)
		log_warn("list %s:%u: %s (line skipped)", b->l->path, line, msg);
	else
		diag_add(b->diag, b->l->path, line, 0, "%s", msg);
}

/* After reading: the summary of bad lines. Returns -1 when they make the list fail. */
static int bad_lines_done(struct badlines *b, size_t *bad)
{
	*bad = b->count;
	if (b->count == 0)
		return 0;
	if (b->l->skip_bad_lines) {
		log_warn("list %s: %zu bad line%s skipped", b->l->path, b->count,
			b->count == 1 ? "" : "s");
		return 0;
	}
	if (b->count > LISTS_REPORT_MAX)
		diag_add(b->diag, b->l->path, 0, 0, "%zu more bad lines not shown",
			b->count - LISTS_REPORT_MAX);
	return -1;
}

/* ---- domain lists and hosts files ------------------------------------------------------------ */

/* Names hosts files map to loopback for the system's own use, not blocking. */
static bool hosts_skipped(const char *w, size_t n)
{
	static const char *const names[] = { "localhost", "localhost.localdomain", "local",
		"broadcasthost", "ip6-localhost", "ip6-loopback", "ip6-localnet", "ip6-mcastprefix",
		"ip6-allnodes", "ip6-allrouters", "ip6-allhosts", "0.0.0.0" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && strncasecmp(names[i], w, n) == 0)
			return true;
	return false;
}

static bool hosts_sinkhole(const char *w, size_t n)
{
	return (n == 7 && memcmp(w, "0.0.0.0", 7) == 0) || (n == 9 && memcmp(w, "127.0.0.1", 9) == 0) ||
		(n == 2 && memcmp(w, "::", 2) == 0) || (n == 3 && memcmp(w, "::1", 3) == 0);
}

/* One name word of a line, "*.name" allowed where BELOW_OK; handed to CB. */
static int name_word(struct badlines *b, unsigned line, const char *w, size_t n,
	enum match_form form, lists_entry_cb *cb, void *ctx)
{
	uint8_t wire[CONFIG_NAME_MAX];
	struct lists_entry e = { .name = wire, .form = form, .action = b->l->action, .line = line };
	const char *err;

	if (form == MATCH_SUBTREE && n > 2 && w[0] == '*' && w[1] == '.') {
		w += 2;
		n -= 2;
		e.form = MATCH_BELOW;
	}
	if (value_parse_name_len(w, n, wire, &e.name_len, &err) < 0) {
		bad_line(b, line, "%s: \"%.*s\"", err, (int)(n > 80 ? 80 : n), w);
		return 0;
	}
	return cb(ctx, &e);
}

/* One line of a domain list or hosts file (without its newline). -1 only when CB failed. */
static int text_line(struct badlines *b, unsigned line, const char *p, const char *end,
	lists_entry_cb *cb, void *ctx)
{
	const char *hash = memchr(p, '#', (size_t)(end - p)), *w;
	bool hosts = b->l->format == LIST_HOSTS;
	size_t n;

	if (hash != NULL)
		end = hash;
	if (!value_next_word(&p, end, &w, &n))
		return 0; /* blank or comment */
	if (!hosts) {
		const char *w2;
		size_t n2;

		if (value_next_word(&p, end, &w2, &n2)) {
			bad_line(b, line, "expected one name per line");
			return 0;
		}
		return name_word(b, line, w, n, MATCH_SUBTREE, cb, ctx);
	}
	if (!hosts_sinkhole(w, n)) {
		bad_line(b, line, "expected 0.0.0.0, 127.0.0.1, :: or ::1 before the names");
		return 0;
	}
	if (!value_next_word(&p, end, &w, &n)) {
		bad_line(b, line, "expected a name after the address");
		return 0;
	}
	do {
		if (!hosts_skipped(w, n) && name_word(b, line, w, n, MATCH_EXACT, cb, ctx) < 0)
			return -1;
	} while (value_next_word(&p, end, &w, &n));
	return 0;
}

static int read_text(const struct config_list *l, struct badlines *b, lists_entry_cb *cb,
	void *ctx)
{
	struct mapfile m;
	const char *err, *p, *end, *nl;
	unsigned line = 1;
	int rc = 0;

	if (mapfile_map(l->path, &m, &err) < 0) {
		diag_add(b->diag, l->path, 0, 0, "%s", err);
		return -1;
	}
	for (p = m.data, end = m.size ? m.data + m.size : m.data; p < end && rc == 0; p = nl + 1, line++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end; /* a last line without its newline */
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL)
			bad_line(b, line, "NUL byte in line");
		else
			rc = text_line(b, line, p, nl, cb, ctx);
	}
	mapfile_unmap(&m);
	return rc;
}

/* ---- RPZ ------------------------------------------------------------------------------------- */

/* An RPZ list being read: its bad records are bad lines, its entries go to the caller. */
struct rpz_list {
	struct badlines *b;  /* borrowed */
	lists_entry_cb *cb;
	void *ctx;
};

static void rpz_bad(void *ctx, unsigned line, const char *msg)
{
	struct rpz_list *rl = ctx;

	bad_line(rl->b, line, "%s", msg);
}

static int rpz_entry(void *ctx, const struct lists_entry *e)
{
	struct rpz_list *rl = ctx;

	return rl->cb(rl->ctx, e);
}

static int read_rpz(const struct config_list *l, struct badlines *b, lists_entry_cb *cb,
	void *ctx)
{
	struct rpz_list rl = { .b = b, .cb = cb, .ctx = ctx };
	struct rpz_sink sink = { .entry = rpz_entry, .bad = rpz_bad, .ctx = &rl };
	struct rpz_stats st = { 0 };
	const char *err = NULL;
	int rc = rpz_read_file(l->path, NULL, 0, &sink, &st, &err);

	if (rc < 0 && err != NULL)
		diag_add(b->diag, l->path, 0, 0, "%s", err);
	return rc;
}

int lists_read(const struct config_list *l, struct diag *diag, lists_entry_cb *cb, void *ctx,
	size_t *bad)
{
	struct badlines b = { .l = l, .diag = diag };
	int rc = l->format == LIST_RPZ ? read_rpz(l, &b, cb, ctx) : read_text(l, &b, cb, ctx);

	if (bad_lines_done(&b, bad) < 0)
		return -1;
	return rc;
}
