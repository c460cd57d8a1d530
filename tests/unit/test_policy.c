/* test_policy.c -- postscreen_dnsbl_sites syntax and weighted scoring.
 *
 * Sources and patterns are parsed from their config text; policy_eval
 * runs against small lists built with the list parser, so the scores
 * come from the same lookups the daemon does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lists.h"
#include "policy.h"

#include "testutil.h"

/* ---- helpers ---- */

static uint32_t
a4(const char *s)
{
	struct ipaddr a = ip(s);
	return (uint32_t)a.a[0] << 24 | (uint32_t)a.a[1] << 16 |
	    (uint32_t)a.a[2] << 8 | a.a[3];
}

static void
source(const char *text, struct policy_source *src)
{
	const char *err = NULL;
	if (policy_parse_source(text, src, &err) < 0)
		fail_msg("source \"%s\" rejected: %s", text, err);
}

static void
assert_source_rejected(const char *text)
{
	struct policy_source src;
	const char *err = NULL;
	if (policy_parse_source(text, &src, &err) == 0) {
		free(src.name);
		fail_msg("source \"%s\" was accepted", text);
	}
	assert_non_null(err);
}

static int
match(const struct policy_pattern *p, const char *a)
{
	return policy_pattern_match(p, a4(a));
}

/* ---- sources ---- */

static void
test_source_weights(void **state)
{
	(void)state;
	struct policy_source s;
	source("block*10", &s);
	assert_string_equal(s.name, "block");
	assert_int_equal(s.weight, 10);
	assert_true(s.pat.any);
	assert_int_equal(s.list, -1);
	free(s.name);

	source("allow*-100", &s);
	assert_string_equal(s.name, "allow");
	assert_int_equal(s.weight, -100);
	assert_true(s.pat.any);
	free(s.name);

	source("zero*0", &s);
	assert_int_equal(s.weight, 0);
	free(s.name);
}

static void
test_source_name_only(void **state)
{
	(void)state;
	struct policy_source s;
	source("block", &s);
	assert_string_equal(s.name, "block");
	assert_int_equal(s.weight, 1);
	assert_true(s.pat.any);
	assert_int_equal(s.list, -1);
	free(s.name);

	/* names are folded to lower case */
	source("Zen.SpamHaus.ORG", &s);
	assert_string_equal(s.name, "zen.spamhaus.org");
	free(s.name);
}

static void
test_source_pattern_range(void **state)
{
	(void)state;
	struct policy_source s;
	source("zen.spamhaus.org=127.0.0.[2..11]*3", &s);
	assert_string_equal(s.name, "zen.spamhaus.org");
	assert_int_equal(s.weight, 3);
	assert_false(s.pat.any);
	assert_false(match(&s.pat, "127.0.0.1"));
	for (int i = 2; i <= 11; i++) {
		char a[32];
		snprintf(a, sizeof(a), "127.0.0.%d", i);
		assert_true(match(&s.pat, a));
	}
	assert_false(match(&s.pat, "127.0.0.12"));
	assert_false(match(&s.pat, "127.0.1.2"));
	assert_false(match(&s.pat, "126.0.0.2"));
	free(s.name);
}

static void
test_source_pattern_two_ranges(void **state)
{
	(void)state;
	struct policy_source s;
	source("list.dnswl.org=127.0.[0..255].[1..3]*-5", &s);
	assert_string_equal(s.name, "list.dnswl.org");
	assert_int_equal(s.weight, -5);
	assert_true(match(&s.pat, "127.0.0.1"));
	assert_true(match(&s.pat, "127.0.7.3"));
	assert_true(match(&s.pat, "127.0.255.2"));
	assert_false(match(&s.pat, "127.0.7.0"));
	assert_false(match(&s.pat, "127.0.7.4"));
	assert_false(match(&s.pat, "127.1.7.2"));
	free(s.name);
}

