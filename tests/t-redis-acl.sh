#!/bin/sh
# run: quick once
# t-redis-acl.sh: the shipped ACL file (run-examples/redis/users.acl), loaded into a real
# redis-server with test passwords, gives each account what it needs and nothing more; as
# shipped (placeholders for the hashes) Redis refuses to start with it; and it still holds
# on a replica that Sentinel promotes after the primary dies (the same file is on every data
# node: ACLs are not replicated). The failover also tests the harness (tests/redis-lib.sh):
# primary, replica, three sentinels, a kill, the sentinels naming the replica.
# The seconds from the kill to +switch-master are printed for the README (REDIS_RUNS
# failovers, default 5; TEST_LONG runs 5 too): a figure, never a pass or a fail.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=redis-lib.sh
. "$(dirname "$0")/redis-lib.sh"

redis_need "Redis ACLs"
need_built chat

# refuses ACCOUNT NAME DESC CMD...: the reply is a NOPERM error.
refuses() {
    rf_acct=$1 rf_name=$2 rf_desc=$3
    shift 3
    like "$(redis_as "$rf_acct" "$rf_name" "$@")" "NOPERM*" "$rf_desc"
}

# ---- as shipped, Redis will not start --------------------------------------------------------

d=$REDIS_DIR/shipped
mkdir "$d" || exit 111
start_bg redis-server --port 0 --unixsocket "$d/sock" --dir "$d" --save '' --appendonly no \
    --aclfile "$lib_top/run-examples/redis/users.acl" >"$d/log" 2>&1
pid=$LAST_PID
eventually 60 redis_gone "$pid"
stop_pid "$pid"
if grep -q 'Aborting Redis startup because of ACL errors' "$d/log"; then
    ok "with the shipped placeholders for the hashes, Redis refuses to start"
else
    not_ok "with the shipped placeholders for the hashes, Redis refuses to start"
    tail -n 3 "$d/log" | diag
fi

# ---- one server: what each account can do ------------------------------------------------------

redis_start p || {
    not_ok "a redis-server with the shipped ACL file (test hashes) starts"
    done_testing
}
ok "a redis-server with the shipped ACL file (test hashes) starts"
redis_admin p SET foo bar >/dev/null
rec="relaylease2 1700000000 192.0.2.7 bob
"

is "$(redis_as pop p SET relaylease:192.0.2.7 "$rec" EX 960)" OK "pop: SET relaylease:KEY VALUE EX 960"
# ttl_near_960 ACCOUNT: the TTL of relaylease:192.0.2.7, as ACCOUNT reads it, is 960 less the
# seconds since it was set (a busy machine takes some between two redis-cli runs).
# shellcheck disable=SC2317 # called through check
ttl_near_960() {
    tn_ttl=$(redis_as "$1" p TTL relaylease:192.0.2.7)
    [ "$tn_ttl" -gt 900 ] 2>/dev/null && [ "$tn_ttl" -le 960 ] && return 0
    echo "TTL $tn_ttl"
    return 1
}
check "pop: the key has its TTL" ttl_near_960 admin
# The record script (store/redis.c) reads records and keeps the user's index: the POP account
# may GET, EVAL and touch sorted sets and TTLs under relaylease:*, and nothing more.
is "$(redis_as pop p GET relaylease:192.0.2.7)" "$(printf '%s' "$rec")" "pop: may GET relaylease:KEY (the record script reads)"
is "$(redis_as pop p EXPIRE relaylease:192.0.2.7 960)" 1 "pop: may EXPIRE relaylease:KEY"
check "pop: may TTL relaylease:KEY" ttl_near_960 pop
is "$(redis_as pop p EVAL "return redis.call('GET', KEYS[1])" 1 relaylease:192.0.2.7)" \
    "$(printf '%s' "$rec")" "pop: may EVAL a script that reads relaylease:KEY"
is "$(redis_as pop p ZADD relaylease:user:bob 1700000000 192.0.2.7)" 1 "pop: may ZADD relaylease:user:USER"
is "$(redis_as pop p ZRANGE relaylease:user:bob 0 -1)" 192.0.2.7 "pop: may ZRANGE relaylease:user:USER"
is "$(redis_as pop p ZREMRANGEBYSCORE relaylease:user:bob -inf '(0')" 0 "pop: may ZREMRANGEBYSCORE"
is "$(redis_as pop p ZREM relaylease:user:bob 192.0.2.7)" 1 "pop: may ZREM"
refuses pop p "pop: no DEL" DEL relaylease:192.0.2.7
like "$(redis_as pop p EVAL "return redis.call('DEL', KEYS[1])" 1 relaylease:192.0.2.7)" \
    "*can't run this command*" "pop: no DEL from a script"
