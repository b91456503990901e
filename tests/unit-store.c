/* unit-store.c: the directory store, in a scratch directory of its own: recording, lookup and
 * the validation of what a record file holds, relay-ctrl's files, the sweep and the list. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, utimensat, mkfifo, symlink */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "settings.h"
#include "store.h"
#include "store/dir.h"
#include "store/redis.h"
#include "unit.h"
#include "unit-files.h"

/* The extremes of time_t, a signed type of some width. */
#define TMAX ((time_t)((((uintmax_t)1 << (sizeof(time_t) * CHAR_BIT - 2)) - 1) * 2 + 1))
#define TMIN (-TMAX - 1)

/* Make an empty store directory under the scratch directory. */
static void new_dir(char *buf, size_t size, const char *name)
{
    path_of(buf, size, top, name);
    if (mkdir(buf, 0755) != 0)
        fail_setup("create", buf);
}

static void make_fifo(const char *dir, const char *name)
{
    char p[4096];

    path_of(p, sizeof p, dir, name);
    if (mkfifo(p, 0644) != 0)
        fail_setup("create the FIFO", p);
}

static void make_link(const char *dir, const char *name, const char *target)
{
    char p[4096];

    path_of(p, sizeof p, dir, name);
    if (symlink(target, p) != 0)
        fail_setup("create the symbolic link", p);
}

static void make_subdir(const char *dir, const char *name)
{
    char p[4096];

    path_of(p, sizeof p, dir, name);
    if (mkdir(p, 0755) != 0)
        fail_setup("create", p);
}

static void remove_entry(const char *dir, const char *name)
{
    char p[4096];

    path_of(p, sizeof p, dir, name);
    unlink(p);
}

static int exists(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;

    path_of(p, sizeof p, dir, name);
    return lstat(p, &st) == 0;
}

static int is_regular(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;

    path_of(p, sizeof p, dir, name);
    return lstat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Read dir/name into buf (NUL-terminated, empty on failure); returns the length, or -1. */
static long slurp(const char *dir, const char *name, char *buf, size_t size)
{
    char p[4096];
    int fd;
    ssize_t n;

    buf[0] = '\0';
    path_of(p, sizeof p, dir, name);
    fd = open(p, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (long)n;
}

/* How many entries in dir start with ".tmp."? */
static int count_temps(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, ".tmp.", 5) == 0)
            n++;
    closedir(d);
    return n;
}

static const char *result_name(enum store_result r)
{
    switch (r) {
    case STORE_FOUND:
        return "STORE_FOUND";
    case STORE_MISSING:
        return "STORE_MISSING";
    case STORE_INVALID:
        return "STORE_INVALID";
    case STORE_ERROR:
        return "STORE_ERROR";
    }
    return "?";
}

/* Look up key and check the result; on STORE_INVALID also that a reason is given. */
static int check_lookup(const char *file, int line, const char *dir, const char *key,
                        enum store_result want, struct record *r, const char *what)
{
    const char *why = NULL;
    enum store_result got;
    int pass;

    memset(r, 0x5a, sizeof *r);
    got = store_dir_lookup(dir, key, r, &why);
    pass = unit_check(file, line, got == want, "%s: %s", what, result_name(want));
    if (!pass)
        printf("#   got %s (why: %s)\n", result_name(got), why ? why : "NULL");
    if (want == STORE_INVALID && got == STORE_INVALID)
        pass = unit_check(file, line, why != NULL && why[0] != '\0', "%s: a reason (%s)", what,
                          why ? why : "NULL");
    return pass;
}

#define CHECK_LOOKUP(dir, key, want, r, what) \
    check_lookup(__FILE__, __LINE__, (dir), (key), (want), (r), (what))

