#!/bin/sh
# run: quick long
# t-cdb-incremental.sh: the incremental build after a login (relay-cdb -i: the snapshot of
# the live allowances plus the journal of logins) against a full rescan of the store.
#   - After rounds of logins, refreshes and expiries, an incremental build writes the same
#     records as a full rescan (cdb -d dumps, sorted), IPv4, IPv6 and ::ffff: keys alike.
#   - A journal entry for a record that is stale, from the future, invalid, missing, a
#     symbolic link or a FIFO grants nothing, and neither does a line that is not a key.
#   - A snapshot that is cut, garbage, empty, of another store, writable by others, a
#     symbolic link, or left with a journal that was not read to the end is not used: one
#     warning, a full rescan, the right cdb, and a good snapshot for the next build.
#   - relay-cdb run by hand touches neither the snapshot nor the journal; relay-expire's
#     build rescans, so a record removed by hand leaves the cdb then, not before.
#   - Made by root in a directory that belongs to someone else, the journal, the lock and
#     the snapshot go to that owner, mode 0600, and that owner can build from them.
#   - Logins racing the builder's swap of the journal lose nothing: many logins in parallel
#     with back-to-back incremental builds, and every key is in the last cdb.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-allow relay-expire relay-cdb
command -v cdb >/dev/null 2>&1 || {
    not_ok "cdb is installed (tinycdb)"
    exit 1
}

store=$SCRATCH/store
mkdir "$store"
cat >"$SCRATCH/rules.txt" <<'EOF'
# static rules: a deny, an exact address, a network, an IPv6 address, the default
10.9.:deny
192.0.2.77:allow,EXACT="1"
192.0.2.:allow,NET="doc"
2001:db8:1:2::25:allow,INSIDE="1"
:allow,DEFAULT="1"
EOF
CDB=$SCRATCH/rules.cdb
printf '#!/bin/sh\nexit 0\n' >"$SCRATCH/nobuild"
chmod 755 "$SCRATCH/nobuild"
# Logins append to the journal; the builds are run by hand, one at a time, as the trigger's
# builder would run them. The expiry is a day, so that no allowance expires while the test
# runs, however slowly; a stale record is two days old.
expiry=86400
export RELAY_DIR="$store" RELAY_EXPIRY=$expiry RELAY_LOG=0 RELAY_CDB="$CDB" \
    RELAY_CDB_RULES="$SCRATCH/rules.txt" RELAY_CDB_PROG="$SCRATCH/nobuild"
# Every login is bob's, from dozens of addresses: no per-user cap here (t-cap.sh has it).
export RELAY_USER_MAX=0

login() { # IP: a login from IP (TCP6 if it has a colon)
    case $1 in
    *:*) PROTO=TCP6 TCP6REMOTEIP=$1 USER=bob "$RELAY_BIN/relay-allow" true ;;
    *) TCPREMOTEIP=$1 USER=bob "$RELAY_BIN/relay-allow" true ;;
    esac
}
age() { # KEY SECONDS: make the login time of KEY that many seconds ago
    touch -d "@$(($(date +%s) - $2))" "$store/$1"
}
incremental() { # relay-cdb -i for $CDB; stderr in $SCRATCH/incr.err
    RELAY_LOG=1 "$RELAY_BIN/relay-cdb" -i "$CDB" "$CDB.tmp" <"$SCRATCH/rules.txt" \
        2>"$SCRATCH/incr.err"
}
# same DESC: a full rescan by hand (another cdb; no snapshot touched) holds the same records
# as $CDB.
same() {
    "$RELAY_BIN/relay-cdb" "$SCRATCH/full.cdb" "$SCRATCH/full.tmp" <"$SCRATCH/rules.txt" \
        2>"$SCRATCH/full.err"
    cdb -d "$SCRATCH/full.cdb" | tr '\0' '|' | sort >"$SCRATCH/full.dump"
    cdb -d "$CDB" | tr '\0' '|' | sort >"$SCRATCH/incr.dump"
    if cmp -s "$SCRATCH/full.dump" "$SCRATCH/incr.dump"; then
        ok "$1 ($(grep -c RELAYCLIENT "$SCRATCH/incr.dump") records grant)"
    else
        not_ok "$1"
        diff "$SCRATCH/full.dump" "$SCRATCH/incr.dump" | head -20 | diag
    fi
}
# shellcheck disable=SC2317 # called through check
grants() { # KEY: the record for KEY sets RELAYCLIENT
    cdb -q "$CDB" "$1" 2>/dev/null | tr '\0' ' ' | grep -q RELAYCLIENT
}
# shellcheck disable=SC2317 # called through check
incremental_said() { # the last build used the snapshot
    grep -q "relay-cdb: built .*; from the snapshot and [0-9]* journal keys" "$SCRATCH/incr.err"
}

