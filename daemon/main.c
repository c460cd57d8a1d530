/* main.c -- rblcached: command line, start-up, reloads, shutdown.
 *
 * The main thread owns the config and the lists: it loads them, builds a
 * snapshot aside, publishes it to the workers and frees retired
 * snapshots once no worker holds them.  It watches the list files (a 1 s
 * stat poll, which also catches editors that replace the file) and
 * reloads everything on SIGHUP.  A reload that fails keeps the old data.
 */
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
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dns.h"
#include "iptrie.h"
#include "lists.h"
#include "log.h"
#include "query.h"
#include "server.h"
#include "upstream.h"

#define RETIRED_MAX	64

static struct {
	struct config *cfg;
	struct server *srv;
	struct upstream *up;
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

/* ---- snapshots ---- */

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
	s->serial = (uint32_t)time(NULL);
	return s;
}

static void
snapshot_free(struct snapshot *s)
{
	for (int i = 0; i < s->nlists; i++)
		list_unref(s->lists[i]);
	free(s->lists);
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
	    strcmp(a->user, b->user) != 0)
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

static void
sighup_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	(void)loop;
	(void)sig;
	(void)revents;
	log_info("SIGHUP: reloading configuration and lists");
	struct config *cfg = config_load(g.cfg->path);
	if (!cfg) {
		log_warnx("configuration reload failed; still serving the "
		    "previous configuration");
		return;
	}
	struct list **lists = load_lists(cfg);
	if (!lists) {
		log_warnx("configuration reload failed (list errors); still "
		    "serving the previous configuration");
		config_free(cfg);
		return;
	}
	if (!same_listen(g.cfg, cfg))
		log_warnx("listen, workers and user take effect at restart only");
	if (!same_resolver(g.cfg, cfg))
		log_warnx("resolver settings take effect at restart only");
	cfg->workers = g.cfg->workers;
	if (--g.cfg->refs == 0)
		config_free(g.cfg);
	g.cfg = cfg;
	cfg->refs++;
	reset_failed(cfg->nlists);
	publish(snapshot_new(cfg, lists));
	log_info("configuration reloaded");
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
	struct upstream *up = upstream_new(cfg);
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

	if (!(g.srv = server_new(cfg)))
		return 1;
	g.up = up;
	server_set_upstream(g.srv, up);
	drop_privileges(cfg->user);
	if (!foreground && daemon(0, 0) < 0)
		fatal("daemon");

	pthread_sigmask(SIG_BLOCK, &set, &old);
	upstream_start(up);
	struct snapshot *s = snapshot_new(cfg, lists);
	g.cur = s;
	server_start(g.srv, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (int i = 0; i < cfg->nlisten; i++)
		log_info("listening on %s (UDP and TCP), %d worker%s",
		    cfg->listen[i].text, cfg->workers, cfg->workers == 1 ? "" : "s");

	ev_timer poll;
	ev_timer_init(&poll, check_lists_cb, 1.0, 1.0);
	ev_timer_start(loop, &poll);
	ev_run(loop, 0);

	/* the upstream thread first (it posts into the workers' loops), its
	 * memory last (the workers post into its queue) */
	upstream_stop(g.up);
	server_stop(g.srv);
	g.srv = NULL;
	upstream_free(g.up);
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
