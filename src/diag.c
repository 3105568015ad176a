/*
 * diag: the list of file:line:column diagnostics a loader collects (see include/diag.h).
 * Messages are formatted once when added, so printing them later needs no context.
 */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct diag {
	char **msgs;   /* owned, each owned */
	size_t count;  /* messages stored */
	size_t cap;
	size_t lost;   /* messages that could not be stored (out of memory) */
};

struct diag *diag_new(void)
{
	return calloc(1, sizeof(struct diag));
}

void diag_free(struct diag *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->count; i++)
		free(d->msgs[i]);
	free(d->msgs);
	free(d);
}

void diag_add(struct diag *d, const char *file, unsigned line, unsigned column, const char *fmt, ...)
{
	char body[1024], *msg;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (column > 0)
		n = asprintf(&msg, "%s:%u:%u: %s", file, line, column, body);
	else if (line > 0)
		n = asprintf(&msg, "%s:%u: %s", file, line, body);
	else
		n = asprintf(&msg, "%s: %s", file, body);
	if (n < 0)
		goto fail;
	if (d->count == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 8;
		char **nm = realloc(d->msgs, ncap * sizeof(*nm));
		if (nm == NULL) {
			free(msg);
			goto fail;
		}
		d->msgs = nm;
		d->cap = ncap;
	}
	d->msgs[d->count++] = msg;
	return;
fail:
	d->lost++;
}

size_t diag_count(const struct diag *d)
{
	return d->count + d->lost;
}

const char *diag_get(const struct diag *d, size_t i)
{
	return i < d->count ? d->msgs[i] : "(message lost: out of memory)";
}
