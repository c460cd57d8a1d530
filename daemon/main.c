/* main.c -- rblcached: command line, start-up, reloads, shutdown.
 *
 * The main thread owns the config and the lists: it loads them, builds a
 * snapshot aside, publishes it to the workers and frees retired
 * snapshots once no worker holds them.  It watches the list files (a 1 s
 * stat poll, which also catches editors that replace the file) and
 * reloads everything on SIGHUP.  A reload that fails keeps the old data.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "cache.h"
#include "clock.h"
#include "config.h"
#include "control.h"
#include "dns.h"
#include "iptrie.h"
#include "journal.h"
#include "lists.h"
#include "log.h"
#include "metrics.h"
#include "query.h"
#include "querylog.h"
#include "server.h"
#include "share.h"
#include "stats.h"
#include "upstream.h"

#define RETIRED_MAX	64
#define JOURNAL_COMPACT_RECORDS	1000
#define EXPIRE_LOG_MAX	10	/* expiry lines a second */

static struct {
	struct config *cfg;
	struct server *srv;
	struct upstream *up;
	struct cache *cache;	/* NULL when cache.max-memory is 0 */
	struct journal *journal;	/* NULL when state-dir is unusable */
	char journal_err[256];
	struct control *control;
	struct share *share;		/* run-time entries through Redis */
	struct admin adm;		/* what rblctl's commands see */
	struct stats_main counters;	/* reloads, rblctl commands */
	struct metrics *metrics;	/* NULL: no metrics endpoint */
	struct querylog *qlog;		/* NULL: no query log */
	char origin[JOURNAL_ORIGIN_MAX];
	uint32_t gen;		/* of the last snapshot built */
	struct snapshot *cur;
	struct snapshot *retired[RETIRED_MAX];
	int nretired;
	/* per list of the current config: the file version that last failed
	 * to load, so a broken file is reported once, not every second */
	struct failed { int set; dev_t dev; ino_t ino; off_t size; long long mtime; } *failed;
} g;

static void
usage(void)
{
	fprintf(stderr, "usage: rblcached -c FILE [-f] [-t] [-d]\n"
	    "  -c FILE  configuration file\n"
	    "  -f       stay in the foreground, log to stderr\n"
	    "  -t       check the configuration and every list file, then exit\n"
	    "  -d       debug logging\n");
	exit(2);
}

/* ---- run-time entries ---- */

/* The run-time entries of every list of cfg, from the journal: an array
 * like cfg->lists whose items are NULL for lists without any. */
static struct list **
dyn_build(const struct config *cfg)
{
	struct list **dyn = calloc((size_t)cfg->nlists + 1, sizeof(*dyn));
	if (!dyn)
		fatal("%s", __func__);
	if (!g.journal)
		return dyn;
	const struct journal_entry *e;
	size_t n = journal_entries(g.journal, clock_wall(), &e);
	for (int li = 0; li < cfg->nlists; li++) {
		struct list_parser *p = NULL;
		const char *err = NULL;
		for (size_t k = 0; k < n; k++) {
			if (strcmp(e[k].list, cfg->lists[li].name) != 0)
				continue;
			if (!p && !(p = list_parser_new()))
				fatal("%s", __func__);
			if (list_parser_add(p, &e[k].net, LIST_DEFAULT_A,
			    e[k].reason, &err) < 0)
				fatalx("%s: %s", __func__, err);
		}
		if (p && !(dyn[li] = list_parser_finish(p, cfg->lists[li].name,
		    "rblctl")))
			fatal("%s", __func__);
	}
	return dyn;
}

/* ---- snapshots ---- */

/* A snapshot of cfg with lists (taken over) and the run-time entries
 * built from the journal now. */
static struct snapshot *
snapshot_new(struct config *cfg, struct list **lists)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		fatal("%s", __func__);
	s->cfg = cfg;
	cfg->refs++;
	s->lists = lists;
	s->nlists = cfg->nlists;
	s->dyn = dyn_build(cfg);
	s->serial = (uint32_t)time(NULL);
	s->gen = ++g.gen;
	s->cache = g.cache;
	return s;
}

