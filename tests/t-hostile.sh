#!/bin/sh
# t-hostile.sh: hostile input through the real programs, one TAP line per input.
#   A representative few of each class, the worst ones: addresses (octal and short forms, a
#   zone id, a path, newlines, control and high bytes, 5,000 bytes, empty), user names
#   (newline, parentheses, 5,000 bytes, a printf format), store files (NUL inside, 1 MiB,
#   4 GiB sparse, a directory, a FIFO, symlinks out of the store, forged relay-ctrl entries,
#   a date in the future), the store directory and its lock file, and an invalid value of
#   each setting. Every vector of every class, and more, goes through the parsers themselves
#   in tests/unit-hostile.c, where it costs microseconds; this file keeps what only a whole
#   program shows.
# For each input:
#   relay-check: grants only where the input is legitimately valid; exits through the next
#     program (no signal, no hang: every run is under timeout); stderr holds only its own
#     one-line diagnostics and no sanitizer report; the next program's environment differs
#     from the same environment without relay-check in RELAYCLIENT and TCPREMOTEINFO only;
#     nothing in the scratch directory changes.
#   relay-allow: always execs the next program, with its environment unchanged; writes only
#     the client's record in the store (or nothing), and nothing outside the store.
# The programs run with a clean environment (env -i) and the variables under test only.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

need_programs

W=$SCRATCH/w         # everything the programs could touch; listed before and after each run
store=$W/store       # the store
out=$SCRATCH/out     # this test's own files
mkdir -p "$store" "$W/cwd/store" "$W/outside/dir" "$out" || exit 111
chmod 755 "$store"
base_path=/usr/local/bin:/usr/bin:/bin
inputs=0

# ---- helpers ---------------------------------------------------------------------------------

# str FORMAT [ARG...]: REPLY is printf's output, trailing newlines kept.
str() {
    # shellcheck disable=SC2059 # the format is the point
    REPLY=$(printf "$@" && printf X)
    REPLY=${REPLY%X}
}

# repeat N STRING: REPLY is STRING repeated to N bytes (STRING is one character here).
repeat() {
    REPLY=$(head -c "$1" /dev/zero | tr '\0' "$2")
}

# shown VALUE: a short printable rendering for a TAP line. Most values are short and plain,
# and are shown as they are without a pipeline.
shown() {
    case $1 in
    *[!A-Za-z0-9.:/%@=_-]*) ;;
    *)
        if [ "${#1}" -le 40 ]; then
            printf "'%s'" "$1"
            return
        fi
        ;;
    esac
    lib_n=$(printf '%s' "$1" | wc -c)
    lib_s=$(printf '%s' "$1" | head -c 40 | tr -c '[:graph:] ' '?' | tr '#' '?')
    if [ "$lib_n" -gt 40 ]; then
        printf "'%s...' (%s bytes)" "$lib_s" "$lib_n"
    else
        printf "'%s'" "$lib_s"
    fi
}

# listing: every entry under $W with type, size, mode, mtime and link target.
listing() {
    find "$W" -printf '%P %y %s %m %T@ %l\n' | sort
}
# listing_outside: the same without the store's entries (the store directory's own mtime
# changes with every record written); listing_store: the store's entries only.
listing_outside() {
    find "$W" -path "$store" -prune -o -printf '%P %y %s %m %T@ %l\n' | sort
}
listing_store() {
    find "$store" -mindepth 1 -printf '%P %y %s %m %T@ %l\n' | sort
}

# envdump FILE: the NUL-separated output of env -0, its entries sorted (still NUL-separated:
# a value may hold newlines).
envdump() {
    sort -z <"$1"
}

# bad_stderr PROG FILE: set prob to what is wrong with a program's stderr, if anything: a
# sanitizer report, or a line not from PROG. (The helpers set a variable rather than print,
# which would cost a subshell per run.)
# A sanitizer's lines never start with "PROG: ", so stderr with only PROG's lines is clean:
# one grep for the common case.
bad_stderr() {
    prob=
    grep -v -q "^$1: " "$2" || return 0
    if grep -q -e 'Sanitizer' -e 'runtime error' -e 'LeakSanitizer' "$2"; then
        prob="sanitizer report"
    else
        prob="a stderr line not from $1"
    fi
}

