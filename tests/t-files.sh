#!/bin/sh
# run: quick once
# The files an operator installs by hand: the systemd units and the crontab line in cron/,
# and the man pages. Units must load in systemd, the crontab line must be well formed and
# run programs that exist, and every man page must render without a warning and name the
# settings and log lines of its program as the source has them.
# shellcheck source=tests/lib.sh disable=SC1091 # checked on its own
. "$(dirname "$0")/lib.sh"

top=$(cd "$(dirname "$0")/.." && pwd) || exit 111
mkdir "$SCRATCH/bin" "$SCRATCH/man" "$SCRATCH/man/man8" "$SCRATCH/units" || exit 111

# programs WORD...: the programs a command line runs, one per line: its first word, and after
# a program that runs another one (envdir DIR, setuidgid USER, env VAR=...), the next one.
# A chaining program with nothing after it yields "(none)".
programs() {
    while [ $# -gt 0 ]; do
        printf '%s\n' "$1"
        case ${1##*/} in
        envdir | setuidgid)
            [ $# -ge 3 ] || { echo '(none)'; return 0; }
            shift 2
            ;;
        env)
            shift
            while [ $# -gt 0 ]; do
                case $1 in *=* | -*) shift ;; *) break ;; esac
            done
            [ $# -gt 0 ] || echo '(none)'
            ;;
        *) return 0 ;;
        esac
    done
}

# resolve WORD FILE SEARCH: is the program WORD, named in FILE, there to run (program_runs)?
# SEARCH is the PATH that FILE's command is run with. Prints ok/not ok, and sets RESOLVED to a
# path that runs it here (for systemd-analyze), or to nothing.
resolve() {
    r_name=${2##*/}
    program_runs "$1" "$3"
    r_rc=$?
    RESOLVED=$FOUND
    if [ "$r_rc" -eq 2 ] && [ "${1##*/}" = envdir ] && grep -q daemontools "$2"; then
        # Not every test machine has daemontools; then the file must say where envdir
        # comes from. A stand-in lets systemd-analyze check the rest of the unit.
        printf '#!/bin/sh\nexit 0\n' >"$SCRATCH/bin/envdir" && chmod 755 "$SCRATCH/bin/envdir"
        RESOLVED=$SCRATCH/bin/envdir
        ok "$r_name runs envdir, not installed here, and says it comes from daemontools"
    elif [ "$r_rc" -eq 0 ]; then
        ok "$r_name runs $1, which is there to run"
    else
        not_ok "$r_name runs $1, which is there to run"
        diag "$WHY"
    fi
}

# ---- systemd units ---------------------------------------------------------------------------

# value FILE KEY: the value of the last KEY= line.
value() {
    sed -n "s/^$2=//p" "$1" | sed -n '$p'
}

units=
for f in "$top"/cron/*.service "$top"/cron/*.timer; do
    [ -f "$f" ] || continue
    units="$units $f"
    name=${f##*/}
    check "$name: only known sections and Key=value lines" unit_keys_ok "$f"
    case $name in
    *.service)
        is "$(value "$f" Type)" oneshot "$name is a oneshot service"
        exec_start=$(value "$f" ExecStart)
        like "$exec_start" "*/relay-expire" "$name runs relay-expire"
        cp "$f" "$SCRATCH/units/$name" || exit 111
        set -f
        # shellcheck disable=SC2086 # the command line is split into words on purpose
        set -- $exec_start
        set +f
        for p in $(programs "$@"); do
            resolve "$p" "$f" "$PATH"
            [ -z "$RESOLVED" ] && continue
            # Point the copy for systemd-analyze at the program as found here.
            awk -v old="$p" -v new="$RESOLVED" '
                /^ExecStart=/ {
                    n = split(substr($0, 11), w, /[ \t]+/)
                    line = "ExecStart="
                    for (i = 1; i <= n; i++)
                        line = line (i > 1 ? " " : "") (w[i] == old ? new : w[i])
                    $0 = line
                }
                { print }' "$SCRATCH/units/$name" >"$SCRATCH/unit.tmp" &&
                mv "$SCRATCH/unit.tmp" "$SCRATCH/units/$name"
        done
        ;;
    *.timer)
        service=$(value "$f" Unit)
        service=${service:-${name%.timer}.service}
        check "$name starts $service, which is in cron/" test -f "$top/cron/$service"
        if [ -n "$(value "$f" OnUnitActiveSec)" ]; then
            # relay-cdb-redis.timer: every few seconds, from its start on.
            is "$(value "$f" OnBootSec) $(value "$f" OnUnitActiveSec)" "5s 5s" \
                "$name fires at once (or 5 s after boot), then every 5 s"
        else
            like "$(value "$f" OnCalendar)" "minutely" "$name fires every minute"
        fi
        is "$(value "$f" WantedBy)" timers.target "$name is enabled with timers.target"
        cp "$f" "$SCRATCH/units/$name" || exit 111
        ;;
    esac
