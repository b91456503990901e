/* relay-cdb [-i | -s] rules.cdb rules.tmp < rules.txt: tcprules, with the fresh allowances
 * merged in.
 *
 * It reads tcprules' input exactly as tcprules does and writes the same records in the same
 * order. Then every fresh allowance in the store becomes a record of its own, ahead of the
 * rule that tcpserver would otherwise have applied to that client, with that rule's
 * variables plus RELAYCLIENT. A deny stays a deny, and a rule that sets RELAYCLIENT already
 * is left as it is. The file is written to rules.tmp, fsynced, closed and renamed over
 * rules.cdb: tcpserver opens the cdb for each connection, so it sees the old file or the new
 * one, never half of one. Any failure leaves rules.cdb as it was.
 *
 * Where the allowances come from:
 *   (none)  a full rescan of the store: every record opened, checked and read.
 *   -s      the same, and the result is saved as the snapshot (rules.cdb.idx) for -i, and
 *           the journal of logins (rules.cdb.journal) is emptied: the rescan covers it.
 *   -i      incremental: the snapshot, with each key in the journal looked up again in the
 *           store as relay-check would look it up. Anything wrong with the snapshot, or a
 *           build that did not finish before, means a full rescan (-s) instead.
 * -s and -i are the trigger's (trigger.c), which runs one build at a time; relay-expire's
 * build after its sweep is a -s, so whatever changed in the store without a login (a record
 * removed by hand, relay-ctrl's writer) reaches the cdb at the next sweep.
 *
 * The parts: cdb/rules.c reads tcprules' input, cdb/merge.c merges the allowances into its
 * records, cdb/sources.c gathers the allowances (snapshot, journal, rescan), cdb/writer.c
 * writes the cdb. This file tells the story and says what goes wrong. */
#define _GNU_SOURCE /* O_NOFOLLOW */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "buf.h"
#include "cdb/merge.h"
#include "cdb/rules.h"
#include "cdb/snapshot.h"
#include "cdb/sources.h"
#include "cdb/trigger.h"
#include "cdb/writer.h"
#include "io.h"
#include "log.h"
#include "owner.h"
#include "replace.h"
#include "settings.h"
#include "store.h"

enum mode {
    PLAIN,       /* a rescan, as tcprules' stand-in */
    SNAPSHOT,    /* -s: a rescan, saved as the snapshot; the journal is emptied */
    INCREMENTAL  /* -i: the snapshot and the journal */
};

/* One build: what it was asked, what it found, what it makes. */
struct build {
    enum mode mode;
    const char *cdbname, *tmpname;
    /* Beside the cdb: the snapshot, its temp file, the journal and the journal being read. */
    char idx[PATH_MAX], idxtmp[PATH_MAX], journal[PATH_MAX], taken[PATH_MAX];
    struct settings cfg;
    int v4mapped;
    struct snapshot_id id; /* the store's */
    struct sources src;
    struct merge merge;
    struct writer_cdb cdb;
    time_t now;
    /* How the allowances were found, for the log line. */
    int rescanned;
    int unsnapped;          /* the store has no identity (Redis): no snapshot, every build rescans */
    const char *why;        /* why a rescan, when -i was asked for */
    unsigned long jkeys;    /* -i: the keys in the journal */
    /* Fresh allowances under a key that relay-check never looks up with these settings, and
     * the first of them, for the one warning of the build. */
    unsigned long not_current;
    char first_not_current[ADDR_KEY_MAX];
};

static _Noreturn void nomem(void)
{
    log_fatal(111, "out of memory");
}

/* ---- the temp files ---------------------------------------------------------------------- */

/* The temp files this run has made and not yet renamed: every way out removes them, exit()
 * (log_fatal, out of memory) through atexit, a fatal signal through its handler. A flag is
 * set only once its name is complete, and cleared before the rename. File-scope, and the only
 * state that is: a signal handler has no other way to reach it. */
#define TMP_CDB 0
#define TMP_IDX 1
static char made_name[2][PATH_MAX];
static volatile sig_atomic_t made[2];

static void remove_made(void)
{
    for (int i = 0; i < 2; i++)
        if (made[i]) {
            made[i] = 0;
            (void)unlink(made_name[i]);
        }
}

static void on_fatal_signal(int sig)
{
    int e = errno;
    remove_made();
    (void)signal(sig, SIG_DFL);
    errno = e;
    (void)raise(sig); /* blocked while we run: delivered when the handler returns */
}

