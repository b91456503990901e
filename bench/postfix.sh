#!/bin/sh
# bench/postfix.sh [--quick]: relay-policy end to end, through the real Postfix (issue 11).
# They print figures; they are not timed tests. One private Postfix (tests/postfix-lib.sh:
# its own directories, in_flow_delay = 0, started and stopped by PID), with four smtpd
# listeners on 127.0.0.1, each a variant of smtpd_relay_restrictions:
#   A  permit_mynetworks alone: the client is in mynetworks (127.0.0.0/8), relay accepted;
#   B  the policy check as run-examples/postfix ships it (client not in mynetworks):
#      relay-policy under spawn finds a fresh allowance, action=OK, relay accepted;
#   A' reject_unauth_destination alone, client not in mynetworks: 554;
#   B' the policy check with a store that has no allowance for the client: DUNNO, then 554;
#   C  the policy check answered by a server that only says OK (policy-storm -S, through the
#      same env(1) and spawn): what any policy check costs Postfix, so that B/C is
#      relay-policy's own share of B/A.
# bench/smtp-storm.c runs N whole sessions (connect, greeting, EHLO, MAIL, one relay RCPT,
# QUIT, the server's close) one after the other, as a client does; the variants take turns
# (A B C A' B', repeated ROUNDS times) so that a slow moment of the shared machine hits all of
# them. Printed: each variant's median session time (median of the rounds' medians), and
# B/A and B'/A' as the median of the rounds' ratios; target B/A <= 1.1.
# Beside it, what a map rebuilt by postmap costs: `postmap hash:` of 100,000 addresses (the
# median of 3), against relaylease's nothing (relay-allow writes one file per login; there
# is no map to rebuild).
# --quick: 50 sessions, 2 rounds, 1,000 addresses: proves it runs (every reply as expected).
#
# Environment: RELAY_BIN (default the top of this tree), BENCH_OUT (default bench/out; the
# output is copied to postfix.txt there, or quick/postfix.txt), BENCH_SESSIONS, BENCH_ROUNDS,
# BENCH_POLICY_ENV (settings added to relay-policy's, say RELAY_LOG=0), BENCH_ANVIL (above), CC. Needs root and Debian's postfix, and make testprogs (tests/standins/chat).
# Exit codes: 0 ran (and in full mode met the target), 1 full mode only: the target was
# missed, 100 usage, 111 the benchmark broke or could not be set up.

set -u
here=$(cd "$(dirname "$0")" && pwd) || exit 111
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
bench_start postfix "$@"
if [ "$quick" = 1 ]; then
    sessions=${BENCH_SESSIONS:-50} rounds=${BENCH_ROUNDS:-2} map_n=1000
else
    sessions=${BENCH_SESSIONS:-2000} rounds=${BENCH_ROUNDS:-5} map_n=100000
fi
policy_env=${BENCH_POLICY_ENV:-}

# shellcheck source-path=SCRIPTDIR source=../tests/lib.sh
. "$top/tests/lib.sh"
bin=$RELAY_BIN
# shellcheck source-path=SCRIPTDIR source=../tests/postfix-lib.sh
. "$top/tests/postfix-lib.sh"
trap 'exit 141' PIPE
why=$(postfix_missing)
[ -z "$why" ] || die "$why"
for p in relay-policy relay-allow; do
    [ -x "$bin/$p" ] || die "$bin/$p is missing: run make"
done
[ -x "$STANDINS/chat" ] || die "$STANDINS/chat is missing: run make testprogs"
scratch=$SCRATCH/bench
mkdir -p "$scratch" "$tools" "$out" || die "unable to create $scratch, $tools and $out"
: >"$results" || die "unable to write $results"
# shellcheck disable=SC2086 # cflags is a list of flags
$cc $cflags -o "$tools/smtp-storm" "$here/smtp-storm.c" || die "unable to build smtp-storm"
# shellcheck disable=SC2086 # cflags is a list of flags
$cc $cflags -o "$tools/policy-storm" "$here/policy-storm.c" || die "unable to build policy-storm"

# ---- the instance ----------------------------------------------------------------------------

store=$SCRATCH/store empty=$SCRATCH/empty
if ! make_store "$store" || ! make_store "$empty" || ! chmod 755 "$store" "$empty"; then
    die "unable to make the stores"
fi
# The client's allowance, written by relay-allow as a login would (as the store's owner).
env -i TCPREMOTEIP=127.0.0.1 PROTO=TCP RELAY_DIR="$store" USER=bob \
    setpriv --reuid="$MAIL_UID" --regid="$MAIL_GID" --clear-groups "$bin/relay-allow" 2>/dev/null
[ -f "$store/127.0.0.1" ] || die "relay-allow did not record 127.0.0.1"

examples=$top/run-examples/postfix
service() { # NAME STORE: the shipped master.cf entry as NAME, with this build and STORE
    grep -v '^#' "$examples/master.cf" | tr '\n' ' ' | sed -e "s|^relaypolicy |$1 |" \
        -e "s|RELAY_DIR=[^ ]*|RELAY_DIR=$2${policy_env:+ $policy_env}|" -e "s|/usr/local/bin/relay-policy|$bin/relay-policy|"
    echo
}
PF_NO_V6=1
postfix_init "$SCRATCH/postfix" || die "unable to make the instance's directories"
mkdir -p "$scratch/shipped" || die "unable to create $scratch/shipped"
cp "$examples/main.cf" "$scratch/shipped/main.cf" || die "unable to copy main.cf"
empty_r=$(postconf -c "$scratch/shipped" -h smtpd_relay_restrictions 2>/dev/null |
    sed 's|private/relaypolicy,|private/relaypolicy-empty,|')
