/* rcache.c -- the Redis second-level cache client: hiredis on one libev loop.
 *
 * States.  BACKOFF: no connection; a timer starts the next attempt.
 * CONNECTING: connect, AUTH, SELECT and PING are sent at once (hiredis
 * queues them until the socket is up); up when PING answers before the
 * connect deadline.  UP: commands accepted.  DYING: given up on from
 * inside a hiredis callback, where the context must not be freed (hiredis
 * 0.14 rules), so a zero timer frees it from the loop.  OFF: a bad
 * address, or being freed.  Each way down is logged once; further
 * failures stay quiet until the link has been up again.  Retries back off
 * from BACKOFF_MIN, doubling to BACKOFF_MAX; a loss restarts at
 * BACKOFF_MIN only when the link had been up STABLE seconds, so a Redis
 * that takes connections but then does not answer (stopped, overloaded)
 * is throttled like a dead one instead of costing timeouts every 100 ms.
 *
 * Commands in flight.  Redis answers in order and hiredis calls back in
 * order (with a NULL reply for each pending command when the context
 * goes away), so one ring of slots, pushed on send and popped in the
 * reply callback, holds every command's callback and send time: no
 * allocation per command beyond hiredis' own.  Every command has the
 * same timeout, so deadlines are in ring order and one timer, at the
 * oldest unexpired slot (cursor), covers them all.  A GET whose deadline
 * passes gets RC_ERROR and its slot is marked done, so that the late
 * reply, when it comes, is dropped.  Send times come from CLOCK_MONOTONIC,
 * not ev_now(): a loop iteration that ran long, or a wall-clock step,
 * must not move a deadline.
 *
 * Ownership.  At most one hiredis context exists at a time (rc->ac), so
 * the ring belongs to it.  We free it only from our own timer callbacks
 * and rcache_free(); when hiredis frees it itself (EOF, connect failure)
 * it says so through the connect/disconnect callbacks, which clear
 * rc->ac at once.  A callback for a context that is no longer rc->ac is
 * one we are freeing ourselves, and is ignored.
 */
#include "rcache.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "addr.h"
#include "config.h"
#include "log.h"

#define RING_MASK	(RCACHE_MAX_INFLIGHT - 1)
#define BACKOFF_MIN	0.1	/* seconds to the first retry */
#define BACKOFF_MAX	30.0
#define CONNECT_MIN_MS	1000	/* connect deadline: max(timeout-ms, this) */
#define STABLE		10.0	/* up this long: a loss retries at BACKOFF_MIN */
#define EARLY		0.001	/* expire what is due this soon in one go */

_Static_assert((RCACHE_MAX_INFLIGHT & RING_MASK) == 0, "ring size");

enum { ST_OFF, ST_BACKOFF, ST_CONNECTING, ST_UP, ST_DYING };
enum { K_AUTH, K_SELECT, K_PING, K_GET, K_WRITE };	/* < K_GET: handshake */

struct slot {
	uint8_t kind;
	uint8_t done;		/* answered already: its deadline passed */
	rcache_get_cb *cb;	/* K_GET */
	void *arg;
	double sent;		/* mono() */
};

struct rcache {
	struct ev_loop *loop;
	redisAsyncContext *ac;	/* NULL but in CONNECTING, UP and DYING */
	int state;
	char *name;		/* the address as configured, for the log */
	char *path;		/* unix socket, or NULL: host and port */
	char host[INET6_ADDRSTRLEN];
	int port;
	char *password;		/* NULL: no AUTH */
	int db;
	int timeout_ms;
	double timeout;		/* seconds */
	double backoff;		/* the next wait in BACKOFF */
	double up_since;	/* mono(); 0 when not up */
	int ever_up;
	int quiet;		/* a way down was logged: quiet until up again */
	int warned;		/* an error reply was logged on this connection */
	int late;		/* deadlines passed in a row */
	ev_timer state_tm;	/* BACKOFF: retry, CONNECTING: deadline, DYING: 0 */
	ev_timer deadline_tm;	/* the deadline of the slot at cursor */
	struct slot *ring;	/* RCACHE_MAX_INFLIGHT; [head, tail) in flight */
	uint32_t head, tail, cursor;	/* head <= cursor <= tail */
	struct {
		_Atomic int up;
		_Atomic uint64_t gets, hits, misses, errors, timeouts, sets,
		    dropped, reconnects, rtt_sum, rtt_count, rtt_max;
	} st;
};

