#!/bin/sh
# run: quick
# t-postfix.sh: relay-policy under the real Postfix (Debian's postfix 3.x), as
# run-examples/postfix ships it.
#
# A private Postfix (its own config, queue and data directories in the scratch directory,
# smtpd on free loopback ports, tests/postfix-lib.sh) runs relay-policy under spawn(8), with
# the shipped main.cf and master.cf lines; only the store, the program's path and a wrapper
# in front (its stderr to a log file per PID, so the test reads relay-policy's lines: under
# spawn alone they would go to syslog) differ. Cases: relay refused (554 from
# reject_unauth_destination) before the login; accepted (250) after a POP3 login through
# popup, checkpassword and relay-allow; refused once the record is older than the expiry
# (back-dated, never slept); IPv6 over ::1 and, in a network namespace of its own, a /64 key
# (a login from one address lets another of the /64 relay, not one of another /64); an SMTP
# AUTH user relays through Dovecot's SASL while relay-policy answers DUNNO; a local recipient
# is accepted for everybody; a malformed request (the request= line mangled on the way in,
# and an overlong policy_context that Postfix itself sends) and a missing store leave Postfix
# answering with the rest of its restrictions (554, not 451, no hang); one relay-policy
# process serves several RCPTs and sessions of one smtpd. In a mount namespace (root), one
# listener runs relay-policy exactly as shipped, no wrapper: its line reaches syslog (a
# /dev/log of the test's, Postfix's postlogd behind it), facility mail, with its pid.
# Needs root and Debian's postfix (dovecot-core for the AUTH case); skipped otherwise.
if [ -z "${T_POSTFIX_NETNS:-}" ] && [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 &&
    command -v ip >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
    if unshare -n -m --propagation private true 2>/dev/null; then
        T_POSTFIX_NETNS=1 T_POSTFIX_MNTNS=1 exec unshare -n -m --propagation private sh "$0" "$@"
    fi
    T_POSTFIX_NETNS=1 exec unshare -n sh "$0" "$@"
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=postfix-lib.sh
. "$(dirname "$0")/postfix-lib.sh"

# In a mount namespace of its own, relay-policy's syslog lines can be read: /dev becomes a
# tmpfs of links to the real one (bound outside SCRATCH: the cleanup's rm -rf must never
# reach it), and /dev/log a link to the private Postfix's postlogd socket, which writes each
# datagram to Postfix's log as it comes, as a syslogd would.
realdev=
devlog=
if [ -n "${T_POSTFIX_MNTNS:-}" ] && realdev=$(mktemp -d) && mount --rbind /dev "$realdev" &&
    mount -t tmpfs -o mode=755 tmpfs /dev; then
    devlog=1
    for f in "$realdev"/* "$realdev"/.[!.]*; do
        [ -e "$f" ] || [ -L "$f" ] || continue
        ln -s "$f" "/dev/${f##*/}" || devlog=
    done
    ln -s "$SCRATCH/postfix/spool/public/postlog" /dev/log || devlog=
fi
trap 'lib_rc=$?; trap "" TERM INT HUP
    [ -z "$realdev" ] || { umount -l /dev; umount -l "$realdev" && rmdir "$realdev"; }
    (exit "$lib_rc"); lib_cleanup' EXIT

examples=$lib_top/run-examples/postfix

netns=
if [ -n "${T_POSTFIX_NETNS:-}" ] && lo_documentation_v6; then
    netns=1
fi

why=$(postfix_missing)
if [ -n "$why" ]; then
    if [ "${CI:-}" = true ] && [ "$(id -u)" -eq 0 ]; then
        not_ok "Postfix is installed: $why"
        exit 1
    fi
    skip "relay-policy under Postfix" "$why"
    exit 0
fi
need_built relay-policy relay-allow chat popup checkpassword pop3d

store=$SCRATCH/store
make_store "$store"
chmod 755 "$store"
make_passwd "$SCRATCH/passwd"
logs=$SCRATCH/policy-logs
mkdir -m 1777 "$logs" || exit 111