static void
snapshot_free(struct snapshot *s)
{
	for (int i = 0; i < s->nlists; i++) {
		list_unref(s->lists[i]);
		if (s->dyn[i])
			list_unref(s->dyn[i]);
	}
	free(s->lists);
	free(s->dyn);
	if (--s->cfg->refs == 0)
		config_free(s->cfg);
	free(s);
}

static void
reap_retired(void)
{
	int j = 0;
	for (int i = 0; i < g.nretired; i++) {
		if (server_snapshot_in_use(g.srv, g.retired[i]))
			g.retired[j++] = g.retired[i];
		else
			snapshot_free(g.retired[i]);
	}
	g.nretired = j;
}

static void
publish(struct snapshot *s)
{
	struct snapshot *old = server_publish(g.srv, s);
	g.cur = s;
	if (!old)
		return;
	while (g.nretired == RETIRED_MAX) {
		reap_retired();
		if (g.nretired == RETIRED_MAX)
			usleep(1000);
	}
	g.retired[g.nretired++] = old;
	reap_retired();
}

/* Names cfg's upstream sources in the cache (ids survive reloads). */
static void
cache_ids(struct config *cfg)
{
	for (int i = 0; i < cfg->nupstreams; i++) {
		struct config_upstream *u = &cfg->upstreams[i];
		u->cache_id = g.cache ? cache_source_id(g.cache, u->name) : -1;
		if (g.cache && u->cache_id < 0)
			log_warnx("upstream %s: too many distinct upstreams since "
			    "start; its answers are not cached", u->name);
	}
}

/* Publishes the current config and lists again with the run-time
 * entries as the journal has them now (after rblctl add/del, expiry). */
static void
republish(void)
{
	struct snapshot *s = g.cur;
	struct list **nl = calloc((size_t)s->nlists + 1, sizeof(*nl));
	if (!nl)
		fatal("%s", __func__);
	for (int i = 0; i < s->nlists; i++) {
		nl[i] = s->lists[i];
		list_ref(nl[i]);
	}
	publish(snapshot_new(s->cfg, nl));
}

/* Once a second: drop expired run-time entries (one log line each) and
 * compact the journal when its log has grown. */
static void
expire_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
	if (!g.journal)
		return;
	int64_t now = clock_wall();
	const struct journal_entry *e;
	size_t n = journal_entries(g.journal, 0, &e), gone = 0;
	for (size_t k = 0; k < n; k++)
		if (e[k].expires && e[k].expires <= now) {
			char net[INET6_ADDRSTRLEN];
			addr_ntop(&e[k].net.ip, net, sizeof(net));
			/* a mass expiry (one --for on many entries) is not
			 * worth thousands of lines */
			if (gone < EXPIRE_LOG_MAX)
				log_info("list \"%s\": run-time entry %s/%d expired "
				    "(%s)", e[k].list, net, e[k].net.len,
				    e[k].reason[0] ? e[k].reason : "no reason given");
			gone++;
		}
	if (gone > EXPIRE_LOG_MAX)
		log_info("%zu more run-time entries expired", gone - EXPIRE_LOG_MAX);
	if (gone) {
		journal_expire(g.journal, now);
		republish();
	}
	if (journal_log_records(g.journal) >= JOURNAL_COMPACT_RECORDS) {
		char err[256];
		if (journal_compact(g.journal, now, err, sizeof(err)) < 0)
			log_warnx("journal compaction failed: %s", err);
	}
}

