/* execloop: the benchmarks' timer. It runs a program N times the way tcpserver does for
 * every connection (fork, execve, waitpid) and prints what one run cost:
 *
 *     <wall ns per run> <peak RSS of any run, KiB> <CPU ns per run, user + system>
 *
 * A shell loop would add the shell's own fork and word splitting to every run, which is
 * about as much as the programs under test cost; this adds a fork, an execve and a wait4.
 *
 * execloop [-n runs] [-w warmup] [-a VAR] [-o first] [-k] program [arg ...]
 *   -n  timed runs (default 1000); -w untimed runs before them (default 20)
 *   -a  give each run its own IPv4 address in VAR, counting up from 198.18.0.0 (the
 *       benchmarking range of RFC 2544) plus first (-o), so that each login is a new one
 *   -k  keep the programs' stdout and stderr; by default they go to /dev/null
 * program is run as given (no PATH search), with execloop's environment. Every run must
 * exit 0: anything else means the benchmark measures something else, so execloop stops
 * with 111. Exit codes: 0 done, 100 usage, 111 system error or a failed run.
 *
 * The peak RSS comes from wait4's ru_maxrss. Linux counts in it the memory the child had
 * between fork and execve, so build execloop statically and small (musl) when the RSS
 * figure matters: a dynamic glibc parent would hide a small program behind its own size. */
#define _GNU_SOURCE /* wait4 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* POSIX has the program declare it; unistd.h does too, but only under _GNU_SOURCE. */
extern char **environ; /* NOLINT(readability-redundant-declaration) */

static int errfd = 2;

static _Noreturn void die(int code, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof line)
        n = sizeof line - 1;
    dprintf(errfd, "execloop: fatal: %.*s\n", n, line);
    exit(code);
}

static long number(const char *s, const char *what, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        die(100, "%s must be a number from %ld to %ld, not \"%s\"", what, min, max, s);
    return v;
}

static long long ns_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        die(111, "unable to read the clock: %s", strerror(errno));
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long tv_ns(struct timeval tv)
{
    return (long long)tv.tv_sec * 1000000000LL + (long long)tv.tv_usec * 1000LL;
}

struct totals {
    long maxrss;      /* KiB */
    long long cpu_ns; /* user + system of the runs */
};

/* One run: fork, execve, wait. The child only execs: everything it needs was made before
 * the fork, so the loop times the program and not the driver. */
static void run_once(char **argv, char **envp, struct totals *t)
{
    pid_t pid = fork();
    if (pid < 0)
        die(111, "unable to fork: %s", strerror(errno));
    if (pid == 0) {
        execve(argv[0], argv, envp);
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR)
            die(111, "unable to wait for %s: %s", argv[0], strerror(errno));
    if (WIFSIGNALED(status))
        die(111, "%s was killed by signal %d", argv[0], WTERMSIG(status));
    if (WEXITSTATUS(status) == 127)
        die(111, "unable to run %s (exit 127)", argv[0]);
    if (WEXITSTATUS(status) != 0)
        die(111, "%s exited %d", argv[0], WEXITSTATUS(status));
    if (ru.ru_maxrss > t->maxrss)
        t->maxrss = ru.ru_maxrss;
    t->cpu_ns += tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime);
}

/* The environment for the runs: execloop's own, plus one slot for VAR when -a is given. */
static char **make_env(const char *var, char **slot, size_t slotlen)
{
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **envp = calloc(n + 2, sizeof *envp);
    if (envp == NULL)
        die(111, "out of memory");
    size_t m = 0, vlen = var != NULL ? strlen(var) : 0;
    for (size_t i = 0; i < n; i++)
        if (var == NULL || strncmp(environ[i], var, vlen) != 0 || environ[i][vlen] != '=')
            envp[m++] = environ[i];
    if (var != NULL) {
        *slot = malloc(slotlen);
        if (*slot == NULL)
            die(111, "out of memory");
        envp[m++] = *slot;
    }
    envp[m] = NULL;
    return envp;
}

static void set_addr(char *slot, size_t len, const char *var, long k)
{
    /* 198.18.0.0/15 holds 131072 addresses; wrap around after that. */
    unsigned long a = (198UL << 24 | 18UL << 16) + ((unsigned long)k % 131072UL);
    snprintf(slot, len, "%s=%lu.%lu.%lu.%lu", var, a >> 24, (a >> 16) & 255, (a >> 8) & 255,
             a & 255);
}

int main(int argc, char **argv)
{
    long runs = 1000, warmup = 20, first = 0;
    const char *var = NULL;
    int keep = 0, opt;

    while ((opt = getopt(argc, argv, "+n:w:a:o:k")) != -1) {
        switch (opt) {
        case 'n':
            runs = number(optarg, "-n", 1, 100000000);
            break;
        case 'w':
            warmup = number(optarg, "-w", 0, 100000000);
            break;
        case 'o':
            first = number(optarg, "-o", 0, 100000000);
            break;
        case 'a':
            var = optarg;
            if (var[0] == '\0' || strchr(var, '=') != NULL)
                die(100, "-a needs a variable name, not \"%s\"", var);
            break;
        case 'k':
            keep = 1;
            break;
        default:
            die(100, "usage: execloop [-n runs] [-w warmup] [-a VAR] [-o first] [-k] "
                     "program [arg ...]");
        }
    }
    if (optind >= argc)
        die(100, "usage: execloop [-n runs] [-w warmup] [-a VAR] [-o first] [-k] "
                 "program [arg ...]");
    char **prog = argv + optind;
    if (strchr(prog[0], '/') == NULL)
        die(100, "program must be given as a path, not \"%s\"", prog[0]);

    /* The children's output goes to /dev/null (one open, before the loop); execloop's own
     * result and diagnostics keep the descriptors it was given. */
    int outfd = 1;
    if (!keep) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0)
            die(111, "unable to open /dev/null: %s", strerror(errno));
        outfd = fcntl(1, F_DUPFD_CLOEXEC, 3);
        errfd = fcntl(2, F_DUPFD_CLOEXEC, 3);
        if (outfd < 0 || errfd < 0)
            die(111, "unable to duplicate stdout or stderr: %s", strerror(errno));
        if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
            die(111, "unable to redirect to /dev/null: %s", strerror(errno));
        close(null);
    }

    char *slot = NULL;
    size_t slotlen = (var != NULL ? strlen(var) : 0) + 24;
    char **envp = make_env(var, &slot, slotlen);

    struct totals t = {0, 0};
    for (long i = 0; i < warmup; i++) {
        if (slot != NULL)
            set_addr(slot, slotlen, var, first + runs + i);
        run_once(prog, envp, &t);
    }
    t.cpu_ns = 0;
    long long start = ns_now();
    for (long i = 0; i < runs; i++) {
        if (slot != NULL)
            set_addr(slot, slotlen, var, first + i);
        run_once(prog, envp, &t);
    }
    long long elapsed = ns_now() - start;

    if (dprintf(outfd, "%lld %ld %lld\n", elapsed / runs, t.maxrss, t.cpu_ns / runs) < 0)
        die(111, "unable to write the result: %s", strerror(errno));
    return 0;
}
