#!/bin/sh
# run: long once
# valgrind (memcheck) is clean on the integration chain: relay-allow, relay-check,
# relay-expire (-n, -l and a real sweep, in cdb mode too), relay-session in a chain with
# relay-allow, and relay-cdb, over a store with good, stale and broken records. Each run must
# exit as the program should, with no memory error and no definite leak.
#
# valgrind cannot check the programs as `make` links them: relay-allow, relay-check and
# relay-session are static musl binaries, and memcheck finds leaks and heap overruns by
# replacing malloc and free, which it can only do in a dynamically linked program (on a
# static one it runs, and reports nothing). So this test builds dynamic glibc copies of the
# programs from the same sources, with the same Makefile, into its scratch directory, and
# runs valgrind on those. Plain build only: the sanitizer build cannot run under valgrind.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

case $RELAY_BIN in
*/san)
    skip "valgrind" "run with the plain build only"
    done_testing
    ;;
esac
if ! command -v valgrind >/dev/null 2>&1; then
    skip "valgrind" "valgrind is not installed"
    done_testing
fi

# ---- the dynamic copies ---------------------------------------------------------------------
build=$SCRATCH/build
mkdir "$build"
for p in relay-allow relay-check relay-expire relay-session relay-cdb relay-policy; do
    if MAKEFLAGS='' make -C "$build" -f "$lib_top/Makefile" SRC="$lib_top" CC="${CC:-cc}" \
        STATICCC="${CC:-cc}" STATICLDFLAGS= CFLAGS='-g -O1' "$p" >"$SCRATCH/make.log" 2>&1 &&
        [ -x "$build/$p" ]; then
        ok "a dynamic copy of $p for valgrind builds"
    else
        not_ok "a dynamic copy of $p for valgrind builds"
        diag <"$SCRATCH/make.log"
    fi
done

