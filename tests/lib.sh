# tests/lib.sh: helpers for the shell tests and the demo. Source it; do not run it.
# shellcheck shell=sh
#
# What it gives a test:
#   TAP lines     ok DESC, not_ok DESC, skip DESC REASON, diag LINES..., check DESC CMD...,
#                 is GOT WANT DESC, like GOT GLOB DESC, done_testing
#   SCRATCH       a private directory (mktemp -d), removed on exit unless KEEP_SCRATCH is set
#   processes     start_bg CMD... (PID recorded, stopped on exit), start_tcpserver NAME ARGS...,
#                 children PID, no_children PID
#   ports         free_port HOST, wait_port HOST PORT
#   talking       chat HOST PORT < script, smtp_try, pop_login, reply_to, reply_lines
#   logs          log_mark NAME, log_new NAME, log_wait FILE ERE [N]
#   the chain     RELAY_BIN (our programs), STANDINS (the stand-ins), MAIL_UID/MAIL_GID,
#                 make_store DIR, make_passwd FILE, file_is FILE FORMAT, owned_by FILE UID,
#                 need_built NAME..., need_driver NAME..., driver_path NAME, need_programs,
#                 start_pop_chain / start_smtp_chain NAME [OPTIONS] HOST [VAR=value] [-- PROG...],
#                 program_runs WORD SEARCH (a program an example names: ours, or installed)
#   questions     granted ADDRESS, refused ADDRESS, relay_query ADDRESS (relay-check's answer),
#                 granted_says ADDRESS [VAR=value...] (and what relay-check said, in SAYS),
#                 client_env ADDRESS, rcpt_reply HOST PORT, env_sorted FILE, env_diff BEFORE
#                 AFTER, now_ms
#   waiting       eventually SECONDS CMD..., appears FILE, lock_held FILE, cdb_idle CDB
#   holding       strace_hold [-r] ..., strace_held TRACE PATTERN, strace_held_lock TRACE,
#                 strace_release PID
#
# RELAY_BIN is the directory holding our built programs (tests/run sets it); it defaults to
# the top of the source tree. The stand-ins are found in $RELAY_BIN/tests/standins, else in
# the source tree's tests/standins; STANDINS overrides both.

lib_top=$(cd "$(dirname "$0")/.." && pwd) || exit 111
RELAY_BIN=${RELAY_BIN:-$lib_top}
if [ -z "${STANDINS:-}" ]; then
    STANDINS=$RELAY_BIN/tests/standins
    [ -x "$STANDINS/chat" ] || [ ! -x "$lib_top/tests/standins/chat" ] ||
        STANDINS=$lib_top/tests/standins
fi
export RELAY_BIN STANDINS

# Settings from the caller's environment must not change what a test sees.
unset RELAY_DIR RELAY_CTRL_DIR RELAY_CTRL_DIR_FD RELAY_EXPIRY RELAY_CTRL_EXPIRY \
    RELAY_RELAYCLIENT RELAY_CTRL_RELAYCLIENT RELAY_IPV6_PREFIX RELAY_NAT64_PREFIX RELAY_REMOTEINFO RELAY_LOG RELAY_USER_MAX \
    RELAYCLIENT TCPREMOTEINFO TCPREMOTEHOST TCPREMOTEIP TCP6REMOTEIP TCPREMOTEPORT PROTO IP \
    AUTHENTICATED AUTHUSER AUTHARGV0

# ---- TAP ------------------------------------------------------------------------------------

lib_failed=0
lib_passed=0

ok() {
    lib_passed=$((lib_passed + 1))
    printf 'ok - %s\n' "$*"
}

not_ok() {
    lib_failed=$((lib_failed + 1))
    printf 'not ok - %s\n' "$*"
}

# skip DESC REASON
skip() {
    printf 'ok - %s # SKIP %s\n' "$1" "$2"
}