/* Loads every list of cfg.  Returns the array, or NULL after logging. */
static struct list **
load_lists(const struct config *cfg)
{
	struct list **lists = calloc((size_t)cfg->nlists + 1, sizeof(*lists));
	int bad = 0;
	if (!lists)
		fatal("%s", __func__);
	for (int i = 0; i < cfg->nlists; i++) {
		int nerr;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		lists[i] = list_load(cfg->lists[i].name, cfg->lists[i].file, &nerr);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (!lists[i]) {
			log_warnx("list \"%s\" (%s:%d): %d error%s in %s",
			    cfg->lists[i].name, cfg->path, cfg->lists[i].line, nerr,
			    nerr == 1 ? "" : "s", cfg->lists[i].file);
			bad++;
			continue;
		}
		log_info("list \"%s\": %zu prefixes from %s in %.3f s",
		    lists[i]->name, iptrie_count(lists[i]->trie), lists[i]->path,
		    (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	if (bad) {
		for (int i = 0; i < cfg->nlists; i++)
			if (lists[i])
				list_unref(lists[i]);
		free(lists);
		return NULL;
	}
	return lists;
}

static void
reset_failed(int n)
{
	free(g.failed);
	g.failed = calloc((size_t)n + 1, sizeof(*g.failed));
	if (!g.failed)
		fatal("%s", __func__);
}

/* ---- reloads ---- */

static void
check_lists_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
	reap_retired();
	struct snapshot *s = g.cur;
	struct list **nl = NULL;
	int changed = 0;

	for (int i = 0; i < s->nlists; i++) {
		struct list *old = s->lists[i];
		if (!list_changed(old))
			continue;
		struct stat st;
		struct failed f;
		memset(&f, 0, sizeof(f));	/* padding too: compared whole */
		f.set = 1;
		if (stat(old->path, &st) == 0) {
			f.dev = st.st_dev;
			f.ino = st.st_ino;
			f.size = st.st_size;
			f.mtime = (long long)st.st_mtim.tv_sec * 1000000000LL +
			    st.st_mtim.tv_nsec;
		}
		if (memcmp(&f, &g.failed[i], sizeof(f)) == 0)
			continue;	/* this version already failed */
		if (f.ino == 0) {
			/* an editor may be between unlink and rename: say it
			 * once and keep looking */
			log_warnx("list \"%s\": %s is gone; still serving the "
			    "previous version", old->name, old->path);
			g.failed[i] = f;
			continue;
		}
		int nerr;
		struct list *l = list_load(old->name, old->path, &nerr);
		if (!l) {
			log_warnx("list \"%s\": reload failed, %d error%s in %s; "
			    "still serving the previous version", old->name, nerr,
			    nerr == 1 ? "" : "s", old->path);
			g.counters.list_reloads[1]++;
			g.failed[i] = f;
			continue;
		}
		memset(&g.failed[i], 0, sizeof(g.failed[i]));
		if (!nl) {
			nl = calloc((size_t)s->nlists + 1, sizeof(*nl));
			if (!nl)
				fatal("%s", __func__);
		}
		nl[i] = l;
		changed++;
		g.counters.list_reloads[0]++;
		log_info("list \"%s\" reloaded: %zu prefixes", l->name,
		    iptrie_count(l->trie));
	}
	if (!changed)
		return;
	for (int i = 0; i < s->nlists; i++)
		if (!nl[i]) {
			nl[i] = s->lists[i];
			list_ref(nl[i]);
		}
	publish(snapshot_new(s->cfg, nl));
}

static int
same_listen(const struct config *a, const struct config *b)
{
	if (a->nlisten != b->nlisten || a->workers != b->workers ||
	    a->batch_wait_us != b->batch_wait_us || strcmp(a->user, b->user) != 0)
		return 0;
	for (int i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i].text, b->listen[i].text) != 0)
			return 0;
	return 1;
}

static int
same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int
same_resolver(const struct config *a, const struct config *b)
{
	if (a->resolver.nforward != b->resolver.nforward ||
	    !same_str(a->resolver.unbound_config, b->resolver.unbound_config) ||
	    a->resolver.max_pending != b->resolver.max_pending)
		return 0;
	for (int i = 0; i < a->resolver.nforward; i++)
		if (strcmp(a->resolver.forward[i], b->resolver.forward[i]) != 0)
			return 0;
	return 1;
}

/* ---- systemd ---- */

/* Tells the service manager, when there is one (NOTIFY_SOCKET set, as
 * under Type=notify), what the daemon is doing; a no-op otherwise. */
static void
notify(const char *state)
{
	int r = sd_notify(0, state);
	if (r < 0)
		log_debug("sd_notify: %s", strerror(-r));
}

/* RELOADING=1 carries the monotonic time the reload started, as
 * systemd's Type=notify-reload expects; older managers ignore it. */
static void
notify_reloading(void)
{
	struct timespec ts;
	char msg[64];
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
	notify(msg);
}

static int reload_config_now(char *err, size_t errlen);

