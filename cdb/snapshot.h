/* snapshot.h: relay-cdb's snapshot of the live allowances, kept beside the cdb in
 * RELAY_CDB.idx, so that the build after a login reads one file instead of the whole store.
 *
 * Text, one allowance a line, in no particular order:
 *
 *   relaylease-snapshot2 <dev> <ino> <count>\n     the store directory's device and inode
 *   <key> <login time>\n                           count lines like this
 *
 * Numbers are decimal with no sign and no leading zero. A key is a store key that
 * addr_key_parse accepts, and that addr_key_current accepted when the snapshot was written
 * (snapshot1, from before that check, is refused: the build rescans the store once); the
 * login time is the record's mtime, seconds since the epoch.
 * Nothing else is kept: the user name does not go into the cdb, so it is not here either.
 *
 * A snapshot is never trusted beyond this check: a file that fails it in any way (a snapshot
 * of another store, a torn or truncated one, one line too many) is not used at all, and the
 * build rescans the store instead. */
#ifndef RELAYLEASE_SNAPSHOT_H
#define RELAYLEASE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SNAPSHOT_MAGIC "relaylease-snapshot2"
/* RELAY_CDB plus these: the snapshot, and its temp file. */
#define SNAPSHOT_SUFFIX ".idx"
#define SNAPSHOT_TMP ".idx.tmp"
/* The longest header, and the longest line ("<key> <time>\n": key, 12 digits, 2). */
#define SNAPSHOT_HEADER_MAX (sizeof SNAPSHOT_MAGIC + 3 * 21)
#define SNAPSHOT_LINE_MAX 60
/* Login times have one to twelve digits: enough until the year 33658. */
#define SNAPSHOT_TIME_MAX 999999999999LL

/* Which store a snapshot is of. */
struct snapshot_id {
    unsigned long long dev, ino;
};

/* One allowance: its line, len bytes at off in a buffer, which starts with its key (klen
 * bytes), and its login time. A snapshot is written by copying the lines of the entries
 * that stay, so a line is kept whole with its entry. */
struct snapshot_entry {
    uint32_t off;
    uint16_t klen, len;
    time_t time;
};

/* The most a buffer of lines may hold, so that an offset fits in an entry. */
#define SNAPSHOT_BUF_MAX 0xffffffffU

/* Check the snapshot in buf[0..n), all of it: the header must name the store id and count
 * the lines that follow, and each line's key must pass addr_key_parse and its time be a
 * number. Returns 0 with *count the number of entries and *body the offset of the first
 * line, or -1 with *why saying what is wrong. */
int snapshot_check(const char *buf, size_t n, const struct snapshot_id *id, size_t *count,
                   size_t *body, const char **why);

/* The entry whose line starts at *pos of a buffer that snapshot_check accepted (pos at most
 * n; start with *body). Returns 1 with *e set and *pos moved to the next line, or 0 at the
 * end. */
int snapshot_next(const char *buf, size_t n, size_t *pos, struct snapshot_entry *e);

/* Write the header for count entries at p (room for SNAPSHOT_HEADER_MAX bytes); returns
 * its length. */
size_t snapshot_header(char *p, const struct snapshot_id *id, size_t count);

/* Write the line for key (klen bytes, a valid key) and login time t (1..SNAPSHOT_TIME_MAX)
 * at p (room for SNAPSHOT_LINE_MAX bytes); returns its length. */
size_t snapshot_line(char *p, const char *key, size_t klen, time_t t);

#endif
