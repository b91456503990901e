/* log.c: every diagnostic is one whole line, handed to a single write(2) (io_write finishes
 * it only if that is cut short) so that lines from concurrent logins do not interleave in
 * multilog or Dovecot's log. */
#define _GNU_SOURCE /* O_DIRECTORY on glibc and musl alike */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include "io.h"
#include "log.h"

static const char *prog = "relaylease";
/* log_syslog: lines go to syslog(3) instead of descriptor 2. */
static int to_syslog;

/* A program started with 0, 1 or 2 closed would get that number for the next file it opens:
 * a lock or a cdb on descriptor 2 would then receive the warnings. Each closed one is opened
 * on /dev/null first, in order, so that open returns that very number; "/" (where writes
 * fail) stands in if /dev/null cannot be had. */
static void open_std(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int got = open("/dev/null", O_RDWR | O_NOCTTY);
        if (got < 0)
            got = open("/", O_RDONLY | O_DIRECTORY);
        if (got != fd) {
            /* Not even "/": nothing else could be opened safely either. */
            if (got >= 0)
                close(got);
            _exit(111);
        }
    }
}

void log_init(const char *progname)
{
    prog = progname;
    open_std();
}

/* Neither LOG_PERROR nor LOG_CONS: descriptor 2 is the very thing to keep lines away from,
 * and a console is no place for them. The socket to syslogd is opened at the first line. */
void log_syslog(void)
{
    openlog(prog, LOG_PID, LOG_MAIL);
    to_syslog = 1;
}

/* Control characters from the environment or a store file would let a caller forge log
 * lines, so everything outside printable ASCII is shown as '?'. */
static void emit(int priority, const char *level, const char *fmt, va_list ap)
{
    char line[1024];
    /* syslog names the program itself, with its pid. */
    int n = to_syslog ? snprintf(line, sizeof line, "%s", level)
                      : snprintf(line, sizeof line, "%s: %s", prog, level);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    int m = vsnprintf(line + len, sizeof line - len, fmt, ap);
    if (m < 0)
        return;
    len += (size_t)m < sizeof line - len ? (size_t)m : sizeof line - len - 1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
            line[i] = '?';
    int saved = errno;
    if (to_syslog) {
        line[len] = '\0';
        syslog(priority, "%s", line);
        errno = saved;
        return;
    }
    if (len == sizeof line - 1)
        len--; /* a truncated message still ends in a newline */
    line[len++] = '\n';
    (void)io_write(2, line, len); /* failed: nowhere left to complain to */
    errno = saved;
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_WARNING, "warning: ", fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_INFO, "", fmt, ap);
    va_end(ap);
}

void log_fatal(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_ERR, "fatal: ", fmt, ap);
    va_end(ap);
    exit(code);
}

void log_exec(char **argv)
{
    execvp(argv[0], argv);
    log_fatal(111, "unable to run %s: %s", argv[0], strerror(errno));
}
