/* fuzz/record.c: the record parsers (store_parse, and the Redis backend's store_parse_redis),
 * with keys chosen from the input.
 *
 * Input: byte 0 picks the parser and where the key comes from. 0x50 to 0x5f ('P' to '_', no
 * byte the directory's seeds begin with): the Redis record (below), the low bits picking the
 * key as for the directory. Any other byte: the directory's record. Even: from a fixed list of keys (byte 1 picks
 * which), and the record body is the rest. Odd: the bytes from byte 2 up to the first newline
 * are the key (bit 1 of byte 0 set: taken as they are, whatever they hold; clear: read as an
 * address and turned into its store key, with prefix length byte 1 % 128 + 1), and the body
 * follows the newline. Properties:
 *  - the parser accepts a body only if it is exactly what a writer makes: ours is
 *    "relaylease1 <key> <user>\n", relay-ctrl's is NUL-terminated NAME=value entries (IPv4
 *    keys only), and the user it returns is what a relay-ctrl reading gives (USER, or
 *    USER@DOMAIN), empty or a name store_user_ok accepts, at most 255 bytes;
 *  - a refusal always says why;
 *  - store_user_ok is the rule of the spec: 1..255 bytes of 0x21..0x7e except ( ) and \;
 *  - round trip: for a valid key and any user that store_user_ok accepts (or the empty
 *    user), the record our writer would produce parses back to the same user, not legacy;
 *    for an IPv4 key, so does relay-ctrl's "USER=u\0" and "USER=u\0DOMAIN=d\0".
 * The Redis record ("relaylease2 <time> <key> <user>\n", store_parse_redis):
 *  - an accepted value is one line of at most 1024 bytes with no NUL, begins with the magic,
 *    names exactly the key it is under, has a time of 1..999999999999 and a user that is
 *    empty or store_user_ok (and the spec's rule), and is not legacy;
 *  - re-formatting the parsed record as the writer does gives back the input byte for byte
 *    (so nothing in it was skipped, and the key is the one asked for);
 *  - round trip: for a valid key, a time of 1..999999999999 taken from the input and a user
 *    the directory's round trip uses, the writer's value parses back to the same time and
 *    user; the same value under another key, with the time 0, 10^12 or a leading zero, or as
 *    the directory's relaylease1 or relay-ctrl's record, is refused. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "store.h"
#include "store/dir.h"
#include "store/redis.h"
#include "fuzz/fuzz.h"

#define FUZZ_HARNESS "record"
#define MAGIC "relaylease1 "
#define MAGIC2 "relaylease2 "
#define TIME_MAX 999999999999LL
#define REDIS_RECORD_MAX 1024

static const char *const keys[] = {
    "1.2.3.4", "0.0.0.0", "255.255.255.255", "10.0.0.1", "2001:db8:1:2::_64", "::_1",
    "::1_128", "2001:db8::_48", "fe80::_10", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff_128",
    "8000::_1", "2001:db8:0:1:1:1:1:1_128",
};

/* The rule as the spec states it, written apart from store_user_ok. */
static int spec_user_ok(const char *u, size_t n)
{
    if (n < 1 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c < 0x21 || c > 0x7e || c == '(' || c == ')' || c == '\\')
            return 0;
    }
    return 1;
}

static void set_key(struct record *r, const char *key)
{
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", key);
}

/* What relay-ctrl's reader makes of a body: the last USER and DOMAIN entries. The body is
 * known to end in NUL. */
static void legacy_user(const char *p, size_t n, char *out, size_t outsize)
{
    const char *user = "", *domain = "";
    for (size_t i = 0; i < n; i += strlen(p + i) + 1) {
        if (strncmp(p + i, "USER=", 5) == 0)
            user = p + i + 5;
        else if (strncmp(p + i, "DOMAIN=", 7) == 0)
            domain = p + i + 7;
    }
    if (user[0] != '\0' && domain[0] != '\0')
        snprintf(out, outsize, "%s@%s", user, domain);
    else
        snprintf(out, outsize, "%s", user);
}

typedef int parse_fn(const char *buf, size_t n, struct record *r, const char **why);

/* Run parse (store_parse or store_parse_redis) over an exact-size copy of body under key, so
 * that a read past the end is caught by ASan, and check what every answer of either must
 * satisfy. On acceptance *copy is the copy, for the caller's checks and to free; on refusal
 * (or no memory: -1) it is freed. Returns parse's result. */
