/* trigger.h: cdb mode's rebuilds, coalesced. A login asks for a rebuild of tcpserver's rules
 * cdb and goes on at once; at most one build runs at a time, at most one more waits, and the
 * one that waits covers every login that asked before it started.
 *
 * Settings (read by settings.c into struct settings_cdb; cdb mode is on when RELAY_CDB is set):
 *   RELAY_CDB        the rules cdb that tcpserver -x reads (absolute path)
 *   RELAY_CDB_RULES  its source, tcprules' input (absolute path)
 *   RELAY_CDB_PROG   the relay-cdb program (default "relay-cdb", looked up in PATH)
 * Beside the cdb live RELAY_CDB.tmp (relay-cdb's temp file), RELAY_CDB.lock (the builder's
 * lock; its first byte is the request flag), RELAY_CDB.journal (the keys of the logins since
 * the last build), and relay-cdb's snapshot of the live allowances (see snapshot.h). They
 * are 0600 and made by the store's account, which owns the cdb's directory: a root login
 * calls trigger_rebuild as that account (owner_enter), and the builder it starts becomes
 * that account for good (owner_drop). Nothing here ever changes the owner or mode of a file
 * that exists: a name planted in that directory leads nobody to change a file of root's.
 *
 * No wait here is unbounded: a login never waits for the lock, a waiting caller waits at
 * most 30 s for a running build (then warns and fails as after a failed build), and the
 * journal's lock is waited for a second at most.
 *
 * A login's build is incremental: relay-cdb -i reads the snapshot and looks up only the keys
 * in the journal. A caller with no key (relay-expire after its sweep, an import) asks for a
 * full rescan of the store instead, relay-cdb -s.
 *
 * Plain C with no cdb library, so that the static login programs can link it; the build
 * itself is relay-cdb, run as a child. */
#ifndef RELAYLEASE_TRIGGER_H
#define RELAYLEASE_TRIGGER_H

#include <sys/stat.h>
#include "log.h"
#include "settings.h"

/* RELAY_CDB plus these: the journal that logins append to, and the name the builder moves
 * it to while it reads it. */
#define TRIGGER_JOURNAL ".journal"
#define TRIGGER_TAKEN ".journal.taken"

enum trigger_mode {
    TRIGGER_DETACH, /* ask and return at once; a detached builder does the work (logins) */
    TRIGGER_WAIT    /* ask, and wait until a build that covers the request has run (cron) */
};

/* Ask for a rebuild if cdb mode is configured (cfg->cdb). key is the store key the caller has
 * just recorded: it goes into the journal, for an incremental build. With key NULL the build
 * is a full rescan of the store. Every problem is one line passed to warn (the program's
 * log_warn): the detached builder, which outlives this call, has no one else to tell, so the
 * reporter is passed in rather than each problem returned. Returns 0 if cdb mode is off or
 * the request was made (TRIGGER_DETACH), or the covering build succeeded (TRIGGER_WAIT); -1
 * otherwise. */
int trigger_rebuild(const struct settings *cfg, enum trigger_mode mode, const char *key,
                    log_fn *warn);

/* The builder's side of the journal: move the journal at path aside to taken, at a moment
 * when no login is writing to it, and return a descriptor open on it for reading. After
 * this, nothing more is written to it. Returns -1 with errno ENOENT if there is no journal,
 * or -1 with errno set if it could not be taken (ETIMEDOUT: a login held it for a second;
 * the caller rescans the store instead). */
int trigger_journal_take(const char *path, const char *taken);

/* The directory that holds path ("." for a name with no slash), in dir (PATH_MAX bytes): the
 * cdb's directory, whose owner the builders become. 0, or -1 with errno (ENAMETOOLONG). */
int trigger_dir_of(char *dir, const char *path);

/* Stat the directory that holds path ("." for a name with no slash). 0, or -1 with errno. */
int trigger_dir_stat(const char *path, struct stat *st);

#endif
