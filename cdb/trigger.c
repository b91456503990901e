/* trigger.c: coalesced rebuilds of the rules cdb.
 *
 * The lock file RELAY_CDB.lock holds four bytes: byte 0 is the request flag ('1': a build is
 * wanted), byte 1 the outcome of the last build ('0' ok, '1' failed), byte 2 the full-rescan
 * flag ('1': the next build must rescan the store), byte 3 the number of builds that ended,
 * counted round ENDED_DIGITS. flock on it says who the builder is.
 *
 *   login:    append the key to the journal, write '1' to byte 0, then try the lock without
 *             waiting. Taken: start a detached builder that inherits it. Busy: done, the
 *             builder will see the flag. (With no key, or no journal: write '1' to byte 2
 *             before byte 0.)
 *   builder:  while byte 0 is '1': write '0', then read byte 2 and clear it if set, then
 *             build (relay-cdb -s if byte 2 was set, else -i). Unlock. Read byte 0 again: if
 *             it is '1', try the lock once more without waiting; if that works, start over.
 *
 * No request is lost. A login that found the lock busy wrote its flag before it tried the
 * lock. If the builder cleared the flag after that write, the build that follows the
 * clearing reads the store after the login's record. If the builder had already looked at
 * the flag for the last time, the login's attempt came before the unlock, so the flag is
 * set when the builder reads it again after unlocking; it then takes the lock back, or
 * someone else holds it, and that one reads the flag after taking it. At most one build
 * runs (the lock); any number of requests during a build make one more build (the flag);
 * a login costs an open, a pwrite, a flock and a close, plus a fork when no builder runs.
 * The same argument holds for byte 2, which is written before byte 0 and read after it is
 * cleared: a full rescan asked for before a build's clearing is part of that build.
 *
 * A caller that waits (relay-expire) needs a build that began after its request to have
 * ended, not the lock itself: while logins keep coming, the builder goes from one build to
 * the next without ever letting go of the lock. So it reads byte 3 after writing its flags
 * and is done when the count has moved on by two (the second of those builds began after
 * the first ended, so after the request), or when it gets the lock and builds itself.
 *
 * The journal. An incremental build (relay-cdb -i) reads relay-cdb's snapshot of the live
 * allowances and looks up in the store only the keys in RELAY_CDB.journal, so the journal
 * must hold the key of every login before the build that covers it, and a key must never be
 * written into a journal that the builder has already read.
 *
 *   login:    open the journal O_APPEND (creating it), flock LOCK_SH, check that the name
 *             still leads to the file it opened (else start again), write "key\n", close.
 *   builder:  open it, flock LOCK_EX, rename it to RELAY_CDB.journal.taken, unlock, read.
 *   (Neither waits more than a second for the lock: see JOURNAL_WAIT_MS.)
 *
 * The rename happens under the exclusive lock, so no login is between its check and its
 * write then; a login that opened the file before the rename and locks it after finds the
 * name gone or leading to a new journal, and writes there. So the taken file is complete
 * when the builder reads it, and every later key is in the new journal. The key goes in
 * before the request flag: a build that clears the flag after the login set it takes the
 * journal after the key was written. A login's cost is fixed: an open, a flock, two stats,
 * a write and a close, whatever the size of the journal or the store. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cdb/trigger.h"
#include "clock.h"
#include "fds.h"
#include "io.h"
#include "lock.h"
#include "owner.h"
#include "settings.h"

struct cdbmode {
    const char *cdb, *rules, *prog;
    char tmp[PATH_MAX], lock[PATH_MAX], journal[PATH_MAX];
    log_fn *warn; /* the caller's, also the detached builder's: this module never prints */
};

/* 1: configured; 0: cdb mode off; -1: misconfigured (warned). settings.c has read and checked
 * the settings; what is wrong with them is said here, by the programs that rebuild, when they
 * do, and only then. */
