/* upstream.c -- the upstream thread: Redis, libunbound, coalescing, replies.
 *
 * Invariants: only the upstream thread touches ctx, the Redis client and
 * the lookup table; the request queue is guarded by qmu; a mailbox by its
 * own mu.  A lookup lives from the first request for its (name, type)
 * until its result is in -- from Redis, or else from libunbound's
 * callback -- which replies to every waiter and frees it.
 *
 * Redis (the shared second-level cache) holds one value per source, IP
 * and type under PREFIX "v1:" SOURCE ":" IP (A) and PREFIX "v1:" SOURCE
 * "/txt:" IP (TXT), written with the cached TTL (SET PX).  The value is
 * text: "EXPIRES TTL KIND [DATA]" with EXPIRES the Unix time it ends,
 * TTL its whole life in seconds, KIND N (NXDOMAIN), D (no data),
 * A (DATA: the codes, space-separated) or T (DATA: the TXT).  Whatever a
 * daemon does not recognise it treats as a miss.
 */
#include "upstream.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unbound.h>
#include <unbound-event.h>

#include "cache.h"
#include "clock.h"
#include "dns.h"
#include "log.h"
#include "query.h"
#include "rcache.h"
#include "ubev.h"

#define LOOKUP_BUCKETS	4096
#define UPSTREAM_PORTS	"4096"
#define UPSTREAM_QUERIES	"4096"

#define RKEY_MAX	(DNS_MAXNAME + 128)
#define UPSTREAM_DUE_MAX	64	/* mailboxes woken together */

struct request {
	struct request *next;
	uint16_t qtype;
	struct upstream_mailbox *mb;
	void *cookie;
	uint32_t gen;
	int cached, prefetch;
	int stats_id;
	struct cache_key key;
	char qname[DNS_MAXNAME + 2];
	char source[DNS_MAXNAME + 2];	/* or a Redis key to delete (mb NULL, qtype 0) */
};

struct waiter {
	struct upstream_mailbox *mb;
	void *cookie;
	uint32_t gen;
};

struct lookup {
	struct lookup *next;
	struct upstream *u;
	uint16_t qtype;
	int nwait, capwait;
	struct waiter *wait;
	unsigned bucket;
	int cached, prefetch;
	int stats_id;
	struct cache_key key;
	char qname[DNS_MAXNAME + 2];
	char rkey[RKEY_MAX];
	size_t rkeylen;
};

struct upstream {
	struct ub_ctx *ctx;
	struct ub_event_base *ub_base;
	pthread_t thread;
	struct ev_loop *loop;
	ev_async wake, stop;
	ev_prepare wake_workers;
	struct upstream_mailbox *due[UPSTREAM_DUE_MAX];	/* to wake */
	int ndue;
	pthread_mutex_t qmu;
	struct request *qhead, *qtail;
	struct lookup *table[LOOKUP_BUCKETS];
	_Atomic uint64_t sent, coalesced, redis_answered;
	/* per source (stats_id); written by the upstream thread only */
	_Atomic uint64_t sent_by[QUERY_STATS_UPSTREAMS];
	int started, stopped, stopping;
	struct cache *cache;
	struct rcache *rc;
	char *rprefix;
	_Atomic int min_ttl, max_ttl, negative_ttl;
};

static unsigned
hash_name(const char *s, uint16_t qtype)
{
	unsigned h = 2166136261u ^ qtype;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		h = (h ^ c) * 16777619u;
	}
	return h % LOOKUP_BUCKETS;
}

