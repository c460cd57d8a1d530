/* test_answer.c -- upstream_parse_answer(): libunbound's answer packets.
 *
 * The answer takes the records of the question's type from the answer
 * section (a CNAME on the way is skipped), its TTL is the smallest of
 * theirs; a negative answer lives min(SOA TTL, SOA MINIMUM) (RFC 2308);
 * libunbound's error codes, a bogus answer, an error rcode in the packet
 * or a packet cut short are failures, never a read past the packet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns.h"
#include "dnsmsg.h"
#include "upstream.h"

/* a packet for 2.0.0.127.zen.example with rcode and the counts given;
 * the question name is at offset 12 for compression pointers */
static void
start(struct pkt *p, unsigned rcode, unsigned an, unsigned ns, unsigned qtype)
{
	memset(p, 0, sizeof(*p));
	pkt_header(p, 0, 0x8180 | rcode, 1, an, ns, 0);
	pkt_question(p, "2.0.0.127.zen.example", qtype, 1);
}

/* a record owned by the question name (a pointer to offset 12) */
static void
rr(struct pkt *p, unsigned type, uint32_t ttl, const void *rdata, unsigned len)
{
	pkt_u16(p, 0xc00c);
	pkt_u16(p, type);
	pkt_u16(p, 1);
	pkt_u32(p, ttl);
	pkt_u16(p, len);
	pkt_bytes(p, rdata, len);
}

static void
soa(struct pkt *p, uint32_t ttl, uint32_t minimum)
{
	struct pkt r = { .n = 0 };
	static const uint8_t names[] = "\002ns\300\022\004host\300\022";
	pkt_bytes(&r, names, sizeof(names) - 1);
	pkt_u32(&r, 1);
	pkt_u32(&r, 3600);
	pkt_u32(&r, 600);
	pkt_u32(&r, 86400);
	pkt_u32(&r, minimum);
	rr(p, DNS_T_SOA, ttl, r.b, (unsigned)r.n);
}

static struct upstream_raw
parse(const struct pkt *p, uint16_t qtype)
{
	struct upstream_raw raw;
	upstream_parse_answer(0, 0, p->b, p->n, qtype, &raw);
	return raw;
}

static void
test_a_records_and_smallest_ttl(void **state)
{
	struct pkt p;
	(void)state;
	start(&p, 0, 3, 0, DNS_T_A);
	rr(&p, 5, 500, "\003zen\300\022", 6);	/* CNAME: no data */
	rr(&p, DNS_T_A, 300, "\177\0\0\002", 4);
	rr(&p, DNS_T_A, 120, "\177\0\0\012", 4);
	struct upstream_raw r = parse(&p, DNS_T_A);
	assert_int_equal(r.status, UPS_ANSWER);
	assert_int_equal(r.rcode, DNS_R_NOERROR);
	assert_int_equal(r.na, 2);
	assert_int_equal(r.a[0], 0x7f000002);
	assert_int_equal(r.a[1], 0x7f00000a);
	assert_int_equal(r.ttl, 120);
	/* a CNAME on the way that expires first bounds the answer */
	start(&p, 0, 2, 0, DNS_T_A);
	rr(&p, 5, 50, "\003zen\300\022", 6);
	rr(&p, DNS_T_A, 300, "\177\0\0\002", 4);
	r = parse(&p, DNS_T_A);
	assert_int_equal(r.status, UPS_ANSWER);
	assert_int_equal(r.ttl, 50);
}

static void
test_more_a_records_than_kept(void **state)
{
	struct pkt p;
	(void)state;
	start(&p, 0, UPSTREAM_MAX_A + 3, 0, DNS_T_A);
	for (int i = 0; i < UPSTREAM_MAX_A + 3; i++) {
		uint8_t a[4] = { 127, 0, 0, (uint8_t)(2 + i) };
		rr(&p, DNS_T_A, 60, a, 4);
	}
	struct upstream_raw r = parse(&p, DNS_T_A);
	assert_int_equal(r.status, UPS_ANSWER);
	assert_int_equal(r.na, UPSTREAM_MAX_A);
}

static void
test_txt_strings_and_records(void **state)
{
	struct pkt p;
	(void)state;
	start(&p, 0, 2, 0, DNS_T_TXT);
	rr(&p, DNS_T_TXT, 900, "\004see \003url", 9);
	rr(&p, DNS_T_TXT, 600, "\0012", 2);
	struct upstream_raw r = parse(&p, DNS_T_TXT);
	assert_int_equal(r.status, UPS_ANSWER);
	assert_string_equal(r.txt, "see url 2");
	assert_int_equal(r.txtlen, 9);
	assert_int_equal(r.ttl, 600);
}

static void
test_txt_control_characters_replaced(void **state)
{
	struct pkt p;
	(void)state;
	start(&p, 0, 1, 0, DNS_T_TXT);
	rr(&p, DNS_T_TXT, 60, "\010a\0b\r\n550 x\177", 9);
	struct upstream_raw r = parse(&p, DNS_T_TXT);
	assert_int_equal(r.status, UPS_ANSWER);
	assert_int_equal(r.txtlen, 8);
	assert_memory_equal(r.txt, "a?b??550", 9);
}

static void
test_long_txt_is_cut_not_overrun(void **state)
{
	struct pkt p;
	uint8_t s[256];
	(void)state;
	s[0] = 255;
	memset(s + 1, 'x', 255);
	start(&p, 0, 2, 0, DNS_T_TXT);
	rr(&p, DNS_T_TXT, 60, s, 256);
	rr(&p, DNS_T_TXT, 60, s, 256);
	struct upstream_raw r = parse(&p, DNS_T_TXT);
	assert_int_equal(r.status, UPS_ANSWER);
	assert_int_equal(r.txtlen, sizeof(r.txt) - 1);
	assert_int_equal(strlen(r.txt), r.txtlen);
}

