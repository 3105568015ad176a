/*
 * appendlog_test: after every write the file holds exactly the bytes written so far, whatever
 * the sizes (1 byte to past the 1 MiB stage, across block boundaries), on the disk's file
 * system (ext4 in CI, O_DIRECT) and on tmpfs (/dev/shm); an existing file with a partial last
 * block is appended to, not written over; bytes someone else appends between two writes stay,
 * and a truncation (copytruncate) restarts at the new end without a hole; a file size limit
 * (RLIMIT_FSIZE: EFBIG) gives a short count that is exactly what the file holds, and the
 * next write after the limit is lifted goes on from there; a non-regular file (/dev/null)
 * goes without O_DIRECT.
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

static void sizes_run(const char *dir, const char *what)
{
	char path[512];
	size_t sizes[] = { 1, 2, 100, 277, 4095, 1, 4096, 4097, 8191, 65536, 300000, 1048576,
		1048577 + 4095, 3 * 1048576 + 17, 5, 4096 * 3 };
	static uint8_t buf[4 * 1048576];
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
	if (access("/dev/shm", W_OK) == 0)
		sizes_run("/dev/shm", "tmpfs");

	struct appendlog *l = appendlog_open("/dev/null");
	ok(l != NULL && !appendlog_direct(l), "/dev/null: opened, without O_DIRECT");
	ok(l != NULL && appendlog_write(l, "x\n", 2) == 2, "/dev/null: written");
	appendlog_close(l);
	l = appendlog_open("/nonexistent/dir/x.log");
	ok(l == NULL && errno == ENOENT, "a missing directory: NULL, ENOENT");
	appendlog_close(NULL);
	free(want);
	return tap_exit();
}