static void test_user_ok(void)
{
    static const char *const good[] = {
        "bob", "bob@example.org", "a", "!", "~", "a.b-c_d+e=f", "user%host", "\"quoted\"",
        "a/b", "a:b", "a#b", "{}[]<>", "*?&$^|`'",
    };
    static const char *const bad[] = {
        "", "bo b", " bob", "bob ", "bob\n", "bob\r", "bo\tb", "b(b", "b)b", "b\\b", "(bob)",
        "bob\x7f", "bob\x01", "b\x80", "b\xff", "j\xc3\xb6rg", "\x1b[31m",
    };
    char user[300], c[2] = {0, 0};
    size_t i;
    int bad_bytes = 0;

    for (i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK(store_user_ok(good[i]) == 1, "store_user_ok accepts \"%s\"", good[i]);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(store_user_ok(bad[i]) == 0, "store_user_ok refuses \"%s\"", bad[i]);

    for (i = 1; i < 256; i++) {
        int want = i >= 0x21 && i <= 0x7e && i != '(' && i != ')' && i != '\\';
        c[0] = (char)i;
        if (store_user_ok(c) != want && bad_bytes++ < 5)
            unit_note("store_user_ok of byte 0x%02zx is %d", i, store_user_ok(c));
    }
    CHECK(bad_bytes == 0, "store_user_ok allows exactly 0x21..0x7e but ( ) \\ as single bytes");

    memset(user, 'a', 255);
    user[255] = '\0';
    CHECK(store_user_ok(user) == 1, "store_user_ok accepts 255 bytes");
    user[255] = 'a';
    user[256] = '\0';
    CHECK(store_user_ok(user) == 0, "store_user_ok refuses 256 bytes");
    memset(user, 'a', sizeof user - 1);
    user[sizeof user - 1] = '\0';
    CHECK(store_user_ok(user) == 0, "store_user_ok refuses 299 bytes");
}

/* store_fresh by its definition, written with comparisons only: t is at most expiry before
 * now and at most STORE_FUTURE_SLACK after it. */
static int ref_fresh(time_t t, time_t now, long expiry)
{
    int not_too_old = now < TMIN + expiry || t >= now - expiry;
    int not_ahead = now > TMAX - STORE_FUTURE_SLACK || t <= now + STORE_FUTURE_SLACK;
    return not_too_old && not_ahead;
}

static void test_fresh(void)
{
    time_t now = 1700000000;

    CHECK(store_fresh(now, now, 900) == 1, "store_fresh: age 0 is fresh");
    CHECK(store_fresh(now - 900, now, 900) == 1, "store_fresh: age = expiry is fresh");
    CHECK(store_fresh(now - 901, now, 900) == 0, "store_fresh: age = expiry + 1 is stale");
    CHECK(store_fresh(now - 86400, now, 900) == 0, "store_fresh: a day old is stale");
    CHECK(store_fresh(now + 60, now, 900) == 0, "store_fresh: a minute ahead is not fresh");
    CHECK(store_fresh(now + 86400 * 365, now, 604800) == 0,
          "store_fresh: a year ahead is not fresh");
    CHECK(store_fresh(now + 5, now, 900) == 1, "store_fresh: 5 s ahead is clock skew");
    CHECK(store_fresh(now + 6, now, 900) == 0, "store_fresh: 6 s ahead is not fresh");

    /* the extremes of time_t: no overflow (the san build traps on one), and the answer is
     * still right */
    CHECK_LONG(store_age(0, 0), 0, "store_age(0, 0)");
    CHECK_LONG(store_age(-1, 0), 1, "store_age(-1, 0)");
    CHECK_LONG(store_age(0, -1), -1, "store_age(0, -1)");
    CHECK_LONG(store_age(TMIN, TMAX), LONG_MAX, "store_age(min, max) saturates");
    CHECK_LONG(store_age(TMAX, TMIN), LONG_MIN, "store_age(max, min) saturates");
    CHECK_LONG(store_age(TMIN, 0), sizeof(time_t) >= sizeof(long) ? LONG_MAX : -(long)TMIN,
               "store_age(min, 0)");
    CHECK_LONG(store_age(TMAX, 0), -(long)TMAX, "store_age(max, 0)");
    CHECK_LONG(store_age(TMIN, TMIN), 0, "store_age(min, min)");
    CHECK_LONG(store_age(TMAX, TMAX), 0, "store_age(max, max)");
    {
        static const time_t times[] = {TMIN, TMIN + 1, -1, 0, 1, 1700000000, TMAX - 1, TMAX};
        size_t i, j;
        for (i = 0; i < sizeof times / sizeof times[0]; i++)
            for (j = 0; j < sizeof times / sizeof times[0]; j++) {
                int want = ref_fresh(times[i], times[j], 900);
                CHECK(store_fresh(times[i], times[j], 900) == want,
                      "store_fresh at the extremes (%zu, %zu)", i, j);
            }
    }
    CHECK(store_fresh(TMIN, TMAX, SETTINGS_MAX_EXPIRY) == 0, "store_fresh(min, max) is stale");
    CHECK(store_fresh(TMAX, TMIN, SETTINGS_MAX_EXPIRY) == 0, "store_fresh(max, min) is ahead");
}

static void test_record_lookup(void)
{
    char dir[4096], buf[2048], user[300];
    struct store s;
    struct record r;
    time_t before, after;

    new_dir(dir, sizeof dir, "rl");
    if (!CHECK(store_dir_open(&s, dir, NULL) == 0, "store_open on an empty directory"))
        return;

    CHECK_LOOKUP(dir, "1.2.3.4", STORE_MISSING, &r, "lookup of a missing key");
    CHECK_LOOKUP(dir, "2001:db8:1:2::_64", STORE_MISSING, &r,
                 "lookup of a missing IPv6 key");

    before = time(NULL);
    CHECK(store_record(&s, "1.2.3.4", "bob") == 0, "store_record 1.2.3.4 bob");
    after = time(NULL);
    CHECK(slurp(dir, "1.2.3.4", buf, sizeof buf) >= 0, "the record is a file named by its key");
    CHECK_STR(buf, "relaylease1 1.2.3.4 bob\n", "the record's content");
    {
        char p[4096];
        struct stat st;
        path_of(p, sizeof p, dir, "1.2.3.4");
        if (CHECK(lstat(p, &st) == 0, "stat the record")) {
            CHECK(S_ISREG(st.st_mode), "the record is a regular file");
            CHECK((st.st_mode & 0022) == 0, "the record is writable by its owner only (%o)",
                  (unsigned)(st.st_mode & 07777));
            CHECK((st.st_mode & 0444) == 0444, "the record is readable by relay-check (%o)",
                  (unsigned)(st.st_mode & 07777));
        }
    }
    CHECK_LONG(count_temps(dir), 0, "store_record leaves no temp file");

    if (CHECK_LOOKUP(dir, "1.2.3.4", STORE_FOUND, &r, "lookup after record")) {
        CHECK_STR(r.user, "bob", "lookup gives the user back");
        CHECK_STR(r.key, "1.2.3.4", "lookup gives the key back");
        CHECK(r.time >= before && r.time <= after, "the login time is the record time");
        CHECK_LONG(r.legacy, 0, "our record is not legacy");
    }
    CHECK_LOOKUP(dir, "1.2.3.5", STORE_MISSING, &r, "another key is still missing");

    CHECK(store_record(&s, "1.2.3.4", "alice@example.org") == 0, "store_record again");
    if (CHECK_LOOKUP(dir, "1.2.3.4", STORE_FOUND, &r, "lookup after a refresh"))
        CHECK_STR(r.user, "alice@example.org", "the refresh replaced the user");

    CHECK(store_record(&s, "1.2.3.6", "") == 0, "store_record with an empty user");
    slurp(dir, "1.2.3.6", buf, sizeof buf);
    CHECK_STR(buf, "relaylease1 1.2.3.6 \n", "an empty user is recorded as nothing");
    if (CHECK_LOOKUP(dir, "1.2.3.6", STORE_FOUND, &r, "lookup of an empty user"))
        CHECK_STR(r.user, "", "the empty user comes back empty");

    CHECK(store_record(&s, "2001:db8:1:2::_64", "carol") == 0, "store_record of an IPv6 key");
    slurp(dir, "2001:db8:1:2::_64", buf, sizeof buf);
    CHECK_STR(buf, "relaylease1 2001:db8:1:2::_64 carol\n", "the IPv6 record's content");
    if (CHECK_LOOKUP(dir, "2001:db8:1:2::_64", STORE_FOUND, &r, "IPv6 lookup"))
        CHECK_STR(r.user, "carol", "IPv6 lookup gives the user back");

    memset(user, 'u', 255);
    user[255] = '\0';
    CHECK(store_record(&s, "1.2.3.7", user) == 0, "store_record of a 255-byte user");
    if (CHECK_LOOKUP(dir, "1.2.3.7", STORE_FOUND, &r, "lookup of a 255-byte user"))
        CHECK_STR(r.user, user, "the 255-byte user comes back whole");

    /* a name that store_user_ok refuses never reaches a record file */
    {
        static const char *const bad_users[] = {
            "bo b", "bob\nrelaylease1 1.2.3.8 mallory", "b(b", "b\\b", "bob\x7f",
        };
        size_t i;
        memset(user, 'u', 256);
        user[256] = '\0';
        for (i = 0; i <= sizeof bad_users / sizeof bad_users[0]; i++) {
            const char *u = i < sizeof bad_users / sizeof bad_users[0] ? bad_users[i] : user;
            int rc = store_record(&s, "1.2.3.8", u);
            enum store_result res;
            const char *why = NULL;
            memset(&r, 0, sizeof r);
            res = store_dir_lookup(dir, "1.2.3.8", &r, &why);
            CHECK(rc == -1 || (res == STORE_FOUND && r.user[0] == '\0'),
                  "store_record of \"%.40s\" records no such user (rc %d, %s, user \"%.40s\")",
                  u, rc, result_name(res), r.user);
            remove_entry(dir, "1.2.3.8");
        }
    }

    /* keys that are not keys are not written, and nothing lands outside the store */
    {
        static const char *const bad_keys[] = {
            "", "../escape", "a/b", ".tmp.1.1.2.3.4", ".", "..", "01.2.3.4", "2001:db8::1_64",
        };
        size_t i;
        for (i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++)
            CHECK(store_record(&s, bad_keys[i], "bob") == -1, "store_record refuses key \"%s\"",
                  bad_keys[i]);
        CHECK(!exists(top, "escape"), "nothing was written outside the store");
        CHECK_LONG(count_temps(dir), 0, "refused records leave no temp file");
    }

    /* a leftover temp file of our own pid, from a writer that died, is no obstacle */
    {
        char tmp[200];
        snprintf(tmp, sizeof tmp, ".tmp.%ld.1.2.3.9", (long)getpid());
        put_str(dir, tmp, "half a rec");
        CHECK(store_record(&s, "1.2.3.9", "dave") == 0, "store_record past a stale temp file");
        if (CHECK_LOOKUP(dir, "1.2.3.9", STORE_FOUND, &r, "lookup past a temp"))
            CHECK_STR(r.user, "dave", "the record past a stale temp file is whole");
        CHECK(!exists(dir, tmp), "the stale temp file is gone");
    }

    /* a symbolic link planted at the temp name or at the key is never written through */
    {
        char tmp[200], victim[4096];
        put_str(top, "victim", "precious\n");
        path_of(victim, sizeof victim, top, "victim");
        snprintf(tmp, sizeof tmp, ".tmp.%ld.1.2.3.10", (long)getpid());
        make_link(dir, tmp, victim);
        store_record(&s, "1.2.3.10", "eve");
        slurp(top, "victim", buf, sizeof buf);
        CHECK_STR(buf, "precious\n", "a symlink at the temp name is not written through");
        remove_entry(dir, tmp);

        make_link(dir, "1.2.3.11", victim);
        CHECK(store_record(&s, "1.2.3.11", "eve") == 0, "store_record over a symbolic link");
        slurp(top, "victim", buf, sizeof buf);
        CHECK_STR(buf, "precious\n", "a symlink at the key is not written through");
        CHECK(is_regular(dir, "1.2.3.11"), "the symlink at the key was replaced by a record");
    }
    store_close(&s);
}

/* Record contents that no lookup may accept, and the key (file name) they sit under. */
static const struct {
    const char *key;
    const char *data;
    size_t len;  /* 0: strlen(data) */
    const char *what;
} bad_content[] = {
    {"1.2.3.4", "relaylease2 1.2.3.4 bob\n", 0, "wrong magic"},
    {"1.2.3.4", "Relaylease1 1.2.3.4 bob\n", 0, "magic in another case"},
    {"1.2.3.4", "relaylease1 1.2.3.5 bob\n", 0, "content names another key"},
    {"1.2.3.4", "relaylease1 1.2.3.44 bob\n", 0, "content names a longer key"},
    {"1.2.3.4", "relaylease1 1.2.3. bob\n", 0, "content names a shorter key"},
    {"1.2.3.4", "relaylease1 01.2.3.4 bob\n", 0, "content names the key non-canonically"},
    {"2001:db8:1:2::_64", "relaylease1 2001:db8:1:3::_64 bob\n", 0,
     "IPv6 content names another prefix"},
    {"2001:db8:1:2::_64", "relaylease1 2001:db8:1:2::_48 bob\n", 0,
     "IPv6 content names another length"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bob\nx", 0, "trailing junk"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bob\n\n", 0, "a second line"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bob\nrelaylease1 1.2.3.4 eve\n", 0, "two records"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bob", 0, "no newline"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bob\r\n", 0, "CRLF"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bob\n\0", 25, "a NUL after the newline"},
    {"1.2.3.4", "relaylease1 1.2.3.4 b\0b\n", 24, "embedded NUL in the user"},
    {"1.2.3.4", "relaylease1 1.2.3.4\0bob\n", 24, "embedded NUL after the key"},
    {"1.2.3.4", "relaylease1 1.2.3.4\n", 0, "no space before the (empty) user"},
    {"1.2.3.4", "relaylease1 1.2.3.4  bob\n", 0, "two spaces before the user"},
    {"1.2.3.4", "relaylease1  1.2.3.4 bob\n", 0, "two spaces before the key"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bob \n", 0, "a space after the user"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bo b\n", 0, "user with a space"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bo\x01" "b\n", 0, "user with a control char"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bo\tb\n", 0, "user with a tab"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bob\x1b[2J\n", 0, "user with an escape sequence"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bo\x7f" "b\n", 0, "user with DEL"},
    {"1.2.3.4", "relaylease1 1.2.3.4 b\xc3\xb6" "b\n", 0, "user with UTF-8"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bo(b\n", 0, "user with a parenthesis"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bo)b\n", 0, "user with a closing parenthesis"},
    {"1.2.3.4", "relaylease1 1.2.3.4 bo\\b\n", 0, "user with a backslash"},
    {"1.2.3.4", "relaylease1", 0, "magic alone"},
    {"1.2.3.4", "relaylease1 ", 0, "magic and a space"},
    {"1.2.3.4", "relaylease1 \n", 0, "magic and a newline"},
    {"1.2.3.4", "\n", 0, "a newline alone"},
    {"1.2.3.4", "garbage", 0, "legacy garbage without '='"},
    {"1.2.3.4", "garbage\0", 8, "legacy entry without '='"},
    {"1.2.3.4", "USER=bob\0garbage\0", 17, "legacy garbage after USER"},
    {"1.2.3.4", "USER=bo b\0", 10, "legacy user with a space"},
    {"1.2.3.4", "USER=bob\nX\0", 11, "legacy user with a newline"},
    {"1.2.3.4", "USER=bob\0DOMAIN=ex(ample).org\0", 30, "legacy domain with parentheses"},
    {"2001:db8:1:2::_64", "USER=bob\0", 9, "legacy content under an IPv6 key"},
    {"2001:db8:1:2::_64", "USER=bob\0DOMAIN=example.org\0", 28,
     "legacy USER and DOMAIN under an IPv6 key"},
    {"2001:db8:1:2::_64", "", 0, "an empty file under an IPv6 key"},
    {"2001:db8:1:2::_64", "garbage", 0, "garbage under an IPv6 key"},
};
/* The same contents through store_parse alone, with no file around them; and good ones. */
static void test_parse(void)
{
    static const struct {
        const char *key, *data;
        size_t len;
        const char *user;
        int legacy;
    } good[] = {
        {"1.2.3.4", "relaylease1 1.2.3.4 bob\n", 24, "bob", 0},
        {"1.2.3.4", "relaylease1 1.2.3.4 \n", 21, "", 0},
        {"2001:db8:1:2::_64", "relaylease1 2001:db8:1:2::_64 carol\n", 36, "carol", 0},
        {"1.2.3.4", "USER=bob\0DOMAIN=example.org\0", 28, "bob@example.org", 1},
        {"1.2.3.4", "USER=bob\0", 9, "bob", 1},
        {"1.2.3.4", "", 0, "", 1},
    };
    struct record r;
    size_t i;

    for (i = 0; i < sizeof bad_content / sizeof bad_content[0]; i++) {
        const char *why = NULL;
        size_t n = bad_content[i].len ? bad_content[i].len : strlen(bad_content[i].data);
        memset(&r, 0, sizeof r);
        snprintf(r.key, sizeof r.key, "%s", bad_content[i].key);
        CHECK(store_parse(bad_content[i].data, n, &r, &why) == -1 && why != NULL && *why,
              "store_parse refuses %s (%s)", bad_content[i].what, bad_content[i].key);
    }
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        const char *why = NULL;
        memset(&r, 0, sizeof r);
        snprintf(r.key, sizeof r.key, "%s", good[i].key);
        if (CHECK(store_parse(good[i].data, good[i].len, &r, &why) == 0,
                  "store_parse accepts good record %zu (%s)", i, good[i].key)) {
            CHECK_STR(r.user, good[i].user, "store_parse good record %zu: user", i);
            CHECK_LONG(r.legacy, good[i].legacy, "store_parse good record %zu: legacy", i);
        }
    }
}

static void test_invalid(void)
{
    char dir[4096], big[2048];
    struct record r;
    size_t i;
    time_t now = time(NULL);

    new_dir(dir, sizeof dir, "inv");
    for (i = 0; i < sizeof bad_content / sizeof bad_content[0]; i++) {
        char what[200];
        put(dir, bad_content[i].key, bad_content[i].data,
            bad_content[i].len ? bad_content[i].len : strlen(bad_content[i].data));
        snprintf(what, sizeof what, "%s (%s)", bad_content[i].what, bad_content[i].key);
        CHECK_LOOKUP(dir, bad_content[i].key, STORE_INVALID, &r, what);
    }

    /* user length: 255 is fine, 256 is too long, in a file of either format */
    {
        char user[300];
        int n;
        memset(user, 'u', 256);
        user[255] = '\0';
        n = snprintf(big, sizeof big, "relaylease1 1.2.3.4 %s\n", user);
        put(dir, "1.2.3.4", big, (size_t)n);
        if (CHECK_LOOKUP(dir, "1.2.3.4", STORE_FOUND, &r, "a 255-byte user"))
            CHECK(strlen(r.user) == 255, "the 255-byte user comes back whole");
        user[255] = 'u';
        user[256] = '\0';
        n = snprintf(big, sizeof big, "relaylease1 1.2.3.4 %s\n", user);
        put(dir, "1.2.3.4", big, (size_t)n);
        CHECK_LOOKUP(dir, "1.2.3.4", STORE_INVALID, &r, "a 256-byte user");
        n = snprintf(big, sizeof big, "USER=%s", user);
        put(dir, "1.2.3.4", big, (size_t)n + 1);
        CHECK_LOOKUP(dir, "1.2.3.4", STORE_INVALID, &r, "a 256-byte legacy user");
        user[255] = '\0';
        n = snprintf(big, sizeof big, "USER=%s", user);
        put(dir, "1.2.3.4", big, (size_t)n + 1);
        if (CHECK_LOOKUP(dir, "1.2.3.4", STORE_FOUND, &r, "a 255-byte legacy USER"))
            CHECK(strlen(r.user) == 255, "the 255-byte legacy user comes back whole");
        user[200] = '\0';
        n = snprintf(big, sizeof big, "USER=%s", user);
        n += 1 + snprintf(big + n + 1, sizeof big - (size_t)n - 1, "DOMAIN=%.54s", user);
        put(dir, "1.2.3.4", big, (size_t)n + 1);
        if (CHECK_LOOKUP(dir, "1.2.3.4", STORE_FOUND, &r,
                         "a legacy USER@DOMAIN of 255 bytes"))
            CHECK(strlen(r.user) == 255, "the 255-byte legacy USER@DOMAIN comes back whole");
        n = snprintf(big, sizeof big, "USER=%s", user);
        n += 1 + snprintf(big + n + 1, sizeof big - (size_t)n - 1, "DOMAIN=%.55s", user);
        put(dir, "1.2.3.4", big, (size_t)n + 1);
        CHECK_LOOKUP(dir, "1.2.3.4", STORE_INVALID, &r,
                     "a legacy USER@DOMAIN of 256 bytes");
        n = snprintf(big, sizeof big, "USER=%s", user);
        n += 1 + snprintf(big + n + 1, sizeof big - (size_t)n - 1, "DOMAIN=%s", user);
        put(dir, "1.2.3.4", big, (size_t)n + 1);
        CHECK_LOOKUP(dir, "1.2.3.4", STORE_INVALID, &r,
                     "a legacy USER@DOMAIN of 401 bytes");
    }

    /* too big */
    memset(big, 'x', sizeof big);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): the x's go on after it, on purpose */
    memcpy(big, "relaylease1 1.2.3.4 bob\n", 24);
    put(dir, "1.2.3.4", big, 1025);
    CHECK_LOOKUP(dir, "1.2.3.4", STORE_INVALID, &r, "a record of 1025 bytes");
    memset(big, 0, sizeof big);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): big is all NULs already */
    memcpy(big, "USER=bob", 8);
    put(dir, "1.2.3.4", big, 1025);
    CHECK_LOOKUP(dir, "1.2.3.4", STORE_INVALID, &r, "a legacy record of 1025 bytes");
    put(dir, "1.2.3.4", big, sizeof big);
    CHECK_LOOKUP(dir, "1.2.3.4", STORE_INVALID, &r, "a legacy record of 2048 bytes");

    /* not a regular file */
    make_fifo(dir, "1.2.3.20");
    alarm(30);
    CHECK_LOOKUP(dir, "1.2.3.20", STORE_INVALID, &r, "a FIFO (and the lookup returns)");
    alarm(0);
    put_str(dir, "1.2.3.21", "relaylease1 1.2.3.21 bob\n");
    make_link(dir, "1.2.3.22", "1.2.3.21");
    CHECK_LOOKUP(dir, "1.2.3.22", STORE_INVALID, &r, "a symbolic link to a record");
    make_link(dir, "1.2.3.23", "nowhere");
    CHECK_LOOKUP(dir, "1.2.3.23", STORE_INVALID, &r, "a dangling symbolic link");
    make_subdir(dir, "1.2.3.24");
    CHECK_LOOKUP(dir, "1.2.3.24", STORE_INVALID, &r, "a directory");
    make_subdir(dir, "2001:db8:1:9::_64");
    CHECK_LOOKUP(dir, "2001:db8:1:9::_64", STORE_INVALID, &r, "a directory (IPv6 key)");

    /* the login time: a record from the future is a record (a clock stepped back must not
     * turn allowances into invalid records); whether it grants is store_fresh's to say, and
     * beyond the slack it does not */
    put_str(dir, "1.2.3.25", "relaylease1 1.2.3.25 bob\n");
    set_time(dir, "1.2.3.25", now + 60);
    if (CHECK_LOOKUP(dir, "1.2.3.25", STORE_FOUND, &r, "mtime a minute in the future"))
        CHECK(r.time == now + 60 && !store_fresh(r.time, now, 900),
              "a minute in the future is not fresh");
    set_time(dir, "1.2.3.25", now + 86400 * 365);
    if (CHECK_LOOKUP(dir, "1.2.3.25", STORE_FOUND, &r, "mtime a year in the future"))
        CHECK(!store_fresh(r.time, now, 900), "a year in the future is not fresh");
    set_time(dir, "1.2.3.25", now + 6);
    if (CHECK_LOOKUP(dir, "1.2.3.25", STORE_FOUND, &r, "mtime 6 s in the future"))
        CHECK(!store_fresh(r.time, now, 900), "6 s in the future is not fresh");
    set_time(dir, "1.2.3.25", now + 5);
    if (CHECK_LOOKUP(dir, "1.2.3.25", STORE_FOUND, &r, "mtime 5 s in the future"))
        CHECK(store_fresh(r.time, now, 900), "5 s in the future is fresh (clock skew)");
    set_time(dir, "1.2.3.25", now + 2);
    CHECK_LOOKUP(dir, "1.2.3.25", STORE_FOUND, &r, "mtime 2 s in the future");
    set_time(dir, "1.2.3.25", now - 100000);
    if (CHECK_LOOKUP(dir, "1.2.3.25", STORE_FOUND, &r, "an old record is still a record"))
        CHECK(r.time == now - 100000, "an old record's time is its mtime");
}

