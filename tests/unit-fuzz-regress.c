/* unit-fuzz-regress: replay every seed (fuzz/corpus/NAME/...) and every crash input found so
 * far (fuzz/crashes/NAME-...) through the fuzz harnesses' property checks, one TAP line per
 * input. It is built from the same harness sources with -DFUZZ_REGRESS, normally and with
 * ASan + UBSan, so a fixed bug stays fixed under both.
 *
 * Usage: unit-fuzz-regress [FUZZDIR]. Without FUZZDIR it looks for the fuzz directory of the
 * source tree: ./fuzz, then next to and above the directory the program is in (the plain
 * build keeps it in tests/, the sanitizer build in san/tests/).
 *
 * Each input runs in a child process, so that a crash or a sanitizer report is charged to
 * the input that caused it and the replay goes on with the next one. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "fuzz/fuzz.h"
#include "unit.h"

/* The largest input replayed; the harnesses cut theirs to FUZZ_INPUT_MAX anyway. */
#define INPUT_MAX (1024 * 1024)

static const struct {
    const char *name;
    void (*fn)(const uint8_t *, size_t);
} harnesses[] = {
    {"addr", fuzz_addr},
    {"record", fuzz_record},
    {"settings", fuzz_settings},
    {"rules", fuzz_rules},
    {"resp", fuzz_resp},
    {"policy", fuzz_policy},
};
#define NHARNESS (sizeof harnesses / sizeof harnesses[0])

/* In the child: where the first broken property of the input is reported. */
static int report_fd = -1;
static int reported;

void fuzz_failed(const char *harness, const char *what)
{
    if (reported++ || report_fd < 0)
        return;
    char line[300];
    int n = snprintf(line, sizeof line, "%s: %s", harness, what);
    if (n > 0)
        (void)!write(report_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Run one input through a harness in a child; print its TAP line. */
static void replay(const char *label, const char *path, void (*fn)(const uint8_t *, size_t))
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        CHECK(0, "%s: readable (%s)", label, strerror(errno));
        return;
    }
    static uint8_t buf[INPUT_MAX];
    size_t n = fread(buf, 1, sizeof buf, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        CHECK(0, "%s: readable", label);
        return;
    }

    int pfd[2];
    if (pipe(pfd) != 0) {
        CHECK(0, "%s: pipe (%s)", label, strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        CHECK(0, "%s: fork (%s)", label, strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return;
    }
    if (pid == 0) {
        close(pfd[0]);
        report_fd = pfd[1];
        fn(buf, n);
        _exit(reported ? 1 : 0);
    }
    close(pfd[1]);
    char why[300];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(pfd[0], why + got, sizeof why - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == sizeof why - 1)
            break;
    }
    why[got] = '\0';
    close(pfd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        CHECK(0, "%s (%zu bytes): no crash", label, n);
        unit_note("killed by signal %d", WTERMSIG(status));
    } else if (WEXITSTATUS(status) != 0 || why[0] != '\0') {
        CHECK(0, "%s (%zu bytes): properties hold", label, n);
        unit_note("%s", why[0] != '\0' ? why : "the replay exited non-zero");
    } else {
        CHECK(1, "%s (%zu bytes): properties hold", label, n);
    }
}

static int not_hidden(const struct dirent *de)
{
    return de->d_name[0] != '.';
}

/* Every file in dir, sorted by name. With harness NULL, each name must start with a
 * harness's name and a dash, which picks the harness. */
static unsigned replay_dir(const char *top, const char *sub, const char *harness)
{
    char dir[PATH_MAX], path[PATH_MAX], label[PATH_MAX + 16];
    struct dirent **names;
    unsigned count = 0;
    int len = snprintf(dir, sizeof dir, "%s/%s", top, sub);
    if (len < 0 || (size_t)len >= sizeof dir)
        return 0;
    int n = scandir(dir, &names, not_hidden, alphasort);
    if (n < 0)
        return 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        int pl = snprintf(path, sizeof path, "%s/%s", dir, name);
        int ll = snprintf(label, sizeof label, "fuzz/%s/%s", sub, name);
        count++;
        if (pl < 0 || (size_t)pl >= sizeof path || ll < 0 || (size_t)ll >= sizeof label) {
            CHECK(0, "fuzz/%s: a file name that fits", sub);
            free(names[i]);
            continue;
        }
        void (*fn)(const uint8_t *, size_t) = NULL;
        for (size_t h = 0; h < NHARNESS; h++) {
            const char *hname = harnesses[h].name;
            size_t hlen = hname != NULL ? strlen(hname) : 0;
            if (hname != NULL && (harness != NULL ? strcmp(harness, hname) == 0
                                                  : strncmp(name, hname, hlen) == 0 &&
                                                        name[hlen] == '-'))
                fn = harnesses[h].fn;
        }
        if (fn == NULL)
            CHECK(0, "%s: named after a harness (addr-, record-, settings-, rules-, resp-)", label);
        else
            replay(label, path, fn);
        free(names[i]);
    }
    free(names);
    return count;
}

static int find_fuzz_dir(char *out, size_t size, const char *argv0)
{
    char self[PATH_MAX];
    snprintf(self, sizeof self, "%s", argv0);
    char *slash = strrchr(self, '/');
    const char *bindir = ".";
    if (slash != NULL) {
        *slash = '\0';
        bindir = self;
    }
    const char *const tries[] = {"%s/../fuzz", "%s/../../fuzz"};
    snprintf(out, size, "fuzz");
    if (is_dir("fuzz/corpus"))
        return 0;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        char probe[PATH_MAX + 32];
        snprintf(out, size, tries[i], bindir);
        snprintf(probe, sizeof probe, "%s/corpus", out);
        if (is_dir(probe))
            return 0;
    }
    return -1;
}

int main(int argc, char **argv)
{
    char top[PATH_MAX], sub[64];
    if (argc > 1)
        snprintf(top, sizeof top, "%s", argv[1]);
    else if (find_fuzz_dir(top, sizeof top, argv[0]) != 0) {
        CHECK(0, "found the fuzz directory (give it as the argument)");
        return unit_done();
    }

    unsigned seeds = 0, crashes;
    for (size_t h = 0; h < NHARNESS; h++) {
        snprintf(sub, sizeof sub, "corpus/%s", harnesses[h].name);
        unsigned n = replay_dir(top, sub, harnesses[h].name);
        CHECK(n > 0, "the %s harness has a seed corpus", harnesses[h].name);
        seeds += n;
    }
    crashes = replay_dir(top, "crashes", NULL);
    unit_note("%u seeds and %u crash inputs replayed", seeds, crashes);
    return unit_done();
}