# diag LINE...: comment lines; with no argument, comment out standard input.
diag() {
    if [ $# -eq 0 ]; then
        sed 's/^/# /'
    else
        printf '# %s\n' "$@"
    fi
}

# check DESC CMD...: ok if CMD exits 0; otherwise not ok, with CMD's output as comments.
check() {
    lib_desc=$1
    shift
    if "$@" >"$SCRATCH/check.out" 2>&1; then
        ok "$lib_desc"
    else
        lib_rc=$?
        not_ok "$lib_desc"
        diag "command: $* (exit $lib_rc)"
        diag <"$SCRATCH/check.out"
    fi
}

# is GOT WANT DESC: exact string equality.
is() {
    if [ "$1" = "$2" ]; then
        ok "$3"
    else
        not_ok "$3"
        diag "got:  '$1'" "want: '$2'"
    fi
}

# like GOT GLOB DESC: GOT matches the shell pattern GLOB.
like() {
    # shellcheck disable=SC2254 # the pattern is meant to be a pattern
    case $1 in
    $2) ok "$3" ;;
    *)
        not_ok "$3"
        diag "got:  '$1'" "want: '$2'"
        ;;
    esac
}

# done_testing: the test's last line. Exits 1 if anything failed, else 0.
done_testing() {
    diag "$lib_passed passed, $lib_failed failed"
    [ "$lib_failed" -eq 0 ] || exit 1
    exit 0
}

# ---- scratch directory and processes ------------------------------------------------------

lib_pids=

# start_bg CMD...: run CMD in the background and stop it on exit. Redirections given to the
# call apply to CMD. LAST_PID is its PID (the subshell execs CMD, so it is CMD's own PID).
start_bg() {
    (exec "$@") &
    LAST_PID=$!
    lib_pids="$lib_pids $LAST_PID"
}

# stop_pid PID: TERM, then KILL after two seconds; then reap it. The sessions it started and
# left running are sent TERM too; they are found by their parent PID, so nothing else is hit.
stop_pid() {
    lib_new=
    for lib_pid in $lib_pids; do
        [ "$lib_pid" = "$1" ] || lib_new="$lib_new $lib_pid"
    done
    lib_pids=$lib_new
    lib_kids=$(children "$1")
    if kill -TERM "$1" 2>/dev/null; then
        lib_n=0
        while kill -0 "$1" 2>/dev/null && [ "$lib_n" -lt 20 ]; do
            sleep 0.1
            lib_n=$((lib_n + 1))
        done
        kill -KILL "$1" 2>/dev/null
    fi
    wait "$1" 2>/dev/null
    for lib_kid in $lib_kids; do
        kill -TERM "$lib_kid" 2>/dev/null
    done
    return 0
}

# children PID: the PIDs of PID's children, one a line (none: no output).
children() {
    if [ -r "/proc/$1/task/$1/children" ]; then
        # one line, the PIDs separated by spaces
        tr -s ' ' '\n' <"/proc/$1/task/$1/children" 2>/dev/null | grep .
    elif command -v pgrep >/dev/null 2>&1; then
        pgrep -P "$1" 2>/dev/null
    fi
}
# no_children PID: eventually (60 s: a guard, not a measure) PID has no child left, as a
# server whose sessions have all ended. If some are left, says which.
no_children() {
    eventually 60 lib_childless "$1" && return 0
    echo "children of $1 still running:"
    for lib_kid in $(children "$1"); do
        echo "$lib_kid $(tr '\0' ' ' <"/proc/$lib_kid/cmdline" 2>/dev/null)"
    done
    return 1
}
lib_childless() {
    [ -z "$(children "$1")" ]
}

lib_cleanup() {
    lib_rc=$?
    # tests/run's timeout signals the whole process group: a second TERM must not cut the
    # cleanup short and leave a server running.
    trap '' TERM INT HUP
    trap - EXIT
    for lib_pid in $lib_pids; do
        stop_pid "$lib_pid"
    done
    if [ -n "${KEEP_SCRATCH:-}" ]; then
        diag "scratch directory kept: $SCRATCH"
    elif [ -n "${SCRATCH:-}" ] && [ -d "$SCRATCH" ]; then
        chmod -R u+rwx "$SCRATCH" 2>/dev/null
        rm -rf "$SCRATCH"
    fi
    exit "$lib_rc"
}

SCRATCH=$(mktemp -d) || {
    echo "not ok - unable to create a scratch directory"
    exit 111
}
trap lib_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- ports and conversations -----------------------------------------------------------------

# free_port HOST: a port that is free on HOST now. start_tcpserver needs none: it lets
# tcpserver pick the port itself, which cannot race with another test.
free_port() {
    "$STANDINS/chat" -f "$1"
}

