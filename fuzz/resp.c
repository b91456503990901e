/* fuzz/resp.c: the RESP2 codec (redis/resp.c): replies parsed, requests built.
 *
 * Input: byte 0 is the number of items the caller has room for, less one (1..256); the rest
 * is what the server sent. Properties of resp_parse:
 *  - it returns 1, 0 or -1; -1 always says why; with 1, used <= n, 1 <= nitems <= max, and
 *    the items are well formed: inside the bytes used, texts of 1..RESP_LINE_MAX bytes with
 *    no CR, LF or NUL followed by CRLF, bulk strings of at most RESP_BULK_MAX bytes followed
 *    by CRLF, array counts that add up to nitems, nested at most RESP_DEPTH_MAX deep, with
 *    nothing but bulk strings and arrays inside an array;
 *  - an accepted reply parses again the same from a copy of just its bytes, with exactly
 *    nitems of room, and is malformed with one item less;
 *  - every prefix of an accepted reply, and every prefix of a buffer that needs more, needs
 *    more: a partial reply is never malformed;
 *  - a buffer that needs more can be completed into a reply the parser accepts: "need more"
 *    is never a dead end where the caller would wait for ever;
 *  - with libFuzzer (not in the regression replay), Debian's hiredis is the oracle: its
 *    redisReader, fed the bytes of an accepted reply, returns exactly one reply with the same
 *    types, integers, counts and bytes, and nothing after it.
 * Properties of resp_request, on arguments cut from the input at each occurrence of its last
 * byte: the bytes are those of the RESP spec, written here apart from resp.c; one byte less
 * of room is EMSGSIZE with the buffer untouched; the request parses back as a reply (an array
 * of bulk strings) to the same arguments. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "redis/resp.h"
#include "fuzz/fuzz.h"
#ifdef FUZZ_HIREDIS
#include <hiredis/hiredis.h>
#endif

#define FUZZ_HARNESS "resp"
#define MAX_ITEMS 256
/* Beyond this many bytes, an accepted reply's prefixes are checked at a sample of lengths:
 * every one of them would make the run quadratic. */
#define ALL_PREFIXES 512

static int same_items(const struct resp_item *a, const char *abase, const struct resp_item *b,
                      const char *bbase, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].type != b[i].type || a[i].n != b[i].n || a[i].len != b[i].len)
            return 0;
        if ((a[i].p == NULL) != (b[i].p == NULL))
            return 0;
        if (a[i].p != NULL && a[i].p - abase != b[i].p - bbase)
            return 0;
    }
    return 1;
}

/* One item at depth (the arrays open around it), of a reply that took buf[0..used). */
static void check_item(const struct resp_item *x, int depth, const char *buf, size_t used)
{
    switch (x->type) {
    case RESP_STATUS:
    case RESP_ERROR:
        PROP(depth == 0, "a status or an error only at the top");
        PROP(x->len >= 1 && x->len <= RESP_LINE_MAX, "a text of 1..RESP_LINE_MAX bytes");
        if (x->p == NULL || x->p < buf + 1 || x->p + x->len + 2 > buf + used) {
            PROP(0, "a text inside the reply");
            return;
        }
        PROP(memchr(x->p, '\r', x->len) == NULL && memchr(x->p, '\n', x->len) == NULL &&
                 memchr(x->p, '\0', x->len) == NULL,
             "no CR, LF or NUL in a text");
        PROP(x->p[x->len] == '\r' && x->p[x->len + 1] == '\n', "a text ends in CRLF");
        PROP(x->p[-1] == (x->type == RESP_STATUS ? '+' : '-'), "a text after its type");
        return;
    case RESP_INTEGER:
        PROP(depth == 0, "an integer only at the top");
        return;
    case RESP_NIL:
    case RESP_NIL_ARRAY:
        PROP(depth == 0, "nil only at the top");
        PROP(x->n == -1, "nil has n -1");
        return;
    case RESP_BULK:
        PROP(x->len <= RESP_BULK_MAX, "a bulk string of at most RESP_BULK_MAX bytes");
        if (x->p == NULL || x->p < buf + 4 || x->p + x->len + 2 > buf + used) {
            PROP(0, "a bulk string inside the reply");
            return;
        }
        PROP(x->p[x->len] == '\r' && x->p[x->len + 1] == '\n', "a bulk string ends in CRLF");
        return;
    case RESP_ARRAY:
        PROP(depth < RESP_DEPTH_MAX, "arrays at most RESP_DEPTH_MAX deep");
        PROP(x->n >= 0, "an array's count is not negative");
        return;
    }
    PROP(0, "a known type");
}

