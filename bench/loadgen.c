/* loadgen.c -- a UDP DNS load generator light enough that the server, not
 * the generator, is the bottleneck.
 *
 *   loadgen -s 127.0.0.1 -p PORT -f QUERYFILE [-r RATE | -c INFLIGHT]
 *           [-d SECONDS] [-n MAXQUERIES] [-S SOCKETS] [-t TIMEOUT_MS]
 *           [-T THREADS] [-l LABEL]
 *
 * QUERYFILE is dnsperf's format, "NAME TYPE" a line (';' or '#' starts a
 * comment line).  Every query is encoded once at start, RD set, with an
 * EDNS0 OPT of 1232 bytes, and the file is cycled through in order.
 *
 * Two loops.  Open (-r RATE, total qps over all threads): each thread
 * sends on schedule whether or not answers come, in sendmmsg batches of
 * what is due when it wakes; the default timer slack (50 us) is kept, as
 * a 1 us one cost ~1.7x the CPU at 20k qps on a VM, and the schedule
 * catches up anyway.  Closed (-c N, the default with N = 100): each thread keeps
 * N queries in flight; an answer or a timeout frees a place.  Sending
 * stops after -d seconds (default 10) or -n queries (split over threads),
 * whichever comes first; then the thread waits at most the timeout for
 * what is still in flight.  Nothing runs past d + timeout + 1 s.
 *
 * Threads share nothing but the read-only query set and the stop flag;
 * each has -S connected sockets (default 4), used round-robin one batch
 * at a time.  Per socket, DNS IDs are handed out in a cycle: IDs
 * [tail, head) are the window that may be in flight, and sent_ns[id] is
 * the send time of an unanswered query or 0.  Send times grow with the ID,
 * so timeouts are found by walking from tail; a socket whose window spans
 * all 65536 IDs takes no more queries until its oldest one is answered or
 * times out.  An answer is matched by socket + ID and its question is
 * checked against the query sent.  Latency runs from the send (times
 * inside one sendmmsg are interpolated between the clock reads around it)
 * to the recvmmsg that returned the answer, into a log-linear histogram
 * (exact below 256 ns, then 128 buckets per power of two: < 0.8 % wide;
 * a percentile is reported as its bucket's middle).
 *
 * Pinning is left to taskset.  Traffic goes to 127.0.0.0/8 or ::1 only.
 * Output: one line on stdout (qps = answered / elapsed, elapsed from the
 * first send to the end of sending or the last answer, whichever is later):
 *
 *   loadgen label=L sent=N answered=N lost=N qps=X p50_us=.. p90_us=..
 *     p99_us=.. p999_us=.. max_us=.. noerror=N nxdomain=N other=N
 *     elapsed_s=X avg_us=X send_qps=X late=N mismatch=N senderr=N
 *
 * send_qps: sent / time until sending stopped, what the generator managed
 * (short of -r when it cannot keep up); late: answers to queries already
 * counted lost; mismatch: datagrams that match no query sent (not a
 * response, wrong question); senderr: sends the kernel refused with an
 * error other than a full buffer.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchnet.h"

#define LG_BATCH	64		/* datagrams per sendmmsg/recvmmsg */
#define LG_IDS		65536		/* DNS IDs per socket */
#define LG_QMAX		512		/* longest encoded query (282 in fact) */
#define LG_RBUF		2048		/* answer bytes kept; the rest truncated */
#define LG_MAXSOCK	64
#define LG_MAXTHREAD	64
#define LG_MAXLINES	10000000	/* query file lines read at most */
#define LG_RECV_ROUNDS	8		/* recvmmsg calls per socket per wakeup */
#define DNS_HDRLEN	12
#define EDNS_BUFSIZE	1232

#define HIST_SUB_BITS	7
#define HIST_SUB	(1 << HIST_SUB_BITS)
#define HIST_MAXBIT	40		/* ~1100 s in ns; larger values clamp */
#define HIST_N		((HIST_MAXBIT - HIST_SUB_BITS + 1) * HIST_SUB)

#define NS		1000000000ull

static volatile sig_atomic_t stop;

/* ---- options ---- */

