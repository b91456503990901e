/* snapshot.c: the format of relay-cdb's snapshot (see snapshot.h): read strictly, written in
 * one pass. No I/O here: relay-cdb reads and writes the file, the tests feed it buffers. */
#include <stdint.h>
#include <string.h>
#include "addr.h"
#include "cdb/snapshot.h"

/* A decimal number at *p of at most max digits and no leading zero (a lone "0" only with
 * zero_ok), followed by stop, which is skipped. Returns 0 and advances *p, or -1. */
static int number(const char **p, const char *end, char stop, int max, int zero_ok,
                  unsigned long long *v)
{
    const char *s = *p;
    unsigned long long x = 0;
    int digits = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (digits == max || (digits == 1 && x == 0))
            return -1;
        x = x * 10 + (unsigned)(*s++ - '0');
        digits++;
    }
    if (digits == 0 || s == end || *s != stop || (x == 0 && !zero_ok))
        return -1;
    *v = x;
    *p = s + 1;
    return 0;
}

int snapshot_check(const char *buf, size_t n, const struct snapshot_id *id, size_t *count,
                   size_t *body, const char **why)
{
    const char *end = buf + n, *p = buf;
    size_t m = sizeof SNAPSHOT_MAGIC - 1;
    unsigned long long dev, ino, cnt;
    if (n < m + 1 || memcmp(buf, SNAPSHOT_MAGIC " ", m + 1) != 0) {
        *why = "not a snapshot (bad magic)";
        return -1;
    }
    if (n > SNAPSHOT_BUF_MAX) {
        *why = "too big";
        return -1;
    }
    p += m + 1;
    if (number(&p, end, ' ', 20, 1, &dev) != 0 || number(&p, end, ' ', 20, 1, &ino) != 0 ||
        number(&p, end, '\n', 20, 1, &cnt) != 0) {
        *why = "bad header";
        return -1;
    }
    if (dev != id->dev || ino != id->ino) {
        *why = "a snapshot of another store directory";
        return -1;
    }
    *body = (size_t)(p - buf);
    /* With the last byte a newline, no scan below can run off the end: each stops at the
     * newline that ends its line, at the latest. */
    if (cnt > 0 && p < end && end[-1] != '\n') {
        *why = "truncated: its last line is cut";
        return -1;
    }
    for (unsigned long long i = 0; i < cnt; i++) {
        if (p == end) {
            *why = "truncated: fewer lines than its header says";
            return -1;
        }
        /* The key, copied to be a string for addr_key_parse: at most ADDR_KEY_MAX - 1 bytes
         * up to the space, none of them a NUL (which would hide the rest from the parse).
         * A space found on a later line leaves a newline in the key, which no key holds. */
        char key[ADDR_KEY_MAX];
        size_t left = (size_t)(end - p);
        const char *sp = memchr(p, ' ', left < sizeof key ? left : sizeof key);
        size_t klen = sp != NULL ? (size_t)(sp - p) : 0;
        struct addr a;
        unsigned bits;
        memcpy(key, p, klen);
        key[klen] = '\0';
        if (klen == 0 || strlen(key) != klen || addr_key_parse(&a, &bits, key) != 0) {
            *why = "a line whose key is not a store key";
            return -1;
        }
        /* The login time: one to twelve digits, the first not a zero, then the newline. */
        p = sp;
        int digits = 0;
        if (*++p == '0')
            digits = -1;
        for (; *p >= '0' && *p <= '9' && digits >= 0; p++)
            if (++digits > 12)
                digits = -1;
        if (digits <= 0 || *p != '\n') {
            *why = "a line whose login time is not a number";
            return -1;
        }
        p++;
    }
    if (p != end) {
        *why = "more lines than its header says";
        return -1;
    }
    *count = (size_t)cnt;
    return 0;
}

int snapshot_next(const char *buf, size_t n, size_t *pos, struct snapshot_entry *e)
{
    const char *line = buf + *pos, *p = line, *end = buf + n;
    if (p >= end)
        return 0;
    while (*p != ' ')
        p++;
    e->klen = (uint16_t)(p - line);
    unsigned long long t = 0;
    for (p++; *p != '\n'; p++)
        t = t * 10 + (unsigned)(*p - '0');
    e->time = (time_t)t;
    e->off = (uint32_t)*pos;
    e->len = (uint16_t)(p + 1 - line);
    *pos += e->len;
    return 1;
}

/* Decimal digits of v at p; returns how many. */
static size_t put_number(char *p, unsigned long long v)
{
    char tmp[24];
    size_t n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

size_t snapshot_header(char *p, const struct snapshot_id *id, size_t count)
{
    size_t n = sizeof SNAPSHOT_MAGIC - 1;
    memcpy(p, SNAPSHOT_MAGIC, n);
    p[n++] = ' ';
    n += put_number(p + n, id->dev);
    p[n++] = ' ';
    n += put_number(p + n, id->ino);
    p[n++] = ' ';
    n += put_number(p + n, count);
    p[n++] = '\n';
    return n;
}

size_t snapshot_line(char *p, const char *key, size_t klen, time_t t)
{
    memcpy(p, key, klen);
    size_t n = klen;
    p[n++] = ' ';
    n += put_number(p + n, (unsigned long long)t);
    p[n++] = '\n';
    return n;
}
