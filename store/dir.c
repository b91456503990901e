/* store/dir.c: the directory backend. One file per address key; its mtime is the login time, as
 * in relay-ctrl's spool, so that a sweep needs only a stat per record and relay-ctrl's files
 * keep working in place. What a file says is never trusted beyond what is checked here. */
#define _GNU_SOURCE /* O_NOFOLLOW, O_DIRECTORY and flock on glibc and musl alike */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "io.h"
#include "lock.h"
#include "log.h"
#include "replace.h"
#include "store.h"
#include "store/backend.h"
#include "store/dir.h"

#define MAGIC "relaylease1 "
#define TEMP_PREFIX ".tmp."
/* The lock is a file of its own, mode 0600 and owned by the store's owner, rather than the
 * directory: flock needs only read access, and the directory is readable by relay-check's
 * account and often by everyone, who must not be able to stall logins and sweeps. Whoever
 * writes creates it, and that is always the store's owner: root does its store work as the
 * owner (owner.h), so nothing here ever changes the owner or mode of a file it did not
 * create. */
#define LOCK_NAME ".lock"
/* A record is one short line; anything bigger is not one of ours. */
#define RECORD_MAX 1024
/* A temp file older than this belongs to a writer that died between create and rename. */
#define TEMP_MAX_AGE 60
/* How long a writer waits for a sweep to let go of the directory lock. A sweep holds it for
 * one chunk of names at a time (a millisecond or so), so this is reached only if a sweep is
 * stuck; the login then goes on without the lock rather than wait longer. */
#define LOCK_WAIT_MS 5000
#define SWEEP_CHUNK 256

int store_dir_open(struct store *s, const char *dir, log_fn *warn)
{
    s->be = &store_dir_backend;
    s->why = NULL;
    s->dir = dir;
    s->lockfd = -1;
    s->warn = warn;
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return s->dirfd < 0 ? -1 : 0;
}

static void dir_close(struct store *s)
{
    if (s->dirfd >= 0)
        close(s->dirfd);
    if (s->lockfd >= 0)
        close(s->lockfd);
    s->dirfd = -1;
    s->lockfd = -1;
}

static int dir_id(struct store *s, unsigned long long *dev, unsigned long long *ino)
{
    struct stat st;
    if (fstat(s->dirfd, &st) != 0)
        return -1;
    *dev = (unsigned long long)st.st_dev;
    *ino = (unsigned long long)st.st_ino;
    return 0;
}

/* The login time of a record is its file's mtime: an import that keeps the time the old
 * system saw sets it after the rename, never through a symbolic link. */
static int set_time(struct store *s, const char *key, time_t t)
{
    struct timespec times[2] = {{.tv_sec = t, .tv_nsec = 0}, {.tv_sec = t, .tv_nsec = 0}};
    return utimensat(s->dirfd, key, times, AT_SYMLINK_NOFOLLOW);
}

static int open_lock(struct store *s)
{
    if (s->lockfd >= 0)
        return 0;
    int fd = openat(s->dirfd, LOCK_NAME, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                    0600);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd); /* not a lock anyone can trust: "No locks available" */
        errno = ENOLCK;
        return -1;
    }
    s->lockfd = fd;
    return 0;
}

/* Shared by writers so that a sweep, which takes it exclusively around each stat-and-unlink,
 * never deletes a record that a login has just replaced. */
static int lock_shared(struct store *s)
{
    if (open_lock(s) != 0)
        return -1;
    return lock_take(s->lockfd, LOCK_SH, LOCK_WAIT_MS);
}

static int dir_record(struct store *s, const char *key, const char *user, time_t t, long max,
                      long *held)
{
    (void)max; /* the cap: not yet */
    (void)held;
    struct addr a;
    unsigned bits;
    if (addr_key_parse(&a, &bits, key) != 0 || (user[0] != '\0' && !store_user_ok(user))) {
        errno = EINVAL;
        return -1;
    }

    char line[RECORD_MAX];
    int len = snprintf(line, sizeof line, MAGIC "%s %s\n", key, user);
    char tmp[sizeof TEMP_PREFIX + 24 + ADDR_KEY_MAX];
    (void)snprintf(tmp, sizeof tmp, TEMP_PREFIX "%ld.%s", (long)getpid(), key); /* fits */

    /* A leftover of our own pid can only be from a writer that died (or a name planted to
     * catch us), so it is removed, never reopened (replace_open's O_EXCL), and the create
     * tried again. */
    int fd = replace_open(s->dirfd, tmp);
    if (fd < 0 && errno == EEXIST && unlinkat(s->dirfd, tmp, 0) == 0)
        fd = replace_open(s->dirfd, tmp);
    if (fd < 0)
        return -1;

    /* No fsync: an allowance lives for minutes, and one lost in a crash costs the user one
     * more login, while an fsync would cost every login a disk flush. The explicit mode, set
     * on the file this call created and through its own descriptor, keeps records readable
     * by relay-check whatever umask the login chain runs under. */
    if (io_write(fd, line, (size_t)len) != 0) {
        replace_abandon(fd, s->dirfd, tmp);
        return -1;
    }
    if (replace_close(fd, s->dirfd, tmp, 0, 0644) != 0)
        return -1;

    int locked = lock_shared(s) == 0;
    if (!locked) {
        if (s->warn != NULL)
            s->warn("unable to lock %s (%s): recording without the lock", s->dir,
                    strerror(errno));
    }
    int r = replace_rename(s->dirfd, tmp, key);
    int e = errno;
    if (locked)
        flock(s->lockfd, LOCK_UN);
    errno = e;
    if (r == 0 && t != STORE_NOW)
        r = set_time(s, key, t);
    return r;
}

