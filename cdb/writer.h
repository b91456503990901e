/* writer.h: relay-cdb's output files. The temp file of a build (the cdb's, the snapshot's) is
 * made new, private and locked, so that two builds (a rebuild after a login and one by hand,
 * say) never write into the same file, and none ever opens for writing a file it did not
 * make; and the cdb is written there with tinycdb, fsynced, and renamed over the old one
 * (replace.h). Returns are 0 (writer_open: the descriptor), or -1 with errno set. */
#ifndef RELAYLEASE_WRITER_H
#define RELAYLEASE_WRITER_H

#include <cdb.h>
#include <stddef.h>

/* How long a temp file that another build holds is waited for: a build takes a few seconds
 * at most, and the trigger's lock keeps its own builds apart; past this the holder is stuck,
 * and this build gives up rather than hang (the next login's or sweep's build retries). */
#define WRITER_WAIT_MS 5000

/* Make the temp file tmp: new (O_EXCL), private (0600) and locked. A name that is there
 * already and held by a live build (its lock) is waited for, WRITER_WAIT_MS at most (then
 * EBUSY); one that no build holds is left from a build that died (or planted): it is removed,
 * never written into, and stale(tmp, arg) is told. The lock counts only while the name leads
 * to the locked file (a build that found ours stale in the moment before we locked it has
 * removed it: then make another). */
int writer_open(const char *tmp, void (*stale)(const char *tmp, void *arg), void *arg);

struct writer_cdb {
    struct cdb_make cm;
    int fd;
};

/* Start a cdb in the temp file fd (from writer_open). */
int writer_cdb_start(struct writer_cdb *w, int fd);

/* Add a record (merge_put_fn: arg is the struct writer_cdb). */
int writer_cdb_put(const char *k, size_t klen, const char *v, size_t vlen, void *arg);

/* End the cdb and close it, mode 0644 (it is for tcpserver to read, as tcprules makes it),
 * fsynced: after a crash the name must lead to a whole file, or tcpserver would refuse (or
 * wrongly admit) every client until the next build. On error the temp file tmp is unlinked
 * (and w->fd closed). Then the caller renames it (replace_rename). */
int writer_cdb_close(struct writer_cdb *w, const char *tmp);

#endif
