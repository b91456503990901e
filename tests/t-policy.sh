#!/bin/sh
# run: quick
# t-policy.sh: relay-policy, Postfix's policy server, on pipes and on a socketpair as spawn(8)
# gives it: action=OK for a fresh allowance, DUNNO for none, an expired one, an SMTP AUTH
# user or a store that cannot be read (and the next request is served); the IPv6 /64 and
# IPv4-mapped keys as relay-check's; many requests on one connection and a pipelined batch
# answered in order; a malformed request gets no reply, one line, exit 100; the end of the
# input between requests is exit 0; one log line per decision and transaction (instance);
# with descriptor 2 the peer's socket, nothing but replies on it, the line in syslog; a
# client_address that is not an address (Postfix's "unknown") gets DUNNO; a non-blocking
# socket; the review's attacks (mapped and embedded forms, split reads, look-alike names,
# hostile records and Redis replies, bad settings, sizes at the limits, exit codes). Ages are
# back-dated, never slept.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-policy relay-check fakeredis
need_driver policy-pair
# shellcheck disable=SC2034 # read by redis-lib.sh
redis_fakes_only=1
# shellcheck source-path=SCRIPTDIR source=redis-lib.sh
. "$(dirname "$0")/redis-lib.sh"
pair=$(driver_path policy-pair)

store=$SCRATCH/store
make_store "$store"
export RELAY_DIR="$store"
now=$(date +%s)
rec() { # KEY USER AGE-SECONDS
    printf 'relaylease1 %s %s\n' "$1" "$2" >"$store/$1"
    touch -d "@$((now - $3))" "$store/$1"
}
rec 192.0.2.7 bob 100
rec 192.0.2.9 carol 5000
rec 2001:db8:1:2::_64 erin 10

# req ADDRESS [LINE...]: a request as Postfix 3.7 sends it (its 29 lines), for ADDRESS, with
# LINEs in place of the SASL attributes, instance 1 unless a LINE says otherwise.
req() {
    r_a=$1
    shift
    r_sasl='sasl_method=
sasl_username='
    r_inst=instance=1
    for r_l in "$@"; do
        case $r_l in instance=*) r_inst=$r_l ;; *) r_sasl=$r_l ;; esac
    done
    printf '%s\n' request=smtpd_access_policy protocol_state=RCPT protocol_name=ESMTP \
        "client_address=$r_a" client_name=unknown client_port=44142 \
        reverse_client_name=unknown server_address=127.0.0.1 server_port=25 \
        helo_name=client.example sender=a@example.org recipient=b@elsewhere.example \
        recipient_count=0 queue_id= "$r_inst" size=0 etrn_domain= stress= "$r_sasl" \
        sasl_sender= ccert_subject= ccert_issuer= ccert_fingerprint= \
        ccert_pubkey_fingerprint= encryption_protocol= encryption_cipher= \
        encryption_keysize=0 policy_context= ''
}

# pol [VAR=value...] < input: relay-policy on pipes; the replies, one word each (OK, DUNNO),
# then "rc=N"; its stderr in $SCRATCH/err.
pol() {
    env "$@" "$RELAY_BIN/relay-policy" 2>"$SCRATCH/err" >"$SCRATCH/out"
    p_rc=$?
    p_got=$(sed -n 's/^action=//p' "$SCRATCH/out" | tr '\n' ' ')
    echo "${p_got}rc=$p_rc"
}
errs() { cat "$SCRATCH/err"; }
nerr() { wc -l <"$SCRATCH/err" | tr -d ' '; }

is "$(req 192.0.2.7 | pol)" "OK rc=0" "a fresh allowance: OK, then exit 0 at the end"
is "$(cat "$SCRATCH/out")" "$(printf 'action=OK\n\n')" "the reply is action=OK and an empty line"
like "$(errs)" "relay-policy: granted 192.0.2.7 user=bob age=[0-9]*" \
    "logged as relay-check logs it: the user and the age"
