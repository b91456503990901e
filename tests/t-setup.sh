#!/bin/sh
# make setup (run-examples/setup-store): the store's owner and modes, records handed over
# from a mail user, the lock file kept private, and a second run that changes nothing.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
setup=$lib_top/run-examples/setup-store
if [ "$(id -u)" -ne 0 ]; then
    skip "make setup makes the store as the security model needs it" "not root"
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
is "$(stat -c '%U:%G %a' "$store/10.0.0.1")" "$account:$group 644" "a mail user's record is handed to the account, mode 0644"
is "$(stat -c '%U:%G %a' "$store/.lock")" "$account:$group 600" "the lock file is the account's, mode 0600"
is "$(stat -c '%a' "$store/.tmp.1.10.0.0.2")" "644" "a temp file is left alone"
like "$(cat "$SCRATCH/out")" "*odd is not a regular file: left alone*" "a directory in the store is reported and left alone"
out=$(sh "$setup" "$store" "$account" 2>/dev/null)
is "$out" "setup-store: $store is owned by $account:$group, mode 0755" "a third run changes nothing"

sh "$setup" relative "$account" >/dev/null 2>&1
is "$?" 100 "a relative path is refused (100)"
sh "$setup" "$store" 'bad;name' >/dev/null 2>&1
is "$?" 100 "a bad account name is refused (100)"
ln -s "$store" "$SCRATCH/link"
sh "$setup" "$SCRATCH/link" "$account" >/dev/null 2>&1
is "$?" 100 "a symbolic link is refused (100)"
done_testing
