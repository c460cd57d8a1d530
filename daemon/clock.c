/* clock.c -- monotonic and wall seconds. */
#include "clock.h"

#include <time.h>

uint32_t
clock_sec(void)
{
	struct timespec ts;
	/* the coarse clock is a vDSO read of the last tick: cheap enough
	 * for every query, and seconds are all the caches need */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)(ts.tv_sec + 1);
}

int64_t
clock_wall(void)
{
	return (int64_t)time(NULL);
}
