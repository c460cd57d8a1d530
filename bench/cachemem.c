/* cachemem.c -- the cache's memory with many distinct IPs, measured as RSS.
 *
 * Fills a cache bounded by max-memory (default 256M) with N distinct IPv4
 * addresses (default 10,000,000): for each, an A result from one of three
 * sources (one in eight with a second code, one in sixteen a TXT) and a
 * verdict, as the daemon would store them.  Prints the process's RSS and
 * peak RSS before and after, the cache's own count of bytes, entries and
 * evictions, and how far RSS grew past max-memory:
 *
 *   cachemem max_memory=268435456 ips=10000000 inserts=... entries=...
 *       evictions=... cache_bytes=... rss_before=... rss_after=...
 *       hwm_after=... rss_over_max=...
 *
 * Usage: cachemem [MAX-MEMORY] [IPS]   (sizes as in the config: 256M) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cache.h"
#include "config.h"

static long long
status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long long kb = -1;
	size_t n = strlen(field);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			kb = atoll(line + n + 1);
	fclose(f);
	return kb;
}

int
main(int argc, char **argv)
{
	uint64_t max = 256ull << 20;
	uint64_t ips = 10000000;
	if (argc > 1 && config_parse_size(argv[1], &max) < 0) {
		fprintf(stderr, "usage: cachemem [MAX-MEMORY] [IPS]\n");
		return 2;
	}
	if (argc > 2)
		ips = strtoull(argv[2], NULL, 10);
	long long before = status_kb("VmRSS");
	struct cache *c = cache_new(max);
	if (!c)
		return 1;
	struct upstream_raw r;
	memset(&r, 0, sizeof(r));
	r.status = UPS_ANSWER;
	for (uint64_t i = 0; i < ips; i++) {
		struct cache_key k;
		memset(&k, 0, sizeof(k));
		k.ip.family = AF_INET;
		uint32_t a = (uint32_t)(0x0b000000u + i * 2654435761u % 0xf0000000u);
		memcpy(k.ip.a, &a, 4);
		k.kind = CACHE_A;
		k.id = (uint8_t)(i % 3);
		r.na = 1 + (i % 8 == 0);
		r.a[0] = 0x7f000002;
		r.a[1] = 0x7f00000a;
		r.txtlen = i % 16 == 0 ? (size_t)snprintf(r.txt, sizeof(r.txt),
		    "https://check.example.org/query/ip/%u", a) : 0;
		cache_put_result(c, &k, 1, &r, 3600);
		struct cache_key v = k;
		v.kind = CACHE_VERDICT;
		v.id = 0;
		v.gen = 1;
		struct cache_verdict cv = { 1, 0x7f000002, 0 };
		cache_put_verdict(c, &v, 1, &cv, 3000);
	}
	struct cache_stats st;
	cache_stats(c, &st);
	long long after = status_kb("VmRSS"), hwm = status_kb("VmHWM");
	printf("cachemem max_memory=%llu ips=%llu inserts=%llu entries=%llu "
	    "evictions=%llu cache_bytes=%llu entry_bytes=%zu rss_before_kb=%lld "
	    "rss_after_kb=%lld hwm_kb=%lld rss_over_max_kb=%lld\n",
	    (unsigned long long)max, (unsigned long long)ips,
	    (unsigned long long)st.inserts, (unsigned long long)st.entries,
	    (unsigned long long)st.evictions, (unsigned long long)st.bytes,
	    cache_entry_bytes(), before, after, hwm,
	    hwm - (long long)(max >> 10));
	cache_free(c);
	return st.bytes <= max ? 0 : 1;
}
