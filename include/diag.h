/*
 * diag: a list of diagnostics about an input file, each "FILE:LINE:COLUMN: message".
 *
 * The config and list loaders report every problem they find rather than stopping at the first,
 * so `blokir --check` can show an operator all of them at once. Lines and columns are 1-based;
 * a column of 0 means "the whole line" and is printed as "FILE:LINE: message".
 */
#ifndef BLOKIR_DIAG_H
#define BLOKIR_DIAG_H

#include <stddef.h>

struct diag;

/* Returns a new empty list (caller owns; diag_free), or NULL when out of memory. */
struct diag *diag_new(void);
void diag_free(struct diag *d);

/* Appends one message. Out of memory is recorded as a count so diag_count() is never too low. */
void diag_add(struct diag *d, const char *file, unsigned line, unsigned column, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
size_t diag_count(const struct diag *d);
/* The i-th message, formatted "FILE:LINE:COLUMN: message"; borrowed, valid until diag_free. */
const char *diag_get(const struct diag *d, size_t i);

#endif