/* Counters have one writer (the loop's thread): no locked add needed. */
#define ST_ADD(rc, f, n)	atomic_store_explicit(&(rc)->st.f,	\
	atomic_load_explicit(&(rc)->st.f, memory_order_relaxed) + (n),	\
	memory_order_relaxed)
#define ST_SET(rc, f, v)	atomic_store_explicit(&(rc)->st.f, (v),	\
	memory_order_relaxed)
#define ST_GET(rc, f)	atomic_load_explicit(&(rc)->st.f, memory_order_relaxed)

static void conn_start(struct rcache *);

/* ---- private: time, log, state changes ---- */

static double
mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
connect_ms(const struct rcache *rc)
{
	return rc->timeout_ms > CONNECT_MIN_MS ? rc->timeout_ms : CONNECT_MIN_MS;
}

/* Logs a way down, unless one was logged since the link was last up. */
static void __attribute__((format(printf, 2, 3)))
say_down(struct rcache *rc, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	if (rc->quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warnx("redis %s: %s; retrying with backoff", rc->name, why);
	rc->quiet = 1;
}

static void
state_timer(struct rcache *rc, int state, double after)
{
	rc->state = state;
	ev_timer_stop(rc->loop, &rc->state_tm);
	ev_timer_set(&rc->state_tm, after, 0.);
	ev_timer_start(rc->loop, &rc->state_tm);
}

static void
backoff(struct rcache *rc)
{
	if (rc->up_since > 0 && mono() - rc->up_since >= STABLE)
		rc->backoff = BACKOFF_MIN;
	rc->up_since = 0;
	ST_SET(rc, up, 0);
	state_timer(rc, ST_BACKOFF, rc->backoff);
	rc->backoff = rc->backoff * 2 < BACKOFF_MAX ? rc->backoff * 2 :
	    BACKOFF_MAX;
}

/* Gives up on the connection from anywhere, even inside hiredis: the
 * state timer frees it at once from the loop. */
static void
give_up(struct rcache *rc)
{
	ST_SET(rc, up, 0);
	state_timer(rc, ST_DYING, 0.);
}

/* Frees the connection and backs off; never from inside hiredis.  The
 * pending commands' callbacks run now, with NULL replies. */
static void
drop(struct rcache *rc)
{
	redisAsyncContext *ac = rc->ac;
	rc->ac = NULL;
	backoff(rc);
	if (ac)
		redisAsyncFree(ac);
}

/* hiredis is freeing ac (connect failed, or the connection broke). */
static void
lost(struct rcache *rc, const redisAsyncContext *ac, const char *why)
{
	if (ac != rc->ac)
		return;		/* one we are freeing ourselves */
	rc->ac = NULL;
	if (rc->state == ST_UP || (ac->c.flags & REDIS_CONNECTED))
		say_down(rc, "connection lost (%s)", why);
	else if (rc->state == ST_CONNECTING)
		say_down(rc, "unreachable (%s)", why);
	backoff(rc);
}

static void
connect_cb(const redisAsyncContext *ac, int status)
{
	if (status != REDIS_OK)
		lost(ac->data, ac, ac->c.errstr[0] ? ac->c.errstr : "error");
}

static void
disconnect_cb(const redisAsyncContext *ac, int status)
{
	lost(ac->data, ac, status == REDIS_OK || !ac->c.errstr[0] ?
	    "closed" : ac->c.errstr);
}

/* ---- private: commands ---- */

static void
arm(struct rcache *rc)
{
	ev_timer_stop(rc->loop, &rc->deadline_tm);
	if (rc->cursor == rc->tail)
		return;
	double after = rc->ring[rc->cursor & RING_MASK].sent + rc->timeout -
	    mono();
	ev_timer_set(&rc->deadline_tm, after > 0 ? after : 0., 0.);
	ev_timer_start(rc->loop, &rc->deadline_tm);
}

static void reply_cb(redisAsyncContext *, void *, void *);

/* Sends one command and takes a slot for it.  Returns 0, or -1 when
 * hiredis refuses it (disconnecting, out of memory). */
static int
send_cmd(struct rcache *rc, int kind, int argc, const char **argv,
    const size_t *len, rcache_get_cb *cb, void *arg)
{
	if (redisAsyncCommandArgv(rc->ac, reply_cb, rc, argc, argv, len) !=
	    REDIS_OK)
		return -1;
	struct slot *s = &rc->ring[rc->tail++ & RING_MASK];
	s->kind = (uint8_t)kind;
	s->done = 0;
	s->cb = cb;
	s->arg = arg;
	s->sent = mono();
	if (kind >= K_GET && !ev_is_active(&rc->deadline_tm))
		arm(rc);
	return 0;
}

static int
usable(const struct rcache *rc)
{
	return rc->state == ST_UP &&
	    rc->tail - rc->head < RCACHE_MAX_INFLIGHT &&
	    !(rc->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING));
}