/* Catch the signals that would end the build, unless we were started with one ignored. */
static void catch_fatal_signals(void)
{
    static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGXFSZ, SIGXCPU,
                               SIGALRM, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigfillset(&sa.sa_mask);
        (void)sigaction(sigs[i], &sa, NULL); /* valid signals and handler: cannot fail */
    }
    if (atexit(remove_made) != 0)
        log_fatal(111, "unable to register the temp file's removal");
}

static void stale_removed(const char *tmp, void *arg)
{
    (void)arg;
    log_warn("removed %s, left by a build that did not finish", tmp);
}

/* writer_open, and the temp file noted for removal. */
static int open_tmp(const char *tmp, int which)
{
    int fd = writer_open(tmp, stale_removed, NULL);
    if (fd >= 0) {
        (void)snprintf(made_name[which], PATH_MAX, "%s", tmp); /* tmp is shorter */
        made[which] = 1;
    }
    return fd;
}

/* ---- settings ---------------------------------------------------------------------------- */

static _Noreturn void usage(void)
{
    log_fatal(100, "usage: relay-cdb [-i | -s] rules.cdb rules.tmp < rules.txt");
}

static void read_args(struct build *b, int argc, char **argv)
{
    int c;
    b->mode = PLAIN;
    opterr = 0;
    while ((c = getopt(argc, argv, "is")) != -1) {
        if (c != 'i' && c != 's')
            usage();
        if (b->mode != PLAIN)
            usage();
        b->mode = c == 'i' ? INCREMENTAL : SNAPSHOT;
    }
    if (argc - optind != 2 || argv[optind][0] == '\0' || argv[optind + 1][0] == '\0')
        usage();
    b->cdbname = argv[optind];
    b->tmpname = argv[optind + 1];
    if (strlen(b->tmpname) >= PATH_MAX)
        log_fatal(100, "%s is too long", b->tmpname);
}

/* Root works in the cdb's directory only as its owner: every file there (temp files, the
 * snapshot, the journal) is made by that account, and a name planted there by it can never
 * lead root to a file of its own. A root operator's build, or a builder that a root login
 * started, so becomes that account for good before it touches anything. */
static void become_owner(const char *cdbname)
{
    char dir[PATH_MAX];
    if (trigger_dir_of(dir, cdbname) != 0)
        log_fatal(100, "%s is too long", cdbname);
    if (owner_drop(dir) != 0)
        log_fatal(100, "unable to become the owner of %s to build %s there: %s", dir, cdbname,
                  strerror(errno));
}

static void name_beside(char *buf, const char *cdb, const char *suffix)
{
    int n = snprintf(buf, PATH_MAX, "%s%s", cdb, suffix);
    if (n < 0 || n >= PATH_MAX)
        log_fatal(100, "%s is too long", cdb);
}

/* ---- tcprules' input --------------------------------------------------------------------- */

static void read_all(int fd, struct rbuf *in)
{
    for (;;) {
        if (rbuf_reserve(in, 65536) != 0)
            nomem();
        size_t room = in->cap - in->len;
        ssize_t got = io_read(fd, in->s + in->len, room);
        if (got < 0)
            log_fatal(111, "unable to read input: %s", strerror(errno));
        in->len += (size_t)got;
        if ((size_t)got < room)
            return;
    }
}

/* Show a line in a message as tcprules does: its text, cut at a NUL. (log.c turns control
 * characters into '?'.) */
static _Noreturn void refuse_line(unsigned long lineno, const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    log_fatal(100, "unable to parse line %lu: %.*s", lineno, (int)(len < 400 ? len : 400),
              line);
}

/* tcprules' records, from all of the input, read and checked before the temp file is touched:
 * a bad line leaves both files alone. */
static void read_rules(struct build *b)
{
    struct rbuf in = {0};
    read_all(0, &in);
    if (merge_init(&b->merge) != 0)
        nomem();
    unsigned long lineno = 0;
    for (size_t pos = 0; pos < in.len;) {
        const char *line = in.s + pos;
        const char *nl = memchr(line, '\n', in.len - pos);
        size_t len = nl ? (size_t)(nl - line) + 1 : in.len - pos;
        pos += len;
        lineno++;
        switch (merge_line(&b->merge, line, len)) {
        case RULES_RULE:
        case RULES_SKIP:
            break;
        case RULES_NOCOLON:
            log_warn("line %lu has no colon: ignored, as tcprules does", lineno);
            break;
        case RULES_BAD:
            refuse_line(lineno, line, len);
        case RULES_NOMEM:
            nomem();
        }
    }
    rbuf_free(&in);
}

/* ---- where the allowances come from ------------------------------------------------------ */