struct upstream *
upstream_new(const struct config *cfg, struct cache *cache)
{
	struct upstream *u = calloc(1, sizeof(*u));
	int r;
	if (!u)
		fatal("%s", __func__);
	u->cache = cache;
	upstream_set_ttls(u, cfg);
	/* libunbound resolves on the upstream thread's own loop: a lookup
	 * and its answer cross no thread but the worker's hand-over */
	u->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!u->loop || !(u->ub_base = ubev_base_new(u->loop)))
		fatalx("%s: cannot make the upstream loop", __func__);
	if (!(u->ctx = ub_ctx_create_ub_event(u->ub_base)))
		fatalx("%s: ub_ctx_create_ub_event failed", __func__);
	/* libunbound's library defaults allow 16 queries in flight; a DNSBL
	 * front end has hundreds (an unbound-config file may still lower
	 * these).  main raises RLIMIT_NOFILE to match. */
	if ((r = ub_ctx_set_option(u->ctx, "outgoing-range:", UPSTREAM_PORTS)) != 0 ||
	    (r = ub_ctx_set_option(u->ctx, "num-queries-per-thread:",
	    UPSTREAM_QUERIES)) != 0 ||
	    /* our prefetch near the end of a TTL would otherwise get
	     * libunbound's own cached copy, as old as ours */
	    (r = ub_ctx_set_option(u->ctx, "prefetch:", "yes")) != 0)
		goto fail;
	if (cfg->resolver.unbound_config &&
	    (r = ub_ctx_config(u->ctx, cfg->resolver.unbound_config)) != 0) {
		log_warnx("resolver: unbound-config %s: %s",
		    cfg->resolver.unbound_config, ub_strerror(r));
		goto fail_logged;
	}
	for (int i = 0; i < cfg->resolver.nforward; i++) {
		const char *f = cfg->resolver.forward[i];
		if (strncmp(f, "127.", 4) == 0 || strncmp(f, "::1", 3) == 0)
			ub_ctx_set_option(u->ctx, "do-not-query-localhost:", "no");
		if ((r = ub_ctx_set_fwd(u->ctx, f)) != 0) {
			log_warnx("resolver: forward \"%s\": %s", f, ub_strerror(r));
			goto fail_logged;
		}
	}
	pthread_mutex_init(&u->qmu, NULL);
	return u;
fail:
	log_warnx("resolver: %s", ub_strerror(r));
fail_logged:
	ub_ctx_delete(u->ctx);
	ubev_base_free(u->ub_base);
	ev_loop_destroy(u->loop);
	free(u);
	return NULL;
}

static void
deliver(struct upstream *u, struct upstream_mailbox *mb, void *cookie,
    uint32_t gen, uint16_t qtype, const struct upstream_raw *raw)
{
	if (!mb)
		return;		/* a prefetch: nobody waits */
	struct upstream_reply *rep = malloc(sizeof(*rep));
	if (!rep)
		return;		/* the worker's timeout answers for it */
	rep->next = NULL;
	rep->cookie = cookie;
	rep->gen = gen;
	rep->qtype = qtype;
	rep->r = *raw;
	pthread_mutex_lock(&mb->mu);
	if (mb->tail)
		mb->tail->next = rep;
	else
		mb->head = rep;
	mb->tail = rep;
	pthread_mutex_unlock(&mb->mu);
	/* one wake-up per worker for everything one turn of the loop
	 * delivers (a query's lookups tend to finish together) */
	if (mb->wake_due)
		return;
	if (u->ndue == UPSTREAM_DUE_MAX) {
		ev_async_send(mb->loop, mb->wake);
		return;
	}
	mb->wake_due = 1;
	u->due[u->ndue++] = mb;
}

/* Before the loop polls again: wake the workers it delivered to. */
static void
wake_workers_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct upstream *u = w->data;
	(void)loop;
	(void)revents;
	for (int i = 0; i < u->ndue; i++) {
		u->due[i]->wake_due = 0;
		ev_async_send(u->due[i]->loop, u->due[i]->wake);
	}
	u->ndue = 0;
}

struct upstream_reply *
upstream_mailbox_take(struct upstream_mailbox *mb)
{
	pthread_mutex_lock(&mb->mu);
	struct upstream_reply *r = mb->head;
	mb->head = mb->tail = NULL;
	pthread_mutex_unlock(&mb->mu);
	return r;
}

/* Appends TXT rdata (length-prefixed character-strings) to raw->txt:
 * the strings of one record joined as they are, records with a space.
 * A control character (a NUL, or a CR LF that would end an SMTP reply
 * quoting the text) becomes '?'. */
