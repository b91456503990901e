/* unit-files.h: the file-system scaffolding of the C unit tests that work in a scratch
 * directory: making it (mkdtemp under $TMPDIR) and removing it, names in it, files with given
 * content, mode and mtime, an alarm that turns a call that blocks into a failure, and stderr
 * captured to a temp file. One copy here, so that every test sets up its files the same way.
 *
 * A setup step that fails is not a check: it prints "# unable to ..." and exits 1. Include
 * after defining _XOPEN_SOURCE 700 (mkdtemp, nftw); the functions are static inline, so a
 * test that does not call one pays nothing for it (put needs io.c linked in). */
#ifndef RELAYLEASE_UNIT_FILES_H
#define RELAYLEASE_UNIT_FILES_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

static char top[4096];       /* the scratch directory */
static char alarm_msg[4400]; /* what on_alarm prints: made before any alarm is set */

static inline void fail_setup(const char *what, const char *path)
{
    printf("# unable to %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

/* parent/name into buf, or the test ends. */
static inline void path_of(char *buf, size_t size, const char *parent, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", parent, name);
    if (n < 0 || (size_t)n >= size) {
        errno = ENAMETOOLONG;
        fail_setup("name", parent);
    }
}

/* Make the scratch directory top, $TMPDIR/prog.XXXXXX. */
static inline void scratch_make(const char *prog)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(top, sizeof top, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", prog);

    if (n < 0 || (size_t)n >= sizeof top || mkdtemp(top) == NULL) {
        printf("# unable to create a scratch directory: %s\n", strerror(errno));
        exit(1);
    }
}

static inline int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* Remove top and all in it (links are removed, not followed); a failure is only noted. */
static inline void scratch_remove(void)
{
    if (nftw(top, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        printf("# unable to remove the scratch directory %s: %s\n", top, strerror(errno));
}

/* A call that blocks (a FIFO opened without O_NONBLOCK, a lock waited on) fails the test
 * instead of hanging it. Only write and _exit here; the scratch directory is left for a look. */
static inline void on_alarm(int sig)
{
    (void)sig;
    if (write(1, alarm_msg, strlen(alarm_msg)) < 0)
        _exit(2);
    _exit(1);
}

/* Arm on_alarm for the alarm(30) calls around what might block; after scratch_make. */
static inline void alarm_fails(void)
{
    snprintf(alarm_msg, sizeof alarm_msg,
             "not ok - no call blocked (one did, for 30 s)\n# scratch directory left: %s\n",
             top);
    signal(SIGALRM, on_alarm);
}

/* Write exactly n bytes (NULs included) to dir/name, a new file of mode, replacing what was
 * there (a link there is removed, not written through). */
static inline void put_mode(const char *dir, const char *name, const char *data, size_t n,
                            mode_t mode)
{
    char p[8192];
    int fd;

    path_of(p, sizeof p, dir, name);
    (void)unlink(p);
    fd = open(p, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0 || io_write(fd, data, n) != 0 || fchmod(fd, mode) != 0 || close(fd) != 0)
        fail_setup("write", p);
}

static inline void put(const char *dir, const char *name, const char *data, size_t n)
{
    put_mode(dir, name, data, n, 0644);
}

static inline void put_str(const char *dir, const char *name, const char *data)
{
    put(dir, name, data, strlen(data));
}

/* Set the mtime (and atime) of dir/name, without following a symbolic link. */
static inline void set_time(const char *dir, const char *name, time_t when)
{
    char p[8192];
    struct timespec ts[2];

    path_of(p, sizeof p, dir, name);
    ts[0].tv_sec = ts[1].tv_sec = when;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    if (utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) != 0)
        fail_setup("set the time of", p);
}

/* Send stderr to a temp file until capture_end, which puts stderr back and returns the file,
 * rewound to what was written meanwhile; the caller reads it and fcloses it. */
static inline FILE *capture_begin(int *saved)
{
    FILE *f = tmpfile();

    fflush(stderr);
    *saved = dup(2);
    if (f == NULL || *saved < 0 || dup2(fileno(f), 2) < 0)
        fail_setup("capture", "stderr");
    return f;
}

static inline FILE *capture_end(FILE *f, int saved)
{
    fflush(stderr);
    if (dup2(saved, 2) < 0)
        fail_setup("restore", "stderr");
    close(saved);
    rewind(f);
    return f;
}

#endif
