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
    s->cfg = NULL; /* the defaults (expiry), unless store_open gives settings */
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

static enum store_result check_record(int fd, struct record *r, const struct stat *dir,
                                      const char **why);
static void set_key(struct record *r, const char *key);

/* ---- The per-user cap: one index file per user bucket under .users ------------------------
 *
 * A user name may hold '/' and '.' and be 255 bytes long, so it cannot name a file: the index
 * of user U is .users/H, H the 16 hex digits of FNV-1a-64 of U. Two users whose names collide
 * share a file and its lock; the lines carry the full name, so neither counts the other's.
 * Each line is "KEY USER\n". The index is only a hint: a line counts only while the record at
 * KEY is valid, names USER and is fresh, so a line whose record was taken over, swept or never
 * written (a crash between the two writes) counts for nothing. The bucket's lock, held from
 * the count to the rename of the record, is what makes the count and the write one step.
 * Lock order: a bucket, then .lock; nothing takes a bucket while holding .lock. */
#define USERS_DIR ".users"
#define BUCKET_NAME_LEN 16
/* A bucket holds the live lines of its users and at most as many dead ones (compaction): at
 * the highest cap (SETTINGS_MAX_USER_MAX), 2,000 lines of at most 303 bytes. A bigger one is
 * not ours to trust: the cap is then off. */
#define BUCKET_MAX (1L << 20)
/* Read a bucket in pieces: relay-allow's memory is a login's. */
#define BUCKET_BUF 2048
/* The sweep, a compaction or a revocation replaced the bucket between our open and our lock:
 * again. Each try means another process finished its work on the bucket, so a few suffice
 * even when many logins of one user arrive at once. */
#define BUCKET_TRIES 16
/* A line: a key, a space, a user name, a newline. */
#define LINE_MAX_LEN (ADDR_KEY_MAX + 1 + STORE_USER_MAX + 1)
_Static_assert(2 * SETTINGS_MAX_USER_MAX * LINE_MAX_LEN <= BUCKET_MAX,
               "a bucket at the highest cap fits");

struct bucket {
    int udir;                          /* .users */
    int fd;                            /* the bucket file, locked LOCK_EX; -1: none */
    char name[BUCKET_NAME_LEN + 1];
};

static void bucket_name(const char *user, char out[BUCKET_NAME_LEN + 1])
{
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)user; *p != '\0'; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    for (int i = BUCKET_NAME_LEN - 1; i >= 0; i--, h >>= 4)
        out[i] = "0123456789abcdef"[h & 15];
    out[BUCKET_NAME_LEN] = '\0';
}

static int is_bucket_name(const char *name)
{
    return strlen(name) == BUCKET_NAME_LEN &&
           strspn(name, "0123456789abcdef") == BUCKET_NAME_LEN;
}

static void bucket_close(struct bucket *b)
{
    if (b->fd >= 0)
        close(b->fd); /* and with it the lock */
    if (b->udir >= 0)
        close(b->udir);
    b->fd = -1;
    b->udir = -1;
}

/* .users, made if missing (create). Only the store's owner may have written what is in it:
 * a directory of its own, with no group or other bits. */
static int users_open(struct store *s, int create, const char **why)
{
    struct stat dst, st;
    if (fstat(s->dirfd, &dst) != 0) {
        *why = strerror(errno);
        return -1;
    }
    if (create && mkdirat(s->dirfd, USERS_DIR, 0700) != 0 && errno != EEXIST) {
        *why = strerror(errno);
        return -1;
    }
    int fd = openat(s->dirfd, USERS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        *why = errno == ENOTDIR || errno == ELOOP ? "not a directory" : strerror(errno);
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        *why = strerror(errno);
        close(fd);
        return -1;
    }
    if (st.st_uid != dst.st_uid)
        *why = "not owned by the store's owner";
    else if ((st.st_mode & 077) != 0)
        *why = "open to its group or others";
    else
        return fd;
    close(fd);
    return -1;
}

