/* unit-log.c: the one module that prints. Descriptor 2 is a datagram socket while a line is
 * logged, so that each write(2) arrives as a datagram of its own: a line must come as exactly
 * one, whole ("prog: warning: ...", "prog: fatal: ..." and the exit code, "prog: ..."), cut
 * to one line when it is long, with everything outside printable ASCII shown as '?'. Also
 * log_init's descriptors 0, 1 and 2, log_exec, and syslog mode, where the test can put a
 * socket of its own at /dev/log (a private mount namespace, whose /dev also lacks the
 * /dev/null that log_init would open; skipped where that is not allowed). */
#define _GNU_SOURCE /* unshare, CLONE_NEWNS, mount */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "unit.h"

#define PROG "unit-log"

/* The datagram socket pair: lines are written to pair[1] (put on descriptor 2), read from
 * pair[0]. */
static int pair[2];
static int saved_err;

struct dgram {
    char text[4096];
    size_t len;
};

static void fail_setup(const char *what)
{
    printf("# unable to %s: %s\n", what, strerror(errno));
    exit(1);
}

static void capture_on(void)
{
    fflush(stderr);
    if (dup2(pair[1], 2) < 0)
        fail_setup("capture stderr");
}

static void capture_off(void)
{
    if (dup2(saved_err, 2) < 0)
        fail_setup("restore stderr");
}

/* Every datagram waiting on fd (at most max), without blocking; how many there were. A
 * socket pair queues only a few datagrams, so each test reads after every line it logs. */
static size_t drain(int fd, struct dgram *d, size_t max)
{
    size_t n = 0;
    static struct dgram spare; /* what does not fit in d, read and dropped */
    for (;;) {
        struct dgram *to = n < max ? &d[n] : &spare;
        ssize_t r = recv(fd, to->text, sizeof to->text - 1, MSG_DONTWAIT);
        if (r < 0)
            return n;
        to->len = (size_t)r;
        to->text[r] = '\0';
        n++;
    }
}

/* The one datagram that the call logged, checked against want (exactly, NULs and all). */
static int check_one(const char *file, int line, const char *want, size_t wlen, const char *what)
{
    struct dgram d[4];
    size_t n = drain(pair[0], d, 4);
    int pass = unit_check(file, line, n == 1, "%s: one write (%zu)", what, n);
    if (n >= 1) {
        pass &= unit_check(file, line, d[0].len == wlen && memcmp(d[0].text, want, wlen) == 0,
                           "%s: the line", what);
        if (d[0].len != wlen || memcmp(d[0].text, want, wlen) != 0) {
            unit_note("got  (%zu bytes): %.*s", d[0].len, (int)d[0].len, d[0].text);
            unit_note("want (%zu bytes): %.*s", wlen, (int)wlen, want);
        }
    }
    return pass;
}

#define CHECK_ONE(want, what) check_one(__FILE__, __LINE__, (want), strlen(want), (what))

static void test_levels(void)
{
    capture_on();
    log_warn("unable to open %s: %s", "/var/lib/relaylease", "Permission denied");
    capture_off();
    CHECK_ONE(PROG ": warning: unable to open /var/lib/relaylease: Permission denied\n",
              "log_warn");

    capture_on();
    log_info("granted %s (%s)", "192.0.2.7", "bob");
    capture_off();
    CHECK_ONE(PROG ": granted 192.0.2.7 (bob)\n", "log_info");

    capture_on();
    log_warn("%s", "");
    capture_off();
    CHECK_ONE(PROG ": warning: \n", "an empty warning is still a line");

    /* errno is the caller's still: a program logs, then goes on to look at it. */
    {
        static log_fn *const fns[] = {log_warn, log_info};
        static const char *const names[] = {"log_warn", "log_info"};
        for (int i = 0; i < 2; i++) {
            capture_on();
            errno = ENOSPC;
            fns[i]("x");
            int e = errno;
            capture_off();
            drain(pair[0], NULL, 0);
            CHECK_LONG(e, ENOSPC, "%s keeps errno", names[i]);
        }
    }
    {
        /* A write that fails (descriptor 2 closed) is swallowed, and errno kept too. */
        fflush(stderr);
        close(2);
        errno = ERANGE;
        log_warn("nowhere to go");
        int e = errno;
        capture_off();
        CHECK_LONG(e, ERANGE, "a line that cannot be written: errno kept, no crash");
    }
}

