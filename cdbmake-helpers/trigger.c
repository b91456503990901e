/* trigger.c: coalesced rebuilds of the rules cdb.
 *
 * The lock file RELAY_CDB.lock holds two bytes: byte 0 is the request flag ('1': a build is
 * wanted), byte 1 the outcome of the last build ('0' ok, '1' failed). flock on it says who
 * the builder is.
 *
 *   login:    write '1' to byte 0, then try the lock without waiting. Taken: start a
 *             detached builder that inherits it. Busy: done, the builder will see the flag.
 *   builder:  while byte 0 is '1': write '0', then build. Unlock. Read byte 0 again: if it
 *             is '1', try the lock once more without waiting; if that works, start over.
 *
 * No request is lost. A login that found the lock busy wrote its flag before it tried the
 * lock. If the builder cleared the flag after that write, the build that follows the
 * clearing reads the store after the login's record. If the builder had already looked at
 * the flag for the last time, the login's attempt came before the unlock, so the flag is
 * set when the builder reads it again after unlocking; it then takes the lock back, or
 * someone else holds it, and that one reads the flag after taking it. At most one build
 * runs (the lock); any number of requests during a build make one more build (the flag);
 * a login costs an open, a pwrite, a flock and a close, plus a fork when no builder runs. */
#define _GNU_SOURCE /* flock, dup3, O_NOFOLLOW on glibc and musl alike */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cdbmake-helpers/trigger.h"
#include "log.h"

struct cdbmode {
    const char *cdb, *rules, *prog;
    char tmp[PATH_MAX], lock[PATH_MAX];
};

/* 1: configured; 0: cdb mode off; -1: misconfigured (warned). */
static int load(struct cdbmode *m)
{
    m->cdb = getenv("RELAY_CDB");
    if (m->cdb == NULL || m->cdb[0] == '\0')
        return 0;
    m->rules = getenv("RELAY_CDB_RULES");
    m->prog = getenv("RELAY_CDB_PROG");
    if (m->prog == NULL || m->prog[0] == '\0')
        m->prog = "relay-cdb";
    if (m->cdb[0] != '/') {
        log_warn("RELAY_CDB must be an absolute path, not \"%s\": the rules cdb is not rebuilt",
                 m->cdb);
        return -1;
    }
    if (m->rules == NULL || m->rules[0] != '/') {
        log_warn("RELAY_CDB_RULES must be the absolute path of the rules text: the rules cdb "
                 "is not rebuilt");
        return -1;
    }
    int n = snprintf(m->tmp, sizeof m->tmp, "%s.tmp", m->cdb);
    int k = snprintf(m->lock, sizeof m->lock, "%s.lock", m->cdb);
    if (n < 0 || (size_t)n >= sizeof m->tmp || k < 0 || (size_t)k >= sizeof m->lock) {
        log_warn("RELAY_CDB is too long: the rules cdb is not rebuilt");
        return -1;
    }
    return 1;
}

static int get_byte(int fd, off_t at)
{
    char c;
    ssize_t r;
    do
        r = pread(fd, &c, 1, at);
    while (r < 0 && errno == EINTR);
    return r == 1 ? c : -1;
}

static int put_byte(int fd, off_t at, char c)
{
    ssize_t r;
    do
        r = pwrite(fd, &c, 1, at);
    while (r < 0 && errno == EINTR);
    return r == 1 ? 0 : -1;
}

