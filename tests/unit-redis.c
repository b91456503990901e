/* unit-redis.c: redis/client.c without a server: the strict address parser, the password
 * file's rules, the AUTH request, and replies read over a socketpair (split, extra bytes,
 * too big, malformed, cut off, never sent), a full Unix listen queue, and a send to a peer
 * that has gone (EPIPE, never SIGPIPE: SIGPIPE keeps its default here, which would kill the
 * test). Nothing waits on a time: a deadline that must pass is short, and alarm(30) turns a
 * call that never returns into a failure. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "clock.h"
#include "redis/client.h"
#include "unit.h"
#include "unit-files.h"

static void addr_cases(void)
{
    static const char *const good[] = {
        "unix:/run/redis/redis.sock",
        "unix:/x",
        "127.0.0.1:6379",
        "10.0.0.1:1",
        "192.0.2.255:65535",
        "[::1]:6379",
        "[2001:db8::7]:26379",
        "[::ffff:192.0.2.1]:6379",
        "[2001:DB8::1]:6379",
    };
    static const char *const bad[] = {
        "",
        "unix:",
        "unix:relative/path",
        "unix:/has space",
        "unix:/tab\there",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:99999999999999999999",
        "127.0.0.1:06379",
        "127.0.0.1:+6379",
        "127.0.0.1:-1",
        "127.0.0.1: 6379",
        "127.0.0.1:6379 ",
        " 127.0.0.1:6379",
        "127.0.0.1:6379\n",
        "127.0.0.1:0x10",
        "127.1:6379",
        "127.0.0.01:6379",
        "127.0.0.1.1:6379",
        "256.0.0.1:6379",
        "localhost:6379",
        "redis.example.org:6379",
        "::1:6379",
        "[::1]",
        "[::1]:",
        "[::1]6379",
        "[::1]:0",
        "[::1]:65536",
        "[fe80::1%eth0]:6379",
        "[fe80::1%25eth0]:6379",
        "[127.0.0.1]:6379",
        "[localhost]:6379",
        "[::1]:6379:1",
        "[[::1]]:6379",
        "[]:6379",
        "1.2.3.4:6379:7",
        "tcp://127.0.0.1:6379",
    };
    struct redis_addr a;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        memset(&a, 0, sizeof a);
        if (CHECK(redis_addr_parse(good[i], &a) == 0, "address %s parses", good[i]))
            CHECK_STR(a.text, good[i], "its text is kept for messages");
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&a, 0x55, sizeof a);
        CHECK(redis_addr_parse(bad[i], &a) == -1 && a.text[0] == 0x55,
              "address %s is refused, and leaves a alone", bad[i]);
    }

    /* sun_path's edge: the longest path that fits with its NUL, and one byte more */
    char s[200] = "unix:/";
    size_t max = sizeof ((struct sockaddr_un *)0)->sun_path - 1;
    memset(s + 6, 'p', max - 1);
    s[5 + max] = '\0';
    CHECK(redis_addr_parse(s, &a) == 0, "a Unix path of %zu bytes fits sun_path", max);
    s[5 + max] = 'p';
    s[6 + max] = '\0';
    CHECK(redis_addr_parse(s, &a) == -1, "a Unix path of %zu bytes does not", max + 1);
    char longtext[200];
    memset(longtext, '1', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    CHECK(redis_addr_parse(longtext, &a) == -1, "a long text is refused");

    CHECK(redis_addr_parse("192.0.2.1:6379", &a) == 0 && a.sa.ss_family == AF_INET &&
              ntohs(((struct sockaddr_in *)&a.sa)->sin_port) == 6379 &&
              a.len == sizeof(struct sockaddr_in),
          "IPv4: AF_INET, the port in network order");
    CHECK(redis_addr_parse("[2001:db8::7]:26379", &a) == 0 && a.sa.ss_family == AF_INET6 &&
              ntohs(((struct sockaddr_in6 *)&a.sa)->sin6_port) == 26379 &&
              ((struct sockaddr_in6 *)&a.sa)->sin6_addr.s6_addr[15] == 7,
          "IPv6: AF_INET6, address and port");
    CHECK(redis_addr_parse("[::ffff:192.0.2.1]:6379", &a) == 0 && a.sa.ss_family == AF_INET,
          "an IPv4-mapped address connects over IPv4");
}

