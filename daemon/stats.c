/* stats.c -- gathering every figure, and writing them for rblctl and Prometheus.
 *
 * The figures are described once, in render(): each has an rblctl name
 * (NULL: Prometheus only, e.g. a breakdown rblctl shows another way) and
 * a Prometheus name (NULL: rblctl only, e.g. rcode_* that a PromQL sum
 * over the rcode label gives).  A Prometheus value may be scaled to the
 * base unit (microseconds to seconds) where rblctl keeps the integer.
 */
#include "stats.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "clock.h"
#include "config.h"
#include "ctlproto.h"
#include "dns.h"
#include "iptrie.h"
#include "journal.h"
#include "lists.h"
#include "log.h"
#include "querylog.h"
#include "server.h"
#include "share.h"
#include "upstream.h"

/* ---- label names ---- */

static char *zone_names[QUERY_STATS_ZONES];	/* [0]: "other" */
static char *upstream_names[QUERY_STATS_UPSTREAMS];	/* [0]: "other" */

static int
name_id(char **names, int max, const char *name, const char *what)
{
	static int warned;
	for (int i = 1; i < max; i++) {
		if (!names[i]) {
			if (!(names[i] = strdup(name)))
				fatal("%s", __func__);
			return i;
		}
		if (strcmp(names[i], name) == 0)
			return i;
	}
	if (!warned++)
		log_warnx("more than %d %s names since start: %s counted as "
		    "\"other\" until restart", max - 1, what, name);
	return 0;
}

void
stats_ids(struct config *cfg)
{
	for (int i = 0; i < cfg->nzones; i++)
		cfg->zones[i].stats_id = name_id(zone_names, QUERY_STATS_ZONES,
		    cfg->zones[i].name, "zone");
	for (int i = 0; i < cfg->nupstreams; i++)
		cfg->upstreams[i].stats_id = name_id(upstream_names,
		    QUERY_STATS_UPSTREAMS, cfg->upstreams[i].name, "upstream");
}

static const char *
label_name(char *const *names, int id)
{
	return id == 0 ? "other" : names[id];
}

/* ---- collecting ---- */

void
stats_collect(const struct admin *ad, struct stats_snapshot *out)
{
	memset(out, 0, sizeof(*out));
	server_stats(ad->srv, &out->q);
	if (ad->cache) {
		out->cache_on = 1;
		cache_stats(ad->cache, &out->c);
	}
	if (ad->up) {
		upstream_counters(ad->up, &out->up_sent, &out->up_coalesced);
		upstream_sent_by(ad->up, out->up_sent_by, QUERY_STATS_UPSTREAMS);
		out->redis = upstream_redis_stats(ad->up, &out->r,
		    &out->redis_answered);
	}
	const struct journal_entry *e;
	if (*ad->journal)
		out->runtime_entries = journal_entries(*ad->journal, clock_wall(),
		    &e);
	out->runtime_shared = (uint64_t)share_is_up(*ad->share);
	if (ad->counters)
		out->m = *ad->counters;
	if (ad->qlog && *ad->qlog) {
		out->qlog_on = 1;
		out->qlog_errors = querylog_errors(*ad->qlog);
	}
	const struct snapshot *s = *ad->cur;
	if (s && s->nlists > 0 && (out->lists = calloc((size_t)s->nlists,
	    sizeof(*out->lists)))) {
		out->nlists = s->nlists;
		for (int i = 0; i < s->nlists; i++) {
			struct stats_list *l = &out->lists[i];
			l->name = s->lists[i]->name;
			l->entries = iptrie_count(s->lists[i]->trie);
			if (s->dyn && s->dyn[i])
				l->entries += iptrie_count(s->dyn[i]->trie);
			l->loaded = s->lists[i]->loaded;
		}
	}
}

void
stats_release(struct stats_snapshot *s)
{
	free(s->lists);
	s->lists = NULL;
	s->nlists = 0;
}

/* ---- output ---- */

struct out {
	int format;
	char *buf;
	size_t len, cap;
	int failed;
	int nfam;		/* JSON: values written (commas) */
	const char *ctl, *prom;	/* the current family's names */
};

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t nc = o->cap * 2 + (size_t)n;
		char *nb = realloc(o->buf, nc);
		if (!nb) {
			o->failed = 1;
			return;
		}
		o->buf = nb;
		o->cap = nc;
	}
}

