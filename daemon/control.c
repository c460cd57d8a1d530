/* control.c -- the control socket server: accept, read one request line,
 * run the handler, write the reply, close.
 *
 * Runs entirely on the loop given to control_new() (the main thread's),
 * with non-blocking sockets: a slow or hostile client costs one struct
 * conn and its reply buffer, never a blocked loop.  Limits: at most
 * CONTROL_MAX_CONNS connections (the next ones get an error line and are
 * closed), CTL_MAX_LINE bytes of request, `idle` seconds to send it and
 * then for each write to make progress, max_reply bytes of body, and
 * 4 * max_reply bytes of replies waiting to be read over all connections.
 *
 * Ownership: struct control owns its conns (a doubly linked list); a
 * conn owns its reply body.  A conn is freed the moment it is closed,
 * only ever from a callback of its own watchers or from control_free().
 */
#include "control.h"

#include <errno.h>
#include <ev.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define ACCEPT_BATCH	32	/* accepts per callback */
#define ACCEPT_PAUSE	1.0	/* seconds without accepting after EMFILE */
#define DRAIN_MAX	(1 << 20)	/* unread request bytes read before close */

struct ctl_out {
	char *buf;
	size_t len, cap, max;
	int overflow;		/* a write did not fit max */
	int nomem;
	int failed;		/* ctl_out_error() was called */
	char msg[CTL_ERR_MAX];
};

enum conn_state { CONN_READING, CONN_WRITING };

struct conn {
	struct control *ctl;
	int fd;
	enum conn_state state;
	ev_io rio, wio;
	ev_timer idle;
	char in[CTL_MAX_LINE + 1];	/* + the parser's NUL */
	size_t inlen;
	char head[CTL_ERR_MAX + 16];	/* "ok\n" or "error\t...\n" */
	size_t headlen;
	char *body;			/* owned */
	size_t bodylen;
	size_t off;			/* of head + body written */
	struct conn *next, *prev;
};

struct control {
	struct ev_loop *loop;
	char *path;
	dev_t dev;			/* of the socket file created, to */
	ino_t ino;			/* remove only that one */
	int fd;
	ev_io accept_io;
	ev_timer accept_pause;
	control_handler *handler;
	void *arg;
	double idle;
	size_t max_reply;
	size_t buffered;		/* reply bytes not yet written */
	int nconns;
	struct conn *conns;
};

/* ---- response body ---- */

/* Room for n more bytes; -1 (and output dropped from now on) when the
 * body would pass its limit or memory runs out. */
static int
out_reserve(struct ctl_out *o, size_t n)
{
	if (o->overflow)
		return -1;
	if (n > o->max - o->len) {
		o->overflow = 1;
		return -1;
	}
	if (o->len + n + 1 <= o->cap)
		return 0;
	size_t nc = o->cap ? o->cap : 4096;
	while (nc < o->len + n + 1)
		nc = nc > SIZE_MAX / 2 ? SIZE_MAX : nc * 2;
	char *nb = realloc(o->buf, nc);
	if (!nb) {
		o->overflow = o->nomem = 1;
		return -1;
	}
	o->buf = nb;
	o->cap = nc;
	return 0;
}

void
ctl_out_write(struct ctl_out *o, const void *p, size_t n)
{
	if (n == 0 || out_reserve(o, n) < 0)
		return;
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

void
ctl_out_printf(struct ctl_out *o, const char *fmt, ...)
{
	va_list ap, ap2;
	if (o->overflow)
		return;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	size_t room = o->cap - o->len;
	int k = vsnprintf(o->buf ? o->buf + o->len : NULL, room, fmt, ap);
	va_end(ap);
	if (k >= 0 && (size_t)k >= room) {
		if (out_reserve(o, (size_t)k) == 0)
			k = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap2);
		else
			k = -1;
	}
	va_end(ap2);
	if (k > 0)
		o->len += (size_t)k;
}

void
ctl_out_json_string(struct ctl_out *o, const char *s)
{
	size_t n = strlen(s);
	size_t need = ctl_json_escape(NULL, 0, s, n);
	if (out_reserve(o, need + 2) < 0)
		return;
	o->buf[o->len++] = '"';
	ctl_json_escape(o->buf + o->len, need + 1, s, n);
	o->len += need;
	o->buf[o->len++] = '"';
}

