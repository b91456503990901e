#!/bin/sh
# t-dovecot.sh: relay-allow as Dovecot's post-login hook, against a real Dovecot 2.3.
#
# Starts a private Dovecot (its own base_dir, state_dir, log file and passwd-file users, in
# the scratch directory) on free loopback ports, with run-examples/dovecot installed the way
# an operator would install it (only the paths changed). Then: a POP3 or IMAP login grants
# relaying to its address, over IPv4 and IPv6; a failed login does not; the session goes on
# after the hook; and a broken store costs one warning line in Dovecot's log, never a login.
# Needs root (Dovecot's login processes change uid) and Debian's dovecot-pop3d and
# dovecot-imapd. The system's own Dovecot, if any, is left alone.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

# The cleanup must also undo chattr +i (below), and a second TERM (timeout(1) signals the
# test and then its process group) must not cut it short.
trap 'lib_rc=$?; trap "" TERM INT HUP; chattr -i "$SCRATCH/frozen" 2>/dev/null
    (exit "$lib_rc"); lib_cleanup' EXIT

examples=$lib_top/run-examples/dovecot

if [ "$(id -u)" -ne 0 ]; then
    skip "Dovecot login paths" "needs root to start a private Dovecot"
    exit 0
fi
for p in dovecot doveadm; do
    command -v "$p" >/dev/null 2>&1 && continue
    # CI installs them (tests/deps.sh): there, a missing Dovecot is a failure, not a skip.
    if [ "${CI:-}" = true ]; then
        not_ok "$p is installed (Debian's dovecot-pop3d and dovecot-imapd)"
        exit 1
    fi
    skip "Dovecot login paths" "$p is not installed (Debian's dovecot-pop3d and dovecot-imapd)"
    exit 0
done
if [ "$MAIL_UID" -eq 0 ]; then
    skip "Dovecot login paths" "the scratch directory is not reachable by other users"
    exit 0
fi
need_built relay-allow relay-check chat

D=$SCRATCH/dovecot
store=$SCRATCH/store
mkdir -p "$D/run" "$D/state" "$SCRATCH/home/bob" "$store" || exit 111
# relay_query asks this store (Dovecot gives the hook an environment of its own).
export RELAY_DIR="$store"
chown "$MAIL_UID:$MAIL_GID" "$SCRATCH/home/bob"
chmod 755 "$store"
# The hook runs as the store's account, as 95-relaylease.conf ships it (user = relaylease):
# here daemon, an account every Debian system has, owns the store. Without it, root.
hook_user=daemon
id -u "$hook_user" >/dev/null 2>&1 || hook_user=root
hook_uid=$(id -u "$hook_user")
chown "$hook_user:$(id -g "$hook_user")" "$store"
printf 'bob:{PLAIN}secret:%s:%s::%s\n' "$MAIL_UID" "$MAIL_GID" "$SCRATCH/home/bob" >"$D/users"
# Users whose userdb entries carry extra fields, which script-login turns into environment
# variables of the hook (TCPREMOTEIP, PROTO, RELAY_DIR, ...): none may steer relay-allow.
# eve's would forge the address, the protocol, the store, the prefix, the user, the
# session pipe, cdb mode and the search path; ivy's replaces Dovecot's own IP.
elsewhere=$SCRATCH/elsewhere
mkdir -p "$SCRATCH/home/eve" "$SCRATCH/home/ivy" "$elsewhere" || exit 111
chown "$MAIL_UID:$MAIL_GID" "$SCRATCH/home/eve" "$SCRATCH/home/ivy"
chmod 755 "$elsewhere"
forged="userdb_tcpremoteip=203.0.113.9 userdb_tcp6remoteip=2001:db8::66 userdb_proto=TCP6"
forged="$forged userdb_relay_dir=$elsewhere userdb_relay_ctrl_dir=$elsewhere"
forged="$forged userdb_relay_ipv6_prefix=1 userdb_authenticated=mallory"
forged="$forged userdb_authuser=mallory userdb_authargv0=imapd userdb_relay_session_fd=1"
forged="$forged userdb_relay_cdb=$elsewhere/smtp.cdb userdb_relay_cdb_rules=$elsewhere/rules"
forged="$forged userdb_relay_cdb_prog=$elsewhere/prog userdb_relay_log=1"
forged="$forged userdb_path=$elsewhere:/usr/bin:/bin"
printf 'eve:{PLAIN}secret:%s:%s::%s::%s\n' "$MAIL_UID" "$MAIL_GID" "$SCRATCH/home/eve" \
    "$forged" >>"$D/users"
