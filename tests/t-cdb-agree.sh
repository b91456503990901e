#!/bin/sh
# t-cdb-agree.sh: the cdb grants exactly what relay-check grants (issue 8, class 2).
#
# For random stores and rules (fixed seeds, printed; CDB_AGREE_SEEDS picks others), build the
# cdb with relay-cdb (no option, and -s), then for each address tried ask Debian's
# tcprulescheck what tcpserver would do with it, and ask relay-check, on the same store and
# settings, whether it would set RELAYCLIENT. The stores hold IPv4 keys, IPv6 keys of several
# prefix lengths (current ones, and stale ones recorded with another prefix or in a range
# that is keyed apart: 64:ff9b::_64, fe80::_64, ::_16 ...), fresh and expired (touch -d).
# The rules allow, deny, set RELAYCLIENT, or set another variable, for exact addresses and
# prefixes of both families. The addresses: IPv4, IPv4-mapped (with RELAY_CDB_V4MAPPED=1,
# as tcpserver -6 shows IPv4 clients), IPv6 inside and just outside the stores' networks,
# ISATAP addresses inside them (both ids, IPv4 parts with zero groups; relay-check keys each
# as itself, and a store may hold one as an allowance of its own),
# special ranges, and the forms that embed an IPv4 address (NAT64, ::a.b.c.d ...).
#
# "Agree" is what a client sees from tcpserver with the cdb, against tcpserver with the same
# static rules (tcprules) and relay-check in front of qmail-smtpd:
#   - a static rule that denies: the cdb denies too; otherwise the cdb never denies;
#   - a static rule that sets RELAYCLIENT: the cdb applies that rule as it is (relay-check
#     leaves a RELAYCLIENT that tcpserver set alone);
#   - otherwise the cdb grants only if relay-check grants, and with the static rule's
#     variables plus RELAYCLIENT; and it grants whenever relay-check grants, except where a
#     tcpserver rule cannot match: an IPv6 network whose "::" falls inside its prefix in the
#     address's text (relay-cdb warns about those networks), a prefix that is not a whole
#     number of groups and too wide to split, or of 48 bits or fewer, whose ISATAP addresses
#     could not be kept out (same), an address that begins with an ISATAP shadow key but is
#     not ISATAP (P:0:0:5efe:x, written "P::5efe:x"), an address whose text ends in ':', and,
#     without RELAY_CDB_V4MAPPED, an IPv6 text that relay-check takes for an IPv4 address
#     (such clients reach only tcpserver -6, which needs RELAY_CDB_V4MAPPED=1).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

need_built relay-cdb relay-check
for p in tcprules tcprulescheck cdb; do
    command -v "$p" >/dev/null 2>&1 || {
        not_ok "$p is installed (ucspi-tcp-ipv6, tinycdb)"
        exit 1
    }
done

seeds=${CDB_AGREE_SEEDS:-"1 2 3 4 5 6"}
addrs_per_seed=${CDB_AGREE_ADDRS:-70}
now=$(date +%s)
export RELAY_LOG=1 RELAY_EXPIRY=900 RELAY_RELAYCLIENT=""
unset RELAY_CDB RELAY_CDB_V4MAPPED RELAY_NAT64_PREFIX TCPREMOTEIP TCP6REMOTEIP PROTO RELAYCLIENT