# wait_port HOST PORT: wait (60 s at most: a guard against a hang, not a measure) until
# something accepts connections on HOST PORT.
wait_port() {
    "$STANDINS/chat" -w -t 60 "$1" "$2"
}

# start_tcpserver NAME TCPSERVER-ARGS...: run the real tcpserver with ARGS (options, host,
# port, program...; give port 0), without DNS or ident lookups, and wait until it listens
# (60 s at most: a guard against a hang). Sets SERVER_PORT. Its stderr, which is also the
# stderr of every program it runs, goes to $SCRATCH/NAME.log.
start_tcpserver() {
    lib_name=$1
    shift
    : >"$SCRATCH/$lib_name.port"
    start_bg tcpserver -1 -H -R -l localhost "$@" \
        >"$SCRATCH/$lib_name.port" 2>"$SCRATCH/$lib_name.log"
    lib_n=0
    while [ "$(wc -l <"$SCRATCH/$lib_name.port")" -lt 1 ]; do
        if ! kill -0 "$LAST_PID" 2>/dev/null || [ "$lib_n" -ge 600 ]; then
            diag "tcpserver $lib_name did not start:"
            diag <"$SCRATCH/$lib_name.log"
            SERVER_PORT=
            return 1
        fi
        sleep 0.1
        lib_n=$((lib_n + 1))
    done
    # shellcheck disable=SC2034 # both are read by the tests
    SERVER_PORT=$(sed -n 1p "$SCRATCH/$lib_name.port") SERVER_PID=$LAST_PID
}

# log_mark NAME, log_new NAME: the lines $SCRATCH/NAME.log gained since the mark. (A log
# that tcpserver holds open cannot be truncated safely: its children write at their offset.)
log_mark() {
    wc -l <"$SCRATCH/$1.log" >"$SCRATCH/$1.mark"
}
log_new() {
    tail -n +"$(($(cat "$SCRATCH/$1.mark" 2>/dev/null || echo 0) + 1))" "$SCRATCH/$1.log"
}

# log_wait FILE ERE [N]: eventually (60 s: a guard against a hang, not a measure) at least N
# lines of FILE (default 1) match ERE (grep -E), as a server's log that is written a moment
# after the reply that the test has seen.
log_wait() {
    eventually 60 lib_lines_match "$1" "$2" "${3:-1}"
}
lib_lines_match() {
    [ "$(grep -cE -- "$2" "$1" 2>/dev/null)" -ge "$3" ]
}

# chat HOST PORT < script: one line at a time, each after the previous reply. Prints the
# transcript: "C: sent", "S: received", "-- closed" if the server hung up early. A reply
# that has not come in 60 s ends it (exit 111): a guard against a hang, not a measure.
chat() {
    "$STANDINS/chat" -t 60 "$@"
}

# smtp_try HOST PORT RCPT: HELO, MAIL, RCPT TO:<RCPT>, XENV (the stand-in's report of
# RELAYCLIENT and TCPREMOTEINFO), QUIT. The transcript goes to $SCRATCH/smtp.chat; read it
# with reply_to and reply_lines.
smtp_try() {
    printf '%s\n' 'HELO client.example' 'MAIL FROM:<sender@client.example>' "RCPT TO:<$3>" \
        XENV QUIT | chat "$1" "$2" >"$SCRATCH/smtp.chat"
}

# pop_login HOST PORT USER PASS: USER, PASS, STAT, QUIT. Transcript in $SCRATCH/pop.chat.
pop_login() {
    printf '%s\n' "USER $3" "PASS $4" STAT QUIT | chat "$1" "$2" >"$SCRATCH/pop.chat"
}

# reply_to FILE VERB: the last line of the reply to the first command starting with VERB.
reply_to() {
    reply_lines "$1" "$2" | sed -n '$p'
}

# reply_lines FILE VERB: every line of the reply to the first command starting with VERB.
reply_lines() {
    awk -v p="C: $2" '
        found && /^C: / { exit }
        found && /^S: / { print substr($0, 4) }
        !found && index($0, p) == 1 { found = 1 }' "$1"
}

# ---- the login chain -------------------------------------------------------------------------

# reachable PATH: can any user get to PATH (it and every directory above it have o+x)?
reachable() {
    lib_p=$1
    while [ -n "$lib_p" ] && [ "$lib_p" != / ] && [ "$lib_p" != . ]; do
        [ -n "$(find "$lib_p" -prune -perm -001 2>/dev/null)" ] || return 1
        lib_p=$(dirname "$lib_p")
    done
    return 0
}

