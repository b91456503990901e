/* client.c: connections to Redis and Sentinel under one deadline for the whole exchange.
 *
 * Every wait is a poll(2) with the time left to the caller's deadline on CLOCK_MONOTONIC, and
 * the deadline is checked again before each send and each read, so a server that drips a byte
 * just inside a per-call timeout still ends at the deadline. Nothing here blocks: the sockets
 * are non-blocking from socket(2) on. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "addr.h"
#include "clock.h"
#include "io.h"
#include "redis/client.h"
#include "settings.h"

/* A non-blocking connect to a Unix socket whose listen queue is full fails at once with
 * EAGAIN (TCP instead drops the SYN and lets poll wait); it is tried again this often. */
#define UNIX_RETRY_MS 5

static void set_why(const char **why, const char *s)
{
    if (why != NULL)
        *why = s;
}

/* Wait until fd is ready for events, or the deadline: 0, or -1 with errno (ETIMEDOUT). */
static int wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        int ms = clock_left(deadline);
        if (ms == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = events, .revents = 0};
        int r = poll(&p, 1, ms);
        if (r > 0)
            return 0; /* POLLERR and POLLHUP too: the send or recv that follows says what */
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* ---- addresses ------------------------------------------------------------------------- */

/* host: a numeric IPv4 address (v6 0) or IPv6 address (v6 1) as addr_parse takes it. */
static int inet_of(struct redis_addr *a, const char *host, int v6, const char *port)
{
    struct addr ad;
    long p;
    if ((strchr(host, ':') != NULL) != v6 || addr_parse(&ad, host) != 0 ||
        settings_number(port, 1, 65535, &p) != 0)
        return -1;
    memset(&a->sa, 0, sizeof a->sa);
    if (ad.family == 4) {
        /* an IPv4-mapped "[::ffff:a.b.c.d]" comes back as family 4: the same host */
        struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((unsigned short)p);
        memcpy(&sin->sin_addr, ad.b, 4);
        a->len = sizeof *sin;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->sa;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short)p);
        memcpy(&sin6->sin6_addr, ad.b, 16);
        a->len = sizeof *sin6;
    }
    return 0;
}

int redis_addr_parse(const char *s, struct redis_addr *a)
{
    struct redis_addr r;
    char host[ADDR_TEXT_MAX + 8];
    size_t n = strlen(s);

    if (n >= sizeof r.text)
        return -1;
    memset(&r, 0, sizeof r);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return -1; /* messages quote the address: one line, no spaces */
    if (strncmp(s, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&r.sa;
        const char *path = s + 5;
        if (path[0] != '/' || strlen(path) >= sizeof un->sun_path)
            return -1;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, path, strlen(path) + 1);
        r.len = (socklen_t)sizeof *un;
    } else if (s[0] == '[') {
        const char *end = strstr(s, "]:");
        if (end == NULL || (size_t)(end - s - 1) >= sizeof host)
            return -1;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        if (inet_of(&r, host, 1, end + 2) != 0)
            return -1;
    } else {
        const char *colon = strchr(s, ':');
        if (colon == NULL || (size_t)(colon - s) >= sizeof host)
            return -1;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        if (inet_of(&r, host, 0, colon + 1) != 0)
            return -1;
    }
    memcpy(r.text, s, n + 1);
    *a = r;
    return 0;
}

/* ---- one connection -------------------------------------------------------------------- */

enum start { STARTED, STARTING, START_AGAIN, START_FAILED };

/* Begin connecting c->fd (made here if it is -1) to a, without waiting. */
static enum start start_connect(struct redis_conn *c, const struct redis_addr *a)
{
    if (c->fd < 0) {
        c->fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c->fd < 0)
            return START_FAILED;
    }
    if (connect(c->fd, (const struct sockaddr *)&a->sa, a->len) == 0)
        return STARTED;
    /* After EINTR the connect goes on in the kernel, as after EINPROGRESS: poll says when. */
    if (errno == EINPROGRESS || errno == EINTR)
        return STARTING;
    if (errno == EAGAIN && a->sa.ss_family == AF_UNIX)
        return START_AGAIN;
    return START_FAILED;
}

