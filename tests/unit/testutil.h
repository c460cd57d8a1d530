/* testutil.h -- helpers the cmocka unit tests share: addresses, temp
 * files, stderr capture and building lists from lines.
 *
 * Include after <cmocka.h> (and its prerequisites).  The functions are
 * static inline so a test file that uses only some of them builds
 * without unused-function warnings.
 */
#ifndef RBLCACHE_TESTUTIL_H
#define RBLCACHE_TESTUTIL_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "lists.h"

/* The address in s; a bad one fails the test. */
static inline struct ipaddr
ip(const char *s)
{
	struct ipaddr a;
	if (addr_parse_ip(s, &a) < 0)
		fail_msg("bad address in test: %s", s);
	return a;
}

/* Writes content to a new temp file; path must hold 32 bytes.  The
 * caller unlinks it. */
static inline void
write_tmp(char *path, const char *content)
{
	strcpy(path, "/tmp/rblcache-test-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t len = strlen(content);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
}

/* stderr into a temp file while a log is checked */
struct capture { int saved, fd; };

static inline void
capture_begin(struct capture *c)
{
	char path[] = "/tmp/rblcache-log-XXXXXX";
	fflush(stderr);
	c->fd = mkstemp(path);
	assert_true(c->fd >= 0);
	unlink(path);
	c->saved = dup(STDERR_FILENO);
	dup2(c->fd, STDERR_FILENO);
}

/* Restores stderr and puts what was written into out. */
static inline void
capture_end(struct capture *c, char *out, size_t size)
{
	fflush(stderr);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	ssize_t n = pread(c->fd, out, size - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(c->fd);
}

/* Parses lines (NULL-terminated) into a list; every line must parse. */
static inline struct list *
parse_lines(const char *const *lines)
{
	struct list_parser *p = list_parser_new();
	assert_non_null(p);
	for (int i = 0; lines[i]; i++) {
		char buf[1024];
		const char *err = NULL;
		snprintf(buf, sizeof(buf), "%s", lines[i]);
		if (list_parser_line(p, buf, &err) < 0)
			fail_msg("line \"%s\" rejected: %s", lines[i], err);
	}
	struct list *l = list_parser_finish(p, "test", NULL);
	assert_non_null(l);
	return l;
}

#define LIST(...) parse_lines((const char *const[]){ __VA_ARGS__, NULL })

#endif
