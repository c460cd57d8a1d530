/* test_dns.c -- dns_parse on hand-built queries, and the response composer.
 *
 * Queries are built byte by byte (tests/unit/dnsmsg.h) so malformed ones
 * are easy to write; responses are read back with an independent strict
 * parser, so a composer bug shows as a packet that does not parse rather
 * than as a byte offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dns.h"

#include "dnsmsg.h"

/* ---- helpers ---- */

static int
parse(const struct pkt *p, struct dns_query *q)
{
	return dns_parse(p->b, p->n, q);
}

/* A query for name/qtype with RD set and optional EDNS; parsed. */
static void
make_query(struct pkt *p, struct dns_query *q, const char *name,
    unsigned qtype, unsigned udp, unsigned edns_flags)
{
	pkt_header(p, 0x1234, DNS_F_RD, 1, 0, 0, udp ? 1 : 0);
	pkt_question(p, name, qtype, DNS_C_IN);
	if (udp)
		pkt_opt(p, udp, 0, 0, edns_flags);
	assert_int_equal(parse(p, q), DNS_PARSE_OK);
}

/* ---- parser ---- */

static void
test_parse_normal_query(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	pkt_header(&p, 0xbeef, DNS_F_RD, 1, 0, 0, 0);
	pkt_question(&p, "2.0.0.127.BL.Example", DNS_T_TXT, DNS_C_IN);

	assert_int_equal(parse(&p, &q), DNS_PARSE_OK);
	assert_int_equal(q.id, 0xbeef);
	assert_int_equal(q.flags, DNS_F_RD);
	assert_int_equal(q.opcode, 0);
	assert_true(q.has_question);
	assert_int_equal(q.qtype, DNS_T_TXT);
	assert_int_equal(q.qclass, DNS_C_IN);
	static const uint8_t want[] = "\0012\0010\0010\003127\002bl\007example";
	assert_int_equal(q.qname_len, sizeof(want));	/* with the root label */
	assert_memory_equal(q.qname, want, sizeof(want));
	assert_int_equal(q.question_end, DNS_HDRLEN + sizeof(want) + 4);
	assert_int_equal(q.question_end, p.n);
	assert_false(q.edns);
	assert_ptr_equal(q.pkt, p.b);
	assert_int_equal(q.len, p.n);
}

/* Case folding touches A-Z only: not '@', '[', '`', '{', nor bytes with
 * the high bit set, whichever of the eight positions of a word they sit in. */
static void
test_parse_lower_cases_ascii_only(void **state)
{
	(void)state;
	static const uint8_t label[] = { 'A', 'Z', '@', '[', '`', '{', 0xc1, 0xda,
	    'a', 'z', 'M', 0x80, 0xff, 'Q', '0', '_', 'B' };
	uint8_t want[sizeof(label)];
	for (size_t i = 0; i < sizeof(label); i++)
		want[i] = label[i] >= 'A' && label[i] <= 'Z' ?
		    (uint8_t)(label[i] + 32) : label[i];
	for (size_t shift = 0; shift < 8; shift++) {
		struct pkt p;
		struct dns_query q;
		pkt_header(&p, 1, 0, 1, 0, 0, 0);
		/* a first label of 'shift' bytes moves the test label around */
		if (shift) {
			p.b[p.n++] = (uint8_t)shift;
			memset(p.b + p.n, 'X', shift);
			p.n += shift;
		}
		p.b[p.n++] = sizeof(label);
		memcpy(p.b + p.n, label, sizeof(label));
		p.n += sizeof(label);
		p.b[p.n++] = 0;
		p.b[p.n++] = 0; p.b[p.n++] = DNS_T_A;
		p.b[p.n++] = 0; p.b[p.n++] = DNS_C_IN;
		assert_int_equal(parse(&p, &q), DNS_PARSE_OK);
		size_t at = shift ? 1 + shift : 0;
		for (size_t i = 0; i < shift; i++)
			assert_int_equal(q.qname[1 + i], 'x');
		assert_int_equal(q.qname[at], sizeof(label));
		assert_memory_equal(q.qname + at + 1, want, sizeof(label));
	}
}

