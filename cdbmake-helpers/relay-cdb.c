/* relay-cdb rules.cdb rules.tmp < rules.txt: tcprules, with the fresh allowances merged in.
 *
 * It reads tcprules' input exactly as tcprules does and writes the same records in the same
 * order. Then every fresh allowance in the store becomes a record of its own, ahead of the
 * rule that tcpserver would otherwise have applied to that client, with that rule's
 * variables plus RELAYCLIENT. A deny stays a deny, and a rule that sets RELAYCLIENT already
 * is left as it is. The file is written to rules.tmp, fsynced, closed and renamed over
 * rules.cdb: tcpserver opens the cdb for each connection, so it sees the old file or the new
 * one, never half of one. Any failure leaves rules.cdb as it was. */
#define _GNU_SOURCE /* flock, O_NOFOLLOW */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "cdbmake-helpers/rules.h"
#include "log.h"
#include "settings.h"
#include "store.h"

#define GRANT 1   /* the record gets RELAYCLIENT appended */
#define STATIC 2  /* the record is one of tcprules' */

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

/* Key -> first record with that key (what cdb_find, and so tcpserver, returns).
 * Open addressing; a slot holds the record's index plus one. */
struct map {
    size_t *slot;
    size_t mask;
    size_t used;
    const struct rbuf *arena;
    size_t *koff, *klen; /* per entry, for maps that are not over recs */
    size_t n, cap;
};

static struct map first;  /* over recs */
static struct map v6nets; /* the IPv6 prefix keys of the allowances */

static _Noreturn void nomem(void)
{
    log_fatal(111, "out of memory");
}

static uint64_t hash(const char *k, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
    return h;
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

/* Index of the entry with key k, or (size_t)-1. */
static size_t map_get(const struct map *m, const char *k, size_t n)
{
    if (m->slot == NULL)
        return (size_t)-1;
    for (size_t i = hash(k, n) & m->mask;; i = (i + 1) & m->mask) {
        if (m->slot[i] == 0)
            return (size_t)-1;
        size_t len;
        const char *e = entry_key(m, m->slot[i] - 1, &len);
        if (len == n && memcmp(e, k, n) == 0)
            return m->slot[i] - 1;
    }
}

static void map_grow(struct map *m)
{
    size_t size = m->slot ? (m->mask + 1) * 2 : 1024;
    size_t *slot = calloc(size, sizeof *slot);
    if (slot == NULL)
        nomem();
    if (m->slot != NULL) {
        for (size_t i = 0; i <= m->mask; i++) {
            if (m->slot[i] == 0)
                continue;
            size_t len;
            const char *e = entry_key(m, m->slot[i] - 1, &len);
            size_t j = hash(e, len) & (size - 1);
            while (slot[j] != 0)
                j = (j + 1) & (size - 1);
            slot[j] = m->slot[i];
        }
        free(m->slot);
    }
    m->slot = slot;
    m->mask = size - 1;
}

/* Make entry idx the one for its key, unless the key has one already. */
static void map_add(struct map *m, size_t idx)
{
    if (m->slot == NULL || (m->used + 1) * 2 > m->mask + 1)
        map_grow(m);
    size_t len;
    const char *k = entry_key(m, idx, &len);
    size_t i = hash(k, len) & m->mask;
    for (; m->slot[i] != 0; i = (i + 1) & m->mask) {
        size_t l;
        const char *e = entry_key(m, m->slot[i] - 1, &l);
        if (l == len && memcmp(e, k, len) == 0)
            return;
    }
    m->slot[i] = idx + 1;
    m->used++;
}

static size_t add_rec(const char *k, size_t klen, size_t voff, size_t vlen, int flags)
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
    map_add(&first, nrecs);
    return nrecs++;
}

/* ---- tcprules' part ---------------------------------------------------------------------- */

struct line_value {
    size_t voff, vlen;
};

