/* relay-cdb [-i | -s] rules.cdb rules.tmp < rules.txt: tcprules, with the fresh allowances
 * merged in.
 *
 * It reads tcprules' input exactly as tcprules does and writes the same records in the same
 * order. Then every fresh allowance in the store becomes a record of its own, ahead of the
 * rule that tcpserver would otherwise have applied to that client, with that rule's
 * variables plus RELAYCLIENT. A deny stays a deny, and a rule that sets RELAYCLIENT already
 * is left as it is. The file is written to rules.tmp, fsynced, closed and renamed over
 * rules.cdb: tcpserver opens the cdb for each connection, so it sees the old file or the new
 * one, never half of one. Any failure leaves rules.cdb as it was.
 *
 * Where the allowances come from:
 *   (none)  a full rescan of the store: every record opened, checked and read.
 *   -s      the same, and the result is saved as the snapshot (rules.cdb.idx) for -i, and
 *           the journal of logins (rules.cdb.journal) is emptied: the rescan covers it.
 *   -i      incremental: the snapshot, with each key in the journal looked up again in the
 *           store as relay-check would look it up. Anything wrong with the snapshot, or a
 *           build that did not finish before, means a full rescan (-s) instead.
 * -s and -i are the trigger's (trigger.c), which runs one build at a time; relay-expire's
 * build after its sweep is a -s, so whatever changed in the store without a login (a record
 * removed by hand, relay-ctrl's writer) reaches the cdb at the next sweep. */
#define _GNU_SOURCE /* flock, O_NOFOLLOW */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "cdb/rules.h"
#include "cdb/snapshot.h"
#include "cdb/trigger.h"
#include "log.h"
#include "owner.h"
#include "settings.h"
#include "store.h"

#ifndef MAP_POPULATE
#define MAP_POPULATE 0 /* Linux's: fault the snapshot in with the mmap, not page by page */
#endif

#define GRANT 1   /* the record gets RELAYCLIENT appended */
#define STATIC 2  /* the record is one of tcprules' */
#define READY 4   /* with GRANT: its value has RELAYCLIENT in it already */
#define SHADOW 8  /* an ISATAP shadow key: the value of the static rule it would reach */

/* One cdb record. Key and value live in two arenas; a merged record shares the value of the
 * rule it was made from, and GRANT adds RELAYCLIENT when it is written. */
struct rec {
    size_t koff, voff;
    size_t klen, vlen;
    int flags;
};

static struct rbuf keys, values;
static struct rec *recs;
static size_t nrecs, caprecs;

/* Key -> first entry with that key (for recs: the record that cdb_find, and so tcpserver,
 * returns). Open addressing with linear probing, at most half full. A slot holds 32 bits of
 * the key's hash above the entry's index plus one, so that a probe looks at a key only when
 * the hashes agree, and growing the table looks at none. */
struct map {
    uint64_t *slot;
    size_t mask;
    size_t used;
    const struct rbuf *arena;
    size_t *koff, *klen; /* per entry, for maps that are not over recs */
    size_t n, cap;
};

static struct map first;   /* over recs */
static struct map v6nets;  /* the IPv6 prefix keys of the allowances */
static struct map shadows; /* and their ISATAP shadow keys (rules_ip6_keys) */
static struct map journal; /* the keys in the journal, each once */
static struct map walks;   /* IPv4 prefixes ("10.1.2.") whose fallback rule is known */
static void map_push(struct map *m, const struct rbuf *arena, size_t koff, size_t klen);
static void cdb_put(const char *k, size_t klen, const char *v, size_t vlen);

static _Noreturn void nomem(void)
{
    log_fatal(111, "out of memory");
}

/* Eight bytes at a time, each word mixed in by a multiply: a key costs two or three
 * multiplies rather than one per byte. The keys are the operator's rules and the addresses
 * of clients that logged in, not strings that an attacker can pick by the thousand, so
 * speed is all it is for. */
static uint32_t hash(const char *k, size_t n)
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
    if (m == &first) {
        *len = recs[i].klen;
        return keys.s + recs[i].koff;
    }
    *len = m->klen[i];
    return m->arena->s + m->koff[i];
}

/* Index of the entry with key k, whose hash is h, or (size_t)-1. */
static size_t map_find(const struct map *m, const char *k, size_t n, uint32_t h)
{
    if (m->slot == NULL)
        return (size_t)-1;
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        uint64_t s = m->slot[i];
        if (s == 0)
            return (size_t)-1;
        if ((uint32_t)(s >> 32) != h)
            continue;
        size_t len, idx = (size_t)(uint32_t)s - 1;
        const char *e = entry_key(m, idx, &len);
        if (len == n && memcmp(e, k, n) == 0)
            return idx;
    }
}

static size_t map_get(const struct map *m, const char *k, size_t n)
{
    return map_find(m, k, n, hash(k, n));
}

static void map_resize(struct map *m, size_t size)
{
    uint64_t *slot = calloc(size, sizeof *slot);
    if (slot == NULL)
        nomem();
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
}

/* Make entry idx, whose key hashes to h, the one for its key, unless the key has one
 * already. absent: the caller has just looked the key up and not found it. */
static void map_insert(struct map *m, size_t idx, uint32_t h, int absent)
{
    if (idx >= UINT32_MAX)
        nomem(); /* a slot has 32 bits for the index */
    if (m->slot == NULL || (m->used + 1) * 2 > m->mask + 1)
        map_resize(m, m->slot ? (m->mask + 1) * 2 : 1024);
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
            return;
    }
    m->slot[i] = (uint64_t)h << 32 | (uint64_t)(idx + 1);
    m->used++;
}

/* Add a record; absent as for map_insert. */
static size_t add_rec(const char *k, size_t klen, size_t voff, size_t vlen, int flags,
                      uint32_t h, int absent)
{
    if (nrecs == caprecs) {
        caprecs = caprecs ? caprecs * 2 : 4096;
        recs = realloc(recs, caprecs * sizeof *recs);
        if (recs == NULL)
            nomem();
    }
    struct rec *r = &recs[nrecs];
    r->koff = keys.len;
    r->klen = klen;
    r->voff = voff;
    r->vlen = vlen;
    r->flags = flags;
    if (rbuf_put(&keys, k, klen) != 0)
        nomem();
    map_insert(&first, nrecs, h, absent);
    return nrecs++;
}