static int parse_copy(parse_fn *parse, const char *key, const char *body, size_t n,
                      struct record *r, char **copy)
{
    const char *why = NULL;
    set_key(r, key);
    *copy = malloc(n ? n : 1);
    if (*copy == NULL)
        return -1;
    memcpy(*copy, body, n);
    int res = parse(*copy, n, r, &why);
    PROP(res == 0 || res == -1, "the parser returns 0 or -1");
    PROP(strcmp(r->key, key) == 0, "the parser leaves the key alone");
    if (res != 0) {
        PROP(why != NULL && why[0] != '\0' && strlen(why) < 200, "a refusal says why");
        free(*copy);
        *copy = NULL;
        return res;
    }
    size_t ulen = strnlen(r->user, sizeof r->user);
    PROP(ulen < sizeof r->user, "the user is NUL-terminated");
    PROP(ulen == 0 || store_user_ok(r->user), "the user is empty or acceptable");
    PROP(ulen == 0 || spec_user_ok(r->user, ulen), "the user follows the spec's rule");
    return 0;
}

/* Parse body under key; check what every answer must satisfy. Returns store_parse's result. */
static int parse_checked(const char *key, const char *body, size_t n, struct record *r)
{
    char *copy;
    int res = parse_copy(store_parse, key, body, n, r, &copy);
    if (res != 0)
        return res;
    if (n >= sizeof MAGIC - 1 && memcmp(copy, MAGIC, sizeof MAGIC - 1) == 0) {
        PROP(r->legacy == 0, "our record is not legacy");
        char want[1100];
        int m = snprintf(want, sizeof want, MAGIC "%s %s\n", key, r->user);
        PROP(m > 0 && (size_t)m == n && memcmp(want, copy, n) == 0,
             "an accepted record is exactly what our writer makes");
    } else {
        PROP(r->legacy == 1, "a relay-ctrl record is legacy");
        PROP(strchr(key, '_') == NULL, "relay-ctrl records only under IPv4 keys");
        PROP(n == 0 || copy[n - 1] == '\0', "a relay-ctrl record ends in NUL");
        if (n == 0 || copy[n - 1] == '\0') {
            char want[4200];
            legacy_user(copy, n, want, sizeof want);
            PROP(strcmp(want, r->user) == 0, "a relay-ctrl record gives USER or USER@DOMAIN");
        }
    }
    free(copy);
    return res;
}

/* Our writer's record for key and user must come back with the same user. */
static void round_trip(const char *key, const char *user)
{
    struct record r;
    char line[1100];
    int n = snprintf(line, sizeof line, MAGIC "%s %s\n", key, user);
    PROP(n > 0 && (size_t)n < sizeof line, "test record fits");
    PROP(parse_checked(key, line, (size_t)n, &r) == 0, "a record our writer makes parses");
    PROP(strcmp(r.user, user) == 0, "a record our writer makes keeps its user");
    PROP(r.legacy == 0, "a record our writer makes is not legacy");
}

/* relay-ctrl's writer: "USER=u\0", with "DOMAIN=d\0" when d is not empty. */
static void round_trip_legacy(const char *key, const char *u, const char *d)
{
    struct record r;
    char body[600], want[600];
    int n = snprintf(body, sizeof body, "USER=%s%cDOMAIN=%s%c", u, '\0', d, '\0');
    if (d[0] == '\0')
        n = snprintf(body, sizeof body, "USER=%s%c", u, '\0');
    PROP(n > 0 && (size_t)n < sizeof body, "test legacy record fits");
    if (d[0] != '\0')
        snprintf(want, sizeof want, "%s@%s", u, d);
    else
        snprintf(want, sizeof want, "%s", u);
    if (!spec_user_ok(want, strlen(want)))
        return;
    PROP(parse_checked(key, body, (size_t)n, &r) == 0, "a relay-ctrl record of a good user parses");
    PROP(strcmp(r.user, want) == 0, "a relay-ctrl record keeps its user");
    PROP(r.legacy == 1, "a relay-ctrl record is legacy");
}

/* ---- the Redis record ---------------------------------------------------------------------- */

