#!/bin/sh
# run: quick once
# make setup (run-examples/setup-store): the store's owner and modes, records replaced by the
# account's own files, the old lock file removed, a second run that changes nothing, and the
# migration from relay-ctrl's world-writable spool: descriptors opened before it are worth
# nothing afterwards, and no file of root's planted in it is handed over, changed or read.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
setup=$lib_top/run-examples/setup-store
if [ "$(id -u)" -ne 0 ]; then
    skip "make setup makes the store as the security model needs it" "not root"
    done_testing
fi
if ! command -v setpriv >/dev/null 2>&1 || ! command -v flock >/dev/null 2>&1; then
    skip "make setup makes the store as the security model needs it" "setpriv or flock (util-linux) is missing"
    done_testing
fi
# An account that exists on every Debian machine stands in for "relaylease".
account=nobody
group=$(id -gn "$account")
store=$SCRATCH/store
chmod 755 "$SCRATCH"

check "a first run makes the store" sh "$setup" "$store" "$account"
is "$(stat -c '%U:%G %a' "$store")" "$account:$group 755" "the store is the account's, mode 0755"

# A record a mail user left (relay-ctrl's spool, say), and a lock file someone opened up.
printf 'relaylease1 10.0.0.1 bob\n' >"$store/10.0.0.1"
chown 65533:65533 "$store/10.0.0.1"
chmod 666 "$store/10.0.0.1"
: >"$store/.lock"
chmod 644 "$store/.lock"
: >"$store/.tmp.1.10.0.0.2"
mkdir "$store/odd"
sh "$setup" "$store" "$account" >"$SCRATCH/out" 2>&1
is "$?" 0 "a second run over a used store succeeds"
is "$(stat -c '%U:%G %a' "$store/10.0.0.1")" "$account:$group 644" \
    "a mail user's record is replaced by one of the account's, mode 0644"
is "$(cat "$store/10.0.0.1")" "relaylease1 10.0.0.1 bob" "with the same content"
# shellcheck disable=SC2016 # the inner shell expands them
check "the old lock file is gone, or a new one of the account's, mode 0600" \
    sh -c '[ ! -e "$1" ] || [ "$(stat -c "%U:%G %a" "$1")" = "$2 600" ]' sh "$store/.lock" \
    "$account:$group"
is "$(stat -c '%a' "$store/.tmp.1.10.0.0.2")" "644" "a temp file is left alone"
like "$(cat "$SCRATCH/out")" "*odd is not a regular file: left alone*" \
    "a directory in the store is reported and left alone"
