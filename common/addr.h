/* addr.h -- IP addresses, CIDR prefixes and "host:port" socket addresses.
 *
 * Shared by the daemon and rblctl.  No allocation, no I/O: every function
 * works on caller-owned memory and is safe to call from any thread.
 */
#ifndef RBLCACHE_ADDR_H
#define RBLCACHE_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An IPv4 or IPv6 address; IPv4 uses the first 4 bytes of a. */
struct ipaddr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t a[16];
};

/* A prefix: address with every bit past len cleared. */
struct cidr {
	struct ipaddr ip;
	int len;		/* 0..32 or 0..128 */
};

/* Parses a dotted-quad or RFC 4291 text address.  Returns 0, or -1. */
int addr_parse_ip(const char *s, struct ipaddr *out);

/* Parses "ADDR" or "ADDR/LEN".  With strict set, an address with bits set
 * past LEN is an error ("host bits set"); without, those bits are cleared.
 * Returns 0, or -1 with *err set to a static message. */
int addr_parse_cidr(const char *s, struct cidr *out, int strict,
    const char **err);

/* Parses "1.2.3.4:53", "[::1]:53" (and "1.2.3.4" / "::1" with defport).
 * Returns 0, or -1 with *err set to a static message. */
int addr_parse_sockaddr(const char *s, int defport,
    struct sockaddr_storage *ss, socklen_t *sslen, const char **err);

/* True when ip lies inside c.  An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
 * matches IPv4 prefixes. */
int addr_cidr_contains(const struct cidr *c, const struct ipaddr *ip);

/* Converts a socket address to an ipaddr; v4-mapped IPv6 becomes IPv4. */
void addr_from_sockaddr(const struct sockaddr *sa, struct ipaddr *out);

/* If ip is ::ffff:a.b.c.d, rewrites it as IPv4 and returns 1; else 0. */
int addr_unmap_v4(struct ipaddr *ip);

/* Writes the text form into buf (at least INET6_ADDRSTRLEN bytes),
 * NUL-terminated: dotted quad, or RFC 5952 without an embedded quad. */
const char *addr_ntop(const struct ipaddr *ip, char *buf, size_t size);

/* Formats a sockaddr as "1.2.3.4:53" or "[::1]:53". */
const char *addr_sockaddr_str(const struct sockaddr *sa, char *buf,
    size_t size);

#endif
