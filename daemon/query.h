/* query.h -- one DNS query answered from a snapshot of zones and lists.
 *
 * A snapshot is everything a worker reads to answer: the config (zones,
 * allow-query) and the loaded lists.  It is immutable once published;
 * main builds a new one aside on reload and frees the old one when no
 * worker holds it (see server.c).  query_answer() does no I/O and no
 * allocation, so it runs the same in the daemon, the unit tests, the
 * fuzzer and the benchmark.
 */
#ifndef RBLCACHE_QUERY_H
#define RBLCACHE_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "lists.h"

struct snapshot {
	struct config *cfg;	/* shared between snapshots: cfg->refs */
	struct list **lists;	/* one per cfg->lists[], same order */
	int nlists;
	uint32_t serial;	/* SOA serial: time of the build */
};

/* Per-worker counters, written by one thread only. */
struct query_stats {
	uint64_t queries, answered, dropped;
	uint64_t rcode[6];	/* NOERROR..REFUSED */
	uint64_t badvers, truncated, listed, notlisted, refused_acl;
};

#define QUERY_DEFAULT_TTL	300
#define QUERY_UDP_MAX		1232	/* = DNS_EDNS_UDP */

/* Answers the query in pkt[0..len) from client into out.  udp selects
 * the size limit and so the size out must have: QUERY_UDP_MAX bytes over
 * UDP (the EDNS or 512-byte limit applies), 65535 over TCP.  Returns the length to send, or 0 to send
 * nothing. */
size_t query_answer(const struct snapshot *s, const uint8_t *pkt, size_t len,
    const struct ipaddr *client, int udp, uint8_t *out,
    struct query_stats *st);

#endif
