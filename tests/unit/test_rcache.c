/* test_rcache.c -- the Redis client against a real redis-server.
 *
 * Each case gets its own redis-server (--save '' --appendonly no, on a
 * free loopback port and a unix socket in a mkdtemp dir, its output in
 * DIR/redis.log), started by fork/exec and stopped by PID in the
 * teardown, and its own libev loop.  Waiting means running that loop
 * until a condition holds, each wait bounded to a few seconds; outages
 * are SIGKILL, SIGSTOP and DEBUG SLEEP.  A "side" connection (hiredis,
 * synchronous: the test may block) looks at the server behind rcache's
 * back.  The log goes to stderr and is captured where a case checks
 * that a state change is said once.
 *
 * Callbacks only record (no cmocka assert inside hiredis): results live
 * in the fixture so that a failed case's teardown, which frees the
 * rcache and so runs the callbacks still due, writes to live memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "config.h"
#include "log.h"
#include "rcache.h"

#include "testutil.h"

#define TIMEOUT_MS	30
#define SLACK		0.050	/* a GET's answer is due by timeout + this */
#define WAIT		5.0	/* the longest any condition is waited for */

/* ---- fixture ---- */

struct res {
	int called;		/* must end at exactly 1 */
	int result;
	char val[64];
	size_t len;
	double at;		/* now() when called */
	unsigned iter;		/* ev_iteration() when called */
};

struct fx {
	struct ev_loop *loop;
	char dir[64];
	char sock[128];
	char addr[160];
	int port;
	pid_t pid;		/* redis-server, or 0 */
	const char *password;	/* the server's requirepass, for the side */
	struct config *cfg;
	struct rcache *rc;
	struct res res[32];
	struct capture cap;
	int capturing;
	char log[16384];
};

static struct ev_loop *cur_loop;
static int answered;		/* callbacks so far in this case */
static int reentered;		/* callbacks made from inside rcache_get */
static int in_get;
static int counts[3];		/* results of the callbacks without a res */

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
get_cb(void *arg, int result, const char *val, size_t len)
{
	struct res *r = arg;
	if (in_get)
		reentered++;
	answered++;
	if (!r) {
		counts[result]++;
		return;
	}
	r->called++;
	r->result = result;
	r->len = len;
	size_t n = len < sizeof(r->val) - 1 ? len : sizeof(r->val) - 1;
	if (n)
		memcpy(r->val, val, n);
	r->val[n] = '\0';
	r->at = now();
	r->iter = ev_iteration(cur_loop);
}

static int
get(struct fx *f, const char *key, struct res *r)
{
	in_get = 1;
	int x = rcache_get(f->rc, key, strlen(key), get_cb, r);
	in_get = 0;
	return x;
}

static void
set(struct fx *f, const char *key, const char *val, uint64_t ttl_ms)
{
	rcache_set(f->rc, key, strlen(key), val, strlen(val), ttl_ms);
}

/* ---- waiting ---- */

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

/* Runs the loop until cond(arg) or secs have passed; returns cond. */
static int
run_until(struct fx *f, int (*cond)(struct fx *, int), int arg, double secs)
{
	ev_timer tick;
	ev_timer_init(&tick, tick_cb, 0.002, 0.002);
	ev_timer_start(f->loop, &tick);
	double end = now() + secs;
	int ok;
	while (!(ok = cond(f, arg)) && now() < end)
		ev_run(f->loop, EVRUN_ONCE);
	ev_timer_stop(f->loop, &tick);
	return ok;
}

static int
never(struct fx *f, int arg)
{
	(void)f;
	(void)arg;
	return 0;
}

static int
up_is(struct fx *f, int want)
{
	return rcache_is_up(f->rc) == want;
}

static int
answered_at_least(struct fx *f, int n)
{
	(void)f;
	return answered >= n;
}

static void
pump(struct fx *f, double secs)
{
	run_until(f, never, 0, secs);
}

static void
wait_up(struct fx *f)
{
	if (!run_until(f, up_is, 1, WAIT))
		fail_msg("redis not up within %.0f s", WAIT);
}

static void
wait_answered(struct fx *f, int n)
{
	if (!run_until(f, answered_at_least, n, WAIT))
		fail_msg("%d of %d GETs answered within %.0f s", answered, n,
		    WAIT);
	assert_int_equal(reentered, 0);
}

