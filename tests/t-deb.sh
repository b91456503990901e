#!/bin/sh
# run: long once
# t-deb.sh: the Debian package. A copy of the tree is built with dpkg-buildpackage and checked
# with lintian (no error); the machine's state is noted; the package is installed (programs,
# pages, the account, the store, the envdir, relay-expire.timer enabled), the demo runs
# against /usr/sbin and one login goes through the installed store; then it is purged, and
# the machine must be as it was, with no process of the account left.
#
# It installs a package on this machine, so it runs as root only, and never where relaylease
# is or was installed (the package, the account, /var/lib/relaylease or /etc/relaylease):
# it skips there rather than touch a real installation. It takes dpkg's lock: run it apart
# from anything else that uses apt or dpkg (make check-all runs tests/deps.sh first).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

desc="the Debian package builds, installs, works and purges without a trace"
if [ "$(id -u)" -ne 0 ]; then
    skip "$desc" "not root"
    done_testing
fi
for c in dpkg-buildpackage dh lintian git envdir adduser setpriv man; do
    if ! command -v "$c" >/dev/null 2>&1; then
        skip "$desc" "$c is missing (tests/deps.sh --all installs it)"
        done_testing
    fi
done
# shellcheck disable=SC2016 # ${Status} is dpkg-query's
status=$(dpkg-query -W -f='${Status}' relaylease 2>/dev/null)
case $status in
'' | *' not-installed') ;;
*)
    skip "$desc" "a relaylease package is on this machine ($status)"
    done_testing
    ;;
esac
if getent passwd relaylease >/dev/null || getent group relaylease >/dev/null; then
    skip "$desc" "the account or group relaylease exists here"
    done_testing
fi
for d in /var/lib/relaylease /etc/relaylease; do
    if [ -e "$d" ] || [ -L "$d" ]; then
        skip "$desc" "$d exists here"
        done_testing
    fi
done
git_top() {
    git -c safe.directory='*' -C "$lib_top" "$@"
}
if ! git_top rev-parse --git-dir >/dev/null 2>&1; then
    skip "$desc" "the source tree is not a git checkout (its files are copied by git ls-files)"
    done_testing
fi

# ---- the build ---------------------------------------------------------------------------------

