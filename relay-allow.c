/* relay-allow: the login hook. It runs after a successful POP3 or IMAP login, records the
 * client's allowance to relay, and execs the rest of its argv. Nothing here may stop the
 * login: every failure is one line on stderr, and the session goes on. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "log.h"
#include "settings.h"
#include "store.h"

/* The old Courier AUTHMODULES chain runs the modules after the login has been tried, and
 * only AUTHENTICATED says whether it succeeded. */
static int login_failed(void)
{
    const char *authenticated = getenv("AUTHENTICATED");
    return getenv("AUTHUSER") != NULL && getenv("AUTHARGV0") != NULL &&
           (authenticated == NULL || authenticated[0] == '\0');
}

static const char *login_user(void)
{
    const char *user = getenv("USER");
    if (user == NULL || user[0] == '\0')
        user = getenv("AUTHENTICATED");
    if (user == NULL)
        return "";
    if (user[0] != '\0' && !store_user_ok(user)) {
        log_warn("user name has forbidden characters or is too long: recorded without it");
        return "";
    }
    return user;
}

static void allow(const struct settings *cfg)
{
    if (login_failed()) {
        log_warn("AUTHENTICATED is empty in the AUTHMODULES chain: nothing recorded");
        return;
    }

    const char *var;
    const char *text = addr_from_env(&var);
    struct addr client;
    if (text == NULL) {
        log_warn("no client address in TCP6REMOTEIP, TCPREMOTEIP or IP: nothing recorded");
        return;
    }
    if (addr_parse(&client, text) != 0) {
        log_warn("%s is not an address: \"%s\": nothing recorded", var, text);
        return;
    }
    char key[ADDR_KEY_MAX];
    addr_key(key, &client, cfg->v6bits);
    const char *user = login_user();

    struct store store;
    if (store_open(&store, cfg->dir) != 0) {
        log_warn("unable to open store %s: %s: nothing recorded", cfg->dir, strerror(errno));
        return;
    }
    if (store_record(&store, key, user) != 0)
        log_warn("unable to record %s in %s: %s", key, cfg->dir, strerror(errno));
    else if (cfg->log)
        log_info("recorded %s user=%s", key, user[0] != '\0' ? user : "-");
    store_close(&store);
}

int main(int argc, char **argv)
{
    struct settings cfg;

    log_init("relay-allow");
    settings_load(&cfg);
    allow(&cfg);
    if (argc < 2)
        return 0;
    log_exec(argv + 1);
}
