/* lists.c -- rbldnsd-syntax list files into immutable prefix tries.
 *
 * Parsing follows rbldnsd's ip4trie/ip6trie datasets so that a file
 * rbldnsd serves answers the same here, with one deliberate difference:
 * rbldnsd skips a bad line with a warning, rblcache rejects the whole file
 * (and keeps serving the previous version), because a silently dropped
 * line in a block list is a hole nobody notices.
 *
 * Memory: entries and texts are appended to growing arrays while parsing;
 * list_parser_finish() hands them to the struct list, which frees them
 * whole.  Identical consecutive texts are stored once.
 */
#include "lists.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "iptrie.h"
#include "log.h"

#define TXT_MAX	255	/* one DNS character-string, as rbldnsd */

struct list_parser {
	struct iptrie_builder *b;
	struct list_entry *entries;
	size_t nentries, capentries;
	char *pool;
	size_t poolsize, poolcap;
	uint32_t lasttxt;	/* offset of the last text stored */
	struct list_entry def;	/* current default value (":A:TXT" line) */
	uint32_t ttl;
	uint32_t var[10];	/* "$N text" substitution variables */
};

static int
is_space(char c)
{
	return c == ' ' || c == '\t';
}

static int
is_comment(char c)
{
	return c == '#' || c == ';';
}

struct list_parser *
list_parser_new(void)
{
	struct list_parser *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->b = iptrie_builder_new();
	p->capentries = 64;
	p->entries = malloc(p->capentries * sizeof(*p->entries));
	if (!p->b || !p->entries) {
		list_parser_free(p);
		return NULL;
	}
	/* entries[0] marks an exclusion */
	p->entries[0].a = 0;
	p->entries[0].txt = LIST_NOTXT;
	p->nentries = 1;
	p->lasttxt = LIST_NOTXT;
	p->def.a = LIST_DEFAULT_A;
	p->def.txt = LIST_NOTXT;
	for (int i = 0; i < 10; i++)
		p->var[i] = LIST_NOTXT;
	return p;
}

void
list_parser_free(struct list_parser *p)
{
	if (!p)
		return;
	iptrie_builder_free(p->b);
	free(p->entries);
	free(p->pool);
	free(p);
}

static uint32_t
pool_add(struct list_parser *p, const char *s, size_t len)
{
	if (p->lasttxt != LIST_NOTXT && strlen(p->pool + p->lasttxt) == len &&
	    memcmp(p->pool + p->lasttxt, s, len) == 0)
		return p->lasttxt;
	if (p->poolsize + len + 1 > p->poolcap) {
		size_t nc = p->poolcap ? p->poolcap * 2 : 4096;
		while (nc < p->poolsize + len + 1)
			nc *= 2;
		char *np = realloc(p->pool, nc);
		if (!np)
			return LIST_NOTXT - 1;
		p->pool = np;
		p->poolcap = nc;
	}
	uint32_t off = (uint32_t)p->poolsize;
	memcpy(p->pool + off, s, len);
	p->pool[off + len] = '\0';
	p->poolsize += len + 1;
	p->lasttxt = off;
	return off;
}

/* Parses an abbreviated dotted IPv4 address ("10", "10.1", "10.1.2",
 * "10.1.2.3") into *a; returns the number of octets read (1-4) or -1,
 * leaving *end after the address. */
static int
parse_ip4_octets(const char *s, uint32_t *a, const char **end)
{
	uint32_t v = 0;
	int n = 0;
	for (;;) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned o = 0;
		int digits = 0;
		while (*s >= '0' && *s <= '9') {
			o = o * 10 + (unsigned)(*s++ - '0');
			if (++digits > 3 || o > 255)
				return -1;
		}
		v = (v << 8) | o;
		n++;
		if (*s != '.' || n == 4)
			break;
		s++;
	}
	*a = v << (8 * (4 - n));
	*end = s;
	return n;
}

/* An A value as rbldnsd reads it (inet_aton style): "N" is 127.0.0.N,
 * "a.b" is a.0.0.b, "a.b.c" is a.b.0.c, "a.b.c.d" as written. */
