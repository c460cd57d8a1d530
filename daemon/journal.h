/* journal.h -- run-time list entries, durable in state-dir.
 *
 * What `rblctl add block 192.0.2.0/24 --for 7d --reason "..."` creates
 * lives here: in memory as one array sorted by (list, family, address,
 * prefix length), on disk as two text files in the state dir:
 *
 *   entries.db    the compacted state, replaced whole by journal_compact()
 *                 (write entries.db.tmp, fsync, rename, fsync the dir)
 *   journal.log   records appended since, one write() + fsync() each,
 *                 truncated back to its header after a compaction
 *
 * Both start with the line "# rblcache journal v1"; a file with another
 * version is refused.  Then one record a line, fields separated by one
 * space:
 *
 *   add CRC ADDED EXPIRES LIST CIDR ORIGIN REASON
 *   del CRC LIST CIDR
 *
 * CRC is 8 lower-case hex digits of the CRC-32 (IEEE, as zlib) of the line
 * without its "CRC " field and without the newline, so a torn write or a
 * flipped bit is caught.  ADDED and EXPIRES are unix seconds (EXPIRES 0:
 * never), LIST a lower-case name of [a-z0-9._-], CIDR "ADDR/LEN" with the
 * host bits clear.  In ORIGIN and REASON, '%', space, control bytes and
 * DEL are written %XX (upper-case hex); other bytes, UTF-8 included, are
 * kept; an empty field is written "-" and a field that is just "-" as
 * "%2D".  Other lines starting with '#', and blank lines, are ignored.
 * Example:
 *
 *   add 23f5a4ba 1700000000 1700604800 block 192.0.2.0/24 rblctl@mx1 spam%20run
 *   del ca181a91 block 192.0.2.0/24
 *
 * Replay reads entries.db, then journal.log, in order: "add" replaces the
 * entry for (LIST, CIDR), "del" removes it (absent is fine), so a log that
 * still holds records already compacted into entries.db (crash between the
 * rename and the truncation) replays to the same entries.
 *
 * Single-threaded: the daemon's main thread owns a struct journal; no
 * locking.  One struct journal per directory at a time (journal_open
 * takes an flock on the directory).
 */
#ifndef RBLCACHE_JOURNAL_H
#define RBLCACHE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define JOURNAL_LIST_MAX 64
#define JOURNAL_REASON_MAX 256
#define JOURNAL_ORIGIN_MAX 64

struct journal_entry {
	char list[JOURNAL_LIST_MAX];	/* list name, lower case */
	struct cidr net;		/* host bits clear */
	int64_t added;			/* unix seconds */
	int64_t expires;		/* unix seconds; 0: never */
	char origin[JOURNAL_ORIGIN_MAX];/* who: e.g. "rblctl@mx1" (host name), or "redis@mx2" */
	char reason[JOURNAL_REASON_MAX];/* free text, may be empty; any bytes except NUL */
};

struct journal;

/* Opens (creating when absent, mode 0700 dir / 0600 files) dir/entries.db
 * (compacted state) and dir/journal.log (appended records since), replays
 * both.  A torn or corrupt LAST record of the log (crash mid-write) is
 * dropped with one log line and the file is truncated to the last good
 * record; a corrupt record elsewhere is skipped with a log line naming
 * file:line.  Returns NULL with a one-line reason in err when the dir
 * cannot be created or read (or a file is not a v1 journal, or another
 * process has it open).  A dir that can be read but not written (read-only
 * file system) opens with a warning: the entries are there, and every
 * journal_add/del retries opening the log for writing and fails with err
 * until it can.  The caller frees the result with journal_close(). */
struct journal *journal_open(const char *dir, char *err, size_t errlen);
void journal_close(struct journal *j);

/* Adds or replaces the entry for (e->list, e->net).  The list name is
 * stored lower case and host bits of net are cleared.  Returns 0 only once
 * the record is written and fsync'ed; -1 with err (e.g. "state-dir /x:
 * journal.log: No space left on device", or a bad list name, prefix or
 * time) and the in-memory state unchanged otherwise (a partial write is
 * truncated away so a later record does not follow garbage). */
int journal_add(struct journal *j, const struct journal_entry *e, char *err,
    size_t errlen);

/* Deletes (list, net), live or expired.  Returns 0, 1 when there is no
 * such entry (nothing written), -1 with err. */
int journal_del(struct journal *j, const char *list, const struct cidr *net,
    char *err, size_t errlen);

/* The entries live at now (expires == 0 or > now), in a stable order
 * (list, then address family, address, prefix length).  *out is valid
 * until the next call that changes j or the next journal_entries(). */
size_t journal_entries(struct journal *j, int64_t now,
    const struct journal_entry **out);

/* Looks up the entry for exactly (list, net), live at now, or NULL.  The
 * result is valid until the next call that changes j. */
const struct journal_entry *journal_find(struct journal *j, const char *list,
    const struct cidr *net, int64_t now);

/* Drops expired entries from memory; returns how many (log lines are the
 * caller's). */
size_t journal_expire(struct journal *j, int64_t now);

/* Writes the live entries to dir/entries.db.tmp, fsyncs it, renames it
 * over entries.db, fsyncs the dir, then truncates journal.log to its
 * header (and fsyncs); on success the expired entries are dropped from
 * memory too.  A crash at any point leaves a state that journal_open
 * replays to the same entries.  Returns 0, or -1 with err and the entries
 * as before (on disk possibly a new entries.db next to a log not yet
 * truncated, which replays the same).  Call it when the log grows
 * (journal_log_records, journal_log_size) or at shutdown. */
int journal_compact(struct journal *j, int64_t now, char *err, size_t errlen);

/* Records in journal.log since the last compaction, and its size in bytes. */
size_t journal_log_records(const struct journal *j);
int64_t journal_log_size(const struct journal *j);

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32) of len bytes, continuing
 * from crc (start with 0). */
uint32_t journal_crc32(uint32_t crc, const void *buf, size_t len);

/* One record as journal.log holds it, without the newline, into buf:
 * how other hosts get an entry (see share.c).  Returns its length, or 0
 * when e is not valid or buf is too small (2048 bytes always do). */
size_t journal_record(char *buf, size_t size, int del,
    const struct journal_entry *e);

/* Parses such a record (NUL-terminated; split in place): 0 with *e and
 * *del (a "del" record fills only list and net), or -1 with *why. */
int journal_parse(char *line, struct journal_entry *e, int *del,
    const char **why);

#endif
