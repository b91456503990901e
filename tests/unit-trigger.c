/* unit-trigger.c: cdb mode's coalesced rebuilds (cdb/trigger.h), through its public calls
 * only, in a scratch directory, with the settings read from the environment as a program
 * reads them. relay-cdb is played by this very program: started with relay-cdb's arguments
 * (-i or -s, the cdb, its temp file) it is a fake build that notes what it was asked and
 * does what files beside the cdb say (wait at a gate, hang, fail, log a login in).
 *
 * What a caller can see, and what this checks: the journal a login appends its key to (once
 * per call, whole lines, from any number of processes; never lost to a builder taking it),
 * the request flag (the lock's first byte, trigger.h), a waited rebuild and its outcome, a
 * build that covers a waiting caller even when the builder never lets go of the lock, a
 * detached builder that keeps none of the login's descriptors and ends, and the bounds: a
 * hung build is killed and reaped, a lock held for good ends a wait, a journal locked for
 * good costs a login a full rescan, never a hang. Nothing is timed: each wait here is a hang
 * guard (alarm), never a measure. The two 30 s bounds of trigger.c (a build's run, a caller's
 * wait) cannot be set from outside, so those two checks take 30 s each; they run at once.
 *
 * The test is a child subreaper: a detached builder, once its parent has gone, is reparented
 * to it, so that the test can wait for every builder to end and see how it ended. */
#define _GNU_SOURCE /* prctl's subreaper, dup3, getsid; mkdtemp, nftw, utimensat */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cdb/trigger.h"
#include "settings.h"
#include "unit.h"
#include "unit-files.h"

static char self[PATH_MAX];         /* this program, the fake relay-cdb */
static char warn_path[PATH_MAX];    /* where collect puts each warning, one line each */

/* The reporter passed to trigger_rebuild, as a program passes log_warn. It may be called in
 * the test, in a child that failed to exec, or in a detached builder: each line is one
 * O_APPEND write to a file, so that all of them can be read back. */
static void collect(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void collect(const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    int fd = open(warn_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        (void)!write(fd, line, (size_t)n);
        close(fd);
    }
}

/* Append a formatted line to dir/name, in one write. */
static void note_to(const char *dir, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note_to(const char *dir, const char *name, const char *fmt, ...)
{
    char p[PATH_MAX + 64], line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0 && n > 0) {
        (void)!write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
    if (fd >= 0)
        close(fd);
}

static int exists_in(const char *dir, const char *name)
{
    char p[PATH_MAX + 64];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return lstat(p, &st) == 0;
}

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    (void)nanosleep(&t, NULL);
}

/* ---- the fake relay-cdb ---------------------------------------------------------------------
 *
 * Files beside the cdb steer it: "gate" (wait while it exists), "hang" (note the pid in
 * hang.pid, ignore SIGTERM and never end), "fail" (exit 111), "stream" (log a login in during
 * every build), "login-once" (the same, once). It notes "start MODE PID PPID SID UID EUID"
 * and "end MODE PID" in builds.log, its arguments in args, and its stdin in stdin.copy. */
static int fake_build(char **argv)
{
    char dir[PATH_MAX];
    alarm(300); /* a gate never opened must not leave it behind; after the test's own guard */
    const char *slash = strrchr(argv[2], '/');
    if (slash == NULL || (size_t)(slash - argv[2]) >= sizeof dir)
        return 100;
    memcpy(dir, argv[2], (size_t)(slash - argv[2]));
    dir[slash - argv[2]] = '\0';
    path_of(warn_path, sizeof warn_path, dir, "warnings");

    note_to(dir, "builds.log", "start %s %ld %ld %ld %ld %ld\n", argv[1], (long)getpid(),
            (long)getppid(), (long)getsid(0), (long)getuid(), (long)geteuid());
    note_to(dir, "args", "%s %s %s\n", argv[1], argv[2], argv[3]);
    {
        char p[PATH_MAX + 64], buf[4096];
        ssize_t r;
        snprintf(p, sizeof p, "%s/stdin.copy", dir);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        while (fd >= 0 && (r = read(0, buf, sizeof buf)) > 0)
            (void)!write(fd, buf, (size_t)r);
        if (fd >= 0)
            close(fd);
    }
    if (exists_in(dir, "hang")) {
        note_to(dir, "hang.pid", "%ld\n", (long)getpid());
        signal(SIGTERM, SIG_IGN); /* its alarm still ends it, should SIGKILL never come */
        for (;;)
            pause();
    }
    while (exists_in(dir, "gate"))
        pause_ms(10);
    char once[PATH_MAX + 64];
    snprintf(once, sizeof once, "%s/login-once", dir);
    if (exists_in(dir, "stream") || unlink(once) == 0) {
        struct settings cfg;
        settings_load(&cfg, collect);
        note_to(dir, "builds.log", "login %ld\n", (long)getpid());
        (void)trigger_rebuild(&cfg, TRIGGER_DETACH, "198.51.100.77", collect);
    }
    note_to(dir, "builds.log", "end %s %ld\n", argv[1], (long)getpid());
    return exists_in(dir, "fail") ? 111 : 0;
}

/* ---- the test's side ------------------------------------------------------------------------ */

/* Arm the hang guard for a section: if a wait in it hangs for 120 s, the test fails, naming
 * it. The alarm is armed again before each wait that could be long. */
static void guard(const char *section)
{
    snprintf(alarm_msg, sizeof alarm_msg,
             "not ok - nothing hung in %s (a wait did, for 120 s)\n"
             "# scratch directory left: %s\n",
             section, top);
    alarm(120);
}

/* One cdb mode setup: a directory of its own under top, with the rules text in it. */
struct cdbdir {
    char dir[PATH_MAX], cdb[PATH_MAX], rules[PATH_MAX], lock[PATH_MAX], journal[PATH_MAX],
        taken[PATH_MAX];
    struct settings cfg;
};

static const char RULES_TEXT[] = "127.:allow\n:allow\n";

static void set_env(const char *name, const char *value)
{
    if (value == NULL ? unsetenv(name) != 0 : setenv(name, value, 1) != 0)
        fail_setup("set", name);
}

/* Make dir name under top, and settings for a cdb in it; warnings go to name/warnings. */
static void cdb_setup(struct cdbdir *c, const char *name)
{
    guard(name);
    path_of(c->dir, sizeof c->dir, top, name);
    if (mkdir(c->dir, 0755) != 0)
        fail_setup("create", c->dir);
    path_of(c->cdb, sizeof c->cdb, c->dir, "rules.cdb");
    path_of(c->rules, sizeof c->rules, c->dir, "rules.txt");
    path_of(c->lock, sizeof c->lock, c->dir, "rules.cdb.lock");
    path_of(c->journal, sizeof c->journal, c->dir, "rules.cdb" TRIGGER_JOURNAL);
    path_of(c->taken, sizeof c->taken, c->dir, "rules.cdb" TRIGGER_TAKEN);
    path_of(warn_path, sizeof warn_path, c->dir, "warnings");
    put_str(c->dir, "rules.txt", RULES_TEXT);
    set_env("RELAY_CDB", c->cdb);
    set_env("RELAY_CDB_RULES", c->rules);
    set_env("RELAY_CDB_PROG", self);
    settings_load(&c->cfg, collect);
}

/* The file at p into buf (NUL-terminated; empty if there is none). */
static size_t slurp_path(const char *p, char *buf, size_t size)
{
    buf[0] = '\0';
    int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t n = 0;
    ssize_t r;
    while (n < size - 1 && (r = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd);
    return n;
}

static size_t slurp(const char *dir, const char *name, char *buf, size_t size)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return slurp_path(p, buf, size);
}

/* The warnings said since the last call, and forget them. */
static char said[16384];
static const char *warnings(void)
{
    slurp_path(warn_path, said, sizeof said);
    return said;
}

static void forget_warnings(void)
{
    (void)unlink(warn_path);
}

/* Word n (0 the first) of the line at p, a decimal number; -1 if it is not one. */
static long field(const char *p, int n)
{
    for (int i = 0; i < n; i++) {
        size_t word = strcspn(p, " \n");
        if (p[word] != ' ')
            return -1;
        p += word + 1;
    }
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    return end == p || errno != 0 || (*end != ' ' && *end != '\n' && *end != '\0') ? -1 : v;
}

/* In a builds log: after the line asked, a full rescan starts, and it ends before the line
 * returned. */
static int covered(const char *text, const char *asked, const char *returned)
{
    const char *a = strstr(text, asked);
    const char *start = a != NULL ? strstr(a, "start -s ") : NULL;
    char endline[64];
    if (start == NULL)
        return 0;
    snprintf(endline, sizeof endline, "end -s %ld\n", field(start, 2));
    const char *end = strstr(start, endline);
    return end != NULL && strstr(end, returned) != NULL;
}

static size_t count_lines(const char *text, const char *prefix)
{
    size_t n = 0, plen = strlen(prefix);
    for (const char *p = text; *p != '\0';) {
        if (strncmp(p, prefix, plen) == 0)
            n++;
        const char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return n;
}

/* The request flag: the lock's first byte (trigger.h), or '-' if there is none. */
static int request_flag(const struct cdbdir *c)
{
    char b[2];
    return slurp(c->dir, "rules.cdb.lock", b, sizeof b) == 1 ? b[0] : '-';
}

/* Nobody holds the builder's lock now. */
static int lock_free(const struct cdbdir *c)
{
    int fd = open(c->lock, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;
    int ok = flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd);
    return ok;
}

/* Wait (alarm: a hang guard) until no build runs and none is asked for. The builder holds the
 * lock until it has seen the flag clear, so this cannot hold between two builds of a run. */
static void wait_idle(const struct cdbdir *c)
{
    while (request_flag(c) == '1' || !lock_free(c))
        pause_ms(10);
}

/* Wait until the builds log holds at least n lines starting with prefix. */
static void wait_lines(const struct cdbdir *c, const char *prefix, size_t n)
{
    char log[16384];
    for (;;) {
        slurp(c->dir, "builds.log", log, sizeof log);
        if (count_lines(log, prefix) >= n)
            return;
        pause_ms(10);
    }
}

/* Reap every child and every builder reparented to us, waiting for them to end; how many,
 * and in *bad how many did not exit 0. */
static int reap_all(int *bad)
{
    int n = 0, st;
    *bad = 0;
    for (;;) {
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0) {
            if (errno == EINTR)
                continue;
            return n;
        }
        n++;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            (*bad)++;
    }
}

/* No child of ours, nor a builder reparented to us, is left to end. */
static int no_children(void)
{
    int st;
    return waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

/* A lock on path, held (how) until the descriptor is closed. */
static int hold(const char *path, int how)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, how) != 0)
        fail_setup("lock", path);
    return fd;
}

