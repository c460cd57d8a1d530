/* share.c -- run-time entries kept in step through Redis hash and channel.
 *
 * Two connections on main's loop: "cmd" for HSET/PUBLISH/HGET/HGETALL,
 * "sub" subscribed to the channel (a subscribed connection takes no
 * other command).  A session is both of them up: the handshake (AUTH,
 * SELECT, SUBSCRIBE), then the edits queued while down are pushed, then
 * the whole hash is read and merged.  Any failure ends the session:
 * both connections are freed from a timer (never inside a hiredis
 * callback) and a new one starts after a backoff of 1 s doubling to
 * 30 s; the loss and the recovery are logged once each.
 */
#include "share.h"

#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "journal.h"
#include "log.h"

#define BACKOFF_MIN	1.0
#define BACKOFF_MAX	30.0
#define SETUP_SEC	5.0		/* a session not up by then is dropped */
#define TOMBSTONE_MS	(30LL * 86400 * 1000)
#define VALUE_MAX	2200
#define QUEUE_MAX	10000		/* edits kept while Redis is away */
#define KEEPALIVE_SEC	15.0

enum { S_DOWN, S_SETUP, S_UP, S_DYING };

struct edit {
	char *field, *value;
};

/* KEYS: hash, channel; ARGV: field, value, the value's time (ms). */
static const char set_if_newer[] =
    "local cur = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if cur then "
    "  local ms = tonumber(string.match(cur, '^(%d+)')) "
    "  if ms and ms > tonumber(ARGV[3]) then return 0 end "
    "end "
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) "
    "redis.call('PUBLISH', KEYS[2], ARGV[1]) "
    "return 1";

struct share {
	struct ev_loop *loop;
	char *qpath;			/* state-dir/redis-queue */
	int ping_out;			/* a keepalive PING not answered yet */
	struct journal **journal;
	void (*changed)(void);
	char *name, *host, *path, *password;
	int port, db;
	char *hkey, *chan;
	redisAsyncContext *cmd, *sub;
	int state, cmd_ok, sub_ok, quiet, ever_up;
	double backoff;
	ev_timer timer;
	ev_timer publish;		/* applied edits -> one new snapshot */
	struct edit *queue;
	size_t nqueue;
};

static void session_start(struct share *s);
static int cmdv(redisAsyncContext *ac, redisCallbackFn *cb, void *priv,
    int argc, const char **argv);

/* ---- session ---- */

static void
timer_at(struct share *s, int state, double after)
{
	s->state = state;
	ev_timer_stop(s->loop, &s->timer);
	ev_timer_set(&s->timer, after, 0.);
	ev_timer_start(s->loop, &s->timer);
}

/* Ends the session from anywhere: logs why (once until the next
 * session is up) and lets the timer free the connections. */
static void
fail(struct share *s, const char *why)
{
	if (s->state == S_DYING)
		return;
	if (!s->quiet)
		log_warnx("redis %s: sharing run-time entries stopped: %s; "
		    "serving the entries this host has, retrying with backoff",
		    s->name, why);
	s->quiet = 1;
	timer_at(s, S_DYING, 0.);
}

static void
drop_connections(struct share *s)
{
	redisAsyncContext *c = s->cmd, *u = s->sub;
	s->cmd = s->sub = NULL;
	s->cmd_ok = s->sub_ok = 0;
	if (c)
		redisAsyncFree(c);
	if (u)
		redisAsyncFree(u);
}

static void
pong_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct share *s = ac->data;
	(void)priv;
	if (reply)
		s->ping_out = 0;
}

/* A silent loss (peer host gone, a firewall dropping the idle link) shows
 * no error: a PING every KEEPALIVE_SEC must come back before the next. */
