/*
 * appendlog_test: after every write the file holds exactly the bytes written so far, whatever
 * the sizes (1 byte to past twice the 4 MiB stage, across block boundaries), on the disk's file
 * system (ext4 in CI, O_DIRECT) and on tmpfs (/dev/shm); an existing file with a partial last
 * block is appended to, not written over; bytes someone else appends between two writes stay,
 * and a truncation (copytruncate) restarts at the new end without a hole; a file size limit
 * (RLIMIT_FSIZE: EFBIG) gives a short count that is exactly what the file holds, and the
 * next write after the limit is lifted goes on from there; a non-regular file (/dev/null)
 * goes without O_DIRECT.
 *
 * The in-place interface (appendlog_room, appendlog_commit, appendlog_flush) the same way:
 * commits of every size around the block boundaries, batches that end in the middle of a
 * block or on its edge, flushes without ALL in the middle of a batch (whole blocks only: the
 * file ends on a block boundary with O_DIRECT, and holds a prefix of what was committed),
 * another writer appending in the middle of a batch, and a write that fails in the middle of a
 * batch or at its end (RLIMIT_FSIZE): the bytes reported lost are exactly the last ones
 * committed, the file holds exactly the rest, the byte before them is the file's last, the
 * stage has its room again, and the batch goes on after them once the limit is lifted.
 */
#include "appendlog.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

static uint8_t *want;   /* what the file should hold */
static size_t want_len, want_cap;

static void expect(const void *p, size_t n)
{
	if (want_len + n > want_cap) {
		want_cap = (want_len + n) * 2;
		want = realloc(want, want_cap);
	}
	memcpy(want + want_len, p, n);
	want_len += n;
}

