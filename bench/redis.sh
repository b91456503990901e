#!/bin/sh
# bench/redis.sh [--quick]: the Redis store's benchmarks (issue 10). They print figures; they
# are not timed tests. Real servers, started and stopped by PID in a private directory
# (tests/redis-lib.sh): a primary, its replica (host B's own, over a Unix socket), and three
# sentinels that host A's writers ask for the primary.
#   1. relay-check / true in one run, with each backend: the Redis store (host B: the replica
#      over its Unix socket, AUTH as the SMTP account through RELAY_REDIS_PASSFILE, as
#      deployed), target <= 1.6; the directory store (1,000 records), target <= 1.25.
#      bench/run's loops and medians (bench/lib.sh). relay-check's size on disk, stripped,
#      and its text; its peak RSS granting, with each backend.
#   2. Login on host A to grant on host B: redis-storm.c starts relay-allow (through the
#      sentinels to the primary, as the POP account) 500 times a second for 30 s, and polls
#      relay-check on host B for each login until it grants: the achieved rate, and the p50
#      and p99 of the delay from the login's start to the grant (target p99 <= 50 ms); with
#      1,000 and with 1,000,000 live allowances preloaded (flat is the aim).
#   3. Redis memory per allowance: the primary's INFO used_memory before and after loading N
#      allowances (redis-cli --pipe of SET relaylease:KEY "relaylease2 ..." EX 960), / N, for
#      N = 1,000, 100,000 and 1,000,000.
# --quick, the smoke mode of make check-all: 1,000 and 2,000 allowances, few runs, a storm of
# 50 logins a second for 2 s. Its figures mean nothing; it proves that each benchmark runs:
# every login of the storm was granted on host B, nothing warned, the loads arrived.
#
# Environment: RELAY_BIN (the programs; default the top of this tree), BENCH_OUT (default
# bench/out; the output is copied to redis.txt there, or quick/redis.txt), BENCH_REPS and
# BENCH_RUNS (as bench/run), BENCH_RATE and BENCH_SECONDS (the storm), CC and STATICCC;
# BENCH_BASE_CHECK, the path of a relay-check built from an earlier commit (say, the one before
# the Redis store): its loop on the directory store against this one's, in the same run, and
# its peak RSS and size.
# Needs redis-server, redis-sentinel and redis-cli (Debian's redis-server, redis-sentinel,
# redis-tools), and the test stand-ins (make testprogs: tests/standins/chat finds free ports).
# Exit codes: 0 ran (and in full mode met every target), 1 full mode only: a target was
# missed, 100 usage, 111 a benchmark broke or could not be set up.

# The loops and conditions are shell functions called by name (pair, eventually).
# shellcheck disable=SC2317
set -u
here=$(cd "$(dirname "$0")" && pwd) || exit 111
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
bench_start redis "$@"

if [ "$quick" = 1 ]; then
    reps=${BENCH_REPS:-3} runs=${BENCH_RUNS:-60} warm=5
    rate=${BENCH_RATE:-50} seconds=${BENCH_SECONDS:-2} give_up=60
    sizes="1000 2000" storm_sizes="1000 2000"
else
    reps=${BENCH_REPS:-9} runs=${BENCH_RUNS:-600} warm=30
    rate=${BENCH_RATE:-500} seconds=${BENCH_SECONDS:-30} give_up=10
    sizes="1000 100000 1000000" storm_sizes="1000 1000000"
fi
client=192.0.2.1 # TEST-NET-1: the address whose allowance the relay-check loops find
truebin=/bin/true

for p in redis-server redis-sentinel redis-cli; do
    command -v "$p" >/dev/null 2>&1 || {
        echo "$bench_name: fatal: $p is not installed (Debian's redis-server, redis-sentinel, redis-tools)" >&2
        exit 111
    }
done

# The servers come from the tests' library: each started by PID, in a private directory,
# stopped on exit. It gives SCRATCH (removed on exit), and sets RELAY_BIN.
# shellcheck source-path=SCRIPTDIR source=../tests/lib.sh
. "$top/tests/lib.sh"
bin=$RELAY_BIN
for p in relay-allow relay-check; do
    [ -x "$bin/$p" ] || { echo "$bench_name: fatal: $bin/$p is missing: run make" >&2 && exit 111; }
