/* test_config.c -- config_load on temp files, and its small parsers.
 *
 * Each case writes a config to a temp file (mkstemp in /tmp, removed),
 * loads it with stderr captured, and checks either the struct config or
 * that loading failed with a "file:line: message" naming the problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"

#include "testutil.h"

/* ---- helpers ---- */

static char logbuf[8192];
static char cfgpath[64];

/* Loads text as a config file; the log goes to logbuf, the file's name
 * to cfgpath.  The file is removed before returning. */
static struct config *
load(const char *text)
{
	struct capture c;
	write_tmp(cfgpath, text);
	capture_begin(&c);
	struct config *cfg = config_load(cfgpath);
	capture_end(&c, logbuf, sizeof(logbuf));
	unlink(cfgpath);
	return cfg;
}

/* A config around one zone: lists "a" and "b", then extra text. */
#define LISTS \
	"list \"a\" { file = \"/tmp/rblcache-a.list\" }\n" \
	"list \"b\" { file = \"/tmp/rblcache-b.list\" }\n"
#define ZONE "zone \"bl.test\" { sources = { \"a\" } }\n"

static void
assert_loads(const char *text)
{
	struct config *c = load(text);
	if (!c)
		fail_msg("config rejected:\n%s\nlog:\n%s", text, logbuf);
	config_free(c);
}

/* Fails unless text is rejected with a message containing every one of
 * the NULL-terminated needles ("@N" stands for "<file>:N:"). */
static void
assert_rejected_with(const char *text, ...)
{
	struct config *c = load(text);
	if (c) {
		config_free(c);
		fail_msg("config accepted:\n%s", text);
	}
	va_list ap;
	va_start(ap, text);
	const char *needle;
	while ((needle = va_arg(ap, const char *))) {
		char want[128];
		if (needle[0] == '@')
			snprintf(want, sizeof(want), "%s:%s:", cfgpath, needle + 1);
		else
			snprintf(want, sizeof(want), "%s", needle);
		if (!strstr(logbuf, want))
			fail_msg("log lacks \"%s\":\n%s", want, logbuf);
	}
	va_end(ap);
}

/* The example config shipped in conf/, found from the usual places the
 * tests run from (the repository root, or build/tests). */
static const char *
example_path(void)
{
	static char path[4096];
	static const char *const tries[] = {
		"conf/rblcache.conf", "../conf/rblcache.conf",
		"../../conf/rblcache.conf", "../../../conf/rblcache.conf",
	};
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		if (access(tries[i], R_OK) == 0) {
			snprintf(path, sizeof(path), "%s", tries[i]);
			return path;
		}
	/* __FILE__ is tests/unit/test_config.c relative to the build's cwd */
	const char *f = __FILE__;
	const char *cut = strstr(f, "tests/unit/");
	if (cut) {
		snprintf(path, sizeof(path), "%.*sconf/rblcache.conf",
		    (int)(cut - f), f);
		if (access(path, R_OK) == 0)
			return path;
	}
	return NULL;
}

/* ---- the example ---- */

