#!/bin/sh
# run: quick
# shellcheck disable=SC2016 # RESP replies and an inner sh's $1: the $ are literal
# t-redis-cap.sh: RELAY_USER_MAX on Redis (issue 12), through relay-allow with the shipped ACL
# (the POP account runs the record script), a primary and its replica:
#   - the cap's rules: a renewal is not counted; an address another user took over frees a
#     slot; an IPv6 /64 counts once; an empty user is never counted (nor indexed); 0 is no
#     cap; a stale allowance, or an index entry whose record is gone, is not counted; over
#     the cap nothing is written and one line says so (user, count, address); the login goes
#     on every time;
#   - the index relaylease:user:USER holds the user's keys, with a TTL at least the record's,
#     and the replica holds both the record and its index entry after each login;
#   - hostile index contents (members that are not keys, a member whose key is not a string)
#     count for nothing, and an index key of the wrong type makes the login's record fail
#     with one line, the login going on;
#   - the script's reply is checked strictly (fakeredis): only 0, count + 1 up to the cap,
#     or -count at or past it; anything else is one line and nothing more;
#   - both in flight: two logins of one user under a cap of 1, their EVALs sent while the
#     primary is stopped (SIGSTOP), then run one after the other: exactly one is recorded,
#     one index entry, one over-cap line;
#   - store-level revocation through relay-expire -r / -a when it has them (helper C's CLI):
#     more members than a batch, an unindexed record, and a login between two batches.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-allow relay-expire fakeredis
# shellcheck source-path=SCRIPTDIR source=redis-lib.sh
. "$(dirname "$0")/redis-lib.sh"
redis_need "the per-user cap on Redis"

# The sentinels are for relay-expire, which writes to the primary they name and reads the
# replica; the primary is stopped on purpose below, so they must not fail over meanwhile.
REDIS_DOWN_AFTER=600000
redis_cluster r || {
    not_ok "a primary, its replica (link up) and three sentinels start"
    done_testing
}
export RELAY_DIR="$SCRATCH/no-such-store"
pop="RELAY_LOG=0 $(redis_host pop p)"
# relay-expire as the admin: on the primary alone, or as an SMTP host in cdb mode would run it
# (writes to the primary through the sentinels, reads from its replica).
admin_p="RELAY_LOG=0 $(redis_host admin p)"
admin_r="RELAY_LOG=0 $(redis_host admin r sentinels)"
err=$SCRATCH/err
ran=$SCRATCH/ran

# login USER ADDRESS [VAR=value...]: relay-allow for USER's login from ADDRESS (the cap
# RELAY_USER_MAX=$max unless a VAR says otherwise), with its stderr in $err. True if the
# login went on (the next program ran).
login() {
    lg_user=$1 lg_addr=$2
    shift 2
    rm -f "$ran"
    # shellcheck disable=SC2046,SC2086 # one word each
    env $pop RELAY_USER_MAX="$max" $(client_env "$lg_addr") USER="$lg_user" "$@" \
        "$RELAY_BIN/relay-allow" sh -c ': >"$1"' sh "$ran" 2>"$err"
    [ -e "$ran" ]
}
# value KEY / idx USER: what the primary holds.
value() {
    redis_admin p GET "relaylease:$1"
}
members() {
    redis_admin p ZRANGE "relaylease:user:$1" 0 -1 | sort | tr '\n' ' '
}
# on_replica KEY USER: the replica holds the primary's record for KEY and KEY in USER's index.
# shellcheck disable=SC2317 # called through eventually
on_replica() {
    [ "$(redis_admin r GET "relaylease:$1")" = "$(value "$1")" ] &&
        [ -n "$(redis_admin r ZSCORE "relaylease:user:$2" "$1")" ]
}
# recorded USER ADDRESS KEY DESC: the login went on, said nothing, and KEY names USER on
# the primary, in USER's index, and on the replica (both).
recorded() {
    rc_user=$1 rc_addr=$2 rc_key=$3 rc_desc=$4
    if ! login "$rc_user" "$rc_addr"; then
        not_ok "$rc_desc: the login goes on"
        diag <"$err"
        return
    fi
    is "$(cat "$err")" "" "$rc_desc: nothing said"
    like "$(value "$rc_key")" "relaylease2 * $rc_key $rc_user" "$rc_desc: the record names $rc_user"
    like " $(members "$rc_user")" "* $rc_key *" "$rc_desc: $rc_key is in $rc_user's index"
    check "$rc_desc: the replica holds the record and the index entry" \
        eventually 60 on_replica "$rc_key" "$rc_user"
}
# over USER ADDRESS COUNT DESC: the login went on, nothing was written for ADDRESS, and the
# one line names the user, the count and the address.
over() {
    ov_user=$1 ov_addr=$2 ov_n=$3 ov_desc=$4
    ov_before=$(value "$ov_addr")
    if ! login "$ov_user" "$ov_addr"; then
        not_ok "$ov_desc: the login goes on"
        diag <"$err"
        return
    fi
    like "$(cat "$err")" \
        "relay-allow: warning: user $ov_user over RELAY_USER_MAX: $ov_n live allowances, $ov_addr* not recorded" \
        "$ov_desc: one line (user, count, address)"
    is "$(wc -l <"$err" | tr -d ' ')" 1 "$ov_desc: one line only"
    is "$(value "$ov_addr")" "$ov_before" "$ov_desc: nothing written for $ov_addr"
}

