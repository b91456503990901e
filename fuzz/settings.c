/* fuzz/settings.c: settings_number, and settings_load over fuzzed environments.
 *
 * Input: bytes 0 and 1 say which of the twelve variables are set (bit i of the 16-bit value
 * for names[i]); the rest, split at NUL bytes, gives their values in order (missing values
 * are empty). Properties:
 *  - settings_number accepts exactly the plain decimal numbers in range (no sign, space or
 *    leading zero), with their value, checked against a reference written here;
 *  - settings_load gives what the spec's table says for every variable: an invalid expiry is
 *    never longer than the default (it is the default), a RELAYCLIENT value with control
 *    characters or over 255 bytes is never usable (relayclient_ok 0), v6bits is always
 *    48..128 (128 when invalid: nothing wider than one end site's /48), a NAT64 prefix is
 *    used only if it is IPv6 text, "/" and an RFC 6052 length with no host bits set, and an
 *    invalid one keys every IPv6 client by /128, the switches read 0/1 with their safe
 *    fallback, and the two switches one program acts on (RELAY_SESSION_REFRESH,
 *    RELAY_CDB_V4MAPPED) by the same rule, an invalid value kept for that program to report;
 *  - each invalid value is reported in exactly one stderr line, and valid ones in none;
 *    every line is printable, starts with the program's name and "warning:", and fits. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "settings.h"
#include "fuzz/fuzz.h"

#define FUZZ_HARNESS "settings"
#define PROG "relay-fuzz"

enum {
    DIR_, CTRL_DIR, EXPIRY, CTRL_EXPIRY, RC, CTRL_RC, PREFIX, REMOTEINFO, LOG, NAT64, REFRESH,
    V4MAPPED, NVARS
};
static const char *const names[NVARS] = {
    "RELAY_DIR", "RELAY_CTRL_DIR", "RELAY_EXPIRY", "RELAY_CTRL_EXPIRY", "RELAY_RELAYCLIENT",
    "RELAY_CTRL_RELAYCLIENT", "RELAY_IPV6_PREFIX", "RELAY_REMOTEINFO", "RELAY_LOG",
    "RELAY_NAT64_PREFIX", "RELAY_SESSION_REFRESH", "RELAY_CDB_V4MAPPED",
};

/* A plain decimal number in [min, max]: digits only, no leading zero, no overflow. */
static int ref_number(const char *s, long min, long max, long *out)
{
    size_t n = strlen(s);
    if (n == 0 || strspn(s, "0123456789") != n || (n > 1 && s[0] == '0'))
        return -1;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno != 0 || v < min || v > max)
        return -1;
    *out = (long)v;
    return 0;
}

static void check_number(const char *s, long min, long max)
{
    long got = -7, want = -7;
    int r = settings_number(s, min, max, &got);
    int w = ref_number(s, min, max, &want);
    PROP(r == w, "settings_number accepts exactly plain numbers in range");
    if (r == 0 && w == 0) /* cppcheck-suppress knownConditionTrueFalse ; PROP may not stop */
        PROP(got == want, "settings_number gives the number's value");
    if (r != 0)
        PROP(got == -7, "settings_number leaves the output alone on a refusal");
}

/* A value the spec calls unusable for RELAYCLIENT: control characters (and anything that is
 * not printable ASCII), or more than 255 bytes. */
static int bad_relayclient(const char *v)
{
    size_t n = strlen(v);
    if (n > SETTINGS_RELAYCLIENT_MAX)
        return 1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
            return 1;
    return 0;
}

/* A switch: returns 0 or 1, or -1 if the value is invalid. */
static int ref_switch(const char *v)
{
    if (strcmp(v, "0") == 0)
        return 0;
    if (v[0] == '\0' || strcmp(v, "1") == 0)
        return 1;
    return -1;
}

