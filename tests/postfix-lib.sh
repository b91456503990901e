# tests/postfix-lib.sh: a private Postfix for the tests and bench/postfix.sh. Source it after
# lib.sh (it uses SCRATCH, start_bg, stop_pid, free_port, wait_port); do not run it.
# shellcheck shell=sh
# shellcheck disable=SC2034 # SASL_PID, PF_LOG: for the caller
#
#   postfix_missing          why a private Postfix cannot run here (not root, not installed),
#                            or nothing
#   postfix_init DIR         the instance's directories: DIR/etc, spool, data, log
#   postfix_listener NAME MAXPROC [-o name=value...]
#                            an smtpd on 127.0.0.1, ::1 when PF_V6 is set (postfix_init sets it
#                            when loopback IPv6 works) and each IPv6 address in PF_V6_MORE, on
#                            a free port; once started, postfix_port NAME prints it
#   PF_MAIN, PF_SERVICES     lines added to main.cf and master.cf
#   postfix_start            write the configuration and start master in the foreground
#                            (start_bg: stopped by PID on exit); sets PF_PID
#   postfix_stop             stop it by PID: master takes its children (smtpd, spawn and the
#                            policy program) with it
#   PF_LOG                   Postfix's own log (postlogd writes it; this machine may have no
#                            syslog)
#   sasl_start DIR USER PASS a private Dovecot with only an auth socket, for smtpd's SMTP AUTH
#                            (type dovecot); sets SASL_SOCKET. Start it before Postfix and stop
#                            it after: smtpd dies without it, and master throttles the service.
#
# Never `postfix stop` or `postfix start` without -c (that is the system's mail server), and
# never kill spawn or smtpd: master throttles a service whose child died badly (60 s).
# in_flow_delay = 0 always: sessions that end after RCPT leave cleanup's flow-control tokens
# unused, and from the 101st such session on, with the default 1 s, every accepted RCPT
# would wait a second.

PF_V6=
PF_V6_MORE=
PF_MAIN=
PF_SERVICES=
PF_PID=
pf_listeners=

postfix_missing() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "needs root (master changes to the postfix account)"
    elif ! command -v postconf >/dev/null 2>&1 || ! command -v postfix >/dev/null 2>&1; then
        echo "Postfix is not installed (Debian's postfix)"
    elif ! id postfix >/dev/null 2>&1; then
        echo "the postfix account is missing (Debian's postfix creates it)"
    fi
}

postfix_init() {
    PF_DIR=$1
    PF_LOG=$PF_DIR/log/maillog
    mkdir -p "$PF_DIR/etc" "$PF_DIR/spool" "$PF_DIR/data" "$PF_DIR/log" || return 1
    chmod 755 "$PF_DIR" "$PF_DIR/etc" "$PF_DIR/spool" "$PF_DIR/log" &&
        chown postfix "$PF_DIR/data" || return 1
    if [ -z "${PF_NO_V6:-}" ] && "$STANDINS/chat" -f ::1 >/dev/null 2>&1; then
        PF_V6=yes
    fi
}

postfix_listener() { # NAME MAXPROC OPTIONS...
    pf_name=$1
    shift
    # One listener a line: the name, then what goes after smtpd's column.
    pf_listeners="$pf_listeners$pf_name $*
"
}

postfix_port() { # NAME
    sed -n "s/^$1 //p" "$PF_DIR/ports"
}

pf_write() {
    pf_protocols=ipv4
    [ -z "$PF_V6" ] || pf_protocols=all
    cat >"$PF_DIR/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF_DIR/spool
data_directory = $PF_DIR/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.relaylease.test
mydomain = relaylease.test
mydestination = \$myhostname, localhost
inet_interfaces = 127.0.0.1${PF_V6:+, [::1]}$(for a in $PF_V6_MORE; do printf ', [%s]' "$a"; done)
inet_protocols = $pf_protocols
mynetworks = 192.0.2.0/24
maillog_file = $PF_LOG
maillog_file_prefixes = $PF_DIR/log
in_flow_delay = 0
notify_classes =
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
$PF_MAIN
EOF
    : >"$PF_DIR/ports"
    : >"$PF_DIR/etc/master.cf"
    printf '%s' "$pf_listeners" | while read -r pf_name pf_max pf_opts; do
        [ -n "$pf_name" ] || continue
        pf_port=$(free_port 127.0.0.1) || return 1
        echo "$pf_name $pf_port" >>"$PF_DIR/ports"
        echo "127.0.0.1:$pf_port inet n - n - $pf_max smtpd $pf_opts" >>"$PF_DIR/etc/master.cf"
        for pf_a in ${PF_V6:+::1} $PF_V6_MORE; do
            echo "[$pf_a]:$pf_port inet n - n - $pf_max smtpd $pf_opts" >>"$PF_DIR/etc/master.cf"
        done
    done
    cat >>"$PF_DIR/etc/master.cf" <<EOF
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
$PF_SERVICES
EOF
}

pf_ready() {
    while read -r pf_name pf_port; do
        wait_port 127.0.0.1 "$pf_port" 2>/dev/null || return 1
        for pf_a in ${PF_V6:+::1} $PF_V6_MORE; do
            wait_port "$pf_a" "$pf_port" 2>/dev/null || return 1
        done
    done <"$PF_DIR/ports"
}

postfix_start() {
    pf_tries=0
    # A free port can be taken before master binds it (master then exits): three tries.
    while [ "$pf_tries" -lt 3 ]; do
        pf_tries=$((pf_tries + 1))
        pf_write || return 1
        # postconf says on stderr what is wrong; postfix check would only log it, and
        # postlogd is not running yet.
        postconf -c "$PF_DIR/etc" -n >/dev/null 2>>"$PF_DIR/log/start" || return 1
        pf_master=$(postconf -c "$PF_DIR/etc" -h daemon_directory)/master
        postfix -c "$PF_DIR/etc" check >>"$PF_DIR/log/start" 2>&1 || return 1
        start_bg "$pf_master" -c "$PF_DIR/etc" >>"$PF_DIR/log/start" 2>&1
        # shellcheck disable=SC2153 # LAST_PID: start_bg (lib.sh) sets it
        PF_PID=$LAST_PID
        kill -0 "$PF_PID" 2>/dev/null && pf_ready && return 0
        postfix_stop
    done
    return 1
}

postfix_stop() {
    [ -n "$PF_PID" ] || return 0
    stop_pid "$PF_PID"
    PF_PID=
}

sasl_start() { # DIR USER PASS
    sasl_d=$1
    mkdir -p "$sasl_d/run" "$sasl_d/state" || return 1
    printf '%s:{PLAIN}%s:65534:65534::%s::\n' "$2" "$3" "$sasl_d" >"$sasl_d/users"
    SASL_SOCKET=$sasl_d/auth-client
    cat >"$sasl_d/dovecot.conf" <<EOF
base_dir = $sasl_d/run
state_dir = $sasl_d/state
instance_name = relaylease-sasl-$$
log_path = $sasl_d/log
protocols =
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $sasl_d/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $sasl_d/users
}
service auth {
  unix_listener $SASL_SOCKET {
    mode = 0666
  }
}
EOF
    start_bg dovecot -F -c "$sasl_d/dovecot.conf" 2>>"$sasl_d/stderr"
    SASL_PID=$LAST_PID
    appears "$SASL_SOCKET" 30
}
