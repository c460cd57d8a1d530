/* fuzz_config.c -- libFuzzer harness: any rblcache.conf through
 * config_load(), then the list loading that `rblcached -t` does.
 *
 * config_load() takes a path (libconfuse reads the file, and the
 * declaration lines are looked up in it again), so each input is written
 * to DIR/rblcache.conf in a directory made once under /dev/shm (a tmpfs:
 * no disk I/O per execution).  Two small list files sit next to it; a
 * config naming one of them ("block.list", "allow.list", relative or
 * absolute) has it loaded as -t would.  Other files are never opened
 * by the harness: a fuzzed config naming /dev/zero must not hang it.
 *
 * Every error config_load() reports goes to the log (stderr): it is
 * silenced while the input is parsed, and sanitizer reports are sent to
 * the original stderr so a crash is still explained.  Set
 * FUZZ_CONFIG_VERBOSE=1 to see the log.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "lists.h"

/* sanitizer_common's hook; absent from a build without sanitizers */
void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

static char dir[64];
static char conf[PATH_MAX];
static int devnull = -1, saved_stderr = -1;

static void
write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) < 0)
		abort();
}

static void
cleanup(void)
{
	char p[PATH_MAX];
	static const char *names[] = { "rblcache.conf", "block.list", "allow.list" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void
setup(void)
{
	char p[PATH_MAX];
	snprintf(dir, sizeof(dir), "/dev/shm/rblcache-fuzz-config-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
	snprintf(conf, sizeof(conf), "%s/rblcache.conf", dir);
	snprintf(p, sizeof(p), "%s/block.list", dir);
	static const char block[] = "$TTL 600\n:127.0.0.2:Listed: $\n"
	    "192.0.2.0/24\n!192.0.2.7\n198.51.100.9 :4:spam\n2001:db8::/32\n";
	write_file(p, block, sizeof(block) - 1);
	snprintf(p, sizeof(p), "%s/allow.list", dir);
	static const char allow[] = "203.0.113.0/24 :127.0.10.1:partner\n";
	write_file(p, allow, sizeof(allow) - 1);
	const char *v = getenv("FUZZ_CONFIG_VERBOSE");
	if (v && *v == '1')
		return;
	devnull = open("/dev/null", O_WRONLY);
	saved_stderr = dup(STDERR_FILENO);
	if (devnull < 0 || saved_stderr < 0)
		abort();
	if (__sanitizer_set_report_fd)
		__sanitizer_set_report_fd((void *)(intptr_t)saved_stderr);
}

static void
quiet(int on)
{
	if (devnull >= 0)
		dup2(on ? devnull : saved_stderr, STDERR_FILENO);
}

/* One of the harness's own list files, by the path the config resolved. */
static int
own_list(const char *file)
{
	size_t n = strlen(dir);
	return file && strncmp(file, dir, n) == 0 &&
	    (strcmp(file + n, "/block.list") == 0 ||
	    strcmp(file + n, "/allow.list") == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0])
		setup();
	write_file(conf, data, size);
	quiet(1);
	struct config *c = config_load(conf);
	if (c) {
		for (int i = 0; i < c->nlists; i++) {
			int nerr;
			if (!own_list(c->lists[i].file))
				continue;
			struct list *l = list_load(c->lists[i].name,
			    c->lists[i].file, &nerr);
			if (!l)
				abort();	/* the harness's lists are valid */
			list_unref(l);
		}
		config_free(c);
	}
	quiet(0);
	return 0;
}
