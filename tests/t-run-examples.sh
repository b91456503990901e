#!/bin/sh
# run: quick once
# t-run-examples.sh: every file an operator copies from run-examples/ and cron/ is checked.
#   - shell scripts (run files, wrappers, the demo, setup-store): sh -n, shellcheck -x when
#     it is installed (tests/lint does not reach run-examples/*/*/, so log/run is linted
#     here), executable;
#   - the command lines they build: every `exec` line, every call through a variable that
#     holds a program, and every variant chain quoted in a comment (lines "#    prog \"):
#     each program they run exists. Our programs must be built in $RELAY_BIN and named
#     where `make install` puts them; our scripts where the READMEs install them; any other
#     program must be installed here, or be in the list below of programs this machine
#     lacks (qmail, checkpassword, vpopmail: not in Debian; daemontools, mailfront, cvm,
#     Courier: in Debian, not installed). So a typo such as relay-chek fails the test, and
#     the test shows that it does on a scratch copy. In a login chain, relay-session must
#     come before the program that switches to the mail user, and relay-allow after it;
#   - systemd units: a strict parser (only known sections and Key=value lines: systemd
#     itself only warns about an unknown key and drops it), the programs of ExecStart as
#     above, then `systemd-analyze verify` on a copy whose ExecStart starts with a stub:
#     verify insists that the first program exists here, and the parser has already
#     checked every program by name;
#   - crontab files: the programs of each job line, with the file's PATH;
#   - the Dovecot snippet: `doveconf -n` accepts a scratch configuration that includes it
#     as shipped, and the programs its executable lines name exist;
#   - the Postfix lines (postfix/main.cf, master.cf): postconf, on a scratch configuration
#     made of them, prints no warning; main.cf's policy service is master.cf's spawn entry,
#     not run as root or postfix; the programs of its argv exist;
#   - READMEs name every file beside them;
#   - Redis (run-examples/redis): a real redis-server starts with each data node's .conf,
#     and a real redis-sentinel with sentinel.conf (addresses, ports and paths overridden for
#     a private directory); users.acl makes Redis refuse to start as shipped (placeholders
#     for the hashes) and loads with test hashes; each envdir file names a setting the
#     programs read, on one line.
#   - the Exim ACL (run-examples/exim/*.acl): the programs each ${run{...}} runs exist, as
#     above; the real Exim (unpacked as t-exim.sh does) reads a config whose RCPT ACL
#     includes it (-bV) and, in host-checking mode (-bh), answers a relay RCPT from an
#     unknown client with 550 (a broken expansion would be a 451).
# A file of any other kind fails the test, so that a new file gets a check.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=redis-lib.sh
. "$(dirname "$0")/redis-lib.sh"
# shellcheck source=debs-lib.sh
. "$(dirname "$0")/debs-lib.sh"
# shellcheck source=exim-lib.sh
. "$(dirname "$0")/exim-lib.sh"

top=$lib_top
# Where the READMEs install the wrapper scripts and the Dovecot hook.
libexecdir=$(install_prefix)/libexec/relaylease

# Programs the examples run that this machine may lack, by the path the examples use, and
# where each comes from. Anything else must be installed here.
cat >"$SCRATCH/external" <<'EOF'
/var/qmail/bin/qmail-smtpd qmail, not in Debian
/var/qmail/bin/qmail-popup qmail, not in Debian
/var/qmail/bin/qmail-pop3d qmail, not in Debian
/bin/checkpassword checkpassword, not in Debian
/home/vpopmail/bin/vchkpw vpopmail, not in Debian
/usr/sbin/pop3front-auth Debian's mailfront
/usr/sbin/pop3front-maildir Debian's mailfront
/usr/sbin/imapfront-auth Debian's mailfront
/usr/sbin/smtpfront-qmail Debian's mailfront
/usr/bin/cvm-unix Debian's cvm
/usr/bin/envdir Debian's daemontools
/usr/bin/envuidgid Debian's daemontools
/usr/bin/setuidgid Debian's daemontools
/usr/bin/softlimit Debian's daemontools
/usr/bin/multilog Debian's daemontools
/usr/sbin/couriertcpd Debian's courier-base (conflicts with Dovecot)
/usr/lib/courier/courier/imaplogin Debian's courier-imap (conflicts with Dovecot)
/usr/bin/imapd Debian's courier-imap (conflicts with Dovecot)
/usr/lib/courier/courier/courierpop3login Debian's courier-pop (conflicts with Dovecot)
/usr/lib/courier/courier/courierpop3d Debian's courier-pop (conflicts with Dovecot)
EOF

printf '#!/bin/sh\nexit 0\n' >"$SCRATCH/stub" && chmod 755 "$SCRATCH/stub" || exit 111

# ---- reading command lines -------------------------------------------------------------------