/* ---- tcprules' part ---------------------------------------------------------------------- */

struct line_value {
    size_t voff, vlen;
};

/* Is there a static rule for an exact IPv4 address? Without one, an IPv4 allowance need not
 * be looked up: no other key can equal its text. */
static int static_v4_exact;

static int add_static(const char *k, size_t klen, void *arg)
{
    const struct line_value *lv = arg;
    size_t n = 0;
    while (n < klen && ((k[n] >= '0' && k[n] <= '9') || k[n] == '.'))
        n++;
    if (n == klen && klen > 0 && k[klen - 1] != '.')
        static_v4_exact = 1;
    add_rec(k, klen, lv->voff, lv->vlen, STATIC, hash(k, klen), 0);
    return 0;
}

static void read_all(int fd, struct rbuf *in)
{
    for (;;) {
        if (rbuf_reserve(in, 65536) != 0)
            nomem();
        ssize_t got = read(fd, in->s + in->len, in->cap - in->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            log_fatal(111, "unable to read input: %s", strerror(errno));
        if (got == 0)
            return;
        in->len += (size_t)got;
    }
}

/* Show a line in a message as tcprules does: its text, cut at a NUL. (log.c turns control
 * characters into '?'.) */
static _Noreturn void refuse_line(unsigned long lineno, const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    log_fatal(100, "unable to parse line %lu: %.*s", lineno, (int)(len < 400 ? len : 400),
              line);
}

static void parse_rules(const struct rbuf *in)
{
    unsigned long lineno = 0;
    size_t pos = 0;
    while (pos < in->len) {
        const char *line = in->s + pos;
        const char *nl = memchr(line, '\n', in->len - pos);
        size_t len = nl ? (size_t)(nl - line) + 1 : in->len - pos;
        pos += len;
        lineno++;

        const char *addr;
        size_t addrlen;
        struct line_value lv = {values.len, 0};
        switch (rules_parse_line(line, len, &addr, &addrlen, &values)) {
        case RULES_SKIP:
            continue;
        case RULES_NOCOLON:
            log_warn("line %lu has no colon: ignored, as tcprules does", lineno);
            continue;
        case RULES_BAD:
            refuse_line(lineno, line, len);
        case RULES_NOMEM:
            nomem();
        case RULES_RULE:
            break;
        }
        lv.vlen = values.len - lv.voff;
        int r = rules_expand(addr, addrlen, add_static, &lv);
        if (r == -1)
            refuse_line(lineno, line, len);
        if (r != 0)
            nomem();
    }
}

/* ---- the allowances ---------------------------------------------------------------------- */

struct counts {
    unsigned long allowances, records, merged, kept, partial, unmatchable;
};

static struct counts count;

static int found_first(const char *k, size_t n, void *arg)
{
    size_t *at = arg;
    *at = map_get(&first, k, n);
    return *at != (size_t)-1;
}

/* Would a client that tcpserver finds under this record be granted relaying anyway, or
 * refused outright? Then an allowance has nothing to add. */
static int settled(const struct rec *r)
{
    const char *v = values.s + r->voff;
    return (r->flags & GRANT) || rules_value_denies(v, r->vlen) ||
           rules_value_sets(v, r->vlen, "RELAYCLIENT");
}

/* The value of a record made for an allowance from the static rule at ((size_t)-1: none):
 * the rule's variables and RELAYCLIENT, put together once per rule rather than once per
 * record. */
struct ready {
    size_t voff, vlen; /* vlen 0: not made yet (a made one holds at least RELAYCLIENT) */
};
static struct ready *ready; /* per static record, then one for no rule */
static size_t nready;
static const char *relayclient;

static void ready_value(size_t at, size_t *voff, size_t *vlen)
{
    struct ready *r = &ready[at == (size_t)-1 ? nready - 1 : at];
    if (r->vlen == 0) {
        size_t from = at == (size_t)-1 ? 0 : recs[at].voff;
        size_t len = at == (size_t)-1 ? 0 : recs[at].vlen;
        size_t room = len + sizeof "+RELAYCLIENT=" + strlen(relayclient);
        if (rbuf_reserve(&values, room) != 0)
            nomem();
        char *p = values.s + values.len;
        memcpy(p, values.s + from, len);
        /* The NUL that ends the string ends the record's last variable too. */
        int n = snprintf(p + len, room - len, "+RELAYCLIENT=%s", relayclient);
        if (n < 0 || (size_t)n + 1 != room - len)
            nomem(); /* cannot be: room is counted above */
        r->voff = values.len;
        r->vlen = room;
        values.len += r->vlen;
    }
    *voff = r->voff;
    *vlen = r->vlen;
}

/* Where tcpserver's lookup of an IPv4 address that has no record of its own ends: at a rule
 * for one of its prefixes ("10.1.2.", "10.1.", "10.") or the default. The allowances add no
 * record whose key ends in a dot, so the answer depends on the prefix alone, and each
 * "a.b.c." is walked once. */
static struct rbuf walkkeys;
static size_t *walk_at, capwalk;

static size_t fallback_v4(const char *k, size_t klen)
{
    size_t plen = klen;
    while (plen > 0 && k[plen - 1] != '.')
        plen--;
    size_t w = map_find(&walks, k, plen, hash(k, plen));
    if (w != (size_t)-1)
        return walk_at[w];
    size_t at = (size_t)-1;
    rules_walk(k, plen, found_first, &at);
    if (walks.n == capwalk) {
        capwalk = capwalk ? capwalk * 2 : 1024;
        walk_at = realloc(walk_at, capwalk * sizeof *walk_at);
        if (walk_at == NULL)
            nomem();
    }
    size_t koff = walkkeys.len;
    if (rbuf_put(&walkkeys, k, plen) != 0)
        nomem();
    walk_at[walks.n] = at;
    map_push(&walks, &walkkeys, koff, plen);
    return at;
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
static void merge(const char *k, size_t klen)
{
    int v4 = memchr(k, ':', klen) == NULL;
    uint32_t h = 0;
    size_t at = (size_t)-1;
    if (!v4 || static_v4_exact) {
        h = hash(k, klen);
        at = map_find(&first, k, klen, h);
    }
    if (at != (size_t)-1) {
        if (settled(&recs[at]))
            count.kept++;
        else {
            recs[at].flags |= GRANT;
            count.merged++;
        }
        return;
    }
    if (v4)
        at = fallback_v4(k, klen);
    else
        rules_walk(k, klen, found_first, &at);
    if (at != (size_t)-1 && settled(&recs[at])) {
        count.kept++;
        return;
    }
    if (at == (size_t)-1 || (recs[at].flags & STATIC)) {
        size_t voff, vlen;
        ready_value(at, &voff, &vlen);
        if (v4)
            cdb_put(k, klen, values.s + voff, vlen);
        else
            add_rec(k, klen, voff, vlen, GRANT | READY, h, 1);
    } else {
        add_rec(k, klen, recs[at].voff, recs[at].vlen, GRANT, h, 1);
    }
    count.records++;
}

/* Add the key at koff in arena (klen bytes, already there) as a new entry of m. */
static void map_push(struct map *m, const struct rbuf *arena, size_t koff, size_t klen)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->koff = realloc(m->koff, m->cap * sizeof *m->koff);
        m->klen = realloc(m->klen, m->cap * sizeof *m->klen);
        if (m->koff == NULL || m->klen == NULL)
            nomem();
    }
    m->koff[m->n] = koff;
    m->klen[m->n] = klen;
    m->arena = arena;
    map_insert(m, m->n, hash(arena->s + koff, klen), 0);
    m->n++;
}