is "$(req 192.0.2.8 | pol)" "DUNNO rc=0" "no record: DUNNO"
is "$(errs)" "relay-policy: refused 192.0.2.8 not found" "logged"
is "$(req 192.0.2.9 | pol)" "DUNNO rc=0" "an expired allowance (back-dated): DUNNO"
like "$(errs)" "relay-policy: refused 192.0.2.9 expired user=carol age=*" "logged"
is "$(req 192.0.2.7 | pol RELAY_EXPIRY=50)" "DUNNO rc=0" "RELAY_EXPIRY is read"
is "$(req 192.0.2.7 sasl_username=bob | pol)" "DUNNO rc=0" \
    "sasl_username set: DUNNO even with an allowance (SMTP AUTH decides)"
is "$(errs)" "relay-policy: dunno 192.0.2.7 sasl_username set: left to SMTP AUTH" "logged"
is "$(req 192.0.2.7 sasl_username= | pol)" "OK rc=0" "sasl_username empty: not set"
is "$(req 2001:db8:1:2:aaaa::1 | pol)" "OK rc=0" "an IPv6 address in a recorded /64: OK"
like "$(errs)" "relay-policy: granted 2001:db8:1:2::_64 user=erin age=*" "keyed as relay-check keys it"
is "$(req 2001:db8:1:3::1 | pol)" "DUNNO rc=0" "another /64: DUNNO"
is "$(req ::ffff:192.0.2.7 | pol)" "OK rc=0" "an IPv4-mapped address is the IPv4 client"
is "$(req 224.0.0.1 | pol)" "DUNNO rc=0" "multicast: DUNNO"
is "$(errs)" "relay-policy: refused 224.0.0.1: an address that may never relay" "logged"
is "$(req 192.0.2.7 | pol RELAY_LOG=0)" "OK rc=0" "RELAY_LOG=0: the same answer"
is "$(nerr)" 0 "and no line"

# agree DESC ADDRESS...: relay-policy answers each address as relay-check decides it.
agree() {
    agree_desc=$1 agree=0
    shift
    for a in "$@"; do
        p=$(req "$a" | pol RELAY_LOG=0)
        # shellcheck disable=SC2016 # expanded by the inner sh
        if TCPREMOTEIP=$a "$RELAY_BIN/relay-check" sh -c '[ -n "${RELAYCLIENT+x}" ]' 2>/dev/null; then
            c="OK rc=0"
        else
            c="DUNNO rc=0"
        fi
        [ "$p" = "$c" ] || { agree=1; diag "$a: relay-policy $p, relay-check $c"; }
    done
    is "$agree" 0 "$agree_desc"
}
# The same answers as relay-check, address by address.
agree "relay-policy and relay-check agree on every address tried" \
    192.0.2.7 192.0.2.8 192.0.2.9 2001:db8:1:2::5 2001:db8:1:3::5 ::ffff:192.0.2.7

# Many requests on one connection, in order; a pipelined batch of 3000.
i=0
: >"$SCRATCH/batch"
want=
while [ $i -lt 1000 ]; do
    {
        req 192.0.2.7 "instance=$i"
        req 192.0.2.8 "instance=$i"
        req 192.0.2.7 "instance=$i" sasl_username=bob
    } >>"$SCRATCH/batch"
    want="${want}OK DUNNO DUNNO "
    i=$((i + 1))
done
is "$(pol <"$SCRATCH/batch")" "${want}rc=0" "3000 requests in one batch: each answered, in order"
is "$(nerr)" 3000 "one line per decision (each its own transaction)"
is "$("$pair" env RELAY_LOG=0 "$RELAY_BIN/relay-policy" <"$SCRATCH/batch" |
    sed -n 's/^action=//p' | tr '\n' ' ')" "$want" "the same on a socketpair"

# One line per decision and transaction.
{ req 192.0.2.7; req 192.0.2.7; req 192.0.2.7; req 192.0.2.8; req 192.0.2.8; req 192.0.2.7 instance=2; req 192.0.2.7 instance=2; } >"$SCRATCH/in"
is "$(pol <"$SCRATCH/in")" "OK OK OK DUNNO DUNNO OK OK rc=0" "seven requests, two transactions"
is "$(sed 's/age=[0-9]*/age=N/' "$SCRATCH/err" | tr '\n' '|')" \
    "relay-policy: granted 192.0.2.7 user=bob age=N|relay-policy: refused 192.0.2.8 not found|relay-policy: granted 192.0.2.7 user=bob age=N|" \
    "a decision is logged once per instance, again when it changes"
