# tests/redis-lib.sh: real Redis servers and sentinels (Debian's redis-server and
# redis-sentinel) for the t-redis-*.sh tests, and fakeredis. Source it after lib.sh; do not
# run it. Sourced with redis_fakes_only=1 set, it defines the functions and sets nothing up
# (no REDIS_DIR, passwords or exit trap): only fakeredis_start and REDIS_TIMEOUT are of use
# then.
# shellcheck shell=sh
#
# What it gives a test:
#   setup         redis_need: skip the whole test unless redis-server, redis-sentinel and
#                 redis-cli are installed (in CI, where tests/deps.sh installs them, fail);
#                 REDIS_DIR, a private directory short enough for Unix socket paths;
#                 REDIS_ACL, run-examples/redis/users.acl with the test passwords' hashes;
#                 the passwords in passfiles REDIS_DIR/ACCOUNT.pass (mode 0600) for the
#                 accounts pop, smtp, repl, sentinel, admin (relaylease-ACCOUNT)
#   data nodes    redis_start NAME [PRIMARY] (a replica of PRIMARY when given; with
#                 REDIS_INCLUDE set to a conf, such as a shipped one, that conf comes first
#                 and the test's settings override it), redis_ready
#                 NAME, redis_stop NAME (TERM), redis_kill NAME (KILL), redis_pause NAME
#                 (STOP), redis_resume NAME (CONT), redis_port NAME, redis_sock NAME
#   talking       redis_as ACCOUNT NAME CMD... (redis-cli over NAME's socket as
#                 relaylease-ACCOUNT; ACCOUNT default: no AUTH), redis_admin NAME CMD...
#   replication   redis_link_up NAME, redis_wait_link NAME (eventually 60)
#   all at once   redis_cluster REPLICA...: the primary p, its replicas, the sentinels
#   sentinels     sentinels_start PRIMARY (three, quorum 2, down-after-milliseconds 1000,
#                 failover-timeout 5000), sentinels_ready NREPLICAS, sentinels_name NAME,
#                 sentinels_wait NAME (eventually 60), sentinels_stop, sentinel_port I;
#                 REDIS_SENTINELS (127.0.0.1:PORT,... as RELAY_REDIS_SENTINELS takes it),
#                 REDIS_MASTER (the name they monitor); REDIS_DOWN_AFTER, if set before
#                 sentinels_start, replaces the 1000 ms of down-after-milliseconds
#   our programs  redis_host ACCOUNT WHERE... (a host's settings, with RELAY_REDIS_TIMEOUT
#                 REDIS_TIMEOUT), redis_answer HOST ADDRESS (relay-check's answer),
#                 granted_on HOST ADDRESS, refused_on HOST ADDRESS
#   fakeredis     fakeredis_start NAME ADDR [OPTION...] < SCRIPT: FAKE_PID, FAKE_PORT
#
# Every server is started with lib.sh's start_bg, whose subshell execs it: LAST_PID is the
# server's own PID, and it is on lib.sh's list, so the exit trap stops it; the trap also
# sends CONT first (a paused server cannot act on TERM) and removes REDIS_DIR.
# Every wait is `eventually`: a guard against a hang, never a measure.

# shellcheck disable=SC2154 # lib_top: set by lib.sh
redis_top=$lib_top
REDIS_MASTER=relaylease
REDIS_SENTINELS=
# RELAY_REDIS_TIMEOUT for our programs (redis_host), the most it takes: a busy machine's slow
# exchange is not what these tests test. A check whose subject is the timeout sets its own.
REDIS_TIMEOUT=5000
redis_pids=
redis_own_dir=

