/* chat: the test client for SMTP and POP3 conversations on loopback.
 *
 * Stands in for a person typing into telnet (or for nc/socat in other test suites). Servers in
 * the qmail family read their input buffered, and qmail-popup hands the connection to another
 * program after PASS, so a client that sends everything at once loses lines. chat sends one
 * line, then waits for the whole reply before it sends the next, as a real mail client does.
 *
 *   chat [-t secs] host port < script   talk: a transcript goes to stdout
 *   chat -w [-t secs] host port         wait until host:port accepts a connection
 *   chat -f host                        print a port that is free on host right now
 *
 * The script is one command per line. The greeting is read first. A reply ends at a line that
 * is not an SMTP continuation ("250-..."). After a "354" reply the following script lines are
 * message text: they are sent without waiting, up to and including the line ".". When the
 * script ends, chat closes its sending side and reads until the server closes the connection,
 * so that every line the server wrote, and its exit, come before chat's own exit.
 *
 * Transcript lines: "C: <sent>", "S: <received>" (CR LF stripped), and "-- closed" when the
 * server closed the connection before the script ended.
 * Exit codes: 0 done; 1 the server closed early; 100 usage; 111 connect error, I/O error or
 * timeout (the default timeout is 10 seconds per reply). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int timeout_ms = 10000;

static _Noreturn void die(int code, const char *what, const char *why)
{
    fflush(stdout);
    fprintf(stderr, "chat: %s%s%s\n", what, why ? ": " : "", why ? why : "");
    exit(code);
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: chat [-t secs] host port < script\n"
                    "       chat -w [-t secs] host port\n"
                    "       chat -f host\n");
    exit(100);
}

static struct addrinfo *resolve(const char *host, const char *port)
{
    struct addrinfo hints, *ai;
    int r;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    r = getaddrinfo(host, port, &hints, &ai);
    if (r != 0)
        die(100, "bad address", gai_strerror(r));
    return ai;
}

static int try_connect(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);

    if (fd == -1)
        die(111, "unable to create socket", strerror(errno));
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* -f: bind port 0, ask the kernel which port it chose, and let it go again. */
static int free_port(const char *host)
{
    struct addrinfo *ai = resolve(host, "0");
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char port[32];
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);

    if (fd == -1)
        die(111, "unable to create socket", strerror(errno));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
        die(111, "unable to bind", strerror(errno));
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
        die(111, "unable to read the bound port", strerror(errno));
    if (getnameinfo((struct sockaddr *)&ss, len, NULL, 0, port, sizeof port, NI_NUMERICSERV))
        die(111, "unable to format the port", NULL);
    close(fd);
    freeaddrinfo(ai);
    printf("%s\n", port);
    return 0;
}

/* -w: retry every 50 ms until a connection succeeds or the timeout passes. */
static int wait_port(const char *host, const char *port)
{
    struct addrinfo *ai = resolve(host, port);
    struct timespec pause = {0, 50 * 1000 * 1000};
    int tries = timeout_ms / 50 + 1;

    while (tries-- > 0) {
        int fd = try_connect(ai);
        if (fd != -1) {
            close(fd);
            freeaddrinfo(ai);
            return 0;
        }
        nanosleep(&pause, NULL);
    }
    die(111, "nothing listening on port", port);
}

/* The connection, read through a buffer so that a reply can be split into lines. */
static int net = -1;
static char inbuf[4096];
static size_t inlen;

