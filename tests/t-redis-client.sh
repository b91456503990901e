#!/bin/sh
# t-redis-client.sh: redis/client.c through tests/redis-probe, against fakeredis (servers that
# hang, drip, close, never accept, or answer what no Redis sends) and against the real
# redis-server and redis-sentinel (skipped if they are not installed).
# No case passes or fails on a time: "ends at the deadline" is the errno ETIMEDOUT from a probe
# that ended (eventually guards a hang); each deadline that must pass is short, and each
# server that must be slower than it is slower by construction (it never answers, or it drips
# a reply for longer than the probe's guard of 60 s). A deadline that must not pass is the
# probe's default, 30 s.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2034 # read by redis-lib.sh
redis_fakes_only=1
# shellcheck source-path=SCRIPTDIR source=redis-lib.sh
. "$(dirname "$0")/redis-lib.sh"

need_driver redis-probe
need_built fakeredis
probe_bin=$(driver_path redis-probe)

# fake NAME ADDR [OPTION...] < SCRIPT: redis-lib.sh's fakeredis_start (FAKE_PID, FAKE_PORT,
# the requests in $SCRATCH/NAME.log); here a fake that does not listen ends the test.
fake() {
    fakeredis_start "$@" || exit 1
}

# probe ARGS...: run redis-probe; OUT is its output (one line per item), RC its exit code.
# A probe still running after 60 s is killed and counts as "hung" (the deadlines here are at
# most 30 s, so only a probe that ignores its deadline gets there).
probe() {
    rm -f "$SCRATCH/probe.rc"
    (
        "$probe_bin" "$@" >"$SCRATCH/probe.out" 2>&1 &
        echo $! >"$SCRATCH/probe.pid"
        wait $!
        echo $? >"$SCRATCH/probe.rc.tmp"
        mv "$SCRATCH/probe.rc.tmp" "$SCRATCH/probe.rc"
    ) &
    p_sub=$!
    if appears "$SCRATCH/probe.rc" 60; then
        RC=$(cat "$SCRATCH/probe.rc")
    else
        kill -KILL "$(cat "$SCRATCH/probe.pid")" 2>/dev/null
        RC=hung
    fi
    wait "$p_sub"
    OUT=$(cat "$SCRATCH/probe.out")
}

# fails ERRNO DESC ARGS...: the probe ends with exit 111 and "fail ERRNO: ..."
fails() {
    f_err=$1
    f_desc=$2
    shift 2
    probe "$@"
    like "$RC $OUT" "111 fail $f_err: *" "$f_desc"
}

# answers WANT DESC ARGS...: the probe ends with exit 0 and exactly WANT as its output
answers() {
    a_want=$1
    a_desc=$2
    shift 2
    probe "$@"
    is "$RC $OUT" "0 $a_want" "$a_desc"
}

nl='
'
sock=$SCRATCH/fake.sock

# ---- a server that answers --------------------------------------------------------------------
fake plain "unix:$sock" <<'EOF'
wait
send +PONG\r\n
EOF
answers "status PONG" "Unix socket: PING answered" "unix:$sock" PING
is "$(cat "$SCRATCH/plain.log")" "PING" "the server received the request"
stop_pid "$FAKE_PID"

fake tcp 127.0.0.1:0 <<'EOF'
wait
send $5\r\nhello\r\n
EOF
answers "bulk hello" "TCP over IPv4: a bulk string" "127.0.0.1:$FAKE_PORT" GET k
stop_pid "$FAKE_PID"

if "$STANDINS/chat" -f ::1 >/dev/null 2>&1; then
    fake tcp6 '[::1]:0' <<'EOF'
wait
send :42\r\n
EOF
    answers "integer 42" "TCP over IPv6: an integer" "[::1]:$FAKE_PORT" INCR k
    stop_pid "$FAKE_PID"
else
    skip "TCP over IPv6: an integer" "no IPv6 loopback here"
fi

# AUTH and the command in one write; the AUTH reply is read first.
printf 'pw-of-pop\n' >"$SCRATCH/pass"
chmod 600 "$SCRATCH/pass"
fake auth "unix:$sock" <<'EOF'
wait
wait
send +OK\r\n$3\r\nabc\r\n
EOF
answers "auth status OK${nl}bulk abc" "AUTH and GET pipelined" -u relaylease-pop \
    -p "$SCRATCH/pass" "unix:$sock" GET relaylease:k
