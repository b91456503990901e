/* relay-session: the privileged parent of a checkpassword login chain.
 *
 *   qmail-popup host relay-session checkpassword relay-allow qmail-pop3d Maildir
 *
 * checkpassword drops to the mail user before relay-allow runs, and the mail user must not
 * be able to write the store: otherwise any local user could forge an allowance. So this
 * program, still root and with the environment tcpserver gave it, forks the rest of the
 * chain with a pipe in RELAY_SESSION_FD. relay-allow writes the user name and a newline into
 * it and goes on with the session. That line is the only thing taken from the child: it
 * means "the login succeeded", and the name in it is checked before it is recorded. The
 * address recorded is this process's own client address, never one the child could choose.
 * With RELAY_SESSION_REFRESH=1 the allowance is recorded again every expiry/3 seconds for as
 * long as the session lasts, that is until the child ends or the client hangs up, whichever
 * comes first: the child runs as the mail user, who can stop it or keep it alive after the
 * client has gone. Nothing here may stop the login: every failure is one line on stderr and
 * the session goes on. */
#define _GNU_SOURCE /* ppoll, POLLRDHUP */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "clock.h"
#include "fds.h"
#include "log.h"
#include "owner.h"
#include "settings.h"
#include "store.h"
#include "cdb/trigger.h"

/* The session's client and what has been learnt about its login. */
struct session {
    const struct settings *cfg;
    char key[ADDR_KEY_MAX];
    int refresh;                    /* RELAY_SESSION_REFRESH: record again while it lasts */
    long interval;                  /* seconds between two records */
    int fd;                         /* the pipe's read end, -1 once heard or closed */
    int sock;                       /* the client's connection, watched for its end; or -1 */
    int hung_up;                    /* the client has hung up: no more refreshing */
    char line[STORE_USER_MAX + 2];  /* what the child has said so far */
    size_t len;
    int too_long;                   /* more than a user name before the newline */
    int logged_in;                  /* the child said the login succeeded */
    char user[STORE_USER_MAX + 1];
    int failing;                    /* the last record failed: already warned about */
    int over_cap;                   /* the user held RELAY_USER_MAX allowances: warned */
    char shown[ADDR_SHOWN_MAX];     /* the client for a warning (client_key) */
    long long due;                  /* the next refresh (clock_deadline) */
};

static pid_t child;

/* A signal meant for the session (tcpserver's or svc's TERM, a HUP, a ^C) goes to the
 * child; this process waits for the child to end and then ends the same way.
 * The pid signalled is always still the child's: the handler is installed after the fork,
 * and these signals are blocked everywhere but inside watch's ppoll, which runs only while
 * the child has not been reaped. Only this process reaps it (waitpid on its pid, with the
 * signals blocked), and an exited child that is not yet reaped keeps its pid, so no other
 * process can have it when kill runs. */
static void forward(int sig)
{
    int e = errno;
    kill(child, sig);
    errno = e;
}

/* Only there to interrupt ppoll when the child ends. */
static void child_ended(int sig)
{
    (void)sig;
}

/* The client as tcpserver set it in this process's own environment, which the child
 * cannot touch. Returns 0, or -1 with a warning. */
static int client_key(struct session *s)
{
    const char *var, *text;
    switch (addr_client_key(s->key, ADDR_UCSPI, &s->cfg->keys, &var, &text)) {
    case ADDR_CLIENT_NONE:
        log_warn("no client address in TCP6REMOTEIP or TCPREMOTEIP: nothing recorded");
        return -1;
    case ADDR_CLIENT_BAD:
        log_warn("%s is not an address: \"%s\": nothing recorded", var, text);
        return -1;
    case ADDR_CLIENT_NEVER:
        log_warn("%s may never relay: \"%s\": nothing recorded", var, text);
        return -1;
    case ADDR_CLIENT_OK:
        break;
    }
    addr_client_show(s->shown, sizeof s->shown, text, s->key);
    return 0;
}

