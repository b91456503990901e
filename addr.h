/* addr.h: client addresses, their canonical text, and the store keys made from them. */
#ifndef RELAYLEASE_ADDR_H
#define RELAYLEASE_ADDR_H

#include <stddef.h>

/* An IPv4 address (family 4, 4 bytes used) or an IPv6 address (family 6).
 * An IPv4-mapped IPv6 address is always held as family 4. */
struct addr {
    int family;
    unsigned char b[16];
};

/* Longest canonical text plus NUL: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff". */
#define ADDR_TEXT_MAX 40
/* Longest store key plus NUL: canonical IPv6 text, "_", up to three digits. */
#define ADDR_KEY_MAX 44

/* Strict parse of a textual address: dotted quad with no leading zeros, or IPv6 text with no
 * zone id, spaces or trailing junk. Returns 0, or -1 if s is not an address. */
int addr_parse(struct addr *a, const char *s);

/* Canonical text: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run of two or more
 * groups as "::", first on a tie). buf must hold ADDR_TEXT_MAX bytes. */
void addr_format(char *buf, const struct addr *a);

/* IPv6 text in one of the two forms relaylease meets: lowercase hex with no leading zeros,
 * and the longest run of at least min_run zero groups (the first of equally long ones) as
 * "::". RFC 5952, our canonical form, is min_run 2 with no dotted tail (what addr_format
 * writes). ucspi-tcp-ipv6's tcpserver compresses a lone zero group too and writes
 * ::ffff:a.b.c.d for a mapped address: min_run 1, dotted_mapped 1. buf must hold
 * ADDR_TEXT_MAX bytes. */
void addr_text6(char *buf, const unsigned char b[16], int min_run, int dotted_mapped);

/* Keep the first bits of an IPv6 address, clear the rest. bits is 1..128. */
void addr_mask(struct addr *a, unsigned bits);

/* How a client address becomes a store key: the prefix an ordinary IPv6 address is widened
 * to, and the operator's own NAT64 prefix (nat64_bits 0: none). Filled in by settings.c. */
struct addr_policy {
    unsigned v6bits;            /* RELAY_IPV6_PREFIX */
    unsigned nat64_bits;        /* RELAY_NAT64_PREFIX's length, or 0 */
    unsigned char nat64[16];    /* and its network, host bits clear */
};

/* The widest prefix an ordinary IPv6 address is keyed by: a /48 is the most one end site is
 * assigned (RFC 6177, the RIRs' policies). A policy with a smaller v6bits keys by /128. */
#define ADDR_V6BITS_MIN 48U

/* The text of a key for the first bits of a: "1.2.3.4" for IPv4 (bits is ignored: always
 * exact), "2001:db8:1:2::_64" for IPv6 (bits 1..128). buf must hold ADDR_KEY_MAX bytes. */
void addr_key_format(char *buf, const struct addr *a, unsigned bits);

/* The store key of a client under policy p, so that no key covers unrelated hosts:
 * - an IPv4 address, or an IPv6 address that embeds one (IPv4-compatible ::a.b.c.d,
 *   IPv4-translated ::ffff:0:a.b.c.d, RFC 6052 64:ff9b::/96 and 64:ff9b:1::/48, the
 *   operator's NAT64 prefix): the IPv4 key "a.b.c.d";
 * - ::1 and the rest of ::/64, 100::/63, 2001::/23 (Teredo ...), 2620:4f:8000::/48,
 *   fe80::/10, fec0::/10, an ISATAP interface id, a translated form whose u-octet or suffix
 *   is not zero: the address itself, "..._128";
 * - any other IPv6 address: its prefix of p->v6bits bits, "..._64", unless that prefix
 *   touches one of the ranges above (then "..._128").
 * Returns 0, or -1 if the address may never hold an allowance (::, ff00::/8, and IPv4
 * 0.0.0.0/8, 224.0.0.0/4, 255.255.255.255, also embedded): buf is then empty.
 * buf must hold ADDR_KEY_MAX bytes. */
int addr_key(char *buf, const struct addr *a, const struct addr_policy *p);

