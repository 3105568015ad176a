/*
 * xfrnotify: NOTIFY (RFC 1996) to the secondaries of the zone blokir serves (`serve-rpz: notify:`).
 * After each new serial every target gets a NOTIFY over UDP, repeated until it answers (an
 * answer with the same ID and opcode from the target's address) or XFRNOTIFY_TRIES attempts have
 * gone unanswered, with the wait doubling from one second; a newer serial restarts the round.
 * Each outcome is logged. Runs on the main thread's event loop.
 */
#ifndef BLOKIR_XFRNOTIFY_H
#define BLOKIR_XFRNOTIFY_H

#include <stdint.h>

struct event_base;
struct xfrout;
struct xfrnotify;

#define XFRNOTIFY_TRIES 5

/* A notifier for X's targets on BASE (both borrowed). NULL on failure (logged). */
struct xfrnotify *xfrnotify_new(struct event_base *base, struct xfrout *x);
void xfrnotify_free(struct xfrnotify *n);

/* X has a new serial: NOTIFY every target (again). */
void xfrnotify_send(struct xfrnotify *n);

/* NOTIFYs sent and answered and rounds given up since start, for the counters line and the
 * metrics page: any thread (relaxed reads of counters the main loop writes). */
void xfrnotify_counts(const struct xfrnotify *n, uint64_t *sent, uint64_t *acked, uint64_t *failed);

#endif