void
ctl_out_error(struct ctl_out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->msg, sizeof(o->msg), fmt, ap);
	va_end(ap);
	for (char *p = o->msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	o->failed = 1;
}

/* ---- connections ---- */

static void
conn_close(struct conn *c)
{
	struct control *ctl = c->ctl;
	ev_io_stop(ctl->loop, &c->rio);
	ev_io_stop(ctl->loop, &c->wio);
	ev_timer_stop(ctl->loop, &c->idle);
	close(c->fd);
	if (c->state == CONN_WRITING)
		ctl->buffered -= c->bodylen;
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->nconns--;
	free(c->body);
	free(c);
}

/* Reads what the client sent beyond its request, so closing does not
 * turn into ECONNRESET on the client's side before it read the reply. */
static void
drain(int fd)
{
	char scratch[4096];
	for (size_t total = 0; total < DRAIN_MAX; ) {
		ssize_t k = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		total += (size_t)k;
	}
}

static void
conn_flush(struct conn *c)
{
	struct control *ctl = c->ctl;
	for (;;) {
		struct iovec iov[2];
		int n = 0;
		if (c->off < c->headlen) {
			iov[n].iov_base = c->head + c->off;
			iov[n++].iov_len = c->headlen - c->off;
		}
		size_t boff = c->off > c->headlen ? c->off - c->headlen : 0;
		if (boff < c->bodylen) {
			iov[n].iov_base = c->body + boff;
			iov[n++].iov_len = c->bodylen - boff;
		}
		if (n == 0) {
			drain(c->fd);
			conn_close(c);
			return;
		}
		struct msghdr mh;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)n;
		ssize_t k = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_start(ctl->loop, &c->wio);
				return;
			}
			log_debug("control: client gone before its reply: %s",
			    strerror(errno));
			conn_close(c);
			return;
		}
		c->off += (size_t)k;
		ev_timer_again(ctl->loop, &c->idle);
	}
}

/* Switches c to writing head (and body, owned from now on). */
static void
conn_reply(struct conn *c, const char *head, char *body, size_t bodylen)
{
	struct control *ctl = c->ctl;
	snprintf(c->head, sizeof(c->head), "%s", head);
	c->headlen = strlen(c->head);
	c->body = body;
	c->bodylen = bodylen;
	c->state = CONN_WRITING;
	ctl->buffered += bodylen;
	/* the request is in: from now on, time runs per write, counted
	 * from now, not from before a handler that may have taken long */
	ev_now_update(ctl->loop);
	ev_timer_again(ctl->loop, &c->idle);
	conn_flush(c);
}

static void
conn_error(struct conn *c, const char *msg)
{
	char head[CTL_ERR_MAX + 16];
	snprintf(head, sizeof(head), "error\t%s\n", msg[0] ? msg :
	    "internal error");
	conn_reply(c, head, NULL, 0);
}

/* The request line is c->in[0..len); runs it and starts the reply. */
static void
conn_request(struct conn *c, size_t len)
{
	struct control *ctl = c->ctl;
	struct ctl_request req;
	char err[CTL_ERR_MAX];

	if (ctl_request_parse(c->in, len, &req, err, sizeof(err)) < 0) {
		log_debug("control: bad request: %s", err);
		conn_error(c, err);
		return;
	}
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == 0) {
		req.peer_uid = (long)cred.uid;
		req.peer_pid = (long)cred.pid;
	}
	log_debug("control: %s from uid %ld pid %ld", req.cmd->name,
	    req.peer_uid, req.peer_pid);

	struct ctl_out out;
	memset(&out, 0, sizeof(out));
	out.max = ctl->max_reply;
	int rc = ctl->handler(ctl->arg, &req, &out);
	if (rc < 0 || out.failed) {
		log_debug("control: %s: %s", req.cmd->name, out.msg);
		free(out.buf);
		conn_error(c, out.failed ? out.msg : "internal error");
		return;
	}
	if (out.overflow) {
		free(out.buf);
		if (out.nomem) {
			log_warnx("control: %s: out of memory for the reply",
			    req.cmd->name);
			conn_error(c, "out of memory for the reply");
		} else {
			snprintf(err, sizeof(err), "reply too large (over %zu "
			    "bytes)", ctl->max_reply);
			log_warnx("control: %s: %s", req.cmd->name, err);
			conn_error(c, err);
		}
		return;
	}
	size_t limit = ctl->max_reply > SIZE_MAX / 4 ? SIZE_MAX :
	    ctl->max_reply * 4;
	if (ctl->buffered > limit || out.len > limit - ctl->buffered) {
		free(out.buf);
		log_warnx("control: %s: too many large replies waiting to be "
		    "read", req.cmd->name);
		conn_error(c, "too many large replies waiting to be read; "
		    "try again");
		return;
	}
	log_debug("control: %s: ok, %zu bytes", req.cmd->name, out.len);
	conn_reply(c, "ok\n", out.buf, out.len);
}

