/* addr.c: strict address parsing and the one canonical text that store keys are made of. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"

/* inet_pton differs a little between libcs at the edges (zone ids, odd forms), and
 * relay-check (musl) and relay-cdb (glibc) must agree on every key, so the characters and the
 * length are checked here first: what reaches inet_pton is plain RFC 4291 text or nothing. */
static int plain_text(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (n >= max)
            return 0;
        char c = s[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
              c == ':' || c == '.'))
            return 0;
    }
    return n > 0;
}

/* Exactly four decimal parts of one to three digits, each at most 255, with no leading zero:
 * what this accepts is already its own canonical text, so keys need no second formatting.
 * (inet_aton would read "010" as octal 8 and "127.1" as 127.0.0.1.) */
static int parse_v4(unsigned char out[4], const char *s)
{
    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9') {
            if (digits == 3 || (digits == 1 && v == 0))
                return -1;
            v = v * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (digits == 0 || v > 255)
            return -1;
        out[part] = (unsigned char)v;
        if (*s++ != (part < 3 ? '.' : '\0'))
            return -1;
    }
    return 0;
}

static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int addr_parse(struct addr *a, const char *s)
{
    memset(a, 0, sizeof *a);
    if (!plain_text(s, 45))
        return -1;
    if (strchr(s, ':') == NULL) {
        if (parse_v4(a->b, s) != 0)
            return -1;
        a->family = 4;
        return 0;
    }
    unsigned char b[16];
    if (inet_pton(AF_INET6, s, b) != 1)
        return -1;
    if (memcmp(b, v4mapped, sizeof v4mapped) == 0) {
        /* The same client reaches us as ::ffff:a.b.c.d through tcpserver -6 or couriertcpd
         * and as a.b.c.d elsewhere; one key for both. */
        a->family = 4;
        memcpy(a->b, b + 12, 4);
        return 0;
    }
    a->family = 6;
    memcpy(a->b, b, 16);
    return 0;
}

void addr_format(char *buf, const struct addr *a)
{
    if (a->family == 4) {
        /* At most "255.255.255.255": it always fits. */
        (void)snprintf(buf, ADDR_TEXT_MAX, "%u.%u.%u.%u", a->b[0], a->b[1], a->b[2], a->b[3]);
        return;
    }
    /* RFC 5952 4.2: the longest run of two or more zero groups becomes "::", the first one
     * if two runs are equally long; a lone zero group stays "0". */
    addr_text6(buf, a->b, 2, 0);
}

/* The longest run of at least min zero groups, the first of equally long ones: its first
 * group, with its length in *len; or -1. */
static int zero_run(const unsigned char b[16], int min, int *len)
{
    int best = -1;
    *len = min - 1;
    for (int i = 0; i < 8;) {
        if (b[2 * i] != 0 || b[2 * i + 1] != 0) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && b[2 * j] == 0 && b[2 * j + 1] == 0)
            j++;
        if (j - i > *len) {
            best = i;
            *len = j - i;
        }
        i = j;
    }
    return best;
}