static void
test_example_loads(void **state)
{
	(void)state;
	const char *path = example_path();
	if (!path)
		fail_msg("conf/rblcache.conf not found (run from the repository root)");
	struct capture cap;
	capture_begin(&cap);
	struct config *c = config_load(path);
	capture_end(&cap, logbuf, sizeof(logbuf));
	if (!c)
		fail_msg("%s rejected:\n%s", path, logbuf);

	assert_int_equal(c->nlisten, 2);
	assert_string_equal(c->listen[0].text, "127.0.0.1:5300");
	assert_int_equal(c->listen[0].ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&c->listen[0].ss)->sin_port),
	    5300);
	assert_int_equal(c->listen[1].ss.ss_family, AF_INET6);
	assert_true(c->workers >= 1);		/* 0 resolves to the cores */
	assert_string_equal(c->user, "nobody");
	assert_int_equal(c->nallow, 2);
	assert_int_equal(c->allow[0].ip.family, AF_INET);
	assert_int_equal(c->allow[0].len, 8);
	assert_int_equal(c->allow[1].ip.family, AF_INET6);
	assert_int_equal(c->allow[1].len, 128);
	assert_int_equal(c->cache.max_memory, 256ull << 20);
	assert_false(c->redis.enabled);

	assert_int_equal(c->nlists, 2);
	assert_string_equal(c->lists[0].name, "block");
	assert_string_equal(c->lists[1].name, "allow");
	/* relative files resolve against the config's directory */
	size_t n = strlen(c->lists[0].file);
	assert_true(n >= 15);
	assert_string_equal(c->lists[0].file + n - 15, "conf/block.list");
	assert_int_equal(access(c->lists[0].file, R_OK), 0);

	assert_int_equal(c->nzones, 2);
	const struct config_zone *z = &c->zones[0];
	assert_string_equal(z->name, "bl.rblcache.internal");
	assert_int_equal(z->wirelen, 22);
	assert_memory_equal(z->wire, "\002bl\010rblcache\010internal", 22);
	assert_int_equal(z->nsrc, 2);
	assert_string_equal(z->src[0].name, "block");
	assert_int_equal(z->src[0].weight, 10);
	assert_int_equal(z->src[0].list, 0);
	assert_string_equal(z->src[1].name, "allow");
	assert_int_equal(z->src[1].weight, -100);
	assert_int_equal(z->src[1].list, 1);
	assert_int_equal(z->threshold, 3);
	assert_true(z->has_answer);
	assert_int_equal(z->answer, 0x7f000002);
	assert_true(z->has_ttl);
	assert_int_equal(z->ttl, 300);

	z = &c->zones[1];
	assert_string_equal(z->name, "wl.rblcache.internal");
	assert_int_equal(z->answer, 0x7f000a01);
	assert_false(z->has_ttl);
	assert_int_equal(z->threshold, 1);
	config_free(c);
}

static void
test_defaults(void **state)
{
	(void)state;
	struct config *c = load(LISTS ZONE);
	if (!c)
		fail_msg("minimal config rejected:\n%s", logbuf);
	assert_int_equal(c->nlisten, 1);
	assert_string_equal(c->listen[0].text, "127.0.0.1:5300");
	assert_int_equal(c->nallow, 2);
	assert_int_equal(c->cache.max_memory, 256ull << 20);
	assert_int_equal(c->cache.min_ttl, 60);
	assert_int_equal(c->cache.max_ttl, 86400);
	assert_int_equal(c->batch_wait_us, 50);
	assert_int_equal(c->nzones, 1);
	assert_int_equal(c->zones[0].threshold, 1);
	assert_false(c->zones[0].has_answer);
	assert_false(c->zones[0].has_ttl);
	assert_int_equal(c->zones[0].src[0].weight, 1);
	assert_true(c->zones[0].src[0].pat.any);
	assert_string_equal(c->lists[0].file, "/tmp/rblcache-a.list");
	config_free(c);
}

static void
test_zone_details(void **state)
{
	(void)state;
	struct config *c = load(
	    "workers = 3\n"
	    "allow-query = { \"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.1\" }\n"
	    LISTS
	    "zone \"BL.Example.\" {\n"
	    "  sources = { \"b*2\", \"a=127.0.0.[2..4]*-1\" }\n"
	    "  threshold = 2\n"
	    "  answer = \"127.0.0.10\"\n"
	    "  ttl = 0\n"
	    "}\n");
	if (!c)
		fail_msg("rejected:\n%s", logbuf);
	assert_int_equal(c->workers, 3);
	assert_int_equal(c->nallow, 3);
	assert_int_equal(c->allow[2].len, 32);
	const struct config_zone *z = &c->zones[0];
	assert_string_equal(z->name, "bl.example");
	assert_int_equal(z->wirelen, 12);
	assert_memory_equal(z->wire, "\002bl\007example", 12);
	assert_int_equal(z->src[0].list, 1);	/* "b" is the second list */
	assert_int_equal(z->src[1].list, 0);
	assert_int_equal(z->src[1].weight, -1);
	assert_false(z->src[1].pat.any);
	assert_int_equal(z->threshold, 2);
	assert_int_equal(z->answer, 0x7f00000a);
	assert_true(z->has_ttl);
	assert_int_equal(z->ttl, 0);
	config_free(c);
}