done
[ -n "$units" ] || not_ok "cron/ has systemd units"

# The man pages go where man (and so systemd-analyze, for Documentation=man:...) finds them.
cp "$top"/man/*.8 "$SCRATCH/man/man8/" 2>/dev/null

if ! command -v systemd-analyze >/dev/null 2>&1; then
    skip "systemd-analyze verify accepts the units" "systemd-analyze is not installed"
elif [ -n "$units" ]; then
    # Warnings about other units on this machine are not ours: only lines naming one of
    # our units count. Documentation=man:... is looked up with man, when there is one.
    man_opt=--man=yes
    command -v man >/dev/null 2>&1 || man_opt=--man=no
    if MANPATH=$SCRATCH/man systemd-analyze verify "$man_opt" "$SCRATCH"/units/* \
        >"$SCRATCH/verify.out" 2>&1 &&
        ! grep -q 'relay-expire\.' "$SCRATCH/verify.out"; then
        ok "systemd-analyze verify accepts the units"
    else
        not_ok "systemd-analyze verify accepts the units"
        diag <"$SCRATCH/verify.out"
    fi
fi

# ---- the sweep's unit can write where the documentation puts the store and the cdb -----------
#
# A static check (tests/t-unit-sandbox.sh runs the sandbox itself, where the machine lets it):
# every directory relay-expire writes, the default store and the directory of each RELAY_CDB
# that README.md and the man pages give, is writable under the unit's ProtectSystem, or
# named in its ReadWritePaths.
doc_cdbs=$({
    cat "$top/README.md"
    sed 's/\\-/-/g' "$top"/man/*.8
} | {
    grep -o 'RELAY_CDB=/[^ "`),;]*' | sed 's/^RELAY_CDB=//'
} | sed 's/[.:]$//' | sort -u)
for f in "$top"/cron/*.service; do
    [ -f "$f" ] || continue
    name=${f##*/}
    ps=$(value "$f" ProtectSystem)
    rw=$(sed -n 's/^ReadWritePaths=//p' "$f" | tr ' ' '\n' | sed 's/^[-+]*//')
    for d in /var/lib/relaylease $(for c in $doc_cdbs; do dirname "$c"; done | sort -u); do
        writable=1
        case $ps in
        strict) writable=0 ;;
        full) case $d in /usr/* | /boot/* | /efi/* | /etc/*) writable=0 ;; esac ;;
        yes | true) case $d in /usr/* | /boot/* | /efi/*) writable=0 ;; esac ;;
        esac
        for r in $rw; do
            case $d in "$r" | "$r"/*) writable=1 ;; esac
        done
        is "$writable" 1 "$name (ProtectSystem=${ps:-no}) may write $d, where the documentation puts it"
    done
done

# ---- crontab lines ---------------------------------------------------------------------------

# cron_field VALUE MIN MAX: a crontab time field: *, numbers, ranges, lists, steps, and the
# three-letter names of months and days.
cron_field() {
    printf '%s\n' "$1" | awk -v min="$2" -v max="$3" '
        {
            n = split($0, items, ",")
            for (i = 1; i <= n; i++) {
                item = items[i]
                if (item ~ /\/[1-9][0-9]*$/)
                    sub(/\/[1-9][0-9]*$/, "", item)
                if (item == "*" || item ~ /^[A-Za-z][A-Za-z][A-Za-z]$/)
                    continue
                if (item !~ /^[0-9]+(-[0-9]+)?$/)
                    exit 1
                m = split(item, ends, "-")
                for (j = 1; j <= m; j++)
                    if (ends[j] + 0 < min || ends[j] + 0 > max)
                        exit 1
            }
        }'
}

crontabs=
for f in "$top"/cron/*.cron; do
    [ -f "$f" ] || continue
    crontabs="$crontabs $f"
    name=${f##*/}
    check "$name ends in a newline (cron ignores an unfinished last line)" \
        test -z "$(tail -c 1 "$f")"
    search=/usr/bin:/bin # cron's own PATH
    jobs=0
    content=$(cat "$f")
    while IFS= read -r line; do
        case $line in
        '' | '#'*) continue ;;
        [A-Za-z_]*=*)
            case $line in PATH=*) search=${line#PATH=} ;; esac
            continue
            ;;
        esac
        jobs=$((jobs + 1))
        set -f
        # shellcheck disable=SC2086 # the line is split into fields on purpose
        set -- $line
        set +f
        case $1 in
        @reboot | @yearly | @annually | @monthly | @weekly | @daily | @hourly)
            shift
            ;;
        *)
            if [ $# -lt 7 ]; then
                not_ok "$name: a job line has 5 time fields, a user and a command: $line"
                continue
            fi
            fields_ok=1
            cron_field "$1" 0 59 && cron_field "$2" 0 23 && cron_field "$3" 1 31 &&
                cron_field "$4" 1 12 && cron_field "$5" 0 7 || fields_ok=0
            if [ "$fields_ok" -eq 1 ]; then
                ok "$name: the 5 time fields are valid: $1 $2 $3 $4 $5"
            else
                not_ok "$name: the 5 time fields are valid: $1 $2 $3 $4 $5"
            fi
            shift 5
            ;;
        esac
        like "$1" "[a-z_]*" "$name: the job runs as a named user ($1)"
        shift
        case " $* " in
        *" relay-expire "* | *"/relay-expire "*) ok "$name: the job runs relay-expire" ;;
        *) not_ok "$name: the job runs relay-expire: $*" ;;
        esac
        for p in $(programs "$@"); do
            resolve "$p" "$f" "$search"
        done
    done <<EOF
