/* fuzz/addr.c: the address parser and the store keys.
 *
 * The input is tried twice: as a client address (addr_parse) and as a store key
 * (addr_key_parse). Properties:
 *  - an accepted address is plain text (hex digits, ':' and '.', at most 45 bytes), and a
 *    dotted quad is accepted only in its canonical form (no leading zeros, no short forms);
 *  - the parser accepts exactly what the C library's inet_pton accepts, with the same bytes
 *    (an IPv4-mapped address becomes the IPv4 address);
 *  - the canonical text parses back to the same address and formats identically, and obeys
 *    RFC 5952, checked here on the text itself rather than by formatting a second time;
 *  - for every prefix length 1..128, addr_key gives a key that addr_key_parse reads back to
 *    the masked address and the same length (IPv4: the dotted quad, length 32);
 *  - an accepted key is the canonical key of what it parses to, and is a safe file name. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "fuzz/fuzz.h"

#define FUZZ_HARNESS "addr"

/* The first bits of src, the rest cleared: written bit by bit, unlike addr_mask. */
static void mask_bits(unsigned char *dst, const unsigned char *src, unsigned bits)
{
    for (unsigned i = 0; i < 128; i++) {
        unsigned char bit = (unsigned char)(0x80u >> (i % 8));
        if (i < bits)
            dst[i / 8] = (unsigned char)((dst[i / 8] & ~bit) | (src[i / 8] & bit));
        else
            dst[i / 8] = (unsigned char)(dst[i / 8] & ~bit);
    }
}

static int same_addr(const struct addr *x, const struct addr *y)
{
    return x->family == y->family && memcmp(x->b, y->b, x->family == 4 ? 4 : 16) == 0;
}

/* RFC 5952 on the text t that should name the 16 bytes b: lowercase hex groups without
 * leading zeros; "::" at most once, for a run of two or more zero groups, the longest run,
 * and the first of equally long ones; no dotted IPv4 tail. */
static int rfc5952(const char *t, const unsigned char *b)
{
    unsigned g[8], want[8];
    int zero[8];
    for (int i = 0; i < 8; i++)
        want[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];

    const char *dc = strstr(t, "::");
    if (dc != NULL && strstr(dc + 1, "::") != NULL)
        return 0;
    /* Read the groups left and right of "::" (or all eight if there is none). */
    int left = 0, right = 0, right_g[8];
    const char *p = t;
    int side = 0; /* 0: left of "::", 1: right of it */
    if (dc == t) {
        p = t + 2;
        side = 1;
    }
    while (*p != '\0') {
        size_t n = strspn(p, "0123456789abcdef");
        if (n < 1 || n > 4 || (n > 1 && p[0] == '0'))
            return 0;
        unsigned v = (unsigned)strtoul(p, NULL, 16);
        if (side == 0) {
            if (left >= 8)
                return 0;
            g[left++] = v;
        } else {
            if (right >= 8)
                return 0;
            right_g[right++] = (int)v;
        }
        p += n;
        if (*p == '\0')
            break;
        if (*p != ':')
            return 0;
        if (p == dc) {
            p += 2;
            side = 1;
            if (*p == '\0')
                break;
        } else {
            p++;
            if (*p == '\0')
                return 0; /* a trailing single colon */
        }
    }
    int run = 0, run_at = -1;
    if (dc == NULL) {
        if (left != 8)
            return 0;
    } else {
        run = 8 - left - right;
        run_at = left;
        if (run < 2)
            return 0; /* "::" for one group, or too many groups */
        for (int i = 0; i < run; i++)
            g[left + i] = 0;
        for (int i = 0; i < right; i++)
            g[left + run + i] = (unsigned)right_g[i];
    }
    for (int i = 0; i < 8; i++) {
        if (g[i] != want[i])
            return 0;
        zero[i] = g[i] == 0;
    }
    /* The "::" covers a whole run: no zero group written out right next to it. */
    if (run_at > 0 && zero[run_at - 1])
        return 0;
    if (run_at >= 0 && run_at + run < 8 && zero[run_at + run])
        return 0;
    /* No zero run written out may be long enough to deserve the "::" instead. */
    for (int i = 0; i < 8;) {
        if (!zero[i] || i == run_at) {
            i = i == run_at ? i + run : i + 1;
            continue;
        }
        int j = i;
        while (j < 8 && zero[j] && j != run_at)
            j++;
        int len = j - i;
        if (len >= 2 && (len > run || (len == run && i < run_at)))
            return 0;
        i = j;
    }
    return 1;
}

/* A store key becomes a file name in the store: it must never be able to name anything else. */
static int safe_name(const char *k)
{
    size_t n = strlen(k);
    return n > 0 && n < ADDR_KEY_MAX && strspn(k, "0123456789abcdef:._") == n && k[0] != '.';
}

