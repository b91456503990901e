/* unit-resp.c: the RESP2 codec (redis/resp.c). Every reply kind and every boundary; every
 * prefix of every acceptable reply is "read more", never malformed; malformed replies are
 * refused within a bounded number of bytes; requests byte for byte. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/resp.h"
#include "unit.h"

#define L(s) s, sizeof(s) - 1
#define MAXITEMS 64

/* Bytes into a buffer, with no NUL after them: the buffer is not a string. */
static void put(char *dst, const char *s)
{
    while (*s != '\0')
        *dst++ = *s++;
}

/* resp_parse on an exact-size copy of buf, so that a read past the end is caught by ASan. */
static int parse(const char *buf, size_t n, size_t max, struct resp_item *items, size_t *nitems,
                 size_t *used, const char **why)
{
    char *copy = malloc(n ? n : 1);
    if (copy == NULL) {
        perror("malloc");
        exit(1);
    }
    if (n > 0)
        memcpy(copy, buf, n);
    *why = NULL;
    int r = resp_parse(copy, n, items, max, nitems, used, why);
    /* The items point into the copy: make them point into buf before it goes. */
    if (r == 1)
        for (size_t i = 0; i < *nitems; i++)
            if (items[i].p != NULL)
                items[i].p = buf + (items[i].p - copy);
    free(copy);
    return r;
}

/* The items as text: S:text E:text I:n B:bytes N Z A<n>, separated by spaces; bytes outside
 * printable ASCII as \xNN. */
static void render(const struct resp_item *it, size_t n, char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && o + 16 < size; i++) {
        if (i > 0)
            out[o++] = ' ';
        switch (it[i].type) {
        case RESP_STATUS: o += (size_t)snprintf(out + o, size - o, "S:"); break;
        case RESP_ERROR: o += (size_t)snprintf(out + o, size - o, "E:"); break;
        case RESP_BULK: o += (size_t)snprintf(out + o, size - o, "B:"); break;
        case RESP_INTEGER: o += (size_t)snprintf(out + o, size - o, "I:%lld", it[i].n); continue;
        case RESP_NIL: o += (size_t)snprintf(out + o, size - o, "N"); continue;
        case RESP_NIL_ARRAY: o += (size_t)snprintf(out + o, size - o, "Z"); continue;
        case RESP_ARRAY: o += (size_t)snprintf(out + o, size - o, "A%lld", it[i].n); continue;
        }
        for (size_t j = 0; j < it[i].len && o + 8 < size; j++) {
            unsigned char c = (unsigned char)it[i].p[j];
            if (c < 0x20 || c > 0x7e || c == '\\')
                o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
            else
                out[o++] = (char)c;
        }
        out[o] = '\0';
    }
}

/* Replies a Redis 7 server sends (or could), and their items. */
static const struct {
    const char *in;
    size_t len;
    const char *items;
} valid[] = {
    {L("+OK\r\n"), "S:OK"},
    {L("+PONG\r\n"), "S:PONG"},
    {L("+a b\tc\x01\x7f\xff\r\n"), "S:a b\\x09c\\x01\\x7f\\xff"},
    {L("-ERR unknown command 'x'\r\n"), "E:ERR unknown command 'x'"},
    {L("-WRONGPASS invalid username-password pair or user is disabled.\r\n"),
     "E:WRONGPASS invalid username-password pair or user is disabled."},
    {L("-NOPERM this user has no permissions to run the 'set' command\r\n"),
     "E:NOPERM this user has no permissions to run the 'set' command"},
    {L("-LOADING Redis is loading the dataset in memory\r\n"),
     "E:LOADING Redis is loading the dataset in memory"},
    {L("-READONLY You can't write against a read only replica.\r\n"),
     "E:READONLY You can't write against a read only replica."},
    {L(":0\r\n"), "I:0"},
    {L(":1\r\n"), "I:1"},
    {L(":-1\r\n"), "I:-1"},
    {L(":1234567890\r\n"), "I:1234567890"},
    {L(":9223372036854775807\r\n"), "I:9223372036854775807"},
    {L(":-9223372036854775808\r\n"), "I:-9223372036854775808"},
    {L("$-1\r\n"), "N"},
    {L("$0\r\n\r\n"), "B:"},
    {L("$1\r\na\r\n"), "B:a"},
    {L("$2\r\n\r\n\r\n"), "B:\\x0d\\x0a"},
    {L("$3\r\na\0b\r\n"), "B:a\\x00b"},
    {L("$10\r\n0123456789\r\n"), "B:0123456789"},
    {L("$29\r\nrelaylease1 1.2.3.4 alice\n 12\r\n"), "B:relaylease1 1.2.3.4 alice\\x0a 12"},
    {L("*-1\r\n"), "Z"},
    {L("*0\r\n"), "A0"},
    {L("*1\r\n$0\r\n\r\n"), "A1 B:"},
    {L("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n"), "A2 B:127.0.0.1 B:6379"},
    {L("*2\r\n$11\r\n2001:db8::1\r\n$5\r\n26379\r\n"), "A2 B:2001:db8::1 B:26379"},
    {L("*2\r\n$1\r\n0\r\n*0\r\n"), "A2 B:0 A0"},
    {L("*2\r\n$2\r\n17\r\n*3\r\n$6\r\nrl:1.2\r\n$0\r\n\r\n$1\r\nk\r\n"),
     "A2 B:17 A3 B:rl:1.2 B: B:k"},
    {L("*2\r\n*1\r\n$1\r\na\r\n$1\r\nb\r\n"), "A2 A1 B:a B:b"},
    {L("*1\r\n*1\r\n$1\r\na\r\n"), "A1 A1 B:a"},
    {L("*3\r\n*0\r\n*0\r\n*0\r\n"), "A3 A0 A0 A0"},
    {L("*1\r\n*0\r\n"), "A1 A0"},
};