/* ---- redis-server ---- */

static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	close(s);
	return ntohs(sin.sin_port);
}

static redisContext *
side(struct fx *f)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectUnixWithTimeout(f->sock, tv);
	assert_non_null(c);
	if (c->err)
		fail_msg("side connection: %s", c->errstr);
	if (f->password) {
		redisReply *r = redisCommand(c, "AUTH %s", f->password);
		assert_non_null(r);
		assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
		freeReplyObject(r);
	}
	return c;
}

/* The side connection's reply to one command; the caller frees it. */
static redisReply *
side_cmd(struct fx *f, const char *fmt, ...)
{
	va_list ap;
	redisContext *c = side(f);
	va_start(ap, fmt);
	redisReply *r = redisvCommand(c, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	redisFree(c);
	return r;
}

/* Starts redis-server on f->port and f->sock, bound to bind, and waits
 * until it answers on the socket. */
static void
redis_start(struct fx *f, const char *bind, const char *password)
{
	char port[16], logpath[128];
	snprintf(port, sizeof(port), "%d", f->port);
	snprintf(logpath, sizeof(logpath), "%s/redis.log", f->dir);
	f->password = password;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { "redis-server", "--save", "", "--appendonly",
		    "no", "--port", port, "--bind", (char *)bind,
		    "--unixsocket", f->sock, "--dir", f->dir,
		    "--enable-debug-command", "yes", "--requirepass",
		    (char *)password, NULL };
		if (!password)
			argv[15] = NULL;
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0)
			_exit(126);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		/* keep none of the test's sockets (rcache's included) open */
		for (int i = 3; i < 1024; i++)
			close(i);
		execvp("redis-server", argv);
		_exit(127);
	}
	f->pid = pid;
	for (int i = 0; i < 1000; i++) {
		struct timeval tv = { 1, 0 };
		redisContext *c = redisConnectUnixWithTimeout(f->sock, tv);
		if (c && !c->err) {
			redisReply *r = redisCommand(c, "PING");
			int ok = r != NULL;
			freeReplyObject(r);
			redisFree(c);
			if (ok)
				return;
		} else if (c)
			redisFree(c);
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			f->pid = 0;
			fail_msg("redis-server exited; see %s", logpath);
		}
		usleep(5000);
	}
	fail_msg("redis-server not ready within 5 s; see %s", logpath);
}

static void
redis_stop(struct fx *f)
{
	if (f->pid <= 0)
		return;
	kill(f->pid, SIGCONT);
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
	f->pid = 0;
}

static void
redis_signal(struct fx *f, int sig)
{
	assert_int_equal(kill(f->pid, sig), 0);
}

/* ---- log capture ---- */

static void
log_begin(struct fx *f)
{
	capture_begin(&f->cap);
	f->capturing = 1;
}

static void
log_end(struct fx *f)
{
	if (!f->capturing)
		return;
	capture_end(&f->cap, f->log, sizeof(f->log));
	f->capturing = 0;
	fputs(f->log, stderr);	/* still shown with the test's output */
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- setup ---- */

static int
setup_absent(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/rblcache-rcache-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/redis.sock", f->dir);
	f->port = free_port();
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", f->port);
	f->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(f->loop);
	cur_loop = f->loop;
	f->cfg = calloc(1, sizeof(*f->cfg));
	assert_non_null(f->cfg);
	f->cfg->redis.enabled = 1;
	f->cfg->redis.address = f->addr;
	f->cfg->redis.prefix = "t:";
	f->cfg->redis.timeout_ms = TIMEOUT_MS;
	answered = reentered = in_get = 0;
	memset(counts, 0, sizeof(counts));
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	setup_absent(state);
	redis_start(*state, "127.0.0.1", NULL);
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	log_end(f);
	rcache_free(f->rc);
	redis_stop(f);
	DIR *d = opendir(f->dir);
	if (d) {
		struct dirent *e;
		char path[512];
		while ((e = readdir(d)))
			if (e->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%s/%s", f->dir,
				    e->d_name);
				unlink(path);
			}
		closedir(d);
	}
	rmdir(f->dir);
	ev_loop_destroy(f->loop);
	free(f->cfg);
	free(f);
	return 0;
}

