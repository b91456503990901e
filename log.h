/* log.h: one-line diagnostics on stderr, each prefixed with the program's name (or through
 * syslog, for a program that asks). */
#ifndef RELAYLEASE_LOG_H
#define RELAYLEASE_LOG_H

/* Set the name that starts every line, once, at the top of main, before anything is
 * opened: it also opens /dev/null on any of descriptors 0, 1 and 2 that is closed. */
void log_init(const char *progname);

/* From now on, every line goes to syslog(3) (facility mail, the program's name and pid as
 * its ident) and none to descriptor 2. For a program whose descriptor 2 is its peer, as under
 * Postfix's spawn(8), where 0, 1 and 2 are one socket. Set once, after log_init. */
void log_syslog(void);

/* "prog: warning: ...": something is wrong, and the program goes on without it. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The shape of log_warn. A module never prints: one that has more to say than a return value
 * carries (several problems at once, or a detached child that outlives the call) takes a
 * log_fn from the program, which passes log_warn, or a collector of its own in a test. */
typedef void log_fn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "prog: ...": a decision worth a line in the log (granted, recorded, summary). */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "prog: fatal: ...", then exit(code): 100 permanent or usage, 111 temporary. */
_Noreturn void log_fatal(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Exec argv[0] from PATH with the current environment. If that fails, say so and exit 111,
 * as qmail's programs do when an exec fails. */
_Noreturn void log_exec(char **argv);

#endif
