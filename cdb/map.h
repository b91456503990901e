/* map.h: a hash map from byte-string keys to entry indexes, for relay-cdb's build: the first
 * record under each key (which is the one cdb_find, and so tcpserver, returns), the journal's
 * keys, the allowed IPv6 networks. The keys are not copied: they stay where the caller keeps
 * them, either in entries of its own (key()) or in an arena with the map's list of offsets
 * (map_push).
 *
 * Open addressing with linear probing, at most half full. A slot holds 32 bits of the key's
 * hash above the entry's index plus one, so that a probe looks at a key only when the hashes
 * agree, and growing the table looks at none. Zero-initialised, a map is empty. */
#ifndef RELAYLEASE_MAP_H
#define RELAYLEASE_MAP_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

#define MAP_NONE ((size_t)-1)

struct map {
    uint64_t *slot;
    size_t mask;
    size_t used;
    /* Entry i's key: key(owner, i, &len) if key is set (entries kept by the caller), else
     * klen[i] bytes at koff[i] in arena (entries added by map_push). */
    const char *(*key)(const void *owner, size_t i, size_t *len);
    const void *owner;
    const struct rbuf *arena;
    size_t *koff, *klen;
    size_t n, cap; /* map_push's entries */
};

/* The hash of n bytes at k, as the map uses it. Eight bytes at a time, each word mixed in by a
 * multiply: a key costs two or three multiplies rather than one per byte. The keys are the
 * operator's rules and the addresses of clients that logged in, not strings that an attacker
 * can pick by the thousand, so speed is all it is for. */
uint32_t map_hash(const char *k, size_t n);

/* The entry with key k (n bytes), whose hash is h, or MAP_NONE. */
size_t map_find(const struct map *m, const char *k, size_t n, uint32_t h);
size_t map_get(const struct map *m, const char *k, size_t n);

/* Make entry idx, whose key hashes to h, the one for its key, unless the key has one
 * already. absent: the caller has just looked the key up and not found it (saves a compare).
 * 0, or -1 with errno ENOMEM (also for an index that a slot cannot hold). */
int map_insert(struct map *m, size_t idx, uint32_t h, int absent);

/* Add the key at koff in arena (klen bytes, already there) as entry n of m's own list. Every
 * push must name the same arena. 0, or -1 with errno ENOMEM. */
int map_push(struct map *m, const struct rbuf *arena, size_t koff, size_t klen);

/* Free what the map holds (not the keys); it is empty again. */
void map_free(struct map *m);

#endif
