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
 *  - an accepted key is the canonical key of what it parses to, and is a safe file name;
 *  - under every policy of a list (the default /64, /48, /128, operator NAT64 prefixes of each
 *    RFC 6052 length, some made from the input itself), addr_key never makes a key that
 *    covers more than one host for an address in a special range (its key is IPv4 or /128,
 *    or there is none); a prefix key touches no special range; ::, ff00::/8 and the refused
 *    IPv4 ranges, direct or embedded, get no key, and nothing else is refused; an embedded
 *    IPv4 address gets the key its IPv4 host gets, which no other IPv4 host shares;
 *    addr_key_current(addr_key(x)) holds; a key addr_key_current calls current is made by
 *    some address, checked on one; each form addr_v4_forms gives of an IPv4 host gets that
 *    host's key. The special ranges are written out here a second time,
 *    from the IANA registry, not taken from addr.c. */
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


/* The special ranges, from the IANA IPv6 special-purpose registry and RFC 4291, in text. */
static const char *const special_text[] = {
    "::/64",            /* unspecified, loopback, IPv4-compatible, -mapped, -translated */
    "64:ff9b::/96",     /* RFC 6052 */
    "64:ff9b:1::/48",   /* RFC 8215 */
    "100::/64",         /* discard-only */
    "100:0:0:1::/64",   /* dummy prefix */
    "2001::/23",        /* IETF protocol assignments: Teredo 2001::/32, ... */
    "2620:4f:8000::/48", /* AS112 direct delegation */
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
};

struct pfx {
    unsigned char b[16];
    unsigned bits;
};

static int pfx_parse(struct pfx *p, const char *t)
{
    char buf[64];
    const char *slash = strchr(t, '/');
    if (slash == NULL || (size_t)(slash - t) >= sizeof buf)
        return -1;
    memcpy(buf, t, (size_t)(slash - t));
    buf[slash - t] = '\0';
    p->bits = (unsigned)strtoul(slash + 1, NULL, 10);
    return inet_pton(AF_INET6, buf, p->b) == 1 ? 0 : -1;
}

static int bit_at(const unsigned char *b, unsigned i)
{
    return (b[i / 8] >> (7 - i % 8)) & 1;
}

/* Do x/xbits and y/ybits share an address? */
static int pfx_meet(const unsigned char *x, unsigned xbits, const unsigned char *y,
                    unsigned ybits)
{
    unsigned n = xbits < ybits ? xbits : ybits;
    for (unsigned i = 0; i < n; i++)
        if (bit_at(x, i) != bit_at(y, i))
            return 0;
    return 1;
}

static int v4_never(const unsigned char *v)
{
    return v[0] == 0 || (v[0] & 0xf0) == 0xe0 ||
           (v[0] == 0xff && v[1] == 0xff && v[2] == 0xff && v[3] == 0xff);
}

/* RFC 6052 2.2, bit by bit: the 32 bits after the prefix, skipping bits 64..71. Returns 1 if
 * bits 64..71 and the suffix are zero. */
static int embedded(unsigned char v4[4], const unsigned char *b, unsigned plen)
{
    unsigned i = plen;
    memset(v4, 0, 4);
    for (unsigned k = 0; k < 32; i++) {
        if (i >= 64 && i < 72)
            continue;
        if (bit_at(b, i))
            v4[k / 8] |= (unsigned char)(0x80u >> (k % 8));
        k++;
    }
    for (unsigned j = 64; j < 72; j++)
        if (bit_at(b, j))
            return 0;
    for (; i < 128; i++)
        if (bit_at(b, i))
            return 0;
    return 1;
}

struct policy_case {
    struct addr_policy p;
    int has_nat64;
    struct pfx nat64;
};

