/*
 * proxy: the query path. Decides, for one client message, between dropping it, answering it
 * from the policy, the answer cache (cache-size) or with an error, and forwarding it; and relays
 * upstream answers back, after CNAME-chain inspection (inspect-answers).
 *
 * proxy sees neither sockets nor the modules that own them: it forwards and replies through the
 * callbacks it is given (worker.c wires them to upstream and listen), so a test can drive it
 * with fakes. It owns the worker's answer cache.
 */
#ifndef BLOKIR_PROXY_H
#define BLOKIR_PROXY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client.h"
#include "wire.h"

struct config;
struct observe;
struct policy;
struct stats;
struct proxy;
struct caplog;
struct xfrout;
struct xfrout_stream;

/* Sends Q (its packet borrowed for the call) upstream for C. */
typedef void (*proxy_forward_cb)(void *arg, const struct wire_query *q, const struct client_ref *c);
/* Sends ANS (LEN bytes) to C. */
typedef void (*proxy_reply_cb)(void *arg, const struct client_ref *c, const uint8_t *ans,
	size_t len);

/*
 * A NOTIFY (RFC 1996, opcode 4) for zone NAME (lower-case wire format) from FROM: the RCODE to
 * answer with (the zone-transfer module decides; any thread).
 */
typedef unsigned (*proxy_notify_cb)(void *arg, const uint8_t *name, size_t len,
	const struct sockaddr *from, socklen_t fromlen);
/* Sends the transfer S (the callee owns it from here) to TCP client C. */
typedef void (*proxy_stream_cb)(void *arg, const struct client_ref *c, struct xfrout_stream *s);

/* What a proxy works with; every pointer is borrowed and must outlive it. */
struct proxy_env {
	const struct config *cfg;          /* inspect-answers, cache-size */
	_Atomic(struct policy *) *policy;  /* the current policy, read once per query */
	struct stats *stats;
	struct observe *observe;           /* audit log and dnstap reports */
	unsigned worker;                   /* the worker's index: its block of policy_hit counters */
	proxy_forward_cb forward;
	void *forward_arg;
	proxy_reply_cb reply;              /* at once: ANS is only valid during the call */
	proxy_reply_cb reply_queued;       /* ANS stays valid until the answer path's sendq_flush */
	void *reply_arg;
	proxy_notify_cb notify;            /* NULL: NOTIFY is answered NOTIMP like other opcodes */
	void *notify_arg;
	struct xfrout *xfrout;             /* serve-rpz: the zone served, or NULL */
	struct caplog *caps;               /* counts and logs its refusals */
	proxy_stream_cb stream;            /* sends its transfers */
	void *stream_arg;
};

/* Returns a proxy (with its cache when cfg->cache_size > 0), or NULL when memory is short. */
struct proxy *proxy_new(const struct proxy_env *env);
void proxy_free(struct proxy *p);

/*
 * A reload: CFG (borrowed) from now on. A changed cache-size gets a fresh, empty cache (none for
 * 0); when there is no memory for it the old cache goes and the proxy runs without one, logged.
 */
void proxy_reconfigure(struct proxy *p, const struct config *cfg);

/*
 * Handles one client message PKT (LEN bytes) from C. Returns the length of an answer written to
 * OUT (CAP bytes) to be sent right away, or 0 when there is nothing to send now (dropped, or
 * forwarded: the answer comes later through proxy_answer or proxy_fail). (listen_query_cb)
 */
size_t proxy_query(struct proxy *p, const uint8_t *pkt, size_t len, const struct client_ref *c,
	uint8_t *out, size_t cap);

/*
 * Relays a checked upstream answer ANS (its ID and question spelling already the client's) to
 * C, truncated to LIMIT (the client's UDP size; 65535 over TCP), and stores it in the cache as
 * the answer to QUERY (QLEN bytes: the query as forwarded). With `inspect-answers` on, an answer whose
 * CNAME/DNAME chain (at most WIRE_CHAIN_MAX steps) reaches a name covered by an enabled blocking
 * rule is not relayed: C gets what that rule says for its question (the SOA owned by the
 * blocked name), unless an allow rule covers the question name itself. ANS may be modified.
 * (upstream_answer_cb)
 */
void proxy_answer(struct proxy *p, const struct client_ref *c, uint8_t *ans, size_t len,
	const struct wire_answer *a, size_t limit, const uint8_t *query, size_t qlen);

/* Answers C with RCODE (SERVFAIL, or an upstream's error), built from the original query Q
 * (upstream_fail_cb). */
void proxy_fail(struct proxy *p, const struct client_ref *c, const struct wire_query *q,
	unsigned rcode);

/*
 * A new policy was published: answers cached under the old one may name what the new one
 * blocks, so the cache is replaced by an empty one at once and the old one freed on a thread of
 * its own (it may hold millions of entries, too many to walk on the event loop).
 */
void proxy_policy_changed(struct proxy *p);

/* Empties the cache the same way (ctl flush-cache). */
void proxy_flush_cache(struct proxy *p);

#endif
