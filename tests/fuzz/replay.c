/*
 * replay: runs a fuzz target's LLVMFuzzerTestOneInput once on every file of its corpus, so the
 * corpus doubles as an ordinary regression test without libFuzzer (Makefile: replay_<target>).
 * The target is argv[1], or taken from the program name ("replay_query" -> "query"); the corpus
 * is argv[2], or tests/fuzz/corpus/<target> under the current directory. Prints TAP: one line
 * with the file count. A finding aborts, which the TAP harness reports as a failure.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs the target on PATH. Returns 1 when it ran, 0 when PATH is not a regular file, -1 when
 * it cannot be read. The buffer is exactly the file's size so ASan catches any overread. */
static int run_file(const char *path)
{
	struct stat st;
	FILE *f = NULL;
	uint8_t *data = NULL;
	int ret = -1;

	if (stat(path, &st) != 0)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		ret = 0;
		goto out;
	}
	data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	f = fopen(path, "rb");
	if (!data || !f || fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		goto out;
	LLVMFuzzerTestOneInput(data, (size_t)st.st_size);
	ret = 1;
out:
	if (ret < 0)
		printf("# cannot read %s\n", path);
	if (f)
		fclose(f);
	free(data);
	return ret;
}

int main(int argc, char **argv)
{
	const char *target = argc > 1 ? argv[1] : NULL;
	char dir[4096], path[8192];

	if (!target) {
		const char *base = strrchr(argv[0], '/');
		base = base ? base + 1 : argv[0];
		target = strncmp(base, "replay_", 7) == 0 ? base + 7 : base;
	}
	if (argc > 2)
		snprintf(dir, sizeof dir, "%s", argv[2]);
	else
		snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", target);

	printf("1..1\n");
	DIR *d = opendir(dir);
	if (!d) {
		printf("not ok 1 - %s: cannot open corpus %s\n", target, dir);
		return 1;
	}
	size_t files = 0, errors = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		int r = run_file(path);
		if (r > 0)
			files++;
		else if (r < 0)
			errors++;
	}
	closedir(d);
	int good = files > 0 && errors == 0;
	printf("%s 1 - %s: %zu corpus files replayed from %s\n", good ? "ok" : "not ok", target,
		files, dir);
	return good ? 0 : 1;
}