/* The outcome of a connect that poll found writable: 0, or -1 with its errno. */
static int connect_result(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -1;
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

static void fail_close(struct redis_conn *c)
{
    int e = errno;
    redis_close(c);
    errno = e;
}

int redis_connect(struct redis_conn *c, const struct redis_addr *a,
                  long long deadline, char *buf, size_t cap)
{
    c->fd = -1;
    c->deadline = deadline;
    c->buf = buf;
    c->cap = cap;
    c->len = 0;
    c->off = 0;
    for (;;) {
        int ms = clock_left(c->deadline);
        if (ms == 0) {
            errno = ETIMEDOUT;
            fail_close(c);
            return -1;
        }
        switch (start_connect(c, a)) {
        case STARTED:
            return 0;
        case STARTING:
            if (wait_fd(c->fd, POLLOUT, c->deadline) != 0 || connect_result(c->fd) != 0) {
                fail_close(c);
                return -1;
            }
            return 0;
        case START_AGAIN:
            if (poll(NULL, 0, ms < UNIX_RETRY_MS ? ms : UNIX_RETRY_MS) < 0 && errno != EINTR) {
                fail_close(c);
                return -1;
            }
            break;
        case START_FAILED:
            fail_close(c);
            return -1;
        }
    }
}

int redis_send(struct redis_conn *c, const char *req, size_t n)
{
    while (n > 0) {
        if (clock_left(c->deadline) == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        /* MSG_NOSIGNAL: a server that went away is EPIPE here, not SIGPIPE for the login
         * chain or the SMTP session that runs us. */
        ssize_t w = send(c->fd, req, n, MSG_NOSIGNAL);
        if (w > 0) {
            req += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && errno == EAGAIN) {
            if (wait_fd(c->fd, POLLOUT, c->deadline) != 0)
                return -1;
        } else {
            if (w == 0)
                errno = EIO;
            return -1;
        }
    }
    return 0;
}

/* Parse what is buffered: 1 a reply (c->off past it), 0 need more, -1 malformed (EPROTO). */
static int parse_buffered(struct redis_conn *c, struct resp_item *items, size_t max,
                          size_t *nitems, const char **why)
{
    size_t used = 0;
    const char *w = "malformed reply";
    if (c->len == c->off)
        return 0;
    int r = resp_parse(c->buf + c->off, c->len - c->off, items, max, nitems, &used, &w);
    if (r > 0)
        c->off += used;
    if (r < 0) {
        set_why(why, w);
        errno = EPROTO;
    }
    return r;
}

int redis_reply(struct redis_conn *c, struct resp_item *items, size_t max, size_t *nitems,
                const char **why)
{
    /* The last reply's items point into the buffer; they are spent now. What follows them
     * is moved to the front only when the buffer has no room left: replies read in a
     * pipelined batch are parsed where they lie, not moved once for each reply. */
    if (c->off == c->len)
        c->off = c->len = 0;
    for (;;) {
        int r = parse_buffered(c, items, max, nitems, why);
        if (r != 0)
            return r > 0 ? 0 : -1;
        if (c->len == c->cap && c->off > 0) {
            memmove(c->buf, c->buf + c->off, c->len - c->off);
            c->len -= c->off;
            c->off = 0;
        }
        if (c->len == c->cap) {
            set_why(why, "reply larger than the buffer");
            errno = EMSGSIZE;
            return -1;
        }
        if (wait_fd(c->fd, POLLIN, c->deadline) != 0) {
            set_why(why, errno == ETIMEDOUT ? "no whole reply before the deadline" : "poll");
            return -1;
        }
        ssize_t got = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (got > 0) {
            c->len += (size_t)got;
        } else if (got == 0) {
            set_why(why, "connection closed before a whole reply");
            errno = ECONNRESET;
            return -1;
        } else if (errno != EINTR && errno != EAGAIN) {
            set_why(why, "connection failed before a whole reply");
            return -1;
        }
    }
}

int redis_leftover(const struct redis_conn *c)
{
    return c->len > c->off;
}

void redis_close(struct redis_conn *c)
{
    if (c->fd >= 0)
        (void)close(c->fd); /* Linux frees the descriptor even when close fails */
    c->fd = -1;
}

/* ---- the password file ----------------------------------------------------------------- */

/* A memset the compiler may not drop as dead: the password is not left in a buffer the
 * caller will not read. */
static void wipe(char *p, size_t n)
{
    volatile char *v = p;
    while (n-- > 0)
        *v++ = 0;
}

static long unfit(char *out, size_t cap, const char **why, const char *reason)
{
    wipe(out, cap);
    set_why(why, reason);
    errno = EINVAL;
    return -1;
}

long redis_passfile(const char *path, char *out, size_t cap, const char **why)
{
    struct stat st;
    set_why(why, NULL);
    if (cap < 2) {
        errno = EINVAL;
        return -1;
    }
    /* O_NONBLOCK: a FIFO put in its place opens at once (and is refused below) */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP)
            set_why(why, "is a symbolic link");
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        (void)close(fd);
        errno = e;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        (void)close(fd);
        return unfit(out, cap, why, "is not a regular file");
    }
    if ((st.st_mode & 007) != 0) {
        (void)close(fd);
        return unfit(out, cap, why, "is open to other users (chmod o-rwx)");
    }
    /* Root reads it too (relay-session, a root cron): a file that some other account owns
     * could be a link that account made to one of root's, whose first line would go out as
     * the password. */
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        (void)close(fd);
        return unfit(out, cap, why, "belongs to neither root nor the account that reads it");
    }
    ssize_t n = io_read(fd, out, cap);
    int e = errno;
    (void)close(fd);
    if (n < 0) {
        wipe(out, cap);
        errno = e;
        return -1;
    }
    if ((size_t)n >= cap)
        return unfit(out, cap, why, "is too long");
    if (n > 0 && out[n - 1] == '\n')
        n--;
    if (n == 0)
        return unfit(out, cap, why, "is empty");
    for (ssize_t i = 0; i < n; i++)
        if (out[i] == '\0' || out[i] == '\r' || out[i] == '\n')
            return unfit(out, cap, why, "is not one line of text (NUL, CR or a second line)");
    out[n] = '\0';
    return (long)n;
}

