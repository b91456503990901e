/* writer.c: relay-cdb's output files (see writer.h). */
#define _GNU_SOURCE /* flock, O_NOFOLLOW */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cdb/writer.h"
#include "clock.h"
#include "lock.h"
#include "replace.h"

/* Does the name tmp still lead to the file open at fd? */
static int same_file(int fd, const char *tmp)
{
    struct stat held;
    return fstat(fd, &held) == 0 && lock_still_named(AT_FDCWD, tmp, &held) == 1;
}

/* The temp file name is there already. If a live build holds it (its lock, taken on the
 * file the name leads to), 1: wait. If not, it is left from a build that died (or planted):
 * remove it, never write into it, and 0. -1 with errno if it can be neither checked nor
 * removed. Only a builder (our account: the file is 0600) can open it for its lock; a file we
 * may not open is no builder's. */
static int remove_stale(const char *tmp, void (*stale)(const char *tmp, void *arg), void *arg)
{
    int fd = open(tmp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno != EACCES && errno != ELOOP && errno != EPERM && errno != ENXIO)
            return -1;
    } else {
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK || e == EINTR)
                return 1;
            errno = e;
            return -1;
        }
        /* Locked: but the name may lead elsewhere by now (removed and made anew by another
         * build, which holds that one). Then look again. */
        if (!same_file(fd, tmp)) {
            close(fd);
            return 0;
        }
    }
    int r = unlink(tmp) == 0 || errno == ENOENT ? 0 : -1;
    int e = errno;
    if (fd >= 0)
        close(fd); /* after the unlink: who waits on this lock finds the name gone */
    errno = e;
    if (r == 0 && stale != NULL)
        stale(tmp, arg);
    return r;
}

int writer_open(const char *tmp, void (*stale)(const char *tmp, void *arg), void *arg)
{
    struct timespec nap = {0, 10000000L};
    long long end = -1; /* set at the first wait for a live build's temp file */
    for (int tries = 0; tries < 1000; tries++) {
        int fd = replace_open(AT_FDCWD, tmp);
        if (fd >= 0) {
            if (flock(fd, LOCK_EX | LOCK_NB) == 0 && same_file(fd, tmp))
                return fd;
            close(fd);
            continue;
        }
        if (errno != EEXIST)
            return -1;
        int r = remove_stale(tmp, stale, arg);
        if (r < 0)
            return -1;
        if (r > 0) {
            /* On the clock, not by counting naps: a starved machine makes each nap longer. */
            if (end < 0) {
                end = clock_deadline(WRITER_WAIT_MS);
            } else if (clock_left(end) == 0) {
                errno = EBUSY;
                return -1;
            }
            nanosleep(&nap, NULL);
        }
    }
    errno = EAGAIN;
    return -1;
}

int writer_cdb_start(struct writer_cdb *w, int fd)
{
    w->fd = fd;
    return cdb_make_start(&w->cm, fd);
}

int writer_cdb_put(const char *k, size_t klen, const char *v, size_t vlen, void *arg)
{
    struct writer_cdb *w = arg;
    return cdb_make_add(&w->cm, k, (unsigned)klen, v, (unsigned)vlen);
}

int writer_cdb_close(struct writer_cdb *w, const char *tmp)
{
    int fd = w->fd;
    w->fd = -1;
    if (cdb_make_finish(&w->cm) != 0) {
        replace_abandon(fd, AT_FDCWD, tmp);
        return -1;
    }
    return replace_close(fd, AT_FDCWD, tmp, 1, 0644);
}
