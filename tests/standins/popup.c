/* popup: a stand-in for qmail-popup, for the integration tests.
 *
 * Debian no longer ships qmail, and relay-allow only cares about what qmail-popup does after
 * PASS: it runs "checkpassword subprogram..." with fd 0 and fd 1 still the network, fd 3 a
 * pipe carrying "user\0pass\0timestamp\0", and the environment (TCPREMOTEIP and the rest from
 * tcpserver) passed through unchanged. This program does that and little else.
 *
 *   popup hostname checkpassword [subprogram...]
 *
 * It greets with "+OK <pid.time@hostname>", takes USER and PASS, and runs the chain. If the
 * chain exits 0 the session was served and popup exits 0. If it fails (a bad password exits
 * 1, a temporary error 111), popup replies "-ERR authorization failed" and the client may try
 * again or QUIT. Like qmail-popup it reads its input buffered, so a client has to wait for
 * each reply before it sends the next line. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static _Noreturn void die(const char *what, const char *why)
{
    fprintf(stderr, "popup: fatal: %s%s%s\n", what, why ? ": " : "", why ? why : "");
    exit(111);
}

static void out(const char *s)
{
    if (fputs(s, stdout) == EOF || fflush(stdout) == EOF)
        exit(111);
}

static int get_line(char *buf, size_t size)
{
    size_t len;

    if (!fgets(buf, (int)size, stdin))
        return 0;
    len = strlen(buf);
    if (len > 0 && buf[len - 1] != '\n') {
        int c;
        while ((c = getchar()) != EOF && c != '\n')
            ;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    return 1;
}

/* The argument after a four-letter verb, or "" if there is none. */
static const char *arg_of(const char *line)
{
    return line[4] == ' ' ? line + 5 : "";
}

static int verb_is(const char *line, const char *verb)
{
    return strncasecmp(line, verb, 4) == 0 && (line[4] == '\0' || line[4] == ' ') &&
           strlen(verb) == 4;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1)
            return;  /* the checker did not read it all: its exit status tells the rest */
        buf += w;
        len -= (size_t)w;
    }
}

/* Run the chain with fd 3 carrying user, pass and stamp. Returns its wait status. */
static int run_chain(char **chain, const char *user, const char *pass, const char *stamp)
{
    int pi[2], status;
    pid_t pid;
    size_t ulen = strlen(user) + 1, plen = strlen(pass) + 1, slen = strlen(stamp) + 1;
    char *up = malloc(ulen + plen + slen);

    if (!up)
        die("out of memory", NULL);
    if (pipe(pi) == -1)
        die("unable to create a pipe", strerror(errno));
    fflush(stdout);
    pid = fork();
    if (pid == -1)
        die("unable to fork", strerror(errno));
    if (pid == 0) {
        close(pi[1]);
        if (pi[0] != 3) {
            if (dup2(pi[0], 3) == -1)
                _exit(111);
            close(pi[0]);
        }
        signal(SIGPIPE, SIG_DFL);
        execvp(chain[0], chain);
        fprintf(stderr, "popup: fatal: unable to run %s: %s\n", chain[0], strerror(errno));
        _exit(111);
    }
    close(pi[0]);
    memcpy(up, user, ulen);
    memcpy(up + ulen, pass, plen);
    memcpy(up + ulen + plen, stamp, slen);
    write_all(pi[1], up, ulen + plen + slen);
    close(pi[1]);
    memset(up, 0, ulen + plen + slen);
    free(up);
    while (waitpid(pid, &status, 0) == -1)
        if (errno != EINTR)
            die("unable to wait for the checker", strerror(errno));
    return status;
}

int main(int argc, char **argv)
{
    char line[1024], user[512] = "", stamp[256], buf[512];

    if (argc < 3) {
        fprintf(stderr, "usage: popup hostname checkpassword [subprogram...]\n");
        return 100;
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(stamp, sizeof stamp, "<%ld.%ld@%s>", (long)getpid(), (long)time(NULL), argv[1]);
    snprintf(buf, sizeof buf, "+OK %s\r\n", stamp);
    out(buf);

    while (get_line(line, sizeof line)) {
        if (verb_is(line, "USER")) {
            const char *name = arg_of(line);
            if (!*name || strlen(name) >= sizeof user) {
                out("-ERR syntax error\r\n");
                continue;
            }
            memcpy(user, name, strlen(name) + 1);
            out("+OK \r\n");
        } else if (verb_is(line, "PASS")) {
            int status;
            if (!*user) {
                out("-ERR USER first\r\n");
                continue;
            }
            status = run_chain(argv + 2, user, arg_of(line), stamp);
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
            user[0] = '\0';
            out("-ERR authorization failed\r\n");
        } else if (verb_is(line, "NOOP")) {
            out("+OK \r\n");
        } else if (verb_is(line, "QUIT")) {
            out("+OK \r\n");
            return 0;
        } else {
            out("-ERR authorization first\r\n");
        }
    }
    return 0;
}
