#!/bin/sh
# t-ipv6-ranges.sh: IPv6 allowances never cover unrelated hosts, through the real programs.
#   An address that embeds IPv4 (NAT64 64:ff9b::/96 and 64:ff9b:1::/48, the operator's
#   RELAY_NAT64_PREFIX, ::a.b.c.d, ::ffff:0:a.b.c.d) is keyed as that IPv4 host; Teredo,
#   link-local, ::1, ISATAP are keyed exactly (/128); ::, multicast and the refused IPv4
#   ranges record nothing; an ordinary address still gets its /64. RELAY_IPV6_PREFIX below
#   48 is refused (then /128). relay-allow, relay-session, relay-check and
#   relay-import-opensmtp agree, and a record left under a key the policy no longer makes
#   (64:ff9b::_64, fe80::_64, ...) grants nothing. No servers: the programs run with
#   TCP6REMOTEIP and PROTO=TCP6 in their environment.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-allow relay-check relay-session relay-import-opensmtp

store=$SCRATCH/store
make_store "$store" || exit 111
export RELAY_DIR="$store"
err=$SCRATCH/err

# login ADDR [VAR=value...]: relay-allow for bob at ADDR; its stderr in $err. Prints what the
# next program printed, to show the login went on.
login() {
    login_a=$1
    shift
    # shellcheck disable=SC2046 # client's words are meant to split
    env $(client_env "$login_a") USER=bob "$@" "$RELAY_BIN/relay-allow" echo next 2>"$err"
}

# session ADDR [VAR=value...]: the same login with relay-session in front of relay-allow.
session() {
    session_a=$1
    shift
    # shellcheck disable=SC2046
    env $(client_env "$session_a") USER=bob "$@" "$RELAY_BIN/relay-session" \
        "$RELAY_BIN/relay-allow" echo next 2>"$err"
}