static void
add_txt(struct upstream_raw *raw, const uint8_t *d, size_t len)
{
	size_t off = 0;
	while (off < len) {
		size_t l = d[off++];
		if (off + l > len)
			break;
		size_t room = sizeof(raw->txt) - 1 - raw->txtlen;
		if (raw->txtlen > 0 && room > 0 && off == 1) {
			raw->txt[raw->txtlen++] = ' ';
			room--;
		}
		size_t k = l < room ? l : room;
		for (size_t j = 0; j < k; j++) {
			uint8_t c = d[off + j];
			raw->txt[raw->txtlen++] = c < 0x20 || c == 0x7f ?
			    '?' : (char)c;
		}
		off += l;
	}
	raw->txt[raw->txtlen] = '\0';
}

/* r says "no answer": SERVFAIL, nothing else. */
static void
raw_fail(struct upstream_raw *r)
{
	upstream_raw_clear(r);
	r->status = UPS_FAIL;
	r->rcode = DNS_R_SERVFAIL;
}

void
upstream_parse_answer(int rcode, int bogus, const uint8_t *pkt, size_t len,
    uint16_t qtype, struct upstream_raw *raw)
{
	raw_fail(raw);
	if (rcode == DNS_R_NXDOMAIN) {
		raw->rcode = rcode;
		raw->status = UPS_NXDOMAIN;
		return;
	}
	if (rcode != 0) {
		raw->rcode = rcode;
		return;
	}
	/* a validator's "bogus" is a failure: the list's answer cannot be
	 * trusted, and failures fail open */
	if (bogus || !pkt || len < 12)
		return;
	int prcode = pkt[3] & 0x0f;
	unsigned qd = dns_get16(pkt + 4), an = dns_get16(pkt + 6), ns = dns_get16(pkt + 8);
	size_t off = 12;
	for (unsigned i = 0; i < qd; i++) {
		if (!(off = dns_skip_name(pkt, len, off)) || off + 4 > len)
			return;
		off += 4;
	}
	raw->rcode = prcode;
	if (prcode != DNS_R_NOERROR && prcode != DNS_R_NXDOMAIN)
		return;
	int have = 0, soa = 0;
	uint32_t ttl = UINT32_MAX, chainttl = UINT32_MAX, negttl = 0;
	for (unsigned i = 0; i < an + ns; i++) {
		/* a record cut short: the packet is not what it claims,
		 * nothing of it is used */
		if (!(off = dns_skip_name(pkt, len, off)) || off + 10 > len)
			goto cut;
		uint16_t type = dns_get16(pkt + off), rdlen = dns_get16(pkt + off + 8);
		uint32_t rttl = dns_get32(pkt + off + 4);
		const uint8_t *d = pkt + off + 10;
		if (off + 10 + rdlen > len)
			goto cut;
		off += 10 + (size_t)rdlen;
		if (i >= an) {
			/* RFC 2308: a negative answer lives as long as the
			 * SOA's TTL or its MINIMUM, whichever is shorter */
			size_t m = 0;
			if (type == DNS_T_SOA && !soa &&
			    (m = dns_skip_name(pkt, len, (size_t)(d - pkt))) &&
			    (m = dns_skip_name(pkt, len, m)) &&
			    m + 20 <= (size_t)(d - pkt) + rdlen) {
				uint32_t min = dns_get32(pkt + m + 16);
				negttl = rttl < min ? rttl : min;
				soa = 1;
			}
			continue;
		}
		/* the chain's TTLs bound the answer's, as libunbound's own
		 * result TTL (the smallest of the reply) does */
		if (rttl < chainttl)
			chainttl = rttl;
		if (type != qtype)
			continue;	/* a CNAME on the way, or stray */
		if (qtype == DNS_T_A) {
			if (rdlen != 4 || raw->na >= UPSTREAM_MAX_A)
				continue;
			raw->a[raw->na++] = dns_get32(d);
		} else if (qtype == DNS_T_TXT)
			add_txt(raw, d, rdlen);
		else
			continue;
		have = 1;
		if (rttl < ttl)
			ttl = rttl;
	}
	if (prcode == DNS_R_NXDOMAIN) {
		/* records of the type beside NXDOMAIN contradict it: the
		 * rcode wins, as it does for libunbound's own result */
		raw->status = UPS_NXDOMAIN;
		raw->ttl = negttl;
		raw->na = 0;
		raw->txtlen = 0;
		raw->txt[0] = '\0';
	} else if (!have) {
		raw->status = UPS_NODATA;
		raw->ttl = negttl;
	} else {
		raw->status = UPS_ANSWER;
		raw->ttl = ttl < chainttl ? ttl : chainttl;
	}
	return;
cut:
	raw_fail(raw);
}

