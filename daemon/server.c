/* server.c -- worker threads, UDP with recvmmsg/sendmmsg, TCP (RFC 7766).
 *
 * Hot path (UDP): one recvmmsg() of up to SERVER_BATCH queries, each
 * answered by query_answer() into a preallocated buffer, one sendmmsg().
 * No allocation and no lock; the snapshot pointer is announced in the
 * worker's hazard slot for the duration of the batch.
 *
 * Rate limit (UDP only): each worker owns its ratelimit table, made at
 * start and remade by the worker itself at its first batch after a
 * reload that changed the rate-limit section (a reload, not the hot
 * path: the buckets start full again).  Off, it costs one test of a NULL
 * pointer per answer.
 *
 * TCP: one connection struct per client, allocated at accept (not the hot
 * path).  Queries may be pipelined; answers are queued in order.  A
 * connection idle for SERVER_TCP_IDLE_SEC is closed, and so is one whose
 * unread answers exceed SERVER_TCP_MAX_PENDING after the idle time.
 */
#include "server.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "upstream.h"
#include "log.h"
#include "ratelimit.h"
#include "querylog.h"

#define SERVER_BATCH	64
#define SERVER_UDP_IN	4096
/* batch-wait-us: between saturation and idle a wake-up finds one or two
 * queries, and the system calls around them (epoll_wait, recvmmsg,
 * sendmmsg, the sleep and the wake) cost more than the answers.  When
 * queries come fast enough that a wait of that long should gather
 * SERVER_WAIT_GATHER of them (by the worker's running estimate of its
 * UDP rate), it sleeps that long after a partial batch before reading
 * again, so that each round carries several: interrupt coalescing, in the
 * server.  Slower, a wait would find one query or none and only add
 * system calls.  A query waits at most that long plus the kernel's timer
 * latency (tens of microseconds on a VM). */
#define SERVER_WAIT_GATHER	2.0	/* queries a wait should find */
#define SERVER_RATE_WINDOW	0.01	/* seconds the rate is counted over */
#define SERVER_WAIT_ROUNDS	4	/* coalesced rounds a wake-up, at most */

struct worker;

struct tcpconn {
	struct worker *w;
	int fd;
	int npending;		/* queries waiting for upstream */
	int dead;		/* closed; freed when npending drops to 0 */
	ev_io rio, wio;
	ev_timer idle;
	struct ipaddr client;
	uint8_t in[2 + 65535];
	size_t inlen;
	uint8_t *out;		/* queued answers, each with its length prefix */
	size_t outlen, outoff, outcap;
	struct tcpconn *next, *prev;
};

/* A query waiting for upstream lookups.  Kept in per-worker slabs that
 * live as long as the worker, so a late reply's cookie always points to
 * valid memory; gen tells a reused slot from the one the reply was for. */
struct pending {
	struct worker *w;
	struct pending *next_free;
	uint32_t gen;
	int in_use;
	struct snapshot *snap;	/* holds snap->pending */
	int fd;			/* UDP: the socket to answer on */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct tcpconn *conn;	/* TCP: the connection to answer on */
	struct ipaddr client;
	uint8_t pkt[QUERY_UDP_MAX];
	size_t len;
	int remaining;
	uint64_t received;	/* mono_ns() when read: the answer's latency */
	ev_tstamp started;
	ev_timer timer;
	struct query_upstream up;
};

#define PENDING_SLAB	64

struct worker {
	struct server *srv;
	struct upstream_mailbox mb;
	ev_async mbwake;
	struct pending *free_pending;
	int npending, npending_alloc;
	struct pending **slabs;
	int nslabs;
	struct query_upstream scratch;
	int id;
	pthread_t thread;
	struct ev_loop *loop;
	ev_async stop;
	ev_async drain;		/* shutdown: finish what is in flight */
	ev_timer drain_deadline;
	double drain_max;	/* seconds, set before drain is sent */
	int draining;
	ev_io *udp_io, *tcp_io;	/* one per listen address */
	char *udp_busy;		/* per listen address: read by udp_idle */
	ev_idle udp_idle;
	_Atomic(struct snapshot *) hazard;
	struct query_stats stats;
	struct ratelimit *rl;		/* NULL: UDP answers are not limited */
	struct ratelimit_conf rlconf;	/* the settings rl was made for */
	struct tcpconn *conns;
	/* UDP queries a second, counted over windows of SERVER_RATE_WINDOW
	 * (clients send in bursts: gaps between wake-ups mislead) */
	double udp_rate;
	ev_tstamp udp_window;	/* when the current window began */
	uint64_t udp_count;	/* queries read in it */
	/* UDP batch buffers */
	struct mmsghdr in_msgs[SERVER_BATCH], out_msgs[SERVER_BATCH];
	struct iovec in_iov[SERVER_BATCH], out_iov[SERVER_BATCH];
	struct sockaddr_storage peers[SERVER_BATCH];
	uint8_t in_buf[SERVER_BATCH][SERVER_UDP_IN];
	uint8_t out_buf[SERVER_BATCH][QUERY_UDP_MAX];
	/* for the query log: each answer's query and what it decided */
	int out_src[SERVER_BATCH];
	struct query_result out_res[SERVER_BATCH];
	uint8_t tcp_out[65535];
};