/* Appends a label value with the exposition format's escapes (\\, \",
 * \n); rblctl's names use the same. */
static size_t
label_escape(char *out, size_t size, size_t n, const char *v)
{
	for (const char *p = v; *p && n + 3 < size; p++) {
		if (*p == '\\' || *p == '"' || *p == '\n')
			out[n++] = '\\';
		out[n++] = *p == '\n' ? 'n' : *p;
	}
	out[n] = '\0';
	return n;
}

enum { COUNTER, GAUGE, HISTOGRAM };

/* Starts a family. */
static void
family(struct out *o, const char *ctl, const char *prom, int type,
    const char *help)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	o->ctl = ctl;
	o->prom = prom;
	if (o->format == STATS_PROMETHEUS && prom)
		put(o, "# HELP rblcache_%s %s\n# TYPE rblcache_%s %s\n", prom, help,
		    prom, types[type]);
}

/* One value of the current family, with n label pairs (name, value).
 * suffix extends the Prometheus name (_bucket, _sum); scale converts v
 * to the Prometheus base unit (0: none).  rblctl names a labelled value
 * name{label="value",...}, a JSON key like any other, so that every
 * value stays one integer under one name. */
static void
series(struct out *o, const char *suffix, const char *const *labels, int n,
    uint64_t v, double scale)
{
	int prom = o->format == STATS_PROMETHEUS;
	const char *name = prom ? o->prom : o->ctl;
	char full[1024];
	size_t k;
	if (!name)
		return;
	k = (size_t)snprintf(full, sizeof(full), "%s%s%s", prom ? "rblcache_" :
	    "", name, prom && suffix ? suffix : "");
	for (int i = 0; i < n && k < sizeof(full) - 8; i++) {
		k += (size_t)snprintf(full + k, sizeof(full) - k, "%s%s=\"",
		    i ? "," : "{", labels[2 * i]);
		if (k >= sizeof(full) - 8)
			break;
		k = label_escape(full, sizeof(full) - 4, k, labels[2 * i + 1]);
		full[k++] = '"';
		full[k] = '\0';
	}
	if (n > 0 && k < sizeof(full) - 1) {
		full[k++] = '}';
		full[k] = '\0';
	}
	if (o->format == STATS_JSON) {
		char esc[2048];
		size_t e = ctl_json_escape(esc, sizeof(esc), full, strlen(full));
		put(o, "%s\"%s\":%" PRIu64, o->nfam++ ? "," : "",
		    e < sizeof(esc) ? esc : "?", v);
	} else if (!prom)
		put(o, "%-24s %" PRIu64 "\n", full, v);
	else if (scale != 0)
		put(o, "%s %.15g\n", full, (double)v * scale);
	else
		put(o, "%s %" PRIu64 "\n", full, v);
}

/* An unlabelled figure. */
struct fig {
	const char *ctl, *prom;
	int type;
	uint64_t v;
	double scale;
	const char *help;
};

static void
figures(struct out *o, const struct fig *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		family(o, f[i].ctl, f[i].prom, f[i].type, f[i].help);
		series(o, NULL, NULL, 0, f[i].v, f[i].scale);
	}
}

static const char *const qtype_names[QUERY_QTYPES] = {
	"other", "A", "TXT", "ANY", "SOA", "NS", "AAAA",
};
static const char *const rcode_names[QUERY_RCODES] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"BADVERS",
};