static void
unlink_lookup(struct upstream *u, struct lookup *l)
{
	struct lookup **pp = &u->table[l->bucket];
	while (*pp && *pp != l)
		pp = &(*pp)->next;
	if (*pp)
		*pp = l->next;
}

/* ---- the cache's TTLs and the Redis values ---- */

void
upstream_set_ttls(struct upstream *u, const struct config *cfg)
{
	atomic_store(&u->min_ttl, cfg->cache.min_ttl);
	atomic_store(&u->max_ttl, cfg->cache.max_ttl);
	atomic_store(&u->negative_ttl, cfg->cache.negative_ttl);
}

/* How long r may be cached: upstream's TTL within min-ttl..max-ttl; a
 * negative answer its SOA-derived TTL capped by negative-ttl; 0 for
 * failures. */
static uint32_t
cache_ttl(struct upstream *u, const struct upstream_raw *r)
{
	uint32_t t = r->ttl;
	uint32_t lo = (uint32_t)atomic_load(&u->min_ttl);
	uint32_t hi = (uint32_t)atomic_load(&u->max_ttl);
	uint32_t neg = (uint32_t)atomic_load(&u->negative_ttl);
	switch (r->status) {
	case UPS_ANSWER:
		return t < lo ? lo : t > hi ? hi : t;
	case UPS_NXDOMAIN:
	case UPS_NODATA:
		if (t == 0)
			t = lo;
		return t > neg ? neg : t;
	default:
		return 0;
	}
}

