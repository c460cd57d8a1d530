/* iptrie.h -- longest-prefix match over IPv4 and IPv6 prefixes.
 *
 * Built once from a set of (prefix, value) pairs, then immutable: lookups
 * from any number of threads need no lock and allocate nothing.
 *
 * Inside, the nested prefixes are flattened into sorted disjoint ranges,
 * each carrying the value of its most specific covering prefix (rbldnsd's
 * ip4trie semantics).  A lookup is a binary search; IPv4 narrows it first
 * with a 64K-entry index on the top 16 bits, IPv6 (from 64 ranges on)
 * with one on the 16 bits after the prefix all its ranges share.  Memory:
 * 8 bytes a range for IPv4, 20 for IPv6, at most two ranges a prefix.
 */
#ifndef RBLCACHE_IPTRIE_H
#define RBLCACHE_IPTRIE_H

#include <stddef.h>
#include <stdint.h>

#define IPTRIE_NONE	UINT32_MAX	/* no prefix covers the address */

struct iptrie;
struct iptrie_builder;

/* A builder collects prefixes.  Returns NULL when out of memory. */
struct iptrie_builder *iptrie_builder_new(void);
void iptrie_builder_free(struct iptrie_builder *b);

/* Adds a prefix (bits past len must be clear; v6 is 16 bytes, network
 * order).  value must not be IPTRIE_NONE.  For a prefix added twice the
 * first value wins.  Returns 0, or -1 when out of memory. */
int iptrie_add4(struct iptrie_builder *b, uint32_t addr, int len, uint32_t value);
int iptrie_add6(struct iptrie_builder *b, const uint8_t addr[16], int len,
    uint32_t value);

/* Turns the builder's prefixes into a trie; the builder stays valid and
 * is freed by the caller.  Returns NULL when out of memory. */
struct iptrie *iptrie_build(struct iptrie_builder *b);
void iptrie_free(struct iptrie *t);

/* The value of the longest prefix covering addr, or IPTRIE_NONE. */
uint32_t iptrie_lookup4(const struct iptrie *t, uint32_t addr);
uint32_t iptrie_lookup6(const struct iptrie *t, const uint8_t addr[16]);

/* Number of prefixes, and bytes held by the built trie. */
size_t iptrie_count(const struct iptrie *t);
size_t iptrie_memory(const struct iptrie *t);

#endif
