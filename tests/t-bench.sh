#!/bin/sh
# run: long once
# The benchmarks' smoke mode: every benchmark still runs and does what it measures (the
# allowance is granted, the sweep removes the stale half). Its figures mean nothing; the
# real ones come from `make bench`. Run once, against the plain build. bench/redis.sh --quick
# also checks that every login of its storm on host A was granted on host B; bench/policy.sh
# and bench/postfix.sh --quick that every reply was the expected one.
. "$(dirname "$0")/lib.sh"
need_programs
case $RELAY_BIN in
*/san)
    skip "benchmarks run in smoke mode" "timed against the plain build only"
    done_testing
    ;;
esac
if BENCH_OUT=$SCRATCH/bench sh "$lib_top/bench/run" --quick >"$SCRATCH/bench.log" 2>&1; then
    ok "benchmarks run in smoke mode"
else
    not_ok "benchmarks run in smoke mode (exit $?)"
    diag <"$SCRATCH/bench.log"
fi
if BENCH_TMP=$SCRATCH sh "$lib_top/bench/cdb.sh" --quick >"$SCRATCH/cdb.log" 2>&1; then
    ok "cdb mode's benchmarks run in smoke mode"
else
    not_ok "cdb mode's benchmarks run in smoke mode (exit $?)"
    diag <"$SCRATCH/cdb.log"
fi
# The Redis store's benchmarks start real servers (bench/redis.sh, through redis-lib.sh).
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-sentinel >/dev/null 2>&1 ||
    ! command -v redis-cli >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then
        not_ok "redis-server, redis-sentinel and redis-cli are installed (Debian's redis-server, redis-sentinel, redis-tools)"
    else
        skip "the Redis store's benchmarks run in smoke mode" "redis-server, redis-sentinel or redis-cli is not installed"
    fi
elif BENCH_OUT=$SCRATCH/bench sh "$lib_top/bench/redis.sh" --quick >"$SCRATCH/redis.log" 2>&1; then
    ok "the Redis store's benchmarks run in smoke mode"
else
    not_ok "the Redis store's benchmarks run in smoke mode (exit $?)"
    diag <"$SCRATCH/redis.log"
fi
# relay-policy on one connection (bench/policy.sh), and through the real Postfix
# (bench/postfix.sh: root and Debian's postfix, as t-postfix.sh needs).
if BENCH_TMP=$SCRATCH sh "$lib_top/bench/policy.sh" --quick >"$SCRATCH/policy.log" 2>&1; then
    ok "relay-policy's benchmark runs in smoke mode"
else
    not_ok "relay-policy's benchmark runs in smoke mode (exit $?)"
    diag <"$SCRATCH/policy.log"
fi
if [ "$(id -u)" != 0 ] || ! command -v postconf >/dev/null 2>&1; then
    skip "the Postfix benchmark runs in smoke mode" "needs root and Debian's postfix"
elif BENCH_OUT=$SCRATCH/bench sh "$lib_top/bench/postfix.sh" --quick >"$SCRATCH/postfix.log" 2>&1; then
    ok "the Postfix benchmark runs in smoke mode"
else
    not_ok "the Postfix benchmark runs in smoke mode (exit $?)"
    diag <"$SCRATCH/postfix.log"
fi
done_testing
