/* settings.h: the environment variables that configure relaylease, read strictly. */
#ifndef RELAYLEASE_SETTINGS_H
#define RELAYLEASE_SETTINGS_H

#include "addr.h"

#define SETTINGS_DEFAULT_DIR "/var/lib/relaylease"
#define SETTINGS_DEFAULT_EXPIRY 900L
#define SETTINGS_MAX_EXPIRY 604800L
#define SETTINGS_DEFAULT_V6BITS 64U
#define SETTINGS_RELAYCLIENT_MAX 255

struct settings {
    const char *dir;          /* RELAY_DIR, else RELAY_CTRL_DIR */
    long expiry;              /* RELAY_EXPIRY, else RELAY_CTRL_EXPIRY; seconds */
    const char *relayclient;  /* RELAY_RELAYCLIENT, else RELAY_CTRL_RELAYCLIENT */
    int relayclient_ok;       /* 0: the value was invalid, so nothing may be granted */
    struct addr_policy keys;  /* RELAY_IPV6_PREFIX, RELAY_NAT64_PREFIX */
    int remoteinfo;           /* RELAY_REMOTEINFO: put the user in TCPREMOTEINFO */
    int log;                  /* RELAY_LOG: one line per decision */
};

/* Fill s from the environment. Every invalid value is warned about on stderr and replaced by
 * its safe choice: the default expiry, the narrowest IPv6 prefix (128; also when the NAT64
 * prefix is invalid, since no one can tell which IPv6 clients stand for IPv4 hosts), no
 * RELAYCLIENT. */
void settings_load(struct settings *s);

/* Parse a decimal number in [min, max] with no sign, spaces or leading zeros.
 * Returns 0, or -1 if s is not such a number. */
int settings_number(const char *s, long min, long max, long *out);

#endif