/* ---- trigger_dir_of, trigger_dir_stat -------------------------------------------------- */

static void test_dir_of(void)
{
    guard("trigger_dir_of");
    static const struct {
        const char *path, *dir;
    } cases[] = {
        {"/var/lib/relaylease/rules.cdb", "/var/lib/relaylease"},
        {"/rules.cdb", "/"},
        {"rules.cdb", "."},
        {"", "."},
        {"a/rules.cdb", "a"},
        {"/a/b/", "/a/b"},
        {"//x", "/"},
    };
    char dir[PATH_MAX], path[PATH_MAX + 8];
    struct stat st, want;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(dir, 'z', sizeof dir);
        int r = trigger_dir_of(dir, cases[i].path);
        CHECK(r == 0 && strcmp(dir, cases[i].dir) == 0, "trigger_dir_of(\"%s\") is \"%s\"",
              cases[i].path, cases[i].dir);
    }
    /* The longest directory that fits in PATH_MAX bytes, and one byte more. */
    memset(path, 'd', sizeof path);
    path[0] = '/';
    path[PATH_MAX - 1] = '/';
    path[PATH_MAX] = 'f';
    path[PATH_MAX + 1] = '\0';
    CHECK(trigger_dir_of(dir, path) == 0 && strlen(dir) == PATH_MAX - 1,
          "a directory of PATH_MAX - 1 bytes fits");
    path[PATH_MAX - 1] = 'd';
    path[PATH_MAX] = '/';
    errno = 0;
    CHECK(trigger_dir_of(dir, path) == -1 && errno == ENAMETOOLONG,
          "a directory of PATH_MAX bytes: -1, ENAMETOOLONG");

    char cdb[PATH_MAX];
    path_of(cdb, sizeof cdb, top, "rules.cdb");
    CHECK(trigger_dir_stat(cdb, &st) == 0 && stat(top, &want) == 0 && st.st_ino == want.st_ino &&
              st.st_dev == want.st_dev,
          "trigger_dir_stat stats the directory that holds the cdb");
    path_of(cdb, sizeof cdb, top, "missing/rules.cdb");
    errno = 0;
    CHECK(trigger_dir_stat(cdb, &st) == -1 && errno == ENOENT,
          "trigger_dir_stat of a missing directory: -1, ENOENT");
}

