/* policy.c: the request parser of policy.h. */
#include <string.h>
#include "policy.h"

static int name_ok(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static int is_name(const char *s, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* One "name=value" line (no newline) into *r and the seen flags. 0, or -1 with *why. */
static int attribute(const char *line, size_t len, struct policy_request *r, int *seen_request,
                     int *seen_client, int *seen_sasl, const char **why)
{
    const char *eq = memchr(line, '=', len);
    if (eq == NULL) {
        *why = "a line with no '='";
        return -1;
    }
    size_t nlen = (size_t)(eq - line);
    const char *val = eq + 1;
    size_t vlen = len - nlen - 1;
    if (!name_ok(line, nlen)) {
        *why = nlen == 0 ? "an empty attribute name" : "an invalid attribute name";
        return -1;
    }
    if (is_name(line, nlen, "request")) {
        if ((*seen_request)++) {
            *why = "request= twice";
            return -1;
        }
        if (!is_name(val, vlen, "smtpd_access_policy")) {
            *why = "request= is not smtpd_access_policy";
            return -1;
        }
    } else if (is_name(line, nlen, "client_address")) {
        if ((*seen_client)++) {
            *why = "client_address= twice";
            return -1;
        }
        size_t keep = vlen > POLICY_CLIENT_MAX ? POLICY_CLIENT_MAX : vlen;
        memcpy(r->client_text, val, keep);
        r->client_text[keep] = '\0';
        /* Cut short, it could read as another address. */
        r->client_ok = vlen <= POLICY_CLIENT_MAX && addr_parse(&r->client, r->client_text) == 0;
    } else if (is_name(line, nlen, "sasl_username")) {
        if ((*seen_sasl)++) {
            *why = "sasl_username= twice";
            return -1;
        }
        /* Postfix sends it empty when the client did not authenticate. */
        r->sasl = vlen > 0;
    } else if (is_name(line, nlen, "instance")) {
        if (r->instance == NULL) {
            r->instance = val;
            r->instance_len = vlen;
        }
    }
    return 0;
}

enum policy_result policy_parse(const char *buf, size_t n, struct policy_request *r,
                                const char **why)
{
    int seen_request = 0, seen_client = 0, seen_sasl = 0;
    size_t attrs = 0, pos = 0;

    memset(r, 0, sizeof *r);
    *why = "";
    for (;;) {
        const char *nl = memchr(buf + pos, '\n', n - pos);
        size_t len = nl != NULL ? (size_t)(nl - (buf + pos)) : n - pos;
        /* Checked on a line cut short too: more bytes could not make it right. */
        if (memchr(buf + pos, '\0', len) != NULL) {
            *why = "a NUL byte";
            return POLICY_BAD;
        }
        if (len > POLICY_LINE_MAX) {
            *why = "a line too long";
            return POLICY_BAD;
        }
        if (nl == NULL) {
            /* The empty line would come after every byte there is. */
            if (n >= POLICY_REQUEST_MAX) {
                *why = "a request too big";
                return POLICY_BAD;
            }
            return POLICY_MORE;
        }
        if (pos + len + 1 > POLICY_REQUEST_MAX) {
            *why = "a request too big";
            return POLICY_BAD;
        }
        if (len == 0)
            break;
        if (++attrs > POLICY_ATTRS_MAX) {
            *why = "too many attributes";
            return POLICY_BAD;
        }
        if (attribute(buf + pos, len, r, &seen_request, &seen_client, &seen_sasl, why) != 0)
            return POLICY_BAD;
        pos += len + 1;
    }
    if (!seen_request) {
        *why = "no request=";
        return POLICY_BAD;
    }
    if (!seen_client) {
        *why = "no client_address=";
        return POLICY_BAD;
    }
    r->used = pos + 1;
    return POLICY_OK;
}
