/*
 * steer_test: the udp-consolidate rule (steer_rule_step) look by look, without sockets: when it
 * consolidates (a second of small load, nothing dropped, no deep queue), and what spreads again
 * and how soon: a refused max-inflight slot or a drop at once; CPU at or over udp-consolidate %
 * and a deep receive queue only at two looks in a row, so that one burst that worker 0 works
 * off by the next look does not spread (kxdpgun's bursts did, when one look sufficed);
 * udp-consolidate: 0 spreads. And the default: 85 % (defaults.c), which keeps one worker at the
 * 71-76 % of a CPU it uses at 150 k qps over veth.
 */
#include "steer.h"

#include <string.h>

#include "defaults.h"
#include "tap.h"

static struct steer_look calm(void)
{
	return (struct steer_look){ .percent = 85, .busy_one = 5, .busy_all = 6 };
}

/* A rule that has just consolidated. */
static struct steer_rule consolidated(void)
{
	return (struct steer_rule){ .consolidated = true };
}

/* N looks of L; the verdict of the last. */
static enum steer_verdict looks(struct steer_rule *r, struct steer_look l, unsigned n)
{
	enum steer_verdict v = STEER_KEEP;

	while (n-- > 0)
		v = steer_rule_step(r, &l);
	return v;
}

int main(void)
{
	struct steer_rule r = { 0 };
	struct steer_look l = calm();

	/* --- spread: consolidating wants a second of quiet --- */
	is_int(looks(&r, l, STEER_QUIET_TICKS - 1), STEER_KEEP, "spread: 9 quiet looks keep it spread");
	is_int(looks(&r, l, 1), STEER_CONSOLIDATE, "  ... the 10th consolidates");
	r = (struct steer_rule){ 0 };
	looks(&r, l, 5);
	l.busy_all = 43; /* half of 85 is 42.5 */
	is_int(looks(&r, l, 1), STEER_KEEP, "spread: all workers at 43 %% of a CPU is not quiet");
	l = calm();
	is_int(looks(&r, l, STEER_QUIET_TICKS - 1), STEER_KEEP, "  ... and starts the count again");
	is_int(looks(&r, l, 1), STEER_CONSOLIDATE, "  ... 10 quiet looks after it consolidate");
	struct { const char *what; struct steer_look l; } loud[] = {
		{ "a drop", { .percent = 85, .busy_one = 5, .busy_all = 6, .drops = 1 } },
		{ "a deep queue", { .percent = 85, .busy_one = 5, .busy_all = 6, .deep = true } },
		{ "a refused max-inflight slot", { .percent = 85, .busy_one = 5, .busy_all = 6,
			.refused = true } },
	};
	for (size_t i = 0; i < sizeof(loud) / sizeof(loud[0]); i++) {
		r = (struct steer_rule){ 0 };
		looks(&r, calm(), STEER_QUIET_TICKS - 1);
		is_int(looks(&r, loud[i].l, 1), STEER_KEEP, "spread: %s in the 10th look", loud[i].what);
		is_int(r.quiet, 0, "  ... starts the quiet count again");
	}

	/* --- consolidated: what spreads, and how soon --- */
	r = consolidated();
	l = calm();
	l.busy_one = 76;
	l.busy_all = 77;
	is_int(looks(&r, l, 50), STEER_KEEP,
		"consolidated: worker 0 at 76 %% of a CPU for 5 s stays consolidated (85 %%)");
	l.busy_one = 85;
	is_int(looks(&r, l, 1), STEER_KEEP, "consolidated: one window at 85 %% is not enough");
	is_int(looks(&r, l, 1), STEER_SPREAD_CPU, "  ... the second in a row spreads");
	is_int(r.hot, 0, "  ... and the count is reset");
	r = consolidated();
	looks(&r, l, 1);
	is_int(looks(&r, calm(), 1), STEER_KEEP, "consolidated: 85 %%, then 5 %%: stays");
	is_int(looks(&r, l, 1), STEER_KEEP, "  ... 85 %% again is a new first window");

	r = consolidated();
	l = calm();
	l.deep = true;
	is_int(looks(&r, l, 1), STEER_KEEP, "consolidated: one look at a deep queue (a burst) stays");
	is_int(looks(&r, calm(), 1), STEER_KEEP, "  ... worked off by the next look: stays");
	int kept = 0;
	for (int i = 0; i < 40; i++) /* bursts every other look, for 4 s */
		kept += looks(&r, i % 2 ? calm() : l, 1) == STEER_KEEP;
	is_int(kept, 40, "consolidated: a deep queue at every other look for 4 s stays");
	is_int(looks(&r, l, 1), STEER_KEEP, "consolidated: deep at one look");
	is_int(looks(&r, l, 1), STEER_SPREAD_QUEUE, "  ... and at the next: spreads (a starved worker 0)");

	r = consolidated();
	l = calm();
	l.drops = 3;
	is_int(looks(&r, l, 1), STEER_SPREAD_DROPS, "consolidated: a drop spreads at once");
	r = consolidated();
	l = calm();
	l.refused = true;
	is_int(looks(&r, l, 1), STEER_SPREAD_INFLIGHT,
		"consolidated: a refused max-inflight slot spreads at once");
	l.drops = 1;
	l.deep = true;
	l.busy_one = 99;
	r = consolidated();
	r.hot = r.deep = 1;
	is_int(looks(&r, l, 1), STEER_SPREAD_INFLIGHT,
		"consolidated: every reason at once: max-inflight is the one named");

	/* --- off --- */
	r = consolidated();
	l = calm();
	l.percent = 0;
	is_int(looks(&r, l, 1), STEER_SPREAD_OFF, "consolidated: udp-consolidate 0 spreads");
	r = (struct steer_rule){ .quiet = 5 };
	is_int(looks(&r, l, 20), STEER_KEEP, "spread: udp-consolidate 0 never consolidates");
	is_int(r.quiet, 0, "  ... nor counts quiet looks");

	/* --- the default --- */
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	defaults_init(&cfg);
	is_int(cfg.udp_consolidate, 85, "udp-consolidate defaults to 85 (%% of one CPU)");
	return tap_exit();
}