# MAIL_UID/MAIL_GID: the account checkpassword drops to. As root this is 65534 (nobody), so
# that relay-allow runs unprivileged as it does in production; that needs the scratch
# directory and the programs to be reachable by any user. Otherwise it is our own account.
chmod 711 "$SCRATCH"
if [ "$(id -u)" -eq 0 ] && reachable "$SCRATCH" && reachable "$RELAY_BIN/relay-allow" &&
    reachable "$STANDINS/pop3d"; then
    MAIL_UID=65534
    MAIL_GID=65534
else
    MAIL_UID=$(id -u)
    MAIL_GID=$(id -g)
fi

# make_store DIR: an empty store the mail user can write to.
make_store() {
    mkdir -p "$1" && chmod 750 "$1" && chown "$MAIL_UID:$MAIL_GID" "$1"
}

# make_passwd FILE: accounts for the checkpassword stand-in, bob/secret and carol/s3cret,
# both mapped to MAIL_UID. Their home directories are made under $SCRATCH/home.
make_passwd() {
    mkdir -p "$SCRATCH/home/bob" "$SCRATCH/home/carol" &&
        chown "$MAIL_UID:$MAIL_GID" "$SCRATCH/home/bob" "$SCRATCH/home/carol" &&
        printf '%s\n' "bob:secret:$MAIL_UID:$MAIL_GID:$SCRATCH/home/bob" \
            "carol:s3cret:$MAIL_UID:$MAIL_GID:$SCRATCH/home/carol" >"$1"
}

# file_is FILE PRINTF-FORMAT: FILE holds exactly these bytes.
file_is() {
    # shellcheck disable=SC2059 # the format is the expected content
    printf "$2" | cmp -s - "$1"
}

# owned_by FILE UID
owned_by() {
    [ -n "$(find "$1" -prune -user "$2")" ]
}

# need_programs: fail the whole test at once, with one line, when something is not built.
need_programs() {
    need_built relay-allow relay-check relay-expire chat smtpd popup checkpassword pop3d
    if ! command -v tcpserver >/dev/null 2>&1 || ! command -v tcprules >/dev/null 2>&1; then
        not_ok "tcpserver and tcprules are installed (ucspi-tcp-ipv6)"
        exit 1
    fi
}

# unit_keys_ok FILE [SERVICE-KEYS]: every line of the systemd unit FILE is a comment, a known
# section, or a Key=value that section knows. systemd only warns about an unknown key, so a
# typo (Restrat=) would otherwise go unnoticed. SERVICE-KEYS adds keys to [Service].
unit_keys_ok() {
    awk -v extra="${2:-}" '
        BEGIN {
            split("Description Documentation After Before Wants Requires", k)
            for (i in k) known["Unit", k[i]] = 1
            split("Type User Group ExecStart EnvironmentFile Environment StandardOutput " \
                  "StandardError NoNewPrivileges PrivateTmp ProtectSystem ProtectHome " \
                  "ReadWritePaths UMask Nice " extra, k)
            for (i in k) known["Service", k[i]] = 1
            split("OnCalendar OnBootSec OnUnitActiveSec AccuracySec RandomizedDelaySec " \
                  "Persistent Unit", k)
            for (i in k) known["Timer", k[i]] = 1
            known["Install", "WantedBy"] = 1
        }
        /^[ \t]*([#;].*)?$/ { next }
        /^\[(Unit|Service|Timer|Install)\]$/ { section = substr($0, 2, length($0) - 2); next }
        /^[A-Za-z]+=[^ \t]/ && section != "" {
            key = substr($0, 1, index($0, "=") - 1)
            if ((section, key) in known) next
        }
        { printf "line %d: %s\n", NR, $0; bad = 1 }
        END { exit bad }' "$1"
}

# unused_id N: an id that is neither a user nor a group here, nor the mail user's, from N on.
unused_id() {
    lib_n=$1
    while getent passwd "$lib_n" >/dev/null 2>&1 || getent group "$lib_n" >/dev/null 2>&1 ||
        [ "$lib_n" = "$MAIL_UID" ] || [ "$lib_n" = "$MAIL_GID" ]; do
        lib_n=$((lib_n + 1))
    done
    echo "$lib_n"
}

# need_built NAME...: fail the whole test at once, with one line, when one of our programs
# (relay-*, in $RELAY_BIN) or of the stand-ins (chat, smtpd, ..., in $STANDINS) is not built.
need_built() {
    for lib_p in "$@"; do
        case $lib_p in relay-*) lib_p=$RELAY_BIN/$lib_p ;; *) lib_p=$STANDINS/$lib_p ;; esac
        if [ ! -x "$lib_p" ]; then
            not_ok "program is built: $lib_p"
            exit 1
        fi
    done
}

