/* merge.h: the tcprules merge, relay-cdb's build state. tcprules' records, in tcprules'
 * order, and every allowance merged in: ahead of the rule that tcpserver would otherwise have
 * applied to that client, a record of its own with that rule's variables plus RELAYCLIENT. A
 * deny stays a deny, a rule that sets RELAYCLIENT already is left as it is, and a static rule
 * whose key an allowance has is given RELAYCLIENT in place.
 *
 * Use: merge_init; merge_line for each line of tcprules' input; merge_start; merge_grant for
 * each allowance; merge_finish; merge_write. The records of IPv4 allowances go to put as they
 * are made (no later lookup here can need them), the rest at merge_write, once every flag is
 * known: tcpserver finds the same record for every key either way, since no two records made
 * here share a key but static ones, which keep their order.
 *
 * Returns are 0, or -1 with errno set: ENOMEM, or what put returned and set. */
#ifndef RELAYLEASE_MERGE_H
#define RELAYLEASE_MERGE_H

#include <stddef.h>
#include "buf.h"
#include "cdb/map.h"
#include "cdb/rules.h"

struct addr_policy;

/* One cdb record. Key and value live in two arenas; a merged record shares the value of the
 * rule it was made from, and MERGE_GRANT adds RELAYCLIENT when it is written. */
struct merge_rec {
    size_t koff, voff;
    size_t klen, vlen;
    int flags;
};

struct merge_counts {
    unsigned long allowances; /* granted (merge_grant) */
    unsigned long records;    /* records made for them */
    unsigned long merged;     /* static records given RELAYCLIENT */
    unsigned long kept;       /* allowances whose rule grants or denies already */
    unsigned long partial;    /* IPv6 allowances that tcpserver's rules match only in part */
    unsigned long unmatchable; /* IPv6 allowances no rule can be written for */
};

/* Where a record goes: the cdb's writer. Its non-zero return is passed back as is. */
typedef int merge_put_fn(const char *k, size_t klen, const char *v, size_t vlen, void *arg);

struct merge {
    struct rbuf keys, values;
    struct merge_rec *recs;
    size_t nrecs, caprecs, nstatic;
    struct map first;   /* key -> first record with it */
    struct map v6nets;  /* the IPv6 prefix keys of the allowances */
    struct map shadows; /* and their ISATAP shadow keys (rules_ip6_keys) */
    struct map walks;   /* IPv4 prefixes ("10.1.2.") whose fallback rule is known */
    struct rbuf v6keys, walkkeys;
    size_t *walk_at, capwalk;
    /* Is there a static rule for an exact IPv4 address? Without one, an IPv4 allowance need
     * not be looked up: no other key can equal its text. */
    int static_v4_exact;
    /* The value of a record made for an allowance from each static rule, then from none. */
    struct merge_ready {
        size_t voff, vlen; /* vlen 0: not made yet (a made one holds at least RELAYCLIENT) */
    } *ready;
    size_t nready;
    const char *relayclient;
    int v4mapped;
    const struct addr_policy *policy;
    merge_put_fn *put;
    void *put_arg;
    struct rules_v4_forms forms; /* scratch for merge_grant */
    struct rules_v6_keys v6;
    struct merge_counts count;
};

/* An empty build. */
int merge_init(struct merge *m);

/* Add the records of one line of tcprules' input (its bytes, with or without the newline):
 * what rules_parse_line says of it (RULES_BAD also for a range rules_expand refuses). */
enum rules_line merge_line(struct merge *m, const char *line, size_t len);

/* The static rules are in: allowances come next. relayclient is RELAYCLIENT's value; with
 * v4mapped an IPv4 allowance is granted under the IPv6 texts of its address too (as policy
 * keys them: rules_v4_forms). */
int merge_start(struct merge *m, const char *relayclient, int v4mapped,
                const struct addr_policy *policy, merge_put_fn *put, void *arg);

/* Grant relaying to the allowance with the key k, klen bytes (a valid store key). */
int merge_grant(struct merge *m, const char *k, size_t klen);

/* Every allowance is in: give RELAYCLIENT to the static rules for parts of allowed IPv6
 * networks. */
void merge_finish(struct merge *m);

/* Put the records that are not out yet, in order. */
int merge_write(struct merge *m);

void merge_free(struct merge *m);

#endif
