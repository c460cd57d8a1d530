/* stats.h -- every figure of the daemon in one snapshot, two renderers.
 *
 * stats_collect() gathers the workers' counters (racy reads of
 * monotonic counters, as server_stats() does), the upstream thread's,
 * the cache's, Redis', the lists' and main's own into one struct; then
 * stats_render() writes it for rblctl stats (text or JSON) or as the
 * Prometheus text exposition (GET /metrics).  One table of figures feeds
 * all three, so rblctl and a scrape always show the same numbers.
 *
 * Threading: everything here runs on the main thread (rblctl's commands
 * do; the metrics endpoint hands its requests over to it), which owns
 * the config, the snapshots, the journal and the label names.  Label
 * names are registered when a config is loaded (stats_ids()) and kept
 * for the life of the process, so a counter keeps its label across
 * reloads and a zone removed by a reload still shows what it counted.
 */
#ifndef RBLCACHE_STATS_H
#define RBLCACHE_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "query.h"
#include "rcache.h"

struct admin;
struct config;

#define STATS_COMMANDS	8	/* >= ctl_ncommands */

/* Counters only the main thread writes. */
struct stats_main {
	uint64_t config_reloads[2];	/* ok, failed */
	uint64_t list_reloads[2];	/* a list file reloaded: ok, failed */
	uint64_t commands[STATS_COMMANDS][2];	/* rblctl: ok, error */
};

/* One list as the current snapshot has it. */
struct stats_list {
	const char *name;	/* the snapshot's: valid until main runs on */
	uint64_t entries;	/* file prefixes and run-time entries */
	double loaded;		/* Unix time the file was last loaded */
};

struct stats_snapshot {
	struct query_stats q;		/* summed over the workers */
	uint64_t up_sent, up_coalesced;
	uint64_t up_sent_by[QUERY_STATS_UPSTREAMS];
	int cache_on;
	struct cache_stats c;
	int redis;			/* configured */
	struct rcache_stats r;
	uint64_t redis_answered;
	uint64_t runtime_entries, runtime_shared;
	struct stats_main m;
	int qlog_on;
	uint64_t qlog_errors;
	struct stats_list *lists;	/* nlists of them; stats_release() */
	int nlists;
};

/* Assigns cfg's zones and upstreams their counter ids (stats_id), the
 * same id as before for a name seen before.  Beyond QUERY_STATS_ZONES
 * (or _UPSTREAMS) names since start, a new one is counted with id 0
 * ("other"), logged once. */
void stats_ids(struct config *cfg);

void stats_collect(const struct admin *ad, struct stats_snapshot *out);
void stats_release(struct stats_snapshot *s);

enum { STATS_TEXT, STATS_JSON, STATS_PROMETHEUS };

/* The snapshot in format, as a NUL-terminated string the caller frees
 * (*len its length).  NULL when out of memory. */
char *stats_render(const struct stats_snapshot *s, int format, size_t *len);

#endif
