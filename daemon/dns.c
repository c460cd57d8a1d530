/* dns.c -- query parsing and response composition.
 *
 * The parser is strict where RFC 1035 and 6891 leave no choice (one
 * question, no compression in it, one OPT at most, rdata lengths inside
 * the packet) and lenient elsewhere (trailing bytes are ignored), so
 * nothing a client sends can read past the packet.
 */
#include "dns.h"

#include <string.h>

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

size_t
dns_skip_name(const uint8_t *pkt, size_t len, size_t off)
{
	for (int labels = 0; labels < 128; labels++) {
		if (off >= len)
			return 0;
		uint8_t l = pkt[off];
		if (l == 0)
			return off + 1;
		if ((l & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if (l & 0xc0)
			return 0;
		off += 1 + (size_t)l;
	}
	return 0;
}

/* ASCII A-Z to a-z, eight bytes at a time (SWAR): a byte is upper case
 * when it is ASCII, >= 'A' and not > 'Z'.  buf must have room up to the
 * next multiple of 8 past len; the bytes there are rewritten as well. */
static void
lower_case(uint8_t *buf, size_t len)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t x;
		memcpy(&x, buf + i, 8);
		uint64_t low7 = x & ~high;
		uint64_t ge_a = low7 + (0x80 - 'A') * ones;
		uint64_t gt_z = low7 + (0x7f - 'Z') * ones;
		uint64_t upper = (ge_a ^ gt_z) & ~x & high;
		x |= upper >> 2;
		memcpy(buf + i, &x, 8);
	}
}

int
dns_parse(const uint8_t *pkt, size_t len, struct dns_query *q)
{
	/* everything but the name buffer, which is written before it is read */
	memset(q, 0, offsetof(struct dns_query, qname));
	memset(&q->qname_len, 0, sizeof(*q) - offsetof(struct dns_query, qname_len));
	q->pkt = pkt;
	q->len = len;
	if (len < DNS_HDRLEN)
		return DNS_PARSE_DROP;
	q->id = dns_get16(pkt);
	q->flags = dns_get16(pkt + 2);
	if (q->flags & DNS_F_QR)
		return DNS_PARSE_DROP;
	q->opcode = (q->flags >> 11) & 0xf;
	uint16_t qd = dns_get16(pkt + 4), an = dns_get16(pkt + 6), ns = dns_get16(pkt + 8),
	    ar = dns_get16(pkt + 10);
	if (q->opcode != 0)
		return DNS_R_NOTIMP;
	if (qd != 1)
		return DNS_R_FORMERR;

	/* the question: uncompressed, at most 255 bytes.  Walk the label
	 * lengths first, then copy the name whole and lower-case it; length
	 * bytes are below 64 and so never touched by the case fold. */
	size_t off = DNS_HDRLEN, n;
	for (;;) {
		if (off >= len)
			return DNS_R_FORMERR;
		uint8_t l = pkt[off];
		if (l & 0xc0)
			return DNS_R_FORMERR;
		if (off + 1 + l - DNS_HDRLEN > DNS_MAXNAME || off + 1 + l > len)
			return DNS_R_FORMERR;
		off += 1 + (size_t)l;
		if (l == 0)
			break;
	}
	n = off - DNS_HDRLEN;
	memcpy(q->qname, pkt + DNS_HDRLEN, n);
	lower_case(q->qname, n);
	if (off + 4 > len)
		return DNS_R_FORMERR;
	q->qname_len = n;
	q->qtype = dns_get16(pkt + off);
	q->qclass = dns_get16(pkt + off + 2);
	off += 4;
	q->question_end = off;
	q->has_question = 1;

	/* skip answer and authority records, look for OPT in additional */
	unsigned total = (unsigned)an + ns + ar;
	for (unsigned i = 0; i < total; i++) {
		size_t name = off;
		off = dns_skip_name(pkt, len, off);
		if (off == 0 || off + 10 > len)
			return DNS_R_FORMERR;
		uint16_t type = dns_get16(pkt + off);
		uint16_t rdlen = dns_get16(pkt + off + 8);
		if (off + 10 + rdlen > len)
			return DNS_R_FORMERR;
		if (type == DNS_T_OPT) {
			if (i < (unsigned)an + ns || q->edns || pkt[name] != 0)
				return DNS_R_FORMERR;
			q->edns = 1;
			q->edns_udp = dns_get16(pkt + off + 2);
			q->edns_version = pkt[off + 5];
			q->edns_flags = dns_get16(pkt + off + 6);
		}
		off += 10 + (size_t)rdlen;
	}
	if (q->edns && q->edns_version > 0)
		return DNS_R_BADVERS;
	return DNS_PARSE_OK;
}

size_t
dns_udp_limit(const struct dns_query *q)
{
	if (!q->edns || q->edns_udp <= 512)
		return 512;
	return q->edns_udp < DNS_EDNS_UDP ? q->edns_udp : DNS_EDNS_UDP;
}

void
dns_resp_init(struct dns_resp *r, uint8_t *buf, size_t limit,
    const struct dns_query *q, int rcode, uint16_t flags)
{
	r->buf = buf;
	r->limit = limit;
	r->q = q;
	r->full = 0;
	r->section = DNS_S_AN;
	memset(r->count, 0, sizeof(r->count));
	put16(buf, q->id);
	put16(buf + 2, (uint16_t)(DNS_F_QR | (q->opcode << 11) |
	    (q->flags & DNS_F_RD) | flags | (rcode & 0xf)));
	memset(buf + 4, 0, 8);
	r->len = DNS_HDRLEN;
	if (q->has_question && q->question_end <= limit) {
		put16(buf + 4, 1);
		memcpy(buf + DNS_HDRLEN, q->pkt + DNS_HDRLEN,
		    q->question_end - DNS_HDRLEN);
		r->len = q->question_end;
	}
	r->qend = r->len;
}