printf 'request=smtpd_access_policy\nclient_address=192.0.2.7\n\n' >"$SCRATCH/in"
cat "$SCRATCH/in" "$SCRATCH/in" >"$SCRATCH/in2"
is "$(pol <"$SCRATCH/in2")" "OK OK rc=0" "no instance: two requests"
is "$(nerr)" 2 "each logged"

# The store cannot be read: DUNNO, one line each, and the next request is served.
{ req 192.0.2.7; req 192.0.2.7 instance=2; } >"$SCRATCH/in"
is "$(pol RELAY_DIR="$SCRATCH/none" <"$SCRATCH/in")" "DUNNO DUNNO rc=0" "a missing store: DUNNO, and it goes on"
is "$(errs)" "relay-policy: warning: unable to read $SCRATCH/none/192.0.2.7: No such file or directory: granting nothing
relay-policy: warning: unable to read $SCRATCH/none/192.0.2.7: No such file or directory: granting nothing" \
    "one line per transaction"
printf 'junk\n' >"$store/192.0.2.10"
is "$(req 192.0.2.10 | pol)" "DUNNO rc=0" "an invalid record: DUNNO"
like "$(errs)" "relay-policy: warning: invalid record $store/192.0.2.10: *: granting nothing" "said so"
is "$(req 192.0.2.7 | pol RELAY_REDIS=unix:"$SCRATCH/no-redis.sock")" "DUNNO rc=0" \
    "an unreachable Redis: DUNNO"
like "$(errs)" "relay-policy: warning: unable to read redis unix:$SCRATCH/no-redis.sock*: granting nothing" "said so"

# A Redis that accepts and never answers: each request waits RELAY_REDIS_TIMEOUT, then DUNNO.
if fakeredis_start hang "unix:$SCRATCH/hang.sock" <<'EOF'
hang
EOF
then
    { req 192.0.2.7; req 192.0.2.7 instance=2; } >"$SCRATCH/in"
    is "$(pol RELAY_REDIS="unix:$SCRATCH/hang.sock" RELAY_REDIS_TIMEOUT=100 <"$SCRATCH/in")" \
        "DUNNO DUNNO rc=0" "a hung Redis: DUNNO to each request, and it goes on"
    like "$(nerr) $(sed -n 1p "$SCRATCH/err")" "2 relay-policy: warning: unable to read redis *: granting nothing" \
        "one line each"
    stop_pid "$FAKE_PID"
fi

# client_address not an address: Postfix sends "unknown" when it could not learn it (the
# client went away first). DUNNO and a warning, and the connection goes on.
for a in unknown '[::1]' 192.0.2.07 '192.0.2.7 ' "$(printf '192.0.2.7\r')" fe80::1%eth0; do
    { req 192.0.2.7; req "$a" instance=2; req "$a" instance=2; req 192.0.2.7 instance=3; } >"$SCRATCH/in"
    is "$(pol <"$SCRATCH/in")" "OK DUNNO DUNNO OK rc=0" "client_address=$a: DUNNO, and the next request is served"
    like "$(sed -n 2p "$SCRATCH/err")" "relay-policy: warning: client_address is not an address: *: granting nothing" \
        "client_address=$a: said so"
    is "$(nerr)" 3 "client_address=$a: once per transaction"
done
"$pair" -2 "$RELAY_BIN/relay-policy" <"$SCRATCH/in" >"$SCRATCH/sock" 2>"$SCRATCH/err"
is "$(cat "$SCRATCH/sock")" "$(printf 'action=OK\n\naction=DUNNO\n\naction=DUNNO\n\naction=OK\n\n')" \
    "on one socket: nothing but the replies"