static size_t
redis_key(const struct upstream *u, const char *source, uint16_t qtype,
    const struct ipaddr *ip, char *out, size_t size)
{
	char text[64];
	addr_ntop(ip, text, sizeof(text));
	int n = snprintf(out, size, "%sv1:%s%s:%s", u->rprefix, source,
	    qtype == DNS_T_TXT ? "/txt" : "", text);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static size_t
redis_encode(const struct upstream_raw *r, uint32_t ttl, char *out,
    size_t size)
{
	int n = snprintf(out, size, "%lld %u ",
	    (long long)(clock_wall() + ttl), ttl);
	size_t len = (size_t)n;
	switch (r->status) {
	case UPS_NXDOMAIN:
		len += (size_t)snprintf(out + len, size - len, "N");
		break;
	case UPS_NODATA:
		len += (size_t)snprintf(out + len, size - len, "D");
		break;
	default:
		if (r->txtlen) {
			len += (size_t)snprintf(out + len, size - len, "T %s", r->txt);
			break;
		}
		len += (size_t)snprintf(out + len, size - len, "A");
		for (int i = 0; i < r->na; i++) {
			uint32_t a = r->a[i];
			len += (size_t)snprintf(out + len, size - len, " %u.%u.%u.%u",
			    a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
		}
	}
	return len < size ? len : 0;
}

/* Reads one or more decimal digits (no sign, no blank) up to max;
 * returns the end, or NULL. */
static char *
strict_num(char *p, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;
	char *q = p;
	for (; *q >= '0' && *q <= '9'; q++) {
		v = v * 10 + (unsigned long long)(*q - '0');
		if (v > max)
			return NULL;
	}
	*out = v;
	return q > p ? q : NULL;
}

/* Parses a value read back; returns the seconds it has left (0: expired
 * or not a value this version wrote), *life its whole TTL. */
uint32_t
upstream_redis_decode(const char *val, size_t len, int64_t now,
    struct upstream_raw *r, uint32_t *life)
{
	char buf[512];
	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, val, len);
	buf[len] = '\0';
	upstream_raw_clear(r);
	/* anything may have written there: digits only, single spaces,
	 * dotted quads that inet_pton takes */
	unsigned long long exp, ttl;
	char *p = buf, *tok;
	if (!(p = strict_num(p, 999999999999ULL, &exp)) || *p++ != ' ' ||
	    !(p = strict_num(p, 0xffffffffULL, &ttl)) || *p++ != ' ' ||
	    (long long)exp <= now || ttl == 0 ||
	    (long long)exp - now > (long long)ttl)
		return 0;
	if (strcmp(p, "N") == 0)
		r->status = UPS_NXDOMAIN;
	else if (strcmp(p, "D") == 0)
		r->status = UPS_NODATA;
	else if (strncmp(p, "T ", 2) == 0) {
		r->status = UPS_ANSWER;
		r->txtlen = strlen(p + 2);
		if (r->txtlen >= sizeof(r->txt))
			return 0;
		memcpy(r->txt, p + 2, r->txtlen + 1);
	} else if (strncmp(p, "A ", 2) == 0) {
		r->status = UPS_ANSWER;
		for (p += 2; (tok = strsep(&p, " ")) != NULL; ) {
			struct in_addr in;
			if (r->na == UPSTREAM_MAX_A || inet_pton(AF_INET, tok, &in) != 1)
				return 0;
			r->a[r->na++] = ntohl(in.s_addr);
		}
	} else
		return 0;
	*life = (uint32_t)ttl;
	r->ttl = (uint32_t)((long long)exp - now);
	return r->ttl;
}

/* ---- lookups ---- */

/* Answers that say "you may not use this list" (Spamhaus 127.255.255.x,
 * anything outside 127.0.0.0/8) are not cached here nor shared: a fixed
 * setup (query-zone, resolver) must see the list's real answer at once,
 * and one host's refusal must not reach the others through Redis. */
static int
refusal(const struct upstream_raw *r)
{
	for (int i = 0; r->status == UPS_ANSWER && i < r->na; i++)
		if ((r->a[i] >> 24) != 127 || (r->a[i] >> 8) == 0x7fffff)
			return 1;
	return 0;
}

static void
lookup_free(struct lookup *l)
{
	free(l->wait);
	free(l);
}

/* The result is in: cache it (in process, and in Redis when it came
 * from upstream), answer every waiter, free the lookup. */
static void
finish(struct upstream *u, struct lookup *l, struct upstream_raw *raw,
    int from_redis)
{
	unlink_lookup(u, l);
	if (l->cached && raw->status != UPS_FAIL && !refusal(raw)) {
		uint32_t ttl = cache_ttl(u, raw);
		if (from_redis && raw->ttl < ttl)
			ttl = raw->ttl;	/* what is left, within our limits */
		if (ttl) {
			if (u->cache)
				cache_put_result(u->cache, &l->key, clock_sec(), raw, ttl);
			if (u->rc && !from_redis) {
				char val[512];
				size_t n = redis_encode(raw, ttl, val, sizeof(val));
				if (n)
					rcache_set(u->rc, l->rkey, l->rkeylen, val, n,
					    (uint64_t)ttl * 1000);
			}
			raw->ttl = ttl;
		}
	}
	for (int i = 0; i < l->nwait; i++)
		deliver(u, l->wait[i].mb, l->wait[i].cookie, l->wait[i].gen,
		    l->qtype, raw);
	lookup_free(l);
}

static void
resolve_cb(void *arg, int rcode, void *pkt, int len, int sec,
    char *why_bogus, int ratelimited)
{
	struct lookup *l = arg;
	struct upstream_raw raw;
	(void)why_bogus;
	(void)ratelimited;
	if (l->u->stopping)
		return;		/* ub_ctx_delete() failing what is in flight;
				 * upstream_free() frees the lookup */
	upstream_parse_answer(rcode, sec == 1, pkt, len > 0 ? (size_t)len : 0,
	    l->qtype, &raw);
	finish(l->u, l, &raw, 0);
}

static int
add_waiter(struct lookup *l, const struct request *rq)
{
	if (l->nwait == l->capwait) {
		int nc = l->capwait ? l->capwait * 2 : 4;
		struct waiter *nw = realloc(l->wait, (size_t)nc * sizeof(*nw));
		if (!nw)
			return -1;
		l->wait = nw;
		l->capwait = nc;
	}
	l->wait[l->nwait].mb = rq->mb;
	l->wait[l->nwait].cookie = rq->cookie;
	l->wait[l->nwait].gen = rq->gen;
	l->nwait++;
	return 0;
}

static void
start_ub(struct upstream *u, struct lookup *l)
{
	/* counted first: an answer from local data comes before the call
	 * returns, and finish() frees l */
	atomic_fetch_add(&u->sent, 1);
	atomic_fetch_add_explicit(&u->sent_by[l->stats_id], 1,
	    memory_order_relaxed);
	int id, r = ub_resolve_event(u->ctx, l->qname, l->qtype, DNS_C_IN, l,
	    resolve_cb, &id);
	if (r != 0) {
		struct upstream_raw fail;
		log_warnx("upstream %s: %s", l->qname, ub_strerror(r));
		raw_fail(&fail);
		finish(u, l, &fail, 0);
	}
}

static void
redis_cb(void *arg, int result, const char *val, size_t len)
{
	struct lookup *l = arg;
	struct upstream *u = l->u;
	struct upstream_raw raw;
	uint32_t life = 0;
	if (u->stopping)
		return;		/* upstream_free() frees the lookup */
	if (result == RC_HIT &&
	    upstream_redis_decode(val, len, clock_wall(), &raw, &life) &&
	    /* a refresh wants more than what is about to expire */
	    !(l->prefetch && (uint64_t)raw.ttl * 10 <= life)) {
		atomic_fetch_add(&u->redis_answered, 1);
		finish(u, l, &raw, 1);
		return;
	}
	start_ub(u, l);
}

static void
start_request(struct upstream *u, struct request *rq)
{
	if (rq->qtype == 0) {
		/* a Redis key to delete */
		if (u->rc)
			rcache_del(u->rc, rq->source, strlen(rq->source));
		return;
	}
	unsigned b = hash_name(rq->qname, rq->qtype);
	for (struct lookup *l = u->table[b]; l; l = l->next)
		if (l->qtype == rq->qtype && strcasecmp(l->qname, rq->qname) == 0) {
			if (add_waiter(l, rq) == 0)
				atomic_fetch_add(&u->coalesced, 1);
			return;
		}
	if (rq->cached && !rq->prefetch && u->cache) {
		/* answered while the request was queued; a stale loan or
		 * an entry due for refresh goes on to Redis and upstream */
		struct upstream_raw raw;
		if (cache_get_result(u->cache, &rq->key, clock_sec(), &raw) ==
		    CACHE_FRESH) {
			deliver(u, rq->mb, rq->cookie, rq->gen, rq->qtype, &raw);
			return;
		}
	}
	struct lookup *l = calloc(1, sizeof(*l));
	if (!l || add_waiter(l, rq) < 0) {
		free(l);
		return;
	}
	l->u = u;
	l->qtype = rq->qtype;
	l->bucket = b;
	l->cached = rq->cached;
	l->prefetch = rq->prefetch;
	l->stats_id = rq->stats_id;
	l->key = rq->key;
	memcpy(l->qname, rq->qname, sizeof(l->qname));
	l->next = u->table[b];
	u->table[b] = l;
	if (l->cached && u->rc)
		l->rkeylen = redis_key(u, rq->source, rq->qtype, &rq->key.ip,
		    l->rkey, sizeof(l->rkey));
	if (l->rkeylen && rcache_get(u->rc, l->rkey, l->rkeylen, redis_cb, l) == 0)
		return;
	start_ub(u, l);
}

static void
wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct upstream *u = a->data;
	(void)loop;
	(void)revents;
	pthread_mutex_lock(&u->qmu);
	struct request *rq = u->qhead;
	u->qhead = u->qtail = NULL;
	pthread_mutex_unlock(&u->qmu);
	while (rq) {
		struct request *next = rq->next;
		start_request(u, rq);
		free(rq);
		rq = next;
	}
}

