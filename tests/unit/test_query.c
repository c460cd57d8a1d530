/* test_query.c -- query_answer end to end, without sockets.
 *
 * A group fixture writes list files and a config to /tmp (mkstemp,
 * removed once loaded), loads them with config_load and list_load as the
 * daemon does, and builds the snapshot; each case feeds a hand-built
 * query and reads the response back with the strict checker in dnsmsg.h.
 *
 * Zones:
 *   bl.test      block*10, allow*-100, threshold 3, answer from the list
 *   fixed.test   block, answer 127.0.0.9, ttl 60
 *   empty.test   an empty list (RFC 5782 test points only)
 *   big.test     three lists with the same prefix and 255-byte texts
 *   sub.bl.test  allow (a zone inside a zone)
 *   mixed.test   block*10 and an upstream allow list at -100
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

#include <arpa/inet.h>

#include "config.h"
#include "dns.h"
#include "lists.h"
#include "query.h"

#include "dnsmsg.h"
#include "testutil.h"

#define SERIAL		2024010101u
#define NFILES		7

struct fixture {
	char files[NFILES][40];		/* lists, then the config */
	struct config *cfg;
	struct snapshot snap;
	struct query_stats st;
	uint8_t out[65535];
	struct msg m;
};

/* ---- fixture ---- */

static void
big_list(char *path, char fill)
{
	char text[400];
	char txt[256];
	memset(txt, fill, 255);
	txt[255] = '\0';
	snprintf(text, sizeof(text), "203.0.113.0/24 :127.0.0.2:%s\n", txt);
	write_tmp(path, text);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	write_tmp(f->files[0],
	    "$TTL 600\n"
	    ":127.0.0.2:Blocked $\n"
	    "192.0.2.0/24 :127.0.0.3:Spam from $\n"
	    "!192.0.2.7\n"
	    "192.0.2.25\n"
	    "127.0.0.0/8\n"
	    "198.18.0.0/15 :127.0.0.5:\n"
	    "2001:db8:bad::/48 :127.0.0.4:v6 $\n");
	write_tmp(f->files[1],
	    ":127.0.10.1:allowed\n"
	    "192.0.2.25\n"
	    "198.51.100.0/24\n");
	write_tmp(f->files[2], "# nothing listed\n");
	big_list(f->files[3], 'x');
	big_list(f->files[4], 'y');
	big_list(f->files[5], 'z');

	char conf[4096];
	snprintf(conf, sizeof(conf),
	    "listen = { \"127.0.0.1:5300\" }\n"
	    "workers = 1\n"
	    "allow-query = { \"127.0.0.0/8\", \"::1/128\", \"2001:db8:ac1::/48\" }\n"
	    "list \"block\" { file = \"%s\" }\n"
	    "list \"allow\" { file = \"%s\" }\n"
	    "list \"empty\" { file = \"%s\" }\n"
	    "list \"big1\" { file = \"%s\" }\n"
	    "list \"big2\" { file = \"%s\" }\n"
	    "list \"big3\" { file = \"%s\" }\n"
	    "zone \"bl.test\" { sources = { \"block*10\", \"allow*-100\" } threshold = 3 }\n"
	    "zone \"fixed.test\" { sources = { \"block\" } answer = \"127.0.0.9\" ttl = 60 }\n"
	    "zone \"empty.test\" { sources = { \"empty\" } }\n"
	    "zone \"big.test\" { sources = { \"big1\", \"big2\", \"big3\" } }\n"
	    "zone \"sub.bl.test\" { sources = { \"allow\" } }\n"
	    "zone \"mixed.test\" { sources = { \"block*10\", \"dnswl.example*-100\" }"
	    " threshold = 3 }\n",
	    f->files[0], f->files[1], f->files[2], f->files[3], f->files[4],
	    f->files[5]);
	write_tmp(f->files[6], conf);

	f->cfg = config_load(f->files[6]);
	assert_non_null(f->cfg);
	f->snap.cfg = f->cfg;
	f->snap.nlists = f->cfg->nlists;
	f->snap.lists = calloc((size_t)f->cfg->nlists, sizeof(struct list *));
	for (int i = 0; i < f->cfg->nlists; i++) {
		int nerr;
		f->snap.lists[i] = list_load(f->cfg->lists[i].name,
		    f->cfg->lists[i].file, &nerr);
		assert_non_null(f->snap.lists[i]);
	}
	f->snap.serial = SERIAL;
	/* everything is in memory now: nothing to leave behind on a crash */
	for (int i = 0; i < NFILES; i++)
		unlink(f->files[i]);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < f->snap.nlists; i++)
		list_unref(f->snap.lists[i]);
	free(f->snap.lists);
	config_free(f->cfg);
	free(f);
	return 0;
}

