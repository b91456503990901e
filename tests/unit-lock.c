/* unit-lock.c: lock_take, flock with a deadline. A child process holds the lock; the wait
 * must end at the deadline with ETIMEDOUT, take the lock as soon as the child lets go, and
 * leave SIGALRM, the timer and the signal mask as it found them. No check is on how long
 * anything took: the child lets go when told to, through a pipe. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include "lock.h"
#include "unit.h"

static int lockfd(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(path);
        exit(111);
    }
    return fd;
}

/* A child that takes the lock on path (how), says so on the pipe, and lets go when the
 * other pipe is closed. Returns its pid; *release is the end to close. */
static pid_t holder(const char *path, int how, int *release)
{
    int held[2], go[2];
    if (pipe(held) != 0 || pipe(go) != 0)
        exit(111);
    pid_t pid = fork();
    if (pid < 0)
        exit(111);
    if (pid == 0) {
        close(held[0]);
        close(go[1]);
        int fd = lockfd(path);
        if (flock(fd, how) != 0)
            _exit(1);
        if (write(held[1], "h", 1) != 1)
            _exit(1);
        char c;
        if (read(go[0], &c, 1) < 0) /* until the parent closes its end: 0, end of file */
            _exit(1);
        _exit(0);
    }
    close(held[1]);
    close(go[0]);
    char c;
    if (read(held[0], &c, 1) != 1)
        exit(111);
    close(held[0]);
    *release = go[1];
    return pid;
}

static void ignore(int sig)
{
    (void)sig;
}

int main(void)
{
    char path[] = "/tmp/unit-lock.XXXXXX";
    int tmp = mkstemp(path);
    if (tmp < 0)
        return 111;
    close(tmp);
    int fd = lockfd(path);

    CHECK(lock_take(fd, LOCK_EX, 100) == 0, "a free lock is taken at once");
    flock(fd, LOCK_UN);

    /* Something of our own on SIGALRM, which lock_take must put back. */
    struct sigaction mine, now;
    memset(&mine, 0, sizeof mine);
    mine.sa_handler = ignore;
    sigemptyset(&mine.sa_mask);
    sigaction(SIGALRM, &mine, NULL);

    int release;
    pid_t pid = holder(path, LOCK_EX, &release);
    errno = 0;
    CHECK(lock_take(fd, LOCK_EX, 300) == -1 && errno == ETIMEDOUT,
          "a lock held throughout: -1, ETIMEDOUT at the deadline");
    CHECK(lock_take(fd, LOCK_SH, 300) == -1 && errno == ETIMEDOUT,
          "a shared wait on an exclusive holder: ETIMEDOUT too");
    struct itimerval it;
    CHECK(getitimer(ITIMER_REAL, &it) == 0 && it.it_value.tv_sec == 0 &&
              it.it_value.tv_usec == 0 && it.it_interval.tv_usec == 0,
          "the timer is off again");
    CHECK(sigaction(SIGALRM, NULL, &now) == 0 && now.sa_handler == ignore,
          "SIGALRM's handler is the caller's again");

    /* Let go while we wait: the wait ends with the lock. The child is told to go right
     * before the wait starts, so it lets go during the wait or just before it. */
    close(release);
    CHECK(lock_take(fd, LOCK_EX, 60000) == 0, "the lock is taken once the holder lets go");
    flock(fd, LOCK_UN);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the holder ends");

    /* Shared locks go together. */
    pid = holder(path, LOCK_SH, &release);
    CHECK(lock_take(fd, LOCK_SH, 300) == 0, "a shared lock beside another shared one");
    flock(fd, LOCK_UN);
    close(release);
    waitpid(pid, &status, 0);

    /* With SIGALRM blocked by the caller, the wait still ends at the deadline, and the mask
     * is the caller's again after it. */
    sigset_t alrm, mask;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    sigprocmask(SIG_BLOCK, &alrm, NULL);
    pid = holder(path, LOCK_EX, &release);
    CHECK(lock_take(fd, LOCK_EX, 300) == -1 && errno == ETIMEDOUT,
          "SIGALRM blocked by the caller: still ETIMEDOUT");
    CHECK(sigprocmask(SIG_BLOCK, NULL, &mask) == 0 && sigismember(&mask, SIGALRM),
          "and SIGALRM is blocked again after it");
    close(release);
    waitpid(pid, &status, 0);

    CHECK(lock_take(-1, LOCK_EX, 100) == -1 && errno == EBADF, "a bad descriptor: EBADF");

    /* lock_still_named: the name, not followed, leads to this very file or it does not. */
    struct stat held;
    char other[4200], link[4200];
    (void)snprintf(other, sizeof other, "%s.other", path);
    (void)snprintf(link, sizeof link, "%s.link", path);
    CHECK(fstat(fd, &held) == 0 && lock_still_named(AT_FDCWD, path, &held) == 1,
          "lock_still_named: the name leads to the file open");
    int ofd = lockfd(other);
    CHECK(rename(other, path) == 0 && lock_still_named(AT_FDCWD, path, &held) == 0,
          "another file renamed over the name: 0");
    CHECK(unlink(path) == 0 && lock_still_named(AT_FDCWD, path, &held) == 0, "the name gone: 0");
    struct stat os;
    close(ofd);
    ofd = lockfd(other);
    CHECK(fstat(ofd, &os) == 0 && symlink(other, link) == 0 &&
              lock_still_named(AT_FDCWD, other, &os) == 1 &&
              lock_still_named(AT_FDCWD, link, &os) == 0,
          "a symbolic link to the file is not followed: 0");
    CHECK(lock_still_named(-1, "relative", &held) == -1 && errno == EBADF,
          "a bad directory descriptor: -1, EBADF");
    close(ofd);
    unlink(link);
    unlink(other);
    return unit_done();
}
