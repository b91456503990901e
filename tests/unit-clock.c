/* unit-clock.c: a deadline is as far off as it was asked to be and no further, comes once
 * its time has passed and stays come, and a negative or huge span is bounded. Nothing here
 * depends on how busy the machine is: a check only says what must hold however long the
 * process waits between two calls. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <time.h>
#include "clock.h"
#include "unit.h"

static void nap_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
}

int main(void)
{
    CHECK(clock_left(clock_deadline(0)) == 0, "a deadline of now has come");
    CHECK(clock_left(clock_deadline(-5000)) == 0, "a negative span: come at once");

    long long d = clock_deadline(3600000);
    int left = clock_left(d);
    CHECK(left > 0 && left <= 3600000, "an hour ahead: something left, never more than an hour");
    CHECK(clock_left(d - 3600000) == 0, "the deadline's own start has come");

    d = clock_deadline(20);
    nap_ms(30);
    CHECK(clock_left(d) == 0, "20 ms ahead, after sleeping 30 ms: come");
    CHECK(clock_left(d) == 0, "and it stays come");

    /* What is left, slept whole, always reaches the deadline (the rounding is upward). */
    int reached = 1;
    for (int i = 0; i < 20 && reached; i++) {
        d = clock_deadline(3);
        int l = clock_left(d);
        if (l > 0)
            nap_ms(l);
        reached = clock_left(d) == 0;
    }
    CHECK(reached, "sleeping what clock_left says always reaches the deadline");

    CHECK(clock_left(clock_deadline(LONG_MAX)) == INT_MAX,
          "a span longer than poll(2) can take: INT_MAX");
    long long a = clock_deadline(0);
    nap_ms(2);
    CHECK(clock_deadline(0) > a, "the clock moves forward");
    return unit_done();
}