void addr_text6(char *buf, const unsigned char b[16], int min_run, int dotted_mapped)
{
    int runlen;
    int run = zero_run(b, min_run, &runlen);
    int tail = dotted_mapped && memcmp(b, v4mapped, sizeof v4mapped) == 0;
    char *p = buf;
    for (int i = 0; i < 8; i++) {
        if (i == 6 && tail) {
            /* "::ffff:" and at most "255.255.255.255": it fits. */
            (void)sprintf(p, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
            return;
        }
        if (i == run) {
            *p++ = ':';
            if (i == 0)
                *p++ = ':';
            i += runlen - 1;
            continue;
        }
        p += sprintf(p, "%x", (unsigned)b[2 * i] << 8 | b[2 * i + 1]);
        if (i < 7)
            *p++ = ':';
    }
    *p = '\0';
}

void addr_mask(struct addr *a, unsigned bits)
{
    for (unsigned i = 0; i < 16; i++) {
        if (bits >= 8 * (i + 1))
            continue;
        if (bits <= 8 * i)
            a->b[i] = 0;
        else
            a->b[i] &= (unsigned char)(0xff << (8 * (i + 1) - bits));
    }
}

void addr_key_format(char *buf, const struct addr *a, unsigned bits)
{
    if (a->family == 4) {
        addr_format(buf, a);
        return;
    }
    struct addr net = *a;
    addr_mask(&net, bits);
    addr_format(buf, &net);
    size_t n = strlen(buf);
    /* At most 39 bytes of address and "_128" (callers pass 1..128): it always fits. */
    (void)snprintf(buf + n, ADDR_KEY_MAX - n, "_%u", bits);
}

/* An IPv6 range: its first bits are those of net. */
struct range {
    unsigned char net[16];
    unsigned bits;
};

/* RFC 6052's prefixes: the well-known one, and the one for a network's local use. */
static const struct range wkp96 = {{0, 0x64, 0xff, 0x9b}, 96};
static const struct range local48 = {{0, 0x64, 0xff, 0x9b, 0, 1}, 48};

/* Ranges where a prefix is no one site's subnet, so each address is a key of its own: the
 * rest of ::/64 (loopback, ...), 100::/64 discard-only and 100:0:0:1::/64 dummy (RFC 6666,
 * RFC 9780), the IETF protocol assignments 2001::/23 (Teredo, anycast, benchmarking, ORCHID,
 * AMT, AS112, DETs), the AS112 direct delegation 2620:4f:8000::/48 (anycast: every instance
 * is someone else's), link-local and the deprecated site-local ranges. */
static const struct range exact_ranges[] = {
    {{0}, 64},
    {{0x01, 0x00}, 63},
    {{0x20, 0x01}, 23},
    {{0x26, 0x20, 0x00, 0x4f, 0x80}, 48},
    {{0xfe, 0x80}, 10},
    {{0xfe, 0xc0}, 10},
};

static const struct range multicast = {{0xff}, 8};

/* Do the first bits of x and y agree? */
static int same_bits(const unsigned char x[16], const unsigned char y[16], unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(x, y, whole) != 0)
        return 0;
    return rest == 0 || ((x[whole] ^ y[whole]) >> (8 - rest)) == 0;
}

static int in_range(const unsigned char b[16], const struct range *r)
{
    return same_bits(b, r->net, r->bits);
}

/* Does the prefix b/bits share an address with r? Two prefixes either nest or are apart. */
static int overlaps(const unsigned char b[16], unsigned bits, const struct range *r)
{
    return same_bits(b, r->net, bits < r->bits ? bits : r->bits);
}

/* The ISATAP interface id (RFC 5214): 00-00-5E-FE, or 02-00-5E-FE with the u bit, then the
 * host's IPv4 address. Every client of one ISATAP router shares its /64, wherever they are. */
static int isatap(const unsigned char b[16])
{
    return (b[8] & 0xfd) == 0 && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe;
}

/* Unspecified, multicast and limited broadcast: no one logs in from these. */
static int v4_refused(const unsigned char v[4])
{
    return v[0] == 0 || (v[0] >= 224 && v[0] <= 239) ||
           (v[0] == 255 && v[1] == 255 && v[2] == 255 && v[3] == 255);
}

static int nat64_len_ok(unsigned bits)
{
    return bits == 32 || bits == 40 || bits == 48 || bits == 56 || bits == 64 || bits == 96;
}

/* The IPv4 address in b under the RFC 6052 layout for a prefix of bits (32, 40, ... 96): the
 * four bytes after the prefix, skipping bits 64..71 (the u-octet). Returns 1, or 0 if the
 * u-octet or the suffix is not zero: that is no address a translator makes, so it is not
 * read as one IPv4 host. */
