/* clock.c -- monotonic and wall seconds with a test offset. */
#include "clock.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic int64_t offset;

uint32_t
clock_sec(void)
{
	struct timespec ts;
	/* the coarse clock is a vDSO read of the last tick: cheap enough
	 * for every query, and seconds are all the caches need */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)(ts.tv_sec + 1 + atomic_load_explicit(&offset,
	    memory_order_relaxed));
}

int64_t
clock_wall(void)
{
	return (int64_t)time(NULL) + atomic_load_explicit(&offset,
	    memory_order_relaxed);
}

void
clock_advance(int64_t secs)
{
	atomic_fetch_add(&offset, secs);
}