/* log_fatal in a child: its line, then exit(code). */
static void check_fatal(int code)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        fail_setup("fork");
    if (pid == 0) {
        if (dup2(pair[1], 2) < 0)
            _exit(99);
        log_fatal(code, "unable to read %s", "/etc/relaylease");
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        fail_setup("wait");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == code, "log_fatal(%d) exits %d (status %#x)", code,
          code, (unsigned)st);
    CHECK_ONE(PROG ": fatal: unable to read /etc/relaylease\n", "log_fatal's line");
}

/* Long messages: up to some bound a message arrives whole; beyond it, cut to that bound, and
 * still one line ending in its newline. The bound is found, not assumed: it is what the
 * longest message gives, and every length must agree with it. */
static void test_long(void)
{
    static char msg[8192];
    const char *prefix = PROG ": warning: ";
    size_t plen = strlen(prefix);
    struct dgram d[4];

    memset(msg, 'x', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    capture_on();
    log_warn("%s", msg);
    capture_off();
    size_t n = drain(pair[0], d, 4);
    if (!CHECK(n == 1, "an 8 KiB message: one write (%zu)", n))
        return;
    size_t bound = d[0].len - 1; /* the line's text, without its newline */
    CHECK(d[0].len >= 2 && d[0].text[d[0].len - 1] == '\n', "an 8 KiB message ends in a newline");
    CHECK(memchr(d[0].text, '\n', d[0].len - 1) == NULL, "and holds no other");
    CHECK(d[0].len > plen && memcmp(d[0].text, prefix, plen) == 0 &&
              strspn(d[0].text + plen, "x") == bound - plen,
          "it is the prefix and the start of the message");
    CHECK(bound >= 1000 && bound < sizeof msg, "a line holds at least 1000 bytes (%zu)", bound);

    /* Every length around the bound: whole below and at it, cut to it beyond. */
    int wrong = 0;
    for (size_t len = bound - plen - 40; len <= bound - plen + 40; len++) {
        msg[len] = '\0';
        capture_on();
        log_warn("%s", msg);
        capture_off();
        msg[len] = 'x';
        n = drain(pair[0], d, 4);
        size_t want = plen + len < bound ? plen + len : bound;
        if (n != 1 || d[0].len != want + 1 || d[0].text[want] != '\n' ||
            memcmp(d[0].text, prefix, plen) != 0 || strspn(d[0].text + plen, "x") != want - plen) {
            if (wrong++ < 3)
                unit_note("a message of %zu bytes: %zu writes, the first %zu bytes", len, n,
                          n > 0 ? d[0].len : 0);
        }
    }
    CHECK(wrong == 0, "messages of %zu to %zu bytes: whole up to a line of %zu, cut to it beyond",
          bound - plen - 40, bound - plen + 40, bound);

    /* A long info line is cut the same way, to the same line length. */
    capture_on();
    log_info("%s", msg);
    capture_off();
    n = drain(pair[0], d, 4);
    CHECK(n == 1 && d[0].len == bound + 1 && d[0].text[bound] == '\n',
          "an 8 KiB log_info line is cut to the same length");
}

/* Control bytes from the environment or a store file are shown as '?': no forged line. */
static void test_control(void)
{
    capture_on();
    log_warn("bad user %s", "bob\n" PROG ": granted 10.0.0.1");
    capture_off();
    CHECK_ONE(PROG ": warning: bad user bob?" PROG ": granted 10.0.0.1\n",
              "a newline in a message is no second line");

    capture_on();
    log_info("%s", "a\rb\tc\x1b[31md\x7f" "e\x80" "f\xff" "g");
    capture_off();
    CHECK_ONE(PROG ": a?b?c?[31md?e?f?g\n", "CR, tab, escape, DEL and 8-bit bytes are '?'");

    capture_on();
    log_warn("a%cb", 0);
    capture_off();
    CHECK_ONE(PROG ": warning: a?b\n", "a NUL does not cut the line short");

    /* Every byte value: printable ASCII as it is, the rest '?'. */
    char all[256], want[512];
    for (int i = 1; i < 256; i++)
        all[i - 1] = (char)i;
    all[255] = '\0';
    int w = snprintf(want, sizeof want, "%s: ", PROG);
    for (int i = 1; i < 256; i++)
        want[w++] = (char)(i >= 0x20 && i <= 0x7e ? i : '?');
    want[w++] = '\n';
    want[w] = '\0';
    capture_on();
    log_info("%s", all);
    capture_off();
    check_one(__FILE__, __LINE__, want, (size_t)w, "bytes 1 to 255");

    /* The program's name is shown as safely as the message. */
    log_init("bad\nname\x1b");
    capture_on();
    log_warn("x");
    capture_off();
    log_init(PROG);
    CHECK_ONE("bad?name?: warning: x\n", "control bytes in the program's name are '?' too");
}

/* Is fd open on the same file as st? */
static int same(int fd, const struct stat *st)
{
    struct stat now;
    return fstat(fd, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino;
}

/* log_init opens /dev/null on each of 0, 1 and 2 that is closed, and on no other. The child
 * says what it found in its exit status, one bit per finding. */
static void test_init(void)
{
    struct stat null;
    if (stat("/dev/null", &null) != 0)
        fail_setup("stat /dev/null");

    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        fail_setup("fork");
    if (pid == 0) {
        close(0);
        close(1);
        close(2);
        log_init(PROG);
        int bad = 0;
        for (int fd = 0; fd <= 2; fd++) {
            struct stat st;
            if (fstat(fd, &st) != 0 || st.st_rdev != null.st_rdev || !S_ISCHR(st.st_mode))
                bad |= 1 << fd;
        }
        int next = open("/dev/null", O_RDONLY);
        if (next < 3)
            bad |= 8;
        log_warn("to /dev/null"); /* and not into the file just opened */
        _exit(bad);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        fail_setup("wait");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "log_init with 0, 1 and 2 closed: each is /dev/null, the next open is 3 or more "
          "(status %#x)", (unsigned)st);

    int in[2], err[2];
    if (pipe(in) != 0 || pipe(err) != 0)
        fail_setup("make pipes");
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        fail_setup("fork");
    if (pid == 0) {
        struct stat s0, s2;
        if (dup2(in[0], 0) < 0 || dup2(err[1], 2) < 0 || fstat(0, &s0) != 0 ||
            fstat(2, &s2) != 0)
            _exit(99);
        close(1);
        log_init(PROG);
        struct stat s1;
        int bad = 0;
        if (!same(0, &s0))
            bad |= 1;
        if (fstat(1, &s1) != 0 || s1.st_rdev != null.st_rdev || !S_ISCHR(s1.st_mode))
            bad |= 2;
        if (!same(2, &s2))
            bad |= 4;
        _exit(bad);
    }
    close(in[0]);
    close(in[1]);
    close(err[0]);
    close(err[1]);
    if (waitpid(pid, &st, 0) != pid)
        fail_setup("wait");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "log_init with only 1 closed: 1 is /dev/null, 0 and 2 are left alone (status %#x)",
          (unsigned)st);
}

/* log_exec: the program from PATH with our environment, or a fatal line and 111. path: the
 * child's PATH, or NULL for ours. */
static void check_exec(char **argv, const char *path, int code, const char *line,
                       const char *what)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        fail_setup("fork");
    if (pid == 0) {
        if (dup2(pair[1], 2) < 0 || (path != NULL && setenv("PATH", path, 1) != 0))
            _exit(99);
        log_exec(argv);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        fail_setup("wait");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == code, "%s: exits %d (status %#x)", what, code,
          (unsigned)st);
    if (line != NULL) {
        CHECK_ONE(line, what);
    } else {
        struct dgram d[2];
        CHECK_LONG(drain(pair[0], d, 2), 0, "%s: says nothing", what);
    }
}

