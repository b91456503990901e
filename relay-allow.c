/* relay-allow: the login hook. It runs after a successful POP3 or IMAP login, records the
 * client's allowance to relay, and execs the rest of its argv. Nothing here may stop the
 * login: every failure is one line on stderr, and the session goes on. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "addr.h"
#include "io.h"
#include "log.h"
#include "owner.h"
#include "settings.h"
#include "store.h"
#include "cdb/trigger.h"

/* The old Courier AUTHMODULES chain runs the modules after the login has been tried, and
 * only AUTHENTICATED says whether it succeeded. */
static int login_failed(void)
{
    const char *authenticated = getenv("AUTHENTICATED");
    return getenv("AUTHUSER") != NULL && getenv("AUTHARGV0") != NULL &&
           (authenticated == NULL || authenticated[0] == '\0');
}

/* Courier says who logged in with AUTHENTICATED and leaves USER as its own caller had it
 * (root, when couriertcpd was started from a shell), so AUTHENTICATED comes first; USER is
 * checkpassword's and Dovecot's word. */
static const char *login_user(void)
{
    const char *user = getenv("AUTHENTICATED");
    if (user == NULL || user[0] == '\0')
        user = getenv("USER");
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

    const char *var, *text;
    char key[ADDR_KEY_MAX];
    switch (addr_client_key(key, ADDR_UCSPI_OR_IP, &cfg->keys, &var, &text)) {
    case ADDR_CLIENT_NONE:
        log_warn("no client address in TCP6REMOTEIP, TCPREMOTEIP or IP: nothing recorded");
        return;
    case ADDR_CLIENT_BAD:
        log_warn("%s is not an address: \"%s\": nothing recorded", var, text);
        return;
    case ADDR_CLIENT_NEVER:
        log_warn("%s may never relay: \"%s\": nothing recorded", var, text);
        return;
    case ADDR_CLIENT_OK:
        break;
    }
    const char *user = login_user();

    /* Run as root (Dovecot's post-login, Courier): the store belongs to its own account, which
     * could plant a link to any of root's files under a name written here, so the work is
     * done as that account (owner.h). */
    struct owner_saved saved;
    if (owner_enter(&saved, store_home(cfg)) != 0) {
        log_warn("unable to take the ids of the owner of store %s: %s: nothing recorded",
                 store_where(cfg), strerror(errno));
        return;
    }
    struct store store;
    if (store_open(&store, cfg, log_warn) != 0) {
        log_warn("unable to open store %s: %s: nothing recorded", store_where(cfg),
                 strerror(errno));
    } else {
        long held;
        enum store_login done = store_login(&store, key, user, cfg->user_max, &held);
        if (done == STORE_LOGIN_FAILED)
            log_warn("unable to record %s in %s: %s", key, store_where(cfg), store_error(&store));
        else if (done == STORE_LOGIN_OVER_CAP) {
            char shown[ADDR_SHOWN_MAX];
            addr_client_show(shown, sizeof shown, text, key);
            log_warn("user %s over RELAY_USER_MAX: %ld live allowances, %s not recorded", user,
                     held, shown);
        }
        else if (cfg->log)
            log_info("recorded %s user=%s", key, user[0] != '\0' ? user : "-");
        store_close(&store);

        /* cdb mode (relay-cdb(8)): have tcpserver's rules cdb rebuilt; the login never
         * waits. Over the cap nothing changed. */
        if (done != STORE_LOGIN_OVER_CAP)
            trigger_rebuild(cfg, TRIGGER_DETACH, key, log_warn);
    }
    /* The session must not go on as the store's account. */
    if (owner_leave(&saved) != 0)
        log_fatal(111, "unable to take back root's ids: %s", strerror(errno));
}

/* Under relay-session (the checkpassword chain) this runs as the mail user, who may not
 * write the store. relay-session, the privileged parent, left a pipe in RELAY_SESSION_FD:
 * the user name and a newline in it tell it that the login succeeded, and it records the
 * allowance for the client address it got from tcpserver. The variable is gone before the
 * exec, and so is the pipe. Returns 1 if the login was handed over, 0 if there is no session
 * to tell (then allow() does the work). */
static int tell_session(const struct settings *cfg)
{
    const char *v = getenv("RELAY_SESSION_FD");
    if (v == NULL)
        return 0;
    long fd;
    struct stat st;
    int flags = -1;
    if (settings_number(v, 0, 1023, &fd) == 0 && fstat((int)fd, &st) == 0 &&
        S_ISFIFO(st.st_mode))
        flags = fcntl((int)fd, F_GETFL);
    if (flags < 0 || (flags & O_ACCMODE) != O_WRONLY) {
        log_warn("RELAY_SESSION_FD is not a pipe open for writing: \"%s\": ignored", v);
        unsetenv("RELAY_SESSION_FD");
        return 0;
    }
    unsetenv("RELAY_SESSION_FD");
    if (login_failed()) {
        close((int)fd);
        return 0; /* allow() says why nothing is recorded */
    }

    const char *user = login_user();
    char line[STORE_USER_MAX + 2];
    size_t len = strlen(user);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): bytes for write(2), not a string */
    memcpy(line, user, len);
    line[len++] = '\n';
    /* relay-session gone is no reason to end the session: EPIPE, not SIGPIPE. */
    struct sigaction ign, old;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old);
    /* At most 256 bytes, under PIPE_BUF: the pipe takes the line whole or not at all, and a
     * short write would be a broken pipe, not a part to finish. */
    ssize_t w = io_write_once((int)fd, line, len);
    if (w != (ssize_t)len)
        log_warn("unable to tell relay-session about the login: %s",
                 w < 0 ? strerror(errno) : "short write");
    else if (cfg->log)
        log_info("reported the login of user=%s on RELAY_SESSION_FD",
                 user[0] != '\0' ? user : "-");
    sigaction(SIGPIPE, &old, NULL);
    close((int)fd);
    return 1;
}

int main(int argc, char **argv)
{
    struct settings cfg;

    log_init("relay-allow");
    settings_load(&cfg, log_warn);
    if (!tell_session(&cfg))
        allow(&cfg);
    if (argc < 2)
        return 0;
    log_exec(argv + 1);
}
