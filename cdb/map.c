/* map.c: the hash map of relay-cdb's build (see map.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "map.h"

uint32_t map_hash(const char *k, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;
    for (; n >= 8; k += 8, n -= 8) {
        memcpy(&w, k, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    if (n > 0) {
        w = 0;
        for (size_t i = 0; i < n; i++)
            w |= (uint64_t)(unsigned char)k[i] << (8 * i);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
    }
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return (uint32_t)(h ^ (h >> 32));
}

static const char *entry_key(const struct map *m, size_t i, size_t *len)
{
    if (m->key != NULL)
        return m->key(m->owner, i, len);
    *len = m->klen[i];
    return m->arena->s + m->koff[i];
}

size_t map_find(const struct map *m, const char *k, size_t n, uint32_t h)
{
    if (m->slot == NULL)
        return MAP_NONE;
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        uint64_t s = m->slot[i];
        if (s == 0)
            return MAP_NONE;
        if ((uint32_t)(s >> 32) != h)
            continue;
        size_t len, idx = (size_t)(uint32_t)s - 1;
        const char *e = entry_key(m, idx, &len);
        if (len == n && memcmp(e, k, n) == 0)
            return idx;
    }
}

size_t map_get(const struct map *m, const char *k, size_t n)
{
    return map_find(m, k, n, map_hash(k, n));
}

static int resize(struct map *m, size_t size)
{
    uint64_t *slot = calloc(size, sizeof *slot);
    if (slot == NULL)
        return -1;
    if (m->slot != NULL) {
        for (size_t i = 0; i <= m->mask; i++) {
            uint64_t s = m->slot[i];
            if (s == 0)
                continue;
            size_t j = (size_t)(s >> 32) & (size - 1);
            while (slot[j] != 0)
                j = (j + 1) & (size - 1);
            slot[j] = s;
        }
        free(m->slot);
    }
    m->slot = slot;
    m->mask = size - 1;
    return 0;
}

int map_insert(struct map *m, size_t idx, uint32_t h, int absent)
{
    if (idx >= UINT32_MAX) {
        errno = ENOMEM; /* a slot has 32 bits for the index */
        return -1;
    }
    if ((m->slot == NULL || (m->used + 1) * 2 > m->mask + 1) &&
        resize(m, m->slot ? (m->mask + 1) * 2 : 1024) != 0)
        return -1;
    size_t len;
    const char *k = entry_key(m, idx, &len);
    size_t i = h & m->mask;
    for (; m->slot[i] != 0; i = (i + 1) & m->mask) {
        uint64_t s = m->slot[i];
        if (absent || (uint32_t)(s >> 32) != h)
            continue;
        size_t l;
        const char *e = entry_key(m, (size_t)(uint32_t)s - 1, &l);
        if (l == len && memcmp(e, k, len) == 0)
            return 0;
    }
    m->slot[i] = (uint64_t)h << 32 | (uint64_t)(idx + 1);
    m->used++;
    return 0;
}

int map_push(struct map *m, const struct rbuf *arena, size_t koff, size_t klen)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        size_t *ko = realloc(m->koff, cap * sizeof *ko);
        if (ko == NULL)
            return -1;
        m->koff = ko;
        size_t *kl = realloc(m->klen, cap * sizeof *kl);
        if (kl == NULL)
            return -1;
        m->klen = kl;
        m->cap = cap;
    }
    m->koff[m->n] = koff;
    m->klen[m->n] = klen;
    m->arena = arena;
    if (map_insert(m, m->n, map_hash(arena->s + koff, klen), 0) != 0)
        return -1;
    m->n++;
    return 0;
}

void map_free(struct map *m)
{
    free(m->slot);
    free(m->koff);
    free(m->klen);
    memset(m, 0, sizeof *m);
}