/* Did sources_add (or a lookup that adds) work? If not, the build ends. */
static void added(int r)
{
    if (r == 0)
        return;
    if (errno == EFBIG)
        log_fatal(111, "too many allowances");
    nomem();
}

static void scanned(const struct record *r, void *arg)
{
    struct build *b = arg;
    added(sources_add(&b->src, r->key, strlen(r->key), r->time));
}

static void rescan(struct build *b, struct store *st)
{
    sources_forget(&b->src);
    if (store_list(st, b->cfg.expiry, scanned, b) != 0)
        log_fatal(111, "unable to list %s: %s", store_where(&b->cfg), store_error(st));
}

/* Bring the snapshot up to date with the journal's keys (what the store says of each replaces
 * what the snapshot said). 0, or 1 if the journal is too big to be worth it, or could not be
 * read (then nothing was changed: the caller rescans). */
static int apply_journal(struct build *b, int fd)
{
    unsigned long bad;
    const char *why = "";
    int r = sources_read_journal(&b->src, fd, &bad, &why);
    if (r == -2)
        nomem();
    if (r > 0) {
        b->why = "a big journal";
        return 1;
    }
    if (r < 0) {
        log_warn("unable to read %s: %s: rescanning the store", b->taken, why);
        return 1;
    }
    if (bad > 0)
        log_warn("%lu lines of %s are not store keys: ignored", bad, b->taken);
    b->jkeys = sources_journal_keys(&b->src);
    if (b->jkeys > 0)
        added(sources_lookup_journal(&b->src, store_home(&b->cfg), log_warn));
    return 0;
}

/* Gather the allowances, as the mode says, and the store's identity. */
static void collect(struct build *b)
{
    struct store st;
    if (store_open(&st, &b->cfg, log_warn) != 0)
        log_fatal(111, "unable to open store %s: %s", store_where(&b->cfg), strerror(errno));
    b->rescanned = 1;
    b->why = NULL;
    if (store_id(&st, &b->id.dev, &b->id.ino) != 0) {
        if (errno != ENOTSUP)
            log_fatal(111, "unable to open store %s: %s", store_where(&b->cfg), strerror(errno));
        /* A store shared by several hosts (Redis) changes with no journal here to say what
         * changed, and has no identity for a snapshot to name: every build rescans it. The
         * journal of logins on this host, if any, is taken and dropped all the same, so that
         * it cannot grow for ever. */
        b->unsnapped = 1;
        if (b->mode != PLAIN) {
            int jfd = trigger_journal_take(b->journal, b->taken);
            if (jfd >= 0)
                close(jfd);
        }
        b->why = "a shared store";
        rescan(b, &st);
        store_close(&st);
        return;
    }
    if (b->mode == PLAIN) {
        rescan(b, &st);
        store_close(&st);
        return;
    }

    /* A journal left taken is a build that did not finish: it was not read to the end, or
     * the snapshot was not saved after it. Taking the journal before the store is read is
     * what makes a rescan cover every key in it. */
    enum mode mode = b->mode;
    struct stat lst;
    int leftover = lstat(b->taken, &lst) == 0;
    int jfd = trigger_journal_take(b->journal, b->taken);
    if (jfd < 0 && errno != ENOENT) {
        log_warn("unable to take the journal %s: %s: rescanning the store", b->journal,
                 strerror(errno));
        mode = SNAPSHOT;
    }
    if (mode == INCREMENTAL) {
        const char *why = "";
        int r = -1;
        if (leftover)
            log_warn("%s is left from a build that did not finish: rescanning the store",
                     b->taken);
        else if ((r = sources_load_snapshot(&b->src, b->idx, &b->id, &why)) < 0)
            log_warn("unable to use the snapshot %s: %s: rescanning the store", b->idx, why);
        else if (r > 0)
            b->why = "no snapshot yet";
        if (r == 0 && jfd >= 0 && apply_journal(b, jfd) != 0)
            r = 1;
        b->rescanned = r != 0;
    }
    if (b->rescanned)
        rescan(b, &st);
    if (jfd >= 0)
        close(jfd);
    store_close(&st);
}

/* ---- the merge --------------------------------------------------------------------------- */

static _Noreturn void die_write(struct build *b)
{
    int e = errno;
    if (b->cdb.fd >= 0)
        close(b->cdb.fd);
    log_fatal(111, "unable to write to %s: %s", b->tmpname, strerror(e)); /* atexit: unlink */
}

/* A record into the cdb: any failure ends the build. */
static int put(const char *k, size_t klen, const char *v, size_t vlen, void *arg)
{
    struct build *b = arg;
    if (writer_cdb_put(k, klen, v, vlen, &b->cdb) != 0)
        die_write(b);
    return 0;
}