/* Parse body under key with store_parse_redis; check what every answer must satisfy. */
static int parse_redis_checked(const char *key, const char *body, size_t n, struct record *r)
{
    char *copy;
    int res = parse_copy(store_parse_redis, key, body, n, r, &copy);
    if (res != 0)
        return res;
    PROP(n >= 1 && n <= REDIS_RECORD_MAX, "an accepted Redis value is 1..1024 bytes");
    PROP(n >= 1 && copy[n - 1] == '\n' && memchr(copy, '\n', n - 1) == NULL,
         "an accepted Redis value is one line");
    PROP(memchr(copy, '\0', n) == NULL, "an accepted Redis value has no NUL");
    PROP(n >= sizeof MAGIC2 - 1 && memcmp(copy, MAGIC2, sizeof MAGIC2 - 1) == 0,
         "an accepted Redis value has the magic");
    PROP(r->time >= 1 && (long long)r->time <= TIME_MAX, "an accepted Redis time is 1..10^12-1");
    PROP(r->legacy == 0, "a Redis record is not legacy");
    /* The key it names is the key asked for: the value is exactly the writer's for it. */
    char want[2200];
    int m = snprintf(want, sizeof want, MAGIC2 "%lld %s %s\n", (long long)r->time, key, r->user);
    PROP(m > 0 && (size_t)m == n && memcmp(want, copy, n) == 0,
         "an accepted Redis value is exactly what the writer makes of the parsed record");
    free(copy);
    return res;
}

/* A value the writer would never make for key: refused. */
static void redis_refused(const char *key, const char *value, const char *what)
{
    struct record r;
    PROP(parse_redis_checked(key, value, strlen(value), &r) != 0, what);
}

/* The writer's value for key, t and user parses back to them; variants of it are refused. */
static void round_trip_redis(const char *key, long long t, const char *user, const char *other)
{
    struct record r;
    char line[1200];
    int n = snprintf(line, sizeof line, MAGIC2 "%lld %s %s\n", t, key, user);
    PROP(n > 0 && (size_t)n < sizeof line, "test Redis value fits");
    PROP(parse_redis_checked(key, line, (size_t)n, &r) == 0, "a Redis value the writer makes parses");
    PROP((long long)r.time == t, "a Redis value the writer makes keeps its time");
    PROP(strcmp(r.user, user) == 0, "a Redis value the writer makes keeps its user");
    if (other != NULL && strcmp(other, key) != 0) {
        snprintf(line, sizeof line, MAGIC2 "%lld %s %s\n", t, other, user);
        redis_refused(key, line, "a Redis value that names another key is refused");
    }
    snprintf(line, sizeof line, MAGIC2 "0 %s %s\n", key, user);
    redis_refused(key, line, "a Redis value with the time 0 is refused");
    snprintf(line, sizeof line, MAGIC2 "%lld %s %s\n", TIME_MAX + 1, key, user);
    redis_refused(key, line, "a Redis value with a time of 13 digits is refused");
    snprintf(line, sizeof line, MAGIC2 "0%lld %s %s\n", t, key, user);
    redis_refused(key, line, "a Redis value with a leading zero is refused");
    snprintf(line, sizeof line, MAGIC2 "%lld %s %s", t, key, user);
    redis_refused(key, line, "a Redis value with no final newline is refused");
    snprintf(line, sizeof line, MAGIC "%s %s\n", key, user);
    redis_refused(key, line, "the directory's record is refused from Redis");
    if (user[0] != '\0') {
        char legacy[600];
        n = snprintf(legacy, sizeof legacy, "USER=%s%c", user, '\0');
        PROP(parse_redis_checked(key, legacy, (size_t)n, &r) != 0,
             "relay-ctrl's record is refused from Redis");
    }
}

/* A login time from the input's bytes: 1..999999999999, spread over every length. */
static long long time_from(const char *body, size_t n)
{
    unsigned long long v = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        v = (v ^ (unsigned char)body[i]) * 1099511628211ULL;
    unsigned long long span = 1;
    for (unsigned d = (unsigned)(v % 12) + 1; d > 0; d--)
        span *= 10;
    long long t = (long long)((v >> 8) % span);
    return t > 0 && t <= TIME_MAX ? t : 1;
}

