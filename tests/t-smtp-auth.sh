#!/bin/sh
# t-smtp-auth.sh: an smtpd that offers SMTP AUTH keeps offering it behind relay-check.
#   SMTP: tcpserver -> relay-check -> smtpd-argv (records its argv) -> smtpd -a
# and beside each, the same chain without relay-check, to compare with. SMTP AUTH stays the
# fallback for clients that never check mail first, so relay-check must not get in its
# way: the EHLO reply lists AUTH for a client without an allowance (relay refused) and for
# one with an allowance (relay granted); the arguments after relay-check reach the smtpd
# untouched, odd ones included; and the smtpd's environment differs from the one it gets
# without relay-check by RELAYCLIENT only when relay is granted (and TCPREMOTEINFO with
# RELAY_REMOTEINFO=1), and not at all when it is refused.
# As root, tcpserver runs the chain as an unprivileged user (-u/-g), as the qmail-smtpd
# run file does with qmaild, and the store is mode 0755 and not that user's: relay-check
# only reads it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_programs

store=$SCRATCH/store
out=$SCRATCH/out
mkdir "$store" "$out" && chmod 755 "$store" "$out" || exit 111
echo example.com >"$SCRATCH/rcpthosts"
uidgid=
if [ "$MAIL_UID" != "$(id -u)" ]; then
    chown "$MAIL_UID:$MAIL_GID" "$out" || exit 111
    uidgid="-u $MAIL_UID -g $MAIL_GID"
    diag "the chains run as uid $MAIL_UID, which cannot write the store"
fi
relay_rcpt=friend@example.net
refused="553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"
auth_line="AUTH LOGIN PLAIN"