# The tree as it is now, committed or not, without anything built or ignored.
src=$SCRATCH/build/relaylease
mkdir -p "$src" || exit 111
git_top ls-files -z -c -o --exclude-standard >"$SCRATCH/files" || exit 111
(cd "$lib_top" && tr '\0' '\n' <"$SCRATCH/files" | while IFS= read -r f; do
    [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf -) | (cd "$src" && tar -xf -) || exit 111
check "the copy has debian/ and the sources" test -x "$src/debian/rules" -a -f "$src/relay-allow.c"

# One job: the machine is shared. No signing, the binary package only, offline.
t0=$(now_ms)
(cd "$src" && DEB_BUILD_OPTIONS=parallel=1 dpkg-buildpackage -us -uc -b) >"$SCRATCH/build.log" 2>&1
rc=$?
diag "dpkg-buildpackage took $(($(now_ms) - t0)) ms"
is "$rc" 0 "dpkg-buildpackage -us -uc -b succeeds"
[ "$rc" -eq 0 ] || {
    tail -n 30 "$SCRATCH/build.log" | diag
    done_testing
}
deb='' changes=''
for f in "$SCRATCH"/build/relaylease_*.deb; do [ -f "$f" ] && deb=$f; done
for f in "$SCRATCH"/build/relaylease_*.changes; do [ -f "$f" ] && changes=$f; done
check "it made the package and a .changes" test -f "$deb" -a -f "$changes"
diag "package: ${deb##*/}, $(stat -c %s "$deb") bytes"
# The hardened flags reached every compiler line, with the project's own warnings in front.
n_cc=$(grep -c '^\(cc\|musl-gcc\) ' "$SCRATCH/build.log")
n_hard=$(grep -c '^\(cc\|musl-gcc\) -std=c11 -Wall -Wextra -Werror .*-D_FORTIFY_SOURCE=2 .*-fstack-protector-strong' \
    "$SCRATCH/build.log")
check "the build ran the compiler for the 9 programs" test "$n_cc" -ge 9
is "$n_hard" "$n_cc" "every compiler line has -Werror and dpkg-buildflags' hardening"
# shellcheck disable=SC2016 # expanded by the inner shell
check "no compiler warning in the build" sh -c '! grep -n "warning:" "$1"' sh "$SCRATCH/build.log"

t0=$(now_ms)
lintian -EI --pedantic "$changes" >"$SCRATCH/lintian.out" 2>"$SCRATCH/lintian.err"
rc=$?
diag "lintian took $(($(now_ms) - t0)) ms"
is "$rc" 0 "lintian exits 0 (it fails on an error tag)"
[ "$rc" -eq 0 ] || diag <"$SCRATCH/lintian.err"
# shellcheck disable=SC2016 # expanded by the inner shell
check "lintian finds no error" sh -c '! grep "^E:" "$1"' sh "$SCRATCH/lintian.out"
if grep -q '^[WI]:' "$SCRATCH/lintian.out"; then
    diag "lintian's warnings and notes:"
    grep '^[WI]:' "$SCRATCH/lintian.out" | diag
fi

# ---- the machine before ------------------------------------------------------------------------

# snapshot FILE: what installing and purging may change, in one file.
snapshot() {
    {
        for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow; do
            echo "== $f"
            cat "$f"
        done
        for d in /var/lib/relaylease /etc/relaylease /usr/share/doc/relaylease \
            /usr/share/relaylease /var/lib/systemd/deb-systemd-helper-enabled \
            /var/lib/systemd/deb-systemd-helper-masked /etc/systemd/system; do
            echo "== $d"
            if [ -e "$d" ] || [ -L "$d" ]; then
                find "$d" -printf '%p %y %m %U:%G %s %l\n' | LC_ALL=C sort
            else
                echo absent
            fi
        done
        echo "== units, programs, pages, dpkg's files"
        find /lib/systemd/system /usr/lib/systemd/system /usr/sbin /usr/bin /usr/local/bin \
            /usr/local/sbin /usr/share/man/man8 /usr/share/lintian/overrides /var/lib/dpkg/info \
            -maxdepth 1 \( -name 'relay*' -o -name 'relay-*' \) \
            -printf '%p %y %m %U:%G %s %l\n' 2>/dev/null | LC_ALL=C sort -u
        echo "== dpkg -l"
        # shellcheck disable=SC2016 # dpkg-query's fields
        dpkg-query -W -f='${binary:Package} ${Version} ${Status}\n' | LC_ALL=C sort
        echo "== dpkg-statoverride"
        dpkg-statoverride --list | LC_ALL=C sort
        if [ -d /run/systemd/system ]; then
            echo "== systemctl"
            systemctl is-enabled relay-expire.timer relay-cdb-redis.timer 2>&1
        fi
    } >"$1" 2>&1
}
snapshot "$SCRATCH/before"
check "the machine's state is noted" grep -q '^== dpkg -l' "$SCRATCH/before"

# Should anything below stop the test, the package goes all the same.
installed='' made_cdb='' deb_rc=0
# shellcheck disable=SC2317 # called from the trap
deb_undo() {
    if [ -n "$installed" ]; then
        installed=
        dpkg --purge relaylease >"$SCRATCH/undo.log" 2>&1 ||
            echo "# t-deb.sh: dpkg --purge relaylease failed: $SCRATCH/undo.log" >&2
    fi
    if [ -n "$made_cdb" ]; then
        made_cdb=
        rm -rf "$cdbdir"
        deluser --system --quiet relaylease >/dev/null 2>&1
        ! getent group relaylease >/dev/null || delgroup --system --quiet relaylease >/dev/null 2>&1
    fi
    return 0
}
trap 'deb_rc=$?; deb_undo; (exit $deb_rc); lib_cleanup' EXIT

# ---- install -------------------------------------------------------------------------------------

installed=1
t0=$(now_ms)
dpkg -i "$deb" >"$SCRATCH/install.log" 2>&1
rc=$?
diag "dpkg -i took $(($(now_ms) - t0)) ms"
is "$rc" 0 "dpkg -i installs it"
[ "$rc" -eq 0 ] || diag <"$SCRATCH/install.log"
# shellcheck disable=SC2016 # ${Status} is dpkg-query's
is "$(dpkg-query -W -f='${Status}' relaylease 2>&1)" "install ok installed" "dpkg has it installed"

for p in relay-allow relay-check relay-query relay-policy relay-expire relay-session relay-cdb \
    relay-import-opensmtp relay-import-dir; do
    is "$(stat -c '%U:%G %a %F' "/usr/sbin/$p" 2>&1)" "root:root 755 regular file" \
        "/usr/sbin/$p: root's, mode 0755"
done
is "$(man -w relay-check 2>&1)" /usr/share/man/man8/relay-check.8.gz "man -w relay-check finds the page"
is "$(man -w 8 relay-redis 2>&1)" /usr/share/man/man8/relay-redis.8.gz "and relay-redis(8)"
check "setup-store is installed for the account's store" test -x /usr/share/relaylease/setup-store

entry=$(getent passwd relaylease)
uid=$(echo "$entry" | cut -d: -f3)
gid=$(echo "$entry" | cut -d: -f4)
like "$entry" "relaylease:x:*:*:relaylease allowance store*:/var/lib/relaylease:/usr/sbin/nologin" \
    "the account relaylease: the package's, home the store, no shell"
like "$uid" '[1-9]*' "with a uid"
check "a system uid (below 1000)" test "${uid:-1000}" -lt 1000
is "$(id -gn relaylease 2>&1)" relaylease "its own group"
is "$(stat -c '%U:%G %a %F' /var/lib/relaylease 2>&1)" "relaylease:relaylease 755 directory" \
    "the store: the account's, mode 0755"
is "$(stat -c '%U:%G %a' /etc/relaylease 2>&1)" "root:root 755" "the envdir /etc/relaylease: root's"
is "$(cat /etc/relaylease/RELAY_DIR 2>&1)" /var/lib/relaylease "RELAY_DIR names the store"
is "$(cat /etc/relaylease/RELAY_EXPIRY 2>&1)" 900 "RELAY_EXPIRY is 900"
# shellcheck disable=SC2016 # ${Conffiles} is dpkg-query's
conffiles=$(dpkg-query -W -f='${Conffiles}' relaylease | awk '{print $1}' | LC_ALL=C sort | tr '\n' ' ')
is "$conffiles" "/etc/relaylease/RELAY_DIR /etc/relaylease/RELAY_EXPIRY " "both are conffiles"

unitdir=/lib/systemd/system
[ -f "$unitdir/relay-expire.timer" ] || unitdir=/usr/lib/systemd/system
for u in relay-expire.service relay-expire.timer relay-cdb-redis.service relay-cdb-redis.timer; do
    check "$u is installed" test -f "$unitdir/$u"
done
like "$(grep '^ExecStart=' "$unitdir/relay-expire.service" 2>&1)" \
    "ExecStart=/usr/bin/envdir /etc/relaylease /usr/sbin/relay-expire" \
    "relay-expire.service runs /usr/sbin/relay-expire under the envdir"
# shellcheck disable=SC2016 # expanded by the inner shell
check "no unit names /usr/local" sh -c '! grep -n /usr/local "$1"/relay-*' sh "$unitdir"
is "$(readlink /etc/systemd/system/timers.target.wants/relay-expire.timer 2>&1)" \
    "$unitdir/relay-expire.timer" "relay-expire.timer is enabled (timers.target wants it)"
check "deb-systemd-helper knows the timer (a purge removes its state)" \
    test -f /var/lib/systemd/deb-systemd-helper-enabled/relay-expire.timer.dsh-also
check "relay-cdb-redis.timer is not enabled" test ! -e /etc/systemd/system/timers.target.wants/relay-cdb-redis.timer
if [ -d /run/systemd/system ]; then
    is "$(systemctl is-enabled relay-expire.timer 2>&1)" enabled "systemctl: relay-expire.timer enabled"
    is "$(systemctl is-active relay-expire.timer 2>&1)" active "and started"
else
    skip "systemctl: relay-expire.timer enabled and started" "systemd is not running here"
fi
# shellcheck disable=SC2016 # expanded by the inner shell
check "the examples name /usr/sbin, not /usr/local/bin" \
    sh -c '[ -d "$1" ] && ! grep -rn /usr/local/bin "$1"' sh /usr/share/doc/relaylease/examples

# What the timer starts, as the unit runs it: the account, the envdir, the program.
setpriv --reuid=relaylease --regid=relaylease --clear-groups -- \
    /usr/bin/envdir /etc/relaylease /usr/sbin/relay-expire >"$SCRATCH/sweep.out" 2>&1
is "$?" 0 "relay-expire.service's command sweeps the store as relaylease"

# ---- the demo, and one login through the installed store -----------------------------------------

t0=$(now_ms)
(cd "$src" && RELAY_BIN=/usr/sbin sh run-examples/demo.sh) >"$SCRATCH/demo.out" 2>&1
rc=$?
diag "the demo took $(($(now_ms) - t0)) ms"
is "$rc" 0 "the demo's story goes as told with the installed programs"
[ "$rc" -eq 0 ] || tail -n 20 "$SCRATCH/demo.out" | diag
like "$(sed -n 1,5p "$SCRATCH/demo.out")" "*relaylease's programs are those in /usr/sbin*" \
    "the demo ran /usr/sbin's programs"

# A login as root (relay-session's and Dovecot's way) records into the default store, as the
# store's account; relay-check then grants that client and no other.
env TCPREMOTEIP=192.0.2.7 USER=bob /usr/sbin/relay-allow true 2>"$SCRATCH/allow.err"
is "$?" 0 "relay-allow, as root, with the built-in settings, runs the session"
is "$(cat "$SCRATCH/allow.err")" "relay-allow: recorded 192.0.2.7 user=bob" \
    "relay-allow recorded the login and warned of nothing"
is "$(stat -c '%U:%G' /var/lib/relaylease/192.0.2.7 2>&1)" relaylease:relaylease \
    "the record is in /var/lib/relaylease, the account's"
RELAY_BIN=/usr/sbin
check "relay-check grants 192.0.2.7" granted 192.0.2.7
check "and refuses 192.0.2.8" refused 192.0.2.8
like "$(envdir /etc/relaylease /usr/sbin/relay-query 192.0.2.7 2>&1)" "192.0.2.7 yes user=bob *" \
    "relay-query, under the envdir, says yes for bob's address"
like "$(envdir /etc/relaylease /usr/sbin/relay-expire -l 2>&1)" "*192.0.2.7*bob*" \
    "relay-expire -l lists it"

# ---- purge -----------------------------------------------------------------------------------------

t0=$(now_ms)
dpkg --purge relaylease >"$SCRATCH/purge.log" 2>&1
rc=$?
diag "dpkg --purge took $(($(now_ms) - t0)) ms"
is "$rc" 0 "dpkg --purge removes it"
[ "$rc" -eq 0 ] && installed=
diag <"$SCRATCH/purge.log"
check "the account is gone" sh -c '! getent passwd relaylease && ! getent group relaylease'
if [ -n "$uid" ] && [ -n "$gid" ]; then
    ps -o pid=,comm= -u "$uid" >"$SCRATCH/procs" 2>/dev/null
    check "no process of its uid $uid is left" test ! -s "$SCRATCH/procs"
    # shellcheck disable=SC2016 # expanded by the inner shell
    check "nothing in /etc, /var or /run is owned by its uid $uid or gid $gid" sh -c \
        '[ -z "$(find /etc /var /run -xdev \( -uid "$1" -o -gid "$2" \) -print -quit)" ]' \
        sh "$uid" "$gid"
else
    not_ok "no process or file of the account is left: its ids are not known (no account was made)"
fi
snapshot "$SCRATCH/after"
if cmp -s "$SCRATCH/before" "$SCRATCH/after"; then
    ok "the machine is as it was before the install"
else
    not_ok "the machine is as it was before the install"
    diff "$SCRATCH/before" "$SCRATCH/after" | diag
fi

# ---- again: an upgrade keeps the store; a purge keeps an account that still owns files ------------

cdbdir=/var/lib/relaylease-cdb
if [ -e "$cdbdir" ] || [ -L "$cdbdir" ]; then
    skip "a reinstall keeps the store; a purge keeps an account that owns files" "$cdbdir exists here"
    done_testing
fi
installed=1
dpkg -i "$deb" >"$SCRATCH/install2.log" 2>&1
is "$?" 0 "dpkg -i installs it again"
env TCPREMOTEIP=192.0.2.9 USER=carol /usr/sbin/relay-allow true 2>/dev/null
inode=$(stat -c %i /var/lib/relaylease/192.0.2.9 2>&1)
dpkg -i "$deb" >"$SCRATCH/install3.log" 2>&1
is "$?" 0 "and over itself, as an upgrade does"
is "$(stat -c %i /var/lib/relaylease/192.0.2.9 2>&1)" "$inode" \
    "the store and its record are left as they were (setup-store did not run again)"
# The cdb directory the README has the admin make for cdb mode, the account's.
made_cdb=1
mkdir "$cdbdir" && chown relaylease:relaylease "$cdbdir" || exit 111
dpkg --purge relaylease >"$SCRATCH/purge2.log" 2>&1
rc=$?
installed=
is "$rc" 0 "dpkg --purge with a directory of the account's left elsewhere"
like "$(cat "$SCRATCH/purge2.log")" "*the account relaylease is kept: it still owns $cdbdir*" \
    "says the account is kept, and why"
like "$(getent passwd relaylease)" "relaylease:*" "and keeps it, so that the directory keeps its owner"
check "the store is gone all the same" test ! -e /var/lib/relaylease
# Back as it was, by hand, as the admin would.
deb_undo
snapshot "$SCRATCH/after2"
if cmp -s "$SCRATCH/before" "$SCRATCH/after2"; then
    ok "after the account is removed by hand, the machine is as it was"
else
    not_ok "after the account is removed by hand, the machine is as it was"
    diff "$SCRATCH/before" "$SCRATCH/after2" | diag
fi

done_testing