is "$(cat "$SCRATCH/auth.log")" "AUTH relaylease-pop pw-of-pop${nl}GET relaylease:k" \
    "the server received AUTH user password, then GET"
case $OUT in *pw-of-pop*) not_ok "the password is not in the output" ;; *) ok "the password is not in the output" ;; esac
stop_pid "$FAKE_PID"

fake wrongpass "unix:$sock" <<'EOF'
wait
wait
send -WRONGPASS invalid username-password pair or user is disabled.\r\n$3\r\nabc\r\n
EOF
probe -u relaylease-pop -p "$SCRATCH/pass" "unix:$sock" GET relaylease:k
is "$RC $OUT" "2 auth error WRONGPASS invalid username-password pair or user is disabled." \
    "AUTH refused: the GET's reply after it is never read"
stop_pid "$FAKE_PID"

chmod 604 "$SCRATCH/pass"
fake nopass "unix:$sock" <<'EOF'
wait
send +OK\r\n
EOF
fails EINVAL "a password file open to others is refused" -p "$SCRATCH/pass" "unix:$sock" PING
like "$OUT" "*open to other users*" "and says why"
is "$(cat "$SCRATCH/nopass.log")" "" "and nothing was sent"
stop_pid "$FAKE_PID"
chmod 600 "$SCRATCH/pass"

# ---- servers that never finish: the deadline ends each (ETIMEDOUT) ---------------------------
fake hang "unix:$sock" <<'EOF'
hang
EOF
fails ETIMEDOUT "a server that never answers: ETIMEDOUT" -t 200 "unix:$sock" PING
stop_pid "$FAKE_PID"

# 2000 bytes, one every 50 ms: 100 s of dripping, longer than the probe's guard of 60 s,
# against a 200 ms deadline (however slow the machine, the reply cannot be whole before the
# deadline); every byte comes well within any per-read timeout.
drip=$(printf '%02000d' 0)
fake drip 127.0.0.1:0 <<EOF
wait
drip 50 \$2000\\r\\n$drip\\r\\n
EOF
fails ETIMEDOUT "a server that drips a long reply: ETIMEDOUT" -t 200 "127.0.0.1:$FAKE_PORT" GET k
stop_pid "$FAKE_PID"
fake dripok 127.0.0.1:0 <<'EOF'
wait
drip 1 +OK\r\n
EOF
answers "status OK" "a short drip within a long deadline is read whole" "127.0.0.1:$FAKE_PORT" \
    PING
stop_pid "$FAKE_PID"

fake backlog 127.0.0.1:0 -b </dev/null
fails ETIMEDOUT "TCP: a server that never accepts (full backlog): ETIMEDOUT" -t 200 \
    "127.0.0.1:$FAKE_PORT" PING
stop_pid "$FAKE_PID"
fake ubacklog "unix:$sock" -b </dev/null
fails ETIMEDOUT "Unix: a server that never accepts (full backlog): ETIMEDOUT" -t 200 \
    "unix:$sock" PING
stop_pid "$FAKE_PID"

fake stopped "unix:$sock" <<'EOF'
wait
send +PONG\r\n
EOF
kill -STOP "$FAKE_PID"
fails ETIMEDOUT "a stopped server (SIGSTOP): ETIMEDOUT" -t 200 "unix:$sock" PING
kill -CONT "$FAKE_PID"
answers "status PONG" "the same server, continued, answers" "unix:$sock" PING
stop_pid "$FAKE_PID"

# ---- servers that go away ---------------------------------------------------------------------
port=$(free_port 127.0.0.1)
fails ECONNREFUSED "nothing listening on the port: ECONNREFUSED" "127.0.0.1:$port" PING
fails ENOENT "no Unix socket: ENOENT" "unix:$SCRATCH/none.sock" PING
for a in localhost:6379 127.0.0.1:0 127.0.0.1:06379 '[::1]' unix:relative 127.1:6379; do
    fails EINVAL "a bad address is refused: $a" "$a" PING
done

fake close0 "unix:$sock" <<'EOF'
wait
close
EOF
fails ECONNRESET "closed before the reply: ECONNRESET" "unix:$sock" PING
stop_pid "$FAKE_PID"
fake close1 "unix:$sock" <<'EOF'
wait
send $5\r\nab
close
EOF
fails ECONNRESET "closed mid-reply: ECONNRESET" "unix:$sock" GET k
stop_pid "$FAKE_PID"

