/* unit-rules: tcprules' syntax as relay-cdb reads it, and the keys it writes for tcpserver.
 * The parse vectors were checked against Debian's tcprules (both builds); the IPv6 keys are
 * checked by brute force against tcpserver's lookup rule: a key matches an address if it is
 * the address's text, or a prefix of that text ending in ':' or '.'. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "buf.h"
#include "cdb/rules.h"
#include "tests/unit.h"

/* A value with its NULs shown as '0' bytes are rare in vectors: show them as '|'. */
static const char *shown(const char *v, size_t n)
{
    static char buf[512];
    size_t i;
    for (i = 0; i < n && i + 1 < sizeof buf; i++) {
        buf[i] = v[i];
        if (buf[i] == '\0')
            buf[i] = '|';
    }
    buf[i] = '\0';
    return buf;
}

static void parse_ok(const char *line, const char *addr, const char *value)
{
    struct rbuf v = {0};
    const char *a = NULL;
    size_t alen = 0;
    enum rules_line r = rules_parse_line(line, strlen(line), &a, &alen, &v);
    if (!CHECK_LONG(r, RULES_RULE, "parses: %s", line)) {
        rbuf_free(&v);
        return;
    }
    char got[256];
    snprintf(got, sizeof got, "%.*s", (int)alen, a);
    CHECK_STR(got, addr, "address of: %s", line);
    CHECK_STR(shown(v.s ? v.s : "", v.len), value, "value of: %s", line);
    rbuf_free(&v);
}

static void parse_is(const char *line, enum rules_line want)
{
    struct rbuf v = {0};
    const char *a;
    size_t alen;
    CHECK_LONG(rules_parse_line(line, strlen(line), &a, &alen, &v), want, "line kind: %s", line);
    rbuf_free(&v);
}

struct keys {
    char all[1024];
};

static int collect(const char *k, size_t n, void *arg)
{
    struct keys *ks = arg;
    size_t len = strlen(ks->all);
    snprintf(ks->all + len, sizeof ks->all - len, "%s[%.*s]", len ? " " : "", (int)n, k);
    return 0;
}

static void expand_is(const char *addr, const char *want)
{
    struct keys ks = {{0}};
    int r = rules_expand(addr, strlen(addr), collect, &ks);
    if (want == NULL)
        CHECK_LONG(r, -1, "range refused: %s", addr);
    else if (CHECK_LONG(r, 0, "range read: %s", addr))
        CHECK_STR(ks.all, want, "keys of %s", addr);
}

static void walk_is(const char *ip, const char *want)
{
    struct keys ks = {{0}};
    rules_walk(ip, strlen(ip), collect, &ks);
    CHECK_STR(ks.all, want, "lookup order for %s", ip);
}

static void groups(unsigned char b[16], const unsigned g[8])
{
    for (int i = 0; i < 8; i++) {
        b[2 * i] = (unsigned char)(g[i] >> 8);
        b[2 * i + 1] = (unsigned char)g[i];
    }
}

static void text_is(unsigned g0, unsigned g1, unsigned g2, unsigned g3, unsigned g4, unsigned g5,
                    unsigned g6, unsigned g7, const char *want)
{
    const unsigned g[8] = {g0, g1, g2, g3, g4, g5, g6, g7};
    unsigned char b[16];
    char text[RULES_IP6_TEXT_MAX];
    groups(b, g);
    rules_ip6_text(text, b);
    CHECK_STR(text, want, "ucspi text of %x:%x:%x:%x:%x:%x:%x:%x", g0, g1, g2, g3, g4, g5, g6,
              g7);
}

static void keys_are(const unsigned g[8], unsigned bits, const char *want, int partial)
{
    unsigned char b[16];
    struct rules_v6_keys *k = malloc(sizeof *k);
    groups(b, g);
    rules_ip6_keys(k, b, bits);
    struct keys ks = {{0}};
    for (size_t i = 0; i < k->count; i++)
        collect(k->key[i], strlen(k->key[i]), &ks);
    CHECK_STR(ks.all, want, "keys for %x:%x:%x:%x::/%u", g[0], g[1], g[2], g[3], bits);
    CHECK_LONG(k->partial, partial, "partial flag for %x:%x:%x:%x::/%u", g[0], g[1], g[2], g[3],
               bits);
    free(k);
}

