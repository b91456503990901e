/* owner.h: root never works on a file through a path that another account controls. Where a
 * program runs as root (the Dovecot hook, relay-session, a builder they start) and writes in a
 * directory that belongs to the store's account, it does that work as that account, so that
 * a link planted there can never lead root to a file of its own. */
#ifndef RELAYLEASE_OWNER_H
#define RELAYLEASE_OWNER_H

#include <sys/types.h>

/* Root's supplementary groups are rarely more than a handful; more than this and
 * owner_enter refuses (E2BIG) rather than lose them. */
#define OWNER_GROUPS_MAX 64

/* What owner_enter changed, for owner_leave to put back. */
struct owner_saved {
    int active;     /* 0: nothing was changed (not root, or the directory is root's) */
    uid_t euid;
    gid_t egid;
    int ngroups;
    gid_t groups[OWNER_GROUPS_MAX];
};

/* If the effective user is root and dir belongs to another account, take that account's
 * uid and its primary gid (from the passwd file; the directory's gid if it has no entry) as
 * the effective ids, and that gid as the only supplementary group, until owner_leave. A
 * directory that its group or everyone may write is controlled by them, and group root is
 * never taken: -1 with EPERM either way. A NULL dir (a store with no directory) is nothing
 * to do. Returns 0 (also when there is nothing to do), or
 * -1 with errno set; on -1 nothing has changed and the caller must not do the file work. */
int owner_enter(struct owner_saved *s, const char *dir);

/* Put back what owner_enter changed. Returns 0, or -1 with errno set. */
int owner_leave(struct owner_saved *s);

/* For a process that never needs root again (a detached builder, relay-expire started as
 * root): if the real or effective user is root and dir belongs to another account, set the
 * real, effective and saved ids and the groups to that account's for good. Returns 0, or -1
 * with errno set; a NULL dir is nothing to do. */
int owner_drop(const char *dir);

#endif