# A request far bigger than the socket buffer, to a server that closes without reading:
# EPIPE (or ECONNRESET), and the probe is not killed by SIGPIPE (exit 141).
fake close2 "unix:$sock" <<'EOF'
close
EOF
probe -z 1500000 "unix:$sock" SET k
like "$RC $OUT" "111 fail E[CP][OI][NP]*" "a server that closes under a big request: an error, not SIGPIPE"
case $OUT in
"fail EPIPE: "* | "fail ECONNRESET: "*) ok "EPIPE or ECONNRESET" ;;
*) not_ok "EPIPE or ECONNRESET" && diag "got: $OUT" ;;
esac
stop_pid "$FAKE_PID"

# ---- replies no Redis sends ---------------------------------------------------------------------
bulk100=$(printf '%0100d' 0)
bulk5000=$(printf '%05000d' 0)
fake big "unix:$sock" <<EOF
wait
send \$100\\r\\n$bulk100\\r\\n
EOF
fails EMSGSIZE "a reply larger than the caller's buffer: EMSGSIZE" -b 64 "unix:$sock" GET k
answers "bulk $bulk100" "the same reply fits a larger buffer" -b 4096 "unix:$sock" GET k
stop_pid "$FAKE_PID"

n=0
while IFS= read -r reply; do
    n=$((n + 1))
    printf 'wait\nsend %s\n' "$reply" >"$SCRATCH/script"
    fake "bad$n" "unix:$sock" <"$SCRATCH/script"
    fails EPROTO "malformed reply $reply: EPROTO" "unix:$sock" GET k
    stop_pid "$FAKE_PID"
done <<EOF
\$-2\\r\\n
\$01\\r\\nx\\r\\n
\$+1\\r\\nx\\r\\n
\$ 1\\r\\nx\\r\\n
\$1\\r\\nxy\\r\\n
\$3\\r\\nabcd\\r\\n
+OK\\n
+OK\\rX\\n
!3\\r\\nabc\\r\\n
*1\\r\\n*1\\r\\n*1\\r\\n:1\\r\\n
*-2\\r\\n
:01\\r\\n
\$5000\\r\\n$bulk5000\\r\\n
EOF

fake extra "unix:$sock" <<'EOF'
wait
send +OK\r\n+OK\r\n
EOF
answers "status OK${nl}leftover" "bytes after the reply are seen" "unix:$sock" PING
stop_pid "$FAKE_PID"

# ---- Sentinel, with fake sentinels -----------------------------------------------------------------
# sentinel NAME REPLY: a fake sentinel on TCP that sends REPLY (fakeredis's escapes) to the
# first request, or hangs if REPLY is empty; S_PORT, S_PID
sentinel() {
    if [ -n "$2" ]; then
        printf 'wait\nsend %s\n' "$2" >"$SCRATCH/script"
    else
        printf 'hang\n' >"$SCRATCH/script"
    fi
    fake "$1" 127.0.0.1:0 <"$SCRATCH/script"
    S_PORT=$FAKE_PORT
    S_PID=$FAKE_PID
}
# shellcheck disable=SC2016 # $9: RESP's bulk length, for fakeredis, not for the shell
good='*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n'
nil='*-1\r\n'

sentinel s_hang ''
p_hang=$S_PORT
pid_hang=$S_PID
fake s_backlog 127.0.0.1:0 -b </dev/null
p_backlog=$FAKE_PORT
pid_backlog=$FAKE_PID
sentinel s_good "$good"
p_good=$S_PORT
pid_good=$S_PID
sentinel s_nil "$nil"
p_nil=$S_PORT
pid_nil=$S_PID

answers "primary 127.0.0.1:6380" "one sentinel answers while one hangs and one never accepts" \
    -s relaylease "127.0.0.1:$p_hang" "127.0.0.1:$p_backlog" "127.0.0.1:$p_good"
answers "primary 127.0.0.1:6380" "an answer wins over a sentinel that does not know the name" \
    -s relaylease "127.0.0.1:$p_nil" "127.0.0.1:$p_good"
is "$(sort -u "$SCRATCH/s_good.log" "$SCRATCH/s_nil.log" "$SCRATCH/s_hang.log")" \
    "SENTINEL get-master-addr-by-name relaylease" "the sentinels are asked the question, and nothing else"
