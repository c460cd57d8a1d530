/* dns.h -- DNS wire format: parse a query, compose a response.
 *
 * RFC 1035 with EDNS0 (RFC 6891).  No I/O and no allocation: the parser
 * fills a caller-owned struct dns_query that points into the packet, the
 * composer writes into a caller-owned buffer and truncates (TC) rather
 * than overflow it.
 */
#ifndef RBLCACHE_DNS_H
#define RBLCACHE_DNS_H

#include <stddef.h>
#include <stdint.h>

#define DNS_HDRLEN	12
#define DNS_MAXNAME	255

#define DNS_T_A		1
#define DNS_T_NS	2
#define DNS_T_SOA	6
#define DNS_T_TXT	16
#define DNS_T_AAAA	28
#define DNS_T_OPT	41
#define DNS_T_ANY	255
#define DNS_C_IN	1
#define DNS_C_ANY	255

#define DNS_R_NOERROR	0
#define DNS_R_FORMERR	1
#define DNS_R_SERVFAIL	2
#define DNS_R_NXDOMAIN	3
#define DNS_R_NOTIMP	4
#define DNS_R_REFUSED	5
#define DNS_R_BADVERS	16	/* extended: needs an OPT record */

#define DNS_F_QR	0x8000
#define DNS_F_AA	0x0400
#define DNS_F_TC	0x0200
#define DNS_F_RD	0x0100

#define DNS_EDNS_UDP	1232	/* our advertised and used maximum (DNS flag day 2020) */

/* dns_parse() results besides an rcode to answer with */
#define DNS_PARSE_OK	0
#define DNS_PARSE_DROP	-1

struct dns_query {
	const uint8_t *pkt;
	size_t len;
	uint16_t id;
	uint16_t flags;
	int opcode;
	int has_question;
	uint8_t qname[DNS_MAXNAME + 1];	/* lower-cased wire format */
	size_t qname_len;		/* including the root label */
	size_t question_end;		/* offset after qtype/qclass */
	uint16_t qtype, qclass;
	int edns;			/* an OPT record was present */
	uint16_t edns_udp;
	uint8_t edns_version;
	uint16_t edns_flags;		/* DO bit and friends */
};

/* Parses a query.  Returns DNS_PARSE_OK; DNS_PARSE_DROP when no answer
 * must be sent (shorter than a header, or a response); or an rcode
 * (FORMERR, NOTIMP, BADVERS) to answer with dns_error(). */
int dns_parse(const uint8_t *pkt, size_t len, struct dns_query *q);

/* Skips a possibly compressed name starting at off; returns the offset
 * after it, or 0 when it runs off the packet. */
size_t dns_skip_name(const uint8_t *pkt, size_t len, size_t off);

/* Network-order integers read from a packet. */
static inline uint16_t
dns_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
dns_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* A response under construction.  Records must be added in section
 * order: answer, authority, additional. */
struct dns_resp {
	uint8_t *buf;
	size_t limit;		/* the most we may send */
	size_t len;
	size_t qend;		/* end of the question */
	uint16_t count[3];
	int section;
	int full;		/* a record did not fit */
	const struct dns_query *q;
};

enum { DNS_S_AN, DNS_S_NS, DNS_S_AR };

/* Starts a response to q in buf (size >= limit >= 512): header with the
 * query's ID, opcode and RD, QR set, the given rcode and flags (AA), and
 * the question echoed as the client sent it. */
void dns_resp_init(struct dns_resp *r, uint8_t *buf, size_t limit,
    const struct dns_query *q, int rcode, uint16_t flags);

/* Adds records; owner is a compression pointer target (an offset into
 * the packet, e.g. 12 for the question name).  A record that does not
 * fit sets r->full; the composer then truncates in dns_resp_finish(). */
void dns_resp_add_a(struct dns_resp *r, int section, uint16_t owner,
    uint32_t ttl, uint32_t a);
void dns_resp_add_txt(struct dns_resp *r, int section, uint16_t owner,
    uint32_t ttl, const char *txt, size_t len);
void dns_resp_add_ns(struct dns_resp *r, int section, uint16_t owner,
    uint32_t ttl, uint16_t target);
void dns_resp_add_soa(struct dns_resp *r, int section, uint16_t owner,
    uint32_t ttl, uint32_t serial, uint32_t minimum);

/* Adds the OPT record when the query had one and returns the length to
 * send.  If anything did not fit, the answer is cut back to the question
 * with TC set (RFC 2181 §9). */
size_t dns_resp_finish(struct dns_resp *r);

/* Writes a complete error response (FORMERR, NOTIMP, REFUSED, BADVERS,
 * ...) to q into buf; echoes the question when it was parsed.  Returns
 * the length. */
size_t dns_error(const struct dns_query *q, int rcode, uint8_t *buf,
    size_t limit);

/* The UDP payload limit for an answer to q: 512 without EDNS, else the
 * client's size clamped to [512, DNS_EDNS_UDP]. */
size_t dns_udp_limit(const struct dns_query *q);

#endif
