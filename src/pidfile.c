/*
 * pidfile: write, keep, remove (see include/pidfile.h).
 */
#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

struct pidfile {
	int fd;     /* open for writing since before the privilege drop */
	char *path; /* owned */
};

struct pidfile *pidfile_write(const char *path, pid_t pid)
{
	struct pidfile *pf = calloc(1, sizeof(*pf)); /* owned by the caller */
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);

	if (pf == NULL || (pf->path = strdup(path)) == NULL) {
		log_err("pidfile %s: out of memory", path);
		free(pf);
		return NULL;
	}
	pf->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
	ssize_t w = pf->fd < 0 ? -1 : write(pf->fd, buf, (size_t)n);
	if (w != n) {
		if (w >= 0)
			errno = ENOSPC; /* a short write of a few bytes means a full disk */
		log_err("pidfile %s: %s", path, strerror(errno));
		/* not unlinked: PATH may be something that was there before (even /dev/full) */
		if (pf->fd >= 0)
			close(pf->fd);
		free(pf->path);
		free(pf);
		return NULL;
	}
	return pf;
}

void pidfile_check_removable(const struct pidfile *pf)
{
	char *copy;

	if (pf == NULL || (copy = strdup(pf->path)) == NULL)
		return;
	/* access() asks with the real IDs, which the privilege drop has set */
	if (access(dirname(copy), W_OK) < 0)
		log_warn("pidfile %s: its directory is not writable after dropping privileges, so "
			"at stop the file is emptied rather than removed; put it in a directory the "
			"user owns", pf->path);
	free(copy);
}

void pidfile_remove(struct pidfile *pf)
{
	if (pf == NULL)
		return;
	if (unlink(pf->path) < 0 && ftruncate(pf->fd, 0) < 0)
		log_warn("pidfile %s: cannot remove or empty it: %s", pf->path, strerror(errno));
	close(pf->fd);
	free(pf->path);
	free(pf);
}
