#!/bin/sh
# run: quick long
# t-faults.sh: fault injection with strace. Each system call that relay-allow, relay-check,
# relay-expire, relay-cdb and relay-policy make on a normal run (found by tracing that run)
# is made to fail, one call at a time. With FAULTS_FULL=1 (make check-all) each call fails
# with each of ENOSPC, EIO, EACCES and EMFILE; by default each call fails once, with one of
# them in turn, so that every call site is hit and every error is used on every program, in a
# quarter of the runs.
#   relay-allow and relay-check still exec the next program (it runs and writes its marker),
#     except when the exec itself fails: then they exit 111 with one fatal line.
#   Nothing fresh is lost: a refresh that fails leaves the fresh record in place, granting.
#   relay-check never grants a stale or missing record because of a fault.
#   relay-expire exits 111 only when it cannot read (or lock, or report on) the store, never
#     removes a fresh record, and a failed unlink leaves the record it was removing.
#   relay-cdb (a build from rules and a store) either builds the right cdb or exits 111 with
#     one fatal line, the old rules.cdb in place byte for byte and no rules.tmp left; a normal
#     build after the fault gives the right cdb. A bad rules line exits 100, nothing touched.
#   relay-policy (five requests in two batches: fresh, none, stale, SMTP AUTH, fresh; from
#     files, and on spawn(8)'s one socket with its lines in syslog) writes only whole replies,
#     in order, never OK where DUNNO was due; it answers all and exits 0 (a store fault turns
#     an OK into DUNNO, said in one warning) or exits 111 with one fatal line on the request,
#     the reply or SIGPIPE. Nothing but replies comes back on spawn(8)'s socket.
#   Each fault that changes the outcome is reported in exactly one stderr line, and no fault
#     in more than one. No temp file is left behind.
# Only the programs' own calls are hit: strace's when= counts each call in the process, so
# the calls of the runtime before main (the sanitizer build's) and of the next program after
# the exec are left alone; every run checks in its trace that the fault landed in that range.
# The setups and checks are called through variables, which shellcheck cannot follow:
# shellcheck disable=SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

need_built relay-allow relay-check relay-expire relay-cdb relay-policy
errors="ENOSPC EIO EACCES EMFILE"
# shellcheck source-path=SCRIPTDIR source=faults-lib.sh
. "$(dirname "$0")/faults-lib.sh"
faults_need "fault injection"

store=$SCRATCH/store
mkdir -p "$store" || exit 111
RELAY_DIR=$store
export RELAY_DIR

# The next program, given to relay-allow and relay-check as "$@": it writes whether
# RELAYCLIENT was set to the marker file.
# shellcheck disable=SC2016 # expanded by that shell
set -- /bin/sh -c 'echo "ran ${RELAYCLIENT+granted}" >"$0"' "$marker"

# ---- store states -----------------------------------------------------------------------------
clean_store() {
    find "$store" -mindepth 1 -delete
}
record() { # KEY AGE-SECONDS USER
    printf 'relaylease1 %s %s\n' "$1" "$3" >"$store/$1"
    touch -d "$2 seconds ago" "$store/$1"
}
temps_left() {
    find "$store" -name '.tmp.*' | wc -l | tr -d ' '
}

setup_new() { clean_store; }
setup_fresh() { clean_store && record 10.0.0.1 100 bob; }
setup_stale() { clean_store && record 10.0.0.1 2000 bob; }
setup_sweep() {
    clean_store
    record 10.0.0.1 100 fresh
    record 10.0.0.2 2000 stale
    printf x >"$store/.tmp.99999.10.0.0.3"
    touch -d '10 minutes ago' "$store/.tmp.99999.10.0.0.3"
}

