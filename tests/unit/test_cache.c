/* test_cache.c -- the in-process cache: results, verdicts, bounds and LRU.
 *
 * Covered: round trips of A results (1 to UPSTREAM_MAX_A codes, more
 * cut), TXT results (255 bytes kept, longer cut), NXDOMAIN and NODATA;
 * what is not stored (UPS_FAIL, ttl 0); replacing an entry (its old
 * block freed and uncounted); that keys differing in one field only do
 * not collide and that an IPv4 key ignores bytes 4..15; the expiry edge
 * (fresh up to now+ttl-1, a miss at now+ttl); prefetch (once per entry,
 * in the last tenth of its life, again after a new put); serve-stale
 * (up to max_stale seconds past the end, ttl CACHE_STALE_TTL, then lent
 * CACHE_STALE_TTL seconds of life as CACHE_STALE);
 * verdicts (generation, zone, expiry, listed flag and A); cache_flush
 * and cache_flush_ip; the memory bound and per-shard LRU at scale
 * (1,000,000 A entries in 4 MiB, TXT blocks, a hot set kept through a
 * flood of cold inserts); lowering and raising the bound; source ids;
 * and four threads hammering overlapping IPs, after which the counters
 * must add up exactly.
 *
 * Time is the `now` argument, so nothing sleeps.  The concurrency test
 * runs under ASan+UBSan with `make asan`; make has no TSan build (a
 * hand-built -fsanitize=thread binary of this file is clean).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "cache.h"

#include "testutil.h"

#define T0	100000u		/* an arbitrary "now" */

/* ---- helpers ---- */

/* 10.0.0.0 + n as an IPv4 address (any n: the top byte wraps). */
static struct ipaddr
v4n(uint32_t n)
{
	struct ipaddr a;
	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	n += 10u << 24;
	a.a[0] = (uint8_t)(n >> 24);
	a.a[1] = (uint8_t)(n >> 16);
	a.a[2] = (uint8_t)(n >> 8);
	a.a[3] = (uint8_t)n;
	return a;
}

static struct cache_key
rkey(int kind, int id, struct ipaddr a)
{
	struct cache_key k;
	memset(&k, 0, sizeof(k));
	k.kind = (uint8_t)kind;
	k.id = (uint8_t)id;
	k.ip = a;
	return k;
}

static struct cache_key
vkey(int zone, uint32_t gen, struct ipaddr a)
{
	struct cache_key k = rkey(CACHE_VERDICT, zone, a);
	k.gen = gen;
	return k;
}

/* An answer with n codes 127.0.0.first, 127.0.0.first+1, ... */
static struct upstream_raw
raw_a(int n, int first)
{
	struct upstream_raw r;
	memset(&r, 0, sizeof(r));
	r.status = UPS_ANSWER;
	for (int i = 0; i < n && i < UPSTREAM_MAX_A; i++)
		r.a[i] = 0x7f000000u | (uint32_t)(first + i);
	r.na = n;
	return r;
}

static struct upstream_raw
raw_txt(const char *txt)
{
	struct upstream_raw r;
	memset(&r, 0, sizeof(r));
	r.status = UPS_ANSWER;
	r.txtlen = strlen(txt);
	memcpy(r.txt, txt, r.txtlen + 1);
	return r;
}

static struct upstream_raw
raw_status(int status)
{
	struct upstream_raw r;
	memset(&r, 0, sizeof(r));
	r.status = status;
	return r;
}

/* cache_get_result into an out filled with garbage first, so that every
 * field the cache should set is seen to be set. */
static int
get(struct cache *c, const struct cache_key *k, uint32_t now,
    struct upstream_raw *out)
{
	memset(out, 0xa5, sizeof(*out));
	return cache_get_result(c, k, now, out);
}

/* out holds what want says: status, codes, TXT (and ttl). */
static void
assert_raw(const struct upstream_raw *out, const struct upstream_raw *want,
    uint32_t ttl)
{
	assert_int_equal(out->status, want->status);
	int na = want->na > UPSTREAM_MAX_A ? UPSTREAM_MAX_A : want->na;
	assert_int_equal(out->na, na);
	for (int i = 0; i < na; i++)
		assert_int_equal(out->a[i], want->a[i]);
	size_t tl = want->txtlen > 255 ? 255 : want->txtlen;
	assert_int_equal(out->txtlen, tl);
	assert_memory_equal(out->txt, want->txt, tl);
	assert_int_equal(out->txt[tl], '\0');
	assert_int_equal(out->ttl, ttl);
}

static struct cache_stats
stats(struct cache *c)
{
	struct cache_stats s;
	cache_stats(c, &s);
	return s;
}

/* ---- results ---- */

static void
test_entry_bytes(void **state)
{
	(void)state;
	size_t n = cache_entry_bytes();
	printf("cache_entry_bytes() = %zu (goal <= 64)\n", n);
	assert_true(n >= 16);
	assert_true(n <= 64);
}

static void
test_result_a(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	assert_non_null(c);
	struct cache_key k = rkey(CACHE_A, 3, ip("192.0.2.1"));
	struct upstream_raw r = raw_a(1, 2), out;

	assert_int_equal(get(c, &k, T0, &out), CACHE_MISS);
	cache_put_result(c, &k, T0, &r, 300);
	assert_int_equal(get(c, &k, T0, &out), CACHE_FRESH);
	assert_raw(&out, &r, 300);
	assert_int_equal(get(c, &k, T0 + 100, &out), CACHE_FRESH);
	assert_raw(&out, &r, 200);
	/* the last second: still an answer (the first look in the last
	 * tenth asks for a prefetch), then gone */
	assert_int_equal(get(c, &k, T0 + 299, &out), CACHE_PREFETCH);
	assert_raw(&out, &r, 1);
	assert_int_equal(get(c, &k, T0 + 299, &out), CACHE_FRESH);
	assert_raw(&out, &r, 1);
	assert_int_equal(get(c, &k, T0 + 300, &out), CACHE_MISS);
	assert_int_equal(get(c, &k, T0 + 100000, &out), CACHE_MISS);

	struct cache_stats s = stats(c);
	assert_int_equal(s.hits, 4);
	assert_int_equal(s.misses, 3);
	assert_int_equal(s.inserts, 1);
	assert_int_equal(s.entries, 1);	/* expired, kept for serve-stale */
	assert_int_equal(s.prefetch, 1);
	assert_int_equal(s.evictions, 0);
	assert_int_equal(s.verdict_hits + s.verdict_misses, 0);
	cache_free(c);
}

static void
test_result_codes(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct upstream_raw out;
	/* 0 .. UPSTREAM_MAX_A codes, each on its own IP */
	for (int n = 0; n <= UPSTREAM_MAX_A; n++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n((uint32_t)n));
		struct upstream_raw r = raw_a(n, 10 * n + 1);
		cache_put_result(c, &k, T0, &r, 600);
	}
	for (int n = 0; n <= UPSTREAM_MAX_A; n++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n((uint32_t)n));
		struct upstream_raw r = raw_a(n, 10 * n + 1);
		assert_int_equal(get(c, &k, T0 + 1, &out), CACHE_FRESH);
		assert_raw(&out, &r, 599);
	}
	/* more than UPSTREAM_MAX_A: the first UPSTREAM_MAX_A are kept */
	struct cache_key k = rkey(CACHE_A, 0, ip("192.0.2.9"));
	struct upstream_raw r = raw_a(UPSTREAM_MAX_A, 100);
	r.na = UPSTREAM_MAX_A + 5;
	cache_put_result(c, &k, T0, &r, 600);
	assert_int_equal(get(c, &k, T0, &out), CACHE_FRESH);
	assert_int_equal(out.na, UPSTREAM_MAX_A);
	for (int i = 0; i < UPSTREAM_MAX_A; i++)
		assert_int_equal(out.a[i], 0x7f000000u | (uint32_t)(100 + i));
	/* a negative count stores none */
	r.na = -3;
	cache_put_result(c, &k, T0, &r, 600);
	assert_int_equal(get(c, &k, T0, &out), CACHE_FRESH);
	assert_int_equal(out.na, 0);
	assert_int_equal(out.status, UPS_ANSWER);
	cache_free(c);
}