static void policy_check(const struct addr *a, const struct policy_case *pc)
{
    const struct addr_policy *p = &pc->p;
    char key[ADDR_KEY_MAX + 8];
    memset(key, 'X', sizeof key);
    int r = addr_key(key, a, p);
    PROP(memchr(key, '\0', ADDR_KEY_MAX) != NULL, "a policy key fits ADDR_KEY_MAX");

    /* What the registry says of a. */
    static const unsigned char zero[16];
    int special = 0, never = 0, v4known = 0;
    unsigned char v4[4];
    if (a->family == 4) {
        memcpy(v4, a->b, 4);
        v4known = 1;
        never = v4_never(v4);
    } else {
        for (size_t i = 0; i < sizeof special_text / sizeof special_text[0]; i++) {
            struct pfx s;
            if (pfx_parse(&s, special_text[i]) == 0 && pfx_meet(a->b, 128, s.b, s.bits))
                special = 1;
        }
        if (pc->has_nat64 && pfx_meet(a->b, 128, pc->nat64.b, pc->nat64.bits))
            special = 1;
        /* ISATAP: 00-00-5E-FE or 02-00-5E-FE */
        if ((a->b[8] == 0 || a->b[8] == 2) && a->b[9] == 0 && a->b[10] == 0x5e &&
            a->b[11] == 0xfe)
            special = 1;
        if (memcmp(a->b, zero, 16) == 0 || a->b[0] == 0xff)
            never = 1;
        struct pfx wkp;
        unsigned plen = 0;   /* the NAT64 prefix a is in, if any */
        if (pfx_parse(&wkp, "64:ff9b::/96") == 0 && pfx_meet(a->b, 128, wkp.b, 96))
            plen = 96;
        else if (pfx_parse(&wkp, "64:ff9b:1::/48") == 0 && pfx_meet(a->b, 128, wkp.b, 48))
            plen = 48;
        else if (pc->has_nat64 && pfx_meet(a->b, 128, pc->nat64.b, pc->nat64.bits))
            plen = pc->nat64.bits;
        if (plen != 0) {
            v4known = embedded(v4, a->b, plen);
            never = v4known && v4_never(v4);
        } else if ((memcmp(a->b, zero, 12) == 0 &&
                    !(memcmp(a->b, zero, 15) == 0 && a->b[15] <= 1)) ||
                   (memcmp(a->b, zero, 8) == 0 && a->b[8] == 0xff && a->b[9] == 0xff &&
                    a->b[10] == 0 && a->b[11] == 0)) {
            memcpy(v4, a->b + 12, 4);   /* IPv4-compatible, IPv4-translated */
            v4known = 1;
            never = v4_never(v4);
        }
    }

    if (never) {
        PROP(r == -1 && key[0] == '\0', "::, multicast and refused IPv4 get no key");
        return;
    }
    PROP(r == 0, "only ::, multicast and refused IPv4 are refused");
    if (r != 0) /* cppcheck-suppress knownConditionTrueFalse ; PROP may not stop */
        return;
    PROP(safe_name(key), "a policy key is a safe file name");
    struct addr ka;
    unsigned kbits;
    PROP(addr_key_parse(&ka, &kbits, key) == 0, "a policy key parses back");
    PROP(addr_key_current(key, p), "addr_key_current(addr_key(x)) holds");
    if (v4known) {
        char want[16];
        snprintf(want, sizeof want, "%u.%u.%u.%u", v4[0], v4[1], v4[2], v4[3]);
        PROP(strcmp(key, want) == 0, "an embedded IPv4 address gets its IPv4 key");
    }
    if (special)
        PROP(ka.family == 4 || kbits == 128, "a special address's key covers one host");
    if (ka.family == 4) {
        /* The same key as the IPv4 host's own, and no other IPv4 host's. */
        struct addr h = ka, o = ka;
        char k2[ADDR_KEY_MAX];
        PROP(addr_key(k2, &h, p) == 0 && strcmp(k2, key) == 0,
             "an IPv4 key is its host's own key");
        o.b[3] ^= 1;
        PROP(addr_key(k2, &o, p) != 0 || strcmp(k2, key) != 0,
             "two IPv4 hosts never share a key");
        o = ka;
        o.b[0] ^= 0x80;
        PROP(addr_key(k2, &o, p) != 0 || strcmp(k2, key) != 0,
             "two IPv4 hosts never share a key");
        /* Each IPv6 form of the host, as relay-cdb would write them, gets this key. */
        unsigned char forms[ADDR_V4_FORMS][16];
        size_t nf = addr_v4_forms(forms, ka.b, p);
        PROP(nf >= 4, "an IPv4 host has its IPv6 forms");
        for (size_t i = 0; i < nf; i++) {
            struct addr f = {6, {0}};
            memcpy(f.b, forms[i], 16);
            PROP(addr_key(k2, &f, p) == 0 && strcmp(k2, key) == 0,
                 "an IPv6 form of an IPv4 host gets its key");
        }
        return;
    }
    /* An IPv6 key covers a, and a prefix key only ordinary space. */
    PROP(pfx_meet(a->b, 128, ka.b, kbits), "an IPv6 key covers its address");
    if (kbits < 128) {
        PROP(kbits >= ADDR_V6BITS_MIN && kbits == p->v6bits,
             "a prefix key has the policy's length");
        for (size_t i = 0; i < sizeof special_text / sizeof special_text[0]; i++) {
            struct pfx s;
            if (pfx_parse(&s, special_text[i]) == 0)
                PROP(!pfx_meet(ka.b, kbits, s.b, s.bits),
                     "a prefix key touches no special range");
        }
        if (pc->has_nat64)
            PROP(!pfx_meet(ka.b, kbits, pc->nat64.b, pc->nat64.bits),
                 "a prefix key touches no NAT64 prefix");
    }
}

