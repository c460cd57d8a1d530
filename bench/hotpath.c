/* hotpath.c -- query_answer() alone: nanoseconds and instructions a query.
 *
 * Each case generates a seeded list file in a temp dir, loads it and a
 * one-zone config the way the daemon does, pre-builds a ring of query
 * packets (reversed-IP A queries under the zone, RD and an EDNS OPT of
 * 1232 bytes as Unbound and BIND send them) and times N calls of
 * query_answer() over the ring, best of five, printing one line:
 *
 *   hotpath case=list1m-hit queries=2000000 ns_per_query=180.2 qps_core=5549389 instr_per_query=na
 *
 * instr_per_query is filled in by bench/hotpath.sh, which runs --instr
 * under callgrind (perf counters are not available on the build machine).
 *
 * The answers are checked: every packet of the ring once with the strict
 * reader of tests/unit/dnsmsg.h (rcode, the A value from the list, SOA,
 * OPT), and every timed answer by its rcode and the query counters, so a
 * broken build cannot be timed on its error path.  No line is printed
 * for a case that fails; the exit status is then 1.
 *
 * With -T N the timed loop runs in N threads at once over the same
 * snapshot and cache, as N workers would (each from its own place in the
 * ring), and the line adds threads=N and qps_total: what shared writes
 * (the cache's shard locks and LRU) cost when cores answer together.
 *
 * Queries follow a Zipf law (s = 1) over a hot set of addresses, as
 * connecting SMTP clients do.  The ring is the same whatever -n is, so
 * two --instr runs differ only in the number of loop iterations.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "clock.h"
#include "config.h"
#include "dns.h"
#include "lists.h"
#include "query.h"

#include "../tests/unit/dnsmsg.h"

/* With the valgrind headers, --instr runs uninstrumented (fast) up to
 * the timed loop when callgrind is started with --instr-atstart=no. */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND	1
#endif
#endif
#ifndef HAVE_CALLGRIND
#define HAVE_CALLGRIND	0
#define CALLGRIND_START_INSTRUMENTATION	do { } while (0)
#define CALLGRIND_STOP_INSTRUMENTATION	do { } while (0)
#endif

#define ZONE		"bl.example.net"
/* the same list and one upstream source, threshold 2: every hit needs
 * the upstream's answer, so its verdict is cached */
#define VZONE		"vc.example.net"
#define VUPSTREAM	"up.example.org"
#define RING		65536	/* distinct query packets, whatever -n is */
#define REPEATS		5
#define QUICK_REPEATS	3
#define SEED		0x5eed0b1ac1157ULL

enum { HIT, MISS };

struct bench_case {
	const char *name;
	int family;
	size_t entries;		/* prefixes in the list (also under -q: the
				 * 1M list is generated and loaded in ~1 s) */
	size_t hot;		/* distinct addresses queried */
	int want;		/* HIT: NOERROR with an A; MISS: NXDOMAIN */
	int cached;		/* VZONE, answered from cached verdicts */
};

static const struct bench_case cases[] = {
	{ "list1m-hit", AF_INET, 1000000, 100000, HIT, 0 },
	{ "list1m-miss", AF_INET, 1000000, 100000, MISS, 0 },
	{ "verdict-hit", AF_INET, 1000000, 100000, HIT, 1 },
	{ "small-hit", AF_INET, 100, 100, HIT, 0 },	/* a cached verdict's stand-in */
	{ "ipv6-hit", AF_INET6, 100000, 20000, HIT, 0 },
};
#define NCASES	(sizeof(cases) / sizeof(cases[0]))

/* One loaded list: what the generator wrote and what the daemon built. */
struct dataset {
	int family;
	size_t entries;
	char dir[64];
	struct config *cfg;
	struct snapshot snap;
	struct cache *cache;
	/* the prefixes written, to draw listed addresses from */
	struct gen_pfx { uint8_t a[16]; uint8_t len, excl; } *pfx;
	size_t npfx;
};

/* The ring of queries for one case; buf holds them back to back. */
struct ring {
	uint8_t *buf;
	uint32_t off[RING + 1];
	struct ipaddr ip[RING];	/* the address each one asks about */
};