# shell_commands FILE: the command lines FILE builds, for the walker below. Output lines:
#   C<TAB>LINE   a command starts (LINE: its first line in FILE)
#   W<TAB>WORD   one word of it, quotes removed, known variables expanded
#   P<TAB>VALUE  FILE sets PATH to VALUE
# Commands are `exec` lines (not those with only redirections), lines that start with a
# call through a variable ("$relay_allow" ...), and variant chains in comments: lines
# "#    word ...", continued with a backslash. Variables set in FILE to a plain value are
# expanded; an unquoted variable that is not known is dropped (word splitting would make
# it any number of words: couriertcpd's $TCPDOPTS); a quoted one stays as it is.
shell_commands() {
    awk '
        function process(text, kind, start,    s, n, i, c, w, inw, q, quoted, skipnext, op,
                                                 name, val, word, rest, out) {
            sub(/^[ \t]+/, "", text)
            if (kind == "code" && match(text, /^[A-Za-z_][A-Za-z0-9_]*=/)) {
                name = substr(text, 1, RLENGTH - 1)
                val = substr(text, RLENGTH + 1)
                if (val ~ /^"[^"$`\\]*"$/ || val ~ /^\047[^\047]*\047$/)
                    val = substr(val, 2, length(val) - 2)
                else if (val !~ /^[^ \t"\047$`\\;&|()<>]*$/) {
                    delete known[name]
                    return
                }
                known[name] = val
                if (name == "PATH")
                    printf "P\t%s\n", val
                return
            }
            if (kind == "code") {
                if (text ~ /^exec[ \t]/)
                    text = substr(text, 6)
                else if (match(text, /^"\$[A-Za-z_][A-Za-z0-9_]*"/)) {
                    # A call through a variable the file set: "$relay_allow" ...
                    if (!(substr(text, 3, RLENGTH - 3) in known))
                        return
                } else
                    return
            }
            # Split into words as the shell would (quotes, backslashes, redirections,
            # comments, the end of a simple command).
            n = 0; w = ""; inw = 0; q = ""; quoted = 0; skipnext = 0
            s = text " "
            for (i = 1; i <= length(s); i++) {
                c = substr(s, i, 1)
                if (q == "\047") { if (c == "\047") q = ""; else w = w c; continue }
                if (q == "\"") {
                    if (c == "\"") q = ""
                    else if (c == "\\") { i++; w = w substr(s, i, 1) }
                    else w = w c
                    continue
                }
                if (c == " " || c == "\t") {
                    if (inw) {
                        if (skipnext) skipnext = 0
                        else { n++; words[n] = w; wq[n] = quoted }
                    }
                    w = ""; inw = 0; quoted = 0
                    continue
                }
                if (c == "\047" || c == "\"") { q = c; inw = 1; quoted = 1; continue }
                if (c == "\\") { i++; w = w substr(s, i, 1); inw = 1; continue }
                if (!inw && c == "#") break
                if (c == ";" || c == "|" || c == "&") break
                if (c == "<" || c == ">") {
                    # A redirection, with the digits before it: drop it and its target.
                    if (inw && w !~ /^[0-9]+$/) {
                        n++; words[n] = w; wq[n] = quoted
                    }
                    op = ""
                    while (i <= length(s) && substr(s, i, 1) != " " && substr(s, i, 1) != "\t") {
                        op = op substr(s, i, 1)
                        i++
                    }
                    if (op ~ /^(<|>|>>|<&|>&)$/)
                        skipnext = 1
                    w = ""; inw = 0; quoted = 0
                    continue
                }
                w = w c; inw = 1
            }
            out = 0
            for (i = 1; i <= n; i++) {
                word = words[i]
                rest = ""
                # Expand $NAME and ${NAME} for the variables known so far.
                while (match(word, /\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/)) {
                    name = substr(word, RSTART + 1, RLENGTH - 1)
                    gsub(/[{}]/, "", name)
                    if (name in known) {
                        rest = rest substr(word, 1, RSTART - 1) known[name]
                    } else {
                        rest = rest substr(word, 1, RSTART + RLENGTH - 1)
                    }
                    word = substr(word, RSTART + RLENGTH)
                }
                word = rest word
                if (!wq[i] && word ~ /^\$[A-Za-z_{][A-Za-z0-9_}]*$/)
                    continue
                if (!out) {
                    printf "C\t%d\n", start
                    out = 1
                }
                printf "W\t%s\n", word
            }
        }
        {
            line = $0
            if (line ~ /^#    [^ ]/ || (vtext != "" && line ~ /^#    /)) {
                piece = substr(line, 6)
                if (vtext == "") vstart = NR
                cont = sub(/\\$/, "", piece)
                vtext = vtext " " piece
                if (!cont) { process(vtext, "variant", vstart); vtext = "" }
                next
            }
            if (vtext != "") { process(vtext, "variant", vstart); vtext = "" }
            if (line ~ /^[ \t]*#/ && ctext == "") next
            if (ctext == "") cstart = NR
            cont = sub(/\\$/, "", line)
            ctext = ctext " " line
            if (!cont) { process(ctext, "code", cstart); ctext = "" }
        }
        END {
            if (vtext != "") process(vtext, "variant", vstart)
            if (ctext != "") process(ctext, "code", cstart)
        }' "$1"
}