static void passfile_cases(void)
{
    char out[16], p[4200];
    const char *why;
    static const struct {
        const char *name, *data;
        size_t n;
        mode_t mode;
        long want;        /* length, or -1 */
        const char *pass; /* what out holds */
    } cases[] = {
        {"plain", "secret\n", 7, 0600, 6, "secret"},
        {"nolf", "secret", 6, 0640, 6, "secret"},
        {"group", "s3cret\n", 7, 0660, 6, "s3cret"},
        {"max", "123456789012345", 15, 0600, 15, "123456789012345"},
        {"maxlf", "12345678901234\n", 15, 0600, 14, "12345678901234"},
        {"toolong", "1234567890123456", 16, 0600, -1, NULL},
        {"toolonglf", "123456789012345\n", 16, 0600, -1, NULL},
        {"huge", "123456789012345678901234567890", 30, 0600, -1, NULL},
        {"empty", "", 0, 0600, -1, NULL},
        {"lfonly", "\n", 1, 0600, -1, NULL},
        {"twolf", "secret\n\n", 8, 0600, -1, NULL},
        {"twolines", "secret\nmore\n", 12, 0600, -1, NULL},
        {"crlf", "secret\r\n", 8, 0600, -1, NULL},
        {"cr", "sec\rret", 7, 0600, -1, NULL},
        {"nul", "sec\0ret\n", 8, 0600, -1, NULL},
        {"nulend", "secret\0", 7, 0600, -1, NULL},
        {"otherr", "secret\n", 7, 0604, -1, NULL},
        {"otherw", "secret\n", 7, 0602, -1, NULL},
        {"otherx", "secret\n", 7, 0601, -1, NULL},
        {"world", "secret\n", 7, 0666, -1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        put_mode(top, cases[i].name, cases[i].data, cases[i].n, cases[i].mode);
        path_of(p, sizeof p, top, cases[i].name);
        memset(out, 'X', sizeof out);
        why = NULL;
        long r = redis_passfile(p, out, sizeof out, &why);
        if (cases[i].want >= 0) {
            CHECK_LONG(r, cases[i].want, "passfile %s: its length", cases[i].name);
            CHECK_STR(r >= 0 ? out : NULL, cases[i].pass, "passfile %s: the password",
                      cases[i].name);
        } else {
            int none = 1;
            for (size_t k = 0; k < sizeof out; k++)
                none &= out[k] == 0 || out[k] == 'X';
            CHECK(r == -1 && errno == EINVAL && why != NULL && none,
                  "passfile %s is refused with a reason (%s), and out holds none of it",
                  cases[i].name, why ? why : "none");
        }
    }

    path_of(p, sizeof p, top, "link");
    CHECK(symlink("plain", p) == 0, "made a symbolic link");
    why = NULL;
    CHECK(redis_passfile(p, out, sizeof out, &why) == -1 && errno == ELOOP && why != NULL,
          "a symbolic link to a good file is refused");
    path_of(p, sizeof p, top, "fifo");
    CHECK(mkfifo(p, 0600) == 0, "made a FIFO");
    alarm(30);
    CHECK(redis_passfile(p, out, sizeof out, &why) == -1 && errno == EINVAL,
          "a FIFO is refused, without blocking on its open");
    alarm(0);
    CHECK(redis_passfile(top, out, sizeof out, &why) == -1 && errno == EINVAL,
          "a directory is refused");
    path_of(p, sizeof p, top, "missing");
    CHECK(redis_passfile(p, out, sizeof out, &why) == -1 && errno == ENOENT,
          "a missing file: ENOENT");
    path_of(p, sizeof p, top, "plain");
    CHECK(redis_passfile(p, out, 1, &why) == -1, "a one-byte buffer holds no password");
}

static void auth_cases(void)
{
    char out[128];
    size_t len = 0;
    static const char want[] = "*3\r\n$4\r\nAUTH\r\n$14\r\nrelaylease-pop\r\n$2\r\npw\r\n";
    CHECK(redis_auth_request(out, sizeof out, &len, "relaylease-pop", "pw", 2) == 0 &&
              len == sizeof want - 1 && memcmp(out, want, len) == 0,
          "AUTH user password");
    len = 0;
    CHECK(redis_auth_request(out, sizeof out, &len, NULL, "p\0w", 3) == 0 && len == 23 &&
              memcmp(out, "*2\r\n$4\r\nAUTH\r\n$3\r\np\0w\r\n", len) == 0,
          "AUTH password (the default user), by its length");
    len = 0;
    CHECK(redis_auth_request(out, 20, &len, "u", "pw", 2) == -1 && errno == EMSGSIZE &&
              len == 0,
          "AUTH that does not fit: EMSGSIZE");
}

/* A connection on one end of a socketpair; *peer is the other end. */
static void pair(struct redis_conn *c, int *peer, char *buf, size_t cap, long ms)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        fail_setup("make", "a socketpair");
    c->fd = sv[0];
    c->deadline = clock_deadline(ms);
    c->buf = buf;
    c->cap = cap;
    c->len = c->off = 0;
    *peer = sv[1];
}

