#!/bin/sh
# tests/check.sh: the README's test command. Installs the Debian packages the build and the
# tests need when they are missing (as root; otherwise it prints the apt-get line and exits
# 100), then runs every test against the plain and the ASan+UBSan builds.
top=$(cd "$(dirname "$0")/.." && pwd) || exit 111
sh "$top/tests/deps.sh" --tests || exit $?
cd "$top" && exec make check
