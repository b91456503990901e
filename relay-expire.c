/* relay-expire: the cron job. It removes allowances older than the expiry and the temp files
 * of writers that died, and can list the live allowances or show what a sweep would do. By
 * hand it also revokes: every allowance of one user (-r, after a password change), or the
 * one for an address (-a). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include "addr.h"
#include "log.h"
#include "owner.h"
#include "settings.h"
#include "store.h"
#include "cdb/trigger.h"

struct listing {
    long expiry;
    const struct addr_policy *keys;
    time_t now;
    unsigned long count;
};

static void print_live(const struct record *r, void *arg)
{
    struct listing *l = arg;
    char shown[ADDR_KEY_MAX];
    /* A record under a key the settings no longer make (an old ::_64, a /48 when the prefix
     * is 64) is never looked up: listing it would show an allowance that does not exist. */
    if (!addr_key_current(r->key, l->keys)) {
        log_warn("%s is under a key the current settings never look up: it grants nothing",
                 r->key);
        return;
    }
    /* Listed records are fresh: the age is within [-STORE_FUTURE_SLACK, expiry], and a
     * login time within the slack counts as made now, as relay-check takes it. */
    long age = store_age(r->time, l->now);
    if (age < 0)
        age = 0;
    addr_key_show(shown, sizeof shown, r->key);
    printf("%s %s %ld %ld\n", shown, r->user[0] != '\0' ? r->user : "-", age,
           age < l->expiry ? l->expiry - age : 0);
    l->count++;
}

static void print_removal(const char *name, long age, void *arg)
{
    (void)arg;
    char shown[NAME_MAX + 1]; /* a key, or a temp file's name (longer than any key) */
    addr_key_show(shown, sizeof shown, name);
    printf("would remove %s age %ld\n", shown, age);
}

/* A store that its group or everyone may write holds records that anyone there could have
 * forged; relay-check refuses each such record, and the sweep says why once per run. */
static void check_store_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        log_warn("store %s is writable by its group or others: anyone there can forge or "
                 "remove allowances (chmod go-w %s)", dir, dir);
}

static void usage(void)
{
    log_fatal(100, "usage: relay-expire [-n | -l | -r USER | -a ADDRESS]");
}

/* A revocation's lines: each written as the store removes the record. */
struct revoked {
    time_t now;
    int out_failed;     /* a line could not be written: the run ends in 111 */
};

static void print_revoked(const struct record *r, void *arg)
{
    struct revoked *v = arg;
    char shown[ADDR_KEY_MAX];
    long age = store_age(r->time, v->now);
    /* As in the listing, a login time within the slack counts as made now; one further ahead
     * (a stale record) shows how far. */
    if (age < 0 && age >= -STORE_FUTURE_SLACK)
        age = 0;
    addr_key_show(shown, sizeof shown, r->key);
    /* Each line leaves at once: a failure further on must not take back what was said. */
    if (printf("removed %s %s %ld\n", shown, r->user[0] != '\0' ? r->user : "-", age) < 0 ||
        fflush(stdout) != 0)
        v->out_failed = 1;
}

/* The key -a names: an address as tcpserver gives it, keyed by the current policy as
 * relay-check keys it, or a key as the listing shows it ("2001:db8:1:2::/64") or as it is
 * stored ("..._64"), which also reaches a key made under an older policy. Returns 0 with key
 * (ADDR_KEY_MAX bytes) filled, 1 for an address that may never relay, -1 for text that is
 * neither. */
static int revoke_target(char *key, const char *arg, const struct addr_policy *p)
{
    struct addr a;
    unsigned bits;
    if (strchr(arg, '/') == NULL && strchr(arg, '_') == NULL) {
        if (addr_parse(&a, arg) != 0)
            return -1;
        return addr_key(key, &a, p) == 0 ? 0 : 1;
    }
    size_t n = strlen(arg);
    if (n >= ADDR_KEY_MAX)
        return -1;
    memcpy(key, arg, n + 1);
    char *slash = strchr(key, '/');
    if (slash != NULL)
        *slash = '_';
    /* Only canonical keys parse, so "/" and "_" cannot both be there, nor anything else. */
    if (addr_key_parse(&a, &bits, key) != 0) {
        key[0] = '\0';
        return -1;
    }
    return 0;
}

/* -r USER or -a (key). Prints each removed allowance, then rebuilds the cdb as a sweep does:
 * also when nothing was removed, so that a run after a failed rebuild (which left the cdb
 * granting what the store no longer holds) mends it. 0 removed something, 1 nothing, 111 an
 * error (what was removed before it stays removed, and was printed). */
