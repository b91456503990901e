/* store/redis.c: the Redis backend, for several hosts. Writers SET each record on the primary
 * (found through Sentinel when RELAY_REDIS_SENTINELS is set) with a TTL a minute longer than
 * the expiry, so that Redis itself drops what is stale; readers GET from RELAY_REDIS, a
 * replica on their own host. The record carries the login time and the user: a reader judges
 * the age itself and never trusts the TTL, nor anything in a reply beyond what is checked
 * here. Every exchange has one deadline (RELAY_REDIS_TIMEOUT), and any failure is an error
 * for the caller to report: no grant, no record, and the login or session goes on. */
#define _DEFAULT_SOURCE /* explicit_bzero on glibc and musl alike */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "redis/client.h"
#include "redis/resp.h"
#include "settings.h"
#include "store.h"
#include "store/backend.h"
#include "store/redis.h"

#define MAGIC "relaylease2 "
/* A record is one short line, as in the directory store. */
#define RECORD_MAX 1024
/* Longer than the expiry, so that clocks a little apart and a reader whose RELAY_EXPIRY is a
 * little longer never find a record gone early; the reader's own age check is what counts. */
#define TTL_MARGIN 60
#define PASS_MAX 512
/* AUTH's reply and GET's, a record of RECORD_MAX at most, with room to spare. */
#define SHORT_BUF 2048
/* A listing: SCAN asks for LIST_COUNT keys at a time, a hint that Redis may exceed a little;
 * a reply of more than LIST_KEYS keys is refused. Their GETs go LIST_GETS to a write, and
 * the buffer holds the replies to one write. */
#define LIST_COUNT "256"
#define LIST_KEYS 1024
#define LIST_ITEMS (LIST_KEYS + 3)
#define LIST_GETS 128
/* SCAN ends in about as many batches as the store holds keys over LIST_COUNT; a server whose
 * cursor goes round for ever is cut off here, at 64 million allowances or so. */
#define LIST_BATCHES_MAX 262144
#define LIST_BUF (LIST_GETS * (RECORD_MAX + 16) + LIST_KEYS * (ADDR_KEY_MAX + 32))
#define LIST_REQ (LIST_GETS * (sizeof STORE_REDIS_PREFIX + ADDR_KEY_MAX + 24) + PASS_MAX + 256)
/* AUTH and one command: a SET of a record is the longest. */
#define SHORT_REQ (2 * RECORD_MAX + PASS_MAX + 256)
/* AUTH and a login's EVAL: the script, the record, two keys (one holds the user) and the
 * arguments (the user again). */
#define EVAL_REQ (4096 + PASS_MAX + 256)
/* The key of a user's index: a sorted set of the user's keys, scored by login time. No
 * address key starts with "user:", and the listing's SCAN asks for strings only. */
#define USER_PREFIX STORE_REDIS_PREFIX "user:"

/* ---- the scripts ----------------------------------------------------------------------- */

/* A login, under a cap: counting the user's live allowances and writing the record and its
 * index entry are one step, since Redis runs a script alone. KEYS[1] the record, KEYS[2] the
 * user's index; ARGV: the record, its TTL, the login time, the oldest live login time, the
 * cap (0: none), KEY, the user. Index members whose record is gone, stale or another user's
 * (a NAT address taken over) are dropped as they are met. Returns 0 for a renewal of the
 * user's own live allowance, count + 1 for a new one, -count when count (the user's other
 * live allowances) is the cap or more: nothing is then written. Each GET of another key is a
 * pcall: a key that is not a string is not an allowance. Sent whole every time (no EVALSHA):
 * no NOSCRIPT after a restart or a failover, one round trip, and the script is the binary's. */