static int add_static(const char *k, size_t klen, void *arg)
{
    const struct line_value *lv = arg;
    add_rec(k, klen, lv->voff, lv->vlen, STATIC);
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

/* Make tcpserver's lookup of the address text k (or of every address whose text starts with
 * the prefix k) end in a record that grants relaying, with the variables of the rule it
 * would have found otherwise. */
static void merge(const char *k, size_t klen)
{
    size_t at = map_get(&first, k, klen);
    if (at != (size_t)-1) {
        if (settled(&recs[at]))
            count.kept++;
        else {
            recs[at].flags |= GRANT;
            count.merged++;
        }
        return;
    }
    rules_walk(k, klen, found_first, &at);
    if (at != (size_t)-1 && settled(&recs[at])) {
        count.kept++;
        return;
    }
    if (at == (size_t)-1)
        add_rec(k, klen, 0, 0, GRANT);
    else
        add_rec(k, klen, recs[at].voff, recs[at].vlen, GRANT);
    count.records++;
}

static struct rbuf v6keys;

static void add_v6net(const char *k, size_t klen)
{
    if (v6nets.n == v6nets.cap) {
        v6nets.cap = v6nets.cap ? v6nets.cap * 2 : 1024;
        v6nets.koff = realloc(v6nets.koff, v6nets.cap * sizeof *v6nets.koff);
        v6nets.klen = realloc(v6nets.klen, v6nets.cap * sizeof *v6nets.klen);
        if (v6nets.koff == NULL || v6nets.klen == NULL)
            nomem();
    }
    v6nets.koff[v6nets.n] = v6keys.len;
    v6nets.klen[v6nets.n] = klen;
    if (rbuf_put(&v6keys, k, klen) != 0)
        nomem();
    v6nets.arena = &v6keys;
    map_add(&v6nets, v6nets.n++);
}

struct options {
    int v4mapped;
};

static void allowance(const struct record *r, void *arg)
{
    const struct options *opt = arg;
    struct addr a;
    unsigned bits;
    if (addr_key_parse(&a, &bits, r->key) != 0)
        return; /* store_list hands out only valid keys */
    count.allowances++;
    if (a.family == 4) {
        char text[ADDR_TEXT_MAX + 8];
        addr_format(text, &a);
        merge(text, strlen(text));
        if (opt->v4mapped) {
            snprintf(text, sizeof text, "::ffff:%u.%u.%u.%u", a.b[0], a.b[1], a.b[2], a.b[3]);
            merge(text, strlen(text));
        }
        return;
    }
    static struct rules_v6_keys k;
    rules_ip6_keys(&k, a.b, bits);
    if (k.unmatchable) {
        count.unmatchable++;
        return;
    }
    count.partial += (unsigned long)k.partial;
    for (size_t i = 0; i < k.count; i++) {
        size_t len = strlen(k.key[i]);
        merge(k.key[i], len);
        if (len > 0 && k.key[i][len - 1] == ':')
            add_v6net(k.key[i], len);
    }
}

/* A static rule for part of an allowed IPv6 network ("2001:db8:1:2::25:allow,...") is found
 * before the network's own record, so it gets RELAYCLIENT too: every address it can match
 * lies inside the network, since each allowance key is safe as a prefix. */
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
        for (size_t n = r->klen - 1; n > 0; n--)
            if (k[n - 1] == ':' && map_get(&v6nets, k, n) != (size_t)-1) {
                r->flags |= GRANT;
                count.merged++;
                break;
            }
    }
}

/* ---- writing ----------------------------------------------------------------------------- */

/* Open rules.tmp for writing, locked, so that two relay-cdb runs (a rebuild after a login and
 * one by hand, say) never write into the same temp file. A lock won on a file that the winner
 * has since renamed into place is worthless, and truncating it would destroy the live cdb:
 * the lock counts only if the name still leads to the locked file. */
static int open_tmp(const char *tmp)
{
    for (int tries = 0; tries < 1000; tries++) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
        if (fd < 0)
            return -1;
        struct stat held, named;
        if (flock(fd, LOCK_EX) != 0 || fstat(fd, &held) != 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (stat(tmp, &named) == 0 && named.st_dev == held.st_dev &&
            named.st_ino == held.st_ino) {
            if (!S_ISREG(held.st_mode)) {
                close(fd);
                errno = EINVAL;
                return -1;
            }
            if (ftruncate(fd, 0) != 0 || fchmod(fd, 0644) != 0) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
            }
            return fd;
        }
        close(fd);
    }
    errno = EAGAIN;
    return -1;
}

static const char *tmpname;

