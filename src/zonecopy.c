/*
 * zonecopy: a secondary zone's persisted copy (see include/zonecopy.h).
 *
 * The writer turns each trigger back into the record it came from (CNAME to ".", "*.",
 * rpz-passthru., rpz-drop. or a name; A or AAAA local data), so the reader of zone files (rpz.h)
 * reads the copy exactly as it would the primary's zone. The header lines carry what a zonedb
 * does not keep: the SOA names and the count of skipped records.
 */
#include "zonecopy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "lists.h"
#include "log.h"
#include "rpz.h"
#include "zonedb.h"

/* Wire name N (relative or absolute) in presentation form, escaped as RFC 1035 5.1 says. */
static void name_print(FILE *fp, const uint8_t *n)
{
	bool first = true;

	for (; *n != 0; n += 1 + *n) {
		if (!first)
			fputc('.', fp);
		first = false;
		for (size_t i = 1; i <= *n; i++) {
			uint8_t c = n[i];
			if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' ||
				c == '$' || c == '@')
				fprintf(fp, "\\%c", c);
			else if (c <= ' ' || c >= 0x7f)
				fprintf(fp, "\\%03u", c);
			else
				fputc(c, fp);
		}
	}
}

static int persist_entry(void *ctx, const struct lists_entry *e)
{
	FILE *fp = ctx;
	static const char *const targets[] = {
		[ACTION_NXDOMAIN] = ".", [ACTION_NODATA] = "*.", [ACTION_ALLOW] = "rpz-passthru.",
		[ACTION_DROP] = "rpz-drop.",
	};
	char addr[INET6_ADDRSTRLEN];

	if (e->form == MATCH_BELOW)
		fputs(e->name_len > 1 ? "*." : "*", fp);
	name_print(fp, e->name);
	if (e->addr_family != 0) {
		inet_ntop(e->addr_family, e->addr, addr, sizeof(addr));
		fprintf(fp, " 0 IN %s %s\n", e->addr_family == AF_INET ? "A" : "AAAA", addr);
	} else if (e->action == ACTION_REDIRECT) {
		fputs(" 0 IN CNAME ", fp);
		name_print(fp, e->cname);
		fputs(".\n", fp);
	} else {
		fprintf(fp, " 0 IN CNAME %s\n", e->action < sizeof(targets) / sizeof(targets[0]) &&
			targets[e->action] ? targets[e->action] : ".");
	}
	return ferror(fp) ? -1 : 0;
}

/*
 * Writes snapshot SNAP of zone Z to STATE-DIR/ZONE.rpz, HEAD first: a temporary file, fsync,
 * rename, so that a crash at any moment leaves either the old copy or the new one, never half of
 * one. On the writer thread; Z's path fields never change.
 */
/*
 * Writes SNAP of zone CZ to PATH, HEAD first, through TMP in directory DIR: a temporary file,
 * fsync, rename, so that a crash at any moment leaves either the old copy or the new one.
 */
static void copy_write(const struct config_zone *cz, const char *dir, const char *path,
	const char *tmp, const struct zonesnap *snap, const char *head)
{
	FILE *fp = fopen(tmp, "we"); /* owned, closed below */
	uint64_t t0 = clock_now_ns();
	int fd;

	if (fp == NULL)
		goto fail;
	fputs(head, fp);
	if (zonesnap_foreach(snap, persist_entry, fp) < 0 || fflush(fp) != 0 ||
		fsync(fileno(fp)) != 0) {
		fclose(fp);
		goto fail;
	}
	if (fclose(fp) != 0 || rename(tmp, path) != 0)
		goto fail;
	/* the rename itself is durable once the directory is synced */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	log_debug("zone %s: copy written to %s (%.3f s)", cz->text, path,
		(double)(clock_now_ns() - t0) / 1e9);
	return;
fail:
	log_err("zone %s: cannot write its copy to %s: %s; the copy in memory is still enforced",
		cz->text, path, strerror(errno));
	unlink(tmp);
}

/* One zone's copy waiting to be written. */
struct slot {
	struct zonesnap *snap;   /* a reference, or NULL: nothing waits */
	const struct config_zone *cz;
	const char *path, *tmp;  /* borrowed */
	char head[1024];         /* the file's first lines */
};

