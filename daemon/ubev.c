/* ubev.c -- libunbound's pluggable event API (unbound-event.h) on libev.
 *
 * libunbound then resolves inside the upstream thread's loop: no thread
 * of its own, no pipe between it and us.  The semantics are libevent's,
 * which the API copies: an event is armed by add() with its bits and an
 * optional timeout; one that is not UB_EV_PERSIST is disarmed when it
 * fires; add() on an armed event re-arms it; the callback gets the bits
 * that happened (UB_EV_READ, UB_EV_WRITE or UB_EV_TIMEOUT) and may free
 * the event, so nothing touches it after the call.
 *
 * Invariant: every call comes from the thread that runs the loop (or,
 * once that thread has ended, from the one deleting the context).
 */
#include "ubev.h"

#include <stdlib.h>
#include <sys/time.h>
#include <unbound-event.h>

struct ubev_base {
	struct ub_event_base super;	/* first: libunbound's view */
	struct ev_loop *loop;
};

struct ubev {
	struct ub_event super;		/* first: libunbound's view */
	struct ev_loop *loop;
	ev_io io;
	ev_timer tm;
	int fd;
	short bits;
	int has_tv;
	ev_tstamp tv;
	void (*cb)(int, short, void *);
	void *arg;
};

static ev_tstamp
seconds(const struct timeval *tv)
{
	return (ev_tstamp)tv->tv_sec + (ev_tstamp)tv->tv_usec / 1e6;
}

static void
disarm(struct ubev *e)
{
	ev_io_stop(e->loop, &e->io);
	ev_timer_stop(e->loop, &e->tm);
}

static void
arm_io(struct ubev *e)
{
	int what = (e->bits & UB_EV_READ ? EV_READ : 0) |
	    (e->bits & UB_EV_WRITE ? EV_WRITE : 0);
	if (what && e->fd >= 0) {
		ev_io_set(&e->io, e->fd, what);
		ev_io_start(e->loop, &e->io);
	}
}

/* (Re)starts the timeout: e->tv from now. */
static void
arm_timer(struct ubev *e)
{
	ev_timer_stop(e->loop, &e->tm);
	ev_timer_set(&e->tm, e->tv, 0.);
	ev_timer_start(e->loop, &e->tm);
}

/* Before the callback: a one-shot event is disarmed, a persistent one
 * with a timeout has it restarted (libevent's rule). */
static void
fired(struct ubev *e)
{
	if (!(e->bits & UB_EV_PERSIST))
		disarm(e);
	else if (e->has_tv)
		arm_timer(e);
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ubev *e = w->data;
	short bits = (short)((revents & EV_READ ? UB_EV_READ : 0) |
	    (revents & EV_WRITE ? UB_EV_WRITE : 0));
	(void)loop;
	fired(e);
	e->cb(e->fd, bits, e->arg);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ubev *e = w->data;
	(void)loop;
	(void)revents;
	fired(e);
	e->cb(e->fd, UB_EV_TIMEOUT, e->arg);
}

/* New bits or a new fd; an armed event watches them at once. */
static void
rewatch(struct ubev *e, short bits, int fd)
{
	int armed = ev_is_active(&e->io);
	ev_io_stop(e->loop, &e->io);
	e->bits = bits;
	e->fd = fd;
	if (armed)
		arm_io(e);
}

static void
ev_add_bits(struct ub_event *ev, short bits)
{
	struct ubev *e = (struct ubev *)ev;
	rewatch(e, (short)(e->bits | bits), e->fd);
}

static void
ev_del_bits(struct ub_event *ev, short bits)
{
	struct ubev *e = (struct ubev *)ev;
	rewatch(e, (short)(e->bits & ~bits), e->fd);
}

static void
ev_set_fd(struct ub_event *ev, int fd)
{
	struct ubev *e = (struct ubev *)ev;
	rewatch(e, e->bits, fd);
}

