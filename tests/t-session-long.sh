#!/bin/sh
# t-session-long.sh: with RELAY_SESSION_REFRESH=1, relay-session keeps the allowance fresh
# for as long as the POP3 session lasts, and lets it expire once the session has ended.
#   tcpserver -> popup -> relay-session -> checkpassword -> relay-allow -> pop3d
# With RELAY_EXPIRY=3 (a refresh every second), a record of a session held open that is
# back-dated past its expiry (twice) comes back fresh and relay is granted; once the session
# has closed, nothing brings it back and relay is refused. Without the option a back-dated
# record stays expired while the session is still open (the option is opt-in). No test waits
# for an expiry: records are back-dated (touch -d) by two hours, and relay-check is asked
# with an expiry of one hour, so that its answer never depends on how soon it comes after a
# refresh; "a refresh interval has passed" is read from a session run by hand whose record is
# back-dated and seen refreshed twice (tick).
# The mail user owns the chain and can stop it (or it can hang): once the client has hung up,
# the allowance is no longer refreshed although the child lives on, and relay-session holds
# nothing of the connection.
# shellcheck disable=SC2016 # the sh -c script below reads its arguments as $1, $2 and $3
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_programs
need_built relay-session

expiry=3
# relay-check's (the SMTP side's): far above any wait of the test, far below the back-dating.
check_expiry=3600
make_passwd "$SCRATCH/passwd"

# Each server has its own store, so that both sessions can run at once from 127.0.0.1.
start_pop() { # NAME [VAR=value...]: the chain with relay-session in front of checkpassword
    start_pop_name=$1
    shift
    if ! mkdir "$SCRATCH/$start_pop_name" || ! chmod 755 "$SCRATCH/$start_pop_name"; then
        not_ok "make the store $start_pop_name"
        exit 1
    fi
    start_tcpserver "$start_pop_name" 127.0.0.1 0 env RELAY_DIR="$SCRATCH/$start_pop_name" \
        RELAY_EXPIRY="$expiry" STANDIN_PASSWD="$SCRATCH/passwd" "$@" \
        "$STANDINS/popup" localhost "$RELAY_BIN/relay-session" "$STANDINS/checkpassword" \
        "$RELAY_BIN/relay-allow" "$STANDINS/pop3d" Maildir
}
start_pop long RELAY_SESSION_REFRESH=1 && long=$SERVER_PORT long_pid=$SERVER_PID
start_pop short && short=$SERVER_PORT
start_pop stopped RELAY_SESSION_REFRESH=1 && stopped=$SERVER_PORT stopped_pid=$SERVER_PID
if [ -z "${long:-}" ] || [ -z "${short:-}" ] || [ -z "${stopped:-}" ]; then
    not_ok "the tcpservers started"
    exit 1
fi

# open_session NAME PORT: log in as bob and keep the session open until $SCRATCH/NAME.close
# exists; then NOOP and QUIT. Waits (60 s at most: a guard) for the record to appear.
open_session() {
    start_bg sh -c '{
        printf "%s\n" "USER bob" "PASS secret" STAT
        while [ ! -e "$1" ]; do sleep 0.1; done
        printf "%s\n" NOOP QUIT
    } | "$2" -t 60 127.0.0.1 "$3"' sh "$SCRATCH/$1.close" "$STANDINS/chat" "$2" \
        >"$SCRATCH/$1.chat" 2>&1
    eval "session_$1=\$LAST_PID"
    check "the login in session $1 made a record" appears "$SCRATCH/$1/127.0.0.1"
}
close_session() { # NAME
    touch "$SCRATCH/$1.close"
    eval "wait \"\$session_$1\""
    is "$(reply_to "$SCRATCH/$1.chat" NOOP)" "+OK " "session $1 was alive until it closed"
}
mtime() { # NAME
    stat -c %Y "$SCRATCH/$1/127.0.0.1"
}
# grants_now NAME DESC, refuses_now NAME DESC: relay-check, as the SMTP side runs it, grants
# (refuses) 127.0.0.1 from store NAME.
grants_now() {
    check "$2" granted 127.0.0.1 RELAY_DIR="$SCRATCH/$1" RELAY_EXPIRY="$check_expiry"
}
refuses_now() {
    check "$2" refused 127.0.0.1 RELAY_DIR="$SCRATCH/$1" RELAY_EXPIRY="$check_expiry"
}