static void
test_parse_trailing_bytes_ignored(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	pkt_query(&p, 1, 0, "a.b", DNS_T_A, 0);
	size_t qend = p.n;
	pkt_u32(&p, 0xdeadbeef);
	assert_int_equal(parse(&p, &q), DNS_PARSE_OK);
	assert_int_equal(q.question_end, qend);
}

static void
test_parse_runt_dropped(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	pkt_query(&p, 1, 0, "a.b", DNS_T_A, 0);
	assert_int_equal(dns_parse(p.b, 11, &q), DNS_PARSE_DROP);
	assert_int_equal(dns_parse(p.b, 0, &q), DNS_PARSE_DROP);
}

static void
test_parse_response_dropped(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	pkt_query(&p, 1, DNS_F_QR, "a.b", DNS_T_A, 0);
	assert_int_equal(parse(&p, &q), DNS_PARSE_DROP);
	/* a response is dropped whatever else is wrong with it */
	pkt_header(&p, 1, DNS_F_QR | 2 << 11, 0, 0, 0, 0);
	assert_int_equal(parse(&p, &q), DNS_PARSE_DROP);
}

static void
test_parse_opcode_notimp(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	pkt_query(&p, 7, 2 << 11, "a.b", DNS_T_A, 0);	/* STATUS */
	assert_int_equal(parse(&p, &q), DNS_R_NOTIMP);
	assert_int_equal(q.opcode, 2);
	assert_int_equal(q.id, 7);
}

static void
test_parse_qdcount_formerr(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	pkt_header(&p, 1, 0, 0, 0, 0, 0);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);
	assert_false(q.has_question);

	pkt_header(&p, 1, 0, 2, 0, 0, 0);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_question(&p, "c.d", DNS_T_A, DNS_C_IN);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);
}

static void
test_parse_compressed_question_formerr(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	pkt_header(&p, 1, 0, 1, 0, 0, 0);
	pkt_u8(&p, 1);
	pkt_u8(&p, 'a');
	pkt_u16(&p, 0xc00c);	/* pointer back to the start of the name */
	pkt_u16(&p, DNS_T_A);
	pkt_u16(&p, DNS_C_IN);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);

	/* the 0x40 and 0x80 label types are not labels either */
	pkt_header(&p, 1, 0, 1, 0, 0, 0);
	pkt_u8(&p, 0x41);
	pkt_u8(&p, 'a');
	pkt_u8(&p, 0);
	pkt_u16(&p, DNS_T_A);
	pkt_u16(&p, DNS_C_IN);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);
}

static void
test_parse_truncated_question_formerr(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	pkt_query(&p, 1, 0, "abc.example", DNS_T_A, 0);
	/* every cut inside the question, down to the bare header */
	for (size_t n = p.n - 1; n >= DNS_HDRLEN; n--)
		assert_int_equal(dns_parse(p.b, n, &q), DNS_R_FORMERR);
}

/* A query whose name is four labels of the given lengths. */
static void
long_name_query(struct pkt *p, const int lens[4])
{
	pkt_header(p, 1, 0, 1, 0, 0, 0);
	for (int i = 0; i < 4; i++) {
		pkt_u8(p, (unsigned)lens[i]);
		for (int k = 0; k < lens[i]; k++)
			pkt_u8(p, 'a' + (unsigned)(k % 26));
	}
	pkt_u8(p, 0);
	pkt_u16(p, DNS_T_A);
	pkt_u16(p, DNS_C_IN);
}

static void
test_parse_name_length_limit(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	/* 3 * 64 + 62 + 1 = 255 bytes: the longest legal name */
	long_name_query(&p, (const int[]){ 63, 63, 63, 61 });
	assert_int_equal(parse(&p, &q), DNS_PARSE_OK);
	assert_int_equal(q.qname_len, 255);
	/* 256 bytes */
	long_name_query(&p, (const int[]){ 63, 63, 63, 62 });
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);
	/* 257 bytes */
	long_name_query(&p, (const int[]){ 63, 63, 63, 63 });
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);
}