before=$(cd "$store" && stat -c '%n %U:%G %a %y %s' ./* | sort)
out=$(sh "$setup" "$store" "$account" 2>/dev/null)
like "$out" "*setup-store: $store is owned by $account:$group, mode 0755" "a third run succeeds"
is "$(cd "$store" && stat -c '%n %U:%G %a %y %s' ./* | sort)" "$before" \
    "and leaves every record as it was (owner, mode, login time, size)"

# ---- migration from relay-ctrl's spool -------------------------------------------------------
#
# relay-ctrl's allow/ directory is 0777 with 0666 records: any mail user may have opened a
# record or the lock before the switch, and planted hard links or symbolic links there.
mailer=65533
spool=$SCRATCH/relay-ctrl/allow
mkdir -p "$spool" && chmod 755 "$SCRATCH/relay-ctrl" && chmod 777 "$spool" &&
    chown "$mailer:$mailer" "$spool" || exit 111
now=$(date +%s)
# rec NAME CONTENT-FORMAT AGE: a record the mail user wrote AGE seconds ago, mode 0666.
rec() {
    # shellcheck disable=SC2059 # the content is a format
    printf "$2" >"$spool/$1" && chown "$mailer:$mailer" "$spool/$1" && chmod 666 "$spool/$1" &&
        touch -d "@$((now - $3))" "$spool/$1" || exit 111
}
rec 10.0.0.1 'USER=bob\0DOMAIN=example.org\0' 100
rec 10.0.0.2 'relaylease1 10.0.0.2 carol\n' 3000
rec 10.0.0.3 '' 10
rec 2001:db8:1:2::_64 'relaylease1 2001:db8:1:2::_64 dave\n' 20
: >"$spool/.lock"
chown "$mailer:$mailer" "$spool/.lock" && chmod 666 "$spool/.lock" || exit 111
for k in 10.0.0.1 10.0.0.2 10.0.0.3 2001:db8:1:2::_64; do
    cp -p "$spool/$k" "$SCRATCH/was.$k" || exit 111
done
# What a mail user can plant with fs.protected_hardlinks=0: a hard link to a file of root's
# (made as root here, as this machine's kernel may protect hard links), and a symbolic link.
printf 'top secret\n' >"$SCRATCH/secret"
chmod 600 "$SCRATCH/secret"
ln "$SCRATCH/secret" "$spool/10.0.0.9"
: >"$SCRATCH/root-empty"
chmod 644 "$SCRATCH/root-empty"
ln "$SCRATCH/root-empty" "$spool/10.0.0.8"
ln -s "$SCRATCH/secret" "$spool/10.0.0.7"
# A record the account cannot read, and one far bigger than a record.
rec 10.0.0.6 'USER=eve\0' 10
chmod 600 "$spool/10.0.0.6"
head -c 4096 /dev/zero >"$spool/10.0.0.5"

# A mail user's process that opened a record and the lock before the switch. After it, on
# "go", it writes through the record's descriptor, touches the file behind it, and takes
# the lock through the old descriptor.
hold=$SCRATCH/hold
mkdir "$hold" && mkfifo "$hold/go" && chown "$mailer:$mailer" "$hold" "$hold/go" || exit 111
cat >"$SCRATCH/holder" <<'HOLDER'
exec 3<>"$1/10.0.0.1" 4<"$1/.lock" || exit 1
echo ready >"$2/ready"
read -r _ <"$2/go"
printf 'USER=mallory\0' >&3
touch -c /dev/fd/3
flock -x -n 4 && echo locked >"$2/locked"
echo done >"$2/done"
exec sleep 1000
HOLDER
start_bg setpriv --reuid="$mailer" --regid="$mailer" --clear-groups \
    sh "$SCRATCH/holder" "$spool" "$hold"
holder=$LAST_PID
check "a mail user's process holds a record and the lock open" appears "$hold/ready"
old_ino=$(stat -c %i "$spool/10.0.0.1")
old_lock=$(stat -c %i "$spool/.lock")

sh "$setup" -n "$spool" "$account" >"$SCRATCH/dry.out" 2>&1
is "$?" 0 "setup -n over relay-ctrl's spool succeeds"
is "$(stat -c '%i %u %a' "$spool/10.0.0.1") $(stat -c %a "$spool")" "$old_ino $mailer 666 777" \
    "setup -n changes nothing"
like "$(cat "$SCRATCH/dry.out")" "*would replace 4 records in $spool*" \
    "setup -n says how many records it would replace"

sh "$setup" "$spool" "$account" >"$SCRATCH/mig.out" 2>&1
is "$?" 0 "setup over relay-ctrl's 0777 spool succeeds"
is "$(stat -c '%U:%G %a' "$spool")" "$account:$group 755" "the spool is the account's, mode 0755"
for k in 10.0.0.1 10.0.0.2 10.0.0.3 2001:db8:1:2::_64; do
    is "$(stat -c '%U:%G %a %h' "$spool/$k")" "$account:$group 644 1" \
        "$k: now a file of the account's, mode 0644"
    check "$k: with the same content" cmp "$SCRATCH/was.$k" "$spool/$k"
    is "$(stat -c %y "$spool/$k")" "$(stat -c %y "$SCRATCH/was.$k")" "$k: and the same login time"
done
check "the record the mail user holds open has been replaced by a new file" \
    test "$(stat -c %i "$spool/10.0.0.1")" != "$old_ino"
# shellcheck disable=SC2016 # the inner shell expands them
check "the lock the mail user holds open is no longer the store's lock" \
    sh -c '[ ! -e "$1" ] || [ "$(stat -c %i "$1")" != "$2" ]' sh "$spool/.lock" "$old_lock"

echo go >"$hold/go"
check "the mail user's process wrote and touched through its old descriptors" \
    appears "$hold/done"
check "writing through the old descriptor does not change the record" \
    cmp "$SCRATCH/was.10.0.0.1" "$spool/10.0.0.1"
is "$(stat -c %y "$spool/10.0.0.1")" "$(stat -c %y "$SCRATCH/was.10.0.0.1")" \
    "touching the file behind the old descriptor does not refresh the record"
check "(the old lock descriptor took its lock)" test -e "$hold/locked"
check "the old lock descriptor does not hold the store's lock" \
    setpriv --reuid="$account" --regid="$group" --clear-groups \
    flock -x -n "$spool/.lock" true
stop_pid "$holder"

is "$(stat -c '%U:%G %a %h' "$SCRATCH/secret")" "root:root 600 1" \
    "a planted hard link to root's file: the file is not handed over nor opened up"
is "$(cat "$SCRATCH/secret")" "top secret" "and its content is unchanged"
# shellcheck disable=SC2016 # the inner shell expands it
check "and its content was copied into no record" \
    sh -c '! grep -rq "top secret" "$1"' sh "$spool"
check "the hard link is gone from the store" test ! -e "$spool/10.0.0.9"
check "a hard link to root's empty file (a valid relay-ctrl record) is gone" \
    test ! -e "$spool/10.0.0.8"
is "$(stat -c '%U:%G %a %h' "$SCRATCH/root-empty")" "root:root 644 1" "and that file is untouched"
is "$(stat -c '%U' "$spool/10.0.0.7") $(stat -c '%U:%G %a' "$SCRATCH/secret")" \
    "root root:root 600" "a symbolic link is left alone, and what it names untouched"
like "$(cat "$SCRATCH/mig.out")" "*10.0.0.7 is not a regular file: left alone*" "and reported"
check "a record the account cannot read is removed" test ! -e "$spool/10.0.0.6"
check "a record bigger than 1 KiB is removed" test ! -e "$spool/10.0.0.5"
like "$(cat "$SCRATCH/mig.out")" "*removed $spool/10.0.0.9: it has more than one link*" \
    "each removal is reported"

# The account must be able to reach the spool: relay-ctrl's 0700 parent lets nobody through.
chmod 700 "$SCRATCH/relay-ctrl"
sh "$setup" "$spool" "$account" >"$SCRATCH/parent.out" 2>&1
is "$?" 111 "a spool the account cannot reach is refused (111)"
like "$(cat "$SCRATCH/parent.out")" "*$account cannot reach $spool*" "saying why"
chmod 755 "$SCRATCH/relay-ctrl"

mkdir -m 775 "$SCRATCH/shared"
sh "$setup" "$SCRATCH/shared/store" "$account" >/dev/null 2>&1
is "$?" 100 "a store whose parent its group may write is refused (100)"
# Every directory above the store counts, not only its parent: whoever may rename one of
# them can swap the store's path. A sticky one (like /tmp) is fine while the entry on the
# way is root's.
mkdir -m 755 "$SCRATCH/theirs" "$SCRATCH/theirs/sub"
chown "$MAIL_UID:$MAIL_GID" "$SCRATCH/theirs"
sh "$setup" -n "$SCRATCH/theirs/sub/store" "$account" >"$SCRATCH/up.out" 2>&1
is "$?" 100 "a store below a directory of another user's is refused (100), even two levels up"
like "$(cat "$SCRATCH/up.out")" "*$SCRATCH/theirs is not root's*" "saying which"
mkdir -m 1777 "$SCRATCH/sticky"
mkdir -m 755 "$SCRATCH/sticky/users" "$SCRATCH/sticky/roots"
chown "$MAIL_UID:$MAIL_GID" "$SCRATCH/sticky/users"
chmod 755 "$SCRATCH/sticky/users"
sh "$setup" -n "$SCRATCH/sticky/users/store" "$account" >"$SCRATCH/up.out" 2>&1
is "$?" 100 "a store whose way through a sticky directory is another user's entry is refused (100)"
sh "$setup" -n "$SCRATCH/sticky/roots/store" "$account" >"$SCRATCH/up.out" 2>&1
is "$?" 0 "a store whose way through a sticky directory is root's is accepted"
mkdir -m 757 "$SCRATCH/open"
sh "$setup" -n "$SCRATCH/open/a/b/store" "$account" >"$SCRATCH/up.out" 2>&1
is "$?" 100 "a store below a directory everyone may write (not sticky), even one not yet made, is refused"
sh "$setup" relative "$account" >/dev/null 2>&1
is "$?" 100 "a relative path is refused (100)"
sh "$setup" "$store" 'bad;name' >/dev/null 2>&1
is "$?" 100 "a bad account name is refused (100)"
ln -s "$store" "$SCRATCH/link"
sh "$setup" "$SCRATCH/link" "$account" >/dev/null 2>&1
is "$?" 100 "a symbolic link is refused (100)"
done_testing
