/*
 * log: one line per message to stderr, syslog or a log file (see include/log.h).
 *
 * The line is assembled in a stack buffer and written with one write(2), which keeps lines from
 * different worker threads whole without a lock. The log file's descriptor number never changes
 * once opened: a new file (a reopen, another path at reload) is dup2'd onto it, and giving the
 * file up dup2's /dev/null onto it, so a thread that read the number just before is never left
 * writing to a closed descriptor (or to a socket that reused its number).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

_Atomic enum log_level log_max_level = LOG_LEVEL_INFO;
static bool to_syslog;                  /* the base target; set before any thread */
static _Atomic bool to_file;            /* lines go to file_fd instead of the base target */
static _Atomic bool mirror_stderr;
static _Atomic int file_fd = -1;        /* once set, only ever dup2'd onto */
static char file_path[PATH_MAX];        /* main thread only */

void log_init(enum log_level level, bool use_syslog)
{
	atomic_store(&log_max_level, level);
	to_syslog = use_syslog;
	if (use_syslog)
		openlog("blokir", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&log_max_level, level, memory_order_relaxed);
}

const char *log_level_name(enum log_level level)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };

	return names[level];
}

/* Puts FD (owned, closed here) behind file_fd. */
static int install_fd(int fd)
{
	int cur = atomic_load(&file_fd);

	if (cur < 0) {
		atomic_store(&file_fd, fd);
		return 0;
	}
	if (dup3(fd, cur, O_CLOEXEC) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

static int open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

int log_set_file(const char *path)
{
	int fd;

	if (path == NULL) {
		if (!atomic_load(&to_file))
			return 0;
		atomic_store(&to_file, false);
		file_path[0] = '\0';
		/* park the descriptor on /dev/null: a line still being written goes nowhere */
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		return fd < 0 ? -1 : install_fd(fd);
	}
	if (strlen(path) >= sizeof(file_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open_file(path)) < 0 || install_fd(fd) < 0)
		return -1;
	memmove(file_path, path, strlen(path) + 1);
	atomic_store(&to_file, true);
	return 0;
}

int log_reopen(void)
{
	int fd;

	if (!atomic_load(&to_file))
		return 0;
	if ((fd = open_file(file_path)) < 0)
		return -1;
	return install_fd(fd);
}

const char *log_file_path(void)
{
	return atomic_load(&to_file) ? file_path : NULL;
}

void log_mirror_stderr(bool on)
{
	atomic_store(&mirror_stderr, on);
}

bool log_syslog_available(void)
{
	return access("/dev/log", W_OK) == 0;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;
	int r;
	bool file = atomic_load(&to_file);
	bool err = atomic_load(&mirror_stderr) || (!file && !to_syslog);
	int saved_errno = errno;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ blokir[%d] %s: ", ts.tv_nsec / 1000000,
		(int)getpid(), log_level_name(level));
	if (r > 0)
		n += (size_t)r;
	va_start(ap, fmt);
	if (to_syslog && !file) {
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
	/* A failed log write has nowhere to be reported; it is ignored deliberately, and the
	 * caller's errno survives it. */
	if (file && write(atomic_load(&file_fd), line, n) < 0)
		err = true;
	if (err && write(STDERR_FILENO, line, n) < 0)
		err = false;
	errno = saved_errno;
}
