/* policy.h: one request of Postfix's policy delegation protocol (SMTPD_POLICY_README): lines
 * "name=value", ended by an empty line. The parser is pure: it reads a byte buffer, allocates
 * nothing and prints nothing; the program decides what to answer, log and do. */
#ifndef RELAYLEASE_POLICY_H
#define RELAYLEASE_POLICY_H

#include <stddef.h>
#include "addr.h"

/* Limits that bound what one request may hold. Postfix 3.7 sends 29 lines, 542 bytes for an
 * IPv4 client; the longest values it sends (ccert_subject, helo_name) are far below a line. */
#define POLICY_LINE_MAX 8192      /* bytes in one line, its newline not counted */
#define POLICY_ATTRS_MAX 256      /* name=value lines in one request */
#define POLICY_REQUEST_MAX 65536  /* bytes in one request, its empty line counted */
/* The longest client_address text taken: "ffff:ffff:...:255.255.255.255" is 45 bytes. */
#define POLICY_CLIENT_MAX 63

enum policy_result {
    POLICY_OK,    /* a whole, valid request: *r */
    POLICY_MORE,  /* no fault so far, and no empty line yet: read more and call again */
    POLICY_BAD    /* malformed: *why (static text); no further input could mend it */
};

struct policy_request {
    size_t used;                            /* bytes of the buffer the request took */
    int client_ok;                          /* client_address is an address: */
    struct addr client;                     /* parsed as addr_parse does */
    char client_text[POLICY_CLIENT_MAX + 1];/* as it was sent, cut to POLICY_CLIENT_MAX */
    int sasl;                               /* sasl_username was sent and not empty */
    const char *instance;                   /* instance's value, in the buffer, or NULL */
    size_t instance_len;
};

/* Parse the request at the start of buf (n bytes). Required: exactly one
 * "request=smtpd_access_policy" and one client_address; at most one sasl_username. A
 * client_address that is not strict IPv4 or IPv6 text (no brackets) leaves client_ok 0: a
 * request all the same, since Postfix itself sends "unknown" when it could not learn the
 * address (the client went away first, XCLIENT ADDR=[UNAVAILABLE]). Other names are
 * ignored, whatever their value; only the first instance is kept. Refused: a NUL byte, a line with no '=', a name that is empty
 * or holds other than letters, digits, '_', '-' and '.', and anything over the limits above.
 * A fault is reported as soon as it is in buf, so a request cut anywhere gives POLICY_MORE
 * or POLICY_BAD, and POLICY_BAD for a prefix stays POLICY_BAD with more bytes. Bytes after
 * the empty line are not looked at. */
enum policy_result policy_parse(const char *buf, size_t n, struct policy_request *r,
                                const char **why);

#endif
