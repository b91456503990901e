/* unit-settings.c: strict numbers, and the settings read from the environment: defaults,
 * relay-ctrl's names as fallbacks, and the safe choice (with a warning) for a bad value. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw in unit-files.h */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "settings.h"
#include "unit.h"
#include "unit-files.h"

static void test_number(void)
{
    static const struct {
        const char *s;
        long min, max;
        int rc;
        long out;
    } cases[] = {
        {"0", 0, 10, 0, 0},
        {"1", 1, 10, 0, 1},
        {"10", 1, 10, 0, 10},
        {"7", 7, 7, 0, 7},
        {"900", 1, 604800, 0, 900},
        {"604800", 1, 604800, 0, 604800},
        {"128", 1, 128, 0, 128},
        {"0", 1, 10, -1, 0},
        {"11", 1, 10, -1, 0},
        {"604801", 1, 604800, -1, 0},
        {"129", 1, 128, -1, 0},
        {"6", 7, 7, -1, 0},
        {"8", 7, 7, -1, 0},
        {"01", 0, 10, -1, 0},
        {"00", 0, 10, -1, 0},
        {"007", 0, 10, -1, 0},
        {"0900", 1, 604800, -1, 0},
        {"+1", 0, 10, -1, 0},
        {"-1", -5, 5, -1, 0},
        {"-0", 0, 10, -1, 0},
        {"+0", 0, 10, -1, 0},
        {"--1", -5, 5, -1, 0},
        {" 1", 0, 10, -1, 0},
        {"1 ", 0, 10, -1, 0},
        {"1\n", 0, 10, -1, 0},
        {"\t1", 0, 10, -1, 0},
        {"1 0", 0, 100, -1, 0},
        {"", 0, 10, -1, 0},
        {" ", 0, 10, -1, 0},
        {"a", 0, 10, -1, 0},
        {"1a", 0, 100, -1, 0},
        {"a1", 0, 100, -1, 0},
        {"0x10", 0, 100, -1, 0},
        {"0X10", 0, 100, -1, 0},
        {"1e3", 0, 10000, -1, 0},
        {"1.0", 0, 10, -1, 0},
        {"1.", 0, 10, -1, 0},
        {"1,000", 0, 10000, -1, 0},
        {"1_000", 0, 10000, -1, 0},
        {"99999999999999999999", 0, LONG_MAX, -1, 0},
        {"18446744073709551616", 0, LONG_MAX, -1, 0},  /* 2^64: 0 after a wrap */
        {"18446744073709551617", 0, LONG_MAX, -1, 0},  /* 2^64 + 1: 1 after a wrap */
        {"18446744073709552516", 1, 604800, -1, 0},    /* 2^64 + 900 */
        {"4294967296", 0, 10, -1, 0},      /* 2^32: 0 after a 32-bit wrap */
        {"4294967297", 1, 604800, -1, 0},  /* 2^32 + 1 */
        {"4294968196", 1, 604800, -1, 0},  /* 2^32 + 900 */
        {"999999999999999999999999999999999999999999", 0, LONG_MAX, -1, 0},
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long out = -12345;
        int rc = settings_number(cases[i].s, cases[i].min, cases[i].max, &out);
        if (cases[i].rc == 0) {
            if (CHECK_LONG(rc, 0, "settings_number accepts \"%s\" in [%ld, %ld]", cases[i].s,
                           cases[i].min, cases[i].max))
                CHECK_LONG(out, cases[i].out, "settings_number \"%s\" is %ld", cases[i].s,
                           cases[i].out);
        } else {
            CHECK_LONG(rc, -1, "settings_number refuses \"%s\" in [%ld, %ld]", cases[i].s,
                       cases[i].min, cases[i].max);
        }
    }

    if (LONG_MAX == 9223372036854775807L) {
        long out = 0;
        CHECK_LONG(settings_number("9223372036854775807", 0, LONG_MAX, &out), 0,
                   "settings_number accepts LONG_MAX");
        CHECK(out == LONG_MAX, "settings_number LONG_MAX is LONG_MAX");
        CHECK_LONG(settings_number("9223372036854775808", 0, LONG_MAX, &out), -1,
                   "settings_number refuses LONG_MAX + 1");
        CHECK_LONG(settings_number("9223372036854775810", 0, LONG_MAX, &out), -1,
                   "settings_number refuses LONG_MAX + 3");
    } else {
        unit_skip("long is not 64 bits", "settings_number at LONG_MAX");
    }
}

static const char *const names[] = {
    "RELAY_DIR", "RELAY_CTRL_DIR", "RELAY_EXPIRY", "RELAY_CTRL_EXPIRY", "RELAY_RELAYCLIENT",
    "RELAY_CTRL_RELAYCLIENT", "RELAY_IPV6_PREFIX", "RELAY_REMOTEINFO", "RELAY_LOG",
    "RELAY_NAT64_PREFIX",
};

/* Up to three "NAME=value" settings for one case. */
struct env_case {
    const char *set[3];
    const char *dir;
    long expiry;
    const char *relayclient;  /* checked only if relayclient_ok is 1 */
    int relayclient_ok;
    unsigned v6bits;
    int remoteinfo;
    int log;
    const char *warns;  /* NULL: no warning; else a warning naming this variable */
};

