#!/bin/sh
# t-migrate-relayctrl.sh: the switch from relay-ctrl, done as the README describes it: the
# same envdir (RELAY_CTRL_DIR, RELAY_CTRL_EXPIRY, RELAY_CTRL_RELAYCLIENT); relay-ctrl's
# world-writable spool hardened with make setup (run-examples/setup-store) before anything
# else; relay-allow where relay-ctrl-allow was, relay-check where relay-ctrl-check was,
# relay-expire, as the store's account, where relay-ctrl-age was. The allowances relay-ctrl
# made before the switch survive it: they grant through the real tcpserver chain until they
# would have expired under relay-ctrl, are listed with their users, pruned when stale, and
# merged into the cdb in cdb mode. The mail users can no longer write the spool.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_programs
need_built relay-cdb
if [ "$(id -u)" -ne 0 ] || [ "$MAIL_UID" -eq 0 ] || ! command -v setpriv >/dev/null 2>&1; then
    skip "the switch from relay-ctrl" "needs root, setpriv and a scratch directory other users can reach"
    done_testing
fi
# An account of this machine's, not the mail user's, stands in for "relaylease".
account=
for a in daemon bin sys; do
    if id -u "$a" >/dev/null 2>&1 && [ "$(id -u "$a")" != "$MAIL_UID" ]; then
        account=$a
        break
    fi
done
[ -n "$account" ] || {
    skip "the switch from relay-ctrl" "no system account to own the store"
    done_testing
}
acct_uid=$(id -u "$account")
acct_gid=$(id -g "$account")
# as_account CMD...: run CMD as the store's account (what cron does for the relay-expire line).
as_account() {
    setpriv --reuid="$acct_uid" --regid="$acct_gid" --clear-groups "$@"
}
# as_mailer CMD...: run CMD as the mail user.
as_mailer() {
    setpriv --reuid="$MAIL_UID" --regid="$MAIL_GID" --clear-groups "$@"
}

# relay-ctrl's envdir and spool, as relay-ctrl-allow left them: a 0777 allow/ directory, with
# 0666 files written by the mail user, behind a 0700 parent.
spool=$SCRATCH/relay-ctrl/allow
mkdir -p "$spool" && chmod 700 "$SCRATCH/relay-ctrl" && chmod 777 "$spool" &&
    chown "$MAIL_UID:$MAIL_GID" "$spool" || exit 111
envd=$SCRATCH/relay-ctrl-env
mkdir "$envd"
echo "$spool" >"$envd/RELAY_CTRL_DIR"
echo 600 >"$envd/RELAY_CTRL_EXPIRY"
echo "@relayed.example" >"$envd/RELAY_CTRL_RELAYCLIENT"
now=$(date +%s)
printf 'USER=bob\0DOMAIN=example.org\0' >"$spool/127.0.0.1"
touch -d "@$((now - 300))" "$spool/127.0.0.1"   # logged in 5 minutes ago: fresh
printf 'USER=carol\0' >"$spool/192.0.2.7"
touch -d "@$((now - 3000))" "$spool/192.0.2.7"  # 50 minutes ago: stale
: >"$spool/192.0.2.8"                              # an empty file: valid, no user
touch -d "@$((now - 100))" "$spool/192.0.2.8"
for f in 127.0.0.1 192.0.2.7 192.0.2.8; do
    chown "$MAIL_UID:$MAIL_GID" "$spool/$f" && chmod 666 "$spool/$f" || exit 111
done

# The README's first steps: let relay-check's user through the parent, then make setup on
# the spool.
chmod 755 "$SCRATCH/relay-ctrl"
sh "$lib_top/run-examples/setup-store" "$spool" "$account" >"$SCRATCH/setup.out" 2>&1
is "$?" 0 "make setup hardens relay-ctrl's spool"
is "$(stat -c '%u %a' "$spool")" "$acct_uid 755" "the spool is the store account's, mode 0755"
is "$(stat -c '%u %a' "$spool/127.0.0.1" "$spool/192.0.2.8" | sort -u)" "$acct_uid 644" \
    "relay-ctrl's files are now the account's, mode 0644"
