/* test_lists.c -- rbldnsd-syntax list files: parsing, lookup, TXT templates.
 *
 * Most cases feed lines to list_parser_line() and look addresses up in
 * the finished list; list_load() is exercised on temp files (mkstemp in
 * /tmp, removed) for CRLF, error counting and the file:line messages,
 * which are captured from stderr.  The expected semantics are rbldnsd's
 * ip4trie/ip6trie (checked against rbldnsd 1.0pre 20210120).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lists.h"

#include "testutil.h"

/* ---- helpers ---- */

/* The error for one line in a fresh parser, or NULL when it is accepted. */
static const char *
line_error(const char *line)
{
	struct list_parser *p = list_parser_new();
	char buf[1024];
	const char *err = NULL;
	snprintf(buf, sizeof(buf), "%s", line);
	int r = list_parser_line(p, buf, &err);
	list_parser_free(p);
	if (r == 0)
		return NULL;
	assert_int_equal(r, -1);
	assert_non_null(err);
	return err;
}

static void
assert_rejected(const char *line)
{
	if (!line_error(line))
		fail_msg("line \"%s\" was accepted", line);
}

static void
assert_accepted(const char *line)
{
	const char *err = line_error(line);
	if (err)
		fail_msg("line \"%s\" rejected: %s", line, err);
}

static int
listed(const struct list *l, const char *addr)
{
	struct ipaddr a = ip(addr);
	return list_lookup(l, &a) != LIST_NOENTRY;
}

/* The A value for addr, or 0 when not listed. */
static uint32_t
a_of(const struct list *l, const char *addr)
{
	struct ipaddr a = ip(addr);
	uint32_t e = list_lookup(l, &a);
	return e == LIST_NOENTRY ? 0 : l->entries[e].a;
}

/* The raw TXT template for addr (NULL: none); addr must be listed. */
static const char *
tmpl_of(const struct list *l, const char *addr)
{
	struct ipaddr a = ip(addr);
	uint32_t e = list_lookup(l, &a);
	if (e == LIST_NOENTRY)
		fail_msg("%s is not listed", addr);
	return list_txt(l, e);
}

/* The expanded TXT for addr, "" when it has none. */
static const char *
txt_of(const struct list *l, const char *addr, char *buf, size_t size)
{
	struct ipaddr a = ip(addr);
	uint32_t e = list_lookup(l, &a);
	if (e == LIST_NOENTRY)
		fail_msg("%s is not listed", addr);
	buf[0] = '\0';
	list_entry_txt(l, e, &a, buf, size);
	return buf;
}

static const char *
expand(const char *tmpl, const char *addr, char *buf, size_t size)
{
	struct ipaddr a = ip(addr);
	list_txt_expand(tmpl, &a, buf, size);
	return buf;
}

/* Loads content from a temp file; log gets what was logged. */
static struct list *
load_text(const char *content, int *nerrors, char *path, char *log,
    size_t logsize)
{
	struct capture c;
	write_tmp(path, content);
	capture_begin(&c);
	struct list *l = list_load("t", path, nerrors);
	capture_end(&c, log, logsize);
	return l;
}

/* ---- addresses and prefixes ---- */

static void
test_single_ip(void **state)
{
	(void)state;
	struct list *l = LIST("192.0.2.1");
	assert_true(listed(l, "192.0.2.1"));
	assert_false(listed(l, "192.0.2.0"));
	assert_false(listed(l, "192.0.2.2"));
	assert_int_equal(a_of(l, "192.0.2.1"), LIST_DEFAULT_A);
	assert_null(tmpl_of(l, "192.0.2.1"));
	list_unref(l);
}

static void
test_cidr(void **state)
{
	(void)state;
	struct list *l = LIST("198.51.100.0/24", "0.0.0.0/32", "255.255.255.255/32");
	assert_true(listed(l, "198.51.100.0"));
	assert_true(listed(l, "198.51.100.255"));
	assert_false(listed(l, "198.51.99.255"));
	assert_false(listed(l, "198.51.101.0"));
	assert_true(listed(l, "0.0.0.0"));
	assert_false(listed(l, "0.0.0.1"));
	assert_true(listed(l, "255.255.255.255"));
	assert_false(listed(l, "255.255.255.254"));
	list_unref(l);
}

