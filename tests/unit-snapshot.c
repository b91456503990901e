/* unit-snapshot: the format of relay-cdb's snapshot of the live allowances (snapshot.h).
 * What snapshot_header and snapshot_line write, snapshot_check accepts and snapshot_next
 * reads back; everything else is refused: another store's snapshot, a bad header, a key
 * that is not a store key, a time that is not a number, and a snapshot cut at any byte. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cdb/snapshot.h"
#include "tests/unit.h"

static const struct snapshot_id id = {2049, 131074};

/* A snapshot of the given lines, each "key time": header, then the lines. */
static size_t make(char *buf, size_t cap, const char *const *keys, const long long *times,
                   size_t n)
{
    (void)cap;
    size_t len = snapshot_header(buf, &id, n);
    for (size_t i = 0; i < n; i++)
        len += snapshot_line(buf + len, keys[i], strlen(keys[i]), (time_t)times[i]);
    return len;
}

static int check(const char *buf, size_t n, const char **why)
{
    size_t count, body;
    *why = "";
    return snapshot_check(buf, n, &id, &count, &body, why);
}

/* The text of a snapshot must be refused; say why it was. */
static void refused(const char *text, const char *what)
{
    const char *why;
    int r = check(text, strlen(text), &why);
    if (CHECK(r == -1, "refused: %s", what))
        CHECK(why != NULL && why[0] != '\0', "with a reason: %s (%s)", what, why ? why : "");
}

static void accepted(const char *text, const char *what)
{
    const char *why;
    int r = check(text, strlen(text), &why);
    CHECK(r == 0, "accepted: %s (%s)", what, why);
}

static void round_trip(void)
{
    static const char *const keys[] = {"192.0.2.7", "2001:db8:1:2::_64", "10.0.0.1",
                                       "2001:db8::_48", "255.255.255.255", "::_1"};
    static const long long times[] = {1795304977, 1, 999999999999LL, 1700000000, 42, 7};
    size_t n = sizeof keys / sizeof keys[0];
    char buf[1024];
    size_t len = make(buf, sizeof buf, keys, times, n);

    char header[SNAPSHOT_HEADER_MAX];
    size_t hlen = snapshot_header(header, &id, n);
    CHECK_STR((header[hlen] = '\0', header), "relaylease-snapshot2 2049 131074 6\n",
              "the header names the store and the count");
    char line[SNAPSHOT_LINE_MAX + 1];
    size_t llen = snapshot_line(line, "192.0.2.7", 9, 1795304977);
    line[llen] = '\0';
    CHECK_STR(line, "192.0.2.7 1795304977\n", "a line is the key, a space, the time");
    llen = snapshot_line(line, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0_124", 43,
                         SNAPSHOT_TIME_MAX);
    CHECK(llen <= SNAPSHOT_LINE_MAX, "the longest line fits SNAPSHOT_LINE_MAX (%zu)", llen);

    size_t count = 0, body = 0;
    const char *why = "";
    int r = snapshot_check(buf, len, &id, &count, &body, &why);
    if (!CHECK(r == 0, "a snapshot we wrote is accepted (%s)", why))
        return;
    CHECK_LONG(count, n, "its count");
    CHECK_LONG(body, hlen, "its lines start after the header");
    struct snapshot_entry e;
    size_t pos = body, i = 0;
    while (snapshot_next(buf, len, &pos, &e)) {
        if (i >= n) {
            CHECK(0, "no more entries than lines");
            break;
        }
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)e.klen, buf + e.off);
        CHECK_STR(key, keys[i], "entry %zu: its key", i);
        CHECK_LONG(e.time, times[i], "entry %zu: its time", i);
        CHECK(e.len == strlen(keys[i]) + 1 + (size_t)snprintf(line, sizeof line, "%lld",
                                                                times[i]) + 1 &&
                  buf[e.off + e.len - 1] == '\n',
              "entry %zu: its line, newline included", i);
        i++;
    }
    CHECK_LONG(i, n, "every line is read back");
    CHECK_LONG(pos, len, "to the end");

    /* Cut at every byte: each shorter buffer is refused, never read as fewer entries. */
    size_t cut_ok = 0;
    for (size_t k = 0; k < len; k++)
        if (check(buf, k, &why) != 0)
            cut_ok++;
    CHECK_LONG(cut_ok, len, "a snapshot cut at any of its %zu bytes is refused", len);

    /* A snapshot of another store directory. */
    struct snapshot_id other = {id.dev, id.ino + 1};
    r = snapshot_check(buf, len, &other, &count, &body, &why);
    CHECK(r == -1 && strstr(why, "another store") != NULL,
          "a snapshot of another store is refused (%s)", why);
    other.dev = id.dev + 1;
    other.ino = id.ino;
    CHECK(snapshot_check(buf, len, &other, &count, &body, &why) == -1,
          "a snapshot of another device is refused");
}

