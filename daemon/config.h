/* config.h -- the daemon's configuration as a plain struct.
 *
 * libconfuse appears only in config.c; everything else reads struct
 * config.  A config is immutable once loaded and owned by whoever loaded
 * it (main keeps the current one; a reload loads a new one aside).
 */
#ifndef RBLCACHE_CONFIG_H
#define RBLCACHE_CONFIG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "policy.h"
#include "ratelimit.h"

struct config_list {
	char *name;
	char *file;		/* absolute, or relative to the config's dir */
	int line;
};

/* An upstream DNSBL/DNSWL zone named by a source; an optional
 * upstream "NAME" { ... } block overrides the defaults. */
struct config_upstream {
	char *name;		/* lower case, as in sources */
	char *query_zone;	/* the zone actually queried (Spamhaus DQS) */
	int timeout_ms;		/* 0: resolver.timeout-ms */
	uint32_t *error_codes;	/* extra codes that mean an error */
	int nerror;
	int txt;		/* fetch the upstream TXT for TXT queries */
	int line;
	int cache_id;		/* cache_source_id(), or -1: not cached */
	int stats_id;		/* stats_upstream_id(): counters' label; 0 until set */
	/* the one mutable part: when each kind of trouble was last logged
	 * (query.c), shared by the workers */
	_Atomic long logged[4];
};

struct config_zone {
	char *name;		/* lower case, no trailing dot */
	uint8_t wire[256];	/* the name in wire format, lower case */
	size_t wirelen;
	struct policy_source *src;
	int nsrc;
	int threshold;
	int has_answer;
	uint32_t answer;	/* host order */
	int has_ttl;
	uint32_t ttl;
	int nupstream;		/* sources that are upstream zones */
	int stats_id;		/* stats_zone_id(): counters' label; 0 until set */
	int line;
};

struct config_listen {
	struct sockaddr_storage ss;
	socklen_t len;
	char *text;
};

struct config {
	int refs;		/* snapshots using it; main thread only */
	char *path;
	struct config_listen *listen;
	int nlisten;
	int workers;		/* resolved: 0 in the file means one per core */
	int batch_wait_us;	/* UDP: wait after a partial batch when busy */
	char *user;
	char *state_dir;
	char *control;
	struct config_listen metrics;	/* text NULL: no metrics endpoint */
	char *query_log;		/* NULL: no query log */
	struct cidr *allow;
	int nallow;
	int allow_drop;		/* allow-query-action "drop": others get nothing */
	struct ratelimit_conf ratelimit;	/* UDP answers; rate 0: off */
	struct config_list *lists;
	int nlists;
	struct config_zone *zones;
	int nzones;
	struct config_upstream *upstreams;
	int nupstreams;
	struct {
		uint64_t max_memory;
		int min_ttl, max_ttl, negative_ttl, serve_stale, prefetch;
	} cache;
	struct {
		int enabled;
		char *address;		/* "host:port", "[v6]:port" or "unix:/path" */
		char *prefix;
		char *password;		/* NULL: no AUTH */
		int timeout_ms;
		int db;
	} redis;
	struct {
		char **forward;
		int nforward;
		char *unbound_config;
		int timeout_ms;
		int max_pending;	/* queries waiting for upstream, per worker */
	} resolver;
};

/* Parses and checks path.  Every error is reported as "file:line: what"
 * on the log; returns NULL on any error. */
struct config *config_load(const char *path);
void config_free(struct config *c);

/* Parses "256M", "1G", "65536" into bytes.  Returns 0, or -1. */
int config_parse_size(const char *s, uint64_t *out);

/* Converts a domain name to lower-case wire format.  Returns the length,
 * or -1 for an invalid name. */
int config_name_to_wire(const char *name, uint8_t *wire, size_t size);

#endif