/* Whether PATH holds exactly `want`. */
static int holds(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *got = malloc(want_len + 1);
	size_t n = f ? fread(got, 1, want_len + 1, f) : 0;
	int same = f != NULL && n == want_len && memcmp(got, want, n) == 0;

	if (!same)
		printf("#   file has %zu bytes, want %zu\n", n, want_len);
	if (f)
		fclose(f);
	free(got);
	return same;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* N bytes of text lines into BUF. */
static void fill(uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = rnd() % 40 == 0 ? '\n' : (uint8_t)('a' + rnd() % 26);
}

/* N bytes of BUF committed in place, making room first (a flush without ALL) when needed; the
 * flush's result, 0 or -1. */
static int put(struct appendlog *l, const uint8_t *buf, size_t n, struct appendlog_lost *lost)
{
	size_t room;
	char *o = appendlog_room(l, &room);
	int rc = 0;

	if (room < n) {
		rc = appendlog_flush(l, false, lost);
		o = appendlog_room(l, &room);
	}
	memcpy(o, buf, n);
	appendlog_commit(l, n);
	return rc;
}

/* The file's size, or -1. */
static long long size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

/* Whether PATH's first bytes are `want`'s first N (the file may be shorter than want). */
static int prefix_holds(const char *path, size_t n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *got = malloc(n + 1);
	size_t r = f ? fread(got, 1, n + 1, f) : 0;
	int same = f != NULL && r == n && memcmp(got, want, n) == 0;

	if (f)
		fclose(f);
	free(got);
	return same;
}

static void inplace_run(const char *dir, const char *what)
{
	char path[512];
	static uint8_t buf[64 * 1024];
	struct appendlog_lost lost;
	size_t room;
	int all = 1;

	snprintf(path, sizeof(path), "%s/appendlog_test.inplace.%d.log", dir, (int)getpid());
	unlink(path);
	want_len = 0;
	struct appendlog *l = appendlog_open(path);
	if (!ok(l != NULL, "%s in place: opened a new file", what))
		return;
	bool direct = appendlog_direct(l);
	appendlog_room(l, &room);
	ok(room >= APPENDLOG_ROOM_MIN, "%s in place: a new file's room is at least "
		"APPENDLOG_ROOM_MIN (%zu)", what, room);

	/* Batches of one commit of every size around 1 to 3 blocks, each flushed whole: the file
	 * then ends in the middle of a block, or on its edge, each time. */
	for (size_t k = 0; k <= 3; k++)
		for (size_t d = 0; d <= 4; d++) {
			size_t n = k * 4096 + d - 2;
			if (n > k * 4096 + 2)
				continue; /* (k = 0, d < 2) */
			fill(buf, n);
			int rc = put(l, buf, n, &lost);
			expect(buf, n);
			rc |= appendlog_flush(l, true, &lost);
			if (rc != 0 || size_of(path) != (long long)want_len) {
				all = 0;
				printf("#   a batch of %zu bytes: rc %d, file %lld, want %zu\n", n, rc,
					size_of(path), want_len);
			}
		}
	ok(all && holds(path), "%s in place: batches of every size around 1-3 blocks, each in "
		"the file when flushed (%zu bytes)", what, want_len);

	/* Batches of many small commits (lines) with flushes without ALL in between: those
	 * leave the file on a block edge (with O_DIRECT) and holding a prefix of what was
	 * committed; the batch's end puts the rest in. */
	all = 1;
	for (int batch = 0; batch < 40; batch++) {
		/* every fourth batch more than the stage holds: room made in between */
		size_t lines = rnd() % (batch % 4 == 3 ? 40000 : 3000);
		size_t mid = lines ? rnd() % lines : 0;
		for (size_t i = 0; i < lines; i++) {
			size_t n = 1 + rnd() % 600;
			fill(buf, n);
			buf[n - 1] = '\n';
			all &= put(l, buf, n, &lost) == 0;
			expect(buf, n);
			if (i == mid && rnd() % 2) {
				all &= appendlog_flush(l, false, &lost) == 0;
				long long sz = size_of(path);
				if ((direct && sz % 4096 != 0) || sz < 0 || (size_t)sz > want_len ||
				    !prefix_holds(path, (size_t)sz)) {
					all = 0;
					printf("#   a flush without ALL left %lld bytes of %zu\n", sz,
						want_len);
				}
				appendlog_room(l, &room);
				all &= room >= APPENDLOG_ROOM_MIN;
			}
		}
		all &= appendlog_flush(l, true, &lost) == 0;
		all &= size_of(path) == (long long)want_len;
	}
	ok(all && holds(path), "%s in place: batches of lines with flushes without ALL in "
		"between: the file is on a block edge and a prefix in between, whole at each end "
		"(%zu bytes)", what, want_len);

	/* Another writer appends in the middle of a batch, after a flush without ALL: its
	 * bytes stay where they landed, the batch's rest follows them. */
	fill(buf, 10000);
	int rc = put(l, buf, 10000, &lost);
	rc |= appendlog_flush(l, false, &lost);
	long long sz = size_of(path);
	size_t went = sz < 0 ? 0 : (size_t)sz - want_len;
	expect(buf, went);
	int other = open(path, O_WRONLY | O_APPEND);
	ok(write(other, "theirs\n", 7) == 7, "%s in place: another descriptor appends in the middle "
		"of a batch (%zu of its 10000 bytes in the file)", what, went);
	close(other);
	expect("theirs\n", 7);
	expect(buf + went, 10000 - went);
	rc |= appendlog_flush(l, true, &lost);
	ok(rc == 0 && holds(path), "%s in place: ... their bytes stay, the batch's rest follows",
		what);

	/* A write that fails in the middle of a batch: the limit falls inside the whole blocks
	 * that the flush without ALL sends. */
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	signal(SIGXFSZ, SIG_IGN);
	size_t cut_at = (want_len | 4095) + 1 + 4096 + 1000; /* 1000 bytes into the 2nd block */
	lim.rlim_cur = cut_at;
	setrlimit(RLIMIT_FSIZE, &lim);
	size_t before = want_len, n = 3 * 4096 + 500;
	fill(buf, n);
	rc = put(l, buf, n, &lost);
	errno = 0;
	rc = appendlog_flush(l, false, &lost);
	int err = errno;
	size_t kept = cut_at - before;
	ok(rc == -1 && err == EFBIG && lost.len == n - kept &&
	    memcmp(lost.bytes, buf + kept, lost.len) == 0 && lost.prev == buf[kept - 1],
		"%s in place: a limit inside the whole blocks of a flush without ALL: -1, %s, the "
		"last %zu bytes committed lost, the byte before them the file's last", what,
		strerror(err), lost.len);
	expect(buf, kept);
	ok(holds(path), "%s in place: ... the file holds exactly the bytes before them", what);
	appendlog_room(l, &room);
	ok(room >= APPENDLOG_ROOM_MIN, "%s in place: ... and the stage has its room again", what);
	setrlimit(RLIMIT_FSIZE, &old);
	fill(buf, 5000);
	rc = put(l, buf, 5000, &lost);
	expect(buf, 5000);
	rc |= appendlog_flush(l, true, &lost);
	ok(rc == 0 && holds(path), "%s in place: ... limit lifted: the batch goes on after them",
		what);

	/* At a batch's end: the limit falls in the partial block's new bytes (through
	 * O_APPEND), after whole blocks that went. */
	cut_at = (want_len | 4095) + 1 + 2 * 4096 + 123;
	lim.rlim_cur = cut_at;
	setrlimit(RLIMIT_FSIZE, &lim);
	before = want_len;
	n = cut_at - before + 777;
	fill(buf, n);
	rc = put(l, buf, n, &lost);
	errno = 0;
	rc |= appendlog_flush(l, true, &lost);
	err = errno;
	kept = cut_at - before;
	ok(rc == -1 && err == EFBIG && lost.len == 777 &&
	    memcmp(lost.bytes, buf + kept, lost.len) == 0 && lost.prev == buf[kept - 1],
		"%s in place: a limit in a batch's last partial block: -1, %s, its last 777 bytes "
		"lost", what, strerror(err));
	expect(buf, kept);
	ok(holds(path), "%s in place: ... the file holds exactly the bytes before them", what);
	/* and one that falls on the file's end: nothing goes */
	lim.rlim_cur = want_len;
	setrlimit(RLIMIT_FSIZE, &lim);
	fill(buf, 5000);
	rc = put(l, buf, 5000, &lost);
	rc |= appendlog_flush(l, true, &lost);
	ok(rc == -1 && lost.len == 5000 && lost.prev == want[want_len - 1] && holds(path),
		"%s in place: a limit at the file's end: every byte of the batch lost, the file "
		"as it was", what);
	setrlimit(RLIMIT_FSIZE, &old);
	fill(buf, 9000);
	rc = put(l, buf, 9000, &lost);
	expect(buf, 9000);
	rc |= appendlog_flush(l, true, &lost);
	ok(rc == 0 && holds(path), "%s in place: ... limit lifted: the next batch goes on", what);

	/* Nothing committed: a flush is no write. */
	ok(appendlog_flush(l, true, &lost) == 0 && appendlog_flush(l, false, &lost) == 0 &&
	    holds(path), "%s in place: a flush with nothing committed", what);
	/* Bytes committed and not flushed are not the file's at close. */
	fill(buf, 100);
	put(l, buf, 100, &lost);
	appendlog_close(l);
	ok(holds(path), "%s in place: closed with 100 bytes committed: not written", what);
	unlink(path);
}

static void sizes_run(const char *dir, const char *what)
{
	char path[512];
	size_t sizes[] = { 1, 2, 100, 277, 4095, 1, 4096, 4097, 8191, 65536, 300000, 1048576,
		1048577 + 4095, 3 * 1048576 + 17, 5, 4096 * 3, 4 * 1048576 - 4096,
		4 * 1048576 + 4095, 9 * 1048576 + 7, 3 };
	static uint8_t buf[10 * 1048576];
	int all = 1;

	snprintf(path, sizeof(path), "%s/appendlog_test.%d.log", dir, (int)getpid());
	unlink(path);
	want_len = 0;
	struct appendlog *l = appendlog_open(path);
	if (!ok(l != NULL, "%s: opened a new file", what))
		return;
	printf("# %s: O_DIRECT %s\n", what, appendlog_direct(l) ? "on" : "off");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill(buf, sizes[i]);
		size_t r = appendlog_write(l, buf, sizes[i]);
		expect(buf, r);
		struct stat st;
		if (r != sizes[i] || stat(path, &st) < 0 || (size_t)st.st_size != want_len) {
			all = 0;
			printf("#   write %zu of %zu bytes: %zu\n", i, sizes[i], r);
		}
	}
	for (int i = 0; i < 300; i++) { /* random sizes, mostly small, as audit passes are */
		size_t n = rnd() % 8 == 0 ? rnd() % 400000 : rnd() % 5000;
		fill(buf, n);
		size_t r = appendlog_write(l, buf, n);
		expect(buf, r);
		all &= r == n;
	}
	ok(all, "%s: every write took all its bytes and the file's size followed", what);
	ok(holds(path), "%s: the file holds exactly what was written (%zu bytes)", what, want_len);
	appendlog_close(l);

	/* an existing file with a partial last block */
	l = appendlog_open(path);
	fill(buf, 10000);
	expect(buf, appendlog_write(l, buf, 10000));
	ok(holds(path), "%s: reopened, appended after the partial block", what);

	/* someone else appends between two writes */
	int other = open(path, O_WRONLY | O_APPEND);
	ok(write(other, "theirs\n", 7) == 7, "%s: another descriptor appends 7 bytes", what);
	close(other);
	expect("theirs\n", 7);
	fill(buf, 9000);
	expect(buf, appendlog_write(l, buf, 9000));
	ok(holds(path), "%s: ... they stay, and the next write goes after them", what);

	/* copytruncate */
	ok(truncate(path, 0) == 0, "%s: truncated to 0 behind its back", what);
	want_len = 0;
	fill(buf, 5000);
	expect(buf, appendlog_write(l, buf, 5000));
	ok(holds(path), "%s: ... the next write starts at 0, no hole", what);

	/* a file size limit */
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 20000;
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &lim);
	fill(buf, 30000);
	errno = 0;
	size_t r = appendlog_write(l, buf, 30000);
	int err = errno;
	expect(buf, r);
	ok(r == 15000 && err == EFBIG, "%s: past RLIMIT_FSIZE (20000): %zu of 30000 bytes, %s", what,
		r, strerror(err));
	ok(holds(path), "%s: ... the file holds exactly those", what);
	setrlimit(RLIMIT_FSIZE, &old);
	fill(buf, 7000);
	expect(buf, appendlog_write(l, buf, 7000));
	ok(holds(path), "%s: ... limit lifted: the next write goes on after them", what);
	appendlog_close(l);
	unlink(path);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	sizes_run(tmp, "disk");
	inplace_run(tmp, "disk");
	if (access("/dev/shm", W_OK) == 0) {
		sizes_run("/dev/shm", "tmpfs");
		inplace_run("/dev/shm", "tmpfs");
	}

	struct appendlog *l = appendlog_open("/dev/null");
	ok(l != NULL && !appendlog_direct(l), "/dev/null: opened, without O_DIRECT");
	ok(l != NULL && appendlog_write(l, "x\n", 2) == 2, "/dev/null: written");
	struct appendlog_lost lost;
	size_t room;
	char *o = l != NULL ? appendlog_room(l, &room) : NULL;
	if (o != NULL) {
		memset(o, 'y', 5000);
		appendlog_commit(l, 5000);
	}
	ok(l != NULL && appendlog_flush(l, false, &lost) == 0 && appendlog_room(l, &room) == o &&
	    room >= APPENDLOG_ROOM_MIN, "/dev/null: a flush without ALL writes every byte");
	appendlog_close(l);
	l = appendlog_open("/nonexistent/dir/x.log");
	ok(l == NULL && errno == ENOENT, "a missing directory: NULL, ENOENT");
	appendlog_close(NULL);
	free(want);
	return tap_exit();
}
