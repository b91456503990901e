/* redis-storm: the login-to-grant benchmark of bench/redis.sh (issue 10).
 *
 * redis-storm [-r rate] [-s seconds] [-p polls] [-o first] [-g give-up] [-l log] [-u]
 *             [-a VAR=value]... [-c VAR=value]... relay-allow next relay-check granted
 *
 * -u gives each login a user of its own (USER=u<n>@example.org, n its address's number),
 * as many users logging in once each; without it the -a options name the user, and a user
 * who logs in from thousands of addresses is over any per-user cap (RELAY_USER_MAX).
 *
 * Logins on host A: rate times a second for seconds seconds, on a fixed schedule, it forks
 * and execs `relay-allow next` with the environment given by the -a options and its own
 * TCPREMOTEIP (198.18.0.0 + first + i, the benchmarking range of RFC 2544, wrapping after
 * 131072), as a POP server's login chain does.
 * Grants on host B: once a login's relay-allow has exited, it runs `relay-check granted` with
 * the -c options and the same TCPREMOTEIP, as tcpserver would for an SMTP connection from
 * that client, until relay-check grants (granted exits 0; 3 is a refusal: it polls again
 * after a millisecond). At most -p polls run at once (default 4); none of them ever holds
 * up a login, which starts on time whatever the polls do.
 *
 * The delay of a login is from the fork of its relay-allow to the exit of the first
 * relay-check that granted it: what an SMTP client connecting to host B at that moment
 * would see, relay-check's own run included. The driver is one process that never blocks:
 * it forks what is due, reaps what has ended (waitpid WNOHANG), and sleeps 100 us when there
 * is nothing to do. It prints the rate it achieved, how late its latest fork was against the
 * schedule, its own CPU time, and the delays, as lines of words and, last, one line
 *
 *     result <achieved/s> <p50 ms> <p99 ms> <worst ms> <never granted> <allow failures>
 *
 * for the script. The children's stdout goes to /dev/null and their stderr to log (-l,
 * default /dev/null). A login not granted give-up seconds (-g, default 10) after the last
 * one started is counted as never granted: a guard against a hang, not a measure. Exit codes: 0 done (whatever the figures), 100 usage, 111 system error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int errfd = 2;

static _Noreturn void die(int code, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    dprintf(errfd, "redis-storm: fatal: %s\n", line);
    exit(code);
}

static double now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        die(111, "unable to read the clock: %s", strerror(errno));
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    die(100, "usage: redis-storm [-r rate] [-s seconds] [-p polls] [-o first] [-g give-up] "
             "[-l log] [-u] [-a VAR=value]... [-c VAR=value]... relay-allow next relay-check "
             "granted");
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

/* An environment: the given VAR=value strings, then the TCPREMOTEIP slot, the USER slot
 * with -u, then NULL. */
struct env {
    char *v[67];
    size_t n;
    char slot[40];
    char user[48];
    int per_user;
};

static void env_add(struct env *e, char *s)
{
    if (strchr(s, '=') == NULL || s[0] == '=')
        die(100, "-a and -c take VAR=value, not \"%s\"", s);
    if (e->n >= 64)
        die(100, "too many -a or -c options");
    e->v[e->n++] = s;
}

static void env_close(struct env *e)
{
    e->v[e->n] = e->slot;
    e->v[e->n + 1] = e->per_user ? e->user : NULL;
    e->v[e->n + 2] = NULL;
}

static void env_addr(struct env *e, unsigned long k)
{
    unsigned long a = (198UL << 24 | 18UL << 16) + (k % 131072UL);
    snprintf(e->slot, sizeof e->slot, "TCPREMOTEIP=%lu.%lu.%lu.%lu", a >> 24, (a >> 16) & 255,
             (a >> 8) & 255, a & 255);
    snprintf(e->user, sizeof e->user, "USER=u%lu@example.org", k % 131072UL);
}

struct login {
    double start;   /* fork of its relay-allow */
    double allowed; /* exit of its relay-allow; 0 while it runs */
    double granted; /* exit of the first relay-check that granted; 0 until then */
    double next;    /* when to poll again */
    int polling;    /* a relay-check for it is running */
    unsigned polls;
};