# ---- incremental == rescan, round after round ----
RELAY_LOG=1 "$RELAY_BIN/relay-cdb" -s "$CDB" "$CDB.tmp" <"$SCRATCH/rules.txt" \
    2>"$SCRATCH/incr.err"
is "$?" 0 "relay-cdb -s builds and saves the first snapshot"
like "$(cat "$SCRATCH/incr.err")" "*from a rescan of the store" "from a rescan"
check "the snapshot is a file of mode 0600" test "$(stat -c %a "$CDB.idx")" = 600

for ip in 192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.77 10.9.0.5 198.51.100.1 198.51.100.2 \
    2001:db8:1:2::1 2001:db8:5::9 192.0.2.4; do
    login "$ip"
done
check "the logins' keys are in the journal" test "$(wc -l <"$CDB.journal")" -eq 10
incremental
is "$?" 0 "round 1: relay-cdb -i builds"
check "round 1: from the snapshot and the journal" incremental_said
same "round 1 (logins): the incremental cdb holds what a rescan writes"
check "the journal was taken" test ! -e "$CDB.journal" -a ! -e "$CDB.journal.taken"
check "192.0.2.77's own rule gets RELAYCLIENT" grants 192.0.2.77
check "a deny stays a deny" sh -c "! cdb -q '$CDB' 10.9.0.5 >/dev/null 2>&1"

# Expiry is time passing: a login made (expiry - 300) seconds ago goes into the snapshot, and
# later it has expired there, with no login to say so. The snapshot keeps login times and the
# build judges them against RELAY_EXPIRY, so "later" is a shorter expiry in rounds 3 and 4
# (expiry - 310 s: as if 310 s had passed), not a wait.
login 192.0.2.5
age 192.0.2.5 $((expiry - 300))
login 198.51.100.1                  # refreshed
login 203.0.113.50
login 2001:db8:1:2::77              # the same /64 again
login 2001:db8:5::10                # the same /64, made (expiry - 300) seconds ago
age 2001:db8:5::_64 $((expiry - 300))
incremental
check "round 2: from the snapshot" incremental_said
same "round 2 (refreshes, new logins, old ones): the same records as a rescan"
check "an allowance about to expire is in" grants 192.0.2.5
RELAY_EXPIRY=$((expiry - 310))
login 192.0.2.6
RELAY_CDB_V4MAPPED=1 incremental
check "round 3: from the snapshot" incremental_said
RELAY_CDB_V4MAPPED=1 same "round 3 (expiries in the snapshot, ::ffff: keys): the same records"
check "an allowance that expired in the snapshot is out" \
    sh -c "! cdb -q '$CDB' 192.0.2.5 | grep -q RELAYCLIENT"
check "::ffff: keys are written" grants ::ffff:192.0.2.3

