/* unit-merge.c: the tcprules merge, record by record. tcprules' lines give tcprules' records in
 * order; an allowance becomes a record of its own with the variables of the rule tcpserver
 * would have applied, plus RELAYCLIENT; a deny stays a deny; a rule that sets RELAYCLIENT is
 * left as it is; a static rule under an allowance's key gets RELAYCLIENT in place; an IPv6
 * allowance gets its prefix key and the ISATAP shadows, and a static rule inside it gets
 * RELAYCLIENT; with v4mapped an IPv4 allowance also gets its IPv6 texts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "addr.h"
#include "cdb/merge.h"
#include "unit.h"

/* The records put, in order, as "key=value" with each NUL in the value shown as '|'. */
struct sink {
    struct rbuf text;
    size_t n;
    int fail;     /* put fails with this errno once n reaches limit */
    size_t limit;
};

static int put(const char *k, size_t klen, const char *v, size_t vlen, void *arg)
{
    struct sink *s = arg;
    if (s->fail != 0 && s->n >= s->limit) {
        errno = s->fail;
        return -1;
    }
    s->n++;
    rbuf_put(&s->text, k, klen);
    rbuf_put(&s->text, "=", 1);
    for (size_t i = 0; i < vlen; i++)
        rbuf_put(&s->text, v[i] == '\0' ? "|" : v + i, 1);
    rbuf_put(&s->text, "\n", 2);
    s->text.len--; /* keep it a string */
    return 0;
}

static const char *rules =
    "# static rules\n"
    "10.9.:deny\n"
    "192.0.2.77:allow,EXACT=\"1\"\n"
    "192.0.2.:allow,NET=\"doc\"\n"
    "10.1.2.3:allow,RELAYCLIENT=\"x\"\n"
    "172.16.3-4.:allow,RANGE=\"r\"\n"
    "2001:db8:1:2::25:allow,INSIDE=\"1\"\n"
    "\n"
    ":allow,DEFAULT=\"1\"\n";

static void load(struct merge *m)
{
    int ok = merge_init(m) == 0;
    for (const char *p = rules; *p != '\0' && ok;) {
        const char *nl = strchr(p, '\n');
        size_t len = (size_t)(nl - p) + 1;
        enum rules_line r = merge_line(m, p, len);
        ok = r == RULES_RULE || r == RULES_SKIP;
        p += len;
    }
    CHECK(ok, "the static rules are read");
}

static int has(const struct sink *s, const char *line)
{
    return strstr(s->text.s, line) != NULL;
}

static void test_lines(void)
{
    struct merge m;
    merge_init(&m);
    CHECK(merge_line(&m, "# c\n", 4) == RULES_SKIP, "a comment is skipped");
    CHECK(merge_line(&m, "  \t\n", 4) == RULES_SKIP, "a line of blanks is skipped");
    CHECK(merge_line(&m, "no colon\n", 9) == RULES_NOCOLON, "a line with no colon: NOCOLON");
    CHECK(merge_line(&m, "1.2.3.4:zap\n", 12) == RULES_BAD, "an unknown action: BAD");
    CHECK(merge_line(&m, "1.2.x-3.:allow\n", 15) == RULES_BAD, "a range with a letter: BAD");
    CHECK(m.nrecs == 0, "none of them made a record");
    CHECK(merge_line(&m, "1.2.3-5.:allow\n", 15) == RULES_RULE && m.nrecs == 3,
          "a range makes one record per number");
    merge_free(&m);
}

