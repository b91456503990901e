#!/bin/sh
# t-hardlink.sh: root never works on a file through a name that another account controls
# (issue 8, class 4).
# With fs.protected_hardlinks=0 (the kernel's default outside systemd) the store's account can
# hard-link any of root's files into the store. It plants links to root's private files as
# the lock (.lock), as the temp file name of the next writer (.tmp.PID.KEY: the PID of a
# process that execs the program is known in advance), and as records, and then root runs
# relay-allow (Dovecot's post-login, IP= in the environment), relay-session,
# relay-import-opensmtp and relay-expire. After each, root's files have the owner, mode,
# link count and content they had (but for the planted names, which the owner may remove),
# and the allowance is recorded, as the store's account, or a warning says why not.
# The links are made by root here, whatever this machine's fs.protected_hardlinks says: the
# store's directory entries are the same as the ones the account could make with it off, and
# the test never changes a setting of the whole machine. Needs root.
# shellcheck disable=SC2016 # the sh -c scripts read their arguments as $1, $2...
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
    skip "root's files stay root's" "not root"
    exit 0
fi
if [ "$MAIL_UID" = 0 ]; then
    skip "root's files stay root's" "the build or the scratch directory is not reachable"
    exit 0
fi
need_programs
owner=$(unused_id 64200)
diag "store owner uid $owner"

store=$SCRATCH/store
mkdir "$store" && chown "$owner:$owner" "$store" && chmod 755 "$store" || exit 1

# Root's private files, in a directory the owner can pass through but not list.
secrets=$SCRATCH/secrets
mkdir "$secrets" && chmod 711 "$secrets" || exit 1
for f in lock temp record; do
    printf "root's %s secret\n" "$f" >"$secrets/$f"
    chmod 600 "$secrets/$f"
done
touch -d @1000000000 "$secrets/record"

# The links are made by a script of its own, so that a shell about to exec a program can
# plant the temp name of its own PID, which the program keeps.
#   plant-as FILE LINK: the link, then a marker LINK.planted.
cat >"$SCRATCH/plant-as" <<'EOF'
#!/bin/sh
ln -f "$1" "$2" && : >"$2.planted"
EOF
chmod 755 "$SCRATCH/plant-as"
planted=$SCRATCH/planted
mkdir "$planted" || exit 1

# plant NAME SECRET: a link to root's file SECRET as NAME in the store.
plant() {
    "$SCRATCH/plant-as" "$secrets/$2" "$store/$1" &&
        mv "$store/$1.planted" "$planted/$1"
    check "a link to root's file is planted as $1" test -e "$planted/$1"
}

# with_temp KEY CMD...: run CMD, with a link to root's temp file planted first as the temp
# name that CMD will use for KEY (the PID is the shell's, which CMD keeps through the exec).
# Check with temp_planted KEY (CMD's output may be redirected).
with_temp() {
    with_key=$1
    shift
    sh -c 'k=$1
        "$2" "$3" "$4/.tmp.$$.$k" && mv "$4/.tmp.$$.$k.planted" "$5/.tmp.$k"
        shift 5
        exec "$@"' sh "$with_key" "$SCRATCH/plant-as" "$secrets/temp" "$store" "$planted" "$@"
}
temp_planted() {
    check "a link to root's file is planted as the temp name for $1" test -e "$planted/.tmp.$1"
}
# untouched WHAT: root's three files are as they were made.
untouched() {
    for f in lock temp record; do
        is "$(stat -c '%u %g %a %s' "$secrets/$f")" "0 0 600 $(printf "root's %s secret\n" "$f" | wc -c)" \
            "$1: root's $f file keeps its owner, mode and size"
        check "$1: root's $f file keeps its content" file_is "$secrets/$f" "root's $f secret\n"
    done
    is "$(stat -c %Y "$secrets/record")" 1000000000 "$1: root's record file keeps its mtime"
}

# recorded WHAT KEY: the record is there, the owner's, and a relaylease record for KEY.
recorded() {
    is "$(stat -c '%u %a %h' "$store/$2" 2>&1)" "$owner 644 1" "$1: the record is the owner's"
    like "$(cat "$store/$2" 2>&1)" "relaylease1 $2 *" "$1: the record is a record"
}

