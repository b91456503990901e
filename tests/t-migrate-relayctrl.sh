#!/bin/sh
# t-migrate-relayctrl.sh: the switch from relay-ctrl, done as relay-cdb(8) and the README
# describe it: the same envdir (RELAY_CTRL_DIR, RELAY_CTRL_EXPIRY, RELAY_CTRL_RELAYCLIENT),
# relay-allow where relay-ctrl-allow was, relay-check where relay-ctrl-check was, relay-expire
# where relay-ctrl-age was. The allowances relay-ctrl made before the switch survive it: they
# grant through the real tcpserver chain until they would have expired under relay-ctrl, are
# listed with their users, pruned when stale, and merged into the cdb in cdb mode.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_programs
[ -x "$RELAY_BIN/relay-cdb" ] || {
    not_ok "program is built: $RELAY_BIN/relay-cdb"
    exit 1
}

# relay-ctrl's envdir and spool, as relay-ctrl-allow left them.
spool=$SCRATCH/spool
make_store "$spool"
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

# The cron line after the switch: relay-ctrl-age replaced by relay-expire.
"$RELAY_BIN/relay-expire" >"$SCRATCH/expire.out" 2>&1
is "$(cat "$SCRATCH/expire.out")" "kept 2 removed 1 temp 0 skipped 0" \
    "relay-expire prunes relay-ctrl's stale file and keeps the fresh ones"
check "the fresh relay-ctrl file is untouched" file_is "$spool/127.0.0.1" 'USER=bob\0DOMAIN=example.org\0'
is "$(stat -c %Y "$spool/127.0.0.1")" "$((now - 300))" "and keeps its login time"

# A login after the switch writes into the same spool, next to relay-ctrl's files.
env TCPREMOTEIP=192.0.2.9 USER=dave "$RELAY_BIN/relay-allow" 2>/dev/null
check "relay-allow records into relay-ctrl's spool" test -f "$spool/192.0.2.9"
# Once bob's allowance is as old as RELAY_CTRL_EXPIRY allows, it stops granting.
touch -d "@$((now - 601))" "$spool/127.0.0.1"
smtp_try 127.0.0.1 "$smtp" friend@example.net
is "$(reply_to "$SCRATCH/smtp.chat" RCPT)" "$refused" \
    "it expires when relay-ctrl would have expired it"

done_testing
