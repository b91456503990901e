/* unit-policy: the policy request parser (policy.c). The requests Postfix 3.7 sends (IPv4,
 * IPv6, after SMTP AUTH) parse, with the client, the SASL flag and the instance; two
 * requests in one buffer parse one after the other; every prefix of a valid request asks for
 * more; a client_address that is not an address (Postfix's "unknown") parses, flagged; each
 * hostile class (limits, NUL, names, request=, client_address, sasl_username twice) is refused, and every prefix of it is refused or asks for more, never
 * accepted. Each input is parsed from an exact-size copy, so that ASan sees a read past it. */
#include <stdlib.h>
#include <string.h>
#include "policy.h"
#include "unit.h"

/* What Postfix 3.7.11 sent for one RCPT (captured under spawn(8)); CLIENT and SASL vary. */
#define POSTFIX_REQ(client, sasl_method, sasl_user)                                          \
    "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"               \
    "client_address=" client "\nclient_name=localhost\nclient_port=44142\n"                 \
    "reverse_client_name=localhost\nserver_address=127.0.0.1\nserver_port=58959\n"          \
    "helo_name=client.example\nsender=a@example.org\nrecipient=b@elsewhere.example\n"       \
    "recipient_count=0\nqueue_id=\ninstance=4aad.6b0fbe34.e18b2.0\nsize=0\netrn_domain=\n"  \
    "stress=\nsasl_method=" sasl_method "\nsasl_username=" sasl_user "\nsasl_sender=\n"     \
    "ccert_subject=\nccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\n"        \
    "encryption_protocol=\nencryption_cipher=\nencryption_keysize=0\npolicy_context=\n\n"

static enum policy_result parse(const char *s, size_t n, struct policy_request *r,
                                const char **why)
{
    char *copy = malloc(n ? n : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, s, n);
    enum policy_result res = policy_parse(copy, n, r, why);
    /* instance points into the copy: keep the offset only. */
    if (res == POLICY_OK && r->instance != NULL)
        r->instance = s + (r->instance - copy);
    free(copy);
    return res;
}

/* Every strict prefix of s (n bytes) gives POLICY_MORE (ok_full) or MORE/BAD, and once BAD,
 * every longer prefix is BAD too. Returns the first length that broke it, or 0. */
static size_t prefixes(const char *s, size_t n, int ok_full)
{
    struct policy_request r;
    const char *why;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        enum policy_result res = parse(s, i, &r, &why);
        if (res == POLICY_OK || (ok_full && res != POLICY_MORE) || (bad && res != POLICY_BAD))
            return i ? i : n + 1;
        bad = res == POLICY_BAD;
    }
    return 0;
}

static void valid(const char *what, const char *s, const char *client, int family, int sasl,
                  const char *instance)
{
    struct policy_request r;
    const char *why;
    size_t n = strlen(s);
    enum policy_result res = parse(s, n, &r, &why);
    if (!CHECK(res == POLICY_OK, "%s: accepted", what)) {
        unit_note("refused: %s", why);
        return;
    }
    CHECK_LONG(r.used, n, "%s: takes the whole request", what);
    CHECK_STR(r.client_text, client, "%s: client_address", what);
    CHECK_LONG(r.client.family, family, "%s: its family", what);
    CHECK(r.client_ok, "%s: the client is an address", what);
    CHECK_LONG(r.sasl, sasl, "%s: sasl_username set or not", what);
    if (instance == NULL)
        CHECK(r.instance == NULL, "%s: no instance", what);
    else
        CHECK(r.instance != NULL && r.instance_len == strlen(instance) &&
                  memcmp(r.instance, instance, r.instance_len) == 0,
              "%s: instance", what);
    CHECK_LONG(prefixes(s, n, 1), 0, "%s: every prefix asks for more", what);
    /* What follows the empty line is not looked at, whatever it is. */
    char *more = malloc(n + 6);
    if (more == NULL)
        abort();
    memcpy(more, s, n);
    memcpy(more + n, "\0\n=\xff\n", 6);
    CHECK(parse(more, n + 6, &r, &why) == POLICY_OK && r.used == n,
          "%s: bytes after it are left alone", what);
    free(more);
}

static void refused(const char *what, const char *s, size_t n, const char *want_why)
{
    struct policy_request r;
    const char *why = NULL;
    enum policy_result res = parse(s, n, &r, &why);
    if (CHECK(res == POLICY_BAD, "%s: refused", what) && want_why != NULL)
        CHECK_STR(why, want_why, "%s: why", what);
    CHECK_LONG(prefixes(s, n, 0), 0, "%s: no prefix is accepted, and once refused stays so",
               what);
}