/* relay-ctrl's content: "NAME=value\0" entries. Only USER and DOMAIN are read, for the user
 * name; relay-ctrl-check exported every entry into qmail-smtpd's environment, which is
 * exactly what must not happen here. */
static int parse_legacy(const char *p, size_t n, struct record *r, const char **why)
{
    const char *user = "", *domain = "";
    size_t ulen = 0, dlen = 0;
    if (n > 0 && p[n - 1] != '\0') {
        *why = "relay-ctrl record not NUL-terminated";
        return -1;
    }
    for (size_t i = 0; i < n;) {
        const char *e = p + i;
        size_t elen = strlen(e);
        const char *eq = memchr(e, '=', elen);
        if (eq == NULL || eq == e) {
            *why = "relay-ctrl record entry without NAME=";
            return -1;
        }
        for (const char *c = e; c < eq; c++)
            if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_')) {
                *why = "relay-ctrl record entry with a bad name";
                return -1;
            }
        if ((size_t)(eq - e) == 4 && memcmp(e, "USER", 4) == 0) {
            user = eq + 1;
            ulen = elen - 5;
        } else if ((size_t)(eq - e) == 6 && memcmp(e, "DOMAIN", 6) == 0) {
            domain = eq + 1;
            dlen = elen - 7;
        }
        i += elen + 1;
    }
    if (ulen + (ulen > 0 && dlen > 0 ? 1 + dlen : 0) > STORE_USER_MAX) {
        *why = "user name too long";
        return -1;
    }
    /* Both fit: the length was checked just above. */
    if (dlen > 0 && ulen > 0)
        (void)snprintf(r->user, sizeof r->user, "%.*s@%.*s", (int)ulen, user, (int)dlen, domain);
    else
        (void)snprintf(r->user, sizeof r->user, "%.*s", (int)ulen, user);
    if (r->user[0] != '\0' && !store_user_ok(r->user)) {
        *why = "user name with forbidden characters";
        return -1;
    }
    r->legacy = 1;
    return 0;
}

static int parse_ours(const char *p, size_t n, struct record *r, const char **why)
{
    size_t m = sizeof MAGIC - 1;
    if (n == 0 || p[n - 1] != '\n' || memchr(p, '\0', n) != NULL) {
        *why = "record is not one line of text";
        return -1;
    }
    r->legacy = 0;
    return store_parse_key_user(p, n, m, r, why);
}

int store_parse(const char *buf, size_t n, struct record *r, const char **why)
{
    if (n >= sizeof MAGIC - 1 && memcmp(buf, MAGIC, sizeof MAGIC - 1) == 0)
        return parse_ours(buf, n, r, why);
    if (strchr(r->key, '_') == NULL)
        return parse_legacy(buf, n, r, why);
    *why = "not a relaylease record";
    return -1;
}

/* Validate an open record file. The caller has put the key (the file's name) in r->key;
 * dir is the store directory's stat. */
