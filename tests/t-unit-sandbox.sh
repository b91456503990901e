#!/bin/sh
# run: quick once
# t-unit-sandbox.sh: cron/relay-expire.service, as shipped, can do its job where the README and
# the man pages put the store and the rules cdb. systemd is not needed (nor, in a container,
# available): the unit's sandbox (ProtectSystem, ProtectHome, PrivateTmp, ReadWritePaths,
# ReadOnlyPaths, InaccessiblePaths, NoNewPrivileges, User, Group) is read from the unit and
# rebuilt with mounts in a private mount namespace, around a scratch root that holds the
# documented paths: /usr and /etc are overlays of this machine's own (so nothing of the
# machine is written), the rest is scratch directories. Then the unit's ExecStart runs there,
# as its User: a fresh allowance stays, an expired one leaves the store and, in cdb mode, the
# cdb, for every RELAY_CDB path that README.md and man/*.8 document.
# Needs root, unshare and overlayfs; skipped where the machine does not allow them.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
unit=$lib_top/cron/relay-expire.service

if [ "$(id -u)" -ne 0 ]; then
    skip "relay-expire.service's sandbox" "needs root"
    done_testing
fi
for p in unshare chroot setpriv mount tcprulescheck; do
    if ! command -v "$p" >/dev/null 2>&1; then
        skip "relay-expire.service's sandbox" "$p is not installed"
        done_testing
    fi
done
need_built relay-expire relay-cdb

# ---- the unit, as shipped --------------------------------------------------------------------

# setting KEY: the values of KEY= in [Service], joined by spaces (systemd adds them up).
setting() {
    awk -v key="$1" '
        /^\[/ { section = $0; next }
        section == "[Service]" && index($0, key "=") == 1 {
            v = substr($0, length(key) + 2)
            out = (out == "" ? v : out " " v)
        }
        END { print out }' "$unit"
}
user=$(setting User)
group=$(setting Group)
exec_start=$(setting ExecStart)
protect_system=$(setting ProtectSystem)
protect_home=$(setting ProtectHome)
private_tmp=$(setting PrivateTmp)
rw_paths=$(setting ReadWritePaths)
ro_paths=$(setting ReadOnlyPaths)
no_paths=$(setting InaccessiblePaths)
nnp=$(setting NoNewPrivileges)
stdout=$(setting StandardOutput)
diag "$unit: User=$user ProtectSystem=$protect_system ProtectHome=$protect_home" \
    "PrivateTmp=$private_tmp ReadWritePaths=$rw_paths"
set -f
# shellcheck disable=SC2086 # split into words as systemd does (the line has no quotes)
set -- $exec_start
set +f
envdir_dir=
[ "${1##*/}" = envdir ] && envdir_dir=$2

# ---- the documented paths --------------------------------------------------------------------

# The man pages' text with troff's escaped hyphens made plain.
docs() {
    cat "$lib_top/README.md"
    sed 's/\\-/-/g' "$lib_top"/man/*.8
}
# documented NAME: every absolute path the documentation gives as NAME=PATH.
documented() {
    {
        docs | grep -o "$1=/[^ \"'\`),;]*" | sed "s/^$1=//"
        docs | sed -n "s|.*echo \\(/[^ ]*\\) *> *[^ ]*/$1\$|\\1|p"
    } | sed 's/[.:]$//' | sort -u
}
cdbs=$(documented RELAY_CDB)
rules=$(documented RELAY_CDB_RULES | sed -n 1p)
rules=${rules:-/etc/tcp/smtp.txt}
store=/var/lib/relaylease
if [ -z "$cdbs" ]; then
    not_ok "README.md and the man pages say where the rules cdb goes (RELAY_CDB=...)"
fi
# shellcheck disable=SC2086 # one line each
diag "documented RELAY_CDB paths:" $cdbs

# ---- the scratch root ------------------------------------------------------------------------

R=$SCRATCH/root
mkdir -p "$R" "$SCRATCH/usr-up/local/bin" "$SCRATCH/usr-work" "$SCRATCH/etc-up" \
    "$SCRATCH/etc-work" || exit 111
