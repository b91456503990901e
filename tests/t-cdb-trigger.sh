#!/bin/sh
# t-cdb-trigger.sh: the coalesced rebuild on login.
#   - A burst of logins returns while a build is held (by a gate the test opens), so none
#     waits for a build; no clock is read for that.
#   - Builds never overlap, and the burst is coalesced: the logins during the held build
#     make one more build between them, not one each (the request flag), so with the first
#     one held from before the burst there are at most two, whatever the machine's load; the
#     last build starts after the last login and every login's address is in the final cdb
#     (each build took every journal line written before it started).
#   - The builder holds none of the login's descriptors: a pipe on its stdout closes while
#     the build is still held, not when the build ends.
#   - relay-expire waits for a build that covers it and reports a failed one (111).
#   - relay-expire's wait ends while logins keep the builder busy for good: it needs a build
#     that began after its request to end, not the lock, which such a builder never lets go.
#   - A login's build is incremental (relay-cdb -i), relay-expire's a full rescan (-s).
#   - A misconfigured or unusable cdb mode costs the login one warning, never the login.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-allow relay-expire relay-cdb

store=$SCRATCH/store
mkdir "$store"
printf ':allow\n' >"$SCRATCH/rules.txt"
export RELAY_DIR="$store" RELAY_LOG=0 RELAY_CDB="$SCRATCH/rules.cdb" \
    RELAY_CDB_RULES="$SCRATCH/rules.txt" RELAY_CDB_PROG="$SCRATCH/builder"

# The builder notes when it starts and ends, and whether another build was running then. It
# waits while the file "gate" exists: the test holds a build that way for as long as it needs.
cat >"$SCRATCH/builder" <<EOF
#!/bin/sh
if ! mkdir "$SCRATCH/running" 2>/dev/null; then echo overlap >>"$SCRATCH/builds.log"; fi
echo "start \$(date +%s%N)" >>"$SCRATCH/builds.log"
echo "mode \$1" >>"$SCRATCH/builds.log"
while [ -e "$SCRATCH/gate" ]; do sleep 0.05; done
if [ -e "$SCRATCH/stream" ]; then
    TCPREMOTEIP=192.0.2.99 "$RELAY_BIN/relay-allow" true
fi
"$RELAY_BIN/relay-cdb" "\$@"
rc=\$?
echo "end \$(date +%s%N)" >>"$SCRATCH/builds.log"
rmdir "$SCRATCH/running"
[ -z "\${FAIL:-}" ] || exit 111
exit \$rc
EOF
chmod 755 "$SCRATCH/builder"

# idle: wait (60 s at most: a guard against a hang, not a measure) until no build runs and
# none is asked for. The builder holds the lock while it runs the build and until it has seen
# the flag clear, so a free lock with no flag means that no build is left to start.
# shellcheck disable=SC2317 # called through check
idle() {
    eventually 60 idle_now
}
# shellcheck disable=SC2317 # called through eventually
idle_now() {
    [ ! -d "$SCRATCH/running" ] && cdb_free "$SCRATCH/rules.cdb"
}

# ---- a burst of logins ----
# The first login starts a build, which the gate holds; the other 39 come while it is held.
# A login that waited for a build would never return: timeout ends it (124) instead.
: >"$SCRATCH/gate"
i=1
while [ "$i" -le 40 ]; do
    TCPREMOTEIP=192.0.2.$i timeout 60 "$RELAY_BIN/relay-allow" true
    rc=$?
    [ "$rc" -eq 0 ] || not_ok "login $i exits 0 while a build is held (got $rc)"
    echo "login $(date +%s%N)" >>"$SCRATCH/logins.log"
    i=$((i + 1))
done
check "every login returned while the first build was held" appears "$SCRATCH/running" 60
rm -f "$SCRATCH/gate"
check "the builds end" idle
is "$(grep -c overlap "$SCRATCH/builds.log")" 0 "no two builds ever ran at once"
builds=$(grep -c '^start' "$SCRATCH/builds.log")
diag "40 logins in a burst made $builds builds"
# Not a figure of speed: the first build is held by the gate from before the first login to
# after the last, so the flag the 39 others set makes one build after it, on any machine.
check "the logins during a held build are coalesced into one more build ($builds in all)" \
    test "$builds" -ge 1 -a "$builds" -le 2
is "$(grep -c '^mode -i$' "$SCRATCH/builds.log")" "$builds" "a login's build is incremental (-i)"
last_login=$(sed -n '$s/^login //p' "$SCRATCH/logins.log")
last_build=$(awk '/^start/ { s = $2 } END { print s }' "$SCRATCH/builds.log")
check "the last build started after the last login" test "$last_build" -gt "$last_login"
missing=0
i=1
while [ "$i" -le 40 ]; do
    cdb -q "$SCRATCH/rules.cdb" "192.0.2.$i" >/dev/null 2>&1 || missing=$((missing + 1))
    i=$((i + 1))
done
is "$missing" 0 "every login's address is in the final cdb"

# ---- the builder keeps none of the login's descriptors ----
: >"$SCRATCH/builds.log"
# With the build held, the pipe must close when the login's program ends: a builder that kept
# the login's stdout would keep cat (and timeout) waiting until the gate opens.
: >"$SCRATCH/gate"
# shellcheck disable=SC2016 # the inner shell expands them
out=$(TCPREMOTEIP=198.51.100.1 timeout 60 sh -c '"$1" echo session | cat' sh \
    "$RELAY_BIN/relay-allow")