/* ---- cdb mode off, or set wrong ------------------------------------------------------------ */

static void test_settings(void)
{
    guard("the settings");
    struct settings cfg;
    char dir[PATH_MAX], p[PATH_MAX], *longpath;

    path_of(dir, sizeof dir, top, "settings");
    if (mkdir(dir, 0755) != 0)
        fail_setup("create", dir);
    path_of(warn_path, sizeof warn_path, dir, "warnings");
    path_of(p, sizeof p, dir, "rules.txt");
    set_env("RELAY_CDB_PROG", self);
    set_env("RELAY_CDB_RULES", p);

    set_env("RELAY_CDB", NULL);
    settings_load(&cfg, collect);
    CHECK(trigger_rebuild(&cfg, TRIGGER_WAIT, "192.0.2.1", collect) == 0 &&
              trigger_rebuild(&cfg, TRIGGER_DETACH, NULL, collect) == 0,
          "cdb mode off (RELAY_CDB unset): 0");
    set_env("RELAY_CDB", "");
    settings_load(&cfg, collect);
    CHECK(trigger_rebuild(&cfg, TRIGGER_DETACH, "192.0.2.1", collect) == 0,
          "cdb mode off (RELAY_CDB empty): 0");
    CHECK_STR(warnings(), "", "cdb mode off: nothing said");

    static const struct {
        const char *cdb, *rules, *said;
    } bad[] = {
        {"rules.cdb", "/r", "RELAY_CDB must be an absolute path, not \"rules.cdb\": the rules "
                            "cdb is not rebuilt\n"},
        {"/x/rules.cdb", NULL, "RELAY_CDB_RULES must be the absolute path of the rules text: "
                               "the rules cdb is not rebuilt\n"},
        {"/x/rules.cdb", "rules.txt", "RELAY_CDB_RULES must be the absolute path of the rules "
                                      "text: the rules cdb is not rebuilt\n"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set_env("RELAY_CDB", bad[i].cdb);
        set_env("RELAY_CDB_RULES", bad[i].rules);
        settings_load(&cfg, collect);
        forget_warnings();
        CHECK(trigger_rebuild(&cfg, TRIGGER_DETACH, "192.0.2.1", collect) == -1,
              "misconfigured (RELAY_CDB \"%s\", RELAY_CDB_RULES \"%s\"): -1", bad[i].cdb,
              bad[i].rules ? bad[i].rules : "unset");
        CHECK_STR(warnings(), bad[i].said, "and one line says what is wrong");
    }

    /* A RELAY_CDB whose lock or journal name would not fit a path. */
    longpath = malloc(PATH_MAX);
    if (longpath == NULL)
        fail_setup("allocate", "a path");
    memset(longpath, 'c', PATH_MAX - 1);
    longpath[0] = '/';
    longpath[PATH_MAX - 8] = '\0';
    set_env("RELAY_CDB", longpath);
    set_env("RELAY_CDB_RULES", p);
    settings_load(&cfg, collect);
    forget_warnings();
    CHECK(trigger_rebuild(&cfg, TRIGGER_WAIT, "192.0.2.1", collect) == -1,
          "RELAY_CDB too long for its journal's name: -1");
    CHECK_STR(warnings(), "RELAY_CDB is too long: the rules cdb is not rebuilt\n",
              "and one line says so");
    free(longpath);

    /* The cdb's directory is not there: one line, and no hang. */
    char missing[PATH_MAX];
    path_of(missing, sizeof missing, dir, "nodir/rules.cdb");
    set_env("RELAY_CDB", missing);
    settings_load(&cfg, collect);
    forget_warnings();
    CHECK(trigger_rebuild(&cfg, TRIGGER_DETACH, "192.0.2.1", collect) == -1,
          "a cdb in a directory that is not there: -1");
    CHECK(count_lines(warnings(), "") == 1 && strstr(said, "not rebuilt") != NULL,
          "and one line says so (%s)", said);
}

/* ---- the journal: what a login appends ---------------------------------------------------- */

#define CHILDREN 4
#define PER_CHILD 1000

/* The journal's lines, each counted: key i of child c is "10.0.c.i". Whole lines only; any
 * other line counts in *other. */
static void count_keys(const char *text, int counts[][PER_CHILD], int nc, int *other)
{
    const char *p = text;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        char *dot = NULL, *end = NULL;
        unsigned long c = 0, i = 0;
        if (nl == NULL) {
            (*other)++;
            return;
        }
        if (strncmp(p, "10.0.", 5) == 0) {
            c = strtoul(p + 5, &dot, 10);
            if (*dot == '.')
                i = strtoul(dot + 1, &end, 10);
        }
        if (end == nl && end > dot + 1 && c < (unsigned long)nc && i < PER_CHILD)
            counts[c][i]++;
        else
            (*other)++;
        p = nl + 1;
    }
}

/* CHILDREN processes, each logging PER_CHILD keys in: a key per call. */
static pid_t appenders[CHILDREN];

static void start_appenders(const struct cdbdir *c)
{
    fflush(stdout);
    for (int k = 0; k < CHILDREN; k++) {
        appenders[k] = fork();
        if (appenders[k] < 0)
            fail_setup("fork", "an appender");
        if (appenders[k] == 0) {
            char key[32];
            int bad = 0;
            for (int i = 0; i < PER_CHILD; i++) {
                snprintf(key, sizeof key, "10.0.%d.%d", k, i);
                bad |= trigger_rebuild(&c->cfg, TRIGGER_DETACH, key, collect) != 0;
            }
            _exit(bad);
        }
    }
}

/* Wait for the appenders; how many did not exit 0. */
static int wait_appenders(void)
{
    int bad = 0, st;
    for (int k = 0; k < CHILDREN; k++)
        if (waitpid(appenders[k], &st, 0) != appenders[k] || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0)
            bad++;
    return bad;
}

static int all_once(int counts[][PER_CHILD])
{
    for (int k = 0; k < CHILDREN; k++)
        for (int i = 0; i < PER_CHILD; i++)
            if (counts[k][i] != 1)
                return 0;
    return 1;
}