# The stand-in smtpd takes one argument (rcpthosts) besides its options, so a wrapper
# records the argv it is given, one "[arg]" a line after its own name, then runs the
# stand-in with what follows "--". The first argument names the file to record into.
cat >"$SCRATCH/smtpd-argv" <<EOF
#!/bin/sh
# smtpd-argv FILE [ARG...] -- SMTPD-ARG...: record \$0 and every argument, then run smtpd.
{
    printf '%s\\n' "\$0"
    for a in "\$@"; do
        printf '[%s]\\n' "\$a"
    done
} >"\$1"
while [ \$# -gt 0 ] && [ "\$1" != -- ]; do
    shift
done
[ \$# -gt 0 ] && shift
exec "$STANDINS/smtpd" "\$@"
EOF
chmod 755 "$SCRATCH/smtpd-argv" || exit 111

# smtp_server NAME [--plain] [VAR=value...]: a server whose smtpd records into $out/NAME.*,
# with relay-check in front unless --plain. Among its arguments are some that a careless
# front end would lose, split, glob, expand or take as options of its own.
smtp_server() {
    s_name=$1
    shift
    s_check="$RELAY_BIN/relay-check"
    if [ "${1:-}" = --plain ]; then
        s_check=
        shift
    fi
    # shellcheck disable=SC2086,SC2016 # uidgid is empty or "-u UID -g GID"; $HOME is literal
    start_tcpserver "$s_name" $uidgid 127.0.0.1 0 env RELAY_DIR="$store" "$@" \
        ${s_check:+"$s_check"} "$SCRATCH/smtpd-argv" "$out/$s_name.argv" \
        'two words' '' '*' -a --relay=x '$HOME' -- \
        -a -e "$out/$s_name.env" "$SCRATCH/rcpthosts"
}
want_argv() { # NAME: what smtpd-argv should have recorded for server NAME
    # shellcheck disable=SC2016 # $HOME is literal
    printf '%s\n' "$SCRATCH/smtpd-argv" "[$out/$1.argv]" '[two words]' '[]' '[*]' '[-a]' \
        '[--relay=x]' '[$HOME]' '[--]' '[-a]' '[-e]' "[$out/$1.env]" "[$SCRATCH/rcpthosts]"
}
# session PORT: EHLO, MAIL, RCPT to a domain that is not ours, XENV, QUIT.
session() {
    printf '%s\n' 'EHLO client.example' 'MAIL FROM:<bob@client.example>' \
        "RCPT TO:<$relay_rcpt>" XENV QUIT | chat 127.0.0.1 "$1" >"$SCRATCH/smtp.chat"
}
smtp_server check && check_port=$SERVER_PORT
smtp_server plain --plain && plain_port=$SERVER_PORT
smtp_server info RELAY_REMOTEINFO=1 && info_port=$SERVER_PORT
smtp_server info-plain --plain RELAY_REMOTEINFO=1 && info_plain_port=$SERVER_PORT
if [ -z "${check_port:-}" ] || [ -z "${plain_port:-}" ] || [ -z "${info_port:-}" ] ||
    [ -z "${info_plain_port:-}" ]; then
    not_ok "every tcpserver started"
    exit 1
fi

# run_session NAME PORT: one session with server NAME; its EHLO reply in $out/NAME.ehlo.
run_session() {
    rm -f "$out/$1.env" "$out/$1.argv"
    session "$2"
    reply_lines "$SCRATCH/smtp.chat" EHLO | sed 's/^250[- ]//' >"$out/$1.ehlo"
}

diag "a client without an allowance"
run_session plain "$plain_port"
log_mark check
run_session check "$check_port"
check "EHLO lists AUTH behind relay-check (no allowance)" grep -qx "$auth_line" "$out/check.ehlo"
check "the EHLO reply is the one the smtpd gives without relay-check" \
    cmp -s "$out/plain.ehlo" "$out/check.ehlo"
is "$(reply_to "$SCRATCH/smtp.chat" RCPT)" "$refused" "relay is refused"
is "$(reply_lines "$SCRATCH/smtp.chat" XENV | tr '\n' ' ')" \
    "250-RELAYCLIENT unset 250 TCPREMOTEINFO unset " "RELAYCLIENT and TCPREMOTEINFO stay unset"
check "relay-check logged the refusal" grep -qx 'relay-check: refused 127.0.0.1 not found' \
    "$SCRATCH/check.log"
is "$(cat "$out/check.argv")" "$(want_argv check)" \
    "the argv after relay-check reaches the smtpd untouched (refused)"
is "$(cat "$out/plain.argv")" "$(want_argv plain)" "and without relay-check, the same"
is "$(env_diff "$out/plain.env" "$out/check.env")" "" \
    "a refusal leaves the smtpd's environment as it is without relay-check"

diag "the client logs in (relay-allow records 127.0.0.1 for bob)"
RELAY_DIR=$store TCPREMOTEIP=127.0.0.1 USER=bob "$RELAY_BIN/relay-allow" \
    >"$SCRATCH/allow.out" 2>&1
check "relay-allow recorded the allowance" test -f "$store/127.0.0.1"
diag <"$SCRATCH/allow.out"

diag "a client with an allowance"
run_session plain "$plain_port"
log_mark check
run_session check "$check_port"
check "EHLO lists AUTH behind relay-check (allowance)" grep -qx "$auth_line" "$out/check.ehlo"
check "the EHLO reply is still the one the smtpd gives without relay-check" \
    cmp -s "$out/plain.ehlo" "$out/check.ehlo"
is "$(reply_to "$SCRATCH/smtp.chat" RCPT)" "250 ok" "relay is granted"
like "$(log_new check)" "relay-check: granted 127.0.0.1 user=bob age=[0-9]*" \
    "relay-check logged the grant"
is "$(cat "$out/check.argv")" "$(want_argv check)" \
    "the argv after relay-check reaches the smtpd untouched (granted)"
is "$(env_diff "$out/plain.env" "$out/check.env")" "+ RELAYCLIENT=" \
    "a grant adds RELAYCLIENT and nothing else to the smtpd's environment"
if [ "$MAIL_UID" != "$(id -u)" ]; then
    check "the smtpd ran as uid $MAIL_UID" owned_by "$out/check.env" "$MAIL_UID"
fi

diag "with RELAY_REMOTEINFO=1"
run_session info-plain "$info_plain_port"
run_session info "$info_port"
check "EHLO lists AUTH behind relay-check (RELAY_REMOTEINFO=1)" grep -qx "$auth_line" \
    "$out/info.ehlo"
is "$(reply_to "$SCRATCH/smtp.chat" RCPT)" "250 ok" "relay is granted"
is "$(cat "$out/info.argv")" "$(want_argv info)" \
    "the argv after relay-check reaches the smtpd untouched (RELAY_REMOTEINFO=1)"
is "$(env_diff "$out/info-plain.env" "$out/info.env" | tr '\n' ' ')" \
    "+ RELAYCLIENT= + TCPREMOTEINFO=bob " \
    "RELAY_REMOTEINFO=1 adds RELAYCLIENT and TCPREMOTEINFO and nothing else"

done_testing