# ---- the cap's rules ---------------------------------------------------------------------

max=2
diag "cap 2"
recorded bob 192.0.2.1 192.0.2.1 "bob's first allowance"
is "$(redis_admin p TYPE relaylease:user:bob)" zset "bob's index is a sorted set"
# The index's first: read a second later, the record's could only be smaller.
ttl_idx=$(redis_admin p TTL relaylease:user:bob)
ttl_rec=$(redis_admin p TTL relaylease:192.0.2.1)
check "the index's TTL ($ttl_idx) is at least the record's ($ttl_rec)" test "$ttl_idx" -ge "$ttl_rec"
recorded bob 192.0.2.2 192.0.2.2 "bob's second allowance"
over bob 192.0.2.3 2 "bob's third, over the cap"
recorded bob 192.0.2.1 192.0.2.1 "a renewal of bob's first, at the cap"
is "$(members bob)" "192.0.2.1 192.0.2.2 " "bob's index: his two keys"

diag "another user takes over one of bob's addresses (NAT)"
recorded alice 192.0.2.2 192.0.2.2 "alice from bob's second address"
recorded bob 192.0.2.3 192.0.2.3 "bob's third, now that alice holds his second"
is "$(members bob)" "192.0.2.1 192.0.2.3 " "bob's index dropped the address alice took over"

diag "an IPv6 /64 counts once"
recorded carol 2001:db8:1:2::5 2001:db8:1:2::_64 "carol from 2001:db8:1:2::5"
recorded carol 2001:db8:1:2::6 2001:db8:1:2::_64 "carol from 2001:db8:1:2::6 (the same /64)"
recorded carol 2001:db8:9::1 2001:db8:9::_64 "carol from another /64"
over carol 192.0.2.50 2 "carol from an IPv4 address, over the cap"
over carol 2001:db8:7::1 2 "carol from a third /64, over the cap"
like "$(cat "$err")" "*2001:db8:7::1 (key 2001:db8:7::*) not recorded" \
    "the line gives the key when it differs from the address"

# plain USER ADDRESS WHAT: a login recorded by a plain SET: nothing said, the record there.
plain() {
    login "$1" "$2"
    is "$(cat "$err")" "" "$3, $2: nothing said"
    like "$(value "$2")" "relaylease2 * $2 $1" "$3, $2: recorded"
}

diag "an empty user is never counted"
max=1
for i in 60 61 62; do
    plain "" "192.0.2.$i" "no user"
done
is "$(redis_admin p KEYS 'relaylease:user:*' | grep -c -v 'user:[a-z]')" 0 "no index for an empty user"

diag "0 is no cap: a plain SET, as before the cap"
max=0
for i in 70 71 72; do
    plain dave "192.0.2.$i" "no cap"
done
is "$(redis_admin p EXISTS relaylease:user:dave)" 0 "no cap: no index"

