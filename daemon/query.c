/* query.c -- from a parsed query to the answer's records.
 *
 * The decision order: drop responses and runts; FORMERR/NOTIMP/BADVERS
 * from the parser; REFUSED for clients outside allow-query, classes
 * other than IN and names outside every zone; the apex answers SOA and
 * NS; a name that is not an IP is NXDOMAIN; otherwise the zone's sources
 * are scored and a listed address answers A/TXT, an unlisted one
 * NXDOMAIN with the SOA (RFC 5782 §2.1, §5).
 */
#include "query.h"

#include <string.h>

#include "dns.h"
#include "policy.h"
#include "qname.h"

#define TEST_POINT_LISTED	0x7f000002u	/* 127.0.0.2, RFC 5782 §5 */
#define TEST_POINT_UNLISTED	0x7f000001u

static int
client_allowed(const struct config *c, const struct ipaddr *ip)
{
	for (int i = 0; i < c->nallow; i++)
		if (addr_cidr_contains(&c->allow[i], ip))
			return 1;
	return 0;
}

/* The zone with the longest name that is a label-aligned suffix of the
 * query name; *prefix gets the length of the labels in front of it. */
static const struct config_zone *
find_zone(const struct config *c, const struct dns_query *q, size_t *prefix)
{
	const struct config_zone *best = NULL;
	for (int i = 0; i < c->nzones; i++) {
		const struct config_zone *z = &c->zones[i];
		if (z->wirelen > q->qname_len || (best && z->wirelen <= best->wirelen))
			continue;
		size_t off = q->qname_len - z->wirelen;
		if (memcmp(q->qname + off, z->wire, z->wirelen) != 0)
			continue;
		/* off must fall on a label boundary */
		size_t p = 0;
		while (p < off)
			p += 1 + q->qname[p];
		if (p == off)
			best = z;
	}
	if (best)
		*prefix = q->qname_len - best->wirelen;
	return best;
}

static uint32_t
ip4_value(const struct ipaddr *ip)
{
	return (uint32_t)ip->a[0] << 24 | (uint32_t)ip->a[1] << 16 |
	    (uint32_t)ip->a[2] << 8 | ip->a[3];
}

static void
add_soa(struct dns_resp *r, const struct snapshot *s,
    const struct config_zone *z, uint16_t apex, int section)
{
	uint32_t ttl = z->has_ttl ? z->ttl : QUERY_DEFAULT_TTL;
	dns_resp_add_soa(r, section, apex, ttl, s->serial, ttl);
}

size_t
query_answer(const struct snapshot *s, const uint8_t *pkt, size_t len,
    const struct ipaddr *client, int udp, uint8_t *out,
    struct query_stats *st)
{
	struct dns_query q;
	struct dns_resp r;
	size_t prefix = 0, n;
	int rc;

	st->queries++;
	rc = dns_parse(pkt, len, &q);
	if (rc == DNS_PARSE_DROP) {
		st->dropped++;
		return 0;
	}
	size_t limit = udp ? dns_udp_limit(&q) : 65535;
	if (rc != DNS_PARSE_OK) {
		if (rc == DNS_R_BADVERS)
			st->badvers++;
		else
			st->rcode[rc]++;
		return dns_error(&q, rc, out, limit);
	}
	const struct config *c = s->cfg;
	if (!client_allowed(c, client)) {
		st->refused_acl++;
		st->rcode[DNS_R_REFUSED]++;
		return dns_error(&q, DNS_R_REFUSED, out, limit);
	}
	const struct config_zone *z = NULL;
	if (q.qclass == DNS_C_IN || q.qclass == DNS_C_ANY)
		z = find_zone(c, &q, &prefix);
	if (!z) {
		st->rcode[DNS_R_REFUSED]++;
		return dns_error(&q, DNS_R_REFUSED, out, limit);
	}
	uint16_t owner = DNS_HDRLEN;
	uint16_t apex = (uint16_t)(DNS_HDRLEN + prefix);
	uint32_t zttl = z->has_ttl ? z->ttl : QUERY_DEFAULT_TTL;
	struct ipaddr ip;

