#!/bin/sh
# run: quick
# t-revoke.sh: relay-expire -r USER and -a ADDRESS, revocation by hand.
#   - -r removes every allowance of the user (IPv4 keys, a /64, a record with no index line)
#     and no one else's; one "removed ADDRESS USER AGE" line each; 0, then 1 with "nothing
#     removed: ..." on a second run.
#   - -a takes an address as tcpserver gives it (keyed by the current policy), a key as the
#     listing shows it or as it is stored, and a key of an older policy; an address that may
#     never relay is 1 with the reason; a bad user, address or two options are 100 and
#     remove nothing; a store that cannot be read is 111.
#   - cdb mode: when -r or -a returns, the rules cdb no longer grants what was removed; a
#     failed rebuild is 111, and a rerun (nothing left to remove) mends the cdb.
#   - Races on the directory store: a login of the user while -r is held in its first unlink
#     waits, then survives whole (record, listed, removed by the next -r); a login from the
#     address while -a is held in its unlink survives whole.
#   - Redis (tests/redis-lib.sh's primary and replica, the admin account): -r and -a, and the
#     local replica no longer holds the key when relay-expire returns.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-allow relay-check relay-expire relay-cdb

store=$SCRATCH/store
mkdir "$store"
export RELAY_DIR="$store" RELAY_EXPIRY=900 RELAY_LOG=0
# allow ADDRESS [USER]: a login from ADDRESS, as tcpserver sets it, with USER if given.
allow() {
    # shellcheck disable=SC2046 # split on purpose
    env $(client_env "$1") ${2:+USER=$2} "$RELAY_BIN/relay-allow" true \
        2>>"$SCRATCH/allow.err" </dev/null
}
# expire ARGS...: relay-expire ARGS; stdout in $SCRATCH/out, stderr in $SCRATCH/err, the
# exit status in $rc.
expire() {
    "$RELAY_BIN/relay-expire" "$@" >"$SCRATCH/out" 2>"$SCRATCH/err"
    rc=$?
}
# ageless FILE: its lines with the age (the last field of a "removed" line) as N, sorted.
ageless() {
    sed 's/^\(removed [^ ]* [^ ]*\) [0-9][0-9]*$/\1 N/' "$1" | LC_ALL=C sort
}
lines() {
    printf '%s\n' "$@"
}

# --- -r USER -------------------------------------------------------------------------------
allow 192.0.2.1 alice
allow 2001:db8:1:1::7 alice
allow 192.0.2.2 bob
allow 192.0.2.3 bob
allow 2001:db8:1:2::5 bob
# A record of bob's that no login indexed (written by an older relay-allow, or an import).
printf 'relaylease1 192.0.2.4 bob\n' >"$store/192.0.2.4"
dated=$(date +%s)
touch -d "@$((dated - 300))" "$store/192.0.2.2"
expire -r bob
ran=$(date +%s)
is "$rc" 0 "-r bob removes something: exit 0"
is "$(ageless "$SCRATCH/out")" "$(lines 'removed 192.0.2.2 bob N' 'removed 192.0.2.3 bob N' \
    'removed 192.0.2.4 bob N' 'removed 2001:db8:1:2::/64 bob N')" \
    "one line for each of bob's allowances, IPv4, the /64 and the unindexed one"
age=$(sed -n 's/^removed 192\.0\.2\.2 bob \([0-9]*\)$/\1/p' "$SCRATCH/out")
check "the age printed is the record's" test -n "$age" -a "${age:-0}" -ge 300 \
    -a "${age:-0}" -le $((ran - dated + 300))
is "$(cat "$SCRATCH/err")" "" "and nothing on stderr"
check "bob's records are gone" test ! -e "$store/192.0.2.2" -a ! -e "$store/192.0.2.3" \
    -a ! -e "$store/192.0.2.4" -a ! -e "$store/2001:db8:1:2::_64"
check "alice's stay" test -f "$store/192.0.2.1" -a -f "$store/2001:db8:1:1::_64"
check "alice is still granted" granted 192.0.2.1
check "bob is not" refused 192.0.2.2
check "nor his /64" refused 2001:db8:1:2::99
expire -r bob
is "$rc" 1 "a second -r bob removes nothing: exit 1"
is "$(cat "$SCRATCH/out")" "nothing removed: no allowance of user bob" "and says so"
expire -r nobody-here
is "$rc" 1 "-r of a user with no allowance: exit 1"
expire -l
like "$(cat "$SCRATCH/out")" "*192.0.2.1 alice *" "the listing still shows alice's"

