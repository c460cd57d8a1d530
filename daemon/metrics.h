/* metrics.h -- the Prometheus endpoint: GET /metrics over HTTP (libmicrohttpd).
 *
 * The socket is bound by metrics_bind() before privileges are dropped;
 * metrics_start() (after daemon(), which keeps no threads) serves it
 * from libmicrohttpd's own polling thread.  That thread never reads the
 * daemon's state: each scrape is handed to the main loop (ev_async),
 * which renders the figures (stats.c) as for rblctl stats and hands the
 * text back; a main loop that does not answer within
 * METRICS_RENDER_TIMEOUT seconds (a long reload) gets the scrape a 503.
 * Paths other than /metrics get 404, methods other than GET and HEAD
 * 405.
 */
#ifndef RBLCACHE_METRICS_H
#define RBLCACHE_METRICS_H

#include <stddef.h>

#include "config.h"

#define METRICS_RENDER_TIMEOUT	5
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

struct ev_loop;
struct metrics;

/* The exposition text, malloc'ed (*len its length), or NULL; called on
 * the main loop's thread. */
typedef char *metrics_render_fn(void *arg, size_t *len);

/* Binds and listens on addr.  NULL after logging when it cannot. */
struct metrics *metrics_bind(const struct config_listen *addr);

/* Starts serving; scrapes are rendered by render(arg) on loop. */
void metrics_start(struct metrics *m, struct ev_loop *loop,
    metrics_render_fn *render, void *arg);

/* Stops the HTTP thread (a scrape waiting on main gets 503), frees m. */
void metrics_free(struct metrics *m);

#endif
