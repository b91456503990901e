#!/bin/sh
# t-relayctrl-compat.sh: a relay-ctrl installation switches over without a flag day.
#   relay-check reads relay-ctrl's spool (one file per IPv4 address, USER=x\0DOMAIN=y\0, the
#   mtime the login time) under RELAY_CTRL_DIR, RELAY_CTRL_EXPIRY and RELAY_CTRL_RELAYCLIENT;
#   a fresh file grants, a stale one does not, and relay-expire prunes the stale ones.
#   The RELAY_ names win over the RELAY_CTRL_ ones, and no variable from a spool file other
#   than the user reaches the smtpd.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_programs

spool=$SCRATCH/relay-ctrl
make_store "$spool"
make_store "$SCRATCH/empty-store"
echo example.com >"$SCRATCH/rcpthosts"
relay_rcpt=friend@example.net
refused="553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"

xenv() { # the XENV reply of the last session, on one line
    reply_lines "$SCRATCH/smtp.chat" XENV | tr '\n' ' '
}
spool_file() { # NAME PRINTF-FORMAT AGE: a spool file with this content, AGE seconds old
    # shellcheck disable=SC2059 # the format is the content
    printf "$2" >"$spool/$1"
    touch -d "@$(($(date +%s) - $3))" "$spool/$1"
}

start_smtp_chain ctrl 127.0.0.1 RELAY_CTRL_DIR="$spool" RELAY_CTRL_EXPIRY=300 \
    RELAY_CTRL_RELAYCLIENT=@ctrl.example RELAY_REMOTEINFO=1 && ctrl=$SERVER_PORT
start_smtp_chain ctrl-long 127.0.0.1 RELAY_CTRL_DIR="$spool" RELAY_CTRL_EXPIRY=3600 &&
    ctrl_long=$SERVER_PORT
start_smtp_chain ours-first 127.0.0.1 RELAY_DIR="$SCRATCH/empty-store" RELAY_CTRL_DIR="$spool" \
    RELAY_CTRL_EXPIRY=3600 && ours_first=$SERVER_PORT
start_smtp_chain expiry-first 127.0.0.1 RELAY_CTRL_DIR="$spool" RELAY_EXPIRY=300 \
    RELAY_CTRL_EXPIRY=3600 && expiry_first=$SERVER_PORT
if [ -z "${ctrl:-}" ] || [ -z "${ctrl_long:-}" ] || [ -z "${ours_first:-}" ] ||
    [ -z "${expiry_first:-}" ]; then
    not_ok "every tcpserver started"
    exit 1
fi

diag "a fresh relay-ctrl file"
spool_file 127.0.0.1 'USER=bob\000DOMAIN=example.org\000' 0
is "$(rcpt_reply 127.0.0.1 "$ctrl")" "250 ok" "a fresh relay-ctrl file grants"
is "$(xenv)" '250-RELAYCLIENT="@ctrl.example" 250 TCPREMOTEINFO="bob@example.org" ' \
    "RELAY_CTRL_RELAYCLIENT gives RELAYCLIENT; the user is USER@DOMAIN"
like "$(grep '^relay-check: granted' "$SCRATCH/ctrl.log")" \
    'relay-check: granted 127.0.0.1 user=bob@example.org age=[0-9]*' "relay-check logs the grant"
is "$(rcpt_reply 127.0.0.1 "$ours_first")" "$refused" "RELAY_DIR wins over RELAY_CTRL_DIR"

spool_file 127.0.0.1 'USER=alice\000' 0
rcpt_reply 127.0.0.1 "$ctrl" >/dev/null
is "$(xenv)" '250-RELAYCLIENT="@ctrl.example" 250 TCPREMOTEINFO="alice" ' \
    "a file with USER only gives that user"
spool_file 127.0.0.1 '' 0
is "$(rcpt_reply 127.0.0.1 "$ctrl")" "250 ok" "an empty relay-ctrl file grants"
is "$(xenv)" '250-RELAYCLIENT="@ctrl.example" 250 TCPREMOTEINFO unset ' \
    "and sets no TCPREMOTEINFO"

spool_file 127.0.0.1 'USER=bob\000DOMAIN=example.org\000RELAYCLIENT=@evil.example\000EVIL=1\000' 0
rcpt_reply 127.0.0.1 "$ctrl" >/dev/null
is "$(xenv | grep -c '@evil')" 0 "a spool file's own RELAYCLIENT is never used"
check "a spool file's other variables do not reach the smtpd" \
    test -z "$(grep -e '^EVIL=' -e '^RELAYCLIENT=@evil' "$SCRATCH/ctrl.env")"
check "nor a DOMAIN or USER from the file" \
    test -z "$(grep -e '^DOMAIN=' -e '^USER=bob' "$SCRATCH/ctrl.env")"

diag "a stale relay-ctrl file"
spool_file 127.0.0.1 'USER=bob\000DOMAIN=example.org\000' 1200
is "$(rcpt_reply 127.0.0.1 "$ctrl")" "$refused" "a file older than RELAY_CTRL_EXPIRY does not grant"
like "$(grep '^relay-check: refused' "$SCRATCH/ctrl.log")" \
    'relay-check: refused 127.0.0.1 expired user=bob@example.org age=1[0-9][0-9][0-9]' \
    "relay-check logs the expiry"
is "$(rcpt_reply 127.0.0.1 "$ctrl_long")" "250 ok" "the same file grants with RELAY_CTRL_EXPIRY=3600"
is "$(rcpt_reply 127.0.0.1 "$expiry_first")" "$refused" "RELAY_EXPIRY wins over RELAY_CTRL_EXPIRY"

diag "relay-expire on the spool"
spool_file 127.0.0.2 'USER=carol\000DOMAIN=example.org\000' 0
RELAY_CTRL_DIR=$spool RELAY_CTRL_EXPIRY=300 "$RELAY_BIN/relay-expire" -n \
    >"$SCRATCH/dry.out" 2>&1
is "$?" 0 "relay-expire -n exits 0"
check "relay-expire -n names the stale file" grep -q '127\.0\.0\.1' "$SCRATCH/dry.out"
check "relay-expire -n removes nothing" test -f "$spool/127.0.0.1"
RELAY_CTRL_DIR=$spool RELAY_CTRL_EXPIRY=300 "$RELAY_BIN/relay-expire" -l \
    >"$SCRATCH/list.out" 2>&1
like "$(grep '^127\.0\.0\.2 ' "$SCRATCH/list.out")" '127.0.0.2 carol@example.org [0-9]* [0-9]*' \
    "relay-expire -l lists the fresh file with its user"
check "relay-expire -l leaves the stale file out" test -z "$(grep '^127\.0\.0\.1 ' "$SCRATCH/list.out")"
RELAY_CTRL_DIR=$spool RELAY_CTRL_EXPIRY=300 "$RELAY_BIN/relay-expire" >"$SCRATCH/expire.out" 2>&1
is "$?" 0 "relay-expire exits 0"
check "relay-expire prunes the stale file" test ! -e "$spool/127.0.0.1"
check "relay-expire keeps the fresh file" test -f "$spool/127.0.0.2"

diag "relay-allow writes into the spool"
env -i TCPREMOTEIP=127.0.0.3 USER=dave RELAY_CTRL_DIR="$spool" "$RELAY_BIN/relay-allow" \
    </dev/null 2>"$SCRATCH/allow.err"
is "$?" 0 "relay-allow with RELAY_CTRL_DIR exits 0"
check "relay-allow records in RELAY_CTRL_DIR" \
    file_is "$spool/127.0.0.3" 'relaylease1 127.0.0.3 dave\n'

done_testing
