/* unit-hostile.c: every hostile input of t-hostile.sh, and the parser vectors of
 * t-ipv6-ranges.sh, t-time.sh, t-forge.sh and t-cdb-tcprules.sh, through the parsers
 * themselves, where each costs microseconds instead of two program runs. t-hostile.sh keeps a
 * few of each class end to end, for what only a whole program shows (the exec, the
 * environment of the next program, sanitizer reports, nothing written outside the store).
 *
 * Each vector asserts what the shell test asserts of it:
 *   addresses: a malformed one is no address (addr_parse) and so gives no key to record or
 *     look up; a valid one gives its canonical key, which grants what the store holds for it;
 *     the address is taken from the variable relay-check and relay-allow read (addr_from_env);
 *   user names: a bad one is never recorded (store_user_ok; store_record refuses it), so the
 *     login is recorded without a user and nothing reaches TCPREMOTEINFO;
 *   store files: a planted file grants only if it is a valid record (store_lookup, with the
 *     permissions the store requires) with a fresh login time (store_fresh); a FIFO does not
 *     hang, a symbolic link is never followed; a store that is not a directory grants and
 *     records nothing; a hostile .lock neither stops a login nor is written through;
 *   settings: an invalid value gets its safe choice with one warning (settings_load);
 *   tcprules lines: a line tcprules refuses is refused (rules_parse_line, rules_expand);
 *   Redis values (t-redis-hosts.sh's hostile values, and more): a value under relaylease:KEY
 *     grants only if store_parse_redis accepts it as naming KEY, with a login time that
 *     store_fresh finds fresh; anything else is refused with a reason.
 *
 * Which relay-check and relay-allow code this mirrors: check_grants and key_of below are their
 * decisions (parse, key, look up, fresh) written with the modules' calls. What stays in the
 * programs (RELAYCLIENT already set, AUTHENTICATED before USER, the environment passed on)
 * is tested end to end only. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, mknod, symlink, setenv */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "cdb/rules.h"
#include "log.h"
#include "settings.h"
#include "store.h"
#include "store/dir.h"
#include "store/redis.h"
#include "unit.h"
#include "unit-files.h"

static char store_dir[4200];  /* the store: top/store, mode 0755 */
static char outside[4200];    /* top/outside: what links out of the store point at */
static time_t now;            /* one clock reading for every freshness decision */

/* The default key policy: what settings_load gives with no RELAY_IPV6_PREFIX and no
 * RELAY_NAT64_PREFIX. */
static const struct addr_policy policy64 = {SETTINGS_DEFAULT_V6BITS, 0, {0}};

/* ---- scaffolding ---------------------------------------------------------------------------- */

/* A string of n copies of c after prefix, in buf (size > strlen(prefix) + n). */
static char *filled(char *buf, const char *prefix, char c, size_t n)
{
    size_t p = strlen(prefix);
    memcpy(buf, prefix, p);
    memset(buf + p, c, n);
    buf[p + n] = '\0';
    return buf;
}

/* How many lines "unit-hostile: warning: ..." f, from capture_end, holds; closes it. */
static int warnings_in(FILE *f)
{
    static const char head[] = "unit-hostile: warning: ";
    char line[8192];
    int warnings = 0;

    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, head, sizeof head - 1) == 0)
            warnings++;
    fclose(f);
    return warnings;
}

/* ---- the programs' decisions, written with the modules' calls ----------------------------- */

/* relay-allow: the key it records for text, into key. Returns 0, or -1: nothing recorded. */
static int key_of(const char *text, const struct addr_policy *p, char key[ADDR_KEY_MAX])
{
    struct addr a;

    key[0] = '\0';
    if (addr_parse(&a, text) != 0)
        return -1;
    return addr_key(key, &a, p);
}

/* relay-check: does a client at text relay, with the store in dir? The record (user) in rec. */
static int check_grants(const char *dir, const char *text, const struct addr_policy *p,
                        long expiry, struct record *rec)
{
    char key[ADDR_KEY_MAX];
    const char *why;

    memset(rec, 0, sizeof *rec);
    if (key_of(text, p, key) != 0)
        return 0;
    if (store_dir_lookup(dir, key, rec, &why) != STORE_FOUND)
        return 0;
    return store_fresh(rec->time, now, expiry);
}

/* ---- addresses ---------------------------------------------------------------------------- */

/* The store the addresses are tried against: fresh records for addresses that a lax parser
 * would reach from the hostile forms below (as t-hostile.sh's allow_now makes them). */
static void stock_store(void)
{
    static const struct {
        const char *addr, *user, *key;
    } stock[] = {
        {"1.2.3.4", "bob", "1.2.3.4"},
        {"127.0.0.1", "root", "127.0.0.1"},
        {"1.0.0.0", "zero", "1.0.0.0"},
        {"10.0.0.1", "ten", "10.0.0.1"},
        {"2001:db8:1:2::1", "carol", "2001:db8:1:2::_64"},
        {"::1", "local", "::1_128"},
    };
    struct store s;
    char key[ADDR_KEY_MAX];
    size_t i;

    if (store_dir_open(&s, store_dir, NULL) != 0)
        fail_setup("open the store", store_dir);
    for (i = 0; i < sizeof stock / sizeof stock[0]; i++) {
        if (key_of(stock[i].addr, &policy64, key) != 0 || strcmp(key, stock[i].key) != 0 ||
            store_record(&s, key, stock[i].user) != 0)
            fail_setup("stock the store with", stock[i].addr);
        set_time(store_dir, key, now);
    }
    store_close(&s);
}

/* Malformed: no address, so relay-check grants nothing and relay-allow records nothing. */
static void deny_malformed(const char *text)
{
    struct addr a;
    struct record rec;
    char key[ADDR_KEY_MAX];

    CHECK(addr_parse(&a, text) != 0, "address \"%.60s\" (%zu bytes) is not an address", text,
          strlen(text));
    CHECK(key_of(text, &policy64, key) != 0, "address \"%.60s\": relay-allow records nothing",
          text);
    CHECK(!check_grants(store_dir, text, &policy64, SETTINGS_DEFAULT_EXPIRY, &rec),
          "address \"%.60s\": relay-check grants nothing", text);
}

