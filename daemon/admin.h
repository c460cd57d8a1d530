/* admin.h -- the control commands rblctl sends, answered on main's thread.
 *
 * control.c reads a request from the socket and calls admin_handle();
 * this module reads and changes main's state through struct admin:
 * run-time entries go to the journal first (acknowledged once on disk)
 * and are then published with a new snapshot, so the next query sees
 * them.  Everything runs on the main thread; "check" may wait there for
 * upstream lookups (at most the upstreams' timeout-ms), never a worker.
 */
#ifndef RBLCACHE_ADMIN_H
#define RBLCACHE_ADMIN_H

#include "ctlproto.h"

struct config;
struct snapshot;
struct server;
struct upstream;
struct cache;
struct journal;
struct share;
struct stats_main;
struct querylog;
struct ctl_out;

struct admin {
	struct config **cfg;		/* main's current config */
	struct snapshot **cur;		/* main's current snapshot */
	struct server *srv;
	struct upstream *up;
	struct cache *cache;		/* may be NULL */
	struct journal **journal;	/* *journal NULL: state-dir unusable */
	const char *journal_err;	/* why, then */
	const char *origin;		/* "rblctl@HOST": who made an entry */
	struct share **share;		/* *share NULL: no Redis */
	/* publishes the run-time entries as the journal has them now */
	void (*republish)(void);
	/* reloads config and lists as SIGHUP does; -1 with err on failure */
	int (*reload)(char *err, size_t errlen);
	struct stats_main *counters;	/* main's; commands counted here */
	struct querylog **qlog;		/* *qlog NULL: no query log */
};

/* A control_handler: arg is a struct admin. */
int admin_handle(void *arg, const struct ctl_request *req,
    struct ctl_out *out);

#endif