# programs_of WORD...: the programs a command line runs, one a line, in order. It knows
# how each chaining program finds the next one (envdir DIR prog, tcpserver OPTS HOST PORT
# prog, qmail-popup HOST prog, pop3front-auth CVM prog, ...). A program that needs another
# after it and has none yields "(none)". "$@" (the caller's command) ends the list.
programs_of() {
    while [ $# -gt 0 ]; do
        [ "$1" = '$@' ] && return 0
        p_word=$1
        printf '%s\n' "$p_word"
        shift
        p_skip=0 p_need=1
        case ${p_word##*/} in
        envdir | setuidgid | envuidgid | qmail-popup) p_skip=1 ;;
        env)
            while [ $# -gt 0 ]; do
                case $1 in
                -u) if [ $# -ge 2 ]; then shift 2; else shift; fi ;;
                *=* | -*) shift ;;
                *) break ;;
                esac
            done
            ;;
        softlimit)
            while [ $# -gt 0 ]; do
                case $1 in
                -?) if [ $# -ge 2 ]; then shift 2; else shift; fi ;;
                -*) shift ;;
                *) break ;;
                esac
            done
            ;;
        tcpserver)
            # getopt "46dDvqQhHrR1UXx:t:u:g:l:b:B:c:I:pPoO" (ucspi-tcp-ipv6), then host, port.
            while [ $# -gt 0 ]; do
                case $1 in
                --) shift && break ;;
                -?*) ;;
                *) break ;;
                esac
                p_opt=${1#-}
                shift
                while [ -n "$p_opt" ]; do
                    p_c=${p_opt%"${p_opt#?}"}
                    p_opt=${p_opt#?}
                    case $p_c in
                    [xtuglbBcI])
                        [ -z "$p_opt" ] && [ $# -gt 0 ] && shift
                        break
                        ;;
                    esac
                done
            done
            p_skip=2
            ;;
        couriertcpd)
            while [ $# -gt 0 ]; do
                case $1 in -*) shift ;; *) break ;; esac
            done
            p_skip=1
            ;;
        pop3front-auth)
            # The CVM is a program too, unless it is a socket (cvm-local:, cvm-udp:).
            case ${1:-} in
            cvm-local:* | cvm-udp:*) ;;
            '') ;;
            *) printf '%s\n' "${1#cvm-command:}" ;;
            esac
            p_skip=1
            ;;
        relay-session | relay-check | checkpassword | vchkpw | cvm-checkpassword | \
            imapfront-auth | imaplogin | courierpop3login | script-login) ;;
        # relay-allow without a program records and exits (the Dovecot hook runs it so).
        relay-allow) p_need=0 ;;
        *) return 0 ;;
        esac
        if [ $# -lt "$p_skip" ]; then
            echo '(none)'
            return 0
        fi
        shift "$p_skip"
        if [ $# -eq 0 ] && [ "$p_need" -eq 1 ]; then
            echo '(none)'
            return 0
        fi
    done
}

# resolve WORD SEARCH: does the program WORD exist? SEARCH is the PATH it is run with. Our
# programs and any installed one as program_runs says; besides, our scripts where the READMEs
# install them, and the programs this machine may lack by the path the examples use.
# Returns 0 or 1 and sets WHY (for a failure, or a note on a program not installed here).
resolve() {
    WHY=
    r_base=${1##*/}
    case $1 in
    *'$'*)
        WHY="$1: a program named by a variable the file does not set"
        return 1
        ;;
    */*) r_dir=${1%/*} ;;
    *) r_dir= ;;
    esac
    # Our scripts: the wrappers and the Dovecot hook, installed in libexecdir.
    r_ours=
    case $r_base in
    relay-*)
        our_program "$r_base" ||
            r_ours=$(find "$top/run-examples" -type f -name "$r_base" 2>/dev/null | sed -n 1p)
        ;;
    esac
    if [ -n "$r_ours" ]; then
        if [ "$r_dir" != "$libexecdir" ]; then
            WHY="$1: the README installs ${r_ours#"$top"/} as $libexecdir/$r_base"
            return 1
        fi
        return 0
    fi
    program_runs "$1" "$2"
    r_rc=$?
    [ "$r_rc" -eq 2 ] || return "$r_rc"
    if [ -n "$r_dir" ]; then
        r_from=$(awk -v p="$1" '$1 == p { $1 = ""; sub(/^ /, ""); print; exit }' \
            "$SCRATCH/external")
    else
        r_from=$(awk -v b="$1" -v s=":$2:" '
            { n = split($1, part, "/"); d = substr($1, 1, length($1) - length(part[n]) - 1) }
            part[n] == b && index(s, ":" d ":") { $1 = ""; sub(/^ /, ""); print; exit }' \
            "$SCRATCH/external")
    fi
    if [ -n "$r_from" ]; then
        WHY="$1 is not installed here: $r_from"
        return 0
    fi
    WHY="$WHY, and is not one of the programs this machine may lack"
    return 1
}

# chain_order PROGRAM...: in a login chain, relay-session must come before the program
# that switches to the mail user, and relay-allow (or a wrapper that runs it) after it.
chain_order() {
    o_i=0 o_session=0 o_switch=0 o_allow=0
    for o_p in "$@"; do
        o_i=$((o_i + 1))
        case ${o_p##*/} in
        relay-session) [ "$o_session" -gt 0 ] || o_session=$o_i ;;
        checkpassword | vchkpw | cvm-checkpassword | pop3front-auth | imapfront-auth | \
            imaplogin | courierpop3login) [ "$o_switch" -gt 0 ] || o_switch=$o_i ;;
        relay-allow | relay-imapd | relay-pop3d) [ "$o_allow" -gt 0 ] || o_allow=$o_i ;;
        esac
    done
    [ "$o_switch" -gt 0 ] && [ "$o_allow" -gt 0 ] || return 0
    [ "$o_session" -gt 0 ] && [ "$o_session" -lt "$o_switch" ] && [ "$o_switch" -lt "$o_allow" ]
}