static void test_exec(void)
{
    char want[512];
    char *ok[] = {"sh", "-c", "[ \"$UNIT_LOG_ENV\" = kept ] && exit 7; exit 1", NULL};
    if (setenv("UNIT_LOG_ENV", "kept", 1) != 0)
        fail_setup("setenv");
    check_exec(ok, NULL, 7, NULL, "log_exec of sh from PATH, with our environment");

    char *missing[] = {"/nonexistent/unit-log-prog", NULL};
    snprintf(want, sizeof want, PROG ": fatal: unable to run /nonexistent/unit-log-prog: %s\n",
             strerror(ENOENT));
    check_exec(missing, NULL, 111, want, "log_exec of a missing program");

    char *notinpath[] = {"unit-log-no-such-program", NULL};
    snprintf(want, sizeof want, PROG ": fatal: unable to run unit-log-no-such-program: %s\n",
             strerror(ENOENT));
    /* A PATH of our own: one with a directory we may not search would say EACCES. */
    check_exec(notinpath, "/nonexistent/bin:/nonexistent/sbin", 111, want,
               "log_exec of a name not in PATH");
}

/* ---- syslog mode ----------------------------------------------------------------------------
 *
 * syslog(3) writes to /dev/log, a name the program cannot choose. A child in a mount
 * namespace of its own puts a tmpfs on /dev and binds a datagram socket at /dev/log, then
 * reads what each call sends there. Its checks are printed by the child, and its status
 * counted by the parent. */

