/* lock.h: flock with a deadline. Every lock relaylease takes can be held by another process
 * (a stuck sweep, a stopped build, an account that opened the file), and no program may wait
 * for one without end. */
#ifndef RELAYLEASE_LOCK_H
#define RELAYLEASE_LOCK_H

#include <sys/stat.h>

/* flock(fd, how), how LOCK_SH or LOCK_EX, waiting at most ms milliseconds. The wait is the
 * kernel's, as with a plain flock, so a waiter gets the lock the moment its holder lets go
 * rather than when a poll happens to come round (a builder that unlocks and locks again in
 * a loop would starve a poller). Returns 0, or -1 with errno set: ETIMEDOUT if the lock was
 * held for all that time. */
int lock_take(int fd, int how, long ms);

/* Does name (under dirfd, or the working directory for AT_FDCWD; a link is not followed)
 * still lead to the file st describes? A lock is taken on an open file, and a process that
 * removes or replaces the file under its lock may have held it while we waited: the lock is
 * then on a file no one else will look at. 1 yes; 0 if the name is gone or leads elsewhere;
 * -1 with errno if it cannot be told. */
int lock_still_named(int dirfd, const char *name, const struct stat *st);

#endif
