#!/bin/sh
# t-courier.sh: the Courier login paths (run-examples/courier).
#
# First the wrapper's contract, with no Courier at all: relay-imapd in place of imapd under
# relay-session, run as imaplogin runs it (as the mail user, AUTHENTICATED set, the Maildir
# as its argument); and relay-allow at the end of the old AUTHMODULES chain (argv [self,
# imapd, Maildir], AUTHUSER and AUTHARGV0 set): it records only when AUTHENTICATED is
# non-empty, leaves fd 3 alone, and always execs imapd.
#
# Then the real Courier (Debian's courier-imap, courier-pop, courier-authlib) on loopback,
# started by imapd.run and pop3d.run. Debian's courier-imap conflicts with dovecot-imapd and
# pulls in an MTA, so the test does not install it: it uses an installed Courier if there is
# one, else it fetches the packages with `apt-get download` once, keeps them in
# ~/.cache/relaylease/courier-debs (RELAYLEASE_CACHE overrides ~/.cache/relaylease), or takes
# them from COURIER_DEBS, a directory of .deb files, and unpacks them into the scratch
# directory. authdaemond's
# socket (/run/courier/authdaemon) and its files (/etc/courier) are compiled in, so each
# Courier process runs in a private mount namespace where /etc/courier comes from the
# scratch directory (a read-only overlay on /etc) and /run is a scratch directory. Nothing
# outside the scratch directory is written; a system Courier, if any, is left alone.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
# shellcheck source=debs-lib.sh
. "$(dirname "$0")/debs-lib.sh"

# timeout(1) signals a test and then its whole process group: that second TERM must not cut
# the cleanup short, for couriertcpd leaves the group and would be left running.
trap 'lib_rc=$?; trap "" TERM INT HUP; (exit "$lib_rc"); lib_cleanup' EXIT

examples=$lib_top/run-examples/courier

need_built relay-allow relay-check relay-session chat

root=
[ "$(id -u)" -eq 0 ] && [ "$MAIL_UID" -ne 0 ] && command -v setpriv >/dev/null 2>&1 && root=yes
store=$SCRATCH/store
mkdir -p "$store" && chmod 755 "$store" || exit 111
# relay_query asks this store (every program the test runs is given it too).
export RELAY_DIR="$store"

# records: how many allowances the store holds (its dot files, such as a lock, are none, nor
# is anything in the per-user cap's index, .users).
records() {
    find "$store" -path "$store/.users" -prune -o -type f ! -name ".*" -print | wc -l | tr -d ' '
}

# install_wrapper NAME SERVER [RELAY-ALLOW]: the example NAME (relay-imapd or relay-pop3d)
# in the scratch directory, only its two paths changed.
install_wrapper() {
    sed -e "s|^relay_allow=.*|relay_allow=${3:-$RELAY_BIN/relay-allow}|" \
        -e "s|^imapd=.*|imapd=$2|" -e "s|^pop3d=.*|pop3d=$2|" \
        "$examples/$1" >"$SCRATCH/$1.new" &&
        chmod 755 "$SCRATCH/$1.new" && mv -f "$SCRATCH/$1.new" "$SCRATCH/$1"
}

# ---- the wrapper's contract, without Courier -------------------------------------------------

for w in relay-imapd relay-pop3d imapd.run pop3d.run; do
    check "$w is a valid shell script" sh -n "$examples/$w"
done

# A stand-in imapd: it prints its arguments, its uid, whether RELAY_SESSION_FD reached it,
# and what fd 3 holds.
fake=$SCRATCH/fake-imapd
cat >"$fake" <<'EOF'
#!/bin/sh
echo "args=$*"
echo "session=${RELAY_SESSION_FD-unset}"
echo "uid=$(id -u)"
if { true <&3; } 2>/dev/null; then
    printf 'fd3=%s\n' "$(tr '\0' ' ' <&3)"
else
    echo "fd3=closed"
fi
EOF

# A stand-in imaplogin: "fake-imaplogin ok|bad SERVER MAILDIR". On ok it drops to the mail
# user, sets AUTHENTICATED and execs SERVER MAILDIR, as imaplogin does; on bad it exits.
drop=
[ -n "$root" ] && drop="setpriv --reuid=$MAIL_UID --regid=$MAIL_GID --clear-groups"
cat >"$SCRATCH/fake-imaplogin" <<EOF
#!/bin/sh
[ "\$1" = ok ] || exit 1
shift
exec $drop env AUTHENTICATED=bob "\$@"
EOF
chmod 755 "$fake" "$SCRATCH/fake-imaplogin"
install_wrapper relay-imapd "$fake" || exit 111

