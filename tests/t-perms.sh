#!/bin/sh
# t-perms.sh: a record that someone else could have written grants nothing (issue 8, class 3).
#   A record, ours or relay-ctrl's, that its group or everyone may write, or that belongs to
#   anyone but root or the store's owner, is refused by relay-check with one warning that
#   says why, and left out of relay-expire -l with one warning; root's and the owner's own
#   records grant.
#   In a store that its group or everyone may write no record grants (anyone there can rename
#   one to another key), nor does a record with a second link (a planted hard link).
#   relay-expire warns once per run about a store that its group or everyone may write; run
#   by the store's owner it sweeps on, run by root it refuses to sweep such a store (111).
# The records of other accounts need root (chown); without it only the modes are tried.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_programs

root=0
[ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1 && [ "$MAIL_UID" != 0 ] && root=1


store=$SCRATCH/store
mkdir "$store" && chmod 755 "$store" || exit 1
if [ "$root" -eq 1 ]; then
    owner=$(unused_id 64100)
    chown "$owner:$owner" "$store"
else
    owner=$(id -u)
fi

# check_says DESC MODE|- OWNER|- WANT-GLOB [CONTENT]: a record for 127.0.0.1 with that mode
# and owner; relay-check's verdict (granted or not) and its one line.
check_says() {
    printf '%s' "${5:-relaylease1 127.0.0.1 bob
}" >"$store/127.0.0.1"
    [ "$2" = - ] || chmod "$2" "$store/127.0.0.1"
    [ "$3" = - ] || chown "$3" "$store/127.0.0.1"
    granted_says 127.0.0.1 RELAY_DIR="$store"
    case $4 in
    granted*) is "$GRANTED" 0 "$1: granted" ;;
    *) is "$GRANTED" 1 "$1: nothing granted" ;;
    esac
    like "$SAYS" "relay-check: $4" "$1: relay-check says so in one line"
    is "$(wc -l <"$SCRATCH/granted.err")" 1 "$1: one line"
}

diag "records that the group or others may write"
for mode in 0664 0646 0666 0620 0602 0777; do
    check_says "mode $mode" "$mode" - \
        "warning: invalid record $store/127.0.0.1: writable by its group or others: granting nothing"
done
check_says "a relay-ctrl record of mode 0666" 0666 - \
    "warning: invalid record $store/127.0.0.1: writable by its group or others: granting nothing" \
    "$(printf 'USER=bob')"
check_says "mode 0644" 0644 - "granted 127.0.0.1 user=bob age=*"
check_says "mode 0600" 0600 - "granted 127.0.0.1 user=bob age=*"

diag "relay-expire -l reports such a record once, and does not list it"
chmod 0666 "$store/127.0.0.1"
RELAY_DIR=$store "$RELAY_BIN/relay-expire" -l >"$SCRATCH/out" 2>"$SCRATCH/err"
is "$?" 0 "relay-expire -l exits 0"
is "$(cat "$SCRATCH/out")" "address user age left" "relay-expire -l lists nothing"
is "$(cat "$SCRATCH/err")" \
    "relay-expire: warning: invalid record $store/127.0.0.1: writable by its group or others" \
    "relay-expire -l says why, in one line"

if [ "$root" -eq 1 ]; then
    diag "records of other accounts (store owner uid $owner, mail user uid $MAIL_UID)"
    check_says "a record of the mail user's" 0644 "$MAIL_UID:$MAIL_GID" \
        "warning: invalid record $store/127.0.0.1: owned by uid $MAIL_UID, not the store's owner: granting nothing"
    check_says "a relay-ctrl record of the mail user's" 0644 "$MAIL_UID:$MAIL_GID" \
        "warning: invalid record $store/127.0.0.1: owned by uid $MAIL_UID, not the store's owner: granting nothing" \
        "$(printf 'USER=bob')"
    check_says "a record of root's" 0644 0:0 "granted 127.0.0.1 user=bob age=*"
    check_says "a record of the store owner's" 0644 "$owner:$owner" \
        "granted 127.0.0.1 user=bob age=*"
    check_says "the store owner's, in the mail user's group" 0644 "$owner:$MAIL_GID" \
        "granted 127.0.0.1 user=bob age=*"
    check_says "the store owner's, group-writable" 0664 "$owner:$owner" \
        "warning: invalid record $store/127.0.0.1: writable by its group or others: granting nothing"
    chmod 0644 "$store/127.0.0.1"
    chown "$MAIL_UID:$MAIL_GID" "$store/127.0.0.1"
    RELAY_DIR=$store "$RELAY_BIN/relay-expire" -l >"$SCRATCH/out" 2>"$SCRATCH/err"
    is "$(cat "$SCRATCH/err")" \
        "relay-expire: warning: invalid record $store/127.0.0.1: owned by uid $MAIL_UID, not the store's owner" \
        "relay-expire -l reports a record of another account in one line"