static void
test_result_txt(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct upstream_raw out, r;

	struct cache_key k1 = rkey(CACHE_TXT, 1, ip("192.0.2.1"));
	r = raw_txt("Listed by test, see https://example.org/lookup?192.0.2.1");
	cache_put_result(c, &k1, T0, &r, 60);
	assert_int_equal(get(c, &k1, T0 + 3, &out), CACHE_FRESH);
	assert_raw(&out, &r, 57);

	/* exactly 255 bytes: kept whole */
	struct cache_key k2 = rkey(CACHE_TXT, 1, ip("192.0.2.2"));
	struct upstream_raw r255;
	memset(&r255, 0, sizeof(r255));
	for (int i = 0; i < 255; i++)
		r255.txt[i] = (char)('a' + i % 26);
	r255.txtlen = 255;
	cache_put_result(c, &k2, T0, &r255, 60);
	assert_int_equal(get(c, &k2, T0, &out), CACHE_FRESH);
	assert_int_equal(out.txtlen, 255);
	assert_memory_equal(out.txt, r255.txt, 255);
	assert_int_equal(out.txt[255], '\0');

	/* 256 bytes (no NUL) and a length past the buffer: cut to 255 */
	struct upstream_raw rlong = r255;
	rlong.txt[255] = 'Z';
	rlong.txtlen = 256;
	struct cache_key k3 = rkey(CACHE_TXT, 1, ip("192.0.2.3"));
	cache_put_result(c, &k3, T0, &rlong, 60);
	assert_int_equal(get(c, &k3, T0, &out), CACHE_FRESH);
	assert_int_equal(out.txtlen, 255);
	assert_memory_equal(out.txt, r255.txt, 255);
	assert_int_equal(out.txt[255], '\0');
	rlong.txtlen = 100000;
	cache_put_result(c, &k3, T0, &rlong, 60);
	assert_int_equal(get(c, &k3, T0, &out), CACHE_FRESH);
	assert_int_equal(out.txtlen, 255);
	assert_memory_equal(out.txt, r255.txt, 255);

	/* a NUL inside the TXT is data, not an end */
	struct cache_key k4 = rkey(CACHE_TXT, 1, ip("192.0.2.4"));
	r = raw_txt("ab");
	memcpy(r.txt, "ab\0cd", 6);
	r.txtlen = 5;
	cache_put_result(c, &k4, T0, &r, 60);
	assert_int_equal(get(c, &k4, T0, &out), CACHE_FRESH);
	assert_int_equal(out.txtlen, 5);
	assert_memory_equal(out.txt, "ab\0cd", 6);

	/* codes and a TXT in one entry */
	struct cache_key k5 = rkey(CACHE_A, 1, ip("192.0.2.5"));
	r = raw_a(3, 7);
	strcpy(r.txt, "both");
	r.txtlen = 4;
	cache_put_result(c, &k5, T0, &r, 60);
	assert_int_equal(get(c, &k5, T0, &out), CACHE_FRESH);
	assert_raw(&out, &r, 60);

	/* a one-code answer has no TXT */
	struct cache_key k6 = rkey(CACHE_A, 1, ip("192.0.2.6"));
	r = raw_a(1, 2);
	cache_put_result(c, &k6, T0, &r, 60);
	assert_int_equal(get(c, &k6, T0, &out), CACHE_FRESH);
	assert_int_equal(out.txtlen, 0);
	assert_int_equal(out.txt[0], '\0');
	cache_free(c);
}

static void
test_result_negative(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct upstream_raw out;
	struct cache_key kn = rkey(CACHE_A, 0, ip("192.0.2.1"));
	struct cache_key kd = rkey(CACHE_TXT, 0, ip("192.0.2.1"));
	struct upstream_raw nx = raw_status(UPS_NXDOMAIN);
	struct upstream_raw nd = raw_status(UPS_NODATA);
	cache_put_result(c, &kn, T0, &nx, 900);
	cache_put_result(c, &kd, T0, &nd, 450);
	assert_int_equal(get(c, &kn, T0 + 1, &out), CACHE_FRESH);
	assert_raw(&out, &nx, 899);
	assert_int_equal(get(c, &kd, T0 + 1, &out), CACHE_FRESH);
	assert_raw(&out, &nd, 449);
	assert_int_equal(get(c, &kd, T0 + 450, &out), CACHE_MISS);
	assert_int_equal(get(c, &kn, T0 + 450, &out), CACHE_FRESH);
	assert_int_equal(stats(c).entries, 2);
	cache_free(c);
}

static void
test_result_not_stored(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct upstream_raw out, fail = raw_status(UPS_FAIL), r = raw_a(2, 2);
	struct cache_key k = rkey(CACHE_A, 0, ip("192.0.2.1"));

	cache_put_result(c, &k, T0, &fail, 300);
	assert_int_equal(get(c, &k, T0, &out), CACHE_MISS);
	cache_put_result(c, &k, T0, &r, 0);
	assert_int_equal(get(c, &k, T0, &out), CACHE_MISS);
	struct cache_stats s = stats(c);
	assert_int_equal(s.inserts, 0);
	assert_int_equal(s.entries, 0);

	/* neither replaces a good entry either */
	cache_put_result(c, &k, T0, &r, 300);
	cache_put_result(c, &k, T0 + 10, &fail, 300);
	cache_put_result(c, &k, T0 + 10, &r, 0);
	assert_int_equal(get(c, &k, T0 + 10, &out), CACHE_FRESH);
	assert_raw(&out, &r, 290);
	assert_int_equal(stats(c).inserts, 1);
	cache_free(c);
}

static void
test_result_replace(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct upstream_raw out;
	struct cache_key k = rkey(CACHE_A, 0, ip("192.0.2.1"));
	struct upstream_raw one = raw_a(1, 2);
	cache_put_result(c, &k, T0, &one, 100);
	uint64_t plain = stats(c).bytes;

	/* a bigger value: an extra block, counted */
	struct upstream_raw big = raw_a(UPSTREAM_MAX_A, 20);
	memset(big.txt, 'x', 200);
	big.txtlen = 200;
	cache_put_result(c, &k, T0 + 5, &big, 1000);
	assert_int_equal(get(c, &k, T0 + 5, &out), CACHE_FRESH);
	assert_raw(&out, &big, 1000);
	uint64_t withext = stats(c).bytes;
	assert_true(withext >= plain + 200 + (UPSTREAM_MAX_A - 1) * 4);

	/* another value of the same size: same bytes, new content */
	struct upstream_raw big2 = raw_a(UPSTREAM_MAX_A, 40);
	memset(big2.txt, 'y', 200);
	big2.txtlen = 200;
	cache_put_result(c, &k, T0 + 6, &big2, 1000);
	assert_int_equal(get(c, &k, T0 + 6, &out), CACHE_FRESH);
	assert_raw(&out, &big2, 1000);
	assert_int_equal(stats(c).bytes, withext);

	/* back to no block (old one freed: ASan would see a leak) */
	struct upstream_raw nx = raw_status(UPS_NXDOMAIN);
	cache_put_result(c, &k, T0 + 7, &nx, 30);
	assert_int_equal(get(c, &k, T0 + 7, &out), CACHE_FRESH);
	assert_raw(&out, &nx, 30);
	/* the new, shorter TTL counts, not the longer old one */
	assert_int_equal(get(c, &k, T0 + 37, &out), CACHE_MISS);

	struct cache_stats s = stats(c);
	assert_int_equal(s.bytes, plain);
	assert_int_equal(s.entries, 1);
	assert_int_equal(s.inserts, 1);
	assert_int_equal(s.evictions, 0);
	cache_free(c);
}

