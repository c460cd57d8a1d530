/* upstream.h -- upstream DNSBL lookups through libunbound.
 *
 * One upstream thread owns the libunbound context, its own libev loop
 * (libunbound resolves on it through its pluggable event API, ubev.c)
 * and the table of lookups in flight, so any number of concurrent
 * requests for one name from any worker share one upstream query
 * (coalescing across workers, which per-worker contexts could not do),
 * and libunbound's cache is shared by all workers.
 *
 * Workers hand requests over a mutex-protected queue and get replies in
 * their own mailbox, woken by an ev_async; the miss path allocates (one
 * request and one reply each), the hot path never comes here.
 */
#ifndef RBLCACHE_UPSTREAM_H
#define RBLCACHE_UPSTREAM_H

#include <ev.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "config.h"

#define UPSTREAM_MAX_A	8

enum upstream_status {
	UPS_ANSWER,		/* A (or TXT) records in r.a / r.txt */
	UPS_NXDOMAIN,		/* not listed */
	UPS_NODATA,		/* name exists, no record of that type */
	UPS_FAIL,		/* SERVFAIL, refused, no server reachable */
};

struct upstream_raw {
	int status;
	int rcode;
	uint32_t a[UPSTREAM_MAX_A];	/* host order */
	int na;
	uint32_t ttl;
	char txt[256];		/* TXT strings joined with a space */
	size_t txtlen;
};

/* Empties r: no status, no codes, no TXT (the text buffer itself is not
 * cleared, only terminated). */
static inline void
upstream_raw_clear(struct upstream_raw *r)
{
	memset(r, 0, offsetof(struct upstream_raw, txt));
	r->txt[0] = '\0';
	r->txtlen = 0;
}

struct upstream_reply {
	struct upstream_reply *next;
	void *cookie;		/* the requester's, returned as given */
	uint32_t gen;
	uint16_t qtype;
	struct upstream_raw r;
};

/* A worker's inbox.  The upstream thread appends under mu and wakes
 * the worker's loop with ev_async_send(loop, wake). */
struct upstream_mailbox {
	pthread_mutex_t mu;
	struct upstream_reply *head, *tail;
	struct ev_loop *loop;
	ev_async *wake;
	int wake_due;		/* the upstream thread's: woken before it polls */
};

struct upstream;
struct cache;
struct cache_key;

/* One lookup asked of the upstream thread. */
struct upstream_ask {
	const char *qname;	/* reversed-ip.query-zone */
	uint16_t qtype;
	const struct cache_key *key;	/* NULL: not cached */
	const char *source;	/* the source's name (Redis key); with key */
	int prefetch;		/* a refresh: look past the cached entry */
	int stats_id;		/* the source's config_upstream.stats_id */
};

/* Creates the libunbound context from cfg->resolver (forwarders, the
 * unbound-config file; full recursion when neither is set).  Results
 * are stored in cache (may be NULL) and, when cfg has a redis section,
 * in Redis.  Returns NULL after logging when libunbound rejects the
 * settings. */
struct upstream *upstream_new(const struct config *cfg, struct cache *cache);
/* Starts the thread; connects to Redis when cfg->redis.enabled. */
void upstream_start(struct upstream *u, const struct config *cfg);
/* Takes the cache's TTL limits from cfg (after a reload). */
void upstream_set_ttls(struct upstream *u, const struct config *cfg);
/* Stopping takes two steps so that neither side posts into a freed loop:
 * upstream_stop() ends the thread (requests still queue, unanswered);
 * after the workers are gone, upstream_free() releases everything. */
void upstream_stop(struct upstream *u);
void upstream_free(struct upstream *u);

/* Asks for a->qname/qtype (IN): from Redis when the key is there, else
 * upstream; the result is cached (its TTL clamped to the cache limits:
 * the reply's r.ttl is the clamped one).  The reply lands in mb with
 * cookie and gen; with mb NULL nothing is delivered (prefetch).
 * Returns 0, or -1 when out of memory (nothing will be delivered). */
int upstream_request(struct upstream *u, const struct upstream_ask *a,
    struct upstream_mailbox *mb, void *cookie, uint32_t gen);

/* Deletes the Redis entries of ip for every named source (A and TXT);
 * nothing when Redis is not configured. */
void upstream_redis_forget(struct upstream *u, const struct ipaddr *ip,
    char *const *sources, int nsources);

/* Parses libunbound's result for a qtype question: rcode its error code
 * (0, or SERVFAIL and kin with no packet to read), bogus set when the
 * validator found the answer bogus, pkt the answer packet.  A failure
 * or anything unreadable is UPS_FAIL; an answer's TTL is the smallest
 * of its records', a negative one's the SOA's TTL or MINIMUM. */
void upstream_parse_answer(int rcode, int bogus, const uint8_t *pkt,
    size_t len, uint16_t qtype, struct upstream_raw *raw);

/* Parses a Redis value (format in upstream.c) read back at Unix time
 * now into r; returns the seconds it has left, *life its whole TTL, or
 * 0 for an expired or unrecognised value. */
uint32_t upstream_redis_decode(const char *val, size_t len, int64_t now,
    struct upstream_raw *r, uint32_t *life);

/* Redis counters (all zero without Redis). */
struct rcache_stats;
int upstream_redis_stats(struct upstream *u, struct rcache_stats *out,
    uint64_t *answered);

/* Takes every reply from mb (a list to free with free()). */
struct upstream_reply *upstream_mailbox_take(struct upstream_mailbox *mb);

/* Counters for stats: upstream queries sent, coalesced requests. */
void upstream_counters(struct upstream *u, uint64_t *sent, uint64_t *coalesced);

/* Upstream queries sent per source, out[stats_id] for ids below n. */
void upstream_sent_by(struct upstream *u, uint64_t *out, int n);

#endif
