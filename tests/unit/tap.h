/*
 * tap.h: a minimal TAP producer for the unit tests (run by prove). Header-only so each test is
 * one self-contained .c file: plan at the end ("done_testing"), ok()/is_int()/is_str() with a
 * description, diagnostics to stdout as "# ..." lines. main() returns tap_exit().
 */
#ifndef BLOKIR_TAP_H
#define BLOKIR_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3), unused))
static int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

#define is_int(got, want, ...) \
	(ok((long long)(got) == (long long)(want), __VA_ARGS__) ? 1 : \
	 (printf("#   got %lld, want %lld\n", (long long)(got), (long long)(want)), 0))

#define is_str(got, want, ...) \
	(ok((got) != NULL && strcmp((got), (want)) == 0, __VA_ARGS__) ? 1 : \
	 (printf("#   got \"%s\"\n#  want \"%s\"\n", (got) ? (got) : "(null)", (want)), 0))

__attribute__((unused))
static int tap_exit(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