static void test_addresses(void)
{
    static const char *const malformed[] = {
        /* octal, hex, short and decimal forms of stored addresses */
        "01.2.3.4", "1.2.3.04", "001.002.003.004", "0x1.2.3.4", "0x01020304", "16909060",
        "1.2.772", "1.131844", "1.2.3", "1.2.3.4.", ".1.2.3.4", "1.2.3.4.5", "1.2.3.256",
        "1.2.3.-1", "+1.2.3.4", "1..2.3.4", "1.2.3.4/32", "1.2.3.4:25", "1.2.3.4_32", "127.1",
        "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "2130706433", "127.0.0.01", "127.0.1", "0",
        "0.0", "0.0.0", "00.0.0.0",
        /* paths and names */
        "../1.2.3.4", "1.2.3.4/../10.0.0.1", "/etc/passwd", ".", "..", ".tmp.1.1.2.3.4", "*",
        "1.2.3.*", "a.b.c.d", "1.2.3.4a",
        /* IPv6 forms: zone ids, brackets, prefixes, bad groups, keys */
        "::ffff:01.2.3.4", "::ffff:1.2.3", "::ffff:1.2.3.4.5", "2001:db8:1:2::1%eth0",
        "2001:db8:1:2::1%25eth0", "fe80::1%lo", "[2001:db8:1:2::1]", "2001:db8:1:2::1/64",
        "2001:db8:1:2:::1", "2001:db8:1:2::1:", ":2001:db8:1:2::1", "2001:0db8:0001:0002::00001",
        "2001:db8:1:2::g", "2001:db8:1:2:0:0:0:0:1", "2001:db8:1:2::1.2.3.4.5",
        "2001:db8:1:2::_64", "2001:db8:1:2::1::2", "2001:db8:1:2:1.2.3.4", "::1 ", ":::", ":",
        "::1/128", "1.2.3.4,10.0.0.1", "1.2.3.4;10.0.0.1",
        /* spaces, control characters, bytes outside ASCII */
        " 1.2.3.4", "1.2.3.4 ", "1.2. 3.4", "\t1.2.3.4", "1.2.3.4\n", "1.2.3.4\r\n",
        "1.2.3.4\n10.0.0.1", "\n1.2.3.4", "1.2.3.4\033[2J", "\3211.2.3.4", "1.2.3.4\377",
        "\357\274\221.2.3.4", "2001:db8:1:2::1\n", " 2001:db8:1:2::1",
        /* empty */
        "",
    };
    static const struct {
        const char *text, *key, *user;
    } granted[] = {
        {"1.2.3.4", "1.2.3.4", "bob"},
        {"::ffff:1.2.3.4", "1.2.3.4", "bob"},
        {"::FFFF:1.2.3.4", "1.2.3.4", "bob"},
        {"::ffff:0102:0304", "1.2.3.4", "bob"},
        {"0:0:0:0:0:ffff:1.2.3.4", "1.2.3.4", "bob"},
        {"2001:db8:1:2::99", "2001:db8:1:2::_64", "carol"},
        {"2001:DB8:1:2::1", "2001:db8:1:2::_64", "carol"},
        {"2001:0db8:0001:0002:0000:0000:0000:0001", "2001:db8:1:2::_64", "carol"},
        {"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::_64", "carol"},
        {"2001:db8:1:2::1.2.3.4", "2001:db8:1:2::_64", "carol"},
        /* valid, and easy to mistake for junk */
        {"::1.2.3.4", "1.2.3.4", "bob"},
    };
    /* Valid, not stored: relay-check denies, relay-allow records this key. */
    static const struct {
        const char *text, *key;
    } unstored[] = {
        {"::ffff:2001:db8", "32.1.13.184"},
        {"1::", "1::_64"},
        {"1.2.3.5", "1.2.3.5"},
        {"2001:db8:1:3::1", "2001:db8:1:3::_64"},
        {"2001:db8:1:1:ffff:ffff:ffff:ffff", "2001:db8:1:1::_64"},
    };
    static char big[6000];
    char key[ADDR_KEY_MAX];
    struct record rec;
    struct store s;
    struct addr a;
    size_t i;

    stock_store();
    for (i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        deny_malformed(malformed[i]);
    deny_malformed(filled(big, "", '1', 5000));
    deny_malformed(filled(big, "1.2.3.4", '1', 5000));
    deny_malformed(filled(big, "1.2.3.4", ' ', 5000));
    deny_malformed(filled(big, "", ':', 5000));
    deny_malformed(filled(big, "::ffff:", '0', 4990));

    /* "::" is an address, the one that may never relay. */
    CHECK(addr_parse(&a, "::") == 0, "address \"::\" is an address");
    CHECK(key_of("::", &policy64, key) != 0, "address \"::\": relay-allow records nothing");
    CHECK(!check_grants(store_dir, "::", &policy64, SETTINGS_DEFAULT_EXPIRY, &rec),
          "address \"::\": relay-check grants nothing");

    for (i = 0; i < sizeof granted / sizeof granted[0]; i++) {
        if (CHECK_LONG(key_of(granted[i].text, &policy64, key), 0, "address \"%s\" has a key",
                       granted[i].text))
            CHECK_STR(key, granted[i].key, "address \"%s\": its key", granted[i].text);
        if (CHECK(check_grants(store_dir, granted[i].text, &policy64, SETTINGS_DEFAULT_EXPIRY,
                               &rec),
                  "address \"%s\": relay-check grants", granted[i].text))
            CHECK_STR(rec.user, granted[i].user, "address \"%s\": the stored user",
                      granted[i].text);
    }

    if (store_dir_open(&s, store_dir, NULL) != 0)
        fail_setup("open the store", store_dir);
    for (i = 0; i < sizeof unstored / sizeof unstored[0]; i++) {
        char p[8192];
        if (CHECK_LONG(key_of(unstored[i].text, &policy64, key), 0, "address \"%s\" has a key",
                       unstored[i].text))
            CHECK_STR(key, unstored[i].key, "address \"%s\": its key", unstored[i].text);
        CHECK(!check_grants(store_dir, unstored[i].text, &policy64, SETTINGS_DEFAULT_EXPIRY,
                            &rec),
              "address \"%s\" (valid, not stored): relay-check denies", unstored[i].text);
        CHECK(store_record(&s, key, "eve") == 0 &&
                  check_grants(store_dir, unstored[i].text, &policy64, SETTINGS_DEFAULT_EXPIRY,
                               &rec) &&
                  strcmp(rec.user, "eve") == 0,
              "address \"%s\": a login records it, then it grants", unstored[i].text);
        path_of(p, sizeof p, store_dir, key);
        (void)unlink(p);
    }
    store_close(&s);
}

/* ---- which variable holds the address ----------------------------------------------------- */

static void clear_addr_env(void)
{
    (void)unsetenv("PROTO");
    (void)unsetenv("TCP6REMOTEIP");
    (void)unsetenv("TCPREMOTEIP");
    (void)unsetenv("IP");
}

/* With the variables set as given (NULL: unset), the text each side reads (NULL: none), and
 * the decision on it. */
static void from_env_is(const char *what, const char *proto, const char *tcp6, const char *tcp,
                        const char *ip, const char *want_check, const char *want_allow)
{
    const char *var, *got;
    struct record rec;

    clear_addr_env();
    if ((proto && setenv("PROTO", proto, 1) != 0) ||
        (tcp6 && setenv("TCP6REMOTEIP", tcp6, 1) != 0) ||
        (tcp && setenv("TCPREMOTEIP", tcp, 1) != 0) || (ip && setenv("IP", ip, 1) != 0))
        fail_setup("set the environment for", what);

    got = addr_from_env(ADDR_UCSPI, &var);
    if (want_check == NULL)
        CHECK(got == NULL, "%s: relay-check finds no address", what);
    else
        CHECK_STR(got, want_check, "%s: relay-check reads %s", what, var ? var : "nothing");
    CHECK(got == NULL || !check_grants(store_dir, got, &policy64, SETTINGS_DEFAULT_EXPIRY, &rec),
          "%s: relay-check grants nothing", what);

    got = addr_from_env(ADDR_UCSPI_OR_IP, &var);
    if (want_allow == NULL)
        CHECK(got == NULL, "%s: relay-allow finds no address", what);
    else
        CHECK_STR(got, want_allow, "%s: relay-allow reads %s", what, var ? var : "nothing");
    clear_addr_env();
}

static void test_from_env(void)
{
    char key[ADDR_KEY_MAX];

    from_env_is("PROTO=TCP6, TCP6REMOTEIP bad, TCPREMOTEIP good", "TCP6", "01.2.3.4", "1.2.3.4",
                NULL, "01.2.3.4", "01.2.3.4");
    from_env_is("PROTO=TCP, TCPREMOTEIP bad, TCP6REMOTEIP good", "TCP", "1.2.3.4", "1.2.3.4x",
                NULL, "1.2.3.4x", "1.2.3.4x");
    from_env_is("TCPREMOTEIP empty, IP good", NULL, NULL, "", "1.2.3.4", "", "");
    from_env_is("IP bad (Dovecot)", NULL, NULL, NULL, "127.1", NULL, "127.1");
    from_env_is("no address at all", NULL, NULL, NULL, NULL, NULL, NULL);
    from_env_is("PROTO=TCP6 and a newline, TCPREMOTEIP bad", "TCP6\n", "1.2.3.4", "1.2.3.4x",
                NULL, "1.2.3.4x", "1.2.3.4x");
    from_env_is("PROTO=TCP6, TCP6REMOTEIP bad", "TCP6", "1.2.3.4x", "1.2.3.4", NULL, "1.2.3.4x",
                "1.2.3.4x");
    /* The texts read above record nothing. */
    CHECK(key_of("1.2.3.4x", &policy64, key) != 0 && key_of("", &policy64, key) != 0 &&
              key_of("127.1", &policy64, key) != 0,
          "the bad texts read from the environment record nothing");
}

/* ---- user names --------------------------------------------------------------------------- */

/* A login as user from 10.1.0.n: recorded with the user if it is fit (want_ok), else with none;
 * relay-check then grants and passes on the recorded user only. */
static void user_case(unsigned n, const char *user, int want_ok)
{
    char key[ADDR_KEY_MAX];
    struct store s;
    struct record rec;

    snprintf(key, sizeof key, "10.1.0.%u", n);
    CHECK_LONG(store_user_ok(user), want_ok, "user \"%.40s\" (%zu bytes) is %s", user,
               strlen(user), want_ok ? "fit" : "refused");
    if (store_dir_open(&s, store_dir, NULL) != 0)
        fail_setup("open the store", store_dir);
    if (!want_ok && user[0] != '\0')
        CHECK(store_record(&s, key, user) != 0 && errno == EINVAL,
              "user \"%.40s\": store_record refuses to write it", user);
    CHECK(store_record(&s, key, want_ok ? user : "") == 0, "user \"%.40s\": the login is recorded",
          user);
    store_close(&s);
    if (CHECK(check_grants(store_dir, key, &policy64, SETTINGS_DEFAULT_EXPIRY, &rec),
              "user \"%.40s\": relay-check grants %s", user, key))
        CHECK_STR(rec.user, want_ok ? user : "", "user \"%.40s\": the user passed on", user);
}

static void test_users(void)
{
    static const char *const fit[] = {
        "bob=evil", "RELAYCLIENT=x", "bob@example.org", "a.b-c_d+e", "!$%&*", "bob;x",
        "bob'x",    "bob\"x",        "%s%s%n",          "-",         "a",     "carol",
    };
    static const char *const unfit[] = {
        "(bob)",      "bob)",   "bob(",       "bob\\x", "bob x",         " bob", "bob ",
        "bob\001",    "bob\nRELAYCLIENT=x",   "bob\r",  "bob\tx",        "bob\033[2J",
        "bob\177",    "b\303\270b",           "\n",     "bob\n",         "carol\n",
        "",
    };
    static char big[6000];
    unsigned n = 0;
    size_t i;

    for (i = 0; i < sizeof fit / sizeof fit[0]; i++)
        user_case(++n, fit[i], 1);
    for (i = 0; i < sizeof unfit / sizeof unfit[0]; i++)
        user_case(++n, unfit[i], 0);
    user_case(++n, filled(big, "", 'u', 255), 1);
    user_case(++n, filled(big, "", 'u', 256), 0);
    user_case(++n, filled(big, "", 'u', 5000), 0);
    user_case(++n, filled(big, "", '(', 5000), 0);
}

/* ---- store files -------------------------------------------------------------------------- */

static unsigned planted;

/* The key (and address) of the next planted file: 10.2.0.N. */
static const char *next_key(void)
{
    static char key[ADDR_KEY_MAX];
    snprintf(key, sizeof key, "10.2.0.%u", ++planted);
    return key;
}

/* Does relay-check grant key (an IPv4 address) with what is planted under it? The user it
 * passes on must be want_user. */
static void store_case(const char *what, const char *key, int want, const char *want_user)
{
    struct record rec;
    const char *why = "";
    enum store_result res;
    int got;

    alarm(30); /* a FIFO must not hang the lookup */
    res = store_dir_lookup(store_dir, key, &rec, &why);
    got = check_grants(store_dir, key, &policy64, SETTINGS_DEFAULT_EXPIRY, &rec);
    alarm(0);
    if (!CHECK_LONG(got, want, "store %s (%s): %s", what, key, want ? "grants" : "denies"))
        unit_note("store_lookup said %d (%s)", (int)res, why ? why : "NULL");
    else if (want)
        CHECK_STR(rec.user, want_user, "store %s: the user passed on", what);
    if (!want && res == STORE_INVALID)
        CHECK(why != NULL && why[0] != '\0', "store %s: a reason is given", what);
}

/* Plant n bytes of content (each "KEY" replaced by the key) and ask. */
static void plant(const char *what, const char *content, size_t n, int want, const char *user)
{
    const char *key = next_key();
    char buf[2048];
    size_t i, m = 0, klen = strlen(key);

    for (i = 0; i < n; i++) {
        if (i + 3 <= n && memcmp(content + i, "KEY", 3) == 0) {
            /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): bytes for a file */
            memcpy(buf + m, key, klen);
            m += klen;
            i += 2;
        } else {
            buf[m++] = content[i];
        }
    }
    put(store_dir, key, buf, m);
    set_time(store_dir, key, now);
    store_case(what, key, want, user);
}

