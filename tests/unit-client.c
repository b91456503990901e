/* unit-client.c: addr_client_key, the preamble relay-allow, relay-check and relay-session
 * share: the client's address from the environment, parsed strictly, and its store key, or
 * the reason there is none, with the variable and its text for the program's warning. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "unit.h"

static void env(const char *name, const char *value)
{
    if (value != NULL)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

int main(void)
{
    static const struct {
        const char *proto, *tcp6, *tcp, *ip;
        enum addr_source from;
        enum addr_client want;
        const char *var, *key;
    } cases[] = {
        {NULL, NULL, "192.0.2.7", NULL, ADDR_UCSPI, ADDR_CLIENT_OK, "TCPREMOTEIP", "192.0.2.7"},
        {"TCP6", "2001:db8:1:2:3:4:5:6", NULL, NULL, ADDR_UCSPI, ADDR_CLIENT_OK, "TCP6REMOTEIP",
         "2001:db8:1:2::_64"},
        {"TCP6", "::ffff:192.0.2.7", NULL, NULL, ADDR_UCSPI, ADDR_CLIENT_OK, "TCP6REMOTEIP",
         "192.0.2.7"},
        {NULL, NULL, NULL, "198.51.100.1", ADDR_UCSPI_OR_IP, ADDR_CLIENT_OK, "IP",
         "198.51.100.1"},
        /* the SMTP side never takes IP */
        {NULL, NULL, NULL, "198.51.100.1", ADDR_UCSPI, ADDR_CLIENT_NONE, NULL, ""},
        {NULL, NULL, NULL, NULL, ADDR_UCSPI_OR_IP, ADDR_CLIENT_NONE, NULL, ""},
        {"TCP6", NULL, NULL, NULL, ADDR_UCSPI, ADDR_CLIENT_NONE, NULL, ""},
        {NULL, NULL, "192.0.2.07", NULL, ADDR_UCSPI, ADDR_CLIENT_BAD, "TCPREMOTEIP", ""},
        {NULL, NULL, "", NULL, ADDR_UCSPI, ADDR_CLIENT_BAD, "TCPREMOTEIP", ""},
        {NULL, NULL, "192.0.2.7 ", NULL, ADDR_UCSPI, ADDR_CLIENT_BAD, "TCPREMOTEIP", ""},
        {"TCP6", "fe80::1%eth0", NULL, NULL, ADDR_UCSPI, ADDR_CLIENT_BAD, "TCP6REMOTEIP", ""},
        {NULL, NULL, NULL, "not-an-address", ADDR_UCSPI_OR_IP, ADDR_CLIENT_BAD, "IP", ""},
        {NULL, NULL, "0.0.0.0", NULL, ADDR_UCSPI, ADDR_CLIENT_NEVER, "TCPREMOTEIP", ""},
        {NULL, NULL, "224.0.0.1", NULL, ADDR_UCSPI, ADDR_CLIENT_NEVER, "TCPREMOTEIP", ""},
        {"TCP6", "ff02::1", NULL, NULL, ADDR_UCSPI, ADDR_CLIENT_NEVER, "TCP6REMOTEIP", ""},
        {"TCP6", "::", NULL, NULL, ADDR_UCSPI, ADDR_CLIENT_NEVER, "TCP6REMOTEIP", ""},
    };
    struct addr_policy p;
    memset(&p, 0, sizeof p);
    p.v6bits = 64;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *value = cases[i].tcp6 ? cases[i].tcp6 : cases[i].tcp ? cases[i].tcp
                            : cases[i].ip ? cases[i].ip : "(none)";
        char key[ADDR_KEY_MAX];
        const char *var = "unset", *text = "unset";
        env("PROTO", cases[i].proto);
        env("TCP6REMOTEIP", cases[i].tcp6);
        env("TCPREMOTEIP", cases[i].tcp);
        env("IP", cases[i].ip);
        memset(key, 'x', sizeof key);
        enum addr_client got = addr_client_key(key, cases[i].from, &p, &var, &text);
        CHECK_LONG(got, cases[i].want, "\"%s\" (%s): result %d", value,
                   cases[i].from == ADDR_UCSPI ? "UCSPI" : "UCSPI or IP", (int)cases[i].want);
        CHECK_STR(key, cases[i].key, "\"%s\": key \"%s\"", value, cases[i].key);
        if (cases[i].var == NULL) {
            CHECK(var == NULL && text == NULL, "\"%s\": no variable, no text", value);
        } else {
            CHECK_STR(var, cases[i].var, "\"%s\": names %s", value, cases[i].var);
            CHECK_STR(text, value, "\"%s\": gives the text as found", value);
        }
    }
    return unit_done();
}