static void
test_keys_distinct(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct upstream_raw out;
	struct ipaddr a4 = ip("1.2.3.4");
	/* an IPv6 address with the same 16 bytes as a4's (family differs) */
	struct ipaddr a6 = ip("102:304::");
	assert_memory_equal(a4.a, a6.a, 16);
	struct cache_key keys[] = {
		rkey(CACHE_A, 0, a4),
		rkey(CACHE_TXT, 0, a4),		/* kind */
		rkey(CACHE_A, 1, a4),		/* id */
		rkey(CACHE_A, 255, a4),
		rkey(CACHE_A, 0, a6),		/* family */
		rkey(CACHE_A, 0, ip("1.2.3.5")),	/* ip */
		rkey(CACHE_A, 0, ip("129.2.3.4")),
		rkey(CACHE_A, 0, ip("102:304::1")),
		rkey(CACHE_A, 0, ip("8102:304::")),
		rkey(CACHE_A, 0, a4),		/* gen, set below */
	};
	int n = (int)(sizeof(keys) / sizeof(keys[0]));
	keys[n - 1].gen = 1;
	for (int i = 0; i < n; i++) {
		struct upstream_raw r = raw_a(1, i + 1);
		cache_put_result(c, &keys[i], T0, &r, 100 + (uint32_t)i);
	}
	assert_int_equal(stats(c).entries, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(get(c, &keys[i], T0, &out), CACHE_FRESH);
		assert_int_equal(out.na, 1);
		assert_int_equal(out.a[0], 0x7f000000u | (uint32_t)(i + 1));
		assert_int_equal(out.ttl, 100 + (uint32_t)i);
	}
	/* verdicts: zone and generation */
	struct cache_verdict v = { 1, 0x7f000002, 0 }, got;
	struct cache_key vk[] = {
		vkey(0, 7, a4), vkey(1, 7, a4), vkey(0, 8, a4), vkey(0, 7, a6),
	};
	for (int i = 0; i < 4; i++) {
		v.a = 0x7f000010u + (uint32_t)i;
		cache_put_verdict(c, &vk[i], T0, &v, 50);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(cache_get_verdict(c, &vk[i], T0, &got), 1);
		assert_int_equal(got.a, 0x7f000010u + (uint32_t)i);
	}
	assert_int_equal(stats(c).entries, n + 4);
	cache_free(c);
}

static void
test_ipv4_unused_bytes(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct upstream_raw out, r = raw_a(2, 5);
	struct ipaddr clean = ip("198.51.100.7"), dirty = clean;
	memset(dirty.a + 4, 0xab, 12);
	struct cache_key kd = rkey(CACHE_A, 2, dirty);
	struct cache_key kc = rkey(CACHE_A, 2, clean);

	cache_put_result(c, &kd, T0, &r, 100);
	assert_int_equal(get(c, &kc, T0, &out), CACHE_FRESH);
	assert_raw(&out, &r, 100);
	struct upstream_raw r2 = raw_a(1, 9);
	cache_put_result(c, &kc, T0, &r2, 100);	/* replaces, no second entry */
	assert_int_equal(get(c, &kd, T0, &out), CACHE_FRESH);
	assert_raw(&out, &r2, 100);
	assert_int_equal(stats(c).entries, 1);

	struct cache_verdict v = { 1, 0x7f000004, 0 }, got;
	struct cache_key vd = vkey(0, 3, dirty), vc = vkey(0, 3, clean);
	cache_put_verdict(c, &vd, T0, &v, 100);
	assert_int_equal(cache_get_verdict(c, &vc, T0, &got), 1);
	assert_int_equal(got.a, 0x7f000004);

	memset(dirty.a + 4, 0x5c, 12);
	assert_int_equal(cache_flush_ip(c, &dirty), 2);
	assert_int_equal(get(c, &kc, T0, &out), CACHE_MISS);
	cache_free(c);
}

/* ---- prefetch and serve-stale ---- */

static void
test_prefetch(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct upstream_raw out, r = raw_a(1, 2);
	struct cache_key k = rkey(CACHE_A, 0, ip("192.0.2.1"));
	cache_put_result(c, &k, T0, &r, 100);
	assert_int_equal(get(c, &k, T0, &out), CACHE_FRESH);
	assert_int_equal(get(c, &k, T0 + 89, &out), CACHE_FRESH);
	assert_int_equal(out.ttl, 11);
	assert_int_equal(stats(c).prefetch, 0);
	/* remaining 10 of 100: asked once, with the answer */
	assert_int_equal(get(c, &k, T0 + 90, &out), CACHE_PREFETCH);
	assert_raw(&out, &r, 10);
	assert_int_equal(stats(c).prefetch, 1);
	assert_int_equal(get(c, &k, T0 + 90, &out), CACHE_FRESH);
	assert_int_equal(get(c, &k, T0 + 95, &out), CACHE_FRESH);
	assert_int_equal(get(c, &k, T0 + 99, &out), CACHE_FRESH);
	assert_int_equal(get(c, &k, T0 + 100, &out), CACHE_MISS);
	assert_int_equal(stats(c).prefetch, 1);

	/* the refresh arrives: a new put arms it again */
	cache_put_result(c, &k, T0 + 95, &r, 100);
	assert_int_equal(get(c, &k, T0 + 95, &out), CACHE_FRESH);
	assert_int_equal(get(c, &k, T0 + 184, &out), CACHE_FRESH);
	assert_int_equal(get(c, &k, T0 + 186, &out), CACHE_PREFETCH);
	assert_int_equal(out.ttl, 9);
	assert_int_equal(get(c, &k, T0 + 187, &out), CACHE_FRESH);
	assert_int_equal(stats(c).prefetch, 2);

	/* a late first look (remaining 1) still asks */
	struct cache_key k2 = rkey(CACHE_A, 0, ip("192.0.2.2"));
	cache_put_result(c, &k2, T0, &r, 100);
	assert_int_equal(get(c, &k2, T0 + 99, &out), CACHE_PREFETCH);
	assert_int_equal(out.ttl, 1);

	/* short TTLs: the last second at least */
	struct cache_key k3 = rkey(CACHE_A, 0, ip("192.0.2.3"));
	cache_put_result(c, &k3, T0, &r, 5);
	assert_int_equal(get(c, &k3, T0 + 3, &out), CACHE_FRESH);
	assert_int_equal(get(c, &k3, T0 + 4, &out), CACHE_PREFETCH);
	assert_int_equal(get(c, &k3, T0 + 4, &out), CACHE_FRESH);
	struct cache_key k4 = rkey(CACHE_A, 0, ip("192.0.2.4"));
	cache_put_result(c, &k4, T0, &r, 1);
	assert_int_equal(get(c, &k4, T0, &out), CACHE_PREFETCH);
	assert_int_equal(get(c, &k4, T0 + 1, &out), CACHE_MISS);
	assert_int_equal(stats(c).prefetch, 5);
	cache_free(c);
}

