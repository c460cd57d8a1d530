/* upstream.c -- the upstream thread: libunbound, coalescing, replies.
 *
 * Invariants: only the upstream thread touches ctx and the lookup table;
 * the request queue is guarded by qmu; a mailbox by its own mu.  A lookup
 * lives from the first request for its (name, type) until libunbound's
 * callback, which replies to every waiter and frees it.
 */
#include "upstream.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unbound.h>

#include "dns.h"
#include "log.h"

#define LOOKUP_BUCKETS	4096
#define UPSTREAM_PORTS	"4096"
#define UPSTREAM_QUERIES	"4096"

struct request {
	struct request *next;
	uint16_t qtype;
	struct upstream_mailbox *mb;
	void *cookie;
	uint32_t gen;
	char qname[DNS_MAXNAME + 2];
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
	char qname[DNS_MAXNAME + 2];
};

struct upstream {
	struct ub_ctx *ctx;
	pthread_t thread;
	struct ev_loop *loop;
	ev_io ub_io;
	ev_async wake, stop;
	pthread_mutex_t qmu;
	struct request *qhead, *qtail;
	struct lookup *table[LOOKUP_BUCKETS];
	_Atomic uint64_t sent, coalesced;
	int stopped;
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
upstream_new(const struct config *cfg)
{
	struct upstream *u = calloc(1, sizeof(*u));
	int r;
	if (!u)
		fatal("%s", __func__);
	if (!(u->ctx = ub_ctx_create()))
		fatalx("%s: ub_ctx_create failed", __func__);
	/* libunbound resolves in its own thread; results reach us on ub_fd */
	if ((r = ub_ctx_async(u->ctx, 1)) != 0)
		goto fail;
	/* libunbound's library defaults allow 16 queries in flight; a DNSBL
	 * front end has hundreds (an unbound-config file may still lower
	 * these).  main raises RLIMIT_NOFILE to match. */
	if ((r = ub_ctx_set_option(u->ctx, "outgoing-range:", UPSTREAM_PORTS)) != 0 ||
	    (r = ub_ctx_set_option(u->ctx, "num-queries-per-thread:",
	    UPSTREAM_QUERIES)) != 0)
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
	free(u);
	return NULL;
}

static void
deliver(struct upstream_mailbox *mb, void *cookie, uint32_t gen,
    uint16_t qtype, const struct upstream_raw *raw)
{
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
	ev_async_send(mb->loop, mb->wake);
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

static void
parse_result(const struct ub_result *res, int err, struct upstream_raw *raw)
{
	memset(raw, 0, offsetof(struct upstream_raw, txt));
	raw->txt[0] = '\0';
	raw->txtlen = 0;
	if (err != 0 || !res) {
		raw->status = UPS_FAIL;
		raw->rcode = DNS_R_SERVFAIL;
		return;
	}
	raw->rcode = res->rcode;
	raw->ttl = res->ttl > 0 ? (uint32_t)res->ttl : 0;
	if (res->nxdomain) {
		raw->status = UPS_NXDOMAIN;
		return;
	}
	if (res->rcode != DNS_R_NOERROR) {
		raw->status = UPS_FAIL;
		return;
	}
	if (!res->havedata) {
		raw->status = UPS_NODATA;
		return;
	}
	raw->status = UPS_ANSWER;
	for (int i = 0; res->data[i]; i++) {
		const uint8_t *d = (const uint8_t *)res->data[i];
		int len = res->len[i];
		if (res->qtype == DNS_T_A && len == 4 && raw->na < UPSTREAM_MAX_A) {
			raw->a[raw->na++] = (uint32_t)d[0] << 24 |
			    (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
		} else if (res->qtype == DNS_T_TXT) {
			/* character-strings: length-prefixed pieces */
			int off = 0;
			while (off < len) {
				int l = d[off++];
				if (off + l > len)
					break;
				size_t room = sizeof(raw->txt) - 1 - raw->txtlen;
				if (raw->txtlen > 0 && room > 0 && off == 1) {
					raw->txt[raw->txtlen++] = ' ';
					room--;
				}
				size_t k = (size_t)l < room ? (size_t)l : room;
				memcpy(raw->txt + raw->txtlen, d + off, k);
				raw->txtlen += k;
				off += l;
			}
			raw->txt[raw->txtlen] = '\0';
		}
	}
	if (res->qtype == DNS_T_A && raw->na == 0)
		raw->status = UPS_NODATA;
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

static void
resolve_cb(void *arg, int err, struct ub_result *res)
{
	struct lookup *l = arg;
	struct upstream_raw raw;
	parse_result(res, err, &raw);
	if (res)
		ub_resolve_free(res);
	unlink_lookup(l->u, l);
	for (int i = 0; i < l->nwait; i++)
		deliver(l->wait[i].mb, l->wait[i].cookie, l->wait[i].gen, l->qtype,
		    &raw);
	free(l->wait);
	free(l);
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
start_request(struct upstream *u, struct request *rq)
{
	struct upstream_raw fail;
	unsigned b = hash_name(rq->qname, rq->qtype);
	for (struct lookup *l = u->table[b]; l; l = l->next)
		if (l->qtype == rq->qtype && strcasecmp(l->qname, rq->qname) == 0) {
			if (add_waiter(l, rq) == 0)
				atomic_fetch_add(&u->coalesced, 1);
			return;
		}
	struct lookup *l = calloc(1, sizeof(*l));
	if (!l || add_waiter(l, rq) < 0) {
		free(l);
		return;
	}
	l->u = u;
	l->qtype = rq->qtype;
	l->bucket = b;
	memcpy(l->qname, rq->qname, sizeof(l->qname));
	l->next = u->table[b];
	u->table[b] = l;
	int id, r = ub_resolve_async(u->ctx, l->qname, l->qtype, DNS_C_IN, l,
	    resolve_cb, &id);
	if (r != 0) {
		log_warnx("upstream %s: %s", l->qname, ub_strerror(r));
		memset(&fail, 0, sizeof(fail));
		fail.status = UPS_FAIL;
		fail.rcode = DNS_R_SERVFAIL;
		unlink_lookup(u, l);
		for (int i = 0; i < l->nwait; i++)
			deliver(l->wait[i].mb, l->wait[i].cookie, l->wait[i].gen,
			    l->qtype, &fail);
		free(l->wait);
		free(l);
		return;
	}
	atomic_fetch_add(&u->sent, 1);
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
ub_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct upstream *u = io->data;
	(void)loop;
	(void)revents;
	int r = ub_process(u->ctx);
	if (r != 0)
		log_warnx("upstream: ub_process: %s", ub_strerror(r));
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
upstream_start(struct upstream *u)
{
	u->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!u->loop)
		fatalx("%s: ev_loop_new failed", __func__);
	ev_io_init(&u->ub_io, ub_cb, ub_fd(u->ctx), EV_READ);
	u->ub_io.data = u;
	ev_io_start(u->loop, &u->ub_io);
	ev_async_init(&u->wake, wake_cb);
	u->wake.data = u;
	ev_async_start(u->loop, &u->wake);
	ev_async_init(&u->stop, stop_cb);
	ev_async_start(u->loop, &u->stop);
	if (pthread_create(&u->thread, NULL, upstream_main, u) != 0)
		fatalx("%s: cannot start the upstream thread", __func__);
}

int
upstream_request(struct upstream *u, const char *qname, uint16_t qtype,
    struct upstream_mailbox *mb, void *cookie, uint32_t gen)
{
	struct request *rq = malloc(sizeof(*rq));
	if (!rq)
		return -1;
	rq->next = NULL;
	rq->qtype = qtype;
	rq->mb = mb;
	rq->cookie = cookie;
	rq->gen = gen;
	strncpy(rq->qname, qname, sizeof(rq->qname) - 1);
	rq->qname[sizeof(rq->qname) - 1] = '\0';
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

void
upstream_counters(struct upstream *u, uint64_t *sent, uint64_t *coalesced)
{
	*sent = atomic_load(&u->sent);
	*coalesced = atomic_load(&u->coalesced);
}

void
upstream_stop(struct upstream *u)
{
	if (u && u->loop && !u->stopped) {
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
	/* deleting the context cancels what is in flight */
	ub_ctx_delete(u->ctx);
	for (int b = 0; b < LOOKUP_BUCKETS; b++)
		while (u->table[b]) {
			struct lookup *l = u->table[b];
			u->table[b] = l->next;
			free(l->wait);
			free(l);
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
