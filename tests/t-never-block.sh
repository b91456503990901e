#!/bin/sh
# t-never-block.sh: nothing relaylease finds wrong may stop a login or an SMTP session.
#   relay-allow with a store that is missing, not writable, or a file: the POP3 login still
#   works and relay-allow says so in one warning line.
#   relay-check with a broken store or a bad record (a FIFO, a symlink, a directory, too big,
#   for another key) or one from the future: the smtpd still runs, without hanging, and
#   nothing is granted. Bad settings and addresses grant nothing either.
#   A failed exec exits 111; relay-check with no program exits 100.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_programs

make_passwd "$SCRATCH/passwd"
echo example.com >"$SCRATCH/rcpthosts"
relay_rcpt=friend@example.net
refused="553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"
greeting="220 localhost ESMTP"

# login_despite DESC STORE: a POP3 login through relay-allow with RELAY_DIR=STORE still works,
# and relay-allow prints exactly one line, a warning.
login_despite() {
    start_tcpserver pop 127.0.0.1 0 env RELAY_DIR="$2" STANDIN_PASSWD="$SCRATCH/passwd" \
        "$STANDINS/popup" localhost "$STANDINS/checkpassword" "$RELAY_BIN/relay-allow" \
        "$STANDINS/pop3d" || {
        not_ok "$1: tcpserver started"
        return
    }
    pop_login 127.0.0.1 "$SERVER_PORT" bob secret
    is "$(reply_to "$SCRATCH/pop.chat" PASS)" "+OK " "$1: the login still works"
    is "$(reply_to "$SCRATCH/pop.chat" STAT)" "+OK 0 0" "$1: the session reaches pop3d"
    stop_pid "$SERVER_PID"
    is "$(grep -c '^relay-allow: ' "$SCRATCH/pop.log")" 1 "$1: relay-allow prints one line"
    like "$(grep '^relay-allow: ' "$SCRATCH/pop.log")" 'relay-allow: warning: *' \
        "$1: and that line is a warning"
}

# relay_despite DESC: on the "smtp" server, the smtpd greets, relay is refused, and
# relay-check printed one line. The second form also wants that line to be a warning.
relay_despite() {
    log_mark smtp
    smtp_try 127.0.0.1 "$smtp" "$relay_rcpt"
    is "$(sed -n 1p "$SCRATCH/smtp.chat")" "S: $greeting" "$1: the smtpd runs"
    is "$(reply_to "$SCRATCH/smtp.chat" RCPT)" "$refused" "$1: relay is refused"
    is "$(log_new smtp | grep -c '^relay-check: ')" 1 "$1: relay-check prints one line"
}
relay_warned() {
    relay_despite "$1"
    like "$(log_new smtp | grep '^relay-check: ')" 'relay-check: warning: *' \
        "$1: and that line is a warning"
}

# A store that the mail user cannot write: root's own directory when checkpassword drops to
# another user, a read-only one when we are not root.
if [ "$MAIL_UID" != "$(id -u)" ]; then
    mkdir "$SCRATCH/rootstore" && chmod 755 "$SCRATCH/rootstore"
    unwritable=$SCRATCH/rootstore
elif [ "$(id -u)" -ne 0 ]; then
    mkdir "$SCRATCH/rostore" && chmod 555 "$SCRATCH/rostore"
    unwritable=$SCRATCH/rostore
else
    unwritable=
fi

diag "relay-allow: the login goes on"
login_despite "store missing" "$SCRATCH/no-such-store"
if [ -n "$unwritable" ]; then
    login_despite "store not writable" "$unwritable"
else
    skip "store not writable" "root without a user to drop to"
fi
: >"$SCRATCH/plainfile"
login_despite "store is a file" "$SCRATCH/plainfile"
make_store "$SCRATCH/store-dir-key"
mkdir "$SCRATCH/store-dir-key/127.0.0.1"
login_despite "the record's name is a directory" "$SCRATCH/store-dir-key"
is "$(find "$SCRATCH/store-dir-key" -name '.tmp.*')" "" "relay-allow leaves no temp file behind"

