/* fuzz_list.c -- libFuzzer harness: list file lines through the parser,
 * then lookups and TXT expansion on what was accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lists.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct list_parser *p = list_parser_new();
	char *buf = malloc(size + 1);
	const char *err;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (char *line = buf, *nl; line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		list_parser_line(p, line, &err);
	}
	free(buf);
	struct list *l = list_parser_finish(p, "f", "f.list");
	if (!l)
		return 0;
	struct ipaddr ip;
	char txt[256];
	for (size_t i = 0; i + 4 <= size && i < 64; i += 4) {
		memset(&ip, 0, sizeof(ip));
		ip.family = (data[i] & 1) ? AF_INET6 : AF_INET;
		memcpy(ip.a, data + i, 4);
		uint32_t e = list_lookup(l, &ip);
		if (e != LIST_NOENTRY)
			list_entry_txt(l, e, &ip, txt, sizeof(txt));
	}
	list_unref(l);
	return 0;
}