/* Keys name IPv6 prefixes as "2001:db8::_64" because a file name cannot hold '/'; people read
 * "2001:db8::/64". Copies key (or any name) into out (n bytes, cut short if need be) so. */
void addr_key_show(char *out, size_t n, const char *key);

/* A client for a message: its address as the server gave it (text, cut at 64 bytes), and the
 * key it is stored under when that reads otherwise: "2001:db8:1:2::5 (key 2001:db8:1:2::/64)".
 * out holds n bytes, ADDR_SHOWN_MAX to hold every such line whole. */
#define ADDR_SHOWN_MAX 128
void addr_client_show(char *out, size_t n, const char *text, const char *key);

/* Is key one that addr_key makes under p for some address, so that relay-check could ever
 * look it up? A record under any other key (written with another prefix length, or before
 * a range was keyed apart) grants nothing. 1 or 0. */
int addr_key_current(const char *key, const struct addr_policy *p);

/* The IPv6 addresses, other than the IPv4-mapped ::ffff:a.b.c.d, that addr_key gives the
 * IPv4 key of v4 under p: ::a.b.c.d, ::ffff:0:a.b.c.d, 64:ff9b::a.b.c.d, its RFC 6052 /48
 * form under 64:ff9b:1::/48, and its form under the operator's NAT64 prefix. A server that
 * matches the client's IPv6 text itself (tcpserver's rules cdb) needs a rule for each.
 * Returns how many were written to out (0 for an IPv4 address that may never relay). */
#define ADDR_V4_FORMS 5
size_t addr_v4_forms(unsigned char out[ADDR_V4_FORMS][16], const unsigned char v4[4],
                     const struct addr_policy *p);

/* Parse a NAT64 prefix "2001:db8:64::/96" into p->nat64 and p->nat64_bits: IPv6 text as
 * addr_parse takes it, "/", one of RFC 6052's lengths 32, 40, 48, 56, 64, 96, host bits
 * clear, bits 64..71 clear in a /96, and apart from every range addr_key keys apart (the
 * RFC 6052 prefixes themselves excepted). Returns 0, or -1 (p unchanged). */
int addr_nat64_parse(struct addr_policy *p, const char *s);

/* Parse a store key back into its address and prefix length (32 for IPv4). Only canonical
 * keys parse: the key must equal what addr_key would make of the result.
 * Returns 0, or -1 if s is not a key. */
int addr_key_parse(struct addr *a, unsigned *bits, const char *s);

/* Where the client address may come from. A login hook also runs under Dovecot, which says
 * IP; the SMTP side runs only under tcpserver, and must not take a stray IP for the client. */
enum addr_source {
    ADDR_UCSPI,       /* TCP6REMOTEIP when PROTO=TCP6, otherwise TCPREMOTEIP */
    ADDR_UCSPI_OR_IP  /* the same, otherwise IP (a Dovecot post-login script) */
};

/* The client address as the server left it in the environment. Returns the text and sets
 * *var to the variable's name, or returns NULL if none is set. It is read where it is used,
 * not with the settings: it is the input of one connection, which tcpserver, couriertcpd or
 * Dovecot sets anew for each, not configuration. */
const char *addr_from_env(enum addr_source from, const char **var);

/* What addr_client_key found. */
enum addr_client {
    ADDR_CLIENT_OK,     /* key is the client's store key */
    ADDR_CLIENT_NONE,   /* no client address in the environment */
    ADDR_CLIENT_BAD,    /* *var holds *text, which is not an address */
    ADDR_CLIENT_NEVER   /* *var holds *text, an address that may never relay */
};

/* The preamble of every program that serves one client: the address from the environment
 * (addr_from_env), parsed strictly, and its store key under p. Sets *var and *text to the
 * variable and its value (NULL for ADDR_CLIENT_NONE), for the caller's warning, which each
 * program words for what it then does. key must hold ADDR_KEY_MAX bytes; it is empty unless
 * ADDR_CLIENT_OK. */
enum addr_client addr_client_key(char *key, enum addr_source from, const struct addr_policy *p,
                                 const char **var, const char **text);

#endif
