/* resp.h: the few pieces of RESP2 (the Redis protocol) relaylease speaks: requests built as
 * arrays of bulk strings, and replies parsed strictly from a caller's buffer, with no
 * allocation and no I/O. Anything this parser does not expect is malformed: a reply that a
 * real Redis would never send grants nothing. */
#ifndef RELAYLEASE_RESP_H
#define RELAYLEASE_RESP_H

#include <stddef.h>

enum resp_type {
    RESP_STATUS,    /* +text */
    RESP_ERROR,     /* -TEXT ... */
    RESP_INTEGER,   /* :n */
    RESP_BULK,      /* $n then n bytes */
    RESP_NIL,       /* $-1 */
    RESP_ARRAY,     /* *n: the next n items (in the flattened list) are its elements */
    RESP_NIL_ARRAY  /* *-1 */
};

/* One item of a reply. p and len point into the caller's buffer (the text of a status or
 * an error, the bytes of a bulk string); n is an integer's value or an array's count. */
struct resp_item {
    enum resp_type type;
    const char *p;
    size_t len;
    long long n;
};

/* A bulk string longer than this is malformed: records are at most 1024 bytes, keys less. */
#define RESP_BULK_MAX 4096
/* Arrays nest at most this deep (SCAN's reply: a cursor and an array of keys). */
#define RESP_DEPTH_MAX 2

/* Append to out (cap bytes, of which *len are used) the request "*argc\r\n$len\r\narg\r\n"...
 * Returns 0, or -1 with errno EMSGSIZE if it does not fit (out is then as it was). */
int resp_request(char *out, size_t cap, size_t *len, int argc, const char *const *argv,
                 const size_t *lens);

/* Parse one whole reply at buf[0..n). Its items go into items (max of them), flattened in
 * order: an array's item, then its elements (each of which may be an array in turn, up to
 * RESP_DEPTH_MAX). Returns 1 with *nitems and *used (bytes of buf the reply took) set; 0 if
 * buf holds only the start of a reply (read more); -1 if it is malformed, or has more items
 * than max, with *why saying what is wrong. Strict: decimal lengths with no sign (but the
 * -1 of nil), no leading zero, no spaces; CRLF exactly; a status or an error with no CR, LF
 * or NUL in it; a bulk string at most RESP_BULK_MAX bytes followed by CRLF. */
int resp_parse(const char *buf, size_t n, struct resp_item *items, size_t max, size_t *nitems,
               size_t *used, const char **why);

#endif