# reset: an empty store, with the lock planted again.
reset() {
    rm -rf "${store:?}"/* "$store"/.[!.]* "${planted:?}"/* "$planted"/.[!.]* 2>/dev/null
    plant .lock lock
}

diag "relay-allow as root, Dovecot style"
reset
plant 192.0.2.1 record
with_temp 192.0.2.1 env IP=192.0.2.1 USER=bob RELAY_DIR="$store" "$RELAY_BIN/relay-allow" \
    2>"$SCRATCH/err"
temp_planted 192.0.2.1
diag "relay-allow said:" && diag <"$SCRATCH/err"
untouched "relay-allow"
recorded "relay-allow" 192.0.2.1
check "relay-allow leaves no temp file" test -z "$(find "$store" -name '.tmp.*')"
like "$(cat "$SCRATCH/err")" "*relay-allow: warning: unable to lock $store (Permission denied): recording without the lock*" \
    "relay-allow says it recorded without the lock it could not open"

diag "relay-session as root"
reset
plant 192.0.2.2 record
with_temp 192.0.2.2 env TCPREMOTEIP=192.0.2.2 USER=bob RELAY_DIR="$store" \
    "$RELAY_BIN/relay-session" "$RELAY_BIN/relay-allow" 2>"$SCRATCH/err"
temp_planted 192.0.2.2
diag "relay-session said:" && diag <"$SCRATCH/err"
untouched "relay-session"
recorded "relay-session" 192.0.2.2
check "relay-session leaves no temp file" test -z "$(find "$store" -name '.tmp.*')"
like "$(cat "$SCRATCH/err")" "*relay-session: warning: unable to lock $store (Permission denied): recording without the lock*" \
    "relay-session says it recorded without the lock"

diag "relay-import-opensmtp as root"
reset
plant 192.0.2.3 record
printf '192.0.2.3:allow,RELAYCLIENT=""\t%s\n' "$(date +%s)" >"$SCRATCH/open-smtp"
with_temp 192.0.2.3 env RELAY_DIR="$store" "$RELAY_BIN/relay-import-opensmtp" \
    <"$SCRATCH/open-smtp" >"$SCRATCH/out" 2>"$SCRATCH/err"
temp_planted 192.0.2.3
diag "relay-import-opensmtp said:" && cat "$SCRATCH/out" "$SCRATCH/err" | diag
untouched "relay-import-opensmtp"
recorded "relay-import-opensmtp" 192.0.2.3
check "relay-import-opensmtp leaves no temp file" test -z "$(find "$store" -name '.tmp.*')"

diag "relay-expire as root"
reset
plant 192.0.2.4 record
plant .tmp.1.192.0.2.5 temp
touch -h -d @1000000000 "$store/.tmp.1.192.0.2.5" 2>/dev/null
RELAY_DIR=$store "$RELAY_BIN/relay-expire" -l >"$SCRATCH/out" 2>"$SCRATCH/err"
diag "relay-expire -l said:" && diag <"$SCRATCH/err"
untouched "relay-expire -l"
RELAY_DIR=$store "$RELAY_BIN/relay-expire" >"$SCRATCH/out" 2>"$SCRATCH/err"
rc=$?
diag "relay-expire said (exit $rc):" && cat "$SCRATCH/out" "$SCRATCH/err" | diag
untouched "relay-expire"
# Run as the owner, the sweep cannot open root's file as its lock: it stops, and says so.
is "$rc" 111 "relay-expire stops: the lock is not one it can open"
like "$(cat "$SCRATCH/err")" "relay-expire: fatal: unable to sweep $store: Permission denied" \
    "in one fatal line"
rm -f "$store/.lock"
RELAY_DIR=$store "$RELAY_BIN/relay-expire" >"$SCRATCH/out" 2>"$SCRATCH/err"
is "$?.$(cat "$SCRATCH/out")" "0.kept 0 removed 1 temp 1 skipped 0" \
    "without the planted lock the sweep removes the planted names"
untouched "relay-expire, second run"
is "$(stat -c %u "$store/.lock")" "$owner" "the lock it made is the owner's"
is "$(stat -c %h "$secrets/record")" 1 "the planted record name is gone, root's file is not"

done_testing