static void
test_relative_list_path(void **state)
{
	(void)state;
	struct config *c = load(
	    "list \"a\" { file = \"lists/a.list\" }\n" ZONE);
	assert_non_null(c);
	/* cfgpath is /tmp/rblcache-conf-XXXXXX: its directory is /tmp */
	assert_string_equal(c->lists[0].file, "/tmp/lists/a.list");
	config_free(c);
}

/* ---- errors ---- */

static void
test_missing_file(void **state)
{
	(void)state;
	struct capture cap;
	capture_begin(&cap);
	struct config *c = config_load("/tmp/rblcache-no-such.conf");
	capture_end(&cap, logbuf, sizeof(logbuf));
	assert_null(c);
	assert_non_null(strstr(logbuf, "/tmp/rblcache-no-such.conf"));
}

static void
test_unknown_key(void **state)
{
	(void)state;
	assert_rejected_with(LISTS "bogus = 1\n" ZONE, "@3", "bogus", NULL);
	assert_rejected_with(LISTS
	    "zone \"bl.test\" { sources = { \"a\" } colour = \"red\" }\n",
	    "colour", NULL);
}

/* Comments of every kind, before an error and inside lists: errors
 * name the line they are on, and # inside a string is not a comment. */
static void
test_comments_and_lines(void **state)
{
	(void)state;
	assert_rejected_with("# one\n# two\n// three\n\nworkers = -1\n"
	    LISTS ZONE, "@5", "workers", NULL);
	assert_rejected_with("/* a block\n   over two lines */\nworkers = -1\n"
	    LISTS ZONE, "@3", NULL);
	assert_rejected_with("# c\n" LISTS "# c\nzone \"bl.test\" { sources = "
	    "{ \"nolist\" } }\n", "@5", "nolist", NULL);
	/* a zone declared in a comment is not the one the error is about */
	assert_rejected_with("# zone \"bl.test\" { sources = { \"x\" } }\n"
	    LISTS "zone \"bl.test\" { sources = { \"nolist\" } }\n", "@4",
	    NULL);
	assert_loads("listen = { \"127.0.0.1:5300\", # the v4 one\n"
	    "  \"[::1]:5300\" // and v6\n}\n" LISTS ZONE);
	struct config *c = load("state-dir = \"/tmp/a#b//c\" # here\n"
	    "control = '/tmp/x#y' /* and */\n" LISTS ZONE);
	if (!c)
		fail_msg("rejected:\n%s", logbuf);
	assert_string_equal(c->state_dir, "/tmp/a#b//c");
	assert_string_equal(c->control, "/tmp/x#y");
	config_free(c);
	/* escapes in both quotes; // inside an unquoted token */
	c = load("state-dir = 'it\\'s #1' # gone\n"
	    "control = /srv//run/ctl.sock // gone\n" LISTS ZONE);
	if (!c)
		fail_msg("rejected:\n%s", logbuf);
	assert_string_equal(c->state_dir, "it's #1");
	assert_string_equal(c->control, "/srv//run/ctl.sock");
	config_free(c);
}

static void
test_syntax_error(void **state)
{
	(void)state;
	assert_rejected_with(LISTS ZONE "}\n", "@4", NULL);
	assert_rejected_with(LISTS "zone \"bl.test\" { sources = { \"a\" } } = 3\n",
	    "@3", NULL);
	assert_rejected_with(LISTS ZONE "workers = \"many\"\n", NULL);
}

static void
test_bad_listen(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"300.1.1.1:53", "127.0.0.1:0", "127.0.0.1:65536",
		"127.0.0.1:port", "[::1", "[::1]x", "localhost:53", "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), "listen = { \"%s\" }\n" LISTS ZONE,
		    bad[i]);
		assert_rejected_with(text, "@1", "listen", NULL);
	}
	assert_rejected_with("listen = { }\n" LISTS ZONE, "listen", NULL);
	assert_loads("listen = { \"[::1]:53\", \"0.0.0.0:5353\" }\n" LISTS ZONE);
}