# shellcheck disable=SC2317 # called through check
# refreshed NAME OLD: wait (60 s at most: a guard against a hang) until the record in store
# NAME no longer has the mtime OLD.
refreshed() {
    eventually 60 mtime_is_not "$1" "$2"
}
# shellcheck disable=SC2317 # called through eventually
mtime_is_not() {
    [ "$(mtime "$1")" != "$2" ]
}
old=$(($(date +%s) - 2 * check_expiry))

diag "run by hand, with no socket on fd 0: refreshed for as long as the child lives, as before"
if ! mkdir "$SCRATCH/hand" || ! chmod 755 "$SCRATCH/hand"; then
    not_ok "make the store hand"
    exit 1
fi
start_bg env RELAY_DIR="$SCRATCH/hand" RELAY_EXPIRY="$expiry" RELAY_SESSION_REFRESH=1 \
    TCPREMOTEIP=127.0.0.1 USER=bob "$RELAY_BIN/relay-session" "$RELAY_BIN/relay-allow" \
    sh -c 'while [ ! -e "$1" ]; do sleep 0.1; done' sh "$SCRATCH/hand.close" \
    </dev/null >/dev/null 2>"$SCRATCH/hand.log"
hand=$LAST_PID
check "the login by hand made a record" appears "$SCRATCH/hand/127.0.0.1"
touch -d "@$old" "$SCRATCH/hand/127.0.0.1"
check "the record is refreshed while the child lives" refreshed hand "$old"
# tick: a whole refresh interval has passed since the call: the session by hand refreshed its
# back-dated record twice (one interval at least lies between two refreshes).
# shellcheck disable=SC2317 # called through check
tick() {
    for tick_n in 1 2; do
        touch -d "@$old" "$SCRATCH/hand/127.0.0.1"
        refreshed hand "$old" || {
            diag "tick $tick_n: the session by hand did not refresh its record"
            return 1
        }
    done
}

diag "two sessions at once, both held open; 'long' has RELAY_SESSION_REFRESH=1"
open_session long "$long"
open_session short "$short"
touch -d "@$old" "$SCRATCH/long/127.0.0.1" "$SCRATCH/short/127.0.0.1"
check "the expired record of the open session is refreshed" refreshed long "$old"
grants_now long "relay is granted again, the session still open"
touch -d "@$old" "$SCRATCH/long/127.0.0.1"
check "and refreshed again once it expired again" refreshed long "$old"
grants_now long "relay is granted again (two expiries)"
# 'long' has refreshed twice since 'short' was back-dated: a refresh interval has passed.
is "$(mtime short)" "$old" "without RELAY_SESSION_REFRESH the record is not refreshed"
refuses_now short "without RELAY_SESSION_REFRESH relay is refused once it expired, the session still open"
close_session short
close_session long
grants_now long "relay is still granted right after the session closed"
check "relay-session is gone with the session" no_children "$long_pid"
# (Its record is back-dated with the stopped chain's below, and looked at after one tick.)
check "relay-session logged the record" \
    grep -q 'relay-session: recorded 127.0.0.1 user=bob (refreshed while the session lasts)' \
    "$SCRATCH/long.log"
# chat half-closes its side after QUIT: relay-session sees either that or the child's exit
# first, and says which.
check "relay-session logged the end of the session" \
    grep -Eq 'relay-session: session for 127\.0\.0\.1( ended|: the client hung up): no longer refreshed' \
    "$SCRATCH/long.log"
if grep -q 'warning' "$SCRATCH/long.log"; then
    not_ok "no warnings from the chain"
    diag <"$SCRATCH/long.log"