static void test_merge(void)
{
    struct merge m;
    struct sink s = {{0}, 0, 0, 0};
    struct addr_policy pol = {64, 0, {0}};
    load(&m);
    CHECK(merge_start(&m, "", 0, &pol, put, &s) == 0 && m.nstatic == 8, "eight static records");
    const char *allow[] = {"192.0.2.5", "192.0.2.77", "10.9.1.1", "10.1.2.3", "172.16.1.1",
                           "172.16.4.9", "2001:db8:1:2::_64"};
    int ok = 1;
    for (size_t i = 0; i < sizeof allow / sizeof allow[0]; i++)
        ok = ok && merge_grant(&m, allow[i], strlen(allow[i])) == 0;
    CHECK(ok, "seven allowances granted");
    CHECK(s.n == 3 && has(&s, "192.0.2.5=+NET=doc|+RELAYCLIENT=|\n") &&
              has(&s, "172.16.1.1=+DEFAULT=1|+RELAYCLIENT=|\n") &&
              has(&s, "172.16.4.9=+RANGE=r|+RELAYCLIENT=|\n"),
          "IPv4 records go out at once, with their rule's variables and RELAYCLIENT");
    merge_finish(&m);
    s.text.len = 0;
    s.text.s[0] = '\0';
    CHECK(merge_write(&m) == 0, "merge_write");
    const char *want =
        "10.9.=D|\n"
        "192.0.2.77=+EXACT=1|+RELAYCLIENT=|\n"
        "192.0.2.=+NET=doc|\n"
        "10.1.2.3=+RELAYCLIENT=x|\n"
        "172.16.3.=+RANGE=r|\n"
        "172.16.4.=+RANGE=r|\n"
        "2001:db8:1:2::25=+INSIDE=1|+RELAYCLIENT=|\n"
        "=+DEFAULT=1|\n"
        "2001:db8:1:2:=+DEFAULT=1|+RELAYCLIENT=|\n";
    if (!CHECK(strncmp(s.text.s, want, strlen(want)) == 0,
               "tcprules' records in order, the exact rule and the rule inside the IPv6 "
               "network given RELAYCLIENT, then the network's record"))
        unit_note("got: %.300s", s.text.s);
    CHECK(has(&s, "2001:db8:1:2:0:5efe:=+DEFAULT=1|\n") &&
              has(&s, "2001:db8:1:2:200:5efe:=+DEFAULT=1|\n"),
          "the ISATAP shadows keep the default rule's value, without RELAYCLIENT");
    const struct merge_counts *c = &m.count;
    CHECK(c->allowances == 7 && c->merged == 2 && c->kept == 2 && c->records == 4 &&
              c->partial == 0 && c->unmatchable == 0,
          "counts: 7 allowances, 2 merged, 2 left to their rule, 4 new records (got %lu %lu %lu "
          "%lu)",
          c->allowances, c->merged, c->kept, c->records);
    merge_free(&m);
    rbuf_free(&s.text);
}

static void test_v4mapped(void)
{
    struct merge m;
    struct sink s = {{0}, 0, 0, 0};
    struct addr_policy pol = {64, 0, {0}};
    load(&m);
    merge_start(&m, "ok", 1, &pol, put, &s);
    CHECK(merge_grant(&m, "198.51.100.7", 12) == 0 && s.n == 1,
          "an IPv4 allowance with v4mapped: its IPv4 record goes out at once");
    CHECK(merge_write(&m) == 0, "the rest at merge_write");
    CHECK(has(&s, "198.51.100.7=+DEFAULT=1|+RELAYCLIENT=ok|\n") &&
              has(&s, "::ffff:198.51.100.7=+DEFAULT=1|+RELAYCLIENT=ok|\n") &&
              has(&s, "64:ff9b::c633:6407=+DEFAULT=1|+RELAYCLIENT=ok|\n"),
          "is granted under its IPv4 text, ::ffff:a.b.c.d and the NAT64 form");
    merge_free(&m);
    rbuf_free(&s.text);
}

static void test_failures(void)
{
    struct merge m;
    struct sink s = {{0}, 0, ENOSPC, 0};
    struct addr_policy pol = {64, 0, {0}};
    load(&m);
    merge_start(&m, "", 1, &pol, put, &s);
    errno = 0;
    CHECK(merge_grant(&m, "198.51.100.7", 12) == -1 && errno == ENOSPC,
          "a put that fails is passed back by merge_grant, with its errno");
    s.limit = 3;
    errno = 0;
    CHECK(merge_write(&m) == -1 && errno == ENOSPC && s.n == 3,
          "and by merge_write, which stops there");
    merge_free(&m);
    rbuf_free(&s.text);
    struct merge e;
    merge_init(&e);
    merge_start(&e, "", 0, &pol, put, &s);
    CHECK(merge_grant(&e, "2001:db8::_200", 14) == 0 && e.count.records == 0,
          "a key that does not parse grants nothing");
    merge_free(&e);
}

int main(void)
{
    test_lines();
    test_merge();
    test_v4mapped();
    test_failures();
    return unit_done();
}