static void
test_bad_allow_query(void **state)
{
	(void)state;
	assert_rejected_with("allow-query = { \"10.0.0.1/8\" }\n" LISTS ZONE,
	    "@1", "10.0.0.1/8", "host bits", NULL);
	assert_rejected_with("allow-query = { \"10.0.0.0/33\" }\n" LISTS ZONE,
	    "@1", NULL);
	assert_rejected_with("allow-query = { \"2001:db8::1/32\" }\n" LISTS ZONE,
	    "@1", NULL);
	assert_rejected_with("allow-query = { \"any\" }\n" LISTS ZONE, "@1", NULL);
	assert_loads("allow-query = { \"0.0.0.0/0\", \"::/0\" }\n" LISTS ZONE);
}

/* Loads text and checks allow_drop and the rate-limit settings. */
static void
assert_acl_rl(const char *text, int drop, struct ratelimit_conf want)
{
	struct config *c = load(text);
	if (!c)
		fail_msg("rejected:\n%s\nlog:\n%s", text, logbuf);
	assert_int_equal(c->allow_drop, drop);
	assert_memory_equal(&c->ratelimit, &want, sizeof(want));
	config_free(c);
}

static void
test_allow_query_action_and_rate_limit(void **state)
{
	(void)state;
	/* defaults: refuse, rate limit off with BIND-like settings */
	assert_acl_rl(LISTS ZONE, 0, (struct ratelimit_conf){ 0, 2, 24, 56,
	    65536 });
	assert_acl_rl("allow-query-action = \"drop\"\n"
	    "rate-limit { responses-per-second = 20  slip = 0  ipv4-prefix = 32\n"
	    "  ipv6-prefix = 128  table-size = 1 }\n" LISTS ZONE, 1,
	    (struct ratelimit_conf){ 20, 0, 32, 128, 1 });
	assert_loads("allow-query-action = \"refuse\"\n" LISTS ZONE);

	assert_rejected_with("allow-query-action = \"deny\"\n" LISTS ZONE,
	    "@1", "deny", "\"refuse\" or \"drop\"", NULL);
	assert_rejected_with(LISTS ZONE "rate-limit {\n slip = 101\n}\n",
	    "@5", "slip", "0 and 100", NULL);
	assert_rejected_with(LISTS ZONE "rate-limit { ipv6-prefix = 0 }\n",
	    "@4", "ipv6-prefix", NULL);
	assert_rejected_with(LISTS ZONE
	    "rate-limit { responses-per-second = 1000001 }\n",
	    "@4", "responses-per-second", NULL);
	assert_rejected_with(LISTS ZONE "rate-limit { table-size = 1048577 }\n",
	    "@4", "table-size", NULL);
}

static void
test_zone_unknown_list(void **state)
{
	(void)state;
	assert_rejected_with(LISTS
	    "\n"
	    "zone \"bl.test\" {\n"
	    "  sources = { \"a\", \"nosuch*5\" }\n"
	    "}\n",
	    "@4", "nosuch", "no such list", NULL);
}

static void
test_upstream_sources(void **state)
{
	(void)state;
	struct config *c = load(LISTS
	    "zone \"bl.test\" {\n"
	    "  sources = { \"a*3\", \"Zen.Example=127.0.0.[2..11]*2\", \"wl.example*-5\" }\n"
	    "}\n"
	    "upstream \"zen.example\" {\n"
	    "  query-zone = \"KEY.zen.dq.example\"\n"
	    "  timeout-ms = 900\n"
	    "  error-codes = { \"127.0.0.99\", \"127.255.255.254\" }\n"
	    "  txt = false\n"
	    "}\n");
	if (!c)
		fail_msg("rejected:\n%s", logbuf);
	const struct config_zone *z = &c->zones[0];
	assert_int_equal(z->nsrc, 3);
	assert_int_equal(z->src[0].list, 0);
	assert_int_equal(z->src[0].upstream, -1);
	assert_int_equal(z->src[1].list, -1);
	assert_int_equal(z->src[2].list, -1);
	assert_true(z->src[1].upstream >= 0);
	assert_true(z->src[2].upstream >= 0);
	assert_int_not_equal(z->src[1].upstream, z->src[2].upstream);
	assert_int_equal(z->nupstream, 2);
	assert_int_equal(c->nupstreams, 2);

	const struct config_upstream *u = &c->upstreams[z->src[1].upstream];
	assert_string_equal(u->name, "zen.example");
	assert_int_equal(strcasecmp(u->query_zone, "key.zen.dq.example"), 0);
	assert_int_equal(u->timeout_ms, 900);
	assert_int_equal(u->nerror, 2);
	assert_int_equal(u->error_codes[0], 0x7f000063);
	assert_int_equal(u->error_codes[1], 0x7ffffffe);
	assert_false(u->txt);
	/* an upstream with no block of its own gets the defaults */
	u = &c->upstreams[z->src[2].upstream];
	assert_string_equal(u->name, "wl.example");
	assert_string_equal(u->query_zone, "wl.example");
	assert_int_equal(u->timeout_ms, 0);
	assert_int_equal(u->nerror, 0);
	assert_true(u->txt);
	config_free(c);
}

