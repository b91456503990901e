#!/bin/sh
# t-forge.sh: nobody but a real login makes an allowance (SPEC, security model).
#
# The store belongs to its own account (here an unused uid standing for "relaylease"), mode
# 0755. A local user who is neither root, nor the mail user, nor the store's owner ("eve",
# another unused uid) tries every program and every path into the store: relay-allow with a
# forged client address, relay-allow with a RELAY_SESSION_FD pipe of her own, relay-session
# itself, relay-expire, relay-check, and writing, replacing, linking and touching files in the
# store. After each try the store must be exactly as it was, and relay-check must grant
# nothing for the forged addresses.
# Then the real chain, run by root under tcpserver on 127.0.0.1:
#   popup -> relay-session -> checkpassword (drops to uid 65534) -> relay-allow -> pop3d
# grants the client's address after a good login, and nothing after a wrong password; the
# same chain without relay-session cannot record at all.
# Needs root (to switch users, with setpriv from util-linux).
# shellcheck disable=SC2016 # the sh -c scripts below read their arguments as $1 and $2
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
    skip "no local user can forge an allowance" "not root"
    exit 0
fi
if ! command -v setpriv >/dev/null 2>&1; then
    skip "no local user can forge an allowance" "setpriv (util-linux) is missing"
    exit 0
fi
if [ "$MAIL_UID" = 0 ]; then
    skip "no local user can forge an allowance" \
        "the build or the scratch directory is not reachable by other users"
    exit 0
fi
need_programs
need_built relay-session

owner=$(unused_id 64000)
eve=$(unused_id $((owner + 1)))
diag "store owner uid $owner, eve uid $eve, mail user uid $MAIL_UID"

as_uid() {
    as_id=$1
    shift
    setpriv --reuid="$as_id" --regid="$as_id" --clear-groups -- "$@"
}
as_eve() {
    as_uid "$eve" "$@"
}

store=$SCRATCH/store
if ! { mkdir "$store" "$SCRATCH/eve" && chown "$owner:$owner" "$store" &&
    chmod 755 "$store" && chown "$eve:$eve" "$SCRATCH/eve" && chmod 700 "$SCRATCH/eve"; }; then
    not_ok "set up the store and eve's directory"
    exit 1
fi
make_passwd "$SCRATCH/passwd"

# What relay-check, as the SMTP side runs it, says (lib.sh's granted and refused) is asked
# of this store.
export RELAY_DIR="$store"
# Everything about the store that could make or change an allowance.
snapshot() {
    find "$store" -printf '%M %U %G %s %T@ %P\n' | sort
    find "$store" -type f -exec cksum {} + | sort
}

diag "the store owner may record, as the SPEC says"
as_uid "$owner" env TCPREMOTEIP=198.51.100.10 USER=alice RELAY_DIR="$store" \
    "$RELAY_BIN/relay-allow" 2>"$SCRATCH/owner.err"
check "the store owner records an allowance" \
    file_is "$store/198.51.100.10" 'relaylease1 198.51.100.10 alice\n'
check "which relay-check grants" granted 198.51.100.10
baseline=$(snapshot)

# unchanged DESC: the store is exactly as it was before eve's try.
unchanged() {
    now=$(snapshot)
    if [ "$now" = "$baseline" ]; then
        ok "store unchanged after: $1"
    else
        not_ok "store unchanged after: $1"
        diag "before:" "$baseline" "after:" "$now"
    fi
}
# eve_fails DESC CMD...: eve runs CMD; it must fail, and the store must not change.
eve_fails() {
    eve_fails_desc=$1
    shift
    if as_eve "$@" >"$SCRATCH/eve.out" 2>&1; then
        not_ok "eve is refused: $eve_fails_desc"
        diag <"$SCRATCH/eve.out"
    else
        ok "eve is refused: $eve_fails_desc"
    fi
    unchanged "$eve_fails_desc"
}
# runs DESC TEXT CMD...: eve runs one of our programs; it must go on (exit 0) and say TEXT,
# and the store must not change.
runs() {
    runs_desc=$1 runs_want=$2
    shift 2
    as_eve "$@" >"$SCRATCH/eve.out" 2>&1
    is "$?" 0 "$runs_desc: exits 0"
    if grep -qF -- "$runs_want" "$SCRATCH/eve.out"; then
        ok "$runs_desc: says \"$runs_want\""
    else
        not_ok "$runs_desc: says \"$runs_want\""
        diag <"$SCRATCH/eve.out"
    fi
    unchanged "$runs_desc"
}

diag "eve runs our programs with forged environments"
runs "relay-allow, forged TCPREMOTEIP" "warning: unable to record 192.0.2.66" \
    env TCPREMOTEIP=192.0.2.66 USER=eve RELAY_DIR="$store" "$RELAY_BIN/relay-allow"