# exit_problem RC: set prob to what is wrong with an exit status, if anything.
exit_problem() {
    prob=
    if [ "$1" -eq 124 ]; then
        prob="hung (killed by timeout)"
    elif [ "$1" -gt 128 ]; then
        prob="killed by signal $(($1 - 128))"
    elif [ "$1" -ne 0 ]; then
        prob="exit $1"
    fi
}

# rc_want, info_want: what a grant must look like for the next hostile_check. rc_want is the
# RELAYCLIENT value; info_want is the TCPREMOTEINFO value, or "-" for "left as it was".
rc_want=
info_want='left alone'

# dir_var: the variable that names the store for the runs below (the test's own variables
# come after it, so they can override it).
dir_var=RELAY_DIR

# hostile_check DESC EXPECT VAR=VALUE...: run relay-check with these variables (and PATH and
# $dir_var=$store unless given) in front of env -0; EXPECT is grant or deny.
hostile_check() {
    hc_desc=$1 hc_expect=$2
    shift 2
    inputs=$((inputs + 1))
    listing >"$out/before"
    (cd "$W/cwd" && env -i PATH="$base_path" "$dir_var=$store" "$@" env -0) >"$out/env.plain"
    (cd "$W/cwd" && exec timeout 10 env -i PATH="$base_path" "$dir_var=$store" "$@" \
        "$RELAY_BIN/relay-check" env -0) >"$out/env.check" 2>"$out/err"
    hc_rc=$?
    listing >"$out/after"
    envdump "$out/env.plain" >"$out/e1"
    envdump "$out/env.check" >"$out/e2"
    # The names of the entries in one environment and not the other (a changed variable's
    # name comes twice).
    hc_changed=$(comm -z -3 "$out/e1" "$out/e2" | sed -z 's/^\t//; s/=.*//' | tr '\0' ' ')
    hc_why=
    exit_problem "$hc_rc"
    [ -z "$prob" ] || hc_why="$hc_why; $prob"
    bad_stderr relay-check "$out/err"
    [ -z "$prob" ] || hc_why="$hc_why; $prob"
    hc_got=deny hc_info=left hc_other=
    for hc_v in $hc_changed; do
        case $hc_v in
        RELAYCLIENT) hc_got=grant ;;
        TCPREMOTEINFO) hc_info=changed ;;
        *) hc_other="$hc_other $hc_v" ;;
        esac
    done
    [ -z "$hc_other" ] || hc_why="$hc_why; variables changed:$hc_other"
    [ "$hc_got" = "$hc_expect" ] || hc_why="$hc_why; wanted $hc_expect, got $hc_got"
    if [ "$hc_got" = grant ]; then
        grep -qzxF "RELAYCLIENT=$rc_want" "$out/e2" ||
            hc_why="$hc_why; RELAYCLIENT is not '$rc_want'"
        if [ "$info_want" = 'left alone' ]; then
            [ "$hc_info" = left ] || hc_why="$hc_why; TCPREMOTEINFO changed"
        else
            grep -qzxF "TCPREMOTEINFO=$info_want" "$out/e2" ||
                hc_why="$hc_why; TCPREMOTEINFO is not '$info_want'"
        fi
    fi
    cmp -s "$out/before" "$out/after" || hc_why="$hc_why; the scratch directory changed"
    if [ -z "$hc_why" ]; then
        ok "relay-check $hc_desc: $hc_expect"
    else
        not_ok "relay-check $hc_desc: $hc_expect"
        diag "${hc_why#; }"
        diff "$out/before" "$out/after" | diag
        diag <"$out/err"
    fi
}

# user_want: the user the next hostile_allow must record ("" for none).
user_want=