static void test_journal(void)
{
    struct cdbdir c;
    char text[65536];
    cdb_setup(&c, "journal");

    /* The test holds the builder's lock, as a running build would: no builder starts, and
     * what a login does is all there is to see. */
    int lk = hold(c.lock, LOCK_EX);
    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_DETACH, "192.0.2.1", collect), 0,
               "a login while a build runs: 0");
    slurp(c.dir, "rules.cdb" TRIGGER_JOURNAL, text, sizeof text);
    CHECK_STR(text, "192.0.2.1\n", "its key is in the journal, one line");
    CHECK(request_flag(&c) == '1', "and the request flag is set");
    CHECK_LONG(mode_of(c.journal), 0600, "the journal is made 0600");
    CHECK(trigger_rebuild(&c.cfg, TRIGGER_DETACH, "192.0.2.1", collect) == 0 &&
              trigger_rebuild(&c.cfg, TRIGGER_DETACH, "2001:db8:1:2::_64", collect) == 0 &&
              trigger_rebuild(&c.cfg, TRIGGER_DETACH,
                              "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff_128", collect) == 0,
          "three more logins: 0");
    slurp(c.dir, "rules.cdb" TRIGGER_JOURNAL, text, sizeof text);
    CHECK_STR(text,
              "192.0.2.1\n192.0.2.1\n2001:db8:1:2::_64\n"
              "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff_128\n",
              "one line per call, in order, the longest key whole");
    CHECK_STR(warnings(), "", "nothing said");
    CHECK(!exists_in(c.dir, "builds.log"), "no build started while the lock was held");

    /* Several processes at once: every line lands, whole. */
    (void)unlink(c.journal);
    start_appenders(&c);
    CHECK_LONG(wait_appenders(), 0, "%d processes of %d logins each: every call 0", CHILDREN,
               PER_CHILD);
    {
        static int counts[CHILDREN][PER_CHILD];
        int other = 0;
        slurp(c.dir, "rules.cdb" TRIGGER_JOURNAL, text, sizeof text);
        count_keys(text, counts, CHILDREN, &other);
        CHECK(all_once(counts) && other == 0,
              "every one of the %d keys is in the journal once, and nothing else (%d other)",
              CHILDREN * PER_CHILD, other);
    }

    /* A key that cannot be a journal line is never written: the login asks for a full
     * rescan instead, and says so. */
    {
        static const char *const bad[] = {"", "192.0.2.1\n10.0.0.1", NULL};
        char longkey[200];
        memset(longkey, '1', sizeof longkey - 1);
        longkey[sizeof longkey - 1] = '\0';
        size_t before = slurp(c.dir, "rules.cdb" TRIGGER_JOURNAL, text, sizeof text);
        for (int i = 0; i < 3; i++) {
            const char *key = bad[i] != NULL ? bad[i] : longkey;
            forget_warnings();
            CHECK(trigger_rebuild(&c.cfg, TRIGGER_DETACH, key, collect) == 0,
                  "a login with the key \"%.20s\": 0", key);
            CHECK(count_lines(warnings(), "unable to append to ") == 1 &&
                      count_lines(said, "") == 1 && strstr(said, "asking for a full rebuild"),
                  "one line: a full rebuild instead (%s)", said);
        }
        CHECK_LONG(slurp(c.dir, "rules.cdb" TRIGGER_JOURNAL, text, sizeof text), before,
                   "the journal is as it was");
    }

    /* What is planted under the journal's name is not written to, nor waited for. */
    {
        char victim[PATH_MAX];
        put_str(c.dir, "victim", "precious\n");
        path_of(victim, sizeof victim, c.dir, "victim");
        (void)unlink(c.journal);
        if (symlink(victim, c.journal) != 0)
            fail_setup("link", c.journal);
        forget_warnings();
        CHECK(trigger_rebuild(&c.cfg, TRIGGER_DETACH, "192.0.2.2", collect) == 0 &&
                  count_lines(warnings(), "unable to append to ") == 1,
              "a symbolic link as the journal: 0, and a full rebuild asked for");
        slurp(c.dir, "victim", text, sizeof text);
        CHECK_STR(text, "precious\n", "the link is not written through");
        (void)unlink(c.journal);
        if (mkfifo(c.journal, 0600) != 0)
            fail_setup("make the FIFO", c.journal);
        forget_warnings();
        alarm(120);
        CHECK(trigger_rebuild(&c.cfg, TRIGGER_DETACH, "192.0.2.2", collect) == 0 &&
                  count_lines(warnings(), "unable to append to ") == 1,
              "a FIFO as the journal: 0, a full rebuild asked for, and no hang");
        (void)unlink(c.journal);
    }

    /* A journal whose lock someone keeps: the login waits for it a second at most (the
     * outcome, not the time, is checked: the lock is never let go). */
    {
        put_mode(c.dir, "rules.cdb" TRIGGER_JOURNAL, "", 0, 0600);
        int jl = hold(c.journal, LOCK_EX);
        forget_warnings();
        alarm(120);
        CHECK(trigger_rebuild(&c.cfg, TRIGGER_DETACH, "192.0.2.3", collect) == 0 &&
                  count_lines(warnings(), "unable to append to ") == 1,
              "a journal locked for good: the login returns 0, and asks for a full rebuild "
              "(%s)", said);
        close(jl);
        CHECK_LONG(slurp(c.dir, "rules.cdb" TRIGGER_JOURNAL, text, sizeof text), 0,
                   "and its key is not in the journal");
    }
    close(lk);

    /* The requests above that asked for a full rescan are served by the next build, even one
     * that a login with a good key asks for. */
    forget_warnings();
    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_WAIT, "192.0.2.4", collect), 0,
               "a waited rebuild after them: 0");
    slurp(c.dir, "builds.log", text, sizeof text);
    CHECK(count_lines(text, "start ") == 1 && count_lines(text, "start -s ") == 1,
          "one build, a full rescan (-s), for the keys that did not go into the journal");
    CHECK_STR(warnings(), "", "nothing said");
}

/* ---- trigger_journal_take: the builder's side ----------------------------------------- */