static void
test_parse_edns(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	pkt_header(&p, 1, 0, 1, 0, 0, 1);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_opt(&p, 4096, 0, 0, 0x8000);
	assert_int_equal(parse(&p, &q), DNS_PARSE_OK);
	assert_true(q.edns);
	assert_int_equal(q.edns_udp, 4096);
	assert_int_equal(q.edns_version, 0);
	assert_int_equal(q.edns_flags & 0x8000, 0x8000);

	/* without DO */
	pkt_header(&p, 1, 0, 1, 0, 0, 1);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_opt(&p, 1232, 0, 0, 0);
	assert_int_equal(parse(&p, &q), DNS_PARSE_OK);
	assert_true(q.edns);
	assert_int_equal(q.edns_udp, 1232);
	assert_int_equal(q.edns_flags, 0);
}

static void
test_parse_edns_with_option(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	/* an OPT carrying a cookie option (rdlen 12) */
	pkt_header(&p, 1, 0, 1, 0, 0, 1);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_u8(&p, 0);
	pkt_u16(&p, DNS_T_OPT);
	pkt_u16(&p, 1400);
	pkt_u32(&p, 0);
	pkt_u16(&p, 12);
	pkt_u16(&p, 10);
	pkt_u16(&p, 8);
	pkt_u32(&p, 0x01020304);
	pkt_u32(&p, 0x05060708);
	assert_int_equal(parse(&p, &q), DNS_PARSE_OK);
	assert_true(q.edns);
	assert_int_equal(q.edns_udp, 1400);
}

static void
test_parse_two_opt_formerr(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	pkt_header(&p, 1, 0, 1, 0, 0, 2);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_opt(&p, 1232, 0, 0, 0);
	pkt_opt(&p, 1232, 0, 0, 0);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);
}

static void
test_parse_opt_outside_additional_formerr(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	pkt_header(&p, 1, 0, 1, 1, 0, 0);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_opt(&p, 1232, 0, 0, 0);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);
}

static void
test_parse_badvers(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	pkt_header(&p, 1, 0, 1, 0, 0, 1);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_opt(&p, 1232, 0, 1, 0);
	assert_int_equal(parse(&p, &q), DNS_R_BADVERS);
	assert_true(q.edns);
	assert_int_equal(q.edns_version, 1);
	assert_true(q.has_question);
}

static void
test_parse_opt_nonroot_owner_formerr(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	pkt_header(&p, 1, 0, 1, 0, 0, 1);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_name(&p, "x");
	pkt_u16(&p, DNS_T_OPT);
	pkt_u16(&p, 1232);
	pkt_u32(&p, 0);
	pkt_u16(&p, 0);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);

	/* a compression pointer to the question name is not root either */
	pkt_header(&p, 1, 0, 1, 0, 0, 1);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_u16(&p, 0xc00c);
	pkt_u16(&p, DNS_T_OPT);
	pkt_u16(&p, 1232);
	pkt_u32(&p, 0);
	pkt_u16(&p, 0);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);
}

static void
test_parse_rdlen_past_end_formerr(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	/* OPT claiming 10 bytes of rdata that are not there */
	pkt_header(&p, 1, 0, 1, 0, 0, 1);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_u8(&p, 0);
	pkt_u16(&p, DNS_T_OPT);
	pkt_u16(&p, 1232);
	pkt_u32(&p, 0);
	pkt_u16(&p, 10);
	pkt_u32(&p, 0);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);

	/* an ordinary record in the answer section, rdata cut short */
	pkt_header(&p, 1, 0, 1, 1, 0, 0);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_u16(&p, 0xc00c);
	pkt_u16(&p, DNS_T_A);
	pkt_u16(&p, DNS_C_IN);
	pkt_u32(&p, 60);
	pkt_u16(&p, 4);
	pkt_u16(&p, 0x7f00);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);

	/* a record header cut short, and a count with no record at all */
	pkt_header(&p, 1, 0, 1, 0, 0, 1);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_u8(&p, 0);
	pkt_u16(&p, DNS_T_OPT);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);
	pkt_header(&p, 1, 0, 1, 0, 3, 0);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);
}

