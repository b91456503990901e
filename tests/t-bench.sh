#!/bin/sh
# run: long once
# The benchmarks' smoke mode: every benchmark still runs and does what it measures (the
# allowance is granted, the sweep removes the stale half). Its figures mean nothing; the
# real ones come from `make bench`. Run once, against the plain build.
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
done_testing
