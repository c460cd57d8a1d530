/* test_ctlproto.c -- the control protocol (common/ctlproto.c), the control
 * socket server (daemon/control.c) end to end, and the rblctl binary.
 *
 * The server tests run a real control socket in a temp dir, its libev
 * loop in a second thread, and talk to it with plain socket code.  The
 * rblctl test runs the built binary found next to this one
 * (BUILD/tests/../rblctl) or at $RBLCTL, and is skipped without it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "ctlproto.h"

static const char *prog;	/* argv[0], to find rblctl */

/* ---- protocol helpers ---- */

/* Parses a copy of line (which has no LF); returns parse's result and
 * leaves the message in err. */
static char parsebuf[CTL_MAX_LINE * 2];

static int
parse(const char *line, struct ctl_request *req, char *err)
{
	size_t n = strlen(line);
	assert_true(n < sizeof(parsebuf));
	memcpy(parsebuf, line, n + 1);
	err[0] = '\0';
	return ctl_request_parse(parsebuf, n, req, err, CTL_ERR_MAX);
}

static void
parse_fails(const char *line, const char *want)
{
	struct ctl_request req;
	char err[CTL_ERR_MAX];
	if (parse(line, &req, err) == 0)
		fail_msg("accepted: %s", line);
	assert_string_equal(err, want);
}

/* ---- protocol ---- */