static void
keepalive(struct share *s)
{
	const char *ping[] = { "PING" };
	if (s->ping_out) {
		fail(s, "not answering");
		return;
	}
	s->ping_out = 1;
	cmdv(s->cmd, pong_cb, NULL, 1, ping);
	timer_at(s, S_UP, KEEPALIVE_SEC);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct share *s = t->data;
	(void)loop;
	(void)revents;
	switch (s->state) {
	case S_DYING:
		drop_connections(s);
		timer_at(s, S_DOWN, s->backoff);
		s->backoff = s->backoff * 2 < BACKOFF_MAX ? s->backoff * 2 :
		    BACKOFF_MAX;
		break;
	case S_DOWN:
		session_start(s);
		break;
	case S_SETUP:
		fail(s, "not answering");
		break;
	case S_UP:
		keepalive(s);
		break;
	}
}

static void
connect_cb(const redisAsyncContext *ac, int status)
{
	struct share *s = ac->data;
	if (status == REDIS_OK)
		return;
	/* hiredis frees ac after this */
	if (ac == s->cmd)
		s->cmd = NULL;
	if (ac == s->sub)
		s->sub = NULL;
	fail(s, ac->c.errstr[0] ? ac->c.errstr : "cannot connect");
}

static void
disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct share *s = ac->data;
	(void)status;
	if (ac != s->cmd && ac != s->sub)
		return;		/* one drop_connections() frees */
	if (ac == s->cmd)
		s->cmd = NULL;
	else
		s->sub = NULL;
	fail(s, ac->c.errstr[0] ? ac->c.errstr : "connection closed");
}

static redisAsyncContext *
connect_one(struct share *s)
{
	redisAsyncContext *ac = s->path ? redisAsyncConnectUnix(s->path) :
	    redisAsyncConnect(s->host, s->port);
	if (!ac)
		return NULL;
	if (ac->err || redisLibevAttach(s->loop, ac) != REDIS_OK) {
		redisAsyncFree(ac);
		return NULL;
	}
	ac->data = s;
	if (!s->path)
		redisEnableKeepAlive(&ac->c);
	redisAsyncSetConnectCallback(ac, connect_cb);
	redisAsyncSetDisconnectCallback(ac, disconnect_cb);
	return ac;
}

static int
cmdv(redisAsyncContext *ac, redisCallbackFn *cb, void *priv, int argc,
    const char **argv)
{
	size_t len[8];
	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	return redisAsyncCommandArgv(ac, cb, priv, argc, argv, len);
}

/* An error reply in the handshake ends the session. */
static void
handshake_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct share *s = ac->data;
	redisReply *r = reply;
	(void)priv;
	if (r && r->type == REDIS_REPLY_ERROR) {
		char why[300];
		snprintf(why, sizeof(why), "%s", r->str);
		fail(s, why);
	}
}

/* ---- merging ---- */

static void
queue_clear(struct share *s)
{
	for (size_t i = 0; i < s->nqueue; i++) {
		free(s->queue[i].field);
		free(s->queue[i].value);
	}
	free(s->queue);
	s->queue = NULL;
	s->nqueue = 0;
}

static void edit_cb(redisAsyncContext *, void *, void *);

/* Pushes one edit; edit_cb() takes it off the queue once Redis has it.
 * (An edit of this host's own, not queued, goes out with queued 0.) */
static void
send_edit(struct share *s, const char *field, const char *value, int queued)
{
	char ms[24];
	struct edit *e = NULL;
	snprintf(ms, sizeof(ms), "%lld", strtoll(value, NULL, 10));
	const char *eval[] = { "EVAL", set_if_newer, "2", s->hkey, s->chan,
	    field, value, ms };
	if (queued && (e = malloc(sizeof(*e)))) {
		e->field = strdup(field);
		e->value = strdup(value);
		if (!e->field || !e->value) {
			free(e->field);
			free(e->value);
			free(e);
			e = NULL;
		}
	}
	if (cmdv(s->cmd, edit_cb, e, 8, eval) != REDIS_OK && e) {
		free(e->field);
		free(e->value);
		free(e);
	}
}

/* ---- the queue of edits made while Redis was away ---- */