int redis_auth_request(char *out, size_t cap, size_t *len, const char *user, const char *pass,
                       size_t passlen)
{
    const char *argv[3] = {"AUTH", user, pass};
    size_t lens[3] = {4, user != NULL ? strlen(user) : 0, passlen};
    if (user == NULL) {
        argv[1] = pass;
        lens[1] = passlen;
    }
    return resp_request(out, cap, len, user != NULL ? 3 : 2, argv, lens);
}

/* ---- Sentinel ---------------------------------------------------------------------------- */

/* An answer is two short bulk strings; anything near this size is not one. */
#define SENTINEL_BUF 512
#define SENTINEL_PASS_MAX 512
#define SENTINEL_ITEMS 4

enum sstate { S_AGAIN, S_CONNECTING, S_SENDING, S_READING, S_DONE };

struct sentinel {
    struct redis_conn c;
    enum sstate state;
    int auth_pending; /* its reply to AUTH is still to come */
    size_t sent;
    char buf[SENTINEL_BUF];
};

/* What the sentinels said so far. */
struct tally {
    int nil, garbage, pending_err;
    const char *why;
};

/* The answer in c's buffer as an address: 0, or -1 with *why. */
static int answer_addr(struct redis_conn *c, const struct resp_item *it, size_t n,
                       struct redis_addr *out, const char **why)
{
    char text[sizeof out->text];
    if (redis_leftover(c)) {
        *why = "a sentinel sent more than its answer";
        return -1;
    }
    if (n != 3 || it[0].type != RESP_ARRAY || it[0].n != 2 || it[1].type != RESP_BULK ||
        it[2].type != RESP_BULK) {
        *why = it[0].type == RESP_ERROR ? "a sentinel answered with an error"
                                        : "a sentinel's answer is not two strings";
        return -1;
    }
    const struct resp_item *ip = &it[1], *port = &it[2];
    if (ip->len == 0 || ip->len >= ADDR_TEXT_MAX + 6 || port->len == 0 || port->len > 5 ||
        memchr(ip->p, '\0', ip->len) != NULL || memchr(port->p, '\0', port->len) != NULL) {
        *why = "a sentinel named an address that is not numeric";
        return -1;
    }
    /* Only an IP address: "unix" and a port of "/x" would otherwise read as a socket path. */
    char iptext[ADDR_TEXT_MAX + 6];
    unsigned char bin[16];
    memcpy(iptext, ip->p, ip->len);
    iptext[ip->len] = '\0';
    if (inet_pton(AF_INET, iptext, bin) != 1 && inet_pton(AF_INET6, iptext, bin) != 1) {
        *why = "a sentinel named an address that is not numeric";
        return -1;
    }
    int v6 = memchr(ip->p, ':', ip->len) != NULL;
    size_t k = 0;
    if (v6)
        text[k++] = '[';
    memcpy(text + k, ip->p, ip->len);
    k += ip->len;
    if (v6)
        text[k++] = ']';
    text[k++] = ':';
    memcpy(text + k, port->p, port->len);
    k += port->len;
    text[k] = '\0';
    if (redis_addr_parse(text, out) != 0) {
        *why = "a sentinel named an address that is not numeric, or a bad port";
        return -1;
    }
    return 0;
}