/* A string literal with its NULs: its bytes without the one the compiler adds. */
#define PLANT(what, lit, want, user) plant((what), (lit), sizeof(lit) - 1, (want), (user))

/* Plant prefix (ours: "relaylease1 KEY "), n copies of c, and slen bytes of suffix; ask. */
static void plant_big(const char *what, int ours, const char *prefix, char c, size_t n,
                      const char *suffix, size_t slen)
{
    static char buf[1048576 + 64];
    const char *key = next_key();
    size_t len;

    if (ours)
        len = (size_t)snprintf(buf, sizeof buf, "relaylease1 %s ", key);
    else
        len = (size_t)snprintf(buf, sizeof buf, "%s", prefix);
    memset(buf + len, c, n);
    len += n;
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): bytes for a file, not a string */
    memcpy(buf + len, suffix, slen);
    len += slen;
    put(store_dir, key, buf, len);
    set_time(store_dir, key, now);
    store_case(what, key, 0, "");
}

/* Plant our valid record dated when, and ask. */
static void plant_dated(const char *what, time_t when, int want)
{
    const char *key = next_key();
    char buf[128];
    int n = snprintf(buf, sizeof buf, "relaylease1 %s bob\n", key);

    put(store_dir, key, buf, (size_t)n);
    set_time(store_dir, key, when);
    store_case(what, key, want, "bob");
}

/* Plant something that is not a regular file; make returns 0, or -1 if it cannot be made
 * here (then the case is skipped). */
static void plant_special(const char *what, int (*make)(const char *key, const char *path))
{
    const char *key = next_key();
    char p[8192];

    path_of(p, sizeof p, store_dir, key);
    if (make(key, p) != 0) {
        unit_skip(strerror(errno), "store %s (%s)", what, key);
        return;
    }
    store_case(what, key, 0, "");
}

static int outside_record(const char *key, const char *content, size_t n, char *target,
                          size_t size)
{
    char name[64];
    snprintf(name, sizeof name, "rec.%s", key);
    put(outside, name, content, n);
    path_of(target, size, outside, name);
    return 0;
}

static int make_dir(const char *key, const char *p)
{
    char rec[128];
    int n = snprintf(rec, sizeof rec, "relaylease1 %s bob\n", key);
    if (mkdir(p, 0755) != 0)
        return -1;
    put(p, key, rec, (size_t)n);
    return 0;
}

static int make_fifo(const char *key, const char *p)
{
    (void)key;
    return mkfifo(p, 0644);
}

static int link_abs_record(const char *key, const char *p)
{
    char target[8192], rec[128];
    int n = snprintf(rec, sizeof rec, "relaylease1 %s bob\n", key);
    outside_record(key, rec, (size_t)n, target, sizeof target);
    return symlink(target, p);
}

static int link_rel_legacy(const char *key, const char *p)
{
    char target[8192], rel[128];
    outside_record(key, "USER=bob", 9, target, sizeof target);
    snprintf(rel, sizeof rel, "../outside/rec.%s", key);
    return symlink(rel, p);
}

static int link_dev_zero(const char *key, const char *p)
{
    (void)key;
    return symlink("/dev/zero", p);
}

static int link_fifo(const char *key, const char *p)
{
    char target[8192], name[64];
    snprintf(name, sizeof name, "fifo.%s", key);
    path_of(target, sizeof target, outside, name);
    if (mkfifo(target, 0644) != 0)
        return -1;
    return symlink(target, p);
}

static int link_dir(const char *key, const char *p)
{
    char target[8192];
    (void)key;
    path_of(target, sizeof target, outside, "dir");
    return symlink(target, p);
}

static int link_dangling(const char *key, const char *p)
{
    char target[8192];
    (void)key;
    path_of(target, sizeof target, outside, "nothing");
    return symlink(target, p);
}

static int link_self(const char *key, const char *p)
{
    return symlink(key, p);
}

static int make_chardev(const char *key, const char *p)
{
    struct stat st;
    (void)key;
    if (stat("/dev/null", &st) != 0 || !S_ISCHR(st.st_mode))
        return -1;
    return mknod(p, S_IFCHR | 0644, st.st_rdev);
}

/* Our valid record with what t-forge.sh and t-perms.sh forge: a mode, an owner, a link. */
static void plant_forged(const char *what, mode_t mode, uid_t uid, int hardlink)
{
    const char *key = next_key();
    char buf[128], p[8192];
    int n = snprintf(buf, sizeof buf, "relaylease1 %s bob\n", key);

    put(store_dir, key, buf, (size_t)n);
    path_of(p, sizeof p, store_dir, key);
    if (chmod(p, mode) != 0)
        fail_setup("chmod", p);
    if (uid != (uid_t)-1 && lchown(p, uid, (gid_t)-1) != 0) {
        unit_skip(strerror(errno), "store %s (%s)", what, key);
        return;
    }
    if (hardlink) {
        char other[8192];
        snprintf(other, sizeof other, "%s/link.%s", outside, key);
        if (link(p, other) != 0)
            fail_setup("link", p);
    }
    set_time(store_dir, key, now);
    store_case(what, key, 0, "");
}

