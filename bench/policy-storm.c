/* policy-storm: relay-policy on one connection, as Postfix's smtpd talks to it, against a
 * trivial responder that only finds each request's empty line and answers DUNNO (the floor:
 * the socketpair and the two processes, no parsing, no store). Rounds alternate between the
 * two, each with a fresh process on a fresh socketpair:
 *   pipelined  a writer process streams N requests while the reader counts the replies:
 *              requests per second, first write to last reply;
 *   lockstep   one request, wait for its reply, the next (what smtpd does): the median and
 *              the 99th percentile of M round trips.
 * The requests are the 29 lines Postfix 3.7 sends (542 bytes or so), for clients 10.0.0.0 + i
 * with i < K (bench/genspool's names: even i fresh, odd i stale), ten requests per client
 * and transaction (instance), as for a message to ten recipients.
 *
 * Usage: policy-storm [-k K] [-n N] [-m M] [-r ROUNDS] [-e ERRFILE] PROGRAM [ARG...]
 *        policy-storm -S: be the trivial responder on descriptors 0 and 1, answering OK, as a
 *        policy server of Postfix's (bench/postfix.sh: what any policy check costs Postfix).
 * PROGRAM's stderr goes to ERRFILE (default /dev/null). Output: one line per mode and
 * target with the medians over the rounds, the ratio to the floor, and OK/DUNNO counts.
 * Exit: 0, 100 usage, 111 a failure (a reply missing, the program's exit not 0). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NREQ 65536 /* distinct requests prepared, sent in turn */

static char *reqs;
static size_t req_off[NREQ + 1];
static char **prog;
static const char *errfile = "/dev/null";

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "policy-storm: fatal: %s: %s\n", what, strerror(errno));
    exit(111);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void prepare(unsigned long k)
{
    size_t cap = (size_t)NREQ * 700;
    reqs = malloc(cap);
    if (reqs == NULL)
        die("malloc");
    size_t at = 0;
    for (unsigned long j = 0; j < NREQ; j++) {
        unsigned long t = j / 10, i = (t * 7919UL) % k;
        unsigned long a = 0x0a000000UL + i;
        req_off[j] = at;
        int n = snprintf(reqs + at, cap - at,
            "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
            "client_address=%lu.%lu.%lu.%lu\nclient_name=unknown\nclient_port=44142\n"
            "reverse_client_name=unknown\nserver_address=127.0.0.1\nserver_port=25\n"
            "helo_name=client.example\nsender=a@example.org\nrecipient=r%lu@elsewhere.example\n"
            "recipient_count=%lu\nqueue_id=\ninstance=4aad.6b0fbe34.%lx.0\nsize=0\netrn_domain=\n"
            "stress=\nsasl_method=\nsasl_username=\nsasl_sender=\nccert_subject=\nccert_issuer=\n"
            "ccert_fingerprint=\nccert_pubkey_fingerprint=\nencryption_protocol=\n"
            "encryption_cipher=\nencryption_keysize=0\npolicy_context=\n\n",
            a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, j % 10, j % 10, t);
        at += (size_t)n;
    }
    req_off[NREQ] = at;
}

static void writeall(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

/* The floor: answer each empty line, a batch of replies per read. */
static _Noreturn void floor_reply(const char *reply, size_t len)
{
    static char in[1 << 17], out[1 << 17];
    int nl = 0; /* the last byte seen was a newline */
    for (;;) {
        ssize_t got = read(0, in, sizeof in);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            _exit(got == 0 ? 0 : 111);
        size_t o = 0;
        for (ssize_t i = 0; i < got; i++) {
            if (in[i] == '\n') {
                if (nl) {
                    memcpy(out + o, reply, len);
                    o += len;
                    if (o + len > sizeof out) {
                        writeall(1, out, o);
                        o = 0;
                    }
                    nl = 0;
                } else {
                    nl = 1;
                }
            } else {
                nl = 0;
            }
        }
        if (o > 0)
            writeall(1, out, o);
    }
}

static _Noreturn void floor_server(void)
{
    floor_reply("action=DUNNO\n\n", 14);
}

static pid_t start(int is_floor, int *fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        die("socketpair");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int e = open(errfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (e < 0 || dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0 || dup2(e, 2) < 0)
            die("child setup");
        /* The floor does not exec: its copies would keep the connection open. */
        close(sv[0]);
        close(sv[1]);
        close(e);
        if (is_floor)
            floor_server();
        execvp(prog[0], prog);
        die(prog[0]);
    }
    close(sv[1]);
    *fd = sv[0];
    return pid;
}

static void finish(pid_t pid, int fd)
{
    close(fd);
    int st;
    if (waitpid(pid, &st, 0) < 0)
        die("waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "policy-storm: fatal: the server exited with status %d\n", st);
        exit(111);
    }
}

static unsigned long oks, dunnos;

/* Count replies in p[0..n): each has two newlines; "K" is only in OK, "U" only in DUNNO. */
static unsigned long count(const char *p, size_t n, int *half)
{
    unsigned long r = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            if (*half)
                r++;
            *half = !*half;
        } else if (p[i] == 'K') {
            oks++;
        } else if (p[i] == 'U') {
            dunnos++;
        }
    }
    return r;
}

