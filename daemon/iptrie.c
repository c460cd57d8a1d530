/* iptrie.c -- prefixes flattened into sorted ranges.
 *
 * Build: sort the prefixes by (start, length, insertion order) and sweep
 * them with a stack of the prefixes that cover the current position.
 * Because two prefixes either nest or are disjoint, the stack top is
 * always the most specific cover; every push and pop starts a new range.
 * Adjacent ranges with equal values merge.
 *
 * The sweep is written once for a generic key (K) and instantiated for
 * uint32_t (IPv4) and unsigned __int128 (IPv6).
 */
#include "iptrie.h"

#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

struct pfx4 { uint32_t start, end; uint32_t value, seq; uint8_t len; };
struct pfx6 { u128 start, end; uint32_t value, seq; uint8_t len; };

struct iptrie_builder {
	struct pfx4 *p4; size_t n4, cap4;
	struct pfx6 *p6; size_t n6, cap6;
};

struct iptrie {
	uint32_t *start4; uint32_t *val4; size_t r4;	/* ranges */
	uint32_t *index4;	/* 65537 entries: first range starting at >= hi<<16 */
	u128 *start6; uint32_t *val6; size_t r6;
	/* IPv6 prefixes cluster (2000::/3, one provider's /32), so the
	 * index covers the 16 bits after the prefix all range starts share:
	 * index6[k] is the first range starting at >= base6 + (k << shift6).
	 * NULL for a handful of ranges, where the binary search is short. */
	uint32_t *index6;
	u128 base6;
	int shift6;		/* 0..112 */
	size_t nprefix;
};

#define IPTRIE_INDEX6_MIN	64	/* ranges before an IPv6 index pays */

struct iptrie_builder *
iptrie_builder_new(void)
{
	return calloc(1, sizeof(struct iptrie_builder));
}

void
iptrie_builder_free(struct iptrie_builder *b)
{
	if (!b)
		return;
	free(b->p4);
	free(b->p6);
	free(b);
}

static int
grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 1024;
	void *na = realloc(*arr, nc * elem);
	if (!na)
		return -1;
	*arr = na;
	*cap = nc;
	return 0;
}

int
iptrie_add4(struct iptrie_builder *b, uint32_t addr, int len, uint32_t value)
{
	if (grow((void **)&b->p4, &b->cap4, b->n4, sizeof(struct pfx4)) < 0)
		return -1;
	uint32_t span = len == 0 ? UINT32_MAX : (len == 32 ? 0 :
	    (UINT32_MAX >> len));
	struct pfx4 *p = &b->p4[b->n4];
	p->start = addr;
	p->end = addr | span;
	p->value = value;
	p->seq = (uint32_t)b->n4++;
	p->len = (uint8_t)len;
	return 0;
}

int
iptrie_add6(struct iptrie_builder *b, const uint8_t addr[16], int len,
    uint32_t value)
{
	if (grow((void **)&b->p6, &b->cap6, b->n6, sizeof(struct pfx6)) < 0)
		return -1;
	u128 a = 0;
	for (int i = 0; i < 16; i++)
		a = (a << 8) | addr[i];
	u128 span = len == 0 ? ~(u128)0 : (len == 128 ? 0 :
	    (~(u128)0 >> len));
	struct pfx6 *p = &b->p6[b->n6];
	p->start = a;
	p->end = a | span;
	p->value = value;
	p->seq = (uint32_t)b->n6++;
	p->len = (uint8_t)len;
	return 0;
}

#define CMP_PFX(T)							\
static int								\
cmp_##T(const void *x, const void *y)					\
{									\
	const struct T *a = x, *b = y;					\
	if (a->start != b->start)					\
		return a->start < b->start ? -1 : 1;			\
	if (a->len != b->len)						\
		return a->len < b->len ? -1 : 1;			\
	return a->seq < b->seq ? -1 : (a->seq > b->seq);		\
}
CMP_PFX(pfx4)
CMP_PFX(pfx6)

/*
 * SWEEP(T, K, MAXK): flatten n sorted prefixes p[] into ranges
 * (starts[], vals[]), returning the number of ranges or -1 on ENOMEM.
 * starts[0] is always 0.
 */
#define SWEEP(T, K, MAXK)						\
static long								\
sweep_##T(struct T *p, size_t n, K **starts_out, uint32_t **vals_out)	\
{									\
	size_t cap = 2 * n + 1, r = 0, sp = 0;				\
	K *starts = malloc(cap * sizeof(K));				\
	uint32_t *vals = malloc(cap * sizeof(uint32_t));		\
	struct T **stack = malloc((n + 1) * sizeof(*stack));		\
	if (!starts || !vals || !stack)					\
		goto fail;						\
	starts[r] = 0; vals[r] = IPTRIE_NONE; r++;			\
	for (size_t i = 0; i <= n; i++) {				\
		/* close covers that end before p[i] (all at the end) */\
		while (sp > 0 && (i == n ||				\
		    stack[sp - 1]->end < p[i].start)) {			\
			struct T *t = stack[--sp];			\
			if (t->end == (MAXK))				\
				continue;				\
			EMIT(t->end + 1, sp ? stack[sp - 1]->value :	\
			    IPTRIE_NONE);				\
		}							\
		if (i == n)						\
			break;						\
		if (sp > 0 && stack[sp - 1]->start == p[i].start &&	\
		    stack[sp - 1]->len == p[i].len)			\
			continue;	/* duplicate: first one wins */	\
		stack[sp++] = &p[i];					\
		EMIT(p[i].start, p[i].value);				\
	}								\
	free(stack);							\
	*starts_out = starts;						\
	*vals_out = vals;						\
	return (long)r;							\
fail:									\
	free(starts); free(vals); free(stack);				\
	return -1;							\
}

