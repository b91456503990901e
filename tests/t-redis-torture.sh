#!/bin/sh
# run: quick long
# t-redis-torture.sh: logins and SMTP checks at once through real Redis servers (issue 10),
# for TORTURE_SECONDS (default 5; TEST_LONG=1 runs it for 60): a primary, its replica and
# three sentinels on loopback, Unix sockets in a private directory.
#   logins (3): relay-allow with the POP account, two straight to the primary's socket, one
#     through the sentinels, each over its own shuffled list of random addresses (a fifth of
#     them IPv6, each in a /64 of its own), the next program a shell that exits 42;
#   checks (2): relay-check on the replica with the SMTP account and a short expiry
#     (TORTURE_EXPIRY, default 2 s), round every login address (for an IPv6 login, another
#     address of its /64), every address the admin writes, and some never seen;
#   the admin (1): writes records the checks must never grant, over and over: dated past the
#     expiry (by 1000 s or more), 100 s old (past the checks' expiry), 10 minutes ahead,
#     naming another key, relay-ctrl's format.
# The writers' RELAY_EXPIRY is 900, so no record leaves Redis (TTL) during the test; the
# checks judge each record's age with their own 2 s. What is checked holds over however many
# rounds ran: how many ran is a figure for the log (diag), never a verdict.
#   - 0 crashes: every login ran its next program (exit 42), every check ran its (0 or 1),
#     no sanitizer report;
#   - 0 hung programs: every actor stops by itself once past its deadline (a guard of 60 s);
#   - 0 stale allowances granted: a granted check had a login of that key that could still
#     have been fresh (it started before the check ended, and ended at most the expiry
#     before the check began), and no address the admin wrote is ever granted;
#   - a fresh allowance may be missing (the replica lags): that is not counted. Instead,
#     after the actors stop, every login that relay-allow said it recorded is eventually
#     granted on the replica (with RELAY_EXPIRY=900), with the user of the primary's record.
#   - cdb: relay-cdb built from the replica then grants (tcprulescheck) exactly what
#     relay-check on the replica grants, with the same settings, for every address above.
# Every server and actor is stopped by PID.

# ---- actor mode: sh t-redis-torture.sh --actor ROLE ... ------------------------------------------

now_ms() {
    date +%s%3N
}

# login END LOG USER SETTINGS ADDRESS...: relay-allow for each address in turn, until END.
login() {
    end=$1 log=$2 user=$3 settings=$4
    shift 4
    now=$(now_ms)
    while [ "$now" -lt "$end" ]; do
        for a in "$@"; do
            tb=$(now_ms)
            # shellcheck disable=SC2086 # the settings, one per word
            env $settings TCPREMOTEIP="$a" USER="$user" "$RELAY_BIN/relay-allow" \
                /bin/sh -c 'exit 42' </dev/null
            rc=$?
            ta=$(now_ms)
            echo "L $a $tb $ta $rc" >>"$log"
            now=$ta
            [ "$now" -lt "$end" ] || break
        done
    done
}

# checker END LOG SETTINGS ADDRESS...: relay-check each address in turn; the next program
# exits 0 when RELAYCLIENT is set and 1 when not.
checker() {
    end=$1 log=$2 settings=$3
    shift 3
    now=$(now_ms)
    while [ "$now" -lt "$end" ]; do
        for a in "$@"; do
            t0=$(now_ms)
            # shellcheck disable=SC2086,SC2016 # the settings, one per word; expanded by that shell
            env $settings TCPREMOTEIP="$a" "$RELAY_BIN/relay-check" \
                /bin/sh -c '[ "${RELAYCLIENT+set}" = set ]' </dev/null
            rc=$?
            t1=$(now_ms)
            echo "C $a $t0 $t1 $rc" >>"$log"
            now=$t1
            [ "$now" -lt "$end" ] || break
        done
    done
}

