#!/bin/sh
# run: quick long
# t-redis-faults.sh: fault injection with strace on the Redis path (issue 10), as t-faults.sh
# does for the directory. relay-check and relay-allow run against real Redis servers (a
# primary and its replica, and three sentinels), over Unix sockets and over TCP, and each
# system call they make from the moment they open the passfile up to the exec of the next
# program (the passfile's openat and read, socket, connect, getsockopt, sendto, poll,
# recvfrom, close, and the exec) is made to fail, one call at a time. With FAULTS_FULL=1
# (TEST_LONG=1) each call fails with each of the errors below; by default with one of them
# in turn. Each run must:
#   - end by itself (a guard of 60 s, never a measure: the programs' own deadline is
#     RELAY_REDIS_TIMEOUT);
#   - run its next program (the login and the SMTP session go on), except when the exec
#     itself fails: then exit 111 with one fatal line;
#   - grant nothing it should not: relay-check never grants an address with no record, nor
#     one whose record is dated past the expiry or names another key; with a fresh record it may refuse, with one
#     line saying why. relay-allow records the right value or nothing (one line);
#   - print at most one line on stderr (RELAY_LOG=0) beyond what the normal run prints (the
#     warning about a record naming another key), and nothing that is not the program's;
#   - pass no descriptor to the next program beyond 0, 1 and 2.
# Only the programs' own calls are hit (strace's when= counts each call in the process), and
# every run checks in its trace that the fault landed in that range.
# The setups and checks are called through variables, which shellcheck cannot follow:
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-allow relay-check
errors="EIO EACCES EMFILE ECONNREFUSED ECONNRESET EINTR EAGAIN"
# shellcheck source-path=SCRIPTDIR source=faults-lib.sh
. "$(dirname "$0")/faults-lib.sh"
faults_need "fault injection on the Redis path"
# shellcheck source-path=SCRIPTDIR source=redis-lib.sh
. "$(dirname "$0")/redis-lib.sh"
redis_need "fault injection on the Redis path"

# No failover is wanted here: a primary a busy machine leaves without CPU for a second is
# not down.
REDIS_DOWN_AFTER=600000
redis_cluster r || exit 1

# The directory store must never be used. Each host's settings (redis_host) carry a generous
# deadline, so that strace's slowness alone does not time a normal run out (a timeout would
# only refuse, which is allowed).
RELAY_DIR=$SCRATCH/no-such-store RELAY_LOG=0
export RELAY_DIR RELAY_LOG
unset RELAY_REDIS_TIMEOUT RELAY_REDIS RELAY_REDIS_SENTINELS RELAY_REDIS_MASTER RELAY_REDIS_USER \
    RELAY_REDIS_PASSFILE RELAY_CDB TCPREMOTEIP USER
# Each case's settings are inject's $ij_vars; each run's range ends at the exec of the next
# program, which writes the descriptors it was given; a run with a fault is killed if it is
# still going after 60 s.
to_exec='^execve\('
ij_fds=1 ij_guard=60

# The next program: writes whether RELAYCLIENT was set to the marker, and which descriptors
# from 3 to 19 it was given to the marker.fd (a redirection that fails is a closed one).
# shellcheck disable=SC2016 # expanded by that shell
set -- /bin/sh -c 'echo "ran ${RELAYCLIENT+granted}" >"$0"
fds=; for fd in 3 4 5 6 7 8 9; do if { true >&$fd; } 2>/dev/null; then fds="$fds $fd"; fi; done
echo "$fds" >"$0.fd"' "$marker"

# ---- the records, written by the admin on the primary ----------------------------------------
put() { # KEY TIME USER
    redis_admin p SET "relaylease:$1" "relaylease2 $2 $1 $3
" EX 3600 >/dev/null
}
# on_replica KEY WORD: the replica's value for KEY has WORD as its last word (or is gone:
# WORD empty).
on_replica() {
    [ "$(redis_admin r GET "relaylease:$1" | tr -d '\n' | sed 's/.* //')" = "$2" ]
}
now=$(date +%s)
put 10.0.0.1 "$((now - 100))" fresh
put 10.0.0.2 "$((now - 2000))" stale
redis_admin p DEL relaylease:10.0.0.3 >/dev/null
put 2001:db8:1:2::_64 "$((now - 2000))" stale6
# A fresh record under 10.0.0.4 that names another key.
redis_admin p SET relaylease:10.0.0.4 "relaylease2 $now 10.0.0.1 other
" EX 3600 >/dev/null
if ! eventually 60 on_replica 10.0.0.1 fresh || ! eventually 60 on_replica 10.0.0.2 stale ||
    ! eventually 60 on_replica 2001:db8:1:2::_64 stale6 ||
    ! eventually 60 on_replica 10.0.0.4 other; then
    not_ok "the records reached the replica"
    done_testing
    exit 1
