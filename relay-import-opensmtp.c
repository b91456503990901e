/* relay-import-opensmtp < open-smtp: bring vpopmail's roaming-user allowances into the store.
 *
 * vpopmail's ~vpopmail/etc/open-smtp has one line per client that logged in:
 *     1.2.3.4:allow,RELAYCLIENT="",RBLSMTPD=""<TAB>1700000000
 * Each line that is still fresh (login time within RELAY_EXPIRY) becomes an allowance with
 * that login time, so it expires when it would have. A line that does not read as one of
 * these is reported with its number and skipped; the rest are still imported. */
#define _POSIX_C_SOURCE 200809L /* getline */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "addr.h"
#include "cdb/trigger.h"
#include "log.h"
#include "owner.h"
#include "settings.h"
#include "store.h"

struct tally {
    unsigned long imported, stale, newer, malformed, failed;
};

/* Read "address:allow[,...]<TAB>seconds". Returns NULL and sets *key and *t, or the reason
 * the line is refused. */
static const char *read_line(char *line, const struct settings *cfg, char *key, time_t *t)
{
    char *tab = strrchr(line, '\t');
    if (tab == NULL)
        return "no tab before the timestamp";
    *tab = '\0';
    long secs;
    if (settings_number(tab + 1, 0, 999999999999L, &secs) != 0)
        return "the timestamp is not a number of seconds";
    *t = (time_t)secs;

    /* The address ends at the first ":allow" that ends the rule or is followed by a
     * variable, as tcprules would read it; an IPv6 address has colons of its own. */
    char *p = line, *allow = NULL;
    while ((p = strstr(p, ":allow")) != NULL) {
        if (p[6] == '\0' || p[6] == ',') {
            allow = p;
            break;
        }
        p++;
    }
    if (allow == NULL)
        return "no \":allow\" after the address";
    *allow = '\0';
    struct addr a;
    if (addr_parse(&a, line) != 0)
        return "not one client address";
    if (addr_key(key, &a, &cfg->keys) != 0)
        return "an address that may never relay";
    return NULL;
}

static void import(struct store *store, const struct settings *cfg, char *line,
                   unsigned long lineno, time_t now, struct tally *n)
{
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    if (len == 0)
        return;

    char shown[160];
    (void)snprintf(shown, sizeof shown, "%s", line); /* cut short on purpose: for the log */
    char key[ADDR_KEY_MAX];
    time_t t;
    const char *why = read_line(line, cfg, key, &t);
    if (why == NULL && store_age(t, now) < -STORE_FUTURE_SLACK)
        why = "the timestamp is in the future";
    if (why != NULL) {
        log_warn("line %lu skipped: %s: %s", lineno, why, shown);
        n->malformed++;
        return;
    }
    if (!store_fresh(t, now, cfg->expiry)) {
        n->stale++;
        return;
    }

    /* The record carries the login time open-smtp saw, not the time of the import; a login
     * since then has made a newer record, which is kept. */
    switch (store_import(store, key, "", t)) {
    case STORE_IMPORTED:
        n->imported++;
        break;
    case STORE_NEWER:
        n->newer++;
        break;
    case STORE_IMPORT_FAILED:
        log_warn("unable to record %s in %s: %s", key, store_where(cfg), store_error(store));
        n->failed++;
        break;
    }
}

int main(int argc, char **argv)
{
    struct settings cfg;
    struct store store;
    struct tally n = {0};
    char *line = NULL;
    size_t cap = 0;
    unsigned long lineno = 0;

    log_init("relay-import-opensmtp");
    (void)argv;
    if (argc != 1)
        log_fatal(100, "usage: relay-import-opensmtp < open-smtp");
    settings_load(&cfg, log_warn);
    /* Run as root: the store's account could plant a link to any of root's files under a
     * name written or touched here, so the work is done as that account (owner.h). */
    struct owner_saved saved;
    if (owner_enter(&saved, store_home(&cfg)) != 0)
        log_fatal(111, "unable to take the ids of the owner of store %s: %s: nothing imported",
                  store_where(&cfg), strerror(errno));
    if (store_open(&store, &cfg, log_warn) != 0)
        log_fatal(111, "unable to open store %s: %s", store_where(&cfg), strerror(errno));

    time_t now = time(NULL);
    errno = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (strlen(line) != (size_t)got) {
            log_warn("line %lu skipped: it holds a NUL byte", lineno);
            n.malformed++;
            continue;
        }
        import(&store, &cfg, line, lineno, now, &n);
    }
    if (ferror(stdin))
        log_fatal(111, "unable to read input: %s", strerror(errno));
    free(line);
    store_close(&store);

    printf("imported %lu stale %lu newer %lu malformed %lu\n", n.imported, n.stale, n.newer,
           n.malformed);
    if (fflush(stdout) != 0 || ferror(stdout))
        log_fatal(111, "unable to write output: %s", strerror(errno));
    int rebuilt = n.imported == 0 || trigger_rebuild(&cfg, TRIGGER_WAIT, NULL, log_warn) == 0;
    if (owner_leave(&saved) != 0)
        log_fatal(111, "unable to take back root's ids: %s", strerror(errno));
    return !rebuilt || n.failed > 0 ? 111 : 0;
}