# hostile_allow DESC KEY VAR=VALUE...: run relay-allow with these variables in front of
# env -0. KEY is the record it must write (with user_want as its user), or "" for none.
hostile_allow() {
    ha_desc=$1 ha_key=$2
    shift 2
    inputs=$((inputs + 1))
    listing_outside >"$out/before"
    listing_store >"$out/sbefore"
    (cd "$W/cwd" && env -i PATH="$base_path" "$dir_var=$store" "$@" env -0) >"$out/env.plain"
    (cd "$W/cwd" && exec timeout 10 env -i PATH="$base_path" "$dir_var=$store" "$@" \
        "$RELAY_BIN/relay-allow" env -0) >"$out/env.allow" 2>"$out/err"
    ha_rc=$?
    listing_outside >"$out/after"
    listing_store >"$out/safter"
    ha_why=
    exit_problem "$ha_rc"
    [ -z "$prob" ] || ha_why="$ha_why; $prob"
    [ -s "$out/env.allow" ] || ha_why="$ha_why; the next program did not run"
    bad_stderr relay-allow "$out/err"
    [ -z "$prob" ] || ha_why="$ha_why; $prob"
    cmp -s "$out/env.plain" "$out/env.allow" ||
        ha_why="$ha_why; the next program's environment changed"
    cmp -s "$out/before" "$out/after" || ha_why="$ha_why; something outside the store changed"
    # The store's lock file (.lock) is made by the first writer; it may appear, and so may
    # the per-user cap's index (.users) of a login with a user name.
    ha_names=$(comm -3 "$out/sbefore" "$out/safter" | sed 's/^\t//; s/ .*//' |
        grep -v '^\.lock$' | grep -v '^\.users\(/\|$\)' | sort -u | tr '\n' ' ')
    if [ -z "$ha_key" ]; then
        [ -z "$ha_names" ] || ha_why="$ha_why; the store changed: $ha_names"
    else
        [ "$ha_names" = "$ha_key " ] || ha_why="$ha_why; store changes: '$ha_names'"
        record_is "$store/$ha_key" "$ha_key" "$user_want" ||
            ha_why="$ha_why; the record is not 'relaylease1 $ha_key $user_want'"
    fi
    if [ -z "$ha_why" ]; then
        ok "relay-allow $ha_desc: execs${ha_key:+, records $ha_key}"
    else
        not_ok "relay-allow $ha_desc: execs${ha_key:+, records $ha_key}"
        diag "${ha_why#; }"
        diag <"$out/err"
    fi
}

# record_is FILE KEY USER: FILE is exactly our record for KEY and USER.
record_is() {
    printf 'relaylease1 %s %s\n' "$2" "$3" | cmp -s - "$1"
}

# ---- the store the addresses are tried against ---------------------------------------------
# Fresh records for addresses that a lax parser would reach from the hostile forms below.
allow_now() { # ADDRESS USER
    env -i RELAY_DIR="$store" TCPREMOTEIP="$1" USER="$2" RELAY_LOG=0 "$RELAY_BIN/relay-allow"
}
allow_now 1.2.3.4 bob
allow_now 127.0.0.1 root
allow_now 10.0.0.1 ten
allow_now 2001:db8:1:2::1 carol
for k in 1.2.3.4 127.0.0.1 10.0.0.1 2001:db8:1:2::_64; do
    [ -f "$store/$k" ] || {
        not_ok "the store is set up ($k)"
        exit 1
    }
done

# ---- addresses --------------------------------------------------------------------------------
# All of unit-hostile's addresses (over a hundred) are parser vectors; these few go through
# the programs whole.
diag "addresses in TCPREMOTEIP: relay-check grants only the valid forms of stored addresses"
deny_addr() { # ADDRESS: relay-check grants nothing, relay-allow records nothing
    hostile_check "TCPREMOTEIP=$(shown "$1")" deny TCPREMOTEIP="$1"
    hostile_allow "TCPREMOTEIP=$(shown "$1")" "" TCPREMOTEIP="$1" USER=eve
}
grant_addr() { # ADDRESS KEY USER: a valid form: relay-check grants, relay-allow records KEY
    info_want='left alone'
    hostile_check "TCPREMOTEIP=$(shown "$1")" grant TCPREMOTEIP="$1"
    user_want=$3
    hostile_allow "TCPREMOTEIP=$(shown "$1")" "$2" TCPREMOTEIP="$1" USER="$3"
}

for a in 01.2.3.4 127.1 ../1.2.3.4 '2001:db8:1:2::1%eth0' '' ::; do
    deny_addr "$a"
done
for f in '1.2.3.4\n10.0.0.1' '1.2.3.4\033[2J' '1.2.3.4\377'; do
    str "$f"
    deny_addr "$REPLY"