static void test_take(void)
{
    struct cdbdir c;
    char text[65536];
    cdb_setup(&c, "take");

    errno = 0;
    CHECK(trigger_journal_take(c.journal, c.taken) == -1 && errno == ENOENT,
          "no journal: -1, ENOENT");

    int lk = hold(c.lock, LOCK_EX); /* logins, and no builder */
    CHECK(trigger_rebuild(&c.cfg, TRIGGER_DETACH, "192.0.2.1", collect) == 0 &&
              trigger_rebuild(&c.cfg, TRIGGER_DETACH, "192.0.2.2", collect) == 0,
          "two logins");
    int fd = trigger_journal_take(c.journal, c.taken);
    if (CHECK(fd >= 0, "the journal is taken")) {
        ssize_t r = read(fd, text, sizeof text - 1);
        text[r > 0 ? r : 0] = '\0';
        CHECK_STR(text, "192.0.2.1\n192.0.2.2\n", "the descriptor reads what it held");
        close(fd);
    }
    CHECK(!exists_in(c.dir, "rules.cdb" TRIGGER_JOURNAL), "the journal's name is free");
    slurp(c.dir, "rules.cdb" TRIGGER_TAKEN, text, sizeof text);
    CHECK_STR(text, "192.0.2.1\n192.0.2.2\n", "it is under the taken name");
    CHECK(trigger_rebuild(&c.cfg, TRIGGER_DETACH, "192.0.2.3", collect) == 0, "a later login");
    slurp(c.dir, "rules.cdb" TRIGGER_JOURNAL, text, sizeof text);
    CHECK_STR(text, "192.0.2.3\n", "goes into a new journal");
    slurp(c.dir, "rules.cdb" TRIGGER_TAKEN, text, sizeof text);
    CHECK_STR(text, "192.0.2.1\n192.0.2.2\n", "and not into the one taken");

    /* Logins in several processes while the journal is taken again and again: every key is
     * in exactly one of the journals taken, or in the last one. */
    {
        static int counts[CHILDREN][PER_CHILD];
        int other = 0, takes = 0, done = 0;
        (void)unlink(c.journal);
        alarm(120);
        start_appenders(&c);
        for (;;) {
            fd = trigger_journal_take(c.journal, c.taken);
            if (fd >= 0) {
                size_t n = 0;
                ssize_t r;
                while (n < sizeof text - 1 && (r = read(fd, text + n, sizeof text - 1 - n)) > 0)
                    n += (size_t)r;
                text[n] = '\0';
                close(fd);
                count_keys(text, counts, CHILDREN, &other);
                takes++;
            } else if (errno != ENOENT) {
                other++;
                unit_note("trigger_journal_take: %s", strerror(errno));
            }
            if (done)
                break;
            int st;
            done = 1;
            for (int k = 0; k < CHILDREN; k++)
                if (appenders[k] > 0 && waitpid(appenders[k], &st, WNOHANG) == 0)
                    done = 0;
                else
                    appenders[k] = -1;
        }
        /* (the loop above reaped them; nothing is left to wait for) */
        CHECK(all_once(counts) && other == 0,
              "%d keys logged in while the journal was taken %d times: each in one journal, "
              "once (%d other)",
              CHILDREN * PER_CHILD, takes, other);
    }
    close(lk);

    /* What is planted under the journal's name is refused, at once. */
    {
        char victim[PATH_MAX];
        path_of(victim, sizeof victim, c.dir, "rules.txt");
        if (symlink(victim, c.journal) != 0)
            fail_setup("link", c.journal);
        errno = 0;
        CHECK(trigger_journal_take(c.journal, c.taken) == -1 && errno == ELOOP &&
                  exists_in(c.dir, "rules.cdb" TRIGGER_JOURNAL),
              "a symbolic link as the journal: -1, ELOOP, left where it is");
        (void)unlink(c.journal);
        if (mkfifo(c.journal, 0600) != 0)
            fail_setup("make the FIFO", c.journal);
        alarm(120);
        errno = 0;
        CHECK(trigger_journal_take(c.journal, c.taken) == -1 && errno == EINVAL,
              "a FIFO as the journal: -1, EINVAL, no hang");
        (void)unlink(c.journal);
    }

    /* A login that holds the journal's lock for good: the builder gives up after a second,
     * with ETIMEDOUT (and rescans the store instead), and the journal stays. */
    put_mode(c.dir, "rules.cdb" TRIGGER_JOURNAL, "192.0.2.9\n", 10, 0600);
    int jl = hold(c.journal, LOCK_SH);
    alarm(120);
    errno = 0;
    CHECK(trigger_journal_take(c.journal, c.taken) == -1 && errno == ETIMEDOUT,
          "a journal held by a login for good: -1, ETIMEDOUT");
    close(jl);
    slurp(c.dir, "rules.cdb" TRIGGER_JOURNAL, text, sizeof text);
    CHECK_STR(text, "192.0.2.9\n", "the journal stays, whole");
}

/* ---- waited rebuilds: the build runs in the caller ---------------------------------------- */

