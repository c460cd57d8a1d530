/* ctlproto.c -- the control protocol's command table, request line
 * format and parser, and the value parsers both sides share.
 *
 * The parser is the one place that decides what a valid request is: the
 * daemon runs it on what arrives, rblctl on what it is about to send.
 * It never trusts the line: every byte is checked before any field is
 * echoed into an error message, and messages quote user text clipped to
 * CLIP_MAX bytes so they always fit CTL_ERR_MAX.
 */
#include "ctlproto.h"

#include <stdio.h>
#include <string.h>

#include "errbuf.h"

#define CLIP_MAX	64	/* bytes of user text quoted in a message */

const struct ctl_command ctl_commands[] = {
	{ CTL_ADD, "add", "add LIST CIDR [--for DURATION] [--reason TEXT]",
	  "add an entry to a list, for a time or for good",
	  2, 2, { CTL_ARG_NAME, CTL_ARG_CIDR }, CTL_OPT_FOR | CTL_OPT_REASON },
	{ CTL_CHECK, "check", "check IP",
	  "every zone's verdict for IP, its score and where each part came from",
	  1, 1, { CTL_ARG_IP, CTL_ARG_NONE }, 0 },
	{ CTL_DEL, "del", "del LIST CIDR",
	  "remove an entry added with add",
	  2, 2, { CTL_ARG_NAME, CTL_ARG_CIDR }, 0 },
	{ CTL_FLUSH, "flush", "flush [IP]",
	  "drop cached verdicts and upstream answers (all, or for IP)",
	  0, 1, { CTL_ARG_IP, CTL_ARG_NONE }, 0 },
	{ CTL_LIST, "list", "list LIST",
	  "print the entries of a list",
	  1, 1, { CTL_ARG_NAME, CTL_ARG_NONE }, 0 },
	{ CTL_RELOAD, "reload", "reload",
	  "re-read the configuration and every list file",
	  0, 0, { CTL_ARG_NONE, CTL_ARG_NONE }, 0 },
	{ CTL_STATS, "stats", "stats",
	  "print the daemon's counters",
	  0, 0, { CTL_ARG_NONE, CTL_ARG_NONE }, 0 },
};
const int ctl_ncommands = (int)(sizeof(ctl_commands) / sizeof(ctl_commands[0]));

/* ---- private ---- */

/* Length of the UTF-8 sequence starting at s (n bytes available), or 0
 * when it is not valid (RFC 3629 table). */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static int
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Copies user text s into out (CLIP_MAX + 8 bytes) for a message: at
 * most CLIP_MAX bytes of whole characters, "..." when cut, '?' for
 * control characters and bytes that are not UTF-8. */
static const char *
clip(const char *s, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, o = 0;
	while (i < n) {
		size_t k = utf8_seq(p + i, n - i);
		if (k == 0 || (k == 1 && is_ctl(p[i]))) {
			k = 1;
			if (o + 1 > CLIP_MAX)
				break;
			out[o++] = '?';
		} else {
			if (o + k > CLIP_MAX)
				break;
			memcpy(out + o, p + i, k);
			o += k;
		}
		i += k;
	}
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* Checks one argument for the line: 0, or -1 with err naming what. */
static int
check_field(const char *what, const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);
	if (n == 0) {
		seterr(err, errlen, "%s is empty", what);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\t' || c == '\r' || c == '\n') {
			seterr(err, errlen, "%s may not contain TAB, CR or LF", what);
			return -1;
		}
		if (is_ctl(c)) {
			seterr(err, errlen, "%s may not contain control characters",
			    what);
			return -1;
		}
	}
	if (!ctl_utf8_valid(s, n)) {
		seterr(err, errlen, "%s is not valid UTF-8", what);
		return -1;
	}
	return 0;
}

static void
valid_list(const struct ctl_command *tab, int n, char *buf, size_t size)
{
	size_t o = 0;
	buf[0] = '\0';
	for (int i = 0; i < n && o < size; i++) {
		int k = snprintf(buf + o, size - o, "%s%s", i ? ", " : "",
		    tab[i].name);
		if (k < 0)
			break;
		o += (size_t)k;
	}
}

