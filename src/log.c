/*
 * log: one line per message to stderr with a timestamp and level, optionally to syslog too.
 * The line is assembled in a stack buffer and written with one write(2), which keeps lines from
 * different worker threads whole without a lock.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum log_level log_max_level = LOG_LEVEL_INFO; /* set once by log_init, before any thread */
static bool to_syslog;

void log_init(enum log_level level, bool use_syslog)
{
	log_max_level = level;
	to_syslog = use_syslog;
	if (use_syslog)
		openlog("blokir", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;
	int r;

	if (level > log_max_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ blokir[%d] %s: ", ts.tv_nsec / 1000000,
		(int)getpid(), names[level]);
	if (r > 0)
		n += (size_t)r;
	va_start(ap, fmt);
	if (to_syslog) {
		va_list ap2;
		va_copy(ap2, ap);
		vsyslog(prio[level], fmt, ap2);
		va_end(ap2);
	}
	r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n - 1 ? (size_t)r : sizeof(line) - n - 2;
	line[n++] = '\n';
	/* A failed log write has nowhere to be reported; ignore it deliberately. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
