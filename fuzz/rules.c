/* fuzz/rules.c: the tcprules-syntax parser (cdb/rules.c).
 *
 * The input is split into lines at '\n', as tcprules and relay-cdb read a rules file, and
 * each line (with its newline) goes through rules_parse_line and rules_expand. The first 33
 * bytes also make an IPv6 network and a second address for rules_ip6_text, rules_walk and
 * rules_ip6_keys. Properties:
 *  - the parser agrees with a model of tcprules written here from ucspi-tcp 0.88's source:
 *    a line the plain build accepts gives the same address and the same value bytes; a line
 *    the parser accepts is one the IPv6 build accepts (the first colon followed by "allow" or
 *    "deny" ends the address) with the same address and value; a refused line is refused by
 *    both builds, and a skipped line is ignored by both (or hangs the IPv6 build);
 *  - an accepted line's address is the start of the line, up to that colon; its value is
 *    NUL-terminated records: "D" first for a deny, then one "+NAME=value" per variable, and
 *    rules_value_denies and rules_value_sets read them back (for a line without NUL bytes);
 *  - rules_expand gives the address itself when it has '=', '@' or no '-'; a range gives one
 *    key per number from the bottom to the top (cut to 255), the number put in place of the
 *    range, at most 256 keys; a range part that is not digits refuses the line;
 *  - rules_walk gives the text, then its prefixes that end in '.' or ':', longest first,
 *    then the empty key;
 *  - rules_ip6_text is what inet_pton reads back to the same bytes: lowercase, no leading
 *    zeros, one "::" for the longest run of zero groups (the first on a tie, even one group),
 *    ::ffff:a.b.c.d for a mapped address, shorter than RULES_IP6_TEXT_MAX;
 *  - rules_ip6_keys never lets an address outside the network reach one of its keys through
 *    tcpserver's walk, nor an IPv4 client as tcpserver -6 shows it (::ffff:a.b.c.d, whatever
 *    its bytes), never emits a key that rules_key_crosses refuses, and (unless it says the
 *    match is partial or impossible) lets every address of the network reach one;
 *  - no ISATAP address of the network (its bytes 8..11 made 00 00 5e fe or 02 00 5e fe)
 *    ends its walk at a prefix key: it reaches a shadow key first (relay-check keys it as
 *    itself), and no address outside the network reaches a shadow key either;
 *  - rules_v4_forms lists only texts that relay-check (addr_parse, addr_key) keys to the
 *    IPv4 address asked for, none ending in ':', ::ffff:a.b.c.d among them. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "buf.h"
#include "cdb/rules.h"
#include "fuzz/fuzz.h"

#define FUZZ_HARNESS "rules"

/* ---- a model of tcprules, one line at a time ------------------------------------------- */

enum model { M_RULE, M_IGNORE, M_USAGE, M_HANG };

/* djb's byte_chr. */
static size_t bchr(const char *s, size_t n, int c)
{
    size_t i = 0;
    while (i < n && s[i] != (char)c)
        i++;
    return i;
}

/* tcprules' loop body for the line x[0..len) (getln's line, newline included). ipv6 picks
 * ucspi-tcp-ipv6's address end. On M_RULE, the address is x[0..*alen) and the value is
 * written to val (which holds at least len + 2 bytes) with its length in *vlen. */
static enum model model_tcprules(const char *line, size_t len, int ipv6, size_t *alen,
                                 char *val, size_t *vlen)
{
    const char *x = line;
    *vlen = 0;
    if (x[0] == '#' || x[0] == '\n')
        return M_IGNORE;
    while (len) {
        char ch = x[len - 1];
        if (ch != '\n' && ch != ' ' && ch != '\t')
            break;
        --len;
    }
    size_t colon = bchr(x, len, ':');
    if (colon == len)
        return ipv6 && len > 0 ? M_HANG : M_IGNORE;
    if (ipv6) {
        /* The first colon followed by "deny" or "allow"; with none, the IPv6 build's search
         * never ends. (The line is NUL-terminated there, so a word cut by the end fails.) */
        for (;;) {
            if ((len - colon - 1 >= 4 && memcmp(x + colon + 1, "deny", 4) == 0) ||
                (len - colon - 1 >= 5 && memcmp(x + colon + 1, "allow", 5) == 0))
                break;
            colon++;
            colon += bchr(x + colon, len - colon, ':');
            if (colon == len)
                return M_HANG;
        }
    }
    *alen = colon;
    x += colon + 1;
    len -= colon + 1;
    if (len >= 5 && memcmp(x, "allow", 5) == 0) {
        x += 5;
        len -= 5;
    } else if (len >= 4 && memcmp(x, "deny", 4) == 0) {
        memcpy(val, "D", 2);
        *vlen = 2;
        x += 4;
        len -= 4;
    } else {
        return M_USAGE;
    }
    while (len) {
        if (x[0] != ',')
            return M_USAGE;
        ++x;
        --len;
        size_t eq = bchr(x, len, '=');
        if (eq == len)
            return M_USAGE;
        val[(*vlen)++] = '+';
        memcpy(val + *vlen, x, eq + 1);
        *vlen += eq + 1;
        x += eq + 1;
        len -= eq + 1;
        if (!len)
            return M_USAGE;
        char q = *x;
        ++x;
        --len;
        size_t end = bchr(x, len, q);
        if (end == len)
            return M_USAGE;
        memcpy(val + *vlen, x, end);
        *vlen += end;
        val[(*vlen)++] = '\0';
        x += end + 1;
        len -= end + 1;
    }
    return M_RULE;
}

