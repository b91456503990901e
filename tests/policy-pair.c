/* policy-pair: run a program on one end of a socketpair, as Postfix's spawn(8) does, and be
 * its peer: standard input is sent to it, then the socket is shut for writing, and all it
 * answers is copied to standard output. The exit status is the program's (128 + a signal).
 *
 * Usage: policy-pair [-2] [-g] [-n] [-l PATH] PROGRAM [ARG...]
 *   -2  descriptor 2 is the socket too (spawn's case: 0, 1 and 2 one socket);
 *       without it the program keeps this one's descriptor 2
 *   -g  the peer is gone before anything is sent: its reading side is shut, so a reply
 *       fails (EPIPE)
 *   -n  the program's socket is non-blocking (O_NONBLOCK), and the socket is shut for
 *       writing only once as many replies have come back as requests were sent (empty
 *       lines each way) and the program has then either exited or gone to sleep (Linux's
 *       /proc/PID/stat): it has found nothing to read, and either failed or waits
 *   -l  listen for datagrams at PATH (a syslog socket, /dev/log in a private mount
 *       namespace) and, once the program has exited, copy each to standard error, one line
 *       each */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "policy-pair: fatal: %s: %s\n", what, strerror(errno));
    _exit(111);
}

/* Empty lines ("\n\n") in buf, *last the byte before it (updated). */
static size_t ends(const char *buf, size_t n, char *last)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n' && *last == '\n')
            c++;
        *last = buf[i];
    }
    return c;
}

/* Has pid exited (its status in *st) or gone to sleep? Waits until one is so. */
static void wait_settled(pid_t pid, int *st, int *reaped)
{
    char path[64];
    (void)snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (;;) {
        pid_t w = waitpid(pid, st, WNOHANG);
        if (w == pid) {
            *reaped = 1;
            return;
        }
        if (w < 0 && errno != EINTR)
            die("waitpid");
        FILE *f = fopen(path, "r");
        if (f == NULL)
            die(path);
        char line[512];
        char *got = fgets(line, sizeof line, f);
        fclose(f);
        const char *p = got != NULL ? strrchr(line, ')') : NULL;
        if (p != NULL && p[1] == ' ' && p[2] == 'S')
            return;
        struct timespec ms = {0, 1000000};
        (void)nanosleep(&ms, NULL);
    }
}

int main(int argc, char **argv)
{
    int all = 0, gone = 0, nb = 0, opt, logfd = -1, st = 0, reaped = 0;
    const char *logpath = NULL;
    while ((opt = getopt(argc, argv, "+2gnl:")) != -1) {
        if (opt == '2')
            all = 1;
        else if (opt == 'g')
            gone = 1;
        else if (opt == 'n')
            nb = 1;
        else if (opt == 'l')
            logpath = optarg;
        else
            return 100;
    }
    if (logpath != NULL) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t len = strlen(logpath);
        if (len >= sizeof sa.sun_path)
            return 100;
        memcpy(sa.sun_path, logpath, len + 1);
        logfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (logfd < 0 || bind(logfd, (struct sockaddr *)&sa, sizeof sa) != 0)
            die(logpath);
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: policy-pair [-2] [-g] [-n] [-l PATH] PROGRAM [ARG...]\n");
        return 100;
    }
    signal(SIGPIPE, SIG_IGN);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        if (dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0 || (all && dup2(sv[1], 2) < 0))
            die("dup2");
        close(sv[0]);
        close(sv[1]);
        if (nb && fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK) != 0)
            die("fcntl");
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[optind], argv + optind);
        die(argv[optind]);
    }
    close(sv[1]);
    char in[65536], out[65536];
    if (gone) {
        if (shutdown(sv[0], SHUT_RD) != 0)
            die("shutdown");
        ssize_t got;
        while ((got = read(0, in, sizeof in)) > 0)
            if (write(sv[0], in, (size_t)got) != got)
                break;
        if (shutdown(sv[0], SHUT_WR) != 0)
            die("shutdown");
        goto reap;
    }

    /* Send and receive at once: a program that answers a long input as it reads would
     * otherwise fill the socket while this one is still writing. */
    size_t in_len = 0, in_off = 0;
    int in_open = 1, sock_open = 1, sent_all = 0, shut_later = 0;
    size_t sent_ends = 0, got_ends = 0;
    char in_last = 0, out_last = 0;
    while (sock_open) {
        struct pollfd p[2] = {{.fd = sv[0], .events = POLLIN}, {.fd = 0, .events = POLLIN}};
        if (!sent_all && in_off < in_len)
            p[0].events |= POLLOUT;
        int n = poll(p, in_open && in_off == in_len ? 2 : 1, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (n > 1 || (p[1].revents & (POLLIN | POLLHUP))) {
            ssize_t got = read(0, in, sizeof in);
            if (got < 0 && errno != EINTR)
                die("read stdin");
            if (got == 0) {
                in_open = 0;
                sent_all = 1;
                shut_later = 1;
            } else if (got > 0) {
                sent_ends += ends(in, (size_t)got, &in_last);
                in_len = (size_t)got;
                in_off = 0;
            }
        }
        if (p[0].revents & POLLOUT) {
            ssize_t w = write(sv[0], in + in_off, in_len - in_off);
            if (w < 0 && errno != EINTR && errno != EAGAIN) {
                /* The program has gone: stop sending, read what it said. */
                in_open = 0;
                sent_all = 1;
                in_off = in_len;
            } else if (w > 0) {
                in_off += (size_t)w;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t got = read(sv[0], out, sizeof out);
            if (got < 0 && errno != EINTR && errno != ECONNRESET)
                die("read socket");
            if (got <= 0 && errno != EINTR)
                sock_open = 0;
            else if (got > 0 && fwrite(out, 1, (size_t)got, stdout) != (size_t)got)
                die("write stdout");
            if (got > 0)
                got_ends += ends(out, (size_t)got, &out_last);
        }
        if (shut_later && (!nb || got_ends >= sent_ends || !sock_open)) {
            shut_later = 0;
            if (nb)
                wait_settled(pid, &st, &reaped);
            if (shutdown(sv[0], SHUT_WR) != 0 && errno != ENOTCONN)
                die("shutdown");
        }
    }
    if (fflush(stdout) != 0)
        die("write stdout");
reap:
    while (!reaped && waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    if (logfd >= 0) {
        char d[2048];
        ssize_t got;
        while ((got = recv(logfd, d, sizeof d, MSG_DONTWAIT)) > 0) {
            if (d[got - 1] == '\n') /* musl's syslog ends its messages in one */
                got--;
            fprintf(stderr, "%.*s\n", (int)got, d);
        }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
