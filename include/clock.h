/*
 * clock: the query path's notion of now. CLOCK_MONOTONIC_COARSE is read from the vDSO without a
 * system call and ticks every few milliseconds, which is all that timeouts, rate buckets and
 * cache lifetimes need; it never jumps with the wall clock. clock_now_ns is the precise clock,
 * for what lasts microseconds (busy-poll-us) or must be reported exactly (reload time).
 */
#ifndef BLOKIR_CLOCK_H
#define BLOKIR_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline uint64_t clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