done
repeat 5000 1
deny_addr "$REPLY"
repeat 5000 ' '
deny_addr "1.2.3.4$REPLY"
repeat 5000 :
deny_addr "$REPLY"

grant_addr 1.2.3.4 1.2.3.4 bob
grant_addr ::ffff:1.2.3.4 1.2.3.4 bob
grant_addr 2001:DB8:1:2::1 2001:db8:1:2::_64 carol
# Valid, not in the store: relay-check denies, relay-allow records its key.
hostile_check "TCPREMOTEIP='2001:db8:1:3::1' (valid, not stored)" deny TCPREMOTEIP=2001:db8:1:3::1
user_want=eve
hostile_allow "TCPREMOTEIP='2001:db8:1:3::1'" 2001:db8:1:3::_64 TCPREMOTEIP=2001:db8:1:3::1 USER=eve
rm -f "$store/2001:db8:1:3::_64"

diag "which variable is read: PROTO=TCP6 takes TCP6REMOTEIP, a set TCPREMOTEIP wins over IP"
hostile_check "PROTO=TCP6, TCP6REMOTEIP bad, TCPREMOTEIP good" deny PROTO=TCP6 \
    TCP6REMOTEIP=01.2.3.4 TCPREMOTEIP=1.2.3.4
hostile_check "no address at all" deny USER=bob
hostile_allow "no address at all" "" USER=eve
# Only relay-check itself knows to leave tcpserver's RELAYCLIENT alone.
rc_want=@static.example
hostile_check "RELAYCLIENT set by tcpserver, bad address" deny RELAYCLIENT=@static.example \
    TCPREMOTEIP=01.2.3.4
hostile_check "RELAYCLIENT set by tcpserver, stored address" deny RELAYCLIENT=@static.example \
    TCPREMOTEIP=1.2.3.4
rc_want=

# ---- user names -----------------------------------------------------------------------------
# Each login gets its own address; the allowance is recorded (the login was good) but a bad
# name is left out, so relay-check grants without putting it into TCPREMOTEINFO.
diag "user names: bad ones are recorded as no user and never reach TCPREMOTEINFO"
n=0
user_case() { # USER VALID(1/0) [VARIABLE]
    n=$((n + 1))
    uc_var=${3:-USER}
    if [ "$2" = 1 ]; then user_want=$1; else user_want=; fi
    hostile_allow "$uc_var=$(shown "$1")" "10.1.0.$n" TCPREMOTEIP="10.1.0.$n" "$uc_var=$1"
    if [ "$2" = 1 ]; then info_want=$1; else info_want='left alone'; fi
    hostile_check "recorded after $uc_var=$(shown "$1")" grant TCPREMOTEIP="10.1.0.$n" \
        RELAY_REMOTEINFO=1
    info_want='left alone'
}
user_case 'bob=evil' 1
user_case '%s%s%n' 1
user_case '(bob)' 0
str 'bob\nRELAYCLIENT=x'
user_case "$REPLY" 0
repeat 5000 u
user_case "$REPLY" 0
# Which variable names the user (AUTHENTICATED before USER) is relay-allow's own.
user_case 'carol' 1 AUTHENTICATED
str 'carol\n'
user_case "$REPLY" 0 AUTHENTICATED

# ---- store files ----------------------------------------------------------------------------
# Each case plants a file under the key of its own address, 10.2.0.N, and asks relay-check.
diag "store files: planted records grant nothing unless valid, and nothing hangs"
k=0
plant_next() {
    k=$((k + 1))
    key=10.2.0.$k
}
store_case() { # DESC EXPECT: ask about the record just planted under $key
    hostile_check "store $(printf '%s' "$1" | tr '#' '?'): $key" "$2" TCPREMOTEIP="$key" \
        RELAY_REMOTEINFO=1
}
plant() { # DESC EXPECT PRINTF-FORMAT: a regular file with this content
    plant_next
    # shellcheck disable=SC2059 # the format is the content
    printf "$3" >"$store/$key"
    store_case "$1" "$2"
}

info_want=bob
plant "our record" grant "relaylease1 10.2.0.$((k + 1)) bob\n"
# The next program's environment gets RELAYCLIENT and TCPREMOTEINFO, none of these.
plant "relay-ctrl record trying to set variables" grant \
    'RELAYCLIENT=@evil.example\0PATH=/tmp\0USER=bob\0TCPREMOTEHOST=evil\0LD_PRELOAD=/x.so\0'