static void
open_up(struct fx *f)
{
	f->rc = rcache_new(f->cfg, f->loop);
	assert_non_null(f->rc);
	wait_up(f);
}

static void
close_rc(struct fx *f)
{
	rcache_free(f->rc);
	f->rc = NULL;
}

static struct rcache_stats
stats(struct fx *f)
{
	struct rcache_stats s;
	rcache_stats(f->rc, &s);
	return s;
}

/* With nothing outstanding: every GET ended one way. */
static void
assert_consistent(struct fx *f)
{
	struct rcache_stats s = stats(f);
	assert_int_equal(s.gets, s.hits + s.misses + s.errors);
	assert_true(s.timeouts <= s.errors);
	assert_true(s.rtt_count <= s.gets);
	assert_true(s.rtt_us_max * s.rtt_count >= s.rtt_us_sum);
}

/* ---- basic GET / SET / DEL ---- */

static void
test_set_then_get_hits(void **state)
{
	struct fx *f = *state;
	open_up(f);
	set(f, "k1", "value one", 10000);
	assert_int_equal(get(f, "k1", &f->res[0]), 0);
	assert_int_equal(f->res[0].called, 0);	/* never from inside */
	wait_answered(f, 1);
	assert_int_equal(f->res[0].result, RC_HIT);
	assert_int_equal(f->res[0].len, 9);
	assert_string_equal(f->res[0].val, "value one");

	redisReply *r = side_cmd(f, "PTTL k1");
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	assert_true(r->integer > 0 && r->integer <= 10000);
	freeReplyObject(r);
	pump(f, 0.01);
	assert_int_equal(f->res[0].called, 1);
	assert_consistent(f);
}

static void
test_binary_key_and_value(void **state)
{
	struct fx *f = *state;
	open_up(f);
	rcache_set(f->rc, "b\0k", 3, "v\0 \r\n", 5, 10000);
	in_get = 1;
	assert_int_equal(rcache_get(f->rc, "b\0k", 3, get_cb, &f->res[0]), 0);
	in_get = 0;
	wait_answered(f, 1);
	assert_int_equal(f->res[0].result, RC_HIT);
	assert_int_equal(f->res[0].len, 5);
	assert_memory_equal(f->res[0].val, "v\0 \r\n", 5);
}

static void
test_missing_key_misses(void **state)
{
	struct fx *f = *state;
	open_up(f);
	assert_int_equal(get(f, "nothing-here", &f->res[0]), 0);
	wait_answered(f, 1);
	assert_int_equal(f->res[0].result, RC_MISS);
	assert_int_equal(f->res[0].len, 0);
}

static void
test_wrong_type_misses(void **state)
{
	struct fx *f = *state;
	freeReplyObject(side_cmd(f, "RPUSH alist x"));
	open_up(f);
	assert_int_equal(get(f, "alist", &f->res[0]), 0);
	wait_answered(f, 1);
	assert_int_equal(f->res[0].result, RC_MISS);
	assert_true(rcache_is_up(f->rc));
	assert_consistent(f);
}

static void
test_px_expiry_honoured(void **state)
{
	struct fx *f = *state;
	open_up(f);
	set(f, "short", "x", 60);
	assert_int_equal(get(f, "short", &f->res[0]), 0);
	wait_answered(f, 1);
	assert_int_equal(f->res[0].result, RC_HIT);
	pump(f, 0.12);
	assert_int_equal(get(f, "short", &f->res[1]), 0);
	wait_answered(f, 2);
	assert_int_equal(f->res[1].result, RC_MISS);
}

static void
test_zero_ttl_stores_nothing(void **state)
{
	struct fx *f = *state;
	open_up(f);
	set(f, "z", "x", 0);
	assert_int_equal(get(f, "z", &f->res[0]), 0);
	wait_answered(f, 1);
	assert_int_equal(f->res[0].result, RC_MISS);
	assert_int_equal(stats(f).sets, 0);
	assert_int_equal(stats(f).dropped, 0);
}