# eventually SECONDS CMD...: run CMD every tenth of a second until it succeeds, for at most
# SECONDS. A guard against a hang on a loaded machine, never a measure of time: give it
# plenty. True if CMD succeeded.
eventually() {
    lib_tenths=$(($1 * 10))
    shift
    lib_n=0
    until "$@"; do
        [ "$lib_n" -lt "$lib_tenths" ] || return 1
        sleep 0.1
        lib_n=$((lib_n + 1))
    done
}

# appears FILE [SECONDS]: eventually (default 60 s) FILE exists.
appears() {
    eventually "${2:-60}" test -e "$1"
}

# lock_held FILE: eventually (60 s) another process holds a lock on FILE.
lock_held() {
    eventually 60 lib_locked "$1"
}
lib_locked() {
    ! flock -n -x "$1" true 2>/dev/null
}

# cdb_free CDB: no cdb build runs now and none is asked for: the builder's lock CDB.lock is
# free and its first byte is not the request flag. (The builder holds the lock until it has
# seen the flag clear, so this cannot be true between two builds of one burst.)
# cdb_idle CDB: eventually (60 s) cdb_free.
cdb_free() {
    [ "$(head -c 1 "$1.lock" 2>/dev/null)" != 1 ] && flock -n "$1.lock" true 2>/dev/null
}
cdb_idle() {
    eventually 60 cdb_free "$1"
}

# ---- questions every test asks ---------------------------------------------------------------

# client_env ADDRESS: the variables tcpserver gives a client at ADDRESS, as VAR=value words.
client_env() {
    case $1 in
    *:*) echo "PROTO=TCP6 TCPREMOTEIP=$1 TCP6REMOTEIP=$1" ;;
    *) echo "PROTO=TCP TCPREMOTEIP=$1" ;;
    esac
}

# granted ADDRESS [VAR=value...]: does relay-check grant ADDRESS? relay-check runs as
# tcpserver would run it for that client, with the VARs added (RELAY_DIR=..., unless the test
# exported it), in front of a program that reports whether RELAYCLIENT was set. Its stderr is
# added to $SCRATCH/relay-check.log. True if granted; false if refused, and also (with
# status 2 and the reason on stdout) if relay-check never ran the next program. refused
# ADDRESS [VAR=value...] is true only for a refusal: a relay-check that crashed refuses nothing.
granted() {
    lib_a=$1
    shift
    # shellcheck disable=SC2046,SC2016 # split on purpose; expanded by the inner shell
    env $(client_env "$lib_a") "$@" "$RELAY_BIN/relay-check" \
        sh -c '[ -n "${RELAYCLIENT+set}" ] || exit 3' 2>>"$SCRATCH/relay-check.log" </dev/null
    lib_rc=$?
    case $lib_rc in
    0) return 0 ;;
    3) return 1 ;;
    *)
        echo "relay-check exited $lib_rc without running the next program; its stderr:"
        tail -n 5 "$SCRATCH/relay-check.log"
        return 2
        ;;
    esac
}
refused() {
    granted "$@"
    [ $? -eq 1 ]
}
# relay_query ADDRESS [VAR=value...]: relay-check's answer for ADDRESS in one word, "granted"
# or "refused" (anything but a grant), for a test that compares answers.
relay_query() {
    if granted "$@"; then echo granted; else echo refused; fi
}

# rcpt_reply HOST PORT: the SMTP server's reply to RCPT for a domain that is not its own (a
# relay attempt): a session through smtp_try to $relay_rcpt (friend@example.net by default).
rcpt_reply() {
    smtp_try "$1" "$2" "${relay_rcpt:-friend@example.net}"
    reply_to "$SCRATCH/smtp.chat" RCPT
}