# check_command LABEL SEARCH WORD...: one TAP line for one command line.
check_command() {
    c_label=$1 c_search=$2
    shift 2
    programs_of "$@" >"$SCRATCH/progs"
    c_bad='' c_notes='' c_names=''
    while IFS= read -r c_p; do
        c_names="$c_names ${c_p##*/}"
        if resolve "$c_p" "$c_search"; then
            [ -z "$WHY" ] || c_notes="$c_notes
$WHY"
        else
            c_bad="$c_bad
$WHY"
        fi
    done <"$SCRATCH/progs"
    if [ -z "$c_names" ]; then
        return 0
    fi
    # shellcheck disable=SC2046 # one word per program
    if ! chain_order $(cat "$SCRATCH/progs"); then
        c_bad="$c_bad
relay-session must come before the program that switches users, relay-allow after it"
    fi
    if [ -z "$c_bad" ]; then
        ok "$c_label runs$c_names: each exists"
    else
        not_ok "$c_label runs$c_names: each exists"
        printf '%s\n' "$c_bad" | sed '/^$/d' | diag
    fi
    [ -z "$c_notes" ] || printf '%s\n' "$c_notes" | sed '/^$/d' | diag
}

# check_commands FILE LABEL DEFAULT-SEARCH: every command line shell_commands finds in FILE.
# Sets N_COMMANDS to how many there were.
check_commands() {
    cc_label=$2 cc_search=$3 cc_line='' N_COMMANDS=0
    shell_commands "$1" >"$SCRATCH/commands" || {
        not_ok "$cc_label: its command lines can be read"
        return
    }
    set --
    while IFS="$(printf '\t')" read -r cc_tag cc_val; do
        case $cc_tag in
        P) cc_search=$cc_val ;;
        C)
            [ -z "$cc_line" ] || check_command "$cc_label:$cc_line" "$cc_search" "$@"
            set --
            cc_line=$cc_val
            N_COMMANDS=$((N_COMMANDS + 1))
            ;;
        W) set -- "$@" "$cc_val" ;;
        esac
    done <"$SCRATCH/commands"
    [ -z "$cc_line" ] || check_command "$cc_label:$cc_line" "$cc_search" "$@"
}

# ---- the kinds of file -----------------------------------------------------------------------

have_shellcheck=0
command -v shellcheck >/dev/null 2>&1 && have_shellcheck=1

check_shell() { # FILE LABEL
    check "$2 passes sh -n" sh -n "$1"
    if [ "$have_shellcheck" -eq 1 ]; then
        # shellcheck disable=SC2016 # expanded by the inner shell
        check "$2 passes shellcheck -x" sh -c 'cd "$(dirname "$1")" && shellcheck -x "$(basename "$1")"' \
            sh "$1"
    else
        skip "$2 passes shellcheck -x" "shellcheck is not installed"
    fi
    check "$2 is executable" test -x "$1"
    # The default PATH of a run file is whatever supervise got: /usr/bin:/bin at best.
    check_commands "$1" "$2" /usr/bin:/bin
    case ${1##*/} in
    run | *.run)
        if [ "$N_COMMANDS" -gt 0 ]; then
            ok "$2 builds a command line"
        else
            not_ok "$2 builds a command line (no exec line with a program found)"
        fi
        ;;
    esac
}

have_analyze=0
command -v systemd-analyze >/dev/null 2>&1 && have_analyze=1

