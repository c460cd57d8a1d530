/* log.h -- the daemon's one logging module.
 *
 * stderr under -f, syslog otherwise.  Safe from any thread (one write per
 * message).  log_ratelimited() drops repeats of one message key so a
 * flood of bad input costs one line a second.
 */
#ifndef RBLCACHE_LOG_H
#define RBLCACHE_LOG_H

#include <stdarg.h>

void log_init(const char *ident, int to_stderr, int debug);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* appends strerror(errno) */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
int log_is_debug(void);

#endif
