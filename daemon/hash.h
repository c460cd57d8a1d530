/* hash.h -- the 64-bit mixer behind the daemon's hash tables.
 *
 * murmur3's finalizer: every input bit moves every output bit, so table
 * indexes can be taken from the low bits.  Not keyed: a table that must
 * resist chosen keys mixes in a secret seed first (ratelimit.c).
 */
#ifndef RBLCACHE_HASH_H
#define RBLCACHE_HASH_H

#include <stdint.h>

static inline uint64_t
hash_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

#endif
