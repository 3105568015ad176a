/*
 * servermetrics: the Prometheus text page of metrics-listen, rendered on the metrics thread
 * (the metrics module's render callback). Counters are summed over the workers' relaxed atomic
 * stats; what only the main loop writes (policy, carried counts, reload results) is read under
 * the server's state_lock (include/serverpriv.h).
 */
#include "server.h"
#include "serverpriv.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"
#include "stats.h"
#include "version.h"
#include "steer.h"
#include "worker.h"
#include "xfr.h"
#include "xfrnotify.h"
#include "xfrout.h"

/* ---- metrics ---- */

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void label_value(FILE *o, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(o, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", o);
		else
			fputc(*v, o);
	}
}

/* "answers-wrong-id" as "blokir_answers_wrong_id_total". */
static void counter_name(FILE *o, const char *name)
{
	fputs("blokir_", o);
	for (; *name; name++)
		fputc(*name == '-' ? '_' : *name, o);
	fputs("_total", o);
}

static void family(FILE *o, const char *name, const char *type, const char *help)
{
	fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_breakdown(FILE *o, const uint64_t *sum, const char *name, const char *label,
	const char *help, enum stat_id first, enum stat_id last, const char *const *values)
{
	family(o, name, "counter", help);
	for (int i = first; i <= (int)last; i++)
		fprintf(o, "%s{%s=\"%s\"} %llu\n", name, label, values[i - first],
			(unsigned long long)sum[i]);
}

static void render_upstreams(struct server *s, FILE *o)
{
	static const char *const fams[][2] = {
		{ "blokir_forwarded_by_upstream_total", "tries sent to the upstream (UDP and TCP)" },
		{ "blokir_timeouts_by_upstream_total", "tries the upstream did not answer in time" },
		{ "blokir_answers_by_upstream_total", "answers from the upstream relayed" },
	};
	size_t n = s->cfg->upstream_count;

	for (int f = 0; f < 3; f++) {
		family(o, fams[f][0], "counter", fams[f][1]);
		for (size_t u = 0; u < n; u++) {
			uint64_t v = 0;
			for (unsigned w = 0; w < s->nworkers; w++) {
				const struct stats_upstream *st = &worker_upstream_stats(s->workers[w])[u];
				const _Atomic uint64_t *c = f == 0 ? &st->sent : f == 1 ? &st->timeouts : &st->answers;
				v += atomic_load_explicit(c, memory_order_relaxed);
			}
			fprintf(o, "%s{upstream=\"%s\"} %llu\n", fams[f][0], s->cfg->upstreams[u].text,
				(unsigned long long)v);
		}
	}
	family(o, "blokir_upstream_latency_seconds", "histogram",
		"time from sending a try to its answer");
	for (size_t u = 0; u < n; u++) {
		uint64_t b[STATS_LATENCY_BUCKETS] = { 0 }, sum_us = 0, cum = 0;
		const char *t = s->cfg->upstreams[u].text;
		for (unsigned w = 0; w < s->nworkers; w++) {
			const struct stats_upstream *st = &worker_upstream_stats(s->workers[w])[u];
			for (int i = 0; i < STATS_LATENCY_BUCKETS; i++)
				b[i] += atomic_load_explicit(&st->bucket[i], memory_order_relaxed);
			sum_us += atomic_load_explicit(&st->latency_us_sum, memory_order_relaxed);
		}
		for (int i = 0; i < STATS_LATENCY_BUCKETS; i++) {
			cum += b[i];
			if (i < STATS_LATENCY_BUCKETS - 1)
				fprintf(o, "blokir_upstream_latency_seconds_bucket{upstream=\"%s\",le=\"%g\"} "
					"%llu\n", t, (double)stats_latency_bounds_us[i] / 1e6,
					(unsigned long long)cum);
			else
				fprintf(o, "blokir_upstream_latency_seconds_bucket{upstream=\"%s\",le=\"+Inf\"} "
					"%llu\n", t, (unsigned long long)cum);
		}
		fprintf(o, "blokir_upstream_latency_seconds_sum{upstream=\"%s\"} %.6f\n", t,
			(double)sum_us / 1e6);
		fprintf(o, "blokir_upstream_latency_seconds_count{upstream=\"%s\"} %llu\n", t,
			(unsigned long long)cum);
	}
}

/* One sample of family NAME for ZONE: NAME{zone="ZONE"} V, or with LABEL="VALUE" after it. */
static void zone_sample(FILE *o, const char *name, const char *zone, const char *label,
	const char *value, uint64_t v)
{
	fprintf(o, "%s{zone=\"", name);
	label_value(o, zone);
	if (label != NULL)
		fprintf(o, "\",%s=\"%s", label, value);
	fprintf(o, "\"} %llu\n", (unsigned long long)v);
}

/* One gauge or counter family with a value per zone: FIELD picks it from the zone's status. */
static void zone_family(FILE *o, const struct stats_zone *z, size_t n, const char *name,
	const char *type, const char *help, uint64_t (*field)(const struct stats_zone *))
{
	family(o, name, type, help);
	for (size_t i = 0; i < n; i++)
		zone_sample(o, name, z[i].name, NULL, NULL, field(&z[i]));
}

static uint64_t z_serial(const struct stats_zone *z) { return z->serial; }
static uint64_t z_copy(const struct stats_zone *z) { return z->have_copy; }
static uint64_t z_enforced(const struct stats_zone *z) { return z->enforced; }
static uint64_t z_expired(const struct stats_zone *z) { return z->expired; }
static uint64_t z_records(const struct stats_zone *z) { return z->records; }
static uint64_t z_skipped(const struct stats_zone *z) { return z->skipped; }
static uint64_t z_check(const struct stats_zone *z) { return (uint64_t)z->last_check; }
static uint64_t z_transfer(const struct stats_zone *z) { return (uint64_t)z->last_transfer; }
static uint64_t z_contact(const struct stats_zone *z) { return (uint64_t)z->last_contact; }
static uint64_t z_checks(const struct stats_zone *z) { return z->checks; }
static uint64_t z_expiries(const struct stats_zone *z) { return z->expiries; }

/*
 * The zones pulled by transfer (zones:), from the transfer module's status copies: taken under
 * its own lock (xfr_status, as `ctl status` and SIGUSR1 do), never the transfer thread's state.
 */
static void render_zones(struct server *s, FILE *o)
{
	static const struct {
		const char *name, *type, *help;
		uint64_t (*field)(const struct stats_zone *);
	} g[] = {
		{ "blokir_zone_serial", "gauge", "serial of the copy held (0: none)", z_serial },
		{ "blokir_zone_copy", "gauge", "1 when a copy is held", z_copy },
		{ "blokir_zone_enforced", "gauge", "1 when the zone is in the policy in force",
			z_enforced },
		{ "blokir_zone_expired", "gauge",
			"1 when no primary was reached for the SOA expire interval (the alarm)", z_expired },
		{ "blokir_zone_records", "gauge", "triggers in the copy held", z_records },
		{ "blokir_zone_records_skipped", "gauge",
			"records of the copy not enforced (rpz-ip, rpz-nsdname, ...)", z_skipped },
		{ "blokir_zone_last_check_timestamp_seconds", "gauge",
			"last SOA check or transfer try (unix time; 0: never)", z_check },
		{ "blokir_zone_last_transfer_timestamp_seconds", "gauge",
			"last transfer applied (unix time; 0: never)", z_transfer },
		{ "blokir_zone_last_contact_timestamp_seconds", "gauge",
			"last answer from a primary, where expire counts from (unix time; 0: never)",
			z_contact },
		{ "blokir_zone_checks_total", "counter", "SOA queries sent to the primaries", z_checks },
		{ "blokir_zone_expiries_total", "counter", "times the zone expired", z_expiries },
	};
	struct stats_zone *z;
	size_t n = s->xfr != NULL ? server_zone_status(s, NULL, 0) : 0;

	if (n == 0 || (z = calloc(n, sizeof(*z))) == NULL) /* page without them rather than none */
		return;
	n = server_zone_status(s, z, n);
	for (size_t k = 0; k < sizeof(g) / sizeof(g[0]); k++)
		zone_family(o, z, n, g[k].name, g[k].type, g[k].help, g[k].field);
	family(o, "blokir_zone_transfers_total", "counter",
		"transfers applied, by type (axfr: a whole zone, also an IXFR answered with one)");
	for (size_t i = 0; i < n; i++) {
		zone_sample(o, "blokir_zone_transfers_total", z[i].name, "type", "axfr", z[i].axfr);
		zone_sample(o, "blokir_zone_transfers_total", z[i].name, "type", "ixfr", z[i].ixfr);
	}
	family(o, "blokir_zone_failures_total", "counter",
		"SOA checks and transfers that failed, by reason (the copy held stays)");
	for (size_t i = 0; i < n; i++)
		for (int r = 0; r < ZONE_FAIL_COUNT; r++)
			zone_sample(o, "blokir_zone_failures_total", z[i].name, "reason",
				stats_zone_fail_name((enum stats_zone_fail)r), z[i].failed[r]);
	family(o, "blokir_zone_notifies_total", "counter",
		"NOTIFYs received for the zone: accepted (from a primary) or refused");
	for (size_t i = 0; i < n; i++) {
		zone_sample(o, "blokir_zone_notifies_total", z[i].name, "result", "accepted",
			z[i].notify_accepted);
		zone_sample(o, "blokir_zone_notifies_total", z[i].name, "result", "refused",
			z[i].notify_refused);
	}
	free(z);
}

/*
 * serve-rpz: the served version (xfrout's reference-counted current version, any thread) and
 * the NOTIFY counts (relaxed atomics of the main loop's notifier). The requests served are the
 * xfr-* counters above.
 */
static void render_serve(struct server *s, FILE *o)
{
	struct xfrout_status st;
	uint64_t sent = 0, acked = 0, failed = 0;
	const char *apex;

	if (s->xfrout == NULL)
		return;
	xfrout_get_status(s->xfrout, &st);
	if (s->xfrnotify != NULL)
		xfrnotify_counts(s->xfrnotify, &sent, &acked, &failed);
	apex = xfrout_apex_text(s->xfrout);
	family(o, "blokir_serve_rpz_serial", "gauge", "serial of the served zone (0: none yet)");
	fprintf(o, "blokir_serve_rpz_serial{zone=\"%s\"} %u\n", apex, st.serial);
	family(o, "blokir_serve_rpz_records", "gauge",
		"records of the served zone (with the two SOAs of a transfer)");
	fprintf(o, "blokir_serve_rpz_records{zone=\"%s\"} %zu\n", apex, st.records);
	family(o, "blokir_serve_rpz_history_changes", "gauge", "changes kept for IXFR");
	fprintf(o, "blokir_serve_rpz_history_changes{zone=\"%s\"} %zu\n", apex, st.history);
	family(o, "blokir_serve_rpz_ixfr_from_serial", "gauge",
		"the oldest serial an IXFR can start from");
	fprintf(o, "blokir_serve_rpz_ixfr_from_serial{zone=\"%s\"} %u\n", apex, st.oldest);
	family(o, "blokir_serve_rpz_notifies_total", "counter",
		"NOTIFYs to the secondaries: sent (each try), acknowledged, rounds given up");
	fprintf(o, "blokir_serve_rpz_notifies_total{zone=\"%s\",result=\"sent\"} %llu\n"
		"blokir_serve_rpz_notifies_total{zone=\"%s\",result=\"acknowledged\"} %llu\n"
		"blokir_serve_rpz_notifies_total{zone=\"%s\",result=\"given-up\"} %llu\n",
		apex, (unsigned long long)sent, apex, (unsigned long long)acked, apex,
		(unsigned long long)failed);
}

/* metrics_render_cb: the whole page, on the metrics thread. */
void render_metrics(void *arg, FILE *o)
{
	static const char *const transports[] = { "udp", "tcp" };
	static const char *const qtypes[] = { "A", "AAAA", "HTTPS", "other" };
	static const char *const rcodes[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
		"REFUSED", "other" };
	struct server *s = arg;
	uint64_t sum[STAT_COUNT] = { 0 };
	bool is_list;

	for (unsigned w = 0; w < s->nworkers; w++)
		stats_add_to(worker_stats(s->workers[w]), sum);
	for (int i = 0; i < STAT_COUNT; i++) {
		/* the breakdowns are labelled families of their own, below */
		if (i >= STAT_QUERIES_UDP && i <= STAT_RCODE_OTHER)
			continue;
		fprintf(o, "# TYPE ");
		counter_name(o, stats_name((enum stat_id)i));
		fprintf(o, " counter\n");
		counter_name(o, stats_name((enum stat_id)i));
		fprintf(o, " %llu\n", (unsigned long long)sum[i]);
	}
	render_breakdown(o, sum, "blokir_queries_by_transport_total", "transport",
		"client queries by transport", STAT_QUERIES_UDP, STAT_QUERIES_TCP, transports);
	render_breakdown(o, sum, "blokir_queries_by_qtype_total", "qtype",
		"parsed client queries by question type", STAT_QTYPE_A, STAT_QTYPE_OTHER, qtypes);
	render_breakdown(o, sum, "blokir_answers_by_rcode_total", "rcode",
		"answers sent to clients by rcode", STAT_RCODE_NOERROR, STAT_RCODE_OTHER, rcodes);
	render_upstreams(s, o);
	render_zones(s, o);
	render_serve(s, o);
	if (s->steer != NULL) {
		family(o, "blokir_udp_workers_active", "gauge",
			"workers the kernel gives client UDP to now (udp-consolidate: 1 or all)");
		fprintf(o, "blokir_udp_workers_active %u\n", steer_active(s->steer));
		family(o, "blokir_udp_consolidate_changes_total", "counter",
			"udp-consolidate: changes between one worker and all");
		fprintf(o, "blokir_udp_consolidate_changes_total %llu\n",
			(unsigned long long)steer_changes(s->steer));
	}
	family(o, "blokir_worker_udp_io", "gauge",
		"how each worker reads client UDP (udp-io): 1 for the path in use");
	for (unsigned w = 0; w < s->nworkers; w++)
		fprintf(o, "blokir_worker_udp_io{worker=\"%u\",path=\"%s\"} 1\n", w,
			worker_udp_io(s->workers[w]));
	family(o, "blokir_audit_write_failed_total", "counter",
		"audit-log lines lost to failed writes (disk full, I/O error)");
	fprintf(o, "blokir_audit_write_failed_total %llu\n",
		(unsigned long long)atomic_load(&s->audit_write_failed));

	pthread_mutex_lock(&s->state_lock);
	const struct policy *p = atomic_load(&s->policy);
	for (int want_list = 0; want_list < 2; want_list++) {
		const char *fam = want_list ? "blokir_blocked_by_list_total" :
			"blokir_blocked_by_entry_total";
		family(o, fam, "counter", want_list ? "queries blocked by a name from this list" :
			"queries blocked by this YAML entry (directly or through a CNAME chain)");
		for (size_t i = 0; i < policy_hit_slots(p); i++) {
			const char *label = policy_hit_label(p, i, &is_list);
			if (is_list != (want_list == 1))
				continue;
			fprintf(o, "%s{%s=\"", fam, want_list ? "list" : "entry");
			label_value(o, label);
			fprintf(o, "\"} %llu\n", (unsigned long long)hit_total(s, i));
		}
	}
	family(o, "blokir_reloads_total", "counter", "policy reloads by result");
	fprintf(o, "blokir_reloads_total{result=\"ok\"} %llu\nblokir_reloads_total{result=\"failed\"} "
		"%llu\n", (unsigned long long)s->reloads_ok, (unsigned long long)s->reloads_failed);
	family(o, "blokir_last_reload_timestamp_seconds", "gauge",
		"when the last reload finished (unix time; 0: none since start)");
	fprintf(o, "blokir_last_reload_timestamp_seconds %lld\n", (long long)s->last_reload_at);
	family(o, "blokir_start_time_seconds", "gauge", "when the daemon started (unix time)");
	fprintf(o, "blokir_start_time_seconds %lld\n", (long long)s->started);
	family(o, "blokir_policy_generation", "gauge", "policies published since start");
	fprintf(o, "blokir_policy_generation %llu\n",
		(unsigned long long)atomic_load(&s->policy_gen));
	family(o, "blokir_policy_entries", "gauge", "enabled YAML entries in force");
	fprintf(o, "blokir_policy_entries %zu\n", policy_rule_count(p));
	family(o, "blokir_policy_list_names", "gauge", "names from enabled lists in force");
	fprintf(o, "blokir_policy_list_names %zu\n", policy_list_names(p));
	family(o, "blokir_policy_info", "gauge", "the policy in force: its file's SHA-256");
	fprintf(o, "blokir_policy_info{sha256=\"%s\",generation=\"%llu\",version=\"%s\"} 1\n",
		s->sha256, (unsigned long long)atomic_load(&s->policy_gen), BLOKIR_VERSION);
	pthread_mutex_unlock(&s->state_lock);
}