static void
handshake_done(struct rcache *rc, redisAsyncContext *ac, int kind,
    const redisReply *r)
{
	if (!r || ac != rc->ac || rc->state != ST_CONNECTING)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		if (kind == K_AUTH)
			say_down(rc, "authentication failed: %s", r->str);
		else if (kind == K_SELECT)
			say_down(rc, "SELECT %d failed: %s", rc->db, r->str);
		else
			say_down(rc, "PING failed: %s", r->str);
		give_up(rc);
		return;
	}
	if (kind != K_PING)
		return;
	ev_timer_stop(rc->loop, &rc->state_tm);
	rc->state = ST_UP;
	rc->up_since = mono();
	rc->late = 0;
	rc->quiet = 0;
	rc->warned = 0;
	if (rc->ever_up)
		ST_ADD(rc, reconnects, 1);
	rc->ever_up = 1;
	ST_SET(rc, up, 1);
	log_info("redis %s: connected", rc->name);
}

static void
get_done(struct rcache *rc, const struct slot *s, const redisReply *r)
{
	int result = RC_ERROR;
	const char *val = NULL;
	size_t len = 0;
	if (r) {
		double d = mono() - s->sent;
		uint64_t us = d > 0 ? (uint64_t)(d * 1e6) : 0;
		ST_ADD(rc, rtt_sum, us);
		ST_ADD(rc, rtt_count, 1);
		if (us > ST_GET(rc, rtt_max))
			ST_SET(rc, rtt_max, us);
		if (r->type == REDIS_REPLY_STRING) {
			result = RC_HIT;
			val = r->str;
			len = r->len;
		} else if (r->type != REDIS_REPLY_ERROR ||
		    strncmp(r->str, "WRONGTYPE", 9) == 0)
			result = RC_MISS;
		else if (!rc->warned) {
			log_warnx("redis %s: GET: %s", rc->name, r->str);
			rc->warned = 1;
		}
	}
	if (result == RC_HIT)
		ST_ADD(rc, hits, 1);
	else if (result == RC_MISS)
		ST_ADD(rc, misses, 1);
	else
		ST_ADD(rc, errors, 1);
	s->cb(s->arg, result, val, len);
}

/* Every command's reply, in order; NULL when the context goes away. */
static void
reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rcache *rc = privdata;
	const redisReply *r = reply;
	assert(rc->head != rc->tail);
	struct slot s = rc->ring[rc->head++ & RING_MASK];
	if ((int32_t)(rc->cursor - rc->head) < 0)
		rc->cursor = rc->head;
	if (s.done)
		return;		/* late: RC_ERROR went out at the deadline */
	if (r)
		rc->late = 0;
	if (s.kind == K_GET)
		get_done(rc, &s, r);
	else if (s.kind != K_WRITE)
		handshake_done(rc, ac, s.kind, r);
	else if (r && r->type == REDIS_REPLY_ERROR && !rc->warned) {
		log_warnx("redis %s: %s", rc->name, r->str);
		rc->warned = 1;
	}
}

/* ---- private: timers ---- */