static void shadows_are(const unsigned g[8], unsigned bits, const char *want)
{
    unsigned char b[16];
    struct rules_v6_keys *k = malloc(sizeof *k);
    groups(b, g);
    rules_ip6_keys(k, b, bits);
    struct keys ks = {{0}};
    for (size_t i = 0; i < k->shadows; i++)
        collect(k->shadow[i], strlen(k->shadow[i]), &ks);
    CHECK_STR(ks.all, want, "ISATAP shadows for %x:%x:%x:%x:%x::/%u", g[0], g[1], g[2], g[3],
              g[4], bits);
    free(k);
}

/* Does tcpserver's lookup of text reach key? */
static int reaches(const char *key, const char *text)
{
    size_t k = strlen(key), t = strlen(text);
    if (k == t)
        return strcmp(key, text) == 0;
    return k < t && k > 0 && memcmp(key, text, k) == 0 && (key[k - 1] == ':' || key[k - 1] == '.');
}

static int inside(const unsigned char a[16], const unsigned char net[16], unsigned bits)
{
    for (unsigned i = 0; i < bits; i++) {
        unsigned bit = 0x80U >> (i % 8);
        if ((a[i / 8] & bit) != (net[i / 8] & bit))
            return 0;
    }
    return 1;
}

static unsigned long seed = 12345;
static unsigned rnd(unsigned n)
{
    seed = seed * 6364136223846793005UL + 1442695040888963407UL;
    return (unsigned)((seed >> 33) % n);
}

/* A group likely to be zero, one, or anything: the zero runs are what matters here. */
static unsigned some_group(void)
{
    switch (rnd(4)) {
    case 0:
    case 1:
        return 0;
    case 2:
        return 1;
    default:
        return rnd(65536);
    }
}

static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Soundness (no key reaches an address outside the network) and completeness (every
 * address inside is reached, unless the network is flagged partial), on many networks and
 * addresses chosen to have zero runs in every place. */
static void brute_force(unsigned bits, int rounds)
{
    unsigned long unsound = 0, missed = 0, checked = 0, leaked = 0, isataps = 0;
    struct rules_v6_keys *k = malloc(sizeof *k);
    for (int r = 0; r < rounds; r++) {
        unsigned g[8];
        unsigned char net[16], a[16];
        for (int i = 0; i < 8; i++)
            g[i] = some_group();
        groups(net, g);
        for (unsigned i = bits; i < 128; i++)
            net[i / 8] &= (unsigned char)~(0x80U >> (i % 8));
        rules_ip6_keys(k, net, bits);
        if (k->unmatchable)
            continue;
        for (int j = 0; j < 40; j++) {
            unsigned h[8];
            for (int i = 0; i < 8; i++)
                h[i] = some_group();
            groups(a, h);
            /* Half the addresses share the network's first bits, so that they are inside
             * or only just outside; some are IPv4 clients as tcpserver -6 shows them, which
             * are in no IPv6 network, whatever their bytes. */
            if (j % 2 == 0)
                for (unsigned i = 0; i + 1 < bits; i++) {
                    unsigned bit = 0x80U >> (i % 8);
                    a[i / 8] = (unsigned char)((a[i / 8] & ~bit) | (net[i / 8] & bit));
                }
            /* A quarter are ISATAP (either id, any IPv4 address: zero groups likely) where
             * the network leaves groups 4 and 5 free. */
            if (j % 4 == 2) {
                const unsigned char id[4] = {(unsigned char)(2 * rnd(2)), 0, 0x5e, 0xfe};
                for (unsigned i = 64; i < 96; i++) {
                    unsigned bit = 0x80U >> (i % 8);
                    if (i >= bits)
                        a[i / 8] = (unsigned char)((a[i / 8] & ~bit) | (id[i / 8 - 8] & bit));
                }
            }
            int v4 = j % 8 == 1;
            if (v4)
                memcpy(a, mapped, sizeof mapped);
            char text[RULES_IP6_TEXT_MAX];
            rules_ip6_text(text, a);
            /* tcpserver stops at the longest key that the text reaches: a key (the
             * allowance) or a shadow (what it would do without the allowance). */
            size_t best = 0;
            int hit = 0, shadowed = 0;
            for (size_t i = 0; i < k->count; i++)
                if (reaches(k->key[i], text) && strlen(k->key[i]) > best) {
                    best = strlen(k->key[i]);
                    hit = 1;
                }
            for (size_t i = 0; i < k->shadows; i++)
                if (reaches(k->shadow[i], text) && strlen(k->shadow[i]) >= best) {
                    best = strlen(k->shadow[i]);
                    hit = 0;
                    shadowed = 1;
                }
            int in = !v4 && inside(a, net, bits);
            int isatap = !v4 && (a[8] & 0xfd) == 0 && a[9] == 0 && a[10] == 0x5e && a[11] == 0xfe;
            checked++;
            isataps += (unsigned long)(isatap && in);
            if ((hit || shadowed) && !in)
                unsound++;
            if (hit && isatap && bits < 128)
                leaked++;
            if (in && !hit && !shadowed && !isatap && !k->partial)
                missed++;
        }
    }
    free(k);
    CHECK_LONG(unsound, 0, "/%u keys and shadows never reach an address outside (%lu tried)",
               bits, checked);
    CHECK_LONG(missed, 0, "/%u keys reach every address inside a network not flagged partial, "
               "but those under an ISATAP shadow", bits);
    CHECK_LONG(leaked, 0, "/%u: every ISATAP address inside ends at a shadow (%lu tried)", bits,
               isataps);
}