info_want='left alone'
plant "NUL inside our record" deny "relaylease1 10.2.0.$((k + 1)) bob\0\n"
plant "relay-ctrl user with a newline" deny 'USER=bob\nRELAYCLIENT=x\0'
plant_next
head -c 1048576 /dev/zero | tr '\0' A >"$store/$key"
store_case "1 MiB" deny
plant_next
if truncate -s 4G "$store/$key" 2>/dev/null; then
    store_case "4 GiB sparse" deny
else
    rm -f "$store/$key"
    skip "relay-check store 4 GiB sparse" "truncate cannot make a sparse file here"
fi
plant_next
printf 'relaylease1 %s bob\n' "$key" >"$store/$key"
touch -d '1 hour' "$store/$key"
store_case "valid record from the future (+1 hour)" deny
plant_next
mkdir "$store/$key"
dirkey=$key
printf 'relaylease1 %s bob\n' "$key" >"$store/$key/$key"
store_case "a directory" deny
plant_next
mkfifo "$store/$key"
store_case "a FIFO with no writer (must not hang)" deny
# Symbolic links out of the store, to records that would be valid.
plant_next
printf 'relaylease1 %s bob\n' "$key" >"$W/outside/rec.$key"
ln -s "$W/outside/rec.$key" "$store/$key"
store_case "a symlink to a valid record outside the store" deny
plant_next
ln -s /dev/zero "$store/$key"
store_case "a symlink to /dev/zero" deny
plant_next
mkfifo "$W/outside/fifo.$key"
ln -s "$W/outside/fifo.$key" "$store/$key"
store_case "a symlink to a FIFO outside" deny

diag "the store directory itself"
printf 'x\n' >"$W/outside/afile"
repeat 5000 a
# A relative RELAY_DIR reads as the default store; where one exists on this machine,
# relay-allow is not run with it (it would record there).
default_exists=0
[ ! -e /var/lib/relaylease ] || default_exists=1
for d in "$W/outside/afile" store "/$REPLY"; do
    hostile_check "RELAY_DIR=$(shown "${d#"$W"/}")" deny TCPREMOTEIP=1.2.3.4 RELAY_DIR="$d"
    case $default_exists$d in
    1/*.* | 1/*/* | 0*)
        hostile_allow "RELAY_DIR=$(shown "${d#"$W"/}")" "" TCPREMOTEIP=10.3.0.1 USER=eve \
            RELAY_DIR="$d"
        ;;
    *) skip "relay-allow RELAY_DIR=$(shown "${d#"$W"/}")" "the default store exists here" ;;
    esac
done
str '%s\n' "$store"
hostile_check "RELAY_DIR with a newline after it" deny TCPREMOTEIP=1.2.3.4 RELAY_DIR="$REPLY"
dir_var=RELAY_CTRL_DIR
hostile_check "RELAY_CTRL_DIR the store (RELAY_DIR unset; valid)" grant TCPREMOTEIP=1.2.3.4
hostile_check "RELAY_DIR bad, RELAY_CTRL_DIR the store (the new name wins)" deny \
    TCPREMOTEIP=1.2.3.4 RELAY_DIR=store
dir_var=RELAY_DIR

# The store's lock file replaced by something else: logins still go on and record, nothing
# is created through a symlink, and a sweep neither hangs nor crashes.
diag "a hostile lock file (.lock) in the store"
main_store=$store
store=$W/store3
mkdir "$store"
user_want=eve
for what in fifo symlink-dangling; do
    rm -rf "${store:?}/.lock"
    case $what in
    fifo) mkfifo "$store/.lock" ;;
    symlink-dangling) ln -s "$W/outside/created-by-lock" "$store/.lock" ;;
    esac
    hostile_allow ".lock is a $what" 10.3.1.1 TCPREMOTEIP=10.3.1.1 USER=eve
    touch -d '2 hours ago' "$store/10.3.1.1"
    inputs=$((inputs + 1))
    listing_outside >"$out/before"
    timeout 30 env -i RELAY_DIR="$store" "$RELAY_BIN/relay-expire" >/dev/null 2>"$out/err"
    rc=$?
    listing_outside >"$out/after"
    why=
    case $rc in 0 | 111) ;; *) why="exit $rc" ;; esac
    bad_stderr relay-expire "$out/err"
    [ -z "$prob" ] || why="$why; $prob"
    [ "$rc" -eq 0 ] || [ "$(wc -l <"$out/err")" -eq 1 ] || why="$why; not one stderr line"
    cmp -s "$out/before" "$out/after" || why="$why; something outside the store changed"
    [ -e "$store/.lock" ] || [ -L "$store/.lock" ] || why="$why; .lock was removed"
    if [ -z "$why" ]; then
        ok "relay-expire with .lock a $what: exit $rc, no hang, no crash"
    else
        not_ok "relay-expire with .lock a $what: exit $rc, no hang, no crash"
        diag "${why#; }"
    fi
    diag <"$out/err"
    rm -f "$store/10.3.1.1"