runs "relay-allow, forged TCP6REMOTEIP" "warning: unable to record 2001:db8:66::_64" \
    env PROTO=TCP6 TCP6REMOTEIP=2001:db8:66::1 USER=eve RELAY_DIR="$store" \
    "$RELAY_BIN/relay-allow"
runs "relay-allow, forged IP (Dovecot)" "warning: unable to record 192.0.2.66" \
    env IP=192.0.2.66 USER=eve RELAY_DIR="$store" "$RELAY_BIN/relay-allow"
runs "relay-allow, RELAY_SESSION_FD naming a file" "RELAY_SESSION_FD is not a pipe" \
    env TCPREMOTEIP=192.0.2.66 USER=eve RELAY_DIR="$store" RELAY_SESSION_FD=5 \
    "$RELAY_BIN/relay-allow" 5>>"$SCRATCH/eve/file"
# A pipe of her own: relay-allow reports the login into it, and that is all it does.
runs "relay-allow, RELAY_SESSION_FD a pipe of eve's" "reported the login of user=eve" \
    env TCPREMOTEIP=192.0.2.66 USER=eve RELAY_DIR="$store" RELAY_SESSION_FD=5 \
    sh -c '"$1" 5>&1 >/dev/null | cat >"$2"' sh "$RELAY_BIN/relay-allow" "$SCRATCH/eve/heard"
check "relay-allow wrote the user name into eve's pipe" file_is "$SCRATCH/eve/heard" 'eve\n'
runs "relay-session run by eve" "warning: unable to record 192.0.2.66" \
    env TCPREMOTEIP=192.0.2.66 USER=eve RELAY_DIR="$store" RELAY_SESSION_REFRESH=1 \
    "$RELAY_BIN/relay-session" "$RELAY_BIN/relay-allow" true
runs "relay-session run by eve, IPv6" "warning: unable to record 2001:db8:66::_64" \
    env PROTO=TCP6 TCP6REMOTEIP=2001:db8:66::1 USER=eve RELAY_DIR="$store" \
    "$RELAY_BIN/relay-session" "$RELAY_BIN/relay-allow"
# The sweep: eve may look, but neither add nor take away.
touch -d '-100 seconds' "$store/198.51.100.10"
baseline=$(snapshot)
# The sweep's lock file is the store owner's, mode 0600: eve cannot even take the lock, so
# she can neither sweep nor stall the logins and sweeps that need it.
as_eve env RELAY_DIR="$store" RELAY_EXPIRY=1 "$RELAY_BIN/relay-expire" >"$SCRATCH/eve.out" 2>&1
is "$?" 111 "relay-expire with RELAY_EXPIRY=1: exits 111"
like "$(cat "$SCRATCH/eve.out")" "relay-expire: fatal: unable to sweep *Permission denied" \
    "relay-expire with RELAY_EXPIRY=1: cannot take the store's lock"
unchanged "relay-expire with RELAY_EXPIRY=1"
runs "relay-expire -n" "would remove 198.51.100.10" env RELAY_DIR="$store" RELAY_EXPIRY=1 "$RELAY_BIN/relay-expire" -n
runs "relay-expire -l" "198.51.100.10 alice" env RELAY_DIR="$store" "$RELAY_BIN/relay-expire" -l
as_eve env TCPREMOTEIP=192.0.2.66 RELAY_DIR="$store" "$RELAY_BIN/relay-check" \
    printenv RELAYCLIENT >"$SCRATCH/eve.out" 2>"$SCRATCH/eve.err"
is "$?" 1 "relay-check run by eve with a forged address grants nothing"
unchanged "relay-check run by eve"

diag "eve tries every path into the store"
printf 'relaylease1 192.0.2.66 eve\n' >"$SCRATCH/eve/192.0.2.66"
printf 'relaylease1 198.51.100.10 eve\n' >"$SCRATCH/eve/198.51.100.10"
chown "$eve:$eve" "$SCRATCH/eve/192.0.2.66" "$SCRATCH/eve/198.51.100.10"
eve_fails "create a record" sh -c 'printf "relaylease1 192.0.2.66 eve\n" >"$1"' sh \
    "$store/192.0.2.66"
eve_fails "write into a record" sh -c 'printf "relaylease1 198.51.100.10 eve\n" >"$1"' sh \
    "$store/198.51.100.10"
eve_fails "append to a record" sh -c 'printf x >>"$1"' sh "$store/198.51.100.10"
eve_fails "touch a record (refresh it)" touch "$store/198.51.100.10"
eve_fails "remove a record" rm -f "$store/198.51.100.10"
eve_fails "replace a record (rename over it)" mv -f "$SCRATCH/eve/198.51.100.10" \
    "$store/198.51.100.10"