struct lg_opts {
	struct sockaddr_storage server;
	socklen_t server_len;
	const char *file, *label;
	double rate;		/* total qps; 0: closed loop */
	uint64_t inflight;	/* closed loop, per thread */
	double duration;	/* seconds */
	uint64_t maxq;		/* total; 0: no limit but the duration */
	int sockets, threads;
	uint64_t timeout_ns;
};

/* ---- the query set: read-only once loaded, shared by all threads ---- */

struct lg_query {
	uint32_t off;		/* into lg_queries.wire */
	uint16_t len;		/* whole message */
	uint16_t qname_len;	/* name in wire form; type and class follow */
};

struct lg_queries {
	uint8_t *wire;		/* every query back to back, ID 0 */
	struct lg_query *q;
	size_t n;
};

static const struct {
	const char *name;
	uint16_t type;
} lg_types[] = {
	{ "A", 1 }, { "NS", 2 }, { "CNAME", 5 }, { "SOA", 6 }, { "PTR", 12 },
	{ "HINFO", 13 }, { "MX", 15 }, { "TXT", 16 }, { "AAAA", 28 },
	{ "SRV", 33 }, { "NAPTR", 35 }, { "DS", 43 }, { "RRSIG", 46 },
	{ "NSEC", 47 }, { "DNSKEY", 48 }, { "SVCB", 64 }, { "HTTPS", 65 },
	{ "ANY", 255 }, { "CAA", 257 },
};

static int
type_parse(const char *s, uint16_t *out)
{
	for (size_t i = 0; i < sizeof(lg_types) / sizeof(lg_types[0]); i++)
		if (strcasecmp(s, lg_types[i].name) == 0) {
			*out = lg_types[i].type;
			return 0;
		}
	if (strncasecmp(s, "TYPE", 4) == 0 && s[4] != '\0') {
		char *end;
		unsigned long v = strtoul(s + 4, &end, 10);
		if (*end == '\0' && v <= 65535) {
			*out = (uint16_t)v;
			return 0;
		}
	}
	return -1;
}

/* Writes name in wire form to out (room for 255 bytes).  Returns its
 * length, or -1 with *err set. */
static int
name_encode(const char *name, uint8_t *out, const char **err)
{
	size_t len = strlen(name), o = 0;
	if (len > 0 && name[len - 1] == '.')
		len--;			/* "." becomes the root */
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && name[j] != '.')
			j++;
		if (j == i) {
			*err = "empty label";
			return -1;
		}
		if (j - i > 63) {
			*err = "label longer than 63";
			return -1;
		}
		if (o + 1 + (j - i) + 1 > 255) {
			*err = "name longer than 255";
			return -1;
		}
		out[o++] = (uint8_t)(j - i);
		for (size_t k = i; k < j; k++) {
			if (name[k] == '\\') {
				*err = "escapes are not supported";
				return -1;
			}
			out[o++] = (uint8_t)name[k];
		}
		i = j + 1;
	}
	out[o++] = 0;
	return (int)o;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Encodes one query with ID 0.  Returns its length. */
static size_t
query_encode(uint8_t *out, const uint8_t *qname, size_t qname_len,
    uint16_t type)
{
	memset(out, 0, DNS_HDRLEN);
	put16(out + 2, 0x0100);			/* RD */
	put16(out + 4, 1);			/* QDCOUNT */
	put16(out + 10, 1);			/* ARCOUNT: the OPT */
	size_t o = DNS_HDRLEN;
	memcpy(out + o, qname, qname_len);
	o += qname_len;
	put16(out + o, type);
	put16(out + o + 2, 1);			/* IN */
	o += 4;
	out[o++] = 0;				/* OPT: root name */
	put16(out + o, 41);
	put16(out + o + 2, EDNS_BUFSIZE);
	memset(out + o + 4, 0, 6);		/* TTL (rcode, version, DO), rdlen */
	return o + 10;
}

/* Loads and encodes path.  Bad lines are skipped with a warning.
 * Returns 0 with qs owning two heap arrays, or -1. */
