# tests/faults-lib.sh: strace's fault injection, shared by t-faults.sh (the directory store)
# and t-redis-faults.sh (the Redis path). Source it after lib.sh, with $errors set to the
# errors to inject; do not run it. It sets $out (a directory for the runs' files), $marker
# (the file the caller's next program writes) and the tallies $injected, $missed, $absorbed
# and $hung, and gives:
#   faults_need DESC      skip the file if strace cannot inject faults here
#   inject ...            make each call of one program's case fail in turn (below)
#   check_exec, check_check_fresh, check_check_deny: CHECKs for relay-allow and relay-check
#   line_start, fault_lines, other_lines: a program's lines on stderr
#   faults_report         the file's last checks and figures
# shellcheck shell=sh
# shellcheck disable=SC2154,SC2034 # errors: the caller's; not_injected, ij_*: set by the caller

out=$SCRATCH/out
marker=$SCRATCH/marker
mkdir -p "$out" || exit 111
# LeakSanitizer cannot run under a tracer; the torture tests cover leaks.
ASAN_OPTIONS=detect_leaks=0
export ASAN_OPTIONS
injected=0 missed=0 absorbed=0 hung=0
# What inject does differently for a case, set by the caller (each empty: not used):
#   ij_vars    VAR=value words: the program's settings, given through env(1)
#   ij_stdin   the program's standard input (else /dev/null)
#   ij_runner  a command that strace is started through (t-faults.sh's spawn_run)
#   ij_syslog  set: the program's lines are syslog datagrams (see line_start)
#   ij_guard   seconds: a run with a fault still going after that is killed, and fails as
#              hung (a guard against a hang, never a measure)
#   ij_fds     set: the next program writes the descriptors it was given to $marker.fd;
#              the normal run must run it, and no run may pass a descriptor on
ij_vars='' ij_stdin='' ij_runner='' ij_syslog='' ij_guard='' ij_fds=''

# faults_need DESC: skip the file (as DESC) if this strace cannot inject faults.
faults_need() {
    if ! command -v strace >/dev/null 2>&1 ||
        ! strace -qq -o /dev/null -e inject=getppid:error=EIO true 2>/dev/null; then
        skip "$1" "strace with inject= does not work here"
        done_testing
    fi
}

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

# line_start PROG: how PROG's lines start: "PROG: " on stderr; with $ij_syslog set, as
# syslog datagrams ("<22>Dec  2 10:00:00 PROG[123]: ") that policy-pair -l copied there.
line_start() {
    if [ -n "$ij_syslog" ]; then
        printf '%s\n' "^<[0-9]*>.* $1\\[[0-9]*\\]: "
    else
        printf '%s\n' "^$1: "
    fi
}

# fault_lines FILE PROG: how many lines report a fault (warnings and fatal errors).
fault_lines() {
    fl_start=$(line_start "$2")
    grep -c -e "${fl_start}warning: " -e "${fl_start}fatal: " "$1"
}

# other_lines FILE PROG: lines that are neither PROG's own nor expected (sanitizer reports...).
other_lines() {
    grep -v -c "$(line_start "$2")" "$1"
}

# ij_strace GUARD ARGS...: strace -f -qq ARGS (its options, then PROG and PROG's arguments)
# as the case asks: with $ij_vars, through $ij_runner, killed after GUARD seconds if GUARD
# is set (exit 124 or 137), standard input $ij_stdin; stdout and stderr into $out.
ij_strace() {
    ij_guard_s=$1
    shift
    # shellcheck disable=SC2086 # the runner's and the settings' words
    $ij_runner ${ij_vars:+env $ij_vars} ${ij_guard_s:+timeout -k 5 $ij_guard_s} \
        strace -f -qq "$@" <"${ij_stdin:-/dev/null}" >"$out/stdout" 2>"$out/err"
}