static void
usage_err(const struct ctl_command *cmd, const char *what, char *err,
    size_t errlen)
{
	seterr(err, errlen, "%s; usage: rblctl %s", what, cmd->usage);
}

/* ---- commands ---- */

const struct ctl_command *
ctl_command_lookup(const struct ctl_command *tab, int n, const char *prefix,
    char *err, size_t errlen)
{
	const struct ctl_command *found = NULL;
	int nfound = 0;
	size_t plen = strlen(prefix);
	char valid[256], c[CLIP_MAX + 8];

	for (int i = 0; i < n && plen > 0; i++) {
		if (strcmp(tab[i].name, prefix) == 0)
			return &tab[i];
		if (strncmp(tab[i].name, prefix, plen) == 0) {
			found = &tab[i];
			nfound++;
		}
	}
	if (nfound == 1)
		return found;
	valid_list(tab, n, valid, sizeof(valid));
	if (nfound == 0) {
		seterr(err, errlen, "unknown command \"%s\"; valid: %s",
		    clip(prefix, c), valid);
		return NULL;
	}
	char amb[256];
	size_t o = 0;
	amb[0] = '\0';
	for (int i = 0; i < n && o < sizeof(amb); i++) {
		if (strncmp(tab[i].name, prefix, plen) != 0)
			continue;
		int k = snprintf(amb + o, sizeof(amb) - o, "%s%s", o ? ", " : "",
		    tab[i].name);
		if (k < 0)
			break;
		o += (size_t)k;
	}
	seterr(err, errlen, "ambiguous command \"%s\" (%s); valid: %s",
	    clip(prefix, c), amb, valid);
	return NULL;
}

const struct ctl_command *
ctl_command_match(const char *prefix, char *err, size_t errlen)
{
	return ctl_command_lookup(ctl_commands, ctl_ncommands, prefix, err,
	    errlen);
}

/* ---- requests ---- */

int
ctl_request_format(char *buf, size_t size, int json, const char *cmd,
    int argc, char *const argv[], const char *opt_for, const char *opt_reason,
    char *err, size_t errlen)
{
	size_t o = 0;
	char what[32];
	int k;

	if (check_field("the command", cmd, err, errlen) < 0)
		return -1;
	if (argc < 0 || argc > CTL_MAX_ARGS - 2) {
		const struct ctl_command *known = NULL;
		for (int i = 0; i < ctl_ncommands; i++)
			if (strcmp(ctl_commands[i].name, cmd) == 0)
				known = &ctl_commands[i];
		if (known)
			usage_err(known, "too many arguments", err, errlen);
		else
			seterr(err, errlen, "too many arguments");
		return -1;
	}
	for (int i = 0; i < argc; i++) {
		snprintf(what, sizeof(what), "argument %d", i + 1);
		if (check_field(what, argv[i], err, errlen) < 0)
			return -1;
		if (strchr(argv[i], '=')) {
			char c[CLIP_MAX + 8];
			seterr(err, errlen, "argument \"%s\" may not contain '='",
			    clip(argv[i], c));
			return -1;
		}
	}
	if (opt_for && check_field("--for", opt_for, err, errlen) < 0)
		return -1;
	if (opt_reason && check_field("--reason", opt_reason, err, errlen) < 0)
		return -1;

	k = snprintf(buf, size, "%s\t%s\t%s", CTL_PROTO, json ? "json" : "text",
	    cmd);
	if (k < 0 || (size_t)k >= size)
		goto toolong;
	o = (size_t)k;
	for (int i = 0; i < argc + 2; i++) {
		const char *key = "", *val;
		if (i < argc)
			val = argv[i];
		else if (i == argc && opt_for) {
			key = "for=";
			val = opt_for;
		} else if (i == argc + 1 && opt_reason) {
			key = "reason=";
			val = opt_reason;
		} else
			continue;
		k = snprintf(buf + o, size - o, "\t%s%s", key, val);
		if (k < 0 || (size_t)k >= size - o)
			goto toolong;
		o += (size_t)k;
	}
	if (o + 2 > size)
		goto toolong;
	buf[o++] = '\n';
	buf[o] = '\0';
	if (o > CTL_MAX_LINE)
		goto toolong;
	return (int)o;
toolong:
	seterr(err, errlen, "request too long (the limit is %d bytes)",
	    CTL_MAX_LINE);
	if (size > 0)
		buf[0] = '\0';
	return -1;
}