printf 'ivy:{PLAIN}secret:%s:%s::%s::%s\n' "$MAIL_UID" "$MAIL_GID" "$SCRATCH/home/ivy" \
    "userdb_ip=203.0.113.10" >>"$D/users"
# A program that would show up if the forged PATH or RELAY_CDB_PROG were followed.
printf '#!/bin/sh\n: >"%s/ran"\n' "$elsewhere" >"$elsewhere/prog"
for p in env relay-allow relay-cdb; do
    cp "$elsewhere/prog" "$elsewhere/$p"
done
chmod 755 "$elsewhere/prog" "$elsewhere/env" "$elsewhere/relay-allow" "$elsewhere/relay-cdb"
chmod 644 "$D/users"
log=$D/dovecot.log
: >"$log"

# The examples, installed as shipped but for the paths: the hook into the scratch
# directory, pointing at this build and this store.
install_hook() { # install_hook STORE-DIR
    sed -e "s|^relay_dir=.*|relay_dir=$1|" \
        -e "s|^relay_allow=.*|relay_allow=$RELAY_BIN/relay-allow|" \
        "$examples/relay-postlogin" >"$D/relay-postlogin.new" &&
        chmod 755 "$D/relay-postlogin.new" &&
        mv -f "$D/relay-postlogin.new" "$D/relay-postlogin"
}
install_snippet() { # install_snippet [SCRIPT-LOGIN-OPTION]
    sed -e "s|script-login /.*|script-login ${1:+$1 }$D/relay-postlogin|" \
        -e "s|^\( *user = \)relaylease\$|\1$hook_user|" \
        "$examples/95-relaylease.conf" >"$D/relaylease.conf"
}
install_hook "$store" && install_snippet || exit 111
check "the hook example is a valid shell script" sh -n "$examples/relay-postlogin"
check "the snippet's script-login line takes the hook's path" \
    grep -q "script-login $D/relay-postlogin\$" "$D/relaylease.conf"
check "the snippet runs the hook as the store's account" \
    grep -q "^ *user = $hook_user\$" "$D/relaylease.conf"

v6=
if "$STANDINS/chat" -f ::1 >/dev/null 2>&1; then
    v6=yes
fi

write_conf() { # write_conf POP3-PORT IMAP-PORT
    if [ -n "$v6" ]; then
        listen='127.0.0.1, ::1'
    else
        listen=127.0.0.1
    fi
    cat >"$D/dovecot.conf" <<EOF
base_dir = $D/run
state_dir = $D/state
instance_name = relaylease-test-$$
log_path = $log
protocols = pop3 imap
listen = $listen
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
auth_failure_delay = 0
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $D/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $D/users
}
service pop3-login {
  inet_listener pop3 {
    port = $1
  }
  inet_listener pop3s {
    port = 0
  }
}
service imap-login {
  inet_listener imap {
    port = $2
  }
  inet_listener imaps {
    port = 0
  }
}
!include $D/relaylease.conf
# The sanitizer build of relay-allow reserves terabytes of address space: no memory limit
# for the hook here (Dovecot's default of 256M is plenty for the real, static build).
service relay-postlogin {
  vsz_limit = 0
}
EOF
}