static void
test_source_pattern_without_weight(void **state)
{
	(void)state;
	struct policy_source s;
	source("b.example=127.0.0.2", &s);
	assert_int_equal(s.weight, 1);
	assert_false(s.pat.any);
	assert_true(match(&s.pat, "127.0.0.2"));
	assert_false(match(&s.pat, "127.0.0.3"));
	free(s.name);
}

static void
test_source_errors(void **state)
{
	(void)state;
	assert_source_rejected("");
	assert_source_rejected("x*");
	assert_source_rejected("x*abc");
	assert_source_rejected("x*2x");
	assert_source_rejected("x=1.2.3*2");
	assert_source_rejected("x=[1..300].0.0.1");
	assert_source_rejected("x=");
	assert_source_rejected("x=*2");
	assert_source_rejected("*5");
	assert_source_rejected("=127.0.0.2");
	assert_source_rejected("x*2=127.0.0.2");	/* weight before pattern */
	assert_source_rejected("bad name");
	assert_source_rejected("bad/name");
	assert_source_rejected("x*1000000");
}

/* ---- patterns ---- */

static void
test_pattern_list(void **state)
{
	(void)state;
	struct policy_pattern p;
	assert_int_equal(policy_parse_pattern("127.0.0.[1;3;5..7]", &p), 0);
	assert_false(p.any);
	static const int want[] = { 0, 1, 0, 1, 0, 1, 1, 1, 0, 0 };
	for (int i = 0; i < 10; i++) {
		char a[32];
		snprintf(a, sizeof(a), "127.0.0.%d", i);
		if (match(&p, a) != want[i])
			fail_msg("%s: match %d, want %d", a, match(&p, a), want[i]);
	}
	assert_false(match(&p, "127.0.1.1"));
}

static void
test_pattern_plain_and_edges(void **state)
{
	(void)state;
	struct policy_pattern p;
	assert_int_equal(policy_parse_pattern("127.0.0.2", &p), 0);
	assert_true(match(&p, "127.0.0.2"));
	assert_false(match(&p, "127.0.0.3"));
	assert_false(match(&p, "128.0.0.2"));

	assert_int_equal(policy_parse_pattern("[0..255].[0..255].[0..255].[0..255]",
	    &p), 0);
	assert_true(match(&p, "0.0.0.0"));
	assert_true(match(&p, "255.255.255.255"));
	assert_true(match(&p, "10.20.30.40"));

	assert_int_equal(policy_parse_pattern("[127;10].0.0.[255]", &p), 0);
	assert_true(match(&p, "10.0.0.255"));
	assert_true(match(&p, "127.0.0.255"));
	assert_false(match(&p, "11.0.0.255"));
}

static void
test_pattern_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "127.0.0", "127.0.0.2.1", "127.0.0.256", "127.0.0.[7..5]",
		"127.0.0.[1;", "127.0.0.[1", "127.0.0.[]", "127.0.0.[..3]",
		"127.0.0.[1..]", "127..0.2", "127.0.0.2 ", "127.0.0.0002",
		"a.b.c.d", "127.0.0.[1,2]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct policy_pattern p;
		if (policy_parse_pattern(bad[i], &p) == 0)
			fail_msg("pattern \"%s\" was accepted", bad[i]);
	}
}

static void
test_pattern_any(void **state)
{
	(void)state;
	struct policy_pattern p;
	memset(&p, 0, sizeof(p));
	p.any = 1;
	assert_true(match(&p, "127.0.0.2"));
	assert_true(match(&p, "127.255.255.255"));
	assert_false(match(&p, "128.0.0.2"));
	assert_false(match(&p, "10.0.0.2"));
}

/* ---- scoring ---- */

