/* test_qname.c -- reversed IPv4 and nibble IPv6 query names to addresses.
 *
 * qname_parse_ip() sees the wire-format labels in front of the zone; the
 * tests write them as dotted text and convert.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "qname.h"

/* ---- helpers ---- */

/* "2.0.0.127" -> \1 2 \1 0 \1 0 \3 127 (no root label); returns the length. */
static size_t
to_labels(const char *text, uint8_t *out)
{
	size_t n = 0;
	const char *s = text;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t len = dot ? (size_t)(dot - s) : strlen(s);
		out[n++] = (uint8_t)len;
		memcpy(out + n, s, len);
		n += len;
		s += len;
		if (*s == '.')
			s++;
	}
	return n;
}

static int
parse_text(const char *text, struct ipaddr *ip)
{
	uint8_t buf[512];
	size_t n = to_labels(text, buf);
	return qname_parse_ip(buf, n, ip);
}

/* The nibble name of a text IPv6 address, least significant first. */
static void
nibbles(const char *addr, char *out)
{
	uint8_t a[16];
	assert_int_equal(inet_pton(AF_INET6, addr, a), 1);
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	for (int i = 31; i >= 0; i--) {
		out[n++] = hex[i % 2 ? a[i / 2] & 0xf : a[i / 2] >> 4];
		if (i)
			out[n++] = '.';
	}
	out[n] = '\0';
}

static void
assert_v4(const char *text, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct ipaddr ip;
	assert_int_equal(parse_text(text, &ip), QNAME_IP);
	assert_int_equal(ip.family, AF_INET);
	const uint8_t want[4] = { a, b, c, d };
	assert_memory_equal(ip.a, want, 4);
}

static void
assert_bad(const char *text)
{
	struct ipaddr ip;
	if (parse_text(text, &ip) != QNAME_BAD)
		fail_msg("\"%s\" should be QNAME_BAD", text);
}

/* ---- IPv4 ---- */

static void
test_v4_basic(void **state)
{
	(void)state;
	assert_v4("2.0.0.127", 127, 0, 0, 2);
	assert_v4("4.3.2.1", 1, 2, 3, 4);
	assert_v4("0.0.0.0", 0, 0, 0, 0);
	assert_v4("255.255.255.255", 255, 255, 255, 255);
	assert_v4("10.100.200.199", 199, 200, 100, 10);
}

static void
test_apex(void **state)
{
	(void)state;
	struct ipaddr ip;
	uint8_t dummy[1] = { 0 };
	assert_int_equal(qname_parse_ip(dummy, 0, &ip), QNAME_APEX);
}

static void
test_v4_leading_zero(void **state)
{
	(void)state;
	assert_bad("02.0.0.127");
	assert_bad("2.00.0.127");
	assert_bad("2.0.0.0127");
	assert_bad("2.0.0.012");
}

static void
test_v4_out_of_range(void **state)
{
	(void)state;
	assert_bad("256.0.0.127");
	assert_bad("2.0.0.256");
	assert_bad("2.999.0.127");
}

static void
test_v4_label_count(void **state)
{
	(void)state;
	assert_bad("0.0.127");
	assert_bad("2.0.0.0.127");
	assert_bad("127");
	assert_bad("1.2.3.4.5.6.7.8");
}

static void
test_v4_non_digit(void **state)
{
	(void)state;
	assert_bad("2.0.x.127");
	assert_bad("a.0.0.127");
	assert_bad("2.0.0.12a");
	assert_bad("2.0.0.-1");
	assert_bad("www.0.0.127");
}

static void
test_v4_long_label(void **state)
{
	(void)state;
	assert_bad("1000.0.0.127");
	assert_bad("2.0.0.1270");
}