/* The bucket of user, open and locked (LOCK_EX, waiting as a writer waits for .lock). Returns
 * 0, or -1 with *why (b closed). */
static int bucket_lock(struct store *s, const char *user, struct bucket *b, const char **why)
{
    struct stat dst;
    b->fd = -1;
    bucket_name(user, b->name);
    b->udir = users_open(s, 1, why);
    if (b->udir < 0)
        return -1;
    if (fstat(s->dirfd, &dst) != 0) {
        *why = strerror(errno);
        bucket_close(b);
        return -1;
    }
    for (int tries = 0; tries < BUCKET_TRIES; tries++) {
        int fd = openat(b->udir, b->name,
                        O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
        struct stat a;
        if (fd < 0) {
            *why = errno == ELOOP ? "a symbolic link" : strerror(errno);
            bucket_close(b);
            return -1;
        }
        b->fd = fd;
        if (fstat(fd, &a) != 0) {
            *why = strerror(errno);
            bucket_close(b);
            return -1;
        }
        if (a.st_nlink == 0) {
            /* Removed or replaced since our open (a compaction, the sweep): again. */
            close(fd);
            b->fd = -1;
            continue;
        }
        if (!S_ISREG(a.st_mode))
            *why = "not a regular file";
        else if (a.st_uid != dst.st_uid)
            *why = "not owned by the store's owner";
        else if ((a.st_mode & 077) != 0)
            *why = "open to its group or others";
        else if (a.st_nlink != 1)
            *why = "a file with more than one link";
        else if (a.st_size > BUCKET_MAX)
            *why = "too big";
        else
            *why = NULL;
        if (*why != NULL) {
            bucket_close(b);
            return -1;
        }
        if (lock_take(fd, LOCK_EX, LOCK_WAIT_MS) != 0) {
            *why = strerror(errno);
            bucket_close(b);
            return -1;
        }
        /* Still the file under the name: the sweep removes, and a compaction replaces, a
         * bucket while holding its lock, which we may have been waiting for. */
        if (lock_still_named(b->udir, b->name, &a) == 1) {
            if (fstat(fd, &a) == 0 && a.st_size <= BUCKET_MAX)
                return 0;
            *why = "too big";
            bucket_close(b);
            return -1;
        }
        close(fd);
        b->fd = -1;
    }
    *why = strerror(EAGAIN); /* replaced at each try */
    bucket_close(b);
    return -1;
}

/* Reading a bucket a line at a time, BUCKET_BUF bytes at a time. */
struct lines {
    int fd;
    off_t off;          /* of the file, where the next read starts */
    size_t have, pos;   /* buf[pos..have) is read and not yet returned */
    int skipping;       /* inside a line too long to be one of ours */
    int partial;        /* the file ends without a newline (a writer died mid-line) */
    char buf[BUCKET_BUF];
};

static void lines_start(struct lines *l, int fd)
{
    l->fd = fd;
    l->off = 0;
    l->have = l->pos = 0;
    l->skipping = l->partial = 0;
}

/* The next line, without its newline, or "" for one that is too long; NULL at the end, or
 * on a read error (*err set). */
static char *lines_next(struct lines *l, int *err)
{
    *err = 0;
    for (;;) {
        char *start = l->buf + l->pos;
        char *nl = memchr(start, '\n', l->have - l->pos);
        if (nl != NULL) {
            *nl = '\0';
            l->pos = (size_t)(nl - l->buf) + 1;
            if (l->skipping) {
                l->skipping = 0;
                return l->buf + l->pos - 1; /* the empty string: a dead line */
            }
            return start;
        }
        /* No newline in what is left: keep it, read more. */
        size_t left = l->have - l->pos;
        if (left >= LINE_MAX_LEN) {
            l->skipping = 1;
            left = 0;
        }
        memmove(l->buf, start, left);
        l->have = left;
        l->pos = 0;
        ssize_t got = pread(l->fd, l->buf + l->have, sizeof l->buf - 1 - l->have, l->off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            *err = errno;
            return NULL;
        }
        if (got == 0) {
            l->partial = l->have > 0 || l->skipping;
            return NULL;
        }
        l->off += got;
        l->have += (size_t)got;
    }
}

/* Split a line "KEY USER" in place. Returns 0, or -1 if it is not one of ours. */
static int line_split(char *line, char **key, char **user)
{
    char *sp = strchr(line, ' ');
    struct addr a;
    unsigned bits;
    if (sp == NULL || (size_t)(sp - line) >= ADDR_KEY_MAX)
        return -1;
    *sp = '\0';
    *key = line;
    *user = sp + 1;
    if (addr_key_parse(&a, &bits, *key) != 0 || !store_user_ok(*user))
        return -1;
    return 0;
}

static long store_expiry(const struct store *s)
{
    return s->cfg != NULL ? s->cfg->expiry : SETTINGS_DEFAULT_EXPIRY;
}

/* Is the record at key valid, user's and fresh at now? */
static int live_for(struct store *s, const struct stat *dst, const char *key, const char *user,
                    time_t now)
{
    struct record r;
    const char *why;
    int fd = openat(s->dirfd, key, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    set_key(&r, key);
    int ok = check_record(fd, &r, dst, &why) == STORE_FOUND && strcmp(r.user, user) == 0 &&
             store_fresh(r.time, now, store_expiry(s));
    close(fd);
    return ok;
}

/* What a bucket says about user and key. */
struct bucket_count {
    long held;      /* distinct live keys of user's other than key */
    long lines;     /* lines in the file */
    long dead;      /* lines that count for nothing */
    int listed;     /* the line "key user" is there */
    int partial;    /* the last line has no newline */
};

/* Keys already counted, to count each once however often it is listed (it is not, but the
 * file is only a hint): the first few suffice, a cap's worth of lines is short. */
#define COUNTED_MAX 32

static int bucket_count(struct store *s, const struct bucket *b, const char *user,
                        const char *key, struct bucket_count *c)
{
    struct lines l;
    struct stat dst;
    char counted[COUNTED_MAX][ADDR_KEY_MAX];
    int ncounted = 0, err;
    time_t now = time(NULL);
    memset(c, 0, sizeof *c);
    if (fstat(s->dirfd, &dst) != 0)
        return -1;
    lines_start(&l, b->fd);
    char *line;
    while ((line = lines_next(&l, &err)) != NULL) {
        char *k, *u;
        c->lines++;
        if (line_split(line, &k, &u) != 0) {
            c->dead++;
            continue;
        }
        int same = strcmp(u, user) == 0, here = strcmp(k, key) == 0;
        if (same && here) {
            c->listed = 1; /* renewed or not, it is about to be live */
            continue;
        }
        if (!live_for(s, &dst, k, u, now)) {
            c->dead++;
            continue;
        }
        if (!same || here)
            continue;
        int seen = 0;
        for (int i = 0; i < ncounted && !seen; i++)
            seen = strcmp(counted[i], k) == 0;
        if (seen)
            continue;
        if (ncounted < COUNTED_MAX)
            memcpy(counted[ncounted++], k, strlen(k) + 1);
        c->held++;
    }
    if (err != 0) {
        errno = err;
        return -1;
    }
    c->partial = l.partial;
    if (l.partial)
        c->lines++, c->dead++;
    return 0;
}

/* Rewrite the bucket with only the lines keep() wants (a temp file in .users, renamed over
 * it), while its lock is held; the new file is locked before it gets the name, so that no
 * one can take it meanwhile. An empty result removes the bucket. Returns 0, or -1 (the old
 * file stays: it is only a hint). *kept counts the lines kept. */
/* Is the line "key user" in the file fd already? (A rewrite writes each line once.) */
static int has_line(int fd, const char *key, const char *user)
{
    struct lines l;
    char *line;
    int err;
    lines_start(&l, fd);
    while ((line = lines_next(&l, &err)) != NULL) {
        char *k, *u;
        if (line_split(line, &k, &u) == 0 && strcmp(k, key) == 0 && strcmp(u, user) == 0)
            return 1;
    }
    return 0;
}

static int bucket_rewrite(struct store *s, struct bucket *b,
                          int (*keep)(struct store *s, const struct stat *dst, const char *key,
                                      const char *user, time_t now, const void *arg),
                          const void *arg)
{
    char tmp[sizeof TEMP_PREFIX + 24 + BUCKET_NAME_LEN];
    struct stat dst;
    struct lines l;
    int err, kept = 0;
    time_t now = time(NULL);
    if (fstat(s->dirfd, &dst) != 0)
        return -1;
    (void)snprintf(tmp, sizeof tmp, TEMP_PREFIX "%ld.%s", (long)getpid(), b->name);
    /* Read back as it is written (has_line); and after the rename the descriptor stays open
     * and locked, as the bucket's own, where replace_close would close it. */
    int fd = replace_open_own(b->udir, tmp, 1);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        goto fail;
    lines_start(&l, b->fd);
    char *line;
    while ((line = lines_next(&l, &err)) != NULL) {
        char *k, *u;
        if (line_split(line, &k, &u) != 0 || !keep(s, &dst, k, u, now, arg) ||
            has_line(fd, k, u))
            continue;
        char out[LINE_MAX_LEN + 1];
        int n = snprintf(out, sizeof out, "%s %s\n", k, u);
        if (io_write(fd, out, (size_t)n) != 0)
            goto fail;
        kept++;
    }
    if (err != 0)
        goto fail;
    if (kept == 0) {
        replace_abandon(fd, b->udir, tmp);
        return unlinkat(b->udir, b->name, 0) == 0 || errno == ENOENT ? 0 : -1;
    }
    if (fchmod(fd, 0600) != 0 || renameat(b->udir, tmp, b->udir, b->name) != 0)
        goto fail;
    /* The new file, locked: ours from now on (the old one's lock goes with its close). */
    close(b->fd);
    b->fd = fd;
    return 0;
fail:
    replace_abandon(fd, b->udir, tmp);
    return -1;
}

static int keep_live(struct store *s, const struct stat *dst, const char *key, const char *user,
                     time_t now, const void *arg)
{
    (void)arg;
    return live_for(s, dst, key, user, now);
}

/* The record, as it has always been written: a temp file renamed over the key under .lock
 * (shared). */
static int record_file(struct store *s, const char *key, const char *user, time_t t);

static int dir_record(struct store *s, const char *key, const char *user, time_t t, long max,
                      long *held)
{
    struct addr a;
    unsigned bits;
    if (addr_key_parse(&a, &bits, key) != 0 || (user[0] != '\0' && !store_user_ok(user))) {
        errno = EINVAL;
        return -1;
    }
    /* No name: nobody to count it against. No cap (0, and imports): nothing to count, so
     * nothing to index either, and a user with thousands of addresses costs no more than
     * before the cap. Revocation does not need the index: it scans. */
    if (user[0] == '\0' || max == 0)
        return record_file(s, key, user, t);

    struct bucket b;
    struct bucket_count c;
    const char *why;
    /* Without the cap the record is made as ever. The cap's trouble is said only if the
     * record is made: otherwise the caller's one line about the failed record says it all
     * (a store that cannot be written cannot hold .users either). */
    int r;
    if (bucket_lock(s, user, &b, &why) != 0) {
        r = record_file(s, key, user, t);
        if (r == 0 && s->warn != NULL)
            s->warn("unable to lock %s/" USERS_DIR "/%s (%s): recording without the cap", s->dir,
                    b.name, why);
        return r;
    }
    if (bucket_count(s, &b, user, key, &c) != 0) {
        const char *e = strerror(errno);
        bucket_close(&b);
        r = record_file(s, key, user, t);
        if (r == 0 && s->warn != NULL)
            s->warn("unable to read %s/" USERS_DIR "/%s (%s): recording without the cap",
                    s->dir, b.name, e);
        return r;
    }
    /* A renewal, or a key taken over from another user, or a user under the cap. The
     * record at key being this user's already is a renewal whatever the index says (a
     * record made before the index was). */
    if (max > 0 && c.held >= max) {
        struct stat dst;
        int mine = fstat(s->dirfd, &dst) == 0 && live_for(s, &dst, key, user, time(NULL));
        if (!mine) {
            *held = c.held;
            bucket_close(&b);
            return 1;
        }
    }
    /* The line first, the record second: a record never exists without its line, so a
     * count can miss nothing that this code wrote. A crash between leaves a line with no
     * record, which counts for nothing. */
    int indexed;
    const char *iwhy = NULL;
    if (!c.listed) {
        char out[LINE_MAX_LEN + 2];
        int n = snprintf(out, sizeof out, "%s%s %s\n", c.partial ? "\n" : "", key, user);
        off_t end = lseek(b.fd, 0, SEEK_END);
        ssize_t w = end >= 0 ? pwrite(b.fd, out, (size_t)n, end) : -1;
        indexed = w == n;
        if (!indexed) {
            iwhy = w >= 0 ? "a short write" : strerror(errno);
            /* No half line left behind. Should that fail too, the next writer ends the half
             * line first, and every count reads it as dead. */
            if (end >= 0 && ftruncate(b.fd, end) != 0)
                iwhy = "a half line left in it";
        }
    } else {
        /* The bucket's mtime is the last login of anyone in it: the sweep's clock. */
        indexed = futimens(b.fd, NULL) == 0;
        if (!indexed)
            iwhy = strerror(errno);
    }
    r = record_file(s, key, user, t);
    int e = errno;
    if (r == 0 && !indexed && s->warn != NULL)
        s->warn("unable to write %s/" USERS_DIR "/%s (%s): recording without the cap", s->dir,
                b.name, iwhy);
    /* Dead lines are most of it: keep the file, and every count, short. */
    if (r == 0 && indexed && c.dead * 2 > c.lines + (c.listed ? 0 : 1))
        (void)bucket_rewrite(s, &b, keep_live, NULL);
    bucket_close(&b);
    errno = e;
    return r;
}

static int record_file(struct store *s, const char *key, const char *user, time_t t)
{
    char line[RECORD_MAX];
    int len = snprintf(line, sizeof line, MAGIC "%s %s\n", key, user);
    char tmp[sizeof TEMP_PREFIX + 24 + ADDR_KEY_MAX];
    (void)snprintf(tmp, sizeof tmp, TEMP_PREFIX "%ld.%s", (long)getpid(), key); /* fits */

    int fd = replace_open_own(s->dirfd, tmp, 0); /* the temp name carries our pid */
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

static void sweep_users(struct store *s, long expiry, int dry_run);

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
                strcmp(de->d_name, LOCK_NAME) == 0 || strcmp(de->d_name, USERS_DIR) == 0)
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
    sweep_users(s, expiry, dry_run);
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

/* ---- The sweep of .users ------------------------------------------------------------------
 * A bucket not written since expiry (and the slack) ago lists only logins made before then:
 * none of them is live, so the whole file goes, under its lock (a login that has it open
 * finds it gone and makes a new one). One busy with a login is fresh: passed over. */
static void sweep_users(struct store *s, long expiry, int dry_run)
{
    const char *why;
    struct stat us;
    if (fstatat(s->dirfd, USERS_DIR, &us, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
        return; /* no login with a user name since the store was made */
    int udir = users_open(s, 0, &why);
    if (udir < 0) {
        if (s->warn != NULL)
            s->warn("%s/" USERS_DIR " is unusable (%s): left alone", s->dir, why);
        return;
    }
    int fd = dup(udir);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        if (s->warn != NULL)
            s->warn("unable to read %s/" USERS_DIR ": %s", s->dir, strerror(errno));
        close(udir);
        return;
    }
    /* Names under .users are read and acted on one at a time: each removal is judged under
     * its own lock, and a login that adds a name meanwhile is none of this pass's. */
    rewinddir(d);
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        struct stat sb;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (fstatat(udir, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT && s->warn != NULL)
                s->warn("unable to stat %s/" USERS_DIR "/%s: %s", s->dir, name, strerror(errno));
            continue;
        }
        long age = store_age(sb.st_mtime, time(NULL));
        if (is_temp(name) && S_ISREG(sb.st_mode)) {
            if (!dry_run && (age > TEMP_MAX_AGE || age <= -(TEMP_MAX_AGE)) &&
                unlinkat(udir, name, 0) != 0 && errno != ENOENT && s->warn != NULL)
                s->warn("unable to remove %s/" USERS_DIR "/%s: %s", s->dir, name,
                        strerror(errno));
            continue;
        }
        if (!is_bucket_name(name) || !S_ISREG(sb.st_mode)) {
            if (s->warn != NULL)
                s->warn("%s/" USERS_DIR "/%s is not a user index: left alone", s->dir, name);
            continue;
        }
        long keep = expiry + STORE_FUTURE_SLACK;
        if (dry_run || (age <= keep && age > -keep))
            continue;
        int bfd = openat(udir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (bfd < 0)
            continue;
        struct stat a;
        if (flock(bfd, LOCK_EX | LOCK_NB) == 0 && fstat(bfd, &a) == 0 &&
            lock_still_named(udir, name, &a) == 1) {
            age = store_age(a.st_mtime, time(NULL));
            if ((age > keep || age <= -keep) && unlinkat(udir, name, 0) != 0 &&
                errno != ENOENT && s->warn != NULL)
                s->warn("unable to remove %s/" USERS_DIR "/%s: %s", s->dir, name,
                        strerror(errno));
        }
        close(bfd);
        errno = 0;
    }
    if (errno != 0 && s->warn != NULL)
        s->warn("unable to read %s/" USERS_DIR ": %s", s->dir, strerror(errno));
    closedir(d);
    close(udir);
}

/* ---- Revocation ----------------------------------------------------------------------------
 * A record is removed under .lock held exclusively, after checking that the name still
 * leads to the very file judged: a login renames its record under .lock shared, so it is
 * either before the removal (and removed with it, whole) or after it (and survives, whole). */

/* Take .lock exclusively, as the sweep does. */
static int lock_exclusive(struct store *s)
{
    if (open_lock(s) != 0)
        return -1;
    return lock_take(s->lockfd, LOCK_EX, STORE_SWEEP_LOCK_WAIT * 1000L);
}

/* Open and validate the record at key: STORE_FOUND with r, its device and inode; an invalid
 * one is reported (s->warn) and left alone. */
static enum store_result judge(struct store *s, const struct stat *dst, const char *key,
                               struct record *r, struct stat *st)
{
    const char *why = "";
    set_key(r, key);
    int fd = openat(s->dirfd, key, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return STORE_MISSING;
        if (errno == ELOOP) {
            if (s->warn != NULL)
                s->warn("invalid record %s/%s: a symbolic link: left alone", s->dir, key);
            return STORE_INVALID;
        }
        return STORE_ERROR;
    }
    enum store_result res = check_record(fd, r, dst, &why);
    if (res == STORE_FOUND && fstat(fd, st) != 0)
        res = STORE_ERROR;
    int e = errno;
    close(fd);
    if (res == STORE_INVALID && s->warn != NULL)
        s->warn("invalid record %s/%s: %s: left alone", s->dir, key, why);
    errno = e;
    return res;
}

/* Under .lock (exclusive): remove the record at key if it is still the file st names. */
static int remove_same(struct store *s, const char *key, const struct stat *st)
{
    int named = lock_still_named(s->dirfd, key, st);
    if (named != 1)
        return named == 0 ? 1 : -1; /* gone or replaced meanwhile: 1 */
    return unlinkat(s->dirfd, key, 0) == 0 ? 0 : -1;
}

struct line_match {
    const char *key;   /* NULL: any key */
    const char *user;
};

static int keep_unmatched(struct store *s, const struct stat *dst, const char *key,
                          const char *user, time_t now, const void *arg)
{
    const struct line_match *m = arg;
    if (strcmp(user, m->user) == 0 && (m->key == NULL || strcmp(key, m->key) == 0))
        return 0;
    return live_for(s, dst, key, user, now);
}

static long dir_revoke_key(struct store *s, const char *key,
                           void (*fn)(const struct record *r, void *arg), void *arg)
{
    struct addr a;
    unsigned bits;
    struct stat dst;
    if (addr_key_parse(&a, &bits, key) != 0) {
        errno = EINVAL;
        return -1;
    }
    if (fstat(s->dirfd, &dst) != 0)
        return -1;
    for (int tries = 0; tries < BUCKET_TRIES; tries++) {
        struct record r;
        struct stat st;
        struct bucket b = {.udir = -1, .fd = -1};
        const char *why;
        switch (judge(s, &dst, key, &r, &st)) {
        case STORE_FOUND:
            break;
        case STORE_MISSING:
        case STORE_INVALID:
            return 0;
        case STORE_ERROR:
            return -1;
        }
        /* The user's lock keeps their logins and their index out of the way; without it
         * (the index unusable) the removal is as whole, only the line stays behind. */
        if (r.user[0] != '\0' && bucket_lock(s, r.user, &b, &why) != 0 && s->warn != NULL)
            s->warn("unable to lock %s/" USERS_DIR "/%s (%s): its line stays", s->dir, b.name,
                    why);
        if (lock_exclusive(s) != 0) {
            int e = errno;
            bucket_close(&b);
            errno = e;
            return -1;
        }
        int gone = remove_same(s, key, &st);
        int e = errno;
        flock(s->lockfd, LOCK_UN);
        if (gone == 0 && b.fd >= 0) {
            struct line_match m = {key, r.user};
            (void)bucket_rewrite(s, &b, keep_unmatched, &m);
        }
        bucket_close(&b);
        if (gone < 0) {
            errno = e;
            return -1;
        }
        if (gone == 0) {
            if (fn != NULL)
                fn(&r, arg);
            return 1;
        }
        /* A login replaced it between our look and our lock: judge the new one. */
    }
    return 0;
}

/* A list of keys, grown as needed. A key may be listed twice (found by the scan and named by
 * the index): it is judged twice, and the second time finds it gone, which costs one open
 * where looking for it in the list would cost a pass over the list per key. */
struct keys {
    char (*k)[ADDR_KEY_MAX];
    size_t n, cap;
};

static int keys_add(struct keys *ks, const char *key)
{
    if (ks->n == ks->cap) {
        size_t cap = ks->cap == 0 ? 64 : ks->cap * 2;
        void *p = realloc(ks->k, cap * sizeof *ks->k);
        if (p == NULL)
            return -1;
        ks->k = p;
        ks->cap = cap;
    }
    memcpy(ks->k[ks->n++], key, strlen(key) + 1);
    return 0;
}

/* Every key whose valid record names user, read without any lock: records that no index
 * lists (old binaries, a login that went on without the cap, imports) are found here. */
static int scan_user(struct store *s, const struct stat *dst, const char *user, struct keys *ks)
{
    DIR *d = open_names(s);
    if (d == NULL)
        return -1;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        struct addr a;
        unsigned bits;
        struct record r;
        const char *why;
        if (addr_key_parse(&a, &bits, de->d_name) != 0) {
            errno = 0;
            continue;
        }
        set_key(&r, de->d_name);
        int fd = openat(s->dirfd, de->d_name,
                        O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0) {
            int found = check_record(fd, &r, dst, &why) == STORE_FOUND;
            close(fd);
            if (found && strcmp(r.user, user) == 0 && keys_add(ks, de->d_name) != 0)
                break;
        }
        errno = 0;
    }
    int e = errno;
    closedir(d);
    errno = e;
    return e != 0 ? -1 : 0;
}

static long dir_revoke_user(struct store *s, const char *user,
                            void (*fn)(const struct record *r, void *arg), void *arg)
{
    struct stat dst;
    struct keys ks = {NULL, 0, 0};
    struct bucket b = {.udir = -1, .fd = -1};
    const char *why;
    long removed = 0;
    int failed = 0, saved = 0;
    if (!store_user_ok(user)) {
        errno = EINVAL;
        return -1;
    }
    if (fstat(s->dirfd, &dst) != 0 || scan_user(s, &dst, user, &ks) != 0) {
        free(ks.k);
        return -1;
    }
    /* From here the user's logins wait: each one that finished before this point has its
     * line in the index (the line comes first) or was found by the scan, and is removed;
     * each one after it survives whole. */
    if (bucket_lock(s, user, &b, &why) != 0) {
        if (s->warn != NULL)
            s->warn("unable to lock %s/" USERS_DIR "/%s (%s): removing what the scan found",
                    s->dir, b.name, why);
    } else {
        struct lines l;
        int err;
        char *line;
        lines_start(&l, b.fd);
        while ((line = lines_next(&l, &err)) != NULL) {
            char *k, *u;
            if (line_split(line, &k, &u) == 0 && strcmp(u, user) == 0 && keys_add(&ks, k) != 0) {
                err = errno;
                break;
            }
        }
        if (err != 0) {
            failed = 1;
            saved = err;
        }
    }
    struct record *gone = failed ? NULL : malloc(SWEEP_CHUNK * sizeof *gone);
    if (gone == NULL && !failed) {
        failed = 1;
        saved = errno;
    }
    /* In chunks under .lock, as the sweep works: logins of other users wait for one chunk. */
    for (size_t i = 0; !failed && i < ks.n; i += SWEEP_CHUNK) {
        size_t end = ks.n - i > SWEEP_CHUNK ? i + SWEEP_CHUNK : ks.n, ngone = 0;
        if (lock_exclusive(s) != 0) {
            failed = 1;
            saved = errno;
            break;
        }
        for (size_t j = i; j < end; j++) {
            struct stat st;
            struct record *r = &gone[ngone];
            if (judge(s, &dst, ks.k[j], r, &st) != STORE_FOUND || strcmp(r->user, user) != 0)
                continue;
            int rm = remove_same(s, ks.k[j], &st);
            if (rm == 0)
                ngone++;
            else if (rm < 0 && errno != ENOENT) {
                failed = 1;
                saved = errno;
                break;
            }
        }
        flock(s->lockfd, LOCK_UN);
        /* Told outside the lock: fn may write to a pipe that is slow to drain. */
        for (size_t j = 0; j < ngone; j++)
            if (fn != NULL)
                fn(&gone[j], arg);
        removed += (long)ngone;
    }
    if (!failed && b.fd >= 0) {
        struct line_match m = {NULL, user};
        (void)bucket_rewrite(s, &b, keep_unmatched, &m);
    }
    bucket_close(&b);
    free(gone);
    free(ks.k);
    if (failed) {
        errno = saved;
        return -1;
    }
    return removed;
}

static int dir_open(struct store *s, const struct settings *cfg)
{
    int r = store_dir_open(s, cfg->dir, s->warn);
    s->cfg = cfg;
    return r;
}

const struct store_backend store_dir_backend = {
    dir_open, dir_close, dir_id, dir_record, dir_sweep, dir_list,
    dir_revoke_user, dir_revoke_key,
};