static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rcache *rc = w->data;
	double now = mono() + EARLY;
	(void)loop;
	(void)revents;
	while (rc->cursor != rc->tail) {
		struct slot *s = &rc->ring[rc->cursor & RING_MASK];
		if (s->kind >= K_GET && s->sent + rc->timeout > now)
			break;
		rc->cursor++;
		if (s->kind < K_GET)
			continue;	/* the connect deadline covers those */
		s->done = 1;
		rc->late++;
		if (s->kind == K_GET) {
			ST_ADD(rc, timeouts, 1);
			ST_ADD(rc, errors, 1);
			s->cb(s->arg, RC_ERROR, NULL, 0);
		}
	}
	if (rc->late >= RCACHE_DOWN_AFTER && rc->state == ST_UP) {
		say_down(rc, "not answering within %d ms", rc->timeout_ms);
		give_up(rc);
	}
	arm(rc);
}

static void
state_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rcache *rc = w->data;
	(void)loop;
	(void)revents;
	switch (rc->state) {
	case ST_BACKOFF:
		conn_start(rc);
		break;
	case ST_CONNECTING:
		if (rc->ac->c.flags & REDIS_CONNECTED)
			say_down(rc, "not answering within %d ms",
			    connect_ms(rc));
		else
			say_down(rc, "unreachable (no connection within %d ms)",
			    connect_ms(rc));
		drop(rc);
		break;
	case ST_DYING:
		drop(rc);
		break;
	}
}

static void
conn_start(struct rcache *rc)
{
	redisAsyncContext *ac = rc->path ? redisAsyncConnectUnix(rc->path) :
	    redisAsyncConnect(rc->host, rc->port);
	if (!ac || ac->err) {
		say_down(rc, "unreachable (%s)", ac ? ac->c.errstr :
		    "out of memory");
		if (ac)
			redisAsyncFree(ac);
		backoff(rc);
		return;
	}
	ac->data = rc;
	if (redisLibevAttach(rc->loop, ac) != REDIS_OK) {
		redisAsyncFree(ac);
		say_down(rc, "cannot attach to the event loop");
		backoff(rc);
		return;
	}
	redisAsyncSetConnectCallback(ac, connect_cb);
	redisAsyncSetDisconnectCallback(ac, disconnect_cb);
	rc->ac = ac;
	rc->state = ST_CONNECTING;
	assert(rc->head == rc->tail);
	rc->cursor = rc->tail;

	char db[16];
	const char *auth[] = { "AUTH", rc->password };
	const char *sel[] = { "SELECT", db };
	const char *ping[] = { "PING" };
	size_t authlen[] = { 4, rc->password ? strlen(rc->password) : 0 };
	size_t sellen[] = { 6, (size_t)snprintf(db, sizeof(db), "%d", rc->db) };
	size_t pinglen[] = { 4 };
	if ((rc->password &&
	    send_cmd(rc, K_AUTH, 2, auth, authlen, NULL, NULL) < 0) ||
	    (rc->db && send_cmd(rc, K_SELECT, 2, sel, sellen, NULL, NULL) < 0) ||
	    send_cmd(rc, K_PING, 1, ping, pinglen, NULL, NULL) < 0) {
		say_down(rc, "out of memory");
		drop(rc);
		return;
	}
	state_timer(rc, ST_CONNECTING, connect_ms(rc) / 1000.);
}

/* ---- API ---- */

