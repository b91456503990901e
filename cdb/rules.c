/* rules.c: tcprules' input read byte for byte as Debian's tcprules (ucspi-tcp 0.88) reads
 * it, so that relay-cdb writes the same records, and the text forms that tcpserver looks up.
 *
 * What tcprules accepts, as checked against both Debian builds:
 *   - A line starting with '#' and an empty line are skipped; trailing spaces, tabs and
 *     newlines are cut. Nothing else is: a leading space is part of the address.
 *   - "address:allow" or "address:deny", then any number of ",NAME=<q>value<q>", where <q> is
 *     any one byte that the value does not contain (no escaping). NAME runs up to the first
 *     '=' and may hold anything, ',' included. Anything else after allow or deny, an
 *     unterminated value, or a missing '=' makes the whole input invalid (exit 100).
 *   - A range "a-b" in the part of an address that has neither '=' nor '@': the numbers are
 *     what lies between the '.' before the '-' (or the start) and the '.' after it (or the
 *     end). An empty number is 0, one with any other byte refuses the line, one with more
 *     digits than fit wraps around as djb's scan_ulong does, and the top is cut to 255.
 *   - Text with no colon at all: the plain build ignores it, the IPv6 build loops forever.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "rules.h"

/* Index of the first c in s[0..n), or n. */
static size_t find(const char *s, size_t n, char c)
{
    const char *p = memchr(s, c, n);
    return p ? (size_t)(p - s) : n;
}

static int starts(const char *s, size_t n, const char *word)
{
    size_t w = strlen(word);
    return n >= w && memcmp(s, word, w) == 0;
}

enum rules_line rules_parse_line(const char *x, size_t len, const char **addr,
                                 size_t *addrlen, struct rbuf *value)
{
    if (len == 0 || x[0] == '#' || x[0] == '\n')
        return RULES_SKIP;
    while (len > 0 && (x[len - 1] == '\n' || x[len - 1] == ' ' || x[len - 1] == '\t'))
        len--;
    if (len == 0)
        return RULES_SKIP;

    /* The address ends at the first colon followed by "allow" or "deny". The plain build
     * takes the first colon, full stop; where it accepts a line, that is the same colon. */
    size_t colon = find(x, len, ':');
    if (colon == len)
        return RULES_NOCOLON;
    while (colon < len && !starts(x + colon + 1, len - colon - 1, "allow") &&
           !starts(x + colon + 1, len - colon - 1, "deny"))
        colon += 1 + find(x + colon + 1, len - colon - 1, ':');
    if (colon >= len)
        return RULES_BAD;
    *addr = x;
    *addrlen = colon;
    x += colon + 1;
    len -= colon + 1;

    if (starts(x, len, "deny")) {
        if (rbuf_put(value, "D", 2) != 0) /* "D" and its NUL */
            return RULES_NOMEM;
        x += 4;
        len -= 4;
    } else {
        x += 5;
        len -= 5;
    }

    while (len > 0) {
        if (x[0] != ',')
            return RULES_BAD;
        size_t eq = find(x, len, '=');
        if (eq == len)
            return RULES_BAD;
        /* "+NAME=": the bytes after the comma up to and including the '='. */
        if (rbuf_put(value, "+", 1) != 0 || rbuf_put(value, x + 1, eq) != 0)
            return RULES_NOMEM;
        x += eq + 1;
        len -= eq + 1;
        if (len == 0)
            return RULES_BAD;
        char quote = x[0];
        x++;
        len--;
        size_t end = find(x, len, quote);
        if (end == len)
            return RULES_BAD;
        if (rbuf_put(value, x, end) != 0 || rbuf_put(value, "", 1) != 0)
            return RULES_NOMEM;
        x += end + 1;
        len -= end + 1;
    }
    return RULES_RULE;
}

/* A number in a range: digits up to the end or a NUL (tcprules reads it as a C string),
 * wrapping around like scan_ulong; any other byte makes it no number. */
