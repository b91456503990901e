/* grant.c: the judgement of grant.h. */
#include "grant.h"

enum grant grant_judge(const struct settings *cfg, const char *key, time_t now,
                       struct record *rec, long *age, const char **why)
{
    *age = 0;
    /* The header promises rec is always set: a backend that fails before it reads anything
     * (a path too long) must not leave the caller an uninitialised user to log. */
    *rec = (struct record){ .time = 0 };
    switch (store_lookup(cfg, key, rec, why)) {
    case STORE_MISSING:
        return GRANT_NONE;
    case STORE_INVALID:
        return GRANT_INVALID;
    case STORE_ERROR:
        return GRANT_ERROR;
    case STORE_FOUND:
        break;
    }
    /* A login time up to STORE_FUTURE_SLACK ahead is clock skew between hosts sharing the
     * store, and counts as made now. One further ahead is refused: it cannot be told apart
     * from a record made to outlive its expiry. After a clock is stepped back the sweep keeps
     * such a record, which grants again once the clock has caught up, and a new login
     * replaces it at once. */
    *age = store_age(rec->time, now);
    if (*age < -STORE_FUTURE_SLACK)
        return GRANT_FUTURE;
    if (!store_fresh(rec->time, now, cfg->expiry))
        return GRANT_EXPIRED;
    if (*age < 0)
        *age = 0;
    return GRANT_YES;
}
