#!/bin/sh
# run: long once
# t-fuzz.sh: a short run of every libFuzzer harness (fuzz/run, FUZZ_SECONDS each; 30 by
# default here, 60 in `make fuzz`). One TAP line per harness: ok if nothing crashed. A crash
# input is minimized into fuzz/crashes, where tests/unit-fuzz-regress replays it from then on.
# Skipped where clang's libFuzzer is not installed (tests/deps.sh --all installs it).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

if ! command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1; then
    skip "fuzz each harness" "clang is not installed"
    done_testing
fi
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
    >"$SCRATCH/probe.c"
if ! "${FUZZ_CC:-clang}" -fsanitize=fuzzer -o "$SCRATCH/probe" "$SCRATCH/probe.c" \
    >"$SCRATCH/probe.log" 2>&1; then
    diag <"$SCRATCH/probe.log"
    skip "fuzz each harness" "clang cannot link libFuzzer (libclang-rt-dev)"
    done_testing
fi

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
export FUZZ_SECONDS
for c in "$lib_top"/fuzz/*.c; do
    h=${c##*/}
    h=${h%.c}
    [ -d "$lib_top/fuzz/corpus/$h" ] || continue
    nice sh "$lib_top/fuzz/run" "$h" >"$SCRATCH/$h.out" 2>&1
    rc=$?
    summary=$(grep "^fuzz $h:" "$SCRATCH/$h.out" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        ok "fuzz $h for $FUZZ_SECONDS s: ${summary#fuzz "$h": }"
    else
        not_ok "fuzz $h for $FUZZ_SECONDS s (exit $rc)"
        tail -n 30 "$SCRATCH/$h.out" | diag
    fi
done
done_testing