/* Start rules.tmp: the records of IPv4 allowances go in as they are made, the rest at the
 * end (merge.h). */
static void start_cdb(struct build *b)
{
    /* With an invalid RELAY_RELAYCLIENT nothing is granted (main), but the value is still
     * what the records would carry. */
    if (merge_start(&b->merge, b->cfg.relayclient, b->v4mapped, &b->cfg.keys, put, b) != 0)
        nomem();
    b->cdb.fd = -1;
    int fd = open_tmp(b->tmpname, TMP_CDB);
    if (fd < 0 && errno == EBUSY)
        log_fatal(111, "another build has held %s for %d s: the cdb was not rebuilt",
                  b->tmpname, WRITER_WAIT_MS / 1000);
    if (fd < 0)
        die_write(b);
    if (writer_cdb_start(&b->cdb, fd) != 0)
        die_write(b);
}

/* Is the key (klen bytes) one that addr_key makes under the policy? A record under another
 * key (written with a wider RELAY_IPV6_PREFIX, or before its range was keyed apart, such as
 * 64:ff9b::_64 or fe80::_64) grants nothing through relay-check, so it grants nothing here:
 * it is left out, never narrowed (which /64 of a /48 would it be?) nor widened. */
static int current(struct build *b, const char *k, size_t klen)
{
    char key[ADDR_KEY_MAX];
    if (klen >= sizeof key)
        return 0;
    memcpy(key, k, klen);
    key[klen] = '\0';
    if (addr_key_current(key, &b->cfg.keys))
        return 1;
    if (b->not_current++ == 0)
        memcpy(b->first_not_current, key, klen + 1);
    return 0;
}

/* One allowance, whose line starts with its key at k: merged if it is fresh, and kept for
 * the next snapshot. What the snapshot says of a key in the journal gives way to what the
 * store said of it (apply_journal), and what is stale by now is left out, of the cdb and of
 * the next snapshot. */
static void take(const char *k, const struct snapshot_entry *e, int from_snapshot, void *arg)
{
    struct build *b = arg;
    if (from_snapshot && sources_in_journal(&b->src, k, e->klen))
        return;
    if (e->time < 1 || e->time > SNAPSHOT_TIME_MAX || !store_fresh(e->time, b->now, b->cfg.expiry))
        return;
    /* An IPv4 key is keyed to itself whatever the settings (unit-rules checks that of
     * addr_key), and every key in a snapshot passed this check when it was written: the
     * snapshot's IPv4 keys, nearly all of a login's build, need no second look. An IPv6
     * key's fate depends on RELAY_IPV6_PREFIX and RELAY_NAT64_PREFIX, which may have
     * changed since. */
    if ((!from_snapshot || memchr(k, ':', e->klen) != NULL) && !current(b, k, e->klen))
        return;
    if (b->mode != PLAIN && sources_keep(&b->src, k, e->len) != 0)
        nomem();
    if (b->cfg.relayclient_ok && merge_grant(&b->merge, k, e->klen) != 0)
        nomem();
}

static void warn_left_out(const struct build *b)
{
    const struct merge_counts *c = &b->merge.count;
    if (c->partial > 0)
        log_warn("%lu IPv6 allowances have a zero group inside their prefix, which tcpserver's "
                 "rules match only in part (see relay-cdb(8))", c->partial);
    if (c->unmatchable > 0)
        log_warn("%lu IPv6 allowances cannot be written as tcpserver rules (see relay-cdb(8))",
                 c->unmatchable);
    if (b->not_current > 0)
        log_warn("%lu allowances are under keys that relay-check does not look up with these "
                 "settings (another RELAY_IPV6_PREFIX or RELAY_NAT64_PREFIX, or a range keyed "
                 "apart since), such as %s: left out",
                 b->not_current, b->first_not_current);
}

/* ---- writing ----------------------------------------------------------------------------- */

/* The rest of the records, then rules.tmp fsynced, closed and renamed over rules.cdb. */
static void finish_cdb(struct build *b)
{
    if (merge_write(&b->merge) != 0)
        nomem(); /* put ends the build on a write error */
    if (writer_cdb_close(&b->cdb, b->tmpname) != 0) {
        made[TMP_CDB] = 0; /* removed */
        die_write(b);
    }
    made[TMP_CDB] = 0;
    if (replace_rename(AT_FDCWD, b->tmpname, b->cdbname) != 0)
        log_fatal(111, "unable to move %s to %s: %s", b->tmpname, b->cdbname, strerror(errno));
}