static void
labelled(struct out *o, const struct stats_snapshot *s)
{
	const struct query_stats *q = &s->q;
	char le[32];

	family(o, "queries_by", "queries_total", COUNTER, "DNS queries "
	    "answered, by zone (\"other\": outside every zone), query type and "
	    "response code.");
	for (int z = 0; z < QUERY_STATS_ZONES; z++)
		for (int t = 0; t < QUERY_QTYPES; t++)
			for (int r = 0; r < QUERY_RCODES; r++) {
				uint64_t v = q->by_label[z][t][r];
				if (!v)
					continue;
				const char *l[] = { "zone", label_name(zone_names, z),
				    "qtype", qtype_names[t], "rcode", rcode_names[r] };
				series(o, NULL, l, 3, v, 0);
			}

	family(o, "verdicts", "verdicts_total", COUNTER, "Addresses looked "
	    "up in a zone, by verdict.");
	for (int z = 1; z < QUERY_STATS_ZONES; z++)
		for (int v = 0; v < 2 && zone_names[z]; v++) {
			const char *l[] = { "zone", zone_names[z], "verdict",
			    v ? "listed" : "notlisted" };
			series(o, NULL, l, 2, q->verdicts[z][v], 0);
		}

	family(o, "upstream_queries_by", "upstream_queries_total", COUNTER,
	    "Queries sent to each upstream DNSBL/DNSWL (not counting those "
	    "answered by the caches or coalesced).");
	for (int u = 1; u < QUERY_STATS_UPSTREAMS && upstream_names[u]; u++) {
		const char *l[] = { "upstream", upstream_names[u] };
		series(o, NULL, l, 1, s->up_sent_by[u], 0);
	}

	static const char *const kinds[QUERY_ERRS] = { "timeout", "servfail",
	    "errorcode" };
	family(o, "upstream_errors", "upstream_errors_total", COUNTER,
	    "Queries that found an upstream's answer missing (timeout), "
	    "failed (servfail: SERVFAIL, refused, unreachable) or an error "
	    "code (errorcode: the list refuses us); fail open.");
	for (int u = 1; u < QUERY_STATS_UPSTREAMS && upstream_names[u]; u++)
		for (int k = 0; k < QUERY_ERRS; k++) {
			const char *l[] = { "upstream", upstream_names[u], "kind",
			    kinds[k] };
			series(o, NULL, l, 2, q->upstream_errs[u][k], 0);
		}

	family(o, "query_duration", "query_duration_seconds", HISTOGRAM,
	    "Time from reading a query to sending its answer, local and "
	    "cached answers and upstream waits alike.");
	uint64_t cum = 0;
	for (int b = 0; b <= QUERY_BUCKETS; b++) {
		cum += q->latency[b];
		if (b < QUERY_BUCKETS)
			snprintf(le, sizeof(le), "%g", query_bucket_ns[b] / 1e9);
		else
			snprintf(le, sizeof(le), "+Inf");
		const char *l[] = { "le", le };
		series(o, "_bucket", l, 1, cum, 0);
	}
	if (o->format == STATS_PROMETHEUS) {
		series(o, "_sum", NULL, 0, q->latency_ns, 1e-9);
		series(o, "_count", NULL, 0, cum, 0);
	}
	const struct fig sums[] = {
		{ "query_duration_count", NULL, COUNTER, cum, 0, NULL },
		{ "query_duration_sum_us", NULL, COUNTER, q->latency_ns / 1000, 0,
		  NULL },
	};
	figures(o, sums, 2);

	family(o, "list_entries", "list_entries", GAUGE, "Prefixes of each "
	    "local list: its file's and its run-time entries.");
	for (int i = 0; i < s->nlists; i++) {
		const char *l[] = { "list", s->lists[i].name };
		series(o, NULL, l, 1, s->lists[i].entries, 0);
	}

	family(o, "list_loaded_ms", "list_reload_timestamp_seconds", GAUGE,
	    "When each list file was last loaded, Unix time.");
	for (int i = 0; i < s->nlists; i++) {
		const char *l[] = { "list", s->lists[i].name };
		series(o, NULL, l, 1, (uint64_t)(s->lists[i].loaded * 1000), 1e-3);
	}

	family(o, "reloads", "reloads_total", COUNTER, "Reloads: what=config "
	    "(SIGHUP, rblctl reload) or list (an edited list file), "
	    "result=ok|failed (the previous version keeps serving).");
	for (int w = 0; w < 2; w++)
		for (int r = 0; r < 2; r++) {
			const char *l[] = { "what", w ? "list" : "config", "result",
			    r ? "failed" : "ok" };
			series(o, NULL, l, 2, w ? s->m.list_reloads[r] :
			    s->m.config_reloads[r], 0);
		}

	family(o, "control_commands", "control_commands_total", COUNTER,
	    "rblctl commands, by command and result.");
	for (int c = 0; c < ctl_ncommands && c < STATS_COMMANDS; c++)
		for (int r = 0; r < 2; r++) {
			const char *l[] = { "command", ctl_commands[c].name, "result",
			    r ? "error" : "ok" };
			series(o, NULL, l, 2, s->m.commands[c][r], 0);
		}
}