# vg DESC STATUS [NAME=value...] PROGRAM [ARG...]: run PROGRAM under valgrind, with the
# variables set; ok if it exits with STATUS and valgrind said nothing (-q: it speaks only of
# errors). The variables go to env in front of valgrind: `valgrind env ... PROGRAM` would
# check env, not PROGRAM. Children are not followed: a program that execs leaves valgrind
# at its exec, and a forked child is checked up to its own exec. Each run's stdout, stderr
# and valgrind logs are in $VG (out, err, *.vg).
vg_n=0
vg() {
    vg_desc=$1 vg_want=$2
    shift 2
    vg_n=$((vg_n + 1))
    VG=$SCRATCH/vg/$vg_n
    mkdir -p "$VG"
    # Rotate the arguments once, putting valgrind and its options before the first one
    # that is not NAME=value.
    vg_left=$# vg_in=
    while [ "$vg_left" -gt 0 ]; do
        vg_arg=$1
        shift
        if [ -z "$vg_in" ]; then
            case $vg_arg in
            [A-Za-z_]*=*) ;;
            *)
                # shellcheck disable=SC2086 # the options are a list
                set -- "$@" valgrind $VG_OPTS --log-file="$VG/%p.vg"
                vg_in=1
                ;;
            esac
        fi
        set -- "$@" "$vg_arg"
        vg_left=$((vg_left - 1))
    done
    env "$@" >"$VG/out" 2>"$VG/err"
    vg_rc=$?
    vg_said=$(cat "$VG"/*.vg 2>/dev/null)
    if [ "$vg_rc" -eq "$vg_want" ] && [ -z "$vg_said" ]; then
        ok "$vg_desc"
    else
        not_ok "$vg_desc"
        diag "$(printf 'command: %.300s (exit %s, want %s)' "$*" "$vg_rc" "$vg_want")"
        [ -z "$vg_said" ] || printf '%s\n' "$vg_said" | diag
        diag <"$VG/err"
    fi
}
# --vgdb=no: no gdbserver, whose file name holds $USER (one test sets a 5000-byte USER).
VG_OPTS='-q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
--show-leak-kinds=definite --trace-children=no --vgdb=no'

# ---- a store with good, stale and broken records ---------------------------------------------
store=$SCRATCH/store
mkdir "$store"
chmod 755 "$store"
# An expiry of a day: nothing recorded here can expire while valgrind runs, however slowly;
# the stale records are two days old.
export RELAY_DIR="$store" RELAY_EXPIRY=86400

vg "relay-allow records an IPv4 login" 0 \
    TCPREMOTEIP=192.0.2.1 USER=alice "$build/relay-allow"
check "and the record is there" file_is "$store/192.0.2.1" 'relaylease1 192.0.2.1 alice\n'
vg "relay-allow records an IPv6 login as its /64" 0 \
    PROTO=TCP6 TCP6REMOTEIP=2001:db8:1:2::7 USER=bob "$build/relay-allow"
check "and the record is there" test -f "$store/2001:db8:1:2::_64"
vg "relay-allow with a Dovecot login (IP), then exec" 0 \
    IP=192.0.2.2 USER=carol "$build/relay-allow" /bin/true
vg "relay-allow with a 5000-byte user name" 0 \
    TCPREMOTEIP=192.0.2.3 USER="$(printf '%05000d' 0)" "$build/relay-allow"
vg "relay-allow with a user name holding a newline" 0 \
    TCPREMOTEIP=192.0.2.4 USER="$(printf 'eve\nrelay-check: granted')" "$build/relay-allow"
vg "relay-allow with a bad address" 0 TCPREMOTEIP=192.0.2.300 USER=x "$build/relay-allow"
vg "relay-allow with bad settings" 0 \
    RELAY_EXPIRY=-5 RELAY_IPV6_PREFIX=x RELAY_LOG=2 TCPREMOTEIP=192.0.2.5 "$build/relay-allow"

# Legacy relay-ctrl records, stale ones, and every kind of broken entry.
printf 'USER=dave\0DOMAIN=example.org\0' >"$store/192.0.2.10"
: >"$store/192.0.2.11"
printf 'relaylease1 192.0.2.20 frank\n' >"$store/192.0.2.20"
touch -d '2 days ago' "$store/192.0.2.20"
printf 'relaylease1 192.0.2.21 grace\n' >"$store/192.0.2.21"
touch -d '+1 hour' "$store/192.0.2.21"
printf 'relaylease1 192.0.2.99 mallory\n' >"$store/192.0.2.30"
printf 'garbage\001\377' >"$store/192.0.2.31"
printf 'USER=x\0LD_PRELOAD=/evil.so' >"$store/192.0.2.32"
head -c 2000 /dev/zero | tr '\0' x >"$store/192.0.2.33"
ln -s /etc/passwd "$store/192.0.2.34"
mkdir "$store/192.0.2.35"
touch -d '2 days ago' "$store/192.0.2.35"
mkfifo "$store/192.0.2.36"
printf 'x' >"$store/not-an-address"
printf 'x' >"$store/.tmp.99999.192.0.2.40"
touch -d '5 minutes ago' "$store/.tmp.99999.192.0.2.40"
printf 'x' >"$store/.tmp.99998.192.0.2.41"

# ---- relay-check -------------------------------------------------------------------------------
# shellcheck disable=SC2016 # expanded by the inner sh
show='echo "${RELAYCLIENT-unset} ${TCPREMOTEINFO-unset}"'
vg "relay-check grants a fresh allowance" 0 \
    TCPREMOTEIP=192.0.2.1 RELAY_REMOTEINFO=1 "$build/relay-check" sh -c "$show"
is "$(cat "$VG/out")" " alice" "with RELAYCLIENT and TCPREMOTEINFO set"
vg "relay-check grants an IPv6 address in a recorded /64" 0 \
    PROTO=TCP6 TCP6REMOTEIP=2001:db8:1:2:ffff::1 "$build/relay-check" sh -c "$show"
is "$(cat "$VG/out")" " unset" "with RELAYCLIENT set"
vg "relay-check grants a legacy record with USER and DOMAIN" 0 \
    TCPREMOTEIP=192.0.2.10 RELAY_REMOTEINFO=1 RELAY_RELAYCLIENT=@fix \
    "$build/relay-check" sh -c "$show"
is "$(cat "$VG/out")" "@fix dave@example.org" "with both variables"
for a in 192.0.2.20 192.0.2.21 192.0.2.30 192.0.2.31 192.0.2.32 192.0.2.33 192.0.2.34 \
    192.0.2.35 192.0.2.36 192.0.2.50; do
    vg "relay-check refuses $a (missing, stale or broken)" 0 \
        TCPREMOTEIP=$a "$build/relay-check" sh -c "$show"
    is "$(cat "$VG/out")" "unset unset" "and sets nothing for $a"
done
vg "relay-check with a bad RELAYCLIENT setting" 0 \
    TCPREMOTEIP=192.0.2.1 RELAY_RELAYCLIENT="$(printf 'a\tb')" "$build/relay-check" /bin/true
vg "relay-check exits 111 when its program cannot run (leak check at exit)" 111 \
    TCPREMOTEIP=192.0.2.1 "$build/relay-check" "$SCRATCH/nonexistent"
vg "relay-check without a program is a usage error" 100 "$build/relay-check"

# ---- relay-policy: every record above in one connection, then a malformed request ----------
for a in 192.0.2.1 2001:db8:1:2:ffff::1 192.0.2.20 192.0.2.21 192.0.2.30 192.0.2.31 192.0.2.32 \
    192.0.2.33 192.0.2.34 192.0.2.35 192.0.2.36 192.0.2.50; do
    printf 'request=smtpd_access_policy\nclient_address=%s\nsasl_username=\n\n' "$a"
done >"$SCRATCH/policy.in"
vg "relay-policy answers each" 0 "$build/relay-policy" <"$SCRATCH/policy.in"
is "$(grep -c '^action=OK$' "$VG/out") $(grep -c '^action=DUNNO$' "$VG/out")" "2 10" \
    "OK for the two fresh ones, DUNNO for the rest"
# A store whose record paths are too long: the lookup fails before it reads a record, and
# nothing of the record may be read uninitialised (the user it logs).
long=/$(printf '%04090d' 0)
vg "relay-policy with record paths too long" 0 RELAY_DIR="$long" "$build/relay-policy" \
    <"$SCRATCH/policy.in"
is "$(grep -c '^action=DUNNO$' "$VG/out")" 12 "DUNNO for each"
printf 'junk\n\n' >>"$SCRATCH/policy.in"
vg "relay-policy exits 100 on a malformed request" 100 "$build/relay-policy" <"$SCRATCH/policy.in"

# ---- relay-expire ------------------------------------------------------------------------------
vg "relay-expire -l lists the live allowances" 0 "$build/relay-expire" -l
like "$(cat "$VG/out")" "address user age left*192.0.2.1 alice *" "with their users"
vg "relay-expire -n shows what a sweep would do" 0 "$build/relay-expire" -n
like "$(cat "$VG/out")" "*would remove 192.0.2.20 age *" "naming the stale record"
check "and removes nothing" test -f "$store/192.0.2.20"
vg "relay-expire sweeps" 0 "$build/relay-expire"
like "$(cat "$VG/out")" "kept * removed * temp 1 skipped *" "with a summary"
check "the stale record is gone" test ! -e "$store/192.0.2.20"
check "a fresh record stays" test -f "$store/192.0.2.1"
vg "relay-expire with a missing store fails with 111" 111 \
    RELAY_DIR="$SCRATCH/none" "$build/relay-expire"
vg "relay-expire with a bad option is a usage error" 100 "$build/relay-expire" -x

# ---- relay-cdb, and a sweep in cdb mode ------------------------------------------------------
cat >"$SCRATCH/rules.txt" <<'EOF'
127.0.0.1:allow,RELAYCLIENT=""
192.0.2.:allow,GREETING="hello"
10.0.0.37-53:deny
=host.example:allow
:allow
EOF
vg "relay-cdb merges the allowances into the rules" 0 \
    "$build/relay-cdb" "$SCRATCH/rules.cdb" "$SCRATCH/rules.tmp" <"$SCRATCH/rules.txt"
check "and writes the cdb" test -s "$SCRATCH/rules.cdb"
vg "relay-cdb -s (a full rescan that saves its snapshot)" 0 \
    "$build/relay-cdb" -s "$SCRATCH/rules.cdb" "$SCRATCH/rules.tmp" <"$SCRATCH/rules.txt"
vg "relay-cdb -i (incremental, from the snapshot)" 0 \
    "$build/relay-cdb" -i "$SCRATCH/rules.cdb" "$SCRATCH/rules.tmp" <"$SCRATCH/rules.txt"
printf '1.2.3.4:allow\n1.2.3.5:allow,A="x\n' >"$SCRATCH/bad.txt"
vg "relay-cdb refuses a bad rules line with 100" 100 \
    "$build/relay-cdb" "$SCRATCH/bad.cdb" "$SCRATCH/bad.tmp" <"$SCRATCH/bad.txt"
vg "relay-expire sweeps in cdb mode, and waits for the rebuild" 0 \
    RELAY_CDB="$SCRATCH/rules.cdb" RELAY_CDB_RULES="$SCRATCH/rules.txt" \
    RELAY_CDB_PROG="$build/relay-cdb" "$build/relay-expire"

# ---- relay-session in a chain with relay-allow ------------------------------------------------
# relay-allow runs under a valgrind of its own too, as the child that reports the login; its
# log goes where vg looks for the next run's.
next=$SCRATCH/vg/$((vg_n + 1))
# shellcheck disable=SC2086 # the options are a list
vg "relay-session records what relay-allow reports" 0 \
    TCPREMOTEIP=192.0.2.60 USER=heidi "$build/relay-session" \
    valgrind $VG_OPTS --log-file="$next/%p.vg" "$build/relay-allow" /bin/true
check "the allowance is recorded, with the user" \
    file_is "$store/192.0.2.60" 'relaylease1 192.0.2.60 heidi\n'
vg "relay-session passes on its child's exit status" 3 \
    TCPREMOTEIP=192.0.2.61 USER=ivan "$build/relay-session" "$build/relay-allow" \
    sh -c 'exit 3'
# Refreshed every second (expiry/3) while the session lasts. The session waits for the
# login's record, back-dates it by an hour and ends once it has been recorded again (each
# wait 60 s at most: a guard), so that the refresh is seen however slow valgrind is.
old=$(($(date +%s) - 3600))
# shellcheck disable=SC2016 # the session's shell expands them
vg "relay-session refreshes while the session lasts" 0 \
    TCPREMOTEIP=192.0.2.62 USER=judy RELAY_EXPIRY=3 RELAY_SESSION_REFRESH=1 \
    "$build/relay-session" "$build/relay-allow" sh -c 'n=0
        while [ ! -e "$1" ] && [ "$n" -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
        touch -d "@$2" "$1"
        n=0
        while [ "$(stat -c %Y "$1")" = "$2" ] && [ "$n" -lt 600 ]; do
            sleep 0.1
            n=$((n + 1))
        done' - "$store/192.0.2.62" "$old"
check "and records again (the back-dated record was refreshed)" \
    test "$(stat -c %Y "$store/192.0.2.62")" != "$old"
vg "relay-session when the login fails (the child reports nothing)" 1 \
    TCPREMOTEIP=192.0.2.63 "$build/relay-session" sh -c 'exit 1'
check "and nothing is recorded" test ! -e "$store/192.0.2.63"
vg "relay-session without a client address runs the chain alone" 0 \
    "$build/relay-session" "$build/relay-allow" /bin/true
vg "relay-session without a program is a usage error" 100 "$build/relay-session"

done_testing
