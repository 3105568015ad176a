/*
 * appendlog: a file that lines are only ever appended to (the audit log), written in whole
 * blocks with O_DIRECT where the file system takes it.
 *
 * At tens of MB a second a buffered write(2) costs its writer more than the formatting: the
 * kernel allocates, zeroes and fills a page-cache page per 4 KiB and later writes it back
 * (measured here: ~190 ns of kernel time per 277-byte audit line on ext4, against ~15 with
 * O_DIRECT). O_DIRECT writes go from the caller's memory to the device, but only in whole,
 * aligned blocks at aligned offsets, and a log must show every line as soon as it is written.
 * So each write sends the whole blocks with O_DIRECT and the last partial block's new bytes
 * through an ordinary O_APPEND descriptor; the next write sends that block again, whole and
 * with its new bytes, with O_DIRECT (the kernel writes the cached page out and drops it first).
 * Once a call returns, every byte it accepted is in the file, as with write(2), so readers
 * (tail -f) and a crash see what they would with a plain O_APPEND file.
 *
 * Where O_DIRECT is refused (a file system without it) or fails for alignment, everything goes
 * through the O_APPEND descriptor, as a plain log file would. Someone else changing the file's
 * length (an `echo >>`, a copytruncate) is noticed at the next write by its size: the blocks are
 * counted again from the new end, so nothing is written over or past it. One that lands between
 * that look and the O_DIRECT write itself is not: its bytes are written over, or a truncated
 * file gets a hole of zeros. Rotation by rename and reopen (the shipped logrotate snippet) has
 * no such window; copytruncate loses lines with any writer.
 *
 * One thread uses an appendlog at a time (the audit writer).
 */
#ifndef BLOKIR_APPENDLOG_H
#define BLOKIR_APPENDLOG_H

#include <stdbool.h>
#include <stddef.h>

struct appendlog;

/* Opens PATH (created 0640 when missing) for appending. NULL with errno set when it cannot. */
struct appendlog *appendlog_open(const char *path);

/*
 * Appends BUF's N bytes. Returns how many of them are in the file: N, or fewer when a write
 * failed, with errno set (ENOSPC, EIO, ...); the file then ends with exactly the returned
 * bytes, and the next call appends after them.
 */
size_t appendlog_write(struct appendlog *l, const void *buf, size_t n);

/* Whether whole blocks go with O_DIRECT (false: every byte through the O_APPEND descriptor). */
bool appendlog_direct(const struct appendlog *l);

/* Closes the file. NULL is a no-op. */
void appendlog_close(struct appendlog *l);

#endif
