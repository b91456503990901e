/* relay-policy: a Postfix SMTPD policy server (SMTPD_POLICY_README). For each request it
 * answers "action=OK" when the client has a fresh allowance, the decision relay-check makes
 * (grant.c), and "action=DUNNO" otherwise, so that Postfix's other restrictions decide. It
 * serves requests on descriptor 0 and answers on 1 until the input ends, under spawn(8),
 * tcpserver or any listener that hands it a connection. It only reads the store. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "grant.h"
#include "io.h"
#include "log.h"
#include "policy.h"
#include "settings.h"
#include "store.h"

/* Room for two of the largest requests: whatever is left of one after the complete ones are
 * answered always fits, with as much again to read into in one call. */
#define IN_MAX (2 * POLICY_REQUEST_MAX)
/* Replies wait here until no complete request is left to answer: one write per batch. */
#define OUT_MAX 16384
#define REPLY_OK "action=OK\n\n"
#define REPLY_DUNNO "action=DUNNO\n\n"

/* The last decision logged, so that the 50 requests of a 50-recipient message (one SMTP
 * transaction: one instance) log one line, not 50. */
#define INSTANCE_MAX 255
struct said {
    char instance[INSTANCE_MAX];
    size_t instance_len;    /* 0: none, and nothing is left unsaid */
    int what;
    char key[POLICY_CLIENT_MAX + ADDR_KEY_MAX]; /* a key, or an address as it was sent */
};

/* One connection's state: the requests read and not yet answered, the replies not yet
 * written, the last decision logged. */
struct conn {
    char in[IN_MAX];
    size_t in_start, in_end;
    char out[OUT_MAX];
    size_t out_len;
    struct said last;
};

/* Was this decision about the client logged already in this transaction? If not, it is
 * remembered as the last one logged, and the caller logs it. A request with no instance, or
 * one too long to keep, is always logged. */
static int said(struct said *last, const struct policy_request *r, int what, const char *key)
{
    if (last->instance_len != 0 && last->instance_len == r->instance_len && last->what == what &&
        memcmp(last->instance, r->instance, r->instance_len) == 0 && strcmp(last->key, key) == 0)
        return 1;
    last->instance_len = 0;
    if (r->instance_len == 0 || r->instance_len > sizeof last->instance)
        return 0;
    memcpy(last->instance, r->instance, r->instance_len);
    last->instance_len = r->instance_len;
    last->what = what;
    (void)snprintf(last->key, sizeof last->key, "%s", key);
    return 0;
}

/* Decisions other than grant.h's own, for said(). */
enum { SAID_SASL = 100, SAID_NEVER, SAID_BAD };

/* Is the client to relay? 1 or 0, with one line in the log (relay-check's words). */
static int decide(const struct settings *cfg, struct said *last, const struct policy_request *r,
                  time_t now)
{
    /* SMTP AUTH users are permit_sasl_authenticated's to decide. */
    if (r->sasl) {
        if (cfg->log && !said(last, r, SAID_SASL, r->client_text))
            log_info("dunno %s sasl_username set: left to SMTP AUTH", r->client_text);
        return 0;
    }
    /* Not a malformed request: the connection stays, and Postfix's other restrictions
     * decide. */
    if (!r->client_ok) {
        if (!said(last, r, SAID_BAD, r->client_text))
            log_warn("client_address is not an address: \"%s\": granting nothing",
                     r->client_text);
        return 0;
    }
    char key[ADDR_KEY_MAX];
    if (addr_key(key, &r->client, &cfg->keys) != 0) {
        if (cfg->log && !said(last, r, SAID_NEVER, r->client_text))
            log_info("refused %s: an address that may never relay", r->client_text);
        return 0;
    }
    /* Said once, by settings_load: nothing more to say about this client. */
    if (!cfg->relayclient_ok)
        return 0;

    struct record rec;
    const char *why;
    char name[STORE_NAME_MAX];
    long age;
    enum grant g = grant_judge(cfg, key, now, &rec, &age, &why);
    int err = errno;
    const char *user = rec.user[0] != '\0' ? rec.user : "-";
    int quiet = said(last, r, (int)g, key);
    switch (g) {
    case GRANT_YES:
        if (cfg->log && !quiet)
            log_info("granted %s user=%s age=%ld", key, user, age);
        return 1;
    case GRANT_NONE:
        if (cfg->log && !quiet)
            log_info("refused %s not found", key);
        return 0;
    case GRANT_INVALID:
        if (!quiet)
            log_warn("invalid record %s: %s: granting nothing",
                     store_name(cfg, key, name, sizeof name), why);
        return 0;
    case GRANT_ERROR:
        if (!quiet)
            log_warn("unable to read %s: %s: granting nothing",
                     store_name(cfg, key, name, sizeof name),
                     why[0] != '\0' ? why : strerror(err));
        return 0;
    case GRANT_FUTURE:
        if (cfg->log && !quiet)
            log_info("refused %s login time %lu s in the future user=%s", key,
                     age == LONG_MIN ? (unsigned long)LONG_MAX + 1 : (unsigned long)-age, user);
        return 0;
    case GRANT_EXPIRED:
        if (cfg->log && !quiet)
            log_info("refused %s expired user=%s age=%ld", key, user, age);
        return 0;
    }
    return 0;
}

