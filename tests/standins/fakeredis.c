/* fakeredis: a Redis (or Sentinel) that says what its script says, for the client's tests:
 * replies no real server sends, and servers that hang, drip, close or never accept.
 *
 *   fakeredis [-b] [-r READYFILE] [-l LOGFILE] ADDR SCRIPT
 *
 * ADDR is unix:/path, a.b.c.d:PORT or [v6]:PORT (numeric; PORT 0 picks a free one). Once it
 * listens, READYFILE is written (by rename) with the port, or "unix" for a Unix socket.
 * Connections are served one after another; each runs SCRIPT from the top, a line at a time:
 *   wait          read one whole request (an array of bulk strings); LOGFILE gets its words
 *   send TEXT     send TEXT in one write; \r \n \\ and \xHH are escapes
 *   drip MS TEXT  send TEXT one byte every MS milliseconds
 *   hang          read and drop whatever comes until the client closes
 *   close         close the connection at once
 * A script that ends hangs. Blank lines and lines starting with # are skipped.
 * -b (backlog): listen with a backlog of 0, fill the queue with connections of its own, and
 * never accept, so that a client's connect itself waits (TCP: the SYN is dropped; Unix: the
 * kernel says EAGAIN).
 * Exit codes: 100 usage, 111 a setup error; otherwise it runs until it is killed. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char script[1 << 16];
static const char *logfile;

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "fakeredis: fatal: %s: %s\n", what, strerror(errno));
    exit(111);
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: fakeredis [-b] [-r READYFILE] [-l LOGFILE] ADDR SCRIPT\n");
    exit(100);
}

static socklen_t parse_addr(const char *s, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (strncmp(s, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        size_t n = strlen(s + 5);
        if (n >= sizeof un->sun_path)
            usage();
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, s + 5, n + 1);
        return sizeof *un;
    }
    char host[64];
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof host)
        usage();
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        usage();
    if (host[0] == '[') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        size_t n = strlen(host);
        if (n < 2 || host[n - 1] != ']')
            usage();
        host[n - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            usage();
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((unsigned short)port);
        return sizeof *s6;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        usage();
    s4->sin_family = AF_INET;
    s4->sin_port = htons((unsigned short)port);
    return sizeof *s4;
}

static void ready(const char *file, const char *text)
{
    char tmp[4200];
    FILE *f;
    if (file == NULL)
        return;
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0 ||
        rename(tmp, file) != 0)
        die("unable to write the ready file");
}

/* TEXT with its escapes decoded into out; its length. */
static size_t unescape(const char *s, char *out)
{
    size_t n = 0;
    while (*s) {
        if (*s != '\\') {
            out[n++] = *s++;
            continue;
        }
        s++;
        if (*s == 'r') {
            out[n++] = '\r';
            s++;
        } else if (*s == 'n') {
            out[n++] = '\n';
            s++;
        } else if (*s == 'x' && s[1] && s[2]) {
            char hex[3] = {s[1], s[2], 0};
            out[n++] = (char)strtol(hex, NULL, 16);
            s += 3;
        } else if (*s) {
            out[n++] = *s++;
        }
    }
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The connection's input: what has been read and not yet taken by a "wait". */
static char in[1 << 21];
static size_t inlen;

/* Length of the whole request at the start of in, 0 if incomplete, -1 if it is not one. */
static long request_len(void)
{
    size_t at = 0;
    long count;
    char *end;
    if (inlen == 0)
        return 0;
    if (in[0] != '*')
        return -1;
    char *nl = memchr(in, '\n', inlen);
    if (nl == NULL)
        return 0;
    count = strtol(in + 1, &end, 10);
    if (count < 1 || end[0] != '\r')
        return -1;
    at = (size_t)(nl - in) + 1;
    for (long i = 0; i < count; i++) {
        if (at >= inlen)
            return 0;
        if (in[at] != '$')
            return -1;
        nl = memchr(in + at, '\n', inlen - at);
        if (nl == NULL)
            return 0;
        long len = strtol(in + at + 1, &end, 10);
        if (len < 0 || end[0] != '\r')
            return -1;
        at = (size_t)(nl - in) + 1 + (size_t)len + 2;
        if (at > inlen)
            return 0;
    }
    return (long)at;
}

/* Write the request's words to the log, one line. */
static void log_request(size_t n)
{
    FILE *f;
    if (logfile == NULL || (f = fopen(logfile, "a")) == NULL)
        return;
    size_t at = (size_t)((char *)memchr(in, '\n', n) - in) + 1;
    int first = 1;
    while (at < n) {
        char *nl = memchr(in + at, '\n', n - at);
        long len = strtol(in + at + 1, NULL, 10);
        at = (size_t)(nl - in) + 1;
        if (!first)
            fputc(' ', f);
        fwrite(in + at, 1, (size_t)len, f);
        first = 0;
        at += (size_t)len + 2;
    }
    fputc('\n', f);
    fclose(f);
}

/* Read until one whole request is in; 0, or -1 at EOF, an error, or garbage. */
static int wait_request(int fd)
{
    for (;;) {
        long n = request_len();
        if (n < 0)
            return -1;
        if (n > 0) {
            log_request((size_t)n);
            memmove(in, in + n, inlen - (size_t)n);
            inlen -= (size_t)n;
            return 0;
        }
        if (inlen == sizeof in)
            return -1;
        ssize_t r = read(fd, in + inlen, sizeof in - inlen);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        inlen += (size_t)r;
    }
}

static void drain(int fd)
{
    char b[4096];
    ssize_t r;
    while ((r = read(fd, b, sizeof b)) > 0 || (r < 0 && errno == EINTR))
        ;
}

static void serve(int fd)
{
    static char text[sizeof script];
    char *save = NULL, copy[sizeof script];
    inlen = 0;
    memcpy(copy, script, sizeof script);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (strcmp(line, "wait") == 0) {
            if (wait_request(fd) != 0)
                return;
        } else if (strncmp(line, "send ", 5) == 0) {
            if (send_all(fd, text, unescape(line + 5, text)) != 0)
                return;
        } else if (strncmp(line, "drip ", 5) == 0) {
            char *rest;
            long ms = strtol(line + 5, &rest, 10);
            size_t n = unescape(rest[0] == ' ' ? rest + 1 : rest, text);
            for (size_t i = 0; i < n; i++) {
                if (send_all(fd, text + i, 1) != 0)
                    return;
                sleep_ms(ms);
            }
        } else if (strcmp(line, "close") == 0) {
            return;
        } else if (strcmp(line, "hang") == 0) {
            break;
        } else {
            fprintf(stderr, "fakeredis: warning: unknown script line: %s\n", line);
        }
    }
    drain(fd);
}