# Malformed: the replies before it, none for it, one line, exit 100.
bad() { # DESC WHY: the request on stdin after a good one
    { req 192.0.2.7; cat; req 192.0.2.7; } >"$SCRATCH/in"
    is "$(pol <"$SCRATCH/in")" "OK rc=100" "$1: no reply to it, exit 100"
    like "$(tail -n 1 "$SCRATCH/err")" "relay-policy: fatal: malformed request: $2: closing the connection" \
        "$1: one line"
    is "$(nerr)" 2 "$1: and only one"
}
printf 'request=smtpd_access_policy\nclient_address=192.0.2.7\njunk\n\n' | bad "a line with no =" "a line with no '='"
printf 'client_address=192.0.2.7\n\n' | bad "no request=" "no request="
printf 'request=smtpd_access_policy\n\n' | bad "no client_address" "no client_address="
printf 'request=smtpd_access_policy\nrequest=smtpd_access_policy\nclient_address=192.0.2.7\n\n' | bad "request= twice" "request= twice"
printf 'request=junk\nclient_address=192.0.2.7\n\n' | bad "another request" "request= is not smtpd_access_policy"
printf 'request=smtpd_access_policy\nclient_address=192.0.2.7\nclient_address=192.0.2.8\n\n' | bad "client_address twice" "client_address= twice"
printf 'request=smtpd_access_policy\nclient_address=192.0.2.7\nsasl_username=\nsasl_username=bob\n\n' | bad "sasl_username twice" "sasl_username= twice"
printf 'request=smtpd_access_policy\nclient_address=192.0.2.7\n=x\n\n' | bad "an empty name" "an empty attribute name"
printf 'request=smtpd_access_policy\nclient_address=192.0.2.7\nx=a\000b\n\n' | bad "a NUL byte" "a NUL byte"
{ printf 'request=smtpd_access_policy\nx='; head -c 9000 /dev/zero | tr '\0' a; printf '\nclient_address=192.0.2.7\n\n'; } |
    bad "a line of 9000 bytes" "a line too long"
{ printf 'request=smtpd_access_policy\n'; i=0; while [ $i -lt 300 ]; do echo a=b; i=$((i + 1)); done; printf 'client_address=192.0.2.7\n\n'; } |
    bad "300 attributes" "too many attributes"
{ printf 'request=smtpd_access_policy\n'; i=0; while [ $i -lt 10 ]; do printf 'x='; head -c 8000 /dev/zero | tr '\0' a; echo; i=$((i + 1)); done; printf 'client_address=192.0.2.7\n\n'; } |
    bad "a request of 80 KB" "a request too big"
head -c 1000000 /dev/zero | tr '\0' a | bad "a megabyte with no newline" "a line too long"

req 192.0.2.7 | head -c 100 >"$SCRATCH/in"
is "$(pol <"$SCRATCH/in")" "rc=100" "the input ends inside a request: no reply, exit 100"
is "$(errs)" "relay-policy: fatal: malformed request: the input ended inside it" "in one line"
is "$(pol </dev/null)" "rc=0" "no request at all: exit 0"
is "$(nerr)" 0 "silently"
req 192.0.2.7 | "$RELAY_BIN/relay-policy" x >"$SCRATCH/out" 2>"$SCRATCH/err"
is "$?" 100 "an argument: usage, exit 100"
like "$(errs)" "relay-policy: fatal: usage: *" "said so"

# Write errors: a descriptor 1 that cannot be written, a peer that has gone.
req 192.0.2.7 | "$RELAY_BIN/relay-policy" 2>"$SCRATCH/err" 1</dev/null
is "$?" 111 "a reply that cannot be written: exit 111"
like "$(tail -n 1 "$SCRATCH/err")" "relay-policy: fatal: unable to write the reply: *" "in one line"
req 192.0.2.7 | "$pair" -g "$RELAY_BIN/relay-policy" 2>"$SCRATCH/err" >/dev/null
is "$?" 111 "the peer has gone: exit 111"
like "$(tail -n 1 "$SCRATCH/err")" "relay-policy: fatal: unable to write the reply: Broken pipe" "in one line"