static int
queries_load(const char *path, struct lg_queries *qs)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 1024, wcap = 1024 * 64, wlen = 0, bad = 0;
	char *line = NULL;
	size_t linecap = 0;
	memset(qs, 0, sizeof(*qs));
	qs->q = malloc(cap * sizeof(*qs->q));
	qs->wire = malloc(wcap);
	if (qs->q == NULL || qs->wire == NULL)
		goto nomem;
	for (size_t lineno = 1; lineno <= LG_MAXLINES; lineno++) {
		if (getline(&line, &linecap, f) < 0)
			break;
		char *save = NULL;
		char *name = strtok_r(line, " \t\r\n", &save);
		if (name == NULL || name[0] == ';' || name[0] == '#')
			continue;
		char *tname = strtok_r(NULL, " \t\r\n", &save);
		uint16_t type = 1;
		uint8_t qname[256];
		const char *err = NULL;
		int qlen = name_encode(name, qname, &err);
		if (qlen >= 0 && tname != NULL && type_parse(tname, &type) < 0)
			err = "unknown type";
		if (err != NULL) {
			if (bad++ < 10)
				fprintf(stderr, "loadgen: %s:%zu: %s, line "
				    "skipped\n", path, lineno, err);
			continue;
		}
		if (qs->n == cap) {
			cap *= 2;
			void *p = realloc(qs->q, cap * sizeof(*qs->q));
			if (p == NULL)
				goto nomem;
			qs->q = p;
		}
		if (wlen + LG_QMAX > wcap) {
			wcap *= 2;
			void *p = realloc(qs->wire, wcap);
			if (p == NULL)
				goto nomem;
			qs->wire = p;
		}
		struct lg_query *q = &qs->q[qs->n++];
		q->off = (uint32_t)wlen;
		q->qname_len = (uint16_t)qlen;
		q->len = (uint16_t)query_encode(qs->wire + wlen, qname,
		    (size_t)qlen, type);
		wlen += q->len;
		if (wlen > UINT32_MAX - LG_QMAX) {
			fprintf(stderr, "loadgen: %s: too many queries\n", path);
			goto fail;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
		goto fail;
	}
	if (bad > 10)
		fprintf(stderr, "loadgen: %s: %zu lines skipped in all\n", path,
		    bad);
	if (qs->n == 0) {
		fprintf(stderr, "loadgen: %s: no queries\n", path);
		goto fail;
	}
	free(line);
	fclose(f);
	return 0;
nomem:
	fprintf(stderr, "loadgen: out of memory loading %s\n", path);
fail:
	free(line);
	free(qs->q);
	free(qs->wire);
	fclose(f);
	return -1;
}

/* ---- latency histogram ---- */

static unsigned
hist_index(uint64_t v)
{
	if (v >= (1ull << HIST_MAXBIT))
		v = (1ull << HIST_MAXBIT) - 1;
	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
	return shift * HIST_SUB + (unsigned)(v >> shift);
}

/* The middle of bucket i, in ns. */
static double
hist_value(unsigned i)
{
	if (i < 2 * HIST_SUB)
		return i;
	unsigned shift = i / HIST_SUB - 1;
	uint64_t m = i - shift * HIST_SUB;
	return (double)(m << shift) + ((double)(1ull << shift) - 1) / 2;
}

/* The value at quantile p (0..1) of n samples, in ns; max caps it. */
static double
hist_quantile(const uint64_t *h, uint64_t n, double p, uint64_t max)
{
	if (n == 0)
		return 0;
	uint64_t want = (uint64_t)ceil(p * (double)n), acc = 0;
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_N; i++) {
		acc += h[i];
		if (acc >= want) {
			double v = hist_value(i);
			return v > (double)max ? (double)max : v;
		}
	}
	return (double)max;
}

/* ---- one thread ---- */

struct lg_sock {
	int fd;
	uint32_t head, tail;	/* ID window [tail, head), IDs mod 65536 */
	uint64_t *sent_ns;	/* [LG_IDS]: send time, 0 when not in flight */
	uint32_t *qidx;		/* [LG_IDS]: which query the ID was */
};

/* Holds the threads until all are created, so that they start together. */
struct lg_gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open;
};

