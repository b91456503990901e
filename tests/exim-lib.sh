# tests/exim-lib.sh: a private Exim (Debian's exim4-daemon-light) for the tests. Source it
# after lib.sh and debs-lib.sh.
# shellcheck shell=sh
# shellcheck disable=SC2034 # EXIM_WHY, EXIM_PID...: set here for the test that sources it
#
# Debian's exim4 conflicts with postfix, so the test does not install it: exim_setup fetches
# exim4-daemon-light and exim4-base with `apt-get download` once, keeps them in
# ~/.cache/relaylease/exim-debs (or takes them from EXIM_DEBS, a directory of .deb files) and
# unpacks them into the scratch directory. The binary has its user, Debian-exim, compiled
# in: each Exim process runs in a private mount namespace where /etc/passwd and /etc/group
# are copies that have it (an id nobody uses here). Nothing outside the scratch directory
# is written.
#
#   exim_setup          true when Exim can run here; else false with EXIM_WHY set (a reason
#                       to skip). Sets EXIM (the binary), EXIM_UID (Debian-exim's uid), EXIM_NS
#                       (a command that runs its arguments in the namespace).
#   exim_conf FILE PORT INTERFACES RCPT-ACL-FILE
#                       a config: a daemon on PORT of INTERFACES (an Exim list, "<; ..."),
#                       local domain mx.relaylease.test, the RCPT ACL: accept the local
#                       domain, then the statements in RCPT-ACL-FILE (.include), then
#                       "deny message = relay not permitted"; a plaintext PLAIN authenticator
#                       that knows bob/secret. Log files in FILE's directory/log.
#   exim_start CONF     start the daemon in the foreground (start_bg: stopped on exit) and
#                       wait for its port. Sets EXIM_PID. False, with its stderr shown, if it
#                       does not listen.

exim_setup() {
    EXIM_WHY=
    if [ "$(id -u)" -ne 0 ]; then
        EXIM_WHY="needs root (a mount namespace for the Debian-exim user)"
        return 1
    fi
    for exim_p in unshare mount dpkg-deb setpriv; do
        if ! command -v "$exim_p" >/dev/null 2>&1; then
            EXIM_WHY="$exim_p is not installed"
            return 1
        fi
    done
    EX=$SCRATCH/exim
    mkdir -p "$EX" || return 1
    if ! debs_unpack exim "${EXIM_DEBS:-}" "$EX/root" exim_have exim4-daemon-light exim4-base; then
        [ ! -f "$SCRATCH/exim-debs/apt.log" ] || tail -n 5 "$SCRATCH/exim-debs/apt.log" | diag
        EXIM_WHY="apt-get download could not fetch exim4-daemon-light and exim4-base (apt-get update first, or set EXIM_DEBS)"
        return 1
    fi
    EXIM=$EX/root/usr/sbin/exim4
    exim_missing=$(ldd "$EXIM" 2>/dev/null | awk '/not found/ { printf "%s ", $1 }')
    if [ -n "$exim_missing" ]; then
        EXIM_WHY="libraries missing: ${exim_missing}(Debian: libidn12)"
        return 1
    fi
    EXIM_UID=$(unused_id 64900)
    cp /etc/passwd "$EX/passwd" && cp /etc/group "$EX/group" &&
        echo "Debian-exim:x:$EXIM_UID:$EXIM_UID:exim test:/nonexistent:/usr/sbin/nologin" \
            >>"$EX/passwd" && echo "Debian-exim:x:$EXIM_UID:" >>"$EX/group" &&
        chmod 644 "$EX/passwd" "$EX/group" || return 1
    # It execs all the way down, so the PID start_bg records is Exim's own.
    cat >"$EX/ns" <<EOF
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount -n --bind "\$1" /etc/passwd &&
    mount -n --bind "\$2" /etc/group && shift 2 && exec "\$@"' sh "$EX/passwd" "$EX/group" "\$@"
EOF
    chmod 755 "$EX/ns" || return 1
    EXIM_NS=$EX/ns
    # An empty config is enough for -bV; it must be root's and writable by nobody else.
    : >"$EX/empty.conf" && chmod 644 "$EX/empty.conf" || return 1
    if ! "$EXIM_NS" "$EXIM" -C "$EX/empty.conf" -bV >"$EX/bV.out" 2>&1; then
        diag <"$EX/bV.out"
        EXIM_WHY="exim4 -bV fails in a private mount namespace here"
        return 1
    fi
    diag "$(grep -m 1 '^Exim version' "$EX/bV.out"), unpacked from $DEBS_FROM"
    return 0
}

exim_have() { # exim_have ROOT
    [ -x "$1/usr/sbin/exim4" ]
}

exim_conf() {
    exim_d=$(dirname "$1")
    mkdir -p "$exim_d/spool" "$exim_d/log" &&
        chown "$EXIM_UID:$EXIM_UID" "$exim_d/spool" "$exim_d/log" || return 1
    cat >"$1" <<EOF
exim_user = Debian-exim
exim_group = Debian-exim
exim_path = $EXIM
spool_directory = $exim_d/spool
log_file_path = $exim_d/log/%slog
primary_hostname = mx.relaylease.test
local_interfaces = $3
daemon_smtp_ports = $2
domainlist local_domains = mx.relaylease.test
host_lookup =
rfc1413_hosts =
keep_environment =
tls_advertise_hosts =
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  accept  domains = +local_domains
.include $4
  deny    message = relay not permitted

begin routers
begin transports

begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = \${if and {{eq{\$auth2}{bob}}{eq{\$auth3}{secret}}}}
  server_set_id = \$auth2
EOF
    # Exim reads a -C file only if root owns it and nobody else can write it.
    chown 0:0 "$1" && chmod 644 "$1"
}

exim_start() {
    exim_d=$(dirname "$1")
    exim_port=$(sed -n 's/^daemon_smtp_ports = //p' "$1")
    start_bg "$EXIM_NS" "$EXIM" -C "$1" -bdf -oX "$exim_port" -oP "$exim_d/exim.pid" \
        </dev/null >"$exim_d/daemon.out" 2>&1
    EXIM_PID=$LAST_PID
    if ! wait_port 127.0.0.1 "$exim_port" >/dev/null 2>&1; then
        diag "exim did not listen on $exim_port:"
        diag <"$exim_d/daemon.out"
        return 1
    fi
}