diag "what is not live is not counted"
max=1
now=$(date +%s)
old=$((now - 1000))
redis_admin p SET relaylease:192.0.2.80 "relaylease2 $old 192.0.2.80 erin
" EX 100 >/dev/null
redis_admin p ZADD relaylease:user:erin "$now" 192.0.2.80 >/dev/null
redis_admin p ZADD relaylease:user:erin "$now" 192.0.2.81 >/dev/null
redis_admin p ZADD relaylease:user:erin "$now" user:bob >/dev/null
redis_admin p ZADD relaylease:user:erin "$now" user:erin >/dev/null
redis_admin p ZADD relaylease:user:erin "$old" 192.0.2.83 >/dev/null
redis_admin p SET relaylease:192.0.2.83 "relaylease2 $now 192.0.2.83 erin
" EX 100 >/dev/null
redis_admin p SET relaylease:192.0.2.84 "relaylease2 $now 192.0.2.99 erin
" EX 100 >/dev/null
redis_admin p ZADD relaylease:user:erin "$now" 192.0.2.84 >/dev/null
# (192.0.2.83 is live and erin's, but its index entry is older than the expiry: dropped
# unread, so not counted; the undercount is on the side of the login.)
recorded erin 192.0.2.82 192.0.2.82 \
    "a stale record, a gone one, a record naming another key and members that are no keys do not count"
is "$(members erin)" "192.0.2.82 " "erin's index: only what counted"

diag "a hostile index"
redis_admin p SET relaylease:user:mallory x >/dev/null
if login mallory 192.0.2.90; then
    ok "an index of the wrong type: the login goes on"
else
    not_ok "an index of the wrong type: the login goes on"
fi
like "$(cat "$err")" "relay-allow: warning: unable to record 192.0.2.90 in redis *: EVAL: *WRONGTYPE*" \
    "an index of the wrong type: one line saying why"
is "$(wc -l <"$err" | tr -d ' ')" 1 "an index of the wrong type: one line only"
is "$(value 192.0.2.90)" "" "an index of the wrong type: nothing recorded"
redis_admin p DEL relaylease:user:mallory relaylease:192.0.2.84 >/dev/null

diag "the POP account's ACL of old (no EVAL): recorded without the cap, and one line says why"
redis_admin p ACL SETUSER relaylease-pop -eval >/dev/null
max=5
login frank 192.0.2.95
like "$(cat "$err")" "relay-allow: warning: unable to count in redis *(EVAL: NOPERM*'eval'*): recording without the cap" \
    "no EVAL for the POP account: one line saying why"
is "$(wc -l <"$err" | tr -d ' ')" 1 "no EVAL for the POP account: one line only"
like "$(value 192.0.2.95)" "relaylease2 * 192.0.2.95 frank" "no EVAL for the POP account: recorded all the same"
is "$(redis_admin p EXISTS relaylease:user:frank)" 0 "no EVAL for the POP account: not indexed"
redis_admin p ACL SETUSER relaylease-pop -set >/dev/null
login frank 192.0.2.96
like "$(cat "$err")" "relay-allow: warning: unable to record 192.0.2.96 in redis *: SET: NOPERM*" \
    "neither EVAL nor SET: the SET's refusal is the one line"
is "$(wc -l <"$err" | tr -d ' ')" 1 "neither EVAL nor SET: one line only"
redis_admin p ACL SETUSER relaylease-pop +eval +set >/dev/null
redis_admin p DEL relaylease:192.0.2.95 >/dev/null

# ---- both in flight ----------------------------------------------------------------------

diag "two logins of one user under a cap of 1, both sent before the primary runs either"
if ! command -v strace >/dev/null 2>&1; then
    skip "two logins in flight" "strace is not installed"
