/* delayresp.c -- a DNSBL upstream that answers every query after a fixed
 * delay: the slow list server of the miss-path benchmark.
 *
 *   delayresp -p PORT [-a 127.0.0.1|::1] [-D DELAY_MS] [-d SECONDS]
 *
 * Every query (a datagram of at least a header and one question that is
 * not itself a response) is answered DELAY_MS (default 20) after it was
 * read, authoritatively: an A question gets 127.0.0.2, a TXT question
 * "listed", anything else no data; TTL 300; the question is copied, EDNS
 * is not.  C and single-threaded, so the floor it sets is the delay plus
 * a few microseconds: what a client sees on top of that through a server
 * in between is that server's.  The delay is the same for every query, so
 * the waiting answers form a FIFO (up to DELAYRESP_QUEUE; beyond, a query
 * is dropped and counted).  SIGTERM/SIGINT end it, as does -d SECONDS
 * (default 3600).  Binds loopback addresses only.  On exit, one line:
 *
 *   delayresp delay_ms=20 received=N answered=N dropped=N
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchnet.h"

#define DELAYRESP_QUEUE		65536
#define DELAYRESP_MAXQ		512	/* header + question we copy */
#define DNS_HDRLEN		12

struct waiting {
	uint64_t due_ns;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint16_t len;
	uint8_t pkt[DELAYRESP_MAXQ + 64];
};

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: delayresp -p PORT [-a 127.0.0.1|::1] "
	    "[-D DELAY_MS] [-d SECONDS]\n");
	exit(2);
}

/* Turns query q (len bytes) into the answer, in place in out; returns
 * its length, or 0 for something not to answer. */
static size_t
make_answer(const uint8_t *q, size_t len, uint8_t *out)
{
	if (len < DNS_HDRLEN || (q[2] & 0x80) || q[4] != 0 || q[5] != 1)
		return 0;
	size_t off = DNS_HDRLEN;
	while (off < len && q[off] != 0) {
		if (q[off] & 0xc0)
			return 0;	/* no compression in a question */
		off += 1 + (size_t)q[off];
	}
	if (off + 5 > len || off + 5 > DELAYRESP_MAXQ)
		return 0;
	off += 5;		/* the root label, type, class */
	uint16_t qtype = (uint16_t)(q[off - 4] << 8 | q[off - 3]);
	memcpy(out, q, off);
	out[2] = (uint8_t)(0x84 | (q[2] & 0x79));	/* QR AA, opcode, RD */
	out[3] = 0;					/* RA off, NOERROR */
	memset(out + 6, 0, 6);				/* AN, NS, AR */
	static const uint8_t rr_head[] = { 0xc0, 0x0c };
	uint8_t *p = out + off;
	if (qtype == 1 || qtype == 16) {
		memcpy(p, rr_head, 2);
		p[2] = 0;
		p[3] = (uint8_t)qtype;
		p[4] = 0;
		p[5] = 1;			/* IN */
		p[6] = 0; p[7] = 0; p[8] = 0x01; p[9] = 0x2c;	/* TTL 300 */
		if (qtype == 1) {
			static const uint8_t a[] = { 0, 4, 127, 0, 0, 2 };
			memcpy(p + 10, a, sizeof(a));
			p += 10 + sizeof(a);
		} else {
			static const uint8_t t[] = { 0, 7, 6, 'l', 'i', 's', 't',
			    'e', 'd' };
			memcpy(p + 10, t, sizeof(t));
			p += 10 + sizeof(t);
		}
		out[7] = 1;
	}
	return (size_t)(p - out);
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *port = NULL;
	long delay_ms = 20, seconds = 3600;
	int c;
	while ((c = getopt(argc, argv, "a:p:D:d:")) != -1) {
		switch (c) {
		case 'a': addr = optarg; break;
		case 'p': port = optarg; break;
		case 'D': delay_ms = strtol(optarg, NULL, 10); break;
		case 'd': seconds = strtol(optarg, NULL, 10); break;
		default: usage();
		}
	}
	long p = port ? strtol(port, NULL, 10) : 0;
	if (p < 1 || p > 65535 || delay_ms < 0 || delay_ms > 10000 ||
	    seconds < 1)
		usage();

	struct sockaddr_storage ss;
	socklen_t sslen;
	if (bench_loopback(addr, (int)p, &ss, &sslen) < 0) {
		fprintf(stderr, "delayresp: %s: a loopback address only\n", addr);
		return 2;
	}
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
		perror("delayresp: socket/bind");
		return 1;
	}
	struct waiting *q = calloc(DELAYRESP_QUEUE, sizeof(*q));
	if (!q) {
		perror("delayresp: calloc");
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/* the delay should be exact: no timer slack on the waits */
	prctl(PR_SET_TIMERSLACK, 1000UL);
	uint64_t delay = (uint64_t)delay_ms * 1000000u;
	uint64_t end = bench_clock_ns() + (uint64_t)seconds * 1000000000u;
	uint64_t received = 0, answered = 0, dropped = 0;
	size_t head = 0, n = 0;		/* FIFO: q[head], n waiting */
	uint8_t buf[2048];
	while (!stop) {
		uint64_t now = bench_clock_ns();
		if (now >= end)
			break;
		/* send what is due */
		while (n > 0 && q[head].due_ns <= now) {
			struct waiting *w = &q[head];
			if (sendto(fd, w->pkt, w->len, 0,
			    (struct sockaddr *)&w->peer, w->peerlen) < 0)
				dropped++;
			else
				answered++;
			head = (head + 1) % DELAYRESP_QUEUE;
			n--;
		}
		uint64_t until = n > 0 ? q[head].due_ns : end;
		uint64_t wait = until > now ? until - now : 0;
		struct timespec ts = { (time_t)(wait / 1000000000u),
		    (long)(wait % 1000000000u) };
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = ppoll(&pfd, 1, &ts, NULL);
		if (r < 0 && errno != EINTR) {
			perror("delayresp: poll");
			break;
		}
		if (r <= 0)
			continue;
		for (;;) {
			struct waiting *w = &q[(head + n) % DELAYRESP_QUEUE];
			struct sockaddr_storage peer;
			socklen_t plen = sizeof(peer);
			ssize_t len = recvfrom(fd, buf, sizeof(buf), 0,
			    (struct sockaddr *)&peer, &plen);
			if (len < 0)
				break;
			received++;
			if (n == DELAYRESP_QUEUE) {
				dropped++;
				continue;
			}
			size_t alen = make_answer(buf, (size_t)len, w->pkt);
			if (alen == 0) {
				dropped++;
				continue;
			}
			w->len = (uint16_t)alen;
			w->peer = peer;
			w->peerlen = plen;
			w->due_ns = bench_clock_ns() + delay;
			n++;
		}
	}
	printf("delayresp delay_ms=%ld received=%llu answered=%llu "
	    "dropped=%llu\n", delay_ms, (unsigned long long)received,
	    (unsigned long long)answered, (unsigned long long)dropped);
	free(q);
	close(fd);
	return 0;
}
