/* clock.h -- the one clock the caches and run-time entries read.
 *
 * Cache lifetimes are kept in whole seconds of a monotonic clock (a
 * wall-clock step must not expire or revive the cache).  Everything
 * below it takes the time as a parameter (cache_get_result(.., now, ..),
 * journal_entries(.., now, ..)), so tests pass their own times instead
 * of sleeping.  Safe from any thread.
 */
#ifndef RBLCACHE_CLOCK_H
#define RBLCACHE_CLOCK_H

#include <stdint.h>

/* Seconds since an arbitrary start (always > 0). */
uint32_t clock_sec(void);

/* Unix time in seconds (for expiry times that outlive the process:
 * journal entries, values shared through Redis). */
int64_t clock_wall(void);

#endif
