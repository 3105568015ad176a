/*
 * rand: unpredictable 16-bit query IDs and random bits for the upstream path.
 *
 * The bytes come from the kernel's CSPRNG (getrandom(2)), fetched 4 KiB at a time into a
 * per-worker pool, so one system call serves ~2,000 query IDs. The pool belongs to one thread;
 * it needs no locking. Spent bytes are never reused.
 */
#ifndef BLOKIR_RAND_H
#define BLOKIR_RAND_H

#include <stddef.h>
#include <stdint.h>

#define RAND_POOL_SIZE 4096

struct rand_pool {
	size_t pos; /* next unused byte; RAND_POOL_SIZE = empty */
	uint8_t buf[RAND_POOL_SIZE];
};

void rand_init(struct rand_pool *r); /* starts empty; the first use refills */
uint16_t rand_u16(struct rand_pool *r);
uint32_t rand_u32(struct rand_pool *r);

#endif