check_unit() { # FILE LABEL
    check "$2: only known sections and Key=value lines" unit_keys_ok "$1" \
        "Restart RestartSec AmbientCapabilities"
    u_name=${1##*/}
    case $u_name in
    *.service)
        u_exec=$(sed -n 's/^ExecStart=//p' "$1" | sed -n '$p')
        # The prefixes systemd allows in front of the program: - @ : + !
        u_exec=$(printf '%s\n' "$u_exec" | sed 's/^[-@:+!]*//')
        if [ -z "$u_exec" ]; then
            not_ok "$2 has an ExecStart line"
        else
            u_line=$(grep -n '^ExecStart=' "$1" | sed -n '$p' | cut -d: -f1)
            set -f
            # shellcheck disable=SC2086 # the command line is split into words on purpose
            check_command "$2:$u_line" /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin $u_exec
            set +f
        fi
        ;;
    esac
    if [ "$have_analyze" -eq 0 ]; then
        skip "$2: systemd-analyze verify accepts it" "systemd-analyze is not installed"
        return
    fi
    mkdir -p "$SCRATCH/units" && rm -f "$SCRATCH"/units/* || return
    awk -v stub="$SCRATCH/stub" '
        /^ExecStart=/ { sub(/^ExecStart=[-@:+!]*[^ \t]+/, "ExecStart=" stub) }
        { print }' "$1" >"$SCRATCH/units/$u_name"
    # A timer needs its service beside it.
    case $u_name in
    *.timer)
        u_service=$(sed -n 's/^Unit=//p' "$1")
        u_service=${u_service:-${u_name%.timer}.service}
        if [ -f "${1%/*}/$u_service" ]; then
            awk -v stub="$SCRATCH/stub" '
                /^ExecStart=/ { sub(/^ExecStart=[-@:+!]*[^ \t]+/, "ExecStart=" stub) }
                { print }' "${1%/*}/$u_service" >"$SCRATCH/units/$u_service"
        fi
        ;;
    esac
    # Only lines about our unit count: a warning about another unit on this machine is not
    # ours. Documentation=man:... is not looked up (the pages are not installed).
    systemd-analyze verify --man=no "$SCRATCH/units/$u_name" >"$SCRATCH/verify.out" 2>&1
    u_rc=$?
    if [ "$u_rc" -eq 0 ] && ! grep -qF "$u_name" "$SCRATCH/verify.out"; then
        ok "$2: systemd-analyze verify accepts it (ExecStart's first program stubbed)"
    else
        not_ok "$2: systemd-analyze verify accepts it (ExecStart's first program stubbed)"
        diag <"$SCRATCH/verify.out"
    fi
}

check_crontab() { # FILE LABEL
    cr_label=$2
    cr_search=/usr/bin:/bin # cron's own PATH
    cr_jobs=0 cr_n=0
    while IFS= read -r cr_line; do
        cr_n=$((cr_n + 1))
        case $cr_line in
        '' | '#'*) continue ;;
        PATH=*)
            cr_search=${cr_line#PATH=}
            continue
            ;;
        [A-Za-z_]*=*) continue ;;
        esac
        cr_jobs=$((cr_jobs + 1))
        set -f
        # shellcheck disable=SC2086 # the line is split into fields on purpose
        set -- $cr_line
        set +f
        case $1 in
        @*) shift ;;
        *) [ $# -ge 5 ] && shift 5 ;;
        esac
        # /etc/cron.d and the system crontab have a user field before the command.
        shift
        check_command "$cr_label:$cr_n" "$cr_search" "$@"
    done <"$1"
    [ "$cr_jobs" -gt 0 ] || not_ok "$cr_label has a job line"
}

check_dovecot() { # FILE LABEL
    if ! command -v doveconf >/dev/null 2>&1; then
        skip "$2: doveconf -n accepts it" "doveconf is not installed (Debian: dovecot-core)"
        return
    fi
    dv=$SCRATCH/dovecot dv_label=$2
    mkdir -p "$dv" || return
    cat >"$dv/dovecot.conf" <<EOF
base_dir = $dv/run
state_dir = $dv/state
protocols = pop3 imap
ssl = no
!include $1
EOF
    if doveconf -n -c "$dv/dovecot.conf" >"$dv/n.out" 2>"$dv/n.err"; then
        ok "$2: doveconf -n accepts a configuration that includes it"
    else
        not_ok "$2: doveconf -n accepts a configuration that includes it"
        diag <"$dv/n.err"
        return
    fi
    dv_libexec=$(doveconf -c "$dv/dovecot.conf" -h libexec_dir 2>/dev/null)
    dv_libexec=${dv_libexec:-/usr/lib/dovecot}
    # executable = PROGRAM [ARGS]: a relative PROGRAM is in libexec_dir. script-login's
    # argument is the hook; a login service's arguments are post-login services, which
    # must be defined.
    sed -n 's/^ *executable = //p' "$dv/n.out" >"$dv/executables"
    dv_n=0
    while IFS= read -r dv_line; do
        dv_n=$((dv_n + 1))
        set -f
        # shellcheck disable=SC2086 # split into words on purpose
        set -- $dv_line
        set +f
        dv_prog=$1
        shift
        case $dv_prog in /*) ;; *) dv_prog=$dv_libexec/$dv_prog ;; esac
        if [ "${dv_prog##*/}" = script-login ]; then
            while [ $# -gt 0 ]; do case $1 in -*) shift ;; *) break ;; esac; done
            check_command "$dv_label: executable = $dv_line" "$PATH" "$dv_prog" "$@"
        else
            check_command "$dv_label: executable = $dv_line" "$PATH" "$dv_prog"
            for dv_s in "$@"; do
                check "$dv_label: the post-login service $dv_s is defined" \
                    grep -q "^service $dv_s {" "$dv/n.out"
            done
        fi
    done <"$dv/executables"
    [ "$dv_n" -gt 0 ] || not_ok "$dv_label names a program to run"
}

# check_postfix FILE LABEL: the Postfix lines (run-examples/postfix/main.cf, master.cf; a
# copy is checked with the shipped other half). On a scratch configuration made of them and
# Debian's own master.cf, postconf prints no warning (an unknown or unused parameter: a time
# limit not named after the entry); the policy service main.cf asks is the master.cf entry, a
# spawn service, not as root or postfix; the programs of its argv exist.
check_postfix() {
    if ! command -v postconf >/dev/null 2>&1; then
        skip "$2: postconf accepts it" "postconf is not installed (Debian: postfix)"
        return
    fi
    pf=$SCRATCH/postfix-conf
    rm -rf "$pf" && mkdir -p "$pf" || return
    pf_main=${1%/*}/main.cf pf_master=${1%/*}/master.cf
    [ -f "$pf_main" ] || pf_main=$top/run-examples/postfix/main.cf
    [ -f "$pf_master" ] || pf_master=$top/run-examples/postfix/master.cf
    cp "$pf_main" "$pf/main.cf" || return
    if [ -f /usr/share/postfix/master.cf.dist ]; then
        cp /usr/share/postfix/master.cf.dist "$pf/master.cf" || return
    else
        echo 'smtp inet n - y - - smtpd' >"$pf/master.cf"
    fi
    cat "$pf_master" >>"$pf/master.cf" || return
    postconf -c "$pf" -n >/dev/null 2>"$pf/err"
    postconf -c "$pf" -M >/dev/null 2>>"$pf/err"
    if [ -s "$pf/err" ]; then
        not_ok "$2: postconf accepts it without a warning"
        diag <"$pf/err"
    else
        ok "$2: postconf accepts it without a warning"
    fi
    pf_service=$(postconf -c "$pf" -h smtpd_relay_restrictions 2>/dev/null |
        sed -n 's|.*check_policy_service *{ *unix:private/\([^ ,}]*\).*|\1|p')
    pf_cmd=$(postconf -c "$pf" -Fh "$pf_service/unix/command" 2>/dev/null)
    like "$pf_cmd" "spawn *user=* argv=*" \
        "$2: main.cf's policy service (${pf_service:-none}) is master.cf's spawn entry"
    pf_user=$(printf '%s\n' "$pf_cmd" | sed -n 's/.* user=\([^ :]*\).*/\1/p')
    case $pf_user in
    '' | root | postfix) not_ok "$2: the policy runs as an account of its own (user=$pf_user)" ;;
    *) ok "$2: the policy runs as an account of its own (user=$pf_user)" ;;
    esac
    pf_label=$2
    set -f
    # shellcheck disable=SC2086 # the argv words, split on purpose
    set -- ${pf_cmd#*argv=}
    set +f
    check_command "$pf_label: argv" "$PATH" "$@"
}