struct server {
	struct upstream *upstream;	/* NULL: no zone has upstream sources */
	struct querylog *qlog;		/* NULL: no query log */
	int max_pending;
	long batch_wait_ns;		/* 0: read again only on the next wake */
	int nworkers, nlisten;
	int *udp_fd, *tcp_fd;		/* [worker * nlisten + i] */
	struct worker **workers;
	_Atomic(struct snapshot *) current;
	atomic_int tcp_conns;
	int joined;			/* the worker threads have ended */
};

/* ---- sockets ---- */

/* SO_REUSEPORT would let a second daemon silently share the port and
 * half the queries: first check that nobody holds the address. */
static int
address_free(const struct config_listen *l, int type)
{
	int one = 1;
	int fd = socket(l->ss.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	int ok = bind(fd, (const struct sockaddr *)&l->ss, l->len) == 0 ||
	    errno != EADDRINUSE;
	close(fd);
	if (!ok)
		log_warnx("cannot bind %s %s: address already in use (is another "
		    "rblcached running?)", type == SOCK_DGRAM ? "UDP" : "TCP",
		    l->text);
	return ok;
}

static int
open_socket(const struct config_listen *l, int type)
{
	int one = 1;
	int fd = socket(l->ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("socket for %s", l->text);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		log_warn("SO_REUSEPORT on %s", l->text);
	if (l->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&l->ss, l->len) < 0) {
		log_warn("cannot bind %s %s", type == SOCK_DGRAM ? "UDP" : "TCP",
		    l->text);
		close(fd);
		return -1;
	}
	if (type == SOCK_STREAM) {
		/* inherited by the accepted sockets; set before listen() so
		 * the window scale matches */
		int sz = SERVER_TCP_SOCKBUF;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	if (type == SOCK_STREAM && listen(fd, 128) < 0) {
		log_warn("listen on %s", l->text);
		close(fd);
		return -1;
	}
	if (type == SOCK_DGRAM) {
		int sz = 4 * 1024 * 1024;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	return fd;
}

struct server *
server_new(const struct config *cfg)
{
	struct server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		fatal("%s", __func__);
	srv->nworkers = cfg->workers;
	srv->nlisten = cfg->nlisten;
	srv->max_pending = cfg->resolver.max_pending;
	srv->batch_wait_ns = cfg->batch_wait_us * 1000L;
	size_t n = (size_t)srv->nworkers * (size_t)srv->nlisten;
	srv->udp_fd = malloc(n * sizeof(int));
	srv->tcp_fd = malloc(n * sizeof(int));
	if (!srv->udp_fd || !srv->tcp_fd)
		fatal("%s", __func__);
	for (size_t i = 0; i < n; i++)
		srv->udp_fd[i] = srv->tcp_fd[i] = -1;
	for (int i = 0; i < srv->nlisten; i++)
		if (!address_free(&cfg->listen[i], SOCK_DGRAM) ||
		    !address_free(&cfg->listen[i], SOCK_STREAM))
			goto fail;
	for (int w = 0; w < srv->nworkers; w++)
		for (int i = 0; i < srv->nlisten; i++) {
			size_t k = (size_t)w * (size_t)srv->nlisten + (size_t)i;
			srv->udp_fd[k] = open_socket(&cfg->listen[i], SOCK_DGRAM);
			srv->tcp_fd[k] = open_socket(&cfg->listen[i], SOCK_STREAM);
			if (srv->udp_fd[k] < 0 || srv->tcp_fd[k] < 0)
				goto fail;
		}
	return srv;
fail:
	for (size_t i = 0; i < n; i++) {
		if (srv->udp_fd[i] >= 0)
			close(srv->udp_fd[i]);
		if (srv->tcp_fd[i] >= 0)
			close(srv->tcp_fd[i]);
	}
	free(srv->udp_fd);
	free(srv->tcp_fd);
	free(srv);
	return NULL;
}

void
server_set_upstream(struct server *srv, struct upstream *u)
{
	srv->upstream = u;
}

void
server_set_querylog(struct server *srv, struct querylog *ql)
{
	srv->qlog = ql;
}

/* ---- latency, query log ---- */

static uint64_t
mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One answer sent: counted, its latency, and its line in the query
 * log. */
static void
answered(struct worker *w, const uint8_t *pkt, size_t len,
    const struct ipaddr *client, const struct query_result *res, uint64_t ns)
{
	w->stats.answered++;
	query_stats_latency(&w->stats, ns, 1);
	if (w->srv->qlog)
		querylog_write(w->srv->qlog, w->id, pkt, len, client, res, ns,
		    &w->stats);
}

/* ---- snapshots ---- */

static struct snapshot *
snapshot_acquire(struct worker *w)
{
	struct snapshot *s;
	do {
		s = atomic_load(&w->srv->current);
		atomic_store(&w->hazard, s);
	} while (s != atomic_load(&w->srv->current));
	return s;
}

static void
snapshot_release(struct worker *w)
{
	atomic_store(&w->hazard, NULL);
}

struct snapshot *
server_publish(struct server *srv, struct snapshot *s)
{
	return atomic_exchange(&srv->current, s);
}

int
server_snapshot_in_use(struct server *srv, struct snapshot *s)
{
	if (atomic_load(&srv->current) == s || atomic_load(&s->pending) > 0)
		return 1;
	for (int i = 0; i < srv->nworkers; i++)
		if (srv->workers && srv->workers[i] &&
		    atomic_load(&srv->workers[i]->hazard) == s)
			return 1;
	return 0;
}

void
server_stats(struct server *srv, struct query_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < srv->nworkers; i++) {
		const uint64_t *src = (const uint64_t *)&srv->workers[i]->stats;
		uint64_t *dst = (uint64_t *)out;
		for (size_t k = 0; k < offsetof(struct query_stats, last) /
		    sizeof(uint64_t); k++)
			dst[k] += src[k];
	}
}

/* ---- response rate limiting ---- */

/* (Re)makes w's table for conf; the old one stays if that fails. */
static void
worker_set_ratelimit(struct worker *w, const struct ratelimit_conf *conf)
{
	uint64_t seed;
	/* a secret seed: nobody can pick prefixes that share a set */
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)w;
	struct ratelimit *rl = ratelimit_new(conf, w->srv->nworkers, seed);
	if (rl || conf->rate == 0) {
		ratelimit_free(w->rl);
		w->rl = rl;
	}
	w->rlconf = *conf;
	if (w->id == 0 && conf->rate > 0)
		log_info("rate limit: %d UDP answers a second per /%d and /%d "
		    "(%d per worker), slip %d", conf->rate, conf->ipv4_prefix,
		    conf->ipv6_prefix, (conf->rate + w->srv->nworkers - 1) /
		    w->srv->nworkers, conf->slip);
}

/* The rate limit applied to the answer out[0..len) to the UDP query
 * pkt[0..pktlen) from client: returns len, 0 (send nothing), or the
 * length of the truncated answer written over out (a slip). */
static size_t
udp_ratelimit(struct worker *w, const struct ipaddr *client,
    const uint8_t *pkt, size_t pktlen, uint8_t *out, size_t len)
{
	uint64_t now = (uint64_t)(ev_now(w->loop) * 1000.0);
	switch (ratelimit_check(w->rl, client, now)) {
	case RATELIMIT_PASS:
		return len;
	case RATELIMIT_SLIP:
		len = ratelimit_truncate(pkt, pktlen, out, QUERY_UDP_MAX);
		if (len > 0) {
			w->stats.ratelimit_slipped++;
			return len;
		}
		break;
	}
	w->stats.ratelimit_dropped++;
	return 0;
}

/* ---- queries waiting for upstream ---- */

static int tcp_queue_answer(struct tcpconn *c, const uint8_t *msg, size_t len);
static void tcp_release(struct tcpconn *c);
static void drain_check(struct worker *w);

static struct pending *
pending_get(struct worker *w)
{
	if (w->npending >= w->srv->max_pending)
		return NULL;
	if (!w->free_pending) {
		struct pending *slab = calloc(PENDING_SLAB, sizeof(*slab));
		struct pending **ns = realloc(w->slabs,
		    (size_t)(w->nslabs + 1) * sizeof(*ns));
		if (!slab || !ns) {
			free(slab);
			if (ns)
				w->slabs = ns;
			return NULL;
		}
		w->slabs = ns;
		w->slabs[w->nslabs++] = slab;
		for (int i = PENDING_SLAB - 1; i >= 0; i--) {
			slab[i].w = w;
			slab[i].next_free = w->free_pending;
			w->free_pending = &slab[i];
		}
		w->npending_alloc += PENDING_SLAB;
	}
	struct pending *p = w->free_pending;
	w->free_pending = p->next_free;
	p->gen++;
	p->in_use = 1;
	w->npending++;
	return p;
}

/* Answers p with whatever arrived and frees the slot. */
static void
pending_finish(struct pending *p)
{
	struct worker *w = p->w;
	uint8_t *out = w->tcp_out;
	ev_timer_stop(w->loop, &p->timer);
	p->up.phase = QUERY_ANSWER;
	size_t len = query_answer(p->snap, p->pkt, p->len, &p->client,
	    p->conn == NULL, out, &w->stats, &p->up);
	if (len > 0 && !p->conn && w->rl)
		len = udp_ratelimit(w, &p->client, p->pkt, p->len, out, len);
	if (len > 0) {
		/* a client gone meanwhile, or a send the kernel refused, is
		 * a drop, not an answer */
		int sent;
		if (p->conn)
			sent = !p->conn->dead &&
			    tcp_queue_answer(p->conn, out, len) == 0;
		else
			sent = sendto(p->fd, out, len, MSG_DONTWAIT,
			    (struct sockaddr *)&p->peer, p->peerlen) >= 0;
		if (sent)
			answered(w, p->pkt, p->len, &p->client, &w->stats.last,
			    mono_ns() - p->received);
		else
			w->stats.dropped++;
	}
	if (p->conn)
		tcp_release(p->conn);
	atomic_fetch_sub(&p->snap->pending, 1);
	p->snap = NULL;
	p->conn = NULL;
	p->in_use = 0;
	p->next_free = w->free_pending;
	w->free_pending = p;
	w->npending--;
	if (w->draining)
		drain_check(w);
}

static void
pending_arm(struct pending *p)
{
	/* wake at the earliest deadline of a lookup still pending */
	double next = -1;
	for (int i = 0; i < p->up.n; i++) {
		if (p->up.l[i].state != QL_PENDING)
			continue;
		double d = p->started + p->up.l[i].timeout_ms / 1000.0;
		if (next < 0 || d < next)
			next = d;
	}
	double delay = next - ev_now(p->w->loop);
	ev_timer_set(&p->timer, delay > 0 ? delay : 0, 0.);
	ev_timer_start(p->w->loop, &p->timer);
}

static void
pending_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct pending *p = t->data;
	(void)revents;
	double now = ev_now(loop);
	for (int i = 0; i < p->up.n; i++) {
		struct query_lookup *l = &p->up.l[i];
		if (l->state == QL_PENDING &&
		    p->started + l->timeout_ms / 1000.0 <= now + 0.0005) {
			l->state = QL_TIMEOUT;
			p->remaining--;
		}
	}
	if (p->remaining <= 0)
		pending_finish(p);
	else
		pending_arm(p);
}

