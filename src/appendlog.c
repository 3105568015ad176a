/*
 * appendlog: whole blocks with O_DIRECT, the last partial one through O_APPEND (see
 * include/appendlog.h).
 *
 * The file is seen as blocks of BLK bytes: `base` is where its last, partial block starts and
 * `held` how many bytes of it the file has, a copy of which starts `stage`. A write copies the
 * caller's bytes after them into `stage`; every whole block there goes out with one pwrite on
 * the O_DIRECT descriptor at `base` (the held bytes again, unchanged, then the new ones), and
 * what is left, under a block, becomes the new partial block: its bytes go through the O_APPEND
 * descriptor, so the file always ends where `base + held` says. BLK is 4096, the largest
 * logical block size of the devices in use (512-byte devices take it too).
 */
#include "appendlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLK 4096
#define STAGE (1024 * 1024) /* the most bytes one O_DIRECT pwrite sends */

struct appendlog {
	int fd;          /* O_RDWR | O_APPEND: the partial block, and everything without O_DIRECT */
	int dfd;         /* O_WRONLY | O_DIRECT on the same file, or -1 */
	off_t base;      /* where the last partial block starts: a multiple of BLK */
	size_t held;     /* its bytes in the file, copied at stage[0 .. held) */
	uint8_t *stage;  /* owned, BLK-aligned, STAGE bytes */
};

static void no_direct(struct appendlog *l)
{
	if (l->dfd >= 0)
		close(l->dfd);
	l->dfd = -1;
}

/* Plain write(2) of all N bytes on the O_APPEND descriptor; returns how many went. */
static size_t append_all(int fd, const uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, p + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ENOSPC; /* no room, as write(2) says it with 0 */
			break;
		}
		done += (size_t)r;
	}
	return done;
}

/*
 * Takes the partial block from the file as it is now: at the start, and whenever its size is
 * not what the last write left (someone else appended to it or truncated it). Without O_DIRECT
 * there is nothing to take. A tail that cannot be read back turns O_DIRECT off.
 */
static void take_tail(struct appendlog *l, off_t size)
{
	l->base = size & ~(off_t)(BLK - 1);
	l->held = (size_t)(size - l->base);
	if (l->dfd < 0 || l->held == 0)
		return;
	if (pread(l->fd, l->stage, l->held, l->base) != (ssize_t)l->held)
		no_direct(l);
}

struct appendlog *appendlog_open(const char *path)
{
	struct appendlog *l = calloc(1, sizeof(*l)); /* owned by the caller: appendlog_close */
	struct stat a, b;
	int err;

	if (l == NULL)
		return NULL;
	l->dfd = -1;
	/* read too, for the partial block's bytes; a file this user may only write to gets no
	   O_DIRECT */
	l->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	bool readable = l->fd >= 0;
	if (l->fd < 0 && errno == EACCES)
		l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (l->fd < 0)
		goto fail;
	if (fstat(l->fd, &a) < 0)
		goto fail;
	/* Only a regular file has blocks to write whole (not a FIFO, not /dev/stdout). */
	if (readable && S_ISREG(a.st_mode) && posix_memalign((void **)&l->stage, BLK, STAGE) == 0) {
		l->dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOCTTY);
		/* the same file, not one a rename put at PATH in between */
		if (l->dfd >= 0 && (fstat(l->dfd, &b) < 0 || a.st_ino != b.st_ino ||
		    a.st_dev != b.st_dev))
			no_direct(l);
	}
	take_tail(l, a.st_size);
	return l;
fail:
	err = errno;
	appendlog_close(l);
	errno = err;
	return NULL;
}

bool appendlog_direct(const struct appendlog *l)
{
	return l->dfd >= 0;
}

size_t appendlog_write(struct appendlog *l, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	size_t done = 0;
	struct stat st;

	if (l->dfd >= 0) {
		if (fstat(l->fd, &st) < 0)
			no_direct(l);
		else if (st.st_size != l->base + (off_t)l->held)
			take_tail(l, st.st_size);
	}
	while (done < n && l->dfd >= 0) {
		size_t take = n - done < STAGE - l->held ? n - done : STAGE - l->held;
		size_t total = l->held + take, whole = total & ~(size_t)(BLK - 1);

		memcpy(l->stage + l->held, p + done, take);
		if (whole > 0) {
			ssize_t r = pwrite(l->dfd, l->stage, whole, l->base);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno == EINVAL) { /* alignment the device wants more of */
				no_direct(l);
				break;
			}
			if (r < 0) /* ENOSPC, EIO, EFBIG: the file is as it was */
				return done;
			if (r < (ssize_t)whole) {
				/* Short (a size limit, a full file system): the file has what went,
				   and the rest goes through O_APPEND, whose write(2) says why it
				   stops; the partial block is then taken from the file's new end. */
				done += (size_t)r > l->held ? (size_t)r - l->held : 0;
				done += append_all(l->fd, p + done, n - done);
				int err = errno;
				if (fstat(l->fd, &st) < 0)
					no_direct(l);
				else
					take_tail(l, st.st_size);
				errno = err;
				return done;
			}
			l->base += (off_t)whole;
			l->held = 0;
			memmove(l->stage, l->stage + whole, total - whole);
		}
		/* The rest of the block through O_APPEND: the file ends at base + held now. */
		size_t rest = total - whole, fresh = rest - l->held;
		size_t went = append_all(l->fd, l->stage + l->held, fresh);
		l->held += went;
		done += take - (fresh - went);
		if (went < fresh)
			return done;
	}
	if (done < n) /* without O_DIRECT */
		done += append_all(l->fd, p + done, n - done);
	return done;
}

void appendlog_close(struct appendlog *l)
{
	if (l == NULL)
		return;
	if (l->fd >= 0)
		close(l->fd);
	no_direct(l);
	free(l->stage);
	free(l);
}