$content
EOF
    [ "$jobs" -gt 0 ] || not_ok "$name has a job line"
done
[ -n "$crontabs" ] || not_ok "cron/ has a crontab file"

# ---- man pages -------------------------------------------------------------------------------

man8=$(sed -n 's/^MAN8 *= *//p' "$top/Makefile")
for m in $man8; do
    check "make install finds man/$m" test -f "$top/man/$m"
done

# render FILE: the page as plain text, each paragraph on one line with single spaces, so that
# a phrase can be looked for whatever the line breaks.
render() {
    groff -man -Tascii -rLL=5000n -P-cbu "$1" 2>/dev/null | tr -s ' '
}

# segments FILE: the literal text of every log line that FILE writes, one piece per line:
# each format string cut at its conversions, keeping the pieces of 4 characters or more. A
# module reports through the log_fn its program passes, called warn.
segments() {
    grep -oE '(log_[a-z]+|warn)\([^"]*"([^"\\]|\\.)*"' "$1" |
        sed 's/^[^"]*"//; s/"$//; s/\\"/"/g' |
        awk '{
            n = split($0, piece, /%[-0-9.*]*[lz]*[a-z]/)
            for (i = 1; i <= n; i++)
                if (length(piece[i]) >= 4)
                    print piece[i]
        }'
}

# quotes SOURCE TEXT DESC: ok if the rendered TEXT has every piece of SOURCE's log lines;
# otherwise not ok, with the pieces it lacks.
quotes() {
    q_missing=
    segments "$1" >"$SCRATCH/segments"
    while IFS= read -r q_seg; do
        grep -qF -- "$q_seg" "$2" || q_missing="$q_missing
$q_seg"
    done <"$SCRATCH/segments"
    if [ -z "$q_missing" ]; then
        ok "$3"
    else
        not_ok "$3"
        printf '%s\n' "missing:$q_missing" | diag
    fi
}