# session OK|BAD CLIENT-IP: couriertcpd's part: relay-session in front of the fake imaplogin
# and the wrapper, started from a root shell (USER=root). Output in $SCRATCH/out,
# diagnostics in $SCRATCH/err.
session() {
    env USER=root TCPREMOTEIP="$2" RELAY_DIR="$store" "$RELAY_BIN/relay-session" \
        "$SCRATCH/fake-imaplogin" "$1" "$SCRATCH/relay-imapd" Maildir \
        >"$SCRATCH/out" 2>"$SCRATCH/err" </dev/null
}

session ok ::ffff:127.0.0.1
rc=$?
is "$rc" 0 "modern hook: the chain ends in imapd's exit status"
is "$(sed -n 1p "$SCRATCH/out")" "args=Maildir" "modern hook: imapd gets the Maildir"
is "$(sed -n 2p "$SCRATCH/out")" "session=unset" "modern hook: RELAY_SESSION_FD does not reach imapd"
if [ -n "$root" ]; then
    is "$(sed -n 3p "$SCRATCH/out")" "uid=$MAIL_UID" "modern hook: imapd runs as the mail user"
fi
is "$(cat "$store/127.0.0.1" 2>/dev/null)" "relaylease1 127.0.0.1 bob" \
    "modern hook: relay-session records ::ffff:127.0.0.1 as 127.0.0.1, user from AUTHENTICATED, not USER"
like "$(cat "$SCRATCH/err")" "*relay-session: recorded 127.0.0.1 user=bob*" \
    "modern hook: relay-session logs the record"
is "$(relay_query 127.0.0.1)" granted "modern hook: relay-check grants 127.0.0.1"

rm -f "$store/127.0.0.1"
session bad ::ffff:127.0.0.1
is "$?" 1 "modern hook, failed login: the exit status goes through"
is "$(records)" 0 "modern hook, failed login: nothing recorded"

if [ -n "$root" ]; then
    # The wrapper without relay-session: the mail user cannot write the store.
    env TCPREMOTEIP=127.0.0.1 RELAY_DIR="$store" "$SCRATCH/fake-imaplogin" ok \
        "$SCRATCH/relay-imapd" Maildir >"$SCRATCH/out" 2>"$SCRATCH/err" </dev/null
    is "$(sed -n 1p "$SCRATCH/out")" "args=Maildir" "modern hook, no relay-session: imapd still runs"
    is "$(records)" 0 "modern hook, no relay-session: the mail user records nothing"
    is "$(grep -c 'relay-allow: warning' "$SCRATCH/err")" 1 "modern hook, no relay-session: one warning line"
else
    skip "modern hook, no relay-session: the mail user records nothing" "needs root to run as the mail user"
fi

# relay-allow missing: the wrapper still execs imapd.
install_wrapper relay-imapd "$fake" "$SCRATCH/no-such-relay-allow" || exit 111
session ok 127.0.0.1
is "$(sed -n 1p "$SCRATCH/out")" "args=Maildir" "modern hook, relay-allow missing: imapd still runs"
like "$(cat "$SCRATCH/err")" "*relay-imapd: warning: *no-such-relay-allow is missing*" \
    "modern hook, relay-allow missing: the wrapper says so"
is "$(records)" 0 "modern hook, relay-allow missing: nothing recorded"
install_wrapper relay-imapd "$fake" || exit 111

# The old AUTHMODULES chain: relay-allow is the last module. fd 3 carries the login for the
# module chain; relay-allow must neither read nor close it.
old_chain() { # old_chain AUTHENTICATED-VALUE|-unset
    printf 'bob\0secret\0' >"$SCRATCH/fd3"
    if [ "$1" = -unset ]; then
        set -- env -u AUTHENTICATED
    else
        set -- env AUTHENTICATED="$1"
    fi
    "$@" AUTHUSER=/usr/lib/courier/authlib/authdaemon AUTHARGV0=imaplogin \
        TCPREMOTEIP=127.0.0.1 RELAY_DIR="$store" "$RELAY_BIN/relay-allow" "$fake" Maildir \
        3<"$SCRATCH/fd3" >"$SCRATCH/out" 2>"$SCRATCH/err" </dev/null
}
for a in "" -unset; do
    case $a in "") what="AUTHENTICATED empty" ;; *) what="AUTHENTICATED unset" ;; esac
    old_chain "$a"
    is "$(sed -n 1p "$SCRATCH/out")" "args=Maildir" "old chain, $what: imapd runs with the Maildir"
    is "$(sed -n 4p "$SCRATCH/out")" "fd3=bob secret " "old chain, $what: fd 3 untouched"
    is "$(records)" 0 "old chain, $what: nothing recorded"
    is "$(grep -c 'relay-allow: warning' "$SCRATCH/err")" 1 "old chain, $what: one warning line"