struct child {
    unsigned long login;
    pid_t pid;
    int check; /* 0: relay-allow, 1: relay-check */
};

enum { MAXCHILD = 4096 };
static struct child kids[MAXCHILD];
static size_t nkids;
static int nullfd, logfd;

static void spawn(char **argv, struct env *e, unsigned long login, int check)
{
    if (nkids >= MAXCHILD)
        die(111, "more than %d children at once: the machine cannot keep up", MAXCHILD);
    pid_t pid = fork();
    if (pid < 0)
        die(111, "unable to fork: %s", strerror(errno));
    if (pid == 0) {
        if (dup2(nullfd, 0) < 0 || dup2(nullfd, 1) < 0 || dup2(logfd, 2) < 0)
            _exit(126);
        execve(argv[0], argv, e->v);
        _exit(127);
    }
    kids[nkids].pid = pid;
    kids[nkids].login = login;
    kids[nkids].check = check;
    nkids++;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The nearest-rank percentile q of the n sorted values v. */
static double pct(const double *v, size_t n, double q)
{
    if (n == 0)
        return -1;
    size_t k = (size_t)(q * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

int main(int argc, char **argv)
{
    long rate = 500, seconds = 30, maxpolls = 4, first = 0, giveup = 10;
    const char *logpath = "/dev/null";
    static struct env allow_env, check_env;
    int opt;
    while ((opt = getopt(argc, argv, "+r:s:p:o:g:l:ua:c:")) != -1) {
        switch (opt) {
        case 'r':
            rate = number(optarg, "-r", 1, 100000);
            break;
        case 's':
            seconds = number(optarg, "-s", 1, 3600);
            break;
        case 'p':
            maxpolls = number(optarg, "-p", 1, 256);
            break;
        case 'o':
            first = number(optarg, "-o", 0, 131071);
            break;
        case 'g':
            giveup = number(optarg, "-g", 1, 3600);
            break;
        case 'l':
            logpath = optarg;
            break;
        case 'u':
            allow_env.per_user = 1;
            break;
        case 'a':
            env_add(&allow_env, optarg);
            break;
        case 'c':
            env_add(&check_env, optarg);
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 4)
        usage();
    for (int i = optind; i < argc; i++)
        if (argv[i][0] != '/')
            die(100, "programs must be given as absolute paths, not \"%s\"", argv[i]);
    env_close(&allow_env);
    env_close(&check_env);
    char *allow_argv[] = {argv[optind], argv[optind + 1], NULL};
    char *check_argv[] = {argv[optind + 2], argv[optind + 3], NULL};

    nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (nullfd < 0 || logfd < 0)
        die(111, "unable to open /dev/null or %s: %s", logpath, strerror(errno));

    unsigned long total = (unsigned long)rate * (unsigned long)seconds;
    struct login *l = calloc(total, sizeof *l);
    if (l == NULL)
        die(111, "out of memory");
    unsigned long started = 0, done = 0, next_poll_from = 0, allow_fail = 0, check_fail = 0;
    long polls_running = 0;
    double late = 0, give_up = 0;
    double t0 = now() + 0.01;
    for (;;) {
        double t = now();
        int busy = 0;
        /* The logins that are due, on the schedule, whatever else is running. */
        while (started < total && t >= t0 + (double)started / (double)rate) {
            double due = t0 + (double)started / (double)rate;
            if (t - due > late)
                late = t - due;
            env_addr(&allow_env, (unsigned long)first + started);
            l[started].start = now();
            spawn(allow_argv, &allow_env, started, 0);
            started++;
            busy = 1;
        }
        if (started == total && give_up == 0)
            give_up = t + (double)giveup;
        /* Polls for the logins whose relay-allow has ended, oldest first. */
        while (next_poll_from < started && (l[next_poll_from].granted > 0))
            next_poll_from++;
        for (unsigned long i = next_poll_from; i < started && polls_running < maxpolls; i++) {
            struct login *g = &l[i];
            if (g->allowed == 0 || g->granted > 0 || g->polling || g->next > t)
                continue;
            env_addr(&check_env, (unsigned long)first + i);
            g->polling = 1;
            g->polls++;
            spawn(check_argv, &check_env, i, 1);
            polls_running++;
            busy = 1;
        }
        /* Reap. */
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            double end = now();
            size_t k = 0;
            while (k < nkids && kids[k].pid != pid)
                k++;
            if (k == nkids)
                continue;
            struct child c = kids[k];
            kids[k] = kids[--nkids];
            struct login *g = &l[c.login];
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            if (!c.check) {
                g->allowed = end;
                g->next = end;
                if (code != 0)
                    allow_fail++;
            } else {
                polls_running--;
                g->polling = 0;
                if (code == 0) {
                    g->granted = end;
                    done++;
                } else {
                    if (code != 3)
                        check_fail++;
                    g->next = end + 0.001;
                }
            }
            busy = 1;
        }
        if (pid < 0 && errno != ECHILD)
            die(111, "unable to wait: %s", strerror(errno));
        if (started == total && (done == total || t > give_up) && nkids == 0)
            break;
        if (started == total && t > give_up && polls_running == 0) {
            /* Only relay-allows still running: wait for them, then stop. */
            while (nkids > 0) {
                if ((pid = waitpid(-1, &status, 0)) < 0)
                    die(111, "unable to wait: %s", strerror(errno));
                for (size_t k = 0; k < nkids; k++)
                    if (kids[k].pid == pid) {
                        kids[k] = kids[--nkids];
                        break;
                    }
            }
            break;
        }
        if (!busy) {
            struct timespec nap = {0, 100000};
            nanosleep(&nap, NULL);
        }
    }

    double span = total > 1 ? l[total - 1].start - l[0].start : 0;
    double achieved = span > 0 ? (double)(total - 1) / span : 0;
    double *d = malloc((total + 1) * sizeof *d), *a = malloc((total + 1) * sizeof *a);
    if (d == NULL || a == NULL)
        die(111, "out of memory");
    size_t nd = 0, na = 0;
    unsigned long polls = 0;
    for (unsigned long i = 0; i < total; i++) {
        if (l[i].granted > 0)
            d[nd++] = (l[i].granted - l[i].start) * 1000;
        if (l[i].allowed > 0)
            a[na++] = (l[i].allowed - l[i].start) * 1000;
        polls += l[i].polls;
    }
    qsort(d, nd, sizeof *d, cmp_double);
    qsort(a, na, sizeof *a, cmp_double);
    struct rusage self;
    if (getrusage(RUSAGE_SELF, &self) != 0)
        die(111, "getrusage: %s", strerror(errno));
    double cpu = (double)self.ru_utime.tv_sec + (double)self.ru_utime.tv_usec / 1e6 +
                 (double)self.ru_stime.tv_sec + (double)self.ru_stime.tv_usec / 1e6;
    printf("logins %lu at %ld/s for %ld s: achieved %.1f/s (the latest fork %.1f ms behind "
           "the schedule)\n",
           total, rate, seconds, achieved, late * 1000);
    printf("driver cpu %.2f s in %.1f s (%.0f%% of one core); relay-check polls %lu (%.2f per "
           "login), at most %ld at once\n",
           cpu, span, span > 0 ? 100 * cpu / span : 0, polls,
           total ? (double)polls / (double)total : 0, maxpolls);
    printf("relay-allow: median %.1f ms, p99 %.1f ms, slowest %.1f ms; exits not 0: %lu; "
           "relay-check failures: %lu\n",
           pct(a, na, 0.5), pct(a, na, 0.99), na ? a[na - 1] : -1, allow_fail, check_fail);
    printf("login to grant: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, worst %.1f ms; never "
           "granted %lu\n",
           pct(d, nd, 0.5), pct(d, nd, 0.9), pct(d, nd, 0.99), nd ? d[nd - 1] : -1,
           total - (unsigned long)nd);
    printf("result %.1f %.1f %.1f %.1f %lu %lu\n", achieved, pct(d, nd, 0.5), pct(d, nd, 0.99),
           nd ? d[nd - 1] : -1, total - (unsigned long)nd, allow_fail);
    if (fflush(stdout) != 0)
        die(111, "unable to write: %s", strerror(errno));
    return 0;
}
