#!/bin/sh
# tests/deps.sh [--tests] [--all] [--list] [package...]: make sure the Debian packages needed
# to build relaylease and run the demo (with --tests, to run `make check`; with --all, also
# `make check-all`) are installed, plus any named on the command line. With --list, print the package names and stop.
# As root, missing packages are installed (apt-get update, then apt-get install -y).
# Otherwise the exact command is printed and the exit code is 100.
# Exit codes: 0 everything is there, 100 packages are missing, 111 apt-get failed.

# Building, and the demo: the compilers, tinycdb, and Debian's tcpserver.
packages="make gcc libc6-dev musl-tools libcdb-dev tinycdb ucspi-tcp-ipv6"
# The tests also run the real Dovecot, strace's fault injection, valgrind, the linters, and
# check that the man pages render; ip puts documentation addresses on a private network
# namespace's loopback for the IPv6 /64 over the real tcpserver; Redis, its sentinels and
# redis-cli for the several-hosts tests (t-redis-*.sh); Postfix, for relay-policy under a
# private instance (t-postfix.sh; installed without a system configuration, below); mailfront
# and cvm for t-mailfront.sh; libidn12 for the Exim that t-exim.sh unpacks (exim4 conflicts
# with postfix: not installed).
tests="strace dovecot-pop3d dovecot-imapd valgrind cppcheck clang-tidy shellcheck groff-base man-db
    iproute2 redis-server redis-sentinel redis-tools postfix mailfront cvm libidn12"
# make check-all also fuzzes each harness: clang with libFuzzer; hiredis is the RESP parser's
# oracle there (and only there). t-deb.sh builds the Debian package (debhelper), checks it
# (lintian) and installs it: it depends on daemontools, whose envdir runs relay-expire.timer.
long="clang libclang-rt-dev libhiredis-dev debhelper lintian daemontools"
list=
while [ $# -gt 0 ]; do
    case $1 in
    --tests) packages="$packages $tests" ;;
    --all) packages="$packages $tests $long" ;;
    --list) list=1 ;;
    *) break ;;
    esac
    shift
done
packages="$packages $*"
if [ -n "$list" ]; then
    # shellcheck disable=SC2086 # one word per package, on one line
    echo $packages
    exit 0
fi

installed() {
    # shellcheck disable=SC2016 # ${Status} is dpkg-query's field, not the shell's
    dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q ' installed$'
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps.sh: warning: not a Debian system; these Debian packages are needed:" >&2
    echo "deps.sh:   $packages" >&2
    for c in make cc tcpserver tcprules; do
        if ! command -v "$c" >/dev/null 2>&1; then
            echo "deps.sh: fatal: $c is not installed" >&2
            exit 100
        fi
    done
    exit 0
fi

missing=
for p in $packages; do
    installed "$p" && continue
    # ucspi-tcp and ucspi-tcp-ipv6 conflict. Plain ucspi-tcp runs every test but IPv6 one;
    # replacing a package the machine already uses is not for a test script to decide.
    if [ "$p" = ucspi-tcp-ipv6 ] && installed ucspi-tcp; then
        echo "deps.sh: warning: ucspi-tcp is installed, not ucspi-tcp-ipv6: the IPv6 tests will be skipped" >&2
        continue
    fi
    missing="$missing $p"
done
[ -n "$missing" ] || exit 0
missing=${missing# }

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing Debian packages: $missing" >&2
    echo "deps.sh: install them as root with:" >&2
    echo "apt-get update && apt-get install -y $missing"
    exit 100
fi
echo "deps.sh: installing $missing" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update; then
    echo "deps.sh: fatal: apt-get update failed" >&2
    exit 111
fi
# Postfix asks what kind of mail server to set up: none. The tests run private instances.
case " $missing " in
*" postfix "*)
    if ! echo "postfix postfix/main_mailer_type select No configuration" |
        debconf-set-selections; then
        echo "deps.sh: fatal: debconf-set-selections failed" >&2
        exit 111
    fi
    ;;
esac
# shellcheck disable=SC2086 # one word per package
if ! apt-get install -y $missing; then
    echo "deps.sh: fatal: apt-get install failed" >&2
    exit 111
fi
exit 0