#define REFUSED(what, lit, why) refused((what), (lit), sizeof(lit) - 1, (why))
#define HEAD "request=smtpd_access_policy\n"
#define V4 "client_address=192.0.2.7\n"

/* A request of exactly total bytes: HEAD, V4, filler lines of at most line bytes each, and
 * the empty line. Returns a malloc'ed string (total + 1 bytes, NUL-terminated). */
static char *sized(size_t total, size_t line)
{
    char *s = malloc(total + 1);
    if (s == NULL)
        abort();
    size_t n = strlen(HEAD V4);
    memcpy(s, HEAD V4, n);
    while (n < total - 1) {
        size_t left = total - 1 - n; /* bytes of lines still to write */
        size_t take = left > line + 1 ? line + 1 : left;
        if (left - take > 0 && left - take < 3)
            take -= 3; /* leave room for one more "x=\n" */
        s[n] = 'x';
        s[n + 1] = '=';
        memset(s + n + 2, 'a', take - 3);
        s[n + take - 1] = '\n';
        n += take;
    }
    s[n++] = '\n';
    s[n] = '\0';
    return s;
}

int main(void)
{
    valid("Postfix 3.7, IPv4", POSTFIX_REQ("192.0.2.7", "", ""), "192.0.2.7", 4, 0,
          "4aad.6b0fbe34.e18b2.0");
    valid("Postfix 3.7, IPv6", POSTFIX_REQ("::1", "", ""), "::1", 6, 0, "4aad.6b0fbe34.e18b2.0");
    valid("Postfix 3.7, after AUTH", POSTFIX_REQ("192.0.2.7", "PLAIN", "bob"), "192.0.2.7", 4, 1,
          "4aad.6b0fbe34.e18b2.0");
    valid("the least", HEAD V4 "\n", "192.0.2.7", 4, 0, NULL);
    valid("client first", V4 HEAD "\n", "192.0.2.7", 4, 0, NULL);
    valid("IPv6 in full", HEAD "client_address=2001:db8::1\n\n", "2001:db8::1", 6, 0, NULL);
    valid("IPv4-mapped: the IPv4 client", HEAD "client_address=::ffff:192.0.2.7\n\n",
          "::ffff:192.0.2.7", 4, 0, NULL);
    valid("empty sasl_username: not set", HEAD V4 "sasl_username=\n\n", "192.0.2.7", 4, 0, NULL);
    valid("a sasl_username of one byte", HEAD V4 "sasl_username=b\n\n", "192.0.2.7", 4, 1, NULL);
    valid("unknown names and odd values ignored",
          HEAD "mail_version=3.8.0\ncompatibility_level=3.6\nx==\ny=a=b\nA-b.c_9= \xff\r\n" V4 "\n",
          "192.0.2.7", 4, 0, NULL);
    valid("the first instance is kept", HEAD V4 "instance=a\ninstance=b\n\n", "192.0.2.7", 4, 0,
          "a");
    valid("an empty instance", HEAD V4 "instance=\n\n", "192.0.2.7", 4, 0, "");

    /* Two requests in one buffer: one at a time, in order. */
    {
        const char two[] = POSTFIX_REQ("192.0.2.7", "", "") POSTFIX_REQ("2001:db8::1", "PLAIN", "bob");
        struct policy_request r;
        const char *why;
        size_t first = strlen(POSTFIX_REQ("192.0.2.7", "", ""));
        CHECK(parse(two, sizeof two - 1, &r, &why) == POLICY_OK && r.used == first &&
                  strcmp(r.client_text, "192.0.2.7") == 0 && !r.sasl,
              "two in one buffer: the first");
        CHECK(parse(two + first, sizeof two - 1 - first, &r, &why) == POLICY_OK &&
                  r.used == sizeof two - 1 - first && strcmp(r.client_text, "2001:db8::1") == 0 &&
                  r.sasl,
              "two in one buffer: then the second");
        /* Cut anywhere in the second: the first is whole, the rest asks for more. */
        int cut_ok = 1;
        for (size_t i = first; i < sizeof two - 1 && cut_ok; i++)
            cut_ok = parse(two, i, &r, &why) == POLICY_OK && r.used == first &&
                     parse(two + first, i - first, &r, &why) == POLICY_MORE;
        CHECK(cut_ok, "two in one buffer, cut at every byte of the second");
    }

    REFUSED("nothing but the empty line", "\n", "no request=");
    REFUSED("no request=", V4 "\n", "no request=");
    REFUSED("no client_address", HEAD "\n", "no client_address=");
    REFUSED("request= twice", HEAD V4 HEAD "\n", "request= twice");
    REFUSED("another request", "request=junk\n" V4 "\n", "request= is not smtpd_access_policy");
    REFUSED("an empty request", "request=\n" V4 "\n", "request= is not smtpd_access_policy");
    REFUSED("request= with a CR", "request=smtpd_access_policy\r\n" V4 "\n",
            "request= is not smtpd_access_policy");
    REFUSED("request= with a longer value", "request=smtpd_access_policyx\n" V4 "\n",
            "request= is not smtpd_access_policy");
    REFUSED("client_address twice", HEAD V4 V4 "\n", "client_address= twice");
    REFUSED("client_address twice, the first not an address",
            HEAD "client_address=unknown\n" V4 "\n", "client_address= twice");
    REFUSED("client_address twice, the second not an address",
            HEAD V4 "client_address=unknown\n\n", "client_address= twice");
    REFUSED("sasl_username twice", HEAD V4 "sasl_username=\nsasl_username=\n\n",
            "sasl_username= twice");
    REFUSED("a line with no =", HEAD V4 "junk\n\n", "a line with no '='");
    REFUSED("an empty name", HEAD V4 "=x\n\n", "an empty attribute name");
    REFUSED("a space in a name", HEAD V4 "client address=1\n\n", "an invalid attribute name");
    REFUSED("a name with a high byte", HEAD V4 "na\xffme=1\n\n", "an invalid attribute name");
    REFUSED("a name with a CR", "\r\n" HEAD V4 "\n", "a line with no '='");
    REFUSED("a NUL in a value", HEAD V4 "x=a\0b\n\n", "a NUL byte");
    REFUSED("a NUL in a name", HEAD "cl\0ient_address=192.0.2.7\n\n", "a NUL byte");
    REFUSED("a NUL in the address", HEAD "client_address=192.0.2.7\0\n\n", "a NUL byte");
    REFUSED("a NUL on a line not ended", HEAD V4 "x\0", "a NUL byte");

    static const char *bad_addrs[] = {
        "", "[::1]", "IPv6:::1", "[192.0.2.7]", "192.0.2.07", "192.0.2", "1.2.3.4.5",
        "192.0.2.256", " 192.0.2.7", "192.0.2.7 ", "192.0.2.7\r", "fe80::1%eth0", "::1/128",
        "2001:db8::1::1", "2001:db8:::1", "12345::", "g::1", "::ffff:192.0.2.7.1", "localhost",
        "0x7f.1", "127.1", "-1", "1:2:3:4:5:6:7:8:9",
        "0000:0000:0000:0000:0000:0000:0000:0000:0001",
        "1111111111111111111111111111111111111111111111111111111111111111",
    };
    /* Not an address: a request all the same (Postfix sends "unknown"), with client_ok 0,
     * for the program to answer DUNNO without closing the connection. */
    for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
        char req[256];
        int n = snprintf(req, sizeof req, HEAD "client_address=%s\n\n", bad_addrs[i]);
        char what[128];
        snprintf(what, sizeof what, "client_address=%s", bad_addrs[i]);
        struct policy_request r;
        const char *why;
        char want[POLICY_CLIENT_MAX + 1];
        snprintf(want, sizeof want, "%s", bad_addrs[i]);
        CHECK(parse(req, (size_t)n, &r, &why) == POLICY_OK && r.used == (size_t)n &&
                  !r.client_ok && r.client.family == 0 && strcmp(r.client_text, want) == 0,
              "%s: a request, the client not an address", what);
        CHECK_LONG(prefixes(req, (size_t)n, 1), 0, "%s: every prefix asks for more", what);
    }
    {
        struct policy_request r;
        const char *why;
        static const char unknown[] = POSTFIX_REQ("unknown", "", "");
        CHECK(parse(unknown, sizeof unknown - 1, &r, &why) == POLICY_OK && !r.client_ok &&
                  strcmp(r.client_text, "unknown") == 0,
              "Postfix's client_address=unknown: a request, the client not an address");
        static const char ok[] = POSTFIX_REQ("192.0.2.7", "", "");
        CHECK(parse(ok, sizeof ok - 1, &r, &why) == POLICY_OK && r.client_ok,
              "an address: client_ok");
    }

    /* The limits: exactly at each one is accepted, one more is refused. */
    {
        char *s = sized(strlen(HEAD V4) + POLICY_LINE_MAX + 2, POLICY_LINE_MAX);
        valid("a line of POLICY_LINE_MAX bytes", s, "192.0.2.7", 4, 0, NULL);
        free(s);
        s = sized(strlen(HEAD V4) + POLICY_LINE_MAX + 3, POLICY_LINE_MAX + 1);
        refused("a line one byte longer", s, strlen(s), "a line too long");
        /* Without its newline: refused as soon as it is too long. */
        CHECK_LONG(prefixes(s, strlen(HEAD V4) + POLICY_LINE_MAX + 1, 1), 0,
                   "a line of POLICY_LINE_MAX bytes not ended yet asks for more");
        free(s);

        s = sized(POLICY_REQUEST_MAX, POLICY_LINE_MAX);
        valid("a request of POLICY_REQUEST_MAX bytes", s, "192.0.2.7", 4, 0, NULL);
        free(s);
        s = sized(POLICY_REQUEST_MAX + 1, POLICY_LINE_MAX);
        refused("a request one byte bigger", s, strlen(s), "a request too big");
        /* Its POLICY_REQUEST_MAX bytes, every line whole: no room left for the empty line. */
        struct policy_request r;
        const char *why;
        CHECK(parse(s, POLICY_REQUEST_MAX, &r, &why) == POLICY_BAD,
              "POLICY_REQUEST_MAX bytes with no end yet: refused at once");
        free(s);
    }
    {
        /* POLICY_ATTRS_MAX lines in all, then one more. */
        size_t cap = (POLICY_ATTRS_MAX + 1) * 4 + sizeof HEAD V4 + 2;
        char *s = malloc(cap);
        if (s == NULL)
            abort();
        size_t n = (size_t)snprintf(s, cap, "%s", HEAD V4);
        for (int i = 2; i < POLICY_ATTRS_MAX; i++) {
            memcpy(s + n, "a=b\n", 4);
            n += 4;
        }
        s[n] = '\n';
        s[n + 1] = '\0';
        valid("POLICY_ATTRS_MAX attributes", s, "192.0.2.7", 4, 0, NULL);
        memcpy(s + n, "a=b\n\n", 6);
        refused("one attribute more", s, n + 5, "too many attributes");
        free(s);
    }
    {
        /* A stream of '\n'-less bytes, or of attributes, never grows without bound. */
        static char flood[POLICY_REQUEST_MAX + 100];
        memset(flood, 'a', sizeof flood);
        struct policy_request r;
        const char *why;
        CHECK(parse(flood, sizeof flood, &r, &why) == POLICY_BAD, "a flood with no newline");
        for (size_t i = 0; i + 4 <= sizeof flood; i += 4)
            memcpy(flood + i, "xa=\n", 4);
        CHECK(parse(flood, sizeof flood, &r, &why) == POLICY_BAD, "a flood of short lines");
    }
    /* The review's cases. */
    {
        struct policy_request r;
        const char *why;
        /* A valid address and then junk past what is kept: never the address cut short. */
        char req[512];
        int n = snprintf(req, sizeof req, HEAD "client_address=192.0.2.7%0100d\n\n", 0);
        CHECK(parse(req, (size_t)n, &r, &why) == POLICY_OK && !r.client_ok &&
                  strlen(r.client_text) == POLICY_CLIENT_MAX &&
                  strncmp(r.client_text, "192.0.2.7000", 12) == 0,
              "a long client_address: cut to POLICY_CLIENT_MAX for the log, not an address");
        n = snprintf(req, sizeof req, HEAD "client_address=%.*s\n\n", POLICY_CLIENT_MAX + 1,
                     "::ffff:192.0.2.7                                                    ");
        CHECK(parse(req, (size_t)n, &r, &why) == POLICY_OK && !r.client_ok,
              "an address padded with spaces past the limit: not an address");
        /* The first request's client never shows through in the second's. */
        static const char two[] = HEAD V4 "\n" HEAD "client_address=unknown\n\n";
        size_t first = strlen(HEAD V4 "\n");
        CHECK(parse(two, sizeof two - 1, &r, &why) == POLICY_OK && r.client_ok &&
                  parse(two + first, sizeof two - 1 - first, &r, &why) == POLICY_OK &&
                  !r.client_ok && r.client.family == 0 && strcmp(r.client_text, "unknown") == 0,
              "an address, then unknown: the second has no address of the first's");
        static const char sasl_then[] = HEAD V4 "sasl_username=bob\n\n" HEAD V4 "\n";
        first = strlen(HEAD V4 "sasl_username=bob\n\n");
        CHECK(parse(sasl_then, sizeof sasl_then - 1, &r, &why) == POLICY_OK && r.sasl &&
                  parse(sasl_then + first, sizeof sasl_then - 1 - first, &r, &why) ==
                      POLICY_OK &&
                  !r.sasl && r.instance == NULL,
              "sasl_username set, then a request without it: not set");
    }
    REFUSED("CRLF line ends", "request=smtpd_access_policy\r\nclient_address=192.0.2.7\r\n\r\n",
            "request= is not smtpd_access_policy");
    REFUSED("a CR for the empty line", HEAD V4 "\r\n", "a line with no '='");
    REFUSED("an address name with a trailing space", HEAD "client_address =192.0.2.7\n\n",
            "an invalid attribute name");
    return unit_done();
}
