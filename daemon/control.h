/* control.h -- the admin control socket: rblctl's commands, served on
 * the main thread's libev loop.
 *
 * One command per connection (protocol in ctlproto.h).  control.c reads
 * and checks the request line, calls the handler once with the parsed
 * request, writes "ok" and the body it produced (or "error TAB message")
 * without blocking, and closes.  Everything here runs on the loop given
 * to control_new(), so the handler runs there too and may touch what
 * that thread owns; it must not block for long, the loop stalls meanwhile.
 */
#ifndef RBLCACHE_CONTROL_H
#define RBLCACHE_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

#include "ctlproto.h"

#define CONTROL_MAX_CONNS	64	/* more are told so and closed */
#define CONTROL_IDLE_SEC	5.0	/* for the request; then per write */
#define CONTROL_MAX_REPLY	(256u << 20)	/* one body's bytes */

struct ev_loop;
struct control;

/* The body of one response.  Grows as needed up to the reply limit;
 * past it, or when memory runs out, further output is dropped and the
 * client gets an error instead of a cut body.  Valid only during the
 * handler call. */
struct ctl_out;

void ctl_out_printf(struct ctl_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ctl_out_write(struct ctl_out *o, const void *p, size_t n);

/* Appends s as a JSON string, quotes included (ctl_json_escape()). */
void ctl_out_json_string(struct ctl_out *o, const char *s);

/* Sets the one-line error message (control characters become blanks);
 * the body written so far is dropped.  The handler then returns -1. */
void ctl_out_error(struct ctl_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One command: fill the body through out and return 0 for "ok", or call
 * ctl_out_error() and return -1.  req and its strings live until the
 * handler returns.  A -1 without a message is sent as "internal error". */
typedef int control_handler(void *arg, const struct ctl_request *req,
    struct ctl_out *out);

/* Creates the socket at path and serves it on loop.  The directory is
 * created (mode 0755, chowned like the socket) when absent; a socket
 * file nobody listens on is replaced; a live one is an error ("another
 * rblcached is listening on PATH"), and so is a path that is not a
 * socket.  The socket appears atomically with mode 0660, owned by (uid,
 * gid) when either is not -1 (bound under a temporary name, then
 * renamed).  Returns NULL with a one-line message in err. */
struct control *control_new(struct ev_loop *loop, const char *path,
    uid_t uid, gid_t gid, control_handler *h, void *arg, char *err,
    size_t errlen);

/* Changes the limits: idle seconds (request, then each write; applies
 * to connections accepted from now on) and the largest body (to requests
 * from now on).  0 keeps a value.  Call on the loop's thread; for tests. */
void control_set_limits(struct control *c, double idle_sec,
    size_t max_reply);

/* Closes every connection (replies not yet written are lost), stops
 * serving and removes the socket file if it is still the one created. */
void control_free(struct control *c);

#endif