static void test_store_files(void)
{
    static char buf[1100];
    const char *key;
    char p[8192];
    struct record rec;
    int fd;
    size_t i;
    unsigned long seed = 12345;

    PLANT("empty file (relay-ctrl: valid, no user)", "", 1, "");
    PLANT("our record", "relaylease1 KEY bob\n", 1, "bob");
    PLANT("relay-ctrl record", "USER=bob\0", 1, "bob");
    PLANT("relay-ctrl USER and DOMAIN", "USER=bob\0DOMAIN=example.org\0", 1, "bob@example.org");
    PLANT("relay-ctrl record trying to set variables",
          "RELAYCLIENT=@evil.example\0PATH=/tmp\0USER=bob\0TCPREMOTEHOST=evil\0"
          "LD_PRELOAD=/x.so\0",
          1, "bob");
    PLANT("truncated: no newline", "relaylease1 KEY bob", 0, "");
    PLANT("truncated: half a key", "relaylease1 10.2", 0, "");
    PLANT("truncated: magic only", "relaylease1 ", 0, "");
    PLANT("truncated: one byte", "r", 0, "");
    PLANT("truncated relay-ctrl (no NUL)", "USER=bob", 0, "");
    PLANT("another key's record", "relaylease1 10.2.0.250 bob\n", 0, "");
    PLANT("CRLF", "relaylease1 KEY bob\r\n", 0, "");
    PLANT("two lines", "relaylease1 KEY bob\nrelaylease1 KEY eve\n", 0, "");
    PLANT("two spaces before the user", "relaylease1 KEY  bob\n", 0, "");
    PLANT("space in the user", "relaylease1 KEY bob eve\n", 0, "");
    PLANT("user with parentheses", "relaylease1 KEY (bob)\n", 0, "");
    PLANT("user with a control character", "relaylease1 KEY bo\033b\n", 0, "");
    PLANT("NUL inside our record", "relaylease1 KEY bob\0\n", 0, "");
    PLANT("unknown version", "relaylease2 KEY bob\n", 0, "");
    PLANT("relay-ctrl user with a newline", "USER=bob\nRELAYCLIENT=x\0", 0, "");
    PLANT("relay-ctrl user with parentheses", "USER=(bob)\0", 0, "");
    PLANT("relay-ctrl entry without a name", "=bob\0", 0, "");
    PLANT("relay-ctrl lowercase name", "user=bob\0", 0, "");
    PLANT("relay-ctrl entry without =", "USER\0", 0, "");
    PLANT("relay-ctrl empty entry", "USER=bob\0\0", 0, "");
    PLANT("binary: NUL bytes", "\0\0\0\0", 0, "");
    PLANT("binary: high bytes", "\377\376\375\374", 0, "");

    /* 200 pseudo-random bytes, NUL made 1 as the shell test did (a fixed seed: the same
     * bytes on every run). */
    for (i = 0; i < 200; i++) {
        seed = seed * 1103515245UL + 12345UL;
        buf[i] = (char)((seed >> 16) & 0xff);
        if (buf[i] == '\0')
            buf[i] = '\1';
    }
    plant("binary: 200 random bytes", buf, 200, 0, "");

    plant_big("1025 bytes", 0, "", 'A', 1025, "", 0);
    plant_big("our record with a 2000-byte user", 1, "", 'u', 2000, "\n", 1);
    plant_big("relay-ctrl record with a 300-byte user", 0, "USER=", 'u', 300, "", 1);
    plant_big("1 MiB", 0, "", 'A', 1048576, "", 0);

    key = next_key();
    path_of(p, sizeof p, store_dir, key);
    fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0 && ftruncate(fd, (off_t)4 << 30) == 0 && close(fd) == 0) {
        store_case("4 GiB sparse", key, 0, "");
    } else {
        if (fd >= 0)
            close(fd);
        unit_skip("ftruncate cannot make a sparse file here", "store 4 GiB sparse");
    }
    (void)unlink(p); /* not left for the sweep of others' stores to read */

    /* Login times (t-hostile.sh and t-time.sh): fresh means at most the expiry old and at most
     * STORE_FUTURE_SLACK seconds ahead. */
    plant_dated("valid record from the future (+1 hour)", now + 3600, 0);
    plant_dated("valid record 16 minutes old (stale)", now - 960, 0);
    plant_dated("valid record from 1970", 1, 0);
    plant_dated("valid record 3 s ahead (clock skew)", now + 3, 1);
    plant_dated("valid record 100 s ahead", now + 100, 0);
    plant_dated("valid record 1000 s ahead", now + 1000, 0);
    plant_dated("valid record exactly the expiry old", now - SETTINGS_DEFAULT_EXPIRY, 1);
    plant_dated("valid record one second past the expiry", now - SETTINGS_DEFAULT_EXPIRY - 1,
                0);

    plant_special("a directory", make_dir);
    plant_special("a FIFO with no writer (must not hang)", make_fifo);
    plant_special("a symlink to a valid record outside the store", link_abs_record);
    plant_special("a relative symlink to a relay-ctrl record outside", link_rel_legacy);
    plant_special("a symlink to /dev/zero", link_dev_zero);
    plant_special("a symlink to a FIFO outside", link_fifo);
    plant_special("a symlink to a directory outside", link_dir);
    plant_special("a dangling symlink", link_dangling);
    plant_special("a symlink to itself", link_self);
    plant_special("a character device (null)", make_chardev);

    /* Forged records (t-forge.sh): anyone but root and the store's owner could have written
     * them. */
    plant_forged("a group-writable record", 0664, (uid_t)-1, 0);
    plant_forged("an others-writable record", 0646, (uid_t)-1, 0);
    plant_forged("a record with a second link", 0644, (uid_t)-1, 1);
    if (geteuid() == 0)
        plant_forged("a record of uid 65534 in root's store", 0644, 65534, 0);
    else
        unit_skip("needs root to chown", "store a record of another account");

    /* IPv6 keys: relay-ctrl's content never stood under one, and a record names its key. */
    put(store_dir, "2001:db8:5::_64", "USER=bob", 9);
    set_time(store_dir, "2001:db8:5::_64", now);
    CHECK(!check_grants(store_dir, "2001:db8:5::1", &policy64, SETTINGS_DEFAULT_EXPIRY, &rec),
          "store relay-ctrl content under an IPv6 key: denies");
    {
        const struct addr_policy p48 = {48, 0, {0}};
        static const char rec48[] = "relaylease1 2001:db8:6::_64 bob\n";
        put(store_dir, "2001:db8:6::_48", rec48, sizeof rec48 - 1);
        set_time(store_dir, "2001:db8:6::_48", now);
        CHECK(!check_grants(store_dir, "2001:db8:6::1", &p48, SETTINGS_DEFAULT_EXPIRY, &rec),
              "store an IPv6 record filed under another prefix length: denies");
    }
}

/* A store directory whose group may write it: no record there proves anything. */
static void test_open_store(void)
{
    char dir[8192];
    struct record rec;
    static const char r[] = "relaylease1 1.2.3.4 bob\n";

    path_of(dir, sizeof dir, top, "gw");
    if (mkdir(dir, 0755) != 0 || chmod(dir, 0775) != 0)
        fail_setup("create", dir);
    put(dir, "1.2.3.4", r, sizeof r - 1);
    set_time(dir, "1.2.3.4", now);
    CHECK(!check_grants(dir, "1.2.3.4", &policy64, SETTINGS_DEFAULT_EXPIRY, &rec),
          "store a valid record in a group-writable store: denies");
}

/* ---- the store directory itself ---------------------------------------------------------- */

static void dir_case(const char *what, const char *dir)
{
    struct record rec;
    struct store s;

    alarm(30);
    CHECK(!check_grants(dir, "1.2.3.4", &policy64, SETTINGS_DEFAULT_EXPIRY, &rec),
          "RELAY_DIR %s: relay-check grants nothing", what);
    CHECK(store_dir_open(&s, dir, NULL) != 0, "RELAY_DIR %s: relay-allow cannot open it, records nothing",
          what);
    alarm(0);
}

