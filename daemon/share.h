/* share.h -- run-time entries shared by every rblcached on one Redis.
 *
 * When the config has a redis section, every rblctl add/del is also
 * written to one Redis hash and announced on a channel; each daemon
 * subscribed to the channel applies the edit to its own journal (so it
 * survives a restart with Redis down) and answers with it within a
 * second.  A daemon that was stopped or cut off reads the whole hash
 * when it connects again and catches up; meanwhile it keeps serving the
 * entries it has.
 *
 * In Redis (PREFIX is redis.prefix):
 *   PREFIX "v1:entries"  hash, field "LIST CIDR", value "MS RECORD":
 *                        MS the edit's Unix time in milliseconds, RECORD
 *                        the journal record ("add ..." or "del ...", see
 *                        journal.h); a del stays as a tombstone so late
 *                        hosts learn of it (dropped after 30 days)
 *   PREFIX "v1:events"   channel; a message is a field that changed
 * Two hosts editing one entry: the edit with the later time wins (last
 * writer wins, by each host's clock), on every host: Redis keeps a value
 * only when it is not older than the one it replaces (a Lua script), and
 * a host applies only values newer than its own.  Edits made while Redis
 * is away are queued in state-dir/redis-queue and pushed when it is back.
 *
 * Runs on main's loop and touches main's journal; never blocks.
 */
#ifndef RBLCACHE_SHARE_H
#define RBLCACHE_SHARE_H

#include <stdint.h>

#include "addr.h"

struct config;
struct ev_loop;
struct journal;
struct journal_entry;
struct share;

/* Starts connecting.  *journal is main's (may become NULL: then nothing
 * is applied); changed() is called after remote edits were applied. */
struct share *share_new(const struct config *cfg, struct ev_loop *loop,
    struct journal **journal, void (*changed)(void));
void share_free(struct share *s);

/* A local add or del that is in the journal: tells the other hosts
 * (queued while Redis is unreachable).  when_ms: the edit's time. */
void share_edit(struct share *s, int del, const struct journal_entry *e,
    int64_t when_ms);

int share_is_up(const struct share *s);

#endif
