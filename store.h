/* store.h: the allowances, one record per address key, behind a small interface (open,
 * record, look up, sweep, list) so that another backend can stand beside the directory. */
#ifndef RELAYLEASE_STORE_H
#define RELAYLEASE_STORE_H

#include "log.h"

#include <stddef.h>
#include <time.h>
#include "addr.h"

#define STORE_USER_MAX 255

struct store {
    int dirfd;  /* store.c's own: programs reach the store through the functions below */
    int lockfd; /* opened when first needed */
    const char *dir;
    /* Where the sweep, the list and store_record report what they skip or work around and
     * go on: the program passes log_warn (the man pages quote each line); NULL says nothing. */
    log_fn *warn;
};

struct record {
    char key[ADDR_KEY_MAX];
    char user[STORE_USER_MAX + 1];  /* may be empty: the login gave no usable name */
    time_t time;                    /* the login time */
    int legacy;                     /* written by relay-ctrl */
};

enum store_result {
    STORE_FOUND = 0,
    STORE_MISSING,   /* no record for the key */
    STORE_INVALID,   /* a record is there but failed validation: it grants nothing */
    STORE_ERROR      /* the store could not be read: errno says why */
};

/* Validate the content of a record file whose name, the key, is already in r->key; fill
 * in r->user and r->legacy. Returns 0, or -1 with *why saying what is wrong. Used by the
 * lookups, and on its own by tests and fuzzers. */
int store_parse(const char *buf, size_t n, struct record *r, const char **why);

/* Open the store for reading and writing; warn is where its problems are reported (see struct
 * store: a program passes log_warn, so that none can forget to). Returns 0, or -1 with errno
 * set. */
int store_open(struct store *s, const char *dir, log_fn *warn);
void store_close(struct store *s);

/* Which directory the open store is: its device and inode, which name it whatever path led to
 * it (relay-cdb's snapshot is of one store and no other). Returns 0, or -1 with errno set. */
int store_id(struct store *s, unsigned long long *dev, unsigned long long *ino);

/* Set the login time of key's record to t (an import keeps the time the old system saw),
 * never through a symbolic link. Returns 0, or -1 with errno set (EINVAL: not a key). */
int store_set_time(struct store *s, const char *key, time_t t);

/* Is user fit to be recorded and put into TCPREMOTEINFO? 1 or 0. */
int store_user_ok(const char *user);

/* Record an allowance for key, made now. Returns 0, or -1 with errno set. If the store's lock
 * could not be taken the record is made without it, and that is reported (s->warn). */
int store_record(struct store *s, const char *key, const char *user);

/* Clocks of hosts sharing a store may differ by a little: a login time at most this far in
 * the future is taken as made now. */
#define STORE_FUTURE_SLACK 5

/* How long a sweep waits for the store's lock before it gives up (seconds). Writers hold it
 * shared only around a rename, so this is reached only if someone holds it on purpose. */
#define STORE_SWEEP_LOCK_WAIT 10

/* now - t in seconds, whatever the two are: a file's mtime can be anything time_t holds, so
 * the difference saturates at LONG_MIN and LONG_MAX instead of overflowing. Negative: t is
 * in the future. */
long store_age(time_t t, time_t now);

/* Is a login made at t still fresh at now? Age at most expiry, and at most
 * STORE_FUTURE_SLACK seconds in the future. Never overflows. */
int store_fresh(time_t t, time_t now, long expiry);

/* Look up the record for key without opening the directory (relay-check's fast path).
 * Whether the login time is fresh is the caller's to judge (store_fresh). A record that its group or others may write, or
 * that belongs to anyone but root or the store directory's owner, is STORE_INVALID: someone
 * else could have written it. On STORE_INVALID, *why says what was wrong. */
enum store_result store_lookup(const char *dir, const char *key, struct record *r,
                               const char **why);

struct sweep_stats {
    unsigned long kept, removed, temps, skipped;
};

/* Remove every record older than expiry seconds, or dated expiry seconds or more in the
 * future (a clock stepped back by less keeps its allowances), and temp files left by crashed
 * writers. With dry_run, remove nothing and report what would go through the callback.
 * The callback, if any, sees each removed (or would-be removed) name. Names that are left
 * alone, or that cannot be looked at or removed, are reported (s->warn) and the sweep goes
 * on.
 * Returns 0, or -1 with errno set if the store could not be read; ETIMEDOUT: the lock was
 * held by someone else for STORE_SWEEP_LOCK_WAIT seconds, and the sweep stopped there. */
int store_sweep(struct store *s, long expiry, int dry_run, struct sweep_stats *st,
                void (*removed)(const char *name, long age, void *arg), void *arg);

/* Call fn for each valid fresh record (store_fresh), in no particular order; each invalid
 * or unreadable one is reported (s->warn) and left out. In a store that its group or others may write no record
 * is valid: nothing is listed, and nothing is said (the caller warns about the store once).
 * Returns 0, or -1 with errno set. */
int store_list(struct store *s, long expiry,
               void (*fn)(const struct record *r, void *arg), void *arg);

#endif