# --- -a ADDRESS ----------------------------------------------------------------------------
allow 192.0.2.7 carol
expire -a 192.0.2.7
is "$rc" 0 "-a 192.0.2.7: exit 0"
is "$(ageless "$SCRATCH/out")" "removed 192.0.2.7 carol N" "-a prints what it removed"
check "and it is gone" test ! -e "$store/192.0.2.7"
expire -a 192.0.2.7
is "$rc" 1 "again: exit 1"
is "$(cat "$SCRATCH/out")" "nothing removed: no allowance for 192.0.2.7" "and says so"

allow 192.0.2.8 carol
expire -a ::ffff:192.0.2.8
is "$(ageless "$SCRATCH/out") $rc" "removed 192.0.2.8 carol N 0" \
    "-a with tcpserver's IPv4-mapped form removes the IPv4 key"
allow 192.0.2.9
expire -a 192.0.2.9
is "$(ageless "$SCRATCH/out") $rc" "removed 192.0.2.9 - N 0" "a login with no user: '-'"

allow 2001:db8:5:6::9 dave
expire -a 2001:db8:5:6::1234
is "$(ageless "$SCRATCH/out") $rc" "removed 2001:db8:5:6::/64 dave N 0" \
    "-a with another address of the /64 removes the /64, keyed as relay-check keys it"
allow 2001:db8:7:8::1 dave
expire -a 2001:db8:7:8::/64
is "$(ageless "$SCRATCH/out") $rc" "removed 2001:db8:7:8::/64 dave N 0" "-a with a key as -l shows it"
allow 2001:db8:7:9::1 dave
expire -a 2001:db8:7:9::_64
is "$(ageless "$SCRATCH/out") $rc" "removed 2001:db8:7:9::/64 dave N 0" "-a with a key as stored"
# A key of an older policy: made when IPv6 clients were keyed by /48.
RELAY_IPV6_PREFIX=48 allow 2001:db8:a:1::1 erin
check "a /48 key was made under that policy" test -f "$store/2001:db8:a::_48"
expire -a 2001:db8:a:1::1
is "$rc" 1 "-a with the address under today's /64 policy: not that key (exit 1)"
expire -a 2001:db8:a::/48
is "$(ageless "$SCRATCH/out") $rc" "removed 2001:db8:a::/48 erin N 0" "-a with the old key removes it"

expire -a 224.0.0.1
is "$rc" 1 "an address that may never relay: exit 1"
is "$(cat "$SCRATCH/out")" "nothing removed: 224.0.0.1 is an address that may never relay" \
    "and the reason"

# --- usage and errors ----------------------------------------------------------------------
nrecs() { find "$store" -maxdepth 1 -type f ! -name '.*' | wc -l; }
before=$(nrecs)
for bad in "-r|bo b" "-r|bo(b" "-a|192.0.2" "-a|2001:db8::5/64" "-a|2001:db8:1:2::/064" \
    "-a|192.0.2.1/32" "-a|alice" "-r|alice|-a|192.0.2.1" "-r|alice|-r|bob" "-l|-r|alice" \
    "-n|-a|192.0.2.1" "-r" "-a" "-r|alice|extra"; do
    old_ifs=$IFS
    IFS='|'
    # shellcheck disable=SC2086 # split on | on purpose
    set -- $bad
    IFS=$old_ifs
    expire "$@"
    if [ "$rc" = 100 ] && [ "$(wc -l <"$SCRATCH/err")" -eq 1 ] && [ ! -s "$SCRATCH/out" ] &&
        grep -q '^relay-expire: fatal: ' "$SCRATCH/err"; then
        ok "relay-expire $* is 100 with one line"
    else
        not_ok "relay-expire $* is 100 with one line (exit $rc)"
        diag <"$SCRATCH/err"
    fi
done
expire -r ""
is "$rc" 100 "an empty user name: 100"
expire -r alice -a 192.0.2.1
like "$(cat "$SCRATCH/err")" "relay-expire: fatal: usage: relay-expire \[-n | -l | -r USER | -a ADDRESS\]" \
    "the usage line names the options"
expire -r "bo(b"
is "$(cat "$SCRATCH/err")" 'relay-expire: fatal: not a user name: "bo(b"' "a bad user name is named"
expire -a 192.0.2
is "$(cat "$SCRATCH/err")" 'relay-expire: fatal: not an address or a key: "192.0.2"' \
    "a bad address is named"