static void test_store_dirs(void)
{
    static char big[6000];
    char p[8192];

    path_of(p, sizeof p, outside, "afile");
    put(outside, "afile", "x\n", 2);
    dir_case("a regular file", p);
    path_of(p, sizeof p, outside, "dirfifo");
    if (mkfifo(p, 0644) != 0)
        fail_setup("create the FIFO", p);
    dir_case("a FIFO", p);
    path_of(p, sizeof p, outside, "nothing");
    dir_case("missing", p);
    dir_case("5,000 bytes", filled(big, "/", 'a', 5000));
    path_of(p, sizeof p, store_dir, "1.2.3.4");
    dir_case("a record in the store", p);
    snprintf(p, sizeof p, "%s\n", store_dir);
    dir_case("the store with a newline after it", p);
    /* Relative and empty names are the settings' to refuse: test_settings. */
}

/* ---- a hostile .lock in the store --------------------------------------------------------- */

static void test_lock_file(void)
{
    static const char *const kinds[] = {"fifo", "dir", "symlink-dangling", "symlink-file"};
    char dir[8192], lock[8192], created[8192], afile[8192], rp[8192], buf[16];
    struct store s;
    struct stat st;
    struct record rec;
    struct sweep_stats stats;
    size_t i;

    path_of(dir, sizeof dir, top, "store3");
    if (mkdir(dir, 0755) != 0)
        fail_setup("create", dir);
    path_of(lock, sizeof lock, dir, ".lock");
    path_of(created, sizeof created, outside, "created-by-lock");
    path_of(afile, sizeof afile, outside, "afile");
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *k = kinds[i];
        int fd, rc, saved, w;
        FILE *f;

        (void)unlink(lock);
        (void)rmdir(lock);
        if ((strcmp(k, "fifo") == 0 && mkfifo(lock, 0644) != 0) ||
            (strcmp(k, "dir") == 0 && mkdir(lock, 0755) != 0) ||
            (strcmp(k, "symlink-dangling") == 0 && symlink(created, lock) != 0) ||
            (strcmp(k, "symlink-file") == 0 && symlink(afile, lock) != 0))
            fail_setup("plant", lock);

        alarm(30);
        if (store_dir_open(&s, dir, NULL) != 0)
            fail_setup("open", dir);
        f = capture_begin(&saved);
        rc = store_record(&s, "10.3.1.1", "eve");
        w = warnings_in(capture_end(f, saved));
        store_close(&s);
        CHECK(rc == 0, ".lock a %s: the login is recorded", k);
        CHECK(w <= 1, ".lock a %s: with at most one warning", k);
        CHECK(check_grants(dir, "10.3.1.1", &policy64, SETTINGS_DEFAULT_EXPIRY, &rec) &&
                  strcmp(rec.user, "eve") == 0,
              ".lock a %s: and grants", k);

        set_time(dir, "10.3.1.1", now - 7200);
        memset(&stats, 0, sizeof stats);
        if (store_dir_open(&s, dir, NULL) != 0)
            fail_setup("open", dir);
        rc = store_sweep(&s, SETTINGS_DEFAULT_EXPIRY, 0, &stats, NULL, NULL);
        store_close(&s);
        alarm(0);
        CHECK(rc == 0 || errno != ETIMEDOUT, ".lock a %s: a sweep does not wait out the lock (rc %d)", k,
              rc);
        CHECK(lstat(lock, &st) == 0, ".lock a %s: is left in place", k);
        CHECK(lstat(created, &st) != 0, ".lock a %s: nothing is created through it", k);
        fd = open(afile, O_RDONLY);
        CHECK(fd >= 0 && read(fd, buf, sizeof buf) == 2 && memcmp(buf, "x\n", 2) == 0,
              ".lock a %s: the file it points to is unchanged", k);
        if (fd >= 0)
            close(fd);
        path_of(rp, sizeof rp, dir, "10.3.1.1");
        (void)unlink(rp);
    }
}

/* ---- settings ----------------------------------------------------------------------------- */
/* Everything that calls settings_load is in this section (load below), so that a change of
 * its interface is one edit. */

static const char *const setting_names[] = {
    "RELAY_DIR",         "RELAY_CTRL_DIR",         "RELAY_EXPIRY",      "RELAY_CTRL_EXPIRY",
    "RELAY_RELAYCLIENT", "RELAY_CTRL_RELAYCLIENT", "RELAY_IPV6_PREFIX", "RELAY_NAT64_PREFIX",
    "RELAY_REMOTEINFO",  "RELAY_LOG",
};

static int reported;

