/* trigger.h: cdb mode's rebuilds, coalesced. A login asks for a rebuild of tcpserver's rules
 * cdb and goes on at once; at most one build runs at a time, at most one more waits, and the
 * one that waits covers every login that asked before it started.
 *
 * Settings (environment; cdb mode is on when RELAY_CDB is set):
 *   RELAY_CDB        the rules cdb that tcpserver -x reads (absolute path)
 *   RELAY_CDB_RULES  its source, tcprules' input (absolute path)
 *   RELAY_CDB_PROG   the relay-cdb program (default "relay-cdb", looked up in PATH)
 * Beside the cdb live RELAY_CDB.tmp (relay-cdb's temp file) and RELAY_CDB.lock (the
 * builder's lock; its first byte is the request flag).
 *
 * Plain C with no cdb library, so that the static login programs can link it; the build
 * itself is relay-cdb, run as a child. */
#ifndef RELAYLEASE_TRIGGER_H
#define RELAYLEASE_TRIGGER_H

enum trigger_mode {
    TRIGGER_DETACH, /* ask and return at once; a detached builder does the work (logins) */
    TRIGGER_WAIT    /* ask, and wait until a build that covers the request has run (cron) */
};

/* Ask for a rebuild if cdb mode is configured. Every problem is one warning on stderr.
 * Returns 0 if cdb mode is off or the request was made (TRIGGER_DETACH), or the covering
 * build succeeded (TRIGGER_WAIT); -1 otherwise. */
int trigger_rebuild(enum trigger_mode mode);

#endif
