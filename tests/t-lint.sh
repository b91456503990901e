#!/bin/sh
# run: long once
# Static analysis is clean: cppcheck and clang-tidy over every C file, shellcheck over every
# shell script (tests/lint, which is also `make lint`). A tool that is not installed is
# skipped. It runs with the plain build only: the sanitizer build has the same sources.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

case $RELAY_BIN in
*/san)
    skip "static analysis" "run with the plain build only"
    done_testing
    ;;
esac

set --
for tool in cppcheck clang-tidy shellcheck; do
    case $tool in
    cppcheck) command=${CPPCHECK:-cppcheck} ;;
    clang-tidy) command=${CLANG_TIDY:-clang-tidy} ;;
    shellcheck) command=${SHELLCHECK:-shellcheck} ;;
    esac
    if command -v "$command" >/dev/null 2>&1; then
        set -- "$@" "$tool"
    else
        skip "$tool" "$command is not installed"
    fi
done
[ $# -gt 0 ] || done_testing

# tests/lint prints one TAP line per tool, its findings before it as comments.
sh "$lib_top/tests/lint" "$@"
