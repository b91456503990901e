#!/bin/sh
# shellcheck disable=SC2016 # RESP and fakeredis scripts: the $ are literal
# t-redis-review.sh: bugs found by the adversarial review of the Redis store (issue 10). Each
# case failed on 69bc625. No case depends on a time.
#   1. a listing (relay-expire -l, relay-cdb) of a real Redis that holds more live allowances
#      than fit the request buffer of one batch's GETs (about 60 to 70) fails with "Message
#      too long"; and one where SCAN returns a few more keys than COUNT (real Redis does: it
#      finishes a hash bucket) fails with "SCAN gave more keys than were asked for"
#   2. an error reply to AUTH that echoes its arguments (Redis's own "unknown command" error,
#      as a server with AUTH renamed sends it) puts the password into the log
#   3. a sentinel that answers "unix" and "/a/bc" for the address and port of the primary
#      makes the writers connect to a Unix socket (relay-redis(8): every address is numeric)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

need_built relay-check relay-expire relay-cdb fakeredis
need_driver redis-probe
probe_bin=$(driver_path redis-probe)
# shellcheck source-path=SCRIPTDIR source=redis-lib.sh
. "$(dirname "$0")/redis-lib.sh"
redis_need "the review's Redis cases"
export RELAY_DIR="$SCRATCH/no-such-store"

diag "1. listing a store of 20000 live allowances"
redis_start p || exit 1
now=$(date +%s)
n=20000
i=0
while [ "$i" -lt "$n" ]; do
    k=10.$((i / 65536)).$((i / 256 % 256)).$((i % 256))
    v="relaylease2 $now $k u"
    # the value ends in LF: RESP's own framing, as redis-cli --pipe takes it
    printf '*5\r\n$3\r\nSET\r\n$%d\r\nrelaylease:%s\r\n$%d\r\n%s\n\r\n$2\r\nEX\r\n$4\r\n1000\r\n' \
        $((11 + ${#k})) "$k" $((${#v} + 1)) "$v"
    i=$((i + 1))
done >"$SCRATCH/load.resp"
redis_admin p --pipe <"$SCRATCH/load.resp" >"$SCRATCH/load.out"
is "$(redis_admin p DBSIZE)" "$n" "Redis holds the $n records"
smtp=$(redis_host smtp p)
# shellcheck disable=SC2086 # the settings, one word each
env $smtp "$RELAY_BIN/relay-expire" -l >"$SCRATCH/list.out" 2>"$SCRATCH/list.err"
is "$?" 0 "relay-expire -l exits 0"
is "$(($(wc -l <"$SCRATCH/list.out") - 1))" "$n" "and lists every allowance"
is "$(cat "$SCRATCH/list.err")" "" "with nothing on stderr"
printf ':allow\n' >"$SCRATCH/rules.txt"
# shellcheck disable=SC2086
env $smtp "$RELAY_BIN/relay-cdb" "$SCRATCH/rules.cdb" "$SCRATCH/rules.tmp" \
    <"$SCRATCH/rules.txt" 2>"$SCRATCH/cdb.err"
is "$?" 0 "relay-cdb builds from it"
like "$(cat "$SCRATCH/cdb.err")" "*$n allowances*" "with every allowance"

diag "2. an error reply to AUTH that echoes the password"
pw=$(redis_pass smtp)
fakeredis_start echo "unix:$SCRATCH/echo.sock" <<EOF
wait
send -ERR unknown command 'AUTH', with args beginning with: '$pw' \r\n
EOF
env -i TCPREMOTEIP=192.0.2.7 RELAY_REDIS="unix:$SCRATCH/echo.sock" \
    RELAY_REDIS_PASSFILE="$REDIS_DIR/smtp.pass" RELAY_REDIS_TIMEOUT="$REDIS_TIMEOUT" \
    "$RELAY_BIN/relay-check" true 2>"$SCRATCH/echo.err"
like "$(cat "$SCRATCH/echo.err")" "*granting nothing*" "relay-check grants nothing"
check "the password is not in its log line" sh -c '! grep -qF "$1" "$2"' sh "$pw" "$SCRATCH/echo.err"

diag "3. a sentinel that names a Unix socket"
fakeredis_start sent "unix:$SCRATCH/sent.sock" <<'EOF'
wait
send *2\r\n$4\r\nunix\r\n$5\r\n/a/bc\r\n
EOF
"$probe_bin" -s relaylease "unix:$SCRATCH/sent.sock" >"$SCRATCH/sent.out" 2>&1
rc=$?
is "$rc" 111 "the sentinel's answer is refused ($(cat "$SCRATCH/sent.out"))"

done_testing