# admin END LOG ADDRESS...: write a record that must not grant under each address's key,
# in turn, over and over (redis-cli as the admin account on the primary).
admin() {
    end=$1 log=$2
    shift 2
    i=0
    now=$(now_ms)
    while [ "$now" -lt "$end" ]; do
        for a in "$@"; do
            case $a in *:*) key=$(echo "$a" | cut -d: -f1-4)::_64 ;; *) key=$a ;; esac
            s=$(date +%s)
            case $((i % 5)) in
            0) v="relaylease2 $((s - 1000 - i % 5000)) $key stale" ;;
            1) v="relaylease2 $((s - 100)) $key recent" ;;
            2) v="relaylease2 $((s + 600)) $key future" ;;
            3) v="relaylease2 $s 10.255.255.255 otherkey" ;;
            4) v="USER=ctrl" ;;
            esac
            REDISCLI_AUTH=$(sed -n 1p "$REDIS_DIR/admin.pass") redis-cli --user relaylease-admin \
                -s "$REDIS_DIR/p/sock" SET "relaylease:$key" "$v
" EX 3600 >/dev/null 2>>"$log.err"
            echo "A $a $(now_ms) $((i % 5))" >>"$log"
            i=$((i + 1))
            now=$(now_ms)
            [ "$now" -lt "$end" ] || break
        done
    done
}

if [ "${1:-}" = --actor ]; then
    role=$2
    shift 2
    case $role in
    login) login "$@" ;;
    check) checker "$@" ;;
    admin) admin "$@" ;;
    *) exit 100 ;;
    esac
    exit 0
fi

# ---- the test --------------------------------------------------------------------------------------
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-allow relay-check relay-cdb
if [ -z "$(date +%s%3N 2>/dev/null)" ] || [ "$(date +%s%3N)" = "$(date +%s)%3N" ]; then
    skip "Redis torture" "date cannot print milliseconds (%3N) here"
    done_testing
fi
# shellcheck source-path=SCRIPTDIR source=redis-lib.sh
. "$(dirname "$0")/redis-lib.sh"
redis_need "Redis torture"

[ "${TEST_LONG:-0}" = 1 ] && : "${TORTURE_SECONDS:=60}"
seconds=${TORTURE_SECONDS:-5}
expiry=${TORTURE_EXPIRY:-2}
seed=${TORTURE_SEED:-$$}
logs=$SCRATCH/logs
mkdir "$logs" || exit 111

# No failover is wanted here: a primary a busy machine leaves without CPU for a second is
# not down.
REDIS_DOWN_AFTER=600000
redis_cluster r || exit 1

# The directory store must never be used. LeakSanitizer stays on: each program is
# short-lived, and a leak report is a crash here.
RELAY_DIR=$SCRATCH/no-such-store
export RELAY_DIR
unset RELAY_CDB RELAY_REDIS RELAY_REDIS_SENTINELS RELAY_REDIS_MASTER RELAY_REDIS_USER \
    RELAY_REDIS_PASSFILE RELAY_REDIS_TIMEOUT TCPREMOTEIP TCP6REMOTEIP PROTO USER RELAYCLIENT
# Logins with a cap no one reaches: the record script runs on every login, and none is refused.
pop_direct="$(redis_host pop p) RELAY_EXPIRY=900 RELAY_LOG=1 RELAY_USER_MAX=1000"
pop_sentinels="$(redis_host pop sentinels) RELAY_EXPIRY=900 RELAY_LOG=1 RELAY_USER_MAX=1000"
smtp="$(redis_host smtp r) RELAY_LOG=0"

