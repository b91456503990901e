#!/bin/sh
# run: quick long
# t-torture.sh: logins, SMTP checks and sweeps all at once, for TORTURE_SECONDS (default 3;
# `make check-all` runs it for 60), with a short expiry (TORTURE_EXPIRY, default 2 s).
# What is checked holds over however many rounds ran: how many ran is a figure for the log
# (diag), never a verdict, since a busy machine runs fewer. The floors are the test's own:
# one login checked at once (with an expiry of an hour, however long the check takes to
# come), the never-seen addresses, the sweeper's first round (the sweeper runs its first round
# even if it starts after the deadline), and records that the test makes and back-dates past
# the expiry before the last sweep.
#   keepers (2): each owns 100 addresses (IPv4 and IPv6) and refreshes each one just before it
#     goes stale, so these allowances should never lapse;
#   a dropper: owns 100 more, logs each in once every few seconds and lets it go stale;
#   readers (2): relay-check on every address, and on 20 never seen, over and over;
#   a sweeper: relay-expire in a loop.
# Every login and every check is logged with its start and end time (ms), and a check with its
# expiry if it is not TORTURE_EXPIRY. Afterwards:
#   0 fresh allowances lost: a check that started after a login ended, and ended within the
#     expiry of that login's start, was granted;
#   0 stale ones granted: a granted check had a login that could still have been fresh;
#   0 temp files left, 0 crashes (no signal, no exit other than the expected, no sanitizer
#     report), and after a last sweep, no stale record left.
# cdb mode is on (TORTURE_CDB=0 turns it off): RELAY_CDB with a few static rules, so every
# login and every sweep also asks for a rebuild by relay-cdb. After the last sweep (which
# waits for its build), tcprulescheck must grant from the cdb exactly the allowances that were
# fresh when it was built and no stale one, and only the documented files may be beside it.
# All processes are started with start_bg and stopped by PID; every loop ends at a deadline.

# ---- actor mode: sh t-torture.sh --actor ROLE ... (started by the test below) ----------------

now_ms() {
    date +%s%3N
}

# keeper END EXPIRY LOG ADDRESS...: refresh each address once it is EXPIRY-0.7 s old.
keeper() {
    end=$1 expiry_ms=$(($2 * 1000)) log=$3
    shift 3
    due=$((expiry_ms - 700))
    now=$(now_ms)
    while [ "$now" -lt "$end" ]; do
        i=0 did=0
        for a in "$@"; do
            last=0
            eval "last=\${last_$i:-0}"
            if [ $((now - last)) -ge "$due" ]; then
                tb=$(now_ms)
                TCPREMOTEIP=$a USER=u$i "$RELAY_BIN/relay-allow" /bin/true
                rc=$?
                ta=$(now_ms)
                echo "L $a $tb $ta $rc" >>"$log"
                eval "last_$i=\$tb"
                did=1
                now=$ta
                [ "$now" -lt "$end" ] || break
            fi
            i=$((i + 1))
        done
        [ "$did" = 1 ] || sleep 0.05
        now=$(now_ms)
    done
}

# dropper END EXPIRY LOG ADDRESS...: one login every 50 ms, round the addresses: each one is
# fresh for EXPIRY seconds, then stale until its turn comes again.
dropper() {
    end=$1 log=$3
    shift 3
    now=$(now_ms)
    while [ "$now" -lt "$end" ]; do
        for a in "$@"; do
            tb=$(now_ms)
            TCPREMOTEIP=$a USER=drop "$RELAY_BIN/relay-allow" /bin/true
            rc=$?
            ta=$(now_ms)
            echo "L $a $tb $ta $rc" >>"$log"
            now=$ta
            [ "$now" -lt "$end" ] || break
            sleep 0.05
        done
    done
}

# reader END LOG ADDRESS...: relay-check each address in turn, logging whether it granted.
# The next program exits 0 when RELAYCLIENT is set and 1 when not; anything else is a crash.
# A short pause after each check leaves the machine to the others.
reader() {
    end=$1 log=$2
    shift 2
    now=$(now_ms)
    while [ "$now" -lt "$end" ]; do
        for a in "$@"; do
            tr0=$(now_ms)
            # shellcheck disable=SC2016 # expanded by that shell
            TCPREMOTEIP=$a "$RELAY_BIN/relay-check" /bin/sh -c '[ "${RELAYCLIENT+set}" = set ]'
            rc=$?
            tr1=$(now_ms)
            echo "C $a $tr0 $tr1 $rc" >>"$log"
            now=$tr1
            [ "$now" -lt "$end" ] || break
            sleep 0.01
        done
    done
}

