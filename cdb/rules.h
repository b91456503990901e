/* rules.h: tcprules' input syntax, read exactly as Debian's tcprules reads it, and the keys
 * that tcpserver looks up in the cdb, so that relay-cdb can write what tcpserver will find.
 * Plain C with no cdb library: the unit tests and any static program can link it. */
#ifndef RELAYLEASE_RULES_H
#define RELAYLEASE_RULES_H

#include <stddef.h>
#include "buf.h"

enum rules_line {
    RULES_RULE,     /* a rule: its address and value are set */
    RULES_SKIP,     /* a comment, an empty line, or one of only spaces and tabs */
    RULES_NOCOLON,  /* text with no colon: tcprules ignores it (the IPv6 build hangs on it) */
    RULES_BAD,      /* tcprules would refuse the whole input: exit 100 */
    RULES_NOMEM     /* out of memory */
};

/* Read one input line (its bytes, with or without the final newline). On RULES_RULE,
 * *addr and *addrlen point into line at the address (the text before the colon that starts
 * ":allow" or ":deny"), and the value tcprules stores for it, "D\0" for a deny and then
 * "+NAME=value\0" for each variable, is appended to value. A line whose first colon is not
 * followed by allow or deny is read as ucspi-tcp-ipv6 reads it: the first colon that is
 * followed by one of them ends the address, so "2001:db8::1:allow" works. */
enum rules_line rules_parse_line(const char *x, size_t len, const char **addr,
                                 size_t *addrlen, struct rbuf *value);

/* Call fn for each key tcprules writes for an address: the address itself, or for a range
 * ("1.2.3.37-53", "1.2.3-5.") one key per number, with no number above 255. Addresses with
 * '=' or '@' are never ranges. Returns 0, -1 if a range has a part that is not a number
 * (tcprules refuses the line: RULES_BAD), -2 if memory ran out, or what fn returned if that
 * was not 0. */
int rules_expand(const char *addr, size_t len,
                 int (*fn)(const char *key, size_t klen, void *arg), void *arg);

/* Does a value deny? (tcpserver denies if any of its records starts with 'D'.) */
int rules_value_denies(const char *value, size_t len);

/* Does a value set the variable name (a "+name=..." record)? */
int rules_value_sets(const char *value, size_t len, const char *name);

/* The candidate keys tcpserver tries for the address text ip, in its order, host names and
 * TCPREMOTEINFO left out: ip itself, then every prefix of it that ends in '.' or ':',
 * longest first, then the empty key. Calls fn for each until fn returns non-zero, and
 * returns that value, or 0 if fn never did. */
int rules_walk(const char *ip, size_t len, int (*fn)(const char *key, size_t klen, void *arg),
               void *arg);

/* An IPv6 address as ucspi-tcp-ipv6 writes it (and so looks it up): lowercase hex, the
 * longest run of zero groups written "::" even if it is one group long (the first run on a
 * tie), and ::ffff:a.b.c.d for an IPv4-mapped address. buf must hold 46 bytes. */
#define RULES_IP6_TEXT_MAX 46
void rules_ip6_text(char *buf, const unsigned char b[16]);

/* The most keys rules_ip6_keys makes for one allowance. */
#define RULES_V6_KEYS_MAX 512
/* Longest key plus NUL. */
#define RULES_KEY_MAX 48

/* The most shadow keys for one allowance: at most three for each of its /64 keys, which
 * are at most 256 (unit-rules checks the worst cases). */
#define RULES_V6_SHADOWS_MAX 1024

struct rules_v6_keys {
    size_t count;
    char key[RULES_V6_KEYS_MAX][RULES_KEY_MAX];
    /* Longer prefix keys that every ISATAP address of the network reaches before it reaches
     * one of key[]: relay-check keys such an address apart (/128), so the allowance must not
     * cover it. Each is to carry what tcpserver would do without the allowance. */
    size_t shadows;
    char shadow[RULES_V6_SHADOWS_MAX][RULES_KEY_MAX];
    int partial;      /* some addresses in the prefix have a text that no key can match */
    int unmatchable;  /* nothing could be written: no key, or too many (see rules.c) */
};

/* The keys that make tcpserver's lookup of an IPv6 client in the network net/bits (net has
 * its host bits cleared, bits 1..128) end at one of them, and that no address outside the
 * network can reach, with their shadow keys for the ISATAP addresses inside it. A prefix key
 * ends in ':', so it covers whole 16-bit groups: a prefix that is not a multiple of 16 is
 * written as the /16k networks it holds, if there are at most 256 of them. A network wider
 * than /64 whose keys would hold fewer than four groups is unmatchable: its ISATAP addresses
 * could be kept out only by shadows for each of its 65,536 or more /64s. See rules.c for
 * what a key can and cannot match. */
void rules_ip6_keys(struct rules_v6_keys *out, const unsigned char net[16], unsigned bits);

/* Could tcpserver try key (klen bytes) while it looks up a client of the other family? That
 * is: key is empty, holds a '.', or is a prefix key of "::ffff:a.b.c.d", the text
 * tcpserver -6 gives an IPv4 client (":", "::", "::ffff:"). rules_ip6_keys never emits one. */
int rules_key_crosses(const char *key, size_t klen);

struct addr_policy;

/* The texts under which tcpserver on an IPv6 socket shows the clients that relay-check takes
 * for the IPv4 address whose store key is v4key, under the key policy p: ::ffff:a.b.c.d, and
 * the forms that embed it (64:ff9b::/96, 64:ff9b:1::/48, the operator's NAT64 prefix,
 * ::a.b.c.d, ::ffff:0:a.b.c.d), each with the host bits it does not use zero. A form is
 * listed only if addr_key, given its text, makes v4key: the policy decides, this only
 * knows where the IPv4 address sits. */
#define RULES_V4_FORMS_MAX 8
struct rules_v4_forms {
    size_t count;
    char key[RULES_V4_FORMS_MAX][RULES_KEY_MAX];
};
void rules_v4_forms(struct rules_v4_forms *out, const char *v4key, const struct addr_policy *p);

#endif
