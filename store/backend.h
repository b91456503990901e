/* store/backend.h: what a backend gives store.c, which is all that the programs see. One
 * table per backend; the programs never learn which one they have, beyond store_home. */
#ifndef RELAYLEASE_STORE_BACKEND_H
#define RELAYLEASE_STORE_BACKEND_H

#include "settings.h"
#include "store.h"

struct store_backend {
    int (*open)(struct store *s, const struct settings *cfg);
    void (*close)(struct store *s);
    int (*id)(struct store *s, unsigned long long *dev, unsigned long long *ino);
    /* max 0: no cap. Returns 0 recorded, 1 over the cap (*held set), -1 with errno. */
    int (*record)(struct store *s, const char *key, const char *user, time_t t, long max,
                  long *held);
    int (*sweep)(struct store *s, long expiry, int dry_run, struct sweep_stats *st,
                 void (*removed)(const char *name, long age, void *arg), void *arg);
    int (*list)(struct store *s, long expiry, void (*fn)(const struct record *r, void *arg),
                void *arg);
    long (*revoke_user)(struct store *s, const char *user,
                        void (*fn)(const struct record *r, void *arg), void *arg);
    long (*revoke_key)(struct store *s, const char *key,
                       void (*fn)(const struct record *r, void *arg), void *arg);
};

extern const struct store_backend store_dir_backend, store_redis_backend;

#endif