# A connection handed over non-blocking (O_NONBLOCK on the socket): a read that finds
# nothing yet waits for the next request, it is no read error.
{ req 192.0.2.7; req 192.0.2.8 instance=2; req 192.0.2.7 instance=3; } >"$SCRATCH/in"
"$pair" -n "$RELAY_BIN/relay-policy" <"$SCRATCH/in" >"$SCRATCH/sock" 2>"$SCRATCH/err"
is "$?" 0 "a non-blocking socket: exit 0 at the end"
is "$(sed -n 's/^action=//p' "$SCRATCH/sock" | tr '\n' ' ')" "OK DUNNO OK " \
    "a non-blocking socket: every request answered"
is "$(grep -c -e warning -e fatal "$SCRATCH/err")" 0 "a non-blocking socket: no warning, no error"

# spawn(8): descriptors 0, 1 and 2 one socket. Nothing but replies comes back, whatever is
# logged (a grant, a refusal, a store warning, a malformed request).
{ req 192.0.2.7; req 192.0.2.8 instance=2; printf 'junk\n\n'; } >"$SCRATCH/in"
"$pair" -2 "$RELAY_BIN/relay-policy" <"$SCRATCH/in" >"$SCRATCH/sock" 2>"$SCRATCH/err"
is "$?" 100 "on one socket: the malformed request still ends it with 100"
is "$(cat "$SCRATCH/sock")" "$(printf 'action=OK\n\naction=DUNNO\n\n')" \
    "on one socket: nothing but the replies comes back"
"$pair" -2 env RELAY_DIR="$SCRATCH/none" "$RELAY_BIN/relay-policy" <"$SCRATCH/in" >"$SCRATCH/sock" 2>/dev/null
is "$(cat "$SCRATCH/sock")" "$(printf 'action=DUNNO\n\naction=DUNNO\n\n')" \
    "on one socket, with the store missing: nothing but the replies"
"$pair" "$RELAY_BIN/relay-policy" <"$SCRATCH/in" >"$SCRATCH/sock" 2>"$SCRATCH/err"
is "$(nerr)" 3 "0 and 1 a socket, 2 apart (tcpserver's case): the lines on stderr"

# The syslog line itself, caught at /dev/log in a private mount namespace (root only).
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    mkdir "$SCRATCH/dev" && : >"$SCRATCH/dev/null"
    # shellcheck disable=SC2016 # expanded by the inner shell
    unshare -m sh -c 'mount --bind /dev/null "$1/null" && mount --rbind "$1" /dev && shift && exec "$@"' \
        sh "$SCRATCH/dev" "$pair" -2 -l /dev/log "$RELAY_BIN/relay-policy" <"$SCRATCH/in" \
        >"$SCRATCH/sock" 2>"$SCRATCH/err"
    is "$(cat "$SCRATCH/sock")" "$(printf 'action=OK\n\naction=DUNNO\n\n')" "in a namespace with /dev/log: the replies"
    like "$(sed -n 1p "$SCRATCH/err")" "<22>* relay-policy\[[0-9]*\]: granted 192.0.2.7 user=bob age=*" \
        "the grant in syslog: facility mail, info, ident relay-policy with the pid"
    like "$(sed -n 2p "$SCRATCH/err")" "<22>* relay-policy\[[0-9]*\]: refused 192.0.2.8 not found" "the refusal"
    like "$(sed -n 3p "$SCRATCH/err")" "<19>* relay-policy\[[0-9]*\]: fatal: malformed request: *" \
        "the malformed request, as an error"
else
    skip "the syslog line at /dev/log" "needs root and unshare -m"
fi

# ---- review: more attacks, each answered OK only for a fresh allowance ----------------------

# Embedded and mapped IPv4 forms, in any spelling: the IPv4 key, as relay-check makes it.
agree "embedded and mapped forms: relay-policy and relay-check agree" \
    ::192.0.2.7 0:0:0:0:0:ffff:c000:207 ::FFFF:192.0.2.7 64:ff9b::c000:207 \
    ::ffff:0:c000:207 ::ffff:192.0.2.8 2001:DB8:1:2::1

