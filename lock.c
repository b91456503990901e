/* lock.c: flock with a deadline.
 *
 * A blocking flock cannot be given a timeout, but a signal ends it with EINTR. An interval
 * timer does that every LOCK_TICK_MS while we wait, and the loop asks the monotonic clock
 * whether the deadline has come: a single alarm could fire before flock starts to wait and
 * leave it waiting for ever, a repeating one cannot. The handler and the timer are ours only
 * for the wait, and what was there before is put back. */
#define _GNU_SOURCE /* flock on glibc and musl alike */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include "clock.h"
#include "lock.h"

#define LOCK_TICK_MS 50

static void tick(int sig)
{
    (void)sig; /* only there to end the flock with EINTR */
}

int lock_take(int fd, int how, long ms)
{
    if (flock(fd, how | LOCK_NB) == 0)
        return 0;
    if (errno != EWOULDBLOCK && errno != EINTR)
        return -1;
    long long end = clock_deadline(ms);

    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tick; /* no SA_RESTART: the flock must return */
    sigemptyset(&sa.sa_mask);
    sigset_t alrm, old_mask;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    struct itimerval it = {{0, LOCK_TICK_MS * 1000L}, {0, LOCK_TICK_MS * 1000L}}, old_it;
    if (sigaction(SIGALRM, &sa, &old_sa) != 0)
        return -1;
    if (sigprocmask(SIG_UNBLOCK, &alrm, &old_mask) != 0 ||
        setitimer(ITIMER_REAL, &it, &old_it) != 0) {
        int e = errno;
        (void)sigaction(SIGALRM, &old_sa, NULL);
        errno = e;
        return -1;
    }

    int r, e;
    for (;;) {
        r = flock(fd, how);
        e = errno;
        if (r == 0 || e != EINTR)
            break;
        if (clock_left(end) == 0) {
            e = ETIMEDOUT;
            break;
        }
    }

    (void)setitimer(ITIMER_REAL, &old_it, NULL);
    (void)sigprocmask(SIG_SETMASK, &old_mask, NULL);
    (void)sigaction(SIGALRM, &old_sa, NULL);
    errno = e;
    return r;
}

int lock_still_named(int dirfd, const char *name, const struct stat *st)
{
    struct stat now;
    if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    return now.st_dev == st->st_dev && now.st_ino == st->st_ino;
}