is "$(nrecs)" "$before" "none of them removed anything"

RELAY_DIR=$SCRATCH/none expire -r alice
is "$rc" 111 "-r on a missing store: 111"
like "$(cat "$SCRATCH/err")" "relay-expire: fatal: unable to open store *" "with one line"
RELAY_DIR=$SCRATCH/none expire -a 192.0.2.1
is "$rc" 111 "-a on a missing store: 111"
# A store its owner cannot read: relay-expire started as root works as the owner.
if [ "$(id -u)" -eq 0 ] && [ "$MAIL_UID" != 0 ]; then
    make_store "$SCRATCH/shut"
    cp -p "$store/192.0.2.1" "$SCRATCH/shut/"
    chown "$MAIL_UID:$MAIL_GID" "$SCRATCH/shut/192.0.2.1"
    chmod 000 "$SCRATCH/shut"
    RELAY_DIR=$SCRATCH/shut expire -r alice
    is "$rc" 111 "-r on a store its owner cannot read: 111"
    is "$(wc -l <"$SCRATCH/err")" 1 "with one line"
    RELAY_DIR=$SCRATCH/shut expire -a 192.0.2.1
    is "$rc" 111 "-a on a store its owner cannot read: 111"
    chmod 750 "$SCRATCH/shut"
    check "nothing was removed there" test -f "$SCRATCH/shut/192.0.2.1"
else
    skip "a store its owner cannot read" "not root, or no other account to be"
fi

# --- races on the directory store ------------------------------------------------------------
# relay-expire is held inside its unlink of the first record it removes (strace delays that
# one call; the ones after it run at once), and a login comes meanwhile. strace writes the
# unlink's line when the call enters and ends it with the result when it returns: when the
# login returns, that line must end in "= 0" already (the login waited; no clock is read).
# held_start OUT ARGS...: relay-expire ARGS under strace in the background, its output in
# $SCRATCH/OUT.out, the strace log in $SCRATCH/OUT.strace; $held is its PID.
held_start() {
    hs_out=$1
    shift
    strace_hold "$SCRATCH/$hs_out.strace" unlinkat,unlink first "$RELAY_BIN/relay-expire" "$@" \
        >"$SCRATCH/$hs_out.out" 2>"$SCRATCH/$hs_out.err"
}
# held_in OUT KEY: relay-expire is in its unlink of KEY.
# shellcheck disable=SC2317 # called through check
held_in() {
    strace_held "$SCRATCH/$1.strace" "unlink.*\"$2\""
}
# indexed KEY USER: the user's index holds the line for KEY.
# shellcheck disable=SC2317 # called through check
indexed() {
    grep -rqxF "$1 $2" "$store/.users" 2>/dev/null
}
if ! command -v strace >/dev/null 2>&1; then
    skip "races of -r and -a with a login" "strace is not installed"
else
    # -r bob while bob logs in from a new address.
    allow 192.0.2.21 bob
    check "bob's first login is indexed" indexed 192.0.2.21 bob
    : >"$SCRATCH/allow.err"
    held_start r -r bob
    check "relay-expire -r is held in its unlink of bob's record" held_in r 192.0.2.21
    allow 192.0.2.22 bob
    grep 'unlink.*"192\.0\.2\.21"' "$SCRATCH/r.strace" >"$SCRATCH/r.line"
    wait "$held"
    is "$?" 0 "the held -r bob finishes: exit 0"
    is "$(ageless "$SCRATCH/r.out")" "removed 192.0.2.21 bob N" "it removed the record it had judged"
    check "the login waited for -r (the held unlink had returned when the login did)" \
        grep -q ') *= 0' "$SCRATCH/r.line"
    check "the login's record exists" test -f "$store/192.0.2.22"
    check "with its index line" indexed 192.0.2.22 bob
    expire -l
    like "$(cat "$SCRATCH/out")" "*
