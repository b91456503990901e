/* cdb-storm: helpers for bench/cdb.sh.
 *
 * cdb-storm -g dir count
 *     Make count fresh allowances in dir: empty files (a valid relay-ctrl record with no user)
 *     named 10.0.0.0 + i, with the current time as their login time.
 * cdb-storm -s rate seconds cdb relay-allow
 *     A login storm: run relay-allow rate times a second for seconds seconds, each for a new
 *     client address (11.0.0.0 + i), with the environment it was given (cdb mode configured).
 *     Meanwhile watch the cdb: each time it is replaced, look up every login not yet seen in
 *     it. Prints the logins, the rebuilds seen and their rate, the slowest relay-allow, and
 *     the median and worst delay from the start of a login to its address being in the cdb.
 * Exit codes: 0 done, 100 usage, 111 system error (and 1 for -s if a login never showed up). */
#define _GNU_SOURCE
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "cdb-storm: fatal: %s: %s\n", what, strerror(errno));
    exit(111);
}

/* A number from the command line, or a usage error. */
static double number(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0) {
        fprintf(stderr, "cdb-storm: fatal: not a number: %s\n", s);
        exit(100);
    }
    return v;
}

static void ip(char *buf, size_t n, unsigned base, unsigned long i)
{
    snprintf(buf, n, "%u.%lu.%lu.%lu", base, (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

static int generate(const char *dir, unsigned long count)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        die(dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0)
        die(dir);
    for (unsigned long i = 0; i < count; i++) {
        char name[32];
        ip(name, sizeof name, 10, i);
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || close(fd) != 0)
            die(name);
    }
    return 0;
}

struct login {
    double start, ran, seen;
    pid_t pid;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int storm(double rate, double seconds, const char *cdbpath, const char *prog)
{
    unsigned long total = (unsigned long)(rate * seconds);
    struct login *l = calloc(total, sizeof *l);
    if (l == NULL)
        die("calloc");
    unsigned long started = 0, unseen_from = 0, seen = 0, builds = 0;
    struct stat last = {0};
    double t0 = now(), end_wait = 0;
    for (;;) {
        double t = now();
        /* Start the logins that are due. */
        while (started < total && t >= t0 + (double)started / rate) {
            char addr[32];
            ip(addr, sizeof addr, 11, started);
            l[started].start = now();
            pid_t pid = fork();
            if (pid < 0)
                die("fork");
            if (pid == 0) {
                setenv("TCPREMOTEIP", addr, 1);
                execl(prog, prog, (char *)NULL);
                _exit(111);
            }
            l[started].pid = pid;
            started++;
        }
        /* Reap the logins that ended. */
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            double done = now();
            for (unsigned long i = started; i > 0; i--)
                if (l[i - 1].pid == pid) {
                    l[i - 1].ran = done - l[i - 1].start;
                    l[i - 1].pid = 0;
                    break;
                }
        }
        /* A new cdb: which of the logins are in it now? */
        struct stat st;
        if (stat(cdbpath, &st) == 0 && (st.st_ino != last.st_ino ||
                                         st.st_mtim.tv_nsec != last.st_mtim.tv_nsec ||
                                         st.st_mtime != last.st_mtime)) {
            double when = now();
            last = st;
            builds++;
            int fd = open(cdbpath, O_RDONLY);
            struct cdb c;
            if (fd >= 0 && cdb_init(&c, fd) == 0) {
                for (unsigned long i = unseen_from; i < started; i++) {
                    if (l[i].seen > 0)
                        continue;
                    char addr[32];
                    ip(addr, sizeof addr, 11, i);
                    if (cdb_find(&c, addr, (unsigned)strlen(addr)) > 0) {
                        l[i].seen = when;
                        seen++;
                    }
                }
                while (unseen_from < started && l[unseen_from].seen > 0)
                    unseen_from++;
                cdb_free(&c);
            }
            if (fd >= 0)
                close(fd);
        }
        if (started == total && seen == total)
            break;
        if (started == total && end_wait == 0)
            end_wait = now();
        if (end_wait > 0 && now() - end_wait > 30)
            break;
        struct timespec nap = {0, 500000}; /* 0.5 ms */
        nanosleep(&nap, NULL);
    }
    double span = now() - t0;
    while (waitpid(-1, NULL, 0) > 0)
        ;

    double *delay = calloc(total, sizeof *delay), worst_ran = 0;
    unsigned long n = 0;
    for (unsigned long i = 0; i < total; i++) {
        if (l[i].seen > 0)
            delay[n++] = l[i].seen - l[i].start;
        if (l[i].ran > worst_ran)
            worst_ran = l[i].ran;
    }
    qsort(delay, n, sizeof *delay, cmp_double);
    printf("logins %lu (%.0f/s for %.0f s), in the cdb %lu\n", total, rate, seconds, n);
    printf("rebuilds seen %lu, %.2f per second\n", builds, (double)builds / span);
    printf("slowest relay-allow %.1f ms\n", worst_ran * 1000);
    if (n > 0)
        printf("login to cdb: median %.3f s, worst %.3f s\n", delay[n / 2], delay[n - 1]);
    free(delay);
    free(l);
    return n == total ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "-g") == 0)
        return generate(argv[2], strtoul(argv[3], NULL, 10));
    if (argc == 6 && strcmp(argv[1], "-s") == 0)
        return storm(number(argv[2]), number(argv[3]), argv[4], argv[5]);
    fprintf(stderr, "usage: cdb-storm -g dir count | -s rate seconds cdb relay-allow\n");
    return 100;
}
