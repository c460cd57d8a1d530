/* querylog.h -- one line per answered query, written without ever blocking a worker.
 *
 * Each worker formats its lines into a ring of its own (single producer,
 * single consumer, no lock); one writer thread drains every ring to the
 * file ten times a second with write(2) on an O_APPEND descriptor.  A
 * worker whose ring is full drops the line and counts it
 * (query_log_dropped); a failed write (disk full, I/O error) costs the
 * lines it carried, is counted and logged at most once a minute, and
 * the next write tries again.  querylog_reopen() (SIGHUP, rblctl
 * reload) makes the writer close and reopen the path, so a rotated file
 * is let go of.
 *
 * Line format (fields separated by one space):
 *   TIME CLIENT QNAME QTYPE RCODE VERDICT SCORE LATENCY_US VIA
 *   2026-11-27T08:23:33.123Z 127.0.0.1 2.0.0.127.bl.example A NOERROR listed 10 35 local
 * TIME is UTC with milliseconds; QNAME is lower case with RFC 1035
 * escapes (\DDD, \.) and "-" when the query had none; QTYPE the
 * mnemonic or TYPEnnn; VERDICT listed, notlisted or "-" (no address
 * looked up); SCORE the sum of the matching weights or "-" (a cached
 * verdict, or nothing scored); VIA local (lists only), cache (cached
 * verdict or answers), upstream (waited for upstream) or "-".
 */
#ifndef RBLCACHE_QUERYLOG_H
#define RBLCACHE_QUERYLOG_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "query.h"

#define QUERYLOG_RING	(1u << 20)	/* bytes per worker */
#define QUERYLOG_LINE	1280		/* longest line: a 255-byte name escaped */

struct querylog;

/* A log of nworkers rings writing to path (file mode 0640, created by
 * the user the daemon runs as at the time).  A path that cannot be
 * opened is logged; lines are then counted as write errors until a
 * reopen succeeds.  NULL only when out of memory. */
struct querylog *querylog_new(const char *path, int nworkers);

/* Starts the writer thread (after daemon(), which would not keep it). */
void querylog_start(struct querylog *ql);

/* Asks the writer to reopen, at path (copied) from now on; NULL: the
 * same path. */
void querylog_reopen(struct querylog *ql, const char *path);

/* Drains what the workers wrote, stops the writer, frees ql. */
void querylog_free(struct querylog *ql);

/* Worker w's line for one answered query (pkt: the query).  Counts it
 * in st->qlog_lines, or st->qlog_dropped when the ring is full. */
void querylog_write(struct querylog *ql, int w, const uint8_t *pkt,
    size_t len, const struct ipaddr *client, const struct query_result *res,
    uint64_t latency_ns, struct query_stats *st);

/* Failed writes since start. */
uint64_t querylog_errors(struct querylog *ql);

/* Formats one line (with its newline) into buf; returns its length. */
size_t querylog_format(char *buf, size_t size, int64_t wall_ms,
    const uint8_t *pkt, size_t len, const struct ipaddr *client,
    const struct query_result *res, uint64_t latency_ns);

#endif