static int rfc6052(unsigned char v4[4], const unsigned char b[16], unsigned bits)
{
    if (bits == 96) {
        memcpy(v4, b + 12, 4);
        return b[8] == 0;
    }
    unsigned i = bits / 8;
    for (int k = 0; k < 4; i++) {
        if (i != 8)
            v4[k++] = b[i];
    }
    if (b[8] != 0)
        return 0;
    for (; i < 16; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

/* The prefix length ordinary IPv6 addresses get under p. A policy that no settings_load
 * could make (a prefix wider than ADDR_V6BITS_MIN, a NAT64 length RFC 6052 has no layout
 * for) is read as the narrowest: it can only grant less. */
static unsigned v6bits_of(const struct addr_policy *p)
{
    if (p->v6bits < ADDR_V6BITS_MIN || p->v6bits > 128 ||
        (p->nat64_bits != 0 && !nat64_len_ok(p->nat64_bits)))
        return 128;
    return p->v6bits;
}

/* Does the prefix b/bits share an address with a range that is keyed apart (embedded IPv4,
 * exact, refused)? A prefix key that did would let a login from an ordinary address there
 * grant those too under tcpserver's own prefix match (relay-cdb), and let a record written
 * before the range was keyed apart grant them. */
static int prefix_special(const unsigned char b[16], unsigned bits, const struct addr_policy *p)
{
    if (overlaps(b, bits, &wkp96) || overlaps(b, bits, &local48) ||
        overlaps(b, bits, &multicast))
        return 1;
    for (size_t i = 0; i < sizeof exact_ranges / sizeof exact_ranges[0]; i++)
        if (overlaps(b, bits, &exact_ranges[i]))
            return 1;
    if (p->nat64_bits != 0 && nat64_len_ok(p->nat64_bits) &&
        same_bits(b, p->nat64, bits < p->nat64_bits ? bits : p->nat64_bits))
        return 1;
    return 0;
}

enum kind { KIND_NONE, KIND_V4, KIND_EXACT, KIND_PREFIX };

/* What a client address becomes under p; for KIND_V4, the IPv4 address it stands for. */
static enum kind classify(const struct addr *a, const struct addr_policy *p, unsigned char v4[4])
{
    const unsigned char *b = a->b;
    static const unsigned char zero[16];
    static const unsigned char translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    int embeds = 0;

    if (a->family == 4) {
        memcpy(v4, b, 4);
        embeds = 1;
    } else if (memcmp(b, zero, 16) == 0 || in_range(b, &multicast)) {
        return KIND_NONE;
    } else if (memcmp(b, zero, 12) == 0) {
        /* IPv4-compatible ::a.b.c.d (RFC 4291, deprecated); ::1 is loopback. */
        if (memcmp(b, zero, 15) == 0 && b[15] == 1)
            return KIND_EXACT;
        memcpy(v4, b + 12, 4);
        embeds = 1;
    } else if (memcmp(b, translated, sizeof translated) == 0 || in_range(b, &wkp96)) {
        /* IPv4-translated ::ffff:0:a.b.c.d (RFC 2765, SIIT), and RFC 6052's /96. */
        memcpy(v4, b + 12, 4);
        embeds = 1;
    } else if (in_range(b, &local48)) {
        if (!rfc6052(v4, b, 48))
            return KIND_EXACT;
        embeds = 1;
    } else if (p->nat64_bits != 0 && nat64_len_ok(p->nat64_bits) &&
               same_bits(b, p->nat64, p->nat64_bits)) {
        if (!rfc6052(v4, b, p->nat64_bits))
            return KIND_EXACT;
        embeds = 1;
    }
    /* Behind NAT64 or SIIT the address stands for one IPv4 host, and every IPv4 host has
     * one: widened, one login would let all of IPv4 relay. */
    if (embeds)
        return v4_refused(v4) ? KIND_NONE : KIND_V4;

    for (size_t i = 0; i < sizeof exact_ranges / sizeof exact_ranges[0]; i++)
        if (in_range(b, &exact_ranges[i]))
            return KIND_EXACT;
    if (isatap(b))
        return KIND_EXACT;
    unsigned bits = v6bits_of(p);
    if (bits == 128 || prefix_special(b, bits, p))
        return KIND_EXACT;
    return KIND_PREFIX;
}

int addr_key(char *buf, const struct addr *a, const struct addr_policy *p)
{
    unsigned char v4[4];
    struct addr host;

    switch (classify(a, p, v4)) {
    case KIND_V4:
        memset(&host, 0, sizeof host);
        host.family = 4;
        memcpy(host.b, v4, 4);
        addr_key_format(buf, &host, 32);
        return 0;
    case KIND_EXACT:
        addr_key_format(buf, a, 128);
        return 0;
    case KIND_PREFIX:
        addr_key_format(buf, a, v6bits_of(p));
        return 0;
    case KIND_NONE:
        break;
    }
    buf[0] = '\0';
    return -1;
}

int addr_key_current(const char *key, const struct addr_policy *p)
{
    struct addr a;
    unsigned bits;

    if (addr_key_parse(&a, &bits, key) != 0)
        return 0;
    /* An address key is current if that address still gets it. */
    if (a.family == 4 || bits == 128) {
        char again[ADDR_KEY_MAX];
        return addr_key(again, &a, p) == 0 && strcmp(again, key) == 0;
    }
    /* A prefix key is current if it has the policy's length and some address gets it: the
     * prefix touches no range keyed apart, and holds an address that is not ISATAP (below
     * /96 the last bit of 0x5efe is free, so it always does). */
    return bits == v6bits_of(p) && !prefix_special(a.b, bits, p) && (bits < 96 || !isatap(a.b));
}

/* Write v4 into b after a prefix of bits, as rfc6052 reads it back. */
static void embed(unsigned char b[16], const unsigned char prefix[16], unsigned bits,
                  const unsigned char v4[4])
{
    memset(b, 0, 16);
    memcpy(b, prefix, bits / 8);
    unsigned i = bits / 8;
    for (int k = 0; k < 4; i++) {
        if (i != 8)
            b[i] = v4[k++];
    }
}

size_t addr_v4_forms(unsigned char out[ADDR_V4_FORMS][16], const unsigned char v4[4],
                     const struct addr_policy *p)
{
    static const unsigned char zero[16];
    static const unsigned char translated[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    size_t n = 0;
    if (v4_refused(v4))
        return 0;
    embed(out[n++], zero, 96, v4);
    embed(out[n++], translated, 96, v4);
    embed(out[n++], wkp96.net, 96, v4);
    embed(out[n++], local48.net, 48, v4);
    if (p->nat64_bits != 0 && nat64_len_ok(p->nat64_bits) &&
        !(p->nat64_bits == 96 && memcmp(p->nat64, wkp96.net, 16) == 0) &&
        !(p->nat64_bits == 48 && memcmp(p->nat64, local48.net, 16) == 0))
        embed(out[n++], p->nat64, p->nat64_bits, v4);
    return n;
}

int addr_nat64_parse(struct addr_policy *p, const char *s)
{
    char text[ADDR_TEXT_MAX + 8];
    const char *slash = strchr(s, '/');
    if (slash == NULL || (size_t)(slash - s) >= sizeof text)
        return -1;
    memcpy(text, s, (size_t)(slash - s));
    text[slash - s] = '\0';

    static const char *const lens[] = {"32", "40", "48", "56", "64", "96"};
    unsigned bits = 0;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        if (strcmp(slash + 1, lens[i]) == 0)
            bits = (unsigned)strtoul(lens[i], NULL, 10);
    struct addr a, net;
    if (bits == 0 || addr_parse(&a, text) != 0 || a.family != 6)
        return -1;
    net = a;
    addr_mask(&net, bits);
    if (memcmp(net.b, a.b, 16) != 0)
        return -1;
    /* RFC 6052 2.2: bits 64..71 are zero in every translated address; a /96 holds them. */
    if (bits == 96 && (a.b[8] != 0 || isatap(a.b)))
        return -1;
    /* Inside or around a range that is already keyed apart an address would have two
     * readings; the well-known prefixes themselves are merely said twice. */
    struct addr_policy none = {ADDR_V6BITS_MIN, 0, {0}};
    int wkp = (bits == 96 && memcmp(a.b, wkp96.net, 16) == 0) ||
              (bits == 48 && memcmp(a.b, local48.net, 16) == 0);
    if (!wkp && prefix_special(a.b, bits, &none))
        return -1;
    p->nat64_bits = bits;
    memcpy(p->nat64, a.b, 16);
    return 0;
}

int addr_key_parse(struct addr *a, unsigned *bits, const char *s)
{
    char text[ADDR_TEXT_MAX];
    const char *us = strchr(s, '_');
    /* The sweep asks this of every name in the store; a dotted quad that parses is its
     * own key, so the common case skips the copy and the second formatting. */
    if (us == NULL && strchr(s, ':') == NULL) {
        memset(a, 0, sizeof *a);
        if (parse_v4(a->b, s) != 0)
            return -1;
        a->family = 4;
        *bits = 32;
        return 0;
    }
    size_t n = us ? (size_t)(us - s) : strlen(s);
    if (n == 0 || n >= sizeof text)
        return -1;
    memcpy(text, s, n);
    text[n] = '\0';
    if (addr_parse(a, text) != 0)
        return -1;

    if (a->family == 4) {
        if (us != NULL)
            return -1;
        *bits = 32;
    } else {
        if (us == NULL)
            return -1;
        /* One to three digits, no leading zero, 1..128: "_064" would be a second name for
         * the same key, and two names for one key would let a record hide from lookups. */
        const char *d = us + 1;
        size_t nd = strlen(d);
        if (nd < 1 || nd > 3 || d[0] == '0' || strspn(d, "0123456789") != nd)
            return -1;
        unsigned v = (unsigned)strtoul(d, NULL, 10);
        if (v < 1 || v > 128)
            return -1;
        *bits = v;
    }

    char again[ADDR_KEY_MAX];
    addr_key_format(again, a, *bits);
    return strcmp(again, s) == 0 ? 0 : -1;
}

const char *addr_from_env(enum addr_source from, const char **var)
{
    static const char *const names[] = {"TCP6REMOTEIP", "TCPREMOTEIP", "IP"};
    const char *proto = getenv("PROTO");
    size_t first = (proto != NULL && strcmp(proto, "TCP6") == 0) ? 0 : 1;
    size_t end = from == ADDR_UCSPI_OR_IP ? 3 : 2;
    for (size_t i = first; i < end; i++) {
        const char *v = getenv(names[i]);
        if (v != NULL) {
            *var = names[i];
            return v;
        }
    }
    *var = NULL;
    return NULL;
}

enum addr_client addr_client_key(char *key, enum addr_source from, const struct addr_policy *p,
                                 const char **var, const char **text)
{
    struct addr client;
    key[0] = '\0';
    *text = addr_from_env(from, var);
    if (*text == NULL)
        return ADDR_CLIENT_NONE;
    if (addr_parse(&client, *text) != 0)
        return ADDR_CLIENT_BAD;
    if (addr_key(key, &client, p) != 0)
        return ADDR_CLIENT_NEVER;
    return ADDR_CLIENT_OK;
}

void addr_key_show(char *out, size_t n, const char *key)
{
    (void)snprintf(out, n, "%s", key);
    char *us = strchr(out, '_');
    if (us != NULL)
        *us = '/';
}

void addr_client_show(char *out, size_t n, const char *text, const char *key)
{
    char shown[ADDR_KEY_MAX];
    addr_key_show(shown, sizeof shown, key);
    if (strcmp(text, shown) == 0)
        (void)snprintf(out, n, "%.64s", text);
    else
        (void)snprintf(out, n, "%.64s (key %s)", text, shown);
}
