/* store/dir.h: the directory backend's own entry points, for what works on a directory store
 * whatever the settings say: relay-cdb's journal lookups, the tests and the fuzzers. */
#ifndef RELAYLEASE_STORE_DIR_H
#define RELAYLEASE_STORE_DIR_H

#include <stddef.h>
#include "store.h"

/* Open the directory store dir; warn as in store_open. Returns 0, or -1 with errno set. */
int store_dir_open(struct store *s, const char *dir, log_fn *warn);

/* Look up the record for key without opening the directory (relay-check's fast path). A
 * record that its group or others may write, or that belongs to anyone but root or the store
 * directory's owner, is STORE_INVALID: someone else could have written it. */
enum store_result store_dir_lookup(const char *dir, const char *key, struct record *r,
                                   const char **why);

/* Validate the content of a record file whose name, the key, is already in r->key; fill
 * in r->user and r->legacy. Returns 0, or -1 with *why saying what is wrong. */
int store_parse(const char *buf, size_t n, struct record *r, const char **why);

#endif
