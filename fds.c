/* fds.c: one close_range(2) where the kernel has it (Linux 5.9), else the descriptors that
 * /proc/self/fd lists, else a loop up to the descriptor limit. */
#define _GNU_SOURCE /* syscall */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "fds.h"

int fds_close_listed(int lo, int hi)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int own = dirfd(d);
    /* Closing while reading the listing may make it skip an entry: read it again until a
     * pass finds nothing left to close. */
    for (int closed = 1; closed;) {
        closed = 0;
        rewinddir(d);
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char *end;
            errno = 0;
            long fd = strtol(de->d_name, &end, 10);
            if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end != '\0' || errno != 0 ||
                fd == own || fd < lo || fd > hi)
                continue;
            (void)close((int)fd);
            closed = 1;
        }
    }
    (void)closedir(d);
    return 0;
}

void fds_close_range(int lo, int hi)
{
#ifdef SYS_close_range
    /* Through syscall(2): musl and older glibc have no wrapper. ENOSYS on an older kernel (or
     * under a seccomp filter), EINVAL never (lo <= hi): either way the work is done below. */
    if (syscall(SYS_close_range, (unsigned)lo, (unsigned)hi, 0U) == 0)
        return;
#endif
    /* The listing finds a descriptor above a soft limit lowered after it was opened, which
     * the loop below cannot reach. */
    if (fds_close_listed(lo, hi) == 0)
        return;
    /* No /proc: no descriptor is numbered at or above the limit, unless the limit was
     * lowered; a huge limit (RLIMIT_NOFILE raised to millions) would make the loop cost
     * seconds for nothing, and nothing here opens that many: 65536 bounds it. */
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (long fd = lo; fd <= hi && fd < max; fd++)
        (void)close((int)fd); /* EBADF for most: not open, nothing to do */
}
