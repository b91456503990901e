#!/bin/sh
# run: quick
# t-mailfront.sh: the mailfront run files (run-examples/mailfront) with Debian's mailfront
# 2.12 and cvm 0.97 under the real tcpserver on loopback, installed as shipped but for the
# paths (cvm-pwfile in place of cvm-unix, a scratch store, QMAILHOME and port):
#   - pop3d.run: a good POP3 login through relay-session, pop3front-auth, the CVM, relay-allow
#     and pop3front-maildir records the address for the user (written by relay-session, as
#     root: the user cannot write the store); a wrong password records nothing;
#   - imapd.run: the same through imapfront-auth (the CVM from $CVM_SASL_PLAIN), a stand-in
#     imapd after relay-allow;
#   - relay-allow right after the CVM with no relay-session, in a store the user may write;
#   - smtpd.run: relay-check in front of smtpfront-qmail (no qmail needed before DATA): a
#     remote RCPT is refused without an allowance and accepted with one, AUTH is offered
#     either way, a client that authenticates (AUTH PLAIN) relays without an allowance, an
#     expired allowance (back-dated) relays nothing.
# Skipped when not root (pop3front-auth changes users) or when mailfront or cvm is missing.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

need_built relay-allow relay-check relay-session chat
examples=$lib_top/run-examples/mailfront

mf_skip() {
    skip "mailfront: pop3front, imapfront and smtpfront-qmail with relaylease" "$1"
    done_testing
}
[ "$(id -u)" -eq 0 ] || mf_skip "needs root (pop3front-auth changes to the user)"
[ "$MAIL_UID" -ne 0 ] || mf_skip "the scratch directory or the programs are not reachable by the mail user"
command -v tcpserver >/dev/null 2>&1 || mf_skip "tcpserver is not installed (Debian: ucspi-tcp-ipv6)"
for p in /usr/sbin/pop3front-auth /usr/sbin/pop3front-maildir /usr/sbin/imapfront-auth \
    /usr/sbin/smtpfront-qmail /usr/bin/cvm-pwfile; do
    [ -x "$p" ] || mf_skip "$p is not installed (Debian: mailfront, cvm)"
done

# The store belongs to root, mode 0755: only relay-session can record in it.
store=$SCRATCH/store
mkdir -p "$store" && chmod 755 "$store" || exit 111
home=$SCRATCH/home/bob
mkdir -p "$home/Maildir/cur" "$home/Maildir/new" "$home/Maildir/tmp" &&
    chown -R "$MAIL_UID:$MAIL_GID" "$SCRATCH/home" || exit 111
# cvm-pwfile: a passwd-format file with the password in clear. smtpfront's CVM runs as the
# mail user, so it must be readable.
pw=$SCRATCH/pwfile
echo "bob:secret:$MAIL_UID:$MAIL_GID:Bob:$home:/bin/sh" >"$pw" && chmod 644 "$pw" || exit 111
qm=$SCRATCH/qmail
mkdir -p "$qm/control" && echo mx.relaylease.test >"$qm/control/me" &&
    echo mx.relaylease.test >"$qm/control/rcpthosts" && chmod -R a+rX "$qm" || exit 111
# A stand-in for Courier's imapd: says who it runs as, and for whom.
cat >"$SCRATCH/fake-imapd" <<'EOF'
#!/bin/sh
echo "* BYE fake imapd uid=$(id -u) user=$AUTHENTICATED"
EOF
chmod 755 "$SCRATCH/fake-imapd" || exit 111