#define DIR_DEF SETTINGS_DEFAULT_DIR

static const struct env_case env_cases[] = {
    /* defaults */
    {{NULL}, DIR_DEF, 900, "", 1, 64, 0, 1, NULL},
    /* the store */
    {{"RELAY_DIR=/srv/relay"}, "/srv/relay", 900, "", 1, 64, 0, 1, NULL},
    {{"RELAY_CTRL_DIR=/var/spool/relay-ctrl/allow"}, "/var/spool/relay-ctrl/allow", 900, "", 1,
     64, 0, 1, NULL},
    {{"RELAY_DIR=/srv/new", "RELAY_CTRL_DIR=/srv/old"}, "/srv/new", 900, "", 1, 64, 0, 1, NULL},
    /* the expiry */
    {{"RELAY_EXPIRY=60"}, DIR_DEF, 60, "", 1, 64, 0, 1, NULL},
    {{"RELAY_CTRL_EXPIRY=120"}, DIR_DEF, 120, "", 1, 64, 0, 1, NULL},
    {{"RELAY_EXPIRY=60", "RELAY_CTRL_EXPIRY=120"}, DIR_DEF, 60, "", 1, 64, 0, 1, NULL},
    {{"RELAY_EXPIRY=1"}, DIR_DEF, 1, "", 1, 64, 0, 1, NULL},
    {{"RELAY_EXPIRY=604800"}, DIR_DEF, 604800, "", 1, 64, 0, 1, NULL},
    {{"RELAY_EXPIRY=604801"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_EXPIRY"},
    {{"RELAY_EXPIRY=0"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_EXPIRY"},
    {{"RELAY_EXPIRY="}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_EXPIRY"},
    {{"RELAY_EXPIRY=060"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_EXPIRY"},
    {{"RELAY_EXPIRY=-60"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_EXPIRY"},
    {{"RELAY_EXPIRY=+60"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_EXPIRY"},
    {{"RELAY_EXPIRY= 60"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_EXPIRY"},
    {{"RELAY_EXPIRY=60s"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_EXPIRY"},
    {{"RELAY_EXPIRY=1e3"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_EXPIRY"},
    {{"RELAY_EXPIRY=abc"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_EXPIRY"},
    {{"RELAY_EXPIRY=99999999999999999999"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_EXPIRY"},
    {{"RELAY_EXPIRY=18446744073709551676"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_EXPIRY"},
    {{"RELAY_CTRL_EXPIRY=abc"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_CTRL_EXPIRY"},
    {{"RELAY_CTRL_EXPIRY=0"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_CTRL_EXPIRY"},
    /* the new name, when set, wins even if its value is bad: no silent fallback */
    {{"RELAY_EXPIRY=abc", "RELAY_CTRL_EXPIRY=60"}, DIR_DEF, 900, "", 1, 64, 0, 1,
     "RELAY_EXPIRY"},
    /* RELAYCLIENT */
    {{"RELAY_RELAYCLIENT=@fixup"}, DIR_DEF, 900, "@fixup", 1, 64, 0, 1, NULL},
    {{"RELAY_CTRL_RELAYCLIENT=@old"}, DIR_DEF, 900, "@old", 1, 64, 0, 1, NULL},
    {{"RELAY_RELAYCLIENT=@new", "RELAY_CTRL_RELAYCLIENT=@old"}, DIR_DEF, 900, "@new", 1, 64, 0,
     1, NULL},
    {{"RELAY_RELAYCLIENT=", "RELAY_CTRL_RELAYCLIENT=@old"}, DIR_DEF, 900, "", 1, 64, 0, 1, NULL},
    {{"RELAY_RELAYCLIENT="}, DIR_DEF, 900, "", 1, 64, 0, 1, NULL},
    {{"RELAY_RELAYCLIENT=a\nb"}, DIR_DEF, 900, NULL, 0, 64, 0, 1, "RELAY_RELAYCLIENT"},
    {{"RELAY_RELAYCLIENT=\r"}, DIR_DEF, 900, NULL, 0, 64, 0, 1, "RELAY_RELAYCLIENT"},
    {{"RELAY_RELAYCLIENT=@x\t"}, DIR_DEF, 900, NULL, 0, 64, 0, 1, "RELAY_RELAYCLIENT"},
    {{"RELAY_RELAYCLIENT=@x\x7f"}, DIR_DEF, 900, NULL, 0, 64, 0, 1, "RELAY_RELAYCLIENT"},
    {{"RELAY_RELAYCLIENT=@x\x1b[0m"}, DIR_DEF, 900, NULL, 0, 64, 0, 1, "RELAY_RELAYCLIENT"},
    {{"RELAY_CTRL_RELAYCLIENT=@x\x01"}, DIR_DEF, 900, NULL, 0, 64, 0, 1,
     "RELAY_CTRL_RELAYCLIENT"},
    {{"RELAY_RELAYCLIENT=a\nb", "RELAY_CTRL_RELAYCLIENT=@old"}, DIR_DEF, 900, NULL, 0, 64, 0, 1,
     "RELAY_RELAYCLIENT"},
    /* the IPv6 prefix */
    {{"RELAY_IPV6_PREFIX=48"}, DIR_DEF, 900, "", 1, 48, 0, 1, NULL},
    /* The floor: no prefix wider than one end site's /48; "6" for "64" is refused. */
    {{"RELAY_IPV6_PREFIX=1"}, DIR_DEF, 900, "", 1, 128, 0, 1, "RELAY_IPV6_PREFIX"},
    {{"RELAY_IPV6_PREFIX=6"}, DIR_DEF, 900, "", 1, 128, 0, 1, "RELAY_IPV6_PREFIX"},
    {{"RELAY_IPV6_PREFIX=47"}, DIR_DEF, 900, "", 1, 128, 0, 1, "RELAY_IPV6_PREFIX"},
    {{"RELAY_IPV6_PREFIX=32"}, DIR_DEF, 900, "", 1, 128, 0, 1, "RELAY_IPV6_PREFIX"},
    {{"RELAY_IPV6_PREFIX=49"}, DIR_DEF, 900, "", 1, 49, 0, 1, NULL},
    {{"RELAY_IPV6_PREFIX=127"}, DIR_DEF, 900, "", 1, 127, 0, 1, NULL},
    {{"RELAY_IPV6_PREFIX=128"}, DIR_DEF, 900, "", 1, 128, 0, 1, NULL},
    {{"RELAY_IPV6_PREFIX=64"}, DIR_DEF, 900, "", 1, 64, 0, 1, NULL},
    {{"RELAY_IPV6_PREFIX=0"}, DIR_DEF, 900, "", 1, 128, 0, 1, "RELAY_IPV6_PREFIX"},
    {{"RELAY_IPV6_PREFIX=129"}, DIR_DEF, 900, "", 1, 128, 0, 1, "RELAY_IPV6_PREFIX"},
    {{"RELAY_IPV6_PREFIX=064"}, DIR_DEF, 900, "", 1, 128, 0, 1, "RELAY_IPV6_PREFIX"},
    {{"RELAY_IPV6_PREFIX="}, DIR_DEF, 900, "", 1, 128, 0, 1, "RELAY_IPV6_PREFIX"},
    {{"RELAY_IPV6_PREFIX=-64"}, DIR_DEF, 900, "", 1, 128, 0, 1, "RELAY_IPV6_PREFIX"},
    {{"RELAY_IPV6_PREFIX=64 "}, DIR_DEF, 900, "", 1, 128, 0, 1, "RELAY_IPV6_PREFIX"},
    {{"RELAY_IPV6_PREFIX=/64"}, DIR_DEF, 900, "", 1, 128, 0, 1, "RELAY_IPV6_PREFIX"},
    {{"RELAY_IPV6_PREFIX=4294967360"}, DIR_DEF, 900, "", 1, 128, 0, 1, "RELAY_IPV6_PREFIX"},
    /* TCPREMOTEINFO */
    {{"RELAY_REMOTEINFO=0"}, DIR_DEF, 900, "", 1, 64, 0, 1, NULL},
    {{"RELAY_REMOTEINFO="}, DIR_DEF, 900, "", 1, 64, 1, 1, NULL},
    {{"RELAY_REMOTEINFO=1"}, DIR_DEF, 900, "", 1, 64, 1, 1, NULL},
    {{"RELAY_REMOTEINFO=yes"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_REMOTEINFO"},
    {{"RELAY_REMOTEINFO=2"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_REMOTEINFO"},
    {{"RELAY_REMOTEINFO=01"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_REMOTEINFO"},
    {{"RELAY_REMOTEINFO= 1"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_REMOTEINFO"},
    {{"RELAY_REMOTEINFO=on"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_REMOTEINFO"},
    /* the decision log */
    {{"RELAY_LOG="}, DIR_DEF, 900, "", 1, 64, 0, 1, NULL},
    {{"RELAY_LOG=1"}, DIR_DEF, 900, "", 1, 64, 0, 1, NULL},
    {{"RELAY_LOG=0"}, DIR_DEF, 900, "", 1, 64, 0, 0, NULL},
    {{"RELAY_LOG=no"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_LOG"},
    {{"RELAY_LOG=00"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_LOG"},
    {{"RELAY_LOG=off"}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_LOG"},
    {{"RELAY_LOG=0 "}, DIR_DEF, 900, "", 1, 64, 0, 1, "RELAY_LOG"},
    /* everything at once */
    {{"RELAY_EXPIRY=300", "RELAY_IPV6_PREFIX=56", "RELAY_REMOTEINFO=1"}, DIR_DEF, 300, "", 1, 56,
     1, 1, NULL},
    {{"RELAY_EXPIRY=x", "RELAY_IPV6_PREFIX=x", "RELAY_LOG=x"}, DIR_DEF, 900, "", 1, 128, 0, 1,
     "RELAY_IPV6_PREFIX"},
};

/* Run settings_load with stderr going to a temp file; return what it wrote in buf. */
static void load_captured(struct settings *s, char *buf, size_t size)
{
    int saved;
    FILE *f = capture_begin(&saved);
    size_t n;

    settings_load(s, log_warn);
    n = fread(buf, 1, size - 1, capture_end(f, saved));
    buf[n] = '\0';
    fclose(f);
}

/* A short description of a case, for the TAP lines. */
static void describe(char *buf, size_t size, const struct env_case *c)
{
    size_t i, n = 0;

    buf[0] = '\0';
    for (i = 0; i < 3 && c->set[i]; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%.60s", i ? " " : "", c->set[i]);
    if (n == 0)
        snprintf(buf, size, "(nothing set)");
}

static void set_case(const struct env_case *c)
{
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        unsetenv(names[i]);
    for (i = 0; i < 3 && c->set[i]; i++) {
        char name[64];
        const char *eq = strchr(c->set[i], '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq - c->set[i]), c->set[i]);
        setenv(name, eq + 1, 1);
    }
}

static void test_load(void)
{
    size_t i;

    for (i = 0; i < sizeof env_cases / sizeof env_cases[0]; i++) {
        const struct env_case *c = &env_cases[i];
        struct settings s;
        char what[256], err[4096];

        set_case(c);
        describe(what, sizeof what, c);
        memset(&s, 0x5a, sizeof s);
        load_captured(&s, err, sizeof err);

        CHECK_STR(s.dir, c->dir, "%s: dir", what);
        CHECK_LONG(s.expiry, c->expiry, "%s: expiry", what);
        CHECK_LONG(s.relayclient_ok, c->relayclient_ok, "%s: relayclient_ok", what);
        if (c->relayclient_ok)
            CHECK_STR(s.relayclient, c->relayclient, "%s: relayclient", what);
        CHECK_LONG(s.keys.v6bits, c->v6bits, "%s: v6bits", what);
        CHECK_LONG(s.remoteinfo, c->remoteinfo, "%s: remoteinfo", what);
        CHECK_LONG(s.log, c->log, "%s: log", what);
        if (c->warns == NULL) {
            if (!CHECK(err[0] == '\0', "%s: no warning", what))
                unit_note("stderr: %s", err);
        } else {
            if (!CHECK(strstr(err, "unit-settings: warning: ") != NULL &&
                           strstr(err, c->warns) != NULL,
                       "%s: a warning naming %s", what, c->warns))
                unit_note("stderr: %s", err);
        }
    }

    /* a RELAYCLIENT of 255 bytes is fine, 256 is not */
    {
        char value[300], err[4096];
        struct settings s;

        set_case(&env_cases[0]);
        memset(value, 'r', 255);
        value[255] = '\0';
        setenv("RELAY_RELAYCLIENT", value, 1);
        load_captured(&s, err, sizeof err);
        CHECK_LONG(s.relayclient_ok, 1, "RELAY_RELAYCLIENT of 255 bytes is fine");
        CHECK_STR(s.relayclient, value, "RELAY_RELAYCLIENT of 255 bytes is kept whole");
        CHECK(err[0] == '\0', "RELAY_RELAYCLIENT of 255 bytes: no warning");

        value[255] = 'r';
        value[256] = '\0';
        setenv("RELAY_RELAYCLIENT", value, 1);
        load_captured(&s, err, sizeof err);
        CHECK_LONG(s.relayclient_ok, 0, "RELAY_RELAYCLIENT of 256 bytes grants nothing");
        CHECK(strstr(err, "warning") != NULL, "RELAY_RELAYCLIENT of 256 bytes: a warning");

        unsetenv("RELAY_RELAYCLIENT");
        setenv("RELAY_CTRL_RELAYCLIENT", value, 1);
        load_captured(&s, err, sizeof err);
        CHECK_LONG(s.relayclient_ok, 0, "RELAY_CTRL_RELAYCLIENT of 256 bytes grants nothing");
        unsetenv("RELAY_CTRL_RELAYCLIENT");
    }
}

/* RELAY_NAT64_PREFIX: a valid one is used as it is; an invalid one warns and keys every IPv6
 * client by /128, since no one can tell which of them stand for IPv4 hosts. */
static void test_nat64(void)
{
    static const struct {
        const char *ipv6, *nat64;
        unsigned v6bits, nat64_bits;
        const char *net;     /* the prefix's network, when nat64_bits is not 0 */
        const char *warns;   /* NULL: no warning */
    } cases[] = {
        {NULL, NULL, 64, 0, NULL, NULL},
        {NULL, "", 64, 0, NULL, NULL},
        {"56", "", 56, 0, NULL, NULL},
        {NULL, "2001:db8:64::/96", 64, 96, "2001:db8:64::", NULL},
        {NULL, "2001:DB8:64:0:0:0::/96", 64, 96, "2001:db8:64::", NULL},
        {NULL, "2001:db8:64::/64", 64, 64, "2001:db8:64::", NULL},
        {NULL, "2001:db8:6400::/56", 64, 56, "2001:db8:6400::", NULL},
        {NULL, "2001:db8:1::/48", 64, 48, "2001:db8:1::", NULL},
        {NULL, "2001:db8:100::/40", 64, 40, "2001:db8:100::", NULL},
        {NULL, "2001:db8::/32", 64, 32, "2001:db8::", NULL},
        {"56", "2001:db8:64::/96", 56, 96, "2001:db8:64::", NULL},
        {"128", "2001:db8:64::/96", 128, 96, "2001:db8:64::", NULL},
        {NULL, "64:ff9b::/96", 64, 96, "64:ff9b::", NULL},   /* the WKP, said twice */
        {NULL, "64:ff9b:1::/48", 64, 48, "64:ff9b:1::", NULL},
        {NULL, "fd00:64::/96", 64, 96, "fd00:64::", NULL},
        /* invalid: warned about, and every IPv6 client keyed by /128 */
        {NULL, "2001:db8:64::", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "2001:db8:64::/", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "2001:db8:64::/80", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "2001:db8:64::/128", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "2001:db8:64::/096", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "2001:db8:64::/96 ", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, " 2001:db8:64::/96", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "2001:db8:64::/+96", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "2001:db8:64::/96/96", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "2001:db8:64::1/96", 128, 0, NULL, "RELAY_NAT64_PREFIX"},   /* host bits */
        {NULL, "2001:db8:64:1::/48", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "2001:db8:0:0:ff00::/96", 128, 0, NULL, "RELAY_NAT64_PREFIX"}, /* u-octet */
        {NULL, "2001:db8::5efe:0:0/96", 128, 0, NULL, "RELAY_NAT64_PREFIX"}, /* ISATAP */
        {NULL, "2001:db8:64::%eth0/96", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "192.0.2.0/24", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "::ffff:0:0/96", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "::/96", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "::/32", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "64:ff9b::/32", 128, 0, NULL, "RELAY_NAT64_PREFIX"},      /* around the WKP */
        {NULL, "64:ff9b:1::/96", 128, 0, NULL, "RELAY_NAT64_PREFIX"},    /* inside the /48 */
        {NULL, "2001::/32", 128, 0, NULL, "RELAY_NAT64_PREFIX"},         /* Teredo */
        {NULL, "fe80::/64", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "ff0e::/96", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "100::/64", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {NULL, "nat64", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {"56", "2001:db8:64::/95", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        /* both wrong: both warned about, still /128 */
        {"6", "junk", 128, 0, NULL, "RELAY_NAT64_PREFIX"},
        {"6", "2001:db8:64::/96", 128, 96, "2001:db8:64::", "RELAY_IPV6_PREFIX"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct settings s;
        char what[200], err[4096];

        set_case(&env_cases[0]);
        if (cases[i].ipv6 != NULL)
            setenv("RELAY_IPV6_PREFIX", cases[i].ipv6, 1);
        if (cases[i].nat64 != NULL)
            setenv("RELAY_NAT64_PREFIX", cases[i].nat64, 1);
        snprintf(what, sizeof what, "RELAY_IPV6_PREFIX=%s RELAY_NAT64_PREFIX=%s",
                 cases[i].ipv6 ? cases[i].ipv6 : "(unset)",
                 cases[i].nat64 ? cases[i].nat64 : "(unset)");
        memset(&s, 0x5a, sizeof s);
        load_captured(&s, err, sizeof err);
        CHECK_LONG(s.keys.v6bits, cases[i].v6bits, "%s: v6bits", what);
        CHECK_LONG(s.keys.nat64_bits, cases[i].nat64_bits, "%s: nat64_bits", what);
        if (cases[i].net != NULL) {
            struct addr want;
            addr_parse(&want, cases[i].net);
            CHECK(memcmp(s.keys.nat64, want.b, 16) == 0, "%s: the prefix is %s", what,
                  cases[i].net);
        }
        if (cases[i].warns == NULL) {
            if (!CHECK(err[0] == '\0', "%s: no warning", what))
                unit_note("stderr: %s", err);
        } else if (!CHECK(strstr(err, "unit-settings: warning: ") != NULL &&
                              strstr(err, cases[i].warns) != NULL,
                          "%s: a warning naming %s", what, cases[i].warns)) {
            unit_note("stderr: %s", err);
        }
        if (cases[i].ipv6 != NULL && strcmp(cases[i].ipv6, "6") == 0 &&
            strcmp(cases[i].nat64, "junk") == 0)
            CHECK(strstr(err, "RELAY_IPV6_PREFIX") != NULL, "%s: both are warned about", what);
    }
    set_case(&env_cases[0]);
}

/* What settings_load passed to its reporter, for the tests that look at the lines
 * themselves rather than at stderr. */
static char reported[4096];
static int nreported;

static void collect(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void collect(const char *fmt, ...)
{
    size_t n = strlen(reported);
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(reported + n, sizeof reported - n, fmt, ap);
    va_end(ap);
    n = strlen(reported);
    (void)snprintf(reported + n, sizeof reported - n, "\n");
    nreported++;
}

static void load_collected(struct settings *s)
{
    reported[0] = '\0';
    nreported = 0;
    settings_load(s, collect);
}

/* One rule for every switch: unset is the switch's default, "0" off, "1" and the empty
 * string on (qmail's reading of RELAYCLIENT: set is on), anything else invalid. */
static void test_switches(void)
{
    static const struct {
        const char *s;
        int rc, on;
    } cases[] = {
        {"0", 0, 0}, {"1", 0, 1}, {"", 0, 1}, {"2", -1, 0}, {"00", -1, 0}, {"01", -1, 0},
        {" 1", -1, 0}, {"1 ", -1, 0}, {"0\n", -1, 0}, {"on", -1, 0}, {"off", -1, 0},
        {"yes", -1, 0}, {"true", -1, 0}, {"-1", -1, 0}, {"+1", -1, 0}, {"10", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int on = 7;
        int rc = settings_switch(cases[i].s, &on);
        CHECK_LONG(rc, cases[i].rc, "settings_switch \"%s\": %d", cases[i].s, cases[i].rc);
        CHECK_LONG(on, cases[i].rc == 0 ? cases[i].on : 7, "settings_switch \"%s\" gives %d",
                   cases[i].s, cases[i].rc == 0 ? cases[i].on : 7);
    }

    /* Each switch under the one rule, its default when unset or invalid. */
    static const struct {
        const char *name;
        int dflt;
        int common; /* warned about by settings_load; else left to its program */
    } sw[] = {
        {"RELAY_REMOTEINFO", 0, 1},
        {"RELAY_LOG", 1, 1},
        {"RELAY_SESSION_REFRESH", 0, 0},
        {"RELAY_CDB_V4MAPPED", 0, 0},
    };
    static const char *const values[] = {NULL, "0", "1", "", "x", "01"};
    for (size_t i = 0; i < sizeof sw / sizeof sw[0]; i++) {
        for (size_t j = 0; j < sizeof values / sizeof values[0]; j++) {
            const char *v = values[j];
            struct settings s;
            set_case(&env_cases[0]);
            unsetenv("RELAY_SESSION_REFRESH");
            unsetenv("RELAY_CDB_V4MAPPED");
            if (v != NULL)
                setenv(sw[i].name, v, 1);
            memset(&s, 0x5a, sizeof s);
            load_collected(&s);
            int want = v == NULL ? sw[i].dflt : strcmp(v, "0") == 0 ? 0
                       : strcmp(v, "1") == 0 || v[0] == '\0' ? 1 : sw[i].dflt;
            int invalid = v != NULL && want == sw[i].dflt && strcmp(v, "0") != 0 &&
                          strcmp(v, "1") != 0 && v[0] != '\0';
            int got = strcmp(sw[i].name, "RELAY_REMOTEINFO") == 0 ? s.remoteinfo
                      : strcmp(sw[i].name, "RELAY_LOG") == 0 ? s.log
                      : strcmp(sw[i].name, "RELAY_SESSION_REFRESH") == 0 ? s.session_refresh.on
                      : s.cdb_v4mapped.on;
            CHECK_LONG(got, want, "%s=%s%s%s is %d", sw[i].name, v ? "\"" : "(unset",
                       v ? v : ")", v ? "\"" : "", want);
            if (sw[i].common) {
                CHECK_LONG(nreported, invalid, "%s=\"%s\": %d warning", sw[i].name,
                           v ? v : "(unset)", invalid);
                if (invalid) {
                    char line[256];
                    (void)snprintf(line, sizeof line, "%s must be 0 or 1, not \"%s\": using %d\n",
                                   sw[i].name, v, sw[i].dflt);
                    CHECK_STR(reported, line, "%s=\"%s\": the warning's words", sw[i].name, v);
                }
            } else {
                const struct settings_switch *o =
                    strcmp(sw[i].name, "RELAY_SESSION_REFRESH") == 0 ? &s.session_refresh
                                                                      : &s.cdb_v4mapped;
                CHECK_LONG(nreported, 0, "%s: left to its program to report", sw[i].name);
                CHECK(invalid ? o->invalid != NULL && strcmp(o->invalid, v) == 0
                              : o->invalid == NULL,
                      "%s=\"%s\": the invalid value is kept for its program", sw[i].name,
                      v ? v : "(unset)");
            }
        }
        unsetenv(sw[i].name);
    }
}

/* cdb mode: off unless RELAY_CDB is set and not empty; both paths absolute; the program by
 * default relay-cdb. Nothing is reported at load: the programs that rebuild say so. */
static void test_cdb(void)
{
    static const struct {
        const char *cdb, *rules, *prog;
        enum settings_cdb_state state;
        const char *want_prog;
    } cases[] = {
        {NULL, NULL, NULL, SETTINGS_CDB_OFF, "relay-cdb"},
        {"", "/etc/tcp.smtp", NULL, SETTINGS_CDB_OFF, "relay-cdb"},
        {NULL, "/etc/tcp.smtp", "/usr/bin/x", SETTINGS_CDB_OFF, "/usr/bin/x"},
        {"/etc/tcp.smtp.cdb", "/etc/tcp.smtp", NULL, SETTINGS_CDB_ON, "relay-cdb"},
        {"/etc/tcp.smtp.cdb", "/etc/tcp.smtp", "", SETTINGS_CDB_ON, "relay-cdb"},
        {"/etc/tcp.smtp.cdb", "/etc/tcp.smtp", "my-cdb", SETTINGS_CDB_ON, "my-cdb"},
        {"tcp.smtp.cdb", "/etc/tcp.smtp", NULL, SETTINGS_CDB_BAD_PATH, "relay-cdb"},
        {"tcp.smtp.cdb", NULL, NULL, SETTINGS_CDB_BAD_PATH, "relay-cdb"},
        {"/etc/tcp.smtp.cdb", NULL, NULL, SETTINGS_CDB_BAD_RULES, "relay-cdb"},
        {"/etc/tcp.smtp.cdb", "", NULL, SETTINGS_CDB_BAD_RULES, "relay-cdb"},
        {"/etc/tcp.smtp.cdb", "tcp.smtp", NULL, SETTINGS_CDB_BAD_RULES, "relay-cdb"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct settings s;
        set_case(&env_cases[0]);
        const char *names3[] = {"RELAY_CDB", "RELAY_CDB_RULES", "RELAY_CDB_PROG"};
        const char *vals[] = {cases[i].cdb, cases[i].rules, cases[i].prog};
        for (int k = 0; k < 3; k++) {
            if (vals[k] != NULL)
                setenv(names3[k], vals[k], 1);
            else
                unsetenv(names3[k]);
        }
        load_collected(&s);
        CHECK_LONG(s.cdb.state, cases[i].state, "RELAY_CDB=%s RELAY_CDB_RULES=%s: state %d",
                   vals[0] ? vals[0] : "(unset)", vals[1] ? vals[1] : "(unset)",
                   (int)cases[i].state);
        CHECK_STR(s.cdb.prog, cases[i].want_prog, "RELAY_CDB_PROG=%s gives %s",
                  vals[2] ? vals[2] : "(unset)", cases[i].want_prog);
        CHECK_LONG(nreported, 0, "cdb mode: nothing reported at load (case %zu)", i);
        for (int k = 0; k < 3; k++)
            unsetenv(names3[k]);
    }
}

/* The Redis store: on when RELAY_REDIS or RELAY_REDIS_SENTINELS is set and not empty. A value
 * that is wrong is one warning, and leaves it on but unusable: nothing granted or recorded,
 * never a fall back to RELAY_DIR. The timeout alone falls back, to its default. */
static void test_redis(void)
{
    static const char *const redis_names[] = {"RELAY_REDIS", "RELAY_REDIS_SENTINELS",
                                        "RELAY_REDIS_MASTER", "RELAY_REDIS_USER",
                                        "RELAY_REDIS_PASSFILE", "RELAY_REDIS_TIMEOUT"};
    static const struct {
        const char *v[6];
        int on, ok, warnings;
        long timeout;
        size_t nsentinels;
    } cases[] = {
        {{NULL, NULL, NULL, NULL, NULL, NULL}, 0, 0, 0, 250, 0},
        {{"", "", "m", "u", "/p", "x"}, 0, 0, 1, 250, 0},
        {{"", "", NULL, NULL, NULL, "x"}, 0, 0, 0, 250, 0},
        {{"unix:/run/redis/relaylease.sock", NULL, NULL, NULL, NULL, NULL}, 1, 1, 0, 250, 0},
        {{"127.0.0.1:6379", NULL, NULL, "smtp", "/etc/relaylease/smtp.pass", "100"}, 1, 1, 0, 100, 0},
        {{"[2001:db8::1]:6379", NULL, NULL, NULL, "/p", "5000"}, 1, 1, 0, 5000, 0},
        {{"[::1]:1", NULL, NULL, NULL, NULL, "1"}, 1, 1, 0, 1, 0},
        {{NULL, "127.0.0.1:26379,127.0.0.2:26379,[::1]:26379", "relaylease", NULL, NULL, NULL}, 1, 1, 0, 250, 3},
        {{"unix:/s", "127.0.0.1:26379", "a.b_c-1", NULL, NULL, NULL}, 1, 1, 0, 250, 1},
        {{"unix:/s", NULL, NULL, NULL, NULL, "0"}, 1, 1, 1, 250, 0},
        {{"unix:/s", NULL, NULL, NULL, NULL, "5001"}, 1, 1, 1, 250, 0},
        {{"unix:/s", NULL, NULL, NULL, NULL, "0100"}, 1, 1, 1, 250, 0},
        {{"localhost:6379", NULL, NULL, NULL, NULL, NULL}, 1, 0, 1, 250, 0},
        {{"127.0.0.1", NULL, NULL, NULL, NULL, NULL}, 1, 0, 1, 250, 0},
        {{"127.0.0.1:0", NULL, NULL, NULL, NULL, NULL}, 1, 0, 1, 250, 0},
        {{"127.0.0.1:65536", NULL, NULL, NULL, NULL, NULL}, 1, 0, 1, 250, 0},
        {{"127.0.0.1:06379", NULL, NULL, NULL, NULL, NULL}, 1, 0, 1, 250, 0},
        {{"unix:relative", NULL, NULL, NULL, NULL, NULL}, 1, 0, 1, 250, 0},
        {{"/run/redis.sock", NULL, NULL, NULL, NULL, NULL}, 1, 0, 1, 250, 0},
        {{"::1:6379", NULL, NULL, NULL, NULL, NULL}, 1, 0, 1, 250, 0},
        {{"[fe80::1%eth0]:6379", NULL, NULL, NULL, NULL, NULL}, 1, 0, 1, 250, 0},
        {{NULL, "127.0.0.1:26379", NULL, NULL, NULL, NULL}, 1, 0, 1, 250, 1},
        {{NULL, "127.0.0.1:26379", "bad name", NULL, NULL, NULL}, 1, 0, 1, 250, 1},
        {{NULL, "127.0.0.1:26379,", "m", NULL, NULL, NULL}, 1, 0, 1, 250, 1},
        {{NULL, ",127.0.0.1:26379", "m", NULL, NULL, NULL}, 1, 0, 1, 250, 0},
        {{NULL, "127.0.0.1:26379, 127.0.0.2:26379", "m", NULL, NULL, NULL}, 1, 0, 1, 250, 1},
        {{NULL, "1.1.1.1:1,1.1.1.2:1,1.1.1.3:1,1.1.1.4:1,1.1.1.5:1,1.1.1.6:1,1.1.1.7:1,1.1.1.8:1", "m", NULL, NULL, NULL}, 1, 1, 0, 250, 8},
        {{NULL, "1.1.1.1:1,1.1.1.2:1,1.1.1.3:1,1.1.1.4:1,1.1.1.5:1,1.1.1.6:1,1.1.1.7:1,1.1.1.8:1,1.1.1.9:1", "m", NULL, NULL, NULL}, 1, 0, 1, 250, 8},
        {{"unix:/s", NULL, NULL, "smtp", NULL, NULL}, 1, 0, 1, 250, 0},
        {{"unix:/s", NULL, NULL, "sm tp", "/p", NULL}, 1, 0, 1, 250, 0},
        {{"unix:/s", NULL, NULL, "smtp\n", "/p", NULL}, 1, 0, 1, 250, 0},
        {{"unix:/s", NULL, NULL, NULL, "p", NULL}, 1, 0, 1, 250, 0},
        {{"bad", "bad", NULL, NULL, NULL, "bad"}, 1, 0, 4, 250, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct settings s;
        char what[512] = "";
        set_case(&env_cases[0]);
        for (int k = 0; k < 6; k++) {
            if (cases[i].v[k] != NULL) {
                setenv(redis_names[k], cases[i].v[k], 1);
                size_t n = strlen(what);
                (void)snprintf(what + n, sizeof what - n, "%s%s=%s", n ? " " : "", redis_names[k],
                               cases[i].v[k]);
            } else {
                unsetenv(redis_names[k]);
            }
        }
        load_collected(&s);
        CHECK_LONG(s.redis.on, cases[i].on, "[%s]: on %d", what, cases[i].on);
        CHECK_LONG(s.redis.ok, cases[i].ok, "[%s]: ok %d", what, cases[i].ok);
        CHECK_LONG(nreported, cases[i].warnings, "[%s]: %d warnings (%s)", what,
                   cases[i].warnings, reported);
        CHECK_LONG(s.redis.timeout_ms, cases[i].timeout, "[%s]: timeout %ld", what,
                   cases[i].timeout);
        CHECK_LONG(s.relayclient_ok, !cases[i].on || cases[i].ok,
                   "[%s]: grants only with usable settings", what);
        if (cases[i].ok)
            CHECK_LONG((long)s.redis.nsentinels, (long)cases[i].nsentinels, "[%s]: %zu sentinels",
                       what, cases[i].nsentinels);
        for (int k = 0; k < 6; k++)
            unsetenv(redis_names[k]);
    }
}

/* RELAY_USER_MAX: 0 (no cap) to 1000, default 10; anything else warns and is 10, never 0:
 * an invalid value must not lift the cap. */
static void test_user_max(void)
{
    static const struct {
        const char *v;
        long want;
        int warns;
    } cases[] = {
        {NULL, 10, 0},     {"10", 10, 0},    {"0", 0, 0},      {"1", 1, 0},
        {"1000", 1000, 0},  {"1001", 10, 1}, {"", 10, 1},  {"-1", 10, 1},
        {"010", 10, 1},    {" 5", 10, 1},    {"5 ", 10, 1},    {"+5", 10, 1},
        {"5x", 10, 1},     {"0x5", 10, 1},   {"99999999999999999999", 10, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct settings s;
        char err[4096];
        const char *v = cases[i].v;
        set_case(&env_cases[0]);
        if (v != NULL)
            setenv("RELAY_USER_MAX", v, 1);
        else
            unsetenv("RELAY_USER_MAX");
        memset(&s, 0x5a, sizeof s);
        load_captured(&s, err, sizeof err);
        CHECK_LONG(s.user_max, cases[i].want, "RELAY_USER_MAX \"%s\": %ld", v ? v : "(unset)",
                   cases[i].want);
        if (cases[i].warns) {
            char want[256];
            snprintf(want, sizeof want,
                     "unit-settings: warning: RELAY_USER_MAX must be a number from 0 to 1000, "
                     "not \"%s\": using 10\n", v);
            CHECK_STR(err, want, "RELAY_USER_MAX \"%s\": one warning", v);
        } else {
            CHECK_STR(err, "", "RELAY_USER_MAX \"%s\": no warning", v ? v : "(unset)");
        }
    }
    unsetenv("RELAY_USER_MAX");
}

int main(void)
{
    log_init("unit-settings");
    test_number();
    test_load();
    test_nat64();
    test_switches();
    test_user_max();
    test_cdb();
    test_redis();
    return unit_done();
}