static void check_address(const char *s)
{
    struct addr a, a2, ka;
    unsigned char lib[16];
    unsigned kbits;
    char t1[ADDR_TEXT_MAX + 8], t2[ADDR_TEXT_MAX + 8], key[ADDR_KEY_MAX + 8];

    int ok = addr_parse(&a, s) == 0;
    int colon = strchr(s, ':') != NULL;
    int libok = inet_pton(colon ? AF_INET6 : AF_INET, s, lib) == 1;
    PROP(ok == libok, "accepts exactly what inet_pton accepts");
    if (!ok)
        return;

    size_t n = strlen(s);
    PROP(n >= 1 && n <= 45 && strspn(s, "0123456789abcdefABCDEF:.") == n,
         "an accepted address is plain text");
    PROP(a.family == 4 || a.family == 6, "family is 4 or 6");
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (colon && memcmp(lib, mapped, 12) == 0)
        PROP(a.family == 4 && memcmp(a.b, lib + 12, 4) == 0, "a mapped address is IPv4");
    else if (colon)
        PROP(a.family == 6 && memcmp(a.b, lib, 16) == 0, "same bytes as inet_pton (IPv6)");
    else
        PROP(a.family == 4 && memcmp(a.b, lib, 4) == 0, "same bytes as inet_pton (IPv4)");

    memset(t1, 'X', sizeof t1);
    addr_format(t1, &a);
    PROP(memchr(t1, '\0', ADDR_TEXT_MAX) != NULL, "canonical text fits ADDR_TEXT_MAX");
    PROP(addr_parse(&a2, t1) == 0, "canonical text parses");
    PROP(same_addr(&a, &a2), "canonical text parses to the same address");
    addr_format(t2, &a2);
    PROP(strcmp(t1, t2) == 0, "canonical text formats identically");
    if (a.family == 4) {
        char want[16];
        snprintf(want, sizeof want, "%u.%u.%u.%u", a.b[0], a.b[1], a.b[2], a.b[3]);
        PROP(strcmp(t1, want) == 0, "IPv4 canonical text is the dotted quad");
        if (!colon)
            PROP(strcmp(s, t1) == 0, "a dotted quad is accepted only in canonical form");
    } else {
        PROP(rfc5952(t1, a.b), "IPv6 canonical text follows RFC 5952");
    }

    if (a.family == 4) {
        addr_key_format(key, &a, 64);
        PROP(strcmp(key, t1) == 0, "IPv4 key is the dotted quad");
        PROP(addr_key_parse(&ka, &kbits, key) == 0 && kbits == 32 && same_addr(&ka, &a),
             "IPv4 key parses back");
        return;
    }
    for (unsigned bits = 1; bits <= 128; bits++) {
        struct addr m = {6, {0}};
        mask_bits(m.b, a.b, bits);
        memset(key, 'X', sizeof key);
        addr_key_format(key, &a, bits);
        PROP(memchr(key, '\0', ADDR_KEY_MAX) != NULL, "key fits ADDR_KEY_MAX");
        PROP(safe_name(key), "key is a safe file name");
        PROP(addr_key_parse(&ka, &kbits, key) == 0, "key parses back");
        PROP(kbits == bits, "key keeps its prefix length");
        PROP(same_addr(&ka, &m), "key names the masked address");
        char want[ADDR_KEY_MAX + 8];
        addr_format(t2, &m);
        snprintf(want, sizeof want, "%s_%u", t2, bits);
        PROP(strcmp(key, want) == 0, "key is the masked canonical text and the length");
    }
}

static void check_key(const char *s)
{
    struct addr a;
    unsigned bits;
    char again[ADDR_KEY_MAX + 8];
    if (addr_key_parse(&a, &bits, s) != 0)
        return;
    PROP(safe_name(s), "an accepted key is a safe file name");
    PROP(strncmp(s, ".tmp.", 5) != 0, "an accepted key is never a temp name");
    if (a.family == 4) {
        PROP(bits == 32 && strchr(s, '_') == NULL, "an IPv4 key has no length");
    } else {
        struct addr m = {6, {0}};
        mask_bits(m.b, a.b, bits);
        PROP(bits >= 1 && bits <= 128, "an IPv6 key's length is 1..128");
        PROP(same_addr(&a, &m), "an IPv6 key has no bits past its length");
    }
    addr_key_format(again, &a, bits);
    PROP(strcmp(again, s) == 0, "an accepted key is the canonical key");
}

void fuzz_addr(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstring(data, size);
    if (s == NULL)
        return;
    check_address(s);
    check_key(s);
    free(s);
}

FUZZ_ENTRY(fuzz_addr)