static void
mailbox_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker *w = a->data;
	(void)loop;
	(void)revents;
	struct upstream_reply *rep = upstream_mailbox_take(&w->mb);
	while (rep) {
		struct upstream_reply *next = rep->next;
		struct pending *p = rep->cookie;
		unsigned idx = rep->gen & 0xff;
		if (p->in_use && p->gen == rep->gen >> 8 &&
		    idx < (unsigned)p->up.n &&
		    p->up.l[idx].state == QL_PENDING) {
			p->up.l[idx].state = QL_DONE;
			p->up.l[idx].r = rep->r;
			if (--p->remaining == 0)
				pending_finish(p);
		}
		free(rep);
		rep = next;
	}
}

static void
ask_for(const struct snapshot *s, const struct query_lookup *l, int prefetch,
    struct upstream_ask *a)
{
	a->qname = l->qname;
	a->qtype = l->qtype;
	a->key = l->cacheable ? &l->key : NULL;
	a->source = s->cfg->upstreams[l->upstream].name;
	a->prefetch = prefetch;
	a->stats_id = s->cfg->upstreams[l->upstream].stats_id;
}

/* Refreshes, in the background, cached results about to expire that a
 * query just used: a steady hot set never waits for upstream. */
static void
prefetch(struct worker *w, const struct snapshot *s, struct query_upstream *up)
{
	for (int i = 0; i < up->n; i++) {
		if (!up->l[i].prefetch)
			continue;
		struct upstream_ask a;
		ask_for(s, &up->l[i], 1, &a);
		upstream_request(w->srv->upstream, &a, NULL, NULL, 0);
		w->stats.prefetch_sent++;
	}
	up->nprefetch = 0;
}

