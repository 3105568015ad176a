/*
 * pidfile_test: pidfile_write's content; it keeps exactly one descriptor (for emptying the file
 * when it cannot be removed) and leaks none on a failure: a write to /dev/full fails with
 * ENOSPC, a path in a missing directory fails at open. pidfile_remove removes the file and
 * closes the descriptor. (Emptying instead of removing needs a non-root user: see
 * tests/system/22-privdrop.t.)
 */
#include "pidfile.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static int read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	memset(buf, 0, cap);
	n = fd >= 0 ? read(fd, buf, cap - 1) : -1;
	if (fd >= 0)
		close(fd);
	return (int)n;
}

int main(void)
{
	char dir[] = "/tmp/pidfile_test.XXXXXX", path[64], buf[64];
	struct pidfile *pf, *pf2;
	int before;

	log_init(LOG_LEVEL_ERR, false);
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/blokir.pid", dir);
	before = next_fd();
	pf = pidfile_write(path, 4242);
	ok(pf != NULL, "writes a pidfile");
	ok(read_file(path, buf, sizeof(buf)) == 5 && strcmp(buf, "4242\n") == 0, "the PID and a newline");
	is_int(next_fd(), before + 1, "keeps one descriptor open");
	pidfile_remove(pf);
	ok(access(path, F_OK) < 0, "pidfile_remove removes the file");
	is_int(next_fd(), before, "  ... and closes the descriptor");

	pf = pidfile_write(path, 4242424);
	pidfile_remove(NULL);
	pf2 = pf ? pidfile_write(path, 7) : NULL;
	ok(pf2 != NULL && read_file(path, buf, sizeof(buf)) == 2 && strcmp(buf, "7\n") == 0,
		"rewrites an existing one, truncated first: no digits of the old PID left");
	pidfile_remove(pf2);
	pidfile_remove(pf); /* the file is gone already: emptying the open descriptor is harmless */
	is_int(next_fd(), before, "no descriptor left open after both are removed");

	struct stat st;
	/* Only the character device: a regular file of that name would take the write. */
	if (stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode) && access("/dev/full", W_OK) == 0) {
		ok(pidfile_write("/dev/full", 4242) == NULL, "a full disk (/dev/full): NULL");
		is_int(next_fd(), before, "no descriptor left open when the write fails");
	} else {
		ok(1, "# SKIP no /dev/full");
		ok(1, "# SKIP no /dev/full");
	}
	snprintf(buf, sizeof(buf), "%s/missing/blokir.pid", dir);
	ok(pidfile_write(buf, 4242) == NULL, "a missing directory: NULL");
	is_int(next_fd(), before, "no descriptor left open when open fails");
	rmdir(dir);
	return tap_exit();
}
