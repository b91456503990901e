/* merge.c: the tcprules merge (see merge.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "cdb/merge.h"

#define GRANT 1   /* the record gets RELAYCLIENT appended */
#define STATIC 2  /* the record is one of tcprules' */
#define READY 4   /* with GRANT: its value has RELAYCLIENT in it already */
#define SHADOW 8  /* an ISATAP shadow key: the value of the static rule it would reach */

static const char *rec_key(const void *owner, size_t i, size_t *len)
{
    const struct merge *m = owner;
    *len = m->recs[i].klen;
    return m->keys.s + m->recs[i].koff;
}

int merge_init(struct merge *m)
{
    memset(m, 0, sizeof *m);
    m->first.key = rec_key;
    m->first.owner = m;
    return rbuf_reserve(&m->values, 4096) != 0 || rbuf_reserve(&m->keys, 4096) != 0 ? -1 : 0;
}

/* Add a record; absent as for map_insert. Its index, or MAP_NONE with errno ENOMEM. */
static size_t add_rec(struct merge *m, const char *k, size_t klen, size_t voff, size_t vlen,
                      int flags, uint32_t h, int absent)
{
    if (m->nrecs == m->caprecs) {
        size_t cap = m->caprecs ? m->caprecs * 2 : 4096;
        struct merge_rec *r = realloc(m->recs, cap * sizeof *r);
        if (r == NULL)
            return MAP_NONE;
        m->recs = r;
        m->caprecs = cap;
    }
    struct merge_rec *r = &m->recs[m->nrecs];
    r->koff = m->keys.len;
    r->klen = klen;
    r->voff = voff;
    r->vlen = vlen;
    r->flags = flags;
    if (rbuf_put(&m->keys, k, klen) != 0 || map_insert(&m->first, m->nrecs, h, absent) != 0)
        return MAP_NONE;
    return m->nrecs++;
}

/* ---- tcprules' part ---------------------------------------------------------------------- */

struct line_value {
    struct merge *m;
    size_t voff, vlen;
};

static int add_static(const char *k, size_t klen, void *arg)
{
    const struct line_value *lv = arg;
    size_t n = 0;
    while (n < klen && ((k[n] >= '0' && k[n] <= '9') || k[n] == '.'))
        n++;
    if (n == klen && klen > 0 && k[klen - 1] != '.')
        lv->m->static_v4_exact = 1;
    return add_rec(lv->m, k, klen, lv->voff, lv->vlen, STATIC, map_hash(k, klen), 0) ==
                   MAP_NONE
               ? -2
               : 0;
}

enum rules_line merge_line(struct merge *m, const char *line, size_t len)
{
    const char *addr;
    size_t addrlen;
    struct line_value lv = {m, m->values.len, 0};
    enum rules_line r = rules_parse_line(line, len, &addr, &addrlen, &m->values);
    if (r != RULES_RULE)
        return r;
    lv.vlen = m->values.len - lv.voff;
    int e = rules_expand(addr, addrlen, add_static, &lv);
    if (e == -1)
        return RULES_BAD;
    if (e != 0) {
        errno = ENOMEM;
        return RULES_NOMEM;
    }
    return RULES_RULE;
}

int merge_start(struct merge *m, const char *relayclient, int v4mapped,
                const struct addr_policy *policy, merge_put_fn *put, void *arg)
{
    m->nstatic = m->nrecs;
    m->relayclient = relayclient;
    m->v4mapped = v4mapped;
    m->policy = policy;
    m->put = put;
    m->put_arg = arg;
    m->nready = m->nstatic + 1;
    m->ready = calloc(m->nready, sizeof *m->ready);
    return m->ready == NULL ? -1 : 0;
}

/* ---- the allowances ---------------------------------------------------------------------- */

static int found_first(const char *k, size_t n, void *arg)
{
    const struct merge *m = ((void **)arg)[0];
    size_t *at = ((void **)arg)[1];
    *at = map_get(&m->first, k, n);
    return *at != MAP_NONE;
}