/* One step of sentinel s after poll said revents (0: none yet). 1 if it named the primary. */
static int sentinel_step(struct sentinel *s, const struct redis_addr *a, short revents,
                         const char *req, size_t reqlen, struct redis_addr *primary,
                         struct tally *t)
{
    struct resp_item it[SENTINEL_ITEMS];
    size_t n = 0;
    const char *why = NULL;

    if (s->state == S_AGAIN) {
        switch (start_connect(&s->c, a)) {
        case STARTED:
            s->state = S_SENDING;
            break;
        case STARTING:
            s->state = S_CONNECTING;
            return 0;
        case START_AGAIN:
            return 0;
        case START_FAILED:
            goto failed;
        }
    } else if (s->state == S_CONNECTING) {
        if (revents == 0)
            return 0;
        if (connect_result(s->c.fd) != 0)
            goto failed;
        s->state = S_SENDING;
    }
    if (s->state == S_SENDING) {
        while (s->sent < reqlen) {
            ssize_t w = send(s->c.fd, req + s->sent, reqlen - s->sent, MSG_NOSIGNAL);
            if (w > 0)
                s->sent += (size_t)w;
            else if (w < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
            else
                goto failed;
        }
        s->state = S_READING;
        return 0;
    }
    if (s->state != S_READING || revents == 0)
        return 0;
    struct redis_conn *c = &s->c;
    ssize_t got = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (got <= 0) {
        if (got == 0)
            errno = ECONNRESET;
        goto failed;
    }
    c->len += (size_t)got;
    int r;
    if (s->auth_pending) {
        size_t used = 0;
        r = resp_parse(c->buf, c->len, it, SENTINEL_ITEMS, &n, &used, &why);
        if (r == 0 && c->len < c->cap)
            return 0;
        if (r > 0 && n == 1 && it[0].type == RESP_STATUS && it[0].len == 2 &&
            memcmp(it[0].p, "OK", 2) == 0) {
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            s->auth_pending = 0;
            if (c->len == 0)
                return 0;
        } else {
            s->state = S_DONE;
            redis_close(c);
            t->garbage++;
            t->why = r > 0 && it[0].type == RESP_ERROR ? "a sentinel refused the password"
                                                       : "a sentinel's answer to AUTH is malformed";
            return 0;
        }
    }
    r = resp_parse(c->buf, c->len, it, SENTINEL_ITEMS, &n, &c->off, &why);
    if (r == 0 && c->len < c->cap)
        return 0;
    s->state = S_DONE;
    redis_close(c);
    if (r == 0) {
        why = "a sentinel's answer is too long";
    } else if (r > 0 && n == 1 && it[0].type == RESP_NIL_ARRAY && c->len == c->off) {
        t->nil++;
        return 0;
    } else if (r > 0 && answer_addr(c, it, n, primary, &why) == 0) {
        return 1;
    } else if (r < 0) {
        why = "a sentinel's answer is malformed";
    }
    t->garbage++;
    t->why = why;
    return 0;
failed:
    t->pending_err = errno;
    s->state = S_DONE;
    redis_close(&s->c);
    return 0;
}

int redis_sentinel_primary(const struct redis_addr *sentinels, size_t n, const char *master,
                           const char *pass, size_t passlen, long long deadline,
                           struct redis_addr *primary, const char **why)
{
    struct sentinel s[REDIS_SENTINELS_MAX];
    struct pollfd p[REDIS_SENTINELS_MAX];
    struct tally t = {0, 0, 0, NULL};
    char req[SENTINEL_BUF + 2 * SENTINEL_PASS_MAX];
    size_t reqlen = 0;
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", master};
    size_t lens[3] = {8, 23, strlen(master)};
    int won = 0, timed_out = 0;