eve_fails "move a record in" mv "$SCRATCH/eve/192.0.2.66" "$store/192.0.2.66"
eve_fails "create a temp file" sh -c ': >"$1"' sh "$store/.tmp.1.192.0.2.66"
eve_fails "symlink a record" ln -s "$SCRATCH/eve/192.0.2.66" "$store/192.0.2.66"
eve_fails "hard-link a record" ln "$SCRATCH/eve/192.0.2.66" "$store/192.0.2.66"
eve_fails "make a directory" mkdir "$store/192.0.2.66"
eve_fails "change the store's mode" chmod 777 "$store"
eve_fails "move the store away" mv "$store" "$SCRATCH/eve/store"
eve_fails "write into the store's parent" sh -c ': >"$1"' sh "$SCRATCH/192.0.2.66"

diag "what the SMTP side sees"
check "relay-check grants nothing for the forged 192.0.2.66" refused 192.0.2.66
check "relay-check grants nothing for the forged 2001:db8:66::1" refused 2001:db8:66::1
check "relay-check still grants the store owner's record" granted 198.51.100.10
check "relay-check logs the refusal" grep -q 'relay-check: refused 192.0.2.66 not found' \
    "$SCRATCH/relay-check.log"

diag "the real chain: tcpserver, popup, relay-session, checkpassword, relay-allow, pop3d"
rm -f "$store/198.51.100.10"
start_tcpserver pop 127.0.0.1 0 env RELAY_DIR="$store" STANDIN_PASSWD="$SCRATCH/passwd" \
    "$STANDINS/popup" localhost "$RELAY_BIN/relay-session" "$STANDINS/checkpassword" \
    "$RELAY_BIN/relay-allow" "$STANDINS/pop3d" -e "$SCRATCH/home/bob/pop3d.env" Maildir &&
    pop=$SERVER_PORT pop_pid=$SERVER_PID
start_tcpserver bare 127.0.0.1 0 env RELAY_DIR="$store" STANDIN_PASSWD="$SCRATCH/passwd" \
    "$STANDINS/popup" localhost "$STANDINS/checkpassword" \
    "$RELAY_BIN/relay-allow" "$STANDINS/pop3d" Maildir &&
    bare=$SERVER_PORT
if [ -z "${pop:-}" ] || [ -z "${bare:-}" ]; then
    not_ok "both tcpservers started"
    exit 1
fi

pop_login 127.0.0.1 "$pop" bob wrong
is "$(reply_to "$SCRATCH/pop.chat" PASS)" "-ERR authorization failed" "a wrong password fails"
check "a wrong password records nothing" test ! -e "$store/127.0.0.1"
check "relay-check grants nothing after a wrong password" refused 127.0.0.1

pop_login 127.0.0.1 "$bare" bob secret
is "$(reply_to "$SCRATCH/pop.chat" STAT)" "+OK 0 0" "without relay-session the login works"
check "but the mail user cannot record" test ! -e "$store/127.0.0.1"
check "and relay-allow says so" grep -q 'relay-allow: warning: unable to record 127.0.0.1' \
    "$SCRATCH/bare.log"

pop_login 127.0.0.1 "$pop" bob secret
is "$(reply_to "$SCRATCH/pop.chat" PASS)" "+OK " "with relay-session the login succeeds"
is "$(reply_to "$SCRATCH/pop.chat" STAT)" "+OK 0 0" "and the session reaches pop3d"
check "relay-session recorded the client's address" \
    file_is "$store/127.0.0.1" 'relaylease1 127.0.0.1 bob\n'
check "relay-check grants 127.0.0.1" granted 127.0.0.1
check "relay-allow reported the login" \
    grep -q 'relay-allow: reported the login of user=bob on RELAY_SESSION_FD' "$SCRATCH/pop.log"
check "relay-session logged the record" \
    grep -q 'relay-session: recorded 127.0.0.1 user=bob' "$SCRATCH/pop.log"
check "pop3d ran as the mail user" owned_by "$SCRATCH/home/bob/pop3d.env" "$MAIL_UID"
check "pop3d ran with USER=bob" grep -qx 'USER=bob' "$SCRATCH/home/bob/pop3d.env"
if grep -q '^RELAY_SESSION_FD=' "$SCRATCH/home/bob/pop3d.env"; then
    not_ok "RELAY_SESSION_FD does not reach pop3d"
else
    ok "RELAY_SESSION_FD does not reach pop3d"
fi
# The session has ended, so its relay-session must be gone too.
check "no process is left once the session ended" no_children "$pop_pid"

done_testing