# The addresses (seed printed: TORTURE_SEED=N repeats a run's lists):
#   l1..l3: 60 login addresses each, IPv4 10.X.Y.Z, IPv6 2001:db8:K:I::H (K < 0x8000);
#   a: 25 addresses the admin writes (10.200.X.Y, 2001:db8:ffXX:I::1);
#   n: 20 never seen (10.201.X.Y, 2001:db8:8XXX:I::1).
diag "seed $seed; $seconds s; the checks' expiry $expiry s"
awk -v seed="$seed" -v dir="$logs" 'BEGIN {
    srand(seed)
    for (l = 1; l <= 3; l++)
        for (i = 0; i < 60; i++) {
            if (rand() < 0.2)
                a = sprintf("2001:db8:%x:%x::%x", 1 + int(rand() * 32766), 1 + int(rand() * 65534),
                    1 + int(rand() * 65534))
            else
                a = sprintf("10.%d.%d.%d", l, int(rand() * 256), 1 + int(rand() * 254))
            print a > (dir "/l" l ".addrs")
        }
    for (i = 0; i < 25; i++)
        print (i % 5 == 4 ? sprintf("2001:db8:ff%02x:%x::1", i, 1 + int(rand() * 65534)) : \
            sprintf("10.200.%d.%d", i, 1 + int(rand() * 254))) > (dir "/a.addrs")
    for (i = 0; i < 20; i++)
        print (i % 5 == 4 ? sprintf("2001:db8:8%03x:%x::1", i, 1 + int(rand() * 65534)) : \
            sprintf("10.201.%d.%d", i, 1 + int(rand() * 254))) > (dir "/n.addrs")
}'
# Duplicates within a list are harmless; the checks try, for an IPv6 login, another address
# of its /64 too.
sort -u "$logs"/l1.addrs "$logs"/l2.addrs "$logs"/l3.addrs >"$logs/logins.addrs"
awk -F: 'NF > 1 { print; printf "%s:%s:%s:%s:1:2:3:%s\n", $1, $2, $3, $4, $NF; next } { print }' \
    "$logs/logins.addrs" >"$logs/checked.addrs"
cat "$logs/a.addrs" "$logs/n.addrs" >>"$logs/checked.addrs"
# The keys no check may ever grant: the admin's, and those never seen.
cat "$logs/a.addrs" "$logs/n.addrs" | awk -F: 'NF > 1 { print $1 ":" $2 ":" $3 ":" $4 "::_64"; next }
    { print }' >"$logs/never.keys"
awk -v seed="$seed" 'BEGIN { srand(seed + 1) } { print rand(), $0 }' "$logs/checked.addrs" |
    sort -n | cut -d' ' -f2 >"$logs/c1.addrs"
awk -v seed="$seed" 'BEGIN { srand(seed + 2) } { print rand(), $0 }' "$logs/checked.addrs" |
    sort -n | cut -d' ' -f2 >"$logs/c2.addrs"

start=$(date +%s%3N)
end=$((start + seconds * 1000))
actors=
# shellcheck disable=SC2046 # one address per word
{
    start_bg sh "$0" --actor login "$end" "$logs/l1.log" u1 "$pop_direct" \
        $(cat "$logs/l1.addrs") 2>"$logs/l1.err"
    actors="$actors $LAST_PID"
    start_bg sh "$0" --actor login "$end" "$logs/l2.log" u2 "$pop_direct" \
        $(cat "$logs/l2.addrs") 2>"$logs/l2.err"
    actors="$actors $LAST_PID"
    start_bg sh "$0" --actor login "$end" "$logs/l3.log" u3 "$pop_sentinels" \
        $(cat "$logs/l3.addrs") 2>"$logs/l3.err"
    actors="$actors $LAST_PID"
    start_bg sh "$0" --actor check "$end" "$logs/c1.log" "$smtp RELAY_EXPIRY=$expiry" \
        $(cat "$logs/c1.addrs") 2>"$logs/c1.err"
    actors="$actors $LAST_PID"
    start_bg sh "$0" --actor check "$end" "$logs/c2.log" "$smtp RELAY_EXPIRY=$expiry" \
        $(cat "$logs/c2.addrs") 2>"$logs/c2.err"
    actors="$actors $LAST_PID"
    start_bg sh "$0" --actor admin "$end" "$logs/a.log" $(cat "$logs/a.addrs") \
        2>"$logs/a.err"
    actors="$actors $LAST_PID"
}

# Every actor ends its last run after the deadline; one still running 60 s later hung.
# shellcheck disable=SC2086 # the PIDs, one per word
actors_hung $((end + 60000)) $actors
is "$ACTORS_HUNG" 0 "0 hung programs: every actor stopped by itself at the deadline"

