/* rblctl.c -- the admin client for rblcached's control socket.
 *
 * Parses the command line against the shared command table, checks the
 * request with the daemon's own parser (so bad input never reaches the
 * daemon, and what passes here passes there), sends one request line,
 * and copies the reply's body to stdout as it arrives.
 *
 * Exit status: 0 ok, 1 the daemon said error or could not be reached or
 * answered badly, 2 bad usage (nothing sent).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctlproto.h"

#define REPLY_TIMEOUT_SEC	30	/* without a byte from the daemon */
#define HEAD_MAX		(CTL_ERR_MAX + 64)	/* first reply line */

enum { OPT_JSON = 256, OPT_FOR, OPT_REASON };

static void
usage(FILE *f)
{
	fprintf(f, "usage: rblctl [-s SOCKET] [--json] COMMAND [ARGS] "
	    "[--for DURATION] [--reason TEXT]\n\ncommands:\n");
	for (int i = 0; i < ctl_ncommands; i++)
		fprintf(f, "  %-48s %s\n", ctl_commands[i].usage,
		    ctl_commands[i].help);
	fprintf(f, "\n"
	    "A command may be shortened to any unique prefix (st = stats).\n"
	    "DURATION: seconds, or a number with s, m, h, d or w (90, 10m, 7d).\n"
	    "\noptions:\n"
	    "  -s, --socket SOCKET  control socket (default $RBLCTL_SOCKET, "
	    "else %s)\n"
	    "  --json               reply as one JSON document\n"
	    "  -h, --help           this text\n"
	    "\nExit status: 0 ok, 1 error from or talking to rblcached, "
	    "2 bad usage.\n", CTL_DEFAULT_SOCKET);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int code, const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs("rblctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static int
connect_daemon(const char *path)
{
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		die(2, "socket path too long: %s", path);
	memcpy(sun.sun_path, path, strlen(path));

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(1, "socket: %s", strerror(errno));
	/* bounds connect() when the daemon's backlog is full, and send() */
	struct timeval tv = { REPLY_TIMEOUT_SEC, 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		if (e == EACCES || e == EPERM)
			die(1, "permission denied on %s: run as root or as a "
			    "member of the socket's group", path);
		if (e == ENOENT || e == ECONNREFUSED)
			die(1, "cannot connect to %s: rblcached not running? (%s)",
			    path, strerror(e));
		if (e == EAGAIN)
			die(1, "cannot connect to %s: rblcached is busy (no room "
			    "for a connection within %d seconds)", path,
			    REPLY_TIMEOUT_SEC);
		die(1, "cannot connect to %s: %s", path, strerror(e));
	}
	return fd;
}

static void
send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t k = send(fd, buf, len, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			/* the daemon may have answered and closed before
			 * reading (e.g. too many connections): say its words */
			int e = errno;
			struct pollfd p = { fd, POLLIN, 0 };
			if ((e == EPIPE || e == ECONNRESET) && poll(&p, 1, 1000) > 0)
				return;
			die(1, "cannot send the request to rblcached: %s",
			    strerror(e));
		}
		buf += k;
		len -= (size_t)k;
	}
	shutdown(fd, SHUT_WR);
}

/* Reads into buf; returns the byte count, 0 at EOF, -1 on error (errno). */
static ssize_t
read_timed(int fd, char *buf, size_t size)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	for (;;) {
		int rc = poll(&pfd, 1, REPLY_TIMEOUT_SEC * 1000);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			die(1, "no reply from rblcached within %d seconds",
			    REPLY_TIMEOUT_SEC);
		if (rc < 0)
			die(1, "poll: %s", strerror(errno));
		ssize_t k = read(fd, buf, size);
		if (k < 0 && errno == EINTR)
			continue;
		return k;
	}
}

static void
out_all(const char *p, size_t n)
{
	if (n > 0 && fwrite(p, 1, n, stdout) != n)
		die(1, "stdout: %s", strerror(errno));
}

/* Reads the reply; prints the body or the error.  Returns the exit code. */
static int
read_reply(int fd)
{
	char buf[65536];
	size_t have = 0;
	char *nl = NULL;

	/* the status line */
	while (!nl) {
		if (have >= HEAD_MAX)
			die(1, "bad reply from rblcached");
		ssize_t k = read_timed(fd, buf + have, HEAD_MAX - have);
		if (k <= 0) {
			if (k < 0 && have == 0)
				die(1, "connection to rblcached lost: %s",
				    strerror(errno));
			die(1, "bad reply from rblcached");
		}
		nl = memchr(buf + have, '\n', (size_t)k);
		have += (size_t)k;
	}
	*nl = '\0';
	if (strncmp(buf, "error\t", 6) == 0) {
		char *msg = buf + 6;
		size_t n = strlen(msg);
		if (n > 0 && msg[n - 1] == '\r')
			msg[n - 1] = '\0';
		die(1, "%s", msg[0] ? msg : "rblcached reported an error");
	}
	if (strcmp(buf, "ok") != 0)
		die(1, "bad reply from rblcached");

	/* the body, to EOF */
	out_all(nl + 1, have - (size_t)(nl + 1 - buf));
	for (;;) {
		ssize_t k = read_timed(fd, buf, sizeof(buf));
		if (k == 0)
			break;
		if (k < 0)
			die(1, "connection to rblcached lost: %s",
			    strerror(errno));
		out_all(buf, (size_t)k);
	}
	if (fflush(stdout) != 0)
		die(1, "stdout: %s", strerror(errno));
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "for", required_argument, NULL, OPT_FOR },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("RBLCTL_SOCKET");
	const char *opt_for = NULL, *opt_reason = NULL;
	int json = 0, ch;
	char err[CTL_ERR_MAX];

	if (!sock || !*sock)
		sock = CTL_DEFAULT_SOCKET;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":hs:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 's':
			sock = optarg;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_FOR:
			if (opt_for)
				die(2, "--for given twice");
			opt_for = optarg;
			break;
		case OPT_REASON:
			if (opt_reason)
				die(2, "--reason given twice");
			opt_reason = optarg;
			break;
		case ':':
			if (optopt == 's')
				die(2, "option -s needs a value");
			die(2, "option %s needs a value", argv[optind - 1]);
		default:
			if (optopt && optopt < 256)
				die(2, "unknown option -%c; see rblctl -h", optopt);
			die(2, "unknown option %s; see rblctl -h", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!*sock)
		die(2, "empty socket path");

	const struct ctl_command *cmd = ctl_command_match(argv[optind], err,
	    sizeof(err));
	if (!cmd)
		die(2, "%s", err);

	/* the request, checked by the parser the daemon runs */
	char line[CTL_MAX_LINE + 1], copy[CTL_MAX_LINE + 1];
	struct ctl_request req;
	int len = ctl_request_format(line, sizeof(line), json, cmd->name,
	    argc - optind - 1, argv + optind + 1, opt_for, opt_reason, err,
	    sizeof(err));
	if (len < 0)
		die(2, "%s", err);
	memcpy(copy, line, (size_t)len + 1);
	if (ctl_request_parse(copy, (size_t)len, &req, err, sizeof(err)) < 0)
		die(2, "%s", err);

	int fd = connect_daemon(sock);
	send_all(fd, line, (size_t)len);
	int rc = read_reply(fd);
	close(fd);
	return rc;
}
