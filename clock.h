/* clock.h: the monotonic clock in milliseconds, and deadlines on it. Every wait in relaylease
 * is bounded (a hung store, a stopped builder, a held lock), and a wall clock set back or
 * forward while we wait must neither stretch a bound nor cut it short. */
#ifndef RELAYLEASE_CLOCK_H
#define RELAYLEASE_CLOCK_H

/* A deadline ms milliseconds from now (a negative ms counts as 0). */
long long clock_deadline(long ms);

/* Milliseconds left until deadline, 0 once it has come. What is left is rounded up, so a
 * poll or a sleep for this long never wakes just before the deadline. At most INT_MAX, the
 * most poll(2) takes. */
int clock_left(long long deadline);

#endif