static void headers(void)
{
    accepted("relaylease-snapshot2 2049 131074 0\n", "no entries");
    accepted("relaylease-snapshot2 2049 131074 1\n1.2.3.4 5\n", "one entry");
    refused("", "an empty file");
    refused("relaylease-snapshot2", "the magic alone");
    refused("relaylease-snapshot1 2049 131074 0\n", "the version before keys were checked current");
    refused("relaylease-snapshot3 2049 131074 0\n", "another version");
    refused("RELAYLEASE-SNAPSHOT1 2049 131074 0\n", "the magic in capitals");
    refused("relaylease-snapshot2  2049 131074 0\n", "two spaces");
    refused("relaylease-snapshot2 2049 131074\n", "no count");
    refused("relaylease-snapshot2 2049 131074 0", "no newline after the header");
    refused("relaylease-snapshot2 02049 131074 0\n", "a leading zero");
    refused("relaylease-snapshot2 +2049 131074 0\n", "a sign");
    refused("relaylease-snapshot2 2049 131074 00\n", "a count of 00");
    refused("relaylease-snapshot2 2049 131074 0 \n", "a space at the end of the header");
    refused("relaylease-snapshot2 2049 131074 0\r\n", "CRLF");
    refused("relaylease-snapshot2 2049 131074 99999999999999999999999\n", "a huge count");
    refused("relaylease-snapshot2 2049 131074 18446744073709551615\n1.2.3.4 5\n",
            "a count far beyond the lines");
    refused("relaylease-snapshot2 2049 131074 2\n1.2.3.4 5\n", "a line missing");
    refused("relaylease-snapshot2 2049 131074 1\n1.2.3.4 5\n1.2.3.5 5\n", "a line too many");
    refused("relaylease-snapshot2 2049 131074 0\n\n", "an empty line after the lines");
}

static void lines(void)
{
    static const struct {
        const char *line, *what;
    } bad[] = {
        {"1.2.3.4 5", "no newline at the end"},
        {"1.2.3.4\n", "no time"},
        {"1.2.3.4 \n", "an empty time"},
        {"1.2.3.4 0\n", "a time of 0"},
        {"1.2.3.4 05\n", "a time with a leading zero"},
        {"1.2.3.4 -5\n", "a negative time"},
        {"1.2.3.4 +5\n", "a time with a sign"},
        {"1.2.3.4 5x\n", "junk after the time"},
        {"1.2.3.4 5 \n", "a space after the time"},
        {"1.2.3.4 1000000000000\n", "a time of thirteen digits"},
        {"1.2.3.4  5\n", "two spaces"},
        {" 5\n", "no key"},
        {"1.2.3.04 5\n", "a key with a leading zero"},
        {"01.2.3.4 5\n", "a key with a leading zero in front"},
        {"1.2.3 5\n", "three parts"},
        {"1.2.3.4.5 5\n", "five parts"},
        {"1.2.3.256 5\n", "a part over 255"},
        {"1.2.3.4_32 5\n", "an IPv4 key with a prefix length"},
        {"::ffff:1.2.3.4 5\n", "an IPv4-mapped key"},
        {"2001:db8:1:2::_064 5\n", "a prefix length with a leading zero"},
        {"2001:DB8:1:2::_64 5\n", "an IPv6 key in capitals"},
        {"2001:db8:1:2::1_64 5\n", "an IPv6 key with host bits"},
        {"2001:db8:1:2:: 5\n", "an IPv6 key without its length"},
        {"2001:db8:1:2::_129 5\n", "a prefix length over 128"},
        {"2001:0db8:1:2::_64 5\n", "a non-canonical IPv6 key"},
        {"localhost 5\n", "a name"},
        {".lock 5\n", "the lock's name"},
        {"../1.2.3.4 5\n", "a path"},
        {"1.2.3.4\t5\n", "a tab"},
        {"1.2.3.4 5\r\n", "CRLF"},
        {"1.2.3.4 5\n\n", "an empty line after it"},
        {"123456789012345678901234567890123456789012345678901234567890 5\n",
         "a key longer than any key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[256];
        snprintf(buf, sizeof buf, "relaylease-snapshot2 2049 131074 1\n%s", bad[i].line);
        refused(buf, bad[i].what);
    }

    /* A NUL inside a key would hide the rest of it from addr_key_parse. */
    char nul[] = "relaylease-snapshot2 2049 131074 1\n1.2.3.4\0junk 5\n";
    const char *why;
    CHECK(check(nul, sizeof nul - 1, &why) == -1, "refused: a NUL inside a key");
    char nul2[] = "relaylease-snapshot2 2049 131074 1\n1.2.3.4 5\0\n";
    CHECK(check(nul2, sizeof nul2 - 1, &why) == -1, "refused: a NUL inside a time");

    accepted("relaylease-snapshot2 2049 131074 3\n2001:db8:1:2::_64 1795304977\n"
             "0.0.0.0 1\n::_1 999999999999\n",
             "IPv6 keys, 0.0.0.0, the first and last times");
}

/* Bytes of garbage after a good header, of every length up to 300: never accepted as
 * anything but what they are. Deterministic, so a failure can be replayed. */
static void garbage(void)
{
    unsigned long seed = 12345;
    size_t wrong = 0;
    for (size_t n = 0; n < 300; n++) {
        char buf[400];
        size_t h = (size_t)snprintf(buf, sizeof buf, "relaylease-snapshot2 2049 131074 %zu\n",
                                    n % 7 + 1);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245UL + 12345UL;
            buf[h + i] = (char)(seed >> 16);
        }
        const char *why;
        if (check(buf, h + n, &why) == 0)
            wrong++;
    }
    CHECK_LONG(wrong, 0, "random bytes after a header are refused");
}

int main(void)
{
    round_trip();
    headers();
    lines();
    garbage();
    return unit_done();
}