/* Answers the query at once, or parks it until its upstream lookups are
 * in.  Returns the answer's length in out, or 0 (nothing now). */
static size_t
answer_or_wait(struct worker *w, struct snapshot *s, const uint8_t *pkt,
    size_t len, const struct ipaddr *client, int fd,
    const struct sockaddr_storage *peer, socklen_t peerlen,
    struct tcpconn *conn, uint8_t *out, uint64_t received)
{
	struct query_upstream *up = NULL;
	if (w->srv->upstream) {
		up = &w->scratch;
		up->phase = QUERY_ASK;
		up->n = 0;
		up->nprefetch = 0;
	}
	size_t n = query_answer(s, pkt, len, client, conn == NULL, out,
	    &w->stats, up);
	if (up && up->nprefetch > 0)
		prefetch(w, s, up);
	if (n > 0 || !up || up->n == 0)
		return n;

	struct pending *p = len <= sizeof(p->pkt) ? pending_get(w) : NULL;
	if (!p) {
		/* too many waiting: answer from local data now (fail open), as
		 * the second phase of the query already counted */
		w->stats.pending_full++;
		up->phase = QUERY_ANSWER;
		up->n = 0;
		return query_answer(s, pkt, len, client, conn == NULL, out,
		    &w->stats, up);
	}
	p->snap = s;
	atomic_fetch_add(&s->pending, 1);
	p->fd = fd;
	if (peer) {
		memcpy(&p->peer, peer, peerlen);
		p->peerlen = peerlen;
	}
	p->conn = conn;
	if (conn)
		conn->npending++;
	p->client = *client;
	memcpy(p->pkt, pkt, len);
	p->len = len;
	p->up = *up;
	p->received = received;
	p->started = ev_now(w->loop);
	ev_init(&p->timer, pending_timeout_cb);
	p->timer.data = p;
	p->remaining = 0;
	for (int i = 0; i < p->up.n; i++) {
		struct query_lookup *l = &p->up.l[i];
		if (l->state != QL_PENDING)
			continue;	/* from the cache */
		struct upstream_ask a;
		ask_for(s, l, 0, &a);
		if (upstream_request(w->srv->upstream, &a, &w->mb, p,
		    p->gen << 8 | (uint32_t)i) < 0)
			l->state = QL_TIMEOUT;
		else
			p->remaining++;
	}
	if (p->remaining == 0)
		pending_finish(p);
	else
		pending_arm(p);
	return 0;
}