/* No session to watch over (no client address, or no pipe or process to be had): run the
 * chain in this process. relay-allow then tries to record by itself, which works only where
 * it may write the store; the login goes on either way. */
static _Noreturn void run_alone(char **argv)
{
    log_exec(argv);
}

static _Noreturn void child_main(char **argv, int wfd, const sigset_t *mask)
{
    char num[16];
    sigprocmask(SIG_SETMASK, mask, NULL);
    (void)snprintf(num, sizeof num, "%d", wfd); /* any int fits in 16 bytes */
    if (fcntl(wfd, F_SETFD, 0) != 0 || setenv("RELAY_SESSION_FD", num, 1) != 0)
        log_warn("unable to pass the session pipe on: %s: nothing will be recorded",
                 strerror(errno));
    log_exec(argv);
}

/* With the refresh on, the end of the session that matters is the client's hanging up, not
 * the child's exit: the child is the mail user's, who can stop it or keep it running. So the
 * parent keeps a duplicate of the connection (fd 0 as tcpserver and couriertcpd give it),
 * only ever to poll it for the peer's end; it never reads or writes it, so the child's
 * conversation is untouched. Anything but a stream socket (a test run by hand, a pipe) is
 * not watched: the session then lasts as long as the child, as without the duplicate.
 * Returns the duplicate, or -1. */
static int watch_client(void)
{
    struct stat st;
    int type;
    socklen_t len = sizeof type;
    if (fstat(0, &st) != 0 || !S_ISSOCK(st.st_mode) ||
        getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
        return -1;
    /* Out of the way of the numbers the parent's own opens get. */
    int fd = fcntl(0, F_DUPFD_CLOEXEC, 64);
    if (fd < 0)
        log_warn("unable to watch the client's connection: %s: refreshed until the session "
                 "ends", strerror(errno));
    return fd;
}

/* This process is a parent of the network session: holding the client's socket would keep
 * the connection open after the session has ended. It keeps stderr, the pipe and the
 * watched duplicate (which it closes as soon as the client hangs up, and which is gone with
 * this process when the child ends), and turns stdin and stdout into /dev/null so that no
 * later open lands on them. */
static void close_others(int keep, int keep2)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0) {
        close(0);
        close(1);
    }
    if (null > 2 && null != keep && null != keep2)
        close(null);
    int lo = keep < keep2 || keep2 < 0 ? keep : keep2;
    int hi = keep < keep2 ? keep2 : keep;
    if (lo > 3)
        fds_close_range(3, lo - 1);
    if (hi > lo + 1)
        fds_close_range(lo + 1, hi - 1);
    fds_close_range(hi + 1, INT_MAX);
}

/* The store belongs to its own account, which could plant a link to any of root's files
 * under a name written here: the work is done as that account (owner.h). */
static void record(struct session *s)
{
    struct store store;
    struct owner_saved saved;
    if (owner_enter(&saved, store_home(s->cfg)) != 0) {
        if (!s->failing)
            log_warn("unable to take the ids of the owner of store %s: %s: nothing recorded",
                     store_where(s->cfg), strerror(errno));
        s->failing = 1;
        return;
    }
    long held = 0;
    enum store_login done = STORE_LOGIN_FAILED;
    int r = store_open(&store, s->cfg, log_warn);
    if (r == 0) {
        done = store_login(&store, s->key, s->user, s->cfg->user_max, &held);
        r = done == STORE_LOGIN_FAILED ? -1 : 0;
        store_close(&store);
    }
    int e = errno;
    /* cdb mode (relay-cdb(8)): have tcpserver's rules cdb rebuilt; nobody waits for it. */
    if (done == STORE_LOGIN_RECORDED)
        trigger_rebuild(s->cfg, TRIGGER_DETACH, s->key, log_warn);
    /* Root again, or this process would go on as the store's account: it must not. */
    if (owner_leave(&saved) != 0)
        log_fatal(111, "unable to take back root's ids: %s", strerror(errno));
    errno = e;
    if (r != 0) {
        if (!s->failing)
            log_warn("unable to record %s in %s: %s", s->key, store_where(s->cfg),
                     store_error(&store));
        s->failing = 1;
        return;
    }
    if (s->failing && done == STORE_LOGIN_RECORDED)
        log_info("recorded %s again", s->key);
    s->failing = 0;
    /* Over the cap is not a failure: the store works, and the session goes on without its
     * allowance. Said once: a refresh finds the same every RELAY_EXPIRY/3. */
    if (done == STORE_LOGIN_OVER_CAP && !s->over_cap)
        log_warn("user %s over RELAY_USER_MAX: %ld live allowances, %s not recorded", s->user,
                 held, s->shown);
    s->over_cap = done == STORE_LOGIN_OVER_CAP;
}

