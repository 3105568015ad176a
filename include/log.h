/*
 * log: levelled, thread-safe logging to stderr, syslog or a log file.
 *
 * One line per call, written with a single write(2) so lines from worker threads never interleave.
 * Nothing here allocates; it is safe from any thread but not from a signal handler (signals are
 * delivered through libevent, so no handler ever needs to log).
 *
 * Targets: the base target is stderr (foreground) or syslog (detached, daemon facility). With a
 * log file (`log-file:`) lines go to the file instead. A detached daemon also mirrors every line
 * to the terminal it was started from until it is ready, so a start-up failure is always seen.
 */
#ifndef BLOKIR_LOG_H
#define BLOKIR_LOG_H

#include <stdatomic.h>
#include <stdbool.h>

enum log_level { LOG_LEVEL_ERR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/*
 * Sets the most verbose level printed (default LOG_LEVEL_INFO) and the base target: syslog when
 * USE_SYSLOG, else stderr. Call before any thread is started.
 */
void log_init(enum log_level max_level, bool use_syslog);

/* Changes the level at run time (a reload); any thread may be logging meanwhile. */
void log_set_level(enum log_level max_level);

/*
 * Sends lines to the file PATH (appended, created 0640) instead of the base target; NULL goes
 * back to the base target. Safe while other threads log: the descriptor is swapped with dup2,
 * so a line goes whole to the old file or the new one. Returns 0, or -1 with errno set and the
 * previous target still in use.
 */
int log_set_file(const char *path);

/*
 * Opens the log file's path again (after logrotate renamed it), so new lines go to a new file.
 * 0 when there is no log file or it was reopened; -1 with errno set (the old file stays in use).
 */
int log_reopen(void);

/* The log file's path, or NULL. */
const char *log_file_path(void);

/* Mirrors every line to stderr too, whatever the target (a detached daemon before it is ready). */
void log_mirror_stderr(bool on);

/* Whether syslog can be reached (/dev/log exists); a detached daemon without it logs nowhere. */
bool log_syslog_available(void);

/* Inline because the query path asks it for every blocked query (debug lines). */
extern _Atomic enum log_level log_max_level;
static inline bool log_enabled(enum log_level level)
{
	return level <= atomic_load_explicit(&log_max_level, memory_order_relaxed);
}
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "error", "warning", "info", "debug": as in log lines and `log-level:`. */
const char *log_level_name(enum log_level level);

#define log_err(...)   log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOG_LEVEL_DEBUG)) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)

#endif
