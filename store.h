/* store.h: the allowances, one record per address key, behind one interface (open, record,
 * look up, sweep, list) over two backends: a directory of files (store/dir.c), the default,
 * and Redis (store/redis.c), which several hosts share. The settings choose; the programs
 * call only what is here. */
#ifndef RELAYLEASE_STORE_H
#define RELAYLEASE_STORE_H

#include "log.h"

#include <stddef.h>
#include <time.h>
#include "addr.h"

#define STORE_USER_MAX 255
/* Every Redis key of relaylease's: the shipped ACLs name them by it. */
#define STORE_REDIS_PREFIX "relaylease:"

struct settings;
struct store_backend;

struct store {
    const struct store_backend *be;   /* store.c's: programs call the functions below */
    const struct settings *cfg;
    /* Where the sweep, the list and store_record report what they skip or work around and
     * go on: the program passes log_warn (the man pages quote each line); NULL says nothing. */
    log_fn *warn;
    /* After a call that failed, what errno cannot say (a server's refusal), or NULL. */
    const char *why;
    /* The directory backend's own. */
    int dirfd;
    int lockfd; /* opened when first needed */
    const char *dir;
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

/* Open the store the settings name; warn is where its problems are reported (see struct
 * store: a program passes log_warn, so that none can forget to). Returns 0, or -1 with errno
 * set. cfg must outlive the store. */
int store_open(struct store *s, const struct settings *cfg, log_fn *warn);
void store_close(struct store *s);

/* Why the last call on s failed: s->why, else errno's text. */
const char *store_error(const struct store *s);

/* The directory whose owner does the store's file work when root runs us (owner.h), or NULL
 * if the store has none (Redis). */
const char *store_home(const struct settings *cfg);

/* The store, and a record in it, named for messages ("/var/lib/relaylease",
 * "/var/lib/relaylease/192.0.2.7"; "redis unix:/run/redis/relaylease.sock", ...). The record's
 * name is written into buf (size bytes) and returned. */
const char *store_where(const struct settings *cfg);
#define STORE_NAME_MAX 4352 /* a PATH_MAX directory and a key, or Redis's address and a key */
const char *store_name(const struct settings *cfg, const char *key, char *buf, size_t size);

/* Which store the open store is: for the directory, its device and inode, which name it
 * whatever path led to it (relay-cdb's snapshot is of one store and no other). Returns 0, or
 * -1 with errno set; ENOTSUP for a store with no such identity (Redis). */
int store_id(struct store *s, unsigned long long *dev, unsigned long long *ino);

/* The end of a record line, from at: r->key, a space, the user (empty, or store_user_ok), and
 * the final newline at buf[n - 1], which the caller has checked is the only one. Fills in
 * r->user. Returns 0, or -1 with *why. Both backends' records end so. */
int store_parse_key_user(const char *buf, size_t n, size_t at, struct record *r,
                         const char **why);

/* Import an allowance made at t (by another system, or another store): recorded with that
 * time unless the store already holds a login for key at least as recent. */
enum store_import { STORE_IMPORTED, STORE_NEWER, STORE_IMPORT_FAILED };
enum store_import store_import(struct store *s, const char *key, const char *user, time_t t);

/* Is user fit to be recorded and put into TCPREMOTEINFO? 1 or 0. */
int store_user_ok(const char *user);

/* Record an allowance for key, made now. Returns 0, or -1 with errno set. If the store's lock
 * could not be taken the record is made without it, and that is reported (s->warn). */
int store_record(struct store *s, const char *key, const char *user);

/* What a login's store_login did. */
enum store_login {
    STORE_LOGIN_RECORDED,   /* key's allowance made, or renewed */
    STORE_LOGIN_OVER_CAP,   /* nothing written: user already holds *held live allowances
                             * for other keys, max or more */
    STORE_LOGIN_FAILED      /* errno (and s->why) say why */
};

/* Record a login's allowance for key, made now, unless user (not empty) already holds max or
 * more live allowances for other keys (max 0: no cap, and the record is made as
 * store_record makes it; an empty user is never counted). The
 * count and the write are one step: two logins of one user at once cannot both pass a cap
 * that only one fits under. If the user's lock cannot be had the record is made without the
 * cap, and that is reported (s->warn): a login is never held up by the cap's own trouble.
 * *held is set with STORE_LOGIN_OVER_CAP. */
enum store_login store_login(struct store *s, const char *key, const char *user, long max,
                             long *held);

/* The same, made at t (an import keeps the time the old system saw). */
#define STORE_NOW ((time_t)0)
int store_record_at(struct store *s, const char *key, const char *user, time_t t);

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

/* Look up the record for key without opening the store (relay-check's fast path). Whether
 * the login time is fresh is the caller's to judge (store_fresh). On STORE_INVALID, *why says
 * what was wrong; on STORE_ERROR, errno, and *why if there is more to say (a server's
 * refusal), else "". */
enum store_result store_lookup(const struct settings *cfg, const char *key, struct record *r,
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
 * held by someone else for STORE_SWEEP_LOCK_WAIT seconds, and the sweep stopped there;
 * ENOTSUP: the store expires its records itself (Redis). */
int store_sweep(struct store *s, long expiry, int dry_run, struct sweep_stats *st,
                void (*removed)(const char *name, long age, void *arg), void *arg);

/* Take allowances back now, whatever their age: every record that names user
 * (store_revoke_user), or the record under key (store_revoke_key). fn, if any, sees each
 * removed record. A login racing a revocation is removed whole or survives whole. Returns
 * how many were removed, or -1 with errno set (and s->why); what was removed before the
 * failure stays removed, and fn has seen it. */
long store_revoke_user(struct store *s, const char *user,
                       void (*fn)(const struct record *r, void *arg), void *arg);
long store_revoke_key(struct store *s, const char *key,
                      void (*fn)(const struct record *r, void *arg), void *arg);

/* Call fn for each valid fresh record (store_fresh), in no particular order; each invalid
 * or unreadable one is reported (s->warn) and left out. In a store that its group or others may write no record
 * is valid: nothing is listed, and nothing is said (the caller warns about the store once).
 * Returns 0, or -1 with errno set. */
int store_list(struct store *s, long expiry,
               void (*fn)(const struct record *r, void *arg), void *arg);

#endif
