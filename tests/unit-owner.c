/* unit-owner.c: root's file work in a directory of another account, done as that account
 * (owner.h). Needs root: as anyone else there is nothing to switch, and the test says so. */
#define _GNU_SOURCE /* getresuid, getresgid, setgroups */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "owner.h"
#include "unit.h"
#include "unit-files.h"

#define OTHER 65534 /* nobody: the store's account in these tests */
/* A uid with no passwd entry here (checked before it is used). */
#define NOBODY_KNOWS 64999

/* dir under top, owned by uid:gid with mode. */
static void make_dir(char *buf, size_t size, const char *name, uid_t uid, gid_t gid,
                     mode_t mode)
{
    path_of(buf, size, top, name);
    if (mkdir(buf, 0700) != 0 || chown(buf, uid, gid) != 0 || chmod(buf, mode) != 0)
        fail_setup("create", buf);
}

static int same_groups(const gid_t *a, int na, const gid_t *b, int nb)
{
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof a[0]) == 0);
}

static int ids_are(uid_t euid, gid_t egid)
{
    return geteuid() == euid && getegid() == egid;
}

static void test_enter(void)
{
    char dir[4096], victim[4096], planted[4096], made[4096];
    static const gid_t mine[] = {0, 4, 27, 100};
    gid_t before[OWNER_GROUPS_MAX], after[OWNER_GROUPS_MAX], inside[OWNER_GROUPS_MAX];
    struct owner_saved saved;
    struct stat st;
    int nbefore, nafter, ninside, fd;

    if (setgroups(sizeof mine / sizeof mine[0], mine) != 0)
        fail_setup("set the groups of", "root");
    nbefore = getgroups(OWNER_GROUPS_MAX, before);

    make_dir(dir, sizeof dir, "store", OTHER, OTHER, 0755);
    path_of(victim, sizeof victim, top, "victim");
    fd = open(victim, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, "root's\n", 7) != 7 || close(fd) != 0)
        fail_setup("create", victim);
    path_of(planted, sizeof planted, top, "store/.lock");
    if (link(victim, planted) != 0)
        fail_setup("link", planted);

    if (!CHECK(owner_enter(&saved, dir) == 0, "owner_enter on a store of uid %d", OTHER))
        return;
    CHECK(saved.active, "owner_enter says it changed the ids");
    CHECK(ids_are(OTHER, OTHER), "the effective ids are the store owner's");
    {
        uid_t r, e, s;
        getresuid(&r, &e, &s);
        CHECK(r == 0 && s == 0, "the real and saved uid stay root's");
    }
    ninside = getgroups(OWNER_GROUPS_MAX, inside);
    CHECK(ninside == 1 && inside[0] == OTHER, "the only group is the store's");

    path_of(made, sizeof made, top, "store/made");
    fd = open(made, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0, "a file can be made in the store");
    if (fd >= 0)
        close(fd);
    errno = 0;
    fd = open(planted, O_WRONLY);
    CHECK(fd < 0 && errno == EACCES, "a hard link to root's 0600 file cannot be opened for writing");
    if (fd >= 0)
        close(fd);
    fd = open(planted, O_RDONLY | O_CREAT, 0600);
    CHECK(fd < 0 && errno == EACCES, "nor opened for reading, as the store's lock would be");
    if (fd >= 0)
        close(fd);
    CHECK(chmod(planted, 0666) != 0 && errno == EPERM, "nor chmodded");
    CHECK(truncate(planted, 0) != 0, "nor truncated");

    CHECK(owner_leave(&saved) == 0, "owner_leave");
    CHECK(ids_are(0, 0), "owner_leave gives back euid 0 and egid 0");
    nafter = getgroups(OWNER_GROUPS_MAX, after);
    CHECK(same_groups(before, nbefore, after, nafter), "owner_leave gives back the groups");
    CHECK(owner_leave(&saved) == 0 && ids_are(0, 0), "a second owner_leave changes nothing");

    CHECK(stat(made, &st) == 0 && st.st_uid == OTHER && st.st_gid == OTHER,
          "the file made inside is the store owner's");
    CHECK(stat(victim, &st) == 0 && st.st_uid == 0 && (st.st_mode & 07777) == 0600 &&
              st.st_size == 7,
          "root's file is as it was");
}

/* The primary group of uid from the passwd file, or (gid_t)-1 if it has no entry. */
static gid_t account_gid(uid_t uid)
{
    struct passwd pwd, *pw = NULL;
    char buf[4096];
    return getpwuid_r(uid, &pwd, buf, sizeof buf, &pw) == 0 && pw != NULL ? pw->pw_gid
                                                                          : (gid_t)-1;
}