static void
stop_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	(void)a;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void *
upstream_main(void *arg)
{
	struct upstream *u = arg;
	ev_run(u->loop, 0);
	return NULL;
}

void
upstream_start(struct upstream *u, const struct config *cfg)
{
	if (cfg->redis.enabled) {
		if (!(u->rprefix = strdup(cfg->redis.prefix)) ||
		    !(u->rc = rcache_new(cfg, u->loop)))
			fatal("%s", __func__);
	}
	ev_async_init(&u->wake, wake_cb);
	u->wake.data = u;
	ev_async_start(u->loop, &u->wake);
	ev_async_init(&u->stop, stop_cb);
	ev_async_start(u->loop, &u->stop);
	ev_prepare_init(&u->wake_workers, wake_workers_cb);
	u->wake_workers.data = u;
	ev_prepare_start(u->loop, &u->wake_workers);
	if (pthread_create(&u->thread, NULL, upstream_main, u) != 0)
		fatalx("%s: cannot start the upstream thread", __func__);
	u->started = 1;
}

static int
enqueue(struct upstream *u, struct request *rq)
{
	pthread_mutex_lock(&u->qmu);
	if (u->qtail)
		u->qtail->next = rq;
	else
		u->qhead = rq;
	u->qtail = rq;
	pthread_mutex_unlock(&u->qmu);
	ev_async_send(u->loop, &u->wake);
	return 0;
}