/* ---- UDP ---- */

/* Reads and answers UDP queries from fd in rounds of one batch; returns
 * 1 when the last round was full (the socket is saturated: more is
 * surely waiting), 0 when it came out drained. */
static int
udp_read(struct worker *w, int fd)
{
	int busy = w->srv->batch_wait_ns > 0 && w->udp_rate *
	    (double)w->srv->batch_wait_ns * 1e-9 >= SERVER_WAIT_GATHER;
	int got = 0;
	int waits = 0;
	int full = 0;

	/* bounded rounds so one busy socket cannot starve the others */
	for (int round = 0; round < 16; round++) {
		for (int i = 0; i < SERVER_BATCH; i++) {
			w->in_iov[i].iov_base = w->in_buf[i];
			w->in_iov[i].iov_len = SERVER_UDP_IN;
			memset(&w->in_msgs[i].msg_hdr, 0, sizeof(struct msghdr));
			w->in_msgs[i].msg_hdr.msg_name = &w->peers[i];
			w->in_msgs[i].msg_hdr.msg_namelen = sizeof(w->peers[i]);
			w->in_msgs[i].msg_hdr.msg_iov = &w->in_iov[i];
			w->in_msgs[i].msg_hdr.msg_iovlen = 1;
		}
		int n = recvmmsg(fd, w->in_msgs, SERVER_BATCH, MSG_DONTWAIT,
		    NULL);
		full = n == SERVER_BATCH;
		if (n <= 0)
			break;
		got += n;
		uint64_t t0 = mono_ns();
		struct snapshot *s = snapshot_acquire(w);
		if (memcmp(&w->rlconf, &s->cfg->ratelimit, sizeof(w->rlconf)))
			worker_set_ratelimit(w, &s->cfg->ratelimit);
		int m = 0;
		for (int i = 0; i < n; i++) {
			struct ipaddr client;
			addr_from_sockaddr((struct sockaddr *)&w->peers[i], &client);
			size_t len = answer_or_wait(w, s, w->in_buf[i],
			    w->in_msgs[i].msg_len, &client, fd, &w->peers[i],
			    w->in_msgs[i].msg_hdr.msg_namelen, NULL, w->out_buf[m], t0);
			if (len > 0 && w->rl)
				len = udp_ratelimit(w, &client, w->in_buf[i],
				    w->in_msgs[i].msg_len, w->out_buf[m], len);
			if (len == 0)
				continue;
			if (w->srv->qlog) {
				w->out_src[m] = i;
				w->out_res[m] = w->stats.last;
			}
			w->out_iov[m].iov_base = w->out_buf[m];
			w->out_iov[m].iov_len = len;
			memset(&w->out_msgs[m].msg_hdr, 0, sizeof(struct msghdr));
			w->out_msgs[m].msg_hdr.msg_name = &w->peers[i];
			w->out_msgs[m].msg_hdr.msg_namelen =
			    w->in_msgs[i].msg_hdr.msg_namelen;
			w->out_msgs[m].msg_hdr.msg_iov = &w->out_iov[m];
			w->out_msgs[m].msg_hdr.msg_iovlen = 1;
			m++;
		}
		snapshot_release(w);
		int sent = 0, ok = 0;
		uint64_t lost = 0;	/* answers the kernel refused, by index */
		_Static_assert(SERVER_BATCH <= 64, "lost is a 64-bit mask");
		while (sent < m) {
			int k = sendmmsg(fd, w->out_msgs + sent,
			    (unsigned)(m - sent), MSG_DONTWAIT);
			if (k < 0) {
				if (errno == EINTR)
					continue;
				/* full send buffer or an unreachable peer: the
				 * client retries, we drop this one answer */
				w->stats.dropped++;
				lost |= 1ULL << sent;
				sent++;
				continue;
			}
			sent += k;
			ok += k;
		}
		w->stats.answered += (uint64_t)ok;
		if (ok > 0) {
			/* one reading for the batch: each answer waited for
			 * all of it to be composed and sent */
			uint64_t ns = mono_ns() - t0;
			query_stats_latency(&w->stats, ns, (uint64_t)ok);
			for (int k = 0; w->srv->qlog && k < m; k++) {
				if (lost & (1ULL << k))
					continue;
				int i = w->out_src[k];
				struct ipaddr client;
				addr_from_sockaddr((struct sockaddr *)&w->peers[i],
				    &client);
				querylog_write(w->srv->qlog, w->id, w->in_buf[i],
				    w->in_msgs[i].msg_len, &client, &w->out_res[k],
				    ns, &w->stats);
			}
		}
		if (n == SERVER_BATCH)
			continue;
		if (!busy || waits++ == SERVER_WAIT_ROUNDS)
			break;
		struct timespec ts = { 0, w->srv->batch_wait_ns };
		nanosleep(&ts, NULL);
	}
	w->udp_count += (uint64_t)got;
	ev_tstamp now = ev_now(w->loop);
	if (now - w->udp_window >= SERVER_RATE_WINDOW) {
		w->udp_rate = (double)w->udp_count / (now - w->udp_window);
		w->udp_window = now;
		w->udp_count = 0;
	}
	return full;
}