static double pipelined(int is_floor, unsigned long n)
{
    int fd;
    pid_t pid = start(is_floor, &fd);
    double t0 = now();
    pid_t w = fork();
    if (w < 0)
        die("fork");
    if (w == 0) {
        unsigned long sent = 0;
        while (sent < n) {
            unsigned long j = sent % NREQ, take = NREQ - j;
            if (take > n - sent)
                take = n - sent;
            writeall(fd, reqs + req_off[j], req_off[j + take] - req_off[j]);
            sent += take;
        }
        shutdown(fd, SHUT_WR);
        _exit(0);
    }
    static char buf[1 << 17];
    unsigned long got = 0;
    int half = 0;
    while (got < n) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "policy-storm: fatal: %lu replies of %lu\n", got, n);
            exit(111);
        }
        got += count(buf, (size_t)r, &half);
    }
    double t = now() - t0;
    int st;
    waitpid(w, &st, 0);
    finish(pid, fd);
    return (double)n / t;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void lockstep(int is_floor, unsigned long m, double *median, double *p99)
{
    int fd;
    pid_t pid = start(is_floor, &fd);
    double *lat = malloc(m * sizeof *lat);
    if (lat == NULL)
        die("malloc");
    char buf[256];
    for (unsigned long j = 0; j < m; j++) {
        unsigned long k = j % NREQ;
        double t0 = now();
        writeall(fd, reqs + req_off[k], req_off[k + 1] - req_off[k]);
        int half = 0;
        unsigned long got = 0;
        while (got == 0) {
            ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                fprintf(stderr, "policy-storm: fatal: no reply in lockstep\n");
                exit(111);
            }
            got = count(buf, (size_t)r, &half);
        }
        lat[j] = now() - t0;
    }
    finish(pid, fd);
    qsort(lat, m, sizeof *lat, cmp);
    *median = lat[m / 2] * 1e6;
    *p99 = lat[m * 99 / 100] * 1e6;
    free(lat);
}

static double med(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    unsigned long k = 1000, n = 1000000, m = 20000;
    int rounds = 5, opt;
    while ((opt = getopt(argc, argv, "+k:n:m:r:e:S")) != -1) {
        switch (opt) {
        case 'S': floor_reply("action=OK\n\n", 11);
        case 'k': k = strtoul(optarg, NULL, 10); break;
        case 'n': n = strtoul(optarg, NULL, 10); break;
        case 'm': m = strtoul(optarg, NULL, 10); break;
        case 'r': rounds = (int)strtol(optarg, NULL, 10); break;
        case 'e': errfile = optarg; break;
        default: return 100;
        }
    }
    if (optind >= argc || k == 0 || n == 0 || m == 0 || rounds < 1 || rounds > 99) {
        fprintf(stderr, "usage: policy-storm [-k K] [-n N] [-m M] [-r ROUNDS] [-e ERRFILE] "
                        "PROGRAM [ARG...]\n");
        return 100;
    }
    prog = argv + optind;
    signal(SIGPIPE, SIG_IGN);
    prepare(k);

    double fp[100], pp[100], fl[100], pl[100], f99[100], p99[100];
    unsigned long po = 0, pd = 0;
    for (int r = 0; r < rounds; r++) {
        fp[r] = pipelined(1, n);
        oks = dunnos = 0;
        pp[r] = pipelined(0, n);
        po = oks, pd = dunnos;
        lockstep(1, m, &fl[r], &f99[r]);
        lockstep(0, m, &pl[r], &p99[r]);
    }
    double FP = med(fp, rounds), PP = med(pp, rounds), FL = med(fl, rounds), PL = med(pl, rounds);
    double F99 = med(f99, rounds), P99 = med(p99, rounds);
    printf("pipelined floor: %.0f req/s\n", FP);
    printf("pipelined relay-policy: %.0f req/s (%.2f of the floor; last round %lu OK, %lu DUNNO)\n",
           PP, PP / FP, po, pd);
    printf("lockstep floor: median %.1f us, p99 %.1f us (%.0f req/s)\n", FL, F99, 1e6 / FL);
    printf("lockstep relay-policy: median %.1f us, p99 %.1f us (%.0f req/s; %.2f x the floor's "
           "median)\n", PL, P99, 1e6 / PL, PL / FL);
    return 0;
}
