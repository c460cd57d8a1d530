/* rblctl.c -- the admin client for rblcached's control socket.
 *
 * The control protocol arrives with run-time list editing; until then
 * rblctl only says so.
 */
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		printf("usage: rblctl [-s SOCKET] COMMAND ...\n");
		return 0;
	}
	fprintf(stderr, "rblctl: the control socket is not implemented in this "
	    "version of rblcached\n");
	return 1;
}
