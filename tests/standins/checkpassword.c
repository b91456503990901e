/* checkpassword: a stand-in for a checkpassword program (djb's checkpassword, vchkpw), for
 * the integration tests.
 *
 * A real checker needs real system accounts or a vpopmail installation. What relay-allow
 * depends on is the checkpassword interface: read "user\0pass\0timestamp\0" from fd 3; on
 * success drop to the user's uid and gid, set USER, HOME and SHELL, chdir to HOME, and exec
 * the rest of argv, so that the program after it runs as the mail user, not as root. This
 * program keeps that interface and takes its accounts from a test file instead.
 *
 *   checkpassword subprogram [args...]
 *
 * STANDIN_PASSWD names the account file: lines "user:pass:uid:gid:home". Privileges are
 * dropped only when running as root; otherwise uid and gid are not checked, so tests can run
 * unprivileged. Exit codes as in the interface: 1 bad login, 2 misuse, 111 temporary error. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE  /* setgroups */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Noreturn void die(int code, const char *what, const char *why)
{
    fprintf(stderr, "checkpassword: %s: %s%s%s\n", code == 111 ? "fatal" : "error", what,
            why ? ": " : "", why ? why : "");
    exit(code);
}

/* A decimal id with no sign, at most 4294967294. Returns 0, or -1. */
static int parse_id(const char *s, unsigned long *out)
{
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    *out = strtoul(s, &end, 10);
    if (errno || *end || *out >= 4294967295UL)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    char up[513], line[1024];
    size_t len = 0;
    const char *user, *pass, *file;
    FILE *f;
    int found = 0;
    unsigned long uid = 0, gid = 0;
    char *home = NULL, *name = NULL;

    if (argc < 2)
        die(2, "usage: checkpassword subprogram [args...]", NULL);

    for (;;) {
        ssize_t r = read(3, up + len, sizeof up - 1 - len);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1)
            die(111, "unable to read fd 3", strerror(errno));
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == sizeof up - 1)
            die(2, "fd 3 carries too much", NULL);
    }
    up[len] = '\0';
    user = up;
    if (strlen(user) + 1 >= len)
        die(2, "fd 3 carries no password", NULL);
    pass = user + strlen(user) + 1;

    file = getenv("STANDIN_PASSWD");
    if (!file)
        die(111, "STANDIN_PASSWD is not set", NULL);
    f = fopen(file, "r");
    if (!f)
        die(111, "unable to open the account file", strerror(errno));
    while (!found && fgets(line, sizeof line, f)) {
        char *fields[5], *p = line;
        int n;

        line[strcspn(line, "\r\n")] = '\0';
        for (n = 0; n < 5 && p; n++) {
            fields[n] = p;
            p = strchr(p, ':');
            if (p)
                *p++ = '\0';
        }
        if (n != 5 || p)
            continue;  /* not an account line */
        if (strcmp(fields[0], user) != 0 || strcmp(fields[1], pass) != 0)
            continue;
        if (parse_id(fields[2], &uid) == -1 || parse_id(fields[3], &gid) == -1)
            die(111, "bad uid or gid in the account file for", user);
        home = strdup(fields[4]);
        name = strdup(fields[0]);
        if (!home || !name)
            die(111, "out of memory", NULL);
        found = 1;
    }
    if (ferror(f))
        die(111, "unable to read the account file", strerror(errno));
    fclose(f);
    memset(up, 0, sizeof up);
    if (!found)
        return 1;

    if (geteuid() == 0) {
        gid_t g = (gid_t)gid;
        if (setgroups(1, &g) == -1)
            die(111, "unable to set groups", strerror(errno));
        if (setgid(g) == -1)
            die(111, "unable to set gid", strerror(errno));
        if (setuid((uid_t)uid) == -1)
            die(111, "unable to set uid", strerror(errno));
    }
    if (chdir(home) == -1)
        die(111, "unable to chdir to", home);
    if (setenv("USER", name, 1) == -1 || setenv("HOME", home, 1) == -1 ||
        setenv("SHELL", "/bin/sh", 1) == -1)
        die(111, "out of memory", NULL);
    execvp(argv[1], argv + 1);
    fprintf(stderr, "checkpassword: fatal: unable to run %s: %s\n", argv[1], strerror(errno));
    return 111;
}