redis_cleanup() {
    redis_rc=$?
    trap '' TERM INT HUP
    for redis_pid in $redis_pids; do
        kill -CONT "$redis_pid" 2>/dev/null
    done
    # shellcheck disable=SC2154 # lib_pids: lib.sh's list of the processes it stops
    for redis_pid in $lib_pids; do
        stop_pid "$redis_pid"
    done
    if [ -n "$redis_own_dir" ]; then
        if [ -n "${KEEP_SCRATCH:-}" ]; then
            diag "redis directory kept: $redis_own_dir"
        else
            rm -rf "$redis_own_dir"
        fi
    fi
    (exit "$redis_rc")
    lib_cleanup
}

# redis_have: are the Debian packages' programs here?
redis_have() {
    command -v redis-server >/dev/null 2>&1 && command -v redis-sentinel >/dev/null 2>&1 &&
        command -v redis-cli >/dev/null 2>&1
}

# redis_need DESC: skip the whole test (DESC names it) unless redis_have.
redis_need() {
    redis_have && return 0
    # CI installs them (tests/deps.sh --tests): there, a missing Redis is a failure.
    if [ "${CI:-}" = true ]; then
        not_ok "redis-server, redis-sentinel and redis-cli are installed (Debian's redis-server, redis-sentinel, redis-tools)"
        exit 1
    fi
    skip "$1" "redis-server, redis-sentinel or redis-cli is not installed (Debian's redis-server, redis-sentinel, redis-tools)"
    exit 0
}

# redis_acl_from SHIPPED OUT: the shipped ACL file with each placeholder #NAME-SHA256
# replaced by the SHA-256 of the test password of the account NAME (lower case).
redis_acl_from() {
    cp "$1" "$2.tmp" || return 1
    for ra_acct in pop smtp repl sentinel admin; do
        ra_up=$(echo "$ra_acct" | tr '[:lower:]' '[:upper:]')
        ra_hash=$(printf %s "$(cat "$REDIS_DIR/$ra_acct.pass")" | sha256sum | cut -d' ' -f1)
        sed "s/#$ra_up-SHA256\$/#$ra_hash/; s/#$ra_up-SHA256 /#$ra_hash /" "$2.tmp" >"$2.new" &&
            mv "$2.new" "$2.tmp" || return 1
    done
    mv "$2.tmp" "$2"
}

redis_pass() {
    sed -n 1p "$REDIS_DIR/$1.pass"
}
# sentinel_cli PORT CMD...: redis-cli to the sentinel on PORT, with the sentinels' password
# (requirepass: without it anyone who reaches a sentinel could make it name another primary).
sentinel_cli() {
    sc_port=$1
    shift
    REDISCLI_AUTH=$(redis_pass sentinels) redis-cli -h 127.0.0.1 -p "$sc_port" "$@" 2>/dev/null
}
redis_port() {
    cat "$REDIS_DIR/$1/port"
}
redis_sock() {
    echo "$REDIS_DIR/$1/sock"
}
redis_pid() {
    cat "$REDIS_DIR/$1/started"
}
# redis_gone PID: the process PID has exited.
redis_gone() {
    ! kill -0 "$1" 2>/dev/null
}

# redis_as ACCOUNT NAME CMD...: CMD through redis-cli on NAME's socket, as relaylease-ACCOUNT
# (or without AUTH, as the default user, for ACCOUNT default). Replies and errors alike go
# to standard output; redis-cli exits 0 after an error reply.
redis_as() {
    ra_acct=$1 ra_name=$2
    shift 2
    if [ "$ra_acct" = default ]; then
        redis-cli -s "$REDIS_DIR/$ra_name/sock" "$@" 2>&1
    else
        REDISCLI_AUTH=$(redis_pass "$ra_acct") redis-cli --user "relaylease-$ra_acct" \
            -s "$REDIS_DIR/$ra_name/sock" "$@" 2>&1
    fi
}
redis_admin() {
    redis_as admin "$@"
}

# redis_pong NAME: NAME answers the admin's PING.
redis_pong() {
    [ "$(redis_admin "$1" PING)" = PONG ]
}