done
old_chain bob
is "$(sed -n 1p "$SCRATCH/out")" "args=Maildir" "old chain, AUTHENTICATED=bob: imapd runs with the Maildir"
is "$(sed -n 4p "$SCRATCH/out")" "fd3=bob secret " "old chain, AUTHENTICATED=bob: fd 3 untouched"
is "$(cat "$store/127.0.0.1" 2>/dev/null)" "relaylease1 127.0.0.1 bob" \
    "old chain, AUTHENTICATED=bob: recorded"
rm -f "$store/127.0.0.1"

# ---- the real Courier ------------------------------------------------------------------------

# courier_skip REASON: the rest cannot run here.
courier_skip() {
    skip "Courier-IMAP and Courier-POP3 on loopback" "$1"
    done_testing
}

if [ -z "$root" ]; then
    [ "$(id -u)" -ne 0 ] ||
        courier_skip "the scratch directory or the programs are not reachable by the mail user"
    courier_skip "needs root (couriertcpd, authdaemond, a mount namespace)"
fi
for p in unshare mount dpkg-deb; do
    command -v "$p" >/dev/null 2>&1 || courier_skip "$p is not installed"
done

CX=$SCRATCH/courier
mkdir -p "$CX/etc/courier" "$CX/run/courier/authdaemon" || exit 111

# The Courier files the test needs, relative to the root they are installed in.
files="usr/sbin/couriertcpd usr/lib/courier/courier/imaplogin usr/bin/imapd
usr/lib/courier/courier/courierpop3login usr/lib/courier/courier/courierpop3d
usr/lib/courier/courier-authlib/authdaemond usr/lib/courier/courier-authlib/makedatprog
usr/lib/courier-authlib/libauthuserdb.so.0"
have_all() { # have_all ROOT
    for f in $files; do
        [ -e "$1/$f" ] || return 1
    done
}

if have_all ""; then
    CR=
    diag "using the installed Courier"
else
    CR=$CX/root
    packages="courier-base courier-imap courier-pop courier-authlib courier-authlib-userdb
        libcourier-unicode4 libgamin0 libidn12 libgdbm6 libltdl7"
    # shellcheck disable=SC2086 # one word per package
    debs_unpack courier "${COURIER_DEBS:-}" "$CR" have_all $packages
    if ! have_all "$CR"; then
        [ ! -f "$SCRATCH/courier-debs/apt.log" ] || tail -n 5 "$SCRATCH/courier-debs/apt.log" | diag
        courier_skip "Courier is not installed and apt-get download could not fetch it (apt-get update first, or set COURIER_DEBS)"
    fi
    diag "using Courier unpacked from $DEBS_FROM: $(cd "$DEBS_FROM" && echo *.deb)"
fi

# The libraries the unpacked packages bring, then a check that nothing else is missing.
libpath=
if [ -n "$CR" ]; then
    libpath=$(find "$CR" -name '*.so*' -exec dirname {} \; | sort -u | tr '\n' : | sed 's/:$//')
fi
missing=
for f in $files; do
    missing="$missing$(LD_LIBRARY_PATH=$libpath ldd "$CR/$f" 2>/dev/null | grep 'not found')"
done
if [ -n "$missing" ]; then
    courier_skip "libraries missing: $(echo "$missing" | awk '{print $1}' | sort -u | tr '\n' ' ')"
fi

# Accounts: bob/secret in userdb (authdaemond's authuserdb module), mail as the mail user.
home=$SCRATCH/home/bob
mkdir -p "$home/Maildir/cur" "$home/Maildir/new" "$home/Maildir/tmp" &&
    chown -R "$MAIL_UID:$MAIL_GID" "$home" || exit 111
# crypt("secret") with MD5-crypt, made once with perl's crypt().
# shellcheck disable=SC2016 # a crypt string, not an expansion
hash='$1$relaylea$2hmzNVBHAJFTAN0ID/Mxr/'
makedat() { # makedat NAME < lines: a userdb .dat file, as makeuserdb makes it
    LD_LIBRARY_PATH=$libpath "$CR/usr/lib/courier/courier-authlib/makedatprog" - \
        "$CX/etc/courier/$1.tmp" "$CX/etc/courier/$1.dat"
}
if ! printf 'bob\tuid=%s|gid=%s|home=%s|shell=/bin/sh|_=\n.\n' "$MAIL_UID" "$MAIL_GID" \
    "$home" | makedat userdb; then
    courier_skip "makedatprog cannot build a userdb"
