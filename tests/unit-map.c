/* unit-map.c: the hash map of relay-cdb's build. Every key added is found, at the first entry
 * added under it; a key never added is not, however close (a prefix, one byte more, a NUL);
 * the table grows past many resizes without losing one; entries may live in the caller's
 * records or in the map's own list over an arena. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "cdb/map.h"
#include "unit.h"

#define N 100000

/* The caller's own entries: keys in an arena, offsets in an array. */
struct entries {
    struct rbuf arena;
    size_t off[N + 10], len[N + 10];
};

static const char *entry_key(const void *owner, size_t i, size_t *len)
{
    const struct entries *e = owner;
    *len = e->len[i];
    return e->arena.s + e->off[i];
}

static size_t key_of(char *buf, unsigned i)
{
    return (size_t)snprintf(buf, 32, "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
}

int main(void)
{
    static struct entries e;
    struct map m = {0};
    m.key = entry_key;
    m.owner = &e;

    CHECK(map_get(&m, "x", 1) == MAP_NONE, "an empty map finds nothing");
    int ok = 1;
    for (unsigned i = 0; i < N && ok; i++) {
        char k[32];
        size_t n = key_of(k, i);
        e.off[i] = e.arena.len;
        e.len[i] = n;
        ok = rbuf_put(&e.arena, k, n) == 0 && map_insert(&m, i, map_hash(k, n), 0) == 0;
    }
    CHECK(ok, "100,000 keys inserted");
    size_t found = 0;
    for (unsigned i = 0; i < N; i++) {
        char k[32];
        size_t n = key_of(k, i);
        found += map_get(&m, k, n) == i;
    }
    CHECK_LONG(found, N, "each is found at its own entry, through every resize");
    CHECK(m.used == N && (m.mask + 1) >= 2 * N, "at most half full (%zu slots)", m.mask + 1);

    /* A second entry under a key that has one: the first stays the one found. */
    e.off[N] = e.arena.len;
    e.len[N] = 8;
    rbuf_put(&e.arena, "10.0.0.5", 8);
    CHECK(map_insert(&m, N, map_hash("10.0.0.5", 8), 0) == 0 && map_get(&m, "10.0.0.5", 8) == 5 &&
              m.used == N,
          "a duplicate key keeps its first entry");
    CHECK(map_get(&m, "10.0.0.", 7) == MAP_NONE, "a prefix of a key is not found");
    CHECK(map_get(&m, "10.0.0.50", 9) == 50 && map_get(&m, "10.0.0.500", 10) == MAP_NONE,
          "nor a key one byte longer than one that is there");
    CHECK(map_get(&m, "10.0.0.5\0", 9) == MAP_NONE, "nor a key with a NUL after it");
    errno = 0;
    CHECK(map_insert(&m, (size_t)UINT32_MAX, 1, 1) == -1 && errno == ENOMEM,
          "an index that a slot cannot hold is refused (ENOMEM)");
    CHECK(map_hash("abc", 3) == map_hash("abc", 3) && map_hash("abc", 3) != map_hash("abd", 3) &&
              map_hash("", 0) != map_hash("\0", 1),
          "the hash depends on every byte and on the length");
    map_free(&m);
    CHECK(m.slot == NULL && m.used == 0, "map_free empties it");

    /* The map's own list over an arena, keys with any byte. */
    struct map own = {0};
    struct rbuf arena = {0};
    const char *keys[] = {"", "a", "a\0", "2001:db8:1:2:", "2001:db8:1:2", "\xff\xfe", "a"};
    const size_t lens[] = {0, 1, 2, 13, 12, 2, 1};
    ok = 1;
    for (size_t i = 0; i < 7; i++) {
        size_t off = arena.len;
        ok = ok && rbuf_put(&arena, keys[i], lens[i]) == 0 &&
             map_push(&own, &arena, off, lens[i]) == 0;
    }
    CHECK(ok && own.n == 7, "map_push: seven entries in the list");
    int each = 1;
    for (size_t i = 0; i < 6; i++)
        each = each && map_get(&own, keys[i], lens[i]) == i;
    CHECK(each, "each key found at its entry, the empty key and a NUL included");
    CHECK(map_get(&own, "a", 1) == 1 && own.used == 6,
          "the repeated key is in the list but the map keeps its first entry");
    CHECK(own.koff[3] == 3 && own.klen[3] == 13, "the list holds each key's offset and length");
    map_free(&own);
    rbuf_free(&arena);
    rbuf_free(&e.arena);
    return unit_done();
}
