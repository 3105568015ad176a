/*
 * guard: who may ask, and how fast. Checks a client address against `allow-from` (so blokir is
 * never an open resolver) and against a per-client-network token bucket (so it is a poor
 * reflector). One guard per worker: the rate table is the worker's own, no locking.
 *
 * No ldns or libevent here: guard is unit-tested on plain socket addresses.
 */
#ifndef BLOKIR_GUARD_H
#define BLOKIR_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

enum guard_verdict {
	GUARD_PASS,
	GUARD_ACL_REFUSE, /* outside allow-from (deny-action refused): answer REFUSED */
	GUARD_ACL_DROP,   /* outside allow-from with deny-action drop */
	GUARD_RATE_DROP,  /* over the rate limit */
	GUARD_RATE_TC     /* over the rate limit with rate-limit-tc: answer TC=1 so a real client
	                     retries over TCP, which cannot be spoofed */
};

struct guard;

/*
 * Compiles the access list and sizes the rate table from CFG (borrowed only during the call).
 * WORKERS divides rate-limit-qps and burst: the kernel spreads one client's queries over all
 * workers' SO_REUSEPORT sockets. Returns NULL when out of memory.
 */
struct guard *guard_new(const struct config *cfg, unsigned workers);
void guard_free(struct guard *g);

/* Access list only (TCP accept, where rate limits do not apply). */
enum guard_verdict guard_check_acl(const struct guard *g, const struct sockaddr *sa);

/* True when rate limits are on, so guard_check needs NOW_MS (otherwise it is not read). */
bool guard_rate_limited(const struct guard *g);

/* Access list, then the rate limit at NOW_MS (a monotonic millisecond clock). */
enum guard_verdict guard_check(struct guard *g, const struct sockaddr *sa, uint64_t now_ms);

#endif
