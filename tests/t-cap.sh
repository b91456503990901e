#!/bin/sh
# run: quick
# t-cap.sh: RELAY_USER_MAX in the directory store (issue 12). What counts against a user's
# cap and what does not, the one warning over it (the login goes on), and the race the cap
# must not lose: two logins of one user at once, with room for one, record one.
. "$(dirname "$0")/lib.sh"
need_programs

store=$SCRATCH/store
mkdir "$store"
export RELAY_DIR="$store" RELAY_EXPIRY=900 RELAY_LOG=0
unset RELAY_USER_MAX RELAY_SESSION_REFRESH

# allow ADDRESS USER [MAX]: relay-allow as Dovecot's post-login runs it, with a program after
# it; its stderr in $SCRATCH/err, its output (the program's) in $SCRATCH/out.
allow() {
    if [ -n "${3+set}" ]; then
        RELAY_USER_MAX=$3 TCPREMOTEIP=$1 USER=$2 "$RELAY_BIN/relay-allow" echo session \
            >"$SCRATCH/out" 2>"$SCRATCH/err"
    else
        TCPREMOTEIP=$1 USER=$2 "$RELAY_BIN/relay-allow" echo session >"$SCRATCH/out" \
            2>"$SCRATCH/err"
    fi
}
keys() { for k in "$store"/*; do printf '%s ' "${k##*/}"; done; }

# --- what counts -----------------------------------------------------------------------------
allow 192.0.2.1 bob 2
is "$?:$(cat "$SCRATCH/out"):$(cat "$SCRATCH/err")" "0:session:" "bob from .1: recorded, no word"
allow 192.0.2.1 bob 2
allow 192.0.2.2 bob 2
is "$(cat "$SCRATCH/err")" "" "a renewal is not counted: bob from .2 is his second"
allow 192.0.2.3 bob 2
rc=$?
is "$(cat "$SCRATCH/err")" \
    "relay-allow: warning: user bob over RELAY_USER_MAX: 2 live allowances, 192.0.2.3 not recorded" \
    "the third: one warning, with the user, the count and the address"
is "$rc:$(cat "$SCRATCH/out")" "0:session" "and the login goes on (exit 0, the program ran)"
check "nothing recorded for .3" test ! -e "$store/192.0.2.3"
check "and .3 may not relay" refused 192.0.2.3
allow 192.0.2.1 bob 2
is "$(cat "$SCRATCH/err")" "" "a renewal at the cap is never refused"
allow 192.0.2.1 alice 2
allow 192.0.2.3 bob 2
is "$(cat "$SCRATCH/err")" "" "alice took .1 over (the same NAT): bob has room for .3"
check ".3 is recorded" granted 192.0.2.3
allow 2001:db8:1:2::5 carol 1
allow 2001:db8:1:2::6 carol 1
is "$(cat "$SCRATCH/err")" "" "a /64 counts once: carol from ::5 and ::6 under a cap of 1"
allow 2001:db8:1:3::6 carol 1
is "$(cat "$SCRATCH/err")" \
    "relay-allow: warning: user carol over RELAY_USER_MAX: 1 live allowances, 2001:db8:1:3::6 (key 2001:db8:1:3::/64) not recorded" \
    "another /64 is another key; the warning names the address and its key"
allow ::ffff:192.0.2.9 carol 1
is "$(cat "$SCRATCH/err")" \
    "relay-allow: warning: user carol over RELAY_USER_MAX: 1 live allowances, ::ffff:192.0.2.9 (key 192.0.2.9) not recorded" \
    "a mapped address: its IPv4 key named"
for a in 192.0.2.20 192.0.2.21 192.0.2.22; do
    TCPREMOTEIP=$a RELAY_USER_MAX=1 "$RELAY_BIN/relay-allow" 2>>"$SCRATCH/err0"
done
is "$(cat "$SCRATCH/err0" 2>/dev/null):$(keys)" \
    ":192.0.2.1 192.0.2.2 192.0.2.20 192.0.2.21 192.0.2.22 192.0.2.3 2001:db8:1:2::_64 " \
    "no user name: never counted (three recorded under a cap of 1)"