static void
test_parse_records_before_opt_skipped(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	/* an answer record (compressed owner), then the OPT */
	pkt_header(&p, 1, 0, 1, 1, 0, 1);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_u16(&p, 0xc00c);
	pkt_u16(&p, DNS_T_A);
	pkt_u16(&p, DNS_C_IN);
	pkt_u32(&p, 60);
	pkt_u16(&p, 4);
	pkt_u32(&p, 0x7f000002);
	pkt_opt(&p, 2048, 0, 0, 0);
	assert_int_equal(parse(&p, &q), DNS_PARSE_OK);
	assert_true(q.edns);
	assert_int_equal(q.edns_udp, 2048);
}

/* ---- composer ---- */

static void
test_compose_records(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	struct dns_resp r;
	struct msg m;
	uint8_t out[1232];
	make_query(&p, &q, "2.0.0.127.Bl.Test", DNS_T_ANY, 0, 0);
	uint16_t apex = DNS_HDRLEN + 10;	/* "bl.test" after 2.0.0.127 */

	dns_resp_init(&r, out, 512, &q, DNS_R_NOERROR, DNS_F_AA);
	dns_resp_add_a(&r, DNS_S_AN, DNS_HDRLEN, 300, 0x7f000002);
	dns_resp_add_txt(&r, DNS_S_AN, DNS_HDRLEN, 300, "listed", 6);
	dns_resp_add_ns(&r, DNS_S_NS, apex, 600, apex);
	dns_resp_add_soa(&r, DNS_S_NS, apex, 900, 20240101, 60);
	assert_false(r.full);
	size_t n = dns_resp_finish(&r);

	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_int_equal(m.id, 0x1234);
	assert_true(m.flags & DNS_F_QR);
	assert_true(m.flags & DNS_F_AA);
	assert_true(m.flags & DNS_F_RD);
	assert_false(m.flags & DNS_F_TC);
	assert_int_equal((m.flags >> 11) & 0xf, 0);
	assert_int_equal(m.rcode, DNS_R_NOERROR);
	assert_int_equal(m.count[0], 1);
	assert_int_equal(m.count[1], 2);
	assert_int_equal(m.count[2], 2);
	assert_int_equal(m.count[3], 0);
	/* the question as the client sent it, case included */
	assert_string_equal(m.qname, "2.0.0.127.Bl.Test");
	assert_int_equal(m.qtype, DNS_T_ANY);
	assert_memory_equal(out + DNS_HDRLEN, p.b + DNS_HDRLEN,
	    q.question_end - DNS_HDRLEN);

	const struct msg_rr *a = &m.rr[0];
	assert_int_equal(a->type, DNS_T_A);
	assert_int_equal(a->class, DNS_C_IN);
	assert_int_equal(a->ttl, 300);
	assert_string_equal(a->owner, "2.0.0.127.Bl.Test");
	assert_int_equal(a->rdlen, 4);
	assert_int_equal(msg_get32(out + a->rdoff), 0x7f000002);

	char txt[1024];
	assert_int_equal(m.rr[1].type, DNS_T_TXT);
	assert_int_equal(msg_txt(&m, &m.rr[1], txt, sizeof(txt)), 1);
	assert_string_equal(txt, "listed");

	const struct msg_rr *ns = &m.rr[2];
	assert_int_equal(ns->type, DNS_T_NS);
	assert_string_equal(ns->owner, "Bl.Test");
	assert_int_equal(ns->ttl, 600);
	size_t off = ns->rdoff;
	char name[256];
	assert_int_equal(msg_name(out, n, &off, name, sizeof(name)), 0);
	assert_string_equal(name, "Bl.Test");
	assert_int_equal(off, ns->rdoff + ns->rdlen);

	const struct msg_rr *soa = &m.rr[3];
	assert_int_equal(soa->type, DNS_T_SOA);
	assert_string_equal(soa->owner, "Bl.Test");
	assert_int_equal(soa->ttl, 900);
	off = soa->rdoff;
	assert_int_equal(msg_name(out, n, &off, name, sizeof(name)), 0);
	assert_string_equal(name, "Bl.Test");			/* mname */
	assert_int_equal(msg_name(out, n, &off, name, sizeof(name)), 0);
	assert_string_equal(name, "hostmaster.Bl.Test");	/* rname */
	assert_int_equal(off + 20, soa->rdoff + soa->rdlen);
	assert_int_equal(msg_get32(out + off), 20240101);	/* serial */
	assert_int_equal(msg_get32(out + off + 16), 60);	/* minimum */
}

