/* test_redisval.c -- the Redis cache values of upstream.c read back.
 *
 * upstream_redis_decode() takes only what upstream.c writes: digits
 * without sign or blanks, single spaces, dotted quads, a TXT after "T ";
 * an expired value, one whose time left exceeds its life, or anything
 * else is a miss (0). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "upstream.h"

#define NOW 1700000000LL

static uint32_t
dec(const char *v, struct upstream_raw *r, uint32_t *life)
{
	return upstream_redis_decode(v, strlen(v), NOW, r, life);
}

static void
test_accepts_what_is_written(void **state)
{
	struct upstream_raw r;
	uint32_t life = 0;
	(void)state;
	assert_int_equal(dec("1700000300 300 A 127.0.0.2 127.0.0.10", &r, &life),
	    300);
	assert_int_equal(life, 300);
	assert_int_equal(r.status, UPS_ANSWER);
	assert_int_equal(r.na, 2);
	assert_int_equal(r.a[0], 0x7f000002);
	assert_int_equal(r.a[1], 0x7f00000a);
	assert_int_equal(dec("1700000060 900 N", &r, &life), 60);
	assert_int_equal(r.status, UPS_NXDOMAIN);
	assert_int_equal(dec("1700000010 60 D", &r, &life), 10);
	assert_int_equal(r.status, UPS_NODATA);
	assert_int_equal(dec("1700000100 300 T see https://x.example/ 1.2.3.4",
	    &r, &life), 100);
	assert_string_equal(r.txt, "see https://x.example/ 1.2.3.4");
}

static void
test_refuses_the_rest(void **state)
{
	static const char *const bad[] = {
		"1700000300 -1 A 127.0.0.2",		/* a sign */
		"1700000300 100 A 127.0.0.2",		/* left (300) > life (100) */
		"1699999999 300 A 127.0.0.2",		/* expired */
		"1700000300 300 A 127. 0.0.2",		/* a blank inside */
		"1700000300 300 A 127.0.-0.2",
		"1700000300 300 A 127.0.0.256",
		"1700000300 300 A 127.0.0.2 ",		/* trailing blank */
		"1700000300 300 A",
		"1700000300 300 A  127.0.0.2",
		"1700000300  300 A 127.0.0.2",
		" 1700000300 300 A 127.0.0.2",
		"1700000300 0 N",
		"1700000300 300 X",
		"1700000300 300",
		"",
		"garbage",
		"1700000300 300 A 1 2 3 4 5 6 7 8 9",	/* not quads */
		"1700000300 300 A 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 "
		    "127.0.0.5 127.0.0.6 127.0.0.7 127.0.0.8 127.0.0.9",
	};
	struct upstream_raw r;
	uint32_t life;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dec(bad[i], &r, &life) != 0)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_what_is_written),
		cmocka_unit_test(test_refuses_the_rest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
