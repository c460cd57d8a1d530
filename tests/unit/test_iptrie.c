/* test_iptrie.c -- longest-prefix match, by hand and against brute force.
 *
 * The trie flattens nested prefixes into ranges; the hand-written cases
 * pin the edges (address 0 and all-ones, /0, /32 and /128, adjacent and
 * duplicate prefixes), the randomized ones compare every lookup with a
 * linear scan over the prefixes as added.  The random generator is a
 * fixed-seed xorshift so a failure reproduces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "iptrie.h"

typedef unsigned __int128 u128;

/* ---- helpers ---- */

static uint32_t
ip4(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return ntohl(a.s_addr);
}

static void
ip6(const char *s, uint8_t out[16])
{
	assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

static uint32_t
look6(const struct iptrie *t, const char *s)
{
	uint8_t a[16];
	ip6(s, a);
	return iptrie_lookup6(t, a);
}

static void
add6(struct iptrie_builder *b, const char *s, int len, uint32_t v)
{
	uint8_t a[16];
	ip6(s, a);
	assert_int_equal(iptrie_add6(b, a, len, v), 0);
}

/* Builds a trie from IPv4 "a.b.c.d/len" strings, value i+1 for the i-th. */
static struct iptrie *
build4(const char *const *pfx, size_t n)
{
	struct iptrie_builder *b = iptrie_builder_new();
	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		char buf[32];
		strcpy(buf, pfx[i]);
		char *slash = strchr(buf, '/');
		assert_non_null(slash);
		*slash = '\0';
		assert_int_equal(iptrie_add4(b, ip4(buf), atoi(slash + 1),
		    (uint32_t)i + 1), 0);
	}
	struct iptrie *t = iptrie_build(b);
	assert_non_null(t);
	iptrie_builder_free(b);
	return t;
}

static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* ---- IPv4 by hand ---- */

/* With no prefix of a family the builder's array for it is NULL; the
 * build must not hand that to qsort (UB, caught by `make asan`). */
static void
test_empty(void **state)
{
	(void)state;
	struct iptrie_builder *b = iptrie_builder_new();
	assert_non_null(b);
	struct iptrie *t = iptrie_build(b);
	assert_non_null(t);
	iptrie_builder_free(b);
	assert_int_equal(iptrie_count(t), 0);
	assert_int_equal(iptrie_lookup4(t, 0), IPTRIE_NONE);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.2.3")), IPTRIE_NONE);
	assert_int_equal(iptrie_lookup4(t, UINT32_MAX), IPTRIE_NONE);
	assert_int_equal(look6(t, "::"), IPTRIE_NONE);
	assert_int_equal(look6(t, "2001:db8::1"), IPTRIE_NONE);
	assert_int_equal(look6(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
	    IPTRIE_NONE);
	assert_true(iptrie_memory(t) > 0);
	iptrie_free(t);
}

static void
test_nested(void **state)
{
	(void)state;
	static const char *const p[] = {
		"10.0.0.0/8",		/* 1 */
		"10.1.0.0/16",		/* 2 */
		"10.1.2.0/24",		/* 3 */
		"10.1.2.3/32",		/* 4 */
	};
	struct iptrie *t = build4(p, 4);
	assert_int_equal(iptrie_count(t), 4);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.0.0")), 1);
	assert_int_equal(iptrie_lookup4(t, ip4("10.255.255.255")), 1);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.255.255")), 1);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.0.0")), 2);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.1.255")), 2);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.2.0")), 3);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.2.2")), 3);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.2.3")), 4);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.2.4")), 3);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.2.255")), 3);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.3.0")), 2);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.255.255")), 2);
	assert_int_equal(iptrie_lookup4(t, ip4("10.2.0.0")), 1);
	assert_int_equal(iptrie_lookup4(t, ip4("9.255.255.255")), IPTRIE_NONE);
	assert_int_equal(iptrie_lookup4(t, ip4("11.0.0.0")), IPTRIE_NONE);
	iptrie_free(t);
}

static void
test_order_independent(void **state)
{
	(void)state;
	/* the same prefixes, most specific first */
	static const char *const p[] = {
		"10.1.2.3/32", "10.1.2.0/24", "10.1.0.0/16", "10.0.0.0/8",
	};
	struct iptrie *t = build4(p, 4);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.2.3")), 1);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.2.4")), 2);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.3.0")), 3);
	assert_int_equal(iptrie_lookup4(t, ip4("10.2.0.0")), 4);
	iptrie_free(t);
}