static void
unlabelled(struct out *o, const struct stats_snapshot *s)
{
	const struct query_stats *q = &s->q;
	const struct cache_stats *c = &s->c;
	const struct rcache_stats *r = &s->r;
	const struct fig figs[] = {
	{ "queries", "queries_received_total", COUNTER, q->queries, 0,
	  "DNS messages received (answered or not)." },
	{ "answered", "answers_total", COUNTER, q->answered, 0,
	  "Answers sent (or handed to the kernel)." },
	{ "dropped", "dropped_total", COUNTER, q->dropped, 0,
	  "Messages not answered: runts, responses, send failures." },
	{ "listed", NULL, COUNTER, q->listed, 0, NULL },
	{ "not_listed", NULL, COUNTER, q->notlisted, 0, NULL },
	{ "rcode_noerror", NULL, COUNTER, q->rcode[DNS_R_NOERROR], 0, NULL },
	{ "rcode_formerr", NULL, COUNTER, q->rcode[DNS_R_FORMERR], 0, NULL },
	{ "rcode_servfail", NULL, COUNTER, q->rcode[DNS_R_SERVFAIL], 0, NULL },
	{ "rcode_nxdomain", NULL, COUNTER, q->rcode[DNS_R_NXDOMAIN], 0, NULL },
	{ "rcode_notimp", NULL, COUNTER, q->rcode[DNS_R_NOTIMP], 0, NULL },
	{ "rcode_refused", NULL, COUNTER, q->rcode[DNS_R_REFUSED], 0, NULL },
	{ "badvers", NULL, COUNTER, q->badvers, 0, NULL },
	{ "truncated", "truncated_total", COUNTER, q->truncated, 0,
	  "UDP answers truncated (TC set)." },
	{ "refused_acl", "refused_acl_total", COUNTER, q->refused_acl, 0,
	  "Queries refused: client outside allow-query." },
	{ "dropped_acl", "dropped_acl_total", COUNTER, q->dropped_acl, 0,
	  "Queries (UDP) and connections (TCP) dropped: client outside "
	  "allow-query, allow-query-action drop." },
	{ "ratelimit_dropped", "ratelimit_dropped_total", COUNTER,
	  q->ratelimit_dropped, 0,
	  "UDP answers not sent: client prefix over rate-limit." },
	{ "ratelimit_slipped", "ratelimit_slipped_total", COUNTER,
	  q->ratelimit_slipped, 0,
	  "UDP answers sent truncated instead: client prefix over rate-limit." },
	{ "upstream_asked", "upstream_waits_total", COUNTER, q->upstream_asked, 0,
	  "Queries that waited for upstream answers." },
	{ "short_circuit", "short_circuit_total", COUNTER, q->short_circuit, 0,
	  "Queries decided by local sources alone (no upstream needed)." },
	{ "upstream_queries", NULL, COUNTER, s->up_sent, 0, NULL },
	{ "upstream_coalesced", "upstream_coalesced_total", COUNTER,
	  s->up_coalesced, 0, "Upstream lookups that joined one in flight." },
	{ "upstream_timeouts", NULL, COUNTER, q->upstream_timeout, 0, NULL },
	{ "upstream_failures", NULL, COUNTER, q->upstream_fail, 0, NULL },
	{ "upstream_error_codes", NULL, COUNTER, q->upstream_errcode, 0, NULL },
	{ "pending_full", "pending_full_total", COUNTER, q->pending_full, 0,
	  "Queries answered from local data alone: max-pending reached." },
	{ "udp_saturated", "udp_saturated_total", COUNTER, q->udp_saturated, 0,
	  "Times a worker found its UDP socket full and read it without "
	  "waiting for events until it drained." },
	{ "cache_hits", "cache_hits_total", COUNTER, c->hits, 0,
	  "Upstream answers found in the in-process cache." },
	{ "cache_misses", "cache_misses_total", COUNTER, c->misses, 0,
	  "Upstream answers not in the in-process cache." },
	{ "cache_verdict_hits", "cache_verdict_hits_total", COUNTER,
	  c->verdict_hits, 0, "Queries answered from a cached verdict." },
	{ "cache_verdict_misses", "cache_verdict_misses_total", COUNTER,
	  c->verdict_misses, 0, "Verdict lookups that missed." },
	{ "cache_stale_answers", "cache_stale_answers_total", COUNTER,
	  q->stale_used, 0, "Expired answers used because upstream failed." },
	{ "cache_prefetches", "cache_prefetches_total", COUNTER,
	  q->prefetch_sent, 0, "Background refreshes of hot entries." },
	{ "cache_evictions", "cache_evictions_total", COUNTER, c->evictions, 0,
	  "Entries evicted to stay within max-memory." },
	{ "cache_entries", "cache_entries", GAUGE, c->entries, 0,
	  "Entries in the in-process cache." },
	{ "cache_bytes", "cache_bytes", GAUGE, c->bytes, 0,
	  "Bytes the in-process cache uses." },
	{ "cache_max_bytes", "cache_max_bytes", GAUGE, c->max_bytes, 0,
	  "The cache's bound (max-memory)." },
	{ "redis_configured", NULL, GAUGE, (uint64_t)s->redis, 0, NULL },
	{ "redis_up", "redis_up", GAUGE, (uint64_t)r->up, 0,
	  "1 when the Redis cache is connected, else 0." },
	{ "redis_gets", "redis_gets_total", COUNTER, r->gets, 0,
	  "GETs sent to Redis." },
	{ "redis_hits", "redis_hits_total", COUNTER, r->hits, 0,
	  "GETs Redis answered with a value." },
	{ "redis_misses", "redis_misses_total", COUNTER, r->misses, 0,
	  "GETs Redis answered with nothing." },
	{ "redis_errors", "redis_errors_total", COUNTER, r->errors, 0,
	  "GETs that failed (timeouts included)." },
	{ "redis_timeouts", "redis_timeouts_total", COUNTER, r->timeouts, 0,
	  "GETs not answered within redis timeout-ms." },
	{ "redis_sets", "redis_sets_total", COUNTER, r->sets, 0,
	  "Answers written to Redis." },
	{ "redis_dropped", "redis_dropped_total", COUNTER, r->dropped, 0,
	  "SETs and DELs not sent: Redis down or busy." },
	{ "redis_reconnects", "redis_reconnects_total", COUNTER, r->reconnects,
	  0, "Times the Redis connection came back." },
	{ "redis_answered", "redis_answered_total", COUNTER, s->redis_answered,
	  0, "Upstream lookups answered by Redis." },
	{ "redis_rtt_avg_us", "redis_rtt_average_seconds", GAUGE, r->rtt_count ?
	  r->rtt_us_sum / r->rtt_count : 0, 1e-6,
	  "Average round trip of a Redis GET since start." },
	{ "redis_rtt_max_us", "redis_rtt_max_seconds", GAUGE, r->rtt_us_max,
	  1e-6, "Longest round trip of a Redis GET since start." },
	{ "runtime_entries", "runtime_entries", GAUGE, s->runtime_entries, 0,
	  "Run-time entries (rblctl add) in force." },
	{ "runtime_shared", "runtime_shared", GAUGE, s->runtime_shared, 0,
	  "1 when run-time entries are shared through Redis now." },
	{ "query_log_lines", "query_log_lines_total", COUNTER, q->qlog_lines, 0,
	  "Lines handed to the query log." },
	{ "query_log_dropped", "query_log_dropped_total", COUNTER,
	  q->qlog_dropped, 0, "Query log lines lost: the writer fell behind." },
	{ "query_log_write_errors", "query_log_write_errors_total", COUNTER,
	  s->qlog_errors, 0, "Failed writes to the query log (its lines lost)." },
	};
	figures(o, figs, sizeof(figs) / sizeof(figs[0]));
}

char *
stats_render(const struct stats_snapshot *s, int format, size_t *len)
{
	struct out o;
	memset(&o, 0, sizeof(o));
	o.format = format;
	o.cap = 16384;
	if (!(o.buf = malloc(o.cap)))
		return NULL;
	o.buf[0] = '\0';
	if (format == STATS_JSON)
		put(&o, "{");
	unlabelled(&o, s);
	labelled(&o, s);
	if (format == STATS_JSON)
		put(&o, "}\n");
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
