#!/bin/sh
# t-cdb-files.sh: cdb mode's temp files, locks, builder and root (issue 8, classes 4 and 5).
#   - A temp file left behind (RELAY_CDB.tmp, the snapshot's temp file) is removed and made
#     anew, never written into: the file planted under its name keeps its bytes.
#   - A build killed by a signal (here SIGXFSZ, over its file size limit) leaves no temp file
#     and the old cdb as it was.
#   - A temp file that another build holds is waited for a few seconds, not for ever: then
#     one line and exit 111, the old cdb as it was.
#   - relay-expire waits at most 30 s for a build that holds the lock: then one line and 111.
#   - relay-expire's own build that does not end (a stopped relay-cdb) is killed after 30 s:
#     one line, 111, and the lock is free for the next; rules that are a FIFO are refused
#     at once, in one line.
#   - The detached builder starts with every signal at its default (SIGHUP ignored) and none
#     blocked, whatever the login had.
#   - Root never works on a file through a name in the cdb's directory, which belongs to the
#     store's account: with hard links to a root file planted as the lock, the journal and
#     the temp files (what fs.protected_hardlinks=0 lets that account do), relay-cdb run by root and a root login
#     (Dovecot style, IP=) that starts a builder leave the root file as it was.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-allow relay-expire relay-cdb

store=$SCRATCH/store
mkdir "$store"
printf '1.2.3.:allow,X="1"\n:allow\n' >"$SCRATCH/rules.txt"
export RELAY_DIR="$store" RELAY_LOG=0
unset RELAY_CDB RELAY_CDB_PROG RELAY_CDB_RULES RELAY_CDB_V4MAPPED
TCPREMOTEIP=1.2.3.4 "$RELAY_BIN/relay-allow" true 2>/dev/null
cdb=$SCRATCH/rules.cdb
build() { # [OPTION]: relay-cdb on cdb, its errors in build.err
    "$RELAY_BIN/relay-cdb" "$@" "$cdb" "$cdb.tmp" <"$SCRATCH/rules.txt" 2>"$SCRATCH/build.err"
}

# ---- stale temp files ----
printf 'not yours\n' >"$SCRATCH/planted"
ln "$SCRATCH/planted" "$cdb.tmp"
ln "$SCRATCH/planted" "$cdb.idx.tmp"
build -s
is "$?" 0 "relay-cdb builds over stale temp files"
check "the file under the stale names keeps its bytes" file_is "$SCRATCH/planted" 'not yours\n'
is "$(stat -c %h "$SCRATCH/planted")" 1 "both stale names are gone"
like "$(cat "$SCRATCH/build.err")" "*warning: removed $cdb.tmp, left by a build that did not finish*" \
    "and the removal is reported"
check "the new cdb grants" sh -c "cdb -q '$cdb' 1.2.3.4 | grep -q RELAYCLIENT"
is "$(stat -c %a "$cdb") $(stat -c %a "$cdb.idx")" "644 600" \
    "the cdb is 0644 for tcpserver, the snapshot 0600"

# ---- keys that relay-check would not look up ----
# A /56 recorded under RELAY_IPV6_PREFIX=56 grants nothing once the prefix is 64: relay-check
# looks up the client's /64. The snapshot still holds it: the login's build (-i) leaves it
# out too, with one warning.
printf 'relaylease1 2001:db8:1::_56 bob\n' >"$store/2001:db8:1::_56"
RELAY_IPV6_PREFIX=56 build -s
check "under /56 the /56 is granted" sh -c "cdb -q '$cdb' 2001:db8:1:0: | grep -q RELAYCLIENT"
RELAY_IPV6_PREFIX=64 build -i
check "under /64 it is left out" sh -c "! cdb -q '$cdb' 2001:db8:1:0: | grep -q RELAYCLIENT"
like "$(cat "$SCRATCH/build.err")" "*warning: 1 allowances are under keys that relay-check does not look up*such as 2001:db8:1::_56: left out*" \
    "with one warning"
