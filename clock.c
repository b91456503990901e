/* clock.c: deadlines on CLOCK_MONOTONIC, in milliseconds.
 *
 * clock_gettime fails only for a clock the kernel lacks or a bad pointer, neither possible
 * here. Should it fail all the same, every deadline counts as come: a wait that cannot tell
 * the time ends rather than lasting for ever. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <time.h>
#include "clock.h"

/* The time in milliseconds, rounded down; -1 if the clock cannot be read. */
static long long now_ms(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_MONOTONIC, &t) != 0)
        return -1;
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

long long clock_deadline(long ms)
{
    long long now = now_ms();
    if (now < 0)
        return 0;
    if (ms <= 0)
        return now;
    return ms > LLONG_MAX - now ? LLONG_MAX : now + ms;
}

int clock_left(long long deadline)
{
    long long now = now_ms();
    if (now < 0 || now >= deadline)
        return 0;
    /* The deadline is whole milliseconds and now is rounded down, so this never undershoots. */
    long long left = deadline - now;
    return left > INT_MAX ? INT_MAX : (int)left;
}
