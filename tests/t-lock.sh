#!/bin/sh
# t-lock.sh: no wait on the store's lock is unbounded (issue 8, class 5). Anyone who can read
# .lock can hold it (flock needs only read access):
#   relay-expire gives up after 10 s (STORE_SWEEP_LOCK_WAIT) with one fatal line, exit 111,
#   and removes nothing more; once the lock is free it sweeps as before;
#   relay-allow records without the lock after its 5 s, with one warning, as it always did;
#   relay-expire -n (no lock needed) is not held at all.
# The bounds are the point, so they are waited out (the test takes some 10 s): the three
# programs wait on the held lock at once, each under timeout(1), so that a program that would
# hang fails the test instead.
# shellcheck disable=SC2016 # the sh -c script reads its argument as $1
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_programs
if ! command -v flock >/dev/null 2>&1 || ! command -v timeout >/dev/null 2>&1; then
    skip "no unbounded wait on the lock" "flock or timeout (util-linux, coreutils) is missing"
    exit 0
fi

store=$SCRATCH/store
make_store "$store"
export RELAY_DIR="$store"
printf 'relaylease1 127.0.0.2 old\n' >"$store/127.0.0.2"
touch -d @1000000000 "$store/127.0.0.2"
: >"$store/.lock"
chmod 644 "$store/.lock"

# Another account's hold on the lock, for as long as the test needs it.
start_bg flock -x "$store/.lock" sh -c 'touch "$1"; while :; do sleep 1; done' sh \
    "$SCRATCH/held"
holder=$LAST_PID
check "the lock is held" appears "$SCRATCH/held"

timeout 60 "$RELAY_BIN/relay-expire" >"$SCRATCH/out" 2>"$SCRATCH/err" &
sweep=$!
timeout 60 env IP=127.0.0.1 USER=bob "$RELAY_BIN/relay-allow" 2>"$SCRATCH/allow.err" &
login=$!
timeout 60 "$RELAY_BIN/relay-expire" -n >"$SCRATCH/dry.out" 2>"$SCRATCH/dry.err"
is "$?" 0 "relay-expire -n is not held by the lock"

wait "$sweep"
rc=$?
is "$rc" 111 "relay-expire gives up on a held lock, exit 111 (124: it hung)"
is "$(cat "$SCRATCH/err")" \
    "relay-expire: fatal: unable to lock $store/.lock for 10 s: sweep stopped, nothing more removed" \
    "in one line"
check "the stale record is still there" test -e "$store/127.0.0.2"

wait "$login"
is "$?" 0 "relay-allow goes on"
like "$(cat "$SCRATCH/allow.err")" \
    "relay-allow: warning: unable to lock $store (*timed out): recording without the lock*" \
    "relay-allow says it recorded without the lock"
check "and recorded" test -e "$store/127.0.0.1"

stop_pid "$holder"
timeout 60 "$RELAY_BIN/relay-expire" >"$SCRATCH/out" 2>"$SCRATCH/err"
is "$?.$(cat "$SCRATCH/out")" "0.kept 1 removed 1 temp 0 skipped 0" \
    "with the lock free the sweep runs as before"

done_testing
