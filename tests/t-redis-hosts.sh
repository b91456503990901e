#!/bin/sh
# t-redis-hosts.sh: several hosts sharing allowances through real Redis servers: a primary,
# two replicas and three sentinels on loopback, Unix sockets in a private directory.
#   - A login through the POP3 chain on host A (tcpserver, popup, checkpassword, relay-allow,
#     with the POP account, the primary found through Sentinel) grants relay on SMTP hosts B
#     and C (relay-check in front of smtpd, each reading its own replica with the SMTP
#     account); an IPv6 login grants its /64. Nothing is granted before.
#   - The record is relaylease2 TIME KEY USER, with a TTL of the expiry and a minute; so
#     through relay-session (root) in front of checkpassword.
#   - Expiry is judged by relay-check from the login time, not by the TTL: a record dated
#     past the expiry is refused however long its TTL; one dated in the future is refused.
#   - Hostile values under relaylease:KEY grant nothing, each with one line saying why.
#   - The SMTP account cannot record (NOPERM), and the login still goes on.
#   - relay-expire -l lists from the replica; relay-expire sweeps nothing there.
#   - relay-cdb builds the rules cdb from the replica: tcprulescheck grants what relay-check
#     grants.
#   - relay-import-dir moves a directory store (and relay-ctrl's records) into Redis keeping
#     each login time, and leaves the stale ones.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-allow relay-check relay-query relay-expire relay-cdb relay-import-dir
need_programs
# shellcheck source-path=SCRIPTDIR source=redis-lib.sh
. "$(dirname "$0")/redis-lib.sh"
redis_need "several hosts through Redis"

# No failover is wanted here: a primary a busy machine leaves without CPU for a second is
# not down.
REDIS_DOWN_AFTER=600000
redis_cluster r1 r2 || exit 1

# The hosts: each a set of settings. A writes through the sentinels, B and C read their own
# replica over its socket.
host_a=$(redis_host pop sentinels)
host_b=$(redis_host smtp r1)
host_c=$(redis_host smtp r2)
# The directory store must never be used: RELAY_DIR points at nothing.
export RELAY_DIR="$SCRATCH/no-such-store"

make_passwd "$SCRATCH/passwd"
echo example.com >"$SCRATCH/rcpthosts"
# shellcheck disable=SC2086 # the host's settings, one word each
start_tcpserver pop 127.0.0.1 0 env $host_a STANDIN_PASSWD="$SCRATCH/passwd" \
    "$STANDINS/popup" localhost "$STANDINS/checkpassword" "$RELAY_BIN/relay-allow" \
    "$STANDINS/pop3d" -e "$SCRATCH/home/bob/pop3d.env" && pop=$SERVER_PORT
# shellcheck disable=SC2086
start_tcpserver smtp-b 127.0.0.1 0 env $host_b "$RELAY_BIN/relay-check" "$STANDINS/smtpd" \
    -e "$SCRATCH/smtpd.env" "$SCRATCH/rcpthosts" && smtp_b=$SERVER_PORT
if [ -z "${pop:-}" ] || [ -z "${smtp_b:-}" ]; then
    not_ok "the POP3 server on host A and the SMTP server on host B started"
    done_testing
fi
refused="553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"

# on HOST CMD...: CMD with HOST's settings.
on() {
    on_h=$1
    shift
    # shellcheck disable=SC2086 # the host's settings, one word each
    env $on_h "$@"
}

diag "before any login"
is "$(rcpt_reply 127.0.0.1 "$smtp_b")" "$refused" "host B refuses relay"
check "host C refuses 127.0.0.1" refused_on "$host_c" 127.0.0.1

diag "a login on host A"
before=$(date +%s)
pop_login 127.0.0.1 "$pop" bob secret
after=$(date +%s)
is "$(reply_to "$SCRATCH/pop.chat" STAT)" "+OK 0 0" "the POP3 session goes on to pop3d"
check "relay-allow logs the record" grep -qx 'relay-allow: recorded 127.0.0.1 user=bob' \
    "$SCRATCH/pop.log"