rm "$store/2001:db8:1::_56"
# A /48 cannot be written: its ISATAP addresses (keyed apart) could be kept out only by
# shadow keys for each of its 65,536 /64s. Nothing is granted, with one warning.
printf 'relaylease1 2001:db8:1::_48 bob\n' >"$store/2001:db8:1::_48"
RELAY_IPV6_PREFIX=48 build -s
check "under /48 a /48 grants nothing" sh -c "! cdb -d '$cdb' | grep -q '2001:db8:1:'"
like "$(cat "$SCRATCH/build.err")" "*warning: 1 IPv6 allowances cannot be written as tcpserver rules*" \
    "with one warning"
rm "$store/2001:db8:1::_48"
build -s

# ---- a build killed by a signal ----
cp "$cdb" "$SCRATCH/before.cdb"
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "10.%d.%d.%d:allow,X=\"padding padding\"\n", i / 65536, i / 256 % 256, i % 256 }' \
    >"$SCRATCH/big.txt"
# (Not exec'd: the shell that reaps it reports the signal, here to /dev/null.)
# shellcheck disable=SC2016 # expanded by that shell
sh -c 'ulimit -f 64; "$1" "$2" "$3" <"$4"; exit $?' - "$RELAY_BIN/relay-cdb" "$cdb" "$cdb.tmp" \
    "$SCRATCH/big.txt" 2>/dev/null
rc=$?
check "a build over its file size limit fails ($rc)" test "$rc" -ne 0
check "and leaves no temp file" test ! -e "$cdb.tmp"
check "and the old cdb as it was" cmp -s "$cdb" "$SCRATCH/before.cdb"

# ---- the bounded waits, started side by side ----
# Three waits whose bound is the point (5 s, 30 s and 30 s, built into the programs) run at
# once, each on a cdb and a store of its own, while the rest of the test goes on; their
# verdicts are read at the end. Each runs under timeout(1), so that a hang fails the test.
# shellcheck disable=SC2317 # called through check
for w in held locked stuck; do
    mkdir "$SCRATCH/w-$w" && cp -p "$cdb" "$SCRATCH/w-$w/rules.cdb" &&
        cp -p "$cdb" "$SCRATCH/w-$w/before.cdb" && cp -a "$store" "$SCRATCH/w-$w/store" ||
        exit 111
done
# waiter NAME CMD...: CMD in the background, its exit status in $SCRATCH/w-NAME/rc.
waiter() {
    waiter_name=$1
    shift
    # shellcheck disable=SC2016 # expanded by that shell
    start_bg sh -c '"$@"; echo $? >"$0"' "$SCRATCH/w-$waiter_name/rc" "$@"
}

# A temp file held by another build.
hcdb=$SCRATCH/w-held/rules.cdb
: >"$hcdb.tmp"
chmod 600 "$hcdb.tmp"
start_bg flock "$hcdb.tmp" sleep 600
held_holder=$LAST_PID
check "the temp file is held by another build" lock_held "$hcdb.tmp"
waiter held timeout 60 "$RELAY_BIN/relay-cdb" "$hcdb" "$hcdb.tmp" \
    <"$SCRATCH/rules.txt" 2>"$SCRATCH/held.err"
held_job=$LAST_PID

# relay-expire and a build that holds the lock.
lcdb=$SCRATCH/w-locked/rules.cdb
printf '000' >"$lcdb.lock"
start_bg flock "$lcdb.lock" sleep 600
locked_holder=$LAST_PID
check "the cdb's lock is held by another build" lock_held "$lcdb.lock"
RELAY_DIR=$SCRATCH/w-locked/store RELAY_CDB=$lcdb RELAY_CDB_RULES=$SCRATCH/rules.txt \
    RELAY_CDB_PROG=$RELAY_BIN/relay-cdb waiter locked timeout 80 "$RELAY_BIN/relay-expire" \
    >/dev/null 2>"$SCRATCH/locked.err"
locked_job=$LAST_PID