static void
test_del_removes(void **state)
{
	struct fx *f = *state;
	open_up(f);
	set(f, "gone", "x", 10000);
	rcache_del(f->rc, "gone", 4);
	assert_int_equal(get(f, "gone", &f->res[0]), 0);
	wait_answered(f, 1);
	assert_int_equal(f->res[0].result, RC_MISS);
	redisReply *r = side_cmd(f, "EXISTS gone");
	assert_int_equal(r->integer, 0);
	freeReplyObject(r);
}

/* ---- addresses ---- */

static void
test_unix_socket(void **state)
{
	struct fx *f = *state;
	snprintf(f->addr, sizeof(f->addr), "unix:%s", f->sock);
	open_up(f);
	set(f, "u", "via unix", 10000);
	assert_int_equal(get(f, "u", &f->res[0]), 0);
	wait_answered(f, 1);
	assert_int_equal(f->res[0].result, RC_HIT);
	assert_string_equal(f->res[0].val, "via unix");
	/* and it is rcache's connection that is on the socket */
	redisReply *r = side_cmd(f, "CLIENT LIST");
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	assert_true(count(r->str, f->sock) >= 2);	/* rcache and side */
	freeReplyObject(r);
}

static void
test_ipv6_address(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
	    .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	int ok = s >= 0 &&
	    bind(s, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
	if (s >= 0)
		close(s);
	if (!ok)
		skip();
	redis_start(f, "::1", NULL);
	snprintf(f->addr, sizeof(f->addr), "[::1]:%d", f->port);
	open_up(f);
	set(f, "six", "v6", 10000);
	assert_int_equal(get(f, "six", &f->res[0]), 0);
	wait_answered(f, 1);
	assert_int_equal(f->res[0].result, RC_HIT);
}

static void
test_bad_address_stays_down(void **state)
{
	struct fx *f = *state;
	snprintf(f->addr, sizeof(f->addr), "not-an-address:x");
	log_begin(f);
	f->rc = rcache_new(f->cfg, f->loop);
	assert_non_null(f->rc);
	assert_int_equal(get(f, "k", &f->res[0]), -1);
	pump(f, 0.05);
	log_end(f);
	assert_false(rcache_is_up(f->rc));
	assert_int_equal(answered, 0);
	assert_int_equal(count(f->log, "not using Redis"), 1);
}

/* ---- pipelining and the cap ---- */

static void
test_pipelined_gets(void **state)
{
	struct fx *f = *state;
	static struct res r[100];
	char key[16];
	memset(r, 0, sizeof(r));
	open_up(f);
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "p%d", i);
		freeReplyObject(side_cmd(f, "SET %s val%d", key, i));
	}
	/* 100 GETs in one loop iteration: hiredis writes them together */
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "p%d", i);
		assert_int_equal(get(f, key, &r[i]), 0);
	}
	wait_answered(f, 100);
	unsigned first = r[0].iter, last = r[0].iter;
	for (int i = 0; i < 100; i++) {
		char want[16];
		snprintf(want, sizeof(want), "val%d", i);
		assert_int_equal(r[i].called, 1);
		if (i < 50) {
			assert_int_equal(r[i].result, RC_HIT);
			assert_string_equal(r[i].val, want);
		} else
			assert_int_equal(r[i].result, RC_MISS);
		first = r[i].iter < first ? r[i].iter : first;
		last = r[i].iter > last ? r[i].iter : last;
	}
	/* one round trip, not 100 */
	assert_true(last - first <= 3);
	struct rcache_stats s = stats(f);
	assert_int_equal(s.gets, 100);
	assert_int_equal(s.hits, 50);
	assert_int_equal(s.misses, 50);
	assert_int_equal(s.rtt_count, 100);
}

static void
test_inflight_cap(void **state)
{
	struct fx *f = *state;
	f->cfg->redis.timeout_ms = 3000;
	open_up(f);
	int n = 0;
	while (n < RCACHE_MAX_INFLIGHT + 10 &&
	    rcache_get(f->rc, "cap", 3, get_cb, NULL) == 0)
		n++;
	assert_int_equal(n, RCACHE_MAX_INFLIGHT);
	set(f, "cap", "x", 1000);
	rcache_del(f->rc, "cap", 3);
	assert_int_equal(stats(f).dropped, 2);
	assert_int_equal(stats(f).sets, 0);
	wait_answered(f, n);
	assert_int_equal(counts[RC_MISS], n);
	/* room again */
	assert_int_equal(get(f, "cap", &f->res[0]), 0);
	wait_answered(f, n + 1);
	assert_consistent(f);
}