# A granted request, then others in the same read and transaction: nothing carries over.
{ req 192.0.2.7; req 192.0.2.8; req unknown; req 192.0.2.7 sasl_username=bob; req 192.0.2.7; } >"$SCRATCH/in"
is "$(pol <"$SCRATCH/in")" "OK DUNNO DUNNO DUNNO OK rc=0" \
    "one read, one instance: each request decided on its own client"
# The same bytes one at a time (dd bs=1: one write each), so that every attribute is split
# across reads.
is "$(dd if="$SCRATCH/in" bs=1 2>/dev/null | pol)" "OK DUNNO DUNNO DUNNO OK rc=0" \
    "the same, written one byte at a time"

# Attributes that look like the ones that count, and are not.
printf 'request=smtpd_access_policy\nClient_Address=192.0.2.7\nclient_address=192.0.2.8\nclient_address_x=192.0.2.7\n\n' >"$SCRATCH/in"
is "$(pol <"$SCRATCH/in")" "DUNNO rc=0" "Client_Address and client_address_x are other attributes"
printf 'request=smtpd_access_policy\nclient_address=192.0.2.7\nsasl_username= \n\n' >"$SCRATCH/in"
is "$(pol <"$SCRATCH/in")" "DUNNO rc=0" "sasl_username of a space: set"

# Records that must grant nothing, in the directory store.
printf 'relaylease1 192.0.2.9 bob\n' >"$store/192.0.2.11"
mkfifo "$store/192.0.2.12"
mkdir "$store/192.0.2.13"
ln -s 192.0.2.7 "$store/192.0.2.14"
: >"$store/192.0.2.15" && truncate -s 1G "$store/192.0.2.15" 2>/dev/null
rec 192.0.2.16 dave -3600
for k in 11 12 13 14 15 16; do req "192.0.2.$k" "instance=$k"; done >"$SCRATCH/in"
is "$(pol <"$SCRATCH/in")" "DUNNO DUNNO DUNNO DUNNO DUNNO DUNNO rc=0" \
    "another key, a FIFO, a directory, a symlink, 1 GB, an hour ahead: DUNNO each, no hang"
now=$(date +%s) # 3 s ahead of the clock now, not of the test's start
rec 192.0.2.17 dave -3
is "$(req 192.0.2.17 | pol)" "OK rc=0" "a login time 3 s ahead (clock skew): OK"

# Settings that grant nothing.
is "$(req 192.0.2.7 | pol "RELAY_RELAYCLIENT=$(printf 'a\tb')")" "DUNNO rc=0" \
    "RELAY_RELAYCLIENT with a control character: DUNNO"
is "$(req 192.0.2.7 | pol RELAY_REDIS=junk)" "DUNNO rc=0" "RELAY_REDIS invalid: DUNNO"
# and their warnings never reach the socket under spawn(8)
{ req 192.0.2.7; req 192.0.2.8 instance=2; } >"$SCRATCH/in"
"$pair" -2 env RELAY_EXPIRY=junk RELAY_REDIS=junk "$RELAY_BIN/relay-policy" <"$SCRATCH/in" \
    >"$SCRATCH/sock" 2>/dev/null
is "$(cat "$SCRATCH/sock")" "$(printf 'action=DUNNO\n\naction=DUNNO\n\n')" \
    "on one socket, with settings warnings: nothing but the replies"

