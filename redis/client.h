/* client.h: talking to Redis and Sentinel with one deadline for a whole exchange (connect,
 * AUTH, the command, every byte of every reply), on the monotonic clock. A hung, slow or
 * dripping server costs the caller at most the time it was given, never more: the rule is
 * that no login and no SMTP session waits on relaylease's store. No name lookups (numeric
 * addresses only), no SIGPIPE (MSG_NOSIGNAL), no descriptor that outlives exec. */
#ifndef RELAYLEASE_REDIS_CLIENT_H
#define RELAYLEASE_REDIS_CLIENT_H

#include <stddef.h>
#include <sys/socket.h>
#include "redis/resp.h"

/* Where a server listens: "unix:/absolute/path", "a.b.c.d:PORT" or "[v6]:PORT". */
struct redis_addr {
    struct sockaddr_storage sa;
    socklen_t len;
    char text[128]; /* as it was written, for messages */
};

/* Parse s strictly (numeric addresses only, no zone id, port 1..65535 with no leading zero,
 * a Unix path that fits sun_path). Returns 0, or -1 (a untouched). */
int redis_addr_parse(const char *s, struct redis_addr *a);

/* One connection, with its deadline (clock_deadline). buf (cap bytes) is the caller's, and holds the replies read: a reply that
 * does not fit is an error (EMSGSIZE), so the caller sizes it for what it asks. */
struct redis_conn {
    int fd;
    long long deadline;
    char *buf;
    size_t cap, len, off; /* bytes read, bytes of them already parsed */
};

/* Connect to a before deadline. Returns 0, or -1 with errno (ETIMEDOUT at the deadline,
 * ECONNREFUSED, ENOENT, ...) and c->fd -1. The socket is non-blocking and close-on-exec. A
 * Unix socket whose listen queue is full (the kernel says EAGAIN at once) is tried again
 * every few milliseconds until the deadline, as a TCP connect waits for its SYN's answer. */
int redis_connect(struct redis_conn *c, const struct redis_addr *a,
                  long long deadline, char *buf, size_t cap);

/* Send all n bytes of req before the deadline. Returns 0, or -1 with errno (ETIMEDOUT,
 * EPIPE or ECONNRESET for a server that went away: never SIGPIPE). */
int redis_send(struct redis_conn *c, const char *req, size_t n);

/* Read the next whole reply before the deadline; its items (max) as resp_parse gives them.
 * Returns 0, or -1 with errno: ETIMEDOUT, ECONNRESET (closed before a whole reply: also for
 * a clean EOF), EMSGSIZE (the reply does not fit in the buffer), EPROTO (malformed, or more
 * items than max); *why (if why is not NULL) is then a static phrase saying which. The items
 * point into the connection's buffer and stay valid until the next call. */
int redis_reply(struct redis_conn *c, struct resp_item *items, size_t max, size_t *nitems,
                const char **why);

/* Are there bytes read past the last reply? A server that answers more than was asked is
 * not one to trust. 1 or 0. */
int redis_leftover(const struct redis_conn *c);

void redis_close(struct redis_conn *c);

/* Read a password file: a regular file, not a link, no access for others, at most cap - 1
 * bytes (its final LF counted), one line (a final LF is dropped; NUL, CR, a second line, or
 * nothing at all make it invalid). out then holds the password and a NUL. Returns its length,
 * or -1 with errno (from open or read; EINVAL for a file that is there but unfit, with *why
 * a static phrase; ELOOP, a symbolic link, also sets *why). On -1 out holds nothing of the
 * file. The password is the caller's to keep out of messages. */
long redis_passfile(const char *path, char *out, size_t cap, const char **why);

/* Add to a request "AUTH user password" (user may be NULL: the default user). The caller
 * sends it before its command in the same write, then reads the AUTH reply first: anything
 * but +OK ends the exchange, whatever follows. Returns 0 or -1 (EMSGSIZE). */
int redis_auth_request(char *out, size_t cap, size_t *len, const char *user, const char *pass,
                       size_t passlen);

/* How many sentinels redis_sentinel_primary asks at most (no allocation: one buffer each). */
#define REDIS_SENTINELS_MAX 16

/* Ask the sentinels, all at once, which primary they name for master, before deadline. The
 * first well-formed answer (two bulk strings: a numeric address and a port) wins. Returns 0
 * with *primary set, or -1 with errno (ETIMEDOUT: none answered in time; ENOENT: every one
 * that answered does not know the name; EPROTO: an answer that does not parse, or names a
 * host name or a bad port, *why saying how; EPROTO wins over ENOENT, ENOENT over ETIMEDOUT;
 * when every connect failed, the last one's errno; EINVAL: n is 0 or more than
 * REDIS_SENTINELS_MAX). *why is set on every -1. With pass (passlen bytes, not NULL), each
 * sentinel is sent "AUTH pass" before the question, and one that does not answer +OK is not
 * believed: a sentinel anyone can reach could otherwise be told by anyone to name another
 * primary. Nothing else is sent to a sentinel. An IPv6 primary is written "[v6]:port". */
int redis_sentinel_primary(const struct redis_addr *sentinels, size_t n, const char *master,
                           const char *pass, size_t passlen, long long deadline,
                           struct redis_addr *primary, const char **why);

#endif