static struct rbuf v6keys;

static void add_v6net(struct map *m, const char *k, size_t klen)
{
    size_t koff = v6keys.len;
    if (rbuf_put(&v6keys, k, klen) != 0)
        nomem();
    map_push(m, &v6keys, koff, klen);
}

static int found_static(const char *k, size_t n, void *arg)
{
    size_t at = map_get(&first, k, n);
    if (at == (size_t)-1 || !(recs[at].flags & STATIC))
        return 0;
    *(size_t *)arg = at;
    return 1;
}

/* The shadow key k (klen bytes) of an allowed network: tcpserver's lookup of every ISATAP
 * address in the network ends at it before it reaches the network's key, and those
 * addresses are keyed apart by relay-check. It gets the value of the static rule that
 * tcpserver would apply to them without the allowance: the first static key among its
 * prefixes, the allowances' records skipped (the first key that is not a static rule's has
 * none behind it: tcprules' records go in first), and the rule's own value, without the
 * RELAYCLIENT a merge may give it. A static rule for k itself is found first anyway: it is
 * left as it is (and grant_inside_v6nets leaves it and everything longer alone). */
static void shadow(const char *k, size_t klen)
{
    add_v6net(&shadows, k, klen);
    uint32_t h = hash(k, klen);
    if (map_find(&first, k, klen, h) != (size_t)-1)
        return; /* a static rule, or the same shadow for another allowance */
    size_t at = (size_t)-1;
    rules_walk(k, klen, found_static, &at);
    if (at == (size_t)-1)
        add_rec(k, klen, 0, 0, SHADOW, h, 1); /* no rule: tcpserver's default, allow */
    else
        add_rec(k, klen, recs[at].voff, recs[at].vlen, SHADOW, h, 1);
}

struct options {
    int v4mapped;
    const struct addr_policy *keys;
};

/* Grant relaying to the allowance with the key k, klen bytes (a valid store key: every key
 * is checked on its way in, by store_list, addr_key_parse or snapshot_parse). */
static void grant(const char *k, size_t klen, const struct options *opt)
{
    count.allowances++;
    if (memchr(k, ':', klen) == NULL) {
        /* IPv4: the key is the address's text, which is what tcpserver looks up. */
        merge(k, klen);
        if (opt->v4mapped) {
            /* tcpserver -6 shows this client as ::ffff:a.b.c.d, and relay-check also takes
             * the forms that embed it (NAT64 and the like) for it: each as its own exact
             * key, and only those that relay-check keys to this very address. */
            char key[ADDR_KEY_MAX];
            static struct rules_v4_forms forms;
            if (klen >= sizeof key)
                return;
            memcpy(key, k, klen);
            key[klen] = '\0';
            rules_v4_forms(&forms, key, opt->keys);
            for (size_t i = 0; i < forms.count; i++)
                merge(forms.key[i], strlen(forms.key[i]));
        }
        return;
    }
    struct addr a;
    unsigned bits;
    char key[ADDR_KEY_MAX];
    if (klen >= sizeof key)
        return;
    memcpy(key, k, klen);
    key[klen] = '\0';
    if (addr_key_parse(&a, &bits, key) != 0)
        return;
    static struct rules_v6_keys v6;
    rules_ip6_keys(&v6, a.b, bits);
    if (v6.unmatchable) {
        count.unmatchable++;
        return;
    }
    count.partial += (unsigned long)v6.partial;
    for (size_t i = 0; i < v6.count; i++) {
        size_t len = strlen(v6.key[i]);
        merge(v6.key[i], len);
        if (len > 0 && v6.key[i][len - 1] == ':')
            add_v6net(&v6nets, v6.key[i], len);
    }
    for (size_t i = 0; i < v6.shadows; i++)
        shadow(v6.shadow[i], strlen(v6.shadow[i]));
}

/* A static rule for part of an allowed IPv6 network ("2001:db8:1:2::25:allow,...") is found
 * before the network's own record, so it gets RELAYCLIENT too: every address it can match
 * lies inside the network, since each allowance key is safe as a prefix. But not a rule that
 * an ISATAP address may reach: one at or under a shadow key (the longest prefix is looked at
 * first, and a shadow is longer than its network's key). */