/* The first record (tcpserver's) among the candidate keys of k: MAP_NONE if none. */
static size_t walk_first(const struct merge *m, const char *k, size_t klen)
{
    size_t at = MAP_NONE;
    void *arg[2] = {(void *)m, &at};
    rules_walk(k, klen, found_first, arg);
    return at;
}

/* Would a client that tcpserver finds under this record be granted relaying anyway, or
 * refused outright? Then an allowance has nothing to add. */
static int settled(const struct merge *m, const struct merge_rec *r)
{
    const char *v = m->values.s + r->voff;
    return (r->flags & GRANT) || rules_value_denies(v, r->vlen) ||
           rules_value_sets(v, r->vlen, "RELAYCLIENT");
}

/* The value of a record made for an allowance from the static rule at (MAP_NONE: none): the
 * rule's variables and RELAYCLIENT, put together once per rule rather than once per record. */
static int ready_value(struct merge *m, size_t at, size_t *voff, size_t *vlen)
{
    struct merge_ready *r = &m->ready[at == MAP_NONE ? m->nready - 1 : at];
    if (r->vlen == 0) {
        size_t from = at == MAP_NONE ? 0 : m->recs[at].voff;
        size_t len = at == MAP_NONE ? 0 : m->recs[at].vlen;
        size_t room = len + sizeof "+RELAYCLIENT=" + strlen(m->relayclient);
        if (rbuf_reserve(&m->values, room) != 0)
            return -1;
        char *p = m->values.s + m->values.len;
        memcpy(p, m->values.s + from, len);
        /* The NUL that ends the string ends the record's last variable too. */
        int n = snprintf(p + len, room - len, "+RELAYCLIENT=%s", m->relayclient);
        if (n < 0 || (size_t)n + 1 != room - len) {
            errno = ENOMEM; /* cannot be: room is counted above */
            return -1;
        }
        r->voff = m->values.len;
        r->vlen = room;
        m->values.len += r->vlen;
    }
    *voff = r->voff;
    *vlen = r->vlen;
    return 0;
}

/* Where tcpserver's lookup of an IPv4 address that has no record of its own ends: at a rule
 * for one of its prefixes ("10.1.2.", "10.1.", "10.") or the default. The allowances add no
 * record whose key ends in a dot, so the answer depends on the prefix alone, and each
 * "a.b.c." is walked once. Returns 0 with *at set, or -1. */
static int fallback_v4(struct merge *m, const char *k, size_t klen, size_t *at)
{
    size_t plen = klen;
    while (plen > 0 && k[plen - 1] != '.')
        plen--;
    size_t w = map_find(&m->walks, k, plen, map_hash(k, plen));
    if (w != MAP_NONE) {
        *at = m->walk_at[w];
        return 0;
    }
    *at = walk_first(m, k, plen);
    if (m->walks.n == m->capwalk) {
        size_t cap = m->capwalk ? m->capwalk * 2 : 1024;
        size_t *wa = realloc(m->walk_at, cap * sizeof *wa);
        if (wa == NULL)
            return -1;
        m->walk_at = wa;
        m->capwalk = cap;
    }
    size_t koff = m->walkkeys.len;
    if (rbuf_put(&m->walkkeys, k, plen) != 0)
        return -1;
    m->walk_at[m->walks.n] = *at;
    return map_push(&m->walks, &m->walkkeys, koff, plen);
}

/* Make tcpserver's lookup of the address text k (or of every address whose text starts with
 * the prefix k) end in a record that grants relaying, with the variables of the rule it
 * would have found otherwise.
 *
 * The record for an IPv4 allowance goes straight into the cdb: no later lookup here can
 * need it. Prefix walks stop only at keys that end in a dot (static rules, see
 * fallback_v4) or hold a colon, and no key is merged twice, as each allowance is in the list
 * once (a store has one file per key; a journal's keys replace the snapshot's). Were one
 * there twice, by a snapshot edited by hand, its two records would be the same. So the map
 * stays as small as the static rules, and every lookup in it stays in the cache. */