like "$(redis_as pop p EVAL "return redis.call('FLUSHALL')" 0)" "*can't run this command*" \
    "pop: no FLUSHALL from a script"
like "$(redis_as pop p EVAL "return redis.call('GET', 'foo')" 0)" "*can't access*keys*" \
    "pop: no key outside relaylease:* from a script"
like "$(redis_as pop p EVAL "return redis.call('SET', KEYS[1], 'x')" 1 foo)" "*NOPERM*" \
    "pop: no key outside relaylease:* from a script, even one named in KEYS"
refuses pop p "pop: no FUNCTION LOAD" FUNCTION LOAD "#!lua name=x
redis.register_function('f', function() return 1 end)"
refuses pop p "pop: no SCRIPT LOAD (EVAL sends the script every time)" SCRIPT LOAD "return 1"
refuses pop p "pop: no ZCARD" ZCARD relaylease:user:bob
refuses pop p "pop: no SET of a key outside relaylease:*" SET foo x
is "$(redis_as pop p SET relaylease:192.0.2.7 "$rec" KEEPTTL GET)" "$(printf '%s' "$rec")" \
    "pop: SET ... GET (it may read now)"
refuses pop p "pop: no FLUSHALL" FLUSHALL
refuses pop p "pop: no CONFIG" CONFIG GET '*'
refuses pop p "pop: no KEYS" KEYS '*'
refuses pop p "pop: no SCAN" SCAN 0
refuses pop p "pop: no PERSIST" PERSIST relaylease:192.0.2.7
refuses pop p "pop: no ACL" ACL LIST
is "$(redis_admin p GET foo)" bar "pop: foo is untouched"

is "$(redis_as smtp p GET relaylease:192.0.2.7)" "$(printf '%s' "$rec")" "smtp: GET relaylease:KEY"
like "$(redis_as smtp p SCAN 0 MATCH 'relaylease:*' COUNT 1000 TYPE string)" \
    "*relaylease:192.0.2.7*" "smtp: SCAN ... MATCH relaylease:*"
refuses smtp p "smtp: no SET" SET relaylease:192.0.2.7 x EX 60
refuses smtp p "smtp: no DEL" DEL relaylease:192.0.2.7
refuses smtp p "smtp: no EXPIRE" EXPIRE relaylease:192.0.2.7 1
refuses smtp p "smtp: no FLUSHALL" FLUSHALL
refuses smtp p "smtp: no CONFIG" CONFIG GET '*'
refuses smtp p "smtp: no KEYS" KEYS '*'
refuses smtp p "smtp: no GET of a key outside relaylease:*" GET foo
refuses smtp p "smtp: no TTL" TTL relaylease:192.0.2.7
refuses smtp p "smtp: no INFO" INFO
# A fact the README relies on: the key pattern does not limit SCAN, so the SMTP account sees
# every key name of the instance. Hence an instance of its own for relaylease.
like "$(redis_as smtp p SCAN 0 COUNT 1000)" "*foo*" \
    "smtp: SCAN shows a key name outside relaylease:* (why relaylease needs its own instance)"

like "$(redis_as default p GET relaylease:192.0.2.7)" "NOAUTH*" "default: no command without AUTH"
like "$(redis-cli -s "$(redis_sock p)" AUTH default "" 2>&1)" "*WRONGPASS*" \
    "default: is off (AUTH as default fails)"
like "$(REDISCLI_AUTH=wrong redis-cli --user relaylease-pop -s "$(redis_sock p)" PING 2>&1)" \
    "*WRONGPASS*" "pop: a wrong password is refused"
refuses repl p "repl: no GET" GET relaylease:192.0.2.7
refuses sentinel p "sentinel: no GET" GET relaylease:192.0.2.7
refuses sentinel p "sentinel: no SET" SET relaylease:192.0.2.7 x
redis_stop p