static void
test_compose_rd_not_set(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	struct dns_resp r;
	struct msg m;
	uint8_t out[512];
	pkt_query(&p, 9, 0, "x.test", DNS_T_A, 0);
	assert_int_equal(parse(&p, &q), DNS_PARSE_OK);
	dns_resp_init(&r, out, sizeof(out), &q, DNS_R_NXDOMAIN, DNS_F_AA);
	size_t n = dns_resp_finish(&r);
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_false(m.flags & DNS_F_RD);
	assert_true(m.flags & DNS_F_AA);
	assert_int_equal(m.rcode, DNS_R_NXDOMAIN);
	assert_int_equal(m.nrr, 0);
	assert_int_equal(n, q.question_end);

	/* no AA unless asked for */
	dns_resp_init(&r, out, sizeof(out), &q, DNS_R_NOERROR, 0);
	n = dns_resp_finish(&r);
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_false(m.flags & DNS_F_AA);
}

static void
test_compose_exact_bytes(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	struct dns_resp r;
	uint8_t out[512];
	pkt_query(&p, 0x0102, DNS_F_RD, "a.b", DNS_T_A, 0);
	assert_int_equal(parse(&p, &q), DNS_PARSE_OK);
	dns_resp_init(&r, out, sizeof(out), &q, DNS_R_NOERROR, DNS_F_AA);
	dns_resp_add_a(&r, DNS_S_AN, DNS_HDRLEN, 0x01020304, 0x7f000003);
	size_t n = dns_resp_finish(&r);
	static const uint8_t want[] = {
		0x01, 0x02, 0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 0,
		1, 'a', 1, 'b', 0, 0, 1, 0, 1,
		0xc0, 0x0c, 0, 1, 0, 1, 0x01, 0x02, 0x03, 0x04, 0, 4,
		127, 0, 0, 3,
	};
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
}

static void
test_compose_edns_opt(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	struct dns_resp r;
	struct msg m;
	uint8_t out[1232];
	make_query(&p, &q, "a.b", DNS_T_A, 4096, 0x8000);
	dns_resp_init(&r, out, dns_udp_limit(&q), &q, DNS_R_NOERROR, DNS_F_AA);
	dns_resp_add_a(&r, DNS_S_AN, DNS_HDRLEN, 60, 0x7f000002);
	size_t n = dns_resp_finish(&r);
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_int_equal(m.count[1], 1);
	assert_int_equal(m.count[3], 1);
	assert_true(m.opt >= 0);
	const struct msg_rr *opt = &m.rr[m.opt];
	assert_int_equal(opt->class, DNS_EDNS_UDP);	/* our size */
	assert_int_equal(opt->ttl >> 24, 0);		/* ext rcode */
	assert_int_equal((opt->ttl >> 16) & 0xff, 0);	/* version */
	assert_int_equal(opt->ttl & 0x8000, 0x8000);	/* DO echoed */
	assert_int_equal(opt->rdlen, 0);

	/* DO not set in the query: not set in the answer */
	make_query(&p, &q, "a.b", DNS_T_A, 4096, 0);
	dns_resp_init(&r, out, dns_udp_limit(&q), &q, DNS_R_NOERROR, DNS_F_AA);
	n = dns_resp_finish(&r);
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_true(m.opt >= 0);
	assert_int_equal(m.rr[m.opt].ttl & 0x8000, 0);

	/* no OPT in the query: none in the answer */
	make_query(&p, &q, "a.b", DNS_T_A, 0, 0);
	dns_resp_init(&r, out, dns_udp_limit(&q), &q, DNS_R_NOERROR, DNS_F_AA);
	n = dns_resp_finish(&r);
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_int_equal(m.opt, -1);
	assert_int_equal(m.count[3], 0);
}

