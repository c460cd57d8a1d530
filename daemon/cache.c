/* cache.c -- sharded, memory-bounded LRU cache of results and verdicts.
 *
 * Each shard keeps its entries in one array addressed by 32-bit indices
 * (so growing it with realloc keeps every link valid): a hash index of
 * chains through hnext, a doubly linked LRU list (head = most recently
 * used) and a free list through hnext.  The array doubles until the
 * shard's share of the memory bound is reached; after that an insert
 * takes the LRU tail.  Everything a shard owns is guarded by its mutex.
 *
 * Verdicts are what every worker reads for the same hot addresses, so a
 * verdict found in a shard is also kept in a small direct-mapped front
 * owned by the reading thread: a hot verdict is then answered without
 * the shard's lock, and workers on different cores write nothing shared.
 * A front entry is exactly as valid as the shard's: same key (generation
 * included), same expiry, and the cache's epoch, which every flush bumps
 * after emptying the shards.  About once a second a front hit still
 * touches the shard entry, so the LRU keeps hot verdicts.  Fronts are
 * owned by the cache (freed with it) and handed to threads on first use;
 * a thread finds its own through a thread-local pointer checked against
 * the cache's serial number.
 */
#include "cache.h"

#include <pthread.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "log.h"

#define NIL		UINT32_MAX
#define MIN_CAP		16
#define EXT_OVERHEAD	16	/* what malloc adds to a small block */
#define TRIM_SCAN	256	/* entries without a block trim() looks past */
#define FRONT_SLOTS	4096	/* per thread; power of two */
#define FRONT_MAX	256	/* threads with a front, per cache */
#define F_PREFETCHED	1
#define F_STALE		2	/* serving stale: ttl holds when it really ended */

struct centry {
	uint32_t hnext;		/* hash chain, or free list */
	uint32_t prev, next;	/* LRU */
	uint32_t expires;	/* clock_sec() at which it ends */
	uint32_t ttl;		/* lifetime as stored (prefetch threshold) */
	uint32_t gen;
	uint8_t ip[16];
	uint8_t kind, id, family;
	/* bit-fields keep the entry at 56 bytes (60 with its bucket) */
	uint8_t status : 2;	/* verdicts: listed */
	uint8_t na : 4;
	uint8_t flags : 2;
	uint32_t a0;		/* first A code, or the verdict's answer */
	uint8_t *ext;		/* na-1 more codes, then txtlen and the TXT */
};

_Static_assert(UPSTREAM_MAX_A < 16 && UPS_NODATA < 4,
    "na and status no longer fit their bit-fields");

struct shard {
	_Alignas(64) pthread_mutex_t mu;	/* no two shards on one line */
	struct centry *e;
	uint32_t cap, used, free;	/* used: slots ever handed out */
	uint32_t *bucket;
	uint32_t nbucket;		/* power of two */
	uint32_t head, tail;
	uint64_t count, ext_bytes, budget;
	uint64_t hits, misses, vhits, vmisses, stale, prefetch, evictions,
	    inserts;
};

struct fentry {
	uint8_t ip[16];
	uint32_t gen, expires, a, epoch;
	uint32_t touched;	/* second the shard entry was last touched */
	uint8_t id, family, listed, used;
};

struct front {
	_Atomic uint64_t hits;	/* written by its thread only */
	struct fentry e[FRONT_SLOTS];
};

struct cache {
	struct shard shard[CACHE_SHARDS];
	pthread_mutex_t names_mu;
	char *names[255];
	int nnames;
	uint64_t serial;	/* unique per cache_new(): fronts' owner */
	_Alignas(64) _Atomic uint32_t epoch;	/* bumped by every flush */
	_Atomic int nfront;
	struct front *_Atomic front[FRONT_MAX];
};

/* The calling thread's front for one cache (at most one at a time). */
static _Thread_local struct { uint64_t serial; struct front *f; } tl_front;
static _Atomic uint64_t cache_serials;

size_t
cache_entry_bytes(void)
{
	return sizeof(struct centry) + sizeof(uint32_t);
}

static uint64_t
hash_ip(const struct ipaddr *ip)
{
	uint64_t a, b;
	memcpy(&a, ip->a, 8);
	memcpy(&b, ip->a + 8, 8);
	return hash_mix(a ^ hash_mix(b ^ (uint64_t)ip->family));
}

static uint64_t
hash_key(const struct cache_key *k, uint64_t iph)
{
	return hash_mix(iph ^ ((uint64_t)k->kind << 40 | (uint64_t)k->id << 32 |
	    k->gen));
}

