/* unit-writer.c: relay-cdb's output files, in a scratch directory. The temp file is new,
 * private and locked; one left by a build that died is removed (and said so), never written
 * into, and so is a symbolic link planted under its name; the cdb written there holds every
 * record, in order, and ends up 0644 under its name with no temp file left. */
#define _XOPEN_SOURCE 700 /* mkdtemp, symlink */
#define _DEFAULT_SOURCE    /* flock */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cdb/writer.h"
#include "replace.h"
#include "unit.h"
#include "unit-files.h"

static void note_stale(const char *tmp, void *arg)
{
    (void)tmp;
    (*(int *)arg)++;
}

static long mode_of(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0 ? (long)(st.st_mode & 07777) : -1;
}

int main(void)
{
    umask(022);
    scratch_make("unit-writer");
    if (chdir(top) != 0)
        fail_setup("enter", top);

    int stale = 0;
    int fd = writer_open("rules.tmp", note_stale, &stale);
    CHECK(fd >= 0 && mode_of("rules.tmp") == 0600 && stale == 0, "a new temp file, mode 0600");
    int other = open("rules.tmp", O_RDONLY);
    CHECK(other >= 0 && flock(other, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK,
          "it is locked");
    if (other >= 0)
        close(other);

    struct writer_cdb w;
    CHECK(writer_cdb_start(&w, fd) == 0, "a cdb is started in it");
    CHECK(writer_cdb_put("10.9.", 5, "D", 2, &w) == 0 && writer_cdb_put("", 0, "+A=1", 5, &w) == 0 &&
              writer_cdb_put("10.9.", 5, "+B=2", 5, &w) == 0,
          "three records put");
    CHECK(writer_cdb_close(&w, "rules.tmp") == 0 && w.fd == -1 && mode_of("rules.tmp") == 0644,
          "closed: mode 0644");
    CHECK(replace_rename(AT_FDCWD, "rules.tmp", "rules.cdb") == 0 && mode_of("rules.tmp") == -1,
          "renamed over rules.cdb, no temp file left");
    int cfd = open("rules.cdb", O_RDONLY);
    struct cdb c;
    if (CHECK(cfd >= 0 && cdb_init(&c, cfd) == 0, "the cdb opens")) {
        char v[8] = "";
        CHECK(cdb_find(&c, "10.9.", 5) > 0 && cdb_datalen(&c) == 2 &&
                  cdb_read(&c, v, 2, cdb_datapos(&c)) == 0 && memcmp(v, "D", 2) == 0,
              "cdb_find returns the first record under a key");
        CHECK(cdb_find(&c, "", 0) > 0 && cdb_datalen(&c) == 5, "the empty key is there");
        CHECK(cdb_find(&c, "10.9", 4) == 0, "nothing else is");
        cdb_free(&c);
    }
    if (cfd >= 0)
        close(cfd);

    /* A temp file left by a build that died: removed, then made anew. */
    int left = open("rules.tmp", O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(left >= 0 && write(left, "junk", 4) == 4 && close(left) == 0, "setup: a leftover");
    fd = writer_open("rules.tmp", note_stale, &stale);
    struct stat st;
    CHECK(fd >= 0 && stale == 1 && fstat(fd, &st) == 0 && st.st_size == 0,
          "a leftover is removed (and said so), and a new empty file made");
    writer_cdb_start(&w, fd);
    CHECK(writer_cdb_close(&w, "rules.tmp") == 0, "an empty cdb");
    unlink("rules.tmp");

    /* A symbolic link planted under the name: never followed, removed. */
    if (symlink("target", "rules.tmp") == 0) {
        fd = writer_open("rules.tmp", note_stale, &stale);
        CHECK(fd >= 0 && stale == 2 && mode_of("target") == -1 && mode_of("rules.tmp") == 0600,
              "a planted symbolic link is removed, its target never made");
        if (fd >= 0)
            replace_abandon(fd, AT_FDCWD, "rules.tmp");
    }

    /* Failures: a directory that cannot be written. */
    CHECK(mkdir("ro", 0500) == 0, "setup: a read-only directory");
    if (geteuid() != 0)
        CHECK(writer_open("ro/rules.tmp", NULL, NULL) == -1 && errno == EACCES,
              "a temp file where none may be made: -1, EACCES");
    fd = writer_open("rules.tmp", NULL, NULL);
    writer_cdb_start(&w, fd);
    close(fd); /* the cdb's end cannot be written now */
    CHECK(writer_cdb_close(&w, "rules.tmp") == -1 && mode_of("rules.tmp") == -1,
          "a cdb whose end cannot be written: -1, and the temp file is gone");

    int status = unit_done();
    if (chdir("/") != 0)
        printf("# unable to leave the scratch directory %s: %s\n", top, strerror(errno));
    scratch_remove();
    return status;
}
