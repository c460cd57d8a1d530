/* ratelimit.c -- token buckets per client prefix in a fixed table.
 *
 * Units: a bucket holds milli-responses, so a rate of r a second refills
 * exactly r per elapsed millisecond and costs 1000 per response, with no
 * rounding drift at low rates.  Slot times are the low 32 bits of the
 * millisecond clock; differences are taken modulo 2^32 and a refill never
 * counts more than one second, so a wrap (49 days) or a clock step costs
 * at most one wrongly refilled bucket.
 */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"
#include "hash.h"
#include "log.h"

#define WAYS		4	/* slots per set */
#define MILLI		1000u	/* bucket units per response */

struct slot {
	uint64_t key;		/* hash of the prefix; 0: empty */
	uint32_t stamp;		/* last use and refill, ms */
	uint32_t tokens;	/* milli-responses */
	uint32_t limited;	/* limited responses so far: the slip count */
};

struct ratelimit {
	uint64_t seed;
	uint32_t rate;		/* per worker, responses a second */
	uint32_t capacity;	/* one second: rate * MILLI */
	uint32_t slip;
	int v4bits, v6bits;
	size_t setmask;		/* sets - 1 */
	struct slot slots[];	/* (setmask + 1) * WAYS */
};

struct ratelimit *
ratelimit_new(const struct ratelimit_conf *c, int workers, uint64_t seed)
{
	if (c->rate <= 0)
		return NULL;
	if (workers < 1)
		workers = 1;
	size_t sets = 1;
	while (sets * WAYS < (size_t)c->table_size)
		sets <<= 1;
	struct ratelimit *rl = calloc(1, sizeof(*rl) + sets * WAYS *
	    sizeof(struct slot));
	if (!rl) {
		log_warn("%s: %zu slots", __func__, sets * WAYS);
		return NULL;
	}
	rl->seed = seed;
	rl->rate = (uint32_t)((c->rate + workers - 1) / workers);
	rl->capacity = rl->rate * MILLI;
	rl->slip = (uint32_t)c->slip;
	rl->v4bits = c->ipv4_prefix;
	rl->v6bits = c->ipv6_prefix;
	rl->setmask = sets - 1;
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	free(rl);
}

static uint64_t
load64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t
mask64(uint64_t v, int bits)
{
	if (bits <= 0)
		return 0;
	if (bits >= 64)
		return v;
	return v & ~(~0ULL >> bits);
}

/* The slot key of client's prefix: never 0, and the family is part of it
 * so that 10.0.0.0/24 and a 10::/56 never meet. */
static uint64_t
prefix_key(const struct ratelimit *rl, const struct ipaddr *client)
{
	uint64_t h;
	if (client->family == AF_INET) {
		uint64_t a = (uint64_t)client->a[0] << 24 | client->a[1] << 16 |
		    client->a[2] << 8 | client->a[3];
		h = hash_mix(rl->seed ^ (4ULL << 32 | mask64(a << 32,
		    rl->v4bits) >> 32));
	} else {
		uint64_t hi = mask64(load64(client->a), rl->v6bits);
		uint64_t lo = mask64(load64(client->a + 8), rl->v6bits - 64);
		h = hash_mix(hash_mix(rl->seed ^ hi) ^ lo ^ 6);
	}
	return h ? h : 1;
}

int
ratelimit_check(struct ratelimit *rl, const struct ipaddr *client,
    uint64_t now_ms)
{
	uint64_t key = prefix_key(rl, client);
	uint32_t now = (uint32_t)now_ms;
	struct slot *set = &rl->slots[(key & rl->setmask) * WAYS];
	struct slot *s = NULL, *lru = &set[0];

	for (int i = 0; i < WAYS; i++) {
		if (set[i].key == key) {
			s = &set[i];
			break;
		}
		if (set[i].key == 0)
			lru = &set[i];
		else if (lru->key != 0 &&
		    (uint32_t)(now - set[i].stamp) > (uint32_t)(now - lru->stamp))
			lru = &set[i];
	}
	if (!s) {
		/* a prefix new to the table starts with a full bucket */
		s = lru;
		s->key = key;
		s->stamp = now;
		s->tokens = rl->capacity;
		s->limited = 0;
	}
	uint32_t elapsed = now - s->stamp;
	if (elapsed > 1000)
		elapsed = 1000;
	uint64_t t = s->tokens + (uint64_t)elapsed * rl->rate;
	s->tokens = t > rl->capacity ? rl->capacity : (uint32_t)t;
	s->stamp = now;
	if (s->tokens >= MILLI) {
		s->tokens -= MILLI;
		return RATELIMIT_PASS;
	}
	s->limited++;
	if (rl->slip && s->limited % rl->slip == 0)
		return RATELIMIT_SLIP;
	return RATELIMIT_DROP;
}

size_t
ratelimit_truncate(const uint8_t *pkt, size_t len, uint8_t *out, size_t size)
{
	struct dns_query q;
	struct dns_resp r;
	if (size < 512 || dns_parse(pkt, len, &q) != DNS_PARSE_OK)
		return 0;
	size_t limit = dns_udp_limit(&q);
	dns_resp_init(&r, out, limit < size ? limit : size, &q, DNS_R_NOERROR,
	    DNS_F_TC);
	return dns_resp_finish(&r);
}
