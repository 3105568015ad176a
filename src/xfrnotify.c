/*
 * xfrnotify: NOTIFY sender for serve-rpz (see include/xfrnotify.h).
 *
 * One unconnected UDP socket per address family, opened at start (before privileges drop, though
 * it binds nothing privileged), one timer per target. IDs come from the CSPRNG so a spoofed
 * acknowledgement has to guess 16 bits as well as the target's address.
 */
#include "xfrnotify.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "rand.h"
#include "xfrout.h"

struct target {
	struct xfrnotify *n;
	const struct config_endpoint *ep; /* borrowed from the xfrout */
	struct event *timer;              /* owned */
	uint16_t id;
	uint32_t serial;                  /* the serial being announced */
	unsigned tries;
	bool waiting;                     /* sent, not acknowledged */
};

struct xfrnotify {
	struct event_base *base;
	struct xfrout *x;
	int fd4, fd6;                     /* owned, -1 when not needed */
	struct event *ev4, *ev6;          /* owned */
	struct target *t;                 /* owned array */
	size_t count;
	/* written on the main loop only; read by the metrics thread too (xfrnotify_counts) */
	_Atomic uint64_t sent, acked, failed;
	struct rand_pool rand;
};

static void target_send(struct target *t)
{
	uint8_t msg[1024];
	size_t len;
	int fd = t->ep->addr.ss_family == AF_INET6 ? t->n->fd6 : t->n->fd4;
	struct timeval tv = { 1 << t->tries, 0 };

	len = xfrout_build_notify(t->n->x, t->id, msg, sizeof(msg));
	if (len == 0 || fd < 0) {
		log_warn("serve-rpz: cannot build a NOTIFY for %s", t->ep->text);
		return;
	}
	if (sendto(fd, msg, len, 0, (const struct sockaddr *)&t->ep->addr, t->ep->addrlen) < 0)
		log_warn("serve-rpz: NOTIFY to %s: %s", t->ep->text, strerror(errno));
	t->n->sent++;
	t->tries++;
	t->waiting = true;
	event_add(t->timer, &tv);
}

static void target_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct target *t = arg;
	(void)fd;
	(void)what;

	if (!t->waiting)
		return;
	if (t->tries >= XFRNOTIFY_TRIES) {
		t->waiting = false;
		t->n->failed++;
		log_warn("serve-rpz: NOTIFY of serial %u to %s not acknowledged after %u tries; "
			"it will refresh on its own timer", t->serial, t->ep->text, t->tries);
		return;
	}
	target_send(t);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return x->sin6_port == y->sin6_port &&
		memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* An answer: QR set, opcode NOTIFY, the ID we sent, from the target we sent it to. */
static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct xfrnotify *n = arg;
	uint8_t buf[4096];
	struct sockaddr_storage from;
	socklen_t fromlen;
	ssize_t len;
	(void)what;

	for (int i = 0; i < 64; i++) { /* bounded work per wakeup */
		fromlen = sizeof(from);
		len = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
		if (len < 0)
			return;
		if (len < 12 || !(buf[2] & 0x80) || ((buf[2] >> 3) & 0xf) != 4)
			continue;
		for (size_t k = 0; k < n->count; k++) {
			struct target *t = &n->t[k];

			if (!t->waiting || t->id != ((unsigned)buf[0] << 8 | buf[1]) ||
				!same_addr(&t->ep->addr, (const struct sockaddr *)&from))
				continue;
			t->waiting = false;
			event_del(t->timer);
			n->acked++;
			if ((buf[3] & 0xf) != 0)
				log_warn("serve-rpz: %s answered the NOTIFY of serial %u with rcode %u",
					t->ep->text, t->serial, buf[3] & 0xf);
			else
				log_info("serve-rpz: NOTIFY of serial %u acknowledged by %s", t->serial,
					t->ep->text);
		}
	}
}

static int open_family(struct xfrnotify *n, int family, int *fd, struct event **ev)
{
	*fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*fd < 0) {
		log_err("serve-rpz: NOTIFY socket: %s", strerror(errno));
		return -1;
	}
	*ev = event_new(n->base, *fd, EV_READ | EV_PERSIST, read_cb, n);
	return *ev != NULL && event_add(*ev, NULL) == 0 ? 0 : -1;
}

struct xfrnotify *xfrnotify_new(struct event_base *base, struct xfrout *x)
{
	struct xfrnotify *n = calloc(1, sizeof(*n));
	const struct config_endpoint *eps;
	size_t count;
	bool v4 = false, v6 = false;

	if (n == NULL)
		goto fail;
	n->base = base;
	n->x = x;
	n->fd4 = n->fd6 = -1;
	rand_init(&n->rand);
	eps = xfrout_notify_targets(x, &count);
	if ((n->t = calloc(count + 1, sizeof(*n->t))) == NULL)
		goto fail;
	for (size_t i = 0; i < count; i++) {
		struct target *t = &n->t[n->count++];

		t->n = n;
		t->ep = &eps[i];
		if ((t->timer = evtimer_new(base, target_timer_cb, t)) == NULL)
			goto fail;
		v4 |= eps[i].addr.ss_family == AF_INET;
		v6 |= eps[i].addr.ss_family == AF_INET6;
	}
	if ((v4 && open_family(n, AF_INET, &n->fd4, &n->ev4) < 0) ||
		(v6 && open_family(n, AF_INET6, &n->fd6, &n->ev6) < 0))
		goto fail;
	return n;
fail:
	log_err("serve-rpz: cannot set up NOTIFY");
	xfrnotify_free(n);
	return NULL;
}

void xfrnotify_free(struct xfrnotify *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->count; i++)
		if (n->t[i].timer != NULL)
			event_free(n->t[i].timer);
	free(n->t);
	if (n->ev4 != NULL)
		event_free(n->ev4);
	if (n->ev6 != NULL)
		event_free(n->ev6);
	if (n->fd4 >= 0)
		close(n->fd4);
	if (n->fd6 >= 0)
		close(n->fd6);
	free(n);
}

void xfrnotify_send(struct xfrnotify *n)
{
	uint32_t serial = xfrout_serial(n->x);

	for (size_t i = 0; i < n->count; i++) {
		struct target *t = &n->t[i];
		event_del(t->timer);
		t->id = rand_u16(&n->rand);
		t->serial = serial;
		t->tries = 0;
		log_info("serve-rpz: NOTIFY of serial %u to %s", serial, t->ep->text);
		target_send(t);
	}
}

void xfrnotify_counts(const struct xfrnotify *n, uint64_t *sent, uint64_t *acked, uint64_t *failed)
{
	*sent = atomic_load_explicit(&n->sent, memory_order_relaxed);
	*acked = atomic_load_explicit(&n->acked, memory_order_relaxed);
	*failed = atomic_load_explicit(&n->failed, memory_order_relaxed);
}
