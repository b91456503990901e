#!/bin/sh
# t-chain-ipv6.sh: the chain over IPv6, and IPv4 clients seen through tcpserver -6.
#   Loopback (::1) is keyed alone ("::1_128"): the rest of ::/64 is no site's subnet.
#   An ordinary address is keyed by its /64: in a private network namespace with documentation
#   addresses on lo, a login from 2001:db8:1:2::1 records "2001:db8:1:2::_64", and relay is
#   granted over the real tcpserver to 2001:db8:1:2::2 (same /64), not to 2001:db8:1:3::1.
#   An IPv4 client under tcpserver -6 (TCP6REMOTEIP=::ffff:127.0.0.1) is the IPv4 key
#   "127.0.0.1", the same one a plain IPv4 server uses.
# The whole test runs in a network namespace of its own where the machine allows one (root):
# the addresses it needs exist there only.
if [ -z "${T_CHAIN_IPV6_NETNS:-}" ] && command -v unshare >/dev/null 2>&1 &&
    command -v ip >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
    T_CHAIN_IPV6_NETNS=1 exec unshare -n sh "$0" "$@"
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_programs

netns=
if [ -n "${T_CHAIN_IPV6_NETNS:-}" ] && lo_documentation_v6; then
    netns=1
fi

if ! free_port ::1 >/dev/null 2>&1; then
    skip "the chain over IPv6" "no ::1"
    exit 0
fi
# Plain ucspi-tcp (not the -ipv6 build) cannot listen on ::1.
if ! start_tcpserver probe ::1 0 true; then
    skip "the chain over IPv6" "this tcpserver has no IPv6 (install ucspi-tcp-ipv6)"
    exit 0
fi
stop_pid "$SERVER_PID"

store=$SCRATCH/store
make_store "$store"
make_passwd "$SCRATCH/passwd"
echo example.com >"$SCRATCH/rcpthosts"
relay_rcpt=friend@example.net
refused="553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"

# relay_direct TCP6REMOTEIP: relay-check run by hand with the environment tcpserver -6 would
# give a client at that address; prints the reply to RCPT.
relay_direct() {
    printf '%s\r\n' 'MAIL FROM:<sender@client.example>' "RCPT TO:<$relay_rcpt>" QUIT |
        env -i RELAY_DIR="$store" PROTO=TCP6 TCP6REMOTEIP="$1" TCPREMOTEIP="$1" \
            "$RELAY_BIN/relay-check" "$STANDINS/smtpd" "$SCRATCH/rcpthosts" 2>>"$SCRATCH/direct.log" |
        sed -n 3p | tr -d '\r'
}

start_pop_chain pop6 ::1 RELAY_DIR="$store" && pop6=$SERVER_PORT
start_smtp_chain smtp6 ::1 RELAY_DIR="$store" && smtp6=$SERVER_PORT
start_smtp_chain smtp6-128 ::1 RELAY_DIR="$store" RELAY_IPV6_PREFIX=128 && smtp6_128=$SERVER_PORT
start_pop_chain pop4m -6 127.0.0.1 RELAY_DIR="$store" && pop4m=$SERVER_PORT
start_smtp_chain smtp4m -6 127.0.0.1 RELAY_DIR="$store" && smtp4m=$SERVER_PORT
start_smtp_chain smtp4 127.0.0.1 RELAY_DIR="$store" && smtp4=$SERVER_PORT
if [ -z "${pop6:-}" ] || [ -z "${smtp6:-}" ] || [ -z "${smtp6_128:-}" ] ||
    [ -z "${pop4m:-}" ] || [ -z "${smtp4m:-}" ] || [ -z "${smtp4:-}" ]; then
    not_ok "every tcpserver started"
    exit 1
fi

diag "a client at ::1 (loopback: keyed alone)"
is "$(rcpt_reply ::1 "$smtp6")" "$refused" "relay over ::1 is refused before a login"
check "relay-check logs the refusal for ::1 alone" \
    grep -qx 'relay-check: refused ::1_128 not found' "$SCRATCH/smtp6.log"
pop_login ::1 "$pop6" bob secret
is "$(reply_to "$SCRATCH/pop.chat" PASS)" "+OK " "a POP3 login over ::1 succeeds"
is "$(reply_to "$SCRATCH/pop.chat" STAT)" "+OK 0 0" "the session reaches pop3d"
check "relay-allow logs the record for ::1 alone" \
    grep -qx 'relay-allow: recorded ::1_128 user=bob' "$SCRATCH/pop6.log"
check "the record ::1_128 is relaylease1 ::1_128 bob" \
    file_is "$store/::1_128" 'relaylease1 ::1_128 bob\n'