# A login whose record is stale by the time the build looks it up, for every key.
for k in "$store"/*; do
    age "$(basename "$k")" $((2 * expiry))
    basename "$k" >>"$CDB.journal"
done
incremental
same "round 4 (every key in the journal, every record stale): only the static rules are left"
check "the snapshot is down to its header" test "$(wc -l <"$CDB.idx")" -eq 1
# Nothing is left that the full expiry would judge otherwise.
RELAY_EXPIRY=$expiry

# ---- journal entries that grant nothing ----
login 192.0.2.10
login 192.0.2.11
incremental
old=$(($(date +%s) - 2 * expiry))
printf 'relaylease1 203.0.113.1 bob\n' >"$store/203.0.113.1"
touch -d "@$old" "$store/203.0.113.1"                                   # stale
printf 'relaylease1 203.0.113.2 bob\n' >"$store/203.0.113.2"
touch -d "@$(($(date +%s) + 3600))" "$store/203.0.113.2"                # from the future
printf 'relaylease1 203.0.113.9 bob\n' >"$store/203.0.113.3"            # names another key
printf 'relaylease1 203.0.113.4 a(b\n' >"$store/203.0.113.4"            # a bad user name
ln -s 192.0.2.10 "$store/203.0.113.5"                                   # a symbolic link
mkfifo "$store/203.0.113.6"                                             # a FIFO
head -c 2000 /dev/zero | tr '\0' x >"$store/203.0.113.8"                # too big
printf 'relaylease1 192.0.2.99 bob\n' >"$store/192.0.2.11"              # was good, is not
{
    for i in 1 2 3 4 5 6 7 8 11; do echo "203.0.113.$i"; done | sed 's/203.0.113.11/192.0.2.11/'
    echo not-a-key
    echo 1.2.3.04
    echo ../../etc/passwd
    echo 203.0.113.10_32
    echo 2001:db8:1:2::1_64x
    head -c 300 /dev/zero | tr '\0' 1
    echo
    printf '192.0.2.10\000junk\n'
    printf '192.0.2.12'
} >>"$CDB.journal"
incremental
is "$?" 0 "a journal of bad entries: relay-cdb -i still builds"
check "from the snapshot" incremental_said
bad=0
for k in 203.0.113.1 203.0.113.2 203.0.113.3 203.0.113.4 203.0.113.5 203.0.113.6 \
    203.0.113.7 203.0.113.8 192.0.2.11 192.0.2.12 not-a-key 1.2.3.04 203.0.113.10_32; do
    if grants "$k"; then
        bad=$((bad + 1))
        diag "granted: $k"
    fi
    if grep -q "^$k " "$CDB.idx"; then
        bad=$((bad + 1))
        diag "in the snapshot: $k"
    fi
done
is "$bad" 0 "no stale, future, invalid, missing, linked or FIFO record, and no line that is not a key, grants anything or enters the snapshot"
check "a record that went bad is dropped although the snapshot had it" \
    sh -c "! grep -q '^192.0.2.11 ' '$CDB.idx'"
check "the good one stays" grants 192.0.2.10
like "$(cat "$SCRATCH/incr.err")" "*relay-cdb: warning: invalid record */203.0.113.3: *" \
    "an invalid record is reported"
like "$(cat "$SCRATCH/incr.err")" "*relay-cdb: warning: 8 lines of *journal.taken are not store keys: ignored*" \
    "the lines that are not keys are counted, in one warning"
same "and the cdb is what a rescan writes"
rm -f "$store"/203.0.113.* "$store/192.0.2.11"

# ---- a snapshot that cannot be used ----
login 192.0.2.20
login 2001:db8:7::1
incremental
good=$SCRATCH/good.idx
cp "$CDB.idx" "$good"
lines=$(wc -l <"$good")
# corrupt HOW: replace the snapshot by a bad one
corrupt() {
    rm -f "$CDB.idx"
    case $1 in
    cut) head -c "$(($(wc -c <"$good") / 2))" "$good" >"$CDB.idx" ;;
    line) head -n "$((lines - 1))" "$good" >"$CDB.idx" ;;
    extra) { cat "$good"; echo "192.0.2.200 $(date +%s)"; } >"$CDB.idx" ;;
    garbage) head -c 4000 /dev/urandom >"$CDB.idx" ;;
    empty) : >"$CDB.idx" ;;
    magic) sed '1s/snapshot2/snapshot9/' "$good" >"$CDB.idx" ;;
    key) sed '2s/^[^ ]* /192.0.2.300 /' "$good" >"$CDB.idx" ;;
    time) sed '2s/ [0-9]*$/ 17x/' "$good" >"$CDB.idx" ;;
    crlf) sed 's/$/\r/' "$good" >"$CDB.idx" ;;
    store) sed '1s/^\(relaylease-snapshot2 [0-9]*\) [0-9]*/\1 1/' "$good" >"$CDB.idx" ;;
    mode) cp "$good" "$CDB.idx" && chmod 620 "$CDB.idx" ;;
    symlink) cp "$good" "$SCRATCH/elsewhere.idx" && ln -s "$SCRATCH/elsewhere.idx" "$CDB.idx" ;;
    fifo) mkfifo "$CDB.idx" ;;
    esac
    [ -p "$CDB.idx" ] || [ -L "$CDB.idx" ] || chmod go-w "$CDB.idx"
    [ "$1" != mode ] || chmod 620 "$CDB.idx"
}
for how in cut line extra garbage empty magic key time crlf store mode symlink fifo; do
    login 192.0.2.21
    corrupt "$how"
    # shellcheck disable=SC2016 # the arguments are expanded by the inner shell
    timeout 60 sh -c 'RELAY_LOG=1 "$1" -i "$2" "$2.tmp" <"$3" 2>"$4"' sh "$RELAY_BIN/relay-cdb" \
        "$CDB" "$SCRATCH/rules.txt" "$SCRATCH/incr.err"
    rc=$?
    warnings=$(grep -c 'warning' "$SCRATCH/incr.err")
    if [ "$rc" -eq 0 ] && [ "$warnings" -eq 1 ] &&
        grep -q "relay-cdb: warning: unable to use the snapshot .*: rescanning the store" \
            "$SCRATCH/incr.err" && grep -q "from a rescan of the store" "$SCRATCH/incr.err"; then
        ok "a snapshot that is $how: one warning, and a rescan"
    else
        not_ok "a snapshot that is $how: one warning, and a rescan (exit $rc)"
        diag <"$SCRATCH/incr.err"
    fi
    same "a snapshot that is $how: the cdb is right"
    [ ! -p "$CDB.idx" ] || rm -f "$CDB.idx"
    [ -e "$CDB.idx" ] || RELAY_LOG=0 "$RELAY_BIN/relay-cdb" -s "$CDB" "$CDB.tmp" \
        <"$SCRATCH/rules.txt" 2>>"$SCRATCH/misc.err"
    login 192.0.2.22
    incremental
    if incremental_said && ! grep -q warning "$SCRATCH/incr.err"; then
        ok "after a snapshot that is $how, the next build uses the new one"
    else
        not_ok "after a snapshot that is $how, the next build uses the new one"
        diag <"$SCRATCH/incr.err"
    fi