value=$(redis_admin p GET relaylease:127.0.0.1)
like "$value" "relaylease2 * 127.0.0.1 bob" "the primary holds relaylease2 TIME 127.0.0.1 bob"
t=$(echo "$value" | cut -d' ' -f2)
# Against the clock read before and after the login: no window of seconds is assumed.
check "its login time is the login's" test "$t" -ge "$before" -a "$t" -le "$after"
ttl=$(redis_admin p TTL relaylease:127.0.0.1)
check "its TTL is at most the expiry and a minute ($ttl)" test "$ttl" -gt 0 -a "$ttl" -le 960
check "host B grants relay (its replica has it)" eventually 60 granted_on "$host_b" 127.0.0.1
is "$(rcpt_reply 127.0.0.1 "$smtp_b")" "250 ok" "host B's smtpd relays for the client"
check "host C grants relay too" eventually 60 granted_on "$host_c" 127.0.0.1
check "host C refuses another address" refused_on "$host_c" 127.0.0.2
# shellcheck disable=SC2086 # the host's settings, one word each
like "$(env $host_c "$RELAY_BIN/relay-query" 127.0.0.1)" "127.0.0.1 yes user=bob age=* left=*" \
    "relay-query on host C says yes, and whose login"
# shellcheck disable=SC2086
env $host_c "$RELAY_BIN/relay-query" 127.0.0.2 >/dev/null
is "$?" 1 "and no (1) for another address"

diag "a login through relay-session (root) on host A"
# shellcheck disable=SC2086 # the host's settings, one word each
start_tcpserver pop-session 127.0.0.1 0 env $host_a STANDIN_PASSWD="$SCRATCH/passwd" \
    "$STANDINS/popup" localhost "$RELAY_BIN/relay-session" "$STANDINS/checkpassword" \
    "$RELAY_BIN/relay-allow" "$STANDINS/pop3d" -e "$SCRATCH/home/bob/pop3d.env" &&
    pop_session=$SERVER_PORT
if [ -n "${pop_session:-}" ]; then
    redis_admin p DEL relaylease:127.0.0.1 >/dev/null
    pop_login 127.0.0.1 "$pop_session" bob secret
    is "$(reply_to "$SCRATCH/pop.chat" STAT)" "+OK 0 0" "the POP3 session goes on to pop3d"
    check "relay-session logs the record" eventually 60 grep -qx \
        'relay-session: recorded 127.0.0.1 user=bob' "$SCRATCH/pop-session.log"
    like "$(redis_admin p GET relaylease:127.0.0.1)" "relaylease2 * 127.0.0.1 bob" \
        "relay-session, as root, recorded it on the primary"
else
    not_ok "the POP3 server with relay-session started"
fi

diag "an IPv6 login on host A: its /64"
on "$host_a" TCPREMOTEIP=2001:db8:1:2::7 USER=carol "$RELAY_BIN/relay-allow" true \
    2>"$SCRATCH/a.err"
is "$?" 0 "the login goes on"
is "$(redis_admin p GET relaylease:2001:db8:1:2::_64 | cut -d' ' -f1,3,4)" \
    "relaylease2 2001:db8:1:2::_64 carol" "recorded under the /64"
check "host C grants another address of the /64" eventually 60 granted_on "$host_c" \
    2001:db8:1:2::99
check "host C refuses the next /64" refused_on "$host_c" 2001:db8:1:3::7

diag "expiry: the login time decides, not the TTL"
set_record() { # KEY VALUE: written by the admin on the primary, with a long TTL
    redis_admin p SET "relaylease:$1" "$2" EX 3600 >/dev/null
}
now=$(date +%s)
set_record 192.0.2.50 "relaylease2 $((now - 901)) 192.0.2.50 old
"
set_record 192.0.2.51 "relaylease2 $((now - 300)) 192.0.2.51 fresh
"
set_record 192.0.2.52 "relaylease2 $((now + 600)) 192.0.2.52 future
"
check "a fresh record reaches host B" eventually 60 granted_on "$host_b" 192.0.2.51
check "a record dated past the expiry is refused" refused_on "$host_b" 192.0.2.50
check "with RELAY_EXPIRY=3600 it is granted (the reader's own expiry)" \
    granted_on "$host_b RELAY_EXPIRY=3600" 192.0.2.50
check "a record dated 10 minutes ahead is refused" refused_on "$host_b" 192.0.2.52
refused_on "$host_b" 192.0.2.50
like "$(cat "$SCRATCH/check.err")" "relay-check: refused 192.0.2.50 expired user=old age=9*" \
    "and logged as expired"