static void
test_default_route_and_host(void **state)
{
	(void)state;
	static const char *const p[] = { "0.0.0.0/0", "192.0.2.1/32" };
	struct iptrie *t = build4(p, 2);
	assert_int_equal(iptrie_lookup4(t, 0), 1);
	assert_int_equal(iptrie_lookup4(t, UINT32_MAX), 1);
	assert_int_equal(iptrie_lookup4(t, ip4("192.0.2.0")), 1);
	assert_int_equal(iptrie_lookup4(t, ip4("192.0.2.1")), 2);
	assert_int_equal(iptrie_lookup4(t, ip4("192.0.2.2")), 1);
	iptrie_free(t);
}

static void
test_edges(void **state)
{
	(void)state;
	static const char *const p[] = {
		"0.0.0.0/32",			/* 1 */
		"255.255.255.255/32",		/* 2 */
		"255.255.0.0/16",		/* 3 */
		"0.0.0.0/16",			/* 4 */
	};
	struct iptrie *t = build4(p, 4);
	assert_int_equal(iptrie_lookup4(t, 0), 1);
	assert_int_equal(iptrie_lookup4(t, 1), 4);
	assert_int_equal(iptrie_lookup4(t, 0xffff), 4);
	assert_int_equal(iptrie_lookup4(t, 0x10000), IPTRIE_NONE);
	assert_int_equal(iptrie_lookup4(t, UINT32_MAX), 2);
	assert_int_equal(iptrie_lookup4(t, UINT32_MAX - 1), 3);
	assert_int_equal(iptrie_lookup4(t, 0xffff0000u), 3);
	assert_int_equal(iptrie_lookup4(t, 0xfffeffffu), IPTRIE_NONE);
	iptrie_free(t);

	/* only the two extreme hosts */
	static const char *const q[] = { "255.255.255.255/32", "0.0.0.0/32" };
	t = build4(q, 2);
	assert_int_equal(iptrie_lookup4(t, 0), 2);
	assert_int_equal(iptrie_lookup4(t, 1), IPTRIE_NONE);
	assert_int_equal(iptrie_lookup4(t, UINT32_MAX), 1);
	assert_int_equal(iptrie_lookup4(t, UINT32_MAX - 1), IPTRIE_NONE);
	iptrie_free(t);
}

static void
test_adjacent(void **state)
{
	(void)state;
	static const char *const p[] = {
		"10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/23", "10.0.4.0/24",
	};
	struct iptrie *t = build4(p, 4);
	assert_int_equal(iptrie_lookup4(t, ip4("9.255.255.255")), IPTRIE_NONE);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.0.255")), 1);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.1.0")), 2);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.1.255")), 2);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.2.0")), 3);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.3.255")), 3);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.4.0")), 4);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.4.255")), 4);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.5.0")), IPTRIE_NONE);
	iptrie_free(t);
}

static void
test_adjacent_same_value(void **state)
{
	(void)state;
	/* ranges with equal values merge inside; lookups must not notice */
	struct iptrie_builder *b = iptrie_builder_new();
	assert_int_equal(iptrie_add4(b, ip4("10.0.0.0"), 24, 7), 0);
	assert_int_equal(iptrie_add4(b, ip4("10.0.1.0"), 24, 7), 0);
	assert_int_equal(iptrie_add4(b, ip4("10.0.0.128"), 25, 7), 0);
	assert_int_equal(iptrie_add4(b, ip4("10.0.0.64"), 26, 8), 0);
	struct iptrie *t = iptrie_build(b);
	iptrie_builder_free(b);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.0.0")), 7);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.0.64")), 8);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.0.127")), 8);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.0.128")), 7);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.1.255")), 7);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.2.0")), IPTRIE_NONE);
	assert_int_equal(iptrie_count(t), 4);
	iptrie_free(t);
}

static void
test_duplicate_first_wins(void **state)
{
	(void)state;
	static const char *const p[] = {
		"10.0.0.0/8",		/* 1 */
		"10.1.0.0/16",		/* 2 */
		"10.1.0.0/16",		/* 3: duplicate, ignored */
		"10.0.0.0/8",		/* 4: duplicate, ignored */
		"192.0.2.7/32",		/* 5 */
		"192.0.2.7/32",		/* 6 */
	};
	struct iptrie *t = build4(p, 6);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.0.1")), 2);
	assert_int_equal(iptrie_lookup4(t, ip4("10.2.0.1")), 1);
	assert_int_equal(iptrie_lookup4(t, ip4("192.0.2.7")), 5);
	iptrie_free(t);
}