192.0.2.22 bob *" "and it is listed"
    check "and grants" granted 192.0.2.22
    is "$(cat "$SCRATCH/allow.err")" "" "the login said nothing (it was not left without its lock)"
    expire -r bob
    is "$(ageless "$SCRATCH/out") $rc" "removed 192.0.2.22 bob N 0" "the next -r bob removes it"
    expire -r bob
    is "$rc" 1 "and the one after that finds nothing"

    # -a while the same address logs in again: the old record (back-dated) is removed, the new
    # login's survives whole.
    allow 192.0.2.41 carol
    touch -d "@$(($(date +%s) - 600))" "$store/192.0.2.41"
    : >"$SCRATCH/allow.err"
    held_start a -a 192.0.2.41
    check "relay-expire -a is held in its unlink" held_in a 192.0.2.41
    allow 192.0.2.41 carol
    grep 'unlink.*"192\.0\.2\.41"' "$SCRATCH/a.strace" >"$SCRATCH/a.line"
    wait "$held"
    is "$?" 0 "the held -a finishes: exit 0"
    age=$(sed -n 's/^removed 192\.0\.2\.41 carol \([0-9]*\)$/\1/p' "$SCRATCH/a.out")
    check "it removed the old record (age 600 or more)" test -n "$age" -a "${age:-0}" -ge 600
    check "the login waited for -a (the held unlink had returned when the login did)" \
        grep -q ') *= 0' "$SCRATCH/a.line"
    check "the new login's record exists" test -f "$store/192.0.2.41"
    check "with its index line" indexed 192.0.2.41 carol
    expire -l
    age=$(sed -n 's/^192\.0\.2\.41 carol \([0-9]*\) [0-9]*$/\1/p' "$SCRATCH/out")
    check "it is listed, as the new login (younger than the old record)" \
        test -n "$age" -a "${age:-600}" -lt 600
    check "and grants" granted 192.0.2.41
    is "$(cat "$SCRATCH/allow.err")" "" "the login said nothing"

    # -a while another user logs in from that address (a NAT, a reassigned address): that
    # login takes no lock of the revoked user's, and must still wait for the store's.
    allow 192.0.2.42 carol
    : >"$SCRATCH/allow.err"
    held_start n -a 192.0.2.42
    check "relay-expire -a is held in its unlink of carol's record" held_in n 192.0.2.42
    allow 192.0.2.42 dave
    grep 'unlink.*"192\.0\.2\.42"' "$SCRATCH/n.strace" >"$SCRATCH/n.line"
    wait "$held"
    is "$?" 0 "the held -a finishes: exit 0"
    is "$(ageless "$SCRATCH/n.out")" "removed 192.0.2.42 carol N" "it removed carol's record"
    check "dave's login waited for -a (the held unlink had returned when it did)" \
        grep -q ') *= 0' "$SCRATCH/n.line"
    check "dave's record exists" test -f "$store/192.0.2.42"
    check "with its index line" indexed 192.0.2.42 dave
    expire -l
    like "$(cat "$SCRATCH/out")" "*
192.0.2.42 dave *" "it is listed, as dave's"
    is "$(cat "$SCRATCH/allow.err")" "" "the login said nothing"
fi

# --- cdb mode ------------------------------------------------------------------------------
if command -v tcprulescheck >/dev/null 2>&1; then
    cstore=$SCRATCH/cstore
    mkdir "$cstore"
    printf '192.0.2.:allow,NET="doc"\n:allow\n' >"$SCRATCH/rules.txt"
    CDB=$SCRATCH/rules.cdb
    # cdb_grants ADDRESS: tcpserver -x with the rules cdb would set RELAYCLIENT for ADDRESS;
    # cdb_refuses ADDRESS: it would not.
    # shellcheck disable=SC2317 # called through check
    cdb_grants() {
        # shellcheck disable=SC2046 # split on purpose
        env $(client_env "$1") tcprulescheck "$CDB" 2>&1 </dev/null | grep -q RELAYCLIENT
    }
    # shellcheck disable=SC2317 # called through check
    cdb_refuses() {
        ! cdb_grants "$1"
    }
    RELAY_DIR=$cstore
    export RELAY_CDB="$CDB" RELAY_CDB_RULES="$SCRATCH/rules.txt" RELAY_CDB_PROG="$RELAY_BIN/relay-cdb"
    allow 192.0.2.31 alice
    allow 192.0.2.32 bob
    allow 2001:db8:3:4::5 bob
    allow 192.0.2.33 carol
    check "the logins' builds are done" cdb_idle "$CDB"
    check "the cdb grants bob" cdb_grants 192.0.2.32
    check "and his /64" cdb_grants 2001:db8:3:4::77
    expire -r bob
    is "$rc" 0 "cdb mode: -r bob"
    check "when it returns, the cdb no longer grants bob's address" cdb_refuses 192.0.2.32
    check "nor his /64" cdb_refuses 2001:db8:3:4::77
    check "it still grants alice" cdb_grants 192.0.2.31
    expire -a 192.0.2.33
    is "$rc" 0 "cdb mode: -a 192.0.2.33"
    check "when it returns, the cdb no longer grants it" cdb_refuses 192.0.2.33
    # A rebuild that fails: the removal stands, the run is 111; a rerun, with nothing left to
    # remove, rebuilds and mends the cdb.
    allow 192.0.2.34 carol
    check "the login's build is done" cdb_idle "$CDB"
    check "the cdb grants 192.0.2.34" cdb_grants 192.0.2.34
    RELAY_CDB_PROG=false expire -a 192.0.2.34
    is "$rc" 111 "a failed rebuild is 111"
    is "$(ageless "$SCRATCH/out")" "removed 192.0.2.34 carol N" "the removal was printed"
    check "with a warning" grep -q '^relay-expire: warning: ' "$SCRATCH/err"
    check "the record is gone" test ! -e "$cstore/192.0.2.34"
    expire -a 192.0.2.34
    is "$rc" 1 "rerun: nothing left to remove (1)"
    check "but the cdb is rebuilt: it no longer grants 192.0.2.34" cdb_refuses 192.0.2.34
    check "and still grants alice" cdb_grants 192.0.2.31
    unset RELAY_CDB RELAY_CDB_RULES RELAY_CDB_PROG
    RELAY_DIR=$store
