/*
 * appendlog_bench: the process CPU an audit-like stream of lines costs through appendlog (the
 * audit log's file module), per line, from getrusage: user and system time, which, unlike
 * throughput, depend little on what else the machine runs (run it on an idle machine all the
 * same, 3 times, and look at the spread).
 *
 * Build and run (from the repository root):
 *   cc -std=c11 -D_GNU_SOURCE -O2 -g -Iinclude -o /tmp/appendlog_bench bench/appendlog_bench.c \
 *      src/appendlog.c
 *   /tmp/appendlog_bench DIR [MB [LINES-A-PASS [LEN]]]
 *   /tmp/appendlog_bench -b DIR ...     the same through a plain buffered O_APPEND write(2)
 *
 * It writes MB megabytes (default 100) of LEN-byte lines (default 277, a typical audit line)
 * to a file in DIR (removed at the end), the way the audit writer does: each line put in place
 * at appendlog_room, the stage's whole blocks flushed when it is full, and everything flushed
 * every LINES-A-PASS lines (default 9,000: a pass every 50 ms at 180,000 lines a second). With
 * -b, the same passes go to an O_APPEND descriptor with one write(2) of at most the stage's
 * size each, as a plain log file would take them (its later writeback is the kernel's, not
 * counted here). The stage's size is STAGE in src/appendlog.c: change it there to compare.
 * /tmp or /var/tmp is the disk's file system here (ext4), /dev/shm is tmpfs.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "appendlog.h"

static void times(double *user, double *sys, double *wall)
{
	struct rusage ru;
	struct timespec ts;

	getrusage(RUSAGE_SELF, &ru);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	*user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	*sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	*wall = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Line I (LEN bytes, ending in a newline) at O: a fixed text that changes from line to line. */
static void put_line(char *o, const char *text, size_t len, size_t i)
{
	memcpy(o, text, len);
	o[0] = (char)('a' + i % 26);
}

int main(int argc, char **argv)
{
	bool buffered = argc > 1 && strcmp(argv[1], "-b") == 0;
	char **arg = argv + 1 + buffered;
	int left = argc - 1 - buffered;

	if (left < 1) {
		fprintf(stderr, "usage: appendlog_bench [-b] DIR [MB [LINES-A-PASS [LEN]]]\n");
		return 2;
	}
	size_t mb = left > 1 ? strtoul(arg[1], NULL, 10) : 100;
	size_t pass = left > 2 ? strtoul(arg[2], NULL, 10) : 9000;
	size_t len = left > 3 ? strtoul(arg[3], NULL, 10) : 277;
	if (len < 2 || len > 4096 || pass == 0) {
		fprintf(stderr, "appendlog_bench: LEN 2..4096, LINES-A-PASS at least 1\n");
		return 2;
	}
	char path[4096], text[4096];
	snprintf(path, sizeof(path), "%s/appendlog_bench.%d.log", arg[0], (int)getpid());
	memset(text, 'x', len);
	text[len - 1] = '\n';
	size_t lines = mb * 1000000 / len;

	unlink(path);
	struct appendlog *l = buffered ? NULL : appendlog_open(path); /* ours: closed below */
	int fd = buffered ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640) : -1;
	char *buf = buffered ? malloc(APPENDLOG_ROOM_MIN) : NULL; /* ours */
	if (buffered ? fd < 0 || buf == NULL : l == NULL) {
		perror(path);
		return 1;
	}
	bool direct = l != NULL && appendlog_direct(l);
	double u0, s0, w0, u1, s1, w1;
	struct appendlog_lost lost;
	size_t room, n;
	char *start = l ? appendlog_room(l, &room) : buf, *o = start;
	char *lim = start + (l ? room : APPENDLOG_ROOM_MIN) - len;

	times(&u0, &s0, &w0);
	for (size_t i = 0; i < lines; i++) {
		put_line(o, text, len, i);
		o += len;
		bool end = (i + 1) % pass == 0 || i + 1 == lines;
		if (!end && o <= lim)
			continue;
		if (l == NULL) {
			n = (size_t)(o - start);
			if (write(fd, start, n) != (ssize_t)n)
				goto failed;
			o = start;
			continue;
		}
		appendlog_commit(l, (size_t)(o - start));
		if (appendlog_flush(l, end, &lost) < 0)
			goto failed;
		start = o = appendlog_room(l, &room);
		lim = start + room - len;
	}
	times(&u1, &s1, &w1);
	printf("%s: %s, %zu lines of %zu bytes, %zu a pass: CPU %.1f ns a line (user %.1f, "
		"system %.1f), wall %.1f ns a line\n", arg[0], buffered ? "buffered write(2)" :
		direct ? "appendlog, O_DIRECT" : "appendlog, without O_DIRECT", lines, len, pass,
		(u1 - u0 + s1 - s0) * 1e9 / (double)lines, (u1 - u0) * 1e9 / (double)lines,
		(s1 - s0) * 1e9 / (double)lines, (w1 - w0) * 1e9 / (double)lines);
	appendlog_close(l);
	if (fd >= 0)
		close(fd);
	free(buf);
	unlink(path);
	return 0;
failed:
	perror("appendlog_bench: write");
	appendlog_close(l);
	unlink(path);
	return 1;
}
