/* test_ratelimit.c -- the token buckets on a fake clock, prefixes, slip,
 * collisions in a tiny table, and the truncated slip answer.
 *
 * Time is the millisecond argument of ratelimit_check(): every case runs
 * in microseconds and sees exactly the times it chose.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns.h"
#include "ratelimit.h"

#include "dnsmsg.h"
#include "testutil.h"

#define SEED	0x5eed5eed5eed5eedULL
#define T0	1000000u	/* an arbitrary start, ms */

static struct ratelimit *
table(int rate, int slip, int v4, int v6, int size, int workers)
{
	struct ratelimit_conf c = { rate, slip, v4, v6, size };
	struct ratelimit *rl = ratelimit_new(&c, workers, SEED);
	assert_non_null(rl);
	return rl;
}

/* How many of n responses to addr at time now pass. */
static int
passes(struct ratelimit *rl, const char *addr, int n, uint64_t now)
{
	struct ipaddr a = ip(addr);
	int k = 0;
	for (int i = 0; i < n; i++)
		k += ratelimit_check(rl, &a, now) == RATELIMIT_PASS;
	return k;
}

static void
test_off_is_null(void **state)
{
	(void)state;
	struct ratelimit_conf c = { 0, 2, 24, 56, 65536 };
	assert_null(ratelimit_new(&c, 1, SEED));
}

static void
test_burst_then_refill(void **state)
{
	(void)state;
	struct ratelimit *rl = table(10, 0, 24, 56, 64, 1);
	/* a full bucket: one second's worth, then nothing */
	assert_int_equal(passes(rl, "192.0.2.1", 100, T0), 10);
	assert_int_equal(passes(rl, "192.0.2.1", 10, T0 + 99), 0);
	/* 10 a second: one every 100 ms */
	assert_int_equal(passes(rl, "192.0.2.1", 10, T0 + 100), 1);
	assert_int_equal(passes(rl, "192.0.2.1", 10, T0 + 350), 2);
	/* idle for a long time: still one second's worth, not more */
	assert_int_equal(passes(rl, "192.0.2.1", 100, T0 + 60000), 10);
	ratelimit_free(rl);
}

static void
test_steady_flood_gets_the_rate(void **state)
{
	(void)state;
	/* one query a millisecond for 10 s at 50/s: the first second's
	 * bucket, then 50 a second (the refill during the burst adds ~2) */
	struct ratelimit *rl = table(50, 0, 24, 56, 64, 1);
	int k = 0;
	for (uint64_t t = 0; t < 10000; t++)
		k += passes(rl, "198.51.100.7", 1, T0 + t);
	assert_in_range(k, 50 + 9 * 50, 50 + 10 * 50 + 3);
	ratelimit_free(rl);
}

static void
test_rate_divided_over_workers(void **state)
{
	(void)state;
	struct ratelimit *rl = table(10, 0, 24, 56, 64, 4);
	assert_int_equal(passes(rl, "192.0.2.1", 100, T0), 3);	/* ceil(10/4) */
	ratelimit_free(rl);
	rl = table(1, 0, 24, 56, 64, 8);
	assert_int_equal(passes(rl, "192.0.2.1", 100, T0), 1);	/* never 0 */
	ratelimit_free(rl);
}

/* How many of 100 responses to each address, in this order and all at
 * the same time, pass; NULL ends a list. */
struct step {
	const char *addr;
	int want;
};

static void
run_steps(int v4bits, int v6bits, const struct step *steps)
{
	struct ratelimit *rl = table(5, 0, v4bits, v6bits, 1024, 1);
	for (const struct step *s = steps; s->addr; s++) {
		int got = passes(rl, s->addr, 100, T0);
		if (got != s->want)
			fail_msg("/%d /%d: %s: %d passed, want %d", v4bits, v6bits,
			    s->addr, got, s->want);
	}
	ratelimit_free(rl);
}