# gen SEED NOW PREFIX MAPPED NAT64: the store ("S key mtime"), the rules ("R line") and the
# addresses to try ("A text", in tcpserver's text) for one seed.
gen() {
    awk -v seed="$1" -v now="$2" -v P="$3" -v mapped="$4" -v nat64="$5" -v naddr="$addrs_per_seed" '
    function rnd(n) { return int(rand() * n) }
    function hex(v) { return sprintf("%x", v) }
    # 8 groups in g[0..7] as text: the longest zero run of at least minrun groups as "::"
    # (the first on a tie); dotted: ::ffff:a.b.c.d for a mapped address.
    function fmt(g, minrun, dotted,    i, j, best, bestlen, s) {
        if (dotted && g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 && g[5] == 65535)
            return "::ffff:" int(g[6] / 256) "." (g[6] % 256) "." int(g[7] / 256) "." (g[7] % 256)
        best = -1; bestlen = minrun - 1
        for (i = 0; i < 8; ) {
            if (g[i] != 0) { i++; continue }
            for (j = i; j < 8 && g[j] == 0; j++) ;
            if (j - i > bestlen) { best = i; bestlen = j - i }
            i = j
        }
        s = ""
        for (i = 0; i < 8; i++) {
            if (i == best) { s = s (i == 0 ? "::" : ":"); i += bestlen - 1; continue }
            s = s hex(g[i]) (i < 7 ? ":" : "")
        }
        return s
    }
    function mask(g, bits,    i, c) {
        for (i = 0; i < 8; i++) {
            c = bits - 16 * i; if (c < 0) c = 0; if (c > 16) c = 16
            g[i] = g[i] - g[i] % (2 ^ (16 - c))
        }
    }
    function put(g, k,    i) { for (i = 0; i < 8; i++) nets[k * 8 + i] = g[i] }
    function get(k, g,    i) { for (i = 0; i < 8; i++) g[i] = nets[k * 8 + i] }
    function somegroup(   r) { r = rnd(5); return r < 2 ? 0 : r == 2 ? 1 : r == 3 ? rnd(16) : rnd(65536) }
    # a random address of the network n/bits, or just outside it (out: the last prefix bit
    # flipped)
    function member(n, bits, out, a,    i, c, v, b) {
        for (i = 0; i < 8; i++) {
            c = bits - 16 * i; if (c < 0) c = 0; if (c > 16) c = 16
            v = somegroup() % (2 ^ (16 - c))
            a[i] = n[i] - n[i] % (2 ^ (16 - c)) + v
        }
        if (out && bits > 0) {
            i = int((bits - 1) / 16); b = 2 ^ (15 - (bits - 1) % 16)
            if (int(a[i] / b) % 2) a[i] -= b; else a[i] += b
        }
    }
    # make a[] an ISATAP address (RFC 5214) of its /64: either id, an IPv4 address whose
    # groups are often zero, so that tcpserver writes its "::" in every place
    function isatap(a,    r) {
        a[4] = rnd(2) * 512; a[5] = 24318
        r = rnd(6)
        a[6] = r < 2 ? 0 : r < 3 ? 49152 : rnd(65536); a[7] = rnd(3) == 0 ? 0 : rnd(3) == 0 ? 5 : rnd(65536)
    }
    function v4text(x) { return int(x / 16777216) "." int(x / 65536) % 256 "." int(x / 256) % 256 "." x % 256 }
    # the forms of the IPv4 address x (a number) that embed it, as texts
    function embeds(x,    g, hi, lo) {
        hi = int(x / 65536); lo = x % 65536
        g[0]=0; g[1]=0; g[2]=0; g[3]=0; g[4]=0; g[5]=65535; g[6]=hi; g[7]=lo
        if (mapped) tried(fmt(g, 1, 1))
        g[0]=100; g[1]=65435; g[5]=0; tried(fmt(g, 1, 1))                    # 64:ff9b::/96
        g[0]=0; g[1]=0; tried(fmt(g, 1, 1))                                  # ::a.b.c.d
        g[4]=65535; tried(fmt(g, 1, 1))                                      # ::ffff:0:a.b.c.d
        g[0]=100; g[1]=65435; g[2]=1; g[3]=hi; g[4]=int(lo / 256); g[5]=(lo % 256) * 256; g[6]=0; g[7]=0
        tried(fmt(g, 1, 1))                                                  # 64:ff9b:1::/48
        g[0]=8193; g[1]=3512; g[2]=100; g[3]=0; g[4]=0; g[5]=0; g[6]=hi; g[7]=lo
        tried(fmt(g, 1, 1))                                                  # 2001:db8:64::/96
    }
    function tried(t) { if (!(t in seen)) { seen[t] = 1; print "A " t; nt++ } }
    function rule(addr,    r) {
        r = rnd(8)
        if (r < 2) print "R " addr ":deny"
        else if (r < 3) print "R " addr ":allow,RELAYCLIENT=\"@static\""
        else if (r < 6) print "R " addr ":allow,X=\"" rnd(100) "\""
        else print "R " addr ":allow"
    }
    # a prefix of text t that ends in ":" or ".", for a prefix rule
    function prefix_of(t,    n, i, cut) {
        n = 0
        for (i = 1; i < length(t); i++)
            if (substr(t, i, 1) == ":" || substr(t, i, 1) == ".") cut[++n] = i
        return n ? substr(t, 1, cut[1 + rnd(n)]) : t
    }
    BEGIN {
        srand(seed)
        nv4 = 0
        # IPv4: a few neighbours, so that prefix rules and allowances meet
        for (i = 0; i < 6; i++) {
            x = (rnd(2) ? 10 * 16777216 + rnd(2) * 256 : 192 * 16777216 + 2 * 256) + rnd(8)
            if (i == 0 && rnd(3) == 0) x = 1   # 0.0.0.1: ::0.0.0.1 is ::1, loopback
            v4[nv4++] = x
            print "S " v4text(x) " " (rnd(4) ? now - rnd(600) : now - 2000)
        }
        # IPv6 networks: current ones (P), stale widths, special ranges
        nn = 0
        for (i = 0; i < 7; i++) {
            g[0] = 8193; g[1] = 3512; g[2] = rnd(3); g[3] = rnd(3); g[4] = rnd(2); g[5] = rnd(2) * 5; g[6] = 0; g[7] = rnd(3)
            r = rnd(10)
            bits = r < 5 ? P : r < 7 ? 48 : r < 8 ? 56 : r < 9 ? 60 : 128
            mask(g, bits); put(g, nn); nbits[nn] = bits; nn++
        }
        split("0:0:0:0:0:0:0:0:16 100:65435:0:0:0:0:0:0:64 65152:0:0:0:0:0:0:0:64 0:0:0:0:0:0:0:1:128 65152:0:0:0:0:0:0:1:128 100:65435:1:0:0:0:0:0:48 0:0:0:0:0:0:0:0:64 8194:49152:519:0:0:0:0:0:48 65282:0:0:0:0:0:0:1:128", sp, " ")
        for (i = 1; i <= 9; i++) {
            if (i > 1 && rnd(2)) continue
            split(sp[i], q, ":")
            for (j = 0; j < 8; j++) nets[nn * 8 + j] = q[j + 1] + 0
            nbits[nn] = q[9] + 0
            nn++
        }
        # an ISATAP address (keyed apart, as itself) inside the first network, at times
        if (rnd(2)) { get(0, g); isatap(g); put(g, nn); nbits[nn] = 128; nn++ }
        for (i = 0; i < nn; i++) {
            get(i, g)
            print "S " fmt(g, 2, 0) "_" nbits[i] " " (rnd(4) ? now - rnd(600) : now - 2000)
        }
        # rules
        for (i = 0; i < 10; i++) {
            r = rnd(4)
            if (r == 0) rule(v4text(v4[rnd(nv4)]))
            else if (r == 1) rule(prefix_of(v4text(v4[rnd(nv4)])))
            else {
                k = rnd(nn); get(k, n); member(n, nbits[k], 0, a)
                t = fmt(a, 1, 1)
                rule(r == 2 ? t : prefix_of(t))
            }
        }
        if (mapped) for (i = 0; i < 2; i++) rule(prefix_of("::ffff:" v4text(v4[rnd(nv4)])))
        if (rnd(3)) rule("64:ff9b:")
        r = rnd(3)
        if (r == 0) print "R :allow,DEFAULT=\"yes\""
        else if (r == 1) print "R :deny"
        # addresses
        nt = 0
        for (i = 0; i < nv4; i++) {
            tried(v4text(v4[i])); tried(v4text(v4[i] + 1))
            if (mapped) tried("::ffff:" v4text(v4[i] + 1))
            embeds(v4[i])
        }
        split(":: ::1 ::2 fe80::1 fe80::2:3 ff02::1 64:ff9b:: 2002:c000:207:: 0:0:1:: ::ffff:0:0", fixed, " ")
        for (i in fixed) tried(fixed[i])
        # ISATAP clients inside the networks: relay-check keys each as itself, so an
        # allowance for its network must not reach it through the cdb
        for (k = 0; k < nn; k++) {
            if (nbits[k] > 64) continue
            get(k, n)
            for (i = 0; i < 3; i++) { member(n, nbits[k], 0, a); isatap(a); tried(fmt(a, 1, 1)) }
        }
        while (nt < naddr) {
            k = rnd(nn); get(k, n); member(n, nbits[k], rnd(4) == 0, a)
            tried(fmt(a, 1, 1))
            # the same address under other prefixes too: a stale key must not grant
            if (rnd(3) == 0) { a[3] = rnd(3); tried(fmt(a, 1, 1)) }
        }
    }'
}

