/* fuzz/fuzz.h: what the fuzz harnesses share with the regression replay.
 *
 * Each harness (addr.c, record.c, settings.c, rules.c, resp.c, policy.c) holds one function that takes an input and
 * checks properties of the core's parsers on it. Built for libFuzzer (fuzz/run), the file
 * also defines LLVMFuzzerTestOneInput, and a broken property aborts, which libFuzzer reports
 * as a crash and saves the input. Built with -DFUZZ_REGRESS (tests/unit-fuzz-regress), the
 * harnesses are plain functions: a broken property is recorded by fuzz_failed(), and the
 * replay prints one TAP line per input. */
#ifndef RELAYLEASE_FUZZ_H
#define RELAYLEASE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Inputs are cut to this many bytes: every parser under test refuses far shorter text, so
 * longer inputs only slow the search down. */
#define FUZZ_INPUT_MAX 4096

/* The input as a C string of its own, cut to FUZZ_INPUT_MAX bytes: an exact-size copy, so that
 * a read past the end is caught by ASan. NULL if there is no memory; the caller frees it. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
    if (size > FUZZ_INPUT_MAX)
        size = FUZZ_INPUT_MAX;
    char *s = malloc(size + 1);
    if (s != NULL) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

void fuzz_addr(const uint8_t *data, size_t size);
void fuzz_record(const uint8_t *data, size_t size);
void fuzz_settings(const uint8_t *data, size_t size);
void fuzz_rules(const uint8_t *data, size_t size);
void fuzz_resp(const uint8_t *data, size_t size);
void fuzz_policy(const uint8_t *data, size_t size);

/* Called when a property does not hold: what names it. Under libFuzzer this prints the name
 * and aborts; in the replay it records the first failure of the current input. */
void fuzz_failed(const char *harness, const char *what);

#define PROP(cond, what)                        \
    do {                                        \
        if (!(cond))                            \
            fuzz_failed(FUZZ_HARNESS, (what));  \
    } while (0)

#ifndef FUZZ_REGRESS
#include <stdio.h>
#include <stdlib.h>
/* One definition per harness binary: each libFuzzer build has exactly one harness in it. */
void fuzz_failed(const char *harness, const char *what)
{
    fprintf(stderr, "fuzz %s: property does not hold: %s\n", harness, what);
    abort();
}
#define FUZZ_ENTRY(fn)                                                    \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);         \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)          \
    {                                                                     \
        fn(data, size);                                                   \
        return 0;                                                         \
    }
#else
#define FUZZ_ENTRY(fn)
#endif

#endif