/* ---- Redis absent, killed, stopped, sleeping ---- */

static void
test_absent_at_start(void **state)
{
	struct fx *f = *state;
	log_begin(f);
	f->rc = rcache_new(f->cfg, f->loop);
	assert_non_null(f->rc);
	double t0 = now();
	for (int i = 0; i < 1000; i++)
		assert_int_equal(get(f, "k", &f->res[0]), -1);
	set(f, "k", "v", 1000);
	/* costs nothing per query: no connect attempt per call */
	assert_true(now() - t0 < 0.1);
	pump(f, 0.35);			/* a few retries */
	assert_int_equal(answered, 0);
	assert_false(rcache_is_up(f->rc));
	struct rcache_stats s = stats(f);
	assert_int_equal(s.up, 0);
	assert_int_equal(s.gets, 0);
	assert_int_equal(s.dropped, 1);

	redis_start(f, "127.0.0.1", NULL);
	t0 = now();
	wait_up(f);
	assert_true(now() - t0 < 1.5);	/* the backoff is still short */
	log_end(f);
	assert_int_equal(count(f->log, "unreachable"), 1);
	assert_int_equal(count(f->log, "Connection refused"), 1);
	assert_int_equal(count(f->log, ": connected"), 1);
	assert_int_equal(stats(f).up, 1);
	assert_int_equal(stats(f).reconnects, 0);
	assert_int_equal(answered, 0);
}

static void
test_killed_and_restarted(void **state)
{
	struct fx *f = *state;
	f->cfg->redis.timeout_ms = 2000;	/* the loss, not a deadline */
	open_up(f);
	set(f, "k", "v", 10000);
	assert_int_equal(get(f, "k", &f->res[0]), 0);
	wait_answered(f, 1);
	assert_int_equal(f->res[0].result, RC_HIT);

	log_begin(f);
	for (int i = 1; i <= 20; i++)
		assert_int_equal(get(f, "k", &f->res[i]), 0);
	redis_stop(f);			/* SIGKILL under use */
	wait_answered(f, 21);
	for (int i = 1; i <= 20; i++) {
		assert_int_equal(f->res[i].called, 1);
		assert_int_equal(f->res[i].result, RC_ERROR);
	}
	assert_int_equal(stats(f).timeouts, 0);
	assert_int_equal(get(f, "k", &f->res[21]), -1);
	assert_false(rcache_is_up(f->rc));
	pump(f, 0.3);			/* refused retries meanwhile */

	redis_start(f, "127.0.0.1", NULL);
	wait_up(f);
	log_end(f);
	assert_int_equal(count(f->log, "connection lost"), 1);
	assert_int_equal(count(f->log, "unreachable"), 0);
	assert_int_equal(count(f->log, ": connected"), 1);
	set(f, "k", "again", 10000);
	assert_int_equal(get(f, "k", &f->res[22]), 0);
	wait_answered(f, 22);
	assert_int_equal(f->res[22].result, RC_HIT);
	assert_string_equal(f->res[22].val, "again");
	struct rcache_stats s = stats(f);
	assert_int_equal(s.reconnects, 1);
	assert_int_equal(s.errors, 20);
	assert_consistent(f);
}

/* GETs sent at t0 to a Redis that does not answer. */
static void
assert_all_timed_out(struct fx *f, int from, int n, double t0)
{
	for (int i = from; i < from + n; i++) {
		assert_int_equal(f->res[i].called, 1);
		assert_int_equal(f->res[i].result, RC_ERROR);
		double late = f->res[i].at - t0;
		if (late >= TIMEOUT_MS / 1000. + SLACK)
			fail_msg("GET %d answered after %.1f ms", i, late * 1e3);
		assert_true(late >= TIMEOUT_MS / 1000. - 0.002);
	}
}