done
store=$main_store

# ---- settings --------------------------------------------------------------------------------
diag "settings: an invalid value never widens the window or the prefix, and never relays"
# 10.4.0.1: a record 1000 s old (stale under the default 900); 10.4.0.2: 100 s old.
printf 'relaylease1 10.4.0.1 bob\n' >"$store/10.4.0.1"
touch -d '1000 seconds ago' "$store/10.4.0.1"
printf 'relaylease1 10.4.0.2 bob\n' >"$store/10.4.0.2"
touch -d '100 seconds ago' "$store/10.4.0.2"
repeat 5000 9
long9=$REPLY
hostile_check "RELAY_EXPIRY=$(shown "$long9") and a 1000 s old record" deny \
    TCPREMOTEIP=10.4.0.1 RELAY_EXPIRY="$long9"
str '2000\n'
hostile_check "RELAY_EXPIRY=$(shown "$REPLY") and a 1000 s old record" deny \
    TCPREMOTEIP=10.4.0.1 RELAY_EXPIRY="$REPLY"
hostile_check "RELAY_CTRL_EXPIRY=-1 and a 100 s old record (default 900)" grant \
    TCPREMOTEIP=10.4.0.2 RELAY_CTRL_EXPIRY=-1
hostile_check "RELAY_EXPIRY=2000 and a 1000 s old record (valid, longer)" grant \
    TCPREMOTEIP=10.4.0.1 RELAY_EXPIRY=2000

repeat 256 x
long_rc=$REPLY
str '@x\nRCPT TO:<a@b>'
hostile_check "RELAY_RELAYCLIENT=$(shown "$REPLY")" deny TCPREMOTEIP=1.2.3.4 \
    RELAY_RELAYCLIENT="$REPLY"
hostile_check "RELAY_CTRL_RELAYCLIENT=$(shown "$long_rc")" deny TCPREMOTEIP=1.2.3.4 \
    RELAY_CTRL_RELAYCLIENT="$long_rc"
rc_want=@fixup.example
hostile_check "RELAY_RELAYCLIENT=@fixup.example (valid)" grant TCPREMOTEIP=1.2.3.4 \
    RELAY_RELAYCLIENT=@fixup.example
rc_want=

# The stored prefix is 2001:db8:1:2::/64; an invalid prefix length reads as 128.
user_want=
for v in 0 "$long9"; do
    hostile_check "RELAY_IPV6_PREFIX=$(shown "$v")" deny TCPREMOTEIP=2001:db8:1:2::99 \
        RELAY_IPV6_PREFIX="$v"
    hostile_allow "RELAY_IPV6_PREFIX=$(shown "$v")" "2001:db8:1:2::99_128" \
        TCPREMOTEIP=2001:db8:1:2::99 RELAY_IPV6_PREFIX="$v"
    rm -f "$store/2001:db8:1:2::99_128"
done
hostile_check "RELAY_IPV6_PREFIX=64 (valid)" grant TCPREMOTEIP=2001:db8:1:2::99 \
    RELAY_IPV6_PREFIX=64

info_want='left alone'
hostile_check "RELAY_REMOTEINFO=yes (invalid: off)" grant TCPREMOTEINFO=ident \
    TCPREMOTEIP=1.2.3.4 RELAY_REMOTEINFO=yes
str '1\n'
hostile_check "RELAY_LOG=$(shown "$REPLY") (invalid: on)" grant TCPREMOTEIP=1.2.3.4 \
    RELAY_LOG="$REPLY"
