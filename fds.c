/* fds.c: one close_range(2) where the kernel has it (Linux 5.9), else a loop up to the
 * descriptor limit. */
#define _GNU_SOURCE /* syscall */
#include <sys/syscall.h>
#include <unistd.h>
#include "fds.h"

void fds_close_range(int lo, int hi)
{
#ifdef SYS_close_range
    /* Through syscall(2): musl and older glibc have no wrapper. ENOSYS on an older kernel,
     * EINVAL never (lo <= hi): either way the loop below does the work. */
    if (syscall(SYS_close_range, (unsigned)lo, (unsigned)hi, 0U) == 0)
        return;
#endif
    /* No descriptor is numbered at or above the limit; a huge limit (RLIMIT_NOFILE raised
     * to millions) would make the loop cost seconds for nothing, and nothing here opens that
     * many: 65536 bounds it. */
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (long fd = lo; fd <= hi && fd < max; fd++)
        (void)close((int)fd); /* EBADF for most: not open, nothing to do */
}
