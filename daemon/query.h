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

/* Label sets of the per-worker counters.  Zones and upstreams are
 * counted by their stats_id (config.h), stable across reloads; id 0 of
 * zones gathers names outside every zone (and queries refused before a
 * zone is known). */
#define QUERY_STATS_ZONES	32
#define QUERY_STATS_UPSTREAMS	32
enum { QUERY_QT_OTHER, QUERY_QT_A, QUERY_QT_TXT, QUERY_QT_ANY, QUERY_QT_SOA,
	QUERY_QT_NS, QUERY_QT_AAAA, QUERY_QTYPES };
#define QUERY_RC_BADVERS	6	/* after NOERROR..REFUSED */
#define QUERY_RCODES		7
enum { QUERY_ERR_TIMEOUT, QUERY_ERR_SERVFAIL, QUERY_ERR_ERRCODE, QUERY_ERRS };
/* Answer latency buckets (upper bounds, ns); one more counts the rest. */
#define QUERY_BUCKETS		14
extern const uint64_t query_bucket_ns[QUERY_BUCKETS];

/* Where the answer came from, for the query log. */
enum { QUERY_VIA_NONE, QUERY_VIA_LOCAL, QUERY_VIA_CACHE, QUERY_VIA_UPSTREAM };
#define QUERY_NO_SCORE	INT32_MIN

/* What the last query_answer() that returned an answer decided. */
struct query_result {
	uint8_t zone;		/* stats id, 0: no zone */
	uint8_t qtype;		/* QUERY_QT_* */
	uint8_t rcode;		/* 0..5 or QUERY_RC_BADVERS */
	int8_t verdict;		/* 1 listed, 0 not listed, -1 none */
	uint8_t via;		/* QUERY_VIA_* */
	int32_t score;		/* QUERY_NO_SCORE: not scored here */
};

/* Per-worker counters, written by one thread only.  Every field up to
 * last is a uint64_t counter, summed over workers by server_stats(). */
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
	uint64_t by_label[QUERY_STATS_ZONES][QUERY_QTYPES][QUERY_RCODES];
	uint64_t verdicts[QUERY_STATS_ZONES][2];	/* not listed, listed */
	uint64_t upstream_errs[QUERY_STATS_UPSTREAMS][QUERY_ERRS];
	uint64_t latency[QUERY_BUCKETS + 1];	/* not cumulative */
	uint64_t latency_ns;			/* their sum */
	uint64_t qlog_lines, qlog_dropped;	/* query log: written, lost */
	uint64_t udp_saturated;		/* a UDP socket read outside epoll */
	struct query_result last;	/* not a counter: see query_answer() */
};

/* Counts n answers that took ns each in the latency histogram. */
static inline void
query_stats_latency(struct query_stats *st, uint64_t ns, uint64_t n)
{
	int b = 0;
	while (b < QUERY_BUCKETS && ns > query_bucket_ns[b])
		b++;
	st->latency[b] += n;
	st->latency_ns += ns * n;
}

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

/* True when client may query (allow-query). */
int query_client_allowed(const struct config *c, const struct ipaddr *client);

/* Answers the query in pkt[0..len) from client into out.  udp selects
 * the size limit and so the size out must have: QUERY_UDP_MAX bytes over
 * UDP (the EDNS or 512-byte limit applies), 65535 over TCP.  Returns the
 * length to send, or 0 to send nothing (or, in phase ASK with up->n > 0,
 * to wait for the lookups in up that are not cached).  With up NULL,
 * upstream sources count as unanswered (fail open).  With s->cache set,
 * phase ASK answers from cached verdicts and results when it can; the
 * caller then still owes the refreshes marked prefetch in up.  An
 * answer is counted in st by zone, qtype and rcode (and verdict), and
 * described in st->last for the caller's latency and query log. */
size_t query_answer(const struct snapshot *s, const uint8_t *pkt, size_t len,
    const struct ipaddr *client, int udp, uint8_t *out,
    struct query_stats *st, struct query_upstream *up);

#endif
