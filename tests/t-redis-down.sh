#!/bin/sh
# t-redis-down.sh: a Redis store that is down, hung or out of reach never blocks a login or an
# SMTP session, and never grants. Real servers (a primary, a replica, three sentinels); each
# case runs the program under `timeout 60` (a guard against a hang, never a measure) and
# checks that it ended on its own, that the next program of the chain ran, and that one line
# said why. Only the cases of a hung server set a short RELAY_REDIS_TIMEOUT (200 ms); what they
# check holds however slow the machine (the run ends, one line, no grant).
#   - The SMTP host's replica hung (SIGSTOP): relay-check times out, grants nothing, and the
#     session goes on; resumed, it grants again.
#   - The primary hung: a login waits for it no longer than the timeout; so with every
#     sentinel hung, and with the sentinels' names unknown.
#   - The replica's socket gone, the primary stopped: refused at once, one line each.
#   - Cut off from the network (unshare -n): the SMTP host still reads its replica over the
#     Unix socket and grants; a POP host that reaches the sentinels over TCP cannot, and its
#     login goes on.
#   - A bad setting (RELAY_REDIS=localhost:6379) grants and records nothing, and never falls
#     back to the directory store.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-allow relay-check
# shellcheck source-path=SCRIPTDIR source=redis-lib.sh
. "$(dirname "$0")/redis-lib.sh"
redis_need "a Redis store that is down or hung"

# The primary is paused below for as long as a login takes, which on a busy machine can pass
# 1000 ms: the sentinels must not fail over meanwhile.
REDIS_DOWN_AFTER=600000
redis_cluster r1 || exit 1

writer_s=$(redis_host pop sentinels)
writer_p=$(redis_host pop p)
reader=$(redis_host smtp r1)
hung="RELAY_REDIS_TIMEOUT=200"
# A directory store that would grant everything asked here: it must never be read.
store=$SCRATCH/store
make_store "$store"
export RELAY_DIR="$store"

# login HOST ADDRESS: relay-allow with HOST's settings, its next program writing "ran";
# stderr in $SCRATCH/login.err, exit status in $SCRATCH/login.rc.
login() {
    rm -f "$SCRATCH/ran"
    # shellcheck disable=SC2086,SC2016 # the host's settings; expanded by the inner shell
    env $1 TCPREMOTEIP="$2" USER=bob timeout 60 "$RELAY_BIN/relay-allow" \
        sh -c ': >"$1"' sh "$SCRATCH/ran" 2>"$SCRATCH/login.err"
    echo $? >"$SCRATCH/login.rc"
}
# shellcheck disable=SC2317 # called through check
one_line() { # FILE PATTERN: FILE is one line, like PATTERN
    # shellcheck disable=SC2254 # PATTERN is a pattern
    [ "$(wc -l <"$1")" -eq 1 ] && case $(cat "$1") in $2) return 0 ;; esac
    echo "it said:"
    cat "$1"
    return 1
}

diag "all up"
login "$writer_s" 192.0.2.1
is "$(cat "$SCRATCH/login.rc")" 0 "a login through the sentinels records"
check "host B grants it" eventually 60 granted_on "$reader" 192.0.2.1
printf 'relaylease1 192.0.2.9 eve\n' >"$store/192.0.2.9"
chown "$MAIL_UID" "$store/192.0.2.9"

diag "the replica hung"
redis_pause r1
is "$(redis_answer "$reader $hung" 192.0.2.1)" refused "relay-check goes on, granting nothing"
check "and says it timed out, in one line" one_line "$SCRATCH/check.err" \
    "relay-check: warning: unable to read redis unix:*key relaylease:192.0.2.1: timed out after 200 ms: granting nothing"
redis_resume r1
check "resumed, it grants again" eventually 60 granted_on "$reader" 192.0.2.1

diag "the primary hung (no sentinels: RELAY_REDIS names it)"
redis_pause p
login "$writer_p $hung" 192.0.2.2
is "$(cat "$SCRATCH/login.rc")" 0 "the login goes on"
check "to its next program" test -e "$SCRATCH/ran"
check "with one line: timed out" one_line "$SCRATCH/login.err" \
    "relay-allow: warning: unable to record 192.0.2.2 in redis unix:*: timed out after 200 ms"
redis_resume p

diag "every sentinel hung"
for i in 1 2 3; do redis_pause "s$i"; done
login "$writer_s $hung" 192.0.2.3
is "$(cat "$SCRATCH/login.rc")" 0 "the login goes on"
check "to its next program" test -e "$SCRATCH/ran"
check "with one line: no sentinel answered" one_line "$SCRATCH/login.err" \
    "relay-allow: warning: unable to record 192.0.2.3 in redis master relaylease: no sentinel answered before the deadline"
for i in 1 2 3; do redis_resume "s$i"; done