/* Reserves room for a record header; returns a pointer to the rdata or
 * NULL when it does not fit.  Keeps room for the OPT record (11 bytes). */
static uint8_t *
rr_begin(struct dns_resp *r, int section, uint16_t owner, uint16_t type,
    uint32_t ttl, size_t rdlen)
{
	size_t reserve = r->q->edns ? 11 : 0;
	if (r->full || section < r->section ||
	    r->len + 12 + rdlen + reserve > r->limit) {
		r->full = 1;
		return NULL;
	}
	uint8_t *p = r->buf + r->len;
	put16(p, (uint16_t)(0xc000 | owner));
	put16(p + 2, type);
	put16(p + 4, DNS_C_IN);
	put32(p + 6, ttl);
	put16(p + 10, (uint16_t)rdlen);
	r->len += 12 + rdlen;
	r->section = section;
	r->count[section]++;
	return p + 12;
}

void
dns_resp_add_a(struct dns_resp *r, int section, uint16_t owner, uint32_t ttl,
    uint32_t a)
{
	uint8_t *p = rr_begin(r, section, owner, DNS_T_A, ttl, 4);
	if (p)
		put32(p, a);
}

void
dns_resp_add_txt(struct dns_resp *r, int section, uint16_t owner,
    uint32_t ttl, const char *txt, size_t len)
{
	/* split into character-strings of at most 255 bytes */
	size_t nstr = len == 0 ? 1 : (len + 254) / 255;
	uint8_t *p = rr_begin(r, section, owner, DNS_T_TXT, ttl, len + nstr);
	if (!p)
		return;
	do {
		size_t k = len > 255 ? 255 : len;
		*p++ = (uint8_t)k;
		memcpy(p, txt, k);
		p += k;
		txt += k;
		len -= k;
	} while (len > 0);
}

void
dns_resp_add_ns(struct dns_resp *r, int section, uint16_t owner, uint32_t ttl,
    uint16_t target)
{
	uint8_t *p = rr_begin(r, section, owner, DNS_T_NS, ttl, 2);
	if (p)
		put16(p, (uint16_t)(0xc000 | target));
}

void
dns_resp_add_soa(struct dns_resp *r, int section, uint16_t owner,
    uint32_t ttl, uint32_t serial, uint32_t minimum)
{
	/* mname: the zone itself; rname: hostmaster.<zone> */
	static const uint8_t hm[] = "\012hostmaster";
	uint8_t *p = rr_begin(r, section, owner, DNS_T_SOA, ttl,
	    2 + (sizeof(hm) - 1) + 2 + 20);
	if (!p)
		return;
	put16(p, (uint16_t)(0xc000 | owner));
	memcpy(p + 2, hm, sizeof(hm) - 1);
	p += 2 + sizeof(hm) - 1;
	put16(p, (uint16_t)(0xc000 | owner));
	put32(p + 2, serial);
	put32(p + 6, 3600);	/* refresh */
	put32(p + 10, 600);	/* retry */
	put32(p + 14, 604800);	/* expire */
	put32(p + 18, minimum);
}

static void
add_opt(struct dns_resp *r, int ext_rcode)
{
	uint8_t *p = r->buf + r->len;
	p[0] = 0;
	put16(p + 1, DNS_T_OPT);
	put16(p + 3, DNS_EDNS_UDP);
	p[5] = (uint8_t)ext_rcode;
	p[6] = 0;	/* version */
	put16(p + 7, (uint16_t)(r->q->edns_flags & 0x8000));	/* DO */
	put16(p + 9, 0);
	r->len += 11;
	r->count[DNS_S_AR]++;
}

size_t
dns_resp_finish(struct dns_resp *r)
{
	if (r->full) {
		r->len = r->qend;
		memset(r->count, 0, sizeof(r->count));
		r->buf[2] |= DNS_F_TC >> 8;
	}
	if (r->q->edns && r->len + 11 <= r->limit)
		add_opt(r, 0);
	put16(r->buf + 6, r->count[0]);
	put16(r->buf + 8, r->count[1]);
	put16(r->buf + 10, r->count[2]);
	return r->len;
}

size_t
dns_error(const struct dns_query *q, int rcode, uint8_t *buf, size_t limit)
{
	struct dns_resp r;
	struct dns_query nq;
	if (rcode == DNS_R_FORMERR || rcode == DNS_R_NOTIMP) {
		/* echo nothing of a query we could not read */
		nq = *q;
		nq.has_question = rcode == DNS_R_NOTIMP ? 0 : q->has_question;
		nq.edns = rcode == DNS_R_FORMERR ? 0 : q->edns;
		if (rcode == DNS_R_FORMERR)
			nq.has_question = 0;
		q = &nq;
	}
	dns_resp_init(&r, buf, limit, q, rcode & 0xf, 0);
	if (rcode == DNS_R_BADVERS) {
		add_opt(&r, rcode >> 4);
		put16(r.buf + 10, r.count[2]);
		return r.len;
	}
	return dns_resp_finish(&r);
}
