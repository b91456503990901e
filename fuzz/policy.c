/* fuzz/policy.c: the policy request parser (policy.c).
 *
 * The input is one connection's bytes, whole (not cut to FUZZ_INPUT_MAX: the limits are
 * larger). Properties of policy_parse:
 *  - it returns OK, MORE or BAD; BAD always says why;
 *  - OK: the request ends in an empty line inside the buffer, at most POLICY_REQUEST_MAX
 *    bytes, with no NUL in it; it holds "client_address=TEXT" for the client_text given,
 *    which addr_parse reads to the same address (client_ok) or refuses; sasl is set iff a "sasl_username=" line
 *    with a value is in it; instance points inside it, after "instance=";
 *  - OK: it parses the same from an exact-size copy of just its bytes (nothing after it is
 *    read), and every prefix of it (all up to ALL_PREFIXES bytes, then a sample) is MORE;
 *  - MORE: no NUL, fewer than POLICY_REQUEST_MAX bytes, no empty line; its prefixes are MORE;
 *  - BAD: still BAD with more bytes after it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "policy.h"
#include "fuzz/fuzz.h"

#define FUZZ_HARNESS "policy"
#define ALL_PREFIXES 512

static enum policy_result parse_copy(const uint8_t *data, size_t n, struct policy_request *r,
                                     const char **why)
{
    char *c = malloc(n ? n : 1);
    if (c == NULL)
        return POLICY_MORE; /* no memory: nothing to learn */
    memcpy(c, data, n);
    enum policy_result res = policy_parse(c, n, r, why);
    if (r->instance != NULL)
        r->instance = (const char *)data + (r->instance - c);
    free(c);
    return res;
}

/* Does the request hold the line "name=value..." (value non-empty if nonempty)? */
static int has_line(const char *s, size_t n, const char *name, int nonempty)
{
    size_t k = strlen(name);
    for (size_t at = 0; at < n;) {
        const char *nl = memchr(s + at, '\n', n - at);
        size_t len = nl ? (size_t)(nl - (s + at)) : n - at;
        if (len >= k && memcmp(s + at, name, k) == 0 && (!nonempty || len > k))
            return 1;
        at += len + 1;
    }
    return 0;
}

static void prefixes_more(const uint8_t *data, size_t upto)
{
    struct policy_request r;
    const char *why;
    size_t step = upto <= ALL_PREFIXES ? 1 : upto / 97 + 1;
    for (size_t i = 0; i < upto; i += step)
        PROP(parse_copy(data, i, &r, &why) == POLICY_MORE, "a prefix asks for more");
    if (upto > 0)
        PROP(parse_copy(data, upto - 1, &r, &why) == POLICY_MORE, "the last prefix asks for more");
}

void fuzz_policy(const uint8_t *data, size_t size)
{
    struct policy_request r, r2;
    const char *why = NULL;
    enum policy_result res = parse_copy(data, size, &r, &why);
    const char *s = (const char *)data;

    switch (res) {
    case POLICY_OK: {
        size_t u = r.used;
        if (u < 2 || u > size) {
            PROP(0, "used in range");
            return;
        }
        PROP(u <= POLICY_REQUEST_MAX, "used within the limit");
        PROP(s[u - 1] == '\n' && s[u - 2] == '\n', "ends in an empty line");
        PROP(memchr(s, '\0', u) == NULL, "no NUL in an accepted request");
        char line[sizeof "client_address=" + POLICY_CLIENT_MAX + 1];
        /* Not an address, it may have been cut short: no newline after it then. */
        int ln = snprintf(line, sizeof line, "client_address=%s%s", r.client_text,
                          r.client_ok || strlen(r.client_text) < POLICY_CLIENT_MAX ? "\n" : "");
        PROP(ln > 0 && memmem(s, u, line, (size_t)ln) != NULL, "client_text is what was sent");
        struct addr a;
        if (r.client_ok)
            PROP(addr_parse(&a, r.client_text) == 0 && a.family == r.client.family &&
                     memcmp(a.b, r.client.b, a.family == 4 ? 4 : 16) == 0,
                 "client is client_text parsed");
        else
            PROP(addr_parse(&a, r.client_text) != 0 && r.client.family == 0,
                 "a client not an address is one addr_parse refuses");
        PROP(r.sasl == has_line(s, u - 1, "sasl_username=", 1), "sasl iff a non-empty sasl_username");
        if (r.instance != NULL)
            PROP(r.instance >= s + 9 && r.instance + r.instance_len < s + u &&
                     memcmp(r.instance - 9, "instance=", 9) == 0,
                 "instance inside the request");
        PROP(parse_copy(data, u, &r2, &why) == POLICY_OK && r2.used == u && r2.sasl == r.sasl &&
                 strcmp(r2.client_text, r.client_text) == 0,
             "the same from just its bytes");
        prefixes_more(data, u);
        break;
    }
    case POLICY_MORE:
        PROP(memchr(s, '\0', size) == NULL, "no NUL in a request that asks for more");
        PROP(size < POLICY_REQUEST_MAX, "asks for more below the limit only");
        PROP(!(size > 0 && s[0] == '\n') && memmem(s, size, "\n\n", 2) == NULL,
             "no empty line in a request that asks for more");
        prefixes_more(data, size);
        break;
    case POLICY_BAD: {
        PROP(why != NULL && why[0] != '\0', "a refusal says why");
        uint8_t *more = malloc(size + 2);
        if (more == NULL)
            return;
        memcpy(more, data, size);
        more[size] = '\n';
        more[size + 1] = '\n';
        PROP(parse_copy(more, size + 2, &r2, &why) == POLICY_BAD, "refused stays refused");
        free(more);
        break;
    }
    default:
        PROP(0, "a known result");
    }
}

FUZZ_ENTRY(fuzz_policy)