fi
if ! printf 'bob\tsystempw=%s\n.\n' "$hash" | makedat userdbshadow; then
    courier_skip "makedatprog cannot build a userdb"
fi
chmod 600 "$CX/etc/courier/userdbshadow.dat"
printf '%s\n' 'authmodulelist="authuserdb"' 'daemons=1' 'DEBUG_LOGIN=0' \
    >"$CX/etc/courier/authdaemonrc"

# POP3 listens on ::1 where there is one: couriertcpd's IPv6 clients, and IPv4 ones with IMAP.
pop_host=127.0.0.1 pop_key=127.0.0.1
if "$STANDINS/chat" -f ::1 >/dev/null 2>&1; then
    pop_host=::1 pop_key=::1_128
fi
imap=$(free_port 127.0.0.1) && pop=$(free_port "$pop_host") && imap2=$(free_port 127.0.0.1) ||
    exit 111
# Courier's own settings files, as Debian ships them but for the address and port.
courier_conf() { # courier_conf FILE ADDRESS PORT [extra lines]
    f=$1 address=$2 port=$3
    shift 3
    {
        echo "ADDRESS=$address"
        echo "PORT=$port"
        echo "MAXDAEMONS=10"
        echo "MAXPERIP=10"
        echo 'TCPDOPTS="-nodnslookup -noidentlookup"'
        echo "MAILDIRPATH=Maildir"
        printf '%s\n' "$@"
    } >"$CX/etc/courier/$f"
}
courier_conf imapd 127.0.0.1 "$imap" 'IMAP_CAPABILITY="IMAP4rev1 UIDPLUS CHILDREN NAMESPACE IDLE"' \
    IMAP_ENHANCEDIDLE=0 IMAP_UMASK=022
courier_conf pop3d "$pop_host" "$pop"
courier_conf imapd-norelaysession 127.0.0.1 "$imap2" \
    'IMAP_CAPABILITY="IMAP4rev1 UIDPLUS CHILDREN NAMESPACE IDLE"' IMAP_ENHANCEDIDLE=0

# ns CMD...: run CMD in the private mount namespace each Courier process gets. It execs all
# the way down, so the PID start_bg records is the daemon's own.
cat >"$CX/in-ns" <<EOF
#!/bin/sh
mount -n -t overlay overlay -o "lowerdir=$CX/etc:/etc" /etc || exit 111
mount -n --bind "$CX/run" /run || exit 111
exec "\$@"
EOF
# USER=root: couriertcpd started from a root shell; the login name must still be bob.
cat >"$CX/ns" <<EOF
#!/bin/sh
LD_LIBRARY_PATH='$libpath'
USER=root
export LD_LIBRARY_PATH USER
exec unshare -m --propagation private sh "$CX/in-ns" "\$@"
EOF
chmod 755 "$CX/ns"
if ! "$CX/ns" test -f /etc/courier/authdaemonrc 2>"$CX/ns.err"; then
    diag <"$CX/ns.err"
    courier_skip "no private mount namespace with an overlay on /etc here"
fi

# The examples, installed as shipped but for the paths.
install_wrapper relay-imapd "$CR/usr/bin/imapd" && install_wrapper relay-pop3d \
    "$CR/usr/lib/courier/courier/courierpop3d" || exit 111
install_run() { # install_run EXAMPLE OUTPUT [sed expressions...]
    ex=$1 out=$2
    shift 2
    sed -e "s|^RELAY_DIR=.*|RELAY_DIR=$store|" \
        -e "s|/usr/sbin/couriertcpd|$CR/usr/sbin/couriertcpd|" \
        -e "s|/usr/local/bin/relay-session|$RELAY_BIN/relay-session|" \
        -e "s|/usr/lib/courier/courier/|$CR/usr/lib/courier/courier/|" \
        -e "s|/usr/local/libexec/relaylease/|$SCRATCH/|" "$@" \
        "$examples/$ex" >"$CX/$out"
}
install_run imapd.run imapd.run && install_run pop3d.run pop3d.run &&
    install_run imapd.run imapd-norelaysession.run \
        -e "s|/etc/courier/imapd|/etc/courier/imapd-norelaysession|" \
        -e "s|$RELAY_BIN/relay-session ||" || exit 111
check "the test's imapd.run names relay-session" grep -q "$RELAY_BIN/relay-session" "$CX/imapd.run"

start_bg "$CX/ns" "$CR/usr/lib/courier/courier-authlib/authdaemond" >"$CX/authdaemond.log" 2>&1
if ! eventually 60 test -S "$CX/run/courier/authdaemon/socket"; then
    not_ok "authdaemond starts"
    diag <"$CX/authdaemond.log"
    exit 1