static int merge_key(struct merge *m, const char *k, size_t klen)
{
    int v4 = memchr(k, ':', klen) == NULL;
    uint32_t h = 0;
    size_t at = MAP_NONE;
    if (!v4 || m->static_v4_exact) {
        h = map_hash(k, klen);
        at = map_find(&m->first, k, klen, h);
    }
    if (at != MAP_NONE) {
        if (settled(m, &m->recs[at]))
            m->count.kept++;
        else {
            m->recs[at].flags |= GRANT;
            m->count.merged++;
        }
        return 0;
    }
    if (v4) {
        if (fallback_v4(m, k, klen, &at) != 0)
            return -1;
    } else
        at = walk_first(m, k, klen);
    if (at != MAP_NONE && settled(m, &m->recs[at])) {
        m->count.kept++;
        return 0;
    }
    if (at == MAP_NONE || (m->recs[at].flags & STATIC)) {
        size_t voff, vlen;
        if (ready_value(m, at, &voff, &vlen) != 0)
            return -1;
        if (v4) {
            int r = m->put(k, klen, m->values.s + voff, vlen, m->put_arg);
            if (r != 0)
                return r;
        } else if (add_rec(m, k, klen, voff, vlen, GRANT | READY, h, 1) == MAP_NONE)
            return -1;
    } else if (add_rec(m, k, klen, m->recs[at].voff, m->recs[at].vlen, GRANT, h, 1) ==
               MAP_NONE)
        return -1;
    m->count.records++;
    return 0;
}

static int add_v6net(struct merge *m, struct map *to, const char *k, size_t klen)
{
    size_t koff = m->v6keys.len;
    if (rbuf_put(&m->v6keys, k, klen) != 0)
        return -1;
    return map_push(to, &m->v6keys, koff, klen);
}

static int found_static(const char *k, size_t n, void *arg)
{
    const struct merge *m = ((void **)arg)[0];
    size_t at = map_get(&m->first, k, n);
    if (at == MAP_NONE || !(m->recs[at].flags & STATIC))
        return 0;
    *(size_t *)((void **)arg)[1] = at;
    return 1;
}

/* The shadow key k (klen bytes) of an allowed network: tcpserver's lookup of every ISATAP
 * address in the network ends at it before it reaches the network's key, and those
 * addresses are keyed apart by relay-check. It gets the value of the static rule that
 * tcpserver would apply to them without the allowance: the first static key among its
 * prefixes, the allowances' records skipped (the first key that is not a static rule's has
 * none behind it: tcprules' records go in first), and the rule's own value, without the
 * RELAYCLIENT a merge may give it. A static rule for k itself is found first anyway: it is
 * left as it is (and merge_finish leaves it and everything longer alone). */
static int shadow(struct merge *m, const char *k, size_t klen)
{
    if (add_v6net(m, &m->shadows, k, klen) != 0)
        return -1;
    uint32_t h = map_hash(k, klen);
    if (map_find(&m->first, k, klen, h) != MAP_NONE)
        return 0; /* a static rule, or the same shadow for another allowance */
    size_t at = MAP_NONE;
    void *arg[2] = {m, &at};
    rules_walk(k, klen, found_static, arg);
    size_t r;
    if (at == MAP_NONE)
        r = add_rec(m, k, klen, 0, 0, SHADOW, h, 1); /* no rule: tcpserver's default, allow */
    else
        r = add_rec(m, k, klen, m->recs[at].voff, m->recs[at].vlen, SHADOW, h, 1);
    return r == MAP_NONE ? -1 : 0;
}