/* Count the lines written to fd (a pipe's read end, non-blocking) and check each one. */
static int warning_lines(int fd)
{
    static char buf[65536];
    size_t n = 0;
    for (;;) {
        ssize_t got = read(fd, buf + n, sizeof buf - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
        if (n == sizeof buf - 1)
            break;
    }
    PROP(n == 0 || buf[n - 1] == '\n', "stderr ends in a newline");
    int lines = 0;
    const char *p = buf, *end = buf + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        PROP(len < 1024, "a warning fits in one line of 1024 bytes");
        PROP(len > sizeof PROG ": warning: " - 1 &&
                 memcmp(p, PROG ": warning: ", sizeof PROG ": warning: " - 1) == 0,
             "a warning starts with the program's name and warning:");
        for (size_t i = 0; i < len; i++)
            PROP((unsigned char)p[i] >= 0x20 && (unsigned char)p[i] <= 0x7e,
                 "a warning line is printable");
        lines++;
        p += len + 1;
    }
    return lines;
}

void fuzz_settings(const uint8_t *data, size_t size)
{
    static char storage[FUZZ_INPUT_MAX + NVARS * 32];
    char *env[NVARS + 1];
    const char *val[NVARS];
    size_t ne = 0;

    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    if (size < 2)
        return;
    unsigned mask = (unsigned)data[0] | (unsigned)data[1] << 8;

    /* The values, each a C string (a value cannot hold NUL in a real environment either). */
    const uint8_t *p = data + 2, *end = data + size;
    char *out = storage;
    for (int i = 0; i < NVARS; i++) {
        const uint8_t *z = memchr(p, '\0', (size_t)(end - p));
        size_t len = z ? (size_t)(z - p) : (size_t)(end - p);
        size_t nl = strlen(names[i]);
        char *entry = out;
        memcpy(out, names[i], nl);
        out[nl] = '=';
        memcpy(out + nl + 1, p, len);
        out[nl + 1 + len] = '\0';
        out += nl + len + 2;
        p += len + (z ? 1 : 0);
        if (mask & (1u << i)) {
            env[ne++] = entry;
            val[i] = entry + nl + 1;
        } else {
            val[i] = NULL;
        }
    }
    env[ne] = NULL;

    for (int i = 0; i < NVARS; i++)
        if (val[i] != NULL) {
            check_number(val[i], 1, SETTINGS_MAX_EXPIRY);
            check_number(val[i], 1, 128);
            check_number(val[i], 0, LONG_MAX);
        }

    /* Run settings_load in that environment, its stderr going to a pipe. */
    int pfd[2];
    if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC) != 0)
        return;
    fflush(stderr);
    int saved = dup(2);
    if (saved < 0 || dup2(pfd[1], 2) < 0) {
        close(pfd[0]);
        close(pfd[1]);
        if (saved >= 0)
            close(saved);
        return;
    }
    char **old = environ;
    environ = env;
    struct settings s;
    memset(&s, 0xa5, sizeof s);
    log_init(PROG);
    settings_load(&s, log_warn);
    environ = old;
    dup2(saved, 2);
    close(saved);
    close(pfd[1]);
    int lines = warning_lines(pfd[0]);
    close(pfd[0]);

    int warnings = 0;
    const char *v;

    v = val[DIR_] ? val[DIR_] : val[CTRL_DIR];
    if (v != NULL && v[0] == '/') {
        PROP(s.dir != NULL && strcmp(s.dir, v) == 0, "an absolute RELAY_DIR is used");
    } else {
        PROP(s.dir != NULL && strcmp(s.dir, SETTINGS_DEFAULT_DIR) == 0,
             "no or a relative RELAY_DIR gives the default");
        warnings += v != NULL;
    }

    long n;
    v = val[EXPIRY] ? val[EXPIRY] : val[CTRL_EXPIRY];
    PROP(s.expiry >= 1 && s.expiry <= SETTINGS_MAX_EXPIRY, "expiry is 1..604800");
    if (v != NULL && ref_number(v, 1, SETTINGS_MAX_EXPIRY, &n) == 0) {
        PROP(s.expiry == n, "a valid expiry is used");
    } else {
        PROP(s.expiry == SETTINGS_DEFAULT_EXPIRY, "an invalid or no expiry gives the default");
        warnings += v != NULL;
    }

    v = val[RC] ? val[RC] : val[CTRL_RC];
    if (v != NULL && bad_relayclient(v)) {
        PROP(s.relayclient_ok == 0, "a bad RELAYCLIENT value grants nothing");
        warnings++;
    } else {
        PROP(s.relayclient_ok == 1, "a good or no RELAYCLIENT value can be used");
        PROP(s.relayclient != NULL && strcmp(s.relayclient, v ? v : "") == 0,
             "RELAYCLIENT value as given, default empty");
    }
    if (s.relayclient_ok == 1)
        PROP(s.relayclient != NULL && !bad_relayclient(s.relayclient),
             "a usable RELAYCLIENT value has no control characters");

    /* The NAT64 prefix first: an invalid one overrides the IPv6 prefix. */
    v = val[NAT64];
    int nat64_bad = 0;
    if (v == NULL || v[0] == '\0') {
        PROP(s.keys.nat64_bits == 0, "no NAT64 prefix gives none");
    } else if (s.keys.nat64_bits == 0) {
        nat64_bad = 1;
        warnings++;
    } else {
        unsigned bits = s.keys.nat64_bits;
        PROP(bits == 32 || bits == 40 || bits == 48 || bits == 56 || bits == 64 || bits == 96,
             "a NAT64 prefix has an RFC 6052 length");
        const char *slash = strchr(v, '/');
        char text[64];
        if (slash == NULL || (size_t)(slash - v) >= sizeof text) {
            PROP(0, "a NAT64 prefix has a /");
        } else {
            char len[12];
            unsigned char b[16];
            memcpy(text, v, (size_t)(slash - v));
            text[slash - v] = '\0';
            snprintf(len, sizeof len, "%u", bits);
            PROP(strcmp(slash + 1, len) == 0, "a NAT64 prefix's length is as written");
            PROP(strspn(text, "0123456789abcdefABCDEF:") == strlen(text) &&
                     inet_pton(AF_INET6, text, b) == 1 && memcmp(b, s.keys.nat64, 16) == 0,
                 "a NAT64 prefix is plain IPv6 text, read as inet_pton reads it");
            for (unsigned i = bits; i < 128; i++)
                PROP((s.keys.nat64[i / 8] & (0x80u >> (i % 8))) == 0,
                     "a NAT64 prefix has no host bits");
        }
    }

    v = val[PREFIX];
    PROP(s.keys.v6bits >= 48 && s.keys.v6bits <= 128, "v6bits is 48..128");
    if (v != NULL && ref_number(v, 48, 128, &n) != 0)
        warnings++;
    if (nat64_bad) {
        PROP(s.keys.v6bits == 128, "an invalid NAT64 prefix gives 128");
    } else if (v == NULL) {
        PROP(s.keys.v6bits == SETTINGS_DEFAULT_V6BITS, "no prefix gives 64");
    } else if (ref_number(v, 48, 128, &n) == 0) {
        PROP(s.keys.v6bits == (unsigned)n, "a valid prefix is used");
    } else {
        PROP(s.keys.v6bits == 128, "an invalid prefix gives 128");
    }

    v = val[REMOTEINFO];
    int sw = v ? ref_switch(v) : 0;
    PROP(s.remoteinfo == (sw == 1), "RELAY_REMOTEINFO: unset/0 off, empty/1 on, else off");
    warnings += sw < 0;

    v = val[LOG];
    sw = v ? ref_switch(v) : 1;
    PROP(s.log == (sw != 0), "RELAY_LOG: unset/empty/1 on, 0 off, else on");
    warnings += sw < 0;

    const struct settings_switch *own[] = {&s.session_refresh, &s.cdb_v4mapped};
    for (int k = 0; k < 2; k++) {
        v = val[k == 0 ? REFRESH : V4MAPPED];
        sw = v ? ref_switch(v) : 0;
        PROP(own[k]->on == (sw == 1), "a program's own switch: unset/0 off, empty/1 on, else off");
        PROP(sw < 0 ? own[k]->invalid == v : own[k]->invalid == NULL,
             "a program's own switch keeps an invalid value for its program, and no other");
    }

    PROP(lines == warnings, "one warning line for each invalid value, none for valid ones");
}

FUZZ_ENTRY(fuzz_settings)