done
[ -x "$STANDINS/chat" ] || {
    echo "$bench_name: fatal: $STANDINS/chat is missing: run make testprogs" >&2
    exit 111
}
# shellcheck source-path=SCRIPTDIR source=../tests/redis-lib.sh
. "$top/tests/redis-lib.sh"
# Output into a pipe that closes (| head) must stop the servers too: the exit trap does.
trap 'exit 141' PIPE
scratch=$SCRATCH/bench
mkdir -p "$scratch" "$tools" "$out" || die "unable to create $scratch, $tools and $out"
: >"$results" || die "unable to write $results"

build_static execloop || die "unable to build execloop"
build_static nop || die "unable to build nop"
build_static granted || die "unable to build granted"
# shellcheck disable=SC2086 # cflags is a list of flags
$cc $cflags -o "$tools/genspool" "$here/genspool.c" || die "unable to build genspool"
# shellcheck disable=SC2086
$cc $cflags -o "$tools/peakrss" "$here/peakrss.c" || die "unable to build peakrss"
# shellcheck disable=SC2086
$cc $cflags -o "$tools/redis-storm" "$here/redis-storm.c" || die "unable to build redis-storm"

# ---- the hosts ----------------------------------------------------------------------------

redis_cluster r1 || die "the primary, its replica or the sentinels did not start"

# Host A (a POP host) writes through the sentinels as the POP account; host B (an SMTP host)
# reads its replica over the Unix socket as the SMTP account. One word each.
# The smoke mode runs beside the whole suite and fails if a program warns: it gives them the
# longest timeout, so that a busy machine is not taken for a broken benchmark. A full run
# keeps the default (250 ms), as deployed.
timeout=
[ "$quick" = 0 ] || timeout=RELAY_REDIS_TIMEOUT=5000
host_a="RELAY_REDIS_SENTINELS=$REDIS_SENTINELS RELAY_REDIS_MASTER=$REDIS_MASTER
RELAY_REDIS_SENTINEL_PASSFILE=$REDIS_DIR/sentinels.pass
RELAY_REDIS_USER=relaylease-pop RELAY_REDIS_PASSFILE=$REDIS_DIR/pop.pass $timeout"
host_b="RELAY_REDIS=unix:$(redis_sock r1) RELAY_REDIS_USER=relaylease-smtp
RELAY_REDIS_PASSFILE=$REDIS_DIR/smtp.pass $timeout"

# The allowances: N records as relay-allow writes them, for 10.0.0.0 + i, each with its
# login time now and a TTL of 960 s (RELAY_EXPIRY 900 + 60), loaded on the primary with
# redis-cli --pipe as the admin account; then wait until the replica holds as many keys.
keys() { # NAME: DBSIZE of NAME
    redis_admin "$1" DBSIZE | tr -d '\r'
}
replica_has() { # N: the replica holds N keys
    [ "$(keys r1)" = "$1" ]
}
flush() {
    [ "$(redis_admin p FLUSHALL SYNC | tr -d '\r')" = OK ] || die "FLUSHALL failed"
    eventually 120 replica_has 0 || die "the replica kept its keys after FLUSHALL"
}
used_memory() { # NAME
    redis_admin "$1" INFO memory | tr -d '\r' | sed -n 's/^used_memory://p'
}
preload() { # N
    awk -v n="$1" -v t="$(date +%s)" 'BEGIN {
        for (i = 0; i < n; i++) {
            k = sprintf("10.%d.%d.%d", int(i / 65536), int(i / 256) % 256, i % 256)
            key = "relaylease:" k
            v = sprintf("relaylease2 %d %s u%d@example.org\n", t, k, i)
            printf "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$2\r\nEX\r\n$3\r\n960\r\n",
                length(key), key, length(v), v
        } }' >"$scratch/load.resp"
    REDISCLI_AUTH=$(redis_pass admin) redis-cli --user relaylease-admin -s "$(redis_sock p)" \
        --pipe <"$scratch/load.resp" >"$scratch/load.out" 2>&1 ||
        die "redis-cli --pipe failed: $(tail -n 2 "$scratch/load.out")"
    grep -q "errors: 0, replies: $1" "$scratch/load.out" ||
        die "the load of $1 allowances did not go through: $(tail -n 1 "$scratch/load.out")"
    [ "$(keys p)" = "$1" ] || die "the primary holds $(keys p) keys, not $1"
    eventually 300 replica_has "$1" || die "the replica did not get the $1 allowances"
    rm -f "$scratch/load.resp"
}

# Is $client granted on host B? (relay-check as tcpserver runs it, in front of granted.)
granted_b() {
    # shellcheck disable=SC2086 # host B's settings, one word each
    env -i TCPREMOTEIP="$client" $host_b "$bin/relay-check" "$tools/granted" 2>>"$scratch/check.log"
}

