/* query.c -- from a parsed query to the answer's records.
 *
 * The decision order: clients outside allow-query dropped unparsed when
 * allow-query-action is "drop"; drop responses and runts;
 * FORMERR/NOTIMP/BADVERS from the parser; REFUSED for clients outside
 * allow-query, classes other than IN and names outside every zone; the
 * apex answers SOA and NS; a name that is not an IP is NXDOMAIN;
 * otherwise the zone's sources are scored and a listed address answers
 * A/TXT, an unlisted one NXDOMAIN with the SOA (RFC 5782 §2.1, §5).
 */
#include "query.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

#include "cache.h"
#include "clock.h"
#include "dns.h"
#include "policy.h"
#include "qname.h"

#define TEST_POINT_LISTED	0x7f000002u	/* 127.0.0.2, RFC 5782 §5 */
#define TEST_POINT_UNLISTED	0x7f000001u

/* 100 us .. 2.5 s: a local answer takes microseconds, an upstream
 * wait up to timeout-ms (1.5 s by default) */
const uint64_t query_bucket_ns[QUERY_BUCKETS] = {
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
	25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
	2500000000u,
};

int
query_client_allowed(const struct config *c, const struct ipaddr *ip)
{
	for (int i = 0; i < c->nallow; i++)
		if (addr_cidr_contains(&c->allow[i], ip))
			return 1;
	return 0;
}

/* The zone with the longest name that is a label-aligned suffix of the
 * query name; *prefix gets the length of the labels in front of it. */
static const struct config_zone *
find_zone(const struct config *c, const struct dns_query *q, size_t *prefix)
{
	const struct config_zone *best = NULL;
	for (int i = 0; i < c->nzones; i++) {
		const struct config_zone *z = &c->zones[i];
		if (z->wirelen > q->qname_len || (best && z->wirelen <= best->wirelen))
			continue;
		size_t off = q->qname_len - z->wirelen;
		if (memcmp(q->qname + off, z->wire, z->wirelen) != 0)
			continue;
		/* off must fall on a label boundary */
		size_t p = 0;
		while (p < off)
			p += 1 + q->qname[p];
		if (p == off)
			best = z;
	}
	if (best)
		*prefix = q->qname_len - best->wirelen;
	return best;
}

static uint32_t
ip4_value(const struct ipaddr *ip)
{
	return (uint32_t)ip->a[0] << 24 | (uint32_t)ip->a[1] << 16 |
	    (uint32_t)ip->a[2] << 8 | ip->a[3];
}

static void
add_soa(struct dns_resp *r, const struct snapshot *s,
    const struct config_zone *z, uint16_t apex, int section)
{
	uint32_t ttl = z->has_ttl ? z->ttl : QUERY_DEFAULT_TTL;
	dns_resp_add_soa(r, section, apex, ttl, s->serial, ttl);
}

/* The list an entry index of a match points into: the file's, or with
 * LIST_DYN_BIT (cleared in *e) the run-time part's. */
static const struct list *
entry_list(const struct snapshot *s, int li, uint32_t *e)
{
	if (*e & LIST_DYN_BIT) {
		*e &= ~LIST_DYN_BIT;
		return s->dyn[li];
	}
	return s->lists[li];
}

/* NXDOMAIN with the zone's SOA: the address is not listed. */
static size_t
not_listed(const struct snapshot *s, const struct config_zone *z,
    const struct dns_query *q, uint16_t apex, uint8_t *out, size_t limit,
    struct query_stats *st)
{
	struct dns_resp r;
	st->notlisted++;
	st->last.verdict = 0;
	st->rcode[DNS_R_NXDOMAIN]++;
	dns_resp_init(&r, out, limit, q, DNS_R_NXDOMAIN, DNS_F_AA);
	add_soa(&r, s, z, apex, DNS_S_NS);
	return dns_resp_finish(&r);
}

/* ---- upstream sources ---- */

