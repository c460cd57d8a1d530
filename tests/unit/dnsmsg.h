/* dnsmsg.h -- DNS packets for the unit tests: build queries, check responses.
 *
 * Shared by test_dns.c, test_query.c and test_answer.c.  The builder
 * writes hand-made packets (including malformed ones) into a fixed
 * buffer; the checker is an independent, strict reader of what the
 * composer produced: every name, compression pointer and rdata length
 * must lie inside the packet, the section counts must account for every
 * byte, and each record is returned for inspection.  Everything is
 * static inline so a test file that uses only part of it still builds
 * with -Werror.
 */
#ifndef RBLCACHE_TEST_DNSMSG_H
#define RBLCACHE_TEST_DNSMSG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- building queries ---- */

struct pkt {
	uint8_t b[4096];
	size_t n;
};

static inline void
pkt_u8(struct pkt *p, unsigned v)
{
	p->b[p->n++] = (uint8_t)v;
}

static inline void
pkt_u16(struct pkt *p, unsigned v)
{
	pkt_u8(p, v >> 8);
	pkt_u8(p, v & 0xff);
}

static inline void
pkt_u32(struct pkt *p, uint32_t v)
{
	pkt_u16(p, v >> 16);
	pkt_u16(p, v & 0xffff);
}

static inline void
pkt_bytes(struct pkt *p, const void *d, size_t len)
{
	memcpy(p->b + p->n, d, len);
	p->n += len;
}

static inline void
pkt_header(struct pkt *p, unsigned id, unsigned flags, unsigned qd,
    unsigned an, unsigned ns, unsigned ar)
{
	p->n = 0;
	pkt_u16(p, id);
	pkt_u16(p, flags);
	pkt_u16(p, qd);
	pkt_u16(p, an);
	pkt_u16(p, ns);
	pkt_u16(p, ar);
}

/* Writes a dotted name ("2.0.0.127.bl.test", "" or "." for the root) in
 * uncompressed wire format. */
static inline void
pkt_name(struct pkt *p, const char *name)
{
	const char *s = name;
	while (*s && strcmp(s, ".") != 0) {
		const char *dot = strchr(s, '.');
		size_t len = dot ? (size_t)(dot - s) : strlen(s);
		pkt_u8(p, (unsigned)len);
		pkt_bytes(p, s, len);
		s += len;
		if (*s == '.')
			s++;
	}
	pkt_u8(p, 0);
}

static inline void
pkt_question(struct pkt *p, const char *name, unsigned qtype, unsigned qclass)
{
	pkt_name(p, name);
	pkt_u16(p, qtype);
	pkt_u16(p, qclass);
}

/* An OPT pseudo-record (RFC 6891) with a root owner and no options. */
static inline void
pkt_opt(struct pkt *p, unsigned udp, unsigned ext_rcode, unsigned version,
    unsigned flags)
{
	pkt_u8(p, 0);
	pkt_u16(p, 41);
	pkt_u16(p, udp);
	pkt_u8(p, ext_rcode);
	pkt_u8(p, version);
	pkt_u16(p, flags);
	pkt_u16(p, 0);
}

/* A complete one-question query, with an OPT record when udp > 0. */
static inline void
pkt_query(struct pkt *p, unsigned id, unsigned flags, const char *name,
    unsigned qtype, unsigned udp)
{
	pkt_header(p, id, flags, 1, 0, 0, udp ? 1 : 0);
	pkt_question(p, name, qtype, 1);
	if (udp)
		pkt_opt(p, udp, 0, 0, 0);
}

/* ---- checking responses ---- */

#define MSG_MAXRR 64

struct msg_rr {
	int section;		/* 0 answer, 1 authority, 2 additional */
	char owner[256];	/* dotted, lower case as on the wire, no final dot */
	uint16_t type, class;
	uint32_t ttl;
	size_t rdoff;		/* offset of the rdata in the packet */
	uint16_t rdlen;
};

struct msg {
	const uint8_t *pkt;
	size_t len;
	uint16_t id, flags;
	int rcode;		/* header rcode only */
	uint16_t count[4];	/* qd, an, ns, ar */
	char qname[256];
	uint16_t qtype, qclass;
	size_t question_end;
	int nrr;
	struct msg_rr rr[MSG_MAXRR];
	int opt;		/* index of the OPT record, or -1 */
};