static void
test_sigstop_times_out(void **state)
{
	struct fx *f = *state;
	open_up(f);
	set(f, "k", "v", 10000);
	assert_int_equal(get(f, "k", &f->res[0]), 0);
	wait_answered(f, 1);

	log_begin(f);
	redis_signal(f, SIGSTOP);
	double t0 = now();
	for (int i = 1; i <= 10; i++)
		assert_int_equal(get(f, "k", &f->res[i]), 0);
	wait_answered(f, 11);
	assert_all_timed_out(f, 1, 10, t0);
	struct rcache_stats s = stats(f);
	assert_int_equal(s.timeouts, 10);
	assert_int_equal(s.errors, 10);
	/* declared down: the next GET costs nothing */
	assert_int_equal(get(f, "k", &f->res[11]), -1);
	assert_int_equal(stats(f).up, 0);
	pump(f, 0.3);			/* a reconnect is tried and hangs */
	assert_false(rcache_is_up(f->rc));

	redis_signal(f, SIGCONT);
	wait_up(f);
	log_end(f);
	assert_int_equal(count(f->log, "not answering within 30 ms"), 1);
	assert_int_equal(count(f->log, "retrying with backoff"), 1);
	assert_int_equal(count(f->log, ": connected"), 1);
	assert_int_equal(get(f, "k", &f->res[12]), 0);
	wait_answered(f, 12);
	assert_int_equal(f->res[12].result, RC_HIT);
	pump(f, 0.02);
	for (int i = 1; i <= 10; i++)
		assert_int_equal(f->res[i].called, 1);
	assert_consistent(f);
}

static void
test_debug_sleep_times_out(void **state)
{
	struct fx *f = *state;
	open_up(f);
	set(f, "k", "v", 10000);

	/* DEBUG SLEEP on the side, without waiting for its reply */
	redisContext *c = side(f);
	int done = 0;
	assert_int_equal(redisAppendCommand(c, "DEBUG SLEEP 0.5"), REDIS_OK);
	while (!done)
		assert_int_equal(redisBufferWrite(c, &done), REDIS_OK);
	usleep(20000);			/* it is asleep */
	double t0 = now();
	for (int i = 0; i < 5; i++)
		assert_int_equal(get(f, "k", &f->res[i]), 0);
	wait_answered(f, 5);
	assert_all_timed_out(f, 0, 5, t0);
	assert_int_equal(get(f, "k", &f->res[5]), -1);

	wait_up(f);			/* after it wakes */
	redisFree(c);
	assert_int_equal(get(f, "k", &f->res[6]), 0);
	wait_answered(f, 6);
	assert_int_equal(f->res[6].result, RC_HIT);
	assert_consistent(f);
}

static void
test_late_reply_ignored(void **state)
{
	struct fx *f = *state;
	open_up(f);
	set(f, "k", "v", 10000);
	redis_signal(f, SIGSTOP);
	assert_int_equal(get(f, "k", &f->res[0]), 0);
	wait_answered(f, 1);
	assert_int_equal(f->res[0].result, RC_ERROR);
	/* one timeout is not an outage */
	assert_true(rcache_is_up(f->rc));
	redis_signal(f, SIGCONT);
	/* the late reply comes first and is dropped; this one is ours */
	assert_int_equal(get(f, "k", &f->res[1]), 0);
	wait_answered(f, 2);
	assert_int_equal(f->res[0].called, 1);
	assert_int_equal(f->res[1].called, 1);
	assert_int_equal(f->res[1].result, RC_HIT);
	struct rcache_stats s = stats(f);
	assert_int_equal(s.timeouts, 1);
	assert_int_equal(s.hits, 1);
	assert_int_equal(s.rtt_count, 1);
	assert_consistent(f);
}

/* ---- AUTH and SELECT ---- */

static void
test_wrong_password_never_up(void **state)
{
	struct fx *f = *state;
	redis_start(f, "127.0.0.1", "secret");
	f->cfg->redis.password = "wrong";
	log_begin(f);
	f->rc = rcache_new(f->cfg, f->loop);
	assert_non_null(f->rc);
	pump(f, 0.5);			/* several attempts */
	assert_false(rcache_is_up(f->rc));
	assert_int_equal(get(f, "k", &f->res[0]), -1);
	log_end(f);
	assert_int_equal(count(f->log, "authentication failed"), 1);
	assert_int_equal(count(f->log, "WRONGPASS"), 1);
	assert_int_equal(count(f->log, ": connected"), 0);
}

