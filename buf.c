/* buf.c: the growable byte buffer. The capacity doubles, so appending n bytes one piece at a
 * time costs O(n) copies in all. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"

int rbuf_reserve(struct rbuf *b, size_t n)
{
    if (n <= b->cap - b->len)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n) {
        if (cap > ((size_t)-1) / 2) {
            errno = ENOMEM;
            return -1;
        }
        cap *= 2;
    }
    char *s = realloc(b->s, cap);
    if (s == NULL)
        return -1;
    b->s = s;
    b->cap = cap;
    return 0;
}

int rbuf_put(struct rbuf *b, const void *p, size_t n)
{
    if (rbuf_reserve(b, n) != 0)
        return -1;
    if (n > 0)
        memcpy(b->s + b->len, p, n);
    b->len += n;
    return 0;
}

void rbuf_free(struct rbuf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