chmod 755 "$R"
for d in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$d" ]; then
        ln -s "$(readlink "/$d")" "$R/$d"
    elif [ -d "/$d" ]; then
        mkdir "$R/$d"
    fi
done
mkdir -p "$R/usr" "$R/etc" "$R/var/lib" "$R/var/tmp" "$R/tmp" "$R/home" "$R/root" \
    "$R/run/user" "$R/proc" "$R/dev" "$R/boot" || exit 111
chmod 1777 "$R/tmp" "$R/var/tmp"
cp "$RELAY_BIN/relay-expire" "$RELAY_BIN/relay-cdb" "$SCRATCH/usr-up/local/bin/" || exit 111
if [ ! -x /usr/bin/envdir ]; then
    # daemontools' envdir, as far as this test needs it: each file's first line, by its name.
    mkdir -p "$SCRATCH/usr-up/bin"
    cat >"$SCRATCH/usr-up/bin/envdir" <<'EOF'
#!/bin/sh
d=$1
shift
for f in "$d"/*; do
    [ -f "$f" ] || continue
    if [ -s "$f" ]; then
        export "${f##*/}=$(sed -n 1p "$f")"
    else
        unset "${f##*/}"
    fi
done
exec "$@"
EOF
    chmod 755 "$SCRATCH/usr-up/bin/envdir"
fi

# The unit's account: this machine's, or one of the scratch root's own.
if uid=$(id -u "$user" 2>/dev/null); then
    gid=$(getent group "${group:-$user}" | cut -d: -f3)
    gid=${gid:-$(id -g "$user")}
else
    uid=61234
    while getent passwd "$uid" >/dev/null 2>&1 || getent group "$uid" >/dev/null 2>&1; do
        uid=$((uid + 1))
    done
    gid=$uid
    { cat /etc/passwd && echo "$user:x:$uid:$gid::/nonexistent:/usr/sbin/nologin"; } \
        >"$SCRATCH/etc-up/passwd"
    { cat /etc/group && echo "${group:-$user}:x:$gid:"; } >"$SCRATCH/etc-up/group"
    chmod 644 "$SCRATCH/etc-up/passwd" "$SCRATCH/etc-up/group"
fi

