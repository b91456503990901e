#!/bin/sh
# bench/cdb.sh [--quick]: cdb mode's benchmarks (issue 4). They print figures; they are not
# timed tests.
#   1. One build: relay-cdb on 1,000 static rules with 100,000 fresh allowances in the store,
#      against tcprules on the equivalent 101,000-line rules file (the allowances written as
#      "IP:allow,RELAYCLIENT=\"\"" lines, as vpopmail's open-smtp merge would). The build
#      timed against the target is the one a login triggers: relay-cdb -i, from the snapshot
#      of the 100,000 allowances and a journal of 100 logins (made by relay-allow before each
#      run). The full rescan of the store (relay-cdb with no option, as relay-expire's build
#      after its sweep reads the store) is printed too, for the record. Median of BENCH_REPS
#      runs each, alternating; target: ratio <= 1.0 for the login's build. The cdbs are
#      checked to hold the same records as tcprules' first.
#   2. A login storm: 200 logins a second for 30 s through relay-allow in cdb mode (on top of
#      the same 100,000 allowances): rebuilds per second, the slowest login, and the delay from
#      a login to its address being in the cdb; target: worst <= 1.5 s.
# --quick: 2,000 allowances, 3 runs, a 3 s storm: proves the benchmark runs, nothing more.
#
# Environment: RELAY_BIN (relay-allow, relay-cdb; default the top of this tree), BENCH_TMP
# (where the store goes; default /dev/shm if it is a tmpfs), BENCH_REPS (default 7), CC.
# Exit codes: 0 ran (and in full mode met both targets), 1 a target was missed, 100 usage,
# 111 a benchmark broke or could not be set up.
set -u
LC_ALL=C
export LC_ALL
here=$(cd "$(dirname "$0")" && pwd) || exit 111
bin=${RELAY_BIN:-$(dirname "$here")}

allowances=100000 reps=${BENCH_REPS:-7} rate=200 seconds=30
case ${1-} in
--quick) allowances=2000 reps=3 seconds=3 ;;
'') ;;
*)
    echo "usage: bench/cdb.sh [--quick]" >&2
    exit 100
    ;;
esac

fail() {
    echo "bench/cdb.sh: fatal: $*" >&2
    exit 111
}
for p in relay-cdb relay-allow; do
    [ -x "$bin/$p" ] || fail "$bin/$p is not built"
done
command -v tcprules >/dev/null 2>&1 || fail "tcprules is not installed (ucspi-tcp-ipv6)"
command -v flock >/dev/null 2>&1 || fail "flock is not installed (util-linux)"

base=${BENCH_TMP:-}
if [ -z "$base" ]; then
    base=/tmp
    [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && base=/dev/shm
fi
work=$(mktemp -d "$base/relaylease-cdb.XXXXXX") || fail "unable to make a scratch directory"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

${CC:-cc} -O2 -o "$work/cdb-storm" "$here/cdb-storm.c" -lcdb || fail "unable to build cdb-storm"

# ---- the inputs ----
awk 'BEGIN { for (i = 0; i < 999; i++) printf "172.%d.%d.:allow,X=\"r%d\"\n", i / 256, i % 256, i
             print ":allow" }' >"$work/rules.txt"
awk -v n="$allowances" 'BEGIN { for (i = 0; i < n; i++)
        printf "10.%d.%d.%d:allow,RELAYCLIENT=\"\"\n", i / 65536, (i / 256) % 256, i % 256 }' \
    >"$work/equivalent.txt"
cat "$work/rules.txt" >>"$work/equivalent.txt"
"$work/cdb-storm" -g "$work/store" "$allowances" || fail "unable to make the store"
export RELAY_DIR="$work/store" RELAY_LOG=0 RELAY_EXPIRY=3600

"$bin/relay-cdb" "$work/r.cdb" "$work/r.tmp" <"$work/rules.txt" || fail "relay-cdb failed"
tcprules "$work/t.cdb" "$work/t.tmp" <"$work/equivalent.txt" || fail "tcprules failed"
cdb -d "$work/r.cdb" | sort >"$work/r.dump"
cdb -d "$work/t.cdb" | sort >"$work/t.dump"
cmp -s "$work/r.dump" "$work/t.dump" || fail "the two cdbs do not hold the same records"

