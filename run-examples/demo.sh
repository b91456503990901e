#!/bin/sh
# run-examples/demo.sh: SMTP-after-POP on loopback, one step at a time.
#
# Installs missing Debian packages if run as root (otherwise prints the apt-get line and exits
# 100), builds relaylease, then runs the real tcpserver with two chains:
#   POP3: tcpserver -> popup -> checkpassword -> relay-allow -> pop3d
#   SMTP: tcpserver -> relay-check -> smtpd
# popup, checkpassword, pop3d and smtpd are the test stand-ins for qmail-popup, a
# checkpassword program, qmail-pop3d and qmail-smtpd (tests/standins/). Everything lives in a
# scratch directory and every server is stopped at the end.
# RELAY_BIN=DIR runs the programs in DIR instead (RELAY_BIN=/usr/sbin: the Debian package's);
# then only the stand-ins are built.
# Exit codes: 0 the story went as told; 1 it did not; 100, 111 as tests/deps.sh and make.

top=$(cd "$(dirname "$0")/.." && pwd) || exit 111
sh "$top/tests/deps.sh" || exit $?

standins="tests/standins/chat tests/standins/smtpd tests/standins/popup \
    tests/standins/checkpassword tests/standins/pop3d"
if [ -n "${RELAY_BIN:-}" ]; then
    for p in relay-allow relay-check relay-expire; do
        [ -x "$RELAY_BIN/$p" ] || {
            echo "demo: fatal: no program $RELAY_BIN/$p (RELAY_BIN)" >&2
            exit 100
        }
    done
    echo "== Building the stand-ins; relaylease's programs are those in $RELAY_BIN"
    # shellcheck disable=SC2086 # one word per target
    (cd "$top" && make -s $standins) || exit 111
else
    echo "== Building relaylease and the stand-ins"
    # shellcheck disable=SC2086 # one word per target
    (cd "$top" && make -s all $standins) || exit 111
    RELAY_BIN=$top
fi

STANDINS=$top/tests/standins
# shellcheck source-path=SCRIPTDIR source=../tests/lib.sh
. "$top/tests/lib.sh"

expiry=3
relay_rcpt=friend@example.net
store=$SCRATCH/store

say() {
    printf '\n%s\n' "$*"
}
indent() {
    sed 's/^/    /'
}
unexpected() {
    echo "demo: FAILED: $*" >&2
    exit 1
}
# try_relay: one SMTP session that asks to relay; prints it and returns the RCPT reply code.
try_relay() {
    printf '%s\n' 'HELO client.example' 'MAIL FROM:<bob@example.com>' \
        "RCPT TO:<$relay_rcpt>" QUIT | chat 127.0.0.1 "$smtp" >"$SCRATCH/smtp.chat"
    indent <"$SCRATCH/smtp.chat"
    reply_code=$(reply_to "$SCRATCH/smtp.chat" RCPT | cut -c1-3)
}

make_store "$store"
make_passwd "$SCRATCH/passwd"
echo example.com >"$SCRATCH/rcpthosts"

start_tcpserver pop 127.0.0.1 0 env RELAY_DIR="$store" STANDIN_PASSWD="$SCRATCH/passwd" \
    "$STANDINS/popup" localhost "$STANDINS/checkpassword" "$RELAY_BIN/relay-allow" \
    "$STANDINS/pop3d" || unexpected "the POP3 server did not start"
pop=$SERVER_PORT
start_tcpserver smtp 127.0.0.1 0 env RELAY_DIR="$store" RELAY_EXPIRY=$expiry \
    "$RELAY_BIN/relay-check" "$STANDINS/smtpd" "$SCRATCH/rcpthosts" ||
    unexpected "the SMTP server did not start"
smtp=$SERVER_PORT

say "== The servers"
echo "POP3 on 127.0.0.1 port $pop:  tcpserver popup checkpassword relay-allow pop3d"
echo "SMTP on 127.0.0.1 port $smtp:  tcpserver relay-check smtpd"
echo "The store (RELAY_DIR) is an empty directory; an allowance lasts RELAY_EXPIRY=$expiry seconds."
echo "The mail server's own domain is example.com; relaying means mail for anywhere else."

say "== 1. Before logging in, the client asks the SMTP server to relay to $relay_rcpt"
try_relay
[ "$reply_code" = 553 ] || unexpected "relay was not refused before the login"
echo "Refused (553): relay-check found no allowance for 127.0.0.1, so RELAYCLIENT stayed unset."
echo "relay-check logged:"
grep '^relay-check:' "$SCRATCH/smtp.log" | indent

say "== 2. The client checks its mail: a POP3 login as bob"
log_mark pop
printf '%s\n' 'USER bob' 'PASS secret' STAT QUIT | chat 127.0.0.1 "$pop" >"$SCRATCH/pop.chat"
indent <"$SCRATCH/pop.chat"
[ "$(reply_to "$SCRATCH/pop.chat" PASS)" = "+OK " ] || unexpected "the POP3 login failed"
echo "checkpassword accepted the password and ran relay-allow, which recorded the client,"
echo "then ran pop3d. relay-allow logged:"
log_new pop | indent
echo "The store now holds one file, named for the client; its mtime is the login time:"
(cd "$store" && for f in *; do printf '%s: %s\n' "$f" "$(cat "$f")"; done) | indent

say "== 3. The client asks to relay again"
log_mark smtp
try_relay
[ "$reply_code" = 250 ] || unexpected "relay was not granted after the login"
echo "Accepted (250): relay-check found a fresh allowance and set RELAYCLIENT before it ran smtpd."
echo "relay-check logged:"
log_new smtp | indent
echo "relay-expire -l lists the live allowances:"
RELAY_DIR=$store RELAY_EXPIRY=$expiry "$RELAY_BIN/relay-expire" -l | indent

wait_s=$((expiry + 2))
say "== 4. Waiting $wait_s seconds for the allowance to expire (RELAY_EXPIRY=$expiry)"
sleep "$wait_s"

say "== 5. The client asks to relay once more"
log_mark smtp
try_relay
[ "$reply_code" = 553 ] || unexpected "relay was not refused after the expiry"
echo "Refused (553): the allowance is older than RELAY_EXPIRY. relay-check logged:"
log_new smtp | indent

say "== 6. The cron job, relay-expire, removes the stale record"
RELAY_DIR=$store RELAY_EXPIRY=$expiry "$RELAY_BIN/relay-expire" | indent
[ -z "$(ls "$store")" ] || unexpected "relay-expire left the record in place"
echo "The store holds no allowance again."

say "== Done: stopping the servers and removing the scratch directory."
exit 0
