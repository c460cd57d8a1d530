/* addr.c -- IP addresses, CIDR prefixes and socket addresses.
 *
 * Thin wrappers around inet_pton/inet_ntop that add the prefix handling
 * every module needs: parsing "addr/len", masking, containment.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

int
addr_parse_ip(const char *s, struct ipaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->a) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->a) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -1;
}

static int
host_bits_set(const struct ipaddr *ip, int len)
{
	int nbytes = ip->family == AF_INET ? 4 : 16;
	for (int i = 0; i < nbytes; i++) {
		int bits = len - i * 8;
		uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 :
		    (uint8_t)(0xff << (8 - bits));
		if (ip->a[i] & ~mask)
			return 1;
	}
	return 0;
}

static void
mask_host_bits(struct ipaddr *ip, int len)
{
	int nbytes = ip->family == AF_INET ? 4 : 16;
	for (int i = 0; i < nbytes; i++) {
		int bits = len - i * 8;
		uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 :
		    (uint8_t)(0xff << (8 - bits));
		ip->a[i] &= mask;
	}
}

int
addr_parse_cidr(const char *s, struct cidr *out, int strict, const char **err)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);

	if (alen == 0 || alen >= sizeof(buf)) {
		*err = "bad address";
		return -1;
	}
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (addr_parse_ip(buf, &out->ip) < 0) {
		*err = "bad address";
		return -1;
	}
	int max = out->ip.family == AF_INET ? 32 : 128;
	out->len = max;
	if (slash) {
		const char *p = slash + 1;
		if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0')) {
			*err = "bad prefix length";
			return -1;
		}
		long v = 0;
		for (; *p >= '0' && *p <= '9' && v <= max; p++)
			v = v * 10 + (*p - '0');
		if (*p != '\0' || v > max) {
			*err = "bad prefix length";
			return -1;
		}
		out->len = (int)v;
	}
	if (host_bits_set(&out->ip, out->len)) {
		if (strict) {
			*err = "host bits set";
			return -1;
		}
		mask_host_bits(&out->ip, out->len);
	}
	return 0;
}

int
addr_parse_sockaddr(const char *s, int defport, struct sockaddr_storage *ss,
    socklen_t *sslen, const char **err)
{
	char host[64];
	const char *port = NULL;
	size_t hlen;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end) {
			*err = "missing ']'";
			return -1;
		}
		hlen = (size_t)(end - s - 1);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0') {
			*err = "junk after ']'";
			return -1;
		}
		s++;
	} else {
		const char *colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;	/* bare IPv6 address, no port */
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (colon)
			port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*err = "bad address";
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';

	long p = defport;
	if (port) {
		char *end;
		errno = 0;
		p = strtol(port, &end, 10);
		if (*port == '\0' || *end != '\0' || errno || p < 1 || p > 65535) {
			*err = "bad port";
			return -1;
		}
	}
	if (p < 1 || p > 65535) {
		*err = "missing port";
		return -1;
	}

	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		*sslen = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*sslen = sizeof(*sin6);
		return 0;
	}
	*err = "bad address";
	return -1;
}

int
addr_unmap_v4(struct ipaddr *ip)
{
	if (ip->family != AF_INET6 || memcmp(ip->a, v4mapped, 12) != 0)
		return 0;
	memmove(ip->a, ip->a + 12, 4);
	memset(ip->a + 4, 0, 12);
	ip->family = AF_INET;
	return 1;
}

int
addr_cidr_contains(const struct cidr *c, const struct ipaddr *ip)
{
	struct ipaddr x = *ip;
	if (c->ip.family == AF_INET)
		addr_unmap_v4(&x);
	if (x.family != c->ip.family)
		return 0;
	int full = c->len / 8, rest = c->len % 8;
	if (memcmp(x.a, c->ip.a, (size_t)full) != 0)
		return 0;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((x.a[full] & mask) != c->ip.a[full])
			return 0;
	}
	return 1;
}

void
addr_from_sockaddr(const struct sockaddr *sa, struct ipaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		out->family = AF_INET;
		memcpy(out->a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		out->family = AF_INET6;
		memcpy(out->a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		addr_unmap_v4(out);
	}
}

/* RFC 5952 for IPv6, as rbldnsd and Python's ipaddress print it: the
 * longest run of two or more zero groups (the first of equal runs)
 * compressed, and never an embedded dotted quad (glibc writes ::1.2.3.4
 * for ::102:304, which a TXT answer must not differ on). */
static void
ntop6(const uint8_t *a, char *out, size_t size)
{
	unsigned g[8];
	int best = -1, bestlen = 1;
	for (int i = 0; i < 8; i++)
		g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	for (int i = 0; i < 8; ) {
		int j = i;
		while (j < 8 && g[j] == 0)
			j++;
		if (j - i > bestlen) {
			best = i;
			bestlen = j - i;
		}
		i = j > i ? j : i + 1;
	}
	size_t n = 0;
	for (int i = 0; i < 8 && n + 6 < size; i++) {
		if (i == best) {
			out[n++] = ':';
			if (i == 0)
				out[n++] = ':';
			i += bestlen - 1;
			continue;
		}
		n += (size_t)snprintf(out + n, size - n, "%x%s", g[i],
		    i < 7 ? ":" : "");
	}
	out[n < size ? n : size - 1] = '\0';
}

const char *
addr_ntop(const struct ipaddr *ip, char *buf, size_t size)
{
	if (ip->family == AF_INET)
		snprintf(buf, size, "%u.%u.%u.%u", ip->a[0], ip->a[1], ip->a[2],
		    ip->a[3]);
	else
		ntop6(ip->a, buf, size);
	return buf;
}

const char *
addr_sockaddr_str(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else
		snprintf(buf, size, "?");
	return buf;
}
