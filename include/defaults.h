/*
 * defaults: every default of struct config in one place (Unbound's config_create), and what is
 * resolved from other keys once the file is read, so that nothing downstream applies a default
 * of its own: after config_load an entry's action is never ACTION_DEFAULT, rate-limit-burst is
 * set, listen, upstreams and allow-from are never empty, and each list knows its redirect TTL.
 *
 * config.c starts from defaults_init and the entry templates, walks the file, then calls
 * defaults_finish. Code that builds a struct config by hand (tests, tools) calls defaults_init
 * first and defaults_resolve before handing it on.
 */
#ifndef BLOKIR_DEFAULTS_H
#define BLOKIR_DEFAULTS_H

#include <stdbool.h>

#include "configdata.h"
#include "diag.h"

/* What a new domains entry, lists entry and redirect mapping hold before their keys are read. */
extern const struct config_domain defaults_domain;
extern const struct config_list defaults_list;
extern const struct config_redirect defaults_redirect;
extern const struct config_zone defaults_zone; /* its ACTION_DEFAULT stays: the records' own */

/* The top-level defaults into CFG (zeroed by the caller): negative-ttl 60, and so on. */
void defaults_init(struct config *cfg);

/*
 * The values that depend on other keys: an entry's or list's ACTION_DEFAULT becomes
 * default-action, a rate-limit-burst of 0 (the file's range starts at 1) twice rate-limit-qps.
 * Idempotent.
 */
void defaults_resolve(struct config *cfg);

/* Which list-valued keys the file gave (with a non-null value). */
struct defaults_given {
	bool listen, upstreams, allow_from;
};

/*
 * After the walk: the list-valued defaults for what the file left out (listen 127.0.0.1:53, the
 * nameservers of /etc/resolv.conf or $BLOKIR_RESOLV_CONF, loopback and private allow-from,
 * state-dir /var/lib/blokir),
 * defaults_resolve, and the checks that need the whole file (a redirect action without a landing
 * page). Problems are reported to DIAG against CFG->path. Returns how many, or -1 when out of
 * memory (not reported).
 */
int defaults_finish(struct config *cfg, const struct defaults_given *given, struct diag *diag);

#endif
