/* owner.c: root's file work in a directory of another account, done as that account.
 *
 * With fs.protected_hardlinks=0 the owner of a directory can hard-link any file of root's
 * into it; root opening, writing, chowning or chmodding a name there would then reach that
 * file. As the directory's owner, the same calls reach only what the owner could reach
 * anyway. The switch is of the effective ids only, so that root can come back: the real and
 * saved ids stay 0, which also keeps the owner from signalling or tracing the process while
 * it works (and the kernel marks it non-dumpable on the switch). */
#define _GNU_SOURCE /* setgroups, setresuid, setresgid */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#include "owner.h"

/* The account to become for work in dir: 1 with its ids, 0 if none is needed (the
 * directory is root's), -1 with errno set. */
static int dir_owner(const char *dir, uid_t *uid, gid_t *gid)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    /* A group or everyone may plant names here: no account to become would be safe. */
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        errno = EPERM;
        return -1;
    }
    if (st.st_uid == 0)
        return 0;
    /* The account's own group, not the directory's: a directory made with a plain
     * "chown relaylease" keeps group root, and with gid 0 the work would reach every file
     * that group root may write. The directory's group stands in only for an owner with no
     * passwd entry; group root is never taken. */
    struct passwd pwd, *pw = NULL;
    char buf[4096];
    if (getpwuid_r(st.st_uid, &pwd, buf, sizeof buf, &pw) != 0)
        pw = NULL; /* unreadable or too long an entry: the directory's group, if not root */
    *uid = st.st_uid;
    *gid = pw != NULL ? pw->pw_gid : st.st_gid;
    if (*gid == 0) {
        errno = EPERM;
        return -1;
    }
    return 1;
}

int owner_enter(struct owner_saved *s, const char *dir)
{
    uid_t uid;
    gid_t gid;
    s->active = 0;
    if (dir == NULL || geteuid() != 0)
        return 0;
    int need = dir_owner(dir, &uid, &gid);
    if (need <= 0)
        return need;
    s->euid = geteuid();
    s->egid = getegid();
    s->ngroups = getgroups(OWNER_GROUPS_MAX, s->groups);
    if (s->ngroups < 0) {
        if (errno == EINVAL)
            errno = E2BIG;
        return -1;
    }
    if (setgroups(1, &gid) != 0)
        return -1;
    if (setegid(gid) != 0) {
        int e = errno;
        (void)setgroups((size_t)s->ngroups, s->groups);
        errno = e;
        return -1;
    }
    if (seteuid(uid) != 0) {
        int e = errno;
        /* Still root's uid, so the gid and groups go back. Should that fail, the ids are
         * mixed now, and that is the error the caller must hear of, not the seteuid's. */
        if (setegid(s->egid) != 0)
            e = errno;
        (void)setgroups((size_t)s->ngroups, s->groups);
        errno = e;
        return -1;
    }
    s->active = 1;
    return 0;
}

int owner_leave(struct owner_saved *s)
{
    if (!s->active)
        return 0;
    s->active = 0;
    /* The uid first: the gid and the groups may be changed only with root's rights. */
    if (seteuid(s->euid) != 0 || setegid(s->egid) != 0 ||
        setgroups((size_t)s->ngroups, s->groups) != 0)
        return -1;
    return 0;
}

int owner_drop(const char *dir)
{
    uid_t uid;
    gid_t gid;
    if (dir == NULL || (getuid() != 0 && geteuid() != 0))
        return 0;
    /* Inside owner_enter only the effective id was changed: take root back to drop for good. */
    if (geteuid() != 0 && seteuid(0) != 0)
        return -1;
    int need = dir_owner(dir, &uid, &gid);
    if (need <= 0)
        return need;
    if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0)
        return -1;
    return 0;
}