/* Connect to our own listening socket until the queue is full (a few at most). */
static void fill_backlog(const struct sockaddr_storage *ss, socklen_t len)
{
    for (int i = 0; i < 8; i++) {
        int f = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (f < 0)
            die("unable to make a socket");
        if (connect(f, (const struct sockaddr *)ss, len) != 0 && errno != EINPROGRESS) {
            close(f);
            return; /* Unix: EAGAIN, the queue is full */
        }
        if (ss->ss_family != AF_UNIX) {
            /* TCP: the first completes into the queue; wait for it so that the queue is
             * full before we say ready. The later ones stay in SYN-SENT, which is fine. */
            struct pollfd p = {.fd = f, .events = POLLOUT, .revents = 0};
            if (i == 0 && poll(&p, 1, 10000) != 1)
                die("unable to fill the backlog");
            if (i >= 2)
                return;
        }
    }
}

int main(int argc, char **argv)
{
    const char *readyfile = NULL;
    int backlog = 0, opt;
    while ((opt = getopt(argc, argv, "br:l:")) != -1) {
        switch (opt) {
        case 'b': backlog = 1; break;
        case 'r': readyfile = optarg; break;
        case 'l': logfile = optarg; break;
        default: usage();
        }
    }
    if (argc - optind != 2)
        usage();
    signal(SIGPIPE, SIG_IGN);

    int sf = open(argv[optind + 1], O_RDONLY);
    ssize_t sn;
    if (sf < 0 || (sn = read(sf, script, sizeof script - 1)) < 0)
        die("unable to read the script");
    close(sf);
    script[sn] = '\0';

    struct sockaddr_storage ss;
    socklen_t len = parse_addr(argv[optind], &ss);
    int l = socket(ss.ss_family, SOCK_STREAM, 0);
    int one = 1;
    if (l < 0)
        die("unable to make a socket");
    if (ss.ss_family == AF_UNIX)
        (void)unlink(((struct sockaddr_un *)&ss)->sun_path); /* the last run's socket */
    else
        (void)setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&ss, len) != 0 || listen(l, backlog ? 0 : 16) != 0)
        die("unable to listen");
    char port[16] = "unix";
    if (ss.ss_family != AF_UNIX) {
        len = sizeof ss;
        if (getsockname(l, (struct sockaddr *)&ss, &len) != 0)
            die("unable to read the port");
        snprintf(port, sizeof port, "%u",
                 ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                               : ((struct sockaddr_in6 *)&ss)->sin6_port));
    }
    if (backlog) {
        fill_backlog(&ss, len);
        ready(readyfile, port);
        for (;;)
            pause();
    }
    ready(readyfile, port);
    for (;;) {
        int fd = accept(l, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("unable to accept");
        }
        serve(fd);
        close(fd);
    }
}
