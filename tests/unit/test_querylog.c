/* test_querylog.c -- query-log lines, the worker rings, and label escaping in stats.
 *
 * The rings are drained here by querylog_free() without the writer
 * thread, so what reaches the file is exactly what the workers wrote.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "dns.h"
#include "querylog.h"
#include "stats.h"

/* ---- helpers ---- */

/* A query for name (dotted) and qtype; returns its length. */
static size_t
make_query(const char *name, uint16_t qtype, uint8_t *out)
{
	memset(out, 0, DNS_HDRLEN);
	out[5] = 1;		/* QDCOUNT */
	int w = config_name_to_wire(name, out + DNS_HDRLEN, 256);
	assert_true(w > 0);
	size_t n = DNS_HDRLEN + (size_t)w;
	out[n++] = (uint8_t)(qtype >> 8);
	out[n++] = (uint8_t)qtype;
	out[n++] = 0;
	out[n++] = 1;
	return n;
}

static struct ipaddr
v4(const char *text)
{
	struct ipaddr ip;
	const char *err;
	struct cidr c;
	assert_int_equal(addr_parse_cidr(text, &c, 1, &err), 0);
	ip = c.ip;
	return ip;
}

static const struct query_result listed = { 1, QUERY_QT_A, 0, 1,
    QUERY_VIA_LOCAL, 10 };

/* ---- lines ---- */

static void
test_line_fields(void **state)
{
	(void)state;
	uint8_t q[300];
	char line[QUERYLOG_LINE];
	size_t qlen = make_query("2.0.0.127.bl.example", DNS_T_A, q);
	q[DNS_HDRLEN + 11] = 'B';	/* logged in lower case */
	struct ipaddr c = v4("192.0.2.25");
	size_t n = querylog_format(line, sizeof(line), 1795760900123LL, q, qlen,
	    &c, &listed, 35400);
	assert_string_equal(line, "2026-11-27T06:28:20.123Z 192.0.2.25 "
	    "2.0.0.127.bl.example A NOERROR listed 10 35 local\n");
	assert_int_equal(n, strlen(line));
}

static void
test_line_without_verdict_or_score(void **state)
{
	(void)state;
	uint8_t q[300];
	char line[QUERYLOG_LINE];
	struct query_result r = { 0, QUERY_QT_OTHER, 5, -1, QUERY_VIA_NONE,
	    QUERY_NO_SCORE };
	size_t qlen = make_query("example.org", 99, q);
	struct ipaddr c = v4("127.0.0.1");
	querylog_format(line, sizeof(line), 0, q, qlen, &c, &r, 0);
	assert_string_equal(line, "1970-01-01T00:00:00.000Z 127.0.0.1 "
	    "example.org TYPE99 REFUSED - - 0 -\n");
}

static void
test_name_escapes_and_bad_question(void **state)
{
	(void)state;
	uint8_t q[300];
	char line[QUERYLOG_LINE];
	struct query_result r = { 0, QUERY_QT_OTHER, 1, -1, QUERY_VIA_NONE,
	    QUERY_NO_SCORE };
	struct ipaddr c = v4("127.0.0.1");
	size_t qlen = make_query("a-b.x", DNS_T_TXT, q);
	q[DNS_HDRLEN + 2] = '.';	/* "a.b" as one label */
	querylog_format(line, sizeof(line), 0, q, qlen, &c, &r, 0);
	assert_non_null(strstr(line, " a\\.b.x TXT FORMERR "));
	q[DNS_HDRLEN + 2] = 0x07;
	querylog_format(line, sizeof(line), 0, q, qlen, &c, &r, 0);
	assert_non_null(strstr(line, " a\\007b.x TXT "));
	/* cut in the middle of the name: no name, no type */
	querylog_format(line, sizeof(line), 0, q, DNS_HDRLEN + 3, &c, &r, 0);
	assert_non_null(strstr(line, " 127.0.0.1 - - FORMERR "));
}

/* ---- rings ---- */

static void
test_ring_reaches_file_and_drops_when_full(void **state)
{
	(void)state;
	char path[] = "/tmp/rblcache-qlog-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct querylog *ql = querylog_new(path, 2);
	assert_non_null(ql);
	uint8_t q[300];
	size_t qlen = make_query("2.0.0.127.bl.example", DNS_T_A, q);
	struct ipaddr c = v4("192.0.2.1");
	struct query_stats st;
	memset(&st, 0, sizeof(st));
	querylog_write(ql, 0, q, qlen, &c, &listed, 1000, &st);
	querylog_write(ql, 1, q, qlen, &c, &listed, 2000, &st);
	assert_int_equal(st.qlog_lines, 2);
	/* nobody drains: worker 0's ring fills, then lines are dropped */
	char line[QUERYLOG_LINE];
	size_t len = querylog_format(line, sizeof(line), 0, q, qlen, &c, &listed,
	    1000);
	uint64_t fits = QUERYLOG_RING / len;
	for (uint64_t i = 0; i < fits + 10; i++)
		querylog_write(ql, 0, q, qlen, &c, &listed, 1000, &st);
	assert_true(st.qlog_dropped >= 10 && st.qlog_dropped <= 12);
	uint64_t written = st.qlog_lines;
	querylog_free(ql);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	uint64_t nl = 0;
	int ch;
	while ((ch = fgetc(f)) != EOF)
		nl += ch == '\n';
	fclose(f);
	unlink(path);
	assert_int_equal(nl, written);
}

/* ---- stats: label escaping ---- */

static void
test_label_values_escaped(void **state)
{
	(void)state;
	struct stats_snapshot s;
	struct stats_list l = { "we\"i\\rd\n", 3, 1795760900.5 };
	size_t len;
	memset(&s, 0, sizeof(s));
	s.lists = &l;
	s.nlists = 1;
	char *text = stats_render(&s, STATS_PROMETHEUS, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "rblcache_list_entries{list=\"we\\\"i\\\\rd"
	    "\\n\"} 3\n"));
	assert_non_null(strstr(text, "rblcache_list_reload_timestamp_seconds"
	    "{list=\"we\\\"i\\\\rd\\n\"} 1795760900.5\n"));
	free(text);
	text = stats_render(&s, STATS_JSON, &len);
	assert_non_null(text);
	/* the same name as text, as a JSON key */
	assert_non_null(strstr(text, "\"list_entries{list=\\\"we\\\\\\\"i"));
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_fields),
		cmocka_unit_test(test_line_without_verdict_or_score),
		cmocka_unit_test(test_name_escapes_and_bad_question),
		cmocka_unit_test(test_ring_reaches_file_and_drops_when_full),
		cmocka_unit_test(test_label_values_escaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
