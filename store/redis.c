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
#include "clock.h"
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
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

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

/* The script, a record, its key, the user's index key, KEY, the user and four numbers, with
 * room for the framing; AUTH has its own PASS_MAX + 256. */
_Static_assert(sizeof RECORD_SCRIPT + RECORD_MAX + 2 * STORE_USER_MAX + 4 * ADDR_KEY_MAX + 512 <=
                   4096,
               "EVAL_REQ holds a login's EVAL");

/* Revocation of one key: KEYS[1] the record, ARGV[1] KEY, and ARGV[2] if given the user it
 * must name (else it is left). Deletes it and its entry in its user's index; returns {} or
 * {value} (a value longer than a record comes back empty: the caller reports it invalid). */
static const char REVOKE_ONE_SCRIPT[] =
    "local v=redis.pcall('GET',KEYS[1])\n"
    "if type(v)~='string' then return {} end\n"
    "local k,u=string.match(v,'^relaylease2 %d+ (%S+) (%S*)\\n$')\n"
    "if #ARGV>1 and (#v>1024 or k~=ARGV[1] or u~=ARGV[2]) then return {} end\n"
    "redis.call('DEL',KEYS[1])\n"
    "if u and u~='' then redis.call('ZREM','" USER_PREFIX "'..u,ARGV[1]) end\n"
    "if #v>1024 then v='' end\n"
    "return {v}\n";

/* Revocation of a user, one batch: KEYS[1] the user's index, ARGV[1] the user, ARGV[2] the
 * batch (members 0..ARGV[2]-1). Deletes each member's record that names the user, drops every
 * member looked at; returns {members left, KEY, value, KEY, value...}. */