static _Noreturn void die_write(int fd)
{
    int e = errno;
    if (fd >= 0) {
        unlink(tmpname);
        close(fd);
    }
    log_fatal(111, "unable to write to %s: %s", tmpname, strerror(e));
}

static void write_cdb(const char *cdbname, const char *relayclient)
{
    int fd = open_tmp(tmpname);
    if (fd < 0)
        die_write(-1);
    struct cdb_make cm;
    if (cdb_make_start(&cm, fd) != 0)
        die_write(fd);
    struct rbuf v = {0};
    size_t rclen = strlen(relayclient);
    for (size_t i = 0; i < nrecs; i++) {
        const struct rec *r = &recs[i];
        const char *val = values.s + r->voff;
        size_t vlen = r->vlen;
        if (r->flags & GRANT) {
            v.len = 0;
            if (rbuf_put(&v, val, vlen) != 0 || rbuf_put(&v, "+RELAYCLIENT=", 13) != 0 ||
                rbuf_put(&v, relayclient, rclen + 1) != 0)
                nomem();
            val = v.s;
            vlen = v.len;
        }
        if (cdb_make_add(&cm, keys.s + r->koff, (unsigned)r->klen, val, (unsigned)vlen) != 0)
            die_write(fd);
    }
    rbuf_free(&v);
    /* fsync before the rename: after a crash the name must lead to a whole file, or tcpserver
     * would refuse (or wrongly admit) every client until the next build. */
    if (cdb_make_finish(&cm) != 0 || fsync(fd) != 0)
        die_write(fd);
    if (close(fd) != 0)
        die_write(-1);
    if (rename(tmpname, cdbname) != 0) {
        int e = errno;
        unlink(tmpname);
        log_fatal(111, "unable to move %s to %s: %s", tmpname, cdbname, strerror(e));
    }
}

/* RELAY_CDB_V4MAPPED: unset or "0" off, "1" on; anything else a warning and off. */
static int v4mapped_setting(void)
{
    const char *v = getenv("RELAY_CDB_V4MAPPED");
    if (v == NULL || strcmp(v, "0") == 0)
        return 0;
    if (strcmp(v, "1") == 0)
        return 1;
    log_warn("RELAY_CDB_V4MAPPED must be 0 or 1, not \"%s\": using 0", v);
    return 0;
}

int main(int argc, char **argv)
{
    struct settings cfg;
    struct options opt;
    struct rbuf in = {0};

    log_init("relay-cdb");
    if (argc != 3 || argv[1][0] == '\0' || argv[2][0] == '\0')
        log_fatal(100, "usage: relay-cdb rules.cdb rules.tmp < rules.txt");
    tmpname = argv[2];
    settings_load(&cfg);
    opt.v4mapped = v4mapped_setting();

    /* All of the input is read and checked before the temp file is touched: a bad line
     * leaves both files alone. */
    read_all(0, &in);
    if (rbuf_reserve(&values, 4096) != 0 || rbuf_reserve(&keys, 4096) != 0)
        nomem();
    parse_rules(&in);
    rbuf_free(&in);
    size_t nstatic = nrecs;

    if (cfg.relayclient_ok) {
        struct store store;
        if (store_open(&store, cfg.dir) != 0)
            log_fatal(111, "unable to open store %s: %s", cfg.dir, strerror(errno));
        if (store_list(&store, cfg.expiry, allowance, &opt) != 0)
            log_fatal(111, "unable to list %s: %s", cfg.dir, strerror(errno));
        store_close(&store);
        grant_inside_v6nets();
    }
    if (count.partial > 0)
        log_warn("%lu IPv6 allowances have a zero group inside their prefix, which tcpserver's "
                 "rules match only in part (see relay-cdb(8))", count.partial);
    if (count.unmatchable > 0)
        log_warn("%lu IPv6 allowances cannot be written as tcpserver rules (see relay-cdb(8))",
                 count.unmatchable);

    write_cdb(argv[1], cfg.relayclient);
    if (cfg.log)
        log_info("built %s: %zu rules, %lu allowances: %lu new records, %lu merged, %lu left "
                 "to their rule",
                 argv[1], nstatic, count.allowances, count.records, count.merged, count.kept);
    return 0;
}