static void
test_bad_upstream(void **state)
{
	(void)state;
	assert_rejected_with(LISTS
	    "zone \"bl.test\" { sources = { \"u.example\" } }\n"
	    "upstream \"u.example\" { error-codes = { \"2001:db8::1\" } }\n",
	    "@4", "error-codes", NULL);
	assert_rejected_with(LISTS ZONE "upstream \"nodots\" { }\n",
	    "@4", "nodots", NULL);
	assert_rejected_with(LISTS
	    "zone \"bl.test\" { sources = { \"u.example\" } }\n"
	    "upstream \"u.example\" { query-zone = \"bad..zone\" }\n",
	    "@4", "query-zone", NULL);
	/* a zone asks at most QUERY_MAX_UPSTREAMS (8) upstream zones */
	assert_rejected_with(LISTS
	    "zone \"bl.test\" { sources = { \"u1.ex\", \"u2.ex\", \"u3.ex\","
	    " \"u4.ex\", \"u5.ex\", \"u6.ex\", \"u7.ex\", \"u8.ex\", \"u9.ex\" } }\n",
	    "@3", "at most", NULL);
	assert_loads(LISTS
	    "zone \"bl.test\" { sources = { \"u1.ex\", \"u2.ex\", \"u3.ex\","
	    " \"u4.ex\", \"u5.ex\", \"u6.ex\", \"u7.ex\", \"u8.ex\", \"u8.ex=127.0.0.2\" } }\n");
}

static void
test_duplicate_zone(void **state)
{
	(void)state;
	assert_rejected_with(LISTS ZONE ZONE, NULL);
	/* the same zone spelled differently */
	assert_rejected_with(LISTS ZONE
	    "zone \"BL.Test.\" { sources = { \"b\" } }\n",
	    "@4", "defined twice", NULL);
}

static void
test_zone_without_sources(void **state)
{
	(void)state;
	assert_rejected_with(LISTS "zone \"bl.test\" { threshold = 2 }\n",
	    "@3", "no sources", NULL);
	assert_rejected_with(LISTS "zone \"bl.test\" { sources = { } }\n",
	    "no sources", NULL);
}

static void
test_no_zone(void **state)
{
	(void)state;
	assert_rejected_with(LISTS, "no zone", NULL);
}

static void
test_bad_zone_name(void **state)
{
	(void)state;
	assert_rejected_with(LISTS "zone \"bl..test\" { sources = { \"a\" } }\n",
	    "@3", "bl..test", NULL);
	assert_rejected_with(LISTS "zone \"bl test\" { sources = { \"a\" } }\n",
	    "@3", NULL);
	assert_rejected_with(LISTS "zone \".\" { sources = { \"a\" } }\n",
	    "@3", NULL);
}

static void
test_bad_answer(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"2001:db8::1", "foo", "127.0.0.256", "127.0.0", "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), LISTS
		    "zone \"bl.test\" {\n sources = { \"a\" }\n answer = \"%s\"\n}\n",
		    bad[i]);
		assert_rejected_with(text, "answer", NULL);
	}
}

static void
test_bad_source(void **state)
{
	(void)state;
	assert_rejected_with(LISTS "zone \"bl.test\" { sources = { \"a*x\" } }\n",
	    "a*x", NULL);
	assert_rejected_with(LISTS
	    "zone \"bl.test\" { sources = { \"a=127.0.0.[9..2]\" } }\n",
	    "pattern", NULL);
}

