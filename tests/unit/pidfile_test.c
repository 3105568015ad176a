/*
 * pidfile_test: pidfile_write's content, and that it leaves no descriptor open on any path
 * (the stdio version leaked its FILE when fprintf failed): a write to /dev/full fails with
 * ENOSPC, a path in a missing directory fails at open, and after each the next descriptor the
 * process gets is the same number as before.
 */
#include "pidfile.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

/* The lowest free descriptor number now. */
static int next_fd(void)
{
	int fd = open("/dev/null", O_RDONLY);

	close(fd);
	return fd;
}

int main(void)
{
	char dir[] = "/tmp/pidfile_test.XXXXXX", path[64], buf[64] = { 0 };
	int before, fd;
	ssize_t n;

	log_init(LOG_LEVEL_ERR, false);
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/blokir.pid", dir);
	before = next_fd();
	is_int(pidfile_write(path, 4242), 0, "writes a pidfile");
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	ok(n == 5 && strcmp(buf, "4242\n") == 0, "the PID and a newline");
	is_int(pidfile_write(path, 7), 0, "rewrites an existing one");
	fd = open(path, O_RDONLY);
	memset(buf, 0, sizeof(buf));
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	ok(n == 2 && strcmp(buf, "7\n") == 0, "truncated first: no digits of the old PID left");
	is_int(next_fd(), before, "no descriptor left open after success");

	if (access("/dev/full", W_OK) == 0) {
		is_int(pidfile_write("/dev/full", 4242), -1, "a full disk (/dev/full): -1");
		is_int(next_fd(), before, "no descriptor left open when the write fails");
	} else {
		ok(1, "# SKIP no /dev/full");
		ok(1, "# SKIP no /dev/full");
	}
	snprintf(buf, sizeof(buf), "%s/missing/blokir.pid", dir);
	is_int(pidfile_write(buf, 4242), -1, "a missing directory: -1");
	is_int(next_fd(), before, "no descriptor left open when open fails");
	unlink(path);
	rmdir(dir);
	return tap_exit();
}