# Redis replies that must grant nothing; each lookup is its own connection, so one bad reply
# cannot answer the next request.
redis_case() { # DESC WANT SCRIPT-LINE...
    rc_desc=$1 rc_want=$2
    shift 2
    printf '%s\n' "$@" >"$SCRATCH/case.script"
    fakeredis_start r "unix:$SCRATCH/r.sock" <"$SCRATCH/case.script" || return
    { req 192.0.2.7; req 192.0.2.7 instance=2; } >"$SCRATCH/in"
    is "$(pol RELAY_REDIS="unix:$SCRATCH/r.sock" RELAY_REDIS_TIMEOUT="$REDIS_TIMEOUT" <"$SCRATCH/in")" \
        "$rc_want rc=0" "Redis, $rc_desc"
    stop_pid "$FAKE_PID"
}
bulk() { # RECORD: a bulk string reply of RECORD and a newline
    printf 'send $%s\\r\\n%s\\n\\r\\n' "$((${#1} + 1))" "$1"
}
redis_case "a fresh record" "OK OK" wait "$(bulk "relaylease2 $now 192.0.2.7 bob")"
redis_case "a record of another key" "DUNNO DUNNO" wait "$(bulk "relaylease2 $now 192.0.2.8 bob")"
redis_case "a record an hour ahead" "DUNNO DUNNO" wait "$(bulk "relaylease2 $((now + 3600)) 192.0.2.7 bob")"
redis_case "an expired record" "DUNNO DUNNO" wait "$(bulk "relaylease2 $((now - 5000)) 192.0.2.7 bob")"
redis_case "a record with a control character" "DUNNO DUNNO" wait "$(bulk "relaylease2 $now 192.0.2.7 b\\x01ob")"
redis_case "two replies to one GET" "DUNNO DUNNO" wait \
    "$(bulk "relaylease2 $now 192.0.2.7 bob")$(bulk "relaylease2 $now 192.0.2.7 bob" | sed 's/^send //')"
redis_case "an error" "DUNNO DUNNO" wait 'send -ERR nope\r\n'
redis_case "an integer" "DUNNO DUNNO" wait 'send :1\r\n'
# shellcheck disable=SC2016 # a RESP bulk string's $, for fakeredis
redis_case "an array" "DUNNO DUNNO" wait 'send *1\r\n$3\r\nabc\r\n'
redis_case "a bulk string longer than announced" "DUNNO DUNNO" wait \
    "send \$5\\r\\nrelaylease2 $now 192.0.2.7 bob\\n\\r\\n"
redis_case "a close" "DUNNO DUNNO" close

# Sizes: 20000 requests of 52 bytes in one batch (replies past the output buffer), and three
# requests of exactly POLICY_REQUEST_MAX (65536) bytes back to back.
i=0
while [ $i -lt 20 ]; do printf 'request=smtpd_access_policy\nclient_address=192.0.2.7\n\n'; i=$((i + 1)); done >"$SCRATCH/in20"
i=0
while [ $i -lt 1000 ]; do cat "$SCRATCH/in20"; i=$((i + 1)); done >"$SCRATCH/in"
is "$(RELAY_LOG=0 "$RELAY_BIN/relay-policy" <"$SCRATCH/in" | grep -c '^action=OK$')" 20000 \
    "20000 small requests in one batch: 20000 OK"
is "$("$pair" env RELAY_LOG=0 "$RELAY_BIN/relay-policy" <"$SCRATCH/in" | grep -c '^action=OK$')" 20000 \
    "the same on a socketpair"
big() { # one request of exactly 65536 bytes
    printf 'request=smtpd_access_policy\nclient_address=192.0.2.7\n'
    b_i=0
    while [ $b_i -lt 7 ]; do printf 'x='; head -c 8190 /dev/zero | tr '\0' a; echo; b_i=$((b_i + 1)); done
    printf 'y='
    head -c $((65536 - 53 - 7 * 8193 - 4)) /dev/zero | tr '\0' a
    printf '\n\n'
}
big >"$SCRATCH/big1"
is "$(wc -c <"$SCRATCH/big1" | tr -d ' ')" 65536 "(the request is 65536 bytes)"
cat "$SCRATCH/big1" "$SCRATCH/big1" "$SCRATCH/big1" >"$SCRATCH/in"
is "$(pol <"$SCRATCH/in")" "OK OK OK rc=0" "three requests of 65536 bytes back to back"
is "$(dd if="$SCRATCH/in" bs=4093 2>/dev/null | pol)" "OK OK OK rc=0" "the same in odd-sized writes"

# Exit codes: a read error is 111 (descriptor 0 a directory); the input ending after a
# partial line, or just after a request's last attribute, is 100.
"$RELAY_BIN/relay-policy" </ >/dev/null 2>"$SCRATCH/err"
is "$?" 111 "a read error: exit 111"
like "$(errs)" "relay-policy: fatal: unable to read the request: *" "said so"
is "$(req 192.0.2.7 | head -c -1 | pol)" "rc=100" "the input ends before the empty line: exit 100"

done_testing
