#!/bin/sh
# t-fds.sh: every program opens descriptors 0, 1 and 2 (on /dev/null) before it opens anything
# else, so that no store, record, lock, journal or cdb can land on them and receive a warning
# or another program's output (issue 8, class 5).
# Each program is run, under strace -f (the detached cdb builder included), with 0, 1 and 2
# closed, each alone and all three at once: no open of a file in the scratch directory may
# return 0, 1 or 2. Then relay-allow in cdb mode with 0 and 2 closed and a builder that cannot
# be run: nothing in the store or beside the cdb receives a warning.
# shellcheck disable=SC2016 # the sh -c scripts read their arguments as $1, $2...
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_programs
if ! command -v strace >/dev/null 2>&1 || ! strace -o /dev/null true 2>/dev/null; then
    skip "no file lands on descriptors 0, 1 or 2" "strace is missing or cannot trace here"
    exit 0
fi

store=$SCRATCH/store
cdb=$SCRATCH/cdb
mkdir "$store" "$cdb" && chmod 755 "$store" || exit 1
printf '127.:allow\n' >"$cdb/rules.txt"
now=$(date +%s)

# fresh: a record that relay-check grants, one stale record, one old temp file.
fresh() {
    printf 'relaylease1 127.0.0.1 bob\n' >"$store/127.0.0.1"
    printf 'relaylease1 127.0.0.2 old\n' >"$store/127.0.0.2"
    touch -d "@$((now - 5000))" "$store/127.0.0.2"
    : >"$store/.tmp.1.127.0.0.3"
    touch -d "@$((now - 5000))" "$store/.tmp.1.127.0.0.3"
}

# run_closed DESC CLOSE CMD...: CMD with the descriptors in CLOSE ("0", "2", "012") closed,
# traced; no open of a scratch file returns one of 0, 1, 2.
run_closed() {
    rc_desc=$1
    rc_close=$2
    shift 2
    fresh
    strace -f -qq -o "$SCRATCH/trace" -e trace=open,openat,creat,dup,dup2,dup3,fcntl \
        sh -c 'case $1 in *0*) exec 0<&- ;; esac
            case $1 in *1*) exec 1>&- ;; esac
            case $1 in *2*) exec 2>&- ;; esac
            shift
            exec "$@"' sh "$rc_close" "$@" </dev/null >/dev/null 2>"$SCRATCH/stderr"
    # Lines such as: 1234 openat(AT_FDCWD, "/scratch/store", O_RDONLY...) = 2
    bad=$(grep -E "\"$SCRATCH/[^\"]*\".*\) = [012]( |\$)" "$SCRATCH/trace")
    if [ -z "$bad" ]; then
        ok "$rc_desc, $rc_close closed: no file lands on 0, 1 or 2"
    else
        not_ok "$rc_desc, $rc_close closed: no file lands on 0, 1 or 2"
        printf '%s\n' "$bad" | diag
    fi
}

export RELAY_DIR="$store" RELAY_LOG=1
for closed in 0 1 2 02 012; do
    run_closed "relay-allow (Dovecot)" "$closed" env IP=127.0.0.9 USER=bob \
        RELAY_EXPIRY=bogus "$RELAY_BIN/relay-allow"
    run_closed "relay-allow (cdb mode)" "$closed" env IP=127.0.0.9 USER=bob \
        RELAY_CDB="$cdb/rules.cdb" RELAY_CDB_RULES="$cdb/rules.txt" \
        RELAY_CDB_PROG="$SCRATCH/no-such-builder" "$RELAY_BIN/relay-allow"
    run_closed "relay-check" "$closed" env TCPREMOTEIP=127.0.0.1 "$RELAY_BIN/relay-check" true
    run_closed "relay-check, a bad record" "$closed" sh -c \
        'chmod 666 "$1/127.0.0.1" && exec env TCPREMOTEIP=127.0.0.1 "$2" true' sh "$store" \
        "$RELAY_BIN/relay-check"
    run_closed "relay-policy" "$closed" sh -c \
        'printf "request=smtpd_access_policy\nclient_address=127.0.0.1\n\n" | exec "$1"' sh \
        "$RELAY_BIN/relay-policy"
    run_closed "relay-expire" "$closed" "$RELAY_BIN/relay-expire"
    run_closed "relay-expire -l" "$closed" "$RELAY_BIN/relay-expire" -l
    run_closed "relay-expire -n" "$closed" "$RELAY_BIN/relay-expire" -n
    run_closed "relay-session" "$closed" env TCPREMOTEIP=127.0.0.8 USER=bob \
        "$RELAY_BIN/relay-session" "$RELAY_BIN/relay-allow"
    run_closed "relay-import-opensmtp" "$closed" "$RELAY_BIN/relay-import-opensmtp"
    if [ -x "$RELAY_BIN/relay-cdb" ]; then
        run_closed "relay-cdb" "$closed" "$RELAY_BIN/relay-cdb" "$cdb/rules.cdb" \
            "$cdb/rules.tmp"
    fi
done

# What a warning would have written where: the store and the cdb's directory hold no line
# from any of the programs.
fresh
rm -f "$store/.lock"
: >"$store/.lock"
env IP=127.0.0.9 USER=bob RELAY_EXPIRY=bogus RELAY_CDB="$cdb/rules.cdb" \
    RELAY_CDB_RULES="$cdb/rules.txt" RELAY_CDB_PROG="$SCRATCH/no-such-builder" \
    "$RELAY_BIN/relay-allow" 0<&- 2>&-
is "$(wc -c <"$store/.lock")" 0 "relay-allow with 0 and 2 closed: the store's lock stays empty"
check "relay-allow with 0 and 2 closed: no warning in the store or beside the cdb" \
    sh -c '! grep -rl "warning" "$1" "$2"' sh "$store" "$cdb"

done_testing