static void grant_inside_v6nets(void)
{
    if (v6nets.n == 0)
        return;
    size_t nstatic = nrecs;
    for (size_t i = 0; i < nstatic; i++) {
        struct rec *r = &recs[i];
        const char *k = keys.s + r->koff;
        if (!(r->flags & STATIC) || memchr(k, ':', r->klen) == NULL ||
            memchr(k, '@', r->klen) != NULL || memchr(k, '=', r->klen) != NULL ||
            map_get(&first, k, r->klen) != i || settled(r))
            continue;
        for (size_t n = r->klen; n > 0; n--) {
            if (k[n - 1] != ':')
                continue;
            if (shadows.n > 0 && map_get(&shadows, k, n) != (size_t)-1)
                break;
            if (n < r->klen && map_get(&v6nets, k, n) != (size_t)-1) {
                r->flags |= GRANT;
                count.merged++;
                break;
            }
        }
    }
}

/* ---- where the allowances come from ------------------------------------------------------ */

/* A snapshot bigger than this is not one of ours. */
#define SNAPSHOT_MAX (1024L * 1024 * 1024)
/* A journal bigger than this (some 70,000 logins since the last build) is not worth looking
 * up key by key: the store is rescanned instead. */
#define JOURNAL_MAX (1024L * 1024)

/* The allowances: the snapshot's lines, where the snapshot is mapped (snap; no copy of it),
 * then allow[], the entries made here for the journal's keys or by a rescan, whose lines
 * ("<key> <time>\n", as in a snapshot) are in akeys. */
static const char *snap;
static size_t snaplen, snapbody;
static struct rbuf akeys;
static struct snapshot_entry *allow;
static size_t nallow, capallow;

static void add_allowance(const char *k, size_t klen, time_t t)
{
    if (nallow == capallow) {
        capallow = capallow ? capallow * 2 : 4096;
        allow = realloc(allow, capallow * sizeof *allow);
        if (allow == NULL)
            nomem();
    }
    if (rbuf_reserve(&akeys, SNAPSHOT_LINE_MAX) != 0)
        nomem();
    if (akeys.len + SNAPSHOT_LINE_MAX > SNAPSHOT_BUF_MAX)
        log_fatal(111, "too many allowances");
    struct snapshot_entry *e = &allow[nallow++];
    e->off = (uint32_t)akeys.len;
    e->klen = (uint16_t)klen;
    e->len = (uint16_t)snapshot_line(akeys.s + akeys.len, k, klen, t > 0 ? t : 1);
    e->time = t;
    akeys.len += e->len;
}

static void forget_snapshot(void)
{
    if (snap != NULL)
        munmap((void *)snap, snaplen);
    snap = NULL;
    snaplen = snapbody = 0;
    nallow = 0;
    akeys.len = 0;
}

static void scanned(const struct record *r, void *arg)
{
    (void)arg;
    add_allowance(r->key, strlen(r->key), r->time);
}

enum mode {
    PLAIN,       /* a rescan, as tcprules' stand-in */
    SNAPSHOT,    /* -s: a rescan, saved as the snapshot; the journal is emptied */
    INCREMENTAL  /* -i: the snapshot and the journal */
};

/* Beside the cdb: the snapshot, its temp file, the journal and the journal being read. */
struct files {
    char idx[PATH_MAX], idxtmp[PATH_MAX], journal[PATH_MAX], taken[PATH_MAX];
};

/* How the allowances were found, for the log line. */
struct source {
    int rescanned;
    const char *why;        /* why a rescan, when -i was asked for */
    unsigned long jkeys;    /* -i: the keys in the journal */
};

static void rescan(struct store *st, const struct settings *cfg)
{
    forget_snapshot();
    if (store_list(st, cfg->expiry, scanned, NULL) != 0)
        log_fatal(111, "unable to list %s: %s", cfg->dir, strerror(errno));
}

/* Read size bytes of fd into b, at its end. 0, or -1 with *why set. */
static int read_exactly(int fd, size_t size, struct rbuf *b, const char **why)
{
    if (rbuf_reserve(b, size + 1) != 0)
        nomem();
    size_t n = 0;
    while (n < size) {
        ssize_t got = read(fd, b->s + b->len + n, size - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            *why = got < 0 ? strerror(errno) : "shorter than its size";
            return -1;
        }
        n += (size_t)got;
    }
    b->len += size;
    b->s[b->len] = '\0';
    return 0;
}

/* Load the snapshot into allow[]. 0 if it is loaded, 1 if there is none, or -1 with *why
 * saying why it cannot be used. It is trusted only as far as this checks it: no one but its
 * writers (root and the owner of its directory) may be able to change it, and every byte of
 * it must parse. It is mapped rather than read: no copy of it, no memory to fault in. Only
 * the builders could truncate it under the mapping (and so kill the build with SIGBUS), and
 * they never do: a snapshot is replaced by a rename, never rewritten in place. */
static int load_snapshot(const struct files *f, const struct snapshot_id *id, const char **why)
{
    int fd = open(f->idx, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        *why = errno == ELOOP ? "a symbolic link" : strerror(errno);
        return -1;
    }
    struct stat st, dst;
    const char *bad = NULL;
    if (fstat(fd, &st) != 0)
        bad = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        bad = "not a regular file";
    else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        bad = "writable by its group or by others";
    else if (st.st_uid != 0 && st.st_uid != geteuid() &&
             (trigger_dir_stat(f->idx, &dst) != 0 || st.st_uid != dst.st_uid))
        bad = "owned by neither root, us, nor the owner of its directory";
    else if (st.st_size > SNAPSHOT_MAX)
        bad = "too big";
    else if (st.st_size == 0)
        bad = "empty";
    void *map = MAP_FAILED;
    if (bad == NULL) {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (map == MAP_FAILED)
            bad = strerror(errno);
    }
    close(fd);
    if (bad != NULL) {
        *why = bad;
        return -1;
    }

    forget_snapshot();
    snap = map;
    snaplen = (size_t)st.st_size;
    size_t n;
    if (snapshot_check(snap, snaplen, id, &n, &snapbody, why) != 0) {
        forget_snapshot();
        return -1;
    }
    return 0;
}