/* The special ranges of the key policy, at the prefix lengths a store may hold for them
 * (current or stale): no key of theirs is one that tcpserver tries for an IPv4 client
 * (::ffff:a.b.c.d), and none reaches an address outside. */
static void special_ranges(void)
{
    static const struct {
        unsigned g[8];
    } nets[] = {
        {{0, 0, 0, 0, 0, 0, 0, 0}},          {{0, 0, 0, 0, 0, 0, 0, 1}},
        {{0, 0, 0, 0, 0, 0xffff, 0, 0}},     {{0, 0, 0, 0, 0xffff, 0, 0, 0}},
        {{0x64, 0xff9b, 0, 0, 0, 0, 0, 0}},  {{0x64, 0xff9b, 1, 0, 0, 0, 0, 0}},
        {{0xfe80, 0, 0, 0, 0, 0, 0, 0}},     {{0x2001, 0, 0, 0, 0, 0, 0, 0}},
        {{0x2002, 0xc000, 0x207, 0, 0, 0, 0, 0}}, {{0xff02, 0, 0, 0, 0, 0, 0, 1}},
        {{0, 0, 0, 0, 0, 0, 0xc000, 0x207}}, {{0x2001, 0xdb8, 0, 0, 0, 0x5efe, 0xc000, 0x207}},
    };
    static const unsigned lens[] = {1, 8, 15, 16, 17, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128};
    static const unsigned char v4s[][4] = {
        {0, 0, 0, 0}, {0, 0, 0, 1}, {1, 2, 3, 4}, {192, 0, 2, 7}, {255, 255, 255, 255}, {10, 0, 0, 0}};
    struct rules_v6_keys *k = malloc(sizeof *k);
    unsigned long crossing = 0, reached = 0, tried = 0;
    for (size_t n = 0; n < sizeof nets / sizeof nets[0]; n++)
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            unsigned char net[16];
            groups(net, nets[n].g);
            for (unsigned i = lens[l]; i < 128; i++)
                net[i / 8] &= (unsigned char)~(0x80U >> (i % 8));
            rules_ip6_keys(k, net, lens[l]);
            for (size_t i = 0; i < k->count; i++) {
                crossing += (unsigned long)rules_key_crosses(k->key[i], strlen(k->key[i]));
                for (size_t v = 0; v < sizeof v4s / sizeof v4s[0]; v++) {
                    unsigned char a[16];
                    char text[RULES_IP6_TEXT_MAX];
                    memcpy(a, mapped, 12);
                    memcpy(a + 12, v4s[v], 4);
                    rules_ip6_text(text, a);
                    tried++;
                    reached += (unsigned long)reaches(k->key[i], text);
                }
            }
        }
    free(k);
    CHECK_LONG(crossing, 0, "no key of a special range is one tcpserver tries for IPv4");
    CHECK_LONG(reached, 0, "no key of a special range reaches an IPv4 client's text (%lu tried)",
               tried);
    CHECK(rules_key_crosses("::", 2) && rules_key_crosses(":", 1) &&
              rules_key_crosses("::ffff:", 7) && rules_key_crosses("", 0) &&
              rules_key_crosses("::ffff:1.2.", 11) && !rules_key_crosses("::f", 3) &&
              !rules_key_crosses("::1", 3) && !rules_key_crosses("0:", 2),
          "rules_key_crosses: the prefixes of ::ffff:a.b.c.d, and nothing else");
    {
        const unsigned z[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        /* "::" would grant every IPv4 client of tcpserver -6; a /16 is unmatchable anyway
         * now (ISATAP), but "0:" alone was safe. */
        keys_are(z, 16, "", 0);
    }
}

