/* io.h: reading and writing in full. A read or write may move fewer bytes than asked, or end
 * with EINTR when a signal arrives (relay-session and the cdb builder both take signals); every
 * caller that wants all its bytes goes through these. */
#ifndef RELAYLEASE_IO_H
#define RELAYLEASE_IO_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Write all n bytes of buf to fd. 0, or -1 with errno set (EIO for a write that took nothing,
 * which would otherwise loop for ever). */
int io_write(int fd, const void *buf, size_t n);

/* One write(2) of n bytes, tried again only when a signal cut it off: what write returned.
 * For bytes that must land whole or not at all (a line appended to a file other processes
 * append to, a line shorter than PIPE_BUF into a pipe): a second write to finish a short one
 * could land after another writer's bytes, so a short write is the caller's error to report,
 * never a part to finish. */
ssize_t io_write_once(int fd, const void *buf, size_t n);

/* Write all n buffers of iov, however many writev takes at a time. The array is used up:
 * its entries are advanced past what was written. 0, or -1 with errno set. */
int io_writev(int fd, struct iovec *iov, size_t n);

/* Read into buf until it holds n bytes or the input ends. The number of bytes read (less than
 * n only at the end of the input), or -1 with errno set. */
ssize_t io_read(int fd, void *buf, size_t n);

#endif