/* The child has said the login succeeded: record it, and plan the first refresh. */
static void logged_in(struct session *s)
{
    s->logged_in = 1;
    s->line[s->len] = '\0';
    if (s->too_long || (s->len > 0 && !store_user_ok(s->line)))
        log_warn("the session reported a user name with forbidden characters or too long: "
                 "recorded without it");
    else
        memcpy(s->user, s->line, s->len + 1);
    record(s);
    if (s->cfg->log && !s->failing && !s->over_cap)
        log_info("recorded %s user=%s%s", s->key, s->user[0] != '\0' ? s->user : "-",
                 s->refresh && !s->hung_up ? " (refreshed while the session lasts)" : "");
    s->due = clock_deadline(s->interval * 1000);
}

/* Read what the child has written. One line ending in a newline is a successful login; the
 * end of the pipe before that is a failed one. Nothing after the newline is read. Not
 * io_read: the pipe is non-blocking, and this takes what is there now (EAGAIN: back to
 * ppoll), where io_read would wait for a full buffer. */
static void hear(struct session *s)
{
    char buf[128];
    for (;;) {
        ssize_t got = read(s->fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && errno == EAGAIN)
            return;
        if (got <= 0)
            break; /* end of the pipe, or an error: no login to record */
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == '\n') {
                close(s->fd);
                s->fd = -1;
                logged_in(s);
                return;
            }
            if (s->len < STORE_USER_MAX)
                s->line[s->len++] = buf[i];
            else
                s->too_long = 1;
        }
    }
    close(s->fd);
    s->fd = -1;
}

/* The client has hung up (or its connection failed): whatever the child does from now on,
 * the allowance is not recorded again, and expires one RELAY_EXPIRY after its last record.
 * The duplicate is closed at once, so that this process holds nothing of the connection. */
static void client_gone(struct session *s)
{
    close(s->sock);
    s->sock = -1;
    s->hung_up = 1;
    if (s->logged_in && s->cfg->log)
        log_info("session for %s: the client hung up: no longer refreshed", s->key);
}

/* Wait for the child, listening to the pipe and the client's connection and refreshing, and
 * return its wait status. */