static const char RECORD_SCRIPT[] =
    "local rec,idx,ttl,cut,max,key,user=KEYS[1],KEYS[2],tonumber(ARGV[2]),"
    "tonumber(ARGV[4]),tonumber(ARGV[5]),ARGV[6],ARGV[7]\n"
    "local function live(v,k)\n"
    " if type(v)~='string' then return false end\n"
    " local t,rk,u=string.match(v,'^relaylease2 (%d+) (%S+) (%S*)\\n$')\n"
    " return u==user and rk==k and tonumber(t)>=cut\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE',idx,'-inf','('..ARGV[4])\n"
    "local mine=live(redis.pcall('GET',rec),key)\n"
    "local n=0\n"
    "if max>0 and not mine then\n"
    " for _,m in ipairs(redis.call('ZRANGE',idx,0,-1)) do\n"
    "  if m~=key and live(redis.pcall('GET','" STORE_REDIS_PREFIX "'..m),m) then n=n+1\n"
    "  else redis.call('ZREM',idx,m) end\n"
    " end\n"
    " if n>=max then return -n end\n"
    "end\n"
    "redis.call('SET',rec,ARGV[1],'EX',ttl)\n"
    "redis.call('ZADD',idx,ARGV[3],key)\n"
    "if redis.call('TTL',idx)<ttl then redis.call('EXPIRE',idx,ttl) end\n"
    "if mine then return 0 end\n"
    "return n+1\n";

/* ---- the record ------------------------------------------------------------------------- */

int store_parse_redis(const char *buf, size_t n, struct record *r, const char **why)
{
    size_t m = sizeof MAGIC - 1;
    if (n == 0 || n > RECORD_MAX || buf[n - 1] != '\n' || memchr(buf, '\0', n) != NULL ||
        memchr(buf, '\n', n - 1) != NULL) {
        *why = "record is not one line of text";
        return -1;
    }
    if (n < m || memcmp(buf, MAGIC, m) != 0) {
        *why = "not a relaylease record";
        return -1;
    }
    /* The login time: decimal, no sign, no leading zero, 1 to 999999999999. */
    size_t i = m, digits = 0;
    long long t = 0;
    while (i < n && buf[i] >= '0' && buf[i] <= '9' && digits < 13) {
        t = t * 10 + (buf[i] - '0');
        i++;
        digits++;
    }
    if (digits == 0 || digits > 12 || buf[m] == '0' || i >= n || buf[i] != ' ') {
        *why = "record with a bad login time";
        return -1;
    }
    if (store_parse_key_user(buf, n, i + 1, r, why) != 0)
        return -1;
    r->time = (time_t)t;
    r->legacy = 0;
    return 0;
}

/* ---- one exchange ------------------------------------------------------------------------ */

/* A server's error (after the command's name, if cmd is not NULL), or a key it gave, for the
 * log: its printable start only, since the server could be anyone who got hold of the
 * address. */
static const char *server_said(const char *cmd, const struct resp_item *it)
{
    static char said[112];
    size_t n = cmd != NULL ? (size_t)snprintf(said, sizeof said, "%s: ", cmd) : 0;
    for (size_t i = 0; i < it->len && n < sizeof said - 1; i++) {
        char c = it->p[i];
        if (c < 0x20 || c > 0x7e)
            c = '?';
        said[n++] = c;
    }
    said[n] = '\0';
    return said;
}

/* AUTH's error, for the log: its first word only (WRONGPASS, NOPERM, ERR). The rest may
 * quote the command, password and all: Redis's "unknown command" error does, for one. */
static const char *auth_refused(const struct resp_item *it)
{
    static char said[64];
    size_t n = 0;
    while (n < it->len && n < sizeof said - 1 && it->p[n] >= 0x21 && it->p[n] <= 0x7e) {
        said[n] = it->p[n];
        n++;
    }
    said[n] = '\0';
    return said;
}

static const char *timed_out(long ms)
{
    static char text[48];
    (void)snprintf(text, sizeof text, "timed out after %ld ms", ms);
    return text;
}

struct exchange {
    struct redis_conn c;
    struct timespec deadline;
    char *req; /* the caller's: an exchange of one command needs little, a listing much */
    size_t cap;
    size_t len;
    int authed; /* an AUTH is in req, ahead of the command */
};

/* A password file's content, or *why (the file and what is wrong with it). */
static long password(const char *file, char *pass, size_t cap, const char **why)
{
    const char *bad = NULL;
    long n = redis_passfile(file, pass, cap, &bad);
    if (n < 0) {
        static char text[PATH_MAX + 96];
        (void)snprintf(text, sizeof text, "%s: %s", file, bad != NULL ? bad : strerror(errno));
        *why = text;
    }
    return n;
}

/* Where this exchange goes: a writer to the primary (through Sentinel if there are
 * sentinels), a reader to RELAY_REDIS (through Sentinel if only sentinels are set). */