# ---- relay-allow ---------------------------------------------------------------------------------
check_allow_new() {
    check_exec relay-allow
    [ "$(temps_left)" -eq 0 ] || echo "; a temp file is left"
    if ! file_is "$store/10.0.0.1" 'relaylease1 10.0.0.1 bob\n'; then
        [ "$(fault_lines "$err" relay-allow)" -eq 1 ] ||
            echo "; the login was not recorded, and not reported in one line"
    fi
}
check_allow_refresh() {
    check_exec relay-allow
    [ "$(temps_left)" -eq 0 ] || echo "; a temp file is left"
    granted 10.0.0.1 || echo "; the fresh allowance was lost"
    if [ -z "$(find "$store/10.0.0.1" -newermt '50 seconds ago' 2>/dev/null)" ]; then
        [ "$(fault_lines "$err" relay-allow)" -eq 1 ] ||
            echo "; the refresh failed, and was not reported in one line"
    fi
}

diag "relay-allow: a new login, then a refresh of a fresh allowance"
TCPREMOTEIP=10.0.0.1 USER=bob RELAY_LOG=1
export TCPREMOTEIP USER RELAY_LOG
inject "a new login" relay-allow setup_new check_allow_new "\"$store" '^execve\(' "$@"
RELAY_LOG=0
inject "a refresh" relay-allow setup_fresh check_allow_refresh "\"$store" '^execve\(' "$@"
unset USER

# ---- relay-check ---------------------------------------------------------------------------------
# check_check_fresh and check_check_deny: faults-lib.sh's.
diag "relay-check: a fresh record, a stale one, none"
RELAY_LOG=1
inject "a fresh record" relay-check setup_fresh check_check_fresh "\"$store" '^execve\(' "$@"
inject "a stale record" relay-check setup_stale check_check_deny "\"$store" '^execve\(' "$@"
inject "no record" relay-check setup_new check_check_deny "\"$store" '^execve\(' "$@"
unset TCPREMOTEIP

# ---- relay-expire --------------------------------------------------------------------------------
# What a fault in this call may do to the exit status: "111" (the store cannot be read: it
# must exit 111), "0" (one entry or a cleanup: it must go on and exit 0), "either" (the lock,
# or its report on stdout: 111 is allowed).
expire_class() {
    case $call in
    getdents64* | "open(\"$store\""* | "openat(AT_FDCWD, \"$store\""* | openat*'"."'*)
        echo 111 ;;
    *'".lock"'* | flock* | fstat* | 'newfstatat('*'""'* | fcntl* | write* | ioctl*)
        echo either ;;
    # The store's own stat: for the warning about its mode (a failure there is silent), and,
    # as root, for the owner to run as (a failure there is fatal: no sweep as root).
    "newfstatat(AT_FDCWD, \"$store\","* | "stat(\"$store\","*)
        echo either ;;
    *) echo 0 ;;
    esac
}
check_expire_common() {
    class=$(expire_class)
    case $class.$rc in
    111.111 | 0.0 | either.0 | either.111) ;;
    *) echo "; exit $rc for a fault of class $class" ;;
    esac
    n=$(fault_lines "$err" relay-expire)
    if [ "$rc" -eq 111 ]; then
        [ "$n" -eq 1 ] && grep -q '^relay-expire: fatal: ' "$err" ||
            echo "; exit 111 without one fatal line"
    fi
    [ -f "$store/10.0.0.1" ] || echo "; the fresh record was removed"
}
check_sweep() {
    check_expire_common
    case $call in
    unlinkat*10.0.0.2* | unlink*10.0.0.2*)
        [ -f "$store/10.0.0.2" ] || echo "; the failed unlink lost the record"
        ;;
    esac
    if [ "$rc" -eq 0 ] && { [ -e "$store/10.0.0.2" ] || [ -e "$store/.tmp.99999.10.0.0.3" ]; }; then
        [ "$(fault_lines "$err" relay-expire)" -eq 1 ] ||
            echo "; a stale entry was kept, and that was not reported in one line"
    fi
}
check_list() {
    check_expire_common
    if [ "$rc" -eq 0 ] && ! grep -q '^10\.0\.0\.1 fresh ' "$out/stdout"; then
        [ "$(fault_lines "$err" relay-expire)" -eq 1 ] ||
            echo "; the live record is missing from the list, and not reported in one line"
    fi
}

