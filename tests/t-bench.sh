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
# smoke DESC NAME VAR=value SCRIPT: run bench/SCRIPT --quick with the one setting, its output
# in $SCRATCH/NAME.log, shown if it fails.
smoke() {
    if env "$3" sh "$lib_top/bench/$4" --quick >"$SCRATCH/$2.log" 2>&1; then
        ok "$1"
    else
        not_ok "$1 (exit $?)"
        diag <"$SCRATCH/$2.log"
    fi
}
smoke "benchmarks run in smoke mode" bench BENCH_OUT="$SCRATCH/bench" run
smoke "cdb mode's benchmarks run in smoke mode" cdb BENCH_TMP="$SCRATCH" cdb.sh
# The Redis store's benchmarks start real servers (bench/redis.sh, through redis-lib.sh).
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-sentinel >/dev/null 2>&1 ||
    ! command -v redis-cli >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then
        not_ok "redis-server, redis-sentinel and redis-cli are installed (Debian's redis-server, redis-sentinel, redis-tools)"
    else
        skip "the Redis store's benchmarks run in smoke mode" "redis-server, redis-sentinel or redis-cli is not installed"
    fi
else
    smoke "the Redis store's benchmarks run in smoke mode" redis BENCH_OUT="$SCRATCH/bench" redis.sh
fi
# relay-policy on one connection (bench/policy.sh), and through the real Postfix
# (bench/postfix.sh: root and Debian's postfix, as t-postfix.sh needs).
smoke "relay-policy's benchmark runs in smoke mode" policy BENCH_TMP="$SCRATCH" policy.sh
if [ "$(id -u)" != 0 ] || ! command -v postconf >/dev/null 2>&1; then
    skip "the Postfix benchmark runs in smoke mode" "needs root and Debian's postfix"
else
    smoke "the Postfix benchmark runs in smoke mode" postfix BENCH_OUT="$SCRATCH/bench" postfix.sh
fi
done_testing