/* The forms an IPv4 allowance is written under for tcpserver -6, checked against addr_key
 * both ways: each form is keyed to the IPv4 address, and every address that addr_key keys to
 * an IPv4 address, among all the embeddings and their neighbours, is one of the forms (or
 * has a text that no exact key can hold). */
static void v4_forms(void)
{
    static const unsigned char tmpl[][16] = {
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
        {0, 0x64, 0xff, 0x9b},
        {0, 0x64, 0xff, 0x9b, 0, 1},
        {0},
        {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
        {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x64},
        {0xfe, 0x80},
        {0x20, 0x02},
    };
    static const unsigned char at[][4] = {{12, 13, 14, 15}, {4, 5, 6, 7},   {5, 6, 7, 9},
                                          {6, 7, 9, 10},    {7, 9, 10, 11}, {9, 10, 11, 12}};
    static const unsigned nat64[] = {0, 32, 40, 48, 56, 64, 96};
    static const unsigned char v4s[][4] = {
        {192, 0, 2, 7}, {0, 0, 0, 1}, {10, 1, 2, 3}, {255, 255, 255, 255}, {1, 0, 0, 0}};
    struct rules_v4_forms *f = malloc(sizeof *f);
    unsigned long bad_form = 0, missing = 0, forms = 0, mapped_missing = 0, keyed_v4 = 0;
    for (size_t p = 0; p < sizeof nat64 / sizeof nat64[0]; p++) {
        struct addr_policy pol = {64, nat64[p], {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x64}};
        for (unsigned i = nat64[p]; i < 128; i++)
            pol.nat64[i / 8] &= (unsigned char)~(0x80U >> (i % 8));
        for (size_t v = 0; v < sizeof v4s / sizeof v4s[0]; v++) {
            char v4key[ADDR_KEY_MAX];
            struct addr a4 = {4, {0}};
            memcpy(a4.b, v4s[v], 4);
            if (addr_key(v4key, &a4, &pol) != 0)
                continue;
            rules_v4_forms(f, v4key, &pol);
            int has_mapped = 0;
            for (size_t i = 0; i < f->count; i++) {
                struct addr a;
                char key[ADDR_KEY_MAX];
                size_t n = strlen(f->key[i]);
                forms++;
                if (n == 0 || f->key[i][n - 1] == ':' || addr_parse(&a, f->key[i]) != 0 ||
                    addr_key(key, &a, &pol) != 0 || strcmp(key, v4key) != 0)
                    bad_form++;
                has_mapped |= strncmp(f->key[i], "::ffff:", 7) == 0 && strchr(f->key[i], '.');
            }
            mapped_missing += (unsigned long)!has_mapped;
            for (size_t t = 0; t < sizeof tmpl / sizeof tmpl[0]; t++)
                for (size_t w = 0; w < sizeof at / sizeof at[0]; w++)
                    for (int noise = 0; noise < 3; noise++) {
                        unsigned char b[16];
                        memcpy(b, tmpl[t], 16);
                        for (int i = 0; i < 4; i++)
                            b[at[w][i]] = v4s[v][i];
                        if (noise == 1)
                            b[15] ^= 1;
                        if (noise == 2)
                            b[8] ^= 0x40;
                        char text[RULES_IP6_TEXT_MAX], key[ADDR_KEY_MAX];
                        struct addr a;
                        rules_ip6_text(text, b);
                        if (addr_parse(&a, text) != 0 || addr_key(key, &a, &pol) != 0 ||
                            strcmp(key, v4key) != 0)
                            continue;
                        keyed_v4++;
                        size_t n = strlen(text);
                        int found = text[n - 1] == ':';
                        for (size_t i = 0; i < f->count && !found; i++)
                            found = strcmp(f->key[i], text) == 0;
                        /* A form with bits set outside the embedding (the u octet, a
                         * suffix) cannot be written for every value: noted, not counted. */
                        if (!found && noise == 0)
                            missing++;
                        if (!found)
                            unit_note("not written: %s (keyed %s)", text, key);
                    }
        }
    }
    free(f);
    CHECK_LONG(bad_form, 0, "every form written is one relay-check keys to the IPv4 address "
                            "(%lu forms)", forms);
    CHECK_LONG(mapped_missing, 0, "::ffff:a.b.c.d is always written");
    CHECK_LONG(missing, 0, "every embedding that addr_key keys to an IPv4 address is written "
                           "(%lu tried)", keyed_v4);
}

/* relay-cdb trusts a snapshot's IPv4 keys to be current under any settings: an IPv4
 * address's key (or its refusal) must not depend on the key policy. */
static void v4_keys_policy_free(void)
{
    static const unsigned char v4s[][4] = {{0, 0, 0, 0},     {0, 0, 0, 1},   {10, 1, 2, 3},
                                           {127, 0, 0, 1},   {169, 254, 1, 1}, {192, 0, 2, 7},
                                           {224, 0, 0, 1},   {100, 64, 0, 1}, {255, 255, 255, 255},
                                           {192, 88, 99, 1}, {198, 51, 100, 9}};
    static const unsigned v6bits[] = {1, 16, 32, 48, 56, 60, 64, 96, 112, 127, 128};
    static const unsigned nat64[] = {0, 32, 40, 48, 56, 64, 96};
    unsigned long differ = 0, tried = 0;
    for (size_t v = 0; v < sizeof v4s / sizeof v4s[0]; v++) {
        struct addr a = {4, {0}};
        memcpy(a.b, v4s[v], 4);
        char first[ADDR_KEY_MAX] = "", key[ADDR_KEY_MAX];
        int first_r = 0;
        for (size_t b = 0; b < sizeof v6bits / sizeof v6bits[0]; b++)
            for (size_t n = 0; n < sizeof nat64 / sizeof nat64[0]; n++) {
                struct addr_policy p = {v6bits[b], nat64[n], {0, 0x64, 0xff, 0x9b}};
                int r = addr_key(key, &a, &p);
                tried++;
                if (b == 0 && n == 0) {
                    first_r = r;
                    memcpy(first, key, sizeof key);
                } else if (r != first_r || (r == 0 && strcmp(key, first) != 0)) {
                    differ++;
                }
            }
    }
    CHECK_LONG(differ, 0, "an IPv4 address's key does not depend on the policy (%lu tried)",
               tried);
}

int main(void)
{
    /* ---- the line syntax ---- */
    parse_ok("1.2.3.4:allow", "1.2.3.4", "");
    parse_ok("1.2.3.4:allow\n", "1.2.3.4", "");
    parse_ok("1.2.3.4:deny", "1.2.3.4", "D|");
    parse_ok("1.2.3.4:deny,A=\"1\"", "1.2.3.4", "D|+A=1|");
    parse_ok("1.2.3.4:allow,A=\"x\",B=/y/", "1.2.3.4", "+A=x|+B=y|");
    parse_ok("1.2.3.4:allow,RELAYCLIENT=\"\"", "1.2.3.4", "+RELAYCLIENT=|");
    parse_ok("1.2.3.4:allow,A,B=x1x", "1.2.3.4", "+A,B=1|");
    parse_ok("1.2.3.4:allow,A=,x,", "1.2.3.4", "+A=x|");
    parse_ok("1.2.3.4:allow,X='a b'  \t \n", "1.2.3.4", "+X=a b|");
    parse_ok(" 1.2.3.5 :deny", " 1.2.3.5 ", "D|");
    parse_ok(":allow,DEFAULT=\"yes\"", "", "+DEFAULT=yes|");
    parse_ok("=:deny", "=", "D|");
    parse_ok("=host.Example:allow", "=host.Example", "");
    parse_ok("bob@1.2.3.4:allow", "bob@1.2.3.4", "");
    parse_ok("2001:db8::1:allow,V=\"6\"", "2001:db8::1", "+V=6|");
    parse_ok("::ffff:1.2.3.4:deny", "::ffff:1.2.3.4", "D|");
    parse_ok("1:alloc:allow", "1:alloc", "");
    parse_is("# comment", RULES_SKIP);
    parse_is("\n", RULES_SKIP);
    parse_is("", RULES_SKIP);
    parse_is("   \t \n", RULES_SKIP);
    parse_is("foo", RULES_NOCOLON);
    parse_is("1.2.3.4 allow", RULES_NOCOLON);
    parse_is("1.2.3.4:allowx", RULES_BAD);
    parse_is("1.2.3.4:denyx", RULES_BAD);
    parse_is("1.2.3.4: allow", RULES_BAD);
    parse_is("1.2.3.4:all", RULES_BAD);
    parse_is("1.2.3.4:allow\r", RULES_BAD);
    parse_is("1.2.3.4:allow;", RULES_BAD);
    parse_is("1.2.3.4:allow,A", RULES_BAD);
    parse_is("1.2.3.4:allow,!A", RULES_BAD);
    parse_is("1.2.3.4:allow,A=", RULES_BAD);
    parse_is("1.2.3.4:allow,A=\"x", RULES_BAD);
    parse_is("1.2.3.4:allow,A=\"x\"y", RULES_BAD);
    parse_is("1.2.3.4:allow,A=\"x\",", RULES_BAD);
    parse_is("1.2.3.4:allow,=x", RULES_BAD);
    parse_is("1.2.3.4:allow:deny", RULES_BAD);
    parse_is("x:allowy:deny", RULES_BAD);
    parse_is("2001:db8::1 allow", RULES_BAD);

    /* A value may hold any byte but its quote, NUL included. */
    {
        static const char line[] = "1.2.3.4:allow,A=\"x\0y\"";
        struct rbuf v = {0};
        const char *a;
        size_t alen;
        int r = rules_parse_line(line, sizeof line - 1, &a, &alen, &v);
        CHECK(r == RULES_RULE && v.len == 7 && memcmp(v.s, "+A=x\0y\0", 7) == 0,
              "a NUL inside a value is kept");
        rbuf_free(&v);
    }

    /* ---- ranges ---- */
    expand_is("1.2.3.4", "[1.2.3.4]");
    expand_is("1.2.3.4-6", "[1.2.3.4] [1.2.3.5] [1.2.3.6]");
    expand_is("1.2.3-5.", "[1.2.3.] [1.2.4.] [1.2.5.]");
    expand_is("1.2.3-4.9", "[1.2.3.9] [1.2.4.9]");
    expand_is("1.2.3.6-4", "");
    expand_is("1.2.3.253-300", "[1.2.3.253] [1.2.3.254] [1.2.3.255]");
    expand_is("1.2.3.-1", "[1.2.3.0] [1.2.3.1]");
    expand_is("1.2.3.254-", "");
    expand_is("1-2", "[1] [2]");
    expand_is("1.2.3.18446744073709551617-2", "[1.2.3.1] [1.2.3.2]");
    expand_is("x@1.2.3.4-6", "[x@1.2.3.4-6]");
    expand_is("=a-b", "[=a-b]");
    expand_is("1.2.3.x-6", NULL);
    expand_is("1.2.3.4-6x", NULL);
    expand_is("1.2.3.4-5-6", NULL);
    expand_is("a-b-c.1-2", NULL);
    expand_is("2001:db8::1-3", NULL);

    /* ---- values ---- */
    CHECK(rules_value_denies("D", 2), "D denies");
    CHECK(rules_value_denies("+A=1\0D", 7), "a D record anywhere denies");
    CHECK(!rules_value_denies("+D=1", 5), "a variable named D does not deny");
    CHECK(!rules_value_denies("", 0), "an empty value allows");
    CHECK(rules_value_sets("+A=1\0+RELAYCLIENT=", 19, "RELAYCLIENT"), "RELAYCLIENT set");
    CHECK(!rules_value_sets("+RELAYCLIENTX=1", 16, "RELAYCLIENT"), "RELAYCLIENTX is not it");
    CHECK(!rules_value_sets("+RELAYCLIENT=1", 14, "RELAYCLIENT"), "an unterminated record is not read");

    /* ---- tcpserver's order ---- */
    walk_is("1.2.3.4", "[1.2.3.4] [1.2.3.] [1.2.] [1.] []");
    walk_is("2001:db8:1:2:", "[2001:db8:1:2:] [2001:db8:1:] [2001:db8:] [2001:] []");
    walk_is("2001:db8::1", "[2001:db8::1] [2001:db8::] [2001:db8:] [2001:] []");
    walk_is("::ffff:1.2.3.4",
            "[::ffff:1.2.3.4] [::ffff:1.2.3.] [::ffff:1.2.] [::ffff:1.] [::ffff:] [::] [:] []");

    /* ---- ucspi-tcp-ipv6's text ---- */
    text_is(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1, "2001:db8::1:1:1:1:1");
    text_is(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1, "2001:db8::1:0:0:1");
    text_is(0x2001, 0xdb8, 1, 0, 5, 0, 0, 7, "2001:db8:1:0:5::7");
    text_is(0x2001, 0xdb8, 1, 2, 0, 0, 0, 0, "2001:db8:1:2::");
    text_is(0, 0, 0, 0, 0, 0, 0, 1, "::1");
    text_is(0, 0, 0, 0, 0, 0, 0, 0, "::");
    text_is(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1, "::ffff:127.0.0.1");
    text_is(0xABCD, 1, 2, 3, 4, 5, 6, 7, "abcd:1:2:3:4:5:6:7");
    text_is(1, 0, 2, 3, 4, 5, 6, 0, "1::2:3:4:5:6:0");

    /* ---- keys for networks ---- */
    {
        const unsigned a[8] = {0x2001, 0xdb8, 1, 2, 0, 0, 0, 0};
        const unsigned b[8] = {0x2001, 0xdb8, 1, 0, 0, 0, 0, 0};
        const unsigned c[8] = {0x2001, 0xdb8, 0, 5, 0, 0, 0, 0};
        const unsigned d[8] = {0x2001, 0xdb8, 1, 0x20, 0, 0, 0, 0};
        const unsigned e[8] = {0x2001, 0xdb8, 1, 2, 3, 4, 5, 6};
        const unsigned f[8] = {0x2001, 0xdb8, 1, 2, 3, 4, 5, 0};
        keys_are(a, 64, "[2001:db8:1:2:]", 0);
        keys_are(b, 64, "[2001:db8:1:0:] [2001:db8:1::]", 0);
        keys_are(c, 64, "[2001:db8:0:5:]", 1);
        keys_are(a, 48, "", 0); /* its ISATAP addresses cannot be kept out: unmatchable */
        /* A network of ISATAP addresses only: relay-check keys each as itself, so only its
         * /128 key grants (exact keys for a /126 would grant four hosts it does not). */
        const unsigned isa[8] = {0x2001, 0xdb8, 1, 2, 0x200, 0x5efe, 0xc000, 0x204};
        keys_are(isa, 126, "", 0);
        keys_are(isa, 112, "", 0);
        keys_are(isa, 96, "", 0);
        keys_are(isa, 128, "[2001:db8:1:2:200:5efe:c000:204]", 0);
        keys_are(d, 60, "[2001:db8:1:20:] [2001:db8:1:21:] [2001:db8:1:22:] [2001:db8:1:23:] "
                        "[2001:db8:1:24:] [2001:db8:1:25:] [2001:db8:1:26:] [2001:db8:1:27:] "
                        "[2001:db8:1:28:] [2001:db8:1:29:] [2001:db8:1:2a:] [2001:db8:1:2b:] "
                        "[2001:db8:1:2c:] [2001:db8:1:2d:] [2001:db8:1:2e:] [2001:db8:1:2f:]",
                 0);
        keys_are(e, 128, "[2001:db8:1:2:3:4:5:6]", 0);
        keys_are(f, 128, "", 0);

        struct rules_v6_keys *k = malloc(sizeof *k);
        unsigned char net[16];
        groups(net, a);
        rules_ip6_keys(k, net, 56);
        CHECK(!k->unmatchable && k->count == 257, "a /56 is 256 /64s (%zu keys)", k->count);
        CHECK(k->shadows == 3 * 256, "with 3 ISATAP shadows each (%zu)", k->shadows);
        rules_ip6_keys(k, net, 48);
        CHECK(k->unmatchable && k->count == 0 && k->shadows == 0,
              "a /48: its ISATAP addresses could not be kept out, so nothing is written");
        rules_ip6_keys(k, net, 49);
        CHECK(k->unmatchable, "a /49 would be 32768 /64s: not written");
        groups(net, f);
        rules_ip6_keys(k, net, 128);
        CHECK(k->unmatchable, "an address whose text ends in :: is not written");
        free(k);
    }

    /* ---- ISATAP shadows: every text tcpserver writes for 0:5efe:V4 and 200:5efe:V4 ---- */
    {
        const unsigned a[8] = {0x2001, 0xdb8, 1, 2, 0, 0, 0, 0};
        const unsigned b[8] = {0x2001, 0xdb8, 1, 0, 0, 0, 0, 0};
        const unsigned c[8] = {0x2001, 0xdb8, 0, 5, 0, 0, 0, 0};
        const unsigned d[8] = {0x2001, 0xdb8, 1, 2, 0x200, 0, 0, 0};
        const unsigned e[8] = {0x2001, 0xdb8, 1, 2, 0x100, 0, 0, 0};
        const unsigned f[8] = {0x2001, 0xdb8, 1, 2, 0, 0x5e00, 0, 0};
        const unsigned i6[8] = {0x2001, 0xdb8, 1, 2, 0, 0x5efe, 0xc000, 0x207};
        shadows_are(a, 64, "[2001:db8:1:2:0:5efe:] [2001:db8:1:2::5efe:] [2001:db8:1:2:200:5efe:]");
        shadows_are(b, 64, "[2001:db8:1::5efe:] [2001:db8:1:0:200:5efe:] [2001:db8:1::200:5efe:]");
        /* The addresses whose "::" is in the prefix reach no key: nothing to shadow there. */
        shadows_are(c, 64, "[2001:db8:0:5:0:5efe:] [2001:db8:0:5:200:5efe:]");
        shadows_are(a, 80, "[2001:db8:1:2:0:5efe:] [2001:db8:1:2::5efe:]");
        shadows_are(d, 80, "[2001:db8:1:2:200:5efe:]");
        shadows_are(e, 80, "");
        shadows_are(i6, 128, "");
        keys_are(i6, 128, "[2001:db8:1:2::5efe:c000:207]", 0); /* an ISATAP allowance: exact */
        keys_are(i6, 96, "", 0);
        /* A /88 holds one /96 that is all ISATAP: left out, the rest written. */
        struct rules_v6_keys *k = malloc(sizeof *k);
        unsigned char net[16];
        groups(net, f);
        rules_ip6_keys(k, net, 88);
        CHECK(!k->unmatchable && k->partial && k->count == 255 && k->shadows == 0,
              "a /88 around 0:5efe: is its 255 other /96s (%zu keys)", k->count);
        /* The most shadows: a /56 whose /64 keys come in both forms, every prefix shape. */
        size_t most = 0, full = 0;
        for (unsigned m = 0; m < 16; m++) {
            const unsigned g[8] = {m & 1 ? 0 : 0x2001, m & 2 ? 0 : 0xdb8, m & 4 ? 0 : 1,
                                   m & 8 ? 0 : 0x100, 0, 0, 0, 0};
            groups(net, g);
            rules_ip6_keys(k, net, 56);
            if (!k->unmatchable && k->shadows > most)
                most = k->shadows;
            full += (unsigned long)(k->unmatchable || k->shadows >= RULES_V6_SHADOWS_MAX);
        }
        CHECK(full == 0 && most < RULES_V6_SHADOWS_MAX,
              "room for every /56's shadows (at most %zu of %d)", most, RULES_V6_SHADOWS_MAX);
        free(k);
    }

    special_ranges();
    v4_forms();
    v4_keys_policy_free();

    brute_force(64, 3000);
    brute_force(56, 100);
    brute_force(80, 2000);
    brute_force(60, 300);
    brute_force(112, 2000);
    brute_force(128, 2000);
    return unit_done();
}