/* Codes that mean "you may not use this list", never "listed" (DESIGN
 * §2): Spamhaus .252 typo in the zone name, .254 public resolver, .255
 * too many queries, DQS .250/.251 key disabled or rejected. */
static const char *
builtin_error(const struct config_upstream *u, uint32_t a)
{
	if ((a >> 24) != 127)
		return "answer outside 127.0.0.0/8";
	switch (a) {
	case 0x7ffffffa: return "key disabled (127.255.255.250)";
	case 0x7ffffffb: return "key rejected (127.255.255.251)";
	case 0x7ffffffc: return "typo in the zone name (127.255.255.252)";
	case 0x7ffffffe: return "queried through a public resolver (127.255.255.254)";
	case 0x7fffffff: return "too many queries (127.255.255.255)";
	}
	size_t nl = strlen(u->name);
	if (a == 0x7f0000ff && nl >= 9 && strcmp(u->name + nl - 9, "dnswl.org") == 0)
		return "over quota (127.0.0.255)";
	for (int i = 0; i < u->nerror; i++)
		if (u->error_codes[i] == a)
			return "configured error code";
	return NULL;
}

enum { LOG_TIMEOUT, LOG_FAIL, LOG_ERRCODE };

/* One log line per upstream and kind a minute, from any worker. */
static void
log_upstream(const struct config_upstream *cu, int kind, const char *what)
{
	struct config_upstream *u = (struct config_upstream *)cu;
	long now = (long)time(NULL);
	long prev = atomic_load(&u->logged[kind]);
	if ((prev && now - prev < 60) ||
	    !atomic_compare_exchange_strong(&u->logged[kind], &prev, now))
		return;
	log_warnx("upstream %s: %s (logged once a minute)", u->name, what);
}

static int
plan_lookups(const struct config *c, const struct config_zone *z,
    const struct ipaddr *ip, uint16_t qtype, struct query_upstream *up)
{
	char rev[80];
	qname_format_ip(ip, rev, sizeof(rev));
	up->n = 0;
	for (int i = 0; i < z->nsrc; i++) {
		int u = z->src[i].upstream;
		if (u < 0)
			continue;
		const struct config_upstream *cu = &c->upstreams[u];
		for (int t = 0; t < 2; t++) {
			uint16_t type = t == 0 ? DNS_T_A : DNS_T_TXT;
			if (type == DNS_T_TXT && (!cu->txt ||
			    (qtype != DNS_T_TXT && qtype != DNS_T_ANY)))
				continue;
			int dup = 0;
			for (int k = 0; k < up->n; k++)
				dup |= up->l[k].upstream == u && up->l[k].qtype == type;
			if (dup || up->n == QUERY_MAX_LOOKUPS)
				continue;
			struct query_lookup *l = &up->l[up->n++];
			l->upstream = u;
			l->qtype = type;
			l->state = QL_PENDING;
			l->timeout_ms = cu->timeout_ms ? cu->timeout_ms :
			    c->resolver.timeout_ms;
			snprintf(l->qname, sizeof(l->qname), "%s.%s", rev,
			    cu->query_zone);
		}
	}
	return up->n;
}

/* ---- cache ---- */

/* Fills the planned lookups that the cache holds fresh; returns how
 * many are left to ask upstream. */
static int
cache_fill(const struct snapshot *s, const struct ipaddr *ip,
    struct query_upstream *up, uint32_t now, struct query_stats *st)
{
	const struct config *c = s->cfg;
	int left = 0;
	up->nprefetch = 0;
	for (int k = 0; k < up->n; k++) {
		struct query_lookup *l = &up->l[k];
		const struct config_upstream *cu = &c->upstreams[l->upstream];
		l->cached = l->prefetch = l->stale = 0;
		l->cacheable = s->cache && cu->cache_id >= 0;
		if (!l->cacheable) {
			left++;
			continue;
		}
		memset(&l->key, 0, sizeof(l->key));
		l->key.kind = l->qtype == DNS_T_A ? CACHE_A : CACHE_TXT;
		l->key.id = (uint8_t)cu->cache_id;
		l->key.ip = *ip;
		int rc = cache_get_result(s->cache, &l->key, now, &l->r);
		if (rc == CACHE_MISS) {
			left++;
			continue;
		}
		l->state = QL_DONE;
		l->cached = 1;
		l->stale = rc == CACHE_STALE;
		st->stale_used += (uint64_t)l->stale;
		if (rc == CACHE_PREFETCH && c->cache.prefetch) {
			l->prefetch = 1;
			up->nprefetch++;
		}
	}
	return left;
}