/* Checks positional argument s against its type, filling req. */
static int
check_arg(const struct ctl_command *cmd, enum ctl_arg_type t, const char *s,
    struct ctl_request *req, char *err, size_t errlen)
{
	char c[CLIP_MAX + 8];
	const char *why;

	switch (t) {
	case CTL_ARG_NONE:
	case CTL_ARG_NAME:
		return 0;	/* not empty and no '=': already checked */
	case CTL_ARG_CIDR:
		if (addr_parse_cidr(s, &req->cidr, 1, &why) < 0) {
			seterr(err, errlen, "%s: %s", clip(s, c), why);
			return -1;
		}
		return 0;
	case CTL_ARG_IP:
		if (addr_parse_ip(s, &req->ip) < 0) {
			if (strchr(s, '/'))
				seterr(err, errlen, "%s: %s takes one address, not "
				    "a prefix", clip(s, c), cmd->name);
			else
				seterr(err, errlen, "%s: not an IP address",
				    clip(s, c));
			return -1;
		}
		return 0;
	}
	return 0;
}

int
ctl_request_parse(char *line, size_t len, struct ctl_request *req,
    char *err, size_t errlen)
{
	char *field[3 + CTL_MAX_ARGS + 1];	/* one more says "too many" */
	int nfield = 0;
	char c[CLIP_MAX + 8];
	static const char proto[] = CTL_PROTO;
	const size_t plen = sizeof(proto) - 1;

	memset(req, 0, sizeof(*req));
	req->peer_uid = req->peer_pid = -1;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len + 1 > CTL_MAX_LINE) {
		seterr(err, errlen, "request too long");
		return -1;
	}
	if (memchr(line, '\0', len)) {
		seterr(err, errlen, "malformed request: NUL byte");
		return -1;
	}
	line[len] = '\0';

	/* the version first: a future client gets the message that helps */
	if (strncmp(line, proto, plen) != 0 ||
	    (line[plen] != '\t' && line[plen] != '\0')) {
		if (strncmp(line, "rblctl/", 7) == 0)
			seterr(err, errlen, "protocol version mismatch: daemon "
			    "speaks %s", CTL_PROTO);
		else
			seterr(err, errlen, "malformed request: not %s", CTL_PROTO);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (is_ctl(ch) && ch != '\t') {
			seterr(err, errlen, "malformed request: control character "
			    "0x%02x", ch);
			return -1;
		}
	}
	if (!ctl_utf8_valid(line, len)) {
		seterr(err, errlen, "malformed request: not UTF-8");
		return -1;
	}

	for (char *p = line; p && nfield < (int)(sizeof(field) / sizeof(field[0]));
	    nfield++) {
		field[nfield] = p;
		p = strchr(p, '\t');
		if (p)
			*p++ = '\0';
	}
	if (nfield < 2 || (strcmp(field[1], "text") != 0 &&
	    strcmp(field[1], "json") != 0)) {
		seterr(err, errlen, "malformed request: %s", nfield < 2 ?
		    "no format" : "format is neither text nor json");
		return -1;
	}
	req->json = field[1][0] == 'j';
	if (nfield < 3) {
		seterr(err, errlen, "malformed request: no command");
		return -1;
	}
	/* the full name: rblctl resolves prefixes before sending */
	for (int i = 0; i < ctl_ncommands; i++)
		if (strcmp(ctl_commands[i].name, field[2]) == 0)
			req->cmd = &ctl_commands[i];
	if (!req->cmd) {
		char valid[256];
		valid_list(ctl_commands, ctl_ncommands, valid, sizeof(valid));
		seterr(err, errlen, "unknown command \"%s\"; valid: %s",
		    clip(field[2], c), valid);
		return -1;
	}
	const struct ctl_command *cmd = req->cmd;
	if (nfield > 3 + CTL_MAX_ARGS) {
		usage_err(cmd, "too many arguments", err, errlen);
		return -1;
	}

	int npos = 0;
	for (int i = 3; i < nfield; i++) {
		char *a = field[i], *eq = strchr(a, '=');
		if (*a == '\0') {
			usage_err(cmd, "empty argument", err, errlen);
			return -1;
		}
		if (!eq) {
			if (npos < CTL_MAX_ARGS)
				req->argv[npos] = a;
			npos++;
			continue;
		}
		*eq = '\0';
		const char *val = eq + 1;
		const char **slot;
		unsigned bit;
		if (strcmp(a, "for") == 0) {
			slot = &req->opt_for;
			bit = CTL_OPT_FOR;
		} else if (strcmp(a, "reason") == 0) {
			slot = &req->opt_reason;
			bit = CTL_OPT_REASON;
		} else {
			seterr(err, errlen, "unknown option \"%s\"", clip(a, c));
			return -1;
		}
		if (!(cmd->opts & bit)) {
			char what[64];
			snprintf(what, sizeof(what), "%s does not take --%s",
			    cmd->name, a);
			usage_err(cmd, what, err, errlen);
			return -1;
		}
		if (*slot) {
			seterr(err, errlen, "--%s given twice", a);
			return -1;
		}
		if (*val == '\0') {
			seterr(err, errlen, "--%s needs a value", a);
			return -1;
		}
		*slot = val;
	}
	req->argc = npos;
	if (npos < cmd->min_args || npos > cmd->max_args) {
		usage_err(cmd, npos < cmd->min_args ? "missing arguments" :
		    "too many arguments", err, errlen);
		return -1;
	}
	for (int i = 0; i < npos; i++)
		if (check_arg(cmd, cmd->arg[i], req->argv[i], req, err,
		    errlen) < 0)
			return -1;
	if (req->opt_for && ctl_parse_duration(req->opt_for,
	    &req->for_secs) < 0) {
		seterr(err, errlen, "bad duration \"%s\": want a number with an "
		    "optional unit s, m, h, d or w (e.g. 90, 30s, 7d), more than "
		    "zero and at most 100 years", clip(req->opt_for, c));
		return -1;
	}
	return 0;
}

