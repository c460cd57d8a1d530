/* policy.c -- postscreen_dnsbl_sites syntax and weighted scoring.
 *
 * Pattern syntax as postscreen(8): four dot-separated octets, each a
 * number or a bracketed list of numbers and ranges, "[2..11]",
 * "[1;3;5..7]".  No pattern means any answer in 127.0.0.0/8.
 */
#include "policy.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lists.h"

static void
set_bit(uint8_t *set, unsigned v)
{
	set[v >> 3] |= (uint8_t)(1u << (v & 7));
}

static int
parse_num(const char **sp, unsigned *out)
{
	const char *s = *sp;
	unsigned v = 0;
	int digits = 0;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned)(*s++ - '0');
		if (++digits > 3)
			return -1;
	}
	if (digits == 0 || v > 255)
		return -1;
	*sp = s;
	*out = v;
	return 0;
}

int
policy_parse_pattern(const char *s, struct policy_pattern *pat)
{
	memset(pat, 0, sizeof(*pat));
	for (int o = 0; o < 4; o++) {
		if (o > 0 && *s++ != '.')
			return -1;
		if (*s == '[') {
			s++;
			for (;;) {
				unsigned lo, hi;
				if (parse_num(&s, &lo) < 0)
					return -1;
				hi = lo;
				if (s[0] == '.' && s[1] == '.') {
					s += 2;
					if (parse_num(&s, &hi) < 0 || hi < lo)
						return -1;
				}
				for (unsigned v = lo; v <= hi; v++)
					set_bit(pat->oct[o], v);
				if (*s == ';')
					s++;
				else if (*s == ']') {
					s++;
					break;
				} else
					return -1;
			}
		} else {
			unsigned v;
			if (parse_num(&s, &v) < 0)
				return -1;
			set_bit(pat->oct[o], v);
		}
	}
	return *s == '\0' ? 0 : -1;
}

int
policy_pattern_match(const struct policy_pattern *pat, uint32_t a)
{
	if (pat->any)
		return (a >> 24) == 127;
	for (int o = 0; o < 4; o++) {
		unsigned v = (a >> (24 - 8 * o)) & 0xff;
		if (!(pat->oct[o][v >> 3] & (1u << (v & 7))))
			return 0;
	}
	return 1;
}

int
policy_parse_source(const char *text, struct policy_source *src,
    const char **err)
{
	memset(src, 0, sizeof(*src));
	src->list = -1;
	src->upstream = -1;
	src->weight = 1;
	src->pat.any = 1;

	const char *eq = strchr(text, '=');
	const char *star = strrchr(text, '*');
	if (star && eq && star < eq) {
		*err = "'*WEIGHT' must come after '=PATTERN'";
		return -1;
	}
	const char *name_end = eq ? eq : star ? star : text + strlen(text);
	size_t nlen = (size_t)(name_end - text);
	if (nlen == 0 || nlen > 253) {
		*err = "missing or too long source name";
		return -1;
	}
	for (size_t i = 0; i < nlen; i++) {
		char c = text[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) {
			*err = "bad character in source name";
			return -1;
		}
	}
	if (star) {
		char *end;
		errno = 0;
		long w = strtol(star + 1, &end, 10);
		if (star[1] == '\0' || *end != '\0' || errno || w < -100000 ||
		    w > 100000) {
			*err = "bad weight (an integer, -100000..100000)";
			return -1;
		}
		src->weight = (int)w;
	}
	if (eq) {
		size_t plen = (size_t)((star ? star : text + strlen(text)) - eq - 1);
		char buf[256];
		if (plen == 0 || plen >= sizeof(buf)) {
			*err = "bad answer pattern";
			return -1;
		}
		memcpy(buf, eq + 1, plen);
		buf[plen] = '\0';
		if (policy_parse_pattern(buf, &src->pat) < 0) {
			*err = "bad answer pattern (e.g. 127.0.0.[2..11])";
			return -1;
		}
	}
	src->name = strndup(text, nlen);
	if (!src->name) {
		*err = "out of memory";
		return -1;
	}
	for (char *p = src->name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return 0;
}

void
policy_eval(const struct policy_source *src, int nsrc, int threshold,
    struct list *const *lists, struct list *const *dyn,
    const struct ipaddr *ip, struct verdict *v)
{
	v->score = 0;
	v->nmatch = 0;
	for (int i = 0; i < nsrc && i < POLICY_MAX_SOURCES; i++) {
		if (src[i].list < 0)
			continue;
		const struct list *l = dyn ? dyn[src[i].list] : NULL;
		uint32_t e = l ? list_lookup(l, ip) : LIST_NOENTRY, tag = 0;
		if (e != LIST_NOENTRY)
			tag = LIST_DYN_BIT;
		else {
			l = lists[src[i].list];
			e = list_lookup(l, ip);
		}
		if (e == LIST_NOENTRY)
			continue;
		/* a local entry's value is its answer: patterns apply to it,
		 * but "no pattern" accepts any value a list file can hold */
		if (!src[i].pat.any &&
		    !policy_pattern_match(&src[i].pat, l->entries[e].a))
			continue;
		v->score += src[i].weight;
		v->match[v->nmatch].source = i;
		v->match[v->nmatch].entry = e | tag;
		v->match[v->nmatch].a = l->entries[e].a;
		v->nmatch++;
	}
	v->listed = v->score >= threshold;
}

void
policy_add_upstream(const struct policy_source *src, int nsrc, int threshold,
    const struct policy_answer *ans, struct verdict *v)
{
	for (int i = 0; i < nsrc && i < POLICY_MAX_SOURCES; i++) {
		if (src[i].upstream < 0)
			continue;
		for (int k = 0; k < ans[i].na; k++) {
			if (!policy_pattern_match(&src[i].pat, ans[i].a[k]))
				continue;
			/* each (source, pattern) counts once, as in postscreen */
			v->score += src[i].weight;
			v->match[v->nmatch].source = i;
			v->match[v->nmatch].entry = LIST_NOENTRY;
			v->match[v->nmatch].a = ans[i].a[k];
			v->nmatch++;
			break;
		}
	}
	v->listed = v->score >= threshold;
}

void
policy_upstream_bounds(const struct policy_source *src, int nsrc, int *pos,
    int *neg)
{
	*pos = *neg = 0;
	for (int i = 0; i < nsrc && i < POLICY_MAX_SOURCES; i++) {
		if (src[i].upstream < 0)
			continue;
		if (src[i].weight > 0)
			*pos += src[i].weight;
		else
			*neg += src[i].weight;
	}
}
