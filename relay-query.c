/* relay-query ADDRESS: may this address relay now, and why? The answer relay-check would
 * give, as an exit status for a program (Exim's ${run}: 0 yes, 1 no, 111 the store could not
 * be read, 100 a bad address or usage) and as one line on stdout for a person. It only reads
 * the store. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "addr.h"
#include "grant.h"
#include "log.h"
#include "settings.h"
#include "store.h"

static int say(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vprintf(fmt, ap);
    va_end(ap);
    if (fflush(stdout) != 0 || ferror(stdout))
        log_fatal(111, "unable to write output: %s", strerror(errno));
    return status;
}

int main(int argc, char **argv)
{
    struct settings cfg;
    struct addr a;
    struct record rec;
    char key[ADDR_KEY_MAX], shown[ADDR_KEY_MAX], name[STORE_NAME_MAX];
    const char *why;
    long age;

    log_init("relay-query");
    if (argc != 2)
        log_fatal(100, "usage: relay-query ADDRESS");
    settings_load(&cfg, log_warn);
    if (addr_parse(&a, argv[1]) != 0)
        log_fatal(100, "not an address: \"%s\"", argv[1]);
    if (addr_key(key, &a, &cfg.keys) != 0)
        return say(1, "%s no: an address that may never relay\n", argv[1]);
    addr_key_show(shown, sizeof shown, key);
    /* An invalid setting was said once, by settings_load. */
    if (!cfg.relayclient_ok)
        return say(1, "%s no: the settings grant nothing\n", shown);

    enum grant g = grant_judge(&cfg, key, time(NULL), &rec, &age, &why);
    const char *user = rec.user[0] != '\0' ? rec.user : "-";
    switch (g) {
    case GRANT_YES:
        return say(0, "%s yes user=%s age=%ld left=%ld\n", shown, user, age, cfg.expiry - age);
    case GRANT_NONE:
        return say(1, "%s no: not found\n", shown);
    case GRANT_INVALID:
        return say(1, "%s no: invalid record %s: %s\n", shown,
                   store_name(&cfg, key, name, sizeof name), why);
    case GRANT_FUTURE:
        return say(1, "%s no: login time %lu s in the future user=%s\n", shown,
                   age == LONG_MIN ? (unsigned long)LONG_MAX + 1 : (unsigned long)-age, user);
    case GRANT_EXPIRED:
        return say(1, "%s no: expired user=%s age=%ld\n", shown, user, age);
    case GRANT_ERROR:
        break;
    }
    log_warn("unable to read %s: %s", store_name(&cfg, key, name, sizeof name),
             why[0] != '\0' ? why : strerror(errno));
    return 111;
}
