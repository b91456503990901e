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
/* The longest text of a status or an error. Redis's longest for these commands is its
 * "unknown command" error, about 300 bytes; a longer line is malformed as soon as it is that
 * long, so that a server that drips bytes with no CRLF cannot make the caller buffer more. */
#define RESP_LINE_MAX 1024

/* Append to out (cap bytes, of which *len are used) the request "*argc\r\n$len\r\narg\r\n"...
 * lens[i] is the length of argv[i] (any bytes); with lens NULL each argv[i] is a C string.
 * Returns 0 with *len grown, or -1 with errno EMSGSIZE if it does not fit, EINVAL if argc < 1
 * or *len > cap (out and *len are then as they were). */
int resp_request(char *out, size_t cap, size_t *len, int argc, const char *const *argv,
                 const size_t *lens);

/* Parse one whole reply at buf[0..n). Its items go into items (max of them), flattened in
 * order: an array's item, then its elements (each of which may be an array in turn, up to
 * RESP_DEPTH_MAX). Returns 1 with *nitems and *used (bytes of buf the reply took; bytes after
 * them are the caller's business) set; 0 if buf holds only the start of a reply (read more);
 * -1 if it is malformed, or has more items than max, with *why saying what is wrong. items is
 * undefined unless 1. Strict: decimal lengths with no sign (but the -1 of nil), no leading
 * zero, no spaces; CRLF exactly; a status or an error of 1 to RESP_LINE_MAX bytes with no CR,
 * LF or NUL in it; an integer that fits a long long, no "+", no "-0"; a bulk string at most
 * RESP_BULK_MAX bytes followed by CRLF; the elements of an array only bulk strings (not nil)
 * or arrays (not nil), as Redis sends for SCAN and SENTINEL. A buffer that holds the start
 * of an acceptable reply is never -1, and one that cannot become one is -1 as soon as that is
 * certain, so no piece grows without bound (a status or error line: RESP_LINE_MAX + 3 bytes,
 * a bulk length line: 7, an integer: 23, a count: the digits of max + 3, a bulk string: its
 * length + 2): a server that drips bytes cannot make a caller buffer without end. */
int resp_parse(const char *buf, size_t n, struct resp_item *items, size_t max, size_t *nitems,
               size_t *used, const char **why);

#endif
