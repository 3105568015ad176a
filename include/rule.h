/*
 * rule: what a matching policy entry says, the one type both the compiled policy (policy) and
 * an RPZ zone's snapshots (zonedb) hand to the query path. Apart from policy.h so that zonedb can
 * build rules without including the module that reads it (policy), which would make an include
 * circle.
 */
#ifndef BLOKIR_RULE_H
#define BLOKIR_RULE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*
 * Where a rule comes from. Zone rules are the zero value, so the rules zonedb builds say so
 * without zonedb setting it; policy.c sets the other two.
 */
enum policy_source {
	POLICY_FROM_ZONE, /* a trigger of one of the config's RPZ zones (zonedb) */
	POLICY_FROM_YAML, /* an entry of the config's domains */
	POLICY_FROM_LIST  /* a name of one of the config's lists */
};

/* What a matching entry says. Borrowed from the policy; valid as long as the policy is. */
struct policy_rule {
	enum policy_action action; /* never ACTION_DEFAULT: config_load resolved it */
	const char *name;          /* the entry as written, normalized ("t.me", "*.telegram.org");
	                              for a list's names, the list file */
	const char *list;          /* the list file when the rule stands for a list's names, else
	                              NULL (the matched name is then the entry) */
	enum policy_source source;
	const char *file;          /* the config file (YAML entries) or the list file; NULL for a
	                              zone */
	const char *reason;        /* NULL when none */
	size_t reason_len;
	const char *ref;           /* NULL when none */
	unsigned line;             /* where the entry is in the config file (a list: its lists
	                              entry) */
	const struct config_redirect *redirect; /* ACTION_REDIRECT: the landing page (the policy
	                                           keeps its own copy); NULL otherwise */
	int64_t from, until;       /* schedule, unix seconds, 0 = unbounded */
	enum match_form form;      /* YAML entries: how the name is matched */
	int list_index;            /* index in `lists:` of the list it comes from; -1: YAML */
	unsigned counter;          /* 1 + its blocked-query counter (policy_hit); 0: none (zones) */
};

#endif
