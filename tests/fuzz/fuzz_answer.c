/* fuzz_answer.c -- libFuzzer harness: upstream_parse_answer() on the
 * answer packets libunbound hands back (an upstream list server, or
 * anyone spoofing one, chooses their content).
 *
 * The first byte picks the question type (bit 0: A or TXT) and whether
 * the validator said bogus (bit 1); the rest is the packet.  Checks
 * beyond "no crash": the status is one of the four, at most
 * UPSTREAM_MAX_A codes, a NUL-terminated TXT of the length given with
 * no control character, a bogus answer a failure, data only in an
 * answer. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "upstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint16_t qtype = data[0] & 1 ? DNS_T_TXT : DNS_T_A;
	int bogus = (data[0] & 2) != 0;
	/* a copy of exactly the packet's size: ASan sees any read past it */
	size_t n = size - 1;
	uint8_t *pkt = malloc(n ? n : 1);
	if (!pkt)
		return 0;
	memcpy(pkt, data + 1, n);
	struct upstream_raw r;
	upstream_parse_answer(0, bogus, pkt, n, qtype, &r);
	free(pkt);
	assert(r.status == UPS_ANSWER || r.status == UPS_NODATA ||
	    r.status == UPS_NXDOMAIN || r.status == UPS_FAIL);
	assert(r.na >= 0 && r.na <= UPSTREAM_MAX_A);
	assert(r.txtlen < sizeof(r.txt) && r.txt[r.txtlen] == '\0' &&
	    strlen(r.txt) == r.txtlen);
	for (size_t i = 0; i < r.txtlen; i++)
		assert((unsigned char)r.txt[i] >= 0x20 && r.txt[i] != 0x7f);
	assert(!bogus || r.status == UPS_FAIL);
	assert(r.status == UPS_ANSWER || (r.na == 0 && r.txtlen == 0));
	assert(qtype == DNS_T_A || r.na == 0);
	return 0;
}