static void test_refused(void)
{
    char dir[4096], file[4096];
    struct owner_saved saved;
    static const mode_t bad[] = {0775, 0757, 0777, 0770, 01777};
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        (void)snprintf(name, sizeof name, "open%zu", i);
        make_dir(dir, sizeof dir, name, OTHER, OTHER, bad[i]);
        errno = 0;
        CHECK(owner_enter(&saved, dir) == -1 && errno == EPERM,
              "owner_enter refuses a store of mode %04o", (unsigned)bad[i]);
        CHECK(ids_are(0, 0), "and changes nothing (%04o)", (unsigned)bad[i]);
    }
    make_dir(dir, sizeof dir, "rootopen", 0, 0, 0777);
    CHECK(owner_enter(&saved, dir) == -1 && errno == EPERM,
          "owner_enter refuses a world-writable store of root's");

    make_dir(dir, sizeof dir, "rootstore", 0, 0, 0755);
    CHECK(owner_enter(&saved, dir) == 0 && !saved.active && ids_are(0, 0),
          "a store of root's needs no switch");
    CHECK(owner_leave(&saved) == 0 && ids_are(0, 0), "and owner_leave changes nothing");

    /* A store left in group root (a plain "chown relaylease"): the account's own group is
     * taken, never group root. An owner with no passwd entry has only the directory's
     * group, which must then not be root's. */
    make_dir(dir, sizeof dir, "grouproot", OTHER, 0, 0755);
    if (CHECK(owner_enter(&saved, dir) == 0, "owner_enter on a store in group root")) {
        CHECK(ids_are(OTHER, account_gid(OTHER)), "takes the account's own group, not root's");
        CHECK(owner_leave(&saved) == 0 && ids_are(0, 0), "and gives root back");
    }
    if (account_gid(NOBODY_KNOWS) == (gid_t)-1) {
        make_dir(dir, sizeof dir, "stranger", NOBODY_KNOWS, 0, 0755);
        CHECK(owner_enter(&saved, dir) == -1 && errno == EPERM && ids_are(0, 0),
              "an owner without passwd entry, in group root: refused");
        make_dir(dir, sizeof dir, "stranger2", NOBODY_KNOWS, OTHER, 0755);
        if (CHECK(owner_enter(&saved, dir) == 0 && ids_are(NOBODY_KNOWS, OTHER),
                  "an owner without passwd entry takes the directory's group"))
            (void)owner_leave(&saved);
    }

    path_of(file, sizeof file, top, "plainfile");
    if (close(open(file, O_WRONLY | O_CREAT, 0644)) != 0)
        fail_setup("create", file);
    CHECK(owner_enter(&saved, file) == -1 && errno == ENOTDIR, "a file is not a store");
    path_of(file, sizeof file, top, "nowhere");
    CHECK(owner_enter(&saved, file) == -1 && errno == ENOENT, "a missing store");
    CHECK(ids_are(0, 0), "every refusal leaves root root");
}

/* In a child: owner_drop for good, from root and from inside owner_enter. */
static void test_drop(int from_enter)
{
    char dir[4096];
    make_dir(dir, sizeof dir, from_enter ? "drop2" : "drop1", OTHER, OTHER, 0755);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        fail_setup("fork for", dir);
    if (pid == 0) {
        struct owner_saved saved;
        uid_t r, e, s;
        gid_t rg, eg, sg, g[4];
        if (from_enter && owner_enter(&saved, dir) != 0)
            _exit(2);
        if (owner_drop(dir) != 0)
            _exit(3);
        getresuid(&r, &e, &s);
        getresgid(&rg, &eg, &sg);
        if (r != OTHER || e != OTHER || s != OTHER || rg != OTHER || eg != OTHER || sg != OTHER)
            _exit(4);
        if (getgroups(4, g) != 1 || g[0] != OTHER)
            _exit(5);
        if (seteuid(0) == 0 || setuid(0) == 0)
            _exit(6);
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail_setup("wait for", dir);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "owner_drop%s sets every id for good (child said %d)",
          from_enter ? " inside owner_enter" : "", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void test_drop_refused(void)
{
    char dir[4096];
    make_dir(dir, sizeof dir, "drop3", OTHER, OTHER, 0777);
    CHECK(owner_drop(dir) == -1 && errno == EPERM && ids_are(0, 0),
          "owner_drop refuses a world-writable store and changes nothing");
    make_dir(dir, sizeof dir, "drop4", 0, 0, 0755);
    CHECK(owner_drop(dir) == 0 && ids_are(0, 0), "owner_drop on a store of root's stays root");
}

int main(void)
{
    if (geteuid() != 0) {
        struct owner_saved saved;
        CHECK(owner_enter(&saved, ".") == 0 && !saved.active, "not root: nothing to switch");
        printf("# skipped: the rest needs root\n");
        return unit_done();
    }
    umask(022);
    scratch_make("unit-owner");
    if (chmod(top, 0711) != 0)
        fail_setup("open up", top);
    test_enter();
    test_refused();
    test_drop(0);
    test_drop(1);
    test_drop_refused();
    int status = unit_done();
    scratch_remove();
    return status;
}
