/* cache.h -- the in-process cache: upstream results and final verdicts.
 *
 * Two kinds of entries share one memory bound (cache.max-memory):
 *  - results: what one upstream source said about one IP, per query type
 *    (A codes, or the TXT), for the TTL upstream gave, clamped by the
 *    caller to min-ttl/max-ttl (negative answers: negative-ttl);
 *  - verdicts: a zone's final answer for one IP (listed or not, the A to
 *    answer), valid for one snapshot generation only, so an edit of a
 *    local list or a reload invalidates them without a walk.
 *
 * Entries are spread over CACHE_SHARDS shards by IP, each with its own
 * mutex, LRU list and share of the memory bound; a full shard evicts its
 * least recently used entry (so eviction order is LRU per shard, which
 * approximates a global LRU).  Expired entries stay until evicted so
 * that serve-stale can use them.  Memory: one fixed-size entry
 * (cache_entry_bytes() with its hash bucket) each, plus a small block for
 * entries with more than one A code or a TXT; all of it is counted
 * against the bound.  Safe from any thread.  Times are clock_sec().
 */
#ifndef RBLCACHE_CACHE_H
#define RBLCACHE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "upstream.h"

#define CACHE_SHARDS	64
#define CACHE_STALE_TTL	30	/* TTL of an answer served stale (RFC 8767 §4) */

enum { CACHE_A = 1, CACHE_TXT, CACHE_VERDICT };
enum { CACHE_MISS, CACHE_FRESH, CACHE_PREFETCH, CACHE_STALE };

struct cache_key {
	uint8_t kind;		/* CACHE_A, CACHE_TXT or CACHE_VERDICT */
	uint8_t id;		/* source id (results) or zone index (verdicts) */
	uint32_t gen;		/* verdicts: the snapshot's generation */
	struct ipaddr ip;
};

struct cache_verdict {
	int listed;
	uint32_t a;		/* the A record to answer (host order) */
	uint32_t ttl;		/* remaining, on a hit */
};

struct cache_stats {
	uint64_t hits, misses;		/* results */
	uint64_t verdict_hits, verdict_misses;
	uint64_t stale, prefetch, evictions, inserts;
	uint64_t entries, bytes, max_bytes;
};

struct cache;

/* Bytes one entry costs with its share of the hash index (no TXT). */
size_t cache_entry_bytes(void);

/* A cache bounded by max_memory bytes in all.  NULL when out of memory. */
struct cache *cache_new(uint64_t max_memory);
void cache_free(struct cache *c);

/* Changes the bound; a smaller one evicts at once. */
void cache_set_limit(struct cache *c, uint64_t max_memory);

/* A small number that names an upstream source across reloads (results
 * outlive the config that asked for them).  -1 when 255 names are
 * known already: that source is then not cached. */
int cache_source_id(struct cache *c, const char *name);

/* Looks a result up.  CACHE_FRESH: *out holds it, out->ttl the seconds
 * left.  CACHE_PREFETCH: the same, and the entry is in the last tenth of
 * its life (or its last second): the caller should refresh it (returned
 * once per entry, so one refresh is asked for).  CACHE_STALE: an expired
 * result that cache_get_stale() lent a short new life, see there.
 * CACHE_MISS: nothing fresh. */
int cache_get_result(struct cache *c, const struct cache_key *k, uint32_t now,
    struct upstream_raw *out);

/* An expired result at most max_stale seconds past its end: returns 1
 * with *out (ttl = CACHE_STALE_TTL), else 0.  For serve-stale only:
 * called because upstream failed, it also keeps the entry answering (as
 * CACHE_STALE) for CACHE_STALE_TTL more seconds, never past its end +
 * max_stale, so that during an outage one query in that time waits for
 * upstream, not every one (RFC 8767 §5's failure recheck). */
int cache_get_stale(struct cache *c, const struct cache_key *k, uint32_t now,
    uint32_t max_stale, struct upstream_raw *out);

/* Stores r for ttl seconds (replacing what was there).  UPS_FAIL is not
 * stored.  TXT beyond 255 bytes and A codes beyond UPSTREAM_MAX_A are cut. */
void cache_put_result(struct cache *c, const struct cache_key *k, uint32_t now,
    const struct upstream_raw *r, uint32_t ttl);

/* Verdicts: 1 and *v (v->ttl = seconds left) on a hit, else 0. */
int cache_get_verdict(struct cache *c, const struct cache_key *k, uint32_t now,
    struct cache_verdict *v);
void cache_put_verdict(struct cache *c, const struct cache_key *k, uint32_t now,
    const struct cache_verdict *v, uint32_t ttl);

/* Empties the cache; returns the number of entries dropped. */
uint64_t cache_flush(struct cache *c);
/* Drops every entry about ip; returns how many. */
uint64_t cache_flush_ip(struct cache *c, const struct ipaddr *ip);

void cache_stats(struct cache *c, struct cache_stats *out);

#endif
