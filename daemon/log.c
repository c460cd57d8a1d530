/* log.c -- stderr or syslog, one line per event. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_stderr = 1;
static int log_dbg;

void
log_init(const char *ident, int to_stderr, int debug)
{
	log_stderr = to_stderr;
	log_dbg = debug;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int
log_is_debug(void)
{
	return log_dbg;
}

static void
vlog(int pri, const char *fmt, va_list ap, const char *suffix)
{
	char msg[1024];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (suffix && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", suffix);
	if (log_stderr) {
		char line[1100];
		int len = snprintf(line, sizeof(line), "rblcached: %s\n", msg);
		if (len > (int)sizeof(line) - 1)
			len = (int)sizeof(line) - 1;
		ssize_t w = write(STDERR_FILENO, line, (size_t)len);
		(void)w;
	} else
		syslog(pri, "%s", msg);
}

#define LOGFN(name, pri, witherr)					\
void									\
name(const char *fmt, ...)						\
{									\
	int saved = errno;						\
	va_list ap;							\
	if (pri == LOG_DEBUG && !log_dbg)				\
		return;							\
	va_start(ap, fmt);						\
	vlog(pri, fmt, ap, witherr ? strerror(saved) : NULL);		\
	va_end(ap);							\
	errno = saved;							\
}

LOGFN(log_warn, LOG_WARNING, 1)
LOGFN(log_warnx, LOG_WARNING, 0)
LOGFN(log_info, LOG_INFO, 0)
LOGFN(log_debug, LOG_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