struct rcache *
rcache_new(const struct config *cfg, struct ev_loop *loop)
{
	const char *addr = cfg->redis.address ? cfg->redis.address :
	    "127.0.0.1:6379";
	struct rcache *rc = calloc(1, sizeof(*rc));
	if (!rc)
		return NULL;
	rc->loop = loop;
	rc->db = cfg->redis.db;
	rc->timeout_ms = cfg->redis.timeout_ms > 0 ? cfg->redis.timeout_ms : 1;
	rc->timeout = rc->timeout_ms / 1000.;
	rc->backoff = BACKOFF_MIN;
	ev_init(&rc->state_tm, state_cb);
	rc->state_tm.data = rc;
	ev_init(&rc->deadline_tm, deadline_cb);
	rc->deadline_tm.data = rc;
	if (!(rc->name = strdup(addr)) ||
	    !(rc->ring = calloc(RCACHE_MAX_INFLIGHT, sizeof(*rc->ring))) ||
	    (cfg->redis.password &&
	    !(rc->password = strdup(cfg->redis.password))))
		goto fail;
	if (strncmp(addr, "unix:", 5) == 0) {
		if (!(rc->path = strdup(addr + 5)))
			goto fail;
	} else {
		struct sockaddr_storage ss;
		socklen_t sslen;
		const char *err = NULL;
		if (addr_parse_sockaddr(addr, 6379, &ss, &sslen, &err) < 0) {
			log_warnx("redis %s: %s; not using Redis", addr, err);
			rc->state = ST_OFF;
			return rc;
		}
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &sin->sin_addr, rc->host,
			    sizeof(rc->host));
			rc->port = ntohs(sin->sin_port);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &sin6->sin6_addr, rc->host,
			    sizeof(rc->host));
			rc->port = ntohs(sin6->sin6_port);
		}
	}
	conn_start(rc);
	return rc;
fail:
	free(rc->name);
	free(rc->ring);
	free(rc->password);
	free(rc);
	return NULL;
}

void
rcache_free(struct rcache *rc)
{
	if (!rc)
		return;
	ev_timer_stop(rc->loop, &rc->state_tm);
	ev_timer_stop(rc->loop, &rc->deadline_tm);
	rc->state = ST_OFF;
	ST_SET(rc, up, 0);
	redisAsyncContext *ac = rc->ac;
	rc->ac = NULL;
	if (ac)
		redisAsyncFree(ac);	/* the pending GETs get RC_ERROR now */
	assert(rc->head == rc->tail);
	free(rc->name);
	free(rc->path);
	free(rc->password);
	free(rc->ring);
	free(rc);
}

int
rcache_get(struct rcache *rc, const char *key, size_t keylen,
    rcache_get_cb *cb, void *arg)
{
	const char *argv[] = { "GET", key };
	size_t len[] = { 3, keylen };
	if (!usable(rc) || send_cmd(rc, K_GET, 2, argv, len, cb, arg) < 0)
		return -1;
	ST_ADD(rc, gets, 1);
	return 0;
}

void
rcache_set(struct rcache *rc, const char *key, size_t keylen,
    const char *val, size_t vlen, uint64_t ttl_ms)
{
	char px[24];
	if (ttl_ms == 0)
		return;
	const char *argv[] = { "SET", key, val, "PX", px };
	size_t len[] = { 3, keylen, vlen, 2, (size_t)snprintf(px, sizeof(px),
	    "%llu", (unsigned long long)ttl_ms) };
	if (!usable(rc) || send_cmd(rc, K_WRITE, 5, argv, len, NULL, NULL) < 0)
		ST_ADD(rc, dropped, 1);
	else
		ST_ADD(rc, sets, 1);
}

void
rcache_del(struct rcache *rc, const char *key, size_t keylen)
{
	const char *argv[] = { "DEL", key };
	size_t len[] = { 3, keylen };
	if (!usable(rc) || send_cmd(rc, K_WRITE, 2, argv, len, NULL, NULL) < 0)
		ST_ADD(rc, dropped, 1);
}

int
rcache_is_up(const struct rcache *rc)
{
	return rc->state == ST_UP;
}

void
rcache_stats(const struct rcache *rc, struct rcache_stats *out)
{
	out->up = ST_GET(rc, up);
	out->gets = ST_GET(rc, gets);
	out->hits = ST_GET(rc, hits);
	out->misses = ST_GET(rc, misses);
	out->errors = ST_GET(rc, errors);
	out->timeouts = ST_GET(rc, timeouts);
	out->sets = ST_GET(rc, sets);
	out->dropped = ST_GET(rc, dropped);
	out->reconnects = ST_GET(rc, reconnects);
	out->rtt_us_sum = ST_GET(rc, rtt_sum);
	out->rtt_count = ST_GET(rc, rtt_count);
	out->rtt_us_max = ST_GET(rc, rtt_max);
}
