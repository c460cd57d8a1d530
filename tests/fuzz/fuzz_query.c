/* fuzz_query.c -- libFuzzer harness: any packet through query_answer().
 *
 * The snapshot is built once from a small config and list written to a
 * temp dir; every input is answered over UDP and over TCP limits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "lists.h"
#include "query.h"

static struct snapshot snap;
static uint8_t out[65536];

static void
setup(void)
{
	char dir[] = "/tmp/rblcache-fuzz-XXXXXX";
	char path[256];
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/l.list", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "$1 var\n:127.0.0.3:default $ $1\n192.0.2.0/24\n!192.0.2.7\n"
	    "198.51.100.9 :4:x$$y$=\n2001:db8::/32 :2:six $\n10.0.0.0/8 %0250d\n", 7);
	fclose(f);
	snprintf(path, sizeof(path), "%s/r.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "listen = { \"127.0.0.1:5300\" }\nworkers = 1\nuser = \"root\"\n"
	    "allow-query = { \"127.0.0.0/8\", \"::1/128\" }\n"
	    "list \"l\" { file = \"l.list\" }\n"
	    "zone \"bl.test\" { sources = { \"l*2\", \"l=127.0.0.[3..4]*1\" } threshold = 2 }\n"
	    "zone \"x.bl.test\" { sources = { \"l\" } answer = \"127.0.0.9\" ttl = 60 }\n"
	    "zone \"up.test\" { sources = { \"l*1\", \"zen.example.org*3\" } threshold = 3 }\n");
	fclose(f);
	snap.cfg = config_load(path);
	if (!snap.cfg)
		abort();
	snap.cfg->refs = 1;
	snap.nlists = snap.cfg->nlists;
	snap.lists = calloc((size_t)snap.nlists, sizeof(*snap.lists));
	for (int i = 0; i < snap.nlists; i++) {
		int nerr;
		snap.lists[i] = list_load(snap.cfg->lists[i].name,
		    snap.cfg->lists[i].file, &nerr);
		if (!snap.lists[i])
			abort();
	}
	snap.serial = 1;
	snprintf(path, sizeof(path), "%s/l.list", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/r.conf", dir);
	unlink(path);
	rmdir(dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct query_stats st;
	struct ipaddr client;
	if (!ready) {
		setup();
		ready = 1;
	}
	memset(&st, 0, sizeof(st));
	addr_parse_ip("127.0.0.1", &client);
	size_t n = query_answer(&snap, data, size, &client, 1, out, &st, NULL);
	if (n > QUERY_UDP_MAX)
		abort();
	n = query_answer(&snap, data, size, &client, 0, out, &st, NULL);
	if (n > 65535)
		abort();
	/* and the upstream phases, with every lookup answered by the input */
	struct query_upstream up;
	up.phase = QUERY_ASK;
	up.n = 0;
	query_answer(&snap, data, size, &client, 1, out, &st, &up);
	if (up.n > 0) {
		up.phase = QUERY_ANSWER;
		for (int i = 0; i < up.n; i++) {
			up.l[i].state = (size > 12 && (data[12] & 1)) ? QL_DONE : QL_TIMEOUT;
			up.l[i].r.status = UPS_ANSWER;
			up.l[i].r.na = size > 20 ? data[size - 1] % (UPSTREAM_MAX_A + 1) : 1;
			for (int k = 0; k < up.l[i].r.na; k++)
				up.l[i].r.a[k] = 0x7f000000u | (size > (size_t)k ? data[k] : 2);
			up.l[i].r.ttl = 30;
			memcpy(up.l[i].r.txt, "upstream text", 14);
			up.l[i].r.txtlen = 13;
		}
		n = query_answer(&snap, data, size, &client, 1, out, &st, &up);
		if (n > QUERY_UDP_MAX)
			abort();
	}
	return 0;
}
