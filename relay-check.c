/* relay-check: the SMTP front. It runs between tcpserver and qmail-smtpd, and for a client
 * with a fresh allowance sets RELAYCLIENT before it execs the rest of its argv. It only
 * reads the store. Whatever goes wrong grants nothing, and the session goes on. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "addr.h"
#include "log.h"
#include "settings.h"
#include "store.h"

static void check(const struct settings *cfg)
{
    /* A static tcpserver rule has decided already; a second opinion could only narrow it. */
    if (getenv("RELAYCLIENT") != NULL) {
        if (cfg->log)
            log_info("RELAYCLIENT already set by tcpserver's rules: left as it is");
        return;
    }

    const char *var;
    const char *text = addr_from_env(&var);
    struct addr client;
    if (text == NULL) {
        log_warn("no client address in TCP6REMOTEIP, TCPREMOTEIP or IP: granting nothing");
        return;
    }
    if (addr_parse(&client, text) != 0) {
        log_warn("%s is not an address: \"%s\": granting nothing", var, text);
        return;
    }
    if (!cfg->relayclient_ok)
        return;

    char key[ADDR_KEY_MAX];
    struct record rec;
    const char *why;
    time_t now = time(NULL);
    addr_key(key, &client, cfg->v6bits);
    switch (store_lookup(cfg->dir, key, &rec, now, &why)) {
    case STORE_MISSING:
        if (cfg->log)
            log_info("refused %s not found", key);
        return;
    case STORE_INVALID:
        log_warn("invalid record %s/%s: %s: granting nothing", cfg->dir, key, why);
        return;
    case STORE_ERROR:
        log_warn("unable to read %s/%s: %s: granting nothing", cfg->dir, key, strerror(errno));
        return;
    case STORE_FOUND:
        break;
    }

    long age = (long)(now - rec.time);
    const char *user = rec.user[0] != '\0' ? rec.user : "-";
    if (!store_fresh(rec.time, now, cfg->expiry)) {
        if (cfg->log)
            log_info("refused %s expired user=%s age=%ld", key, user, age);
        return;
    }
    if (setenv("RELAYCLIENT", cfg->relayclient, 1) != 0) {
        log_warn("unable to set RELAYCLIENT: %s: granting nothing", strerror(errno));
        return;
    }
    if (cfg->remoteinfo && rec.user[0] != '\0' && setenv("TCPREMOTEINFO", rec.user, 1) != 0)
        log_warn("unable to set TCPREMOTEINFO: %s", strerror(errno));
    if (cfg->log)
        log_info("granted %s user=%s age=%ld", key, user, age);
}

int main(int argc, char **argv)
{
    struct settings cfg;

    log_init("relay-check");
    if (argc < 2)
        log_fatal(100, "usage: relay-check program [arg ...]");
    settings_load(&cfg);
    check(&cfg);
    log_exec(argv + 1);
}