diag "relay-expire: a sweep (one fresh, one stale record, one old temp file), and a list"
inject "a sweep" relay-expire setup_sweep check_sweep "\"$store" '^exit_group\('
inject "a list (-l)" relay-expire setup_sweep check_list "\"$store" '^exit_group\(' -l

# ---- relay-cdb -----------------------------------------------------------------------------------
# A build from three rules and a store with one fresh and one stale allowance. The old cdb is
# tcprules' output for other rules, kept as $cdbdir/old.cdb to compare with byte for byte;
# the right new cdb is what a normal run writes, compared as `cdb -d` shows it, sorted.
cdbdir=$SCRATCH/cdb
mkdir -p "$cdbdir" || exit 111
printf '127.:allow,RELAYCLIENT=""\n10.0.0.:allow,X="y"\n:deny\n' >"$cdbdir/rules.txt"
printf '192.0.2.:allow\n:deny\n' | tcprules "$cdbdir/old.cdb" "$cdbdir/old.tmp" ||
    printf '192.0.2.:allow\n:deny\n' | "$RELAY_BIN/relay-cdb" "$cdbdir/old.cdb" "$cdbdir/old.tmp"
cdb_dump() { # FILE: its records, sorted, each NUL shown as '|'
    cdb -d "$1" | tr '\000' '|' | LC_ALL=C sort
}
setup_cdb() {
    clean_store
    record 10.0.0.1 100 bob
    record 10.0.0.2 2000 stale
    rm -f "$cdbdir/rules.tmp"
    cp "$cdbdir/old.cdb" "$cdbdir/rules.cdb"
}
check_cdb() {
    n=$(fault_lines "$err" relay-cdb)
    case $rc in
    0)
        cdb_dump "$cdbdir/rules.cdb" >"$out/got" 2>/dev/null
        if ! cmp -s "$out/got" "$cdbdir/want"; then
            [ "$n" -eq 1 ] || echo "; exit 0 with a wrong cdb, and not reported in one line"
        fi
        ;;
    111)
        [ "$n" -eq 1 ] && grep -q '^relay-cdb: fatal: ' "$err" ||
            echo "; exit 111 without one fatal line"
        cmp -s "$cdbdir/rules.cdb" "$cdbdir/old.cdb" || echo "; the old cdb was changed"
        ;;
    *) echo "; exit $rc, not 0 or 111" ;;
    esac
    # tcprules leaves rules.tmp when it fails; relay-cdb removes it on a failed write or
    # rename, but not when it fails while taking it (it may be another builder's), nor after
    # a failed close. Left only with exit 111, and never in the way of the next build.
    if [ -e "$cdbdir/rules.tmp" ]; then
        echo >>"$out/tmp_left"
        [ "$rc" -eq 111 ] || echo "; rules.tmp is left behind after exit $rc"
    fi
    RELAY_LOG=0 "$RELAY_BIN/relay-cdb" "$cdbdir/rules.cdb" "$cdbdir/rules.tmp" \
        <"$cdbdir/rules.txt" 2>/dev/null || echo "; the build after the fault failed"
    cdb_dump "$cdbdir/rules.cdb" >"$out/got" 2>/dev/null
    cmp -s "$out/got" "$cdbdir/want" || echo "; the build after the fault gave a wrong cdb"
}