/* Saturation.  A socket in the loop's epoll set has epoll's entry on its
 * wait queue, and then every answer sent costs a wake-up call when its
 * buffer is freed (sock_wfree), with an interrupt-safe lock: about 6 % of
 * the CPU at full load.  So a socket whose batches come back full leaves
 * the loop's set (libev drops it from epoll at the next poll) and is read
 * from an idle watcher, which the loop runs between its other events,
 * until a round finds it drained; then it is watched again. */
static void
udp_busy_cb(struct ev_loop *loop, ev_idle *idle, int revents)
{
	struct worker *w = idle->data;
	int still = 0;
	(void)revents;
	for (int l = 0; l < w->srv->nlisten; l++) {
		if (!w->udp_busy[l])
			continue;
		if (udp_read(w, w->udp_io[l].fd))
			still = 1;
		else {
			w->udp_busy[l] = 0;
			ev_io_start(loop, &w->udp_io[l]);
		}
	}
	if (!still)
		ev_idle_stop(loop, idle);
}

static void
udp_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = io->data;
	(void)revents;
	if (!udp_read(w, io->fd) || w->draining)
		return;
	ev_io_stop(loop, io);
	w->stats.udp_saturated++;
	w->udp_busy[io - w->udp_io] = 1;
	ev_idle_start(loop, &w->udp_idle);
}

/* ---- TCP ---- */

static void tcp_close(struct tcpconn *c);

static void
tcp_flush(struct tcpconn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t k = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			tcp_close(c);
			return;
		}
		c->outoff += (size_t)k;
	}
	if (c->outoff == c->outlen) {
		c->outoff = c->outlen = 0;
		ev_io_stop(c->w->loop, &c->wio);
		if (c->w->draining) {
			struct worker *w = c->w;
			if (c->npending == 0)
				tcp_close(c);
			drain_check(w);
		} else if (!ev_is_active(&c->rio))
			ev_io_start(c->w->loop, &c->rio);
	} else {
		ev_io_start(c->w->loop, &c->wio);
		/* a client that does not read stops being read */
		if (c->outlen - c->outoff > SERVER_TCP_MAX_PENDING)
			ev_io_stop(c->w->loop, &c->rio);
	}
}

static int
tcp_queue(struct tcpconn *c, const uint8_t *msg, size_t len)
{
	if (c->outoff > 0 && c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	if (c->outlen + 2 + len > c->outcap) {
		size_t nc = c->outcap ? c->outcap : 4096;
		while (nc < c->outlen + 2 + len)
			nc *= 2;
		uint8_t *no = realloc(c->out, nc);
		if (!no)
			return -1;
		c->out = no;
		c->outcap = nc;
	}
	c->out[c->outlen] = (uint8_t)(len >> 8);
	c->out[c->outlen + 1] = (uint8_t)len;
	memcpy(c->out + c->outlen + 2, msg, len);
	c->outlen += 2 + len;
	return 0;
}

static void
tcp_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct tcpconn *c = io->data;
	struct worker *w = c->w;
	(void)revents;

	ssize_t k = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
	if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR &&
	    errno != EWOULDBLOCK)) {
		tcp_close(c);
		return;
	}
	if (k < 0)
		return;
	c->inlen += (size_t)k;
	ev_timer_again(loop, &c->idle);

	/* answer every complete message; keep a partial one.  Answering
	 * may close c (a write failing under a query answered at once), so
	 * the loop holds it like a parked query does. */
	size_t off = 0;
	struct snapshot *s = NULL;
	c->npending++;
	while (!c->dead && c->inlen - off >= 2) {
		size_t mlen = (size_t)c->in[off] << 8 | c->in[off + 1];
		if (c->inlen - off - 2 < mlen)
			break;
		if (!s)
			s = snapshot_acquire(w);
		uint64_t t0 = mono_ns();
		size_t len = answer_or_wait(w, s, c->in + off + 2, mlen,
		    &c->client, -1, NULL, 0, c, w->tcp_out, t0);
		if (len && tcp_queue(c, w->tcp_out, len) < 0) {
			w->stats.dropped++;
			tcp_close(c);
			break;
		}
		if (len)
			answered(w, c->in + off + 2, mlen, &c->client,
			    &w->stats.last, mono_ns() - t0);
		off += 2 + mlen;
	}
	if (s)
		snapshot_release(w);
	if (c->dead) {
		tcp_release(c);
		return;
	}
	c->npending--;
	if (off > 0) {
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
	tcp_flush(c);
}