static int
parse_a(const char *s, uint32_t *a, const char **end)
{
	uint32_t v;
	int n = parse_ip4_octets(s, &v, end);
	switch (n) {
	case 1: *a = 0x7f000000u | v >> 24; break;
	case 2: *a = (v & 0xff000000u) | (v >> 16 & 0xff); break;
	case 3: *a = (v & 0xffff0000u) | (v >> 8 & 0xff); break;
	case 4: *a = v; break;
	default: return -1;
	}
	/* ":0" (127.0.0.0) and 0.0.0.0 are not answers */
	return *a == 0 || (n == 1 && v == 0) ? -1 : 0;
}

/* ":A:TXT" / ":A:" / ":A" / "TXT" after an address, rbldnsd's rules:
 * ":A" alone keeps the current default's text, ":A:" has none, a value
 * without a leading ':' is all text with the default A.  For a default
 * line (is_default) ":A" means no text. */
static int
parse_value(struct list_parser *p, const char *s, struct list_entry *out,
    int is_default, const char **err)
{
	out->a = p->def.a;
	out->txt = is_default ? LIST_NOTXT : p->def.txt;
	if (*s == ':') {
		uint32_t a;
		const char *e;
		if (parse_a(s + 1, &a, &e) < 0) {
			*err = "invalid A value";
			return -1;
		}
		out->a = a;
		s = e;
		while (is_space(*s))
			s++;
		if (*s == '\0')
			return 0;
		if (*s != ':') {
			*err = "unrecognized value for an entry";
			return -1;
		}
		s++;
		while (is_space(*s))
			s++;
		out->txt = LIST_NOTXT;
	}
	if (*s != '\0') {
		size_t len = strlen(s);
		if (len > TXT_MAX)
			len = TXT_MAX;
		uint32_t off = pool_add(p, s, len);
		if (off == LIST_NOTXT - 1) {
			*err = "out of memory";
			return -1;
		}
		out->txt = off;
	}
	return 0;
}

static int
add_entry(struct list_parser *p, const struct list_entry *e, uint32_t *idx)
{
	/* Entries sharing the current default share one slot. */
	if (p->nentries > 1 && p->entries[p->nentries - 1].a == e->a &&
	    p->entries[p->nentries - 1].txt == e->txt) {
		*idx = (uint32_t)(p->nentries - 1);
		return 0;
	}
	if (p->nentries == p->capentries) {
		size_t nc = p->capentries * 2;
		struct list_entry *ne = realloc(p->entries, nc * sizeof(*ne));
		if (!ne)
			return -1;
		p->entries = ne;
		p->capentries = nc;
	}
	p->entries[p->nentries] = *e;
	*idx = (uint32_t)p->nentries++;
	return 0;
}

static int
parse_ttl(const char *s, uint32_t *out)
{
	uint64_t total = 0;
	if (*s == '\0')
		return -1;
	while (*s) {
		uint64_t v = 0;
		int digits = 0;
		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (uint64_t)(*s++ - '0');
			if (++digits > 10)
				return -1;
		}
		if (!digits)
			return -1;
		switch (*s) {
		case 's': case 'S': s++; break;
		case 'm': case 'M': v *= 60; s++; break;
		case 'h': case 'H': v *= 3600; s++; break;
		case 'd': case 'D': v *= 86400; s++; break;
		case 'w': case 'W': v *= 604800; s++; break;
		case '\0': break;
		default: return -1;
		}
		total += v;
		if (total > 0x7fffffff)
			return -1;
	}
	*out = (uint32_t)total;
	return 0;
}

/* "$TTL 1h", "$1 text", and the zone-level directives rbldnsd knows. */
static int
special_line(struct list_parser *p, const char *s, const char **err)
{
	size_t wl = 0;
	while (s[wl] && !is_space(s[wl]))
		wl++;
	const char *arg = s + wl;
	while (is_space(*arg))
		arg++;
	if (wl == 3 && strncmp(s, "TTL", 3) == 0) {
		if (parse_ttl(arg, &p->ttl) < 0) {
			*err = "invalid $TTL (a number of seconds, or 1h, 2d...)";
			return -1;
		}
		return 0;
	}
	if (wl == 1 && s[0] >= '0' && s[0] <= '9') {
		int n = s[0] - '0';
		if (p->var[n] != LIST_NOTXT)
			return 0;	/* the first definition wins */
		size_t len = strlen(arg);
		uint32_t off = pool_add(p, arg, len > TXT_MAX ? TXT_MAX : len);
		if (off == LIST_NOTXT - 1) {
			*err = "out of memory";
			return -1;
		}
		p->var[n] = off;
		return 0;
	}
	/* zone-level directives: rblcached makes its own SOA and NS */
	static const char *const ignored[] = { "SOA", "NS", "DATASET",
	    "MAXRANGE4", "TIMESTAMP", NULL };
	for (int i = 0; ignored[i]; i++)
		if (wl == strlen(ignored[i]) && strncmp(s, ignored[i], wl) == 0)
			return 0;
	*err = wl == 1 && s[0] == '=' ? "$= base templates are not supported" :
	    "invalid or unrecognized special entry";
	return -1;
}