static void fuzz_redis(const char *key, const char *body, size_t n)
{
    struct record r;
    parse_redis_checked(key, body, n, &r);

    struct addr ka;
    unsigned kbits;
    if (addr_key_parse(&ka, &kbits, key) != 0)
        return; /* the writers only ever write canonical keys */
    const char *other = keys[(size_t)n % (sizeof keys / sizeof keys[0])];
    long long t = time_from(body, n);

    char raw[300];
    size_t rlen = strnlen(body, n < sizeof raw - 1 ? n : sizeof raw - 1);
    memcpy(raw, body, rlen);
    raw[rlen] = '\0';
    if (rlen == 0 || store_user_ok(raw))
        round_trip_redis(key, t, raw, other);
    char folded[257];
    size_t flen = n > 0 ? (size_t)(unsigned char)body[n - 1] + 1 : 0;
    for (size_t i = 0; i < flen; i++)
        folded[i] = (char)(0x21 + (unsigned char)body[i % n] % 94);
    folded[flen] = '\0';
    if (store_user_ok(folded))
        round_trip_redis(key, t, folded, other);
    else if (flen == 0)
        round_trip_redis(key, t, "", other);
}

void fuzz_record(const uint8_t *data, size_t size)
{
    char key[ADDR_KEY_MAX];
    const char *body;
    size_t n;
    struct record r;

    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    if (size < 2)
        return;
    if ((data[0] & 1) == 0) {
        snprintf(key, sizeof key, "%s", keys[data[1] % (sizeof keys / sizeof keys[0])]);
        body = (const char *)data + 2;
        n = size - 2;
    } else {
        const uint8_t *nl = memchr(data + 2, '\n', size - 2);
        size_t klen = nl ? (size_t)(nl - data - 2) : size - 2;
        char text[64];
        if (klen >= sizeof text)
            return;
        memcpy(text, data + 2, klen);
        text[klen] = '\0';
        body = nl ? (const char *)nl + 1 : "";
        n = nl ? size - (size_t)(nl + 1 - data) : 0;
        if (data[0] & 2) {
            /* Any key at all, as long as it is a C string that fits. */
            if (strlen(text) >= sizeof key)
                return;
            snprintf(key, sizeof key, "%s", text);
        } else {
            struct addr a;
            if (addr_parse(&a, text) != 0)
                return;
            addr_key_format(key, &a, (unsigned)data[1] % 128 + 1);
        }
    }

    if ((data[0] & 0xf0) == 0x50) {
        fuzz_redis(key, body, n);
        return;
    }
    parse_checked(key, body, n, &r);

    struct addr ka;
    unsigned kbits;
    if (addr_key_parse(&ka, &kbits, key) != 0)
        return; /* the writers only ever write canonical keys */

    /* A user taken as it is: store_user_ok must agree with the spec's rule. */
    char raw[300];
    size_t rlen = strnlen(body, n < sizeof raw - 1 ? n : sizeof raw - 1);
    memcpy(raw, body, rlen);
    raw[rlen] = '\0';
    PROP(store_user_ok(raw) == spec_user_ok(raw, rlen), "store_user_ok follows the spec (raw)");
    if (rlen == 0 || store_user_ok(raw))
        round_trip(key, raw);

    /* The body folded into printable characters, repeated to a length of 1 to 256 bytes
     * picked by its last byte: mostly acceptable users, of every length alike. */
    char folded[257];
    size_t flen = n > 0 ? (size_t)(unsigned char)body[n - 1] + 1 : 0;
    for (size_t i = 0; i < flen; i++)
        folded[i] = (char)(0x21 + (unsigned char)body[i % n] % 94);
    folded[flen] = '\0';
    PROP(store_user_ok(folded) == spec_user_ok(folded, flen),
         "store_user_ok follows the spec (folded)");
    if (store_user_ok(folded))
        round_trip(key, folded);
    else if (flen == 0)
        round_trip(key, "");

    if (ka.family == 4 && store_user_ok(folded)) {
        /* relay-ctrl's own records: the folded name as USER, or split at its first '@' into
         * USER and DOMAIN. */
        round_trip_legacy(key, folded, "");
        char *at = strchr(folded, '@');
        if (at != NULL && at != folded && at[1] != '\0') {
            *at = '\0';
            round_trip_legacy(key, folded, at + 1);
        }
    }
}

FUZZ_ENTRY(fuzz_record)
