/* lists.h -- local block/allow lists loaded from rbldnsd-syntax files.
 *
 * A struct list is one immutable snapshot of one file: a prefix trie
 * whose values index an entry table (A value and TXT template), and one
 * string pool for the texts.  It is built aside by the main thread and
 * freed whole when no snapshot refers to it any more (refs is only
 * touched by the main thread).
 *
 * Syntax (rbldnsd ip4trie/ip6trie, one entry a line):
 *   192.0.2.1                    a single address
 *   198.51.100.0/24 :127.0.0.3:Spam source $   value and TXT ($ = the IP)
 *   !198.51.100.7                exclusion (longest prefix wins)
 *   2001:db8::/32                IPv6
 *   :127.0.0.2:default text      default value for entries without one
 *   $TTL 3600                    answer TTL (also 1h, 2d)
 *   $1 text                      variable for "$1" in texts
 *   # comment                    also ';'; blank lines; CRLF accepted
 */
#ifndef RBLCACHE_LISTS_H
#define RBLCACHE_LISTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"

#define LIST_NOTXT	UINT32_MAX
#define LIST_NOENTRY	UINT32_MAX
#define LIST_DEFAULT_A	0x7f000002u	/* 127.0.0.2 */
/* Set in an entry index that belongs to the run-time (rblctl) part of a
 * list rather than its file (see policy_eval). */
#define LIST_DYN_BIT	0x80000000u

struct list_entry {
	uint32_t a;		/* A value, host order */
	uint32_t txt;		/* offset into pool, or LIST_NOTXT */
};

struct list {
	char *name;
	char *path;
	struct iptrie *trie;
	struct list_entry *entries;	/* entries[0] is the exclusion marker */
	size_t nentries;
	char *pool;
	size_t poolsize;
	uint32_t ttl;		/* $TTL, 0 when not given */
	uint32_t var[10];	/* "$N text" variables: pool offsets or LIST_NOTXT */
	/* what the file was when loaded, to notice edits */
	dev_t dev; ino_t ino; off_t size; long long mtime_ns;
	double loaded;		/* Unix time list_load() read it (metrics) */
	int refs;
};

/* Loads path as list name.  Every syntax error is reported through
 * log_warnx as "path:line: message"; with any error the whole file is
 * rejected and NULL returned (*nerrors says how many).  The caller owns
 * the result, with refs = 1. */
struct list *list_load(const char *name, const char *path, int *nerrors);

/* Parses one line of a list file into a scratch list; exposed for the
 * unit tests and the fuzzer.  Returns 0, or -1 with *err set. */
struct list_parser;
struct list_parser *list_parser_new(void);
int list_parser_line(struct list_parser *p, char *line, const char **err);
struct list *list_parser_finish(struct list_parser *p, const char *name,
    const char *path);	/* frees p; NULL when out of memory */
void list_parser_free(struct list_parser *p);

/* Adds a run-time entry: prefix c (host bits clear) answering a, with
 * txt (may be NULL or empty) as its literal TXT -- no "$" expansion.
 * Returns 0, or -1 with *err set. */
int list_parser_add(struct list_parser *p, const struct cidr *c, uint32_t a,
    const char *txt, const char **err);

/* The entry matching ip (IPv4, or IPv6 not v4-mapped), or LIST_NOENTRY
 * when no prefix covers it or the longest one is an exclusion. */
uint32_t list_lookup(const struct list *l, const struct ipaddr *ip);

/* The TXT template of an entry, or NULL. */
const char *list_txt(const struct list *l, uint32_t entry);

/* Expands a TXT template as rbldnsd does: "$" is ip's text form
 * (RFC 5952 for IPv6), "$$" a dollar, "$=" the raw template, "$N" list
 * variable N (literal when undefined, always so here), a leading '='
 * is dropped.  Writes at most min(size, 255)-1 bytes plus NUL; returns
 * the length written. */
size_t list_txt_expand(const char *tmpl, const struct ipaddr *ip, char *out,
    size_t size);

/* The same for an entry of l, with the list's $N variables.  Returns 0
 * (and writes nothing) when the entry has no text. */
size_t list_entry_txt(const struct list *l, uint32_t entry,
    const struct ipaddr *ip, char *out, size_t size);

/* True when the file on disk is no longer the one loaded (or vanished). */
int list_changed(const struct list *l);

void list_ref(struct list *l);
void list_unref(struct list *l);

#endif