stop_dovecot() {
    [ -n "${dovecot_pid:-}" ] || return 0
    doveadm -c "$D/dovecot.conf" stop >/dev/null 2>&1
    stop_pid "$dovecot_pid"
    dovecot_pid=
}

# Free ports can be taken between the check and Dovecot's bind: try three times.
dovecot_pid=
tries=0
while [ "$tries" -lt 3 ] && [ -z "$dovecot_pid" ]; do
    tries=$((tries + 1))
    pop=$(free_port 127.0.0.1) && imap=$(free_port 127.0.0.1) || exit 111
    write_conf "$pop" "$imap"
    start_bg dovecot -F -c "$D/dovecot.conf" 2>>"$D/dovecot.stderr"
    dovecot_pid=$LAST_PID
    if wait_port 127.0.0.1 "$pop" 2>/dev/null && wait_port 127.0.0.1 "$imap" 2>/dev/null &&
        { [ -z "$v6" ] || { wait_port ::1 "$pop" && wait_port ::1 "$imap"; } 2>/dev/null; }; then
        break
    fi
    stop_pid "$dovecot_pid"
    dovecot_pid=
done
if [ -z "$dovecot_pid" ]; then
    not_ok "a private Dovecot starts on loopback"
    diag <"$D/dovecot.stderr"
    diag <"$log"
    exit 1
fi
ok "a private Dovecot starts on loopback (pop3 $pop, imap $imap${v6:+, IPv4 and IPv6})"

# log_lines PATTERN: how many lines of Dovecot's log match PATTERN (grep -E). Its log
# process writes a line a moment after the session has begun: log_wait "$log" waits for them.
log_lines() {
    grep -cE "$1" "$log"
}

# imap_session HOST PORT USER PASS: LOGIN, SELECT INBOX, LOGOUT. Transcript in imap.chat.
imap_session() {
    printf '%s\n' "a LOGIN $3 $4" 'b SELECT INBOX' 'c LOGOUT' |
        chat "$1" "$2" >"$SCRATCH/imap.chat"
}

show_log_on_failure() {
    [ "$lib_failed" -eq 0 ] && return 0
    diag "Dovecot's log:"
    diag <"$log"
}

# ---- POP3 over IPv4 ------------------------------------------------------------------------

pop_login 127.0.0.1 "$pop" bob secret
like "$(reply_to "$SCRATCH/pop.chat" PASS)" '+OK*' "POP3: the login succeeds through the hook"
like "$(reply_to "$SCRATCH/pop.chat" STAT)" '+OK 0 0*' "POP3: STAT works after the hook"
is "$(relay_query 127.0.0.1)" granted "POP3 login over IPv4: relay-check grants 127.0.0.1"
is "$(cat "$store/127.0.0.1" 2>/dev/null)" "relaylease1 127.0.0.1 bob" \
    "the record names the address and the user"
is "$(relay_query 127.0.0.2)" refused "another address is still refused"
log_wait "$log" 'relay-allow: recorded 127\.0\.0\.1 user=bob' 1
is "$(log_lines 'relay-allow: recorded 127\.0\.0\.1 user=bob')" 1 \
    "Dovecot's log has relay-allow's line"
is "$(log_lines 'relay-allow: (warning|fatal)')" 0 "no warning from relay-allow"
is "$(stat -c %u "$store/127.0.0.1" 2>/dev/null)" "$hook_uid" "the record is the store account's"
# Who runs the hook: a relay-allow that says its uid first. Not root, with the snippet as
# shipped: every userdb field reaches the hook's environment.
probe=$SCRATCH/probe
mkdir -m 755 "$probe" && chown "$hook_user" "$probe" || exit 111
printf '#!/bin/sh
/usr/bin/id -u >"%s/uid"
exec "%s" "$@"
' "$probe" "$RELAY_BIN/relay-allow" \
    >"$probe/relay-allow"
chmod 755 "$probe/relay-allow"
sed "s|^relay_allow=.*|relay_allow=$probe/relay-allow|" "$D/relay-postlogin" >"$D/relay-postlogin.new" &&
    chmod 755 "$D/relay-postlogin.new" && mv -f "$D/relay-postlogin.new" "$D/relay-postlogin"
