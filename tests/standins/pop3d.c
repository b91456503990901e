/* pop3d: a stand-in for qmail-pop3d, the end of the POP3 login chain, for the integration
 * tests.
 *
 * qmail-pop3d needs a Maildir and a qmail installation. The tests only need the program that
 * runs after relay-allow to prove that the chain reached it, as whom, and with which
 * environment. Like qmail-pop3d it has no greeting of its own: its first line, "+OK ", is the
 * reply to the client's PASS. It answers STAT (an empty mailbox), NOOP and QUIT.
 *
 *   pop3d [-e envfile] [maildir]
 *
 * -e writes the whole environment, one NAME=value a line, to envfile at start-up, as the
 * user the chain runs as (so the file's owner tells the uid). maildir is ignored. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

extern char **environ;

static void out(const char *s)
{
    if (fputs(s, stdout) == EOF || fflush(stdout) == EOF)
        exit(111);
}

static int verb_is(const char *line, const char *verb)
{
    size_t n = strlen(verb);
    return strncasecmp(line, verb, n) == 0 && (line[n] == '\0' || line[n] == ' ');
}

int main(int argc, char **argv)
{
    char line[1024];
    int opt;

    while ((opt = getopt(argc, argv, "e:")) != -1) {
        if (opt != 'e') {
            fprintf(stderr, "usage: pop3d [-e envfile] [maildir]\n");
            return 100;
        }
        FILE *f = fopen(optarg, "w");
        char **e;
        if (!f) {
            fprintf(stderr, "pop3d: fatal: unable to write %s: %s\n", optarg, strerror(errno));
            return 111;
        }
        for (e = environ; *e; e++)
            fprintf(f, "%s\n", *e);
        if (fclose(f) == EOF) {
            fprintf(stderr, "pop3d: fatal: unable to write %s: %s\n", optarg, strerror(errno));
            return 111;
        }
    }

    out("+OK \r\n");
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (verb_is(line, "STAT"))
            out("+OK 0 0\r\n");
        else if (verb_is(line, "NOOP"))
            out("+OK \r\n");
        else if (verb_is(line, "QUIT")) {
            out("+OK \r\n");
            return 0;
        } else
            out("-ERR unimplemented\r\n");
    }
    return 0;
}
