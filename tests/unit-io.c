/* unit-io.c: io_write, io_writev and io_read move every byte across short transfers and
 * EINTR. The other end of a pipe is a child that takes or gives a few bytes at a time, and an
 * interval timer whose handler is installed without SA_RESTART keeps interrupting the calls. */
#define _GNU_SOURCE /* IOV_MAX */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include "io.h"
#include "unit.h"

#define BIG (1 << 20)

static volatile sig_atomic_t ticks;

static void tick(int sig)
{
    (void)sig;
    ticks++;
}

static void interrupt_often(int on)
{
    struct sigaction sa;
    struct itimerval it = {{0, on ? 200 : 0}, {0, on ? 200 : 0}};
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? tick : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    /* Off: the timer stops before SIG_DFL is back, or a last tick between the two would kill
     * the test ("Alarm clock"). On: tick is there before the first one. */
    if (!on)
        setitimer(ITIMER_REAL, &it, NULL);
    sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART: a blocked call ends with EINTR */
    if (on)
        setitimer(ITIMER_REAL, &it, NULL);
}

/* A tenth of a millisecond: the other end falls behind, so transfers come up short. */
static void nap(void)
{
    struct timespec t = {0, 100000};
    nanosleep(&t, NULL);
}

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 7 + (i >> 8));
}

/* A child that reads the pipe a few bytes at a time, slowly, and exits 0 if it saw exactly
 * BIG bytes of the pattern. */
static pid_t slow_reader(int fd, int other)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    close(other); /* or the end of the input never comes */
    unsigned char b[7];
    size_t at = 0;
    for (;;) {
        ssize_t r = read(fd, b, sizeof b);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++, at++)
            if (b[i] != pattern(at))
                _exit(1);
        if (at % 4096 < sizeof b)
            nap();
    }
    _exit(at == BIG ? 0 : 2);
}

/* A child that writes BIG bytes of the pattern a few at a time, then closes the pipe. */
static pid_t slow_writer(int fd)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    unsigned char b[5];
    for (size_t at = 0; at < BIG;) {
        size_t n = 0;
        while (n < sizeof b && at + n < BIG) {
            b[n] = pattern(at + n);
            n++;
        }
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(1);
        at += (size_t)w;
        if (at % 4096 < sizeof b)
            nap();
    }
    _exit(0);
}

static int exited_zero(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_write(void)
{
    unsigned char *buf = malloc(BIG);
    int p[2];
    if (buf == NULL || pipe(p) != 0)
        exit(111);
    for (size_t i = 0; i < BIG; i++)
        buf[i] = pattern(i);
    pid_t pid = slow_reader(p[0], p[1]);
    close(p[0]);
    ticks = 0;
    interrupt_often(1);
    int r = io_write(p[1], buf, BIG);
    interrupt_often(0);
    close(p[1]);
    CHECK(r == 0, "io_write writes 1 MiB to a slow pipe reader");
    CHECK(exited_zero(pid), "the reader got every byte, in order");
    unit_note("io_write: %ld timer signals arrived during the write", (long)ticks);
    free(buf);
}

static void test_writev(void)
{
    /* More entries than one writev takes, zero-length ones among them. */
    size_t n = IOV_MAX * 3 + 5;
    struct iovec *iov = calloc(n, sizeof *iov);
    unsigned char *buf = malloc(BIG);
    int p[2];
    if (iov == NULL || buf == NULL || pipe(p) != 0)
        exit(111);
    for (size_t i = 0; i < BIG; i++)
        buf[i] = pattern(i);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = i % 5 == 0 ? 0 : BIG / n + (i % 3);
        if (i == n - 1 || at + len > BIG)
            len = BIG - at;
        iov[i].iov_base = buf + at;
        iov[i].iov_len = len;
        at += len;
    }
    pid_t pid = slow_reader(p[0], p[1]);
    close(p[0]);
    interrupt_often(1);
    int r = io_writev(p[1], iov, n);
    interrupt_often(0);
    close(p[1]);
    CHECK(r == 0, "io_writev writes %zu buffers (IOV_MAX is %d) to a slow pipe reader", n,
          IOV_MAX);
    CHECK(exited_zero(pid), "the reader got every byte, in order");
    free(iov);
    free(buf);
}