static int load(struct cdbmode *m, const struct settings_cdb *c, log_fn *warn)
{
    m->warn = warn;
    m->cdb = c->path;
    m->rules = c->rules;
    m->prog = c->prog;
    switch (c->state) {
    case SETTINGS_CDB_OFF:
        return 0;
    case SETTINGS_CDB_BAD_PATH:
        m->warn("RELAY_CDB must be an absolute path, not \"%s\": the rules cdb is not rebuilt",
                m->cdb);
        return -1;
    case SETTINGS_CDB_BAD_RULES:
        m->warn("RELAY_CDB_RULES must be the absolute path of the rules text: the rules cdb "
                "is not rebuilt");
        return -1;
    case SETTINGS_CDB_ON:
        break;
    }
    int n = snprintf(m->tmp, sizeof m->tmp, "%s.tmp", m->cdb);
    int k = snprintf(m->lock, sizeof m->lock, "%s.lock", m->cdb);
    int j = snprintf(m->journal, sizeof m->journal, "%s" TRIGGER_JOURNAL, m->cdb);
    if (n < 0 || (size_t)n >= sizeof m->tmp || k < 0 || (size_t)k >= sizeof m->lock || j < 0 ||
        (size_t)j >= sizeof m->journal) {
        m->warn("RELAY_CDB is too long: the rules cdb is not rebuilt");
        return -1;
    }
    return 1;
}

int trigger_dir_of(char *dir, const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, n == 0 ? "." : path, n == 0 ? 1 : n);
    dir[n == 0 ? 1 : n] = '\0';
    return 0;
}

int trigger_dir_stat(const char *path, struct stat *st)
{
    char dir[PATH_MAX];
    if (trigger_dir_of(dir, path) != 0)
        return -1;
    return stat(dir, st);
}

/* A waiting caller (relay-expire, an import) waits this long for a build that runs: a build
 * of a big store takes a few seconds, and the store's account (or root) could hold the lock
 * forever. Past it, the caller goes on without its build, as after a failed one. */
#define BUILD_WAIT_MS 30000

/* The journal's lock is held for a moment at a time, by a login for one write and by the
 * builder for one rename, so a wait of a second means that its holder is stuck (stopped, say,
 * by whoever owns it). Neither side waits for that: the login asks for a full rescan instead
 * of writing its key, the builder rescans instead of taking the journal. Either way the
 * rescan reads every record written so far, so nothing is lost, and nobody hangs. */
#define JOURNAL_WAIT_MS 1000

static int lock_journal(int fd, int how)
{
    return lock_take(fd, how, JOURNAL_WAIT_MS);
}

#define JOURNAL_MOVED (-2)

