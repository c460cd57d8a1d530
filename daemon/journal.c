/* journal.c -- run-time list entries, durable in state-dir.
 *
 * The entries are one array sorted by key (expired ones included until
 * journal_expire or journal_compact), so a lookup is a binary search and
 * journal_entries() hands out the array itself when nothing has expired.
 * An add or del first appends its record to journal.log and fsyncs, and
 * only then touches the array, so a failed write leaves memory as it was.
 *
 * Invariant while wfd >= 0: journal.log is exactly logsize bytes of good
 * records.  After a failed write the file is truncated back to logsize;
 * when even that fails, wfd is closed and the next write reopens the file
 * and truncates it first, so a record never follows garbage.
 *
 * Replay does not insert record by record (O(n^2) for a large log): it
 * collects every record with a sequence number, sorts once by (key,
 * sequence) and keeps the last record of each key unless it is a "del".
 */
#include "journal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errbuf.h"
#include "log.h"

#define HEADER		"# rblcache journal v1\n"
#define HEADER_LEN	(sizeof(HEADER) - 1)
#define HEADER_ANY	"# rblcache journal v"
#define RECORD_MAX	2048	/* > the longest record (about 1200 bytes) */
#define COMPACT_BUF	65536
#define TIME_MAX	999999999999999999LL	/* 18 digits */

struct journal {
	char *dir;			/* as given, for messages */
	int dirfd;			/* the directory, flock'ed */
	int wfd;			/* journal.log O_APPEND, -1 until writable */
	int64_t logsize;		/* end of the last good record */
	size_t logrecords;		/* records in journal.log */
	struct journal_entry *e;	/* sorted by key */
	size_t n, cap;
	struct journal_entry *view;	/* live subset for journal_entries() */
	size_t viewcap;
};

/* One record during replay. */
struct rec {
	struct journal_entry e;
	size_t seq;
	int del;
};

struct replay {
	struct rec *r;
	size_t n, cap;
};

/* ---- CRC-32, errors, I/O ---- */