static void
test_ipv4_prefix(void **state)
{
	(void)state;
	/* the same /24 shares one bucket; the next /24 and the other
	 * family have their own */
	run_steps(24, 56, (const struct step[]){ { "192.0.2.1", 5 },
	    { "192.0.2.255", 0 }, { "192.0.3.1", 5 }, { "::c000:201", 5 },
	    { NULL, 0 } });
	run_steps(32, 56, (const struct step[]){ { "192.0.2.1", 5 },
	    { "192.0.2.2", 5 }, { NULL, 0 } });
	run_steps(8, 56, (const struct step[]){ { "10.1.2.3", 5 },
	    { "10.200.0.1", 0 }, { "11.1.2.3", 5 }, { NULL, 0 } });
}

static void
test_ipv6_prefix(void **state)
{
	(void)state;
	/* bits 48..55 are the first byte of the fourth group; 0.0.0.0/24
	 * is not ::/56 */
	run_steps(24, 56, (const struct step[]){ { "2001:db8:0:ff::1", 5 },
	    { "2001:db8:0:1:ffff::9", 0 }, { "2001:db8:0:100::1", 5 },
	    { "2001:db9::1", 5 }, { "::1", 5 }, { "0.0.0.1", 5 },
	    { NULL, 0 } });
	/* past 64 bits the low half counts too */
	run_steps(24, 128, (const struct step[]){ { "2001:db8::1", 5 },
	    { "2001:db8::2", 5 }, { "2001:db8::1", 0 }, { NULL, 0 } });
	run_steps(24, 72, (const struct step[]){ { "2001:db8::1", 5 },
	    { "2001:db8::ff:1", 0 }, { "2001:db8:0:0:100::1", 5 },
	    { NULL, 0 } });
}

/* The verdicts of n limited responses after the bucket is emptied. */
static void
limited_pattern(int slip, const char *want)
{
	struct ratelimit *rl = table(2, slip, 24, 56, 64, 1);
	struct ipaddr a = ip("203.0.113.9");
	assert_int_equal(passes(rl, "203.0.113.9", 2, T0), 2);
	for (size_t i = 0; want[i]; i++) {
		int v = ratelimit_check(rl, &a, T0);
		int got = v == RATELIMIT_SLIP ? 'S' : v == RATELIMIT_DROP ? 'D' : 'P';
		if (got != want[i])
			fail_msg("slip %d, response %zu: %c, want %c (%s)", slip, i,
			    got, want[i], want);
	}
	ratelimit_free(rl);
}

static void
test_slip_pattern(void **state)
{
	(void)state;
	limited_pattern(0, "DDDDDDDD");
	limited_pattern(1, "SSSSSSSS");
	limited_pattern(2, "DSDSDSDS");
	limited_pattern(3, "DDSDDSDD");
}

/* A 4-slot table (one set): every prefix collides with every other.
 * The flooder arrives after 0..3 others, so it sits in each way once. */
static void
test_collisions_never_block_another_prefix(void **state)
{
	(void)state;
	for (int before = 0; before < 4; before++) {
		struct ratelimit *rl = table(3, 0, 32, 128, 1, 1);
		for (int i = 0; i < before; i++) {
			char a[32];
			snprintf(a, sizeof(a), "198.51.100.%d", i);
			assert_int_equal(passes(rl, a, 1, T0), 1);
		}
		assert_int_equal(passes(rl, "192.0.2.1", 100, T0), 3);
		/* the flood goes on; newcomers get their own bucket and the
		 * flooder, the most recently used, keeps its empty one */
		for (int i = 2; i < 50; i++) {
			char a[32];
			uint64_t t = T0 + (uint64_t)i;
			snprintf(a, sizeof(a), "192.0.2.%d", i);
			if (passes(rl, "192.0.2.1", 1, t) != 0)
				fail_msg("flooder (after %d others) passed at %d",
				    before, i);
			assert_int_equal(passes(rl, a, 1, t), 1);
		}
		/* a thousand prefixes in the same millisecond: none limited */
		for (int i = 0; i < 1000; i++) {
			char a[32];
			snprintf(a, sizeof(a), "10.0.%d.%d", i / 256, i % 256);
			assert_int_equal(passes(rl, a, 1, T0 + 100), 1);
		}
		ratelimit_free(rl);
	}
}