struct lg_counts {
	uint64_t sent, answered, lost, late, mismatch, senderr;
	uint64_t noerror, nxdomain, other;
};

/* Owned by its thread until joined; then main reads it. */
struct lg_thread {
	pthread_t tid;
	const struct lg_opts *o;
	const struct lg_queries *qs;
	struct lg_gate *gate;
	struct lg_sock socks[LG_MAXSOCK];
	size_t qnext;		/* next query to send */
	double rate;		/* this thread's qps; 0: closed loop */
	uint64_t maxq;		/* this thread's share; UINT64_MAX: none */
	uint64_t inflight;
	struct lg_counts c;
	uint64_t t_start, t_send_end, t_last_answer, max_ns, sum_ns;
	uint64_t hist[HIST_N];
	/* I/O scratch, set up once */
	struct mmsghdr smsg[LG_BATCH], rmsg[LG_BATCH];
	struct iovec siov[LG_BATCH], riov[LG_BATCH];
	uint8_t sbuf[LG_BATCH][LG_QMAX];
	uint8_t rbuf[LG_BATCH][LG_RBUF];
};

/* Waits for gate_open, 60 s at most. */
static void
gate_wait(struct lg_gate *g)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&g->mu);
	for (int i = 0; i < 1000 && !g->open; i++)
		if (pthread_cond_timedwait(&g->cv, &g->mu, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&g->mu);
}

static void
gate_open(struct lg_gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* Sends up to want (<= LG_BATCH) queries on s with one sendmmsg.
 * Returns how many left; a full buffer or ID window is not an error. */
static unsigned
send_batch(struct lg_thread *t, struct lg_sock *s, unsigned want)
{
	const struct lg_queries *qs = t->qs;
	uint32_t room = LG_IDS - (s->head - s->tail);
	if (want > room)
		want = room;
	if (want == 0)
		return 0;
	size_t q = t->qnext;
	for (unsigned i = 0; i < want; i++) {
		const struct lg_query *qq = &qs->q[q];
		uint16_t id = (uint16_t)(s->head + i);
		memcpy(t->sbuf[i], qs->wire + qq->off, qq->len);
		put16(t->sbuf[i], id);
		t->siov[i].iov_len = qq->len;
		s->qidx[id] = (uint32_t)q;
		if (++q == qs->n)
			q = 0;
	}
	uint64_t before = bench_clock_ns();
	int n = sendmmsg(s->fd, t->smsg, want, MSG_DONTWAIT);
	uint64_t after = bench_clock_ns();
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS &&
		    errno != EINTR)
			t->c.senderr++;	/* e.g. ECONNREFUSED, consumed here */
		return 0;
	}
	/* message i left somewhere between before and after */
	for (int i = 0; i < n; i++)
		s->sent_ns[(uint16_t)(s->head + (unsigned)i)] = before +
		    (after - before) * (uint64_t)(i + 1) / (uint64_t)want;
	s->head += (uint32_t)n;
	t->qnext = (t->qnext + (size_t)n) % qs->n;
	t->c.sent += (uint64_t)n;
	t->inflight += (uint64_t)n;
	return (unsigned)n;
}

/* Compares the question of an answer with the query's, names without
 * regard to case. */
static int
question_eq(const uint8_t *ans, size_t len, const uint8_t *query,
    size_t qname_len)
{
	if (len < DNS_HDRLEN + qname_len + 4)
		return 0;
	const uint8_t *a = ans + DNS_HDRLEN, *q = query + DNS_HDRLEN;
	for (size_t i = 0; i < qname_len; i++)
		if (a[i] != q[i] && tolower(a[i]) != tolower(q[i]))
			return 0;
	return memcmp(a + qname_len, q + qname_len, 4) == 0;
}