have_groff=0
command -v groff >/dev/null 2>&1 && have_groff=1
pages=
installed_pages=
for f in "$top"/man/*.8; do
    [ -f "$f" ] || continue
    pages="$pages $f"
    page=${f##*/}
    prog=${page%.8}

    if [ "$have_groff" -eq 0 ]; then
        skip "$page renders with groff -ww without a warning" "groff is not installed"
    elif groff -man -Tutf8 -ww -z "$f" >"$SCRATCH/groff.out" 2>&1 &&
        [ ! -s "$SCRATCH/groff.out" ]; then
        ok "$page renders with groff -ww without a warning"
    else
        not_ok "$page renders with groff -ww without a warning"
        diag <"$SCRATCH/groff.out"
    fi
    if ! command -v man >/dev/null 2>&1 || [ "$have_groff" -eq 0 ]; then
        skip "man -l $page shows the page without a warning" "man or groff is not installed"
    else
        LC_ALL=C MANWIDTH=80 MANPAGER=cat PAGER=cat man --warnings -l "$f" \
            >"$SCRATCH/man.out" 2>"$SCRATCH/man.err"
        if [ ! -s "$SCRATCH/man.err" ] && grep -q "^NAME" "$SCRATCH/man.out"; then
            ok "man -l $page shows the page without a warning"
        else
            not_ok "man -l $page shows the page without a warning"
            diag <"$SCRATCH/man.err"
        fi
    fi
    if command -v mandoc >/dev/null 2>&1; then
        mandoc -T lint -W warning "$f" >"$SCRATCH/lint.out" 2>&1
        check "mandoc -T lint finds nothing in $page" test ! -s "$SCRATCH/lint.out"
        [ -s "$SCRATCH/lint.out" ] && diag <"$SCRATCH/lint.out"
    fi

    # A page that make install puts in place must be complete and agree with its source.
    case " $man8 " in
    *" $page "*) installed_pages="$installed_pages $f" ;;
    *)
        diag "$page is not in the Makefile's MAN8: only its rendering is checked"
        continue
        ;;
    esac
    prog_ok=1
    for s in NAME SYNOPSIS DESCRIPTION ENVIRONMENT FILES 'EXIT STATUS' DIAGNOSTICS EXAMPLES \
        'SEE ALSO'; do
        grep -q "^\.SH \"*$s\"*\$" "$f" || {
            prog_ok=0
            diag "$page has no $s section"
        }
    done
    if [ "$prog_ok" -eq 1 ]; then
        ok "$page has every section"
    else
        not_ok "$page has every section"
    fi
    like "$(sed -n '/^\.SH NAME/{n;p;q;}' "$f" | sed 's/\\-/-/g')" "$prog - *" \
        "$page: NAME names $prog"

    # The page against its program's source: the variables it reads and the lines it logs.
    src=$top/$prog.c
    [ -f "$src" ] || continue
    names=$(grep -o 'getenv("[A-Z0-9_]*")' "$src" | sed 's/getenv(//; s/)$//'
        grep -qE "addr_from_env|addr_client_key" "$src" && grep -o '"[A-Z][A-Z0-9_]*"' "$top/addr.c")
    missing=
    for n in $(printf '%s\n' "$names" | tr -d '"' | sort -u); do
        grep -q "$n" "$f" || missing="$missing $n"
    done
    is "$missing" "" "$page names every variable $prog reads"
    if [ "$have_groff" -eq 1 ]; then
        render "$f" >"$SCRATCH/page.txt"
        quotes "$src" "$SCRATCH/page.txt" "$page quotes every log line of $prog.c"
    else
        skip "$page quotes every log line of $prog.c" "groff is not installed"
    fi
done
[ -n "$pages" ] || not_ok "man/ has man pages"

# The settings are shared by every program: each is documented in some installed page.
missing=
for n in $(grep -o '"RELAY_[A-Z0-9_]*"' "$top/settings.c" | tr -d '"' | sort -u); do
    # shellcheck disable=SC2086 # a list of file names
    grep -q "$n" $installed_pages /dev/null || missing="$missing $n"
done
is "$missing" "" "the man pages name every setting settings.c reads"

# The shared modules log on behalf of every program: each of their lines is in some page.
if [ "$have_groff" -eq 0 ]; then
    skip "the man pages quote every log line of the store, settings.c and log.c" \
        "groff is not installed"
elif [ -n "$installed_pages" ]; then
    for f in $installed_pages; do render "$f"; done >"$SCRATCH/pages.txt"
    for src in store/dir.c store/redis.c settings.c log.c; do
        quotes "$top/$src" "$SCRATCH/pages.txt" "the man pages quote every log line of $src"
    done
fi

# relay-query(8) shows the statements of the shipped Exim ACL word for word (t-exim.sh runs
# them through the real Exim).
acl=$top/run-examples/exim/relaylease.acl
sed 's/\\-/-/g' "$top/man/relay-query.8" >"$SCRATCH/relay-query.txt" || exit 111
grep -v -e '^#' -e '^[[:space:]]*$' "$acl" >"$SCRATCH/acl.lines" || exit 111
missing=$(grep -vxF -f "$SCRATCH/relay-query.txt" "$SCRATCH/acl.lines")
is "$missing" "" "relay-query(8) shows every statement of run-examples/exim/relaylease.acl"

done_testing
