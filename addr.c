/* addr.c: strict address parsing and the one canonical text that store keys are made of. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"

/* inet_pton differs a little between libcs at the edges (zone ids, odd forms), and
 * relay-check (musl) and relay-cdb (glibc) must agree on every key, so the characters and the
 * length are checked here first: what reaches inet_pton is plain RFC 4291 text or nothing. */
static int plain_text(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (n >= max)
            return 0;
        char c = s[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
              c == ':' || c == '.'))
            return 0;
    }
    return n > 0;
}

/* Exactly four decimal parts of one to three digits, each at most 255, with no leading zero:
 * what this accepts is already its own canonical text, so keys need no second formatting.
 * (inet_aton would read "010" as octal 8 and "127.1" as 127.0.0.1.) */
static int parse_v4(unsigned char out[4], const char *s)
{
    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9') {
            if (digits == 3 || (digits == 1 && v == 0))
                return -1;
            v = v * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (digits == 0 || v > 255)
            return -1;
        out[part] = (unsigned char)v;
        if (*s++ != (part < 3 ? '.' : '\0'))
            return -1;
    }
    return 0;
}

static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int addr_parse(struct addr *a, const char *s)
{
    memset(a, 0, sizeof *a);
    if (!plain_text(s, 45))
        return -1;
    if (strchr(s, ':') == NULL) {
        if (parse_v4(a->b, s) != 0)
            return -1;
        a->family = 4;
        return 0;
    }
    unsigned char b[16];
    if (inet_pton(AF_INET6, s, b) != 1)
        return -1;
    if (memcmp(b, v4mapped, sizeof v4mapped) == 0) {
        /* The same client reaches us as ::ffff:a.b.c.d through tcpserver -6 or couriertcpd
         * and as a.b.c.d elsewhere; one key for both. */
        a->family = 4;
        memcpy(a->b, b + 12, 4);
        return 0;
    }
    a->family = 6;
    memcpy(a->b, b, 16);
    return 0;
}

void addr_format(char *buf, const struct addr *a)
{
    if (a->family == 4) {
        /* At most "255.255.255.255": it always fits. */
        (void)snprintf(buf, ADDR_TEXT_MAX, "%u.%u.%u.%u", a->b[0], a->b[1], a->b[2], a->b[3]);
        return;
    }
    /* RFC 5952 4.2: the longest run of two or more zero groups becomes "::", the first one
     * if two runs are equally long; a lone zero group stays "0". */
    addr_text6(buf, a->b, 2, 0);
}

/* The longest run of at least min zero groups, the first of equally long ones: its first
 * group, with its length in *len; or -1. */
static int zero_run(const unsigned char b[16], int min, int *len)
{
    int best = -1;
    *len = min - 1;
    for (int i = 0; i < 8;) {
        if (b[2 * i] != 0 || b[2 * i + 1] != 0) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && b[2 * j] == 0 && b[2 * j + 1] == 0)
            j++;
        if (j - i > *len) {
            best = i;
            *len = j - i;
        }
        i = j;
    }
    return best;
}

void addr_text6(char *buf, const unsigned char b[16], int min_run, int dotted_mapped)
{
    int runlen;
    int run = zero_run(b, min_run, &runlen);
    int tail = dotted_mapped && memcmp(b, v4mapped, sizeof v4mapped) == 0;
    char *p = buf;
    for (int i = 0; i < 8; i++) {
        if (i == 6 && tail) {
            /* "::ffff:" and at most "255.255.255.255": it fits. */
            (void)sprintf(p, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
            return;
        }
        if (i == run) {
            *p++ = ':';
            if (i == 0)
                *p++ = ':';
            i += runlen - 1;
            continue;
        }
        p += sprintf(p, "%x", (unsigned)b[2 * i] << 8 | b[2 * i + 1]);
        if (i < 7)
            *p++ = ':';
    }
    *p = '\0';
}

void addr_mask(struct addr *a, unsigned bits)
{
    for (unsigned i = 0; i < 16; i++) {
        if (bits >= 8 * (i + 1))
            continue;
        if (bits <= 8 * i)
            a->b[i] = 0;
        else
            a->b[i] &= (unsigned char)(0xff << (8 * (i + 1) - bits));
    }
}

void addr_key_format(char *buf, const struct addr *a, unsigned bits)
{
    if (a->family == 4) {
        addr_format(buf, a);
        return;
    }
    struct addr net = *a;
    addr_mask(&net, bits);
    addr_format(buf, &net);
    size_t n = strlen(buf);
    /* At most 39 bytes of address and "_128" (callers pass 1..128): it always fits. */
    (void)snprintf(buf + n, ADDR_KEY_MAX - n, "_%u", bits);
}

int addr_key(char *buf, const struct addr *a, const struct addr_policy *p)
{
    addr_key_format(buf, a, p->v6bits);
    return 0;
}

int addr_key_current(const char *key, const struct addr_policy *p)
{
    struct addr a;
    unsigned bits;
    char again[ADDR_KEY_MAX];
    return addr_key_parse(&a, &bits, key) == 0 && addr_key(again, &a, p) == 0 &&
           strcmp(again, key) == 0;
}

int addr_key_parse(struct addr *a, unsigned *bits, const char *s)
{
    char text[ADDR_TEXT_MAX];
    const char *us = strchr(s, '_');
    /* The sweep asks this of every name in the store; a dotted quad that parses is its
     * own key, so the common case skips the copy and the second formatting. */
    if (us == NULL && strchr(s, ':') == NULL) {
        memset(a, 0, sizeof *a);
        if (parse_v4(a->b, s) != 0)
            return -1;
        a->family = 4;
        *bits = 32;
        return 0;
    }
    size_t n = us ? (size_t)(us - s) : strlen(s);
    if (n == 0 || n >= sizeof text)
        return -1;
    memcpy(text, s, n);
    text[n] = '\0';
    if (addr_parse(a, text) != 0)
        return -1;

    if (a->family == 4) {
        if (us != NULL)
            return -1;
        *bits = 32;
    } else {
        if (us == NULL)
            return -1;
        /* One to three digits, no leading zero, 1..128: "_064" would be a second name for
         * the same key, and two names for one key would let a record hide from lookups. */
        const char *d = us + 1;
        size_t nd = strlen(d);
        if (nd < 1 || nd > 3 || d[0] == '0' || strspn(d, "0123456789") != nd)
            return -1;
        unsigned v = (unsigned)strtoul(d, NULL, 10);
        if (v < 1 || v > 128)
            return -1;
        *bits = v;
    }

    char again[ADDR_KEY_MAX];
    addr_key_format(again, a, *bits);
    return strcmp(again, s) == 0 ? 0 : -1;
}

const char *addr_from_env(enum addr_source from, const char **var)
{
    static const char *const names[] = {"TCP6REMOTEIP", "TCPREMOTEIP", "IP"};
    const char *proto = getenv("PROTO");
    size_t first = (proto != NULL && strcmp(proto, "TCP6") == 0) ? 0 : 1;
    size_t end = from == ADDR_UCSPI_OR_IP ? 3 : 2;
    for (size_t i = first; i < end; i++) {
        const char *v = getenv(names[i]);
        if (v != NULL) {
            *var = names[i];
            return v;
        }
    }
    *var = NULL;
    return NULL;
}