check "nothing else was recorded" test "$(ls "$store")" = "::1_128"
is "$(rcpt_reply ::1 "$smtp6")" "250 ok" "relay over ::1 is granted after the login"
like "$(grep '^relay-check: granted' "$SCRATCH/smtp6.log")" \
    'relay-check: granted ::1_128 user=bob age=[0-9]*' "relay-check logs the grant for ::1"
is "$(rcpt_reply ::1 "$smtp6_128")" "250 ok" \
    "with RELAY_IPV6_PREFIX=128 the same record grants"
is "$(relay_direct ::2)" "$refused" "another address of ::/64 (::2) may not relay"
is "$(relay_direct 0:0:0:1::1)" "$refused" "an address in another /64 (0:0:0:1::1) may not"
RELAY_DIR=$store "$RELAY_BIN/relay-expire" -l >"$SCRATCH/list.out" 2>&1
like "$(grep '^::' "$SCRATCH/list.out")" '::1/128 bob [0-9]* [0-9]*' \
    "relay-expire -l shows the key as ::1/128"
is "$(rcpt_reply 127.0.0.1 "$smtp4")" "$refused" "the IPv6 record grants nothing to 127.0.0.1"

diag "an IPv4 client through tcpserver -6 (::ffff:127.0.0.1)"
is "$(rcpt_reply 127.0.0.1 "$smtp4m")" "$refused" "relay is refused before an IPv4 login"
check "relay-check under -6 looks up the IPv4 key" \
    grep -qx 'relay-check: refused 127.0.0.1 not found' "$SCRATCH/smtp4m.log"
pop_login 127.0.0.1 "$pop4m" bob secret
is "$(reply_to "$SCRATCH/pop.chat" PASS)" "+OK " "a POP3 login under -6 succeeds"
check "relay-allow under -6 records the IPv4 key" \
    grep -qx 'relay-allow: recorded 127.0.0.1 user=bob' "$SCRATCH/pop4m.log"
check "the record 127.0.0.1 is relaylease1 127.0.0.1 bob" \
    file_is "$store/127.0.0.1" 'relaylease1 127.0.0.1 bob\n'
is "$(rcpt_reply 127.0.0.1 "$smtp4m")" "250 ok" "relay under -6 is granted"
is "$(rcpt_reply 127.0.0.1 "$smtp4")" "250 ok" "relay without -6 is granted by the same record"
rm -f "$store/::1_128"
is "$(rcpt_reply ::1 "$smtp6")" "$refused" "the IPv4 record grants nothing to ::1"

diag "an ordinary IPv6 client: its /64 (documentation addresses in a private namespace)"
if [ -z "$netns" ]; then
    skip "the /64 over the real tcpserver" "no network namespace of our own (not root?)"
    done_testing
fi
rm -f "$store"/*
# Listening on the wildcard and connecting to one of the namespace's addresses makes that address the
# client's too (the kernel prefers the destination itself as the source).
start_pop_chain popg -6 0 RELAY_DIR="$store" && popg=$SERVER_PORT
start_smtp_chain smtpg -6 0 RELAY_DIR="$store" && smtpg=$SERVER_PORT
if [ -z "${popg:-}" ] || [ -z "${smtpg:-}" ]; then
    not_ok "the tcpservers on the IPv6 wildcard started"
    exit 1
fi
is "$(rcpt_reply 2001:db8:1:2::2 "$smtpg")" "$refused" "relay from 2001:db8:1:2::2 is refused before a login"
check "relay-check looked up the /64" \
    grep -qx 'relay-check: refused 2001:db8:1:2::_64 not found' "$SCRATCH/smtpg.log"
pop_login 2001:db8:1:2::1 "$popg" bob secret
is "$(reply_to "$SCRATCH/pop.chat" PASS)" "+OK " "a POP3 login from 2001:db8:1:2::1 succeeds"
check "relay-allow records the client's /64" \
    file_is "$store/2001:db8:1:2::_64" 'relaylease1 2001:db8:1:2::_64 bob\n'
is "$(rcpt_reply 2001:db8:1:2::1 "$smtpg")" "250 ok" "relay from the same address is granted"
is "$(rcpt_reply 2001:db8:1:2::2 "$smtpg")" "250 ok" "relay from another address of the /64 is granted"
like "$(grep '^relay-check: granted' "$SCRATCH/smtpg.log" | sed -n '$p')" \
    'relay-check: granted 2001:db8:1:2::_64 user=bob age=[0-9]*' "relay-check logs the grant for the /64"
is "$(rcpt_reply 2001:db8:1:3::1 "$smtpg")" "$refused" "relay from another /64 is refused"
RELAY_DIR=$store "$RELAY_BIN/relay-expire" -l >"$SCRATCH/list.out" 2>&1
like "$(grep '^2001' "$SCRATCH/list.out")" '2001:db8:1:2::/64 bob [0-9]* [0-9]*' \
    "relay-expire -l shows the prefix as 2001:db8:1:2::/64"

done_testing