static struct {
	size_t n;		/* queries a timed loop */
	int quick, instr;
	int threads;		/* -T: loops running at once */
	const char *only;
	uint64_t rng;
} opt = { 2000000, 0, 0, 1, NULL, SEED };

/* ---- helpers ---- */

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("hotpath: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

/* splitmix64: seeded, fast, good enough to spread addresses */
static uint64_t
rng64(void)
{
	uint64_t z = (opt.rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t
rng32(void)
{
	return (uint32_t)(rng64() >> 32);
}

/* uniform in [0, n) (the modulo bias is irrelevant here) */
static size_t
rng_below(size_t n)
{
	return (size_t)(rng64() % n);
}

static double
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Clears the bits of a (16 bytes) past len. */
static void
mask(uint8_t *a, int len, int bytes)
{
	for (int i = 0; i < bytes; i++) {
		int keep = len - 8 * i;
		if (keep <= 0)
			a[i] = 0;
		else if (keep < 8)
			a[i] &= (uint8_t)(0xff << (8 - keep));
	}
}

/* Fills the bits of a past len with random ones. */
static void
random_host(uint8_t *a, int len, int bytes)
{
	for (int i = 0; i < bytes; i++) {
		int keep = len - 8 * i;
		uint8_t r = (uint8_t)rng32();
		if (keep <= 0)
			a[i] = r;
		else if (keep < 8)
			a[i] |= r & (uint8_t)(0xff >> keep);
	}
}

/* ---- list generation ---- */

static char *
put_dec(char *p, unsigned v)
{
	char tmp[10];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/* Writes one prefix line ("!a.b.c.d/len :127.0.0.3:entry N $"). */
static char *
put_line(char *p, const struct gen_pfx *g, int family, size_t i)
{
	if (g->excl)
		*p++ = '!';
	if (family == AF_INET) {
		for (int k = 0; k < 4; k++) {
			p = put_dec(p, g->a[k]);
			*p++ = k < 3 ? '.' : '/';
		}
		if (g->len == 32)
			p--;
		else
			p = put_dec(p, g->len);
	} else {
		char txt[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, g->a, txt, sizeof(txt));
		size_t n = strlen(txt);
		memcpy(p, txt, n);
		p += n;
		if (g->len != 128) {
			*p++ = '/';
			p = put_dec(p, g->len);
		}
	}
	/* a text on every tenth entry, the default value elsewhere */
	if (!g->excl && i % 10 == 0) {
		static const char v[] = " :127.0.0.3:entry ";
		memcpy(p, v, sizeof(v) - 1);
		p = put_dec(p + sizeof(v) - 1, (unsigned)i);
		*p++ = ' ';
		*p++ = '$';
	}
	*p++ = '\n';
	return p;
}

/* Draws the list as listload.py does: 90 % single addresses, 10 % CIDRs
 * (/16../31), 5 % exclusions, these inside an earlier CIDR when there is
 * one so that they punch holes.  IPv6: /32../64 and /128 under 2000::/3. */
static void
gen_prefixes(struct dataset *d)
{
	size_t ncidr = 0;
	size_t *cidrs = xmalloc(d->entries * sizeof(*cidrs));
	int bytes = d->family == AF_INET ? 4 : 16;
	d->pfx = xmalloc(d->entries * sizeof(*d->pfx));
	d->npfx = d->entries;
	for (size_t i = 0; i < d->entries; i++) {
		struct gen_pfx *g = &d->pfx[i];
		memset(g, 0, sizeof(*g));
		random_host(g->a, 0, bytes);
		unsigned r = rng32() % 100;
		if (d->family == AF_INET) {
			g->a[0] = (uint8_t)(1 + g->a[0] % 223);	/* 1..223 */
			g->len = 32;
			if (r < 10)
				g->len = (uint8_t)(16 + rng32() % 16);
		} else {
			g->a[0] = (uint8_t)(0x20 | (g->a[0] & 0x1f));
			static const uint8_t lens[] = { 32, 40, 48, 48, 56, 56,
			    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 128, 128, 128 };
			g->len = lens[r % sizeof(lens)];
		}
		if (r >= 95) {
			g->excl = 1;
			g->len = (uint8_t)(8 * bytes);
			if (ncidr > 0) {
				const struct gen_pfx *c = &d->pfx[cidrs[rng_below(ncidr)]];
				memcpy(g->a, c->a, sizeof(g->a));
				random_host(g->a, c->len, bytes);
			}
		}
		mask(g->a, g->len, bytes);
		if (!g->excl && g->len < 8 * bytes)
			cidrs[ncidr++] = i;
	}
	free(cidrs);
}

static void
write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");
	if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

/* Generates and loads a list of d->entries prefixes with a zone on it. */
static void
dataset_load(struct dataset *d)
{
	char list[96], conf[96];
	strcpy(d->dir, "/tmp/rblcache-hotpath-XXXXXX");
	if (!mkdtemp(d->dir))
		die("mkdtemp: %s", strerror(errno));
	snprintf(list, sizeof(list), "%s/big.list", d->dir);
	snprintf(conf, sizeof(conf), "%s/rblcache.conf", d->dir);

	gen_prefixes(d);
	size_t cap = 64 + d->npfx * 80, n = 0;
	char *text = xmalloc(cap);
	n += (size_t)sprintf(text, ":127.0.0.2:listed $\n");
	for (size_t i = 0; i < d->npfx; i++)
		n = (size_t)(put_line(text + n, &d->pfx[i], d->family, i) - text);
	write_file(list, text, n);
	free(text);

	char c[512];
	int k = snprintf(c, sizeof(c),
	    "listen = { \"127.0.0.1:5300\" }\nworkers = 1\nuser = \"root\"\n"
	    "list \"big\" { file = \"%s\" }\n"
	    "zone \"" ZONE "\" { sources = { \"big\" } }\n"
	    "zone \"" VZONE "\" { sources = { \"big\", \"" VUPSTREAM "\" } "
	    "threshold = 2 }\n", list);
	write_file(conf, c, (size_t)k);

	d->cfg = config_load(conf);
	if (!d->cfg)
		die("%s: config does not load", conf);
	d->cfg->refs = 1;	/* as snapshot_new() in daemon/main.c */
	d->snap.cfg = d->cfg;
	d->snap.nlists = d->cfg->nlists;
	d->snap.lists = calloc((size_t)d->cfg->nlists + 1, sizeof(struct list *));
	if (!d->snap.lists)
		die("out of memory");
	for (int i = 0; i < d->cfg->nlists; i++) {
		int nerr;
		d->snap.lists[i] = list_load(d->cfg->lists[i].name,
		    d->cfg->lists[i].file, &nerr);
		if (!d->snap.lists[i])
			die("%s: %d errors", d->cfg->lists[i].file, nerr);
	}
	d->snap.serial = 2024010101u;
	d->snap.gen = 1;
	if (!(d->cache = cache_new(256u << 20)))
		die("out of memory");
	for (int i = 0; i < d->cfg->nupstreams; i++)
		d->cfg->upstreams[i].cache_id = cache_source_id(d->cache,
		    d->cfg->upstreams[i].name);
	unlink(list);
	unlink(conf);
	rmdir(d->dir);
}

static void
dataset_free(struct dataset *d)
{
	if (!d->cfg)
		return;
	for (int i = 0; i < d->snap.nlists; i++)
		list_unref(d->snap.lists[i]);
	free(d->snap.lists);
	config_free(d->cfg);
	cache_free(d->cache);
	free(d->pfx);
	memset(d, 0, sizeof(*d));
}

/* ---- queries ---- */

/* A listed address: inside a random non-excluded prefix, and found so by
 * the daemon's own lookup (an exclusion may cover it). */
static int
draw_hit(const struct dataset *d, struct ipaddr *ip)
{
	const struct list *l = d->snap.lists[0];
	int bytes = d->family == AF_INET ? 4 : 16;
	for (int tries = 0; tries < 1000; tries++) {
		const struct gen_pfx *g = &d->pfx[rng_below(d->npfx)];
		if (g->excl)
			continue;
		memset(ip, 0, sizeof(*ip));
		ip->family = d->family;
		memcpy(ip->a, g->a, (size_t)bytes);
		random_host(ip->a, g->len, bytes);
		if (d->family == AF_INET && (ip->a[0] == 127 || ip->a[0] == 0))
			continue;	/* RFC 5782 test points answer fixed */
		if (list_lookup(l, ip) != LIST_NOENTRY)
			return 0;
	}
	return -1;
}

/* An unlisted public-looking IPv4 address. */
static int
draw_miss(const struct dataset *d, struct ipaddr *ip)
{
	const struct list *l = d->snap.lists[0];
	for (int tries = 0; tries < 1000; tries++) {
		memset(ip, 0, sizeof(*ip));
		ip->family = AF_INET;
		uint32_t a = rng32();
		ip->a[0] = (uint8_t)(1 + (a >> 24) % 223);
		ip->a[1] = (uint8_t)(a >> 16);
		ip->a[2] = (uint8_t)(a >> 8);
		ip->a[3] = (uint8_t)a;
		if (ip->a[0] == 127)
			continue;
		if (list_lookup(l, ip) == LIST_NOENTRY)
			return 0;
	}
	return -1;
}

/* Writes an A query for ip under ZONE with RD and EDNS (1232, DO clear)
 * into p; returns its length. */
static size_t
build_query(uint8_t *p, const struct ipaddr *ip, uint16_t id, const char *zn)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t zone[64];
	int zlen = config_name_to_wire(zn, zone, sizeof(zone));
	size_t n = 0;
	p[n++] = (uint8_t)(id >> 8);
	p[n++] = (uint8_t)id;
	p[n++] = DNS_F_RD >> 8;
	p[n++] = 0;
	static const uint8_t counts[] = { 0, 1, 0, 0, 0, 0, 0, 1 };
	memcpy(p + n, counts, sizeof(counts));
	n += sizeof(counts);
	if (ip->family == AF_INET) {
		for (int i = 3; i >= 0; i--) {
			char *s = (char *)p + n + 1;
			p[n] = (uint8_t)(put_dec(s, ip->a[i]) - s);
			n += 1 + p[n];
		}
	} else {
		for (int i = 31; i >= 0; i--) {
			uint8_t b = ip->a[i / 2];
			p[n++] = 1;
			p[n++] = (uint8_t)hex[i % 2 ? b & 0xf : b >> 4];
		}
	}
	memcpy(p + n, zone, (size_t)zlen);
	n += (size_t)zlen;
	static const uint8_t tail[] = {
		0, DNS_T_A, 0, DNS_C_IN,			/* qtype, qclass */
		0, 0, DNS_T_OPT, DNS_EDNS_UDP >> 8, DNS_EDNS_UDP & 0xff,
		0, 0, 0, 0, 0, 0 };		/* ext rcode, version, flags, rdlen */
	memcpy(p + n, tail, sizeof(tail));
	return n + sizeof(tail);
}

/* Fills the ring: a hot set of addresses drawn for the case, queried
 * with Zipf(1) popularity in a random rank order. */
static void
ring_build(struct ring *r, const struct dataset *d, const struct bench_case *c)
{
	size_t hot = c->hot;
	struct ipaddr *set = xmalloc(hot * sizeof(*set));
	double *cdf = xmalloc(hot * sizeof(*cdf));
	double sum = 0;
	for (size_t i = 0; i < hot; i++) {
		int rc = c->want == HIT ? draw_hit(d, &set[i]) : draw_miss(d, &set[i]);
		if (rc < 0)
			die("%s: cannot draw %s addresses", c->name,
			    c->want == HIT ? "listed" : "unlisted");
		sum += 1.0 / (double)(i + 1);
		cdf[i] = sum;
	}
	r->buf = xmalloc((size_t)RING * 128);
	r->off[0] = 0;
	for (size_t k = 0; k < RING; k++) {
		double u = (double)(rng64() >> 11) / 9007199254740992.0 * sum;
		size_t lo = 0, hi = hot - 1;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (cdf[mid] <= u)
				lo = mid + 1;
			else
				hi = mid;
		}
		r->ip[k] = set[lo];
		r->off[k + 1] = r->off[k] +
		    (uint32_t)build_query(r->buf + r->off[k], &set[lo],
		    (uint16_t)rng32(), c->cached ? VZONE : ZONE);
	}
	free(set);
	free(cdf);
}

/* ---- checks ---- */

/* Reads every answer of the ring strictly.  Returns 0, or -1 after
 * saying what is wrong with the first bad one. */
static int
ring_check(const struct ring *r, const struct dataset *d,
    const struct bench_case *c, const struct ipaddr *client,
    struct query_upstream *up)
{
	static uint8_t out[QUERY_UDP_MAX];
	static struct msg m;
	struct query_stats st;
	const struct list *l = d->snap.lists[0];
	memset(&st, 0, sizeof(st));
	for (size_t k = 0; k < RING; k++) {
		const uint8_t *q = r->buf + r->off[k];
		size_t qlen = r->off[k + 1] - r->off[k];
		char txt[INET6_ADDRSTRLEN];
		inet_ntop(r->ip[k].family, r->ip[k].a, txt, sizeof(txt));
		if (up) {
			up->phase = QUERY_ASK;
			up->n = up->nprefetch = 0;
		}
		size_t n = query_answer(&d->snap, q, qlen, client, 1, out, &st, up);
		const char *bad = NULL;
		if (n == 0 || n > QUERY_UDP_MAX || msg_parse(out, n, &m) < 0)
			bad = "no answer, or one that does not parse";
		else if (m.id != msg_get16(q) || !(m.flags & DNS_F_QR) ||
		    !(m.flags & DNS_F_AA) || m.count[0] != 1 || m.opt < 0)
			bad = "wrong header, question or no OPT";
		else if (c->want == MISS) {
			if (m.rcode != DNS_R_NXDOMAIN || m.count[1] != 0 ||
			    !msg_find(&m, 1, DNS_T_SOA))
				bad = "not NXDOMAIN with a SOA";
		} else {
			uint32_t e = list_lookup(l, &r->ip[k]);
			const struct msg_rr *a = msg_find(&m, 0, DNS_T_A);
			if (m.rcode != DNS_R_NOERROR || m.count[1] != 1 || !a ||
			    a->rdlen != 4 || e == LIST_NOENTRY ||
			    msg_get32(out + a->rdoff) != l->entries[e].a)
				bad = "not NOERROR with the list's A value";
		}
		if (bad) {
			fprintf(stderr, "hotpath: %s: query %zu for %s: %s "
			    "(rcode %d)\n", c->name, k, txt, bad,
			    n >= 4 ? out[3] & 0xf : -1);
			return -1;
		}
	}
	return 0;
}

/* ---- the timed loop ---- */

/* Answers n queries from the ring; returns how many answers had another
 * rcode than want (or none).  Kept out of line: the unit callgrind sees. */
__attribute__((noinline)) static size_t
hotpath_loop(const struct ring *r, const struct snapshot *s,
    const struct ipaddr *client, size_t n, int want, struct query_stats *st,
    struct query_upstream *up, size_t k)
{
	uint8_t out[QUERY_UDP_MAX] __attribute__((aligned(64)));
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *q = r->buf + r->off[k];
		if (up) {	/* as the worker does before each query */
			up->phase = QUERY_ASK;
			up->n = up->nprefetch = 0;
		}
		size_t len = query_answer(s, q, r->off[k + 1] - r->off[k], client,
		    1, out, st, up);
		bad += len == 0 || (out[3] & 0xf) != want;
		if (++k == RING)
			k = 0;
	}
	return bad;
}

/* One of -T N loops: its own counters, scratch and place in the ring. */
struct loop_arg {
	const struct ring *r;
	const struct snapshot *s;
	const struct ipaddr *client;
	int want, cached;
	size_t start, bad;
	pthread_barrier_t *go;
	struct query_stats st;
	struct query_upstream up;
};

static void *
loop_thread(void *p)
{
	struct loop_arg *a = p;
	pthread_barrier_wait(a->go);
	a->bad = hotpath_loop(a->r, a->s, a->client, opt.n, a->want, &a->st,
	    a->cached ? &a->up : NULL, a->start);
	return NULL;
}

/* Runs the loop in opt.threads threads at once; returns the wall time in
 * ns from the start to the last one's end, or -1 when an answer was
 * wrong (reported). */
static double
run_threads(const struct bench_case *c, const struct ring *r,
    const struct snapshot *s, const struct ipaddr *client, int want)
{
	int n = opt.threads;
	struct loop_arg *a = xmalloc((size_t)n * sizeof(*a));
	pthread_t *t = xmalloc((size_t)n * sizeof(*t));
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, (unsigned)n + 1);
	memset(a, 0, (size_t)n * sizeof(*a));
	for (int i = 0; i < n; i++) {
		a[i] = (struct loop_arg){ .r = r, .s = s, .client = client,
		    .want = want, .cached = c->cached,
		    .start = (size_t)i * (RING / (size_t)n), .go = &go };
		if (pthread_create(&t[i], NULL, loop_thread, &a[i]) != 0)
			die("pthread_create");
	}
	pthread_barrier_wait(&go);
	double t0 = now_ns();
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	double wall = now_ns() - t0;
	pthread_barrier_destroy(&go);
	for (int i = 0; i < n; i++) {
		uint64_t right = c->want == HIT ? a[i].st.listed : a[i].st.notlisted;
		if (a[i].bad || right != opt.n) {
			fprintf(stderr, "hotpath: %s: thread %d: %zu of %zu answers "
			    "wrong\n", c->name, i, a[i].bad, opt.n);
			wall = -1;
		}
	}
	free(a);
	free(t);
	return wall;
}