pop_login 127.0.0.1 "$pop" bob secret
is "$(cat "$probe/uid" 2>/dev/null)" "$hook_uid" "the hook runs as the store's account ($hook_user), not root"
install_hook "$store" || exit 111

# ---- userdb fields do not steer relay-allow ------------------------------------------------

check "doveconf accepts the users' extra fields" doveadm -c "$D/dovecot.conf" user eve
like "$(doveadm -c "$D/dovecot.conf" user eve 2>&1)" "*tcpremoteip*203.0.113.9*" \
    "(eve's userdb entry has the forged fields)"
rm -f "$store/127.0.0.1"
before=$(log_lines 'relay-allow: recorded')
pop_login 127.0.0.1 "$pop" eve secret
like "$(reply_to "$SCRATCH/pop.chat" STAT)" '+OK 0 0*' "userdb fields: eve's POP3 login and STAT work"
log_wait "$log" 'relay-allow: recorded' $((before + 1))
is "$(cat "$store/127.0.0.1" 2>/dev/null)" "relaylease1 127.0.0.1 eve" \
    "userdb fields: the allowance is for the real client, in the real store, for the real user"
is "$(find "$store" -path "$store/.users" -prune -o -type f ! -name '.*' -print | wc -l | tr -d ' ')" 1 \
    "userdb fields: nothing else is in the store (no 203.0.113.9, no 2001:db8::66 prefix)"
is "$(cd "$elsewhere" && find . ! -name . ! -name prog ! -name env ! -name relay-allow \
    ! -name relay-cdb)" "" \
    "userdb fields: nothing was written in the forged RELAY_DIR, and no forged program ran"
is "$(relay_query 203.0.113.9) $(relay_query 2001:db8::66)" "refused refused" \
    "userdb fields: the forged addresses are refused"
imap_session 127.0.0.1 "$imap" eve secret
like "$(grep '^S: b ' "$SCRATCH/imap.chat")" 'S: b OK*' "userdb fields: eve's IMAP login works"
is "$(find "$store" -path "$store/.users" -prune -o -type f ! -name '.*' -print | wc -l | tr -d ' ')" 1 \
    "userdb fields: IMAP records nothing forged either"

rm -f "$store/127.0.0.1"
before=$(log_lines 'relay-postlogin: warning: the userdb returned a field ip')
pop_login 127.0.0.1 "$pop" ivy secret
like "$(reply_to "$SCRATCH/pop.chat" STAT)" '+OK 0 0*' "userdb field ip: ivy's login works"
log_wait "$log" 'relay-postlogin: warning: the userdb returned a field ip' $((before + 1))
is "$(log_lines 'relay-postlogin: warning: the userdb returned a field ip')" $((before + 1)) \
    "userdb field ip: the hook says it records nothing"
is "$(find "$store" -path "$store/.users" -prune -o -type f ! -name '.*' -print | wc -l | tr -d ' ')" 0 \
    "userdb field ip: nothing is recorded (not 203.0.113.10, which replaced Dovecot's IP)"

# ---- IMAP over IPv4 ------------------------------------------------------------------------

rm -f "$store/127.0.0.1"
is "$(relay_query 127.0.0.1)" refused "(the allowance is removed again)"
imap_session 127.0.0.1 "$imap" bob secret
like "$(reply_to "$SCRATCH/imap.chat" 'a LOGIN')" 'a OK*' "IMAP: the login succeeds through the hook"
like "$(grep '^S: b ' "$SCRATCH/imap.chat")" 'S: b OK*' "IMAP: SELECT INBOX works after the hook"
like "$(grep '^S: c ' "$SCRATCH/imap.chat")" 'S: c OK*' "IMAP: LOGOUT works"
is "$(relay_query 127.0.0.1)" granted "IMAP login over IPv4: relay-check grants 127.0.0.1"