struct zonecopy_writer {
	const char *dir;         /* borrowed */
	struct slot *slots;      /* owned array, under lock */
	size_t nslots;
	bool stop;               /* under lock */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void *writer_main(void *arg)
{
	struct zonecopy_writer *w = arg;

	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) < 0)
		log_debug("xfr: writer: setpriority: %s", strerror(errno));
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct slot *sl = NULL, job;

		for (size_t i = 0; i < w->nslots && sl == NULL; i++)
			if (w->slots[i].snap != NULL)
				sl = &w->slots[i];
		if (sl == NULL) {
			if (w->stop) /* every copy handed over is written before the thread ends */
				break;
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		job = *sl;
		sl->snap = NULL;
		pthread_mutex_unlock(&w->lock);
		copy_write(job.cz, w->dir, job.path, job.tmp, job.snap, job.head);
		zonesnap_unref(job.snap);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct zonecopy_writer *zonecopy_writer_start(const char *dir, size_t nzones)
{
	struct zonecopy_writer *w = calloc(1, sizeof(*w)); /* owned by the caller */
	int err;

	if (w == NULL || (w->slots = calloc(nzones ? nzones : 1, sizeof(*w->slots))) == NULL) {
		log_err("xfr: out of memory");
		free(w);
		return NULL;
	}
	w->dir = dir;
	w->nslots = nzones;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if ((err = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
		log_err("xfr: cannot start the writer thread: %s", strerror(err));
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		free(w->slots);
		free(w);
		return NULL;
	}
	return w;
}

void zonecopy_writer_put(struct zonecopy_writer *w, size_t zone, const struct config_zone *cz,
	const char *path, const char *tmp, struct zonesnap *snap, const struct zonecopy_soa *soa,
	const char *from, uint64_t skipped)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	struct slot *sl = &w->slots[zone];
	struct zonesnap *old;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	pthread_mutex_lock(&w->lock);
	old = sl->snap;
	sl->snap = snap;
	sl->cz = cz;
	sl->path = path;
	sl->tmp = tmp;
	/* zonecopy_load reads the SOA names and the skipped count back from these lines */
	snprintf(sl->head, sizeof(sl->head),
		"; blokir: copy of zone %s, serial %u, from %s at %s\n$ORIGIN %s.\n"
		"@ 0 IN SOA %s %s %u %u %u %u %u\n; skipped %llu (rpz-ip, rpz-nsdname, ... records "
		"the primary has and blokir does not enforce)\n", cz->text, soa->serial, from, when,
		cz->text, soa->mname, soa->rname, soa->serial, soa->refresh, soa->retry, soa->expire,
		soa->minimum, (unsigned long long)skipped);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	zonesnap_unref(old);
}

void zonecopy_writer_stop(struct zonecopy_writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	for (size_t i = 0; i < w->nslots; i++)
		zonesnap_unref(w->slots[i].snap);
	free(w->slots);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}

/* Reading a copy: the store it goes into, and what was wrong with it. */
struct load_ctx {
	const struct config_zone *cz;
	const char *path;
	struct zonedb *db;
	size_t bad;
};

static int load_entry(void *ctx, const struct lists_entry *e)
{
	struct load_ctx *lc = ctx;

	return zonedb_add(lc->db, e) < 0 ? -1 : 0;
}

static void load_bad(void *ctx, unsigned line, const char *msg)
{
	struct load_ctx *lc = ctx;

	if (lc->bad++ < LISTS_REPORT_MAX)
		log_err("zone %s: %s:%u: %s", lc->cz->text, lc->path, line, msg);
}

/*
 * The header lines give the SOA names and the skipped count; the whole file, through the RPZ
 * reader, gives the triggers and the SOA timers.
 */
int zonecopy_load(const struct config_zone *cz, const char *path, const uint8_t *apex,
	size_t apex_len, struct zonecopy *out)
{
	char line[2048], mname[ZONECOPY_NAME_MAX] = ".", rname[ZONECOPY_NAME_MAX] = ".";
	struct load_ctx lc = { .cz = cz, .path = path };
	struct rpz_stats rst = { 0 };
	struct rpz_sink sink = { .entry = load_entry, .bad = load_bad, .ctx = &lc,
		.flags = RPZ_SKIP_OTHER_TRIGGERS };
	struct zonedb *db;
	unsigned long long skipped = 0;
	const char *err = NULL;
	struct stat st;
	uint64_t t0 = clock_now_ns();
	FILE *fp = fopen(path, "re"); /* owned, closed below */

	if (fp == NULL) {
		if (errno != ENOENT)
			log_err("zone %s: cannot read its copy %s: %s", cz->text, path, strerror(errno));
		else
			log_info("zone %s: no copy in %s yet", cz->text, path);
		return -1;
	}
	for (int i = 0; i < 8 && fgets(line, sizeof(line), fp) != NULL; i++) {
		sscanf(line, "@ %*u IN SOA %255s %255s", mname, rname);
		if (sscanf(line, "; skipped %llu", &skipped) == 1)
			break;
	}
	if (fstat(fileno(fp), &st) < 0)
		st.st_mtime = 0;
	fclose(fp);
	if ((db = zonedb_new(cz->text, cz->reason, cz->ref, 1024)) == NULL) {
		log_err("zone %s: out of memory reading %s", cz->text, path);
		return -1;
	}
	lc.db = db;
	if (rpz_read_file(path, apex, apex_len, &sink, &rst, &err) < 0 || lc.bad > 0 ||
		rst.bad > 0 || !rst.have_soa) {
		log_err("zone %s: its copy %s is unusable (%s); waiting for a transfer", cz->text,
			path, err ? err : !rst.have_soa ? "no SOA" : rst.bad ? "bad records" :
			"out of memory");
		zonedb_free(db);
		return -1;
	}
	out->db = db;
	out->soa.serial = rst.serial;
	out->soa.refresh = rst.refresh;
	out->soa.retry = rst.retry;
	out->soa.expire = rst.expire;
	out->soa.minimum = rst.minimum;
	snprintf(out->soa.mname, sizeof(out->soa.mname), "%s", mname);
	snprintf(out->soa.rname, sizeof(out->soa.rname), "%s", rname);
	out->written = (int64_t)st.st_mtime;
	out->skipped = skipped;
	log_info("zone %s: serial %u read from %s: %zu triggers (%.3f s)", cz->text, out->soa.serial,
		path, zonedb_triggers(db), (double)(clock_now_ns() - t0) / 1e9);
	return 0;
}