static void
test_password_authenticates(void **state)
{
	struct fx *f = *state;
	redis_start(f, "127.0.0.1", "secret");
	f->cfg->redis.password = "secret";
	open_up(f);
	set(f, "k", "v", 10000);
	assert_int_equal(get(f, "k", &f->res[0]), 0);
	wait_answered(f, 1);
	assert_int_equal(f->res[0].result, RC_HIT);
}

static void
test_db_select(void **state)
{
	struct fx *f = *state;
	f->cfg->redis.db = 3;
	open_up(f);
	freeReplyObject(side_cmd(f, "SET other db0"));
	set(f, "dbk", "in three", 10000);
	assert_int_equal(get(f, "dbk", &f->res[0]), 0);
	assert_int_equal(get(f, "other", &f->res[1]), 0);
	wait_answered(f, 2);
	assert_int_equal(f->res[0].result, RC_HIT);
	assert_int_equal(f->res[1].result, RC_MISS);

	redisContext *c = side(f);
	redisReply *r = redisCommand(c, "GET dbk");
	assert_int_equal(r->type, REDIS_REPLY_NIL);	/* not in db 0 */
	freeReplyObject(r);
	freeReplyObject(redisCommand(c, "SELECT 3"));
	r = redisCommand(c, "GET dbk");
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	assert_string_equal(r->str, "in three");
	freeReplyObject(r);
	redisFree(c);
}

/* ---- rcache_free ---- */

static void
test_free_answers_outstanding(void **state)
{
	struct fx *f = *state;
	f->cfg->redis.timeout_ms = 2000;
	open_up(f);
	redis_signal(f, SIGSTOP);
	for (int i = 0; i < 3; i++)
		assert_int_equal(get(f, "k", &f->res[i]), 0);
	pump(f, 0.02);			/* written, unanswered */
	for (int i = 3; i < 5; i++)	/* and two not even written */
		assert_int_equal(get(f, "k", &f->res[i]), 0);
	assert_int_equal(answered, 0);
	close_rc(f);
	assert_int_equal(answered, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(f->res[i].called, 1);
		assert_int_equal(f->res[i].result, RC_ERROR);
	}
	assert_int_equal(reentered, 0);
}

static void
test_free_in_any_state(void **state)
{
	struct fx *f = *state;
	/* right after new: connecting, nothing run */
	f->rc = rcache_new(f->cfg, f->loop);
	close_rc(f);
	/* connecting to a stopped server (PING unanswered) */
	redis_signal(f, SIGSTOP);
	f->rc = rcache_new(f->cfg, f->loop);
	pump(f, 0.05);
	assert_false(rcache_is_up(f->rc));
	close_rc(f);
	/* given up after timeouts, before the DYING timer runs */
	redis_signal(f, SIGCONT);
	f->rc = rcache_new(f->cfg, f->loop);
	wait_up(f);
	redis_signal(f, SIGSTOP);
	for (int i = 0; i < 3; i++)
		assert_int_equal(get(f, "k", &f->res[i]), 0);
	wait_answered(f, 3);
	assert_false(rcache_is_up(f->rc));
	close_rc(f);
	redis_signal(f, SIGCONT);
	/* backing off from a dead server */
	redis_stop(f);
	f->rc = rcache_new(f->cfg, f->loop);
	pump(f, 0.15);
	close_rc(f);
	assert_int_equal(answered, 3);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);	/* as the daemon does */
	log_init("test_rcache", 1, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_then_get_hits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_key_and_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_key_misses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_type_misses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_px_expiry_honoured, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_ttl_stores_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del_removes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unix_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_address, setup_absent, teardown),
		cmocka_unit_test_setup_teardown(test_bad_address_stays_down, setup_absent, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_gets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent_at_start, setup_absent, teardown),
		cmocka_unit_test_setup_teardown(test_killed_and_restarted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigstop_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_sleep_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_reply_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_password_never_up, setup_absent, teardown),
		cmocka_unit_test_setup_teardown(test_password_authenticates, setup_absent, teardown),
		cmocka_unit_test_setup_teardown(test_db_select, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_answers_outstanding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_in_any_state, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