done
check "the symbolic link's target was left alone" cmp -s "$good" "$SCRATCH/elsewhere.idx"

# A journal left taken: the build before did not finish.
login 192.0.2.23
echo 192.0.2.24 >"$CDB.journal.taken"
incremental
like "$(cat "$SCRATCH/incr.err")" "*relay-cdb: warning: *journal.taken is left from a build that did not finish: rescanning the store*" \
    "a journal left taken: one warning, and a rescan"
check "and it is gone after the build" test ! -e "$CDB.journal.taken"
same "a journal left taken: the cdb is right"

# No snapshot at all (the first build in cdb mode): a rescan, and no warning.
rm -f "$CDB.idx"
incremental
if ! grep -q warning "$SCRATCH/incr.err" && grep -q "rescan of the store (no snapshot yet)" \
    "$SCRATCH/incr.err"; then
    ok "no snapshot yet: a rescan, with no warning"
else
    not_ok "no snapshot yet: a rescan, with no warning"
    diag <"$SCRATCH/incr.err"
fi

# ---- by hand, and relay-expire ----
login 192.0.2.30
sum_before=$(cat "$CDB.idx" "$CDB.journal" | cksum)
RELAY_LOG=0 "$RELAY_BIN/relay-cdb" "$CDB" "$CDB.tmp" <"$SCRATCH/rules.txt"
is "$(cat "$CDB.idx" "$CDB.journal" | cksum)" "$sum_before" \
    "relay-cdb by hand (no option) leaves the snapshot and the journal alone"
incremental
rm "$store/192.0.2.30"
login 192.0.2.31
incremental
check "a record removed by hand stays in the cdb of an incremental build" grants 192.0.2.30
RELAY_LOG=1 RELAY_CDB_PROG=$RELAY_BIN/relay-cdb "$RELAY_BIN/relay-expire" >/dev/null \
    2>"$SCRATCH/expire.err"
is "$?" 0 "relay-expire rebuilds"
like "$(cat "$SCRATCH/expire.err")" "*relay-cdb: built *; from a rescan of the store*" \
    "relay-expire's build is a rescan"
check "the record removed by hand has left the cdb" sh -c "! cdb -q '$CDB' 192.0.2.30 | grep -q RELAYCLIENT"
login 192.0.2.32
incremental
check "and stays out of the next incremental build" sh -c "! cdb -q '$CDB' 192.0.2.30 | grep -q RELAYCLIENT"
same "after relay-expire: the same records as a rescan"

