#!/bin/sh
# t-cdb-tcpserver.sh: cdb mode end to end, with the real tcpserver -x and no relay-check.
#   POP3: tcpserver -> popup -> checkpassword -> relay-allow (RELAY_CDB set) -> pop3d
#   SMTP: tcpserver -x rules.cdb -> smtpd
# Relay is refused before the login; the login triggers a rebuild (a detached builder) and
# relay is granted once it is done, with the static rule's variables; the POP3 session is not
# held open by the builder, even one held until the session is over; after the allowance
# expires (its record back-dated), relay-expire rebuilds the cdb and relay is refused again.
# The same for an IPv6 client on ::1. The expiry is an hour, so that no allowance can expire
# while a build waits (the held one included); expiring is back-dating by two.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_programs
need_built relay-cdb

store=$SCRATCH/store
make_store "$store"
make_passwd "$SCRATCH/passwd"
echo example.com >"$SCRATCH/rcpthosts"
relay_rcpt=friend@example.net
refused="553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"

# The cdb's directory belongs to whoever builds: here relay-allow, as the mail user.
cdbdir=$SCRATCH/tcp
mkdir "$cdbdir" && chown "$MAIL_UID:$MAIL_GID" "$cdbdir"
printf '%s\n' '# static rules' '10.:deny' ':allow,GREETING="static"' >"$cdbdir/smtp.txt"
chmod 644 "$cdbdir/smtp.txt"
RELAY_DIR=$store RELAY_LOG=0 "$RELAY_BIN/relay-cdb" "$cdbdir/smtp.cdb" "$cdbdir/smtp.tmp" \
    <"$cdbdir/smtp.txt"
is "$?" 0 "relay-cdb builds the first cdb"
chown "$MAIL_UID:$MAIL_GID" "$cdbdir/smtp.cdb"

# A builder held while the file "gate" exists, to show that nobody waits for it; "held" says
# that it has started (in a directory of the mail user's, who runs it).
flags=$SCRATCH/flags
mkdir "$flags" && chown "$MAIL_UID:$MAIL_GID" "$flags"
cat >"$SCRATCH/slow-relay-cdb" <<EOF
#!/bin/sh
: >"$flags/held"
while [ -e "$SCRATCH/gate" ]; do sleep 0.05; done
exec "$RELAY_BIN/relay-cdb" "\$@"
EOF
chmod 755 "$SCRATCH/slow-relay-cdb"

cdbenv() { # the settings relay-allow and relay-expire get in cdb mode
    echo RELAY_DIR="$store" RELAY_EXPIRY=3600 RELAY_IPV6_PREFIX=128 RELAY_CDB="$cdbdir/smtp.cdb" \
        RELAY_CDB_RULES="$cdbdir/smtp.txt" RELAY_CDB_PROG="$SCRATCH/slow-relay-cdb"
}
# shellcheck disable=SC2046 # the settings are words on purpose
start_tcpserver pop 127.0.0.1 0 env $(cdbenv) STANDIN_PASSWD="$SCRATCH/passwd" \
    "$STANDINS/popup" localhost "$STANDINS/checkpassword" "$RELAY_BIN/relay-allow" \
    "$STANDINS/pop3d" && pop=$SERVER_PORT
start_tcpserver smtp -x "$cdbdir/smtp.cdb" 127.0.0.1 0 \
    "$STANDINS/smtpd" "$SCRATCH/rcpthosts" && smtp=$SERVER_PORT
start_tcpserver smtp6 -x "$cdbdir/smtp.cdb" ::1 0 \
    "$STANDINS/smtpd" "$SCRATCH/rcpthosts" && smtp6=$SERVER_PORT
if [ -z "${pop:-}" ] || [ -z "${smtp:-}" ]; then
    not_ok "every tcpserver started"
    exit 1
fi

# wait_rule IP PATTERN: until tcprulescheck shows PATTERN for IP (60 s at most: a guard
# against a hang, not a measure).
wait_rule() {
    eventually 60 rule_is "$1" "$2"
}
# shellcheck disable=SC2317 # called through eventually
rule_is() {
    # shellcheck disable=SC2254 # the pattern is meant to be a pattern
    case $(TCPREMOTEIP=$1 tcprulescheck "$cdbdir/smtp.cdb" 2>&1) in $2) return 0 ;; esac
    return 1
}

is "$(rcpt_reply 127.0.0.1 "$smtp")" "$refused" "relay is refused before the login"

# chat exits 0 once the server has closed the connection (111 if it is still open after 60
# s): the build cannot end while the gate is there, so a 0 says the builder holds nothing of
# the session.
: >"$SCRATCH/gate"
pop_login 127.0.0.1 "$pop" bob secret
rc=$?
like "$(reply_to "$SCRATCH/pop.chat" PASS)" "+OK*" "the POP3 login succeeds"
like "$(sed -n '$p' "$SCRATCH/pop.chat")" "S: +OK*" "the session ends normally"
is "$rc" 0 "the connection closed while its build was held (not held open by the builder)"
check "the build was held meanwhile" appears "$flags/held" 60
rm -f "$SCRATCH/gate"
check "the allowance is recorded" test -f "$store/127.0.0.1"
if wait_rule 127.0.0.1 '*RELAYCLIENT=*'; then
    ok "the detached builder puts the client into the cdb"
else
    not_ok "the detached builder puts the client into the cdb"
    diag <"$SCRATCH/pop.log"
fi
is "$(rcpt_reply 127.0.0.1 "$smtp")" "250 ok" "relay is granted by tcpserver's rules alone"
is "$(reply_lines "$SCRATCH/smtp.chat" XENV | sed -n 1p)" "250-RELAYCLIENT=\"\"" \
    "with RELAYCLIENT set to the configured value"
is "$(TCPREMOTEIP=127.0.0.1 tcprulescheck "$cdbdir/smtp.cdb" | sed -n 2p)" \
    "set environment variable GREETING=static" "and the default rule's variables"

# shellcheck disable=SC2046
env $(cdbenv) PROTO=TCP6 TCP6REMOTEIP=::1 "$RELAY_BIN/relay-allow" 2>/dev/null
if [ -n "${smtp6:-}" ]; then
    wait_rule ::1 '*RELAYCLIENT=*' || diag "::1 did not reach the cdb"
    is "$(rcpt_reply ::1 "$smtp6")" "250 ok" "an IPv6 client's allowance works through tcpserver -x"
else
    skip "an IPv6 client's allowance works through tcpserver -x" "no IPv6 on loopback"
fi

# Both allowances expire (RELAY_EXPIRY=3600): their records back-dated, no waiting.
old=$(($(date +%s) - 7200))
for f in "$store"/*; do
    [ -f "$f" ] && touch -d "@$old" "$f"
done
# shellcheck disable=SC2046
env $(cdbenv) "$RELAY_BIN/relay-expire" >"$SCRATCH/expire.out" 2>&1
is "$?" 0 "relay-expire prunes and rebuilds"
like "$(cat "$SCRATCH/expire.out")" "*removed 2*" "both allowances are pruned"
is "$(rcpt_reply 127.0.0.1 "$smtp")" "$refused" "relay is refused after the expiring rebuild"
[ -n "${smtp6:-}" ] &&
    is "$(rcpt_reply ::1 "$smtp6")" "$refused" "for the IPv6 client too"
is "$(TCPREMOTEIP=127.0.0.1 tcprulescheck "$cdbdir/smtp.cdb" | tr '\n' ' ')" \
    "rule : set environment variable GREETING=static allow connection " \
    "the cdb is back to the static rules"

done_testing