struct fixture {
	struct list *lists[2];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	/* "block": a /8 answering .2, a /16 inside it answering .4 */
	f->lists[0] = LIST(
	    "10.0.0.0/8 :127.0.0.2:block",
	    "10.1.0.0/16 :127.0.0.4:block harder",
	    "2001:db8::/32 :127.0.0.2:v6",
	    "192.0.2.0/24 :10.0.0.1:odd answer");
	/* "allow": part of the /16, and another net */
	f->lists[1] = LIST(
	    "10.1.2.0/24 :127.0.10.1:partner",
	    "172.16.0.0/12 :127.0.10.2:",
	    "2001:db8:1::/48");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	list_unref(f->lists[0]);
	list_unref(f->lists[1]);
	free(f);
	return 0;
}

/* Parses n sources and points them at lists by their names. */
static void
sources(struct policy_source *src, const char *const *text, int n)
{
	for (int i = 0; i < n; i++) {
		source(text[i], &src[i]);
		if (strncmp(src[i].name, "block", 5) == 0)
			src[i].list = 0;
		else if (strncmp(src[i].name, "allow", 5) == 0)
			src[i].list = 1;
	}
}

static void
free_sources(struct policy_source *src, int n)
{
	for (int i = 0; i < n; i++)
		free(src[i].name);
}

static struct verdict
eval(struct fixture *f, const struct policy_source *src, int n, int threshold,
    const char *addr)
{
	struct verdict v;
	struct ipaddr a = ip(addr);
	memset(&v, 0x55, sizeof(v));	/* nothing carried over */
	policy_eval(src, n, threshold, f->lists, NULL, &a, &v);
	return v;
}

static void
test_eval_sum(void **state)
{
	struct fixture *f = *state;
	struct policy_source src[2];
	sources(src, (const char *const[]){ "block*3", "allow*2" }, 2);
	struct verdict v;

	v = eval(f, src, 2, 5, "10.1.2.3");		/* both */
	assert_int_equal(v.score, 5);
	assert_true(v.listed);
	assert_int_equal(v.nmatch, 2);
	assert_int_equal(v.match[0].source, 0);
	assert_int_equal(v.match[1].source, 1);
	assert_int_equal(f->lists[0]->entries[v.match[0].entry].a, 0x7f000004);
	assert_int_equal(f->lists[1]->entries[v.match[1].entry].a, 0x7f000a01);

	v = eval(f, src, 2, 5, "10.2.0.1");		/* block only */
	assert_int_equal(v.score, 3);
	assert_false(v.listed);
	assert_int_equal(v.nmatch, 1);
	assert_int_equal(v.match[0].source, 0);

	v = eval(f, src, 2, 5, "172.16.0.1");		/* allow only */
	assert_int_equal(v.score, 2);
	assert_false(v.listed);
	assert_int_equal(v.match[0].source, 1);

	v = eval(f, src, 2, 1, "192.168.0.1");		/* neither */
	assert_int_equal(v.score, 0);
	assert_int_equal(v.nmatch, 0);
	assert_false(v.listed);

	free_sources(src, 2);
}

static void
test_eval_threshold_edge(void **state)
{
	struct fixture *f = *state;
	struct policy_source src[1];
	sources(src, (const char *const[]){ "block*4" }, 1);
	struct verdict v;
	v = eval(f, src, 1, 4, "10.0.0.1");
	assert_int_equal(v.score, 4);
	assert_true(v.listed);		/* score == threshold: listed */
	v = eval(f, src, 1, 5, "10.0.0.1");
	assert_false(v.listed);		/* threshold - 1: not */
	v = eval(f, src, 1, 3, "10.0.0.1");
	assert_true(v.listed);
	free_sources(src, 1);
}

static void
test_eval_negative_overrides(void **state)
{
	struct fixture *f = *state;
	struct policy_source src[2];
	sources(src, (const char *const[]){ "block*10", "allow*-100" }, 2);
	struct verdict v;
	v = eval(f, src, 2, 3, "10.1.2.3");
	assert_int_equal(v.score, -90);
	assert_false(v.listed);
	assert_int_equal(v.nmatch, 2);		/* both still reported */
	v = eval(f, src, 2, 3, "10.1.3.3");
	assert_int_equal(v.score, 10);
	assert_true(v.listed);
	/* an allow-listed address that no block list has */
	v = eval(f, src, 2, 3, "172.16.5.5");
	assert_int_equal(v.score, -100);
	assert_false(v.listed);
	free_sources(src, 2);
}