# The wrapper spawn runs: NAME, then the shipped argv. Its stderr (and so relay-policy's,
# which then logs there and not to syslog) goes to one file per process: NAME.PID.
cat >"$SCRATCH/policy-wrapper" <<EOF
#!/bin/sh
name=\$1
shift
exec 2>>"$logs/\$name.\$\$"
exec "\$@"
EOF
# The same, with the request= line mangled on the way in: relay-policy sees a request that
# is not smtpd_access_policy.
cat >"$SCRATCH/policy-mangle" <<EOF
#!/bin/sh
name=\$1
shift
exec 2>>"$logs/\$name.\$\$"
fifo=$logs/fifo.\$\$
mkfifo "\$fifo" || exit 111
# A background command's standard input is /dev/null (dash: even with <&0): through fd 3.
exec 3<&0
sed -u 's/^request=smtpd_access_policy\$/request=smtpd_access_junk/' <&3 >"\$fifo" &
sed=\$!
"\$@" <"\$fifo" 3<&-
rc=\$?
# sed holds the connection open: Postfix would wait for its timeout.
kill "\$sed"
rm -f "\$fifo"
exit "\$rc"
EOF
chmod 755 "$SCRATCH/policy-wrapper" "$SCRATCH/policy-mangle"

# service NAME WRAPPER STORE: the shipped master.cf entry as the service NAME, run through
# WRAPPER (none: as shipped), this build and STORE.
shipped_service=$(grep -v '^#' "$examples/master.cf" | tr '\n' ' ')
service() {
    printf '%s\n' "$shipped_service" | sed -e "s|^relaypolicy |$1 |" \
        -e "s|argv=|argv=${2:+$SCRATCH/$2 $1 }|" -e "s|RELAY_DIR=[^ ]*|RELAY_DIR=$3|" \
        -e "s|/usr/local/bin/relay-policy|$RELAY_BIN/relay-policy|"
}
# The shipped restrictions, as one line; restrictions SERVICE [EXTRA]: the same, asking the
# policy service SERVICE, with EXTRA added to its settings.
mkdir -p "$SCRATCH/shipped" && cp "$examples/main.cf" "$SCRATCH/shipped/main.cf" || exit 111
shipped_restrictions=$(postconf -c "$SCRATCH/shipped" -h smtpd_relay_restrictions 2>/dev/null)
restrictions() {
    printf '%s\n' "$shipped_restrictions" |
        sed -e "s|private/relaypolicy,|private/$1,|" -e "s|default_action=DUNNO|&${2:+, $2}|"
}
# 9000 bytes: Postfix sends policy_context as it is, relay-policy takes lines of 8192 at most.
long=$(head -c 9000 /dev/zero | tr '\0' x)

postfix_init "$SCRATCH/postfix" || exit 111
if [ -n "$netns" ] && [ -n "$PF_V6" ]; then
    PF_V6_MORE="2001:db8:1:2::1 2001:db8:1:3::1"
fi

# SMTP AUTH on a listener of its own (smtpd dies when the SASL socket is missing).
sasl=
if command -v dovecot >/dev/null 2>&1; then
    if sasl_start "$SCRATCH/sasl" bob secret; then
        sasl=yes
    else
        not_ok "a private Dovecot auth socket starts"
        diag <"$SCRATCH/sasl/stderr"
    fi
fi

PF_MAIN="$(cat "$examples/main.cf")
nostore_relay_restrictions = $(restrictions relaypolicy-nostore)
mangle_relay_restrictions = $(restrictions relaypolicy-mangle)
long_relay_restrictions = $(restrictions relaypolicy-long "policy_context=$long")
multi_relay_restrictions = $(restrictions relaypolicy-multi)
syslog_relay_restrictions = $(restrictions relaypolicy-syslog)"
PF_SERVICES="$(service relaypolicy policy-wrapper "$store")
$(service relaypolicy-nostore policy-wrapper "$SCRATCH/nowhere")
$(service relaypolicy-mangle policy-mangle "$store")
$(service relaypolicy-long policy-wrapper "$store")
$(service relaypolicy-multi policy-wrapper "$store")
$(service relaypolicy-syslog '' "$store")"
postfix_listener main -
for v in nostore mangle long syslog; do
    postfix_listener "$v" - -o "smtpd_relay_restrictions=\$${v}_relay_restrictions"
