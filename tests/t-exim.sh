#!/bin/sh
# run: quick
# t-exim.sh: relay-query in the RCPT ACL of a real Exim (Debian's exim4-daemon-light 4.96,
# unpacked: see exim-lib.sh), a private daemon on a free loopback port, with the ACL lines of
# run-examples/exim/relaylease.acl as shipped but for the two paths. Exim runs ${run} as its
# own user with an empty environment, so this is the whole path: Exim's address text, the
# exit status, the store read by another account.
#   - a relay RCPT is refused (550 relay not permitted) before any login, accepted (250) once
#     relay-allow has recorded the address, refused again once the allowance has expired (its
#     time back-dated, no waiting); the same over ::1 where loopback IPv6 works;
#   - a recipient in the local domain is accepted with no allowance;
#   - a client that authenticated (AUTH PLAIN) relays with no allowance; a wrong password
#     relays nothing;
#   - a store that is missing or that Exim's user cannot read: relay-query exits 111 and Exim
#     refuses (550, not a 451 for everybody, no hang), though the store holds the allowance;
#   - relay-query(8)'s EXAMPLES show the shipped statements word for word.
# Skipped when not root, or when Exim cannot be had or run in a private mount namespace.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
# shellcheck source=debs-lib.sh
. "$(dirname "$0")/debs-lib.sh"
# shellcheck source=exim-lib.sh
. "$(dirname "$0")/exim-lib.sh"

need_built relay-allow relay-query chat
acl=$lib_top/run-examples/exim/relaylease.acl

exim_skip() {
    skip "Exim: relay-query in the RCPT ACL" "$1"
    done_testing
}
exim_setup || exim_skip "$EXIM_WHY"
reachable "$RELAY_BIN/relay-query" ||
    exim_skip "Exim's user cannot reach $RELAY_BIN/relay-query"

store=$SCRATCH/store
mkdir -p "$store" && chmod 755 "$store" && chown "$MAIL_UID:$MAIL_GID" "$store" || exit 111

# The shipped ACL lines, only the store and the program's path changed.
sed -e "s|RELAY_DIR=/var/lib/relaylease|RELAY_DIR=$store|" \
    -e "s|/usr/local/bin/relay-query|$RELAY_BIN/relay-query|" "$acl" >"$SCRATCH/relaylease.acl" ||
    exit 111
if cmp -s "$acl" "$SCRATCH/relaylease.acl" || ! grep -q "RELAY_DIR=$store " "$SCRATCH/relaylease.acl"; then
    not_ok "the shipped ACL names /var/lib/relaylease and /usr/local/bin/relay-query"
fi

v6=
"$STANDINS/chat" -f ::1 >/dev/null 2>&1 && v6=yes
interfaces="<; 127.0.0.1"
[ -z "$v6" ] || interfaces="<; 127.0.0.1 ; ::1"
mkdir -p "$SCRATCH/ex" || exit 111
# A port free a moment ago may be taken before Exim binds it: three tries.
tries=0
while :; do
    port=$(free_port 127.0.0.1) || exit 111
    exim_conf "$SCRATCH/ex/exim.conf" "$port" "$interfaces" "$SCRATCH/relaylease.acl" || exit 111
    exim_start "$SCRATCH/ex/exim.conf" && break
    stop_pid "$EXIM_PID"
    tries=$((tries + 1))
    if [ "$tries" -ge 3 ]; then
        not_ok "the Exim daemon starts and listens"
        done_testing
    fi
done
# -C names a file outside Exim's trusted list: Exim gives up root, so ${run} runs relay-query
# as Debian-exim, the account an operator's Exim runs it as.
is "$(stat -c %u "/proc/$EXIM_PID")" "$EXIM_UID" "the Exim daemon runs as Debian-exim"

# rcpt HOST RCPT [AUTH-ARG]: EHLO, AUTH (if given), MAIL, RCPT, QUIT. Prints the reply to
# RCPT; the transcript is in $SCRATCH/smtp.chat.
rcpt() {
    {
        echo "EHLO client.example"
        [ -z "${3:-}" ] || echo "AUTH PLAIN $3"
        echo "MAIL FROM:<sender@client.example>"
        echo "RCPT TO:<$2>"
        echo "QUIT"
    } | chat "$1" "$port" >"$SCRATCH/smtp.chat"
    reply_to "$SCRATCH/smtp.chat" RCPT
}

# allow IP: the login hook records IP for bob, as the mail user.
allow() {
    setpriv --reuid="$MAIL_UID" --regid="$MAIL_GID" --clear-groups \
        env USER=bob "$(client_env "$1" | cut -d' ' -f2)" RELAY_DIR="$store" \
        "$RELAY_BIN/relay-allow" </dev/null >/dev/null 2>>"$SCRATCH/allow.log"
}