static int
queue_put(struct share *s, const char *field, const char *value)
{
	/* the newest edit of a field replaces a queued one */
	for (size_t i = 0; i < s->nqueue; i++)
		if (strcmp(s->queue[i].field, field) == 0) {
			char *v = strdup(value);
			if (!v)
				return -1;
			free(s->queue[i].value);
			s->queue[i].value = v;
			return 0;
		}
	if (s->nqueue == QUEUE_MAX)
		return -1;
	struct edit *q = realloc(s->queue, (s->nqueue + 1) * sizeof(*q));
	if (!q)
		return -1;
	s->queue = q;
	q[s->nqueue].field = strdup(field);
	q[s->nqueue].value = strdup(value);
	if (!q[s->nqueue].field || !q[s->nqueue].value) {
		free(q[s->nqueue].field);
		free(q[s->nqueue].value);
		return -1;
	}
	s->nqueue++;
	return 0;
}

/* Appends one edit to the queue file ("FIELD TAB VALUE", fsync'ed):
 * records never hold a TAB, their fields are %-escaped. */
static void
queue_save(struct share *s, const char *field, const char *value)
{
	int fd = s->qpath ? open(s->qpath, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC, 0600) : -1;
	FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
	if (!f && fd >= 0)
		close(fd);
	if (!f || fprintf(f, "%s\t%s\n", field, value) < 0 || fflush(f) != 0 ||
	    fsync(fileno(f)) < 0)
		log_warn("redis %s: cannot keep an edit for later in %s", s->name,
		    s->qpath ? s->qpath : "state-dir");
	if (f)
		fclose(f);
}

static void
queue_load(struct share *s)
{
	FILE *f = s->qpath ? fopen(s->qpath, "r") : NULL;
	char line[VALUE_MAX + 256];
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
		if (!tab || !nl)
			continue;	/* torn last line */
		*tab = *nl = '\0';
		queue_put(s, line, tab + 1);
	}
	fclose(f);
}

static int
queued(const struct share *s, const char *field)
{
	for (size_t i = 0; i < s->nqueue; i++)
		if (strcmp(s->queue[i].field, field) == 0)
			return 1;
	return 0;
}

/* Redis has field's value (or a newer one): off the queue, unless an
 * edit newer than the one sent is waiting; the file goes with the last. */
static void
queue_done(struct share *s, const char *field, const char *value)
{
	for (size_t i = 0; i < s->nqueue; i++) {
		if (strcmp(s->queue[i].field, field) != 0)
			continue;
		if (strcmp(s->queue[i].value, value) != 0)
			return;
		free(s->queue[i].field);
		free(s->queue[i].value);
		s->queue[i] = s->queue[--s->nqueue];
		break;
	}
	if (s->nqueue == 0 && s->qpath && unlink(s->qpath) < 0 &&
	    errno != ENOENT)
		log_warn("redis %s: %s", s->name, s->qpath);
}

static void hget_cb(redisAsyncContext *, void *, void *);

static void
edit_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct share *s = ac->data;
	redisReply *r = reply;
	struct edit *e = priv;
	if (r && r->type == REDIS_REPLY_INTEGER) {
		if (e)
			queue_done(s, e->field, e->value);
		if (r->integer == 0 && e && s->cmd) {
			/* another host's edit is newer: take it */
			char *field = strdup(e->field);
			const char *hget[] = { "HGET", s->hkey, field };
			if (field && cmdv(s->cmd, hget_cb, field, 3, hget) != REDIS_OK)
				free(field);
		}
	} else if (r) {
		/* READONLY, MISCONF, OOM...: the edit stays queued (on disk)
		 * and goes out again with the next session */
		char why[300];
		snprintf(why, sizeof(why), "writing an edit: %s",
		    r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
		fail(s, why);
	}
	if (e) {
		free(e->field);
		free(e->value);
		free(e);
	}
}

static void
field_of(const struct journal_entry *e, char *buf, size_t size)
{
	char ip[64];
	addr_ntop(&e->net.ip, ip, sizeof(ip));
	snprintf(buf, size, "%s %s/%d", e->list, ip, e->net.len);
}

/* Applies one value read from Redis to the journal when it is newer
 * than what this host has.  Returns 1 when the entries changed. */