static void
test_stale(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct upstream_raw out, r = raw_a(3, 2);
	strcpy(r.txt, "stale txt");
	r.txtlen = 9;
	struct cache_key k = rkey(CACHE_TXT, 4, ip("2001:db8::1"));
	cache_put_result(c, &k, T0, &r, 100);	/* ends at T0 + 100 */

	assert_int_equal(get(c, &k, T0 + 100, &out), CACHE_MISS);
	memset(&out, 0xa5, sizeof(out));
	assert_int_equal(cache_get_stale(c, &k, T0 + 100, 50, &out), 1);
	assert_raw(&out, &r, CACHE_STALE_TTL);
	/* lent 30 s: answered at once as CACHE_STALE, then a miss again */
	assert_int_equal(get(c, &k, T0 + 110, &out), CACHE_STALE);
	assert_int_equal(out.ttl, 20);
	assert_int_equal(get(c, &k, T0 + 129, &out), CACHE_STALE);
	assert_int_equal(get(c, &k, T0 + 130, &out), CACHE_MISS);
	/* the next loan stops at the window's end, the real end + 50 */
	assert_int_equal(cache_get_stale(c, &k, T0 + 140, 50, &out), 1);
	assert_raw(&out, &r, CACHE_STALE_TTL);
	assert_int_equal(get(c, &k, T0 + 149, &out), CACHE_STALE);
	assert_int_equal(out.ttl, 1);
	assert_int_equal(get(c, &k, T0 + 150, &out), CACHE_MISS);
	assert_int_equal(cache_get_stale(c, &k, T0 + 150, 50, &out), 0);
	assert_int_equal(cache_get_stale(c, &k, T0 + 100000, 50, &out), 0);
	/* a fresh answer ends the loan */
	cache_put_result(c, &k, T0 + 200, &r, 100);
	assert_int_equal(get(c, &k, T0 + 210, &out), CACHE_FRESH);

	struct cache_key k0 = rkey(CACHE_TXT, 5, ip("2001:db8::1"));
	cache_put_result(c, &k0, T0, &r, 100);
	assert_int_equal(cache_get_stale(c, &k0, T0 + 100, 0, &out), 0);
	/* a long max_stale does not wrap */
	assert_int_equal(cache_get_stale(c, &k0, T0 + 100000, UINT32_MAX, &out),
	    1);

	struct cache_key other = rkey(CACHE_TXT, 4, ip("2001:db8::2"));
	assert_int_equal(cache_get_stale(c, &other, T0 + 100, 50, &out), 0);

	struct cache_stats s = stats(c);
	assert_int_equal(s.stale, 3);
	assert_int_equal(s.hits, 4);
	assert_int_equal(s.misses, 3);
	cache_free(c);
}

/* ---- verdicts ---- */

static void
test_verdict(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct ipaddr a = ip("203.0.113.5");
	struct cache_key k = vkey(2, 41, a);
	struct cache_verdict v = { 1, 0x7f00000a, 12345 }, got;

	assert_int_equal(cache_get_verdict(c, &k, T0, &got), 0);
	cache_put_verdict(c, &k, T0, &v, 60);
	memset(&got, 0xa5, sizeof(got));
	assert_int_equal(cache_get_verdict(c, &k, T0 + 10, &got), 1);
	assert_int_equal(got.listed, 1);
	assert_int_equal(got.a, 0x7f00000a);
	assert_int_equal(got.ttl, 50);
	assert_int_equal(cache_get_verdict(c, &k, T0 + 59, &got), 1);
	assert_int_equal(got.ttl, 1);
	assert_int_equal(cache_get_verdict(c, &k, T0 + 60, &got), 0);

	/* another generation is a miss, the entry stays for its own */
	cache_put_verdict(c, &k, T0 + 100, &v, 60);
	struct cache_key k2 = vkey(2, 42, a);
	assert_int_equal(cache_get_verdict(c, &k2, T0 + 100, &got), 0);
	assert_int_equal(cache_get_verdict(c, &k, T0 + 100, &got), 1);

	/* not listed; any non-zero listed is stored as 1 */
	struct cache_verdict no = { 0, 0, 0 };
	cache_put_verdict(c, &k2, T0 + 100, &no, 30);
	memset(&got, 0xa5, sizeof(got));
	assert_int_equal(cache_get_verdict(c, &k2, T0 + 100, &got), 1);
	assert_int_equal(got.listed, 0);
	assert_int_equal(got.a, 0);
	assert_int_equal(got.ttl, 30);
	struct cache_verdict seven = { 7, 0x7f000003, 0 };
	cache_put_verdict(c, &k2, T0 + 100, &seven, 30);
	assert_int_equal(cache_get_verdict(c, &k2, T0 + 100, &got), 1);
	assert_int_equal(got.listed, 1);
	assert_int_equal(got.a, 0x7f000003);

	/* ttl 0 is not stored */
	struct cache_key k3 = vkey(2, 41, ip("203.0.113.6"));
	cache_put_verdict(c, &k3, T0, &v, 0);
	assert_int_equal(cache_get_verdict(c, &k3, T0, &got), 0);

	struct cache_stats s = stats(c);
	assert_int_equal(s.verdict_hits, 5);
	assert_int_equal(s.verdict_misses, 4);
	assert_int_equal(s.hits + s.misses, 0);
	assert_int_equal(s.entries, 2);
	assert_int_equal(s.inserts, 2);
	cache_free(c);
}

/* ---- per-thread verdict fronts ---- */

/* A verdict read once (so the reading thread's front holds it) then
 * flushed, for the whole cache or for its address, is gone; a flush of
 * another address costs the front, not the verdict. */
static void
test_front_forgets_flushed_verdicts(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct ipaddr a = ip("203.0.113.5"), b = ip("203.0.113.6");
	struct cache_key ka = vkey(1, 7, a), kb = vkey(1, 7, b);
	struct cache_verdict v = { 1, 0x7f000002, 0 }, got;

	cache_put_verdict(c, &ka, T0, &v, 60);
	cache_put_verdict(c, &kb, T0, &v, 60);
	for (int i = 0; i < 3; i++)
		assert_int_equal(cache_get_verdict(c, &ka, T0 + 1, &got), 1);
	assert_int_equal(cache_flush_ip(c, &b), 1);
	assert_int_equal(cache_get_verdict(c, &ka, T0 + 1, &got), 1);
	assert_int_equal(cache_get_verdict(c, &kb, T0 + 1, &got), 0);
	assert_int_equal(cache_flush_ip(c, &a), 1);
	assert_int_equal(cache_get_verdict(c, &ka, T0 + 1, &got), 0);

	cache_put_verdict(c, &ka, T0, &v, 60);
	assert_int_equal(cache_get_verdict(c, &ka, T0 + 1, &got), 1);
	assert_int_equal(cache_get_verdict(c, &ka, T0 + 2, &got), 1);
	assert_int_equal(cache_flush(c), 1);
	assert_int_equal(cache_get_verdict(c, &ka, T0 + 2, &got), 0);
	cache_free(c);
}