static void
test_eval_pattern_filters(void **state)
{
	struct fixture *f = *state;
	struct policy_source src[2];
	/* the same list twice: .4 answers weigh 5, any answer weighs 1 */
	sources(src, (const char *const[]){ "block=127.0.0.4*5", "block" }, 2);
	struct verdict v;
	v = eval(f, src, 2, 6, "10.1.0.1");	/* answers .4 */
	assert_int_equal(v.score, 6);
	assert_true(v.listed);
	v = eval(f, src, 2, 6, "10.2.0.1");	/* answers .2 */
	assert_int_equal(v.score, 1);
	assert_false(v.listed);
	assert_int_equal(v.nmatch, 1);
	assert_int_equal(v.match[0].source, 1);
	/* no pattern accepts any value a list holds, even outside 127/8 */
	v = eval(f, src, 2, 1, "192.0.2.1");
	assert_int_equal(v.score, 1);
	assert_true(v.listed);
	free_sources(src, 2);
}

static void
test_eval_ip6(void **state)
{
	struct fixture *f = *state;
	struct policy_source src[2];
	sources(src, (const char *const[]){ "block*2", "allow*-1" }, 2);
	struct verdict v;
	v = eval(f, src, 2, 1, "2001:db8:2::1");
	assert_int_equal(v.score, 2);
	assert_true(v.listed);
	v = eval(f, src, 2, 2, "2001:db8:1::1");
	assert_int_equal(v.score, 1);
	assert_false(v.listed);
	v = eval(f, src, 2, 1, "2001:db9::1");
	assert_int_equal(v.score, 0);
	assert_false(v.listed);
	free_sources(src, 2);
}

static void
test_eval_unresolved_source_ignored(void **state)
{
	struct fixture *f = *state;
	struct policy_source src[2];
	/* policy_eval scores local lists only: an upstream zone (list -1)
	 * is left to policy_add_upstream */
	sources(src, (const char *const[]){ "zen.spamhaus.org*5", "block" }, 2);
	assert_int_equal(src[0].list, -1);
	struct verdict v = eval(f, src, 2, 1, "10.0.0.1");
	assert_int_equal(v.score, 1);
	assert_int_equal(v.nmatch, 1);
	assert_int_equal(v.match[0].source, 1);
	free_sources(src, 2);
}

static void
test_eval_zero_threshold(void **state)
{
	struct fixture *f = *state;
	struct policy_source src[1];
	sources(src, (const char *const[]){ "block" }, 1);
	/* threshold 0: everything scores at least 0 */
	struct verdict v = eval(f, src, 1, 0, "192.168.1.1");
	assert_int_equal(v.score, 0);
	assert_true(v.listed);
	free_sources(src, 1);
}

/* ---- upstream sources ---- */

/* "block*3" local; "zen.example=127.0.0.[2..11]*2" and "dnswl.example*-5"
 * upstream 0 and 1. */
static void
mixed_sources(struct policy_source *src)
{
	sources(src, (const char *const[]){ "block*3",
	    "zen.example=127.0.0.[2..11]*2", "dnswl.example*-5" }, 3);
	src[1].upstream = 0;
	src[2].upstream = 1;
}

static struct verdict
eval_mixed(struct fixture *f, const struct policy_source *src,
    const char *addr, const struct policy_answer ans[3])
{
	struct verdict v = eval(f, src, 3, 4, addr);
	policy_add_upstream(src, 3, 4, ans, &v);
	return v;
}