/* Reads an address or prefix at *sp, leaving *sp after it.  IPv4 may be
 * abbreviated ("10.2.3" is a /24, "10/8") and may be followed directly by
 * a ":A:TXT" value; IPv6 may be abbreviated without "::" ("2001:db8:1"
 * is a /48).  An IPv4-mapped IPv6 prefix is stored as the IPv4 prefix,
 * since queries for mapped addresses look up IPv4 data. */
static int
parse_prefix(char **sp, struct cidr *c, const char **err)
{
	char *s = *sp;
	uint32_t a;
	const char *e;
	int n = parse_ip4_octets(s, &a, &e);

	memset(c, 0, sizeof(*c));
	if (n > 0 && (n > 1 || *e == '/')) {
		int bits = 8 * n;
		if (*e == '/') {
			int v = 0, digits = 0;
			e++;
			while (*e >= '0' && *e <= '9' && digits < 3) {
				v = v * 10 + (*e++ - '0');
				digits++;
			}
			if (!digits || v > 32 || (*e >= '0' && *e <= '9')) {
				*err = "invalid prefix length";
				return -1;
			}
			bits = v;
		}
		if (*e == '\0' || is_space(*e) || *e == ':' || is_comment(*e)) {
			uint32_t mask = bits == 0 ? 0 : UINT32_MAX << (32 - bits);
			if (a & ~mask) {
				*err = "invalid range (non-zero host part)";
				return -1;
			}
			c->ip.family = AF_INET;
			uint32_t na = htonl(a);
			memcpy(c->ip.a, &na, 4);
			c->len = bits;
			*sp = (char *)e;
			return 0;
		}
		*err = "invalid address";
		return -1;
	}

	/* IPv6: the token runs to a blank or a comment */
	char tok[INET6_ADDRSTRLEN + 8];
	size_t len = 0;
	while (s[len] && !is_space(s[len]) && !is_comment(s[len]))
		len++;
	if (len == 0 || len >= sizeof(tok) - 2) {
		*err = "invalid address";
		return -1;
	}
	memcpy(tok, s, len);
	tok[len] = '\0';
	char *slash = strchr(tok, '/');
	int groups = 1;
	for (char *q = tok; *q && q != slash; q++)
		groups += *q == ':';
	int abbreviated = groups > 1 && !strstr(tok, "::") && groups < 8 &&
	    !strchr(tok, '.');
	if (abbreviated) {
		/* "2001:db8:1[/len]" -> "2001:db8:1::[/len]", default /16*groups */
		size_t at = slash ? (size_t)(slash - tok) : len;
		memmove(tok + at + 2, tok + at, len - at + 1);
		tok[at] = tok[at + 1] = ':';
	}
	const char *aerr;
	if (addr_parse_cidr(tok, c, 1, &aerr) < 0 || c->ip.family != AF_INET6) {
		*err = aerr && strcmp(aerr, "host bits set") == 0 ?
		    "invalid range (non-zero host part)" : "invalid address";
		return -1;
	}
	if (abbreviated && !slash)
		c->len = 16 * groups;
	if (c->len >= 96 && addr_unmap_v4(&c->ip))
		c->len -= 96;
	*sp = s + len;
	return 0;
}

