/* replace.h: atomic replacement of a file, the one way every file another process reads is
 * written here (the store's records, relay-cdb's cdb and snapshot). A new private temp file is
 * made beside the name, written, closed and renamed over the name, so that a reader opens the
 * old file or the new one, never half of one; every error path unlinks the temp file.
 *
 *   fd = replace_open(dirfd, tmp)           new (O_EXCL), private (0600), never through a link
 *   io_write(fd, ...)                       the caller's bytes
 *   replace_close(fd, dirfd, tmp, sync, mode)
 *   replace_rename(dirfd, tmp, name)
 *
 * dirfd is a directory's descriptor, or AT_FDCWD for names relative to the working directory.
 * Whether to fsync is the caller's to decide: a file that must survive a crash whole (the cdb)
 * asks for it; one whose loss costs little (a record lives for minutes) does not, and saves
 * every writer a disk flush. Each call returns 0 (replace_open: the descriptor), or -1 with
 * errno set, the temp file gone and its descriptor closed. */
#ifndef RELAYLEASE_REPLACE_H
#define RELAYLEASE_REPLACE_H

#include <sys/types.h>

/* Create tmp, which must not exist: O_EXCL, so that a name this call did not just create (a
 * leftover, or one planted to catch the writer) is never written through; O_NOFOLLOW, for a
 * symbolic link that dangles. Mode 0600 (less what the umask takes) until replace_close sets
 * the final one. Returns the
 * descriptor, or -1 with errno (EEXIST: the name is there; the caller decides what a leftover
 * means and whether to remove it). */
int replace_open(int dirfd, const char *tmp);

/* replace_open for a temp name that is this process's alone (it carries the pid): a leftover
 * there is from a writer of the same pid that died, or a name planted to catch this one, and
 * is removed, never written through, before the create is tried once more. read_back: the
 * descriptor reads too, for a caller that reads what it has written. */
int replace_open_own(int dirfd, const char *tmp, int read_back);

/* Finish the temp file: fsync it if sync, set its mode (always: a umask that took the
 * owner's bits must not leave a file its own writer cannot read back), close it. On error the
 * temp file is unlinked. */
int replace_close(int fd, int dirfd, const char *tmp, int sync, mode_t mode);

/* Rename the closed temp file over name. On error the temp file is unlinked. */
int replace_rename(int dirfd, const char *tmp, const char *name);

/* Give up: close fd (if >= 0) and unlink tmp, errno kept. */
void replace_abandon(int fd, int dirfd, const char *tmp);

#endif