/* The message syslog(3) sent: the datagram, which starts "<PRI>" and ends with
 * "IDENT[PID]: TEXT" (the timestamp between is not ours). */
static int check_syslog(const char *file, int line, int fd, int pri, const char *text,
                        const char *what)
{
    struct dgram d[4];
    char head[16], tail[2048];
    size_t n = drain(fd, d, 4);
    snprintf(head, sizeof head, "<%d>", pri);
    snprintf(tail, sizeof tail, "%s[%ld]: %s", PROG, (long)getpid(), text);
    int pass = unit_check(file, line, n == 1, "%s: one message (%zu)", what, n);
    if (n >= 1) {
        size_t tl = strlen(tail);
        int ok = strncmp(d[0].text, head, strlen(head)) == 0 && d[0].len >= tl &&
                 memcmp(d[0].text + d[0].len - tl, tail, tl) == 0;
        pass &= unit_check(file, line, ok, "%s: %s...%s[PID]: %s", what, head, PROG, text);
        if (!ok)
            unit_note("got: %.*s", (int)d[0].len, d[0].text);
    }
    return pass;
}

#define CHECK_SYSLOG(fd, pri, text, what) \
    check_syslog(__FILE__, __LINE__, (fd), (pri), (text), (what))

/* In the child: a private /dev with our socket at /dev/log. The socket's descriptor, or -1
 * if this machine does not let us (the reason in *why). */
static int private_dev_log(const char **why)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWNS) != 0) {
        /* Not root: a user namespace of our own, mapped to our ids, lets us mount. */
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
            *why = "no mount namespace for this user";
            return -1;
        }
        char map[64];
        int fd;
        if ((fd = open("/proc/self/setgroups", O_WRONLY)) >= 0) {
            (void)!write(fd, "deny", 4);
            close(fd);
        }
        snprintf(map, sizeof map, "0 %lu 1", (unsigned long)uid);
        if ((fd = open("/proc/self/uid_map", O_WRONLY)) < 0 ||
            write(fd, map, strlen(map)) < 0 || close(fd) != 0) {
            *why = "no uid map";
            return -1;
        }
        snprintf(map, sizeof map, "0 %lu 1", (unsigned long)gid);
        if ((fd = open("/proc/self/gid_map", O_WRONLY)) < 0 ||
            write(fd, map, strlen(map)) < 0 || close(fd) != 0) {
            *why = "no gid map";
            return -1;
        }
    }
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", "/dev", "tmpfs", 0, "mode=0755") != 0) {
        *why = "no private /dev";
        return -1;
    }
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, "/dev/log");
    if (s < 0 || bind(s, (struct sockaddr *)&sun, sizeof sun) != 0) {
        *why = "no socket at /dev/log";
        return -1;
    }
    return s;
}