static enum store_result check_record(int fd, struct record *r, const struct stat *dir,
                                      const char **why)
{
    static char whose[64];
    struct stat st;
    char buf[RECORD_MAX + 1];
    if (fstat(fd, &st) != 0)
        return STORE_ERROR;
    if (!S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        return STORE_INVALID;
    }
    /* Only root and the store's owner write records; a record that anyone else could have
     * written or changed proves nothing about a login. In a directory that others may write,
     * anyone can rename a record to another key (relay-ctrl's records do not name theirs)
     * or link one of root's files under a key, so no record there proves anything. */
    if ((dir->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        *why = "in a store that its group or others may write";
        return STORE_INVALID;
    }
    /* A record is made by a rename and never linked again: a second name is a link that
     * someone planted, to a file that was never a record (with fs.protected_hardlinks=0 the
     * store's account can link any of root's files, an empty one reads as relay-ctrl's). */
    if (st.st_nlink != 1) {
        *why = "a file with more than one link";
        return STORE_INVALID;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        *why = "writable by its group or others";
        return STORE_INVALID;
    }
    if (st.st_uid != 0 && st.st_uid != dir->st_uid) {
        (void)snprintf(whose, sizeof whose, "owned by uid %lu, not the store's owner",
                       (unsigned long)st.st_uid);
        *why = whose;
        return STORE_INVALID;
    }
    if (st.st_size > RECORD_MAX) {
        *why = "record too big";
        return STORE_INVALID;
    }
    /* All that fstat promised (at most RECORD_MAX): no need for a read to see the end. */
    ssize_t got = io_read(fd, buf, (size_t)st.st_size);
    if (got < 0)
        return STORE_ERROR;
    size_t n = (size_t)got;
    r->time = st.st_mtime;
    return store_parse(buf, n, r, why) == 0 ? STORE_FOUND : STORE_INVALID;
}

/* The caller has checked that key fits. */
static void set_key(struct record *r, const char *key)
{
    memset(r, 0, sizeof *r);
    memcpy(r->key, key, strnlen(key, sizeof r->key - 1));
}

enum store_result store_dir_lookup(const char *dir, const char *key, struct record *r,
                                   const char **why)
{
    char path[PATH_MAX];
    *why = "";
    int n = snprintf(path, sizeof path, "%s/%s", dir, key);
    if (n < 0 || (size_t)n >= sizeof path || strlen(key) >= sizeof r->key) {
        errno = ENAMETOOLONG;
        return STORE_ERROR;
    }
    set_key(r, key);
    /* O_NONBLOCK: a FIFO planted under a key must not hang the SMTP session.
     * O_NOFOLLOW: a record is a file in the store, never something it points to.
     * No O_CLOEXEC: the file is closed before any exec, and musl pays a fcntl for it. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        struct stat st;
        /* A missing store must not read as "no allowance": a mistyped RELAY_DIR would
         * refuse everyone in silence. Only misses pay for this stat. */
        if (errno == ENOENT)
            return stat(dir, &st) == 0 ? STORE_MISSING : STORE_ERROR;
        if (errno == ELOOP) {
            *why = "a symbolic link";
            return STORE_INVALID;
        }
        return STORE_ERROR;
    }
    /* The directory's owner, for check_record: one stat, only when there is a record. */
    struct stat dst;
    enum store_result res = STORE_ERROR;
    if (fstatat(AT_FDCWD, dir, &dst, 0) == 0)
        res = check_record(fd, r, &dst, why);
    int e = errno;
    close(fd);
    errno = e;
    return res;
}

static int is_temp(const char *name)
{
    return strncmp(name, TEMP_PREFIX, sizeof TEMP_PREFIX - 1) == 0;
}

/* A directory stream of its own over the store, so that the store's descriptor stays free
 * for the *at calls. Returns NULL with errno set. */
static DIR *open_names(struct store *s)
{
    int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return d;
}

/* Names are read without the lock and judged under it, a chunk at a time, so that a login
 * waits at most for one chunk of stats and unlinks, never for a whole sweep. */