static void test_wait(void)
{
    struct cdbdir c;
    char text[16384], want[3 * PATH_MAX];
    int bad;
    cdb_setup(&c, "wait");

    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_WAIT, "192.0.2.1", collect), 0,
               "a waited rebuild that succeeds: 0");
    slurp(c.dir, "builds.log", text, sizeof text);
    CHECK(count_lines(text, "start -i ") == 1 && count_lines(text, "start ") == 1 &&
              count_lines(text, "end -i ") == 1,
          "one build, incremental (-i) for a key");
    slurp(c.dir, "args", text, sizeof text);
    snprintf(want, sizeof want, "-i %s %s.tmp\n", c.cdb, c.cdb);
    CHECK_STR(text, want, "relay-cdb's arguments: the mode, the cdb, its temp file");
    slurp(c.dir, "stdin.copy", text, sizeof text);
    CHECK_STR(text, RULES_TEXT, "relay-cdb's stdin is the rules text");
    slurp(c.dir, "rules.cdb" TRIGGER_JOURNAL, text, sizeof text);
    CHECK_STR(text, "192.0.2.1\n", "the key went into the journal first");
    CHECK_STR(warnings(), "", "nothing said");
    CHECK(request_flag(&c) != '1' && lock_free(&c), "no request left, the lock free");
    CHECK_LONG(mode_of(c.lock), 0600, "the lock is made 0600");
    CHECK(no_children(), "nothing left running: the build was reaped, no builder started");

    (void)unlink(c.journal);
    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_WAIT, NULL, collect), 0,
               "a waited rebuild with no key: 0");
    slurp(c.dir, "builds.log", text, sizeof text);
    CHECK(count_lines(text, "start -s ") == 1 && count_lines(text, "start ") == 2,
          "a full rescan (-s) for no key");
    CHECK(!exists_in(c.dir, "rules.cdb" TRIGGER_JOURNAL), "and no journal written");

    /* A failed build: -1 and one line. A failed full rescan is asked for again by the next
     * build, whatever that one was asked for. */
    put_str(c.dir, "fail", "");
    forget_warnings();
    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_WAIT, NULL, collect), -1,
               "a waited full rescan that fails: -1");
    snprintf(want, sizeof want, "the rules cdb %s was not rebuilt\n", c.cdb);
    CHECK_STR(warnings(), want, "and one line says so");
    note_to(c.dir, "builds.log", "mark\n");
    {
        char failp[PATH_MAX];
        path_of(failp, sizeof failp, c.dir, "fail");
        (void)unlink(failp);
    }
    forget_warnings();
    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_WAIT, "192.0.2.2", collect), 0,
               "the next waited rebuild, for a key, succeeds: 0");
    slurp(c.dir, "builds.log", text, sizeof text);
    {
        const char *after = strstr(text, "mark\n");
        CHECK(after != NULL && count_lines(after, "start -s ") == 1 &&
                  count_lines(after, "start ") == 1,
              "and is a full rescan again (-s), for the one that failed");
    }
    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_WAIT, "192.0.2.3", collect), 0,
               "the one after that: 0");
    slurp(c.dir, "builds.log", text, sizeof text);
    CHECK(strstr(text, "mark\n") != NULL && count_lines(strstr(text, "mark\n"), "start -i ") == 1,
          "is incremental (-i) again");
    CHECK_STR(warnings(), "", "nothing said");

    /* A relay-cdb that cannot be run: -1, and the child's line, then ours. */
    set_env("RELAY_CDB_PROG", "/nonexistent/relay-cdb");
    settings_load(&c.cfg, collect);
    forget_warnings();
    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_WAIT, "192.0.2.4", collect), -1,
               "RELAY_CDB_PROG not there: -1");
    snprintf(want, sizeof want,
             "unable to run /nonexistent/relay-cdb: %s: %s not rebuilt\n"
             "the rules cdb %s was not rebuilt\n",
             strerror(ENOENT), c.cdb, c.cdb);
    CHECK_STR(warnings(), want, "the child says it could not run it, the caller that the cdb "
                                "was not rebuilt");
    set_env("RELAY_CDB_PROG", self);
    settings_load(&c.cfg, collect);

    /* The rules text missing, or a FIFO: no build, one line, no hang. */
    size_t builds_before = count_lines((slurp(c.dir, "builds.log", text, sizeof text), text),
                                       "start ");
    (void)unlink(c.rules);
    forget_warnings();
    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_WAIT, "192.0.2.5", collect), -1,
               "the rules text missing: -1");
    snprintf(want, sizeof want, "unable to open %s: %s: the rules cdb %s is not rebuilt\n",
             c.rules, strerror(ENOENT), c.cdb);
    CHECK_STR(warnings(), want, "one line says so");
    if (mkfifo(c.rules, 0644) != 0)
        fail_setup("make the FIFO", c.rules);
    forget_warnings();
    alarm(120);
    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_WAIT, "192.0.2.6", collect), -1,
               "the rules text a FIFO: -1, no hang");
    snprintf(want, sizeof want, "unable to use %s: not a regular file: the rules cdb %s is not "
             "rebuilt\n", c.rules, c.cdb);
    CHECK_STR(warnings(), want, "one line says so");
    CHECK_LONG(count_lines((slurp(c.dir, "builds.log", text, sizeof text), text), "start "),
               builds_before, "no build was started for either");
    (void)unlink(c.rules);
    put_str(c.dir, "rules.txt", RULES_TEXT);

    /* What is planted as the lock: no build, one line, the target untouched. */
    {
        char victim[PATH_MAX];
        put_mode(c.dir, "victim", "precious\n", 9, 0644);
        path_of(victim, sizeof victim, c.dir, "victim");
        (void)unlink(c.lock);
        if (symlink(victim, c.lock) != 0)
            fail_setup("link", c.lock);
        forget_warnings();
        CHECK(trigger_rebuild(&c.cfg, TRIGGER_WAIT, "192.0.2.7", collect) == -1 &&
                  trigger_rebuild(&c.cfg, TRIGGER_DETACH, "192.0.2.7", collect) == -1,
              "a symbolic link as the lock: -1, waited or not");
        CHECK(count_lines(warnings(), "unable to open ") == 2, "one line each (%s)", said);
        slurp(c.dir, "victim", text, sizeof text);
        CHECK(strcmp(text, "precious\n") == 0 && mode_of(victim) == 0644,
              "its target is neither written nor changed");
        (void)unlink(c.lock);
        if (mkfifo(c.lock, 0600) != 0)
            fail_setup("make the FIFO", c.lock);
        forget_warnings();
        alarm(120);
        CHECK(trigger_rebuild(&c.cfg, TRIGGER_WAIT, "192.0.2.7", collect) == -1,
              "a FIFO as the lock: -1, no hang");
        CHECK(count_lines(warnings(), "unable to use ") == 1 && strstr(said, "not a regular file"),
              "one line says so (%s)", said);
        (void)unlink(c.lock);
    }
    CHECK_LONG(count_lines((slurp(c.dir, "builds.log", text, sizeof text), text), "start "),
               builds_before, "no build was started for any of them");

    /* A lock that exists keeps its mode. */
    put_mode(c.dir, "rules.cdb.lock", "", 0, 0640);
    CHECK(trigger_rebuild(&c.cfg, TRIGGER_WAIT, "192.0.2.8", collect) == 0 &&
              mode_of(c.lock) == 0640,
          "a lock that is there keeps its mode (0640)");
    CHECK(reap_all(&bad) == 0 && no_children(), "nothing left running");
}

/* A waiting caller that has had its build, while a login asked for another meanwhile, hands
 * that one to a detached builder rather than build it itself. */
static void test_handover(void)
{
    struct cdbdir c;
    char text[16384];
    int bad;
    cdb_setup(&c, "handover");

    put_str(c.dir, "login-once", "");
    alarm(120);
    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_WAIT, NULL, collect), 0,
               "a waited rebuild during which a login asks for one: 0");
    wait_lines(&c, "end ", 2);
    wait_idle(&c);
    CHECK_LONG(reap_all(&bad), 1, "one detached builder ran for the login");
    CHECK_LONG(bad, 0, "and exited 0");
    slurp(c.dir, "builds.log", text, sizeof text);
    const char *second = strstr(text, "start -i ");
    CHECK(strncmp(text, "start -s ", 9) == 0 && field(text, 3) == (long)getpid(),
          "the waiting caller ran its own build, a full rescan (-s)");
    CHECK(second != NULL && field(second, 3) > 0 && field(second, 3) != (long)getpid() &&
              count_lines(text, "start ") == 2,
          "the login's build (-i) ran in another process");
    CHECK_STR(warnings(), "", "nothing said");
}

/* ---- detached builds: a login's ---------------------------------------------------------- */