/* Start a range at pos with value v, merging with its neighbours. */
#define EMIT(pos, v) do {						\
	if (starts[r - 1] == (pos)) {					\
		vals[r - 1] = (v);					\
		if (r > 1 && vals[r - 2] == vals[r - 1])		\
			r--;						\
	} else if (vals[r - 1] != (v)) {				\
		starts[r] = (pos); vals[r] = (v); r++;			\
	}								\
} while (0)

SWEEP(pfx4, uint32_t, UINT32_MAX)
SWEEP(pfx6, u128, ~(u128)0)

static int
clz128(u128 x)
{
	uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
	if (hi)
		return __builtin_clzll(hi);
	return lo ? 64 + __builtin_clzll(lo) : 128;
}

/* start6[0] is always 0; the other starts decide where the index looks. */
static int
index6_build(struct iptrie *t)
{
	u128 first = t->start6[1], last = t->start6[t->r6 - 1];
	int common = clz128(first ^ last);
	if (common > 112)
		common = 112;
	t->shift6 = 112 - common;
	t->base6 = common ? first & ~(~(u128)0 >> common) : 0;
	t->index6 = malloc(65537 * sizeof(uint32_t));
	if (!t->index6)
		return -1;
	/* slot k starts at base6 + (k << shift6); slot 65536 is the end of
	 * the span, which may be past the address space */
	size_t j = 0;
	for (uint32_t k = 0; k <= 65536; k++) {
		int past = k == 65536 && (common == 0 ||
		    t->base6 + ((u128)k << t->shift6) == 0);
		while (j < t->r6 && (past ||
		    t->start6[j] < t->base6 + ((u128)k << t->shift6)))
			j++;
		t->index6[k] = (uint32_t)j;
	}
	return 0;
}

struct iptrie *
iptrie_build(struct iptrie_builder *b)
{
	struct iptrie *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (b->n4)
		qsort(b->p4, b->n4, sizeof(struct pfx4), cmp_pfx4);
	if (b->n6)
		qsort(b->p6, b->n6, sizeof(struct pfx6), cmp_pfx6);
	long r4 = sweep_pfx4(b->p4, b->n4, &t->start4, &t->val4);
	long r6 = r4 < 0 ? -1 : sweep_pfx6(b->p6, b->n6, &t->start6, &t->val6);
	t->index4 = malloc(65537 * sizeof(uint32_t));
	if (r4 < 0 || r6 < 0 || !t->index4) {
		iptrie_free(t);
		return NULL;
	}
	t->r4 = (size_t)r4;
	t->r6 = (size_t)r6;
	t->nprefix = b->n4 + b->n6;
	/* Shrink the worst-case arrays to what the ranges use. */
	void *s;
	if ((s = realloc(t->start4, t->r4 * sizeof(uint32_t))))
		t->start4 = s;
	if ((s = realloc(t->val4, t->r4 * sizeof(uint32_t))))
		t->val4 = s;
	if ((s = realloc(t->start6, t->r6 * sizeof(u128))))
		t->start6 = s;
	if ((s = realloc(t->val6, t->r6 * sizeof(uint32_t))))
		t->val6 = s;
	size_t j = 0;
	for (uint32_t hi = 0; hi <= 65536; hi++) {
		uint64_t bound = (uint64_t)hi << 16;
		while (j < t->r4 && t->start4[j] < bound)
			j++;
		t->index4[hi] = (uint32_t)j;
	}
	if (t->r6 >= IPTRIE_INDEX6_MIN && index6_build(t) < 0) {
		iptrie_free(t);
		return NULL;
	}
	return t;
}

void
iptrie_free(struct iptrie *t)
{
	if (!t)
		return;
	free(t->start4); free(t->val4); free(t->index4);
	free(t->start6); free(t->val6); free(t->index6);
	free(t);
}

uint32_t
iptrie_lookup4(const struct iptrie *t, uint32_t addr)
{
	/* Ranges starting inside this /16 sit in [lo, hi); the answer is the
	 * last range starting at or before addr, at worst lo - 1. */
	size_t lo = t->index4[addr >> 16], hi = t->index4[(addr >> 16) + 1];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->start4[mid] <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return t->val4[lo - 1];
}

uint32_t
iptrie_lookup6(const struct iptrie *t, const uint8_t addr[16])
{
	u128 a = 0;
	for (int i = 0; i < 16; i++)
		a = (a << 8) | addr[i];
	size_t lo = 0, hi = t->r6;
	if (t->index6) {
		/* below the indexed span only range 0 starts; above it, the
		 * ranges after the last slot */
		if (a < t->base6)
			hi = t->index6[0];
		else if (t->shift6 + 16 < 128 &&
		    (a - t->base6) >> (t->shift6 + 16) != 0)
			lo = t->index6[65536];
		else {
			size_t k = (size_t)((a - t->base6) >> t->shift6);
			lo = t->index6[k];
			hi = t->index6[k + 1];
		}
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->start6[mid] <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return t->val6[lo - 1];
}

size_t
iptrie_count(const struct iptrie *t)
{
	return t->nprefix;
}

size_t
iptrie_memory(const struct iptrie *t)
{
	return sizeof(*t) + t->r4 * 8 + 65537 * 4 + t->r6 * (sizeof(u128) + 4) +
	    (t->index6 ? 65537 * 4 : 0);
}