diag "hostile values under relaylease:KEY"
n=60
: >"$SCRATCH/hostile.list"
hostile() { # WHAT VALUE
    n=$((n + 1))
    set_record "192.0.2.$n" "$2"
    echo "192.0.2.$n $1" >>"$SCRATCH/hostile.list"
}
now=$(date +%s)
hostile "another key" "relaylease2 $now 192.0.2.99 eve
"
hostile "the directory's format" "relaylease1 192.0.2.62 eve
"
hostile "relay-ctrl's format" "USER=eve"
hostile "a time 0" "relaylease2 0 192.0.2.64 eve
"
hostile "a leading zero" "relaylease2 0$now 192.0.2.65 eve
"
hostile "13 digits" "relaylease2 100$now 192.0.2.66 eve
"
hostile "a user with a parenthesis" "relaylease2 $now 192.0.2.67 e(ve
"
hostile "no final newline" "relaylease2 $now 192.0.2.68 eve"
hostile "two lines" "relaylease2 $now 192.0.2.69 eve
relaylease2 $now 192.0.2.69 eve
"
hostile "a sign" "relaylease2 +$now 192.0.2.70 eve
"
hostile "a space in the user" "relaylease2 $now 192.0.2.71 e ve
"
redis_admin p RPUSH relaylease:192.0.2.72 "relaylease2 $now 192.0.2.72 eve" >/dev/null
echo "192.0.2.72 a list, not a string" >>"$SCRATCH/hostile.list"
# Wait until the replica has the last of them.
# shellcheck disable=SC2016 # expanded by the inner shell
check "the hostile values reach host B's replica" eventually 60 sh -c \
    '[ "$(REDISCLI_AUTH=$(sed -n 1p "$1") redis-cli --user relaylease-admin -s "$2" TYPE relaylease:192.0.2.72)" = list ]' \
    sh "$REDIS_DIR/admin.pass" "$(redis_sock r1)"
while read -r a what; do
    check "$what: refused" refused_on "$host_b" "$a"
    is "$(grep -c 'warning: invalid record' "$SCRATCH/check.err")" 1 \
        "$what: one line says so"
done <"$SCRATCH/hostile.list"

diag "the SMTP account cannot record"
: >"$SCRATCH/smtp-writer.err"
# shellcheck disable=SC2016 # expanded by the inner shell
on "$(redis_host smtp p)" TCPREMOTEIP=192.0.2.80 "$RELAY_BIN/relay-allow" sh -c 'exit 7' \
    2>"$SCRATCH/smtp-writer.err"
is "$?" 7 "relay-allow with the SMTP account: the login goes on"
like "$(cat "$SCRATCH/smtp-writer.err")" "relay-allow: warning: unable to record 192.0.2.80 in redis unix:*: SET: NOPERM*" \
    "with one line: NOPERM"
is "$(redis_admin p EXISTS relaylease:192.0.2.80)" 0 "nothing was recorded"

diag "relay-expire on an SMTP host"
on "$host_b" "$RELAY_BIN/relay-expire" -l >"$SCRATCH/list.out" 2>"$SCRATCH/list.err"
is "$?" 0 "relay-expire -l reads the replica"
check "it lists 127.0.0.1 bob" grep -q '^127\.0\.0\.1 bob [0-9]* [0-9]*$' "$SCRATCH/list.out"
check "it lists the /64 of carol" grep -q '^2001:db8:1:2::/64 carol ' "$SCRATCH/list.out"
check "it lists the fresh record" grep -q '^192\.0\.2\.51 fresh ' "$SCRATCH/list.out"
# shellcheck disable=SC2016 # expanded by the inner shell
check "not the expired one" sh -c '! grep -q "^192\.0\.2\.50 " "$1"' sh "$SCRATCH/list.out"
is "$(grep -c 'invalid record' "$SCRATCH/list.err")" "$(($(wc -l <"$SCRATCH/hostile.list") - 1))" \
    "each hostile string value is reported once (the list is not a string: SCAN leaves it out)"
on "$host_b" "$RELAY_BIN/relay-expire" >"$SCRATCH/sweep.out" 2>"$SCRATCH/sweep.err"
is "$?" 0 "relay-expire (a sweep) exits 0"
like "$(cat "$SCRATCH/sweep.out")" "nothing to sweep: redis unix:* expires allowances itself" \
    "and says that Redis expires the records"

diag "relay-cdb on an SMTP host builds from its replica"
printf '%s\n' '10.0.0.0/8:deny' ':allow' >"$SCRATCH/rules.txt"
on "$host_b" "$RELAY_BIN/relay-cdb" "$SCRATCH/rules.cdb" "$SCRATCH/rules.tmp" \
    <"$SCRATCH/rules.txt" 2>"$SCRATCH/cdb.err"
is "$?" 0 "relay-cdb builds"
rulescheck() { # ADDRESS: the RELAYCLIENT line tcprulescheck gives ADDRESS, if any
    env TCPREMOTEIP="$1" tcprulescheck "$SCRATCH/rules.cdb" 2>/dev/null | grep -c RELAYCLIENT
}
is "$(rulescheck 127.0.0.1)" 1 "the cdb grants the login from host A"
is "$(rulescheck 192.0.2.51)" 1 "and the fresh record"
is "$(rulescheck 192.0.2.50)" 0 "not the expired one"
is "$(rulescheck 192.0.2.61)" 0 "nor a hostile value"
is "$(rulescheck 192.0.2.2)" 0 "nor an address with no login"