# ---- one build ----
elapsed() { # CMD... < input: wall seconds
    s=$(date +%s%N)
    "$@" || fail "$1 failed"
    echo "$s $(date +%s%N)" | awk '{ printf "%.4f\n", ($2 - $1) / 1e9 }'
}
median() {
    sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
# logins N: N logins from clients in the store (refreshes, so that the store stays the
# equivalent of tcprules' file), in cdb mode. This script holds the builder's lock (fd 9), as
# a running builder would: the logins append their keys to the journal and start no builder,
# and nothing but the timed program runs while it is timed.
logins() {
    n=0
    while [ "$n" -lt "$1" ]; do
        TCPREMOTEIP=10.0.$((n / 256)).$((n % 256)) RELAY_CDB="$work/i.cdb" \
            RELAY_CDB_RULES="$work/rules.txt" RELAY_CDB_PROG=false "$bin/relay-allow" true ||
            fail "relay-allow failed"
        n=$((n + 1))
    done
}
min() {
    sort -n | head -n 1
}
journal=100
exec 9>"$work/i.cdb.lock"
flock -n 9 || fail "unable to lock $work/i.cdb.lock"
"$bin/relay-cdb" -s "$work/i.cdb" "$work/i.tmp" <"$work/rules.txt" || fail "relay-cdb -s failed"
: >"$work/i.times"
: >"$work/r.times"
: >"$work/t.times"
i=0
while [ "$i" -lt "$reps" ]; do
    logins "$journal"
    [ "$(wc -l <"$work/i.cdb.journal")" -eq "$journal" ] || fail "the logins did not fill the journal"
    elapsed "$bin/relay-cdb" -i "$work/i.cdb" "$work/i.tmp" <"$work/rules.txt" >>"$work/i.times"
    elapsed tcprules "$work/t.cdb" "$work/t.tmp" <"$work/equivalent.txt" >>"$work/t.times"
    elapsed "$bin/relay-cdb" "$work/r.cdb" "$work/r.tmp" <"$work/rules.txt" >>"$work/r.times"
    i=$((i + 1))
done
exec 9>&-
cdb -d "$work/i.cdb" | sort >"$work/i.dump"
cmp -s "$work/i.dump" "$work/t.dump" || fail "the incremental cdb does not hold tcprules' records"
inc=$(median <"$work/i.times")
r=$(median <"$work/r.times")
t=$(median <"$work/t.times")
ratio=$(echo "$inc $t" | awk '{ printf "%.2f", $1 / $2 }')
rratio=$(echo "$r $t" | awk '{ printf "%.2f", $1 / $2 }')
build_ok=$(echo "$ratio" | awk '{ print ($1 <= 1.0) ? "PASS" : "MISS" }')
echo "machine: $(uname -srm), $(nproc) cores; store on $(stat -f -c %T "$work"); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "one build, 999 prefix rules + default + $allowances allowances, median of $reps:"
echo "  relay-cdb -i $inc s, after a login: the snapshot and a journal of $journal logins (runs: $(tr '\n' ' ' <"$work/i.times"))"
echo "  tcprules     $t s on the $(wc -l <"$work/equivalent.txt")-line equivalent (runs: $(tr '\n' ' ' <"$work/t.times"))"
echo "  ratio $ratio (target <= 1.0) $build_ok; fastest runs: $(min <"$work/i.times") s against $(min <"$work/t.times") s"
echo "  relay-cdb    $r s, a full rescan of the store, as after relay-expire's sweep (runs: $(tr '\n' ' ' <"$work/r.times"))"
echo "  full rescan ratio $rratio (no target: once a minute, from cron)"

# ---- the storm ----
export RELAY_CDB="$work/rules.cdb" RELAY_CDB_RULES="$work/rules.txt" RELAY_CDB_PROG="$bin/relay-cdb"
"$bin/relay-cdb" -s "$RELAY_CDB" "$RELAY_CDB.tmp" <"$work/rules.txt" || fail "relay-cdb failed"
echo "login storm, $rate logins/s for $seconds s, on top of $allowances allowances:"
"$work/cdb-storm" -s "$rate" "$seconds" "$RELAY_CDB" "$bin/relay-allow" >"$work/storm.out"
storm_rc=$?
sed 's/^/  /' "$work/storm.out"
[ "$storm_rc" -le 1 ] || fail "the storm broke"
worst=$(sed -n 's/.*worst \([0-9.]*\) s$/\1/p' "$work/storm.out")
storm_ok=$(echo "${worst:-999}" "$storm_rc" | awk '{ print ($1 <= 1.5 && $2 == 0) ? "PASS" : "MISS" }')
echo "  worst login to cdb ${worst:-none} s (target <= 1.5) $storm_ok"
# Let the last builder finish before the store goes away.
sleep 2

[ "${1-}" = --quick ] && exit 0
[ "$build_ok" = PASS ] && [ "$storm_ok" = PASS ] && exit 0
exit 1
