/*
 * appendlog: a file that lines are only ever appended to (the audit log), written in whole
 * blocks with O_DIRECT where the file system takes it.
 *
 * At tens of MB a second a buffered write(2) costs its writer more than the formatting: the
 * kernel allocates, zeroes and fills a page-cache page per 4 KiB and later writes it back
 * (bench/appendlog_bench.c on this machine's ext4: ~520 ns of CPU per 277-byte audit line
 * through a buffered write(2), before the writeback, against ~90 through appendlog). O_DIRECT writes go from the caller's memory to the device, but only in whole,
 * aligned blocks at aligned offsets, and a log must show every line once its writer has
 * finished a batch of them. So the caller puts its bytes straight into appendlog's aligned
 * stage (appendlog_room, appendlog_commit: no copy in between), whose start holds the file's
 * last partial block; when the stage is full, its whole blocks go out with O_DIRECT from where
 * they are (appendlog_flush without ALL), and at the end of a batch (with ALL) the whole blocks
 * go the same way and the last partial block's new bytes through an ordinary O_APPEND
 * descriptor. The next write sends that block again, whole and with its new bytes, with
 * O_DIRECT (the kernel writes the cached page out and drops it first): one buffered write and
 * one such drop per batch, however large. Once a flush with ALL returns, every byte committed
 * is in the file, as after write(2), so readers (tail -f) and a crash see what they would with
 * a plain O_APPEND file; in between, the file may end inside a line for a moment.
 *
 * Where O_DIRECT is refused (a file system without it) or fails for alignment, everything goes
 * through the O_APPEND descriptor, as a plain log file would, from the same stage. Someone else
 * changing the file's length (an `echo >>`, a copytruncate) is noticed at the next flush by its
 * size: the blocks are counted again from the new end, so nothing is written over or past it.
 * One that lands between that look and the O_DIRECT write itself is not: its bytes are written
 * over, or a truncated file gets a hole of zeros. Rotation by rename and reopen (the shipped
 * logrotate snippet) has no such window; copytruncate loses lines with any writer.
 *
 * One thread uses an appendlog at a time (the audit writer). It knows nothing of lines: a
 * caller that counts what a failed write lost reads the bytes appendlog_flush reports.
 */
#ifndef BLOKIR_APPENDLOG_H
#define BLOKIR_APPENDLOG_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The room appendlog_room gives at least once appendlog_flush has returned (and after
 * appendlog_open): a caller that formats records in place needs its longest record to fit.
 */
#define APPENDLOG_ROOM_MIN (4 * 1024 * 1024 - 4096)

struct appendlog;

/* Opens PATH (created 0640 when missing) for appending. NULL with errno set when it cannot. */
struct appendlog *appendlog_open(const char *path);

/*
 * Where the caller's next bytes go: a pointer into L's stage after the bytes committed and not
 * yet flushed, with *ROOM bytes writable there (at least APPENDLOG_ROOM_MIN after a flush; less
 * as commits fill the stage: flush without ALL to make room). Valid until the next call on L
 * other than appendlog_room. Bytes written there and not committed are not part of the file.
 */
char *appendlog_room(struct appendlog *l, size_t *room);

/* The first N bytes (at most the room) at appendlog_room's pointer are appended to the file at
 * the next appendlog_flush. */
void appendlog_commit(struct appendlog *l, size_t n);

/* What a failed flush lost. */
struct appendlog_lost {
	const char *bytes;  /* the committed bytes that are not in the file (L's stage: valid until
	                       the next call on L) */
	size_t len;         /* their number: always the last LEN bytes committed */
	int prev;           /* the byte the file ends with as this appendlog wrote it (the one just
	                       before BYTES), or -1 when it has written none */
};

/*
 * Writes committed bytes out. With ALL, all of them: when it returns, they are in the file.
 * Without, only the whole blocks among them (every byte when O_DIRECT is off), the rest staying
 * committed at the stage's start: the way to make room in the middle of a batch, with no
 * buffered write. A call with nothing committed makes no system call.
 *
 * Returns 0, or -1 with errno set (ENOSPC, EIO, EFBIG, ...) when a write failed: the file then
 * ends with exactly the committed bytes before *LOST's, which are dropped (the next bytes
 * committed follow those that are in the file), and the stage has its full room again.
 */
int appendlog_flush(struct appendlog *l, bool all, struct appendlog_lost *lost);

/*
 * BUF's N bytes committed and flushed (ALL), for a caller that has them in a buffer of its
 * own (with nothing committed before). Returns how many of them are in the file: N, or fewer
 * when a write failed, with errno set; the file then ends with exactly those bytes.
 */
size_t appendlog_write(struct appendlog *l, const void *buf, size_t n);

/* Whether whole blocks go with O_DIRECT (false: every byte through the O_APPEND descriptor). */
bool appendlog_direct(const struct appendlog *l);

/* Closes the file; committed bytes not flushed are dropped (flush first). NULL is a no-op. */
void appendlog_close(struct appendlog *l);

#endif
