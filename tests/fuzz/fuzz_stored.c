/* fuzz_stored.c -- libFuzzer harness: what the daemon reads back from
 * storage it shares with others: Redis cache values (another host, or
 * anyone with access to Redis, may have written them) and journal
 * records (from disk, or from Redis for shared run-time entries).
 *
 * The first byte picks the parser; the rest is the input.  Checks
 * beyond "no crash": an accepted cache value has a TTL within its
 * life, at most UPSTREAM_MAX_A codes and a NUL-terminated TXT; an
 * accepted journal record formats back to a record that parses to the
 * same entry. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "upstream.h"

static void
cache_value(const char *s, size_t n)
{
	struct upstream_raw r;
	uint32_t life = 0;
	uint32_t left = upstream_redis_decode(s, n, 1700000000, &r, &life);
	if (!left)
		return;
	assert(left <= life && r.ttl == left);
	assert(r.na >= 0 && r.na <= UPSTREAM_MAX_A);
	assert(r.txtlen < sizeof(r.txt) && r.txt[r.txtlen] == '\0');
}

static void
record(char *s)
{
	struct journal_entry e, e2;
	int del, del2;
	const char *why;
	char out[2048], again[2048];
	memset(&e, 0, sizeof(e));
	if (journal_parse(s, &e, &del, &why) < 0)
		return;
	size_t n = journal_record(out, sizeof(out), del, &e);
	assert(n > 0);
	memcpy(again, out, n + 1);
	memset(&e2, 0, sizeof(e2));
	assert(journal_parse(again, &e2, &del2, &why) == 0 && del2 == del);
	assert(strcmp(e.list, e2.list) == 0 && e.net.len == e2.net.len &&
	    memcmp(&e.net.ip.a, &e2.net.ip.a, 16) == 0);
	if (!del)
		assert(e.added == e2.added && e.expires == e2.expires &&
		    strcmp(e.origin, e2.origin) == 0 &&
		    strcmp(e.reason, e2.reason) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	char *s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] & 1)
		record(s);
	else
		cache_value(s, size - 1);
	free(s);
	return 0;
}