/* Most of the snapshot's keys are not in the journal, and a bit per length and last two
 * bytes of the journal's keys says so for nearly all of them without a lookup. (Every key
 * has at least four bytes: "::_1".) */
static unsigned char journal_bits[8192];

static size_t journal_bit(const char *k, size_t klen)
{
    size_t tail = (size_t)(unsigned char)k[klen - 1] | (size_t)(unsigned char)k[klen - 2] << 8;
    return (tail ^ klen * 0x9e5U) % (8 * sizeof journal_bits);
}

static int in_journal(const char *k, size_t klen)
{
    size_t b = journal_bit(k, klen);
    return (journal_bits[b / 8] >> (b % 8) & 1) && map_get(&journal, k, klen) != (size_t)-1;
}

/* Bring the snapshot up to date with the journal's keys: each is looked up in the store as
 * relay-check looks it up (the record checked in full, its login time not in the future),
 * and what the store says replaces what the snapshot said. 0, or 1 if the journal is too big
 * to be worth it, or could not be read (then nothing was changed: the caller rescans). */
static int apply_journal(int fd, const struct files *f, const struct settings *cfg,
                         struct source *src)
{
    static struct rbuf jbuf;
    struct stat st;
    const char *why = "";
    if (fstat(fd, &st) != 0)
        why = strerror(errno);
    else if (st.st_size > JOURNAL_MAX) {
        src->why = "a big journal";
        return 1;
    } else if (read_exactly(fd, (size_t)st.st_size, &jbuf, &why) == 0)
        why = NULL;
    if (why != NULL) {
        log_warn("unable to read %s: %s: rescanning the store", f->taken, why);
        return 1;
    }

    unsigned long bad = 0;
    for (size_t pos = 0; pos < jbuf.len;) {
        char *line = jbuf.s + pos;
        char *nl = memchr(line, '\n', jbuf.len - pos);
        size_t len = nl ? (size_t)(nl - line) : jbuf.len - pos;
        pos += len + 1;
        struct addr a;
        unsigned bits;
        if (nl == NULL || len == 0 || len >= ADDR_KEY_MAX || memchr(line, '\0', len) != NULL) {
            bad++;
            continue;
        }
        *nl = '\0';
        if (addr_key_parse(&a, &bits, line) != 0) {
            bad++;
            continue;
        }
        if (map_get(&journal, line, len) == (size_t)-1) {
            map_push(&journal, &jbuf, (size_t)(line - jbuf.s), len);
            size_t b = journal_bit(line, len);
            journal_bits[b / 8] |= (unsigned char)(1U << (b % 8));
        }
    }
    if (bad > 0)
        log_warn("%lu lines of %s are not store keys: ignored", bad, f->taken);
    src->jkeys = journal.n;
    if (journal.n == 0)
        return 0;

    /* What the snapshot says of these keys is dropped as it is merged (take). */
    for (size_t j = 0; j < journal.n; j++) {
        const char *k = jbuf.s + journal.koff[j];
        struct record r;
        switch (store_lookup(cfg->dir, k, &r, &why)) {
        case STORE_FOUND:
            add_allowance(k, journal.klen[j], r.time);
            break;
        case STORE_MISSING:
            break;
        case STORE_INVALID:
            log_warn("invalid record %s/%s: %s", cfg->dir, k, why);
            break;
        case STORE_ERROR:
            log_warn("unable to read %s/%s: %s", cfg->dir, k, strerror(errno));
            break;
        }
    }
    return 0;
}

/* Fill allow[] with the allowances, as the mode says. id gets the store's identity. */
static void collect(enum mode mode, const struct settings *cfg, const struct files *f,
                    struct snapshot_id *id, struct source *src)
{
    struct store st;
    struct stat sd;
    if (store_open(&st, cfg->dir) != 0 || fstat(st.dirfd, &sd) != 0)
        log_fatal(111, "unable to open store %s: %s", cfg->dir, strerror(errno));
    id->dev = (unsigned long long)sd.st_dev;
    id->ino = (unsigned long long)sd.st_ino;
    src->rescanned = 1;
    src->why = NULL;
    if (mode == PLAIN) {
        rescan(&st, cfg);
        store_close(&st);
        return;
    }

    /* A journal left taken is a build that did not finish: it was not read to the end, or
     * the snapshot was not saved after it. Taking the journal before the store is read is
     * what makes a rescan cover every key in it. */
    struct stat lst;
    int leftover = lstat(f->taken, &lst) == 0;
    int jfd = trigger_journal_take(f->journal, f->taken);
    if (jfd < 0 && errno != ENOENT) {
        log_warn("unable to take the journal %s: %s: rescanning the store", f->journal,
                 strerror(errno));
        mode = SNAPSHOT;
    }
    if (mode == INCREMENTAL) {
        const char *why = "";
        int r = -1;
        if (leftover)
            log_warn("%s is left from a build that did not finish: rescanning the store",
                     f->taken);
        else if ((r = load_snapshot(f, id, &why)) < 0)
            log_warn("unable to use the snapshot %s: %s: rescanning the store", f->idx, why);
        else if (r > 0)
            src->why = "no snapshot yet";
        if (r == 0 && jfd >= 0 && apply_journal(jfd, f, cfg, src) != 0)
            r = 1;
        src->rescanned = r != 0;
    }
    if (src->rescanned)
        rescan(&st, cfg);
    if (jfd >= 0)
        close(jfd);
    store_close(&st);
}

/* ---- writing ----------------------------------------------------------------------------- */

/* The temp files this run has made and not yet renamed: every way out removes them, exit()
 * (log_fatal, out of memory) through atexit, a fatal signal through its handler. A flag is
 * set only once its name is complete, and cleared before the rename. */
