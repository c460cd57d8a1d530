/* errbuf.h -- error text into a caller's buffer. */
#ifndef RBLCACHE_ERRBUF_H
#define RBLCACHE_ERRBUF_H

#include <stddef.h>

/* printf into err (errlen bytes, always terminated); nothing when err is
 * NULL or errlen 0. */
void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
