#!/bin/sh
# bench/policy.sh [--quick]: relay-policy on one connection (issue 11): requests per second
# pipelined, and the median round trip in lockstep (what Postfix's smtpd sees), with 1,000
# and 1,000,000 allowances in a directory store, RELAY_LOG=0 and RELAY_LOG=1 (the lines to a
# file), each against a trivial responder measured in the same run (bench/policy-storm.c).
# Target: >= 100,000 requests/s pipelined. It prints figures; it is not a timed test.
# --quick: 1,000 allowances, a few thousand requests: proves it runs, nothing more.
#
# Environment: RELAY_BIN (relay-policy; default the top of this tree), BENCH_TMP (where the
# stores go; default /dev/shm if it is a tmpfs), BENCH_REPS (rounds, default 5), CC.
# Exit codes: 0 ran (full mode: the target met), 1 the target missed, 100 usage, 111 a
# failure.
set -u
LC_ALL=C
export LC_ALL
here=$(cd "$(dirname "$0")" && pwd) || exit 111
bin=${RELAY_BIN:-$(dirname "$here")}
reps=${BENCH_REPS:-5} sizes="1000 1000000" n=1000000 m=20000
case ${1-} in
--quick) sizes=1000 n=5000 m=500 reps=1 ;;
'') ;;
*)
    echo "usage: bench/policy.sh [--quick]" >&2
    exit 100
    ;;
esac
[ -x "$bin/relay-policy" ] || { echo "policy.sh: fatal: $bin/relay-policy is not built" >&2; exit 111; }
tmp=${BENCH_TMP:-}
[ -n "$tmp" ] || { [ -d /dev/shm ] && tmp=/dev/shm || tmp=${TMPDIR:-/tmp}; }
scratch=$(mktemp -d "$tmp/policy-bench.XXXXXX") || exit 111
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
cc=${CC:-cc}
for t in policy-storm genspool; do
    $cc -std=c11 -O2 -Wall -Wextra -o "$scratch/$t" "$here/$t.c" || exit 111
done

status=0
cpu=$(awk -F': *' '$1 ~ /^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
echo "relaylease benchmarks, relay-policy on one connection$([ "$n" = 5000 ] && echo ' (smoke: the figures mean nothing)')"
echo "machine: $(uname -srm) | cpu: ${cpu:-unknown} | nproc: $(nproc)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC') | commit: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown) | load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for k in $sizes; do
    # Made just before it is used: genspool's fresh records are 0 to 10 minutes old.
    "$scratch/genspool" -e "$scratch/store$k" "$k" >/dev/null || exit 111
    chmod 755 "$scratch/store$k"
    for log in 0 1; do
        echo "== $k allowances, RELAY_LOG=$log, $n requests pipelined, $m in lockstep, $reps rounds"
        out=$(RELAY_DIR="$scratch/store$k" RELAY_LOG=$log "$scratch/policy-storm" -k "$k" \
            -n "$n" -m "$m" -r "$reps" -e "$scratch/log" "$bin/relay-policy") || exit 111
        rm -f "$scratch/log"
        printf '%s\n' "$out"
        rate=$(printf '%s\n' "$out" | sed -n 's/^pipelined relay-policy: \([0-9]*\) req.*/\1/p')
        [ -z "${1-}" ] && [ "${rate:-0}" -lt 100000 ] && status=1
    done
    rm -rf "$scratch/store$k"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