static void
test_idle_prefix_evicted_comes_back_full(void **state)
{
	(void)state;
	struct ratelimit *rl = table(3, 0, 32, 128, 4, 1);
	assert_int_equal(passes(rl, "192.0.2.1", 100, T0), 3);
	/* four others push it out of the set... */
	for (int i = 2; i <= 5; i++) {
		char a[32];
		snprintf(a, sizeof(a), "192.0.2.%d", i);
		assert_int_equal(passes(rl, a, 1, T0 + 1), 1);
	}
	/* ...so it starts again with a full bucket */
	assert_int_equal(passes(rl, "192.0.2.1", 100, T0 + 2), 3);
	ratelimit_free(rl);
}

static void
test_clock_wrap(void **state)
{
	(void)state;
	struct ratelimit *rl = table(10, 0, 24, 56, 64, 1);
	uint64_t t = 0xffffffffULL - 50;	/* the low 32 bits wrap soon */
	assert_int_equal(passes(rl, "192.0.2.1", 100, t), 10);
	assert_int_equal(passes(rl, "192.0.2.1", 100, t + 200), 2);
	assert_int_equal(passes(rl, "192.0.2.1", 100, t + 5000), 10);
	ratelimit_free(rl);
}

static void
test_truncated_answer(void **state)
{
	(void)state;
	struct pkt q;
	struct msg m;
	uint8_t out[DNS_EDNS_UDP];

	pkt_query(&q, 0xbeef, 0x0100, "2.0.0.127.bl.test", 16, 4096);
	size_t n = ratelimit_truncate(q.b, q.n, out, sizeof(out));
	assert_true(n > 0 && n <= q.n);
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_int_equal(m.id, 0xbeef);
	assert_true(m.flags & DNS_F_QR);
	assert_true(m.flags & DNS_F_TC);
	assert_true(m.flags & DNS_F_RD);
	assert_int_equal(m.rcode, DNS_R_NOERROR);
	assert_int_equal(m.count[0], 1);
	assert_string_equal(m.qname, "2.0.0.127.bl.test");
	assert_int_equal(m.qtype, 16);
	/* no records but the OPT the query had */
	assert_int_equal(m.count[1] + m.count[2], 0);
	assert_int_equal(m.count[3], 1);
	assert_true(m.opt >= 0);

	/* without EDNS, no OPT */
	pkt_query(&q, 7, 0, "bl.test", 6, 0);
	n = ratelimit_truncate(q.b, q.n, out, sizeof(out));
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_true(m.flags & DNS_F_TC);
	assert_int_equal(m.count[3], 0);
	assert_int_equal(n, q.n);

	/* what the parser would not answer gets nothing */
	pkt_query(&q, 7, 0x8000, "bl.test", 6, 0);	/* a response */
	assert_int_equal(ratelimit_truncate(q.b, q.n, out, sizeof(out)), 0);
	pkt_header(&q, 7, 0, 2, 0, 0, 0);		/* two questions */
	assert_int_equal(ratelimit_truncate(q.b, q.n, out, sizeof(out)), 0);
	assert_int_equal(ratelimit_truncate(q.b, 5, out, sizeof(out)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_is_null),
		cmocka_unit_test(test_burst_then_refill),
		cmocka_unit_test(test_steady_flood_gets_the_rate),
		cmocka_unit_test(test_rate_divided_over_workers),
		cmocka_unit_test(test_ipv4_prefix),
		cmocka_unit_test(test_ipv6_prefix),
		cmocka_unit_test(test_slip_pattern),
		cmocka_unit_test(test_collisions_never_block_another_prefix),
		cmocka_unit_test(test_idle_prefix_evicted_comes_back_full),
		cmocka_unit_test(test_clock_wrap),
		cmocka_unit_test(test_truncated_answer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