fi
ok "authdaemond starts (authuserdb, socket in the scratch /run)"

for s in imapd:127.0.0.1:"$imap" pop3d:"$pop_host":"$pop" \
    imapd-norelaysession:127.0.0.1:"$imap2"; do
    name=${s%%:*} port=${s##*:} address=${s#*:}
    address=${address%:*}
    start_bg "$CX/ns" sh "$CX/$name.run" >"$CX/$name.log" 2>&1
    if wait_port "$address" "$port" 2>/dev/null; then
        ok "couriertcpd starts from $name.run on $address"
    else
        not_ok "couriertcpd starts from $name.run on $address"
        diag <"$CX/$name.log"
        exit 1
    fi
done

# imap_session PORT USER PASS: LOGIN, SELECT INBOX, LOGOUT. Transcript in imap.chat.
imap_session() {
    printf '%s\n' "a LOGIN $2 $3" 'b SELECT INBOX' 'c LOGOUT' |
        chat 127.0.0.1 "$1" >"$SCRATCH/imap.chat"
}
tagged() { # tagged TAG: the server's tagged reply to TAG in imap.chat
    grep "^S: $1 " "$SCRATCH/imap.chat"
}

# IMAP
imap_session "$imap" bob secret
like "$(tagged a)" "S: a OK*" "Courier-IMAP: the login succeeds through relay-session and relay-imapd"
like "$(tagged b)" "S: b OK*" "Courier-IMAP: SELECT INBOX works after the hook"
is "$(cat "$store/127.0.0.1" 2>/dev/null)" "relaylease1 127.0.0.1 bob" \
    "Courier-IMAP: recorded 127.0.0.1 (couriertcpd says ::ffff:127.0.0.1) for bob"
is "$(relay_query 127.0.0.1)" granted "Courier-IMAP login: relay-check grants 127.0.0.1"
log_wait "$CX/imapd.log" 'relay-session: recorded'
like "$(grep 'relay-session: ' "$CX/imapd.log")" "relay-session: recorded 127.0.0.1 user=bob" \
    "Courier-IMAP: relay-session's line in the service log"
is "$(grep -c 'relay-allow: warning' "$CX/imapd.log")" 0 "Courier-IMAP: no warning from relay-allow"

# POP3
rm -f "$store/127.0.0.1"
pop_login "$pop_host" "$pop" bob secret
like "$(reply_to "$SCRATCH/pop.chat" PASS)" "+OK*" "Courier-POP3: the login succeeds through the hook"
like "$(reply_to "$SCRATCH/pop.chat" STAT)" "+OK 0 0*" "Courier-POP3: STAT works after the hook"
is "$(cat "$store/$pop_key" 2>/dev/null)" "relaylease1 $pop_key bob" \
    "Courier-POP3 over $pop_host: recorded $pop_key"
is "$(relay_query "$pop_host")" granted "Courier-POP3 login: relay-check grants $pop_host"

# Failed logins
rm -f "$store/$pop_key"
# Courier answers a failed login after a pause: both at once.
pop_login "$pop_host" "$pop" bob wrong &
bad_pop=$!
imap_session "$imap" bob wrong
wait "$bad_pop"
like "$(reply_to "$SCRATCH/pop.chat" PASS)" "-ERR*" "Courier-POP3: a wrong password is refused"
like "$(tagged a)" "S: a NO*" "Courier-IMAP: a wrong password is refused"
is "$(records)" 0 "a failed Courier login records nothing"
is "$(relay_query 127.0.0.1)" refused "a failed Courier login grants nothing"
is "$(relay_query "$pop_host")" refused "a failed Courier login grants nothing ($pop_host)"

# The wrapper alone (no relay-session in couriertcpd's command line): runs as the mail user,
# cannot write the store; the session goes on.
before=$(grep -c 'relay-allow: warning' "$CX/imapd-norelaysession.log")
imap_session "$imap2" bob secret
like "$(tagged b)" "S: b OK*" "no relay-session: Courier-IMAP login and SELECT still work"
is "$(records)" 0 "modern hook, no relay-session: the mail user records nothing"
log_wait "$CX/imapd-norelaysession.log" 'relay-allow: warning' $((before + 1))
is "$(grep -c 'relay-allow: warning' "$CX/imapd-norelaysession.log")" $((before + 1)) \
    "no relay-session: one warning line in the service log"

if [ "$lib_failed" -gt 0 ]; then
    for l in authdaemond imapd pop3d imapd-norelaysession; do
        diag "$l.log:"
        diag <"$CX/$l.log"
    done
fi
done_testing