# ENOENT wins over ETIMEDOUT once the nil answer is read before the deadline; a machine too
# busy to read it in time gives ETIMEDOUT, so the deadline grows until it does not.
for ms in 300 1000 3000 10000 30000; do
    probe -t "$ms" -s relaylease "127.0.0.1:$p_nil" "127.0.0.1:$p_hang"
    case $OUT in "fail ETIMEDOUT: "*) ;; *) break ;; esac
done
like "$RC $OUT" "111 fail ENOENT: *" "the only sentinel that answers does not know the name: ENOENT"
[ "$ms" -eq 300 ] || diag "(the nil answer came in before a deadline of $ms ms)"
fails ETIMEDOUT "no sentinel answers: ETIMEDOUT" -t 200 -s relaylease "127.0.0.1:$p_hang" \
    "127.0.0.1:$p_backlog"
port=$(free_port 127.0.0.1)
fails ECONNREFUSED "no sentinel listening: ECONNREFUSED" -s relaylease "127.0.0.1:$port"
fails ENOENT "one refused, one does not know the name: ENOENT" -s relaylease \
    "127.0.0.1:$port" "127.0.0.1:$p_nil"
for pid in "$pid_hang" "$pid_backlog" "$pid_good" "$pid_nil"; do
    stop_pid "$pid"
done

# shellcheck disable=SC2016 # RESP's bulk lengths
sentinel s_v6 '*2\r\n$3\r\n::1\r\n$4\r\n6379\r\n'
answers "primary [::1]:6379" "an IPv6 primary is written [v6]:port" -s relaylease "127.0.0.1:$S_PORT"
stop_pid "$S_PID"

bulk600=$(printf '%0600d' 0)
n=0
while IFS= read -r answer; do
    n=$((n + 1))
    sentinel "s_bad$n" "$answer"
    fails EPROTO "sentinel answer $answer: EPROTO" -s relaylease "127.0.0.1:$S_PORT"
    stop_pid "$S_PID"
done <<'EOF'
*2\r\n$9\r\nlocalhost\r\n$4\r\n6379\r\n
*2\r\n$11\r\nredis.local\r\n$4\r\n6379\r\n
*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n
*2\r\n$9\r\n127.0.0.1\r\n$5\r\n65536\r\n
*2\r\n$9\r\n127.0.0.1\r\n$5\r\n06379\r\n
*2\r\n$9\r\n127.0.0.1\r\n$5\r\n+6379\r\n
*2\r\n$9\r\n127.0.0.1\r\n:6379\r\n
*2\r\n$5\r\n127.1\r\n$4\r\n6379\r\n
*2\r\n$12\r\nfe80::1%eth0\r\n$4\r\n6379\r\n
*2\r\n$11\r\n[::1]:6379]\r\n$4\r\n6379\r\n
*2\r\n$14\r\n127.0.0.1:6379\r\n$4\r\n6379\r\n
*2\r\n$10\r\n127.0.0.1 \r\n$4\r\n6379\r\n
*2\r\n$10\r\n127.0.0.1\x00\r\n$4\r\n6379\r\n
*2\r\n$0\r\n\r\n$4\r\n6379\r\n
*2\r\n$-1\r\n$4\r\n6379\r\n
*3\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n$1\r\nx\r\n
*1\r\n$9\r\n127.0.0.1\r\n
*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n+OK\r\n
*-1\r\n+OK\r\n
+OK\r\n
-ERR unknown command\r\n
-NOAUTH Authentication required.\r\n
*9\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n1\r\n
EOF
sentinel s_long "\$600\\r\\n$bulk600\\r\\n"
fails EPROTO "a sentinel answer longer than its buffer: EPROTO" -s relaylease "127.0.0.1:$S_PORT"
stop_pid "$S_PID"

# ---- the real redis-server and redis-sentinel ----------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-sentinel >/dev/null 2>&1; then
    skip "the real redis-server and redis-sentinel" "not installed (tests/deps.sh --tests)"
    done_testing
fi