static uint64_t
shard_bytes(const struct shard *s)
{
	return (uint64_t)s->cap * sizeof(struct centry) +
	    (uint64_t)s->nbucket * sizeof(uint32_t) + s->ext_bytes;
}

struct cache *
cache_new(uint64_t max_memory)
{
	size_t size = (sizeof(struct cache) + 63) & ~(size_t)63;
	struct cache *c = aligned_alloc(64, size);
	if (!c)
		return NULL;
	memset(c, 0, size);
	c->serial = atomic_fetch_add(&cache_serials, 1) + 1;
	for (int i = 0; i < CACHE_SHARDS; i++) {
		struct shard *s = &c->shard[i];
		pthread_mutex_init(&s->mu, NULL);
		s->head = s->tail = s->free = NIL;
	}
	pthread_mutex_init(&c->names_mu, NULL);
	cache_set_limit(c, max_memory);
	return c;
}

static int trim(struct shard *s, uint32_t keep, uint32_t scan);
static void shard_clear(struct shard *s);

void
cache_set_limit(struct cache *c, uint64_t max_memory)
{
	for (int i = 0; i < CACHE_SHARDS; i++) {
		struct shard *s = &c->shard[i];
		pthread_mutex_lock(&s->mu);
		s->budget = max_memory / CACHE_SHARDS;
		/* the array cannot shrink in place: when the entries' blocks
		 * are not enough, the shard starts anew (empty by then) */
		if (trim(s, NIL, UINT32_MAX) < 0) {
			s->evictions += s->count;
			shard_clear(s);
		}
		pthread_mutex_unlock(&s->mu);
	}
}

static void
shard_clear(struct shard *s)
{
	for (uint32_t i = 0; i < s->used; i++)
		free(s->e[i].ext);
	free(s->e);
	free(s->bucket);
	s->e = NULL;
	s->bucket = NULL;
	s->cap = s->used = s->nbucket = 0;
	s->count = s->ext_bytes = 0;
	s->head = s->tail = s->free = NIL;
}

void
cache_free(struct cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < CACHE_SHARDS; i++) {
		shard_clear(&c->shard[i]);
		pthread_mutex_destroy(&c->shard[i].mu);
	}
	for (int i = 0; i < c->nnames; i++)
		free(c->names[i]);
	for (int i = 0; i < atomic_load(&c->nfront) && i < FRONT_MAX; i++)
		free(atomic_load(&c->front[i]));
	pthread_mutex_destroy(&c->names_mu);
	free(c);
}

int
cache_source_id(struct cache *c, const char *name)
{
	int id = -1;
	pthread_mutex_lock(&c->names_mu);
	for (int i = 0; i < c->nnames && id < 0; i++)
		if (strcmp(c->names[i], name) == 0)
			id = i;
	if (id < 0 && c->nnames < 255 && (c->names[c->nnames] = strdup(name)))
		id = c->nnames++;
	pthread_mutex_unlock(&c->names_mu);
	return id;
}

/* ---- inside a shard (its mutex held) ---- */

static void
lru_unlink(struct shard *s, uint32_t i)
{
	struct centry *e = &s->e[i];
	if (e->prev != NIL)
		s->e[e->prev].next = e->next;
	else
		s->head = e->next;
	if (e->next != NIL)
		s->e[e->next].prev = e->prev;
	else
		s->tail = e->prev;
}

static void
lru_push(struct shard *s, uint32_t i)
{
	struct centry *e = &s->e[i];
	e->prev = NIL;
	e->next = s->head;
	if (s->head != NIL)
		s->e[s->head].prev = i;
	s->head = i;
	if (s->tail == NIL)
		s->tail = i;
}

static void
lru_touch(struct shard *s, uint32_t i)
{
	if (s->head != i) {
		lru_unlink(s, i);
		lru_push(s, i);
	}
}

static size_t
ext_size(const uint8_t *ext)
{
	return ext ? 2 + (size_t)ext[0] * 4 + ext[1 + (size_t)ext[0] * 4] : 0;
}

static int
key_equal(const struct centry *e, const struct cache_key *k)
{
	return e->kind == k->kind && e->id == k->id && e->gen == k->gen &&
	    e->family == k->ip.family && memcmp(e->ip, k->ip.a, 16) == 0;
}