static void test_read(void)
{
    unsigned char *buf = malloc(BIG + 100);
    int p[2];
    if (buf == NULL || pipe(p) != 0)
        exit(111);
    pid_t pid = slow_writer(p[1]);
    close(p[1]);
    interrupt_often(1);
    ssize_t got = io_read(p[0], buf, BIG + 100);
    interrupt_often(0);
    CHECK_LONG(got, BIG, "io_read reads to the end of the input when asked for more");
    size_t bad = 0;
    for (size_t i = 0; got == BIG && i < BIG; i++)
        bad += buf[i] != pattern(i);
    CHECK_LONG(bad, 0, "every byte read is the one written");
    CHECK(exited_zero(pid), "the writer wrote everything");
    CHECK_LONG(io_read(p[0], buf, 10), 0, "io_read at the end of the input returns 0");
    close(p[0]);
    CHECK_LONG(io_read(p[0], buf, 10), -1, "io_read of a closed descriptor fails");
    CHECK_LONG(errno, EBADF, "with EBADF");
    free(buf);
}

/* io_write_once: one write, across EINTR, and a short one is handed back, not finished. */
static void test_write_once(void)
{
    int p[2];
    if (pipe(p) != 0)
        exit(111);
    /* Full, so that the next write blocks and the timer interrupts it. */
    int fl = fcntl(p[1], F_GETFL);
    fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
    static char fill[65536];
    size_t held = 0;
    ssize_t w;
    while ((w = write(p[1], fill, sizeof fill)) > 0 || (w < 0 && errno == EINTR))
        held += w > 0 ? (size_t)w : 0;
    fcntl(p[1], F_SETFL, fl);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        struct timespec t = {0, 50000000};
        nanosleep(&t, NULL);
        static char all[1 << 20];
        ssize_t got = io_read(p[0], all, sizeof all);
        _exit(got == (ssize_t)held + 5 && memcmp(all + held, "line\n", 5) == 0 ? 0 : 1);
    }
    close(p[0]);
    ticks = 0;
    interrupt_often(1);
    w = io_write_once(p[1], "line\n", 5);
    interrupt_often(0);
    close(p[1]);
    /* How often the timer cut in depends on the machine's load: no check counts it. */
    CHECK_LONG(w, 5, "io_write_once into a full pipe waits across EINTR and writes the line");
    CHECK(exited_zero(pid), "the line landed whole, after what was there");

    /* More than PIPE_BUF into a pipe with less room: part of it, handed back as it is. */
    if (pipe(p) != 0)
        exit(111);
    fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
    while (write(p[1], fill, sizeof fill) > 0) {
    }
    char drop[PIPE_BUF + 1];
    CHECK(io_read(p[0], drop, sizeof drop) == (ssize_t)sizeof drop, "setup: room for a little");
    w = io_write_once(p[1], fill, sizeof fill);
    CHECK(w > 0 && w < (ssize_t)sizeof fill, "a short write is handed back, not finished (%ld of %zu)",
          (long)w, sizeof fill);
    close(p[0]);
    close(p[1]);
}

static void test_errors(void)
{
    int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        errno = 0;
        CHECK_LONG(io_write(fd, "x", 1), -1, "io_write to /dev/full fails");
        CHECK_LONG(errno, ENOSPC, "with ENOSPC");
        struct iovec v[2] = {{(void *)"ab", 2}, {(void *)"c", 1}};
        CHECK_LONG(io_writev(fd, v, 2), -1, "io_writev to /dev/full fails");
        close(fd);
    }
    CHECK_LONG(io_write(1, "", 0), 0, "io_write of nothing succeeds");
    struct iovec empty[3] = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
    CHECK_LONG(io_writev(-1, empty, 3), 0, "io_writev of empty buffers writes nothing");
}

int main(void)
{
    test_write();
    test_writev();
    test_read();
    test_write_once();
    test_errors();
    return unit_done();
}