uint32_t
journal_crc32(uint32_t crc, const void *buf, size_t len)
{
	static uint32_t table[256];	/* single-threaded: filled on first use */
	const uint8_t *p = buf;

	if (table[1] == 0) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* The CRC of a record: the line but its "CRC " field (bytes 4..12). */
static uint32_t
record_crc(const char *line, size_t len)
{
	return journal_crc32(journal_crc32(0, line, 4), line + 13, len - 13);
}

/* Fills err with "state-dir DIR: WHAT: strerror(errno)"; returns -1. */
static int
syserr(const struct journal *j, const char *what, char *err, size_t errlen)
{
	seterr(err, errlen, "state-dir %s: %s: %s", j->dir, what,
	    strerror(errno));
	return -1;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads dir/name whole into *data (NUL-terminated, caller frees); an
 * absent file reads as empty.  Returns 0, or -1 with err. */
static int
read_file(struct journal *j, const char *name, char **data, size_t *len,
    char *err, size_t errlen)
{
	struct stat st;
	int fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);

	*data = NULL;
	*len = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : syserr(j, name, err, errlen);
	if (fstat(fd, &st) < 0 || !(*data = malloc((size_t)st.st_size + 1)))
		goto fail;
	while (*len < (size_t)st.st_size) {
		ssize_t n = read(fd, *data + *len, (size_t)st.st_size - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	(*data)[*len] = '\0';
	close(fd);
	return 0;
fail:
	syserr(j, name, err, errlen);
	close(fd);
	free(*data);
	*data = NULL;
	return -1;
}

/* Makes a new directory's name durable. */
static void
sync_parent(const char *dir)
{
	char parent[4096];
	size_t n = (size_t)snprintf(parent, sizeof(parent), "%s", dir);
	while (n > 1 && n < sizeof(parent) && parent[n - 1] == '/')
		parent[--n] = '\0';
	char *slash = strrchr(parent, '/');
	if (slash)
		slash[slash == parent] = '\0';	/* "/x" -> "/" */
	int fd = open(slash ? parent : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		log_warn("state-dir %s: fsync parent", dir);
	if (fd >= 0)
		close(fd);
}

/* ---- keys and records ---- */

static int
live(const struct journal_entry *e, int64_t now)
{
	return e->expires == 0 || e->expires > now;
}

static int
key_cmp(const char *list, const struct cidr *net, const struct journal_entry *e)
{
	int c = strcmp(list, e->list);
	if (c)
		return c;
	if (net->ip.family != e->net.ip.family)
		return net->ip.family < e->net.ip.family ? -1 : 1;
	if ((c = memcmp(net->ip.a, e->net.ip.a, sizeof(net->ip.a))))
		return c;
	return (net->len > e->net.len) - (net->len < e->net.len);
}

/* The index of (list, net), or where it belongs; *found says which. */
static size_t
lookup(const struct journal *j, const char *list, const struct cidr *net,
    int *found)
{
	size_t lo = 0, hi = j->n;
	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(list, net, &j->e[mid]);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Copies a list name of 1..63 bytes of [A-Za-z0-9._-] lower case. */
static int
list_name(const char *s, char out[JOURNAL_LIST_MAX])
{
	size_t len = strnlen(s, JOURNAL_LIST_MAX);
	if (len == 0 || len == JOURNAL_LIST_MAX)
		return -1;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-' || c == '\0'))
			return -1;
		out[i] = c;
	}
	return 0;
}

/* Copies net with the host bits and the unused address bytes cleared, so
 * equal prefixes compare equal byte for byte. */
static int
normalize_net(const struct cidr *in, struct cidr *out)
{
	int max = in->ip.family == AF_INET ? 32 :
	    in->ip.family == AF_INET6 ? 128 : -1;
	if (max < 0 || in->len < 0 || in->len > max)
		return -1;
	memset(out, 0, sizeof(*out));
	out->ip.family = in->ip.family;
	out->len = in->len;
	for (int i = 0; i < max / 8; i++) {
		int bits = in->len - i * 8;
		uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 :
		    (uint8_t)(0xff << (8 - bits));
		out->ip.a[i] = in->ip.a[i] & mask;
	}
	return 0;
}

static char *
put_field(char *p, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	if (*s == '\0') {
		*p = '-';
		return p + 1;
	}
	if (strcmp(s, "-") == 0) {
		memcpy(p, "%2D", 3);
		return p + 3;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= ' ' || c == 0x7f || c == '%') {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		} else
			*p++ = (char)c;
	}
	return p;
}

/* Formats e's record into buf (RECORD_MAX bytes); returns its length,
 * newline included.  e must be normalized. */
static size_t
format_record(char *buf, int del, const struct journal_entry *e)
{
	char addr[INET6_ADDRSTRLEN];
	char *p = buf;

	addr_ntop(&e->net.ip, addr, sizeof(addr));
	if (del)
		p += snprintf(p, RECORD_MAX, "del 00000000 %s %s/%d", e->list,
		    addr, e->net.len);
	else {
		p += snprintf(p, RECORD_MAX, "add 00000000 %lld %lld %s %s/%d ",
		    (long long)e->added, (long long)e->expires, e->list, addr,
		    e->net.len);
		p = put_field(p, e->origin);
		*p++ = ' ';
		p = put_field(p, e->reason);
	}
	size_t len = (size_t)(p - buf);
	uint32_t crc = record_crc(buf, len);
	for (int i = 0; i < 8; i++)
		buf[4 + i] = "0123456789abcdef"[(crc >> (28 - 4 * i)) & 15];
	buf[len++] = '\n';
	return len;
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
	    c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int
unescape(const char *s, char *out, size_t size)
{
	size_t n = 0;
	if (strcmp(s, "-") == 0 || *s == '\0') {
		out[0] = '\0';
		return *s ? 0 : -1;
	}
	for (; *s; s++) {
		int c = (unsigned char)*s;
		if (c == '%') {
			int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
			if (lo < 0 || (c = hi << 4 | lo) == 0)
				return -1;
			s += 2;
		} else if (c <= ' ' || c == 0x7f)
			return -1;
		if (n + 1 >= size)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

/* Unix seconds: up to 18 digits (TIME_MAX), no sign. */
static int
parse_time(const char *s, int64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9' || strlen(s) > 18)
		return -1;
	*out = strtoll(s, &end, 10);
	return *end ? -1 : 0;
}

/* Parses one record (line of len bytes, NUL-terminated, no newline; split
 * in place).  Returns 0, or -1 with *why. */
static int
parse_record(char *line, size_t len, struct rec *r, const char **why)
{
	char *f[8], *p = line, *s;
	size_t nf = 0;
	uint32_t want = 0;

	*why = "malformed record";
	if (len < 13 || line[3] != ' ' || line[12] != ' ' ||
	    memchr(line, '\0', len))
		return -1;
	for (int i = 4; i < 12; i++) {
		int v = hexval(line[i]);
		if (v < 0 || (line[i] >= 'A' && line[i] <= 'F'))
			return -1;
		want = want << 4 | (uint32_t)v;
	}
	if (record_crc(line, len) != want) {
		*why = "checksum mismatch";
		return -1;
	}
	while ((s = strsep(&p, " ")) != NULL) {
		if (nf == 8)
			return -1;
		f[nf++] = s;
	}
	memset(r, 0, sizeof(*r));
	if (nf == 8 && strcmp(f[0], "add") == 0)
		r->del = 0;
	else if (nf == 4 && strcmp(f[0], "del") == 0)
		r->del = 1;
	else {
		*why = "unknown record";
		return -1;
	}
	const char *list = f[r->del ? 2 : 4], *net = f[r->del ? 3 : 5];
	if (list_name(list, r->e.list) < 0 || strcmp(list, r->e.list) != 0) {
		*why = "bad list name";
		return -1;
	}
	if (addr_parse_cidr(net, &r->e.net, 1, why) < 0)
		return -1;
	if (r->del)
		return 0;
	if (parse_time(f[2], &r->e.added) < 0 ||
	    parse_time(f[3], &r->e.expires) < 0) {
		*why = "bad time";
		return -1;
	}
	if (unescape(f[6], r->e.origin, sizeof(r->e.origin)) < 0 ||
	    unescape(f[7], r->e.reason, sizeof(r->e.reason)) < 0) {
		*why = "bad origin or reason";
		return -1;
	}
	return 0;
}

/* ---- replay ---- */

static int
rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	int c = key_cmp(x->e.list, &x->e.net, &y->e);
	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Replays one file (data, len) into rp.  For the log, a torn or corrupt
 * last record is dropped and *good set to the end of the last good one.
 * Returns 0, or -1 with err when this is not a v1 journal or out of
 * memory. */
static int
replay_file(struct journal *j, struct replay *rp, const char *name,
    char *data, size_t len, int is_log, size_t *good, size_t *nrec,
    char *err, size_t errlen)
{
	size_t off = HEADER_LEN, lineno = 1;
	const char *why;

	*good = 0;
	*nrec = 0;
	if (len == 0)
		return 0;
	if (len < HEADER_LEN || memcmp(data, HEADER, HEADER_LEN) != 0) {
		if (is_log && len < HEADER_LEN && memcmp(data, HEADER, len) == 0) {
			log_warnx("%s/%s:1: torn header dropped", j->dir, name);
			return 0;
		}
		seterr(err, errlen, "state-dir %s: %s: %s", j->dir, name,
		    strncmp(data, HEADER_ANY, strlen(HEADER_ANY)) == 0 ?
		    "unsupported format version" : "not an rblcache journal");
		return -1;
	}
	for (*good = off; off < len; *good = off) {
		char *line = data + off, *nl = memchr(line, '\n', len - off);
		lineno++;
		if (!nl) {
			log_warnx("%s/%s:%zu: %s", j->dir, name, lineno, is_log ?
			    "torn last record dropped (crash during a write?)" :
			    "corrupt record skipped (no newline at the end)");
			return 0;
		}
		*nl = '\0';
		off = (size_t)(nl + 1 - data);
		if (line == nl || line[0] == '#')
			continue;
		if (rp->n == rp->cap) {
			size_t cap = rp->cap ? rp->cap * 2 : 256;
			struct rec *r = realloc(rp->r, cap * sizeof(*r));
			if (!r) {
				seterr(err, errlen, "state-dir %s: %s: out of memory",
				    j->dir, name);
				return -1;
			}
			rp->r = r;
			rp->cap = cap;
		}
		struct rec *r = &rp->r[rp->n];
		if (parse_record(line, (size_t)(nl - line), r, &why) < 0) {
			if (is_log && off == len) {
				log_warnx("%s/%s:%zu: corrupt last record dropped "
				    "(%s)", j->dir, name, lineno, why);
				return 0;
			}
			log_warnx("%s/%s:%zu: corrupt record skipped (%s)",
			    j->dir, name, lineno, why);
			continue;
		}
		r->seq = rp->n++;
		(*nrec)++;
	}
	return 0;
}

/* Builds j->e from the records: the last one of each key, unless a del. */
static int
replay_finish(struct journal *j, struct replay *rp)
{
	if (rp->n > 0)
		qsort(rp->r, rp->n, sizeof(*rp->r), rec_cmp);
	j->cap = rp->n > 64 ? rp->n : 64;
	if (!(j->e = malloc(j->cap * sizeof(*j->e))))
		return -1;
	for (size_t i = 0; i < rp->n; i++) {
		const struct rec *r = &rp->r[i];
		if (i + 1 < rp->n &&
		    key_cmp(r->e.list, &r->e.net, &rp->r[i + 1].e) == 0)
			continue;	/* a later record for this key follows */
		if (!r->del)
			j->e[j->n++] = r->e;
	}
	return 0;
}

/* ---- writing ---- */

/* Opens journal.log for appending: truncates what follows the last good
 * record, writes the header into an empty file.  Returns 0, or -1. */
static int
log_open_write(struct journal *j, char *err, size_t errlen)
{
	struct stat st;
	int fd = openat(j->dirfd, "journal.log",
	    O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return syserr(j, "journal.log", err, errlen);
	if (fstat(fd, &st) < 0)
		goto fail;
	if (st.st_size < j->logsize) {
		close(fd);
		seterr(err, errlen, "state-dir %s: journal.log: shorter than "
		    "when it was read", j->dir);
		return -1;
	}
	if (st.st_size > j->logsize && ftruncate(fd, j->logsize) < 0)
		goto fail;
	if (j->logsize == 0 && write_all(fd, HEADER, HEADER_LEN) < 0)
		goto fail;	/* the next attempt truncates it again */
	if (fsync(fd) < 0 || fsync(j->dirfd) < 0)
		goto fail;
	if (j->logsize == 0)
		j->logsize = HEADER_LEN;
	j->wfd = fd;
	return 0;
fail:
	syserr(j, "journal.log", err, errlen);
	close(fd);
	return -1;
}

/* Appends one record and fsyncs; on failure the log is as before. */
static int
log_append(struct journal *j, const char *rec, size_t len, char *err,
    size_t errlen)
{
	if (j->wfd < 0 && log_open_write(j, err, errlen) < 0)
		return -1;
	if (write_all(j->wfd, rec, len) == 0 && fsync(j->wfd) == 0) {
		j->logsize += (int64_t)len;
		j->logrecords++;
		return 0;
	}
	int saved = errno;
	if (ftruncate(j->wfd, j->logsize) < 0 || fsync(j->wfd) < 0) {
		close(j->wfd);		/* reopened and truncated before next */
		j->wfd = -1;
	}
	errno = saved;
	return syserr(j, "journal.log", err, errlen);
}

/* ---- API ---- */

struct journal *
journal_open(const char *dir, char *err, size_t errlen)
{
	struct journal *j = calloc(1, sizeof(*j));
	struct replay rp = { NULL, 0, 0 };
	char *data = NULL;
	size_t len, good, nrec;

	if (!j || !(j->dir = strdup(dir))) {
		seterr(err, errlen, "state-dir %s: out of memory", dir);
		goto fail;
	}
	j->dirfd = j->wfd = -1;
	if (mkdir(dir, 0700) == 0)
		sync_parent(dir);
	else if (errno != EEXIST) {
		syserr(j, "mkdir", err, errlen);
		goto fail;
	}
	if ((j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		syserr(j, "open", err, errlen);
		goto fail;
	}
	if (flock(j->dirfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			seterr(err, errlen, "state-dir %s: in use by another "
			    "process", dir);
		else
			syserr(j, "flock", err, errlen);
		goto fail;
	}
	/* left by a compaction that did not get to its rename */
	(void)unlinkat(j->dirfd, "entries.db.tmp", 0);
	if (read_file(j, "entries.db", &data, &len, err, errlen) < 0 ||
	    replay_file(j, &rp, "entries.db", data, len, 0, &good, &nrec,
	    err, errlen) < 0)
		goto fail;
	free(data);
	if (read_file(j, "journal.log", &data, &len, err, errlen) < 0 ||
	    replay_file(j, &rp, "journal.log", data, len, 1, &good, &nrec,
	    err, errlen) < 0)
		goto fail;
	j->logsize = (int64_t)good;
	j->logrecords = nrec;
	if (replay_finish(j, &rp) < 0) {
		seterr(err, errlen, "state-dir %s: out of memory", dir);
		goto fail;
	}
	if (log_open_write(j, err, errlen) < 0)
		log_warnx("%s; run-time list changes fail until it can be "
		    "written", err);
	seterr(err, errlen, "%s", "");
	free(data);
	free(rp.r);
	return j;
fail:
	free(data);
	free(rp.r);
	journal_close(j);
	return NULL;
}

void
journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->wfd >= 0)
		close(j->wfd);
	if (j->dirfd >= 0)
		close(j->dirfd);	/* releases the flock */
	free(j->e);
	free(j->view);
	free(j->dir);
	free(j);
}

int
journal_add(struct journal *j, const struct journal_entry *in, char *err,
    size_t errlen)
{
	struct journal_entry e;
	char rec[RECORD_MAX];
	int found;

	memset(&e, 0, sizeof(e));
	const char *why = list_name(in->list, e.list) < 0 ? "bad list name" :
	    normalize_net(&in->net, &e.net) < 0 ? "bad prefix" :
	    in->added < 0 || in->added > TIME_MAX || in->expires < 0 ||
	    in->expires > TIME_MAX ? "bad time" :
	    !memchr(in->origin, '\0', sizeof(in->origin)) ||
	    !memchr(in->reason, '\0', sizeof(in->reason)) ?
	    "origin or reason not terminated" : NULL;
	if (why) {
		seterr(err, errlen, "%s", why);
		return -1;
	}
	e.added = in->added;
	e.expires = in->expires;
	strcpy(e.origin, in->origin);
	strcpy(e.reason, in->reason);

	size_t i = lookup(j, e.list, &e.net, &found);
	if (!found && j->n == j->cap) {
		size_t cap = j->cap * 2;
		struct journal_entry *p = realloc(j->e, cap * sizeof(*p));
		if (!p) {
			seterr(err, errlen, "out of memory");
			return -1;
		}
		j->e = p;
		j->cap = cap;
	}
	if (log_append(j, rec, format_record(rec, 0, &e), err, errlen) < 0)
		return -1;
	if (!found) {
		memmove(&j->e[i + 1], &j->e[i], (j->n - i) * sizeof(*j->e));
		j->n++;
	}
	j->e[i] = e;
	return 0;
}

int
journal_del(struct journal *j, const char *list, const struct cidr *net,
    char *err, size_t errlen)
{
	struct journal_entry e;
	char rec[RECORD_MAX];
	int found;

	memset(&e, 0, sizeof(e));
	if (list_name(list, e.list) < 0 || normalize_net(net, &e.net) < 0)
		return 1;
	size_t i = lookup(j, e.list, &e.net, &found);
	if (!found)
		return 1;
	if (log_append(j, rec, format_record(rec, 1, &e), err, errlen) < 0)
		return -1;
	memmove(&j->e[i], &j->e[i + 1], (j->n - i - 1) * sizeof(*j->e));
	j->n--;
	return 0;
}

size_t
journal_entries(struct journal *j, int64_t now,
    const struct journal_entry **out)
{
	size_t n = 0;
	for (size_t i = 0; i < j->n; i++)
		n += live(&j->e[i], now) != 0;
	if (n < j->n && n > j->viewcap) {
		struct journal_entry *v = realloc(j->view, n * sizeof(*v));
		if (!v) {
			log_warnx("%s: out of memory, expired entries dropped",
			    __func__);
			journal_expire(j, now);
		} else {
			j->view = v;
			j->viewcap = n;
		}
	}
	if (n == j->n || n == 0) {
		*out = j->e;	/* never NULL */
		return n;
	}
	n = 0;
	for (size_t i = 0; i < j->n; i++)
		if (live(&j->e[i], now))
			j->view[n++] = j->e[i];
	*out = j->view;
	return n;
}

const struct journal_entry *
journal_find(struct journal *j, const char *list, const struct cidr *net,
    int64_t now)
{
	char name[JOURNAL_LIST_MAX];
	struct cidr c;
	int found;

	if (list_name(list, name) < 0 || normalize_net(net, &c) < 0)
		return NULL;
	size_t i = lookup(j, name, &c, &found);
	return found && live(&j->e[i], now) ? &j->e[i] : NULL;
}

size_t
journal_expire(struct journal *j, int64_t now)
{
	size_t n = 0;
	for (size_t i = 0; i < j->n; i++)
		if (live(&j->e[i], now))
			j->e[n++] = j->e[i];
	size_t dropped = j->n - n;
	j->n = n;
	return dropped;
}

int
journal_compact(struct journal *j, int64_t now, char *err, size_t errlen)
{
	const char *tmp = "entries.db.tmp";
	char *buf = NULL;
	size_t len = HEADER_LEN;
	int fd = -1;

	if (j->wfd < 0 && log_open_write(j, err, errlen) < 0)
		return -1;
	if (!(buf = malloc(COMPACT_BUF))) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	memcpy(buf, HEADER, HEADER_LEN);
	if ((fd = openat(j->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600)) < 0)
		goto fail;
	for (size_t i = 0; i < j->n; i++) {
		if (!live(&j->e[i], now))
			continue;
		if (len + RECORD_MAX > COMPACT_BUF) {
			if (write_all(fd, buf, len) < 0)
				goto fail;
			len = 0;
		}
		len += format_record(buf + len, 0, &j->e[i]);
	}
	if (write_all(fd, buf, len) < 0 || fsync(fd) < 0)
		goto fail;
	int r = close(fd);
	fd = -1;
	if (r < 0 || renameat(j->dirfd, tmp, j->dirfd, "entries.db") < 0)
		goto fail;
	free(buf);
	/* Until the rename is durable the log must keep every record. */
	if (fsync(j->dirfd) < 0)
		return syserr(j, "fsync", err, errlen);
	if (ftruncate(j->wfd, (off_t)HEADER_LEN) < 0)
		return syserr(j, "journal.log", err, errlen);
	j->logsize = HEADER_LEN;
	j->logrecords = 0;
	if (fsync(j->wfd) < 0)
		return syserr(j, "journal.log", err, errlen);
	journal_expire(j, now);
	return 0;
fail:
	syserr(j, tmp, err, errlen);
	if (fd >= 0)
		close(fd);
	(void)unlinkat(j->dirfd, tmp, 0);
	free(buf);
	return -1;
}

size_t
journal_log_records(const struct journal *j)
{
	return j->logrecords;
}

int64_t
journal_log_size(const struct journal *j)
{
	return j->logsize;
}

/* ---- records for sharing ---- */

size_t
journal_record(char *buf, size_t size, int del, const struct journal_entry *e)
{
	char rec[RECORD_MAX];
	struct journal_entry n = *e;
	if (list_name(e->list, n.list) < 0 || normalize_net(&e->net, &n.net) < 0)
		return 0;
	size_t len = format_record(rec, del, &n) - 1;	/* no newline */
	if (len + 1 > size)
		return 0;
	memcpy(buf, rec, len);
	buf[len] = '\0';
	return len;
}

int
journal_parse(char *line, struct journal_entry *e, int *del, const char **why)
{
	struct rec r;
	if (parse_record(line, strlen(line), &r, why) < 0)
		return -1;
	*e = r.e;
	*del = r.del;
	return 0;
}
