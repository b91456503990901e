/* unit.h: TAP output for the C unit tests.
 *
 * Each check prints one line on stdout, "ok - what" or "not ok - what"; a failed check adds
 * "# " comment lines with its file:line and, for comparisons, what it got and wanted. The
 * description is printed on one line, with control bytes, '#' and '\' escaped, so that an
 * input vector such as "1.2.3.4\n" can go into it as it is. main ends with
 * "return unit_done();", which is non-zero if any check failed.
 *
 * The macros only add __FILE__ and __LINE__; every check is a plain function call that
 * returns whether it passed, so a test decides itself what to skip after a failure. */
#ifndef RELAYLEASE_UNIT_H
#define RELAYLEASE_UNIT_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CHECK(cond, ...) unit_check(__FILE__, __LINE__, (cond) != 0, __VA_ARGS__)
#define CHECK_STR(got, want, ...) unit_check_str(__FILE__, __LINE__, (got), (want), __VA_ARGS__)
#define CHECK_LONG(got, want, ...) \
    unit_check_long(__FILE__, __LINE__, (long)(got), (long)(want), __VA_ARGS__)

static unsigned long unit_checks, unit_failures;

/* Write s to stdout with anything outside printable ASCII, '#' and '\' escaped. */
static inline void unit_put_escaped(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\\')
            fputs("\\\\", stdout);
        else if (c < 0x20 || c > 0x7e || c == '#')
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

/* Print the result line for a check, and count it. */
static inline void unit_result(int pass, const char *fmt, va_list ap)
{
    char desc[512];
    int n = vsnprintf(desc, sizeof desc, fmt, ap);

    unit_checks++;
    if (!pass)
        unit_failures++;
    fputs(pass ? "ok - " : "not ok - ", stdout);
    unit_put_escaped(desc);
    if (n < 0 || (size_t)n >= sizeof desc)
        fputs("...", stdout);
    putchar('\n');
}

/* A comment line: "# " and the text, escaped like a description. */
static inline void unit_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void unit_note(const char *fmt, ...)
{
    char text[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fputs("# ", stdout);
    unit_put_escaped(text);
    putchar('\n');
}

static inline int unit_check(const char *file, int line, int pass, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline int unit_check(const char *file, int line, int pass, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    unit_result(pass, fmt, ap);
    va_end(ap);
    if (!pass)
        printf("#   failed at %s:%d\n", file, line);
    fflush(stdout);  /* keep what was printed if a later check crashes */
    return pass;
}

/* Compare two strings; got may be NULL (which never equals want). */
static inline int unit_check_str(const char *file, int line, const char *got, const char *want,
                                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static inline int unit_check_str(const char *file, int line, const char *got, const char *want,
                                 const char *fmt, ...)
{
    int pass = got != NULL && want != NULL && strcmp(got, want) == 0;
    va_list ap;

    va_start(ap, fmt);
    unit_result(pass, fmt, ap);
    va_end(ap);
    if (!pass) {
        printf("#   failed at %s:%d\n#   got:  ", file, line);
        if (got) {
            putchar('"');
            unit_put_escaped(got);
            putchar('"');
        } else {
            fputs("NULL", stdout);
        }
        fputs("\n#   want: ", stdout);
        if (want) {
            putchar('"');
            unit_put_escaped(want);
            putchar('"');
        } else {
            fputs("NULL", stdout);
        }
        putchar('\n');
    }
    fflush(stdout);
    return pass;
}

static inline int unit_check_long(const char *file, int line, long got, long want,
                                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static inline int unit_check_long(const char *file, int line, long got, long want,
                                  const char *fmt, ...)
{
    int pass = got == want;
    va_list ap;

    va_start(ap, fmt);
    unit_result(pass, fmt, ap);
    va_end(ap);
    if (!pass)
        printf("#   failed at %s:%d\n#   got:  %ld\n#   want: %ld\n", file, line, got, want);
    fflush(stdout);
    return pass;
}

/* A check that cannot run here: "ok - what # SKIP reason". */
static inline void unit_skip(const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void unit_skip(const char *reason, const char *fmt, ...)
{
    char desc[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(desc, sizeof desc, fmt, ap);
    va_end(ap);
    unit_checks++;
    fputs("ok - ", stdout);
    unit_put_escaped(desc);
    fputs(" # SKIP ", stdout);
    unit_put_escaped(reason);
    putchar('\n');
}

/* The summary as a comment, and the exit status for main: 0 if every check passed. */
static inline int unit_done(void)
{
    printf("# %lu checks, %lu failed\n", unit_checks, unit_failures);
    fflush(stdout);
    return unit_failures ? 1 : 0;
}

#endif