static inline uint16_t
msg_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
msg_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* Reads a possibly compressed name at *off into text (dotted, "" for the
 * root).  Pointers must point backwards (no loops).  Returns 0 and moves
 * *off past the name, or -1. */
static inline int
msg_name(const uint8_t *pkt, size_t len, size_t *off, char *text, size_t size)
{
	size_t o = *off, n = 0, end = 0;
	int jumped = 0, hops = 0;
	text[0] = '\0';
	for (;;) {
		if (o >= len)
			return -1;
		uint8_t l = pkt[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len || ++hops > 64)
				return -1;
			size_t target = (size_t)(l & 0x3f) << 8 | pkt[o + 1];
			if (target >= o)
				return -1;	/* forward or self pointer */
			if (!jumped)
				end = o + 2;
			jumped = 1;
			o = target;
			continue;
		}
		if (l & 0xc0)
			return -1;
		if (l == 0) {
			if (!jumped)
				end = o + 1;
			break;
		}
		if (o + 1 + l > len || n + l + 2 > size)
			return -1;
		if (n > 0)
			text[n++] = '.';
		memcpy(text + n, pkt + o + 1, l);
		n += l;
		text[n] = '\0';
		o += 1 + (size_t)l;
	}
	*off = end;
	return 0;
}

/* Parses a whole response strictly.  Returns 0, or -1 when anything is
 * out of bounds, a count does not match, or bytes are left over. */
static inline int
msg_parse(const uint8_t *pkt, size_t len, struct msg *m)
{
	memset(m, 0, sizeof(*m));
	m->pkt = pkt;
	m->len = len;
	m->opt = -1;
	if (len < 12)
		return -1;
	m->id = msg_get16(pkt);
	m->flags = msg_get16(pkt + 2);
	m->rcode = m->flags & 0xf;
	for (int i = 0; i < 4; i++)
		m->count[i] = msg_get16(pkt + 4 + 2 * i);
	size_t off = 12;
	if (m->count[0] > 1)
		return -1;
	if (m->count[0] == 1) {
		if (msg_name(pkt, len, &off, m->qname, sizeof(m->qname)) < 0 ||
		    off + 4 > len)
			return -1;
		m->qtype = msg_get16(pkt + off);
		m->qclass = msg_get16(pkt + off + 2);
		off += 4;
	}
	m->question_end = off;
	int total = m->count[1] + m->count[2] + m->count[3];
	if (total > MSG_MAXRR)
		return -1;
	for (int i = 0; i < total; i++) {
		struct msg_rr *rr = &m->rr[i];
		rr->section = i < m->count[1] ? 0 :
		    i < m->count[1] + m->count[2] ? 1 : 2;
		if (msg_name(pkt, len, &off, rr->owner, sizeof(rr->owner)) < 0 ||
		    off + 10 > len)
			return -1;
		rr->type = msg_get16(pkt + off);
		rr->class = msg_get16(pkt + off + 2);
		rr->ttl = msg_get32(pkt + off + 4);
		rr->rdlen = msg_get16(pkt + off + 8);
		rr->rdoff = off + 10;
		off += 10 + (size_t)rr->rdlen;
		if (off > len)
			return -1;
		if (rr->type == 41) {
			if (rr->section != 2 || m->opt >= 0 || rr->owner[0])
				return -1;
			m->opt = i;
		}
	}
	m->nrr = total;
	return off == len ? 0 : -1;
}

/* The rdata of a TXT record as one string (character-strings joined);
 * returns the number of character-strings, or -1 when malformed. */
static inline int
msg_txt(const struct msg *m, const struct msg_rr *rr, char *out, size_t size)
{
	size_t o = rr->rdoff, end = rr->rdoff + rr->rdlen, n = 0;
	int strings = 0;
	if (rr->rdlen == 0)
		return -1;
	while (o < end) {
		uint8_t l = m->pkt[o++];
		if (o + l > end || n + l + 1 > size)
			return -1;
		memcpy(out + n, m->pkt + o, l);
		n += l;
		o += l;
		strings++;
	}
	out[n] = '\0';
	return strings;
}

/* The first record of a type in a section, or NULL. */
static inline const struct msg_rr *
msg_find(const struct msg *m, int section, uint16_t type)
{
	for (int i = 0; i < m->nrr; i++)
		if (m->rr[i].section == section && m->rr[i].type == type)
			return &m->rr[i];
	return NULL;
}

#endif