# sweeper END LOG: relay-expire, a pause, again.
sweeper() {
    end=$1 log=$2
    while :; do
        summary=$("$RELAY_BIN/relay-expire")
        rc=$?
        echo "S $(now_ms) $rc $summary" >>"$log"
        [ "$(now_ms)" -lt "$end" ] || break
        sleep 0.2
    done
}

if [ "${1:-}" = --actor ]; then
    role=$2
    shift 2
    case $role in
    keeper) keeper "$@" ;;
    dropper) dropper "$@" ;;
    reader) reader "$@" ;;
    sweeper) sweeper "$@" ;;
    *) exit 100 ;;
    esac
    exit 0
fi

# ---- the test ------------------------------------------------------------------------------------
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

need_built relay-allow relay-check relay-expire
if [ "$(date +%s%3N 2>/dev/null)" = "$(date +%s)%3N" ] || [ -z "$(date +%s%3N 2>/dev/null)" ]; then
    skip "torture" "date cannot print milliseconds (%3N) here"
    done_testing
fi

[ "${TEST_LONG:-0}" = 1 ] && : "${TORTURE_SECONDS:=60}"
seconds=${TORTURE_SECONDS:-3}
expiry=${TORTURE_EXPIRY:-2}
store=$SCRATCH/store
logs=$SCRATCH/logs
mkdir "$store" "$logs" || exit 111
RELAY_DIR=$store RELAY_EXPIRY=$expiry RELAY_LOG=0
# One user ("drop") logs in from every address of its worker: a cap no one reaches keeps the
# per-user index (locks, counts, compaction, the sweep of .users) under the torture without
# refusing a login, which the "no allowance lost" rule would count as lost. t-cap tests the
# refusals.
RELAY_USER_MAX=1000
export RELAY_DIR RELAY_EXPIRY RELAY_LOG RELAY_USER_MAX
cdbmode=${TORTURE_CDB:-1}
if [ "$cdbmode" = 1 ] && { [ ! -x "$RELAY_BIN/relay-cdb" ] ||
    ! command -v tcprulescheck >/dev/null 2>&1; }; then
    diag "cdb mode left out: no relay-cdb or no tcprulescheck"
    cdbmode=0
fi
if [ "$cdbmode" = 1 ]; then
    cdbdir=$SCRATCH/cdb
    mkdir "$cdbdir" || exit 111
    # 10.9. is denied and never logs in; 10.1.0.7 has a rule of its own, which an allowance
    # joins; everything else falls to the default rule.
    printf '127.:allow,RELAYCLIENT=""\n10.9.:deny\n10.1.0.7:allow,X="y"\n:allow\n' \
        >"$cdbdir/rules.txt"
    RELAY_CDB=$cdbdir/rules.cdb RELAY_CDB_RULES=$cdbdir/rules.txt
    RELAY_CDB_PROG=$RELAY_BIN/relay-cdb
    export RELAY_CDB RELAY_CDB_RULES RELAY_CDB_PROG
fi
# LeakSanitizer is left on: each program is short-lived, and a leak report is a crash here.

# The addresses: keepers' (k1, k2), the dropper's (d), and some that never log in (n).
# A fifth of each set is IPv6, each in a /64 of its own.
addrs() { # PREFIX6 N: N addresses, IPv4 10.X.Y.Z, and IPv6 2001:db8:PREFIX6:I::1
    ad_i=0
    while [ "$ad_i" -lt "$2" ]; do
        if [ $((ad_i % 5)) -eq 4 ]; then
            printf '2001:db8:%x:%x::1\n' "$1" "$ad_i"
        else
            printf '10.%d.%d.%d\n' "$1" $((ad_i / 200)) $((ad_i % 200 + 1))
        fi
        ad_i=$((ad_i + 1))
    done
}
addrs 1 100 >"$logs/k1.addrs"
addrs 2 100 >"$logs/k2.addrs"
addrs 3 100 >"$logs/d.addrs"
addrs 4 20 >"$logs/n.addrs"
cat "$logs/k1.addrs" "$logs/k2.addrs" "$logs/d.addrs" "$logs/n.addrs" >"$logs/all.addrs"
# The readers go round every address, each in its own order.
sort "$logs/all.addrs" >"$logs/r1.addrs"
sort -r "$logs/all.addrs" >"$logs/r2.addrs"