static void test_detach(void)
{
    struct cdbdir c;
    char text[16384];
    int bad;
    cdb_setup(&c, "detach");

    /* The login's descriptors: 0, 1 and 2 a socket to its client (as under inetd or
     * Dovecot), and a pipe on a higher one. The build is held at the gate, so a builder that
     * kept any of them would keep them open until the gate opens. */
    int sv[2], pp[2], saved[3];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || pipe(pp) != 0)
        fail_setup("make", "a socket pair and a pipe");
    put_str(c.dir, "gate", "");
    fflush(stdout);
    fflush(stderr);
    for (int fd = 0; fd < 3; fd++)
        if ((saved[fd] = dup(fd)) < 0 || dup2(sv[1], fd) < 0)
            fail_setup("redirect", "0, 1 and 2");
    alarm(120);
    int r = trigger_rebuild(&c.cfg, TRIGGER_DETACH, "192.0.2.1", collect);
    for (int fd = 0; fd < 3; fd++)
        if (dup2(saved[fd], fd) < 0 || close(saved[fd]) != 0)
            fail_setup("restore", "0, 1 and 2");
    close(sv[1]);
    close(pp[1]);
    CHECK_LONG(r, 0, "a login with no build running: 0, returned while its build is held");
    wait_lines(&c, "start ", 1);
    {
        /* The builder lets go of them before it starts the build, which is held at the gate
         * (for at most trigger.c's 30 s): the end of file is there now, without waiting. */
        char b;
        CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0 && read(sv[0], &b, 1) == 0,
              "the builder holds none of the client's socket on 0, 1, 2");
        CHECK(fcntl(pp[0], F_SETFL, O_NONBLOCK) == 0 && read(pp[0], &b, 1) == 0,
              "nor any other descriptor of the login's");
        close(sv[0]);
        close(pp[0]);
    }
    slurp(c.dir, "builds.log", text, sizeof text);
    {
        long ppid = field(text, 3), sid = field(text, 4);
        CHECK(strncmp(text, "start -i ", 9) == 0 && ppid > 0 && ppid != (long)getpid() &&
                  sid > 0 && sid != (long)getsid(0),
              "the build (-i) runs under a builder that is not the login, in another session");
    }

    /* A burst of logins while that build is held: each returns at once, and together they
     * make one more build, not one each. The held build cleared the flag before it began. */
    int burst = 0;
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof key, "192.0.2.%d", 10 + i);
        burst += trigger_rebuild(&c.cfg, TRIGGER_DETACH, key, collect) == 0;
    }
    CHECK_LONG(burst, 20, "20 logins during the held build: each 0, each returned");
    CHECK(request_flag(&c) == '1', "the request flag is set for them");
    {
        char gate[PATH_MAX];
        path_of(gate, sizeof gate, c.dir, "gate");
        (void)unlink(gate);
    }
    alarm(120);
    wait_idle(&c);
    CHECK_LONG(reap_all(&bad), 1, "one builder ran");
    CHECK_LONG(bad, 0, "and exited 0");
    slurp(c.dir, "builds.log", text, sizeof text);
    CHECK(count_lines(text, "start -i ") == 2 && count_lines(text, "start ") == 2 &&
              count_lines(text, "end ") == 2,
          "two builds in all: the held one, and one for the burst (%zu)",
          count_lines(text, "start "));
    slurp(c.dir, "rules.cdb" TRIGGER_JOURNAL, text, sizeof text);
    CHECK_LONG(count_lines(text, "192.0.2."), 21, "every login's key is in the journal");
    CHECK_STR(warnings(), "", "nothing said");
}

/* A waiting caller while a detached build runs: it returns after a build that began after its
 * request has ended, with that build's outcome. */
static void check_wait_covered(const char *name, int fail)
{
    struct cdbdir c;
    char text[16384];
    int bad, st;
    cdb_setup(&c, name);

    put_str(c.dir, "gate", "");
    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_DETACH, "192.0.2.1", collect), 0,
               "%s: a login starts a build, held", name);
    alarm(120);
    wait_lines(&c, "start ", 1);
    CHECK(request_flag(&c) != '1', "%s: the held build took the request", name);
    if (fail)
        put_str(c.dir, "fail", "");

    fflush(stdout);
    pid_t w = fork();
    if (w < 0)
        fail_setup("fork", "a waiting caller");
    if (w == 0) {
        note_to(c.dir, "builds.log", "asked\n");
        int r = trigger_rebuild(&c.cfg, TRIGGER_WAIT, NULL, collect);
        note_to(c.dir, "builds.log", "returned %d\n", r);
        _exit(r == 0 ? 0 : 1);
    }
    /* Its request is made once the flag is set again; only then does the held build end. */
    while (request_flag(&c) != '1')
        pause_ms(10);
    {
        char gate[PATH_MAX];
        path_of(gate, sizeof gate, c.dir, "gate");
        (void)unlink(gate);
    }
    if (waitpid(w, &st, 0) != w)
        fail_setup("wait for", "the waiting caller");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == (fail ? 1 : 0),
          "%s: the waiting caller returns %s", name, fail ? "-1 (the build failed)" : "0");
    wait_idle(&c);
    reap_all(&bad);
    slurp(c.dir, "builds.log", text, sizeof text);
    CHECK(covered(text, "asked\n", "returned "),
          "%s: a full rescan began after the request and ended before the caller returned",
          name);
    warnings();
    CHECK(fail ? strstr(said, "was not rebuilt") != NULL : said[0] == '\0',
          "%s: %s (%s)", name, fail ? "the waiting caller says the cdb was not rebuilt"
                                    : "nothing said", said);
}

/* The builder never lets go of the lock (each build logs a login in): a waiting caller is
 * still served, by the count of builds that ended. */
static void test_stream(void)
{
    struct cdbdir c;
    char text[65536];
    int bad;
    cdb_setup(&c, "stream");

    put_str(c.dir, "stream", "");
    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_DETACH, "192.0.2.1", collect), 0,
               "a login starts a builder that will never rest");
    alarm(120);
    wait_lines(&c, "end ", 2);
    note_to(c.dir, "builds.log", "asked\n");
    int r = trigger_rebuild(&c.cfg, TRIGGER_WAIT, NULL, collect);
    note_to(c.dir, "builds.log", "returned\n");
    CHECK_LONG(r, 0, "a waiting caller returns 0 while the builder never lets go of the lock");
    {
        char stream[PATH_MAX];
        path_of(stream, sizeof stream, c.dir, "stream");
        (void)unlink(stream);
    }
    slurp(c.dir, "builds.log", text, sizeof text);
    CHECK(covered(text, "asked\n", "returned\n"),
          "a full rescan began after its request and ended before it returned");
    wait_idle(&c);
    CHECK_LONG(reap_all(&bad), 1, "the builder ends once the logins stop");
    CHECK_LONG(bad, 0, "and exits 0");
    CHECK_STR(warnings(), "", "nothing said");
}

