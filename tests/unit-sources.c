/* unit-sources.c: the allowances' sources, in a scratch directory. A snapshot is used only if
 * it passes every check (of this store, whole, a regular file nobody else may write); the
 * journal's keys are gathered once each, its other lines counted; each is looked up in the
 * store as relay-check would, and an invalid record is reported and grants nothing; the lines
 * kept make a snapshot that loads again. */
#define _XOPEN_SOURCE 700 /* mkdtemp, symlink */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cdb/sources.h"
#include "store/dir.h"
#include "io.h"
#include "log.h"
#include "unit.h"
#include "unit-files.h"

static const struct snapshot_id id = {7, 42};

struct seen {
    char text[4096];
    size_t n, from_snapshot;
};

static void note(const char *line, const struct snapshot_entry *e, int from_snapshot, void *arg)
{
    struct seen *s = arg;
    size_t used = strlen(s->text);
    snprintf(s->text + used, sizeof s->text - used, "%.*s|", (int)e->len - 1, line);
    s->n++;
    s->from_snapshot += (size_t)from_snapshot;
}

/* The reporter a program would pass (log_warn): the lines, each ending in '|'. */
static char reported[2048];

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
    size_t used = strlen(reported);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reported + used, sizeof reported - used, fmt, ap);
    va_end(ap);
    used = strlen(reported);
    snprintf(reported + used, sizeof reported - used, "|");
}

static void test_snapshot(void)
{
    struct sources s;
    const char *why = "";
    char p[4200];
    int r;
    sources_init(&s);
    path_of(p, sizeof p, top, "snap");
    CHECK(sources_load_snapshot(&s, p, &id, &why) == 1, "no snapshot: 1");

    char text[512];
    size_t n = snapshot_header(text, &id, 2);
    n += snapshot_line(text + n, "192.0.2.5", 9, 1000);
    n += snapshot_line(text + n, "2001:db8:1:2::_64", 17, 2000);
    put_mode(top, "snap", text, n, 0600);
    CHECK(sources_load_snapshot(&s, p, &id, &why) == 0, "a good snapshot loads");
    CHECK(sources_add(&s, "10.0.0.1", 8, 3000) == 0, "an allowance added after it");
    struct seen seen = {"", 0, 0};
    sources_each(&s, note, &seen);
    CHECK_STR(seen.text, "192.0.2.5 1000|2001:db8:1:2::_64 2000|10.0.0.1 3000|",
              "the snapshot's lines, then the added one");
    CHECK(seen.n == 3 && seen.from_snapshot == 2, "two of them from the snapshot");

    const struct snapshot_id other = {7, 43};
    /* Each load comes before its CHECK, whose arguments (the reason among them) are evaluated
     * in no set order. */
    r = sources_load_snapshot(&s, p, &other, &why);
    CHECK(r == -1 && s.snap == NULL && s.nallow == 0,
          "a snapshot of another store is refused (%s), and nothing is left of it", why);
    put_mode(top, "snap", text, n - 3, 0600);
    r = sources_load_snapshot(&s, p, &id, &why);
    CHECK(r == -1, "a cut snapshot is refused (%s)", why);
    put_mode(top, "snap", text, n, 0622);
    r = sources_load_snapshot(&s, p, &id, &why);
    CHECK(r == -1 && strcmp(why, "writable by its group or by others") == 0,
          "a snapshot others may write is refused (%s)", why);
    put_mode(top, "snap", "", 0, 0600);
    CHECK(sources_load_snapshot(&s, p, &id, &why) == -1 && strcmp(why, "empty") == 0,
          "an empty snapshot is refused");
    char q[4200];
    path_of(q, sizeof q, top, "link");
    put_mode(top, "snap", text, n, 0600);
    if (symlink(p, q) == 0)
        CHECK(sources_load_snapshot(&s, q, &id, &why) == -1 &&
                  strcmp(why, "a symbolic link") == 0,
              "a symbolic link to a good snapshot is refused");
    path_of(q, sizeof q, top, "dir");
    mkdir(q, 0700);
    CHECK(sources_load_snapshot(&s, q, &id, &why) == -1 && strcmp(why, "not a regular file") == 0,
          "a directory is refused");
    sources_free(&s);
}