# ---- who owns the files ----
if [ "$(id -u)" -eq 0 ] && [ "$MAIL_UID" -ne 0 ]; then
    own=$SCRATCH/own
    mkdir "$own"
    chown "$MAIL_UID:$MAIL_GID" "$own"
    chmod 755 "$SCRATCH/rules.txt"
    RELAY_CDB=$own/rules.cdb login 192.0.2.40
    RELAY_LOG=0 "$RELAY_BIN/relay-cdb" -s "$own/rules.cdb" "$own/rules.tmp" \
        <"$SCRATCH/rules.txt"
    RELAY_CDB=$own/rules.cdb login 192.0.2.41
    modes=
    for f in rules.cdb.journal rules.cdb.lock rules.cdb.idx; do
        modes="$modes $f:$(stat -c '%u:%a' "$own/$f")"
    done
    is "$modes" " rules.cdb.journal:$MAIL_UID:600 rules.cdb.lock:$MAIL_UID:600 rules.cdb.idx:$MAIL_UID:600" \
        "made by root, the journal, the lock and the snapshot go to the directory's owner, mode 0600"
    setpriv --reuid="$MAIL_UID" --regid="$MAIL_GID" --clear-groups \
        env RELAY_LOG=1 "$RELAY_BIN/relay-cdb" -i "$own/rules.cdb" "$own/rules.tmp" \
        <"$SCRATCH/rules.txt" 2>"$SCRATCH/own.err"
    is "$?" 0 "that owner builds from them"
    if grep -q "from the snapshot and 1 journal keys" "$SCRATCH/own.err" &&
        ! grep -q warning "$SCRATCH/own.err"; then
        ok "incrementally, with no warning"
    else
        not_ok "incrementally, with no warning"
        diag <"$SCRATCH/own.err"
    fi
    CDB=$own/rules.cdb check "with the login's key in it" grants 192.0.2.41
    is "$(stat -c '%u:%a' "$own/rules.cdb.idx")" "$MAIL_UID:600" "and the new snapshot is theirs"
    chmod 644 "$SCRATCH/rules.txt"
else
    ok "who owns the files # SKIP not root"
fi

# ---- the swap, one step at a time: strace holds a login at the step that matters ----
# A login that opened the journal just before the builder took it, and locks it just after,
# must write to the new journal; a builder that takes the journal while a login holds it must
# wait for that login's line. Each case is made certain by holding one call of relay-allow
# until the test lets it go: its third flock (LOCK_SH on the journal; the first two are the
# store's lock) or its first write (the journal's line; the record is written by writev).
# The held call's line is the one still open in the trace (it ends at the call's entry).
if command -v strace >/dev/null 2>&1 && strace -qq -o /dev/null true 2>/dev/null; then
    incremental
    rm -f "$CDB.journal"
    TCPREMOTEIP=192.0.2.60 strace_hold -r "$SCRATCH/login.trace" flock 3 \
        "$RELAY_BIN/relay-allow" true
    login=$held
    check "a login held between its open of the journal and its lock" \
        strace_held "$SCRATCH/login.trace" 'flock([0-9]*, LOCK_SH|LOCK_NB$'
    incremental
    # shellcheck disable=SC2016 # the inner shell expands them
    check "the builder takes the journal meanwhile" sh -c \
        'kill -0 "$1" && [ ! -e "$2" ] && grep -q "from the snapshot and 0 journal keys" "$3"' \
        - "$login" "$CDB.journal" "$SCRATCH/incr.err"
    strace_release "$login"
    wait "$login"
    is "$(cat "$CDB.journal" 2>/dev/null)" 192.0.2.60 \
        "the login finds the journal taken and writes to a new one"
    incremental
    check "so the next build has it" grants 192.0.2.60

    # The login held with the journal's lock; the builder held at its second flock, the wait
    # for the journal after its try without waiting found it locked. The login is let go and
    # ends, then the builder, whose wait then ends at once with the lock (its bound of a
    # second, JOURNAL_WAIT_MS, is looked at only when a wait is cut short).
    TCPREMOTEIP=192.0.2.61 strace_hold -r "$SCRATCH/login.trace" write first \
        "$RELAY_BIN/relay-allow" true
    login=$held
    check "a login held between its lock of the journal and its write" \
        strace_held "$SCRATCH/login.trace" 'write([0-9]*, "192\.0\.2\.61\\n", 11$'
    RELAY_LOG=1 strace_hold -r "$SCRATCH/builder.trace" flock 2 "$RELAY_BIN/relay-cdb" -i \
        "$CDB" "$CDB.tmp" <"$SCRATCH/rules.txt" 2>"$SCRATCH/incr.err"
    builder=$held
    check "the builder finds the journal locked, and waits for it" \
        strace_held_lock "$SCRATCH/builder.trace"
    strace_release "$login"
    wait "$login"
    strace_release "$builder"
    wait "$builder"
    check "the builder waited for the login's line" grants 192.0.2.61
    check "and took it in the journal" incremental_said
    check "which is not left for a later build" test ! -s "$CDB.journal"
