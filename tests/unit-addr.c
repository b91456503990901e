/* unit-addr.c: addresses, their canonical text, the store keys, and the client address
 * taken from the environment. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "unit.h"

/* Inputs that parse, and their canonical text. */
static const struct {
    const char *in;
    int family;
    const char *out;
} valid[] = {
    /* IPv4 */
    {"1.2.3.4", 4, "1.2.3.4"},
    {"0.0.0.0", 4, "0.0.0.0"},
    {"127.0.0.1", 4, "127.0.0.1"},
    {"255.255.255.255", 4, "255.255.255.255"},
    {"10.0.0.255", 4, "10.0.0.255"},
    {"192.168.100.200", 4, "192.168.100.200"},
    /* IPv6, RFC 5952 section 4 */
    {"2001:0db8:0000:0000:0000:0000:0000:0001", 6, "2001:db8::1"},
    {"2001:db8:0:0:0:0:0:1", 6, "2001:db8::1"},
    {"2001:db8::0:1", 6, "2001:db8::1"},
    {"2001:db8::1", 6, "2001:db8::1"},
    {"2001:DB8::1", 6, "2001:db8::1"},
    {"2001:Db8:AbCd:EF01::1", 6, "2001:db8:abcd:ef01::1"},
    {"2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001", 6, "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"},
    {"2001:db8:0:1:1:1:1:1", 6, "2001:db8:0:1:1:1:1:1"},
    {"2001:db8::1:1:1:1:1", 6, "2001:db8:0:1:1:1:1:1"},      /* as tcpserver writes it */
    {"2001:db8:0:0:1:0:0:1", 6, "2001:db8::1:0:0:1"},        /* tie: the first run */
    {"2001:db8::1:0:0:1", 6, "2001:db8::1:0:0:1"},
    {"2001:db8:0:0:1::1", 6, "2001:db8::1:0:0:1"},
    {"2001:0:0:1:0:0:0:1", 6, "2001:0:0:1::1"},              /* the longest run */
    {"2001:0:0:1::1", 6, "2001:0:0:1::1"},
    {"2001::1:0:0:0:1", 6, "2001:0:0:1::1"},
    {"0:0:1:0:0:0:1:0", 6, "0:0:1::1:0"},
    {"1:0:0:2:0:0:3:4", 6, "1::2:0:0:3:4"},
    {"1:0:1:0:1:0:1:0", 6, "1:0:1:0:1:0:1:0"},
    {"0:1:0:1:0:1:0:1", 6, "0:1:0:1:0:1:0:1"},
    {"::", 6, "::"},
    {"0:0:0:0:0:0:0:0", 6, "::"},
    {"0000:0000:0000:0000:0000:0000:0000:0000", 6, "::"},
    {"::0", 6, "::"},
    {"::1", 6, "::1"},
    {"0:0:0:0:0:0:0:1", 6, "::1"},
    {"1::", 6, "1::"},
    {"1:0:0:0:0:0:0:0", 6, "1::"},
    {"1::1", 6, "1::1"},
    {"1:2:3:4:5:6:7::", 6, "1:2:3:4:5:6:7:0"},
    {"::2:3:4:5:6:7:8", 6, "0:2:3:4:5:6:7:8"},
    {"1:2:3:4:5:6:7:8", 6, "1:2:3:4:5:6:7:8"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    {"FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF", 6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    {"fe80::1", 6, "fe80::1"},
    {"fe80:0000:0000:0000:0204:61ff:fe9d:f156", 6, "fe80::204:61ff:fe9d:f156"},
    {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 6, "2001:db8:1:2:aaaa:bbbb:cccc:dddd"},
    /* IPv4-mapped IPv6 is IPv4 */
    {"::ffff:1.2.3.4", 4, "1.2.3.4"},
    {"::FFFF:1.2.3.4", 4, "1.2.3.4"},
    {"::ffff:0102:0304", 4, "1.2.3.4"},
    {"::ffff:102:304", 4, "1.2.3.4"},
    {"0:0:0:0:0:ffff:1.2.3.4", 4, "1.2.3.4"},
    {"0000:0000:0000:0000:0000:FFFF:0102:0304", 4, "1.2.3.4"},
    {"::ffff:127.0.0.1", 4, "127.0.0.1"},
    {"::ffff:0.0.0.0", 4, "0.0.0.0"},
    {"::ffff:0:0", 4, "0.0.0.0"},
    {"::ffff:255.255.255.255", 4, "255.255.255.255"},
    /* other dotted tails stay IPv6, and lose the dots */
    {"::1.2.3.4", 6, "::102:304"},
    {"64:ff9b::1.2.3.4", 6, "64:ff9b::102:304"},
    {"::ffff:0:1.2.3.4", 6, "::ffff:0:102:304"},
    {"1:2:3:4:5:6:1.2.3.4", 6, "1:2:3:4:5:6:102:304"},
    {"::fffe:1.2.3.4", 6, "::fffe:102:304"},
    {"::1:ffff:1.2.3.4", 6, "::1:ffff:102:304"},
    {"::ffff", 6, "::ffff"},
    /* the longest texts (45 bytes) */
    {"0000:0000:0000:0000:0000:ffff:255.255.255.255", 4, "255.255.255.255"},
    {"0000:0000:0000:0000:0000:0000:255.255.255.255", 6, "::ffff:ffff"},
    {"0000:0000:0000:0000:0000:abcd:255.255.255.255", 6, "::abcd:ffff:ffff"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 6,
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
};

/* Inputs that must not parse. */
static const char *const invalid[] = {
    /* IPv4 */
    "", " ", ".", "...", "1", "1.2", "1.2.3", "127.1", "1.2.3.4.5", "1.2.3.", ".1.2.3",
    "1..2.3", "1.2..3", "256.1.1.1", "1.256.1.1", "1.1.256.1", "1.1.1.256", "999.1.1.1",
    "1000.1.1.1", "01.2.3.4", "1.02.3.4", "1.2.03.4", "1.2.3.04", "00.0.0.0", "0.0.0.00",
    "001.2.3.4", "0x7f.1", "0x7f.0.0.1", "0X7F.0.0.1", "017.0.0.1", "1.2.3.0x4", "1e1.2.3.4",
    " 1.2.3.4", "1.2.3.4 ", "1 .2.3.4", "1. 2.3.4", "\t1.2.3.4", "1.2.3.4x", "x1.2.3.4",
    "1.2.3.4\n", "1.2.3.4\r\n", "1.2.3.4/32", "1.2.3.4:25", "1,2,3,4", "+1.2.3.4",
    "1.-2.3.4", "1.+2.3.4", "4294967295", "16909060", "1.2.3.4.", "-1.2.3.4",
    "4294967297.1.2.3", "18446744073709551617.1.2.3",
    /* IPv6 */
    ":", ":::", "::::", "1:::2", ":::1", "1:::", "1::2::3", "::1::", "::1::2", ":1::2", "1::2:",
    ":1", "1:", "1:2", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::",
    "::1:2:3:4:5:6:7:8", "1:2:3:4::5:6:7:8", "1::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:",
    ":1:2:3:4:5:6:7:8", "12345::1", "::12345", "0ffff::", "00000::", "2001:00db8::1",
    "2001:db8::g", "g::", "2001:db8::1g", "::0x1", "0x1::", "::-1", "::+1", "-::1", "+::1",
    "fe80::1%eth0", "fe80::1%1", "fe80::1%", "::ffff:1.2.3.4%eth0", "[::1]", "[::1]:25",
    "[::1", "::1]", " ::1", "::1 ", ":: 1", "2001:db8:: 1", "::1\n", "::1\t", "2001:db8::1/64",
    "2001:db8::1:", "2001:db8:::1", "2001:db8:0:0:0:0:0:0:1", "2001.db8::1", "2001:db8::1.",
    /* dotted tails */
    "::ffff:1.2.3", "::ffff:1.2.3.4.5", "::ffff:256.1.1.1", "::ffff:01.2.3.4",
    "::ffff:1.2.3.04", "::ffff:0x1.2.3.4", "::1.2.3.4:5", "1.2.3.4::", "1.2.3.4::1",
    "::1.2.3.4x", "::1.2.3.4.", "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5:6:7:8:1.2.3.4",
    "::ffff:1.2.3.4:0", "::1.2.3", "::ffff:.1.2.3", "::ffff:1..2.3", "::ffff:1.2.3.4 ",
    "::ffff: 1.2.3.4", "::1.2.3.4/32", "::ffff:127.1", "::1.2.3.4::", "1.2.3.4:1::",
    /* 46 bytes: one leading zero too many */
    "00000:0000:0000:0000:0000:ffff:255.255.255.255",
    "0000:0000:0000:0000:0000:ffff:0255.255.255.255",
};

/* Do the address bytes in use agree? */
static int same_addr(const struct addr *x, const struct addr *y)
{
    if (x->family != y->family)
        return 0;
    return memcmp(x->b, y->b, x->family == 4 ? 4 : 16) == 0;
}

/* A reference RFC 5952 formatter for the property checks, written apart from addr.c. */
static void ref_format6(char *buf, size_t size, const unsigned char b[16])
{
    unsigned g[8];
    int best = -1, bestlen = 0, i, n = 0;

    for (i = 0; i < 8; i++)
        g[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
    for (i = 0; i < 8;) {
        int j = i;
        while (j < 8 && g[j] == 0)
            j++;
        if (j - i > bestlen) {
            best = i;
            bestlen = j - i;
        }
        i = j > i ? j : i + 1;
    }
    if (bestlen < 2)
        best = -1;
    buf[0] = '\0';
    for (i = 0; i < 8; i++) {
        if (i == best) {
            n += snprintf(buf + n, size - (size_t)n, "::");
            i += bestlen - 1;
            continue;
        }
        n += snprintf(buf + n, size - (size_t)n, "%s%x",
                      i > 0 && i != best + bestlen ? ":" : "", g[i]);
    }
}

static void test_parse_valid(void)
{
    size_t i;

    for (i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        struct addr a, again;
        char text[ADDR_TEXT_MAX];
        unsigned char oracle[16];

        memset(&a, 0x5a, sizeof a);
        if (!CHECK(addr_parse(&a, valid[i].in) == 0, "addr_parse accepts \"%s\"", valid[i].in))
            continue;
        CHECK_LONG(a.family, valid[i].family, "\"%s\" is IPv%d", valid[i].in, valid[i].family);
        addr_format(text, &a);
        CHECK_STR(text, valid[i].out, "\"%s\" formats as \"%s\"", valid[i].in, valid[i].out);

        /* the bytes agree with the C library's parser */
        if (valid[i].family == 4 && strchr(valid[i].in, ':') == NULL) {
            if (inet_pton(AF_INET, valid[i].in, oracle) == 1)
                CHECK(memcmp(a.b, oracle, 4) == 0, "\"%s\" bytes match inet_pton", valid[i].in);
        } else if (inet_pton(AF_INET6, valid[i].in, oracle) == 1) {
            if (valid[i].family == 4)
                CHECK(memcmp(a.b, oracle + 12, 4) == 0, "\"%s\" holds the last 4 bytes",
                      valid[i].in);
            else
                CHECK(memcmp(a.b, oracle, 16) == 0, "\"%s\" bytes match inet_pton",
                      valid[i].in);
        }

        /* format -> parse -> format is stable */
        memset(&again, 0xa5, sizeof again);
        if (CHECK(addr_parse(&again, text) == 0, "canonical \"%s\" parses again", text)) {
            char text2[ADDR_TEXT_MAX];
            CHECK(same_addr(&a, &again), "canonical \"%s\" is the same address", text);
            addr_format(text2, &again);
            CHECK_STR(text2, text, "canonical \"%s\" formats to itself", text);
        }
    }
}

static void test_parse_invalid(void)
{
    size_t i;

    for (i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        struct addr a;
        CHECK(addr_parse(&a, invalid[i]) == -1, "addr_parse rejects \"%s\"", invalid[i]);
    }
}

static void test_parse_long(void)
{
    static char buf[10001];
    struct addr a;
    size_t i;

    memset(buf, '1', 5000);
    memcpy(buf + 5000, ".2.3.4", sizeof ".2.3.4");
    CHECK(addr_parse(&a, buf) == -1, "rejects a 5000-digit first octet");

    strcpy(buf, "1.2.3.4");
    memset(buf + 7, '5', 5000);
    buf[5007] = '\0';
    CHECK(addr_parse(&a, buf) == -1, "rejects 1.2.3.4 followed by 5000 digits");

    memset(buf, '0', 5000);
    memcpy(buf + 5000, "1.2.3.4", sizeof "1.2.3.4");
    CHECK(addr_parse(&a, buf) == -1, "rejects 5000 leading zeros on an IPv4 address");

    memset(buf, '0', 5000);
    memcpy(buf + 5000, "1::", sizeof "1::");
    CHECK(addr_parse(&a, buf) == -1, "rejects a 5001-digit IPv6 group");

    strcpy(buf, "::");
    memset(buf + 2, '0', 5000);
    memcpy(buf + 5002, "1", sizeof "1");
    CHECK(addr_parse(&a, buf) == -1, "rejects a 5001-digit last IPv6 group");

    for (i = 0; i + 2 < 10000; i += 2)
        memcpy(buf + i, "1:", 2);
    buf[i] = '1';
    buf[i + 1] = '\0';
    CHECK(addr_parse(&a, buf) == -1, "rejects 5000 IPv6 groups");

    for (i = 0; i + 2 < 10000; i += 2)
        memcpy(buf + i, "::", 2);
    buf[i] = '\0';
    CHECK(addr_parse(&a, buf) == -1, "rejects 4999 \"::\" in a row");

    memset(buf, 'a', 10000);
    buf[10000] = '\0';
    CHECK(addr_parse(&a, buf) == -1, "rejects 10000 letters");

    strcpy(buf, "::ffff:");
    memset(buf + 7, '1', 100);
    memcpy(buf + 107, ".2.3.4", sizeof ".2.3.4");
    CHECK(addr_parse(&a, buf) == -1, "rejects a 100-digit octet in a dotted tail");
}

/* Every pattern of zero and non-zero groups formats as the reference formatter says. */
static void test_format_patterns(void)
{
    static const unsigned values[] = {0x1, 0xab, 0xffff, 0x1000};
    unsigned mask, v;
    int bad = 0, groups;

    for (v = 0; v < sizeof values / sizeof values[0]; v++) {
        for (mask = 0; mask < 256; mask++) {
            struct addr a, again;
            char got[ADDR_TEXT_MAX], want[ADDR_TEXT_MAX];

            memset(&a, 0, sizeof a);
            a.family = 6;
            for (groups = 0; groups < 8; groups++) {
                if (mask & 1U << groups) {
                    a.b[2 * groups] = (unsigned char)(values[v] >> 8);
                    a.b[2 * groups + 1] = (unsigned char)values[v];
                }
            }
            /* skip what is IPv4-mapped: it is held as family 4 */
            if (values[v] == 0xffff && (mask & 0x3f) == 0x20)
                continue;
            ref_format6(want, sizeof want, a.b);
            addr_format(got, &a);
            if (strcmp(got, want) != 0) {
                if (bad++ < 5)
                    unit_note("pattern %02x value %x: got \"%s\", want \"%s\"", mask,
                              values[v], got, want);
                continue;
            }
            if (addr_parse(&again, got) != 0 || !same_addr(&a, &again)) {
                if (bad++ < 5)
                    unit_note("pattern %02x value %x: \"%s\" does not parse back", mask,
                              values[v], got);
            }
        }
    }
    CHECK(bad == 0, "every zero-group pattern formats per RFC 5952 and parses back (%d bad)",
          bad);
}

static void test_mapped_bytes(void)
{
    struct addr a;
    static const unsigned char want[4] = {1, 2, 3, 4};

    if (CHECK(addr_parse(&a, "::ffff:1.2.3.4") == 0, "::ffff:1.2.3.4 parses"))
        CHECK(a.family == 4 && memcmp(a.b, want, 4) == 0, "::ffff:1.2.3.4 holds 1 2 3 4");
    if (CHECK(addr_parse(&a, "::ffff:0102:0304") == 0, "::ffff:0102:0304 parses"))
        CHECK(a.family == 4 && memcmp(a.b, want, 4) == 0, "::ffff:0102:0304 holds 1 2 3 4");
    if (CHECK(addr_parse(&a, "1.2.3.4") == 0, "1.2.3.4 parses"))
        CHECK(a.family == 4 && memcmp(a.b, want, 4) == 0, "1.2.3.4 holds 1 2 3 4");
}

static void test_mask(void)
{
    struct addr a;
    unsigned bits;
    int bad = 0;

    for (bits = 1; bits <= 128; bits++) {
        unsigned i;
        memset(&a, 0, sizeof a);
        a.family = 6;
        memset(a.b, 0xff, 16);
        addr_mask(&a, bits);
        for (i = 0; i < 128; i++) {
            int set = a.b[i / 8] >> (7 - i % 8) & 1;
            if (set != (i < bits)) {
                if (bad++ < 5)
                    unit_note("addr_mask %u: bit %u is %d", bits, i, set);
                break;
            }
        }
        if (a.family != 6 && bad++ < 5)
            unit_note("addr_mask %u changed the family", bits);
    }
    CHECK(bad == 0, "addr_mask keeps exactly the first 1..128 bits of all-ones");

    addr_parse(&a, "2001:db8:1:2:aaaa:bbbb:cccc:dddd");
    addr_mask(&a, 128);
    {
        char text[ADDR_TEXT_MAX];
        addr_format(text, &a);
        CHECK_STR(text, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "addr_mask 128 changes nothing");
        addr_mask(&a, 64);
        addr_format(text, &a);
        CHECK_STR(text, "2001:db8:1:2::", "addr_mask 64");
        addr_mask(&a, 64);
        addr_format(text, &a);
        CHECK_STR(text, "2001:db8:1:2::", "addr_mask 64 twice");
    }
}

static const struct {
    const char *in;
    unsigned bits;
    const char *key;
} keys[] = {
    {"1.2.3.4", 64, "1.2.3.4"},
    {"1.2.3.4", 128, "1.2.3.4"},
    {"1.2.3.4", 1, "1.2.3.4"},
    {"0.0.0.0", 64, "0.0.0.0"},
    {"255.255.255.255", 64, "255.255.255.255"},
    {"::ffff:1.2.3.4", 64, "1.2.3.4"},
    {"::FFFF:0102:0304", 1, "1.2.3.4"},
    {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::_64"},
    {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 128, "2001:db8:1:2:aaaa:bbbb:cccc:dddd_128"},
    {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 127, "2001:db8:1:2:aaaa:bbbb:cccc:dddc_127"},
    {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 65, "2001:db8:1:2:8000::_65"},
    {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 63, "2001:db8:1:2::_63"},
    {"2001:db8:1:3:aaaa:bbbb:cccc:dddd", 63, "2001:db8:1:2::_63"},
    {"2001:db8:1:ffff:aaaa:bbbb:cccc:dddd", 63, "2001:db8:1:fffe::_63"},
    {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 48, "2001:db8:1::_48"},
    {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 32, "2001:db8::_32"},
    {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 16, "2001::_16"},
    {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 1, "::_1"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, "8000::_1"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 63, "ffff:ffff:ffff:fffe::_63"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 64, "ffff:ffff:ffff:ffff::_64"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65, "ffff:ffff:ffff:ffff:8000::_65"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 127, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe_127"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff_128"},
    {"::1", 128, "::1_128"},
    {"::1", 64, "::_64"},
    {"::", 128, "::_128"},
    {"2001:db8::1:0:0:1", 128, "2001:db8::1:0:0:1_128"},
    {"2001:db8:0:1:1:1:1:1", 64, "2001:db8:0:1::_64"},
    {"2001:db8::1.2.3.4", 128, "2001:db8::102:304_128"},
    {"fe80::204:61ff:fe9d:f156", 64, "fe80::_64"},
};

static void test_keys(void)
{
    size_t i;

    for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        struct addr a, before, back;
        char key[ADDR_KEY_MAX], again[ADDR_KEY_MAX];
        unsigned bits = 999;

        if (!CHECK(addr_parse(&a, keys[i].in) == 0, "key vector \"%s\" parses", keys[i].in))
            continue;
        before = a;
        addr_key_format(key, &a, keys[i].bits);
        CHECK_STR(key, keys[i].key, "addr_key \"%s\" /%u", keys[i].in, keys[i].bits);
        CHECK(same_addr(&a, &before), "addr_key leaves \"%s\" alone", keys[i].in);

        memset(&back, 0x5a, sizeof back);
        if (!CHECK(addr_key_parse(&back, &bits, key) == 0, "addr_key_parse accepts \"%s\"", key))
            continue;
        CHECK_LONG(bits, a.family == 4 ? 32 : keys[i].bits, "\"%s\" has its prefix length",
                   key);
        addr_key_format(again, &back, bits);
        CHECK_STR(again, key, "\"%s\" parses back to the same key", key);
    }
}

/* For every prefix length, key -> key_parse -> key is stable. */
static void test_keys_all_bits(void)
{
    static const char *const ins[] = {
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8:1:2:aaaa:bbbb:cccc:dddd",
        "::1", "8000::1", "1:0:0:1:0:0:0:1",
    };
    size_t i;
    unsigned bits;
    int bad = 0;

    for (i = 0; i < sizeof ins / sizeof ins[0]; i++) {
        for (bits = 1; bits <= 128; bits++) {
            struct addr a, masked, back;
            char key[ADDR_KEY_MAX], again[ADDR_KEY_MAX], want[ADDR_KEY_MAX];
            unsigned got = 0;

            addr_parse(&a, ins[i]);
            masked = a;
            addr_mask(&masked, bits);
            ref_format6(want, sizeof want, masked.b);
            snprintf(want + strlen(want), sizeof want - strlen(want), "_%u", bits);
            addr_key_format(key, &a, bits);
            if (strcmp(key, want) != 0) {
                if (bad++ < 5)
                    unit_note("%s /%u: key \"%s\", want \"%s\"", ins[i], bits, key, want);
                continue;
            }
            if (addr_key_parse(&back, &got, key) != 0 || got != bits ||
                !same_addr(&back, &masked)) {
                if (bad++ < 5)
                    unit_note("%s /%u: \"%s\" does not parse back", ins[i], bits, key);
                continue;
            }
            addr_key_format(again, &back, got);
            if (strcmp(again, key) != 0 && bad++ < 5)
                unit_note("%s /%u: \"%s\" comes back as \"%s\"", ins[i], bits, key, again);
        }
    }
    CHECK(bad == 0, "keys for every prefix 1..128 are the masked canonical text (%d bad)", bad);
}

static const char *const bad_keys[] = {
    "", "_", "_64", "2001:0db8::_64", "2001:DB8::_64", "2001:db8::1_64", "2001:db8::_0",
    "2001:db8::_129", "2001:db8::_064", "2001:db8::_00", "2001:db8::_", "2001:db8::",
    "2001:db8::1", "::1", "::", "2001:db8::_64x", "2001:db8::_64\n", "2001:db8::_ 64",
    "2001:db8::_+64", "2001:db8::_-64", "2001:db8::_6 4", "2001:db8:: _64", "2001:db8::__64",
    "2001:db8::_64_64", "2001:db8::_4294967360", "2001:db8::_18446744073709551680",
    "2001:db8::_1000", "2001:db8:0:0:0:0:0:0_32", "2001:db8:0::_32", "2001:db8::0_32",
    "2001:db8::1:0:0:0_128", "2001:db8:0:1:1:1:1:1_128x", "2001:db8::1:1:1:1:1_128",
    "2001:db8:1:3::_63", "8000::_0", "c000::_1", "::1_127",
    "::ffff:1.2.3.4_128", "::ffff:102:304_128", "::ffff:102:304_96", "::ffff:0:0_96",
    "::1.2.3.4_128", "1.2.3.4_32", "1.2.3.4_", "1.2.3.4_24", "01.2.3.4", "1.2.3.4 ",
    " 1.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1", "::ffff:1.2.3.4", "1.2.3.4\n",
    "fe80::_64%eth0", "[2001:db8::]_64", "2001:db8::_64 ", ".tmp.1.1.2.3.4", "..", ".",
    "1.2.3.4/", "../1.2.3.4",
};

static void test_key_parse(void)
{
    size_t i;
    struct addr a;
    unsigned bits;

    for (i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++)
        CHECK(addr_key_parse(&a, &bits, bad_keys[i]) == -1, "addr_key_parse rejects \"%s\"",
              bad_keys[i]);

    bits = 0;
    if (CHECK(addr_key_parse(&a, &bits, "1.2.3.4") == 0, "addr_key_parse accepts 1.2.3.4")) {
        static const unsigned char want[4] = {1, 2, 3, 4};
        CHECK(a.family == 4 && memcmp(a.b, want, 4) == 0, "key 1.2.3.4 is IPv4 1.2.3.4");
        CHECK_LONG(bits, 32, "key 1.2.3.4 has 32 bits");
    }
    if (CHECK(addr_key_parse(&a, &bits, "2001:db8:1:2::_64") == 0,
              "addr_key_parse accepts 2001:db8:1:2::_64")) {
        char text[ADDR_TEXT_MAX];
        addr_format(text, &a);
        CHECK_STR(text, "2001:db8:1:2::", "key 2001:db8:1:2::_64 holds the prefix");
        CHECK_LONG(bits, 64, "key 2001:db8:1:2::_64 has 64 bits");
        CHECK_LONG(a.family, 6, "key 2001:db8:1:2::_64 is IPv6");
    }
    CHECK(addr_key_parse(&a, &bits, "::_1") == 0, "addr_key_parse accepts ::_1");
    CHECK(addr_key_parse(&a, &bits, "::_128") == 0, "addr_key_parse accepts ::_128");
    CHECK(addr_key_parse(&a, &bits, "8000::_1") == 0, "addr_key_parse accepts 8000::_1");
    CHECK(addr_key_parse(&a, &bits, "0.0.0.0") == 0, "addr_key_parse accepts 0.0.0.0");
    CHECK(addr_key_parse(&a, &bits, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff_128") == 0,
          "addr_key_parse accepts the longest key");
    CHECK(strlen("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff_128") < ADDR_KEY_MAX,
          "ADDR_KEY_MAX holds the longest key");
}

/* Environment: set name to value, or unset it if value is NULL. */
static void env(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

static void test_from_env(void)
{
    static const struct {
        const char *proto, *tcp6, *tcp, *ip;
        const char *want, *var;  /* with IP allowed (the login hook) */
    } cases[] = {
        {"TCP6", "::1", "::1", NULL, "::1", "TCP6REMOTEIP"},
        {"TCP6", "2001:db8::1", "1.2.3.4", "5.6.7.8", "2001:db8::1", "TCP6REMOTEIP"},
        {"TCP", "::ffff:127.0.0.1", "127.0.0.1", NULL, "127.0.0.1", "TCPREMOTEIP"},
        {"TCP", "::1", "1.2.3.4", "5.6.7.8", "1.2.3.4", "TCPREMOTEIP"},
        {NULL, "::1", "1.2.3.4", NULL, "1.2.3.4", "TCPREMOTEIP"},
        {NULL, NULL, "1.2.3.4", NULL, "1.2.3.4", "TCPREMOTEIP"},
        {"TCP", NULL, NULL, "5.6.7.8", "5.6.7.8", "IP"},
        {NULL, NULL, NULL, "5.6.7.8", "5.6.7.8", "IP"},
        {NULL, NULL, "1.2.3.4", "5.6.7.8", "1.2.3.4", "TCPREMOTEIP"},
        {"TCP6", NULL, "1.2.3.4", NULL, "1.2.3.4", "TCPREMOTEIP"},
        {"TCP6", NULL, NULL, "5.6.7.8", "5.6.7.8", "IP"},
        {"TCP", "::1", NULL, "5.6.7.8", "5.6.7.8", "IP"},
        {NULL, "::1", NULL, NULL, NULL, NULL},
        {"TCP6", NULL, NULL, NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL, NULL, NULL},
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *var = "unset", *got;
        char what[200];

        env("PROTO", cases[i].proto);
        env("TCP6REMOTEIP", cases[i].tcp6);
        env("TCPREMOTEIP", cases[i].tcp);
        env("IP", cases[i].ip);
        snprintf(what, sizeof what, "PROTO=%s TCP6REMOTEIP=%s TCPREMOTEIP=%s IP=%s",
                 cases[i].proto ? cases[i].proto : "(unset)",
                 cases[i].tcp6 ? cases[i].tcp6 : "(unset)",
                 cases[i].tcp ? cases[i].tcp : "(unset)", cases[i].ip ? cases[i].ip : "(unset)");
        got = addr_from_env(ADDR_UCSPI_OR_IP, &var);
        if (cases[i].want == NULL) {
            CHECK(got == NULL, "addr_from_env with %s gives NULL", what);
        } else {
            CHECK_STR(got, cases[i].want, "addr_from_env with %s gives %s", what,
                      cases[i].want);
            CHECK_STR(var, cases[i].var, "addr_from_env with %s names %s", what, cases[i].var);
        }
        /* The SMTP side never takes IP. */
        got = addr_from_env(ADDR_UCSPI, &var);
        if (cases[i].want == NULL || strcmp(cases[i].var, "IP") == 0)
            CHECK(got == NULL, "addr_from_env(ADDR_UCSPI) with %s gives NULL", what);
        else
            CHECK_STR(got, cases[i].want, "addr_from_env(ADDR_UCSPI) with %s gives %s", what,
                      cases[i].want);
    }
    env("PROTO", NULL);
    env("TCP6REMOTEIP", NULL);
    env("TCPREMOTEIP", NULL);
    env("IP", NULL);
}

int main(void)
{
    test_parse_valid();
    test_parse_invalid();
    test_parse_long();
    test_mapped_bytes();
    test_format_patterns();
    test_mask();
    test_keys();
    test_keys_all_bits();
    test_key_parse();
    test_from_env();
    return unit_done();
}
