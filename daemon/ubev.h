/* ubev.h -- libunbound's pluggable event base on a libev loop. */
#ifndef RBLCACHE_UBEV_H
#define RBLCACHE_UBEV_H

#include <ev.h>

struct ub_event_base;

/* An event base for ub_ctx_create_ub_event() whose events run on loop;
 * NULL when out of memory.  Free it after ub_ctx_delete(). */
struct ub_event_base *ubev_base_new(struct ev_loop *loop);
void ubev_base_free(struct ub_event_base *b);

#endif
