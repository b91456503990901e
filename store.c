/* store.c: the store interface. The settings choose the backend (RELAY_REDIS: store/redis.c;
 * else the directory, store/dir.c), and what both share is here: the rules for user names
 * and for the age of a login. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "settings.h"
#include "store.h"
#include "store/backend.h"
#include "store/dir.h"
#include "store/redis.h"

static const struct store_backend *backend(const struct settings *cfg)
{
    return cfg->redis.on ? &store_redis_backend : &store_dir_backend;
}

int store_open(struct store *s, const struct settings *cfg, log_fn *warn)
{
    memset(s, 0, sizeof *s);
    s->be = backend(cfg);
    s->cfg = cfg;
    s->warn = warn;
    s->dirfd = -1;
    s->lockfd = -1;
    return s->be->open(s, cfg);
}

void store_close(struct store *s)
{
    s->be->close(s);
}

const char *store_error(const struct store *s)
{
    return s->why != NULL ? s->why : strerror(errno);
}

const char *store_home(const struct settings *cfg)
{
    return cfg->redis.on ? NULL : cfg->dir;
}

const char *store_where(const struct settings *cfg)
{
    static char where[sizeof cfg->redis.where.text + 32];
    const struct settings_redis *r = &cfg->redis;
    if (!r->on)
        return cfg->dir;
    if (r->have_where)
        (void)snprintf(where, sizeof where, "redis %s", r->where.text);
    else if (r->nsentinels > 0)
        (void)snprintf(where, sizeof where, "redis master %s", r->master);
    else
        (void)snprintf(where, sizeof where, "redis (misconfigured)");
    return where;
}

const char *store_name(const struct settings *cfg, const char *key, char *buf, size_t size)
{
    if (cfg->redis.on)
        (void)snprintf(buf, size, "%s key " STORE_REDIS_PREFIX "%s", store_where(cfg), key);
    else
        (void)snprintf(buf, size, "%s/%s", cfg->dir, key);
    return buf;
}

int store_id(struct store *s, unsigned long long *dev, unsigned long long *ino)
{
    return s->be->id(s, dev, ino);
}

int store_record(struct store *s, const char *key, const char *user)
{
    return store_record_at(s, key, user, STORE_NOW);
}

int store_record_at(struct store *s, const char *key, const char *user, time_t t)
{
    long held;
    return s->be->record(s, key, user, t, 0, &held) < 0 ? -1 : 0;
}

enum store_login store_login(struct store *s, const char *key, const char *user, long max,
                             long *held)
{
    *held = 0;
    switch (s->be->record(s, key, user, STORE_NOW, max, held)) {
    case 0:
        return STORE_LOGIN_RECORDED;
    case 1:
        return STORE_LOGIN_OVER_CAP;
    default:
        return STORE_LOGIN_FAILED;
    }
}

long store_revoke_user(struct store *s, const char *user,
                       void (*fn)(const struct record *r, void *arg), void *arg)
{
    return s->be->revoke_user(s, user, fn, arg);
}

long store_revoke_key(struct store *s, const char *key,
                      void (*fn)(const struct record *r, void *arg), void *arg)
{
    return s->be->revoke_key(s, key, fn, arg);
}

/* Not through the backends' tables: relay-check calls nothing else here, and so links the
 * two lookups and not the writers, the sweep and the listing. */
enum store_result store_lookup(const struct settings *cfg, const char *key, struct record *r,
                               const char **why)
{
    return cfg->redis.on ? store_redis_lookup(cfg, key, r, why)
                         : store_dir_lookup(cfg->dir, key, r, why);
}

int store_sweep(struct store *s, long expiry, int dry_run, struct sweep_stats *st,
                void (*removed)(const char *name, long age, void *arg), void *arg)
{
    return s->be->sweep(s, expiry, dry_run, st, removed, arg);
}

int store_list(struct store *s, long expiry, void (*fn)(const struct record *r, void *arg),
               void *arg)
{
    return s->be->list(s, expiry, fn, arg);
}

int store_parse_key_user(const char *buf, size_t n, size_t at, struct record *r,
                         const char **why)
{
    size_t klen = strlen(r->key);
    if (at > n || n - at < klen + 2 || memcmp(buf + at, r->key, klen) != 0 ||
        buf[at + klen] != ' ') {
        *why = "record names another key";
        return -1;
    }
    size_t ustart = at + klen + 1, ulen = n - 1 - ustart;
    if (ulen > STORE_USER_MAX) {
        *why = "user name too long";
        return -1;
    }
    memcpy(r->user, buf + ustart, ulen);
    r->user[ulen] = '\0';
    if (ulen > 0 && !store_user_ok(r->user)) {
        *why = "user name with forbidden characters";
        return -1;
    }
    return 0;
}

enum store_import store_import(struct store *s, const char *key, const char *user, time_t t)
{
    struct record had;
    const char *why;
    if (store_lookup(s->cfg, key, &had, &why) == STORE_FOUND && had.time >= t)
        return STORE_NEWER;
    return store_record_at(s, key, user, t) == 0 ? STORE_IMPORTED : STORE_IMPORT_FAILED;
}

/* TCPREMOTEINFO lands inside a comment in qmail-smtpd's Received header, so parentheses and
 * backslashes, which would end or escape that comment, are kept out along with spaces and
 * control characters. */
int store_user_ok(const char *user)
{
    size_t n = 0;
    for (; user[n] != '\0'; n++) {
        unsigned char c = (unsigned char)user[n];
        if (n >= STORE_USER_MAX || c < 0x21 || c > 0x7e || c == '(' || c == ')' || c == '\\')
            return 0;
    }
    return n > 0;
}

/* In uintmax_t the difference of two time_t values is exact (modulo 2^N, and the true
 * difference of two values of a signed type of at most N bits is below 2^N), so only the
 * final conversion needs a bound. */
long store_age(time_t t, time_t now)
{
    if (now >= t) {
        uintmax_t d = (uintmax_t)now - (uintmax_t)t;
        return d > (uintmax_t)LONG_MAX ? LONG_MAX : (long)d;
    }
    uintmax_t d = (uintmax_t)t - (uintmax_t)now;
    if (d > (uintmax_t)LONG_MAX)
        return LONG_MIN;
    return -(long)d;
}

int store_fresh(time_t t, time_t now, long expiry)
{
    long age = store_age(t, now);
    return age <= expiry && age >= -STORE_FUTURE_SLACK;
}