# host PATH: where PATH of the scratch root is, seen from here.
host() {
    case $1 in
    /usr/*) echo "$SCRATCH/usr-up${1#/usr}" ;;
    /etc/*) echo "$SCRATCH/etc-up${1#/etc}" ;;
    *) echo "$R$1" ;;
    esac
}
# account_dir PATH: a directory of the account's, mode 0755, at PATH of the scratch root.
account_dir() {
    mkdir -p "$(host "$1")" && chown "$uid:$gid" "$(host "$1")" && chmod 755 "$(host "$1")"
}

# ---- the sandbox -----------------------------------------------------------------------------

# What systemd does for the unit, by mounts in a private namespace, then the ExecStart.
# Arguments: the scratch directory, the root, uid, gid, then the ExecStart's words.
cat >"$SCRATCH/sandbox" <<'EOF'
S=$1 R=$2 uid=$3 gid=$4
shift 4
set -e
# An overlay wants a work directory of its own each time.
rm -rf "$S/usr-work" "$S/etc-work"
mkdir "$S/usr-work" "$S/etc-work"
# The root first, as a mount of its own that can be made read-only; then what is in it.
mount --bind "$R" "$R"
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$S/usr-up,workdir=$S/usr-work" "$R/usr"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$S/etc-up,workdir=$S/etc-work" "$R/etc"
mount --rbind /proc "$R/proc"
mount --rbind /dev "$R/dev"
# mounts_under DIR: DIR's mount points and the ones below it.
mounts_under() {
    awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo
}
ro() {
    [ -e "$R$1" ] || return 0
    mounts_under "$R$1" | grep -qx "$R$1" || mount --bind "$R$1" "$R$1"
    for m in $(mounts_under "$R$1"); do
        mount -o remount,bind,ro "$m"
    done
}
case $protect_system in
strict)
    for m in $(mounts_under "$R"); do
        case $m in
        "$R/proc" | "$R/proc/"* | "$R/dev" | "$R/dev/"* | "$R/sys" | "$R/sys/"*) ;;
        *) mount -o remount,bind,ro "$m" ;;
        esac
    done
    ;;
full) for p in /usr /boot /efi /etc; do ro "$p"; done ;;
yes | true | on | 1) for p in /usr /boot /efi; do ro "$p"; done ;;
esac
case $protect_home in
yes | true | on | 1) for p in /home /root /run/user; do
    [ ! -e "$R$p" ] || mount -t tmpfs -o mode=000 tmpfs "$R$p"
done ;;
read-only) for p in /home /root /run/user; do ro "$p"; done ;;
tmpfs) for p in /home /root /run/user; do
    [ ! -e "$R$p" ] || mount -t tmpfs -o mode=755 tmpfs "$R$p"
done ;;
esac
case $private_tmp in
yes | true | on | 1) for p in /tmp /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "$R$p"; done ;;
esac
# paths LIST KIND: each path; a "-" in front means it may be missing.
for p in $ro_paths; do
    p=${p#-}
    ro "${p#+}"
done
for p in $rw_paths; do
    case $p in
    -*) p=${p#-}; [ -e "$R$p" ] || continue ;;
    esac
    p=${p#+}
    if [ ! -e "$R$p" ]; then
        echo "sandbox: ReadWritePaths=$p does not exist: systemd would not start the unit" >&2
        exit 226
    fi
    mount --bind "$R$p" "$R$p"
    mount -o remount,bind,rw "$R$p"
done
for p in $no_paths; do
    p=${p#-}
    [ ! -e "$R$p" ] || mount -t tmpfs -o mode=000 tmpfs "$R$p"
done
set +e
out=/dev/stdout
[ "$stdout" != null ] || out=/dev/null
# shellcheck disable=SC2016 # the inner shell expands it
chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin \
    ${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} ${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} \
    ${LSAN_OPTIONS:+LSAN_OPTIONS="$LSAN_OPTIONS"} \
    /usr/bin/setpriv --reuid="$uid" --regid="$gid" --clear-groups \
    ${nnp:+--no-new-privs} -- /bin/sh -c 'umask 022 && cd / && exec "$@"' sh "$@" >"$out"
EOF

# sandbox_run: run the unit's ExecStart in its sandbox. Its stderr is in $SCRATCH/run.err.
sandbox_run() {
    case $nnp in
    yes | true | on | 1) nnp_flag=1 ;;
    *) nnp_flag= ;;
    esac
    env protect_system="$protect_system" protect_home="$protect_home" \
        private_tmp="$private_tmp" rw_paths="$rw_paths" ro_paths="$ro_paths" \
        no_paths="$no_paths" nnp="$nnp_flag" stdout="$stdout" \
        unshare -m --propagation private sh "$SCRATCH/sandbox" "$SCRATCH" "$R" "$uid" "$gid" \
        "$@" 2>"$SCRATCH/run.err"
}

# Does the machine let us build it at all?
# shellcheck disable=SC2016 # the inner shell expands them
if ! unshare -m --propagation private sh -c \
    'mount -t overlay overlay -o "lowerdir=/usr,upperdir=$1/usr-up,workdir=$1/usr-work" "$2/usr"' \
    sh "$SCRATCH" "$R" >"$SCRATCH/probe.err" 2>&1; then
    skip "relay-expire.service's sandbox" "no private mount namespace with overlayfs here: $(sed -n 1p "$SCRATCH/probe.err")"
    done_testing
fi

check "the unit runs relay-expire through envdir, as this test expects" test -n "$envdir_dir"
check "the unit runs as an account of its own" test -n "$user" -a "$user" != root
account_dir "$envdir_dir" && chown 0:0 "$(host "$envdir_dir")" || exit 111
echo "$store" >"$(host "$envdir_dir")/RELAY_DIR"
mkdir -p "$(dirname "$(host "$rules")")" && printf '127.:allow,RELAYCLIENT=""\n:allow\n' \
    >"$(host "$rules")" || exit 111

# scenario CDB: a fresh allowance and one about to expire; a sweep in the sandbox; the
# second expires; another sweep. CDB is a RELAY_CDB path, or "" for no cdb mode.
scenario() {
    cdb=$1
    shift
    name=${cdb:-"no cdb mode"}
    rm -rf "$(host "$store")" "$(host "$(dirname "${cdb:-/nonexistent/x}")")"
    account_dir "$store" || exit 111
    now=$(date +%s)
    for ip in 192.0.2.7 192.0.2.8; do
        printf 'relaylease1 %s bob\n' "$ip" >"$(host "$store")/$ip"
        chown "$uid:$gid" "$(host "$store")/$ip"
        touch -d "@$((now - 60))" "$(host "$store")/$ip"
    done
    if [ -n "$cdb" ]; then
        account_dir "$(dirname "$cdb")" || exit 111
        echo "$cdb" >"$(host "$envdir_dir")/RELAY_CDB"
        echo "$rules" >"$(host "$envdir_dir")/RELAY_CDB_RULES"
        echo /usr/local/bin/relay-cdb >"$(host "$envdir_dir")/RELAY_CDB_PROG"
    else
        rm -f "$(host "$envdir_dir")/RELAY_CDB" "$(host "$envdir_dir")/RELAY_CDB_RULES" \
            "$(host "$envdir_dir")/RELAY_CDB_PROG"
    fi

    sandbox_run "$@"
    rc=$?
    is "$rc" 0 "$name: the unit's first sweep succeeds in its sandbox"
    [ "$rc" -eq 0 ] || diag <"$SCRATCH/run.err"
    if [ -n "$cdb" ]; then
        like "$(TCPREMOTEIP=192.0.2.8 tcprulescheck "$(host "$cdb")" 2>&1)" \
            "*RELAYCLIENT=*" "$name: the sweep wrote the cdb, which grants 192.0.2.8"
    fi
    touch -d "@$((now - 1000))" "$(host "$store")/192.0.2.8"
    sandbox_run "$@"
    rc=$?
    is "$rc" 0 "$name: the next sweep succeeds in its sandbox"
    [ "$rc" -eq 0 ] || diag <"$SCRATCH/run.err"
    check "$name: the expired allowance has left the store" test ! -e "$(host "$store")/192.0.2.8"
    check "$name: the fresh one is still there" test -e "$(host "$store")/192.0.2.7"
    if [ -n "$cdb" ]; then
        out=$(TCPREMOTEIP=192.0.2.8 tcprulescheck "$(host "$cdb")" 2>&1)
        case $out in
        *RELAYCLIENT* | *fatal*) not_ok "$name: the expired allowance has left the cdb"; diag "$out" ;;
        *) ok "$name: the expired allowance has left the cdb" ;;
        esac
        like "$(TCPREMOTEIP=192.0.2.7 tcprulescheck "$(host "$cdb")" 2>&1)" \
            "*RELAYCLIENT=*" "$name: the fresh one is still in it"
    fi
}

scenario "" "$@"
for cdb in $cdbs; do
    scenario "$cdb" "$@"
done

# The sandbox is real: outside the writable paths, the account may write nothing, even a
# directory of its own.
account_dir /var/lib/elsewhere || exit 111
echo /var/lib/elsewhere >"$(host "$envdir_dir")/RELAY_DIR"
rm -f "$(host "$envdir_dir")/RELAY_CDB"
printf 'relaylease1 192.0.2.9 bob\n' >"$(host /var/lib/elsewhere)/192.0.2.9"
chown "$uid:$gid" "$(host /var/lib/elsewhere)/192.0.2.9"
touch -d "@$(($(date +%s) - 10000))" "$(host /var/lib/elsewhere)/192.0.2.9"
sandbox_run "$@"
case $protect_system in
strict)
    check "(the sandbox is real: a store outside ReadWritePaths is read-only)" \
        test -e "$(host /var/lib/elsewhere)/192.0.2.9"
    ;;
esac
done_testing