#define TMP_CDB 0
#define TMP_IDX 1
static char made_name[2][PATH_MAX];
static volatile sig_atomic_t made[2];

static void remove_made(void)
{
    for (int i = 0; i < 2; i++)
        if (made[i]) {
            made[i] = 0;
            (void)unlink(made_name[i]);
        }
}

static void on_fatal_signal(int sig)
{
    int e = errno;
    remove_made();
    (void)signal(sig, SIG_DFL);
    errno = e;
    (void)raise(sig); /* blocked while we run: delivered when the handler returns */
}

/* Catch the signals that would end the build, unless we were started with one ignored. */
static void catch_fatal_signals(void)
{
    static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGXFSZ, SIGXCPU,
                               SIGALRM, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigfillset(&sa.sa_mask);
        (void)sigaction(sigs[i], &sa, NULL); /* valid signals and handler: cannot fail */
    }
    if (atexit(remove_made) != 0)
        log_fatal(111, "unable to register the temp file's removal");
}

/* How long a temp file that another build holds is waited for: a build takes a few seconds
 * at most, and the trigger's lock keeps its own builds apart; past this the holder is stuck,
 * and this build gives up rather than hang (the next login's or sweep's build retries). */
#define TMP_WAIT_MS 5000

/* The temp file name is there already. If a live build holds it (its lock, taken on the
 * file the name leads to), 1: wait. If not, it is left from a build that died (or planted):
 * remove it, never write into it, and 0. -1 with errno if it can be neither checked nor
 * removed. Only a builder (our account: the file is 0600) can open it for its lock; a file we
 * may not open is no builder's. */
static int remove_stale(const char *tmp)
{
    int fd = open(tmp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno != EACCES && errno != ELOOP && errno != EPERM && errno != ENXIO)
            return -1;
    } else {
        struct stat held, named;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK || e == EINTR)
                return 1;
            errno = e;
            return -1;
        }
        /* Locked: but the name may lead elsewhere by now (removed and made anew by another
         * build, which holds that one). Then look again. */
        int same = fstat(fd, &held) == 0 && lstat(tmp, &named) == 0 &&
                   held.st_dev == named.st_dev && held.st_ino == named.st_ino;
        if (!same) {
            close(fd);
            return 0;
        }
    }
    int r = unlink(tmp) == 0 || errno == ENOENT ? 0 : -1;
    int e = errno;
    if (fd >= 0)
        close(fd); /* after the unlink: who waits on this lock finds the name gone */
    errno = e;
    if (r == 0)
        log_warn("removed %s, left by a build that did not finish", tmp);
    return r;
}

/* Make the temp file tmp, new (O_EXCL), private (0600) and locked, so that two relay-cdb runs
 * (a rebuild after a login and one by hand, say) never write into the same file, and none
 * ever opens for writing a file it did not make: a stale one is removed, not reused. The lock
 * counts only while the name leads to the locked file (a build that found ours stale in the
 * moment before we locked it has removed it: then make another). which: TMP_CDB or TMP_IDX,
 * for the removal on the way out. Returns the descriptor, or -1 with errno (EBUSY: another
 * build held it for TMP_WAIT_MS). */
static int open_tmp(const char *tmp, int which)
{
    struct timespec nap = {0, 10000000L};
    long waited = 0;
    for (int tries = 0; tries < 1000; tries++) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                      0600);
        if (fd >= 0) {
            struct stat held, named;
            if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &held) == 0 &&
                lstat(tmp, &named) == 0 && held.st_dev == named.st_dev &&
                held.st_ino == named.st_ino) {
                (void)snprintf(made_name[which], PATH_MAX, "%s", tmp); /* tmp is shorter */
                made[which] = 1;
                return fd;
            }
            close(fd);
            continue;
        }
        if (errno != EEXIST)
            return -1;
        int r = remove_stale(tmp);
        if (r < 0)
            return -1;
        if (r > 0) {
            if (waited >= TMP_WAIT_MS) {
                errno = EBUSY;
                return -1;
            }
            nanosleep(&nap, NULL);
            waited += 10;
        }
    }
    errno = EAGAIN;
    return -1;
}

static const char *tmpname;
static struct cdb_make cm;
static int cdbfd = -1;

static _Noreturn void die_write(void)
{
    int e = errno;
    if (e == EBUSY && cdbfd < 0)
        log_fatal(111, "another build has held %s for %d s: the cdb was not rebuilt", tmpname,
                  TMP_WAIT_MS / 1000);
    if (cdbfd >= 0)
        close(cdbfd);
    log_fatal(111, "unable to write to %s: %s", tmpname, strerror(e)); /* atexit: unlink */
}

/* Start rules.tmp. The records of IPv4 allowances go in as they are made (cdb_put); the rest
 * at the end (cdb_end), once every flag is known. tcpserver finds the same record for every
 * key either way: no two records made here share a key but static ones, which keep their
 * order. */
static void cdb_begin(void)
{
    cdbfd = open_tmp(tmpname, TMP_CDB);
    if (cdbfd < 0 || cdb_make_start(&cm, cdbfd) != 0)
        die_write();
}

static void cdb_put(const char *k, size_t klen, const char *v, size_t vlen)
{
    if (cdb_make_add(&cm, k, (unsigned)klen, v, (unsigned)vlen) != 0)
        die_write();
}

static void cdb_end(const char *cdbname, const char *rc)
{
    struct rbuf v = {0};
    size_t rclen = strlen(rc);
    for (size_t i = 0; i < nrecs; i++) {
        const struct rec *r = &recs[i];
        const char *val = values.s + r->voff;
        size_t vlen = r->vlen;
        if ((r->flags & (GRANT | READY)) == GRANT) {
            v.len = 0;
            if (rbuf_put(&v, val, vlen) != 0 || rbuf_put(&v, "+RELAYCLIENT=", 13) != 0 ||
                rbuf_put(&v, rc, rclen + 1) != 0)
                nomem();
            val = v.s;
            vlen = v.len;
        }
        cdb_put(keys.s + r->koff, r->klen, val, vlen);
    }
    rbuf_free(&v);
    /* fsync before the rename: after a crash the name must lead to a whole file, or tcpserver
     * would refuse (or wrongly admit) every client until the next build. The temp file is
     * private until it is complete; the cdb is for tcpserver to read, as tcprules makes it. */
    if (cdb_make_finish(&cm) != 0 || fsync(cdbfd) != 0 || fchmod(cdbfd, 0644) != 0)
        die_write();
    int fd = cdbfd;
    cdbfd = -1;
    if (close(fd) != 0)
        die_write();
    made[TMP_CDB] = 0;
    if (rename(tmpname, cdbname) != 0) {
        int e = errno;
        unlink(tmpname);
        log_fatal(111, "unable to move %s to %s: %s", tmpname, cdbname, strerror(e));
    }
}