int merge_grant(struct merge *m, const char *k, size_t klen)
{
    m->count.allowances++;
    char key[ADDR_KEY_MAX];
    if (memchr(k, ':', klen) == NULL) {
        /* IPv4: the key is the address's text, which is what tcpserver looks up. */
        int r = merge_key(m, k, klen);
        if (r != 0 || !m->v4mapped)
            return r;
        /* tcpserver -6 shows this client as ::ffff:a.b.c.d, and relay-check also takes the
         * forms that embed it (NAT64 and the like) for it: each as its own exact key, and
         * only those that relay-check keys to this very address. */
        if (klen >= sizeof key)
            return 0;
        memcpy(key, k, klen);
        key[klen] = '\0';
        rules_v4_forms(&m->forms, key, m->policy);
        for (size_t i = 0; i < m->forms.count; i++)
            if ((r = merge_key(m, m->forms.key[i], strlen(m->forms.key[i]))) != 0)
                return r;
        return 0;
    }
    struct addr a;
    unsigned bits;
    if (klen >= sizeof key)
        return 0;
    memcpy(key, k, klen);
    key[klen] = '\0';
    if (addr_key_parse(&a, &bits, key) != 0)
        return 0;
    struct rules_v6_keys *v6 = &m->v6;
    rules_ip6_keys(v6, a.b, bits);
    if (v6->unmatchable) {
        m->count.unmatchable++;
        return 0;
    }
    m->count.partial += (unsigned long)v6->partial;
    for (size_t i = 0; i < v6->count; i++) {
        size_t len = strlen(v6->key[i]);
        int r = merge_key(m, v6->key[i], len);
        if (r != 0)
            return r;
        if (len > 0 && v6->key[i][len - 1] == ':' && add_v6net(m, &m->v6nets, v6->key[i], len))
            return -1;
    }
    for (size_t i = 0; i < v6->shadows; i++)
        if (shadow(m, v6->shadow[i], strlen(v6->shadow[i])) != 0)
            return -1;
    return 0;
}

/* A static rule for part of an allowed IPv6 network ("2001:db8:1:2::25:allow,...") is found
 * before the network's own record, so it gets RELAYCLIENT too: every address it can match
 * lies inside the network, since each allowance key is safe as a prefix. But not a rule that
 * an ISATAP address may reach: one at or under a shadow key (the longest prefix is looked at
 * first, and a shadow is longer than its network's key). */
void merge_finish(struct merge *m)
{
    if (m->v6nets.n == 0)
        return;
    size_t nstatic = m->nrecs;
    for (size_t i = 0; i < nstatic; i++) {
        struct merge_rec *r = &m->recs[i];
        const char *k = m->keys.s + r->koff;
        if (!(r->flags & STATIC) || memchr(k, ':', r->klen) == NULL ||
            memchr(k, '@', r->klen) != NULL || memchr(k, '=', r->klen) != NULL ||
            map_get(&m->first, k, r->klen) != i || settled(m, r))
            continue;
        for (size_t n = r->klen; n > 0; n--) {
            if (k[n - 1] != ':')
                continue;
            if (m->shadows.n > 0 && map_get(&m->shadows, k, n) != MAP_NONE)
                break;
            if (n < r->klen && map_get(&m->v6nets, k, n) != MAP_NONE) {
                r->flags |= GRANT;
                m->count.merged++;
                break;
            }
        }
    }
}

int merge_write(struct merge *m)
{
    struct rbuf v = {0};
    size_t rclen = strlen(m->relayclient);
    int r = 0;
    for (size_t i = 0; i < m->nrecs && r == 0; i++) {
        const struct merge_rec *rec = &m->recs[i];
        const char *val = m->values.s + rec->voff;
        size_t vlen = rec->vlen;
        if ((rec->flags & (GRANT | READY)) == GRANT) {
            v.len = 0;
            if (rbuf_put(&v, val, vlen) != 0 || rbuf_put(&v, "+RELAYCLIENT=", 13) != 0 ||
                rbuf_put(&v, m->relayclient, rclen + 1) != 0) {
                r = -1;
                break;
            }
            val = v.s;
            vlen = v.len;
        }
        r = m->put(m->keys.s + rec->koff, rec->klen, val, vlen, m->put_arg);
    }
    int e = errno;
    rbuf_free(&v);
    errno = e;
    return r;
}

void merge_free(struct merge *m)
{
    rbuf_free(&m->keys);
    rbuf_free(&m->values);
    rbuf_free(&m->v6keys);
    rbuf_free(&m->walkkeys);
    map_free(&m->first);
    map_free(&m->v6nets);
    map_free(&m->shadows);
    map_free(&m->walks);
    free(m->recs);
    free(m->walk_at);
    free(m->ready);
    m->recs = NULL;
    m->walk_at = NULL;
    m->ready = NULL;
    m->nrecs = m->caprecs = m->nstatic = m->capwalk = m->nready = 0;
}