/* Replies no Redis 7 sends for our commands, or not RESP2 at all, and what each breaks. */
static const struct {
    const char *in;
    size_t len;
    const char *what;
} malformed[] = {
    /* types */
    {L("_\r\n"), "RESP3 null"},
    {L(",1.5\r\n"), "RESP3 double"},
    {L("#t\r\n"), "RESP3 boolean"},
    {L("%1\r\n$1\r\na\r\n$1\r\nb\r\n"), "RESP3 map"},
    {L("~1\r\n$1\r\na\r\n"), "RESP3 set"},
    {L("(1\r\n"), "RESP3 big number"},
    {L("=7\r\ntxt:abc\r\n"), "RESP3 verbatim"},
    {L("!3\r\nERR\r\n"), "RESP3 blob error"},
    {L(">1\r\n$1\r\na\r\n"), "RESP3 push"},
    {L("|1\r\n"), "RESP3 attribute"},
    {L("PONG\r\n"), "inline reply"},
    {L("\r\n"), "empty line"},
    {L(" +OK\r\n"), "leading space"},
    {L("\0"), "NUL type"},
    /* status and error lines */
    {L("+\r\n"), "empty status"},
    {L("-\r\n"), "empty error"},
    {L("+OK\n"), "status with bare LF"},
    {L("+O\nK\r\n"), "LF inside status"},
    {L("+OK\rX"), "CR without LF"},
    {L("+O\rK\r\n"), "CR inside status"},
    {L("+O\0K\r\n"), "NUL in status"},
    {L("-ERR\0\r\n"), "NUL in error"},
    {L("+OK\r\r\n"), "CR CR LF"},
    /* integers */
    {L(":\r\n"), "empty integer"},
    {L(":-\r\n"), "minus alone"},
    {L(":+1\r\n"), "plus sign"},
    {L(":-0\r\n"), "minus zero"},
    {L(":01\r\n"), "leading zero"},
    {L(":-01\r\n"), "negative leading zero"},
    {L(": 1\r\n"), "space before integer"},
    {L(":1 \r\n"), "space after integer"},
    {L(":1.0\r\n"), "decimal point"},
    {L(":0x1\r\n"), "hex"},
    {L(":9223372036854775808\r\n"), "LLONG_MAX + 1"},
    {L(":-9223372036854775809\r\n"), "LLONG_MIN - 1"},
    {L(":18446744073709551616\r\n"), "2^64"},
    {L(":99999999999999999999999999\r\n"), "26 digits"},
    {L(":1\n"), "integer with bare LF"},
    {L(":1\r"
       "2"), "integer CR digit"},
    /* bulk lengths */
    {L("$\r\n"), "empty length"},
    {L("$-2\r\n"), "$-2"},
    {L("$-0\r\n"), "$-0"},
    {L("$-10\r\n"), "$-10"},
    {L("$-1x\r\n"), "$-1 then junk"},
    {L("$-\r\n"), "$- alone"},
    {L("$--1\r\n"), "$--1"},
    {L("$+1\r\na\r\n"), "$+1"},
    {L("$01\r\na\r\n"), "$01"},
    {L("$00\r\n\r\n"), "$00"},
    {L("$ 1\r\na\r\n"), "space before length"},
    {L("$1 \r\na\r\n"), "space after length"},
    {L("$1\na\r\n"), "length with bare LF"},
    {L("$1\ra\r\n"), "length with CR no LF"},
    {L("$4097\r\n"), "RESP_BULK_MAX + 1"},
    {L("$4097"), "RESP_BULK_MAX + 1 with no CRLF yet"},
    {L("$10000\r\n"), "10000"},
    {L("$9223372036854775807\r\n"), "LLONG_MAX length"},
    {L("$9223372036854775808\r\n"), "LLONG_MAX + 1 length"},
    {L("$18446744073709551615\r\n"), "SIZE_MAX length"},
    {L("$111111111111111111111111111"), "27 digits with no CRLF"},
    {L("$0000000000000000000000000000"), "zeros with no CRLF"},
    /* bulk bodies */
    {L("$1\r\nab\r\n"), "body longer than its length"},
    {L("$2\r\na\r\n"), "body shorter than its length"},
    {L("$1\r\na\n"), "body then bare LF"},
    {L("$1\r\na\rX"), "body then CR X"},
    {L("$0\r\nX"), "empty body then junk"},
    {L("$0\r\n\n"), "empty body then LF"},
    /* arrays */
    {L("*\r\n"), "empty count"},
    {L("*-2\r\n"), "*-2"},
    {L("*-0\r\n"), "*-0"},
    {L("*01\r\n$1\r\na\r\n"), "*01"},
    {L("*+1\r\n$1\r\na\r\n"), "*+1"},
    {L("* 1\r\n$1\r\na\r\n"), "space before count"},
    {L("*1 \r\n$1\r\na\r\n"), "space after count"},
    {L("*1\n$1\r\na\r\n"), "count with bare LF"},
    {L("*65\r\n"), "count over max items"},
    {L("*9223372036854775807\r\n"), "LLONG_MAX count"},
    {L("*18446744073709551616\r\n"), "2^64 count"},
    {L("*11111111111111111111111111"), "27 digits with no CRLF"},
    {L("*1\r\n+OK\r\n"), "status element"},
    {L("*1\r\n-ERR x\r\n"), "error element"},
    {L("*1\r\n:1\r\n"), "integer element"},
    {L("*1\r\n$-1\r\n"), "nil element"},
    {L("*1\r\n*-1\r\n"), "nil array element"},
    /* Malformed as soon as it is certain: these can only go on to a nil element. */
    {L("*1\r\n$-"), "nil element, at its minus"},
    {L("*2\r\n$1\r\na\r\n*-"), "nil array element, at its minus"},
    {L("*2\r\n$1\r\na\r\n_\r\n"), "RESP3 element"},
    {L("*1\r\n*1\r\n*1\r\n$1\r\na\r\n"), "depth 3"},
    {L("*1\r\n*1\r\n*0\r\n"), "empty array at depth 3"},
    {L("*1\r\n*1\r\n*-1\r\n"), "nil array at depth 3"},
    {L("*2\r\n*1\r\n*0\r\n$1\r\na\r\n"), "depth 3 in the middle"},
    {L("*33\r\n*32\r\n"), "nested counts over max items"},
};