diag "a listing of thousands of allowances (SCAN batches, GETs many to a write)"
now=$(date +%s)
awk -v now="$now" 'BEGIN {
    for (i = 0; i < 3000; i++) {
        k = sprintf("10.200.%d.%d", int(i / 250), i % 250 + 1)
        v = sprintf("relaylease2 %d %s u%d\n", now, k, i)
        printf "*5\r\n$3\r\nSET\r\n$%d\r\nrelaylease:%s\r\n$%d\r\n%s\r\n$2\r\nEX\r\n$3\r\n960\r\n",
            length(k) + 11, k, length(v), v
    }
}' >"$SCRATCH/bulk.resp"
REDISCLI_AUTH=$(redis_pass admin) redis-cli --user relaylease-admin -s "$(redis_sock p)" --pipe \
    <"$SCRATCH/bulk.resp" >"$SCRATCH/bulk.out" 2>&1
like "$(tail -n 1 "$SCRATCH/bulk.out")" "errors: 0, replies: 3000" "3000 allowances loaded"
# shellcheck disable=SC2016 # expanded by the inner shell
check "they reach host B's replica" eventually 60 sh -c \
    '[ "$(REDISCLI_AUTH=$(sed -n 1p "$1") redis-cli --user relaylease-admin -s "$2" EXISTS relaylease:10.200.11.250)" = 1 ]' \
    sh "$REDIS_DIR/admin.pass" "$(redis_sock r1)"
on "$host_b" "$RELAY_BIN/relay-expire" -l >"$SCRATCH/list.out" 2>/dev/null
is "$?" 0 "relay-expire -l lists them"
is "$(grep -c '^10\.200\.' "$SCRATCH/list.out")" 3000 "every one of the 3000"
on "$host_b" "$RELAY_BIN/relay-cdb" "$SCRATCH/rules.cdb" "$SCRATCH/rules.tmp" \
    <"$SCRATCH/rules.txt" 2>"$SCRATCH/cdb.err"
is "$?" 0 "relay-cdb builds from them"
is "$(rulescheck 10.200.5.17)" 1 "and its cdb grants one of them"

diag "relay-import-dir: a directory store into Redis, keeping the login times"
old=$SCRATCH/old-store
make_store "$old"
now=$(date +%s)
printf 'relaylease1 192.0.2.90 dave\n' >"$old/192.0.2.90"
touch -d "@$((now - 100))" "$old/192.0.2.90"
printf 'relaylease1 192.0.2.91 erin\n' >"$old/192.0.2.91"
touch -d "@$((now - 2000))" "$old/192.0.2.91"
printf 'USER=frank\0DOMAIN=example.org\0' >"$old/192.0.2.92"
touch -d "@$((now - 200))" "$old/192.0.2.92"
printf 'relaylease1 192.0.2.93 eve\n' >"$old/192.0.2.93"
chmod 666 "$old/192.0.2.93"
chown -R "$MAIL_UID:$MAIL_GID" "$old"
on "$(redis_host admin p)" "$RELAY_BIN/relay-import-dir" "$old" >"$SCRATCH/import.out" \
    2>"$SCRATCH/import.err"
is "$?" 0 "relay-import-dir exits 0"
is "$(cat "$SCRATCH/import.out")" "imported 2 stale 1 newer 0 failed 0" "two imported, one stale"
like "$(cat "$SCRATCH/import.err")" "relay-import-dir: warning: invalid record $old/192.0.2.93: *" \
    "the record others may write is reported and left"
is "$(redis_admin p GET relaylease:192.0.2.90)" "relaylease2 $((now - 100)) 192.0.2.90 dave" \
    "the login time is the old record's"
is "$(redis_admin p GET relaylease:192.0.2.92)" "relaylease2 $((now - 200)) 192.0.2.92 frank@example.org" \
    "relay-ctrl's record keeps its time and user"
is "$(redis_admin p EXISTS relaylease:192.0.2.91)" 0 "the stale one is left out"
ttl=$(redis_admin p TTL relaylease:192.0.2.90)
check "the TTL counts from the old login time ($ttl)" test "$ttl" -gt 0 -a "$ttl" -le 860
check "host C grants the imported allowance" eventually 60 granted_on "$host_c" 192.0.2.90
on "$(redis_host admin p)" "$RELAY_BIN/relay-import-dir" "$old" >"$SCRATCH/import.out" \
    2>/dev/null
is "$(cat "$SCRATCH/import.out")" "imported 0 stale 1 newer 2 failed 0" \
    "run again, it finds them all there"

done_testing