/* ---- rules_expand ------------------------------------------------------------------------ */

struct keys {
    size_t count;
    int bad;              /* a key that is not what the model expects */
    const char *addr;     /* the address being expanded */
    size_t len, left, right;
    unsigned long next;   /* the number the next key should have */
    int range;
};

static int collect(const char *key, size_t klen, void *arg)
{
    struct keys *k = arg;
    k->count++;
    if (k->count > 256) {
        k->bad = 1;
        return 7;
    }
    if (!k->range) {
        if (klen != k->len || memcmp(key, k->addr, klen) != 0)
            k->bad = 1;
        return 0;
    }
    char num[32];
    int n = snprintf(num, sizeof num, "%lu", k->next);
    size_t want = k->left + (size_t)n + (k->len - k->right);
    if (klen != want || memcmp(key, k->addr, k->left) != 0 ||
        memcmp(key + k->left, num, (size_t)n) != 0 ||
        memcmp(key + k->left + n, k->addr + k->right, k->len - k->right) != 0)
        k->bad = 1;
    k->next++;
    return 0;
}

/* scan_ulong on a C string, strictly: digits up to the end or a NUL; -1 on another byte. */
static int digits(const char *s, size_t n, unsigned long *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0')
            break;
        if (s[i] < '0' || s[i] > '9')
            return -1;
        *v = *v * 10 + (unsigned long)(s[i] - '0');
    }
    return 0;
}

static void check_expand(const char *a, size_t len)
{
    struct keys k = {0, 0, a, len, 0, 0, 0, 0};
    size_t dash = bchr(a, len, '-');
    int plain = bchr(a, len, '=') < len || bchr(a, len, '@') < len || dash == len;
    unsigned long bot = 0, top = 0;
    int numbers = 0;
    if (!plain) {
        k.range = 1;
        k.left = dash;
        while (k.left > 0 && a[k.left - 1] != '.')
            k.left--;
        k.right = dash + 1 + bchr(a + dash + 1, len - dash - 1, '.');
        numbers = digits(a + k.left, dash - k.left, &bot) == 0 &&
                  digits(a + dash + 1, k.right - dash - 1, &top) == 0;
        if (top > 255)
            top = 255;
        k.next = bot;
    }
    int r = rules_expand(a, len, collect, &k);
    PROP(r != 7, "a range gives at most 256 keys");
    PROP(!k.bad, "each key is the address with one number of the range in place");
    if (r == -2 || r == 7) /* cppcheck-suppress knownConditionTrueFalse ; PROP may not stop */
        return;
    if (plain) {
        PROP(r == 0 && k.count == 1, "an address that is no range is its own key");
        return;
    }
    PROP((r == 0) == numbers, "a range is refused exactly when a part is not a number");
    if (r == 0)
        PROP(k.count == (bot <= top ? top - bot + 1 : 0), "one key per number of the range");
}

/* ---- one rules line ---------------------------------------------------------------------- */