# relay-expire and a build that never ends: the build is relay-expire's own child, one that
# is stopped (here it stops itself, as the store's account or a hung file system could stop
# relay-cdb) is killed after 30 s, one line says so, and the lock is free for the next build.
cat >"$SCRATCH/stuck" <<EOF
#!/bin/sh
echo \$\$ >"$SCRATCH/stuck.pid"
kill -STOP \$\$
exec "$RELAY_BIN/relay-cdb" "\$@"
EOF
chmod 755 "$SCRATCH/stuck"
rm -f "$SCRATCH/stuck.pid"
scdb=$SCRATCH/w-stuck/rules.cdb
RELAY_DIR=$SCRATCH/w-stuck/store RELAY_CDB=$scdb RELAY_CDB_RULES=$SCRATCH/rules.txt \
    RELAY_CDB_PROG=$SCRATCH/stuck waiter stuck timeout 120 "$RELAY_BIN/relay-expire" \
    >/dev/null 2>"$SCRATCH/stuck.err"
stuck_job=$LAST_PID

# ---- rules that are not a regular file ----
# A FIFO (or a device) as RELAY_CDB_RULES would hang the build at its open or its read.
mkfifo "$SCRATCH/rules.fifo"
RELAY_CDB=$cdb RELAY_CDB_RULES=$SCRATCH/rules.fifo RELAY_CDB_PROG=$RELAY_BIN/relay-cdb \
    timeout 60 "$RELAY_BIN/relay-expire" >/dev/null 2>"$SCRATCH/expire.err"
is "$?" 111 "RELAY_CDB_RULES a FIFO: relay-expire exits 111"
is "$(cat "$SCRATCH/expire.err")" "relay-expire: warning: unable to use $SCRATCH/rules.fifo: not a regular file: the rules cdb $cdb is not rebuilt" \
    "in one line"
check "the lock is free" flock -n "$cdb.lock" true

# ---- the detached builder's signals ----
cat >"$SCRATCH/builder" <<EOF
#!/bin/sh
grep -E '^Sig(Blk|Ign):' /proc/self/status >"$SCRATCH/sigs.tmp" && mv "$SCRATCH/sigs.tmp" "$SCRATCH/sigs"
exit 0
EOF
chmod 755 "$SCRATCH/builder"
(
    trap '' TERM INT USR1 QUIT
    RELAY_CDB=$cdb RELAY_CDB_RULES=$SCRATCH/rules.txt RELAY_CDB_PROG=$SCRATCH/builder \
        TCPREMOTEIP=1.2.3.5 "$RELAY_BIN/relay-allow" true 2>/dev/null
)
appears "$SCRATCH/sigs"
# Signals 32 and 33 belong to the C library, which no program may set: the builder keeps
# whatever this test got for them from its own parents (GNU make ignores them), and resets
# every other one.
base=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/self/status)
want=$(printf '%016x' $(((0x$base & 0x180000000) | 1)))
is "$(tr -s '\t ' ' ' <"$SCRATCH/sigs" 2>/dev/null | tr '\n' ' ')" "SigBlk: 0000000000000000 SigIgn: $want " \
    "the builder ignores SIGHUP alone and blocks nothing, whatever the login ignored"

# ---- root and planted hard links ----
if [ "$(id -u)" -ne 0 ] || [ "$MAIL_UID" -eq 0 ]; then
    skip "root's files through planted hard links" "not root"