static void
test_v4_empty_label(void **state)
{
	(void)state;
	struct ipaddr ip;
	/* a zero-length label in the middle (not a legal name, but it must
	 * not be read as an address) */
	static const uint8_t w[] = { 1, '2', 0, 1, '0', 3, '1', '2', '7' };
	assert_int_equal(qname_parse_ip(w, sizeof(w), &ip), QNAME_BAD);
	/* a label length running past the end */
	static const uint8_t cut[] = { 1, '2', 1, '0', 1, '0', 3, '1', '2' };
	assert_int_equal(qname_parse_ip(cut, sizeof(cut), &ip), QNAME_BAD);
}

/* ---- IPv6 ---- */

static void
test_v6_basic(void **state)
{
	(void)state;
	char name[128];
	struct ipaddr ip;
	nibbles("2001:db8::1", name);
	assert_string_equal(name,
	    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2");
	assert_int_equal(parse_text(name, &ip), QNAME_IP);
	assert_int_equal(ip.family, AF_INET6);
	static const uint8_t want[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 1 };
	assert_memory_equal(ip.a, want, 16);

	nibbles("fedc:ba98:7654:3210:0123:4567:89ab:cdef", name);
	assert_int_equal(parse_text(name, &ip), QNAME_IP);
	static const uint8_t want2[16] = { 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
	    0x32, 0x10, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
	assert_int_equal(ip.family, AF_INET6);
	assert_memory_equal(ip.a, want2, 16);
}

static void
test_v6_uppercase(void **state)
{
	(void)state;
	struct ipaddr lower, upper;
	const char *l = "f.e.d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2";
	const char *u = "F.E.D.C.B.A.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2";
	assert_int_equal(parse_text(l, &lower), QNAME_IP);
	assert_int_equal(parse_text(u, &upper), QNAME_IP);
	assert_int_equal(upper.family, AF_INET6);
	assert_memory_equal(lower.a, upper.a, 16);
	assert_int_equal(upper.a[15], 0xef);
	assert_int_equal(upper.a[14], 0xcd);
	assert_int_equal(upper.a[13], 0xab);
}

static void
test_v6_two_char_label(void **state)
{
	(void)state;
	char name[128];
	nibbles("2001:db8::1", name);
	/* "1.0" -> "10": 31 labels, one of two characters */
	char bad[128];
	snprintf(bad, sizeof(bad), "10%s", name + 3);
	assert_bad(bad);
	/* 29 nibbles and two 2-char labels: 64 bytes, like a valid name */
	uint8_t w[128];
	size_t n = 0;
	for (int i = 0; i < 29; i++)
		n += (size_t)snprintf(bad + n, sizeof(bad) - n, "%x.", i % 16);
	snprintf(bad + n, sizeof(bad) - n, "10.02");
	assert_int_equal(to_labels(bad, w), 64);
	assert_bad(bad);
	/* the same with a 2-char label third, after two valid nibbles */
	snprintf(bad, sizeof(bad), "1.2.34.56");
	n = strlen(bad);
	for (int i = 0; i < 27; i++)
		n += (size_t)snprintf(bad + n, sizeof(bad) - n, ".%x", i % 16);
	assert_int_equal(to_labels(bad, w), 64);
	assert_bad(bad);
}

static void
test_v6_nibble_count(void **state)
{
	(void)state;
	char name[128];
	nibbles("2001:db8::1", name);
	assert_bad(name + 2);			/* 31 nibbles */
	char longer[140];
	snprintf(longer, sizeof(longer), "0.%s", name);	/* 33 nibbles */
	assert_bad(longer);
	assert_v4("1.0.0.0", 0, 0, 0, 1);	/* 4 one-digit labels: IPv4 */
}

static void
test_v6_non_hex(void **state)
{
	(void)state;
	char name[128];
	nibbles("2001:db8::1", name);
	name[0] = 'g';
	assert_bad(name);
	nibbles("2001:db8::1", name);
	name[62] = 'x';			/* the most significant nibble */
	assert_bad(name);
}

static void
test_v6_mapped_is_v4(void **state)
{
	(void)state;
	char name[128];
	nibbles("::ffff:7f00:2", name);
	assert_v4(name, 127, 0, 0, 2);
	nibbles("::ffff:192.0.2.33", name);
	assert_v4(name, 192, 0, 2, 33);
	/* IPv4-compatible (::a.b.c.d) and NAT64 are not mapped: stay IPv6 */
	struct ipaddr ip;
	nibbles("::7f00:2", name);
	assert_int_equal(parse_text(name, &ip), QNAME_IP);
	assert_int_equal(ip.family, AF_INET6);
	nibbles("64:ff9b::7f00:2", name);
	assert_int_equal(parse_text(name, &ip), QNAME_IP);
	assert_int_equal(ip.family, AF_INET6);
}

/* ---- formatting ---- */

static void
round_trip(const char *text)
{
	struct ipaddr ip, back;
	char name[128];
	uint8_t w[256];
	memset(&ip, 0, sizeof(ip));
	if (inet_pton(AF_INET, text, ip.a) == 1)
		ip.family = AF_INET;
	else {
		assert_int_equal(inet_pton(AF_INET6, text, ip.a), 1);
		ip.family = AF_INET6;
	}
	assert_ptr_equal(qname_format_ip(&ip, name, sizeof(name)), name);
	size_t n = to_labels(name, w);
	assert_int_equal(qname_parse_ip(w, n, &back), QNAME_IP);
	assert_int_equal(back.family, ip.family);
	assert_memory_equal(back.a, ip.a, ip.family == AF_INET ? 4 : 16);
}

static void
test_format(void **state)
{
	(void)state;
	struct ipaddr ip;
	char buf[128];
	memset(&ip, 0, sizeof(ip));
	ip.family = AF_INET;
	ip.a[0] = 127; ip.a[3] = 2;
	assert_string_equal(qname_format_ip(&ip, buf, sizeof(buf)), "2.0.0.127");

	memset(&ip, 0, sizeof(ip));
	ip.family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", ip.a), 1);
	assert_string_equal(qname_format_ip(&ip, buf, sizeof(buf)),
	    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2");
}

static void
test_format_round_trip(void **state)
{
	(void)state;
	round_trip("127.0.0.2");
	round_trip("0.0.0.0");
	round_trip("255.255.255.255");
	round_trip("192.0.2.1");
	round_trip("2001:db8::1");
	round_trip("::1");
	round_trip("fedc:ba98:7654:3210:123:4567:89ab:cdef");
	round_trip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

static void
test_format_small_buffer(void **state)
{
	(void)state;
	struct ipaddr ip;
	char buf[16];
	memset(&ip, 0, sizeof(ip));
	ip.family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", ip.a), 1);
	memset(buf, 'Z', sizeof(buf));
	qname_format_ip(&ip, buf, 10);
	/* cut, NUL-terminated inside the given size, a prefix of the name */
	assert_non_null(memchr(buf, '\0', 10));
	assert_int_equal(strncmp(buf, "1.0.0.0.0", strlen(buf)), 0);
	assert_int_equal(buf[10], 'Z');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_basic),
		cmocka_unit_test(test_apex),
		cmocka_unit_test(test_v4_leading_zero),
		cmocka_unit_test(test_v4_out_of_range),
		cmocka_unit_test(test_v4_label_count),
		cmocka_unit_test(test_v4_non_digit),
		cmocka_unit_test(test_v4_long_label),
		cmocka_unit_test(test_v4_empty_label),
		cmocka_unit_test(test_v6_basic),
		cmocka_unit_test(test_v6_uppercase),
		cmocka_unit_test(test_v6_two_char_label),
		cmocka_unit_test(test_v6_nibble_count),
		cmocka_unit_test(test_v6_non_hex),
		cmocka_unit_test(test_v6_mapped_is_v4),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_format_small_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
