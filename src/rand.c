/*
 * rand: a buffered view of getrandom(2) (see include/rand.h). getrandom cannot fail once the
 * kernel pool is initialized except by EINTR, which we retry; a failure beyond that means the
 * system cannot give us secure IDs, and forwarding with guessable IDs would be worse than exiting.
 */
#include "rand.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"

void rand_init(struct rand_pool *r)
{
	r->pos = RAND_POOL_SIZE;
}

static void rand_refill(struct rand_pool *r)
{
	size_t got = 0;

	while (got < RAND_POOL_SIZE) {
		ssize_t n = getrandom(r->buf + got, RAND_POOL_SIZE - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("getrandom: %s; cannot make unpredictable query IDs", strerror(errno));
			abort();
		}
		got += (size_t)n;
	}
	r->pos = 0;
}

uint16_t rand_u16(struct rand_pool *r)
{
	uint16_t v;

	if (r->pos + sizeof(v) > RAND_POOL_SIZE)
		rand_refill(r);
	memcpy(&v, r->buf + r->pos, sizeof(v));
	r->pos += sizeof(v);
	return v;
}

uint32_t rand_u32(struct rand_pool *r)
{
	uint32_t v;

	if (r->pos + sizeof(v) > RAND_POOL_SIZE)
		rand_refill(r);
	memcpy(&v, r->buf + r->pos, sizeof(v));
	r->pos += sizeof(v);
	return v;
}