# settings CMD...: CMD with this round's settings
settings() {
    env RELAY_DIR="$store" RELAY_IPV6_PREFIX="$prefix" RELAY_CDB_V4MAPPED="$mapped" \
        ${nat64:+RELAY_NAT64_PREFIX="$nat64"} "$@"
}

# check_of TEXT: relay-check's log for a client at TEXT (tcpserver's variables), with this
# round's settings (as settings gives them, without the env process: it runs for every address).
check_of() {
    case $1,$nat64 in
    *:*,) RELAY_DIR=$store RELAY_IPV6_PREFIX=$prefix RELAY_CDB_V4MAPPED=$mapped \
        PROTO=TCP6 TCP6REMOTEIP=$1 "$RELAY_BIN/relay-check" true 2>&1 </dev/null ;;
    *:*,*) RELAY_DIR=$store RELAY_IPV6_PREFIX=$prefix RELAY_CDB_V4MAPPED=$mapped \
        RELAY_NAT64_PREFIX=$nat64 PROTO=TCP6 TCP6REMOTEIP=$1 "$RELAY_BIN/relay-check" true \
        2>&1 </dev/null ;;
    *,) RELAY_DIR=$store RELAY_IPV6_PREFIX=$prefix RELAY_CDB_V4MAPPED=$mapped \
        PROTO=TCP TCPREMOTEIP=$1 "$RELAY_BIN/relay-check" true 2>&1 </dev/null ;;
    *) RELAY_DIR=$store RELAY_IPV6_PREFIX=$prefix RELAY_CDB_V4MAPPED=$mapped \
        RELAY_NAT64_PREFIX=$nat64 PROTO=TCP TCPREMOTEIP=$1 "$RELAY_BIN/relay-check" true \
        2>&1 </dev/null ;;
    esac
}

