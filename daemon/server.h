/* server.h -- the worker threads: UDP and TCP DNS service.
 *
 * Each worker owns one libev loop and, for every listen address, its own
 * SO_REUSEPORT UDP socket and TCP listener, so the kernel spreads queries
 * over workers and no two workers share a write on the hot path.
 *
 * Snapshots: main publishes a new snapshot with server_publish(); a
 * worker holds the current one only while answering a batch and
 * announces it in a per-worker hazard pointer.  A retired snapshot may be
 * freed once server_snapshot_in_use() says no worker holds it and no
 * query waiting for upstream refers to it.
 */
#ifndef RBLCACHE_SERVER_H
#define RBLCACHE_SERVER_H

#include "config.h"
#include "query.h"

#define SERVER_TCP_MAX_CONNS	512	/* over all workers */
#define SERVER_TCP_IDLE_SEC	10.0	/* RFC 7766 §6.2.3: seconds, not minutes */
#define SERVER_TCP_MAX_PENDING	(256 * 1024)	/* unread answers per connection */
/* SO_SNDBUF and SO_RCVBUF of every TCP connection (the kernel doubles
 * them): fixed, so a client that never reads cannot make the kernel's
 * buffer autotuning queue megabytes per connection on the daemon's side */
#define SERVER_TCP_SOCKBUF	(64 * 1024)

struct server;

/* Creates the sockets for cfg->workers workers and every listen address
 * (binding happens here, before privileges are dropped).  Returns NULL
 * after logging when an address cannot be bound. */
struct server *server_new(const struct config *cfg);

/* Upstream lookups go through u (started by the caller); queries that
 * would wait beyond cfg->resolver.max-pending per worker are answered
 * from local data alone. */
struct upstream;
void server_set_upstream(struct server *srv, struct upstream *u);

/* Every answered query gets a line in ql (started by the caller). */
struct querylog;
void server_set_querylog(struct server *srv, struct querylog *ql);

/* Starts the worker threads answering from s. */
void server_start(struct server *srv, struct snapshot *s);

/* Makes s the snapshot new queries see.  Returns the previous one, which
 * the caller retires. */
struct snapshot *server_publish(struct server *srv, struct snapshot *s);

/* True while any worker may still read s. */
int server_snapshot_in_use(struct server *srv, struct snapshot *s);

/* Sums the workers' counters (racy reads of monotonic counters). */
void server_stats(struct server *srv, struct query_stats *out);

/* Graceful shutdown: every worker stops reading queries and accepting
 * connections, answers what it already holds (queries waiting for
 * upstream end at their timeouts, fail open) and writes out its TCP
 * answers, for at most max_sec; then the workers end.  The upstream
 * thread must still run.  server_stop() follows. */
void server_drain(struct server *srv, double max_sec);

/* Cuts a drain short: every worker stops now, what still waits for
 * upstream goes unanswered.  Async-signal-safe (ev_async_send only). */
void server_hurry(struct server *srv);
/* Stops and joins the workers, closes the sockets, frees srv. */
void server_stop(struct server *srv);

#endif
