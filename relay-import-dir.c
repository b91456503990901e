/* relay-import-dir DIR: copy the allowances of a directory store (relaylease's, or relay-ctrl's
 * spool) into the store the settings name, keeping each login time, so that moving to Redis
 * loses no one's allowance and lengthens none.
 *
 * Each record of DIR is validated as relay-check would validate it there. A fresh one is
 * recorded with its login time unless the store already holds a login as recent (a user who
 * logged in again since); a stale one is counted and left. Safe to run again. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "cdb/trigger.h"
#include "log.h"
#include "owner.h"
#include "settings.h"
#include "store.h"
#include "store/dir.h"

struct tally {
    unsigned long imported, stale, newer, failed;
};

/* What DIR holds, read in full before anything is written: as root, DIR is read as its
 * owner, and the writing is done as the store's (or as root, for Redis). */
struct found {
    struct record *r;
    size_t n, cap;
    int nomem;
};

static void keep(const struct record *r, void *arg)
{
    struct found *f = arg;
    if (f->nomem)
        return;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 1024;
        struct record *p = cap <= SIZE_MAX / sizeof *p ? realloc(f->r, cap * sizeof *p) : NULL;
        if (p == NULL) {
            f->nomem = 1;
            return;
        }
        f->r = p;
        f->cap = cap;
    }
    f->r[f->n++] = *r;
}

static void read_source(const char *dir, struct found *f)
{
    struct owner_saved saved;
    struct store src;
    struct stat st;
    if (stat(dir, &st) != 0)
        log_fatal(111, "unable to open %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        log_fatal(100, "%s is not a directory", dir);
    /* No record in such a directory is valid, and store_list says nothing of each. */
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        log_fatal(100, "%s is writable by its group or others: anyone there could have forged "
                  "its records: nothing imported", dir);
    if (owner_enter(&saved, dir) != 0)
        log_fatal(111, "unable to take the ids of the owner of %s: %s: nothing imported", dir,
                  strerror(errno));
    if (store_dir_open(&src, dir, log_warn) != 0)
        log_fatal(111, "unable to open %s: %s", dir, strerror(errno));
    /* Every valid record, whatever its age: the stale ones are counted below. */
    if (store_list(&src, LONG_MAX, keep, f) != 0)
        log_fatal(111, "unable to list %s: %s", dir, strerror(errno));
    store_close(&src);
    if (owner_leave(&saved) != 0)
        log_fatal(111, "unable to take back root's ids: %s", strerror(errno));
    if (f->nomem)
        log_fatal(111, "out of memory after %zu records of %s", f->n, dir);
}

/* Importing a directory store into itself would do nothing but confuse. */
static void refuse_itself(const char *dir, const struct settings *cfg)
{
    struct stat a, b;
    const char *home = store_home(cfg);
    if (home != NULL && stat(dir, &a) == 0 && stat(home, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        log_fatal(100, "%s is the store itself (RELAY_DIR): nothing to import", dir);
}

static void import(struct store *dst, const struct settings *cfg, const struct record *r,
                   time_t now, struct tally *n)
{
    if (!store_fresh(r->time, now, cfg->expiry)) {
        n->stale++;
        return;
    }
    switch (store_import(dst, r->key, r->user, r->time)) {
    case STORE_IMPORTED:
        n->imported++;
        break;
    case STORE_NEWER:
        n->newer++;
        break;
    case STORE_IMPORT_FAILED:
        log_warn("unable to record %s in %s: %s", r->key, store_where(cfg), store_error(dst));
        n->failed++;
        break;
    }
}

int main(int argc, char **argv)
{
    struct settings cfg;
    struct store dst;
    struct found f = {NULL, 0, 0, 0};
    struct tally n = {0, 0, 0, 0};

    log_init("relay-import-dir");
    if (argc != 2 || argv[1][0] == '\0')
        log_fatal(100, "usage: relay-import-dir DIR");
    settings_load(&cfg, log_warn);
    refuse_itself(argv[1], &cfg);

    read_source(argv[1], &f);

    /* Run as root with a directory store: the store's account could plant a link under a
     * name written here, so the work is done as that account (owner.h). */
    struct owner_saved saved;
    if (owner_enter(&saved, store_home(&cfg)) != 0)
        log_fatal(111, "unable to take the ids of the owner of store %s: %s: nothing imported",
                  store_where(&cfg), strerror(errno));
    if (store_open(&dst, &cfg, log_warn) != 0)
        log_fatal(111, "unable to open store %s: %s", store_where(&cfg), strerror(errno));
    time_t now = time(NULL);
    for (size_t i = 0; i < f.n; i++)
        import(&dst, &cfg, &f.r[i], now, &n);
    store_close(&dst);
    free(f.r);

    printf("imported %lu stale %lu newer %lu failed %lu\n", n.imported, n.stale, n.newer,
           n.failed);
    if (fflush(stdout) != 0 || ferror(stdout))
        log_fatal(111, "unable to write output: %s", strerror(errno));
    int rebuilt = n.imported == 0 || trigger_rebuild(&cfg, TRIGGER_WAIT, NULL, log_warn) == 0;
    if (owner_leave(&saved) != 0)
        log_fatal(111, "unable to take back root's ids: %s", strerror(errno));
    return !rebuilt || n.failed > 0 ? 111 : 0;
}