static const char REVOKE_USER_SCRIPT[] =
    "local idx,user,out=KEYS[1],ARGV[1],{}\n"
    "for _,m in ipairs(redis.call('ZRANGE',idx,0,tonumber(ARGV[2])-1)) do\n"
    " local v=redis.pcall('GET','" STORE_REDIS_PREFIX "'..m)\n"
    " if type(v)=='string' and #v<=1024 then\n"
    "  local k,u=string.match(v,'^relaylease2 %d+ (%S+) (%S*)\\n$')\n"
    "  if k==m and u==user then\n"
    "   redis.call('DEL','" STORE_REDIS_PREFIX "'..m)\n"
    "   out[#out+1]=m out[#out+1]=v\n"
    "  end\n"
    " end\n"
    " redis.call('ZREM',idx,m)\n"
    "end\n"
    "table.insert(out,1,tostring(redis.call('ZCARD',idx)))\n"
    "return out\n";

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
    long long deadline;
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
static int target(const struct settings_redis *r, int writer, long long deadline,
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
    if (target(r, writer, x->deadline, &to, why) != 0) {
        explicit_bzero(x->req, x->cap);
        return -1;
    }
    *why = ""; /* the Sentinel lookup may have left it NULL */
    if (redis_connect(&x->c, &to, x->deadline, buf, cap) != 0) {
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

/* Refusals a writer acts on. READONLY comes from a replica that a sentinel still named as
 * the primary, before it heard of the failover: the caller asks again. NOPERM for EVAL comes
 * from the POP account's ACL of before the cap, which allows SET alone. */
enum refusal { REFUSED_OTHER, REFUSED_READONLY, REFUSED_NOEVAL };

/* Does p (n bytes) hold w? Redis's wording of a refusal changes between versions; the
 * command it names, quoted, does not. */
static int holds(const char *p, size_t n, const char *w)
{
    size_t m = strlen(w);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(p + i, w, m) == 0)
            return 1;
    return 0;
}

/* One write to the primary: SET (argc 5) or a login's EVAL, whose reply *v gives. A reply
 * other than the one expected is an error; *refused says which, for the caller. */
static int write_once(struct store *s, long long deadline, int argc,
                      const char *const *argv, const size_t *lens, long long *v,
                      enum refusal *refused)
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

    *refused = REFUSED_OTHER;
    x.deadline = deadline;
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
        if (it[0].type == RESP_ERROR && it[0].len >= 8 && memcmp(it[0].p, "READONLY", 8) == 0)
            *refused = REFUSED_READONLY;
        else if (eval && it[0].type == RESP_ERROR && it[0].len >= 6 &&
                 memcmp(it[0].p, "NOPERM", 6) == 0 && holds(it[0].p, it[0].len, "'eval'"))
            *refused = REFUSED_NOEVAL;
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

/* The record script's reply, as it may be (max > 0): 0 or count + 1 (at most max), or -count
 * with count at least max. */
static int counted_ok(long long v, long max)
{
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

    /* An empty user is never counted, and with no cap (0, and imports) there is nothing to
     * count: a plain SET, as before the cap, which the POP account's old ACL allows too.
     * Revocation does not need the index: it scans for what the index does not name. */
    const char *set[] = {"SET", rkey, value, "EX", ttl};
    size_t setl[] = {3, (size_t)klen, (size_t)vlen, 2, strlen(ttl)};
    const char *eval[] = {"EVAL", RECORD_SCRIPT, "2", rkey, ukey, value, ttl, when, cutoff, cap,
                          key, user};
    size_t evall[] = {4, sizeof RECORD_SCRIPT - 1, 1, (size_t)klen, (size_t)ulen, (size_t)vlen,
                      strlen(ttl), strlen(when), strlen(cutoff), strlen(cap), strlen(key),
                      strlen(user)};
    int plain = user[0] == '\0' || max == 0;
    int argc = plain ? 5 : 12;
    const char *const *argv = plain ? set : eval;
    const size_t *lens = plain ? setl : evall;

    /* One deadline for both tries: the login waits RELAY_REDIS_TIMEOUT at most. */
    enum refusal refused;
    long long v = 0;
    long long deadline = clock_deadline(s->cfg->redis.timeout_ms);
    int rc = write_once(s, deadline, argc, argv, lens, &v, &refused);
    if (rc != 0 && refused == REFUSED_READONLY && s->cfg->redis.nsentinels > 0)
        rc = write_once(s, deadline, argc, argv, lens, &v, &refused);
    /* The data nodes still have the ACL of before the cap (new binaries first): the login is
     * recorded without the cap, as the directory store records when it cannot count, rather
     * than not at all. */
    if (rc != 0 && !plain && refused == REFUSED_NOEVAL) {
        char said[128];
        (void)snprintf(said, sizeof said, "%s", s->why != NULL ? s->why : "NOPERM");
        rc = write_once(s, deadline, 5, set, setl, &v, &refused);
        if (rc == 0 && s->warn != NULL)
            s->warn("unable to count in %s (%s): recording without the cap", store_where(s->cfg),
                    said);
        return rc;
    }
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
    x.deadline = clock_deadline(rs->timeout_ms);
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

    x->c.deadline = clock_deadline(rs->timeout_ms);
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
    x->deadline = clock_deadline(rs->timeout_ms);
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

/* ---- revocation ------------------------------------------------------------------------ */

/* A revocation's members at most per script run: one reply, {left, KEY, value...}, of at most
 * REVOKE_BATCH records, fits LIST_BUF. */
#define REVOKE_BATCH 64
#define REVOKE_ITEMS (2 * REVOKE_BATCH + 2)
/* The index shrinks by a batch per run, but logins may add to it meanwhile; a bound all the
 * same, at 16 million members or so. */
#define REVOKE_BATCHES_MAX 262144
/* How long a revocation waits for the readers' server to drop what it removed. */
#define REPLICA_WAIT_MS 5000
#define REPLICA_POLL_MS 20

struct revoking {
    const char *user;  /* the user revoked, or NULL (one key) */
    void (*fn)(const struct record *r, void *arg);
    void *arg;
    long count;
    struct record *gone; /* what was removed, for the wait on the readers' server */
    size_t ngone, capgone;
    /* The SCAN pass: the keys of this batch whose record names the user. */
    char (*found)[ADDR_KEY_MAX];
    size_t nfound;
};

/* A value a script removed from under key: a valid record goes to fn and is counted; an
 * invalid one (it granted nothing) is reported and not counted. */
static int took(struct store *s, struct revoking *rv, const char *key, size_t klen,
                const struct resp_item *v)
{
    struct record r;
    const char *bad = "";
    struct addr a;
    unsigned bits;
    char k[ADDR_KEY_MAX];
    if (klen >= ADDR_KEY_MAX || memchr(key, '\0', klen) != NULL) {
        if (s->warn != NULL)
            s->warn("%s: removed a value under a key that is not a store key", store_where(s->cfg));
        return 0;
    }
    memcpy(k, key, klen);
    k[klen] = '\0';
    set_key(&r, k, klen);
    if (addr_key_parse(&a, &bits, k) != 0 || store_parse_redis(v->p, v->len, &r, &bad) != 0) {
        if (s->warn != NULL)
            s->warn("removed an invalid record %s key " STORE_REDIS_PREFIX "%s: %s",
                    store_where(s->cfg), k, bad[0] != '\0' ? bad : "not a store key");
        return 0;
    }
    if (rv->ngone == rv->capgone) {
        size_t cap = rv->capgone != 0 ? 2 * rv->capgone : 16;
        struct record *g = realloc(rv->gone, cap * sizeof *g);
        if (g == NULL)
            return -1;
        rv->gone = g;
        rv->capgone = cap;
    }
    rv->gone[rv->ngone++] = r;
    rv->count++;
    if (rv->fn != NULL)
        rv->fn(&r, rv->arg);
    return 0;
}

/* Run a revocation script on x's connection (a deadline of its own); its reply, an array of
 * bulk strings, in items[0..*n). */
static int run_script(struct store *s, struct exchange *x, int argc, const char *const *argv,
                      struct resp_item *items, size_t max, size_t *n, const char **why)
{
    const struct settings_redis *rs = &s->cfg->redis;
    x->c.deadline = clock_deadline(rs->timeout_ms);
    x->len = 0;
    if (add(x, argc, argv, NULL) != 0 || send_all(x, rs, why) != 0 ||
        reply(x, rs, items, max, n, why) != 0)
        return -1;
    if (items[0].type == RESP_ERROR) {
        errno = EPROTO;
        *why = server_said("EVAL", &items[0]);
        return -1;
    }
    int ok = items[0].type == RESP_ARRAY && items[0].n >= 0 && (size_t)items[0].n == *n - 1;
    for (size_t i = 1; ok && i < *n; i++)
        ok = items[i].type == RESP_BULK;
    if (!ok) {
        errno = EPROTO;
        *why = "an unexpected reply to EVAL";
        return -1;
    }
    return 0;
}

/* Remove the record under key (if user is not NULL, only if it names user). */
static int revoke_one(struct store *s, struct exchange *x, struct revoking *rv, const char *key,
                      const char **why)
{
    char rkey[sizeof STORE_REDIS_PREFIX + ADDR_KEY_MAX];
    (void)snprintf(rkey, sizeof rkey, STORE_REDIS_PREFIX "%s", key);
    const char *argv[] = {"EVAL", REVOKE_ONE_SCRIPT, "1", rkey, key, rv->user};
    struct resp_item items[2];
    size_t n;
    if (run_script(s, x, rv->user != NULL ? 6 : 5, argv, items, 2, &n, why) != 0)
        return -1;
    if (n == 2 && took(s, rv, key, strlen(key), &items[1]) != 0)
        return -1;
    return 0;
}

/* The readers' server (RELAY_REDIS, often this host's replica) no longer holds what was
 * removed, so that a rules cdb built from it next grants none of it. Replication is
 * asynchronous: ask until it has caught up, for REPLICA_WAIT_MS at most (ETIMEDOUT). A key
 * that holds a newer login, another user's or none counts as caught up. */
static int reader_caught_up(struct store *s, struct revoking *rv, const char **why)
{
    const struct settings_redis *rs = &s->cfg->redis;
    if (rv->ngone == 0)
        return 0;
    long long end = clock_deadline(REPLICA_WAIT_MS);
    struct exchange x;
    char *buf;
    if (open_long(s, &x, 0, &buf, why) != 0) {
        static char text[160];
        int e = errno;
        (void)snprintf(text, sizeof text, "removed, but the readers' server did not say so: %s",
                       (*why)[0] != '\0' ? *why : strerror(e));
        *why = text;
        errno = e;
        return -1;
    }
    int rc = -1, waited = 0;
    for (;;) {
        size_t keep = 0;
        for (size_t i = 0; i < rv->ngone; i += LIST_GETS) {
            size_t m = rv->ngone - i < LIST_GETS ? rv->ngone - i : LIST_GETS;
            long ms = rs->timeout_ms;
            x.len = 0;
            x.c.deadline = clock_deadline(ms);
            if (x.c.deadline > end)
                x.c.deadline = end;
            for (size_t j = i; j < i + m; j++) {
                char rkey[sizeof STORE_REDIS_PREFIX + ADDR_KEY_MAX];
                int rl = snprintf(rkey, sizeof rkey, STORE_REDIS_PREFIX "%s", rv->gone[j].key);
                const char *get[] = {"GET", rkey};
                size_t glens[] = {3, (size_t)rl};
                if (add(&x, 2, get, glens) != 0)
                    goto out;
            }
            if (send_all(&x, rs, why) != 0)
                goto out;
            for (size_t j = i; j < i + m; j++) {
                struct resp_item it[1];
                size_t got;
                struct record r;
                const char *bad = "";
                if (reply(&x, rs, it, 1, &got, why) != 0)
                    goto out;
                set_key(&r, rv->gone[j].key, strlen(rv->gone[j].key));
                switch (judge(&it[0], &r, &bad)) {
                case STORE_FOUND:
                    if (strcmp(r.user, rv->gone[j].user) == 0 && r.time <= rv->gone[j].time)
                        rv->gone[keep++] = rv->gone[j]; /* still there */
                    break;
                case STORE_MISSING:
                case STORE_INVALID:
                    break;
                case STORE_ERROR:
                    *why = bad;
                    goto out;
                }
            }
        }
        rv->ngone = keep;
        if (keep == 0) {
            rc = 0;
            break;
        }
        int left = clock_left(end);
        if (left == 0) {
            static char text[128];
            (void)snprintf(text, sizeof text,
                           "the readers' server still holds %zu removed allowances after %d ms",
                           keep, REPLICA_WAIT_MS);
            *why = text;
            errno = ETIMEDOUT;
            waited = 1;
            break;
        }
        struct timespec nap = {0, (left < REPLICA_POLL_MS ? left : REPLICA_POLL_MS) * 1000000L};
        while (nanosleep(&nap, &nap) != 0 && errno == EINTR) {
        }
    }
out:
    if (rc != 0 && !waited) {
        int e = errno;
        /* Removed on the primary, but not known to be gone from the readers' server. */
        static char text[160];
        (void)snprintf(text, sizeof text, "removed, but the readers' server did not say so: %s",
                       (*why)[0] != '\0' ? *why : strerror(e));
        *why = text;
        errno = e;
    }
    close_long(&x, buf);
    return rc;
}

/* The SCAN pass's fn: a record that names the user, whatever its age. */
static void found_one(const struct record *r, void *arg)
{
    struct revoking *rv = arg;
    if (strcmp(r->user, rv->user) == 0 && rv->nfound < LIST_KEYS)
        memcpy(rv->found[rv->nfound++], r->key, sizeof r->key);
}

/* After each SCAN batch: remove what it found, each only if it still names the user. */
static int remove_found(struct store *s, struct exchange *x, void *aarg, const char **why)
{
    struct revoking *rv = aarg;
    for (size_t i = 0; i < rv->nfound; i++)
        if (revoke_one(s, x, rv, rv->found[i], why) != 0)
            return -1;
    rv->nfound = 0;
    return 0;
}

/* The index, batch by batch, until it is empty; then a SCAN for records that name the user
 * but were never indexed (written by an older relaylease, or before the index existed).
 * Scripts run alone: a login that races this is removed whole or survives whole. */
static long redis_revoke_user(struct store *s, const char *user,
                              void (*fn)(const struct record *r, void *arg), void *arg)
{
    struct revoking rv = {user, fn, arg, 0, NULL, 0, 0, NULL, 0};
    const char *why = "";
    struct exchange x;
    char *buf;
    s->why = NULL;
    if (!store_user_ok(user)) {
        errno = EINVAL;
        return -1;
    }
    rv.found = malloc(LIST_KEYS * sizeof *rv.found);
    if (rv.found == NULL)
        return -1;
    if (open_long(s, &x, 1, &buf, &why) != 0) {
        free(rv.found);
        s->why = why[0] != '\0' ? why : NULL;
        return -1;
    }
    char ukey[sizeof USER_PREFIX + STORE_USER_MAX];
    (void)snprintf(ukey, sizeof ukey, USER_PREFIX "%s", user);
    const char *argv[] = {"EVAL", REVOKE_USER_SCRIPT, "1", ukey, user, STRINGIFY(REVOKE_BATCH)};
    static struct resp_item items[REVOKE_ITEMS];
    int rc = -1;
    for (long batches = 0;; batches++) {
        size_t n;
        if (batches == REVOKE_BATCHES_MAX) {
            errno = EPROTO;
            why = "the user's index did not come to an end";
            goto done;
        }
        if (run_script(s, &x, 6, argv, items, REVOKE_ITEMS, &n, &why) != 0)
            goto done;
        if (n < 2 || n % 2 != 0 || !cursor_ok(&items[1])) {
            errno = EPROTO;
            why = "an unexpected reply to EVAL";
            goto done;
        }
        for (size_t i = 2; i < n; i += 2)
            if (took(s, &rv, items[i].p, items[i].len, &items[i + 1]) != 0)
                goto done;
        if (items[1].len == 1 && items[1].p[0] == '0')
            break;
    }
    if (scan_all(s, &x, -1, found_one, &rv, remove_found, &rv, &why) != 0)
        goto done;
    rc = 0;
done:
    close_long(&x, buf);
    free(rv.found);
    if (rc == 0)
        rc = reader_caught_up(s, &rv, &why);
    free(rv.gone);
    s->why = rc != 0 && why[0] != '\0' ? why : NULL;
    return rc == 0 ? rv.count : -1;
}

static long redis_revoke_key(struct store *s, const char *key,
                             void (*fn)(const struct record *r, void *arg), void *arg)
{
    struct revoking rv = {NULL, fn, arg, 0, NULL, 0, 0, NULL, 0};
    const char *why = "";
    struct exchange x;
    char *buf;
    struct addr a;
    unsigned bits;
    s->why = NULL;
    if (addr_key_parse(&a, &bits, key) != 0) {
        errno = EINVAL;
        return -1;
    }
    if (open_long(s, &x, 1, &buf, &why) != 0) {
        s->why = why[0] != '\0' ? why : NULL;
        return -1;
    }
    int rc = revoke_one(s, &x, &rv, key, &why);
    if (rc == 0 && redis_leftover(&x.c)) {
        errno = EPROTO;
        why = "more replies than were asked for";
        rc = -1;
    }
    close_long(&x, buf);
    if (rc == 0)
        rc = reader_caught_up(s, &rv, &why);
    free(rv.gone);
    s->why = rc != 0 && why[0] != '\0' ? why : NULL;
    return rc == 0 ? rv.count : -1;
}

const struct store_backend store_redis_backend = {
    redis_open, redis_close_store, redis_id, redis_record, redis_sweep, redis_list,
    redis_revoke_user, redis_revoke_key,
};