# install_run EXAMPLE: the run file, as shipped but for the paths, in $SCRATCH/EXAMPLE.
install_run() {
    sed -e "s|^exec envdir /etc/relaylease|exec env RELAY_DIR=$store CVM_PWFILE_PATH=$pw QMAILHOME=$qm|" \
        -e 's|tcpserver -v |tcpserver -1 -v |' \
        -e 's| 0 [a-z0-9]* \\$| 127.0.0.1 0 \\|' \
        -e "s|/usr/local/bin/|$RELAY_BIN/|g" \
        -e 's|/usr/bin/cvm-unix|/usr/bin/cvm-pwfile|g' \
        -e 's|cvm-local:/run/cvm-unix.sock|/usr/bin/cvm-pwfile|' \
        -e 's| -x /etc/tcp.smtp.cdb||' \
        -e "s|/var/qmail/control/|$qm/control/|g" \
        -e "s|^QMAILDUID=.*|QMAILDUID=$MAIL_UID|" -e "s|^NOFILESGID=.*|NOFILESGID=$MAIL_GID|" \
        -e "s|/usr/bin/imapd Maildir|$SCRATCH/fake-imapd|" \
        "$examples/$1" >"$SCRATCH/$1" && chmod 755 "$SCRATCH/$1" || exit 111
    if grep -n -e /etc/relaylease -e /usr/local/bin -e cvm-unix -e 'tcp\.smtp' -e /var/qmail \
        -e '/usr/bin/imapd' "$SCRATCH/$1" | grep -v -e '^[0-9]*:#' -e '^[0-9]*:PATH=' >"$SCRATCH/left"; then
        not_ok "$1: every path the test replaces was found"
        diag <"$SCRATCH/left"
    fi
}

# start_run EXAMPLE: start the installed run file; its output (tcpserver's port first, then
# everything the services log) in $SCRATCH/EXAMPLE.log. Sets PORT.
start_run() {
    start_bg sh "$SCRATCH/$1" >"$SCRATCH/$1.log" 2>&1 </dev/null
    if ! eventually 30 grep -q '^[0-9][0-9]*$' "$SCRATCH/$1.log"; then
        not_ok "$1 starts and listens"
        diag <"$SCRATCH/$1.log"
        done_testing
    fi
    PORT=$(grep -m 1 '^[0-9][0-9]*$' "$SCRATCH/$1.log")
}

records() {
    find "$1" -path "$1/.users" -prune -o -type f ! -name ".*" -print | wc -l | tr -d ' '
}

for f in pop3d.run imapd.run smtpd.run; do
    install_run "$f"
done
start_run smtpd.run
smtp_port=$PORT
start_run pop3d.run
pop_port=$PORT
start_run imapd.run
imap_port=$PORT

# smtp RCPT [AUTH-ARG]: EHLO, AUTH (if given), MAIL, RCPT, QUIT to smtpd.run. Prints the
# reply to RCPT; the transcript is in $SCRATCH/smtp.chat.
smtp() {
    {
        echo "EHLO client.example"
        [ -z "${2:-}" ] || echo "AUTH PLAIN $2"
        echo "MAIL FROM:<sender@client.example>"
        echo "RCPT TO:<$1>"
        echo "QUIT"
    } | chat 127.0.0.1 "$smtp_port" >"$SCRATCH/smtp.chat"
    reply_to "$SCRATCH/smtp.chat" RCPT
}
# shellcheck disable=SC2317 # called through check
offers_auth() {
    reply_lines "$SCRATCH/smtp.chat" EHLO | grep -q '^250-AUTH .*PLAIN'
}
remote=friend@example.net

# ---- SMTP before any login --------------------------------------------------------------------

like "$(smtp $remote)" "550 *" "smtpfront-qmail, no allowance: the relay is refused"
check "smtpfront-qmail, no allowance: AUTH is offered" offers_auth
like "$(smtp postmaster@mx.relaylease.test)" "250 *" "smtpfront-qmail, no allowance: a local recipient is accepted"
plain=$(printf '\0bob\0secret' | base64)
like "$(smtp $remote "$plain")" "250 *" "smtpfront-qmail, AUTH PLAIN bob, no allowance: the relay is accepted"
like "$(reply_to "$SCRATCH/smtp.chat" AUTH)" "235 *" "smtpfront-qmail: AUTH PLAIN bob succeeds"
bad=$(printf '\0bob\0wrong' | base64)
like "$(smtp $remote "$bad")" "550 *" "smtpfront-qmail, wrong AUTH password, no allowance: the relay is refused"
is "$(records "$store")" 0 "SMTP AUTH records nothing"

# ---- POP3 ----------------------------------------------------------------------------------

