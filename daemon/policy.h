/* policy.h -- postscreen-style weighted scoring of a zone's sources.
 *
 * A zone lists sources in postscreen_dnsbl_sites syntax,
 * NAME[=PATTERN][*WEIGHT].  The score of an address is the sum of the
 * weights of the sources whose answer matches their pattern; the address
 * is listed when the score reaches the zone's threshold.
 *
 * No I/O, no allocation: evaluation reads an immutable list snapshot and
 * writes into a caller-owned struct verdict.
 */
#ifndef RBLCACHE_POLICY_H
#define RBLCACHE_POLICY_H

#include <stdint.h>

#include "addr.h"

struct list;

/* An answer pattern: one 256-bit set per octet of the A record. */
struct policy_pattern {
	int any;		/* no pattern given: any 127.0.0.0/8 answer */
	uint8_t oct[4][32];
};

struct policy_source {
	char *name;		/* list name or upstream zone */
	int list;		/* index into the snapshot's lists, or -1 */
	int upstream;		/* index into cfg->upstreams, or -1 */
	int weight;
	struct policy_pattern pat;
};

#define POLICY_MAX_SOURCES	32

/* Parses "NAME[=PATTERN][*WEIGHT]" into src (name is malloc'ed).  Returns
 * 0, or -1 with *err set to a static message. */
int policy_parse_source(const char *text, struct policy_source *src,
    const char **err);

/* Parses a postscreen pattern such as 127.0.0.[2..11] or
 * 127.0.[0..255].[1;3;5..7].  Returns 0, or -1. */
int policy_parse_pattern(const char *text, struct policy_pattern *pat);

/* True when the A value (host order) matches the pattern. */
int policy_pattern_match(const struct policy_pattern *pat, uint32_t a);

/* One source's part in a verdict. */
struct policy_match {
	int source;		/* index into the zone's sources */
	uint32_t entry;		/* entry in that source's list (local) */
	uint32_t a;		/* the matching answer (upstream) */
};

struct verdict {
	int listed;
	int score;
	int nmatch;
	struct policy_match match[POLICY_MAX_SOURCES];
};

/* Scores ip (IPv4 or IPv6; v4-mapped IPv6 must already be unmapped)
 * against nsrc sources using the given lists.  dyn (may be NULL, and so
 * may each dyn[i]) holds each list's run-time entries, which take
 * precedence over its file: their matches carry LIST_DYN_BIT in entry. */
void policy_eval(const struct policy_source *src, int nsrc, int threshold,
    struct list *const *lists, struct list *const *dyn,
    const struct ipaddr *ip, struct verdict *v);

/* An upstream source's answer: the A records (host order) of a
 * successful lookup with error codes already removed, or none. */
struct policy_answer {
	const uint32_t *a;
	int na;
};

/* Adds the upstream sources (src[i].upstream >= 0) whose answer matches
 * their pattern to v (after policy_eval) and recomputes v->listed. */
void policy_add_upstream(const struct policy_source *src, int nsrc,
    int threshold, const struct policy_answer *ans, struct verdict *v);

/* The sums of the positive and of the negative weights of the upstream
 * sources: with local score L, the verdict is decided without asking
 * upstream when L + *pos < threshold or L + *neg >= threshold. */
void policy_upstream_bounds(const struct policy_source *src, int nsrc,
    int *pos, int *neg);

#endif
