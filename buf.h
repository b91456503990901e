/* buf.h: a growable byte buffer, for text that may hold any byte, NUL included (tcprules'
 * keys and values, the lines of a snapshot, a journal read whole). Zero-initialised it is
 * empty and owns nothing. */
#ifndef RELAYLEASE_BUF_H
#define RELAYLEASE_BUF_H

#include <stddef.h>

struct rbuf {
    char *s;
    size_t len, cap;
};

/* Make room for n more bytes. Returns 0, or -1 if memory ran out (errno ENOMEM). */
int rbuf_reserve(struct rbuf *b, size_t n);
/* Append n bytes. Returns 0, or -1 if memory ran out (errno ENOMEM). */
int rbuf_put(struct rbuf *b, const void *p, size_t n);
/* Free the bytes; the buffer is empty again. */
void rbuf_free(struct rbuf *b);

#endif
