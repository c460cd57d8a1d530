/* ctlproto.h -- the rblctl <-> rblcached control protocol, version 1.
 *
 * Shared by the daemon (daemon/control.c) and the client (client/rblctl.c)
 * so both sides accept exactly the same requests: the client formats the
 * request line and runs the daemon's parser over it before connecting.
 *
 * One command per connection, on a Unix stream socket:
 *
 *   request   "rblctl/1" TAB FORMAT TAB COMMAND {TAB ARG} LF
 *             FORMAT is "text" or "json"; COMMAND the full command name;
 *             an ARG with '=' is an option ("for=7d", "reason=some text"),
 *             any other ARG a positional argument.  At most CTL_MAX_LINE
 *             bytes including the LF; valid UTF-8, no control characters
 *             but the TABs between fields.
 *   response  "ok" LF BODY   or   "error" TAB MESSAGE LF
 *             BODY is free text or one JSON document; MESSAGE one line.
 *             The daemon closes the connection after the response, so
 *             the body ends at EOF.
 *
 * No allocation, no I/O; everything works on caller-owned memory and is
 * safe from any thread.  Error messages are written into a caller buffer
 * (CTL_ERR_MAX bytes are always enough) as one line of valid UTF-8
 * meant for the user: "rblctl: " + message.
 */
#ifndef RBLCACHE_CTLPROTO_H
#define RBLCACHE_CTLPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define CTL_PROTO		"rblctl/1"
#define CTL_MAX_LINE		4096	/* request bytes, including the LF */
#define CTL_MAX_ARGS		8	/* argument fields (positional + options) */
#define CTL_MAX_POS		2	/* positional arguments of any command */
#define CTL_ERR_MAX		512	/* room for any error message */
#define CTL_DURATION_MAX	(100 * 366 * 86400LL)	/* --for: 100 years */
#define CTL_DEFAULT_SOCKET	"/run/rblcache/control.sock"

/* Commands, in the order of ctl_commands[] (alphabetical). */
enum ctl_cmd_id {
	CTL_ADD,
	CTL_CHECK,
	CTL_DEL,
	CTL_FLUSH,
	CTL_LIST,
	CTL_RELOAD,
	CTL_STATS,
};

/* What a positional argument must be; checked by ctl_request_parse(). */
enum ctl_arg_type {
	CTL_ARG_NONE,
	CTL_ARG_NAME,		/* a list name: not empty, no '=' */
	CTL_ARG_CIDR,		/* ADDR[/LEN], host bits clear */
	CTL_ARG_IP,		/* one address */
};

/* Options a command takes (bits of ctl_command.opts). */
#define CTL_OPT_FOR	0x1	/* --for DURATION, sent as "for=DURATION" */
#define CTL_OPT_REASON	0x2	/* --reason TEXT, sent as "reason=TEXT" */

struct ctl_command {
	enum ctl_cmd_id id;
	const char *name;	/* "add" */
	const char *usage;	/* "add LIST CIDR [--for DURATION] [--reason TEXT]" */
	const char *help;	/* one line for rblctl -h */
	int min_args, max_args;	/* positional */
	enum ctl_arg_type arg[CTL_MAX_POS];
	unsigned opts;		/* CTL_OPT_* accepted */
};

/* The command table both sides use, sorted by name. */
extern const struct ctl_command ctl_commands[];
extern const int ctl_ncommands;

/* A parsed request.  Every pointer points into the line given to
 * ctl_request_parse() and lives as long as that buffer. */
struct ctl_request {
	int json;			/* FORMAT was "json" */
	const struct ctl_command *cmd;
	int argc;			/* positional arguments, in order */
	char *argv[CTL_MAX_ARGS];
	const char *opt_for;		/* text after "for=", or NULL */
	const char *opt_reason;		/* text after "reason=", or NULL */
	int64_t for_secs;		/* opt_for in seconds; 0 without it */
	struct cidr cidr;		/* the CTL_ARG_CIDR argument, if any */
	struct ipaddr ip;		/* the CTL_ARG_IP argument, if present */
	long peer_uid, peer_pid;	/* the client, for logs: set by the
					 * daemon (SO_PEERCRED); -1 unknown */
};

/* ---- commands ---- */

/* The command named by prefix: an exact name, else the one command it is
 * a unique prefix of ("st" -> stats).  Returns NULL with err set to
 * 'unknown command "x"; valid: add, check, ...' or 'ambiguous command
 * "x" (add, ...); valid: ...' (an empty prefix is unknown). */
const struct ctl_command *ctl_command_match(const char *prefix, char *err,
    size_t errlen);

/* ctl_command_match() over another table of n commands (for tests). */
const struct ctl_command *ctl_command_lookup(const struct ctl_command *tab,
    int n, const char *prefix, char *err, size_t errlen);

/* ---- requests ---- */

/* Writes the request line for command cmd (full name), its argc
 * positional arguments and the options (NULL when absent) into buf,
 * NUL-terminated.  Refuses, with a message for the user, an argument
 * that is empty, holds TAB, CR, LF or another control character, is not
 * UTF-8, or (positional) holds '=', and a line over CTL_MAX_LINE.  Does
 * not check the command or the argument count: ctl_request_parse() does.
 * Returns the line's length (LF included, NUL not), or -1 with err set. */
int ctl_request_format(char *buf, size_t size, int json, const char *cmd,
    int argc, char *const argv[], const char *opt_for,
    const char *opt_reason, char *err, size_t errlen);

/* Parses and checks one request line of len bytes, in place: the line
 * may end in LF (dropped), and line[len] must be writable (it becomes
 * the NUL; the TABs become NULs too).  Fills req, with every positional
 * argument checked against its type and --for converted to seconds.
 * Returns 0, or -1 with err set; the message starts with "malformed
 * request: " for lines no rblctl sends, and is "request too long" or
 * "protocol version mismatch: daemon speaks rblctl/1" for those. */
int ctl_request_parse(char *line, size_t len, struct ctl_request *req,
    char *err, size_t errlen);

/* ---- values ---- */

/* Parses a duration: digits with an optional unit s, m, h, d or w
 * ("90", "30s", "10m", "2h", "7d", "1w").  Zero, signs, blanks, other
 * units and more than CTL_DURATION_MAX seconds are refused.
 * Returns 0 with *secs set, or -1. */
int ctl_parse_duration(const char *s, int64_t *secs);

/* Writes s (len bytes) as the inside of a JSON string into buf (quotes
 * not included), NUL-terminated when size > 0: '"', '\' and control
 * characters escaped, bytes that are not UTF-8 replaced by \ufffd.
 * Returns the length of the whole escaped text, as snprintf() does: the
 * output was cut when the result is >= size. */
size_t ctl_json_escape(char *buf, size_t size, const char *s, size_t len);

/* True when the len bytes at s are valid UTF-8 (no overlong forms,
 * surrogates or code points above U+10FFFF). */
int ctl_utf8_valid(const char *s, size_t len);

#endif
