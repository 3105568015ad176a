/*
 * proxy: the query path. Decides, for one client message, between dropping it, answering it
 * from the policy (or with an error), and forwarding it; and relays upstream answers back.
 */
#ifndef BLOKIR_PROXY_H
#define BLOKIR_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"
#include "worker.h"

/*
 * Handles one client message PKT (LEN bytes) from C using policy POL. Returns the length of an
 * answer written to OUT (CAP bytes) to be sent right away, or 0 when there is nothing to send now
 * (dropped, or forwarded: the answer comes later through listen_reply).
 */
size_t proxy_query(struct worker *w, const struct policy *pol, const uint8_t *pkt, size_t len,
	const struct client_ref *c, uint8_t *out, size_t cap);

/*
 * Relays a checked upstream answer ANS (its ID already restored to the client's) to C, truncated
 * to LIMIT (the client's UDP size; 65535 over TCP). With `inspect-answers` on, an answer whose
 * CNAME/DNAME chain (at most WIRE_CHAIN_MAX steps) reaches a name covered by an enabled blocking
 * rule is not relayed: C gets what that rule says for its question (the SOA owned by the
 * blocked name), unless an allow rule covers the question name itself. ANS may be modified.
 */
void proxy_answer(struct worker *w, const struct client_ref *c, uint8_t *ans, size_t len,
	const struct wire_answer *a, size_t limit);

/* Answers C with RCODE (SERVFAIL after upstream failure), built from the original query Q. */
void proxy_fail(struct worker *w, const struct client_ref *c, const struct wire_query *q,
	unsigned rcode);

#endif
