/* sources.c: the allowances' sources, snapshot, journal and rescan (see sources.h). */
#define _GNU_SOURCE /* O_NOFOLLOW */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "addr.h"
#include "cdb/sources.h"
#include "cdb/trigger.h"
#include "io.h"
#include "store/dir.h"

#ifndef MAP_POPULATE
#define MAP_POPULATE 0 /* Linux's: fault the snapshot in with the mmap, not page by page */
#endif

void sources_init(struct sources *s)
{
    memset(s, 0, sizeof *s);
    s->nkept = 1; /* the header's slot */
}

int sources_add(struct sources *s, const char *k, size_t klen, time_t t)
{
    if (s->nallow == s->capallow) {
        size_t cap = s->capallow ? s->capallow * 2 : 4096;
        struct snapshot_entry *a = realloc(s->allow, cap * sizeof *a);
        if (a == NULL)
            return -1;
        s->allow = a;
        s->capallow = cap;
    }
    if (rbuf_reserve(&s->akeys, SNAPSHOT_LINE_MAX) != 0)
        return -1;
    if (s->akeys.len + SNAPSHOT_LINE_MAX > SNAPSHOT_BUF_MAX) {
        errno = EFBIG;
        return -1;
    }
    struct snapshot_entry *e = &s->allow[s->nallow++];
    e->off = (uint32_t)s->akeys.len;
    e->klen = (uint16_t)klen;
    e->len = (uint16_t)snapshot_line(s->akeys.s + s->akeys.len, k, klen, t > 0 ? t : 1);
    e->time = t;
    s->akeys.len += e->len;
    return 0;
}

void sources_forget(struct sources *s)
{
    if (s->snap != NULL)
        munmap((void *)s->snap, s->snaplen);
    s->snap = NULL;
    s->snaplen = s->snapbody = 0;
    s->nallow = 0;
    s->akeys.len = 0;
}

/* It is mapped rather than read: no copy of it, no memory to fault in. Only the builders
 * could truncate it under the mapping (and so kill the build with SIGBUS), and they never do:
 * a snapshot is replaced by a rename, never rewritten in place. */
int sources_load_snapshot(struct sources *s, const char *path, const struct snapshot_id *id,
                          const char **why)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        *why = errno == ELOOP ? "a symbolic link" : strerror(errno);
        return -1;
    }
    struct stat st, dst;
    const char *bad = NULL;
    if (fstat(fd, &st) != 0)
        bad = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        bad = "not a regular file";
    else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        bad = "writable by its group or by others";
    else if (st.st_uid != 0 && st.st_uid != geteuid() &&
             (trigger_dir_stat(path, &dst) != 0 || st.st_uid != dst.st_uid))
        bad = "owned by neither root, us, nor the owner of its directory";
    else if (st.st_size > SOURCES_SNAPSHOT_MAX)
        bad = "too big";
    else if (st.st_size == 0)
        bad = "empty";
    void *map = MAP_FAILED;
    if (bad == NULL) {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (map == MAP_FAILED)
            bad = strerror(errno);
    }
    close(fd);
    if (bad != NULL) {
        *why = bad;
        return -1;
    }

    sources_forget(s);
    s->snap = map;
    s->snaplen = (size_t)st.st_size;
    size_t n;
    if (snapshot_check(s->snap, s->snaplen, id, &n, &s->snapbody, why) != 0) {
        sources_forget(s);
        return -1;
    }
    return 0;
}

/* (Every key has at least four bytes: "::_1".) */
static size_t journal_bit(const struct sources *s, const char *k, size_t klen)
{
    size_t tail = (size_t)(unsigned char)k[klen - 1] | (size_t)(unsigned char)k[klen - 2] << 8;
    return (tail ^ klen * 0x9e5U) % (8 * sizeof s->journal_bits);
}

int sources_in_journal(const struct sources *s, const char *k, size_t klen)
{
    if (s->journal.n == 0)
        return 0;
    size_t b = journal_bit(s, k, klen);
    return (s->journal_bits[b / 8] >> (b % 8) & 1) && map_get(&s->journal, k, klen) != MAP_NONE;
}

