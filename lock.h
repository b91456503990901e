/* lock.h: flock with a deadline. Every lock relaylease takes can be held by another process
 * (a stuck sweep, a stopped build, an account that opened the file), and no program may wait
 * for one without end. */
#ifndef RELAYLEASE_LOCK_H
#define RELAYLEASE_LOCK_H

/* flock(fd, how), how LOCK_SH or LOCK_EX, waiting at most ms milliseconds. The wait is the
 * kernel's, as with a plain flock, so a waiter gets the lock the moment its holder lets go
 * rather than when a poll happens to come round (a builder that unlocks and locks again in
 * a loop would starve a poller). Returns 0, or -1 with errno set: ETIMEDOUT if the lock was
 * held for all that time. */
int lock_take(int fd, int how, long ms);

#endif