# ---- the verdict on the run ------------------------------------------------------------------------
# A key per address: an IPv6 address's /64.
cat "$logs"/l1.log "$logs"/l2.log "$logs"/l3.log "$logs"/c1.log "$logs"/c2.log \
    2>/dev/null | awk -v e="$expiry" -v never="$logs/never.keys" '
    function key(a,    g) {
        if (index(a, ":") == 0) return a
        split(a, g, ":")
        return g[1] ":" g[2] ":" g[3] ":" g[4] "::_64"
    }
    function fl(ms) { return int(ms / 1000) }
    BEGIN { while ((getline a < never) > 0) nv[a] = 1 }
    $1 == "L" {
        nl++
        if ($5 != 42) badlogin++
        k = key($2); n = ++cnt[k]; tb[k, n] = $3; ta[k, n] = $4
        next
    }
    $1 == "C" { nc++; c_a[nc] = $2; c_0[nc] = $3; c_1[nc] = $4; c_rc[nc] = $5 }
    END {
        for (i = 1; i <= nc; i++) {
            k = key(c_a[i]); t0 = c_0[i]; t1 = c_1[i]; rc = c_rc[i]
            if (rc != 0 && rc != 1) { badcheck++; continue }
            if (rc == 0) granted++; else refused++
            may = 0
            if (!(k in nv))
                for (j = 1; j <= cnt[k]; j++)
                    if (tb[k, j] <= t1 && fl(t0 - 20) - fl(ta[k, j]) <= e) may = 1
            if (rc == 0 && !may) {
                stale++
                if (shown++ < 5)
                    print "# stale granted: " c_a[i] " checked " t0 "-" t1
            }
        }
        printf "logins %d checks %d granted %d refused %d stale %d badlogin %d badcheck %d\n",
            nl, nc, granted, refused, stale, badlogin + 0, badcheck + 0
    }' >"$logs/verdict"
grep '^# ' "$logs/verdict"
# shellcheck disable=SC2046 # the counts, one per word
set -- $(grep -v '^# ' "$logs/verdict")
logins=$2 checks=$4 granted_n=$6 refused_n=$8 stale=${10} badlogin=${12} badcheck=${14}
writes=$(grep -c '^A ' "$logs/a.log" 2>/dev/null)
sanitizer=$(cat "$logs"/*.err | grep -c -e 'Sanitizer' -e 'runtime error')
unrecorded=$(cat "$logs"/l?.err | grep -c '^relay-allow: warning: unable to record')
diag "logins $logins (not recorded, one line each: $unrecorded), checks $checks" \
    "($granted_n granted, $refused_n refused), the admin's writes $writes"
other=$(cat "$logs"/*.err | grep -v -e '^relay-allow: recorded ' \
    -e '^relay-allow: warning: unable to record ' -e '^relay-check: warning: invalid record ' |
    sort | uniq -c | sort -rn)
[ -z "$other" ] || echo "$other" | head -5 | diag
check "logins and checks ran, and the admin wrote" test "$logins" -ge 1 -a "$checks" -ge 1 \
    -a "$writes" -ge 1
is "$badlogin" 0 "every login ran its next program"
is "$badcheck" 0 "every check ran its next program"
is "$sanitizer" 0 "no sanitizer report"
is "$stale" 0 "0 stale allowances granted"

# ---- every recorded login, eventually granted on the replica --------------------------------------
# relay-allow says "recorded KEY user=U" for each login it recorded; an IPv6 key is tried as
# the first address of its /64.
sed -n 's/^relay-allow: recorded \([^ ]*\) .*/\1/p' "$logs"/l?.err | sed 's/::_64$/::1/' |
    sort -u >"$logs/recorded"
recorded=$(wc -l <"$logs/recorded" | tr -d ' ')
check "some logins were recorded" test "$recorded" -gt 0
# The primary's user for each: the login's (u1, u2, u3), or the login is not there.
notprimary=0
: >"$logs/want"
while read -r a; do
    case $a in *:*) key=$(echo "$a" | cut -d: -f1-4)::_64 ;; *) key=$a ;; esac
    user=$(redis_admin p GET "relaylease:$key" | cut -d' ' -f4)
    case $user in
    u[123]) echo "$a $user" >>"$logs/want" ;;
    *)
        notprimary=$((notprimary + 1))
        diag "recorded, but not on the primary: $a ($user)"
        ;;
    esac