/* ---- helpers ---- */

/* Sends p from client over UDP (udp = 1) or TCP; returns the length and,
 * when there is an answer, parses it into f->m. */
static size_t
send_pkt(struct fixture *f, const struct pkt *p, const char *client, int udp)
{
	struct ipaddr c = ip(client);
	/* up = NULL: no upstream phase (these zones have local sources only) */
	size_t n = query_answer(&f->snap, p->b, p->n, &c, udp, f->out, &f->st,
	    NULL);
	if (udp)
		assert_true(n <= QUERY_UDP_MAX);
	if (n > 0 && msg_parse(f->out, n, &f->m) < 0)
		fail_msg("response of %zu bytes does not parse", n);
	return n;
}

/* A query for name/qtype from 127.0.0.1 over UDP; edns = 0 for none,
 * else the advertised size. */
static const struct msg *
ask(struct fixture *f, const char *name, unsigned qtype, unsigned edns)
{
	struct pkt p;
	pkt_query(&p, 0x5151, DNS_F_RD, name, qtype, edns);
	assert_true(send_pkt(f, &p, "127.0.0.1", 1) > 0);
	assert_int_equal(f->m.id, 0x5151);
	assert_true(f->m.flags & DNS_F_QR);
	assert_true(f->m.flags & DNS_F_RD);
	return &f->m;
}

/* The nibble name of an IPv6 address under zone. */
static void
nibble_name(const char *addr, const char *zone, char *out, size_t size)
{
	uint8_t a[16];
	assert_int_equal(inet_pton(AF_INET6, addr, a), 1);
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	for (int i = 31; i >= 0; i--) {
		out[n++] = hex[i % 2 ? a[i / 2] & 0xf : a[i / 2] >> 4];
		out[n++] = '.';
	}
	snprintf(out + n, size - n, "%s", zone);
}

static uint32_t
a_rdata(const struct msg *m, const struct msg_rr *rr)
{
	assert_int_equal(rr->type, DNS_T_A);
	assert_int_equal(rr->rdlen, 4);
	return msg_get32(m->pkt + rr->rdoff);
}

static const char *
txt_rdata(const struct msg *m, const struct msg_rr *rr, char *buf, size_t size)
{
	assert_int_equal(rr->type, DNS_T_TXT);
	assert_true(msg_txt(m, rr, buf, size) >= 1);
	return buf;
}

/* NXDOMAIN or NODATA: no answer, the zone's SOA in the authority. */
static void
assert_negative(const struct msg *m, int rcode, const char *zone)
{
	assert_int_equal(m->rcode, rcode);
	assert_true(m->flags & DNS_F_AA);
	assert_false(m->flags & DNS_F_TC);
	assert_int_equal(m->count[1], 0);
	assert_int_equal(m->count[2], 1);
	const struct msg_rr *soa = msg_find(m, 1, DNS_T_SOA);
	assert_non_null(soa);
	assert_string_equal(soa->owner, zone);
	/* serial sits after the two names: mname (2), rname (2 + 11) */
	assert_int_equal(msg_get32(m->pkt + soa->rdoff + 15), SERIAL);
}

/* ---- listed ---- */