# keys: the store's records, one line.
keys() {
    (cd "$store" && find . -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%P\n' | sort | tr '\n' ' ')
}

fresh() {
    find "$store" -mindepth 1 -delete
}

warnings() {
    grep -c 'warning' "$err"
}

# ---- embedded IPv4 ---------------------------------------------------------------------------
diag "NAT64 well-known prefix"
fresh
is "$(login 64:ff9b::c000:207)" next "a login from 64:ff9b::c000:207 goes on"
is "$(keys)" "192.0.2.7 " "it records the IPv4 host 192.0.2.7, nothing else"
for a in 192.0.2.7 64:ff9b::c000:207 64:ff9b::192.0.2.7 ::ffff:192.0.2.7; do
    check "it grants $a" granted $a
done
for a in 192.0.2.8 64:ff9b::c000:208 64:ff9b::1:c000:207 64:ff9b:0:0:1::c000:207 \
    64:ff9b:0:1::c000:207 192.0.2.0; do
    check "it does not grant $a" refused $a
done

diag "a direct IPv4 login grants its NAT64 form"
fresh
login 198.51.100.4 >/dev/null
check "198.51.100.4's login grants 64:ff9b::c633:6404" granted 64:ff9b::c633:6404
check "but not 64:ff9b::c633:6405" refused 64:ff9b::c633:6405

diag "NAT64 local-use prefix 64:ff9b:1::/48 (RFC 6052 /48 layout)"
fresh
login 64:ff9b:1:c000:2:700:: >/dev/null
is "$(keys)" "192.0.2.7 " "64:ff9b:1:c000:2:700:: records 192.0.2.7"
check "it does not grant 64:ff9b:1:c000:2:800:: (192.0.2.8)" refused 64:ff9b:1:c000:2:800::
fresh
login 64:ff9b:1:c000:102:700:: >/dev/null
is "$(keys)" "64:ff9b:1:c000:102:700::_128 " "a non-zero u-octet is matched exactly"
check "and grants no neighbour" refused 64:ff9b:1:c000:102:700::1

diag "IPv4-compatible and IPv4-translated forms"
fresh
login ::192.0.2.7 >/dev/null
is "$(keys)" "192.0.2.7 " "::192.0.2.7 records 192.0.2.7"
fresh
login ::ffff:0:192.0.2.7 >/dev/null
is "$(keys)" "192.0.2.7 " "::ffff:0:192.0.2.7 records 192.0.2.7"
check "it does not grant ::ffff:0:192.0.2.8" refused ::ffff:0:192.0.2.8

diag "the operator's NAT64 prefix"
fresh
login 2001:db8:64::c000:207 RELAY_NAT64_PREFIX=2001:db8:64::/96 >/dev/null
is "$(keys)" "192.0.2.7 " "under RELAY_NAT64_PREFIX=2001:db8:64::/96, 2001:db8:64::c000:207 records 192.0.2.7"
is "$(warnings)" 0 "without a warning"
check "relay-check under the same setting grants it" \
    granted 2001:db8:64::c000:207 RELAY_NAT64_PREFIX=2001:db8:64::/96
check "and 64:ff9b::c000:207" granted 64:ff9b::c000:207
check "not 2001:db8:64::c000:208" \
    refused 2001:db8:64::c000:208 RELAY_NAT64_PREFIX=2001:db8:64::/96
check "not 2001:db8:64::1:c000:207 (the rest of its /64)" \
    refused 2001:db8:64::1:c000:207 RELAY_NAT64_PREFIX=2001:db8:64::/96
fresh
login 2001:db8:1:c000:2:700:: RELAY_NAT64_PREFIX=2001:db8:1::/48 >/dev/null
is "$(keys)" "192.0.2.7 " "under a /48 operator prefix, 2001:db8:1:c000:2:700:: records 192.0.2.7"
check "not 2001:db8:1:c000:2:800::" \
    refused 2001:db8:1:c000:2:800:: RELAY_NAT64_PREFIX=2001:db8:1::/48
fresh
login 2001:db8:64::c000:207 >/dev/null
is "$(keys)" "2001:db8:64::_64 " "without the setting the same address is an ordinary /64"
fresh
login 2001:db8:1:2::1 RELAY_NAT64_PREFIX=2001:db8:64::1/96 >/dev/null
is "$(warnings)" 1 "an invalid RELAY_NAT64_PREFIX is one warning"
like "$(cat "$err")" "*RELAY_NAT64_PREFIX*" "naming it"
is "$(keys)" "2001:db8:1:2::1_128 " "and every IPv6 client is keyed by /128"

# ---- exact -----------------------------------------------------------------------------------
# exact ADDR NEIGHBOUR...: a login from ADDR records ADDR_128 and grants no neighbour.
exact() {
    exact_a=$1
    shift
    fresh
    login "$exact_a" >/dev/null
    exact_k=$(keys)
    like "$exact_k" "*_128 " "$exact_a is recorded exactly ($exact_k)"
    is "$(echo "$exact_k" | wc -w | tr -d ' ')" 1 "as one key"
    check "it grants $exact_a" granted "$exact_a"
    for exact_n in "$@"; do
        check "it does not grant $exact_n" refused "$exact_n"
    done
}
diag "exact: Teredo, link-local, loopback, ISATAP, discard-only"
exact 2001:0:4136:e378:8000:63bf:3fff:fdd2 2001:0:4136:e378:8000:63bf:3fff:fdd3 \
    2001:0:4136:e378::1
exact 2001:2::1 2001:2::2
exact fe80::1 fe80::2 fe80::1:1
exact ::1 ::2 ::1:0:0:1
exact 2001:db8:1:2:0:5efe:c000:207 2001:db8:1:2:0:5efe:c000:208 2001:db8:1:2::1
exact 2001:db8:1:2:200:5efe:c000:207 2001:db8:1:2:200:5efe:c000:208
exact 100::1 100::2

# ---- never -----------------------------------------------------------------------------------
diag "never an allowance: ::, multicast, and IPv4 0/8, 224/4, broadcast (also embedded)"
for a in :: ff02::1 ff0e::1 0.0.0.0 224.0.0.1 255.255.255.255 64:ff9b::e000:1 ::ffff:0:0.0.0.5; do
    fresh
    is "$(login $a)" next "a login from $a goes on"
    is "$(keys)" "" "nothing is recorded for $a"
    is "$(warnings)" 1 "one warning for $a"
done

# ---- ordinary --------------------------------------------------------------------------------
diag "ordinary addresses keep their /64"
fresh
login 2001:db8:1:2::1 >/dev/null
is "$(keys)" "2001:db8:1:2::_64 " "2001:db8:1:2::1 records its /64"
check "which grants 2001:db8:1:2::9" granted 2001:db8:1:2::9
check "and not 2001:db8:1:3::1" refused 2001:db8:1:3::1
fresh
login fd00:1:2:3::4 >/dev/null
is "$(keys)" "fd00:1:2:3::_64 " "a unique-local address records its /64"

# ---- the prefix floor ------------------------------------------------------------------------
diag "RELAY_IPV6_PREFIX below 48"
for v in 6 47 0; do
    fresh
    login 2001:db8:1:2::1 RELAY_IPV6_PREFIX=$v >/dev/null
    is "$(keys)" "2001:db8:1:2::1_128 " "RELAY_IPV6_PREFIX=$v keys by /128"
    is "$(warnings)" 1 "with one warning"
    check "relay-check grants the host" granted 2001:db8:1:2::1 RELAY_IPV6_PREFIX=$v
    check "and not its neighbour" refused 2001:db8:1:2::9 RELAY_IPV6_PREFIX=$v
done
fresh
login 2001:db8:1:2::1 RELAY_IPV6_PREFIX=48 >/dev/null
is "$(keys)" "2001:db8:1::_48 " "RELAY_IPV6_PREFIX=48 is allowed"

# ---- stale keys ------------------------------------------------------------------------------
diag "records under keys the policy no longer makes grant nothing"
fresh
for k in 64:ff9b::_64 fe80::_64 ::_64 2001::_64 ff02::_64 64:ff9b::c000:207_128; do
    printf 'relaylease1 %s bob\n' "$k" >"$store/$k"
done
for a in 64:ff9b::c000:208 64:ff9b::1:0:0 fe80::2 ::2 2001::1 ff02::1 64:ff9b::c000:207; do
    check "$a is not granted by an old record" refused $a
done
"$RELAY_BIN/relay-expire" -l >"$SCRATCH/list" 2>"$err"
is "$(sed 1d "$SCRATCH/list")" "" "relay-expire -l lists none of them as an allowance"
is "$(grep -c 'is under a key the current settings never look up: it grants nothing' "$err")" 6 \
    "relay-expire -l says of each that it grants nothing"

# ---- relay-session ---------------------------------------------------------------------------
diag "relay-session keys the same"
fresh
is "$(session 64:ff9b::c000:207)" next "a login through relay-session goes on"
is "$(keys)" "192.0.2.7 " "64:ff9b::c000:207 records 192.0.2.7"
fresh
session fe80::1 >/dev/null
is "$(keys)" "fe80::1_128 " "fe80::1 records fe80::1_128"
fresh
session 2001:db8:1:2::1 >/dev/null
is "$(keys)" "2001:db8:1:2::_64 " "2001:db8:1:2::1 records its /64"
fresh
session 2001:db8:64::c000:207 RELAY_NAT64_PREFIX=2001:db8:64::/96 >/dev/null
is "$(keys)" "192.0.2.7 " "an operator NAT64 address records its IPv4 host"
fresh
is "$(session ff02::1)" next "a login from ff02::1 through relay-session goes on"
is "$(keys)" "" "and records nothing"
is "$(grep -c '^relay-session: warning' "$err")" 1 "relay-session warns once"

# ---- relay-import-opensmtp -------------------------------------------------------------------
diag "relay-import-opensmtp keys the same"
fresh
now=$(date +%s)
tab=$(printf '\t')
cat >"$SCRATCH/open-smtp" <<EOF
64:ff9b::c000:207:allow,RELAYCLIENT=""$tab$((now - 10))
fe80::1:allow,RELAYCLIENT=""$tab$((now - 10))
2001:0:4136:e378:8000:63bf:3fff:fdd2:allow,RELAYCLIENT=""$tab$((now - 10))
2001:db8:1:2::7:allow,RELAYCLIENT=""$tab$((now - 10))
2001:db8:64::c000:208:allow,RELAYCLIENT=""$tab$((now - 10))
ff02::1:allow,RELAYCLIENT=""$tab$((now - 10))
0::0:allow,RELAYCLIENT=""$tab$((now - 10))
64:ff9b::e000:1:allow,RELAYCLIENT=""$tab$((now - 10))
EOF
RELAY_NAT64_PREFIX=2001:db8:64::/96 "$RELAY_BIN/relay-import-opensmtp" <"$SCRATCH/open-smtp" \
    >"$SCRATCH/import.out" 2>"$err"
is "$?" 0 "the import exits 0"
is "$(keys)" "192.0.2.7 192.0.2.8 2001:0:4136:e378:8000:63bf:3fff:fdd2_128 2001:db8:1:2::_64 fe80::1_128 " \
    "it keys each line as relay-allow would"
for n in 6 7 8; do
    is "$(grep -c "warning: line $n skipped" "$err")" 1 "line $n (never an allowance) is reported"
done
check "relay-check grants the imported NAT64 client's IPv4 host" granted 192.0.2.7

done_testing