static void
tcp_write_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	(void)revents;
	tcp_flush(io->data);
}

static void
tcp_idle_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	tcp_close(t->data);
}

static void
tcp_close(struct tcpconn *c)
{
	struct worker *w = c->w;
	if (c->dead)
		return;
	ev_io_stop(w->loop, &c->rio);
	ev_io_stop(w->loop, &c->wio);
	ev_timer_stop(w->loop, &c->idle);
	close(c->fd);
	c->fd = -1;
	c->dead = 1;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	atomic_fetch_sub(&w->srv->tcp_conns, 1);
	if (c->npending == 0) {
		free(c->out);
		free(c);
	}
}

/* A parked query is done with c. */
static void
tcp_release(struct tcpconn *c)
{
	if (--c->npending == 0 && c->dead) {
		free(c->out);
		free(c);
	}
}

static int
tcp_queue_answer(struct tcpconn *c, const uint8_t *msg, size_t len)
{
	if (tcp_queue(c, msg, len) < 0) {
		tcp_close(c);
		return -1;
	}
	tcp_flush(c);
	return c->dead ? -1 : 0;	/* the write found the client gone */
}

/* With allow-query-action "drop", a client outside allow-query is not
 * worth a connection slot: closed at once, counted as a drop. */
static int
tcp_client_welcome(struct worker *w, const struct ipaddr *client)
{
	struct snapshot *s = snapshot_acquire(w);
	int ok = !s->cfg->allow_drop || query_client_allowed(s->cfg, client);
	snapshot_release(w);
	if (!ok)
		w->stats.dropped_acl++;
	return ok;
}

static void
tcp_accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = io->data;
	(void)revents;

	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct ipaddr client;
		addr_from_sockaddr((struct sockaddr *)&ss, &client);
		if (!tcp_client_welcome(w, &client)) {
			close(fd);
			continue;
		}
		if (atomic_fetch_add(&w->srv->tcp_conns, 1) >= SERVER_TCP_MAX_CONNS) {
			atomic_fetch_sub(&w->srv->tcp_conns, 1);
			close(fd);
			continue;
		}
		struct tcpconn *c = calloc(1, sizeof(*c));
		if (!c) {
			atomic_fetch_sub(&w->srv->tcp_conns, 1);
			close(fd);
			continue;
		}
		c->w = w;
		c->fd = fd;
		c->client = client;
		ev_io_init(&c->rio, tcp_read_cb, fd, EV_READ);
		ev_io_init(&c->wio, tcp_write_cb, fd, EV_WRITE);
		ev_init(&c->idle, tcp_idle_cb);
		c->idle.repeat = SERVER_TCP_IDLE_SEC;
		c->rio.data = c->wio.data = c->idle.data = c;
		ev_io_start(loop, &c->rio);
		ev_timer_again(loop, &c->idle);
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
	}
}

/* ---- shutdown ---- */

/* Ends the worker's loop once nothing is owed: no query waits for
 * upstream and every TCP answer is written. */
static void
drain_check(struct worker *w)
{
	if (w->npending > 0)
		return;
	for (struct tcpconn *c = w->conns; c; c = c->next)
		if (c->outoff < c->outlen)
			return;
	ev_break(w->loop, EVBREAK_ALL);
}

static void
drain_deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Stops taking queries: answers what already sits in the UDP sockets,
 * reads no more from TCP clients, accepts no connection, and lets the
 * queries waiting for upstream finish (their own timeouts bound them). */
static void
drain_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker *w = a->data;
	(void)revents;
	w->draining = 1;
	ev_idle_stop(loop, &w->udp_idle);
	for (int l = 0; l < w->srv->nlisten; l++) {
		udp_read(w, w->udp_io[l].fd);
		w->udp_busy[l] = 0;
		ev_io_stop(loop, &w->udp_io[l]);
		ev_io_stop(loop, &w->tcp_io[l]);
	}
	for (struct tcpconn *c = w->conns, *next; c; c = next) {
		next = c->next;
		ev_io_stop(loop, &c->rio);
		if (c->npending == 0 && c->outoff == c->outlen)
			tcp_close(c);
	}
	ev_timer_init(&w->drain_deadline, drain_deadline_cb, w->drain_max, 0.);
	ev_timer_start(loop, &w->drain_deadline);
	drain_check(w);
}

void
server_drain(struct server *srv, double max_sec)
{
	if (!srv || !srv->workers || srv->joined)
		return;
	for (int i = 0; i < srv->nworkers; i++) {
		srv->workers[i]->drain_max = max_sec;
		ev_async_send(srv->workers[i]->loop, &srv->workers[i]->drain);
	}
	for (int i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i]->thread, NULL);
	srv->joined = 1;
}

