# bench/lib.sh: what the benchmark scripts share. Source it; do not run it.
# shellcheck shell=sh
#
# The caller sets: here (bench/), tools (where the helpers are built), results (the file
# every line of output is copied to), scratch (a private directory), reps, runs and warm (the
# repetitions, and the timed and untimed runs of each loop), quick (1 in smoke mode),
# misses (counted by figure), truebin; bench_name (for messages; default bench). bench_start
# sets most of them for bench/NAME.sh.
#
#   bench_start NAME ARGS...  the start of bench/NAME.sh: its --quick, its output files
#   bench_header WHAT         the first lines of the output: the run, the machine, the commit
#   die, say, note            a fatal line (exit 111); a line of output; a comment line
#   build_static NAME         bench/NAME.c built small and static into $tools
#   median COL FILE, fmt, us, ms, thousands
#   figure NAME VALUE LIMIT DETAIL
#   pair BASE SUBJECT         the interleaved repetitions of two loops, and their medians
#   loop ARGS..., loop_true   execloop with a small fixed environment
#   loop_check, peak_rss      relay-check's loop on the directory store; its peak RSS
# The loops are shell functions called by name through pair().
# shellcheck disable=SC2317
# shellcheck disable=SC2034 # static_note, m_*, bench_start's: read by the caller
# shellcheck disable=SC2154 # the caller's variables, listed above

# bench_start NAME ARGS...: the start of bench/NAME.sh, given its arguments: none (the full
# run) or --quick (the smoke mode: quick=1), anything else a usage error (exit 100). Sets
# LC_ALL (exported), top (the source tree), quick, mode (full or quick), out (BENCH_OUT,
# default bench/out, or its quick/), tools (where the helpers are built), results
# ($out/NAME.txt), bench_name and misses.
bench_start() {
    LC_ALL=C
    export LC_ALL
    top=$(dirname "$here")
    bench_name=bench/$1.sh
    results=$1.txt
    shift
    quick=0 mode=full
    case $#:${1-} in
    0:) ;;
    1:--quick) quick=1 mode=quick ;;
    *) echo "usage: $bench_name [--quick]" >&2 && exit 100 ;;
    esac
    out=${BENCH_OUT:-$here/out}
    [ "$quick" = 0 ] || out=$out/quick
    tools=${BENCH_OUT:-$here/out}/bin
    results=$out/$results
    misses=0
}

# bench_header WHAT: the output's first lines: what runs (relaylease's benchmarks, of WHAT if
# it is not empty), in which mode, on what machine, when, from which commit. Sets cpu.
bench_header() {
    cpu=$(awk -F': *' '$1 ~ /^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
    [ -n "$cpu" ] || cpu=unknown
    commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null) || commit=unknown
    say "relaylease benchmarks, ${1:+$1, }$mode mode$([ "$quick" = 1 ] && echo ' (smoke: the figures mean nothing)')"
    say "machine: $(uname -srm) | cpu: $cpu | nproc: $(nproc)"
    say "date: $(date -u '+%Y-%m-%d %H:%M UTC') | commit: $commit | load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

die() {
    echo "${bench_name:-bench}: fatal: $*" >&2
    [ ! -f "$results" ] || echo "# ${bench_name:-bench}: fatal: $*" >>"$results"
    exit 111
}

say() {
    printf '%s\n' "$*"
    printf '%s\n' "$*" >>"$results"
}

note() {
    say "# $*"
}

# The driver and the program relay-check execs for the RSS figure are static and small (see
# execloop.c); without musl they are built static with cc, and failing that dynamic.
cc=${CC:-cc}
scc=${STATICCC:-musl-gcc}
cflags="-std=c11 -O2 -Wall -Wextra -Werror"
static_note=''
build_static() { # name
    # shellcheck disable=SC2086 # cflags is a list of flags
    command -v "$scc" >/dev/null 2>&1 && $scc $cflags -static -o "$tools/$1" "$here/$1.c" 2>/dev/null && return 0
    # shellcheck disable=SC2086
    $cc $cflags -static -o "$tools/$1" "$here/$1.c" 2>/dev/null && {
        static_note="helpers linked statically with $cc ($scc not found)"
        return 0
    }
    # shellcheck disable=SC2086
    $cc $cflags -o "$tools/$1" "$here/$1.c" || return 1
    static_note="helpers linked dynamically: ru_maxrss and fork costs include the driver's size"
}
# Median of column $1 of file $2.
median() {
    awk -v c="$1" '{ print $c }' "$2" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
fmt() { # printf format, number
    awk -v f="$1" -v v="$2" 'BEGIN { printf f, v }'
}
us() { fmt '%.0f' "$(awk -v v="$1" 'BEGIN { print v / 1000 }')"; }
ms() { fmt '%.1f' "$(awk -v v="$1" 'BEGIN { print v / 1000000 }')"; }
thousands() {
    awk -v n="$1" 'BEGIN { s = n ""; o = ""; while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) } print s o }'
}

# figure NAME VALUE LIMIT DETAIL: one line with the figure, its target (<= LIMIT) and verdict.
figure() {
    verdict=$(awk -v v="$2" -v t="$3" 'BEGIN { print (v + 0 <= t + 0) ? "PASS" : "MISS" }')
    [ "$verdict" = PASS ] || [ "$quick" = 1 ] || misses=$((misses + 1))
    line=$(printf '%-46s %8s   <= %-6s %s' "$1" "$2" "$3" "$verdict")
    say "$line  $4"
}

# pair BASE SUBJECT: run the two loops (shell functions that print execloop's line) one after
# the other, reps times. Sets m_base and m_subj (median ns per run), m_ratio (median of the
# per-repetition ratios, so that a slow moment of the machine hits both sides of a ratio),
# m_cpu (the same ratio of the CPU time the runs used: steadier on a shared machine, where
# a neighbour's load stretches wall time).
pair() {
    : >"$scratch/pairs"
    rep=0
    while [ "$rep" -lt "$reps" ]; do
        b=$($1) || die "$1 broke"
        s=$($2) || die "$2 broke"
        echo "$b $s" | awk '{ print $0, $4 / $1, $6 / $3 }' >>"$scratch/pairs"
        rep=$((rep + 1))
    done
    m_base=$(median 1 "$scratch/pairs")
    m_subj=$(median 4 "$scratch/pairs")
    m_ratio=$(fmt '%.3f' "$(median 7 "$scratch/pairs")")
    m_cpu=$(fmt '%.2f' "$(median 8 "$scratch/pairs")")
}

loop() { # execloop options and program: run with a small fixed environment
    env -i PATH="$PATH" "$tools/execloop" -n "$runs" -w "$warm" "$@"
}
loop_true() { loop "$truebin"; }

# The directory store's relay-check loop: $store holds a fresh allowance for $client.
loop_check() {
    env -i PATH="$PATH" TCPREMOTEIP="$client" RELAY_DIR="$store" \
        "$tools/execloop" -n "$runs" -w "$warm" "$bin/relay-check" "$truebin"
}

# peak_rss VAR=value...: sets rss to relay-check's peak resident memory (KiB, see
# peakrss.c), granting $client with the store the settings name; the largest of 5 runs.
peak_rss() {
    rss=0
    i=0
    while [ "$i" -lt 5 ]; do
        r=$(env -i TCPREMOTEIP="$client" "$@" "$tools/peakrss" \
            "$bin/relay-check" "$tools/nop" 2>/dev/null) || die "peakrss of relay-check broke"
        r=${r%% *}
        [ "$r" -le "$rss" ] || rss=$r
        i=$((i + 1))
    done
}
