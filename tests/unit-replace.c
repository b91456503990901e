/* unit-replace.c: atomic replacement, in a scratch directory: the new file appears whole
 * under the name, with the mode asked for (0600 until then, whatever the umask); a temp name
 * that is there already (a file, a symbolic link, dangling or not) is never written through;
 * every failure leaves no temp file behind, and the old file as it was. */
#define _XOPEN_SOURCE 700 /* mkdtemp, symlink */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io.h"
#include "replace.h"
#include "unit.h"
#include "unit-files.h"

static int dfd;

static long mode_of(const char *name)
{
    struct stat st;
    return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? (long)(st.st_mode & 07777) : -1;
}

static int exists(const char *name)
{
    struct stat st;
    return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int holds(const char *name, const char *text)
{
    char buf[256];
    int fd = openat(dfd, name, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = io_read(fd, buf, sizeof buf);
    close(fd);
    return n == (ssize_t)strlen(text) && memcmp(buf, text, (size_t)n) == 0;
}

static int replace(const char *tmp, const char *name, const char *text, int sync, mode_t mode)
{
    int fd = replace_open(dfd, tmp);
    if (fd < 0)
        return -1;
    if (io_write(fd, text, strlen(text)) != 0) {
        replace_abandon(fd, dfd, tmp);
        return -1;
    }
    if (replace_close(fd, dfd, tmp, sync, mode) != 0)
        return -1;
    return replace_rename(dfd, tmp, name);
}

int main(void)
{
    scratch_make("unit-replace");
    if ((dfd = open(top, O_RDONLY | O_DIRECTORY)) < 0)
        fail_setup("open", top);

    umask(0);
    int fd = replace_open(dfd, "a.tmp");
    CHECK(fd >= 0 && mode_of("a.tmp") == 0600, "a temp file is private (0600) under umask 0");
    CHECK(io_write(fd, "one\n", 4) == 0 && replace_close(fd, dfd, "a.tmp", 1, 0644) == 0 &&
              mode_of("a.tmp") == 0644,
          "closed with fsync, it takes the mode asked for");
    CHECK(replace_rename(dfd, "a.tmp", "a") == 0 && holds("a", "one\n") && !exists("a.tmp"),
          "renamed over the name: the content is there, the temp name gone");

    umask(077);
    CHECK(replace(".t", "a", "two\n", 0, 0644) == 0 && holds("a", "two\n") && mode_of("a") == 0644,
          "a second replacement, no fsync, under umask 077: mode 0644 all the same");
    umask(0777);
    CHECK(replace(".t", "b", "b\n", 0, 0600) == 0 && mode_of("b") == 0600 && holds("b", "b\n"),
          "under umask 0777 (a temp file made 000) the file still gets the mode asked for");
    umask(022);

    /* A name that is there is never opened: a file, a link to a file, a dangling link. */
    CHECK(replace_open(dfd, "a") == -1 && errno == EEXIST && holds("a", "two\n"),
          "replace_open of an existing file: EEXIST, the file untouched");
    if (symlinkat("a", dfd, "link") == 0)
        CHECK(replace_open(dfd, "link") == -1 && errno == EEXIST && holds("a", "two\n"),
              "replace_open of a symbolic link to a file: EEXIST, the file untouched");
    if (symlinkat("nowhere", dfd, "dangling") == 0)
        CHECK(replace_open(dfd, "dangling") == -1 && !exists("nowhere"),
              "replace_open of a dangling link creates nothing at its target");

    /* replace_open_own: a leftover is removed, never written through, and the create tried
     * again; with read_back the descriptor reads what it wrote. */
    fd = replace_open_own(dfd, "own.tmp", 0);
    CHECK(fd >= 0 && io_write(fd, "old", 3) == 0 && close(fd) == 0, "setup: a leftover temp file");
    fd = replace_open_own(dfd, "own.tmp", 0);
    struct stat st;
    CHECK(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0 && mode_of("own.tmp") == 0600,
          "replace_open_own over a leftover: a new, empty, private file");
    char back[4] = "";
    CHECK(fd >= 0 && io_write(fd, "x", 1) == 0 && pread(fd, back, 1, 0) == -1 && errno == EBADF,
          "without read_back the descriptor only writes");
    replace_abandon(fd, dfd, "own.tmp");
    if (symlinkat("a", dfd, "own.tmp") == 0) {
        fd = replace_open_own(dfd, "own.tmp", 1);
        CHECK(fd >= 0 && holds("a", "two\n") && io_write(fd, "new", 3) == 0 &&
                  pread(fd, back, 3, 0) == 3 && memcmp(back, "new", 3) == 0,
              "a link planted at the temp name: the link removed, its target untouched, "
              "and with read_back the descriptor reads what it wrote");
        replace_abandon(fd, dfd, "own.tmp");
    }
    CHECK(mkdirat(dfd, "own.d", 0755) == 0 && mkdirat(dfd, "own.d/x", 0755) == 0 &&
              replace_open_own(dfd, "own.d", 0) == -1 && exists("own.d/x"),
          "a directory at the temp name is not removed, and not opened");

    /* Failures leave no temp file. */
    CHECK(mkdirat(dfd, "dir", 0755) == 0 && mkdirat(dfd, "dir/sub", 0755) == 0, "setup: a directory");
    CHECK(replace(".t", "dir", "x", 0, 0644) == -1 && !exists(".t") && exists("dir/sub"),
          "a rename over a directory that is not empty fails, and unlinks the temp file");
    fd = replace_open(dfd, ".t");
    CHECK(fd >= 0 && io_write(fd, "x", 1) == 0, "setup: a temp file");
    errno = 0;
    replace_abandon(fd, dfd, ".t");
    int e = errno;
    CHECK(!exists(".t") && e == 0, "replace_abandon unlinks it, errno kept");
    fd = replace_open(dfd, ".t");
    close(fd);
    CHECK(replace_close(fd, dfd, ".t", 1, 0644) == -1 && errno == EBADF && !exists(".t"),
          "replace_close on a bad descriptor fails and unlinks the temp file");
    CHECK(replace_rename(dfd, ".gone", "a") == -1 && errno == ENOENT && holds("a", "two\n"),
          "renaming a temp file that is not there fails, the file untouched");
    CHECK(replace_open(-1, "x") == -1 && errno == EBADF, "a bad directory descriptor: EBADF");

    /* AT_FDCWD: names relative to the working directory. */
    if (fchdir(dfd) == 0) {
        fd = replace_open(AT_FDCWD, "cwd.tmp");
        CHECK(fd >= 0 && replace_close(fd, AT_FDCWD, "cwd.tmp", 0, 0644) == 0 &&
                  replace_rename(AT_FDCWD, "cwd.tmp", "cwd") == 0 && exists("cwd"),
              "AT_FDCWD: names relative to the working directory");
    }

    int status = unit_done();
    close(dfd);
    scratch_remove();
    return status;
}