static void
test_roundtrip_every_command(void **state)
{
	(void)state;
	static const struct {
		const char *cmd;
		int argc;
		char *argv[2];
		const char *opt_for, *opt_reason;
		int64_t secs;
	} t[] = {
		{ "add", 2, { "block", "192.0.2.0/24" }, "7d", "spam run, see ticket #42", 604800 },
		{ "add", 2, { "block", "2001:db8::/32" }, NULL, NULL, 0 },
		{ "add", 2, { "allow", "198.51.100.7" }, "90", NULL, 90 },
		{ "add", 2, { "allow", "198.51.100.7" }, NULL, "r\xc3\xa9seau = ok", 0 },
		{ "check", 1, { "192.0.2.7" }, NULL, NULL, 0 },
		{ "check", 1, { "::ffff:127.0.0.2" }, NULL, NULL, 0 },
		{ "del", 2, { "block", "192.0.2.0/24" }, NULL, NULL, 0 },
		{ "flush", 0, { NULL }, NULL, NULL, 0 },
		{ "flush", 1, { "192.0.2.7" }, NULL, NULL, 0 },
		{ "list", 1, { "block" }, NULL, NULL, 0 },
		{ "reload", 0, { NULL }, NULL, NULL, 0 },
		{ "stats", 0, { NULL }, NULL, NULL, 0 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (int json = 0; json < 2; json++) {
			char line[CTL_MAX_LINE + 1], err[CTL_ERR_MAX];
			struct ctl_request req;
			int n = ctl_request_format(line, sizeof(line), json, t[i].cmd,
			    t[i].argc, t[i].argv, t[i].opt_for, t[i].opt_reason, err,
			    sizeof(err));
			if (n < 0)
				fail_msg("%s: %s", t[i].cmd, err);
			assert_int_equal((size_t)n, strlen(line));
			assert_int_equal(line[n - 1], '\n');
			assert_int_equal(ctl_request_parse(line, (size_t)n, &req, err,
			    sizeof(err)), 0);
			assert_int_equal(req.json, json);
			assert_string_equal(req.cmd->name, t[i].cmd);
			assert_int_equal(req.argc, t[i].argc);
			for (int k = 0; k < t[i].argc; k++)
				assert_string_equal(req.argv[k], t[i].argv[k]);
			if (t[i].opt_for)
				assert_string_equal(req.opt_for, t[i].opt_for);
			else
				assert_null(req.opt_for);
			if (t[i].opt_reason)
				assert_string_equal(req.opt_reason, t[i].opt_reason);
			else
				assert_null(req.opt_reason);
			assert_int_equal(req.for_secs, t[i].secs);
		}
	}
	/* the exact wire form */
	char line[CTL_MAX_LINE + 1], err[CTL_ERR_MAX];
	char *argv[] = { "block", "192.0.2.0/24" };
	ctl_request_format(line, sizeof(line), 0, "add", 2, argv, "7d", "x y",
	    err, sizeof(err));
	assert_string_equal(line,
	    "rblctl/1\ttext\tadd\tblock\t192.0.2.0/24\tfor=7d\treason=x y\n");

	/* parsed values */
	struct ctl_request req;
	assert_int_equal(parse("rblctl/1\ttext\tadd\tb\t10.0.0.0/8", &req, err), 0);
	assert_int_equal(req.cidr.ip.family, AF_INET);
	assert_int_equal(req.cidr.len, 8);
	assert_int_equal(req.cidr.ip.a[0], 10);
	assert_int_equal(parse("rblctl/1\tjson\tcheck\t2001:db8::1", &req, err), 0);
	assert_int_equal(req.ip.family, AF_INET6);
	/* options anywhere, a reason with '=' and blanks, LF optional */
	assert_int_equal(parse("rblctl/1\ttext\tadd\treason=a=b c\tblock\t"
	    "for=1w\t192.0.2.1\n", &req, err), 0);
	assert_int_equal(req.argc, 2);
	assert_string_equal(req.argv[0], "block");
	assert_string_equal(req.argv[1], "192.0.2.1");
	assert_string_equal(req.opt_reason, "a=b c");
	assert_int_equal(req.for_secs, 7 * 86400);
}

static void
test_prefix_match(void **state)
{
	(void)state;
	char err[CTL_ERR_MAX];
	static const struct { const char *in, *want; } ok[] = {
		{ "st", "stats" }, { "l", "list" }, { "ch", "check" },
		{ "a", "add" }, { "add", "add" }, { "d", "del" }, { "f", "flush" },
		{ "rel", "reload" }, { "stats", "stats" },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		const struct ctl_command *c = ctl_command_match(ok[i].in, err,
		    sizeof(err));
		assert_non_null(c);
		assert_string_equal(c->name, ok[i].want);
	}
	const char *valid = "valid: add, check, del, flush, list, reload, stats";
	char want[CTL_ERR_MAX];
	static const char *bad[] = { "x", "", "stats2", "ADD", "-h" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(ctl_command_match(bad[i], err, sizeof(err)));
		snprintf(want, sizeof(want), "unknown command \"%s\"; %s", bad[i],
		    valid);
		assert_string_equal(err, want);
	}
	/* user text in the message: clipped, control characters as '?' */
	assert_null(ctl_command_match("a\x1b[31m\n", err, sizeof(err)));
	assert_string_equal(err, "unknown command \"a?[31m?\"; valid: add, "
	    "check, del, flush, list, reload, stats");
	char longname[300];
	memset(longname, 'z', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_null(ctl_command_match(longname, err, sizeof(err)));
	assert_true(strlen(err) < 200);
	assert_non_null(strstr(err, "zzz...\""));

	/* ambiguity needs a table with shared prefixes */
	static const struct ctl_command tab[] = {
		{ CTL_RELOAD, "re", "re", "", 0, 0, { 0 }, 0 },
		{ CTL_RELOAD, "reload", "reload", "", 0, 0, { 0 }, 0 },
		{ CTL_RELOAD, "reset", "reset", "", 0, 0, { 0 }, 0 },
		{ CTL_STATS, "stats", "stats", "", 0, 0, { 0 }, 0 },
	};
	assert_ptr_equal(ctl_command_lookup(tab, 4, "re", err, sizeof(err)),
	    &tab[0]);	/* an exact name wins */
	assert_ptr_equal(ctl_command_lookup(tab, 4, "rel", err, sizeof(err)),
	    &tab[1]);
	assert_null(ctl_command_lookup(tab + 1, 3, "re", err, sizeof(err)));
	assert_string_equal(err, "ambiguous command \"re\" (reload, reset); "
	    "valid: reload, reset, stats");
	assert_null(ctl_command_lookup(tab, 4, "", err, sizeof(err)));
	assert_string_equal(err, "unknown command \"\"; valid: re, reload, "
	    "reset, stats");
}

static void
test_arg_counts(void **state)
{
	(void)state;
	parse_fails("rblctl/1\ttext\tadd\tblock", "missing arguments; usage: "
	    "rblctl add LIST CIDR [--for DURATION] [--reason TEXT]");
	parse_fails("rblctl/1\ttext\tadd\tblock\t192.0.2.1\t192.0.2.2",
	    "too many arguments; usage: rblctl add LIST CIDR [--for DURATION] "
	    "[--reason TEXT]");
	parse_fails("rblctl/1\ttext\tdel\tblock", "missing arguments; usage: "
	    "rblctl del LIST CIDR");
	parse_fails("rblctl/1\ttext\tlist", "missing arguments; usage: rblctl "
	    "list LIST");
	parse_fails("rblctl/1\ttext\tcheck", "missing arguments; usage: rblctl "
	    "check IP");
	parse_fails("rblctl/1\ttext\tstats\tx", "too many arguments; usage: "
	    "rblctl stats");
	parse_fails("rblctl/1\ttext\treload\tx", "too many arguments; usage: "
	    "rblctl reload");
	parse_fails("rblctl/1\ttext\tflush\t192.0.2.1\t192.0.2.2", "too many "
	    "arguments; usage: rblctl flush [IP]");
	/* more fields than any command has */
	parse_fails("rblctl/1\ttext\tstats\t1\t2\t3\t4\t5\t6\t7\t8\t9",
	    "too many arguments; usage: rblctl stats");
	parse_fails("rblctl/1\ttext\tlist\ta\tb\tc\td\te\tf\tg\th",
	    "too many arguments; usage: rblctl list LIST");
	parse_fails("rblctl/1\ttext\tlist\t\tblock", "empty argument; usage: "
	    "rblctl list LIST");
	parse_fails("rblctl/1\ttext\tlist\tblock\t", "empty argument; usage: "
	    "rblctl list LIST");

	/* the client side: format refuses what it cannot send */
	char line[CTL_MAX_LINE + 1], err[CTL_ERR_MAX];
	char *many[] = { "1", "2", "3", "4", "5", "6", "7" };
	assert_int_equal(ctl_request_format(line, sizeof(line), 0, "stats", 7,
	    many, NULL, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "too many arguments; usage: rblctl stats");
}

static void
test_options(void **state)
{
	(void)state;
	parse_fails("rblctl/1\ttext\tadd\tblock\t192.0.2.1\tfoo=bar",
	    "unknown option \"foo\"");
	parse_fails("rblctl/1\ttext\tadd\tblock\t192.0.2.1\t=x",
	    "unknown option \"\"");
	parse_fails("rblctl/1\ttext\tdel\tblock\t192.0.2.1\tfor=7d",
	    "del does not take --for; usage: rblctl del LIST CIDR");
	parse_fails("rblctl/1\ttext\tstats\treason=x",
	    "stats does not take --reason; usage: rblctl stats");
	parse_fails("rblctl/1\ttext\tadd\tblock\t192.0.2.1\tfor=7d\tfor=1d",
	    "--for given twice");
	parse_fails("rblctl/1\ttext\tadd\tblock\t192.0.2.1\treason=",
	    "--reason needs a value");
	parse_fails("rblctl/1\ttext\tadd\tblock\t192.0.2.1\tfor=7y",
	    "bad duration \"7y\": want a number with an optional unit s, m, h, "
	    "d or w (e.g. 90, 30s, 7d), more than zero and at most 100 years");
	parse_fails("rblctl/1\ttext\tadd\tblock\t192.0.2.1\tfor=0",
	    "bad duration \"0\": want a number with an optional unit s, m, h, "
	    "d or w (e.g. 90, 30s, 7d), more than zero and at most 100 years");
}

static void
test_too_long(void **state)
{
	(void)state;
	char line[CTL_MAX_LINE + 2], err[CTL_ERR_MAX];
	static char reason[CTL_MAX_LINE + 1];
	char *argv[] = { "block", "192.0.2.0/24" };
	const char *head = "rblctl/1\ttext\tadd\tblock\t192.0.2.0/24\treason=";

	/* exactly CTL_MAX_LINE bytes with the LF: accepted both ways */
	size_t rlen = CTL_MAX_LINE - strlen(head) - 1;
	memset(reason, 'r', rlen);
	reason[rlen] = '\0';
	int n = ctl_request_format(line, sizeof(line), 0, "add", 2, argv, NULL,
	    reason, err, sizeof(err));
	assert_int_equal(n, CTL_MAX_LINE);
	struct ctl_request req;
	assert_int_equal(ctl_request_parse(line, (size_t)n, &req, err,
	    sizeof(err)), 0);
	assert_int_equal(strlen(req.opt_reason), rlen);

	/* one more byte: refused both ways */
	reason[rlen] = 'r';
	reason[rlen + 1] = '\0';
	assert_int_equal(ctl_request_format(line, sizeof(line), 0, "add", 2,
	    argv, NULL, reason, err, sizeof(err)), -1);
	assert_string_equal(err, "request too long (the limit is 4096 bytes)");
	/* a too small buffer says the same, without overrunning it */
	char small[32];
	assert_int_equal(ctl_request_format(small, sizeof(small), 0, "add", 2,
	    argv, NULL, "x", err, sizeof(err)), -1);
	assert_string_equal(small, "");

	static char big[CTL_MAX_LINE + 2];
	strcpy(big, head);
	strcat(big, reason);
	strcat(big, "\n");
	assert_int_equal(strlen(big), CTL_MAX_LINE + 1);
	assert_int_equal(ctl_request_parse(big, strlen(big), &req, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "request too long");
}

static void
test_format_refuses(void **state)
{
	(void)state;
	static const struct { const char *arg, *reason, *want; } t[] = {
		{ "bl\tock", NULL, "argument 1 may not contain TAB, CR or LF" },
		{ "bl\nock", NULL, "argument 1 may not contain TAB, CR or LF" },
		{ "bl\rock", NULL, "argument 1 may not contain TAB, CR or LF" },
		{ "bl\x1bock", NULL, "argument 1 may not contain control characters" },
		{ "bl\x7fock", NULL, "argument 1 may not contain control characters" },
		{ "bl\xffock", NULL, "argument 1 is not valid UTF-8" },
		{ "", NULL, "argument 1 is empty" },
		{ "a=b", NULL, "argument \"a=b\" may not contain '='" },
		{ "block", "two\tfields", "--reason may not contain TAB, CR or LF" },
		{ "block", "two\nlines", "--reason may not contain TAB, CR or LF" },
		{ "block", "\xc0\xaf", "--reason is not valid UTF-8" },
		{ "block", "", "--reason is empty" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char line[CTL_MAX_LINE + 1], err[CTL_ERR_MAX];
		char *argv[] = { (char *)t[i].arg, "192.0.2.0/24" };
		assert_int_equal(ctl_request_format(line, sizeof(line), 0, "add", 2,
		    argv, NULL, t[i].reason, err, sizeof(err)), -1);
		assert_string_equal(err, t[i].want);
	}
	char line[CTL_MAX_LINE + 1], err[CTL_ERR_MAX];
	char *argv[] = { "block", "192.0.2.0/24" };
	assert_int_equal(ctl_request_format(line, sizeof(line), 0, "add", 2,
	    argv, "7\td", NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "--for may not contain TAB, CR or LF");
}

static void
test_malformed(void **state)
{
	(void)state;
	struct ctl_request req;
	char err[CTL_ERR_MAX];
	char nul[] = "rblctl/1\ttext\tst\0ats\n";
	assert_int_equal(ctl_request_parse(nul, sizeof(nul) - 1, &req, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "malformed request: NUL byte");

	parse_fails("", "malformed request: not rblctl/1");
	parse_fails("GET / HTTP/1.0\r", "malformed request: not rblctl/1");
	parse_fails("rblctl/2\ttext\tstats", "protocol version mismatch: daemon "
	    "speaks rblctl/1");
	parse_fails("rblctl/10\ttext\tstats", "protocol version mismatch: "
	    "daemon speaks rblctl/1");
	parse_fails("rblctl/\x01", "protocol version mismatch: daemon speaks "
	    "rblctl/1");
	parse_fails("rblctl/1", "malformed request: no format");
	parse_fails("rblctl/1\txml\tstats", "malformed request: format is "
	    "neither text nor json");
	parse_fails("rblctl/1\ttext", "malformed request: no command");
	parse_fails("rblctl/1\ttext\tstats\r", "malformed request: control "
	    "character 0x0d");
	parse_fails("rblctl/1\ttext\tlist\tbl\x1b[0mock", "malformed request: "
	    "control character 0x1b");
	parse_fails("rblctl/1\ttext\tlist\tbl\xe9", "malformed request: not "
	    "UTF-8");
	parse_fails("rblctl/1\ttext\tlist\t\xed\xa0\x80", "malformed request: "
	    "not UTF-8");
	/* the daemon wants the full name; prefixes are rblctl's */
	parse_fails("rblctl/1\ttext\tst", "unknown command \"st\"; valid: add, "
	    "check, del, flush, list, reload, stats");
	parse_fails("rblctl/1\ttext\t", "unknown command \"\"; valid: add, "
	    "check, del, flush, list, reload, stats");
}

static void
test_durations(void **state)
{
	(void)state;
	static const struct { const char *s; int64_t v; } ok[] = {
		{ "30s", 30 }, { "10m", 600 }, { "2h", 7200 }, { "7d", 604800 },
		{ "1w", 604800 }, { "90", 90 }, { "1", 1 }, { "007", 7 },
		{ "5218w", 5218LL * 604800 },
		{ "3162240000", CTL_DURATION_MAX }, { "36600d", CTL_DURATION_MAX },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t v = -1;
		if (ctl_parse_duration(ok[i].s, &v) < 0)
			fail_msg("refused: %s", ok[i].s);
		assert_int_equal(v, ok[i].v);
	}
	static const char *bad[] = {
		"", "0", "0s", "00", "-1", "+1", " 1", "1 ", "1x", "1ss", "s", "d",
		"1.5h", "1e3", "0x10", "1d2h", "3162240001", "36601d", "5230w",
		"9223372036854775807", "9223372036854775808",
		"99999999999999999999999999999", "18446744073709551616s",
		"1537228672809129302w",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 12345;
		if (ctl_parse_duration(bad[i], &v) == 0)
			fail_msg("accepted: \"%s\" = %lld", bad[i], (long long)v);
		assert_int_equal(v, 12345);
	}
}

static void
test_cidr_and_ip(void **state)
{
	(void)state;
	struct ctl_request req;
	char err[CTL_ERR_MAX];
	parse_fails("rblctl/1\ttext\tadd\tblock\t192.0.2.1/24",
	    "192.0.2.1/24: host bits set");
	parse_fails("rblctl/1\ttext\tdel\tblock\t2001:db8::1/32",
	    "2001:db8::1/32: host bits set");
	parse_fails("rblctl/1\ttext\tadd\tblock\t192.0.2.0/33",
	    "192.0.2.0/33: bad prefix length");
	parse_fails("rblctl/1\ttext\tadd\tblock\tnot-an-ip",
	    "not-an-ip: bad address");
	parse_fails("rblctl/1\ttext\tcheck\t192.0.2.0/24",
	    "192.0.2.0/24: check takes one address, not a prefix");
	parse_fails("rblctl/1\ttext\tcheck\t192.0.2.256",
	    "192.0.2.256: not an IP address");
	parse_fails("rblctl/1\ttext\tflush\tblock",
	    "block: not an IP address");
	assert_int_equal(parse("rblctl/1\ttext\tadd\tblock\t192.0.2.0/24", &req,
	    err), 0);
	assert_int_equal(parse("rblctl/1\ttext\tadd\tblock\t0.0.0.0/0", &req,
	    err), 0);
	assert_int_equal(req.cidr.len, 0);
	assert_int_equal(parse("rblctl/1\ttext\tdel\tblock\t2001:db8::/32", &req,
	    err), 0);
	assert_int_equal(req.cidr.len, 32);
	assert_int_equal(parse("rblctl/1\ttext\tadd\tblock\t192.0.2.7", &req,
	    err), 0);
	assert_int_equal(req.cidr.len, 32);
}

static void
test_json_escape(void **state)
{
	(void)state;
	static const struct { const char *in; size_t len; const char *out; } t[] = {
		{ "plain", 5, "plain" },
		{ "", 0, "" },
		{ "say \"hi\" \\o/", 12, "say \\\"hi\\\" \\\\o/" },
		{ "a\nb\tc\rd", 7, "a\\nb\\tc\\rd" },
		{ "\x01\x1f\x7f", 3, "\\u0001\\u001f\\u007f" },
		{ "nul\0x", 5, "nul\\u0000x" },
		{ "r\xc3\xa9seau \xe2\x82\xac \xf0\x9f\x98\x80", 16,
		  "r\xc3\xa9seau \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "bad\xff", 4, "bad\\ufffd" },
		{ "\xc3", 1, "\\ufffd" },			/* cut sequence */
		{ "\xc0\xaf", 2, "\\ufffd\\ufffd" },		/* overlong */
		{ "\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd" },	/* surrogate */
		{ "\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char buf[128];
		size_t n = ctl_json_escape(buf, sizeof(buf), t[i].in, t[i].len);
		assert_string_equal(buf, t[i].out);
		assert_int_equal(n, strlen(t[i].out));
		assert_int_equal(ctl_json_escape(NULL, 0, t[i].in, t[i].len), n);
	}
	/* cut: whole escapes only, always terminated */
	char buf[8];
	assert_int_equal(ctl_json_escape(buf, sizeof(buf), "ab\"cdef", 7), 8);
	assert_string_equal(buf, "ab\\\"cde");
	assert_int_equal(ctl_json_escape(buf, 4, "ab\"c", 4), 5);
	assert_string_equal(buf, "ab");
	assert_int_equal(ctl_json_escape(buf, 1, "x", 1), 1);
	assert_string_equal(buf, "");

	assert_true(ctl_utf8_valid("", 0));
	assert_true(ctl_utf8_valid("\xf4\x8f\xbf\xbf", 4));
	assert_false(ctl_utf8_valid("\xf8\x88\x80\x80\x80", 5));
	assert_false(ctl_utf8_valid("\xe0\x80\xaf", 3));
}

/* ---- control server ---- */

struct srv {
	char dir[64];
	char path[160];
	struct ev_loop *loop;
	struct control *ctl;
	ev_async stop;
	pthread_t th;
	int halted;		/* the loop thread is gone */
};

static atomic_int handled;	/* handler calls, for "nothing sent" checks */

#define BIG_LINES	500000
#define MAX_REPLY	(40u << 20)
#define BIGREQ		"rblctl/1\ttext\tlist\tbig\n"

/* One line of the "big" body: 64 bytes. */
static void
big_line(char *buf, int i)
{
	snprintf(buf, 65, "%07u 192.0.2.0/24 %-42s\n", (unsigned)i % 10000000u,
	    "some entry text");
}

static int
handler(void *arg, const struct ctl_request *req, struct ctl_out *out)
{
	(void)arg;
	atomic_fetch_add(&handled, 1);
	switch (req->cmd->id) {
	case CTL_STATS:
		if ((req->peer_uid != (long)getuid() && req->peer_uid != 65534) ||
		    req->peer_pid <= 0)
			ctl_out_printf(out, "peer uid %ld pid %ld\n", req->peer_uid,
			    req->peer_pid);
		ctl_out_printf(out, "uptime %d\n", 1);
		return 0;
	case CTL_RELOAD:
		return -1;	/* no message */
	case CTL_FLUSH:
		ctl_out_printf(out, "dropped with the error");
		ctl_out_error(out, "line one\nline\ttwo");
		return -1;
	case CTL_LIST:
		if (strcmp(req->argv[0], "slow") == 0)
			usleep(600000);	/* longer than the idle time */
		if (strcmp(req->argv[0], "big") == 0 ||
		    strcmp(req->argv[0], "slow") == 0) {
			char line[65];
			for (int i = 0; i < BIG_LINES; i++) {
				big_line(line, i);
				ctl_out_write(out, line, 64);
			}
			return 0;
		}
		if (strcmp(req->argv[0], "huge") == 0) {
			char chunk[4096];
			memset(chunk, 'h', sizeof(chunk));
			for (size_t n = 0; n <= MAX_REPLY; n += sizeof(chunk))
				ctl_out_write(out, chunk, sizeof(chunk));
			ctl_out_printf(out, "%s", "and more");
			return 0;
		}
		if (strcmp(req->argv[0], "empty") == 0)
			return 0;
		ctl_out_error(out, "no list \"%s\"", req->argv[0]);
		return -1;
	case CTL_ADD:
	case CTL_DEL:
	case CTL_CHECK:
		if (req->json) {
			ctl_out_printf(out, "{\"cmd\":");
			ctl_out_json_string(out, req->cmd->name);
			ctl_out_printf(out, ",\"reason\":");
			ctl_out_json_string(out, req->opt_reason ? req->opt_reason : "");
			ctl_out_printf(out, ",\"for\":%lld}\n",
			    (long long)req->for_secs);
			return 0;
		}
		ctl_out_printf(out, "%s", req->cmd->name);
		for (int i = 0; i < req->argc; i++)
			ctl_out_printf(out, " [%s]", req->argv[i]);
		ctl_out_printf(out, " for=%lld reason=%s\n", (long long)req->for_secs,
		    req->opt_reason ? req->opt_reason : "-");
		return 0;
	}
	return -1;
}

static void
stop_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	(void)a;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void *
loop_main(void *arg)
{
	struct srv *s = arg;
	ev_run(s->loop, 0);
	return NULL;
}

static int
srv_start(void **state, double idle)
{
	struct srv *s = calloc(1, sizeof(*s));
	char err[CTL_ERR_MAX];
	assert_non_null(s);
	strcpy(s->dir, "/tmp/rblcache-ctl-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	/* a directory that does not exist yet */
	snprintf(s->path, sizeof(s->path), "%s/run/control.sock", s->dir);
	s->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(s->loop);
	s->ctl = control_new(s->loop, s->path, (uid_t)-1, (gid_t)-1, handler,
	    NULL, err, sizeof(err));
	if (!s->ctl)
		fail_msg("control_new: %s", err);
	control_set_limits(s->ctl, idle, MAX_REPLY);
	ev_async_init(&s->stop, stop_cb);
	ev_async_start(s->loop, &s->stop);
	assert_int_equal(pthread_create(&s->th, NULL, loop_main, s), 0);
	*state = s;
	return 0;
}

static int
srv_setup(void **state)
{
	return srv_start(state, 3.0);
}

static int
srv_setup_fast(void **state)
{
	return srv_start(state, 0.3);
}

/* Stops the loop thread; the control and loop stay for the test. */
static void
srv_halt(struct srv *s)
{
	if (s->halted)
		return;
	s->halted = 1;
	ev_async_send(s->loop, &s->stop);
	pthread_join(s->th, NULL);
}

static int
srv_teardown(void **state)
{
	struct srv *s = *state;
	char sub[200];
	srv_halt(s);
	control_free(s->ctl);
	ev_async_stop(s->loop, &s->stop);
	ev_loop_destroy(s->loop);
	unlink(s->path);
	snprintf(sub, sizeof(sub), "%s/run", s->dir);
	rmdir(sub);
	rmdir(s->dir);
	free(s);
	return 0;
}

static void
sun_set(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sun->sun_path));
	memcpy(sun->sun_path, path, strlen(path));
}

static int
sock_connect(const char *path)
{
	struct sockaddr_un sun;
	sun_set(&sun, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct timeval tv = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		fail_msg("connect %s: %s", path, strerror(errno));
	return fd;
}

static void
send_all(int fd, const void *p, size_t n)
{
	const char *b = p;
	while (n > 0) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
		if (k < 0)
			fail_msg("send: %s", strerror(errno));
		b += k;
		n -= (size_t)k;
	}
}

/* Everything until EOF (ECONNRESET counts as EOF), NUL-terminated;
 * the caller frees it. */
static char *
read_all(int fd, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		if (cap - n < 65536) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		ssize_t k = read(fd, buf + n, cap - n - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == ECONNRESET)
			break;
		if (k < 0)
			fail_msg("read: %s", strerror(errno));
		if (k == 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* One request, the whole reply.  The daemon may reply and close before
 * all of a long request is sent: that ends the sending. */
static char *
exchange(const char *path, const void *req, size_t n, size_t *len)
{
	int fd = sock_connect(path);
	const char *b = req;
	while (n > 0) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
		if (k < 0 && (errno == EPIPE || errno == ECONNRESET))
			break;
		if (k < 0)
			fail_msg("send: %s", strerror(errno));
		b += k;
		n -= (size_t)k;
	}
	char *r = read_all(fd, len);
	close(fd);
	return r;
}

static void
expect_reply(const char *path, const char *req, const char *want)
{
	char *r = exchange(path, req, strlen(req), NULL);
	assert_string_equal(r, want);
	free(r);
}

static double
now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
test_ctl_replies(void **state)
{
	struct srv *s = *state;
	expect_reply(s->path, "rblctl/1\ttext\tstats\n", "ok\nuptime 1\n");
	expect_reply(s->path, "rblctl/1\ttext\tlist\tempty\n", "ok\n");
	expect_reply(s->path, "rblctl/1\ttext\tadd\tblock\t192.0.2.0/24\t"
	    "for=7d\treason=spam run\n",
	    "ok\nadd [block] [192.0.2.0/24] for=604800 reason=spam run\n");
	expect_reply(s->path, "rblctl/1\tjson\tadd\tblock\t192.0.2.0/24\t"
	    "reason=say \"hi\" \\o/\n",
	    "ok\n{\"cmd\":\"add\",\"reason\":\"say \\\"hi\\\" \\\\o/\","
	    "\"for\":0}\n");
	/* handler errors */
	expect_reply(s->path, "rblctl/1\ttext\tlist\tmissing\n",
	    "error\tno list \"missing\"\n");
	expect_reply(s->path, "rblctl/1\ttext\treload\n",
	    "error\tinternal error\n");
	expect_reply(s->path, "rblctl/1\ttext\tflush\n",
	    "error\tline one line two\n");
	/* parse errors come from the daemon too, the handler never sees them */
	int before = atomic_load(&handled);
	expect_reply(s->path, "rblctl/1\ttext\tadd\tblock\t192.0.2.1/24\n",
	    "error\t192.0.2.1/24: host bits set\n");
	expect_reply(s->path, "rblctl/1\ttext\tbogus\n", "error\tunknown "
	    "command \"bogus\"; valid: add, check, del, flush, list, reload, "
	    "stats\n");
	assert_int_equal(atomic_load(&handled), before);
	/* bytes after the request line are ignored, however many */
	static char tail[300000];
	size_t hl = strlen("rblctl/1\ttext\tstats\n");
	memcpy(tail, "rblctl/1\ttext\tstats\n", hl);
	memset(tail + hl, 'j', sizeof(tail) - hl);
	char *r = exchange(s->path, tail, sizeof(tail), NULL);
	assert_string_equal(r, "ok\nuptime 1\n");
	free(r);
	/* a request in pieces */
	int fd = sock_connect(s->path);
	send_all(fd, "rblctl/1\tte", 11);
	usleep(50000);
	send_all(fd, "xt\tsta", 6);
	usleep(50000);
	send_all(fd, "ts\n", 3);
	r = read_all(fd, NULL);
	assert_string_equal(r, "ok\nuptime 1\n");
	free(r);
	close(fd);
}

static void
test_ctl_bad_input(void **state)
{
	struct srv *s = *state;
	/* too long: no newline within 4096 bytes, however much follows */
	static char big[100000];
	memset(big, 'a', sizeof(big));
	char *r = exchange(s->path, big, 5000, NULL);
	assert_string_equal(r, "error\trequest too long\n");
	free(r);
	r = exchange(s->path, big, sizeof(big), NULL);
	assert_string_equal(r, "error\trequest too long\n");
	free(r);
	/* exactly at the limit: 4096 bytes with the LF, 4097 */
	char line[CTL_MAX_LINE + 2];
	int n = snprintf(line, sizeof(line), "rblctl/1\ttext\tstats\treason=");
	memset(line + n, 'r', sizeof(line) - (size_t)n);
	line[CTL_MAX_LINE - 1] = '\n';
	r = exchange(s->path, line, CTL_MAX_LINE, NULL);
	assert_string_equal(r, "error\tstats does not take --reason; usage: "
	    "rblctl stats\n");
	free(r);
	line[CTL_MAX_LINE - 1] = 'r';
	line[CTL_MAX_LINE] = '\n';
	r = exchange(s->path, line, CTL_MAX_LINE + 1, NULL);
	assert_string_equal(r, "error\trequest too long\n");
	free(r);

	/* garbage */
	r = exchange(s->path, "\0\x01\x02\xff binary\n", 12, NULL);
	assert_string_equal(r, "error\tmalformed request: NUL byte\n");
	free(r);
	expect_reply(s->path, "GET / HTTP/1.0\r\n\r\n",
	    "error\tmalformed request: not rblctl/1\n");
	expect_reply(s->path, "rblctl/1\ttext\tstats\xff\n",
	    "error\tmalformed request: not UTF-8\n");
	expect_reply(s->path, "rblctl/2\ttext\tstats\n",
	    "error\tprotocol version mismatch: daemon speaks rblctl/1\n");
	expect_reply(s->path, "\n", "error\tmalformed request: not rblctl/1\n");

	/* EOF before the newline */
	int fd = sock_connect(s->path);
	send_all(fd, "rblctl/1\ttext\tstats", 19);
	shutdown(fd, SHUT_WR);
	r = read_all(fd, NULL);
	assert_string_equal(r, "error\tmalformed request: no newline at the "
	    "end\n");
	free(r);
	close(fd);
	/* connect and go: nothing to answer */
	fd = sock_connect(s->path);
	close(fd);
	/* random bytes: always one error line, never a crash */
	srand(7);
	for (int i = 0; i < 200; i++) {
		char junk[512];
		size_t len = (size_t)(rand() % (int)sizeof(junk)) + 1;
		for (size_t k = 0; k < len; k++)
			junk[k] = (char)(rand() % 256);
		junk[len - 1] = '\n';
		if (i % 2)
			memcpy(junk, "rblctl/1\t", len > 9 ? 9 : len - 1);
		r = exchange(s->path, junk, len, NULL);
		if (strncmp(r, "error\t", 6) != 0 && strncmp(r, "ok\n", 3) != 0)
			fail_msg("reply to junk: %s", r);
		assert_non_null(strchr(r, '\n'));
		free(r);
	}
	expect_reply(s->path, "rblctl/1\ttext\tstats\n", "ok\nuptime 1\n");
}

static void
test_ctl_idle(void **state)
{
	struct srv *s = *state;
	/* silent client: closed without a reply */
	int fd = sock_connect(s->path);
	double t0 = now_sec();
	char *r = read_all(fd, NULL);
	double dt = now_sec() - t0;
	assert_string_equal(r, "");
	free(r);
	close(fd);
	assert_true(dt >= 0.2 && dt < 3.0);
	/* a request that stops halfway: the time is for the whole line */
	fd = sock_connect(s->path);
	t0 = now_sec();
	for (int i = 0; i < 8; i++) {
		send(fd, "r", 1, MSG_NOSIGNAL);
		usleep(60000);
	}
	r = read_all(fd, NULL);
	dt = now_sec() - t0;
	assert_string_equal(r, "");
	free(r);
	close(fd);
	assert_true(dt >= 0.2 && dt < 3.0);
	expect_reply(s->path, "rblctl/1\ttext\tstats\n", "ok\nuptime 1\n");
}

static void
check_big(const char *r, size_t len)
{
	char line[65];
	assert_int_equal(len, 3 + (size_t)BIG_LINES * 64);
	assert_memory_equal(r, "ok\n", 3);
	for (int i = 0; i < BIG_LINES; i += 9973) {
		big_line(line, i);
		assert_memory_equal(r + 3 + (size_t)i * 64, line, 64);
	}
	big_line(line, BIG_LINES - 1);
	assert_memory_equal(r + len - 64, line, 64);
}

static void
test_ctl_big_reply(void **state)
{
	struct srv *s = *state;
	size_t len;
	/* 32 MB streams out, also to a slow reader */
	char *r = exchange(s->path, BIGREQ, strlen(BIGREQ), &len);
	check_big(r, len);
	free(r);

	int fd = sock_connect(s->path);
	send_all(fd, BIGREQ, strlen(BIGREQ));
	char *buf = malloc(3 + (size_t)BIG_LINES * 64 + 1);
	size_t n = 0;
	for (int i = 0; ; i++) {
		ssize_t k = read(fd, buf + n, 1 << 20);
		if (k <= 0)
			break;
		n += (size_t)k;
		if (i % 4 == 0)
			usleep(20000);	/* longer than the idle time in total */
	}
	close(fd);
	check_big(buf, n);
	free(buf);

	/* a handler slower than the idle time is not the client's fault */
	r = exchange(s->path, "rblctl/1\ttext\tlist\tslow\n", 24, &len);
	check_big(r, len);
	free(r);

	/* past the limit: an error, not a cut body */
	expect_reply(s->path, "rblctl/1\ttext\tlist\thuge\n",
	    "error\treply too large (over 41943040 bytes)\n");
}

static void
test_ctl_reader_that_never_reads(void **state)
{
	struct srv *s = *state;
	int fd = sock_connect(s->path);
	send_all(fd, BIGREQ, strlen(BIGREQ));
	/* the daemon serves others meanwhile */
	expect_reply(s->path, "rblctl/1\ttext\tstats\n", "ok\nuptime 1\n");
	/* the reply has started; it stalls from here */
	struct pollfd p = { fd, POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 10000), 1);
	usleep(800000);
	/* and has dropped the one that never read */
	size_t len;
	char *r = read_all(fd, &len);
	assert_true(len > 0 && len < 3 + (size_t)BIG_LINES * 64);
	assert_memory_equal(r, "ok\n", 3);
	free(r);
	close(fd);
}

static void
test_ctl_many_clients(void **state)
{
	struct srv *s = *state;
	enum { N = CONTROL_MAX_CONNS + 16 };
	int fds[N];
	for (int i = 0; i < N; i++)
		fds[i] = sock_connect(s->path);
	/* every connection accepted (or refused) before any request, or
	 * finished requests would free slots for the later ones */
	for (double t0 = now_sec(); now_sec() - t0 < 10; usleep(10000)) {
		struct pollfd p[N];
		for (int i = 0; i < N; i++)
			p[i] = (struct pollfd){ fds[i], POLLIN, 0 };
		if (poll(p, N, 0) == N - CONTROL_MAX_CONNS)
			break;
	}
	for (int i = 0; i < N; i++)
		send(fds[i], "rblctl/1\ttext\tstats\n", 20, MSG_NOSIGNAL);
	int ok = 0, busy = 0;
	for (int i = 0; i < N; i++) {
		char *r = read_all(fds[i], NULL);
		if (strcmp(r, "ok\nuptime 1\n") == 0)
			ok++;
		else if (strcmp(r, "error\ttoo many control connections; try "
		    "again\n") == 0)
			busy++;
		else
			fail_msg("client %d: reply \"%s\"", i, r);
		free(r);
		close(fds[i]);
	}
	assert_int_equal(ok, CONTROL_MAX_CONNS);
	assert_int_equal(busy, 16);
	/* all slots free again */
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < CONTROL_MAX_CONNS; i++) {
			fds[i] = sock_connect(s->path);
			send_all(fds[i], "rblctl/1\ttext\tstats\n", 20);
		}
		for (int i = 0; i < CONTROL_MAX_CONNS; i++) {
			char *r = read_all(fds[i], NULL);
			assert_string_equal(r, "ok\nuptime 1\n");
			free(r);
			close(fds[i]);
		}
	}
}

static void
test_ctl_socket_file(void **state)
{
	struct srv *s = *state;
	struct stat st;
	char err[CTL_ERR_MAX], want[CTL_ERR_MAX], sub[200];

	assert_int_equal(lstat(s->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	snprintf(sub, sizeof(sub), "%s/run", s->dir);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);

	/* a live socket is not taken over */
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	assert_null(control_new(loop, s->path, (uid_t)-1, (gid_t)-1, handler,
	    NULL, err, sizeof(err)));
	snprintf(want, sizeof(want), "another rblcached is listening on %s",
	    s->path);
	assert_string_equal(err, want);
	expect_reply(s->path, "rblctl/1\ttext\tstats\n", "ok\nuptime 1\n");

	/* nor is a file that is not a socket */
	char path[220];
	snprintf(path, sizeof(path), "%s/file", sub);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_null(control_new(loop, path, (uid_t)-1, (gid_t)-1, handler, NULL,
	    err, sizeof(err)));
	snprintf(want, sizeof(want), "%s exists and is not a socket", path);
	assert_string_equal(err, want);
	unlink(path);

	/* a stale socket is replaced, and removed on free */
	snprintf(path, sizeof(path), "%s/stale.sock", sub);
	struct sockaddr_un sun;
	sun_set(&sun, path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_int_equal(lstat(path, &st), 0);
	struct control *c = control_new(loop, path, (uid_t)-1, (gid_t)-1,
	    handler, NULL, err, sizeof(err));
	if (!c)
		fail_msg("stale socket not replaced: %s", err);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0660);
	fd = sock_connect(path);	/* the new one listens */
	close(fd);
	ev_run(loop, EVRUN_NOWAIT);	/* accepts, and the conn is open */
	control_free(c);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(errno, ENOENT);

	/* owner and group for the socket and the directory it creates */
	if (geteuid() == 0) {
		snprintf(path, sizeof(path), "%s/own/ctl.sock", sub);
		c = control_new(loop, path, 65534, 65533, handler, NULL, err,
		    sizeof(err));
		if (!c)
			fail_msg("control_new: %s", err);
		assert_int_equal(lstat(path, &st), 0);
		assert_int_equal(st.st_uid, 65534);
		assert_int_equal(st.st_gid, 65533);
		snprintf(path, sizeof(path), "%s/own", sub);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_uid, 65534);
		assert_int_equal(st.st_mode & 07777, 0755);
		control_free(c);
		assert_int_equal(rmdir(path), 0);	/* the socket is gone */
	}

	/* a path too long for a socket address */
	char longpath[200];
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_null(control_new(loop, longpath, (uid_t)-1, (gid_t)-1, handler,
	    NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "too long"));
	ev_loop_destroy(loop);
}

/* ---- rblctl ---- */

struct run {
	int status;		/* exit code, or -1 */
	char *out;		/* stdout, NUL-terminated */
	size_t outlen;
	char err[4096];
};

static uid_t run_uid = (uid_t)-1;	/* run() as this user when set */

/* Runs argv with envp, collecting stdout and stderr. */
static void
run(char *const argv[], char *const envp[], struct run *r)
{
	int po[2], pe[2];
	assert_int_equal(pipe(po), 0);
	assert_int_equal(pipe(pe), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		if (run_uid != (uid_t)-1 && (setgid((gid_t)run_uid) < 0 ||
		    setuid(run_uid) < 0))
			_exit(126);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	size_t cap = 65536, errn = 0;
	r->out = malloc(cap);
	r->outlen = 0;
	struct pollfd p[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
	int open_fds = 2;
	while (open_fds > 0) {
		assert_true(poll(p, 2, 20000) > 0);
		if (p[0].revents) {
			if (cap - r->outlen < 65536) {
				cap *= 2;
				r->out = realloc(r->out, cap);
			}
			ssize_t k = read(po[0], r->out + r->outlen, cap - r->outlen - 1);
			if (k > 0)
				r->outlen += (size_t)k;
			else {
				p[0].fd = -1;
				open_fds--;
			}
		}
		if (p[1].revents) {
			char tmp[4096];
			ssize_t k = read(pe[0], tmp, sizeof(tmp));
			if (k > 0) {
				size_t c = (size_t)k < sizeof(r->err) - 1 - errn ?
				    (size_t)k : sizeof(r->err) - 1 - errn;
				memcpy(r->err + errn, tmp, c);
				errn += c;
			} else {
				p[1].fd = -1;
				open_fds--;
			}
		}
	}
	r->out[r->outlen] = '\0';
	r->err[errn] = '\0';
	close(po[0]);
	close(pe[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char rblctl[1024];

static void
expect_run(char *const argv[], char *const envp[], int status,
    const char *out, const char *err)
{
	struct run r;
	run(argv, envp, &r);
	if (r.status != status) {
		char cmd[1024];
		size_t o = 0;
		for (int i = 0; argv[i] && o < sizeof(cmd); i++)
			o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, " %s",
			    argv[i]);
		fail_msg("%s: exit %d, want %d; stderr: %s", cmd, r.status,
		    status, r.err);
	}
	if (out)
		assert_string_equal(r.out, out);
	if (err)
		assert_string_equal(r.err, err);
	free(r.out);
}

static void
test_rblctl(void **state)
{
	struct srv *s = *state;
	const char *env = getenv("RBLCTL");
	if (env)
		snprintf(rblctl, sizeof(rblctl), "%s", env);
	else {
		const char *slash = strrchr(prog, '/');
		snprintf(rblctl, sizeof(rblctl), "%.*s/../rblctl",
		    slash ? (int)(slash - prog) : 1, slash ? prog : ".");
	}
	if (access(rblctl, X_OK) < 0) {
		print_message("rblctl not found at %s (set $RBLCTL); skipped\n",
		    rblctl);
		skip();
	}
	char *p = s->path, *b = rblctl;
	char envsock[256], want[1024];
	snprintf(envsock, sizeof(envsock), "RBLCTL_SOCKET=%s", s->path);
	char *noenv[] = { NULL };
	char *withenv[] = { envsock, NULL };

	expect_run((char *[]){ b, "-s", p, "stats", NULL }, noenv, 0,
	    "uptime 1\n", "");
	expect_run((char *[]){ b, "st", NULL }, withenv, 0, "uptime 1\n", "");
	expect_run((char *[]){ b, "add", "block", "192.0.2.0/24", "--for",
	    "7d", "--reason", "spam run", "-s", p, NULL }, noenv, 0,
	    "add [block] [192.0.2.0/24] for=604800 reason=spam run\n", "");
	expect_run((char *[]){ b, "--json", "-s", p, "a", "--reason=say \"hi\"",
	    "block", "192.0.2.0/24", NULL }, noenv, 0,
	    "{\"cmd\":\"add\",\"reason\":\"say \\\"hi\\\"\",\"for\":0}\n", "");
	expect_run((char *[]){ b, "-s", p, "ch", "192.0.2.7", NULL }, noenv, 0,
	    "check [192.0.2.7] for=0 reason=-\n", "");
	expect_run((char *[]){ b, "-s", p, "list", "missing", NULL }, withenv,
	    1, "", "rblctl: no list \"missing\"\n");
	expect_run((char *[]){ b, "-s", p, "reload", NULL }, noenv, 1, "",
	    "rblctl: internal error\n");
	struct run r;
	run((char *[]){ b, "-s", p, "list", "big", NULL }, noenv, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.outlen, (size_t)BIG_LINES * 64);
	free(r.out);
	expect_run((char *[]){ b, "-h", NULL }, noenv, 0, NULL, "");
	run((char *[]){ b, "--help", NULL }, noenv, &r);
	for (int i = 0; i < ctl_ncommands; i++)
		assert_non_null(strstr(r.out, ctl_commands[i].usage));
	free(r.out);

	/* refused locally: exit 2, the daemon never asked */
	int before = atomic_load(&handled);
	expect_run((char *[]){ b, "-s", p, "add", "block", "192.0.2.1/24",
	    NULL }, noenv, 2, "", "rblctl: 192.0.2.1/24: host bits set\n");
	expect_run((char *[]){ b, "-s", p, "x", NULL }, noenv, 2, "",
	    "rblctl: unknown command \"x\"; valid: add, check, del, flush, "
	    "list, reload, stats\n");
	expect_run((char *[]){ b, "-s", p, "add", "block", NULL }, noenv, 2, "",
	    "rblctl: missing arguments; usage: rblctl add LIST CIDR "
	    "[--for DURATION] [--reason TEXT]\n");
	expect_run((char *[]){ b, "-s", p, "add", "block", "192.0.2.0/24",
	    "--reason", "a\tb", NULL }, noenv, 2, "",
	    "rblctl: --reason may not contain TAB, CR or LF\n");
	expect_run((char *[]){ b, "-s", p, "add", "block", "192.0.2.0/24",
	    "--for", "7y", NULL }, noenv, 2, "", NULL);
	expect_run((char *[]){ b, "-s", p, "del", "block", "192.0.2.0/24",
	    "--for", "7d", NULL }, noenv, 2, "", "rblctl: del does not take "
	    "--for; usage: rblctl del LIST CIDR\n");
	expect_run((char *[]){ b, "-s", p, "check", "1.2.3", NULL }, noenv, 2,
	    "", "rblctl: 1.2.3: not an IP address\n");
	expect_run((char *[]){ b, "--bogus", "stats", NULL }, noenv, 2, "",
	    "rblctl: unknown option --bogus; see rblctl -h\n");
	expect_run((char *[]){ b, "stats", "--for", NULL }, noenv, 2, "",
	    "rblctl: option --for needs a value\n");
	expect_run((char *[]){ b, NULL }, noenv, 2, "", NULL);
	assert_int_equal(atomic_load(&handled), before);

	/* cannot connect */
	char nosock[256];
	snprintf(nosock, sizeof(nosock), "%s/nope.sock", s->dir);
	snprintf(want, sizeof(want), "rblctl: cannot connect to %s: rblcached "
	    "not running? (No such file or directory)\n", nosock);
	expect_run((char *[]){ b, "-s", nosock, "stats", NULL }, withenv, 1, "",
	    want);
	/* a user outside the socket's group (root runs the tests) */
	if (geteuid() == 0) {
		chmod(s->dir, 0755);
		run_uid = 65534;
		snprintf(want, sizeof(want), "rblctl: permission denied on %s: run "
		    "as root or as a member of the socket's group\n", p);
		expect_run((char *[]){ b, "-s", p, "stats", NULL }, noenv, 1, "",
		    want);
		run_uid = (uid_t)-1;
		/* and one in it */
		assert_int_equal(chown(p, 0, 65534), 0);
		run_uid = 65534;
		expect_run((char *[]){ b, "-s", p, "stats", NULL }, noenv, 0,
		    "uptime 1\n", "");
		run_uid = (uid_t)-1;
	}

	/* a server that answers nonsense */
	srv_halt(s);
	char fake[256];
	snprintf(fake, sizeof(fake), "%s/fake.sock", s->dir);
	struct sockaddr_un sun;
	sun_set(&sun, fake);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	static const char *replies[] = { "", "hello\n", "ok", "error\n",
	    "okay\nbody" };
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int c = accept(lfd, NULL, NULL);
			char tmp[CTL_MAX_LINE];
			ssize_t k = read(c, tmp, sizeof(tmp));
			(void)k;
			k = write(c, replies[i], strlen(replies[i]));
			_exit(0);
		}
		expect_run((char *[]){ b, "-s", fake, "stats", NULL }, noenv, 1, "",
		    "rblctl: bad reply from rblcached\n");
		waitpid(pid, NULL, 0);
	}
	close(lfd);
	unlink(fake);
}

int
main(int argc, char **argv)
{
	(void)argc;
	prog = argv[0];
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_command),
		cmocka_unit_test(test_prefix_match),
		cmocka_unit_test(test_arg_counts),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_format_refuses),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_cidr_and_ip),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test_setup_teardown(test_ctl_replies, srv_setup,
		    srv_teardown),
		cmocka_unit_test_setup_teardown(test_ctl_bad_input, srv_setup,
		    srv_teardown),
		cmocka_unit_test_setup_teardown(test_ctl_idle, srv_setup_fast,
		    srv_teardown),
		cmocka_unit_test_setup_teardown(test_ctl_big_reply, srv_setup_fast,
		    srv_teardown),
		cmocka_unit_test_setup_teardown(test_ctl_reader_that_never_reads,
		    srv_setup_fast, srv_teardown),
		cmocka_unit_test_setup_teardown(test_ctl_many_clients, srv_setup,
		    srv_teardown),
		cmocka_unit_test_setup_teardown(test_ctl_socket_file, srv_setup,
		    srv_teardown),
		cmocka_unit_test_setup_teardown(test_rblctl, srv_setup,
		    srv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
