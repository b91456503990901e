#!/bin/sh
# tests/check.sh: the README's test command. Installs the Debian packages the build and the
# tests need when they are missing (as root; otherwise it prints the apt-get line and exits
# 100), then runs every test against the plain and the ASan+UBSan builds (make check), in
# about four minutes on two cores (README, "Tests"). `make check-all` adds the long runs.
top=$(cd "$(dirname "$0")/.." && pwd) || exit 111
sh "$top/tests/deps.sh" --tests || exit $?
# Both builds compile side by side (make -j), then tests/run runs the test files side by side.
cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
cd "$top" && make -j"$cpus" all testprogs san && exec make check