static void test_legacy(void)
{
    static const struct {
        const char *data;
        size_t len;
        const char *user;
        const char *what;
    } cases[] = {
        {"USER=bob\0DOMAIN=example.org\0", 28, "bob@example.org", "USER and DOMAIN"},
        {"USER=bob\0", 9, "bob", "USER alone"},
        {"", 0, "", "an empty file"},
        {"DOMAIN=example.org\0USER=bob\0", 28, "bob@example.org", "DOMAIN before USER"},
        {"USER=bob\0DOMAIN=\0", 17, "bob", "an empty DOMAIN"},
        {"USER=bob@example.org\0", 21, "bob@example.org", "USER with a domain in it"},
    };
    char dir[4096];
    struct record r;
    size_t i;

    new_dir(dir, sizeof dir, "legacy");
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[200];
        put(dir, "10.0.0.1", cases[i].data, cases[i].len);
        snprintf(what, sizeof what, "relay-ctrl file: %s", cases[i].what);
        if (CHECK_LOOKUP(dir, "10.0.0.1", STORE_FOUND, &r, what)) {
            CHECK_STR(r.user, cases[i].user, "relay-ctrl file: %s: user", cases[i].what);
            CHECK_LONG(r.legacy, 1, "relay-ctrl file: %s: marked legacy", cases[i].what);
        }
    }

    /* relay-ctrl exported every variable; only the user name may come out of it here */
    put(dir, "10.0.0.1", "USER=bob\0RELAYCLIENT=@evil\0PATH=/tmp\0", 37);
    if (CHECK_LOOKUP(dir, "10.0.0.1", STORE_FOUND, &r, "relay-ctrl file with more"))
        CHECK_STR(r.user, "bob", "relay-ctrl file with more: only the user is taken");
}

/* The names a sweep reports, collected. */
struct seen {
    char names[64][64];
    long ages[64];
    int n;
};

static void note_removed(const char *name, long age, void *arg)
{
    struct seen *seen = arg;

    if (seen->n < 64) {
        snprintf(seen->names[seen->n], sizeof seen->names[0], "%s", name);
        seen->ages[seen->n] = age;
        seen->n++;
    }
}

static int seen_has(const struct seen *seen, const char *name)
{
    int i, count = 0;

    for (i = 0; i < seen->n; i++)
        if (strcmp(seen->names[i], name) == 0)
            count++;
    return count;
}