static int revoke(const struct settings *cfg, struct store *store, const char *user,
                  const char *key, const char *shown)
{
    const char *where = store_where(cfg);
    struct revoked v = {time(NULL), 0};
    int status = 0;
    long n = user != NULL ? store_revoke_user(store, user, print_revoked, &v)
                          : store_revoke_key(store, key, print_revoked, &v);
    /* On Redis the store also waits for this host's replica to drop what was removed (the
     * cdb rebuild below and relay-check read it): a replica that lags is an error too. */
    if (n < 0) {
        log_warn("unable to revoke %s %s in %s: %s (the lines printed were removed)",
                 user != NULL ? "the allowances of user" : "the allowance for",
                 user != NULL ? user : shown, where, store_error(store));
        status = 111;
    } else if (n == 0) {
        if (user != NULL)
            printf("nothing removed: no allowance of user %s\n", user);
        else
            printf("nothing removed: no allowance for %s\n", shown);
        status = 1;
    }
    if (fflush(stdout) != 0 || ferror(stdout) || v.out_failed) {
        log_warn("unable to write output: %s", strerror(errno));
        status = 111;
    }
    store_close(store);
    /* cdb mode (relay-cdb(8)): a full rescan, waited for, so that what was removed no longer
     * passes tcpserver when this returns. A login's incremental build checks each key it
     * adds against the store, so none brings a removed record back. */
    if (trigger_rebuild(cfg, TRIGGER_WAIT, NULL, log_warn) != 0)
        status = 111;
    return status;
}

int main(int argc, char **argv)
{
    struct settings cfg;
    struct store store;
    int dry_run = 0, list = 0, revokes = 0, opt;
    const char *user = NULL, *target = NULL;
    char key[ADDR_KEY_MAX] = "", shown[ADDR_KEY_MAX] = "";

    log_init("relay-expire");
    opterr = 0; /* one line of our own for a bad option, not getopt's as well */
    while ((opt = getopt(argc, argv, "nlr:a:")) != -1) {
        if (opt == 'n') {
            dry_run = 1;
        } else if (opt == 'l') {
            list = 1;
        } else if (opt == 'r') {
            user = optarg;
            revokes++;
        } else if (opt == 'a') {
            target = optarg;
            revokes++;
        } else {
            usage();
        }
    }
    /* One thing to do: -n -n is still -n, but a second -r or -a is a second thing. */
    if (optind != argc || dry_run + list + revokes > 1)
        usage();
    if (user != NULL && !store_user_ok(user))
        log_fatal(100, "not a user name: \"%s\"", user);
    settings_load(&cfg, log_warn);
    if (target != NULL) {
        int t = revoke_target(key, target, &cfg.keys);
        if (t < 0)
            log_fatal(100, "not an address or a key: \"%s\"", target);
        if (t > 0) {
            printf("nothing removed: %s is an address that may never relay\n", target);
            if (fflush(stdout) != 0 || ferror(stdout))
                log_fatal(111, "unable to write output: %s", strerror(errno));
            return 1;
        }
        addr_key_show(shown, sizeof shown, key);
    }
    const char *home = store_home(&cfg), *where = store_where(&cfg);
    if (home != NULL)
        check_store_dir(home);
    /* Started as root (by hand, or by a cron of root's): every name in the store is its
     * owner's to plant, so the sweep runs as that owner and never as root (owner.h). */
    if (owner_drop(home) != 0) {
        if (errno == EPERM)
            log_fatal(111, "store %s is writable by its group or others: not sweeping it as "
                      "root", where);
        log_fatal(111, "unable to open store %s: %s", where, strerror(errno));
    }

    if (store_open(&store, &cfg, log_warn) != 0)
        log_fatal(111, "unable to open store %s: %s", where, strerror(errno));

    if (user != NULL || target != NULL)
        return revoke(&cfg, &store, user, target != NULL ? key : NULL, shown);
    if (list) {
        struct listing l = {cfg.expiry, &cfg.keys, time(NULL), 0};
        printf("address user age left\n");
        if (store_list(&store, cfg.expiry, print_live, &l) != 0)
            log_fatal(111, "unable to list %s: %s", where, store_error(&store));
    } else {
        struct sweep_stats st;
        if (store_sweep(&store, cfg.expiry, dry_run, &st, dry_run ? print_removal : NULL,
                        NULL) == 0) {
            printf("%s %lu %s %lu temp %lu skipped %lu\n", "kept", st.kept,
                   dry_run ? "would remove" : "removed", st.removed, st.temps, st.skipped);
        } else if (errno == ENOTSUP) {
            /* Redis drops each record when its TTL runs out: there is nothing to sweep, but
             * a cdb built from it still needs its rebuild below. */
            printf("nothing to sweep: %s expires allowances itself\n", where);
        } else if (errno == ETIMEDOUT) {
            log_fatal(111, "unable to lock %s/.lock for %d s: sweep stopped, nothing more "
                      "removed", where, STORE_SWEEP_LOCK_WAIT);
        } else {
            log_fatal(111, "unable to sweep %s: %s", where, strerror(errno));
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        log_fatal(111, "unable to write output: %s", strerror(errno));
    store_close(&store);

    /* cdb mode (relay-cdb(8)): rebuild tcpserver's rules cdb without what was pruned, from a
     * full rescan of the store, which also catches records changed with no login. */
    if (!dry_run && !list && trigger_rebuild(&cfg, TRIGGER_WAIT, NULL, log_warn) != 0)
        return 111;
    return 0;
}
