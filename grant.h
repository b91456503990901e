/* grant.h: may a key relay now? The one judgement relay-check and relay-query both make: the
 * store's record for the key, valid, dated no further ahead than clocks drift, and no older
 * than the expiry. Each program says what it found in its own words. */
#ifndef RELAYLEASE_GRANT_H
#define RELAYLEASE_GRANT_H

#include <time.h>
#include "settings.h"
#include "store.h"

enum grant {
    GRANT_YES,      /* a fresh allowance: *rec, and *age (0 for a login time just ahead) */
    GRANT_NONE,     /* no record for the key */
    GRANT_INVALID,  /* a record that fails validation: *why; it grants nothing */
    GRANT_ERROR,    /* the store could not be read: errno, and *why when there is more to
                     * say (a server's refusal), else "" */
    GRANT_FUTURE,   /* dated more than STORE_FUTURE_SLACK seconds ahead: *age is negative */
    GRANT_EXPIRED   /* older than the expiry: *age */
};

/* Judge key at now. rec, age and why are always set (why to "" when there is nothing to
 * say). */
enum grant grant_judge(const struct settings *cfg, const char *key, time_t now,
                       struct record *rec, long *age, const char **why);

#endif