else
    ok "the swap, one step at a time # SKIP strace cannot run here"
fi

# ---- a journal lock that is not let go ----
# The holders hold until they are stopped: a wait that ends while they still hold was bounded
# by the program, not by the holder letting go (no clock is read).
incremental
login 192.0.2.62
start_bg flock -s "$CDB.journal" sleep 600
holder=$LAST_PID
check "a stuck login holds the journal" lock_held "$CDB.journal"
# shellcheck disable=SC2016 # the inner shell expands them
timeout 60 sh -c 'RELAY_LOG=1 "$1" -i "$2" "$2.tmp" <"$3" 2>"$4"' sh "$RELAY_BIN/relay-cdb" \
    "$CDB" "$SCRATCH/rules.txt" "$SCRATCH/incr.err"
is "$?" 0 "a build does not wait for a journal that a stuck login holds (124: it did)"
check "(the login still held it)" kill -0 "$holder"
like "$(cat "$SCRATCH/incr.err")" "*relay-cdb: warning: unable to take the journal *: rescanning the store*" \
    "it says so, and rescans"
check "so the login whose key it could not take is in the cdb" grants 192.0.2.62
stop_pid "$holder"
incremental
check "and the journal is taken by the next build" test ! -e "$CDB.journal"

cat >"$SCRATCH/record" <<EOF
#!/bin/sh
echo "\$1" >>"$SCRATCH/asked"
EOF
chmod 755 "$SCRATCH/record"
: >"$CDB.journal"
start_bg flock -x "$CDB.journal" sleep 600
holder=$LAST_PID
check "a stuck builder holds the journal" lock_held "$CDB.journal"
TCPREMOTEIP=192.0.2.63 RELAY_CDB_PROG=$SCRATCH/record timeout 60 "$RELAY_BIN/relay-allow" true \
    2>"$SCRATCH/login.err"
rc=$?
is "$rc" 0 "a login that finds the journal locked by a stuck builder goes on (124: it waited)"
check "(the builder still held it)" kill -0 "$holder"
like "$(cat "$SCRATCH/login.err")" "relay-allow: warning: unable to append to *.journal: *: asking for a full rebuild" \
    "with one warning"
check "and its builder rescans the store (-s)" appears "$SCRATCH/asked" 60
# the login's builder holds the cdb's lock until it is done: then nothing more is asked
cdb_idle "$CDB" || diag "the login's builder is still running"
is "$(cat "$SCRATCH/asked")" -s "(only that)"
stop_pid "$holder"

# ---- logins racing the journal's swap ----
race=$SCRATCH/race
mkdir "$race"
RCDB=$race/rules.cdb
RELAY_LOG=0 "$RELAY_BIN/relay-cdb" -s "$RCDB" "$RCDB.tmp" <"$SCRATCH/rules.txt"
# CDB_RACE_EACH: logins per worker (default 30; check-all may run more: the swap between the
# halves is certain at any count, the rest of the racing grows with it).
[ "${TEST_LONG:-0}" = 1 ] && : "${CDB_RACE_EACH:=120}"
workers=8 each=${CDB_RACE_EACH:-30}
cat >"$race/worker" <<'EOF'
#!/bin/sh
# worker N COUNT [DIR]: COUNT logins from 100.64.N.1 on, one after another. With DIR, half way
# it says so (DIR/half.N) and waits for DIR/go (60 s at most).
i=1
while [ "$i" -le "$2" ]; do
    TCPREMOTEIP=100.64.$1.$i "$RELAY_BIN/relay-allow" true || echo "login $1.$i: exit $?"
    if [ -n "${3:-}" ] && [ "$i" -eq $(($2 / 2)) ]; then
        : >"$3/half.$1"
        n=0
        while [ ! -e "$3/go" ] && [ "$n" -lt 600 ]; do
            sleep 0.1
            n=$((n + 1))
        done
    fi
    i=$((i + 1))