# env_sorted FILE: an environment dump (VAR=value lines) sorted, without the per-connection
# ports; env_diff BEFORE AFTER: the lines AFTER has and BEFORE has not ("+ ") and the other
# way round ("- ").
env_sorted() {
    grep -v -e '^TCPREMOTEPORT=' -e '^TCPLOCALPORT=' -e '^TCP6REMOTEPORT=' \
        -e '^TCP6LOCALPORT=' "$1" | LC_ALL=C sort
}
env_diff() {
    env_sorted "$1" >"$SCRATCH/env.a"
    env_sorted "$2" >"$SCRATCH/env.b"
    LC_ALL=C comm -13 "$SCRATCH/env.a" "$SCRATCH/env.b" | sed 's/^/+ /'
    LC_ALL=C comm -23 "$SCRATCH/env.a" "$SCRATCH/env.b" | sed 's/^/- /'
}

# now_ms: the time in milliseconds, for diagnostics (never for a pass or a fail).
now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# actors_hung LIMIT PID...: wait for each PID to end, until LIMIT (milliseconds since the
# epoch: a guard, not a measure); stop those still running then, and set ACTORS_HUNG to how
# many they were. (Not in a command substitution: a subshell cannot reap the actors, and
# kill -0 finds them alive as zombies.)
actors_hung() {
    ah_limit=$1
    shift
    for ah_pid in "$@"; do
        while kill -0 "$ah_pid" 2>/dev/null && [ "$(date +%s%3N)" -lt "$ah_limit" ]; do
            sleep 0.2
        done
    done
    ACTORS_HUNG=0
    for ah_pid in "$@"; do
        if kill -0 "$ah_pid" 2>/dev/null; then
            ACTORS_HUNG=$((ACTORS_HUNG + 1))
            stop_pid "$ah_pid"
        fi
    done
}

# lo_documentation_v6: in a private network namespace, bring lo up with two addresses of one
# /64 and one of the /64 next to it (documentation addresses), so that a test can log in from
# one address and relay from another of the same prefix, or of another.
lo_documentation_v6() {
    ip link set lo up &&
        ip -6 addr add 2001:db8:1:2::1/64 dev lo nodad &&
        ip -6 addr add 2001:db8:1:2::2/64 dev lo nodad &&
        ip -6 addr add 2001:db8:1:3::1/64 dev lo nodad
}

