/* unit-buf.c: the byte buffer holds any byte, NUL included, grows as it is filled, refuses a
 * size it cannot count, and is empty again after rbuf_free. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "buf.h"
#include "unit.h"

int main(void)
{
    struct rbuf b = {0};
    CHECK(rbuf_put(&b, "", 0) == 0 && b.len == 0, "putting nothing into an empty buffer");
    CHECK(rbuf_put(&b, "a\0b", 3) == 0 && b.len == 3 && memcmp(b.s, "a\0b", 3) == 0,
          "a NUL is kept like any byte");
    size_t cap = b.cap;
    CHECK(rbuf_reserve(&b, cap - b.len) == 0 && b.cap == cap, "reserving what is free grows nothing");
    CHECK(rbuf_reserve(&b, cap - b.len + 1) == 0 && b.cap > cap && b.cap - b.len >= cap - 3 + 1,
          "reserving more grows it");
    CHECK(memcmp(b.s, "a\0b", 3) == 0, "growing keeps the bytes");

    /* 100,000 pieces, every byte value: the buffer ends up holding exactly them. */
    b.len = 0;
    int same = 1;
    for (unsigned i = 0; i < 100000; i++) {
        unsigned char c = (unsigned char)(i * 31);
        if (rbuf_put(&b, &c, 1) != 0)
            same = 0;
    }
    for (unsigned i = 0; i < 100000 && same; i++)
        same = (unsigned char)b.s[i] == (unsigned char)(i * 31);
    CHECK(same && b.len == 100000 && b.cap >= b.len, "100,000 single bytes, in order");

    errno = 0;
    CHECK(rbuf_reserve(&b, SIZE_MAX - 10) == -1 && errno == ENOMEM,
          "a size past what a size_t can double to is refused with ENOMEM");
    CHECK(b.len == 100000 && (unsigned char)b.s[99999] == (unsigned char)(99999u * 31),
          "and the buffer is as it was");
    errno = 0;
    CHECK(rbuf_put(&b, "x", SIZE_MAX / 2 + 1) == -1 && errno == ENOMEM && b.len == 100000,
          "a put that cannot fit is refused, nothing appended");

    rbuf_free(&b);
    CHECK(b.s == NULL && b.len == 0 && b.cap == 0, "rbuf_free leaves an empty buffer");
    CHECK(rbuf_put(&b, "again", 5) == 0 && b.len == 5, "which can be used again");
    rbuf_free(&b);
    rbuf_free(&b);
    CHECK(b.s == NULL, "freeing twice is harmless");
    return unit_done();
}
