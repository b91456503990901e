# tests/debs-lib.sh: Debian packages a test unpacks instead of installing (Courier, Exim:
# each conflicts with a server the other tests need). Source it after lib.sh.
# shellcheck shell=sh
# shellcheck disable=SC2034 # DEBS_FROM: set here for the test that sources it
#
# debs_unpack NAME GIVEN ROOT HAVE PACKAGE...: unpack the .deb files of PACKAGEs into ROOT
# (dpkg-deb -x; ROOT is emptied first). They come from GIVEN when it is not empty (a
# directory of .deb files the caller names, e.g. $EXIM_DEBS); else from the cache
# ~/.cache/relaylease/NAME-debs (RELAYLEASE_CACHE overrides ~/.cache/relaylease), when it is
# the caller's own and nobody else can write it (root runs what it holds); else `apt-get
# download` fetches them once into the scratch directory and fills the cache for the next
# run. HAVE is a command given ROOT as its last argument: true when the unpacked tree has
# what the test needs. Sets DEBS_FROM (where the packages came from). Returns 1, with
# apt-get's output in $SCRATCH/NAME-debs/apt.log, when they could not be had.
debs_unpack() {
    debs_name=$1 debs_given=$2 debs_root=$3 debs_have=$4
    shift 4
    debs_cache=${RELAYLEASE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/relaylease}/$debs_name-debs
    debs_work=$SCRATCH/$debs_name-debs
    mkdir -p "$debs_work" || return 1
    if [ -n "$debs_given" ]; then
        DEBS_FROM=$debs_given
        debs_x "$debs_given" "$debs_root"
        $debs_have "$debs_root"
        return
    fi
    if debs_cached "$debs_cache" && debs_x "$debs_cache" "$debs_root" &&
        $debs_have "$debs_root"; then
        DEBS_FROM=$debs_cache
        return 0
    fi
    # shellcheck disable=SC2068 # one word per package
    (cd "$debs_work" && timeout 300 apt-get download $@) >"$debs_work/apt.log" 2>&1
    DEBS_FROM=$debs_work
    debs_x "$debs_work" "$debs_root"
    $debs_have "$debs_root" || return 1
    if mkdir -p "${debs_cache%/*}" 2>/dev/null; then
        # Filled under another name, then renamed: a run beside this one never unpacks a
        # half-copied cache (at worst it finds none and fetches its own).
        debs_fill=$(mktemp -d "$debs_cache.XXXXXX") && cp "$debs_work"/*.deb "$debs_fill/" &&
            chmod 755 "$debs_fill" && rm -rf "$debs_cache" && mv "$debs_fill" "$debs_cache" &&
            diag "kept the packages in $debs_cache for the next run"
    fi
    return 0
}

# debs_cached DIR: the debs there are the caller's and safe to unpack.
debs_cached() {
    [ -d "$1" ] && [ ! -L "$1" ] && [ "$(stat -c %u "$1")" = "$(id -u)" ] &&
        [ "$(find "$1" -maxdepth 0 -perm /022 | wc -l)" -eq 0 ] &&
        [ "$(find "$1" -maxdepth 1 -name '*.deb' | wc -l)" -gt 0 ]
}

# debs_x DIR ROOT: every .deb in DIR unpacked into an empty ROOT.
debs_x() {
    rm -rf "$2" && mkdir -p "$2" || return 1
    for debs_d in "$1"/*.deb; do
        [ -f "$debs_d" ] && dpkg-deb -x "$debs_d" "$2"
    done
    return 0
}