diag "relay-cdb: a build from rules and a store (one fresh, one stale allowance)"
RELAY_EXPIRY=900
export RELAY_EXPIRY
setup_cdb
"$RELAY_BIN/relay-cdb" "$cdbdir/rules.cdb" "$cdbdir/rules.tmp" <"$cdbdir/rules.txt" 2>"$out/err"
cdb_dump "$cdbdir/rules.cdb" >"$cdbdir/want"
check "relay-cdb: a normal build grants the fresh allowance" grep -q ':10\.0\.0\.1->.*|+RELAYCLIENT=|' "$cdbdir/want"
check "relay-cdb: a normal build leaves the stale one out" \
    test "$(grep -c '10\.0\.0\.2' "$cdbdir/want")" -eq 0
ij_stdin=$cdbdir/rules.txt
: >"$out/tmp_left"
inject "a build" relay-cdb setup_cdb check_cdb 'read(0, ' '^exit_group\(' \
    "$cdbdir/rules.cdb" "$cdbdir/rules.tmp"
ij_stdin=
diag "relay-cdb: faults after which rules.tmp was left (as tcprules leaves it): $(wc -l <"$out/tmp_left" | tr -d ' ')"

# A line tcprules refuses: exit 100, one line that names it, nothing touched.
setup_cdb
printf '127.:allow\n10.:allow,X\n' | "$RELAY_BIN/relay-cdb" "$cdbdir/rules.cdb" \
    "$cdbdir/rules.tmp" 2>"$out/err"
is "$?" 100 "relay-cdb: a bad rules line exits 100"
check "relay-cdb: a bad rules line is named in one fatal line" \
    test "$(grep -c '^relay-cdb: fatal: .*line 2' "$out/err")" -eq 1
check "relay-cdb: a bad rules line leaves the old cdb" cmp -s "$cdbdir/rules.cdb" "$cdbdir/old.cdb"
check "relay-cdb: a bad rules line leaves no rules.tmp" test ! -e "$cdbdir/rules.tmp"

# ---- relay-policy --------------------------------------------------------------------------------
# Five requests in one input: a fresh allowance (OK), no record, a stale record, the fresh
# client after SMTP AUTH (each DUNNO), the fresh one again (OK). Three are padded with ignored
# attributes so that the input is more than the program's buffer takes in one read: two reads
# of requests, two batches of replies (OK DUNNO DUNNO, then DUNNO OK), then the end.
pol_req() { # ADDRESS INSTANCE PADDING-LINES [SASL-USER]
    printf 'request=smtpd_access_policy\nclient_address=%s\ninstance=%s\n' "$1" "$2"
    awk -v n="$3" 'BEGIN { l = "x="; while (length(l) < 8000) l = l "a"; while (n-- > 0) print l }'
    printf 'sasl_username=%s\n\n' "${4:-}"
}
pol_in=$SCRATCH/policy.in
{
    pol_req 10.0.0.1 1 0
    pol_req 10.0.0.2 2 6
    pol_req 10.0.0.3 3 6
    pol_req 10.0.0.1 4 6 bob
    pol_req 10.0.0.1 5 0
} >"$pol_in"
pol_want="OK DUNNO DUNNO DUNNO OK"
setup_policy() {
    clean_store && record 10.0.0.1 100 bob && record 10.0.0.3 2000 old
    [ -z "$ij_syslog" ] || rm -f "$policy_dev/log"
}
# The replies on stdout as words ("OK DUNNO"), or "junk" if it holds anything but whole
# replies: a partial reply or another line makes Postfix answer 451 to every client.
policy_replies() {
    tr '\n' '|' <"$out/stdout" | awk '
        { s = s $0 } END {
            while (match(s, /^action=(OK|DUNNO)\|\|/)) {
                w = w sep substr(s, 8, RLENGTH - 9); sep = " "
                s = substr(s, RLENGTH + 1)
            }
            print (s == "" ? w : "junk")
        }'
}
check_policy() {
    n=$(fault_lines "$err" relay-policy)
    got=$(policy_replies)
    if [ "$got" = junk ]; then
        echo "; stdout holds more than whole replies: $(head -c 200 "$out/stdout" | tr '\n' '|')"
        return
    fi
    # Word by word: DUNNO where OK was due is a lost grant (said in one line); OK where
    # DUNNO was due is a relay opened by a fault.
    # shellcheck disable=SC2086 # one reply a word
    set -- $pol_want
    lost=0
    for w in $got; do
        case $1.$w in
        OK.OK | DUNNO.DUNNO) ;;
        OK.DUNNO) lost=$((lost + 1)) ;;
        *) echo "; $w where $1 was due: granted because of a fault" ;;
        esac
        shift
    done
    case $rc in
    0)
        [ $# -eq 0 ] || echo "; exit 0 with $# requests unanswered"
        [ "$(grep -c "$(line_start relay-policy)fatal: " "$err")" -eq 0 ] ||
            echo "; a fatal line, and exit 0"
        [ "$lost" -eq 0 ] || [ "$n" -eq 1 ] ||
            echo "; a grant was lost, and not reported in one line"
        ;;
    111)
        [ "$lost" -eq 0 ] || echo "; a grant was lost, and then it exited 111"
        [ "$n" -eq 1 ] &&
            grep -q "$(line_start relay-policy)fatal: unable to \(read the request\|write the reply\|ignore SIGPIPE\): " "$err" ||
            echo "; exit 111 without one fatal line on the request, the reply or SIGPIPE"
        ;;
    *) echo "; exit $rc, not 0 or 111" ;;
    esac
}

