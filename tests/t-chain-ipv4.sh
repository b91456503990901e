#!/bin/sh
# t-chain-ipv4.sh: the whole chain on 127.0.0.1 with the real tcpserver.
#   POP3: tcpserver -> popup -> checkpassword -> relay-allow -> pop3d
#   SMTP: tcpserver -> relay-check -> smtpd
# Relay is refused before a login and after a failed one, granted after a good one, left as a
# tcpserver rule set it, and refused again once the allowance has expired; relay-expire then
# removes the record. relay-check adds RELAYCLIENT (and TCPREMOTEINFO when asked) to the
# smtpd's environment and nothing else; relay-allow adds nothing to pop3d's.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_programs

store=$SCRATCH/store
make_store "$store"
make_passwd "$SCRATCH/passwd"
echo example.com >"$SCRATCH/rcpthosts"
local_rcpt=postmaster@example.com
relay_rcpt=friend@example.net
refused="553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"

# env_added BEFORE AFTER: the variables AFTER has and BEFORE has not (or has with another
# value), sorted; env_removed: the other way round (env_diff's lines, without their mark).
env_added() {
    env_diff "$1" "$2" | sed -n 's/^+ //p'
}
env_removed() {
    env_diff "$1" "$2" | sed -n 's/^- //p'
}

bob_env=$SCRATCH/home/bob # pop3d runs as the mail user: its environment goes to bob's home
start_pop_chain pop 127.0.0.1 RELAY_DIR="$store" -- \
    checkpassword relay-allow pop3d -e "$bob_env/pop3d.env" && pop=$SERVER_PORT
start_pop_chain pop-plain 127.0.0.1 RELAY_DIR="$store" -- \
    checkpassword pop3d -e "$bob_env/pop3d-plain.env" && pop_plain=$SERVER_PORT
start_smtp_chain smtp 127.0.0.1 RELAY_DIR="$store" && smtp=$SERVER_PORT
start_smtp_chain smtp-plain 127.0.0.1 RELAY_DIR="$store" -- \
    smtpd -e "$SCRATCH/smtp-plain.env" "$SCRATCH/rcpthosts" && smtp_plain=$SERVER_PORT
start_smtp_chain smtp-info 127.0.0.1 RELAY_DIR="$store" RELAY_REMOTEINFO=1 \
    RELAY_RELAYCLIENT=@fixup.example && smtp_info=$SERVER_PORT
start_smtp_chain smtp-expiry 127.0.0.1 RELAY_DIR="$store" RELAY_EXPIRY=300 &&
    smtp_expiry=$SERVER_PORT
printf '%s\n' '127.0.0.1:allow,RELAYCLIENT="@static.example"' ':allow' |
    tcprules "$SCRATCH/rules.cdb" "$SCRATCH/rules.tmp"
start_smtp_chain smtp-rules -x"$SCRATCH/rules.cdb" 127.0.0.1 RELAY_DIR="$store" \
    RELAY_RELAYCLIENT=@dynamic.example && smtp_rules=$SERVER_PORT
if [ -z "${pop:-}" ] || [ -z "${pop_plain:-}" ] || [ -z "${smtp:-}" ] ||
    [ -z "${smtp_plain:-}" ] || [ -z "${smtp_info:-}" ] || [ -z "${smtp_expiry:-}" ] ||
    [ -z "${smtp_rules:-}" ]; then
    not_ok "every tcpserver started"
    exit 1
fi

diag "before any login"
smtp_try 127.0.0.1 "$smtp" "$local_rcpt"
is "$(reply_to "$SCRATCH/smtp.chat" RCPT)" "250 ok" "a local recipient is accepted"
is "$(rcpt_reply 127.0.0.1 "$smtp")" "$refused" "relay is refused before a login"
is "$(reply_lines "$SCRATCH/smtp.chat" XENV | tr '\n' ' ')" \
    "250-RELAYCLIENT unset 250 TCPREMOTEINFO unset " "relay-check set neither variable"
check "relay-check logs the refusal" grep -qx 'relay-check: refused 127.0.0.1 not found' \
    "$SCRATCH/smtp.log"

diag "a login with a wrong password"
pop_login 127.0.0.1 "$pop" bob wrong
is "$(reply_to "$SCRATCH/pop.chat" PASS)" "-ERR authorization failed" "a wrong password fails"
check "a failed login records nothing" test ! -e "$store/127.0.0.1"
is "$(rcpt_reply 127.0.0.1 "$smtp")" "$refused" "relay is refused after a failed login"

diag "a good login"
pop_login 127.0.0.1 "$pop" bob secret
is "$(reply_to "$SCRATCH/pop.chat" PASS)" "+OK " "the login succeeds"
is "$(reply_to "$SCRATCH/pop.chat" STAT)" "+OK 0 0" "the session reaches pop3d"
check "relay-allow logs the record" \
    grep -qx 'relay-allow: recorded 127.0.0.1 user=bob' "$SCRATCH/pop.log"
check "the record is relaylease1 127.0.0.1 bob" \
    file_is "$store/127.0.0.1" 'relaylease1 127.0.0.1 bob\n'
if [ "$MAIL_UID" != "$(id -u)" ]; then
    check "relay-allow ran as the mail user, not root" owned_by "$store/127.0.0.1" "$MAIL_UID"
else
    skip "relay-allow ran as the mail user, not root" "not root, or the build is not reachable by uid 65534"
fi
pop_login 127.0.0.1 "$pop_plain" bob secret
is "$(env_added "$bob_env/pop3d-plain.env" "$bob_env/pop3d.env")" "" \
    "relay-allow adds nothing to pop3d's environment"
is "$(env_removed "$bob_env/pop3d-plain.env" "$bob_env/pop3d.env")" "" \
    "relay-allow removes nothing from pop3d's environment"
