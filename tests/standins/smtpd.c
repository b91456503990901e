/* smtpd: a stand-in for qmail-smtpd's relay decision, for the integration tests.
 *
 * qmail-smtpd needs a whole qmail installation (control files, a queue, its users) to run,
 * and the only part relaylease touches is its RCPT decision: a recipient whose domain is in
 * rcpthosts is accepted; any other is accepted only if RELAYCLIENT is set, even to "". This
 * program makes that decision with qmail's reply texts, so a test can tell a granted relay
 * from a refused one by the exact reply code, and it never queues anything.
 *
 *   smtpd [-a] [-e envfile] rcpthosts
 *
 * rcpthosts holds one domain a line; a line ".example.com" matches every subdomain, as in
 * qmail. -a advertises AUTH in the EHLO reply. -e writes the whole environment, one
 * NAME=value a line, to envfile at start-up. The extra verb XENV replies with the state of
 * RELAYCLIENT and TCPREMOTEINFO, the two variables relay-check may set.
 * Fd 0 and fd 1 are the network, as under tcpserver. Exit 0 after QUIT or EOF, 111 on errors. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *hostname = "localhost";
static const char *rcpthosts;

static _Noreturn void die(const char *what, const char *why)
{
    fprintf(stderr, "smtpd: fatal: %s%s%s\n", what, why ? ": " : "", why ? why : "");
    exit(111);
}

static void out(const char *s)
{
    if (fputs(s, stdout) == EOF || fflush(stdout) == EOF)
        exit(111);  /* the client is gone */
}

/* One line from the client, CR LF stripped. Returns 0 at EOF. Overlong lines are cut. */
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

static int verb_is(const char *line, const char *verb)
{
    size_t n = strlen(verb);
    return strncasecmp(line, verb, n) == 0 && (line[n] == '\0' || line[n] == ' ');
}

/* The address in "RCPT TO:<a@b>" or "RCPT TO:a@b", copied into addr. */
static void get_address(const char *arg, char *addr, size_t size)
{
    const char *start = strchr(arg, ':');
    size_t len;

    start = start ? start + 1 : arg;
    while (*start == ' ')
        start++;
    if (*start == '<') {
        const char *end = strchr(++start, '>');
        len = end ? (size_t)(end - start) : strlen(start);
    } else {
        len = strcspn(start, " ");
    }
    if (len >= size)
        len = size - 1;
    memcpy(addr, start, len);
    addr[len] = '\0';
}

/* qmail's rcpthosts rule: the domain itself, or any ".suffix" line that ends it. An address
 * with no domain is local, so it is allowed. */
static int rcpt_allowed(const char *addr)
{
    const char *at = strrchr(addr, '@');
    char line[1024];
    FILE *f;
    int found = 0;

    if (!at)
        return 1;
    f = fopen(rcpthosts, "r");
    if (!f)
        die("unable to read rcpthosts", strerror(errno));
    while (!found && fgets(line, sizeof line, f)) {
        const char *dom = at + 1;
        size_t len = strcspn(line, "\r\n");
        size_t dlen = strlen(dom);
        line[len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        /* the domain itself, or ".example.org" for any domain under it */
        if (strcasecmp(line, dom) == 0 ||
            (line[0] == '.' && dlen > len && strcasecmp(dom + dlen - len, line) == 0))
            found = 1;
    }
    if (ferror(f))
        die("unable to read rcpthosts", strerror(errno));
    fclose(f);
    return found;
}

static void write_env(const char *path)
{
    FILE *f = fopen(path, "w");
    char **e;

    if (!f)
        die("unable to write the environment file", strerror(errno));
    for (e = environ; *e; e++)
        fprintf(f, "%s\n", *e);
    if (fclose(f) == EOF)
        die("unable to write the environment file", strerror(errno));
}

static void xenv_line(const char *name, int last)
{
    const char *v = getenv(name);
    char buf[512];

    if (v)
        snprintf(buf, sizeof buf, "250%c%s=\"%s\"\r\n", last ? ' ' : '-', name, v);
    else
        snprintf(buf, sizeof buf, "250%c%s unset\r\n", last ? ' ' : '-', name);
    out(buf);
}

static void data(void)
{
    char line[1024];
    char buf[128];

    out("354 go ahead\r\n");
    for (;;) {
        if (!get_line(line, sizeof line))
            exit(0);
        if (strcmp(line, ".") == 0)
            break;
    }
    snprintf(buf, sizeof buf, "250 ok %ld qp %ld\r\n", (long)time(NULL), (long)getpid());
    out(buf);
}

int main(int argc, char **argv)
{
    const char *envfile = NULL;
    int opt, auth = 0, have_mail = 0, rcpts = 0;
    char line[1024], addr[512], buf[1024];

    while ((opt = getopt(argc, argv, "ae:")) != -1) {
        if (opt == 'a')
            auth = 1;
        else if (opt == 'e')
            envfile = optarg;
        else
            return 100;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "usage: smtpd [-a] [-e envfile] rcpthosts\n");
        return 100;
    }
    rcpthosts = argv[optind];
    if (envfile)
        write_env(envfile);

    snprintf(buf, sizeof buf, "220 %s ESMTP\r\n", hostname);
    out(buf);
    while (get_line(line, sizeof line)) {
        if (verb_is(line, "HELO")) {
            snprintf(buf, sizeof buf, "250 %s\r\n", hostname);
            out(buf);
        } else if (verb_is(line, "EHLO")) {
            snprintf(buf, sizeof buf, "250-%s\r\n250-PIPELINING\r\n%s250 8BITMIME\r\n", hostname,
                     auth ? "250-AUTH LOGIN PLAIN\r\n" : "");
            out(buf);
        } else if (verb_is(line, "MAIL")) {
            have_mail = 1;
            rcpts = 0;
            out("250 ok\r\n");
        } else if (verb_is(line, "RCPT")) {
            if (!have_mail) {
                out("503 MAIL first (#5.5.1)\r\n");
                continue;
            }
            get_address(line + 4, addr, sizeof addr);
            if (getenv("RELAYCLIENT") == NULL && !rcpt_allowed(addr)) {
                out("553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n");
                continue;
            }
            rcpts++;
            out("250 ok\r\n");
        } else if (verb_is(line, "DATA")) {
            if (!rcpts)
                out("503 RCPT first (#5.5.1)\r\n");
            else
                data();
            have_mail = rcpts = 0;
        } else if (verb_is(line, "RSET")) {
            have_mail = rcpts = 0;
            out("250 flushed\r\n");
        } else if (verb_is(line, "NOOP")) {
            out("250 ok\r\n");
        } else if (verb_is(line, "XENV")) {
            xenv_line("RELAYCLIENT", 0);
            xenv_line("TCPREMOTEINFO", 1);
        } else if (verb_is(line, "QUIT")) {
            snprintf(buf, sizeof buf, "221 %s\r\n", hostname);
            out(buf);
            return 0;
        } else {
            out("502 unimplemented (#5.5.1)\r\n");
        }
    }
    return 0;
}