diag "the sentinels do not know the name"
login "$writer_s RELAY_REDIS_MASTER=other" 192.0.2.4
is "$(cat "$SCRATCH/login.rc")" 0 "the login goes on"
check "with one line: no sentinel knows the name" one_line "$SCRATCH/login.err" \
    "relay-allow: warning: unable to record 192.0.2.4 in redis master other: no sentinel knows the master's name"

diag "the sentinels' password"
login "RELAY_REDIS_SENTINELS=$REDIS_SENTINELS RELAY_REDIS_MASTER=$REDIS_MASTER $(redis_host pop)" \
    192.0.2.7
is "$(cat "$SCRATCH/login.rc")" 0 "without it, a login goes on"
check "with one line: the sentinels answered with an error (NOAUTH)" one_line \
    "$SCRATCH/login.err" \
    "relay-allow: warning: unable to record 192.0.2.7 in redis master relaylease: a sentinel answered with an error"
is "$(redis-cli -h 127.0.0.1 -p "$(sentinel_port 1)" SENTINEL REMOVE "$REDIS_MASTER" 2>&1 |
    cut -d' ' -f1)" NOAUTH "nobody without it can make a sentinel forget the primary"
is "$(redis-cli -h 127.0.0.1 -p "$(sentinel_port 1)" SENTINEL MONITOR "$REDIS_MASTER" \
    127.0.0.1 1 1 2>&1 | cut -d' ' -f1)" NOAUTH "or watch another"
check "all three still name the primary" sentinels_name p

diag "a wrong password"
printf 'wrong\n' >"$SCRATCH/wrong.pass"
chmod 600 "$SCRATCH/wrong.pass"
is "$(redis_answer "$reader RELAY_REDIS_PASSFILE=$SCRATCH/wrong.pass" 192.0.2.1)" refused \
    "relay-check grants nothing"
check "with one line: AUTH: WRONGPASS" one_line "$SCRATCH/check.err" \
    "relay-check: warning: unable to read *: AUTH: WRONGPASS: granting nothing"
chmod 644 "$SCRATCH/wrong.pass"
is "$(redis_answer "$reader RELAY_REDIS_PASSFILE=$SCRATCH/wrong.pass" 192.0.2.1)" refused \
    "a password file open to others: nothing granted"
check "with one line, and nothing sent" one_line "$SCRATCH/check.err" \
    "relay-check: warning: unable to read *: $SCRATCH/wrong.pass: is open to other users*: granting nothing"

diag "the replica's socket gone"
is "$(redis_answer "RELAY_REDIS=unix:$REDIS_DIR/none.sock" 192.0.2.1)" refused \
    "relay-check grants nothing"
check "with one line: No such file or directory" one_line "$SCRATCH/check.err" \
    "relay-check: warning: unable to read redis unix:*none.sock key relaylease:192.0.2.1: No such file or directory: granting nothing"

diag "network cut (unshare -n)"
if unshare -n true 2>/dev/null; then
    is "$(redis_answer "$reader" 192.0.2.1 unshare -n)" granted \
        "an SMTP host cut off still grants from its replica's Unix socket"
    rm -f "$SCRATCH/ran"
    # shellcheck disable=SC2086,SC2016 # the host's settings; expanded by the inner shell
    env $writer_s TCPREMOTEIP=192.0.2.5 timeout 60 unshare -n "$RELAY_BIN/relay-allow" \
        sh -c ': >"$1"' sh "$SCRATCH/ran" 2>"$SCRATCH/login.err"
    is "$?" 0 "a POP host cut off: the login goes on"
    check "to its next program" test -e "$SCRATCH/ran"
    check "with one line" one_line "$SCRATCH/login.err" \
        "relay-allow: warning: unable to record 192.0.2.5 in redis master relaylease: *"
else
    skip "network cut (unshare -n)" "unshare -n is not permitted here"
fi

diag "the primary stopped (no sentinels)"
redis_stop p
login "$writer_p" 192.0.2.6
is "$(cat "$SCRATCH/login.rc")" 0 "the login goes on"
check "with one line" one_line "$SCRATCH/login.err" \
    "relay-allow: warning: unable to record 192.0.2.6 in redis unix:*: *"

diag "a bad setting grants and records nothing, and never reads RELAY_DIR"
is "$(redis_answer "RELAY_REDIS=localhost:6379" 192.0.2.9)" refused \
    "RELAY_REDIS=localhost:6379: the directory's record is not granted"
check "one line says why" one_line "$SCRATCH/check.err" \
    "relay-check: warning: RELAY_REDIS must be unix:/path, a.b.c.d:PORT or \[IPv6\]:PORT, not \"localhost:6379\": nothing is recorded or granted"
login "RELAY_REDIS=localhost:6379" 192.0.2.8
is "$(cat "$SCRATCH/login.rc")" 0 "a login goes on"
check "and writes nothing in RELAY_DIR" test ! -e "$store/192.0.2.8"
is "$(redis_answer "" 192.0.2.9)" granted "(without RELAY_REDIS the directory grants it)"

done_testing