static void
test_index_boundaries(void **state)
{
	(void)state;
	/* ranges that start and end on and around /16 boundaries, where the
	 * IPv4 index hands over from one bucket to the next */
	static const char *const p[] = {
		"10.0.255.255/32",	/* 1 */
		"10.1.0.0/32",		/* 2 */
		"10.2.0.0/15",		/* 3 */
		"10.4.128.0/17",	/* 4 */
	};
	struct iptrie *t = build4(p, 4);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.255.254")), IPTRIE_NONE);
	assert_int_equal(iptrie_lookup4(t, ip4("10.0.255.255")), 1);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.0.0")), 2);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.0.1")), IPTRIE_NONE);
	assert_int_equal(iptrie_lookup4(t, ip4("10.1.255.255")), IPTRIE_NONE);
	assert_int_equal(iptrie_lookup4(t, ip4("10.2.0.0")), 3);
	assert_int_equal(iptrie_lookup4(t, ip4("10.3.128.0")), 3);	/* no range starts in 10.3/16 */
	assert_int_equal(iptrie_lookup4(t, ip4("10.3.255.255")), 3);
	assert_int_equal(iptrie_lookup4(t, ip4("10.4.0.0")), IPTRIE_NONE);
	assert_int_equal(iptrie_lookup4(t, ip4("10.4.127.255")), IPTRIE_NONE);
	assert_int_equal(iptrie_lookup4(t, ip4("10.4.128.0")), 4);
	assert_int_equal(iptrie_lookup4(t, ip4("10.4.255.255")), 4);
	assert_int_equal(iptrie_lookup4(t, ip4("10.5.0.0")), IPTRIE_NONE);
	iptrie_free(t);
}

/* ---- IPv6 by hand ---- */