static void
check_txt_split(size_t len, int want_strings)
{
	struct pkt p;
	struct dns_query q;
	struct dns_resp r;
	struct msg m;
	uint8_t out[1232];
	char txt[1000], back[1100];
	for (size_t i = 0; i < len; i++)
		txt[i] = (char)('a' + i % 26);
	txt[len] = '\0';
	make_query(&p, &q, "a.b", DNS_T_TXT, 1232, 0);
	dns_resp_init(&r, out, sizeof(out), &q, DNS_R_NOERROR, DNS_F_AA);
	dns_resp_add_txt(&r, DNS_S_AN, DNS_HDRLEN, 60, txt, len);
	size_t n = dns_resp_finish(&r);
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_int_equal(m.count[1], 1);
	assert_int_equal(m.rr[0].rdlen, len + (size_t)want_strings);
	assert_int_equal(msg_txt(&m, &m.rr[0], back, sizeof(back)), want_strings);
	assert_string_equal(back, txt);
	/* every character-string but the last is full */
	size_t o = m.rr[0].rdoff;
	for (int i = 0; i < want_strings - 1; i++) {
		assert_int_equal(out[o], 255);
		o += 256;
	}
}

static void
test_compose_txt_split(void **state)
{
	(void)state;
	check_txt_split(0, 1);
	check_txt_split(1, 1);
	check_txt_split(255, 1);
	check_txt_split(256, 2);
	check_txt_split(510, 2);
	check_txt_split(511, 3);
	check_txt_split(600, 3);
}

static void
test_compose_truncation_no_edns(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	struct dns_resp r;
	struct msg m;
	uint8_t out[1232];
	make_query(&p, &q, "2.0.0.127.bl.test", DNS_T_A, 0, 0);
	size_t limit = dns_udp_limit(&q);
	assert_int_equal(limit, 512);
	dns_resp_init(&r, out, limit, &q, DNS_R_NOERROR, DNS_F_AA);
	int added = 0;
	while (!r.full) {
		dns_resp_add_a(&r, DNS_S_AN, DNS_HDRLEN, 60, 0x7f000000u + (uint32_t)added);
		assert_true(r.len <= limit);
		added++;
	}
	assert_true(added > 10);
	size_t n = dns_resp_finish(&r);
	assert_int_equal(n, q.question_end);
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_true(m.flags & DNS_F_TC);
	assert_true(m.flags & DNS_F_AA);
	assert_int_equal(m.count[0], 1);
	assert_int_equal(m.count[1], 0);
	assert_int_equal(m.count[2], 0);
	assert_int_equal(m.count[3], 0);
	assert_string_equal(m.qname, "2.0.0.127.bl.test");
}

static void
test_compose_truncation_keeps_opt(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	struct dns_resp r;
	struct msg m;
	uint8_t out[1232];
	char big[300];
	memset(big, 'x', sizeof(big));
	make_query(&p, &q, "2.0.0.127.bl.test", DNS_T_TXT, 600, 0x8000);
	size_t limit = dns_udp_limit(&q);
	assert_int_equal(limit, 600);
	dns_resp_init(&r, out, limit, &q, DNS_R_NOERROR, DNS_F_AA);
	dns_resp_add_txt(&r, DNS_S_AN, DNS_HDRLEN, 60, big, sizeof(big));
	assert_false(r.full);
	dns_resp_add_txt(&r, DNS_S_AN, DNS_HDRLEN, 60, big, sizeof(big));
	assert_true(r.full);
	size_t n = dns_resp_finish(&r);
	assert_true(n <= limit);
	assert_int_equal(n, q.question_end + 11);
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_true(m.flags & DNS_F_TC);
	assert_int_equal(m.count[0], 1);
	assert_int_equal(m.count[1], 0);
	assert_int_equal(m.count[2], 0);
	assert_int_equal(m.count[3], 1);
	assert_true(m.opt >= 0);
	assert_int_equal(m.rr[m.opt].ttl & 0x8000, 0x8000);
}