remote=friend@example.net

like "$(rcpt 127.0.0.1 $remote)" "550 relay not permitted*" "127.0.0.1, no login: the relay is refused"
like "$(rcpt 127.0.0.1 postmaster@mx.relaylease.test)" "250 *" \
    "127.0.0.1, no login: a local recipient is accepted"

allow 127.0.0.1
is "$(cat "$store/127.0.0.1" 2>/dev/null)" "relaylease1 127.0.0.1 bob" "relay-allow recorded 127.0.0.1 for bob"
like "$(rcpt 127.0.0.1 $remote)" "250 *" "127.0.0.1 after the login: the relay is accepted"
like "$(rcpt 127.0.0.1 postmaster@mx.relaylease.test)" "250 *" \
    "127.0.0.1 after the login: a local recipient is accepted"

# Two hours ago: longer than any expiry the defaults allow.
touch -d "@$(($(date +%s) - 7200))" "$store/127.0.0.1"
like "$(rcpt 127.0.0.1 $remote)" "550 relay not permitted*" "127.0.0.1, allowance expired: the relay is refused"
like "$(rcpt 127.0.0.1 postmaster@mx.relaylease.test)" "250 *" \
    "127.0.0.1, allowance expired: a local recipient is accepted"

# SMTP AUTH: bob/secret relays with no allowance; a wrong password does not.
plain=$(printf '\0bob\0secret' | base64)
like "$(rcpt 127.0.0.1 $remote "$plain")" "250 *" "AUTH PLAIN bob, no allowance: the relay is accepted"
like "$(reply_to "$SCRATCH/smtp.chat" AUTH)" "235 *" "AUTH PLAIN bob: authenticated"
like "$(reply_lines "$SCRATCH/smtp.chat" EHLO | grep AUTH)" "250-AUTH PLAIN" "EHLO offers AUTH PLAIN"
bad=$(printf '\0bob\0wrong' | base64)
like "$(rcpt 127.0.0.1 $remote "$bad")" "550 relay not permitted*" \
    "AUTH PLAIN with a wrong password, no allowance: the relay is refused"

if [ -n "$v6" ]; then
    like "$(rcpt ::1 $remote)" "550 relay not permitted*" "::1, no login: the relay is refused"
    allow ::1
    is "$(cat "$store/::1_128" 2>/dev/null)" "relaylease1 ::1_128 bob" "relay-allow recorded ::1 for bob"
    like "$(rcpt ::1 $remote)" "250 *" "::1 after the login: the relay is accepted"
    touch -d "@$(($(date +%s) - 7200))" "$store/::1_128"
    like "$(rcpt ::1 $remote)" "550 relay not permitted*" "::1, allowance expired: the relay is refused"
else
    skip "::1: refused, accepted after the login, refused after expiry" "no loopback IPv6 here"
fi

# The store unreadable: relay-query exits 111 and Exim refuses, with a fresh allowance there.
allow 127.0.0.1
like "$(rcpt 127.0.0.1 $remote)" "250 *" "127.0.0.1 logged in again: the relay is accepted"
# query_as_exim: relay-query's exit status as Exim runs it.
query_as_exim() {
    setpriv --reuid="$EXIM_UID" --regid="$EXIM_UID" --clear-groups \
        env -i RELAY_DIR="$store" "$RELAY_BIN/relay-query" 127.0.0.1 >/dev/null 2>&1
    echo $?
}
chmod 700 "$store" || exit 111
is "$(query_as_exim)" 111 "store unreadable by Exim's user: relay-query exits 111"
like "$(rcpt 127.0.0.1 $remote)" "550 relay not permitted*" \
    "store unreadable by Exim's user: the relay is refused (not accepted, not deferred)"
like "$(rcpt 127.0.0.1 postmaster@mx.relaylease.test)" "250 *" \
    "store unreadable by Exim's user: a local recipient is still accepted"
chmod 755 "$store" && mv "$store" "$store.away" || exit 111
is "$(query_as_exim)" 111 "store missing: relay-query exits 111"
like "$(rcpt 127.0.0.1 $remote)" "550 relay not permitted*" \
    "store missing: the relay is refused (not accepted, not deferred)"
mv "$store.away" "$store" || exit 111
like "$(rcpt 127.0.0.1 $remote)" "250 *" "store back: the relay is accepted again"

# Exim logged the refusals with its reason; it is stopped by PID and leaves nothing.
check "Exim's reject log names the refused relay" \
    grep -q "rejected RCPT <$remote>: relay not permitted" "$SCRATCH/ex/log/rejectlog"
stop_pid "$EXIM_PID"
check "the Exim daemon is stopped" sh -c "! kill -0 $EXIM_PID 2>/dev/null"

done_testing