check_readme() { # FILE LABEL
    rd_missing=
    for rd_f in "${1%/*}"/*; do
        [ "$rd_f" = "$1" ] && continue
        grep -qF "${rd_f##*/}" "$1" || rd_missing="$rd_missing ${rd_f##*/}"
    done
    is "$rd_missing" "" "$2 names every file beside it"
}

# redis_skip LABEL: true (after a skip line) when Redis is not installed here. In CI,
# where tests/deps.sh installs it, that is a failure.
redis_skip() {
    redis_have && return 1
    if [ "${CI:-}" = true ]; then
        not_ok "$1: redis-server, redis-sentinel and redis-cli are installed"
    else
        skip "$1: a real Redis accepts it" "redis-server, redis-sentinel or redis-cli is not installed"
    fi
    return 0
}

# redis_try KIND DIR LABEL ARGS...: start redis-server or redis-sentinel (KIND) with ARGS
# (a conf, then overrides), its log in DIR/log; ok once it answers PING on DIR/port (a
# sentinel) or DIR/sock (a data node, as the admin account), not ok if it exits first.
redis_try() {
    rt_kind=$1 rt_d=$2 rt_label=$3
    shift 3
    if [ "$rt_kind" = sentinel ]; then
        start_bg redis-sentinel "$@" >"$rt_d/log" 2>&1
    else
        start_bg redis-server "$@" >"$rt_d/log" 2>&1
    fi
    rt_pid=$LAST_PID
    rt_n=0 rt_up=0
    while kill -0 "$rt_pid" 2>/dev/null && [ "$rt_n" -lt 600 ]; do
        if [ "$rt_kind" = sentinel ]; then
            # The shipped sentinel.conf asks its clients for its placeholder password.
            rt_pong=$(REDISCLI_AUTH=SENTINELS-PASSWORD redis-cli -h 127.0.0.1 \
                -p "$(cat "$rt_d/port")" PING 2>/dev/null)
        else
            rt_pong=$(REDISCLI_AUTH=$(redis_pass admin) redis-cli --user relaylease-admin \
                -s "$rt_d/sock" PING 2>/dev/null)
        fi
        [ "$rt_pong" = PONG ] && rt_up=1 && break
        sleep 0.1
        rt_n=$((rt_n + 1))
    done
    stop_pid "$rt_pid"
    if [ "$rt_up" -eq 1 ]; then
        ok "$rt_label"
    else
        not_ok "$rt_label"
        grep -v -e '^ *$' -e 'overcommit' "$rt_d/log" | tail -n 4 | diag
    fi
}

check_redis_acl() { # FILE LABEL
    redis_skip "$2" && return
    ra_d=$(mktemp -d "$REDIS_DIR/c.XXXXXX") || return
    # As shipped: the placeholders are not hashes, and Redis refuses to start.
    start_bg redis-server --port 0 --unixsocket "$ra_d/sock" --dir "$ra_d" --save '' \
        --appendonly no --aclfile "$1" >"$ra_d/log" 2>&1
    ra_pid=$LAST_PID
    eventually 60 redis_gone "$ra_pid"
    stop_pid "$ra_pid"
    check "$2: as shipped (placeholders), Redis refuses to start with it" \
        grep -q 'Aborting Redis startup because of ACL errors' "$ra_d/log"
    redis_acl_from "$1" "$ra_d/users.acl" || return
    redis_try server "$ra_d" "$2: a real redis-server starts with it (test hashes)" \
        --port 0 --unixsocket "$ra_d/sock" --dir "$ra_d" --save '' --appendonly no \
        --aclfile "$ra_d/users.acl"
}

check_redis_conf() { # FILE LABEL
    redis_skip "$2" && return
    rc_d=$(mktemp -d "$REDIS_DIR/c.XXXXXX") || return
    # Command-line options come after the file's and win: loopback, a private directory.
    if grep -q '^sentinel monitor ' "$1"; then
        # Sentinel rewrites its conf: a copy.
        cp "$1" "$rc_d/sentinel.conf" && free_port 127.0.0.1 >"$rc_d/port" || return
        redis_try sentinel "$rc_d" "$2: a real redis-sentinel starts with it" \
            "$rc_d/sentinel.conf" --bind 127.0.0.1 --port "$(cat "$rc_d/port")" \
            --dir "$rc_d" --pidfile "$rc_d/pid" --logfile ''
    else
        redis_try server "$rc_d" "$2: a real redis-server starts with it" "$1" \
            --bind 127.0.0.1 --port 0 --unixsocket "$rc_d/sock" --dir "$rc_d" \
            --pidfile "$rc_d/pid" --logfile '' --aclfile "$REDIS_ACL"
    fi
}

