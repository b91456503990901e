#!/bin/sh
# t-migrate-opensmtp.sh: moving from vpopmail's roaming users to relaylease.
#   relay-import-opensmtp reads ~vpopmail/etc/open-smtp ("IP:allow,...<TAB>timestamp"),
#   records each fresh line with its own login time, leaves stale ones out, reports each
#   malformed line by number and skips it, keeps a newer record, and in cdb mode rebuilds
#   the cdb from the static tcp.smtp with the imported allowances merged in.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_built relay-import-opensmtp relay-check relay-cdb relay-allow

store=$SCRATCH/store
mkdir "$store"
export RELAY_DIR="$store" RELAY_LOG=0
now=$(date +%s)
tab=$(printf '\t')
v='RELAYCLIENT="",RBLSMTPD=""'
# A login made after vpopmail's: the import must not set it back.
TCPREMOTEIP=203.0.113.9 "$RELAY_BIN/relay-allow"
cat >"$SCRATCH/open-smtp" <<EOF
192.0.2.1:allow,$v$tab$((now - 100))
192.0.2.2:allow,$v$tab$((now - 5000))
192.0.2.3:allow,$v$tab$((now - 600))
192.0.2.3:allow,$v$tab$((now - 60))
2001:db8:1:2::7:allow,$v$tab$((now - 30))
no tab at all
192.0.2.:allow,$v$tab$now
192.0.2.4:deny$tab$now
192.0.2.5:allow,$v${tab}soon
192.0.2.6:allow,$v$tab$((now + 3600))
192.0.2.7:allowed$tab$now
203.0.113.9:allow,$v$tab$((now - 200))

192.0.2.8:allow$tab$((now - 10))
EOF
"$RELAY_BIN/relay-import-opensmtp" <"$SCRATCH/open-smtp" >"$SCRATCH/import.out" \
    2>"$SCRATCH/import.err"
is "$?" 0 "the import exits 0 although some lines were skipped"
is "$(cat "$SCRATCH/import.out")" "imported 5 stale 1 newer 1 malformed 6" "its summary"
for n in 6 7 8 9 10 11; do
    like "$(grep -c "warning: line $n skipped" "$SCRATCH/import.err")" 1 "malformed line $n is reported"
done
is "$(wc -l <"$SCRATCH/import.err" | tr -d ' ')" 6 "and nothing else"
like "$(grep 'line 6 ' "$SCRATCH/import.err")" "*no tab before the timestamp: no tab at all" \
    "a report says why and shows the line"

mtime() {
    stat -c %Y "$store/$1" 2>/dev/null
}
is "$(mtime 192.0.2.1)" "$((now - 100))" "a fresh line is recorded with its own login time"
check "a stale line is left out" test ! -e "$store/192.0.2.2"
is "$(mtime 192.0.2.3)" "$((now - 60))" "of two lines for one address, the newer login wins"
is "$(mtime 2001:db8:1:2::_64)" "$((now - 30))" "an IPv6 line becomes the /64 allowance"
check "a newer record made by a login is kept" test "$(mtime 203.0.113.9)" -ge "$((now - 5))"
is "$(mtime 192.0.2.8)" "$((now - 10))" "a line with no variables is read too"
for ip in 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7; do
    check "malformed $ip is not recorded" test ! -e "$store/$ip"
done
check "relay-check grants an imported allowance" granted 192.0.2.1
check "and not a stale one" refused 192.0.2.2

"$RELAY_BIN/relay-import-opensmtp" extra </dev/null 2>/dev/null
is "$?" 100 "an argument is a usage error"

# cdb mode: tcp.smtp stays the rules input, and the import rebuilds the cdb.
printf '%s\n' '127.:allow,RELAYCLIENT=""' '192.0.2.:allow,RBLSMTPD=""' ':allow' >"$SCRATCH/tcp.smtp"
rm -f "$store"/*
printf '192.0.2.1:allow,%s\t%s\n' "$v" "$((now - 100))" |
    RELAY_CDB=$SCRATCH/tcp.smtp.cdb RELAY_CDB_RULES=$SCRATCH/tcp.smtp \
        RELAY_CDB_PROG=$RELAY_BIN/relay-cdb "$RELAY_BIN/relay-import-opensmtp" >/dev/null
is "$?" 0 "the import in cdb mode exits 0"
is "$(TCPREMOTEIP=192.0.2.1 tcprulescheck "$SCRATCH/tcp.smtp.cdb" | tr '\n' ' ')" \
    "rule 192.0.2.1: set environment variable RBLSMTPD= set environment variable RELAYCLIENT= allow connection " \
    "the cdb is rebuilt with the imported allowance and tcp.smtp's variables"

done_testing