# fails CMD...: CMD fails.
# shellcheck disable=SC2317 # called through check
fails() {
    ! "$@" 2>/dev/null
}
# shellcheck disable=SC2016 # the inner shell expands it
check "the mail user can no longer add a record" fails as_mailer sh -c ': >"$1/10.9.9.9"' sh "$spool"
check "nor refresh one" fails as_mailer touch "$spool/192.0.2.8"

# envdir's job, for machines without daemontools: each file's first line, by its name. The
# run files and the cron line all start with "envdir /etc/relay-ctrl", so everything below
# runs with these settings.
for f in "$envd"/*; do
    export "$(basename "$f")=$(sed -n 1p "$f")"
done

echo example.com >"$SCRATCH/rcpthosts"
refused="553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"
# The SMTP run file after the switch: relay-ctrl-check replaced by relay-check.
start_tcpserver smtp 127.0.0.1 0 "$RELAY_BIN/relay-check" "$STANDINS/smtpd" \
    "$SCRATCH/rcpthosts" && smtp=$SERVER_PORT
[ -n "${smtp:-}" ] || {
    not_ok "tcpserver started"
    exit 1
}

smtp_try 127.0.0.1 "$smtp" friend@example.net
is "$(reply_to "$SCRATCH/smtp.chat" RCPT)" "250 ok" \
    "an allowance relay-ctrl made before the switch grants relaying after it"
is "$(reply_lines "$SCRATCH/smtp.chat" XENV | sed -n 1p)" '250-RELAYCLIENT="@relayed.example"' \
    "with relay-ctrl's RELAYCLIENT setting"

"$RELAY_BIN/relay-expire" -l >"$SCRATCH/list.out" 2>&1
like "$(grep '^127.0.0.1 ' "$SCRATCH/list.out")" "127.0.0.1 bob@example.org 30[0-9] [23][0-9][0-9]" \
    "relay-expire -l shows it with relay-ctrl's user and the time it has left"
like "$(grep '^192.0.2.8 ' "$SCRATCH/list.out")" "192.0.2.8 - *" "an empty relay-ctrl file is a valid allowance"

# cdb mode on top: the legacy allowances go into the cdb like any other.
printf ':allow\n' >"$SCRATCH/rules.txt"
env RELAY_LOG=0 "$RELAY_BIN/relay-cdb" "$SCRATCH/rules.cdb" "$SCRATCH/rules.tmp" \
    <"$SCRATCH/rules.txt"
is "$(TCPREMOTEIP=127.0.0.1 tcprulescheck "$SCRATCH/rules.cdb" | sed -n 2p)" \
    "set environment variable RELAYCLIENT=@relayed.example" "relay-cdb merges relay-ctrl's allowances"
is "$(TCPREMOTEIP=192.0.2.7 tcprulescheck "$SCRATCH/rules.cdb" | sed -n 1p)" "rule :" \
    "but not a stale one"

# The cron line after the switch: relay-ctrl-age replaced by relay-expire, run as the store's
# account.
as_account "$RELAY_BIN/relay-expire" >"$SCRATCH/expire.out" 2>&1
is "$(cat "$SCRATCH/expire.out")" "kept 2 removed 1 temp 0 skipped 0" \
    "relay-expire prunes relay-ctrl's stale file and keeps the fresh ones"
check "the fresh relay-ctrl file is untouched" file_is "$spool/127.0.0.1" 'USER=bob\0DOMAIN=example.org\0'
is "$(stat -c %Y "$spool/127.0.0.1")" "$((now - 300))" "and keeps its login time"

# A login after the switch writes into the same spool, next to relay-ctrl's files: as root
# (relay-session, a Dovecot hook), not as the mail user.
env TCPREMOTEIP=192.0.2.9 USER=dave "$RELAY_BIN/relay-allow" 2>/dev/null
check "relay-allow records into relay-ctrl's spool" test -f "$spool/192.0.2.9"
as_mailer env TCPREMOTEIP=192.0.2.10 USER=eve "$RELAY_BIN/relay-allow" 2>/dev/null
check "as the mail user it records nothing" test ! -e "$spool/192.0.2.10"
# Once bob's allowance is as old as RELAY_CTRL_EXPIRY allows, it stops granting.
touch -d "@$((now - 601))" "$spool/127.0.0.1"
smtp_try 127.0.0.1 "$smtp" friend@example.net
is "$(reply_to "$SCRATCH/smtp.chat" RCPT)" "$refused" \
    "it expires when relay-ctrl would have expired it"

done_testing