static int watch(struct session *s, const sigset_t *mask)
{
    int status;
    for (;;) {
        pid_t r = waitpid(child, &status, WNOHANG);
        if (r == child)
            break;
        if (r < 0 && errno != EINTR) {
            log_warn("unable to wait for the session: %s", strerror(errno));
            return 111 << 8;
        }

        struct timespec left, *timeout = NULL;
        if (s->logged_in && s->refresh && !s->hung_up) {
            int ms = clock_left(s->due);
            if (ms == 0) {
                record(s);
                s->due = clock_deadline(s->interval * 1000);
                continue;
            }
            left.tv_sec = ms / 1000;
            left.tv_nsec = (ms % 1000) * 1000000L;
            timeout = &left;
        }
        /* Only the peer's end is asked for on the connection: what the client sends is the
         * child's to read, and must not wake this process. */
        struct pollfd p[2];
        nfds_t np = 0;
        int ip = -1, is = -1;
        if (s->fd >= 0) {
            p[np] = (struct pollfd){.fd = s->fd, .events = POLLIN};
            ip = (int)np++;
        }
        if (s->sock >= 0) {
            p[np] = (struct pollfd){.fd = s->sock, .events = POLLRDHUP};
            is = (int)np++;
        }
        /* The signals are let through only while waiting here, so none is lost between
         * the check above and the wait. */
        int n = ppoll(p, np, timeout, mask);
        if (n < 0 && errno != EINTR) {
            log_warn("unable to wait for the session: %s", strerror(errno));
            while (waitpid(child, &status, 0) < 0)
                if (errno != EINTR)
                    return 111 << 8;
            break;
        }
        if (n > 0 && ip >= 0 && p[ip].revents != 0)
            hear(s);
        /* POLLHUP, POLLERR (a reset, a timeout) and POLLNVAL come without being asked. */
        if (n > 0 && is >= 0 && p[is].revents != 0)
            client_gone(s);
    }
    /* A chain that reports and ends at once (relay-allow with no program) leaves its line
     * in the pipe. */
    if (s->fd >= 0)
        hear(s);
    if (s->logged_in && s->refresh && !s->hung_up && s->cfg->log)
        log_info("session for %s ended: no longer refreshed", s->key);
    return status;
}

int main(int argc, char **argv)
{
    struct settings cfg;
    struct session s;

    log_init("relay-session");
    if (argc < 2)
        log_fatal(100, "usage: relay-session program [arg ...]");
    settings_load(&cfg, log_warn);
    /* One from our own caller means nothing here, and must not reach the chain. (log_init
     * has opened 0, 1 and 2, so the pipe gets higher numbers and is never taken for them.) */
    unsetenv("RELAY_SESSION_FD");
    memset(&s, 0, sizeof s);
    s.cfg = &cfg;
    s.sock = -1;
    /* RELAY_SESSION_REFRESH is opt-in: a bad value leaves it off. */
    s.refresh = cfg.session_refresh.on;
    if (cfg.session_refresh.invalid != NULL)
        log_warn("RELAY_SESSION_REFRESH must be 0 or 1, not \"%s\": not refreshing",
                 cfg.session_refresh.invalid);
    s.interval = cfg.expiry / 3 > 1 ? cfg.expiry / 3 : 1;
    if (client_key(&s) != 0)
        run_alone(argv + 1);

    int pfd[2];
    if (pipe(pfd) != 0) {
        log_warn("unable to create a pipe: %s: nothing recorded", strerror(errno));
        run_alone(argv + 1);
    }
    fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
    fcntl(pfd[1], F_SETFD, FD_CLOEXEC);

    /* TERM, HUP, INT and CHLD wait until the parent is ready for them (see watch). The
     * child gets the mask back before its exec, and keeps the dispositions it inherited. */
    sigset_t block, mask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &mask);

    child = fork();
    if (child < 0) {
        log_warn("unable to fork: %s: nothing recorded", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        sigprocmask(SIG_SETMASK, &mask, NULL);
        run_alone(argv + 1);
    }
    if (child == 0)
        child_main(argv + 1, pfd[1], &mask);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = forward;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = child_ended;
    sigaction(SIGCHLD, &sa, NULL);
    close(pfd[1]);
    s.fd = pfd[0];
    fcntl(s.fd, F_SETFL, O_NONBLOCK);
    /* Only a refreshed session needs the connection watched; without the refresh this
     * process holds nothing of it, as ever. */
    if (s.refresh)
        s.sock = watch_client();
    close_others(s.fd, s.sock);
    int status = watch(&s, &mask);
    if (s.fd >= 0)
        close(s.fd);
    if (s.sock >= 0)
        close(s.sock);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 111;
}