static void
test_negative_ttl_is_soa_ttl_or_minimum(void **state)
{
	struct pkt p;
	(void)state;
	start(&p, DNS_R_NXDOMAIN, 0, 1, DNS_T_A);
	soa(&p, 900, 300);
	struct upstream_raw r = parse(&p, DNS_T_A);
	assert_int_equal(r.status, UPS_NXDOMAIN);
	assert_int_equal(r.ttl, 300);
	start(&p, DNS_R_NXDOMAIN, 0, 1, DNS_T_A);
	soa(&p, 60, 300);
	r = parse(&p, DNS_T_A);
	assert_int_equal(r.ttl, 60);
	/* records beside NXDOMAIN: the rcode wins */
	start(&p, DNS_R_NXDOMAIN, 1, 1, DNS_T_A);
	rr(&p, DNS_T_A, 60, "\177\0\0\002", 4);
	soa(&p, 60, 300);
	r = parse(&p, DNS_T_A);
	assert_int_equal(r.status, UPS_NXDOMAIN);
	assert_int_equal(r.na, 0);
	/* no SOA: no TTL, the cache's own limits decide */
	start(&p, DNS_R_NXDOMAIN, 0, 0, DNS_T_A);
	r = parse(&p, DNS_T_A);
	assert_int_equal(r.status, UPS_NXDOMAIN);
	assert_int_equal(r.ttl, 0);
}

static void
test_no_records_of_the_type_is_nodata(void **state)
{
	struct pkt p;
	(void)state;
	start(&p, 0, 1, 1, DNS_T_A);
	rr(&p, DNS_T_AAAA, 60, "0123456789abcdef", 16);
	soa(&p, 120, 3600);
	struct upstream_raw r = parse(&p, DNS_T_A);
	assert_int_equal(r.status, UPS_NODATA);
	assert_int_equal(r.ttl, 120);
	/* an A record of the wrong length is no data either */
	start(&p, 0, 1, 0, DNS_T_A);
	rr(&p, DNS_T_A, 60, "\177\0\0", 3);
	r = parse(&p, DNS_T_A);
	assert_int_equal(r.status, UPS_NODATA);
}

static void
test_failures(void **state)
{
	struct pkt p;
	struct upstream_raw r;
	(void)state;
	start(&p, 0, 1, 0, DNS_T_A);
	rr(&p, DNS_T_A, 60, "\177\0\0\002", 4);
	/* libunbound's error code: no packet to read */
	upstream_parse_answer(DNS_R_SERVFAIL, 0, p.b, p.n, DNS_T_A, &r);
	assert_int_equal(r.status, UPS_FAIL);
	assert_int_equal(r.rcode, DNS_R_SERVFAIL);
	upstream_parse_answer(DNS_R_NXDOMAIN, 0, NULL, 0, DNS_T_A, &r);
	assert_int_equal(r.status, UPS_NXDOMAIN);
	/* a bogus answer is not used */
	upstream_parse_answer(0, 1, p.b, p.n, DNS_T_A, &r);
	assert_int_equal(r.status, UPS_FAIL);
	assert_int_equal(r.na, 0);
	/* REFUSED in the packet */
	start(&p, 5, 0, 0, DNS_T_A);
	r = parse(&p, DNS_T_A);
	assert_int_equal(r.status, UPS_FAIL);
	assert_int_equal(r.rcode, 5);
	upstream_parse_answer(0, 0, NULL, 0, DNS_T_A, &r);
	assert_int_equal(r.status, UPS_FAIL);
}

/* Every strict prefix of a good packet, each in a buffer of its own
 * size (so ASan sees a read past it), is a failure: its counts promise
 * records that are not there, and a part of an answer is no answer. */
static void
test_cut_packets(void **state)
{
	struct pkt p;
	(void)state;
	start(&p, 0, 2, 1, DNS_T_A);
	rr(&p, DNS_T_A, 300, "\177\0\0\002", 4);
	rr(&p, DNS_T_A, 200, "\177\0\0\003", 4);
	soa(&p, 60, 60);
	for (size_t n = 0; n < p.n; n++) {
		uint8_t *b = malloc(n ? n : 1);
		assert_non_null(b);
		memcpy(b, p.b, n);
		struct upstream_raw r;
		upstream_parse_answer(0, 0, b, n, DNS_T_A, &r);
		free(b);
		if (r.status != UPS_FAIL || r.na != 0)
			fail_msg("a packet cut at %zu of %zu was read as %d",
			    n, p.n, r.status);
	}
	struct upstream_raw r = parse(&p, DNS_T_A);
	assert_int_equal(r.status, UPS_ANSWER);
	assert_int_equal(r.na, 2);
	assert_int_equal(r.ttl, 200);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_records_and_smallest_ttl),
		cmocka_unit_test(test_more_a_records_than_kept),
		cmocka_unit_test(test_txt_strings_and_records),
		cmocka_unit_test(test_txt_control_characters_replaced),
		cmocka_unit_test(test_long_txt_is_cut_not_overrun),
		cmocka_unit_test(test_negative_ttl_is_soa_ttl_or_minimum),
		cmocka_unit_test(test_no_records_of_the_type_is_nodata),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_cut_packets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