/* Serve-stale (RFC 8767): lookups that failed or timed out take an
 * expired result up to cache.serve-stale seconds old. */
static void
use_stale(const struct snapshot *s, struct query_upstream *up,
    struct query_stats *st, uint32_t now)
{
	const struct config *c = s->cfg;
	if (!s->cache || c->cache.serve_stale <= 0)
		return;
	for (int k = 0; k < up->n; k++) {
		struct query_lookup *l = &up->l[k];
		if (!l->cacheable || (l->state == QL_DONE &&
		    l->r.status != UPS_FAIL))
			continue;
		if (cache_get_stale(s->cache, &l->key, now,
		    (uint32_t)c->cache.serve_stale, &l->r)) {
			l->state = QL_DONE;
			l->stale = 1;
			st->stale_used++;
		}
	}
}

/* How long a verdict built from up may be reused: the shortest life
 * left of the A results it used; 0 when any of them is missing, failed,
 * stale or an error code (those are re-examined every time). */
static uint32_t
verdict_life(const struct query_upstream *up)
{
	uint32_t life = 0;
	for (int k = 0; k < up->n; k++) {
		const struct query_lookup *l = &up->l[k];
		if (l->qtype != DNS_T_A)
			continue;
		if (l->state != QL_DONE || l->stale || l->r.status == UPS_FAIL ||
		    l->r.ttl == 0)
			return 0;
		if (life == 0 || l->r.ttl < life)
			life = l->r.ttl;
	}
	/* gone before the results' last tenth, so that queries then read
	 * the results and their prefetch keeps a hot address warm */
	return life - (life + 9) / 10;
}

/* Applies the lookups' results to v; returns the smallest TTL of the
 * answers used (0: none) and notes what went wrong in why. */