/* Save the kept lines as the snapshot for the next -i: a new header and the lines, copied
 * from where they are, in one writev, then a rename. Mode 0600, made by the builder, which
 * runs as the owner of the directory (never as root there: see main): only the builders may
 * read or write it.
 * No fsync: the snapshot is a cache of the store. A crash can leave it empty, torn, or as it
 * was before this build; snapshot_check refuses the first two (the count and the last line
 * tell), and an older snapshot holds only allowances that were in the store, each with its
 * login time, so it can grant nothing that was not granted before; what it lacks comes back
 * with the next login or relay-expire's next rescan. Returns 0, or -1 (warned). */
static int save_snapshot(struct build *b)
{
    if (sources_keep_ready(&b->src) != 0)
        nomem();
    int fd = open_tmp(b->idxtmp, TMP_IDX);
    int r = -1;
    if (fd >= 0 && sources_write_snapshot(&b->src, fd, &b->id) != 0)
        replace_abandon(fd, AT_FDCWD, b->idxtmp);
    else if (fd >= 0)
        r = replace_close(fd, AT_FDCWD, b->idxtmp, 0, 0600);
    made[TMP_IDX] = 0;
    if (r != 0) {
        log_warn("unable to write the snapshot %s: %s", b->idxtmp, strerror(errno));
        return -1;
    }
    if (replace_rename(AT_FDCWD, b->idxtmp, b->idx) != 0) {
        log_warn("unable to move %s to %s: %s", b->idxtmp, b->idx, strerror(errno));
        return -1;
    }
    return 0;
}

static void log_built(const struct build *b)
{
    char how[128] = "";
    /* Cut short at worst: the longest fits. */
    if (b->mode != PLAIN && !b->rescanned)
        (void)snprintf(how, sizeof how, "; from the snapshot and %lu journal keys", b->jkeys);
    else if (b->mode != PLAIN)
        (void)snprintf(how, sizeof how, "; from a rescan of the store%s%s%s",
                       b->why ? " (" : "", b->why ? b->why : "", b->why ? ")" : "");
    const struct merge_counts *c = &b->merge.count;
    log_info("built %s: %zu rules, %lu allowances: %lu new records, %lu merged, %lu left "
             "to their rule%s",
             b->cdbname, b->merge.nstatic, c->allowances, c->records, c->merged, c->kept, how);
}

int main(int argc, char **argv)
{
    static struct build b; /* the merge's scratch space is big for a stack */

    /* Settings: the arguments, the account, the environment. */
    log_init("relay-cdb");
    read_args(&b, argc, argv);
    become_owner(b.cdbname);
    catch_fatal_signals();
    if (b.mode != PLAIN) {
        name_beside(b.idx, b.cdbname, SNAPSHOT_SUFFIX);
        name_beside(b.idxtmp, b.cdbname, SNAPSHOT_TMP);
        name_beside(b.journal, b.cdbname, TRIGGER_JOURNAL);
        name_beside(b.taken, b.cdbname, TRIGGER_TAKEN);
    }
    settings_load(&b.cfg, log_warn);
    if (b.cfg.cdb_v4mapped.invalid != NULL)
        log_warn("RELAY_CDB_V4MAPPED must be 0 or 1, not \"%s\": using 0",
                 b.cfg.cdb_v4mapped.invalid);
    b.v4mapped = b.cfg.cdb_v4mapped.on;
    sources_init(&b.src);

    /* tcprules' records. */
    read_rules(&b);

    /* The allowances. With an invalid RELAY_RELAYCLIENT nothing is granted; tcprules'
     * stand-in then need not read the store at all, but the snapshot is kept up to date all
     * the same. */
    if (b.cfg.relayclient_ok || b.mode != PLAIN)
        collect(&b);

    /* The merge: the snapshot's lines, then those made here. */
    start_cdb(&b);
    b.now = time(NULL);
    sources_each(&b.src, take, &b);
    if (b.cfg.relayclient_ok)
        merge_finish(&b.merge);
    warn_left_out(&b);

    /* The cdb, then the snapshot. The journal read for this build goes only once the snapshot
     * holds what it said; a journal left taken makes the next -i a rescan. */
    finish_cdb(&b);
    if (b.mode != PLAIN && (b.unsnapped || save_snapshot(&b) == 0) && unlink(b.taken) != 0 &&
        errno != ENOENT)
        log_warn("unable to remove %s: %s", b.taken, strerror(errno));
    if (b.cfg.log)
        log_built(&b);
    return 0;
}