/* settings_load's reporter: it counts the problems (a program passes log_warn). */
static void count_reports(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void count_reports(const char *fmt, ...)
{
    (void)fmt;
    reported++;
}

/* Load the settings from exactly the variables given (name, value, ..., NULL); count the
 * problems settings_load reported into *warnings. */
static void load(struct settings *s, int *warnings, const char *const *env)
{
    size_t i;

    for (i = 0; i < sizeof setting_names / sizeof setting_names[0]; i++)
        (void)unsetenv(setting_names[i]);
    for (i = 0; env[i] != NULL; i += 2)
        if (setenv(env[i], env[i + 1], 1) != 0)
            fail_setup("set", env[i]);
    reported = 0;
    settings_load(s, count_reports);
    *warnings = reported;
}

/* LOAD(&s, &w, "NAME", value, ...) */
#define LOAD(s, w, ...) load((s), (w), (const char *const[]){__VA_ARGS__, NULL})

static void test_settings(void)
{
    static const char *const bad_expiry[] = {
        "-1",  "-2000", "0",  "00",   "02000", "0x7d0", "2e3", "2000.0", "+2000", " 2000",
        "2000 ", "2000s", "604801", "9223372036854775807", "9223372036854775808",
        "99999999999999999999999", NULL /* 5,000 nines */, "", "two", "2000\n",
    };
    static const char *const bad_relayclient[] = {
        "@x\nRCPT TO:<a@b>", "\r", "@x\033", "\t", "@x\177", "@\303\251", NULL /* 256 x */,
    };
    static const char *const bad_prefix[] = {
        "0", "129", "-64", "064", "0x40", " 64", "64 ", "", "6.4", "1e2", "64k",
        "18446744073709551680", NULL /* 5,000 nines */, "64\n", "6", "47",
    };
    static const char *const bad_switch[] = {"yes", "no", "2", "-1", " 1", "1 ", "01", "true",
                                             "1\n"};
    static const char *const bad_dir[] = {"store", "", "../store", "-1", "0755"};
    static const char *const names2[][2] = {{"RELAY_EXPIRY", "RELAY_CTRL_EXPIRY"},
                                            {"RELAY_RELAYCLIENT", "RELAY_CTRL_RELAYCLIENT"},
                                            {"RELAY_DIR", "RELAY_CTRL_DIR"}};
    static char nines[5001], xs[257];
    struct settings s;
    char key[ADDR_KEY_MAX];
    int w;
    size_t i, j;

    filled(nines, "", '9', 5000);
    filled(xs, "", 'x', 256);

    for (j = 0; j < 2; j++) {
        const char *var = names2[0][j];
        for (i = 0; i < sizeof bad_expiry / sizeof bad_expiry[0]; i++) {
            const char *v = bad_expiry[i] ? bad_expiry[i] : nines;
            LOAD(&s, &w, var, v);
            CHECK_LONG(s.expiry, SETTINGS_DEFAULT_EXPIRY, "%s=\"%.40s\": the default expiry",
                       var, v);
            CHECK_LONG(w, 1, "%s=\"%.40s\": one warning", var, v);
            CHECK(!store_fresh(now - 1000, now, s.expiry) && store_fresh(now - 100, now, s.expiry),
                  "%s=\"%.40s\": a 1000 s old record denied, a 100 s old one granted", var, v);
        }
        LOAD(&s, &w, var, "2000");
        CHECK(s.expiry == 2000 && w == 0, "%s=2000 (valid, longer)", var);
        LOAD(&s, &w, var, "50");
        CHECK(s.expiry == 50 && w == 0 && !store_fresh(now - 100, now, s.expiry),
              "%s=50 (valid, shorter): a 100 s old record denied", var);
    }
    LOAD(&s, &w, "RELAY_EXPIRY", "-1", "RELAY_CTRL_EXPIRY", "2000");
    CHECK(s.expiry == SETTINGS_DEFAULT_EXPIRY && w == 1,
          "RELAY_EXPIRY invalid, RELAY_CTRL_EXPIRY=2000: the new name wins (default)");

    for (j = 0; j < 2; j++) {
        const char *var = names2[1][j];
        for (i = 0; i < sizeof bad_relayclient / sizeof bad_relayclient[0]; i++) {
            const char *v = bad_relayclient[i] ? bad_relayclient[i] : xs;
            LOAD(&s, &w, var, v);
            CHECK(s.relayclient_ok == 0 && w == 1, "%s=\"%.40s\": grants nothing, one warning",
                  var, v);
        }
        LOAD(&s, &w, var, "@fixup.example");
        CHECK(s.relayclient_ok == 1 && strcmp(s.relayclient, "@fixup.example") == 0 && w == 0,
              "%s=@fixup.example (valid)", var);
        LOAD(&s, &w, var, "");
        CHECK(s.relayclient_ok == 1 && strcmp(s.relayclient, "") == 0 && w == 0,
              "%s= (empty, valid)", var);
    }
    LOAD(&s, &w, "RELAY_RELAYCLIENT", xs, "RELAY_CTRL_RELAYCLIENT", "@ok");
    CHECK(s.relayclient_ok == 0, "RELAY_RELAYCLIENT bad, RELAY_CTRL_RELAYCLIENT good: the new "
                                 "name wins (nothing granted)");

    /* The stored prefix is 2001:db8:1:2::/64; an invalid length reads as 128. */
    for (i = 0; i < sizeof bad_prefix / sizeof bad_prefix[0]; i++) {
        const char *v = bad_prefix[i] ? bad_prefix[i] : nines;
        LOAD(&s, &w, "RELAY_IPV6_PREFIX", v);
        CHECK(s.keys.v6bits == 128 && w == 1, "RELAY_IPV6_PREFIX=\"%.40s\": 128, one warning", v);
        CHECK(key_of("2001:db8:1:2::99", &s.keys, key) == 0 &&
                  strcmp(key, "2001:db8:1:2::99_128") == 0,
              "RELAY_IPV6_PREFIX=\"%.40s\": 2001:db8:1:2::99 is keyed by itself", v);
    }
    LOAD(&s, &w, "RELAY_IPV6_PREFIX", "64");
    CHECK(s.keys.v6bits == 64 && key_of("2001:db8:1:2::99", &s.keys, key) == 0 &&
              strcmp(key, "2001:db8:1:2::_64") == 0,
          "RELAY_IPV6_PREFIX=64 (valid)");
    LOAD(&s, &w, "RELAY_IPV6_PREFIX", "63");
    CHECK(s.keys.v6bits == 63 && w == 0, "RELAY_IPV6_PREFIX=63 (valid)");
    LOAD(&s, &w, "RELAY_IPV6_PREFIX", "48");
    CHECK(s.keys.v6bits == 48 && key_of("2001:db8:1:2::1", &s.keys, key) == 0 &&
              strcmp(key, "2001:db8:1::_48") == 0,
          "RELAY_IPV6_PREFIX=48 (valid, the floor)");

    /* RELAY_NAT64_PREFIX (t-ipv6-ranges.sh) */
    LOAD(&s, &w, "RELAY_NAT64_PREFIX", "2001:db8:64::1/96");
    CHECK(s.keys.v6bits == 128 && w == 1 && key_of("2001:db8:1:2::1", &s.keys, key) == 0 &&
              strcmp(key, "2001:db8:1:2::1_128") == 0,
          "RELAY_NAT64_PREFIX=2001:db8:64::1/96 (host bits set): every IPv6 client by /128");
    LOAD(&s, &w, "RELAY_NAT64_PREFIX", "2001:db8:64::/96");
    CHECK(w == 0 && key_of("2001:db8:64::c000:207", &s.keys, key) == 0 &&
              strcmp(key, "192.0.2.7") == 0,
          "RELAY_NAT64_PREFIX=2001:db8:64::/96: 2001:db8:64::c000:207 is 192.0.2.7");
    LOAD(&s, &w, "RELAY_NAT64_PREFIX", "2001:db8:1::/48");
    CHECK(w == 0 && key_of("2001:db8:1:c000:2:700::", &s.keys, key) == 0 &&
              strcmp(key, "192.0.2.7") == 0,
          "RELAY_NAT64_PREFIX=2001:db8:1::/48: 2001:db8:1:c000:2:700:: is 192.0.2.7");

    for (i = 0; i < sizeof bad_switch / sizeof bad_switch[0]; i++) {
        LOAD(&s, &w, "RELAY_REMOTEINFO", bad_switch[i]);
        CHECK(s.remoteinfo == 0 && w == 1, "RELAY_REMOTEINFO=\"%s\" (invalid: off)",
              bad_switch[i]);
        LOAD(&s, &w, "RELAY_LOG", bad_switch[i]);
        CHECK(s.log == 1 && w == 1, "RELAY_LOG=\"%s\" (invalid: on)", bad_switch[i]);
    }
    LOAD(&s, &w, "RELAY_REMOTEINFO", "");
    CHECK(s.remoteinfo == 1 && w == 0, "RELAY_REMOTEINFO= (empty: on)");
    LOAD(&s, &w, "RELAY_REMOTEINFO", "0");
    CHECK(s.remoteinfo == 0 && w == 0, "RELAY_REMOTEINFO=0 (off)");

    /* A relative or empty store name reads as the default store, with a warning. */
    for (j = 0; j < 2; j++) {
        const char *var = names2[2][j];
        for (i = 0; i < sizeof bad_dir / sizeof bad_dir[0]; i++) {
            LOAD(&s, &w, var, bad_dir[i]);
            CHECK(strcmp(s.dir, SETTINGS_DEFAULT_DIR) == 0 && w == 1,
                  "%s=\"%s\": the default store, one warning", var, bad_dir[i]);
        }
        LOAD(&s, &w, var, store_dir);
        CHECK(strcmp(s.dir, store_dir) == 0 && w == 0, "%s=the store (valid)", var);
    }
    {
        char afile[8192];
        struct record rec;
        path_of(afile, sizeof afile, outside, "afile");
        LOAD(&s, &w, "RELAY_CTRL_DIR", afile);
        CHECK(strcmp(s.dir, afile) == 0 &&
                  !check_grants(s.dir, "1.2.3.4", &policy64, s.expiry, &rec),
              "RELAY_CTRL_DIR=a regular file (RELAY_DIR unset): taken, and grants nothing");
    }
    LOAD(&s, &w, "RELAY_DIR", "store", "RELAY_CTRL_DIR", store_dir);
    CHECK(strcmp(s.dir, SETTINGS_DEFAULT_DIR) == 0,
          "RELAY_DIR bad, RELAY_CTRL_DIR the store: the new name wins (default)");

    /* Every setting invalid at once: every safe choice, one warning each. */
    LOAD(&s, &w, "RELAY_EXPIRY", "-1", "RELAY_RELAYCLIENT", xs, "RELAY_REMOTEINFO", "yes",
         "RELAY_LOG", "yes", "RELAY_IPV6_PREFIX", "0", "RELAY_DIR", "store");
    CHECK(s.expiry == SETTINGS_DEFAULT_EXPIRY && s.relayclient_ok == 0 && s.remoteinfo == 0 &&
              s.log == 1 && s.keys.v6bits == 128 && strcmp(s.dir, SETTINGS_DEFAULT_DIR) == 0,
          "every setting invalid: every safe choice");
    CHECK_LONG(w, 6, "every setting invalid: one warning each");

    for (i = 0; i < sizeof setting_names / sizeof setting_names[0]; i++)
        (void)unsetenv(setting_names[i]);
}

/* ---- tcprules lines (t-cdb-tcprules.sh) --------------------------------------------------- */

static int count_key(const char *key, size_t klen, void *arg)
{
    (void)key;
    (void)klen;
    ++*(int *)arg;
    return 0;
}

/* What relay-cdb makes of one line: its kind, and for a rule whether its range expands. */
static int line_refused(const char *line, size_t len, enum rules_line *kind)
{
    struct rbuf v = {0};
    const char *a = NULL;
    size_t alen = 0;
    int n = 0, refused;

    *kind = rules_parse_line(line, len, &a, &alen, &v);
    refused = *kind == RULES_BAD || (*kind == RULES_RULE && rules_expand(a, alen, count_key, &n) != 0);
    rbuf_free(&v);
    return refused;
}

static void test_tcprules(void)
{
    static const char *const refused[] = {
        "1.2.3.4:allowx",       "1.2.3.4:allow,A",     "1.2.3.4:allow,A=\"x",
        "1.2.3.4:allow,A=\"x\"y", "1.2.3.4:allow,A=\"x\",", "1.2.3.x-6:allow",
        "1.2.3.4-5-6:allow",    "1.2.3.4:allow;",      "2001:db8::1 allow",
        "1.2.3.4: allow",       "1.2.3.4:allow\r",
    };
    static const char *const rules[] = {
        "1.2.3.4:allow,RELAYCLIENT=\"\",X='a b'", " 1.2.3.5 :deny  \t",
        "1.2.3.:allow,A=/x/,B=\"\"",              "=host.example:allow,HOST=\"1\"",
        "=.example.org:deny",                     "=:allow,ANY=\"host\"",
        "bob@1.2.3.4:allow,WHO=\"bob\"",          "10.0.0.37-53:allow,RANGE=\"1\"",
        "10.1-3.:deny",                           "10.9.250-300.:allow",
        "10.8.-2.:allow",                         "1.2.3.9:allow,A,B=x1x,C=,c,",
        "=Mixed.Case.Example:allow",              ":allow,DEFAULT=\"yes\"",
        "2001:db8::1:allow,V6=\"exact\"",         "2001:db8:1:2::25:allow,V6=\"inside\"",
        "::ffff:127.0.0.1:allow,M=\"1\"",         "1:alloc:allow",
        "2001:db8:7::deny",
    };
    enum rules_line kind;
    size_t i;

    for (i = 0; i < sizeof refused / sizeof refused[0]; i++)
        CHECK(line_refused(refused[i], strlen(refused[i]), &kind),
              "tcprules line refused like tcprules: %s", refused[i]);
    for (i = 0; i < sizeof rules / sizeof rules[0]; i++)
        CHECK(!line_refused(rules[i], strlen(rules[i]), &kind) && kind == RULES_RULE,
              "tcprules line read as a rule: %s", rules[i]);
    CHECK(!line_refused("", 0, &kind) && kind == RULES_SKIP, "tcprules empty line skipped");
    CHECK(!line_refused("# first", 7, &kind) && kind == RULES_SKIP, "tcprules comment skipped");
    CHECK(!line_refused("no colon here", 13, &kind) && kind == RULES_NOCOLON,
          "tcprules line with no colon: ignored, not refused");
}

/* ---- IPv6 keying (t-ipv6-ranges.sh) -------------------------------------------------------- */

static void test_ipv6_ranges(void)
{
    static const struct {
        const char *text, *key; /* key NULL: never an allowance */
    } cases[] = {
        {"64:ff9b::c000:207", "192.0.2.7"},
        {"64:ff9b::192.0.2.7", "192.0.2.7"},
        {"64:ff9b::c000:208", "192.0.2.8"},
        {"64:ff9b::1:c000:207", "64:ff9b::1:c000:207_128"},
        {"64:ff9b:1:c000:2:700::", "192.0.2.7"},
        {"64:ff9b:1:c000:102:700::", "64:ff9b:1:c000:102:700::_128"},
        {"::192.0.2.7", "192.0.2.7"},
        {"::ffff:0:192.0.2.7", "192.0.2.7"},
        {"2001:db8:64::c000:207", "2001:db8:64::_64"},
        {"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:4136:e378:8000:63bf:3fff:fdd2_128"},
        {"2001:2::1", "2001:2::1_128"},
        {"fe80::1", "fe80::1_128"},
        {"::1", "::1_128"},
        {"2001:db8:1:2:0:5efe:c000:207", "2001:db8:1:2:0:5efe:c000:207_128"},
        {"2001:db8:1:2:200:5efe:c000:207", "2001:db8:1:2:200:5efe:c000:207_128"},
        {"100::1", "100::1_128"},
        {"2001:db8:1:2::1", "2001:db8:1:2::_64"},
        {"fd00:1:2:3::4", "fd00:1:2:3::_64"},
        {"::", NULL},
        {"ff02::1", NULL},
        {"ff0e::1", NULL},
        {"0.0.0.0", NULL},
        {"224.0.0.1", NULL},
        {"255.255.255.255", NULL},
        {"64:ff9b::e000:1", NULL},
        {"::ffff:0:0.0.0.5", NULL},
    };
    static const char *const stale[] = {"64:ff9b::_64", "fe80::_64", "::_64", "2001::_64",
                                        "ff02::_64", "64:ff9b::c000:207_128"};
    char key[ADDR_KEY_MAX];
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = key_of(cases[i].text, &policy64, key);
        if (cases[i].key == NULL)
            CHECK(rc != 0, "IPv6 range: %s is never an allowance", cases[i].text);
        else if (CHECK_LONG(rc, 0, "IPv6 range: %s has a key", cases[i].text))
            CHECK_STR(key, cases[i].key, "IPv6 range: the key of %s", cases[i].text);
    }
    for (i = 0; i < sizeof stale / sizeof stale[0]; i++)
        CHECK(!addr_key_current(stale[i], &policy64),
              "IPv6 range: a record under %s is never looked up", stale[i]);
}