static void flush(struct conn *c)
{
    if (c->out_len > 0 && io_write(1, c->out, c->out_len) != 0)
        log_fatal(111, "unable to write the reply: %s", strerror(errno));
    c->out_len = 0;
}

static void reply(struct conn *c, int ok)
{
    const char *s = ok ? REPLY_OK : REPLY_DUNNO;
    size_t n = ok ? sizeof REPLY_OK - 1 : sizeof REPLY_DUNNO - 1;
    if (c->out_len + n > sizeof c->out)
        flush(c);
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

/* Under spawn(8), descriptors 0, 1 and 2 are one socket, Postfix's: a line on 2 would be read
 * as a reply. A socket only: a person who runs it at a terminal sees its lines there. When
 * fstat fails we cannot tell, and a line lost to syslog costs less than a reply Postfix
 * cannot read (a 451 for every client). */
static int stderr_is_peer(void)
{
    struct stat e, s;
    if (fstat(2, &e) != 0)
        return 1;
    if (!S_ISSOCK(e.st_mode))
        return 0;
    for (int fd = 0; fd <= 1; fd++)
        if (fstat(fd, &s) != 0 || (s.st_dev == e.st_dev && s.st_ino == e.st_ino))
            return 1;
    return 0;
}

/* Read more of the input after what is kept. 0 at the end of the input. */
static size_t fill(struct conn *c)
{
    if (c->in_start > 0) {
        memmove(c->in, c->in + c->in_start, c->in_end - c->in_start);
        c->in_end -= c->in_start;
        c->in_start = 0;
    }
    for (;;) {
        ssize_t got = read(0, c->in + c->in_end, sizeof c->in - c->in_end);
        if (got >= 0) {
            c->in_end += (size_t)got;
            return (size_t)got;
        }
        if (errno != EINTR)
            log_fatal(111, "unable to read the request: %s", strerror(errno));
    }
}

int main(int argc, char **argv)
{
    struct settings cfg;
    struct policy_request r;
    const char *why;
    static struct conn c; /* 144 KiB: static storage, not the stack */

    (void)argv;
    log_init("relay-policy");
    if (stderr_is_peer())
        log_syslog();
    if (argc != 1)
        log_fatal(100, "usage: relay-policy (the settings are in the environment)");
    settings_load(&cfg, log_warn);
    /* A peer that has gone is a write error, said in one line, not a silent death. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        log_fatal(111, "unable to ignore SIGPIPE: %s", strerror(errno));
    /* A listener may hand over its connection non-blocking: a read that found nothing yet
     * would then be taken for a read error. spawn(8) clears it itself. If fcntl fails the
     * descriptor is left as it is: most likely blocking already, and if not, the first read
     * that finds nothing ends the connection with one line, as any read error does. */
    for (int fd = 0; fd <= 1; fd++) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0 && (fl & O_NONBLOCK))
            (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }

    for (;;) {
        /* Every complete request in the buffer is answered before the replies are sent. */
        size_t got = fill(&c);
        enum policy_result res;
        /* The clock is read for each request: a slow store must not let a later request of
         * the batch be judged at an earlier time. */
        while ((res = policy_parse(c.in + c.in_start, c.in_end - c.in_start, &r, &why)) ==
               POLICY_OK) {
            reply(&c, decide(&cfg, &c.last, &r, time(NULL)));
            c.in_start += r.used;
        }
        flush(&c);
        if (res == POLICY_BAD)
            log_fatal(100, "malformed request: %s: closing the connection", why);
        if (got == 0) {
            if (c.in_end == c.in_start)
                return 0;
            log_fatal(100, "malformed request: the input ended inside it");
        }
    }
}