start=$(date +%s%3N)
end=$((start + seconds * 1000))
diag "torture for $seconds s, expiry $expiry s, $(wc -l <"$logs/all.addrs") addresses"
actors=
# shellcheck disable=SC2046 # one address per word
{
    start_bg sh "$0" --actor keeper "$end" "$expiry" "$logs/k1.log" $(cat "$logs/k1.addrs") \
        2>"$logs/k1.err"
    actors="$actors $LAST_PID"
    start_bg sh "$0" --actor keeper "$end" "$expiry" "$logs/k2.log" $(cat "$logs/k2.addrs") \
        2>"$logs/k2.err"
    actors="$actors $LAST_PID"
    start_bg sh "$0" --actor dropper "$end" "$expiry" "$logs/d.log" $(cat "$logs/d.addrs") \
        2>"$logs/d.err"
    actors="$actors $LAST_PID"
    start_bg sh "$0" --actor reader "$end" "$logs/r1.log" $(cat "$logs/r1.addrs") \
        2>"$logs/r1.err"
    actors="$actors $LAST_PID"
    start_bg sh "$0" --actor reader "$end" "$logs/r2.log" $(cat "$logs/r2.addrs") \
        2>"$logs/r2.err"
    actors="$actors $LAST_PID"
    start_bg sh "$0" --actor sweeper "$end" "$logs/s.log" 2>"$logs/s.err"
    actors="$actors $LAST_PID"
}

# Wait for the actors to reach their deadline (a login or check in flight may run on a
# little); whatever is still running 60 s later is stopped, and that is a failure (a hang: a
# sweep waits 30 s at most for a build).
# shellcheck disable=SC2086 # the PIDs, one per word
actors_hung $((end + 60000)) $actors
is "$ACTORS_HUNG" 0 "every actor stopped by itself at the deadline"

# A last pass by the test itself: one login, checked at once with an expiry of an hour (the
# floor of "some checks had to grant", however long the check takes to come: nothing removes
# a record now), every address once more, then one more sweep.
a=$(sed -n 1p "$logs/all.addrs")
tb=$(date +%s%3N)
TCPREMOTEIP=$a USER=last "$RELAY_BIN/relay-allow" /bin/true 2>>"$logs/final.err"
rc=$?
echo "L $a $tb $(date +%s%3N) $rc" >>"$logs/final.log"
tr0=$(date +%s%3N)
# shellcheck disable=SC2016 # expanded by that shell
RELAY_EXPIRY=3600 TCPREMOTEIP=$a "$RELAY_BIN/relay-check" /bin/sh -c \
    '[ "${RELAYCLIENT+set}" = set ]' 2>>"$logs/final.err"
rc=$?
echo "C $a $tr0 $(date +%s%3N) $rc 3600" >>"$logs/final.log"
while read -r a; do
    tr0=$(date +%s%3N)
    # shellcheck disable=SC2016 # expanded by that shell
    TCPREMOTEIP=$a "$RELAY_BIN/relay-check" /bin/sh -c '[ "${RELAYCLIENT+set}" = set ]' \
        2>>"$logs/final.err"
    rc=$?
    echo "C $a $tr0 $(date +%s%3N) $rc" >>"$logs/final.log"
done <"$logs/all.addrs"
# The floor of "the sweeps removed stale records": ten of the dropper's addresses logged in
# once more and back-dated past the expiry (after every check above, and not in the logs the
# verdicts read); the last sweep must remove them, and the cdb it builds must not grant them.
backdated=0
grep '^10\.3\.' "$logs/d.addrs" | sed -n 1,10p >"$logs/backdated.addrs"
while read -r a; do
    TCPREMOTEIP=$a USER=drop "$RELAY_BIN/relay-allow" 2>>"$logs/final.err" </dev/null &&
        touch -d "@$(($(date +%s) - expiry - 60))" "$store/$a" &&
        backdated=$((backdated + 1))
