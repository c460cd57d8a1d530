/* query.h -- one DNS query answered from a snapshot of zones and lists.
 *
 * A snapshot is everything a worker reads to answer: the config (zones,
 * allow-query) and the loaded lists.  It is immutable once published;
 * main builds a new one aside on reload and frees the old one when no
 * worker holds it (see server.c).  query_answer() does no I/O and no
 * allocation, so it runs the same in the daemon, the unit tests, the
 * fuzzer and the benchmark.
 */
#ifndef RBLCACHE_QUERY_H
#define RBLCACHE_QUERY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cache.h"
#include "config.h"
#include "dns.h"
#include "lists.h"
#include "upstream.h"

struct snapshot {
	struct config *cfg;	/* shared between snapshots: cfg->refs */
	struct list **lists;	/* one per cfg->lists[], same order */
	struct list **dyn;	/* their run-time entries (rblctl); NULL, or
				 * an array like lists whose items may be NULL */
	int nlists;
	uint32_t serial;	/* SOA serial: time of the build */
	uint32_t gen;		/* unique per snapshot: cached verdicts' key */
	struct cache *cache;	/* NULL: no caching; outlives snapshots */
	_Atomic int pending;	/* queries waiting for upstream that use it */
};

/* Per-worker counters, written by one thread only. */
struct query_stats {
	uint64_t queries, answered, dropped;
	uint64_t rcode[6];	/* NOERROR..REFUSED */
	uint64_t badvers, truncated, listed, notlisted, refused_acl;
	uint64_t dropped_acl;		/* outside allow-query, action "drop" */
	uint64_t ratelimit_dropped;	/* UDP answers over the rate limit */
	uint64_t ratelimit_slipped;	/* ... sent truncated instead (slip) */
	uint64_t upstream_asked;	/* queries that waited for upstream */
	uint64_t short_circuit;		/* decided by local sources alone */
	uint64_t upstream_timeout;	/* lookups given up on (fail open) */
	uint64_t upstream_fail;		/* SERVFAIL and the like */
	uint64_t upstream_errcode;	/* answers that were error codes */
	uint64_t pending_full;		/* answered without upstream: too many waiting */
	uint64_t stale_used;		/* expired results used: upstream failed */
	uint64_t prefetch_sent;		/* background refreshes asked for */
};

/* The upstream lookups one query needs, and their results.  Phase ASK:
 * query_answer() fills l[] and returns 0 when lookups are needed.  Phase
 * ANSWER: the caller has set each lookup's state and result, and
 * query_answer() composes the answer.  Lookups still pending count as
 * unanswered (fail open). */
#define QUERY_EXPLAIN_MAX	1024
#define QUERY_MAX_UPSTREAMS	8	/* distinct upstream zones in one zone */
#define QUERY_MAX_LOOKUPS	(2 * QUERY_MAX_UPSTREAMS)	/* A and TXT each */

enum { QUERY_ASK, QUERY_ANSWER };
enum { QL_PENDING, QL_DONE, QL_TIMEOUT };

struct query_lookup {
	int upstream;		/* index into cfg->upstreams */
	uint16_t qtype;		/* DNS_T_A or DNS_T_TXT */
	int state;
	int timeout_ms;
	int cacheable;		/* key is valid */
	int cached;		/* r came from the cache (no request needed) */
	int prefetch;		/* cached, but refresh it in the background */
	int stale;		/* r is an expired result (serve-stale) */
	struct cache_key key;
	char qname[DNS_MAXNAME + 2];	/* reversed-ip.query-zone */
	struct upstream_raw r;
};

struct query_upstream {
	int phase;
	int n;
	int nprefetch;		/* lookups with prefetch set, also when answered */
	struct query_lookup l[QUERY_MAX_LOOKUPS];
};

#define QUERY_DEFAULT_TTL	300
#define QUERY_UDP_MAX		1232	/* = DNS_EDNS_UDP */

/* Answers the query in pkt[0..len) from client into out.  udp selects
 * the size limit and so the size out must have: QUERY_UDP_MAX bytes over
 * UDP (the EDNS or 512-byte limit applies), 65535 over TCP.  Returns the
 * length to send, or 0 to send nothing (or, in phase ASK with up->n > 0,
 * to wait for the lookups in up that are not cached).  With up NULL,
 * upstream sources count as unanswered (fail open).  With s->cache set,
 * phase ASK answers from cached verdicts and results when it can; the
 * caller then still owes the refreshes marked prefetch in up. */
/* True when client may query (allow-query). */
int query_client_allowed(const struct config *c, const struct ipaddr *client);

size_t query_answer(const struct snapshot *s, const uint8_t *pkt, size_t len,
    const struct ipaddr *client, int udp, uint8_t *out,
    struct query_stats *st, struct query_upstream *up);

#endif
