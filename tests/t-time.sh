#!/bin/sh
# t-time.sh: time (issue 8, class 6).
#   Records dated at the extremes of time_t go through relay-check, relay-expire (sweep, -n,
#   -l) and relay-cdb without a signed overflow (the san build aborts on one), grant nothing,
#   and are swept.
#   A clock stepped back: a record dated 100 s ahead (expiry 900) is kept by the sweep and
#   refused by relay-check with its reason; one 1000 s ahead is removed; one 3 s ahead (clock
#   skew between hosts) grants, as age 0. Each is dated from the clock as it is just before
#   the step that looks at it, and no check needs the step to be quick.
# The extremes need a filesystem that keeps any time_t (tmpfs, /dev/shm); elsewhere (ext4
# clamps to 1901..2446) the same runs see the clamped dates.
# shellcheck disable=SC2016 # the sh -c scripts read their arguments as $1, $2...
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_programs

wide=
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    wide=$(mktemp -d /dev/shm/t-time.XXXXXX 2>/dev/null) || wide=
fi
if [ -n "$wide" ]; then
    # lib.sh removes only SCRATCH: this directory goes too, and the exit status stays.
    # shellcheck disable=SC2317 # called by the trap
    t_cleanup() {
        t_rc=$?
        rm -rf "$wide"
        (exit "$t_rc")
        lib_cleanup
    }
    trap t_cleanup EXIT
    store=$wide/store
else
    diag "no tmpfs: the extreme dates are clamped by the filesystem"
    store=$SCRATCH/store
fi
mkdir "$store" && chmod 755 "$store" || exit 1
export RELAY_DIR="$store" RELAY_EXPIRY=900 RELAY_LOG=1

# no_report DESC FILE: FILE, a run's stderr, has no sanitizer report.
no_report() {
    check "$1: no runtime error" sh -c '! grep -q "runtime error\|Sanitizer" "$1"' sh "$2"
}
# ok_run DESC: the last run exited 0 ($rc) and printed no sanitizer report ($SCRATCH/err).
ok_run() {
    is "$rc" 0 "$1: exits 0"
    no_report "$1" "$SCRATCH/err"
}

diag "records dated at the extremes of time_t"
i=0
for t in -9223372036854775808 -9223372036854775807 -2147483649 -1 0 1 \
    67768036191676799 9223372036854775806 9223372036854775807; do
    i=$((i + 1))
    printf 'relaylease1 10.0.0.%s x%s\n' "$i" "$i" >"$store/10.0.0.$i"
    touch -d "@$t" "$store/10.0.0.$i" 2>/dev/null ||
        diag "touch -d @$t refused here"
    diag "10.0.0.$i dated $t, kept as $(stat -c %Y "$store/10.0.0.$i")"
    for e in 900 604800; do
        granted_says "10.0.0.$i" RELAY_EXPIRY="$e"
        is "$GRANTED" 1 "relay-check, dated $t, expiry $e: grants nothing"
        no_report "relay-check, dated $t, expiry $e" "$SCRATCH/granted.err"
        like "$SAYS" "relay-check: refused 10.0.0.$i *" \
            "relay-check, dated $t, expiry $e: a refusal"
    done
done
printf 'relaylease1 10.0.1.1 fresh\n' >"$store/10.0.1.1"

"$RELAY_BIN/relay-expire" -l >"$SCRATCH/out" 2>"$SCRATCH/err"
rc=$?
ok_run "relay-expire -l"
like "$(cat "$SCRATCH/out")" "address user age left
10.0.1.1 fresh [0-9] 9[0-9][0-9]" "relay-expire -l lists only the fresh record"

"$RELAY_BIN/relay-expire" -n >"$SCRATCH/out" 2>"$SCRATCH/err"
rc=$?
ok_run "relay-expire -n"
is "$(grep -c '^would remove 10\.0\.0\.' "$SCRATCH/out")" "$i" "relay-expire -n would remove every extreme"
like "$(grep '^would remove 10\.0\.0\.1 ' "$SCRATCH/out")" "would remove 10.0.0.1 age [0-9]*" \
    "relay-expire -n: the oldest has a positive age"

if [ -x "$RELAY_BIN/relay-cdb" ]; then
    mkdir "$SCRATCH/cdb"
    printf '127.:allow\n' >"$SCRATCH/cdb/rules.txt"
    "$RELAY_BIN/relay-cdb" -s "$SCRATCH/cdb/rules.cdb" "$SCRATCH/cdb/rules.tmp" \
        <"$SCRATCH/cdb/rules.txt" >/dev/null 2>"$SCRATCH/err"
    rc=$?
    ok_run "relay-cdb -s over the extremes"
    if command -v cdbget >/dev/null 2>&1; then
        check "relay-cdb grants the fresh record" cdbget 10.0.1.1 <"$SCRATCH/cdb/rules.cdb"
        check "relay-cdb grants none of the extremes" sh -c '! cdbget 10.0.0.1 <"$1"' sh \
            "$SCRATCH/cdb/rules.cdb"
    fi