else
    # Root plants the links, whatever this machine's fs.protected_hardlinks says: they are
    # the names the directory's owner could make with it off, and no machine-wide setting
    # is changed.
    own=$SCRATCH/own
    mkdir -m 755 "$own"
    chown "$MAIL_UID:$MAIL_GID" "$own" "$store"
    chmod 755 "$SCRATCH" "$SCRATCH/rules.txt"
    printf "root's own\n" >"$SCRATCH/rootfile"
    chmod 600 "$SCRATCH/rootfile"
    before=$(stat -c '%u:%g:%a:%s' "$SCRATCH/rootfile")
    for n in rules.cdb.lock rules.cdb.journal rules.cdb.tmp rules.cdb.idx.tmp \
        rules.cdb.journal.taken; do
        ln "$SCRATCH/rootfile" "$own/$n"
    done
    # relay-cdb run by root, in each mode
    for opt in "" -s -i; do
        # shellcheck disable=SC2086 # no option: no word
        "$RELAY_BIN/relay-cdb" $opt "$own/rules.cdb" "$own/rules.cdb.tmp" <"$SCRATCH/rules.txt" \
            2>"$SCRATCH/root.err"
        rc=$?
        is "$(stat -c '%u:%g:%a:%s' "$SCRATCH/rootfile") $(cat "$SCRATCH/rootfile")" "$before root's own" \
            "relay-cdb ${opt:-(plain)} by root leaves root's file as it was (exit $rc)"
    done
    is "$(stat -c %u "$own/rules.cdb")" "$MAIL_UID" "root's build is made by the directory's owner"
    # a root login, Dovecot style, that starts a builder
    for n in rules.cdb.lock rules.cdb.journal rules.cdb.tmp rules.cdb.idx.tmp; do
        rm -f "$own/$n"
        ln "$SCRATCH/rootfile" "$own/$n"
    done
    # The login takes the lock before it starts the builder, which inherits it: once the
    # login has returned, the lock is free only when the builder is done.
    RELAY_CDB=$own/rules.cdb RELAY_CDB_RULES=$SCRATCH/rules.txt \
        RELAY_CDB_PROG=$RELAY_BIN/relay-cdb IP=1.2.3.6 USER=bob \
        "$RELAY_BIN/relay-allow" true 2>"$SCRATCH/login.err"
    cdb_idle "$own/rules.cdb" || diag "the builder is still running"
    is "$(stat -c '%u:%g:%a:%s' "$SCRATCH/rootfile") $(cat "$SCRATCH/rootfile")" "$before root's own" \
        "a root login and its builder leave root's file as it was"
    chown 0:0 "$store"
fi

# ---- the bounded waits' verdicts ----
wait "$held_job"
is "$(cat "$SCRATCH/w-held/rc")" 111 "a temp file held by another build: the wait ends, exit 111"
like "$(cat "$SCRATCH/held.err")" "relay-cdb: fatal: another build has held $hcdb.tmp for 5 s: the cdb was not rebuilt" \
    "in one line"
check "the old cdb as it was" cmp -s "$hcdb" "$SCRATCH/w-held/before.cdb"
check "the holder's file is left alone" test -e "$hcdb.tmp"
stop_pid "$held_holder"

wait "$locked_job"
is "$(cat "$SCRATCH/w-locked/rc")" 111 "relay-expire gives up on a build that holds the lock: 111"
like "$(cat "$SCRATCH/locked.err")" "*the rules cdb $lcdb was not rebuilt: a build held the lock $lcdb.lock for 30 s*" \
    "and says so"
stop_pid "$locked_holder"

wait "$stuck_job"
is "$(cat "$SCRATCH/w-stuck/rc")" 111 "relay-expire gives up on a build that does not end: 111"
is "$(cat "$SCRATCH/stuck.err")" "relay-expire: warning: $SCRATCH/stuck took more than 30 s: killed, the cdb $scdb not rebuilt" \
    "in one line"
stuck=$(cat "$SCRATCH/stuck.pid" 2>/dev/null)
check "the stuck build is gone, reaped" sh -c "[ -n '$stuck' ] && ! kill -0 '$stuck' 2>/dev/null"
[ -n "$stuck" ] && kill -KILL "$stuck" 2>/dev/null
check "the lock is free" flock -n "$scdb.lock" true
rm -f "$scdb"
RELAY_DIR=$SCRATCH/w-stuck/store RELAY_CDB=$scdb RELAY_CDB_RULES=$SCRATCH/rules.txt \
    RELAY_CDB_PROG=$RELAY_BIN/relay-cdb \
    timeout 120 "$RELAY_BIN/relay-expire" >/dev/null 2>"$SCRATCH/expire.err"
is "$?" 0 "the next relay-expire builds"
check "and its cdb grants" sh -c "cdb -q '$scdb' 1.2.3.4 | grep -q RELAYCLIENT"

done_testing
