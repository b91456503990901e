/* peakrss: how much memory a program holds at its peak, to the page.
 *
 * peakrss program [arg ...]
 *
 * It runs the program under ptrace and stops it at the moment it is about to leave: at its
 * first execve (relay-check's exec of qmail-smtpd) or, if it never execs, at its exit. There
 * it reads the program's resident set from /proc/PID/smaps_rollup, which walks the page
 * tables, and its high-water mark from /proc/PID/status, then lets it go on. It prints
 *
 *     <Rss KiB> <VmHWM KiB>
 *
 * Why not wait4's ru_maxrss: recent kernels keep the RSS counters per CPU and fold them
 * into the total in batches of 32 pages, and ru_maxrss is taken from that total, so a
 * program of a few hundred KiB reads up to a few hundred KiB low (a 64 KiB allocation can
 * read as 0). For a target of 1 MiB that is not good enough. A short-lived program that
 * frees nothing back to the kernel holds its peak when it leaves, so Rss there is the peak;
 * VmHWM is printed beside it as a check.
 * Exit codes: 0 done, 100 usage, 111 system error or the program did not exit 0. */
#define _GNU_SOURCE /* ptrace options, PTRACE_GET_SYSCALL_INFO */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/ptrace.h>

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "peakrss: fatal: %s: %s\n", what, strerror(errno));
    exit(111);
}

/* ptrace(2) takes its addr and data arguments as pointers, numbers included. */
static void *arg(unsigned long v)
{
    return (void *)v; /* NOLINT(performance-no-int-to-ptr): the number ptrace(2) expects */
}

/* The first "<name>: <number> kB" line of a /proc file, or -1. */
static long proc_kib(pid_t pid, const char *file, const char *name)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, file);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long v = -1;
    size_t n = strlen(name);
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strchr(argv[1], '/') == NULL) {
        fprintf(stderr, "peakrss: fatal: usage: peakrss /path/to/program [arg ...]\n");
        return 100;
    }
    pid_t pid = fork();
    if (pid < 0)
        die("unable to fork");
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
            _exit(126);
        execv(argv[1], argv + 1); /* the tracer sees this exec as a SIGTRAP stop */
        _exit(127);
    }

    int status;
    if (waitpid(pid, &status, 0) < 0)
        die("unable to wait");
    if (!WIFSTOPPED(status)) {
        errno = ECHILD;
        die("the program did not start");
    }
    if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
               arg(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL)) != 0)
        die("unable to set ptrace options");

    long rss = -1, hwm = -1;
    int sig = 0;
    for (;;) {
        if (ptrace(PTRACE_SYSCALL, pid, NULL, arg((unsigned long)sig)) != 0)
            die("unable to resume the program");
        sig = 0;
        if (waitpid(pid, &status, 0) < 0)
            die("unable to wait");
        if (WIFEXITED(status) || WIFSIGNALED(status))
            break;
        if (!WIFSTOPPED(status))
            continue;
        int stop = WSTOPSIG(status);
        int leaving = 0;
        if (stop == (SIGTRAP | 0x80)) {
            struct ptrace_syscall_info info;
            if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, arg(sizeof info), &info) <= 0)
                die("unable to read the system call");
            leaving = info.op == PTRACE_SYSCALL_INFO_ENTRY &&
                      (info.entry.nr == SYS_execve || info.entry.nr == SYS_execveat);
        } else if (stop == SIGTRAP && status >> 16 == PTRACE_EVENT_EXIT) {
            leaving = 1;
        } else if (stop != SIGTRAP) {
            sig = stop; /* the program's own signal: pass it on */
        }
        if (leaving) {
            rss = proc_kib(pid, "smaps_rollup", "Rss");
            hwm = proc_kib(pid, "status", "VmHWM");
            if (ptrace(PTRACE_DETACH, pid, NULL, NULL) != 0)
                die("unable to let the program go");
            if (waitpid(pid, &status, 0) < 0)
                die("unable to wait");
            break;
        }
    }
    if (rss < 0 || hwm < 0) {
        errno = ENOENT;
        die("unable to read the program's memory from /proc");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "peakrss: fatal: %s did not exit 0\n", argv[1]);
        return 111;
    }
    printf("%ld %ld\n", rss, hwm);
    return 0;
}
