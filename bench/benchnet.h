/* benchnet.h -- what the stand-alone bench tools share: loopback-only
 * socket addresses and a monotonic clock.  Header-only, so each tool
 * still builds from its one .c file. */
#ifndef RBLCACHE_BENCHNET_H
#define RBLCACHE_BENCHNET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Fills ss from ADDR and PORT: 127.0.0.0/8 or ::1 only (the tools send
 * traffic nowhere else).  Returns 0, or -1. */
static inline int
bench_loopback(const char *addr, int port, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127)
			return -1;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1 &&
	    IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr)) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*s6);
		return 0;
	}
	return -1;
}

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t
bench_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
