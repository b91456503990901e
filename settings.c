/* settings.c: configuration comes only from the environment, so that envdir, run files and
 * Dovecot's hook wrapper can all set it. A bad value never widens what is granted. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "settings.h"

int settings_number(const char *s, long min, long max, long *out)
{
    long v = 0;
    size_t n = strlen(s);
    /* Digits only: strtol would take "+5", " 5" and "0x5", and a leading zero reads as
     * octal to some tools and decimal to others. */
    if (n == 0 || strspn(s, "0123456789") != n || (s[0] == '0' && n > 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        int d = s[i] - '0';
        if (v > (LONG_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* The new name wins; relay-ctrl's name is read only when the new one is unset, so that an
 * envdir written for relay-ctrl keeps working unchanged. */
static const char *either(const char *name, const char *old, const char **used)
{
    const char *v = getenv(name);
    *used = name;
    if (v == NULL && old != NULL) {
        v = getenv(old);
        *used = old;
    }
    return v;
}

/* A switch: unset or "0" is off, "" or "1" is on; anything else is warned about and gets
 * fallback. */
static int onoff(const char *name, int unset, int fallback)
{
    const char *v = getenv(name);
    if (v == NULL)
        return unset;
    if (strcmp(v, "0") == 0)
        return 0;
    if (v[0] == '\0' || strcmp(v, "1") == 0)
        return 1;
    log_warn("%s must be 0 or 1, not \"%s\": using %d", name, v, fallback);
    return fallback;
}

static int printable(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

void settings_load(struct settings *s)
{
    const char *name, *v;
    long n;

    v = either("RELAY_DIR", "RELAY_CTRL_DIR", &name);
    s->dir = SETTINGS_DEFAULT_DIR;
    if (v != NULL) {
        if (v[0] == '/')
            s->dir = v;
        else
            log_warn("%s must be an absolute path, not \"%s\": using %s", name, v,
                     SETTINGS_DEFAULT_DIR);
    }

    v = either("RELAY_EXPIRY", "RELAY_CTRL_EXPIRY", &name);
    s->expiry = SETTINGS_DEFAULT_EXPIRY;
    if (v != NULL && settings_number(v, 1, SETTINGS_MAX_EXPIRY, &n) == 0)
        s->expiry = n;
    else if (v != NULL)
        log_warn("%s must be a number of seconds from 1 to %ld, not \"%s\": using %ld", name,
                 SETTINGS_MAX_EXPIRY, v, SETTINGS_DEFAULT_EXPIRY);

    /* qmail-smtpd appends RELAYCLIENT to every recipient, so a value with control characters
     * would be spliced into addresses; refusing to relay is the only safe reading. */
    v = either("RELAY_RELAYCLIENT", "RELAY_CTRL_RELAYCLIENT", &name);
    s->relayclient = "";
    s->relayclient_ok = 1;
    if (v != NULL) {
        if (strlen(v) <= SETTINGS_RELAYCLIENT_MAX && printable(v)) {
            s->relayclient = v;
        } else {
            log_warn("%s has control characters or more than %d bytes: granting nothing", name,
                     SETTINGS_RELAYCLIENT_MAX);
            s->relayclient_ok = 0;
        }
    }

    /* The narrowest prefix is the safe reading of a bad value: it can only grant less. Below
     * /48 a prefix spans unrelated sites, and the floor turns the typo "6" for "64" into a
     * warning rather than one login opening a sixth of the Internet. */
    memset(&s->keys, 0, sizeof s->keys);
    v = getenv("RELAY_IPV6_PREFIX");
    s->keys.v6bits = SETTINGS_DEFAULT_V6BITS;
    if (v != NULL && settings_number(v, ADDR_V6BITS_MIN, 128, &n) == 0)
        s->keys.v6bits = (unsigned)n;
    else if (v != NULL) {
        log_warn("RELAY_IPV6_PREFIX must be a number from %u to 128, not \"%s\": using 128",
                 ADDR_V6BITS_MIN, v);
        s->keys.v6bits = 128;
    }

    /* Without a valid NAT64 prefix we cannot tell which IPv6 clients stand for IPv4 hosts,
     * and a widened key of one of them would cover others: every IPv6 client is then keyed
     * by itself. */
    v = getenv("RELAY_NAT64_PREFIX");
    if (v != NULL && v[0] != '\0' && addr_nat64_parse(&s->keys, v) != 0) {
        log_warn("RELAY_NAT64_PREFIX must be an IPv6 prefix of length 32, 40, 48, 56, 64 or 96 "
                 "outside the special ranges, not \"%s\": keying every IPv6 address by /128",
                 v);
        s->keys.v6bits = 128;
    }

    s->remoteinfo = onoff("RELAY_REMOTEINFO", 0, 0);
    s->log = onoff("RELAY_LOG", 1, 1);
}
