/* nullresp.c -- a do-nothing DNS responder: the floor servers are measured
 * against.
 *
 *   nullresp -p PORT [-a 127.0.0.1|::1] [-m recvfrom|mmsg] [-b BATCH]
 *            [-d SECONDS]
 *
 * Every datagram of at least a DNS header that is not itself a response
 * goes back to its sender unchanged but for the header flags: QR set, RA
 * cleared.  So the cost of an "answer" is the socket calls alone, either
 * one recvfrom()+sendto() per packet (-m recvfrom) or one recvmmsg() and
 * one sendmmsg() per batch of up to BATCH packets (-m mmsg, the default;
 * batch 64, as rblcached's workers use).
 *
 * Single-threaded and poll-based like the servers it stands in for: ppoll()
 * until the socket is readable, then non-blocking reads until it is empty
 * (at most 16 batches or 64 packets a wakeup).  Not a blocking recv: on
 * this machine's kernel a blocked recvmmsg() sometimes slept through
 * arriving datagrams until its SO_RCVTIMEO ran out, a 100 ms stall every
 * few runs.  SIGTERM/SIGINT are blocked except inside ppoll(), so one that
 * arrives is never missed; the handler only sets a flag.  Exits after -d
 * seconds (default 3600) in any case.  Binds loopback addresses only.
 * Prints nothing per packet; on exit, one line:
 *
 *   nullresp mode=mmsg batch=64 received=N answered=N dropped=N
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchnet.h"

#define NULLRESP_MAXBATCH	1024
#define NULLRESP_BUFLEN		4096	/* larger datagrams are dropped */
#define NULLRESP_ROUNDS		16	/* recvmmsg batches per wakeup */
#define NULLRESP_PACKETS	64	/* recvfrom packets per wakeup */
#define DNS_HDRLEN		12

static volatile sig_atomic_t stop;

struct nullresp_stats {
	uint64_t received, answered, dropped;
};

static void
stop_cb(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: nullresp -p PORT [-a 127.0.0.1|::1] "
	    "[-m recvfrom|mmsg] [-b BATCH] [-d SECONDS]\n");
	exit(2);
}

/* Turns a query into its echo in place.  Returns 0, or -1 when the
 * datagram is not a DNS query (too short, truncated, or a response: two
 * responders pointed at each other must not ping-pong). */
static int
make_answer(uint8_t *pkt, size_t len, int truncated)
{
	if (truncated || len < DNS_HDRLEN || (pkt[2] & 0x80))
		return -1;
	pkt[2] |= 0x80;		/* QR */
	pkt[3] &= 0x7f;		/* RA */
	return 0;
}

/* Parses ADDR (127.0.0.0/8 or ::1) and PORT.  Returns 0, or -1. */
static int
parse_addr(const char *addr, const char *port, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	char *end;
	long p = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || p < 1 || p > 65535)
		return -1;
	return bench_loopback(addr, (int)p, ss, sslen);
}

static int
open_socket(const struct sockaddr_storage *ss, socklen_t sslen)
{
	int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		perror("nullresp: socket");
		return -1;
	}
	int one = 1, sz = 4 * 1024 * 1024;
	/* the same receive buffer as rblcached's UDP sockets */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sslen) < 0) {
		perror("nullresp: bind");
		close(fd);
		return -1;
	}
	return fd;
}

/* Is errno one that ends the loop?  An empty socket, a signal or an
 * ICMP error left by an earlier send do not. */
static int
fatal_errno(void)
{
	return errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != ECONNREFUSED && errno != ENOBUFS;
}

/* Waits until fd is readable, a signal or the deadline.  Returns 1 when
 * the caller should try to read (it may find nothing), 0 when it should
 * stop, -1 on error. */
static int
wait_readable(int fd, uint64_t deadline, const sigset_t *unblocked)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t now = bench_clock_ns();
	if (stop || now >= deadline)
		return 0;
	uint64_t d = deadline - now;
	struct timespec ts = { (time_t)(d / 1000000000ull),
	    (long)(d % 1000000000ull) };
	int r = ppoll(&pfd, 1, &ts, unblocked);
	if (r < 0 && errno != EINTR) {
		perror("nullresp: ppoll");
		return -1;
	}
	return !stop;
}

/* ---- one packet per call ---- */

static int
run_recvfrom(int fd, uint64_t deadline, const sigset_t *unblocked,
    struct nullresp_stats *st)
{
	static uint8_t buf[NULLRESP_BUFLEN];
	int r;

	while ((r = wait_readable(fd, deadline, unblocked)) > 0) {
		for (int i = 0; i < NULLRESP_PACKETS; i++) {
			struct sockaddr_storage peer;
			socklen_t plen = sizeof(peer);
			ssize_t n = recvfrom(fd, buf, sizeof(buf),
			    MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&peer,
			    &plen);
			if (n < 0) {
				if (fatal_errno()) {
					perror("nullresp: recvfrom");
					return -1;
				}
				break;
			}
			st->received++;
			size_t len = (size_t)n;
			if (make_answer(buf, len, len > sizeof(buf)) < 0) {
				st->dropped++;
				continue;
			}
			if (sendto(fd, buf, len, MSG_DONTWAIT,
			    (struct sockaddr *)&peer, plen) < 0)
				st->dropped++;
			else
				st->answered++;
		}
	}
	return r;
}

/* ---- batches ---- */

struct mmsg_bufs {
	struct mmsghdr in[NULLRESP_MAXBATCH], out[NULLRESP_MAXBATCH];
	struct iovec in_iov[NULLRESP_MAXBATCH], out_iov[NULLRESP_MAXBATCH];
	struct sockaddr_storage peer[NULLRESP_MAXBATCH];
	uint8_t buf[NULLRESP_MAXBATCH][NULLRESP_BUFLEN];
};