/* Every prefix of an acceptable reply is "read more". */
static void check_prefixes(const char *in, size_t len, size_t max, const char *label)
{
    struct resp_item items[MAXITEMS];
    size_t nitems, used;
    const char *why;
    size_t bad = len;
    for (size_t k = 0; k < len; k++) {
        if (parse(in, k, max, items, &nitems, &used, &why) != 0) {
            bad = k;
            break;
        }
    }
    CHECK(bad == len, "%s: every prefix (%zu of them) needs more", label, len);
    if (bad != len)
        unit_note("the first %zu bytes: %s", bad, why ? why : "(accepted)");
}

static void test_valid(void)
{
    struct resp_item items[MAXITEMS];
    size_t nitems, used;
    const char *why;
    char got[2048], buf[600];

    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        const char *in = valid[i].in;
        size_t len = valid[i].len;
        int r = parse(in, len, MAXITEMS, items, &nitems, &used, &why);
        CHECK_LONG(r, 1, "%.*s: accepted", (int)len, in);
        if (r != 1) {
            unit_note("why: %s", why ? why : "(none)");
            continue;
        }
        CHECK_LONG(used, len, "%.*s: used it all", (int)len, in);
        render(items, nitems, got, sizeof got);
        CHECK_STR(got, valid[i].items, "%.*s: its items", (int)len, in);
        for (size_t k = 0; k < nitems; k++)
            if (items[k].p != NULL && (items[k].p < in || items[k].p + items[k].len > in + len))
                CHECK(0, "%.*s: item %zu inside the buffer", (int)len, in, k);
        check_prefixes(in, len, MAXITEMS, in);

        /* What follows the reply is left for the next one. */
        memcpy(buf, in, len);
        put(buf + len, "+OK\r\n");
        r = parse(buf, len + 5, MAXITEMS, items, &nitems, &used, &why);
        CHECK(r == 1 && used == len, "%.*s: a reply after it is not taken", (int)len, in);

        /* Exactly enough room, then one item short. */
        size_t need = nitems;
        r = parse(in, len, need, items, &nitems, &used, &why);
        CHECK(r == 1 && nitems == need, "%.*s: fits in %zu items", (int)len, in, need);
        if (need > 1) {
            r = parse(in, len, need - 1, items, &nitems, &used, &why);
            CHECK(r == -1 && why != NULL, "%.*s: malformed in %zu items", (int)len, in,
                  need - 1);
        }
    }
}

