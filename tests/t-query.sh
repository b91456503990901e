#!/bin/sh
# t-query.sh: relay-query ADDRESS answers what relay-check would: exit 0 and "KEY yes user=U
# age=N left=M" for a fresh allowance; 1 and why not (not found, expired, ahead of the clock,
# an invalid record, an address that may never relay, settings that grant nothing); 111 when
# the store cannot be read; 100 for a bad address or usage. For every address tried, its
# answer agrees with relay-check's on the same store. Ages are back-dated, never slept, by
# margins far from the expiry; the ages printed are not compared with a clock.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-query relay-check

store=$SCRATCH/store
make_store "$store"
export RELAY_DIR="$store" RELAY_LOG=0
now=$(date +%s)
rec() { # KEY USER AGE-SECONDS (negative: ahead)
    printf 'relaylease1 %s %s\n' "$1" "$2" >"$store/$1"
    touch -d "@$((now - $3))" "$store/$1"
}
rec 192.0.2.1 bob 100
rec 192.0.2.2 carol 2000
rec 192.0.2.3 dave -600
rec 2001:db8:1:2::_64 erin 10
printf 'junk\n' >"$store/192.0.2.4"
rec 192.0.2.5 eve 10
chmod 666 "$store/192.0.2.5"

# query ADDRESS [VAR=value...]: relay-query's stdout, then " rc=N"
query() {
    q_a=$1
    shift
    q_out=$(env "$@" "$RELAY_BIN/relay-query" "$q_a" 2>"$SCRATCH/q.err")
    echo "$q_out rc=$?"
}

like "$(query 192.0.2.1)" "192.0.2.1 yes user=bob age=[0-9]* left=[0-9]* rc=0" "a fresh allowance: yes, 0"
is "$(query 192.0.2.9)" "192.0.2.9 no: not found rc=1" "no record: no, 1"
like "$(query 192.0.2.2)" "192.0.2.2 no: expired user=carol age=[0-9]* rc=1" "an old one: expired, 1"
like "$(query 192.0.2.3)" "192.0.2.3 no: login time [0-9]* s in the future user=dave rc=1" \
    "one dated ahead: no, 1"
like "$(query 2001:db8:1:2:aaaa::1)" "2001:db8:1:2::/64 yes user=erin age=[0-9]* left=* rc=0" \
    "an IPv6 address in a recorded /64: yes"
like "$(query 192.0.2.4)" "192.0.2.4 no: invalid record $store/192.0.2.4: * rc=1" \
    "an invalid record: no, and why"
like "$(query 192.0.2.5)" "192.0.2.5 no: invalid record $store/192.0.2.5: writable by its group or others rc=1" \
    "a record others may write: no"
is "$(query 224.0.0.1)" "224.0.0.1 no: an address that may never relay rc=1" "multicast: no"
like "$(query 192.0.2.1 RELAY_EXPIRY=50)" "192.0.2.1 no: expired user=bob age=[0-9]* rc=1" \
    "its own RELAY_EXPIRY"
is "$(query 192.0.2.1 RELAY_RELAYCLIENT="$(printf 'a\tb')")" "192.0.2.1 no: the settings grant nothing rc=1" \
    "settings that grant nothing: no"
like "$(cat "$SCRATCH/q.err")" "relay-query: warning: RELAY_RELAYCLIENT has control characters*" \
    "with the settings' own warning"
is "$(query 192.0.2.1 RELAY_DIR="$SCRATCH/none")" " rc=111" "a missing store: 111"
like "$(cat "$SCRATCH/q.err")" "relay-query: warning: unable to read $SCRATCH/none/192.0.2.1: No such file or directory" \
    "in one line"
is "$(query 192.0.2.1.5)" " rc=100" "not an address: 100"
like "$(cat "$SCRATCH/q.err")" 'relay-query: fatal: not an address: "192.0.2.1.5"' "said so"
"$RELAY_BIN/relay-query" >/dev/null 2>&1
is "$?" 100 "no argument: 100"
"$RELAY_BIN/relay-query" 192.0.2.1 192.0.2.2 >/dev/null 2>&1
is "$?" 100 "two arguments: 100"

# The same answer as relay-check for every address tried.
disagree=
for a in 192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.9 2001:db8:1:2::7 \
    2001:db8:1:3::7 224.0.0.1 ::ffff:192.0.2.1; do
    "$RELAY_BIN/relay-query" "$a" >/dev/null 2>&1
    q=$?
    if granted "$a"; then c=0; else c=1; fi
    [ "$q" = "$c" ] || disagree="$disagree $a($q/$c)"
done
is "$disagree" "" "relay-query and relay-check agree on every address"

done_testing