static int range_number(const char *s, size_t n, unsigned long *out)
{
    unsigned long v = 0;
    for (size_t i = 0; i < n && s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int rules_expand(const char *addr, size_t len,
                 int (*fn)(const char *key, size_t klen, void *arg), void *arg)
{
    size_t dash = find(addr, len, '-');
    if (find(addr, len, '=') < len || find(addr, len, '@') < len || dash == len)
        return fn(addr, len, arg);

    size_t left = 0;
    for (size_t i = dash; i > 0; i--)
        if (addr[i - 1] == '.') {
            left = i;
            break;
        }
    size_t top_at = dash + 1;
    size_t right = top_at + find(addr + top_at, len - top_at, '.');
    unsigned long bot, top;
    if (range_number(addr + left, dash - left, &bot) != 0 ||
        range_number(addr + top_at, right - top_at, &top) != 0)
        return -1;
    if (top > 255)
        top = 255;

    /* A number has at most 3 digits here, and replaces at least nothing. */
    char *key = malloc(len + 4);
    if (key == NULL)
        return -2;
    int r = 0;
    for (; bot <= top && r == 0; bot++) {
        int n = sprintf(key + left, "%lu", bot);
        memcpy(key, addr, left);
        memcpy(key + left + (size_t)n, addr + right, len - right);
        r = fn(key, left + (size_t)n + (len - right), arg);
    }
    free(key);
    return r;
}

/* Call fn for each NUL-terminated record of a value; stop at the first non-zero return. */
static int each_record(const char *v, size_t len, int (*fn)(const char *r, size_t n, const void *a),
                       const void *arg)
{
    while (len > 0) {
        size_t n = find(v, len, '\0');
        if (n == len)
            return 0; /* tcpserver ignores an unterminated tail */
        if (fn(v, n, arg))
            return 1;
        v += n + 1;
        len -= n + 1;
    }
    return 0;
}

static int is_deny(const char *r, size_t n, const void *arg)
{
    (void)arg;
    return n > 0 && r[0] == 'D';
}

static int sets(const char *r, size_t n, const void *arg)
{
    const char *name = arg;
    size_t m = strlen(name);
    return n > m + 1 && r[0] == '+' && memcmp(r + 1, name, m) == 0 && r[m + 1] == '=';
}

int rules_value_denies(const char *value, size_t len)
{
    return each_record(value, len, is_deny, NULL);
}

int rules_value_sets(const char *value, size_t len, const char *name)
{
    return each_record(value, len, sets, name);
}

int rules_walk(const char *ip, size_t len, int (*fn)(const char *key, size_t klen, void *arg),
               void *arg)
{
    int r = fn(ip, len, arg);
    if (r != 0)
        return r;
    for (size_t n = len - (len > 0); n > 0; n--)
        if (ip[n - 1] == '.' || ip[n - 1] == ':') {
            r = fn(ip, n, arg);
            if (r != 0)
                return r;
        }
    return len > 0 ? fn(ip, 0, arg) : 0;
}

void rules_ip6_text(char *buf, const unsigned char b[16])
{
    addr_text6(buf, b, 1, 1);
}

/* Why a prefix key is the right one, and where it falls short.
 *
 * tcpserver tries every prefix of the client's text that ends in ':'. A key that is the
 * first n groups written out in full, "p0:p1:p2:p3:", can only begin the text of an address
 * whose first n groups are those: no "::" hides a group inside it. It begins the text of
 * every address of the network except those whose "::" starts inside the first n groups.
 * If the last fixed group is zero (and the one before it is not), the key "p0:p1:p2::" is
 * as safe: a "::" right after p2 means group 3 is zero. An earlier "::" is never safe: in
 * "2001:db8::1:..." the "::" stands for one zero group or for several, and the text alone
 * does not say which, so a key for 2001:db8:0:1::/64 written that way would also match
 * 2001:db8:0:0:1::/80. So a network with a zero group among its first n-1 groups (like
 * 2001:db8:0:1::/64) is matched only for the addresses whose longest zero run lies
 * elsewhere; those are "partial". An exact address (n = 8) is its own text, unless that
 * text ends in ':' and would also work as a prefix of other addresses.
 *
 * tcpserver -6 shows an IPv4 client as "::ffff:a.b.c.d", and tries "::ffff:", "::" and ":"
 * on the way to the default: a key such as "::" (for 0::/16) would grant every IPv4 client.
 * No key that rules_key_crosses refuses is ever emitted, whatever network made it; the
 * addresses it stood for are then matched only in part. */
int rules_key_crosses(const char *key, size_t klen)
{
    static const char mapped[] = "::ffff:";
    if (klen == 0 || memchr(key, '.', klen) != NULL)
        return 1;
    return key[klen - 1] == ':' && klen < sizeof mapped && memcmp(key, mapped, klen) == 0;
}

/* Emit the key k (just written at out->key[out->count]) unless a client of the other family
 * could reach it: then the addresses it stood for are matched only in part. */
static void emit(struct rules_v6_keys *out)
{
    const char *k = out->key[out->count];
    if (rules_key_crosses(k, strlen(k)))
        out->partial = 1;
    else
        out->count++;
}

static void keys_for(struct rules_v6_keys *out, const unsigned g[8], unsigned n)
{
    if (n == 8) {
        unsigned char b[16];
        char text[RULES_IP6_TEXT_MAX];
        for (int i = 0; i < 8; i++) {
            b[2 * i] = (unsigned char)(g[i] >> 8);
            b[2 * i + 1] = (unsigned char)g[i];
        }
        rules_ip6_text(text, b);
        if (text[strlen(text) - 1] == ':' || strchr(text, '.') != NULL) {
            out->partial = 1; /* it would work as a prefix too, or it is IPv4: no key */
            return;
        }
        (void)snprintf(out->key[out->count], RULES_KEY_MAX, "%s", text); /* text fits */
        emit(out);
        return;
    }

    char *k = out->key[out->count];
    size_t len = 0;
    for (unsigned i = 0; i < n; i++)
        len += (size_t)sprintf(k + len, "%x:", g[i]);
    emit(out);
    if (g[n - 1] == 0 && (n == 1 || g[n - 2] != 0)) {
        k = out->key[out->count];
        len = 0;
        for (unsigned i = 0; i + 1 < n; i++)
            len += (size_t)sprintf(k + len, "%x:", g[i]);
        (void)snprintf(k + len, RULES_KEY_MAX - len, "%s", n == 1 ? "::" : ":"); /* fits */
        emit(out);
    }
    for (unsigned i = 0; i + 1 < n; i++)
        if (g[i] == 0)
            out->partial = 1;
}

/* ISATAP (RFC 5214) and the cdb. addr_key keys an address whose interface id is 0:5efe:V4 or
 * 200:5efe:V4 (groups 4 and 5) as itself, under any prefix: every client of an ISATAP
 * router shares its /64, so a /64 allowance must not reach them. But tcpserver's prefix
 * match would: 2001:db8:1:2::5efe:c000:207 begins with the key "2001:db8:1:2:". So for each
 * prefix key K of a network that holds ISATAP addresses, a shadow key is written too: the
 * text of those addresses up to and including "5efe:", which is longer than K, so tcpserver
 * tries it first. tcpserver writes the "::" of such an address at group 4 (P::5efe:a:b), at
 * groups 6-7 (P:0:5efe::, the IPv4 address 0.0.0.0), in the IPv4 part (P:200:5efe::5), or
 * inside the prefix (then the text does not begin with K, or begins with the prefix's
 * other key "p0:p1:p2::"). Where the "::" falls depends only on which groups are zero, and
 * the text up to "5efe:" never holds the IPv4 groups' digits; so the two ids with the four
 * zero patterns of the IPv4 groups give every text, and each that begins with K gives its
 * shadow. A shadow also begins the text of some addresses that are not ISATAP ("P::5efe:"
 * that of P:0:0:5efe:1, whose "::" stands for groups 4 and 5): those are granted less by
 * the cdb than by relay-check, never more.
 *
 * Only a key of four or five groups needs this: one of six or more fixes groups 4 and 5
 * (all ISATAP: no key at all; none: no shadow), and one of three or fewer leaves group 3
 * free, so its shadows would be one set for each of 65,536 /64s: such a network is
 * unmatchable (see rules_ip6_keys). Returns 0, or -1 if a shadow could not be made (no room:
 * the caller writes nothing for the network). */
static int shadows_for(struct rules_v6_keys *out, const unsigned g[8], unsigned n, size_t first)
{
    if (n < 4 || n > 5 || out->count == first)
        return 0;
    unsigned ids[2] = {0, 0x200};
    size_t nids = 2;
    if (n == 5) {
        if ((g[4] & 0xfdffU) != 0)
            return 0;
        ids[0] = g[4];
        nids = 1;
    }
    size_t start = out->shadows;
    for (size_t id = 0; id < nids; id++)
        for (unsigned zeros = 0; zeros < 4; zeros++) {
            unsigned char b[16];
            unsigned a[8] = {g[0], g[1], g[2], g[3], ids[id], 0x5efe, zeros & 1, zeros >> 1};
            char t[RULES_IP6_TEXT_MAX];
            for (int i = 0; i < 8; i++) {
                b[2 * i] = (unsigned char)(a[i] >> 8);
                b[2 * i + 1] = (unsigned char)a[i];
            }
            rules_ip6_text(t, b);
            for (size_t k = first; k < out->count; k++) {
                size_t klen = strlen(out->key[k]), end = 0;
                if (strncmp(t, out->key[k], klen) != 0)
                    continue;
                /* Group 5: after K come at most group 4 (0 or 200) and a "::". */
                for (size_t p = klen; t[p] != '\0' && end == 0; p++)
                    if ((p == 0 || t[p - 1] == ':') && strncmp(t + p, "5efe:", 5) == 0)
                        end = p + 5;
                if (end == 0 || out->shadows >= RULES_V6_SHADOWS_MAX)
                    return -1;
                int dup = 0;
                for (size_t i = start; i < out->shadows && !dup; i++)
                    dup = strlen(out->shadow[i]) == end && memcmp(out->shadow[i], t, end) == 0;
                if (!dup) {
                    memcpy(out->shadow[out->shadows], t, end);
                    out->shadow[out->shadows++][end] = '\0';
                }
            }
        }
    return 0;
}

void rules_ip6_keys(struct rules_v6_keys *out, const unsigned char net[16], unsigned bits)
{
    out->count = 0;
    out->shadows = 0;
    out->partial = 0;
    out->unmatchable = 0;
    if (bits < 1 || bits > 128) {
        out->unmatchable = 1;
        return;
    }
    unsigned n = (bits + 15) / 16;
    unsigned spare = n * 16 - bits;  /* host bits inside the last group */
    if (spare > 8 || bits <= 48) {
        /* More than 256 networks: the cdb would balloon; a /48 or wider: its ISATAP
         * addresses could not be kept out (see shadows_for). */
        out->unmatchable = 1;
        return;
    }
    unsigned g[8];
    for (int i = 0; i < 8; i++)
        g[i] = (unsigned)net[2 * i] << 8 | net[2 * i + 1];
    unsigned base = g[n - 1] & ~((1U << spare) - 1) & 0xffffU;
    for (unsigned v = 0; v < (1U << spare); v++) {
        g[n - 1] = base | v;
        size_t first = out->count;
        /* Every address here is ISATAP, which relay-check keys as itself (/128): only a /128
         * key grants one. A narrower network (six groups or more, short of 128 bits) gets no
         * key; its exact keys would grant what relay-check does not (the fuzzer found one). */
        if (n >= 6 && bits < 128 && (g[4] & 0xfdffU) == 0 && g[5] == 0x5efe) {
            out->partial = 1;
            continue;
        }
        keys_for(out, g, n);
        if (shadows_for(out, g, n, first) != 0) {
            out->count = 0;
            out->shadows = 0;
            break;
        }
    }
    if (out->count == 0) {
        out->unmatchable = 1; /* not even part of it: say so, not "partial" */
        out->partial = 0;
        out->shadows = 0;
    }
}

/* Where an IPv6 address carries an IPv4 address: the prefix's bytes, and the four bytes the
 * IPv4 address goes in (RFC 6052 2.2 skips byte 8, the "u" octet). The rest is zero. */
struct embed {
    unsigned char prefix[12];
    unsigned char plen;     /* bytes of prefix */
    unsigned char at[4];
};

static const struct embed embeds[] = {
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 12, {12, 13, 14, 15}}, /* ::ffff:a.b.c.d */
    {{0, 0x64, 0xff, 0x9b}, 12, {12, 13, 14, 15}},                       /* 64:ff9b::/96 */
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 6, {6, 7, 9, 10}},                     /* 64:ff9b:1::/48 */
    {{0}, 12, {12, 13, 14, 15}},                                         /* ::a.b.c.d */
    {{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, 12, {12, 13, 14, 15}},  /* ::ffff:0:a.b.c.d */
};

/* RFC 6052 2.2: where the IPv4 address goes after a NAT64 prefix of each length. */
static const struct {
    unsigned bits;
    unsigned char at[4];
} nat64_at[] = {{32, {4, 5, 6, 7}},   {40, {5, 6, 7, 9}},   {48, {6, 7, 9, 10}},
                {56, {7, 9, 10, 11}}, {64, {9, 10, 11, 12}}, {96, {12, 13, 14, 15}}};

static void try_form(struct rules_v4_forms *out, const unsigned char b[16], const char *v4key,
                     const struct addr_policy *p)
{
    char text[RULES_IP6_TEXT_MAX], key[ADDR_KEY_MAX];
    struct addr a;
    rules_ip6_text(text, b);
    size_t n = strlen(text);
    /* Only what relay-check itself would grant under this key: the text as tcpserver
     * writes it, read and keyed as relay-check reads and keys it. A text that ends in ':'
     * would be a prefix key, for other addresses too: none. */
    if (n == 0 || text[n - 1] == ':' || addr_parse(&a, text) != 0 || addr_key(key, &a, p) != 0 ||
        strcmp(key, v4key) != 0)
        return;
    for (size_t i = 0; i < out->count; i++)
        if (strcmp(out->key[i], text) == 0)
            return;
    if (out->count < RULES_V4_FORMS_MAX)
        memcpy(out->key[out->count++], text, n + 1);
}

void rules_v4_forms(struct rules_v4_forms *out, const char *v4key, const struct addr_policy *p)
{
    struct addr v4;
    unsigned bits;
    unsigned char b[16];
    out->count = 0;
    if (addr_key_parse(&v4, &bits, v4key) != 0 || v4.family != 4)
        return;
    for (size_t e = 0; e < sizeof embeds / sizeof embeds[0]; e++) {
        memset(b, 0, sizeof b);
        memcpy(b, embeds[e].prefix, embeds[e].plen);
        for (int i = 0; i < 4; i++)
            b[embeds[e].at[i]] = v4.b[i];
        try_form(out, b, v4key, p);
    }
    for (size_t e = 0; e < sizeof nat64_at / sizeof nat64_at[0]; e++) {
        if (p->nat64_bits != nat64_at[e].bits)
            continue;
        memset(b, 0, sizeof b);
        memcpy(b, p->nat64, p->nat64_bits / 8);
        for (int i = 0; i < 4; i++)
            b[nat64_at[e].at[i]] = v4.b[i];
        try_form(out, b, v4key, p);
    }
}