    set_why(why, NULL);
    if (n == 0 || n > REDIS_SENTINELS_MAX) {
        set_why(why, "no sentinels, or too many");
        errno = EINVAL;
        return -1;
    }
    if (pass != NULL && (passlen > SENTINEL_PASS_MAX ||
                         redis_auth_request(req, sizeof req, &reqlen, NULL, pass, passlen) != 0)) {
        set_why(why, "the sentinels' password is too long");
        errno = EINVAL;
        return -1;
    }
    if (resp_request(req, sizeof req, &reqlen, 3, argv, lens) != 0) {
        wipe(req, sizeof req);
        set_why(why, "the master's name is too long");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        s[i].c.fd = -1;
        s[i].c.deadline = deadline;
        s[i].c.buf = s[i].buf;
        s[i].c.cap = sizeof s[i].buf;
        s[i].c.len = s[i].c.off = 0;
        s[i].state = S_AGAIN;
        s[i].auth_pending = pass != NULL;
        s[i].sent = 0;
    }
    /* Every sentinel is asked at once, so one that is black-holed costs nothing while another
     * answers; the first well-formed answer wins. */
    for (;;) {
        int again = 0, active = 0;
        for (size_t i = 0; i < n && !won; i++) {
            if (s[i].state == S_AGAIN)
                won = sentinel_step(&s[i], &sentinels[i], 0, req, reqlen, primary, &t);
            p[i].fd = -1;
            p[i].events = 0;
            p[i].revents = 0;
            if (s[i].state == S_AGAIN)
                again = 1;
            else if (s[i].state == S_CONNECTING || s[i].state == S_SENDING)
                p[i].events = POLLOUT;
            else if (s[i].state == S_READING)
                p[i].events = POLLIN;
            if (p[i].events != 0) {
                p[i].fd = s[i].c.fd;
                active = 1;
            }
        }
        if (won || (!active && !again))
            break;
        int ms = clock_left(deadline);
        if (ms == 0) {
            timed_out = 1;
            break;
        }
        if (again && ms > UNIX_RETRY_MS)
            ms = UNIX_RETRY_MS;
        int r = poll(p, (nfds_t)n, ms);
        if (r < 0 && errno != EINTR) {
            t.pending_err = errno;
            break;
        }
        for (size_t i = 0; r > 0 && i < n && !won; i++)
            if (p[i].fd >= 0 && p[i].revents != 0)
                won = sentinel_step(&s[i], &sentinels[i], p[i].revents, req, reqlen, primary,
                                    &t);
    }
    for (size_t i = 0; i < n; i++)
        redis_close(&s[i].c);
    wipe(req, sizeof req);
    if (won)
        return 0;
    if (t.garbage > 0) {
        set_why(why, t.why);
        errno = EPROTO;
    } else if (t.nil > 0) {
        set_why(why, "no sentinel knows the master's name");
        errno = ENOENT;
    } else if (timed_out) {
        set_why(why, "no sentinel answered before the deadline");
        errno = ETIMEDOUT;
    } else {
        set_why(why, "no sentinel could be reached");
        errno = t.pending_err != 0 ? t.pending_err : ECONNREFUSED;
    }
    return -1;
}