/* A store with every kind of entry, and the times relative to now. */
static void sweep_fixture(const char *dir, time_t now)
{
    char outside[4096];

    put_str(dir, "1.2.3.1", "relaylease1 1.2.3.1 fresh\n");
    set_time(dir, "1.2.3.1", now);
    put_str(dir, "1.2.3.3", "relaylease1 1.2.3.3 older\n");
    set_time(dir, "1.2.3.3", now - 900);
    put_str(dir, "2001:db8:1:3::_64", "relaylease1 2001:db8:1:3::_64 fresh6\n");
    set_time(dir, "2001:db8:1:3::_64", now - 10);

    put_str(dir, "1.2.3.2", "relaylease1 1.2.3.2 stale\n");
    set_time(dir, "1.2.3.2", now - 1100);
    put_str(dir, "2001:db8:1:2::_64", "relaylease1 2001:db8:1:2::_64 stale6\n");
    set_time(dir, "2001:db8:1:2::_64", now - 5000);
    put(dir, "1.2.3.5", "USER=bob\0", 9);
    set_time(dir, "1.2.3.5", now - 2000);
    put_str(dir, "1.2.3.6", "garbage");
    set_time(dir, "1.2.3.6", now - 2000);

    put_str(dir, ".tmp.123.1.2.3.7", "relaylease1 1.2.3.7 x\n");
    set_time(dir, ".tmp.123.1.2.3.7", now - 120);
    put_str(dir, ".tmp.124.1.2.3.8", "relaylease1 1.2.3.8 x\n");
    set_time(dir, ".tmp.124.1.2.3.8", now - 10);

    make_subdir(dir, "1.2.3.9");
    put_str(dir, "1.2.3.9/1.2.3.10", "relaylease1 1.2.3.10 inside\n");
    set_time(dir, "1.2.3.9/1.2.3.10", now - 5000);
    set_time(dir, "1.2.3.9", now - 5000);
    make_subdir(dir, ".tmp.125.1.2.3.12");
    set_time(dir, ".tmp.125.1.2.3.12", now - 5000);

    path_of(outside, sizeof outside, top, "outside");
    put_str(top, "outside", "relaylease1 1.2.3.11 outside\n");
    set_time(top, "outside", now - 5000);
    make_link(dir, "1.2.3.11", outside);
    set_time(dir, "1.2.3.11", now - 5000);
    make_fifo(dir, "1.2.3.13");
    set_time(dir, "1.2.3.13", now - 5000);

    put_str(dir, "junk", "relaylease1 junk x\n");
    set_time(dir, "junk", now - 5000);
    put_str(dir, "01.2.3.4", "relaylease1 01.2.3.4 x\n");
    set_time(dir, "01.2.3.4", now - 5000);
}

static const char *const sweep_stale[] = {"1.2.3.2", "2001:db8:1:2::_64", "1.2.3.5", "1.2.3.6"};
static const char *const sweep_left[] = {
    "1.2.3.1", "1.2.3.3", "2001:db8:1:3::_64", ".tmp.124.1.2.3.8", "1.2.3.9", "1.2.3.9/1.2.3.10",
    ".tmp.125.1.2.3.12", "1.2.3.11", "1.2.3.13", "junk", "01.2.3.4",
};

static void test_sweep(void)
{
    char dir[4096];
    struct store s;
    struct sweep_stats st;
    static struct seen seen;
    time_t now = time(NULL);
    size_t i;

    /* dry run first: it reports, and removes nothing */
    new_dir(dir, sizeof dir, "sweep");
    sweep_fixture(dir, now);
    if (!CHECK(store_dir_open(&s, dir, NULL) == 0, "store_open for the sweep"))
        return;
    alarm(30);
    memset(&seen, 0, sizeof seen);
    CHECK(store_sweep(&s, 1000, 1, &st, note_removed, &seen) == 0, "dry-run sweep succeeds");
    CHECK_LONG(st.removed, 4, "dry run: four stale records counted");
    CHECK_LONG(st.temps, 1, "dry run: one stale temp file counted");
    CHECK_LONG(st.kept, 3, "dry run: three fresh records counted");
    CHECK_LONG(st.skipped, 6, "dry run: six bad names and non-regular entries skipped");
    for (i = 0; i < sizeof sweep_stale / sizeof sweep_stale[0]; i++) {
        CHECK_LONG(seen_has(&seen, sweep_stale[i]), 1, "dry run reports %s once",
                   sweep_stale[i]);
        CHECK(exists(dir, sweep_stale[i]), "dry run leaves %s", sweep_stale[i]);
    }
    CHECK(exists(dir, ".tmp.123.1.2.3.7"), "dry run leaves the stale temp file");
    for (i = 0; i < sizeof sweep_left / sizeof sweep_left[0]; i++)
        CHECK_LONG(seen_has(&seen, sweep_left[i]), 0, "dry run does not report %s",
                   sweep_left[i]);
    CHECK_LONG(seen.n, 5, "dry run reports the four records and the temp file, nothing else");
    for (i = 0; i < (size_t)seen.n; i++)
        if (strcmp(seen.names[i], "2001:db8:1:2::_64") == 0)
            CHECK(seen.ages[i] >= 5000 && seen.ages[i] < 5060, "the reported age is the age");

    /* the real sweep */
    memset(&seen, 0, sizeof seen);
    CHECK(store_sweep(&s, 1000, 0, &st, note_removed, &seen) == 0, "sweep succeeds");
    alarm(0);
    CHECK_LONG(st.removed, 4, "sweep: four stale records removed");
    CHECK_LONG(st.temps, 1, "sweep: one stale temp file removed");
    CHECK_LONG(st.kept, 3, "sweep: three fresh records kept");
    CHECK_LONG(st.skipped, 6, "sweep: six bad names and non-regular entries skipped");
    for (i = 0; i < sizeof sweep_stale / sizeof sweep_stale[0]; i++) {
        CHECK_LONG(seen_has(&seen, sweep_stale[i]), 1, "sweep reports %s", sweep_stale[i]);
        CHECK(!exists(dir, sweep_stale[i]), "sweep removes stale %s", sweep_stale[i]);
    }
    CHECK(!exists(dir, ".tmp.123.1.2.3.7"), "sweep removes a temp file older than 60 s");
    for (i = 0; i < sizeof sweep_left / sizeof sweep_left[0]; i++)
        CHECK(exists(dir, sweep_left[i]), "sweep leaves %s", sweep_left[i]);
    CHECK(exists(top, "outside"), "sweep does not follow a symbolic link");
    {
        char buf[256];
        slurp(top, "outside", buf, sizeof buf);
        CHECK_STR(buf, "relaylease1 1.2.3.11 outside\n", "the link's target is untouched");
    }

    /* a second sweep finds nothing more to do */
    memset(&seen, 0, sizeof seen);
    CHECK(store_sweep(&s, 1000, 0, &st, NULL, NULL) == 0, "a second sweep succeeds");
    CHECK_LONG(st.removed + st.temps, 0, "a second sweep removes nothing");
    CHECK_LONG(st.kept, 3, "a second sweep keeps the three fresh records");

    /* a shorter expiry: what is older than it goes */
    CHECK(store_sweep(&s, 100, 0, &st, NULL, NULL) == 0, "a sweep with expiry 100");
    CHECK(!exists(dir, "1.2.3.3"), "expiry 100 removes the 900 s old record");
    CHECK(exists(dir, "1.2.3.1") && exists(dir, "2001:db8:1:3::_64"),
          "expiry 100 keeps the records younger than 100 s");
    store_close(&s);

    /* an empty store, and one with many records (more than one chunk of names) */
    new_dir(dir, sizeof dir, "sweep-empty");
    if (CHECK(store_dir_open(&s, dir, NULL) == 0, "store_open of an empty store")) {
        CHECK(store_sweep(&s, 900, 0, &st, NULL, NULL) == 0, "sweep of an empty store");
        CHECK_LONG(st.removed + st.kept + st.temps + st.skipped, 0, "an empty store has nothing");
        store_close(&s);
    }
    new_dir(dir, sizeof dir, "sweep-many");
    {
        char key[32];
        int n;
        for (n = 0; n < 600; n++) {
            snprintf(key, sizeof key, "10.0.%d.%d", n / 256, n % 256);
            put_str(dir, key, "");
            set_time(dir, key, n % 2 ? now - 5000 : now);
        }
        if (CHECK(store_dir_open(&s, dir, NULL) == 0, "store_open of a store of 600 records")) {
            CHECK(store_sweep(&s, 900, 0, &st, NULL, NULL) == 0, "sweep of 600 records");
            CHECK_LONG(st.removed, 300, "sweep of 600 records removes the 300 stale ones");
            CHECK_LONG(st.kept, 300, "sweep of 600 records keeps the 300 fresh ones");
            CHECK(exists(dir, "10.0.0.0") && !exists(dir, "10.0.0.1") &&
                      exists(dir, "10.0.2.86") && !exists(dir, "10.0.2.87"),
                  "the right ones go");
            store_close(&s);
        }
    }
}

struct listed {
    char keys[16][ADDR_KEY_MAX];
    char users[16][STORE_USER_MAX + 1];
    int n;
};

static void note_listed(const struct record *r, void *arg)
{
    struct listed *l = arg;

    if (l->n < 16) {
        snprintf(l->keys[l->n], sizeof l->keys[0], "%s", r->key);
        snprintf(l->users[l->n], sizeof l->users[0], "%s", r->user);
    }
    l->n++; /* all of them are counted: a revocation may remove hundreds */
}

static const char *listed_user(const struct listed *l, const char *key)
{
    int i;

    for (i = 0; i < l->n; i++)
        if (strcmp(l->keys[i], key) == 0)
            return l->users[i];
    return NULL;
}

static void test_list(void)
{
    char dir[4096];
    struct store s;
    static struct listed l;
    time_t now = time(NULL);

    new_dir(dir, sizeof dir, "list");
    put_str(dir, "1.2.3.1", "relaylease1 1.2.3.1 alice\n");
    put_str(dir, "1.2.3.2", "relaylease1 1.2.3.2 stale\n");
    set_time(dir, "1.2.3.2", now - 5000);
    put_str(dir, "1.2.3.3", "relaylease1 1.2.3.3 bad user\n");
    put(dir, "1.2.3.4", "USER=bob\0DOMAIN=example.org\0", 28);
    make_fifo(dir, "1.2.3.5");
    put_str(dir, "2001:db8:1:2::_64", "relaylease1 2001:db8:1:2::_64 carol\n");
    put_str(dir, ".tmp.1.1.2.3.6", "relaylease1 1.2.3.6 dave\n");
    put_str(dir, "junk", "USER=junk\0");
    put_str(dir, "1.2.3.7", "relaylease1 1.2.3.7 future\n");
    set_time(dir, "1.2.3.7", now + 3600);
    make_link(dir, "1.2.3.8", "1.2.3.1");
    make_subdir(dir, "1.2.3.9");
    put_str(dir, "2001:db8:1:3::_64", "USER=legacy6\0");
    put_str(dir, "1.2.3.10", "relaylease1 1.2.3.11 mallory\n");
    put_str(dir, "1.2.3.12", "");

    if (!CHECK(store_dir_open(&s, dir, NULL) == 0, "store_open for the list"))
        return;
    alarm(30);
    memset(&l, 0, sizeof l);
    CHECK(store_list(&s, 900, note_listed, &l) == 0, "store_list succeeds");
    alarm(0);
    CHECK_LONG(l.n, 4, "store_list lists four records");
    CHECK_STR(listed_user(&l, "1.2.3.1"), "alice", "store_list: a fresh record");
    CHECK_STR(listed_user(&l, "1.2.3.4"), "bob@example.org", "store_list: a relay-ctrl record");
    CHECK_STR(listed_user(&l, "2001:db8:1:2::_64"), "carol", "store_list: an IPv6 record");
    CHECK_STR(listed_user(&l, "1.2.3.12"), "", "store_list: an empty relay-ctrl record");
    {
        static const char *const not_listed[] = {
            "1.2.3.2", "1.2.3.3", "1.2.3.5", ".tmp.1.1.2.3.6", "junk", "1.2.3.7", "1.2.3.8",
            "1.2.3.9", "2001:db8:1:3::_64", "1.2.3.10",
        };
        size_t i;
        for (i = 0; i < sizeof not_listed / sizeof not_listed[0]; i++)
            CHECK(listed_user(&l, not_listed[i]) == NULL, "store_list leaves out %s",
                  not_listed[i]);
    }
    CHECK(exists(dir, "1.2.3.2") && exists(dir, "1.2.3.3"), "store_list removes nothing");
    store_close(&s);
}