static void
conn_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct conn *c = io->data;
	(void)revents;

	if (c->state == CONN_WRITING) {
		/* what follows the request line is ignored */
		char scratch[4096];
		ssize_t k = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (k == 0)
			ev_io_stop(loop, &c->rio);
		else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)
			conn_close(c);
		return;
	}

	size_t room = CTL_MAX_LINE - c->inlen;
	ssize_t k = recv(c->fd, c->in + c->inlen, room, MSG_DONTWAIT);
	if (k < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_close(c);
		return;
	}
	if (k == 0) {
		if (c->inlen == 0)
			conn_close(c);
		else
			conn_error(c, "malformed request: no newline at the end");
		return;
	}
	char *nl = memchr(c->in + c->inlen, '\n', (size_t)k);
	c->inlen += (size_t)k;
	if (nl)
		conn_request(c, (size_t)(nl - c->in));
	else if (c->inlen == CTL_MAX_LINE)
		conn_error(c, "request too long");
}

static void
conn_write_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	(void)revents;
	conn_flush(io->data);
}

static void
conn_idle_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct conn *c = t->data;
	(void)loop;
	(void)revents;
	log_debug("control: closing an idle client (%s)",
	    c->state == CONN_READING ? "no request" : "reply not read");
	conn_close(c);
}

/* ---- listening ---- */

static void
accept_pause_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct control *ctl = t->data;
	(void)revents;
	ev_io_start(loop, &ctl->accept_io);
}

static void
accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct control *ctl = io->data;
	(void)revents;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE and friends: the listener stays readable, so
			 * stop looking at it for a while instead of spinning */
			log_warn("control: accept");
			ev_io_stop(loop, &ctl->accept_io);
			ev_timer_set(&ctl->accept_pause, ACCEPT_PAUSE, 0.);
			ev_timer_start(loop, &ctl->accept_pause);
			return;
		}
		struct conn *c = NULL;
		if (ctl->nconns >= CONTROL_MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
			static const char busy[] = "error\ttoo many control "
			    "connections; try again\n";
			ssize_t w = send(fd, busy, sizeof(busy) - 1,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)w;
			drain(fd);
			close(fd);
			continue;
		}
		c->ctl = ctl;
		c->fd = fd;
		c->state = CONN_READING;
		ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
		ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
		ev_init(&c->idle, conn_idle_cb);
		c->idle.repeat = ctl->idle;
		c->rio.data = c->wio.data = c->idle.data = c;
		c->next = ctl->conns;
		if (ctl->conns)
			ctl->conns->prev = c;
		ctl->conns = c;
		ctl->nconns++;
		ev_io_start(loop, &c->rio);
		ev_timer_again(loop, &c->idle);
	}
}

/* Creates the missing directories of dir (mode 0755, owned like the
 * socket).  0, or -1 with err set. */