fi

"$RELAY_BIN/relay-expire" >"$SCRATCH/out" 2>"$SCRATCH/err"
rc=$?
ok_run "relay-expire"
is "$(cat "$SCRATCH/out")" "kept 1 removed $i temp 0 skipped 0" "the sweep removes every extreme"
rm -f "$store"/*

diag "a clock stepped back (expiry 900)"
# ahead KEY USER SECONDS: a record of USER's for KEY dated SECONDS ahead of the clock as it is
# now; AT is its date.
ahead() {
    printf 'relaylease1 %s %s\n' "$1" "$2" >"$store/$1"
    AT=$(($(date +%s) + $3))
    touch -d "@$AT" "$store/$1"
}
# as_now GOT WANT DESC: GOT is WANT with @AGE@ 0 and @LEFT@ 900: the record skewed ahead
# counts as made now. Only if the clock passed the record's date before the run ended ($late
# seconds ago: a machine slower than the skew) may the age be more, up to $late.
as_now() {
    an_age=0
    while [ "$an_age" -le "$late" ] || [ "$an_age" -eq 0 ]; do
        an_want=$(printf '%s\n' "$2" | sed "s/@AGE@/$an_age/; s/@LEFT@/$((900 - an_age))/")
        if [ "$1" = "$an_want" ]; then
            ok "$3"
            [ "$an_age" -eq 0 ] ||
                diag "age $an_age: the clock passed the record's date $late s before the end"
            return
        fi
        an_age=$((an_age + 1))
    done
    not_ok "$3"
    diag "got:  '$1'" "want: '$2', the age at most $((late > 0 ? late : 0))"
}

ahead 127.0.0.2 eve 1000
ahead 127.0.0.4 dave 899
ahead 127.0.0.1 bob 100
granted_says 127.0.0.1
late=$(($(date +%s) - (AT - 100)))
is "$GRANTED" 1 "relay-check grants nothing for a record 100 s ahead"
like "$SAYS" "relay-check: refused 127.0.0.1 login time [0-9]* s in the future user=bob" \
    "and says why, in one line"
secs=${SAYS#*login time }
secs=${secs%% *}
# relay-check read its clock between the record's dating and the end of its run.
check "the seconds are the record's ($secs, $late s after its dating)" \
    test "$secs" -le 100 -a "$secs" -ge $((100 - late))

ahead 127.0.0.3 carol 3
granted_says 127.0.0.3
late=$(($(date +%s) - AT))
is "$GRANTED" 0 "relay-check grants a record 3 s ahead (clock skew)"
as_now "$SAYS" "relay-check: granted 127.0.0.3 user=carol age=@AGE@" "as age 0"

ahead 127.0.0.3 carol 3
"$RELAY_BIN/relay-expire" -l >"$SCRATCH/out" 2>"$SCRATCH/err"
late=$(($(date +%s) - AT))
as_now "$(cat "$SCRATCH/out")" "address user age left
127.0.0.3 carol @AGE@ @LEFT@" "relay-expire -l lists the skewed record as age 0, and nothing ahead"
is "$(cat "$SCRATCH/err")" "" "relay-expire -l warns about none of them"

ahead 127.0.0.2 eve 1000
"$RELAY_BIN/relay-expire" >"$SCRATCH/out" 2>"$SCRATCH/err"
is "$?.$(cat "$SCRATCH/out")" "0.kept 3 removed 1 temp 0 skipped 0" \
    "the sweep keeps three records, removes one"
check "the record 100 s ahead is kept" test -e "$store/127.0.0.1"
check "the record 899 s ahead is kept" test -e "$store/127.0.0.4"
check "the record 3 s ahead is kept" test -e "$store/127.0.0.3"
check "the record 1000 s ahead is removed" test ! -e "$store/127.0.0.2"

# Once the clock has caught up it grants for the rest of its window: the same record,
# seen from a clock 100 s on, is the record of a login made now.
touch -d "@$(($(date +%s) - 1))" "$store/127.0.0.1"
check "once the clock has caught up, the record grants" granted 127.0.0.1
# A new login replaces a record from the future at once.
touch -d "@$(($(date +%s) + 500))" "$store/127.0.0.1"
env IP=127.0.0.1 USER=bob "$RELAY_BIN/relay-allow" 2>/dev/null
check "a new login replaces a record from the future, and grants" granted 127.0.0.1

done_testing