else
    max=1
    # shellcheck disable=SC2317 # called through eventually
    sent() {
        grep -q 'EVAL' "$SCRATCH/race1.trace" 2>/dev/null &&
            grep -q 'EVAL' "$SCRATCH/race2.trace" 2>/dev/null
    }
    # Each login's deadline (RELAY_REDIS_TIMEOUT) runs while the primary is stopped: where the
    # machine is too busy to resume it in time, a login times out (its EVAL runs all the same,
    # unanswered), and the race is run again for another user, five times at most.
    try=0
    while :; do
        try=$((try + 1))
        race_user=grace$try
        redis_pause p
        for i in 1 2; do
            rm -f "$SCRATCH/race$i.trace"
            # shellcheck disable=SC2046,SC2086
            ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o "$SCRATCH/race$i.trace" -s 512 \
                -e trace=sendto,write,writev env $pop RELAY_USER_MAX=1 \
                $(client_env "198.51.100.$try$i") USER="$race_user" "$RELAY_BIN/relay-allow" \
                true 2>"$SCRATCH/race$i.err" &
            eval "race_pid$i=\$!"
        done
        both_sent=yes
        eventually 60 sent || both_sent=no
        redis_resume p
        # shellcheck disable=SC2154 # set by the eval above
        wait "$race_pid1"
        # shellcheck disable=SC2154
        wait "$race_pid2"
        if [ "$both_sent" = no ] || [ "$try" -ge 5 ] ||
            ! grep -q 'timed out' "$SCRATCH/race1.err" "$SCRATCH/race2.err"; then
            break
        fi
        diag "a login timed out before the primary was resumed (try $try): again"
    done
    is "$both_sent" yes "both logins sent their EVAL to the stopped primary"
    n=0
    for i in 1 2; do
        [ -z "$(value "198.51.100.$try$i")" ] || n=$((n + 1))
    done
    is "$n" 1 "exactly one of the two is recorded"
    is "$(redis_admin p ZCARD "relaylease:user:$race_user")" 1 "exactly one index entry"
    is "$(cat "$SCRATCH/race1.err" "$SCRATCH/race2.err" |
        grep -c "user $race_user over RELAY_USER_MAX: 1 live allowances")" 1 "exactly one over-cap line"
    is "$(cat "$SCRATCH/race1.err" "$SCRATCH/race2.err" | grep -v -c 'over RELAY_USER_MAX')" 0 \
        "and nothing else said"
fi

# ---- the script's reply, checked strictly ---------------------------------------------------

diag "replies a real server would not give to the record script"
n=0
# reply_case MAX REPLY WANT DESC: relay-allow for bob from 192.0.2.200 with RELAY_USER_MAX=MAX,
# against fakeredis answering REPLY (fakeredis escapes) to its one request; its stderr must
# match WANT.
reply_case() {
    n=$((n + 1))
    fakeredis_start "fake$n" "unix:$SCRATCH/fake$n.sock" <<EOF || return
wait
send $2
EOF
    rm -f "$ran"
    env RELAY_LOG=0 RELAY_REDIS="unix:$SCRATCH/fake$n.sock" RELAY_REDIS_TIMEOUT="$REDIS_TIMEOUT" \
        RELAY_USER_MAX="$1" TCPREMOTEIP=192.0.2.200 USER=bob "$RELAY_BIN/relay-allow" \
        sh -c ': >"$1"' sh "$ran" 2>"$err"
    if [ -e "$ran" ]; then
        like "$(cat "$err")" "$3" "$4"
    else
        not_ok "$4: the login goes on"
    fi
    stop_pid "$FAKE_PID"
}
bad="relay-allow: warning: unable to record 192.0.2.200 in redis unix:*: an unexpected reply to EVAL"
reply_case 2 ':0\r\n' "" "0 (a renewal): nothing said"
reply_case 2 ':2\r\n' "" "2 under a cap of 2 (the second allowance): nothing said"
reply_case 2 ':-2\r\n' "*user bob over RELAY_USER_MAX: 2 live allowances, 192.0.2.200 not recorded" \
    "-2 under a cap of 2: over the cap"
reply_case 2 ':-7\r\n' "*user bob over RELAY_USER_MAX: 7 live allowances, 192.0.2.200 not recorded" \
    "-7 under a cap of 2 (the cap was lowered): over the cap, 7"
