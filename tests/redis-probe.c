/* redis-probe: the test driver of redis/client.c. It runs one exchange the way the programs
 * will, and prints what came back, one line per reply item, or why there was none.
 *
 *   redis-probe [-t MS] [-b BUF] [-u USER] [-p PASSFILE] [-z N] ADDR CMD [ARG...]
 *   redis-probe [-t MS] -s MASTER SENTINEL...
 *
 * The first form connects to ADDR (redis_addr_parse's syntax), sends "AUTH [USER] PASSWORD"
 * (with -p) and the command in one write, and reads the AUTH reply and then the command's.
 * -z adds an argument of N bytes to the command (a request too big for the socket buffer).
 * -b sets the reply buffer's size (default 4096). -t is the one deadline (default 30000 ms).
 * The second form asks the sentinels which primary they name for MASTER.
 *
 * Output: "status TEXT", "error TEXT", "integer N", "bulk TEXT" (bytes outside printable
 * ASCII as \xHH), "nil", "array N", "nilarray"; the AUTH reply's items prefixed "auth ";
 * "leftover" when bytes came after the last reply; "primary ADDR"; or "fail ENAME: why".
 * Exit codes: 0 a reply (even an error reply) or a primary; 2 AUTH was not +OK; 100 usage;
 * 111 no reply (the failure line says why). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "clock.h"
#include "redis/client.h"

#define ITEMS 64

static char req[4 << 20];
static char big[2 << 20];
static char buf[1 << 16];

static const char *errname(int e)
{
    static const struct {
        int e;
        const char *name;
    } names[] = {
        {ETIMEDOUT, "ETIMEDOUT"},     {ECONNREFUSED, "ECONNREFUSED"}, {ENOENT, "ENOENT"},
        {EPROTO, "EPROTO"},           {EMSGSIZE, "EMSGSIZE"},         {ECONNRESET, "ECONNRESET"},
        {EPIPE, "EPIPE"},             {EINVAL, "EINVAL"},             {EACCES, "EACCES"},
        {ENETUNREACH, "ENETUNREACH"}, {EAGAIN, "EAGAIN"},             {ELOOP, "ELOOP"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].e == e)
            return names[i].name;
    return "EOTHER";
}

static _Noreturn void fail(const char *why)
{
    int e = errno;
    printf("fail %s: %s (%s)\n", errname(e), why ? why : "-", strerror(e));
    exit(111);
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: redis-probe [-t MS] [-b BUF] [-u USER] [-p PASSFILE] [-z N] ADDR "
                    "CMD [ARG...]\n       redis-probe [-t MS] -s MASTER SENTINEL...\n");
    exit(100);
}

static void put_text(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c > 0x7e || c == '\\')
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

static void print_items(const char *prefix, const struct resp_item *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fputs(prefix, stdout);
        switch (it[i].type) {
        case RESP_STATUS:
            fputs("status ", stdout);
            put_text(it[i].p, it[i].len);
            break;
        case RESP_ERROR:
            fputs("error ", stdout);
            put_text(it[i].p, it[i].len);
            break;
        case RESP_INTEGER:
            printf("integer %lld", it[i].n);
            break;
        case RESP_BULK:
            fputs("bulk ", stdout);
            put_text(it[i].p, it[i].len);
            break;
        case RESP_NIL:
            fputs("nil", stdout);
            break;
        case RESP_ARRAY:
            printf("array %lld", it[i].n);
            break;
        case RESP_NIL_ARRAY:
            fputs("nilarray", stdout);
            break;
        }
        putchar('\n');
    }
}

static long number(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    long ms = 30000, bufsize = 4096, zbytes = -1;
    const char *user = NULL, *passfile = NULL, *master = NULL, *why = NULL;
    long long deadline;
    int opt;

    while ((opt = getopt(argc, argv, "t:b:u:p:z:s:")) != -1) {
        switch (opt) {
        case 't': ms = number(optarg); break;
        case 'b': bufsize = number(optarg); break;
        case 'u': user = optarg; break;
        case 'p': passfile = optarg; break;
        case 'z': zbytes = number(optarg); break;
        case 's': master = optarg; break;
        default: usage();
        }
    }
    argc -= optind;
    argv += optind;
    if (bufsize < 1 || (size_t)bufsize > sizeof buf || zbytes > (long)sizeof big)
        usage();

    if (master != NULL) {
        struct redis_addr s[REDIS_SENTINELS_MAX], primary;
        if (argc < 1 || argc > REDIS_SENTINELS_MAX)
            usage();
        for (int i = 0; i < argc; i++)
            if (redis_addr_parse(argv[i], &s[i]) != 0) {
                errno = EINVAL;
                fail("bad sentinel address");
            }
        deadline = clock_deadline(ms);
        if (redis_sentinel_primary(s, (size_t)argc, master, NULL, 0, deadline, &primary, &why) != 0)
            fail(why);
        printf("primary %s\n", primary.text);
        return 0;
    }

    if (argc < 2)
        usage();
    struct redis_addr a;
    if (redis_addr_parse(argv[0], &a) != 0) {
        errno = EINVAL;
        fail("bad address");
    }
    size_t len = 0;
    if (passfile != NULL) {
        char pass[512];
        long n = redis_passfile(passfile, pass, sizeof pass, &why);
        if (n < 0)
            fail(why ? why : "unable to read the password file");
        if (redis_auth_request(req, sizeof req, &len, user, pass, (size_t)n) != 0)
            fail("AUTH request");
    }
    const char *args[64];
    size_t lens[64];
    int nargs = 0;
    for (int i = 1; i < argc && nargs < 63; i++) {
        args[nargs] = argv[i];
        lens[nargs++] = strlen(argv[i]);
    }
    if (zbytes >= 0) {
        memset(big, 'z', (size_t)zbytes);
        args[nargs] = big;
        lens[nargs++] = (size_t)zbytes;
    }
    if (resp_request(req, sizeof req, &len, nargs, args, lens) != 0)
        fail("request");

    struct redis_conn c;
    struct resp_item it[ITEMS];
    size_t n;
    deadline = clock_deadline(ms);
    if (redis_connect(&c, &a, deadline, buf, (size_t)bufsize) != 0)
        fail("connect");
    if (redis_send(&c, req, len) != 0)
        fail("send");
    if (passfile != NULL) {
        if (redis_reply(&c, it, ITEMS, &n, &why) != 0)
            fail(why);
        print_items("auth ", it, n);
        if (n != 1 || it[0].type != RESP_STATUS || it[0].len != 2 || memcmp(it[0].p, "OK", 2) != 0) {
            redis_close(&c);
            return 2;
        }
    }
    if (redis_reply(&c, it, ITEMS, &n, &why) != 0)
        fail(why);
    print_items("", it, n);
    if (redis_leftover(&c))
        puts("leftover");
    redis_close(&c);
    return 0;
}