else
    skip "records of other accounts" "needs root and setpriv"
fi
rm -f "$store/127.0.0.1"

diag "a store that others may write grants nothing, and no record with a second link does"
for mode in 0775 0757 0777 1777; do
    chmod "$mode" "$store"
    check_says "a good record in a $mode store" 0644 - \
        "warning: invalid record $store/127.0.0.1: in a store that its group or others may write: granting nothing"
done
# In such a store anyone can rename a relay-ctrl record (which does not name its key) to
# their own address: it must not grant there either.
chmod 0777 "$store"
printf 'USER=bob' >"$store/127.0.0.2"
mv "$store/127.0.0.2" "$store/127.0.0.1"
check "a relay-ctrl record renamed to another key in a 0777 store grants nothing" \
    refused 127.0.0.1 RELAY_DIR="$store"
chmod 755 "$store"
rm -f "$store/127.0.0.1"
# A hard link to a file that was never a record (an empty file of root's reads as a
# relay-ctrl record), planted under a key: refused whatever its owner and mode.
: >"$SCRATCH/empty"
chmod 644 "$SCRATCH/empty"
ln "$SCRATCH/empty" "$store/127.0.0.1"
granted_says 127.0.0.1 RELAY_DIR="$store"
is "$GRANTED" 1 "a hard-linked empty file under a key grants nothing"
like "$SAYS" \
    "relay-check: warning: invalid record $store/127.0.0.1: a file with more than one link: granting nothing" \
    "relay-check says why, in one line"
rm -f "$store/127.0.0.1" "$SCRATCH/empty"

diag "a store that others may write"
# sweep_as WHO MODE [-l]: relay-expire over a store of that mode with one stale record.
sweep_as() {
    chmod "$2" "$store"
    printf 'relaylease1 127.0.0.9 old\n' >"$store/127.0.0.9"
    touch -d @1000000000 "$store/127.0.0.9"
    [ "$root" -eq 0 ] || chown "$owner:$owner" "$store/127.0.0.9"
    if [ "$1" = owner ] && [ "$root" -eq 1 ]; then
        setpriv --reuid="$owner" --regid="$owner" --clear-groups -- \
            env RELAY_DIR="$store" "$RELAY_BIN/relay-expire" ${3:+"$3"} >"$SCRATCH/out" \
            2>"$SCRATCH/err"
    else
        env RELAY_DIR="$store" "$RELAY_BIN/relay-expire" ${3:+"$3"} >"$SCRATCH/out" \
            2>"$SCRATCH/err"
    fi
    rc=$?
}
warning="relay-expire: warning: store $store is writable by its group or others: anyone there can forge or remove allowances (chmod go-w $store)"
for mode in 0777 0775 0757 1777; do
    sweep_as owner "$mode"
    is "$rc" 0 "the owner's sweep of a $mode store exits 0"
    is "$(cat "$SCRATCH/err")" "$warning" "and warns about the store once"
    check "and sweeps" test ! -e "$store/127.0.0.9"
done
sweep_as owner 0777 -l
is "$(cat "$SCRATCH/err")" "$warning" "relay-expire -l warns about a 0777 store once"
sweep_as owner 0755
is "$rc.$(cat "$SCRATCH/err")" "0." "a 0755 store: no warning"
if [ "$root" -eq 1 ]; then
    sweep_as root 0777
    is "$rc" 111 "root's sweep of a 0777 store exits 111"
    is "$(cat "$SCRATCH/err")" "$warning
relay-expire: fatal: store $store is writable by its group or others: not sweeping it as root" \
        "with the warning and one fatal line"
    check "and removes nothing" test -e "$store/127.0.0.9"
else
    skip "root's sweep of a 0777 store" "not root"
fi
chmod 755 "$store"

done_testing