/* The front answers exactly what the shard would: expiry to the second,
 * the generation and zone in the key, IPv4 and IPv6 kept apart. */
static void
test_front_keys_and_expiry(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct ipaddr a = ip("203.0.113.5"), a6 = ip("2001:db8::cb00:7105");
	struct cache_key k = vkey(1, 7, a);
	struct cache_verdict v = { 1, 0x7f000002, 0 }, got;
	cache_put_verdict(c, &k, T0, &v, 60);
	assert_int_equal(cache_get_verdict(c, &k, T0 + 1, &got), 1);
	assert_int_equal(cache_get_verdict(c, &k, T0 + 30, &got), 1);
	assert_int_equal(got.ttl, 30);
	assert_int_equal(cache_get_verdict(c, &k, T0 + 59, &got), 1);
	assert_int_equal(got.ttl, 1);
	assert_int_equal(cache_get_verdict(c, &k, T0 + 60, &got), 0);

	cache_put_verdict(c, &k, T0 + 100, &v, 60);
	assert_int_equal(cache_get_verdict(c, &k, T0 + 100, &got), 1);
	struct cache_key other_gen = vkey(1, 8, a), other_zone = vkey(2, 7, a),
	    v6 = vkey(1, 7, a6);
	assert_int_equal(cache_get_verdict(c, &other_gen, T0 + 100, &got), 0);
	assert_int_equal(cache_get_verdict(c, &other_zone, T0 + 100, &got), 0);
	assert_int_equal(cache_get_verdict(c, &v6, T0 + 100, &got), 0);

	/* a live verdict replaced: the new value, at once */
	struct cache_verdict no = { 0, 0, 0 };
	cache_put_verdict(c, &k, T0 + 100, &no, 60);
	assert_int_equal(cache_get_verdict(c, &k, T0 + 101, &got), 1);
	assert_int_equal(got.listed, 0);
	cache_free(c);
}

/* A hot verdict answered from the front stays young in the shard's LRU,
 * so filling the shard evicts the others first. */
static void
test_front_keeps_hot_verdict_in_lru(void **state)
{
	(void)state;
	struct cache *c = cache_new(64u << 10);	/* 1 KiB a shard */
	struct ipaddr hot = v4n(0);
	struct cache_key kh = vkey(1, 7, hot);
	struct cache_verdict v = { 1, 0x7f000002, 0 }, got;
	cache_put_verdict(c, &kh, T0, &v, 3600);
	for (uint32_t n = 1; n < 20000; n++) {
		uint32_t now = T0 + n / 100;
		struct cache_key k = vkey(1, 7, v4n(n));
		cache_put_verdict(c, &k, now, &v, 3600);
		assert_int_equal(cache_get_verdict(c, &kh, now, &got), 1);
	}
	assert_true(stats(c).evictions > 10000);
	/* out of the front (a flush of another address), from the shard */
	struct ipaddr other = v4n(999999);
	cache_flush_ip(c, &other);
	assert_int_equal(cache_get_verdict(c, &kh, T0 + 200, &got), 1);
	cache_free(c);
}

struct front_reader {
	struct cache *c;
	struct cache_key k;
	int n, hits, listed;
	pthread_barrier_t *go;
};

static void *
front_reader_main(void *p)
{
	struct front_reader *r = p;
	struct cache_verdict got;
	for (int i = 0; i < r->n; i++)
		if (cache_get_verdict(r->c, &r->k, T0 + 1, &got)) {
			r->hits++;
			r->listed += got.listed;
		}
	pthread_barrier_wait(r->go);	/* the main thread replaces it */
	pthread_barrier_wait(r->go);
	r->listed = -1;
	if (cache_get_verdict(r->c, &r->k, T0 + 1, &got))
		r->listed = got.listed;
	return NULL;
}

/* Several threads, each with its own front: every read counted in the
 * hits, and a replacement seen by all of them. */
static void
test_front_threads(void **state)
{
	(void)state;
	enum { N = 4 };
	struct cache *c = cache_new(1 << 20);
	struct cache_key k = vkey(1, 7, ip("198.51.100.9"));
	struct cache_verdict v = { 1, 0x7f000002, 0 }, no = { 0, 0, 0 };
	cache_put_verdict(c, &k, T0, &v, 60);
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, N + 1);
	struct front_reader r[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		r[i] = (struct front_reader){ c, k, 10000, 0, 0, &go };
		assert_int_equal(pthread_create(&t[i], NULL, front_reader_main,
		    &r[i]), 0);
	}
	pthread_barrier_wait(&go);
	cache_put_verdict(c, &k, T0, &no, 60);
	pthread_barrier_wait(&go);
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].hits, 10000);
		assert_int_equal(r[i].listed, 0);
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(stats(c).verdict_hits, N * 10000 + N);
	cache_free(c);
}

/* More threads than fronts: the later ones read the shards, rightly. */
static void *
one_read_main(void *p)
{
	struct front_reader *r = p;
	struct cache_verdict got;
	r->hits = cache_get_verdict(r->c, &r->k, T0 + 1, &got) &&
	    cache_get_verdict(r->c, &r->k, T0 + 1, &got) && got.listed == 1;
	return NULL;
}

static void
test_front_more_threads_than_fronts(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct cache_key k = vkey(1, 7, ip("198.51.100.9"));
	struct cache_verdict v = { 1, 0x7f000002, 0 };
	cache_put_verdict(c, &k, T0, &v, 60);
	for (int i = 0; i < 300; i++) {
		struct front_reader r = { c, k, 0, 0, 0, NULL };
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, one_read_main, &r), 0);
		pthread_join(t, NULL);
		assert_int_equal(r.hits, 1);
	}
	assert_int_equal(stats(c).verdict_hits, 600);
	cache_free(c);
}

/* ---- flush ---- */

static void
test_flush(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct upstream_raw out, r = raw_a(2, 2);
	strcpy(r.txt, "x");
	r.txtlen = 1;
	struct cache_verdict v = { 1, 0x7f000002, 0 }, got;
	for (uint32_t i = 0; i < 500; i++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(i));
		cache_put_result(c, &k, T0, &r, 100);
		struct cache_key kv = vkey(0, 1, v4n(i));
		cache_put_verdict(c, &kv, T0, &v, 100);
	}
	assert_int_equal(stats(c).entries, 1000);
	assert_int_equal(cache_flush(c), 1000);
	struct cache_stats s = stats(c);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.bytes, 0);
	for (uint32_t i = 0; i < 500; i++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(i));
		assert_int_equal(get(c, &k, T0, &out), CACHE_MISS);
		struct cache_key kv = vkey(0, 1, v4n(i));
		assert_int_equal(cache_get_verdict(c, &kv, T0, &got), 0);
	}
	assert_int_equal(cache_flush(c), 0);
	/* usable again */
	struct cache_key k = rkey(CACHE_A, 0, v4n(7));
	cache_put_result(c, &k, T0, &r, 100);
	assert_int_equal(get(c, &k, T0, &out), CACHE_FRESH);
	assert_raw(&out, &r, 100);
	assert_int_equal(stats(c).entries, 1);
	cache_free(c);
}