static void
test_upstream_scoring(void **state)
{
	struct fixture *f = *state;
	struct policy_source src[3];
	mixed_sources(src);
	static const uint32_t zen4[] = { 0x7f000004 };
	static const uint32_t zen20[] = { 0x7f000014 };	/* outside [2..11] */
	static const uint32_t zen_many[] = { 0x7f000014, 0x7f000002, 0x7f000003 };
	static const uint32_t wl[] = { 0x7f000a01 };
	static const uint32_t odd[] = { 0x0a000001 };	/* not 127/8 */
	struct verdict v;

	/* local 3 + zen 2 = 5 >= 4 */
	v = eval_mixed(f, src, "10.0.0.1", (const struct policy_answer[]){
	    { NULL, 0 }, { zen4, 1 }, { NULL, 0 } });
	assert_int_equal(v.score, 5);
	assert_true(v.listed);
	assert_int_equal(v.nmatch, 2);
	assert_int_equal(v.match[1].source, 1);
	assert_int_equal(v.match[1].a, 0x7f000004);
	assert_int_equal(v.match[1].entry, LIST_NOENTRY);

	/* an answer outside the pattern does not count */
	v = eval_mixed(f, src, "10.0.0.1", (const struct policy_answer[]){
	    { NULL, 0 }, { zen20, 1 }, { NULL, 0 } });
	assert_int_equal(v.score, 3);
	assert_false(v.listed);

	/* several matching answers count once */
	v = eval_mixed(f, src, "10.0.0.1", (const struct policy_answer[]){
	    { NULL, 0 }, { zen_many, 3 }, { NULL, 0 } });
	assert_int_equal(v.score, 5);
	assert_int_equal(v.nmatch, 2);
	assert_int_equal(v.match[1].a, 0x7f000002);

	/* the allow list pulls it back under */
	v = eval_mixed(f, src, "10.0.0.1", (const struct policy_answer[]){
	    { NULL, 0 }, { zen4, 1 }, { wl, 1 } });
	assert_int_equal(v.score, 0);
	assert_false(v.listed);
	assert_int_equal(v.nmatch, 3);

	/* no pattern: any 127/8 answer, nothing else */
	v = eval_mixed(f, src, "10.0.0.1", (const struct policy_answer[]){
	    { NULL, 0 }, { zen4, 1 }, { odd, 1 } });
	assert_int_equal(v.score, 5);

	/* upstream alone, address in no local list */
	v = eval_mixed(f, src, "192.168.0.1", (const struct policy_answer[]){
	    { NULL, 0 }, { zen4, 1 }, { NULL, 0 } });
	assert_int_equal(v.score, 2);
	assert_false(v.listed);
	free_sources(src, 3);
}

static void
test_upstream_bounds(void **state)
{
	(void)state;
	struct policy_source src[4];
	sources(src, (const char *const[]){ "block*3", "a.example*2",
	    "b.example*5", "c.example*-7" }, 4);
	int pos = -1, neg = -1;
	policy_upstream_bounds(src, 4, &pos, &neg);
	assert_int_equal(pos, 0);		/* none marked upstream yet */
	assert_int_equal(neg, 0);
	src[1].upstream = 0;
	src[2].upstream = 1;
	src[3].upstream = 2;
	policy_upstream_bounds(src, 4, &pos, &neg);
	assert_int_equal(pos, 7);		/* the local *3 is not in it */
	assert_int_equal(neg, -7);
	free_sources(src, 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_weights),
		cmocka_unit_test(test_source_name_only),
		cmocka_unit_test(test_source_pattern_range),
		cmocka_unit_test(test_source_pattern_two_ranges),
		cmocka_unit_test(test_source_pattern_without_weight),
		cmocka_unit_test(test_source_errors),
		cmocka_unit_test(test_pattern_list),
		cmocka_unit_test(test_pattern_plain_and_edges),
		cmocka_unit_test(test_pattern_errors),
		cmocka_unit_test(test_pattern_any),
		cmocka_unit_test_setup_teardown(test_eval_sum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_threshold_edge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_negative_overrides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_pattern_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_ip6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_unresolved_source_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eval_zero_threshold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upstream_scoring, setup, teardown),
		cmocka_unit_test(test_upstream_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