static void test_malformed(void)
{
    struct resp_item items[MAXITEMS];
    size_t nitems, used;
    const char *why;
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        int r = parse(malformed[i].in, malformed[i].len, MAXITEMS, items, &nitems, &used, &why);
        CHECK(r == -1 && why != NULL && why[0] != '\0', "%s: malformed (%.*s)", malformed[i].what,
              (int)malformed[i].len, malformed[i].in);
        if (r == -1)
            unit_note("why: %s", why ? why : "(none)");
    }
}

/* Bulk strings at RESP_BULK_MAX and one over; status lines at RESP_LINE_MAX and one over,
 * with and without their CRLF: a dripping server is refused once it is over, not later. */
static void test_limits(void)
{
    static char buf[RESP_BULK_MAX + RESP_LINE_MAX + 64];
    struct resp_item items[MAXITEMS];
    size_t nitems, used;
    const char *why;
    int r;

    int h = snprintf(buf, sizeof buf, "$%d\r\n", RESP_BULK_MAX);
    memset(buf + h, 'x', RESP_BULK_MAX);
    put(buf + h + RESP_BULK_MAX, "\r\n");
    size_t len = (size_t)h + RESP_BULK_MAX + 2;
    r = parse(buf, len, 1, items, &nitems, &used, &why);
    CHECK(r == 1 && used == len && items[0].type == RESP_BULK && items[0].len == RESP_BULK_MAX,
          "a bulk string of RESP_BULK_MAX (%d) bytes", RESP_BULK_MAX);
    check_prefixes(buf, len, 1, "a bulk string of RESP_BULK_MAX bytes");
    r = parse(buf, len - 1, 1, items, &nitems, &used, &why);
    CHECK_LONG(r, 0, "RESP_BULK_MAX bytes with CR but no LF yet: read more");

    h = snprintf(buf, sizeof buf, "$%d\r\n", RESP_BULK_MAX + 1);
    memset(buf + h, 'x', RESP_BULK_MAX + 1);
    put(buf + h + RESP_BULK_MAX + 1, "\r\n");
    len = (size_t)h + RESP_BULK_MAX + 3;
    r = parse(buf, len, 1, items, &nitems, &used, &why);
    CHECK_LONG(r, -1, "a bulk string of RESP_BULK_MAX + 1 bytes");
    r = parse(buf, (size_t)h - 2, 1, items, &nitems, &used, &why);
    CHECK_LONG(r, -1, "RESP_BULK_MAX + 1: malformed at its length, before CRLF");

    for (int type = 0; type < 2; type++) {
        const char *name = type ? "error" : "status";
        buf[0] = type ? '-' : '+';
        memset(buf + 1, 'y', RESP_LINE_MAX + 1);
        r = parse(buf, 1 + RESP_LINE_MAX, 1, items, &nitems, &used, &why);
        CHECK_LONG(r, 0, "%s of RESP_LINE_MAX (%d) bytes, no CRLF yet: read more", name,
                   RESP_LINE_MAX);
        r = parse(buf, 2 + RESP_LINE_MAX, 1, items, &nitems, &used, &why);
        CHECK_LONG(r, -1, "%s of RESP_LINE_MAX + 1 bytes, no CRLF: malformed", name);
        put(buf + 1 + RESP_LINE_MAX, "\r\n");
        len = 3 + RESP_LINE_MAX;
        r = parse(buf, len, 1, items, &nitems, &used, &why);
        CHECK(r == 1 && used == len && items[0].len == RESP_LINE_MAX,
              "%s of RESP_LINE_MAX bytes with CRLF", name);
        check_prefixes(buf, len, 1, type ? "error of RESP_LINE_MAX" : "status of RESP_LINE_MAX");
        buf[1 + RESP_LINE_MAX] = 'y';
        put(buf + 2 + RESP_LINE_MAX, "\r\n");
        r = parse(buf, len + 1, 1, items, &nitems, &used, &why);
        CHECK_LONG(r, -1, "%s of RESP_LINE_MAX + 1 bytes with CRLF", name);
    }

    /* A dripping server: a line of digits (or zeros) with no CRLF is refused within a few
     * bytes, whatever the number of digits. */
    const char types[] = "$*:";
    for (int t = 0; t < 3; t++) {
        for (int digit = 0; digit < 2; digit++) {
            buf[0] = types[t];
            memset(buf + 1, digit ? '9' : '0', 40);
            size_t first = 0;
            for (size_t k = 1; k <= 41 && first == 0; k++)
                if (parse(buf, k, MAXITEMS, items, &nitems, &used, &why) == -1)
                    first = k;
            CHECK(first > 0 && first <= 21, "%c then %c...: malformed after %zu bytes",
                  types[t], digit ? '9' : '0', first);
        }
    }

    /* An empty reply is "read more"; no room for any item is malformed. */
    r = resp_parse("", 0, items, MAXITEMS, &nitems, &used, &why);
    CHECK_LONG(r, 0, "nothing yet: read more");
    r = parse(L("+OK\r\n"), 0, items, &nitems, &used, &why);
    CHECK_LONG(r, -1, "no room for an item: malformed");

    /* SCAN with as many keys as the items allow, and one more. */
    char scan[64 * 12 + 32];
    for (size_t keys = 60; keys <= 62; keys++) {
        int o = snprintf(scan, sizeof scan, "*2\r\n$1\r\n0\r\n*%zu\r\n", keys);
        for (size_t k = 0; k < keys; k++)
            o += snprintf(scan + o, sizeof scan - (size_t)o, "$2\r\nk%zu\r\n", k % 10);
        r = parse(scan, (size_t)o, MAXITEMS, items, &nitems, &used, &why);
        if (keys + 3 <= MAXITEMS)
            CHECK(r == 1 && nitems == keys + 3 && used == (size_t)o,
                  "SCAN with %zu keys in %d items", keys, MAXITEMS);
        else
            CHECK_LONG(r, -1, "SCAN with %zu keys in %d items: too many", keys, MAXITEMS);
    }
}