static void
test_flush_ip(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct upstream_raw out, ra = raw_a(1, 2), rt = raw_txt("listed");
	struct cache_verdict v = { 1, 0x7f000002, 0 }, got;
	const char *ips[] = { "192.0.2.1", "192.0.2.2", "102:304::1",
	    "2001:db8::1", "2001:db8::2" };
	struct ipaddr target = ip("192.0.2.1");
	struct ipaddr same_bytes6 = ip("c000:201::");	/* 192.0.2.1 as v6 bytes */
	assert_memory_equal(same_bytes6.a, target.a, 4);
	for (int i = 0; i < 5; i++) {
		struct cache_key ka = rkey(CACHE_A, 0, ip(ips[i]));
		struct cache_key ka2 = rkey(CACHE_A, 1, ip(ips[i]));
		struct cache_key kt = rkey(CACHE_TXT, 0, ip(ips[i]));
		struct cache_key kv = vkey(0, 9, ip(ips[i]));
		cache_put_result(c, &ka, T0, &ra, 100);
		cache_put_result(c, &ka2, T0, &ra, 100);
		cache_put_result(c, &kt, T0, &rt, 100);
		cache_put_verdict(c, &kv, T0, &v, 100);
	}
	struct cache_key k6a = rkey(CACHE_A, 0, same_bytes6);
	cache_put_result(c, &k6a, T0, &ra, 100);
	assert_int_equal(stats(c).entries, 21);

	assert_int_equal(cache_flush_ip(c, &target), 4);
	assert_int_equal(cache_flush_ip(c, &target), 0);
	struct ipaddr nowhere = ip("198.51.100.1");
	assert_int_equal(cache_flush_ip(c, &nowhere), 0);
	assert_int_equal(stats(c).entries, 17);

	struct cache_key k = rkey(CACHE_A, 0, target);
	assert_int_equal(get(c, &k, T0, &out), CACHE_MISS);
	k = rkey(CACHE_A, 1, target);
	assert_int_equal(get(c, &k, T0, &out), CACHE_MISS);
	k = rkey(CACHE_TXT, 0, target);
	assert_int_equal(get(c, &k, T0, &out), CACHE_MISS);
	assert_int_equal(cache_get_stale(c, &k, T0 + 100, 1000, &out), 0);
	k = vkey(0, 9, target);
	assert_int_equal(cache_get_verdict(c, &k, T0, &got), 0);

	/* the others, including the v6 address with the same bytes */
	assert_int_equal(get(c, &k6a, T0, &out), CACHE_FRESH);
	for (int i = 1; i < 5; i++) {
		struct cache_key ka = rkey(CACHE_A, 0, ip(ips[i]));
		struct cache_key kt = rkey(CACHE_TXT, 0, ip(ips[i]));
		struct cache_key kv = vkey(0, 9, ip(ips[i]));
		assert_int_equal(get(c, &ka, T0, &out), CACHE_FRESH);
		assert_raw(&out, &ra, 100);
		assert_int_equal(get(c, &kt, T0, &out), CACHE_FRESH);
		assert_raw(&out, &rt, 100);
		assert_int_equal(cache_get_verdict(c, &kv, T0, &got), 1);
	}
	struct ipaddr t6 = ip("2001:db8::1");
	assert_int_equal(cache_flush_ip(c, &t6), 4);
	assert_int_equal(stats(c).entries, 13);
	assert_int_equal(stats(c).evictions, 0);
	cache_free(c);
}

/* ---- memory bound and LRU ---- */

#define MEM	(4u << 20)

static void
assert_bound(struct cache *c)
{
	struct cache_stats s = stats(c);
	if (s.bytes > s.max_bytes)
		fail_msg("bytes %llu > max_bytes %llu",
		    (unsigned long long)s.bytes, (unsigned long long)s.max_bytes);
	assert_true(s.entries * cache_entry_bytes() <= s.bytes);
}

static void
test_bound_a(void **state)
{
	(void)state;
	struct cache *c = cache_new(MEM);
	struct upstream_raw out, r = raw_a(1, 2);
	const uint32_t n = 1000000;
	assert_int_equal(stats(c).max_bytes, MEM);
	for (uint32_t i = 0; i < n; i++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(i));
		cache_put_result(c, &k, T0, &r, 3600);
		if (i % 50000 == 0)
			assert_bound(c);
	}
	assert_bound(c);
	struct cache_stats s = stats(c);
	uint64_t ideal = MEM / cache_entry_bytes();
	printf("4 MiB, %u A entries: %llu kept (%.0f%% of %llu), %llu bytes\n",
	    n, (unsigned long long)s.entries, 100.0 * (double)s.entries /
	    (double)ideal, (unsigned long long)ideal,
	    (unsigned long long)s.bytes);
	assert_true(s.entries > 0);
	assert_true(s.entries * 10 >= ideal * 4);
	assert_true(s.entries <= ideal);
	assert_int_equal(s.inserts, n);
	assert_int_equal(s.evictions, s.inserts - s.entries);

	/* the newest are all there, the oldest all gone */
	for (uint32_t i = n - 1000; i < n; i++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(i));
		assert_int_equal(get(c, &k, T0, &out), CACHE_FRESH);
		assert_int_equal(out.a[0], 0x7f000002);
	}
	for (uint32_t i = 0; i < 1000; i++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(i));
		assert_int_equal(get(c, &k, T0, &out), CACHE_MISS);
	}
	cache_free(c);
}

static void
test_bound_txt(void **state)
{
	(void)state;
	struct cache *c = cache_new(MEM);
	struct upstream_raw out, r;
	const uint32_t n = 200000;
	for (uint32_t i = 0; i < n; i++) {
		struct cache_key k = rkey(CACHE_TXT, 0, v4n(i));
		/* sizes vary from 0 to 255 bytes, some with codes too */
		memset(&r, 0, sizeof(r));
		r.status = UPS_ANSWER;
		r.txtlen = i % 256;
		memset(r.txt, 'a' + (int)(i % 26), r.txtlen);
		r.na = (int)(i % 3);
		for (int j = 0; j < r.na; j++)
			r.a[j] = i + (uint32_t)j;
		cache_put_result(c, &k, T0, &r, 3600);
		if (i % 20000 == 0)
			assert_bound(c);
	}
	assert_bound(c);
	struct cache_stats s = stats(c);
	assert_true(s.entries > 0);
	assert_true(s.entries < MEM / cache_entry_bytes());
	assert_int_equal(s.inserts, n);
	assert_int_equal(s.evictions, s.inserts - s.entries);
	/* the newest are there with their values */
	for (uint32_t i = n - 200; i < n; i++) {
		struct cache_key k = rkey(CACHE_TXT, 0, v4n(i));
		assert_int_equal(get(c, &k, T0, &out), CACHE_FRESH);
		assert_int_equal(out.txtlen, i % 256);
		assert_int_equal(out.na, (int)(i % 3));
		for (int j = 0; j < out.na; j++)
			assert_int_equal(out.a[j], i + (uint32_t)j);
		for (size_t j = 0; j < out.txtlen; j++)
			assert_int_equal(out.txt[j], 'a' + (int)(i % 26));
	}
	cache_free(c);
}