# ---- the shipped primary.conf and replica.conf ---------------------------------------------------

# Each is included first, then the test's loopback address, ports, paths and passwords.
REDIS_INCLUDE=$lib_top/run-examples/redis/primary.conf
redis_start sp
REDIS_INCLUDE=$lib_top/run-examples/redis/replica.conf
redis_start sr sp
REDIS_INCLUDE=
check "the shipped replica.conf replicates from the shipped primary.conf (relaylease-repl)" \
    redis_ready sr
is "$(redis_admin sr CONFIG GET replica-serve-stale-data | sed -n 2p)" yes \
    "replica.conf: replica-serve-stale-data yes"
is "$(redis_admin sr CONFIG GET replica-read-only | sed -n 2p)" yes "replica.conf: replica-read-only yes"
is "$(redis_admin sp CONFIG GET maxmemory-policy | sed -n 2p)" noeviction \
    "primary.conf: maxmemory-policy noeviction"
is "$(redis_as pop sp SET relaylease:192.0.2.9 "$rec" EX 960)" OK "pop: SET on the shipped primary"
# replicated_rec: the SMTP account reads the record on the replica.
# shellcheck disable=SC2317 # called through eventually
replicated_rec() {
    [ "$(redis_as smtp sr GET relaylease:192.0.2.9)" = "$(printf '%s' "$rec")" ]
}
check "smtp: the record reaches the shipped replica" eventually 60 replicated_rec
like "$(redis_as pop sr SET relaylease:192.0.2.9 "$rec" EX 960)" "READONLY*" \
    "pop: the shipped replica refuses writes (READONLY)"
redis_stop sr
redis_stop sp

# ---- after a failover ------------------------------------------------------------------------

# date_ms "DD Mon YYYY HH:MM:SS.mmm": a log line's time as milliseconds.
date_ms() {
    date -d "$1" +%s%3N
}

# switch_ms: the time of the first +switch-master in the three sentinels' logs.
switch_ms() {
    sed -n 's/^[0-9]*:X \([0-9]* [A-Z][a-z]* [0-9]* [0-9:.]*\) # +switch-master .*/\1/p' \
        "$REDIS_DIR"/s[123]/log | while IFS= read -r t; do date_ms "$t"; done | sort -n | sed -n 1p
}

runs=${REDIS_RUNS:-5}
run=0
figures=
while [ "$run" -lt "$runs" ]; do
    run=$((run + 1))
    if ! { redis_start p && redis_start r p && redis_ready r && sentinels_start p &&
        sentinels_ready 1; }; then
        not_ok "failover $run: primary, replica and three sentinels are up"
        break
    fi
    if [ "$run" -eq 1 ]; then
        ok "primary, replica (link up) and three sentinels (each knowing the others) are up"
        check "the sentinels name the primary" sentinels_name p
        like "$(redis_as pop r SET relaylease:192.0.2.8 "$rec" EX 960)" "READONLY*" \
            "before the failover, the replica refuses the POP account's SET (READONLY)"
    fi
    t0=$(now_ms)
    redis_kill p
    if ! sentinels_wait r; then
        not_ok "failover $run: after the primary's death, the sentinels name the replica"
        for i in 1 2 3; do tail -n 5 "$REDIS_DIR/s$i/log" | diag; done
        break
    fi
    t1=$(switch_ms)
    if [ -n "$t1" ]; then
        figures="$figures $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1000 }')"
    fi
    if [ "$run" -eq 1 ]; then
        ok "after the primary's death, the three sentinels name the replica"
        is "$(redis_as pop r SET relaylease:192.0.2.8 "$rec" EX 960)" OK \
            "on the promoted replica, the POP account's SET works"
        refuses pop r "on the promoted replica, the POP account still cannot DEL" \
            DEL relaylease:192.0.2.8
        refuses smtp r "on the promoted replica, the SMTP account still cannot SET" \
            SET relaylease:192.0.2.8 x
        is "$(redis_as smtp r GET relaylease:192.0.2.8)" "$(printf '%s' "$rec")" \
            "on the promoted replica, the SMTP account reads the new record"
    fi
    sentinels_stop
    redis_stop r
done
diag "seconds from the primary's death to +switch-master (down-after-milliseconds 1000, 3 sentinels, quorum 2, loopback), $run runs:$figures"

done_testing