/* Close fd after a failure, keeping the failure's errno. Always -1. */
static int close_failed(int fd)
{
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

/* Open the journal and lock it (how), and make sure the lock is on the file the name still
 * points to: the builder renames the journal away under its exclusive lock, so a descriptor
 * opened just before that holds the old file. Returns the descriptor, with the file's stat
 * in *held; JOURNAL_MOVED if the name moved meanwhile (open it again); or -1 with errno. */
static int open_journal(const char *path, int flags, int how, struct stat *held)
{
    /* O_NONBLOCK: a FIFO planted under the name must not hang the login. */
    int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (lock_journal(fd, how) != 0 || fstat(fd, held) != 0)
        return close_failed(fd);
    if (!S_ISREG(held->st_mode)) {
        errno = EINVAL;
        return close_failed(fd);
    }
    if (lock_still_named(AT_FDCWD, path, held) != 1) {
        close(fd);
        return JOURNAL_MOVED;
    }
    return fd;
}

/* A login that keeps finding the journal renamed under it gives up after this many tries;
 * the builder renames it once per build, so a second try is already rare. */
#define JOURNAL_TRIES 100

/* The login's side (see the top of this file). 0, or -1 with errno set. */
static int journal_append(const struct cdbmode *m, const char *key)
{
    char line[128];
    int n = snprintf(line, sizeof line, "%s\n", key);
    if (key[0] == '\0' || strchr(key, '\n') != NULL || n < 0 || (size_t)n >= sizeof line) {
        errno = EINVAL;
        return -1;
    }
    size_t len = (size_t)n;
    for (int tries = 0; tries < JOURNAL_TRIES; tries++) {
        struct stat held;
        int fd = open_journal(m->journal, O_WRONLY | O_APPEND | O_CREAT, LOCK_SH, &held);
        if (fd == JOURNAL_MOVED)
            continue; /* taken by the builder since our open: the new one is ours */
        if (fd < 0)
            return -1;
        /* One write of at most a few dozen bytes to a file opened O_APPEND: it lands whole,
         * after every other login's line. */
        ssize_t w = io_write_once(fd, line, len);
        if (w != (ssize_t)len) {
            if (w >= 0)
                errno = EIO;
            return close_failed(fd);
        }
        return close(fd);
    }
    errno = EAGAIN;
    return -1;
}

int trigger_journal_take(const char *path, const char *taken)
{
    for (int tries = 0; tries < JOURNAL_TRIES; tries++) {
        struct stat held;
        int fd = open_journal(path, O_RDONLY, LOCK_EX, &held);
        if (fd == JOURNAL_MOVED)
            continue; /* another builder took it: look again */
        if (fd < 0)
            return -1;
        if (rename(path, taken) != 0)
            return close_failed(fd);
        flock(fd, LOCK_UN);
        return fd;
    }
    errno = EAGAIN;
    return -1;
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

/* Byte 3 cycles through these; a lock file without it (made by an older version, or
 * damaged) counts nothing until the next build writes it. Going round in one poll of a
 * waiter would take dozens of builds, and could only make it wait longer. */
static const char ENDED_DIGITS[] = "0123456789abcdefghijklmnopqrstuvwxyz";
#define ENDED_MOD ((int)sizeof ENDED_DIGITS - 1)

static int get_ended(int fd)
{
    int c = get_byte(fd, 3);
    const char *p = c > 0 ? strchr(ENDED_DIGITS, c) : NULL;
    return p != NULL ? (int)(p - ENDED_DIGITS) : -1;
}

/* How long one run of relay-cdb may take. A full rescan of a store of 100,000 fresh
 * allowances takes 0.3 s (bench/cdb.sh, tmpfs, 2 cores; a login's build 0.02 s): 30 s, the
 * bound of relay-expire's wait for the lock, leaves a margin of about a hundred for a slow
 * disk or a busy machine. A build that takes longer is stuck (stopped by a signal, reading
 * a hung file system) and would hold the lock for ever: no build would run again, and the
 * cdb would go on granting what has expired since. */
#define BUILD_MAX_MS 30000
/* After SIGTERM (and SIGCONT, for a stopped child) relay-cdb removes its temp file and
 * exits at once; it is given this long before SIGKILL. */
#define BUILD_TERM_MS 1000

#define BUILD_SAID (-3) /* the build failed, and one line has said so */

/* Reap our child pid, waiting at most ms milliseconds. 1 if it was reaped (its status in
 * *status), 0 if it still runs, -1 with errno. The caller has SIGCHLD blocked since before
 * the fork, so the child's end wakes sigtimedwait however soon it comes; the wait is
 * bounded by the deadline, not by the signal (one may be pending from an earlier child). */
static int reap_bounded(pid_t pid, int *status, long ms)
{
    long long end = clock_deadline(ms);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid)
            return 1;
        if (w < 0 && errno != EINTR)
            return -1;
        int left = clock_left(end);
        if (left == 0)
            return 0;
        struct timespec t = {left / 1000, (left % 1000) * 1000000L};
        (void)sigtimedwait(&chld, NULL, &t); /* EAGAIN at the deadline, EINTR: look again */
    }
}

/* The rules text, for relay-cdb's stdin: O_NONBLOCK so that a FIFO under the name (or a
 * device) cannot hang us in open, and refused unless it is a regular file, which relay-cdb
 * then reads to its end. The descriptor is blocking again when returned. -1: warned. */