check "pop3d runs with USER=bob from checkpassword" grep -qx 'USER=bob' "$bob_env/pop3d.env"

diag "relay after the login"
is "$(rcpt_reply 127.0.0.1 "$smtp")" "250 ok" "relay is granted after the login"
is "$(reply_lines "$SCRATCH/smtp.chat" XENV | tr '\n' ' ')" \
    '250-RELAYCLIENT="" 250 TCPREMOTEINFO unset ' \
    "RELAYCLIENT is empty and TCPREMOTEINFO unset by default"
like "$(grep '^relay-check: granted' "$SCRATCH/smtp.log")" \
    'relay-check: granted 127.0.0.1 user=bob age=[0-9]*' "relay-check logs the grant"
smtp_try 127.0.0.1 "$smtp_plain" "$relay_rcpt"
is "$(reply_to "$SCRATCH/smtp.chat" RCPT)" "$refused" "without relay-check the relay is refused"
is "$(env_added "$SCRATCH/smtp-plain.env" "$SCRATCH/smtp.env")" "RELAYCLIENT=" \
    "relay-check adds only RELAYCLIENT to the smtpd's environment"
is "$(env_removed "$SCRATCH/smtp-plain.env" "$SCRATCH/smtp.env")" "" \
    "relay-check removes nothing from the smtpd's environment"

is "$(rcpt_reply 127.0.0.1 "$smtp_info")" "250 ok" "relay is granted with RELAY_REMOTEINFO=1"
is "$(reply_lines "$SCRATCH/smtp.chat" XENV | tr '\n' ' ')" \
    '250-RELAYCLIENT="@fixup.example" 250 TCPREMOTEINFO="bob" ' \
    "RELAY_RELAYCLIENT gives RELAYCLIENT, RELAY_REMOTEINFO=1 gives TCPREMOTEINFO"
is "$(env_added "$SCRATCH/smtp-plain.env" "$SCRATCH/smtp-info.env" |
    grep -v '^RELAY_' | tr '\n' ' ')" "RELAYCLIENT=@fixup.example TCPREMOTEINFO=bob " \
    "with RELAY_REMOTEINFO=1 relay-check adds RELAYCLIENT and TCPREMOTEINFO only"

diag "a tcpserver rule that sets RELAYCLIENT"
is "$(rcpt_reply 127.0.0.1 "$smtp_rules")" "250 ok" "a rule's RELAYCLIENT lets the client relay"
is "$(reply_lines "$SCRATCH/smtp.chat" XENV | sed -n 1p)" '250-RELAYCLIENT="@static.example"' \
    "relay-check leaves the rule's RELAYCLIENT as it is"
printf '%s\n' '127.0.0.2:allow,RELAYCLIENT=""' ':allow' |
    tcprules "$SCRATCH/rules.cdb" "$SCRATCH/rules.tmp"
is "$(rcpt_reply 127.0.0.1 "$smtp_rules")" "250 ok" "with a rule for another address, the store grants"
is "$(reply_lines "$SCRATCH/smtp.chat" XENV | sed -n 1p)" '250-RELAYCLIENT="@dynamic.example"' \
    "and RELAYCLIENT is RELAY_RELAYCLIENT"

diag "expiry (RELAY_EXPIRY=300 on one server)"
pop_login 127.0.0.1 "$pop" bob secret
is "$(reply_to "$SCRATCH/pop.chat" PASS)" "+OK " "a second login refreshes the allowance"
is "$(rcpt_reply 127.0.0.1 "$smtp_expiry")" "250 ok" "relay is granted right after the login"
RELAY_DIR=$store "$RELAY_BIN/relay-expire" -l >"$SCRATCH/list.out" 2>&1
like "$(grep '^127\.0\.0\.1 ' "$SCRATCH/list.out")" '127.0.0.1 bob [0-9]* [0-9]*' \
    "relay-expire -l lists the allowance"
# The allowance expires under RELAY_EXPIRY=300, not under the default 900: its record
# back-dated by 600 s, no waiting.
touch -d "@$(($(date +%s) - 600))" "$store/127.0.0.1"
is "$(rcpt_reply 127.0.0.1 "$smtp_expiry")" "$refused" "relay is refused once the allowance expired"
like "$(grep '^relay-check: refused' "$SCRATCH/smtp-expiry.log")" \
    'relay-check: refused 127.0.0.1 expired user=bob age=[0-9]*' "relay-check logs the expiry"
is "$(rcpt_reply 127.0.0.1 "$smtp")" "250 ok" "with the default expiry it is still granted"
RELAY_DIR=$store "$RELAY_BIN/relay-expire" >"$SCRATCH/expire.out" 2>&1
check "relay-expire with the default expiry keeps the record" test -f "$store/127.0.0.1"
RELAY_DIR=$store RELAY_EXPIRY=300 "$RELAY_BIN/relay-expire" -n >"$SCRATCH/dry.out" 2>&1
check "relay-expire -n removes nothing" test -f "$store/127.0.0.1"
RELAY_DIR=$store RELAY_EXPIRY=300 "$RELAY_BIN/relay-expire" >"$SCRATCH/expire.out" 2>&1
is "$?" 0 "relay-expire exits 0"
check "relay-expire removes the stale record" test ! -e "$store/127.0.0.1"
is "$(rcpt_reply 127.0.0.1 "$smtp")" "$refused" "relay is refused after the sweep"

pop_login 127.0.0.1 "$pop" bob secret
is "$(reply_to "$SCRATCH/pop.chat" PASS)" "+OK " "a new login succeeds"
is "$(rcpt_reply 127.0.0.1 "$smtp_expiry")" "250 ok" "and grants relay again"

done_testing