reply_case 2 ':3\r\n' "$bad" "3 under a cap of 2: refused"
reply_case 2 ':-1\r\n' "$bad" "-1 under a cap of 2: refused (not over the cap)"
reply_case 0 ':2\r\n' "${bad%EVAL}SET" "no cap (a plain SET): an integer refused"
reply_case 2 ':-9223372036854775808\r\n' "$bad" "the most negative integer: refused"
reply_case 2 '+OK\r\n' "$bad" "+OK: refused"
reply_case 2 '$1\r\n1\r\n' "$bad" "a bulk string: refused"
reply_case 2 '*1\r\n$1\r\n1\r\n' "relay-allow: warning: unable to record 192.0.2.200 in redis unix:*: an array*" "an array: refused"
reply_case 2 '$-1\r\n' "$bad" "nil: refused"
reply_case 2 ':1\r\n:1\r\n' "*: more replies than were asked for" "two replies: refused"
reply_case 2 '-ERR Error running script\r\n' "*: EVAL: ERR Error running script" \
    "an error: refused, the server's words given"
like "$(cat "$SCRATCH/fake1.log")" "EVAL *" "the request is an EVAL"

# ---- revocation (relay-expire -r / -a) -----------------------------------------------------

# expire ENV ARGS...: relay-expire with ENV's settings; its output in $out, stderr in $err,
# its exit status in $rc.
out=$SCRATCH/out
expire() {
    ex_env=$1
    shift
    # shellcheck disable=SC2086 # one word each
    env $ex_env "$RELAY_BIN/relay-expire" "$@" >"$out" 2>"$err"
    rc=$?
}
# gone_whole KEY USER: neither the record nor the index entry is there.
# shellcheck disable=SC2317 # called through check
gone_whole() {
    [ -z "$(value "$1")" ] && [ -z "$(redis_admin p ZSCORE "relaylease:user:$2" "$1")" ]
}

if ! "$RELAY_BIN/relay-expire" -x 2>&1 | grep -q -- '-r USER'; then
    skip "revocation on Redis" "this relay-expire has no -r or -a"
    done_testing
fi

diag "relay-expire -r: more allowances than a batch, one never indexed"
max=1000
i=0
while [ "$i" -lt 150 ]; do
    login henry "10.1.$((i / 100)).$((i % 100 + 1))" || break
    i=$((i + 1))
done
is "$(redis_admin p ZCARD relaylease:user:henry)" 150 "henry holds 150 indexed allowances"
now=$(date +%s)
redis_admin p SET relaylease:10.1.9.9 "relaylease2 $now 10.1.9.9 henry
" EX 600 >/dev/null
expire "$admin_r" -r henry
is "$rc" 0 "relay-expire -r henry: exit 0"
is "$(grep -c '^removed 10\.1\.[0-9.]* henry [0-9]*$' "$out")" 151 \
    "relay-expire -r henry: one line for each of the 151 (150 indexed, 1 not)"
is "$(cat "$err")" "" "relay-expire -r henry: nothing on stderr"
is "$(redis_admin p KEYS 'relaylease:10.1.*')" "" "no record of henry's is left"
is "$(redis_admin p EXISTS relaylease:user:henry)" 0 "henry's index is gone"
is "$(redis_admin r KEYS 'relaylease:10.1.*')" "" \
    "when relay-expire returns, the replica holds none of them either"
expire "$admin_r" -r henry
is "$rc" 1 "relay-expire -r henry again: exit 1, nothing left"

diag "relay-expire -a: the record and its index entry"
max=5
login ivan 192.0.2.120
login ivan 192.0.2.121
expire "$admin_r" -a 192.0.2.120
is "$rc" 0 "relay-expire -a 192.0.2.120: exit 0"
like "$(cat "$out")" "removed 192.0.2.120 ivan *" "relay-expire -a: the line"
check "relay-expire -a: record and index entry gone" gone_whole 192.0.2.120 ivan
is "$(members ivan)" "192.0.2.121 " "relay-expire -a: ivan's other allowance is left"