static void
test_lru(void **state)
{
	(void)state;
	struct cache *c = cache_new(MEM);
	struct upstream_raw out, r = raw_a(1, 2);
	struct cache_verdict v = { 1, 0x7f000002, 0 }, got;
	/* IP ranges: hot results, hot verdicts, re-put, warm (never
	 * touched again), cold */
	const uint32_t HOT = 0, HOTV = 1000, REPUT = 1500, WARM = 2000,
	    COLD = 10000, NCOLD = 500000;
	uint32_t now = T0;

	for (uint32_t i = 0; i < 100000; i++) {	/* fill first */
		struct cache_key k = rkey(CACHE_A, 1, v4n(COLD + NCOLD + i));
		cache_put_result(c, &k, now, &r, 86400);
	}
	for (uint32_t i = HOT; i < WARM + 1000; i++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(i));
		if (i >= HOTV && i < REPUT) {
			k = vkey(0, 1, v4n(i));
			cache_put_verdict(c, &k, now, &v, 86400);
		} else
			cache_put_result(c, &k, now, &r, 86400);
	}
	for (uint32_t i = 0; i < NCOLD; i++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(COLD + i));
		cache_put_result(c, &k, now, &r, 86400);
		if (i % 10000 != 9999)
			continue;
		now++;
		for (uint32_t j = HOT; j < REPUT; j++) {
			if (j < HOTV) {
				k = rkey(CACHE_A, 0, v4n(j));
				assert_int_equal(get(c, &k, now, &out),
				    CACHE_FRESH);
			} else {
				k = vkey(0, 1, v4n(j));
				assert_int_equal(cache_get_verdict(c, &k, now,
				    &got), 1);
			}
		}
		for (uint32_t j = REPUT; j < WARM; j++) {
			k = rkey(CACHE_A, 0, v4n(j));
			cache_put_result(c, &k, now, &r, 86400);
		}
	}
	assert_bound(c);
	int warm = 0, early = 0, late = 0;
	for (uint32_t j = WARM; j < WARM + 1000; j++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(j));
		warm += get(c, &k, now, &out) != CACHE_MISS;
	}
	for (uint32_t j = COLD; j < COLD + 10000; j++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(j));
		early += get(c, &k, now, &out) != CACHE_MISS;
	}
	for (uint32_t j = COLD + NCOLD - 1000; j < COLD + NCOLD; j++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(j));
		late += get(c, &k, now, &out) != CACHE_MISS;
	}
	/* every shard saw thousands of cold inserts past its capacity:
	 * what was not touched is gone, what was is there */
	assert_int_equal(warm, 0);
	assert_int_equal(early, 0);
	assert_int_equal(late, 1000);
	for (uint32_t j = HOT; j < WARM; j++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(j));
		if (j >= HOTV && j < REPUT) {
			k = vkey(0, 1, v4n(j));
			assert_int_equal(cache_get_verdict(c, &k, now, &got), 1);
		} else
			assert_int_equal(get(c, &k, now, &out), CACHE_FRESH);
	}
	struct cache_stats s = stats(c);
	assert_int_equal(s.evictions, s.inserts - s.entries);
	cache_free(c);
}

static void
test_set_limit(void **state)
{
	(void)state;
	struct cache *c = cache_new(MEM);
	struct upstream_raw out, r = raw_a(1, 2), rt = raw_txt("a TXT value");
	uint32_t ip = 0;
	for (; ip < 200000; ip++) {
		struct cache_key k = rkey(ip % 4 ? CACHE_A : CACHE_TXT, 0,
		    v4n(ip));
		cache_put_result(c, &k, T0, ip % 4 ? &r : &rt, 3600);
	}
	struct cache_stats s = stats(c);
	uint64_t big = s.entries;
	assert_true(s.bytes > MEM / 2);

	/* lower to 1 MiB: the bound holds once entries are added */
	cache_set_limit(c, 1u << 20);
	assert_int_equal(stats(c).max_bytes, 1u << 20);
	for (uint32_t end = ip + 50000; ip < end; ip++) {
		struct cache_key k = rkey(ip % 4 ? CACHE_A : CACHE_TXT, 0,
		    v4n(ip));
		cache_put_result(c, &k, T0, ip % 4 ? &r : &rt, 3600);
	}
	assert_bound(c);
	s = stats(c);
	assert_true(s.entries <= (1u << 20) / cache_entry_bytes());
	assert_true(s.entries * 10 >= (1u << 20) / cache_entry_bytes() * 4);
	assert_int_equal(s.evictions, s.inserts - s.entries);
	for (uint32_t i = ip - 500; i < ip; i++) {
		struct cache_key k = rkey(i % 4 ? CACHE_A : CACHE_TXT, 0, v4n(i));
		assert_int_equal(get(c, &k, T0, &out), CACHE_FRESH);
	}

	/* and up again: it grows back */
	cache_set_limit(c, MEM);
	assert_int_equal(stats(c).max_bytes, MEM);
	for (uint32_t end = ip + 200000; ip < end; ip++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(ip));
		cache_put_result(c, &k, T0, &r, 3600);
	}
	assert_bound(c);
	s = stats(c);
	assert_true(s.entries >= big);
	assert_int_equal(s.evictions, s.inserts - s.entries);
	cache_free(c);
}

/* ---- source ids ---- */

/* A TXT block into shards whose arrays fill their budget exactly: only
 * entries with blocks free bytes, so at most the new entry gives way --
 * the shard is not emptied. */
static void
test_block_into_full_shard(void **state)
{
	(void)state;
	uint64_t max = (uint64_t)CACHE_SHARDS * 16 * cache_entry_bytes();
	struct cache *c = cache_new(max);
	struct upstream_raw r = raw_a(1, 2), rt = raw_txt("a TXT value");
	for (uint32_t i = 0; i < 20000; i++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(i));
		cache_put_result(c, &k, T0, &r, 3600);
	}
	struct cache_stats before = stats(c);
	assert_true(before.entries >= (uint64_t)CACHE_SHARDS * 15);
	for (uint32_t i = 0; i < 64; i++) {
		struct cache_key k = rkey(CACHE_TXT, 0, v4n(100000 + i));
		cache_put_result(c, &k, T0, &rt, 3600);
	}
	struct cache_stats after = stats(c);
	assert_true(after.bytes <= after.max_bytes);
	/* each of the 64 inserts cost at most one entry */
	assert_true(after.entries + 64 >= before.entries);
	assert_int_equal(after.inserts - after.entries,
	    after.evictions);
	cache_free(c);
}

/* A fresh entry is no stale answer, and asking does not mark it. */
static void
test_stale_not_for_fresh(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	struct upstream_raw out, r = raw_a(1, 2);
	struct cache_key k = rkey(CACHE_A, 1, v4n(7));
	cache_put_result(c, &k, T0, &r, 3600);
	assert_int_equal(cache_get_stale(c, &k, T0 + 10, 3600, &out), 0);
	assert_int_equal(get(c, &k, T0 + 20, &out), CACHE_FRESH);
	assert_int_equal(out.ttl, 3580);
	assert_int_equal(stats(c).stale, 0);
	cache_free(c);
}