static int
apply(struct share *s, const char *field, const char *value)
{
	struct journal *j = *s->journal;
	char buf[VALUE_MAX], want[200], err[256];
	struct journal_entry e;
	int del;
	const char *why;
	char *rec;
	long long ms;
	if (!j || strlen(value) >= sizeof(buf))
		return 0;
	snprintf(buf, sizeof(buf), "%s", value);
	ms = strtoll(buf, &rec, 10);
	if (ms <= 0 || *rec != ' ' || journal_parse(rec + 1, &e, &del, &why) < 0) {
		log_warnx("redis %s: %s: ignoring \"%s\": %s", s->name, s->hkey,
		    field, why ? why : "bad time");
		return 0;
	}
	field_of(&e, want, sizeof(want));
	if (strcmp(want, field) != 0)
		return 0;
	if (queued(s, field))
		return 0;	/* ours waits to be pushed; Redis decides then */
	const struct journal_entry *mine = journal_find(j, e.list, &e.net, 0);
	int64_t now = clock_wall();
	if (mine && mine->added * 1000 > ms)
		return 0;		/* ours is newer: pushed at catch-up */
	if (del) {
		if (!mine)
			return 0;
		if (journal_del(j, e.list, &e.net, err, sizeof(err)) < 0) {
			log_warnx("redis %s: cannot apply \"%s\": %s", s->name, field,
			    err);
			return 0;
		}
		log_info("list \"%s\": %s deleted by another host (via redis)",
		    e.list, field + strlen(e.list) + 1);
		return 1;
	}
	if (e.expires && e.expires <= now) {
		/* a newer edit that has run out: nothing of ours stays */
		if (!mine || journal_del(j, e.list, &e.net, err, sizeof(err)) < 0)
			return 0;
		return 1;
	}
	if (mine && mine->added == e.added && mine->expires == e.expires &&
	    strcmp(mine->reason, e.reason) == 0 &&
	    strcmp(mine->origin, e.origin) == 0)
		return 0;
	if (journal_add(j, &e, err, sizeof(err)) < 0) {
		log_warnx("redis %s: cannot apply \"%s\": %s", s->name, field, err);
		return 0;
	}
	log_info("list \"%s\": %s added by %s (via redis)", e.list,
	    field + strlen(e.list) + 1, e.origin);
	return 1;
}

static void
publish_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct share *s = t->data;
	(void)loop;
	(void)revents;
	s->changed();
}

/* One new snapshot for all the edits applied in this loop iteration: a
 * burst from another host costs one rebuild, not one per edit. */
static void
changed_soon(struct share *s)
{
	if (!ev_is_active(&s->publish))
		ev_timer_start(s->loop, &s->publish);
}

static void
hget_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct share *s = ac->data;
	redisReply *r = reply;
	char *field = priv;
	if (r && r->type == REDIS_REPLY_STRING && apply(s, field, r->str))
		changed_soon(s);
	free(field);
}

struct seen {
	const char *field;
	long long ms;
};

static int
cmp_seen(const void *a, const void *b)
{
	return strcmp(((const struct seen *)a)->field,
	    ((const struct seen *)b)->field);
}

/* The whole hash: merge it, push what this host has newer or alone,
 * drop old tombstones.  The session is up from here. */