# check_envfile FILE LABEL: one file of an envdir: a setting the programs read (its name in
# double quotes in their C sources), one non-empty line (envdir takes an empty file as
# "unset"), no trailing blank (envdir drops it, silently); a passfile outside the envdir.
check_envfile() {
    ef_name=${1##*/}
    case $ef_name in
    RELAY_REDIS*)
        if ! grep -qF '"RELAY_REDIS' "$top"/*.c "$top"/*/*.c 2>/dev/null; then
            skip "$2: the programs read $ef_name" "the Redis settings are not in the C sources yet"
            ef_name=
        fi
        ;;
    esac
    [ -z "$ef_name" ] ||
        check "$2: the programs read ${1##*/}" grep -qF "\"$ef_name\"" "$top"/*.c "$top"/*/*.c
    ef_name=${1##*/}
    ef_value=$(cat "$1")
    if [ "$(wc -l <"$1")" -eq 1 ] && [ -n "$ef_value" ] &&
        [ "$(printf '%s\n' "$ef_value")" = "$(sed -n 1p "$1")" ] &&
        ! printf '%s' "$ef_value" | grep -q '[[:space:]]$'; then
        ok "$2: one line, no trailing blank"
    else
        not_ok "$2: one line, no trailing blank"
    fi
    case $ef_name in
    *PASSFILE)
        case $ef_value in
        /etc/relaylease/* | /etc/relaylease) not_ok "$2: the passfile is outside the envdir" ;;
        /*) ok "$2: the passfile is an absolute path outside the envdir" ;;
        *) not_ok "$2: the passfile is an absolute path outside the envdir" ;;
        esac
        ;;
    esac
}

# check_exim_acl FILE LABEL: ACL statements to paste into Exim's RCPT ACL.
exim_state=
check_exim_acl() {
    ea_file=$1 ea_label=$2 ea_n=0
    grep -o '[$]{run{[^}]*}' "$ea_file" | sed 's/^[$]{run{//; s/}$//' >"$SCRATCH/exim-runs"
    while IFS= read -r ea_cmd; do
        ea_n=$((ea_n + 1))
        set -f
        # shellcheck disable=SC2086 # ${run} splits the command into words at spaces
        set -- $ea_cmd
        set +f
        case $1 in
        /*) check_command "$ea_label: \${run} $ea_n" /nonexistent "$@" ;;
        *) not_ok "$ea_label: \${run} $ea_n names its program by an absolute path (Exim has no PATH)" ;;
        esac
    done <"$SCRATCH/exim-runs"
    [ "$ea_n" -gt 0 ] || not_ok "$ea_label runs a program through \${run}"
    if [ -z "$exim_state" ]; then
        if exim_setup; then exim_state=yes; else exim_state=$EXIM_WHY; fi
    fi
    if [ "$exim_state" != yes ]; then
        skip "$ea_label: Exim reads it and refuses a relay RCPT with 550" "$exim_state"
        return
    fi
    ea_d=$SCRATCH/exim-acl
    rm -rf "$ea_d" && mkdir -p "$ea_d" && cp "$ea_file" "$ea_d/included.acl" || return
    exim_conf "$ea_d/exim.conf" 25 "<; 127.0.0.1" "$ea_d/included.acl" || return
    if "$EXIM_NS" "$EXIM" -C "$ea_d/exim.conf" -bV >"$ea_d/bV.out" 2>&1; then
        ok "$ea_label: Exim reads a config that includes it (-bV)"
    else
        not_ok "$ea_label: Exim reads a config that includes it (-bV)"
        grep -v '^[A-Z][a-z]*[ (:]' "$ea_d/bV.out" | diag
        return
    fi
    printf '%s\n' 'EHLO client.example' 'MAIL FROM:<a@client.example>' \
        'RCPT TO:<friend@example.net>' QUIT |
        "$EXIM_NS" "$EXIM" -C "$ea_d/exim.conf" -bh 192.0.2.1 >"$ea_d/bh.out" 2>&1
    ea_reply=$(grep '^[0-9][0-9][0-9] ' "$ea_d/bh.out" | sed -n 4p)
    like "$ea_reply" "550 relay not permitted*" \
        "$ea_label: Exim answers a relay RCPT from an unknown client with 550 (-bh)"
}

# check_file FILE LABEL: the checks for FILE's kind.
check_file() {
    case $1 in
    */README) check_readme "$1" "$2" ;;
    */redis/*.acl) check_redis_acl "$1" "$2" ;;
    */redis/*.conf) check_redis_conf "$1" "$2" ;;
    */redis/envdir-*/*) check_envfile "$1" "$2" ;;
    *.service | *.timer) check_unit "$1" "$2" ;;
    *.cron) check_crontab "$1" "$2" ;;
    */dovecot/*.conf) check_dovecot "$1" "$2" ;;
    */exim/*.acl) check_exim_acl "$1" "$2" ;;
    */postfix/main.cf | */postfix/master.cf) check_postfix "$1" "$2" ;;
    *)
        if head -n 1 "$1" | grep -Eq '^#! *(/bin/|/usr/bin/env +)(sh|dash)([[:space:]]|$)'; then
            check_shell "$1" "$2"
        else
            not_ok "$2: a kind of file this test does not know how to check"
        fi
        ;;
    esac
}