r=$SCRATCH/r
mkdir "$r"
rport=$(free_port 127.0.0.1)
cat >"$r/redis.conf" <<EOF
port $rport
bind 127.0.0.1
unixsocket $r/sock
unixsocketperm 700
dir $r
daemonize no
pidfile $r/pid
logfile $r/log
user relaylease-pop on >pw-of-pop ~relaylease:* +set +get
EOF
start_bg redis-server "$r/redis.conf" --save '' --appendonly no
rpid=$LAST_PID
# shellcheck disable=SC2317 # called through eventually
ping() { "$probe_bin" "$@" PING 2>&1 | grep -qx 'status PONG'; }
if ! eventually 60 ping "unix:$r/sock"; then
    not_ok "redis-server answers on its Unix socket"
    diag <"$r/log"
    done_testing
fi
is "$(cat "$r/pid")" "$rpid" "redis-server's PID is the one we stop"

answers "status PONG" "redis-server: PING over the Unix socket" "unix:$r/sock" PING
answers "status PONG" "redis-server: PING over TCP" "127.0.0.1:$rport" PING
answers "auth status OK${nl}status OK" "redis-server: AUTH and SET" -u relaylease-pop \
    -p "$SCRATCH/pass" "unix:$r/sock" SET relaylease:k v1 EX 60
answers "auth status OK${nl}bulk v1" "redis-server: AUTH and GET" -u relaylease-pop \
    -p "$SCRATCH/pass" "127.0.0.1:$rport" GET relaylease:k
answers "auth status OK${nl}nil" "redis-server: GET of a missing key is nil" -u relaylease-pop \
    -p "$SCRATCH/pass" "unix:$r/sock" GET relaylease:none
printf 'wrong\n' >"$SCRATCH/wrong"
chmod 600 "$SCRATCH/wrong"
probe -u relaylease-pop -p "$SCRATCH/wrong" "unix:$r/sock" GET relaylease:k
like "$RC $OUT" "2 auth error WRONGPASS *" "redis-server: a wrong password is refused"
probe -u relaylease-pop -p "$SCRATCH/pass" "unix:$r/sock" DEL relaylease:k
like "$RC $OUT" "0 auth status OK${nl}error NOPERM *" "redis-server: a command the ACL denies"
fails EMSGSIZE "redis-server: a reply larger than the buffer" -b 16 "unix:$r/sock" \
    ECHO "$bulk100"

kill -STOP "$rpid"
fails ETIMEDOUT "redis-server stopped (SIGSTOP): ETIMEDOUT over the Unix socket" -t 200 \
    "unix:$r/sock" PING
fails ETIMEDOUT "redis-server stopped (SIGSTOP): ETIMEDOUT over TCP" -t 200 \
    "127.0.0.1:$rport" PING
kill -CONT "$rpid"
answers "status PONG" "redis-server continued: it answers" "unix:$r/sock" PING

spids=
sentinels=
for i in 1 2 3; do
    mkdir "$r/s$i"
    sport=$(free_port 127.0.0.1)
    cat >"$r/s$i/sentinel.conf" <<EOF
port $sport
bind 127.0.0.1
daemonize no
dir $r/s$i
logfile $r/s$i/log
sentinel monitor relaylease 127.0.0.1 $rport 2
EOF
    start_bg redis-sentinel "$r/s$i/sentinel.conf"
    spids="$spids $LAST_PID"
    sentinels="$sentinels 127.0.0.1:$sport"
done
# shellcheck disable=SC2317 # called through eventually
named() { "$probe_bin" -s relaylease "$1" 2>&1 | grep -qx "primary 127.0.0.1:$rport"; }
for s in $sentinels; do
    if ! eventually 60 named "$s"; then
        not_ok "redis-sentinel $s answers"
        done_testing
    fi
done
# shellcheck disable=SC2086 # one word per sentinel
{
    answers "primary 127.0.0.1:$rport" "3 sentinels name the primary" -s relaylease $sentinels
    fails ENOENT "3 sentinels: an unknown name is ENOENT" -s other $sentinels
    first=${spids# }
    first=${first%% *}
    kill -STOP "$first"
    answers "primary 127.0.0.1:$rport" "one sentinel stopped: the others answer" \
        -s relaylease $sentinels
    for pid in $spids; do kill -STOP "$pid"; done
    fails ETIMEDOUT "every sentinel stopped: ETIMEDOUT" -t 300 -s relaylease $sentinels
    for pid in $spids; do kill -CONT "$pid"; done
    answers "primary 127.0.0.1:$rport" "the sentinels continued: they answer" -s relaylease $sentinels
}
for pid in $spids $rpid; do
    stop_pid "$pid"
done
done_testing