/* Reloads the config and every list as SIGHUP and rblctl reload ask; on
 * failure the old ones keep serving and err says why.  The service
 * manager sees RELOADING, then READY either way. */
static int
reload_config(char *err, size_t errlen)
{
	notify_reloading();
	int r = reload_config_now(err, errlen);
	notify("READY=1");
	return r;
}

static int
reload_config_now(char *err, size_t errlen)
{
	struct config *cfg = config_load(g.cfg->path);
	if (!cfg) {
		snprintf(err, errlen, "configuration reload failed (errors logged); "
		    "still serving the previous configuration");
		log_warnx("%s", err);
		goto fail;
	}
	struct list **lists = load_lists(cfg);
	if (!lists) {
		snprintf(err, errlen, "configuration reload failed (list errors "
		    "logged); still serving the previous configuration");
		log_warnx("%s", err);
		config_free(cfg);
		goto fail;
	}
	if (!same_str(g.cfg->metrics.text, cfg->metrics.text))
		log_warnx("metrics takes effect at restart only");
	if (!g.cfg->query_log != !cfg->query_log)
		log_warnx("turning query-log on or off takes effect at restart");
	/* a rotated query log is let go of; a new path applies now */
	if (g.qlog)
		querylog_reopen(g.qlog, cfg->query_log);
	if (!same_listen(g.cfg, cfg))
		log_warnx("listen, workers, batch-wait-us and user take effect at "
		    "restart only");
	if (!same_resolver(g.cfg, cfg))
		log_warnx("resolver settings take effect at restart only");
	if (!same_str(g.cfg->control, cfg->control) ||
	    !same_str(g.cfg->state_dir, cfg->state_dir) ||
	    g.cfg->redis.enabled != cfg->redis.enabled ||
	    (cfg->redis.enabled && (!same_str(g.cfg->redis.address,
	    cfg->redis.address) || !same_str(g.cfg->redis.prefix,
	    cfg->redis.prefix))))
		log_warnx("control, state-dir and redis take effect at restart only");
	cfg->workers = g.cfg->workers;
	if (g.cache && cfg->cache.max_memory)
		cache_set_limit(g.cache, cfg->cache.max_memory);
	if (!g.cache != !cfg->cache.max_memory)
		log_warnx("turning the cache on or off takes effect at restart");
	cache_ids(cfg);
	stats_ids(cfg);
	upstream_set_ttls(g.up, cfg);
	if (--g.cfg->refs == 0)
		config_free(g.cfg);
	g.cfg = cfg;
	cfg->refs++;
	reset_failed(cfg->nlists);
	publish(snapshot_new(cfg, lists));
	g.counters.config_reloads[0]++;
	log_info("configuration reloaded");
	return 0;
fail:
	/* logrotate's SIGHUP still gets the query log reopened */
	if (g.qlog)
		querylog_reopen(g.qlog, NULL);
	g.counters.config_reloads[1]++;
	return -1;
}

static void
sighup_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	char err[256];
	(void)loop;
	(void)sig;
	(void)revents;
	log_info("SIGHUP: reloading configuration and lists");
	reload_config(err, sizeof(err));
}

/* SIGUSR1: the counters in one log line, until rblctl stats exists. */
static void
stats_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	struct query_stats st;
	uint64_t sent, coalesced;
	(void)loop;
	(void)sig;
	(void)revents;
	server_stats(g.srv, &st);
	upstream_counters(g.up, &sent, &coalesced);
	log_info("stats: queries=%llu answered=%llu dropped=%llu listed=%llu "
	    "notlisted=%llu noerror=%llu nxdomain=%llu formerr=%llu refused=%llu "
	    "notimp=%llu badvers=%llu truncated=%llu refused_acl=%llu "
	    "upstream_asked=%llu short_circuit=%llu upstream_queries=%llu "
	    "upstream_coalesced=%llu upstream_timeout=%llu upstream_fail=%llu "
	    "upstream_errcode=%llu pending_full=%llu",
	    (unsigned long long)st.queries, (unsigned long long)st.answered,
	    (unsigned long long)st.dropped, (unsigned long long)st.listed,
	    (unsigned long long)st.notlisted,
	    (unsigned long long)st.rcode[DNS_R_NOERROR],
	    (unsigned long long)st.rcode[DNS_R_NXDOMAIN],
	    (unsigned long long)st.rcode[DNS_R_FORMERR],
	    (unsigned long long)st.rcode[DNS_R_REFUSED],
	    (unsigned long long)st.rcode[DNS_R_NOTIMP],
	    (unsigned long long)st.badvers, (unsigned long long)st.truncated,
	    (unsigned long long)st.refused_acl,
	    (unsigned long long)st.upstream_asked,
	    (unsigned long long)st.short_circuit, (unsigned long long)sent,
	    (unsigned long long)coalesced,
	    (unsigned long long)st.upstream_timeout,
	    (unsigned long long)st.upstream_fail,
	    (unsigned long long)st.upstream_errcode,
	    (unsigned long long)st.pending_full);
}