void
server_hurry(struct server *srv)
{
	if (!srv || !srv->workers)
		return;
	for (int i = 0; i < srv->nworkers; i++)
		ev_async_send(srv->workers[i]->loop, &srv->workers[i]->stop);
}

/* ---- threads ---- */

static void
stop_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	(void)a;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	/* the batch wait is short: no timer slack on top of it */
	prctl(PR_SET_TIMERSLACK, 1000UL);
	ev_run(w->loop, 0);
	return NULL;
}

void
server_start(struct server *srv, struct snapshot *s)
{
	atomic_store(&srv->current, s);
	srv->workers = calloc((size_t)srv->nworkers, sizeof(*srv->workers));
	if (!srv->workers)
		fatal("%s", __func__);
	for (int i = 0; i < srv->nworkers; i++) {
		struct worker *w = calloc(1, sizeof(*w));
		if (!w)
			fatal("%s", __func__);
		w->srv = srv;
		w->id = i;
		atomic_store(&w->hazard, NULL);
		w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
		if (!w->loop)
			fatalx("%s: ev_loop_new failed", __func__);
		ev_async_init(&w->stop, stop_cb);
		ev_async_start(w->loop, &w->stop);
		ev_async_init(&w->drain, drain_cb);
		w->drain.data = w;
		ev_async_start(w->loop, &w->drain);
		pthread_mutex_init(&w->mb.mu, NULL);
		w->mb.loop = w->loop;
		w->mb.wake = &w->mbwake;
		ev_async_init(&w->mbwake, mailbox_cb);
		w->mbwake.data = w;
		ev_async_start(w->loop, &w->mbwake);
		w->udp_io = calloc((size_t)srv->nlisten, sizeof(ev_io));
		w->tcp_io = calloc((size_t)srv->nlisten, sizeof(ev_io));
		w->udp_busy = calloc((size_t)srv->nlisten, 1);
		if (!w->udp_io || !w->tcp_io || !w->udp_busy)
			fatal("%s", __func__);
		ev_idle_init(&w->udp_idle, udp_busy_cb);
		/* idle watchers run only when nothing of their priority or
		 * above is pending: at the top, it reads every turn */
		ev_set_priority(&w->udp_idle, EV_MAXPRI);
		w->udp_idle.data = w;
		for (int l = 0; l < srv->nlisten; l++) {
			size_t k = (size_t)i * (size_t)srv->nlisten + (size_t)l;
			ev_io_init(&w->udp_io[l], udp_cb, srv->udp_fd[k], EV_READ);
			w->udp_io[l].data = w;
			ev_io_start(w->loop, &w->udp_io[l]);
			ev_io_init(&w->tcp_io[l], tcp_accept_cb, srv->tcp_fd[k], EV_READ);
			w->tcp_io[l].data = w;
			ev_io_start(w->loop, &w->tcp_io[l]);
		}
		worker_set_ratelimit(w, &s->cfg->ratelimit);
		srv->workers[i] = w;
	}
	for (int i = 0; i < srv->nworkers; i++)
		if (pthread_create(&srv->workers[i]->thread, NULL, worker_main,
		    srv->workers[i]) != 0)
			fatalx("%s: cannot start worker thread", __func__);
}

void
server_stop(struct server *srv)
{
	if (!srv)
		return;
	if (!srv->joined)
		server_hurry(srv);
	for (int i = 0; srv->workers && i < srv->nworkers; i++) {
		struct worker *w = srv->workers[i];
		if (!srv->joined)
			pthread_join(w->thread, NULL);
		/* queries still waiting for upstream are dropped */
		for (int k = 0; k < w->nslabs; k++) {
			for (int j = 0; j < PENDING_SLAB; j++) {
				struct pending *p = &w->slabs[k][j];
				if (!p->in_use)
					continue;
				ev_timer_stop(w->loop, &p->timer);
				atomic_fetch_sub(&p->snap->pending, 1);
				if (p->conn)
					tcp_release(p->conn);
			}
			free(w->slabs[k]);
		}
		free(w->slabs);
		while (w->conns)
			tcp_close(w->conns);
		for (struct upstream_reply *r = upstream_mailbox_take(&w->mb), *n;
		    r; r = n) {
			n = r->next;
			free(r);
		}
		pthread_mutex_destroy(&w->mb.mu);
		ev_loop_destroy(w->loop);
		free(w->udp_io);
		free(w->tcp_io);
		free(w->udp_busy);
		ratelimit_free(w->rl);
		free(w);
	}
	size_t n = (size_t)srv->nworkers * (size_t)srv->nlisten;
	for (size_t i = 0; i < n; i++) {
		close(srv->udp_fd[i]);
		close(srv->tcp_fd[i]);
	}
	free(srv->udp_fd);
	free(srv->tcp_fd);
	free(srv->workers);
	free(srv);
}