static int target(const struct settings_redis *r, int writer, const struct timespec *deadline,
                  struct redis_addr *to, const char **why)
{
    if ((writer || !r->have_where) && r->nsentinels > 0) {
        char pass[PASS_MAX];
        long n = 0;
        if (r->sentinel_passfile != NULL &&
            (n = password(r->sentinel_passfile, pass, sizeof pass, why)) < 0)
            return -1;
        int rc = redis_sentinel_primary(r->sentinels, r->nsentinels, r->master,
                                        r->sentinel_passfile != NULL ? pass : NULL, (size_t)n,
                                        deadline, to, why);
        explicit_bzero(pass, sizeof pass);
        return rc;
    }
    *to = r->where;
    return 0;
}

/* Connect, and put AUTH in the request if the settings ask for it: the password is read now,
 * from its file, and goes only to the server this exchange talks to. */
static int begin(struct exchange *x, const struct settings_redis *r, int writer, char *buf,
                 size_t cap, const char **why)
{
    struct redis_addr to;
    *why = "";
    x->len = 0;
    x->authed = 0;
    if (!r->ok) {
        errno = EINVAL;
        *why = "the RELAY_REDIS settings are invalid";
        return -1;
    }
    if (r->passfile != NULL) {
        char pass[PASS_MAX];
        long n = password(r->passfile, pass, sizeof pass, why);
        if (n < 0)
            return -1;
        int e = redis_auth_request(x->req, x->cap, &x->len, r->user, pass, (size_t)n);
        explicit_bzero(pass, sizeof pass);
        if (e != 0)
            return -1;
        x->authed = 1;
    }
    if (target(r, writer, &x->deadline, &to, why) != 0) {
        explicit_bzero(x->req, x->cap);
        return -1;
    }
    *why = ""; /* the Sentinel lookup may have left it NULL */
    if (redis_connect(&x->c, &to, &x->deadline, buf, cap) != 0) {
        explicit_bzero(x->req, x->cap);
        if (errno == ETIMEDOUT)
            *why = timed_out(r->timeout_ms);
        return -1;
    }
    return 0;
}

/* Read a reply; -1 with *why on a failure, or when AUTH's reply is not +OK. */
static int reply(struct exchange *x, const struct settings_redis *r, struct resp_item *items,
                 size_t max, size_t *n, const char **why)
{
    if (redis_reply(&x->c, items, max, n, why) != 0) {
        if (errno == ETIMEDOUT)
            *why = timed_out(r->timeout_ms);
        return -1;
    }
    return 0;
}

static int auth_ok(struct exchange *x, const struct settings_redis *r, const char **why)
{
    struct resp_item it[1];
    size_t n;
    if (!x->authed)
        return 0;
    if (reply(x, r, it, 1, &n, why) != 0)
        return -1;
    if (it[0].type == RESP_STATUS && it[0].len == 2 && memcmp(it[0].p, "OK", 2) == 0)
        return 0;
    errno = EACCES;
    if (it[0].type == RESP_ERROR) {
        static char text[96];
        (void)snprintf(text, sizeof text, "AUTH: %s", auth_refused(&it[0]));
        *why = text;
    } else {
        *why = "an unexpected reply to AUTH";
    }
    return -1;
}

/* Send what is in x->req, then forget it: it may hold the password. */
static int send_all(struct exchange *x, const struct settings_redis *r, const char **why)
{
    int e = redis_send(&x->c, x->req, x->len);
    explicit_bzero(x->req, x->len);
    if (e != 0 && errno == ETIMEDOUT)
        *why = timed_out(r->timeout_ms);
    return e;
}

static int add(struct exchange *x, int argc, const char *const *argv, const size_t *lens)
{
    return resp_request(x->req, x->cap, &x->len, argc, argv, lens);
}

/* ---- the backend ------------------------------------------------------------------------- */