/* The policies every input is keyed under: fixed ones, and NAT64 prefixes cut from a. */
static size_t policies_for(struct policy_case *out, size_t max, const struct addr *a)
{
    static const struct {
        unsigned v6bits;
        const char *nat64;
    } fixed[] = {
        {64, NULL}, {48, NULL}, {128, NULL}, {56, NULL}, {96, NULL}, {95, NULL},
        {64, "2001:db8:64::/96"}, {48, "2001:db8:64::/96"}, {64, "2001:db8::/32"},
        {64, "fd00:64::/40"}, {64, "2001:db8:1::/48"}, {64, "2001:db8:6400::/56"},
        {56, "2001:db8:64::/64"}, {64, "64:ff9b::/96"},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] && n < max; i++) {
        struct policy_case *pc = &out[n];
        memset(pc, 0, sizeof *pc);
        pc->p.v6bits = fixed[i].v6bits;
        if (fixed[i].nat64 != NULL) {
            if (addr_nat64_parse(&pc->p, fixed[i].nat64) != 0)
                continue;
            pc->has_nat64 = pfx_parse(&pc->nat64, fixed[i].nat64) == 0;
        }
        n++;
    }
    static const unsigned lens[] = {32, 40, 48, 56, 64, 96};
    for (size_t i = 0; a->family == 6 && i < sizeof lens / sizeof lens[0] && n < max; i++) {
        struct pfx cut;
        char text[ADDR_TEXT_MAX + 8];
        struct policy_case *pc = &out[n];
        memset(&cut, 0, sizeof cut);
        mask_bits(cut.b, a->b, lens[i]);
        inet_ntop(AF_INET6, cut.b, text, ADDR_TEXT_MAX);
        snprintf(text + strlen(text), 8, "/%u", lens[i]);
        memset(pc, 0, sizeof *pc);
        pc->p.v6bits = 64;
        if (addr_nat64_parse(&pc->p, text) != 0)
            continue;
        PROP(pc->p.nat64_bits == lens[i], "a NAT64 prefix keeps its length");
        pc->has_nat64 = pfx_parse(&pc->nat64, text) == 0;
        n++;
    }
    return n;
}

static void check_policies(const struct addr *a)
{
    struct policy_case pcs[24];
    size_t n = policies_for(pcs, sizeof pcs / sizeof pcs[0], a);
    for (size_t i = 0; i < n; i++)
        policy_check(a, &pcs[i]);
}

/* A key addr_key_current calls current under a policy is made by an address: itself for an
 * address key, the network with every host bit set for a prefix key. */
static void check_key_current(const char *s, const struct addr *ka, unsigned kbits)
{
    struct policy_case pcs[24];
    size_t n = policies_for(pcs, sizeof pcs / sizeof pcs[0], ka);
    for (size_t i = 0; i < n; i++) {
        if (!addr_key_current(s, &pcs[i].p))
            continue;
        struct addr x = *ka;
        char k2[ADDR_KEY_MAX];
        if (ka->family == 6)
            for (unsigned j = kbits; j < 128; j++)
                x.b[j / 8] |= (unsigned char)(0x80u >> (j % 8));
        PROP(addr_key(k2, &x, &pcs[i].p) == 0 && strcmp(k2, s) == 0,
             "a current key is made by an address");
    }
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

    check_policies(&a);
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
    check_key_current(s, &a, bits);
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