int
list_parser_line(struct list_parser *p, char *line, const char **err)
{
	char *s = line;
	size_t len = strlen(s);

	/* trailing CR/LF and blanks */
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' ||
	    is_space(s[len - 1])))
		s[--len] = '\0';
	while (is_space(*s))
		s++;
	if (*s == '\0')
		return 0;

	/* rbldnsd reads "#$X", ";$X" and ":$X" as the special "$X" */
	if ((*s == '#' || *s == ';' || *s == ':') && s[1] == '$')
		s++;
	if (*s == '$')
		return special_line(p, s + 1, err);
	if (is_comment(*s))
		return 0;

	if (*s == ':' && s[1] != ':') {	/* "::1" is an IPv6 address */
		struct list_entry def;
		if (parse_value(p, s, &def, 1, err) < 0)
			return -1;
		p->def = def;
		return 0;
	}

	int excl = 0;
	if (*s == '!') {
		excl = 1;
		s++;
		while (is_space(*s))
			s++;
	}
	struct cidr c;
	if (parse_prefix(&s, &c, err) < 0)
		return -1;
	while (is_space(*s))
		s++;

	uint32_t idx = 0;
	if (!excl) {
		struct list_entry e = p->def;
		if (*s != '\0' && !is_comment(*s) &&
		    parse_value(p, s, &e, 0, err) < 0)
			return -1;
		if (add_entry(p, &e, &idx) < 0) {
			*err = "out of memory";
			return -1;
		}
	}
	int r;
	if (c.ip.family == AF_INET) {
		uint32_t a;
		memcpy(&a, c.ip.a, 4);
		r = iptrie_add4(p->b, ntohl(a), c.len, idx);
	} else
		r = iptrie_add6(p->b, c.ip.a, c.len, idx);
	if (r < 0) {
		*err = "out of memory";
		return -1;
	}
	return 0;
}

int
list_parser_add(struct list_parser *p, const struct cidr *c, uint32_t a,
    const char *txt, const char **err)
{
	struct list_entry e = { a, LIST_NOTXT };
	if (txt && *txt) {
		/* stored as a template that expands to the text itself */
		char tmpl[2 * 256 + 2];
		size_t n = 0;
		if (*txt == '=')
			tmpl[n++] = '=';
		for (; *txt && n < sizeof(tmpl) - 3; txt++) {
			if (*txt == '$')
				tmpl[n++] = '$';
			tmpl[n++] = *txt;
		}
		if ((e.txt = pool_add(p, tmpl, n)) == LIST_NOTXT - 1) {
			*err = "out of memory";
			return -1;
		}
	}
	uint32_t idx;
	int r;
	if (add_entry(p, &e, &idx) < 0)
		r = -1;
	else if (c->ip.family == AF_INET) {
		uint32_t v;
		memcpy(&v, c->ip.a, 4);
		r = iptrie_add4(p->b, ntohl(v), c->len, idx);
	} else
		r = iptrie_add6(p->b, c->ip.a, c->len, idx);
	if (r < 0)
		*err = "out of memory";
	return r;
}

struct list *
list_parser_finish(struct list_parser *p, const char *name, const char *path)
{
	struct list *l = calloc(1, sizeof(*l));
	if (!l)
		goto fail;
	l->name = strdup(name);
	l->path = strdup(path ? path : "");
	l->trie = iptrie_build(p->b);
	if (!l->name || !l->path || !l->trie)
		goto fail;
	l->entries = p->entries;
	l->nentries = p->nentries;
	l->pool = p->pool;
	l->poolsize = p->poolsize;
	l->ttl = p->ttl;
	memcpy(l->var, p->var, sizeof(l->var));
	l->refs = 1;
	p->entries = NULL;
	p->pool = NULL;
	list_parser_free(p);
	return l;
fail:
	list_parser_free(p);
	if (l) {
		l->refs = 1;
		list_unref(l);
	}
	return NULL;
}