static uint32_t
score_upstream(const struct config *c, const struct config_zone *z,
    struct query_upstream *up, struct verdict *v, struct policy_answer *ans,
    struct query_stats *st, char *why, size_t *whylen)
{
	uint32_t ttl = 0;
	for (int k = 0; k < up->n; k++) {
		struct query_lookup *l = &up->l[k];
		const struct config_upstream *cu = &c->upstreams[l->upstream];
		if (l->qtype != DNS_T_A)
			continue;
		const char *problem = NULL;
		if (l->state != QL_DONE) {
			st->upstream_timeout++;
			st->upstream_errs[cu->stats_id][QUERY_ERR_TIMEOUT]++;
			problem = "no answer in time";
			log_upstream(cu, LOG_TIMEOUT, "no answer within timeout-ms: "
			    "verdicts computed without it (fail open)");
		} else if (l->r.status == UPS_FAIL) {
			st->upstream_fail++;
			st->upstream_errs[cu->stats_id][QUERY_ERR_SERVFAIL]++;
			problem = "lookup failed";
			log_upstream(cu, LOG_FAIL, "lookups fail (SERVFAIL or "
			    "unreachable): verdicts computed without it (fail open)");
		} else if (l->r.status == UPS_ANSWER) {
			const char *err = NULL;
			for (int i = 0; i < l->r.na && !err; i++)
				err = builtin_error(cu, l->r.a[i]);
			if (err) {
				char msg[160];
				st->upstream_errcode++;
				st->upstream_errs[cu->stats_id][QUERY_ERR_ERRCODE]++;
				problem = "error code";
				snprintf(msg, sizeof(msg), "refuses us: %s; not counted as "
				    "listed", err);
				log_upstream(cu, LOG_ERRCODE, msg);
				l->r.na = 0;
				l->r.ttl = 0;	/* keeps the verdict out of the cache */
			} else if (l->r.ttl && (ttl == 0 || l->r.ttl < ttl))
				ttl = l->r.ttl;
		}
		if (!problem && l->stale)
			problem = "answer served stale, upstream failing";
		if (problem && *whylen + strlen(cu->name) + 40 < QUERY_EXPLAIN_MAX)
			*whylen += (size_t)snprintf(why + *whylen,
			    QUERY_EXPLAIN_MAX - *whylen, "; %s: %s", cu->name, problem);
		for (int i = 0; i < z->nsrc; i++)
			if (z->src[i].upstream == l->upstream &&
			    l->state == QL_DONE && l->r.status == UPS_ANSWER) {
				ans[i].a = l->r.a;
				ans[i].na = l->r.na;
			}
	}
	policy_add_upstream(z->src, z->nsrc, z->threshold, ans, v);
	/* keep the upstream TXTs of sources that matched for the explanation */
	for (int k = 0; k < up->n; k++) {
		struct query_lookup *l = &up->l[k];
		if (l->qtype != DNS_T_TXT || l->state != QL_DONE ||
		    l->r.status != UPS_ANSWER || l->r.txtlen == 0)
			continue;
		int matched = 0;
		for (int i = 0; i < v->nmatch; i++)
			matched |= z->src[v->match[i].source].upstream == l->upstream;
		if (!matched)
			continue;
		const char *name = c->upstreams[l->upstream].name;
		if (*whylen + strlen(name) + l->r.txtlen + 4 < QUERY_EXPLAIN_MAX)
			*whylen += (size_t)snprintf(why + *whylen,
			    QUERY_EXPLAIN_MAX - *whylen, "; %s: %s", name, l->r.txt);
	}
	return ttl;
}

/* "listed: zen.spamhaus.org 127.0.0.4 (+3), block "spam run" (+10);
 * score 13 >= 3" followed by the notes in why. */
static size_t
explain(const struct snapshot *s, const struct config_zone *z,
    const struct verdict *v, const struct ipaddr *ip, const char *why,
    char *out, size_t size)
{
	size_t n = 0;
#define PUT(...) do { int k_ = snprintf(out + n, size - n, __VA_ARGS__); \
	if (k_ > 0) n = n + (size_t)k_ < size ? n + (size_t)k_ : size - 1; } while (0)
	PUT("listed:");
	for (int i = 0; i < v->nmatch; i++) {
		const struct policy_source *src = &z->src[v->match[i].source];
		uint32_t a = v->match[i].a;
		PUT("%s %s", i ? "," : "", src->name);
		if (src->list >= 0) {
			char txt[256];
			uint32_t e = v->match[i].entry;
			const struct list *l = entry_list(s, src->list, &e);
			if (list_entry_txt(l, e, ip, txt, sizeof(txt)))
				PUT(" \"%s\"", txt);
		} else
			PUT(" %u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
			    a & 255);
		PUT(" (%+d)", src->weight);
	}
	if (v->nmatch == 0)
		PUT(" RFC 5782 test point");
	PUT("; score %d >= %d%s", v->score, z->threshold, why);
#undef PUT
	return n;
}

/* qtype -> QUERY_QT_*, as a table: a switch costs a dozen instructions
 * on the hot path; the rest are 0, QUERY_QT_OTHER */
static const uint8_t qtype_labels[256] = {
	[DNS_T_A] = QUERY_QT_A, [DNS_T_TXT] = QUERY_QT_TXT,
	[DNS_T_ANY] = QUERY_QT_ANY, [DNS_T_SOA] = QUERY_QT_SOA,
	[DNS_T_NS] = QUERY_QT_NS, [DNS_T_AAAA] = QUERY_QT_AAAA,
};

