/* resp.c: RESP2 requests and replies, strictly, with no allocation and no I/O.
 *
 * The parser accepts only what a Redis 7 server sends for the commands relaylease uses (AUTH,
 * GET, SET ... EX, SCAN ... MATCH ... COUNT ... TYPE, SENTINEL get-master-addr-by-name), and
 * calls everything else malformed: a reply that a real server would never send grants
 * nothing. It runs on every SMTP connection, so it is one pass over the caller's buffer.
 *
 * Two promises to the caller's read loop: a buffer that holds only the start of an acceptable
 * reply is never malformed (it returns 0, read more), and a buffer that cannot become an
 * acceptable reply is malformed as soon as that is certain, and at the latest after a bounded
 * number of bytes, so that a server that drips bytes cannot make the caller buffer without
 * end. Every length and count is checked against its limit digit by digit, before it can
 * overflow. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include "redis/resp.h"

/* The room for the decimal digits of a size_t or an int (20 for 2^64 - 1). */
#define DIGITS_MAX 20

static size_t digits_of(size_t v)
{
    size_t d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* Write v in decimal at p; returns the bytes written. */
static size_t put_decimal(char *p, size_t v)
{
    char tmp[DIGITS_MAX];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* "$len\r\narg\r\n", or "*argc\r\n" with type '*' and no arg. */
static size_t put_header(char *p, char type, size_t v)
{
    size_t n = 0;
    p[n++] = type;
    n += put_decimal(p + n, v);
    p[n++] = '\r';
    p[n++] = '\n';
    return n;
}

int resp_request(char *out, size_t cap, size_t *len, int argc, const char *const *argv,
                 const size_t *lens)
{
    if (out == NULL || len == NULL || argv == NULL || argc < 1 || *len > cap) {
        errno = EINVAL;
        return -1;
    }
    /* The whole size first, so that a request that does not fit leaves out as it was. Each
     * addition is checked: an argument's length comes from the caller and may be anything. */
    size_t room = cap - *len;
    size_t need = 1 + digits_of((size_t)argc) + 2;
    for (int i = 0; i < argc; i++) {
        size_t l = lens != NULL ? lens[i] : strlen(argv[i]);
        size_t part = 1 + digits_of(l) + 2;
        if (l > SIZE_MAX - part - 2 || need > room || room - need < part + l + 2) {
            errno = EMSGSIZE;
            return -1;
        }
        need += part + l + 2;
    }
    if (need > room) {
        errno = EMSGSIZE;
        return -1;
    }
    char *p = out + *len;
    p += put_header(p, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t l = lens != NULL ? lens[i] : strlen(argv[i]);
        p += put_header(p, '$', l);
        if (l > 0)
            memcpy(p, argv[i], l);
        p += l;
        *p++ = '\r';
        *p++ = '\n';
    }
    *len += need;
    return 0;
}

/* The result of one step of the parser: a whole piece, the end of the buffer first, or a
 * piece that no continuation can make acceptable. */
enum { NEED = 0, DONE = 1, BAD = -1 };

static int bad(const char **why, const char *reason)
{
    if (why != NULL)
        *why = reason;
    return BAD;
}

/* The CRLF that ends a line, at buf[*pos]. */
static int crlf(const char *buf, size_t n, size_t *pos, const char **why, const char *notcr)
{
    size_t i = *pos;
    if (i == n)
        return NEED;
    if (buf[i] != '\r')
        return bad(why, notcr);
    if (i + 1 == n)
        return NEED;
    if (buf[i + 1] != '\n')
        return bad(why, "CR not followed by LF");
    *pos = i + 2;
    return DONE;
}

/* Decimal digits at buf[*pos], with no sign, no leading zero (but "0" itself) and a value
 * of at most limit, then CRLF. The value is checked before each digit is added, so that no
 * number of digits can overflow it, and a length line stops at the first digit too many. */
static int unsigned_line(const char *buf, size_t n, size_t *pos, unsigned long long limit,
                         unsigned long long *value, const char **why, const char *toobig)
{
    size_t i = *pos;
    unsigned long long v = 0;
    if (i == n)
        return NEED;
    if (buf[i] < '0' || buf[i] > '9')
        return bad(why, "a number that does not start with a digit");
    if (buf[i] == '0') {
        i++;
        if (i < n && buf[i] >= '0' && buf[i] <= '9')
            return bad(why, "a number with a leading zero");
    } else {
        while (i < n && buf[i] >= '0' && buf[i] <= '9') {
            unsigned d = (unsigned)(buf[i] - '0');
            if (d > limit || v > (limit - d) / 10)
                return bad(why, toobig);
            v = v * 10 + d;
            i++;
        }
    }
    int r = crlf(buf, n, &i, why, "a number followed by something other than CRLF");
    if (r != DONE)
        return r;
    *value = v;
    *pos = i;
    return DONE;
}

/* The length of a bulk string or the count of an array: "-1" (nil, where nil_ok) or an
 * unsigned_line. A nil that is not wanted is malformed at its "-", not after its CRLF: a
 * buffer that can only become a malformed reply must not be "read more". */
static int length_line(const char *buf, size_t n, size_t *pos, int nil_ok,
                       unsigned long long limit, long long *value, const char **why,
                       const char *toobig)
{
    size_t i = *pos;
    if (i < n && buf[i] == '-') {
        /* "-1" is nil; Redis sends no other negative length. */
        if (!nil_ok)
            return bad(why, "a nil element of an array");
        i++;
        if (i == n)
            return NEED;
        if (buf[i] != '1')
            return bad(why, "a negative length other than -1");
        i++;
        int r = crlf(buf, n, &i, why, "a negative length other than -1");
        if (r != DONE)
            return r;
        *value = -1;
        *pos = i;
        return DONE;
    }
    unsigned long long v;
    int r = unsigned_line(buf, n, &i, limit, &v, why, toobig);
    if (r != DONE)
        return r;
    *value = (long long)v; /* v <= limit <= LLONG_MAX */
    *pos = i;
    return DONE;
}

/* ":n": a signed decimal that fits a long long, with no "+", no "-0", no leading zero. */
static int integer_line(const char *buf, size_t n, size_t *pos, long long *value,
                        const char **why)
{
    size_t i = *pos;
    int neg = 0;
    if (i < n && buf[i] == '-') {
        neg = 1;
        i++;
        if (i < n && buf[i] == '0')
            return bad(why, "an integer -0");
    }
    unsigned long long v;
    unsigned long long limit = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
    int r = unsigned_line(buf, n, &i, limit, &v, why, "an integer out of range");
    if (r != DONE)
        return r;
    if (!neg)
        *value = (long long)v;
    else if (v == (unsigned long long)LLONG_MAX + 1)
        *value = LLONG_MIN;
    else
        *value = -(long long)v;
    *pos = i;
    return DONE;
}

/* The text of a status or an error, up to CRLF: 1 to RESP_LINE_MAX bytes, none of them CR,
 * LF or NUL. A line that has grown past the limit is malformed even before its CRLF comes. */
static int text_line(const char *buf, size_t n, size_t *pos, struct resp_item *it,
                     const char **why)
{
    size_t start = *pos;
    for (size_t j = start; j < n; j++) {
        char c = buf[j];
        if (c == '\r') {
            if (j == start)
                return bad(why, "an empty status or error");
            size_t i = j;
            int r = crlf(buf, n, &i, why, "");
            if (r != DONE)
                return r;
            it->p = buf + start;
            it->len = j - start;
            *pos = i;
            return DONE;
        }
        if (j - start == RESP_LINE_MAX)
            return bad(why, "a status or error line too long");
        if (c == '\n')
            return bad(why, "a bare LF in a status or error");
        if (c == '\0')
            return bad(why, "a NUL in a status or error");
    }
    return NEED;
}

/* "$len\r\n" (already read: len) then len bytes and CRLF. The CRLF after the bytes is checked
 * as soon as it is in the buffer, whether or not the rest has come. */
static int bulk_body(const char *buf, size_t n, size_t *pos, size_t len, struct resp_item *it,
                     const char **why)
{
    size_t i = *pos;
    size_t have = n - i; /* len <= RESP_BULK_MAX: no sum below can overflow */
    if (have > len && buf[i + len] != '\r')
        return bad(why, "a bulk string not of its announced length");
    if (have > len + 1 && buf[i + len + 1] != '\n')
        return bad(why, "a bulk string not followed by CRLF");
    if (have < len + 2)
        return NEED;
    it->p = buf + i;
    it->len = len;
    *pos = i + len + 2;
    return DONE;
}

/* One item at buf[*pos], at depth (the number of arrays open around it). limit is how many
 * elements an array here may have: the items the caller left room for, less those already
 * promised. */
static int item(const char *buf, size_t n, size_t *pos, int depth, size_t limit,
                struct resp_item *it, const char **why)
{
    size_t i = *pos;
    long long v = 0;
    int r;
    if (i == n)
        return NEED;
    char type = buf[i++];
    memset(it, 0, sizeof *it);
    it->p = buf + i;
    /* Inside an array Redis sends these commands only bulk strings (SCAN's keys, Sentinel's
     * address and port, SCAN's cursor) and SCAN's array of keys. */
    if (depth > 0 && type != '$' && type != '*')
        return bad(why, "an element of an array that is not a bulk string or an array");
    switch (type) {
    case '+':
    case '-':
        it->type = type == '+' ? RESP_STATUS : RESP_ERROR;
        r = text_line(buf, n, &i, it, why);
        break;
    case ':':
        it->type = RESP_INTEGER;
        r = integer_line(buf, n, &i, &v, why);
        if (r == DONE)
            it->n = v;
        break;
    case '$':
        r = length_line(buf, n, &i, depth == 0, RESP_BULK_MAX, &v, why,
                        "a bulk string too long");
        if (r != DONE)
            break;
        if (v < 0) {
            it->type = RESP_NIL;
            it->n = -1;
            it->p = NULL;
            break;
        }
        it->type = RESP_BULK;
        r = bulk_body(buf, n, &i, (size_t)v, it, why);
        break;
    case '*':
        if (depth >= RESP_DEPTH_MAX)
            return bad(why, "arrays nested too deep");
        r = length_line(buf, n, &i, depth == 0,
                        limit > LLONG_MAX ? LLONG_MAX : (unsigned long long)limit, &v, why,
                        "an array with more elements than expected");
        if (r != DONE)
            break;
        it->type = v < 0 ? RESP_NIL_ARRAY : RESP_ARRAY;
        it->n = v;
        it->p = NULL;
        break;
    default:
        return bad(why, "not a RESP2 reply type");
    }
    if (r == DONE)
        *pos = i;
    return r;
}

int resp_parse(const char *buf, size_t n, struct resp_item *items, size_t max, size_t *nitems,
               size_t *used, const char **why)
{
    /* left[d]: the elements still to read of the array open at depth d + 1. */
    size_t left[RESP_DEPTH_MAX];
    int depth = 0;
    size_t pos = 0, count = 0;
    /* Items promised but not read yet: one for the reply itself, then each array's count.
     * count + pending <= max always, so an array announcing more elements than there is room
     * for is malformed at its count, before any of them is read. */
    size_t pending = 1;

    if (max == 0)
        return bad(why, "no room for a reply");
    do {
        struct resp_item it;
        pending--;
        int r = item(buf, n, &pos, depth, max - count - 1 - pending, &it, why);
        if (r != DONE)
            return r;
        items[count++] = it;
        if (depth > 0)
            left[depth - 1]--;
        if (it.type == RESP_ARRAY && it.n > 0) {
            pending += (size_t)it.n;
            left[depth++] = (size_t)it.n;
        }
        while (depth > 0 && left[depth - 1] == 0)
            depth--;
    } while (depth > 0);
    *nitems = count;
    *used = pos;
    return DONE;
}