/* Write the n buffers of iov, all of them, whatever writev takes at a time. */
static int writev_all(int fd, struct iovec *iov, size_t n)
{
    while (n > 0) {
        int batch = n < IOV_MAX ? (int)n : IOV_MAX;
        ssize_t w = writev(fd, iov, batch);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        size_t done = (size_t)w;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

/* The lines of the next snapshot, as runs of neighbours where they are (one run, for a
 * snapshot that lost no entry), after a slot for its header. */
static struct iovec *kept;
static size_t nkept = 1, capkept, keptlines;

static void keep_line(const char *line, size_t len)
{
    keptlines++;
    if (nkept > 1 && (const char *)kept[nkept - 1].iov_base + kept[nkept - 1].iov_len == line) {
        kept[nkept - 1].iov_len += len;
        return;
    }
    if (nkept >= capkept) {
        capkept = capkept ? capkept * 2 : 64;
        kept = realloc(kept, capkept * sizeof *kept);
        if (kept == NULL)
            nomem();
    }
    kept[nkept].iov_base = (void *)line;
    kept[nkept++].iov_len = len;
}

/* Save the kept lines as the snapshot for the next -i: a new header and the lines, copied
 * from where they are, in one writev, then a rename. Mode 0600, made by the builder, which
 * runs as the owner of the directory (never as root there: see main): only the builders may
 * read or write it.
 * No fsync: the snapshot is a cache of the store. A crash can leave it empty, torn, or as it
 * was before this build; snapshot_check refuses the first two (the count and the last line
 * tell), and an older snapshot holds only allowances that were in the store, each with its
 * login time, so it can grant nothing that was not granted before; what it lacks comes back
 * with the next login or relay-expire's next rescan. Returns 0, or -1 (warned). */
static int write_snapshot(const struct files *f, const struct snapshot_id *id)
{
    char header[SNAPSHOT_HEADER_MAX];
    if (kept == NULL) {
        kept = malloc(sizeof *kept); /* the header's slot alone: no allowance */
        if (kept == NULL)
            nomem();
    }
    kept[0].iov_base = header;
    kept[0].iov_len = snapshot_header(header, id, keptlines);
    int fd = open_tmp(f->idxtmp, TMP_IDX);
    int r = fd >= 0 && writev_all(fd, kept, nkept) == 0 ? 0 : -1;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && r == 0) {
        r = -1;
        e = errno;
    }
    if (r != 0) {
        if (fd >= 0)
            remove_made();
        log_warn("unable to write the snapshot %s: %s", f->idxtmp, strerror(e));
        return -1;
    }
    made[TMP_IDX] = 0;
    if (rename(f->idxtmp, f->idx) != 0) {
        e = errno;
        unlink(f->idxtmp);
        log_warn("unable to move %s to %s: %s", f->idxtmp, f->idx, strerror(e));
        return -1;
    }
    return 0;
}

/* One allowance, whose line starts with its key at k: merged if it is fresh, and kept for
 * the next snapshot. */
static int keeping; /* -i or -s: a snapshot is written */

/* Fresh allowances under a key that relay-check never looks up with these settings, and the
 * first of them, for the one warning of the build. */
static unsigned long not_current;
static char first_not_current[ADDR_KEY_MAX];

/* Is the key (klen bytes) one that addr_key makes under the policy? A record under another
 * key (written with a wider RELAY_IPV6_PREFIX, or before its range was keyed apart, such as
 * 64:ff9b::_64 or fe80::_64) grants nothing through relay-check, so it grants nothing here:
 * it is left out, never narrowed (which /64 of a /48 would it be?) nor widened. */
static int current(const char *k, size_t klen, const struct addr_policy *p)
{
    char key[ADDR_KEY_MAX];
    if (klen >= sizeof key)
        return 0;
    memcpy(key, k, klen);
    key[klen] = '\0';
    if (addr_key_current(key, p))
        return 1;
    if (not_current++ == 0)
        memcpy(first_not_current, key, klen + 1);
    return 0;
}

static void take(const char *k, const struct snapshot_entry *e, int from_snapshot, time_t now,
                 const struct settings *cfg, const struct options *opt)
{
    if (from_snapshot && journal.n > 0 && in_journal(k, e->klen))
        return;
    if (e->time < 1 || e->time > SNAPSHOT_TIME_MAX || !store_fresh(e->time, now, cfg->expiry))
        return;
    /* An IPv4 key is keyed to itself whatever the settings (unit-rules checks that of
     * addr_key), and every key in a snapshot passed this check when it was written: the
     * snapshot's IPv4 keys, nearly all of a login's build, need no second look. An IPv6
     * key's fate depends on RELAY_IPV6_PREFIX and RELAY_NAT64_PREFIX, which may have
     * changed since. */
    if ((!from_snapshot || memchr(k, ':', e->klen) != NULL) && !current(k, e->klen, &cfg->keys))
        return;
    if (keeping)
        keep_line(k, e->len);
    if (cfg->relayclient_ok)
        grant(k, e->klen, opt);
}

static _Noreturn void usage(void)
{
    log_fatal(100, "usage: relay-cdb [-i | -s] rules.cdb rules.tmp < rules.txt");
}

/* Root works in the cdb's directory only as its owner: every file there (temp files, the
 * snapshot, the journal) is made by that account, and a name planted there by it can never
 * lead root to a file of its own. A root operator's build, or a builder that a root login
 * started, so becomes that account for good before it touches anything. */
static void become_owner(const char *cdbname)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(cdbname, '/');
    size_t n = slash == NULL ? 0 : slash == cdbname ? 1 : (size_t)(slash - cdbname);
    if (n >= sizeof dir)
        log_fatal(100, "%s is too long", cdbname);
    memcpy(dir, n == 0 ? "." : cdbname, n == 0 ? 1 : n);
    dir[n == 0 ? 1 : n] = '\0';
    if (owner_drop(dir) != 0)
        log_fatal(100, "unable to become the owner of %s to build %s there: %s", dir, cdbname,
                  strerror(errno));
}

