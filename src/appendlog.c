/*
 * appendlog: whole blocks with O_DIRECT, the last partial one through O_APPEND (see
 * include/appendlog.h).
 *
 * The file is seen as blocks of BLK bytes: `base` is where its last, partial block starts and
 * `held` how many bytes of it the file has, a copy of which starts `stage`; the `pend` bytes
 * committed after them, not yet in the file, follow. A flush sends every whole block there with
 * one pwrite on the O_DIRECT descriptor at `base` (the held bytes again, unchanged, then the new
 * ones) and moves what is left, under a block, to the stage's start; with ALL that rest's new
 * bytes then go through the O_APPEND descriptor and it becomes the held partial block, so the
 * file always ends where `base + held` says between two flushes. Without O_DIRECT the stage is
 * only a buffer (held is 0) and a flush appends what is pending. BLK is 4096, the largest
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
/*
 * The most bytes one O_DIRECT pwrite sends (a full stage): each pwrite pins its pages and kicks
 * the device, so fewer, larger ones cost less CPU a byte. Measured with bench/appendlog_bench.c
 * on ext4 (277-byte lines in passes of 2.5 MB): 160 ns a line at 256 KiB, 109 at 1 MiB, 98 at
 * 2 MiB and 90 at 4 MiB (medians; README, "Audit log cost"). Only the pages a pass fills are
 * touched: a quiet log keeps a few.
 */
#define STAGE (4 * 1024 * 1024)

_Static_assert(APPENDLOG_ROOM_MIN <= STAGE - BLK, "a flushed stage has this much room");

struct appendlog {
	int fd;          /* O_RDWR | O_APPEND: the partial block, and everything without O_DIRECT */
	int dfd;         /* O_WRONLY | O_DIRECT on the same file, or -1 */
	bool stale;      /* a failed write left the file's end unknown: taken again at the next
	                    flush */
	int last;        /* the last byte this appendlog put in the file, or -1 */
	off_t base;      /* where the last partial block starts: a multiple of BLK */
	size_t held;     /* its bytes in the file, copied at stage[0 .. held) */
	size_t pend;     /* bytes committed, not yet in the file, at stage[held .. held + pend) */
	uint8_t *stage;  /* owned, BLK-aligned, STAGE + BLK bytes: the extra block is room for a
	                    partial block taken from the file, in front of a full stage, after
	                    someone else appended to it */
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
 * Takes the partial block from the file as it is now (SIZE bytes long), in front of the bytes
 * pending: at the start, and whenever its size is not what the last flush left (someone else
 * appended to it or truncated it, or a failed write left it unknown). Without O_DIRECT there is
 * nothing to take. A tail that cannot be read back turns O_DIRECT off.
 */
static void take_tail(struct appendlog *l, off_t size)
{
	off_t base = size & ~(off_t)(BLK - 1);
	size_t held = (size_t)(size - base);

	l->stale = false;
	if (l->dfd < 0)
		return;
	memmove(l->stage + held, l->stage + l->held, l->pend);
	l->base = base;
	l->held = held;
	if (held > 0 && pread(l->fd, l->stage, held, base) != (ssize_t)held)
		no_direct(l);
}

struct appendlog *appendlog_open(const char *path)
{
	struct appendlog *l = calloc(1, sizeof(*l)); /* owned by the caller: appendlog_close */
	struct stat a, b;
	int err;

	if (l == NULL)
		return NULL;
	l->fd = -1;
	l->dfd = -1;
	l->last = -1;
	if (posix_memalign((void **)&l->stage, BLK, STAGE + BLK) != 0) {
		l->stage = NULL;
		errno = ENOMEM;
		goto fail;
	}
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
	if (readable && S_ISREG(a.st_mode)) {
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

char *appendlog_room(struct appendlog *l, size_t *room)
{
	*room = STAGE - l->held - l->pend;
	return (char *)l->stage + l->held + l->pend;
}

void appendlog_commit(struct appendlog *l, size_t n)
{
	l->pend += n;
}

/*
 * The pending bytes from KEPT on did not go (errno says why): reported in LOST and dropped. With
 * O_DIRECT the file's end is taken again at the next flush rather than trusted.
 */
static int drop(struct appendlog *l, size_t kept, struct appendlog_lost *lost)
{
	int err = errno;

	if (kept > 0)
		l->last = l->stage[l->held + kept - 1];
	lost->bytes = (const char *)l->stage + l->held + kept;
	lost->len = l->pend - kept;
	lost->prev = l->last;
	l->held = 0;
	l->pend = 0;
	l->stale = l->dfd >= 0;
	errno = err;
	return -1;
}

/* The whole blocks at the stage's start, with O_DIRECT from where they are; what is left (under
 * a block) moves to the start. 0, or -1 from drop. */
static int put_blocks(struct appendlog *l, struct appendlog_lost *lost)
{
	size_t total = l->held + l->pend, whole = total & ~(size_t)(BLK - 1);
	ssize_t r;

	if (whole == 0)
		return 0;
	do
		r = pwrite(l->dfd, l->stage, whole, l->base);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EINVAL) { /* alignment the device wants more of */
		no_direct(l);
		return 0; /* the pending bytes go through O_APPEND */
	}
	if (r < 0) /* ENOSPC, EIO, EFBIG: the file is as it was */
		return drop(l, 0, lost);
	if ((size_t)r < whole) {
		/* Short (a size limit, a full file system): the file has what went, and the rest
		 * goes through O_APPEND, whose write(2) says why it stops. */
		size_t kept = (size_t)r > l->held ? (size_t)r - l->held : 0;
		kept += append_all(l->fd, l->stage + l->held + kept, l->pend - kept);
		if (kept < l->pend)
			return drop(l, kept, lost);
		l->last = l->stage[total - 1];
		l->held = 0;
		l->pend = 0;
		l->stale = true;
		return 0;
	}
	l->last = l->stage[whole - 1];
	l->base += (off_t)whole;
	l->held = 0;
	l->pend = total - whole;
	memmove(l->stage, l->stage + whole, l->pend);
	return 0;
}

int appendlog_flush(struct appendlog *l, bool all, struct appendlog_lost *lost)
{
	if (l->pend == 0)
		return 0;
	if (l->dfd >= 0) {
		struct stat st;
		if (fstat(l->fd, &st) < 0)
			no_direct(l);
		else if (l->stale || st.st_size != l->base + (off_t)l->held)
			take_tail(l, st.st_size);
	}
	if (l->dfd >= 0) {
		if (put_blocks(l, lost) < 0)
			return -1;
		if (!all && l->dfd >= 0)
			return 0;
	}
	/* The partial block's new bytes (or, without O_DIRECT, all of them) through O_APPEND. */
	size_t went = append_all(l->fd, l->stage + l->held, l->pend);
	if (went < l->pend)
		return drop(l, went, lost);
	if (went > 0)
		l->last = l->stage[l->held + went - 1];
	l->held = l->dfd >= 0 ? l->held + went : 0; /* under a block: put_blocks took the rest */
	l->pend = 0;
	return 0;
}

size_t appendlog_write(struct appendlog *l, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	struct appendlog_lost lost;
	size_t done = 0;

	do {
		size_t room;
		char *o = appendlog_room(l, &room);
		size_t take = n - done < room ? n - done : room;
		memcpy(o, p + done, take);
		appendlog_commit(l, take);
		done += take;
		if (appendlog_flush(l, done == n, &lost) < 0)
			return lost.len < done ? done - lost.len : 0;
	} while (done < n);
	return n;
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