static void check_line(const char *line, size_t len)
{
    struct rbuf value = {0};
    const char *addr = NULL;
    size_t addrlen = 0;
    char *m4 = malloc(len + 2), *m6 = malloc(len + 2);
    if (m4 == NULL || m6 == NULL) {
        free(m4);
        free(m6);
        return;
    }
    size_t a4 = 0, a6 = 0, v4 = 0, v6 = 0;
    enum model plain = model_tcprules(line, len, 0, &a4, m4, &v4);
    enum model ip6 = model_tcprules(line, len, 1, &a6, m6, &v6);

    enum rules_line r = rules_parse_line(line, len, &addr, &addrlen, &value);
    if (r == RULES_NOMEM)
        goto out;
    if (plain == M_RULE)
        PROP(r == RULES_RULE && addrlen == a4 && value.len == v4 &&
                 (v4 == 0 || memcmp(value.s, m4, v4) == 0),
             "a line the plain tcprules accepts is read the same way");
    switch (r) {
    case RULES_RULE:
        PROP(ip6 == M_RULE, "an accepted line is one the IPv6 tcprules accepts");
        PROP(addrlen == a6 && value.len == v6 && (v6 == 0 || memcmp(value.s, m6, v6) == 0),
             "an accepted line has the IPv6 tcprules' address and value");
        break;
    case RULES_BAD:
        PROP(plain == M_USAGE && (ip6 == M_USAGE || ip6 == M_HANG),
             "a refused line is refused by tcprules");
        break;
    case RULES_SKIP:
    case RULES_NOCOLON:
        PROP(plain == M_IGNORE && (ip6 == M_IGNORE || ip6 == M_HANG),
             "a skipped line is ignored by tcprules");
        PROP(value.len == 0, "a skipped line adds no value");
        break;
    default:
        PROP(0, "a known result");
    }
    if (r != RULES_RULE)
        goto out;

    PROP(addr == line && addrlen < len && line[addrlen] == ':',
         "the address is the line up to a colon");
    PROP(value.len == 0 || value.s[value.len - 1] == '\0', "the value ends in a NUL");
    int deny = len - addrlen - 1 >= 4 && memcmp(line + addrlen + 1, "deny", 4) == 0;
    if (memchr(line, '\0', len) == NULL) {
        /* Records: "D" for a deny, then "+NAME=value" per variable. */
        size_t pos = 0, vars = 0, commas = 0;
        if (deny) {
            PROP(value.len >= 2 && memcmp(value.s, "D", 2) == 0, "a deny starts with D");
            pos = 2;
        }
        while (pos < value.len) {
            const char *rec = value.s + pos;
            size_t n = strlen(rec);
            const char *eq = memchr(rec, '=', n);
            PROP(rec[0] == '+' && eq != NULL, "a variable record is +NAME=value");
            /* cppcheck-suppress knownConditionTrueFalse ; PROP may not stop */
            if (rec[0] == '+' && eq != NULL) {
                char *name = strndup(rec + 1, (size_t)(eq - rec - 1));
                if (name != NULL)
                    PROP(rules_value_sets(value.s, value.len, name),
                         "rules_value_sets finds each variable");
                free(name);
            }
            pos += n + 1;
            vars++;
        }
        for (size_t i = addrlen + 1; i < len; i++)
            commas += line[i] == ',';
        PROP(vars <= commas, "no more variables than commas");
        PROP(rules_value_denies(value.s, value.len) == deny, "denies exactly for deny");
    }
    check_expand(addr, addrlen);
out:
    rbuf_free(&value);
    free(m4);
    free(m6);
}

/* ---- IPv6 text, the walk and the prefix keys ---------------------------------------------- */

struct walk {
    const char *ip;
    size_t len, last, calls;
    int bad;
};

static int walk_step(const char *key, size_t klen, void *arg)
{
    struct walk *w = arg;
    /* The text itself first, then shorter prefixes that end in '.' or ':'. */
    int first = w->calls == 0;
    int prefix = klen == 0 || key[klen - 1] == '.' || key[klen - 1] == ':';
    if (key != w->ip || klen > w->len || (first && klen != w->len) ||
        (!first && (klen >= w->last || !prefix)))
        w->bad = 1;
    w->last = klen;
    w->calls++;
    return 0;
}

static void check_walk(const char *ip, size_t len)
{
    struct walk w = {ip, len, 0, 0, 0};
    size_t seps = 0;
    for (size_t i = 0; i + 1 < len; i++)
        seps += ip[i] == '.' || ip[i] == ':';
    PROP(rules_walk(ip, len, walk_step, &w) == 0, "the walk goes on while fn returns 0");
    PROP(!w.bad, "the walk tries the text, then its prefixes, longest first");
    PROP(w.calls == (len > 0 ? seps + 2 : 1), "the walk tries every prefix and the empty key");
}

struct reach {
    const struct rules_v6_keys *k;
};

static int reaches(const char *key, size_t klen, void *arg)
{
    const struct rules_v6_keys *k = ((struct reach *)arg)->k;
    for (size_t i = 0; i < k->count; i++)
        if (strlen(k->key[i]) == klen && memcmp(k->key[i], key, klen) == 0)
            return 1;
    return 0;
}