static void
stop_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	(void)revents;
	log_info("signal %d: shutting down", sig->signum);
	ev_break(loop, EVBREAK_ALL);
}

/* During the drain: the admin does not want to wait. */
static void
hurry_handler(int sig)
{
	(void)sig;
	int saved = errno;
	static const char msg[] = "rblcached: second signal: stopping now\n";
	ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	server_hurry(g.srv);
	errno = saved;
}

/* After the first SIGTERM/SIGINT: the next one cuts the drain short.
 * The signals are blocked while their handlers change hands (libev's
 * stop restores the default action, which would kill). */
static void
hurry_on_second_signal(struct ev_loop *loop, ev_signal *term, ev_signal *intr)
{
	sigset_t stopsigs;
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stopsigs, NULL);
	ev_signal_stop(loop, term);
	ev_signal_stop(loop, intr);
	struct sigaction hurry = { .sa_handler = hurry_handler,
	    .sa_flags = SA_RESTART };
	sigemptyset(&hurry.sa_mask);
	sigaction(SIGTERM, &hurry, NULL);
	sigaction(SIGINT, &hurry, NULL);
	pthread_sigmask(SIG_UNBLOCK, &stopsigs, NULL);
}

/* ---- state-dir ---- */

/* Opens the journal of run-time entries (as root, before dropping
 * privileges) and hands state-dir to the user the daemon runs as, so
 * that compaction can replace files there.  A state-dir that cannot be
 * used costs the run-time entries, never the service. */
static void
open_state(const struct config *cfg)
{
	char err[sizeof(g.journal_err)];
	if (!(g.journal = journal_open(cfg->state_dir, err, sizeof(err)))) {
		snprintf(g.journal_err, sizeof(g.journal_err), "%s", err);
		log_warnx("%s; serving without run-time entries until it is "
		    "fixed and rblcached restarted", err);
		return;
	}
	struct passwd *pw;
	if (geteuid() != 0 || strcmp(cfg->user, "root") == 0 ||
	    !(pw = getpwnam(cfg->user)))
		return;
	static const char *const files[] = { "", "/entries.db",
	    "/journal.log" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s%s", cfg->state_dir, files[i]);
		if (chown(path, pw->pw_uid, pw->pw_gid) < 0 && errno != ENOENT)
			log_warn("chown %s", path);
	}
}

/* ---- control socket ---- */

/* Creates the control socket before privileges are dropped: owned by
 * root (or whoever starts the daemon), group the user's, mode 0660. */
static void
open_control(struct ev_loop *loop, const struct config *cfg)
{
	char host[JOURNAL_ORIGIN_MAX - 8], err[512];
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(g.origin, sizeof(g.origin), "rblctl@%s", host);
	g.adm.cfg = &g.cfg;
	g.adm.cur = &g.cur;
	g.adm.srv = g.srv;
	g.adm.up = g.up;
	g.adm.cache = g.cache;
	g.adm.journal = &g.journal;
	g.adm.journal_err = g.journal_err;
	g.adm.origin = g.origin;
	g.adm.share = &g.share;
	g.adm.republish = republish;
	g.adm.reload = reload_config;
	g.adm.counters = &g.counters;
	g.adm.qlog = &g.qlog;
	gid_t gid = (gid_t)-1;
	struct passwd *pw;
	if (geteuid() == 0 && strcmp(cfg->user, "root") != 0 &&
	    (pw = getpwnam(cfg->user)))
		gid = pw->pw_gid;
	if (!(g.control = control_new(loop, cfg->control, (uid_t)-1, gid,
	    admin_handle, &g.adm, err, sizeof(err))))
		fatalx("control socket: %s", err);
	log_info("control socket %s", cfg->control);
}