static void
test_abbreviated_ip4(void **state)
{
	(void)state;
	struct list *l = LIST("10.2.3", "172.16", "11/8", "10.4/15");
	/* 10.2.3 = 10.2.3.0/24 */
	assert_true(listed(l, "10.2.3.0"));
	assert_true(listed(l, "10.2.3.255"));
	assert_false(listed(l, "10.2.2.255"));
	assert_false(listed(l, "10.2.4.0"));
	/* 172.16 = 172.16.0.0/16 */
	assert_true(listed(l, "172.16.255.255"));
	assert_false(listed(l, "172.17.0.0"));
	/* 11/8 */
	assert_true(listed(l, "11.0.0.0"));
	assert_true(listed(l, "11.255.255.255"));
	assert_false(listed(l, "12.0.0.0"));
	/* 10.4/15 = 10.4.0.0/15 */
	assert_true(listed(l, "10.5.255.255"));
	assert_false(listed(l, "10.6.0.0"));
	list_unref(l);

	/* a bare number is not an address, with a prefix length it is */
	assert_rejected("10");
	assert_accepted("10/8");
	assert_rejected("10 :2:text");
}

static void
test_exclusion(void **state)
{
	(void)state;
	struct list *l = LIST(
	    "10.0.0.0/8 :127.0.0.2:outer",
	    "!10.1.0.0/16",
	    "10.1.2.0/24 :127.0.0.3:inner",
	    "! 10.1.2.7",
	    "!192.0.2.1");		/* an exclusion with nothing around it */
	assert_true(listed(l, "10.0.0.1"));
	assert_true(listed(l, "10.255.255.255"));
	assert_false(listed(l, "10.1.0.0"));
	assert_false(listed(l, "10.1.1.255"));
	assert_false(listed(l, "10.1.3.0"));
	assert_true(listed(l, "10.1.2.0"));
	assert_int_equal(a_of(l, "10.1.2.1"), 0x7f000003);
	assert_string_equal(tmpl_of(l, "10.1.2.1"), "inner");
	assert_false(listed(l, "10.1.2.7"));
	assert_true(listed(l, "10.1.2.8"));
	assert_int_equal(a_of(l, "10.2.0.0"), 0x7f000002);
	assert_string_equal(tmpl_of(l, "10.2.0.0"), "outer");
	assert_false(listed(l, "192.0.2.1"));
	list_unref(l);

	/* the order of the lines does not matter: longest prefix wins */
	l = LIST("10.1.2.0/24", "!10.1.0.0/16", "10.0.0.0/8");
	assert_true(listed(l, "10.1.2.9"));
	assert_false(listed(l, "10.1.9.9"));
	assert_true(listed(l, "10.9.9.9"));
	list_unref(l);
}

static void
test_duplicate_first_wins(void **state)
{
	(void)state;
	struct list *l = LIST("192.0.2.0/24 :3:first", "192.0.2.0/24 :4:second");
	assert_int_equal(a_of(l, "192.0.2.5"), 0x7f000003);
	assert_string_equal(tmpl_of(l, "192.0.2.5"), "first");
	list_unref(l);
}

