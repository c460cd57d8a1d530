/* config.c -- libconfuse parsing of rblcache.conf into struct config.
 *
 * Syntax errors and bad values are reported by libconfuse's error hook
 * with file and line; cross-checks that need the whole file (a zone
 * naming a list defined further down) run after parsing and use the line
 * libconfuse recorded for the section.
 */
#include "config.h"

#include <confuse.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "query.h"

#define MAX_LISTEN	64

/* The file being parsed: libconfuse, given the text, names it "[buf]". */
static const char *parsing;

static void
errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	const char *file = parsing ? parsing : cfg ? cfg->filename : NULL;
	if (cfg && file)
		log_warnx("%s:%d: %s", file, cfg->line, msg);
	else
		log_warnx("%s", msg);
}

int
config_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)*s))
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	uint64_t mul = 1;
	switch (*end) {
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	case '\0': break;
	default: return -1;
	}
	if (*end != '\0' || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int
config_name_to_wire(const char *name, uint8_t *wire, size_t size)
{
	size_t n = 0;
	const char *p = name;
	if (strcmp(name, ".") == 0 || *name == '\0')
		return -1;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (len == 0 || len > 63)
			return -1;
		if (n + 1 + len + 1 > size || n + 1 + len + 1 > 255)
			return -1;
		wire[n++] = (uint8_t)len;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)p[i];
			if (!(isalnum(c) || c == '-' || c == '_'))
				return -1;
			wire[n++] = (uint8_t)tolower(c);
		}
		if (!dot || dot[1] == '\0')
			break;	/* the end, with or without a trailing dot */
		p = dot + 1;
	}
	wire[n++] = 0;
	return (int)n;
}

/* ---- validation callbacks (run by libconfuse with the line set) ---- */

static int
validate_listen(cfg_t *cfg, cfg_opt_t *opt)
{
	for (unsigned i = 0; i < cfg_opt_size(opt); i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		const char *err;
		const char *v = cfg_opt_getnstr(opt, i);
		if (addr_parse_sockaddr(v, 0, &ss, &len, &err) < 0) {
			cfg_error(cfg, "listen \"%s\": %s (want \"127.0.0.1:5300\" or \"[::1]:5300\")",
			    v, err);
			return -1;
		}
	}
	if (cfg_opt_size(opt) > MAX_LISTEN) {
		cfg_error(cfg, "listen: at most %d addresses", MAX_LISTEN);
		return -1;
	}
	return 0;
}

static int
validate_metrics(cfg_t *cfg, cfg_opt_t *opt)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *err;
	const char *v = cfg_opt_getnstr(opt, 0);
	if (v && *v && addr_parse_sockaddr(v, 0, &ss, &len, &err) < 0) {
		cfg_error(cfg, "metrics \"%s\": %s (want \"127.0.0.1:9797\" or "
		    "\"[::1]:9797\")", v, err);
		return -1;
	}
	return 0;
}

static int
validate_cidrs(cfg_t *cfg, cfg_opt_t *opt)
{
	for (unsigned i = 0; i < cfg_opt_size(opt); i++) {
		struct cidr c;
		const char *err;
		const char *v = cfg_opt_getnstr(opt, i);
		if (addr_parse_cidr(v, &c, 1, &err) < 0) {
			cfg_error(cfg, "%s \"%s\": %s", opt->name, v, err);
			return -1;
		}
	}
	return 0;
}

static int
validate_nonneg(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, 0);
	if (v < 0 || v > INT_MAX) {
		cfg_error(cfg, "%s: must be between 0 and %d", opt->name, INT_MAX);
		return -1;
	}
	return 0;
}

static int
validate_workers(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, 0);
	if (v < 0 || v > 256) {
		cfg_error(cfg, "workers: must be 0 (one per core) to 256");
		return -1;
	}
	return 0;
}

static int
validate_size(cfg_t *cfg, cfg_opt_t *opt)
{
	uint64_t v;
	const char *s = cfg_opt_getnstr(opt, 0);
	if (s && config_parse_size(s, &v) < 0) {
		cfg_error(cfg, "%s \"%s\": want a size such as 256M", opt->name, s);
		return -1;
	}
	return 0;
}