static void
test_compose_fits_exactly(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	struct dns_resp r;
	struct msg m;
	uint8_t out[1232];
	char big[600];
	memset(big, 'y', sizeof(big));
	make_query(&p, &q, "a.b", DNS_T_TXT, 0, 0);
	/* header+question 21, record header 12, rdata len + 2 strings:
	 * a text of 512 - 21 - 12 - 2 = 477 bytes fills 512 exactly */
	dns_resp_init(&r, out, 512, &q, DNS_R_NOERROR, DNS_F_AA);
	dns_resp_add_txt(&r, DNS_S_AN, DNS_HDRLEN, 60, big, 477);
	assert_false(r.full);
	size_t n = dns_resp_finish(&r);
	assert_int_equal(n, 512);
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_false(m.flags & DNS_F_TC);
	assert_int_equal(m.count[1], 1);

	/* one byte more does not fit */
	dns_resp_init(&r, out, 512, &q, DNS_R_NOERROR, DNS_F_AA);
	dns_resp_add_txt(&r, DNS_S_AN, DNS_HDRLEN, 60, big, 478);
	assert_true(r.full);
	n = dns_resp_finish(&r);
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_true(m.flags & DNS_F_TC);
	assert_int_equal(m.count[1], 0);
}

static void
test_error_formerr(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	struct msg m;
	uint8_t out[512];
	pkt_header(&p, 0x4242, DNS_F_RD, 2, 0, 0, 0);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_question(&p, "c.d", DNS_T_A, DNS_C_IN);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);
	size_t n = dns_error(&q, DNS_R_FORMERR, out, sizeof(out));
	assert_int_equal(n, DNS_HDRLEN);
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_int_equal(m.id, 0x4242);
	assert_true(m.flags & DNS_F_QR);
	assert_true(m.flags & DNS_F_RD);
	assert_false(m.flags & DNS_F_AA);
	assert_int_equal(m.rcode, DNS_R_FORMERR);
	for (int i = 0; i < 4; i++)
		assert_int_equal(m.count[i], 0);

	/* a FORMERR found after the question was read echoes no question */
	pkt_header(&p, 0x4243, 0, 1, 0, 0, 2);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_opt(&p, 1232, 0, 0, 0);
	pkt_opt(&p, 1232, 0, 0, 0);
	assert_int_equal(parse(&p, &q), DNS_R_FORMERR);
	n = dns_error(&q, DNS_R_FORMERR, out, sizeof(out));
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_int_equal(m.rcode, DNS_R_FORMERR);
	assert_int_equal(m.count[0], 0);
	assert_int_equal(m.count[1], 0);
	assert_int_equal(m.count[2], 0);
}

static void
test_error_notimp(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	struct msg m;
	uint8_t out[512];
	pkt_query(&p, 77, 2 << 11, "a.b", DNS_T_A, 0);
	assert_int_equal(parse(&p, &q), DNS_R_NOTIMP);
	size_t n = dns_error(&q, DNS_R_NOTIMP, out, sizeof(out));
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_int_equal(m.id, 77);
	assert_int_equal(m.rcode, DNS_R_NOTIMP);
	assert_int_equal((m.flags >> 11) & 0xf, 2);	/* opcode echoed */
	assert_int_equal(m.count[0], 0);
}

static void
test_error_refused_echoes_question(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	struct msg m;
	uint8_t out[512];
	pkt_query(&p, 5, DNS_F_RD, "2.0.0.127.Other.Zone", DNS_T_TXT, 0);
	assert_int_equal(parse(&p, &q), DNS_PARSE_OK);
	size_t n = dns_error(&q, DNS_R_REFUSED, out, sizeof(out));
	assert_int_equal(n, q.question_end);
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_int_equal(m.id, 5);
	assert_int_equal(m.rcode, DNS_R_REFUSED);
	assert_true(m.flags & DNS_F_QR);
	assert_true(m.flags & DNS_F_RD);
	assert_false(m.flags & DNS_F_AA);
	assert_int_equal(m.count[0], 1);
	assert_string_equal(m.qname, "2.0.0.127.Other.Zone");
	assert_int_equal(m.qtype, DNS_T_TXT);
	assert_int_equal(m.qclass, DNS_C_IN);

	/* with EDNS the OPT comes along */
	pkt_query(&p, 6, 0, "x.y", DNS_T_A, 1232);
	assert_int_equal(parse(&p, &q), DNS_PARSE_OK);
	n = dns_error(&q, DNS_R_REFUSED, out, sizeof(out));
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_int_equal(m.rcode, DNS_R_REFUSED);
	assert_int_equal(m.count[0], 1);
	assert_int_equal(m.count[3], 1);
	assert_true(m.opt >= 0);
}

