/* smtp-storm: SMTP sessions one after the other, timed, as a real client runs them.
 *
 *   smtp-storm [-w WARM] HOST PORT N RCPT CODE
 *
 * Each session: connect, the greeting, EHLO, MAIL FROM, RCPT TO:<RCPT>, QUIT, then the
 * server's close (EOF); each command waits for its whole reply. WARM untimed sessions
 * first (default 20). Prints one line:
 *
 *   n=N median_ns=M p90_ns=P mean_ns=A bad=B
 *
 * with the session times (connect to EOF), and B the sessions whose RCPT reply did not start
 * with CODE (say 250 or 554) or that broke. Exit 0 when B is 0, 1 otherwise, 100 usage, 111
 * a session could not even connect.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    char buf[4096];
    size_t len, pos;
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The next byte, or -1 at EOF or on an error. */
static int next_byte(struct conn *c)
{
    if (c->pos == c->len) {
        ssize_t n;
        do
            n = read(c->fd, c->buf, sizeof c->buf);
        while (n == -1 && errno == EINTR);
        if (n <= 0)
            return -1;
        c->len = (size_t)n;
        c->pos = 0;
    }
    return (unsigned char)c->buf[c->pos++];
}

/* One whole reply (the last line has a space after the code); its code, or -1. */
static int reply(struct conn *c)
{
    char line[1024];
    for (;;) {
        size_t n = 0;
        int ch;
        while ((ch = next_byte(c)) != -1 && ch != '\n')
            if (n < sizeof line - 1)
                line[n++] = (char)ch;
        if (ch == -1)
            return -1;
        line[n] = '\0';
        if (n < 4)
            return -1;
        if (line[3] == ' ')
            return (int)strtol(line, NULL, 10);
    }
}

static int say(struct conn *c, const char *s)
{
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = write(c->fd, s + off, len - off);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* One session; 0 when the RCPT reply had the code, 1 when not, -1 when it did not connect. */
static int session(const struct addrinfo *ai, const char *rcpt_cmd, long code)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd == -1)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
        close(fd);
        return -1;
    }
    struct conn c = { .fd = fd };
    int bad = 1;
    if (reply(&c) == 220 && say(&c, "EHLO client.example\r\n") == 0 && reply(&c) == 250 &&
        say(&c, "MAIL FROM:<sender@client.example>\r\n") == 0 && reply(&c) == 250 &&
        say(&c, rcpt_cmd) == 0 && reply(&c) == code && say(&c, "QUIT\r\n") == 0 &&
        reply(&c) == 221) {
        while (next_byte(&c) != -1)
            ;
        bad = 0;
    }
    close(c.fd);
    return bad;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long warm = 20;
    int argi = 1;
    if (argc > 2 && strcmp(argv[1], "-w") == 0) {
        warm = strtol(argv[2], NULL, 10);
        argi = 3;
    }
    if (argc - argi != 5) {
        fprintf(stderr, "usage: smtp-storm [-w WARM] HOST PORT N RCPT CODE\n");
        return 100;
    }
    const char *host = argv[argi], *port = argv[argi + 1], *rcpt = argv[argi + 3];
    long n = strtol(argv[argi + 2], NULL, 10);
    long code = strtol(argv[argi + 4], NULL, 10);
    if (n < 1 || warm < 0 || code < 200 || code > 599 || strlen(rcpt) > 900) {
        fprintf(stderr, "smtp-storm: fatal: bad N, WARM, CODE or RCPT\n");
        return 100;
    }
    char rcpt_cmd[1024];
    snprintf(rcpt_cmd, sizeof rcpt_cmd, "RCPT TO:<%s>\r\n", rcpt);

    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST }, *ai;
    int e = getaddrinfo(host, port, &hints, &ai);
    if (e != 0) {
        fprintf(stderr, "smtp-storm: fatal: %s %s: %s\n", host, port, gai_strerror(e));
        return 100;
    }
    long long *t = malloc((size_t)n * sizeof *t);
    if (t == NULL) {
        fprintf(stderr, "smtp-storm: fatal: out of memory\n");
        freeaddrinfo(ai);
        return 111;
    }
    long bad = 0;
    for (long i = 0; i < warm; i++)
        if (session(ai, rcpt_cmd, code) == -1) {
            fprintf(stderr, "smtp-storm: fatal: unable to connect to %s %s\n", host, port);
            free(t);
            freeaddrinfo(ai);
            return 111;
        }
    long double sum = 0;
    for (long i = 0; i < n; i++) {
        long long t0 = now_ns();
        int r = session(ai, rcpt_cmd, code);
        t[i] = now_ns() - t0;
        sum += t[i];
        if (r == -1) {
            fprintf(stderr, "smtp-storm: fatal: unable to connect to %s %s\n", host, port);
            free(t);
            freeaddrinfo(ai);
            return 111;
        }
        bad += r;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_ll);
    printf("n=%ld median_ns=%lld p90_ns=%lld mean_ns=%.0Lf bad=%ld\n", n, t[n / 2],
           t[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1], sum / n, bad);
    freeaddrinfo(ai);
    free(t);
    return bad == 0 ? 0 : 1;
}