done
# One smtpd: every session of this listener goes to it, and to its one relay-policy.
postfix_listener multi 1 -o "smtpd_relay_restrictions=\$multi_relay_restrictions"
[ -z "$sasl" ] || postfix_listener auth - -o smtpd_sasl_auth_enable=yes \
    -o smtpd_sasl_type=dovecot -o "smtpd_sasl_path=$SASL_SOCKET"

if ! postfix_start; then
    not_ok "a private Postfix starts"
    diag <"$PF_DIR/log/start"
    [ ! -f "$PF_LOG" ] || diag <"$PF_LOG"
    exit 1
fi
# A syslogd's /dev/log is anybody's: relay-policy runs as nobody, and public/ is postdrop's.
[ -z "$devlog" ] || chmod o+x "$PF_DIR/spool/public" || devlog=
ok "a private Postfix starts (master $PF_PID${PF_V6:+, IPv4 and IPv6}${PF_V6_MORE:+, /64s in a network namespace})"
main=$(postfix_port main)

# rcpt HOST PORT RCPT...: one session, MAIL then RCPT TO each; prints the RCPT replies' codes
# (the last line of each), space-separated. The transcript is in $SCRATCH/smtp.chat.
rcpt() {
    r_host=$1 r_port=$2
    shift 2
    {
        echo 'EHLO client.example'
        echo 'MAIL FROM:<sender@client.example>'
        for r in "$@"; do echo "RCPT TO:<$r>"; done
        echo QUIT
    } | chat "$r_host" "$r_port" >"$SCRATCH/smtp.chat"
    awk '/^C: RCPT/ { want = 1; next } /^C: / { want = 0 }
        want && /^S: [0-9][0-9][0-9] / { printf "%s%s", sep, $2; sep = " " }' "$SCRATCH/smtp.chat"
}
# policy_log NAME: every line relay-policy logged for the service NAME.
policy_log() {
    cat "$logs/$1".* 2>/dev/null
}
# log_count NAME PATTERN
log_count() {
    policy_log "$1" | grep -cE "$2"
}
relay=friend@example.net

# ---- before and after the login ------------------------------------------------------------

is "$(rcpt 127.0.0.1 "$main" "$relay")" 554 "before the login: relay refused (554)"
like "$(grep '^S: 554' "$SCRATCH/smtp.chat")" "*Relay access denied*" \
    "... by reject_unauth_destination (Relay access denied)"
is "$(log_count relaypolicy 'refused 127\.0\.0\.1 not found')" 1 "relay-policy said why (not found)"
is "$(rcpt 127.0.0.1 "$main" postmaster@mx.relaylease.test)" 250 \
    "a local recipient is accepted without an allowance"

start_tcpserver pop 127.0.0.1 0 env RELAY_DIR="$store" STANDIN_PASSWD="$SCRATCH/passwd" \
    "$STANDINS/popup" localhost "$STANDINS/checkpassword" "$RELAY_BIN/relay-allow" \
    "$STANDINS/pop3d" || exit 1
pop_login 127.0.0.1 "$SERVER_PORT" bob secret
like "$(reply_to "$SCRATCH/pop.chat" PASS)" '+OK*' "the POP3 login through relay-allow succeeds"
check "relay-allow recorded 127.0.0.1" test -f "$store/127.0.0.1"
is "$(rcpt 127.0.0.1 "$main" "$relay")" 250 "after the login: relay accepted (250)"
is "$(log_count relaypolicy 'granted 127\.0\.0\.1 user=bob age=')" 1 \
    "relay-policy logged who authorised it (user=bob)"
is "$(rcpt 127.0.0.1 "$main" postmaster@mx.relaylease.test)" 250 \
    "a local recipient is still accepted"

if [ -z "$devlog" ]; then
    skip "relay-policy's line in syslog" "no mount namespace with a /dev/log of the test's"