else
    ok "no warnings from the chain"
fi

diag "a stopped chain outlives its client: the refresh stops when the client hangs up"
# The client logs in, then waits for stopped.close; then its script ends and chat shuts its
# sending side (relay-session sees the hang-up). With pop3d stopped no reply comes: the test
# then stops chat (its PID in stopped.pid), which closes the connection altogether.
start_bg sh -c '{
    printf "%s\n" "USER bob" "PASS secret" STAT
    while [ ! -e "$1" ]; do sleep 0.1; done
} | "$2" -t 60 127.0.0.1 "$3" &
echo $! >"$4"
wait' sh "$SCRATCH/stopped.close" "$STANDINS/chat" "$stopped" "$SCRATCH/stopped.pid" \
    >"$SCRATCH/stopped.chat" 2>&1
client=$LAST_PID
# shellcheck disable=SC2317 # called through eventually
stat_replied() {
    [ -n "$(reply_to "$SCRATCH/stopped.chat" STAT)" ]
}
eventually 60 stat_replied
like "$(reply_to "$SCRATCH/stopped.chat" STAT)" '+OK *' "the client is logged in"
check "the login made a record" test -e "$SCRATCH/stopped/127.0.0.1"
# tcpserver -> popup -> relay-session -> the chain, by now pop3d as bob
popup=$(children "$stopped_pid")
session=$(children "$popup")
pop3d=$(children "$session")
if [ -z "$pop3d" ] || [ "$(cat "/proc/$pop3d/comm" 2>/dev/null)" != pop3d ]; then
    not_ok "found the chain: popup '$popup', relay-session '$session', pop3d '$pop3d'"
    done_testing
fi
is "$(stat -c %u "/proc/$pop3d")" "$MAIL_UID" "the chain runs as the mail user"
kill -STOP "$pop3d"
touch "$SCRATCH/stopped.close"
log_wait "$SCRATCH/stopped.log" 'client hung up'
kill -TERM "$(cat "$SCRATCH/stopped.pid")"
wait "$client"
check "the client has closed the connection" sh -c '! kill -0 "$1" 2>/dev/null' sh "$client"
check "relay-session logged the hang-up" grep -q \
    'relay-session: session for 127.0.0.1: the client hung up: no longer refreshed' \
    "$SCRATCH/stopped.log"
check "relay-session is still waiting for the stopped chain" kill -0 "$session"
if find "/proc/$session/fd" -lname 'socket:*' 2>/dev/null | grep -q .; then
    not_ok "relay-session holds no socket after the hang-up"
    find "/proc/$session/fd" -lname "socket:*" -printf "%p -> %l\n" | diag
else
    ok "relay-session holds no socket after the hang-up"
fi
# Back-date the record past its expiry: a refresh would bring it back within one interval.
touch -d "@$old" "$SCRATCH/stopped/127.0.0.1" "$SCRATCH/long/127.0.0.1"
check "(a refresh interval has passed)" tick
is "$(mtime long)" "$old" "nothing refreshes the record after the session"
refuses_now long "relay is refused once the record expired after the session closed"
is "$(mtime stopped)" "$old" "the record is not refreshed after the client hung up"
refuses_now stopped "relay is refused once the record has expired, the chain still alive"
kill -CONT "$pop3d"
# shellcheck disable=SC2317 # called through eventually
gone() {
    ! kill -0 "$1" 2>/dev/null
}
check "relay-session ends with the chain" eventually 60 gone "$session"
if grep -q 'warning' "$SCRATCH/stopped.log"; then
    not_ok "no warnings from the stopped chain"
    diag <"$SCRATCH/stopped.log"
else
    ok "no warnings from the stopped chain"
fi

touch "$SCRATCH/hand.close"
wait "$hand"
is "$?" 0 "relay-session by hand exits with the child's status"
check "relay-session by hand logged the end of the session" \
    grep -q 'relay-session: session for 127.0.0.1 ended: no longer refreshed' \
    "$SCRATCH/hand.log"

done_testing