/* ---- metrics ---- */

/* A scrape, on the main loop: the same figures as rblctl stats. */
static char *
render_metrics(void *arg, size_t *len)
{
	struct stats_snapshot snap;
	(void)arg;
	stats_collect(&g.adm, &snap);
	char *text = stats_render(&snap, STATS_PROMETHEUS, len);
	stats_release(&snap);
	return text;
}

/* ---- privileges ---- */

static void
drop_privileges(const char *user)
{
	if (geteuid() != 0)
		return;
	if (strcmp(user, "root") == 0) {
		log_warnx("running as root (user = \"root\" in the config)");
		return;
	}
	struct passwd *pw = getpwnam(user);
	if (!pw)
		fatalx("user \"%s\" does not exist: create it (useradd --system "
		    "%s) or set user in the config", user, user);
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0)
		fatal("cannot drop privileges to %s", user);
	if (setuid(0) == 0)
		fatalx("could regain root after dropping privileges");
	log_info("running as %s (uid %u)", user, (unsigned)pw->pw_uid);
}

/* How long a graceful shutdown may wait for queries in flight: the
 * longest upstream timeout, plus a second for writing TCP answers. */
static double
drain_seconds(const struct config *cfg)
{
	int ms = cfg->resolver.timeout_ms;
	for (int i = 0; i < cfg->nupstreams; i++)
		if (cfg->upstreams[i].timeout_ms > ms)
			ms = cfg->upstreams[i].timeout_ms;
	return ms / 1000.0 + 1.0;
}