/* ---- Redis values --------------------------------------------------------------------------- */

/* The value tmpl (n bytes) under relaylease:key, each "@K" replaced by key and each "@T" by
 * t: does relay-check grant? want: 1 grants (with user), 0 refused by the parser, 2 parsed but
 * not fresh (a time past the expiry or ahead). */
static void redis_case(const char *what, const char *key, const char *tmpl, size_t n, time_t t,
                       int want, const char *user)
{
    static char buf[4096];
    char tt[32];
    size_t i, m = 0, klen = strlen(key), tlen;
    struct record rec;
    const char *why = "";

    tlen = (size_t)snprintf(tt, sizeof tt, "%lld", (long long)t);
    for (i = 0; i < n && m + 64 < sizeof buf; i++) {
        if (i + 2 <= n && tmpl[i] == '@' && (tmpl[i + 1] == 'K' || tmpl[i + 1] == 'T')) {
            const char *v = tmpl[i + 1] == 'K' ? key : tt;
            size_t vl = tmpl[i + 1] == 'K' ? klen : tlen;
            memcpy(buf + m, v, vl);
            m += vl;
            i++;
        } else {
            buf[m++] = tmpl[i];
        }
    }
    memset(&rec, 0, sizeof rec);
    memcpy(rec.key, key, klen + 1);
    int res = store_parse_redis(buf, m, &rec, &why);
    int got = res != 0 ? 0 : store_fresh(rec.time, now, SETTINGS_DEFAULT_EXPIRY) ? 1 : 2;
    if (!CHECK_LONG(got, want, "redis value %s (%s): %s", what, key,
                    want == 1 ? "grants" : want == 2 ? "parses, not fresh" : "refused"))
        unit_note("store_parse_redis said %d (%s)", res, why != NULL ? why : "NULL");
    CHECK_STR(rec.key, key, "redis value %s: the key is left alone", what);
    if (res == 0) {
        /* Whatever is accepted names this key and has a time a writer could have made. */
        char want_value[2048];
        int wl = snprintf(want_value, sizeof want_value, "relaylease2 %lld %s %s\n",
                          (long long)rec.time, key, rec.user);
        CHECK(wl > 0 && (size_t)wl == m && memcmp(want_value, buf, m) == 0,
              "redis value %s: accepted only as the writer's value for %s", what, key);
        CHECK(rec.time >= 1 && (long long)rec.time <= 999999999999LL,
              "redis value %s: a time of 1..999999999999", what);
        if (want == 1)
            CHECK_STR(rec.user, user, "redis value %s: the user passed on", what);
    } else {
        CHECK(why != NULL && why[0] != '\0', "redis value %s: a reason is given", what);
    }
}

#define REDIS(what, lit, want, user) \
    redis_case((what), "192.0.2.7", (lit), sizeof(lit) - 1, now, (want), (user))
#define REDIS6(what, lit, want, user) \
    redis_case((what), "2001:db8:1:2::_64", (lit), sizeof(lit) - 1, now, (want), (user))
#define REDIS_AT(what, lit, t, want) \
    redis_case((what), "192.0.2.7", (lit), sizeof(lit) - 1, (t), (want), "bob")

