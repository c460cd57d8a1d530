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

/* ":A:TXT" / ":A" / "TXT" after an address, rbldnsd's rules: A may be a
 * full address or one number meaning 127.0.0.N; a value without a
 * leading ':' is all text with the default A. */
static int
parse_value(struct list_parser *p, const char *s, struct list_entry *out,
    const char **err)
{
	out->a = p->def.a;
	out->txt = p->def.txt;
	if (*s == ':') {
		uint32_t a;
		const char *e;
		s++;
		int n = parse_ip4_octets(s, &a, &e);
		if (n == 1)
			a = 0x7f000000u | (a >> 24);
		if (n != 1 && n != 4) {
			/* rbldnsd accepts an empty A (default) only as "::" */
			if (*s == ':' ) {
				e = s;
				a = p->def.a;
			} else {
				*err = "invalid A value";
				return -1;
			}
		}
		if (a == 0) {
			*err = "invalid A value";
			return -1;
		}
		out->a = a;
		s = e;
		while (is_space(*s))
			s++;
		if (*s == ':') {
			s++;
			while (is_space(*s))
				s++;
		} else if (*s != '\0') {
			*err = "unrecognized value for an entry";
			return -1;
		}
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
	if (*s == '\0' || is_comment(*s))
		return 0;

	if (*s == '$') {
		if (strncmp(s, "$TTL", 4) == 0 && is_space(s[4])) {
			char *e;
			s += 5;
			while (is_space(*s))
				s++;
			errno = 0;
			unsigned long v = strtoul(s, &e, 10);
			if (e == s || *e != '\0' || errno || v > 0x7fffffffUL) {
				*err = "invalid $TTL";
				return -1;
			}
			p->ttl = (uint32_t)v;
			return 0;
		}
		/* rbldnsd's zone-level directives carry no list data */
		if ((strncmp(s, "$SOA", 4) == 0 || strncmp(s, "$NS", 3) == 0 ||
		    strncmp(s, "$DATASET", 8) == 0 ||
		    strncmp(s, "$MAXRANGE4", 10) == 0 ||
		    strncmp(s, "$TIMESTAMP", 10) == 0))
			return 0;
		*err = "unknown $ directive";
		return -1;
	}

	if (*s == ':') {
		struct list_entry def;
		if (parse_value(p, s, &def, err) < 0)
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
	/* the address token ends at a blank, a comment or a value ':' for
	 * IPv4 (IPv6 addresses contain ':' and need a blank before values) */
	char *tok = s;
	while (*s && !is_space(*s) && !(is_comment(*s)))
		s++;
	char saved = *s;
	*s = '\0';

	struct cidr c;
	int bits = -1;
	const char *aerr = "invalid address";
	if (strchr(tok, ':')) {
		if (addr_parse_cidr(tok, &c, 1, &aerr) == 0)
			bits = c.len;
		if (bits >= 0 && c.ip.family != AF_INET6)
			bits = -1;
	} else {
		uint32_t a;
		const char *e;
		int n = parse_ip4_octets(tok, &a, &e);
		if (n > 0) {
			bits = 8 * n;
			if (*e == '/') {
				char *end;
				if (e[1] < '0' || e[1] > '9') {
					bits = -1;
				} else {
					long v = strtol(e + 1, &end, 10);
					bits = (*end == '\0' && v <= 32) ? (int)v : -1;
					if (bits < 0)
						aerr = "invalid prefix length";
				}
			} else if (*e != '\0')
				bits = -1;
		}
		if (bits >= 0) {
			uint32_t mask = bits == 0 ? 0 : UINT32_MAX << (32 - bits);
			if (a & ~mask) {
				*s = saved;
				*err = "invalid range (host bits set)";
				return -1;
			}
			memset(&c, 0, sizeof(c));
			c.ip.family = AF_INET;
			uint32_t na = htonl(a);
			memcpy(c.ip.a, &na, 4);
			c.len = bits;
		}
	}
	*s = saved;
	if (bits < 0) {
		*err = aerr;
		return -1;
	}
	while (is_space(*s))
		s++;

	uint32_t idx = 0;
	if (!excl) {
		struct list_entry e = p->def;
		if (*s != '\0' && !is_comment(*s) &&
		    parse_value(p, s, &e, err) < 0)
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

size_t
list_txt_expand(const char *tmpl, const struct ipaddr *ip, char *out,
    size_t size)
{
	char ipbuf[64];
	size_t n = 0, iplen = 0;
	int have_ip = 0;

	if (size == 0)
		return 0;
	for (; *tmpl && n + 1 < size; tmpl++) {
		if (*tmpl != '$') {
			out[n++] = *tmpl;
			continue;
		}
		if (!have_ip) {
			addr_ntop(ip, ipbuf, sizeof(ipbuf));
			iplen = strlen(ipbuf);
			have_ip = 1;
		}
		size_t k = iplen < size - 1 - n ? iplen : size - 1 - n;
		memcpy(out + n, ipbuf, k);
		n += k;
	}
	out[n] = '\0';
	return n;
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
