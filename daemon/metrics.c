/* metrics.c -- libmicrohttpd serving GET /metrics, rendered on the main loop.
 *
 * Handoff: libmicrohttpd's thread (one, so one scrape at a time) sets
 * want under mu, wakes the main loop and waits on cv for done; the main
 * loop's render_cb renders and sets done.  stopping (set by
 * metrics_free() on the main thread before it stops libmicrohttpd)
 * releases a waiting scrape, which would otherwise wait for a loop that
 * no longer runs.
 */
#include "metrics.h"

#include <errno.h>
#include <ev.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct metrics {
	int fd;
	char *text_addr;
	struct MHD_Daemon *mhd;
	struct ev_loop *loop;
	ev_async wake;
	metrics_render_fn *render;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int want, done, stopping;
	char *text;		/* done: the rendering, NULL on failure */
	size_t len;
};

struct metrics *
metrics_bind(const struct config_listen *addr)
{
	int one = 1;
	struct metrics *m = calloc(1, sizeof(*m));
	if (!m)
		fatal("%s", __func__);
	m->fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (m->fd < 0) {
		log_warn("metrics: socket for %s", addr->text);
		free(m);
		return NULL;
	}
	setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->ss.ss_family == AF_INET6)
		setsockopt(m->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(m->fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 ||
	    listen(m->fd, 16) < 0) {
		log_warn("metrics: cannot listen on %s", addr->text);
		close(m->fd);
		free(m);
		return NULL;
	}
	if (!(m->text_addr = strdup(addr->text)))
		fatal("%s", __func__);
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	return m;
}

/* Main loop: render what a scrape waits for. */
static void
render_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct metrics *m = a->data;
	(void)loop;
	(void)revents;
	pthread_mutex_lock(&m->mu);
	if (m->want) {
		m->want = 0;
		m->text = m->render(m->arg, &m->len);
		m->done = 1;
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
}

/* libmicrohttpd's thread: the text from the main loop, or NULL. */
static char *
fetch(struct metrics *m, size_t *len)
{
	struct timespec until;
	char *text = NULL;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += METRICS_RENDER_TIMEOUT;
	pthread_mutex_lock(&m->mu);
	m->want = 1;
	m->done = 0;
	ev_async_send(m->loop, &m->wake);
	while (!m->done && !m->stopping)
		if (pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT)
			break;
	if (m->done) {
		text = m->text;
		*len = m->len;
		m->text = NULL;
		m->done = 0;
	} else
		m->want = 0;	/* a late render_cb renders nothing */
	pthread_mutex_unlock(&m->mu);
	return text;
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *body,
    const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body),
	    (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
request_cb(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct metrics *m = cls;
	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		*upload_data_size = 0;	/* a body is not read */
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method not allowed: GET /metrics\n", "GET, HEAD");
	}
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: GET /metrics\n",
		    NULL);
	size_t len = 0;
	char *text = fetch(m, &len);
	if (!text)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "figures unavailable, try again\n", NULL);
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text,
	    MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    METRICS_CONTENT_TYPE);
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

void
metrics_start(struct metrics *m, struct ev_loop *loop,
    metrics_render_fn *render, void *arg)
{
	m->loop = loop;
	m->render = render;
	m->arg = arg;
	ev_async_init(&m->wake, render_cb);
	m->wake.data = m;
	ev_async_start(loop, &m->wake);
	/* its thread must leave the signals to the main loop */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	m->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO,
	    0, NULL, NULL, request_cb, m,
	    MHD_OPTION_LISTEN_SOCKET, m->fd,
	    MHD_OPTION_CONNECTION_LIMIT, 32u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 10u,
	    MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!m->mhd)
		fatalx("metrics: cannot start serving %s", m->text_addr);
	log_info("metrics on http://%s/metrics", m->text_addr);
}

void
metrics_free(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->stopping = 1;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	if (m->mhd) {
		/* MHD closes the listen socket it was given */
		MHD_stop_daemon(m->mhd);
		ev_async_stop(m->loop, &m->wake);
	} else
		close(m->fd);
	free(m->text);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m->text_addr);
	free(m);
}
