/* querylog.c -- per-worker rings drained by one writer thread.
 *
 * Ring invariants: the worker alone advances tail (release, after the
 * bytes are in), the writer alone advances head (release, after the
 * bytes are out); both are free-running byte counts, the position is
 * count % QUERYLOG_RING, and tail - head <= QUERYLOG_RING.  A line is
 * never split across the end of the ring by the worker's view: it is
 * copied in two parts, and the writer writes up to two segments.
 */
#include "querylog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "log.h"

#define WRITER_INTERVAL_NS	100000000L	/* 0.1 s */

struct ring {
	char *buf;
	_Atomic uint64_t head, tail;
	char pad[64];		/* keep the next ring's counters apart */
};

struct querylog {
	int fd;
	int nrings;
	struct ring *rings;
	pthread_t thread;
	int started;
	_Atomic int stop, reopen;
	pthread_mutex_t mu;	/* path */
	char *path;
	_Atomic uint64_t errors;
	time_t logged;		/* writer only: last error logged */
};

/* ---- the file ---- */

static int
open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		log_warn("query-log %s: cannot open; its lines are lost until "
		    "it is fixed and rblcached reloaded", path);
	return fd;
}

/* Writer: one error line a minute at most; every failure counted. */
static void
write_failed(struct querylog *ql, int err)
{
	atomic_fetch_add(&ql->errors, 1);
	time_t now = time(NULL);
	if (ql->logged && now - ql->logged < 60)
		return;
	ql->logged = now;
	errno = err;
	pthread_mutex_lock(&ql->mu);
	log_warn("query-log %s: write failed, lines lost (logged once a "
	    "minute; DNS service continues)", ql->path);
	pthread_mutex_unlock(&ql->mu);
}

static void
drain(struct querylog *ql, struct ring *r)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (head == tail)
		return;
	struct iovec iov[2];
	size_t pos = (size_t)(head % QUERYLOG_RING), n = (size_t)(tail - head);
	size_t first = n < QUERYLOG_RING - pos ? n : QUERYLOG_RING - pos;
	iov[0].iov_base = r->buf + pos;
	iov[0].iov_len = first;
	iov[1].iov_base = r->buf;
	iov[1].iov_len = n - first;
	if (ql->fd < 0)
		atomic_fetch_add(&ql->errors, 1);
	else {
		/* a short write of a regular file means the disk filled up */
		ssize_t w = writev(ql->fd, iov, iov[1].iov_len ? 2 : 1);
		if (w < 0 || (size_t)w != n)
			write_failed(ql, w < 0 ? errno : ENOSPC);
	}
	atomic_store_explicit(&r->head, tail, memory_order_release);
}

static void
reopen(struct querylog *ql)
{
	pthread_mutex_lock(&ql->mu);
	char *path = strdup(ql->path);
	pthread_mutex_unlock(&ql->mu);
	if (!path)
		return;
	int fd = open_log(path);
	if (ql->fd >= 0)
		close(ql->fd);
	ql->fd = fd;
	ql->logged = 0;
	free(path);
}

static void *
writer_main(void *arg)
{
	struct querylog *ql = arg;
	for (;;) {
		int stopping = atomic_load(&ql->stop);
		if (atomic_exchange(&ql->reopen, 0))
			reopen(ql);
		for (int i = 0; i < ql->nrings; i++)
			drain(ql, &ql->rings[i]);
		if (stopping)
			return NULL;
		struct timespec ts = { 0, WRITER_INTERVAL_NS };
		nanosleep(&ts, NULL);
	}
}

/* ---- API ---- */

struct querylog *
querylog_new(const char *path, int nworkers)
{
	struct querylog *ql = calloc(1, sizeof(*ql));
	if (!ql || !(ql->rings = calloc((size_t)nworkers, sizeof(*ql->rings))) ||
	    !(ql->path = strdup(path)))
		goto fail;
	ql->nrings = nworkers;
	for (int i = 0; i < nworkers; i++)
		if (!(ql->rings[i].buf = malloc(QUERYLOG_RING)))
			goto fail;
	pthread_mutex_init(&ql->mu, NULL);
	ql->fd = open_log(path);
	return ql;
fail:
	if (ql && ql->rings)
		for (int i = 0; i < nworkers; i++)
			free(ql->rings[i].buf);
	if (ql) {
		free(ql->rings);
		free(ql->path);
	}
	free(ql);
	return NULL;
}

void
querylog_start(struct querylog *ql)
{
	sigset_t all, old;
	sigfillset(&all);
	/* signals belong to the main loop */
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&ql->thread, NULL, writer_main, ql) != 0)
		fatalx("%s: cannot start the query log writer", __func__);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ql->started = 1;
}

void
querylog_reopen(struct querylog *ql, const char *path)
{
	char *p = path ? strdup(path) : NULL;
	if (p) {
		pthread_mutex_lock(&ql->mu);
		free(ql->path);
		ql->path = p;
		pthread_mutex_unlock(&ql->mu);
	}
	atomic_store(&ql->reopen, 1);
}