static void
ev_free(struct ub_event *ev)
{
	struct ubev *e = (struct ubev *)ev;
	if (!e)
		return;
	disarm(e);
	free(e);
}

static int
ev_add(struct ub_event *ev, struct timeval *tv)
{
	struct ubev *e = (struct ubev *)ev;
	disarm(e);
	arm_io(e);
	e->has_tv = tv != NULL;
	if (tv) {
		e->tv = seconds(tv);
		arm_timer(e);
	}
	return 0;
}

static int
ev_del(struct ub_event *ev)
{
	disarm((struct ubev *)ev);
	return 0;
}

static int
ev_add_timer(struct ub_event *ev, struct ub_event_base *base,
    void (*cb)(int, short, void *), void *arg, struct timeval *tv)
{
	struct ubev *e = (struct ubev *)ev;
	(void)base;
	disarm(e);
	e->cb = cb;
	e->arg = arg;
	e->fd = -1;
	e->bits = UB_EV_TIMEOUT;
	e->has_tv = 1;
	e->tv = tv ? seconds(tv) : 0.;
	arm_timer(e);
	return 0;
}

static int
ev_del_timer(struct ub_event *ev)
{
	struct ubev *e = (struct ubev *)ev;
	ev_timer_stop(e->loop, &e->tm);
	return 0;
}

/* libunbound's resolver registers no signals; refuse them */
static int
ev_add_signal(struct ub_event *ev, struct timeval *tv)
{
	(void)ev;
	(void)tv;
	return -1;
}

static int
ev_del_signal(struct ub_event *ev)
{
	(void)ev;
	return 0;
}

static struct ub_event_vmt event_vmt = {
	.add_bits = ev_add_bits,
	.del_bits = ev_del_bits,
	.set_fd = ev_set_fd,
	.free = ev_free,
	.add = ev_add,
	.del = ev_del,
	.add_timer = ev_add_timer,
	.del_timer = ev_del_timer,
	.add_signal = ev_add_signal,
	.del_signal = ev_del_signal,
};

static struct ub_event *
base_new_event(struct ub_event_base *b, int fd, short bits,
    void (*cb)(int, short, void *), void *arg)
{
	struct ubev *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->super.magic = UB_EVENT_MAGIC;
	e->super.vmt = &event_vmt;
	e->loop = ((struct ubev_base *)b)->loop;
	e->fd = fd;
	e->bits = bits;
	e->cb = cb;
	e->arg = arg;
	ev_init(&e->io, io_cb);
	e->io.data = e;
	ev_init(&e->tm, timer_cb);
	e->tm.data = e;
	return &e->super;
}

static struct ub_event *
base_new_signal(struct ub_event_base *b, int fd,
    void (*cb)(int, short, void *), void *arg)
{
	(void)b;
	(void)fd;
	(void)cb;
	(void)arg;
	return NULL;
}

static int
base_dispatch(struct ub_event_base *b)
{
	ev_run(((struct ubev_base *)b)->loop, 0);
	return 0;
}

static int
base_loopexit(struct ub_event_base *b, struct timeval *tv)
{
	(void)tv;
	ev_break(((struct ubev_base *)b)->loop, EVBREAK_ALL);
	return 0;
}

static void
base_free(struct ub_event_base *b)
{
	free(b);
}

static struct ub_event_base_vmt base_vmt = {
	.free = base_free,
	.dispatch = base_dispatch,
	.loopexit = base_loopexit,
	.new_event = base_new_event,
	.new_signal = base_new_signal,
};

struct ub_event_base *
ubev_base_new(struct ev_loop *loop)
{
	struct ubev_base *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->super.magic = UB_EVENT_MAGIC;
	b->super.vmt = &base_vmt;
	b->loop = loop;
	return &b->super;
}

void
ubev_base_free(struct ub_event_base *b)
{
	if (b)
		b->vmt->free(b);
}