/* The flattened items make exactly one reply: each array's count covers the items after it,
 * no item is left over, none is missing. Written apart from resp.c's own bookkeeping. */
static int one_reply(const struct resp_item *it, size_t n, const char *buf, size_t used)
{
    long long left[RESP_DEPTH_MAX + 1];
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && depth == 0)
            return 0;
        check_item(&it[i], depth, buf, used);
        if (depth > 0)
            left[depth - 1]--;
        if (it[i].type == RESP_ARRAY && it[i].n > 0) {
            if (depth >= RESP_DEPTH_MAX)
                return 0;
            left[depth++] = it[i].n;
        }
        while (depth > 0 && left[depth - 1] == 0)
            depth--;
    }
    return n > 0 && depth == 0;
}

#ifdef FUZZ_HIREDIS
/* Does hiredis's reply r say the same as our item x (for an array: its count)? */
static int same_one(const redisReply *r, const struct resp_item *x)
{
    switch (x->type) {
    case RESP_STATUS:
    case RESP_ERROR:
    case RESP_BULK: {
        int t = x->type == RESP_STATUS  ? REDIS_REPLY_STATUS
                : x->type == RESP_ERROR ? REDIS_REPLY_ERROR
                                        : REDIS_REPLY_STRING;
        return r->type == t && r->len == x->len && memcmp(r->str, x->p, x->len) == 0;
    }
    case RESP_INTEGER:
        return r->type == REDIS_REPLY_INTEGER && r->integer == x->n;
    case RESP_NIL:
    case RESP_NIL_ARRAY:
        /* hiredis 0.14 has one nil for "$-1" and "*-1". */
        return r->type == REDIS_REPLY_NIL;
    case RESP_ARRAY:
        return r->type == REDIS_REPLY_ARRAY && r->elements == (size_t)x->n;
    }
    return 0;
}

/* hiredis's tree, walked in order, against our flattened items, one for one. */
static int same_as_hiredis(const redisReply *top, const struct resp_item *it, size_t n)
{
    const redisReply *open[RESP_DEPTH_MAX];
    size_t next[RESP_DEPTH_MAX];
    int depth = 0;
    size_t i = 0;
    const redisReply *r = top;
    for (;;) {
        if (i >= n || !same_one(r, &it[i]))
            return 0;
        i++;
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
            if (depth >= RESP_DEPTH_MAX)
                return 0;
            open[depth] = r;
            next[depth++] = 0;
        }
        /* The next element of the innermost array not done yet. */
        while (depth > 0 && next[depth - 1] == open[depth - 1]->elements)
            depth--;
        if (depth == 0)
            return i == n;
        r = open[depth - 1]->element[next[depth - 1]++];
    }
}

static void oracle(const char *buf, size_t used, const struct resp_item *it, size_t n)
{
    redisReader *rd = redisReaderCreate();
    if (rd == NULL)
        return;
    void *reply = NULL, *more = NULL;
    int fed = redisReaderFeed(rd, buf, used);
    int got = fed == REDIS_OK ? redisReaderGetReply(rd, &reply) : REDIS_ERR;
    if (got != REDIS_OK || reply == NULL) {
        PROP(0, "hiredis reads a reply we accept");
    } else {
        PROP(same_as_hiredis(reply, it, n), "hiredis reads the same reply");
        PROP(redisReaderGetReply(rd, &more) == REDIS_OK && more == NULL,
             "hiredis reads nothing after it");
    }
    if (reply != NULL)
        freeReplyObject(reply);
    if (more != NULL)
        freeReplyObject(more);
    redisReaderFree(rd);
}
#endif

