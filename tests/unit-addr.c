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


/* Policies the key vectors name: the default /64, the widest /48, /128, the floor's edge,
 * and operator NAT64 prefixes of every RFC 6052 length. */
static const struct {
    char name;
    unsigned v6bits;
    const char *nat64;
} policies[] = {
    {'d', 64, NULL},
    {'w', 48, NULL},
    {'n', 128, NULL},
    {'f', 47, NULL},      /* below the floor: read as /128 */
    {'z', 0, NULL},
    {'x', 129, NULL},
    {'1', 64, "2001:db8::/32"},
    {'2', 64, "2001:db8:100::/40"},
    {'3', 64, "2001:db8:1::/48"},
    {'4', 64, "2001:db8:6400::/56"},
    {'5', 64, "2001:db8:64::/64"},
    {'6', 64, "2001:db8:64::/96"},
    {'7', 48, "2001:db8:64::/96"},
    {'8', 96, NULL},
    {'9', 95, NULL},
};

static void policy_for(struct addr_policy *p, char name)
{
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
        if (policies[i].name != name)
            continue;
        p->v6bits = policies[i].v6bits;
        if (policies[i].nat64 != NULL && addr_nat64_parse(p, policies[i].nat64) != 0)
            unit_note("policy %c: %s does not parse", name, policies[i].nat64);
        return;
    }
    unit_note("no policy %c", name);
}

