/* unit-fds.c: fds_close_range closes exactly the descriptors of its range, both ends
 * included, and leaves every other one open: those below it, those above it, and the ones it
 * was asked to keep by a caller that closes around them (relay-session). */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <unistd.h>
#include "fds.h"
#include "unit.h"

/* The numbers the tests open: spread out, with gaps, and one far up. */
static const int used[] = {10, 11, 12, 13, 15, 16, 20, 21, 200, 201};
#define NUSED (sizeof used / sizeof used[0])

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static int open_used(void)
{
    int base = open("/dev/null", O_RDONLY);
    if (base < 0)
        return -1;
    for (size_t i = 0; i < NUSED; i++)
        if (dup2(base, used[i]) != used[i]) {
            close(base);
            return -1;
        }
    close(base);
    return 0;
}

/* After closing lo..hi: every used number in the range is closed, every other one open. */
static void expect(int lo, int hi, const char *what)
{
    for (size_t i = 0; i < NUSED; i++) {
        int fd = used[i];
        int want = fd < lo || fd > hi;
        CHECK_LONG(is_open(fd), want, "%s: descriptor %d is %s", what, fd,
                   want ? "open" : "closed");
    }
    /* stdin, stdout and stderr are below every range here: the TAP lines depend on them. */
    CHECK(is_open(1) && is_open(2), "%s: 1 and 2 stay open", what);
}

int main(void)
{
    static const struct {
        int lo, hi;
        const char *what;
    } cases[] = {
        {12, 15, "a range with a gap inside (14)"},
        {13, 13, "a range of one"},
        {14, 14, "a range of one that is not open"},
        {16, 200, "a range ending on an open one"},
        {17, 199, "a range with no open end"},
        {22, INT_MAX, "all above 21"},
        {3, INT_MAX, "all above 2"},
        {202, INT_MAX, "all above the highest: nothing"},
    };
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 256) {
        unit_skip("fewer than 256 descriptors allowed", "fds_close_range");
        return unit_done();
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!CHECK(open_used() == 0, "%s: descriptors opened", cases[i].what))
            continue;
        fds_close_range(cases[i].lo, cases[i].hi);
        expect(cases[i].lo, cases[i].hi, cases[i].what);
    }

    /* relay-session's way: close around two descriptors it keeps. */
    if (CHECK(open_used() == 0, "around two kept: descriptors opened")) {
        int keep = 12, keep2 = 20;
        fds_close_range(3, keep - 1);
        fds_close_range(keep + 1, keep2 - 1);
        fds_close_range(keep2 + 1, INT_MAX);
        for (size_t i = 0; i < NUSED; i++)
            CHECK_LONG(is_open(used[i]), used[i] == keep || used[i] == keep2,
                       "around two kept: descriptor %d", used[i]);
    }

    /* Without close_range (an old kernel, a seccomp filter), the listing: every case again,
     * then a descriptor above a soft limit lowered after it was opened, which a loop up to
     * the limit would leave open. */
    if (access("/proc/self/fd", R_OK) != 0) {
        unit_skip("no /proc/self/fd", "fds_close_listed");
        return unit_done();
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!CHECK(open_used() == 0, "listed, %s: descriptors opened", cases[i].what))
            continue;
        CHECK(fds_close_listed(cases[i].lo, cases[i].hi) == 0, "listed, %s: 0", cases[i].what);
        expect(cases[i].lo, cases[i].hi, cases[i].what);
    }
    if (CHECK(open_used() == 0, "under a lowered limit: descriptors opened")) {
        struct rlimit low = rl;
        low.rlim_cur = 64;
        if (CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "the soft limit lowered to 64")) {
            CHECK(fds_close_listed(3, INT_MAX) == 0, "fds_close_listed under the lowered limit");
            expect(3, INT_MAX, "above a lowered limit (200, 201)");
            (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    return unit_done();
}
