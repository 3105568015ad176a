/*
 * log: levelled, thread-safe logging to stderr (and syslog when daemonized).
 *
 * One line per call, written with a single write(2) so lines from worker threads never interleave.
 * Nothing here allocates; it is safe from any thread but not from a signal handler (signals are
 * delivered through libevent, so no handler ever needs to log).
 */
#ifndef BLOKIR_LOG_H
#define BLOKIR_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_ERR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Sets the most verbose level printed (default LOG_LEVEL_INFO) and whether lines also go to syslog. */
void log_init(enum log_level max_level, bool use_syslog);

/* Inline because the query path asks it for every blocked query (debug lines). */
extern enum log_level log_max_level;
static inline bool log_enabled(enum log_level level)
{
	return level <= log_max_level;
}
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOG_LEVEL_DEBUG)) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)

#endif