static void
test_source_id(void **state)
{
	(void)state;
	struct cache *c = cache_new(1 << 20);
	char name[32];
	int seen[256] = { 0 };
	for (int i = 0; i < 255; i++) {
		snprintf(name, sizeof(name), "source-%d.example", i);
		int id = cache_source_id(c, name);
		assert_in_range(id, 0, 254);
		assert_int_equal(seen[id], 0);
		seen[id] = 1;
		assert_int_equal(cache_source_id(c, name), id);
	}
	assert_int_equal(cache_source_id(c, "one-too-many"), -1);
	assert_int_equal(cache_source_id(c, "one-too-many"), -1);
	/* the known ones keep theirs */
	for (int i = 0; i < 255; i += 17) {
		snprintf(name, sizeof(name), "source-%d.example", i);
		int id = cache_source_id(c, name);
		assert_in_range(id, 0, 254);
		snprintf(name, sizeof(name), "source-%d.example", i + 1);
		assert_int_not_equal(cache_source_id(c, name), id);
	}
	/* names are compared whole */
	int a = cache_source_id(c, "source-1.example");
	struct cache *c2 = cache_new(1 << 20);
	int x = cache_source_id(c2, "zen.example");
	int y = cache_source_id(c2, "zen.example.");
	int z = cache_source_id(c2, "zen.exampl");
	assert_true(x >= 0 && y >= 0 && z >= 0);
	assert_int_not_equal(x, y);
	assert_int_not_equal(x, z);
	assert_int_not_equal(y, z);
	assert_int_equal(cache_source_id(c2, "zen.example"), x);
	assert_int_equal(cache_source_id(c, "source-1.example"), a);
	cache_free(c2);
	cache_free(c);
}

/* ---- threads ---- */

#define NTHREADS	4
#define NIPS		4000

static _Atomic uint32_t tick;	/* seconds past T0, moved by thread 0 */

/* Every put for an IP stores the same values, so whatever a get finds
 * must be exactly them, whichever thread put it. */
static struct upstream_raw
value_of(int kind, uint32_t n)
{
	struct upstream_raw r;
	memset(&r, 0, sizeof(r));
	if (n % 7 == 0) {
		r.status = UPS_NXDOMAIN;
		return r;
	}
	r.status = UPS_ANSWER;
	if (kind == CACHE_TXT) {
		r.txtlen = (size_t)snprintf(r.txt, sizeof(r.txt),
		    "%u is listed %*s", n, (int)(n % 200), "");
		return r;
	}
	r.na = 1 + (int)(n % UPSTREAM_MAX_A);
	for (int j = 0; j < r.na; j++)
		r.a[j] = n * 16 + (uint32_t)j;
	return r;
}

struct worker {
	struct cache *c;
	unsigned id, ops;
	uint64_t rng;
	uint64_t gets, vgets, dropped;	/* dropped: by flush and flush_ip */
	int bad;
};

static uint32_t
rnd(struct worker *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return (uint32_t)(w->rng >> 16);
}

static void *
worker_cb(void *arg)
{
	struct worker *w = arg;
	struct upstream_raw out;
	for (unsigned i = 0; i < w->ops; i++) {
		uint32_t x = rnd(w), n = x % NIPS, op = (x >> 16) % 100;
		int kind = (x >> 24) & 1 ? CACHE_TXT : CACHE_A;
		struct cache_key k = rkey(kind, (int)(n % 3), v4n(n));
		if (w->id == 0 && i % 1000 == 999)
			atomic_fetch_add(&tick, 1);
		uint32_t now = T0 + atomic_load(&tick);
		if (op < 40) {
			struct upstream_raw r = value_of(kind, n);
			cache_put_result(w->c, &k, now, &r, 1 + n % 50);
		} else if (op < 80) {
			struct upstream_raw want = value_of(kind, n);
			w->gets++;
			if (get(w->c, &k, now, &out) == CACHE_MISS)
				continue;
			if (out.status != want.status || out.na != want.na ||
			    out.txtlen != want.txtlen ||
			    memcmp(out.a, want.a, sizeof(want.a[0]) *
			    (size_t)want.na) ||
			    memcmp(out.txt, want.txt, want.txtlen) ||
			    out.ttl == 0)
				w->bad++;
		} else if (op < 85) {
			k = vkey(0, n % 2, v4n(n));
			struct cache_verdict v = { (int)(n & 1), n, 0 };
			cache_put_verdict(w->c, &k, now, &v, 20);
		} else if (op < 90) {
			struct cache_verdict got;
			k = vkey(0, n % 2, v4n(n));
			w->vgets++;
			if (cache_get_verdict(w->c, &k, now, &got) &&
			    (got.listed != (int)(n & 1) || got.a != n))
				w->bad++;
		} else if (op < 93) {
			if (cache_get_stale(w->c, &k, now, 30, &out) &&
			    out.ttl != CACHE_STALE_TTL)
				w->bad++;
		} else if (op < 99) {
			struct ipaddr a = v4n(n);
			w->dropped += cache_flush_ip(w->c, &a);
		} else if ((x >> 8) % 64 == 0) {
			/* rarely: a flush, or the bound moved */
			if (w->id == 0)
				w->dropped += cache_flush(w->c);
			else
				cache_set_limit(w->c, x & 1 ? 128u << 10 :
				    256u << 10);
		} else {
			struct cache_stats s;
			cache_stats(w->c, &s);
			if (s.entries > s.inserts)
				w->bad++;
		}
	}
	return NULL;
}

static void
test_threads(void **state)
{
	(void)state;
	/* small, so evictions happen all the time */
	struct cache *c = cache_new(256u << 10);
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	for (unsigned i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].c = c;
		w[i].id = i;
		w[i].ops = 200000;
		w[i].rng = 0x9e3779b97f4a7c15ULL * (i + 1);
		assert_int_equal(pthread_create(&t[i], NULL, worker_cb, &w[i]),
		    0);
	}
	uint64_t gets = 0, vgets = 0, dropped = 0;
	for (unsigned i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].bad, 0);
		gets += w[i].gets;
		vgets += w[i].vgets;
		dropped += w[i].dropped;
	}
	struct cache_stats s = stats(c);
	assert_true(s.entries <= s.inserts);
	assert_true(s.inserts > 0);
	assert_true(s.evictions > 0);
	assert_int_equal(s.hits + s.misses, gets);
	assert_int_equal(s.verdict_hits + s.verdict_misses, vgets);
	assert_true(s.prefetch <= s.hits);
	/* every entry that came in is still there, evicted or flushed */
	assert_int_equal(s.inserts, s.entries + s.evictions + dropped);
	/* the last bound set holds after some more puts */
	cache_set_limit(c, 256u << 10);
	struct upstream_raw r = raw_a(1, 2);
	for (uint32_t i = 0; i < 20000; i++) {
		struct cache_key k = rkey(CACHE_A, 0, v4n(i));
		cache_put_result(c, &k, T0, &r, 100);
	}
	assert_bound(c);
	cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_bytes),
		cmocka_unit_test(test_result_a),
		cmocka_unit_test(test_result_codes),
		cmocka_unit_test(test_result_txt),
		cmocka_unit_test(test_result_negative),
		cmocka_unit_test(test_result_not_stored),
		cmocka_unit_test(test_result_replace),
		cmocka_unit_test(test_keys_distinct),
		cmocka_unit_test(test_ipv4_unused_bytes),
		cmocka_unit_test(test_prefetch),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_verdict),
		cmocka_unit_test(test_front_forgets_flushed_verdicts),
		cmocka_unit_test(test_front_keys_and_expiry),
		cmocka_unit_test(test_front_keeps_hot_verdict_in_lru),
		cmocka_unit_test(test_front_threads),
		cmocka_unit_test(test_front_more_threads_than_fronts),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_flush_ip),
		cmocka_unit_test(test_bound_a),
		cmocka_unit_test(test_bound_txt),
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_set_limit),
		cmocka_unit_test(test_block_into_full_shard),
		cmocka_unit_test(test_stale_not_for_fresh),
		cmocka_unit_test(test_source_id),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