static void
test_bad_numbers(void **state)
{
	(void)state;
	assert_rejected_with(LISTS
	    "zone \"bl.test\" { sources = { \"a\" } ttl = 604801 }\n", "ttl", NULL);
	assert_rejected_with(LISTS
	    "zone \"bl.test\" { sources = { \"a\" } ttl = -1 }\n", "ttl", NULL);
	assert_rejected_with("workers = 257\n" LISTS ZONE, "@1", "workers", NULL);
	assert_rejected_with("workers = -1\n" LISTS ZONE, "@1", "workers", NULL);
	assert_rejected_with("cache { max-memory = \"12X\" }\n" LISTS ZONE,
	    "12X", NULL);
	assert_rejected_with("cache { min-ttl = 100 max-ttl = 10 }\n" LISTS ZONE,
	    "@1", "min-ttl", NULL);
	assert_rejected_with("cache { negative-ttl = -5 }\n" LISTS ZONE,
	    "negative-ttl", NULL);
	assert_rejected_with("resolver { timeout-ms = -5 }\n" LISTS ZONE,
	    "timeout-ms", NULL);
	assert_rejected_with("redis { timeout-ms = -5 }\n" LISTS ZONE,
	    "@1", "timeout-ms", NULL);
}

/* config.h promises "file:line: what" for every error, including the
 * options of sections that exist by default (cache, resolver), whose
 * libconfuse section has no file name. */
static void
test_section_errors_have_file_line(void **state)
{
	(void)state;
	assert_rejected_with(LISTS ZONE "redis { address = \"nohost:x\" }\n",
	    "@4", "address", NULL);
	assert_rejected_with(LISTS "zone \"bl.test\" {\n sources = { \"a\" }\n"
	    " answer = \"foo\"\n}\n", "@5", "answer", NULL);
	assert_rejected_with(LISTS ZONE "cache {\n max-memory = \"12X\"\n}\n",
	    "@5", "12X", NULL);
	assert_rejected_with(LISTS ZONE "resolver { timeout-ms = -5 }\n",
	    "@4", "timeout-ms", NULL);
}

static void
test_bad_lists(void **state)
{
	(void)state;
	assert_rejected_with("list \"a\" { }\n" ZONE, "@1", "missing file", NULL);
	assert_rejected_with("list \"a.b\" { file = \"/tmp/x\" }\n"
	    "zone \"bl.test\" { sources = { \"a.b\" } }\n", "@1", "a.b", NULL);
	assert_rejected_with(LISTS "list \"a\" { file = \"/tmp/y\" }\n" ZONE,
	    NULL);
}

static void
test_redis_section(void **state)
{
	(void)state;
	struct config *c = load(LISTS ZONE
	    "redis { address = \"127.0.0.1:6380\" prefix = \"x:\" }\n");
	if (!c)
		fail_msg("rejected:\n%s", logbuf);
	assert_true(c->redis.enabled);
	assert_string_equal(c->redis.address, "127.0.0.1:6380");
	assert_string_equal(c->redis.prefix, "x:");
	config_free(c);
	assert_rejected_with(LISTS ZONE "redis { address = \"nohost:x\" }\n",
	    "address", NULL);
}

/* ---- config_parse_size ---- */