else
    skip "cdb mode" "tcprulescheck is not installed (ucspi-tcp-ipv6)"
fi

# --- Redis ---------------------------------------------------------------------------------
# The primary, one replica (this host's: RELAY_REDIS, which relay-check and the listing
# read) and the sentinels that name the primary to writers. Logins with the POP account;
# relay-expire with the admin account's settings.
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-sentinel >/dev/null 2>&1 ||
    ! command -v redis-cli >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then
        not_ok "redis-server, redis-sentinel and redis-cli are installed"
    else
        skip "revocation on Redis" "redis-server, redis-sentinel or redis-cli is not installed"
    fi
    done_testing
fi
# shellcheck source-path=SCRIPTDIR source=redis-lib.sh
. "$(dirname "$0")/redis-lib.sh"
if ! redis_cluster r1; then
    not_ok "the primary, its replica and the sentinels started"
    done_testing
fi
unset RELAY_DIR
pop="RELAY_REDIS_SENTINELS=$REDIS_SENTINELS RELAY_REDIS_MASTER=$REDIS_MASTER
RELAY_REDIS_SENTINEL_PASSFILE=$REDIS_DIR/sentinels.pass RELAY_REDIS_USER=relaylease-pop
RELAY_REDIS_PASSFILE=$REDIS_DIR/pop.pass"
admin="RELAY_REDIS=unix:$(redis_sock r1) RELAY_REDIS_SENTINELS=$REDIS_SENTINELS
RELAY_REDIS_MASTER=$REDIS_MASTER RELAY_REDIS_SENTINEL_PASSFILE=$REDIS_DIR/sentinels.pass
RELAY_REDIS_USER=relaylease-admin RELAY_REDIS_PASSFILE=$REDIS_DIR/admin.pass"
rallow() { # ADDRESS [USER]: a login through the POP account
    # shellcheck disable=SC2046,SC2086 # split on purpose
    env $pop $(client_env "$1") ${2:+USER=$2} "$RELAY_BIN/relay-allow" true \
        2>>"$SCRATCH/allow.err" </dev/null
}
rexpire() { # ARGS: relay-expire with the admin's settings, as expire
    # shellcheck disable=SC2086
    env $admin "$RELAY_BIN/relay-expire" "$@" >"$SCRATCH/out" 2>"$SCRATCH/err"
    rc=$?
}
# shellcheck disable=SC2317 # called through check
on_replica() { # KEY: the replica holds relaylease:KEY
    [ "$(redis_admin r1 EXISTS "relaylease:$1")" = 1 ]
}
# shellcheck disable=SC2317 # called through eventually
replicated() { # KEY...: the replica holds each
    for rp_k in "$@"; do
        on_replica "$rp_k" || return 1
    done
}
# shellcheck disable=SC2317 # called through check
on_primary() {
    [ "$(redis_admin p EXISTS "relaylease:$1")" = 1 ]
}
# off_primary KEY..., off_replica KEY...: none of the keys is there.
# shellcheck disable=SC2317 # called through check and eventually
off_primary() {
    for op_k in "$@"; do
        ! on_primary "$op_k" || return 1
    done
}
# shellcheck disable=SC2317 # called through check
off_replica() {
    for op_k in "$@"; do
        ! on_replica "$op_k" || return 1
    done
}