static int open_rules(const struct cdbmode *m)
{
    int fd = open(m->rules, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        m->warn("unable to open %s: %s: the rules cdb %s is not rebuilt", m->rules,
                 strerror(errno), m->cdb);
        return -1;
    }
    struct stat st;
    int flags;
    const char *why = NULL;
    if (fstat(fd, &st) != 0 || (flags = fcntl(fd, F_GETFL)) < 0 ||
        (S_ISREG(st.st_mode) && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0))
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    if (why != NULL) {
        m->warn("unable to use %s: %s: the rules cdb %s is not rebuilt", m->rules, why, m->cdb);
        close(fd);
        return -1;
    }
    return fd;
}

/* build's child and its reaping, with SIGCHLD blocked; mask is the one to run relay-cdb with
 * (the caller's). The rules text is closed here. */
static int build_child(const struct cdbmode *m, int full, int rules, const sigset_t *mask)
{
    pid_t pid = fork();
    if (pid < 0) {
        m->warn("unable to fork to rebuild %s: %s", m->cdb, strerror(errno));
        close(rules);
        return BUILD_SAID;
    }
    if (pid == 0) {
        (void)sigprocmask(SIG_SETMASK, mask, NULL);
        if (dup2(rules, 0) < 0) /* the copy on 0 is not close-on-exec */
            _exit(111);
        char *argv[] = {(char *)m->prog, full ? "-s" : "-i", (char *)m->cdb, (char *)m->tmp,
                        NULL};
        execvp(m->prog, argv);
        m->warn("unable to run %s: %s: %s not rebuilt", m->prog, strerror(errno), m->cdb);
        _exit(111);
    }
    close(rules);
    int status;
    int r = reap_bounded(pid, &status, BUILD_MAX_MS);
    if (r == 0) {
        /* pid is our own child and not reaped yet, so it cannot have been reused: the
         * signals reach relay-cdb (or what RELAY_CDB_PROG runs), nobody else. SIGCONT lets a
         * stopped one act on the SIGTERM and remove its temp file; SIGKILL for one that
         * does not. A child stuck in the kernel (a hung NFS mount) may outlast even that:
         * we do not wait for it any longer, the build is failed all the same. */
        (void)kill(pid, SIGTERM);
        (void)kill(pid, SIGCONT);
        if (reap_bounded(pid, &status, BUILD_TERM_MS) == 0) {
            (void)kill(pid, SIGKILL);
            (void)reap_bounded(pid, &status, BUILD_TERM_MS);
        }
        m->warn("%s took more than %d s: killed, the cdb %s not rebuilt", m->prog,
                 BUILD_MAX_MS / 1000, m->cdb);
        return BUILD_SAID;
    }
    if (r < 0) {
        m->warn("unable to wait for %s: %s: the cdb %s not rebuilt", m->prog, strerror(errno),
                 m->cdb);
        return BUILD_SAID;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    /* relay-cdb said why on stderr; a child that could not start said so too. */
    return -1;
}

/* One run of relay-cdb: rules text on stdin, our stderr for its messages. full: a rescan of
 * the store (-s), else an incremental build from the snapshot and the journal (-i).
 * 0 if it succeeded; BUILD_SAID if it did not and we said why (one line); -1 if it did not
 * and the child said why. */
static int build(const struct cdbmode *m, int full)
{
    int rules = open_rules(m);
    if (rules < 0)
        return BUILD_SAID;
    /* SIGCHLD stays blocked until the child is reaped, so that reap_bounded sleeps until the
     * child ends or the deadline comes, whichever is first. */
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    (void)sigprocmask(SIG_BLOCK, &chld, &old);
    int result = build_child(m, full, rules, &old);
    (void)sigprocmask(SIG_SETMASK, &old, NULL);
    return result;
}

/* Take the request that byte 0 holds (the caller has seen '1' there, and holds the lock),
 * build, and note the outcome. Byte 2 is read after byte 0 is cleared (see the top).
 * Returns the build's outcome (0, -1 or BUILD_SAID), or -2 if the request could not be
 * taken. */
static int take_and_build(const struct cdbmode *m, int fd)
{
    if (put_byte(fd, 0, '0') != 0) {
        m->warn("unable to write %s: %s", m->lock, strerror(errno));
        return -2;
    }
    int full = get_byte(fd, 2) == '1';
    if (full && put_byte(fd, 2, '0') != 0) {
        m->warn("unable to write %s: %s", m->lock, strerror(errno));
        return -2;
    }
    int result = build(m, full);
    if (result != 0 && full)
        (void)put_byte(fd, 2, '1'); /* the next build rescans again */
    (void)put_byte(fd, 1, result == 0 ? '0' : '1'); /* as before: best effort */
    int n = get_ended(fd);
    (void)put_byte(fd, 3, ENDED_DIGITS[n < 0 ? 0 : (n + 1) % ENDED_MOD]);
    return result;
}

/* The builder's loop; the caller holds the lock on fd. Returns the last build's outcome, or
 * that of the build some other builder ran for us. */
static int builds(const struct cdbmode *m, int fd)
{
    int result = 0;
    for (;;) {
        while (get_byte(fd, 0) == '1') {
            result = take_and_build(m, fd);
            if (result == -2) {
                /* The flag cannot be cleared (an I/O error, a file system gone read-only):
                 * looking again would find it set and loop for ever. The request stays
                 * flagged for the next login or sweep, which tries again. */
                flock(fd, LOCK_UN);
                return -1;
            }
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
    fds_close_range(4, INT_MAX);
    return 3;
}

/* The builder inherits the login's signal dispositions and mask: a handler of the login's
 * (its code is still mapped after fork) or a blocked SIGTERM would make it behave as no
 * builder should. Every disposition goes back to the default and the mask is emptied, but
 * SIGHUP stays ignored: the builder has left the login's session, and the hangup of the
 * login's terminal, if any, is not a reason to leave a cdb half built. (relay-cdb is exec'd
 * with that: it removes its temp file on every other signal.) */
static void reset_signals(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaction(sig, &dfl, NULL); /* EINVAL for the numbers libc keeps: fine */
    (void)signal(SIGHUP, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Start a builder that outlives the login and is nobody's child but init's. The caller holds
 * the lock on fd; the builder inherits it, and the caller just closes its own descriptor. */
static int spawn(const struct cdbmode *m, int fd)
{
    pid_t pid = fork();
    if (pid < 0) {
        m->warn("unable to fork a builder for %s: %s", m->cdb, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setsid(); /* out of the login's process group and session */
        pid_t again = fork();
        if (again != 0)
            _exit(again < 0 ? 111 : 0);
        reset_signals();
        int lockfd = detach(fd);
        if (lockfd < 0)
            _exit(111);
        /* A builder that a root login started works in the cdb's directory as its owner,
         * for good: it never writes as root where that account could plant a link. */
        char dir[PATH_MAX];
        if (trigger_dir_of(dir, m->cdb) != 0 || owner_drop(dir) != 0) {
            m->warn("unable to become the owner of the directory of %s: %s: the rules cdb is "
                     "not rebuilt",
                     m->cdb, strerror(errno));
            _exit(111);
        }
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

/* How often a waiting caller looks at the lock and at byte 3. */
#define AWAIT_POLL_MS 10

enum { AWAIT_LOCKED = 1, AWAIT_BUILT = 2 };

/* Wait, BUILD_WAIT_MS at most, until we hold the lock (AWAIT_LOCKED) or another builder has
 * ended a build that began after our request (AWAIT_BUILT; see the top). -1 with errno,
 * ETIMEDOUT at the deadline. The caller has written its flags. */
static int await_build(int fd)
{
    int since = get_ended(fd);
    long long end = clock_deadline(BUILD_WAIT_MS);
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return AWAIT_LOCKED;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        int ended = get_ended(fd);
        if (since < 0)
            since = ended; /* counted from the first build that writes it */
        else if (ended >= 0 && (ended - since + ENDED_MOD) % ENDED_MOD >= 2)
            return AWAIT_BUILT;
        if (clock_left(end) == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct timespec pause = {0, AWAIT_POLL_MS * 1000000L};
        (void)nanosleep(&pause, NULL);
    }
}

static int rebuild(const struct cdbmode *cm, enum trigger_mode mode, const char *key);

int trigger_rebuild(const struct settings *cfg, enum trigger_mode mode, const char *key,
                    log_fn *warn)
{
    struct cdbmode m;
    int on = load(&m, &cfg->cdb, warn);
    if (on <= 0)
        return on;

    /* Root (a Dovecot hook, relay-session, relay-expire from root's cron) does the file work
     * of the cdb's directory as that directory's owner, whoever called us and however: the
     * lock and the journal are opened, made and written by that account only. (A caller that
     * has entered the store's account already is no longer root here: nothing to do.) */
    char dir[PATH_MAX];
    struct owner_saved saved;
    if (trigger_dir_of(dir, m.cdb) != 0 || owner_enter(&saved, dir) != 0) {
        m.warn("unable to work in the directory of %s as its owner: %s: the rules cdb is not "
                 "rebuilt",
                 m.cdb, strerror(errno));
        return -1;
    }
    int result = rebuild(&m, mode, key);
    if (owner_leave(&saved) != 0) {
        m.warn("unable to take back our own ids after the rebuild of %s: %s", m.cdb,
                 strerror(errno));
        return -1;
    }
    return result;
}

static int rebuild(const struct cdbmode *cm, enum trigger_mode mode, const char *key)
{
    struct cdbmode m = *cm;
    int fd = open(m.lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0) {
        m.warn("unable to open %s: %s: the rules cdb is not rebuilt", m.lock, strerror(errno));
        return -1;
    }
    struct stat st;
    int statted = fstat(fd, &st) == 0;
    if (!statted || !S_ISREG(st.st_mode)) {
        m.warn("unable to use %s: %s: the rules cdb is not rebuilt", m.lock,
                 statted ? "not a regular file" : strerror(errno));
        close(fd);
        return -1;
    }

    /* The key goes into the journal before the request is flagged (see the top). A login
     * whose key could not go in is covered only by a rescan of the whole store. */
    int full = key == NULL;
    if (key != NULL && journal_append(&m, key) != 0) {
        m.warn("unable to append to %s: %s: asking for a full rebuild", m.journal,
                 strerror(errno));
        full = 1;
    }
    if ((full && put_byte(fd, 2, '1') != 0) || put_byte(fd, 0, '1') != 0) {
        m.warn("unable to write %s: %s: the rules cdb is not rebuilt", m.lock, strerror(errno));
        close(fd);
        return -1;
    }

    int result = 0;
    if (mode == TRIGGER_WAIT) {
        /* A builder running now builds for us, or we take the lock and build. */
        int w = await_build(fd);
        if (w < 0) {
            if (errno == ETIMEDOUT)
                m.warn("the rules cdb %s was not rebuilt: a build held the lock %s for %d s",
                         m.cdb, m.lock, (int)(BUILD_WAIT_MS / 1000));
            else
                m.warn("unable to lock %s: %s: the rules cdb %s was not rebuilt", m.lock,
                         strerror(errno), m.cdb);
            close(fd);
            return -1;
        }
        if (w == AWAIT_BUILT) {
            result = get_byte(fd, 1) == '1' ? -1 : 0;
            if (result != 0)
                m.warn("the rules cdb %s was not rebuilt", m.cdb);
            close(fd);
            return result;
        }
        int said = 0;
        if (get_byte(fd, 0) == '1') {
            int b = take_and_build(&m, fd);
            result = b == 0 ? 0 : -1;
            said = b == BUILD_SAID;
        } else {
            /* The builder before us cleared our flag and then built: its last outcome. */
            result = get_byte(fd, 1) == '1' ? -1 : 0;
        }
        if (result != 0 && !said)
            m.warn("the rules cdb %s was not rebuilt", m.cdb);
        handover(&m, fd);
    } else if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        result = spawn(&m, fd);
    } else if (errno != EWOULDBLOCK && errno != EINTR) {
        m.warn("unable to lock %s: %s", m.lock, strerror(errno));
        result = -1;
    }
    close(fd);
    return result;
}
