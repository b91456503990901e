#!/bin/sh
# t-redis-failover.sh: the primary dies; Sentinel promotes a replica. Real servers: a primary,
# two replicas (SMTP hosts B and C), three sentinels.
#   - Logins on POP host A go on all through the failover, each one ending by itself with its
#     next program run: recorded, or one line saying why not.
#   - SMTP host C keeps answering from its replica all through it, and keeps granting what
#     was recorded before.
#   - Once the sentinels name the new primary, a login is recorded there and granted on both
#     SMTP hosts.
# No count of logins or checks in the window is asserted: how many fall in it (none, on a
# loaded machine where Sentinel is done before the first) depends on the machine.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-allow relay-check
# shellcheck source-path=SCRIPTDIR source=redis-lib.sh
. "$(dirname "$0")/redis-lib.sh"
redis_need "a Sentinel failover"

redis_cluster r1 r2 || exit 1

export RELAY_DIR="$SCRATCH/no-such-store"
host_a=$(redis_host pop sentinels)
host_b=$(redis_host smtp r1)
host_c=$(redis_host smtp r2)

# login ADDRESS: relay-allow on host A; appends "ADDRESS RC RAN" and its stderr to the logs.
login() {
    rm -f "$SCRATCH/ran"
    # shellcheck disable=SC2086,SC2016 # the host's settings; expanded by the inner shell
    env $host_a TCPREMOTEIP="$1" USER=bob timeout 60 "$RELAY_BIN/relay-allow" \
        sh -c ': >"$1"' sh "$SCRATCH/ran" 2>>"$SCRATCH/logins.err"
    lg_rc=$?
    lg_ran=no
    [ -e "$SCRATCH/ran" ] && lg_ran=yes
    echo "$1 $lg_rc $lg_ran" >>"$SCRATCH/logins.log"
}

login 192.0.2.1
check "before: a login is granted on host B" eventually 60 granted_on "$host_b" 192.0.2.1
check "and on host C" eventually 60 granted_on "$host_c" 192.0.2.1

diag "the primary dies"
redis_kill p
: >"$SCRATCH/logins.log"
: >"$SCRATCH/logins.err"
: >"$SCRATCH/c.log"
i=10
# Logins and checks on host C, one after the other, until the sentinels name a new primary.
while ! sentinels_name r1 && ! sentinels_name r2; do
    login "192.0.2.$i"
    redis_answer "$host_c" 192.0.2.1 >>"$SCRATCH/c.log"
    i=$((i + 1))
    if [ "$i" -gt 250 ]; then
        diag "the sentinels named no new primary in 240 logins"
        break
    fi
done
n=$(wc -l <"$SCRATCH/logins.log" | tr -d ' ')
diag "$n logins and checks on host C during the failover; the logins' lines:"
sort "$SCRATCH/logins.err" | sed 's/192\.0\.2\.[0-9]*/ADDR/' | uniq -c | diag
is "$(awk '$2 != 0 || $3 != "yes"' "$SCRATCH/logins.log")" "" \
    "every login during the failover went on to its next program"
check "each wrote at most one line" test "$(wc -l <"$SCRATCH/logins.err")" -le "$n"
is "$(grep -v -x granted "$SCRATCH/c.log" | sort | uniq -c)" "" \
    "host C kept granting the earlier login all through it (no check refused it)"

if sentinels_name r1; then
    new=r1 other=r2 new_host=$host_b
else
    new=r2 other=r1 new_host=$host_c
fi
check "the sentinels agree on a new primary" sentinels_wait "$new"
diag "the new primary is $new"

diag "after the failover"
login 192.0.2.2
is "$(tail -n 1 "$SCRATCH/logins.log")" "192.0.2.2 0 yes" "a login goes on"
like "$(redis_admin "$new" GET relaylease:192.0.2.2)" "relaylease2 * 192.0.2.2 bob" \
    "and is recorded on the new primary"
check "granted on the new primary's host" eventually 60 granted_on "$new_host" 192.0.2.2
check "the other replica follows the new primary" eventually 60 redis_link_up "$other"
other_host=$host_b
[ "$other" = r2 ] && other_host=$host_c
check "and grants it too" eventually 60 granted_on "$other_host" 192.0.2.2
check "the earlier login is still granted there" eventually 60 granted_on "$other_host" 192.0.2.1

done_testing