/* ---- the bounds: a hung build, a lock held for good -------------------------------------- */

/* In a child, at the same time as the hung build: a caller waits for a lock that the test
 * holds for good. It gives up (after trigger.c's 30 s), says so, and builds nothing. */
static pid_t start_held(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        fail_setup("fork", "the held lock's check");
    if (pid != 0)
        return pid;
    struct cdbdir c;
    unit_failures = 0; /* the parent's so far: this status is about the checks here */
    cdb_setup(&c, "held");
    alarm(120);
    int lk = hold(c.lock, LOCK_EX);
    int r = trigger_rebuild(&c.cfg, TRIGGER_WAIT, NULL, collect);
    CHECK_LONG(r, -1, "a waiting caller, with the lock held for good: -1");
    warnings();
    CHECK(count_lines(said, "") == 1 && strstr(said, "was not rebuilt: a build held the lock"),
          "one line says the lock was held (%s)", said);
    CHECK(!exists_in(c.dir, "builds.log"), "and nothing was built");
    close(lk);
    _exit(unit_failures != 0 ? 1 : 0);
}

static void test_bounds(void)
{
    struct cdbdir c;
    char text[4096];
    int st;
    pid_t held = start_held();

    cdb_setup(&c, "hang");
    put_str(c.dir, "hang", "");
    alarm(120);
    int r = trigger_rebuild(&c.cfg, TRIGGER_WAIT, "192.0.2.1", collect);
    CHECK_LONG(r, -1, "a build that hangs (and ignores SIGTERM): the waiting caller gets -1");
    warnings();
    CHECK(count_lines(said, "") == 1 && strstr(said, ": killed, the cdb ") != NULL,
          "one line says it was killed (%s)", said);
    slurp(c.dir, "hang.pid", text, sizeof text);
    long pid = field(text, 0);
    if (CHECK(pid > 0, "the hung build noted its pid")) {
        /* Reaped already (ECHILD), or at least killed: a SIGKILLed child that the kernel has
         * not finished with is all the caller promises not to wait for. */
        pid_t w = waitpid((pid_t)pid, &st, 0);
        CHECK((w < 0 && errno == ECHILD) || (w == pid && WIFSIGNALED(st) &&
                                             WTERMSIG(st) == SIGKILL),
              "the hung build is gone, killed");
    }
    CHECK(request_flag(&c) != '1' && lock_free(&c), "no request left, the lock free");

    if (waitpid(held, &st, 0) != held)
        fail_setup("wait for", "the held lock's check");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the held lock's checks passed (%#x)",
          (unsigned)st);
}

/* ---- as root: the file work is the directory owner's ------------------------------------ */

static void test_owner(void)
{
    struct cdbdir c;
    char text[4096];
    struct stat st;
    int bad;
    const uid_t nobody = 65534;

    if (geteuid() != 0) {
        unit_skip("not root", "a root login works in the cdb's directory as its owner");
        return;
    }
    if (chmod(top, 0711) != 0)
        fail_setup("open up", top);
    cdb_setup(&c, "owned");
    if (chown(c.dir, nobody, nobody) != 0 || chown(c.rules, nobody, nobody) != 0)
        fail_setup("give away", c.dir);
    /* The builder, as that account, runs this program and writes in the directory: a build
     * or a scratch directory under a path it may not search leaves nothing to check. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        fail_setup("fork", "a check of access");
    if (pid == 0)
        _exit(setgid(nobody) != 0 || setuid(nobody) != 0 || access(self, X_OK) != 0 ||
                      access(c.dir, W_OK | X_OK) != 0
                  ? 1
                  : 0);
    if (waitpid(pid, &bad, 0) != pid || !WIFEXITED(bad) || WEXITSTATUS(bad) != 0) {
        unit_skip("uid 65534 cannot run this program or write in the scratch directory",
                  "a root login works in the cdb's directory as its owner");
        return;
    }

    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_WAIT, "192.0.2.1", collect), 0,
               "root, a cdb in another account's directory: a waited rebuild, 0");
    CHECK(lstat(c.lock, &st) == 0 && st.st_uid == nobody, "the lock is made by that account");
    CHECK(lstat(c.journal, &st) == 0 && st.st_uid == nobody,
          "the journal is made by that account");
    CHECK(geteuid() == 0 && getegid() == 0, "root's ids are ours again afterwards");

    put_str(c.dir, "gate", "");
    CHECK_LONG(trigger_rebuild(&c.cfg, TRIGGER_DETACH, "192.0.2.2", collect), 0,
               "a login: 0");
    alarm(120);
    wait_lines(&c, "start ", 2);
    {
        char gate[PATH_MAX];
        path_of(gate, sizeof gate, c.dir, "gate");
        (void)unlink(gate);
    }
    wait_idle(&c);
    reap_all(&bad);
    slurp(c.dir, "builds.log", text, sizeof text);
    {
        const char *second = strstr(text, "\nstart -i ");
        long uid = second != NULL ? field(second + 1, 5) : -1;
        long euid = second != NULL ? field(second + 1, 6) : -1;
        CHECK(uid == (long)nobody && euid == (long)nobody,
              "the detached builder has become that account for good (uid %ld, euid %ld)", uid,
              euid);
    }
    CHECK_STR(warnings(), "", "nothing said");
}

int main(int argc, char **argv)
{
    /* _exit: a fake run by root as another account (ruid and euid differ) has no leak check
     * that could work (the sanitizer build's LeakSanitizer fails there, and its exit code
     * would read as the build's). */
    if (argc == 4 && (strcmp(argv[1], "-i") == 0 || strcmp(argv[1], "-s") == 0))
        _exit(fake_build(argv));

    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        fail_setup("find", "this program");
    self[n] = '\0';
    /* Detached builders come back to us when their parent goes: we can wait for them. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        fail_setup("become a subreaper", "");
    set_env("RELAY_DIR", "/nonexistent"); /* the store is relay-cdb's business, not ours */
    scratch_make("unit-trigger");
    alarm_fails();

    test_dir_of();
    test_settings();
    test_journal();
    test_take();
    test_wait();
    test_handover();
    test_detach();
    check_wait_covered("covered", 0);
    check_wait_covered("covered-failed", 1);
    test_stream();
    test_bounds();
    test_owner();
    alarm(0);
    {
        int bad;
        CHECK(reap_all(&bad) == 0 && no_children(), "at the end, nothing is left running");
    }
    scratch_remove();
    return unit_done();
}