pop_login 127.0.0.1 "$pop_port" bob wrong
like "$(reply_to "$SCRATCH/pop.chat" PASS)" "-ERR*" "pop3front-auth, wrong password: refused"
is "$(records "$store")" 0 "pop3front-auth, wrong password: nothing recorded"

pop_login 127.0.0.1 "$pop_port" bob secret
like "$(reply_to "$SCRATCH/pop.chat" PASS)" "+OK*" "pop3front-auth, good password: logged in"
like "$(reply_to "$SCRATCH/pop.chat" STAT)" "+OK 0 0*" "pop3front-maildir serves the session"
is "$(cat "$store/127.0.0.1" 2>/dev/null)" "relaylease1 127.0.0.1 bob" \
    "pop3front-auth, good password: 127.0.0.1 recorded for bob"
check "the record is relay-session's (root's): the user cannot write the store" owned_by "$store/127.0.0.1" 0
check "the log names the login" grep -q "relay-session: recorded 127.0.0.1 user=bob" "$SCRATCH/pop3d.run.log"

# ---- SMTP with the allowance ------------------------------------------------------------------

like "$(smtp $remote)" "250 *" "smtpfront-qmail after the POP3 login: the relay is accepted"
check "smtpfront-qmail after the POP3 login: AUTH is still offered" offers_auth
touch -d "@$(($(date +%s) - 7200))" "$store/127.0.0.1"
like "$(smtp $remote)" "550 *" "smtpfront-qmail, allowance expired: the relay is refused"
like "$(smtp $remote "$plain")" "250 *" "smtpfront-qmail, allowance expired, AUTH PLAIN bob: the relay is accepted"
rm -f "$store/127.0.0.1"

# ---- IMAP ----------------------------------------------------------------------------------

printf '%s\n' 'a1 LOGIN bob wrong' 'a2 LOGOUT' | chat 127.0.0.1 "$imap_port" >"$SCRATCH/imap.chat"
like "$(reply_to "$SCRATCH/imap.chat" a1)" "a1 NO*" "imapfront-auth, wrong password: refused"
is "$(records "$store")" 0 "imapfront-auth, wrong password: nothing recorded"
printf '%s\n' 'a1 LOGIN bob secret' | chat 127.0.0.1 "$imap_port" >"$SCRATCH/imap.chat"
like "$(reply_to "$SCRATCH/imap.chat" a1)" "\* BYE fake imapd uid=$MAIL_UID user=bob" \
    "imapfront-auth, good password: imapd runs as the user, AUTHENTICATED=bob"
is "$(cat "$store/127.0.0.1" 2>/dev/null)" "relaylease1 127.0.0.1 bob" \
    "imapfront-auth, good password: 127.0.0.1 recorded for bob"
like "$(smtp $remote)" "250 *" "smtpfront-qmail after the IMAP login: the relay is accepted"
rm -f "$store/127.0.0.1"

# ---- relay-allow alone, in a store the user may write -----------------------------------------

store2=$SCRATCH/store2
make_store "$store2" || exit 111
start_tcpserver pop2 127.0.0.1 0 env CVM_PWFILE_PATH="$pw" RELAY_DIR="$store2" \
    /usr/sbin/pop3front-auth /usr/bin/cvm-pwfile "$RELAY_BIN/relay-allow" \
    /usr/sbin/pop3front-maildir Maildir || exit 111
pop_login 127.0.0.1 "$SERVER_PORT" bob wrong
is "$(records "$store2")" 0 "pop3front-auth, no relay-session, wrong password: nothing recorded"
pop_login 127.0.0.1 "$SERVER_PORT" bob secret
like "$(reply_to "$SCRATCH/pop.chat" STAT)" "+OK 0 0*" "pop3front-auth, no relay-session: the session goes on"
is "$(cat "$store2/127.0.0.1" 2>/dev/null)" "relaylease1 127.0.0.1 bob" \
    "pop3front-auth, no relay-session: relay-allow records 127.0.0.1 for bob"
check "pop3front-auth, no relay-session: the record is the user's" owned_by "$store2/127.0.0.1" "$MAIL_UID"

done_testing