static int redis_open(struct store *s, const struct settings *cfg)
{
    (void)s;
    if (!cfg->redis.ok) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

static void redis_close_store(struct store *s)
{
    (void)s;
}

static int redis_id(struct store *s, unsigned long long *dev, unsigned long long *ino)
{
    (void)s;
    *dev = 0;
    *ino = 0;
    errno = ENOTSUP;
    return -1;
}

static int redis_sweep(struct store *s, long expiry, int dry_run, struct sweep_stats *st,
                       void (*removed)(const char *name, long age, void *arg), void *arg)
{
    (void)s;
    (void)expiry;
    (void)dry_run;
    (void)removed;
    (void)arg;
    memset(st, 0, sizeof *st);
    errno = ENOTSUP;
    return -1;
}

/* One write to the primary: SET (argc 5) or a login's EVAL, whose reply *v gives. A reply
 * other than the one expected is an error; READONLY (*readonly) comes from a replica that a
 * sentinel still named as the primary, before it heard of the failover: the caller asks again. */
static int write_once(struct store *s, const struct timespec *deadline, int argc,
                      const char *const *argv, const size_t *lens, long long *v, int *readonly)
{
    const struct settings_redis *r = &s->cfg->redis;
    struct exchange x;
    char req[EVAL_REQ];
    x.req = req;
    x.cap = sizeof req;
    char buf[SHORT_BUF];
    struct resp_item it[1];
    size_t n;
    const char *why = "";
    const char *cmd = argv[0];
    int eval = strcmp(cmd, "EVAL") == 0;

    *readonly = 0;
    x.deadline = *deadline;
    if (begin(&x, r, 1, buf, sizeof buf, &why) != 0) {
        s->why = why[0] != '\0' ? why : NULL;
        return -1;
    }
    int ok = add(&x, argc, argv, lens) == 0 && send_all(&x, r, &why) == 0 &&
             auth_ok(&x, r, &why) == 0 && reply(&x, r, it, 1, &n, &why) == 0;
    if (ok && (eval ? it[0].type != RESP_INTEGER
                    : !(it[0].type == RESP_STATUS && it[0].len == 2 &&
                        memcmp(it[0].p, "OK", 2) == 0))) {
        ok = 0;
        errno = EPROTO;
        *readonly = it[0].type == RESP_ERROR && it[0].len >= 8 &&
                    memcmp(it[0].p, "READONLY", 8) == 0;
        why = it[0].type == RESP_ERROR ? server_said(cmd, &it[0])
              : eval                   ? "an unexpected reply to EVAL"
                                       : "an unexpected reply to SET";
    } else if (ok && redis_leftover(&x.c)) {
        ok = 0;
        errno = EPROTO;
        why = "more replies than were asked for";
    }
    if (ok && eval)
        *v = it[0].n;
    int e = errno;
    redis_close(&x.c);
    errno = e;
    s->why = ok || why[0] == '\0' ? NULL : why;
    return ok ? 0 : -1;
}

/* The record script's reply, as it may be: 0 or count + 1 (at most max; with no cap, 0 or 1),
 * or -count with count at least max. */
static int counted_ok(long long v, long max)
{
    if (max == 0)
        return v == 0 || v == 1;
    return (v >= 0 && v <= max) || (v < 0 && v >= -(long long)LONG_MAX && -v >= max);
}

static int redis_record(struct store *s, const char *key, const char *user, time_t t, long max,
                        long *held)
{
    struct addr a;
    unsigned bits;
    s->why = NULL;
    if (addr_key_parse(&a, &bits, key) != 0 || (user[0] != '\0' && !store_user_ok(user)) ||
        max < 0) {
        errno = EINVAL;
        return -1;
    }
    time_t now = time(NULL);
    if (t == STORE_NOW)
        t = now;
    char rkey[sizeof STORE_REDIS_PREFIX + ADDR_KEY_MAX];
    char ukey[sizeof USER_PREFIX + STORE_USER_MAX];
    char value[RECORD_MAX];
    char ttl[32], when[32], cutoff[32], cap[32];
    int klen = snprintf(rkey, sizeof rkey, STORE_REDIS_PREFIX "%s", key);
    int ulen = snprintf(ukey, sizeof ukey, USER_PREFIX "%s", user);
    int vlen = snprintf(value, sizeof value, MAGIC "%lld %s %s\n", (long long)t, key, user);
    long age = store_age(t, now);
    long left = s->cfg->expiry + TTL_MARGIN - (age > 0 ? age : 0);
    /* A login time from an import may be old: what would expire at once lives a second. */
    (void)snprintf(ttl, sizeof ttl, "%ld", left > 0 ? left : 1L);
    (void)snprintf(when, sizeof when, "%lld", (long long)t);
    /* The oldest login still live, by this host's clock, as a reader would judge it. */
    (void)snprintf(cutoff, sizeof cutoff, "%lld", (long long)now - s->cfg->expiry);
    (void)snprintf(cap, sizeof cap, "%ld", max);

    /* An empty user is never counted nor indexed: a plain SET, as before the cap. */
    const char *set[] = {"SET", rkey, value, "EX", ttl};
    size_t setl[] = {3, (size_t)klen, (size_t)vlen, 2, strlen(ttl)};
    const char *eval[] = {"EVAL", RECORD_SCRIPT, "2", rkey, ukey, value, ttl, when, cutoff, cap,
                          key, user};
    size_t evall[] = {4, sizeof RECORD_SCRIPT - 1, 1, (size_t)klen, (size_t)ulen, (size_t)vlen,
                      strlen(ttl), strlen(when), strlen(cutoff), strlen(cap), strlen(key),
                      strlen(user)};
    int plain = user[0] == '\0';
    int argc = plain ? 5 : 12;
    const char *const *argv = plain ? set : eval;
    const size_t *lens = plain ? setl : evall;

    /* One deadline for both tries: the login waits RELAY_REDIS_TIMEOUT at most. */
    int readonly;
    long long v = 0;
    struct timespec deadline;
    redis_deadline(&deadline, s->cfg->redis.timeout_ms);
    int rc = write_once(s, &deadline, argc, argv, lens, &v, &readonly);
    if (rc != 0 && readonly && s->cfg->redis.nsentinels > 0)
        rc = write_once(s, &deadline, argc, argv, lens, &v, &readonly);
    if (rc != 0 || plain)
        return rc;
    if (!counted_ok(v, max)) {
        errno = EPROTO;
        s->why = "an unexpected reply to EVAL";
        return -1;
    }
    if (v < 0) {
        *held = (long)-v;
        return 1;
    }
    return 0;
}

/* The caller has checked that key fits. */
static void set_key(struct record *r, const char *key, size_t n)
{
    memset(r, 0, sizeof *r);
    memcpy(r->key, key, n);
}

/* GET's reply, judged: found (and valid), missing, or invalid, or an error. */
static enum store_result judge(const struct resp_item *it, struct record *r, const char **why)
{
    switch (it->type) {
    case RESP_NIL:
        return STORE_MISSING;
    case RESP_BULK:
        return store_parse_redis(it->p, it->len, r, why) == 0 ? STORE_FOUND : STORE_INVALID;
    case RESP_ERROR:
        if (it->len >= 9 && memcmp(it->p, "WRONGTYPE", 9) == 0) {
            *why = "not a string";
            return STORE_INVALID;
        }
        *why = server_said("GET", it);
        errno = EPROTO;
        return STORE_ERROR;
    default:
        *why = "an unexpected reply to GET";
        errno = EPROTO;
        return STORE_ERROR;
    }
}

enum store_result store_redis_lookup(const struct settings *cfg, const char *key,
                                     struct record *r, const char **why)
{
    const struct settings_redis *rs = &cfg->redis;
    struct exchange x;
    char req[SHORT_REQ];
    char buf[SHORT_BUF];
    char rkey[sizeof STORE_REDIS_PREFIX + ADDR_KEY_MAX];
    size_t klen = strlen(key);
    *why = "";
    if (klen >= sizeof r->key) {
        errno = ENAMETOOLONG;
        return STORE_ERROR;
    }
    set_key(r, key, klen);
    int n = snprintf(rkey, sizeof rkey, STORE_REDIS_PREFIX "%s", key);
    const char *argv[] = {"GET", rkey};
    size_t lens[] = {3, (size_t)n};

    x.req = req;
    x.cap = sizeof req;
    redis_deadline(&x.deadline, rs->timeout_ms);
    if (begin(&x, rs, 0, buf, sizeof buf, why) != 0)
        return STORE_ERROR;
    struct resp_item it[1];
    size_t got;
    enum store_result res = STORE_ERROR;
    if (add(&x, 2, argv, lens) == 0 && send_all(&x, rs, why) == 0 && auth_ok(&x, rs, why) == 0 &&
        reply(&x, rs, it, 1, &got, why) == 0) {
        if (redis_leftover(&x.c)) {
            *why = "more replies than were asked for";
            errno = EPROTO;
        } else {
            res = judge(&it[0], r, why);
        }
    }
    int e = errno;
    redis_close(&x.c);
    errno = e;
    return res;
}

/* SCAN's cursor: an unsigned 64-bit number in decimal. */
static int cursor_ok(const struct resp_item *it)
{
    if (it->type != RESP_BULK || it->len == 0 || it->len > 20)
        return 0;
    for (size_t i = 0; i < it->len; i++)
        if (it->p[i] < '0' || it->p[i] > '9')
            return 0;
    return 1;
}

/* The GETs for keys[0..n), sent in one write, and each reply judged: fn for a fresh valid
 * record, a line for an invalid one. */
static int list_gets(struct store *s, struct exchange *x, char (*keys)[ADDR_KEY_MAX], size_t n,
                     long expiry, time_t now, void (*fn)(const struct record *r, void *arg),
                     void *arg, const char **why)
{
    const struct settings_redis *rs = &s->cfg->redis;
    x->len = 0;
    for (size_t i = 0; i < n; i++) {
        char rkey[sizeof STORE_REDIS_PREFIX + ADDR_KEY_MAX];
        int rl = snprintf(rkey, sizeof rkey, STORE_REDIS_PREFIX "%s", keys[i]);
        const char *get[] = {"GET", rkey};
        size_t glens[] = {3, (size_t)rl};
        if (add(x, 2, get, glens) != 0)
            return -1;
    }
    if (send_all(x, rs, why) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct resp_item it[1];
        size_t got;
        struct record r;
        const char *bad = "";
        if (reply(x, rs, it, 1, &got, why) != 0)
            return -1;
        set_key(&r, keys[i], strlen(keys[i]));
        switch (judge(&it[0], &r, &bad)) {
        case STORE_FOUND:
            if (expiry < 0 || store_fresh(r.time, now, expiry))
                fn(&r, arg);
            break;
        case STORE_MISSING: /* expired between the SCAN and the GET */
            break;
        case STORE_INVALID:
            if (s->warn != NULL)
                s->warn("invalid record %s key " STORE_REDIS_PREFIX "%s: %s", store_where(s->cfg),
                        keys[i], bad);
            break;
        case STORE_ERROR:
            *why = bad;
            return -1;
        }
    }
    return 0;
}

/* One batch of a listing: SCAN from *cursor, then a GET for each key it gave. Each batch has
 * a deadline of its own: a listing of a big store takes longer than one exchange, but none
 * of its steps may hang. */
static int list_batch(struct store *s, struct exchange *x, char *cursor, long expiry,
                      time_t now, void (*fn)(const struct record *r, void *arg), void *arg,
                      const char **why)
{
    const struct settings_redis *rs = &s->cfg->redis;
    static struct resp_item items[LIST_ITEMS];
    static char keys[LIST_KEYS][ADDR_KEY_MAX];
    size_t nkeys = 0, n;
    static const char match[] = STORE_REDIS_PREFIX "*";
    const char *scan[] = {"SCAN", cursor, "MATCH", match, "COUNT", LIST_COUNT, "TYPE", "string"};

    redis_deadline(&x->c.deadline, rs->timeout_ms);
    x->len = 0;
    if (add(x, 8, scan, NULL) != 0 || send_all(x, rs, why) != 0 ||
        reply(x, rs, items, LIST_ITEMS, &n, why) != 0)
        return -1;
    /* *2 [cursor, *N [keys...]] and nothing else. */
    if (n < 3 || items[0].type != RESP_ARRAY || items[0].n != 2 || !cursor_ok(&items[1]) ||
        items[2].type != RESP_ARRAY || (size_t)items[2].n != n - 3) {
        errno = EPROTO;
        *why = "an unexpected reply to SCAN";
        return -1;
    }
    char next[24];
    memcpy(next, items[1].p, items[1].len);
    next[items[1].len] = '\0';

    /* The keys, copied out of the reply before the GETs' replies take its place. Only
     * relaylease's keys that are store keys are asked for; others are reported. */
    size_t plen = sizeof STORE_REDIS_PREFIX - 1;
    for (size_t i = 3; i < n; i++) {
        const struct resp_item *k = &items[i];
        struct addr a;
        unsigned bits;
        if (k->type != RESP_BULK) {
            errno = EPROTO;
            *why = "an unexpected reply to SCAN";
            return -1;
        }
        if (k->len <= plen || k->len - plen >= ADDR_KEY_MAX ||
            memcmp(k->p, STORE_REDIS_PREFIX, plen) != 0 || memchr(k->p, '\0', k->len) != NULL) {
            if (s->warn != NULL)
                s->warn("%s holds a key that is not one of relaylease's: %s", store_where(s->cfg),
                        server_said(NULL, k));
            continue;
        }
        memcpy(keys[nkeys], k->p + plen, k->len - plen);
        keys[nkeys][k->len - plen] = '\0';
        if (addr_key_parse(&a, &bits, keys[nkeys]) != 0) {
            if (s->warn != NULL)
                s->warn("%s holds a key that is not a store key: %s", store_where(s->cfg),
                        server_said(NULL, k));
            continue;
        }
        nkeys++; /* at most n - 3 < LIST_KEYS */
    }
    for (size_t i = 0; i < nkeys; i += LIST_GETS)
        if (list_gets(s, x, keys + i, nkeys - i < LIST_GETS ? nkeys - i : LIST_GETS, expiry, now,
                      fn, arg, why) != 0)
            return -1;
    memcpy(cursor, next, sizeof next);
    return 0;
}

/* A connection for a long exchange (a listing, a revocation): buf is malloc'd, LIST_BUF for
 * the replies and LIST_REQ for the requests, and AUTH is done. Returns 0, or -1 (buf freed,
 * *why set or ""). */
static int open_long(struct store *s, struct exchange *x, int writer, char **buf,
                     const char **why)
{
    const struct settings_redis *rs = &s->cfg->redis;
    *why = "";
    *buf = malloc(LIST_BUF + LIST_REQ);
    if (*buf == NULL)
        return -1;
    x->req = *buf + LIST_BUF;
    x->cap = LIST_REQ;
    redis_deadline(&x->deadline, rs->timeout_ms);
    if (begin(x, rs, writer, *buf, LIST_BUF, why) != 0) {
        free(*buf);
        return -1;
    }
    if (x->authed && (send_all(x, rs, why) != 0 || auth_ok(x, rs, why) != 0)) {
        int e = errno;
        redis_close(&x->c);
        free(*buf);
        errno = e;
        return -1;
    }
    return 0;
}

static void close_long(struct exchange *x, char *buf)
{
    int e = errno;
    redis_close(&x->c);
    free(buf);
    errno = e;
}

/* Every string key under relaylease:, SCAN batch by batch: fn for each valid record (fresh
 * ones only, unless expiry is negative), then after(aarg), if not NULL, once per batch. */
static int scan_all(struct store *s, struct exchange *x, long expiry,
                    void (*fn)(const struct record *r, void *arg), void *arg,
                    int (*after)(struct store *s, struct exchange *x, void *aarg,
                                 const char **why),
                    void *aarg, const char **why)
{
    char cursor[24] = "0";
    time_t now = time(NULL);
    for (long batches = 0;; batches++) {
        if (batches == LIST_BATCHES_MAX) {
            errno = EPROTO;
            *why = "SCAN did not come to an end";
            return -1;
        }
        if (list_batch(s, x, cursor, expiry, now, fn, arg, why) != 0)
            return -1;
        if (after != NULL && after(s, x, aarg, why) != 0)
            return -1;
        if (strcmp(cursor, "0") == 0)
            break;
    }
    if (redis_leftover(&x->c)) {
        errno = EPROTO;
        *why = "more replies than were asked for";
        return -1;
    }
    return 0;
}

static int redis_list(struct store *s, long expiry, void (*fn)(const struct record *r, void *arg),
                      void *arg)
{
    struct exchange x;
    const char *why = "";
    char *buf;
    s->why = NULL;
    if (open_long(s, &x, 0, &buf, &why) != 0) {
        s->why = why[0] != '\0' ? why : NULL;
        return -1;
    }
    int rc = scan_all(s, &x, expiry, fn, arg, NULL, NULL, &why);
    close_long(&x, buf);
    s->why = rc != 0 && why[0] != '\0' ? why : NULL;
    return rc;
}

/* Revocation: not yet. */
static long redis_revoke_user(struct store *s, const char *user,
                              void (*fn)(const struct record *r, void *arg), void *arg)
{
    (void)s, (void)user, (void)fn, (void)arg;
    errno = ENOTSUP;
    return -1;
}

static long redis_revoke_key(struct store *s, const char *key,
                             void (*fn)(const struct record *r, void *arg), void *arg)
{
    (void)s, (void)key, (void)fn, (void)arg;
    errno = ENOTSUP;
    return -1;
}

const struct store_backend store_redis_backend = {
    redis_open, redis_close_store, redis_id, redis_record, redis_sweep, redis_list,
    redis_revoke_user, redis_revoke_key,
};