info_want=bob
hostile_check "RELAY_REMOTEINFO= (empty: on)" grant TCPREMOTEINFO=ident TCPREMOTEIP=1.2.3.4 \
    RELAY_REMOTEINFO=
info_want='left alone'

# relay-allow with every bad setting at once still execs and still records the login.
user_want=bob
hostile_allow "every setting invalid" 1.2.3.4 TCPREMOTEIP=1.2.3.4 USER=bob RELAY_EXPIRY=-1 \
    RELAY_RELAYCLIENT="$long_rc" RELAY_REMOTEINFO=yes RELAY_LOG=yes RELAY_IPV6_PREFIX=0
str 'bob\n'
hostile_allow "every input invalid" "" TCPREMOTEIP=01.2.3.4 USER="$REPLY" RELAY_EXPIRY=-1 \
    RELAY_RELAYCLIENT="$long_rc" RELAY_REMOTEINFO=yes RELAY_LOG=yes RELAY_IPV6_PREFIX=0 \
    RELAY_DIR=store

# ---- relay-expire over the hostile store ---------------------------------------------------
diag "relay-expire over everything planted above"
# Age every entry so that a sweep would remove each one it is allowed to touch.
find "$store" -mindepth 1 -exec touch -h -d '2 hours ago' {} +
listing_outside >"$out/before"
find "$store" -mindepth 1 ! -type f -printf '%P %y %l\n' | sort >"$out/nonregular"
for mode in -l -n ""; do
    inputs=$((inputs + 1))
    (cd "$W/cwd" && exec timeout 30 env -i PATH="$base_path" RELAY_DIR="$store" \
        "$RELAY_BIN/relay-expire" ${mode:+"$mode"}) >"$out/expire.out" 2>"$out/err"
    rc=$?
    exit_problem "$rc"
    why=$prob
    bad_stderr relay-expire "$out/err"
    [ -z "$prob" ] || why="$why; $prob"
    listing_outside >"$out/after"
    cmp -s "$out/before" "$out/after" || why="$why; something outside the store changed"
    find "$store" -mindepth 1 ! -type f -printf '%P %y %l\n' | sort >"$out/nonregular2"
    cmp -s "$out/nonregular" "$out/nonregular2" ||
        why="$why; a non-regular entry was touched"
    if [ -z "$why" ]; then
        ok "relay-expire ${mode:-(sweep)} over the hostile store"
    else
        not_ok "relay-expire ${mode:-(sweep)} over the hostile store"
        diag "${why#; }"
        diag <"$out/err"
    fi
done
left=$(find "$store" -mindepth 1 -maxdepth 1 -type f ! -name .lock -printf '%P %s %TT\n')
is "$left" "" "the sweep removed every stale regular file with a key name"
check "a planted directory's content is left alone" test -f "$store/$dirkey/$dirkey"

# A clean store of its own, so that the only warning is the one about the setting.
store2=$SCRATCH/store2
mkdir "$store2"
for v in -1 "$long9"; do
    printf 'relaylease1 10.5.0.1 bob\n' >"$store2/10.5.0.1"
    touch -d '1000 seconds ago' "$store2/10.5.0.1"
    printf 'relaylease1 10.5.0.2 bob\n' >"$store2/10.5.0.2"
    touch -d '100 seconds ago' "$store2/10.5.0.2"
    inputs=$((inputs + 1))
    timeout 30 env -i RELAY_DIR="$store2" RELAY_EXPIRY="$v" "$RELAY_BIN/relay-expire" \
        >/dev/null 2>"$out/err"
    rc=$?
    if [ "$rc" -eq 0 ] && [ ! -e "$store2/10.5.0.1" ] && [ -f "$store2/10.5.0.2" ] &&
        [ "$(grep -c '^relay-expire: warning: ' "$out/err")" -eq 1 ]; then
        ok "relay-expire RELAY_EXPIRY=$(shown "$v"): one warning, sweeps with 900 s"
    else
        not_ok "relay-expire RELAY_EXPIRY=$(shown "$v"): one warning, sweeps with 900 s"
        diag "exit $rc"
        diag <"$out/err"
    fi
done

diag "$inputs hostile inputs tried"
done_testing