static int
validate_sources(cfg_t *cfg, cfg_opt_t *opt)
{
	if (cfg_opt_size(opt) > POLICY_MAX_SOURCES) {
		cfg_error(cfg, "sources: at most %d", POLICY_MAX_SOURCES);
		return -1;
	}
	for (unsigned i = 0; i < cfg_opt_size(opt); i++) {
		struct policy_source src;
		const char *err;
		const char *v = cfg_opt_getnstr(opt, i);
		if (policy_parse_source(v, &src, &err) < 0) {
			cfg_error(cfg, "source \"%s\": %s", v, err);
			return -1;
		}
		free(src.name);
	}
	return 0;
}

static int
validate_answer(cfg_t *cfg, cfg_opt_t *opt)
{
	struct ipaddr ip;
	const char *s = cfg_opt_getnstr(opt, 0);
	if (s && (addr_parse_ip(s, &ip) < 0 || ip.family != AF_INET)) {
		cfg_error(cfg, "answer \"%s\": want an IPv4 address such as 127.0.0.2", s);
		return -1;
	}
	return 0;
}

static int
validate_ttl(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, 0);
	if (v < 0 || v > 604800) {
		cfg_error(cfg, "%s: must be between 0 and 604800 seconds", opt->name);
		return -1;
	}
	return 0;
}

static int
validate_acl_action(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0);
	if (s && strcmp(s, "refuse") != 0 && strcmp(s, "drop") != 0) {
		cfg_error(cfg, "allow-query-action \"%s\": want \"refuse\" or "
		    "\"drop\"", s);
		return -1;
	}
	return 0;
}

/* An integer option within [lo, hi], by the option's name. */
static int
validate_range(cfg_t *cfg, cfg_opt_t *opt)
{
	static const struct { const char *name; long lo, hi; } r[] = {
		{ "responses-per-second", 0, RATELIMIT_MAX_RATE },
		{ "slip", 0, RATELIMIT_MAX_SLIP },
		{ "ipv4-prefix", 1, 32 },
		{ "ipv6-prefix", 1, 128 },
		{ "table-size", 1, RATELIMIT_MAX_TABLE },
		{ "batch-wait-us", 0, 1000 },
	};
	long v = cfg_opt_getnint(opt, 0);
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		if (strcmp(opt->name, r[i].name) == 0 &&
		    (v < r[i].lo || v > r[i].hi)) {
			cfg_error(cfg, "%s: must be between %ld and %ld", opt->name,
			    r[i].lo, r[i].hi);
			return -1;
		}
	return 0;
}

static int
validate_addr(cfg_t *cfg, cfg_opt_t *opt)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *err;
	const char *s = cfg_opt_getnstr(opt, 0);
	if (s && strncmp(s, "unix:", 5) != 0 &&
	    addr_parse_sockaddr(s, 6379, &ss, &len, &err) < 0) {
		cfg_error(cfg, "%s \"%s\": %s", opt->name, s, err);
		return -1;
	}
	return 0;
}

/* ---- the schema ---- */

static cfg_opt_t list_opts[] = {
	CFG_STR("file", NULL, CFGF_NODEFAULT),
	CFG_END()
};

static cfg_opt_t zone_opts[] = {
	CFG_STR_LIST("sources", NULL, CFGF_NODEFAULT),
	CFG_INT("threshold", 1, CFGF_NONE),
	CFG_STR("answer", NULL, CFGF_NODEFAULT),
	CFG_INT("ttl", 300, CFGF_NODEFAULT),
	CFG_END()
};