allow 192.0.2.30 dave 0
allow 192.0.2.31 dave 0
allow 192.0.2.32 dave 0
is "$(cat "$SCRATCH/err")" "" "RELAY_USER_MAX=0: no cap"
check "dave's three are recorded" test -f "$store/192.0.2.32"
touch -d "@$(($(date +%s) - 1000))" "$store/192.0.2.2"
allow 192.0.2.4 bob 2
is "$(cat "$SCRATCH/err")" "" "a stale allowance frees its slot"

# The default is 10, and an invalid value is 10 too, never 0.
for i in 1 2 3 4 5 6 7 8 9 10; do allow "198.51.100.$i" erin; done
allow 198.51.100.11 erin
is "$(cat "$SCRATCH/err")" \
    "relay-allow: warning: user erin over RELAY_USER_MAX: 10 live allowances, 198.51.100.11 not recorded" \
    "unset: the cap is 10"
for v in x -1 010 " 5" "" 1001; do
    allow 198.51.100.11 erin "$v"
    is "$(cat "$SCRATCH/err")" \
        "relay-allow: warning: RELAY_USER_MAX must be a number from 0 to 1000, not \"$v\": using 10
relay-allow: warning: user erin over RELAY_USER_MAX: 10 live allowances, 198.51.100.11 not recorded" \
        "RELAY_USER_MAX=\"$v\": a warning, and 10"
done
allow 198.51.100.11 erin 11
is "$(cat "$SCRATCH/err")" "" "RELAY_USER_MAX=11: the eleventh fits"

# relay-session (root, the checkpassword chain) the same: the login goes on.
session() {
    env RELAY_USER_MAX=1 TCPREMOTEIP="$1" USER="$2" "$RELAY_BIN/relay-session" \
        "$RELAY_BIN/relay-allow" echo session >"$SCRATCH/out" 2>"$SCRATCH/err"
}
session 203.0.113.1 frank
is "$?:$(cat "$SCRATCH/out"):$(cat "$SCRATCH/err")" "0:session:" "relay-session: frank recorded"
session 203.0.113.2 frank
rc=$?
is "$(cat "$SCRATCH/err")" \
    "relay-session: warning: user frank over RELAY_USER_MAX: 1 live allowances, 203.0.113.2 not recorded" \
    "relay-session over the cap: one warning"
is "$rc:$(cat "$SCRATCH/out")" "0:session" "and the session goes on"
check "nothing recorded" test ! -e "$store/203.0.113.2"
# Refreshed every 10 s (RELAY_EXPIRY/3) while the session lasts: still one warning. Each
# record takes frank's lock (LOCK_EX|LOCK_NB, in strace's trace of the session): the session
# lasts until relay-session has taken it twice, the login and a refresh. Meanwhile it keeps
# frank's other allowance fresh, so that he is over his cap at each of them, however long
# the refresh takes to come (the expiry of 30 s is a margin for one round of that loop).
if command -v strace >/dev/null 2>&1; then
    # shellcheck disable=SC2016 # the inner shell expands them
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 RELAY_USER_MAX=1 \
        RELAY_EXPIRY=30 RELAY_SESSION_REFRESH=1 TCPREMOTEIP=203.0.113.2 USER=frank \
        strace -f -qq -o "$SCRATCH/refresh.trace" -e trace=flock \
        "$RELAY_BIN/relay-session" "$RELAY_BIN/relay-allow" sh -c 'n=0
            while [ "$(grep -c "LOCK_EX|LOCK_NB" "$1")" -lt 2 ] && [ "$n" -lt 600 ]; do
                touch "$2"
                sleep 0.1
                n=$((n + 1))
            done' - "$SCRATCH/refresh.trace" "$store/203.0.113.1" >/dev/null 2>"$SCRATCH/err"
    # shellcheck disable=SC2317 # called through check
    warned_once() {
        echo "warnings: $(grep -c 'over RELAY_USER_MAX' "$SCRATCH/err")," \
            "records (frank's lock taken): $(grep -c 'LOCK_EX|LOCK_NB' "$SCRATCH/refresh.trace")"
        [ "$(grep -c 'over RELAY_USER_MAX' "$SCRATCH/err")" -eq 1 ] &&
            [ "$(grep -c 'LOCK_EX|LOCK_NB' "$SCRATCH/refresh.trace")" -ge 2 ]
    }
    check "a refreshed session over the cap warns once, not at each refresh" warned_once
else
    skip "a refreshed session over the cap warns once, not at each refresh" \
        "strace is not installed"