# The loop below runs a few thousand times: these two do in the shell what tr and sed did,
# which saves three processes an address.
# bars TEXT: bars_out, TEXT with each line ended by "|" instead of a newline (tr '\n' '|').
nl='
'
bars() {
    bars_out='' bars_rest=$1$nl
    while [ -n "$bars_rest" ]; do
        bars_out=$bars_out${bars_rest%%"$nl"*}'|'
        bars_rest=${bars_rest#*"$nl"}
    done
}
# granted_key LOG: rkey, the key in relay-check's line "relay-check: granted KEY ..." at the
# start of a line of LOG, or empty.
granted_key() {
    rkey=
    case $nl$1 in
    *"${nl}relay-check: granted "*' '*)
        rkey=${1#*relay-check: granted }
        rkey=${rkey%%[ "$nl"]*}
        ;;
    esac
}

# body OUTPUT: what tcprulescheck said, without the name of the rule it found
body() {
    printf '%s' "$1" | sed 's/^rule [^|]*|//; s/^default:|//'
}

# exempt TEXT KEY: may the cdb miss a grant of relay-check's for this address? (see the top)
exempt() {
    awk -v t="$1" -v key="$2" -v mapped="$3" 'BEGIN {
        if (t ~ /:$/) exit 0
        if (index(key, ":") == 0) exit (mapped || index(t, ":") == 0) ? 1 : 0
        n = split(key, kb, "_"); bits = kb[2] + 0
        if (bits == 128) exit 1
        if (bits <= 48) exit 0
        # under an ISATAP shadow key ("P::5efe:" is also the start of P:0:0:5efe:x)
        if (t ~ /(^|:)(0:|200:|:)5efe:/ || t ~ /^5efe:/) exit 0
        if (bits % 16 >= 1 && bits % 16 <= 7) exit 0
        groups = int((bits + 15) / 16)
        at = index(t, "::")
        if (at == 0) exit 1
        before = at == 1 ? 0 : split(substr(t, 1, at - 1), x, ":")
        exit (before < groups - 1 || (groups == 1 && before == 0)) ? 0 : 1
    }'
}