static void
hgetall_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct share *s = ac->data;
	redisReply *r = reply;
	(void)priv;
	if (!r || s->state != S_SETUP)
		return;
	if (r->type != REDIS_REPLY_ARRAY) {
		fail(s, r->type == REDIS_REPLY_ERROR ? r->str : "bad HGETALL reply");
		return;
	}
	int changed = 0;
	size_t n = r->elements / 2;
	struct seen *seen = calloc(n + 1, sizeof(*seen));
	size_t k = 0;
	int64_t now_ms = clock_wall() * 1000;
	for (size_t i = 0; i < n; i++) {
		redisReply *f = r->element[2 * i], *v = r->element[2 * i + 1];
		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		long long ms = strtoll(v->str, NULL, 10), exp = 0;
		if (seen) {
			seen[k].field = f->str;
			seen[k++].ms = ms;
		}
		const char *sp = strchr(v->str, ' ');
		/* "MS add CRC ADDED EXPIRES ..." */
		if (sp && strncmp(sp + 1, "add ", 4) == 0)
			sscanf(sp + 1, "add %*s %*s %lld", &exp);
		if (sp && ((strncmp(sp + 1, "del ", 4) == 0 &&
		    ms < now_ms - TOMBSTONE_MS) ||
		    (exp > 0 && exp * 1000 < now_ms - TOMBSTONE_MS))) {
			const char *hdel[] = { "HDEL", s->hkey, f->str };
			cmdv(s->cmd, NULL, NULL, 3, hdel);
			continue;
		}
		changed |= apply(s, f->str, v->str);
	}
	/* what this host has newer (made while Redis was away) or alone
	 * (added before sharing) goes out now; the script keeps whatever
	 * another host wrote meanwhile if that is newer still */
	struct journal *j = *s->journal;
	if (j && seen) {
		qsort(seen, k, sizeof(*seen), cmp_seen);
		const struct journal_entry *e;
		size_t ne = journal_entries(j, clock_wall(), &e);
		for (size_t i = 0; i < ne; i++) {
			char field[200], rec[VALUE_MAX], value[VALUE_MAX + 24];
			struct seen key = { field, 0 }, *hit;
			field_of(&e[i], field, sizeof(field));
			hit = bsearch(&key, seen, k, sizeof(*seen), cmp_seen);
			if ((hit && hit->ms >= (long long)e[i].added * 1000) ||
			    !journal_record(rec, sizeof(rec), 0, &e[i]))
				continue;
			snprintf(value, sizeof(value), "%lld %s",
			    (long long)e[i].added * 1000, rec);
			send_edit(s, field, value, 0);
		}
	}
	free(seen);
	s->ping_out = 0;
	timer_at(s, S_UP, KEEPALIVE_SEC);
	s->backoff = BACKOFF_MIN;
	s->quiet = 0;
	log_info("redis %s: sharing run-time entries (%zu in Redis)", s->name, n);
	if (changed)
		changed_soon(s);
}

/* Both connections ready: push the queue, then read everything. */
static void
both_ready(struct share *s)
{
	if (!s->cmd_ok || !s->sub_ok || s->state != S_SETUP)
		return;
	for (size_t i = 0; i < s->nqueue; i++)
		send_edit(s, s->queue[i].field, s->queue[i].value, 1);
	const char *all[] = { "HGETALL", s->hkey };
	cmdv(s->cmd, hgetall_cb, NULL, 2, all);
}

static void
ping_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct share *s = ac->data;
	redisReply *r = reply;
	(void)priv;
	if (!r || r->type == REDIS_REPLY_ERROR)
		return;		/* handshake_cb said why */
	s->cmd_ok = 1;
	both_ready(s);
}

static void
sub_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct share *s = ac->data;
	redisReply *r = reply;
	(void)priv;
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return;
	const char *kind = r->element[0]->str;
	if (strcmp(kind, "subscribe") == 0) {
		s->sub_ok = 1;
		both_ready(s);
	} else if (strcmp(kind, "message") == 0 &&
	    (s->state == S_UP || s->state == S_SETUP) &&
	    r->element[2]->type == REDIS_REPLY_STRING && s->cmd) {
		/* during set-up too: the reply comes after the hash's, or
		 * the merge takes the newer value either way */
		char *field = strdup(r->element[2]->str);
		const char *hget[] = { "HGET", s->hkey, field };
		if (field && cmdv(s->cmd, hget_cb, field, 3, hget) != REDIS_OK)
			free(field);
	}
}