static uint32_t
find(struct shard *s, const struct cache_key *k, uint64_t h)
{
	if (!s->nbucket)
		return NIL;
	for (uint32_t i = s->bucket[h & (s->nbucket - 1)]; i != NIL;
	    i = s->e[i].hnext)
		if (key_equal(&s->e[i], k))
			return i;
	return NIL;
}

static uint64_t
entry_hash(const struct centry *e)
{
	struct cache_key k;
	k.kind = e->kind;
	k.id = e->id;
	k.gen = e->gen;
	k.ip.family = e->family;
	memcpy(k.ip.a, e->ip, 16);
	return hash_key(&k, hash_ip(&k.ip));
}

/* Takes entry i out of the index and the LRU list onto the free list. */
static void
drop(struct shard *s, uint32_t i)
{
	struct centry *e = &s->e[i];
	uint32_t *pp = &s->bucket[entry_hash(e) & (s->nbucket - 1)];
	while (*pp != i)
		pp = &s->e[*pp].hnext;
	*pp = e->hnext;
	lru_unlink(s, i);
	if (e->ext) {
		s->ext_bytes -= ext_size(e->ext) + EXT_OVERHEAD;
		free(e->ext);
		e->ext = NULL;
	}
	e->kind = 0;
	e->hnext = s->free;
	s->free = i;
	s->count--;
}

static int
rehash(struct shard *s, uint32_t nbucket)
{
	uint32_t *nb = malloc((size_t)nbucket * sizeof(*nb));
	if (!nb)
		return -1;
	memset(nb, 0xff, (size_t)nbucket * sizeof(*nb));
	for (uint32_t i = s->head; i != NIL; i = s->e[i].next) {
		uint32_t b = (uint32_t)(entry_hash(&s->e[i]) & (nbucket - 1));
		s->e[i].hnext = nb[b];
		nb[b] = i;
	}
	free(s->bucket);
	s->bucket = nb;
	s->nbucket = nbucket;
	return 0;
}

/* A free slot: from the free list, by growing within the budget, or by
 * evicting the least recently used entry.  NIL when the budget allows
 * not even MIN_CAP entries and memory is short. */
static uint32_t
slot(struct shard *s)
{
	if (s->free == NIL && s->used == s->cap) {
		uint32_t ncap = s->cap ? s->cap * 2 : MIN_CAP;
		uint64_t grow = (uint64_t)(ncap - s->cap) *
		    (sizeof(struct centry) + sizeof(uint32_t));
		if (s->cap == 0 || shard_bytes(s) + grow <= s->budget) {
			struct centry *ne = realloc(s->e, (size_t)ncap * sizeof(*ne));
			if (ne) {
				s->e = ne;
				s->cap = ncap;
				if (rehash(s, ncap) < 0)
					log_warnx("%s: out of memory", __func__);
			}
		}
	}
	if (s->free != NIL) {
		uint32_t i = s->free;
		s->free = s->e[i].hnext;
		return i;
	}
	if (s->used < s->cap)
		return s->used++;
	if (s->tail == NIL)
		return NIL;
	uint32_t i = s->tail;
	drop(s, i);
	s->evictions++;
	s->free = s->e[i].hnext;
	return i;
}

/* Evicts entries that hold a block, least recently used first, until
 * the shard fits its budget again: only their blocks free bytes (the
 * array stays as it is), so evicting the others would empty the shard
 * for nothing.  Looks at most scan entries without a block; never evicts
 * keep.  Returns 0 when the shard fits, -1 when it still does not. */
static int
trim(struct shard *s, uint32_t keep, uint32_t scan)
{
	uint32_t i = s->tail;
	while (shard_bytes(s) > s->budget && i != NIL && scan > 0) {
		uint32_t prev = s->e[i].prev;
		if (i != keep && s->e[i].ext) {
			drop(s, i);
			s->evictions++;
		} else
			scan--;
		i = prev;
	}
	return shard_bytes(s) > s->budget ? -1 : 0;
}

