/* relay-check: the SMTP front. It runs between tcpserver and qmail-smtpd, and for a client
 * with a fresh allowance sets RELAYCLIENT before it execs the rest of its argv. It only
 * reads the store. Whatever goes wrong grants nothing, and the session goes on. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "addr.h"
#include "grant.h"
#include "log.h"
#include "settings.h"
#include "store.h"

extern char **environ;

/* Environments from tcpserver hold a few dozen variables; this bounds the stack copy. */
#define ENV_MAX 4096

/* Does the client have a fresh allowance? Fills rec and returns 1 if so. Every doubt
 * (no address, a bad one, a broken store, an invalid record) returns 0. */
static int allowed(const struct settings *cfg, struct record *rec)
{
    /* A static tcpserver rule has decided already; a second opinion could only narrow it. */
    if (getenv("RELAYCLIENT") != NULL) {
        if (cfg->log)
            log_info("RELAYCLIENT already set by tcpserver's rules: left as it is");
        return 0;
    }

    const char *var, *text;
    char key[ADDR_KEY_MAX];
    enum addr_client found = addr_client_key(key, ADDR_UCSPI, &cfg->keys, &var, &text);
    if (found == ADDR_CLIENT_NONE) {
        log_warn("no client address in TCP6REMOTEIP or TCPREMOTEIP: granting nothing");
        return 0;
    }
    if (found == ADDR_CLIENT_BAD) {
        log_warn("%s is not an address: \"%s\": granting nothing", var, text);
        return 0;
    }
    /* Said once, by settings_load: nothing more to say about this client. */
    if (!cfg->relayclient_ok)
        return 0;
    if (found == ADDR_CLIENT_NEVER) {
        if (cfg->log)
            log_info("refused %s: an address that may never relay", text);
        return 0;
    }

    const char *why;
    char name[STORE_NAME_MAX];
    long age;
    enum grant g = grant_judge(cfg, key, time(NULL), rec, &age, &why);
    const char *user = rec->user[0] != '\0' ? rec->user : "-";
    switch (g) {
    case GRANT_NONE:
        if (cfg->log)
            log_info("refused %s not found", key);
        return 0;
    case GRANT_INVALID:
        log_warn("invalid record %s: %s: granting nothing",
                 store_name(cfg, key, name, sizeof name), why);
        return 0;
    case GRANT_ERROR:
        log_warn("unable to read %s: %s: granting nothing",
                 store_name(cfg, key, name, sizeof name), why[0] != '\0' ? why : strerror(errno));
        return 0;
    case GRANT_FUTURE:
        if (cfg->log)
            log_info("refused %s login time %lu s in the future user=%s", key,
                     age == LONG_MIN ? (unsigned long)LONG_MAX + 1 : (unsigned long)-age, user);
        return 0;
    case GRANT_EXPIRED:
        if (cfg->log)
            log_info("refused %s expired user=%s age=%ld", key, user, age);
        return 0;
    case GRANT_YES:
        break;
    }
    if (cfg->log)
        log_info("granted %s user=%s age=%ld", key, user, age);
    return 1;
}

/* Exec the rest of argv with RELAYCLIENT set, and TCPREMOTEINFO set to the user if asked.
 * The environment is built on the stack and installed just before the exec: setenv would
 * bring in malloc, and its system calls, on every SMTP connection. Nothing else is added
 * or changed, whatever the store said. */
static _Noreturn void exec_granted(char **argv, const struct settings *cfg,
                                   const struct record *rec)
{
    const char *info = cfg->remoteinfo && rec->user[0] != '\0' ? rec->user : NULL;
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    if (n > ENV_MAX) {
        if (setenv("RELAYCLIENT", cfg->relayclient, 1) != 0 ||
            (info != NULL && setenv("TCPREMOTEINFO", info, 1) != 0))
            log_fatal(111, "unable to set RELAYCLIENT: %s", strerror(errno));
        log_exec(argv);
    }

    char *env[n + 3];
    char relayclient[sizeof "RELAYCLIENT=" + SETTINGS_RELAYCLIENT_MAX];
    char remoteinfo[sizeof "TCPREMOTEINFO=" + STORE_USER_MAX];
    size_t m = 0;
    /* Both always fit: the settings and the record parser cap each value at 255 bytes. */
    (void)snprintf(relayclient, sizeof relayclient, "RELAYCLIENT=%s", cfg->relayclient);
    env[m++] = relayclient;
    if (info != NULL) {
        (void)snprintf(remoteinfo, sizeof remoteinfo, "TCPREMOTEINFO=%s", info);
        env[m++] = remoteinfo;
    }
    for (size_t i = 0; i < n; i++)
        if (info == NULL || strncmp(environ[i], "TCPREMOTEINFO=", 14) != 0)
            env[m++] = environ[i];
    env[m] = NULL;
    environ = env;
    log_exec(argv);
}

int main(int argc, char **argv)
{
    struct settings cfg;
    struct record rec;

    log_init("relay-check");
    if (argc < 2)
        log_fatal(100, "usage: relay-check program [arg ...]");
    settings_load(&cfg, log_warn);
    if (allowed(&cfg, &rec))
        exec_granted(argv + 1, &cfg, &rec);
    log_exec(argv + 1);
}