done
EOF
chmod 755 "$race/worker"
pids=
w=1
while [ "$w" -le "$workers" ]; do
    RELAY_CDB=$RCDB start_bg "$race/worker" "$w" "$each" "$race" >>"$race/workers.out" 2>&1
    pids="$pids $LAST_PID"
    w=$((w + 1))
done
running() {
    for p in $pids; do
        kill -0 "$p" 2>/dev/null && return 0
    done
    return 1
}
# Back-to-back builds while the workers log in. Half way the workers wait until a build has
# started after the last of them got there, so that the journal is swapped at least once with
# logins before and after it, however the machine shares its time; the other swaps fall
# wherever they fall.
all_half() {
    w=1
    while [ "$w" -le "$workers" ]; do
        [ -e "$race/half.$w" ] || return 1
        w=$((w + 1))
    done
}
builds=0 between=0
while running; do
    halfway=0
    [ -e "$race/go" ] || ! all_half || halfway=1
    RELAY_LOG=1 "$RELAY_BIN/relay-cdb" -i "$RCDB" "$RCDB.tmp" <"$SCRATCH/rules.txt" \
        2>>"$race/builds.err" || echo "build failed" >>"$race/builds.err"
    builds=$((builds + 1))
    if [ "$halfway" = 1 ]; then
        between=$((between + 1))
        : >"$race/go"
    fi
done
for p in $pids; do
    wait "$p"
done
RELAY_LOG=1 "$RELAY_BIN/relay-cdb" -i "$RCDB" "$RCDB.tmp" <"$SCRATCH/rules.txt" \
    2>>"$race/builds.err"
builds=$((builds + 1))
diag "$((workers * each)) logins from $workers workers during $builds incremental builds"
is "$(cat "$race/workers.out")" "" "every login went through"
is "$between" 1 "the journal was swapped between the halves of every worker's logins"
is "$(grep -c 'from the snapshot and' "$race/builds.err")" "$builds" \
    "every build was incremental (no rescan to hide a lost key)"
is "$(grep -c -e warning -e failed "$race/builds.err")" 0 "no build warned or failed"
cdb -d "$RCDB" | tr '\0' '|' >"$race/dump"
missing=0
w=1
while [ "$w" -le "$workers" ]; do
    i=1
    while [ "$i" -le "$each" ]; do
        grep -q "^+[0-9]*,[0-9]*:100\.64\.$w\.$i->.*RELAYCLIENT" "$race/dump" ||
            missing=$((missing + 1))
        i=$((i + 1))
    done
    w=$((w + 1))
done
is "$missing" 0 "every one of the $((workers * each)) logins is in the last cdb"

# The same through the trigger: each login starts (or flags) the detached builder, which runs
# relay-cdb -i while the others log in.
race2=$SCRATCH/race2
mkdir "$race2"
R2=$race2/rules.cdb
each2=$each
RELAY_LOG=0 "$RELAY_BIN/relay-cdb" -s "$R2" "$R2.tmp" <"$SCRATCH/rules.txt"
pids=
w=1
while [ "$w" -le 4 ]; do
    RELAY_LOG=1 RELAY_CDB=$R2 RELAY_CDB_PROG=$RELAY_BIN/relay-cdb \
        start_bg "$race/worker" "$w" "$each2" >>"$race2/workers.out" 2>&1
    pids="$pids $LAST_PID"
    w=$((w + 1))
done
for p in $pids; do
    wait "$p"
done
# With every login done, a free lock and no flag mean that no build is left to start.
check "the trigger's builder finishes" cdb_idle "$R2"
cdb -d "$R2" | tr '\0' '|' >"$race2/dump"
missing=0
w=1
while [ "$w" -le 4 ]; do
    i=1
    while [ "$i" -le "$each2" ]; do
        grep -q "^+[0-9]*,[0-9]*:100\.64\.$w\.$i->.*RELAYCLIENT" "$race2/dump" ||
            missing=$((missing + 1))
        i=$((i + 1))
    done
    w=$((w + 1))
done
is "$missing" 0 "through the trigger too, every one of the $((4 * each2)) logins is in the last cdb"
n=$(grep -c 'relay-cdb: built' "$race2/workers.out")
is "$(grep -c 'relay-cdb: built .*from the snapshot and' "$race2/workers.out")" "$n" \
    "and all $n of the trigger's builds were incremental"
is "$(grep -c 'warning' "$race2/workers.out")" 0 "with no warning"

done_testing