rc=$?
is "$out.$rc" session.0 "the login's program runs with its stdout, and the pipe closes (124: it did not)"
check "while the build is held" appears "$SCRATCH/running" 60
rm -f "$SCRATCH/gate"
check "the held build ends" idle

# ---- relay-expire waits for its build ----
: >"$SCRATCH/builds.log"
# The build is held by the gate; relay-expire, once it returns, notes it in the same log. It
# waited for its build if the build's end comes before that note (no clock is read).
: >"$SCRATCH/gate"
# shellcheck disable=SC2016 # the inner shell expands them
start_bg sh -c '"$1" >"$2" 2>&1; rc=$?; echo "expire-returned $rc" >>"$3"' sh \
    "$RELAY_BIN/relay-expire" "$SCRATCH/expire.out" "$SCRATCH/builds.log"
expire=$LAST_PID
check "relay-expire's build is held" appears "$SCRATCH/running" 60
check "relay-expire has not returned while its build is held" kill -0 "$expire"
rm -f "$SCRATCH/gate"
wait "$expire"
is "$(sed -n 's/^expire-returned //p' "$SCRATCH/builds.log")" 0 "relay-expire exits 0 after a good build"
is "$(grep -e '^end' -e '^expire-returned' "$SCRATCH/builds.log" | cut -d' ' -f1 | tr '\n' ' ')" \
    "end expire-returned " "relay-expire returned after its build ended"
is "$(grep -c '^end' "$SCRATCH/builds.log")" 1 "one build"
is "$(sed -n 's/^mode //p' "$SCRATCH/builds.log")" -s "relay-expire's is a full rescan (-s)"
FAIL=1 "$RELAY_BIN/relay-expire" >"$SCRATCH/expire.out" 2>"$SCRATCH/expire.err"
is "$?" 111 "relay-expire exits 111 when the build fails"
like "$(cat "$SCRATCH/expire.err")" "*warning: the rules cdb * was not rebuilt*" "and says so"
"$RELAY_BIN/relay-expire" -n >/dev/null 2>&1
: >"$SCRATCH/builds.log"
"$RELAY_BIN/relay-expire" -n >/dev/null 2>&1
"$RELAY_BIN/relay-expire" -l >/dev/null 2>&1
is "$(grep -c '^start' "$SCRATCH/builds.log")" 0 "relay-expire -n and -l build nothing"

# ---- relay-expire while the builder never rests ----
# With "stream", each build makes a login first, so the builder always finds the flag set
# again and goes on to the next build without letting go of the lock, as under a steady
# stream of logins. relay-expire must still end with a full rescan that began after it asked.
: >"$SCRATCH/stream"
TCPREMOTEIP=192.0.2.98 "$RELAY_BIN/relay-allow" true
# shellcheck disable=SC2016 # expanded by the inner shell
check "the endless builds run" eventually 60 sh -c '[ "$(grep -c "^end" "$1")" -ge 2 ]' sh \
    "$SCRATCH/builds.log"
echo "expire-asks" >>"$SCRATCH/builds.log"
timeout 120 "$RELAY_BIN/relay-expire" >"$SCRATCH/expire.out" 2>"$SCRATCH/expire.err"
rc=$?
echo "expire-returned" >>"$SCRATCH/builds.log"
is "$rc" 0 "relay-expire exits 0 while the builder never lets go of the lock"
is "$(cat "$SCRATCH/expire.err")" "" "and says nothing"
# The log from relay-expire's request to its return: a build that starts and ends with -s.
is "$(sed -n '/^expire-asks/,/^expire-returned/p' "$SCRATCH/builds.log" |
    awk '$1 == "mode" && $2 == "-s" { s = 1 } $1 == "end" && s { print "ended"; exit }')" ended \
    "a full rescan began and ended between relay-expire's request and its return"
rm -f "$SCRATCH/stream"
check "the endless builds end" idle

# ---- cdb mode that cannot work never costs the login ----
RELAY_CDB=rules.cdb TCPREMOTEIP=192.0.2.200 "$RELAY_BIN/relay-allow" sh -c 'exit 7' \
    2>"$SCRATCH/warn.err"
is "$?" 7 "a relative RELAY_CDB: the login goes on"
like "$(cat "$SCRATCH/warn.err")" "relay-allow: warning: RELAY_CDB must be an absolute path*" \
    "with one warning"
RELAY_CDB=$SCRATCH/nodir/rules.cdb TCPREMOTEIP=192.0.2.201 "$RELAY_BIN/relay-allow" \
    sh -c 'exit 7' 2>"$SCRATCH/warn.err"
is "$?" 7 "an unusable cdb directory: the login goes on"
# (Root cannot enter the missing directory as its owner; anyone else cannot open the lock.)
like "$(cat "$SCRATCH/warn.err")" "relay-allow: warning: unable to *rules.cdb* not rebuilt" \
    "with one warning"
check "and the allowance is still recorded" test -f "$store/192.0.2.201"
RELAY_CDB_PROG=$SCRATCH/nonexistent TCPREMOTEIP=192.0.2.202 "$RELAY_BIN/relay-allow" true \
    2>"$SCRATCH/warn.err"
is "$?" 0 "a missing relay-cdb: the login goes on"
check "the builder's failure ends" idle
env -u RELAY_CDB TCPREMOTEIP=192.0.2.203 "$RELAY_BIN/relay-allow" true 2>"$SCRATCH/warn.err"
is "$(cat "$SCRATCH/warn.err")" "" "without RELAY_CDB, nothing is said about cdb mode"

done_testing