/* Exit status 1; under -t the verdict line that ends the errors. */
static int
startup_failed(int check, const char *path)
{
	if (check)
		fprintf(stderr, "rblcached: %s: configuration check failed\n", path);
	return 1;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	int foreground = 0, check = 0, debug = 0, ch;

	while ((ch = getopt(argc, argv, "c:ftdh")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'f': foreground = 1; break;
		case 't': check = 1; break;
		case 'd': debug = 1; break;
		default: usage();
		}
	}
	if (!path || optind != argc)
		usage();
	log_init("rblcached", foreground || check, debug);
	/* daemon() changes to /: keep the config (and the list paths that
	 * resolve against it) reachable for reloads */
	char *abspath = realpath(path, NULL);
	if (abspath)
		path = abspath;

	struct config *cfg = config_load(path);
	if (!cfg) {
		return startup_failed(check, path);
	}
	cfg->refs = 1;
	struct list **lists = load_lists(cfg);
	if (!lists) {
		return startup_failed(check, path);
	}
	/* libunbound checks the resolver settings (and the unbound-config
	 * file) when the context is made */
	if (!check && cfg->cache.max_memory &&
	    !(g.cache = cache_new(cfg->cache.max_memory)))
		fatal("cache");
	cache_ids(cfg);
	stats_ids(cfg);
	struct upstream *up = upstream_new(cfg, g.cache);
	if (!up) {
		return startup_failed(check, path);
	}
	if (check && strcmp(cfg->user, "root") != 0 && !getpwnam(cfg->user)) {
		/* checked here, not in config_load(): the account is the
		 * machine's business, the file's syntax is the config's */
		fprintf(stderr, "rblcached: %s: user \"%s\" does not exist: create "
		    "it (useradd --system %s) or set user\n", path, cfg->user,
		    cfg->user);
		return startup_failed(check, path);
	}
	if (check) {
		upstream_free(up);
		for (int i = 0; i < cfg->nlists; i++)
			list_unref(lists[i]);
		free(lists);
		config_free(cfg);
		fprintf(stderr, "rblcached: %s: configuration ok\n", path);
		free(abspath);
		return 0;
	}

	g.cfg = cfg;
	reset_failed(cfg->nlists);
	signal(SIGPIPE, SIG_IGN);
	/* upstream sockets (4096), TCP clients and lists: lift the soft limit */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max &&
	    rl.rlim_cur < 16384) {
		rl.rlim_cur = rl.rlim_max < 16384 ? rl.rlim_max : 16384;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("setrlimit RLIMIT_NOFILE");
	}
	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	if (!loop)
		fatalx("cannot start the event loop");
	/* block the signals in the workers: only the main loop takes them */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	ev_signal hup, term, intr, usr1;
	ev_signal_init(&hup, sighup_cb, SIGHUP);
	ev_signal_init(&term, stop_cb, SIGTERM);
	ev_signal_init(&intr, stop_cb, SIGINT);
	ev_signal_start(loop, &hup);
	ev_signal_start(loop, &term);
	ev_signal_start(loop, &intr);
	ev_signal_init(&usr1, stats_cb, SIGUSR1);
	ev_signal_start(loop, &usr1);

	open_state(cfg);
	if (!(g.srv = server_new(cfg)))
		return 1;
	g.up = up;
	server_set_upstream(g.srv, up);
	open_control(loop, cfg);
	if (cfg->metrics.text && !(g.metrics = metrics_bind(&cfg->metrics)))
		return 1;
	drop_privileges(cfg->user);
	/* opened as the user, so that reopening after a rotation (as that
	 * user) creates the same owner's file */
	if (cfg->query_log) {
		if (!(g.qlog = querylog_new(cfg->query_log, cfg->workers)))
			fatal("query-log");
		server_set_querylog(g.srv, g.qlog);
	}
	if (!foreground) {
		if (daemon(0, 0) < 0)
			fatal("daemon");
		/* the loop's kernel state (epoll set, signal pipe) came from
		 * the parent: libev re-creates it in the child */
		ev_loop_fork(loop);
	}

	if (g.qlog)
		querylog_start(g.qlog);
	if (g.metrics)
		metrics_start(g.metrics, loop, render_metrics, NULL);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	upstream_start(up, cfg);
	struct snapshot *s = snapshot_new(cfg, lists);
	g.cur = s;
	server_start(g.srv, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (int i = 0; i < cfg->nlisten; i++)
		log_info("listening on %s (UDP and TCP), %d worker%s",
		    cfg->listen[i].text, cfg->workers, cfg->workers == 1 ? "" : "s");

	/* after daemon(): its connections belong to this process's loop */
	if (cfg->redis.enabled &&
	    !(g.share = share_new(cfg, loop, &g.journal, republish)))
		log_warnx("redis: cannot share run-time entries (out of memory "
		    "or bad address)");
	ev_timer poll, expire;
	ev_timer_init(&poll, check_lists_cb, 1.0, 1.0);
	ev_timer_start(loop, &poll);
	ev_timer_init(&expire, expire_cb, 1.0, 1.0);
	ev_timer_start(loop, &expire);
	notify("READY=1\nSTATUS=answering");
	ev_run(loop, 0);

	notify("STOPPING=1");
	hurry_on_second_signal(loop, &term, &intr);
	metrics_free(g.metrics);
	control_free(g.control);
	share_free(g.share);
	/* answer what is in flight while the upstream thread still runs:
	 * queries waiting for upstream end at their own timeouts */
	server_drain(g.srv, drain_seconds(g.cfg));
	/* the workers go next: nothing left to hurry, and a late signal
	 * must not kill the rest of a clean exit */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	/* the upstream thread first (it posts into the workers' loops), its
	 * memory last (the workers post into its queue) */
	upstream_stop(g.up);
	server_stop(g.srv);
	g.srv = NULL;
	querylog_free(g.qlog);
	upstream_free(g.up);
	cache_free(g.cache);
	if (g.journal) {
		char err[256];
		if (journal_compact(g.journal, clock_wall(), err, sizeof(err)) < 0)
			log_warnx("journal compaction at exit failed: %s", err);
		journal_close(g.journal);
	}
	for (int i = 0; i < g.nretired; i++)
		snapshot_free(g.retired[i]);
	snapshot_free(g.cur);
	if (--g.cfg->refs == 0)
		config_free(g.cfg);
	free(g.failed);
	ev_loop_destroy(loop);
	free(abspath);
	log_info("stopped");
	return 0;
}