# redis_spawn KIND NAME: start redis-server or redis-sentinel (KIND) on NAME's conf, which
# redis_start or sentinels_start wrote with the port in NAME/port, and wait until it answers
# or dies. Returns 2 when its port was taken in the meantime (the caller tries another).
redis_spawn() {
    rs_d=$REDIS_DIR/$2
    : >"$rs_d/log"
    if [ "$1" = sentinel ]; then
        start_bg redis-sentinel "$rs_d/conf" >>"$rs_d/log" 2>&1
    else
        start_bg redis-server "$rs_d/conf" >>"$rs_d/log" 2>&1
    fi
    rs_pid=$LAST_PID
    redis_pids="$redis_pids $rs_pid"
    echo "$rs_pid" >"$rs_d/started"
    rs_n=0
    while :; do
        if [ "$1" = sentinel ]; then
            [ "$(sentinel_cli "$(cat "$rs_d/port")" PING)" = PONG ] && break
        else
            redis_pong "$2" && break
        fi
        if ! kill -0 "$rs_pid" 2>/dev/null || [ "$rs_n" -ge 600 ]; then
            stop_pid "$rs_pid"
            grep -q 'Address already in use' "$rs_d/log" && return 2
            diag "$1 $2 did not start; its log:"
            tail -n 5 "$rs_d/log" | diag
            return 1
        fi
        sleep 0.1
        rs_n=$((rs_n + 1))
    done
    # The pidfile is the server's own word for its PID: it must be the one we will stop.
    if ! eventually 60 test -s "$rs_d/pid" || [ "$(cat "$rs_d/pid")" != "$rs_pid" ]; then
        diag "$1 $2: started as PID $rs_pid, but its pidfile says $(cat "$rs_d/pid" 2>/dev/null)"
        return 1
    fi
    return 0
}

# redis_start NAME [PRIMARY]: a data node with the test ACL file, on a free loopback port
# and the socket REDIS_DIR/NAME/sock; a replica of PRIMARY (by name) when given. Waits until
# it answers PING (a replica's link may still be down: redis_ready waits for that).
redis_start() {
    rs_name=$1 rs_primary=${2:-}
    rs_d=$REDIS_DIR/$rs_name
    rm -rf "$rs_d" && mkdir "$rs_d" || return 1
    rs_try=0
    while [ "$rs_try" -lt 5 ]; do
        rs_try=$((rs_try + 1))
        free_port 127.0.0.1 >"$rs_d/port" || return 1
        {
            [ -z "${REDIS_INCLUDE:-}" ] || echo "include $REDIS_INCLUDE"
            echo "bind 127.0.0.1"
            echo "port $(cat "$rs_d/port")"
            echo "unixsocket $rs_d/sock"
            echo "unixsocketperm 777"
            echo "dir $rs_d"
            echo "dbfilename dump.rdb"
            echo "pidfile $rs_d/pid"
            echo "logfile \"\""
            echo "daemonize no"
            echo "save \"\""
            echo "appendonly no"
            echo "repl-diskless-sync-delay 0"
            echo "aclfile $REDIS_ACL"
            echo "masteruser relaylease-repl"
            echo "masterauth $(redis_pass repl)"
            [ -z "$rs_primary" ] || echo "replicaof 127.0.0.1 $(redis_port "$rs_primary")"
        } >"$rs_d/conf"
        if [ -n "$rs_primary" ]; then
            echo "$rs_primary" >"$rs_d/primary"
        fi
        redis_spawn server "$rs_name"
        case $? in
        0) return 0 ;;
        2) continue ;;
        *) return 1 ;;
        esac
    done
    diag "redis $rs_name: no free port after $rs_try tries"
    return 1
}

# redis_link_up NAME: NAME is a replica whose link to its primary is up.
redis_link_up() {
    redis_admin "$1" INFO replication | tr -d '\r' | grep -qx 'master_link_status:up'
}
redis_wait_link() {
    eventually 60 redis_link_up "$1"
}