static void test_redis_values(void)
{
    /* What a writer makes: granted. */
    REDIS("the writer's", "relaylease2 @T @K bob@example.org\n", 1, "bob@example.org");
    REDIS("the writer's, no user", "relaylease2 @T @K \n", 1, "");
    REDIS6("the writer's, IPv6 /64", "relaylease2 @T @K carol\n", 1, "carol");
    /* Another key. */
    REDIS("another key", "relaylease2 @T 192.0.2.8 eve\n", 0, "");
    REDIS("a longer key it begins", "relaylease2 @T @K0 eve\n", 0, "");
    REDIS("a longer key it ends", "relaylease2 @T 1@K eve\n", 0, "");
    REDIS("the key as the user too", "relaylease2 @T @K @K\n", 1, "192.0.2.7");
    REDIS("another key, this one as the user", "relaylease2 @T 192.0.2.8 @K\n", 0, "");
    REDIS("the Redis key", "relaylease2 @T relaylease:@K eve\n", 0, "");
    REDIS("the key with its prefix length", "relaylease2 @T @K_32 eve\n", 0, "");
    REDIS("no key", "relaylease2 @T  eve\n", 0, "");
    REDIS("two spaces before the key", "relaylease2 @T  @K eve\n", 0, "");
    REDIS("a tab for a space", "relaylease2 @T\t@K eve\n", 0, "");
    REDIS("the key in capitals", "relaylease2 @T 192.0.2.07 eve\n", 0, "");
    REDIS6("another /64", "relaylease2 @T 2001:db8:1:3::_64 eve\n", 0, "");
    REDIS6("a /48 around it", "relaylease2 @T 2001:db8:1::_48 eve\n", 0, "");
    REDIS6("the address, not the key", "relaylease2 @T 2001:db8:1:2::7 eve\n", 0, "");
    REDIS6("the key in capitals", "relaylease2 @T 2001:DB8:1:2::_64 eve\n", 0, "");
    /* Bad times. */
    REDIS("a time 0", "relaylease2 0 @K eve\n", 0, "");
    REDIS("a time -1", "relaylease2 -1 @K eve\n", 0, "");
    REDIS("a sign", "relaylease2 +@T @K eve\n", 0, "");
    REDIS("a leading zero", "relaylease2 0@T @K eve\n", 0, "");
    REDIS("13 digits", "relaylease2 100@T @K eve\n", 0, "");
    REDIS("20 digits", "relaylease2 18446744073709551617 @K eve\n", 0, "");
    REDIS("40 digits", "relaylease2 1234567890123456789012345678901234567890 @K eve\n", 0, "");
    REDIS("hex", "relaylease2 0x6b0e1c9b @K eve\n", 0, "");
    REDIS("a fraction", "relaylease2 @T.5 @K eve\n", 0, "");
    REDIS("a time with letters", "relaylease2 @Tabc @K eve\n", 0, "");
    REDIS("a space before the time", "relaylease2  @T @K eve\n", 0, "");
    REDIS("no time", "relaylease2 @K eve\n", 0, "");
    REDIS("an exponent", "relaylease2 1e9 @K eve\n", 0, "");
    /* Times that parse, and grant only if fresh. */
    REDIS_AT("back-dated past the expiry", "relaylease2 @T @K bob\n",
             now - SETTINGS_DEFAULT_EXPIRY - 1, 2);
    REDIS_AT("at the expiry", "relaylease2 @T @K bob\n", now - SETTINGS_DEFAULT_EXPIRY, 1);
    REDIS_AT("a time 1", "relaylease2 @T @K bob\n", 1, 2);
    REDIS_AT("10 minutes ahead", "relaylease2 @T @K bob\n", now + 600, 2);
    REDIS_AT("the largest time", "relaylease2 @T @K bob\n", (time_t)999999999999LL, 2);
    REDIS_AT("one past the largest time", "relaylease2 @T @K bob\n", (time_t)1000000000000LL, 0);
    /* Not one line of ours. */
    REDIS("empty", "", 0, "");
    REDIS("a newline", "\n", 0, "");
    REDIS("the magic alone", "relaylease2\n", 0, "");
    REDIS("the magic and a space", "relaylease2 \n", 0, "");
    REDIS("no final newline", "relaylease2 @T @K eve", 0, "");
    REDIS("CR LF", "relaylease2 @T @K eve\r\n", 0, "");
    REDIS("two lines", "relaylease2 @T @K eve\nrelaylease2 @T @K eve\n", 0, "");
    REDIS("another line first", "x\nrelaylease2 @T @K eve\n", 0, "");
    REDIS("a NUL in the user", "relaylease2 @T @K ev\0e\n", 0, "");
    REDIS("a NUL at the end", "relaylease2 @T @K eve\n\0", 0, "");
    REDIS("a NUL after the magic", "relaylease2\0@T @K eve\n", 0, "");
    REDIS("the directory's record", "relaylease1 @K eve\n", 0, "");
    REDIS("relay-ctrl's record", "USER=eve\0DOMAIN=example.org\0", 0, "");
    REDIS("relay-ctrl's user", "USER=eve\0", 0, "");
    REDIS("magic in capitals", "RELAYLEASE2 @T @K eve\n", 0, "");
    REDIS("a later magic", "relaylease3 @T @K eve\n", 0, "");
    REDIS("no space after the magic", "relaylease2@T @K eve\n", 0, "");
    REDIS("a space first", " relaylease2 @T @K eve\n", 0, "");
    REDIS("a BOM first", "\357\273\277relaylease2 @T @K eve\n", 0, "");
    REDIS("a RESP reply", "$30\r\nrelaylease2 @T @K eve\r\n", 0, "");
    REDIS("no space before the user", "relaylease2 @T @K\n", 0, "");
    /* Bad users. */
    REDIS("a space in the user", "relaylease2 @T @K e ve\n", 0, "");
    REDIS("a parenthesis in the user", "relaylease2 @T @K e(ve\n", 0, "");
    REDIS("a closing parenthesis", "relaylease2 @T @K eve)\n", 0, "");
    REDIS("a backslash in the user", "relaylease2 @T @K e\\ve\n", 0, "");
    REDIS("a tab in the user", "relaylease2 @T @K e\tve\n", 0, "");
    REDIS("an escape in the user", "relaylease2 @T @K eve\033[2J\n", 0, "");
    REDIS("DEL in the user", "relaylease2 @T @K eve\177\n", 0, "");
    REDIS("a byte over 0x7f", "relaylease2 @T @K \303\251ve\n", 0, "");
    REDIS("a CR in the user", "relaylease2 @T @K eve\rx\n", 0, "");
    REDIS("a space after the user", "relaylease2 @T @K eve \n", 0, "");
    /* Sizes: a user of 255 bytes grants, 256 does not, nor a value over 1024 bytes. */
    {
        char big[1200], tmpl[600];
        int n = snprintf(tmpl, sizeof tmpl, "relaylease2 @T @K %s\n", filled(big, "", 'u', 255));
        redis_case("a user of 255 bytes", "192.0.2.7", tmpl, (size_t)n, now, 1, big);
        n = snprintf(tmpl, sizeof tmpl, "relaylease2 @T @K %s\n", filled(big, "", 'u', 256));
        redis_case("a user of 256 bytes", "192.0.2.7", tmpl, (size_t)n, now, 0, "");
        char huge[1100];
        n = snprintf(huge, sizeof huge, "relaylease2 @T @K %s\n", filled(big, "", 'u', 1010));
        redis_case("a value of over 1024 bytes", "192.0.2.7", huge, (size_t)n, now, 0, "");
    }
}

int main(void)
{
    int status;

    log_init("unit-hostile");
    umask(022);
    now = time(NULL);
    scratch_make("unit-hostile");
    alarm_fails();
    path_of(store_dir, sizeof store_dir, top, "store");
    path_of(outside, sizeof outside, top, "outside");
    if (chmod(top, 0755) != 0 || mkdir(store_dir, 0755) != 0 || mkdir(outside, 0755) != 0)
        fail_setup("create the store in", top);
    {
        char d[8192];
        path_of(d, sizeof d, outside, "dir");
        if (mkdir(d, 0755) != 0)
            fail_setup("create", d);
    }
    clear_addr_env();

    test_addresses();
    test_from_env();
    test_users();
    test_store_files();
    test_open_store();
    test_store_dirs();
    test_lock_file();
    test_settings();
    test_tcprules();
    test_ipv6_ranges();
    test_redis_values();

    status = unit_done();
    scratch_remove();
    return status;
}