static int dir_sweep(struct store *s, long expiry, int dry_run, struct sweep_stats *st,
                     void (*removed)(const char *name, long age, void *arg), void *arg)
{
    memset(st, 0, sizeof *st);
    DIR *d = open_names(s);
    if (d == NULL)
        return -1;
    static char names[SWEEP_CHUNK][NAME_MAX + 1];
    int failed = 0, saved = 0, done = 0;
    while (!done) {
        size_t count = 0;
        while (count < SWEEP_CHUNK) {
            errno = 0;
            struct dirent *de = readdir(d);
            if (de == NULL) {
                if (errno != 0) {
                    failed = 1;
                    saved = errno;
                }
                done = 1;
                break;
            }
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                strcmp(de->d_name, LOCK_NAME) == 0)
                continue;
            size_t len = strlen(de->d_name);
            memcpy(names[count++], de->d_name, len + 1); /* d_name is at most NAME_MAX */
        }
        if (count == 0)
            break;

        int locked = 0;
        if (!dry_run) {
            if (open_lock(s) != 0 ||
                lock_take(s->lockfd, LOCK_EX, STORE_SWEEP_LOCK_WAIT * 1000L) != 0) {
                failed = 1;
                saved = errno;
                break;
            }
            locked = 1;
        }
        time_t now = time(NULL);
        for (size_t i = 0; i < count; i++) {
            const char *name = names[i];
            struct stat sb;
            if (fstatat(s->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno != ENOENT && s->warn != NULL)
                    s->warn("unable to stat %s/%s: %s", s->dir, name, strerror(errno));
                continue;
            }
            long age = store_age(sb.st_mtime, now);
            int temp = is_temp(name);
            struct addr a;
            unsigned bits;
            if (!temp && addr_key_parse(&a, &bits, name) != 0) {
                if (s->warn != NULL)
                    s->warn("%s/%s is not an address key: left alone", s->dir, name);
                st->skipped++;
                continue;
            }
            if (!S_ISREG(sb.st_mode)) {
                if (s->warn != NULL)
                    s->warn("%s/%s is not a regular file: left alone", s->dir, name);
                st->skipped++;
                continue;
            }
            /* A record dated less than the expiry ahead is kept: after a clock is stepped
             * back it grants again once the clock has caught up (see relay-check), and the
             * sweep must not have destroyed it meanwhile. One further ahead could never
             * be fresh in its own window: forged or broken. Temp files the same way. */
            long keep = temp ? TEMP_MAX_AGE : expiry;
            long ahead = keep > STORE_FUTURE_SLACK ? keep : STORE_FUTURE_SLACK + 1;
            int stale = age > keep || age <= -ahead;
            if (!stale) {
                if (!temp)
                    st->kept++;
                continue;
            }
            if (!dry_run && unlinkat(s->dirfd, name, 0) != 0) {
                if (errno != ENOENT && s->warn != NULL)
                    s->warn("unable to remove %s/%s: %s", s->dir, name, strerror(errno));
                continue;
            }
            if (temp)
                st->temps++;
            else
                st->removed++;
            if (removed != NULL)
                removed(name, age, arg);
        }
        if (locked)
            flock(s->lockfd, LOCK_UN);
    }
    closedir(d);
    if (failed) {
        errno = saved;
        return -1;
    }
    return 0;
}

static int dir_list(struct store *s, long expiry,
                    void (*fn)(const struct record *r, void *arg), void *arg)
{
    struct stat dst;
    if (fstat(s->dirfd, &dst) != 0)
        return -1;
    /* No record in such a store is valid (check_record): one warning about the store, the
     * caller's, says it better than one per record. */
    if ((dst.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return 0;
    DIR *d = open_names(s);
    if (d == NULL)
        return -1;
    time_t now = time(NULL);
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        struct addr a;
        unsigned bits;
        if (addr_key_parse(&a, &bits, de->d_name) != 0) {
            errno = 0;
            continue;
        }
        struct record r;
        const char *why = "";
        set_key(&r, de->d_name);
        int rfd = openat(s->dirfd, de->d_name,
                         O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (rfd < 0) {
            if (s->warn == NULL || errno == ENOENT)
                ;
            else if (errno == ELOOP)
                s->warn("invalid record %s/%s: a symbolic link", s->dir, de->d_name);
            else
                s->warn("unable to read %s/%s: %s", s->dir, de->d_name, strerror(errno));
            errno = 0;
            continue;
        }
        enum store_result res = check_record(rfd, &r, &dst, &why);
        int e = errno;
        close(rfd);
        errno = e;
        if (res == STORE_INVALID && s->warn != NULL)
            s->warn("invalid record %s/%s: %s", s->dir, de->d_name, why);
        else if (res == STORE_ERROR && s->warn != NULL)
            s->warn("unable to read %s/%s: %s", s->dir, de->d_name, strerror(errno));
        else if (res == STORE_FOUND && store_fresh(r.time, now, expiry))
            fn(&r, arg);
        errno = 0;
    }
    int e = errno;
    closedir(d);
    errno = e;
    return e != 0 ? -1 : 0;
}

static int dir_open(struct store *s, const struct settings *cfg)
{
    return store_dir_open(s, cfg->dir, s->warn);
}

/* Revocation: not yet. */
static long dir_revoke_user(struct store *s, const char *user,
                            void (*fn)(const struct record *r, void *arg), void *arg)
{
    (void)s, (void)user, (void)fn, (void)arg;
    errno = ENOTSUP;
    return -1;
}

static long dir_revoke_key(struct store *s, const char *key,
                           void (*fn)(const struct record *r, void *arg), void *arg)
{
    (void)s, (void)key, (void)fn, (void)arg;
    errno = ENOTSUP;
    return -1;
}

const struct store_backend store_dir_backend = {
    dir_open, dir_close, dir_id, dir_record, dir_sweep, dir_list,
    dir_revoke_user, dir_revoke_key,
};