: >"$SCRATCH/allow.err"
rallow 192.0.2.51 bob
rallow 2001:db8:5:1::1 bob
rallow 192.0.2.52 alice
# A record of bob's that no login indexed: set by the admin, as an older writer or an import.
redis_admin p SET relaylease:192.0.2.53 "relaylease2 $(date +%s) 192.0.2.53 bob
" EX 3600 >/dev/null
check "the logins are on the replica" \
    eventually 30 replicated 192.0.2.51 2001:db8:5:1::_64 192.0.2.52 192.0.2.53
is "$(cat "$SCRATCH/allow.err")" "" "the logins said nothing"
rexpire -r bob
is "$rc" 0 "Redis: -r bob: exit 0"
is "$(ageless "$SCRATCH/out")" "$(lines 'removed 192.0.2.51 bob N' 'removed 192.0.2.53 bob N' \
    'removed 2001:db8:5:1::/64 bob N')" "one line for each of bob's, the unindexed one too"
is "$(cat "$SCRATCH/err")" "" "and nothing on stderr"
check "bob's keys are gone from the primary" \
    off_primary 192.0.2.51 192.0.2.53 2001:db8:5:1::_64
check "when relay-expire returns, the local replica no longer holds them" \
    off_replica 192.0.2.51 192.0.2.53 2001:db8:5:1::_64
check "alice's stays" on_primary 192.0.2.52
# shellcheck disable=SC2086 # the settings, one word each
check "this host no longer grants bob" refused 192.0.2.51 $admin
# shellcheck disable=SC2086
check "and still grants alice" granted 192.0.2.52 $admin
rexpire -r bob
is "$(cat "$SCRATCH/out") $rc" "nothing removed: no allowance of user bob 1" "Redis: again: exit 1"

rexpire -a 192.0.2.52
is "$(ageless "$SCRATCH/out") $rc" "removed 192.0.2.52 alice N 0" "Redis: -a 192.0.2.52"
check "gone from the replica when it returns" off_replica 192.0.2.52
rexpire -a 192.0.2.52
is "$(cat "$SCRATCH/out") $rc" "nothing removed: no allowance for 192.0.2.52 1" "Redis: again: exit 1"
rallow 2001:db8:5:2::1 dave
check "dave's /64 is on the replica" eventually 30 replicated 2001:db8:5:2::_64
rexpire -a 2001:db8:5:2::/64
is "$(ageless "$SCRATCH/out") $rc" "removed 2001:db8:5:2::/64 dave N 0" "Redis: -a with a listed key"

# The replica lags (its replication stream paused: it still answers reads): relay-expire
# waits until it has dropped the key, and is still running when the pause ends.
rallow 192.0.2.54 carol
check "carol's login is on the replica" eventually 30 replicated 192.0.2.54
redis_admin r1 CLIENT PAUSE 60000 WRITE >/dev/null
# shellcheck disable=SC2086
start_bg env $admin "$RELAY_BIN/relay-expire" -a 192.0.2.54 >"$SCRATCH/lag.out" 2>"$SCRATCH/lag.err"
lag=$LAST_PID
check "the primary has dropped the key" eventually 30 off_primary 192.0.2.54
check "the replica still has it" on_replica 192.0.2.54
check "relay-expire is still waiting for the replica" kill -0 "$lag"
redis_admin r1 CLIENT UNPAUSE >/dev/null
wait "$lag"
is "$?" 0 "then it returns 0"
check "and the replica no longer has the key" off_replica 192.0.2.54
is "$(ageless "$SCRATCH/lag.out")" "removed 192.0.2.54 carol N" "it printed the removal"
# A replica that does not catch up within relay-expire's bound: 111 and a warning.
rallow 192.0.2.55 carol
check "the next login is on the replica" eventually 30 replicated 192.0.2.55
redis_admin r1 CLIENT PAUSE 60000 WRITE >/dev/null
rexpire -a 192.0.2.55
redis_admin r1 CLIENT UNPAUSE >/dev/null
is "$rc" 111 "a replica that stays behind: 111"
is "$(ageless "$SCRATCH/out")" "removed 192.0.2.55 carol N" "the removal was printed"
# (The store's reason: the replica still holds it, or its last answer did not come in time.)
like "$(cat "$SCRATCH/err")" "relay-expire: warning: unable to revoke the allowance for 192.0.2.55 in redis *" \
    "with a warning saying so"

done_testing