# ---- every file ------------------------------------------------------------------------------

(cd "$top" && find run-examples cron -type f | LC_ALL=C sort) >"$SCRATCH/files"
n_files=$(wc -l <"$SCRATCH/files")
[ "$n_files" -gt 0 ] || not_ok "run-examples/ and cron/ have files"
while IFS= read -r f; do
    check_file "$top/$f" "$f"
done <"$SCRATCH/files"

# The files the deployment sections rely on are there.
for f in run-examples/qmail-smtpd/run run-examples/qmail-smtpd/log/run \
    run-examples/qmail-pop3d/run run-examples/systemd/relaylease-smtpd.service; do
    check "$f is there" test -f "$top/$f"
done

# ---- the checks can fail ---------------------------------------------------------------------

# mistake SLUG DESC FILE SED-SCRIPT WANT: check a copy of FILE (in $SCRATCH/mistake/SLUG)
# with the mistake DESC made by SED-SCRIPT; some "not ok" line must match the pattern WANT.
mistake() {
    m_dir=$SCRATCH/mistake/$1
    m_rel=${3#run-examples/}
    mkdir -p "$m_dir/${m_rel%/*}" || return
    sed "$4" "$top/$3" >"$m_dir/$m_rel" && chmod 755 "$m_dir/$m_rel" || return
    if cmp -s "$top/$3" "$m_dir/$m_rel"; then
        not_ok "$2: the mistake was made in the copy of $3"
        return
    fi
    (check_file "$m_dir/$m_rel" "$m_rel") >"$m_dir/out" 2>&1
    if grep -q "^not ok - .*$5" "$m_dir/out"; then
        ok "$2 is caught"
    else
        not_ok "$2 is caught"
        diag <"$m_dir/out"
    fi
}
mistake typo "a typo in the qmail-smtpd run file (relay-chek)" run-examples/qmail-smtpd/run \
    's|/relay-check|/relay-chek|' 'relay-chek'
mistake variant "a typo in a variant chain in a comment (pop3front-atuh)" \
    run-examples/qmail-pop3d/run 's|pop3front-auth /usr|pop3front-atuh /usr|' 'pop3front-atuh'
mistake bindir "relay-check where make install does not put it" run-examples/qmail-smtpd/run \
    's|/usr/local/bin/relay-check|/usr/bin/relay-check|' 'relay-check'
mistake order "relay-allow before checkpassword" run-examples/qmail-pop3d/run \
    '/^#/!s|^\( *\)/bin/checkpassword \\$|\1@CP@|
/^#/!s|^\( *\)/usr/local/bin/relay-allow \\$|\1/bin/checkpassword \\|
s|@CP@|/usr/local/bin/relay-allow \\|' \
    'relay-session relay-allow checkpassword'
mistake unit "a typo in a systemd unit's ExecStart (qmail-smptd)" \
    run-examples/systemd/relaylease-smtpd.service 's|qmail-smtpd$|qmail-smptd|' 'qmail-smptd'
mistake key "an unknown key in a systemd unit (Restrat=)" \
    run-examples/systemd/relaylease-smtpd.service 's|^Restart=|Restrat=|' 'Key=value'
mistake path "a typo in a program found through PATH (envdri)" run-examples/qmail-smtpd/run \
    's|^exec envdir |exec envdri |' 'envdri'
if redis_have; then
    mistake redis-conf "a misspelt directive in replica.conf (replica-read-onyl)" \
        run-examples/redis/replica.conf 's|^replica-read-only|replica-read-onyl|' 'replica.conf'
    mistake redis-sentinel "a misspelt directive in sentinel.conf (down-after-milliseconds)" \
        run-examples/redis/sentinel.conf 's|down-after-milliseconds|down-after-millisecond|' \
        'sentinel.conf'
    mistake redis-acl "a misspelt command in users.acl (+sett)" run-examples/redis/users.acl \
        's| +set | +sett |' 'users.acl'
fi
mistake exim-prog "a typo in the Exim ACL's program (relay-querry)" run-examples/exim/relaylease.acl \
    's|/relay-query |/relay-querry |' 'relay-querry'
mistake exim-verb "a misspelt verb in the Exim ACL (acept)" run-examples/exim/relaylease.acl \
    's|^  accept  condition|  acept  condition|' 'Exim reads'
mistake exim-brace "a missing brace in the Exim ACL's \${run}" run-examples/exim/relaylease.acl \
    's|{yes}{no}}$|{yes}{no}|' '550'
mistake postfix-limit "a time limit not named after the master.cf entry" \
    run-examples/postfix/main.cf 's|^relaypolicy_time_limit|relay_policy_time_limit|' 'warning'
mistake postfix-entry "a master.cf entry that main.cf does not ask" \
    run-examples/postfix/master.cf 's|^relaypolicy |relay-policy |' "spawn entry"
mistake postfix-argv "a typo in the policy's argv (relay-polcy)" \
    run-examples/postfix/master.cf 's|bin/relay-policy|bin/relay-polcy|' 'relay-polcy'
mistake passfile "a passfile inside the envdir" run-examples/redis/envdir-pop/RELAY_REDIS_PASSFILE \
    's|^.*$|/etc/relaylease/pop.pass|' 'outside the envdir'
mistake envline "an envdir file with a trailing blank" run-examples/redis/envdir-pop/RELAY_REDIS_USER \
    's|$| |' 'no trailing blank'

done_testing