total=0 disagree=0 exempted=0 granted=0 tried_seeds=
for seed in $seeds; do
    for mapped in 0 1; do
        prefix=$(awk -v s="$seed" 'BEGIN { srand(s); r = rand(); print (r < 0.5 ? 64 : r < 0.8 ? 56 : 48) }')
        nat64=
        [ $((seed % 2)) -eq 0 ] && nat64=2001:db8:64::/96
        dir=$SCRATCH/s$seed-$mapped
        store=$dir/store
        mkdir -p "$store"
        gen "$seed" "$now" "$prefix" "$mapped" "$nat64" >"$dir/gen"
        while read -r kind key mtime; do
            [ "$kind" = S ] || continue
            printf 'relaylease1 %s bob\n' "$key" >"$store/$key"
            touch -d "@$mtime" "$store/$key"
        done <"$dir/gen"
        sed -n 's/^R //p' "$dir/gen" >"$dir/rules.txt"
        {
            tcprules "$dir/static.cdb" "$dir/static.tmp" <"$dir/rules.txt" &&
                settings "$RELAY_BIN/relay-cdb" "$dir/plain.cdb" "$dir/plain.tmp" \
                    <"$dir/rules.txt" 2>"$dir/plain.err" &&
                settings "$RELAY_BIN/relay-cdb" -s "$dir/rules.cdb" "$dir/rules.tmp" \
                    <"$dir/rules.txt" 2>"$dir/s.err"
        } || {
            not_ok "seed $seed mapped=$mapped: the cdbs build"
            cat "$dir/plain.err" "$dir/s.err" | diag
            continue
        }
        if [ "$(cdb -d "$dir/plain.cdb" | sort)" = "$(cdb -d "$dir/rules.cdb" | sort)" ]; then
            :
        else
            not_ok "seed $seed mapped=$mapped: relay-cdb and relay-cdb -s write the same records"
            disagree=$((disagree + 1))
        fi
        n=0 bad=0
        while read -r kind t <&3; do
            [ "$kind" = A ] || continue
            n=$((n + 1))
            s=$(TCPREMOTEIP=$t tcprulescheck "$dir/static.cdb" 2>&1 </dev/null)
            bars "$s"
            s=$bars_out
            c=$(TCPREMOTEIP=$t tcprulescheck "$dir/rules.cdb" 2>&1 </dev/null)
            bars "$c"
            c=$bars_out
            r=$(check_of "$t")
            granted_key "$r"
            why=
            case $s in
            *'deny connection'*)
                case $c in *'deny connection'*) ;; *) why="the static rule denies, the cdb does not" ;; esac
                ;;
            *'set environment variable RELAYCLIENT='*)
                s_body=$(body "$s") c_body=$(body "$c")
                [ "$s_body" = "$c_body" ] || why="the static rule sets RELAYCLIENT, the cdb applies something else"
                ;;
            *)
                case $c in
                *'deny connection'*) why="the cdb denies what the static rule allows" ;;
                *'set environment variable RELAYCLIENT='*)
                    if [ -z "$rkey" ]; then
                        why="the cdb grants, relay-check does not"
                    else
                        granted=$((granted + 1))
                        s_body=$(body "$s")
                        c_body=$(body "$c" | sed 's/set environment variable RELAYCLIENT=|//')
                        [ "$s_body" = "$c_body" ] || why="the cdb's grant lost the static rule's variables"
                    fi
                    ;;
                *)
                    if [ -n "$rkey" ]; then
                        if exempt "$t" "$rkey" "$mapped"; then
                            exempted=$((exempted + 1))
                        else
                            why="relay-check grants ($rkey), the cdb does not"
                        fi
                    fi
                    ;;
                esac
                ;;
            esac
            if [ -n "$why" ]; then
                bad=$((bad + 1))
                [ "$bad" -le 5 ] && diag "seed $seed mapped=$mapped $t: $why" &&
                    diag "  static: $s" && diag "  cdb:    $c" && diag "  check:  $(printf '%s' "$r" | tr '\n' '|')"
            fi
        done 3<"$dir/gen"
        total=$((total + n))
        disagree=$((disagree + bad))
        tried_seeds="$tried_seeds $seed/$mapped:$n"
        if [ "$bad" -eq 0 ]; then
            ok "seed $seed, RELAY_CDB_V4MAPPED=$mapped, RELAY_IPV6_PREFIX=$prefix${nat64:+, NAT64 $nat64}: tcprulescheck and relay-check agree on $n addresses"
        else
            not_ok "seed $seed, RELAY_CDB_V4MAPPED=$mapped, RELAY_IPV6_PREFIX=$prefix: $bad of $n addresses disagree"
            diag "store: $(cd "$store" && printf '%s ' *)"
            diag "rules: $(tr '\n' ' ' <"$dir/rules.txt")"
        fi
    done
done
diag "seeds:$tried_seeds; $total addresses, $granted granted by both, $exempted missed where no tcpserver rule can match"
is "$disagree" 0 "no disagreement"
check "some grants were compared" test "$granted" -gt 20
done_testing