static void
session_start(struct share *s)
{
	char db[16];
	snprintf(db, sizeof(db), "%d", s->db);
	const char *auth[] = { "AUTH", s->password };
	const char *sel[] = { "SELECT", db };
	const char *ping[] = { "PING" };
	const char *subs[] = { "SUBSCRIBE", s->chan };
	s->cmd = connect_one(s);
	s->sub = connect_one(s);
	timer_at(s, S_SETUP, SETUP_SEC);
	if (!s->cmd || !s->sub) {
		fail(s, "cannot connect");
		return;
	}
	if (s->password) {
		cmdv(s->cmd, handshake_cb, NULL, 2, auth);
		cmdv(s->sub, handshake_cb, NULL, 2, auth);
	}
	if (s->db)
		cmdv(s->cmd, handshake_cb, NULL, 2, sel);
	cmdv(s->cmd, handshake_cb, NULL, 1, ping);
	cmdv(s->cmd, ping_cb, NULL, 1, ping);
	cmdv(s->sub, sub_cb, NULL, 2, subs);
}

/* ---- API ---- */

struct share *
share_new(const struct config *cfg, struct ev_loop *loop,
    struct journal **journal, void (*changed)(void))
{
	struct share *s = calloc(1, sizeof(*s));
	const char *addr = cfg->redis.address;
	if (!s)
		return NULL;
	s->loop = loop;
	s->journal = journal;
	s->changed = changed;
	s->db = cfg->redis.db;
	s->backoff = BACKOFF_MIN;
	s->name = strdup(addr);
	if (asprintf(&s->hkey, "%sv1:entries", cfg->redis.prefix) < 0)
		s->hkey = NULL;
	if (asprintf(&s->chan, "%sv1:events", cfg->redis.prefix) < 0)
		s->chan = NULL;
	if (cfg->redis.password)
		s->password = strdup(cfg->redis.password);
	if (strncmp(addr, "unix:", 5) == 0)
		s->path = strdup(addr + 5);
	else {
		struct sockaddr_storage ss;
		socklen_t len;
		const char *err;
		char ip[64];
		if (addr_parse_sockaddr(addr, 6379, &ss, &len, &err) == 0) {
			struct ipaddr a;
			addr_from_sockaddr((struct sockaddr *)&ss, &a);
			addr_ntop(&a, ip, sizeof(ip));
			s->host = strdup(ip);
			s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		}
	}
	if (!s->name || !s->hkey || !s->chan || (!s->path && !s->host)) {
		share_free(s);
		return NULL;
	}
	if (cfg->state_dir && asprintf(&s->qpath, "%s/redis-queue",
	    cfg->state_dir) < 0)
		s->qpath = NULL;
	queue_load(s);
	ev_init(&s->timer, timer_cb);
	s->timer.data = s;
	ev_timer_init(&s->publish, publish_cb, 0., 0.);
	s->publish.data = s;
	session_start(s);
	return s;
}

void
share_free(struct share *s)
{
	if (!s)
		return;
	if (s->loop) {
		ev_timer_stop(s->loop, &s->timer);
		ev_timer_stop(s->loop, &s->publish);
	}
	s->state = S_DYING;
	drop_connections(s);
	queue_clear(s);
	free(s->name);
	free(s->host);
	free(s->path);
	free(s->password);
	free(s->hkey);
	free(s->chan);
	free(s->qpath);
	free(s);
}

void
share_edit(struct share *s, int del, const struct journal_entry *e,
    int64_t when_ms)
{
	char field[200], rec[VALUE_MAX], value[VALUE_MAX + 24];
	if (!s || !journal_record(rec, sizeof(rec), del, e))
		return;
	field_of(e, field, sizeof(field));
	snprintf(value, sizeof(value), "%lld %s", (long long)when_ms, rec);
	/* queued (and on disk) until Redis confirms it: a session that
	 * breaks in between pushes it again */
	if (queue_put(s, field, value) < 0) {
		log_warnx("redis %s: too many edits waiting for Redis; \"%s\" "
		    "stays on this host", s->name, field);
		return;
	}
	queue_save(s, field, value);
	if (s->state == S_UP && s->cmd)
		send_edit(s, field, value, 1);
}

int
share_is_up(const struct share *s)
{
	return s && s->state == S_UP;
}
