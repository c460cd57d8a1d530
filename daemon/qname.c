/* qname.c -- reversed IPv4 and nibble IPv6 names to addresses. */
#include "qname.h"

#include <stdio.h>
#include <string.h>

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
parse_v4(const uint8_t *p, size_t len, struct ipaddr *ip)
{
	size_t off = 0;
	memset(ip, 0, sizeof(*ip));
	ip->family = AF_INET;
	for (int i = 3; i >= 0; i--) {
		if (off >= len)
			return QNAME_BAD;
		uint8_t l = p[off++];
		if (l < 1 || l > 3 || off + l > len)
			return QNAME_BAD;
		if (l > 1 && p[off] == '0')
			return QNAME_BAD;	/* leading zero */
		unsigned v = 0;
		for (uint8_t k = 0; k < l; k++) {
			uint8_t c = p[off + k];
			if (c < '0' || c > '9')
				return QNAME_BAD;
			v = v * 10 + (unsigned)(c - '0');
		}
		if (v > 255)
			return QNAME_BAD;
		ip->a[i] = (uint8_t)v;
		off += l;
	}
	return off == len ? QNAME_IP : QNAME_BAD;
}

static int
parse_v6(const uint8_t *p, size_t len, struct ipaddr *ip)
{
	if (len != 64)
		return QNAME_BAD;
	memset(ip, 0, sizeof(*ip));
	ip->family = AF_INET6;
	for (int i = 0; i < 32; i++) {
		if (p[2 * i] != 1)
			return QNAME_BAD;
		int v = hexval(p[2 * i + 1]);
		if (v < 0)
			return QNAME_BAD;
		/* label i is nibble 31 - i, counted from the most significant */
		int n = 31 - i;
		ip->a[n / 2] |= (uint8_t)(n % 2 ? v : v << 4);
	}
	addr_unmap_v4(ip);
	return QNAME_IP;
}

int
qname_parse_ip(const uint8_t *labels, size_t len, struct ipaddr *ip)
{
	if (len == 0)
		return QNAME_APEX;
	if (len == 64 && labels[0] == 1 && hexval(labels[1]) >= 0 &&
	    labels[2] == 1)
		return parse_v6(labels, len, ip);
	return parse_v4(labels, len, ip);
}

char *
qname_format_ip(const struct ipaddr *ip, char *buf, size_t size)
{
	if (ip->family == AF_INET) {
		snprintf(buf, size, "%u.%u.%u.%u", ip->a[3], ip->a[2], ip->a[1],
		    ip->a[0]);
		return buf;
	}
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	for (int i = 31; i >= 0 && n + 2 < size; i--) {
		uint8_t b = ip->a[i / 2];
		buf[n++] = hex[i % 2 ? b & 0xf : b >> 4];
		if (i > 0)
			buf[n++] = '.';
	}
	buf[n < size ? n : size - 1] = '\0';
	return buf;
}