static void
test_error_badvers(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	struct msg m;
	uint8_t out[512];
	pkt_header(&p, 11, DNS_F_RD, 1, 0, 0, 1);
	pkt_question(&p, "a.b", DNS_T_A, DNS_C_IN);
	pkt_opt(&p, 4096, 0, 1, 0x8000);
	assert_int_equal(parse(&p, &q), DNS_R_BADVERS);
	size_t n = dns_error(&q, DNS_R_BADVERS, out, sizeof(out));
	assert_int_equal(msg_parse(out, n, &m), 0);
	assert_int_equal(m.id, 11);
	assert_int_equal(m.rcode, 0);		/* BADVERS = 16: low bits 0 */
	assert_int_equal(m.count[1], 0);
	assert_int_equal(m.count[2], 0);
	assert_int_equal(m.count[3], 1);
	assert_true(m.opt >= 0);
	const struct msg_rr *opt = &m.rr[m.opt];
	assert_int_equal(opt->ttl >> 24, 1);		/* extended rcode: 16 >> 4 */
	assert_int_equal((opt->ttl >> 16) & 0xff, 0);	/* we speak version 0 */
	assert_int_equal(opt->class, DNS_EDNS_UDP);
}

static void
test_udp_limit(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_query q;
	make_query(&p, &q, "a.b", DNS_T_A, 0, 0);
	assert_int_equal(dns_udp_limit(&q), 512);
	static const struct { unsigned udp; size_t want; } cases[] = {
		{ 1, 512 }, { 100, 512 }, { 511, 512 }, { 512, 512 },
		{ 513, 513 }, { 1000, 1000 }, { 1231, 1231 }, { 1232, 1232 },
		{ 1233, 1232 }, { 4096, 1232 }, { 65535, 1232 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_query(&p, &q, "a.b", DNS_T_A, cases[i].udp, 0);
		assert_int_equal(dns_udp_limit(&q), cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_normal_query),
		cmocka_unit_test(test_parse_lower_cases_ascii_only),
		cmocka_unit_test(test_parse_trailing_bytes_ignored),
		cmocka_unit_test(test_parse_runt_dropped),
		cmocka_unit_test(test_parse_response_dropped),
		cmocka_unit_test(test_parse_opcode_notimp),
		cmocka_unit_test(test_parse_qdcount_formerr),
		cmocka_unit_test(test_parse_compressed_question_formerr),
		cmocka_unit_test(test_parse_truncated_question_formerr),
		cmocka_unit_test(test_parse_name_length_limit),
		cmocka_unit_test(test_parse_edns),
		cmocka_unit_test(test_parse_edns_with_option),
		cmocka_unit_test(test_parse_two_opt_formerr),
		cmocka_unit_test(test_parse_opt_outside_additional_formerr),
		cmocka_unit_test(test_parse_badvers),
		cmocka_unit_test(test_parse_opt_nonroot_owner_formerr),
		cmocka_unit_test(test_parse_rdlen_past_end_formerr),
		cmocka_unit_test(test_parse_records_before_opt_skipped),
		cmocka_unit_test(test_compose_records),
		cmocka_unit_test(test_compose_rd_not_set),
		cmocka_unit_test(test_compose_exact_bytes),
		cmocka_unit_test(test_compose_edns_opt),
		cmocka_unit_test(test_compose_txt_split),
		cmocka_unit_test(test_compose_truncation_no_edns),
		cmocka_unit_test(test_compose_truncation_keeps_opt),
		cmocka_unit_test(test_compose_fits_exactly),
		cmocka_unit_test(test_error_formerr),
		cmocka_unit_test(test_error_notimp),
		cmocka_unit_test(test_error_refused_echoes_question),
		cmocka_unit_test(test_error_badvers),
		cmocka_unit_test(test_udp_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