diag "relay-check: the session goes on"
store=$SCRATCH/store
make_store "$store"
start_tcpserver smtp 127.0.0.1 0 env RELAY_DIR="$store" \
    "$RELAY_BIN/relay-check" "$STANDINS/smtpd" "$SCRATCH/rcpthosts" || {
    not_ok "tcpserver started"
    exit 1
}
smtp=$SERVER_PORT

# fresh_record PATH PRINTF-FORMAT: a record file made now, holding these bytes
fresh_record() {
    # shellcheck disable=SC2059 # the format is the content
    printf "$2" >"$1"
}

fresh_record "$SCRATCH/valid" 'relaylease1 127.0.0.1 bob\n'
cp "$SCRATCH/valid" "$store/127.0.0.1"
log_mark smtp
is "$(smtp_try 127.0.0.1 "$smtp" "$relay_rcpt" && reply_to "$SCRATCH/smtp.chat" RCPT)" \
    "250 ok" "a valid record grants (so the refusals below are the records' fault)"
rm -f "$store/127.0.0.1"

mkfifo "$store/127.0.0.1"
relay_warned "the record is a FIFO"
rm -f "$store/127.0.0.1"
ln -s "$SCRATCH/valid" "$store/127.0.0.1"
relay_warned "the record is a symlink to a valid record"
rm -f "$store/127.0.0.1"
mkdir "$store/127.0.0.1"
relay_warned "the record is a directory"
rmdir "$store/127.0.0.1"
{
    printf 'relaylease1 127.0.0.1 bob\n'
    i=0
    while [ "$i" -lt 40 ]; do
        printf '%s\n' '..............................................'
        i=$((i + 1))
    done
} >"$store/127.0.0.1"
relay_warned "the record is bigger than 1024 bytes"
cp "$SCRATCH/valid" "$store/127.0.0.1"
touch -d "@$(($(date +%s) + 3600))" "$store/127.0.0.1"
# Not a broken record but one that cannot grant yet (a clock stepped back keeps it for later,
# see t-time.sh): a refusal that says why, as "not found" and "expired" do.
relay_despite "the record is from the future"
like "$(log_new smtp | grep '^relay-check: ')" \
    'relay-check: refused 127.0.0.1 login time 3[56][0-9][0-9] s in the future user=bob' \
    "the record is from the future: the refusal says why"
fresh_record "$store/127.0.0.1" 'relaylease1 127.0.0.2 bob\n'
relay_warned "the record names another key"
fresh_record "$store/127.0.0.1" 'relaylease9 127.0.0.1 bob\n'
relay_warned "the record has an unknown format"
fresh_record "$store/127.0.0.1" 'relaylease1 127.0.0.1 bob'
relay_warned "the record has no newline"
rm -f "$store/127.0.0.1"
stop_pid "$SERVER_PID"

start_smtp_store() { # STORE [TCPSERVER-OPTION...]: the "smtp" server on another store
    lib_s_store=$1
    shift
    start_tcpserver smtp "$@" 127.0.0.1 0 env RELAY_DIR="$lib_s_store" \
        "$RELAY_BIN/relay-check" "$STANDINS/smtpd" "$SCRATCH/rcpthosts" && smtp=$SERVER_PORT
}
start_smtp_store "$SCRATCH/no-such-store" && relay_despite "store missing"
stop_pid "$SERVER_PID"
start_smtp_store "$SCRATCH/plainfile" && relay_warned "store is a file"
stop_pid "$SERVER_PID"
make_store "$SCRATCH/locked"
cp "$SCRATCH/valid" "$SCRATCH/locked/127.0.0.1"
chmod 700 "$SCRATCH/locked"
if [ "$MAIL_UID" != "$(id -u)" ]; then
    chown 0:0 "$SCRATCH/locked" "$SCRATCH/locked/127.0.0.1"
    start_smtp_store "$SCRATCH/locked" -u"$MAIL_UID" -g"$MAIL_GID" &&
        relay_warned "store not readable"
    stop_pid "$SERVER_PID"