# ---- IPv6 ----------------------------------------------------------------------------------

if [ -n "$v6" ]; then
    is "$(relay_query ::1)" refused "before any IPv6 login, ::1 is refused"
    pop_login ::1 "$pop" bob secret
    like "$(reply_to "$SCRATCH/pop.chat" STAT)" '+OK 0 0*' "POP3 over IPv6: login and STAT"
    is "$(relay_query ::1)" granted "POP3 login over IPv6: relay-check grants ::1"
    is "$(cat "$store/::1_128" 2>/dev/null)" "relaylease1 ::1_128 bob" \
        "the IPv6 record is ::1 alone (loopback is no site's /64)"
    is "$(relay_query ::2)" refused "another address of ::/64 is not granted"
    rm -f "$store/::1_128"
    imap_session ::1 "$imap" bob secret
    like "$(grep '^S: b ' "$SCRATCH/imap.chat")" 'S: b OK*' "IMAP over IPv6: login and SELECT"
    is "$(relay_query ::1)" granted "IMAP login over IPv6: relay-check grants ::1"
else
    skip "IPv6 logins" "no ::1 on this machine"
fi

# ---- a broken store never refuses a login ----------------------------------------------------

# broken DESC STORE-DIR: with the hook pointing at STORE-DIR, POP3 and IMAP logins still
# work, and each login adds exactly one warning line from relay-allow to Dovecot's log.
broken() {
    install_hook "$2" || exit 111
    before=$(log_lines 'relay-allow: warning')
    pop_login 127.0.0.1 "$pop" bob secret
    like "$(reply_to "$SCRATCH/pop.chat" STAT)" '+OK 0 0*' "$1: POP3 login and STAT still work"
    log_wait "$log" 'relay-allow: warning' $((before + 1))
    sleep 0.2
    is "$(log_lines 'relay-allow: warning')" $((before + 1)) \
        "$1: one warning line in Dovecot's log"
    imap_session 127.0.0.1 "$imap" bob secret
    like "$(grep '^S: b ' "$SCRATCH/imap.chat")" 'S: b OK*' "$1: IMAP login and SELECT still work"
}

rm -f "$store/127.0.0.1"
broken "store missing" "$SCRATCH/no-such-store"
: >"$SCRATCH/a-file"
broken "store is a file" "$SCRATCH/a-file"

# Root may write any directory, unless the file system says no: an immutable directory.
mkdir "$SCRATCH/frozen"
if chattr +i "$SCRATCH/frozen" 2>/dev/null; then
    broken "store not writable (immutable)" "$SCRATCH/frozen"
    chattr -i "$SCRATCH/frozen"
    is "$(find "$SCRATCH/frozen" -type f | wc -l | tr -d ' ')" 0 "nothing was written there"
else
    skip "store not writable (immutable)" "chattr +i is not permitted here"
fi

# use_relay_allow PROGRAM: the hook with another relay-allow.
use_relay_allow() {
    install_hook "$store" &&
        sed "s|^relay_allow=.*|relay_allow=$1|" "$D/relay-postlogin" >"$D/relay-postlogin.new" &&
        chmod 755 "$D/relay-postlogin.new" && mv -f "$D/relay-postlogin.new" "$D/relay-postlogin"
}

# The login goes on even when relay-allow crashes (as a sanitizer build does under a memory
# limit), and when it is missing altogether.
printf '#!/bin/sh\nkill -SEGV $$\n' >"$SCRATCH/crashing-relay-allow"
chmod 755 "$SCRATCH/crashing-relay-allow"
use_relay_allow "$SCRATCH/crashing-relay-allow"
pop_login 127.0.0.1 "$pop" bob secret
like "$(reply_to "$SCRATCH/pop.chat" STAT)" '+OK 0 0*' "relay-allow crashes: the login still works"
is "$(relay_query 127.0.0.1)" refused "relay-allow crashes: nothing recorded"
use_relay_allow "$SCRATCH/no-such-relay-allow"
pop_login 127.0.0.1 "$pop" bob secret
like "$(reply_to "$SCRATCH/pop.chat" STAT)" '+OK 0 0*' "relay-allow missing: the login still works"
log_wait "$log" 'relay-postlogin: warning: .* is missing' 1
is "$(log_lines 'relay-postlogin: warning: .* is missing')" 1 \
    "relay-allow missing: the hook logs one warning"