/* Read one line from the server into line (CR LF stripped). Returns 1, or 0 at EOF. */
static int net_line(char *line, size_t size)
{
    for (;;) {
        char *nl = memchr(inbuf, '\n', inlen);
        struct pollfd p = {net, POLLIN, 0};
        ssize_t r;

        if (nl || inlen == sizeof inbuf) {
            size_t n = nl ? (size_t)(nl - inbuf) + 1 : inlen;
            size_t keep = n;
            if (keep > 0 && inbuf[keep - 1] == '\n')
                keep--;
            if (keep > 0 && inbuf[keep - 1] == '\r')
                keep--;
            if (keep >= size)
                keep = size - 1;
            memcpy(line, inbuf, keep);
            line[keep] = '\0';
            memmove(inbuf, inbuf + n, inlen - n);
            inlen -= n;
            return 1;
        }
        r = poll(&p, 1, timeout_ms);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1)
            die(111, "unable to poll", strerror(errno));
        if (r == 0)
            die(111, "timeout waiting for the server", NULL);
        r = read(net, inbuf + inlen, sizeof inbuf - inlen);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            if (errno == ECONNRESET)
                r = 0;
            else
                die(111, "unable to read from the server", strerror(errno));
        }
        if (r == 0) {
            if (inlen == 0)
                return 0;
            /* an unterminated last line: hand it out as it is */
            memcpy(line, inbuf, inlen < size ? inlen : size - 1);
            line[inlen < size ? inlen : size - 1] = '\0';
            inlen = 0;
            return 1;
        }
        inlen += (size_t)r;
    }
}

static int is_continuation(const char *line)
{
    return line[0] >= '0' && line[0] <= '9' && line[1] >= '0' && line[1] <= '9' &&
           line[2] >= '0' && line[2] <= '9' && line[3] == '-';
}

/* Read one whole reply, printing each line. Returns its last line's first three bytes as a
 * number when it is an SMTP code, 1 for any other reply, or 0 at EOF. */
static int reply(void)
{
    char line[2048];

    for (;;) {
        if (!net_line(line, sizeof line)) {
            printf("-- closed\n");
            return 0;
        }
        printf("S: %s\n", line);
        if (!is_continuation(line))
            break;
    }
    fflush(stdout);
    if (line[0] >= '0' && line[0] <= '9' && line[1] >= '0' && line[1] <= '9' &&
        line[2] >= '0' && line[2] <= '9')
        return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    return 1;
}

static void send_line(const char *line)
{
    size_t len = strlen(line);
    char *out = malloc(len + 2);
    size_t done = 0;

    if (!out)
        die(111, "out of memory", NULL);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): bytes for write(2), not a string */
    memcpy(out, line, len);
    out[len] = '\r';
    out[len + 1] = '\n';
    printf("C: %s\n", line);
    fflush(stdout);
    while (done < len + 2) {
        ssize_t w = write(net, out + done, len + 2 - done);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1)
            die(111, "unable to write to the server", strerror(errno));
        done += (size_t)w;
    }
    free(out);
}

static int talk(const char *host, const char *port)
{
    struct addrinfo *ai = resolve(host, port);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int code;

    net = try_connect(ai);
    if (net == -1)
        die(111, "unable to connect", strerror(errno));
    freeaddrinfo(ai);

    code = reply();
    while (code && (len = getline(&line, &cap, stdin)) != -1) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        send_line(line);
        if (code == 354) {
            if (strcmp(line, ".") != 0)
                continue;
        }
        code = reply();
    }
    free(line);
    if (!code)
        return 1;
    /* End of script: let the server see EOF, then drain what it still says. */
    shutdown(net, SHUT_WR);
    for (;;) {
        char rest[2048];
        if (!net_line(rest, sizeof rest))
            break;
        printf("S: %s\n", rest);
    }
    close(net);
    return 0;
}

int main(int argc, char **argv)
{
    int opt, mode = 0;

    signal(SIGPIPE, SIG_IGN);
    while ((opt = getopt(argc, argv, "t:wf")) != -1) {
        switch (opt) {
        case 't': {
            char *end;
            long s = strtol(optarg, &end, 10);
            if (*end || s < 1 || s > 3600)
                usage();
            timeout_ms = (int)s * 1000;
            break;
        }
        case 'w':
        case 'f':
            mode = opt;
            break;
        default:
            usage();
        }
    }
    argc -= optind;
    argv += optind;
    if (mode == 'f') {
        if (argc != 1)
            usage();
        return free_port(argv[0]);
    }
    if (argc != 2)
        usage();
    if (mode == 'w')
        return wait_port(argv[0], argv[1]);
    return talk(argv[0], argv[1]);
}
