/*
 * pidfile: see include/pidfile.h. Written with one write(2) on a plain descriptor rather than
 * stdio: a FILE has two places to fail (fprintf, fclose) and each must close it, which the old
 * version missed; here there is one descriptor and one close on every path.
 */
#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int pidfile_write(const char *path, pid_t pid)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t w;
	int err;

	if (fd < 0)
		goto fail;
	w = write(fd, buf, (size_t)len);
	if (w != len) {
		err = w < 0 ? errno : ENOSPC; /* a short write of 20 bytes means a full disk */
		close(fd);
		errno = err;
		goto fail;
	}
	if (close(fd) != 0)
		goto fail;
	return 0;
fail:
	log_err("pidfile %s: %s", path, strerror(errno));
	return -1;
}