/* Requests: exact bytes, binary arguments, and EMSGSIZE leaving out as it was. */
static void test_request(void)
{
    char out[256];
    size_t len;
    int r;

    const char *get[] = {"GET", "rl:1.2.3.4"};
    len = 0;
    r = resp_request(out, sizeof out, &len, 2, get, NULL);
    const char want_get[] = "*2\r\n$3\r\nGET\r\n$10\r\nrl:1.2.3.4\r\n";
    CHECK(r == 0 && len == sizeof want_get - 1 && memcmp(out, want_get, len) == 0,
          "GET, C strings");

    const char *set[] = {"SET", "k", "v", "EX", "3600"};
    len = 0;
    r = resp_request(out, sizeof out, &len, 5, set, NULL);
    const char want_set[] = "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nEX\r\n$4\r\n3600\r\n";
    CHECK(r == 0 && len == sizeof want_set - 1 && memcmp(out, want_set, len) == 0, "SET ... EX");

    /* Any bytes in an argument: CR, LF, NUL, "*", "$". */
    const char *bin[] = {"AUTH", "u", "p\r\n\0*1\r\n$0"};
    const size_t binlen[] = {4, 1, 10};
    len = 0;
    r = resp_request(out, sizeof out, &len, 3, bin, binlen);
    const char want_bin[] = "*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$10\r\np\r\n\0*1\r\n$0\r\n";
    CHECK(r == 0 && len == sizeof want_bin - 1 && memcmp(out, want_bin, len) == 0,
          "binary argument with CRLF and NUL");

    /* The request reads back, through the reply parser, as the same arguments. */
    struct resp_item items[8];
    size_t nitems, used;
    const char *why;
    r = resp_parse(out, len, items, 8, &nitems, &used, &why);
    int same = r == 1 && used == len && nitems == 4 && items[0].n == 3;
    for (size_t i = 0; same && i < 3; i++)
        same = items[i + 1].type == RESP_BULK && items[i + 1].len == binlen[i] &&
               memcmp(items[i + 1].p, bin[i], binlen[i]) == 0;
    CHECK(same, "the binary request parses back to its arguments");

    /* Empty arguments, and appending after what is there. */
    const char *empty[] = {""};
    memcpy(out, "prior", 5);
    len = 5;
    r = resp_request(out, sizeof out, &len, 1, empty, NULL);
    CHECK(r == 0 && len == 15 && memcmp(out, "prior*1\r\n$0\r\n\r\n", 15) == 0,
          "an empty argument, appended");

    /* Twelve arguments: a two-digit count. */
    const char *many[12] = {"SCAN", "0", "MATCH", "rl:*", "COUNT", "100", "TYPE", "string",
                            "a", "b", "c", "d"};
    len = 0;
    r = resp_request(out, sizeof out, &len, 12, many, NULL);
    CHECK(r == 0 && memcmp(out, "*12\r\n$4\r\nSCAN\r\n", 15) == 0, "a two-digit count");

    /* Exactly the room it needs; one byte less is EMSGSIZE with out and len as they were. */
    size_t need = sizeof want_set - 1;
    for (size_t cap = need - 1; cap <= need; cap++) {
        memset(out, '#', sizeof out);
        memcpy(out, "ab", 2);
        len = 2;
        errno = 0;
        r = resp_request(out, cap + 2, &len, 5, set, NULL);
        if (cap == need) {
            CHECK(r == 0 && len == need + 2 && memcmp(out + 2, want_set, need) == 0 &&
                      out[need + 2] == '#',
                  "a request in exactly its room");
        } else {
            int untouched = 1;
            for (size_t i = 2; i < sizeof out; i++)
                untouched &= out[i] == '#';
            CHECK(r == -1 && errno == EMSGSIZE && len == 2 && untouched &&
                      memcmp(out, "ab", 2) == 0,
                  "one byte short: EMSGSIZE, out and len unchanged");
        }
    }

    /* Lengths near SIZE_MAX: refused before any byte is read or written (the argument
     * behind them is one byte long: a copy would be caught by ASan). */
    const size_t huge[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 30, SIZE_MAX / 2 + 1};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        const char *one[] = {"x"};
        const size_t hl[] = {huge[i]};
        len = 0;
        errno = 0;
        r = resp_request(out, sizeof out, &len, 1, one, hl);
        CHECK(r == -1 && errno == EMSGSIZE && len == 0, "a length of %zu: EMSGSIZE", huge[i]);
    }
    const char *two[] = {"x", "y"};
    const size_t hl2[] = {SIZE_MAX / 2, SIZE_MAX / 2};
    len = 0;
    r = resp_request(out, sizeof out, &len, 2, two, hl2);
    CHECK(r == -1 && errno == EMSGSIZE && len == 0, "two lengths that overflow together");
    len = 0;
    r = resp_request(out, SIZE_MAX, &len, 2, two, hl2);
    CHECK(r == -1 && errno == EMSGSIZE && len == 0, "two lengths that overflow, cap SIZE_MAX");

    len = 0;
    errno = 0;
    r = resp_request(out, sizeof out, &len, 0, get, NULL);
    CHECK(r == -1 && errno == EINVAL && len == 0, "no arguments: EINVAL");
    len = sizeof out + 1;
    errno = 0;
    r = resp_request(out, sizeof out, &len, 2, get, NULL);
    CHECK(r == -1 && errno == EINVAL && len == sizeof out + 1, "len over cap: EINVAL");
}

int main(void)
{
    test_valid();
    test_malformed();
    test_limits();
    test_request();
    return unit_done();
}
