/* rcache.h -- the Redis second-level cache: GET/SET/DEL on one libev loop, never blocking.
 *
 * Threading: an rcache lives on one thread's libev loop (the daemon's
 * upstream thread).  Every function but rcache_stats() is called on that
 * thread, or, for rcache_free(), on any thread once the loop has stopped
 * for good.  Nothing blocks: connecting, AUTH/SELECT and every command
 * are asynchronous (hiredis and its libev adapter).
 *
 * Ownership: rcache_new() copies what it needs from cfg; keys and values
 * are copied by the calls that take them.  A GET's val is Redis' buffer,
 * valid only during its callback.  Callbacks may call rcache_get, _set
 * and _del, but not rcache_free.
 *
 * Keys are used as given: the caller adds cfg->redis.prefix.
 */
#ifndef RBLCACHE_RCACHE_H
#define RBLCACHE_RCACHE_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct ev_loop;

#define RCACHE_MAX_INFLIGHT	8192	/* commands sent and not yet answered */
#define RCACHE_DOWN_AFTER	3	/* timeouts in a row that mean Redis is down */

struct rcache;
enum { RC_HIT, RC_MISS, RC_ERROR };	/* ERROR: timeout, connection lost, error reply */
typedef void rcache_get_cb(void *arg, int result, const char *val, size_t len);

/* Starts connecting (non-blocking) to cfg->redis.address; copies what it needs from cfg.
 * Returns NULL only when out of memory.  A bad address is logged and
 * leaves the cache down for good. */
struct rcache *rcache_new(const struct config *cfg, struct ev_loop *loop);
/* Disconnects; every GET still outstanding gets its callback with RC_ERROR before this returns. */
void rcache_free(struct rcache *rc);
/* Asks GET key.  Returns -1 at once (no callback ever) when Redis is not usable now
 * (not connected, backing off, too many commands in flight); else 0, and cb is called
 * exactly once, later, from the loop (never from inside rcache_get), at the latest
 * timeout-ms after the call (RC_ERROR then; a late reply is ignored).
 * A nil or non-string value (WRONGTYPE) is RC_MISS; any other error reply is RC_ERROR. */
int rcache_get(struct rcache *rc, const char *key, size_t keylen, rcache_get_cb *cb, void *arg);
/* SET key val PX ttl_ms; fire and forget, dropped (counted) when Redis is not usable.
 * ttl_ms 0 stores nothing. */
void rcache_set(struct rcache *rc, const char *key, size_t keylen, const char *val, size_t vlen, uint64_t ttl_ms);
/* DEL key; fire and forget. */
void rcache_del(struct rcache *rc, const char *key, size_t keylen);
int rcache_is_up(const struct rcache *rc);

/* Every accepted GET ends in exactly one of hits, misses, errors, so
 * gets = hits + misses + errors + GETs outstanding; timeouts counts the
 * errors that were deadlines passing.  dropped: SETs and DELs not sent.
 * reconnects: times the connection came up again after a loss. */
struct rcache_stats {
	int up;				/* 1 connected and authenticated */
	uint64_t gets, hits, misses, errors, timeouts, sets, dropped, reconnects;
	uint64_t rtt_us_sum, rtt_count, rtt_us_max;	/* GET round trips */
};
/* Safe to call from another thread (counters are relaxed atomics). */
void rcache_stats(const struct rcache *rc, struct rcache_stats *out);

#endif