/* 1 at a key, 2 at a shadow key: where tcpserver's walk stops among what relay-cdb writes. */
static int reaches_any(const char *key, size_t klen, void *arg)
{
    const struct rules_v6_keys *k = ((struct reach *)arg)->k;
    for (size_t i = 0; i < k->shadows; i++)
        if (strlen(k->shadow[i]) == klen && memcmp(k->shadow[i], key, klen) == 0)
            return 2;
    return reaches(key, klen, arg);
}

static int in_net(const unsigned char *a, const unsigned char *net, unsigned bits)
{
    for (unsigned i = 0; i < bits; i++) {
        unsigned char bit = (unsigned char)(0x80u >> (i % 8));
        if ((a[i / 8] & bit) != (net[i / 8] & bit))
            return 0;
    }
    return 1;
}

static void check_text(const unsigned char b[16], char *t)
{
    unsigned char back[16];
    memset(t, 'X', RULES_IP6_TEXT_MAX);
    rules_ip6_text(t, b);
    PROP(memchr(t, '\0', RULES_IP6_TEXT_MAX) != NULL, "the text fits RULES_IP6_TEXT_MAX");
    t[RULES_IP6_TEXT_MAX - 1] = '\0';
    PROP(inet_pton(AF_INET6, t, back) == 1 && memcmp(back, b, 16) == 0,
         "the text reads back to the same address");
    size_t n = strlen(t);
    PROP(strspn(t, "0123456789abcdef:.") == n, "the text is lowercase");
    const char *dc = strstr(t, "::");
    PROP(dc == NULL || strstr(dc + 1, "::") == NULL, "at most one ::");
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    PROP((strchr(t, '.') != NULL) == (memcmp(b, mapped, 12) == 0),
         "a dotted tail exactly for a mapped address");
    /* The longest zero run (the first on a tie) is the one "::" stands for. */
    int best = -1, bestlen = 0;
    for (int i = 0; i < 8;) {
        if (b[2 * i] || b[2 * i + 1]) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && !b[2 * j] && !b[2 * j + 1])
            j++;
        if (j - i > bestlen) {
            best = i;
            bestlen = j - i;
        }
        i = j;
    }
    if (memcmp(b, mapped, 12) == 0)
        return;
    PROP((dc != NULL) == (best >= 0), ":: exactly when some group is zero");
    if (dc == NULL)
        return;
    int before = 0; /* groups written before the "::" */
    for (const char *p = t; p < dc; p++)
        before += *p == ':';
    if (dc > t)
        before++;
    PROP(before == best, ":: stands for the longest zero run, the first on a tie");
    for (const char *p = t; *p != '\0'; p++)
        if ((p == t || p[-1] == ':') && p[0] == '0')
            PROP(p[1] == ':' || p[1] == '\0', "no leading zeros");
}

/* The forms of the IPv4 address v4, under a policy with a NAT64 prefix taken from the input
 * (its length one of RFC 6052's, or none). */