fi

# ---- relay-check ---------------------------------------------------------------------------------
# check_check_fresh and check_check_deny: faults-lib.sh's.
setup_none() { :; }

smtp_unix=$(redis_host smtp r)
smtp_tcp=$(redis_host smtp tcp:r)
mark_smtp="\"$REDIS_DIR/smtp.pass\""
diag "relay-check on the replica: a fresh record, a stale one, another key's, none (Unix socket and TCP)"
{
    ij_vars="$smtp_unix TCPREMOTEIP=10.0.0.1"
    inject "a fresh record (unix)" relay-check setup_none check_check_fresh "$mark_smtp" \
        "$to_exec" "$@"
    ij_vars="$smtp_tcp TCPREMOTEIP=10.0.0.1"
    inject "a fresh record (tcp)" relay-check setup_none check_check_fresh "$mark_smtp" \
        "$to_exec" "$@"
    ij_vars="$smtp_unix TCPREMOTEIP=10.0.0.2"
    inject "a stale record (unix)" relay-check setup_none check_check_deny "$mark_smtp" \
        "$to_exec" "$@"
    ij_vars="$smtp_tcp PROTO=TCP6 TCPREMOTEIP=2001:db8:1:2::7 TCP6REMOTEIP=2001:db8:1:2::7"
    inject "a stale IPv6 /64 (tcp)" relay-check setup_none check_check_deny "$mark_smtp" \
        "$to_exec" "$@"
    ij_vars="$smtp_unix TCPREMOTEIP=10.0.0.4"
    inject "a record naming another key (unix)" relay-check setup_none check_check_deny \
        "$mark_smtp" "$to_exec" "$@"
    ij_vars="$smtp_unix TCPREMOTEIP=10.0.0.3"
    inject "no record (unix)" relay-check setup_none check_check_deny "$mark_smtp" "$to_exec" "$@"
    ij_vars="$smtp_tcp TCPREMOTEIP=10.0.0.3"
    inject "no record (tcp)" relay-check setup_none check_check_deny "$mark_smtp" "$to_exec" "$@"
}

# ---- relay-allow ---------------------------------------------------------------------------------
# The login records 10.0.0.9 for bob. Before each run the key is gone (a new login) or holds
# a record 100 s old (a refresh).
setup_new() {
    redis_admin p DEL relaylease:10.0.0.9 >/dev/null
    run_start=$(date +%s)
}
setup_refresh() {
    put 10.0.0.9 "$(($(date +%s) - 100))" bob
    run_start=$(date +%s)
}
check_allow() {
    check_exec relay-allow
    v=$(redis_admin p GET relaylease:10.0.0.9)
    t=$(echo "$v" | cut -d' ' -f2)
    case $v in
    "relaylease2 "*" 10.0.0.9 bob") ;;
    "") ;;
    *) echo "; the primary holds a value the login should not make: $v" ;;
    esac
    if [ -z "$v" ] || [ "$t" -lt $((run_start - 1)) ]; then
        [ "$(grep -c '^relay-allow: warning: ' "$err")" -eq 1 ] ||
            echo "; the login was not recorded, and not reported in one warning line"
    fi
}

pop_unix=$(redis_host pop p)
pop_tcp=$(redis_host pop tcp:p)
pop_sentinels=$(redis_host pop sentinels)
mark_pop="\"$REDIS_DIR/pop.pass\""
diag "relay-allow to the primary: a new login, a refresh (Unix socket, TCP, Sentinel)"
{
    ij_vars="$pop_unix TCPREMOTEIP=10.0.0.9 USER=bob"
    inject "a new login (unix)" relay-allow setup_new check_allow "$mark_pop" "$to_exec" "$@"
    ij_vars="$pop_tcp TCPREMOTEIP=10.0.0.9 USER=bob"
    inject "a refresh (tcp)" relay-allow setup_refresh check_allow "$mark_pop" "$to_exec" "$@"
    ij_vars="$pop_sentinels TCPREMOTEIP=10.0.0.9 USER=bob"
    inject "a new login (sentinels)" relay-allow setup_new check_allow "$mark_pop" "$to_exec" "$@"
}

faults_report
done_testing
