/* test_journal.c -- run-time list entries durable in state-dir.
 *
 * Each case works in its own mkdtemp directory under /tmp (removed at the
 * end) and checks what a reopen replays, so every case is also a crash
 * test: closing without a compaction is what kill -9 leaves.  Crashes
 * mid-write are made by truncating or flipping bytes of the files, and a
 * crash between compaction's rename and truncation by copying the old log
 * back.  Full and read-only disks use a 64k tmpfs mounted over the temp
 * dir (root only; the case is skipped when mount fails).  Log lines are
 * captured from stderr.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "journal.h"

#include "testutil.h"

#define NOW	1700000000LL

/* ---- helpers ---- */

/* A temp dir; the journal goes into its "state" subdir (created by
 * journal_open). */
struct tdir {
	char base[64];
	char state[80];
	int mounted;
};

static void
tdir_make(struct tdir *t)
{
	strcpy(t->base, "/tmp/rblcache-journal-XXXXXX");
	assert_non_null(mkdtemp(t->base));
	snprintf(t->state, sizeof(t->state), "%s/state", t->base);
	t->mounted = 0;
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static void
tdir_remove(struct tdir *t)
{
	if (t->mounted) {
		if (umount2(t->base, MNT_DETACH) < 0)
			print_message("umount %s: %s\n", t->base, strerror(errno));
		t->mounted = 0;
	}
	nftw(t->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Starts over with no state dir. */
static void
tdir_reset(struct tdir *t)
{
	nftw(t->state, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Every case gets a temp dir, removed even when the case fails. */
static int
tdir_setup(void **state)
{
	struct tdir *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	tdir_make(t);
	*state = t;
	return 0;
}

static int
tdir_teardown(void **state)
{
	struct tdir *t = *state;
	tdir_remove(t);		/* unmounts first */
	free(t);
	return 0;
}

static const char *
path_in(const struct tdir *t, const char *name)
{
	static char buf[4][128];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", t->state, name);
	return buf[k];
}

static struct cidr
net(const char *s)
{
	struct cidr c;
	const char *err;
	if (addr_parse_cidr(s, &c, 0, &err) < 0)
		fail_msg("bad prefix in test: %s", s);
	return c;
}

static struct journal_entry
entry(const char *list, const char *cidr, int64_t expires, const char *origin,
    const char *reason)
{
	struct journal_entry e;
	memset(&e, 0, sizeof(e));
	snprintf(e.list, sizeof(e.list), "%s", list);
	e.net = net(cidr);
	e.added = NOW;
	e.expires = expires;
	snprintf(e.origin, sizeof(e.origin), "%s", origin);
	snprintf(e.reason, sizeof(e.reason), "%s", reason);
	return e;
}

static struct journal *
jopen(const struct tdir *t)
{
	char err[256] = "";
	struct journal *j = journal_open(t->state, err, sizeof(err));
	if (!j)
		fail_msg("journal_open %s: %s", t->state, err);
	return j;
}

/* journal_open with stderr captured into log. */
static struct journal *
jopen_log(const struct tdir *t, char *log, size_t logsize)
{
	struct capture c;
	capture_begin(&c);
	char err[256] = "";
	struct journal *j = journal_open(t->state, err, sizeof(err));
	capture_end(&c, log, logsize);
	if (!j)
		fail_msg("journal_open %s: %s", t->state, err);
	return j;
}

static void
add_ok(struct journal *j, struct journal_entry e)
{
	char err[256] = "";
	if (journal_add(j, &e, err, sizeof(err)) != 0)
		fail_msg("journal_add %s: %s", e.list, err);
}

static void
assert_entry_equal(const struct journal_entry *a, const struct journal_entry *b)
{
	assert_string_equal(a->list, b->list);
	assert_int_equal(a->net.ip.family, b->net.ip.family);
	assert_memory_equal(a->net.ip.a, b->net.ip.a, 16);
	assert_int_equal(a->net.len, b->net.len);
	assert_int_equal(a->added, b->added);
	assert_int_equal(a->expires, b->expires);
	assert_string_equal(a->origin, b->origin);
	assert_string_equal(a->reason, b->reason);
}

/* A copy of the entries live at now; the caller frees it. */
static struct journal_entry *
snapshot(struct journal *j, int64_t now, size_t *n)
{
	const struct journal_entry *e;
	*n = journal_entries(j, now, &e);
	struct journal_entry *copy = malloc((*n ? *n : 1) * sizeof(*copy));
	assert_non_null(copy);
	memcpy(copy, e, *n * sizeof(*copy));
	return copy;
}

static void
assert_entries(struct journal *j, int64_t now, const struct journal_entry *want,
    size_t n)
{
	const struct journal_entry *e;
	size_t got = journal_entries(j, now, &e);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++)
		assert_entry_equal(&e[i], &want[i]);
}

static off_t
file_size(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	return st.st_size;
}

/* The whole file, NUL-terminated; the caller frees it. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void
spit(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int
count_lines(const char *path)
{
	size_t len;
	char *s = slurp(path, &len);
	int n = 0;
	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	free(s);
	return n;
}

/* Writes one record the way journal.h documents it: body is the line
 * without its CRC field. */
static void
put_record(FILE *f, const char *body)
{
	uint32_t crc = journal_crc32(0, body, strlen(body));
	fprintf(f, "%.4s%08x %s\n", body, (unsigned)crc, body + 4);
}

/* ---- cases ---- */

static void
test_crc32(void **state)
{
	(void)state;
	assert_int_equal(journal_crc32(0, "123456789", 9), 0xcbf43926u);
	assert_int_equal(journal_crc32(0, "", 0), 0);
	assert_int_equal(journal_crc32(journal_crc32(0, "1234", 4), "56789", 5),
	    0xcbf43926u);
}

static void
test_roundtrip(void **state)
{
	struct tdir *t = *state;
	char err[256];
	struct stat st;

	struct journal *j = jopen(t);
	assert_int_equal(stat(t->state, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(path_in(t, "journal.log"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	struct journal_entry want[] = {
		entry("block", "10.0.0.0/8", 0, "rblctl@mx1", "big"),
		entry("block", "192.0.2.0/24", NOW + 3600, "rblctl@mx1", "spam run"),
		entry("block", "198.51.100.7/32", 0, "redis@mx2", ""),
	};
	add_ok(j, want[1]);
	add_ok(j, entry("allow", "203.0.113.0/24", 0, "rblctl@mx1", "partner"));
	add_ok(j, want[2]);
	add_ok(j, want[0]);

	const struct journal_entry *e;
	assert_int_equal(journal_entries(j, NOW, &e), 4);
	assert_string_equal(e[0].list, "allow");
	assert_entry_equal(&e[1], &want[0]);

	struct cidr c = net("192.0.2.0/24");
	const struct journal_entry *f = journal_find(j, "block", &c, NOW);
	assert_non_null(f);
	assert_string_equal(f->reason, "spam run");
	assert_non_null(journal_find(j, "BLOCK", &c, NOW));
	assert_null(journal_find(j, "allow", &c, NOW));
	c = net("192.0.2.0/25");
	assert_null(journal_find(j, "block", &c, NOW));

	c = net("203.0.113.0/24");
	assert_int_equal(journal_del(j, "allow", &c, err, sizeof(err)), 0);
	assert_int_equal(journal_del(j, "allow", &c, err, sizeof(err)), 1);
	assert_int_equal(journal_del(j, "nosuch", &c, err, sizeof(err)), 1);
	assert_int_equal(journal_log_records(j), 5);
	assert_entries(j, NOW, want, 3);
	journal_close(j);

	size_t len;
	char *log = slurp(path_in(t, "journal.log"), &len);
	assert_int_equal(strncmp(log, "# rblcache journal v1\n", 22), 0);
	assert_non_null(strstr(log, " block 192.0.2.0/24 rblctl@mx1 spam%20run\n"));
	assert_non_null(strstr(log, " allow 203.0.113.0/24\n"));
	free(log);

	j = jopen(t);
	assert_entries(j, NOW, want, 3);
	assert_int_equal(journal_log_records(j), 5);
	journal_close(j);
}

static void
test_replace(void **state)
{
	struct tdir *t = *state;
	struct journal *j = jopen(t);
	struct journal_entry second =
	    entry("block", "192.0.2.0/24", NOW + 100, "rblctl@mx2", "second");
	add_ok(j, entry("block", "192.0.2.0/24", 0, "rblctl@mx1", "first"));
	add_ok(j, second);
	assert_entries(j, NOW, &second, 1);
	assert_int_equal(journal_log_records(j), 2);
	journal_close(j);
	j = jopen(t);
	assert_entries(j, NOW, &second, 1);
	journal_close(j);
}

static void
test_ipv6_and_normalizing(void **state)
{
	struct tdir *t = *state;
	struct journal *j = jopen(t);
	add_ok(j, entry("block", "2001:db8::1/128", 0, "o", "host"));
	add_ok(j, entry("block", "::/0", 0, "o", "all"));
	add_ok(j, entry("Block", "2001:db8::ff/64", 0, "o", "host bits"));
	add_ok(j, entry("block", "192.0.2.0/24", 0, "o", "v4"));
	add_ok(j, entry("block", "2001:db8::/32", 0, "o", "net"));

	const char *order[] = { "192.0.2.0", "::", "2001:db8::", "2001:db8::",
	    "2001:db8::1" };
	int lens[] = { 24, 0, 32, 64, 128 };
	for (int pass = 0; pass < 2; pass++) {
		const struct journal_entry *e;
		assert_int_equal(journal_entries(j, NOW, &e), 5);
		for (int i = 0; i < 5; i++) {
			char buf[64];
			assert_string_equal(e[i].list, "block");
			assert_string_equal(addr_ntop(&e[i].net.ip, buf,
			    sizeof(buf)), order[i]);
			assert_int_equal(e[i].net.len, lens[i]);
		}
		struct cidr c = net("2001:db8::/64");
		const struct journal_entry *f = journal_find(j, "block", &c, NOW);
		assert_non_null(f);
		assert_string_equal(f->reason, "host bits");
		journal_close(j);
		j = jopen(t);
	}
	journal_close(j);
}

static void
test_escaping(void **state)
{
	struct tdir *t = *state;
	char err[256];
	const char *texts[] = {
		"spam run from botnet", "100% sure", "%41 is not A",
		"line1\nline2\tTab\r end", "Ünïcødé ✓ 日本語", "-", "", "%2D",
		"%", "  leading and trailing  ", "-x", "a\x7f" "b\x01",
	};
	size_t ntexts = sizeof(texts) / sizeof(texts[0]);
	struct journal_entry want[16];
	size_t n = 0;
	char name[32];
	for (size_t i = 0; i < ntexts; i++) {
		snprintf(name, sizeof(name), "192.0.2.%zu/32", i);
		want[n++] = entry("block", name, 0, texts[(i + 3) % ntexts],
		    texts[i]);
	}
	/* every byte but NUL, 255 of them: the longest reason */
	snprintf(name, sizeof(name), "192.0.2.%zu/32", n);
	want[n] = entry("block", name, 0, "rblctl@mx1", "");
	for (int b = 1; b < 256; b++)
		want[n].reason[b - 1] = (char)b;
	memset(want[n].origin, 'o', JOURNAL_ORIGIN_MAX - 1);
	n++;

	struct journal *j = jopen(t);
	for (size_t i = 0; i < n; i++)
		add_ok(j, want[i]);
	assert_entries(j, NOW, want, n);
	journal_close(j);
	/* one line per record: nothing escaped badly */
	assert_int_equal(count_lines(path_in(t, "journal.log")), 1 + (int)n);

	j = jopen(t);
	assert_entries(j, NOW, want, n);
	assert_int_equal(journal_compact(j, NOW, err, sizeof(err)), 0);
	journal_close(j);
	assert_int_equal(count_lines(path_in(t, "entries.db")), 1 + (int)n);
	j = jopen(t);
	assert_entries(j, NOW, want, n);
	journal_close(j);
}

static void
test_bad_input(void **state)
{
	struct tdir *t = *state;
	char err[256];
	struct journal *j = jopen(t);
	struct journal_entry bad[8];
	int nbad = 0;
	bad[nbad++] = entry("", "192.0.2.0/24", 0, "o", "r");
	bad[nbad++] = entry("bad name", "192.0.2.0/24", 0, "o", "r");
	bad[nbad++] = entry("a/b", "192.0.2.0/24", 0, "o", "r");
	bad[nbad] = entry("x", "192.0.2.0/24", 0, "o", "r");
	memset(bad[nbad++].list, 'a', JOURNAL_LIST_MAX);	/* no NUL */
	bad[nbad] = entry("block", "192.0.2.0/24", 0, "o", "r");
	bad[nbad++].net.len = 33;
	bad[nbad] = entry("block", "192.0.2.0/24", 0, "o", "r");
	bad[nbad++].net.ip.family = 0;
	bad[nbad] = entry("block", "192.0.2.0/24", -1, "o", "r");
	nbad++;
	bad[nbad] = entry("block", "192.0.2.0/24", 0, "o", "r");
	memset(bad[nbad++].reason, 'r', JOURNAL_REASON_MAX);	/* no NUL */
	for (int i = 0; i < nbad; i++) {
		err[0] = '\0';
		assert_int_equal(journal_add(j, &bad[i], err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	/* the longest list name is fine */
	struct journal_entry ok = entry("x", "192.0.2.0/24", 0, "o", "r");
	memset(ok.list, 'a', JOURNAL_LIST_MAX - 1);
	add_ok(j, ok);
	const struct journal_entry *e;
	assert_int_equal(journal_entries(j, NOW, &e), 1);
	assert_int_equal(journal_log_records(j), 1);
	journal_close(j);
}

static void
test_expiry(void **state)
{
	struct tdir *t = *state;
	const struct journal_entry *e;
	struct journal *j = jopen(t);
	struct journal_entry a = entry("block", "192.0.2.1/32", NOW + 100, "o", "a");
	struct journal_entry b = entry("block", "192.0.2.2/32", 0, "o", "b");
	struct journal_entry c = entry("block", "192.0.2.3/32", NOW - 1, "o", "c");
	add_ok(j, a);
	add_ok(j, b);
	add_ok(j, c);
	struct journal_entry ab[] = { a, b };
	for (int pass = 0; pass < 2; pass++) {
		assert_entries(j, NOW, ab, 2);
		assert_entries(j, NOW + 99, ab, 2);
		assert_entries(j, NOW + 100, &b, 1);
		assert_entries(j, NOW + 1000000, &b, 1);
		assert_entries(j, NOW - 1, ab, 2);
		assert_int_equal(journal_entries(j, NOW - 2, &e), 3);
		assert_non_null(journal_find(j, "block", &a.net, NOW + 99));
		assert_null(journal_find(j, "block", &a.net, NOW + 100));
		assert_null(journal_find(j, "block", &c.net, NOW));
		journal_close(j);
		j = jopen(t);
	}
	assert_int_equal(journal_expire(j, NOW + 50), 1);
	assert_int_equal(journal_entries(j, NOW - 2, &e), 2);
	assert_int_equal(journal_expire(j, NOW + 50), 0);
	assert_int_equal(journal_expire(j, NOW + 100), 1);
	assert_entries(j, NOW, &b, 1);
	/* expiry in memory only: the log still has them until a compaction */
	journal_close(j);
	j = jopen(t);
	assert_entries(j, NOW, ab, 2);
	journal_close(j);
}

static void
test_compact(void **state)
{
	struct tdir *t = *state;
	char err[256], name[32];
	size_t nwant = 0;
	struct journal *j = jopen(t);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "198.51.100.%d/32", i);
		struct journal_entry e = entry(i % 2 ? "allow" : "block", name,
		    i % 3 ? 0 : NOW + 10, "rblctl@mx1", "compact me");
		add_ok(j, e);
		if (i % 5 == 4) {
			assert_int_equal(journal_del(j, e.list, &e.net, err,
			    sizeof(err)), 0);
			continue;
		}
		nwant += e.expires == 0;
	}
	size_t nsnap;
	struct journal_entry *snap = snapshot(j, NOW + 10, &nsnap);
	assert_int_equal(nsnap, nwant);
	assert_int_equal(journal_compact(j, NOW + 10, err, sizeof(err)), 0);
	assert_int_equal(journal_log_records(j), 0);
	assert_int_equal(journal_log_size(j), 22);
	assert_int_equal(file_size(path_in(t, "journal.log")), 22);
	assert_int_equal(file_size(path_in(t, "entries.db.tmp")), -1);
	assert_int_equal(count_lines(path_in(t, "entries.db")), 1 + (int)nwant);
	/* expired ones are gone from memory and disk */
	assert_entries(j, 0, snap, nsnap);
	journal_close(j);
	j = jopen(t);
	assert_entries(j, 0, snap, nsnap);
	assert_int_equal(journal_log_records(j), 0);

	/* records after a compaction, and a second compaction */
	struct journal_entry extra = entry("block", "2001:db8::/48", 0, "o", "x");
	add_ok(j, extra);
	assert_int_equal(journal_del(j, snap[0].list, &snap[0].net, err,
	    sizeof(err)), 0);
	free(snap);
	snap = snapshot(j, NOW, &nsnap);
	journal_close(j);
	j = jopen(t);
	assert_entries(j, NOW, snap, nsnap);
	assert_int_equal(journal_log_records(j), 2);
	assert_int_equal(journal_compact(j, NOW, err, sizeof(err)), 0);
	assert_int_equal(journal_compact(j, NOW, err, sizeof(err)), 0);
	journal_close(j);
	j = jopen(t);
	assert_entries(j, NOW, snap, nsnap);
	free(snap);

	/* nothing left: entries.db is just its header */
	const struct journal_entry *e;
	size_t n = journal_entries(j, NOW, &e);
	while (n > 0) {
		struct journal_entry x = e[0];
		assert_int_equal(journal_del(j, x.list, &x.net, err, sizeof(err)), 0);
		n = journal_entries(j, NOW, &e);
	}
	assert_int_equal(journal_compact(j, NOW, err, sizeof(err)), 0);
	journal_close(j);
	assert_int_equal(file_size(path_in(t, "entries.db")), 22);
	j = jopen(t);
	assert_int_equal(journal_entries(j, NOW, &e), 0);
	journal_close(j);
}

/* Three records in a fresh dir; *before is the log size before the last. */
static void
three_records(struct tdir *t, struct journal_entry want[3], off_t *before,
    off_t *after)
{
	tdir_reset(t);
	want[0] = entry("block", "192.0.2.0/24", 0, "rblctl@mx1", "first");
	want[1] = entry("block", "2001:db8::/32", NOW + 50, "redis@mx2", "second one");
	want[2] = entry("block", "203.0.113.0/24", 0, "rblctl@mx1",
	    "the third record, with some length to cut into");
	struct journal *j = jopen(t);
	add_ok(j, want[0]);
	add_ok(j, want[1]);
	*before = journal_log_size(j);
	add_ok(j, want[2]);
	*after = journal_log_size(j);
	journal_close(j);
	assert_int_equal(file_size(path_in(t, "journal.log")), *after);
}

/* Cuts the last of three records k bytes in; reopen drops just it. */
static void
torn_at(struct tdir *t, off_t k, off_t *reclen)
{
	char log[4096];
	struct journal_entry want[3];
	off_t before, after;

	three_records(t, want, &before, &after);
	*reclen = after - before;
	assert_int_equal(truncate(path_in(t, "journal.log"), before + k), 0);
	struct journal *j = jopen_log(t, log, sizeof(log));
	if (k == 0)
		assert_string_equal(log, "");
	else if (!strstr(log, "journal.log:4: torn last record dropped"))
		fail_msg("cut at %d: log \"%s\"", (int)k, log);
	assert_int_equal(count_lines(path_in(t, "journal.log")), 3);
	assert_int_equal(file_size(path_in(t, "journal.log")), before);
	assert_int_equal(journal_log_records(j), 2);
	assert_entries(j, NOW, want, 2);
	struct journal_entry later = entry("block", "203.0.113.0/25", 0,
	    "o", "after the crash");
	add_ok(j, later);
	journal_close(j);

	j = jopen_log(t, log, sizeof(log));
	assert_string_equal(log, "");
	struct journal_entry now3[] = { want[0], later, want[1] };	/* v4 first */
	assert_entries(j, NOW, now3, 3);
	journal_close(j);
}

static void
test_torn_last_record(void **state)
{
	struct tdir *t = *state;
	off_t k, reclen;
	torn_at(t, 0, &reclen);
	for (k = 1; k <= 14; k++)	/* every byte of the head */
		torn_at(t, k, &reclen);
	for (k = 21; k < reclen - 1; k += 7)
		torn_at(t, k, &reclen);
	torn_at(t, reclen - 1, &reclen);	/* all but the newline */
}

static void
test_corrupt_last_record(void **state)
{
	char log[4096];
	struct journal_entry want[3];
	off_t before, after;
	struct tdir *t = *state;
	three_records(t, want, &before, &after);

	size_t len;
	char *s = slurp(path_in(t, "journal.log"), &len);
	s[before + 30] ^= 0x04;			/* one bit, newline kept */
	spit(path_in(t, "journal.log"), s, len);
	free(s);
	struct journal *j = jopen_log(t, log, sizeof(log));
	assert_non_null(strstr(log, "journal.log:4: corrupt last record "
	    "dropped (checksum mismatch)"));
	assert_int_equal(file_size(path_in(t, "journal.log")), before);
	assert_entries(j, NOW, want, 2);
	journal_close(j);

	/* a header torn while the log was created: like an empty log */
	tdir_reset(t);
	j = jopen(t);
	journal_close(j);
	assert_int_equal(truncate(path_in(t, "journal.log"), 7), 0);
	j = jopen_log(t, log, sizeof(log));
	assert_non_null(strstr(log, "journal.log:1: torn header dropped"));
	add_ok(j, want[0]);
	journal_close(j);
	j = jopen_log(t, log, sizeof(log));
	assert_string_equal(log, "");
	assert_entries(j, NOW, want, 1);
	journal_close(j);
}

static void
test_corrupt_middle_record(void **state)
{
	char log[4096], err[256];
	struct journal_entry want[3];
	off_t before, after;
	struct tdir *t = *state;
	three_records(t, want, &before, &after);

	size_t len;
	char *s = slurp(path_in(t, "journal.log"), &len);
	s[before - 5] = 'X';			/* in the second record */
	spit(path_in(t, "journal.log"), s, len);
	free(s);
	struct journal *j = jopen_log(t, log, sizeof(log));
	assert_non_null(strstr(log, "journal.log:3: corrupt record skipped "
	    "(checksum mismatch)"));
	assert_null(strstr(log, "dropped"));
	assert_int_equal(file_size(path_in(t, "journal.log")), after);
	struct journal_entry w02[] = { want[0], want[2] };
	assert_entries(j, NOW, w02, 2);
	struct journal_entry later = entry("block", "2001:db8:1::/48", 0, "o", "l");
	add_ok(j, later);
	journal_close(j);

	j = jopen_log(t, log, sizeof(log));
	assert_non_null(strstr(log, "journal.log:3: corrupt record skipped"));
	struct journal_entry w3[] = { want[0], want[2], later };
	assert_entries(j, NOW, w3, 3);
	/* a compaction rewrites the state without it */
	assert_int_equal(journal_compact(j, NOW, err, sizeof(err)), 0);
	journal_close(j);
	j = jopen_log(t, log, sizeof(log));
	assert_string_equal(log, "");
	assert_entries(j, NOW, w3, 3);
	journal_close(j);

	/* and in entries.db */
	s = slurp(path_in(t, "entries.db"), &len);
	char *second = strchr(strchr(s, '\n') + 1, '\n') + 1;
	second[20] ^= 0x01;
	spit(path_in(t, "entries.db"), s, len);
	free(s);
	j = jopen_log(t, log, sizeof(log));
	assert_non_null(strstr(log, "entries.db:3: corrupt record skipped"));
	assert_int_equal(journal_entries(j, NOW, &(const struct journal_entry *){0}), 2);
	journal_close(j);
}

static void
test_crash_during_compaction(void **state)
{
	struct tdir *t = *state;
	char err[256], log[4096];
	size_t len, nsnap;
	struct journal *j = jopen(t);
	add_ok(j, entry("block", "192.0.2.0/24", 0, "o", "v1"));
	add_ok(j, entry("block", "192.0.2.0/24", 0, "o", "v2"));
	add_ok(j, entry("block", "198.51.100.0/24", 0, "o", "gone"));
	add_ok(j, entry("allow", "203.0.113.5/32", NOW + 5, "o", "expires"));
	add_ok(j, entry("block", "2001:db8::/32", 0, "o", "v6"));
	struct cidr c = net("198.51.100.0/24");
	assert_int_equal(journal_del(j, "block", &c, err, sizeof(err)), 0);
	struct journal_entry *snap = snapshot(j, NOW + 5, &nsnap);
	assert_int_equal(nsnap, 2);
	char *oldlog = slurp(path_in(t, "journal.log"), &len);
	assert_int_equal(journal_compact(j, NOW + 5, err, sizeof(err)), 0);
	journal_close(j);

	/* between rename and truncation: new entries.db, old log */
	spit(path_in(t, "journal.log"), oldlog, len);
	j = jopen_log(t, log, sizeof(log));
	assert_string_equal(log, "");
	assert_entries(j, NOW + 5, snap, nsnap);
	assert_int_equal(journal_log_records(j), 6);
	assert_int_equal(journal_compact(j, NOW + 5, err, sizeof(err)), 0);
	journal_close(j);
	j = jopen(t);
	assert_entries(j, NOW + 5, snap, nsnap);
	assert_int_equal(journal_log_records(j), 0);
	journal_close(j);

	/* before the rename: a half-written entries.db.tmp is ignored */
	spit(path_in(t, "entries.db.tmp"), "# rblcache journal v1\nadd 0", 27);
	j = jopen(t);
	assert_entries(j, NOW + 5, snap, nsnap);
	journal_close(j);
	assert_int_equal(file_size(path_in(t, "entries.db.tmp")), -1);
	free(oldlog);
	free(snap);
}

static void
test_format_by_hand(void **state)
{
	struct tdir *t = *state;
	char log[4096], err[256];
	const struct journal_entry *e;
	assert_int_equal(mkdir(t->state, 0700), 0);

	FILE *f = fopen(path_in(t, "journal.log"), "w");
	assert_non_null(f);
	fputs("# rblcache journal v1\n# a comment\n\n", f);
	/* the example from journal.h, verbatim */
	fputs("add 23f5a4ba 1700000000 1700604800 block 192.0.2.0/24 rblctl@mx1 spam%20run\n", f);
	fputs("del ca181a91 block 192.0.2.0/24\n", f);
	put_record(f, "add 1700000000 0 block 192.0.2.0/24 - %2D");
	put_record(f, "add 1700000000 0 block 192.0.2.1/24 - host-bits");  /* line 7 */
	put_record(f, "add 1700000000 0 Block 192.0.2.0/25 - upper");       /* line 8 */
	put_record(f, "add 1700000000 0 block 192.0.2.0/25 - %zz");          /* line 9 */
	put_record(f, "add 1700000000 0 block 192.0.2.0/25 -");              /* line 10 */
	put_record(f, "del block 198.51.100.0/24");
	put_record(f, "add 1700000000 1800000000 allow 2001:db8::/32 a%20b 50%25%0A\xc3\xa9");
	fclose(f);

	struct journal *j = jopen_log(t, log, sizeof(log));
	for (int line = 7; line <= 10; line++) {
		char want[64];
		snprintf(want, sizeof(want), "journal.log:%d: corrupt record skipped",
		    line);
		if (!strstr(log, want))
			fail_msg("no \"%s\" in \"%s\"", want, log);
	}
	assert_int_equal(journal_entries(j, NOW, &e), 2);
	assert_string_equal(e[0].list, "allow");
	assert_string_equal(e[0].origin, "a b");
	assert_string_equal(e[0].reason, "50%\n\xc3\xa9");
	assert_int_equal(e[0].expires, 1800000000);
	assert_string_equal(e[1].list, "block");
	assert_string_equal(e[1].origin, "");
	assert_string_equal(e[1].reason, "-");
	journal_close(j);

	/* another version, or not a journal: refused, not overwritten */
	spit(path_in(t, "journal.log"), "# rblcache journal v2\n", 22);
	assert_null(journal_open(t->state, err, sizeof(err)));
	assert_non_null(strstr(err, "journal.log: unsupported format version"));
	spit(path_in(t, "journal.log"), "hello\n", 6);
	assert_null(journal_open(t->state, err, sizeof(err)));
	assert_non_null(strstr(err, "not an rblcache journal"));
	assert_int_equal(file_size(path_in(t, "journal.log")), 6);
}

static void
test_open_errors(void **state)
{
	struct tdir *t = *state;
	char err[256], path[128];

	struct journal *j = jopen(t);
	assert_null(journal_open(t->state, err, sizeof(err)));
	assert_non_null(strstr(err, "in use"));
	journal_close(j);
	j = jopen(t);		/* the lock went with the close */
	journal_close(j);

	snprintf(path, sizeof(path), "%s/no/such/dir", t->base);
	assert_null(journal_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file or directory"));
	assert_non_null(strstr(err, path));
	snprintf(path, sizeof(path), "%s/journal.log", t->state);
	assert_null(journal_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, "Not a directory"));
}

/* ---- full and read-only disk (a tmpfs of 64k) ---- */

static int
tmpfs_setup(void **state)
{
	tdir_setup(state);
	struct tdir *t = *state;
	if (mount("tmpfs", t->base, "tmpfs", 0, "size=64k,mode=0700") == 0)
		t->mounted = 1;
	return 0;
}

static void
test_full_and_readonly_disk(void **state)
{
	struct tdir *t = *state;
	char err[256], log[4096], name[32], reason[201];
	if (!t->mounted) {
		print_message("mount tmpfs failed (not root?): skipped\n");
		skip();
	}
	memset(reason, 'r', 200);
	reason[200] = '\0';

	struct journal *j = jopen(t);
	int acked = 0;
	for (;; acked++) {
		assert_true(acked < 10000);
		/* same length for every record, so a retry cannot fit */
		snprintf(name, sizeof(name), "10.%d.%d.0/24", 100 + acked / 100,
		    100 + acked % 100);
		struct journal_entry e = entry("block", name, 0, "rblctl@mx1", reason);
		err[0] = '\0';
		int r = journal_add(j, &e, err, sizeof(err));
		if (r == 0)
			continue;
		assert_int_equal(r, -1);
		if (!strstr(err, "No space left on device"))
			fail_msg("err \"%s\"", err);
		assert_non_null(strstr(err, t->state));
		assert_null(journal_find(j, "block", &e.net, NOW));
		break;
	}
	assert_true(acked > 10);
	const struct journal_entry *e;
	assert_int_equal(journal_entries(j, NOW, &e), acked);
	assert_int_equal(file_size(path_in(t, "journal.log")), journal_log_size(j));

	/* a failed replace keeps the old entry */
	struct journal_entry first = e[0];
	struct journal_entry repl = first;
	repl.reason[0] = 'X';
	assert_int_equal(journal_add(j, &repl, err, sizeof(err)), -1);
	assert_string_equal(journal_find(j, "block", &first.net, NOW)->reason,
	    reason);
	/* a compaction does not fit either, and leaves everything */
	assert_int_equal(journal_compact(j, NOW, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No space left on device"));
	assert_int_equal(file_size(path_in(t, "entries.db.tmp")), -1);
	assert_int_equal(journal_entries(j, NOW, &e), acked);
	assert_int_equal(file_size(path_in(t, "journal.log")), journal_log_size(j));
	journal_close(j);

	j = jopen_log(t, log, sizeof(log));
	assert_string_equal(log, "");
	assert_int_equal(journal_entries(j, NOW, &e), acked);
	for (int i = 0; i < acked; i++) {
		snprintf(name, sizeof(name), "10.%d.%d.0/24", 100 + i / 100,
		    100 + i % 100);
		struct cidr c = net(name);
		assert_non_null(journal_find(j, "block", &c, NOW));
	}
	journal_close(j);

	/* read-only: (a file open for writing would make the remount EBUSY) */
	if (mount(NULL, t->base, NULL, MS_REMOUNT | MS_RDONLY, "size=64k") < 0)
		fail_msg("remount ro: %s", strerror(errno));
	j = jopen_log(t, log, sizeof(log));
	assert_non_null(strstr(log, "Read-only file system"));
	assert_int_equal(journal_entries(j, NOW, &e), acked);
	struct journal_entry x = entry("block", "192.0.2.0/24", 0, "o", "r");
	assert_int_equal(journal_add(j, &x, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Read-only file system"));
	assert_int_equal(journal_del(j, "block", &first.net, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Read-only file system"));
	assert_int_equal(journal_compact(j, NOW, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Read-only file system"));
	assert_int_equal(journal_entries(j, NOW, &e), acked);
	assert_non_null(journal_find(j, "block", &first.net, NOW));

	/* writable, and larger: the next change opens the log */
	if (mount(NULL, t->base, NULL, MS_REMOUNT, "size=256k") < 0)
		fail_msg("remount rw: %s", strerror(errno));
	assert_int_equal(journal_del(j, "block", &first.net, err, sizeof(err)), 0);
	journal_close(j);
	j = jopen(t);
	assert_int_equal(journal_entries(j, NOW, &e), acked - 1);
	assert_null(journal_find(j, "block", &first.net, NOW));
	assert_int_equal(journal_compact(j, NOW, err, sizeof(err)), 0);
	journal_close(j);
	j = jopen(t);
	assert_int_equal(journal_entries(j, NOW, &e), acked - 1);
	journal_close(j);
}

/* ---- random operations against a model ---- */

#define RKEYS	48

struct model {
	int present;
	struct journal_entry e;
};

static void
random_text(char *buf, size_t size, unsigned *seed)
{
	size_t len = (size_t)rand_r(seed) % size;
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(1 + rand_r(seed) % 255);
	buf[len] = '\0';
}

static void
model_check(struct journal *j, const struct model *m, int64_t now)
{
	struct journal_entry want[RKEYS];
	size_t n = 0;
	for (int k = 0; k < RKEYS; k++)	/* keys are made in sorted order */
		if (m[k].present && (m[k].e.expires == 0 || m[k].e.expires > now))
			want[n++] = m[k].e;
	assert_entries(j, now, want, n);
	for (int k = 0; k < RKEYS; k++) {
		const struct journal_entry *f = journal_find(j, m[k].e.list,
		    &m[k].e.net, now);
		int live = m[k].present &&
		    (m[k].e.expires == 0 || m[k].e.expires > now);
		if (live != (f != NULL))
			fail_msg("key %d: model %d, journal %d", k, live, f != NULL);
	}
}

static void
test_random(void **state)
{
	struct tdir *t = *state;
	struct model m[RKEYS];
	char err[256], name[64];
	const char *s = getenv("JOURNAL_SEED");
	unsigned seed = s ? (unsigned)strtoul(s, NULL, 10) : 20240229u;
	print_message("test_random: JOURNAL_SEED=%u\n", seed);

	memset(m, 0, sizeof(m));
	for (int k = 0; k < RKEYS; k++) {	/* sorted: list, family, addr */
		int l = k / 16, i = k % 16;
		if (i < 8)
			snprintf(name, sizeof(name), "192.0.2.%d/32", i * 16);
		else
			snprintf(name, sizeof(name), "2001:db8:%x::/48", i);
		m[k].e = entry(l == 0 ? "allow" : l == 1 ? "block" : "block2",
		    name, 0, "", "");
	}
	struct journal *j = jopen(t);
	for (int op = 1; op <= 1500; op++) {
		int k = rand_r(&seed) % RKEYS, what = rand_r(&seed) % 100;
		struct model *mk = &m[k];
		if (what < 60) {
			struct journal_entry e = mk->e;
			e.added = NOW + rand_r(&seed) % 100;
			e.expires = rand_r(&seed) % 3 ? 0 : NOW - 50 + rand_r(&seed) % 100;
			random_text(e.origin, sizeof(e.origin), &seed);
			random_text(e.reason, sizeof(e.reason), &seed);
			add_ok(j, e);
			mk->e = e;
			mk->present = 1;
		} else if (what < 95) {
			int r = journal_del(j, mk->e.list, &mk->e.net, err, sizeof(err));
			assert_int_equal(r, mk->present ? 0 : 1);
			mk->present = 0;
		} else {
			assert_int_equal(journal_compact(j, NOW, err, sizeof(err)), 0);
			for (int i = 0; i < RKEYS; i++)
				if (m[i].e.expires != 0 && m[i].e.expires <= NOW)
					m[i].present = 0;
		}
		if (op % 50 == 0) {
			journal_close(j);
			j = jopen(t);
		}
		model_check(j, m, NOW);
		model_check(j, m, NOW + 25);
	}
	journal_close(j);
}

/* 100k entries: replay of a large log and its compaction stay fast. */
static void
test_large(void **state)
{
	struct tdir *t = *state;
	char body[256], err[256];
	enum { N = 100000 };
	assert_int_equal(mkdir(t->state, 0700), 0);
	FILE *f = fopen(path_in(t, "journal.log"), "w");
	assert_non_null(f);
	fputs("# rblcache journal v1\n", f);
	unsigned seed = 7;
	static int last[N];		/* which record of a key came last */
	memset(last, 0xff, sizeof(last));
	for (int i = 0; i < N; i++) {
		int k = rand_r(&seed) % N;	/* random order, some twice */
		last[k] = i;
		snprintf(body, sizeof(body), "add %d 0 block 10.%d.%d.%d/32 "
		    "rblctl@mx1 entry%%20%d", (int)NOW, k >> 16, (k >> 8) & 255,
		    k & 255, i);
		put_record(f, body);
	}
	fclose(f);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct journal *j = jopen(t);
	const struct journal_entry *e;
	size_t n = journal_entries(j, NOW, &e);
	assert_true(n > N / 2 && n < N);
	for (size_t i = 0; i < n; i++) {
		char want[32];
		const uint8_t *a = e[i].net.ip.a;
		if (i > 0)
			assert_true(memcmp(e[i - 1].net.ip.a, a, 4) < 0);
		/* the last add of a key wins */
		snprintf(want, sizeof(want), "entry %d", last[a[1] << 16 |
		    a[2] << 8 | a[3]]);
		assert_string_equal(e[i].reason, want);
	}
	assert_int_equal(journal_log_records(j), N);
	/* adds in front of 100k entries: each moves the whole array */
	for (int i = 0; i < 100; i++) {
		snprintf(body, sizeof(body), "192.0.2.%d/32", i);
		add_ok(j, entry("allow", body, 0, "o", "r"));
	}
	assert_int_equal(journal_compact(j, NOW, err, sizeof(err)), 0);
	journal_close(j);
	j = jopen(t);
	assert_int_equal(journal_entries(j, NOW, &e), n + 100);
	journal_close(j);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("test_large: %zu entries replayed, 100 added, compacted, "
	    "reopened in %.2fs\n", n, (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32),
		cmocka_unit_test_setup_teardown(test_roundtrip,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_replace,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_and_normalizing,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_escaping,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_bad_input,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_expiry,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_compact,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_torn_last_record,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_last_record,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_middle_record,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_crash_during_compaction,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_format_by_hand,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_open_errors,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_full_and_readonly_disk,
		    tmpfs_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_random,
		    tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_large,
		    tdir_setup, tdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