# The Redis store's relay-check loop: host B's settings, as in bench/lib.sh's loop_check.
loop_check_redis() {
    # shellcheck disable=SC2086 # host B's settings, one word each
    env -i PATH="$PATH" TCPREMOTEIP="$client" $host_b \
        "$tools/execloop" -n "$runs" -w "$warm" "$bin/relay-check" "$truebin"
}

# The directory loop again, with BENCH_BASE_CHECK (a relay-check built from an earlier commit).
loop_check_base() {
    env -i PATH="$PATH" TCPREMOTEIP="$client" RELAY_DIR="$store" \
        "$tools/execloop" -n "$runs" -w "$warm" "$BENCH_BASE_CHECK" "$truebin"
}

# ---- the run ------------------------------------------------------------------------------

bench_header "the Redis store"
say "redis: $(redis-server --version | sed 's/ sha=.*//; s/^Redis server //'); a primary, its replica, 3 sentinels on this machine"
say "method: relay-check loops as bench/run's: median of $reps repetitions, $runs fork+exec runs per loop after $warm untimed"
[ -z "$static_note" ] || note "$static_note"
[ -z "$timeout" ] || note "smoke mode: $timeout for both hosts"

first=${sizes%% *}
: >"$scratch/memory"
: >"$scratch/storms"
for n in $sizes; do
    label=$(thousands "$n")
    flush
    before=$(used_memory p)
    preload "$n"
    after=$(used_memory p)
    echo "$n $before $after" >>"$scratch/memory"

    if [ "$n" = "$first" ]; then
        say ""
        say "$(printf '%-46s %8s   %-9s %s' figure measured target result)"
        # The directory store of bench/run, at 1,000 records.
        store=$scratch/store
        "$tools/genspool" "$store" 1000 >/dev/null || die "unable to make a store of 1000 records"
        env -i TCPREMOTEIP="$client" USER=bench RELAY_DIR="$store" RELAY_LOG=0 "$bin/relay-allow" ||
            die "relay-allow failed to record $client in the directory store"
        env -i TCPREMOTEIP="$client" RELAY_DIR="$store" RELAY_LOG=0 "$bin/relay-check" "$tools/granted" ||
            die "relay-check did not grant $client from the directory store"
        # The Redis store: $client's login on host A, granted on host B.
        # shellcheck disable=SC2086 # host A's settings, one word each
        env -i TCPREMOTEIP="$client" USER=bench RELAY_LOG=0 $host_a "$bin/relay-allow" \
            2>"$scratch/allow.log" || die "relay-allow failed on host A"
        [ ! -s "$scratch/allow.log" ] || die "relay-allow on host A: $(head -n 1 "$scratch/allow.log")"
        eventually 60 granted_b || die "relay-check on host B did not grant $client: $(tail -n 1 "$scratch/check.log")"

        pair loop_true loop_check_redis
        figure "relay-check / true, redis (replica, unix)" "$m_ratio" 1.6 \
            "($(us "$m_subj") us vs $(us "$m_base") us per connection, $(fmt '%+.0f' "$(awk -v a="$m_subj" -v b="$m_base" 'BEGIN { print (a - b) / 1000 }')") us; cpu ratio $m_cpu)"
        pair loop_true loop_check
        figure "relay-check / true, directory, 1,000 records" "$m_ratio" 1.25 \
            "($(us "$m_subj") us vs $(us "$m_base") us per connection, $(fmt '%+.0f' "$(awk -v a="$m_subj" -v b="$m_base" 'BEGIN { print (a - b) / 1000 }')") us; cpu ratio $m_cpu)"
        peak_rss RELAY_DIR="$store"
        figure "relay-check peak RSS, KiB, directory" "$rss" 1024 "(resident at its exec, granting)"
        # shellcheck disable=SC2086 # host B's settings, one word each
        peak_rss $host_b
        figure "relay-check peak RSS, KiB, redis" "$rss" 1024 "(resident at its exec, granting)"
        if [ -n "${BENCH_BASE_CHECK:-}" ]; then
            # The same loop with a relay-check built before the Redis store, in the same run.
            pair loop_check_base loop_check
            say "$(printf '%-46s %8s   %-9s %s' "relay-check / the base's, directory" "$m_ratio" '' \
                "($(us "$m_subj") us vs $(us "$m_base") us per connection; cpu ratio $m_cpu; base: $BENCH_BASE_CHECK)")"
            base_bin=$bin
            bin=$(dirname "$BENCH_BASE_CHECK")
            [ "$(basename "$BENCH_BASE_CHECK")" = relay-check ] || die "BENCH_BASE_CHECK must name a file relay-check"
            peak_rss RELAY_DIR="$store"
            bin=$base_bin
            say "$(printf '%-46s %8s' "the base's peak RSS, KiB, directory" "$rss")"
            say "the base's binary: $(thousands "$(wc -c <"$BENCH_BASE_CHECK")") bytes as built; text $(thousands "$(size "$BENCH_BASE_CHECK" | awk 'NR == 2 { print $1 }')") bytes"
        fi
        size=$(wc -c <"$bin/relay-check")
        stripped=-
        if command -v strip >/dev/null 2>&1 && strip -o "$scratch/relay-check.stripped" "$bin/relay-check" 2>/dev/null; then
            stripped=$(wc -c <"$scratch/relay-check.stripped")
        fi
        text=-
        if command -v size >/dev/null 2>&1; then
            text=$(size "$bin/relay-check" | awk 'NR == 2 { print $1 }')
        fi
        say "relay-check binary: $(thousands "$size") bytes as built, $(thousands "$stripped") stripped; text $(thousands "$text") bytes ($(fmt '%.1f' "$(awk -v t="$text" 'BEGIN { print t / 1024 }')") KiB)"
        rm -rf "$store"
    fi

    case " $storm_sizes " in
    *" $n "*)
        say ""
        say "login on host A to grant on host B, $rate logins/s for $seconds s, $label live allowances:"
        : >"$scratch/storm.log"
        # shellcheck disable=SC2046,SC2086 # host A's and B's settings, one word each
        "$tools/redis-storm" -r "$rate" -s "$seconds" -g "$give_up" -l "$scratch/storm.log" \
            -u -a RELAY_LOG=0 $(printf ' -a %s' $host_a) \
            -c RELAY_LOG=0 $(printf ' -c %s' $host_b) \
            "$bin/relay-allow" "$tools/nop" "$bin/relay-check" "$tools/granted" \
            >"$scratch/storm.out" || die "redis-storm broke"
        grep -v '^result ' "$scratch/storm.out" | while read -r l; do say "  $l"; done
        warnings=$(grep -c . "$scratch/storm.log")
        say "  warnings from relay-allow and relay-check: $warnings$([ "$warnings" -gt 0 ] && echo ", the first: $(head -n 1 "$scratch/storm.log")")"
        # shellcheck disable=SC2046 # the words of the result line
        set -- $(sed -n 's/^result //p' "$scratch/storm.out")
        [ $# -eq 6 ] || die "redis-storm printed no result"
        if [ "$quick" = 1 ]; then
            [ "$5" = 0 ] || die "$5 logins were never granted on host B"
            [ "$6" = 0 ] || die "relay-allow failed $6 times"
            [ "$warnings" = 0 ] || die "relay-allow or relay-check warned: $(head -n 1 "$scratch/storm.log")"
        fi
        figure "login to grant p99 ms, $label allowances" "$3" 50 \
            "(p50 $2 ms; achieved $1 logins/s; never granted $5)"
        # A login never granted is left out of the percentiles: the figure means little then.
        if [ "$5" != 0 ]; then
            misses=$((misses + 1))
            note "$5 logins were never granted on host B: the p99 above leaves them out"
        fi
        echo "$n $1 $2 $3 $4 $5" >>"$scratch/storms"
        ;;
    esac
done

say ""
say "redis memory per allowance (the primary's INFO used_memory, before and after the load):"
say "$(printf '%12s %14s %14s %12s' allowances 'before, bytes' 'after, bytes' 'bytes each')"
while read -r n b a; do
    say "$(printf '%12s %14s %14s %12s' "$(thousands "$n")" "$(thousands "$b")" "$(thousands "$a")" \
        "$(fmt '%.0f' "$(awk -v n="$n" -v b="$b" -v a="$a" 'BEGIN { print (a - b) / n }')")")"
done <"$scratch/memory"
note "each record: relaylease2, a login time, the key 10.x.y.z, a user u<i>@example.org; EX 960"

awk 'NR == 1 { n0 = $1; p0 = $4 } { n = $1; p = $4 }
     END { if (NR > 1 && p0 > 0) printf "login to grant p99 at %d / at %d: %.2f (flat is 1)\n", n, n0, p / p0 }' \
    "$scratch/storms" | while read -r l; do say "$l"; done
say ""
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
note "written: redis.txt in bench/out$([ "$quick" = 1 ] && echo /quick) (or BENCH_OUT)"
if [ "$misses" -gt 0 ]; then
    say "$misses target(s) missed"
    exit 1
fi
exit 0
