# tests/faults-lib.sh: strace's fault injection, shared by t-faults.sh (the directory store)
# and t-redis-faults.sh (the Redis path). Source it after lib.sh, with $errors set to the
# errors to inject; do not run it.
# shellcheck shell=sh
# shellcheck disable=SC2154,SC2034 # errors: the caller's; not_injected: read by the caller

full=0
[ "${TEST_LONG:-0}" = 1 ] && : "${FAULTS_FULL:=1}"
case ${FAULTS_FULL:-0} in '' | 0) ;; *) full=1 ;; esac
turn=0
# errors_now: the errors to inject at the next call site: all of them (FAULTS_FULL), or the
# next one in turn.
errors_now() {
    if [ "$full" = 1 ]; then
        echo "$errors"
        return
    fi
    turn=$((turn + 1))
    # shellcheck disable=SC2086 # one error per word
    set -- $errors
    shift $((turn % $#))
    echo "$1"
}
# Calls left alone: memory and process bookkeeping of the C runtime, not the programs' logic.
not_injected=" brk mmap munmap mprotect madvise mremap exit_group exit getpid gettid \
set_tid_address arch_prctl rt_sigprocmask rt_sigaction sigaltstack prlimit64 getrandom futex \
sched_yield clock_gettime set_robust_list rseq "
# sites TRACE MARKER ENDRE: for each system call name the program made from the first line
# holding MARKER up to (and including, for execve) the first later line matching ENDRE:
# "name calls-before calls-in-range", in order of first use. when=calls-before+N is then
# the Nth call in the range.
sites() {
    awk -v marker="$2" -v endre="$3" '
        { line = $0; sub(/^[0-9]+ +/, "", line) }
        line !~ /^[a-z_0-9]+\(/ { next }
        { name = line; sub(/\(.*/, "", name) }
        # The exec that starts the program is seen on its way out only: when= does not count it.
        !first++ && name == "execve" { next }
        !started && index(line, marker) { started = 1 }
        started && !ended && line ~ endre {
            ended = 1
            if (name == "execve")
                count(name)
            next
        }
        !started { pre[name]++; next }
        !ended { count(name) }
        function count(name) {
            inr[name]++
            if (!(name in seen)) {
                seen[name] = 1
                order[++n] = name
            }
        }
        END { for (i = 1; i <= n; i++) print order[i], pre[order[i]] + 0, inr[order[i]] }
    ' "$1"
}

# landed TRACE MARKER ENDRE: print the injected call's line if it is in the range.
landed() {
    awk -v marker="$2" -v endre="$3" '
        { line = $0; sub(/^[0-9]+ +/, "", line) }
        !started && index(line, marker) { started = 1 }
        started && /\(INJECTED\)/ { print line; exit }
        started && line ~ endre { exit }
    ' "$1"
}

# fault_summary: inject's last word on one program and case: a check that fails if no fault
# was injected, one that passes if every fault was handled (each that was not has failed
# already), and the call sites tried. Reads inject's ij_* variables and $out/sites.
fault_summary() {
    if [ "$ij_n" -eq 0 ]; then
        not_ok "$ij_prog, $ij_desc: faults injected"
    elif [ "$ij_bad" -eq 0 ]; then
        ok "$ij_prog, $ij_desc: $ij_n faults, every one handled"
    fi
    ij_sites=$(awk '{ printf "%s%s x%s", s, $1, $3; s = ", " }' "$out/sites")
    diag "$ij_prog, $ij_desc: call sites: $ij_sites"
}

# check_exec PROG: for relay-allow and relay-check, which exec: the next program ran (it
# wrote $marker) and its 0 is the exit status, or the exec itself failed: 111 and PROG's
# "unable to run" line. Prints what is wrong, nothing if all is well.
check_exec() {
    case $call in
    execve*)
        [ "$rc" -eq 111 ] || echo "; a failed exec exits $rc, not 111"
        [ ! -f "$marker" ] || echo "; the next program ran although its exec failed"
        grep -q "^$1: fatal: unable to run " "$err" || echo "; no 'unable to run' line"
        ;;
    *)
        [ "$rc" -eq 0 ] || echo "; exit $rc, not the next program's 0"
        [ -f "$marker" ] || echo "; the next program did not run"
        ;;
    esac
}
