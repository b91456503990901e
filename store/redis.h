/* store/redis.h: the Redis backend's record format, for the tests and the fuzzers.
 *
 * A record is the value of the key "relaylease:KEY": one line,
 *     relaylease2 <login time> <KEY> <user>\n
 * the time in decimal seconds (1 to 999999999999, no sign, no leading zero), KEY the key of
 * the Redis key it is under, the user empty or fit for TCPREMOTEINFO (store_user_ok); at most
 * 1024 bytes. relay-ctrl's records and the directory's relaylease1 are never read from Redis.
 *
 * A login with a user also adds KEY to the user's index "relaylease:user:USER", a sorted set
 * of keys scored by login time (TTL at least the record's), in the same Lua script that
 * counts the user's live allowances against RELAY_USER_MAX: the index is a hint, each member
 * is checked against its record. Readers never look at it (the listing SCANs strings only). */
#ifndef RELAYLEASE_STORE_REDIS_H
#define RELAYLEASE_STORE_REDIS_H

#include <stddef.h>
#include "settings.h"
#include "store.h"

/* The lookup (store_lookup with RELAY_REDIS): GET relaylease:KEY from the readers' server. */
enum store_result store_redis_lookup(const struct settings *cfg, const char *key,
                                     struct record *r, const char **why);

/* Validate a record whose key is already in r->key; fill in r->time and r->user. Returns 0,
 * or -1 with *why saying what is wrong. */
int store_parse_redis(const char *buf, size_t n, struct record *r, const char **why);

#endif