/* resp_parse on an exact-size copy of buf[0..n), so that a read past it is caught by ASan. */
static int parse_copy(const char *buf, size_t n, size_t max, struct resp_item *it,
                      size_t *nitems, size_t *used, const char **why, char **keep)
{
    char *copy = malloc(n ? n : 1);
    if (copy == NULL)
        return -2;
    memcpy(copy, buf, n);
    *why = NULL;
    int r = resp_parse(copy, n, it, max, nitems, used, why);
    PROP(r == 1 || r == 0 || r == -1, "resp_parse returns 1, 0 or -1");
    PROP(r != -1 || (*why != NULL && (*why)[0] != '\0' && strlen(*why) < 200),
         "malformed says why");
    if (keep != NULL)
        *keep = copy;
    else
        free(copy);
    return r;
}

/* The prefixes of buf[0..n) to check: all of them when short, else the first and last
 * ALL_PREFIXES / 2 and every 61st between. */
static void prefixes_need_more(const char *buf, size_t n, size_t max, const char *what)
{
    static struct resp_item it[MAX_ITEMS];
    size_t nitems, used;
    const char *why;
    for (size_t k = 0; k < n; k++) {
        if (n > ALL_PREFIXES && k > ALL_PREFIXES / 2 && k < n - ALL_PREFIXES / 2 && k % 61 != 0)
            continue;
        if (parse_copy(buf, k, max, it, &nitems, &used, &why, NULL) != 0) {
            PROP(0, what);
            return;
        }
    }
}

/* A buffer that needs more can be made a reply: add, one at a time, the first byte (CR, LF,
 * "0", "$", "1", then every other) that the parser does not call malformed, until it accepts.
 * If no byte will do, "need more" was a dead end: the caller would wait for bytes that can
 * never make a reply. Each step adds a byte, so it ends; past COMPLETE_MAX bytes (a long
 * bulk string) it stops without a verdict. */
#define COMPLETE_MAX 1100
static void completes(const char *buf, size_t n, size_t max)
{
    static const char first[] = "\r\n0$1";
    static struct resp_item it[MAX_ITEMS];
    size_t nitems, used;
    const char *why;
    char *b = malloc(n + COMPLETE_MAX);
    if (b == NULL)
        return;
    memcpy(b, buf, n);
    size_t len = n;
    for (size_t step = 0; step < COMPLETE_MAX; step++) {
        int r = -1;
        for (int k = 0; k < 256 + 5; k++) {
            unsigned char c = k < 5 ? (unsigned char)first[k] : (unsigned char)(k - 5);
            memcpy(b + len, &c, 1);
            r = resp_parse(b, len + 1, it, max, &nitems, &used, &why);
            if (r != -1)
                break;
        }
        if (r == -1)
            PROP(0, "a reply that needs more can be completed");
        if (r != 0)
            break;
        len++;
    }
    free(b);
}