int sources_read_journal(struct sources *s, int fd, unsigned long *bad, const char **why)
{
    struct stat st;
    *bad = 0;
    if (fstat(fd, &st) != 0) {
        *why = strerror(errno);
        return -1;
    }
    if (st.st_size > SOURCES_JOURNAL_MAX)
        return 1;
    size_t size = (size_t)st.st_size;
    if (rbuf_reserve(&s->jbuf, size + 1) != 0)
        return -2;
    ssize_t got = io_read(fd, s->jbuf.s + s->jbuf.len, size);
    if (got < 0 || (size_t)got < size) {
        *why = got < 0 ? strerror(errno) : "shorter than its size";
        return -1;
    }
    s->jbuf.len += size;
    s->jbuf.s[s->jbuf.len] = '\0';

    for (size_t pos = 0; pos < s->jbuf.len;) {
        char *line = s->jbuf.s + pos;
        char *nl = memchr(line, '\n', s->jbuf.len - pos);
        size_t len = nl ? (size_t)(nl - line) : s->jbuf.len - pos;
        pos += len + 1;
        struct addr a;
        unsigned bits;
        if (nl == NULL || len == 0 || len >= ADDR_KEY_MAX || memchr(line, '\0', len) != NULL) {
            (*bad)++;
            continue;
        }
        *nl = '\0';
        if (addr_key_parse(&a, &bits, line) != 0) {
            (*bad)++;
            continue;
        }
        if (map_get(&s->journal, line, len) == MAP_NONE) {
            if (map_push(&s->journal, &s->jbuf, (size_t)(line - s->jbuf.s), len) != 0)
                return -2;
            size_t b = journal_bit(s, line, len);
            s->journal_bits[b / 8] |= (unsigned char)(1U << (b % 8));
        }
    }
    return 0;
}

size_t sources_journal_keys(const struct sources *s)
{
    return s->journal.n;
}

int sources_lookup_journal(struct sources *s, const char *dir, log_fn *warn)
{
    for (size_t j = 0; j < s->journal.n; j++) {
        const char *k = s->jbuf.s + s->journal.koff[j];
        struct record r;
        const char *why;
        switch (store_dir_lookup(dir, k, &r, &why)) {
        case STORE_FOUND:
            if (sources_add(s, k, s->journal.klen[j], r.time) != 0)
                return -1;
            break;
        case STORE_MISSING:
            break;
        case STORE_INVALID:
            warn("invalid record %s/%s: %s", dir, k, why);
            break;
        case STORE_ERROR:
            warn("unable to read %s/%s: %s", dir, k, strerror(errno));
            break;
        }
    }
    return 0;
}

void sources_each(const struct sources *s,
                  void (*fn)(const char *line, const struct snapshot_entry *e,
                             int from_snapshot, void *arg),
                  void *arg)
{
    struct snapshot_entry e;
    for (size_t pos = s->snapbody; s->snap != NULL && snapshot_next(s->snap, s->snaplen, &pos, &e);)
        fn(s->snap + e.off, &e, 1, arg);
    for (size_t i = 0; i < s->nallow; i++)
        fn(s->akeys.s + s->allow[i].off, &s->allow[i], 0, arg);
}

/* Lines that are neighbours where they are (all of a snapshot that lost no entry) go out as
 * one run. */
int sources_keep(struct sources *s, const char *line, size_t len)
{
    s->keptlines++;
    struct iovec *last = s->nkept > 1 ? &s->kept[s->nkept - 1] : NULL;
    if (last != NULL && (const char *)last->iov_base + last->iov_len == line) {
        last->iov_len += len;
        return 0;
    }
    if (s->kept == NULL || s->nkept >= s->capkept) {
        size_t cap = s->capkept ? s->capkept * 2 : 64;
        struct iovec *k = realloc(s->kept, cap * sizeof *k);
        if (k == NULL)
            return -1;
        s->kept = k;
        s->capkept = cap;
    }
    s->kept[s->nkept].iov_base = (void *)line;
    s->kept[s->nkept++].iov_len = len;
    return 0;
}

int sources_keep_ready(struct sources *s)
{
    if (s->kept == NULL) {
        s->kept = malloc(sizeof *s->kept); /* the header's slot alone: no allowance */
        if (s->kept == NULL)
            return -1;
        s->capkept = 1;
    }
    return 0;
}

int sources_write_snapshot(struct sources *s, int fd, const struct snapshot_id *id)
{
    char header[SNAPSHOT_HEADER_MAX];
    if (sources_keep_ready(s) != 0)
        return -1;
    s->kept[0].iov_base = header;
    s->kept[0].iov_len = snapshot_header(header, id, s->keptlines);
    return io_writev(fd, s->kept, s->nkept);
}

void sources_free(struct sources *s)
{
    sources_forget(s);
    rbuf_free(&s->akeys);
    rbuf_free(&s->jbuf);
    map_free(&s->journal);
    free(s->allow);
    free(s->kept);
    sources_init(s);
}