static void name_beside(char *buf, const char *cdb, const char *suffix)
{
    int n = snprintf(buf, PATH_MAX, "%s%s", cdb, suffix);
    if (n < 0 || n >= PATH_MAX)
        log_fatal(100, "%s is too long", cdb);
}

int main(int argc, char **argv)
{
    struct settings cfg;
    struct options opt;
    struct rbuf in = {0};
    enum mode mode = PLAIN;
    int c;

    log_init("relay-cdb");
    opterr = 0;
    while ((c = getopt(argc, argv, "is")) != -1) {
        if (c != 'i' && c != 's')
            usage();
        if (mode != PLAIN)
            usage();
        mode = c == 'i' ? INCREMENTAL : SNAPSHOT;
    }
    if (argc - optind != 2 || argv[optind][0] == '\0' || argv[optind + 1][0] == '\0')
        usage();
    const char *cdbname = argv[optind];
    tmpname = argv[optind + 1];
    if (strlen(tmpname) >= PATH_MAX)
        log_fatal(100, "%s is too long", tmpname);
    become_owner(cdbname);
    catch_fatal_signals();
    static struct files f;
    keeping = mode != PLAIN;
    if (mode != PLAIN) {
        name_beside(f.idx, cdbname, SNAPSHOT_SUFFIX);
        name_beside(f.idxtmp, cdbname, SNAPSHOT_TMP);
        name_beside(f.journal, cdbname, TRIGGER_JOURNAL);
        name_beside(f.taken, cdbname, TRIGGER_TAKEN);
    }
    settings_load(&cfg, log_warn);
    if (cfg.cdb_v4mapped.invalid != NULL)
        log_warn("RELAY_CDB_V4MAPPED must be 0 or 1, not \"%s\": using 0",
                 cfg.cdb_v4mapped.invalid);
    opt.v4mapped = cfg.cdb_v4mapped.on;
    opt.keys = &cfg.keys;

    /* All of the input is read and checked before the temp file is touched: a bad line
     * leaves both files alone. */
    read_all(0, &in);
    if (rbuf_reserve(&values, 4096) != 0 || rbuf_reserve(&keys, 4096) != 0)
        nomem();
    parse_rules(&in);
    rbuf_free(&in);
    size_t nstatic = nrecs;

    /* With an invalid RELAY_RELAYCLIENT nothing is granted; tcprules' stand-in then need not
     * read the store at all, but the snapshot is kept up to date all the same. */
    struct snapshot_id id = {0, 0};
    struct source src = {0, NULL, 0};
    if (cfg.relayclient_ok || mode != PLAIN)
        collect(mode, &cfg, &f, &id, &src);

    relayclient = cfg.relayclient;
    nready = nstatic + 1;
    ready = calloc(nready, sizeof *ready);
    if (ready == NULL)
        nomem();
    cdb_begin();

    /* The snapshot's lines, then those made here. What the snapshot says of a key in the
     * journal gives way to what the store said of it (apply_journal), and what is stale by
     * now is left out, of the cdb and of the next snapshot. */
    struct snapshot_entry e;
    time_t now = time(NULL);
    for (size_t pos = snapbody; snap != NULL && snapshot_next(snap, snaplen, &pos, &e);)
        take(snap + e.off, &e, 1, now, &cfg, &opt);
    for (size_t i = 0; i < nallow; i++)
        take(akeys.s + allow[i].off, &allow[i], 0, now, &cfg, &opt);
    if (cfg.relayclient_ok)
        grant_inside_v6nets();
    if (count.partial > 0)
        log_warn("%lu IPv6 allowances have a zero group inside their prefix, which tcpserver's "
                 "rules match only in part (see relay-cdb(8))", count.partial);
    if (count.unmatchable > 0)
        log_warn("%lu IPv6 allowances cannot be written as tcpserver rules (see relay-cdb(8))",
                 count.unmatchable);
    if (not_current > 0)
        log_warn("%lu allowances are under keys that relay-check does not look up with these "
                 "settings (another RELAY_IPV6_PREFIX or RELAY_NAT64_PREFIX, or a range keyed "
                 "apart since), such as %s: left out",
                 not_current, first_not_current);

    cdb_end(cdbname, cfg.relayclient);
    /* The journal read for this build goes only once the snapshot holds what it said; a
     * journal left taken makes the next -i a rescan. */
    if (mode != PLAIN && write_snapshot(&f, &id) == 0 && unlink(f.taken) != 0 &&
        errno != ENOENT)
        log_warn("unable to remove %s: %s", f.taken, strerror(errno));
    if (cfg.log) {
        char how[128] = "";
        /* Cut short at worst: the longest fits. */
        if (mode != PLAIN && !src.rescanned)
            (void)snprintf(how, sizeof how, "; from the snapshot and %lu journal keys",
                           src.jkeys);
        else if (mode != PLAIN)
            (void)snprintf(how, sizeof how, "; from a rescan of the store%s%s%s",
                           src.why ? " (" : "", src.why ? src.why : "", src.why ? ")" : "");
        log_info("built %s: %zu rules, %lu allowances: %lu new records, %lu merged, %lu left "
                 "to their rule%s",
                 cdbname, nstatic, count.allowances, count.records, count.merged, count.kept,
                 how);
    }
    return 0;
}
