/* qname.h -- the IP address encoded in a DNSBL query name.
 *
 * "2.0.0.127.zone" is 127.0.0.2; an IPv6 address is 32 nibble labels,
 * least significant first (RFC 5782 §2.4).  Strict: each IPv4 label is a
 * decimal 0-255 without leading zeros, each IPv6 label one hex digit, and
 * exactly 4 or 32 labels.  No I/O, no allocation.
 */
#ifndef RBLCACHE_QNAME_H
#define RBLCACHE_QNAME_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define QNAME_BAD	-1
#define QNAME_APEX	0
#define QNAME_IP	1

/* labels points to len bytes of wire-format labels (no terminating root
 * label): the part of the query name in front of the zone.  Returns
 * QNAME_APEX when len is 0, QNAME_IP with *ip set (a v4-mapped IPv6
 * address is returned as IPv4), or QNAME_BAD. */
int qname_parse_ip(const uint8_t *labels, size_t len, struct ipaddr *ip);

/* Writes the reversed name of ip ("2.0.0.127" or 32 nibbles) as text
 * into buf, without a trailing dot.  Returns buf. */
char *qname_format_ip(const struct ipaddr *ip, char *buf, size_t size);

#endif