/* inlined: the call would cost more than the counting around it */
static inline __attribute__((always_inline)) size_t
answer(const struct snapshot *s, const uint8_t *pkt, size_t len,
    const struct ipaddr *client, int udp, uint8_t *out,
    struct query_stats *st, struct query_upstream *up)
{
	struct query_result *res = &st->last;
	struct dns_query q;
	struct dns_resp r;
	size_t prefix = 0, n;
	int rc;

	if (!up || up->phase == QUERY_ASK)
		st->queries++;
	/* before the parser: with "drop", a client outside allow-query
	 * costs a prefix compare and gets nothing, whatever it sent */
	const struct config *c = s->cfg;
	if (c->allow_drop && !query_client_allowed(c, client)) {
		st->dropped_acl++;
		return 0;
	}
	rc = dns_parse(pkt, len, &q);
	if (rc == DNS_PARSE_DROP) {
		st->dropped++;
		return 0;
	}
	size_t limit = udp ? dns_udp_limit(&q) : 65535;
	if (q.has_question && q.qtype < 256)
		res->qtype = qtype_labels[q.qtype];
	if (rc != DNS_PARSE_OK) {
		if (rc == DNS_R_BADVERS) {
			st->badvers++;
			res->rcode = QUERY_RC_BADVERS;
		} else
			st->rcode[rc]++;
		return dns_error(&q, rc, out, limit);
	}
	if (!c->allow_drop && !query_client_allowed(c, client)) {
		st->refused_acl++;
		st->rcode[DNS_R_REFUSED]++;
		return dns_error(&q, DNS_R_REFUSED, out, limit);
	}
	const struct config_zone *z = NULL;
	if (q.qclass == DNS_C_IN || q.qclass == DNS_C_ANY)
		z = find_zone(c, &q, &prefix);
	if (!z) {
		st->rcode[DNS_R_REFUSED]++;
		return dns_error(&q, DNS_R_REFUSED, out, limit);
	}
	res->zone = (uint8_t)z->stats_id;
	uint16_t owner = DNS_HDRLEN;
	uint16_t apex = (uint16_t)(DNS_HDRLEN + prefix);
	uint32_t zttl = z->has_ttl ? z->ttl : QUERY_DEFAULT_TTL;
	struct ipaddr ip;

	switch (qname_parse_ip(q.qname, prefix, &ip)) {
	case QNAME_APEX:
		dns_resp_init(&r, out, limit, &q, DNS_R_NOERROR, DNS_F_AA);
		if (q.qtype == DNS_T_SOA || q.qtype == DNS_T_ANY)
			add_soa(&r, s, z, apex, DNS_S_AN);
		if (q.qtype == DNS_T_NS || q.qtype == DNS_T_ANY)
			dns_resp_add_ns(&r, DNS_S_AN, apex, zttl, apex);
		if (q.qtype != DNS_T_SOA && q.qtype != DNS_T_NS &&
		    q.qtype != DNS_T_ANY)
			add_soa(&r, s, z, apex, DNS_S_NS);
		st->rcode[DNS_R_NOERROR]++;
		return dns_resp_finish(&r);
	case QNAME_BAD:
		dns_resp_init(&r, out, limit, &q, DNS_R_NXDOMAIN, DNS_F_AA);
		add_soa(&r, s, z, apex, DNS_S_NS);
		st->rcode[DNS_R_NXDOMAIN]++;
		return dns_resp_finish(&r);
	default:
		break;
	}

