/* replace.c: atomic replacement of a file (see replace.h). */
#define _GNU_SOURCE /* O_NOFOLLOW on glibc and musl alike */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* renameat */
#include <sys/stat.h>
#include <unistd.h>
#include "replace.h"

static int open_tmp(int dirfd, const char *tmp, int access)
{
    /* O_NONBLOCK: with O_EXCL the file is a new regular one, where it changes nothing; it is
     * here so that no open of a temp name can hang on a FIFO, whatever the flags become. */
    return openat(dirfd, tmp, access | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                  0600);
}

int replace_open(int dirfd, const char *tmp)
{
    return open_tmp(dirfd, tmp, O_WRONLY);
}

int replace_open_own(int dirfd, const char *tmp, int read_back)
{
    int access = read_back ? O_RDWR : O_WRONLY;
    int fd = open_tmp(dirfd, tmp, access);
    if (fd < 0 && errno == EEXIST && unlinkat(dirfd, tmp, 0) == 0)
        fd = open_tmp(dirfd, tmp, access);
    return fd;
}

void replace_abandon(int fd, int dirfd, const char *tmp)
{
    int e = errno;
    /* The name first, then the descriptor: a writer that locks its temp file (relay-cdb) holds
     * the lock until the name is gone, so no other writer can take the name for a stale one,
     * make its own file there, and have it removed by this call. */
    (void)unlinkat(dirfd, tmp, 0);
    if (fd >= 0)
        (void)close(fd);
    errno = e;
}

int replace_close(int fd, int dirfd, const char *tmp, int sync, mode_t mode)
{
    /* The mode is set through the descriptor of the file this writer created, never through
     * the name, and only once the content is complete: the file is private until then. */
    if ((sync && fsync(fd) != 0) || fchmod(fd, mode) != 0) {
        replace_abandon(fd, dirfd, tmp);
        return -1;
    }
    if (close(fd) != 0) {
        replace_abandon(-1, dirfd, tmp);
        return -1;
    }
    return 0;
}

int replace_rename(int dirfd, const char *tmp, const char *name)
{
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        replace_abandon(-1, dirfd, tmp);
        return -1;
    }
    return 0;
}