# strace_hold [-r] TRACE CALLS first|all|N PROGRAM ARGS...: PROGRAM in the background under
# strace, the first (N-th, or every) call of CALLS (strace's names: "unlinkat,unlink"; each
# process counts its own) held at its entry, the trace in TRACE; $held is its PID.
#   Without -r the hold lasts 3 s. strace writes a call's line at its entry and ends it with
#   the result at its exit: a racing process that returns while the held line already ends in
#   "= 0" waited for it, which proves the wait without reading a clock (copy the line as the
#   racer returns, before waiting for $held). The racer must come within the 3 s.
#   With -r the hold lasts until strace_release $held (600 s at most: a guard against a
#   hang), so that every step the test takes meanwhile lands inside it however slow the
#   machine is. $held is then PROGRAM itself (strace -D), whose exit status wait reports;
#   the trace ends at the release: the held call's result is not in it.
# LeakSanitizer cannot run under ptrace; the sanitizer build still checks everything else.
strace_hold() {
    sh_us=3000000 sh_detach=
    if [ "$1" = -r ]; then
        sh_us=600000000 sh_detach=-D
        shift
    fi
    sh_trace=$1 sh_calls=$2 sh_when=
    case $3 in first) sh_when=:when=1 ;; all) ;; *) sh_when=:when=$3 ;; esac
    shift 3
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
        strace ${sh_detach:+"$sh_detach"} -f -qq -o "$sh_trace" -e trace="$sh_calls" \
        -e inject="$sh_calls:delay_enter=$sh_us$sh_when" "$@" &
    # shellcheck disable=SC2034 # the caller's
    held=$!
    # A test that ends early must not leave a program held for ten minutes.
    [ -z "$sh_detach" ] || lib_pids="$lib_pids $held"
}
# strace_held TRACE PATTERN: eventually (60 s: a guard, not a measure) the held call's line,
# PATTERN for grep, is in TRACE.
strace_held() {
    eventually 60 grep -q "$2" "$1" 2>/dev/null
}
# strace_held_lock TRACE: eventually (60 s) TRACE shows a program that strace_hold holds at
# its second flock where a lock was taken by another: its first, the try without waiting,
# failed (EAGAIN), and the held call is the wait that follows. Else prints the trace.
strace_held_lock() {
    strace_held "$1" 'flock([0-9]*, LOCK_[A-Z]*$' &&
        grep -q 'flock([0-9]*, LOCK_[A-Z]*|LOCK_NB) *= -1 EAGAIN' "$1" && return 0
    awk 1 "$1" # the held line has no newline yet
    return 1
}
# strace_release PID: end the hold of strace_hold -r on PID: its tracer is killed, which
# detaches it, and the held call goes on at once (untraced). False if PID has no tracer.
strace_release() {
    sr_tracer=$(sed -n 's/^TracerPid:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
    [ -n "$sr_tracer" ] && [ "$sr_tracer" != 0 ] && kill -KILL "$sr_tracer"
}

# ---- the chains under the real tcpserver ------------------------------------------------------

# start_pop_chain NAME [TCPSERVER-OPTION...] HOST [VAR=value...] [-- PROGRAM...]: the POP3
# login chain under the real tcpserver on HOST (start_tcpserver: port 0, SERVER_PORT,
# SERVER_PID, its stderr in $SCRATCH/NAME.log): popup, then PROGRAM... (by default
# checkpassword relay-allow pop3d), with VARs (RELAY_DIR=... among them) and the accounts of
# make_passwd in $SCRATCH/passwd in their environment.
# start_smtp_chain NAME [TCPSERVER-OPTION...] HOST [VAR=value...] [-- PROGRAM...]: the SMTP
# side: PROGRAM... (by default relay-check in front of smtpd, which writes its environment to
# $SCRATCH/NAME.env, with $SCRATCH/rcpthosts) with VARs in its environment.
# A TCPSERVER-OPTION is one word (-6, -x"$cdb", -u"$MAIL_UID"). In PROGRAM..., a bare word
# names one of our programs (relay-*, in $RELAY_BIN) or a stand-in built in $STANDINS; any
# other word (pop3d's -e FILE) is passed as it is. Returns start_tcpserver's status.
start_pop_chain() {
    lib_chain pop "$@"
}
start_smtp_chain() {
    lib_chain smtp "$@"
}
lib_chain() {
    lib_ch_kind=$1 lib_ch_name=$2
    shift 2
    lib_ch_at=opt
    for lib_ch_w in "$@"; do
        shift
        case $lib_ch_at.$lib_ch_w in
        opt.-*) ;;
        opt.*)
            set -- "$@" "$lib_ch_w" 0 env
            [ "$lib_ch_kind" = smtp ] || set -- "$@" STANDIN_PASSWD="$SCRATCH/passwd"
            lib_ch_at=var
            continue
            ;;
        var.--)
            [ "$lib_ch_kind" = smtp ] || set -- "$@" "$STANDINS/popup" localhost
            lib_ch_at=prog
            continue
            ;;
        var.*=*) ;;
        var.*)
            diag "start_${lib_ch_kind}_chain $lib_ch_name: '$lib_ch_w' is not VAR=value"
            return 1
            ;;
        prog.*/*) ;;
        prog.relay-*) lib_ch_w=$RELAY_BIN/$lib_ch_w ;;
        prog.*) [ ! -f "$STANDINS/$lib_ch_w" ] || lib_ch_w=$STANDINS/$lib_ch_w ;;
        esac
        set -- "$@" "$lib_ch_w"
    done
    case $lib_ch_at.$lib_ch_kind in
    opt.*)
        diag "start_${lib_ch_kind}_chain $lib_ch_name: no host"
        return 1
        ;;
    var.pop)
        set -- "$@" "$STANDINS/popup" localhost "$STANDINS/checkpassword" \
            "$RELAY_BIN/relay-allow" "$STANDINS/pop3d"
        ;;
    var.smtp)
        set -- "$@" "$RELAY_BIN/relay-check" "$STANDINS/smtpd" -e "$SCRATCH/$lib_ch_name.env" \
            "$SCRATCH/rcpthosts"
        ;;
    esac
    start_tcpserver "$lib_ch_name" "$@"
}

# granted_says ADDRESS [VAR=value...]: granted, and what relay-check wrote to stderr in this
# call alone, in SAYS and in $SCRATCH/granted.err. GRANTED is granted's status (0 granted,
# 1 refused, 2 relay-check never ran the next program: its reason becomes a comment).
granted_says() {
    : >>"$SCRATCH/relay-check.log"
    log_mark relay-check
    lib_gs_why=$(granted "$@")
    GRANTED=$?
    log_new relay-check >"$SCRATCH/granted.err"
    # shellcheck disable=SC2034 # the caller's
    SAYS=$(cat "$SCRATCH/granted.err")
    [ "$GRANTED" -ne 2 ] || diag "$lib_gs_why"
    return "$GRANTED"
}

# ---- the programs a shipped file runs ---------------------------------------------------------

# our_program NAME: NAME is one of our programs (the Makefile's PROGS).
# install_prefix: the Makefile's PREFIX; make install puts our programs in its bin.
our_program() {
    case " $(sed -n 's/^PROGS *= *//p' "$lib_top/Makefile") " in
    *" $1 "*) return 0 ;;
    *) return 1 ;;
    esac
}
install_prefix() {
    lib_ip=$(sed -n 's/^PREFIX *= *//p' "$lib_top/Makefile")
    echo "${lib_ip:-/usr/local}"
}

