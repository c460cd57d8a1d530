/* nullresp.c -- a do-nothing DNS responder: the floor servers are measured
 * against.
 *
 *   nullresp -p PORT [-a 127.0.0.1|::1] [-m recvfrom|mmsg] [-b BATCH]
 *
 * Every datagram of at least a DNS header that is not itself a response
 * goes back to its sender unchanged but for the header flags: QR set, RA
 * cleared.  So the cost of an "answer" is the socket calls alone, either
 * one recvfrom()+sendto() per packet (-m recvfrom) or one recvmmsg() and
 * one sendmmsg() per batch of up to BATCH packets (-m mmsg, the default
 * batch 64, as rblcached's workers use).
 *
 * Single-threaded and blocking.  The socket has a receive timeout of
 * 100 ms so that a SIGTERM/SIGINT landing just before a blocking call is
 * seen within that time; the handler only sets a flag.  Binds loopback
 * addresses only.  Prints nothing per packet; on exit, one line:
 *
 *   nullresp mode=mmsg batch=64 received=N answered=N dropped=N
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NULLRESP_MAXBATCH	1024
#define NULLRESP_BUFLEN		4096	/* larger datagrams are dropped */
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
	    "[-m recvfrom|mmsg] [-b BATCH]\n");
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
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127)
			return -1;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		*sslen = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		*sslen = sizeof(*s6);
		return 0;
	}
	return -1;
}

static int
open_socket(const struct sockaddr_storage *ss, socklen_t sslen)
{
	int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
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
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (const struct sockaddr *)ss, sslen) < 0) {
		perror("nullresp: bind");
		close(fd);
		return -1;
	}
	return fd;
}

/* Is errno one that ends the loop?  Timeouts and signals do not; the
 * loop checks the stop flag instead. */
static int
fatal_errno(void)
{
	return errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != ECONNREFUSED && errno != ENOBUFS;
}

/* ---- one packet per call ---- */

static int
run_recvfrom(int fd, struct nullresp_stats *st)
{
	static uint8_t buf[NULLRESP_BUFLEN];

	while (!stop) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_TRUNC,
		    (struct sockaddr *)&peer, &plen);
		if (n < 0) {
			if (fatal_errno()) {
				perror("nullresp: recvfrom");
				return -1;
			}
			continue;
		}
		st->received++;
		size_t len = (size_t)n;
		if (make_answer(buf, len, len > sizeof(buf)) < 0) {
			st->dropped++;
			continue;
		}
		if (sendto(fd, buf, len, 0, (struct sockaddr *)&peer, plen) < 0)
			st->dropped++;
		else
			st->answered++;
	}
	return 0;
}

/* ---- batches ---- */

struct mmsg_bufs {
	struct mmsghdr in[NULLRESP_MAXBATCH], out[NULLRESP_MAXBATCH];
	struct iovec in_iov[NULLRESP_MAXBATCH], out_iov[NULLRESP_MAXBATCH];
	struct sockaddr_storage peer[NULLRESP_MAXBATCH];
	uint8_t buf[NULLRESP_MAXBATCH][NULLRESP_BUFLEN];
};

static int
run_mmsg(int fd, int batch, struct nullresp_stats *st)
{
	struct mmsg_bufs *b = calloc(1, sizeof(*b));
	if (b == NULL) {
		perror("nullresp: calloc");
		return -1;
	}
	int rc = 0;
	while (!stop) {
		for (int i = 0; i < batch; i++) {
			b->in_iov[i].iov_base = b->buf[i];
			b->in_iov[i].iov_len = NULLRESP_BUFLEN;
			memset(&b->in[i].msg_hdr, 0, sizeof(struct msghdr));
			b->in[i].msg_hdr.msg_name = &b->peer[i];
			b->in[i].msg_hdr.msg_namelen = sizeof(b->peer[i]);
			b->in[i].msg_hdr.msg_iov = &b->in_iov[i];
			b->in[i].msg_hdr.msg_iovlen = 1;
		}
		/* blocks for the first datagram, then takes what is queued */
		int n = recvmmsg(fd, b->in, (unsigned)batch, MSG_WAITFORONE,
		    NULL);
		if (n < 0) {
			if (fatal_errno()) {
				perror("nullresp: recvmmsg");
				rc = -1;
				break;
			}
			continue;
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
		/* at most m+1 calls: each either sends one or more, or drops
		 * the first unsent datagram */
		int sent = 0;
		for (int tries = 0; sent < m && tries <= m; tries++) {
			int k = sendmmsg(fd, b->out + sent, (unsigned)(m - sent),
			    0);
			if (k < 0) {
				st->dropped++;
				sent++;
				continue;
			}
			st->answered += (uint64_t)k;
			sent += k;
		}
	}
	free(b);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *port = NULL, *mode = "mmsg";
	int batch = 64, c;

	while ((c = getopt(argc, argv, "a:b:m:p:")) != -1) {
		switch (c) {
		case 'a':
			addr = optarg;
			break;
		case 'b':
			batch = atoi(optarg);
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

	/* no SA_RESTART: a blocked recv returns EINTR and sees the flag */
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
	int rc = mmsg ? run_mmsg(fd, batch, &st) : run_recvfrom(fd, &st);
	close(fd);
	printf("nullresp mode=%s batch=%d received=%llu answered=%llu "
	    "dropped=%llu\n", mmsg ? "mmsg" : "recvfrom", mmsg ? batch : 1,
	    (unsigned long long)st.received, (unsigned long long)st.answered,
	    (unsigned long long)st.dropped);
	return rc < 0 ? 1 : 0;
}