is "$(relay_query 127.0.0.1)" refused "relay-allow missing: nothing recorded"

# reload_hook DESC LINE [-d]: install the snippet (with script-login's option) and reload
# Dovecot. A reload restarts the services a moment later: log in over IPv4 (with no allowance
# left from the login before) until a login has gone through the new hook, whose line from
# relay-allow matches LINE (grep -E); for 60 s at most, a guard against a hang.
reload_hook() {
    install_hook "$store" && install_snippet "$3" || exit 111
    if ! doveadm -c "$D/dovecot.conf" reload >/dev/null 2>&1; then
        not_ok "$1: doveadm reload"
        return 1
    fi
    rh_end=$(($(date +%s) + 60))
    while :; do
        rm -f "$store/127.0.0.1"
        seen=$(log_lines 'relay-allow: ')
        pop_login 127.0.0.1 "$pop" bob secret
        log_wait "$log" 'relay-allow: ' $((seen + 1))
        grep 'relay-allow: ' "$log" | tail -n 1 | grep -qE "$2" && return 0
        [ "$(date +%s)" -lt "$rh_end" ] || break
    done
    not_ok "$1: a login goes through the new hook"
    return 1
}

# ---- script-login -d: the hook runs as the mail user, who cannot write the store ------------

if reload_hook "script-login -d" 'relay-allow: warning: unable to record 127\.0\.0\.1' -d; then
    like "$(reply_to "$SCRATCH/pop.chat" STAT)" '+OK 0 0*' "script-login -d: the login still works"
    is "$(relay_query 127.0.0.1)" refused "script-login -d: the mail user cannot record"
    like "$(grep 'relay-allow: ' "$log" | tail -n 1)" \
        '*relay-allow: warning: unable to record 127.0.0.1 in *: Permission denied' \
        "script-login -d: one warning line in Dovecot's log"
fi

# ---- a failed login grants nothing ----------------------------------------------------------

# Last, because Dovecot delays each later login from an address that failed (auth penalty).
# Back to the shipped snippet first, and one login to show that the hook records again.
if reload_hook "back to the shipped snippet" 'relay-allow: recorded 127\.0\.0\.1'; then
    is "$(relay_query 127.0.0.1)" granted "back to the shipped snippet: a login records again"
fi
rm -f "$store/127.0.0.1" "$store/::1_128"
pop_login 127.0.0.1 "$pop" bob wrong
like "$(reply_to "$SCRATCH/pop.chat" PASS)" '-ERR*' "POP3: a wrong password is refused"
imap_session 127.0.0.1 "$imap" bob wrong
like "$(reply_to "$SCRATCH/imap.chat" 'a LOGIN')" 'a NO*' "IMAP: a wrong password is refused"
is "$(relay_query 127.0.0.1)" refused "a failed login grants nothing"
if [ -n "$v6" ]; then
    pop_login ::1 "$pop" bob wrong
    like "$(reply_to "$SCRATCH/pop.chat" PASS)" '-ERR*' "POP3 over IPv6: a wrong password is refused"
    is "$(relay_query ::1)" refused "a failed login over IPv6 grants nothing"
fi
is "$(find "$store" -path "$store/.users" -prune -o -type f ! -name ".*" -print | wc -l | tr -d ' ')" 0 "a failed login leaves no allowance in the store"

stop_dovecot
is "$(log_lines 'Fatal|Panic')" 0 "no fatal error in Dovecot's log"
show_log_on_failure
done_testing
