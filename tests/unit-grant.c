/* unit-grant.c: grant_judge, the one judgement of relay-check, relay-query and relay-policy,
 * over a directory store in a scratch directory: each outcome at its edges (the expiry, the
 * allowed clock skew), and what is always set, whatever the outcome (the record, zeroed first;
 * the age; the reason). The clock is never read: every record is dated against a fixed now. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, utimensat, symlink, setenv */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grant.h"
#include "settings.h"
#include "store.h"
#include "unit.h"
#include "unit-files.h"

/* A fixed now, far from the real clock: an outcome that depended on time(NULL) would show. */
#define NOW ((time_t)1700000000)
#define EXPIRY 900L

static char store_dir[4200];
static int warned; /* how many lines settings_load said */

static void collect(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void collect(const char *fmt, ...)
{
    (void)fmt;
    warned++;
}

static const char *grant_name(enum grant g)
{
    switch (g) {
    case GRANT_YES:
        return "GRANT_YES";
    case GRANT_NONE:
        return "GRANT_NONE";
    case GRANT_INVALID:
        return "GRANT_INVALID";
    case GRANT_ERROR:
        return "GRANT_ERROR";
    case GRANT_FUTURE:
        return "GRANT_FUTURE";
    case GRANT_EXPIRED:
        return "GRANT_EXPIRED";
    }
    return "?";
}

/* Settings from the environment, as a program reads them: the directory store at dir, an
 * expiry (NULL: unset, the default), no Redis unless redis is not NULL. */
static void load(struct settings *cfg, const char *dir, const char *expiry, const char *redis)
{
    if (setenv("RELAY_DIR", dir, 1) != 0)
        fail_setup("set", "RELAY_DIR");
    if (expiry != NULL ? setenv("RELAY_EXPIRY", expiry, 1) != 0 : unsetenv("RELAY_EXPIRY") != 0)
        fail_setup("set", "RELAY_EXPIRY");
    if (redis != NULL ? setenv("RELAY_REDIS", redis, 1) != 0 : unsetenv("RELAY_REDIS") != 0)
        fail_setup("set", "RELAY_REDIS");
    warned = 0;
    settings_load(cfg, collect);
}

/* The key's record, dated at when: "relaylease1 KEY USER\n", as store_record writes it. */
static void record_at(const char *key, const char *user, time_t when)
{
    char line[400];
    snprintf(line, sizeof line, "relaylease1 %s %s\n", key, user);
    put_str(store_dir, key, line);
    set_time(store_dir, key, when);
}

struct judged {
    enum grant g;
    struct record rec;
    long age;
    const char *why;
    int err;
};

/* grant_judge with every output filled with something it must overwrite first. */
static struct judged judge(const struct settings *cfg, const char *key, time_t now)
{
    struct judged j;
    memset(&j.rec, 0x5a, sizeof j.rec);
    j.age = 12345;
    j.why = NULL;
    errno = 0;
    j.g = grant_judge(cfg, key, now, &j.rec, &j.age, &j.why);
    j.err = errno;
    return j;
}

/* Check the outcome and the age; the reason is "" unless want is GRANT_INVALID or
 * GRANT_ERROR. */
static int check_judged(const char *file, int line, const struct judged *j, enum grant want,
                        long age, const char *what)
{
    int pass = unit_check(file, line, j->g == want, "%s: %s", what, grant_name(want));
    if (!pass)
        printf("#   got %s (age %ld, why \"%s\")\n", grant_name(j->g), j->age,
               j->why != NULL ? j->why : "NULL");
    pass &= unit_check_long(file, line, j->age, age, "%s: age", what);
    if (want != GRANT_INVALID && want != GRANT_ERROR)
        pass &= unit_check_str(file, line, j->why, "", "%s: nothing to say (why is \"\")", what);
    return pass;
}

#define CHECK_JUDGED(j, want, age, what) check_judged(__FILE__, __LINE__, (j), (want), (age), (what))

/* The record holds nothing of the 0x5a fill: every byte of the key and the user is a NUL
 * (the key may hold the key looked up, which the backend writes), the time and legacy 0. */
static int record_clean(const struct record *r, const char *key)
{
    const char *k = key != NULL ? key : "";
    size_t klen = strlen(k);
    for (size_t i = 0; i < sizeof r->key; i++)
        if (i < klen ? r->key[i] != k[i] : r->key[i] != '\0')
            return 0;
    for (size_t i = 0; i < sizeof r->user; i++)
        if (r->user[i] != '\0')
            return 0;
    return r->time == 0 && r->legacy == 0;
}

static void test_fresh(const struct settings *cfg)
{
    struct judged j;

    record_at("192.0.2.1", "bob", NOW);
    j = judge(cfg, "192.0.2.1", NOW);
    if (CHECK_JUDGED(&j, GRANT_YES, 0, "a login made now")) {
        CHECK_STR(j.rec.key, "192.0.2.1", "the record's key");
        CHECK_STR(j.rec.user, "bob", "the record's user");
        CHECK(j.rec.time == NOW, "the record's login time");
        CHECK_LONG(j.rec.legacy, 0, "not relay-ctrl's");
    }

    /* The expiry: a record exactly EXPIRY old still grants, one a second older does not. */
    record_at("192.0.2.2", "bob", NOW - (EXPIRY - 1));
    j = judge(cfg, "192.0.2.2", NOW);
    CHECK_JUDGED(&j, GRANT_YES, EXPIRY - 1, "one second before the expiry");
    record_at("192.0.2.3", "bob", NOW - EXPIRY);
    j = judge(cfg, "192.0.2.3", NOW);
    CHECK_JUDGED(&j, GRANT_YES, EXPIRY, "exactly at the expiry");
    record_at("192.0.2.4", "bob", NOW - (EXPIRY + 1));
    j = judge(cfg, "192.0.2.4", NOW);
    if (CHECK_JUDGED(&j, GRANT_EXPIRED, EXPIRY + 1, "one second past the expiry"))
        CHECK_STR(j.rec.user, "bob", "an expired record is still given back");
    /* The same record, judged at each of the three moments. */
    j = judge(cfg, "192.0.2.4", NOW - 2);
    CHECK_JUDGED(&j, GRANT_YES, EXPIRY - 1, "the same record, judged two seconds earlier");
    j = judge(cfg, "192.0.2.4", NOW - 1);
    CHECK_JUDGED(&j, GRANT_YES, EXPIRY, "judged one second earlier");
    record_at("192.0.2.5", "bob", NOW - 86400L * 365 * 30);
    j = judge(cfg, "192.0.2.5", NOW);
    CHECK_JUDGED(&j, GRANT_EXPIRED, 86400L * 365 * 30, "thirty years old");

    /* Clock skew: up to STORE_FUTURE_SLACK ahead counts as made now (age 0), one more second
     * is refused with its (negative) age. */
    record_at("192.0.2.6", "bob", NOW + 1);
    j = judge(cfg, "192.0.2.6", NOW);
    if (CHECK_JUDGED(&j, GRANT_YES, 0, "a second ahead: made now"))
        CHECK(j.rec.time == NOW + 1, "the record keeps its own time");
    record_at("192.0.2.7", "bob", NOW + STORE_FUTURE_SLACK);
    j = judge(cfg, "192.0.2.7", NOW);
    CHECK_JUDGED(&j, GRANT_YES, 0, "exactly the allowed skew ahead: made now");
    record_at("192.0.2.8", "bob", NOW + STORE_FUTURE_SLACK + 1);
    j = judge(cfg, "192.0.2.8", NOW);
    if (CHECK_JUDGED(&j, GRANT_FUTURE, -(STORE_FUTURE_SLACK + 1),
                     "one second past the allowed skew"))
        CHECK_STR(j.rec.user, "bob", "a record ahead is still given back");
    j = judge(cfg, "192.0.2.8", NOW + 1);
    CHECK_JUDGED(&j, GRANT_YES, 0, "the same record once the clock has caught up a second");
    record_at("192.0.2.9", "bob", NOW + 86400L * 365);
    j = judge(cfg, "192.0.2.9", NOW);
    CHECK_JUDGED(&j, GRANT_FUTURE, -86400L * 365, "a year ahead");

    /* The store's own extremes: a record from the epoch, and one judged at time 0. */
    record_at("192.0.2.10", "bob", 0);
    j = judge(cfg, "192.0.2.10", NOW);
    CHECK_JUDGED(&j, GRANT_EXPIRED, (long)NOW, "a record from 1970");
    j = judge(cfg, "192.0.2.1", 0);
    CHECK_JUDGED(&j, GRANT_FUTURE, -(long)NOW, "judged at 1970, a record of now is ahead");

    /* relay-ctrl's record (no content) grants as one of ours does. */
    put_str(store_dir, "192.0.2.11", "");
    set_time(store_dir, "192.0.2.11", NOW - 10);
    j = judge(cfg, "192.0.2.11", NOW);
    if (CHECK_JUDGED(&j, GRANT_YES, 10, "relay-ctrl's record"))
        CHECK(j.rec.legacy == 1 && j.rec.user[0] == '\0', "is legacy, with no user");

    /* An IPv6 key. */
    record_at("2001:db8:1:2::_64", "carol", NOW - EXPIRY);
    j = judge(cfg, "2001:db8:1:2::_64", NOW);
    if (CHECK_JUDGED(&j, GRANT_YES, EXPIRY, "an IPv6 key at the expiry"))
        CHECK_STR(j.rec.user, "carol", "its user");
}

/* The expiry is the settings', not a constant. */
static void test_expiry_setting(void)
{
    struct settings cfg;
    struct judged j;

    load(&cfg, store_dir, "60", NULL);
    CHECK_LONG(warned, 0, "RELAY_EXPIRY=60 is read without a word");
    record_at("198.51.100.1", "", NOW - 60);
    j = judge(&cfg, "198.51.100.1", NOW);
    if (CHECK_JUDGED(&j, GRANT_YES, 60, "RELAY_EXPIRY=60: exactly 60 s old"))
        CHECK_STR(j.rec.user, "", "a record with no user");
    record_at("198.51.100.2", "", NOW - 61);
    j = judge(&cfg, "198.51.100.2", NOW);
    CHECK_JUDGED(&j, GRANT_EXPIRED, 61, "RELAY_EXPIRY=60: 61 s old");

    load(&cfg, store_dir, "1", NULL);
    record_at("198.51.100.3", "", NOW - 1);
    j = judge(&cfg, "198.51.100.3", NOW);
    CHECK_JUDGED(&j, GRANT_YES, 1, "RELAY_EXPIRY=1: a second old");
    record_at("198.51.100.4", "", NOW - 2);
    j = judge(&cfg, "198.51.100.4", NOW);
    CHECK_JUDGED(&j, GRANT_EXPIRED, 2, "RELAY_EXPIRY=1: two seconds old");
    /* The skew does not stretch a short expiry backwards, nor does it shrink: ahead is
     * judged on its own. */
    record_at("198.51.100.5", "", NOW + STORE_FUTURE_SLACK);
    j = judge(&cfg, "198.51.100.5", NOW);
    CHECK_JUDGED(&j, GRANT_YES, 0, "RELAY_EXPIRY=1: the allowed skew ahead still grants");
}

static void test_none_invalid(const struct settings *cfg)
{
    struct judged j;

    j = judge(cfg, "203.0.113.1", NOW);
    CHECK_JUDGED(&j, GRANT_NONE, 0, "no record for the key");
    CHECK(record_clean(&j.rec, "203.0.113.1"), "GRANT_NONE: the record is set, and empty");

    /* A record that fails validation grants nothing, however fresh. */
    put_str(store_dir, "203.0.113.2", "relaylease1 203.0.113.3 mallory\n");
    set_time(store_dir, "203.0.113.2", NOW);
    j = judge(cfg, "203.0.113.2", NOW);
    CHECK_JUDGED(&j, GRANT_INVALID, 0, "a fresh record naming another key");
    CHECK(j.why != NULL && j.why[0] != '\0', "GRANT_INVALID: a reason (%s)",
          j.why != NULL ? j.why : "NULL");

    put_mode(store_dir, "203.0.113.4", "relaylease1 203.0.113.4 bob\n", 28, 0666);
    set_time(store_dir, "203.0.113.4", NOW);
    j = judge(cfg, "203.0.113.4", NOW);
    CHECK_JUDGED(&j, GRANT_INVALID, 0, "a fresh record anyone may write");
    CHECK(j.why != NULL && j.why[0] != '\0', "with a reason (%s)", j.why ? j.why : "NULL");

    /* Invalid comes before the dates: an expired invalid record is invalid, not expired. */
    put_str(store_dir, "203.0.113.5", "relaylease1 203.0.113.5 b(b\n");
    set_time(store_dir, "203.0.113.5", NOW - 86400);
    j = judge(cfg, "203.0.113.5", NOW);
    CHECK_JUDGED(&j, GRANT_INVALID, 0, "an old record with a forbidden user");

    {
        char target[4300], p[4300];
        path_of(target, sizeof target, store_dir, "192.0.2.1");
        path_of(p, sizeof p, store_dir, "203.0.113.6");
        if (symlink(target, p) != 0)
            fail_setup("create the symbolic link", p);
        j = judge(cfg, "203.0.113.6", NOW);
        CHECK_JUDGED(&j, GRANT_INVALID, 0, "a symbolic link to a fresh record");
        CHECK(j.why != NULL && j.why[0] != '\0', "with a reason (%s)", j.why ? j.why : "NULL");
    }
}

static void test_error(void)
{
    struct settings cfg;
    struct judged j;
    char missing[4300], longdir[PATH_MAX + 16];

    /* A store that is not there is an error, never "no record". */
    path_of(missing, sizeof missing, top, "no-such-store");
    load(&cfg, missing, NULL, NULL);
    j = judge(&cfg, "192.0.2.1", NOW);
    CHECK_JUDGED(&j, GRANT_ERROR, 0, "a missing store");
    CHECK_LONG(j.err, ENOENT, "GRANT_ERROR: errno");
    CHECK_STR(j.why, "", "GRANT_ERROR with nothing more to say than errno: why is \"\"");
    CHECK(record_clean(&j.rec, "192.0.2.1"), "GRANT_ERROR: the record is set, and empty");

    /* A backend that fails before it reads anything (a path too long) leaves the record to
     * grant.c, which has zeroed it first. */
    load(&cfg, store_dir, NULL, NULL);
    {
        char key[ADDR_KEY_MAX + 8];
        memset(key, '1', sizeof key - 1);
        key[sizeof key - 1] = '\0';
        j = judge(&cfg, key, NOW);
        CHECK_JUDGED(&j, GRANT_ERROR, 0, "a key too long for a record");
        CHECK_LONG(j.err, ENAMETOOLONG, "errno");
        CHECK(record_clean(&j.rec, NULL), "the record is zeroed, not left as it was");
    }
    memset(longdir, 'd', sizeof longdir - 1);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = '\0';
    load(&cfg, longdir, NULL, NULL);
    j = judge(&cfg, "192.0.2.1", NOW);
    CHECK_JUDGED(&j, GRANT_ERROR, 0, "RELAY_DIR longer than a path");
    CHECK_LONG(j.err, ENAMETOOLONG, "errno");
    CHECK(record_clean(&j.rec, NULL), "the record is zeroed, not left as it was");

    /* A store that says more than errno: Redis with settings it cannot use. */
    load(&cfg, store_dir, NULL, "not an address");
    CHECK(warned > 0, "an invalid RELAY_REDIS is warned about by settings_load");
    j = judge(&cfg, "192.0.2.1", NOW);
    CHECK_JUDGED(&j, GRANT_ERROR, 0, "a Redis store with invalid settings");
    CHECK(j.why != NULL && j.why[0] != '\0', "GRANT_ERROR: the store's reason (%s)",
          j.why != NULL ? j.why : "NULL");
    CHECK(record_clean(&j.rec, "192.0.2.1"), "the record is set, and empty");

    /* Redis at a socket nobody listens on: an error with errno, and nothing more to say. */
    {
        char sock[4300], where[4400];
        path_of(sock, sizeof sock, top, "no-redis.sock");
        snprintf(where, sizeof where, "unix:%s", sock);
        if (strlen(sock) < 100) {
            load(&cfg, store_dir, NULL, where);
            CHECK_LONG(warned, 0, "RELAY_REDIS=unix:PATH is read without a word");
            j = judge(&cfg, "192.0.2.1", NOW);
            CHECK_JUDGED(&j, GRANT_ERROR, 0, "a Redis socket that is not there");
            CHECK(j.err == ENOENT || j.err == ECONNREFUSED, "errno says why (%s)",
                  strerror(j.err));
            CHECK(j.why != NULL, "why is set (\"%s\")", j.why != NULL ? j.why : "NULL");
        } else {
            unit_skip("the scratch directory's name is too long for a socket",
                      "a Redis socket that is not there");
        }
    }
}

int main(void)
{
    struct settings cfg;

    unsetenv("RELAY_CTRL_DIR");
    unsetenv("RELAY_CTRL_EXPIRY");
    unsetenv("RELAY_REDIS_SENTINELS");
    scratch_make("unit-grant");
    path_of(store_dir, sizeof store_dir, top, "store");
    if (mkdir(store_dir, 0755) != 0)
        fail_setup("create", store_dir);

    load(&cfg, store_dir, "900", NULL);
    CHECK_LONG(warned, 0, "settings for a directory store, read without a word");
    CHECK_LONG(cfg.expiry, EXPIRY, "the expiry is %ld s", EXPIRY);
    test_fresh(&cfg);
    test_none_invalid(&cfg);
    test_expiry_setting();
    test_error();

    scratch_remove();
    return unit_done();
}