static cfg_opt_t cache_opts[] = {
	CFG_STR("max-memory", "256M", CFGF_NONE),
	CFG_INT("min-ttl", 60, CFGF_NONE),
	CFG_INT("max-ttl", 86400, CFGF_NONE),
	CFG_INT("negative-ttl", 900, CFGF_NONE),
	CFG_INT("serve-stale", 3600, CFGF_NONE),
	CFG_BOOL("prefetch", cfg_true, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t redis_opts[] = {
	CFG_STR("address", "127.0.0.1:6379", CFGF_NONE),
	CFG_STR("prefix", "rblcache:", CFGF_NONE),
	CFG_INT("timeout-ms", 30, CFGF_NONE),
	CFG_STR("password", NULL, CFGF_NODEFAULT),
	CFG_INT("db", 0, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t resolver_opts[] = {
	CFG_STR_LIST("forward", NULL, CFGF_NODEFAULT),
	CFG_STR("unbound-config", NULL, CFGF_NODEFAULT),
	CFG_INT("timeout-ms", 1500, CFGF_NONE),
	CFG_INT("max-pending", 4096, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t rate_opts[] = {
	CFG_INT("responses-per-second", 0, CFGF_NONE),
	CFG_INT("slip", 2, CFGF_NONE),
	CFG_INT("ipv4-prefix", 24, CFGF_NONE),
	CFG_INT("ipv6-prefix", 56, CFGF_NONE),
	CFG_INT("table-size", 65536, CFGF_NONE),
	CFG_END()
};

static int
validate_codes(cfg_t *cfg, cfg_opt_t *opt)
{
	for (unsigned i = 0; i < cfg_opt_size(opt); i++) {
		struct ipaddr ip;
		const char *v = cfg_opt_getnstr(opt, i);
		if (addr_parse_ip(v, &ip) < 0 || ip.family != AF_INET) {
			cfg_error(cfg, "error-codes \"%s\": want an IPv4 address such as 127.255.255.254", v);
			return -1;
		}
	}
	return 0;
}

static cfg_opt_t upstream_opts[] = {
	CFG_STR("query-zone", NULL, CFGF_NODEFAULT),
	CFG_INT("timeout-ms", 0, CFGF_NONE),
	CFG_STR_LIST("error-codes", NULL, CFGF_NODEFAULT),
	CFG_BOOL("txt", cfg_true, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t root_opts[] = {
	CFG_STR_LIST("listen", "{\"127.0.0.1:5300\"}", CFGF_NONE),
	CFG_INT("workers", 0, CFGF_NONE),
	CFG_INT("batch-wait-us", 50, CFGF_NONE),
	CFG_STR("user", "rblcache", CFGF_NONE),
	CFG_STR("state-dir", "/var/lib/rblcache", CFGF_NONE),
	CFG_STR("control", "/run/rblcache/control.sock", CFGF_NONE),
	CFG_STR("metrics", "", CFGF_NONE),
	CFG_STR("query-log", "", CFGF_NONE),
	CFG_STR_LIST("allow-query", "{\"127.0.0.0/8\", \"::1/128\"}", CFGF_NONE),
	CFG_STR("allow-query-action", "refuse", CFGF_NONE),
	CFG_SEC("rate-limit", rate_opts, CFGF_NONE),
	CFG_SEC("cache", cache_opts, CFGF_NONE),
	CFG_SEC("redis", redis_opts, CFGF_NODEFAULT),
	CFG_SEC("resolver", resolver_opts, CFGF_NONE),
	CFG_SEC("list", list_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_SEC("zone", zone_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_SEC("upstream", upstream_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

static char *
resolve_path(const char *cfgpath, const char *p)
{
	if (p[0] == '/')
		return strdup(p);
	const char *slash = strrchr(cfgpath, '/');
	char *out;
	if (!slash)
		return strdup(p);
	if (asprintf(&out, "%.*s/%s", (int)(slash - cfgpath), cfgpath, p) < 0)
		return NULL;
	return out;
}

/* ---- the file's text ---- */

/* Blanks out every comment (#, // and slash-star blocks, outside quoted strings) of
 * text, keeping the newlines.  libconfuse 3.3 counts a comment line as
 * three when it reports an error's line, and rejects a comment after an
 * item of a list; without comments it does neither. */
static void
blank_comments(char *text)
{
	char quote = 0;
	for (char *p = text; *p; p++) {
		/* like libconfuse's lexer: a backslash escapes in both kinds
		 * of quotes; // opens a comment only where a token may start
		 * (file = /srv//lists is one unquoted token) */
		int start = p == text || strchr(" \t\r\n={}(),+", p[-1]);
		if (quote) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == quote)
				quote = 0;
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
		} else if (*p == '#' || (start && p[0] == '/' && p[1] == '/')) {
			for (; *p && *p != '\n'; p++)
				*p = ' ';
			if (!*p)
				break;
		} else if (p[0] == '/' && p[1] == '*') {
			char *end = strstr(p + 2, "*/");
			char *stop = end ? end + 2 : p + strlen(p);
			for (; p < stop; p++)
				if (*p != '\n')
					*p = ' ';
			p--;
		}
	}
}

/* The whole file, NUL-terminated, or NULL with errno set. */
static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int nomem = 0;
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 8192);
			if (!nb) {
				nomem = 1;	/* never a truncated config */
				break;
			}
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		size_t k = fread(buf + len, 1, cap - len - 1, f);
		len += k;
		if (k == 0)
			break;
	}
	int bad = ferror(f) || !buf || nomem, saved = nomem ? ENOMEM : errno;
	fclose(f);
	if (bad) {
		free(buf);
		errno = saved ? saved : ENOMEM;
		return NULL;
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		free(buf);
		errno = EINVAL;		/* a NUL byte: not a text file */
		return NULL;
	}
	return buf;
}

/* The line where `kind "title"` opens in text (comments blanked);
 * libconfuse only records where a section ends.  Falls back to that
 * line. */
static int
decl_line(const char *text, const char *kind, const char *title, int fallback)
{
	int n = 0, found = fallback;
	size_t kl = strlen(kind);
	for (const char *line = text; line && *line; ) {
		const char *nl = strchr(line, '\n');
		n++;
		const char *p = line;
		line = nl ? nl + 1 : NULL;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, kind, kl) != 0 || (p[kl] != ' ' && p[kl] != '\t'))
			continue;
		p += kl;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '"' && strncmp(p + 1, title, strlen(title)) == 0 &&
		    p[1 + strlen(title)] == '"') {
			found = n;
			break;
		}
	}
	return found;
}

static int
nproc(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		fatal("%s", __func__);
	return d;
}

/* The upstream entry for a zone name, added with defaults when no
 * upstream block names it. */
static int
upstream_index(struct config *c, const char *name)
{
	for (int i = 0; i < c->nupstreams; i++)
		if (strcmp(c->upstreams[i].name, name) == 0)
			return i;
	struct config_upstream *nu = realloc(c->upstreams,
	    (size_t)(c->nupstreams + 2) * sizeof(*nu));
	if (!nu)
		fatal("%s", __func__);
	c->upstreams = nu;
	struct config_upstream *u = &nu[c->nupstreams];
	memset(u, 0, sizeof(*u));
	u->name = xstrdup(name);
	u->query_zone = xstrdup(name);
	u->txt = 1;
	u->error_codes = calloc(1, sizeof(uint32_t));
	return c->nupstreams++;
}

struct config *
config_load(const char *path)
{
	struct config *c = NULL;
	char *text = NULL;
	cfg_t *cfg = cfg_init(root_opts, CFGF_NONE);
	int errors = 0;

	if (!cfg)
		fatal("%s: cfg_init", __func__);
	cfg_set_error_function(cfg, errfunc);
	cfg_set_validate_func(cfg, "listen", validate_listen);
	cfg_set_validate_func(cfg, "workers", validate_workers);
	cfg_set_validate_func(cfg, "batch-wait-us", validate_range);
	cfg_set_validate_func(cfg, "allow-query", validate_cidrs);
	cfg_set_validate_func(cfg, "allow-query-action", validate_acl_action);
	cfg_set_validate_func(cfg, "rate-limit|responses-per-second",
	    validate_range);
	cfg_set_validate_func(cfg, "rate-limit|slip", validate_range);
	cfg_set_validate_func(cfg, "rate-limit|ipv4-prefix", validate_range);
	cfg_set_validate_func(cfg, "rate-limit|ipv6-prefix", validate_range);
	cfg_set_validate_func(cfg, "rate-limit|table-size", validate_range);
	cfg_set_validate_func(cfg, "metrics", validate_metrics);
	cfg_set_validate_func(cfg, "cache|max-memory", validate_size);
	cfg_set_validate_func(cfg, "cache|min-ttl", validate_nonneg);
	cfg_set_validate_func(cfg, "cache|max-ttl", validate_nonneg);
	cfg_set_validate_func(cfg, "cache|negative-ttl", validate_nonneg);
	cfg_set_validate_func(cfg, "cache|serve-stale", validate_nonneg);
	cfg_set_validate_func(cfg, "redis|address", validate_addr);
	cfg_set_validate_func(cfg, "redis|timeout-ms", validate_nonneg);
	cfg_set_validate_func(cfg, "redis|db", validate_nonneg);
	cfg_set_validate_func(cfg, "resolver|timeout-ms", validate_nonneg);
	cfg_set_validate_func(cfg, "resolver|max-pending", validate_nonneg);
	cfg_set_validate_func(cfg, "upstream|timeout-ms", validate_nonneg);
	cfg_set_validate_func(cfg, "upstream|error-codes", validate_codes);
	cfg_set_validate_func(cfg, "zone|sources", validate_sources);
	cfg_set_validate_func(cfg, "zone|answer", validate_answer);
	cfg_set_validate_func(cfg, "zone|ttl", validate_ttl);

	parsing = path;
	if (!(text = read_text(path))) {
		log_warn("%s: cannot read config", path);
		goto fail;
	}
	blank_comments(text);
	if (cfg_parse_buf(cfg, text) != CFG_SUCCESS)
		goto fail;	/* libconfuse already said where */

	if (!(c = calloc(1, sizeof(*c))))
		fatal("%s", __func__);
	c->path = xstrdup(path);

	c->nlisten = (int)cfg_size(cfg, "listen");
	c->listen = calloc((size_t)c->nlisten + 1, sizeof(*c->listen));
	for (int i = 0; i < c->nlisten; i++) {
		const char *err;
		const char *v = cfg_getnstr(cfg, "listen", (unsigned)i);
		c->listen[i].text = xstrdup(v);
		if (addr_parse_sockaddr(v, 0, &c->listen[i].ss, &c->listen[i].len,
		    &err) < 0)
			fatalx("%s: listen \"%s\": %s", path, v, err);
	}
	if (c->nlisten == 0) {
		log_warnx("%s: listen: at least one address is needed", path);
		errors++;
	}
	c->workers = (int)cfg_getint(cfg, "workers");
	c->batch_wait_us = (int)cfg_getint(cfg, "batch-wait-us");
	if (c->workers == 0)
		c->workers = nproc();
	c->user = xstrdup(cfg_getstr(cfg, "user"));

	c->state_dir = xstrdup(cfg_getstr(cfg, "state-dir"));
	c->control = xstrdup(cfg_getstr(cfg, "control"));
	const char *m = cfg_getstr(cfg, "metrics");
	if (m && *m) {
		const char *err;
		c->metrics.text = xstrdup(m);
		if (addr_parse_sockaddr(m, 0, &c->metrics.ss, &c->metrics.len,
		    &err) < 0)
			fatalx("%s: metrics \"%s\": %s", path, m, err);
	}
	const char *ql = cfg_getstr(cfg, "query-log");
	if (ql && *ql)
		c->query_log = resolve_path(path, ql);

	c->nallow = (int)cfg_size(cfg, "allow-query");
	c->allow = calloc((size_t)c->nallow + 1, sizeof(*c->allow));
	for (int i = 0; i < c->nallow; i++) {
		const char *err;
		const char *v = cfg_getnstr(cfg, "allow-query", (unsigned)i);
		if (addr_parse_cidr(v, &c->allow[i], 1, &err) < 0)
			fatalx("%s: allow-query \"%s\": %s", path, v, err);
	}

	c->allow_drop = strcmp(cfg_getstr(cfg, "allow-query-action"), "drop") == 0;
	cfg_t *sec = cfg_getsec(cfg, "rate-limit");
	c->ratelimit.rate = (int)cfg_getint(sec, "responses-per-second");
	c->ratelimit.slip = (int)cfg_getint(sec, "slip");
	c->ratelimit.ipv4_prefix = (int)cfg_getint(sec, "ipv4-prefix");
	c->ratelimit.ipv6_prefix = (int)cfg_getint(sec, "ipv6-prefix");
	c->ratelimit.table_size = (int)cfg_getint(sec, "table-size");

	sec = cfg_getsec(cfg, "cache");
	config_parse_size(cfg_getstr(sec, "max-memory"), &c->cache.max_memory);
	c->cache.min_ttl = (int)cfg_getint(sec, "min-ttl");
	c->cache.max_ttl = (int)cfg_getint(sec, "max-ttl");
	c->cache.negative_ttl = (int)cfg_getint(sec, "negative-ttl");
	c->cache.serve_stale = (int)cfg_getint(sec, "serve-stale");
	c->cache.prefetch = cfg_getbool(sec, "prefetch");
	if (c->cache.min_ttl > c->cache.max_ttl) {
		log_warnx("%s:%d: cache: min-ttl is larger than max-ttl", path,
		    sec->line);
		errors++;
	}
	if (cfg_size(cfg, "redis") > 0) {
		sec = cfg_getsec(cfg, "redis");
		c->redis.enabled = 1;
		c->redis.address = xstrdup(cfg_getstr(sec, "address"));
		c->redis.prefix = xstrdup(cfg_getstr(sec, "prefix"));
		c->redis.timeout_ms = (int)cfg_getint(sec, "timeout-ms");
		if (cfg_getstr(sec, "password"))
			c->redis.password = xstrdup(cfg_getstr(sec, "password"));
		c->redis.db = (int)cfg_getint(sec, "db");
	}
	sec = cfg_getsec(cfg, "resolver");
	c->resolver.nforward = (int)cfg_size(sec, "forward");
	c->resolver.forward = calloc((size_t)c->resolver.nforward + 1,
	    sizeof(char *));
	for (int i = 0; i < c->resolver.nforward; i++)
		c->resolver.forward[i] = xstrdup(cfg_getnstr(sec, "forward",
		    (unsigned)i));
	if (cfg_getstr(sec, "unbound-config"))
		c->resolver.unbound_config = resolve_path(path,
		    cfg_getstr(sec, "unbound-config"));
	c->resolver.timeout_ms = (int)cfg_getint(sec, "timeout-ms");
	c->resolver.max_pending = (int)cfg_getint(sec, "max-pending");
	if (c->resolver.timeout_ms < 1)
		c->resolver.timeout_ms = 1;

	/* upstream blocks; sources add the upstreams they name below */
	int nup = (int)cfg_size(cfg, "upstream");
	c->upstreams = calloc((size_t)nup + 1, sizeof(*c->upstreams));
	if (!c->upstreams)
		fatal("%s", __func__);
	for (int i = 0; i < nup; i++) {
		cfg_t *u = cfg_getnsec(cfg, "upstream", (unsigned)i);
		struct config_upstream *cu = &c->upstreams[c->nupstreams++];
		uint8_t wire[256];
		cu->line = decl_line(text, "upstream", cfg_title(u), u->line);
		cu->name = xstrdup(cfg_title(u));
		for (char *p = cu->name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (config_name_to_wire(cu->name, wire, sizeof(wire)) < 0 ||
		    !strchr(cu->name, '.')) {
			log_warnx("%s:%d: upstream \"%s\": not a DNS zone name", path,
			    cu->line, cu->name);
			errors++;
		}
		const char *qz = cfg_getstr(u, "query-zone");
		cu->query_zone = xstrdup(qz ? qz : cu->name);
		if (config_name_to_wire(cu->query_zone, wire, sizeof(wire)) < 0 ||
		    strlen(cu->query_zone) > 180) {
			log_warnx("%s:%d: upstream \"%s\": query-zone \"%s\" is not a "
			    "valid zone name", path, cu->line, cu->name, cu->query_zone);
			errors++;
		}
		cu->timeout_ms = (int)cfg_getint(u, "timeout-ms");
		cu->txt = cfg_getbool(u, "txt");
		cu->nerror = (int)cfg_size(u, "error-codes");
		cu->error_codes = calloc((size_t)cu->nerror + 1, sizeof(uint32_t));
		for (int k = 0; k < cu->nerror; k++) {
			struct ipaddr ip;
			addr_parse_ip(cfg_getnstr(u, "error-codes", (unsigned)k), &ip);
			cu->error_codes[k] = (uint32_t)ip.a[0] << 24 |
			    (uint32_t)ip.a[1] << 16 | (uint32_t)ip.a[2] << 8 | ip.a[3];
		}
	}

	c->nlists = (int)cfg_size(cfg, "list");
	c->lists = calloc((size_t)c->nlists + 1, sizeof(*c->lists));
	for (int i = 0; i < c->nlists; i++) {
		cfg_t *l = cfg_getnsec(cfg, "list", (unsigned)i);
		c->lists[i].name = xstrdup(cfg_title(l));
		/* names are case-insensitive, like the sources that use them */
		for (char *p = c->lists[i].name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		c->lists[i].line = decl_line(text, "list", cfg_title(l), l->line);
		const char *f = cfg_getstr(l, "file");
		const char *t = c->lists[i].name;
		if (!*t || strchr(t, '.') || strpbrk(t, "=* \t")) {
			log_warnx("%s:%d: list \"%s\": a list name has no dots, "
			    "'=', '*' or blanks (dotted names are upstream zones)",
			    path, c->lists[i].line, t);
			errors++;
		}
		if (!f) {
			log_warnx("%s:%d: list \"%s\": missing file", path,
			    c->lists[i].line, t);
			errors++;
			continue;
		}
		c->lists[i].file = resolve_path(path, f);
	}

	c->nzones = (int)cfg_size(cfg, "zone");
	c->zones = calloc((size_t)c->nzones + 1, sizeof(*c->zones));
	for (int i = 0; i < c->nzones; i++) {
		cfg_t *z = cfg_getnsec(cfg, "zone", (unsigned)i);
		struct config_zone *cz = &c->zones[i];
		cz->line = decl_line(text, "zone", cfg_title(z), z->line);
		int wl = config_name_to_wire(cfg_title(z), cz->wire, sizeof(cz->wire));
		if (wl < 0) {
			log_warnx("%s:%d: zone \"%s\": not a valid domain name",
			    path, cz->line, cfg_title(z));
			errors++;
			continue;
		}
		cz->wirelen = (size_t)wl;
		cz->name = xstrdup(cfg_title(z));
		for (char *p = cz->name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		size_t nl = strlen(cz->name);
		if (nl > 0 && cz->name[nl - 1] == '.')
			cz->name[nl - 1] = '\0';
		for (int j = 0; j < i; j++)
			if (c->zones[j].name && strcmp(c->zones[j].name, cz->name) == 0) {
				log_warnx("%s:%d: zone \"%s\" defined twice", path,
				    cz->line, cz->name);
				errors++;
			}
		cz->threshold = (int)cfg_getint(z, "threshold");
		if (cfg_getstr(z, "answer")) {
			struct ipaddr ip;
			addr_parse_ip(cfg_getstr(z, "answer"), &ip);
			cz->has_answer = 1;
			cz->answer = (uint32_t)ip.a[0] << 24 | (uint32_t)ip.a[1] << 16 |
			    (uint32_t)ip.a[2] << 8 | ip.a[3];
		}
		if (cfg_size(z, "ttl") > 0) {
			cz->has_ttl = 1;
			cz->ttl = (uint32_t)cfg_getint(z, "ttl");
		}
		cz->nsrc = (int)cfg_size(z, "sources");
		if (cz->nsrc == 0) {
			log_warnx("%s:%d: zone \"%s\": no sources", path, cz->line,
			    cz->name);
			errors++;
		}
		cz->src = calloc((size_t)cz->nsrc + 1, sizeof(*cz->src));
		for (int j = 0; j < cz->nsrc; j++) {
			const char *err;
			const char *v = cfg_getnstr(z, "sources", (unsigned)j);
			if (policy_parse_source(v, &cz->src[j], &err) < 0)
				fatalx("%s: source \"%s\": %s", path, v, err);
			for (int k = 0; k < c->nlists; k++)
				if (strcmp(c->lists[k].name, cz->src[j].name) == 0)
					cz->src[j].list = k;
			if (cz->src[j].list >= 0)
				continue;
			if (strchr(cz->src[j].name, '.')) {
				uint8_t wire[256];
				if (config_name_to_wire(cz->src[j].name, wire,
				    sizeof(wire)) < 0 || strlen(cz->src[j].name) > 180) {
					log_warnx("%s:%d: zone \"%s\": source \"%s\" is "
					    "not a valid DNS zone name", path, cz->line,
					    cz->name, cz->src[j].name);
					errors++;
					continue;
				}
				cz->src[j].upstream = upstream_index(c, cz->src[j].name);
				cz->nupstream++;
				continue;
			}
			else
				log_warnx("%s:%d: zone \"%s\": source \"%s\": no such "
				    "list (define it with list \"%s\" { file = ... })",
				    path, cz->line, cz->name, cz->src[j].name,
				    cz->src[j].name);
			errors++;
		}
		int distinct = 0;
		for (int j = 0; j < cz->nsrc; j++) {
			int first = cz->src[j].upstream >= 0;
			for (int k = 0; k < j && first; k++)
				first = cz->src[k].upstream != cz->src[j].upstream;
			distinct += first;
		}
		if (distinct > QUERY_MAX_UPSTREAMS) {
			log_warnx("%s:%d: zone \"%s\": at most %d upstream zones", path,
			    cz->line, cz->name, QUERY_MAX_UPSTREAMS);
			errors++;
		}
	}
	for (int i = 0; i < nup; i++) {
		int used = 0;
		for (int z = 0; z < c->nzones; z++)
			for (int j = 0; j < c->zones[z].nsrc; j++)
				used |= c->zones[z].src[j].upstream == i;
		if (!used)
			log_warnx("%s:%d: upstream \"%s\" is not used by any zone",
			    path, c->upstreams[i].line, c->upstreams[i].name);
	}
	if (c->nzones == 0) {
		log_warnx("%s: no zone defined: nothing to serve", path);
		errors++;
	}

	cfg_free(cfg);
	free(text);
	if (errors) {
		config_free(c);
		return NULL;
	}
	return c;
fail:
	cfg_free(cfg);
	free(text);
	config_free(c);
	return NULL;
}

void
config_free(struct config *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->nlisten; i++)
		free(c->listen[i].text);
	free(c->listen);
	free(c->allow);
	for (int i = 0; i < c->nlists; i++) {
		free(c->lists[i].name);
		free(c->lists[i].file);
	}
	free(c->lists);
	for (int i = 0; i < c->nzones; i++) {
		for (int j = 0; j < c->zones[i].nsrc; j++)
			free(c->zones[i].src[j].name);
		free(c->zones[i].src);
		free(c->zones[i].name);
	}
	free(c->zones);
	for (int i = 0; i < c->nupstreams; i++) {
		free(c->upstreams[i].name);
		free(c->upstreams[i].query_zone);
		free(c->upstreams[i].error_codes);
	}
	free(c->upstreams);
	for (int i = 0; i < c->resolver.nforward; i++)
		free(c->resolver.forward[i]);
	free(c->resolver.forward);
	free(c->resolver.unbound_config);
	free(c->redis.address);
	free(c->redis.prefix);
	free(c->redis.password);
	free(c->user);
	free(c->state_dir);
	free(c->control);
	free(c->metrics.text);
	free(c->query_log);
	free(c->path);
	free(c);
}
