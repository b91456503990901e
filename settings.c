/* settings.c: configuration comes only from the environment, so that envdir, run files and
 * Dovecot's hook wrapper can all set it. A bad value never widens what is granted. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "settings.h"

int settings_number(const char *s, long min, long max, long *out)
{
    long v = 0;
    size_t n = strlen(s);
    /* Digits only: strtol would take "+5", " 5" and "0x5", and a leading zero reads as
     * octal to some tools and decimal to others. */
    if (n == 0 || strspn(s, "0123456789") != n || (s[0] == '0' && n > 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        int d = s[i] - '0';
        if (v > (LONG_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* The new name wins; relay-ctrl's name is read only when the new one is unset, so that an
 * envdir written for relay-ctrl keeps working unchanged. */
static const char *either(const char *name, const char *old, const char **used)
{
    const char *v = getenv(name);
    *used = name;
    if (v == NULL && old != NULL) {
        v = getenv(old);
        *used = old;
    }
    return v;
}

int settings_switch(const char *s, int *out)
{
    if (strcmp(s, "0") == 0)
        *out = 0;
    else if (s[0] == '\0' || strcmp(s, "1") == 0)
        *out = 1;
    else
        return -1;
    return 0;
}

int settings_absolute(const char *s)
{
    return s[0] == '/';
}

/* A switch every program reads: unset gives its default, an invalid value a warning and the
 * default too. */
static int common_switch(const char *name, int unset, log_fn *warn)
{
    const char *v = getenv(name);
    int on = unset;
    if (v != NULL && settings_switch(v, &on) != 0)
        warn("%s must be 0 or 1, not \"%s\": using %d", name, v, unset);
    return on;
}

/* A switch only one program acts on: its program says what an invalid value means. */
static void own_switch(struct settings_switch *sw, const char *name)
{
    const char *v = getenv(name);
    sw->on = 0;
    sw->invalid = NULL;
    if (v != NULL && settings_switch(v, &sw->on) != 0) {
        sw->on = 0;
        sw->invalid = v;
    }
}

/* cdb mode is on when RELAY_CDB is set and not empty; both of its paths must be absolute. */
static void cdb_mode(struct settings_cdb *c)
{
    c->path = getenv("RELAY_CDB");
    c->rules = getenv("RELAY_CDB_RULES");
    c->prog = getenv("RELAY_CDB_PROG");
    if (c->prog == NULL || c->prog[0] == '\0')
        c->prog = SETTINGS_DEFAULT_CDB_PROG;
    if (c->path == NULL || c->path[0] == '\0')
        c->state = SETTINGS_CDB_OFF;
    else if (!settings_absolute(c->path))
        c->state = SETTINGS_CDB_BAD_PATH;
    else if (c->rules == NULL || !settings_absolute(c->rules))
        c->state = SETTINGS_CDB_BAD_RULES;
    else
        c->state = SETTINGS_CDB_ON;
}

/* A name for Redis (the master's, an ACL user's): Sentinel's names are words, and a user
 * name goes into the AUTH command, so neither has spaces or control characters. */
static int redis_name_ok(const char *s, const char *allowed)
{
    size_t n = strlen(s);
    if (n == 0 || n > SETTINGS_REDIS_NAME_MAX)
        return 0;
    for (; *s != '\0'; s++)
        if (allowed != NULL ? strchr(allowed, *s) == NULL
                            : (unsigned char)*s <= 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

/* "HOST:PORT,HOST:PORT,...": each one as RELAY_REDIS is read, no empty entry, no spaces. */
static int sentinels_parse(const char *v, struct settings_redis *r)
{
    r->nsentinels = 0;
    for (;;) {
        const char *comma = strchr(v, ',');
        size_t n = comma != NULL ? (size_t)(comma - v) : strlen(v);
        char one[sizeof r->sentinels[0].text];
        if (n == 0 || n >= sizeof one || r->nsentinels == SETTINGS_REDIS_SENTINELS_MAX)
            return -1;
        memcpy(one, v, n);
        one[n] = '\0';
        if (redis_addr_parse(one, &r->sentinels[r->nsentinels]) != 0)
            return -1;
        r->nsentinels++;
        if (comma == NULL)
            return 0;
        v = comma + 1;
    }
}

static const char *set(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static void redis_mode(struct settings_redis *r, log_fn *warn)
{
    const char *where = set("RELAY_REDIS"), *sentinels = set("RELAY_REDIS_SENTINELS");
    const char *master = set("RELAY_REDIS_MASTER"), *v;
    long n;

    memset(r, 0, sizeof *r);
    r->timeout_ms = SETTINGS_DEFAULT_REDIS_TIMEOUT;
    r->on = where != NULL || sentinels != NULL;
    if (!r->on) {
        /* Half a Redis set-up is a mistake worth a line: the directory is used all the same. */
        if (master != NULL || set("RELAY_REDIS_USER") != NULL ||
            set("RELAY_REDIS_PASSFILE") != NULL || set("RELAY_REDIS_SENTINEL_PASSFILE") != NULL)
            warn("RELAY_REDIS_* is set, but neither RELAY_REDIS nor RELAY_REDIS_SENTINELS: "
                 "using the directory store");
        return;
    }
    r->ok = 1;
    if (where != NULL && redis_addr_parse(where, &r->where) != 0) {
        warn("RELAY_REDIS must be unix:/path, a.b.c.d:PORT or [IPv6]:PORT, not \"%s\": "
             "nothing is recorded or granted",
             where);
        r->ok = 0;
    }
    r->have_where = where != NULL && r->ok;
    if (sentinels != NULL && sentinels_parse(sentinels, r) != 0) {
        warn("RELAY_REDIS_SENTINELS must be 1 to %d of unix:/path, a.b.c.d:PORT or "
             "[IPv6]:PORT, separated by commas, not \"%s\": nothing is recorded or granted",
             SETTINGS_REDIS_SENTINELS_MAX, sentinels);
        r->ok = 0;
    }
    if (sentinels != NULL &&
        (master == NULL ||
         !redis_name_ok(master, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"))) {
        warn("RELAY_REDIS_MASTER must name the primary the sentinels watch (1 to %d letters, "
             "digits, '.', '_' or '-'), not \"%s\": nothing is recorded or granted",
             SETTINGS_REDIS_NAME_MAX, master != NULL ? master : "");
        r->ok = 0;
    }
    r->master = master;
    r->user = set("RELAY_REDIS_USER");
    if (r->user != NULL && !redis_name_ok(r->user, NULL)) {
        warn("RELAY_REDIS_USER must be 1 to %d printable characters with no space: nothing is "
             "recorded or granted",
             SETTINGS_REDIS_NAME_MAX);
        r->ok = 0;
    }
    r->passfile = set("RELAY_REDIS_PASSFILE");
    if (r->passfile != NULL && !settings_absolute(r->passfile)) {
        warn("RELAY_REDIS_PASSFILE must be an absolute path, not \"%s\": nothing is recorded "
             "or granted",
             r->passfile);
        r->ok = 0;
    }
    r->sentinel_passfile = set("RELAY_REDIS_SENTINEL_PASSFILE");
    if (r->sentinel_passfile != NULL && !settings_absolute(r->sentinel_passfile)) {
        warn("RELAY_REDIS_SENTINEL_PASSFILE must be an absolute path, not \"%s\": nothing is "
             "recorded or granted",
             r->sentinel_passfile);
        r->ok = 0;
    }
    if (r->user != NULL && r->passfile == NULL) {
        warn("RELAY_REDIS_USER is set without RELAY_REDIS_PASSFILE: nothing is recorded or "
             "granted");
        r->ok = 0;
    }
    v = getenv("RELAY_REDIS_TIMEOUT");
    if (v != NULL && settings_number(v, 1, SETTINGS_MAX_REDIS_TIMEOUT, &n) == 0)
        r->timeout_ms = n;
    else if (v != NULL)
        warn("RELAY_REDIS_TIMEOUT must be a number of milliseconds from 1 to %ld, not \"%s\": "
             "using %ld",
             SETTINGS_MAX_REDIS_TIMEOUT, v, SETTINGS_DEFAULT_REDIS_TIMEOUT);
}

static int printable(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

void settings_load(struct settings *s, log_fn *warn)
{
    const char *name, *v;
    long n;

    v = either("RELAY_DIR", "RELAY_CTRL_DIR", &name);
    s->dir = SETTINGS_DEFAULT_DIR;
    if (v != NULL) {
        if (settings_absolute(v))
            s->dir = v;
        else
            warn("%s must be an absolute path, not \"%s\": using %s", name, v,
                 SETTINGS_DEFAULT_DIR);
    }

    v = either("RELAY_EXPIRY", "RELAY_CTRL_EXPIRY", &name);
    s->expiry = SETTINGS_DEFAULT_EXPIRY;
    if (v != NULL && settings_number(v, 1, SETTINGS_MAX_EXPIRY, &n) == 0)
        s->expiry = n;
    else if (v != NULL)
        warn("%s must be a number of seconds from 1 to %ld, not \"%s\": using %ld", name,
             SETTINGS_MAX_EXPIRY, v, SETTINGS_DEFAULT_EXPIRY);

    /* qmail-smtpd appends RELAYCLIENT to every recipient, so a value with control characters
     * would be spliced into addresses; refusing to relay is the only safe reading. */
    v = either("RELAY_RELAYCLIENT", "RELAY_CTRL_RELAYCLIENT", &name);
    s->relayclient = "";
    s->relayclient_ok = 1;
    if (v != NULL) {
        if (strlen(v) <= SETTINGS_RELAYCLIENT_MAX && printable(v)) {
            s->relayclient = v;
        } else {
            warn("%s has control characters or more than %d bytes: granting nothing", name,
                 SETTINGS_RELAYCLIENT_MAX);
            s->relayclient_ok = 0;
        }
    }

    /* The narrowest prefix is the safe reading of a bad value: it can only grant less. Below
     * /48 a prefix spans unrelated sites, and the floor turns the typo "6" for "64" into a
     * warning rather than one login opening a sixth of the Internet. */
    memset(&s->keys, 0, sizeof s->keys);
    v = getenv("RELAY_IPV6_PREFIX");
    s->keys.v6bits = SETTINGS_DEFAULT_V6BITS;
    if (v != NULL && settings_number(v, ADDR_V6BITS_MIN, 128, &n) == 0)
        s->keys.v6bits = (unsigned)n;
    else if (v != NULL) {
        warn("RELAY_IPV6_PREFIX must be a number from %u to 128, not \"%s\": using 128",
             ADDR_V6BITS_MIN, v);
        s->keys.v6bits = 128;
    }

    /* Without a valid NAT64 prefix we cannot tell which IPv6 clients stand for IPv4 hosts,
     * and a widened key of one of them would cover others: every IPv6 client is then keyed
     * by itself. */
    v = getenv("RELAY_NAT64_PREFIX");
    if (v != NULL && v[0] != '\0' && addr_nat64_parse(&s->keys, v) != 0) {
        warn("RELAY_NAT64_PREFIX must be an IPv6 prefix of length 32, 40, 48, 56, 64 or 96 "
             "outside the special ranges, not \"%s\": keying every IPv6 address by /128",
             v);
        s->keys.v6bits = 128;
    }

    /* An invalid cap is read as the default, not as 0: a typo must not lift the cap. */
    v = getenv("RELAY_USER_MAX");
    s->user_max = SETTINGS_DEFAULT_USER_MAX;
    if (v != NULL && settings_number(v, 0, SETTINGS_MAX_USER_MAX, &n) == 0)
        s->user_max = n;
    else if (v != NULL)
        warn("RELAY_USER_MAX must be a number from 0 to %ld, not \"%s\": using %ld",
             SETTINGS_MAX_USER_MAX, v, SETTINGS_DEFAULT_USER_MAX);

    s->remoteinfo = common_switch("RELAY_REMOTEINFO", 0, warn);
    s->log = common_switch("RELAY_LOG", 1, warn);
    own_switch(&s->session_refresh, "RELAY_SESSION_REFRESH");
    own_switch(&s->cdb_v4mapped, "RELAY_CDB_V4MAPPED");
    cdb_mode(&s->cdb);
    redis_mode(&s->redis, warn);
    /* A Redis store that cannot be used grants nothing; that was said once, just above. */
    if (s->redis.on && !s->redis.ok)
        s->relayclient_ok = 0;
}