static void
test_v6(void **state)
{
	(void)state;
	struct iptrie_builder *b = iptrie_builder_new();
	add6(b, "2001:db8::", 32, 1);
	add6(b, "2001:db8:1::", 48, 2);
	add6(b, "2001:db8:1::1", 128, 3);
	add6(b, "2001:db8:1::", 48, 9);		/* duplicate: ignored */
	struct iptrie *t = iptrie_build(b);
	iptrie_builder_free(b);
	assert_int_equal(look6(t, "2001:db8::"), 1);
	assert_int_equal(look6(t, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), 1);
	assert_int_equal(look6(t, "2001:db8:1::"), 2);
	assert_int_equal(look6(t, "2001:db8:1::1"), 3);
	assert_int_equal(look6(t, "2001:db8:1::2"), 2);
	assert_int_equal(look6(t, "2001:db8:1:ffff:ffff:ffff:ffff:ffff"), 2);
	assert_int_equal(look6(t, "2001:db8:2::"), 1);
	assert_int_equal(look6(t, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"),
	    IPTRIE_NONE);
	assert_int_equal(look6(t, "2001:db9::"), IPTRIE_NONE);
	/* IPv4 lookups see none of it */
	assert_int_equal(iptrie_lookup4(t, ip4("32.1.13.184")), IPTRIE_NONE);
	iptrie_free(t);
}

static void
test_v6_default_and_edges(void **state)
{
	(void)state;
	struct iptrie_builder *b = iptrie_builder_new();
	add6(b, "::", 0, 1);
	add6(b, "::", 128, 2);
	add6(b, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128, 3);
	add6(b, "8000::", 1, 4);
	struct iptrie *t = iptrie_build(b);
	iptrie_builder_free(b);
	assert_int_equal(look6(t, "::"), 2);
	assert_int_equal(look6(t, "::1"), 1);
	assert_int_equal(look6(t, "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 1);
	assert_int_equal(look6(t, "8000::"), 4);
	assert_int_equal(look6(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), 4);
	assert_int_equal(look6(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 3);
	/* the IPv6 /0 covers no IPv4 address */
	assert_int_equal(iptrie_lookup4(t, 0), IPTRIE_NONE);
	iptrie_free(t);
}

static void
test_v4_and_v6_separate(void **state)
{
	(void)state;
	struct iptrie_builder *b = iptrie_builder_new();
	assert_int_equal(iptrie_add4(b, 0, 0, 1), 0);
	add6(b, "2001:db8::", 32, 2);
	struct iptrie *t = iptrie_build(b);
	iptrie_builder_free(b);
	assert_int_equal(iptrie_count(t), 2);
	assert_int_equal(iptrie_lookup4(t, ip4("32.1.13.184")), 1);
	assert_int_equal(look6(t, "::"), IPTRIE_NONE);
	assert_int_equal(look6(t, "::ffff:1.2.3.4"), IPTRIE_NONE);
	assert_int_equal(look6(t, "2001:db8::5"), 2);
	iptrie_free(t);
}

static void
test_builder_reuse(void **state)
{
	(void)state;
	/* the builder stays valid after a build and can be extended */
	struct iptrie_builder *b = iptrie_builder_new();
	assert_int_equal(iptrie_add4(b, ip4("10.0.0.0"), 8, 1), 0);
	struct iptrie *t1 = iptrie_build(b);
	assert_int_equal(iptrie_add4(b, ip4("10.1.0.0"), 16, 2), 0);
	struct iptrie *t2 = iptrie_build(b);
	iptrie_builder_free(b);
	assert_int_equal(iptrie_lookup4(t1, ip4("10.1.0.0")), 1);
	assert_int_equal(iptrie_lookup4(t2, ip4("10.1.0.0")), 2);
	assert_int_equal(iptrie_count(t1), 1);
	assert_int_equal(iptrie_count(t2), 2);
	iptrie_free(t1);
	iptrie_free(t2);
}

/* ---- randomized against a linear scan ---- */

#define NPFX	2000
#define NLOOK	20000

struct rp4 { uint32_t addr; int len; };
struct rp6 { u128 addr; int len; };

static uint32_t
mask4(int len)
{
	return len == 0 ? 0 : UINT32_MAX << (32 - len);
}

static u128
mask6(int len)
{
	return len == 0 ? 0 : ~(u128)0 << (128 - len);
}

/* Longest prefix covering a; among equal ones the first added. */
static uint32_t
brute4(const struct rp4 *p, size_t n, uint32_t a)
{
	int best = -1;
	uint32_t v = IPTRIE_NONE;
	for (size_t i = 0; i < n; i++)
		if ((a & mask4(p[i].len)) == p[i].addr && p[i].len > best) {
			best = p[i].len;
			v = (uint32_t)i;
		}
	return v;
}

static uint32_t
brute6(const struct rp6 *p, size_t n, u128 a)
{
	int best = -1;
	uint32_t v = IPTRIE_NONE;
	for (size_t i = 0; i < n; i++)
		if ((a & mask6(p[i].len)) == p[i].addr && p[i].len > best) {
			best = p[i].len;
			v = (uint32_t)i;
		}
	return v;
}

/* A random length biased towards the lengths lists use. */
static int
rand_len(int max)
{
	uint64_t r = rng() % 1000;
	if (r < 3)
		return 3 + (int)(rng() % 4);		/* a few very short */
	if (r < 250)
		return max;				/* hosts */
	return max / 4 + (int)(rng() % (uint64_t)(max - max / 4 + 1));
}

static void
test_random_v4(void **state)
{
	(void)state;
	static struct rp4 p[NPFX];
	uint32_t bases[40];
	rng_state = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 40; i++)
		bases[i] = (uint32_t)rng();
	/* prefixes around a few bases so that they nest and collide */
	struct iptrie_builder *b = iptrie_builder_new();
	for (size_t i = 0; i < NPFX; i++) {
		uint32_t a = bases[rng() % 40];
		if (i > 0 && rng() % 8 == 0)
			a = p[rng() % i].addr;		/* exact duplicates too */
		else
			a ^= (uint32_t)rng() & (uint32_t)(rng() % 2 ? 0xffff : 0xff);
		int len = rand_len(32);
		p[i].len = len;
		p[i].addr = a & mask4(len);
		assert_int_equal(iptrie_add4(b, p[i].addr, len, (uint32_t)i), 0);
	}
	struct iptrie *t = iptrie_build(b);
	assert_non_null(t);
	iptrie_builder_free(b);
	assert_int_equal(iptrie_count(t), NPFX);

	for (int k = 0; k < NLOOK; k++) {
		uint32_t a;
		const struct rp4 *q = &p[rng() % NPFX];
		uint32_t span = ~mask4(q->len);
		switch (rng() % 6) {
		case 0: a = q->addr; break;			/* first */
		case 1: a = q->addr | span; break;		/* last */
		case 2: a = q->addr - 1; break;			/* just before */
		case 3: a = (q->addr | span) + 1; break;	/* just after */
		case 4: a = q->addr | ((uint32_t)rng() & span); break;
		default: a = (uint32_t)rng(); break;
		}
		uint32_t want = brute4(p, NPFX, a);
		uint32_t got = iptrie_lookup4(t, a);
		if (got != want)
			fail_msg("lookup4 %08x: trie %u, linear scan %u", a, got, want);
	}
	iptrie_free(t);
}

/* Random prefixes around 40 bases that share their top `common` bits
 * with `around` (0: anywhere), checked against a linear scan; the
 * lookups include the edges of every prefix, random addresses, and
 * addresses just outside the cluster on both sides. */
static void
random_v6(u128 around, int common, uint64_t seed)
{
	static struct rp6 p[NPFX];
	u128 bases[40];
	u128 keep = common ? ~(~(u128)0 >> common) : 0;
	rng_state = seed;
	for (int i = 0; i < 40; i++)
		bases[i] = (around & keep) | ((((u128)rng() << 64) | rng()) & ~keep);
	struct iptrie_builder *b = iptrie_builder_new();
	for (size_t i = 0; i < NPFX; i++) {
		u128 a = bases[rng() % 40];
		if (i > 0 && rng() % 8 == 0)
			a = p[rng() % i].addr;
		else {
			/* flip bits at a random depth, inside the cluster */
			int shift = (int)(rng() % 112);
			a ^= (((u128)(rng() & 0xffff)) << shift) & ~keep;
		}
		int len = rand_len(128);
		if (len < common)
			len = common;
		p[i].len = len;
		p[i].addr = a & mask6(len);
		uint8_t bytes[16];
		for (int j = 0; j < 16; j++)
			bytes[j] = (uint8_t)(p[i].addr >> (8 * (15 - j)));
		assert_int_equal(iptrie_add6(b, bytes, len, (uint32_t)i), 0);
	}
	struct iptrie *t = iptrie_build(b);
	assert_non_null(t);
	iptrie_builder_free(b);

	for (int k = 0; k < NLOOK; k++) {
		u128 a;
		const struct rp6 *q = &p[rng() % NPFX];
		u128 span = ~mask6(q->len);
		switch (rng() % 8) {
		case 0: a = q->addr; break;
		case 1: a = q->addr | span; break;
		case 2: a = q->addr - 1; break;
		case 3: a = (q->addr | span) + 1; break;
		case 4: a = q->addr | (((u128)rng() << 64 | rng()) & span); break;
		case 5: a = (around & keep) - 1 - (rng() % 4); break;
		case 6: a = (around | ~keep) + 1 + (rng() % 4); break;
		default: a = (u128)rng() << 64 | rng(); break;
		}
		uint8_t bytes[16];
		for (int j = 0; j < 16; j++)
			bytes[j] = (uint8_t)(a >> (8 * (15 - j)));
		uint32_t want = brute6(p, NPFX, a);
		uint32_t got = iptrie_lookup6(t, bytes);
		if (got != want)
			fail_msg("lookup6 %016llx%016llx: trie %u, linear scan %u",
			    (unsigned long long)(a >> 64), (unsigned long long)a,
			    got, want);
	}
	iptrie_free(t);
}

static void
test_random_v6(void **state)
{
	(void)state;
	random_v6(0, 0, 0x243f6a8885a308d3ull);
}

/* The IPv6 index covers the bits after the shared prefix: clusters of
 * every width, at the bottom and the top of the address space too. */
static void
test_random_v6_clustered(void **state)
{
	(void)state;
	static const struct { uint64_t hi; int common; } c[] = {
		{ 0x2000000000000000ull, 3 },	/* global unicast */
		{ 0x20010db800000000ull, 32 },	/* one /32 */
		{ 0x2a0104f812345678ull, 64 },	/* one /64 */
		{ 0x2a0104f812345678ull, 100 },	/* deeper than the index */
		{ 0xffffffffffffffffull, 16 },	/* the top of the space */
		{ 0x0000000000000000ull, 20 },	/* the bottom */
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		random_v6((u128)c[i].hi << 64 | (c[i].common > 64 ?
		    0x9abcdef012345678ull : 0), c[i].common, 0x13198a2e03707344ull + i);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_order_independent),
		cmocka_unit_test(test_default_route_and_host),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_adjacent),
		cmocka_unit_test(test_adjacent_same_value),
		cmocka_unit_test(test_duplicate_first_wins),
		cmocka_unit_test(test_index_boundaries),
		cmocka_unit_test(test_v6),
		cmocka_unit_test(test_v6_default_and_edges),
		cmocka_unit_test(test_v4_and_v6_separate),
		cmocka_unit_test(test_builder_reuse),
		cmocka_unit_test(test_random_v4),
		cmocka_unit_test(test_random_v6),
		cmocka_unit_test(test_random_v6_clustered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