/* ---- values ---- */

int
ctl_parse_duration(const char *s, int64_t *secs)
{
	int64_t v = 0, mult = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > CTL_DURATION_MAX)
			return -1;	/* stop before any overflow */
		v = v * 10 + (*p - '0');
	}
	switch (*p) {
	case '\0':
		break;
	case 's': mult = 1; p++; break;
	case 'm': mult = 60; p++; break;
	case 'h': mult = 3600; p++; break;
	case 'd': mult = 86400; p++; break;
	case 'w': mult = 7 * 86400; p++; break;
	default:
		return -1;
	}
	if (*p != '\0' || v == 0 || v > CTL_DURATION_MAX / mult)
		return -1;
	*secs = v * mult;
	return 0;
}

int
ctl_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len; ) {
		size_t k = utf8_seq(p + i, len - i);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

size_t
ctl_json_escape(char *buf, size_t size, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, w = 0;	/* counted, written */
	int full = size == 0;

/* writes a whole escape or character, or nothing from here on */
#define PUT(str, n) do {						\
		size_t n_ = (n);					\
		if (!full && w + n_ < size) {				\
			memcpy(buf + w, (str), n_);			\
			w += n_;					\
		} else							\
			full = 1;					\
		o += n_;						\
	} while (0)

	for (size_t i = 0; i < len; ) {
		size_t k = utf8_seq(p + i, len - i);
		char esc[6];
		if (k == 0) {
			PUT("\\ufffd", 6);
			k = 1;
		} else if (k > 1)
			PUT(p + i, k);
		else if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			PUT(esc, 2);
		} else if (p[i] == '\n')
			PUT("\\n", 2);
		else if (p[i] == '\t')
			PUT("\\t", 2);
		else if (p[i] == '\r')
			PUT("\\r", 2);
		else if (is_ctl(p[i])) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[p[i] >> 4];
			esc[5] = hex[p[i] & 0xf];
			PUT(esc, 6);
		} else
			PUT(p + i, 1);
		i += k;
	}
#undef PUT
	if (size > 0)
		buf[w] = '\0';
	return o;
}