diag "relay-policy: five requests (fresh, none, stale, SMTP AUTH, fresh) in two batches"
RELAY_LOG=1
setup_policy
"$RELAY_BIN/relay-policy" <"$pol_in" >"$out/stdout" 2>"$out/err"
is "$? $(policy_replies)" "0 $pol_want" "relay-policy: a normal run answers each request"
# Its one signal call (ignoring SIGPIPE) is its own, not the runtime's: that is hit too.
saved_not_injected=$not_injected
not_injected=$(echo "$not_injected" | sed 's/ rt_sigaction / /')
ij_stdin=$pol_in
inject "files" relay-policy setup_policy check_policy 'fcntl(0, F_GETFD)' '^exit_group\('
ij_stdin=

# As spawn(8) runs it: descriptors 0, 1 and 2 one socket, so its lines go to syslog, here a
# socket of policy-pair's at /dev/log in a private mount namespace (root only). Nothing but
# replies may come back on the socket, whatever fails (the switch to syslog included).
pair=$RELAY_BIN/tests/policy-pair
[ -x "$pair" ] || pair=$lib_top/tests/policy-pair
policy_dev=$SCRATCH/dev
spawn_run() {
    # shellcheck disable=SC2016 # expanded by the inner shell
    unshare -m sh -c 'mount --bind /dev/null "$1/null" && mount --rbind "$1" /dev && shift &&
        exec "$@"' sh "$policy_dev" "$pair" -2 -l /dev/log "$@"
}
if [ "$(id -u)" = 0 ] && [ -x "$pair" ] && unshare -m true 2>/dev/null; then
    mkdir -p "$policy_dev" && : >"$policy_dev/null" || exit 111
    # One small write of policy-pair's: the requests come in one read, the same in each run.
    {
        pol_req 10.0.0.1 1 0
        pol_req 10.0.0.2 2 0
        pol_req 10.0.0.3 3 0
        pol_req 10.0.0.1 4 0 bob
        pol_req 10.0.0.1 5 0
    } >"$SCRATCH/policy-spawn.in"
    ij_stdin=$SCRATCH/policy-spawn.in ij_runner=spawn_run ij_syslog=1
    inject "spawn(8)'s one socket" relay-policy setup_policy check_policy \
        'fcntl(0, F_GETFD)' '^exit_group\('
    ij_stdin='' ij_runner='' ij_syslog=''
else
    skip "relay-policy on spawn(8)'s socket" "needs root, unshare -m and tests/policy-pair"
fi
not_injected=$saved_not_injected

faults_report
done_testing