done <"$logs/backdated.addrs"
# Before the sweep, and after it (it waits for its build): a record kept is fresh at the first,
# one the cdb must grant is fresh at the second, however long the build took.
sweep_began=$(date +%s)
final_sweep=$("$RELAY_BIN/relay-expire" 2>>"$logs/final.err")
final_rc=$?
swept_at=$(date +%s)

# cdb mode: what the cdb grants now, against the store's records as the last build saw them.
# The build ran between sweep_began and swept_at: a record at most EXPIRY-1 s old at swept_at
# must be granted; one over EXPIRY+1 s old at sweep_began, or gone, must not (the second at
# the edge is left alone).
if [ "$cdbmode" = 1 ]; then
    cdb_lost=0 cdb_stale=0 cdb_granted=0
    while read -r a; do
        case $a in *:*) key=${a%::1}::_64 ;; *) key=$a ;; esac
        age=-1 age0=-1
        if [ -f "$store/$key" ]; then
            t=$(stat -c %Y "$store/$key")
            age=$((swept_at - t)) age0=$((sweep_began - t))
        fi
        if TCPREMOTEIP=$a tcprulescheck "$RELAY_CDB" 2>>"$logs/final.err" |
            grep -q '^set environment variable RELAYCLIENT='; then
            cdb_granted=$((cdb_granted + 1))
            if [ ! -f "$store/$key" ] || [ "$age0" -gt $((expiry + 1)) ]; then
                cdb_stale=$((cdb_stale + 1))
                diag "the cdb grants $a, whose record was $age0 s old as the sweep began (-1: gone)"
            fi
        elif [ "$age" -ge 0 ] && [ "$age" -le $((expiry - 1)) ]; then
            cdb_lost=$((cdb_lost + 1))
            diag "the cdb does not grant $a, whose record is $age s old"
        fi
    done <"$logs/all.addrs"
    TCPREMOTEIP=10.9.0.1 tcprulescheck "$RELAY_CDB" 2>/dev/null | grep -q '^deny connection'
    cdb_deny=$?
    TCPREMOTEIP=10.1.0.7 tcprulescheck "$RELAY_CDB" 2>/dev/null | grep -q '^set environment variable X=y'
    cdb_rule=$?
    # Beside the cdb: its rules, the lock, the journal and the snapshot; no rules.cdb.tmp,
    # no taken journal, no temporary snapshot once the last build is done.
    cdb_extra=$(find "$cdbdir" -mindepth 1 ! -name rules.txt ! -name rules.cdb \
        ! -name rules.cdb.lock ! -name rules.cdb.journal ! -name rules.cdb.idx)
fi

# ---- the verdict ---------------------------------------------------------------------------------
# Logins (L addr tb ta rc) and checks (C addr tr0 tr1 rc), times in ms. The store's clock
# (file mtimes, time(2)) is coarse and may lag the one date reads by a tick, so a login's
# mtime is taken to be at least tb - 20 ms.
cat "$logs"/k1.log "$logs"/k2.log "$logs"/d.log "$logs"/r1.log "$logs"/r2.log \
    "$logs"/final.log 2>/dev/null | awk -v e="$expiry" '
    function fl(ms) { return int(ms / 1000) }
    $1 == "L" {
        nl++
        if ($5 != 0) badlogin++
        n = ++cnt[$2]; tb[$2, n] = $3; ta[$2, n] = $4
        next
    }
    $1 == "C" {
        nc++; c_a[nc] = $2; c_0[nc] = $3; c_1[nc] = $4; c_rc[nc] = $5
        c_e[nc] = NF > 5 ? $6 : e
    }
    END {
        for (i = 1; i <= nc; i++) {
            a = c_a[i]; t0 = c_0[i]; t1 = c_1[i]; rc = c_rc[i]; ce = c_e[i]
            if (rc != 0 && rc != 1) { badcheck++; continue }
            must = 0; may = 0
            for (j = 1; j <= cnt[a]; j++) {
                if (ta[a, j] < t0 && fl(t1) - fl(tb[a, j] - 20) <= ce) must = 1
                if (tb[a, j] <= t1 && fl(t0 - 20) - fl(ta[a, j]) <= ce) may = 1
            }
            if (rc == 0) granted++; else refused++
            if (must)
                mustn++
            if (must && rc != 0) {
                lost++
                if (shown++ < 5)
                    print "# lost: " a " checked " t0 "-" t1
            }
            if (rc == 0 && !may) {
                stale++
                if (shown++ < 5)
                    print "# stale granted: " a " checked " t0 "-" t1
            }
        }
        printf "logins %d checks %d granted %d refused %d mustgrant %d lost %d stale %d",
            nl, nc, granted, refused, mustn, lost, stale
        printf " badlogin %d badcheck %d\n", badlogin + 0, badcheck + 0
    }' >"$logs/verdict"
