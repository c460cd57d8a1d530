/* ratelimit.h -- response rate limiting (RRL) for UDP, per client prefix.
 *
 * A server reachable from the internet by mistake must not be a useful
 * reflector: a spoofed flood "from" a victim gets at most a few answers
 * a second, and every slip-th limited answer goes out truncated (TC, no
 * records) so that a real client behind that prefix retries over TCP,
 * which a spoofer cannot.  TCP is never limited.
 *
 * One table per worker, written by that worker's thread only: no lock
 * and no atomic.  It is allocated whole by ratelimit_new() (at start, or
 * by the worker after a reload that changed rate-limit) and never
 * grows; ratelimit_check() allocates nothing and does no I/O.  Time is a
 * parameter (milliseconds of any clock that does not jump often), so
 * the tests run the bucket math on a fake clock.
 *
 * Each slot is a token bucket keyed by the client's prefix (ipv4-prefix,
 * ipv6-prefix bits): it holds at most one second of the rate and refills
 * at the rate.  The table is 4-way set associative under a hash keyed
 * with a random seed; a prefix that finds no slot of its own takes over
 * the least recently used slot of its set and starts with a full bucket.
 * So two prefixes never share a bucket (a collision cannot block anyone
 * but the prefix itself), and a prefix being limited keeps its slot
 * while it keeps sending.
 */
#ifndef RBLCACHE_RATELIMIT_H
#define RBLCACHE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define RATELIMIT_MAX_RATE	1000000		/* responses-per-second */
#define RATELIMIT_MAX_SLIP	100
#define RATELIMIT_MAX_TABLE	(1 << 20)	/* slots: 24 MB a worker */

/* The settings of the rate-limit section; rate 0 turns it off. */
struct ratelimit_conf {
	int rate;		/* responses a second per prefix, all workers */
	int slip;		/* every slip-th limited answer goes out TC; 0 never */
	int ipv4_prefix;	/* 1..32 */
	int ipv6_prefix;	/* 1..128 */
	int table_size;		/* slots per worker, rounded up to a power of 2 */
};

enum { RATELIMIT_PASS, RATELIMIT_DROP, RATELIMIT_SLIP };

struct ratelimit;

/* A table for one of workers workers: each allows rate / workers
 * (rounded up) a second, so a client whose queries the kernel spreads
 * over the workers (a resolver varying its source port, a spoofed
 * flood) gets about rate in all.  seed keys the hash.  Returns NULL when
 * c->rate is 0 (off) or on allocation failure (logged). */
struct ratelimit *ratelimit_new(const struct ratelimit_conf *c, int workers,
    uint64_t seed);
void ratelimit_free(struct ratelimit *rl);

/* Counts one response to client at now_ms: RATELIMIT_PASS (send it),
 * RATELIMIT_DROP (send nothing) or RATELIMIT_SLIP (send a truncated
 * answer, see ratelimit_truncate()). */
int ratelimit_check(struct ratelimit *rl, const struct ipaddr *client,
    uint64_t now_ms);

/* Writes the slip answer to the query pkt[0..len) into out (size >= 512):
 * its header and question with TC set and no records (and OPT when the
 * query had one), never larger than the query's UDP limit.  Returns the
 * length, or 0 when the query cannot be read (then send nothing). */
size_t ratelimit_truncate(const uint8_t *pkt, size_t len, uint8_t *out,
    size_t size);

#endif