static void
test_listed_a(void **state)
{
	struct fixture *f = *state;
	const struct msg *m = ask(f, "2.2.0.192.bl.test", DNS_T_A, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_true(m->flags & DNS_F_AA);
	assert_false(m->flags & DNS_F_TC);
	assert_int_equal(m->count[0], 1);
	assert_int_equal(m->count[1], 1);
	assert_int_equal(m->count[2], 0);
	assert_string_equal(m->rr[0].owner, "2.2.0.192.bl.test");
	assert_int_equal(m->rr[0].class, DNS_C_IN);
	/* no zone answer: the entry's value; no zone ttl: the list's $TTL */
	assert_int_equal(a_rdata(m, &m->rr[0]), 0x7f000003);
	assert_int_equal(m->rr[0].ttl, 600);
	assert_true(f->st.listed >= 1);
}

static void
test_listed_zone_answer_and_ttl(void **state)
{
	struct fixture *f = *state;
	const struct msg *m = ask(f, "2.2.0.192.fixed.test", DNS_T_A, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_int_equal(m->count[1], 1);
	assert_int_equal(a_rdata(m, &m->rr[0]), 0x7f000009);
	assert_int_equal(m->rr[0].ttl, 60);
}

static void
test_listed_txt(void **state)
{
	struct fixture *f = *state;
	char buf[512];
	const struct msg *m = ask(f, "2.2.0.192.bl.test", DNS_T_TXT, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_int_equal(m->count[1], 1);
	assert_string_equal(txt_rdata(m, &m->rr[0], buf, sizeof(buf)),
	    "Spam from 192.0.2.2");
	assert_int_equal(m->rr[0].ttl, 600);

	/* the default text of the list */
	m = ask(f, "3.0.0.127.bl.test", DNS_T_TXT, 0);
	assert_int_equal(m->count[1], 1);
	assert_string_equal(txt_rdata(m, &m->rr[0], buf, sizeof(buf)),
	    "Blocked 127.0.0.3");
}

static void
test_listed_any(void **state)
{
	struct fixture *f = *state;
	char buf[512];
	const struct msg *m = ask(f, "9.2.0.192.bl.test", DNS_T_ANY, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_int_equal(m->count[1], 2);
	const struct msg_rr *a = msg_find(m, 0, DNS_T_A);
	const struct msg_rr *t = msg_find(m, 0, DNS_T_TXT);
	assert_non_null(a);
	assert_non_null(t);
	assert_int_equal(a_rdata(m, a), 0x7f000003);
	assert_string_equal(txt_rdata(m, t, buf, sizeof(buf)), "Spam from 192.0.2.9");
}

static void
test_listed_nodata(void **state)
{
	struct fixture *f = *state;
	const struct msg *m = ask(f, "2.2.0.192.bl.test", DNS_T_AAAA, 0);
	assert_negative(m, DNS_R_NOERROR, "bl.test");
	m = ask(f, "2.2.0.192.bl.test", 15 /* MX */, 0);
	assert_negative(m, DNS_R_NOERROR, "bl.test");

	/* an entry without text: TXT is NODATA, A answers */
	m = ask(f, "1.0.18.198.bl.test", DNS_T_TXT, 0);
	assert_negative(m, DNS_R_NOERROR, "bl.test");
	m = ask(f, "1.0.18.198.bl.test", DNS_T_A, 0);
	assert_int_equal(m->count[1], 1);
	assert_int_equal(a_rdata(m, &m->rr[0]), 0x7f000005);
}

/* ---- not listed ---- */

static void
test_not_listed(void **state)
{
	struct fixture *f = *state;
	const struct msg *m = ask(f, "1.100.51.198.bl.test", DNS_T_A, 0);
	assert_negative(m, DNS_R_NXDOMAIN, "bl.test");
	const struct msg_rr *soa = msg_find(m, 1, DNS_T_SOA);
	assert_int_equal(soa->ttl, QUERY_DEFAULT_TTL);

	m = ask(f, "1.1.168.192.bl.test", DNS_T_TXT, 0);
	assert_negative(m, DNS_R_NXDOMAIN, "bl.test");

	/* the zone's ttl is the SOA's */
	m = ask(f, "1.1.168.192.fixed.test", DNS_T_A, 0);
	assert_negative(m, DNS_R_NXDOMAIN, "fixed.test");
	assert_int_equal(msg_find(m, 1, DNS_T_SOA)->ttl, 60);
}

static void
test_exclusion_and_allow(void **state)
{
	struct fixture *f = *state;
	/* excluded inside a listed /24 */
	const struct msg *m = ask(f, "7.2.0.192.bl.test", DNS_T_A, 0);
	assert_negative(m, DNS_R_NXDOMAIN, "bl.test");
	/* listed by block (10) and allow (-100) */
	m = ask(f, "25.2.0.192.bl.test", DNS_T_A, 0);
	assert_negative(m, DNS_R_NXDOMAIN, "bl.test");
	/* but listed in the allow zone */
	m = ask(f, "25.2.0.192.sub.bl.test", DNS_T_A, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_int_equal(a_rdata(m, &m->rr[0]), 0x7f000a01);
}

static void
test_bad_qname_nxdomain(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {
		"www.bl.test", "1.2.3.bl.test", "5.4.3.2.1.bl.test",
		"02.2.0.192.bl.test", "256.2.0.192.bl.test",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct msg *m = ask(f, names[i], DNS_T_A, 0);
		assert_negative(m, DNS_R_NXDOMAIN, "bl.test");
	}
}

static void
test_case_insensitive(void **state)
{
	struct fixture *f = *state;
	const struct msg *m = ask(f, "2.2.0.192.BL.Test", DNS_T_A, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_int_equal(m->count[1], 1);
	/* the question and the owner as the client wrote them */
	assert_string_equal(m->qname, "2.2.0.192.BL.Test");
	assert_string_equal(m->rr[0].owner, "2.2.0.192.BL.Test");
	m = ask(f, "1.1.1.1.BL.TEST", DNS_T_A, 0);
	assert_negative(m, DNS_R_NXDOMAIN, "BL.TEST");
}

/* ---- apex ---- */

static void
test_apex(void **state)
{
	struct fixture *f = *state;
	char name[256];
	const struct msg *m = ask(f, "bl.test", DNS_T_SOA, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_true(m->flags & DNS_F_AA);
	assert_int_equal(m->count[1], 1);
	assert_int_equal(m->count[2], 0);
	const struct msg_rr *soa = &m->rr[0];
	assert_int_equal(soa->type, DNS_T_SOA);
	assert_string_equal(soa->owner, "bl.test");
	size_t off = soa->rdoff;
	assert_int_equal(msg_name(m->pkt, m->len, &off, name, sizeof(name)), 0);
	assert_string_equal(name, "bl.test");
	assert_int_equal(msg_name(m->pkt, m->len, &off, name, sizeof(name)), 0);
	assert_string_equal(name, "hostmaster.bl.test");
	assert_int_equal(msg_get32(m->pkt + off), SERIAL);

	m = ask(f, "bl.test", DNS_T_NS, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_int_equal(m->count[1], 1);
	const struct msg_rr *ns = &m->rr[0];
	assert_int_equal(ns->type, DNS_T_NS);
	off = ns->rdoff;
	assert_int_equal(msg_name(m->pkt, m->len, &off, name, sizeof(name)), 0);
	assert_string_equal(name, "bl.test");

	m = ask(f, "bl.test", DNS_T_ANY, 0);
	assert_int_equal(m->count[1], 2);
	assert_non_null(msg_find(m, 0, DNS_T_SOA));
	assert_non_null(msg_find(m, 0, DNS_T_NS));

	m = ask(f, "bl.test", DNS_T_A, 0);
	assert_negative(m, DNS_R_NOERROR, "bl.test");

	/* the apex of the inner zone is the inner zone's */
	m = ask(f, "sub.bl.test", DNS_T_SOA, 0);
	assert_int_equal(m->count[1], 1);
	assert_string_equal(m->rr[0].owner, "sub.bl.test");
}

/* ---- refused ---- */

static void
test_out_of_zone_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {
		"2.0.0.127.other.test", "2.0.0.127.xbl.test", "test", "bl.test.org",
		"2.0.0.127.bl.tes", ".",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct msg *m = ask(f, names[i], DNS_T_A, 0);
		assert_int_equal(m->rcode, DNS_R_REFUSED);
		assert_false(m->flags & DNS_F_AA);
		assert_int_equal(m->count[0], 1);	/* question echoed */
		assert_int_equal(m->count[1], 0);
		assert_int_equal(m->count[2], 0);
	}
}

static void
test_zone_suffix_not_on_label_boundary(void **state)
{
	struct fixture *f = *state;
	struct pkt p;
	/* one 9-byte label "x\002bl\004test": its wire form ends with the
	 * zone's bytes, but not at a label boundary */
	pkt_header(&p, 1, 0, 1, 0, 0, 0);
	static const uint8_t name[] = { 9, 'x', 2, 'b', 'l', 4, 't', 'e', 's',
	    't', 2, 'b', 'l', 4, 't', 'e', 's', 't', 0 };
	pkt_bytes(&p, name + 0, 10);
	pkt_u8(&p, 0);
	pkt_u16(&p, DNS_T_A);
	pkt_u16(&p, DNS_C_IN);
	assert_true(send_pkt(f, &p, "127.0.0.1", 1) > 0);
	assert_int_equal(f->m.rcode, DNS_R_REFUSED);
	/* the same bytes as two labels are in the zone */
	pkt_header(&p, 1, 0, 1, 0, 0, 0);
	pkt_bytes(&p, name + 10, sizeof(name) - 10);
	pkt_u16(&p, DNS_T_SOA);
	pkt_u16(&p, DNS_C_IN);
	assert_true(send_pkt(f, &p, "127.0.0.1", 1) > 0);
	assert_int_equal(f->m.rcode, DNS_R_NOERROR);
	assert_int_equal(f->m.count[1], 1);
}

static void
test_class_refused(void **state)
{
	struct fixture *f = *state;
	struct pkt p;
	pkt_header(&p, 1, 0, 1, 0, 0, 0);
	pkt_question(&p, "2.2.0.192.bl.test", DNS_T_TXT, 3);	/* CH */
	assert_true(send_pkt(f, &p, "127.0.0.1", 1) > 0);
	assert_int_equal(f->m.rcode, DNS_R_REFUSED);
	/* class ANY is answered */
	pkt_header(&p, 1, 0, 1, 0, 0, 0);
	pkt_question(&p, "2.2.0.192.bl.test", DNS_T_A, DNS_C_ANY);
	assert_true(send_pkt(f, &p, "127.0.0.1", 1) > 0);
	assert_int_equal(f->m.rcode, DNS_R_NOERROR);
	assert_int_equal(f->m.count[1], 1);
}

static void
test_acl(void **state)
{
	struct fixture *f = *state;
	struct pkt p;
	pkt_query(&p, 2, 0, "2.2.0.192.bl.test", DNS_T_A, 0);
	uint64_t refused = f->st.refused_acl;

	assert_true(send_pkt(f, &p, "192.0.2.1", 1) > 0);
	assert_int_equal(f->m.rcode, DNS_R_REFUSED);
	assert_int_equal(f->m.count[0], 1);
	assert_int_equal(f->m.count[1], 0);
	assert_int_equal(f->st.refused_acl, refused + 1);

	assert_true(send_pkt(f, &p, "2001:db8:ac2::1", 1) > 0);
	assert_int_equal(f->m.rcode, DNS_R_REFUSED);

	/* inside allow-query: IPv4, IPv6, and v4-mapped IPv6 */
	static const char *const ok[] = {
		"127.0.0.1", "127.255.0.9", "::1", "2001:db8:ac1::53",
		"::ffff:127.0.0.1",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_true(send_pkt(f, &p, ok[i], 1) > 0);
		if (f->m.rcode != DNS_R_NOERROR)
			fail_msg("client %s: rcode %d", ok[i], f->m.rcode);
	}
}

/* ---- RFC 5782 test points ---- */

static void
test_rfc5782_points(void **state)
{
	struct fixture *f = *state;
	char buf[512], name[256];
	/* 127.0.0.2 is listed even where nothing is */
	const struct msg *m = ask(f, "2.0.0.127.empty.test", DNS_T_A, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_int_equal(m->count[1], 1);
	assert_int_equal(a_rdata(m, &m->rr[0]), 0x7f000002);
	m = ask(f, "2.0.0.127.empty.test", DNS_T_TXT, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_int_equal(m->count[1], 1);
	assert_true(strlen(txt_rdata(m, &m->rr[0], buf, sizeof(buf))) > 0);

	/* ... and 127.0.0.1 never, even when a list has 127.0.0.0/8 */
	m = ask(f, "3.0.0.127.bl.test", DNS_T_A, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);	/* the /8 is listed */
	m = ask(f, "1.0.0.127.bl.test", DNS_T_A, 0);
	assert_negative(m, DNS_R_NXDOMAIN, "bl.test");
	m = ask(f, "1.0.0.127.fixed.test", DNS_T_TXT, 0);
	assert_negative(m, DNS_R_NXDOMAIN, "fixed.test");

	/* the IPv6 test points ::ffff:7f00:2 and ::ffff:7f00:1 */
	nibble_name("::ffff:7f00:2", "empty.test", name, sizeof(name));
	m = ask(f, name, DNS_T_A, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_int_equal(a_rdata(m, &m->rr[0]), 0x7f000002);
	nibble_name("::ffff:7f00:1", "bl.test", name, sizeof(name));
	m = ask(f, name, DNS_T_A, 0);
	assert_negative(m, DNS_R_NXDOMAIN, "bl.test");
}

/* ---- IPv6 ---- */

static void
test_ipv6_query(void **state)
{
	struct fixture *f = *state;
	char name[256], buf[512];
	nibble_name("2001:db8:bad::1", "bl.test", name, sizeof(name));
	const struct msg *m = ask(f, name, DNS_T_ANY, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	const struct msg_rr *a = msg_find(m, 0, DNS_T_A);
	const struct msg_rr *t = msg_find(m, 0, DNS_T_TXT);
	assert_non_null(a);
	assert_non_null(t);
	assert_int_equal(a_rdata(m, a), 0x7f000004);
	assert_string_equal(txt_rdata(m, t, buf, sizeof(buf)), "v6 2001:db8:bad::1");

	nibble_name("2001:db8:bae::1", "bl.test", name, sizeof(name));
	m = ask(f, name, DNS_T_A, 0);
	assert_negative(m, DNS_R_NXDOMAIN, "bl.test");
}

static void
test_v4_mapped_query(void **state)
{
	struct fixture *f = *state;
	char name[256], buf[512];
	nibble_name("::ffff:192.0.2.2", "bl.test", name, sizeof(name));
	const struct msg *m = ask(f, name, DNS_T_A, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_int_equal(a_rdata(m, &m->rr[0]), 0x7f000003);
	m = ask(f, name, DNS_T_TXT, 0);
	/* the text shows the IPv4 address the data is for */
	assert_string_equal(txt_rdata(m, &m->rr[0], buf, sizeof(buf)),
	    "Spam from 192.0.2.2");
	nibble_name("::ffff:192.0.2.7", "bl.test", name, sizeof(name));
	m = ask(f, name, DNS_T_A, 0);
	assert_negative(m, DNS_R_NXDOMAIN, "bl.test");
}

/* ---- upstream sources ---- */

static void
test_upstream_unanswered_fails_open(void **state)
{
	struct fixture *f = *state;
	/* without the upstream phase (up = NULL) the upstream allow list
	 * counts as unanswered: the local block list alone decides */
	const struct msg *m = ask(f, "2.2.0.192.mixed.test", DNS_T_A, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_int_equal(m->count[1], 1);
	assert_int_equal(a_rdata(m, &m->rr[0]), 0x7f000003);
	m = ask(f, "1.1.168.192.mixed.test", DNS_T_A, 0);
	assert_negative(m, DNS_R_NXDOMAIN, "mixed.test");
}

/* ---- dropped and malformed ---- */

static void
test_response_dropped(void **state)
{
	struct fixture *f = *state;
	struct pkt p;
	uint64_t dropped = f->st.dropped;
	pkt_query(&p, 3, DNS_F_QR, "2.2.0.192.bl.test", DNS_T_A, 0);
	assert_int_equal(send_pkt(f, &p, "127.0.0.1", 1), 0);
	assert_int_equal(send_pkt(f, &p, "127.0.0.1", 0), 0);
	/* a runt too */
	assert_int_equal(send_pkt(f, &(struct pkt){ .n = 5 }, "127.0.0.1", 1), 0);
	assert_int_equal(f->st.dropped, dropped + 3);
}

static void
test_malformed_answered(void **state)
{
	struct fixture *f = *state;
	struct pkt p;
	/* two questions: FORMERR, nothing echoed */
	pkt_header(&p, 4, 0, 2, 0, 0, 0);
	pkt_question(&p, "2.2.0.192.bl.test", DNS_T_A, DNS_C_IN);
	pkt_question(&p, "2.2.0.192.bl.test", DNS_T_A, DNS_C_IN);
	assert_true(send_pkt(f, &p, "127.0.0.1", 1) > 0);
	assert_int_equal(f->m.rcode, DNS_R_FORMERR);
	assert_int_equal(f->m.count[0], 0);
	/* opcode NOTIFY: NOTIMP */
	pkt_query(&p, 5, 4 << 11, "bl.test", DNS_T_SOA, 0);
	assert_true(send_pkt(f, &p, "127.0.0.1", 1) > 0);
	assert_int_equal(f->m.rcode, DNS_R_NOTIMP);
	/* EDNS version 1: BADVERS in the OPT */
	pkt_header(&p, 6, 0, 1, 0, 0, 1);
	pkt_question(&p, "2.2.0.192.bl.test", DNS_T_A, DNS_C_IN);
	pkt_opt(&p, 1232, 0, 1, 0);
	assert_true(send_pkt(f, &p, "127.0.0.1", 1) > 0);
	assert_int_equal(f->m.rcode, 0);
	assert_true(f->m.opt >= 0);
	assert_int_equal(f->m.rr[f->m.opt].ttl >> 24, 1);
	assert_int_equal(f->m.count[1], 0);
}

/* ---- size limits ---- */

static void
test_truncation(void **state)
{
	struct fixture *f = *state;
	char buf[512];
	/* three 254-byte texts do not fit in 512 bytes */
	const struct msg *m = ask(f, "1.113.0.203.big.test", DNS_T_TXT, 0);
	assert_int_equal(m->rcode, DNS_R_NOERROR);
	assert_true(m->flags & DNS_F_TC);
	assert_true(m->flags & DNS_F_AA);
	assert_int_equal(m->count[0], 1);
	assert_int_equal(m->count[1], 0);
	assert_int_equal(m->count[2], 0);
	assert_int_equal(m->count[3], 0);
	assert_string_equal(m->qname, "1.113.0.203.big.test");
	assert_true(f->st.truncated >= 1);

	/* with EDNS they do */
	m = ask(f, "1.113.0.203.big.test", DNS_T_TXT, 1232);
	assert_false(m->flags & DNS_F_TC);
	assert_int_equal(m->count[1], 3);
	assert_int_equal(m->count[3], 1);
	assert_true(m->len <= 1232);
	const char fill[3] = { 'x', 'y', 'z' };
	for (int i = 0; i < 3; i++) {
		txt_rdata(m, &m->rr[i], buf, sizeof(buf));
		assert_int_equal(strlen(buf), 254);	/* rbldnsd's limit */
		assert_int_equal(buf[0], fill[i]);	/* in source order */
	}

	/* an EDNS size of 600 is honoured: truncated, OPT kept */
	m = ask(f, "1.113.0.203.big.test", DNS_T_TXT, 600);
	assert_true(m->flags & DNS_F_TC);
	assert_int_equal(m->count[1], 0);
	assert_int_equal(m->count[3], 1);

	/* the A answer is small */
	m = ask(f, "1.113.0.203.big.test", DNS_T_A, 0);
	assert_false(m->flags & DNS_F_TC);
	assert_int_equal(m->count[1], 1);
}

static void
test_edns_answer_has_opt(void **state)
{
	struct fixture *f = *state;
	struct pkt p;
	pkt_header(&p, 9, 0, 1, 0, 0, 1);
	pkt_question(&p, "2.2.0.192.bl.test", DNS_T_A, DNS_C_IN);
	pkt_opt(&p, 4096, 0, 0, 0x8000);
	assert_true(send_pkt(f, &p, "127.0.0.1", 1) > 0);
	assert_int_equal(f->m.rcode, DNS_R_NOERROR);
	assert_int_equal(f->m.count[1], 1);
	assert_int_equal(f->m.count[3], 1);
	assert_true(f->m.opt >= 0);
	assert_int_equal(f->m.rr[f->m.opt].class, DNS_EDNS_UDP);
	assert_int_equal(f->m.rr[f->m.opt].ttl & 0x8000, 0x8000);
	/* negative answers and REFUSED carry it too */
	pkt_header(&p, 10, 0, 1, 0, 0, 1);
	pkt_question(&p, "1.1.1.1.bl.test", DNS_T_A, DNS_C_IN);
	pkt_opt(&p, 1232, 0, 0, 0);
	assert_true(send_pkt(f, &p, "127.0.0.1", 1) > 0);
	assert_int_equal(f->m.rcode, DNS_R_NXDOMAIN);
	assert_true(f->m.opt >= 0);
	assert_true(send_pkt(f, &p, "192.0.2.1", 1) > 0);
	assert_int_equal(f->m.rcode, DNS_R_REFUSED);
	assert_true(f->m.opt >= 0);
}

static void
test_tcp_not_truncated(void **state)
{
	struct fixture *f = *state;
	struct pkt p;
	pkt_query(&p, 8, 0, "1.113.0.203.big.test", DNS_T_ANY, 0);
	size_t n = send_pkt(f, &p, "127.0.0.1", 0);
	assert_true(n > 512);
	assert_false(f->m.flags & DNS_F_TC);
	assert_int_equal(f->m.count[1], 4);	/* A and three TXT */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listed_a),
		cmocka_unit_test(test_listed_zone_answer_and_ttl),
		cmocka_unit_test(test_listed_txt),
		cmocka_unit_test(test_listed_any),
		cmocka_unit_test(test_listed_nodata),
		cmocka_unit_test(test_not_listed),
		cmocka_unit_test(test_exclusion_and_allow),
		cmocka_unit_test(test_bad_qname_nxdomain),
		cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_apex),
		cmocka_unit_test(test_out_of_zone_refused),
		cmocka_unit_test(test_zone_suffix_not_on_label_boundary),
		cmocka_unit_test(test_class_refused),
		cmocka_unit_test(test_acl),
		cmocka_unit_test(test_rfc5782_points),
		cmocka_unit_test(test_ipv6_query),
		cmocka_unit_test(test_v4_mapped_query),
		cmocka_unit_test(test_upstream_unanswered_fails_open),
		cmocka_unit_test(test_response_dropped),
		cmocka_unit_test(test_malformed_answered),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_edns_answer_has_opt),
		cmocka_unit_test(test_tcp_not_truncated),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
