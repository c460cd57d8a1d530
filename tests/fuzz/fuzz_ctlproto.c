/* fuzz_ctlproto.c -- libFuzzer harness: any bytes through the control
 * protocol's parsers (common/ctlproto.c).
 *
 * The input is, at once: a request line for ctl_request_parse(); a
 * string for ctl_parse_duration(), ctl_command_match() and
 * ctl_json_escape(); and, split at NUL bytes, the command line pieces
 * ctl_request_format() gets from rblctl.  Beyond "no crash", it checks
 * the properties both sides rely on: an accepted request formats back
 * into a line that parses to the same request; whatever format accepts
 * is structurally valid; every error message is one line of UTF-8 that
 * fits CTL_ERR_MAX; escaped JSON has no raw control characters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"

static void
check_err(const char *err)
{
	size_t n = strnlen(err, CTL_ERR_MAX);
	if (n == 0 || n >= CTL_ERR_MAX - 1 || strchr(err, '\n') ||
	    strchr(err, '\r') || !ctl_utf8_valid(err, n))
		abort();
}

static void
same_request(const struct ctl_request *a, const struct ctl_request *b)
{
	if (a->json != b->json || a->cmd != b->cmd || a->argc != b->argc ||
	    a->for_secs != b->for_secs || !a->opt_for != !b->opt_for ||
	    !a->opt_reason != !b->opt_reason)
		abort();
	for (int i = 0; i < a->argc; i++)
		if (strcmp(a->argv[i], b->argv[i]) != 0)
			abort();
	if ((a->opt_for && strcmp(a->opt_for, b->opt_for) != 0) ||
	    (a->opt_reason && strcmp(a->opt_reason, b->opt_reason) != 0))
		abort();
}

/* An error about the line itself rather than what it asks for. */
static int
structural(const char *err)
{
	static const char *const fixed[] = {
		"request too long",
		"protocol version mismatch: daemon speaks " CTL_PROTO,
		"malformed request: NUL byte",
		"malformed request: not " CTL_PROTO,
		"malformed request: not UTF-8",
		"malformed request: no format",
		"malformed request: format is neither text nor json",
		"malformed request: no command",
	};
	static const char ctl[] = "malformed request: control character 0x";
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (strcmp(err, fixed[i]) == 0)
			return 1;
	return strncmp(err, ctl, sizeof(ctl) - 1) == 0 &&
	    strlen(err) == sizeof(ctl) + 1;
}

/* The request line as the daemon sees it. */
static void
fuzz_parse(const uint8_t *data, size_t size)
{
	char err[CTL_ERR_MAX];
	struct ctl_request req, again;
	char *line = malloc(size + 1);
	if (!line)
		return;
	memcpy(line, data, size);
	if (ctl_request_parse(line, size, &req, err, sizeof(err)) < 0) {
		check_err(err);
		free(line);
		return;
	}
	if (req.argc < req.cmd->min_args || req.argc > req.cmd->max_args)
		abort();
	/* the canonical form of an accepted request parses the same */
	char out[CTL_MAX_LINE + 1];
	int n = ctl_request_format(out, sizeof(out), req.json, req.cmd->name,
	    req.argc, req.argv, req.opt_for, req.opt_reason, err, sizeof(err));
	if (n < 0 || n > CTL_MAX_LINE || out[n - 1] != '\n')
		abort();
	if (ctl_request_parse(out, (size_t)n, &again, err, sizeof(err)) < 0)
		abort();
	same_request(&req, &again);
	free(line);
}

/* Pieces split at NUL: FLAGS CMD ARG... [FOR] [REASON], as rblctl
 * would pass them after its own option parsing. */
static void
fuzz_format(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *piece[12];
	int npiece = 0;
	if (!buf || size < 2) {
		free(buf);
		return;
	}
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	for (char *p = buf; p < buf + size - 1 && npiece < 12;
	    p += strlen(p) + 1)
		piece[npiece++] = p;
	if (npiece == 0) {
		free(buf);
		return;
	}
	unsigned flags = data[0];
	const char *opt_for = NULL, *opt_reason = NULL;
	int argc = npiece - 1;
	if ((flags & 2) && argc > 0)
		opt_reason = piece[1 + --argc];
	if ((flags & 4) && argc > 0)
		opt_for = piece[1 + --argc];

	char line[CTL_MAX_LINE + 1], err[CTL_ERR_MAX];
	struct ctl_request req;
	const struct ctl_command *cmd = ctl_command_match(piece[0], err,
	    sizeof(err));
	if (!cmd)
		check_err(err);
	int n = ctl_request_format(line, sizeof(line), flags & 1,
	    cmd ? cmd->name : piece[0], argc, piece + 1, opt_for, opt_reason,
	    err, sizeof(err));
	if (n < 0) {
		check_err(err);
		free(buf);
		return;
	}
	if (n > CTL_MAX_LINE || (size_t)n != strlen(line))
		abort();
	/* format's output is never malformed, whatever it means */
	if (ctl_request_parse(line, (size_t)n, &req, err, sizeof(err)) < 0) {
		check_err(err);
		if (structural(err))
			abort();
	}
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse(data, size);
	fuzz_format(data, size);

	/* the input up to its first NUL as one string */
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	int64_t secs = -7;
	if (ctl_parse_duration(s, &secs) == 0) {
		if (secs <= 0 || secs > CTL_DURATION_MAX)
			abort();
	} else if (secs != -7)
		abort();

	char err[CTL_ERR_MAX];
	if (!ctl_command_match(s, err, sizeof(err)))
		check_err(err);

	/* JSON escaping of the whole input, NULs included */
	size_t need = ctl_json_escape(NULL, 0, (const char *)data, size);
	char *j = malloc(need + 1);
	if (j) {
		if (ctl_json_escape(j, need + 1, (const char *)data, size) != need ||
		    strlen(j) != need || !ctl_utf8_valid(j, need))
			abort();
		for (size_t i = 0; i < need; i++)
			if ((unsigned char)j[i] < 0x20 || j[i] == 0x7f)
				abort();
		/* cut short: still terminated, never longer than the room */
		size_t room = need / 2 + 1;
		if (ctl_json_escape(j, room, (const char *)data, size) != need ||
		    strlen(j) >= room || !ctl_utf8_valid(j, strlen(j)))
			abort();
		free(j);
	}
	free(s);
	return 0;
}