static void say(int fd, const char *s, size_t n)
{
    if (write(fd, s, n) != (ssize_t)n)
        fail_setup("write", "to the socketpair");
}

static void reply_cases(void)
{
    struct redis_conn c;
    struct resp_item it[8];
    size_t n;
    char buf[64];
    const char *why;
    int peer;

    alarm(30);
    pair(&c, &peer, buf, sizeof buf, 10000);
    say(peer, "+OK\r\n$3\r\nab", 11);
    CHECK(redis_reply(&c, it, 8, &n, &why) == 0 && n == 1 && it[0].type == RESP_STATUS,
          "two pipelined replies: the first");
    CHECK(redis_leftover(&c) == 1, "the start of the second is left over");
    say(peer, "c\r\n", 3);
    CHECK(redis_reply(&c, it, 8, &n, &why) == 0 && n == 1 && it[0].type == RESP_BULK &&
              it[0].len == 3 && memcmp(it[0].p, "abc", 3) == 0,
          "the second, completed by a later read");
    CHECK(redis_leftover(&c) == 0, "nothing left over");
    say(peer, "+OK\r\nX", 6);
    CHECK(redis_reply(&c, it, 8, &n, &why) == 0 && redis_leftover(&c) == 1,
          "a byte after the reply is seen");
    redis_close(&c);
    CHECK(c.fd == -1, "redis_close forgets the descriptor");
    close(peer);

    pair(&c, &peer, buf, sizeof buf, 10000);
    say(peer, "$5\r\nab", 6);
    close(peer);
    errno = 0;
    CHECK(redis_reply(&c, it, 8, &n, &why) == -1 && errno == ECONNRESET && why != NULL,
          "closed mid-reply: ECONNRESET (%s)", why ? why : "");
    redis_close(&c);

    pair(&c, &peer, buf, 16, 10000);
    say(peer, "$40\r\n0123456789012345678901234567890123456789\r\n", 47);
    CHECK(redis_reply(&c, it, 8, &n, &why) == -1 && errno == EMSGSIZE,
          "a reply larger than the buffer: EMSGSIZE");
    redis_close(&c);
    close(peer);

    pair(&c, &peer, buf, sizeof buf, 10000);
    say(peer, "$-2\r\n", 5);
    why = NULL;
    CHECK(redis_reply(&c, it, 8, &n, &why) == -1 && errno == EPROTO && why != NULL,
          "a malformed reply: EPROTO with a reason (%s)", why ? why : "");
    redis_close(&c);
    close(peer);

    pair(&c, &peer, buf, sizeof buf, 10000);
    say(peer, "*3\r\n:1\r\n:2\r\n:3\r\n", 16);
    CHECK(redis_reply(&c, it, 3, &n, &why) == -1 && errno == EPROTO,
          "more items than asked for: EPROTO");
    redis_close(&c);
    close(peer);

    /* A reply that never comes: the deadline ends the wait. Short, and not measured. */
    pair(&c, &peer, buf, sizeof buf, 50);
    say(peer, "+O", 2);
    CHECK(redis_reply(&c, it, 8, &n, &why) == -1 && errno == ETIMEDOUT,
          "half a reply and then nothing: ETIMEDOUT");
    redis_close(&c);
    close(peer);

    pair(&c, &peer, buf, sizeof buf, 0);
    say(peer, "+OK\r\n", 5);
    CHECK(redis_reply(&c, it, 8, &n, &why) == -1 && errno == ETIMEDOUT,
          "a deadline already past: ETIMEDOUT, whatever is waiting");
    redis_close(&c);
    close(peer);

    /* A peer that has gone: EPIPE from send, and the process lives (SIGPIPE is default). */
    static char lots[1 << 20];
    pair(&c, &peer, buf, sizeof buf, 10000);
    close(peer);
    CHECK(redis_send(&c, lots, sizeof lots) == -1 && errno == EPIPE,
          "a send to a closed peer: EPIPE, no SIGPIPE");
    redis_close(&c);

    /* A peer that reads nothing: the send fills the socket buffer and ends at the deadline. */
    pair(&c, &peer, buf, sizeof buf, 50);
    CHECK(redis_send(&c, lots, sizeof lots) == -1 && errno == ETIMEDOUT,
          "a send to a peer that never reads: ETIMEDOUT");
    redis_close(&c);
    close(peer);
    alarm(0);
}