/* One timed loop in this thread (under callgrind with --instr): the
 * wall time in ns, or -1 when an answer was wrong (reported). */
static double
run_once(const struct bench_case *c, const struct ring *r,
    const struct snapshot *s, const struct ipaddr *client, int want,
    struct query_upstream *up)
{
	struct query_stats st;
	memset(&st, 0, sizeof(st));
	if (opt.instr)
		CALLGRIND_START_INSTRUMENTATION;
	double t0 = now_ns();
	size_t bad = hotpath_loop(r, s, client, opt.n, want, &st, up, 0);
	double t = now_ns() - t0;
	if (opt.instr)
		CALLGRIND_STOP_INSTRUMENTATION;
	uint64_t right = c->want == HIT ? st.listed : st.notlisted;
	if (bad || right != opt.n || st.queries != opt.n) {
		fprintf(stderr, "hotpath: %s: %zu of %zu answers wrong "
		    "(listed %llu, not listed %llu)\n", c->name, bad, opt.n,
		    (unsigned long long)st.listed,
		    (unsigned long long)st.notlisted);
		return -1;
	}
	return t;
}

/* Runs one case on d.  Returns 0, or -1 when an answer was wrong. */
static int
run_case(const struct bench_case *c, const struct dataset *d)
{
	struct ipaddr client;
	struct ring *r = xmalloc(sizeof(*r));
	addr_parse_ip("127.0.0.1", &client);
	ring_build(r, d, c);
	int rc = -1;
	struct dataset *dw = (struct dataset *)d;
	static struct query_upstream scratch;
	struct query_upstream *up = NULL;
	dw->snap.cache = NULL;
	if (c->cached) {
		/* the upstream's answer for every address, as if looked up:
		 * the check pass then caches each verdict */
		struct upstream_raw raw;
		memset(&raw, 0, sizeof(raw));
		raw.status = UPS_ANSWER;
		raw.a[0] = 0x7f000002;
		raw.na = 1;
		for (size_t k = 0; k < RING; k++) {
			struct cache_key key;
			memset(&key, 0, sizeof(key));
			key.kind = CACHE_A;
			key.id = (uint8_t)d->cfg->upstreams[0].cache_id;
			key.ip = r->ip[k];
			cache_put_result(d->cache, &key, clock_sec(), &raw, 3600);
		}
		dw->snap.cache = d->cache;
		up = &scratch;
	}
	if (ring_check(r, d, c, &client, up) < 0)
		goto fail;

	int want = c->want == HIT ? DNS_R_NOERROR : DNS_R_NXDOMAIN;
	int repeats = opt.instr ? 1 : opt.quick ? QUICK_REPEATS : REPEATS;
	double best = 0;
	for (int i = 0; i < repeats; i++) {
		double t = opt.threads > 1 ?
		    run_threads(c, r, &d->snap, &client, want) :
		    run_once(c, r, &d->snap, &client, want, up);
		if (t < 0)
			goto fail;
		if (i == 0 || t < best)
			best = t;
	}
	double ns = best / (double)opt.n;
	if (opt.threads > 1)
		printf("hotpath case=%s threads=%d queries=%zu ns_per_query=%.1f "
		    "qps_total=%.0f\n", c->name, opt.threads, opt.n, ns,
		    1e9 / ns * opt.threads);
	else
		printf("hotpath case=%s queries=%zu ns_per_query=%.1f "
		    "qps_core=%.0f instr_per_query=na\n", c->name, opt.n, ns,
		    1e9 / ns);
	fflush(stdout);
	rc = 0;
fail:
	free(r->buf);
	free(r);
	return rc;
}