static void
test_parse_size(void **state)
{
	(void)state;
	static const struct { const char *s; uint64_t v; } good[] = {
		{ "256M", 256ull << 20 }, { "256m", 256ull << 20 },
		{ "1G", 1ull << 30 }, { "1g", 1ull << 30 },
		{ "12", 12 }, { "0", 0 }, { "4k", 4096 }, { "4K", 4096 },
		{ "65536", 65536 },
		{ "18446744073709551615", UINT64_MAX },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t v = 1234;
		if (config_parse_size(good[i].s, &v) != 0)
			fail_msg("\"%s\" rejected", good[i].s);
		assert_int_equal(v, good[i].v);
	}
	static const char *const bad[] = {
		"12X", "", "M", "-1", "+12", " 12", "12 ", "12MB", "1.5G",
		"18446744073709551616", "17179869184G", "0x10",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 1234;
		if (config_parse_size(bad[i], &v) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_int_equal(v, 1234);	/* untouched */
	}
}

/* ---- config_name_to_wire ---- */

static void
test_name_to_wire(void **state)
{
	(void)state;
	uint8_t w[300];
	static const uint8_t want[] = "\002bl\007example\003com";	/* + root */
	assert_int_equal(config_name_to_wire("Bl.Example.COM", w, sizeof(w)), 16);
	assert_memory_equal(w, want, 16);
	assert_int_equal(config_name_to_wire("bl.example.com.", w, sizeof(w)), 16);
	assert_memory_equal(w, want, 16);
	assert_int_equal(config_name_to_wire("a", w, sizeof(w)), 3);
	assert_memory_equal(w, "\001a", 3);
	assert_int_equal(config_name_to_wire("x-1_y.test", w, sizeof(w)), 12);

	assert_int_equal(config_name_to_wire(".", w, sizeof(w)), -1);
	assert_int_equal(config_name_to_wire("", w, sizeof(w)), -1);
	assert_int_equal(config_name_to_wire("a..b", w, sizeof(w)), -1);
	assert_int_equal(config_name_to_wire(".a", w, sizeof(w)), -1);
	assert_int_equal(config_name_to_wire("a b.c", w, sizeof(w)), -1);
	assert_int_equal(config_name_to_wire("a/b.c", w, sizeof(w)), -1);
	assert_int_equal(config_name_to_wire("a*.c", w, sizeof(w)), -1);
}

/* "bl.test.." has an empty label: it must not pass for "bl.test." and
 * slip past the duplicate-zone check. */
static void
test_name_to_wire_double_trailing_dot(void **state)
{
	(void)state;
	uint8_t w[300];
	assert_int_equal(config_name_to_wire("a.b..", w, sizeof(w)), -1);
	assert_int_equal(config_name_to_wire("bl.test..", w, sizeof(w)), -1);
}

static void
test_name_to_wire_limits(void **state)
{
	(void)state;
	uint8_t w[300];
	char name[400];
	/* a 63-byte label is fine, 64 is not */
	memset(name, 'a', 63);
	strcpy(name + 63, ".test");
	assert_int_equal(config_name_to_wire(name, w, sizeof(w)), 1 + 63 + 5 + 1);
	memset(name, 'a', 64);
	strcpy(name + 64, ".test");
	assert_int_equal(config_name_to_wire(name, w, sizeof(w)), -1);

	/* 255 bytes in wire format is the most: labels 63+63+63+61 */
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		int len = i < 3 ? 63 : 61;
		memset(name + n, 'a' + i, (size_t)len);
		n += (size_t)len;
		name[n++] = '.';
	}
	name[n - 1] = '\0';
	assert_int_equal(config_name_to_wire(name, w, sizeof(w)), 255);
	name[n - 1] = 'z';		/* one more byte: 256 */
	name[n] = '\0';
	assert_int_equal(config_name_to_wire(name, w, sizeof(w)), -1);

	/* the output buffer is respected */
	assert_int_equal(config_name_to_wire("ab.cd", w, 7), 7);
	assert_int_equal(config_name_to_wire("ab.cd", w, 6), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_zone_details),
		cmocka_unit_test(test_relative_list_path),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_comments_and_lines),
		cmocka_unit_test(test_bad_listen),
		cmocka_unit_test(test_bad_allow_query),
		cmocka_unit_test(test_allow_query_action_and_rate_limit),
		cmocka_unit_test(test_zone_unknown_list),
		cmocka_unit_test(test_upstream_sources),
		cmocka_unit_test(test_bad_upstream),
		cmocka_unit_test(test_duplicate_zone),
		cmocka_unit_test(test_zone_without_sources),
		cmocka_unit_test(test_no_zone),
		cmocka_unit_test(test_bad_zone_name),
		cmocka_unit_test(test_bad_answer),
		cmocka_unit_test(test_bad_source),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_section_errors_have_file_line),
		cmocka_unit_test(test_bad_lists),
		cmocka_unit_test(test_redis_section),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_name_to_wire),
		cmocka_unit_test(test_name_to_wire_double_trailing_dot),
		cmocka_unit_test(test_name_to_wire_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
