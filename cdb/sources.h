/* sources.h: where relay-cdb's allowances come from, and what it keeps of them for the next
 * build. Three sources, as the mode says (see relay-cdb.c):
 *   - the snapshot of the last build (snapshot.h), mapped, never copied;
 *   - the journal of logins since then: each key looked up again in the store, as relay-check
 *     would look it up, and what the store says replaces what the snapshot said;
 *   - a rescan of the store, every record opened and checked (the caller's store_list, whose
 *     records come in through sources_add).
 * The entries made here (journal, rescan) are kept as snapshot lines ("<key> <time>\n"), so
 * that the next snapshot is written by copying the lines that stay, wherever they are.
 *
 * Returns are 0, or -1 with errno set (ENOMEM; EFBIG: more allowances than a buffer of lines
 * can index, SNAPSHOT_BUF_MAX), unless said otherwise. */
#ifndef RELAYLEASE_SOURCES_H
#define RELAYLEASE_SOURCES_H

#include <stddef.h>
#include <sys/uio.h>
#include <time.h>
#include "buf.h"
#include "cdb/map.h"
#include "cdb/snapshot.h"
#include "store.h"

/* A snapshot bigger than this is not one of ours. */
#define SOURCES_SNAPSHOT_MAX (1024L * 1024 * 1024)
/* A journal bigger than this (some 70,000 logins since the last build) is not worth looking
 * up key by key: the store is rescanned instead. */
#define SOURCES_JOURNAL_MAX (1024L * 1024)

struct sources {
    const char *snap; /* the snapshot, mapped: snaplen bytes, its lines from snapbody */
    size_t snaplen, snapbody;
    struct rbuf akeys; /* the lines of allow[] */
    struct snapshot_entry *allow;
    size_t nallow, capallow;
    struct rbuf jbuf;  /* the journal, read whole */
    struct map journal; /* its keys, each once */
    /* Most of the snapshot's keys are not in the journal, and a bit per length and last two
     * bytes of the journal's keys says so for nearly all of them without a lookup. */
    unsigned char journal_bits[8192];
    struct iovec *kept; /* the next snapshot: a slot for its header, then runs of lines */
    size_t nkept, capkept, keptlines;
};

void sources_init(struct sources *s);
void sources_free(struct sources *s);

/* Add an allowance: key k (klen bytes, a valid store key) with login time t. */
int sources_add(struct sources *s, const char *k, size_t klen, time_t t);

/* Drop the snapshot and every allowance added (a rescan starts from nothing). */
void sources_forget(struct sources *s);

/* Load the snapshot at path, of the store id. 0 if it is loaded, 1 if there is none, or -1
 * with *why saying why it cannot be used. It is trusted only as far as this checks it: no
 * one but its writers (root, us, and the owner of its directory) may be able to change it,
 * and every byte of it must parse (snapshot_check). */
int sources_load_snapshot(struct sources *s, const char *path, const struct snapshot_id *id,
                          const char **why);

/* Read the journal from fd (the file the trigger's journal was taken to) and gather its keys;
 * *bad counts its lines that are not store keys. 0, 1 if it is too big to be worth it
 * (SOURCES_JOURNAL_MAX), -1 with *why if it could not be read, or -2 if memory ran out. */
int sources_read_journal(struct sources *s, int fd, unsigned long *bad, const char **why);

/* How many keys the journal had, each counted once. */
size_t sources_journal_keys(const struct sources *s);

/* Look each journal key up in the store at dir, as relay-check looks it up (the record
 * checked in full), and add what is found. A record that is invalid or cannot be read is
 * reported through warn, in the words of store_list, and grants nothing. What the snapshot says of
 * these keys is to be dropped (sources_in_journal). */
int sources_lookup_journal(struct sources *s, const char *dir, log_fn *warn);

/* Is key k (klen bytes, at least 4) one of the journal's? */
int sources_in_journal(const struct sources *s, const char *k, size_t klen);

/* Call fn for each allowance: the snapshot's (from_snapshot 1), then the ones added here.
 * line is the allowance's line, which starts with its key (e->klen bytes). */
void sources_each(const struct sources *s,
                  void (*fn)(const char *line, const struct snapshot_entry *e,
                             int from_snapshot, void *arg),
                  void *arg);

/* Keep an allowance's line (len bytes, which stays where it is until the snapshot is written)
 * for the next snapshot. */
int sources_keep(struct sources *s, const char *line, size_t len);

/* Make sure the next snapshot has room for its header (sources_write_snapshot needs it). */
int sources_keep_ready(struct sources *s);

/* Write the next snapshot to fd: the header for id and the kept lines, in one writev. */
int sources_write_snapshot(struct sources *s, int fd, const struct snapshot_id *id);

#endif