	switch (qname_parse_ip(q.qname, prefix, &ip)) {
	case QNAME_APEX:
		dns_resp_init(&r, out, limit, &q, DNS_R_NOERROR, DNS_F_AA);
		if (q.qtype == DNS_T_SOA || q.qtype == DNS_T_ANY)
			add_soa(&r, s, z, apex, DNS_S_AN);
		if (q.qtype == DNS_T_NS || q.qtype == DNS_T_ANY)
			dns_resp_add_ns(&r, DNS_S_AN, apex, zttl, apex);
		if (q.qtype != DNS_T_SOA && q.qtype != DNS_T_NS &&
		    q.qtype != DNS_T_ANY)
			add_soa(&r, s, z, apex, DNS_S_NS);
		st->rcode[DNS_R_NOERROR]++;
		return dns_resp_finish(&r);
	case QNAME_BAD:
		dns_resp_init(&r, out, limit, &q, DNS_R_NXDOMAIN, DNS_F_AA);
		add_soa(&r, s, z, apex, DNS_S_NS);
		st->rcode[DNS_R_NXDOMAIN]++;
		return dns_resp_finish(&r);
	default:
		break;
	}

	struct verdict v;
	policy_eval(z->src, z->nsrc, z->threshold, s->lists, &ip, &v);
	int test_point = 0;
	if (ip.family == AF_INET && ip4_value(&ip) == TEST_POINT_LISTED &&
	    !v.listed)
		v.listed = test_point = 1;
	if (ip.family == AF_INET && ip4_value(&ip) == TEST_POINT_UNLISTED)
		v.listed = 0;

	if (!v.listed) {
		st->notlisted++;
		st->rcode[DNS_R_NXDOMAIN]++;
		dns_resp_init(&r, out, limit, &q, DNS_R_NXDOMAIN, DNS_F_AA);
		add_soa(&r, s, z, apex, DNS_S_NS);
		return dns_resp_finish(&r);
	}
	st->listed++;
	st->rcode[DNS_R_NOERROR]++;

	/* TTL: the zone's, else the smallest $TTL of the lists that matched */
	uint32_t ttl = zttl;
	if (!z->has_ttl) {
		uint32_t lt = 0;
		for (int i = 0; i < v.nmatch; i++) {
			const struct list *l = s->lists[z->src[v.match[i].source].list];
			if (l->ttl && (lt == 0 || l->ttl < lt))
				lt = l->ttl;
		}
		if (lt)
			ttl = lt;
	}

	dns_resp_init(&r, out, limit, &q, DNS_R_NOERROR, DNS_F_AA);
	int want_a = q.qtype == DNS_T_A || q.qtype == DNS_T_ANY;
	int want_txt = q.qtype == DNS_T_TXT || q.qtype == DNS_T_ANY;
	if (want_a) {
		uint32_t a = z->has_answer ? z->answer : TEST_POINT_LISTED;
		if (!z->has_answer)
			for (int i = 0; i < v.nmatch; i++)
				if (z->src[v.match[i].source].weight > 0) {
					const struct list *l =
					    s->lists[z->src[v.match[i].source].list];
					a = l->entries[v.match[i].entry].a;
					break;
				}
		dns_resp_add_a(&r, DNS_S_AN, owner, ttl, a);
	}
	if (want_txt) {
		char txt[1024];
		int added = 0;
		for (int i = 0; i < v.nmatch; i++) {
			const struct policy_source *src = &z->src[v.match[i].source];
			if (src->weight <= 0)
				continue;
			const struct list *l = s->lists[src->list];
			if (!list_txt(l, v.match[i].entry))
				continue;
			n = list_entry_txt(l, v.match[i].entry, &ip, txt, sizeof(txt));
			dns_resp_add_txt(&r, DNS_S_AN, owner, ttl, txt, n);
			added++;
		}
		if (test_point && !added) {
			static const char tp[] = "RFC 5782 test point";
			dns_resp_add_txt(&r, DNS_S_AN, owner, ttl, tp, sizeof(tp) - 1);
			added++;
		}
		if (!added && !want_a)
			add_soa(&r, s, z, apex, DNS_S_NS);
	}
	if (!want_a && !want_txt)
		add_soa(&r, s, z, apex, DNS_S_NS);	/* NODATA */
	n = dns_resp_finish(&r);
	if (r.full)
		st->truncated++;
	return n;
}