static int syslog_child(void)
{
    const char *why = "";
    unit_failures = 0; /* the parent's, so far: this status is about the checks here */
    int s = private_dev_log(&why);
    if (s < 0) {
        unit_skip(why, "syslog mode");
        return 0;
    }
    /* With no /dev/null to be had, log_init puts "/" (where writes fail) on a closed 0, 1
     * or 2: the next file opened still does not become one of them. */
    fflush(stdout);
    pid_t kid = fork();
    if (kid == 0) {
        struct stat root, st;
        close(0);
        close(2);
        log_init(PROG);
        int bad = stat("/", &root) != 0;
        if (!same(0, &root) || fstat(0, &st) != 0 || !S_ISDIR(st.st_mode))
            bad |= 2;
        if (!same(2, &root))
            bad |= 4;
        int next = open("/proc/self/status", O_RDONLY);
        if (next < 3)
            bad |= 8;
        log_warn("into a directory: lost, and no harm done");
        _exit(bad);
    }
    int kst;
    if (kid < 0 || waitpid(kid, &kst, 0) != kid)
        fail_setup("run log_init without /dev/null");
    CHECK(WIFEXITED(kst) && WEXITSTATUS(kst) == 0,
          "with no /dev/null, log_init puts \"/\" on a closed 0 and 2 (status %#x)",
          (unsigned)kst);

    /* Anything on descriptor 2 from here on is a line that should have gone to syslog. */
    if (dup2(pair[1], 2) < 0)
        fail_setup("capture stderr");
    log_syslog();
    log_warn("unable to open %s", "/var/lib/relaylease");
    CHECK_SYSLOG(s, LOG_MAIL | LOG_WARNING, "warning: unable to open /var/lib/relaylease",
                 "log_warn through syslog, facility mail, level warning");
    log_info("granted %s", "192.0.2.7");
    CHECK_SYSLOG(s, LOG_MAIL | LOG_INFO, "granted 192.0.2.7", "log_info: level info, no level word");
    log_warn("forged\n%s: granted 10.0.0.1\x1b", PROG);
    CHECK_SYSLOG(s, LOG_MAIL | LOG_WARNING, "warning: forged?" PROG ": granted 10.0.0.1?",
                 "control bytes are '?' in syslog mode too");
    {
        static char msg[8192];
        struct dgram d[2];
        memset(msg, 'x', sizeof msg - 1);
        log_info("%s", msg);
        size_t n = drain(s, d, 2);
        /* Shorter than what recv could take: cut by log.c, not by us. */
        CHECK(n == 1 && d[0].len > 1000 && d[0].len < sizeof d[0].text - 1 &&
                  d[0].text[d[0].len - 1] == 'x',
              "an 8 KiB message: one message, cut, with no newline added (%zu bytes)",
              n > 0 ? d[0].len : 0);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        log_fatal(100, "usage: %s", PROG);
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        fail_setup("run log_fatal");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 100, "log_fatal through syslog exits 100");
    {
        /* The child's pid is its own: check the text by hand. */
        struct dgram d[2];
        char tail[128];
        size_t n = drain(s, d, 2);
        snprintf(tail, sizeof tail, "%s[%ld]: fatal: usage: %s", PROG, (long)pid, PROG);
        size_t tl = strlen(tail);
        CHECK(n == 1 && strncmp(d[0].text, "<19>", 4) == 0 && d[0].len >= tl &&
                  memcmp(d[0].text + d[0].len - tl, tail, tl) == 0,
              "log_fatal through syslog: <19>...%s[PID]: fatal: usage: %s", PROG, PROG);
    }
    struct dgram d[2];
    CHECK_LONG(drain(pair[0], d, 2), 0, "nothing was written to descriptor 2 in syslog mode");
    return unit_failures != 0;
}

static void test_syslog(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        fail_setup("fork");
    if (pid == 0)
        _exit(syslog_child());
    int st;
    if (waitpid(pid, &st, 0) != pid)
        fail_setup("wait");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the syslog checks' process ended well (%#x)",
          (unsigned)st);
}

int main(void)
{
    /* A check that blocks (a full socket queue) fails instead of hanging. */
    alarm(120);
    log_init(PROG);
    saved_err = dup(2);
    if (saved_err < 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, pair) != 0)
        fail_setup("make a datagram socket pair");

    test_levels();
    check_fatal(100);
    check_fatal(111);
    test_long();
    test_control();
    test_init();
    test_exec();
    test_syslog();
    return unit_done();
}