static int
make_dirs(const char *dir, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;

	if (dir[0] == '\0' || stat(dir, &st) == 0)
		return 0;
	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, 0755) == 0) {
			/* the umask must not lock the socket's group out */
			if (chmod(buf, 0755) < 0 || ((uid != (uid_t)-1 ||
			    gid != (gid_t)-1) && chown(buf, uid, gid) < 0)) {
				snprintf(err, errlen, "cannot set up directory %s: "
				    "%s", buf, strerror(errno));
				return -1;
			}
		} else if (errno != EEXIST) {
			snprintf(err, errlen, "cannot create directory %s: %s",
			    buf, strerror(errno));
			return -1;
		}
		*p = saved;
		if (saved == '\0')
			return 0;
	}
}

/* Whether a socket file at path has a listener: 1 yes, 0 no (stale),
 * -1 cannot tell (err set). */
static int
socket_alive(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	int e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
		return 1;	/* EAGAIN: a listener with a full backlog */
	if (e == ECONNREFUSED || e == ENOENT)
		return 0;
	snprintf(err, errlen, "cannot check the existing socket %s: %s", path,
	    strerror(e));
	return -1;
}

struct control *
control_new(struct ev_loop *loop, const char *path, uid_t uid, gid_t gid,
    control_handler *h, void *arg, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	char tmp[sizeof(sun.sun_path)];
	struct stat st;
	struct control *ctl = NULL;
	int fd = -1, bound = 0;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	int n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	if (path[0] == '\0' || n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errlen, "control socket path %s: empty or too long "
		    "(a socket path has at most %zu bytes, with room for a "
		    "temporary suffix)", path, sizeof(tmp) - 20);
		return NULL;
	}

	char dir[sizeof(sun.sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		slash[slash == dir] = '\0';	/* "/x.sock" keeps "/" */
		if (make_dirs(dir, uid, gid, err, errlen) < 0)
			return NULL;
	}

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return NULL;
		}
		int alive = socket_alive(path, err, errlen);
		if (alive < 0)
			return NULL;
		if (alive) {
			snprintf(err, errlen, "another rblcached is listening on %s",
			    path);
			return NULL;
		}
		/* stale: the rename below replaces it */
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	memcpy(sun.sun_path, tmp, strlen(tmp));
	unlink(tmp);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", tmp, strerror(errno));
		goto fail;
	}
	bound = 1;
	if (listen(fd, CONTROL_MAX_CONNS) < 0 || chmod(tmp, 0660) < 0 ||
	    ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(tmp, uid, gid) < 0) ||
	    rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot set up %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	bound = 0;
	if (lstat(path, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}

	ctl = calloc(1, sizeof(*ctl));
	if (!ctl || !(ctl->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		unlink(path);
		goto fail;
	}
	ctl->loop = loop;
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	ctl->fd = fd;
	ctl->handler = h;
	ctl->arg = arg;
	ctl->idle = CONTROL_IDLE_SEC;
	ctl->max_reply = CONTROL_MAX_REPLY;
	ev_io_init(&ctl->accept_io, accept_cb, fd, EV_READ);
	ctl->accept_io.data = ctl;
	ev_init(&ctl->accept_pause, accept_pause_cb);
	ctl->accept_pause.data = ctl;
	ev_io_start(loop, &ctl->accept_io);
	return ctl;
fail:
	if (bound)
		unlink(tmp);
	if (fd >= 0)
		close(fd);
	if (ctl)
		free(ctl->path);
	free(ctl);
	return NULL;
}

void
control_set_limits(struct control *c, double idle_sec, size_t max_reply)
{
	if (idle_sec > 0)
		c->idle = idle_sec;
	if (max_reply > 0)
		c->max_reply = max_reply;
}

void
control_free(struct control *c)
{
	struct stat st;
	if (!c)
		return;
	while (c->conns)
		conn_close(c->conns);
	ev_io_stop(c->loop, &c->accept_io);
	ev_timer_stop(c->loop, &c->accept_pause);
	close(c->fd);
	/* after a privilege drop this may fail: the next start replaces it */
	if (lstat(c->path, &st) == 0 && st.st_dev == c->dev &&
	    st.st_ino == c->ino && unlink(c->path) < 0)
		log_debug("control: cannot remove %s: %s", c->path,
		    strerror(errno));
	free(c->path);
	free(c);
}