	/* a cached verdict answers everything but TXT (which explains
	 * the verdict from its parts) */
	int zi = (int)(z - c->zones);
	int use_verdict = s->cache && up && z->nupstream > 0 && zi < 255;
	uint32_t now = s->cache && up ? clock_sec() : 0;
	struct cache_key vkey;
	if (use_verdict) {
		memset(&vkey, 0, sizeof(vkey));
		vkey.kind = CACHE_VERDICT;
		vkey.id = (uint8_t)zi;
		vkey.gen = s->gen;
		vkey.ip = ip;
		struct cache_verdict cv;
		if (up->phase == QUERY_ASK && q.qtype != DNS_T_TXT &&
		    q.qtype != DNS_T_ANY &&
		    cache_get_verdict(s->cache, &vkey, now, &cv)) {
			up->n = 0;
			up->nprefetch = 0;
			res->via = QUERY_VIA_CACHE;
			if (!cv.listed)
				return not_listed(s, z, &q, apex, out, limit, st);
			st->listed++;
			res->verdict = 1;
			st->rcode[DNS_R_NOERROR]++;
			dns_resp_init(&r, out, limit, &q, DNS_R_NOERROR, DNS_F_AA);
			if (q.qtype == DNS_T_A)
				dns_resp_add_a(&r, DNS_S_AN, owner, cv.ttl, cv.a);
			else
				add_soa(&r, s, z, apex, DNS_S_NS);	/* NODATA */
			return dns_resp_finish(&r);
		}
	}

	struct verdict v;
	struct policy_answer ans[POLICY_MAX_SOURCES];
	policy_eval(z->src, z->nsrc, z->threshold, s->lists, s->dyn, &ip, &v);
	res->via = QUERY_VIA_LOCAL;
	if (z->nupstream > 0)
		memset(ans, 0, sizeof(ans));
	uint32_t upttl = 0, vlife = 0;
	char why[QUERY_EXPLAIN_MAX];
	size_t whylen = 0;
	why[0] = '\0';

	if (z->nupstream > 0) {
		int pos, neg;
		policy_upstream_bounds(z->src, z->nsrc, &pos, &neg);
		/* RFC 5782 test points answer the same whatever upstream says */
		int decided = v.score + pos < z->threshold ||
		    v.score + neg >= z->threshold ||
		    (ip.family == AF_INET && (ip4_value(&ip) == TEST_POINT_LISTED ||
		    ip4_value(&ip) == TEST_POINT_UNLISTED));
		if (decided) {
			if (!up || up->phase == QUERY_ASK)
				st->short_circuit++;
		} else if (up && up->phase == QUERY_ASK) {
			if (plan_lookups(c, z, &ip, q.qtype, up) > 0) {
				if (cache_fill(s, &ip, up, now, st) > 0) {
					st->upstream_asked++;
					return 0;
				}
				/* every part cached: answer now */
				res->via = QUERY_VIA_CACHE;
				upttl = score_upstream(c, z, up, &v, ans, st, why,
				    &whylen);
				vlife = verdict_life(up);
			}
		} else if (up) {
			res->via = QUERY_VIA_UPSTREAM;
			use_stale(s, up, st, now);
			upttl = score_upstream(c, z, up, &v, ans, st, why, &whylen);
			vlife = verdict_life(up);
		}
	}
	int test_point = 0;
	if (ip.family == AF_INET && ip4_value(&ip) == TEST_POINT_LISTED &&
	    !v.listed)
		v.listed = test_point = 1;
	if (ip.family == AF_INET && ip4_value(&ip) == TEST_POINT_UNLISTED)
		v.listed = 0;
	res->score = v.score;

	if (!v.listed) {
		if (use_verdict && vlife) {
			struct cache_verdict cv = { 0, 0, 0 };
			cache_put_verdict(s->cache, &vkey, now, &cv, vlife);
		}
		return not_listed(s, z, &q, apex, out, limit, st);
	}
	st->listed++;
	res->verdict = 1;
	st->rcode[DNS_R_NOERROR]++;