int
upstream_request(struct upstream *u, const struct upstream_ask *a,
    struct upstream_mailbox *mb, void *cookie, uint32_t gen)
{
	struct request *rq = calloc(1, sizeof(*rq));
	if (!rq)
		return -1;
	rq->qtype = a->qtype;
	rq->mb = mb;
	rq->cookie = cookie;
	rq->gen = gen;
	rq->prefetch = a->prefetch;
	rq->stats_id = a->stats_id >= 0 && a->stats_id < QUERY_STATS_UPSTREAMS ?
	    a->stats_id : 0;
	if (a->key && a->source) {
		rq->cached = 1;
		rq->key = *a->key;
		snprintf(rq->source, sizeof(rq->source), "%s", a->source);
	}
	snprintf(rq->qname, sizeof(rq->qname), "%s", a->qname);
	return enqueue(u, rq);
}

void
upstream_redis_forget(struct upstream *u, const struct ipaddr *ip,
    char *const *sources, int nsources)
{
	if (!u->rprefix)
		return;
	for (int i = 0; i < nsources; i++)
		for (int t = 0; t < 2; t++) {
			struct request *rq = calloc(1, sizeof(*rq));
			if (!rq)
				return;
			if (!redis_key(u, sources[i], t ? DNS_T_TXT : DNS_T_A, ip,
			    rq->source, sizeof(rq->source))) {
				free(rq);
				continue;
			}
			enqueue(u, rq);
		}
}

int
upstream_redis_stats(struct upstream *u, struct rcache_stats *out,
    uint64_t *answered)
{
	*answered = atomic_load(&u->redis_answered);
	if (!u->rc) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	rcache_stats(u->rc, out);
	return 1;
}

void
upstream_sent_by(struct upstream *u, uint64_t *out, int n)
{
	for (int i = 0; i < n && i < QUERY_STATS_UPSTREAMS; i++)
		out[i] = atomic_load_explicit(&u->sent_by[i], memory_order_relaxed);
}

void
upstream_counters(struct upstream *u, uint64_t *sent, uint64_t *coalesced)
{
	*sent = atomic_load(&u->sent);
	*coalesced = atomic_load(&u->coalesced);
}

void
upstream_stop(struct upstream *u)
{
	if (u && u->started && !u->stopped) {
		ev_async_send(u->loop, &u->stop);
		pthread_join(u->thread, NULL);
		u->stopped = 1;
	}
}

void
upstream_free(struct upstream *u)
{
	if (!u)
		return;
	upstream_stop(u);
	/* Redis callbacks still due come now and must not start lookups */
	u->stopping = 1;
	if (u->rc)
		rcache_free(u->rc);
	free(u->rprefix);
	/* deleting the context cancels what is in flight; its events go
	 * back to the loop, so the loop goes last */
	ub_ctx_delete(u->ctx);
	ubev_base_free(u->ub_base);
	for (int b = 0; b < LOOKUP_BUCKETS; b++)
		while (u->table[b]) {
			struct lookup *l = u->table[b];
			u->table[b] = l->next;
			lookup_free(l);
		}
	while (u->qhead) {
		struct request *n = u->qhead->next;
		free(u->qhead);
		u->qhead = n;
	}
	if (u->loop)
		ev_loop_destroy(u->loop);
	pthread_mutex_destroy(&u->qmu);
	free(u);
}
