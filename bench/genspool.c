/* genspool: makes a relay-ctrl spool for the benchmarks, fast enough for a million records.
 *
 * genspool [-e] dir count   create dir (if needed) and count records in it
 * genspool -c dir           print how many records dir holds: its entries whose names do
 *                           not start with '.' (the store may keep a lock file there)
 *
 * Record i is named by the IPv4 address 10.0.0.0 + i, holds relay-ctrl's content
 * "USER=user<i>\0DOMAIN=example.org\0" (-e: empty, which relay-ctrl and relaylease also
 * read as a valid record, and which costs a tmpfs no page), and has the login time as its
 * mtime. Every odd record is stale: 17 to 60 minutes old. The others are fresh: 0 to 10
 * minutes old. Both are far enough from the 15 minutes of the benchmarks' expiry that
 * relay-expire (age > 900 s) and find (-mmin +15) pick the same half, even if the run takes
 * a few minutes. The ages follow from i alone, so two spools made alike are alike.
 * It prints "<fresh> <stale>". Exit codes: 0 done, 100 usage, 111 system error. */
#define _GNU_SOURCE /* O_DIRECTORY, O_CLOEXEC, futimens */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Noreturn void die(int code, const char *what, const char *name)
{
    fprintf(stderr, "genspool: fatal: %s %s: %s\n", what, name, strerror(errno));
    exit(code);
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "genspool: fatal: usage: genspool [-e] dir count | genspool -c dir\n");
    exit(100);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        die(111, "unable to open", dir);
    unsigned long n = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    if (errno != 0)
        die(111, "unable to read", dir);
    closedir(d);
    printf("%lu\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    int empty = 0;
    if (argc == 3 && strcmp(argv[1], "-c") == 0)
        return count_entries(argv[2]);
    if (argc == 4 && strcmp(argv[1], "-e") == 0) {
        empty = 1;
        argv++;
        argc--;
    }
    if (argc != 3)
        usage();

    const char *dir = argv[1];
    char *end;
    errno = 0;
    unsigned long count = strtoul(argv[2], &end, 10);
    if (errno != 0 || end == argv[2] || *end != '\0' || count == 0 || count > 1UL << 24)
        usage();

    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        die(111, "unable to create", dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        die(111, "unable to open", dir);

    time_t now = time(NULL);
    unsigned long fresh = 0, stale = 0;
    for (unsigned long i = 0; i < count; i++) {
        char name[16];
        unsigned long a = (10UL << 24) + i;
        snprintf(name, sizeof name, "%lu.%lu.%lu.%lu", a >> 24, (a >> 16) & 255,
                 (a >> 8) & 255, a & 255);
        /* A multiplicative hash spreads the ages without a random generator's state. */
        unsigned long h = (i * 2654435761UL) >> 7;
        long age;
        if (i % 2 == 1) {
            age = 17 * 60 + (long)(h % (43 * 60));
            stale++;
        } else {
            age = (long)(h % (10 * 60));
            fresh++;
        }

        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
            die(111, "unable to create", name);
        if (!empty) {
            /* snprintf stops at the first NUL, so the two entries are put in by hand. */
            char body[64];
            int n = snprintf(body, sizeof body, "USER=user%lu", i);
            static const char domain[] = "DOMAIN=example.org";
            memcpy(body + n + 1, domain, sizeof domain);
            size_t len = (size_t)n + 1 + sizeof domain;
            if (write(fd, body, len) != (ssize_t)len)
                die(111, "unable to write", name);
        }
        struct timespec times[2] = {{now - age, 0}, {now - age, 0}};
        if (futimens(fd, times) != 0)
            die(111, "unable to set the time of", name);
        if (close(fd) != 0)
            die(111, "unable to close", name);
    }
    close(dfd);
    printf("%lu %lu\n", fresh, stale);
    return 0;
}