static void test_journal(void)
{
    struct sources s;
    const char *why = "";
    unsigned long bad = 0;
    char p[4200];
    sources_init(&s);
    const char *j = "192.0.2.5\nnot a key\n192.0.2.5\n2001:db8:1:2::_64\n\n192.0.2.6";
    put_mode(top, "journal", j, strlen(j), 0600);
    path_of(p, sizeof p, top, "journal");
    int fd = open(p, O_RDONLY);
    CHECK(sources_read_journal(&s, fd, &bad, &why) == 0, "a journal is read");
    close(fd);
    CHECK(sources_journal_keys(&s) == 2 && bad == 3,
          "two keys, each once; a line that is not a key, an empty one and one with no newline "
          "counted as bad (%lu)", bad);
    CHECK(sources_in_journal(&s, "192.0.2.5", 9) && sources_in_journal(&s, "2001:db8:1:2::_64", 17),
          "both are in the journal");
    CHECK(!sources_in_journal(&s, "192.0.2.6", 9) && !sources_in_journal(&s, "192.0.2.", 8) &&
              !sources_in_journal(&s, "192.0.2.55", 10),
          "nothing else is");

    /* The store: one good record, one that others may write. */
    char store[4200];
    path_of(store, sizeof store, top, "store");
    mkdir(store, 0755);
    struct store st;
    if (CHECK(store_dir_open(&st, store, NULL) == 0, "setup: a store")) {
        CHECK(store_record(&st, "192.0.2.5", "bob") == 0 &&
                  store_record(&st, "2001:db8:1:2::_64", "carol") == 0,
              "setup: two records");
        store_close(&st);
    }
    char rec[4300];
    snprintf(rec, sizeof rec, "%s/2001:db8:1:2::_64", store);
    chmod(rec, 0666);
    reported[0] = '\0';
    CHECK(sources_lookup_journal(&s, store, problem) == 0, "the journal's keys are looked up");
    char want[4400];
    snprintf(want, sizeof want, "invalid record %s: writable by its group or others|", rec);
    CHECK_STR(reported, want, "the record others may write is reported, with why");
    struct seen seen = {"", 0, 0};
    sources_each(&s, note, &seen);
    CHECK(seen.n == 1 && strncmp(seen.text, "192.0.2.5 ", 10) == 0,
          "the good record is added, with its login time; the bad one grants nothing");

    /* A journal too big to be worth reading key by key. */
    static char big[SOURCES_JOURNAL_MAX + 1];
    memset(big, '\n', sizeof big);
    put_mode(top, "journal", big, sizeof big, 0600);
    fd = open(p, O_RDONLY);
    struct sources t;
    sources_init(&t);
    CHECK(sources_read_journal(&t, fd, &bad, &why) == 1 && sources_journal_keys(&t) == 0,
          "a journal over %ld bytes: 1, nothing read", SOURCES_JOURNAL_MAX);
    close(fd);
    CHECK(sources_read_journal(&t, -1, &bad, &why) == -1 && strcmp(why, strerror(EBADF)) == 0,
          "a journal that cannot be read: -1 and why");
    sources_free(&t);
    sources_free(&s);
}

static void test_keep(void)
{
    struct sources s;
    sources_init(&s);
    const char *why = "";
    char text[512], p[4200];
    int r;
    size_t n = snapshot_header(text, &id, 3);
    size_t body = n;
    n += snapshot_line(text + n, "192.0.2.1", 9, 1000);
    n += snapshot_line(text + n, "192.0.2.2", 9, 1001);
    n += snapshot_line(text + n, "192.0.2.3", 9, 1002);
    put_mode(top, "snap", text, n, 0600);
    path_of(p, sizeof p, top, "snap");
    CHECK(sources_load_snapshot(&s, p, &id, &why) == 0, "setup: a snapshot of three");
    CHECK(sources_add(&s, "10.0.0.1", 8, 5) == 0, "setup: an added allowance");
    /* Keep the first two (neighbours: one run), drop the third, keep the added one. */
    const char *l1 = s.snap + body;
    size_t len = strlen("192.0.2.1 1000\n");
    CHECK(sources_keep(&s, l1, len) == 0 && sources_keep(&s, l1 + len, len) == 0 &&
              sources_keep(&s, s.akeys.s, s.allow[0].len) == 0,
          "three lines kept");
    CHECK(s.nkept == 3 && s.keptlines == 3, "the two neighbours make one run (%zu slots)", s.nkept);
    char out[4200];
    path_of(out, sizeof out, top, "next");
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int w = sources_write_snapshot(&s, fd, &id);
    CHECK(close(fd) == 0 && w == 0, "the next snapshot is written");
    struct sources t;
    sources_init(&t);
    r = sources_load_snapshot(&t, out, &id, &why);
    CHECK(r == 0, "and loads (%s)", why);
    struct seen seen = {"", 0, 0};
    sources_each(&t, note, &seen);
    CHECK_STR(seen.text, "192.0.2.1 1000|192.0.2.2 1001|10.0.0.1 5|", "with the kept lines");
    sources_free(&t);

    struct sources e;
    sources_init(&e);
    fd = open(out, O_WRONLY | O_TRUNC);
    w = sources_write_snapshot(&e, fd, &id);
    CHECK(close(fd) == 0 && w == 0, "a snapshot with no line");
    sources_init(&t);
    CHECK(sources_load_snapshot(&t, out, &id, &why) == 0 && t.nallow == 0, "loads, empty");
    sources_free(&t);
    sources_free(&e);
    sources_forget(&s);
    CHECK(s.snap == NULL && s.nallow == 0, "sources_forget drops the snapshot and the allowances");
    sources_free(&s);
}

int main(void)
{
    log_init("unit-sources");
    umask(022);
    scratch_make("unit-sources");
    test_snapshot();
    test_journal();
    test_keep();
    int status = unit_done();
    scratch_remove();
    return status;
}