/* Inserts or replaces the entry for k; returns its index, or NIL. */
static uint32_t
put(struct shard *s, const struct cache_key *k, uint64_t h)
{
	uint32_t i = find(s, k, h);
	if (i != NIL) {
		struct centry *e = &s->e[i];
		if (e->ext) {
			s->ext_bytes -= ext_size(e->ext) + EXT_OVERHEAD;
			free(e->ext);
			e->ext = NULL;
		}
		lru_touch(s, i);
		return i;
	}
	if ((i = slot(s)) == NIL)
		return NIL;
	struct centry *e = &s->e[i];
	memset(e, 0, sizeof(*e));
	if (!s->nbucket) {	/* no index (out of memory): slot back */
		e->hnext = s->free;
		s->free = i;
		return NIL;
	}
	e->kind = k->kind;
	e->id = k->id;
	e->gen = k->gen;
	e->family = (uint8_t)k->ip.family;
	memcpy(e->ip, k->ip.a, 16);
	uint32_t b = (uint32_t)(h & (s->nbucket - 1));
	e->hnext = s->bucket[b];
	s->bucket[b] = i;
	lru_push(s, i);
	s->count++;
	s->inserts++;
	return i;
}

static void
fill_result(const struct centry *e, struct upstream_raw *out)
{
	upstream_raw_clear(out);
	out->status = e->status;
	out->na = e->na;
	if (e->na)
		out->a[0] = e->a0;
	if (e->ext) {
		const uint8_t *p = e->ext + 1;
		for (int i = 0; i < e->ext[0] && i + 1 < UPSTREAM_MAX_A; i++, p += 4)
			memcpy(&out->a[i + 1], p, 4);
		out->txtlen = *p;
		memcpy(out->txt, p + 1, out->txtlen);
		out->txt[out->txtlen] = '\0';
	}
}

/* ---- API ---- */

/* The key with the unused bytes of an IPv4 address cleared, its hash
 * and its shard (chosen by the address alone, so that flushing one IP
 * visits one shard). */
static struct shard *
shard_of(struct cache *c, const struct cache_key *in, struct cache_key *k,
    uint64_t *h)
{
	*k = *in;
	if (k->ip.family == AF_INET)
		memset(k->ip.a + 4, 0, 12);
	uint64_t iph = hash_ip(&k->ip);
	*h = hash_key(k, iph);
	return &c->shard[iph >> 58];
}