static void set_mode(const char *dir, const char *name, mode_t mode)
{
    char p[4096];

    path_of(p, sizeof p, dir, name);
    if (chmod(p, mode) != 0)
        fail_setup("chmod", p);
}

static void set_owner(const char *dir, const char *name, uid_t uid, gid_t gid)
{
    char p[4096];

    path_of(p, sizeof p, dir, name);
    if (lchown(p, uid, gid) != 0)
        fail_setup("chown", p);
}

/* How many listed, and whether key was. */
static int list_has(const char *dir, const char *key, int *count)
{
    struct store s;
    static struct listed l;

    memset(&l, 0, sizeof l);
    if (store_dir_open(&s, dir, NULL) != 0)
        return -1;
    (void)store_list(&s, 900, note_listed, &l);
    store_close(&s);
    if (count != NULL)
        *count = l.n;
    return listed_user(&l, key) != NULL;
}

/* A record that someone other than root or the store's owner could have written grants
 * nothing: group- or world-writable, or owned by another account. */
static void test_perms(void)
{
    static const mode_t bad_modes[] = {0664, 0646, 0666, 0620, 0602, 0777, 0660};
    char dir[4096];
    struct record r;
    const char *why;
    size_t i;

    new_dir(dir, sizeof dir, "perms");
    for (i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++) {
        char what[100];
        put_str(dir, "1.2.3.4", "relaylease1 1.2.3.4 bob\n");
        set_mode(dir, "1.2.3.4", bad_modes[i]);
        snprintf(what, sizeof what, "a record of mode %04o", (unsigned)bad_modes[i]);
        if (CHECK_LOOKUP(dir, "1.2.3.4", STORE_INVALID, &r, what)) {
            /* looked up before the CHECK: its arguments are evaluated in no set order */
            enum store_result res;
            why = NULL;
            res = store_dir_lookup(dir, "1.2.3.4", &r, &why);
            CHECK(res == STORE_INVALID && why != NULL &&
                      strstr(why, "writable by its group or others") != NULL,
                  "%s: says why (%s)", what, why ? why : "no reason");
        }
        CHECK(list_has(dir, "1.2.3.4", NULL) == 0, "store_list leaves out %s", what);
    }
    put(dir, "1.2.3.4", "USER=bob\0", 9);
    set_mode(dir, "1.2.3.4", 0666);
    CHECK_LOOKUP(dir, "1.2.3.4", STORE_INVALID, &r, "a relay-ctrl record of mode 0666");
    put_str(dir, "1.2.3.4", "relaylease1 1.2.3.4 bob\n");
    set_mode(dir, "1.2.3.4", 0644);
    CHECK_LOOKUP(dir, "1.2.3.4", STORE_FOUND, &r, "a record of mode 0644");
    CHECK(list_has(dir, "1.2.3.4", NULL) == 1, "store_list lists a record of mode 0644");
    set_mode(dir, "1.2.3.4", 0600);
    CHECK_LOOKUP(dir, "1.2.3.4", STORE_FOUND, &r, "a record of mode 0600");
    set_mode(dir, "1.2.3.4", 0444);
    CHECK_LOOKUP(dir, "1.2.3.4", STORE_FOUND, &r, "a record of mode 0444");

    if (geteuid() != 0) {
        unit_note("skipped: records of other accounts need root to chown them");
        return;
    }
    /* the store is root's: a record of anyone else's is not ours */
    set_mode(dir, "1.2.3.4", 0644);
    set_owner(dir, "1.2.3.4", 65534, 65534);
    if (CHECK_LOOKUP(dir, "1.2.3.4", STORE_INVALID, &r, "a record of uid 65534 in root's store"))
        CHECK(store_dir_lookup(dir, "1.2.3.4", &r, &why) == STORE_INVALID &&
                  strcmp(why, "owned by uid 65534, not the store's owner") == 0,
              "says whose it is (%s)", why);
    CHECK(list_has(dir, "1.2.3.4", NULL) == 0, "store_list leaves out a record of uid 65534");
    set_owner(dir, "1.2.3.4", 0, 65534);
    CHECK_LOOKUP(dir, "1.2.3.4", STORE_FOUND, &r, "root's record, another group, 0644");

    /* the store is 65534's: its records and root's are, anyone else's is not */
    set_owner(top, "perms", 65534, 65534);
    set_owner(dir, "1.2.3.4", 65534, 65534);
    CHECK_LOOKUP(dir, "1.2.3.4", STORE_FOUND, &r, "the store owner's record");
    CHECK(list_has(dir, "1.2.3.4", NULL) == 1, "store_list lists the store owner's record");
    set_owner(dir, "1.2.3.4", 0, 0);
    CHECK_LOOKUP(dir, "1.2.3.4", STORE_FOUND, &r, "root's record in the owner's store");
    set_owner(dir, "1.2.3.4", 12345, 65534);
    CHECK_LOOKUP(dir, "1.2.3.4", STORE_INVALID, &r, "a record of uid 12345");
    CHECK(list_has(dir, "1.2.3.4", NULL) == 0, "store_list leaves out a record of uid 12345");
    set_owner(dir, "1.2.3.4", 65534, 65534);
    set_mode(dir, "1.2.3.4", 0664);
    CHECK_LOOKUP(dir, "1.2.3.4", STORE_INVALID, &r, "the owner's record, group-writable");
    set_owner(top, "perms", 0, 0);
}

/* A directory on a filesystem that keeps any time_t as an mtime (tmpfs does; ext4 clamps
 * to 1901..2446), else the scratch directory. */
static void wide_dir(char *buf, size_t size)
{
    snprintf(buf, size, "/dev/shm/unit-store.XXXXXX");
    if (mkdtemp(buf) == NULL)
        new_dir(buf, size, "wide");
}

/* The mtime a file actually got. */
static time_t mtime_of(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;

    path_of(p, sizeof p, dir, name);
    if (lstat(p, &st) != 0)
        fail_setup("stat", p);
    return st.st_mtime;
}

static void sweep_extremes(const struct store *sp, size_t n);

/* Records dated at the extremes of time_t through the lookup, the list and the sweep: the
 * san build traps on any overflow. */
