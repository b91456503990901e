/* fds.h: closing the descriptors a process must not hold. A parent of a network session
 * (relay-session) or a detached builder (cdb/trigger.c) that kept one of the client's
 * descriptors would keep its connection open after the session has ended. */
#ifndef RELAYLEASE_FDS_H
#define RELAYLEASE_FDS_H

/* Close every descriptor from lo to hi, both included (0 <= lo <= hi; INT_MAX for all the
 * rest). A number that is not open is no error, and nothing else can go wrong: it returns
 * nothing. */
void fds_close_range(int lo, int hi);

/* The same through /proc/self/fd alone (fds_close_range's way when close_range is missing):
 * it also reaches a descriptor above a soft limit lowered after it was opened. 0, or -1 with
 * errno if the listing cannot be read (no /proc). */
int fds_close_listed(int lo, int hi);

#endif