static void check_v4_forms(const unsigned char v4[4], unsigned char pick, const unsigned char *n)
{
    static const unsigned lens[] = {0, 32, 40, 48, 56, 64, 96, 0};
    struct addr_policy p = {64, lens[pick % 8], {0}};
    memcpy(p.nat64, n, 16);
    for (unsigned i = p.nat64_bits; i < 128; i++)
        p.nat64[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
    struct addr a4 = {4, {0}};
    memcpy(a4.b, v4, 4);
    char v4key[ADDR_KEY_MAX];
    if (addr_key(v4key, &a4, &p) != 0)
        return;
    static struct rules_v4_forms f;
    rules_v4_forms(&f, v4key, &p);
    PROP(f.count <= RULES_V4_FORMS_MAX, "no more forms than RULES_V4_FORMS_MAX");
    int has_mapped = 0;
    for (size_t i = 0; i < f.count; i++) {
        struct addr a;
        char key[ADDR_KEY_MAX];
        size_t len = strnlen(f.key[i], RULES_KEY_MAX);
        PROP(len > 0 && len < RULES_KEY_MAX && f.key[i][len - 1] != ':',
             "a form is an exact key");
        PROP(addr_parse(&a, f.key[i]) == 0 && addr_key(key, &a, &p) == 0 &&
                 strcmp(key, v4key) == 0,
             "relay-check keys every form to the IPv4 address");
        has_mapped |= strncmp(f.key[i], "::ffff:", 7) == 0 && strchr(f.key[i], '.') != NULL;
    }
    PROP(has_mapped, "::ffff:a.b.c.d is one of the forms");
}

static void check_ip6(const uint8_t *data)
{
    unsigned char a[16], net[16], other[16];
    char t[RULES_IP6_TEXT_MAX], u[RULES_IP6_TEXT_MAX];
    memcpy(a, data, 16);
    unsigned bits = data[16] % 129u;
    memcpy(other, data + 17, 16);
    check_text(a, t);
    check_text(other, u);
    check_walk(t, strlen(t));

    for (unsigned i = 0; i < 16; i++) {
        unsigned have = bits > 8 * i ? bits - 8 * i : 0;
        net[i] = have >= 8 ? a[i] : (unsigned char)(a[i] & (0xff00u >> have));
    }
    static struct rules_v6_keys k; /* 24 KB: not on the stack */
    rules_ip6_keys(&k, net, bits);
    PROP(k.count <= RULES_V6_KEYS_MAX, "no more keys than RULES_V6_KEYS_MAX");
    PROP(k.shadows <= RULES_V6_SHADOWS_MAX, "no more shadows than RULES_V6_SHADOWS_MAX");
    if (bits == 0) {
        PROP(k.unmatchable && k.count == 0, "a /0 is unmatchable");
        return;
    }
    for (size_t i = 0; i < k.count; i++) {
        size_t n = strnlen(k.key[i], RULES_KEY_MAX);
        PROP(n > 0 && n < RULES_KEY_MAX, "a key is a non-empty string");
        PROP(strspn(k.key[i], "0123456789abcdef:") == n, "a key is IPv6 text");
        PROP(!rules_key_crosses(k.key[i], n), "no key is one tcpserver tries for IPv4");
    }
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    struct reach r = {&k};
    if (rules_walk(u, strlen(u), reaches, &r))
        PROP(in_net(other, net, bits) && memcmp(other, mapped, 12) != 0,
             "no address outside the network, nor any IPv4 client, reaches a key");
    unsigned char v4c[16];
    char v4t[RULES_IP6_TEXT_MAX];
    memcpy(v4c, mapped, 12);
    memcpy(v4c + 12, other + 12, 4);
    rules_ip6_text(v4t, v4c);
    PROP(!rules_walk(v4t, strlen(v4t), reaches, &r), "no IPv4 client (::ffff:a.b.c.d) reaches a key");
    if (rules_walk(u, strlen(u), reaches_any, &r) == 2)
        PROP(in_net(other, net, bits), "no address outside the network reaches a shadow key");
    for (size_t i = 0; i < k.shadows; i++) {
        size_t n = strnlen(k.shadow[i], RULES_KEY_MAX);
        PROP(n > 0 && n < RULES_KEY_MAX && k.shadow[i][n - 1] == ':' &&
                 strspn(k.shadow[i], "0123456789abcdef:") == n,
             "a shadow is a prefix key");
    }
    /* The ISATAP address with a's prefix and IPv4 part, either id (the u bit from data). */
    unsigned char isa[16];
    memcpy(isa, a, 16);
    isa[8] = (unsigned char)(data[16] & 2);
    isa[9] = 0;
    isa[10] = 0x5e;
    isa[11] = 0xfe;
    if (bits < 128 && in_net(isa, net, bits)) {
        char it[RULES_IP6_TEXT_MAX];
        rules_ip6_text(it, isa);
        PROP(rules_walk(it, strlen(it), reaches_any, &r) != 1,
             "no ISATAP address of the network ends its walk at a prefix key");
    }
    check_v4_forms(other + 12, data[16], a);
    if (!k.partial && !k.unmatchable && memcmp(a, mapped, 12) != 0)
        PROP(rules_walk(t, strlen(t), reaches, &r),
             "every address of the network reaches a key unless the match is partial");
}

void fuzz_rules(const uint8_t *data, size_t size)
{
    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX; /* as fuzz_cstring cuts it: the lines below walk s */
    char *s = fuzz_cstring(data, size);
    if (s == NULL)
        return;
    size_t pos = 0;
    while (pos < size) {
        const char *nl = memchr(s + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (s + pos)) + 1 : size - pos;
        /* Each line in a buffer of its own size, for the same reason. */
        char *line = malloc(len);
        if (line == NULL)
            break;
        memcpy(line, s + pos, len);
        check_line(line, len);
        free(line);
        pos += len;
    }
    if (size >= 33)
        check_ip6(data);
    free(s);
}

FUZZ_ENTRY(fuzz_rules)
