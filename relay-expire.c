/* relay-expire: the cron job. It removes allowances older than the expiry and the temp files
 * of writers that died, and can list the live allowances or show what a sweep would do. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
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
    log_fatal(100, "usage: relay-expire [-n | -l]");
}

int main(int argc, char **argv)
{
    struct settings cfg;
    struct store store;
    int dry_run = 0, list = 0, opt;

    log_init("relay-expire");
    opterr = 0; /* one line of our own for a bad option, not getopt's as well */
    while ((opt = getopt(argc, argv, "nl")) != -1) {
        if (opt == 'n')
            dry_run = 1;
        else if (opt == 'l')
            list = 1;
        else
            usage();
    }
    if (optind != argc || (dry_run && list))
        usage();
    settings_load(&cfg, log_warn);
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