else
    is "$(rcpt 127.0.0.1 "$(postfix_port syslog)" "$relay")" 250 \
        "relay-policy as shipped (no wrapper, spawn's socket on 0, 1, 2): accepted"
    eventually 30 grep -q 'relay-policy\[[0-9]*\]: granted 127\.0\.0\.1' "$PF_LOG"
    like "$(grep 'relay-policy\[' "$PF_LOG")" "<22>* relay-policy\[[0-9]*\]: granted 127.0.0.1 user=bob age=*" \
        "... its line went to syslog (facility mail, with the pid), here Postfix's log"
fi

touch -d "@$(($(date +%s) - 100000))" "$store/127.0.0.1"
is "$(rcpt 127.0.0.1 "$main" "$relay")" 554 "a record older than the expiry: refused again (554)"
is "$(log_count relaypolicy 'refused 127\.0\.0\.1 expired user=bob')" 1 "relay-policy said expired"
touch "$store/127.0.0.1"

# ---- IPv6 ------------------------------------------------------------------------------------

if [ -z "$PF_V6" ]; then
    skip "IPv6 over ::1" "loopback IPv6 does not work here"
else
    is "$(rcpt ::1 "$main" "$relay")" 554 "::1 before a login from it: refused"
    start_tcpserver pop6 ::1 0 env RELAY_DIR="$store" STANDIN_PASSWD="$SCRATCH/passwd" \
        "$STANDINS/popup" localhost "$STANDINS/checkpassword" "$RELAY_BIN/relay-allow" \
        "$STANDINS/pop3d" || exit 1
    pop_login ::1 "$SERVER_PORT" bob secret
    check "a POP3 login from ::1 records ::1_128" test -f "$store/::1_128"
    is "$(rcpt ::1 "$main" "$relay")" 250 "::1 after the login: accepted"
    is "$(log_count relaypolicy 'granted ::1_128 user=bob')" 1 "relay-policy keyed ::1 alone (::1_128)"
fi
if [ -z "$PF_V6_MORE" ]; then
    skip "a /64 key" "no network namespace with documentation addresses here"
else
    is "$(rcpt 2001:db8:1:2::1 "$main" "$relay")" 554 "2001:db8:1:2::1 before any login: refused"
    env PROTO=TCP6 TCPREMOTEIP=2001:db8:1:2::2 TCP6REMOTEIP=2001:db8:1:2::2 RELAY_DIR="$store" \
        USER=carol setpriv --reuid="$MAIL_UID" --regid="$MAIL_GID" --clear-groups \
        "$RELAY_BIN/relay-allow" 2>>"$SCRATCH/relay-allow.log"
    check "a login from 2001:db8:1:2::2 records its /64" test -f "$store/2001:db8:1:2::_64"
    is "$(rcpt 2001:db8:1:2::1 "$main" "$relay")" 250 "2001:db8:1:2::1, same /64: accepted"
    is "$(log_count relaypolicy 'granted 2001:db8:1:2::_64 user=')" 1 "relay-policy used the /64 key"
    is "$(rcpt 2001:db8:1:3::1 "$main" "$relay")" 554 "2001:db8:1:3::1, another /64: refused"
fi

# ---- SMTP AUTH -------------------------------------------------------------------------------

if [ -z "$sasl" ]; then
    skip "SMTP AUTH through Dovecot" "dovecot is not installed (Debian's dovecot-core)"
else
    auth=$(postfix_port auth)
    rm -f "$store/127.0.0.1"
    grants=$(log_count relaypolicy 'granted 127\.0\.0\.1')
    is "$(rcpt 127.0.0.1 "$auth" "$relay")" 554 "AUTH listener, no login, no allowance: refused"
    printf '%s\n' 'EHLO client.example' 'AUTH PLAIN AGJvYgBzZWNyZXQ=' \
        'MAIL FROM:<bob@client.example>' "RCPT TO:<$relay>" QUIT |
        chat 127.0.0.1 "$auth" >"$SCRATCH/auth.chat"
    like "$(reply_to "$SCRATCH/auth.chat" AUTH)" '235 *' "SMTP AUTH as bob succeeds"
    like "$(reply_to "$SCRATCH/auth.chat" RCPT)" '250 *' "the authenticated user relays (250)"
    is "$(log_count relaypolicy 'dunno 127\.0\.0\.1 sasl_username set')" 1 \
        "relay-policy answered DUNNO for the authenticated session"
    is "$(log_count relaypolicy 'granted 127\.0\.0\.1')" "$grants" "... and granted nothing"
    touch "$store/127.0.0.1"