/* Answers one batch.  Returns the number of datagrams read, or -1. */
static int
mmsg_batch(int fd, struct mmsg_bufs *b, int batch, struct nullresp_stats *st)
{
	for (int i = 0; i < batch; i++) {
		b->in_iov[i].iov_base = b->buf[i];
		b->in_iov[i].iov_len = NULLRESP_BUFLEN;
		memset(&b->in[i].msg_hdr, 0, sizeof(struct msghdr));
		b->in[i].msg_hdr.msg_name = &b->peer[i];
		b->in[i].msg_hdr.msg_namelen = sizeof(b->peer[i]);
		b->in[i].msg_hdr.msg_iov = &b->in_iov[i];
		b->in[i].msg_hdr.msg_iovlen = 1;
	}
	int n = recvmmsg(fd, b->in, (unsigned)batch, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (fatal_errno()) {
			perror("nullresp: recvmmsg");
			return -1;
		}
		return 0;
	}
	st->received += (uint64_t)n;
	int m = 0;
	for (int i = 0; i < n; i++) {
		struct msghdr *h = &b->in[i].msg_hdr;
		if (make_answer(b->buf[i], b->in[i].msg_len,
		    (h->msg_flags & MSG_TRUNC) != 0) < 0) {
			st->dropped++;
			continue;
		}
		b->out_iov[m].iov_base = b->buf[i];
		b->out_iov[m].iov_len = b->in[i].msg_len;
		memset(&b->out[m].msg_hdr, 0, sizeof(struct msghdr));
		b->out[m].msg_hdr.msg_name = &b->peer[i];
		b->out[m].msg_hdr.msg_namelen = h->msg_namelen;
		b->out[m].msg_hdr.msg_iov = &b->out_iov[m];
		b->out[m].msg_hdr.msg_iovlen = 1;
		m++;
	}
	/* at most m calls: each sends one or more, or drops the first
	 * unsent datagram (full buffer, unreachable peer) */
	int sent = 0;
	for (int tries = 0; sent < m && tries < m; tries++) {
		int k = sendmmsg(fd, b->out + sent, (unsigned)(m - sent),
		    MSG_DONTWAIT);
		if (k < 0) {
			st->dropped++;
			sent++;
			continue;
		}
		st->answered += (uint64_t)k;
		sent += k;
	}
	return n;
}

static int
run_mmsg(int fd, int batch, uint64_t deadline, const sigset_t *unblocked,
    struct nullresp_stats *st)
{
	struct mmsg_bufs *b = calloc(1, sizeof(*b));
	int r;

	if (b == NULL) {
		perror("nullresp: calloc");
		return -1;
	}
	while ((r = wait_readable(fd, deadline, unblocked)) > 0) {
		for (int round = 0; round < NULLRESP_ROUNDS; round++) {
			int n = mmsg_batch(fd, b, batch, st);
			if (n < 0) {
				r = -1;
				goto out;
			}
			if (n < batch)
				break;
		}
	}
out:
	free(b);
	return r;
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *port = NULL, *mode = "mmsg";
	int batch = 64, c;
	double lifetime = 3600;

	while ((c = getopt(argc, argv, "a:b:d:m:p:")) != -1) {
		switch (c) {
		case 'a':
			addr = optarg;
			break;
		case 'b':
			batch = atoi(optarg);
			break;
		case 'd':
			lifetime = atof(optarg);
			break;
		case 'm':
			mode = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || port == NULL)
		usage();
	int mmsg = strcmp(mode, "mmsg") == 0;
	if (!mmsg && strcmp(mode, "recvfrom") != 0) {
		fprintf(stderr, "nullresp: -m is recvfrom or mmsg\n");
		usage();
	}
	if (!(lifetime > 0 && lifetime <= 7 * 86400)) {
		fprintf(stderr, "nullresp: -d is 0..604800 seconds\n");
		usage();
	}
	if (batch < 1 || batch > NULLRESP_MAXBATCH) {
		fprintf(stderr, "nullresp: -b is 1..%d\n", NULLRESP_MAXBATCH);
		usage();
	}
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (parse_addr(addr, port, &ss, &sslen) < 0) {
		fprintf(stderr, "nullresp: %s port %s: need a port and an "
		    "address in 127.0.0.0/8 or ::1\n", addr, port);
		usage();
	}

	/* the signals are let in only while ppoll() waits */
	sigset_t stopsigs, unblocked;
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	sigprocmask(SIG_BLOCK, &stopsigs, &unblocked);
	sigdelset(&unblocked, SIGTERM);
	sigdelset(&unblocked, SIGINT);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stop_cb;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	int fd = open_socket(&ss, sslen);
	if (fd < 0)
		return 1;
	struct nullresp_stats st = { 0, 0, 0 };
	uint64_t deadline = bench_clock_ns() + (uint64_t)(lifetime * 1e9);
	int rc = mmsg ? run_mmsg(fd, batch, deadline, &unblocked, &st) :
	    run_recvfrom(fd, deadline, &unblocked, &st);
	close(fd);
	printf("nullresp mode=%s batch=%d received=%llu answered=%llu "
	    "dropped=%llu\n", mmsg ? "mmsg" : "recvfrom", mmsg ? batch : 1,
	    (unsigned long long)st.received, (unsigned long long)st.answered,
	    (unsigned long long)st.dropped);
	return rc < 0 ? 1 : 0;
}
