/*
 * config: the only user of libyaml. Reads the YAML policy file into a validated, plain-data
 * struct config. Every problem found is reported to a struct diag as FILE:LINE:COLUMN: message,
 * and loading goes on past an error so all of them are reported in one run (--check).
 *
 * Keys (see README.md "Configuration reference" for the operator's description):
 *   listen: [ "ADDR:PORT", ... ]           default ["127.0.0.1:53"]
 *   upstreams: [ "ADDR[:PORT]", ... ]      default: the nameservers of /etc/resolv.conf, port 53
 *   negative-ttl: SECONDS                  default 60, 0..604800
 *   default-action: nxdomain|nodata|refused|drop   default nxdomain
 *   upstream-timeout-ms: MS                default 1500, 10..60000 (per upstream try)
 *   workers: N                             default 0 = one per online CPU, 0..64
 *   tcp-idle-timeout-ms: MS                default 10000, 100..600000
 *   max-tcp-connections: N                 default 1024, 1..1000000 (all workers together)
 *   max-inflight: N                        default 65536, 16..1048576 (forwarded queries, all workers)
 *   soa-mname: NAME, soa-rname: NAME       defaults "blokir.invalid." and "hostmaster.blokir.invalid."
 *   domains: [ { name, enabled, action, exact, reason, ref }, ... ]
 *
 * A domain's name is "example.com" (itself and every name below it), "*.example.com" (only names
 * below it) or, with `exact: true`, the name alone. Names are validated and converted to lower-case
 * wire format by value.h; a trailing dot is optional. Every default is set or resolved once, in
 * defaults.h: nothing that reads a loaded config applies one of its own.
 *
 * Diagnostics read "FILE:LINE:COLUMN: WHERE: what was expected", WHERE being the key's path with
 * 0-based indexes ("domains[3].name: label longer than 63 octets", "listen[0]: expected a port
 * 1..65535"); unknown and repeated keys read `unknown key "nmae"`, `duplicate key "name"`. A YAML
 * syntax error is reported at libyaml's position and ends the walk. Unknown keys are errors at every
 * level. A problem with no position of its own (an empty or unreadable file) is reported at 1:1.
 * A document nested deeper than 16 levels is refused where it reaches the 17th (the schema needs
 * 5; libyaml's cost grows with the square of the depth). A null value ("listen:",
 * "upstreams:", "domains:" with nothing after) counts as absent, but
 * an empty list ([]) is an error for listen and upstreams. An empty file is an error, not "all
 * defaults". Aliases work for scalars only. $BLOKIR_RESOLV_CONF replaces /etc/resolv.conf (tests).
 */
#ifndef BLOKIR_CONFIG_H
#define BLOKIR_CONFIG_H

#include <stdatomic.h>

#include "configdata.h"
#include "diag.h"

/*
 * Reads and validates PATH. Returns a config the caller owns (config_free), or NULL when the file
 * cannot be read or has any error; every error is added to DIAG (which must not be NULL).
 */
struct config *config_load(const char *path, struct diag *diag);

/*
 * config_load that gives up when *STOP (NULL: never) becomes true, checked at every YAML event: a
 * daemon stopping during a reload does not wait for the file. The result is then NULL with
 * "load abandoned" in DIAG.
 */
struct config *config_load_until(const char *path, struct diag *diag, const atomic_bool *stop);
void config_free(struct config *cfg);

/* A deep copy of SRC into DST; release DST with config_redirect_release. -1 when out of memory. */
int config_redirect_copy(struct config_redirect *dst, const struct config_redirect *src);
void config_redirect_release(struct config_redirect *r); /* frees the arrays, zeroes R */

/* The zone called NAME (wire format) in CFG, or NULL. */
const struct config_zone *config_zone_find(const struct config *cfg, const uint8_t *name,
	size_t len);

#endif