floor_r=$(postconf -c "$scratch/shipped" -h smtpd_relay_restrictions 2>/dev/null |
    sed 's|private/relaypolicy,|private/relaypolicy-floor,|')
# Clients in mynetworks are spared anvil's accounting by default: A's client would skip
# work that B's does, whatever the policy. Everybody counts here, as a roaming client does
# (BENCH_ANVIL=default keeps Postfix's default, for comparison).
anvil="smtpd_client_event_limit_exceptions ="
anvil_note="smtpd_client_event_limit_exceptions empty (anvil counts A's client too)"
if [ "${BENCH_ANVIL:-}" = default ]; then
    anvil='' anvil_note="smtpd_client_event_limit_exceptions as Postfix's default (A's client skips anvil)"
fi
PF_MAIN="$(cat "$examples/main.cf")
$anvil
mynet_relay_restrictions = permit_mynetworks, reject_unauth_destination
empty_relay_restrictions = $empty_r
floor_relay_restrictions = $floor_r"
PF_SERVICES="$(service relaypolicy "$store")
$(service relaypolicy-empty "$empty")
$(service relaypolicy-floor "$store" | sed "s|$bin/relay-policy|$tools/policy-storm -S|")"
postfix_listener A - -o mynetworks=127.0.0.0/8 -o "smtpd_relay_restrictions=\$mynet_relay_restrictions"
postfix_listener B -
postfix_listener A2 - -o "smtpd_relay_restrictions=\$mynet_relay_restrictions"
postfix_listener B2 - -o "smtpd_relay_restrictions=\$empty_relay_restrictions"
postfix_listener C - -o "smtpd_relay_restrictions=\$floor_relay_restrictions"
postfix_start || die "Postfix did not start: $(tail -n 3 "$PF_DIR/log/start" "$PF_LOG" 2>/dev/null)"

# ---- the run ---------------------------------------------------------------------------------

bench_header "relay-policy through Postfix"
say "postfix: $(postconf -c "$PF_DIR/etc" -h mail_version); private instance, in_flow_delay = 0, $anvil_note, 127.0.0.1"
[ -z "$policy_env" ] || say "relay-policy with $policy_env"
say "method: $sessions whole sessions per variant and round (connect .. RCPT .. QUIT, EOF), one at a time; $rounds rounds, variants interleaved A B C A' B'"

relay=friend@example.net
storm() { # LISTENER CODE: one round's median session time (ns)
    "$tools/smtp-storm" 127.0.0.1 "$(postfix_port "$1")" "$sessions" "$relay" "$2" \
        >"$scratch/storm.out" 2>&1 || die "smtp-storm on $1 (want $2): $(cat "$scratch/storm.out")"
    sed -n 's/.*median_ns=\([0-9]*\).*/\1/p' "$scratch/storm.out"
}
: >"$scratch/rounds"
r=0
while [ "$r" -lt "$rounds" ]; do
    r=$((r + 1))
    a=$(storm A 250) b=$(storm B 250) c=$(storm C 250) a2=$(storm A2 554) b2=$(storm B2 554)
    echo "$a $b $a2 $b2 $c" | awk '{ print $0, $2 / $1, $4 / $3, $2 / $5 }' >>"$scratch/rounds"
    note "round $r: A $(us "$a") us, B $(us "$b") us, C $(us "$c") us, A' $(us "$a2") us, B' $(us "$b2") us"
done
m_a=$(median 1 "$scratch/rounds") m_b=$(median 2 "$scratch/rounds")
m_a2=$(median 3 "$scratch/rounds") m_b2=$(median 4 "$scratch/rounds")
ratio=$(fmt '%.3f' "$(median 6 "$scratch/rounds")")
ratio2=$(fmt '%.3f' "$(median 7 "$scratch/rounds")")
m_c=$(median 5 "$scratch/rounds") ratio3=$(fmt '%.3f' "$(median 8 "$scratch/rounds")")
say "session, relay accepted: A permit_mynetworks $(us "$m_a") us, B relay-policy OK $(us "$m_b") us"
say "session, relay accepted: C the same policy check answered by a server that only says OK (policy-storm -S) $(us "$m_c") us"
say "session, relay refused:  A' reject_unauth_destination $(us "$m_a2") us, B' relay-policy DUNNO $(us "$m_b2") us"
figure "Postfix session, relay-policy / mynetworks" "$ratio" 1.1 "(B/A, median of $rounds rounds)"
say "$(printf '%-46s %8s' "Postfix session, relay-policy / do-nothing policy" "$ratio3")   (B/C: relay-policy's own share; the rest of B/A is Postfix's policy client)"
say "$(printf '%-46s %8s' "Postfix session refused, DUNNO / no policy" "$ratio2")   (B'/A', for information)"

# ---- postmap, for comparison -----------------------------------------------------------------

awk -v n="$map_n" 'BEGIN { for (i = 0; i < n; i++)
    printf "10.%d.%d.%d OK\n", int(i / 65536), int(i / 256) % 256, i % 256 }' >"$scratch/map"
: >"$scratch/postmap"
i=0
while [ "$i" -lt 3 ]; do
    i=$((i + 1))
    rm -f "$scratch/map.db"
    t0=$(date +%s%N)
    postmap -c "$PF_DIR/etc" "hash:$scratch/map" || die "postmap failed"
    echo $(($(date +%s%N) - t0)) >>"$scratch/postmap"
done
say "$(printf '%-46s %8s ms' "postmap hash: of $(thousands "$map_n") addresses" "$(ms "$(median 1 "$scratch/postmap")")")   (median of 3; relaylease: 0, no map)"

postfix_stop
if [ "$quick" = 0 ] && [ "$misses" -gt 0 ]; then
    exit 1
fi
exit 0