static void check_reply(const char *buf, size_t n, size_t max)
{
    static struct resp_item it[MAX_ITEMS], again[MAX_ITEMS];
    size_t nitems = 0, used = 0, n2, u2;
    const char *why;
    char *copy = NULL, *copy2 = NULL;

    int r = parse_copy(buf, n, max, it, &nitems, &used, &why, &copy);
    if (r == -2)
        return;
    if (r == 0) {
        prefixes_need_more(buf, n, max, "a prefix of a partial reply needs more");
        completes(buf, n, max);
    }
    if (r != 1) {
        free(copy);
        return;
    }
    PROP(used <= n && used >= 3, "used is within the buffer");
    PROP(nitems >= 1 && nitems <= max, "1..max items");
    PROP(one_reply(it, nitems, copy, used), "the items make one reply");

    /* The same reply alone, with exactly its room. */
    int r2 = parse_copy(copy, used, nitems, again, &n2, &u2, &why, &copy2);
    PROP(r2 == 1 && n2 == nitems && u2 == used && same_items(it, copy, again, copy2, nitems),
         "an accepted reply parses again, the same");
    free(copy2);
    if (nitems > 1)
        PROP(parse_copy(copy, used, nitems - 1, again, &n2, &u2, &why, NULL) == -1,
             "one item less of room is malformed");
    prefixes_need_more(copy, used, max, "a prefix of an accepted reply needs more");
#ifdef FUZZ_HIREDIS
    oracle(copy, used, it, nitems);
#endif
    free(copy);
}

/* The request's bytes as the RESP spec has them, written apart from resp_request. */
static size_t spec_request(char *out, int argc, const char *const *argv, const size_t *lens)
{
    size_t o = (size_t)sprintf(out, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        o += (size_t)sprintf(out + o, "$%zu\r\n", lens[i]);
        memcpy(out + o, argv[i], lens[i]);
        o += lens[i];
        /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): bytes, not a string */
        memcpy(out + o, "\r\n", 2);
        o += 2;
    }
    return o;
}

static void check_request(const char *data, size_t size)
{
    enum { ARGS = 16 };
    static char out[FUZZ_INPUT_MAX + ARGS * 32 + 64], want[sizeof out];
    const char *argv[ARGS];
    size_t lens[ARGS];
    int argc = 0;
    if (size < 1)
        return;
    char sep = data[size - 1];
    size_t start = 0;
    for (size_t i = 0; i < size - 1 && argc < ARGS - 1; i++) {
        if (data[i] == sep) {
            argv[argc] = data + start;
            lens[argc++] = i - start;
            start = i + 1;
        }
    }
    argv[argc] = data + start;
    lens[argc++] = size - 1 - start;

    size_t wlen = spec_request(want, argc, argv, lens);
    size_t len = 0;
    int r = resp_request(out, sizeof out, &len, argc, argv, lens);
    PROP(r == 0 && len == wlen && memcmp(out, want, wlen) == 0, "a request as the spec has it");

    memset(out, 0x5a, sizeof out);
    size_t len2 = 3;
    errno = 0;
    r = resp_request(out, wlen + 2, &len2, argc, argv, lens);
    int untouched = 1;
    for (size_t i = 0; i < sizeof out; i++)
        untouched &= out[i] == 0x5a;
    PROP(r == -1 && errno == EMSGSIZE && len2 == 3 && untouched,
         "a request one byte short: EMSGSIZE, nothing written");

    /* Back through the reply parser, when it is one the parser is meant to take. */
    static struct resp_item it[ARGS + 1];
    size_t nitems, used;
    const char *why;
    int fits = 1;
    for (int i = 0; i < argc; i++)
        fits &= lens[i] <= RESP_BULK_MAX;
    r = resp_parse(want, wlen, it, ARGS + 1, &nitems, &used, &why);
    PROP(!fits || (r == 1 && used == wlen && nitems == (size_t)argc + 1),
         "a request parses back as a reply");
    if (fits && r == 1 && nitems == (size_t)argc + 1)
        for (int i = 0; i < argc; i++)
            PROP(it[i + 1].type == RESP_BULK && it[i + 1].len == lens[i] &&
                     memcmp(it[i + 1].p, argv[i], lens[i]) == 0,
                 "a request parses back to its arguments");
}

void fuzz_resp(const uint8_t *data, size_t size)
{
    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    if (size < 1)
        return;
    size_t max = (size_t)data[0] + 1;
    check_reply((const char *)data + 1, size - 1, max);
    check_request((const char *)data + 1, size - 1);
}

FUZZ_ENTRY(fuzz_resp)