/* ---- main ---- */

static void
usage(void)
{
	fprintf(stderr, "usage: hotpath [-q] [--instr] [-n N] [-T N] [-c CASE]\n"
	    "  -n N     queries in a timed loop (default 2000000)\n"
	    "  -T N     N loops at once in N threads (default 1)\n"
	    "  -c CASE  run one case:");
	for (size_t i = 0; i < NCASES; i++)
		fprintf(stderr, " %s", cases[i].name);
	fprintf(stderr, "\n"
	    "  -q       quick: %d repeats of 200000 queries\n"
	    "  --instr  one loop, for callgrind (bench/hotpath.sh): run with\n"
	    "           --instr-atstart=no to count the loop alone%s\n",
	    QUICK_REPEATS, HAVE_CALLGRIND ? "" :
	    " (not in this build: no valgrind/callgrind.h)");
	exit(2);
}

int
main(int argc, char **argv)
{
	int nset = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-q") == 0)
			opt.quick = 1;
		else if (strcmp(argv[i], "--instr") == 0)
			opt.instr = 1;
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			char *end;
			opt.n = strtoull(argv[++i], &end, 10);
			if (*end || opt.n == 0)
				usage();
			nset = 1;
		} else if (strcmp(argv[i], "-T") == 0 && i + 1 < argc) {
			char *end;
			opt.threads = (int)strtol(argv[++i], &end, 10);
			if (*end || opt.threads < 1 || opt.threads > 64)
				usage();
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			opt.only = argv[++i];
		else
			usage();
	}
	if (opt.instr && opt.threads > 1)
		die("--instr counts one loop: no -T");
	if (opt.instr && !HAVE_CALLGRIND)
		die("--instr needs a build with valgrind/callgrind.h (make deps)");
	if (!nset)
		opt.n = opt.instr ? 20000 : opt.quick ? 200000 : opt.n;
	if (opt.only) {
		size_t i = 0;
		while (i < NCASES && strcmp(cases[i].name, opt.only) != 0)
			i++;
		if (i == NCASES)
			usage();
	}

	struct dataset d;
	int failed = 0;
	memset(&d, 0, sizeof(d));
	if (!opt.instr)
		printf("hotpath cache_entry_bytes=%zu\n", cache_entry_bytes());
	for (size_t i = 0; i < NCASES; i++) {
		const struct bench_case *c = &cases[i];
		if (opt.only && strcmp(c->name, opt.only) != 0)
			continue;
		size_t entries = c->entries;
		/* consecutive cases on the same kind of list share it */
		if (!d.cfg || d.family != c->family || d.entries != entries) {
			dataset_free(&d);
			opt.rng = SEED ^ entries ^ (uint64_t)c->family << 40;
			d.family = c->family;
			d.entries = entries;
			dataset_load(&d);
		}
		/* queries drawn the same whatever ran before */
		opt.rng = SEED ^ (uint64_t)(i + 1) << 32;
		if (run_case(c, &d) < 0)
			failed = 1;
	}
	dataset_free(&d);
	return failed;
}