fi

# ---- a malformed request, a missing store: the rest of the restrictions decide ---------------

is "$(rcpt 127.0.0.1 "$(postfix_port mangle)" "$relay")" 554 \
    "a malformed request (request= mangled): 554 from the rest, not 451"
like "$(grep '^S: 554' "$SCRATCH/smtp.chat")" "*Relay access denied*" "... Relay access denied"
is "$(log_count relaypolicy-mangle 'fatal: malformed request')" 2 \
    "relay-policy closed on it with one line (Postfix tried twice)"
is "$(rcpt 127.0.0.1 "$(postfix_port long)" "$relay")" 554 \
    "a 9000-byte policy_context from Postfix: 554 from the rest, not 451"
is "$(log_count relaypolicy-long 'fatal: malformed request')" 2 "relay-policy closed on the overlong line"
is "$(rcpt 127.0.0.1 "$(postfix_port nostore)" "$relay" postmaster@mx.relaylease.test)" "554 250" \
    "a missing store: 554 from the rest for relay, 250 for a local recipient"
like "$(policy_log relaypolicy-nostore)" "*warning: *nowhere*" "relay-policy logged the missing store"
check "Postfix logged no configuration error (no 451)" sh -c \
    "! grep -E 'Server configuration|unknown smtpd restriction' '$PF_LOG'"

# ---- one process, several RCPTs and sessions -----------------------------------------------

multi=$(postfix_port multi)
is "$(rcpt 127.0.0.1 "$multi" "$relay" other@example.org)" "250 250" "session 1: two relay RCPTs accepted"
rm -f "$store/127.0.0.1"
is "$(rcpt 127.0.0.1 "$multi" "$relay" other@example.org)" "554 554" "session 2, record gone: refused"
printf 'relaylease1 127.0.0.1 bob\n' >"$store/127.0.0.1" &&
    chown "$MAIL_UID:$MAIL_GID" "$store/127.0.0.1"
is "$(rcpt 127.0.0.1 "$multi" "$relay")" 250 "session 3, recorded again: accepted"
is "$(find "$logs" -name 'relaypolicy-multi.*' | wc -l)" 1 "one relay-policy process served them all"
is "$(log_count relaypolicy-multi '(granted|refused) 127\.0\.0\.1')" 3 \
    "it logged one decision per session (3)"

# ---- nothing went wrong on the side ---------------------------------------------------------

postfix_stop
[ -z "$sasl" ] || stop_pid "$SASL_PID"
# policy_left: the relay-policy processes still running (not zombies: once spawn has gone,
# nothing may reap them here). Called through eventually.
# shellcheck disable=SC2317
policy_left() {
    left=
    for f in "$logs"/relaypolicy*.*; do
        p=${f##*.}
        [ -r "/proc/$p/stat" ] || continue
        case $(cut -d ' ' -f 3 "/proc/$p/stat" 2>/dev/null) in Z | X | '') ;; *) left="$left $p" ;; esac
    done
    [ -z "$left" ]
}
eventually 30 policy_left
is "$left" "" "no relay-policy process is left once master is stopped"
is "$(cat "$logs"/* | grep -cE 'runtime error|AddressSanitizer|LeakSanitizer')" 0 \
    "no sanitizer report"
if [ "$lib_failed" -ne 0 ]; then
    diag "Postfix's log:"
    tail -n 30 "$PF_LOG" | diag
    for f in "$logs"/*; do
        diag "$f:"
        diag <"$f"
    done
fi
done_testing