done <"$logs/recorded"
# left: relay-check on the replica (RELAY_EXPIRY=900) does not yet grant each address in
# $logs/want with its user passed on; those go to $logs/left, which becomes the list.
# shellcheck disable=SC2317 # called through eventually
left() {
    : >"$logs/left"
    while read -r a user; do
        # shellcheck disable=SC2086,SC2016 # the settings, one per word; expanded by that shell
        got=$(env $smtp RELAY_EXPIRY=900 RELAY_REMOTEINFO=1 TCPREMOTEIP="$a" \
            "$RELAY_BIN/relay-check" /bin/sh -c 'echo "${RELAYCLIENT+set} $TCPREMOTEINFO"' \
            </dev/null 2>/dev/null)
        [ "$got" = "set $user" ] || echo "$a $user" >>"$logs/left"
    done <"$logs/want"
    mv "$logs/left" "$logs/want"
    [ ! -s "$logs/want" ]
}
eventually 60 left
missing=$(wc -l <"$logs/want" | tr -d ' ')
[ "$missing" -eq 0 ] || head -n 5 "$logs/want" | diag
diag "recorded logins: $recorded"
is "$notprimary" 0 "every login recorded is on the primary"
is "$missing" 0 "every login recorded is eventually granted on the replica"

# ---- the cdb built from the replica grants what relay-check grants -------------------------------
# The store no longer changes, and every record is far from the edge of RELAY_EXPIRY=900 (the
# logins are minutes old at most, the admin's are 100 s old, 1000 s or more, or ahead).
if command -v tcprulescheck >/dev/null 2>&1; then
    printf '10.201.0.:deny\n:allow\n' >"$logs/rules.txt"
    # shellcheck disable=SC2086 # the settings, one per word
    env $smtp RELAY_EXPIRY=900 "$RELAY_BIN/relay-cdb" \
        "$logs/rules.cdb" "$logs/rules.tmp" <"$logs/rules.txt" 2>"$logs/cdb.err"
    cdb_rc=$?
    is "$cdb_rc" 0 "relay-cdb builds from the replica"
    [ "$cdb_rc" -eq 0 ] || diag <"$logs/cdb.err"
    sanitizer=$(grep -c -e 'Sanitizer' -e 'runtime error' "$logs/cdb.err")
    is "$sanitizer" 0 "relay-cdb: no sanitizer report"
    # check_says ADDRESS: 1 if relay-check on the replica grants, 0 if not; false if it could
    # not read the replica (a lookup that timed out on a busy machine: asked again).
    check_says() {
        # shellcheck disable=SC2086,SC2016 # the settings, one per word; expanded by that shell
        env $smtp RELAY_EXPIRY=900 TCPREMOTEIP="$1" "$RELAY_BIN/relay-check" \
            /bin/sh -c '[ "${RELAYCLIENT+set}" = set ]' </dev/null 2>"$logs/says.err"
        cs_rc=$?
        ! grep -q 'warning: unable to read' "$logs/says.err" || return 1
        case $cs_rc in 0) echo 1 ;; 1) echo 0 ;; *) echo "exit $cs_rc" ;; esac
    }
    agree=0 disagree=0 cdb_granted=0
    while read -r a; do
        c=$(TCPREMOTEIP=$a tcprulescheck "$logs/rules.cdb" 2>/dev/null |
            grep -c '^set environment variable RELAYCLIENT=')
        k=
        for _ in 1 2 3 4 5; do
            k=$(check_says "$a") && break
            k="no answer"
        done
        case $a in 10.201.0.*) [ "$k" != 1 ] || k="1, under the static deny" ;; esac
        if [ "$c" = "$k" ]; then
            agree=$((agree + 1))
            [ "$c" = 0 ] || cdb_granted=$((cdb_granted + 1))
        else
            disagree=$((disagree + 1))
            [ "$disagree" -gt 5 ] || diag "cdb $c, relay-check $k: $a"
        fi
    done <"$logs/checked.addrs"
    diag "cdb: $agree addresses agree ($cdb_granted granted), $disagree disagree"
    check "cdb: some addresses granted" test "$cdb_granted" -gt 0
    is "$disagree" 0 "cdb: the cdb built from the replica grants exactly what relay-check grants"
else
    skip "cdb agreement" "no tcprulescheck (ucspi-tcp)"
fi
done_testing