/* A client address under a policy, and its store key (NULL: addr_key refuses it). */
static const struct {
    char policy;
    const char *in;
    const char *key;
} policy_keys[] = {
    /* IPv4: exact; 0.0.0.0/8, 224.0.0.0/4 and 255.255.255.255 never. */
    {'d', "192.0.2.7", "192.0.2.7"},
    {'d', "0.0.0.0", NULL},
    {'d', "0.255.255.255", NULL},
    {'d', "1.0.0.0", "1.0.0.0"},
    {'d', "223.255.255.255", "223.255.255.255"},
    {'d', "224.0.0.0", NULL},
    {'d', "224.0.0.1", NULL},
    {'d', "239.255.255.255", NULL},
    {'d', "240.0.0.0", "240.0.0.0"},
    {'d', "255.255.255.254", "255.255.255.254"},
    {'d', "255.255.255.255", NULL},
    {'n', "192.0.2.7", "192.0.2.7"},
    /* :: never; ::1 and the rest of ::/64 exact */
    {'d', "::", NULL},
    {'n', "::", NULL},
    {'d', "::1", "::1_128"},
    {'w', "::1", "::1_128"},
    {'d', "::1:0:0", "::1:0:0_128"},
    {'d', "::fffe:ffff:ffff", "::fffe:ffff:ffff_128"},
    {'d', "::1:0:0:0", "::1:0:0:0_128"},
    {'d', "::ffff:ffff:ffff:ffff", "::ffff:ffff:ffff:ffff_128"},
    {'d', "0:0:0:1::", "0:0:0:1::_64"},                /* just past ::/64 */
    {'d', "0:0:0:1::1", "0:0:0:1::_64"},
    {'w', "0:0:0:1::1", "::1:0:0:0:1_128"},            /* its /48 holds ::/64 */
    {'w', "0:0:1::1", "0:0:1::_48"},
    /* IPv4-compatible ::a.b.c.d */
    {'d', "::2", NULL},                               /* 0.0.0.2 */
    {'d', "::0.255.255.255", NULL},
    {'d', "::1.0.0.0", "1.0.0.0"},
    {'d', "::192.0.2.7", "192.0.2.7"},
    {'d', "::c000:207", "192.0.2.7"},
    {'w', "::192.0.2.7", "192.0.2.7"},
    {'d', "::224.0.0.1", NULL},
    {'d', "::255.255.255.254", "255.255.255.254"},
    {'d', "::255.255.255.255", NULL},
    /* IPv4-mapped (addr_parse makes it IPv4) */
    {'d', "::ffff:192.0.2.7", "192.0.2.7"},
    {'d', "::ffff:0.0.0.0", NULL},
    {'d', "::ffff:224.0.0.1", NULL},
    {'d', "::ffff:255.255.255.255", NULL},
    {'d', "::fffe:ffff:ffff", "::fffe:ffff:ffff_128"},
    {'d', "::1:0:0:0", "::1:0:0:0_128"},
    /* IPv4-translated ::ffff:0:a.b.c.d */
    {'d', "::ffff:0:0:0", NULL},
    {'d', "::ffff:0:1.0.0.0", "1.0.0.0"},
    {'d', "::ffff:0:192.0.2.7", "192.0.2.7"},
    {'d', "::ffff:0:239.1.2.3", NULL},
    {'d', "::ffff:0:255.255.255.254", "255.255.255.254"},
    {'d', "::ffff:0:255.255.255.255", NULL},
    {'d', "::ffff:1:0:0", "::ffff:1:0:0_128"},
    {'d', "::fffe:ffff:ffff:ffff", "::fffe:ffff:ffff:ffff_128"},
    /* RFC 6052 well-known prefix 64:ff9b::/96 */
    {'d', "64:ff9b::", NULL},
    {'d', "64:ff9b::1.0.0.0", "1.0.0.0"},
    {'d', "64:ff9b::c000:207", "192.0.2.7"},
    {'d', "64:ff9b::192.0.2.8", "192.0.2.8"},
    {'w', "64:ff9b::c000:207", "192.0.2.7"},
    {'n', "64:ff9b::c000:207", "192.0.2.7"},
    {'d', "64:ff9b::e000:1", NULL},                  /* 224.0.0.1 */
    {'d', "64:ff9b::efff:ffff", NULL},
    {'d', "64:ff9b::ffff:fffe", "255.255.255.254"},
    {'d', "64:ff9b::ffff:ffff", NULL},
    {'d', "64:ff9b::1:0:0", "64:ff9b::1:0:0_128"},   /* past the /96, in its /64 */
    {'d', "64:ff9b::ffff:ffff:ffff:ffff", "64:ff9b::ffff:ffff:ffff:ffff_128"},
    {'d', "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", "64:ff9a:ffff:ffff::_64"},
    {'d', "64:ff9b:0:1::", "64:ff9b:0:1::_64"},
    {'w', "64:ff9b:0:1::", "64:ff9b:0:1::_128"},     /* its /48 holds the /96 */
    /* RFC 8215 local-use 64:ff9b:1::/48: IPv4 in bytes 6, 7, 9, 10 */
    {'d', "64:ff9b:1::", NULL},
    {'d', "64:ff9b:1:c000:2:700::", "192.0.2.7"},
    {'w', "64:ff9b:1:c000:2:700::", "192.0.2.7"},
    {'d', "64:ff9b:1:c000:102:700::", "64:ff9b:1:c000:102:700::_128"},   /* u-octet */
    {'d', "64:ff9b:1:c000:2:701::", "64:ff9b:1:c000:2:701::_128"},       /* suffix */
    {'d', "64:ff9b:1:c000:2:700:0:1", "64:ff9b:1:c000:2:700:0:1_128"},
    {'d', "64:ff9b:1:e000:0:100::", NULL},                                 /* 224.0.0.1 */
    {'d', "64:ff9b:1:ffff:ff:ff00::", NULL},                              /* broadcast */
    {'d', "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff_128"},
    {'d', "64:ff9b:2::", "64:ff9b:2::_64"},
    {'d', "64:ff9b:0:ffff:ffff:ffff:ffff:ffff", "64:ff9b:0:ffff::_64"},
    /* The operator's NAT64 prefix, each RFC 6052 length. /32: IPv4 in bytes 4..7 */
    {'1', "2001:db8:c000:207::", "192.0.2.7"},
    {'1', "2001:db8:c000:207:100::", "2001:db8:c000:207:100::_128"},
    {'1', "2001:db8:c000:207:0:1::", "2001:db8:c000:207:0:1::_128"},
    {'1', "2001:db8:c000:207::1", "2001:db8:c000:207::1_128"},
    {'1', "2001:db8:e000:1::", NULL},
    {'1', "2001:db8::", NULL},
    {'1', "2001:db9::1", "2001:db9::_64"},
    {'1', "2001:db7:ffff:ffff::1", "2001:db7:ffff:ffff::_64"},
    {'d', "2001:db8:c000:207::", "2001:db8:c000:207::_64"},  /* no prefix set */
    /* /40: bytes 5, 6, 7, 9 */
    {'2', "2001:db8:1c0:2:7::", "192.0.2.7"},
    {'2', "2001:db8:1c0:2:107::", "2001:db8:1c0:2:107::_128"},
    {'2', "2001:db8:1c0:2:7::1", "2001:db8:1c0:2:7::1_128"},
    {'2', "2001:db8:1e0:0:1::", NULL},
    {'2', "2001:db8:200::1", "2001:db8:200::_64"},
    {'2', "2001:db8:ff:ffff::1", "2001:db8:ff:ffff::_64"},
    /* /48: bytes 6, 7, 9, 10 */
    {'3', "2001:db8:1:c000:2:700::", "192.0.2.7"},
    {'3', "2001:db8:1:c000:8002:700::", "2001:db8:1:c000:8002:700::_128"},
    {'3', "2001:db8:1:c000:2:700:1:0", "2001:db8:1:c000:2:700:1:0_128"},
    {'3', "2001:db8:2::1", "2001:db8:2::_64"},
    {'3', "2001:db8:0:ffff::1", "2001:db8:0:ffff::_64"},
    /* /56: bytes 7, 9, 10, 11 */
    {'4', "2001:db8:6400:c0:0:207::", "192.0.2.7"},
    {'4', "2001:db8:6400:c0:100:207::", "2001:db8:6400:c0:100:207::_128"},
    {'4', "2001:db8:6400:c0:0:207:0:1", "2001:db8:6400:c0:0:207:0:1_128"},
    {'4', "2001:db8:6400:ef:0:ffff::", NULL},
    {'4', "2001:db8:6400:100::1", "2001:db8:6400:100::_64"},
    {'4', "2001:db8:63ff:ffff::1", "2001:db8:63ff:ffff::_64"},
    /* /64: bytes 9..12 */
    {'5', "2001:db8:64:0:c0:2:700:0", "192.0.2.7"},
    {'5', "2001:db8:64:0:1c0:2:700:0", "2001:db8:64:0:1c0:2:700:0_128"},
    {'5', "2001:db8:64:0:c0:2:700:1", "2001:db8:64:0:c0:2:700:1_128"},
    {'5', "2001:db8:64::", NULL},
    {'5', "2001:db8:64:1::1", "2001:db8:64:1::_64"},
    {'5', "2001:db8:63:ffff:ffff:ffff:ffff:ffff", "2001:db8:63:ffff::_64"},
    /* /96: bytes 12..15 */
    {'6', "2001:db8:64::c000:207", "192.0.2.7"},
    {'6', "2001:db8:64::192.0.2.8", "192.0.2.8"},
    {'6', "2001:db8:64::e000:1", NULL},
    {'6', "2001:db8:64::", NULL},
    {'6', "2001:db8:64::ffff:ffff", NULL},
    {'6', "2001:db8:64::1:0:0", "2001:db8:64::1:0:0_128"},   /* its /64 holds the /96 */
    {'6', "2001:db8:64:0:ffff:ffff:ffff:ffff", "2001:db8:64:0:ffff:ffff:ffff:ffff_128"},
    {'6', "2001:db8:64:1::1", "2001:db8:64:1::_64"},
    {'6', "2001:db8:63:ffff:ffff:ffff:ffff:ffff", "2001:db8:63:ffff::_64"},
    {'6', "64:ff9b::c000:207", "192.0.2.7"},                 /* the WKP still holds */
    {'7', "2001:db8:64:1::1", "2001:db8:64:1::1_128"},       /* its /48 holds the /96 */
    {'7', "2001:db8:65::1", "2001:db8:65::_48"},
    {'d', "2001:db8:64::c000:207", "2001:db8:64::_64"},
    /* 2001::/23, IETF protocol assignments: Teredo, anycast, benchmarking, ORCHID ... */
    {'d', "2001::", "2001::_128"},
    {'d', "2001::1", "2001::1_128"},
    {'d', "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:4136:e378:8000:63bf:3fff:fdd2_128"},
    {'d', "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff_128"},
    {'w', "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:4136:e378:8000:63bf:3fff:fdd2_128"},
    {'d', "2001:1::1", "2001:1::1_128"},
    {'d', "2001:1::2", "2001:1::2_128"},
    {'d', "2001:2::1", "2001:2::1_128"},
    {'d', "2001:2:0:ffff::1", "2001:2:0:ffff::1_128"},
    {'d', "2001:3::1", "2001:3::1_128"},
    {'d', "2001:4:112::1", "2001:4:112::1_128"},
    {'d', "2001:10::1", "2001:10::1_128"},
    {'d', "2001:20::1", "2001:20::1_128"},
    {'d', "2001:30::1", "2001:30::1_128"},
    {'d', "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff_128"},
    {'d', "2001:200::1", "2001:200::_64"},
    {'w', "2001:200::1", "2001:200::_48"},
    {'d', "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2000:ffff:ffff:ffff::_64"},
    /* AS112 direct delegation (anycast) */
    {'d', "2620:4f:8000::", "2620:4f:8000::_128"},
    {'d', "2620:4f:8000:ffff:ffff:ffff:ffff:ffff", "2620:4f:8000:ffff:ffff:ffff:ffff:ffff_128"},
    {'d', "2620:4f:8001::1", "2620:4f:8001::_64"},
    {'d', "2620:4f:7fff:ffff::1", "2620:4f:7fff:ffff::_64"},
    /* 100::/64 discard-only and 100:0:0:1::/64 dummy */
    {'d', "100::", "100::_128"},
    {'d', "100::1", "100::1_128"},
    {'d', "100::ffff:ffff:ffff:ffff", "100::ffff:ffff:ffff:ffff_128"},
    {'d', "100:0:0:1::1", "100:0:0:1::1_128"},
    {'d', "100:0:0:1:ffff:ffff:ffff:ffff", "100::1:ffff:ffff:ffff:ffff_128"},
    {'d', "100:0:0:2::1", "100:0:0:2::_64"},
    {'w', "100:0:0:2::1", "100:0:0:2::1_128"},
    {'d', "ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ff:ffff:ffff:ffff::_64"},
    /* link-local, deprecated site-local */
    {'d', "fe80::", "fe80::_128"},
    {'d', "fe80::1", "fe80::1_128"},
    {'d', "fe80::204:61ff:fe9d:f156", "fe80::204:61ff:fe9d:f156_128"},
    {'d', "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff_128"},
    {'d', "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe7f:ffff:ffff:ffff::_64"},
    {'d', "fec0::1", "fec0::1_128"},
    {'d', "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff_128"},
    /* multicast: never */
    {'d', "ff00::", NULL},
    {'d', "ff02::1", NULL},
    {'d', "ff0e::1:3", NULL},
    {'n', "ff02::1", NULL},
    {'d', "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL},
    /* ISATAP interface ids, under any prefix */
    {'d', "2001:db8:1:2:0:5efe:c000:207", "2001:db8:1:2:0:5efe:c000:207_128"},
    {'d', "2001:db8:1:2:200:5efe:c000:207", "2001:db8:1:2:200:5efe:c000:207_128"},
    {'d', "2001:db8:1:2:0:5efe:a00:1", "2001:db8:1:2:0:5efe:a00:1_128"},
    {'w', "2001:db8:1:2:0:5efe:c000:207", "2001:db8:1:2:0:5efe:c000:207_128"},
    {'d', "fd00::200:5efe:c000:207", "fd00::200:5efe:c000:207_128"},
    {'d', "2001:db8:1:2:100:5efe:c000:207", "2001:db8:1:2::_64"},   /* the g bit: not ISATAP */
    {'d', "2001:db8:1:2:300:5efe:c000:207", "2001:db8:1:2::_64"},
    {'d', "2001:db8:1:2:0:5eff:c000:207", "2001:db8:1:2::_64"},
    {'d', "2001:db8:1:2:0:5efe:c000:208", "2001:db8:1:2:0:5efe:c000:208_128"},
    {'8', "2001:db8:1:2:0:5efe::1", "2001:db8:1:2:0:5efe:0:1_128"},
    {'8', "2001:db8:1:2:0:5eff::1", "2001:db8:1:2:0:5eff::_96"},
    /* ordinary: documentation, ULA, 6to4, SRv6, the rest */
    {'d', "2001:db8::", "2001:db8::_64"},
    {'d', "2001:db8:1:2::1", "2001:db8:1:2::_64"},
    {'d', "2001:db8:1:2::9", "2001:db8:1:2::_64"},
    {'d', "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8:ffff:ffff::_64"},
    {'w', "2001:db8:1:2::1", "2001:db8:1::_48"},
    {'n', "2001:db8:1:2::1", "2001:db8:1:2::1_128"},
    {'9', "2001:db8:1:2::1", "2001:db8:1:2::_95"},
    {'8', "2001:db8:1:2::1", "2001:db8:1:2::_96"},
    {'f', "2001:db8:1:2::1", "2001:db8:1:2::1_128"},    /* below the floor */
    {'z', "2001:db8:1:2::1", "2001:db8:1:2::1_128"},
    {'x', "2001:db8:1:2::1", "2001:db8:1:2::1_128"},
    {'f', "64:ff9b::c000:207", "192.0.2.7"},
    {'f', "ff02::1", NULL},
    {'d', "3fff::1", "3fff::_64"},
    {'d', "3fff:fff:ffff:ffff::1", "3fff:fff:ffff:ffff::_64"},
    {'d', "fc00::1", "fc00::_64"},
    {'d', "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fdff:ffff:ffff:ffff::_64"},
    {'d', "2002:c000:207::1", "2002:c000:207::_64"},
    {'w', "2002:c000:207:1::1", "2002:c000:207::_48"},
    {'d', "5f00::1", "5f00::_64"},
    {'d', "8000::1", "8000::_64"},
};

static void test_policy_keys(void)
{
    for (size_t i = 0; i < sizeof policy_keys / sizeof policy_keys[0]; i++) {
        struct addr a, before;
        struct addr_policy p;
        char key[ADDR_KEY_MAX];
        const char *want = policy_keys[i].key;

        policy_for(&p, policy_keys[i].policy);
        if (!CHECK(addr_parse(&a, policy_keys[i].in) == 0, "\"%s\" parses", policy_keys[i].in))
            continue;
        before = a;
        memset(key, 'x', sizeof key);
        int r = addr_key(key, &a, &p);
        CHECK(same_addr(&a, &before), "addr_key leaves \"%s\" alone", policy_keys[i].in);
        if (want == NULL) {
            CHECK(r == -1 && key[0] == '\0', "policy %c: \"%s\" may never relay",
                  policy_keys[i].policy, policy_keys[i].in);
            continue;
        }
        if (!CHECK(r == 0, "policy %c: \"%s\" has a key", policy_keys[i].policy,
                   policy_keys[i].in))
            continue;
        CHECK_STR(key, want, "policy %c: the key of \"%s\"", policy_keys[i].policy,
                  policy_keys[i].in);
        CHECK(addr_key_current(key, &p), "policy %c: \"%s\" is current", policy_keys[i].policy,
              key);
        /* The key names the same client again. */
        struct addr back;
        unsigned bits;
        if (CHECK(addr_key_parse(&back, &bits, key) == 0, "\"%s\" parses back", key) &&
            (back.family == 4 || bits == 128)) {
            char again[ADDR_KEY_MAX];
            CHECK(addr_key(again, &back, &p) == 0 && strcmp(again, key) == 0,
                  "policy %c: \"%s\" is its own key", policy_keys[i].policy, key);
        }
    }
}

/* Keys a store may hold, and whether each is one addr_key makes under the policy. */
static const struct {
    char policy;
    int current;
    const char *key;
} currents[] = {
    {'d', 1, "192.0.2.7"},
    {'d', 1, "2001:db8:1:2::_64"},
    {'d', 1, "::1_128"},
    {'d', 1, "fe80::1_128"},
    {'d', 1, "2001::_128"},
    {'d', 1, "2001:db8:1:2:0:5efe:c000:207_128"},
    {'d', 1, "64:ff9b::1:0:0_128"},
    {'d', 1, "64:ff9b:0:1::_64"},
    {'d', 1, "64:ff9b:1:c000:102:700::_128"},
    {'d', 0, "0.0.0.0"},
    {'d', 0, "224.0.0.1"},
    {'d', 0, "255.255.255.255"},
    {'d', 0, "64:ff9b::_64"},
    {'d', 0, "64:ff9b::c000:207_128"},
    {'d', 0, "64:ff9b:1::_64"},
    {'d', 0, "64:ff9b:1:c000:2:700::_128"},
    {'d', 0, "::ffff:0:c000:207_128"},
    {'d', 0, "::c000:207_128"},
    {'d', 0, "fe80::_64"},
    {'d', 0, "::_64"},
    {'d', 0, "::_128"},
    {'d', 0, "2001::_64"},
    {'d', 0, "2001:0:4136:e378::_64"},
    {'d', 0, "100::_64"},
    {'d', 0, "ff02::_64"},
    {'d', 0, "ff02::1_128"},
    {'d', 0, "2001:db8:1::_48"},
    {'d', 0, "2001:db8:1:2::1_128"},
    {'d', 0, "2001:db8:1:2::_128"},
    {'d', 0, "2001:db8:1:2::_63"},
    {'d', 0, "2001:db8:1:2:0:5efe::_96"},
    {'d', 0, ""},
    {'d', 0, "junk"},
    {'d', 0, "2001:db8:1:2::_064"},
    {'w', 1, "2001:db8:1::_48"},
    {'w', 1, "::1:0:0:0:1_128"},
    {'w', 0, "2001:db8:1:2::_64"},
    {'w', 0, "2001:db8:1:2::1_128"},
    {'w', 0, "::_48"},
    {'w', 0, "64:ff9b::_48"},
    {'w', 1, "64:ff9b:0:1::1_128"},
    {'n', 1, "2001:db8:1:2::1_128"},
    {'n', 1, "2001:db8:1:2::_128"},
    {'n', 0, "2001:db8:1:2::_64"},
    {'n', 1, "192.0.2.7"},
    {'n', 0, "64:ff9b::c000:207_128"},
    {'f', 1, "2001:db8:1:2::1_128"},
    {'f', 0, "2001:db8::_47"},
    {'f', 0, "2001:db8:1:2::_64"},
    {'6', 0, "2001:db8:64::_64"},
    {'6', 0, "2001:db8:64::c000:207_128"},
    {'6', 1, "2001:db8:64::1:0:0_128"},
    {'6', 1, "2001:db8:65::_64"},
    {'6', 1, "2001:db8:64:1::_64"},
    {'6', 1, "192.0.2.7"},
    {'d', 1, "2001:db8:64::_64"},
    {'d', 0, "2001:db8:64::c000:207_128"},
    {'7', 0, "2001:db8:64::_48"},
    {'1', 0, "2001:db8::_64"},
    {'1', 1, "2001:db9::_64"},
    {'1', 1, "2001:db8:c000:207:100::_128"},
    {'8', 0, "2001:db8:1:2:0:5efe::_96"},
    {'8', 1, "2001:db8:1:2:0:5eff::_96"},
    {'8', 0, "2001:db8:1:2:200:5efe::_96"},
    {'9', 1, "2001:db8:1:2:0:5efe::_95"},
};

static void test_key_current(void)
{
    for (size_t i = 0; i < sizeof currents / sizeof currents[0]; i++) {
        struct addr_policy p;
        policy_for(&p, currents[i].policy);
        CHECK_LONG(addr_key_current(currents[i].key, &p), currents[i].current,
                   "policy %c: \"%s\" is %s", currents[i].policy, currents[i].key,
                   currents[i].current ? "current" : "stale");
    }
    /* Every key vector's address, under every policy: its key is current. */
    int bad = 0;
    for (size_t k = 0; k < sizeof policies / sizeof policies[0]; k++) {
        struct addr_policy p;
        policy_for(&p, policies[k].name);
        for (size_t i = 0; i < sizeof policy_keys / sizeof policy_keys[0]; i++) {
            struct addr a;
            char key[ADDR_KEY_MAX];
            if (addr_parse(&a, policy_keys[i].in) != 0 || addr_key(key, &a, &p) != 0)
                continue;
            if (!addr_key_current(key, &p) && bad++ < 5)
                unit_note("policy %c: \"%s\" gives \"%s\", not current", policies[k].name,
                          policy_keys[i].in, key);
        }
    }
    CHECK(bad == 0, "every key addr_key makes is current under its policy (%d not)", bad);
}

/* The IPv6 forms of an IPv4 host: each is keyed as that host, and only those. */
static void test_v4_forms(void)
{
    static const char *const v4s[] = {"192.0.2.7", "1.0.0.0", "255.255.255.254", "10.0.0.1"};
    static const char names[] = {'d', '1', '2', '3', '4', '5', '6', 'f'};
    for (size_t k = 0; k < sizeof names; k++) {
        struct addr_policy p;
        policy_for(&p, names[k]);
        for (size_t i = 0; i < sizeof v4s / sizeof v4s[0]; i++) {
            struct addr v, a;
            unsigned char forms[ADDR_V4_FORMS][16];
            char key[ADDR_KEY_MAX], text[ADDR_TEXT_MAX];
            addr_parse(&v, v4s[i]);
            size_t n = addr_v4_forms(forms, v.b, &p);
            CHECK_LONG(n, p.nat64_bits != 0 ? 5 : 4, "policy %c: %s has its forms", names[k],
                       v4s[i]);
            for (size_t j = 0; j < n; j++) {
                a.family = 6;
                memcpy(a.b, forms[j], 16);
                addr_format(text, &a);
                CHECK(addr_key(key, &a, &p) == 0 && strcmp(key, v4s[i]) == 0,
                      "policy %c: %s is keyed as %s", names[k], text, v4s[i]);
            }
        }
        struct addr v;
        unsigned char forms[ADDR_V4_FORMS][16];
        addr_parse(&v, "224.0.0.1");
        CHECK_LONG(addr_v4_forms(forms, v.b, &p), 0, "policy %c: 224.0.0.1 has none",
                   names[k]);
    }
    /* The well-known prefixes named again as the operator's are not written twice. */
    struct addr_policy p = {64, 0, {0}};
    struct addr v;
    unsigned char forms[ADDR_V4_FORMS][16];
    addr_nat64_parse(&p, "64:ff9b::/96");
    addr_parse(&v, "192.0.2.7");
    CHECK_LONG(addr_v4_forms(forms, v.b, &p), 4, "64:ff9b::/96 as the operator's: 4 forms");
}

/* A policy no settings_load makes is read as /128, never wider. */
static void test_policy_odd(void)
{
    struct addr a;
    char key[ADDR_KEY_MAX];
    struct addr_policy p = {64, 80, {0x20, 0x01, 0x0d, 0xb8}};
    addr_parse(&a, "2001:db8:1:2::1");
    CHECK(addr_key(key, &a, &p) == 0 && strcmp(key, "2001:db8:1:2::1_128") == 0,
          "a NAT64 length without a layout keys by /128 (%s)", key);
    p.nat64_bits = 0;
    p.v6bits = 1;
    CHECK(addr_key(key, &a, &p) == 0 && strcmp(key, "2001:db8:1:2::1_128") == 0,
          "a prefix of 1 keys by /128 (%s)", key);
    /* addr_nat64_parse leaves the policy alone when it refuses. */
    struct addr_policy q = {64, 0, {0}};
    CHECK(addr_nat64_parse(&q, "2001:db8::/33") == -1 && q.nat64_bits == 0 && q.v6bits == 64,
          "a refused NAT64 prefix changes nothing");
    CHECK(addr_nat64_parse(&q, "2001:db8:64::/96") == 0 && q.nat64_bits == 96,
          "a NAT64 prefix is taken");
}

/* A client in a message: the address as given, and the key only when it reads otherwise. */
static void test_client_show(void)
{
    char out[ADDR_SHOWN_MAX], small[16], long_text[200];
    addr_client_show(out, sizeof out, "192.0.2.7", "192.0.2.7");
    CHECK_STR(out, "192.0.2.7", "an IPv4 client is its key");
    addr_client_show(out, sizeof out, "2001:db8:1:2::5", "2001:db8:1:2::_64");
    CHECK_STR(out, "2001:db8:1:2::5 (key 2001:db8:1:2::/64)", "an IPv6 client and its /64");
    addr_client_show(out, sizeof out, "::ffff:192.0.2.7", "192.0.2.7");
    CHECK_STR(out, "::ffff:192.0.2.7 (key 192.0.2.7)", "a mapped client and its IPv4 key");
    memset(long_text, 'a', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    addr_client_show(out, sizeof out, long_text, "192.0.2.7");
    CHECK(strlen(out) == 64 + strlen(" (key 192.0.2.7)"), "the address is cut at 64 bytes");
    addr_client_show(small, sizeof small, "2001:db8:1:2::5", "2001:db8:1:2::_64");
    CHECK_STR(small, "2001:db8:1:2::5", "a short buffer is cut, and ends");
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
    test_policy_keys();
    test_key_current();
    test_policy_odd();
    test_v4_forms();
    test_from_env();
    test_client_show();
    return unit_done();
}
