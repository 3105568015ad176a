/*
 * serverctl: the control-socket commands (status, stats, reload, flush-cache, reopen-logs,
 * why), as the control module's command callback on the main loop. They read the server's
 * state in include/serverpriv.h and answer on the reply's stream; `reload` is answered later,
 * by reload_finish.
 */
#include "server.h"
#include "serverpriv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "control.h"
#include "dnstap.h"
#include "log.h"
#include "stats.h"
#include "version.h"
#include "why.h"
#include "steer.h"
#include "worker.h"
#include "xfrnotify.h"
#include "xfrout.h"

/* ---- control commands ---- */

static void rfc3339(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void cmd_status(struct server *s, FILE *o)
{
	const struct policy *p = atomic_load(&s->policy);
	const struct policy_rule *r;
	int64_t now = policy_now();
	char t[32];
	size_t nrules = policy_yaml_rule_at(p, 0, &r), scheduled = 0;

	rfc3339(s->started, t, sizeof(t));
	fprintf(o, "version: blokir %s\npid: %ld\nuptime: %lld s (since %s)\nworkers: %u\n",
		BLOKIR_VERSION, (long)getpid(), (long long)(now - s->started), t, s->nworkers);
	fprintf(o, "config: %s\npolicy generation: %llu\npolicy sha256: %s\n", s->cfg->path,
		(unsigned long long)atomic_load(&s->policy_gen), s->sha256[0] ? s->sha256 : "-");
	fprintf(o, "policy: %zu enabled entries, %zu list names\n", policy_rule_count(p),
		policy_list_names(p));
	for (size_t i = 0; i < policy_list_count(p); i++) {
		bool on;
		size_t names;
		const char *path = policy_list_path(p, i, &on, &names);
		fprintf(o, "list: %s, %s, %zu names\n", path, on ? "enabled" : "disabled", names);
	}
	if (s->last_reload_at == 0) {
		fprintf(o, "last reload: none since start\n");
	} else {
		rfc3339(s->last_reload_at, t, sizeof(t));
		fprintf(o, "last reload: %s %s\n", t, s->last_result);
	}
	fprintf(o, "reloads: %llu ok, %llu failed\n", (unsigned long long)s->reloads_ok,
		(unsigned long long)s->reloads_failed);
	fprintf(o, "udp-io:");
	for (unsigned w = 0; w < s->nworkers; w++)
		fprintf(o, " worker %u %s%s", w, worker_udp_io(s->workers[w]),
			w + 1 < s->nworkers ? "," : "\n");
	if (s->steer != NULL)
		fprintf(o, "udp: %u of %u workers take client UDP (udp-consolidate), %llu changes\n",
			steer_active(s->steer), s->nworkers, (unsigned long long)steer_changes(s->steer));
	for (size_t i = 0; i < nrules; i++) {
		policy_yaml_rule_at(p, i, &r);
		if (r->from == 0 && r->until == 0)
			continue;
		scheduled++;
		if (r->from > now) {
			rfc3339(r->from, t, sizeof(t));
			fprintf(o, "schedule: \"%s\" (line %u) inactive, becomes active at %s\n",
				r->name, r->line, t);
		} else if (r->until > now) {
			rfc3339(r->until, t, sizeof(t));
			fprintf(o, "schedule: \"%s\" (line %u) active, becomes inactive at %s\n",
				r->name, r->line, t);
		} else {
			rfc3339(r->until, t, sizeof(t));
			fprintf(o, "schedule: \"%s\" (line %u) inactive since %s, no further change\n",
				r->name, r->line, t);
		}
	}
	if (scheduled == 0)
		fprintf(o, "schedule: no entry has from/until\n");
	if (s->xfrout != NULL) {
		struct xfrout_status st;
		uint64_t sent = 0, acked = 0, failed = 0;

		xfrout_get_status(s->xfrout, &st);
		if (s->xfrnotify != NULL)
			xfrnotify_counts(s->xfrnotify, &sent, &acked, &failed);
		fprintf(o, "serve-rpz: zone %s, serial %u, %zu records, %zu change%s kept (IXFR from "
			"serial %u), NOTIFY %llu sent, %llu acknowledged, %llu given up\n",
			xfrout_apex_text(s->xfrout), st.serial, st.records, st.history,
			st.history == 1 ? "" : "s", st.oldest, (unsigned long long)sent,
			(unsigned long long)acked, (unsigned long long)failed);
	}
	/* the pulled zones, as SIGUSR1 logs them (the transfer module's copies, under its lock) */
	size_t nz = server_zone_status(s, NULL, 0);
	struct stats_zone *z = nz > 0 ? calloc(nz, sizeof(*z)) : NULL;
	char line[1536];
	nz = z != NULL ? server_zone_status(s, z, nz) : 0;
	for (size_t i = 0; i < nz; i++)
		fprintf(o, "%s\n", stats_zone_format(&z[i], line, sizeof(line)));
	free(z);
}

static void json_string(FILE *o, const char *str)
{
	fputc('"', o);
	for (const unsigned char *c = (const unsigned char *)str; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(o, "\\%c", *c);
		else if (*c < 0x20)
			fprintf(o, "\\u%04x", *c);
		else
			fputc(*c, o);
	}
	fputc('"', o);
}

static void cmd_stats(struct server *s, FILE *o, bool json)
{
	const struct policy *p = atomic_load(&s->policy);
	uint64_t sum[STAT_COUNT] = { 0 };
	/* the audit writer's, not a worker's: beside the reload counts, total only */
	uint64_t write_failed = atomic_load(&s->audit_write_failed);
	bool is_list;

	for (unsigned w = 0; w < s->nworkers; w++)
		stats_add_to(worker_stats(s->workers[w]), sum);
	if (!json) {
		fprintf(o, "%-24s %14s", "counter", "total");
		for (unsigned w = 0; w < s->nworkers; w++)
			fprintf(o, "      worker%-2u", w);
		fputc('\n', o);
		for (int i = 0; i < STAT_COUNT; i++) {
			fprintf(o, "%-24s %14llu", stats_name((enum stat_id)i),
				(unsigned long long)sum[i]);
			for (unsigned w = 0; w < s->nworkers; w++)
				fprintf(o, " %14llu", (unsigned long long)atomic_load_explicit(
					&worker_stats(s->workers[w])->c[i], memory_order_relaxed));
			fputc('\n', o);
		}
		fprintf(o, "reloads-ok %llu\nreloads-failed %llu\naudit-write-failed %llu\n",
			(unsigned long long)s->reloads_ok, (unsigned long long)s->reloads_failed,
			(unsigned long long)write_failed);
		for (size_t i = 0; i < policy_hit_slots(p); i++) {
			const char *label = policy_hit_label(p, i, &is_list);
			fprintf(o, "blocked-by-%s \"%s\" %llu\n", is_list ? "list" : "entry", label,
				(unsigned long long)hit_total(s, i));
		}
		return;
	}
	fprintf(o, "{\"total\":{");
	for (int i = 0; i < STAT_COUNT; i++)
		fprintf(o, "%s\"%s\":%llu", i ? "," : "", stats_name((enum stat_id)i),
			(unsigned long long)sum[i]);
	fprintf(o, ",\"reloads-ok\":%llu,\"reloads-failed\":%llu,\"audit-write-failed\":%llu},"
		"\"workers\":[", (unsigned long long)s->reloads_ok, (unsigned long long)s->reloads_failed,
		(unsigned long long)write_failed);
	for (unsigned w = 0; w < s->nworkers; w++) {
		fprintf(o, "%s{", w ? "," : "");
		for (int i = 0; i < STAT_COUNT; i++)
			fprintf(o, "%s\"%s\":%llu", i ? "," : "", stats_name((enum stat_id)i),
				(unsigned long long)atomic_load_explicit(&worker_stats(s->workers[w])->c[i],
					memory_order_relaxed));
		fputc('}', o);
	}
	fputc(']', o);
	for (int want_list = 0; want_list < 2; want_list++) {
		bool first = true;
		fprintf(o, ",\"blocked-by-%s\":{", want_list ? "list" : "entry");
		for (size_t i = 0; i < policy_hit_slots(p); i++) {
			const char *label = policy_hit_label(p, i, &is_list);
			if (is_list != (want_list == 1))
				continue;
			fprintf(o, "%s", first ? "" : ",");
			json_string(o, label);
			fprintf(o, ":%llu", (unsigned long long)hit_total(s, i));
			first = false;
		}
		fputc('}', o);
	}
	fprintf(o, "}\n");
}

/*
 * ctl reopen-logs (for logrotate): every file the daemon writes is reopened here (through
 * server_reopen_logs, as SIGUSR2), saying what it did on O. Returns the client's exit code.
 */
static int reopen_logs(struct server *s, FILE *o)
{
	const char *path = log_file_path();
	int rc = 0, err;

	if (path == NULL) {
		fprintf(o, "reopen-logs: no log-file: (logging goes to syslog or stderr)\n");
	} else if (log_file_reopen() < 0) {
		fprintf(o, "reopen-logs: %s: cannot reopen it (the log says why); still writing to "
			"the file opened before\n", path);
		rc = 3;
	} else {
		fprintf(o, "reopen-logs: %s reopened\n", path);
	}
	/* The audit writer reopens between two lines; waited for, so the answer says how it went
	 * (it takes one writer pass, about 10 ms). */
	/* the paths in force: a reload may have moved them */
	const struct config *set = atomic_load(&s->settings);
	struct audit *a = atomic_load(&s->audit);
	struct dnstap *d = atomic_load(&s->dnstap);
	if (a != NULL) {
		if ((err = audit_reopen_wait(a, 2000)) == 0) {
			fprintf(o, "reopen-logs: audit-log %s reopened\n", set->audit_log);
		} else {
			fprintf(o, "reopen-logs: audit-log %s: %s; still writing to the file opened "
				"before\n", set->audit_log, strerror(err));
			rc = 3;
		}
	}
	if (d != NULL && set->dnstap.file != NULL) {
		dnstap_reopen(d);
		fprintf(o, "reopen-logs: dnstap file %s: a new stream starts at the path with the "
			"next frame\n", set->dnstap.file);
	}
	return rc;
}

void control_cb(void *arg, int argc, char **argv, struct control_reply *r)
{
	struct server *s = arg;
	FILE *o = control_reply_out(r);
	const char *cmd = argv[0];
	/* The settings in force, not the start-up file's: a reload may have changed allow-from,
	 * upstreams or cache-size. Published and retired on this (the main) loop, so it stays valid
	 * for the whole command, as the policy does. */
	const struct config *running = atomic_load(&s->settings);

	if (strcmp(cmd, "status") == 0 && argc == 1) {
		cmd_status(s, o);
	} else if (strcmp(cmd, "stats") == 0 && (argc == 1 ||
		   (argc == 2 && strcmp(argv[1], "--json") == 0))) {
		cmd_stats(s, o, argc == 2);
	} else if (strcmp(cmd, "reload") == 0 && argc == 1) {
		if (s->stopping) {
			fprintf(o, "reload: the daemon is stopping\n");
			control_reply_done(r, 3);
			return;
		}
		struct control_reply **w = s->loading ? s->waiting_next : s->waiting;
		size_t *n = s->loading ? &s->nwaiting_next : &s->nwaiting;
		if (*n == RELOAD_WAITERS_MAX) {
			fprintf(o, "reload: too many clients waiting for a reload\n");
			control_reply_done(r, 3);
			return;
		}
		w[(*n)++] = r; /* answered by reload_finish */
		reload_start(s);
		return;
	} else if (strcmp(cmd, "flush-cache") == 0 && argc == 1) {
		for (unsigned i = 0; i < s->nworkers; i++)
			worker_post(s->workers[i], WORKER_MAIL_FLUSH);
		fprintf(o, "flush-cache: %s, %u worker%s empty their caches before their next query\n",
			running->cache_size ? "done" : "no cache configured (cache-size: 0)",
			s->nworkers, s->nworkers == 1 ? "" : "s");
	} else if (strcmp(cmd, "reopen-logs") == 0 && argc == 1) {
		control_reply_done(r, reopen_logs(s, o));
		return;
	} else if (strcmp(cmd, "why") == 0 && argc >= 2) {
		const char *name = argv[1], *type = NULL, *client = NULL;
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--client") == 0 && i + 1 < argc)
				client = argv[++i];
			else if (type == NULL && argv[i][0] != '-')
				type = argv[i];
			else {
				fprintf(o, "why: unexpected argument \"%s\"\n", argv[i]);
				control_reply_done(r, 2);
				return;
			}
		}
		if (why_explain(running, atomic_load(&s->policy), running->path, name, type, client,
			policy_now(), o) < 0) {
			control_reply_done(r, 2);
			return;
		}
	} else {
		fprintf(o, "unknown command or wrong arguments: \"%s\"; commands: status, reload, "
			"stats [--json], flush-cache, reopen-logs, why NAME [TYPE] [--client ADDR]\n",
			cmd);
		control_reply_done(r, 2);
		return;
	}
	control_reply_done(r, 0);
}