grep '^# ' "$logs/verdict"
# shellcheck disable=SC2046 # the counts, one per word
set -- $(grep -v '^# ' "$logs/verdict")
logins=$2 checks=$4 granted_n=$6 refused_n=$8 must=${10} lost=${12} stale=${14}
badlogin=${16} badcheck=${18}
sweeps=$(grep -c '^S ' "$logs/s.log" 2>/dev/null)
badsweep=$(awk '$1 == "S" && $3 != 0' "$logs/s.log" 2>/dev/null | wc -l | tr -d ' ')
removed=$(awk '$1 == "S" { for (i = 4; i < NF; i++) if ($i == "removed") r += $(i + 1) }
    END { print r + 0 }' "$logs/s.log" 2>/dev/null)
temps=$(find "$store" -name '.tmp.*' | wc -l | tr -d ' ')
sanitizer=$(cat "$logs"/*.err | grep -c -e 'Sanitizer' -e 'runtime error')
errlines=$(cat "$logs"/*.err | wc -l | tr -d ' ')
# A record the last sweep kept was fresh when it looked, after sweep_began.
old=0
for f in "$store"/*; do
    [ -f "$f" ] || continue
    [ $((sweep_began - $(stat -c %Y "$f"))) -le $((expiry + 1)) ] || old=$((old + 1))
done
crashes=$((badlogin + badcheck + badsweep + sanitizer))
[ "$final_rc" -eq 0 ] || crashes=$((crashes + 1))

diag "logins $logins, checks $checks ($granted_n granted, $refused_n refused)," \
    "sweeps $sweeps (removed $removed), final sweep: $final_sweep"
diag "checks that had to grant: $must; fresh allowances lost: $lost; stale ones granted: $stale"
diag "temp files left: $temps; crashes: $crashes; stale records after the last sweep: $old;" \
    "stderr lines: $errlines"
if [ "$errlines" -gt 0 ]; then
    cat "$logs"/*.err | sort | uniq -c | sort -rn | head -5 | diag
fi
# How much ran depends on how busy the machine is: a figure for the log, not a verdict. What
# is checked below holds over however many rounds ran.
check "logins and checks ran" test "$logins" -ge 1 -a "$checks" -ge 1
check "some checks had to grant, and some were refused" test "$must" -gt 0 -a "$refused_n" -gt 0
# The sweeper's own runs may all come before anything is stale on a busy machine; the final
# sweep removes at least the records back-dated for it.
final_removed=$(echo "$final_sweep" | sed -n 's/.* removed \([0-9]*\) .*/\1/p')
diag "back-dated before the last sweep: $backdated; it removed ${final_removed:-?}"
check "the sweeper ran, and the last sweep removed every record back-dated for it" \
    test "$sweeps" -gt 0 -a "$backdated" -gt 0 -a "${final_removed:-0}" -ge "$backdated"
is "$lost" 0 "0 fresh allowances lost"
is "$stale" 0 "0 stale allowances granted"
is "$temps" 0 "0 temp files left"
is "$crashes" 0 "0 crashes (signals, unexpected exits, sanitizer reports)"
is "$old" 0 "0 stale records after the last sweep"
if [ "$cdbmode" = 1 ]; then
    diag "cdb: $cdb_granted granted after the last sweep; fresh not granted: $cdb_lost; stale granted: $cdb_stale"
    is "$cdb_lost" 0 "cdb: 0 fresh allowances missing after the last sweep"
    is "$cdb_stale" 0 "cdb: 0 stale allowances granted after the last sweep"
    is "$cdb_deny" 0 "cdb: the static deny rule still denies"
    is "$cdb_rule" 0 "cdb: the static rule's variable is kept"
    is "$cdb_extra" "" "cdb: no leftovers beside the cdb (temp file, taken journal)"
fi
done_testing