void
querylog_free(struct querylog *ql)
{
	if (!ql)
		return;
	if (ql->started) {
		atomic_store(&ql->stop, 1);
		pthread_join(ql->thread, NULL);
	} else
		for (int i = 0; i < ql->nrings; i++)
			drain(ql, &ql->rings[i]);
	if (ql->fd >= 0)
		close(ql->fd);
	for (int i = 0; i < ql->nrings; i++)
		free(ql->rings[i].buf);
	free(ql->rings);
	pthread_mutex_destroy(&ql->mu);
	free(ql->path);
	free(ql);
}

uint64_t
querylog_errors(struct querylog *ql)
{
	return atomic_load(&ql->errors);
}

/* ---- lines ---- */

/* The question's name at pkt+12 as text; "-" when there is none or it
 * does not parse (a FORMERR). */
static size_t
qname_text(const uint8_t *pkt, size_t len, char *out, size_t size,
    uint16_t *qtype)
{
	size_t o = 0, p = DNS_HDRLEN;
	*qtype = 0;
	if (len < DNS_HDRLEN || (pkt[4] == 0 && pkt[5] == 0))
		goto bad;
	while (p < len && pkt[p] != 0) {
		size_t l = pkt[p++];
		if (l > 63 || p + l > len)
			goto bad;
		for (size_t i = 0; i < l; i++) {
			unsigned char c = pkt[p + i];
			if (o + 5 >= size)
				goto bad;
			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c + 32);
			if (c == '.' || c == '\\')
				o += (size_t)snprintf(out + o, size - o, "\\%c", c);
			else if (c <= ' ' || c >= 127)
				o += (size_t)snprintf(out + o, size - o, "\\%03u", c);
			else
				out[o++] = (char)c;
		}
		p += l;
		if (o + 1 >= size)
			goto bad;
		out[o++] = '.';
	}
	if (p + 2 >= len)
		goto bad;
	*qtype = (uint16_t)(pkt[p + 1] << 8 | pkt[p + 2]);
	if (o == 0)
		out[o++] = '.';
	else if (o > 1)
		o--;		/* no trailing dot */
	out[o] = '\0';
	return o;
bad:
	snprintf(out, size, "-");
	return 1;
}

static const char *
qtype_text(uint16_t t, char *buf, size_t size)
{
	switch (t) {
	case DNS_T_A:		return "A";
	case DNS_T_NS:		return "NS";
	case DNS_T_SOA:		return "SOA";
	case DNS_T_TXT:		return "TXT";
	case DNS_T_AAAA:	return "AAAA";
	case DNS_T_ANY:		return "ANY";
	}
	snprintf(buf, size, "TYPE%u", t);
	return buf;
}

size_t
querylog_format(char *buf, size_t size, int64_t wall_ms, const uint8_t *pkt,
    size_t len, const struct ipaddr *client, const struct query_result *res,
    uint64_t latency_ns)
{
	static const char *const rcodes[] = { "NOERROR", "FORMERR", "SERVFAIL",
	    "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS" };
	static const char *const via[] = { "-", "local", "cache", "upstream" };
	char when[32], ip[64], name[4 * DNS_MAXNAME + 8], tb[16], score[16];
	time_t sec = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	addr_ntop(client, ip, sizeof(ip));
	uint16_t qtype;
	qname_text(pkt, len, name, sizeof(name), &qtype);
	if (res->score == QUERY_NO_SCORE)
		snprintf(score, sizeof(score), "-");
	else
		snprintf(score, sizeof(score), "%d", (int)res->score);
	int n = snprintf(buf, size, "%s.%03dZ %s %s %s %s %s %s %llu %s\n", when,
	    (int)(wall_ms % 1000), ip, name, qtype || name[0] != '-' ?
	    qtype_text(qtype, tb, sizeof(tb)) : "-",
	    res->rcode < 7 ? rcodes[res->rcode] : "-",
	    res->verdict < 0 ? "-" : res->verdict ? "listed" : "notlisted", score,
	    (unsigned long long)(latency_ns / 1000), via[res->via & 3]);
	if (n < 0)
		return 0;
	if ((size_t)n >= size) {
		buf[size - 2] = '\n';
		return size - 1;
	}
	return (size_t)n;
}

void
querylog_write(struct querylog *ql, int w, const uint8_t *pkt, size_t len,
    const struct ipaddr *client, const struct query_result *res,
    uint64_t latency_ns, struct query_stats *st)
{
	char line[QUERYLOG_LINE];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	size_t n = querylog_format(line, sizeof(line),
	    (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, pkt, len, client,
	    res, latency_ns);
	struct ring *r = &ql->rings[w];
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	if (n == 0 || QUERYLOG_RING - (tail - head) < n) {
		st->qlog_dropped++;
		return;
	}
	size_t pos = (size_t)(tail % QUERYLOG_RING);
	size_t first = n < QUERYLOG_RING - pos ? n : QUERYLOG_RING - pos;
	memcpy(r->buf + pos, line, first);
	memcpy(r->buf, line + first, n - first);
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	st->qlog_lines++;
}