diag "relay-expire -a: an invalid value under a relaylease key is removed, reported, not counted"
redis_admin p SET relaylease:192.0.2.122 "relaylease2 0123 192.0.2.122 ivan
" >/dev/null
expire "$admin_p" -a 192.0.2.122
is "$rc" 1 "an invalid value: exit 1 (no allowance was removed)"
like "$(cat "$err")" "*removed an invalid record*relaylease:192.0.2.122*" "an invalid value: reported"
is "$(value 192.0.2.122)" "" "an invalid value: gone"

diag "a revocation waits for the replica"
login judy 192.0.2.130
check "the replica holds judy's record" eventually 60 on_replica 192.0.2.130 judy
redis_admin r CLIENT PAUSE 1500 WRITE >/dev/null
expire "$admin_r" -a 192.0.2.130
is "$rc" 0 "with the replica's replication paused a moment: exit 0"
is "$(redis_admin r GET relaylease:192.0.2.130)" "" "when relay-expire returns, the replica no longer holds it"
login judy 192.0.2.131
check "the replica holds judy's record" eventually 60 on_replica 192.0.2.131 judy
redis_admin r CLIENT PAUSE 60000 WRITE >/dev/null
expire "$admin_r" -a 192.0.2.131
redis_admin r CLIENT UNPAUSE >/dev/null
is "$rc" 111 "with the replica paused for longer than relay-expire waits: exit 111"
like "$(cat "$out")" "removed 192.0.2.131 judy *" "the removal is still reported"
like "$(cat "$err")" "*192.0.2.131*" "and a line says the replica did not confirm it"
is "$(value 192.0.2.131)" "" "it is gone from the primary"

diag "a login during a revocation is removed whole or survives whole"
max=0
for variant in stopped batches; do
    i=0
    while [ "$i" -lt 100 ]; do
        login kate "10.2.$((i / 100)).$((i % 100 + 1))" || break
        i=$((i + 1))
    done
    if [ "$variant" = stopped ]; then
        # Both sent to the stopped primary: Redis runs one script, then the other.
        redis_pause p
        # shellcheck disable=SC2086
        env $admin_p "$RELAY_BIN/relay-expire" -r kate >"$out" 2>"$err" &
        ex_pid=$!
        # shellcheck disable=SC2046,SC2086
        env $pop RELAY_USER_MAX=0 $(client_env 10.2.9.1) USER=kate "$RELAY_BIN/relay-allow" true \
            2>"$SCRATCH/login.err" &
        lg_pid=$!
        sleep 0.5 # not a measure: either order is checked below
        redis_resume p
        wait "$lg_pid"
        wait "$ex_pid"
    else
        # relay-expire held after sending its first batch (its second sendto, AUTH being the
        # first): the login runs between two batches.
        if ! command -v strace >/dev/null 2>&1; then
            skip "a login between two batches" "strace is not installed"
            continue
        fi
        # shellcheck disable=SC2086
        ASAN_OPTIONS=detect_leaks=0 env $admin_p strace -qq -o /dev/null -e trace=sendto \
            -e inject=sendto:delay_exit=3000000:when=2 "$RELAY_BIN/relay-expire" -r kate \
            >"$out" 2>"$err" &
        ex_pid=$!
        # shellcheck disable=SC2317 # called through eventually
        first_batch_ran() {
            [ "$(redis_admin p ZCARD relaylease:user:kate)" -lt 100 ]
        }
        check "the first batch ran" eventually 60 first_batch_ran
        login kate 10.2.9.1
        wait "$ex_pid"
    fi
    [ ! -s "$err" ] || diag <"$err"
    if grep -q '^removed 10\.2\.9\.1 kate' "$out"; then
        diag "$variant: the login came before the revocation's end"
        check "$variant: the login's allowance was removed whole" gone_whole 10.2.9.1 kate
    else
        diag "$variant: the login came after the revocation's end"
        like "$(value 10.2.9.1)" "relaylease2 * 10.2.9.1 kate" "$variant: the login survived whole: its record"
        is "$(members kate)" "10.2.9.1 " "$variant: the login survived whole: its index entry, alone"
    fi
    is "$(redis_admin p KEYS 'relaylease:10.2.[0-8].*')" "" \
        "$variant: every allowance from before the revocation is gone"
    redis_admin p DEL relaylease:10.2.9.1 relaylease:user:kate >/dev/null
done

done_testing