# redis_ready NAME: NAME answers PING; a replica also has its link up.
redis_ready() {
    eventually 60 redis_pong "$1" || return 1
    [ ! -f "$REDIS_DIR/$1/primary" ] || redis_wait_link "$1"
}

# redis_signal SIGNAL NAME
redis_pause() {
    kill -STOP "$(redis_pid "$1")"
}
redis_resume() {
    kill -CONT "$(redis_pid "$1")"
}

# redis_stop NAME: TERM (after a CONT, in case it is paused), reaped; redis_kill NAME: the
# same with KILL first, a sudden death.
redis_stop() {
    rs_pid=$(redis_pid "$1")
    kill -CONT "$rs_pid" 2>/dev/null
    stop_pid "$rs_pid"
}
redis_kill() {
    rs_pid=$(redis_pid "$1")
    kill -KILL "$rs_pid" 2>/dev/null
    stop_pid "$rs_pid"
}

# sentinels_start PRIMARY: three sentinels s1, s2, s3 watching PRIMARY (by name), each with
# a conf of its own that it may rewrite.
sentinels_start() {
    REDIS_SENTINELS=
    for ss_i in 1 2 3; do
        ss_d=$REDIS_DIR/s$ss_i
        rm -rf "$ss_d" && mkdir "$ss_d" || return 1
        ss_try=0 ss_rc=2
        while [ "$ss_rc" -eq 2 ] && [ "$ss_try" -lt 5 ]; do
            ss_try=$((ss_try + 1))
            free_port 127.0.0.1 >"$ss_d/port" || return 1
            {
                echo "bind 127.0.0.1"
                echo "port $(cat "$ss_d/port")"
                echo "dir $ss_d"
                echo "pidfile $ss_d/pid"
                echo "logfile \"\""
                echo "daemonize no"
                echo "sentinel monitor $REDIS_MASTER 127.0.0.1 $(redis_port "$1") 2"
                echo "sentinel auth-user $REDIS_MASTER relaylease-sentinel"
                echo "sentinel auth-pass $REDIS_MASTER $(redis_pass sentinel)"
                echo "sentinel down-after-milliseconds $REDIS_MASTER ${REDIS_DOWN_AFTER:-1000}"
                echo "sentinel failover-timeout $REDIS_MASTER 5000"
                echo "requirepass $(redis_pass sentinels)"
                echo "sentinel sentinel-pass $(redis_pass sentinels)"
            } >"$ss_d/conf"
            redis_spawn sentinel "s$ss_i"
            ss_rc=$?
        done
        [ "$ss_rc" -eq 0 ] || return 1
        REDIS_SENTINELS=$REDIS_SENTINELS${REDIS_SENTINELS:+,}127.0.0.1:$(cat "$ss_d/port")
    done
    export REDIS_SENTINELS
}

sentinel_port() {
    cat "$REDIS_DIR/s$1/port"
}

# sentinel_field I FIELD: FIELD of `SENTINEL master` as sentinel I sees it.
sentinel_field() {
    sentinel_cli "$(sentinel_port "$1")" SENTINEL master "$REDIS_MASTER" |
        tr -d '\r' | awk -v f="$2" 'NR % 2 == 1 { k = $0; next } k == f { print; exit }'
}

# sentinels_know N: every sentinel knows the two others and at least N replicas, and takes
# the primary for up: a failover can then happen.
sentinels_know() {
    for sk_i in 1 2 3; do
        [ "$(sentinel_field "$sk_i" num-other-sentinels)" = 2 ] || return 1
        [ "$(sentinel_field "$sk_i" num-slaves)" -ge "$1" ] 2>/dev/null || return 1
        [ "$(sentinel_field "$sk_i" flags)" = master ] || return 1
    done
}
sentinels_ready() {
    eventually 60 sentinels_know "$1"
}