/* One run of relay-cdb: rules text on stdin, our stderr for its messages. 0 if it succeeded. */
static int build(const struct cdbmode *m)
{
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("unable to fork to rebuild %s: %s", m->cdb, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open(m->rules, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            log_warn("unable to open %s: %s: %s not rebuilt", m->rules, strerror(errno), m->cdb);
            _exit(111);
        }
        if (dup2(fd, 0) < 0)
            _exit(111);
        char *argv[] = {(char *)m->prog, (char *)m->cdb, (char *)m->tmp, NULL};
        execvp(m->prog, argv);
        log_warn("unable to run %s: %s: %s not rebuilt", m->prog, strerror(errno), m->cdb);
        _exit(111);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    /* relay-cdb said why on stderr; a child that could not start said so too. */
    return -1;
}

/* The builder's loop; the caller holds the lock on fd. Returns the last build's outcome, or
 * that of the build some other builder ran for us. */
static int builds(const struct cdbmode *m, int fd)
{
    int result = 0;
    for (;;) {
        while (get_byte(fd, 0) == '1') {
            if (put_byte(fd, 0, '0') != 0) {
                log_warn("unable to write %s: %s", m->lock, strerror(errno));
                result = -1;
                break;
            }
            result = build(m);
            put_byte(fd, 1, result == 0 ? '0' : '1');
        }
        flock(fd, LOCK_UN);
        if (get_byte(fd, 0) != '1' || flock(fd, LOCK_EX | LOCK_NB) != 0)
            return result;
    }
}

/* The detached builder must hold nothing of the login's: Dovecot's post-login script has
 * the client socket on stdin and stdout, inetd-style servers on stderr too, and a builder
 * that kept it open would keep the connection from closing. It keeps stderr when that is a
 * log (it has the build's messages), and it keeps no other descriptor but the lock. */
static int detach(int lockfd)
{
    struct stat e, i, o;
    int err_is_client = fstat(2, &e) != 0 ||
                        (S_ISSOCK(e.st_mode) &&
                         ((fstat(0, &i) == 0 && i.st_dev == e.st_dev && i.st_ino == e.st_ino) ||
                          (fstat(1, &o) == 0 && o.st_dev == e.st_dev && o.st_ino == e.st_ino)));
    int null = open("/dev/null", O_RDWR);
    if (null < 0)
        return -1;
    if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || (err_is_client && dup2(null, 2) < 0))
        return -1;
    if (lockfd != 3) {
        if (dup3(lockfd, 3, O_CLOEXEC) < 0)
            return -1;
    }
    int closed = -1;
#ifdef SYS_close_range
    closed = (int)syscall(SYS_close_range, 4U, ~0U, 0U);
#endif
    if (closed != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 65536)
            max = 65536;
        for (int fd = 4; fd < max; fd++)
            close(fd);
    }
    return 3;
}

/* Start a builder that outlives the login and is nobody's child but init's. The caller holds
 * the lock on fd; the builder inherits it, and the caller just closes its own descriptor. */
static int spawn(const struct cdbmode *m, int fd)
{
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("unable to fork a builder for %s: %s", m->cdb, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setsid(); /* out of the login's process group and session */
        pid_t again = fork();
        if (again != 0)
            _exit(again < 0 ? 111 : 0);
        /* waitpid must see our own children, whatever SIGCHLD the login had. */
        signal(SIGCHLD, SIG_DFL);
        signal(SIGHUP, SIG_IGN);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int lockfd = detach(fd);
        if (lockfd < 0)
            _exit(111);
        builds(m, lockfd);
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    /* If the middle process could not fork, the lock goes with our close below and the
     * request stays flagged: the next login starts a builder. */
    return 0;
}

/* A waiting caller that has had its build passes on what came in meanwhile to a detached
 * builder, rather than go on building for other logins itself (cron would never finish
 * during a storm). Same re-check after unlocking as in builds(). */
static void handover(const struct cdbmode *m, int fd)
{
    for (;;) {
        if (get_byte(fd, 0) == '1') {
            spawn(m, fd);
            return;
        }
        flock(fd, LOCK_UN);
        if (get_byte(fd, 0) != '1' || flock(fd, LOCK_EX | LOCK_NB) != 0)
            return;
    }
}

int trigger_rebuild(enum trigger_mode mode)
{
    struct cdbmode m;
    int on = load(&m);
    if (on <= 0)
        return on;

    int fd = open(m.lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_warn("unable to open %s: %s: the rules cdb is not rebuilt", m.lock, strerror(errno));
        return -1;
    }
    if (put_byte(fd, 0, '1') != 0) {
        log_warn("unable to write %s: %s: the rules cdb is not rebuilt", m.lock, strerror(errno));
        close(fd);
        return -1;
    }

    int result = 0;
    if (mode == TRIGGER_WAIT) {
        /* Wait for the lock: a builder running now builds once more for us, or we build. */
        while (flock(fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                log_warn("unable to lock %s: %s", m.lock, strerror(errno));
                close(fd);
                return -1;
            }
        }
        if (get_byte(fd, 0) == '1') {
            put_byte(fd, 0, '0');
            result = build(&m);
            put_byte(fd, 1, result == 0 ? '0' : '1');
        } else {
            /* The builder before us cleared our flag and then built: its last outcome. */
            result = get_byte(fd, 1) == '1' ? -1 : 0;
        }
        if (result != 0)
            log_warn("the rules cdb %s was not rebuilt", m.cdb);
        handover(&m, fd);
    } else if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        result = spawn(&m, fd);
    } else if (errno != EWOULDBLOCK && errno != EINTR) {
        log_warn("unable to lock %s: %s", m.lock, strerror(errno));
        result = -1;
    }
    close(fd);
    return result;
}
