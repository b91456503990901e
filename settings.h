/* settings.h: the environment variables that configure relaylease, read strictly, all of them
 * here and once, with one parser for each kind of value. */
#ifndef RELAYLEASE_SETTINGS_H
#define RELAYLEASE_SETTINGS_H

#include <stddef.h>
#include "addr.h"
#include "log.h"
#include "redis/client.h"

#define SETTINGS_DEFAULT_DIR "/var/lib/relaylease"
#define SETTINGS_DEFAULT_EXPIRY 900L
#define SETTINGS_MAX_EXPIRY 604800L
#define SETTINGS_DEFAULT_V6BITS 64U
#define SETTINGS_RELAYCLIENT_MAX 255
#define SETTINGS_DEFAULT_CDB_PROG "relay-cdb"
#define SETTINGS_DEFAULT_USER_MAX 10L
/* A user's index holds the live lines and at most as many dead ones: a cap this high keeps it
 * within the store's bound on it (store/dir.c) even for 255-byte names. */
#define SETTINGS_MAX_USER_MAX 1000L

/* A switch that only one program acts on, and so only that program warns about, in words of
 * its own: its value, and the text it had when that was invalid (it then has its default). */
struct settings_switch {
    int on;
    const char *invalid;    /* NULL: the value was valid, or unset */
};

/* cdb mode (cdb/trigger.h). Only a program that asks for a rebuild says what is wrong with
 * it, when it asks, as it always has: state says what that is. */
enum settings_cdb_state {
    SETTINGS_CDB_OFF,       /* RELAY_CDB unset or empty */
    SETTINGS_CDB_ON,
    SETTINGS_CDB_BAD_PATH,  /* RELAY_CDB is not an absolute path */
    SETTINGS_CDB_BAD_RULES  /* RELAY_CDB_RULES unset or not an absolute path */
};

struct settings_cdb {
    enum settings_cdb_state state;
    const char *path;       /* RELAY_CDB: the rules cdb tcpserver -x reads */
    const char *rules;      /* RELAY_CDB_RULES: its source, tcprules' input */
    const char *prog;       /* RELAY_CDB_PROG, default "relay-cdb" */
};

#define SETTINGS_REDIS_SENTINELS_MAX 8
#define SETTINGS_REDIS_NAME_MAX 64
#define SETTINGS_DEFAULT_REDIS_TIMEOUT 250L
#define SETTINGS_MAX_REDIS_TIMEOUT 5000L

/* The Redis store (store/redis.c): on when RELAY_REDIS or RELAY_REDIS_SENTINELS is set and
 * not empty; then RELAY_DIR is not used. A setting that is wrong leaves it on but not ok:
 * nothing is read or written, so nothing is granted, rather than falling back to a directory
 * that may hold an old store. */
struct settings_redis {
    int on;
    int ok;
    int have_where;                 /* RELAY_REDIS: the server readers ask, often a replica */
    struct redis_addr where;
    size_t nsentinels;              /* RELAY_REDIS_SENTINELS: writers ask them for the primary */
    struct redis_addr sentinels[SETTINGS_REDIS_SENTINELS_MAX];
    const char *master;             /* RELAY_REDIS_MASTER: the name the sentinels know */
    const char *user;               /* RELAY_REDIS_USER: NULL for Redis's default user */
    const char *passfile;           /* RELAY_REDIS_PASSFILE: NULL sends no AUTH */
    const char *sentinel_passfile;  /* RELAY_REDIS_SENTINEL_PASSFILE: the sentinels' */
    long timeout_ms;                /* RELAY_REDIS_TIMEOUT: for a whole exchange */
};

struct settings {
    const char *dir;          /* RELAY_DIR, else RELAY_CTRL_DIR */
    long expiry;              /* RELAY_EXPIRY, else RELAY_CTRL_EXPIRY; seconds */
    const char *relayclient;  /* RELAY_RELAYCLIENT, else RELAY_CTRL_RELAYCLIENT */
    int relayclient_ok;       /* 0: the value, or the Redis settings, were invalid, so
                               * nothing may be granted */
    struct addr_policy keys;  /* RELAY_IPV6_PREFIX, RELAY_NAT64_PREFIX */
    int remoteinfo;           /* RELAY_REMOTEINFO: put the user in TCPREMOTEINFO */
    int log;                  /* RELAY_LOG: one line per decision */
    long user_max;            /* RELAY_USER_MAX: the most live allowances one user may
                               * hold; 0: no cap */
    struct settings_switch session_refresh;  /* RELAY_SESSION_REFRESH (relay-session) */
    struct settings_switch cdb_v4mapped;     /* RELAY_CDB_V4MAPPED (relay-cdb) */
    struct settings_cdb cdb;                 /* RELAY_CDB, RELAY_CDB_RULES, RELAY_CDB_PROG */
    struct settings_redis redis;             /* RELAY_REDIS and the rest of RELAY_REDIS_* */
};

/* Fill s from the environment. Every invalid value of the settings all programs share is
 * passed to warn, one line each (programs pass log_warn), and replaced by its safe choice:
 * the default expiry, the narrowest IPv6 prefix (128; also when the NAT64 prefix is invalid,
 * since no one can tell which IPv6 clients stand for IPv4 hosts), no RELAYCLIENT. The
 * one-program switches and cdb mode are checked too, but left for their program to report
 * (settings_switch.invalid, settings_cdb.state). The strings point into the environment. */
void settings_load(struct settings *s, log_fn *warn);

/* Parse a decimal number in [min, max] with no sign, spaces or leading zeros.
 * Returns 0, or -1 if s is not such a number. */
int settings_number(const char *s, long min, long max, long *out);

/* Parse a switch, the one rule for all of them, as qmail reads RELAYCLIENT: set is on, so
 * "1" and the empty string are on, and "0" is off. Returns 0, or -1 (out unchanged) for
 * anything else. */
int settings_switch(const char *s, int *out);

/* Is s an absolute path? 1 or 0. */
int settings_absolute(const char *s);

#endif