	/* TTL: the zone's, else the smallest $TTL of the lists that matched;
	 * never longer than an upstream answer it depends on */
	uint32_t ttl = zttl;
	if (!z->has_ttl) {
		uint32_t lt = 0;
		for (int i = 0; i < v.nmatch; i++) {
			const struct policy_source *src = &z->src[v.match[i].source];
			if (src->list < 0)
				continue;
			/* run-time entries answer with their file's $TTL */
			const struct list *l = s->lists[src->list];
			if (l->ttl && (lt == 0 || l->ttl < lt))
				lt = l->ttl;
		}
		if (lt)
			ttl = lt;
	}
	if (upttl && upttl < ttl)
		ttl = upttl;

	uint32_t a = z->has_answer ? z->answer : TEST_POINT_LISTED;
	if (!z->has_answer)
		for (int i = 0; i < v.nmatch; i++)
			if (z->src[v.match[i].source].weight > 0) {
				a = v.match[i].a;
				break;
			}
	if (use_verdict && vlife && !test_point) {
		/* reused for no longer than the answer's own TTL */
		struct cache_verdict cv = { 1, a, 0 };
		cache_put_verdict(s->cache, &vkey, now, &cv,
		    vlife < ttl ? vlife : ttl);
	}
	dns_resp_init(&r, out, limit, &q, DNS_R_NOERROR, DNS_F_AA);
	int want_a = q.qtype == DNS_T_A || q.qtype == DNS_T_ANY;
	int want_txt = q.qtype == DNS_T_TXT || q.qtype == DNS_T_ANY;
	if (want_a)
		dns_resp_add_a(&r, DNS_S_AN, owner, ttl, a);
	if (want_txt && z->nupstream > 0) {
		/* one line that says why: every part and the score */
		char txt[QUERY_EXPLAIN_MAX + 512];
		n = explain(s, z, &v, &ip, why, txt, sizeof(txt));
		dns_resp_add_txt(&r, DNS_S_AN, owner, ttl, txt, n);
	} else if (want_txt) {
		char txt[1024];
		int added = 0;
		for (int i = 0; i < v.nmatch; i++) {
			const struct policy_source *src = &z->src[v.match[i].source];
			if (src->weight <= 0)
				continue;
			uint32_t e = v.match[i].entry;
			const struct list *l = entry_list(s, src->list, &e);
			if (!list_txt(l, e))
				continue;
			n = list_entry_txt(l, e, &ip, txt, sizeof(txt));
			dns_resp_add_txt(&r, DNS_S_AN, owner, ttl, txt, n);
			added++;
		}
		if (test_point && !added) {
			static const char tp[] = "RFC 5782 test point";
			dns_resp_add_txt(&r, DNS_S_AN, owner, ttl, tp, sizeof(tp) - 1);
			added++;
		}
		if (!added && !want_a)
			add_soa(&r, s, z, apex, DNS_S_NS);
	}
	if (!want_a && !want_txt)
		add_soa(&r, s, z, apex, DNS_S_NS);	/* NODATA */
	n = dns_resp_finish(&r);
	if (r.full)
		st->truncated++;
	return n;
}

size_t
query_answer(const struct snapshot *s, const uint8_t *pkt, size_t len,
    const struct ipaddr *client, int udp, uint8_t *out,
    struct query_stats *st, struct query_upstream *up)
{
	static const struct query_result none = { 0, QUERY_QT_OTHER, 0, -1,
	    QUERY_VIA_NONE, QUERY_NO_SCORE };
	struct query_result *res = &st->last;
	*res = none;
	size_t n = answer(s, pkt, len, client, udp, out, st, up);
	if (n >= DNS_HDRLEN) {
		/* the rcode as sent; BADVERS (extended) was noted */
		struct query_result r = *res;
		if (r.rcode != QUERY_RC_BADVERS)
			res->rcode = r.rcode = out[3] & 0x0f;
		if (r.rcode < QUERY_RCODES)
			st->by_label[r.zone][r.qtype][r.rcode]++;
		if (r.verdict >= 0)
			st->verdicts[r.zone][r.verdict]++;
	}
	return n;
}
