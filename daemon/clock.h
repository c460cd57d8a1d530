/* clock.h -- the one clock the caches read, which tests can move.
 *
 * Cache lifetimes are kept in whole seconds of a monotonic clock (a
 * wall-clock step must not expire or revive the cache).  Tests advance
 * the clock with clock_advance() instead of sleeping; the daemon never
 * calls it.  Safe from any thread.
 */
#ifndef RBLCACHE_CLOCK_H
#define RBLCACHE_CLOCK_H

#include <stdint.h>

/* Seconds since an arbitrary start (always > 0), plus the test offset. */
uint32_t clock_sec(void);

/* Unix time in seconds, plus the same offset (for expiry times that
 * outlive the process: journal entries, values shared through Redis). */
int64_t clock_wall(void);

/* Moves both clocks forward by secs (tests only). */
void clock_advance(int64_t secs);

#endif