fi

# The cap's own trouble never stops a login: .users not the store's to trust.
chmod 0755 "$store/.users"
allow 192.0.2.40 bob 1
like "$(cat "$SCRATCH/err")" \
    "relay-allow: warning: unable to lock $store/.users/* (open to its group or others): recording without the cap" \
    "an unusable .users: one warning"
check "and the allowance is recorded" granted 192.0.2.40
chmod 0700 "$store/.users"

# The sweep: the records' counts as ever, .users not among them and never warned about.
out=$("$RELAY_BIN/relay-expire" 2>"$SCRATCH/err")
like "$out" "kept * removed 1 temp 0 skipped 0" "the sweep counts records only"
is "$(cat "$SCRATCH/err")" "" "and says nothing about .users"

# --- the race ------------------------------------------------------------------------------
# RELAY_USER_MAX=1. Writer 1 (bob, .1) is held by strace in the rename of its record, that
# is inside its critical section: after its count and its index line, holding bob's lock.
# Writer 2 (bob, .2) runs meanwhile: it must wait for writer 1, then find bob at his cap.
# Both are held until the test lets them go, so that no step has to come within a time:
# writer 2 at its second flock, the wait for bob's lock after its first, the try without
# waiting, found it taken. Writer 1 is let go and ends, then writer 2, whose wait then ends at
# once with the lock (its bound of 5 s is looked at only when a wait is cut short), and which
# finds bob at his cap.
if ! command -v strace >/dev/null 2>&1 || ! command -v flock >/dev/null 2>&1; then
    skip "two logins of one user at once: one recorded" "strace or flock is not installed"
    done_testing
fi
# race NAME WRITER2...: a fresh store, writer 1 held, WRITER2 run; sets $race.
race() {
    race=$SCRATCH/$1
    shift
    mkdir "$race"
    RELAY_DIR=$race
    rm -f "$SCRATCH/strace1.out" "$SCRATCH/strace2.out"
    RELAY_USER_MAX=1 TCPREMOTEIP=192.0.2.1 USER=bob \
        strace_hold -r "$SCRATCH/strace1.out" rename,renameat,renameat2 all \
        "$RELAY_BIN/relay-allow" >/dev/null 2>"$SCRATCH/err1"
    writer1=$held
    check "$race_what: writer 1 is held in the rename of its record" \
        strace_held "$SCRATCH/strace1.out" 'rename.*"192\.0\.2\.1"$'
    bucket=$(ls "$race/.users")
    # shellcheck disable=SC2016 # $1 is the inner shell's
    check "$race_what: writer 1 holds bob's lock meanwhile" \
        sh -c '[ -f "$1" ] && ! flock -n -x "$1" true' - "$race/.users/$bucket"
    RELAY_USER_MAX=1 strace_hold -r "$SCRATCH/strace2.out" flock 2 "$@" >/dev/null \
        2>"$SCRATCH/err2"
    writer2=$held
    check "$race_what: writer 2 finds bob's lock taken, and waits for it" \
        strace_held_lock "$SCRATCH/strace2.out"
    strace_release "$writer1"
    wait "$writer1"
    is "$?" 0 "$race_what: writer 1 ends well"
    strace_release "$writer2"
    wait "$writer2"
    is "$(cd "$race" && ls)" "192.0.2.1" "$race_what: only writer 1's allowance exists"
    is "$(cat "$SCRATCH/err1")" "" "$race_what: writer 1 said nothing"
    is "$(cat "$SCRATCH/err2")" "$race_warn" "$race_what: writer 2 is over the cap, and says so"
    is "$(cat "$race/.users/$bucket")" "192.0.2.1 bob" "$race_what: the index lists writer 1 only"
}
race_what="relay-allow vs relay-allow"
race_warn="relay-allow: warning: user bob over RELAY_USER_MAX: 1 live allowances, 192.0.2.2 not recorded"
race allow env TCPREMOTEIP=192.0.2.2 USER=bob "$RELAY_BIN/relay-allow"
race_what="relay-allow vs relay-session"
race_warn="relay-session: warning: user bob over RELAY_USER_MAX: 1 live allowances, 192.0.2.3 not recorded"
race session env TCPREMOTEIP=192.0.2.3 USER=bob "$RELAY_BIN/relay-session" "$RELAY_BIN/relay-allow"

done_testing