# program_runs WORD SEARCH: does the program WORD, as a shipped file names it in a command
# run with PATH=SEARCH, run once installed? One of ours must be built in $RELAY_BIN and named
# where make install puts it (by that path, or with that directory in SEARCH); any other
# program must be installed here (executable at its path, or found in SEARCH). "(none)",
# the word for a program missing after one that runs another (envdir DIR, env VAR=...),
# never runs. 0: it runs, and FOUND is a path that runs it here (ours: the built one);
# 1: it cannot run (ours misnamed or not built, or "(none)"); 2: it is not ours and not
# installed here. WHY says why, for 1 and 2.
# shellcheck disable=SC2034 # WHY and FOUND are the caller's
program_runs() {
    WHY='' FOUND=''
    lib_pr_base=${1##*/}
    case $1 in
    '(none)')
        WHY="no program follows a program that runs one"
        return 1
        ;;
    */*) lib_pr_dir=${1%/*} ;;
    *) lib_pr_dir= ;;
    esac
    if our_program "$lib_pr_base"; then
        lib_pr_bindir=$(install_prefix)/bin
        if [ ! -x "$RELAY_BIN/$lib_pr_base" ]; then
            WHY="$lib_pr_base is not built in $RELAY_BIN"
            return 1
        fi
        if [ -n "$lib_pr_dir" ] && [ "$lib_pr_dir" != "$lib_pr_bindir" ]; then
            WHY="$1: make install puts $lib_pr_base in $lib_pr_bindir"
            return 1
        fi
        if [ -z "$lib_pr_dir" ]; then
            case ":$2:" in
            *":$lib_pr_bindir:"*) ;;
            *)
                WHY="$lib_pr_base is run with PATH=$2, without $lib_pr_bindir"
                return 1
                ;;
            esac
        fi
        FOUND=$RELAY_BIN/$lib_pr_base
        return 0
    fi
    if [ -n "$lib_pr_dir" ]; then
        [ ! -x "$1" ] || FOUND=$1
        WHY="$1 does not exist"
    else
        FOUND=$(PATH=$2 command -v "$1" 2>/dev/null)
        WHY="$1 is not in PATH=$2"
    fi
    [ -n "$FOUND" ] || return 2
    WHY=
}

# ---- the test drivers -------------------------------------------------------------------------

# driver_path NAME: the test driver tests/NAME (redis-probe, policy-pair: make testprogs) of
# the build in $RELAY_BIN, else of the source tree, where need_built does not look.
# need_driver NAME...: fail the whole test at once, with one line, when one is not built.
driver_path() {
    if [ -x "$RELAY_BIN/tests/$1" ] || [ ! -x "$lib_top/tests/$1" ]; then
        echo "$RELAY_BIN/tests/$1"
    else
        echo "$lib_top/tests/$1"
    fi
}
need_driver() {
    for lib_dn in "$@"; do
        lib_dp=$(driver_path "$lib_dn")
        if [ ! -x "$lib_dp" ]; then
            not_ok "program is built: $lib_dp"
            exit 1
        fi
    done
}