struct list *
list_load(const char *name, const char *path, int *nerrors)
{
	FILE *f = NULL;
	struct list_parser *p = NULL;
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	struct stat st;

	*nerrors = 0;
	if (!(f = fopen(path, "r"))) {
		log_warn("%s: cannot open list \"%s\"", path, name);
		(*nerrors)++;
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0) {
		log_warn("%s: fstat", path);
		(*nerrors)++;
		goto fail;
	}
	if (!(p = list_parser_new())) {
		log_warnx("%s: out of memory", path);
		(*nerrors)++;
		goto fail;
	}
	ssize_t n;
	while ((n = getline(&line, &cap, f)) >= 0) {
		const char *err;
		lineno++;
		if (memchr(line, '\0', (size_t)n)) {
			log_warnx("%s:%u: NUL byte in line", path, lineno);
			(*nerrors)++;
			continue;
		}
		if (list_parser_line(p, line, &err) < 0) {
			if (*nerrors < 20)
				log_warnx("%s:%u: %s", path, lineno, err);
			(*nerrors)++;
		}
	}
	if (ferror(f)) {
		log_warn("%s: read error", path);
		(*nerrors)++;
	}
	if (*nerrors > 20)
		log_warnx("%s: %d errors in all", path, *nerrors);
	free(line);
	line = NULL;
	fclose(f);
	f = NULL;
	if (*nerrors)
		goto fail;
	struct list *l = list_parser_finish(p, name, path);
	if (!l) {
		log_warnx("%s: out of memory", path);
		(*nerrors)++;
		return NULL;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	l->size = st.st_size;
	l->mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL +
	    st.st_mtim.tv_nsec;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	l->loaded = (double)now.tv_sec + now.tv_nsec / 1e9;
	return l;
fail:
	free(line);
	if (f)
		fclose(f);
	list_parser_free(p);
	return NULL;
}

uint32_t
list_lookup(const struct list *l, const struct ipaddr *ip)
{
	uint32_t v;
	if (ip->family == AF_INET)
		v = iptrie_lookup4(l->trie, (uint32_t)ip->a[0] << 24 |
		    (uint32_t)ip->a[1] << 16 | (uint32_t)ip->a[2] << 8 | ip->a[3]);
	else
		v = iptrie_lookup6(l->trie, ip->a);
	return (v == IPTRIE_NONE || v == 0) ? LIST_NOENTRY : v;
}

const char *
list_txt(const struct list *l, uint32_t entry)
{
	uint32_t off = l->entries[entry].txt;
	return off == LIST_NOTXT ? NULL : l->pool + off;
}

/* Appends src[0..len) to out, keeping room for the NUL. */
static void
append(char *out, size_t size, size_t *n, const char *src, size_t len)
{
	size_t k = len < size - 1 - *n ? len : size - 1 - *n;
	memcpy(out + *n, src, k);
	*n += k;
}

static size_t
expand(const struct list *l, const char *tmpl, const struct ipaddr *ip,
    char *out, size_t size)
{
	char ipbuf[64];
	size_t n = 0, iplen = 0;
	const char *raw = tmpl;

	if (size == 0)
		return 0;
	if (size > TXT_MAX)
		size = TXT_MAX;	/* rbldnsd answers at most 254 bytes */
	if (*tmpl == '=')
		tmpl++;
	for (; *tmpl && n + 1 < size; tmpl++) {
		if (*tmpl != '$') {
			out[n++] = *tmpl;
			continue;
		}
		char next = tmpl[1];
		if (next == '$') {
			out[n++] = '$';
			tmpl++;
		} else if (next == '=') {
			append(out, size, &n, raw, strlen(raw));
			tmpl++;
		} else if (next >= '0' && next <= '9') {
			if (l && l->var[next - '0'] != LIST_NOTXT) {
				const char *v = l->pool + l->var[next - '0'];
				append(out, size, &n, v, strlen(v));
			} else
				append(out, size, &n, tmpl, 2);
			tmpl++;
		} else {
			if (!iplen)
				iplen = strlen(addr_ntop(ip, ipbuf, sizeof(ipbuf)));
			append(out, size, &n, ipbuf, iplen);
		}
	}
	out[n] = '\0';
	return n;
}

size_t
list_txt_expand(const char *tmpl, const struct ipaddr *ip, char *out,
    size_t size)
{
	return expand(NULL, tmpl, ip, out, size);
}

size_t
list_entry_txt(const struct list *l, uint32_t entry, const struct ipaddr *ip,
    char *out, size_t size)
{
	const char *t = list_txt(l, entry);
	if (!t)
		return 0;
	return expand(l, t, ip, out, size);
}

int
list_changed(const struct list *l)
{
	struct stat st;
	if (stat(l->path, &st) < 0)
		return 1;
	long long m = (long long)st.st_mtim.tv_sec * 1000000000LL +
	    st.st_mtim.tv_nsec;
	return st.st_dev != l->dev || st.st_ino != l->ino ||
	    st.st_size != l->size || m != l->mtime_ns;
}

void
list_ref(struct list *l)
{
	l->refs++;
}

void
list_unref(struct list *l)
{
	if (!l || --l->refs > 0)
		return;
	iptrie_free(l->trie);
	free(l->entries);
	free(l->pool);
	free(l->name);
	free(l->path);
	free(l);
}