static void
answer(struct lg_thread *t, struct lg_sock *s, const uint8_t *p, size_t len,
    uint64_t now)
{
	if (len < DNS_HDRLEN || !(p[2] & 0x80)) {
		t->c.mismatch++;
		return;
	}
	uint16_t id = (uint16_t)(p[0] << 8 | p[1]);
	uint64_t sent = s->sent_ns[id];
	if (sent == 0) {
		t->c.late++;
		return;
	}
	const struct lg_query *q = &t->qs->q[s->qidx[id]];
	/* FORMERR and the like may come without the question */
	if ((p[4] | p[5]) != 0 && !question_eq(p, len, t->qs->wire + q->off,
	    q->qname_len)) {
		t->c.mismatch++;
		return;
	}
	s->sent_ns[id] = 0;
	t->inflight--;
	t->c.answered++;
	uint64_t lat = now > sent ? now - sent : 0;
	t->hist[hist_index(lat)]++;
	t->sum_ns += lat;
	if (lat > t->max_ns)
		t->max_ns = lat;
	switch (p[3] & 0x0f) {
	case 0:
		t->c.noerror++;
		break;
	case 3:
		t->c.nxdomain++;
		break;
	default:
		t->c.other++;
	}
}

static void
recv_sock(struct lg_thread *t, struct lg_sock *s)
{
	for (int round = 0; round < LG_RECV_ROUNDS; round++) {
		int n = recvmmsg(s->fd, t->rmsg, LG_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;	/* empty, or an ICMP error: timeouts count it */
		uint64_t now = bench_clock_ns();
		for (int i = 0; i < n; i++)
			answer(t, s, t->rbuf[i], t->rmsg[i].msg_len, now);
		t->t_last_answer = now;
		if (n < LG_BATCH)
			return;
	}
}

/* Frees the IDs at the tail of s's window that were answered or timed
 * out.  At most LG_IDS steps. */
static void
sweep(struct lg_thread *t, struct lg_sock *s, uint64_t now)
{
	while (s->tail != s->head) {
		uint16_t id = (uint16_t)s->tail;
		uint64_t sent = s->sent_ns[id];
		if (sent != 0) {
			if (now - sent < t->o->timeout_ns)
				return;
			s->sent_ns[id] = 0;
			t->c.lost++;
			t->inflight--;
		}
		s->tail++;
	}
}

static void *
thread_main(void *arg)
{
	struct lg_thread *t = arg;
	const struct lg_opts *o = t->o;
	int nsock = o->sockets;
	struct pollfd pfd[LG_MAXSOCK];

	for (int i = 0; i < nsock; i++) {
		pfd[i].fd = t->socks[i].fd;
		pfd[i].events = POLLIN;
	}
	gate_wait(t->gate);

	uint64_t t0 = bench_clock_ns();
	uint64_t t_end = t0 + (uint64_t)(o->duration * (double)NS);
	uint64_t t_hard = t_end + o->timeout_ns + NS;
	t->t_start = t->t_last_answer = t0;
	int sending = 1, next = 0;
	/* the clock bounds the loop; the count (10 rounds a microsecond,
	 * more than a syscall allows) is a backstop */
	uint64_t max_iter = (t_hard - t0) / 100;
	for (uint64_t iter = 0; iter < max_iter; iter++) {
		uint64_t now = bench_clock_ns();
		if (now >= t_hard)
			break;
		for (int i = 0; i < nsock; i++)
			sweep(t, &t->socks[i], now);
		if (sending && (now >= t_end || t->c.sent >= t->maxq || stop)) {
			sending = 0;
			t->t_send_end = now;
		}
		if (!sending && t->inflight == 0)
			break;

		/* send what is due: at most one batch per socket per round,
		 * so answers are read between bursts */
		uint64_t want = 0;
		int progress = 0;
		if (sending) {
			if (t->rate > 0) {
				uint64_t due = (uint64_t)((double)(now - t0) *
				    t->rate / 1e9) + 1;
				want = due > t->c.sent ? due - t->c.sent : 0;
			} else if (o->inflight > t->inflight)
				want = o->inflight - t->inflight;
			if (want > t->maxq - t->c.sent)
				want = t->maxq - t->c.sent;
			for (int k = 0; k < nsock && want > 0; k++) {
				unsigned n = send_batch(t, &t->socks[next],
				    want > LG_BATCH ? LG_BATCH : (unsigned)want);
				next = (next + 1) % nsock;
				want -= n;
				progress |= n > 0;
			}
		}

		/* sleep until an answer, the next send, the next timeout or
		 * the end of sending */
		now = bench_clock_ns();
		uint64_t wake = t_hard;
		if (sending) {
			if (t_end < wake)
				wake = t_end;
			if (want > 0)	/* behind: retry now, or soon if stuck */
				wake = progress ? now : now + 100000;
			else if (t->rate > 0) {
				uint64_t at = t0 + (uint64_t)ceil(
				    (double)t->c.sent * 1e9 / t->rate);
				if (at < wake)
					wake = at;
			}
		}
		for (int i = 0; i < nsock; i++) {
			struct lg_sock *s = &t->socks[i];
			if (s->tail != s->head) {
				uint64_t at = s->sent_ns[(uint16_t)s->tail] +
				    o->timeout_ns;
				if (at < wake)
					wake = at;
			}
		}
		uint64_t d = wake > now ? wake - now : 0;
		struct timespec ts = { (time_t)(d / NS), (long)(d % NS) };
		int r = ppoll(pfd, (nfds_t)nsock, &ts, NULL);
		if (r <= 0)
			continue;
		for (int i = 0; i < nsock; i++)
			if (pfd[i].revents & (POLLIN | POLLERR))
				recv_sock(t, &t->socks[i]);
	}
	if (sending)
		t->t_send_end = bench_clock_ns();
	/* whatever is left at the hard stop never came back */
	t->c.lost += t->inflight;
	t->inflight = 0;
	return NULL;
}

/* Opens t's sockets and scratch.  Returns 0, or -1. */
static int
thread_setup(struct lg_thread *t)
{
	for (int i = 0; i < LG_BATCH; i++) {
		t->siov[i].iov_base = t->sbuf[i];
		t->smsg[i].msg_hdr.msg_iov = &t->siov[i];
		t->smsg[i].msg_hdr.msg_iovlen = 1;
		t->riov[i].iov_base = t->rbuf[i];
		t->riov[i].iov_len = LG_RBUF;
		t->rmsg[i].msg_hdr.msg_iov = &t->riov[i];
		t->rmsg[i].msg_hdr.msg_iovlen = 1;
	}
	for (int i = 0; i < t->o->sockets; i++)
		t->socks[i].fd = -1;
	for (int i = 0; i < t->o->sockets; i++) {
		struct lg_sock *s = &t->socks[i];
		s->sent_ns = calloc(LG_IDS, sizeof(*s->sent_ns));
		s->qidx = calloc(LG_IDS, sizeof(*s->qidx));
		if (s->sent_ns == NULL || s->qidx == NULL) {
			fprintf(stderr, "loadgen: out of memory\n");
			return -1;
		}
		s->fd = socket(t->o->server.ss_family,
		    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s->fd < 0) {
			perror("loadgen: socket");
			return -1;
		}
		int sz = 4 * 1024 * 1024;
		setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		if (connect(s->fd, (const struct sockaddr *)&t->o->server,
		    t->o->server_len) < 0) {
			perror("loadgen: connect");
			return -1;
		}
	}
	return 0;
}

static void
thread_cleanup(struct lg_thread *t)
{
	for (int i = 0; i < t->o->sockets; i++) {
		if (t->socks[i].fd >= 0)
			close(t->socks[i].fd);
		free(t->socks[i].sent_ns);
		free(t->socks[i].qidx);
	}
}

/* ---- the run ---- */

/* Merges the threads' results and prints the result line. */
static void
report(const struct lg_opts *o, struct lg_thread **th, int nt)
{
	static uint64_t hist[HIST_N];
	struct lg_counts sum;
	uint64_t t_start = UINT64_MAX, t_stop = 0, t_send = 0, max_ns = 0;
	double sum_ns = 0;

	memset(&sum, 0, sizeof(sum));
	for (int i = 0; i < nt; i++) {
		const struct lg_thread *t = th[i];
		sum.sent += t->c.sent;
		sum.answered += t->c.answered;
		sum.lost += t->c.lost;
		sum.late += t->c.late;
		sum.mismatch += t->c.mismatch;
		sum.senderr += t->c.senderr;
		sum.noerror += t->c.noerror;
		sum.nxdomain += t->c.nxdomain;
		sum.other += t->c.other;
		if (t->t_start < t_start)
			t_start = t->t_start;
		uint64_t end = t->t_send_end > t->t_last_answer ?
		    t->t_send_end : t->t_last_answer;
		if (end > t_stop)
			t_stop = end;
		if (t->t_send_end > t_send)
			t_send = t->t_send_end;
		if (t->max_ns > max_ns)
			max_ns = t->max_ns;
		sum_ns += (double)t->sum_ns;
		for (unsigned b = 0; b < HIST_N; b++)
			hist[b] += t->hist[b];
	}
	double el = t_stop > t_start ? (double)(t_stop - t_start) / 1e9 : 1e-9;
	double sel = t_send > t_start ? (double)(t_send - t_start) / 1e9 : 1e-9;
	uint64_t n = sum.answered;
	printf("loadgen label=%s sent=%llu answered=%llu lost=%llu qps=%.0f "
	    "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
	    "noerror=%llu nxdomain=%llu other=%llu elapsed_s=%.3f "
	    "avg_us=%.1f send_qps=%.0f late=%llu mismatch=%llu senderr=%llu\n",
	    o->label,
	    (unsigned long long)sum.sent, (unsigned long long)sum.answered,
	    (unsigned long long)sum.lost, (double)n / el,
	    hist_quantile(hist, n, 0.50, max_ns) / 1e3,
	    hist_quantile(hist, n, 0.90, max_ns) / 1e3,
	    hist_quantile(hist, n, 0.99, max_ns) / 1e3,
	    hist_quantile(hist, n, 0.999, max_ns) / 1e3,
	    (double)max_ns / 1e3, (unsigned long long)sum.noerror,
	    (unsigned long long)sum.nxdomain, (unsigned long long)sum.other,
	    el, n > 0 ? sum_ns / (double)n / 1e3 : 0.0,
	    (double)sum.sent / sel, (unsigned long long)sum.late,
	    (unsigned long long)sum.mismatch, (unsigned long long)sum.senderr);
	fflush(stdout);
}

/* Sets up, runs and joins the threads, then reports.  Returns the exit
 * status: 0, or 1 when a thread could not be set up or started. */
static int
run(const struct lg_opts *o, const struct lg_queries *qs)
{
	struct lg_gate gate = { PTHREAD_MUTEX_INITIALIZER,
	    PTHREAD_COND_INITIALIZER, 0 };
	int nt = o->threads, started = 0, rc = 1;
	struct lg_thread **th = calloc((size_t)nt, sizeof(*th));

	if (th == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	for (int i = 0; i < nt; i++) {
		struct lg_thread *t = th[i] = calloc(1, sizeof(*t));
		if (t == NULL) {
			fprintf(stderr, "loadgen: out of memory\n");
			goto fail;
		}
		t->o = o;
		t->qs = qs;
		t->gate = &gate;
		/* threads start apart in the file so they do not send the
		 * same names in step */
		t->qnext = qs->n * (size_t)i / (size_t)nt;
		t->rate = o->rate / nt;
		t->maxq = UINT64_MAX;
		if (o->maxq > 0)
			t->maxq = o->maxq / (uint64_t)nt +
			    ((uint64_t)i < o->maxq % (uint64_t)nt);
		if (thread_setup(t) < 0)
			goto fail;
	}
	for (; started < nt; started++)
		if (pthread_create(&th[started]->tid, NULL, thread_main,
		    th[started]) != 0) {
			fprintf(stderr, "loadgen: cannot start a thread\n");
			stop = 1;	/* those started end at once */
			break;
		}
	gate_open(&gate);
	for (int i = 0; i < started; i++)
		pthread_join(th[i]->tid, NULL);
	if (started == nt) {
		report(o, th, nt);
		rc = 0;
	}
fail:
	for (int i = 0; i < nt; i++)
		if (th[i] != NULL) {
			thread_cleanup(th[i]);
			free(th[i]);
		}
	free(th);
	return rc;
}

/* ---- main ---- */

static void
stop_cb(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen [-s 127.0.0.1] -p PORT -f QUERYFILE "
	    "[-r RATE | -c INFLIGHT]\n"
	    "               [-d SECONDS] [-n MAXQUERIES] [-S SOCKETS] "
	    "[-t TIMEOUT_MS]\n"
	    "               [-T THREADS] [-l LABEL]\n"
	    "  -r  open loop: total queries per second over all threads\n"
	    "  -c  closed loop: queries in flight per thread (default 100)\n"
	    "  -d  seconds of sending (default 10); -n  total queries at most\n"
	    "  -S  sockets per thread (default 4); -T  threads (default 1)\n"
	    "  -t  timeout in ms (default 1000): unanswered by then is lost\n");
	exit(2);
}

/* Parses a number in [lo, hi] or exits with usage. */
static double
num_arg(int opt, const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !(v >= lo && v <= hi)) {
		fprintf(stderr, "loadgen: -%c %s: want a number in %g..%g\n",
		    opt, s, lo, hi);
		usage();
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct lg_opts o;
	const char *addr = "127.0.0.1";
	int port = 53, c, closed = 0;

	memset(&o, 0, sizeof(o));
	o.label = "none";
	o.inflight = 100;
	o.duration = 10;
	o.sockets = 4;
	o.threads = 1;
	o.timeout_ns = 1000 * 1000000ull;
	while ((c = getopt(argc, argv, "c:d:f:l:n:p:r:s:S:t:T:")) != -1) {
		switch (c) {
		case 'c':
			o.inflight = (uint64_t)num_arg(c, optarg, 1, LG_IDS *
			    (double)LG_MAXSOCK);
			closed = 1;
			break;
		case 'd':
			o.duration = num_arg(c, optarg, 0.001, 86400);
			break;
		case 'f':
			o.file = optarg;
			break;
		case 'l':
			o.label = optarg;
			break;
		case 'n':
			o.maxq = (uint64_t)num_arg(c, optarg, 1, 1e15);
			break;
		case 'p':
			port = (int)num_arg(c, optarg, 1, 65535);
			break;
		case 'r':
			o.rate = num_arg(c, optarg, 1, 1e9);
			break;
		case 's':
			addr = optarg;
			break;
		case 'S':
			o.sockets = (int)num_arg(c, optarg, 1, LG_MAXSOCK);
			break;
		case 't':
			o.timeout_ns = (uint64_t)num_arg(c, optarg, 1, 60000) *
			    1000000ull;
			break;
		case 'T':
			o.threads = (int)num_arg(c, optarg, 1, LG_MAXTHREAD);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o.file == NULL)
		usage();
	if (closed && o.rate > 0) {
		fprintf(stderr, "loadgen: -r (open loop) and -c (closed loop) "
		    "exclude each other\n");
		usage();
	}
	if (o.inflight > (uint64_t)o.sockets * LG_IDS) {
		fprintf(stderr, "loadgen: -c %llu needs more than -S %d sockets "
		    "of 65536 IDs\n", (unsigned long long)o.inflight, o.sockets);
		usage();
	}
	if (o.label[0] == '\0' || strpbrk(o.label, " \t\r\n=") != NULL) {
		fprintf(stderr, "loadgen: -l: a label without spaces or '='\n");
		usage();
	}
	if (bench_loopback(addr, port, &o.server, &o.server_len) < 0) {
		fprintf(stderr, "loadgen: -s %s: only 127.0.0.0/8 or ::1\n",
		    addr);
		usage();
	}

	struct lg_queries qs;
	if (queries_load(o.file, &qs) < 0)
		return 1;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stop_cb;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	fprintf(stderr, "loadgen: %zu queries from %s; %d thread(s) x %d "
	    "sockets; %.3g s", qs.n, o.file, o.threads, o.sockets, o.duration);
	if (o.rate > 0)
		fprintf(stderr, "; open loop, %.0f qps", o.rate);
	else
		fprintf(stderr, "; closed loop, %llu in flight per thread",
		    (unsigned long long)o.inflight);
	if (o.maxq > 0)
		fprintf(stderr, "; at most %llu queries",
		    (unsigned long long)o.maxq);
	fprintf(stderr, "\n");

	int rc = run(&o, &qs);
	free(qs.q);
	free(qs.wire);
	return rc;
}