elif [ "$(id -u)" -ne 0 ]; then
    chmod 000 "$SCRATCH/locked"
    start_smtp_store "$SCRATCH/locked" && relay_warned "store not readable"
    stop_pid "$SERVER_PID"
else
    skip "store not readable" "root without a user to run as"
fi

diag "bad settings and addresses grant nothing"
cp "$SCRATCH/valid" "$store/127.0.0.1"
# direct ENV...: relay-check run by hand, the smtpd on a pipe; prints the reply to RCPT.
# Its stderr goes to $SCRATCH/direct.err.
direct() {
    printf '%s\r\n' 'MAIL FROM:<sender@client.example>' "RCPT TO:<$relay_rcpt>" QUIT |
        env -i RELAY_DIR="$store" "$@" \
            "$RELAY_BIN/relay-check" "$STANDINS/smtpd" "$SCRATCH/rcpthosts" \
            2>"$SCRATCH/direct.err" | sed -n 3p | tr -d '\r'
}
is "$(direct PROTO=TCP TCPREMOTEIP=127.0.0.1)" "250 ok" "by hand, the valid record grants"
is "$(direct PROTO=TCP TCPREMOTEIP=127.0.0.1 RELAY_RELAYCLIENT="$(printf 'a\tb')")" \
    "$refused" "RELAY_RELAYCLIENT with a control character grants nothing"
like "$(cat "$SCRATCH/direct.err")" 'relay-check: warning: *' "the bad RELAY_RELAYCLIENT is warned about"
is "$(direct PROTO=TCP TCPREMOTEIP=127.0.0.1 RELAY_EXPIRY=soon)" "250 ok" \
    "an invalid RELAY_EXPIRY falls back to 900 seconds"
is "$(grep -c 'relay-check: warning: ' "$SCRATCH/direct.err")" 1 "the bad RELAY_EXPIRY is warned about"
is "$(direct PROTO=TCP)" "$refused" "no client address grants nothing"
like "$(cat "$SCRATCH/direct.err")" 'relay-check: warning: *' "the missing address is warned about"
is "$(direct PROTO=TCP TCPREMOTEIP=127.0.0.1.1)" "$refused" "a malformed address grants nothing"
like "$(cat "$SCRATCH/direct.err")" 'relay-check: warning: *' "the malformed address is warned about"
is "$(direct PROTO=TCP TCPREMOTEIP=127.000.0.1)" "$refused" \
    "an address with leading zeros grants nothing"

diag "exit codes"
env -i TCPREMOTEIP=127.0.0.1 RELAY_DIR="$store" "$RELAY_BIN/relay-check" \
    "$SCRATCH/no-such-program" </dev/null >/dev/null 2>"$SCRATCH/exec.err"
is "$?" 111 "relay-check exits 111 when the exec fails"
like "$(tail -n 1 "$SCRATCH/exec.err")" 'relay-check: fatal: *' "relay-check says why the exec failed"
env -i TCPREMOTEIP=127.0.0.1 RELAY_DIR="$store" "$RELAY_BIN/relay-allow" \
    "$SCRATCH/no-such-program" </dev/null >/dev/null 2>"$SCRATCH/exec.err"
is "$?" 111 "relay-allow exits 111 when the exec fails"
like "$(tail -n 1 "$SCRATCH/exec.err")" 'relay-allow: fatal: *' "relay-allow says why the exec failed"
"$RELAY_BIN/relay-check" </dev/null >/dev/null 2>"$SCRATCH/usage.err"
is "$?" 100 "relay-check with no program exits 100"
is "$(grep -c '^relay-check: ' "$SCRATCH/usage.err")" 1 "relay-check prints its usage in one line"
rm -f "$store/127.0.0.1"
env -i TCPREMOTEIP=127.0.0.1 USER=bob RELAY_DIR="$store" "$RELAY_BIN/relay-allow" \
    </dev/null >/dev/null 2>"$SCRATCH/noargs.err"
is "$?" 0 "relay-allow with no program records and exits 0"
check "relay-allow with no program made the record" file_is "$store/127.0.0.1" 'relaylease1 127.0.0.1 bob\n'

done_testing