# inject DESC PROG SETUP CHECK MARKER ENDRE ARGS...: trace a normal run of PROG ARGS (after
# SETUP) to find its calls from the first line holding MARKER to the first matching ENDRE
# (see sites); then for each call site and each error, run SETUP, run PROG under strace with
# that one call failing, and run CHECK, which sees $rc, $call (the injected line), $err (the
# stderr file) and $errno, and prints nothing if all is well, else what is wrong. Beyond
# CHECK, a fault may add one line at most to the warnings and fatal lines of the normal run,
# and none that is not PROG's. The ij_* settings above apply to both runs, but for the guard.
inject() {
    ij_desc=$1 ij_prog=$2 ij_setup=$3 ij_check=$4 ij_mark=$5 ij_end=$6
    shift 6
    $ij_setup
    rm -f "$marker" "$marker.fd"
    ij_strace '' -o "$out/trace" "$RELAY_BIN/$ij_prog" "$@"
    sites "$out/trace" "$ij_mark" "$ij_end" >"$out/sites"
    if [ ! -s "$out/sites" ]; then
        not_ok "$ij_prog, $ij_desc: the normal run's calls are found in its trace"
        diag <"$out/err"
        return
    fi
    if [ -n "$ij_fds" ]; then
        if [ ! -f "$marker" ]; then
            not_ok "$ij_prog, $ij_desc: the normal run ran the next program"
            diag <"$out/err"
            return
        fi
        is "$(cat "$marker.fd")" "" "$ij_prog, $ij_desc: a normal run passes no descriptor on"
    fi
    # What the normal run says (relay-check's warning about a record under another key).
    ij_base=$(fault_lines "$out/err" "$ij_prog")
    ij_ok=0 ij_bad=0 ij_n=0
    while read -r name before count; do
        case $not_injected in *" $name "*) continue ;; esac
        i=1
        while [ "$i" -le "$count" ]; do
            errors_now >"$out/errnos"
            read -r ij_errnos <"$out/errnos"
            for errno in $ij_errnos; do
                $ij_setup
                rm -f "$marker" "$marker.fd"
                ij_strace "$ij_guard" -o "$out/itrace" \
                    -e trace="$name,open,openat,read,fcntl,execve,exit_group" \
                    -e inject="$name:error=$errno:when=$((before + i))" \
                    "$RELAY_BIN/$ij_prog" "$@"
                rc=$?
                call=$(landed "$out/itrace" "$ij_mark" "$ij_end")
                if [ -n "$ij_guard" ] && { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; }; then
                    hung=$((hung + 1))
                    not_ok "$ij_prog, $ij_desc: $name #$i $errno: the run ended by itself"
                    continue
                fi
                if [ -z "$call" ]; then
                    [ -z "${FAULTS_DEBUG:-}" ] || diag "missed: $ij_prog $name #$i $errno"
                    missed=$((missed + 1))
                    continue
                fi
                injected=$((injected + 1))
                ij_n=$((ij_n + 1))
                err=$out/err
                why=$($ij_check)
                ij_lines=$(fault_lines "$err" "$ij_prog")
                [ "$ij_lines" -le $((ij_base + 1)) ] ||
                    why="$why; $ij_lines lines for one fault, $ij_base without it"
                [ "$(other_lines "$err" "$ij_prog")" -eq 0 ] ||
                    why="$why; stderr has lines not from $ij_prog"
                if [ -n "$ij_fds" ] && [ -n "$(cat "$marker.fd" 2>/dev/null)" ]; then
                    why="$why; descriptors passed to the next program:$(cat "$marker.fd")"
                fi
                if [ -z "$why" ]; then
                    ij_ok=$((ij_ok + 1))
                    [ "$ij_lines" -gt "$ij_base" ] || absorbed=$((absorbed + 1))
                else
                    ij_bad=$((ij_bad + 1))
                    not_ok "$ij_prog, $ij_desc: $name #$i $errno"
                    diag "injected: $call" "exit $rc: ${why#; }"
                    diag <"$err"
                fi
            done
            i=$((i + 1))
        done
    done <"$out/sites"
    fault_summary
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

# check_check_fresh, check_check_deny: relay-check's CHECKs with a fresh record (it runs the
# next program, and a grant lost to the fault is said in one warning) and with a stale,
# missing or foreign one (it never grants because of a fault).
check_check_fresh() {
    check_exec relay-check
    case $call in execve*) return ;; esac
    if ! grep -q granted "$marker" 2>/dev/null; then
        [ "$(grep -c "$(line_start relay-check)warning: " "$err")" -eq 1 ] ||
            echo "; the grant was lost, and not reported in one warning line"
    fi
}
check_check_deny() {
    check_exec relay-check
    ! grep -q granted "$marker" 2>/dev/null || echo "; granted because of a fault"
}

# faults_report: the file's last lines: the tallies, a check that faults were injected and,
# with the hang guard ($ij_guard), one that no run hung.
faults_report() {
    diag "faults injected: $injected ($missed runs where the fault missed the program's range)," \
        "$([ "$full" = 1 ] && echo "every error at every call (FAULTS_FULL)" || echo "one error at each call, in turn (FAULTS_FULL=1: all)")"
    diag "handled without a stderr line beyond the normal run's, the outcome unchanged: $absorbed"
    check "faults were injected" test "$injected" -gt 0
    [ -z "$ij_guard" ] || is "$hung" 0 "no run hung"
}