static void test_extreme_times(void)
{
    static const time_t when[] = {TMIN, TMIN + 1, -1, 0, 1, TMAX - 1, TMAX};
    char dir[4096], key[32];
    struct record r;
    struct store s;
    time_t now = time(NULL);
    size_t i;
    int n = 0;

    wide_dir(dir, sizeof dir);
    for (i = 0; i < sizeof when / sizeof when[0]; i++) {
        snprintf(key, sizeof key, "10.9.0.%zu", i);
        put_str(dir, key, "");
        set_time(dir, key, when[i]);
        unit_note("%s dated %lld, got %lld", key, (long long)when[i],
                  (long long)mtime_of(dir, key));
        if (CHECK_LOOKUP(dir, key, STORE_FOUND, &r, "a record dated at an extreme"))
            CHECK(!store_fresh(r.time, now, SETTINGS_MAX_EXPIRY), "%s is not fresh", key);
    }
    put_str(dir, "10.9.1.1", "");
    CHECK(list_has(dir, "10.9.1.1", &n) == 1 && n == 1,
          "store_list lists only the fresh record beside the extremes");
    if (CHECK(store_dir_open(&s, dir, NULL) == 0, "store_open of the extremes"))
        sweep_extremes(&s, sizeof when / sizeof when[0]);
    if (strncmp(dir, "/dev/shm/", 9) == 0 && nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        unit_note("unable to remove %s: %s", dir, strerror(errno));
}

static void sweep_extremes(const struct store *sp, size_t n)
{
    struct store s = *sp; /* a copy: closed here */
    struct sweep_stats st;
    static struct seen seen;
    size_t i;

    memset(&seen, 0, sizeof seen);
    CHECK(store_sweep(&s, 900, 1, &st, note_removed, &seen) == 0, "dry run over the extremes");
    for (i = 0; i < (size_t)seen.n; i++)
        CHECK(seen.ages[i] > 900 || seen.ages[i] <= -900, "%s: reported age %ld",
              seen.names[i], seen.ages[i]);
    CHECK(store_sweep(&s, SETTINGS_MAX_EXPIRY, 0, &st, NULL, NULL) == 0,
          "sweep over the extremes");
    CHECK_LONG(st.removed, n, "the sweep removes every extreme");
    CHECK_LONG(st.kept, 1, "and keeps the fresh record");
    store_close(&s);
}

/* A clock stepped back: records dated in the future by less than the expiry are kept by the
 * sweep; by the expiry or more they are removed. */
static void test_future_sweep(void)
{
    char dir[4096];
    struct store s;
    struct sweep_stats st;
    time_t now = time(NULL);

    new_dir(dir, sizeof dir, "future");
    put_str(dir, "1.2.4.1", "relaylease1 1.2.4.1 skew\n");
    set_time(dir, "1.2.4.1", now + 3);
    put_str(dir, "1.2.4.2", "relaylease1 1.2.4.2 stepped\n");
    set_time(dir, "1.2.4.2", now + 100);
    put_str(dir, "1.2.4.3", "relaylease1 1.2.4.3 stepped\n");
    set_time(dir, "1.2.4.3", now + 800);
    put_str(dir, "1.2.4.4", "relaylease1 1.2.4.4 forged\n");
    set_time(dir, "1.2.4.4", now + 1000);
    put_str(dir, "1.2.4.5", "relaylease1 1.2.4.5 forged\n");
    set_time(dir, "1.2.4.5", now + 86400 * 365);
    put_str(dir, ".tmp.9.1.2.4.6", "");
    set_time(dir, ".tmp.9.1.2.4.6", now + 86400);
    put_str(dir, ".tmp.9.1.2.4.7", "");
    set_time(dir, ".tmp.9.1.2.4.7", now + 10);
    if (!CHECK(store_dir_open(&s, dir, NULL) == 0, "store_open for the future sweep"))
        return;
    CHECK(store_sweep(&s, 900, 0, &st, NULL, NULL) == 0, "sweep with records from the future");
    store_close(&s);
    CHECK(exists(dir, "1.2.4.1"), "the sweep keeps a record 3 s ahead");
    CHECK(exists(dir, "1.2.4.2"), "the sweep keeps a record 100 s ahead (expiry 900)");
    CHECK(exists(dir, "1.2.4.3"), "the sweep keeps a record 800 s ahead (expiry 900)");
    CHECK(!exists(dir, "1.2.4.4"), "the sweep removes a record 1000 s ahead (expiry 900)");
    CHECK(!exists(dir, "1.2.4.5"), "the sweep removes a record a year ahead");
    CHECK(!exists(dir, ".tmp.9.1.2.4.6"), "the sweep removes a temp file a day ahead");
    CHECK(exists(dir, ".tmp.9.1.2.4.7"), "the sweep keeps a temp file 10 s ahead");
    CHECK_LONG(st.kept, 3, "three kept");
    CHECK_LONG(st.removed, 2, "two removed");
    /* a short expiry still keeps what relay-check would grant */
    new_dir(dir, sizeof dir, "future-short");
    put_str(dir, "1.2.4.1", "");
    set_time(dir, "1.2.4.1", now + 3);
    if (CHECK(store_dir_open(&s, dir, NULL) == 0, "store_open for the short expiry")) {
        CHECK(store_sweep(&s, 2, 0, &st, NULL, NULL) == 0, "sweep with expiry 2");
        store_close(&s);
        CHECK(exists(dir, "1.2.4.1"), "expiry 2 keeps a record 3 s ahead (clock skew)");
    }
}

/* A temp file is made new, private until complete, and a name left where ours goes is
 * removed, never written through: a hard link or a symbolic link to another file there
 * leaves that file as it was. */
static void test_temp(void)
{
    char dir[4096], tmp[64], buf[256], p[4096];
    struct store s;
    struct stat st;

    new_dir(dir, sizeof dir, "temp");
    put_str(top, "victim", "secret\n");
    set_mode(top, "victim", 0600);
    snprintf(tmp, sizeof tmp, ".tmp.%ld.1.2.5.1", (long)getpid());
    path_of(p, sizeof p, top, "victim");
    {
        char linkp[4096];
        path_of(linkp, sizeof linkp, dir, tmp);
        if (link(p, linkp) != 0)
            fail_setup("link", linkp);
    }
    if (!CHECK(store_dir_open(&s, dir, NULL) == 0, "store_open for the temp files"))
        return;
    CHECK(store_record(&s, "1.2.5.1", "bob") == 0, "record over a hard-linked temp name");
    slurp(top, "victim", buf, sizeof buf);
    CHECK_STR(buf, "secret\n", "the linked file's content is untouched");
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600 && st.st_nlink == 1,
          "the linked file's mode is untouched, and the link is gone");
    slurp(dir, "1.2.5.1", buf, sizeof buf);
    CHECK_STR(buf, "relaylease1 1.2.5.1 bob\n", "the record is written");
    make_link(dir, tmp, p);
    CHECK(store_record(&s, "1.2.5.1", "carol") == 0, "record over a symlinked temp name");
    slurp(top, "victim", buf, sizeof buf);
    CHECK_STR(buf, "secret\n", "the symbolic link's target is untouched");
    CHECK(count_temps(dir) == 0, "no temp file is left");
    path_of(p, sizeof p, dir, "1.2.5.1");
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0644, "the record is 0644");
    store_close(&s);
}

static void note_listed_count(const struct record *r, void *arg)
{
    (void)r;
    (*(unsigned long *)arg)++;
}

/* What the store reports through the reporter a program would pass (log_warn): the lines,
 * each ending in '|'. */
static struct {
    char text[2048];
} reports;

static void note_problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note_problem(const char *fmt, ...)
{
    size_t used = strlen(reports.text);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reports.text + used, sizeof reports.text - used, fmt, ap);
    va_end(ap);
    used = strlen(reports.text);
    snprintf(reports.text + used, sizeof reports.text - used, "|");
}

/* The store reports what it leaves alone, or cannot read, to its caller and goes on; it
 * prints nothing itself. Programs reach the directory only through store_id and
 * store_record_at. */
static void test_problems(void)
{
    char dir[4096], p[4096], sub[4096];
    struct store s;
    struct sweep_stats st;

    new_dir(dir, sizeof dir, "problems");
    put_str(dir, "junk name", "x");
    path_of(sub, sizeof sub, dir, "1.2.6.1");
    if (mkdir(sub, 0755) != 0)
        fail_setup("create", sub);
    if (!CHECK(store_dir_open(&s, dir, NULL) == 0, "store_open for the reports"))
        return;
    reports.text[0] = '\0';
    s.warn = note_problem;
    CHECK(store_sweep(&s, 900, 0, &st, NULL, NULL) == 0 && st.skipped == 2, "a sweep skips two");
    CHECK(strstr(reports.text, "/junk name is not an address key: left alone|") != NULL &&
              strstr(reports.text, "/1.2.6.1 is not a regular file: left alone|") != NULL,
          "and reports a name that is not a key and a key that is not a file (%s)", reports.text);

    reports.text[0] = '\0';
    put_str(dir, "1.2.6.2", "relaylease1 1.2.6.2 bob\n");
    set_mode(dir, "1.2.6.2", 0666);
    path_of(p, sizeof p, dir, "1.2.6.3");
    if (symlink("1.2.6.2", p) != 0)
        fail_setup("symlink", p);
    unsigned long n = 0;
    CHECK(store_list(&s, 900, note_listed_count, &n) == 0 && n == 0, "store_list lists nothing");
    CHECK(strstr(reports.text, "/1.2.6.2: writable by its group or others|") != NULL &&
              strstr(reports.text, "/1.2.6.3: a symbolic link|") != NULL &&
              strncmp(reports.text, "invalid record ", 15) == 0,
          "and reports the writable record and the symbolic link, with why (%s)", reports.text);

    /* The lock cannot be taken: the record is made all the same, and that is reported. */
    reports.text[0] = '\0';
    path_of(p, sizeof p, dir, ".lock");
    store_close(&s); /* it holds the lock file the sweep opened */
    if (unlink(p) != 0 || mkfifo(p, 0600) != 0 || store_dir_open(&s, dir, NULL) != 0)
        fail_setup("make a FIFO of", p);
    s.warn = note_problem;
    CHECK(store_record(&s, "1.2.6.4", "bob") == 0 && exists(dir, "1.2.6.4"),
          "store_record without the lock (a FIFO is no lock)");
    CHECK(strncmp(reports.text, "unable to lock ", 15) == 0 &&
              strstr(reports.text, " (No locks available): recording without the lock|") != NULL,
          "reports it with why (%s)", reports.text);

    /* store_id: the directory's device and inode, whatever path led to it. */
    unsigned long long dev = 0, ino = 0;
    struct stat ds;
    CHECK(store_id(&s, &dev, &ino) == 0 && stat(dir, &ds) == 0 &&
              dev == (unsigned long long)ds.st_dev && ino == (unsigned long long)ds.st_ino,
          "store_id names the store's directory");

    /* store_record_at: the login time given, never set through a link, never a non-key. */
    CHECK(store_record_at(&s, "1.2.6.4", "bob", 1000000) == 0, "store_record_at of a record");
    struct record rec;
    const char *why;
    CHECK(store_dir_lookup(dir, "1.2.6.4", &rec, &why) == STORE_FOUND && rec.time == 1000000,
          "which is its login time now");
    time_t before = mtime_of(dir, "1.2.6.2");
    CHECK(store_record_at(&s, "1.2.6.3", "bob", 5) == 0 && mtime_of(dir, "1.2.6.2") == before,
          "store_record_at over a symbolic link leaves its target alone");
    errno = 0;
    CHECK(store_record_at(&s, "../x", "bob", 5) == -1 && errno == EINVAL,
          "store_record_at of a name that is not a key: EINVAL");
    store_close(&s);
}

/* The Redis record: "relaylease2 TIME KEY USER\n", nothing else. Each case is the value
 * under relaylease:KEY; a record that does not parse grants nothing. */