# sentinels_name NAME: each of the three sentinels names NAME as the primary.
sentinels_name() {
    sn_want="127.0.0.1 $(redis_port "$1")"
    for sn_i in 1 2 3; do
        sn_got=$(sentinel_cli "$(sentinel_port "$sn_i")" \
            SENTINEL get-master-addr-by-name "$REDIS_MASTER" 2>/dev/null | tr -d '\r' |
            tr '\n' ' ')
        [ "$sn_got" = "$sn_want " ] || return 1
    done
}
sentinels_wait() {
    eventually 60 sentinels_name "$1"
}

sentinels_stop() {
    for ss_i in 1 2 3; do
        [ -f "$REDIS_DIR/s$ss_i/started" ] || continue
        stop_pid "$(cat "$REDIS_DIR/s$ss_i/started")"
        rm -f "$REDIS_DIR/s$ss_i/started"
    done
}

# redis_cluster REPLICA...: the set-up most tests want: a primary p, each REPLICA a replica of
# it with its link up, and three sentinels that know them all. Returns 1 if any step failed.
redis_cluster() {
    redis_start p || return 1
    for rc_r in "$@"; do
        redis_start "$rc_r" p || return 1
    done
    for rc_r in "$@"; do
        redis_wait_link "$rc_r" || return 1
    done
    sentinels_start p && sentinels_ready $#
}

# redis_host ACCOUNT [WHERE...]: the settings of a host that uses Redis as relaylease-ACCOUNT
# (pop, smtp, admin), as VAR=value words for env. Each WHERE is a data node's NAME (its Unix
# socket, as RELAY_REDIS), tcp:NAME (its TCP port) or sentinels (the three, with their
# password). RELAY_REDIS_TIMEOUT is REDIS_TIMEOUT; a word given after these replaces one of
# them (env takes the last), as RELAY_REDIS_TIMEOUT=200 for a check of the timeout itself.
redis_host() {
    rh_words="RELAY_REDIS_USER=relaylease-$1 RELAY_REDIS_PASSFILE=$REDIS_DIR/$1.pass"
    shift
    for rh_w in "$@"; do
        case $rh_w in
        sentinels)
            rh_words="$rh_words RELAY_REDIS_SENTINELS=$REDIS_SENTINELS"
            rh_words="$rh_words RELAY_REDIS_MASTER=$REDIS_MASTER"
            rh_words="$rh_words RELAY_REDIS_SENTINEL_PASSFILE=$REDIS_DIR/sentinels.pass"
            ;;
        tcp:*) rh_words="$rh_words RELAY_REDIS=127.0.0.1:$(redis_port "${rh_w#tcp:}")" ;;
        *) rh_words="$rh_words RELAY_REDIS=unix:$(redis_sock "$rh_w")" ;;
        esac
    done
    echo "$rh_words RELAY_REDIS_TIMEOUT=$REDIS_TIMEOUT"
}

# redis_answer HOST ADDRESS [WRAPPER...]: what relay-check with HOST's settings (redis_host's
# words) does for a client at ADDRESS: "granted" or "refused" (it ran its next program, with
# RELAYCLIENT set or not), or "exit N" (it did not). It runs under `timeout 60`, a guard
# against a hang, and WRAPPER (unshare -n); its stderr is in $SCRATCH/check.err.
# granted_on HOST ADDRESS: the answer is granted; refused_on HOST ADDRESS: refused.
redis_answer() {
    ra_host=$1 ra_addr=$2
    shift 2
    # shellcheck disable=SC2046,SC2086,SC2016 # settings, one word each; expanded by that sh
    env $ra_host $(client_env "$ra_addr") timeout 60 "$@" "$RELAY_BIN/relay-check" \
        sh -c 'if [ -n "${RELAYCLIENT+set}" ]; then echo granted; else echo refused; fi' \
        </dev/null 2>"$SCRATCH/check.err" || echo "exit $?"
}
granted_on() {
    [ "$(redis_answer "$1" "$2")" = granted ]
}
refused_on() {
    [ "$(redis_answer "$1" "$2")" = refused ]
}