static void connect_cases(void)
{
    struct redis_addr a;
    struct redis_conn c;
    long long d;
    char buf[64], text[4200];
    int fill[64];
    size_t nfill = 0;

    alarm(30);
    int n = snprintf(text, sizeof text, "unix:%s/none", top);
    if (n < 0 || (size_t)n >= sizeof text || redis_addr_parse(text, &a) != 0) {
        unit_skip("the scratch path is too long for a Unix socket", "connect cases");
        return;
    }
    d = clock_deadline(10000);
    CHECK(redis_connect(&c, &a, d, buf, sizeof buf) == -1 && errno == ENOENT && c.fd == -1,
          "no socket there: ENOENT at once");

    (void)snprintf(text, sizeof text, "unix:%s/sock", top);
    if (redis_addr_parse(text, &a) != 0)
        fail_setup("parse", text);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a.sa, a.len) != 0 || listen(l, 0) != 0)
        fail_setup("listen on", text);
    d = clock_deadline(10000);
    CHECK(redis_connect(&c, &a, d, buf, sizeof buf) == 0 && c.fd >= 0,
          "a listening Unix socket: connected");
    int fl = fcntl(c.fd, F_GETFD);
    int st = fcntl(c.fd, F_GETFL);
    CHECK(fl >= 0 && (fl & FD_CLOEXEC) && st >= 0 && (st & O_NONBLOCK),
          "the socket is close-on-exec and non-blocking");
    redis_close(&c);

    /* Fill the listen queue (nothing accepts), then the next connect waits for the deadline */
    while (nfill < sizeof fill / sizeof fill[0]) {
        int f = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (f < 0)
            fail_setup("make", "a socket");
        if (connect(f, (struct sockaddr *)&a.sa, a.len) != 0) {
            close(f);
            break;
        }
        fill[nfill++] = f;
    }
    d = clock_deadline(100);
    CHECK(redis_connect(&c, &a, d, buf, sizeof buf) == -1 && errno == ETIMEDOUT && c.fd == -1,
          "a full listen queue: ETIMEDOUT at the deadline");
    while (nfill > 0)
        close(fill[--nfill]);
    close(l);
    alarm(0);
}

static void sentinel_cases(void)
{
    struct redis_addr s, p;
    long long d;
    const char *why = NULL;
    d = clock_deadline(100);
    CHECK(redis_sentinel_primary(&s, 0, "m", NULL, 0, d, &p, &why) == -1 && errno == EINVAL && why,
          "no sentinels: EINVAL");
    CHECK(redis_sentinel_primary(&s, REDIS_SENTINELS_MAX + 1, "m", NULL, 0, d, &p, &why) == -1 &&
              errno == EINVAL,
          "too many sentinels: EINVAL");
    char name[2000];
    memset(name, 'm', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    if (redis_addr_parse("127.0.0.1:1", &s) != 0)
        fail_setup("parse", "127.0.0.1:1");
    CHECK(redis_sentinel_primary(&s, 1, name, NULL, 0, d, &p, &why) == -1 && errno == EMSGSIZE,
          "a master name too long for the question: EMSGSIZE");
}

int main(void)
{
    scratch_make("unit-redis");
    alarm_fails();
    addr_cases();
    passfile_cases();
    auth_cases();
    reply_cases();
    connect_cases();
    sentinel_cases();
    scratch_remove();
    return unit_done();
}