int
cache_get_result(struct cache *c, const struct cache_key *key, uint32_t now,
    struct upstream_raw *out)
{
	struct cache_key k[1];
	uint64_t h;
	struct shard *s = shard_of(c, key, k, &h);
	int rc = CACHE_MISS;
	pthread_mutex_lock(&s->mu);
	uint32_t i = find(s, k, h);
	if (i != NIL && s->e[i].expires > now) {
		struct centry *e = &s->e[i];
		fill_result(e, out);
		out->ttl = e->expires - now;
		rc = e->flags & F_STALE ? CACHE_STALE : CACHE_FRESH;
		/* the last tenth of its life, at least the last second */
		if (!(e->flags & (F_PREFETCHED | F_STALE)) &&
		    ((uint64_t)out->ttl * 10 <= e->ttl || out->ttl == 1)) {
			e->flags |= F_PREFETCHED;
			s->prefetch++;
			rc = CACHE_PREFETCH;
		}
		lru_touch(s, i);
		s->hits++;
	} else
		s->misses++;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int
cache_get_stale(struct cache *c, const struct cache_key *key, uint32_t now,
    uint32_t max_stale, struct upstream_raw *out)
{
	struct cache_key k[1];
	uint64_t h;
	struct shard *s = shard_of(c, key, k, &h);
	int found = 0;
	pthread_mutex_lock(&s->mu);
	uint32_t i = find(s, k, h);
	struct centry *e = i != NIL ? &s->e[i] : NULL;
	uint32_t end = e && (e->flags & F_STALE) ? e->ttl : e ? e->expires : 0;
	/* a fresh entry is no stale answer: a lookup that timed out may
	 * have been answered into the cache since */
	if (e && (e->flags & F_STALE || e->expires <= now) &&
	    (uint64_t)end + max_stale > now) {
		fill_result(e, out);
		out->ttl = CACHE_STALE_TTL;
		s->stale++;
		found = 1;
		/* RFC 8767 §5: answer stale at once for a while instead of
		 * making every query wait for the failing upstream again */
		if (!(e->flags & F_STALE)) {
			e->ttl = e->expires;
			e->flags = F_STALE;
		}
		uint64_t until = (uint64_t)now + CACHE_STALE_TTL;
		if (until > (uint64_t)end + max_stale)
			until = (uint64_t)end + max_stale;
		if (until > e->expires)
			e->expires = (uint32_t)until;
	}
	pthread_mutex_unlock(&s->mu);
	return found;
}

void
cache_put_result(struct cache *c, const struct cache_key *key, uint32_t now,
    const struct upstream_raw *r, uint32_t ttl)
{
	if (r->status == UPS_FAIL || ttl == 0)
		return;
	int na = r->na < 0 ? 0 : r->na > UPSTREAM_MAX_A ? UPSTREAM_MAX_A : r->na;
	size_t txtlen = r->txtlen > 255 ? 255 : r->txtlen;
	uint8_t *ext = NULL;
	size_t extlen = 0;
	if (na > 1 || txtlen > 0) {
		extlen = 2 + (size_t)(na > 1 ? na - 1 : 0) * 4 + txtlen;
		if (!(ext = malloc(extlen)))
			return;
		ext[0] = (uint8_t)(na > 1 ? na - 1 : 0);
		uint8_t *p = ext + 1;
		for (int j = 1; j < na; j++, p += 4)
			memcpy(p, &r->a[j], 4);
		*p = (uint8_t)txtlen;
		memcpy(p + 1, r->txt, txtlen);
	}
	struct cache_key k[1];
	uint64_t h;
	struct shard *s = shard_of(c, key, k, &h);
	pthread_mutex_lock(&s->mu);
	uint32_t i = put(s, k, h);
	if (i == NIL) {
		pthread_mutex_unlock(&s->mu);
		free(ext);
		return;
	}
	struct centry *e = &s->e[i];
	e->expires = now + ttl;
	e->ttl = ttl;
	e->flags = 0;
	e->status = (uint8_t)r->status;
	e->na = (uint8_t)na;
	e->a0 = na ? r->a[0] : 0;
	e->ext = ext;
	if (ext) {
		s->ext_bytes += extlen + EXT_OVERHEAD;
		/* no older block to give way within a short look: this
		 * entry goes instead, the bound holds */
		if (trim(s, i, TRIM_SCAN) < 0) {
			drop(s, i);
			s->evictions++;
		}
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---- per-thread verdict fronts ---- */

/* The calling thread's front for c, made on its first use (one
 * allocation in a thread's life); NULL when FRONT_MAX threads have one
 * or memory is short: the shards alone then answer. */
static struct front *
front_of(struct cache *c)
{
	if (tl_front.serial == c->serial)
		return tl_front.f;
	struct front *f = NULL;
	int slot = atomic_fetch_add(&c->nfront, 1);
	if (slot < FRONT_MAX && (f = calloc(1, sizeof(*f))))
		atomic_store(&c->front[slot], f);
	tl_front.serial = c->serial;
	tl_front.f = f;
	return f;
}

static struct fentry *
front_find(struct front *f, const struct cache_key *k, uint64_t h,
    uint32_t epoch, uint32_t now)
{
	struct fentry *fe = &f->e[h & (FRONT_SLOTS - 1)];
	if (fe->used && fe->epoch == epoch && fe->expires > now &&
	    fe->gen == k->gen && fe->id == k->id &&
	    fe->family == k->ip.family && memcmp(fe->ip, k->ip.a, 16) == 0)
		return fe;
	return NULL;
}

/* Keeps the shard's entry for k young in its LRU. */
static void
shard_touch(struct shard *s, const struct cache_key *k, uint64_t h)
{
	pthread_mutex_lock(&s->mu);
	uint32_t i = find(s, k, h);
	if (i != NIL)
		lru_touch(s, i);
	pthread_mutex_unlock(&s->mu);
}

int
cache_get_verdict(struct cache *c, const struct cache_key *key, uint32_t now,
    struct cache_verdict *v)
{
	struct cache_key k[1];
	uint64_t h;
	struct shard *s = shard_of(c, key, k, &h);
	struct front *f = front_of(c);
	if (f) {
		struct fentry *fe = front_find(f, k, h,
		    atomic_load_explicit(&c->epoch, memory_order_acquire), now);
		if (fe) {
			v->listed = fe->listed;
			v->a = fe->a;
			v->ttl = fe->expires - now;
			/* one writer: a relaxed load and store, no locked add */
			atomic_store_explicit(&f->hits, atomic_load_explicit(
			    &f->hits, memory_order_relaxed) + 1,
			    memory_order_relaxed);
			if (fe->touched != now) {
				fe->touched = now;
				shard_touch(s, k, h);
			}
			return 1;
		}
	}
	int hit = 0;
	pthread_mutex_lock(&s->mu);
	uint32_t i = find(s, k, h);
	if (i != NIL && s->e[i].expires > now) {
		struct centry *e = &s->e[i];
		v->listed = e->status;
		v->a = e->a0;
		v->ttl = e->expires - now;
		lru_touch(s, i);
		s->vhits++;
		hit = 1;
		if (f) {
			/* the epoch read under the lock: a flush bumps it only
			 * after emptying every shard, so an entry seen here is
			 * either gone later with its epoch, or outlives it */
			struct fentry *fe = &f->e[h & (FRONT_SLOTS - 1)];
			memcpy(fe->ip, k->ip.a, 16);
			fe->family = (uint8_t)k->ip.family;
			fe->id = k->id;
			fe->gen = k->gen;
			fe->expires = e->expires;
			fe->listed = (uint8_t)e->status;
			fe->a = e->a0;
			fe->touched = now;
			fe->epoch = atomic_load_explicit(&c->epoch,
			    memory_order_relaxed);
			fe->used = 1;
		}
	} else
		s->vmisses++;
	pthread_mutex_unlock(&s->mu);
	return hit;
}

void
cache_put_verdict(struct cache *c, const struct cache_key *key, uint32_t now,
    const struct cache_verdict *v, uint32_t ttl)
{
	if (ttl == 0)
		return;
	struct cache_key k[1];
	uint64_t h;
	struct shard *s = shard_of(c, key, k, &h);
	pthread_mutex_lock(&s->mu);
	/* fronts may hold the live entry this replaces: they must forget it
	 * when its verdict differs or it outlives the new one.  The same
	 * verdict stored again (two workers finishing the same lookup) is
	 * no reason to empty every front. */
	uint32_t old = find(s, k, h);
	int replaced = old != NIL && s->e[old].expires > now &&
	    (s->e[old].status != (v->listed ? 1 : 0) || s->e[old].a0 != v->a ||
	    s->e[old].expires > now + ttl);
	uint32_t i = put(s, k, h);
	if (i != NIL) {
		struct centry *e = &s->e[i];
		e->expires = now + ttl;
		e->ttl = ttl;
		e->flags = 0;
		e->status = v->listed ? 1 : 0;
		e->a0 = v->a;
	}
	pthread_mutex_unlock(&s->mu);
	if (replaced)
		atomic_fetch_add_explicit(&c->epoch, 1, memory_order_release);
}

uint64_t
cache_flush(struct cache *c)
{
	uint64_t n = 0;
	for (int i = 0; i < CACHE_SHARDS; i++) {
		struct shard *s = &c->shard[i];
		pthread_mutex_lock(&s->mu);
		n += s->count;
		shard_clear(s);
		pthread_mutex_unlock(&s->mu);
	}
	atomic_fetch_add_explicit(&c->epoch, 1, memory_order_release);
	return n;
}

uint64_t
cache_flush_ip(struct cache *c, const struct ipaddr *addr)
{
	struct cache_key key, k[1];
	uint64_t h;
	memset(&key, 0, sizeof(key));
	key.ip = *addr;
	struct shard *s = shard_of(c, &key, k, &h);
	const struct ipaddr *ip = &k->ip;
	uint64_t n = 0;
	pthread_mutex_lock(&s->mu);
	for (uint32_t i = s->head, next; i != NIL; i = next) {
		next = s->e[i].next;
		if (s->e[i].family == ip->family &&
		    memcmp(s->e[i].ip, ip->a, 16) == 0) {
			drop(s, i);
			n++;
		}
	}
	pthread_mutex_unlock(&s->mu);
	/* every front forgets everything: flushing one address is rare */
	atomic_fetch_add_explicit(&c->epoch, 1, memory_order_release);
	return n;
}

void
cache_stats(struct cache *c, struct cache_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < CACHE_SHARDS; i++) {
		struct shard *s = &c->shard[i];
		pthread_mutex_lock(&s->mu);
		out->hits += s->hits;
		out->misses += s->misses;
		out->verdict_hits += s->vhits;
		out->verdict_misses += s->vmisses;
		out->stale += s->stale;
		out->prefetch += s->prefetch;
		out->evictions += s->evictions;
		out->inserts += s->inserts;
		out->entries += s->count;
		out->bytes += shard_bytes(s);
		out->max_bytes += s->budget;
		pthread_mutex_unlock(&s->mu);
	}
	/* racy reads of counters only ever growing */
	int nf = atomic_load(&c->nfront);
	for (int i = 0; i < nf && i < FRONT_MAX; i++) {
		struct front *f = atomic_load(&c->front[i]);
		if (f)
			out->verdict_hits += atomic_load_explicit(&f->hits,
			    memory_order_relaxed);
	}
}