static void test_redis_record(void)
{
    static char long_user[STORE_USER_MAX + 2], over[1100], max_user[STORE_USER_MAX + 1];
    memset(long_user, 'u', sizeof long_user - 1);
    memset(max_user, 'u', sizeof max_user - 1);
    static char long_line[1200], max_line[1100];
    (void)snprintf(long_line, sizeof long_line, "relaylease2 1 1.2.3.4 %s\n", long_user);
    (void)snprintf(max_line, sizeof max_line, "relaylease2 1 1.2.3.4 %s\n", max_user);
    memset(over, 'x', sizeof over - 1);
    static const struct {
        const char *key, *value;
        int ok;
        long long time;
        const char *user;
    } cases[] = {
        {"1.2.3.4", "relaylease2 1796186267 1.2.3.4 bob@example.org\n", 1, 1796186267, "bob@example.org"},
        {"1.2.3.4", "relaylease2 1 1.2.3.4 \n", 1, 1, ""},
        {"1.2.3.4", "relaylease2 999999999999 1.2.3.4 b\n", 1, 999999999999LL, "b"},
        {"2001:db8:1:2::_64", "relaylease2 5 2001:db8:1:2::_64 eve\n", 1, 5, "eve"},
        {"1.2.3.4", "relaylease2 1000000000000 1.2.3.4 b\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 0 1.2.3.4 b\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 01 1.2.3.4 b\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 -1 1.2.3.4 b\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 +1 1.2.3.4 b\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2  1 1.2.3.4 b\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 1x 1.2.3.4 b\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 1 1.2.3.5 b\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 1 1.2.3.45 b\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 1 1.2.3.4\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 1 1.2.3.4 b", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 1 1.2.3.4 b\n\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 1 1.2.3.4 b c\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 1 1.2.3.4 b(c)\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 1 1.2.3.4 b\\\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 1 1.2.3.4 b\r\n", 0, 0, NULL},
        {"1.2.3.4", "relaylease1 1.2.3.4 b\n", 0, 0, NULL},
        {"1.2.3.4", "USER=bob", 0, 0, NULL},
        {"1.2.3.4", "", 0, 0, NULL},
        {"1.2.3.4", "relaylease2", 0, 0, NULL},
        {"1.2.3.4", "relaylease2 \n", 0, 0, NULL},
        {"1.2.3.4", "RELAYLEASE2 1 1.2.3.4 b\n", 0, 0, NULL},
        {"1.2.3.4", long_line, 0, 0, NULL},
        {"1.2.3.4", max_line, 1, 1, max_user},
        {"1.2.3.4", over, 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct record r;
        const char *why = NULL;
        memset(&r, 0, sizeof r);
        memcpy(r.key, cases[i].key, strlen(cases[i].key));
        int rc = store_parse_redis(cases[i].value, strlen(cases[i].value), &r, &why);
        if (cases[i].ok) {
            CHECK(rc == 0 && r.time == (time_t)cases[i].time && strcmp(r.user, cases[i].user) == 0,
                  "redis record %zu \"%.40s\": valid, time %lld", i, cases[i].value, cases[i].time);
        } else {
            CHECK(rc == -1 && why != NULL && why[0] != '\0',
                  "redis record %zu \"%.40s\": invalid (%s)", i, cases[i].value, why ? why : "");
        }
    }
    /* A NUL inside, where a C string would end. */
    struct record r;
    const char *why = NULL;
    memset(&r, 0, sizeof r);
    memcpy(r.key, "1.2.3.4", 7);
    static const char nul[] = "relaylease2 1 1.2.3.4 b\0c\n";
    CHECK(store_parse_redis(nul, sizeof nul - 1, &r, &why) == -1, "redis record with a NUL: invalid");
}

/* ---- the per-user cap and revocation (issue 12) ------------------------------------------ */

/* What the store reported through s->warn: the last line, and how many. */
static char warned[1024];
static int nwarned;

static void note_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(warned, sizeof warned, fmt, ap);
    va_end(ap);
    nwarned++;
}

/* The bucket of user under dir: dir/.users/ and FNV-1a-64 of the name in 16 hex digits. */
static void bucket_of(char *buf, size_t size, const char *dir, const char *user)
{
    uint64_t h = 14695981039346656037ULL;
    const unsigned char *p;

    for (p = (const unsigned char *)user; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    snprintf(buf, size, "%s/.users/%016llx", dir, (unsigned long long)h);
}

static long file_text(const char *path, char *buf, size_t size)
{
    char d[4096];
    const char *slash = strrchr(path, '/');

    snprintf(d, sizeof d, "%.*s", (int)(slash - path), path);
    return slurp(d, slash + 1, buf, size);
}

static enum store_login login(struct store *s, const char *key, const char *user, long max,
                              long *held)
{
    *held = -1;
    return store_login(s, key, user, max, held);
}

static void test_cap(void)
{
    char dir[4096], b[4200], buf[8192];
    struct store s;
    struct stat st;
    long held;
    time_t now = time(NULL);

    new_dir(dir, sizeof dir, "cap");
    if (!CHECK(store_dir_open(&s, dir, note_warn) == 0, "store_open for the cap"))
        return;
    nwarned = 0;
    CHECK(login(&s, "192.0.2.1", "bob", 2, &held) == STORE_LOGIN_RECORDED, "bob .1: recorded");
    bucket_of(b, sizeof b, dir, "bob");
    file_text(b, buf, sizeof buf);
    CHECK_STR(buf, "192.0.2.1 bob\n", "the index line, in bob's bucket");
    CHECK(lstat(b, &st) == 0 && (st.st_mode & 07777) == 0600, "the bucket is 0600");
    path_of(buf, sizeof buf, dir, ".users");
    CHECK(lstat(buf, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700,
          ".users is a directory, 0700");
    CHECK(login(&s, "192.0.2.1", "bob", 2, &held) == STORE_LOGIN_RECORDED, "renewal: recorded");
    file_text(b, buf, sizeof buf);
    CHECK_STR(buf, "192.0.2.1 bob\n", "a renewal adds no line");
    CHECK(login(&s, "192.0.2.2", "bob", 2, &held) == STORE_LOGIN_RECORDED, "bob .2: recorded");
    CHECK(login(&s, "192.0.2.3", "bob", 2, &held) == STORE_LOGIN_OVER_CAP, "bob .3: over the cap");
    CHECK_LONG(held, 2, "with 2 held");
    CHECK(!exists(dir, "192.0.2.3"), "nothing written over the cap");
    file_text(b, buf, sizeof buf);
    CHECK_STR(buf, "192.0.2.1 bob\n192.0.2.2 bob\n", "nor indexed");
    CHECK(login(&s, "192.0.2.1", "bob", 2, &held) == STORE_LOGIN_RECORDED,
          "a renewal at the cap is never refused");
    CHECK(login(&s, "192.0.2.1", "bob", 1, &held) == STORE_LOGIN_RECORDED,
          "nor over it (the cap lowered)");
    CHECK(login(&s, "192.0.2.1", "alice", 2, &held) == STORE_LOGIN_RECORDED,
          "alice takes .1 over (same NAT)");
    CHECK(login(&s, "192.0.2.3", "bob", 2, &held) == STORE_LOGIN_RECORDED,
          "which frees a slot of bob's");
    CHECK(login(&s, "2001:db8:1:2::_64", "bob", 2, &held) == STORE_LOGIN_OVER_CAP,
          "bob is at the cap again");
    CHECK(login(&s, "2001:db8:1:2::_64", "carol", 1, &held) == STORE_LOGIN_RECORDED &&
              login(&s, "2001:db8:1:2::_64", "carol", 1, &held) == STORE_LOGIN_RECORDED,
          "a /64 is one key: counted once");
    CHECK(login(&s, "192.0.2.4", "", 1, &held) == STORE_LOGIN_RECORDED &&
              login(&s, "192.0.2.5", "", 1, &held) == STORE_LOGIN_RECORDED,
          "an empty user is never counted");
    bucket_of(b, sizeof b, dir, "");
    CHECK(!is_regular(top, b + strlen(top) + 1), "nor indexed");
    CHECK(login(&s, "192.0.2.6", "bob", 0, &held) == STORE_LOGIN_RECORDED &&
              login(&s, "192.0.2.7", "bob", 0, &held) == STORE_LOGIN_RECORDED,
          "max 0: no cap");
    CHECK(store_record(&s, "192.0.2.8", "bob") == 0, "store_record: no cap");
    bucket_of(b, sizeof b, dir, "bob");
    file_text(b, buf, sizeof buf);
    CHECK_STR(buf, "192.0.2.1 bob\n192.0.2.2 bob\n192.0.2.3 bob\n",
              "with no cap nothing is indexed (as before the cap)");
    CHECK(login(&s, "192.0.2.6", "bob", 5, &held) == STORE_LOGIN_RECORDED &&
              login(&s, "192.0.2.7", "bob", 5, &held) == STORE_LOGIN_RECORDED &&
              login(&s, "192.0.2.8", "bob", 5, &held) == STORE_LOGIN_RECORDED,
          "those records are counted once renewed under a cap");
    CHECK(login(&s, "192.0.2.9", "bob", 5, &held) == STORE_LOGIN_OVER_CAP && held == 5,
          "each of bob's live keys is counted: 5 (.2 .3 .6 .7 .8 and not .1, alice's)");
    /* A stale record counts for nothing. */
    set_time(dir, "192.0.2.8", now - 5000);
    CHECK(login(&s, "192.0.2.9", "bob", 5, &held) == STORE_LOGIN_RECORDED,
          "a stale record frees its slot");
    /* A record with no line (made before the upgrade) is not counted, and renewed. */
    put_str(dir, "192.0.2.20", "relaylease1 192.0.2.20 dave\n");
    CHECK(login(&s, "192.0.2.21", "dave", 1, &held) == STORE_LOGIN_RECORDED,
          "a record made before the index is not counted");
    CHECK(login(&s, "192.0.2.20", "dave", 1, &held) == STORE_LOGIN_RECORDED,
          "and its renewal is not refused");
    CHECK_LONG(nwarned, 0, "no warning so far (%s)", warned);

    /* A bad record under a listed key: counts for nothing. */
    bucket_of(b, sizeof b, dir, "erin");
    CHECK(login(&s, "192.0.2.30", "erin", 1, &held) == STORE_LOGIN_RECORDED, "erin .30");
    path_of(buf, sizeof buf, dir, "192.0.2.30");
    chmod(buf, 0666);
    CHECK(login(&s, "192.0.2.31", "erin", 1, &held) == STORE_LOGIN_RECORDED,
          "an invalid record does not count");
    store_close(&s);
}

/* Lines that count for nothing, a line cut short, a bucket not to be trusted. */
static void test_cap_index(void)
{
    char dir[4096], b[4200], buf[70000];
    struct store s;
    long held;
    int i, fd;

    new_dir(dir, sizeof dir, "capidx");
    if (!CHECK(store_dir_open(&s, dir, note_warn) == 0, "store_open for the index"))
        return;
    nwarned = 0;
    CHECK(login(&s, "192.0.2.1", "bob", 3, &held) == STORE_LOGIN_RECORDED, "bob .1");
    bucket_of(b, sizeof b, dir, "bob");
    /* Lines of no use: no record, another user's record, garbage, a long line, a line of a
     * user that shares the bucket (a record of hers that is live). */
    fd = open(b, O_WRONLY | O_APPEND);
    if (fd >= 0) {
        static char longline[5000];
        memset(longline, 'x', sizeof longline - 2);
        longline[sizeof longline - 2] = '\n';
        dprintf(fd, "192.0.2.2 bob\n192.0.2.3 bob\nnot a line\n192.0.2.1 bob\n"
                    "1.2.3.4.5 bob\n192.0.2.4 bad(user)\n192.0.2.5 eve\n");
        if (write(fd, longline, strlen(longline)) < 0)
            fail_setup("write", b);
        dprintf(fd, "192.0.2.1 bob\n192.0.2.1 bob\n192.0.2.6 bo");
        close(fd);
    }
    put_str(dir, "192.0.2.5", "relaylease1 192.0.2.5 eve\n");
    CHECK(login(&s, "192.0.2.7", "bob", 2, &held) == STORE_LOGIN_RECORDED,
          "only live lines of bob's count: .1 once");
    file_text(b, buf, sizeof buf);
    CHECK_STR(buf, "192.0.2.1 bob\n192.0.2.5 eve\n192.0.2.7 bob\n",
              "dead lines were most of it: compacted (the cut line too)");
    CHECK(login(&s, "192.0.2.8", "bob", 2, &held) == STORE_LOGIN_OVER_CAP && held == 2,
          "bob holds .1 and .7");
    /* A last line with no newline: the next line starts on a line of its own. */
    fd = open(b, O_WRONLY | O_APPEND);
    if (fd >= 0) {
        dprintf(fd, "192.0.2.9 b");
        close(fd);
    }
    CHECK(login(&s, "192.0.2.10", "carl", 3, &held) == STORE_LOGIN_RECORDED, "carl");
    CHECK(login(&s, "192.0.2.8", "bob", 3, &held) == STORE_LOGIN_RECORDED, "bob .8 under 3");
    file_text(b, buf, sizeof buf);
    CHECK_STR(buf, "192.0.2.1 bob\n192.0.2.5 eve\n192.0.2.7 bob\n192.0.2.9 b\n192.0.2.8 bob\n",
              "after a cut line, the new one on its own");
    CHECK(login(&s, "192.0.2.11", "bob", 3, &held) == STORE_LOGIN_OVER_CAP && held == 3,
          "and counted");
    CHECK_LONG(nwarned, 0, "no warning so far (%s)", warned);

    /* Fail-open: the bucket too big, a link, a directory; .users not the store's. */
    struct stat big;
    if (stat(b, &big) != 0 || truncate(b, (1 << 20) + 1) != 0)
        fail_setup("truncate", b);
    CHECK(login(&s, "192.0.2.11", "bob", 3, &held) == STORE_LOGIN_RECORDED,
          "a bucket over 1 MiB: recorded without the cap");
    CHECK_LONG(nwarned, 1, "with one warning");
    CHECK(strncmp(warned, "unable to lock ", 15) == 0 &&
              strstr(warned, "/.users/") != NULL &&
              strstr(warned, " (too big): recording without the cap") != NULL,
          "the warning: %s", warned);
    unlink(b);
    if (symlink("/etc/passwd", b) != 0)
        fail_setup("symlink", b);
    nwarned = 0;
    CHECK(login(&s, "192.0.2.12", "bob", 1, &held) == STORE_LOGIN_RECORDED &&
              nwarned == 1 && strstr(warned, "(a symbolic link)") != NULL,
          "a bucket that is a symbolic link: recorded without the cap, warned (%s)", warned);
    unlink(b);
    path_of(buf, sizeof buf, dir, ".users");
    chmod(buf, 0755);
    nwarned = 0;
    CHECK(login(&s, "192.0.2.13", "bob", 1, &held) == STORE_LOGIN_RECORDED && nwarned == 1 &&
              strstr(warned, "(open to its group or others)") != NULL,
          ".users open to others: recorded without the cap, warned (%s)", warned);
    chmod(buf, 0700);
    nwarned = 0;
    CHECK(login(&s, "192.0.2.13", "", 1, &held) == STORE_LOGIN_RECORDED && nwarned == 0,
          "an empty user never touches .users");
    for (i = 0; i < 3; i++)
        CHECK(login(&s, "192.0.2.13", "bob", 1, &held) == STORE_LOGIN_RECORDED,
              "bob again, the bucket made anew (%d)", i);
    CHECK(is_regular(top, b + strlen(top) + 1), "the bucket is back");
    store_close(&s);
}

static void test_cap_sweep(void)
{
    char dir[4096], b[4200], p[4200];
    struct store s;
    struct sweep_stats st;
    long held;
    time_t now = time(NULL);

    new_dir(dir, sizeof dir, "capsweep");
    if (!CHECK(store_dir_open(&s, dir, note_warn) == 0, "store_open for the sweep of .users"))
        return;
    nwarned = 0;
    CHECK(store_sweep(&s, 900, 0, &st, NULL, NULL) == 0 && nwarned == 0,
          "a store with no .users: swept, nothing said");
    login(&s, "192.0.2.1", "bob", 2, &held);
    login(&s, "192.0.2.2", "alice", 2, &held);
    bucket_of(b, sizeof b, dir, "bob");
    set_time(top, b + strlen(top) + 1, now - 1000);
    path_of(p, sizeof p, dir, ".users");
    put_str(p, ".tmp.1.0000000000000000", "x");
    set_time(p, ".tmp.1.0000000000000000", now - 100);
    put_str(p, ".tmp.2.0000000000000000", "x");
    put_str(p, "stranger", "x");
    alarm(30);
    CHECK(store_sweep(&s, 900, 1, &st, NULL, NULL) == 0, "a dry run");
    CHECK(is_regular(top, b + strlen(top) + 1) && is_regular(p, ".tmp.1.0000000000000000"),
          "a dry run removes nothing from .users");
    nwarned = 0;
    CHECK(store_sweep(&s, 900, 0, &st, NULL, NULL) == 0, "a sweep");
    alarm(0);
    CHECK_LONG(st.kept, 2, "the sweep's count is of records");
    CHECK_LONG(st.skipped, 0, "and .users is not one of them");
    CHECK(!is_regular(top, b + strlen(top) + 1), "a bucket older than the expiry goes");
    bucket_of(b, sizeof b, dir, "alice");
    CHECK(is_regular(top, b + strlen(top) + 1), "a fresh one stays");
    CHECK(!exists(p, ".tmp.1.0000000000000000") && exists(p, ".tmp.2.0000000000000000"),
          "an old temp file goes, a young one stays");
    CHECK(exists(p, "stranger") && nwarned == 1 &&
              strstr(warned, "stranger is not a user index: left alone") != NULL,
          "a stranger is left alone, and reported (%s)", warned);
    CHECK(login(&s, "192.0.2.1", "bob", 1, &held) == STORE_LOGIN_RECORDED,
          "bob logs in again");
    bucket_of(b, sizeof b, dir, "bob");
    CHECK(is_regular(top, b + strlen(top) + 1), "and has a bucket again");
    store_close(&s);
}

static void test_revoke(void)
{
    char dir[4096], b[4200], buf[4096], key[32];
    struct store s;
    struct listed v;
    long held;
    int i;
    time_t now = time(NULL);

    new_dir(dir, sizeof dir, "revoke");
    if (!CHECK(store_dir_open(&s, dir, note_warn) == 0, "store_open for revocation"))
        return;
    nwarned = 0;
    alarm(30);
    login(&s, "192.0.2.1", "bob", 10, &held);
    login(&s, "192.0.2.2", "bob", 10, &held);
    login(&s, "192.0.2.3", "alice", 10, &held);
    bucket_of(b, sizeof b, dir, "bob");

    memset(&v, 0, sizeof v);
    CHECK_LONG(store_revoke_key(&s, "192.0.2.1", note_listed, &v), 1, "-a .1: one removed");
    CHECK(v.n == 1 && strcmp(v.keys[0], "192.0.2.1") == 0 && strcmp(v.users[0], "bob") == 0,
          "fn saw it, with its user");
    CHECK(!exists(dir, "192.0.2.1"), "the record is gone");
    file_text(b, buf, sizeof buf);
    CHECK_STR(buf, "192.0.2.2 bob\n", "and its line");
    CHECK_LONG(store_revoke_key(&s, "192.0.2.1", note_listed, &v), 0, "-a .1 again: none");
    set_time(dir, "192.0.2.3", now - 5000);
    CHECK_LONG(store_revoke_key(&s, "192.0.2.3", NULL, NULL), 1, "a stale record is removed too");
    put_str(dir, "192.0.2.4", "relaylease1 192.0.2.4 \n");
    CHECK_LONG(store_revoke_key(&s, "192.0.2.4", NULL, NULL), 1, "one with no user too");
    put_mode(dir, "192.0.2.5", "relaylease1 192.0.2.5 bob\n", 26, 0666);
    nwarned = 0;
    CHECK_LONG(store_revoke_key(&s, "192.0.2.5", NULL, NULL), 0, "an invalid record: none");
    CHECK(exists(dir, "192.0.2.5") && nwarned == 1 && strstr(warned, "left alone") != NULL,
          "left alone, with a warning (%s)", warned);
    make_link(dir, "192.0.2.6", "/etc/passwd");
    nwarned = 0;
    CHECK_LONG(store_revoke_key(&s, "192.0.2.6", NULL, NULL), 0, "a symbolic link: none");
    CHECK(exists(dir, "192.0.2.6") && nwarned == 1, "left alone, with a warning (%s)", warned);
    errno = 0;
    CHECK(store_revoke_key(&s, "not-a-key", NULL, NULL) == -1 && errno == EINVAL,
          "-a of no key: EINVAL");

    /* -r: indexed ones, one no index lists, a line whose key another user took over. */
    login(&s, "192.0.2.7", "bob", 0, &held);
    login(&s, "2001:db8:1:2::_64", "bob", 0, &held);
    put_str(dir, "192.0.2.8", "relaylease1 192.0.2.8 bob\n");
    login(&s, "192.0.2.9", "bob", 0, &held);
    login(&s, "192.0.2.9", "alice", 0, &held);
    memset(&v, 0, sizeof v);
    CHECK_LONG(store_revoke_user(&s, "bob", note_listed, &v), 4, "-r bob: four removed");
    CHECK_LONG(v.n, 4, "fn saw four");
    CHECK(!exists(dir, "192.0.2.2") && !exists(dir, "192.0.2.7") && !exists(dir, "192.0.2.8") &&
              !exists(dir, "2001:db8:1:2::_64"),
          "bob's records are gone, the unindexed one too");
    CHECK(exists(dir, "192.0.2.9") && exists(dir, "192.0.2.5"),
          "alice's is not, nor the invalid one");
    CHECK(!is_regular(top, b + strlen(top) + 1), "bob's bucket, empty, is gone");
    CHECK_LONG(store_revoke_user(&s, "bob", NULL, NULL), 0, "-r bob again: none");
    CHECK_LONG(store_revoke_user(&s, "nobody", NULL, NULL), 0, "-r of a stranger: none");
    errno = 0;
    CHECK(store_revoke_user(&s, "bad user", NULL, NULL) == -1 && errno == EINVAL,
          "-r of a name that is no user's: EINVAL");
    CHECK(login(&s, "192.0.2.10", "bob", 1, &held) == STORE_LOGIN_RECORDED,
          "bob logs in again, under a cap of 1");

    /* More than a chunk. */
    for (i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "10.1.%d.%d", i / 256, i % 256);
        login(&s, key, "many", 0, &held);
    }
    CHECK_LONG(store_revoke_user(&s, "many", NULL, NULL), 300, "-r of 300 records: 300");
    CHECK(!exists(dir, "10.1.0.0") && !exists(dir, "10.1.1.43"), "all gone");
    CHECK(exists(dir, "192.0.2.10"), "bob's stays");
    alarm(0);
    store_close(&s);
}

int main(void)
{
    int status;

    log_init("unit-store");
    umask(022); /* the fixtures' modes are the ones they ask for */
    scratch_make("unit-store");
    alarm_fails();

    test_user_ok();
    test_fresh();
    test_record_lookup();
    test_parse();
    test_invalid();
    test_legacy();
    test_sweep();
    test_list();
    test_perms();
    test_extreme_times();
    test_future_sweep();
    test_temp();
    test_problems();
    test_redis_record();
    test_cap();
    test_cap_index();
    test_cap_sweep();
    test_revoke();

    status = unit_done();
    scratch_remove();
    return status;
}