static void
test_ip6(void **state)
{
	(void)state;
	struct list *l = LIST(
	    "2001:db8::/32 :127.0.0.4:v6 net",
	    "!2001:db8:1::/48",
	    "2001:db8:1::5",
	    "::1",
	    "2001:DB8:ABCD::/48");
	assert_true(listed(l, "2001:db8::"));
	assert_true(listed(l, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(listed(l, "2001:db9::"));
	assert_false(listed(l, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(listed(l, "2001:db8:1::4"));
	assert_true(listed(l, "2001:db8:1::5"));
	assert_int_equal(a_of(l, "2001:db8:2::1"), 0x7f000004);
	assert_string_equal(tmpl_of(l, "2001:db8:2::1"), "v6 net");
	assert_int_equal(a_of(l, "2001:db8:1::5"), LIST_DEFAULT_A);
	assert_true(listed(l, "::1"));
	assert_false(listed(l, "::2"));
	assert_true(listed(l, "2001:db8:abcd:1::1"));
	/* IPv4 data and IPv6 data do not mix */
	assert_false(listed(l, "32.1.13.184"));
	list_unref(l);
}

static void
test_ip6_mapped_prefix_is_ip4(void **state)
{
	(void)state;
	/* queries for mapped addresses look up IPv4 data, so a mapped
	 * prefix in a list is stored as the IPv4 prefix */
	struct list *l = LIST("::ffff:10.0.0.0/104");
	assert_true(listed(l, "10.1.2.3"));
	assert_false(listed(l, "11.0.0.0"));
	list_unref(l);
}

static void
test_host_bits_rejected(void **state)
{
	(void)state;
	assert_rejected("10.0.0.1/8");
	assert_rejected("192.0.2.1/24");
	assert_rejected("10.1/8");
	assert_rejected("2001:db8::1/32");
	assert_rejected("2001:db8:1::/16");
	assert_accepted("10.0.0.0/8");
	assert_accepted("2001:db8::/32");
	assert_accepted("0.0.0.0/0");
	assert_accepted("::/0");
}

static void
test_bad_lines(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"foo",
		"1.2.3.4.5",
		"300.1.1.1",
		"1.2.3.256",
		"1.2.3.4junk",
		"10.0.0.0/33",
		"10.0.0.0/",
		"10.0.0.0/8x",
		"2001:db8::/129",
		"2001:db8::g",
		"1:2:3:4:5:6:7:8:9",
		"!",
		"!foo",
		"1.2.3.4 :",		/* no A value */
		"1.2.3.4 ::text",	/* empty A value */
		"1.2.3.4 :0:",		/* 0.0.0.0 is no answer */
		"1.2.3.4 :256:",
		"1.2.3.4 :2x",
		"1.2.3.4 :127.0.0.2 text",
		":foo:bar",		/* bad default line */
		"$FOO bar",
		"$TTL",
		"$TTL abc",
		"$TTL 5x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_rejected(bad[i]);
}

/* ---- values ---- */

static void
test_value_a_txt(void **state)
{
	(void)state;
	char buf[256];
	struct list *l = LIST(
	    "192.0.2.0/24 :127.0.0.4:Spam from $",
	    "198.51.100.1 :2:",
	    "198.51.100.2 :3:three",
	    "198.51.100.3	:127.1.2.3:  spaced text",
	    "10.7.0.18:3:txt",
	    "10.7.0.19 :10.0.0.1:not in 127/8");
	assert_int_equal(a_of(l, "192.0.2.9"), 0x7f000004);
	assert_string_equal(tmpl_of(l, "192.0.2.9"), "Spam from $");
	assert_string_equal(txt_of(l, "192.0.2.9", buf, sizeof(buf)),
	    "Spam from 192.0.2.9");
	assert_int_equal(a_of(l, "198.51.100.1"), 0x7f000002);	/* :2: */
	assert_null(tmpl_of(l, "198.51.100.1"));
	assert_int_equal(a_of(l, "198.51.100.2"), 0x7f000003);
	assert_string_equal(tmpl_of(l, "198.51.100.2"), "three");
	assert_int_equal(a_of(l, "198.51.100.3"), 0x7f010203);
	assert_string_equal(tmpl_of(l, "198.51.100.3"), "spaced text");
	/* a value right after an IPv4 address */
	assert_int_equal(a_of(l, "10.7.0.18"), 0x7f000003);
	assert_string_equal(tmpl_of(l, "10.7.0.18"), "txt");
	assert_int_equal(a_of(l, "10.7.0.19"), 0x0a000001);
	list_unref(l);
}

static void
test_value_txt_only(void **state)
{
	(void)state;
	/* a value without ':' is all text, with the default A */
	struct list *l = LIST(
	    "192.0.2.1 plain text",
	    ":127.0.0.5:dflt",
	    "192.0.2.2 other text: with colon");
	assert_int_equal(a_of(l, "192.0.2.1"), LIST_DEFAULT_A);
	assert_string_equal(tmpl_of(l, "192.0.2.1"), "plain text");
	assert_int_equal(a_of(l, "192.0.2.2"), 0x7f000005);
	assert_string_equal(tmpl_of(l, "192.0.2.2"), "other text: with colon");
	list_unref(l);
}

static void
test_default_applies_after(void **state)
{
	(void)state;
	struct list *l = LIST(
	    "192.0.2.1",
	    ":127.0.0.5:Default for $",
	    "192.0.2.2",
	    "192.0.2.3 :6:own text",
	    ":127.0.0.7:second default",
	    "192.0.2.4");
	assert_int_equal(a_of(l, "192.0.2.1"), LIST_DEFAULT_A);
	assert_null(tmpl_of(l, "192.0.2.1"));
	assert_int_equal(a_of(l, "192.0.2.2"), 0x7f000005);
	assert_string_equal(tmpl_of(l, "192.0.2.2"), "Default for $");
	assert_int_equal(a_of(l, "192.0.2.3"), 0x7f000006);
	assert_string_equal(tmpl_of(l, "192.0.2.3"), "own text");
	assert_int_equal(a_of(l, "192.0.2.4"), 0x7f000007);
	assert_string_equal(tmpl_of(l, "192.0.2.4"), "second default");
	/* a later default does not change earlier entries */
	assert_string_equal(tmpl_of(l, "192.0.2.2"), "Default for $");
	list_unref(l);
}

static void
test_value_a_only_takes_default_txt(void **state)
{
	(void)state;
	/* rbldnsd: ":A" is that A plus the current default's TXT,
	 * ":A:" is that A and no TXT */
	struct list *l = LIST(
	    "192.0.2.1 :4",
	    ":127.0.0.5:Dflt $",
	    "192.0.2.2 :4",
	    "192.0.2.3 :4:",
	    "192.0.2.4 :127.0.0.9");
	assert_int_equal(a_of(l, "192.0.2.1"), 0x7f000004);
	assert_null(tmpl_of(l, "192.0.2.1"));
	assert_int_equal(a_of(l, "192.0.2.2"), 0x7f000004);
	assert_non_null(tmpl_of(l, "192.0.2.2"));
	assert_string_equal(tmpl_of(l, "192.0.2.2"), "Dflt $");
	assert_int_equal(a_of(l, "192.0.2.3"), 0x7f000004);
	assert_null(tmpl_of(l, "192.0.2.3"));
	assert_int_equal(a_of(l, "192.0.2.4"), 0x7f000009);
	assert_string_equal(tmpl_of(l, "192.0.2.4"), "Dflt $");
	list_unref(l);
}

static void
test_default_line_forms(void **state)
{
	(void)state;
	/* ":A" and ":A:" as default lines: that A, no text */
	struct list *l = LIST(
	    ":127.0.0.5:text",
	    ":127.0.0.6",
	    "192.0.2.1",
	    ":127.0.0.5:text",
	    ":127.0.0.7:",
	    "192.0.2.2");
	assert_int_equal(a_of(l, "192.0.2.1"), 0x7f000006);
	assert_null(tmpl_of(l, "192.0.2.1"));
	assert_int_equal(a_of(l, "192.0.2.2"), 0x7f000007);
	assert_null(tmpl_of(l, "192.0.2.2"));
	list_unref(l);
}

static void
test_empty_txt_value_invalid(void **state)
{
	(void)state;
	assert_rejected("192.0.2.1 ::text");
	assert_rejected("2001:db8::1 ::text");
}

/* ---- layout ---- */

static void
test_comments_and_blanks(void **state)
{
	(void)state;
	struct list *l = LIST(
	    "# a comment",
	    "; another comment",
	    "",
	    "   ",
	    "\t",
	    "   # indented comment",
	    "  192.0.2.1  ",
	    "192.0.2.2 # trailing comment",
	    "192.0.2.3\t; trailing comment",
	    "! 192.0.2.4 # excluded",
	    "192.0.2.5 :6:text # part of the text");
	assert_true(listed(l, "192.0.2.1"));
	assert_true(listed(l, "192.0.2.2"));
	assert_null(tmpl_of(l, "192.0.2.2"));
	assert_int_equal(a_of(l, "192.0.2.2"), LIST_DEFAULT_A);
	assert_true(listed(l, "192.0.2.3"));
	assert_null(tmpl_of(l, "192.0.2.3"));
	assert_false(listed(l, "192.0.2.4"));
	/* after a value, '#' is text (rbldnsd) */
	assert_string_equal(tmpl_of(l, "192.0.2.5"), "text # part of the text");
	list_unref(l);
}

static void
test_ttl(void **state)
{
	(void)state;
	static const struct { const char *line; uint32_t ttl; } cases[] = {
		{ "$TTL 3600", 3600 },
		{ "$TTL 0", 0 },
		{ "$TTL 90s", 90 },
		{ "$TTL 30m", 1800 },
		{ "$TTL 1h", 3600 },
		{ "$TTL 2d", 172800 },
		{ "$TTL 1w", 604800 },
		{ "$TTL 1H", 3600 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct list *l = LIST(cases[i].line, "192.0.2.1");
		if (l->ttl != cases[i].ttl)
			fail_msg("\"%s\": ttl %u, want %u", cases[i].line,
			    l->ttl, cases[i].ttl);
		list_unref(l);
	}
	struct list *l = LIST("192.0.2.1");
	assert_int_equal(l->ttl, 0);
	list_unref(l);
}

static void
test_zone_directives_ignored(void **state)
{
	(void)state;
	/* rblcached makes its own SOA and NS; rbldnsd's are accepted */
	assert_accepted("$SOA 3600 ns.example. hostmaster.example. 0 600 300 86400 300");
	assert_accepted("$NS 3600 ns.example.");
}

/* ---- TXT templates ---- */

static void
test_expand_ip4(void **state)
{
	(void)state;
	char buf[256];
	assert_string_equal(expand("Listed $", "192.0.2.9", buf, sizeof(buf)),
	    "Listed 192.0.2.9");
	assert_string_equal(expand("$ and $", "10.0.0.1", buf, sizeof(buf)),
	    "10.0.0.1 and 10.0.0.1");
	assert_string_equal(expand("no dollar", "10.0.0.1", buf, sizeof(buf)),
	    "no dollar");
	assert_string_equal(expand("", "10.0.0.1", buf, sizeof(buf)), "");
	assert_string_equal(expand("$", "0.0.0.0", buf, sizeof(buf)), "0.0.0.0");
	assert_string_equal(expand("$", "255.255.255.255", buf, sizeof(buf)),
	    "255.255.255.255");
	assert_int_equal(list_txt_expand("at $", &(struct ipaddr){ 0 }, buf, 0), 0);
}

static void
test_expand_ip6(void **state)
{
	(void)state;
	char buf[256];
	static const struct { const char *in, *out; } cases[] = {
		{ "2001:db8::1", "2001:db8::1" },
		{ "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1" },
		{ "::1", "::1" },
		{ "::", "::" },
		{ "1::", "1::" },
		{ "2001:db8::", "2001:db8::" },
		{ "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1" },	/* one 0 group stays */
		{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },	/* first of equal runs */
		{ "2001:0:0:1:0:0:0:1", "2001:0:0:1::1" },		/* longest run */
		{ "fe80::abcd:ef01", "fe80::abcd:ef01" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
		{ "::ffff:1.2.3.4", "::ffff:102:304" },			/* no dotted quad */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expand("$", cases[i].in, buf, sizeof(buf));
		if (strcmp(buf, cases[i].out) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].in, buf,
			    cases[i].out);
	}
	assert_string_equal(expand("v6 $ listed", "2001:db8::1", buf,
	    sizeof(buf)), "v6 2001:db8::1 listed");
}

static void
test_expand_escapes(void **state)
{
	(void)state;
	char buf[256];
	assert_string_equal(expand("cost $$5", "10.0.0.1", buf, sizeof(buf)),
	    "cost $5");
	assert_string_equal(expand("$$$", "10.0.0.1", buf, sizeof(buf)),
	    "$10.0.0.1");
	assert_string_equal(expand("$$", "10.0.0.1", buf, sizeof(buf)), "$");
	/* a leading '=' is dropped; "$=" is the raw template */
	assert_string_equal(expand("=text $", "10.0.0.1", buf, sizeof(buf)),
	    "text 10.0.0.1");
	assert_string_equal(expand("raw: $=", "10.0.0.1", buf, sizeof(buf)),
	    "raw: raw: $=");
	/* "$N" without list variables stays literal */
	assert_string_equal(expand("see $1", "10.0.0.1", buf, sizeof(buf)),
	    "see $1");
}

static void
test_expand_truncates(void **state)
{
	(void)state;
	char tmpl[400], buf[400];
	memset(tmpl, 'x', 300);
	tmpl[300] = '\0';
	struct ipaddr a = ip("10.0.0.1");
	/* answers are cut at 254 bytes, as rbldnsd does */
	assert_int_equal(list_txt_expand(tmpl, &a, buf, sizeof(buf)), 254);
	assert_int_equal(strlen(buf), 254);
	/* and never past the buffer */
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(list_txt_expand(tmpl, &a, buf, 10), 9);
	assert_int_equal(strlen(buf), 9);
	assert_int_equal(buf[10], 'Z');
	/* an address cut in the middle */
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(list_txt_expand("ip $", &a, buf, 8), 7);
	assert_string_equal(buf, "ip 10.0");
	/* substitution near the limit */
	memset(tmpl, 'y', 250);
	strcpy(tmpl + 250, "$");
	assert_int_equal(list_txt_expand(tmpl, &a, buf, sizeof(buf)), 254);
	assert_memory_equal(buf + 250, "10.0", 4);
}

static void
test_variables(void **state)
{
	(void)state;
	char buf[256];
	struct list *l = LIST(
	    "$1 see https://example.org/$",
	    "$1 second definition ignored",
	    ":127.0.0.2:Listed $: $1 ($2)",
	    "192.0.2.0/24");
	assert_string_equal(txt_of(l, "192.0.2.7", buf, sizeof(buf)),
	    "Listed 192.0.2.7: see https://example.org/$ ($2)");
	list_unref(l);
}

/* ---- list_load on files ---- */

static void
test_load_file(void **state)
{
	(void)state;
	char path[32], log[4096], buf[256];
	int nerr = -1;
	struct list *l = load_text(
	    "# block list\n"
	    "$TTL 600\n"
	    ":127.0.0.2:Blocked $\n"
	    "192.0.2.0/24 :127.0.0.3:Spam from $\n"
	    "!192.0.2.7\n"
	    "\n"
	    "2001:db8:bad::/48\n",
	    &nerr, path, log, sizeof(log));
	assert_non_null(l);
	assert_int_equal(nerr, 0);
	assert_string_equal(l->name, "t");
	assert_string_equal(l->path, path);
	assert_int_equal(l->refs, 1);
	assert_int_equal(l->ttl, 600);
	assert_string_equal(txt_of(l, "192.0.2.1", buf, sizeof(buf)),
	    "Spam from 192.0.2.1");
	assert_false(listed(l, "192.0.2.7"));
	assert_string_equal(txt_of(l, "2001:db8:bad::1", buf, sizeof(buf)),
	    "Blocked 2001:db8:bad::1");
	assert_false(list_changed(l));

	/* an edit is noticed, and so is removal */
	FILE *f = fopen(path, "a");
	assert_non_null(f);
	fputs("198.51.100.1\n", f);
	fclose(f);
	assert_true(list_changed(l));
	unlink(path);
	assert_true(list_changed(l));

	list_ref(l);
	assert_int_equal(l->refs, 2);
	list_unref(l);
	list_unref(l);
}

static void
test_load_crlf(void **state)
{
	(void)state;
	char path[32], log[4096];
	int nerr = -1;
	struct list *l = load_text(
	    "# windows\r\n"
	    "$TTL 1h\r\n"
	    ":127.0.0.4:default text\r\n"
	    "192.0.2.1\r\n"
	    "192.0.2.2 :5:own text\r\n"
	    "\r\n"
	    "2001:db8::1\r\n"
	    "192.0.2.3 :6:\r\n"
	    "192.0.2.4 :7\r\n"
	    "10.0.0.0/8\r\n",
	    &nerr, path, log, sizeof(log));
	unlink(path);
	if (!l)
		fail_msg("CRLF list rejected: %s", log);
	assert_int_equal(nerr, 0);
	assert_int_equal(l->ttl, 3600);
	assert_string_equal(tmpl_of(l, "192.0.2.1"), "default text");
	assert_string_equal(tmpl_of(l, "192.0.2.2"), "own text");
	assert_int_equal(a_of(l, "192.0.2.2"), 0x7f000005);
	assert_true(listed(l, "2001:db8::1"));
	assert_null(tmpl_of(l, "192.0.2.3"));
	assert_int_equal(a_of(l, "192.0.2.4"), 0x7f000007);
	assert_true(listed(l, "10.9.9.9"));
	list_unref(l);
}

static void
test_load_last_line_without_newline(void **state)
{
	(void)state;
	char path[32], log[4096];
	int nerr = -1;
	struct list *l = load_text("192.0.2.1\n192.0.2.2", &nerr, path, log,
	    sizeof(log));
	unlink(path);
	assert_non_null(l);
	assert_true(listed(l, "192.0.2.2"));
	list_unref(l);
}

static void
test_load_errors(void **state)
{
	(void)state;
	char path[32], log[4096], want[128];
	int nerr = -1;
	struct list *l = load_text(
	    "192.0.2.1\n"
	    "not-an-address\n"
	    "10.0.0.1/8\n"
	    "192.0.2.3\n"
	    "192.0.2.4 ::text\n",
	    &nerr, path, log, sizeof(log));
	unlink(path);
	assert_null(l);
	assert_int_equal(nerr, 3);
	/* each error at its file:line */
	snprintf(want, sizeof(want), "%s:2: ", path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "%s:3: ", path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "%s:5: ", path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "%s:1: ", path);
	assert_null(strstr(log, want));
}

static void
test_load_missing_file(void **state)
{
	(void)state;
	struct capture c;
	char log[4096];
	int nerr = 0;
	capture_begin(&c);
	struct list *l = list_load("t", "/tmp/rblcache-no-such-list", &nerr);
	capture_end(&c, log, sizeof(log));
	assert_null(l);
	assert_true(nerr > 0);
	assert_non_null(strstr(log, "/tmp/rblcache-no-such-list"));
}

static void
test_load_nul_byte(void **state)
{
	(void)state;
	char path[32], log[4096];
	strcpy(path, "/tmp/rblcache-list-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	static const char content[] = "192.0.2.1\n192.0.2\0.2\n";
	assert_int_equal(write(fd, content, sizeof(content) - 1),
	    (ssize_t)sizeof(content) - 1);
	close(fd);
	struct capture c;
	int nerr = 0;
	capture_begin(&c);
	struct list *l = list_load("t", path, &nerr);
	capture_end(&c, log, sizeof(log));
	unlink(path);
	assert_null(l);
	assert_int_equal(nerr, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_ip),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_abbreviated_ip4),
		cmocka_unit_test(test_exclusion),
		cmocka_unit_test(test_duplicate_first_wins),
		cmocka_unit_test(test_ip6),
		cmocka_unit_test(test_ip6_mapped_prefix_is_ip4),
		cmocka_unit_test(test_host_bits_rejected),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_value_a_txt),
		cmocka_unit_test(test_value_txt_only),
		cmocka_unit_test(test_default_applies_after),
		cmocka_unit_test(test_value_a_only_takes_default_txt),
		cmocka_unit_test(test_default_line_forms),
		cmocka_unit_test(test_empty_txt_value_invalid),
		cmocka_unit_test(test_comments_and_blanks),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_zone_directives_ignored),
		cmocka_unit_test(test_expand_ip4),
		cmocka_unit_test(test_expand_ip6),
		cmocka_unit_test(test_expand_escapes),
		cmocka_unit_test(test_expand_truncates),
		cmocka_unit_test(test_variables),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_crlf),
		cmocka_unit_test(test_load_last_line_without_newline),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_nul_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