# fakeredis_start NAME ADDR [OPTION...] < SCRIPT: tests/standins/fakeredis on ADDR (unix:PATH,
# or 127.0.0.1:0 for a free port) with OPTIONs and SCRIPT (kept in $SCRATCH/NAME.script),
# its requests logged to $SCRATCH/NAME.log and its stderr added to $SCRATCH/fake.err; waits
# (eventually 60) until it listens. FAKE_PID is its PID (stop it with stop_pid), FAKE_PORT
# its port (or "unix"). If it does not listen, one not ok line and return 1.
# shellcheck disable=SC2034 # FAKE_PID and FAKE_PORT: read by the tests
fakeredis_start() {
    fs_name=$1 fs_addr=$2
    shift 2
    cat >"$SCRATCH/$fs_name.script"
    : >"$SCRATCH/$fs_name.log"
    rm -f "$SCRATCH/$fs_name.ready"
    start_bg "$STANDINS/fakeredis" "$@" -r "$SCRATCH/$fs_name.ready" -l "$SCRATCH/$fs_name.log" \
        "$fs_addr" "$SCRATCH/$fs_name.script" 2>>"$SCRATCH/fake.err"
    FAKE_PID=$LAST_PID
    if ! appears "$SCRATCH/$fs_name.ready" 60; then
        not_ok "fakeredis $fs_name listens on $fs_addr"
        diag <"$SCRATCH/fake.err"
        return 1
    fi
    FAKE_PORT=$(cat "$SCRATCH/$fs_name.ready")
}

# redis_setup: REDIS_DIR, the passwords, the ACL file and the exit trap (done as the file is
# sourced, unless redis_fakes_only=1).
redis_setup() {
    # sun_path holds 107 bytes and a NUL; the longest socket is $REDIS_DIR/NAME/sock with a
    # NAME of up to 8 bytes. mktemp -t uses TMPDIR, else the system's temporary directory.
    if [ "${#SCRATCH}" -le 80 ]; then
        REDIS_DIR=$SCRATCH/r
        mkdir "$REDIS_DIR" || exit 111
    else
        REDIS_DIR=$(mktemp -d -t rl.XXXXXX) || exit 111
        [ "${#REDIS_DIR}" -le 80 ] || REDIS_DIR=$(rm -rf "$REDIS_DIR" && env -u TMPDIR mktemp -d -t rl.XXXXXX) ||
            exit 111
        redis_own_dir=$REDIS_DIR
    fi
    # Programs the tests run as the mail user (MAIL_UID) connect to sockets in here.
    chmod 711 "$REDIS_DIR" || exit 111
    export REDIS_DIR REDIS_MASTER
    trap redis_cleanup EXIT
    # The test passwords: random, so that nothing depends on a fixed one; one line each.
    for redis_acct in pop smtp repl sentinel admin sentinels; do
        (umask 077 && od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$REDIS_DIR/$redis_acct.pass" &&
            echo >>"$REDIS_DIR/$redis_acct.pass") || exit 111
    done
    # relay-allow runs as the mail user and reads the POP account's passfile and the sentinels':
    # root's, in the mail user's group, as the README sets them up (a passfile owned by another
    # account is refused, root reads them too).
    for redis_acct in pop sentinels; do
        chown "0:$MAIL_GID" "$REDIS_DIR/$redis_acct.pass" &&
            chmod 640 "$REDIS_DIR/$redis_acct.pass" || exit 111
    done
    REDIS_ACL=$REDIS_DIR/users.acl
    redis_acl_from "$redis_top/run-examples/redis/users.acl" "$REDIS_ACL" || exit 111
    export REDIS_ACL
}

[ "${redis_fakes_only:-}" = 1 ] || redis_setup
